"""The Cox model of leaving intervisie: clustered robust SEs, the PH test and a PH-repaired refit.

:class:`DropoutCox` (used by :mod:`analyses.survival` and the survival stage): lifelines fits
the partial likelihood (Efron ties); :mod:`analyses.cox_robust` gives the clustered SEs as R's
``coxph(..., cluster = group)`` with Efron's tie weights, and the few-cluster intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test
from scipy import stats

from analyses.cox_robust import newton_polish, robust_inference
from pipeline.errors import InputError

#: no hazard ratio is published that rests on fewer events
MIN_EVENTS = 5
#: the columns of :attr:`DropoutCox.summary` (``cox.csv``)
COX_COLUMNS = [
    "model", "term", "hr", "ci_low", "ci_high", "se_robust", "z", "p_val", "n", "events", "primary", "note",
    "se_model", "se_cr3", "t_val", "df", "clusters", "reference",
]  # fmt: skip
#: the columns of :attr:`DropoutCox.ph_test_` (``ph_test.csv``)
PH_COLUMNS = ["model", "term", "statistic", "df", "p_val", "violated", "action"]
#: Newton-Raphson stops when the step is below 1e-10 or the log-likelihood changes by less than
#: 1e-12 relative (lifelines' defaults 1e-7 and 1e-9 can stop 1e-5 relative short of R's optimum)
FIT_OPTIONS = {"precision": 1e-10, "r_precision": 1e-12}


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
    #: the reference level of a factor (no indicator column), named in the results
    reference: str = ""


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
    as R's ``coxph(..., cluster = group)`` including Efron's weights for tied deaths
    (``se_robust``, ``z``; :mod:`analyses.cox_robust`); intervals and p-values use the few-cluster
    bias-reduced (jackknife-type) sandwich with t on ``G - 1`` df (``se_cr3``, ``t_val``, ``df``,
    ``clusters``; Cameron & Miller 2015, Mancl & DeRouen 2001).  Proportional hazards are checked per coefficient
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
        All terms (model-based variance; the clustered SEs are in ``summary``).
    ph_test_ : pandas.DataFrame
        ``model``, ``term``, ``statistic``, ``df``, ``p_val``, ``violated``, ``action``.
    adjusted_ : list of lifelines.CoxPHFitter
        The refit(s) when a term broke proportional hazards (one per period when split).
    summary : pandas.DataFrame
        ``model``, ``term``, ``hr``, ``ci_low``, ``ci_high`` (CR3, t on ``df``), ``se_robust``
        and ``z`` (R's), ``p_val`` (CR3, t), ``n``, ``events``, ``primary``, ``note``, ``se_model``,
        ``se_cr3``, ``t_val``, ``df``, ``clusters``, ``reference`` (``factor=level`` of an
        indicator) (:data:`COX_COLUMNS`).
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
        self.main_ = CoxPHFitter().fit(frame.drop(columns=self.cluster), duration, event, fit_options=FIT_OPTIONS)
        self.ph_test_ = self._ph_test(self.main_, frame.drop(columns=self.cluster))
        bad = set(self.ph_test_.loc[self.ph_test_["violated"], "term"])
        stratify = [t for t in self.terms if t.kind == "factor" and bad & set(t.columns)]
        split = any(c in bad for t in self.terms if t.kind != "factor" for c in t.columns)
        tables = [self._table(self.main_, frame, "main", primary=not (stratify or split))]
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
                    part.drop(columns=self.cluster), duration, event, strata=strata, fit_options=FIT_OPTIONS
                )
                self.adjusted_.append(fitter)
                table = self._table(
                    fitter, part, "ph_adjusted", primary=True, n=len(part), events=int(part[event].sum()), strata=strata
                )
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
        self, fitter: CoxPHFitter, data: pd.DataFrame, model: str, *, primary: bool, n: int | None = None,
        events: int | None = None, strata: list[str] | None = None,
    ) -> pd.DataFrame:
        """The coefficients of one fit with clustered SEs (:func:`analyses.cox_robust.robust_inference`)."""
        names = [str(c) for c in fitter.params_.index]
        beta = fitter.params_.to_numpy(dtype=float)
        stratum = data[strata].astype(str).agg("|".join, axis=1).to_numpy() if strata else None
        time, status, x = (data[fitter.duration_col].to_numpy(float), data[fitter.event_col].to_numpy(float),
                           data[names].to_numpy(float))  # fmt: skip
        v_model = fitter.variance_matrix_.loc[names, names].to_numpy()
        beta = newton_polish(time, status, x, beta, v_model, stratum)
        inf = robust_inference(time, status, x, beta, v_model, data[self.cluster].astype(str).to_numpy(), stratum)
        return pd.DataFrame(
            {
                "model": model,
                "term": names,
                "hr": np.exp(beta),
                "ci_low": np.exp(inf["ci_low"].to_numpy()),
                "ci_high": np.exp(inf["ci_high"].to_numpy()),
                "se_robust": inf["se_robust"].to_numpy(),
                "z": inf["z"].to_numpy(),
                "p_val": inf["p_val"].to_numpy(),
                "n": self.n_ if n is None else n,
                "events": self.events_ if events is None else events,
                "primary": primary,
                "note": "",
                "se_model": inf["se_model"].to_numpy(),
                "se_cr3": inf["se_cr3"].to_numpy(),
                "t_val": inf["t_val"].to_numpy(),
                "df": inf["df"].to_numpy(),
                "clusters": inf["clusters"].to_numpy(),
                "reference": [self._reference(c) for c in names],
            }
        )

    def _reference(self, column: str) -> str:
        """``<factor>=<level>`` for an indicator of a factor, else empty."""
        term = next((t for t in self.terms if column in t.columns), None)
        return f"{term.source}={term.reference}" if term is not None and term.kind == "factor" and term.reference else ""

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
