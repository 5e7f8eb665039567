"""Observation weights in the mixed-model engine against ``lme4::lmer(..., weights = w)`` + lmerTest.

lme4's weights are prior (precision) weights: the residual variance of row i is sigma^2 / w_i,
the rows of X, Z and y are multiplied by sqrt(w_i), and the log-likelihood gains sum(log w_i)/2.
The data are test_mixed.py's simulated participants in groups (random intercept for participant
and for group, a random slope of ``short`` per participant), with two kinds of weights: constant
within a participant (as propensity weights are) and arbitrary positive weights per row. Fixed
effects, standard errors, Satterthwaite df, variance components, log-likelihood, AIC/BIC and the
REML/ML criterion must agree with R within ``rtol = 1e-6`` (R run to convergence, optimizer
tolerances 1e-12; measured agreement is about 3e-7 at worst, in the df). Without R the R
comparisons skip with the reason; the algebraic checks (weights of one, rescaled weights) and the
input checks still run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analyses.mixed import MixedModel, fit_with_fallback, likelihood_ratio_test
from tests.r_reference import run_r
from tests.test_mixed import simulate

RTOL = 1e-6
FORMULA = "y ~ arm * (short + long) + (1 + short | participant) + (1 | group)"
FITS = [(w, reml) for w in ("w_person", "w_row") for reml in (True, False)]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = simulate(7, n_groups=30, per_group=6)
    rng = np.random.default_rng(20261129)
    people = sorted(d["participant"].unique())
    per_person = pd.Series(rng.uniform(0.2, 1.0, len(people)), index=people)  # like overlap weights
    return d.assign(w_person=d["participant"].map(per_person), w_row=rng.gamma(2.0, 0.5, len(d)))


@pytest.fixture(scope="module")
def fits(data: pd.DataFrame) -> dict[tuple[str, bool], MixedModel]:
    return {(w, reml): MixedModel(FORMULA, reml=reml).fit(data, weights=w) for w, reml in FITS}


@pytest.fixture(scope="module")
def r_fits(data: pd.DataFrame) -> dict:
    """lme4 1.1 / lmerTest 3.1: the four weighted fits and a weighted anova() of the arm x long term."""
    script = f"""
