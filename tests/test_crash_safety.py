"""Crash safety and determinism of the DVC pipeline, on one copy of the project.

* A stage killed (SIGKILL) in the middle of writing an output leaves, at every output path,
  the old content or a complete new file, never a partial one; `dvc status` reports the stage as
  changed; the next `dvc repro` completes, gives the bytes of an uninterrupted run and removes the
  temporary file the killed stage left.  (SIGTERM, SIGINT and a killed `dvc repro`:
  tests/test_stop.py.)
* Two runs, the second forced (`dvc repro --force`), give byte-identical outputs: every file of
  every output in dvc.yaml, except the ones dvc.yaml documents as time-stamped (Data Docs).

The copy is the canary copy of tests/hostile/project.py (shared with tests/test_privacy.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.hostile import project as shared

pytestmark = pytest.mark.slow

#: run a command of the CLI with one output written half and then stalled (until killed)
STALL = r"""
import sys, time
from pathlib import Path
import pipeline.atomic as atomic

victim = sys.argv[1]
original = atomic.write_with

def write_with(target, writer):
    if Path(target).name != victim:
        return original(target, writer)
    def half(tmp):
        writer(tmp)
        data = tmp.read_bytes()
        tmp.write_bytes(data[: len(data) // 2])
        print("MID-WRITE", tmp, flush=True)
        time.sleep(600)
    return original(target, half)

atomic.write_with = write_with
from intervisie.cli import main
main(sys.argv[2:])
"""


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    return shared.shared_project(tmp_path_factory)


def compared(root: Path) -> list[str]:
    """The outputs whose bytes must repeat: all but those dvc.yaml documents as time-stamped."""
    stamped = shared.time_stamped((root / "dvc.yaml").read_text(encoding="utf-8"))
    return [out for out in shared.declared_outputs(root) if out not in stamped]


def test_time_stamped_outputs_are_few_and_documented(copy: tuple[Path, dict[str, bytes]]) -> None:
    root, _ = copy
    text = (root / "dvc.yaml").read_text(encoding="utf-8")
    stamped = shared.time_stamped(text)
    assert stamped <= set(shared.declared_outputs(root))
    assert all(out.startswith("reports/") for out in stamped), stamped
    assert len(compared(root)) >= 20


@pytest.fixture(scope="module")
def forced(copy: tuple[Path, dict[str, bytes]]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The outputs of the first run and of a second, forced run (`dvc repro --force`)."""
    root, first = copy
    result = shared.dvc(root, "repro", "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = compared(root)
    return _within(first, outputs), shared.output_bytes(root, outputs)


def test_two_runs_give_byte_identical_data_and_results(forced: tuple[dict[str, bytes], dict[str, bytes]]) -> None:
    first, second = (_without_reports(run) for run in forced)
    assert len(first) >= 30
    assert sorted(second) == sorted(first)
    assert sorted(name for name in first if first[name] != second[name]) == []


def test_two_runs_give_byte_identical_documents(forced: tuple[dict[str, bytes], dict[str, bytes]]) -> None:
    first, second = forced
    documents = sorted(name for name in second if name.startswith("reports/"))
    assert documents
    assert [name for name in documents if first.get(name) != second[name]] == []


def _without_reports(snapshot: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in snapshot.items() if not k.startswith("reports/")}


def _stalled_stage(root: Path, stage: str, victim: str) -> Path:
    """Run a stage's command until it is half-way through writing ``victim``; kill it; return the temp file."""
    pipeline = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))
    variables = {k: v for entry in pipeline.get("vars", []) for k, v in entry.items()}
    cmd = pipeline["stages"][stage]["cmd"]
    for name, value in variables.items():  # DVC's ${...} templating, as `dvc repro` resolves it
        cmd = cmd.replace("${" + name + "}", str(value))
    cmd = cmd.split()
    assert cmd[0] == "intervisie"
    env = {**os.environ, "PATH": f"{shared.BIN}{os.pathsep}{os.environ['PATH']}", "INTERVISIE_PSEUDONYM_KEY": shared.KEY}
    child = subprocess.Popen(
        [sys.executable, "-c", STALL, victim, *cmd[1:]], cwd=root, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 300
        line = ""
        while not line.startswith("MID-WRITE") and time.monotonic() < deadline:
            line = child.stdout.readline()  # type: ignore[union-attr]
            if not line and child.poll() is not None:
                break
        assert line.startswith("MID-WRITE"), f"the stage ended before writing {victim} (exit {child.poll()})"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    return Path(line.split(" ", 1)[1].strip())


def test_a_stage_killed_mid_write_leaves_nothing_dvc_would_trust(copy: tuple[Path, dict[str, bytes]]) -> None:
    root, _ = copy
    assert "up to date" in shared.dvc(root, "status").stdout
    before = shared.output_bytes(root, shared.declared_outputs(root))  # an uninterrupted run's outputs
    raw = root / shared.STUDY / "attendance.csv"
    original = raw.read_bytes()
    raw.write_bytes(original + b";;\r\n")  # a trailing empty row: the quality tables change
    try:
        temp = _stalled_stage(root, "ingest", "row_accounting.parquet")
        victim = root / "data_clean" / "quality" / "row_accounting.parquet"
        # the file being written keeps its old content; the half-written bytes are only in a temp file
        assert victim.read_bytes() == before["data_clean/quality/row_accounting.parquet"]
        assert temp.parent == victim.parent and temp.name.startswith(".row_accounting.parquet.")
        assert temp.stat().st_size < len(before["data_clean/quality/row_accounting.parquet"])
        assert not any(temp == root / out for out in shared.declared_outputs(root))
        # outputs written before the kill are complete new files (they include the new blank row)
        fates = pd.read_parquet(BytesIO((root / "data_clean" / "quality" / "row_fates.parquet").read_bytes()))
        assert (fates["reason"] == "blank_row").sum() > _blank_rows(before)
        status = shared.dvc(root, "status")
        assert "ingest:" in status.stdout and "changed" in status.stdout, status.stdout
    finally:
        raw.write_bytes(original)
    # the half-finished run is not trusted: with the input as before, outputs differ from dvc.lock
    status = shared.dvc(root, "status", "ingest")
    assert "ingest:" in status.stdout and "modified" in status.stdout, status.stdout
    result = shared.dvc(root, "repro")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not temp.exists()  # the killed run's temporary file: removed by the next write of its output
    after = shared.output_bytes(root, compared(root))
    assert sorted(after) == sorted(_within(before, compared(root)))
    assert sorted(k for k in after if after[k] != before[k]) == []
    assert "up to date" in shared.dvc(root, "status").stdout


def _within(snapshot: dict[str, bytes], outputs: list[str]) -> dict[str, bytes]:
    """Return the files of a snapshot that belong to the given outputs."""
    return {k: v for k, v in snapshot.items() if any(k == o or k.startswith(o + "/") for o in outputs)}


def _blank_rows(snapshot: dict[str, bytes]) -> int:
    fates = pd.read_parquet(BytesIO(snapshot["data_clean/quality/row_fates.parquet"]))
    return int((fates["reason"] == "blank_row").sum())
