"""Sample sizes a programme needs (analyses.power): against R power.t.test, hand-worked values and simulation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analyses.power import change_components, design_effect_partial, n_per_arm, sample_size
from intervisie.stages.power import run_power
from tests.hostile.project import built_project
from tests.r_reference import run_r

ROOT = Path(__file__).parents[1]


def test_n_per_arm_matches_r_power_t_test():
    """R: sapply(c(0.2, 0.35, 0.5, 0.8), function(d) power.t.test(delta = d, sd = 1, power = 0.8)$n)."""
    effects = [0.2, 0.35, 0.5, 0.8]
    out = run_r(
        "out$n <- sapply(c(0.2, 0.35, 0.5, 0.8), function(d) power.t.test(delta = d, sd = 1, sig.level = 0.05,"
        " power = 0.8)$n); out$n90 <- power.t.test(delta = 0.5, sd = 1, sig.level = 0.01, power = 0.9)$n",
        pd.DataFrame({"x": [1]}),
        packages=("jsonlite",),
    )
    assert_allclose([n_per_arm(d) for d in effects], out["n"], rtol=1e-5)
    assert_allclose(n_per_arm(0.5, alpha=0.01, power=0.9), out["n90"], rtol=1e-5)
    # the textbook figure: 64 per arm for d = 0.5 (Cohen 1988, Table 2.4.1)
    assert math.ceil(n_per_arm(0.5)) == 64
    assert n_per_arm(0.0) == math.inf


def test_design_effect_hand_worked():
    # DE = 1 + (7 - 1) * 0.05 = 1.3; only one arm clustered: (1.3 + 1) / 2
    assert_allclose(design_effect_partial(0.05, 7), 1.15, rtol=1e-12)
    assert design_effect_partial(-0.02, 7) == 1.0  # a negative ICC estimate is no clustering
    with pytest.raises(ValueError, match="group size"):
        design_effect_partial(0.1, 0.5)


def test_design_effect_matches_simulated_variance():
    """Variance of the difference in means of a partially nested design, vs the true value from simulation."""
    rng = np.random.default_rng(20261123)
    icc, m, n_groups, n_control, reps = 0.2, 6, 20, 120, 6000
    group = rng.normal(0, math.sqrt(icc), (reps, n_groups, 1))
    treated = (group + rng.normal(0, math.sqrt(1 - icc), (reps, n_groups, m))).reshape(reps, -1).mean(axis=1)
    control = rng.normal(0, 1, (reps, n_control)).mean(axis=1)
    n = n_groups * m  # equal arms
    assert n == n_control
    expected = (2 / n) * design_effect_partial(icc, m)
    # Monte-Carlo SE of a variance estimate: var * sqrt(2 / (reps - 1)) ~ 1.8 %; allow 3 SE
    assert_allclose(np.var(treated - control, ddof=1), expected, rtol=0.055)


def _toy_scores() -> pd.DataFrame:
    # change scores of the intervisie members are the docstring example of icc_aggregation:
    # groups A (1, 2, 3), B (4, 5, 5, 6), C (4, 6): MSB 9, MSW 1, k0 26/9 -> ICC(1) 36/49
    rows = []
    changes = {"A": [1, 2, 3], "B": [4, 5, 5, 6], "C": [4, 6]}
    pid = 0
    for g, values in changes.items():
        for c in values:
            rows += [("intervisie", g, f"p{pid}", "t0", 10.0), ("intervisie", g, f"p{pid}", "t1", 10.0 + c)]
            pid += 1
    for c in [0, 1, 2, 3]:
        rows += [("comparison", None, f"p{pid}", "t0", 20.0), ("comparison", None, f"p{pid}", "t1", 20.0 + c)]
        pid += 1
    # two people with a baseline only: one per arm
    rows += [("intervisie", "A", "drop1", "t0", 12.0), ("comparison", None, "drop2", "t0", 12.0)]
    frame = pd.DataFrame(rows, columns=["arm", "group", "participant", "wave", "score"])
    return frame.assign(scale="brs", programme="x")


def test_change_components_hand_worked():
    parts = change_components(_toy_scores(), scale="brs", baseline="t0", follow_up="t1")
    a = np.array([1, 2, 3, 4, 5, 5, 6, 4, 6], float)
    b = np.array([0, 1, 2, 3], float)
    pooled = math.sqrt((8 * a.var(ddof=1) + 3 * b.var(ddof=1)) / 11)
    assert_allclose(parts["sd_change"], pooled, rtol=1e-12)
    assert_allclose(parts["diff_change"], a.mean() - b.mean(), rtol=1e-12)
    assert_allclose(parts["icc_change"], 36 / 49, rtol=1e-12)
    assert_allclose(parts["cluster_size"], 26 / 9, rtol=1e-12)
    assert_allclose([parts["retention_treated"], parts["retention_comparison"]], [9 / 10, 4 / 5], rtol=1e-12)
    assert (parts["n_treated"], parts["n_comparison"]) == (9, 4)


def test_sample_size_hand_worked():
    parts = {"icc_change": 0.1, "cluster_size": 5.0, "retention_treated": 0.8, "retention_comparison": 0.5,
             "d_observed": -0.5, "sd_change": 10.0}
    table = sample_size(parts, effect_sizes=[0.5], alpha=0.05, power=0.8).set_index("basis")
    n0 = n_per_arm(0.5)  # 63.77
    deff = (1 + 4 * 0.1 + 1) / 2  # 1.2
    assert_allclose(table.loc["d=0.5", "n_unclustered"], n0, rtol=1e-12)
    assert table.loc["d=0.5", "n_analysed"] == math.ceil(n0 * deff)  # 77
    assert table.loc["d=0.5", "n_enrol"] == math.ceil(n0 * deff / 0.5)  # the lower retention: 154
    assert table.loc["d=0.5", "groups_needed"] == math.ceil(math.ceil(n0 * deff) / 5)  # 16
    assert table.loc["observed", "effect_raw"] == -5.0  # signed as observed, in score units


@pytest.mark.slow
def test_power_stage_on_the_demo(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """The observed standardised difference in change equals the change stage's Cohen's d (same definition)."""
    clean = built_project(tmp_path_factory, "data_clean/scale_scores.parquet") / "data_clean"
    run_power(clean, ROOT / "params.yaml", tmp_path, lambda _m: None)
    comp = pd.read_csv(tmp_path / "components.csv")
    sizes = pd.read_csv(tmp_path / "sample_size.csv")
    assert set(comp["horizon"]) == {"short", "long"}
    assert (sizes["n_enrol"] >= sizes["n_analysed"]).all()
    assert (sizes["n_analysed"] >= np.floor(sizes["n_unclustered"])).all()
    # larger effects need fewer people
    for _, part in sizes[sizes["basis"] != "observed"].groupby(["outcome", "horizon"]):
        assert part.sort_values("effect_d")["n_analysed"].is_monotonic_decreasing
    # cross-check against the change stage's Cohen's d of change (analyses.change.hedges_g, tested vs
    # Borenstein et al.'s worked example): same definition, so equal to rounding error
    from analyses.change import hedges_g
    from analyses.data import change_table
    from intervisie.stages.common import analysis_scores, load_analysis_params

    _p, scores = analysis_scores(clean, load_analysis_params(ROOT / "params.yaml", clean / "design.json"))
    for scale in ("brs", "cbi_work"):
        change = change_table(scores, scale=scale, pre="t0", post="t1")
        change["change"] = change["post"] - change["pre"]
        ref = hedges_g(change, dv="change", between="arm", levels=["intervisie", "comparison"]).iloc[0]
        row = comp[(comp["outcome"] == scale) & (comp["horizon"] == "short")].iloc[0]
        assert_allclose(row["d_observed"], ref["d"], rtol=1e-10)


# ----------------------------------------------------------------------------- one arm: within-person change


def test_n_paired_matches_r_power_t_test_paired():
    """R: sapply(c(0.2, 0.35, 0.5, 1), function(d) power.t.test(delta = d, sd = 1, power = 0.8, type = "paired")$n)."""
    from analyses.power import n_paired

    embedded = [198.1513012658, 66.0189768872, 33.3672040880, 9.9378639003]  # R 4.x, uniroot tolerance ~1e-5
    assert_allclose([n_paired(d) for d in (0.2, 0.35, 0.5, 1.0)], embedded, rtol=1e-5)
    # the normal-approximation formula n = ((z_.975 + z_.8) / d)^2 (Julious 2004) is about z^2/2 = 1.9 lower
    z = (1.959963984540054 + 0.8416212335729143) ** 2
    assert 1.0 < n_paired(0.2) - z / 0.04 < 2.5
    assert n_paired(float("nan")) == math.inf


def test_n_paired_matches_r_live():
    from analyses.power import n_paired

    out = run_r(
        'out$n <- sapply(c(0.25, 0.6), function(d) power.t.test(delta = d, sd = 1, sig.level = 0.01, power = 0.9,'
        ' type = "paired")$n)',
        pd.DataFrame({"x": [1]}),
        packages=("jsonlite",),
    )
    assert_allclose([n_paired(d, alpha=0.01, power=0.9) for d in (0.25, 0.6)], out["n"], rtol=1e-5)


def test_sample_size_within_hand_worked():
    from analyses.power import n_paired, sample_size_within

    parts = {"icc_change": 0.1, "cluster_size": 6.0, "retention_treated": 0.8, "d_observed": -0.4, "sd_change": 5.0}
    table = sample_size_within(parts, effect_sizes=[0.5]).set_index("basis")
    deff = 1 + 5 * 0.1  # every participant is in a group: the full design effect 1.5
    n0 = n_paired(0.5)
    assert_allclose(table.loc["d=0.5", "design_effect"], deff, rtol=1e-12)
    assert table.loc["d=0.5", "n_analysed"] == math.ceil(n0 * deff)  # 51
    assert table.loc["d=0.5", "n_enrol"] == math.ceil(n0 * deff / 0.8)  # 63
    assert table.loc["d=0.5", "groups_needed"] == math.ceil(math.ceil(n0 * deff) / 6)  # 9
    assert table.loc["observed", "effect_raw"] == -2.0
    # ICC not estimable: no clustered count, the reason in the note, n_unclustered still given
    nan_icc = sample_size_within({**parts, "icc_change": math.nan, "note": "ICC of change not estimable (x)"},
                                 effect_sizes=[0.5]).set_index("basis")
    assert np.isnan(nan_icc.loc["d=0.5", "n_analysed"]) and "not estimable" in nan_icc.loc["d=0.5", "note"]
    assert_allclose(nan_icc.loc["d=0.5", "n_unclustered"], n0, rtol=1e-12)


def test_within_components_hand_worked():
    from analyses.power import within_components

    scores = _toy_scores()
    parts = within_components(scores, scale="brs", baseline="t0", follow_up="t1")
    a = np.array([1, 2, 3, 4, 5, 5, 6, 4, 6], float)
    assert_allclose([parts["mean_change"], parts["sd_change"]], [a.mean(), a.std(ddof=1)], rtol=1e-12)
    assert_allclose(parts["icc_change"], 36 / 49, rtol=1e-12)
    assert parts["retention_treated"] == 9 / 10 and parts["note"] is None
    # tied changes: the ICC is not estimable, with the reason, and nothing raises
    tied = scores.assign(score=np.where(scores["wave"] == "t1", scores["score"] * 0 + 11, 10.0))
    flat = within_components(tied, scale="brs", baseline="t0", follow_up="t1")
    assert np.isnan(flat["icc_change"]) and flat["note"].startswith("ICC of change not estimable")
    assert np.isnan(flat["d_observed"])
