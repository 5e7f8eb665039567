"""Aggregation checks: each statistic against the reference it must match, with the tolerance stated.

References
----------
* Hand computation of the one-way ANOVA, k0, ICC(1), ICC(2) (Bliese 2000) and rwg(j)
  (James, Demaree & Wolf 1984) -- arithmetic in the comments, ``atol=1e-12``.
* R, run live through ``tests/r_reference.py`` (skipped with the reason when missing):
  ``psych::ICC`` (rows ICC1 / ICC1k, the one-way model of McGraw & Wong 1996) and base ``aov``
  on balanced data; ``multilevel::ICC1`` / ``ICC2`` / ``rwg.j`` (Bliese) -- ``rtol=1e-8``.
* Simulated truth: population ICC(1) = tau^2 / (tau^2 + sigma^2) of a random-intercept model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from analyses.aggregation import aggregation_check, icc_aggregation, rwg_j, rwg_summary
from tests.r_reference import run_r


def _simulate(n_groups: int, size: int | list[int], tau2: float, sigma2: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = [size] * n_groups if isinstance(size, int) else list(size)
    group = np.repeat([f"g{j:03d}" for j in range(len(sizes))], sizes)
    u = np.repeat(rng.normal(0, np.sqrt(tau2), len(sizes)), sizes)
    return pd.DataFrame({"group": group, "y": 3 + u + rng.normal(0, np.sqrt(sigma2), len(group))})


# ----------------------------------------------------------------------------- ICC by hand


def test_icc_hand_worked_unbalanced():
    # A: 1 2 3 (n 3, mean 2)  B: 4 5 5 6 (n 4, mean 5)  C: 4 6 (n 2, mean 5); N 9, J 3, grand mean 4
    # SSB = 3(2-4)^2 + 4(5-4)^2 + 2(5-4)^2 = 12 + 4 + 2 = 18, df 2 -> MSB 9
    # SSW = (1+0+1) + (1+0+0+1) + (1+1) = 6, df 6 -> MSW 1; F = 9
    # k0 = (9 - (9 + 16 + 4)/9) / 2 = (52/9)/2 = 26/9
    # ICC(1) = (9 - 1) / (9 + (26/9 - 1) * 1) = 8 / (98/9) = 36/49;  ICC(2) = (9 - 1)/9 = 8/9
    d = pd.DataFrame({"g": list("AAABBBBCC"), "y": [1, 2, 3, 4, 5, 5, 6, 4, 6]})
    res = icc_aggregation(d, dv="y", group="g")
    assert res.shape == (1, 13)
    assert (res["n_groups"].iloc[0], res["n_obs"].iloc[0]) == (3, 9)
    assert_allclose(
        res[["ms_between", "ms_within", "mean_group_size", "icc1", "icc2", "F", "p_val"]].iloc[0],
        [9, 1, 26 / 9, 36 / 49, 8 / 9, 9, stats.f.sf(9, 2, 6)],
        rtol=0,
        atol=1e-12,
    )


def test_icc_missing_rows_dropped():
    d = pd.DataFrame({"g": list("AAABBBBCCC"), "y": [1, 2, 3, 4, 5, 5, 6, 4, 6, np.nan]})
    assert_allclose(icc_aggregation(d, dv="y", group="g")["icc1"].iloc[0], 36 / 49, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- ICC against R


def test_icc_matches_psych_icc_balanced():
    # R: psych::ICC(wide) with groups as rows, members as columns; type "ICC1" (row
    #    Single_raters_absolute) and "ICC1k" (Average_raters_absolute), psych 2.2.9;
    #    summary(aov(y ~ factor(group), d)) for MSB, MSW, F, p.
    d = _simulate(30, 5, tau2=0.3, sigma2=1.0, seed=20240501)
    d["member"] = d.groupby("group").cumcount()
    script = """
    w <- reshape(d[, c("group", "member", "y")], idvar = "group", timevar = "member", direction = "wide")
    r <- psych::ICC(as.matrix(w[, -1]), lmer = FALSE)$results
    a <- summary(aov(y ~ factor(group), data = d))[[1]]
    out$icc1 <- r[r$type == "ICC1", "ICC"]; out$icc1k <- r[r$type == "ICC1k", "ICC"]
    out$msb <- a[1, "Mean Sq"]; out$msw <- a[2, "Mean Sq"]; out$F <- a[1, "F value"]; out$p <- a[1, "Pr(>F)"]
    """
    out = run_r(script, d, packages=("psych", "jsonlite"))
    res = icc_aggregation(d, dv="y", group="group").iloc[0]
    assert_allclose(
        [res["icc1"], res["icc2"], res["ms_between"], res["ms_within"], res["F"], res["p_val"]],
        [out["icc1"], out["icc1k"], out["msb"], out["msw"], out["F"], out["p"]],
        rtol=1e-8,
    )


def test_icc_matches_multilevel_unbalanced():
    # R: m <- aov(y ~ factor(group), d); multilevel::ICC1(m); multilevel::ICC2(m).
    # multilevel::ICC1 uses the simple mean group size N/J, not k0: compare it with the
    # formula at N/J, and ICC(2) (free of k) directly.
    sizes = [4, 5, 6, 7, 8, 9, 10] * 4
    d = _simulate(len(sizes), sizes, tau2=0.2, sigma2=1.0, seed=7)
    out = run_r(
        "m <- aov(y ~ factor(group), data = d); out$icc1 <- ICC1(m); out$icc2 <- ICC2(m)",
        d,
        packages=("multilevel", "jsonlite"),
    )
    res = icc_aggregation(d, dv="y", group="group").iloc[0]
    msb, msw, k_simple = res["ms_between"], res["ms_within"], res["n_obs"] / res["n_groups"]
    assert_allclose(res["icc2"], out["icc2"], rtol=1e-8)
    assert_allclose((msb - msw) / (msb + (k_simple - 1) * msw), out["icc1"], rtol=1e-8)
    assert res["mean_group_size"] < k_simple  # k0 <= N/J, equality only when balanced


# ----------------------------------------------------------------------------- rwg(j)


def test_rwg_j_hand_worked_and_truncation():
    # 3 items, 5 options: sigma2_EU = (25 - 1)/12 = 2.
    # Group 1: a (1,2,3) var 1; b (2,3,4) var 1; c (3,3,3) var 0 -> mean 2/3, ratio 1/3
    #          rwg(j) = 3(2/3) / (3(2/3) + 1/3) = 2 / (7/3) = 6/7
    # Group 2: a (1,3,5) var 4; b (1,5,3) var 4; c (5,1,1) mean 7/3, SS 64/9 + 2(16/9) = 96/9, var 16/3
    #          mean 40/9 > 2 -> truncated to 0 (the raw formula would give 33/13 > 1)
    # Group 3: one member -> NaN
    d = pd.DataFrame(
        {
            "g": [1, 1, 1, 2, 2, 2, 3],
            "a": [1, 2, 3, 1, 3, 5, 2],
            "b": [2, 3, 4, 1, 5, 3, 2],
            "c": [3, 3, 3, 5, 1, 1, 2],
        }
    )
    res = rwg_j(d, items=["a", "b", "c"], group="g", n_options=5)
    assert res["group"].tolist() == [1, 2, 3]
    assert res["n"].tolist() == [3, 3, 1]
    assert res["truncated"].tolist() == [False, True, False]
    assert_allclose(res["var_eu"], 2.0, rtol=0, atol=1e-12)
    assert_allclose(res["mean_item_var"], [2 / 3, 40 / 9, np.nan], rtol=0, atol=1e-12)
    assert_allclose(res["rwg_j"], [6 / 7, 0.0, np.nan], rtol=0, atol=1e-12)

    summ = rwg_summary(res).iloc[0]
    assert summ["n_groups"] == 2 and summ["n_truncated"] == 1
    assert_allclose([summ["rwg_median"], summ["rwg_mean"], summ["share_rwg_ok"]], [3 / 7, 3 / 7, 0.5], atol=1e-12)


def test_rwg_j_matches_multilevel():
    # R: multilevel::rwg.j(d[, c("a", "b", "c", "d")], d$group, ranvar = 2)
    rng = np.random.default_rng(11)
    sizes = rng.integers(2, 9, 25)
    group = np.repeat([f"g{j:02d}" for j in range(25)], sizes)
    spread = np.repeat(rng.uniform(0.3, 2.5, 25), sizes)  # some groups disagree -> truncation
    centre = np.repeat(rng.normal(3, 0.5, 25), sizes)
    d = pd.DataFrame({"group": group})
    for item in "abcd":
        d[item] = np.clip(np.rint(centre + rng.normal(0, 1, len(group)) * spread), 1, 5)
    out = run_r(
        'r <- rwg.j(d[, c("a", "b", "c", "d")], d$group, ranvar = 2); out$g <- r$grpid; out$rwg <- r$rwg.j',
        d,
        packages=("multilevel", "jsonlite"),
    )
    res = rwg_j(d, items=list("abcd"), group="group", n_options=5)
    assert res["group"].tolist() == out["g"]
    assert res["truncated"].any()
    assert_allclose(res["rwg_j"], out["rwg"], rtol=1e-8, atol=1e-12)


# ----------------------------------------------------------------------------- simulated truth


def test_icc_recovers_population_values():
    # tau2 0.25, sigma2 1 -> ICC(1) = 0.2; with k = 6, ICC(2) = 6(.2)/(1 + 5(.2)) = 0.6.
    # J = 2000: SE(ICC1) ~ sqrt(2(1-.2)^2(1+5(.2))^2 / (6*5*1999)) ~ 0.009 -> atol 0.03 (> 3 SE).
    d = _simulate(2000, 6, tau2=0.25, sigma2=1.0, seed=2000)
    res = icc_aggregation(d, dv="y", group="group").iloc[0]
    assert_allclose(res["icc1"], 0.2, atol=0.03)
    assert_allclose(res["icc2"], 0.6, atol=0.03)


# ----------------------------------------------------------------------------- verdict


def _items_data(n_groups: int, size: int, tau2: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(n_groups), size)
    u = np.repeat(rng.normal(0, np.sqrt(tau2), n_groups), size)
    d = pd.DataFrame({"group": group})
    for item in "abc":
        d[item] = np.clip(np.rint(4 + u + rng.normal(0, 0.5, len(group))), 1, 5)
    d["score"] = d[["a", "b", "c"]].mean(axis=1)
    return d


def test_aggregation_check_states_low_icc2():
    d = _items_data(40, 6, tau2=0.01, seed=3)
    res = aggregation_check(d, dv="score", items=list("abc"), group="group", n_options=5).iloc[0]
    icc1, icc2 = res["icc1"], res["icc2"]
    assert 0.05 <= icc1 and icc2 < 0.70  # the small-group case this check exists for
    assert not res["justified"] and res["icc1_ok"] and not res["icc2_ok"]
    assert "ICC(2)" in res["verdict"] and "unreliable with groups of about 6 members" in res["verdict"]
    k = res["k_needed"]  # Spearman-Brown at k_needed gives exactly .70
    assert_allclose(k * icc1 / (1 + (k - 1) * icc1), 0.70, atol=1e-12)


def test_aggregation_check_justified():
    d = _items_data(40, 8, tau2=0.6, seed=4)
    res = aggregation_check(d, dv="score", items=list("abc"), group="group", n_options=5).iloc[0]
    assert res["justified"] and res["verdict"].startswith("Aggregation justified")
    assert res["rwg_median"] >= 0.70


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d: icc_aggregation(d, dv="nope", group="g"), "nope"),
        (lambda d: icc_aggregation(d, dv="y", group="team"), "team"),
        (lambda d: icc_aggregation(d, dv="label", group="g"), "not numeric.*label"),
        (lambda d: rwg_j(d, items=["y", "x9"], group="g", n_options=5), "x9"),
        (lambda d: rwg_j(d, items="y", group="g", n_options=5), "list of column names"),
        (lambda d: rwg_j(d, items=["y"], group="g", n_options=1), "n_options"),
        (lambda d: aggregation_check(d, dv="y", items=["q"], group="g", n_options=5), "'q'"),
        (lambda d: icc_aggregation(d.assign(g="A"), dv="y", group="g"), "at least 2 groups"),
    ],
)
def test_bad_input_raises(call, match):
    d = pd.DataFrame({"g": list("AABB"), "y": [1.0, 2, 3, 4], "label": list("abcd")})
    with pytest.raises(ValueError, match=match):
        call(d)


def test_icc_of_all_equal_values_is_not_estimable() -> None:
    """Every rating the same (no variance at all): ICC(1) and ICC(2) are 0/0, reported as NaN, not an error."""
    tied = pd.DataFrame({"g": list("AABBCC"), "y": [4.0] * 6})
    res = icc_aggregation(tied, dv="y", group="g")
    assert np.isnan(res["icc1"].iloc[0]) and np.isnan(res["icc2"].iloc[0])
    assert res["ms_between"].iloc[0] == 0.0 and res["ms_within"].iloc[0] == 0.0
