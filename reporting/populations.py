"""The populations the published numbers are about, named the same way by the cell sources and the documents.

A population is ``{dimension: level}`` (or a tuple of levels: their union); a dimension left out
means any level.  The dimensions of a study:

- ``arm``, ``programme``: the design's ids (``programme`` ``all`` is written by leaving it out);
- ``wave:<id>``: ``"1"`` answered that wave (has a score there), ``"0"`` not (as the response flow);
- ``scale:<id>``: what a participant's scores on one scale allow: ``"0"`` no baseline score,
  ``"b"`` a baseline score but none at the short-term wave, and with both scores the reliable-change
  category (``improved``/``unchanged``/``deteriorated``) when the change stage classified the
  scale, else ``"paired"`` (one or the other, never both: a level nobody can have would let an
  attacker's equations look looser than they are; :func:`scale_levels`);
- ``alpha:<id>``: ``"1"`` in the reliability analysis of the scale at baseline;
- ``model:<id>``: ``"1"`` in the growth model of the outcome.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from pipeline.design import Design
from reporting.results import Results

Population = dict[str, str | tuple[str, ...]]
CATEGORIES = ("improved", "unchanged", "deteriorated")
#: every change level a scale can name; the handout's responsiveness cells still declare these, which
#: gives classified scales a "paired" level nobody has (the audit's equations are then a little looser
#: than they could be); declaring only :func:`scale_levels` there doubles the cells hidden on the demo
#: (Cox and Kaplan-Meier rows), which needs looking into before it changes
SCALE_LEVELS = ("0", "b", *CATEGORIES, "paired")


def scale_levels(res: Results, scale: str) -> tuple[str, ...]:
    """The levels of ``scale:<id>`` (no level nobody can have: see the module docstring)."""
    return ("0", "b", *paired_levels(res, scale))


def _where(programme: str | None) -> Population:
    return {} if programme in (None, "all") else {"programme": str(programme)}


def roster(arm: str | None = None, programme: str | None = None) -> Population:
    """Everyone on the rosters (of an arm and programme)."""
    return ({"arm": arm} if arm else {}) | _where(programme)


def answered(arm: str | None, programme: str | None, wave: str, value: str = "1") -> Population:
    """Those who answered (``value="0"``: did not answer) ``wave``."""
    return roster(arm, programme) | {f"wave:{wave}": value}


def pattern(design: Design, arm: str, digits: str) -> Population:
    """Those of an arm whose answered waves follow ``digits`` (one 0/1 per wave of the design, in order)."""
    return {"arm": arm} | {f"wave:{w}": d for w, d in zip(design.wave_ids, digits, strict=True)}


@lru_cache(maxsize=64)
def _classified(path: Path, stamp: float) -> frozenset[str]:
    table = pd.read_csv(path)
    return frozenset(table["scale"].astype(str)) if "scale" in table.columns else frozenset()


def classified(res: Results, scale: str) -> bool:
    """Whether the change stage sorted the scale's pairs into reliable-change categories."""
    path = res.root / "change" / "reliable_change.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        return scale in _classified(path, path.stat().st_mtime)
    except pd.errors.EmptyDataError:
        return False


def paired_levels(res: Results, scale: str) -> tuple[str, ...]:
    """The ``scale:<id>`` levels of those with a baseline and a short-term score."""
    return CATEGORIES if classified(res, scale) else ("paired",)


def changed(res: Results, design: Design, scale: str, arm: str | None, programme: str | None,
            category: str | None = None) -> Population:  # fmt: skip
    """Those with a baseline and a short-term score on ``scale`` (of one reliable-change ``category``)."""
    levels = (category,) if category else paired_levels(res, scale)
    return roster(arm, programme) | {f"scale:{scale}": levels[0] if len(levels) == 1 else levels}


def baseline_group(res: Results, design: Design, scale: str, arm: str, completed: bool) -> Population:
    """Those of an arm with a baseline score on ``scale`` who answered (or not) the last wave."""
    levels = ("b", *paired_levels(res, scale))
    if design.last_wave == design.short_term and not completed:
        levels = ("b",)  # answered the short-term wave = answered the last one
    pop = {"arm": arm, f"wave:{design.baseline}": "1", f"scale:{scale}": levels[0] if len(levels) == 1 else levels}
    return pop | {f"wave:{design.last_wave}": "1" if completed else "0"}


def alpha(scale: str) -> Population:
    """Those in the reliability analysis of ``scale`` at baseline."""
    return {f"alpha:{scale}": "1"}


def model(outcome: str) -> Population:
    """Those in the growth model of ``outcome``."""
    return {f"model:{outcome}": "1"}
