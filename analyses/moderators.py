"""Implementation factors as moderators of change: cross-level interactions with the growth slopes.

For the intervisie participants of one outcome the growth model of ``params.yaml`` (without the
arm terms: everyone had intervisie) is extended with the covariates :math:`x` of one factor
(or of all factors, the *joint* model) and their interactions with both time slopes,

.. math::

    y_{tig} = \\text{programme} \\times (\\text{short} + \\text{long})
              + \\sum_x \\big(\\gamma_x x + \\delta_x\\, x\\cdot\\text{short}
              + \\lambda_x\\, x\\cdot\\text{long}\\big) + \\text{random effects} + e_{tig}

(Raudenbush & Bryk 2002, ch. 5; Hox, Moerbeek & van de Schoot 2018, ch. 5 on cross-level
interactions).  The time terms come from the design (``Design.time_terms()``): with no wave
after the short-term wave there is no ``long`` slope and no :math:`\\lambda_x`.
:math:`\\delta_x` is the moderation of the short-term change (baseline to three
months) per unit of :math:`x`; :math:`\\lambda_x` that of the yearly slope afterwards.  Because
the covariates are centred within programme (:mod:`analyses.implementation_factors`), the
programme terms keep each programme's average change.  Group-mean centring separates a member's
deviation from the group (``within``) from the group's deviation from its programme
(``between``); the two effects differ when the factor acts through the group rather than the
person (Enders & Tofighi 2007).

The random part starts from the maximal structure and sheds the variance components estimated
at zero one at a time (:func:`analyses.random_pruning.fit_pruned`), as the growth stage does:
first for the joint model, then for each single-factor model starting from the structure the
joint model accepted (a simpler model of the same rows rarely supports more; this halves the
number of fits).  Fixed
effects, Satterthwaite df and Wald t intervals are lmerTest's (``analyses.mixed``).

:func:`rank_factors` turns the short-term moderation effects into the round table's summary:
signed so that a positive effect promotes wellbeing, classified, ranked by :math:`|t|`.

References
----------
Enders, C. K., & Tofighi, D. (2007). Centering predictor variables in cross-sectional multilevel
models. Psychological Methods, 12(2), 121-138.

Hox, J. J., Moerbeek, M., & van de Schoot, R. (2018). Multilevel analysis (3rd ed.). Routledge.

Raudenbush, S. W., & Bryk, A. S. (2002). Hierarchical linear models (2nd ed.). Sage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import pandas as pd

from analyses.growth import growth_data
from analyses.mixed import MixedModel, NoAcceptableFitError
from analyses.parallel import map_ordered
from analyses.random_pruning import LOG_COLUMNS, fit_pruned

SLOPES = ("baseline", "short", "long")
#: the time terms of the piecewise growth model with a long-term wave (``Design.time_terms()``)
TIME_TERMS = ("short", "long")
EFFECT_COLUMNS = ["outcome", "term", "estimate", "std_error", "df", "p_val", "ci95_low", "ci95_high", "n"]
#: the columns of :func:`fit_moderators`' effects (``moderators.csv``), in order
MODERATOR_COLUMNS = [
    *EFFECT_COLUMNS, "model", "factor", "level", "slope", "covariate", "t_val", "note", "structure", "singular",
    "n_obs", "sd_baseline", "std_estimate", "std_ci95_low", "std_ci95_high",
]
STRUCTURE_COLUMNS = ["outcome", "model", *LOG_COLUMNS]


def covariate_level(covariate: str) -> tuple[str, str]:
    """Return ``(factor, level)`` of a covariate column of the factor table.

    ``coach_quality_within`` -> (``coach_quality``, ``within``); ``structure_between_sq`` ->
    (``structure_quadratic``, ``between``); group properties (``group_size``, ``online``,
    ``method_<name>``) are ``between``.
    """
    if covariate.endswith("_between_sq"):
        return covariate.removesuffix("_between_sq") + "_quadratic", "between"
    for level in ("within", "between"):
        if covariate.endswith(f"_{level}"):
            return covariate.removesuffix(f"_{level}"), level
    return covariate, "between"


def moderator_data(
    scores: pd.DataFrame, factors: pd.DataFrame, scale: str, programmes: list[str] | None = None
) -> pd.DataFrame:
    """One outcome's wave scores of the intervisie participants with their factor covariates.

    ``scores`` is :func:`analyses.data.wave_scores`; ``factors`` the table of
    :func:`analyses.implementation_factors.factor_table` (one row per participant);
    ``programmes`` orders the programme levels (the design's order; the first is the reference).
    """
    part = scores[(scores["scale"] == scale) & (scores["arm"].astype(str) == "intervisie") & scores["group"].notna()]
    data = growth_data(part, scale, programmes)
    covariates = factors.drop(columns=["group", "programme"], errors="ignore").astype({"participant": str})
    return data.merge(covariates, on="participant", how="inner", validate="many_to_one")


def moderator_formulas(
    fixed: str, covariates: Sequence[str], random: Sequence[str], time_terms: Sequence[str] = TIME_TERMS
) -> list[str]:
    """lme4 formulas ``fixed + (x1 + x2 + ...) * (short + long) + random``, one per random part.

    ``time_terms`` are the design's time variables (``Design.time_terms()``): ``short`` alone
    when no wave follows the short-term wave.
    """
    terms = " + ".join(covariates)
    time = " + ".join(time_terms)
    return [f"{fixed} + ({terms}) * ({time}) + {r}" for r in random]


def _term_of(fixed: pd.DataFrame, covariate: str, slope: str) -> pd.Series | None:
    """The fixed-effect row of ``covariate`` (x ``slope``); None when the engine dropped it (rank deficient)."""
    want = {covariate} if slope == "baseline" else {covariate, slope}
    hit = fixed[[set(t.split(":")) == want for t in fixed["term"]]]
    if len(hit) > 1:
        raise ValueError(f"term for {covariate} x {slope} found twice among {list(fixed['term'])}")
    return hit.iloc[0] if len(hit) else None


def moderator_effects(
    model: MixedModel,
    data: pd.DataFrame,
    covariates: Sequence[str],
    *,
    outcome: str,
    label: str,
    baseline: str,
    time_terms: Sequence[str] = TIME_TERMS,
) -> pd.DataFrame:
    """Tidy rows of a fitted moderator model: each covariate at baseline and its slopes (``time_terms``).

    Columns are those of ``results/growth/effects.csv`` (standardised by the SD of the outcome's
    baseline scores) plus ``model``, ``covariate``, ``factor``, ``level``, ``slope`` and ``note``.
    A coefficient the engine dropped because the design matrix is rank deficient (e.g. more
    group-level covariates than groups) is a row with NaN estimates and a ``note`` saying so.
    """
    used = data.dropna(subset=[*covariates, "y"])
    sd_base = float(used.loc[used["wave"] == baseline, "y"].std(ddof=1))
    rows = []
    for covariate in covariates:
        factor, level = covariate_level(covariate)
        for slope in ("baseline", *time_terms):
            hit = _term_of(model.fixed_, covariate, slope)
            if hit is None:
                term = covariate if slope == "baseline" else f"{slope}:{covariate}"
                row = {"term": term, "note": "not estimable: collinear with other terms of the model (too few groups)"}
            else:
                row = {**hit.to_dict(), "note": ""}
            row.update(model=label, covariate=covariate, factor=factor, level=level, slope=slope)
            rows.append(row)
    columns = list(dict.fromkeys([*model.fixed_.columns, "note", "model", "covariate", "factor", "level", "slope"]))
    table = pd.DataFrame(rows).reindex(columns=columns).assign(
        outcome=outcome,
        structure=model.formula,
        singular=model.singular_,
        n=int(model.n_groups_.get("participant", used["participant"].nunique())),
        n_obs=model.n_obs_,
        sd_baseline=sd_base,
    )
    for column in ("estimate", "ci95_low", "ci95_high"):
        table[f"std_{column}"] = table[column] / sd_base
    return table


def fit_moderators(
    data: pd.DataFrame,
    *,
    outcome: str,
    fixed: str,
    random: Sequence[str],
    factors: Mapping[str, Sequence[str]],
    baseline: str,
    time_terms: Sequence[str] = TIME_TERMS,
    workers: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit the joint model and one model per factor for one outcome.

    Parameters
    ----------
    data : pandas.DataFrame
        :func:`moderator_data`.
    outcome : str
    fixed : str
        The fixed part without the factors, e.g. ``"y ~ programme + short + long"``.
    random : sequence of str
        Random parts: the maximal first (pruned of zero components), then fallback starting points.
    factors : mapping of str to list of str
        Factor -> covariate columns (from :func:`analyses.implementation_factors.factor_table`).
    baseline : str
        The baseline wave (for the standardising SD).
    time_terms : sequence of str
        The design's time variables (``Design.time_terms()``; ``("short",)`` with two waves).
    workers : int
        Processes the factor models (independent once the joint model is fitted) are fitted in
        (:func:`analyses.parallel.map_ordered`; identical results).

    Returns
    -------
    effects : pandas.DataFrame
        :func:`moderator_effects` rows of every model that could be fitted (``model`` = ``joint``
        or the factor); columns :data:`MODERATOR_COLUMNS`.
    structures : pandas.DataFrame
        ``outcome, model, step, formula, status, reason, action``: the random parts tried per
        model, and what was removed to reach the next.  A model
        none of whose random parts gave an acceptable fit has no ``accepted`` row and no effects.
    """
    everything = [c for columns in factors.values() for c in columns]
    joint = _fit_one(("joint", everything), data=data, outcome=outcome, fixed=fixed, starts=list(random),
                     baseline=baseline, time_terms=time_terms)  # fmt: skip
    starts = list(random)
    if joint[2] is not None:  # the factor models start from the joint model's accepted random part
        starts = [joint[2], *random[next((i + 1 for i, r in enumerate(random) if r == joint[2]), 0) :]]
        starts = list(dict.fromkeys(starts))
    task = partial(_fit_one, data=data, outcome=outcome, fixed=fixed, starts=starts, baseline=baseline,
                   time_terms=time_terms)  # fmt: skip
    results = [joint, *map_ordered(task, [(name, list(columns)) for name, columns in factors.items()], workers=workers)]
    effects = [r[0] for r in results if r[0] is not None]
    logs = [r[1] for r in results]
    effects_table = pd.concat(effects, ignore_index=True) if effects else pd.DataFrame(columns=MODERATOR_COLUMNS)
    effects_table = effects_table.reindex(columns=MODERATOR_COLUMNS)
    structures = pd.concat(logs, ignore_index=True)[STRUCTURE_COLUMNS]
    return effects_table, structures


def _fit_one(
    plan: tuple[str, list[str]],
    *,
    data: pd.DataFrame,
    outcome: str,
    fixed: str,
    starts: list[str],
    baseline: str,
    time_terms: Sequence[str],
) -> tuple[pd.DataFrame | None, pd.DataFrame, str | None]:
    """Fit one moderator model, ``(label, covariates)``: its effects (None when no fit was acceptable), its log
    and accepted random part."""
    label, covariates = plan
    with_factors = moderator_formulas(fixed, covariates, [""], time_terms)[0].removesuffix(" + ")
    try:
        model, log = fit_pruned(with_factors, starts, data, reml=True)
    except NoAcceptableFitError as exc:
        return None, exc.log.assign(outcome=outcome, model=label), None
    effects = moderator_effects(model, data, covariates, outcome=outcome, label=label, baseline=baseline,
                                time_terms=time_terms)  # fmt: skip
    return effects, log.assign(outcome=outcome, model=label), model.formula.removeprefix(f"{with_factors} + ")


def _label(factor: str, level: str, direction: str, outcome_name: str, *, higher_better: bool = True) -> str:
    """Plain-language line for the round-table handout (``direction`` is on the wellbeing scale)."""
    who = {"within": "a member who rates it higher than the group does", "between": "groups where it is higher"}
    names = {
        "coach_quality": "coach quality",
        "safety": "psychological safety",
        "structure": "structure of the sessions",
        "dose": "attending more sessions",
        "group_size": "a larger group",
        "online": "meeting online (rather than in person)",
    }
    better, worse = ("promotes", "hinders") if higher_better else ("reduces", "adds to")
    if factor == "structure_quadratic":
        return {
            "promoting": f"more or less structure than usual {better} {outcome_name}",
            "hindering": f"the right amount of structure matters: too much or too little {worse} {outcome_name}",
            "unclear": f"no clear sign that the amount of structure needs to be just right for {outcome_name}",
        }[direction]
    if factor.startswith("method_"):
        method = factor.removeprefix("method_").replace("_", " ")
        subject = "groups mostly using other methods" if method == "other" else f"groups mostly using the {method}"
        subject += " (vs the most common method)"
    elif factor in ("group_size", "online"):
        subject = names[factor]
    elif factor == "dose":
        subject = "attending more sessions" + (" than the group does" if level == "within" else " (group average)")
    else:
        subject = f"{names.get(factor, factor.replace('_', ' '))} ({who[level]})"
    verb = {"promoting": better, "hindering": worse, "unclear": "has no clear effect on"}[direction]
    return f"{subject} {verb} {outcome_name}"


def rank_factors(
    effects: pd.DataFrame,
    *,
    directions: Mapping[str, str],
    outcome_names: Mapping[str, str] | None = None,
    model: str = "joint",
    units: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Ranked summary of promoting and hindering factors (short-term moderation, one model).

    The effect of covariate :math:`x` on outcome :math:`s` is :math:`\\delta_x` (the coefficient of
    ``short:x``: difference in the change from baseline to three months per unit of :math:`x`)
    times :math:`+1` for a ``higher_better`` and :math:`-1` for a ``higher_worse`` scale, so that a
    positive effect promotes wellbeing; the 95% interval is transformed alike.  A factor is
    ``promoting`` when the interval lies above 0, ``hindering`` below 0, ``unclear`` when it
    includes 0.  Within each outcome the rank orders by the evidence :math:`|t| =
    |\\hat\\delta_x| / SE` (equivalently by the p-value), largest first.

    Parameters
    ----------
    effects : pandas.DataFrame
        :func:`fit_moderators` output.
    directions : mapping
        Outcome -> ``higher_better`` or ``higher_worse`` (``instruments/*.yaml``).
    outcome_names : mapping, optional
        Outcome -> readable name for the labels.
    model : str, keyword-only
        Which model's estimates (default the joint model: factors adjusted for each other).
    units : mapping, optional
        Factor -> unit text for the ``unit`` column.

    Returns
    -------
    pandas.DataFrame
        ``rank, outcome, factor, level, effect, ci_low, ci_high, p_val, direction, label`` and
        ``t_val, std_error, unit, covariate``.
    """
    rows = effects[(effects["model"] == model) & (effects["slope"] == "short")].copy()
    bad = sorted(set(rows["outcome"]) - set(directions))
    if bad:
        raise ValueError(f"no direction (higher_better / higher_worse) for outcome(s) {', '.join(bad)}")
    sign = rows["outcome"].map({k: 1.0 if v == "higher_better" else -1.0 for k, v in directions.items()})
    rows["effect"] = rows["estimate"] * sign
    low, high = rows["ci95_low"] * sign, rows["ci95_high"] * sign
    rows["ci_low"], rows["ci_high"] = np.minimum(low, high), np.maximum(low, high)
    rows["t_val"] = rows["effect"] / rows["std_error"]
    rows["direction"] = np.select([rows["ci_low"] > 0, rows["ci_high"] < 0], ["promoting", "hindering"], "unclear")
    names = dict(outcome_names or {})
    rows["label"] = [
        _label(f, lv, d, names.get(o, o), higher_better=directions[o] == "higher_better")
        for f, lv, d, o in zip(rows["factor"], rows["level"], rows["direction"], rows["outcome"], strict=True)
    ]
    rows["unit"] = rows["factor"].map(dict(units or {})).fillna("")
    order = {o: i for i, o in enumerate(dict.fromkeys(rows["outcome"]))}
    rows["_o"] = rows["outcome"].map(order)
    rows["_abs_t"] = rows["t_val"].abs()
    rows = rows.sort_values(["_o", "_abs_t", "covariate"], ascending=[True, False, True], kind="stable")
    rows["rank"] = rows.groupby("outcome", sort=False).cumcount() + 1
    columns = ["rank", "outcome", "factor", "level", "effect", "ci_low", "ci_high", "p_val", "direction", "label"]
    return rows[[*columns, "t_val", "std_error", "unit", "covariate"]].reset_index(drop=True)
