"""Reliability: each statistic against the reference it must match, with the tolerance stated.

References
----------
* pingouin 0.7.0 docstring of ``cronbach_alpha`` (datasets ``cronbach_alpha`` and
  ``cronbach_wide_missing``) -- its interval is rounded to 3 decimals, hence ``atol=5e-4``.
* R psych 2.2.9, ``psych::alpha`` (raw_alpha, Feldt interval, ``item.stats$r.drop``,
  ``alpha.drop$raw_alpha``): numbers embedded below with the R call that produced them (printed
  to 15 significant digits, hence ``rtol=1e-12``), and ``psych::fa(fm = "ml")`` /
  ``psych::omega`` run live through ``tests/r_reference.py`` when R with psych is installed
  (else skipped with the reason).
* Hand computation (arithmetic in the comments) and simulated truth (population omega of a
  congeneric model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from numpy.testing import assert_allclose

from analyses.reliability import (
    _feldt_interval,
    cronbach_alpha,
    item_rest_correlations,
    mcdonald_omega,
    reliability_table,
)
from tests.r_reference import run_r

# ----------------------------------------------------------------------------- data sets


@pytest.fixture(scope="module")
def likert_wide() -> pd.DataFrame:
    """pingouin's ``cronbach_alpha`` data set (15 subjects x 10 Likert items), wide."""
    long = pg.read_dataset("cronbach_alpha")
    return long.pivot(index="Subj", columns="Items", values="Scores")


def congeneric(n: int, *, seed: int) -> tuple[pd.DataFrame, float]:
    """Congeneric items with known loadings, uniquenesses, SDs; returns data and population omega.

    x_i = mu_i + lambda_i F + e_i with F ~ N(0, 1), e_i ~ N(0, psi_i): the raw-sum omega is
    (sum lambda)^2 / ((sum lambda)^2 + sum psi) exactly.
    """
    lam = np.array([0.9, 1.2, 0.5, 0.8, 1.5, 0.6])
    psi = np.array([0.8, 1.0, 0.6, 1.1, 1.4, 0.9])
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(n, 1))
    x = 3 + factor * lam + rng.normal(size=(n, len(lam))) * np.sqrt(psi)
    omega = lam.sum() ** 2 / (lam.sum() ** 2 + psi.sum())
    return pd.DataFrame(x, columns=[f"i{j}" for j in range(1, 7)]), float(omega)


# ----------------------------------------------------------------------------- alpha


def test_alpha_matches_pingouin_docs_and_psych(likert_wide):
    res = cronbach_alpha(likert_wide, items=list(likert_wide.columns))
    assert list(res.columns) == ["alpha", "ci95_low", "ci95_high", "n", "k"]
    row = res.iloc[0]
    # pingouin docstring: pg.cronbach_alpha(data, items="Items", scores="Scores", subject="Subj")
    # -> (0.5917188485995826, array([0.195, 0.84 ]))  (interval rounded to 3 decimals)
    assert_allclose(row["alpha"], 0.5917188485995826, rtol=1e-12)
    assert_allclose([row["ci95_low"], row["ci95_high"]], [0.195, 0.84], atol=5e-4)
    # R: a <- psych::alpha(x); a$total$raw_alpha; unlist(a$feldt)
    # -> 0.591718848599583; lower 0.194921390663122, upper 0.839820814627543
    assert_allclose(row["alpha"], 0.591718848599583, rtol=1e-12)
    assert_allclose([row["ci95_low"], row["ci95_high"]], [0.194921390663122, 0.839820814627543], rtol=1e-12)
    assert (row["n"], row["k"]) == (15, 10)


def test_alpha_hand_computed():
    # a = 1 2 3 4 5 (var 2.5), b = 2 2 3 5 4 (var 1.7), c = 1 3 2 5 5 (var 3.2);
    # X = a + b + c = 4 7 8 14 14 (var 79.2 / 4 = 19.8)
    # alpha = 3/2 * (1 - 7.4 / 19.8) = 18.6 / 19.8 = 31/33
    x = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 5, 4], "c": [1, 3, 2, 5, 5]})
    assert_allclose(cronbach_alpha(x, items=["a", "b", "c"])["alpha"].iloc[0], 31 / 33, rtol=1e-12)


