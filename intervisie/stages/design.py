"""The design stage (``intervisie design``): study.yaml + instruments + params -> ``design.json``.

The study's design is checked once, against the instrument library and the researcher's choices
in ``params.yaml``, before any data is read; every later stage and every report reads the
design from the file this stage writes.
"""

from __future__ import annotations

from pathlib import Path

from intervisie.choices import check_all_params, read_params
from pipeline.atomic import write_text
from pipeline.design import Design, build_design
from pipeline.instruments import load_library
from pipeline.study import load_study


def study_design(study_path: Path, instruments_dir: Path, params_path: Path) -> Design:
    """Read and check study.yaml, the instrument library and params.yaml together; return the design."""
    design = build_design(load_study(study_path), load_library(instruments_dir))
    check_all_params(read_params(params_path), design, params_path)
    return design


def run_design(study_path: Path, instruments_dir: Path, params_path: Path, out_path: Path) -> Design:
    """Write the checked design to ``out_path`` (JSON, byte-identical for the same inputs)."""
    design = study_design(study_path, instruments_dir, params_path)
    write_text(out_path, design.to_json())
    return design
