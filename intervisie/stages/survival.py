"""The survival stage (``intervisie analyze survival``): leaving intervisie, and time to caseness.

Reads the canonical tables, takes its choices from ``analyses.survival`` in ``params.yaml``
(defaults from the design) and writes under ``--out``: ``km.csv``, ``km_summary.csv``
(Kaplan-Meier curves of staying in intervisie, overall and by programme and format where the
design has them), ``cox.csv`` and ``ph_test.csv`` (Cox model of leaving with the implementation
factors, the proportional-hazards check and what was done about it), ``caseness.csv`` and
``caseness_curve.csv`` (interval-censored time to caseness on the first outcome with a
published cut-off, intervisie vs comparison: :mod:`intervisie.stages.survival_caseness`),
``figures/km_<by>.png``, ``metrics.json`` and ``skipped.csv``.

What the design or the data cannot support is skipped with its reason (``skipped.csv``) and
every declared table is still written with its header: no leaving dates (no dropout analysis),
no groups (no group ratings; robust SEs clustered on the person), a factor level with fewer
than ``min_n`` people, fewer than 5 events (no hazard ratio is published: NaN and a note), a
model the solver cannot fit.  The session log is used only to place session ratings in their
group; without it a rating belongs to the rater's group.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
from lifelines.exceptions import ConvergenceError
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict

from analyses.figures import save_png
from analyses.survival import (
    COX_COLUMNS,
    KM_COLUMNS,
    MIN_EVENTS,
    PH_COLUMNS,
    DropoutCox,
    Term,
    dropout_times,
    kaplan_meier,
)
from intervisie.stages.common import (
    DESIGN_FILE,
    Progress,
    choice_section,
    load_analysis_params,
    read_clean,
    write_skipped,
    write_table,
)
from intervisie.stages.survival_caseness import run_caseness
from pipeline.atomic import write_text
from pipeline.design import Design
from pipeline.errors import InputError

STAGE = "survival"


class CasenessParams(BaseModel):
    """``analyses.survival.caseness``: the scale, its caseness line, and covariates besides the arm."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: null when no outcome of the study has a published ">=" cut-off (the analysis is then skipped)
    scale: str | None
    threshold: float | None
    covariates: list[str]


