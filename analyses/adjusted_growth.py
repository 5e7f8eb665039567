r"""Adjusted long-term effects for non-randomised designs: the weighted growth model with covariates x time.

When people chose (or were sent to) intervisie, the growth model's arm x time terms compare
groups that may differ at baseline. The adjusted model of one outcome is the design's growth
model (:mod:`analyses.growth`) with

1. **balancing weights**: each participant with a baseline score gets a propensity weight
   (:mod:`analyses.propensity`; overlap weights by default) from a logistic model of
   ``arm == "intervisie"`` on the baseline score of the outcome, the programme (when there are
   several and at least one has people in both arms) and the study's baseline covariates; the
   weight is repeated on each of the participant's rows and enters as lme4's prior weight;
2. **baseline covariates x time**: each column :math:`x_k` of the covariates' adjustment matrix
   (:func:`analyses.propensity.adjustment_matrix`: dummies for categories, the missing-indicator
   method for missing values), centred at its mean over the participants, enters as a main effect
   and interacting with the time terms,

.. math::

    y_{tij} = \text{design's fixed part} + \sum_k (\gamma_k + \delta_k\,\text{short} + \eta_k\,\text{long})\,x_{ik}
              + \text{random effects} + e_{tij}, \qquad
    \operatorname{Var}(e_{tij}) = \sigma^2 / w_i

fitted by REML with ``lmer(..., weights = w)``'s meaning (:class:`analyses.mixed.MixedModel`), the
random part pruned of zero variance components exactly as the unadjusted model. The coefficient
of ``long:armintervisie`` is then the difference in the yearly slope after the short-term wave in
the weighted (for ``ato``: overlap) population, conditional on the covariates' trajectories -- a
doubly robust combination in the sense that either a correct propensity model or correct
covariate x time terms remove the confounding by measured baseline characteristics. Standard
errors are the model's (Satterthwaite df), which treat the weights as known.

References
----------
Li F, Morgan KL, Zaslavsky AM (2018). Balancing covariates via propensity score weighting.
J Am Stat Assoc 113(521):390-400.
Austin PC, Stuart EA (2015). Moving towards best practice when using inverse probability of
treatment weighting (IPTW) using the propensity score to estimate causal treatment effects in
observational studies. Stat Med 34(28):3661-3679.
Kang JDY, Schafer JL (2007). Demystifying double robustness. Stat Sci 22(4):523-539.
VanderWeele TJ, Ding P (2017). Sensitivity analysis in observational research: introducing the
E-value. Ann Intern Med 167(4):268-274.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from analyses.adjusted import programme_covariate
from analyses.evalue import evalue_smd
from analyses.growth import EFFECT_COLUMNS, MIN_PARTICIPANTS, SKIPPED_COLUMNS, growth_data, not_estimable
from analyses.mixed import NoAcceptableFitError
from analyses.mixed.formula import parse_formula
from analyses.parallel import map_ordered
from analyses.propensity import (
    Covariate,
    adjustment_matrix,
    balance_table,
    balancing_weights,
    effective_sample_size,
    propensity_scores,
)
from analyses.random_pruning import fit_pruned

__all__ = [
    "ADJUSTED_COLUMNS",
    "ParticipantWeights",
    "adjusted_growth_effects",
    "adjusted_growth_results",
    "adjusted_model_frame",
    "participant_weights",
]

TREATED = "intervisie"
#: the columns of the adjusted effects table (growth's effect columns first)
ADJUSTED_COLUMNS = [
    *EFFECT_COLUMNS,
    "n_obs",
    "structure",
    "singular",
    "sd_baseline",
    "std_estimate",
    "std_ci95_low",
    "std_ci95_high",
    "adjusted",
    "weights",
    "covariates",
    "ess_intervisie",
    "ess_comparison",
    "max_abs_smd",
    "balance_ok",
    "evalue",
    "evalue_ci",
    "note",
]


@dataclass
class ParticipantWeights:
    """The balancing weights of one outcome's participants (those with a baseline score).

    Attributes
    ----------
    weights : Series
        One weight per participant (index: participant); NaN when no propensity model could be fitted.
    estimand : str
    ess_intervisie, ess_comparison : float
        Kish's effective sample size per arm.
    balance : DataFrame
        :func:`analyses.propensity.balance_table` of the adjustment set.
    converged : bool
    note : str
        Everything the reader must know (separation, clipping, programme left out, ...).
    """

    weights: pd.Series
    estimand: str
    ess_intervisie: float = math.nan
    ess_comparison: float = math.nan
    balance: pd.DataFrame = field(default_factory=pd.DataFrame)
    converged: bool = False
    note: str = ""

    @property
    def max_abs_smd(self) -> float:
        """The largest weighted absolute standardised mean difference (NaN without a balance table)."""
        smd = self.balance.get("smd_weighted", pd.Series(dtype=float)).abs()
        return float(smd.max()) if smd.notna().any() else math.nan


def participant_weights(
    data: pd.DataFrame, covariates: Sequence[Covariate], *, baseline: str, estimand: str = "ato"
) -> ParticipantWeights:
    """Propensity weights for one outcome from its baseline scores.

    Parameters
    ----------
    data : DataFrame
        The outcome's rows as :func:`analyses.growth.growth_data` returns them (``participant``,
        ``arm``, ``programme``, ``wave``, ``y``) with one column per covariate (constant within
        a participant).
    covariates : sequence of Covariate
        The study's baseline covariates.
    baseline : str
        The baseline wave: participants with a score there are weighted.
    estimand : {"ato", "att", "ate"}
        :func:`analyses.propensity.balancing_weights`.

    Returns
    -------
    ParticipantWeights
        The adjustment set is the baseline score (``baseline score``), the programme (see the
        module) and the covariates; treated means ``arm == "intervisie"``.
    """
    base = data[data["wave"] == baseline].drop_duplicates("participant").reset_index(drop=True)
    base = base.assign(**{"baseline score": base["y"].astype(float)})
    treated = (base["arm"].astype(str) == TREATED).to_numpy(dtype=float)
    empty = pd.Series(np.nan, index=pd.Index(base["participant"].astype(str), name="participant"), dtype=float)
    n_t, n_c = int(treated.sum()), int(len(treated) - treated.sum())
    if n_t < 2 or n_c < 2:
        note = f"too few people with a baseline score for a propensity model ({n_t} intervisie, {n_c} comparison)"
        return ParticipantWeights(empty, estimand, note=note)
    notes: list[str] = []
    adjust = [Covariate("baseline score", "numeric"), *programme_covariate(base, treated, notes), *covariates]
    X = adjustment_matrix(base, adjust)
    if X.attrs.get("dropped"):
        notes.append("left out of the propensity model (constant or collinear): " + ", ".join(X.attrs["dropped"]))
    fit = propensity_scores(X, treated)
    if fit.note:
        notes.append(fit.note)
    w = balancing_weights(treated, fit.scores, estimand)  # type: ignore[arg-type]
    if not np.all(np.isfinite(w)):
        notes.append("no finite propensity weights")
        return ParticipantWeights(empty, estimand, converged=fit.converged, note="; ".join(notes))
    return ParticipantWeights(
        weights=pd.Series(w, index=empty.index, dtype=float),
        estimand=estimand,
        ess_intervisie=effective_sample_size(w[treated == 1]),
        ess_comparison=effective_sample_size(w[treated == 0]),
        balance=balance_table(X, treated, w),
        converged=fit.converged,
        note="; ".join(notes),
    )


def _safe_names(columns: Sequence[str]) -> list[str]:
    """Formula-safe, unique names ``cov_<name>`` for adjustment-matrix columns."""
    out: list[str] = []
    for col in columns:
        name = "cov_" + (re.sub(r"[^A-Za-z0-9]+", "_", str(col)).strip("_") or "x")
        base, k = name, 2
        while name in out:
            name, k = f"{base}_{k}", k + 1
        out.append(name)
    return out


def adjusted_model_frame(
    data: pd.DataFrame, covariates: Sequence[Covariate], weights: pd.Series, *, fixed: str
) -> tuple[pd.DataFrame, str, list[str]]:
    """The rows, fixed part and notes of the adjusted growth model of one outcome.

    Rows of participants without a weight (no baseline score, or no propensity model) are left
    out and counted in the notes. Each covariate column (``cov_<name>``, centred at its mean over
    the participants) enters the fixed part as ``cov * (short [+ long])``; the weights are the
    column ``w``.

    Returns
    -------
    frame : DataFrame
        ``data``'s rows with a weight, plus ``w`` and the ``cov_*`` columns.
    fixed : str
        ``fixed`` with the covariate terms added.
    notes : list of str
    """
    notes: list[str] = []
    w = data["participant"].astype(str).map(weights.rename(index=str))
    unweighted = w.isna() | ~np.isfinite(w.astype(float))
    if unweighted.any():
        lost = data.loc[unweighted, "participant"].nunique()
        notes.append(f"{lost} participant(s) ({int(unweighted.sum())} scores) without a weight left out (no baseline score)")
    frame = data.loc[~unweighted].assign(w=w[~unweighted].astype(float)).reset_index(drop=True)
    time = [t for t in ("short", "long") if t in parse_formula(f"{fixed} + (1 | participant)").fixed_variables]
    if not covariates or frame.empty:
        return frame, fixed, notes
    people = frame.drop_duplicates("participant").set_index("participant")
    X = adjustment_matrix(people, covariates)
    if X.attrs.get("dropped"):
        notes.append("covariate column(s) left out of the model (constant or collinear): " + ", ".join(X.attrs["dropped"]))
    if X.shape[1] == 0:
        return frame, fixed, notes
    X = X - X.mean()
    names = _safe_names(list(X.columns))
    X.columns = names
    frame = frame.join(X, on="participant")
    extra = " + ".join(f"{c} * ({' + '.join(time)})" if time else c for c in names)
    return frame, f"{fixed} + {extra}", notes


def _nan_rows(outcome: str, terms: list[str], note: str, n: int, n_obs: int, **extra: object) -> pd.DataFrame:
    rows = [{"outcome": outcome, "term": t, "n": n, "n_obs": n_obs, "adjusted": True, "note": note, **extra} for t in terms]
    return pd.DataFrame(rows).reindex(columns=ADJUSTED_COLUMNS)


def adjusted_growth_effects(
    data: pd.DataFrame,
    covariates: Sequence[Covariate],
    weights: pd.Series | ParticipantWeights,
    *,
    fixed: str,
    random: Sequence[str],
    terms: list[str],
    baseline: str,
    outcome: str = "",
    estimand: str = "ato",
    min_participants: int = MIN_PARTICIPANTS,
) -> pd.DataFrame:
    """Adjusted effect terms of one outcome: the weighted growth model with covariates x time.

    Parameters
    ----------
    data : DataFrame
        The outcome's rows (:func:`analyses.growth.growth_data`) with a column per covariate.
    covariates : sequence of Covariate
        Baseline covariates entering as ``cov * (short + long)`` (see the module).
    weights : Series or ParticipantWeights
        One weight per participant (index: participant), repeated on the participant's rows.
    fixed, random, terms, baseline, min_participants
        As :func:`analyses.growth.growth_results`: the design's fixed part, the random parts
        (maximal first), the effect terms to report, the baseline wave.
    outcome : str
        Written in the ``outcome`` column.
    estimand : str
        Written in the ``weights`` column (taken from ``weights`` when it is a ParticipantWeights).

    Returns
    -------
    DataFrame
        :data:`ADJUSTED_COLUMNS`, one row per effect term: the estimates of the weighted model
        (``std_*`` divided by the SD of the outcome's baseline scores, as the unadjusted model),
        ``adjusted`` True, ``weights`` the estimand, ``covariates`` the adjustment set, the
        effective sample sizes and balance of the weights, the E-value of the standardised
        estimate and of its CI limit closest to the null (:func:`analyses.evalue.evalue_smd`).
        A term that cannot be estimated is a row of NaN with the reason in ``note``.
    """
    info = weights if isinstance(weights, ParticipantWeights) else None
    w = info.weights if info is not None else weights
    estimand = info.estimand if info is not None else estimand
    extra: dict[str, object] = {
        "weights": estimand,
        "covariates": ", ".join(c.name for c in covariates),
        "ess_intervisie": info.ess_intervisie if info else math.nan,
        "ess_comparison": info.ess_comparison if info else math.nan,
        "max_abs_smd": info.max_abs_smd if info else math.nan,
        "balance_ok": bool(info.max_abs_smd <= 0.1) if info and np.isfinite(info.max_abs_smd) else False,
    }
    notes = [info.note] if info is not None and info.note else []
    frame, model_fixed, frame_notes = adjusted_model_frame(data, covariates, w, fixed=fixed)
    notes += frame_notes
    n, n_obs = int(frame["participant"].nunique()), len(frame)
    reason = not_estimable(frame, fixed, min_participants=min_participants) if len(frame) else "no participant has a weight"
    if reason is None:
        try:
            model, _log = fit_pruned(model_fixed, random, frame, weights="w")
        except NoAcceptableFitError as exc:
            reason = f"no acceptable fit: {exc}"
    if reason is not None:
        return _nan_rows(outcome, terms, "; ".join([reason, *notes]), n, n_obs, **extra)
    base = frame.loc[frame["wave"] == baseline, "y"]
    sd_base = float(base.std(ddof=1)) if len(base) > 1 else math.nan
    rank = [m for m in model.messages_ if "rank deficient" in m]
    table = model.fixed_[model.fixed_["term"].isin(terms)].set_index("term").reindex(terms).reset_index()
    table = table.assign(outcome=outcome, structure=model.formula, singular=model.singular_, n=n, n_obs=n_obs,
                         sd_baseline=sd_base, adjusted=True, **extra)  # fmt: skip
    for column in ("estimate", "ci95_low", "ci95_high"):
        table[f"std_{column}"] = table[column] / sd_base if sd_base > 0 else np.nan
    evalues = [
        evalue_smd(d, se / sd_base) if np.isfinite(d) and sd_base > 0 else (math.nan, math.nan)
        for d, se in zip(table["std_estimate"], table["std_error"], strict=True)
    ]
    table["evalue"] = [e[0] for e in evalues]
    table["evalue_ci"] = [e[1] for e in evalues]
    lost = table["estimate"].isna()
    table["note"] = "; ".join([*rank, *notes])
    if lost.any():
        table.loc[lost, "note"] = "; ".join(["not estimable from these data", *rank, *notes])
    return table.reindex(columns=ADJUSTED_COLUMNS)


def adjusted_growth_results(
    scores: pd.DataFrame,
    covariate_table: pd.DataFrame,
    covariates: Sequence[Covariate],
    *,
    scales: list[str],
    fixed: str,
    random: Sequence[str],
    terms: list[str],
    baseline: str,
    programmes: list[str] | None = None,
    estimand: str = "ato",
    min_participants: int = MIN_PARTICIPANTS,
    workers: int = 1,
) -> dict[str, pd.DataFrame]:
    """The adjusted effect terms of every outcome (``effects``) and what could not be fitted (``skipped``).

    ``scores`` is the long wave-score table (:func:`analyses.data.wave_scores`),
    ``covariate_table`` one row per participant (``participant`` plus a column per covariate;
    a participant without a row has every covariate missing). The other arguments are those of
    :func:`analyses.growth.growth_results` and :func:`adjusted_growth_effects`; ``workers`` fits
    the scales in that many processes (:func:`analyses.parallel.map_ordered`; identical results).
    """
    names = [c.name for c in covariates]
    missing = [c for c in names if c not in covariate_table.columns]
    if missing:
        raise ValueError(f"the covariates table lacks column(s) {missing}")
    table = covariate_table[["participant", *names]].astype({"participant": str}).drop_duplicates("participant")
    task = partial(_scale_adjusted, scores=scores, table=table, covariates=list(covariates), fixed=fixed,
                   random=random, terms=terms, baseline=baseline, programmes=programmes, estimand=estimand,
                   min_participants=min_participants)  # fmt: skip
    parts = map_ordered(task, scales, workers=workers)
    skipped = []
    for scale, rows in zip(scales, parts, strict=True):
        failed = rows[rows["estimate"].isna()]
        skipped.extend({"analysis": f"adjusted effect {r.term}", "outcome": scale, "reason": r.note} for r in failed.itertuples())
    effects = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ADJUSTED_COLUMNS)
    effects["note"] = effects["note"].fillna("")
    return {"effects": effects.reindex(columns=ADJUSTED_COLUMNS), "skipped": pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)}


def _scale_adjusted(
    scale: str,
    *,
    scores: pd.DataFrame,
    table: pd.DataFrame,
    covariates: list[Covariate],
    fixed: str,
    random: Sequence[str],
    terms: list[str],
    baseline: str,
    programmes: list[str] | None,
    estimand: str,
    min_participants: int,
) -> pd.DataFrame:
    """The adjusted effect rows of one scale (see :func:`adjusted_growth_results`)."""
    data = growth_data(scores, scale, programmes).merge(table, on="participant", how="left", validate="many_to_one")
    try:
        weights = participant_weights(data, covariates, baseline=baseline, estimand=estimand)
        return adjusted_growth_effects(data, covariates, weights, fixed=fixed, random=random, terms=terms,
                                       baseline=baseline, outcome=scale, min_participants=min_participants)  # fmt: skip
    except Exception as exc:  # an outcome that cannot be fitted is a NaN row with the reason, never a crash
        note = f"adjusted model failed: {type(exc).__name__}: {exc}"
        return _nan_rows(scale, terms, note, int(data["participant"].nunique()), len(data), weights=estimand)
