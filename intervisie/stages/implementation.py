"""The implementation-factors stage (``intervisie analyze implementation``).

Which conditions promote or hinder intervisie?  The stage

1. checks, per rated construct of the design (``design.ratings``: e.g. coach quality, session
   structure, psychological safety), whether the members' ratings may be aggregated to the
   group (ICC(1), ICC(2), rwg(j); Bliese 2000): ``aggregation.csv``;
2. builds one row of implementation factors per intervisie participant
   (:mod:`analyses.implementation_factors`) from whatever the study has (ratings; dose from the
   session log and attendance list; group size; online vs in person when both occur; the
   groups' modal method when at least two occur) and fits the moderator models of
   :mod:`analyses.moderators` for the outcomes of ``analyses.implementation.outcomes``:
   ``moderators.csv`` (every factor at baseline and its slopes: ``short``, and ``long`` when a
   wave follows the short-term wave), ``structures.csv`` (random parts tried);
3. ranks the short-term moderation effects of the joint model, signed so that positive
   promotes wellbeing: ``factors_ranked.csv``, with a forest plot per outcome and ``metrics.json``.

What the design or the data cannot support (no groups, no ratings, no session log, a factor
without variation, too few groups, a model that cannot be fitted) is left out with its reason
in ``skipped.csv``; every declared output is still written (tables with their header only,
``figures/README.txt`` saying why there is no figure).

Run time: each outcome costs one mixed model per factor plus the joint model (6-12 s each on the
demo on a shared 2-core machine), so the outcomes are a parameter (default: the primary
outcomes).  No table holds a group id or a number about a single group.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from analyses.data import wave_scores
from analyses.figures import forest_figure, save_png
from analyses.implementation_factors import (
    AGGREGATION_COLUMNS,
    aggregation_table,
    attendance_dose,
    factor_table,
    group_properties,
    intervisie_members,
    member_ratings,
    usable_factors,
)
from analyses.moderators import MODERATOR_COLUMNS, STRUCTURE_COLUMNS, fit_moderators, moderator_data, rank_factors
from intervisie.stages.common import (
    DESIGN_FILE,
    Progress,
    choice_section,
    load_analysis_params,
    read_clean,
    stage_workers,
    write_skipped,
    write_table,
)
from pipeline.atomic import write_text
from pipeline.design import Design
from pipeline.errors import InputError
from pipeline.instruments import load_library

STAGE = "implementation"
UNITS = {
    "coach_quality": "per SD of the coach quality rating",
    "safety": "per SD of the psychological safety rating",
    "structure": "per SD of the structure rating",
    "structure_quadratic": "per squared SD of the group's structure rating (curvature)",
    "dose": "per share of the sessions attended before the short-term wave (1 = all vs none)",
    "group_size": "per SD of group size within programme",
    "online": "online vs in person",
}
RANKED_COLUMNS = [
    "rank", "outcome", "factor", "level", "effect", "ci_low", "ci_high", "p_val", "direction", "label",
    "t_val", "std_error", "unit", "covariate",
]


class ImplementationParams(BaseModel):
    """``analyses.implementation`` in ``params.yaml`` (resolved: ``fixed`` and ``ratings`` from the design)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fixed: str
    outcomes: list[str]
    ratings: dict[str, str]
    method_min_groups: int = 5
    icc1_min: float = 0.05
    icc2_min: float = 0.70
    rwg_min: float = 0.70
    #: fewer rated groups than this: the aggregation check is not estimable
    aggregation_min_groups: int = 3
    #: fewer groups than this among the participants with scores: no moderator models
    min_groups: int = 3


def _optional(clean_dir: Path, name: str, available: bool = True) -> pd.DataFrame | None:
    """A canonical table the study may lack: None when the design says so or the file is absent."""
    path = clean_dir / f"{name}.parquet"
    return pd.read_parquet(path) if available and path.exists() else None


def _groups_from_roster(members: pd.DataFrame, participants: pd.DataFrame) -> pd.DataFrame:
    """``group, programme, n_members, format`` from the roster when ``groups.parquet`` is absent or empty."""
    people = participants.astype({"participant": str}).set_index("participant")
    rows = members.assign(format=members["participant"].map(people["format"]) if "format" in people else np.nan)
    out = rows.groupby("group", sort=True).agg(
        programme=("programme", "first"), n_members=("participant", "size"), format=("format", "first")
    )
    return out.reset_index()


def _no_figure(out_dir: Path, reason: str) -> None:
    write_text(out_dir / "figures" / "README.txt", f"No figure was drawn: {reason}\n")


def _empty_outputs(out_dir: Path, skipped: list[dict[str, str]], reason: str) -> None:
    """Every declared output with its header only, when the whole stage cannot run."""
    write_table(out_dir / "aggregation.csv", pd.DataFrame(columns=AGGREGATION_COLUMNS))
    write_table(out_dir / "moderators.csv", pd.DataFrame(columns=MODERATOR_COLUMNS))
    write_table(out_dir / "structures.csv", pd.DataFrame(columns=STRUCTURE_COLUMNS))
    write_table(out_dir / "factors_ranked.csv", pd.DataFrame(columns=RANKED_COLUMNS))
    _no_figure(out_dir, reason)
    write_text(out_dir / "metrics.json", json.dumps({"n_participants": 0, "n_groups": 0}, indent=2) + "\n")
    write_skipped(out_dir, STAGE, skipped)