def test_alpha_listwise_uses_complete_rows_for_the_interval_too():
    data = pg.read_dataset("cronbach_wide_missing")  # 12 rows, 9 complete, 11 binary items
    items = list(data.columns)
    row = cronbach_alpha(data, items=items).iloc[0]
    # pingouin docstring: pg.cronbach_alpha(data, nan_policy="listwise") -> 0.8016949152542373;
    # R: psych::alpha(data, use = "complete.obs")$total$raw_alpha -> 0.801694915254237
    assert_allclose(row["alpha"], 0.8016949152542373, rtol=1e-12)
    assert row["n"] == 9
    # Our interval uses the 9 complete rows: the same as pingouin on the complete rows.
    _, ci_complete = pg.cronbach_alpha(data.dropna())  # [0.533, 0.947], rounded
    assert_allclose([row["ci95_low"], row["ci95_high"]], ci_complete, atol=5e-4)
    # pingouin's listwise docstring interval [0.581, 0.933] and psych's Feldt interval
    # (R: unlist(psych::alpha(data, use = "complete.obs")$feldt) -> 0.581128304017143,
    # 0.932767816509901) use n = 12, all rows: the formula reproduces them with n = 12.
    assert_allclose(_feldt_interval(row["alpha"], 12, 11, 0.95), [0.581128304017143, 0.932767816509901], rtol=1e-12)
    assert_allclose(_feldt_interval(row["alpha"], 12, 11, 0.95), [0.581, 0.933], atol=5e-4)


def test_alpha_other_confidence_level_names_columns(likert_wide):
    res = cronbach_alpha(likert_wide, items=list(likert_wide.columns), ci=0.9)
    assert {"ci90_low", "ci90_high"} <= set(res.columns)
    _, ci90 = pg.cronbach_alpha(likert_wide, ci=0.9)
    assert_allclose(res[["ci90_low", "ci90_high"]].iloc[0], ci90, atol=5e-4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"items": ["Q1", "nope"]}, "not in data"),
        ({"items": ["Q1"]}, "at least 2 items"),
        ({"items": "Q1"}, "list of column names"),
        ({"items": ["Q1", "Q2"], "ci": 95}, "between 0 and 1"),
    ],
)
def test_alpha_rejects_bad_input(likert_wide, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cronbach_alpha(likert_wide, **kwargs)


def test_alpha_rejects_too_few_complete_rows():
    x = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [2.0, 2.0, np.nan]})
    with pytest.raises(ValueError, match="1 complete row"):
        cronbach_alpha(x, items=["a", "b"])


def test_alpha_rejects_text_items():
    x = pd.DataFrame({"a": ["1", "2", "3"], "b": [1, 2, 3]})
    with pytest.raises(ValueError, match="not numeric"):
        cronbach_alpha(x, items=["a", "b"])


# ----------------------------------------------------------------------------- item-rest


def test_item_rest_matches_psych_r_drop(likert_wide):
    res = item_rest_correlations(likert_wide, items=list(likert_wide.columns))
    assert list(res.columns) == ["item", "r_item_rest", "alpha_if_dropped", "n"]
    # R: a <- psych::alpha(x); a$item.stats$r.drop; a$alpha.drop$raw_alpha
    # (x = the pingouin data set in wide form, columns Q1, Q10, Q2, ..., Q9)
    names = ["Q1", "Q10", "Q2", "Q3", "Q4", "Q5", "Q6", "Q7", "Q8", "Q9"]
    r_drop = [0.5747667919844912, 0.4336883559648060, 0.5678028417673683, 0.5213910754208803, 0.4176058241286149,
              -0.1075830824925742, -0.1572365196566517, 0.2610077350423378, 0.0921732028231857, 0.4433727459958403]  # fmt: skip
    alpha_drop = [0.468690324633991, 0.522590782122905, 0.507280557834290, 0.518349852665416, 0.531829170024174,
                  0.668489065606362, 0.671141479099679, 0.568506332257264, 0.610119047619048, 0.519425675675676]  # fmt: skip
    got = res.set_index("item").loc[names]
    assert_allclose(got["r_item_rest"], r_drop, rtol=1e-12)
    assert_allclose(got["alpha_if_dropped"], alpha_drop, rtol=1e-12)


