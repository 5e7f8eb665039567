"""The careless-responding indices (pipeline.careless) against known answers.

References, per index:

- hand-worked examples from the definitions (Johnson 2005; Dunn et al. 2018; Meade & Craig 2012);
- R: the formulas of the ``careless`` package (Yentes & Wilhelm), which is not installed here, written
  out in base R as the package computes them (``careless::longstring`` is ``max(rle(x)$lengths)`` per
  row, ``careless::irv`` is ``apply(x, 1, sd, na.rm = TRUE)``, ``careless::mahad`` calls
  ``psych::outlier``; ``careless::evenodd`` is copied below, without the sign flip of careless >= 1.2.0);
- scipy: ``scipy.spatial.distance.mahalanobis`` and ``scipy.stats.chi2``;
- an exact identity: the in-sample squared Mahalanobis distances sum to ``(n - 1) p``.

Tolerances: integer indices exactly (``rtol=0``); floating-point ones ``rtol=1e-10`` against numpy/scipy
and ``rtol=1e-8`` against R (17 significant digits through CSV and JSON).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis

from pipeline.careless import even_odd, irv, longstring, mahalanobis
from pipeline.errors import InputError
from tests.r_reference import run_r

R_TOL = 1e-8


def frame(rows: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame(np.array(rows, dtype=float), columns=[f"i{j + 1}" for j in range(len(rows[0]))])


def random_codes(seed: int, n: int = 60, k: int = 12, *, missing: float = 0.05) -> pd.DataFrame:
    """Answers on 1..5 with runs (a respondent repeats the previous answer with probability 0.4)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 6, size=(n, k)).astype(float)
    repeat = rng.random((n, k)) < 0.4
    for j in range(1, k):
        x[repeat[:, j], j] = x[repeat[:, j], j - 1]
    x[rng.random((n, k)) < missing] = np.nan
    x[:, 0] = np.where(np.isnan(x).all(axis=1), 3.0, x[:, 0])  # every row has an answer
    return pd.DataFrame(x, columns=[f"i{j + 1}" for j in range(k)])


# ------------------------------------------------------------------------------------ longstring


def test_longstring_hand_worked() -> None:
    data = frame([[1, 1, 1, 2, 2, 3], [4, 4, 4, 4, 4, 4], [1, np.nan, 1, 1, 2, 5], [1, 2, 3, 4, 5, 1]])
    assert_allclose(longstring(data), [3, 6, 2, 1], rtol=0)
    assert_allclose(longstring(frame([[np.nan, np.nan]])), [0], rtol=0)  # nothing answered


def test_longstring_matches_r_rle() -> None:
    # R: careless::longstring(x) computes, per row, max(rle(x[i, ])$lengths); an NA is a run of its own
    data = random_codes(11)
    out = run_r("out$ls <- apply(as.matrix(d), 1, function(r) max(rle(r)$lengths))", data, packages=("jsonlite",))
    assert_allclose(longstring(data), out["ls"], rtol=0)


# ------------------------------------------------------------------------------------------- irv


def test_irv_hand_worked() -> None:
    data = frame(
        [[1, 2, 3, 4, 5], [3, 3, 3, 3, 3], [1, np.nan, 5, np.nan, np.nan], [2, np.nan, np.nan, np.nan, np.nan]]
    )
    assert_allclose(irv(data).iloc[:3], [np.sqrt(2.5), 0.0, np.sqrt(8.0)], rtol=1e-12)
    assert np.isnan(irv(data).iloc[3])  # one answer: no SD


def test_irv_matches_r_sd_and_numpy() -> None:
    # R: careless::irv(x) is apply(x, 1, sd, na.rm = TRUE)
    data = random_codes(12)
    out = run_r("out$irv <- apply(as.matrix(d), 1, sd, na.rm = TRUE)", data, packages=("jsonlite",))
    assert_allclose(irv(data), out["irv"], rtol=R_TOL)
    assert_allclose(irv(data), np.nanstd(data.to_numpy(), axis=1, ddof=1), rtol=1e-10)


# ----------------------------------------------------------------------------------- mahalanobis


def correlated(seed: int, n: int = 200, k: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(n, 1))
    x = np.rint(3 + factor + rng.normal(scale=0.8, size=(n, k))).clip(1, 5)
    return pd.DataFrame(x, columns=[f"i{j + 1}" for j in range(k)])


def test_mahalanobis_matches_scipy_and_chi2() -> None:
    data = correlated(3)
    res = mahalanobis(data)
    x = data.to_numpy()
    inverse = np.linalg.inv(np.cov(x, rowvar=False))
    expected = np.array([scipy_mahalanobis(row, x.mean(axis=0), inverse) ** 2 for row in x])
    assert_allclose(res["mahalanobis_d2"], expected, rtol=1e-10)
    assert_allclose(res["mahalanobis_p"], stats.chi2.sf(expected, df=6), rtol=1e-10)
    assert (res["mahalanobis_df"] == 6).all()


