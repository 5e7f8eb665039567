"""The attacker's side of disclosure control: what every published number reveals, by integer programming.

Every number about people that a document shows is a *published cell* about a *population*: the
participants that match one level (or a set of levels) of some dimensions (arm, programme, response at
a wave, ...).  Write an *atom* for every combination of levels of all dimensions; its count ``x_a`` is an
unknown non-negative integer and every population count is a sum of atoms,
``n(P) = sum_{a in P} x_a``.  What a reader sees fixes or bounds these sums:

- a visible count ``v`` of population ``P``:  ``n(P) = v``;
- a visible share ``p`` (percent, rounded to ``d`` decimals) of ``P`` in denominator ``D``:
  ``(p - h) / 100 * n(D) <= n(P) <= (p + h) / 100 * n(D)`` with ``h = 0.5 * 10**-d``, and ``n(D) >= 1``;
- a hidden count, hidden share or statistic: nothing.

The smallest and largest ``n(T)`` of a target population ``T`` under these constraints,

    min / max  sum_{a in T} x_a   s.t.  the constraints above,  x_a in {0, 1, 2, ...},

is its *feasible interval* (tau-ARGUS's protection interval), found with two integer programs
(``scipy.optimize.milp``, HiGHS).  Atoms that lie in exactly the same populations (the same
*membership signature*) enter every constraint and objective together, so they merge exactly into one
variable (their sum is again any non-negative integer): the programs have one variable per distinct
signature, however many dimensions the study has.

A hidden cell is *unprotected* when it could be about fewer than ``min_cell`` people and the interval
pins it: ``low < min_cell`` and ``high - low < protection`` (default ``min_cell - 1``; a hidden cell that
is provably about nobody, ``[0, 0]``, reveals nothing a zero count would not).  A visible count with
``0 < n < min_cell`` is too small; a visible share or statistic must be provably about at least
``min_cell`` people (the feasible minimum of its population, and of a share's denominator, is at least
``min_cell``; a share whose numerator is provably zero is about nobody).

References
----------
Hundepool A, Domingo-Ferrer J, Franconi L, Giessing S, Schulte Nordholt E, Spicer K, de Wolf P-P.
*Statistical Disclosure Control*. Wiley, 2012, ch. 4 (4.2 sensitivity rules, 4.3 protection intervals and
the audit of a suppression pattern, tau-ARGUS).  Meindl B. *sdcTable: methods for statistical disclosure
control in tabular data* (R package), ``protectTable`` / ``attack``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array, vstack

from reporting.disclosure_atoms import Key, signatures, variables  # noqa: F401 (signatures: re-exported)
from reporting.disclosure_solver import Infeasible, LinearSystem, Unsolved

Levels = str | tuple[str, ...]
Population = Mapping[str, Levels]

#: slack on share bounds against floating-point error (people, not percent)
_EPS = 1e-7
#: an optimum within this of an integer counts as that integer
_TOL = 1e-6
KINDS = ("count", "share", "statistic")


class InconsistentPublication(ValueError):
    """The published numbers contradict each other: no table of counts produces all of them."""


@dataclass(frozen=True)
class PublishedCell:
    """One number a reader sees (or a hidden "×" / missing "–" in its place).

    Parameters
    ----------
    id
        The cell's id (``dc-...``), unique in its document; the audit prefixes the document name.
    kind
        ``"count"``, ``"share"`` (percent of ``denominator``) or ``"statistic"`` (anything else computed
        from exactly the people of ``population``).
    population
        ``{dim: level}`` or ``{dim: (level, ...)}`` (a union of levels); a dim that is absent means any level.
    value
        What the reader sees: the count, or the share in percent; ``None`` when hidden or not published.
    denominator
        A share's denominator population (``population`` is a subset of it).
    digits
        Decimals a share is rounded to.
    """

    id: str
    kind: str
    population: Population
    value: float | None
    denominator: Population | None = None
    digits: int = 0


@dataclass(frozen=True)
class Finding:
    """A published cell that breaks a rule; ``low``/``high`` is the feasible interval (``None``: unknown/unbounded)."""

    cell: str
    rule: str
    low: int | None
    high: int | None
    message: str


def canonical(population: Population, dims: Mapping[str, Sequence[str]]) -> Key:
    """The population as a sorted key; a dim restricted to all its levels is dropped. ValueError on unknown names."""
    key = []
    for dim, levels in population.items():
        if dim not in dims:
            raise ValueError(f"unknown dimension {dim!r} (known: {', '.join(sorted(dims))})")
        chosen = (levels,) if isinstance(levels, str) else tuple(levels)
        unknown = [level for level in chosen if level not in dims[dim]]
        if unknown or not chosen:
            raise ValueError(f"unknown level(s) {unknown or '(none given)'} of dimension {dim!r}")
        if set(chosen) != set(dims[dim]):
            key.append((dim, tuple(sorted(set(chosen)))))
    return tuple(sorted(key))


class _Program:
    """The constraints of everything published, over merged atom classes; answers min/max of populations."""

    def __init__(
        self, dims: Mapping[str, Sequence[str]], cells: Sequence[PublishedCell], targets: Sequence[Key], time_limit: float
    ):
        self.time_limit = time_limit
        keys: dict[Key, int] = {}

        def index(population: Population, cell: str) -> int:
            try:
                key = canonical(population, dims)
            except ValueError as exc:
                raise ValueError(f"cell {cell}: {exc}") from None
            return keys.setdefault(key, len(keys))

        rows: list[tuple[int, float, int, float, float]] = []  # (pop, coef, den, lb, ub): pop - coef*den in [lb, ub]
        for cell in cells:
            if cell.kind not in KINDS:
                raise ValueError(f"cell {cell.id}: unknown kind {cell.kind!r} (one of {', '.join(KINDS)})")
            pop = index(cell.population, cell.id)
            if cell.value is None or cell.kind == "statistic":
                continue
            if cell.kind == "count":
                rows.append((pop, 0.0, -1, float(cell.value), float(cell.value)))
            else:
                if cell.denominator is None:
                    raise ValueError(f"cell {cell.id}: a share needs a denominator")
                den = index(cell.denominator, cell.id)
                half = 0.5 * 10.0 ** -cell.digits
                low, high = max(cell.value - half, 0.0) / 100, min(cell.value + half, 100.0) / 100
                rows.append((pop, low, den, -_EPS, math.inf))
                rows.append((pop, high, den, -math.inf, _EPS))
                rows.append((den, 0.0, -1, 1.0, math.inf))
        self.target_index = [keys.setdefault(key, len(keys)) for key in targets]
        members, coupling = variables(dims, list(keys))
        self.members = members
        take = csr_array(([1.0] * len(rows), (range(len(rows)), [r[0] for r in rows])), shape=(len(rows), len(keys)))
        minus = [(i, r[2], -r[1]) for i, r in enumerate(rows) if r[2] >= 0 and r[1] != 0.0]
        take = take + csr_array(([m[2] for m in minus], ([m[0] for m in minus], [m[1] for m in minus])), shape=take.shape)
        matrix = vstack([take @ members, coupling]).tocsr()
        bounds = ([r[3] for r in rows] + [0.0] * coupling.shape[0], [r[4] for r in rows] + [0.0] * coupling.shape[0])
        self.system = LinearSystem(matrix, *bounds)

    def objective(self, j: int) -> np.ndarray:
        """The count of population ``j`` as a dense row over the variables."""
        return self.members[[j], :].toarray().ravel()

    def outer(self, j: int) -> list[list]:
        """The relaxation's interval of population ``j``: ``[[low, low_exact], [high, high_exact]]`` (high None: unbounded)."""
        objective = self.objective(j)
        if not objective.any():
            return [[0, True], [0, True]]
        try:
            low, low_exact = self.system.relaxation(objective)
            high, high_exact = self.system.relaxation(-objective)
        except Infeasible:
            raise InconsistentPublication(_CONTRADICTION) from None
        upper = None if high == -math.inf else math.floor(-high + _TOL)
        return [[math.ceil(low - _TOL), low_exact], [upper, high_exact or upper is None]]

    def refine(self, j: int, bounds: list[list], end: int) -> None:
        """Replace the relaxation's bound ``end`` (0 low, 1 high) of population ``j`` by the integer optimum."""
        if bounds[end][1]:
            return
        sign = 1 if end == 0 else -1
        try:
            known = bounds[end][0]
            value, exact = self.system.integer(sign * self.objective(j), self.time_limit, sign * known)
        except Infeasible:
            raise InconsistentPublication(_CONTRADICTION) from None
        except Unsolved:
            return  # no integer solution found in time: the relaxation's bound stays (not exact)
        if value == -math.inf:
            bounds[end] = [None, True]
        else:
            bounds[end] = [math.ceil(value - _TOL) if end == 0 else math.floor(-value + _TOL), exact]


