"""Simulated studies per second: serial vs a Dask LocalCluster, and vs an R loop of ``lmer`` calls.

``python -m benchmarks plan --studies 40 --workers 2`` simulates ``--studies`` studies of demo size
(120 intervisie groups of 3-7 members, a comparison arm of a fifth of that size, 4 waves, three
programmes, attrition as the demo's) and fits each with the growth stage's model
(:func:`analyses.plan.run_task`: the pruned random structure, Satterthwaite df):

- ``serial``: one after the other in this process (no Dask; one BLAS thread, as in the workers);
- ``cluster``: the same tasks on a ``distributed.LocalCluster`` of ``--workers`` single-threaded
  processes (start-up, with one warm-up fit per worker, timed separately; the serial side warms
  up too); speed-up = serial time / cluster time, efficiency =
  speed-up / workers; the results must be identical (checked);
- ``r_loop`` (when R with lme4 and lmerTest is present): the same simulated data sets fitted in
  one R process by a loop of ``lmer`` + ``summary`` (Satterthwaite), what ``simr`` does per
  simulated study; timed inside R. R fits only the maximal structure and does not simulate, so
  the ratio is in R's favour.

Prints a table and writes ``benchmarks/results/plan.json`` with the load average (a busy machine
slows both sides). Goal: a 1,000-study plan of demo size in under 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.growth import growth_data
from analyses.plan import CellSpec, run_task, simulate_study, task_frame, task_seed
from benchmarks.mixed import r_missing

ROOT = Path(__file__).parents[1]
DEMO_SIZE = CellSpec(
    seed=20261129,
    alpha=0.05,
    waves_months=(0.0, 3.0, 12.0, 24.0),
    groups_per_arm=120,
    group_size=5,
    effect_short=0.35,
    effect_long=0.1,
    group_size_spread=2,
    programmes=3,
    comparison=0.2,
    icc_level=0.03,
    icc_change=0.013,
    residual_share=0.35,
    slope_sd=0.13,
    attrition=(0.17, 0.1, 0.1),
    burnout_log_odds=0.4,
)
R_SCRIPT = r"""
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$arm <- factor(d$arm, levels = c("comparison", "intervisie"))
d$programme <- factor(d$programme)
studies <- split(d, d$study)
f <- y ~ programme * (short + long) + arm * (short + long) + (1 + short | participant) + (1 | group)
fit <- function(s) coef(summary(lmer(f, data = s, REML = TRUE)))["short:armintervisie", ]
invisible(fit(studies[[1]]))  # warm-up
t <- system.time(est <- lapply(studies, fit))[["elapsed"]]
write_json(list(seconds = t, studies = length(studies),
                estimate = unname(sapply(est, `[`, 1))), args[2], digits = NA, auto_unbox = TRUE)
