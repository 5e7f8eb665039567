"""The reliability and short-term change stages (``intervisie analyze reliability|change``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analyses.short_term import change_results, reliability_results
from intervisie.choices import read_params
from intervisie.stages.adjusted import (
    ADJUSTED_COLUMNS,
    BALANCE_COLUMNS,
    AdjustedParams,
    adjusted_tables,
    clean_covariates,
    write_love_plot,
)
from intervisie.stages.common import (
    DESIGN_FILE,
    Progress,
    analysis_scores,
    choice_section,
    load_analysis_params,
    read_clean,
    stage_workers,
    write_skipped,
    write_table,
)
from pipeline.atomic import write_text
from pipeline.errors import InputError
from pipeline.instruments import load_library


def run_reliability(
    clean_dir: Path, instruments_dir: Path, params_path: Path, out_dir: Path, progress: Progress
) -> None:
    """Reliability of every scale per wave and programme: alpha (CI), omega, item-rest correlations."""
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    tables = read_clean(clean_dir, ("participants", "responses", "item_responses"))
    table = reliability_results(
        tables["item_responses"],
        tables["responses"],
        tables["participants"],
        load_library(instruments_dir),
        threshold=params.reliability_threshold,
        workers=stage_workers(),
    )
    write_table(out_dir / "reliability.csv", table)
    overall = table[table["programme"] == "all"]
    skipped = [
        {"analysis": f"reliability at {row.wave}" if pd.notna(row.wave) else "reliability", "outcome": str(row.scale),
         "reason": str(row.note)}
        for row in overall.itertuples()
        if pd.isna(row.alpha) and row.scale in params.outcomes()
    ]
    if table.empty:
        skipped.append({"analysis": "reliability", "reason": "no item responses of any instrument in the library"})
    write_skipped(out_dir, "reliability", skipped)
    metrics = {
        "scales_checked": int(overall["scale"].nunique()),
        "scale_waves_below_threshold": int(overall["flag_below_threshold"].astype("boolean").fillna(False).sum()),
    }
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(f"wrote reliability of {metrics['scales_checked']} scales to {out_dir}")


def run_change(
    clean_dir: Path,
    instruments_dir: Path,
    reliability_path: Path,
    params_path: Path,
    out_dir: Path,
    progress: Progress,
) -> None:
    """Short-term effects: within-arm change, between-arm difference, reliable change, responsiveness."""
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    _participants, scores = analysis_scores(clean_dir, params)
    library = load_library(instruments_dir)
    directions = {s.id: s.direction == "higher_better" for inst in library.values() for s in inst.scales}
    unknown = [s for s in params.outcomes() if s not in directions]
    if unknown:
        raise InputError(f"{params_path}: outcome scale(s) {unknown} are not scales of the instrument library")
    if reliability_path.exists():
        reliability = pd.read_csv(reliability_path)
    else:  # scored data supplied without item responses: no alpha, so no reliable change index
        progress(f"{reliability_path} not found: reliable change (which needs each scale's alpha) is left out")
        reliability = pd.DataFrame(columns=["scale", "wave", "programme", "alpha"])
    results, skipped = change_results(
        scores,
        reliability,
        scales=params.outcomes(),
        baseline=params.baseline,
        short_term=params.short_term,
        directions=directions,
    )
    if not params.design.has_comparison and not any(r["analysis"].startswith("difference") for r in skipped):
        skipped.append({"analysis": "difference in change between arms",
                        "reason": "no comparison cohort: the difference between arms cannot be estimated"})
    for name, table in results.items():
        write_table(out_dir / f"{name}.csv", table)
    options = choice_section(params, "adjusted", AdjustedParams, params_path)
    adjusted, balance = pd.DataFrame(columns=ADJUSTED_COLUMNS), pd.DataFrame(columns=BALANCE_COLUMNS)
    if params.design.has_comparison:
        covariates = clean_covariates(clean_dir)
        alpha = float(params.section("sensitivity").get("alpha", 0.05))
        adjusted, balance = adjusted_tables(scores, covariates, params.design, params.outcomes(), options, alpha=alpha)
    else:
        skipped.append({"analysis": "baseline-adjusted difference between arms",
                        "reason": "no comparison cohort: there is no difference between arms to adjust"})
    bad = balance[balance["imbalanced"].astype(bool)] if not balance.empty else balance
    if not bad.empty:
        progress(f"warning: after weighting the arms still differ by more than {options.smd_threshold} SD on "
                 + "; ".join(f"{r.covariate} ({r.outcome})" for r in bad.itertuples()) + " (results/change/balance.csv)")
    write_table(out_dir / "adjusted.csv", adjusted)
    write_table(out_dir / "balance.csv", balance)
    min_cell = int((read_params(params_path).get("reports") or {}).get("min_cell", 5))
    write_love_plot(balance, params.design, out_dir / "figures" / "love_plot.png", options.smd_threshold, min_cell)
    write_skipped(out_dir, "change", skipped)
    between = results["between_arms"]
    overall = between[between["programme"] == "all"].set_index("outcome")
    metrics = {
        f"g_change_{scale}": round(float(overall.loc[scale, "g"]), 6)
        for scale in params.primary
        if scale in overall.index and pd.notna(overall.loc[scale, "g"])
    }
    if not adjusted.empty:
        done = adjusted.set_index("outcome")["std_estimate"]
        metrics |= {f"adjusted_std_{scale}": round(float(done[scale]), 6) for scale in params.primary
                    if scale in done.index and pd.notna(done[scale])}  # fmt: skip
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(f"wrote short-term change of {len(params.outcomes())} outcomes to {out_dir}")
