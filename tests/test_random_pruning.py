"""The random-effects fallback removes only what is estimated at zero (analyses.random_pruning).

Known answer: a simulated two-arm study with a real random short-term slope (SD 0.5, residual SD
0.5) and no group variance at all.  The maximal structure ``(1 + short | participant) + (1 |
group)`` is singular (group variance 0); the fallback must drop the group intercept only and keep
the slope, and the SE and Satterthwaite df of ``short:armintervisie`` must then equal
``lmerTest::lmer`` with ``(1 + short | participant)`` (``rtol = 1e-4``, as the other lmer
comparisons of the growth model).  The list's next entry, ``(1 | participant) + (1 | group)``,
would have dropped the slope too and given a smaller SE with about twice the df.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analyses.growth import growth_data, growth_results
from analyses.mixed import MixedModel, NoAcceptableFitError
from analyses.random_pruning import RandomTerm, fit_pruned, next_structure, parse_random, render_random
from tests.r_reference import run_r

RANDOM = ["(1 + short | participant) + (1 | group)", "(1 | participant) + (1 | group)", "(1 | participant)"]
FIXED = "y ~ (short + long) * arm"
TERM = "short:armintervisie"


def simulate(seed: int, *, n: int = 200, slope_sd: float = 0.5, group_sd: float = 0.0) -> pd.DataFrame:
    """Wave scores (scale ``brs``) of ``n`` people, half in groups of six, with a random short-term slope."""
    rng = np.random.default_rng(seed)
    months = np.array([0.0, 3.0, 12.0, 24.0])
    short, long = np.minimum(months, 3) / 3, np.maximum(months - 3, 0) / 12
    arm = np.where(np.arange(n) < n // 2, "intervisie", "comparison")
    group = np.array([f"G{i // 6:03d}" if a == "intervisie" else None for i, a in enumerate(arm)], dtype=object)
    group_effect = {g: rng.normal(0, group_sd) if group_sd else 0.0 for g in sorted(set(group) - {None})}
    intercept, slope = rng.normal(0, 1, n), rng.normal(0, slope_sd, n)
    rows = []
    for i in range(n):
        shift = intercept[i] + (group_effect[group[i]] if group[i] else 0.0)
        for w, m in enumerate(months):
            y = shift + (0.1 + slope[i] + 0.3 * (arm[i] == "intervisie")) * short[w] + rng.normal(0, 0.5)
            rows.append({"participant": f"P{i:04d}", "group": group[i], "programme": ("b", "a")[i % 2],
                         "arm": arm[i], "wave": f"w{w}", "months": m, "scale": "brs", "score": y,
                         "short": short[w], "long": long[w]})  # fmt: skip
    return pd.DataFrame(rows)


def test_parse_and_render_random_parts() -> None:
    terms = parse_random("(1 + short | participant) + (1 | group)")
    assert terms == [RandomTerm("participant", ("(Intercept)", "short")), RandomTerm("group", ("(Intercept)",))]
    assert render_random(terms) == "(1 + short | participant) + (1 | group)"
    assert render_random(parse_random("(0+short|participant)")) == "(0 + short | participant)"
    assert render_random(parse_random("(1 + short || participant)")) == "(1 + short || participant)"
    assert render_random(parse_random("(1 | group/participant)")) == "(1 | group/participant)"


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    return simulate(2)


def test_zero_group_variance_drops_the_group_and_keeps_the_slope(study: pd.DataFrame) -> None:
    out = growth_results(study, scales=["brs"], fixed=FIXED, random=RANDOM, moderation=None,
                         waves={"w0": 0, "w1": 3, "w2": 12, "w3": 24}, baseline="w0", knot=3.0,
                         effect_terms=[TERM, "long:armintervisie"], programmes=["b", "a"])  # fmt: skip
    log = out["structures"]
    assert log.columns.tolist()[:6] == ["outcome", "step", "formula", "status", "reason", "action"]
    assert log["status"].tolist() == ["singular", "accepted", "not tried", "not tried"]
    assert log["action"].iloc[0].startswith("dropped group: (Intercept) (variance estimated at zero")
    assert log["formula"].iloc[1] == f"{FIXED} + (1 + short | participant)"
    effects = out["effects"].set_index("term")
    assert effects.loc[TERM, "structure"] == f"{FIXED} + (1 + short | participant)"
    slope = out["random_effects"].query("group == 'participant' and term == 'short' and term2.isna()")
    assert float(slope["sd"].iloc[0]) > 0.3  # the real slope (SD 0.5) is kept

    # R: the same structure in lmerTest, and the model the fixed list would have used
    data = growth_data(study, "brs", ["b", "a"])
    script = """
    m <- lmer(y ~ (short + long) * arm + (1 + short | participant), data = d, REML = TRUE)
    s <- summary(m)$coefficients
    out$se <- s["short:armintervisie", "Std. Error"]; out$df <- s["short:armintervisie", "df"]
    out$estimate <- s["short:armintervisie", "Estimate"]
    m0 <- lmer(y ~ (short + long) * arm + (1 | participant), data = d, REML = TRUE)
    out$lrt_p <- anova(m0, m, refit = FALSE)[2, "Pr(>Chisq)"]
    """
    ref = run_r(script, data[["y", "short", "long", "arm", "participant"]])
    assert_allclose(effects.loc[TERM, "estimate"], ref["estimate"], rtol=1e-4)
    assert_allclose(effects.loc[TERM, "std_error"], ref["se"], rtol=1e-4)
    assert_allclose(effects.loc[TERM, "df"], ref["df"], rtol=1e-4)
    assert ref["lrt_p"] < 1e-6  # the slope is real: dropping it is wrong
    # what the fixed list would have given: a smaller SE on about twice the df
    skipped = MixedModel(f"{FIXED} + (1 | participant) + (1 | group)").fit(data).fixed_.set_index("term")
    assert skipped.loc[TERM, "std_error"] < 0.95 * effects.loc[TERM, "std_error"]
    assert skipped.loc[TERM, "df"] > 1.5 * effects.loc[TERM, "df"]


def test_a_real_group_variance_is_kept() -> None:
    # no slope variance in truth; in this sample the slope sits at a correlation of 1 with the intercept
    data = growth_data(simulate(7, slope_sd=0.0, group_sd=0.6), "brs", ["b", "a"])
    model, log = fit_pruned(FIXED, RANDOM, data)
    assert log["status"].tolist() == ["singular", "singular", "accepted", "not tried"]
    assert log["action"].iloc[0] == "removed the correlations of participant's random effects (estimated at +-1)"
    assert log["formula"].iloc[1] == f"{FIXED} + (1 + short || participant) + (1 | group)"
    assert log["action"].iloc[1].startswith("dropped participant: short (variance estimated at zero")
    assert model.formula == f"{FIXED} + (1 | participant) + (1 | group)"  # the group stays
    assert any(m.startswith("random-effects structure simplified") for m in model.messages_)


def test_a_correlation_at_one_is_removed_not_the_slope() -> None:
    class Fake:
        singular_tol = 1e-4
        random_ = pd.DataFrame({"group": ["participant", "participant", "participant", "Residual"],
                                "term": ["(Intercept)", "short", "(Intercept)", None],
                                "term2": [None, None, "short", None], "sd": [1.0, 0.5, np.nan, 0.5],
                                "variance": [1.0, 0.25, 0.5, 0.25], "corr": [np.nan, np.nan, 1.0, np.nan]})  # fmt: skip

    import analyses.random_pruning as rp

    original = rp.theta_labels
    rp.theta_labels = lambda _r: (["participant: (Intercept)", "participant: short x (Intercept)",
                                   "participant: short"], np.array([True, False, True]))  # fmt: skip
    try:
        fake = Fake()
        fake.result_ = type("R", (), {"theta": np.array([2.0, 1.0, 0.0])})()
        terms, action = next_structure(parse_random("(1 + short | participant)"), fake, "singular")  # type: ignore[arg-type]
    finally:
        rp.theta_labels = original
    assert render_random(terms) == "(1 + short || participant)"
    assert "correlations" in action


def test_no_acceptable_structure_raises_with_the_log() -> None:
    data = growth_data(simulate(4, n=60), "brs", ["b", "a"])
    data["y"] = data["y"] * 0 + np.arange(len(data)) % 4  # no person variance: every structure is singular
    with pytest.raises(NoAcceptableFitError) as info:
        fit_pruned(FIXED, ["(1 | participant)"], data)
    assert info.value.log["status"].tolist() == ["singular"]
    with pytest.raises(ValueError, match="non-empty list"):
        fit_pruned(FIXED, [], data)
