"""Planning by simulation on a Dask LocalCluster of two workers: Monte Carlo known answers, bit-identical results.

The cluster is shared by the tests and reached by its address, as ``intervisie plan --scheduler``
reaches a cluster; the context manager closes it. Known-answer design: the closed form holds (two waves, no attrition, equal groups of 5, balanced
arms, no ICC of change), 8 groups per arm; 200 simulated studies per effect, fixed seed.

* effect 0.6 SD of change: simulated power within 3 Monte Carlo SEs of the closed form
  (the power stage's formula, :func:`analyses.plan_summary.closed_form_power`; MC SE 0.032);
* effect 0: rejections within 3 MC SEs of 5% (MC SE 0.015);
* 95% CI coverage of both cells together (400 studies) between 93% and 97% (MC SE 0.011);
* bias within 3 MC SEs of 0.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from distributed import LocalCluster

from intervisie.stages.plan import THREAD_ENV, run_plan
from pipeline.plan_file import Plan

KNOWN = {
    "seed": 20261129,
    "replicates": 200,
    "waves_months": [0, 3],
    "grid": {"groups_per_arm": [8], "group_size": [5], "effect_short": [0.0, 0.6]},
    "variance": {"icc_level": 0.3, "icc_change": 0.0, "residual_share": 0.35, "slope_sd": 0.0},
}
SMALL = {
    "seed": 5,
    "replicates": 2,
    "waves_months": [0, 3, 12],
    "grid": {"groups_per_arm": [4], "group_size": [5], "effect_short": [0.0, 0.4]},
    "group_size_spread": 1,
    "programmes": 2,
    "comparison": 0.5,
    "variance": {"icc_change": 0.05},
    "attrition": {"per_wave": [0.1, 0.2], "burnout_log_odds": 0.5},
}


def _quiet(_message: str) -> None:
    return None


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A LocalCluster of two single-threaded worker processes, reached by its address (as ``--scheduler``)."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR, env=THREAD_ENV) as cluster:  # fmt: skip
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory, scheduler: str) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("plan_known")
    run_plan(Plan.model_validate(KNOWN), out, _quiet, scheduler=scheduler, show_bar=False)
    return pd.read_csv(out / "power.csv").set_index("effect_short")


def test_simulated_power_agrees_with_the_closed_form(known: pd.DataFrame) -> None:
    row = known.loc[0.6]
    closed = row["power_closed_form"]
    assert 0.6 < closed < 0.9
    assert abs(row["power"] - closed) <= 3 * math.sqrt(closed * (1 - closed) / 200)


def test_a_zero_effect_is_found_five_times_in_a_hundred(known: pd.DataFrame) -> None:
    row = known.loc[0.0]
    assert abs(row["power"] - 0.05) <= 3 * math.sqrt(0.05 * 0.95 / 200)
    assert row["power_low"] <= 0.05 <= row["power_high"]


def test_ci_coverage_and_bias(known: pd.DataFrame) -> None:
    coverage = float((known["coverage"] * known["n_fitted"]).sum() / known["n_fitted"].sum())
    assert 0.93 <= coverage <= 0.97
    assert (known["share_failed"] == 0).all()
    assert (known["bias"].abs() <= 3 * known["bias_mcse"]).all()


def test_results_are_bit_identical_whatever_the_number_of_workers(tmp_path: Path, scheduler: str) -> None:
    plan = Plan.model_validate(SMALL)
    files = {}
    for workers in (0, 1, 2):  # 0: in this process, without Dask; 1: a LocalCluster of its own; 2: the shared one
        out = tmp_path / f"w{workers}"
        where = {"scheduler": scheduler} if workers == 2 else {"workers": workers}
        run_plan(plan, out, _quiet, show_bar=False, **where)
        files[workers] = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert len(files[0]) == 2 + 5  # two cells, power.csv, handout.csv, power_curve.png, plan.json, metrics.json
    assert files[1] == files[0]
    assert files[2] == files[0]