"""


def warm_up() -> None:
    """Import the engine and fit one study outside the timing (a study no timed run uses)."""
    run_task(DEMO_SIZE, 1_000_000)


def timed_task(replicate: int) -> tuple[list[dict], float, float]:
    """One task with its CPU and wall seconds in the process that ran it (is a worker slower, or only busier?)."""
    cpu, wall = time.process_time(), time.perf_counter()
    rows = run_task(DEMO_SIZE, replicate)
    return rows, time.process_time() - cpu, time.perf_counter() - wall


def serial(studies: int) -> tuple[float, pd.DataFrame, float]:
    """Run the tasks one after the other in this process; also the mean CPU seconds per study."""
    from intervisie.stages.plan import one_blas_thread

    with one_blas_thread():  # as in the workers
        warm_up()
        started = time.perf_counter()
        done = [timed_task(r) for r in range(studies)]
        seconds = time.perf_counter() - started
    return seconds, task_frame([row for rows, _c, _w in done for row in rows]), float(np.mean([c for _r, c, _w in done]))


def on_cluster(studies: int, workers: int) -> tuple[float, float, pd.DataFrame, float, float]:
    """Start a LocalCluster (timed), then run the tasks on it (timed)."""
    from distributed import wait

    from intervisie.stages.plan import dask_client

    started = time.perf_counter()
    with dask_client(None, workers) as client:
        client.run(warm_up)  # every worker imports the engine and fits once, as the serial side did
        up = time.perf_counter() - started
        begun = time.perf_counter()
        futures = [client.submit(timed_task, r, pure=False) for r in range(studies)]
        wait(futures)
        done = [f.result() for f in futures]
        seconds = time.perf_counter() - begun
    rows = [row for rows, _c, _w in done for row in rows]
    return up, seconds, task_frame(rows), float(np.mean([c for _r, c, _w in done])), float(np.mean([w for _r, _c, w in done]))


def r_loop(studies: int) -> dict:
    """The same simulated data sets fitted by a loop of lmer calls in one R process."""
    frames = []
    for r in range(studies):
        data = growth_data(simulate_study(DEMO_SIZE, np.random.default_rng(task_seed(DEMO_SIZE, r))), "outcome")
        frames.append(data[["participant", "group", "programme", "arm", "short", "long", "y"]].assign(study=r))
    with tempfile.TemporaryDirectory(prefix="bench_plan_") as tmp:
        csv, out, script = Path(tmp, "d.csv"), Path(tmp, "out.json"), Path(tmp, "loop.R")
        pd.concat(frames).to_csv(csv, index=False, float_format="%.17g")
        script.write_text(R_SCRIPT, encoding="utf-8")
        done = subprocess.run(["Rscript", "--vanilla", str(script), str(csv), str(out)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"R failed:\n{done.stderr[-2000:]}")
        return json.loads(out.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks plan", description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-r", action="store_true", help="skip the R loop")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    t_serial, ours, cpu_serial = serial(args.studies)
    up, t_cluster, theirs, cpu_worker, wall_worker = on_cluster(args.studies, args.workers)
    same = ours.equals(theirs)
    speedup = t_serial / t_cluster
    result = {
        "studies": args.studies,
        "workers": args.workers,
        "design": {"participants": float(ours["n_participants"].mean()), "rows": float(ours["n_obs"].mean())},
        "serial_s": round(t_serial, 2),
        "serial_studies_per_s": round(args.studies / t_serial, 3),
        "cluster_startup_s": round(up, 2),
        "cluster_s": round(t_cluster, 2),
        "cluster_studies_per_s": round(args.studies / t_cluster, 3),
        "speedup": round(speedup, 3),
        "efficiency": round(speedup / args.workers, 3),
        "identical_results": bool(same),
        # CPU per study in this process vs in a worker, and a worker's wall time per study: equal CPU
        # with a longer wall time means the workers waited for a core (other load), not Dask overhead
        "cpu_s_per_study_serial": round(cpu_serial, 3),
        "cpu_s_per_study_worker": round(cpu_worker, 3),
        "wall_s_per_study_worker": round(wall_worker, 3),
        "minutes_for_1000_studies_on_cluster": round((up + 1000 * t_cluster / args.studies) / 60, 2),
        "share_singular": round(float(ours["singular"].mean()), 3),
        "share_failed": round(float((ours["status"] != "ok").mean()), 3),
    }
    why_not = "skipped (--no-r)" if args.no_r else r_missing()
    if why_not is None:
        r = r_loop(args.studies)
        result["r_loop_s"] = round(r["seconds"], 2)
        result["r_s_per_study"] = round(r["seconds"] / r["studies"], 3)
        result["python_s_per_study_serial"] = round(t_serial / args.studies, 3)
        result["ratio_python_to_r_per_study"] = round((t_serial / args.studies) / (r["seconds"] / r["studies"]), 3)
        short = ours[(ours["term"] == "short:armintervisie") & (ours["structure"].str.startswith("(1 + short | participant) + (1 | group)"))]
        r_est = np.asarray(r["estimate"], dtype=float)[short["replicate"].to_numpy()] / DEMO_SIZE.sd_change
        result["max_abs_diff_estimate_same_structure"] = float(np.max(np.abs(short["estimate"].to_numpy() - r_est))) if len(short) else None
    else:
        result["r_loop"] = why_not
    result["load_average_before"] = [round(x, 2) for x in load_before]
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    for key, value in result.items():
        print(f"{key:40s} {value}")
    out = ROOT / "benchmarks" / "results" / "plan.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
