"""Time to caseness, the second half of the survival stage (``caseness.csv``, ``caseness_curve.csv``).

The caseness scale is the first outcome of the design with a published ">=" cut-off (or the
one ``analyses.survival.caseness.scale`` names).  The Turnbull curve of each arm is estimated
when the arm has at least ``min_n`` people at risk and 5 cases; the Weibull models compare the
arms and so need a comparison cohort.  What cannot be estimated is a row of ``skipped.csv``
(and, for a model that was planned but rests on fewer than 5 cases or does not converge, rows
with NaN and a ``note`` in ``caseness.csv``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from lifelines.exceptions import ConvergenceError

from analyses.caseness import caseness_intervals, caseness_weibull, turnbull_curve
from analyses.data import wave_scores
from analyses.survival import MIN_EVENTS
from intervisie.stages.common import AnalysisParams, write_table

if TYPE_CHECKING:
    from intervisie.stages.survival import SurvivalParams

CASENESS_COLUMNS = ["model", "term", "estimate", "ci_low", "ci_high", "p_val", "n", "events", "note"]
CURVE_COLUMNS = ["arm", "time_lower", "time_upper", "survival"]
ARM_TERMS = ("time_ratio:arm_intervisie", "hazard_ratio:arm_intervisie")


def _not_estimated(model: str, *, n: int, events: int, note: str) -> pd.DataFrame:
    """Rows with NaN estimates and the reason; a count of fewer than 5 cases is not written."""
    shown = events if events >= MIN_EVENTS else None
    rows = [{"model": model, "term": t, "n": n, "events": shown, "note": note} for t in (*ARM_TERMS, "shape_rho")]
    return pd.DataFrame(rows).reindex(columns=CASENESS_COLUMNS)


def _covariates(intervals: pd.DataFrame, names: list[str], min_n: int, skipped: list[dict[str, str]]) -> list[str]:
    """The covariates with at least two levels, each with ``min_n`` people at risk."""
    kept = []
    for name in names:
        counts = intervals[name].astype(str).value_counts()
        if len(counts) < 2 or counts.min() < min_n:
            skipped.append({"analysis": f"caseness covariate {name}",
                            "reason": f"{name} has fewer than two levels with {min_n} or more people at risk"})
        else:
            kept.append(name)
    return kept


def _models(
    intervals: pd.DataFrame,
    covariates: list[str],
    min_n: int,
    skipped: list[dict[str, str]],
    outcome: str,
    levels: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """Weibull models of the arm (and the covariates); NaN rows with a note where not estimable.

    ``levels`` gives a factor's declared order (its first level is the reference).
    """
    n, events = len(intervals), int(intervals["case"].sum())
    covariates = _covariates(intervals, covariates, min_n, skipped)
    adjusted = "weibull_arm_" + "_".join(covariates) if covariates else "weibull_arm"
    plan = [("weibull_arm", [])] + ([(adjusted, covariates)] if covariates else [])
    per_arm = intervals.groupby("arm")["case"].agg(["size", "sum"])
    bounds = pd.concat([intervals["lower"], intervals["upper"]])
    times = set(bounds[np.isfinite(bounds) & (bounds > 0)].round(9))
    reason = ""
    if len(times) < 2:
        reason = ("not estimated: one follow-up wave only, so a case is known only to lie before it and the "
                  "Weibull shape (and with it the time ratio) is not identified")
    elif events < MIN_EVENTS:
        reason = f"not estimated: fewer than {MIN_EVENTS} cases"
    elif (per_arm["size"] < min_n).any():
        reason = f"not estimated: an arm has fewer than {min_n} people at risk"
    elif (per_arm["sum"] == 0).any():
        reason = "not estimated: no case in one arm, so the time ratio is not finite"
    tables = []
    for model, names in plan:
        if reason:
            tables.append(_not_estimated(model, n=n, events=events, note=reason))
            continue
        try:
            tables.append(caseness_weibull(intervals, covariates=names, model=model, levels=levels))
        except (ConvergenceError, np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
            note = f"not estimated: the Weibull model did not converge ({type(exc).__name__})"
            tables.append(_not_estimated(model, n=n, events=events, note=note))
    if reason:
        skipped.append({"analysis": "time to caseness: intervisie vs comparison", "outcome": outcome, "reason": reason})
    caseness = pd.concat(tables, ignore_index=True).reindex(columns=CASENESS_COLUMNS)
    fitted = caseness["note"].isna()
    caseness["note"] = caseness["note"].fillna("")
    caseness.loc[fitted, "note"] = np.where(caseness.loc[fitted, "model"] == adjusted, "primary", "")
    hr = fitted & caseness["term"].str.startswith("hazard_ratio")
    caseness.loc[hr, "note"] += "; HR = exp(-b * rho), delta-method CI, p of the time ratio"
    caseness["note"] = caseness["note"].str.lstrip("; ")
    caseness.attrs["primary"] = adjusted
    return caseness


def run_caseness(
    tables: dict, params: AnalysisParams, spec: SurvivalParams, out_dir: Path, skipped: list[dict[str, str]]
) -> dict[str, float | int | bool]:
    """Write ``caseness.csv`` and ``caseness_curve.csv`` as far as the design allows; return the metrics."""
    options, metrics = spec.caseness, {}
    caseness, curves = pd.DataFrame(columns=CASENESS_COLUMNS), []
    scores = pd.DataFrame()
    reason = ""
    if options.scale is None or options.threshold is None:
        reason = "no outcome of the study has a published cut-off for caseness ('>=' in its instrument file)"
    elif params.design.scales[options.scale].higher_is_better:
        reason = (f"'{options.scale}' is a scale on which higher is better; time to caseness counts reaching a line "
                  "from below (a score at or above it is a case), so it needs a scale on which higher is worse")
    else:
        scores = wave_scores(tables["participants"], tables["responses"], tables["scale_scores"],
                             knot=params.knot_months)
        if not (scores["scale"] == options.scale).any():
            reason = f"no valid wave scores of the caseness scale '{options.scale}'"
    intervals = pd.DataFrame()
    if not reason:
        intervals = caseness_intervals(scores, scale=options.scale, threshold=options.threshold,
                                       baseline=params.baseline)
        if len(intervals) < spec.min_n:
            reason = f"fewer than {spec.min_n} people below the caseness line at baseline with a later wave"
    if reason:
        skipped.append({"analysis": "time to caseness", "outcome": options.scale or "", "reason": reason})
    else:
        for arm, part in intervals.groupby("arm", sort=True):
            if len(part) < spec.min_n or part["case"].sum() < MIN_EVENTS:
                skipped.append({"analysis": f"caseness curve ({arm})", "outcome": options.scale, "reason": (
                    f"fewer than {spec.min_n} people at risk or {MIN_EVENTS} cases in this arm")})
            else:
                curves.append(turnbull_curve(part, by="arm"))
        if not params.design.has_comparison or intervals["arm"].nunique() < 2:
            skipped.append({"analysis": "time to caseness: intervisie vs comparison", "outcome": options.scale,
                            "reason": "no comparison cohort: the difference between arms cannot be estimated"})
        else:
            caseness = _models(intervals, list(options.covariates), spec.min_n, skipped, options.scale,
                               {"programme": params.design.programme_ids})
            primary = caseness[caseness["model"] == caseness.attrs["primary"]].set_index("term")
            metrics["caseness_n"] = int(primary["n"].iloc[0])
            if pd.notna(primary["events"].iloc[0]):
                metrics["caseness_events"] = int(primary["events"].iloc[0])
            for term in ARM_TERMS:
                value = float(primary.loc[term, "estimate"])
                if np.isfinite(value):
                    metrics[f"caseness_{term.split(':')[0]}_intervisie"] = round(value, 6)
            p_val = float(primary.loc[ARM_TERMS[1], "p_val"])
            if np.isfinite(p_val):
                metrics["caseness_p_val"] = float(f"{p_val:.6g}")
    write_table(out_dir / "caseness.csv", caseness)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    write_table(out_dir / "caseness_curve.csv", curve.reindex(columns=CURVE_COLUMNS))
    return metrics
