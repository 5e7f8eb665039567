"""Propensity scores, balancing weights, balance and Kish ESS (analyses.propensity).

Known answers: the formulas written out by hand on a small frame (rtol 1e-12); exact mean
balance of overlap weights under a logistic model (Li, Morgan & Zaslavsky 2018, Theorem 3;
|SMD| < 1e-8); the logistic fit against R ``glm(family = binomial)`` (rtol 1e-8).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analyses.propensity import (
    BALANCE_COLUMNS,
    Covariate,
    adjustment_matrix,
    balance_table,
    balancing_weights,
    effective_sample_size,
    propensity_scores,
)
from tests.r_reference import run_r

RTOL = 1e-12

# A small hand-made frame: 8 people, 4 per arm.
T = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float)
E = np.array([0.8, 0.6, 0.5, 0.3, 0.6, 0.4, 0.2, 0.1])
FRAME = pd.DataFrame(
    {
        "age": [30.0, 41.0, np.nan, 29.0, 35.0, 50.0, 44.0, np.nan],
        "prior": [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0],
        "route": pd.array(["a", "b", "c", "a", None, "b", "b", "a"], dtype="string"),
        "const": [2.0] * 8,
        "empty": [np.nan] * 8,
    }
)


def test_adjustment_matrix_by_hand() -> None:
    covs = [
        Covariate("age", "numeric"),
        Covariate("prior", "binary"),
        Covariate("route", "categorical", ("a", "b", "c")),
        Covariate("const", "numeric"),
        Covariate("empty", "numeric"),
    ]
    X = adjustment_matrix(FRAME, covs)
    assert list(X.columns) == ["age", "age (missing)", "prior", "route: b", "route: c", "route (missing)"]
    assert X.index.equals(FRAME.index)
    age_mean = (30 + 41 + 29 + 35 + 50 + 44) / 6
    np.testing.assert_allclose(X["age"], [30, 41, age_mean, 29, 35, 50, 44, age_mean], rtol=RTOL)
    np.testing.assert_array_equal(X["age (missing)"], [0, 0, 1, 0, 0, 0, 0, 1])
    np.testing.assert_allclose(X["route: b"], [0, 1, 0, 0, 3 / 7, 1, 1, 0], rtol=RTOL)
    np.testing.assert_allclose(X["route: c"], [0, 0, 1, 0, 1 / 7, 0, 0, 0], rtol=RTOL)
    np.testing.assert_array_equal(X["route (missing)"], [0, 0, 0, 0, 1, 0, 0, 0])
    # constant columns (and an all-missing covariate, whose indicator is constant) are dropped and named
    assert set(X.attrs["dropped"]) == {"const", "empty", "empty (missing)"}


def test_adjustment_matrix_levels_and_redundancy() -> None:
    frame = pd.DataFrame({"r": ["x", "y", "z", "y", "w"], "a": [1.0, 2, 3, 4, 5], "b": [2.0, 4, 6, 8, 10]})
    X = adjustment_matrix(frame, [Covariate("r", "categorical", ("y", "x")), Covariate("a", "numeric"),
                                  Covariate("b", "numeric")])
    # declared order first (reference "y"), undeclared levels after in order of appearance
    assert list(X.columns[:3]) == ["r: x", "r: z", "r: w"]
    assert "b" in X.attrs["dropped"]  # b = 2a: a linear combination of an earlier column
    with pytest.raises(ValueError, match="'nope' is not a column"):
        adjustment_matrix(frame, [Covariate("nope", "numeric")])
    assert adjustment_matrix(frame, []).shape == (5, 0)


def test_balancing_weights_by_hand() -> None:
    e, t = E, T
    att = balancing_weights(t, e, "att")
    ato = balancing_weights(t, e, "ato")
    ate = balancing_weights(t, e, "ate")
    np.testing.assert_allclose(att, [1, 1, 1, 1, 0.6 / 0.4, 0.4 / 0.6, 0.2 / 0.8, 0.1 / 0.9], rtol=RTOL)
    np.testing.assert_allclose(ato, [0.2, 0.4, 0.5, 0.7, 0.6, 0.4, 0.2, 0.1], rtol=RTOL)
    np.testing.assert_allclose(ate, [1 / 0.8, 1 / 0.6, 1 / 0.5, 1 / 0.3, 1 / 0.4, 1 / 0.6, 1 / 0.8, 1 / 0.9],
                               rtol=RTOL)
    with pytest.raises(ValueError, match="unknown estimand"):
        balancing_weights(t, e, "atc")  # type: ignore[arg-type]


def _wmean(x: list[float], w: list[float]) -> float:
    return sum(a * b for a, b in zip(x, w, strict=True)) / sum(w)


def _wvar(x: list[float], w: list[float]) -> float:
    m, sw, sw2 = _wmean(x, w), sum(w), sum(v * v for v in w)
    return sw / (sw**2 - sw2) * sum(b * (a - m) ** 2 for a, b in zip(x, w, strict=True))


def test_balance_table_and_ess_by_hand() -> None:
    x = [3.0, 5.0, 4.0, 8.0, 2.0, 6.0, 1.0, 3.0]
    b = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    X = pd.DataFrame({"x": x, "b": b})
    w = [0.2, 0.4, 0.5, 0.7, 0.6, 0.4, 0.2, 0.1]
    table = balance_table(X, T, np.array(w))
    assert list(table.columns) == BALANCE_COLUMNS
    x1, x0, w1, w0 = x[:4], x[4:], w[:4], w[4:]
    m1, m0 = sum(x1) / 4, sum(x0) / 4
    s1 = sum((v - m1) ** 2 for v in x1) / 3
    s0 = sum((v - m0) ** 2 for v in x0) / 3
    sd = math.sqrt((s1 + s0) / 2)
    row = table.set_index("covariate").loc["x"]
    assert row["smd_unweighted"] == pytest.approx((m1 - m0) / sd, rel=RTOL)
    assert row["smd_weighted"] == pytest.approx((_wmean(x1, w1) - _wmean(x0, w0)) / sd, rel=RTOL)
    assert row["variance_ratio_unweighted"] == pytest.approx(s1 / s0, rel=RTOL)
    assert row["variance_ratio_weighted"] == pytest.approx(_wvar(x1, w1) / _wvar(x0, w0), rel=RTOL)
    assert bool(row["imbalanced"]) == (abs(row["smd_weighted"]) > 0.1)
    rb = table.set_index("covariate").loc["b"]
    p1, p0 = 3 / 4, 1 / 4
    vb = (p1 * (1 - p1) * 4 / 3 + p0 * (1 - p0) * 4 / 3) / 2  # sample variances of a 0/1 column
    assert rb["smd_unweighted"] == pytest.approx((p1 - p0) / math.sqrt(vb), rel=RTOL)
    assert math.isnan(rb["variance_ratio_weighted"])  # not reported for 0/1 columns
    # Kish (1965): (sum w)^2 / sum w^2
    assert effective_sample_size(np.array(w)) == pytest.approx(sum(w) ** 2 / sum(v * v for v in w), rel=RTOL)
    assert effective_sample_size(np.ones(7)) == pytest.approx(7.0, rel=RTOL)
    assert math.isnan(effective_sample_size(np.array([])))


def _confounded(seed: int, n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "pre": rng.normal(20, 5, n),
            "z": rng.normal(size=n),
            "flag": (rng.random(n) < 0.3).astype(float),
            "route": rng.choice(["a", "b", "c"], n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "z"] = np.nan
    lin = -0.5 + 0.08 * (frame["pre"] - 20) + 0.7 * frame["z"].fillna(0) + 0.6 * frame["flag"]
    treated = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(float)
    return frame, treated


COVS = [Covariate("pre", "numeric"), Covariate("z", "numeric"), Covariate("flag", "binary"),
        Covariate("route", "categorical", ("a", "b", "c"))]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_overlap_weights_balance_means_exactly(seed: int) -> None:
    frame, treated = _confounded(seed)
    X = adjustment_matrix(frame, COVS)
    fit = propensity_scores(X, treated)
    assert fit.converged and fit.note == "" and fit.separation == "none"
    table = balance_table(X, treated, balancing_weights(treated, fit.scores, "ato"))
    assert table["smd_unweighted"].abs().max() > 0.2  # the arms really differ before weighting
    assert table["smd_weighted"].abs().max() < 1e-8  # Li, Morgan & Zaslavsky (2018), Theorem 3
    assert not table["imbalanced"].any()


def test_logistic_fit_matches_r_glm() -> None:
    frame, treated = _confounded(7)
    X = adjustment_matrix(frame, COVS)
    fit = propensity_scores(X, treated)
    data = pd.DataFrame(X.to_numpy(), columns=[f"x{i}" for i in range(X.shape[1])]).assign(t=treated)
    out = run_r(
        "m <- glm(t ~ ., family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100));"
        "out$coef <- unname(coef(m)); out$fitted <- unname(fitted(m))",
        data,
        packages=("jsonlite",),
    )
    np.testing.assert_allclose(fit.params.to_numpy(), out["coef"], rtol=1e-8)
    np.testing.assert_allclose(fit.scores, out["fitted"], rtol=1e-8)


def test_separation_is_noted_not_raised() -> None:
    x = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6, 7, 8]})
    complete = propensity_scores(x, np.array([0, 0, 0, 0, 1, 1, 1, 1.0]))
    assert complete.separation == "complete"
    assert "perfect separation" in complete.note
    assert np.all((complete.scores >= 1e-6) & (complete.scores <= 1 - 1e-6))
    assert "clipped" in complete.note
    # quasi-complete: a category with people in one arm only
    frame = pd.DataFrame({"r": ["a", "a", "b", "b", "c", "c", "a", "b", "c", "c"]})
    t = np.array([1, 0, 1, 0, 1, 1, 0, 1, 1, 1.0])
    X = adjustment_matrix(frame, [Covariate("r", "categorical", ("a", "b", "c"))])
    quasi = propensity_scores(X, t)
    assert quasi.separation == "quasi"
    assert "quasi-complete separation" in quasi.note
    one_arm = propensity_scores(x, np.ones(8))
    assert one_arm.note == "only one arm present" and np.isnan(one_arm.scores).all()
    intercept_only = propensity_scores(pd.DataFrame(index=range(4)), np.array([1, 0, 0, 1.0]))
    np.testing.assert_allclose(intercept_only.scores, 0.5, rtol=1e-10)


def test_non_numeric_values_are_refused_with_the_covariate_named() -> None:
    frame = pd.DataFrame({"x": ["1", "2", "drie"], "b": [0.0, 1.0, 2.0]})
    with pytest.raises(ValueError, match=r"numeric covariate 'x' has 1 value\(s\) that are not numbers, e.g. 'drie'"):
        adjustment_matrix(frame, [Covariate("x", "numeric")])
    with pytest.raises(ValueError, match=r"binary covariate 'b' has 1 value\(s\) that are not 0/1"):
        adjustment_matrix(frame, [Covariate("b", "binary")])
    with pytest.raises(ValueError, match="X must be finite"):
        propensity_scores(pd.DataFrame({"x": [1.0, np.nan, 3.0]}), np.array([1, 0, 1.0]))
