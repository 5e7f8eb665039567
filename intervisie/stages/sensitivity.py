"""The multiplicity and sensitivity stage (``intervisie analyze sensitivity``).

Three questions the report answers before it states a conclusion:

* does an effect survive the correction for testing several outcomes
  (:mod:`analyses.multiplicity`: Holm for the primary, Benjamini-Hochberg for the secondary ones);
* does it depend on who answered every wave: the growth model on all observed waves
  (available case, ``results/growth/effects.csv``) beside the same model on the participants
  observed at every wave (complete case, :func:`complete_case_effects`);
* how much worse would intervisie's dropouts have to fare before it disappears
  (:mod:`analyses.tipping`: delta-adjusted multiple imputation and the tipping point), at the
  short-term wave and at the last wave (only the short-term wave when no wave follows it).

Everything follows the study's design: the effect terms are the design's (the arm x time terms
with a comparison cohort, the time terms without one), complete cases are the participants
observed at every wave the study has.  Without a comparison cohort the tipping-point analysis
is not skipped: its estimand is then the *change within intervisie* from baseline to the wave
(the mean of follow-up minus baseline), and the delta shift moves the imputed follow-up scores
of intervisie participants (all of them are) the unfavourable way; the tipping point is the
shift at which the interval of that change reaches zero.  It says how robust the observed
change is to dropout not at random, not whether intervisie caused it.  What the data cannot
support (too few participants, no acceptable fit, a term not estimable) is listed in
``skipped.csv`` with its reason.
"""

from __future__ import annotations

import json
import zlib
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from analyses.growth import MIN_PARTICIPANTS, growth_data, not_estimable
from analyses.mixed import NoAcceptableFitError
from analyses.multiplicity import adjust_effects
from analyses.parallel import map_ordered
from analyses.random_pruning import fit_pruned
from analyses.tipping import TippingPoint, ancova_data
from intervisie.stages.common import (
    DESIGN_FILE,
    AnalysisParams,
    Progress,
    analysis_scores,
    load_analysis_params,
    stage_workers,
    write_skipped,
    write_table,
)
from pipeline.atomic import write_text
from pipeline.config import load_yaml_model
from pipeline.errors import InputError

COMPARISON_COLUMNS = [
    "outcome",
    "term",
    "analysis",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "p_val",
    "n_participants",
    "n_observations",
    "df",
    "structure",
]
TIPPING_COLUMNS = ["outcome", "wave", "delta_sd", "delta", "estimate", "ci_low", "ci_high", "p_val", "m"]
SUMMARY_COLUMNS = ["outcome", "wave", "estimate_mar", "tipping_delta_sd", "tipping_delta", "conclusion_robust"]


class SensitivityParams(BaseModel):
    """``analyses.sensitivity`` in ``params.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(gt=0, lt=1)
    imputations: int = Field(ge=2)
    seed: int
    delta_sd: list[float] = Field(min_length=2)
    plausible_delta_sd: float = Field(ge=0)


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sensitivity: SensitivityParams


def complete_cases(scores: pd.DataFrame, *, scale: str, waves: list[str]) -> pd.DataFrame:
    """Wave scores of ``scale`` from the participants with a valid score at every one of ``waves``."""
    part = scores[(scores["scale"] == scale) & scores["wave"].isin(waves)]
    counts = part.groupby("participant")["wave"].nunique()
    return part[part["participant"].isin(counts.index[counts == len(waves)])]


def complete_case_effects(
    scores: pd.DataFrame,
    *,
    scales: list[str],
    waves: list[str],
    fixed: str,
    random: list[str],
    terms: list[str],
    programmes: list[str] | None = None,
    workers: int = 1,
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Fit the growth model of :func:`analyses.growth.growth_results` to the complete cases of each scale.

    The same fixed part and the same random parts are used, zero variance components pruned
    (:func:`analyses.random_pruning.fit_pruned`); the structure accepted may differ from the
    available-case one and is reported.  A scale whose complete cases cannot support the model
    (:func:`analyses.growth.not_estimable`: fewer than 10, one arm, ...) or without an acceptable
    fit is left out and returned in the second element (``analysis``, ``outcome``, ``reason``).
    ``workers``: processes the scales are fitted in (:func:`analyses.parallel.map_ordered`).
    """
    task = partial(_complete_case_scale, scores=scores, waves=waves, fixed=fixed, random=random, terms=terms,
                   programmes=programmes)  # fmt: skip
    rows, skipped = [], []
    for table, skip in map_ordered(task, scales, workers=workers):
        if skip is not None:
            skipped.append(skip)
        else:
            rows.append(table)
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=COMPARISON_COLUMNS)
    return table, skipped


