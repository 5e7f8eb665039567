"""The whole pipeline, stage by stage, on the demo design scaled 1x, 5x, 20x: time, memory, growth.

For each scale ``s`` (``--scale``, default 1 5 20) the benchmark copies the project tree (code,
instruments, params.yaml, dvc.yaml; no .git, .venv, data_clean or results) into a work folder,
simulates the demo design scaled to ``s`` times its participants (groups and coaches scale along)
into the copy's study folder with ``intervisie simulate``, and runs every stage of dvc.yaml in
order, each command in a fresh process exactly as ``dvc repro`` would (``cmd`` with the
``${...}`` variables of params.yaml and ``vars:`` substituted, through the shell, in the copy,
with the virtual environment's bin first on PATH). Per stage and scale it records

* ``wall_s``: wall time of the stage's process, and ``peak_mib``: its peak resident memory
  (``ru_maxrss`` of ``os.wait4``: the largest single process of the stage's process tree);
* a failed stage's exit code and the tail of its stderr (the next stages still run).

Per stage (the same at every scale) ``import_s``: the time a fresh interpreter needs to import
the stage command's modules (``intervisie.cli`` and the modules the command imports when it
runs); the fixed cost every stage pays. Growth: the slope of log(wall time) on log(scale), per
stage (``exponent``; above 1.15 the stage is flagged ``superlinear``) and the same of the time
less the import time (``net_exponent``: the per-process fixed cost bends small stages' slopes
down). Reference (:mod:`benchmarks.pipeline_reference`): the growth stage's model of the first
primary outcome on the same model frame, fitted by the engine (in this process) and by R's
lmerTest (``lmer`` + ``summary``, Satterthwaite df; timed inside R), best of 3 each.
Results: the printed table and ``benchmarks/results/pipeline.json``.
Run: ``.venv/bin/python -m benchmarks pipeline --scale 1 5 20``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
VENV_BIN = Path(sys.executable).parent
#: what the copy of the project leaves out (tar --exclude patterns: any path component)
EXCLUDE = (".venv", ".git", "data_clean", "results", "reports/_site", "__pycache__", ".dvc/cache", ".dvc/tmp")
SUPERLINEAR = 1.15
VAR = re.compile(r"\$\{\s*([^${}]+?)\s*\}")


# --- dvc.yaml -------------------------------------------------------------------------------------


def lookup(context: Mapping[str, Any], name: str) -> Any:
    """The value of a dotted variable name (``study``, ``analyses.growth.seed``) in ``context``."""
    value: Any = context
    for part in name.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(f"dvc.yaml: variable ${{{name}}} is not defined (params.yaml or `vars:`)")
    return value


def substitute(text: str, context: Mapping[str, Any]) -> str:
    """Replace every ``${name}`` in ``text`` by its scalar value, as DVC's templating does."""

    def one(match: re.Match[str]) -> str:
        value = lookup(context, match.group(1))
        if isinstance(value, Mapping | list):
            raise ValueError(f"dvc.yaml: ${{{match.group(1)}}} is not a scalar; the benchmark does not expand it")
        return str(value).lower() if isinstance(value, bool) else str(value)

    return VAR.sub(one, text)


