"""A stopped run stops whole: no stage outlives a killed `dvc repro`, no kernel outlives its report,
and the temporary files a killed stage leaves are removed by the next run.

Real processes, real signals: a tiny DVC project whose stage is a Python command, the `intervisie`
command itself stalled in the middle of writing an output, and a notebook whose cell sleeps.

SIGKILL cannot be caught: a stage killed with it leaves its temporary file (removed by the next
write of that output, :func:`pipeline.atomic.sweep_stale`), and a `dvc repro` killed with it is
noticed by the stage's watcher within about half a second (:func:`pipeline.atomic.stop_with_dvc`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipeline.atomic import STALE_SECONDS, atomic_path, sweep_stale, write_text
from pipeline.keys import KEY_VARIABLE
from tests.study_keys import TEST_KEY, non_demo

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MINI = ROOT / "tests" / "fixtures" / "mini"

#: a stage: optionally stops with DVC, writes its pid, then writes an output slowly (atomically)
STAGE = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from pipeline.atomic import stop_with_dvc, write_with
if sys.argv[1] == "guarded":
    stop_with_dvc()
Path("stage.pid").write_text(str(os.getpid()))
def slow(tmp):
    tmp.write_text("half")
    Path("writing").write_text(str(tmp))
    time.sleep(600)
write_with(Path("out.txt"), slow)
"""

#: the `intervisie` command, stalled half-way through writing one output (its own main(), unchanged)
STALL = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
import pipeline.atomic as atomic
victim = sys.argv[1]
original = atomic.write_with
def write_with(target, writer):
    if Path(target).name != victim:
        return original(target, writer)
    def half(tmp):
        writer(tmp)
        Path("writing").write_text(f"{{os.getpid()}} {{tmp}}")
        time.sleep(600)
    return original(target, half)
atomic.write_with = write_with
from intervisie.cli import main
main(sys.argv[2:])
"""


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra}
    env.pop("DVC_STAGE", None)
    return env


def _wait_for(path: Path, seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.1)
    raise AssertionError(f"{path.name} was not written within {seconds} s")


def _gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").is_file() and Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z":
            return True
        time.sleep(0.1)
    return False


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------------------------
# temporary files


def test_a_temporary_file_of_a_dead_process_is_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "table.parquet"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".table.parquet.{int(dead.stdout)}-abc123.tmp"
    alive = tmp_path / f".table.parquet.{os.getppid()}-def456.tmp"  # our parent: alive, may be writing
    old = tmp_path / ".table.parquet.k3j2h1.tmp"  # an older naming, without a process id
    young = tmp_path / ".table.parquet.x9y8z7.tmp"
    other = tmp_path / f".other.csv.{int(dead.stdout)}-abc123.tmp"  # another output's: its own next write
    for path in (stale, alive, old, young, other):
        path.write_bytes(b"half")
    os.utime(old, (time.time() - STALE_SECONDS - 60,) * 2)
    write_text(target, "whole")
    assert target.read_text() == "whole"
    assert not stale.exists() and not old.exists()
    assert alive.exists() and young.exists() and other.exists()
    assert sweep_stale(tmp_path / "other.csv") == [other]


def test_the_temporary_name_carries_the_process_id(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "x.csv") as tmp:
        assert tmp.name.startswith(f".x.csv.{os.getpid()}-") and tmp.suffix == ".tmp"
        tmp.write_text("1")
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["TERM", "INT", "HUP"])
def test_a_stage_stopped_mid_write_removes_its_temporary_file(sig: int, tmp_path: Path) -> None:
    (tmp_path / "stage.py").write_text(STAGE.format(root=str(ROOT)), encoding="utf-8")
    child = subprocess.Popen([sys.executable, "stage.py", "guarded"], cwd=tmp_path, env=_env())
    try:
        temp = Path(_wait_for(tmp_path / "writing"))
        assert temp.exists()
        os.kill(child.pid, sig)
        code = child.wait(timeout=30)
    finally:
        _kill(child.pid)
    # SIGTERM/SIGHUP: Terminated, exit 128 + signal; SIGINT: KeyboardInterrupt, which Python ends by the signal
    assert code == (-signal.SIGINT if sig == signal.SIGINT else 128 + sig), code
    assert not temp.exists() and not (tmp_path / "out.txt").exists()


def test_a_stage_killed_mid_write_leaves_a_file_the_next_run_removes(tmp_path: Path) -> None:
    (tmp_path / "stage.py").write_text(STAGE.format(root=str(ROOT)), encoding="utf-8")
    child = subprocess.Popen([sys.executable, "stage.py", "guarded"], cwd=tmp_path, env=_env())
    try:
        temp = Path(_wait_for(tmp_path / "writing"))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        _kill(child.pid)
    assert temp.exists()  # SIGKILL cannot be caught
    write_text(tmp_path / "out.txt", "whole")  # the next run's write of the same output
    assert not temp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "stage.pid", "stage.py", "writing"]


# --------------------------------------------------------------------------------------------
# dvc repro killed


def _dvc_project(root: Path, cmd: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "stage.py").write_text(STAGE.format(root=str(ROOT)), encoding="utf-8")
    (root / "stall.py").write_text(STALL.format(root=str(ROOT)), encoding="utf-8")
    (root / "dvc.yaml").write_text(
        textwrap.dedent(f"""\
            stages:
              slow:
                cmd: {cmd}
                outs:
                  - out.txt
            """),
        encoding="utf-8",
    )
    subprocess.run([str(BIN / "dvc"), "init", "--no-scm", "-q"], cwd=root, env=_env(), check=True)
    return root


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGHUP], ids=["TERM", "KILL", "HUP"])
def test_a_killed_dvc_repro_leaves_no_stage_running(sig: int, tmp_path: Path) -> None:
    root = _dvc_project(tmp_path / "p", f"{sys.executable} stage.py guarded")
    dvc = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=root, env=_env(), stdout=subprocess.DEVNULL)
    stage = 0
    try:
        stage = int(_wait_for(root / "stage.pid"))
        temp = Path(_wait_for(root / "writing"))
        os.kill(dvc.pid, sig)
        dvc.wait(timeout=30)
        assert _gone(stage), "the stage outlived the dvc repro that started it"
        assert not temp.exists() and not (root / "out.txt").exists()
    finally:
        _kill(dvc.pid)
        _kill(stage)


def test_without_the_guard_a_stage_outlives_a_killed_dvc_repro(tmp_path: Path) -> None:
    """The control: what happened before (DVC does not pass SIGTERM on to the stage's command)."""
    root = _dvc_project(tmp_path / "p", f"{sys.executable} stage.py plain")
    dvc = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=root, env=_env(), stdout=subprocess.DEVNULL)
    stage = 0
    try:
        stage = int(_wait_for(root / "stage.pid"))
        _wait_for(root / "writing")
        os.kill(dvc.pid, signal.SIGTERM)
        dvc.wait(timeout=30)
        assert not _gone(stage, seconds=3)
    finally:
        _kill(dvc.pid)
        _kill(stage)


