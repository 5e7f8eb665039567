"""Delta-adjusted multiple imputation and the tipping point (analyses.tipping).

Known answers, and the tolerance each is held to:

* Rubin's rules with Barnard-Rubin df against R's ``mice::pool.scalar`` (mice 3.15) and a
  hand-computed example: ``rtol = 1e-12`` (the same arithmetic);
* the ANCOVA on each completed data set, pooled, against ``summary(mice::pool(fits),
  conf.int = TRUE)`` on R ``lm`` fits of the very same completed data sets: ``rtol = 1e-9``
  (two least-squares solvers, then the same arithmetic);
* one posterior draw of the Bayesian linear-regression imputation against mice's own
  ``.norm.draw`` fed the same chi-square and normal variates (R's ``set.seed`` reproduces
  them): ``rtol = 1e-9``;
* simulated data whose truth is known: under MAR dropout the pooled 95% interval covers the
  true arm effect at a rate inside the central 99.9% binomial range around 0.95 over 200 seeded
  trials; under dropout not at random that shifts the missing intervisie scores by a known delta,
  the estimate adjusted by that delta lies within 3 standard errors of the true effect, while the
  MAR interval misses it.

Without R (or mice) the R comparisons skip with the reason; the rest still run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, special, stats

from analyses.tipping import TippingPoint, ancova_data, posterior_draw, rubin_pool
from pipeline.errors import InputError
from tests.r_reference import run_r

MICE = ("mice", "jsonlite")
TAU = 0.3  # true arm effect of the simulations (score units; residual SD 0.8)


def missing_probability(baseline: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """MAR dropout: more likely with a low baseline score, a little more likely under intervisie."""
    return special.expit(-0.8 - 0.8 * baseline + 0.3 * treated)


def simulate_trial(rng: np.random.Generator, n: int, *, tau: float = TAU, mnar_delta: float = 0.0) -> pd.DataFrame:
    """A two-arm trial with a baseline score, three programmes and dropout at follow-up.

    ``followup = 0.5 + 0.6 baseline + tau intervisie + programme effect + N(0, 0.8^2)``; dropout
    is MAR given baseline and arm; with ``mnar_delta`` the missing scores of the intervisie arm
    are ``mnar_delta`` lower than this model says (dropout not at random).
    """
    baseline = rng.normal(0, 1, n)
    treated = (rng.uniform(size=n) < 0.5).astype(float)
    programme = rng.choice(["anios", "buitenlandse_artsen", "coschappen"], size=n)
    prog_effect = pd.Series(programme).map({"anios": 0.0, "buitenlandse_artsen": -0.2, "coschappen": 0.2}).to_numpy()
    followup = 0.5 + 0.6 * baseline + tau * treated + prog_effect + rng.normal(0, 0.8, n)
    missing = rng.uniform(size=n) < missing_probability(baseline, treated)
    followup = followup - mnar_delta * (missing & (treated == 1))  # the truth: not at random
    return pd.DataFrame(
        {
            "participant": [f"P{i:05d}" for i in range(n)],
            "programme": programme,
            "arm": np.where(treated == 1, "intervisie", "comparison"),
            "baseline": baseline,
            "followup": np.where(missing, np.nan, followup),
        }
    )


# ---------------------------------------------------------------- Rubin's rules


def test_rubin_pool_hand_computed() -> None:
    # Q = 1, 2, 3; U = 1: qbar 2, ubar 1, B 1, T = 1 + 4/3, r = 4/3, lambda = 4/7,
    # df = (m - 1)/lambda^2 = 2 * 49/16 (infinite complete-data df), fmi = (r + 2/(df + 3))/(r + 1)
    row = rubin_pool([1.0, 2.0, 3.0], [1.0, 1.0, 1.0]).iloc[0]
    df = 2 * 49 / 16
    assert_allclose(
        [row["estimate"], row["ubar"], row["b"], row["total_variance"], row["riv"], row["lambda_"], row["df"]],
        [2.0, 1.0, 1.0, 7 / 3, 4 / 3, 4 / 7, df],
        rtol=1e-12,
    )
    assert_allclose(row["fmi"], (4 / 3 + 2 / (df + 3)) / (7 / 3), rtol=1e-12)
    assert_allclose(row["ci_high"], 2 + stats.t.ppf(0.975, df) * np.sqrt(7 / 3), rtol=1e-12)


@pytest.mark.parametrize("df_complete", [np.inf, 40.0, 5.0])
def test_rubin_pool_equals_mice_pool_scalar(df_complete: float) -> None:
    rng = np.random.default_rng(11)
    q, u = rng.normal(1.0, 0.15, 7), rng.uniform(0.02, 0.05, 7)
    row = rubin_pool(q, u, df_complete=df_complete).iloc[0]
    n = "Inf" if np.isinf(df_complete) else repr(df_complete + 1)
    # R: mice::pool.scalar(Q, U, n = df_complete + 1, k = 1)
    ref = run_r(
        f"p <- pool.scalar(d$q, d$u, n = {n}, k = 1); out <- p[c('qbar', 'ubar', 'b', 't', 'df', 'r', 'fmi')]",
        pd.DataFrame({"q": q, "u": u}),
        packages=MICE,
    )
    got = [row["estimate"], row["ubar"], row["b"], row["total_variance"], row["df"], row["riv"], row["fmi"]]
    assert_allclose(got, [ref[k] for k in ("qbar", "ubar", "b", "t", "df", "r", "fmi")], rtol=1e-12)


def test_rubin_pool_vectors_and_errors() -> None:
    q = np.array([[1.0, 10.0], [2.0, 12.0], [1.5, 11.0]])
    u = np.full_like(q, 0.5)
    table = rubin_pool(q, u, df_complete=30)
    single = rubin_pool(q[:, 1], u[:, 1], df_complete=30)
    assert_allclose(table.iloc[1].to_numpy(float), single.iloc[0].to_numpy(float), rtol=1e-12)
    with pytest.raises(InputError, match="at least 2 imputations"):
        rubin_pool([1.0], [0.1])
    with pytest.raises(InputError, match="same shape"):
        rubin_pool([1.0, 2.0], [0.1])


# ---------------------------------------------------------------- imputation and ANCOVA vs mice


def test_posterior_draw_equals_mice_norm_draw() -> None:
    rng = np.random.default_rng(5)
    data = simulate_trial(rng, 80)
    observed = data["followup"].notna().to_numpy()
    x = np.column_stack([np.ones(80), data["baseline"], (data["arm"] == "intervisie").astype(float)])
    frame = pd.DataFrame({"y": data["followup"].fillna(0.0), "ry": observed, "x1": x[:, 1], "x2": x[:, 2]})
    # R: set.seed(7); mice:::.norm.draw(y, ry, x), then the same variates again with set.seed(7)
    script = """
    x <- cbind(1, d$x1, d$x2); ry <- as.logical(d$ry)
    set.seed(7); draw <- mice:::.norm.draw(d$y, ry, x)
    set.seed(7); g <- rchisq(1, sum(ry) - ncol(x)); z <- rnorm(ncol(x))
    out$beta <- as.numeric(draw$beta); out$sigma <- draw$sigma; out$g <- g; out$z <- z
    """
    ref = run_r(script, frame, packages=MICE)
    beta, sigma = posterior_draw(x[observed], data["followup"].to_numpy()[observed], ref["g"], np.array(ref["z"]))
    assert_allclose(sigma, ref["sigma"], rtol=1e-9)
    assert_allclose(beta, ref["beta"], rtol=1e-9)


@pytest.mark.parametrize("delta_sd", [0.0, 0.6])
def test_pooled_ancova_equals_mice_pool(delta_sd: float) -> None:
    data = simulate_trial(np.random.default_rng(21), 300)
    tp = TippingPoint(m=8, seed=3, delta_sd=[0.0, 0.6], direction="higher_better").fit(data)
    delta = delta_sd * tp.sd_baseline_
    ours = tp.pooled(delta).iloc[0]
    stacked = tp.completed(delta)
    stacked["arm"] = pd.Categorical(stacked["arm"], categories=["comparison", "intervisie"])
    stacked["programme"] = pd.Categorical(stacked["programme"])
    # R: fits <- lapply(split(d, d$imputation), function(x) lm(followup ~ baseline + arm + programme, x))
    #    summary(pool(as.mira(fits)), conf.int = TRUE)
    script = """
    fits <- lapply(split(d, d$imputation), function(x) lm(followup ~ baseline + arm + programme, data = x))
    p <- pool(as.mira(fits)); s <- summary(p, conf.int = TRUE); k <- s$term == "armintervisie"
    pp <- p$pooled[p$pooled$term == "armintervisie", ]
    out <- list(estimate = s$estimate[k], std_error = s$std.error[k], df = s$df[k], p_val = s$p.value[k],
                ci_low = s[k, "2.5 %"], ci_high = s[k, "97.5 %"], ubar = pp$ubar, b = pp$b,
                total_variance = pp$t, riv = pp$riv, lambda_ = pp$lambda, fmi = pp$fmi, df_complete = pp$dfcom)
    """
    ref = run_r(script, stacked[["imputation", "followup", "baseline", "arm", "programme"]], packages=MICE)
    assert_allclose([ours[k] for k in ref], list(ref.values()), rtol=1e-9)
    assert_allclose(tp.grid_.loc[tp.grid_["delta_sd"] == delta_sd, "estimate"], ours["estimate"], rtol=1e-12)


def test_shift_moves_only_imputed_intervisie_scores_the_unfavourable_way() -> None:
    data = simulate_trial(np.random.default_rng(2), 200)
    for direction, sign in (("higher_better", -1.0), ("higher_worse", 1.0)):
        tp = TippingPoint(m=3, seed=1, delta_sd=[0.0, 0.5], direction=direction).fit(data)
        diff = tp.completed(0.7)["followup"].to_numpy() - tp.completed(0.0)["followup"].to_numpy()
        stacked = tp.completed(0.0)
        expected = np.where(stacked["imputed"] & (stacked["arm"] == "intervisie"), sign * 0.7, 0.0)
        assert_allclose(diff, expected, rtol=1e-12, atol=1e-12)
        observed = stacked[~stacked["imputed"]]
        assert_allclose(observed["followup"], np.tile(data["followup"].dropna().to_numpy(), 3), rtol=1e-12)


# ---------------------------------------------------------------- simulated truth


def test_mar_interval_covers_the_truth_at_the_nominal_rate() -> None:
    trials, hits = 200, 0
    for k in range(trials):
        data = simulate_trial(np.random.default_rng([2026, k]), 150)
        tp = TippingPoint(m=10, seed=[7, k], delta_sd=[0.0, 0.01], direction="higher_better").fit(data)
        mar = tp.grid_.iloc[0]
        hits += bool(mar["ci_low"] <= TAU <= mar["ci_high"])
    low, high = stats.binom.interval(0.999, trials, 0.95)
    assert low <= hits <= high, f"coverage {hits}/{trials} outside the 99.9% binomial range [{low}, {high}]"


def test_delta_adjustment_recovers_the_truth_under_mnar() -> None:
    delta = 0.6
    data = simulate_trial(np.random.default_rng(99), 5000, mnar_delta=delta)
    # truth of the full-data ANCOVA: arm is independent of baseline, so its coefficient is
    # tau - delta * E[P(missing | baseline, intervisie)], baseline ~ N(0, 1)
    share, _ = integrate.quad(lambda b: missing_probability(b, 1.0) * stats.norm.pdf(b), -10, 10)
    truth = TAU - delta * share
    tp = TippingPoint(m=20, seed=8, delta_sd=[0.0, 0.5], direction="higher_better").fit(data)
    adjusted = tp.pooled(delta).iloc[0]
    assert_allclose(adjusted["estimate"], truth, atol=3 * adjusted["std_error"])
    mar = tp.grid_.iloc[0]
    assert not mar["ci_low"] <= truth <= mar["ci_high"], "the MAR analysis should miss the MNAR truth"


# ---------------------------------------------------------------- the tipping point


def test_tipping_point_is_where_the_interval_reaches_zero() -> None:
    data = simulate_trial(np.random.default_rng(3), 400, tau=0.4)
    grid = np.round(np.arange(0, 2.01, 0.25), 2)
    tp = TippingPoint(m=10, seed=4, delta_sd=grid, direction="higher_better").fit(data)
    assert tp.conclusion_ == "tips within the grid"
    at_tip = tp.pooled(tp.tipping_delta_).iloc[0]
    assert_allclose(at_tip["ci_low"], 0.0, atol=1e-8 * at_tip["std_error"])
    assert_allclose(tp.tipping_delta_sd_, tp.tipping_delta_ / tp.sd_baseline_, rtol=1e-12)
    before = tp.grid_[tp.grid_["delta_sd"] < tp.tipping_delta_sd_]
    after = tp.grid_[tp.grid_["delta_sd"] >= tp.tipping_delta_sd_]
    assert (before["ci_low"] > 0).all() and after["ci_low"].iloc[0] <= 0
    # the estimate is linear in delta: the same imputations are shifted
    assert_allclose(np.diff(tp.grid_["estimate"], 2), 0.0, atol=1e-12)
    summary = tp.summary().iloc[0]
    assert summary["conclusion_robust"] == (tp.tipping_delta_sd_ > 2.0)
    strict = TippingPoint(m=10, seed=4, delta_sd=grid, plausible_delta_sd=0.1).fit(data).summary().iloc[0]
    assert bool(strict["conclusion_robust"]) is (tp.tipping_delta_sd_ > 0.1)


def test_higher_worse_scale_tips_upwards() -> None:
    data = simulate_trial(np.random.default_rng(3), 400, tau=-0.4)
    tp = TippingPoint(m=10, seed=4, delta_sd=np.arange(0, 2.01, 0.25), direction="higher_worse").fit(data)
    assert (np.diff(tp.grid_["estimate"]) > 0).all()
    assert tp.conclusion_ == "tips within the grid"
    assert_allclose(tp.pooled(tp.tipping_delta_).iloc[0]["ci_high"], 0.0, atol=1e-8)


def test_no_difference_and_no_tipping_point() -> None:
    null = TippingPoint(m=5, seed=1, delta_sd=[0.0, 0.5]).fit(simulate_trial(np.random.default_rng(12), 200, tau=0))
    first = null.grid_.iloc[0]
    assert first["ci_low"] <= 0 <= first["ci_high"], "precondition of this seeded example"
    assert null.conclusion_ == "no difference shown under MAR" and np.isnan(null.tipping_delta_sd_)
    assert bool(null.summary()["conclusion_robust"].iloc[0])
    strong = TippingPoint(m=5, seed=1, delta_sd=[0.0, 0.01]).fit(simulate_trial(np.random.default_rng(12), 400, tau=1))
    assert strong.conclusion_ == "no tipping point within the grid" and np.isnan(strong.tipping_delta_)
    assert bool(strong.summary()["conclusion_robust"].iloc[0])


def test_seeded_and_deterministic() -> None:
    data = simulate_trial(np.random.default_rng(8), 200)
    a = TippingPoint(m=5, seed=[1, 2], delta_sd=[0.0, 0.5]).fit(data)
    b = TippingPoint(m=5, seed=[1, 2], delta_sd=[0.0, 0.5]).fit(data)
    pd.testing.assert_frame_equal(a.grid_, b.grid_, check_exact=True)
    c = TippingPoint(m=5, seed=[1, 3], delta_sd=[0.0, 0.5]).fit(data)
    assert not np.array_equal(a.imputations_, c.imputations_)


def test_input_errors() -> None:
    data = simulate_trial(np.random.default_rng(8), 50)
    with pytest.raises(InputError, match="start at 0"):
        TippingPoint(delta_sd=[0.2, 0.5])
    with pytest.raises(InputError, match="at least 2 imputations"):
        TippingPoint(m=1)
    with pytest.raises(InputError, match="direction"):
        TippingPoint(direction="up")
    with pytest.raises(InputError, match="baseline"):
        TippingPoint().fit(data.assign(baseline=np.nan))
    with pytest.raises(InputError, match="two arms"):
        TippingPoint().fit(data.assign(arm="intervisie"))


def test_ancova_data_from_wave_scores() -> None:
    scores = pd.DataFrame(
        {
            "participant": ["a", "a", "b", "c", "c"],
            "wave": ["t0", "t1", "t0", "t1", "t0"],
            "scale": "brs",
            "score": [3.0, 3.5, 2.0, 4.0, np.nan],
            "arm": ["intervisie", "intervisie", "comparison", "comparison", "comparison"],
            "programme": "anios",
        }
    ).dropna()
    table = ancova_data(scores, scale="brs", baseline="t0", followup="t1")
    assert list(table["participant"]) == ["a", "b"]  # c has no baseline
    assert_allclose(table["followup"].to_numpy(), [3.5, np.nan], rtol=1e-12)


# ---------------------------------------------------------------- single-arm designs: change within intervisie


def test_change_estimand_equals_mice_pool() -> None:
    data = simulate_trial(np.random.default_rng(21), 300)
    tp = TippingPoint(m=8, seed=3, delta_sd=[0.0, 0.6], direction="higher_better", estimand="change").fit(data)
    assert set(tp.data_["arm"]) == {"intervisie"} and len(tp.data_) == (data["arm"] == "intervisie").sum()
    assert tp.columns_[:2] == ["const", "baseline"] and "armintervisie" not in tp.columns_
    delta = 0.6 * tp.sd_baseline_
    ours = tp.pooled(delta).iloc[0]
    stacked = tp.completed(delta)
    # R: fits <- lapply(split(d, d$imputation), function(x) lm(I(followup - baseline) ~ 1, x))
    #    summary(pool(as.mira(fits)), conf.int = TRUE)
    script = """
    fits <- lapply(split(d, d$imputation), function(x) lm(I(followup - baseline) ~ 1, data = x))
    p <- pool(as.mira(fits)); s <- summary(p, conf.int = TRUE)
    out <- list(estimate = s$estimate, std_error = s$std.error, df = s$df, p_val = s$p.value,
                ci_low = s[1, "2.5 %"], ci_high = s[1, "97.5 %"], fmi = p$pooled$fmi, df_complete = p$pooled$dfcom)
    """
    ref = run_r(script, stacked[["imputation", "followup", "baseline"]], packages=MICE)
    assert_allclose([ours[k] for k in ref], list(ref.values()), rtol=1e-9)


def test_change_estimand_shifts_every_imputed_score_and_recovers_the_truth() -> None:
    delta = 0.6
    data = simulate_trial(np.random.default_rng(5), 6000, mnar_delta=delta)
    tp = TippingPoint(m=20, seed=2, delta_sd=[0.0, 0.5], direction="higher_better", estimand="change").fit(data)
    diff = tp.completed(0.7)["followup"].to_numpy() - tp.completed(0.0)["followup"].to_numpy()
    assert_allclose(diff, np.where(tp.completed(0.0)["imputed"], -0.7, 0.0), rtol=1e-12, atol=1e-12)
    # truth: E[followup - baseline] = 0.5 + tau + mean programme effect (0) - 0.4 E[baseline] (0),
    # lowered by delta times the share of intervisie's scores that are missing (dropout not at random)
    share, _ = integrate.quad(lambda b: missing_probability(b, 1.0) * stats.norm.pdf(b), -10, 10)
    truth = 0.5 + TAU - delta * share
    adjusted = tp.pooled(delta).iloc[0]
    assert_allclose(adjusted["estimate"], truth, atol=3 * adjusted["std_error"])
    mar = tp.grid_.iloc[0]
    assert not mar["ci_low"] <= truth <= mar["ci_high"], "the MAR analysis should miss the MNAR truth"
    assert tp.summary()["estimand"].iloc[0] == "change"


def test_change_estimand_without_a_change_and_bad_estimand() -> None:
    data = simulate_trial(np.random.default_rng(12), 200, tau=0).assign(arm="intervisie")
    data["followup"] = data["baseline"] + np.random.default_rng(1).normal(0, 0.8, len(data))
    data.loc[data.index[:40], "followup"] = np.nan
    tp = TippingPoint(m=5, seed=1, delta_sd=[0.0, 0.5], estimand="change").fit(data)
    first = tp.grid_.iloc[0]
    assert first["ci_low"] <= 0 <= first["ci_high"], "precondition of this seeded example"
    assert tp.conclusion_ == "no change shown under MAR"
    with pytest.raises(InputError, match="estimand"):
        TippingPoint(estimand="ratio")