def test_item_rest_hand_computed():
    # rest of a = b + c = 3 5 5 10 9 (mean 6.4, deviations -3.4 -1.4 -1.4 3.6 2.6, SS 35.2);
    # a has deviations -2 -1 0 1 2 (SS 10); cross-products 6.8 + 1.4 + 0 + 3.6 + 5.2 = 17;
    # r(a, rest) = 17 / sqrt(10 * 35.2) = 0.906103...
    x = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 5, 4], "c": [1, 3, 2, 5, 5]})
    res = item_rest_correlations(x, items=["a", "b", "c"])
    assert_allclose(res["r_item_rest"].iloc[0], 17 / np.sqrt(10 * 35.2), rtol=1e-12)
    assert res["item"].tolist() == ["a", "b", "c"]


def test_item_rest_constant_item_is_nan():
    x = pd.DataFrame({"a": [1, 2, 3, 4], "b": [2, 2, 2, 2], "c": [1, 3, 2, 5]})
    res = item_rest_correlations(x, items=["a", "b", "c"]).set_index("item")
    assert np.isnan(res.loc["b", "r_item_rest"])
    assert np.isfinite(res.loc["a", "r_item_rest"])


# ----------------------------------------------------------------------------- omega


def test_omega_recovers_population_value_of_congeneric_model():
    # n = 100 000: the sampling SD of omega-hat is about 0.0008 here (40 replications at
    # n = 2000 gave SD 0.0056), so 0.005 is about 6 SDs; measured difference -0.00024.
    data, truth = congeneric(100_000, seed=20261101)
    res = mcdonald_omega(data, items=list(data.columns)).iloc[0]
    assert truth == pytest.approx(30.25 / 36.05, rel=1e-12)  # (sum lambda)^2 = 5.5^2, sum psi = 5.8
    assert abs(res["omega_total"] - truth) < 0.005
    assert res["srmr"] < 0.01  # the model is true
    assert not res["heywood_case"]
    assert res["converged"]


def test_omega_equals_alpha_for_parallel_items():
    # Parallel items (equal loadings and uniquenesses): omega = alpha in the population;
    # 4 items, lambda 1, psi 1: 16 / (16 + 4) = 0.8.
    rng = np.random.default_rng(7)
    f = rng.normal(size=(50_000, 1))
    x = pd.DataFrame(f + rng.normal(size=(50_000, 4)), columns=list("abcd"))
    om = mcdonald_omega(x, items=list("abcd"))["omega_total"].iloc[0]
    al = cronbach_alpha(x, items=list("abcd"))["alpha"].iloc[0]
    assert abs(om - 0.8) < 0.005
    assert abs(om - al) < 0.002


def test_omega_flags_heywood_case():
    # Three items with r_ab = r_ac = .8 and r_bc = .5: the just-identified one-factor model
    # needs lambda_a^2 = r_ab r_ac / r_bc = 1.28 > 1, so psi_a sits at its lower bound.
    corr = np.array([[1, 0.8, 0.8], [0.8, 1, 0.5], [0.8, 0.5, 1]])
    x = pd.DataFrame(np.random.default_rng(3).multivariate_normal(np.zeros(3), corr, size=500), columns=list("abc"))
    res = mcdonald_omega(x, items=["a", "b", "c"]).iloc[0]
    assert res["heywood_case"]


@pytest.mark.parametrize(
    ("frame", "items", "message"),
    [
        (pd.DataFrame({"a": [1.0, 2, 3, 4, 5], "b": [2.0, 1, 4, 3, 5]}), ["a", "b"], "at least 3 items"),
        (pd.DataFrame({"a": [1.0, 2, 3, 4, 5], "b": [2.0, 1, 4, 3, 5], "c": [1.0] * 5}), ["a", "b", "c"], "variance"),
        (pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [2.0, 1, 4, 3], "c": [1.0, 3, 2, 4]}), ["a", "b", "c"], "at least 5"),
    ],
)
def test_omega_rejects_unidentified_or_degenerate_input(frame, items, message):
    with pytest.raises(ValueError, match=message):
        mcdonald_omega(frame, items=items)


# --------------------------------------------------------------- against R psych, live


