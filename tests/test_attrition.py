"""Response flow, missing-data patterns and completer/dropout differences against known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.testing import assert_allclose

from analyses.attrition import baseline_differences, hedges_g_independent, missing_patterns, response_flow
from analyses.data import piecewise_time


def _exact(mean: float, sd: float, n: int, seed: int) -> np.ndarray:
    """A sample with exactly this mean and SD (ddof=1)."""
    z = np.random.default_rng(seed).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def test_hedges_g_matches_borenstein_worked_example() -> None:
    # Borenstein, Hedges, Higgins & Rothstein (2009), Introduction to Meta-Analysis, ch. 4:
    # means 103 and 100, SDs 5.5 and 4.5, n = 50 each -> S_within 5.0249, d 0.5970, J 0.9923, g 0.5924
    x, y = _exact(103, 5.5, 50, 1), _exact(100, 4.5, 50, 2)
    assert_allclose(hedges_g_independent(x, y), 0.5924, atol=5e-5)


def test_welch_test_matches_the_hand_formula() -> None:
    # Welch (1947): t = (mx - my) / sqrt(vx/nx + vy/ny); df by Welch-Satterthwaite. R: t.test(x, y)
    x, y = _exact(10, 2, 8, 3), _exact(8, 3, 12, 4)
    se2 = 4 / 8 + 9 / 12
    t = 2 / np.sqrt(se2)
    df = se2**2 / ((4 / 8) ** 2 / 7 + (9 / 12) ** 2 / 11)
    scores = pd.DataFrame(
        {
            "participant": [f"a{i}" for i in range(8)] + [f"b{i}" for i in range(12)],
            "scale": "brs",
            "wave": "t0",
            "arm": "intervisie",
            "score": np.concatenate([x, y]),
        }
    )
    last = pd.DataFrame({"participant": [f"a{i}" for i in range(8)], "scale": "brs", "wave": "t3", "arm": "intervisie",
                         "score": 1.0})
    table = baseline_differences(pd.concat([scores, last]), scales=["brs"], baseline="t0", last="t3")
    row = table.iloc[0]
    assert (row.n_completers, row.n_dropouts) == (8, 12)
    assert_allclose([row.difference, row.t_val, row.df], [2.0, t, df], rtol=1e-10)


def test_flow_and_patterns_count_by_hand() -> None:
    participants = pd.DataFrame(
        {"participant": ["p1", "p2", "p3", "p4"], "arm": ["intervisie"] * 3 + ["comparison"],
         "programme": ["anios"] * 4}
    )
    answered = {"p1": ["t0", "t1"], "p2": ["t0"], "p3": [], "p4": ["t0", "t1"]}
    scores = pd.DataFrame(
        [{"participant": p, "wave": w, "scale": "brs", "score": 3.0} for p, ws in answered.items() for w in ws]
    )
    flow = response_flow(participants, scores, waves=["t0", "t1"])
    got = {(r.arm, r.stage): (r.n, r.share_of_roster) for r in flow.itertuples()}
    assert got == {
        ("intervisie", "roster"): (3, 1.0),
        ("intervisie", "t0"): (2, 2 / 3),
        ("intervisie", "t1"): (1, 1 / 3),
        ("comparison", "roster"): (1, 1.0),
        ("comparison", "t0"): (1, 1.0),
        ("comparison", "t1"): (1, 1.0),
    }
    patterns = missing_patterns(participants, scores, waves=["t0", "t1"])
    got = {(r.arm, r.pattern): r.n for r in patterns.itertuples()}
    assert got == {("intervisie", "11"): 1, ("intervisie", "10"): 1, ("intervisie", "00"): 1, ("comparison", "11"): 1}


def test_piecewise_time() -> None:
    short, long = piecewise_time(np.array([0, 1.5, 3, 12, 24]))
    assert_allclose(short, [0, 0.5, 1, 1, 1])
    assert_allclose(long, [0, 0, 0, 0.75, 1.75])


def test_patterns_use_the_designs_own_waves_and_any_id_type() -> None:
    """Two waves give two digits (no padding to four); integer ids in the roster match string ids in scores."""
    participants = pd.DataFrame({"participant": [1, 2, 3], "arm": ["intervisie"] * 3, "programme": ["x"] * 3})
    scores = pd.DataFrame({"participant": ["1", "1", "2", "3"], "wave": ["pre", "post", "pre", "later"],
                           "scale": "brs", "score": 3.0})
    patterns = missing_patterns(participants, scores, waves=["pre", "post"])
    assert dict(zip(patterns["pattern"], patterns["n"], strict=True)) == {"11": 1, "10": 1, "00": 1}
    assert (patterns["pattern"].str.len() == 2).all()  # the wave "later" is not a wave of the design
    flow = response_flow(participants, scores, waves=["pre", "post"])
    assert flow.set_index("stage")["n"].to_dict() == {"roster": 3, "pre": 2, "post": 1}


def test_baseline_differences_small_and_tied_groups_are_notes() -> None:
    scores = pd.DataFrame({"participant": ["a", "b", "c", "a"], "wave": ["t0", "t0", "t0", "t1"],
                           "arm": "intervisie", "scale": "brs", "score": [3.0, 3.0, 3.0, 3.5]})
    row = baseline_differences(scores, scales=["brs"], baseline="t0", last="t1").iloc[0]
    assert (row["n_completers"], row["n_dropouts"]) == (1, 2) and np.isnan(row["p_val"])
    assert row["note"].startswith("not estimable: 1 completer(s)")
    tied = pd.concat([scores, scores.assign(participant=lambda f: f["participant"] + "2")], ignore_index=True)
    row = baseline_differences(tied, scales=["brs"], baseline="t0", last="t1").iloc[0]
    assert "tied" in row["note"] and np.isnan(row["hedges_g"])
    empty = baseline_differences(scores, scales=["cbi_work"], baseline="t0", last="t1")
    assert empty.empty and {"scale", "arm", "p_val", "note"} <= set(empty.columns)