def _ratings(
    spec: ImplementationParams, scales: dict, members: pd.DataFrame, tables: dict, skipped: list[dict[str, str]]
) -> tuple[dict[str, pd.DataFrame], dict[str, list[str]], dict[str, int]]:
    """Each rated factor's member ratings, items and number of answer options (factors without ratings: skipped)."""
    ratings, items, n_options = {}, {}, {}
    if not spec.ratings:
        skipped.append({"analysis": "rated factors and aggregation checks",
                        "reason": "the study declares no rating scales (design.ratings is empty)"})
    for factor, scale_id in spec.ratings.items():
        inst, scale = scales[scale_id]
        if tables["item_responses"] is None:
            raise InputError("item_responses.parquet is missing: the aggregation checks of the ratings need it")
        person = member_ratings(
            members, tables["scale_scores"], tables["item_responses"], scale=scale_id, items=scale.items
        )
        if person.empty:
            skipped.append({"analysis": f"factor {factor}",
                            "reason": f"no intervisie group member has a valid rating on scale '{scale_id}'"})
            continue
        answers = inst.response_set_of(next(i for i in inst.items if i.id == scale.items[0]))
        items[factor], n_options[factor] = list(scale.items), answers.max - answers.min + 1
        ratings[factor] = person
    return ratings, items, n_options


def _properties(
    spec: ImplementationParams, design: Design, members: pd.DataFrame, tables: dict, skipped: list[dict[str, str]]
) -> pd.DataFrame:
    """Group size, online and method per group (from groups.parquet, else the roster); why a factor is absent."""
    groups = tables["groups"]
    if groups is None or groups.empty:
        groups = _groups_from_roster(members, tables["participants"])
    groups = groups[groups["group"].astype(str).isin(set(members["group"]))]
    properties = group_properties(groups, tables["sessions"], method_min_groups=spec.method_min_groups)
    if tables["sessions"] is None:
        skipped.append({"analysis": "factor method", "reason": "the study has no session log, so no methods"})
    elif properties["method"].dropna().nunique() < 2:
        skipped.append({"analysis": "factor method", "reason": (
            "the session log records no method" if properties["method"].isna().all()
            else f"fewer than two methods are each the usual method of {spec.method_min_groups} or more groups")})
    if not design.data.format or properties["online"].isna().all():
        skipped.append({"analysis": "factor online", "reason": "the roster records no meeting format"})
    elif properties["online"].dropna().nunique() < 2:
        skipped.append({"analysis": "factor online", "reason": "all groups meet in the same format"})
    return properties


