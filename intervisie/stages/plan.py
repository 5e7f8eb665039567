"""The stage ``plan``: power, bias and coverage of future designs, by simulating studies and fitting the growth model.

Each simulated study is one task (:func:`analyses.plan.run_task`). By default the tasks run on
a ``distributed.LocalCluster`` with one single-threaded worker process per core; ``scheduler``
sends them to an existing Dask cluster (for example one started on a university cluster with
dask-jobqueue, see the README); ``workers=0`` runs them in this process, one after the other.
Each task's seed comes from the plan's seed and the task's coordinates, so the results are the
same, bit for bit, whatever the number of workers.

Output in ``out_dir``:

* ``cells/<cell>.parquet`` -- the simulated studies of one grid cell (one row per study and
  effect term), written when the cell is complete and kept: a rerun reuses every cell whose
  specification is unchanged (an interrupted plan resumes where it stopped);
* ``power.csv`` -- the tidy table (:func:`analyses.plan_summary.summarise`);
* ``handout.csv`` -- per effect size, the smallest design reaching the target power, in a sentence;
* ``power_curve.png``, ``plan.json`` (the plan as run) and ``metrics.json``.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from analyses.figures import save_png
from analyses.plan import DEFAULT_RANDOM, CellSpec, run_task, task_frame
from analyses.plan_summary import handout_rows, power_curve_figure, summarise
from intervisie.stages.common import Progress, write_table
from pipeline.atomic import read_parquet_metadata, write_parquet, write_text
from pipeline.errors import PipelineError
from pipeline.plan_file import Plan

#: worker environment: one BLAS/OpenMP thread per single-threaded worker process
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
FINGERPRINT = "intervisie_plan_cell"


@dataclass
class PlanRun:
    """What a run did: cells computed and reused, tasks run, wall time."""

    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    tasks: int = 0
    seconds: float = 0.0


def cell_specs(plan: Plan) -> list[CellSpec]:
    """Every grid cell of ``plan`` (groups per arm x group size x short-term effect x long-term effect)."""
    g = plan.grid
    common = {
        "seed": plan.seed,
        "alpha": plan.alpha,
        "waves_months": tuple(plan.waves_months),
        "group_size_spread": plan.group_size_spread,
        "programmes": plan.programmes,
        "comparison": plan.comparison,
        "icc_level": plan.variance.icc_level,
        "icc_change": plan.variance.icc_change,
        "residual_share": plan.variance.residual_share,
        "slope_sd": plan.variance.slope_sd,
        "attrition": tuple(plan.attrition.per_wave),
        "burnout_log_odds": plan.attrition.burnout_log_odds,
        "random": tuple(plan.random) if plan.random else DEFAULT_RANDOM,
    }
    return [
        CellSpec(groups_per_arm=n, group_size=m, effect_short=float(s), effect_long=float(lo), **common)
        for n, m, s, lo in product(g.groups_per_arm, g.group_size, g.effect_short, g.effect_long)
    ]


def _kept(path: Path, fingerprint: str) -> bool:
    """Whether ``path`` holds a finished cell of exactly this specification."""
    if not path.exists():
        return False
    try:
        return read_parquet_metadata(path).get(FINGERPRINT) == fingerprint
    except Exception:  # a truncated or foreign file is recomputed, never trusted
        return False


@contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[object]:
    """A ``distributed.Client``: to ``scheduler`` when given, else to a LocalCluster closed on exit."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: several clusters may run on one machine
            silence_logs=logging.CRITICAL,  # shutdown chatter; a lost task surfaces as an error of its future
            env=THREAD_ENV,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _bar(total: int, show: bool) -> tqdm:
    """Studies done and time left, on stderr (tqdm comes with DVC)."""
    return tqdm(total=total, unit="study", desc="simulated studies", disable=not show, smoothing=0.1)