@pytest.fixture(scope="module")
def psych_reference():
    """One R run (tests/r_reference.py): psych::fa (ML), psych::omega and psych::alpha on seeded data."""
    data, _ = congeneric(400, seed=11)
    data = (data * 2).round() / 2  # half-point steps, like a rating scale
    data.iloc[[3, 17, 250], [1, 4, 0]] = np.nan  # three incomplete rows: listwise in both
    script = """
    x <- na.omit(d)
    f <- fa(x, nfactors = 1, fm = "ml")
    l <- f$loadings[, 1]; u <- f$uniquenesses; s <- apply(x, 2, sd)
    r <- cor(x) - l %*% t(l) - diag(u)
    om <- suppressWarnings(omega(x, nfactors = 1, plot = FALSE))
    a <- alpha(x, warnings = FALSE)
    out$omega_std <- sum(l)^2 / (sum(l)^2 + sum(u))
    out$omega_raw <- sum(l * s)^2 / (sum(l * s)^2 + sum(u * s^2))
    out$srmr <- sqrt(mean(r[lower.tri(r, diag = TRUE)]^2))
    out$omega_tot_psych <- om$omega.tot
    out$raw_alpha <- a$total$raw_alpha
    out$feldt <- unname(unlist(a$feldt)[c(1, 3)])
    out$r_drop <- unname(a$item.stats$r.drop)
    out$n <- nrow(x)
    """
    return data, run_r(script, data, packages=("psych", "GPArotation", "jsonlite"))


def test_omega_matches_psych_fa_ml(psych_reference):
    # R: f <- psych::fa(x, 1, fm = "ml"); l <- f$loadings[, 1]; u <- f$uniquenesses
    #    sum(l)^2 / (sum(l)^2 + sum(u))  (and with l * sd, u * sd^2 for the raw metric)
    # Same likelihood, different optimisers: rtol 1e-6 (measured 3e-8 or less).
    data, ref = psych_reference
    items = list(data.columns)
    raw = mcdonald_omega(data, items=items).iloc[0]
    std = mcdonald_omega(data, items=items, standardized=True).iloc[0]
    assert raw["n"] == ref["n"]
    assert_allclose(raw["omega_total"], ref["omega_raw"], rtol=1e-6)
    assert_allclose(std["omega_total"], ref["omega_std"], rtol=1e-6)
    assert_allclose(raw["srmr"], ref["srmr"], rtol=1e-5)


def test_omega_close_to_psych_omega_omega_tot(psych_reference):
    # R: psych::omega(x, nfactors = 1)$omega.tot -- minres fit and observed-variance
    # denominator (1 - sum(u2) / sum(R)) instead of our ML fit and model-implied denominator:
    # both estimate the same population value; on this well-fitting data they agree within
    # 0.002 (measured 4.9e-4).
    data, ref = psych_reference
    std = mcdonald_omega(data, items=list(data.columns), standardized=True)["omega_total"].iloc[0]
    assert abs(std - ref["omega_tot_psych"]) < 0.002


def test_alpha_and_item_rest_match_psych_live(psych_reference):
    # R: a <- psych::alpha(na.omit(x)); a$total$raw_alpha; a$feldt; a$item.stats$r.drop
    data, ref = psych_reference
    items = list(data.columns)
    row = cronbach_alpha(data, items=items).iloc[0]
    assert_allclose(row["alpha"], ref["raw_alpha"], rtol=1e-12)
    assert_allclose([row["ci95_low"], row["ci95_high"]], ref["feldt"], rtol=1e-10)
    assert_allclose(item_rest_correlations(data, items=items)["r_item_rest"], ref["r_drop"], rtol=1e-10)


# ----------------------------------------------------------------------------- table


@pytest.fixture(scope="module")
def item_wide() -> pd.DataFrame:
    """Two programmes x two waves of a 4-item scale, a 2-item scale and a noise scale; one tiny group."""
    rng = np.random.default_rng(42)
    frames = []
    for programme, wave, n in [("anios", "t0", 120), ("anios", "t1", 90), ("coschappen", "t0", 150)]:
        f = rng.normal(size=(n, 1))
        good = f + rng.normal(size=(n, 4)) * 0.8
        pair = f + rng.normal(size=(n, 2))
        noise = rng.normal(size=(n, 3))
        frame = pd.DataFrame(
            np.hstack([good, pair, noise]), columns=["g1", "g2", "g3", "g4", "p1", "p2", "z1", "z2", "z3"]
        )
        frame.insert(0, "wave", wave)
        frame.insert(0, "programme", programme)
        frames.append(frame)
    tiny = frames[-1].head(5).assign(wave="t1")  # 5 rows: fewer than k + 2 = 6 for the 4-item scale
    return pd.concat([*frames, tiny], ignore_index=True)


