"""Tests of time to burnout caseness (analyses.caseness) against R ``survival`` and simulated truth.

Times to caseness are drawn here from a Weibull model with known time ratios and shape,
``S(t) = exp(-(t / lambda)^rho)``, ``log lambda = b0 + b_arm * intervisie + b_prog``, and are
seen only at the survey waves (months 0, 3, 12, 24; some waves missed), so each is known only
to lie between two waves.  References and tolerances:

* the Weibull AFT fit: R ``survreg(Surv(L, R, type = "interval2") ~ arm + programme,
  dist = "weibull")`` (lifelines' ``lambda_`` coefficients are survreg's coefficients, its
  ``rho`` is ``1 / scale``); both maximise the same likelihood with different optimisers:
  ``rtol = 1e-4`` on estimates, CIs and p-values;
* the hazard ratio ``exp(-b rho)`` with a delta-method CI, written out in R from ``vcov(m)``
  (on ``Log(scale)``), ``rtol = 1e-4``;
* the Turnbull NPMLE: R ``survfit(Surv(L, R, type = "interval2") ~ arm)`` (EM, like lifelines),
  ``rtol = 1e-4``;
* truth: with 4000 simulated people the 95% CIs cover the planted time ratio and hazard ratio.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analyses.caseness import caseness_intervals, caseness_weibull, turnbull_curve
from pipeline.errors import InputError
from tests.r_reference import run_r

WAVES = np.array([0.0, 3.0, 12.0, 24.0])
TR_ARM, TR_ANIOS, RHO, B0 = 1.5, 0.8, 0.7, np.log(40.0)


def simulate_scores(seed: int, n: int = 600, *, tr_arm: float = TR_ARM) -> pd.DataFrame:
    """Long CBI-like scores: 40 before the (Weibull) time to caseness, 60 from then on; some waves missed."""
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < 0.7, "intervisie", "comparison")
    programme = rng.choice(["coschappen", "anios", "buitenlandse_artsen"], size=n, p=[0.5, 0.35, 0.15])
    log_lambda = B0 + np.log(tr_arm) * (arm == "intervisie") + np.log(TR_ANIOS) * (programme == "anios")
    t = np.exp(log_lambda) * rng.weibull(RHO, n)
    rows = []
    for i in range(n):
        for w, months in zip(["t0", "t1", "t2", "t3"], WAVES, strict=True):
            if months > 0 and rng.random() < 0.15:
                continue  # wave missed
            score = 60.0 if months >= t[i] else 40.0
            rows.append((f"p{i:04d}", arm[i], programme[i], w, months, "cbi_work", score))
    return pd.DataFrame(rows, columns=["participant", "arm", "programme", "wave", "months", "scale", "score"])


def r_frame(intervals: pd.DataFrame) -> pd.DataFrame:
    """The intervals as R's interval2 wants them: L = NA for left-censored, R = NA for right-censored."""
    counts = intervals["programme"].value_counts()
    levels = [counts.index[0], *sorted(set(counts.index) - {counts.index[0]})]  # reference: most common
    return pd.DataFrame(
        {
            "L": intervals["lower"].where(intervals["lower"] > 0),
            "R": intervals["upper"].where(np.isfinite(intervals["upper"])),
            "arm": pd.Categorical(intervals["arm"], categories=["comparison", "intervisie"]),
            "programme": pd.Categorical(intervals["programme"], categories=levels),
        }
    )


R_SCRIPT = """
m <- survreg(Surv(L, R, type = "interval2") ~ arm + programme, data = d, dist = "weibull")
b <- coef(m); V <- vcov(m); rho <- 1 / m$scale; k <- "armintervisie"
log_hr <- -b[k] * rho
# delta method on (b, Log(scale)): d log_hr / d b = -rho, d log_hr / d Log(scale) = b * rho
g <- c(-rho, b[k] * rho)
se <- sqrt(c(t(g) %*% V[c(k, "Log(scale)"), c(k, "Log(scale)")] %*% g))
z <- qnorm(0.975); s <- summary(m)$table
out$tr <- unname(exp(b[-1])); out$tr_low <- unname(exp(b[-1] - z * sqrt(diag(V))[2:length(b)]))
out$tr_high <- unname(exp(b[-1] + z * sqrt(diag(V))[2:length(b)])); out$p <- unname(s[2:length(b), "p"])
out$rho <- rho; out$hr <- unname(exp(log_hr)); out$hr_low <- unname(exp(log_hr - z * se))
out$hr_high <- unname(exp(log_hr + z * se)); out$names <- names(b)[-1]
km <- survfit(Surv(L, R, type = "interval2") ~ arm, data = d)
out$np_time <- km$time; out$np_surv <- km$surv
out$np_strata <- rep(sub("arm=", "", names(km$strata)), km$strata)
"""


@pytest.fixture(scope="module")
def intervals() -> pd.DataFrame:
    return caseness_intervals(simulate_scores(1), scale="cbi_work", threshold=50)


@pytest.fixture(scope="module")
def r_ref(intervals: pd.DataFrame) -> dict:
    return run_r(R_SCRIPT, r_frame(intervals), packages=("survival", "jsonlite"))


