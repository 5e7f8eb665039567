"""Change statistics: each against the reference it must match, with the tolerance stated.

References
----------
* Lakens (2013), Front Psychol 4:863, movie-rating example (10 people rate two movies):
  paired t(9) = 4.74, Cohen's d_z = 1.50, d_av = 1.13 with 95% CI [0.42, 1.80] (ESCI), between
  groups d_s = 1.13, Hedges' g_s = 1.08. Published to 2 decimals, hence ``atol=0.005``.
* pingouin 0.7.0 docstrings of ``compute_effsize`` and ``compute_esci``.
* R effectsize 0.8.3 (``cohens_d(paired = TRUE)``, ``hedges_g``) and ``prop.test`` (Wilson
  interval): numbers embedded below with the R call, and run live through
  ``tests/r_reference.py`` when R with effectsize is installed (else skipped with the reason).
* statsmodels ``proportion_confint(method="wilson")``.
* Jacobson & Truax (1991) formulas on a hand-worked example (arithmetic in the comments).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analyses.change import hedges_g, hedges_g_change, standardised_response_mean
from analyses.reliable_change import reliable_change, reliable_change_shares
from tests.r_reference import run_r

# ----------------------------------------------------------------------------- data

MOVIE_1 = [9, 7, 8, 9, 8, 9, 9, 10, 9, 9]
MOVIE_2 = [9, 6, 7, 8, 7, 9, 8, 8, 8, 7]


@pytest.fixture
def movies() -> pd.DataFrame:
    """Lakens (2013): the same 10 people rate movie 2 ('pre') and movie 1 ('post')."""
    return pd.DataFrame({"movie_2": MOVIE_2, "movie_1": MOVIE_1})


# ----------------------------------------------------------------------------- within g


def test_g_change_matches_lakens_2013(movies):
    row = hedges_g_change(movies, pre="movie_2", post="movie_1").iloc[0]
    expected = [
        "n", "mean_pre", "mean_post", "mean_change", "sd_pre", "sd_post", "sd_change", "r_pre_post",
        "d_av", "g_av", "ci95_low", "ci95_high", "note",
    ]  # fmt: skip
    assert list(row.index) == expected
    assert row["n"] == 10
    # Lakens (2013): d_av = 1.13, 95% CI [0.42, 1.80]; t(9) = 4.74
    assert_allclose(row["d_av"], 1.13, atol=0.005)
    assert_allclose([row["ci95_low"], row["ci95_high"]], [0.42, 1.80], atol=0.005)
    assert_allclose(row["mean_change"] / (row["sd_change"] / np.sqrt(10)), 4.74, atol=0.005)
    # pingouin.compute_effsize(paired=True, eftype="cohen") is the same d_av (average variance)
    assert_allclose(row["d_av"], pg.compute_effsize(MOVIE_1, MOVIE_2, paired=True, eftype="cohen"), rtol=1e-12)
    # g_av = J d_av with J = 1 - 3 / (4 (n - 1) - 1) = 1 - 3/35
    assert_allclose(row["g_av"], row["d_av"] * (1 - 3 / 35), rtol=1e-12)
    # Lakens' g_av = 1.08 and pingouin's paired Hedges g use the two-group J = 1 - 3/(4*20 - 9):
    # the documented difference (1.08 there, 1.03 here).
    g_two_group = pg.compute_effsize(MOVIE_1, MOVIE_2, paired=True, eftype="hedges")
    assert_allclose(g_two_group, row["d_av"] * (1 - 3 / 71), rtol=1e-12)
    assert_allclose(g_two_group, 1.08, atol=0.005)
    assert_allclose(row["g_av"], 1.0294, atol=5e-5)


def test_g_change_interval_inverts_the_noncentral_t(movies):
    # Algina & Keselman (2003): [lambda_L, lambda_U] of the paired t, times s_D / (sqrt(n) s_av)
    row = hedges_g_change(movies, pre="movie_2", post="movie_1").iloc[0]
    n = 10
    s_av = np.sqrt((row["sd_pre"] ** 2 + row["sd_post"] ** 2) / 2)
    factor = row["sd_change"] / (np.sqrt(n) * s_av)
    t = row["mean_change"] / (row["sd_change"] / np.sqrt(n))
    assert_allclose(stats.nct.cdf(t, n - 1, row["ci95_low"] / factor), 0.975, atol=1e-10)
    assert_allclose(stats.nct.cdf(t, n - 1, row["ci95_high"] / factor), 0.025, atol=1e-10)


def test_g_change_sign_and_missing_rows(movies):
    up = hedges_g_change(movies, pre="movie_2", post="movie_1").iloc[0]
    down = hedges_g_change(movies, pre="movie_1", post="movie_2").iloc[0]
    assert_allclose(down["g_av"], -up["g_av"], rtol=1e-12)
    assert_allclose([down["ci95_low"], down["ci95_high"]], [-up["ci95_high"], -up["ci95_low"]], rtol=1e-9)
    gaps = pd.concat([movies, pd.DataFrame({"movie_2": [np.nan, 5.0], "movie_1": [4.0, np.nan]})], ignore_index=True)
    assert_allclose(hedges_g_change(gaps, pre="movie_2", post="movie_1")["g_av"].iloc[0], up["g_av"], rtol=1e-12)


def test_g_change_other_confidence_level(movies):
    res = hedges_g_change(movies, pre="movie_2", post="movie_1", ci=0.9)
    assert {"ci90_low", "ci90_high"} <= set(res.columns)
    wide = hedges_g_change(movies, pre="movie_2", post="movie_1")
    assert wide["ci95_low"].iloc[0] < res["ci90_low"].iloc[0] < res["ci90_high"].iloc[0] < wide["ci95_high"].iloc[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pre": "nope", "post": "movie_1"}, "not in data"),
        ({"pre": "movie_1", "post": "movie_1"}, "different columns"),
        ({"pre": "movie_2", "post": "movie_1", "ci": 1.5}, "between 0 and 1"),
    ],
)
def test_g_change_rejects_bad_input(movies, kwargs, message):
    with pytest.raises(ValueError, match=message):
        hedges_g_change(movies, **kwargs)


def test_g_change_too_few_pairs_is_not_estimable():
    row = hedges_g_change(pd.DataFrame({"a": [1.0, np.nan], "b": [2.0, 3.0]}), pre="a", post="b").iloc[0]
    assert row["n"] == 1 and np.isnan(row["d_av"]) and np.isnan(row["ci95_low"])
    assert row["note"].startswith("not estimable: 1 participant(s)")


# ----------------------------------------------------------------------------- between g


def test_hedges_g_matches_pingouin_docs():
    # pingouin compute_effsize docstring: x = [1, 2, 3, 4], y = [3, 4, 5, 6, 7]
    # -> cohen -1.707825127659933
    data = pd.DataFrame({"dv": [1, 2, 3, 4, 3, 4, 5, 6, 7], "arm": ["x"] * 4 + ["y"] * 5})
    row = hedges_g(data, dv="dv", between="arm").iloc[0]
    assert (row["level_a"], row["level_b"], row["n_a"], row["n_b"]) == ("x", "y", 4, 5)
    assert_allclose(row["d"], -1.707825127659933, rtol=1e-12)
    assert_allclose(row["g"], pg.compute_effsize([1, 2, 3, 4], [3, 4, 5, 6, 7], eftype="hedges"), rtol=1e-12)
    assert_allclose(row["g"], -1.707825127659933 * (1 - 3 / (4 * 9 - 9)), rtol=1e-12)
    # the interval is pingouin.compute_esci around g, unrounded
    ci = pg.compute_esci(stat=row["g"], nx=4, ny=5, eftype="cohen", confidence=0.95, decimals=15)
    assert_allclose([row["ci95_low"], row["ci95_high"]], ci, atol=1e-12)


def test_hedges_g_interval_formula_reproduces_pingouin_docs_example():
    # pingouin compute_esci docstring, example 2: d = 0.1538, CI [-0.737, 1.045] (decimals=3);
    # the same Hedges-Olkin formula our interval uses, applied to d instead of g.
    x = [3, 4, 6, 7, 5, 6, 7, 3, 5, 4, 2]
    y = [4, 6, 6, 7, 6, 5, 5, 2, 3, 4, 1]
    data = pd.DataFrame({"dv": x + y, "arm": ["x"] * 11 + ["y"] * 11})
    row = hedges_g(data, dv="dv", between="arm").iloc[0]
    assert_allclose(row["d"], 0.1538, atol=5e-5)
    se = np.sqrt(22 / 121 + row["d"] ** 2 / 44)
    crit = stats.t.ppf(0.975, 20)
    assert_allclose([row["d"] - crit * se, row["d"] + crit * se], [-0.737, 1.045], atol=5e-4)
    se_g = np.sqrt(22 / 121 + row["g"] ** 2 / 44)
    assert_allclose([row["ci95_low"], row["ci95_high"]], [row["g"] - crit * se_g, row["g"] + crit * se_g], rtol=1e-12)


def test_hedges_g_matches_lakens_between_groups():
    # Lakens (2013), movies as two independent groups: d_s = 1.13, g_s = 1.08
    data = pd.DataFrame({"rating": MOVIE_1 + MOVIE_2, "movie": ["m1"] * 10 + ["m2"] * 10})
    row = hedges_g(data, dv="rating", between="movie").iloc[0]
    assert_allclose([row["d"], row["g"]], [1.13, 1.08], atol=0.005)
    # R: effectsize::cohens_d(MOVIE_1, MOVIE_2) -> 1.12587993756 (printed to 12 digits);
    #    effectsize::hedges_g(MOVIE_1, MOVIE_2) -> 1.07819489946: R's exact gamma-function J
    #    differs from pingouin's 1 - 3/(4 N - 9) by 1.0e-4 relative at N = 20.
    assert_allclose(row["d"], 1.12587993756, rtol=1e-10)
    assert_allclose(row["g"], 1.07819489946, rtol=2e-4)


def test_hedges_g_levels_set_the_direction():
    data = pd.DataFrame({"change": [1.0, 2, 3, 4, 3, 4, 5, 6, 7], "arm": ["comparison"] * 4 + ["intervisie"] * 5})
    default = hedges_g(data, dv="change", between="arm").iloc[0]
    chosen = hedges_g(data, dv="change", between="arm", levels=("intervisie", "comparison")).iloc[0]
    assert (chosen["level_a"], chosen["level_b"]) == ("intervisie", "comparison")
    assert_allclose(chosen["g"], -default["g"], rtol=1e-12)
    assert_allclose(chosen["ci95_low"], -default["ci95_high"], rtol=1e-12)


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (pd.DataFrame({"y": [1.0, 2, 3], "g": ["a", "b", "c"]}), {}, "exactly 2 levels"),
        (pd.DataFrame({"y": [1.0, 2, 3, 4], "g": ["a", "a", "b", "b"]}), {"levels": "ab"}, "two different values"),
        (pd.DataFrame({"y": [1.0, 2], "h": ["a", "b"]}), {}, "not in data"),
    ],
)
def test_hedges_g_rejects_bad_input(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        hedges_g(frame, dv="y", between="g", **kwargs)


# ----------------------------------------------------------------------------- reliable change


def test_reliable_change_hand_worked_example():
    # SD_pre = 7.5 and r_xx = .80: SE = 7.5 * sqrt(.2) = 3.3541; S_diff = sqrt(2) * 3.3541 = 4.7434;
    # so |change| > 1.96 * 4.7434 = 9.297 points is reliable (Jacobson & Truax 1991).
    # Burnout (lower is better): 30 -> 18: RCI = -12 / 4.7434 = -2.5298, improved;
    # 30 -> 22: RCI = -8 / 4.7434 = -1.6865, unchanged; 20 -> 31: RCI = 11 / 4.7434 = 2.3190, deteriorated.
    data = pd.DataFrame({"pre": [30.0, 30, 20], "post": [18.0, 22, 31]}, index=["p1", "p2", "p3"])
    res = reliable_change(data, pre="pre", post="post", reliability=0.8, sd_pre=7.5, higher_is_better=False)
    assert list(res.columns) == ["change", "se_diff", "rci", "category"]
    assert list(res.index) == ["p1", "p2", "p3"]
    assert_allclose(res["se_diff"], np.sqrt(2) * 7.5 * np.sqrt(0.2), rtol=1e-12)
    assert_allclose(res["se_diff"], 4.7434, atol=5e-5)
    assert_allclose(res["rci"], [-2.5298, -1.6865, 2.3190], atol=5e-5)
    assert res["category"].tolist() == ["improved", "unchanged", "deteriorated"]
    # the same scores on a scale where higher is better
    flipped = reliable_change(data, pre="pre", post="post", reliability=0.8, sd_pre=7.5)
    assert flipped["category"].tolist() == ["deteriorated", "unchanged", "improved"]


def test_reliable_change_default_sd_and_missing_scores():
    data = pd.DataFrame({"pre": [10.0, 12, 14, 16, np.nan], "post": [20.0, 12, 9, 15, 3]})
    res = reliable_change(data, pre="pre", post="post", reliability=0.7)
    sd = np.std([10, 12, 14, 16], ddof=1)  # complete pairs only
    assert_allclose(res["se_diff"].iloc[:4], np.sqrt(2) * sd * np.sqrt(0.3), rtol=1e-12)
    assert np.isnan(res["rci"].iloc[4]) and pd.isna(res["category"].iloc[4])
    assert list(res["category"].cat.categories) == ["improved", "unchanged", "deteriorated"]


def test_reliable_change_threshold_is_strict_and_settable():
    # SD 10, r_xx .5: S_diff = sqrt(2) * 10 * sqrt(.5) = 10, so RCI = change / 10.
    data = pd.DataFrame({"pre": [0.0, 0.0], "post": [17.0, 25.0]})
    res = reliable_change(data, pre="pre", post="post", reliability=0.5, sd_pre=10)
    assert_allclose(res["rci"], [1.7, 2.5], rtol=1e-12)
    assert res["category"].tolist() == ["unchanged", "improved"]
    lenient = reliable_change(data, pre="pre", post="post", reliability=0.5, sd_pre=10, z_crit=1.645)
    assert lenient["category"].tolist() == ["improved", "improved"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reliability": 1.0}, "reliability"),
        ({"reliability": -0.1}, "reliability"),
        ({"reliability": 0.8, "sd_pre": 0.0}, "sd_pre"),
        ({"reliability": 0.8, "z_crit": -1}, "z_crit"),
    ],
)
def test_reliable_change_rejects_bad_input(kwargs, message):
    data = pd.DataFrame({"pre": [1.0, 2, 3], "post": [2.0, 2, 5]})
    with pytest.raises(ValueError, match=message):
        reliable_change(data, pre="pre", post="post", **kwargs)


def test_reliable_change_needs_two_pairs_to_estimate_sd():
    data = pd.DataFrame({"pre": [1.0, np.nan], "post": [2.0, 2.0]})
    with pytest.raises(ValueError, match="pass sd_pre"):
        reliable_change(data, pre="pre", post="post", reliability=0.8)
    assert reliable_change(data, pre="pre", post="post", reliability=0.8, sd_pre=1.0)["rci"].notna().sum() == 1


# ----------------------------------------------------------------------------- shares


@pytest.fixture
def two_arms() -> pd.DataFrame:
    # SD 10, r_xx .5 -> RCI = change / 10 (higher is better).
    # intervisie: +25, +30, +5, -1, -22 -> 2 improved, 2 unchanged, 1 deteriorated;
    # comparison: +1, -3, +21, -25, -30, 0 -> 1 improved, 3 unchanged, 2 deteriorated; one missing post.
    return pd.DataFrame(
        {
            "arm": ["intervisie"] * 5 + ["comparison"] * 7,
            "programme": "anios",
            "pre": [50.0] * 12,
            "post": [75.0, 80, 55, 49, 28, 51, 47, 71, 25, 20, 50, np.nan],
        }
    )


def test_shares_counts_and_wilson_intervals(two_arms):
    res = reliable_change_shares(two_arms, pre="pre", post="post", reliability=0.5, sd_pre=10, by=["programme", "arm"])
    expected = ["programme", "arm", "category", "count", "n", "share", "ci95_low", "ci95_high"]
    assert list(res.columns) == expected
    got = res.set_index(["arm", "category"])
    assert got.loc["intervisie", "count"].tolist() == [2, 2, 1]
    assert got.loc["comparison", "count"].tolist() == [1, 3, 2]
    assert got.loc["comparison", "n"].tolist() == [6, 6, 6]  # the missing post is not counted
    assert_allclose(got.loc["intervisie", "share"], [0.4, 0.4, 0.2], rtol=1e-12)
    # statsmodels: proportion_confint(count, n, alpha=0.05, method="wilson")
    low, high = proportion_confint(res["count"], res["n"], alpha=0.05, method="wilson")
    assert_allclose(res["ci95_low"], low, rtol=1e-12, atol=1e-15)
    assert_allclose(res["ci95_high"], high, rtol=1e-12)


def test_wilson_hand_worked():
    # 2 of 5, z = 1.959964: p = .4, z^2 = 3.841459; centre = (.4 + 3.841459/10) / (1 + 3.841459/5)
    # = .784146 / 1.768292 = .443448; half = 1.959964 / 1.768292 * sqrt(.24/5 + 3.841459/100)
    # = 1.108394 * .293964 = .325827 -> [.117621, .769276].
    # R: prop.test(2, 5, correct = FALSE)$conf.int -> 0.117621 0.769276
    data = pd.DataFrame({"pre": [0.0] * 5, "post": [25.0, 25, 0, 0, 0]})
    res = reliable_change_shares(data, pre="pre", post="post", reliability=0.5, sd_pre=10)
    improved = res.set_index("category").loc["improved"]
    assert_allclose([improved["ci95_low"], improved["ci95_high"]], [0.117621, 0.769276], atol=5e-6)
    none = res.set_index("category").loc["deteriorated"]
    assert none["count"] == 0 and none["ci95_low"] == 0.0  # Wilson's lower limit for 0 of n is exactly 0


def test_shares_use_one_sd_for_all_groups(two_arms):
    # sd_pre estimated once from all complete pairs, so both arms share one threshold
    data = two_arms.assign(pre=[50.0, 52, 48, 51, 49, 50, 53, 47, 50, 52, 48, 50])
    whole = reliable_change(data, pre="pre", post="post", reliability=0.8)
    res = reliable_change_shares(data, pre="pre", post="post", reliability=0.8, by=["arm"])
    counts = whole.assign(arm=data["arm"]).groupby("arm", observed=True)["category"].value_counts()
    for (arm, category), count in counts.items():
        assert res.set_index(["arm", "category"]).loc[(arm, category), "count"] == count


def test_shares_group_without_pairs_gets_nan():
    data = pd.DataFrame({"arm": ["a", "a", "b"], "pre": [1.0, 2, 3], "post": [2.0, 4, np.nan]})
    res = reliable_change_shares(data, pre="pre", post="post", reliability=0.5, sd_pre=1, by=["arm"])
    b = res[res["arm"] == "b"]
    assert (b["n"] == 0).all() and b["share"].isna().all() and b["ci95_low"].isna().all()


# ----------------------------------------------------------------------------- SRM


def test_srm_hand_and_effectsize(movies):
    row = standardised_response_mean(movies, pre="movie_2", post="movie_1").iloc[0]
    assert list(row.index) == ["n", "mean_change", "sd_change", "srm", "ci95_low", "ci95_high", "note"]
    # changes 0 1 1 1 1 0 1 2 1 2: mean 1, SD sqrt(4/9) = 2/3, SRM = 1.5 (Lakens' d_z = 1.50)
    assert_allclose(row["srm"], 1.5, rtol=1e-12)
    assert_allclose(row["sd_change"], 2 / 3, rtol=1e-12)
    # R: effectsize::cohens_d(MOVIE_1, MOVIE_2, paired = TRUE)
    #    -> 1.5, 95% CI 0.560514144906 2.40343631226; R's root finder stops at about 1e-7.
    assert_allclose([row["ci95_low"], row["ci95_high"]], [0.560514144906, 2.40343631226], rtol=1e-6)


def test_srm_interval_is_exact_noncentral_t(movies):
    row = standardised_response_mean(movies, pre="movie_2", post="movie_1").iloc[0]
    t = row["srm"] * np.sqrt(10)
    assert_allclose(stats.nct.cdf(t, 9, row["ci95_low"] * np.sqrt(10)), 0.975, atol=1e-10)
    assert_allclose(stats.nct.cdf(t, 9, row["ci95_high"] * np.sqrt(10)), 0.025, atol=1e-10)


def test_srm_large_sample_and_errors():
    rng = np.random.default_rng(8)
    pre = rng.normal(50, 10, 2000)
    data = pd.DataFrame({"pre": pre, "post": pre + rng.normal(2, 5, 2000)})
    row = standardised_response_mean(data, pre="pre", post="post").iloc[0]
    assert abs(row["srm"] - 0.4) < 0.06  # population SRM 2 / 5; SE about 0.023
    assert row["ci95_low"] < row["srm"] < row["ci95_high"]
    tied = standardised_response_mean(pd.DataFrame({"a": [1.0, 2, 3], "b": [2.0, 3, 4]}), pre="a", post="b").iloc[0]
    assert np.isnan(tied["srm"]) and tied["note"].startswith("not estimable: all changes")


# ------------------------------------------------------------- against R, live


@pytest.fixture(scope="module")
def r_reference():
    """One R run (tests/r_reference.py): effectsize::cohens_d (paired and independent) and prop.test."""
    rng = np.random.default_rng(2026)
    pre = rng.normal(3.5, 0.6, 37).round(2)
    post = (pre + rng.normal(0.15, 0.4, 37)).round(2)
    arm = np.where(np.arange(37) < 19, "intervisie", "comparison")
    data = pd.DataFrame({"pre": pre, "post": post, "arm": arm})
    script = """
    dz <- cohens_d(d$post, d$pre, paired = TRUE)
    ch <- d$post - d$pre
    g <- cohens_d(ch[d$arm == "intervisie"], ch[d$arm == "comparison"])
    w <- suppressWarnings(prop.test(7, 19, correct = FALSE))$conf.int
    out$dz <- dz$Cohens_d; out$dz_low <- dz$CI_low; out$dz_high <- dz$CI_high
    out$d <- g$Cohens_d
    out$wilson <- as.numeric(w)
    """
    return data, run_r(script, data, packages=("effectsize", "jsonlite"))


def test_srm_matches_effectsize_live(r_reference):
    # R: effectsize::cohens_d(post, pre, paired = TRUE); rtol 1e-6 (R's root finder)
    data, ref = r_reference
    row = standardised_response_mean(data, pre="pre", post="post").iloc[0]
    assert_allclose(row["srm"], ref["dz"], rtol=1e-12)
    assert_allclose([row["ci95_low"], row["ci95_high"]], [ref["dz_low"], ref["dz_high"]], rtol=1e-6)


def test_between_arm_d_matches_effectsize_live(r_reference):
    # R: effectsize::cohens_d(change[intervisie], change[comparison]) (pooled SD)
    data, ref = r_reference
    data = data.assign(change=data["post"] - data["pre"])
    row = hedges_g(data, dv="change", between="arm", levels=("intervisie", "comparison")).iloc[0]
    assert_allclose(row["d"], ref["d"], rtol=1e-12)


def test_wilson_matches_prop_test_live(r_reference):
    # R: prop.test(7, 19, correct = FALSE)$conf.int (the Wilson score interval)
    _, ref = r_reference
    data = pd.DataFrame({"pre": [0.0] * 19, "post": [25.0] * 7 + [0.0] * 12})
    res = reliable_change_shares(data, pre="pre", post="post", reliability=0.5, sd_pre=10).set_index("category")
    assert_allclose(res.loc["improved", ["ci95_low", "ci95_high"]].astype(float), ref["wilson"], rtol=1e-12)
