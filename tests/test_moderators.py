"""Moderator models against lme4/lmerTest, and the ranked summary's signs, classes and order.

References
----------
* R, run live through ``tests/r_reference.py`` (skipped with the reason where R is missing):
  ``summary(lmerTest::lmer(<formula the engine accepted>, data = d, control = ctl))`` with lme4
  run to convergence (as in ``tests/test_mixed.py``), compared term by term for every model
  :func:`analyses.moderators.fit_moderators` fits (joint and per factor): estimate, standard
  error, Satterthwaite df, p-value and the Wald t interval ``estimate +- qt(.975, df) * SE``
  -- ``rtol=1e-4`` (p-values with ``atol=1e-10`` as in ``tests/test_mixed.py``).
* The ranked summary is arithmetic on those estimates (sign flip for ``higher_worse`` scales,
  classification by the interval, order by |t|): checked on a hand-made table, ``atol=1e-12``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analyses.moderators import covariate_level, fit_moderators, moderator_formulas, rank_factors
from tests.r_reference import run_r

RTOL = 1e-4
P_ATOL = 1e-10
FIXED = "y ~ programme * (short + long)"
RANDOM = ["(1 + short | participant) + (1 | group)", "(1 | participant) + (1 | group)", "(1 | participant)"]
FACTORS = {"x": ["x_within", "x_between"], "size": ["size"]}


def simulate(seed: int, n_groups: int = 30, size: int = 6) -> pd.DataFrame:
    """Members in groups, waves at months 0, 3, 12, 24; a rated factor x moderates the short-term change."""
    rng = np.random.default_rng(seed)
    n = n_groups * size
    group = np.repeat(np.arange(n_groups), size)
    programme = np.where(np.arange(n_groups) % 3 == 0, "B", "A")[group]
    x_between = rng.normal(0, 1, n_groups)[group]
    x_within = rng.normal(0, 1, n)
    grp_size = rng.normal(0, 1, n_groups)[group]
    u_group = rng.normal(0, 0.3, n_groups)[group]
    u_person, u_slope = rng.normal(0, 0.6, n), rng.normal(0, 0.2, n)
    months = np.array([0.0, 3.0, 12.0, 24.0])
    pid = np.repeat(np.arange(n), len(months))
    m = np.tile(months, n)
    short, long = np.minimum(m, 3) / 3, np.maximum(m - 3, 0) / 12
    y = (
        3.5
        + 0.2 * (programme[pid] == "B")
        + short * (0.1 + 0.15 * x_between[pid] + 0.05 * x_within[pid] + u_slope[pid])
        + long * 0.05
        + 0.1 * x_between[pid]
        + u_group[pid]
        + u_person[pid]
        + rng.normal(0, 0.4, len(pid))
    )
    data = pd.DataFrame(
        {
            "participant": [f"p{i:04d}" for i in pid],
            "group": [f"g{g:03d}" for g in group[pid]],
            "programme": pd.Categorical(programme[pid], categories=["A", "B"]),
            "wave": np.tile(["t0", "t1", "t2", "t3"], n),
            "short": short,
            "long": long,
            "y": y,
            "x_within": x_within[pid],
            "x_between": x_between[pid],
            "size": grp_size[pid],
        }
    )
    keep = (m == 0) | (rng.random(len(data)) > 0.15)
    return data.loc[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return simulate(20261123)


@pytest.fixture(scope="module")
def fitted(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return fit_moderators(data, outcome="y", fixed=FIXED, random=RANDOM, factors=FACTORS, baseline="t0")


R_SCRIPT = """
ctl <- lmerControl(optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-12, xtol_rel = 1e-12, maxeval = 1e5))
d$programme <- factor(d$programme, levels = c("A", "B"))
for (f in formulas) {
  m <- lmer(as.formula(f), data = d, REML = TRUE, control = ctl)
  s <- coef(summary(m))
  df <- s[, "df"]
  out[[f]] <- list(term = rownames(s), estimate = unname(s[, "Estimate"]), se = unname(s[, "Std. Error"]),
                   df = unname(df), p = unname(s[, "Pr(>|t|)"]),
                   low = unname(s[, "Estimate"] - qt(0.975, df) * s[, "Std. Error"]),
                   high = unname(s[, "Estimate"] + qt(0.975, df) * s[, "Std. Error"]))
}
"""


def test_moderator_models_match_lmertest(data: pd.DataFrame, fitted: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    effects, structures = fitted
    formulas = sorted(structures.loc[structures["status"] == "accepted", "formula"])
    assert len(formulas) == 3  # joint, x, size
    script = "formulas <- c(" + ", ".join(f'"{f}"' for f in formulas) + ")\n" + R_SCRIPT
    out = run_r(script, data)
    compared = 0
    for formula in formulas:
        ref = pd.DataFrame(out[formula]).set_index("term")
        mine = effects[effects["structure"] == formula].set_index("term")
        ref = ref.loc[mine.index]
        assert_allclose(mine["estimate"], ref["estimate"], rtol=RTOL)
        assert_allclose(mine["std_error"], ref["se"], rtol=RTOL)
        assert_allclose(mine["df"], ref["df"], rtol=RTOL)
        assert_allclose(mine["p_val"], ref["p"], rtol=RTOL, atol=P_ATOL)
        assert_allclose(mine[["ci95_low", "ci95_high"]].to_numpy(), ref[["low", "high"]].to_numpy(), rtol=RTOL)
        compared += len(mine)
    assert compared == 3 * (3 + 2 + 1)  # joint (3 covariates), x (2), size (1); each at baseline, short, long


def test_every_covariate_has_three_rows_per_model(fitted: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    effects, _ = fitted
    counts = effects.groupby(["model", "covariate"]).size()
    assert set(counts) == {3}
    assert set(effects["model"]) == {"joint", "x", "size"}
    assert set(effects["slope"]) == {"baseline", "short", "long"}
    short = effects[(effects["model"] == "x") & (effects["slope"] == "short")].set_index("covariate")
    assert short.loc["x_between", "term"] == "short:x_between"
    # standardised columns divide by the SD of the baseline scores of the rows used
    assert_allclose(effects["std_estimate"], effects["estimate"] / effects["sd_baseline"], rtol=1e-12)


def test_simulated_moderation_is_recovered(fitted: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    # true short-term moderation: x_between 0.15, x_within 0.05, size 0
    effects, _ = fitted
    short = effects[(effects["model"] == "joint") & (effects["slope"] == "short")].set_index("covariate")
    for covariate, truth in {"x_between": 0.15, "x_within": 0.05, "size": 0.0}.items():
        assert short.loc[covariate, "ci95_low"] <= truth <= short.loc[covariate, "ci95_high"], covariate


def test_formulas_and_levels() -> None:
    assert moderator_formulas(FIXED, ["a", "b"], ["(1 | g)"]) == ["y ~ programme * (short + long) + (a + b) * (short + long) + (1 | g)"]
    assert covariate_level("coach_quality_within") == ("coach_quality", "within")
    assert covariate_level("structure_between_sq") == ("structure_quadratic", "between")
    assert covariate_level("dose_between") == ("dose", "between")
    assert covariate_level("online") == ("online", "between")


def test_rank_factors_signs_classifies_and_orders() -> None:
    rows = [
        # outcome, covariate, estimate, se, low, high, p
        ("brs", "coach_quality_between", 0.10, 0.04, 0.02, 0.18, 0.01),
        ("brs", "online", -0.10, 0.02, -0.14, -0.06, 0.001),
        ("brs", "group_size", 0.01, 0.05, -0.09, 0.11, 0.8),
        ("cbi_work", "coach_quality_between", -2.0, 0.5, -3.0, -1.0, 0.001),
        ("cbi_work", "structure_between_sq", 1.0, 0.8, -0.6, 2.6, 0.2),
    ]
    effects = pd.DataFrame(rows, columns=["outcome", "covariate", "estimate", "std_error", "ci95_low", "ci95_high", "p_val"])
    levels = [covariate_level(c) for c in effects["covariate"]]
    effects = effects.assign(
        model="joint", slope="short", factor=[f for f, _ in levels], level=[lv for _, lv in levels]
    )
    extra = effects.iloc[[0]].assign(model="coach_quality")  # other models are not ranked
    ranked = rank_factors(
        pd.concat([effects, extra]),
        directions={"brs": "higher_better", "cbi_work": "higher_worse"},
        outcome_names={"brs": "resilience", "cbi_work": "work-related burnout"},
    )
    assert ranked["outcome"].tolist() == ["brs", "brs", "brs", "cbi_work", "cbi_work"]
    assert ranked["covariate"].tolist() == [
        "online", "coach_quality_between", "group_size", "coach_quality_between", "structure_between_sq"
    ]  # fmt: skip  # |t| 5, 2.5, 0.2; 4, 1.25
    assert ranked["rank"].tolist() == [1, 2, 3, 1, 2]
    # burnout is higher_worse: -2 [-3, -1] becomes +2 [1, 3]; 1 [-.6, 2.6] becomes -1 [-2.6, .6]
    assert_allclose(ranked["effect"], [-0.10, 0.10, 0.01, 2.0, -1.0], rtol=0, atol=1e-12)
    assert_allclose(ranked["ci_low"], [-0.14, 0.02, -0.09, 1.0, -2.6], rtol=0, atol=1e-12)
    assert_allclose(ranked["ci_high"], [-0.06, 0.18, 0.11, 3.0, 0.6], rtol=0, atol=1e-12)
    assert ranked["direction"].tolist() == ["hindering", "promoting", "unclear", "promoting", "unclear"]
    assert ranked.loc[3, "label"] == "coach quality (groups where it is higher) reduces work-related burnout"
    assert ranked.loc[0, "label"] == "meeting online (rather than in person) hinders resilience"


def test_rank_factors_needs_a_direction_for_every_outcome() -> None:
    effects = pd.DataFrame(
        {"outcome": ["x"], "covariate": ["online"], "estimate": [1.0], "std_error": [1.0], "ci95_low": [0.0],
         "ci95_high": [2.0], "p_val": [0.5], "model": ["joint"], "slope": ["short"], "factor": ["online"],
         "level": ["between"]}
    )  # fmt: skip
    with pytest.raises(ValueError, match="no direction"):
        rank_factors(effects, directions={})