def test_mahalanobis_in_sample_sum_is_n_minus_1_times_p() -> None:
    # sum_i D2_i = trace(S^-1 sum_i (x_i - xbar)(x_i - xbar)') = trace(S^-1 (n - 1) S) = (n - 1) p
    data = correlated(4, n=150, k=8)
    assert_allclose(mahalanobis(data)["mahalanobis_d2"].sum(), 149 * 8, rtol=1e-10)


def test_mahalanobis_matches_psych_outlier() -> None:
    # R: careless::mahad(x) calls psych::outlier(x, plot = FALSE, bad = 0); on complete data it is
    #    stats::mahalanobis(x, colMeans(x), cov(x)); p from pchisq(d2, ncol(x), lower.tail = FALSE)
    data = correlated(5)
    script = """
    x <- as.matrix(d)
    out$psych <- as.numeric(psych::outlier(x, plot = FALSE, bad = 0))
    out$stats <- stats::mahalanobis(x, colMeans(x), cov(x))
    out$p <- pchisq(out$stats, ncol(x), lower.tail = FALSE)
    """
    out = run_r(script, data, packages=("psych", "jsonlite"))
    res = mahalanobis(data)
    assert_allclose(res["mahalanobis_d2"], out["psych"], rtol=R_TOL)
    assert_allclose(res["mahalanobis_d2"], out["stats"], rtol=R_TOL)
    assert_allclose(res["mahalanobis_p"], out["p"], rtol=R_TOL)


def test_mahalanobis_complete_cases_only() -> None:
    data = correlated(6)
    data.iloc[[0, 5], 2] = np.nan
    res = mahalanobis(data)
    assert res["mahalanobis_d2"].iloc[[0, 5]].isna().all()
    complete = mahalanobis(data.drop(index=[0, 5]))
    assert_allclose(res["mahalanobis_d2"].drop(index=[0, 5]), complete["mahalanobis_d2"], rtol=1e-12)


def test_mahalanobis_singular_covariance_uses_rank() -> None:
    # a duplicated item adds no information: the distance equals that without it, df = rank
    data = correlated(7)
    doubled = data.assign(i7=data["i1"])
    res = mahalanobis(doubled)
    assert_allclose(res["mahalanobis_d2"], mahalanobis(data)["mahalanobis_d2"], rtol=1e-8)
    assert (res["mahalanobis_df"] == 6).all()


def test_mahalanobis_too_few_responses() -> None:
    assert mahalanobis(correlated(8, n=6, k=6))["mahalanobis_d2"].isna().all()


# -------------------------------------------------------------------------------------- even-odd


SCALES4 = [["a1", "a2"], ["b1", "b2"], ["c1", "c2"], ["d1", "d2"]]


def test_even_odd_hand_worked() -> None:
    # odd halves (1, 2, 3, 4), even halves (1, 3, 2, 4): r = 4 / 5 = 0.8, 2r/(1+r) = 1.6/1.8
    # odd (1, 2, 3, 4), even (4, 3, 2, 1): r = -1, corrected to -1 (floor)
    # odd (1, 2, 3, 4), even (3, 1, 2, 2.5): r = -0.0502..., so -0.1057...
    data = pd.DataFrame(
        [[1, 1, 2, 3, 3, 2, 4, 4], [1, 4, 2, 3, 3, 2, 4, 1], [1, 3, 2, 1, 3, 2, 4, 2.5]],
        columns=[i for s in SCALES4 for i in s],
        dtype=float,
    )
    r3 = np.corrcoef([1, 2, 3, 4], [3, 1, 2, 2.5])[0, 1]
    assert_allclose(even_odd(data, SCALES4), [1.6 / 1.8, -1.0, 2 * r3 / (1 + r3)], rtol=1e-12)


def test_even_odd_odd_items_are_first_third_fifth() -> None:
    # three-item scales: odd half = items 1 and 3, even half = item 2
    scales = [["a1", "a2", "a3"], ["b1", "b2", "b3"], ["c1", "c2", "c3"]]
    data = pd.DataFrame([[1, 2, 3, 3, 3, 5, 5, 5, 3]], columns=[i for s in scales for i in s], dtype=float)
    odd, even = [2.0, 4.0, 4.0], [2.0, 3.0, 5.0]
    r = np.corrcoef(odd, even)[0, 1]
    assert_allclose(even_odd(data, scales), [2 * r / (1 + r)], rtol=1e-12)


