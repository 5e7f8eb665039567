"""The adjusted short-term effect (analyses.adjusted) and its cluster-robust inference.

Known answers:

- CR1: the weighted ANCOVA coefficient and its CR1 SE against R ``lm(weights = w)`` +
  ``sandwich::vcovCL(type = "HC1")`` (rtol 1e-8), the whole estimator against the same steps in R
  (``glm`` propensity, overlap weights, ``lm``, ``vcovCL``);
- CR2 (the default): with unit weights against ``sandwich::vcovCL(type = "HC2")`` (rtol 1e-8);
  with unequal weights against the Bell-McCaffrey / Pustejovsky-Tipton formula written out here
  with dense matrices (rtol 1e-9; sandwich's weighted HC2 is a different estimator, reproduced
  by its own formula here) and, where R has it, against ``clubSandwich::coef_test(vcov = "CR2",
  test = "Satterthwaite")`` (SE and df, rtol 1e-8);
- the Satterthwaite df: against the written-out quadratic-form formula, and in closed form for a
  difference in means with whole clusters per arm (derived in ``test_satterthwaite_closed_form``),
  including a hand-made example whose df is exactly 5;
- simulated truth: self-selection on an error-laden baseline score (regression to the mean) and
  on a covariate that drives change, and heterogeneous intervisie groups (group SD 0.2, about 15
  groups): with no true effect the adjusted 95% CI excludes zero in 3-7% of 400 studies while the
  naive difference in change rejects far more often; with a true effect of 0.3 the mean estimate
  is 0.3 within MC error.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, stats

from analyses.adjusted import RESULT_KEYS, AncovaFit, adjusted_short_term, weighted_ancova
from analyses.cluster_robust import contrast_inference
from analyses.propensity import BALANCE_COLUMNS, Covariate, effective_sample_size
from tests.r_reference import run_r

R_SANDWICH = ("sandwich", "jsonlite")
R_CLUB = ("clubSandwich", "jsonlite")


def _study(
    rng: np.random.Generator, n: int, effect: float, *, group_size: int = 6, group_sd: float = 0.0
) -> pd.DataFrame:
    """One simulated self-selected study (vectorised).

    True baseline T ~ N(0, 1); observed pre = T + e1; a covariate Z ~ N(0, 1).  People join with
    logit P = -0.4 + 1.0 pre + 0.8 Z (the worse the observed baseline, the likelier), post = T + e2
    - 0.4 Z + group effect (SD ``group_sd``, intervisie only) + effect * treated.  The naive change post - pre is then biased twice:
    regression to the mean of the error in pre and the covariate that drives change.
    """
    true = rng.normal(size=n)
    pre = true + rng.normal(scale=0.7, size=n)
    z = rng.normal(size=n)
    treated = rng.random(n) < 1 / (1 + np.exp(-(-0.4 + 1.0 * pre + 0.8 * z)))
    n_t = int(treated.sum())
    group = np.full(n, -1)
    group[treated] = rng.permutation(n_t) // group_size
    group_effect = rng.normal(scale=group_sd, size=max(n_t // group_size + 1, 1))
    post = true + rng.normal(scale=0.7, size=n) - 0.4 * z + effect * treated
    post = post + np.where(treated, group_effect[np.maximum(group, 0)], 0.0)
    return pd.DataFrame(
        {
            "participant": [f"p{i}" for i in range(n)],
            "arm": np.where(treated, "intervisie", "comparison"),
            "programme": np.where(rng.random(n) < 0.5, "north", "south"),
            "group": pd.array(np.where(treated, [f"g{g}" for g in group], None), dtype="string"),
            "pre": pre,
            "post": post,
            "z": z,
        }
    )


COVS = [Covariate("z", "numeric")]


def test_simulated_truth_self_selection() -> None:
    rng = np.random.default_rng(20261129)
    n_null, n_effect = 400, 200  # 400: the MC SD of a 5% rate is 1.1 points, inside the 3-7% band
    adjusted_reject, naive_reject, estimates = 0, 0, []
    for i in range(n_null):
        study = _study(rng, int(rng.integers(150, 301)), 0.0)
        row, _ = adjusted_short_term(study, COVS)
        assert np.isfinite(row["estimate"]), row["note"]
        adjusted_reject += row["ci95_low"] > 0 or row["ci95_high"] < 0
        change = study["post"] - study["pre"]
        treated = study["arm"] == "intervisie"
        naive_reject += stats.ttest_ind(change[treated], change[~treated]).pvalue < 0.05
        if i < n_effect:
            effect_row, _ = adjusted_short_term(_study(rng, int(rng.integers(150, 301)), 0.3), COVS)
            estimates.append(effect_row["estimate"])
    adjusted_rate, naive_rate = adjusted_reject / n_null, naive_reject / n_null
    est = np.array(estimates)
    mc_error = est.std(ddof=1) / math.sqrt(n_effect)
    print(f"\nno effect: adjusted CI excludes 0 in {adjusted_rate:.3f}, naive change difference rejects in "
          f"{naive_rate:.3f}; effect 0.3: mean estimate {est.mean():.4f} (MC SE {mc_error:.4f})")
    assert 0.03 <= adjusted_rate <= 0.07
    assert naive_rate >= 0.5
    assert abs(est.mean() - 0.3) < 3 * mc_error


def test_simulated_truth_heterogeneous_groups() -> None:
    """Real between-group heterogeneity (SD 0.2) with about 16 intervisie groups: CR2 keeps the size.

    Outside this test, over 1,000 such studies (seed 20261129) CR1 with G - 1 df (G counting every
    comparison participant as a cluster) rejected a true null in 6.4% and CR2 with Satterthwaite
    df in 5.2%.
    """
    rng = np.random.default_rng(20261130)
    n_null = 400
    reject, groups, dfs, clusters = 0, [], [], []
    for _ in range(n_null):
        study = _study(rng, int(rng.integers(150, 301)), 0.0, group_sd=0.2)
        row, _ = adjusted_short_term(study, COVS)
        assert np.isfinite(row["estimate"]), row["note"]
        reject += row["ci95_low"] > 0 or row["ci95_high"] < 0
        groups.append(study["group"].nunique())
        dfs.append(row["df"])
        clusters.append(row["clusters"])
    rate = reject / n_null
    print(f"\ngroup SD 0.2, {np.mean(groups):.1f} intervisie groups on average: the CR2 CI excludes 0 in "
          f"{rate:.3f}; mean Satterthwaite df {np.mean(dfs):.1f}, mean G - 1 {np.mean(clusters) - 1:.1f}")
    assert 12 <= np.mean(groups) <= 20
    assert 0.03 <= rate <= 0.07
    assert np.mean(dfs) < (np.mean(clusters) - 1) / 2  # far below G - 1, which counts the singletons


@pytest.mark.parametrize("aliased", [False, True])
def test_weighted_ancova_matches_r_lm_vcovcl(aliased: bool) -> None:
    rng = np.random.default_rng(5)
    n = 120
    cl = np.where(rng.random(n) < 0.6, rng.integers(0, 15, n).astype(str), [f"s{i}" for i in range(n)])
    data = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "t": (rng.random(n) < 0.5).astype(float),
            "x1": rng.normal(size=n),
            "x2": (rng.random(n) < 0.3).astype(float),
            "w": rng.uniform(0.05, 1.0, n),
            "cl": cl,
        }
    )
    data["y"] += 0.4 * data["t"] + 0.5 * data["x1"]
    data["x3"] = data["x1"] - 2 * data["x2"] if aliased else rng.normal(size=n)  # aliased: R's lm gives NA
    fit = weighted_ancova(data["y"].to_numpy(), data["t"].to_numpy(), data[["x1", "x2", "x3"]],
                          data["w"].to_numpy(), data["cl"].to_numpy(), vcov="CR1")
    assert fit.note == ("aliased covariate(s) left out of the ANCOVA: x3" if aliased else "")
    assert fit.vcov == "CR1"
    out = run_r(
        "fit <- lm(y ~ t + x1 + x2 + x3, data = d, weights = w);"
        "V <- sandwich::vcovCL(fit, cluster = ~cl, type = 'HC1');"
        "G <- length(unique(d$cl)); est <- coef(fit)[['t']]; se <- sqrt(V['t', 't']);"
        "out$est <- est; out$se <- se; out$G <- G;"
        "out$p <- 2 * pt(abs(est / se), G - 1, lower.tail = FALSE);"
        "out$ci <- est + c(-1, 1) * qt(0.975, G - 1) * se",
        data,
        packages=R_SANDWICH,
    )
    assert fit.clusters == out["G"] and fit.df == out["G"] - 1 and fit.n == n
    assert fit.estimate == pytest.approx(out["est"], rel=1e-8)
    assert fit.se == pytest.approx(out["se"], rel=1e-8)
    assert fit.p == pytest.approx(out["p"], rel=1e-8)
    np.testing.assert_allclose([fit.ci95_low, fit.ci95_high], out["ci"], rtol=1e-8)


def _cr2_written_out(z: np.ndarray, w: np.ndarray, e: np.ndarray, cl: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """CR2 variance of c'beta and its Satterthwaite df, with dense N x N matrices.

    Pustejovsky & Tipton (2018), working model Phi = I: M = (Z'WZ)^-1, I - H = I - Z M Z'W,
    A_g = [(I - H)_g (I - H)_g']^{-1/2} (scipy's sqrtm, then the inverse), V = M sum_g Z_g' W_g A_g
    e_g e_g' A_g W_g Z_g M; u_g = (I - H)_g' A_g W_g Z_g M c (N-vectors), c'Vc = (sum_g u_g'eps)^2
    terms, so df = 2 E^2 / Var of the quadratic form eps'(sum u_g u_g')eps = (sum_g u_g'u_g)^2 /
    sum_gh (u_g'u_h)^2.
    """
    n = len(e)
    big_w = np.diag(w)
    m = np.linalg.inv(z.T @ big_w @ z)
    i_h = np.eye(n) - z @ m @ z.T @ big_w
    meat, us = np.zeros((z.shape[1],) * 2), []
    for g in pd.unique(cl):
        ix = cl == g
        a = np.linalg.inv(np.real(linalg.sqrtm(i_h[ix] @ i_h[ix].T)))
        v = z[ix].T @ big_w[np.ix_(ix, ix)] @ a @ e[ix]
        meat += np.outer(v, v)
        us.append(i_h[ix].T @ a @ big_w[np.ix_(ix, ix)] @ z[ix] @ m @ c)
    u = np.array(us).T
    omega = u.T @ u
    return float(c @ m @ meat @ m @ c), float(np.trace(omega) ** 2 / np.sum(omega**2))


def _sandwich_hc2_written_out(z: np.ndarray, w: np.ndarray, e: np.ndarray, cl: np.ndarray, c: np.ndarray) -> float:
    """What R ``sandwich::vcovCL(type = "HC2")`` computes for ``lm(weights = w)`` (sandwich 3.0).

    M sum_g Z_g' (I - Z_g M Z_g' W_g)^{-1/2} W_g e_g (...)' M: the adjustment stands before W_g,
    where Bell & McCaffrey / Pustejovsky & Tipton put it after; equal to CR2 for unit weights.
    """
    m = np.linalg.inv(z.T @ (z * w[:, None]))
    meat = np.zeros_like(m)
    for g in pd.unique(cl):
        ix = cl == g
        a = np.real(linalg.fractional_matrix_power(np.eye(ix.sum()) - z[ix] @ m @ z[ix].T * w[ix][None, :], -0.5))
        v = z[ix].T @ a @ (w[ix] * e[ix])
        meat += np.outer(v, v)
    return float(c @ m @ meat @ m @ c)


def _cr2_data(seed: int = 5, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cl = np.where(rng.random(n) < 0.6, rng.integers(0, 15, n).astype(str), [f"s{i}" for i in range(n)])
    data = pd.DataFrame({"y": rng.normal(size=n), "t": (rng.random(n) < 0.5).astype(float),
                         "x1": rng.normal(size=n), "x2": (rng.random(n) < 0.3).astype(float),
                         "w": rng.uniform(0.05, 1.0, n), "cl": cl})  # fmt: skip
    data["y"] += 0.4 * data["t"] + 0.5 * data["x1"] + rng.normal(scale=0.5, size=15)[rng.integers(0, 15, n)]
    return data


def _fit(data: pd.DataFrame, weights: np.ndarray) -> AncovaFit:
    return weighted_ancova(data["y"].to_numpy(), data["t"].to_numpy(), data[["x1", "x2"]], weights,
                           data["cl"].to_numpy())  # fmt: skip


def test_cr2_matches_r_sandwich_and_the_written_out_formula() -> None:
    data = _cr2_data()
    n = len(data)
    ones, w = np.ones(n), data["w"].to_numpy()
    out = run_r(
        "f1 <- lm(y ~ t + x1 + x2, data = d); fw <- lm(y ~ t + x1 + x2, data = d, weights = w);"
        "out$se1 <- sqrt(sandwich::vcovCL(f1, cluster = ~cl, type = 'HC2')['t', 't']);"
        "out$hc2w <- sandwich::vcovCL(fw, cluster = ~cl, type = 'HC2')['t', 't']",
        data,
        packages=R_SANDWICH,
    )
    z = np.column_stack([ones, data[["t", "x1", "x2"]].to_numpy()])
    c = np.eye(4)[1]
    unit, weighted = _fit(data, ones), _fit(data, w)
    assert unit.vcov == weighted.vcov == "CR2"
    assert unit.se == pytest.approx(out["se1"], rel=1e-8)  # unit weights: sandwich's HC2 is CR2
    for fit, wt in ((unit, ones), (weighted, w)):
        beta = np.linalg.lstsq(z * np.sqrt(wt)[:, None], data["y"].to_numpy() * np.sqrt(wt), rcond=None)[0]
        e = data["y"].to_numpy() - z @ beta
        variance, df = _cr2_written_out(z, wt, e, data["cl"].to_numpy(), c)
        assert fit.se == pytest.approx(math.sqrt(variance), rel=1e-9)
        assert fit.df == pytest.approx(df, rel=1e-9)
        assert fit.p == pytest.approx(2 * stats.t.sf(abs(fit.estimate / fit.se), df), rel=1e-8)
        assert fit.ci95_high - fit.estimate == pytest.approx(stats.t.ppf(0.975, df) * fit.se, rel=1e-9)
    # sandwich's weighted HC2 is another estimator: reproduced by its own formula, not CR2's
    hc2w = _sandwich_hc2_written_out(z, w, data["y"].to_numpy() - z @ np.linalg.lstsq(
        z * np.sqrt(w)[:, None], data["y"].to_numpy() * np.sqrt(w), rcond=None)[0], data["cl"].to_numpy(), c)
    assert hc2w == pytest.approx(out["hc2w"], rel=1e-8)
    assert abs(weighted.se**2 / out["hc2w"] - 1) > 1e-3
    assert 1 <= weighted.df < weighted.clusters - 1  # CR1 would use G - 1


def test_cr2_matches_r_clubsandwich() -> None:
    data = _cr2_data(seed=8)
    out = run_r(
        "fw <- lm(y ~ t + x1 + x2, data = d, weights = w);"
        "ct <- clubSandwich::coef_test(fw, vcov = 'CR2', cluster = d$cl, test = 'Satterthwaite');"
        "out$se <- ct$SE[2]; out$df <- ct$df[2]; out$p <- ct$p_Satt[2]",
        data,
        packages=R_CLUB,
    )
    fit = _fit(data, data["w"].to_numpy())
    assert fit.se == pytest.approx(out["se"], rel=1e-8)
    assert fit.df == pytest.approx(out["df"], rel=1e-8)
    assert fit.p == pytest.approx(out["p"], rel=1e-7)


@pytest.mark.parametrize(("g1", "m1", "g0", "m0"), [(3, 2, 4, 1), (6, 4, 6, 4), (15, 6, 120, 1), (8, 3, 5, 7)])
def test_satterthwaite_closed_form(g1: int, m1: int, g0: int, m0: int) -> None:
    """A difference in means, unit weights, each cluster wholly in one arm, equal sizes within an arm.

    By hand: H is block-constant within an arm, so for a cluster g of arm a
    B_g = I - J/n_a has eigenvalue 1 - 1/G_a on the ones vector, p_g = 1/(n_a sqrt(1 - 1/G_a)) 1
    and u_g = (n_a sqrt(1 - 1/G_a))^-1 (1_g - 1_a / G_a).  Then u_g'u_g = m_a / n_a^2,
    u_g'u_h = -m_a / (n_a^2 (G_a - 1)) within an arm and 0 across arms, so
    nu = (1/n_1 + 1/n_0)^2 / (1/(n_1^2 (G_1 - 1)) + 1/(n_0^2 (G_0 - 1))) (= G - 2 for equal arms),
    and c'Vc = s_1^2/G_1 + s_0^2/G_0 with s_a^2 the variance of the cluster means: Welch's SE.
    Example (3, 2, 4, 1): nu = (25/144) / (2/144 + 3/144) = 5 exactly, where CR1 takes G - 1 = 6.
    """
    rng = np.random.default_rng(g1 * 100 + g0)
    sizes = [m1] * g1 + [m0] * g0
    cl = np.repeat(np.arange(g1 + g0), sizes)
    t = (cl < g1).astype(float)
    y = rng.normal(size=len(cl)) + rng.normal(size=g1 + g0)[cl]
    fit = weighted_ancova(y, t, pd.DataFrame(index=range(len(y))), np.ones(len(y)), cl)
    n1, n0 = g1 * m1, g0 * m0
    nu = (1 / n1 + 1 / n0) ** 2 / (1 / (n1**2 * (g1 - 1)) + 1 / (n0**2 * (g0 - 1)))
    means = pd.Series(y).groupby(cl).mean().to_numpy()
    welch = math.sqrt(means[:g1].var(ddof=1) / g1 + means[g1:].var(ddof=1) / g0)
    assert fit.df == pytest.approx(nu, rel=1e-10)
    assert fit.se == pytest.approx(welch, rel=1e-10)
    assert fit.estimate == pytest.approx(y[t == 1].mean() - y[t == 0].mean(), rel=1e-10)
    if (g1, m1, g0, m0) == (3, 2, 4, 1):
        assert fit.df == pytest.approx(5.0, rel=1e-12)
    if g1 == g0 and m1 == m0:
        assert fit.df == pytest.approx(g1 + g0 - 2, rel=1e-12)
    low = contrast_inference(np.column_stack([np.ones(len(y)), t]), np.ones(len(y)), y - y.mean(), cl,
                             np.array([0.0, 1.0]), "CR1")  # fmt: skip
    assert low.df == g1 + g0 - 1 and low.vcov == "CR1"


def test_adjusted_short_term_matches_r_steps() -> None:
    study = _study(np.random.default_rng(11), 220, 0.3)
    study["programme"] = np.where(np.arange(220) % 3 == 0, "b_prog", "a_prog")  # first appearance: b_prog
    row, balance = adjusted_short_term(study, COVS, vcov="CR1")
    default, _ = adjusted_short_term(study, COVS)
    data = study.assign(
        t=(study["arm"] == "intervisie").astype(float),
        cl=np.where(study["group"].isna(), "participant:" + study["participant"], "group:" + study["group"]),
        prog=pd.Categorical(study["programme"], categories=["b_prog", "a_prog"]),
    ).drop(columns=["group", "programme"])
    out = run_r(
        "ps <- fitted(glm(t ~ pre + prog + z, family = binomial, data = d,"
        " control = glm.control(epsilon = 1e-14, maxit = 100)));"
        "d$w <- ifelse(d$t == 1, 1 - ps, ps);"
        "fit <- lm(post ~ t + pre + prog + z, data = d, weights = w);"
        "V <- sandwich::vcovCL(fit, cluster = ~cl, type = 'HC1');"
        "out$est <- coef(fit)[['t']]; out$se <- sqrt(V['t', 't']); out$G <- length(unique(d$cl));"
        "out$ess_a <- sum(d$w[d$t == 1])^2 / sum(d$w[d$t == 1]^2);"
        "out$w <- d$w; out$X <- unname(model.matrix(fit)); out$e <- unname(residuals(fit))",
        data,
        packages=R_SANDWICH,
    )
    assert row["estimate"] == pytest.approx(out["est"], rel=1e-8)
    assert row["se"] == pytest.approx(out["se"], rel=1e-8)
    assert row["clusters"] == out["G"] and row["df"] == out["G"] - 1
    assert row["ess_a"] == pytest.approx(out["ess_a"], rel=1e-8)
    variance, df = _cr2_written_out(np.array(out["X"]), np.array(out["w"]), np.array(out["e"]),
                                    data["cl"].to_numpy(), np.eye(5)[1])  # fmt: skip
    assert default["estimate"] == pytest.approx(out["est"], rel=1e-8)
    assert default["se"] == pytest.approx(math.sqrt(variance), rel=1e-7)
    assert default["df"] == pytest.approx(df, rel=1e-7) and default["clusters"] == out["G"]
    assert list(balance["covariate"]) == ["pre", "programme: a_prog", "z"]


def test_result_row_fields() -> None:
    study = _study(np.random.default_rng(3), 200, 0.3)
    row, balance = adjusted_short_term(study, COVS)
    assert list(row) == RESULT_KEYS and list(balance.columns) == BALANCE_COLUMNS
    treated = (study["arm"] == "intervisie").to_numpy()
    a, b = study.loc[treated, "pre"], study.loc[~treated, "pre"]
    sd = math.sqrt(((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2))
    assert row["n_a"] == len(a) and row["n_b"] == len(b)
    assert row["std_estimate"] == pytest.approx(row["estimate"] / sd, rel=1e-12)
    assert row["std_ci95_low"] == pytest.approx(row["ci95_low"] / sd, rel=1e-12)
    assert row["max_abs_smd"] < 1e-8 and row["balance_ok"] and row["converged"]
    assert row["ess_a"] < row["n_a"] and row["ess_b"] < row["n_b"]
    assert row["evalue"] > 1 and 1 <= row["evalue_ci"] <= row["evalue"]
    att, _ = adjusted_short_term(study, COVS, estimand="att")
    assert att["ess_a"] == pytest.approx(effective_sample_size(np.ones(len(a))), rel=1e-12)
    with pytest.raises(ValueError, match="unknown estimand"):
        adjusted_short_term(study, COVS, estimand="atc")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['z'\]"):
        adjusted_short_term(study.drop(columns="z"), COVS)


def _nan_row(row: dict) -> bool:
    return all(math.isnan(row[k]) for k in ("estimate", "se", "p", "ci95_low", "ci95_high", "evalue"))


def test_degenerate_input_gives_nan_and_note() -> None:
    study = _study(np.random.default_rng(4), 60, 0.0)
    treated = study["arm"] == "intervisie"
    row, balance = adjusted_short_term(study.loc[treated], COVS)
    assert _nan_row(row) and "too few people" in row["note"] and row["n_b"] == 0 and balance.empty
    few = pd.concat([study.loc[treated], study.loc[~treated].head(2)])
    row, _ = adjusted_short_term(few, COVS, min_per_arm=3)
    assert _nan_row(row) and "too few people: " in row["note"] and row["n_b"] == 2
    separated = study.assign(z=np.where(treated, 5.0, -5.0) + study["z"] * 0.1)
    row, balance = adjusted_short_term(separated, COVS)
    assert _nan_row(row) and "perfect separation" in row["note"] and len(balance) == 3
    constant = study.assign(k=1.0, gone=np.nan)
    row, _ = adjusted_short_term(constant, [*COVS, Covariate("k", "numeric"), Covariate("gone", "binary")])
    assert np.isfinite(row["estimate"])  # the adjustment goes on without them, and says so
    assert "left out of the adjustment (constant or redundant): k, gone, gone (missing)" in row["note"]
    holes = study.copy()
    holes.loc[holes.index[:3], "post"] = np.nan
    holes.loc[holes.index[3], "arm"] = "waitlist"
    row, _ = adjusted_short_term(holes, COVS)
    assert "1 row(s) in another arm left out" in row["note"] and "3 row(s) without both pre and post" in row["note"]
    one_group = study.assign(group=pd.array(np.where(treated, "g0", None), dtype="string"))
    row, _ = adjusted_short_term(one_group, COVS)
    assert np.isfinite(row["estimate"]) and "one arm is a single cluster" in row["note"]
    nested = study.assign(programme=np.where(treated, "p1", "p2"))
    row, _ = adjusted_short_term(nested, COVS)
    assert np.isfinite(row["estimate"]) and "every programme lies wholly in one arm" in row["note"]
