"""Staying in intervisie: Kaplan-Meier curves, a Cox model with group-clustered robust SEs, the PH check.

* :func:`dropout_times` -- months from the start of intervisie to leaving it (``end_date``), or
  to the end of follow-up (right-censored);
* :func:`kaplan_meier` -- product-limit curves per stratum with log(-log) confidence intervals,
  and a summary per stratum (median, survival at fixed times); strata with too few people are
  suppressed;
* :class:`DropoutCox` -- the Cox proportional hazards model (Efron ties) with robust standard
  errors clustered on the reflection group, the Grambsch-Therneau test of proportional hazards,
  and, where a covariate fails that test, a second model that repairs it: a factor is moved into
  the strata; for a continuous covariate, hazard ratios are estimated separately before and
  after a cut point.

lifelines does the fitting; the results agree with R's ``survival`` package (``survfit``,
``coxph(..., cluster = group)``; see ``tests/test_survival.py`` for the R calls and tolerances).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import proportional_hazard_test
from lifelines.utils import median_survival_times
from scipy import stats

from pipeline.errors import InputError

#: days in a month (a Julian year of 365.25 days over 12 months)
MONTH_DAYS = 365.25 / 12
#: no hazard ratio is published that rests on fewer events
MIN_EVENTS = 5
#: the columns of :attr:`DropoutCox.summary` (``cox.csv``)
COX_COLUMNS = ["model", "term", "hr", "ci_low", "ci_high", "se_robust", "z", "p_val", "n", "events", "primary", "note"]
#: the columns of :attr:`DropoutCox.ph_test_` (``ph_test.csv``)
PH_COLUMNS = ["model", "term", "statistic", "df", "p_val", "violated", "action"]
#: the columns of :func:`kaplan_meier`'s steps (``km.csv`` adds ``curve`` first)
KM_COLUMNS = ["stratum", "time_months", "survival", "ci_low", "ci_high", "at_risk", "events", "note"]
#: Newton-Raphson stops when the step is below 1e-10 or the log-likelihood changes by less than
#: 1e-12 relative (lifelines' defaults 1e-7 and 1e-9 can stop 1e-5 relative short of R's optimum)
FIT_OPTIONS = {"precision": 1e-10, "r_precision": 1e-12}


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


@dataclass(frozen=True)
class Term:
    """One covariate of the Cox model: its design columns, and whether it is a factor.

    A factor (``kind="factor"``) has one indicator column per non-reference level and the
    original column ``source``, by which the model is stratified when it breaks proportional hazards.
    """

    name: str
    columns: tuple[str, ...]
    kind: str = "continuous"
    source: str = ""


def periods(data: pd.DataFrame, *, duration: str, event: str, cut: float) -> list[tuple[str, pd.DataFrame]]:
    """Split follow-up at ``cut``: ``(0, cut]`` for everyone, and time since ``cut`` for those still in.

    Returns ``[("months_0_<cut>", early), ("months_<cut>_plus", late)]``; in ``early`` a
    follow-up longer than ``cut`` is censored at ``cut``, in ``late`` time runs from ``cut``.
    Because the two periods share no event time, a Cox model on each is the same as one
    model with every coefficient interacting with the period on episode-split data (R:
    ``survSplit(Surv(months, left) ~ ., cut = cut, episode = "period")`` and
    ``coxph(Surv(tstart, months, left) ~ (x + ...):strata(period), cluster = group)``;
    Therneau, Crowson & Atkinson, *Using time dependent covariates*, sec. 4).
    """
    early = data.assign(
        **{duration: np.minimum(data[duration], cut), event: np.where(data[duration] <= cut, data[event], 0)}
    )
    late = data[data[duration] > cut]
    late = late.assign(**{duration: late[duration] - cut})
    return [(f"months_0_{cut:g}", early), (f"months_{cut:g}_plus", late)]


class DropoutCox:
    """Cox model of leaving intervisie, clustered robust SEs, PH test and a PH-repaired refit.

    The hazard of leaving is ``h(t | x) = h0(t) exp(x' beta)``, fitted by partial likelihood
    with Efron's handling of ties (Cox 1972; Efron 1977).  Standard errors are the robust
    sandwich ``D' D`` of the dfbeta residuals summed within reflection groups (Lin & Wei 1989),
    as R's ``coxph(..., cluster = group)``.  Proportional hazards are checked per coefficient
    with the Grambsch-Therneau (1994) test on scaled Schoenfeld residuals ``r*_k`` against the
    rank ``g_k`` of the event times (average ranks for ties):
    ``T_j = (sum_k (g_k - gbar) r*_kj)^2 / (d V_jj sum_k (g_k - gbar)^2)`` ~ chi2(1), with
    ``V`` the model-based (not robust) covariance and ``d`` the number of events; the global
    test is ``s' V^-1 s / (d sum (g_k - gbar)^2)`` ~ chi2(p) with ``s_j = sum_k (g_k - gbar) r*_kj``.
    This is the test of R's ``cox.zph`` before survival 3.0 (2019), which lifelines implements;
    survival >= 3.0 replaced it by an exact score test, so its numbers differ.

    When a coefficient's PH p-value is below ``ph_alpha``, the model is refitted as
    ``ph_adjusted``, which is then the primary model: a factor that breaks PH goes into the
    strata (its hazard ratio is then not estimated); if a continuous covariate breaks PH,
    every hazard ratio is estimated separately for ``(0, split_months]`` and after it
    (:func:`periods`; terms ``<x>_months_0_12``, ``<x>_months_12_plus``, with the ``n`` at risk
    and ``events`` of each period).  Separate period models rather than one left-truncated
    model, because lifelines' robust variance is wrong with ``entry_col``.

    Parameters
    ----------
    terms : sequence of Term
    cluster : str
        Column of the cluster (the reflection group).
    ph_alpha : float
    split_months : float
    min_events : int
        A period of the split model with fewer events is not estimated: its rows have NaN
        estimates and a ``note`` (no hazard ratio is published that rests on so few events).
        The caller checks the main model's events (:func:`cox_estimable`).

    Attributes
    ----------
    main_ : lifelines.CoxPHFitter
        All terms, robust SEs.
    ph_test_ : pandas.DataFrame
        ``model``, ``term``, ``statistic``, ``df``, ``p_val``, ``violated``, ``action``.
    adjusted_ : list of lifelines.CoxPHFitter
        The refit(s) when a term broke proportional hazards (one per period when split).
    summary : pandas.DataFrame
        ``model``, ``term``, ``hr``, ``ci_low``, ``ci_high``, ``se_robust``, ``z``, ``p_val``,
        ``n``, ``events``, ``primary``, ``note`` (:data:`COX_COLUMNS`).
    """

    def __init__(
        self,
        terms: Sequence[Term],
        *,
        cluster: str,
        ph_alpha: float = 0.05,
        split_months: float = 12.0,
        min_events: int = MIN_EVENTS,
    ):
        self.terms = list(terms)
        self.cluster = cluster
        self.ph_alpha = ph_alpha
        self.split_months = split_months
        self.min_events = min_events

    def fit(self, data: pd.DataFrame, *, duration: str, event: str) -> DropoutCox:
        """Fit the main model, test PH, and refit with the repairs where needed; return ``self``."""
        columns = [c for t in self.terms for c in t.columns]
        missing = [c for c in [duration, event, self.cluster, *columns] if c not in data.columns]
        if missing:
            raise InputError(f"the dropout data lack column(s) {missing}")
        data = data.dropna(subset=[*columns, duration, event]).sort_values(
            [duration, self.cluster], kind="stable"
        ).reset_index(drop=True)
        self.n_, self.events_ = len(data), int(data[event].sum())
        frame = data[[duration, event, self.cluster, *columns]]
        self.main_ = CoxPHFitter().fit(frame, duration, event, cluster_col=self.cluster, fit_options=FIT_OPTIONS)
        naive = CoxPHFitter().fit(frame.drop(columns=self.cluster), duration, event, fit_options=FIT_OPTIONS)
        self.ph_test_ = self._ph_test(naive, frame.drop(columns=self.cluster))
        bad = set(self.ph_test_.loc[self.ph_test_["violated"], "term"])
        stratify = [t for t in self.terms if t.kind == "factor" and bad & set(t.columns)]
        split = any(c in bad for t in self.terms if t.kind != "factor" for c in t.columns)
        tables = [self._table(self.main_, "main", primary=not (stratify or split))]
        self.adjusted_ = []
        if stratify or split:
            keep = [c for t in self.terms if t not in stratify for c in t.columns]
            strata = [t.source for t in stratify] or None
            adjusted = data[[duration, event, self.cluster, *keep, *(t.source for t in stratify)]]
            parts = [("", adjusted)]
            if split:
                parts = periods(adjusted, duration=duration, event=event, cut=self.split_months)
            for suffix, part in parts:
                if part[event].sum() < self.min_events:
                    tables.append(self._not_estimated(keep, suffix, n=len(part), events=int(part[event].sum())))
                    continue
                fitter = CoxPHFitter().fit(
                    part, duration, event, cluster_col=self.cluster, strata=strata, fit_options=FIT_OPTIONS
                )
                self.adjusted_.append(fitter)
                table = self._table(fitter, "ph_adjusted", primary=True, n=len(part), events=int(part[event].sum()))
                if suffix:
                    table["term"] = table["term"] + "_" + suffix
                tables.append(table)
        self.summary = pd.concat(tables, ignore_index=True).reindex(columns=COX_COLUMNS)
        self.summary["primary"] = self.summary["primary"].astype(bool)
        return self

    def _not_estimated(self, columns: Sequence[str], suffix: str, *, n: int, events: int) -> pd.DataFrame:
        note = f"not estimated: fewer than {self.min_events} events in this period"
        return pd.DataFrame(
            {"model": "ph_adjusted", "term": [f"{c}_{suffix}" if suffix else c for c in columns], "n": n,
             "events": events if events >= self.min_events else np.nan, "primary": True, "note": note}
        ).reindex(columns=COX_COLUMNS)

    def _table(
        self, fitter: CoxPHFitter, model: str, *, primary: bool, n: int | None = None, events: int | None = None
    ) -> pd.DataFrame:
        s = fitter.summary
        return pd.DataFrame(
            {
                "model": model,
                "term": s.index.astype(str),
                "hr": s["exp(coef)"].to_numpy(),
                "ci_low": s["exp(coef) lower 95%"].to_numpy(),
                "ci_high": s["exp(coef) upper 95%"].to_numpy(),
                "se_robust": s["se(coef)"].to_numpy(),
                "z": s["z"].to_numpy(),
                "p_val": s["p"].to_numpy(),
                "n": self.n_ if n is None else n,
                "events": self.events_ if events is None else events,
                "primary": primary,
                "note": "",
            }
        )

    def _ph_test(self, naive: CoxPHFitter, frame: pd.DataFrame) -> pd.DataFrame:
        scaled = naive.compute_residuals(frame, kind="scaled_schoenfeld")
        result = proportional_hazard_test(naive, frame, time_transform=event_time_ranks, precomputed_residuals=scaled)
        tests = result.summary.reindex(naive.params_.index)
        g = event_time_ranks(naive.durations, naive.event_observed, None)[naive.event_observed.to_numpy(bool)]
        g = g.to_numpy() - g.mean()
        s = g @ scaled.to_numpy()
        d = naive.event_observed.sum()
        global_t = float(s @ np.linalg.solve(naive.variance_matrix_.to_numpy(), s) / (d * (g @ g)))
        out = pd.DataFrame(
            {
                "model": "main",
                "term": [*tests.index.astype(str), "GLOBAL"],
                "statistic": [*tests["test_statistic"].to_numpy(), global_t],
                "df": [*([1] * len(tests)), len(tests)],
                "p_val": [*tests["p"].to_numpy(), float(stats.chi2.sf(global_t, len(tests)))],
            }
        )
        out["violated"] = (out["p_val"] < self.ph_alpha) & (out["term"] != "GLOBAL")
        out["action"] = [self._action(term, bad) for term, bad in zip(out["term"], out["violated"], strict=True)]
        return out

    def _action(self, column: str, violated: bool) -> str:
        if column == "GLOBAL":
            return "none: the per-covariate tests decide"
        if not violated:
            return "none"
        term = next(t for t in self.terms if column in t.columns)
        if term.kind == "factor":
            return f"stratified by {term.source} in model ph_adjusted (primary)"
        cut = f"{self.split_months:g}"
        return f"all hazard ratios estimated before and after {cut} months in model ph_adjusted (primary)"


def event_time_ranks(durations: pd.Series, events: pd.Series, _weights: object) -> pd.Series:
    """Ranks of the event times among the event times, ties averaged (R's ``rank``); NaN if censored.

    The time transform of the Grambsch-Therneau test (lifelines' ``"rank"`` numbers tied
    events consecutively instead, which makes the statistic depend on the order of ties).
    """
    t = np.asarray(durations, dtype=float)
    observed = np.asarray(events).astype(bool)
    ranks = np.full(len(t), np.nan)
    ranks[observed] = stats.rankdata(t[observed])
    return pd.Series(ranks)