class SurvivalParams(BaseModel):
    """``analyses.survival`` in ``params.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    follow_up_months: float
    censor_date: dt.date | None = None
    min_n: int = 5
    km_times: list[float]
    km_by: list[str]
    baseline_scales: list[str]
    group_scales: list[str]
    factors: list[str]
    ph_alpha: float = 0.05
    ph_split_months: float = 12.0
    #: fewer reflection groups than this: no group rating in the Cox model (its clustered SE
    #: would rest on too few clusters and be too small; Cameron & Miller 2015)
    min_groups: int = 10
    caseness: CasenessParams


def _z(values: pd.Series) -> pd.Series:
    sd = float(values.std(ddof=1))
    return (values - values.mean()) / sd if np.isfinite(sd) and sd > 0 else values * np.nan


def group_rating_z(
    scale_scores: pd.DataFrame, sessions: pd.DataFrame, participants: pd.DataFrame, scale: str
) -> pd.Series:
    """Mean of a rating per reflection group, standardised over groups (``z = (m - mean) / sd``).

    A rating given at a session belongs to the session's group (``sessions.parquet``; an empty
    table without a session log); one given at a survey wave, or at a session the log does not
    list, to the participant's group (``participants.parquet``).  Empty when no rating is valid.
    """
    rows = scale_scores[(scale_scores["scale"].astype(str) == scale) & (scale_scores["score_status"] == "ok")]
    if rows.empty:
        return pd.Series(dtype=float)
    by_session = dict(zip(sessions["session"].astype(str), sessions["group"].astype(str), strict=True))
    members = participants[participants["group"].notna()]
    by_person = dict(zip(members["participant"].astype(str), members["group"].astype(str), strict=True))
    session = rows["session"].astype("string")
    group = session.map(by_session).fillna(rows["participant"].astype(str).map(by_person))
    means = rows["score"].groupby(group.to_numpy()).mean()
    return _z(means[means.index.isin(participants["group"].dropna().astype(str))])


def cox_data(
    times: pd.DataFrame, scale_scores: pd.DataFrame, sessions: pd.DataFrame, participants: pd.DataFrame,
    spec: SurvivalParams, baseline: str, *, groups: bool = True, levels: dict[str, list[str]] | None = None,
) -> tuple[pd.DataFrame, list[Term], list[dict[str, str]]]:
    """Add the Cox covariates to the dropout times; return the data, the model's terms and what was left out.

    Baseline scales: the participant's score at ``baseline``, z over the participants here.
    Group scales: :func:`group_rating_z` (only with groups).  Factors: indicators for all but
    the reference level, the first of ``levels[factor]`` that occurs (programme: the first
    programme study.yaml lists), else the most common level (ties: the first by name); the
    reference is named in the results (``Term.reference``, ``cox.csv`` column ``reference``).  A covariate without variation, and a factor with one level or with
    a level of fewer than ``spec.min_n`` people, are left out with their reason.
    """
    data, terms, skipped = times.copy(), [], []
    ok = scale_scores[(scale_scores["score_status"] == "ok") & (scale_scores["wave"].astype("string") == baseline)]
    wanted = [(s, "baseline") for s in spec.baseline_scales] + [(s, "group") for s in spec.group_scales]
    for scale, kind in wanted:
        name = f"{scale}_z"
        if kind == "group" and not groups:
            skipped.append({"analysis": f"Cox covariate {name}", "reason": "no reflection groups: a group rating cannot be formed"})
            continue
        if kind == "group" and data["group"].nunique() < spec.min_groups:
            skipped.append({"analysis": f"Cox covariate {name}", "reason": (
                f"{data['group'].nunique()} groups, fewer than {spec.min_groups}: too few clusters for a group-level "
                "hazard ratio with clustered standard errors")})
            continue
        if kind == "baseline":
            rows = ok[ok["scale"].astype(str) == scale]
            data[name] = _z(data["participant"].map(rows.set_index(rows["participant"].astype(str))["score"]))
        else:
            data[name] = data["group"].map(group_rating_z(scale_scores, sessions, participants, scale))
        if data[name].notna().sum() < spec.min_n:
            where = f"at {baseline}" if kind == "baseline" else "of the groups"
            skipped.append({"analysis": f"Cox covariate {name}",
                            "reason": f"fewer than {spec.min_n} participants with a valid, varying score {where}"})
            data = data.drop(columns=name)
            continue
        terms.append(Term(name, (name,)))
    for factor in spec.factors:
        counts = data[factor].dropna().astype(str).value_counts() if factor in data else pd.Series(dtype=int)
        counts = counts[counts.index != "<NA>"]
        if len(counts) < 2:
            skipped.append({"analysis": f"Cox factor {factor}", "reason": f"{factor} has fewer than two levels here"})
            continue
        if counts.min() < spec.min_n:
            skipped.append({"analysis": f"Cox factor {factor}",
                            "reason": f"a level of {factor} has fewer than {spec.min_n} participants"})
            continue
        declared = [lv for lv in (levels or {}).get(factor, []) if lv in counts.index]
        reference = declared[0] if declared else sorted(counts[counts == counts.max()].index)[0]
        others = declared[1:] + sorted(set(counts.index) - set(declared)) if declared else sorted(set(counts.index) - {reference})
        columns = tuple(f"{factor}_{lv}" for lv in others)
        for col in columns:
            data[col] = (data[factor].astype(str) == col[len(factor) + 1 :]).astype(float)
        terms.append(Term(factor, columns, kind="factor", source=factor, reference=reference))
    return data, terms, skipped


def km_figure(steps: pd.DataFrame, *, title: str) -> Figure:
    """Step curves of staying in intervisie with 95% CI bands, one per stratum (suppressed ones left out)."""
    fig = Figure(figsize=(6.0, 3.6), dpi=110)
    ax = fig.subplots()
    for stratum, part in steps.dropna(subset=["survival"]).groupby("stratum", sort=True):
        line = ax.step(part["time_months"], part["survival"], where="post", label=str(stratum))[0]
        ax.fill_between(part["time_months"], part["ci_low"], part["ci_high"], step="post", alpha=0.15,
                        color=line.get_color(), linewidth=0)
    ax.set_xlabel("months since start of intervisie")
    ax.set_ylabel("share still in intervisie")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(frameon=False, loc="lower left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _km_tables(times: pd.DataFrame, spec: SurvivalParams) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    steps, summaries, by_curve = [], [], {}
    for curve in ["overall", *spec.km_by]:
        step, summary = kaplan_meier(
            times, duration="months", event="left", by=None if curve == "overall" else curve,
            min_n=spec.min_n, times=spec.km_times,
        )
        steps.append(step.assign(curve=curve))
        summaries.append(summary.assign(curve=curve))
        by_curve[curve] = step
    km = pd.concat(steps, ignore_index=True).reindex(columns=["curve", *KM_COLUMNS])
    summary = pd.concat(summaries, ignore_index=True).reindex(columns=_summary_columns(spec))
    return km, summary, by_curve


def _summary_columns(spec: SurvivalParams) -> list[str]:
    columns = ["curve", "stratum", "n", "events", "median_months", "median_ci_low", "median_ci_high"]
    for t in spec.km_times:
        columns += [f"survival_{t:g}m", f"survival_{t:g}m_ci_low", f"survival_{t:g}m_ci_high"]
    return [*columns, "note"]


def _no_figure(out_dir: Path, reason: str) -> None:
    write_text(out_dir / "figures" / "README.txt", f"No figure was drawn: {reason}\n")


def _not_estimated(terms: list[Term], *, n: int, events: int | None, note: str) -> pd.DataFrame:
    rows = [{"model": "main", "term": c, "n": n, "events": events, "primary": True, "note": note}
            for t in terms for c in t.columns]
    return pd.DataFrame(rows).reindex(columns=COX_COLUMNS)


#: the design columns a curve, a Cox factor or a caseness covariate may name
DESIGN_COLUMNS = ("programme", "format")


def _dropout(
    tables: dict, design: Design, spec: SurvivalParams, baseline: str, out_dir: Path, skipped: list[dict[str, str]]
) -> dict[str, float | int | bool]:
    """Kaplan-Meier curves and the Cox model of leaving; writes their tables and figures, returns metrics."""
    participants, metrics = tables["participants"], {}
    empty_km = (pd.DataFrame(columns=["curve", *KM_COLUMNS]), pd.DataFrame(columns=_summary_columns(spec)))
    cox_table, ph_table = pd.DataFrame(columns=COX_COLUMNS), pd.DataFrame(columns=PH_COLUMNS)
    km, km_summary = empty_km
    reason = ""
    if not design.data.leaving_dates or "end_date" not in participants.columns:
        reason = "the roster has no leaving dates (end_date), so time in intervisie is unknown"
    groups = design.data.groups and "group" in participants.columns and participants["group"].notna().any()
    people = participants.copy()
    if not groups:  # no reflection groups: everyone is their own cluster (robust SEs, no clustering)
        people["group"] = people["participant"].astype(str)
    if "format" not in people.columns:
        people["format"] = pd.NA
    times = pd.DataFrame()
    if not reason:
        times = dropout_times(people, follow_up_months=spec.follow_up_months, censor_date=spec.censor_date)
        if len(times) < spec.min_n:
            reason = f"fewer than {spec.min_n} intervisie participants with a start date"
    if reason:
        skipped.append({"analysis": "dropout: Kaplan-Meier curves and Cox model", "reason": reason})
        _no_figure(out_dir, reason)
    else:
        km, km_summary, by_curve = _km_tables(times, spec)
        for curve in spec.km_by:
            save_png(km_figure(by_curve[curve], title=f"Staying in intervisie by {curve}"),
                     out_dir / "figures" / f"km_{curve}.png")
        if not spec.km_by:
            _no_figure(out_dir, "the design has one programme and no meeting format: only the overall curve (km.csv)")
        overall = km_summary[km_summary["curve"] == "overall"].iloc[0]
        for t in spec.km_times:
            value = float(overall[f"survival_{t:g}m"])
            if np.isfinite(value):
                metrics[f"dropout_survival_{t:g}m"] = round(value, 6)
        if not groups:
            skipped.append({"analysis": "group-clustered standard errors",
                            "reason": "no reflection groups: robust standard errors are not clustered"})
        cox_table, ph_table = _cox(times, tables, spec, baseline, groups, skipped, metrics, design.programme_ids)
    write_table(out_dir / "km.csv", km)
    write_table(out_dir / "km_summary.csv", km_summary)
    write_table(out_dir / "cox.csv", cox_table)
    write_table(out_dir / "ph_test.csv", ph_table)
    return metrics


def _cox(
    times: pd.DataFrame, tables: dict, spec: SurvivalParams, baseline: str, groups: bool,
    skipped: list[dict[str, str]], metrics: dict, programmes: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Cox model of leaving (NaN rows with a note when it cannot be estimated)."""
    data, terms, left_out = cox_data(
        times, tables["scale_scores"], tables["sessions"], tables["participants"], spec, baseline, groups=groups,
        levels={"programme": programmes},
    )
    skipped += left_out
    columns = [c for t in terms for c in t.columns]
    complete = data.dropna(subset=columns)
    n, events = len(complete), int(complete["left"].sum())
    metrics.update(dropout_n=n, dropout_events=events)
    ph_empty = pd.DataFrame(columns=PH_COLUMNS)
    if not terms:
        skipped.append({"analysis": "dropout Cox model", "reason": "no covariate with data and variation"})
        return pd.DataFrame(columns=COX_COLUMNS), ph_empty
    if events < MIN_EVENTS or n < spec.min_n:
        note = f"not estimated: fewer than {MIN_EVENTS} participants left intervisie (or fewer than {spec.min_n} in the model)"
        skipped.append({"analysis": "dropout Cox model", "reason": note})
        metrics.pop("dropout_events")  # no number about fewer than 5 people
        return _not_estimated(terms, n=n, events=None, note=note), ph_empty
    cox = DropoutCox(terms, cluster="group", ph_alpha=spec.ph_alpha, split_months=spec.ph_split_months)
    try:
        cox.fit(data, duration="months", event="left")
    except (ConvergenceError, np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
        note = f"not estimated: the Cox model did not converge ({type(exc).__name__})"
        skipped.append({"analysis": "dropout Cox model", "reason": note})
        return _not_estimated(terms, n=n, events=events, note=note), ph_empty
    per_coefficient = events / max(len(columns), 1)
    if per_coefficient < MIN_EVENTS:
        fitted = cox.summary["hr"].notna()
        cox.summary.loc[fitted, "note"] = (
            f"{per_coefficient:.1f} events per coefficient (fewer than {MIN_EVENTS}): hazard ratios are unstable "
            "(Vittinghoff & McCulloch 2007)"
        )
    for row in cox.summary[cox.summary["primary"] & cox.summary["hr"].notna()].itertuples():
        metrics[f"dropout_hr__{row.term}"] = round(float(row.hr), 6)
    main = cox.summary[cox.summary["model"] == "main"]
    metrics["dropout_clusters"] = int(main["clusters"].iloc[0])
    metrics["dropout_df"] = float(main["df"].iloc[0])
    metrics["ph_violations"] = int(cox.ph_test_["violated"].sum())
    metrics["ph_global_p_val"] = float(f"{cox.ph_test_['p_val'].iloc[-1]:.6g}")
    return cox.summary, cox.ph_test_


def run_survival(clean_dir: Path, params_path: Path, out_dir: Path, progress: Progress) -> None:
    """Dropout (Kaplan-Meier, Cox with clustered SEs, PH check) and time to caseness, as far as the design allows."""
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    spec = choice_section(params, STAGE, SurvivalParams, params_path)
    for key, names, allowed in (
        ("km_by", spec.km_by, DESIGN_COLUMNS),
        ("factors", spec.factors, DESIGN_COLUMNS),
        ("caseness.covariates", spec.caseness.covariates, ("programme",)),
    ):
        unknown = sorted(set(names) - set(allowed))
        if unknown:
            raise InputError(f"{params_path}: analyses.survival.{key} names {unknown}; allowed: {list(allowed)}")
    design = params.design
    tables = read_clean(clean_dir, ("participants", "responses", "scale_scores"))
    sessions_path = clean_dir / "sessions.parquet"
    tables["sessions"] = (
        pd.read_parquet(sessions_path) if design.data.sessions and sessions_path.exists()
        else pd.DataFrame({"session": pd.Series(dtype=str), "group": pd.Series(dtype=str)})
    )
    skipped: list[dict[str, str]] = []
    metrics = _dropout(tables, design, spec, params.baseline, out_dir, skipped)
    metrics |= run_caseness(tables, params, spec, out_dir, skipped)
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    write_skipped(out_dir, STAGE, skipped)
    progress(
        f"wrote dropout ({metrics.get('dropout_events', 'no')} of {metrics.get('dropout_n', 0)} left) and "
        f"caseness ({metrics.get('caseness_events', 'no')} cases) to {out_dir}; {len(skipped)} part(s) skipped"
    )
