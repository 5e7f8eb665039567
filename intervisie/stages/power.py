"""The DVC stage ``power``: sample sizes a programme needs, from the study's own variance estimates.

Reads ``data_clean/`` and the ``analyses`` section of ``params.yaml`` (the design, the outcomes and
``analyses.power``), writes ``components.csv`` (the variance estimates per outcome and horizon),
``sample_size.csv`` (participants and groups per arm for the observed and for chosen effect sizes)
and ``metrics.json``.  The round-table handout reads them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from analyses.power import change_components, sample_size
from intervisie.stages.common import DESIGN_FILE, Progress, analysis_scores, load_analysis_params, write_table
from pipeline.atomic import write_text


class PowerParams(BaseModel):
    """``analyses.power`` in params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = 0.05
    power: float = 0.80
    effect_sizes: list[float] = [0.2, 0.35, 0.5]


def run_power(clean_dir: Path, params_path: Path, out_dir: Path, progress: Progress) -> None:
    """Sample sizes for the short-term wave and the last wave of every outcome."""
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    options = PowerParams(**(getattr(params, "power", None) or {}))
    _participants, scores = analysis_scores(clean_dir, params)
    horizons = {"short": params.short_term, "long": params.waves[-1]}
    components, sizes = [], []
    for scale in params.outcomes():
        for horizon, wave in horizons.items():
            try:
                parts = change_components(scores, scale=scale, baseline=params.baseline, follow_up=wave)
            except ValueError as exc:
                progress(f"power: {exc}; left out")
                continue
            key = {"outcome": scale, "horizon": horizon, "wave": wave}
            components.append({**key, **parts})
            table = sample_size(parts, effect_sizes=options.effect_sizes, alpha=options.alpha, power=options.power)
            sizes.append(table.assign(**key))
    comp = pd.DataFrame(components)
    size = pd.concat(sizes, ignore_index=True) if sizes else pd.DataFrame()
    if not size.empty:
        size = size[["outcome", "horizon", "wave", *[c for c in size.columns if c not in ("outcome", "horizon", "wave")]]]
    write_table(out_dir / "components.csv", comp)
    write_table(out_dir / "sample_size.csv", size)
    metrics = {}
    for row in size[size["basis"] == "d=0.35"].itertuples() if not size.empty else []:
        if row.outcome in params.primary:
            metrics[f"n_enrol_d035_{row.outcome}_{row.horizon}"] = None if pd.isna(row.n_enrol) else int(row.n_enrol)
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(f"wrote sample sizes for {len(comp)} outcome x horizon rows to {out_dir}")
