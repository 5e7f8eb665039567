"""The simulation manifest: what was planted where, and the realised truths behind the data.

The true effects themselves are the configuration's (``simulation.yaml``); the manifest
adds what only exists once the study is drawn: each planted defect with its file, row and
column, the realised design, the groups' true coach quality, structure and safety, who left
intervisie and when, and the centring constants of the implementation covariates.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline.atomic import write_text
from pipeline.simulate.config import SimulationConfig
from pipeline.simulate.covariates import covariate_truth
from pipeline.simulate.defects import Record
from pipeline.simulate.sessions import DAYS_PER_MONTH
from pipeline.simulate.simulation import Simulation
from pipeline.simulate.tables import Export

ROW_NUMBERS = (
    "row = the 1-based row a person sees: CSV line with the header as row 1 (Qualtrics: three header rows, data "
    "from row 4); Excel row with the header as row 1; SPSS case number"
)


def build_manifest(
    cfg: SimulationConfig,
    config_name: str,
    sim: Simulation,
    exports: dict[str, Export],
    records: list[Record],
    *,
    n_participants: int | None,
    formats: str,
    checksums: dict[str, str] | None = None,
) -> dict:
    """Return the manifest as plain data (see module docstring).

    ``checksums`` (file name -> SHA-256 of the written bytes) let the ingest accept the study's
    published demo key for exactly these files and no others (:func:`pipeline.keys.demo_data_problem`).
    """
    sums = checksums or {}
    people, groups, coaches = sim.cohort.people, sim.cohort.groups, sim.cohort.coaches
    counts: dict[str, Counter] = {}
    for rec in records:
        counts.setdefault(str(rec["defect"]), Counter())[str(rec["file"])] += 1
    design = {}
    for key in cfg.design.programmes:
        mine = people["programme"] == key
        design[key] = {
            "intervisie": int((mine & people["intervisie"]).sum()),
            "comparison": int((mine & ~people["intervisie"]).sum()),
            "groups": int((groups["programme"] == key).sum()),
        }
    left = np.isfinite(sim.model.leave_months)
    left_on = people["start"].to_numpy()[left] + np.round(sim.model.leave_months[left] * DAYS_PER_MONTH).astype(
        "timedelta64[D]"
    )
    treated = people["programme"].to_numpy()[people["intervisie"].to_numpy()]
    average = {
        scale: round(_average(outcome.params.effect_short, treated), 6)
        for scale, outcome in sim.model.outcomes.items()
        if outcome.params.effect_short != 0
    }
    return {
        "generated_by": "intervisie simulate (pipeline.simulate)",
        "configuration": config_name,
        "seed": cfg.seed,
        "n_participants": n_participants,
        "formats": formats,
        "row_numbers": ROW_NUMBERS,
        "design": {
            "programmes": design,
            "coaches": len(coaches),
            "sessions": len(sim.sessions),
            "attendance_rows": len(sim.attendance),
            "session_evaluations": len(sim.evaluations),
        },
        "files": {
            name: {"format": e.source.format, "data_rows": len(e.frame), **({"sha256": sums[name]} if name in sums else {})}
            for name, e in exports.items()
        },
        "defect_counts": {k: dict(sorted(v.items())) for k, v in sorted(counts.items())},
        "defects": records,
        "truth": {
            "true_effects": f"{config_name} (outcomes.scales, implementation, dropout, response)",
            "short_term_effect_average": average,
            "implementation_centres": sim.centres,
            **covariate_truth(cfg, sim.covariates, people),
            "left_intervisie": {
                "columns": ["participant_id", "left_on"],
                "rows": [[p, str(d)[:10]] for p, d in zip(people["pid"].to_numpy()[left], left_on, strict=True)],
            },
            "groups": {
                "columns": [
                    "group_id",
                    "programme",
                    "coach_id",
                    "online",
                    "coach_quality_z",
                    "structure_z",
                    "safety_z",
                ],
                "rows": [
                    [
                        g,
                        p,
                        coaches["coach_id"].iat[int(c)],
                        bool(o),
                        round(float(q), 4),
                        round(float(s), 4),
                        round(float(f), 4),
                    ]
                    for g, p, c, o, q, s, f in groups[
                        ["group_id", "programme", "coach", "online", "coach_quality", "structure", "safety"]
                    ].itertuples(index=False, name=None)
                ],
            },
        },
    }


def _average(value: float | dict[str, float], programmes: np.ndarray) -> float:
    """Return the short-term effect averaged over intervisie participants (programme effects weighted)."""
    if isinstance(value, dict):
        return float(pd.Series(programmes).map(value).mean()) if len(programmes) else 0.0
    return float(value)


def write_manifest(path: Path, manifest: dict) -> None:
    """Write the manifest as YAML (leaf lists in flow style, so each defect is one line)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(manifest, Dumper=dumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)
    write_text(path, "# Written by `intervisie simulate`; do not edit (regenerate instead).\n" + text)