def _complete_case_scale(
    scale: str,
    *,
    scores: pd.DataFrame,
    waves: list[str],
    fixed: str,
    random: list[str],
    terms: list[str],
    programmes: list[str] | None,
) -> tuple[pd.DataFrame | None, dict[str, str] | None]:
    """The complete-case effect rows of one scale, or None and the reason it was left out."""
    data = growth_data(complete_cases(scores, scale=scale, waves=waves), scale, programmes)
    reason = not_estimable(data, fixed)
    if reason is None:
        try:
            model, _log = fit_pruned(fixed, random, data, reml=True)
        except NoAcceptableFitError as exc:
            reason = f"no acceptable fit: {exc}"
    if reason is not None:
        return None, {"analysis": "complete-case growth model", "outcome": scale, "reason": f"complete cases: {reason}"}
    table = model.fixed_[model.fixed_["term"].isin(terms)]
    return (
        pd.DataFrame(
            {
                "outcome": scale,
                "term": table["term"],
                "analysis": "complete_case",
                "estimate": table["estimate"],
                "se": table["std_error"],
                "ci_low": table["ci95_low"],
                "ci_high": table["ci95_high"],
                "p_val": table["p_val"],
                "n_participants": data["participant"].nunique(),
                "n_observations": len(data),
                "df": table["df"],
                "structure": model.formula,
            }
        ),
        None,
    )


def complete_vs_available(available: pd.DataFrame, complete: pd.DataFrame, *, terms: list[str]) -> pd.DataFrame:
    """Stack the available-case effects (growth stage) and the complete-case ones, per outcome x term."""
    part = available[available["term"].isin(terms)]
    avail = pd.DataFrame(
        {
            "outcome": part["outcome"],
            "term": part["term"],
            "analysis": "available_case",
            "estimate": part["estimate"],
            "se": part["std_error"],
            "ci_low": part["ci95_low"],
            "ci_high": part["ci95_high"],
            "p_val": part["p_val"],
            "n_participants": part["n"],
            "n_observations": part["n_obs"],
            "df": part["df"],
            "structure": part["structure"],
        }
    )
    table = pd.concat([avail, complete], ignore_index=True)[COMPARISON_COLUMNS]
    order = {o: k for k, o in enumerate(dict.fromkeys(available["outcome"]))}
    table["_o"], table["_t"] = table["outcome"].map(order), table["term"].map({t: k for k, t in enumerate(terms)})
    table = table.sort_values(["_o", "_t", "analysis"], ascending=[True, True, False], kind="stable")
    return table.drop(columns=["_o", "_t"]).reset_index(drop=True)


def stream_seed(seed: int, *labels: str) -> list[int]:
    """A seed for one analysis: the study seed plus a stable checksum of its labels (outcome, wave).

    Adding or removing an outcome leaves the random numbers of the others unchanged.
    """
    return [seed, zlib.crc32("|".join(labels).encode("utf-8"))]


