"""The quality, change and power stages on every common design, from small synthetic canonical tables.

Designs: a single-arm 2-wave study of 40 people in 2 programmes (the shape of a real user's study
that crashed), two arms with tied change scores, a programme of 2 people, all scores tied, and
a 4-wave two-arm study. Known answers: counts by construction, the true change of the simulated
scores, and what the design cannot support (``skipped.csv``). No stage may crash, and every
declared table is written with its header.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from intervisie.stages.common import SKIPPED_COLUMNS, run_quality
from intervisie.stages.power import run_power
from intervisie.stages.short_term import run_change
from tests.small_study import small_design, write_study

ROOT = Path(__file__).parents[1]
PARAMS = ROOT / "params.yaml"
QUIET = lambda _m: None  # noqa: E731


def _run_all(root: Path, clean: Path, reliability: pd.DataFrame | None = None) -> dict[str, Path]:
    out = {name: root / name for name in ("quality", "change", "power")}
    rel_path = root / "reliability.csv"
    if reliability is not None:
        reliability.to_csv(rel_path, index=False)
    run_quality(clean, PARAMS, out["quality"], QUIET)
    run_change(clean, ROOT / "instruments", rel_path, PARAMS, out["change"], QUIET)
    run_power(clean, PARAMS, out["power"], QUIET)
    for stage, files in {
        "quality": ["response_flow", "missing_patterns", "baseline_differences", "careless_summary", "skipped"],
        "change": ["within_change", "between_arms", "reliable_change", "responsiveness", "skipped"],
        "power": ["components", "sample_size", "skipped"],
    }.items():
        for name in files:
            header = (out[stage] / f"{name}.csv").read_text().splitlines()[0]
            assert header and "," in header, f"{stage}/{name}.csv has no header"
        json.loads((out[stage] / "metrics.json").read_text())  # valid JSON (no NaN)
    return out


def _alpha(value: float = 0.8) -> pd.DataFrame:
    return pd.DataFrame({"scale": ["brs", "cbi_work"], "wave": ["a", "a"], "programme": ["all", "all"],
                         "alpha": [value, value]})


@pytest.fixture(scope="module")
def single_arm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """40 people, 2 programmes, 2 waves, intervisie only (true BRS change 0.3, SD of change 0.3 sqrt 2)."""
    root = tmp_path_factory.mktemp("single_arm")
    design = small_design(waves={"a": 0, "b": 3}, programmes=["p1", "p2"], arms=["intervisie"])
    write_study(root / "clean", design, n={("intervisie", "p1"): 22, ("intervisie", "p2"): 18},
                change={"intervisie": 0.3}, dropout=0.1, seed=3)
    return _run_all(root, root / "clean", _alpha())


def test_single_arm_change(single_arm):
    within = pd.read_csv(single_arm["change"] / "within_change.csv")
    assert set(within["programme"]) == {"all", "p1", "p2"} and set(within["arm"]) == {"intervisie"}
    brs = within[(within["outcome"] == "brs") & (within["programme"] == "all")].iloc[0]
    assert abs(brs["mean_change"] - 0.3) < 0.15  # true 0.3; SE 0.42 / sqrt(36) = 0.07
    srm = pd.read_csv(single_arm["change"] / "responsiveness.csv").set_index(["outcome", "programme"])
    assert srm.loc[("brs", "all"), "ci95_low"] < 0.3 / (0.3 * np.sqrt(2)) < srm.loc[("brs", "all"), "ci95_high"]
    between = pd.read_csv(single_arm["change"] / "between_arms.csv")
    assert between.empty and {"outcome", "programme", "g", "note"} <= set(between.columns)
    assert not pd.read_csv(single_arm["change"] / "reliable_change.csv").empty  # still computed
    skipped = pd.read_csv(single_arm["change"] / "skipped.csv")
    assert list(skipped.columns) == SKIPPED_COLUMNS
    reasons = skipped.loc[skipped["analysis"] == "difference in change between arms", "reason"]
    assert reasons.str.startswith("no comparison cohort").all() and len(reasons) == 2
    assert json.loads((single_arm["change"] / "metrics.json").read_text()) == {}


def test_single_arm_quality(single_arm):
    patterns = pd.read_csv(single_arm["quality"] / "missing_patterns.csv", dtype={"pattern": str})
    assert set(patterns["pattern"]) <= {"11", "10", "01", "00"} and patterns["n"].sum() == 40
    flow = pd.read_csv(single_arm["quality"] / "response_flow.csv")
    assert flow.loc[flow["stage"] == "roster", "n"].sum() == 40
    metrics = json.loads((single_arm["quality"] / "metrics.json").read_text())
    answered = flow.loc[flow["stage"] == "b", "n"].sum()
    assert metrics == {"retention_intervisie_b": round(answered / 40, 6)}
    assert pd.read_csv(single_arm["quality"] / "careless_summary.csv").empty


def test_single_arm_power(single_arm):
    sizes = pd.read_csv(single_arm["power"] / "sample_size.csv")
    assert set(sizes["horizon"]) == {"short"} and (sizes["analysis"] == "within-person change (one arm)").all()
    assert (sizes.dropna(subset=["n_analysed"])["n_analysed"] >= np.floor(sizes["n_unclustered"].min())).all()
    skipped = pd.read_csv(single_arm["power"] / "skipped.csv")
    assert skipped["analysis"].str.contains("long-term").any()
    assert skipped["reason"].str.startswith("no comparison cohort").any()


def test_tied_comparison_changes_and_a_tiny_programme(tmp_path: Path):
    """Four comparison people with identical change (noise 0), and a programme with 2 people."""
    design = small_design(waves={"a": 0, "b": 3}, programmes=["p1", "p2"], arms=["comparison", "intervisie"])
    clean = tmp_path / "clean"
    write_study(clean, design, n={("intervisie", "p1"): 20, ("intervisie", "p2"): 2, ("comparison", "p1"): 4},
                change={"intervisie": 0.3, "comparison": 0.2}, seed=4)
    scores = pd.read_parquet(clean / "scale_scores.parquet")
    comparison = scores["participant"].str.startswith("com")
    post = comparison & (scores["wave"] == "b")
    pre = scores[comparison & (scores["wave"] == "a")].set_index(["participant", "scale"])["score"]
    keys = pd.MultiIndex.from_frame(scores.loc[post, ["participant", "scale"]])
    scores.loc[post, "score"] = pre.reindex(keys).to_numpy() + 0.2  # identical changes, up to rounding
    scores.to_parquet(clean / "scale_scores.parquet")
    out = _run_all(tmp_path, clean, _alpha())
    within = pd.read_csv(out["change"] / "within_change.csv").set_index(["outcome", "arm", "programme"])
    tied = within.loc[("brs", "comparison", "all")]
    assert tied["sd_change"] == 0 and np.isnan(tied["ci95_low"]) and "all changes are equal" in tied["note"]
    tiny = within.loc[("brs", "intervisie", "p2")]
    assert tiny["n"] == 2 and np.isnan(tiny["g_av"]) and tiny["note"].startswith("not estimable")
    between = pd.read_csv(out["change"] / "between_arms.csv").set_index(["outcome", "programme"])
    assert np.isfinite(between.loc[("brs", "all"), "g"])  # the intervisie arm varies
    assert between.loc[("brs", "p2"), "note"].startswith("not estimable")  # 2 vs 0 people


def test_all_scores_tied(tmp_path: Path):
    design = small_design(waves={"a": 0, "b": 3}, programmes=["p1"], arms=["comparison", "intervisie"])
    clean = tmp_path / "clean"
    write_study(clean, design, n={("intervisie", "p1"): 10, ("comparison", "p1"): 6}, change={"intervisie": 0.0,
                "comparison": 0.0}, noise=0.0, seed=5)
    scores = pd.read_parquet(clean / "scale_scores.parquet").assign(score=3.0)
    scores.to_parquet(clean / "scale_scores.parquet")
    out = _run_all(tmp_path, clean, _alpha())
    within = pd.read_csv(out["change"] / "within_change.csv")
    assert within["d_av"].isna().all() and within["note"].str.contains("no variance").all()
    assert pd.read_csv(out["change"] / "between_arms.csv")["note"].str.contains("tied").all()
    skipped = pd.read_csv(out["change"] / "skipped.csv")
    assert skipped.loc[skipped["analysis"] == "reliable change", "reason"].str.startswith("not estimable").all()
    differences = pd.read_csv(out["quality"] / "baseline_differences.csv")
    assert differences["note"].str.startswith("not estimable").all()  # nobody dropped out
    sizes = pd.read_csv(out["power"] / "sample_size.csv")
    assert sizes.loc[sizes["basis"] == "observed", "n_analysed"].isna().all()


def test_four_waves_with_comparison_has_both_horizons(tmp_path: Path):
    design = small_design(waves={"a": 0, "b": 3, "c": 12, "d": 24}, programmes=["p1", "p2"],
                          arms=["comparison", "intervisie"])
    clean = tmp_path / "clean"
    write_study(clean, design, n={("intervisie", "p1"): 15, ("intervisie", "p2"): 15, ("comparison", "p1"): 10,
                                  ("comparison", "p2"): 10}, change={"intervisie": 0.4, "comparison": 0.0},
                dropout=0.2, seed=6)
    out = _run_all(tmp_path, clean, _alpha())
    patterns = pd.read_csv(out["quality"] / "missing_patterns.csv", dtype={"pattern": str})
    assert patterns["pattern"].str.len().eq(4).all() and patterns["pattern"].str.startswith("1").all()
    sizes = pd.read_csv(out["power"] / "sample_size.csv")
    assert set(sizes["horizon"]) == {"short", "long"} and set(sizes["wave"]) == {"b", "d"}
    assert (sizes["analysis"] == "difference in change between arms").all()
    between = pd.read_csv(out["change"] / "between_arms.csv").set_index(["outcome", "programme"])
    assert between.loc[("brs", "all"), "mean_diff"] > 0  # true difference 0.4
    assert pd.read_csv(out["power"] / "skipped.csv").empty