def dvc_context(spec: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """The templating variables: params.yaml (DVC loads it by default), then each ``vars:`` entry in order.

    An entry is a mapping of values or the name of a YAML file (relative to ``root``), optionally
    ``file:key1,key2`` to take some keys only.
    """
    context: dict[str, Any] = {}
    default = root / "params.yaml"
    if default.exists():
        context.update(yaml.safe_load(default.read_text(encoding="utf-8")) or {})
    for entry in spec.get("vars") or []:
        if isinstance(entry, Mapping):
            context.update(entry)
            continue
        name, _, keys = str(entry).partition(":")
        loaded = yaml.safe_load((root / name).read_text(encoding="utf-8")) or {}
        context.update({k: loaded[k] for k in keys.split(",")} if keys else loaded)
    return context


def stage_commands(spec: Mapping[str, Any], root: Path) -> list[tuple[str, str]]:
    """``[(stage, command)]`` of a parsed dvc.yaml, in file order, with the variables substituted.

    A stage whose ``cmd`` is a list runs its commands one after the other (``&&``).
    """
    context = dvc_context(spec, root)
    out = []
    for name, stage in (spec.get("stages") or {}).items():
        if "foreach" in stage or "matrix" in stage:
            raise ValueError(f"dvc.yaml: stage {name!r} uses foreach/matrix, which the benchmark does not expand")
        cmd = stage["cmd"]
        cmd = " && ".join(cmd) if isinstance(cmd, list) else str(cmd)
        out.append((name, substitute(" ".join(cmd.split()), context)))
    return out


# --- growth and the table -------------------------------------------------------------------------


def growth_exponent(scales: Sequence[float], times: Sequence[float | None]) -> float | None:
    r"""Least-squares slope :math:`b` of :math:`\log t = a + b \log s` (None with fewer than two scales).

    Points with a missing or non-positive time are left out. ``b = 1`` is linear growth.
    """
    points = [(math.log(s), math.log(t)) for s, t in zip(scales, times, strict=True) if t is not None and t > 0]
    if len({x for x, _ in points}) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def stage_summary(stages: list[str], runs: list[dict[str, Any]], imports: Mapping[str, float | None]) -> list[dict]:
    """One row per stage: per scale wall time and peak memory, the growth exponents, the import time.

    ``exponent`` is that of the wall times, ``net_exponent`` of the wall times less the import
    time, ``cpu_exponent`` of the CPU seconds of the stage's processes (less disturbed by other
    work on the machine, blind to waiting); a stage that failed at a scale leaves that point out.
    """
    scales = [run["scale"] for run in runs]
    rows = []
    for stage in stages:
        row: dict[str, Any] = {"stage": stage, "import_s": imports.get(stage)}
        walls: list[float | None] = []
        nets: list[float | None] = []
        cpus: list[float | None] = []
        failed = []
        for run in runs:
            hit = run["stages"].get(stage)
            ok = hit is not None and hit["returncode"] == 0
            wall = hit["wall_s"] if ok else None
            row[key("wall_s", run["scale"])] = wall
            row[key("peak_mib", run["scale"])] = hit["peak_mib"] if hit else None
            if hit and not ok:
                failed.append(f"exit {hit['returncode']} at {run['scale']:g}x")
            walls.append(wall)
            cpus.append(hit.get("cpu_s") if ok else None)
            imp = row["import_s"]
            nets.append(wall - imp if wall is not None and imp is not None else None)
        exponent = growth_exponent(scales, walls)
        row["exponent"] = None if exponent is None else round(exponent, 2)
        net = growth_exponent(scales, nets)
        row["net_exponent"] = None if net is None else round(net, 2)
        cpu = growth_exponent(scales, cpus)
        row["cpu_exponent"] = None if cpu is None else round(cpu, 2)
        row["flag"] = "; ".join([*(["superlinear"] if exponent is not None and exponent > SUPERLINEAR else []), *failed])
        rows.append(row)
    return rows


def key(label: str, scale: float) -> str:
    """The summary column of one measure at one scale: ``wall_s@5x``."""
    return f"{label}@{scale:g}x"


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def format_table(rows: list[dict[str, Any]], scales: Sequence[float]) -> str:
    """A Markdown table: stage x scale (wall s, peak MiB), exponents, import s; a total row last.

    The total row sums the wall times of the stages that ran, takes the largest peak memory, and
    gives the growth exponent of the summed times of the stages that ran at every scale.
    """
    head = ["stage", *(f"{label} {s:g}x" for s in scales for label in ("wall s", "MiB")), "exponent", "net exp."]
    head += ["import s", "flag"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for row in rows:
        cells = [row["stage"]]
        for s in scales:
            cells += [_cell(row[key("wall_s", s)]), _cell(row[key("peak_mib", s)], 0)]
        cells += [_cell(row["exponent"], 2), _cell(row["net_exponent"], 2), _cell(row["import_s"], 2), row["flag"]]
        lines.append(" | ".join(cells))
    total = ["total"]
    for s in scales:
        walls = [r[key("wall_s", s)] for r in rows if r[key("wall_s", s)] is not None]
        peaks = [r[key("peak_mib", s)] for r in rows if r[key("peak_mib", s)] is not None]
        total += [_cell(float(sum(walls))), _cell(float(max(peaks)) if peaks else None, 0)]
    complete = [r for r in rows if all(r[key("wall_s", s)] is not None for s in scales)]
    exponent = growth_exponent(scales, [sum(r[key("wall_s", s)] for r in complete) for s in scales])
    imports = [r["import_s"] for r in rows if r["import_s"] is not None]
    total += [_cell(exponent, 2), "", _cell(float(sum(imports)), 2) if imports else "-", ""]
    lines.append(" | ".join(total))
    return "\n".join(lines)


# --- running --------------------------------------------------------------------------------------


def copy_project(dest: Path) -> None:
    """Copy the project tree into ``dest`` (emptied first), leaving out what :data:`EXCLUDE` names."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    excludes = [f"--exclude={e}" for e in EXCLUDE]
    pack = subprocess.Popen(["tar", *excludes, "-cf", "-", "."], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-xf", "-", "-C", str(dest)], stdin=pack.stdout, check=True)
    if pack.stdout is not None:
        pack.stdout.close()
    if pack.wait() != 0:
        raise RuntimeError(f"copying {ROOT} to {dest} failed")


def stage_env() -> dict[str, str]:
    """The environment of a stage: this one, with the virtual environment's bin first on PATH."""
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_command(cmd: str, cwd: Path) -> dict[str, Any]:
    """Run ``cmd`` through the shell (as DVC does) in a fresh process; wall time, peak RSS, exit code."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        shell = os.environ.get("SHELL") or "/bin/sh"
        proc = subprocess.Popen(cmd, shell=True, executable=shell, cwd=cwd, env=stage_env(), stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        result = {"wall_s": round(wall, 3), "peak_mib": round(usage.ru_maxrss / 1024, 1), "returncode": proc.returncode}
        result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)
        if proc.returncode != 0:
            err.seek(0)
            result["stderr_tail"] = err.read().decode("utf-8", "replace")[-2000:]
    return result


def demo_participants(config: Path) -> int:
    """The number of participants the simulation configuration describes (before scaling)."""
    from pipeline.simulate.config import load_config

    return load_config(config).design.base_size()


def study_folder(spec: Mapping[str, Any], stages: list[tuple[str, str]]) -> str:
    """The study folder the pipeline reads: the directory of ``--study`` in the first command naming one."""
    for _name, cmd in stages:
        tokens = shlex.split(cmd)
        if "--study" in tokens:
            return str(Path(tokens[tokens.index("--study") + 1]).parent)
    raise ValueError("no stage of dvc.yaml names a --study; the benchmark cannot tell where the raw data go")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def measure_scale(scale: float, work: Path, n_base: int, keep: bool, r_note: str | None, repeat: int) -> dict[str, Any]:
    """Copy, simulate and run every stage at one scale, then the reference fits (R unless ``r_note``); one record."""
    copy = work / f"scale_{scale:g}"
    copy_project(copy)
    spec = yaml.safe_load((copy / "dvc.yaml").read_text(encoding="utf-8"))
    stages = stage_commands(spec, copy)
    study = study_folder(spec, stages)
    n = round(scale * n_base)
    record: dict[str, Any] = {"scale": scale, "participants": n, "load_avg_start": load_average()}
    config = shlex.quote(f"{study}/simulation.yaml")
    simulate = f"intervisie simulate --config {config} --participants {n} --out {shlex.quote(study)}"
    print(f"scale {scale:g}x ({n} participants): {simulate}", flush=True)
    record["simulate"] = run_command(simulate, copy)
    if record["simulate"]["returncode"] != 0:
        raise RuntimeError(f"simulating failed:\n{record['simulate'].get('stderr_tail', '')}")
    print(f"  {'(simulate)':<16} {record['simulate']['wall_s']:8.1f} s {record['simulate']['peak_mib']:8.0f} MiB", flush=True)
    record["stages"] = {}
    for name, cmd in stages:
        result = run_command(cmd, copy)
        record["stages"][name] = {"cmd": cmd, **result}
        state = "ok" if result["returncode"] == 0 else f"FAILED (exit {result['returncode']})"
        print(f"  {name:<16} {result['wall_s']:8.1f} s {result['peak_mib']:8.0f} MiB  {state}", flush=True)
    from benchmarks.pipeline_reference import reference_fits

    growth = [cmd for _name, cmd in stages if shlex.split(cmd)[:3] == ["intervisie", "analyze", "growth"]]
    if growth:
        record["reference"] = reference_fits(copy, growth[0], repeat, with_r=r_note is None)
        print("  reference: " + json.dumps(record["reference"]), flush=True)
    record["load_avg_end"] = load_average()
    if not keep:
        shutil.rmtree(copy, ignore_errors=True)
    return record


def main(argv: list[str] | None = None) -> None:
    """Parse options, run every scale, print the tables and write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, nargs="+", default=[1, 5, 20], help="multiples of the demo's size")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep each scale's copy of the project")
    parser.add_argument("--repeat", type=int, default=3, help="timed reference fits per side (best kept)")
    parser.add_argument("--import-repeat", type=int, default=3, help="import timings per stage (best kept)")
    parser.add_argument("--no-r", action="store_true", help="skip R even when installed")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pipeline.json")
    args = parser.parse_args(argv)
    from benchmarks.mixed import r_missing
    from benchmarks.pipeline_reference import format_reference, import_times

    note = "R skipped (--no-r)" if args.no_r else r_missing()
    if note:
        print(f"note: {note}; the R column is left empty", flush=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="intervisie-bench-pipeline-"))
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    stages = stage_commands(spec, ROOT)
    n_base = demo_participants(ROOT / study_folder(spec, stages) / "simulation.yaml")
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg_start": load_average()}
    runs = [measure_scale(s, work, n_base, args.keep, note, args.repeat) for s in args.scale]
    imports = import_times(stages, args.import_repeat)
    rows = stage_summary([name for name, _ in stages], runs, {k: v["import_s"] for k, v in imports.items()})
    machine["load_avg_end"] = load_average()
    print("\n" + format_table(rows, args.scale))
    print("\n" + format_reference(runs, note))
    report = {
        "benchmark": "every dvc.yaml stage in a fresh process on the demo design scaled; growth exponents; imports",
        "timing": "wall time and ru_maxrss (os.wait4) of each stage's process; imports: best of "
        f"{args.import_repeat} fresh interpreters; reference: best of {args.repeat} after a warm-up",
        "note": note,
        "machine": machine,
        "demo_participants": n_base,
        "summary": rows,
        "imports": imports,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")
    if args.work is None and not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