_CONTRADICTION = "the published numbers contradict each other: no table of counts produces all of them"


def intervals(
    dims: Mapping[str, Sequence[str]],
    cells: Sequence[PublishedCell],
    targets: Sequence[Population],
    *,
    time_limit: float = 20.0,
) -> list[tuple[int, int | None]]:
    """Feasible ``[min, max]`` number of people in each target population, given everything published.

    Parameters
    ----------
    dims
        Every dimension with ALL its levels.
    cells
        Everything published (all documents together); hidden cells (``value=None``) constrain nothing.
    targets
        Populations to bound.
    time_limit
        Seconds per integer program; past it the bound proven so far is used (an interval that may be
        wider than the exact one, never narrower).

    Returns
    -------
    list of (low, high)
        ``high`` is ``None`` when nothing published bounds the population from above.

    Raises
    ------
    ValueError
        A population names an unknown dimension or level, or a share lacks a denominator.
    InconsistentPublication
        The published numbers cannot all be true at once.
    """
    program = _Program(dims, cells, [canonical(target, dims) for target in targets], time_limit)
    cache: dict[int, tuple[int, int | None]] = {}
    for j in program.target_index:
        if j not in cache:
            bounds = program.outer(j)
            program.refine(j, bounds, 0)
            program.refine(j, bounds, 1)
            cache[j] = (bounds[0][0], bounds[1][0])
    return [cache[j] for j in program.target_index]


