"""Measurement invariance of a one-factor scale across groups: configural, metric, scalar.

Three nested multi-group CFA models (:mod:`analyses.cfa`; Meredith 1993; Vandenberg & Lance 2000):

* **configural** -- the same one-factor structure in every group, all parameters free per group;
* **metric** -- loadings equal across groups (factor variances free in all but the reference group);
* **scalar** -- loadings and intercepts equal (factor means free in all but the reference group).

A level holds when, compared with the level below it, CFI drops by at most ``delta_cfi``
(0.010) and RMSEA rises by at most ``delta_rmsea`` (0.015) (Chen 2007).  When a level fails, the
items that break it are found by partial invariance (Byrne, Shavelson & Muthén 1989): the
constraint of each item in turn is released and the one whose release lowers the test statistic
most is freed, until the level holds or only two items are still constrained.

Identification: ``"fixed_factor"`` (default) fixes the reference group's factor variance at 1
(and its mean at 0) so every item's loading can be released; ``"marker"`` fixes the first
item's loading at 1 in every group (R lavaan's default).  Both give the same fit.

Across independent groups the models are multi-group CFAs (:func:`invariance`); across the
waves of one group of people they are one longitudinal CFA with a factor per wave, the factors
correlated and the same item's residuals correlated over the waves
(:func:`longitudinal_invariance`, :mod:`analyses.longitudinal_cfa`; Widaman, Ferrer & Conger
2010; Liu et al. 2017): the same three levels and criteria, the first wave the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from analyses import longitudinal_cfa as lcfa
from analyses.cfa import Fit, Moments, Spec, fit

LEVELS = ("configural", "metric", "scalar")


def spec_for(
    n_groups: int,
    n_items: int,
    level: str,
    *,
    identification: str = "fixed_factor",
    free_loadings: tuple[int, ...] = (),
    free_intercepts: tuple[int, ...] = (),
) -> Spec:
    """Return the parameter specification of one invariance level.

    ``free_loadings`` / ``free_intercepts`` are items (column positions) whose loading /
    intercept is left free per group at the metric / scalar level (partial invariance).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown invariance level {level!r}; choose one of {LEVELS}")
    if identification not in ("fixed_factor", "marker"):
        raise ValueError(f"unknown identification {identification!r}; choose fixed_factor or marker")
    g, p = n_groups, n_items
    counter = iter(range(10**9))

    def ids(shared: bool, fixed: np.ndarray | None = None, per_item_free: tuple[int, ...] = ()) -> np.ndarray:
        out = np.full((g, p), -1, dtype=int)
        for j in range(p):
            if fixed is not None and fixed[j]:
                continue
            if shared and j not in per_item_free:
                out[:, j] = next(counter)
            else:
                for k in range(g):
                    out[k, j] = next(counter)
        return out

    equal_loadings = level in ("metric", "scalar")
    marker = np.zeros(p, dtype=bool)
    if identification == "marker":
        marker[0] = True
    loading_id = ids(equal_loadings, marker, free_loadings)
    intercept_id = ids(level == "scalar", None, free_intercepts)
    residual_id = ids(False)
    variance_id = np.full(g, -1, dtype=int)
    for k in range(g):
        if identification == "marker" or (equal_loadings and k > 0):
            variance_id[k] = next(counter)
    mean_id = np.full(g, -1, dtype=int)
    if level == "scalar":
        for k in range(1, g):
            mean_id[k] = next(counter)
    return Spec(loading_id=loading_id, intercept_id=intercept_id, residual_id=residual_id, variance_id=variance_id,
                mean_id=mean_id, loading_fixed=np.where(marker, 1.0, 0.0)[None, :].repeat(g, 0),
                variance_fixed=np.ones(g))  # fmt: skip


@dataclass
class InvarianceResult:
    """The fits of the three levels, the level that holds and the items that break the next one."""

    fits: dict[str, Fit | lcfa.LongFit]
    holds: str
    broken_by: list[str] = field(default_factory=list)
    partial: Fit | lcfa.LongFit | None = None
    partial_level: str | None = None


#: fits one level: (level, items freed from its constraint, whether to polish) -> the fit
Fitter = Callable[[str, tuple[int, ...], bool], "Fit | lcfa.LongFit"]


def _holds(lower: Fit | lcfa.LongFit, upper: Fit | lcfa.LongFit, delta_cfi: float, delta_rmsea: float) -> bool:
    return bool(lower.cfi - upper.cfi <= delta_cfi and upper.rmsea - lower.rmsea <= delta_rmsea)


def _partial(
    fitter: Fitter, p: int, level: str, lower: Fit | lcfa.LongFit, items: list[str], *, identification: str,
    delta_cfi: float, delta_rmsea: float,
) -> tuple[list[str], Fit | lcfa.LongFit | None]:
    """Free the constraint of one item at a time (largest drop in T first) until the level holds.

    The candidates are fitted to a looser tolerance (``polish=False``): their statistics agree to
    far better than the differences between candidates.
    """
    freed: list[int] = []
    last: Fit | lcfa.LongFit | None = None
    while len(freed) < p - 2:
        best: tuple[float, int, Fit | lcfa.LongFit] | None = None
        for j in range(p):
            if j in freed or (identification == "marker" and level == "metric" and j == 0):
                continue
            candidate = fitter(level, (*freed, j), False)
            if best is None or candidate.chisq < best[0] - 1e-9:
                best = (candidate.chisq, j, candidate)
        if best is None:
            break
        freed.append(best[1])
        last = best[2]
        if _holds(lower, last, delta_cfi, delta_rmsea):
            break
    return [items[j] for j in freed], last