def test_even_odd_matches_careless_formula_in_r() -> None:
    # R: careless::evenodd(x, factors) (cran/careless R/evenodd.R), per person: f[j, 1] = mean of the
    #    even items, f[j, 2] = mean of the odd items of factor j (na.rm = TRUE); r = cor(f[, 1], f[, 2],
    #    use = "pairwise.complete.obs"); (2 r)/(1 + r), floored at -1. careless >= 1.2.0 returns its negative.
    factors = [4, 3, 5, 2, 4, 6]
    rng = np.random.default_rng(21)
    n, k = 80, sum(factors)
    trait = rng.normal(size=(n, len(factors)))
    x = np.rint(3 + np.repeat(trait, factors, axis=1) + rng.normal(scale=1.0, size=(n, k))).clip(1, 5)
    x[rng.random((n, k)) < 0.05] = np.nan
    x[:5] = rng.integers(1, 6, size=(5, k))  # a few random responders
    columns = [f"x{j + 1}" for j in range(k)]
    data = pd.DataFrame(x, columns=columns)
    bounds = np.cumsum([0, *factors])
    scales = [columns[bounds[j] : bounds[j + 1]] for j in range(len(factors))]
    script = f"""
    factors <- c({", ".join(map(str, factors))})
    x <- as.matrix(d)
    out$eo <- sapply(seq_len(nrow(x)), function(i) {{
      f <- matrix(NA, length(factors), 2); start <- 1
      for (j in seq_along(factors)) {{
        if (j > 1) start <- start + factors[j - 1]
        s <- x[i, start:(start + factors[j] - 1)]
        ind <- seq_along(s)
        f[j, 1] <- mean(s[ind %% 2 == 0], na.rm = TRUE); f[j, 2] <- mean(s[ind %% 2 == 1], na.rm = TRUE)
      }}
      v <- suppressWarnings(stats::cor(f[, 1], f[, 2], use = "pairwise.complete.obs"))
      v <- (2 * v) / (1 + v); if (!is.na(v) && v < -1) v <- -1
      v
    }})
    """
    out = run_r(script, data, packages=("jsonlite",))
    expected = np.array([np.nan if v is None else v for v in out["eo"]], dtype=float)
    assert_allclose(even_odd(data, scales), expected, rtol=R_TOL)


def test_even_odd_needs_three_scales() -> None:
    data = pd.DataFrame([[1, 2, 3, 4, 5, 5]], columns=["a1", "a2", "b1", "b2", "c1", "c2"], dtype=float)
    assert np.isnan(even_odd(data, [["a1", "a2"], ["b1", "b2"]]).iloc[0])
    # a one-item scale has no even half and does not count
    assert np.isnan(even_odd(data, [["a1", "a2"], ["b1", "b2"], ["c1"]]).iloc[0])
    # a half left unanswered removes that scale for that response
    data.loc[0, "c2"] = np.nan
    assert np.isnan(even_odd(data, [["a1", "a2"], ["b1", "b2"], ["c1", "c2"]]).iloc[0])


def test_even_odd_halves_equal_up_to_rounding_have_no_value() -> None:
    # odd half-means (0.1 + 0.2)/2 = 0.15000000000000002, 0.15, 0.15: no variance but for rounding,
    # so no correlation (R's cor would return a meaningless +-1 from the rounding residue)
    scales = [["a1", "a2", "a3"], ["b1", "b2"], ["c1", "c2"]]
    data = pd.DataFrame([[0.1, 0.2, 0.2, 0.15, 0.5, 0.15, 0.9]], columns=[i for s in scales for i in s])
    assert np.isnan(even_odd(data, scales).iloc[0])


def test_even_odd_invariant_to_one_rescaling_of_all_items() -> None:
    # the screen rescales items to proportions of their range: where all share one range this is one
    # affine map of every half-mean, under which the correlation does not change
    data = random_codes(13, k=12)
    scales = [["i1", "i2", "i3"], ["i4", "i5", "i6"], ["i7", "i8", "i9"], ["i10", "i11", "i12"]]
    assert_allclose(even_odd((data - 1) / 4, scales), even_odd(data, scales), rtol=1e-10, equal_nan=True)


def test_input_errors_name_the_rule() -> None:
    data = frame([[1, 2, 3, 4, 5, 6]])
    with pytest.raises(InputError, match="not columns"):
        even_odd(data, [["i1", "i2"], ["i3", "i4"], ["i5", "zz"]])
    with pytest.raises(InputError, match="min_scales"):
        even_odd(data, [["i1", "i2"], ["i3", "i4"], ["i5", "i6"]], min_scales=2)
    with pytest.raises(InputError, match="numeric"):
        irv(pd.DataFrame({"a": ["x", "y"], "b": ["1", "z"]}))
    with pytest.raises(InputError, match="DataFrame"):
        longstring(np.zeros((2, 2)))  # type: ignore[arg-type]
