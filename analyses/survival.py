"""Staying in intervisie: Kaplan-Meier curves, a Cox model with group-clustered robust SEs, the PH check.

* :func:`dropout_times` -- months from the start of intervisie to leaving it (``end_date``), or
  to the end of follow-up (right-censored);
* :func:`kaplan_meier` -- product-limit curves per stratum with log(-log) confidence intervals,
  and a summary per stratum (median, survival at fixed times); strata with too few people are
  suppressed;
* :class:`DropoutCox` (:mod:`analyses.cox_dropout`, re-exported here) -- the Cox proportional
  hazards model (Efron ties) with robust standard errors clustered on the reflection group
  (few-cluster intervals), the Grambsch-Therneau test of proportional hazards, and, where a covariate fails that test, a second model that repairs it: a factor is moved into
  the strata; for a continuous covariate, hazard ratios are estimated separately before and
  after a cut point.

lifelines does the fitting, :mod:`analyses.cox_robust` the clustered SEs (Efron's tie correction
in the score residuals, few-cluster correction); the results agree with R's ``survival`` package
(``survfit``, ``coxph(..., cluster = group)``; see ``tests/test_survival.py`` for the R calls and
tolerances).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

from analyses.cox_dropout import (
    COX_COLUMNS,
    FIT_OPTIONS,
    MIN_EVENTS,
    PH_COLUMNS,
    DropoutCox,
    Term,
    event_time_ranks,
    periods,
)
from pipeline.errors import InputError

__all__ = [
    "COX_COLUMNS", "FIT_OPTIONS", "KM_COLUMNS", "MIN_EVENTS", "MONTH_DAYS", "PH_COLUMNS", "DropoutCox", "Term",
    "dropout_times", "event_time_ranks", "kaplan_meier", "periods",
]  # fmt: skip

#: days in a month (a Julian year of 365.25 days over 12 months)
MONTH_DAYS = 365.25 / 12
#: the columns of :func:`kaplan_meier`'s steps (``km.csv`` adds ``curve`` first)
KM_COLUMNS = ["stratum", "time_months", "survival", "ci_low", "ci_high", "at_risk", "events", "note"]


def dropout_times(
    participants: pd.DataFrame, *, follow_up_months: float, censor_date: dt.date | None = None
) -> pd.DataFrame:
    """Return the time in intervisie of every intervisie participant, in months.

    ``time = (end_date - start_date) / (365.25 / 12)`` when the participant left within
    follow-up (``left = 1``); otherwise the participant is right-censored (``left = 0``) at
    ``follow_up_months`` after ``start_date``, or earlier at ``censor_date`` (the date the
    roster's leaving dates were last complete).  Leaving on the first day counts as leaving
    after half a day (dates have a resolution of one day).

    Parameters
    ----------
    participants : pandas.DataFrame
        The canonical participants table: ``participant``, ``group``, ``programme``, ``arm``,
        ``format``, ``start_date``, ``end_date`` (NaT: did not leave).
    follow_up_months : float, keyword-only
    censor_date : datetime.date, optional, keyword-only

    Returns
    -------
    pandas.DataFrame
        ``participant``, ``group``, ``programme``, ``format``, ``months``, ``left`` (0/1),
        sorted by participant.

    Raises
    ------
    InputError
        If a column is missing, or an end date lies before its start date.
    """
    needed = ["participant", "group", "programme", "arm", "format", "start_date", "end_date"]
    missing = [c for c in needed if c not in participants.columns]
    if missing:
        raise InputError(f"participants.parquet lacks column(s) {missing} needed for the dropout analysis")
    people = participants[(participants["arm"] == "intervisie") & participants["group"].notna()]
    start = pd.to_datetime(people["start_date"])
    end = pd.to_datetime(people["end_date"])
    days = (end - start).dt.days.astype(float)
    if (days < 0).any():
        bad = people.loc[days < 0, "participant"].astype(str).tolist()[:5]
        raise InputError(f"participants.parquet, column end_date: end_date before start_date for {bad}")
    horizon = np.full(len(people), follow_up_months * MONTH_DAYS)
    if censor_date is not None:
        horizon = np.minimum(horizon, (pd.Timestamp(censor_date) - start).dt.days.to_numpy(dtype=float))
    days = days.to_numpy()
    left = np.isfinite(days) & (days <= horizon)
    months = np.where(left, np.maximum(days, 0.5), horizon) / MONTH_DAYS
    out = pd.DataFrame(
        {
            "participant": people["participant"].astype(str).to_numpy(),
            "group": people["group"].astype(str).to_numpy(),
            "programme": people["programme"].astype(str).to_numpy(),
            "format": people["format"].astype(str).to_numpy(),
            "months": months,
            "left": left.astype(int),
        }
    )
    return out[out["months"] > 0].sort_values("participant", kind="stable").reset_index(drop=True)


def _at(frame: pd.DataFrame, t: float) -> pd.Series:
    """Value of a right-continuous step function (indexed by time) at ``t``."""
    return frame.loc[frame.index <= t].iloc[-1]


def _finite(x: float) -> float:
    return float(x) if np.isfinite(x) else np.nan


def kaplan_meier(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    by: str | None = None,
    min_n: int = 5,
    times: Sequence[float] = (12.0, 24.0),
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kaplan-Meier curves, one per level of ``by`` (or one overall), with a summary per curve.

    ``S(t) = prod_{t_i <= t} (1 - d_i / n_i)`` with ``d_i`` events among ``n_i`` at risk at
    ``t_i``; the confidence interval is ``S(t)^exp(+-z * se)`` with
    ``se = sqrt(sum d_i / (n_i (n_i - d_i))) / |log S(t)|`` (Greenwood variance on the
    log(-log) scale; Kalbfleisch & Prentice 2002, sec. 1.4; R: ``survfit(..., conf.type = "log-log")``).
    The median and its CI are where the curve and its bounds first reach 0.5 (Brookmeyer &
    Crowley 1982); empty when not reached.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per person.
    duration, event : str, keyword-only
        Time column and event indicator (1 = event, 0 = censored).
    by : str, optional, keyword-only
        The stratifying column; ``None`` gives one curve with stratum ``"all"``.
    min_n : int, keyword-only
        Curves of strata with fewer people are not estimated: one row with a ``note`` instead.
    times : sequence of float, keyword-only
        Times at which the summary gives survival with its CI (column ``survival_<t>m``).
    alpha : float, keyword-only
        1 - confidence level.

    Returns
    -------
    steps : pandas.DataFrame
        ``stratum``, ``time_months``, ``survival``, ``ci_low``, ``ci_high``, ``at_risk``,
        ``events``, ``note`` at time 0 and every observed time.
    summary : pandas.DataFrame
        ``stratum``, ``n``, ``events``, ``median_months``, ``median_ci_low``,
        ``median_ci_high`` and ``survival_<t>m``, ``survival_<t>m_ci_low``, ``survival_<t>m_ci_high``.

    References
    ----------
    Kaplan, E. L., & Meier, P. (1958). Nonparametric estimation from incomplete observations.
    JASA, 53, 457-481.  R equivalent: ``survfit(Surv(months, left) ~ programme, conf.type = "log-log")``.
    """
    strata = [("all", data)] if by is None else [(str(k), g) for k, g in data.groupby(by, sort=True)]
    steps, summary = [], []
    for name, part in strata:
        row: dict[str, object] = {"stratum": name}
        if len(part) < min_n:
            note = f"suppressed: fewer than {min_n} participants"
            steps.append(pd.DataFrame({"stratum": [name], "note": [note]}))
            summary.append({**row, "note": note})
            continue
        kmf = KaplanMeierFitter(alpha=alpha).fit(part[duration], part[event])
        table = kmf.event_table
        ci = kmf.confidence_interval_
        steps.append(
            pd.DataFrame(
                {
                    "stratum": name,
                    "time_months": table.index.to_numpy(dtype=float),
                    "survival": kmf.survival_function_.iloc[:, 0].reindex(table.index).to_numpy(),
                    "ci_low": ci.iloc[:, 0].reindex(table.index).to_numpy(),
                    "ci_high": ci.iloc[:, 1].reindex(table.index).to_numpy(),
                    "at_risk": table["at_risk"].to_numpy(dtype=int),
                    "events": table["observed"].to_numpy(dtype=int),
                    "note": "",
                }
            )
        )
        medians = median_survival_times(ci)
        row |= {
            "n": len(part),
            "events": int(part[event].sum()),
            "median_months": _finite(kmf.median_survival_time_),
            "median_ci_low": _finite(medians.iloc[0, 0]),
            "median_ci_high": _finite(medians.iloc[0, 1]),
        }
        for t in times:
            key = f"survival_{t:g}m"
            at = _at(ci, t)
            row |= {key: float(_at(kmf.survival_function_, t).iloc[0]), f"{key}_ci_low": at.iloc[0]}
            row[f"{key}_ci_high"] = at.iloc[1]
        summary.append({**row, "note": ""})
    steps_table, summary_table = pd.concat(steps, ignore_index=True), pd.DataFrame(summary)
    counts = {"at_risk": "Int64", "events": "Int64"}
    return steps_table.astype(counts), summary_table.astype({"n": "Int64", "events": "Int64"})