def _levels(
    fitter: Fitter, p: int, items: list[str], *, delta_cfi: float, delta_rmsea: float, identification: str,
    find_items: bool,
) -> InvarianceResult:
    """Fit the three levels, judge each step, and search for the items that break the first level that fails."""
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: BLAS threads only contend
        fits = {level: fitter(level, (), True) for level in LEVELS}
        if not fits["configural"].converged:
            return InvarianceResult(fits=fits, holds="none")
        holds = "configural"
        for lower, upper in (("configural", "metric"), ("metric", "scalar")):
            if not _holds(fits[lower], fits[upper], delta_cfi, delta_rmsea):
                break
            holds = upper
        result = InvarianceResult(fits=fits, holds=holds)
        if find_items and holds != "scalar":
            level = LEVELS[LEVELS.index(holds) + 1]
            result.broken_by, result.partial = _partial(fitter, p, level, fits[holds], items,
                                                        identification=identification, delta_cfi=delta_cfi,
                                                        delta_rmsea=delta_rmsea)  # fmt: skip
            result.partial_level = level
        return result

def _freed(level: str, freed: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    return {"free_loadings" if level == "metric" else "free_intercepts": freed}


def invariance(
    groups: list[np.ndarray],
    items: list[str],
    *,
    delta_cfi: float = 0.010,
    delta_rmsea: float = 0.015,
    identification: str = "fixed_factor",
    find_items: bool = True,
) -> InvarianceResult:
    """Test configural, metric and scalar invariance of one scale across independent groups.

    Parameters
    ----------
    groups : list of numpy.ndarray
        Complete-case item matrices (people x items), one per group; the first is the reference group.
    items : list of str
        The item names (columns).
    delta_cfi, delta_rmsea : float
        The largest drop in CFI and rise in RMSEA that still count as invariant (Chen 2007).
    identification : {"fixed_factor", "marker"}
        How the factor's scale is set (see the module docstring).
    find_items : bool
        Whether to search for the items that break the first level that fails.

    Returns
    -------
    InvarianceResult
        ``holds`` is ``"none"`` when the configural model does not converge, else the highest
        level whose step from the level below meets both criteria (the configural level itself
        is judged by its absolute fit, reported beside it).
    """
    mom = Moments.from_groups(groups)
    g, p = mom.means.shape

    def fitter(level: str, freed: tuple[int, ...], polish: bool) -> Fit:
        return fit(spec_for(g, p, level, identification=identification, **_freed(level, freed)), mom, polish=polish)

    return _levels(fitter, p, items, delta_cfi=delta_cfi, delta_rmsea=delta_rmsea, identification=identification,
                   find_items=find_items)  # fmt: skip


def longitudinal_invariance(
    waves: list[np.ndarray],
    items: list[str],
    *,
    delta_cfi: float = 0.010,
    delta_rmsea: float = 0.015,
    identification: str = "fixed_factor",
    find_items: bool = True,
) -> InvarianceResult:
    """Test configural, metric and scalar invariance of one scale over the waves of the same people.

    Parameters
    ----------
    waves : list of numpy.ndarray
        Item matrices (people x items), one per wave (the first the reference), row ``i`` of
        every matrix the same person, no missing values.
    items, delta_cfi, delta_rmsea, identification, find_items
        As in :func:`invariance`.

    Returns
    -------
    InvarianceResult
        As in :func:`invariance`; the fits are :class:`analyses.longitudinal_cfa.LongFit`.
    """
    if len({len(x) for x in waves}) != 1:
        raise ValueError("every wave's item matrix needs the same people, one row each")
    mom = lcfa.LongMoments.from_waves(waves)
    w, p = len(waves), waves[0].shape[1]

    def fitter(level: str, freed: tuple[int, ...], polish: bool) -> lcfa.LongFit:
        spec = lcfa.longitudinal_spec(w, p, level, identification=identification, **_freed(level, freed))
        return lcfa.fit(spec, mom, polish=polish)

    return _levels(fitter, p, items, delta_cfi=delta_cfi, delta_rmsea=delta_rmsea, identification=identification,
                   find_items=find_items)  # fmt: skip


def fit_table(result: InvarianceResult) -> pd.DataFrame:
    """Return one row per level: chi-square, df, CFI, RMSEA and their change from the level below."""
    rows = []
    previous: Fit | lcfa.LongFit | None = None
    for level in LEVELS:
        f = result.fits[level]
        rows.append({"level": level, "chisq": f.chisq, "df": f.df, "cfi": f.cfi, "rmsea": f.rmsea,
                     "delta_cfi": np.nan if previous is None else previous.cfi - f.cfi,
                     "delta_rmsea": np.nan if previous is None else f.rmsea - previous.rmsea,
                     "converged": f.converged})  # fmt: skip
        previous = f
    return pd.DataFrame(rows)