def test_intervals_follow_the_waves() -> None:
    scores = pd.DataFrame(
        {
            "participant": ["a"] * 4 + ["b"] * 3 + ["c"] * 4 + ["d"] * 2 + ["e"],
            "arm": ["intervisie"] * 14,
            "programme": ["anios"] * 14,
            "wave": ["t0", "t1", "t2", "t3", "t0", "t2", "t3", "t0", "t1", "t2", "t3", "t0", "t1", "t0"],
            "months": [0, 3, 12, 24, 0, 12, 24, 0, 3, 12, 24, 0, 3, 0],
            "scale": ["cbi_work"] * 14,
            "score": [30, 45, 55, 40, 20, 30, 51, 60, 70, 40, 40, 49.9, 50, 10],
        }
    )
    out = caseness_intervals(scores, scale="cbi_work", threshold=50).set_index("participant")
    # a: case first seen at 12 (3 was below); later recovery does not matter
    # b: t1 missed, case at 24, last below at 12; c: a case at baseline, not at risk
    # d: 49.9 -> 50 at 3 months is a case (>= 50); e: only the baseline, no information
    assert out.index.tolist() == ["a", "b", "d"]
    assert_allclose(out["lower"], [3, 12, 0], rtol=0)
    assert_allclose(out["upper"], [12, 24, 3], rtol=0)
    assert out["case"].tolist() == [1, 1, 1]
    never = scores[scores["participant"] == "b"].assign(score=[20, 30, 40])
    right = caseness_intervals(never, scale="cbi_work", threshold=50)
    assert right["lower"].iloc[0] == 24 and np.isinf(right["upper"].iloc[0]) and right["case"].iloc[0] == 0
    with pytest.raises(InputError, match="no valid scores of scale 'uwes'"):
        caseness_intervals(scores, scale="uwes", threshold=50)


def test_weibull_matches_r_survreg(intervals: pd.DataFrame, r_ref: dict) -> None:
    table = caseness_weibull(intervals, covariates=["programme"], model="weibull_arm_programme")
    rows = table.set_index("term")
    names = {"armintervisie": "arm_intervisie", "programmeanios": "programme_anios",
             "programmebuitenlandse_artsen": "programme_buitenlandse_artsen"}
    ours = [f"time_ratio:{names[n]}" for n in r_ref["names"]]
    assert_allclose(rows.loc[ours, "estimate"], r_ref["tr"], rtol=1e-5)
    assert_allclose(rows.loc[ours, "ci_low"], r_ref["tr_low"], rtol=1e-5)
    assert_allclose(rows.loc[ours, "ci_high"], r_ref["tr_high"], rtol=1e-5)
    assert_allclose(rows.loc[ours, "p_val"], r_ref["p"], rtol=1e-5, atol=1e-10)
    assert_allclose(rows.loc["shape_rho", "estimate"], r_ref["rho"], rtol=1e-5)
    hr = rows.loc["hazard_ratio:arm_intervisie"]
    assert_allclose([hr["estimate"], hr["ci_low"], hr["ci_high"]], [r_ref["hr"], r_ref["hr_low"], r_ref["hr_high"]],
                    rtol=1e-5)
    assert (table["n"] == len(intervals)).all() and (table["events"] == intervals["case"].sum()).all()


def test_turnbull_matches_r_survfit_interval2(intervals: pd.DataFrame, r_ref: dict) -> None:
    curve = turnbull_curve(intervals, by="arm")
    assert curve[["time_lower", "time_upper"]].drop_duplicates().to_numpy().tolist() == [[0, 3], [3, 12], [12, 24]]
    # R lists the survival at the ends of the Turnbull intervals (and at their midpoints, where
    # it is not determined); compare at the ends: the survival after each interval
    r = pd.DataFrame({"arm": r_ref["np_strata"], "time_upper": r_ref["np_time"], "survival": r_ref["np_surv"]})
    both = curve.merge(r, on=["arm", "time_upper"], how="left", suffixes=("", "_r"), validate="one_to_one")
    assert len(both) == 6 and both["survival_r"].notna().all()
    assert_allclose(both["survival"], both["survival_r"], rtol=1e-4)


def test_weibull_recovers_the_planted_time_ratio() -> None:
    intervals = caseness_intervals(simulate_scores(2, n=4000), scale="cbi_work", threshold=50)
    rows = caseness_weibull(intervals, covariates=["programme"]).set_index("term")
    tr = rows.loc["time_ratio:arm_intervisie"]
    assert tr["ci_low"] < TR_ARM < tr["ci_high"]
    hr = rows.loc["hazard_ratio:arm_intervisie"]
    assert hr["ci_low"] < TR_ARM ** -RHO < hr["ci_high"]
    rho = rows.loc["shape_rho"]
    assert rho["ci_low"] < RHO < rho["ci_high"]
    anios = rows.loc["time_ratio:programme_anios"]
    assert anios["ci_low"] < TR_ANIOS < anios["ci_high"]


def test_no_difference_gives_a_ratio_near_one() -> None:
    intervals = caseness_intervals(simulate_scores(3, n=3000, tr_arm=1.0), scale="cbi_work", threshold=50)
    hr = caseness_weibull(intervals).set_index("term").loc["hazard_ratio:arm_intervisie"]
    assert hr["ci_low"] < 1.0 < hr["ci_high"]
    assert_allclose(hr["estimate"], 1.0, atol=0.2)


def test_the_declared_first_programme_is_the_reference(intervals: pd.DataFrame) -> None:
    """study.yaml's first programme is the reference, whatever its size or its place in the alphabet."""
    levels = sorted(set(intervals["programme"].astype(str)))
    declared = [levels[-1], *levels[:-1]]  # the last by name listed first
    terms = set(caseness_weibull(intervals, covariates=["programme"], levels={"programme": declared})["term"])
    assert f"time_ratio:programme_{declared[0]}" not in terms
    assert {f"time_ratio:programme_{lv}" for lv in declared[1:]} <= terms
