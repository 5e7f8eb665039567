"""The DVC stage ``power``: sample sizes a programme needs, from the study's own variance estimates.

Reads ``data_clean/`` and the ``analyses`` section of ``params.yaml`` (the design, the outcomes and
``analyses.power``), writes ``components.csv`` (the variance estimates per outcome and horizon),
``sample_size.csv`` (participants and groups per arm for the observed and for chosen effect sizes),
``skipped.csv`` and ``metrics.json``.  The round-table handout reads them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from analyses.power import change_components, sample_size, sample_size_within, within_components
from intervisie.stages.common import (
    DESIGN_FILE,
    Progress,
    analysis_scores,
    choice_section,
    load_analysis_params,
    write_skipped,
    write_table,
)
from pipeline.atomic import write_text


class PowerParams(BaseModel):
    """``analyses.power`` in params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = 0.05
    power: float = 0.80
    effect_sizes: list[float] = [0.2, 0.35, 0.5]


COMPONENT_COLUMNS = [
    "outcome", "horizon", "wave", "analysis", "n_treated", "n_comparison", "mean_change", "sd_change", "diff_change",
    "d_observed", "icc_change", "cluster_size", "retention_treated", "retention_comparison", "note",
]  # fmt: skip
SIZE_COLUMNS = [
    "outcome", "horizon", "wave", "analysis", "basis", "effect_d", "effect_raw", "design_effect", "retention",
    "n_unclustered", "n_analysed", "n_enrol", "groups_needed", "alpha", "power", "note",
]  # fmt: skip
BETWEEN = "difference in change between arms"
WITHIN = "within-person change (one arm)"


def run_power(clean_dir: Path, params_path: Path, out_dir: Path, progress: Progress) -> None:
    """Sample sizes for the short-term wave and (when the design has one) the last wave of every outcome.

    With a comparison cohort: participants per arm for the difference in change between arms.
    Without one: that is not applicable (``skipped.csv``), and the stage gives the participants
    needed to detect within-person change in the one arm instead (:func:`sample_size_within`).
    The long-term horizon exists only when a wave follows the short-term wave.
    """
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    options = choice_section(params, "power", PowerParams, params_path)
    _participants, scores = analysis_scores(clean_dir, params)
    design = params.design
    skipped: list[dict[str, str]] = []
    horizons = {"short": params.short_term}
    if design.long_term:
        horizons["long"] = params.waves[-1]
    else:
        skipped.append({"analysis": "sample size, long-term horizon",
                        "reason": f"no wave after the short-term wave {params.short_term}: there is no long-term change"})
    comparison = design.has_comparison
    if not comparison:
        skipped.append({"analysis": f"sample size, {BETWEEN}",
                        "reason": "no comparison cohort: the difference between arms cannot be estimated, so its "
                                  "sample size is not applicable; the within-person change of the one arm is given"})
    analysis = BETWEEN if comparison else WITHIN
    components, sizes = [], []
    for scale in params.outcomes():
        for horizon, wave in horizons.items():
            kwargs = {"scale": scale, "baseline": params.baseline, "follow_up": wave}
            try:
                parts = change_components(scores, **kwargs) if comparison else within_components(scores, **kwargs)
            except ValueError as exc:
                skipped.append({"analysis": f"sample size, {horizon} horizon", "outcome": scale,
                                "reason": f"not estimable: {exc}"})
                progress(f"power: {exc}; left out")
                continue
            key = {"outcome": scale, "horizon": horizon, "wave": wave, "analysis": analysis}
            components.append({**key, **parts})
            size = sample_size if comparison else sample_size_within
            table = size(parts, effect_sizes=options.effect_sizes, alpha=options.alpha, power=options.power)
            sizes.append(table.assign(**key))
    comp = pd.DataFrame(components).reindex(columns=COMPONENT_COLUMNS)
    size = pd.concat(sizes, ignore_index=True).reindex(columns=SIZE_COLUMNS) if sizes else pd.DataFrame(
        columns=SIZE_COLUMNS
    )
    write_table(out_dir / "components.csv", comp)
    write_table(out_dir / "sample_size.csv", size)
    write_skipped(out_dir, "power", skipped)
    metrics = {}
    for row in size[size["basis"] == "d=0.35"].itertuples():
        if row.outcome in params.primary:
            metrics[f"n_enrol_d035_{row.outcome}_{row.horizon}"] = None if pd.isna(row.n_enrol) else int(row.n_enrol)
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(f"wrote sample sizes for {len(comp)} outcome x horizon rows to {out_dir}")
