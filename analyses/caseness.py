"""Time to burnout caseness between survey waves: interval-censored survival, intervisie vs comparison.

A participant below the caseness line at baseline (CBI work-related burnout < 50, Kristensen et
al. 2005) becomes a *case* somewhere between the last wave still below the line and the first
wave at or above it: the time is known only to lie in that interval (interval-censored).

* :func:`caseness_intervals` -- one row per participant at risk: ``(lower, upper]`` in months;
  ``upper = inf`` when no case was observed (right-censored at the last wave answered);
* :func:`turnbull_curve` -- the nonparametric maximum-likelihood estimate of the survival
  function (Turnbull 1976) per arm;
* :func:`caseness_weibull` -- a Weibull accelerated-failure-time model with the arm (and
  other covariates), reported as time ratios and hazard ratios.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from lifelines import WeibullAFTFitter
from lifelines.fitters.npmle import npmle
from scipy import stats

from analyses.weibull_ic import polish_weibull_ic
from pipeline.errors import InputError

#: moves each lower bound up by this much (months) so that intervals are open on the left, (L, R]
OPEN_LEFT = 1e-6


def caseness_intervals(scores: pd.DataFrame, *, scale: str, threshold: float, baseline: str = "t0") -> pd.DataFrame:
    """Return the interval in which each participant at risk first reached the caseness line.

    At risk: a ``baseline`` score below ``threshold`` and at least one later wave answered.
    ``upper`` is the first later wave (months) with ``score >= threshold``; ``lower`` is the
    last wave before it with a score below (a missed wave widens the interval).  Without a
    case, ``lower`` is the last wave answered and ``upper = inf``.

    Parameters
    ----------
    scores : pandas.DataFrame
        Long wave scores (:func:`analyses.data.wave_scores`): ``participant``, ``arm``,
        ``programme``, ``wave``, ``months``, ``scale``, ``score``.
    scale : str, keyword-only
    threshold : float, keyword-only
    baseline : str, keyword-only

    Returns
    -------
    pandas.DataFrame
        ``participant``, ``arm``, ``programme``, ``lower``, ``upper``, ``case`` (0/1), by participant.
    """
    needed = ["participant", "arm", "programme", "wave", "months", "scale", "score"]
    missing = [c for c in needed if c not in scores.columns]
    if missing:
        raise InputError(f"the wave scores lack column(s) {missing} needed for time to caseness")
    part = scores[scores["scale"] == scale]
    if part.empty:
        raise InputError(f"scale_scores.parquet has no valid scores of scale '{scale}' (params: caseness scale)")
    base = part[part["wave"] == baseline].set_index("participant")
    at_risk = base.index[base["score"] < threshold]
    months0 = base["months"]
    later = part[part["participant"].isin(at_risk)]
    later = later[later["months"] > later["participant"].map(months0)]
    first_case = later[later["score"] >= threshold].groupby("participant")["months"].min()
    before = later["months"] < later["participant"].map(first_case).fillna(np.inf)
    below = later[before & (later["score"] < threshold)].groupby("participant")["months"].max()
    people = later.drop_duplicates("participant").set_index("participant")[["arm", "programme"]]
    people = people.sort_index(kind="stable")
    out = people.assign(
        lower=below.reindex(people.index).fillna(months0.reindex(people.index)),
        upper=first_case.reindex(people.index).fillna(np.inf),
    )
    out["case"] = np.isfinite(out["upper"]).astype(int)
    return out.reset_index()[["participant", "arm", "programme", "lower", "upper", "case"]]


def turnbull_curve(intervals: pd.DataFrame, *, by: str = "arm", tol: float = 1e-9) -> pd.DataFrame:
    """Turnbull's NPMLE of the survival function (free of caseness) per level of ``by``.

    The probability masses ``p_j`` on the Turnbull intervals ``(q_j, p_j]`` (innermost
    intervals of the observed ``(lower, upper]``) maximise ``sum_i log sum_j alpha_ij p_j``
    (``alpha_ij = 1`` when interval j lies in person i's interval); ``S`` after interval j is
    ``1 - sum_{k <= j} p_k`` and is not determined inside an interval.  Fitted by EM (lifelines'
    NPMLE; its public wrapper also draws an unseeded 1000-sample bootstrap for CIs not used here).

    Returns
    -------
    pandas.DataFrame
        ``<by>``, ``time_lower``, ``time_upper``, ``survival`` for the finite Turnbull intervals.

    References
    ----------
    Turnbull, B. W. (1976). The empirical distribution function with arbitrarily grouped,
    censored and truncated data. JRSS B, 38, 290-295.  R: ``survfit(Surv(L, R, type = "interval2") ~ arm)``.
    """
    rows = []
    for level, part in intervals.groupby(by, sort=True):
        lows = np.sort(part["lower"].unique())
        p, turnbull = npmle(part["lower"].to_numpy(float) + OPEN_LEFT, part["upper"].to_numpy(float), tol=tol)
        survival = 1.0 - np.cumsum(p)
        for (left, right), s in zip(turnbull, survival, strict=True):
            if np.isfinite(right):
                lower = lows[lows <= left].max()
                rows.append({by: str(level), "time_lower": float(lower), "time_upper": float(right), "survival": s})
    return pd.DataFrame(rows, columns=[by, "time_lower", "time_upper", "survival"])


def _reference_dummies(data: pd.DataFrame, column: str, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Indicator columns ``<column>_<level>`` for all but the reference level.

    The reference is the first level of ``order`` (the study's declared order, e.g. the first
    programme of study.yaml) present in the data; without an order, the most common level (ties:
    first by name).
    """
    values = data[column].astype(str)
    counts = values.value_counts()
    present = [str(lv) for lv in (order or ()) if str(lv) in counts.index]
    reference = present[0] if present else sorted(counts[counts == counts.max()].index)[0]
    levels = [lv for lv in present if lv != reference] + sorted(set(counts.index) - set(present) - {reference})
    return pd.DataFrame({f"{column}_{lv}": (values == lv).astype(float) for lv in levels})


def caseness_weibull(
    intervals: pd.DataFrame,
    *,
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
    model: str = "weibull",
    levels: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Weibull AFT model of interval-censored time to caseness: time ratios and hazard ratios.

    ``log T = b0 + x' b + sigma W`` with W standard minimum extreme value; lifelines writes it
    as ``S(t) = exp(-(t / lambda)^rho)``, ``log lambda = b0 + x' b``, ``rho = 1 / sigma``
    (so lifelines' ``lambda_`` coefficients are R ``survreg``'s, and ``rho = 1 / scale``).
    A coefficient gives the time ratio ``exp(b)`` (> 1: caseness later) and the hazard ratio
    ``exp(-b rho)``; the CI of the log hazard ratio uses the delta method,
    ``var = rho^2 var(b) + (b rho)^2 var(log rho) + 2 b rho^2 cov(b, log rho)``.  The p-value of
    both is the Wald test of ``b = 0`` (the same null hypothesis).

    Parameters
    ----------
    intervals : pandas.DataFrame
        From :func:`caseness_intervals` (``arm`` intervisie/comparison, ``lower``, ``upper``, ``case``).
    covariates : sequence of str, keyword-only
        Further factors (e.g. ``programme``); reference level: the first of ``levels[factor]``
        present in the data, else the most common.
    alpha : float, keyword-only
    model : str, keyword-only
        Name written in the ``model`` column.
    levels : mapping, keyword-only
        The declared order of a factor's levels (the study's programmes as study.yaml lists them).

    Returns
    -------
    pandas.DataFrame
        ``model``, ``term`` (``time_ratio:<x>``, ``hazard_ratio:<x>``, ``shape_rho``),
        ``estimate``, ``ci_low``, ``ci_high``, ``p_val``, ``n``, ``events``.

    References
    ----------
    Lindsey, J. C., & Ryan, L. M. (1998). Methods for interval-censored data. Statistics in
    Medicine, 17, 219-238.  R: ``survreg(Surv(L, R, type = "interval2") ~ arm + programme, dist = "weibull")``.
    """
    frame = pd.DataFrame({"arm_intervisie": (intervals["arm"] == "intervisie").astype(float).to_numpy()})
    for column in covariates:
        frame = frame.join(_reference_dummies(intervals.reset_index(drop=True), column, (levels or {}).get(column)))
    frame["lower"] = intervals["lower"].to_numpy(float)
    frame["upper"] = intervals["upper"].to_numpy(float)
    fitter = WeibullAFTFitter(alpha=alpha).fit_interval_censoring(frame, "lower", "upper")
    params, cov, _ = polish_weibull_ic(fitter, frame, "lower", "upper")  # lifelines stops short of the optimum
    log_rho = float(params[("rho_", "Intercept")])
    rho = np.exp(log_rho)
    z = stats.norm.ppf(1 - alpha / 2)
    base = {"model": model, "n": len(frame), "events": int(intervals["case"].sum())}
    rows = []
    for name in [c for c in frame.columns if c not in ("lower", "upper")]:
        key = ("lambda_", name)
        b, var_b = float(params[key]), float(cov.loc[key, key])
        cov_br = float(cov.loc[key, ("rho_", "Intercept")])
        p_val = float(2 * stats.norm.sf(abs(b) / np.sqrt(var_b)))
        se_b = np.sqrt(var_b)
        rows.append({**base, "term": f"time_ratio:{name}", "estimate": np.exp(b), "ci_low": np.exp(b - z * se_b),
                     "ci_high": np.exp(b + z * se_b), "p_val": p_val})
        log_hr = -b * rho
        se_hr = np.sqrt(rho**2 * var_b + log_hr**2 * float(cov.loc[("rho_", "Intercept"), ("rho_", "Intercept")])
                        + 2 * b * rho**2 * cov_br)
        rows.append({**base, "term": f"hazard_ratio:{name}", "estimate": np.exp(log_hr),
                     "ci_low": np.exp(log_hr - z * se_hr), "ci_high": np.exp(log_hr + z * se_hr), "p_val": p_val})
    se_lr = np.sqrt(float(cov.loc[("rho_", "Intercept"), ("rho_", "Intercept")]))
    rows.append({**base, "term": "shape_rho", "estimate": rho, "ci_low": np.exp(log_rho - z * se_lr),
                 "ci_high": np.exp(log_rho + z * se_lr), "p_val": np.nan})
    return pd.DataFrame(rows, columns=["model", "term", "estimate", "ci_low", "ci_high", "p_val", "n", "events"])
