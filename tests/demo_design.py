"""The demo study's design (``design.json``) written beside clean tables a test builds itself."""

from __future__ import annotations

from pathlib import Path

from intervisie.stages.design import run_design

ROOT = Path(__file__).parents[1]


def write_demo_design(clean_dir: Path, params: Path = ROOT / "params.yaml") -> Path:
    """Write the demo study's design into ``clean_dir/design.json`` and return its path."""
    path = clean_dir / "design.json"
    run_design(ROOT / "data_raw" / "demo" / "study.yaml", ROOT / "instruments", params, path)
    return path
