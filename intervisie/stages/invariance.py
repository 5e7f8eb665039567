"""The measurement-invariance stage (``intervisie analyze invariance``).

Reads the clean item responses, scores each outcome scale's items in the scale's direction
(as the reliability stage does) and tests configural, metric and scalar invariance across the
programmes (multi-group CFA at baseline) and over the waves (a longitudinal CFA of the same
people; :mod:`analyses.invariance_tables`).  Writes ``summary.csv``
(one row per scale and comparison: the level that holds, the changes in CFI and RMSEA, the
items that break the next level), ``fit.csv`` (every model's fit), ``groups.csv`` (the people
per group), ``skipped.csv`` and ``metrics.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from analyses.invariance_tables import invariance_results
from analyses.short_term import scored_items
from intervisie.stages.common import (
    DESIGN_FILE,
    Progress,
    choice_section,
    load_analysis_params,
    read_clean,
    write_skipped,
    write_table,
)
from pipeline.atomic import write_text
from pipeline.instruments import load_library
from pipeline.itemtable import instrument_tables


class InvarianceParams(BaseModel):
    """``analyses.invariance`` in ``params.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: largest drop in CFI from one level to the next that still counts as invariant (Chen 2007)
    delta_cfi: float = Field(0.010, gt=0)
    #: largest rise in RMSEA from one level to the next that still counts as invariant (Chen 2007)
    delta_rmsea: float = Field(0.015, gt=0)
    #: fewest complete responses a group needs to enter the comparison
    min_per_group: int = Field(100, ge=10)


def _items_by_scale(
    tables: dict[str, pd.DataFrame], instruments_dir: Path, scales: list[str]
) -> dict[str, tuple[str, list[str], pd.DataFrame]]:
    """Each wave instrument's outcome scales: instrument id, item ids, scored items with participant, wave, programme."""
    participants, responses = tables["participants"], tables["responses"]
    programme = participants.astype({"participant": str}).set_index("participant")["programme"]
    design = responses.set_index("response_id")[["participant", "wave"]].astype({"participant": str})
    design = pd.DataFrame({"participant": design["participant"], "wave": design["wave"].astype(str),
                           "programme": design["participant"].map(programme).astype(str)})  # fmt: skip
    out: dict[str, tuple[str, list[str], pd.DataFrame]] = {}
    for inst, wide in instrument_tables(tables["item_responses"], load_library(instruments_dir)):
        wanted = [s for s in inst.scales if s.id in scales]
        if inst.occasion != "wave" or not wanted:
            continue
        items = scored_items(wide, inst, design)
        for scale in wanted:
            out[scale.id] = (inst.id, list(scale.items), items[[*scale.items, "participant", "wave", "programme"]])
    return {s: out[s] for s in scales if s in out}


def run_invariance(
    clean_dir: Path, instruments_dir: Path, params_path: Path, out_dir: Path, progress: Progress
) -> None:
    """Configural, metric and scalar invariance of every multi-item outcome scale across programmes and waves."""
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    options = choice_section(params, "invariance", InvarianceParams, params_path)
    tables = read_clean(clean_dir, ("participants", "responses", "item_responses"))
    scales = params.outcomes()
    items = _items_by_scale(tables, instruments_dir, scales)
    results, skipped = invariance_results(
        items,
        programmes=params.design.programme_ids,
        waves=params.waves,
        baseline=params.baseline,
        min_per_group=options.min_per_group,
        delta_cfi=options.delta_cfi,
        delta_rmsea=options.delta_rmsea,
    )
    skipped += [{"analysis": "measurement invariance", "outcome": s,
                 "reason": "no item responses of this scale at the waves"} for s in scales if s not in items]  # fmt: skip
    for name, table in results.items():
        write_table(out_dir / f"{name}.csv", table)
    write_skipped(out_dir, "invariance", skipped)
    summary = results["summary"]
    metrics = {
        "scales_tested": int(summary["scale"].nunique()),
        "comparisons_scalar": int((summary["holds"] == "scalar").sum()),
        "comparisons_not_scalar": int(summary["holds"].isin(["configural", "metric", "none"]).sum()),
    }
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(f"wrote measurement invariance of {metrics['scales_tested']} scales to {out_dir}")