def checks_of(cells: Sequence[PublishedCell], min_cell: int) -> tuple[list[Finding], list[tuple[PublishedCell, str, Population]]]:
    """The findings visible without solving (a small visible count) and the populations each rule must bound.

    A hidden count or share is checked as ``unprotected``; a visible share or statistic as
    ``small-population`` (and a share's denominator as ``small-denominator``).
    """
    found: list[Finding] = []
    checks: list[tuple[PublishedCell, str, Population]] = []
    for cell in cells:
        if cell.kind == "count" and cell.value is not None:
            if 0 < cell.value < min_cell:
                n = round(cell.value)
                found.append(Finding(cell.id, "small-count", n, n, f"a visible count of {n} (< {min_cell} people)"))
        elif cell.kind in ("count", "share") and cell.value is None:
            checks.append((cell, "unprotected", cell.population))
        elif cell.value is not None:
            checks.append((cell, "small-population", cell.population))
            if cell.kind == "share" and cell.denominator is not None:
                checks.append((cell, "small-denominator", cell.denominator))
    return found, checks


def findings(
    dims: Mapping[str, Sequence[str]],
    cells: Sequence[PublishedCell],
    *,
    min_cell: int,
    protection: int | None = None,
    time_limit: float = 20.0,
    exact: bool = True,
) -> list[Finding]:
    """Every disclosure rule the published cells break (an empty list: safe to publish).

    Rules (see the module docstring): ``small-count`` a visible count ``0 < n < min_cell``;
    ``unprotected`` a hidden count or share whose population's feasible interval ``[low, high]`` has
    ``low < min_cell`` and ``high - low < protection`` (and is not ``[0, 0]``); ``small-population`` a
    visible share or statistic whose population (or a share's denominator) has a feasible minimum below
    ``min_cell`` (a share whose numerator is provably zero is exempt); ``inconsistent`` the published
    numbers contradict each other (then no interval is computed); ``undecided`` the integer programs hit
    the time limit before a cell could be shown safe (fail-safe: it counts as a failure).

    The relaxation decides most cells (its interval contains the integer one); integer programs run only
    where the verdict or a reported interval depends on them.

    Parameters
    ----------
    dims, cells
        As for :func:`intervals`.
    min_cell
        The smallest number of people a published number may be about.
    protection
        The narrowest feasible interval (``high - low``) a hidden small cell may have; default ``min_cell - 1``.
    time_limit
        Seconds per integer program.
    exact
        Report the integer interval of a failing cell (False: the relaxation's interval, which contains it
        and proves the failure as well; faster where the relaxation is fractional).
    """
    protection = min_cell - 1 if protection is None else protection
    found, checks = checks_of(cells, min_cell)
    try:
        program = _Program(dims, cells, [canonical(pop, dims) for _, _, pop in checks], time_limit)
        outer = {j: program.outer(j) for j in dict.fromkeys(program.target_index)}
        verdicts = {}
        for (_, rule, _), j in zip(checks, program.target_index, strict=True):
            role = "hidden" if rule == "unprotected" else "visible"
            if (j, role) not in verdicts:
                verdicts[j, role] = _verdict(program, outer[j], j, role, min_cell, protection, exact)
    except InconsistentPublication as exc:
        return [*found, Finding("*", "inconsistent", None, None, str(exc))]
    for (cell, rule, _), j in zip(checks, program.target_index, strict=True):
        status, low, high, exact = verdicts[j, "hidden" if rule == "unprotected" else "visible"]
        shown = f"{'' if exact else 'within '}[{low}, {'∞' if high is None else high}]"
        if status == "pass" or (rule == "small-population" and cell.kind == "share" and high == 0):
            continue
        if status == "undecided":
            message = f"could not be shown safe within the time limit (feasible interval {shown})"
        elif rule == "unprotected":
            message = f"hidden, but what is published pins it to {shown} people (a width below {protection})"
        else:
            about = "its denominator" if rule == "small-denominator" else "its population"
            message = f"a visible {cell.kind}, but {about} may be about only {low} people {shown}"
        found.append(Finding(cell.id, "undecided" if status == "undecided" else rule.replace(
            "small-denominator", "small-population"), low, high, message))  # fmt: skip
    return found


