"""The short-term effects table builder on data whose changes are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.testing import assert_allclose

from analyses.short_term import change_results


def _scores() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for arm, shift in (("intervisie", 0.5), ("comparison", 0.0)):
        for programme in ("anios", "coschappen"):
            for k in range(20):
                pid = f"{arm}-{programme}-{k}"
                pre = 3 + rng.normal(0, 0.5)
                noise = rng.normal(0, 0.2)
                for wave, score in (("t0", pre), ("t1", pre + shift + noise)):
                    rows.append({"participant": pid, "group": "g", "programme": programme, "arm": arm,
                                 "wave": wave, "scale": "brs", "score": score})
    return pd.DataFrame(rows)


def test_change_tables_match_direct_computation() -> None:
    scores = _scores()
    reliability = pd.DataFrame({"scale": ["brs"], "wave": ["t0"], "programme": ["all"], "alpha": [0.8]})
    out, skipped = change_results(scores, reliability, scales=["brs"], baseline="t0", short_term="t1",
                                  directions={"brs": True})
    assert skipped == []
    wide = scores.pivot_table(index=["participant", "arm", "programme"], columns="wave", values="score").reset_index()
    wide["change"] = wide["t1"] - wide["t0"]
    # between arms, all programmes: the difference of the mean changes (intervisie - comparison)
    between = out["between_arms"].set_index("programme")
    expected = wide.loc[wide.arm == "intervisie", "change"].mean() - wide.loc[wide.arm == "comparison", "change"].mean()
    assert_allclose(between.loc["all", "mean_diff"], expected, rtol=1e-12)
    assert set(between.index) == {"all", "anios", "coschappen"}
    # within-arm rows: every arm x (all + each programme), with n as counted
    within = out["within_change"].set_index(["arm", "programme"])
    assert within.loc[("intervisie", "all"), "n"] == 40 and within.loc[("comparison", "anios"), "n"] == 20
    # reliable change uses the baseline alpha of all programmes, and the shares add up to one
    shares = out["reliable_change"]
    assert (shares["reliability"] == 0.8).all()
    assert_allclose(shares.groupby(["arm", "programme"])["share"].sum().to_numpy(), 1.0, rtol=1e-12)
    # Jacobson-Truax by hand: SE_diff = sqrt(2) * SD_pre * sqrt(1 - 0.8), SD_pre over all pairs
    se_diff = np.sqrt(2) * wide["t0"].std(ddof=1) * np.sqrt(1 - 0.8)
    rci = wide["change"] / se_diff
    mine = rci[wide.arm == "intervisie"]
    improved = shares[(shares.arm == "intervisie") & (shares.programme == "all") & (shares.category == "improved")]
    assert_allclose(improved["share"].iloc[0], (mine > 1.96).mean(), rtol=1e-12)
    assert 0.1 < improved["share"].iloc[0] < 0.6  # a 0.5 change against SE_diff ~ 0.3: some, not all
