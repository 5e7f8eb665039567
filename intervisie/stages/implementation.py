"""The implementation-factors stage (``intervisie analyze implementation``).

Which conditions promote or hinder intervisie?  The stage

1. checks, per rated construct (coach quality, session structure, psychological safety), whether
   the members' ratings may be aggregated to the group (ICC(1), ICC(2), rwg(j); Bliese 2000):
   ``aggregation.csv``;
2. builds one row of implementation factors per intervisie participant
   (:mod:`analyses.implementation_factors`) and fits the moderator models of
   :mod:`analyses.moderators` for the outcomes of ``analyses.implementation.outcomes``:
   ``moderators.csv`` (every factor at baseline and its short- and long-term slopes),
   ``structures.csv`` (random parts tried);
3. ranks the short-term moderation effects of the joint model, signed so that positive
   promotes wellbeing: ``factors_ranked.csv``, with a forest plot per outcome and ``metrics.json``.

Run time: each outcome costs eight mixed models (joint + seven factors, 6-12 s on the demo on
a shared 2-core machine), so the outcomes are a parameter; the default (the primary outcomes
and the two other burnout scales) keeps the stage near 45 s.  No table holds a group id or a
number about a single group.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from analyses.data import wave_scores
from analyses.figures import forest_figure, save_png
from analyses.implementation_factors import (
    aggregation_table,
    attendance_dose,
    factor_table,
    group_properties,
    intervisie_members,
    member_ratings,
)
from analyses.moderators import fit_moderators, moderator_data, rank_factors
from intervisie.stages.common import DESIGN_FILE, Progress, load_analysis_params, read_clean, write_table
from pipeline.atomic import write_text
from pipeline.errors import InputError
from pipeline.instruments import load_library

UNITS = {
    "coach_quality": "per SD of the coach quality rating",
    "safety": "per SD of the psychological safety rating",
    "structure": "per SD of the structure rating",
    "structure_quadratic": "per squared SD of the group's structure rating (curvature)",
    "dose": "per share of the first-3-month sessions attended (1 = all vs none)",
    "group_size": "per SD of group size within programme",
    "online": "online vs in person",
}
TABLES = ("participants", "responses", "scale_scores", "item_responses", "groups", "sessions", "attendance")


class ImplementationParams(BaseModel):
    """``analyses.implementation`` in ``params.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fixed: str
    outcomes: list[str]
    ratings: dict[str, str]
    method_min_groups: int = 5
    icc1_min: float = 0.05
    icc2_min: float = 0.70
    rwg_min: float = 0.70


def _spec(params_path: Path, extra: dict | None) -> ImplementationParams:
    data = (extra or {}).get("implementation")
    if data is None:
        raise InputError(f"{params_path}: analyses.implementation is missing (fixed, outcomes, ratings)")
    try:
        return ImplementationParams.model_validate(data)
    except ValidationError as exc:
        lines = [f"  analyses.implementation.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise InputError(f"The parameters file {params_path} is not valid:\n" + "\n".join(lines)) from exc


def run_implementation(
    clean_dir: Path, instruments_dir: Path, params_path: Path, out_dir: Path, progress: Progress
) -> None:
    """Aggregation checks, moderator models and the ranked summary of implementation factors."""
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    spec = _spec(params_path, params.model_extra)
    library = load_library(instruments_dir)
    scales = {s.id: (inst, s) for inst in library.values() for s in inst.scales}
    unknown = sorted({*spec.ratings.values(), *spec.outcomes} - set(scales))
    if unknown:
        raise InputError(f"{params_path}: analyses.implementation names unknown scale(s) {', '.join(unknown)}")
    tables = read_clean(clean_dir, TABLES)

    members = intervisie_members(tables["participants"])
    ratings, items, n_options = {}, {}, {}
    for factor, scale_id in spec.ratings.items():
        inst, scale = scales[scale_id]
        answers = inst.response_set_of(next(i for i in inst.items if i.id == scale.items[0]))
        items[factor], n_options[factor] = list(scale.items), answers.max - answers.min + 1
        ratings[factor] = member_ratings(
            members, tables["scale_scores"], tables["item_responses"], scale=scale_id, items=scale.items
        )
    aggregation = aggregation_table(
        ratings,
        items=items,
        n_options=n_options,
        icc1_min=spec.icc1_min,
        icc2_min=spec.icc2_min,
        rwg_min=spec.rwg_min,
    )
    write_table(out_dir / "aggregation.csv", aggregation)

    dose = attendance_dose(
        members, tables["participants"], tables["sessions"], tables["attendance"], knot_months=params.knot_months
    )
    properties = group_properties(tables["groups"], tables["sessions"], method_min_groups=spec.method_min_groups)
    factors, factor_columns = factor_table(members, ratings, dose, properties)
    scores = wave_scores(
        tables["participants"], tables["responses"], tables["scale_scores"], knot=params.knot_months
    )
    effects, structures = [], []
    for outcome in spec.outcomes:
        data = moderator_data(scores, factors, outcome)
        fitted, log = fit_moderators(
            data,
            outcome=outcome,
            fixed=spec.fixed,
            random=list(params.growth["random"]),
            factors=factor_columns,
            baseline=params.baseline,
        )
        effects.append(fitted)
        structures.append(log)
        progress(f"moderator models of {outcome} fitted")
    moderators = pd.concat(effects, ignore_index=True)
    write_table(out_dir / "moderators.csv", moderators)
    write_table(out_dir / "structures.csv", pd.concat(structures, ignore_index=True))

    directions = {o: scales[o][1].direction for o in spec.outcomes}
    names = {o: scales[o][1].name.en.lower() for o in spec.outcomes}
    method_unit = "groups mostly using this method vs the most common one"
    units = {**UNITS, **{f: method_unit for f in factor_columns.get("method", [])}}
    ranked = rank_factors(moderators, directions=directions, outcome_names=names, units=units)
    write_table(out_dir / "factors_ranked.csv", ranked)
    for outcome in spec.outcomes:
        part = ranked[ranked["outcome"] == outcome]
        forest = pd.DataFrame(
            {
                "label": part["factor"].str.replace("_", " ") + " (" + part["level"] + " groups)",
                "estimate": part["effect"],
                "ci95_low": part["ci_low"],
                "ci95_high": part["ci_high"],
            }
        )
        save_png(
            forest_figure(
                forest,
                title=f"Implementation factors: {names[outcome]}, first 3 months",
                xlabel="effect on the short-term change (+ = better wellbeing)",
            ),
            out_dir / "figures" / f"forest_{outcome}.png",
        )

    metrics: dict[str, float | int | bool] = {
        "n_participants": int(factors["participant"].nunique()),
        "n_groups": int(factors["group"].nunique()),
    }
    for row in aggregation[aggregation["programme"] == "all"].itertuples():
        metrics[f"{row.construct}__icc1"] = round(float(row.icc1), 6)
        metrics[f"{row.construct}__icc2"] = round(float(row.icc2), 6)
        metrics[f"{row.construct}__justified"] = bool(row.justified)
    for direction in ("promoting", "hindering", "unclear"):
        metrics[f"n_{direction}"] = int((ranked["direction"] == direction).sum())
    for row in ranked[ranked["outcome"].isin(params.primary)].itertuples():
        metrics[f"{row.outcome}__{row.covariate}"] = round(float(row.effect), 6) + 0.0
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(f"wrote aggregation checks, moderator models and ranked factors of {len(spec.outcomes)} outcomes")
