"""Long-term effects: piecewise growth models per outcome, for whatever design the study has.

With a comparison cohort the model of each outcome scale is

.. math::

    y_{tij} = \\beta_0 + [\\text{programme} \\times (\\text{short} + \\text{long})]
              + \\text{arm} \\times (\\text{short} + \\text{long}) + \\text{random effects} + e_{tij}

with ``short`` the share of the time to the short-term wave elapsed and ``long`` the years
after it (:func:`analyses.data.piecewise_time`).  The coefficient of ``short:armintervisie`` is
the short-term effect (difference in change from baseline to the short-term wave) and that of
``long:armintervisie`` the difference in the yearly slope afterwards.  Without a comparison
cohort the model is ``y ~ [programme +] short [+ long]``: the coefficients of ``short`` and
``long`` are the change *within intervisie* (no difference between arms can be estimated).
``long`` is part of the model only when a wave follows the short-term wave, ``programme`` only
with several programmes; the fixed part, the effect terms and the moderation terms come from
the study's design (:meth:`pipeline.design.Design.growth_fixed`).

The random part starts from the maximal structure (the first of ``analyses.growth.random`` in
``params.yaml``) and, when the fit is singular, sheds the variance component estimated at zero
and refits, one component at a time (:func:`analyses.random_pruning.fit_pruned`); the path
(``structures``: each structure tried, why it was rejected, what was removed) is written beside
the estimates, and the structure used is each effect row's ``structure``.  Programme
moderation is tested with a likelihood-ratio test of the design's moderation terms (none with
one programme).  Comparison participants belong to no intervisie group: each is its own group
of one.  An outcome the data cannot support (too few participants, one wave, one arm, no
variation, no acceptable fit) is not a crash: it is listed in the ``skipped`` table with the
reason, and its effect terms are rows with NaN and that reason as ``note``.

Reference: Singer JD, Willett JB (2003). Applied Longitudinal Data Analysis, ch. 6. Oxford UP.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from analyses.data import piecewise_time
from analyses.mixed import MixedModel, NoAcceptableFitError, likelihood_ratio_test
from analyses.mixed.formula import parse_formula
from analyses.parallel import map_ordered
from analyses.random_pruning import LOG_COLUMNS, fit_pruned

ARM_LEVELS = ["comparison", "intervisie"]
#: fewer participants with a score than this and an outcome's growth model is not fitted
MIN_PARTICIPANTS = 10
EFFECT_COLUMNS = ["outcome", "term", "estimate", "std_error", "df", "p_val", "ci95_low", "ci95_high", "n"]
MEANS_COLUMNS = ["outcome", "wave", "months", "arm", "estimate", "std_error", "df", "ci95_low", "ci95_high"]
MODERATION_COLUMNS = [
    "outcome",
    "terms",
    "npar_restricted",
    "npar_full",
    "loglik_restricted",
    "loglik_full",
    "chisq",
    "df",
    "p_val",
    "refitted_ml",
]
SKIPPED_COLUMNS = ["analysis", "outcome", "reason"]
#: the tables of :func:`growth_results` that each scale contributes rows to
_TABLES = ("effects", "wave_means", "structures", "moderation", "random_effects", "model_fit")


def growth_data(scores: pd.DataFrame, scale: str, programmes: list[str] | None = None) -> pd.DataFrame:
    """Return one scale's wave scores ready for the model (categorical arm and programme).

    ``programmes`` orders the programme levels (the first is the reference); default: sorted.
    """
    part = scores[scores["scale"] == scale].copy()
    solo = part["group"].isna()
    part["group"] = part["group"].astype(object)
    part.loc[solo, "group"] = "solo-" + part.loc[solo, "participant"].astype(str)
    part["arm"] = pd.Categorical(part["arm"].astype(str), categories=ARM_LEVELS)
    observed = sorted(set(part["programme"].astype(str)))
    levels = [p for p in programmes if p in observed] + [p for p in observed if p not in programmes] if programmes else observed
    part["programme"] = pd.Categorical(part["programme"].astype(str), categories=levels)
    part["participant"] = part["participant"].astype(str)
    return part.rename(columns={"score": "y"}).reset_index(drop=True)


def reference_levels(model: MixedModel, data: pd.DataFrame) -> dict[str, str]:
    """The reference levels of the model's factors: ``reference_programme``, ``reference_arm`` ("" when absent).

    Treatment contrasts: the coefficients of ``programme`` and ``arm`` compare with these levels
    (the first programme study.yaml lists, the comparison arm).
    """
    fixed = model.parsed.fixed_variables
    out = {}
    for factor in ("programme", "arm"):
        column = data[factor] if factor in data else None
        first = column.cat.categories[0] if column is not None and isinstance(column.dtype, pd.CategoricalDtype) else ""
        out[f"reference_{factor}"] = str(first) if factor in fixed else ""
    return out


def wave_means(model: MixedModel, waves: dict[str, float], knot: float, *, arm: str = "all") -> pd.DataFrame:
    """Estimated means at the waves (averaged over programmes with equal weights), per arm if the model has one.

    The reference grid holds only the model's predictors: ``arm`` when it is in the fixed part
    (else the means are the overall means per wave, labelled ``arm``), ``long`` only when it is.
    R: ``emmeans(m, ~ arm + short + long, at = list(short = ..., long = ...))``.
    """
    predictors = model.parsed.fixed_variables
    time = [t for t in ("short", "long") if t in predictors]
    months = np.array(list(waves.values()), dtype=float)
    short, long = piecewise_time(months, knot=knot)
    points = pd.DataFrame({"wave": list(waves), "months": months, "short": short, "long": long})
    at = {t: sorted(set(points[t])) for t in time}
    specs = (["arm"] if "arm" in predictors else []) + time
    grid = model.emmeans(specs, at=at)
    rows = []
    for point in points.itertuples():
        hit = grid[np.logical_and.reduce([np.isclose(grid[t], getattr(point, t)) for t in time])]
        rows.append(hit.assign(wave=point.wave, months=point.months))
    means = pd.concat(rows, ignore_index=True)
    if "arm" not in predictors:
        means["arm"] = arm
    means["arm"] = means["arm"].astype(str)
    return means[MEANS_COLUMNS[1:]]


def not_estimable(data: pd.DataFrame, fixed: str, *, min_participants: int = MIN_PARTICIPANTS) -> str | None:
    """Why ``data`` cannot support the growth model ``fixed``, or None when it can."""
    n = data["participant"].nunique()
    if n < min_participants:
        return f"only {n} participant(s) with a score: the growth model needs at least {min_participants}"
    if data["wave"].nunique() < 2:
        return "scores at one wave only: change cannot be estimated"
    if "arm" in parse_formula(f"{fixed} + (1 | participant)").fixed_variables and data["arm"].nunique() < 2:
        return f"scores of one arm only ({data['arm'].iloc[0]}): the difference between arms cannot be estimated"
    if not np.nanstd(data["y"].to_numpy(float)) > 0:
        return "the scores do not vary: there is nothing to model"
    return None


def _missing_terms(scale: str, terms: list[str], reason: str, n: int, n_obs: int) -> pd.DataFrame:
    """Effect-term rows of an outcome whose model could not be fitted: NaN with the reason."""
    return pd.DataFrame([{"outcome": scale, "term": t, "n": n, "n_obs": n_obs, "note": reason} for t in terms])


def growth_results(
    scores: pd.DataFrame,
    *,
    scales: list[str],
    fixed: str,
    random: list[str],
    moderation: str | None,
    waves: dict[str, float],
    baseline: str,
    knot: float = 3.0,
    effect_terms: list[str] | None = None,
    programmes: list[str] | None = None,
    min_participants: int = MIN_PARTICIPANTS,
    workers: int = 1,
) -> dict[str, pd.DataFrame]:
    """Fit the growth model of every scale: effects, wave means, fallback log, moderation tests, variances, fit.

    ``fixed`` is the fixed part with ``y`` as the response, ``random`` the random parts (the
    first is the maximal structure, pruned of zero variance components by
    :func:`analyses.random_pruning.fit_pruned`; the others are fallback starting points),
    ``moderation`` the terms added for the programme test (None: no test, one programme).
    ``effect_terms`` are the terms every outcome must report (a NaN row with a ``note`` when not
    estimable); ``programmes`` orders the programme levels (the first is the reference; the
    effects name it in ``reference_programme``, and the reference arm in ``reference_arm``).
    Standardised effects divide by the SD of the baseline scores of the scale.
    The ``skipped`` table lists each analysis left out, with its reason.  ``workers`` fits the
    scales in that many processes (:func:`analyses.parallel.map_ordered`; identical results).
    """
    terms = list(effect_terms or [])
    arms = sorted(set(scores["arm"].dropna().astype(str)))
    skipped: list[dict[str, str]] = []
    if moderation is None:
        skipped.append({"analysis": "moderation", "outcome": "", "reason": "one programme: no moderation test"})
    task = partial(_scale_growth, scores=scores, fixed=fixed, random=random, moderation=moderation, waves=waves,
                   baseline=baseline, knot=knot, terms=terms, programmes=programmes, arms=arms,
                   min_participants=min_participants)  # fmt: skip
    parts = map_ordered(task, scales, workers=workers)
    effects, means, logs, moderation_tests, variances, fits = ([t for p in parts for t in p[k]] for k in _TABLES)
    skipped.extend(row for p in parts for row in p["skipped"])

    def stack(parts: list[pd.DataFrame], first: list[str]) -> pd.DataFrame:
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame(columns=first)
        table = pd.concat(parts, ignore_index=True)
        return table.reindex(columns=first + [c for c in table.columns if c not in first])

    effects_table = stack(effects, [*EFFECT_COLUMNS, "n_obs", "structure"])
    for column in ("reference_programme", "reference_arm"):
        if column in effects_table:
            effects_table[column] = effects_table[column].fillna("")
    if "note" in effects_table:
        effects_table["note"] = effects_table["note"].fillna("")
    return {
        "effects": effects_table,
        "wave_means": stack(means, MEANS_COLUMNS),
        "structures": stack(logs, ["outcome", *LOG_COLUMNS]),
        "moderation": stack(moderation_tests, MODERATION_COLUMNS),
        "random_effects": stack(variances, ["outcome", "structure"]),
        "model_fit": stack(fits, ["outcome", "structure"]),
        "skipped": pd.DataFrame(skipped, columns=SKIPPED_COLUMNS),
    }



def _scale_growth(
    scale: str,
    *,
    scores: pd.DataFrame,
    fixed: str,
    random: list[str],
    moderation: str | None,
    waves: dict[str, float],
    baseline: str,
    knot: float,
    terms: list[str],
    programmes: list[str] | None,
    arms: list[str],
    min_participants: int,
) -> dict[str, list]:
    """The growth model of one scale (see :func:`growth_results`): its table parts and skipped analyses."""
    effects, means, logs, moderation_tests, variances, fits, skipped = [], [], [], [], [], [], []
    out = {"effects": effects, "wave_means": means, "structures": logs, "moderation": moderation_tests,
           "random_effects": variances, "model_fit": fits, "skipped": skipped}  # fmt: skip
    data = growth_data(scores, scale, programmes)
    n = int(data["participant"].nunique())
    reason = not_estimable(data, fixed, min_participants=min_participants)
    if reason is None:
        try:
            model, log = fit_pruned(fixed, random, data, reml=True)
        except NoAcceptableFitError as exc:
            logs.append(exc.log.assign(outcome=scale))
            reason = f"no acceptable fit: {exc}"
    if reason is not None:
        skipped.append({"analysis": "growth model", "outcome": scale, "reason": reason})
        effects.append(_missing_terms(scale, terms, reason, n, len(data)))
        return out
    logs.append(log.assign(outcome=scale))
    base = data.loc[data["wave"] == baseline, "y"]
    sd_base = float(base.std(ddof=1)) if len(base) > 1 else float("nan")
    rank = [m for m in model.messages_ if "rank deficient" in m]
    table = model.fixed_.assign(
        outcome=scale,
        structure=model.formula,
        singular=model.singular_,
        n=n,
        n_obs=len(data),
        sd_baseline=sd_base,
        note="; ".join(rank),
        **reference_levels(model, data),
    )
    for column in ("estimate", "ci95_low", "ci95_high"):
        table[f"std_{column}"] = table[column] / sd_base if sd_base > 0 else np.nan
    lost = [t for t in terms if t not in set(table["term"])]
    if lost:
        why = f"not estimable from these data ({'; '.join(rank) or 'coefficient dropped'})"
        skipped.extend({"analysis": f"effect {t}", "outcome": scale, "reason": why} for t in lost)
        table = pd.concat([table, _missing_terms(scale, lost, why, n, len(data))], ignore_index=True)
    effects.append(table)
    variances.append(model.random_.assign(outcome=scale, structure=model.formula))
    fits.append(_fit_row(scale, model))
    means.append(wave_means(model, waves, knot, arm=arms[0] if len(arms) == 1 else "all").assign(outcome=scale))
    if moderation is not None:
        try:
            moderation_tests.append(_moderation_test(model, data, fixed, moderation).assign(outcome=scale))
        except Exception as exc:  # a failed test is recorded with its reason, never a crash of the stage
            skipped.append(
                {"analysis": "moderation", "outcome": scale, "reason": f"test failed: {type(exc).__name__}: {exc}"}
            )
    return out


def _moderation_test(model: MixedModel, data: pd.DataFrame, fixed: str, moderation: str) -> pd.DataFrame:
    """Likelihood-ratio test (ML) of adding ``moderation`` to the accepted model.

    The ML fits serve only the likelihoods, so they skip the Satterthwaite df (``df_method
    "asymptotic"``: the numerical derivatives are about half the time of a fit).
    """
    restricted = MixedModel(model.formula, reml=False, df_method="asymptotic").fit(data)
    wider = model.formula.replace(fixed, f"{fixed} + {moderation}", 1)
    full = MixedModel(wider, reml=False, df_method="asymptotic").fit(data)
    return likelihood_ratio_test(restricted, full).assign(terms=moderation)


def _fit_row(scale: str, model: MixedModel) -> pd.DataFrame:
    """One row of fit statistics of an accepted model."""
    return pd.DataFrame(
        {
            "outcome": [scale],
            "structure": [model.formula],
            "n_obs": [model.n_obs_],
            **{f"n_{name.replace(':', '_in_')}": [n] for name, n in sorted(model.n_groups_.items())},
            "loglik_reml": [model.loglik_],
            "aic": [model.aic_],
            "bic": [model.bic_],
            "converged": [model.converged_],
            "singular": [model.singular_],
        }
    )
