"""The catalogue of published numbers: what each topic's cell source says the documents print.

A *cell source* is a function of the results and the design that returns a :class:`Part`: the
dimensions it uses (with all their levels) and one :class:`Spec` per number a document prints,
each about a *population* (the participants matching some levels of the dimensions).  The
catalogue is the input of the disclosure layer (:mod:`reporting.publish`), which decides what is
shown; nothing here decides or prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pipeline.design import Design
from reporting.results import Results

Levels = str | tuple[str, ...]
Population = Mapping[str, Levels]
KINDS = ("count", "share", "statistic")


@dataclass(frozen=True)
class Spec:
    """One number about people a document may print (before suppression).

    Parameters
    ----------
    topic
        A short name of the table or text it belongs to (``flow``, ``patterns``, ...): the span ids' middle part.
    kind
        ``"count"``, ``"share"`` or ``"statistic"``.
    population
        ``{dim: level}`` or ``{dim: (level, ...)}``; a dim left out means any level.
    n
        The true number of people in ``population`` (``None``: unknown, the attack decides).
    denominator, den_n
        A share's denominator population and its size.
    share
        A share's value (0-1) as the result table holds it (default ``n / den_n``).
    digits
        Decimals of a printed share.
    hidden
        Never shown (e.g. a row the analysis did not write, whose people are counted in a total).
    """

    topic: str
    kind: str
    population: Population
    n: float | None = None
    denominator: Population | None = None
    den_n: float | None = None
    share: float | None = None
    digits: int = 0
    hidden: bool = False


@dataclass
class Part:
    """What one cell source contributes: dimensions (with all their levels) and cells."""

    dims: dict[str, list[str]] = field(default_factory=dict)
    specs: list[Spec] = field(default_factory=list)

    def dim(self, name: str, levels: Iterable[str]) -> None:
        """Declare a dimension (levels are added to those already declared, in order)."""
        known = self.dims.setdefault(name, [])
        known.extend(str(level) for level in levels if str(level) not in known)

    def count(self, topic: str, population: Population, n: object, *, hidden: bool = False) -> None:
        self.specs.append(Spec(topic, "count", dict(population), _number(n), hidden=hidden))

    def share(self, topic: str, population: Population, denominator: Population, n: object, den_n: object, *,
              share: object = None, digits: int = 0) -> None:  # fmt: skip
        self.specs.append(Spec(topic, "share", dict(population), _number(n), dict(denominator), _number(den_n),
                               _number(share), digits))  # fmt: skip

    def statistic(self, topic: str, population: Population, n: object = None) -> None:
        self.specs.append(Spec(topic, "statistic", dict(population), _number(n)))


Source = Callable[[Results, Design], Part]


def _number(x: object) -> float | None:
    try:
        value = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if value != value else value


def default_sources() -> list[Source]:
    """The cell sources of every topic the documents show (each a function of the results and the design)."""
    from reporting import (  # the survival, Cox and handout topics  # the survival, Cox and handout topics
        cells_change,
        cells_flow,
        cells_survival,
        invariance_text,
    )

    return [cells_flow.source, cells_change.source, *cells_survival.SOURCES, invariance_text.source]


def design_dims(res: Results, design: Design) -> Part:
    """The dimensions every study has: arm, programme, answered-or-not per wave, and per scale its
    change levels (declared here once, so no source can give a scale a level nobody can have)."""
    from reporting.populations import scale_levels

    part = Part()
    part.dim("arm", [a.id for a in design.arms])
    part.dim("programme", list(design.programme_ids))
    for wave in design.wave_ids:
        part.dim(f"wave:{wave}", ["0", "1"])
    for scale in design.scales:
        part.dim(f"scale:{scale}", scale_levels(res, scale))
    return part
