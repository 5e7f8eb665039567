"""`intervisie analyze all` runs on scored data a research team supplies in the canonical form.

The supplied tables are the demo study's, written as a researcher would (plain text columns,
no item responses, no raw exports): the results must equal those of the pipeline's own run on
the same data (a known answer: same data, same estimates), and reliability is left out with a
message instead of failing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from intervisie.stages.growth import run_growth
from intervisie.stages.ingest import run_ingest
from intervisie.stages.score import run_score
from tests.demo_design import write_demo_design

ROOT = Path(__file__).parents[1]
INTERVISIE = Path(sys.executable).parent / "intervisie"
pytestmark = pytest.mark.slow


def test_analyze_all_on_supplied_scored_tables(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    write_demo_design(clean)
    run_ingest(ROOT / "data_raw" / "demo" / "study.yaml", ROOT / "instruments", ROOT / "params.yaml", clean,
               lambda _m: None)
    run_score(clean, ROOT / "instruments", clean / "scale_scores.parquet", clean / "dd.csv", lambda _m: None)
    run_growth(clean, ROOT / "instruments", ROOT / "params.yaml", tmp_path / "own", lambda _m: None)

    supplied = tmp_path / "supplied"
    supplied.mkdir()
    write_demo_design(supplied)  # the design a team writes with `intervisie design --study` for its own data
    for name in ("participants", "responses", "scale_scores"):
        table = pd.read_parquet(clean / f"{name}.parquet")
        for column in table.columns:  # as a researcher's own export: text, not categories
            if isinstance(table[column].dtype, pd.CategoricalDtype):
                table[column] = table[column].astype("string")
        table.to_parquet(supplied / f"{name}.parquet", index=False)

    check = subprocess.run([str(INTERVISIE), "check-clean", "--clean", str(supplied)], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run(
        [str(INTERVISIE), "analyze", "all", "--clean", str(supplied), "--params", str(ROOT / "params.yaml"),
         "--instruments", str(ROOT / "instruments"), "--out", str(tmp_path / "results")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "reliability (and reliable change) left out" in run.stderr
    for part in ("quality/response_flow.csv", "change/between_arms.csv", "growth/effects.csv", "growth/wave_means.csv"):
        assert (tmp_path / "results" / part).is_file(), part
    theirs = pd.read_csv(tmp_path / "results" / "growth" / "effects.csv")
    ours = pd.read_csv(tmp_path / "own" / "effects.csv")
    assert_allclose(theirs["estimate"], ours["estimate"], rtol=1e-10)
    assert_allclose(theirs["std_error"], ours["std_error"], rtol=1e-10)