def read_effects(path: Path) -> pd.DataFrame:
    """Read the growth stage's effects table, naming the file when it is missing."""
    if not path.exists():
        raise InputError(f"{path} is missing: run the growth stage first (intervisie analyze growth)")
    return pd.read_csv(path)


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def tipping_points(
    scores: pd.DataFrame, params: AnalysisParams, spec: SensitivityParams
) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, str]]]:
    """Delta-adjusted MI of each primary outcome at the short-term and the last wave: grid, summary, skipped.

    With a comparison cohort the estimand is the difference between the arms (ANCOVA); without
    one it is the change within intervisie (:class:`analyses.tipping.TippingPoint`,
    ``estimand="change"``). With two waves only the short-term wave is analysed. An analysis the
    data cannot support (too few participants, no observed follow-up, a design matrix not of
    full rank) is skipped with its reason.
    """
    design = params.design
    estimand = "difference" if design.has_comparison else "change"
    grids, summaries, skipped = [], [], []
    if not design.long_term:
        skipped.append(
            {"analysis": "tipping point at a later wave", "outcome": "",
             "reason": "no wave follows the short-term wave: only the short-term wave is analysed"}
        )
    for scale in params.primary:
        if scale not in design.scales:
            raise InputError(f"primary outcome {scale!r} (study.yaml) is not a scale of the study's design")
        direction = "higher_better" if design.scales[scale].higher_is_better else "higher_worse"
        for wave in dict.fromkeys([params.short_term, design.last_wave]):
            data = ancova_data(scores, scale=scale, baseline=params.baseline, followup=wave)
            if estimand == "change":
                data = data[data["arm"] == "intervisie"]
            n = len(data)
            try:
                if n < MIN_PARTICIPANTS:
                    raise InputError(f"only {n} participant(s) with a baseline score: at least {MIN_PARTICIPANTS} needed")
                analysis = TippingPoint(
                    m=spec.imputations,
                    seed=stream_seed(spec.seed, scale, wave),
                    delta_sd=spec.delta_sd,
                    direction=direction,
                    alpha=spec.alpha,
                    plausible_delta_sd=spec.plausible_delta_sd,
                    estimand=estimand,
                ).fit(data)
            except (InputError, np.linalg.LinAlgError, ValueError) as exc:
                skipped.append({"analysis": f"tipping point at {wave}", "outcome": scale, "reason": str(exc)})
                continue
            grids.append(analysis.grid_.assign(outcome=scale, wave=wave))
            summaries.append(analysis.summary().assign(outcome=scale, wave=wave))
    grid = pd.concat(grids, ignore_index=True) if grids else pd.DataFrame(columns=TIPPING_COLUMNS)
    grid = grid[TIPPING_COLUMNS + [c for c in grid if c not in TIPPING_COLUMNS]]
    summary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame(columns=SUMMARY_COLUMNS)
    summary = summary[[c for c in SUMMARY_COLUMNS if c in summary] + [c for c in summary if c not in SUMMARY_COLUMNS]]
    return grid, summary, skipped


def run_sensitivity(
    clean_dir: Path,
    instruments_dir: Path,
    effects_path: Path,
    params_path: Path,
    out_dir: Path,
    progress: Progress,
) -> None:
    """Multiplicity-adjusted effects, complete vs available case, delta-adjusted MI tipping points.

    Everything follows the study's design (effect terms, waves, arms); what it or the data
    cannot support is listed in ``skipped.csv``. ``instruments_dir`` is not read: scale
    directions come from the design.
    """
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    spec = load_yaml_model(params_path, _Section, "parameters file", section="analyses").sensitivity
    effects = read_effects(effects_path)
    _participants, scores = analysis_scores(clean_dir, params)
    terms = list(params.growth["effect_terms"])
    skipped: list[dict[str, str]] = []
    adjusted = adjust_effects(
        effects, primary=params.primary, secondary=params.secondary, terms=terms, alpha=spec.alpha
    )
    estimable = effects[effects["term"].isin(terms)].dropna(subset=["p_val"])
    for outcome in params.outcomes():
        for term in terms:
            if not ((estimable["outcome"] == outcome) & (estimable["term"] == term)).any():
                skipped.append({"analysis": f"multiplicity {term}", "outcome": outcome,
                                "reason": "no estimate of this term in the growth stage: left out of its family"})
    write_table(out_dir / "multiplicity.csv", adjusted)

    complete, left_out = complete_case_effects(
        scores,
        scales=params.outcomes(),
        waves=params.waves,
        fixed=params.growth["fixed"],
        random=list(params.growth["random"]),
        terms=terms,
        programmes=params.design.programme_ids,
        workers=stage_workers(),
    )
    skipped += left_out
    write_table(out_dir / "complete_vs_available.csv", complete_vs_available(effects, complete, terms=terms))

    grid, summary, left_out = tipping_points(scores, params, spec)
    skipped += left_out
    write_table(out_dir / "tipping_point.csv", grid)
    write_table(out_dir / "tipping_summary.csv", summary)
    write_skipped(out_dir, "sensitivity", skipped)

    metrics: dict[str, object] = {}
    for term in terms:
        hit = adjusted[(adjusted["term"] == term)]
        key = term.replace(":", "_")
        metrics[f"{key}__primary_rejected"] = int(hit.loc[hit["family"] == "primary", "reject"].sum())
        metrics[f"{key}__secondary_rejected"] = int(hit.loc[hit["family"] == "secondary", "reject"].sum())
    for row in summary.itertuples():
        metrics[f"{row.outcome}__{row.wave}__tipping_delta_sd"] = _none_if_nan(row.tipping_delta_sd)
        metrics[f"{row.outcome}__{row.wave}__robust"] = bool(row.conclusion_robust)
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(
        f"wrote multiplicity-adjusted effects, complete vs available case and {len(summary)} tipping-point "
        f"analyses ({len(skipped)} skipped) to {out_dir}"
    )