def _verdict(
    program: _Program, bounds: list[list], j: int, role: str, min_cell: int, protection: int, exact_report: bool
) -> tuple:
    """``(status, low, high, exact)`` of population ``j`` as a hidden cell (``role="hidden"``) or as the population
    of a visible share or statistic; status pass, fail or undecided.

    The relaxation's interval contains the integer one, so a narrow relaxation proves a leak at once; integer
    programs run only where the relaxation looks safe but small and its optimal vertex is fractional.
    """
    narrow = bounds[1][0] is not None and bounds[1][0] - bounds[0][0] < protection
    if bounds[0][0] < min_cell and not (role == "hidden" and narrow):
        program.refine(j, bounds, 0)
    small = bounds[0][0] < min_cell
    if small and role == "hidden" and not narrow:
        program.refine(j, bounds, 1)
    (low, low_exact), (high, high_exact) = bounds
    exact = (low_exact and high_exact) or low == high
    if not small:
        status = "pass"
    elif role != "hidden":
        status = "fail" if low_exact else "undecided"
    elif high is None or high == 0 or high - low >= protection:
        status = "pass" if exact or high is None or high == 0 else "undecided"
    else:
        status = "fail"
    if status == "fail" and not exact and exact_report:  # the verdict stands; report the integer interval
        program.refine(j, bounds, 0)
        program.refine(j, bounds, 1)
        (low, low_exact), (high, high_exact) = bounds
        exact = (low_exact and high_exact) or low == high
    return status, low, high, exact


def implicit_cells(
    cells: Sequence[PublishedCell], dims: Mapping[str, Sequence[str]], limit: int = 4096
) -> list[PublishedCell]:
    """Hidden cells for the rows a table leaves out: every level combination of a published population's shape.

    A table that shows programmes p1 and p2 and "all programmes" but has no row for p3 still tells its count
    by subtraction; every combination of levels of the dimensions a published population fixes (one level
    each) is therefore audited as if it were a hidden cell (``implicit:`` ids), unless it is published.
    Shapes with more than ``limit`` combinations are skipped.
    """
    shapes, published = set(), set()
    for cell in cells:
        for population in (cell.population, cell.denominator or {}):
            key = canonical(population, dims)
            published.add(key)
            if key and all(len(levels) == 1 for _, levels in key):
                shapes.add(tuple(dim for dim, _ in key))
    extra = []
    for shape in sorted(shapes):
        if math.prod(len(dims[dim]) for dim in shape) > limit:
            continue
        for levels in itertools.product(*(dims[dim] for dim in shape)):
            population = dict(zip(shape, levels, strict=True))
            if canonical(population, dims) not in published:
                published.add(canonical(population, dims))
                name = ", ".join(f"{dim}={level}" for dim, level in population.items())
                extra.append(PublishedCell(f"(implicit)#implicit:{name}", "count", population, None))
    return extra