def run_implementation(
    clean_dir: Path, instruments_dir: Path, params_path: Path, out_dir: Path, progress: Progress
) -> None:
    """Aggregation checks, moderator models and the ranked summary of implementation factors."""
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    spec = choice_section(params, STAGE, ImplementationParams, params_path)
    design = params.design
    library = load_library(instruments_dir)
    scales = {s.id: (inst, s) for inst in library.values() for s in inst.scales}
    unknown = sorted({*spec.ratings.values(), *spec.outcomes} - set(scales))
    if unknown:
        raise InputError(f"{params_path}: analyses.implementation names unknown scale(s) {', '.join(unknown)}")
    tables = read_clean(clean_dir, ("participants", "responses", "scale_scores"))
    tables["item_responses"] = _optional(clean_dir, "item_responses")
    tables["groups"] = _optional(clean_dir, "groups", design.data.groups)
    tables["sessions"] = _optional(clean_dir, "sessions", design.data.sessions)
    tables["attendance"] = _optional(clean_dir, "attendance", design.data.attendance)
    skipped: list[dict[str, str]] = []
    participants = tables["participants"]
    has_groups = design.data.groups and "group" in participants.columns and participants["group"].notna().any()
    members = intervisie_members(participants) if has_groups else participants.iloc[:0]
    if members.empty:
        reason = "the roster assigns no intervisie participant to a reflection group (no group_id)"
        _empty_outputs(out_dir, [{"analysis": "implementation factors (whole stage)", "reason": reason}], reason)
        progress(f"implementation factors skipped: {reason}")
        return

    ratings, items, n_options = _ratings(spec, scales, members, tables, skipped)
    aggregation = aggregation_table(
        ratings, items=items, n_options=n_options, icc1_min=spec.icc1_min, icc2_min=spec.icc2_min,
        rwg_min=spec.rwg_min, min_groups=spec.aggregation_min_groups,
    )
    for row in aggregation[aggregation["note"].astype(str).str.startswith("not estimable")].itertuples():
        skipped.append({"analysis": f"aggregation check {row.construct} ({row.programme})", "reason": row.note})
    write_table(out_dir / "aggregation.csv", aggregation)

    dose = None
    if tables["sessions"] is None or tables["attendance"] is None:
        missing = " and ".join(n for n in ("session log", "attendance list")
                               if tables["sessions" if n == "session log" else "attendance"] is None)
        skipped.append({"analysis": "factor dose", "reason": f"the study has no {missing}, so no attendance dose"})
    else:
        dose = attendance_dose(members, participants, tables["sessions"], tables["attendance"],
                               knot_months=params.knot_months)
    properties = _properties(spec, design, members, tables, skipped)
    factors, all_columns = factor_table(members, ratings, dose, properties)
    factor_columns, dropped = usable_factors(factors, all_columns)
    skipped += [{"analysis": f"factor {name}", "reason": reason} for name, reason in dropped]
    scores = wave_scores(participants, tables["responses"], tables["scale_scores"], knot=params.knot_months)
    time_terms = design.time_terms()
    effects, structures = [], []
    for outcome in spec.outcomes:
        data = moderator_data(scores, factors, outcome, design.programme_ids)
        n_groups = data["group"].nunique() if "group" in data else 0
        if not factor_columns:
            skipped.append({"analysis": "moderator models", "outcome": outcome,
                            "reason": "no implementation factor with data and variation"})
            continue
        if n_groups < spec.min_groups:
            skipped.append({"analysis": "moderator models", "outcome": outcome, "reason": (
                f"{n_groups} group(s) with scores; at least {spec.min_groups} are needed")})
            continue
        fitted, log = fit_moderators(
            data, outcome=outcome, fixed=spec.fixed, random=list(params.growth["random"]),
            factors=factor_columns, baseline=params.baseline, time_terms=time_terms, workers=stage_workers(),
        )
        fitted_models = set(log.loc[log["status"] == "accepted", "model"])
        for model in ["joint", *factor_columns]:
            if model not in fitted_models:
                skipped.append({"analysis": f"moderator model {model}", "outcome": outcome, "reason": (
                    "no random-effects structure gave an acceptable fit (see structures.csv)")})
        effects.append(fitted)
        structures.append(log)
        progress(f"moderator models of {outcome} fitted")
    moderators = pd.concat(effects, ignore_index=True) if effects else pd.DataFrame(columns=MODERATOR_COLUMNS)
    write_table(out_dir / "moderators.csv", moderators)
    write_table(
        out_dir / "structures.csv",
        pd.concat(structures, ignore_index=True) if structures else pd.DataFrame(columns=STRUCTURE_COLUMNS),
    )

    directions = {o: scales[o][1].direction for o in spec.outcomes}
    names = {o: scales[o][1].name.en.lower() for o in spec.outcomes}
    method_unit = "groups mostly using this method vs the most common one"
    units = {**UNITS, **{f: method_unit for f in factor_columns.get("method", [])}}
    ranked = rank_factors(moderators, directions=directions, outcome_names=names, units=units)
    ranked = ranked.reindex(columns=RANKED_COLUMNS)
    write_table(out_dir / "factors_ranked.csv", ranked)
    drawn = 0
    for outcome in spec.outcomes:
        part = ranked[(ranked["outcome"] == outcome) & ranked["effect"].notna()]
        if part.empty:
            continue
        forest = pd.DataFrame(
            {
                "label": part["factor"].str.replace("_", " ") + " (" + part["level"] + " groups)",
                "estimate": part["effect"],
                "ci95_low": part["ci_low"],
                "ci95_high": part["ci_high"],
            }
        )
        short = design.wave(design.short_term).label_en
        save_png(
            forest_figure(forest, title=f"Implementation factors: {names[outcome]}, up to {short}",
                          xlabel="effect on the short-term change (+ = better wellbeing)"),
            out_dir / "figures" / f"forest_{outcome}.png",
        )
        drawn += 1
    if not drawn:
        _no_figure(out_dir, "no moderator model could be estimated (see skipped.csv)")

    metrics: dict[str, float | int | bool] = {
        "n_participants": int(factors["participant"].nunique()),
        "n_groups": int(factors["group"].nunique()),
    }
    for row in aggregation[aggregation["programme"] == "all"].itertuples():
        for key in ("icc1", "icc2"):
            value = float(getattr(row, key))
            if np.isfinite(value):
                metrics[f"{row.construct}__{key}"] = round(value, 6)
        metrics[f"{row.construct}__justified"] = bool(row.justified)
    for direction in ("promoting", "hindering", "unclear"):
        metrics[f"n_{direction}"] = int((ranked["direction"] == direction).sum())
    for row in ranked[ranked["outcome"].isin(params.primary) & ranked["effect"].notna()].itertuples():
        metrics[f"{row.outcome}__{row.covariate}"] = round(float(row.effect), 6) + 0.0
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    write_skipped(out_dir, STAGE, skipped)
    progress(f"wrote aggregation checks, moderator models and ranked factors of {len(effects)} outcome(s)")
