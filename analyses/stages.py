"""The DVC stages of the analyses (shared parts, and the data-quality stage): read ``data_clean/`` (or supplied canonical tables), write ``results/``.

Each stage takes its paths from the command line (``dvc.yaml``) and its choices from one
section of ``params.yaml``, calls the pure functions of the ``analyses`` modules and writes
tidy CSV tables atomically.  Reports read these tables and never compute a statistic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from analyses.attrition import baseline_differences, missing_patterns, response_flow
from analyses.data import wave_scores
from pipeline.atomic import write_text
from pipeline.config import load_yaml_model
from pipeline.errors import InputError

Progress = Callable[[str], None]


class AnalysisParams(BaseModel):
    """The ``analyses`` section of ``params.yaml``: the design and the outcomes."""

    model_config = ConfigDict(extra="allow", frozen=True)

    waves: list[str]
    baseline: str
    short_term: str
    knot_months: float = 3.0
    primary: list[str]
    secondary: list[str] = []
    reliability_threshold: float = 0.70
    growth: dict = {}

    def outcomes(self) -> list[str]:
        """Return the primary, then the secondary outcome scales."""
        return [*self.primary, *self.secondary]


def load_analysis_params(path: Path) -> AnalysisParams:
    """Read the ``analyses`` section of ``params.yaml``."""
    return load_yaml_model(path, AnalysisParams, "parameters file", section="analyses")


def read_clean(clean_dir: Path, names: tuple[str, ...] = ("participants", "responses", "scale_scores")) -> dict:
    """Read canonical tables; a missing one is named with where to find the canonical form."""
    tables = {}
    for name in names:
        path = clean_dir / f"{name}.parquet"
        if not path.exists():
            raise InputError(f"{path} is missing: the analyses need {', '.join(names)} (see docs/canonical-form.md)")
        tables[name] = pd.read_parquet(path)
    return tables


def write_table(path: Path, table: pd.DataFrame) -> None:
    """Write a tidy result table as CSV, atomically and byte-for-byte reproducibly."""
    write_text(path, table.to_csv(index=False, lineterminator="\n"))


def analysis_scores(clean_dir: Path, params: AnalysisParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return participants and the long wave-score table the analyses share."""
    tables = read_clean(clean_dir)
    scores = wave_scores(tables["participants"], tables["responses"], tables["scale_scores"], knot=params.knot_months)
    return tables["participants"], scores


def run_quality(clean_dir: Path, params_path: Path, out_dir: Path, progress: Progress) -> None:
    """Data quality and attrition: response flow, missing patterns, completer vs dropout baselines."""
    params = load_analysis_params(params_path)
    participants, scores = analysis_scores(clean_dir, params)
    flow = response_flow(participants, scores, waves=params.waves)
    write_table(out_dir / "response_flow.csv", flow)
    write_table(out_dir / "missing_patterns.csv", missing_patterns(participants, scores, waves=params.waves))
    differences = baseline_differences(
        scores, scales=params.outcomes(), baseline=params.baseline, last=params.waves[-1]
    )
    write_table(out_dir / "baseline_differences.csv", differences)
    retention = (
        flow[flow["stage"] == params.waves[-1]].groupby("arm")["n"].sum()
        / flow[flow["stage"] == "roster"].groupby("arm")["n"].sum()
    )
    metrics = {f"retention_{arm}_{params.waves[-1]}": round(float(v), 6) for arm, v in retention.items()}
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(f"wrote response flow, missing patterns and baseline differences to {out_dir}")