def _run_cells(todo: list[CellSpec], replicates: int, client: object | None, bar: object) -> Iterator[tuple[CellSpec, list]]:
    """Yield each cell with the rows of its studies as soon as all its tasks are done."""
    if client is None:
        for spec in todo:
            rows = []
            for r in range(replicates):
                rows.extend(run_task(spec, r))
                bar.update(1)
            yield spec, rows
        return
    from distributed import as_completed

    futures = {}
    for spec in todo:
        for r in range(replicates):
            key = f"plan-{spec.cell_id}-{r}-{zlib.crc32(spec.fingerprint().encode())}"
            future = client.submit(run_task, spec, r, key=key, pure=False)
            futures[future] = spec
    pending = {spec.cell_id: replicates for spec in todo}
    rows: dict[str, list] = {spec.cell_id: [] for spec in todo}
    failed: list[str] = []
    for future in as_completed(list(futures)):
        spec = futures.pop(future)
        try:
            rows[spec.cell_id].extend(future.result())
        except Exception as exc:  # the cluster lost the task (not a failed fit: those are results)
            failed.append(f"{spec.cell_id}: {type(exc).__name__}: {exc}")
        bar.update(1)
        pending[spec.cell_id] -= 1
        if pending[spec.cell_id] == 0 and not any(f.startswith(f"{spec.cell_id}:") for f in failed):
            yield spec, rows.pop(spec.cell_id)
    if failed:
        raise PipelineError(
            f"{len(failed)} task(s) were lost by the Dask cluster (the finished cells are kept; rerun to resume): "
            + "; ".join(failed[:3])
        )


def run_plan(
    plan: Plan,
    out_dir: Path,
    progress: Progress,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    show_bar: bool = True,
    source: str = "",
) -> PlanRun:
    """Simulate every grid cell of ``plan`` not already kept in ``out_dir/cells`` and summarise all cells.

    ``workers=0`` runs in this process; otherwise a LocalCluster of ``workers`` processes (default:
    one per core), or the cluster at ``scheduler``. ``source`` says where the plan came from (for
    ``plan.json``). Returns what was computed and reused.
    """
    started = time.perf_counter()
    specs = cell_specs(plan)
    cells_dir = out_dir / "cells"
    run = PlanRun()
    todo = []
    for spec in specs:
        if _kept(cells_dir / f"{spec.cell_id}.parquet", spec.fingerprint() + f"|replicates={plan.replicates}"):
            run.reused.append(spec.cell_id)
        else:
            todo.append(spec)
    run.tasks = len(todo) * plan.replicates
    where = "this process" if workers == 0 and not scheduler else (scheduler or f"a local cluster of {workers or os.cpu_count()} workers")
    progress(f"plan: {len(specs)} grid cells, {len(run.reused)} kept from an earlier run, {run.tasks} studies to simulate on {where}")
    if todo:
        with _client_or_none(scheduler, workers) as client, _bar(run.tasks, show_bar) as bar:
            for spec, rows in _run_cells(todo, plan.replicates, client, bar):
                table = task_frame(rows).sort_values(["replicate", "term"], kind="stable").reset_index(drop=True)
                fingerprint = spec.fingerprint() + f"|replicates={plan.replicates}"
                write_parquet(cells_dir / f"{spec.cell_id}.parquet", table, {FINGERPRINT: fingerprint})
                run.computed.append(spec.cell_id)
    tasks = pd.concat([pd.read_parquet(cells_dir / f"{s.cell_id}.parquet") for s in specs], ignore_index=True)
    summary = summarise(tasks, {s.cell_id: s for s in specs})
    write_table(out_dir / "power.csv", summary)
    handout = handout_rows(summary, target=plan.target_power, comparison=plan.comparison)
    write_table(out_dir / "handout.csv", handout)
    save_png(power_curve_figure(summary, target=plan.target_power), out_dir / "power_curve.png")
    about = {"source": source, "plan": plan.model_dump(mode="json"), "cells": [s.cell_id for s in specs]}
    write_text(out_dir / "plan.json", json.dumps(about, indent=2, sort_keys=True) + "\n")
    metrics = {
        "studies": len(tasks.drop_duplicates(["cell", "replicate"])),
        "share_failed": round(float((tasks["status"] != "ok").mean()), 6),
        "share_singular": round(float(tasks["singular"].mean()), 6),
    }
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    run.seconds = time.perf_counter() - started
    progress(f"plan: {len(run.computed)} cells simulated, {len(run.reused)} reused; wrote power.csv to {out_dir}")
    return run


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS/OpenMP to one thread here, as in the workers (threads fighting over cores slow each fit)."""
    from threadpoolctl import threadpool_limits  # comes with scikit-learn

    with threadpool_limits(limits=1):
        yield


@contextmanager
def _client_or_none(scheduler: str | None, workers: int | None) -> Iterator[object | None]:
    if workers == 0 and not scheduler:
        with one_blas_thread():
            yield None
        return
    with dask_client(scheduler, workers) as client:
        yield client
