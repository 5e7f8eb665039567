"""The interval-censored Weibull fit polished to R's ``survreg`` optimum (analyses.weibull_ic).

Known answer: R ``survreg(Surv(L, R, type = "interval2") ~ arm + programme, dist = "weibull")``
run to convergence (``rel.tolerance = 1e-12``) on the caseness intervals of a simulated study:
coefficients, ``Log(scale)`` (= -log rho), the covariance and the log-likelihood within
``rtol = 1e-5`` (the polished fit agrees to about 1e-8; lifelines' own estimate is about 2e-4 off).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import WeibullAFTFitter
from numpy.testing import assert_allclose

from analyses.caseness import caseness_intervals
from analyses.weibull_ic import loglik_and_score, polish_weibull_ic
from tests.r_reference import run_r
from tests.test_caseness import r_frame, simulate_scores

SURVIVAL = ("survival", "jsonlite")


def _frame(intervals: pd.DataFrame, reference: str) -> pd.DataFrame:
    levels = sorted(set(intervals["programme"]) - {reference})
    frame = pd.DataFrame({"arm_intervisie": (intervals["arm"] == "intervisie").astype(float).to_numpy()})
    for lv in levels:
        frame[f"programme_{lv}"] = (intervals["programme"] == lv).astype(float).to_numpy()
    frame["lower"] = intervals["lower"].to_numpy(float)
    frame["upper"] = intervals["upper"].to_numpy(float)
    return frame


def test_polished_weibull_matches_r_survreg() -> None:
    intervals = caseness_intervals(simulate_scores(3), scale="cbi_work", threshold=50.0).reset_index(drop=True)
    d = r_frame(intervals)
    reference = str(d["programme"].cat.categories[0])
    frame = _frame(intervals, reference)
    fitter = WeibullAFTFitter().fit_interval_censoring(frame, "lower", "upper")
    params, cov, loglik = polish_weibull_ic(fitter, frame, "lower", "upper")
    script = """
    m <- survreg(Surv(L, R, type = "interval2") ~ arm + programme, data = d, dist = "weibull",
                 control = survreg.control(rel.tolerance = 1e-12, maxiter = 100))
    out$coef <- unname(coef(m)); out$names <- names(coef(m)); out$log_scale <- log(m$scale)
    out$vcov <- unname(vcov(m)); out$loglik <- m$loglik[2]
    """
    ref = run_r(script, d, packages=SURVIVAL)
    names = ["Intercept", "arm_intervisie", *[f"programme_{n[len('programme'):]}" for n in ref["names"][2:]]]
    ours = params.loc[[("lambda_", n) for n in names]].to_numpy()
    assert_allclose(ours, ref["coef"], rtol=1e-5)
    assert_allclose(-params[("rho_", "Intercept")], ref["log_scale"], rtol=1e-5)
    assert_allclose(loglik, ref["loglik"], rtol=1e-10)
    # survreg's covariance is on (beta, Log(scale)); ours on (beta, log rho) = (beta, -Log(scale))
    order = [("lambda_", n) for n in names] + [("rho_", "Intercept")]
    flip = np.diag([1.0] * len(names) + [-1.0])
    assert_allclose(flip @ cov.loc[order, order].to_numpy() @ flip, np.array(ref["vcov"]), rtol=1e-5, atol=1e-12)
    # lifelines alone stops short: the polish raises the log-likelihood
    lam = [n for k, n in fitter.params_.index if k == "lambda_"]
    x = np.column_stack([np.ones(len(frame)) if n == "Intercept" else frame[n].to_numpy(float) for n in lam])
    start = fitter.params_.loc[[("lambda_", n) for n in lam] + [("rho_", "Intercept")]].to_numpy()
    before, _ = loglik_and_score(start, x, frame["lower"].to_numpy(float), frame["upper"].to_numpy(float))
    assert_allclose(before, fitter.log_likelihood_, rtol=1e-10)  # the same likelihood as lifelines'
    assert loglik >= before


def test_score_is_the_gradient_of_the_loglikelihood() -> None:
    rng = np.random.default_rng(1)
    n = 50
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    lower = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(1, 5, n))
    upper = np.where(rng.random(n) < 0.3, np.inf, lower + rng.uniform(0.5, 3, n))
    upper[:3] = lower[:3] = [1.5, 2.0, 3.0]  # exact times
    theta = np.array([1.0, 0.3, -0.2])
    _, score = loglik_and_score(theta, x, lower, upper)
    h = 1e-6
    numeric = [(loglik_and_score(theta + h * e, x, lower, upper)[0] - loglik_and_score(theta - h * e, x, lower, upper)[0])
               / (2 * h) for e in np.eye(3)]  # fmt: skip
    assert_allclose(score, numeric, rtol=1e-6)
