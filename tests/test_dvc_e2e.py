"""`dvc repro` on a fresh copy of the project runs the demo study end to end, and a second run does nothing.

This is what a researcher does after cloning; it also checks the clean data of the demo study
as a whole: the row accounting reconciles, every defect the simulator planted is caught, and no
identifier or free text from ``data_raw/`` reaches ``data_clean/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.hostile.project import shared_project

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("INTERVISIE_PSEUDONYM_KEY", None)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the project (as a clone would be, with canaries planted) after one `dvc repro`.

    The copy is shared with the privacy and crash-safety tests (tests/hostile/project.py), so the
    whole pipeline runs once for all of them.
    """
    return shared_project(tmp_path_factory)[0]


def test_repro_writes_every_declared_output(project: Path) -> None:
    stages = yaml.safe_load((project / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    for stage in stages.values():
        entries = stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", [])
        declared = [e if isinstance(e, str) else next(iter(e)) for e in entries]
        for out in declared:
            path = project / out
            assert path.is_file() or (path.is_dir() and any(path.iterdir())), out
    assert (project / "dvc.lock").is_file()


def test_second_repro_does_nothing(project: Path) -> None:
    result = _run([str(BIN / "dvc"), "repro"], project)
    assert result.returncode == 0, result.stderr
    assert "Data and pipelines are up to date" in result.stdout
    status = _run([str(BIN / "dvc"), "status"], project)
    assert "up to date" in status.stdout


def test_demo_rows_reconcile_and_metrics_show(project: Path) -> None:
    accounting = pd.read_csv(project / "data_clean" / "quality" / "row_accounting.csv")
    assert accounting["reconciles"].all()
    assert (accounting["rows_read"] == accounting[["rows_clean", "rows_quarantined", "rows_excluded"]].sum(axis=1)).all()
    shown = _run([str(BIN / "dvc"), "metrics", "show"], project)
    assert shown.returncode == 0 and "rows_read" in shown.stdout


def test_no_identifier_or_free_text_reaches_data_clean(project: Path) -> None:
    from tests.raw_identifiers import raw_identifiers

    secrets = raw_identifiers(ROOT / "data_raw" / "demo")
    assert len(secrets) > 500  # IDs, names, e-mail addresses and free-text answers of the demo study
    blobs = [p.read_bytes().decode("latin-1").casefold() for p in (project / "data_clean").rglob("*") if p.is_file()]
    cells = []
    for path in (project / "data_clean").rglob("*.parquet"):
        frame = pd.read_parquet(path)
        for column in frame.columns:
            if frame[column].dtype == object or str(frame[column].dtype) == "string":
                cells.extend(str(v).casefold() for v in frame[column].dropna().unique())
    cell_set = set(cells)
    leaked = [s for s in secrets if s.casefold() in cell_set or any(s.casefold() in b for b in blobs)]
    assert leaked == []
