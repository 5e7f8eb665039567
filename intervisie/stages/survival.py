"""The survival stage (``intervisie analyze survival``): leaving intervisie, and time to burnout caseness.

Reads the canonical tables, takes its choices from ``analyses.survival`` in ``params.yaml`` and
writes under ``--out``: ``km.csv``, ``km_summary.csv`` (Kaplan-Meier curves of staying in
intervisie, overall and by programme and format), ``cox.csv`` and ``ph_test.csv`` (Cox model
of leaving with the implementation factors, the proportional-hazards check and what was done
about it), ``caseness.csv`` and ``caseness_curve.csv`` (interval-censored time to burnout
caseness, intervisie vs comparison), ``figures/km_<by>.png`` and ``metrics.json``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict

from analyses.caseness import caseness_intervals, caseness_weibull, turnbull_curve
from analyses.data import wave_scores
from analyses.figures import save_png
from analyses.survival import DropoutCox, Term, dropout_times, kaplan_meier
from intervisie.stages.common import (
    DESIGN_FILE,
    Progress,
    choice_section,
    load_analysis_params,
    read_clean,
    write_table,
)
from pipeline.atomic import write_text
from pipeline.errors import InputError


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
    caseness: CasenessParams


def _z(values: pd.Series) -> pd.Series:
    return (values - values.mean()) / values.std(ddof=1)


def group_rating_z(
    scale_scores: pd.DataFrame, sessions: pd.DataFrame, participants: pd.DataFrame, scale: str
) -> pd.Series:
    """Mean of a rating per reflection group, standardised over groups (``z = (m - mean) / sd``).

    A rating given at a session belongs to the session's group (``sessions.parquet``); one given
    at a survey wave to the participant's group (``participants.parquet``).
    """
    rows = scale_scores[(scale_scores["scale"].astype(str) == scale) & (scale_scores["score_status"] == "ok")]
    if rows.empty:
        raise InputError(f"scale_scores.parquet has no valid scores of scale '{scale}' (params: group_scales)")
    by_session = dict(zip(sessions["session"].astype(str), sessions["group"].astype(str), strict=True))
    members = participants[participants["group"].notna()]
    by_person = dict(zip(members["participant"].astype(str), members["group"].astype(str), strict=True))
    session = rows["session"].astype("string")
    group = session.map(by_session).fillna(rows["participant"].astype(str).map(by_person))
    means = rows["score"].groupby(group.to_numpy()).mean()
    return _z(means[means.index.isin(participants["group"].dropna().astype(str))])


def cox_data(
    times: pd.DataFrame, scale_scores: pd.DataFrame, sessions: pd.DataFrame, participants: pd.DataFrame,
    spec: SurvivalParams, baseline: str,
) -> tuple[pd.DataFrame, list[Term]]:
    """Add the Cox covariates to the dropout times; return the data and the model's terms.

    Baseline scales: the participant's score at ``baseline``, z over the participants here.
    Group scales: :func:`group_rating_z`.  Factors: indicators for all but the most common level.
    """
    data, terms = times.copy(), []
    ok = scale_scores[(scale_scores["score_status"] == "ok") & (scale_scores["wave"].astype("string") == baseline)]
    for scale in spec.baseline_scales:
        rows = ok[ok["scale"].astype(str) == scale]
        score = rows.set_index(rows["participant"].astype(str))["score"]
        data[f"{scale}_z"] = _z(data["participant"].map(score))
        terms.append(Term(f"{scale}_z", (f"{scale}_z",)))
    for scale in spec.group_scales:
        data[f"{scale}_z"] = data["group"].map(group_rating_z(scale_scores, sessions, participants, scale))
        terms.append(Term(f"{scale}_z", (f"{scale}_z",)))
    for factor in spec.factors:
        counts = data[factor].value_counts()
        reference = sorted(counts[counts == counts.max()].index)[0]
        columns = tuple(f"{factor}_{lv}" for lv in sorted(set(counts.index) - {reference}))
        for col in columns:
            data[col] = (data[factor] == col[len(factor) + 1 :]).astype(float)
        if columns:
            terms.append(Term(factor, columns, kind="factor", source=factor))
    return data, terms


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
    km = pd.concat(steps, ignore_index=True)
    km = km[["curve", "stratum", "time_months", "survival", "ci_low", "ci_high", "at_risk", "events", "note"]]
    summary = pd.concat(summaries, ignore_index=True)
    summary = summary[["curve", *[c for c in summary.columns if c != "curve"]]]
    return km, summary, by_curve


#: the design columns a curve, a Cox factor or a caseness covariate may name
DESIGN_COLUMNS = ("programme", "format")


def run_survival(clean_dir: Path, params_path: Path, out_dir: Path, progress: Progress) -> None:
    """Dropout (Kaplan-Meier, Cox with clustered SEs, PH check) and time to burnout caseness."""
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    spec = choice_section(params, "survival", SurvivalParams, params_path)
    for key, names, allowed in (
        ("km_by", spec.km_by, DESIGN_COLUMNS),
        ("factors", spec.factors, DESIGN_COLUMNS),
        ("caseness.covariates", spec.caseness.covariates, ("programme",)),
    ):
        unknown = sorted(set(names) - set(allowed))
        if unknown:
            raise InputError(f"{params_path}: analyses.survival.{key} names {unknown}; allowed: {list(allowed)}")
    tables = read_clean(clean_dir, ("participants", "responses", "scale_scores", "sessions"))
    participants, scale_scores = tables["participants"], tables["scale_scores"]
    times = dropout_times(participants, follow_up_months=spec.follow_up_months, censor_date=spec.censor_date)
    km, km_summary, by_curve = _km_tables(times, spec)
    write_table(out_dir / "km.csv", km)
    write_table(out_dir / "km_summary.csv", km_summary)
    for curve in spec.km_by:
        save_png(km_figure(by_curve[curve], title=f"Staying in intervisie by {curve}"),
                 out_dir / "figures" / f"km_{curve}.png")

    data, terms = cox_data(times, scale_scores, tables["sessions"], participants, spec, params.baseline)
    cox = DropoutCox(terms, cluster="group", ph_alpha=spec.ph_alpha, split_months=spec.ph_split_months)
    cox.fit(data, duration="months", event="left")
    write_table(out_dir / "cox.csv", cox.summary)
    write_table(out_dir / "ph_test.csv", cox.ph_test_)

    scores = wave_scores(participants, tables["responses"], scale_scores)
    intervals = caseness_intervals(
        scores, scale=spec.caseness.scale, threshold=spec.caseness.threshold, baseline=params.baseline
    )
    adjusted = "weibull_arm_" + "_".join(spec.caseness.covariates) if spec.caseness.covariates else "weibull_arm"
    models = [caseness_weibull(intervals, model="weibull_arm")]
    if spec.caseness.covariates:
        models.append(caseness_weibull(intervals, covariates=spec.caseness.covariates, model=adjusted))
    caseness = pd.concat(models, ignore_index=True)
    caseness["note"] = np.where(caseness["model"] == adjusted, "primary", "")
    caseness.loc[caseness["term"].str.startswith("hazard_ratio"), "note"] += (
        "; HR = exp(-b * rho), delta-method CI, p of the time ratio"
    )
    caseness["note"] = caseness["note"].str.lstrip("; ")
    write_table(out_dir / "caseness.csv", caseness)
    write_table(out_dir / "caseness_curve.csv", turnbull_curve(intervals, by="arm"))

    metrics: dict[str, float | int | bool] = {"dropout_n": cox.n_, "dropout_events": cox.events_}
    overall = km_summary[km_summary["curve"] == "overall"].iloc[0]
    for t in spec.km_times:
        metrics[f"dropout_survival_{t:g}m"] = round(float(overall[f"survival_{t:g}m"]), 6)
    for row in cox.summary[cox.summary["primary"]].itertuples():
        metrics[f"dropout_hr__{row.term}"] = round(float(row.hr), 6)
    metrics["ph_violations"] = int(cox.ph_test_["violated"].sum())
    metrics["ph_global_p_val"] = float(f"{cox.ph_test_['p_val'].iloc[-1]:.6g}")
    primary = caseness[caseness["model"] == (adjusted if spec.caseness.covariates else "weibull_arm")]
    metrics["caseness_n"] = int(primary["n"].iloc[0])
    metrics["caseness_events"] = int(primary["events"].iloc[0])
    for term in ("time_ratio:arm_intervisie", "hazard_ratio:arm_intervisie"):
        hit = primary[primary["term"] == term].iloc[0]
        metrics[f"caseness_{term.split(':')[0]}_intervisie"] = round(float(hit["estimate"]), 6)
    metrics["caseness_p_val"] = float(f"{hit['p_val']:.6g}")
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(
        f"wrote dropout ({cox.events_} of {cox.n_} left) and caseness ({metrics['caseness_events']} cases) to {out_dir}"
    )