ctl <- lmerControl(optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-12, xtol_rel = 1e-12, maxeval = 1e5))
one <- function(w, reml) {{
  d$w <- d[[w]]
  m <- lmer({FORMULA}, data = d, weights = w, REML = reml, control = ctl)
  s <- coef(summary(m))
  v <- as.data.frame(VarCorr(m))
  list(term = rownames(s), estimate = unname(s[, "Estimate"]), std_error = unname(s[, "Std. Error"]),
       df = unname(s[, "df"]), p_val = unname(s[, "Pr(>|t|)"]), group = v$grp,
       term1 = ifelse(is.na(v$var1), "", v$var1), term2 = ifelse(is.na(v$var2), "", v$var2),
       variance = v$vcov, loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m),
       crit = if (reml) unname(REMLcrit(m)) else deviance(m), sigma = sigma(m))
}}
for (w in c("w_person", "w_row")) for (reml in c(TRUE, FALSE)) out[[paste(w, reml)]] <- one(w, reml)
m1 <- lmer({FORMULA}, data = d, weights = w_person, REML = FALSE, control = ctl)
m0 <- update(m1, . ~ . - arm:long)
a <- anova(m0, m1)
out$anova <- list(chisq = a$Chisq[2], p_val = a[["Pr(>Chisq)"]][2], loglik = as.numeric(a$logLik))
"""
    return run_r(script, data)


@pytest.mark.parametrize(("weights", "reml"), FITS)
def test_fixed_effects_and_satterthwaite_df_match_lmertest(
    fits: dict, r_fits: dict, weights: str, reml: bool
) -> None:
    ours, r = fits[(weights, reml)].fixed_, r_fits[f"{weights} {str(reml).upper()}"]
    assert list(ours["term"]) == r["term"]
    for column in ("estimate", "std_error", "df"):
        assert_allclose(ours[column], r[column], rtol=RTOL, err_msg=column)
    assert_allclose(ours["p_val"], r["p_val"], rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize(("weights", "reml"), FITS)
def test_variance_components_and_likelihood_match_lme4(fits: dict, r_fits: dict, weights: str, reml: bool) -> None:
    m, r = fits[(weights, reml)], r_fits[f"{weights} {str(reml).upper()}"]
    theirs = pd.DataFrame({"group": r["group"], "term": r["term1"], "term2": r["term2"], "variance_r": r["variance"]})
    ours = m.random_.assign(term=m.random_["term"].fillna(""), term2=m.random_["term2"].fillna(""))
    merged = ours.merge(theirs, on=["group", "term", "term2"], how="outer", validate="one_to_one")
    assert len(merged) == len(ours) == len(theirs)
    assert_allclose(merged["variance"], merged["variance_r"], rtol=RTOL)
    assert_allclose([m.loglik_, m.aic_, m.bic_, m.deviance_], [r["loglik"], r["aic"], r["bic"], r["crit"]], rtol=RTOL)
    assert m.converged_ and not m.singular_


def test_weighted_likelihood_ratio_test_matches_anova(data: pd.DataFrame, r_fits: dict) -> None:
    """anova(m0, m1) of two weighted ML fits (the weights' log-determinant cancels in the statistic)."""
    full = MixedModel(FORMULA, reml=False).fit(data, weights="w_person")
    restricted = MixedModel(FORMULA.replace("arm * (short + long)", "arm * short + long"), reml=False)
    restricted.fit(data, weights="w_person")
    lrt = likelihood_ratio_test(restricted, full).iloc[0]
    r = r_fits["anova"]
    assert_allclose([lrt["loglik_restricted"], lrt["loglik_full"]], r["loglik"], rtol=RTOL)
    assert_allclose([lrt["chisq"], lrt["p_val"]], [r["chisq"], r["p_val"]], rtol=1e-5)


def test_unit_weights_give_the_unweighted_fit(data: pd.DataFrame) -> None:
    """Weights of one are the unweighted model (log w = 0): every reported number agrees to 1e-10."""
    plain = MixedModel(FORMULA).fit(data)
    ones = MixedModel(FORMULA).fit(data, weights=np.ones(len(data)))
    assert plain.weights_ is None and ones.weights_ is not None
    for column in ("estimate", "std_error", "df", "p_val"):
        assert_allclose(ones.fixed_[column], plain.fixed_[column], rtol=1e-10, err_msg=column)
    assert_allclose(ones.random_["variance"], plain.random_["variance"], rtol=1e-10)
    assert_allclose(ones.loglik_, plain.loglik_, rtol=1e-12)


def test_rescaled_weights_change_only_sigma(data: pd.DataFrame) -> None:
    """w -> c w leaves beta, its SEs, the df and the random-effect variances unchanged; sigma^2 -> c sigma^2
    (the residual variance of row i, sigma^2 / w_i, is the same model), so the log-likelihood, with
    lme4's + sum(log w) / 2, is unchanged too."""
    c = 3.7
    a = MixedModel(FORMULA).fit(data, weights="w_row")
    b = MixedModel(FORMULA).fit(data, weights=data["w_row"] * c)
    for column in ("estimate", "std_error", "df"):
        assert_allclose(b.fixed_[column], a.fixed_[column], rtol=1e-6, err_msg=column)
    assert_allclose(b.random_["variance"].iloc[:-1], a.random_["variance"].iloc[:-1], rtol=1e-6)
    assert_allclose(b.random_["variance"].iloc[-1], a.random_["variance"].iloc[-1] * c, rtol=1e-6)
    assert_allclose(b.loglik_, a.loglik_, rtol=1e-9)


def test_weights_given_as_column_series_or_array_agree(data: pd.DataFrame) -> None:
    shuffled = data["w_person"].sample(frac=1.0, random_state=1)  # aligned by index, not by position
    by_name = MixedModel(FORMULA).fit(data, weights="w_person").fixed_
    by_series = MixedModel(FORMULA).fit(data, weights=shuffled).fixed_
    by_array = MixedModel(FORMULA).fit(data, weights=data["w_person"].to_numpy()).fixed_
    pd.testing.assert_frame_equal(by_name, by_series)
    pd.testing.assert_frame_equal(by_name, by_array)


def test_missing_weights_drop_their_rows_and_say_so(data: pd.DataFrame) -> None:
    w = data["w_row"].copy()
    w.iloc[[3, 10]] = np.nan
    m = MixedModel(FORMULA).fit(data, weights=w)
    assert m.n_obs_ == len(data) - 2
    assert any("2 of" in msg and "(weights): 2" in msg for msg in m.messages_)
    expected = MixedModel(FORMULA).fit(data.drop(index=data.index[[3, 10]]), weights="w_row")
    assert_allclose(m.fixed_["estimate"], expected.fixed_["estimate"], rtol=1e-10)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (-1.0, "finite number > 0; row 5"),
        (0.0, "finite number > 0; row 5"),
        (np.inf, "finite number > 0; row 5"),
    ],
)
def test_bad_weights_are_named(data: pd.DataFrame, weights: float, message: str) -> None:
    w = data["w_row"].copy()
    w.iloc[5] = weights
    with pytest.raises(ValueError, match=message):
        MixedModel(FORMULA).fit(data, weights=w)


def test_weight_input_errors_are_clear(data: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no column 'nope'"):
        MixedModel(FORMULA).fit(data, weights="nope")
    with pytest.raises(ValueError, match="one value per row"):
        MixedModel(FORMULA).fit(data, weights=np.ones(3))
    with pytest.raises(ValueError, match="without a weight"):
        MixedModel(FORMULA).fit(data, weights=data["w_row"].iloc[:-1])
    with pytest.raises(ValueError, match="must be numeric"):
        MixedModel(FORMULA).fit(data, weights=data["participant"])
    with pytest.raises(ValueError, match="Kenward-Roger"):
        MixedModel(FORMULA, df_method="kenward-roger").fit(data, weights="w_row")


def test_fallback_passes_the_weights_on(data: pd.DataFrame) -> None:
    model, log = fit_with_fallback([FORMULA], data, weights="w_person")
    direct = MixedModel(FORMULA).fit(data, weights="w_person")
    pd.testing.assert_frame_equal(model.fixed_, direct.fixed_)
    assert log["status"].tolist() == ["accepted"]