def test_a_killed_dvc_repro_stops_the_intervisie_command(tmp_path: Path) -> None:
    """The real command (its own ``main``), stalled while ingesting: it ends with DVC, no temporary file left.

    Needs ``intervisie.cli.main`` to call :func:`pipeline.atomic.stop_with_dvc` first.
    """
    study = non_demo(Path(shutil.copytree(MINI, tmp_path / "study")))
    argv = (f"ingest --study {study / 'study.yaml'} --instruments {ROOT / 'instruments'} "
            f"--params {ROOT / 'params.yaml'} --out {tmp_path / 'p' / 'clean'}")  # fmt: skip
    root = _dvc_project(tmp_path / "p", f"{sys.executable} stall.py responses.parquet {argv}")
    env = _env(**{KEY_VARIABLE: TEST_KEY})
    dvc = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=root, env=env, stdout=subprocess.DEVNULL)
    stage = 0
    try:
        pid, temp = _wait_for(root / "writing").split(" ", 1)
        stage = int(pid)
        assert Path(temp).exists()
        os.kill(dvc.pid, signal.SIGTERM)
        dvc.wait(timeout=30)
        assert _gone(stage), "`intervisie` outlived the dvc repro that started it: main() must call stop_with_dvc()"
        assert not Path(temp).exists()
    finally:
        _kill(dvc.pid)
        _kill(stage)


# --------------------------------------------------------------------------------------------
# report kernels

NOTEBOOK = """
import sys, nbformat
from pathlib import Path
sys.path.insert(0, {root!r})
from pipeline.atomic import stop_with_dvc
from reporting.execute import execute
stop_with_dvc()
nb = nbformat.v4.new_notebook()
nb.metadata["kernelspec"] = {{"name": "python3", "display_name": "Python 3", "language": "python"}}
cell = "import os, time\\nopen('kernel.pid', 'w').write(str(os.getpid()))\\ntime.sleep(600)"
nb.cells = [nbformat.v4.new_code_cell(cell)]
execute(nb, cwd=Path.cwd(), timeout=900)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["TERM", "INT", "KILL"])
def test_a_stopped_report_leaves_no_kernel_running(sig: int, tmp_path: Path) -> None:
    (tmp_path / "render.py").write_text(NOTEBOOK.format(root=str(ROOT)), encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, "render.py"], cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    kernel = 0
    try:
        kernel = int(_wait_for(tmp_path / "kernel.pid"))
        os.kill(child.pid, sig)
        code = child.wait(timeout=60)
        stderr = child.stderr.read().decode()  # type: ignore[union-attr]
        if sig != signal.SIGKILL:
            assert code == 128 + signal.SIGTERM, stderr  # Terminated: a clean exit, no "internal error"
            assert _gone(kernel, seconds=1), "the kernel outlived the report"
        else:  # the kernel's own parent poller notices within about a second
            assert _gone(kernel, seconds=10), "the kernel outlived the report killed with SIGKILL"
    finally:
        _kill(child.pid)
        _kill(kernel)
