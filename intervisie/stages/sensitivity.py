"""The multiplicity and sensitivity stage (``intervisie analyze sensitivity``).

Three questions the report answers before it states a conclusion:

* does an effect survive the correction for testing several outcomes
  (:mod:`analyses.multiplicity`: Holm for the primary, Benjamini-Hochberg for the secondary ones);
* does it depend on who answered every wave: the growth model on all observed waves
  (available case, ``results/growth/effects.csv``) beside the same model on the participants
  observed at every wave (complete case, :func:`complete_case_effects`);
* how much worse would intervisie's dropouts have to fare before it disappears
  (:mod:`analyses.tipping`: delta-adjusted multiple imputation and the tipping point).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from analyses.growth import growth_data
from analyses.mixed import NoAcceptableFitError, fit_with_fallback
from analyses.multiplicity import adjust_effects
from analyses.tipping import TippingPoint, ancova_data
from intervisie.stages.common import DESIGN_FILE, Progress, analysis_scores, load_analysis_params, write_table
from pipeline.atomic import write_text
from pipeline.config import load_yaml_model
from pipeline.errors import InputError
from pipeline.instruments import load_library

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
    scores: pd.DataFrame, *, scales: list[str], waves: list[str], fixed: str, random: list[str], terms: list[str]
) -> pd.DataFrame:
    """Fit the growth model of :func:`analyses.growth.growth_results` to the complete cases of each scale.

    The same fixed part and the same list of random parts, most complex first, are used
    (:func:`analyses.mixed.fit_with_fallback`); the structure accepted may differ from the
    available-case one and is reported.  A scale with fewer than 10 complete cases or without an
    acceptable fit is left out, as in the growth stage.
    """
    rows = []
    for scale in scales:
        data = growth_data(complete_cases(scores, scale=scale, waves=waves), scale)
        if data["participant"].nunique() < 10:
            continue
        try:
            model, _log = fit_with_fallback([f"{fixed} + {r}" for r in random], data, reml=True)
        except NoAcceptableFitError:
            continue
        table = model.fixed_[model.fixed_["term"].isin(terms)]
        rows.append(
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
            )
        )
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=COMPARISON_COLUMNS)


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


def run_sensitivity(
    clean_dir: Path,
    instruments_dir: Path,
    effects_path: Path,
    params_path: Path,
    out_dir: Path,
    progress: Progress,
) -> None:
    """Multiplicity-adjusted effects, complete vs available case, delta-adjusted MI tipping points."""
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    spec = load_yaml_model(params_path, _Section, "parameters file", section="analyses").sensitivity
    effects = read_effects(effects_path)
    _participants, scores = analysis_scores(clean_dir, params)
    terms = list(params.growth["effect_terms"])
    adjusted = adjust_effects(
        effects, primary=params.primary, secondary=params.secondary, terms=terms, alpha=spec.alpha
    )
    write_table(out_dir / "multiplicity.csv", adjusted)

    complete = complete_case_effects(
        scores,
        scales=params.outcomes(),
        waves=params.waves,
        fixed=params.growth["fixed"],
        random=list(params.growth["random"]),
        terms=terms,
    )
    write_table(out_dir / "complete_vs_available.csv", complete_vs_available(effects, complete, terms=terms))

    directions = {s.id: s.direction for inst in load_library(instruments_dir).values() for s in inst.scales}
    grids, summaries = [], []
    for scale in params.primary:
        if scale not in directions:
            raise InputError(f"primary outcome {scale!r} (params.yaml) is not a scale of any file in {instruments_dir}")
        for wave in dict.fromkeys([params.short_term, params.waves[-1]]):
            data = ancova_data(scores, scale=scale, baseline=params.baseline, followup=wave)
            analysis = TippingPoint(
                m=spec.imputations,
                seed=stream_seed(spec.seed, scale, wave),
                delta_sd=spec.delta_sd,
                direction=directions[scale],
                alpha=spec.alpha,
                plausible_delta_sd=spec.plausible_delta_sd,
            ).fit(data)
            grids.append(analysis.grid_.assign(outcome=scale, wave=wave))
            summaries.append(analysis.summary().assign(outcome=scale, wave=wave))
    grid = pd.concat(grids, ignore_index=True) if grids else pd.DataFrame(columns=TIPPING_COLUMNS)
    write_table(out_dir / "tipping_point.csv", grid[TIPPING_COLUMNS + [c for c in grid if c not in TIPPING_COLUMNS]])
    summary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame(columns=["outcome", "wave"])
    first = ["outcome", "wave", "estimate_mar", "tipping_delta_sd", "tipping_delta", "conclusion_robust"]
    summary = summary[[c for c in first if c in summary] + [c for c in summary if c not in first]]
    write_table(out_dir / "tipping_summary.csv", summary)

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
        f"analyses to {out_dir}"
    )