SCALES = {"good": ["g1", "g2", "g3", "g4"], "pair": ["p1", "p2"], "noise": ["z1", "z2", "z3"]}


def test_table_one_row_per_group_and_scale(item_wide):
    table = reliability_table(item_wide, scales=SCALES, by=["programme", "wave"])
    expected = [
        "programme", "wave", "scale", "n", "k", "alpha", "ci95_low", "ci95_high", "omega_total",
        "min_r_item_rest", "weakest_item", "flag_below_threshold", "note",
    ]  # fmt: skip
    assert list(table.columns) == expected
    assert len(table) == 4 * 3
    assert table["flag_below_threshold"].dtype == "boolean"
    # every estimate equals the single-statistic function on that group's rows
    group = item_wide[(item_wide["programme"] == "anios") & (item_wide["wave"] == "t1")]
    row = table.set_index(["programme", "wave", "scale"]).loc[("anios", "t1", "good")]
    alpha = cronbach_alpha(group, items=SCALES["good"]).iloc[0]
    assert_allclose(
        row[["alpha", "ci95_low", "ci95_high"]].astype(float),
        alpha[["alpha", "ci95_low", "ci95_high"]].astype(float),
        rtol=1e-12,
    )
    assert_allclose(row["omega_total"], mcdonald_omega(group, items=SCALES["good"])["omega_total"].iloc[0], rtol=1e-12)
    rest = item_rest_correlations(group, items=SCALES["good"])
    assert_allclose(row["min_r_item_rest"], rest["r_item_rest"].min(), rtol=1e-12)
    assert row["weakest_item"] == rest.loc[rest["r_item_rest"].idxmin(), "item"]


def test_table_flags_weak_scales_and_notes_small_groups(item_wide):
    table = reliability_table(item_wide, scales=SCALES, by=["programme", "wave"]).set_index(
        ["programme", "wave", "scale"]
    )
    assert not table.loc[("anios", "t0", "good"), "flag_below_threshold"]
    assert table.loc[("anios", "t0", "noise"), "flag_below_threshold"]
    tiny = table.loc[("coschappen", "t1", "good")]
    assert tiny["n"] == 5
    assert np.isnan(tiny["alpha"]) and np.isnan(tiny["omega_total"])
    assert pd.isna(tiny["flag_below_threshold"])
    assert "fewer than k + 2 = 6" in tiny["note"]
    # the 2-item scale of the same tiny group has 5 >= 4 rows: estimated
    assert np.isfinite(table.loc[("coschappen", "t1", "pair"), "alpha"])
    pair = table.loc[("anios", "t0", "pair")]
    assert np.isnan(pair["omega_total"]) and "at least 3 items" in pair["note"]
    assert pd.isna(table.loc[("anios", "t0", "good"), "note"])


def test_table_threshold_is_a_parameter(item_wide):
    strict = reliability_table(item_wide, scales={"good": SCALES["good"]}, by=[], threshold=0.99)
    assert len(strict) == 1 and "programme" not in strict.columns
    assert strict["flag_below_threshold"].iloc[0]


def test_table_notes_unreversed_item():
    rng = np.random.default_rng(5)
    f = rng.normal(size=200)
    x = pd.DataFrame({f"q{i}": f + rng.normal(size=200) for i in range(1, 5)})
    x["q4"] = -x["q4"]  # a reverse-keyed item left unreversed
    row = reliability_table(x, scales={"s": ["q1", "q2", "q3", "q4"]}).iloc[0]
    assert row["weakest_item"] == "q4"
    assert "reverse-keyed" in row["note"]


def test_table_rejects_missing_columns(item_wide):
    with pytest.raises(ValueError, match="not in item_wide"):
        reliability_table(item_wide, scales={"s": ["g1", "g2", "nope"]}, by=["programme"])
    with pytest.raises(ValueError, match="not in item_wide"):
        reliability_table(item_wide, scales=SCALES, by=["arm"])
