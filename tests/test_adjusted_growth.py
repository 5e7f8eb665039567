"""The adjusted long-term effect (analyses.adjusted_growth) and its place in the growth stage.

Known answers:

(a) with a weight of one for everybody and no covariates, the adjusted model *is* the growth
    model: every number of the effect rows equals :func:`analyses.growth.growth_results`' to
    1e-10 (relative);
(b) the weighted model with covariate x time terms equals ``lmerTest::lmer(..., weights = w)``
    fitted by R on the same model frame (estimates, SEs, Satterthwaite df within 1e-6 relative),
    and the overlap weights equal those of R's ``glm(family = binomial)`` (1e-6);
(c) simulated truth: a baseline covariate drives both joining intervisie and the yearly slope
    after the short-term wave, and the true long-term arm effect is zero. Over 50 small studies
    the unadjusted ``long:armintervisie`` is biased (its mean lies many Monte-Carlo SEs from 0)
    and the adjusted one is not (within 3 Monte-Carlo SEs of 0).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analyses.adjusted_growth import (
    ADJUSTED_COLUMNS,
    adjusted_growth_effects,
    adjusted_growth_results,
    adjusted_model_frame,
    participant_weights,
)
from analyses.data import piecewise_time, wave_scores
from analyses.growth import growth_data, growth_results
from analyses.propensity import Covariate
from intervisie.stages.growth import run_growth
from pipeline.design import CovariateInfo
from tests.growth_designs import make_design, simulate, write_study
from tests.r_reference import run_r

ROOT = Path(__file__).parents[1]
RANDOM = ["(1 + short | participant) + (1 | group)", "(1 | participant) + (1 | group)", "(1 | participant)"]
DESIGNS = {
    "two programmes, three waves": {"waves": {"t0": 0, "t1": 3, "t2": 12}, "programmes": ["p1", "p2"]},
    "one programme, four waves": {"waves": {"w0": 0, "w1": 6, "w2": 12, "w3": 24}, "programmes": ["only"]},
}


def quiet(_message: str) -> None:
    return None


def study_scores(design_kwargs: dict, *, n: int = 80, seed: int = 3) -> tuple[pd.DataFrame, object]:
    design = make_design(**design_kwargs, comparison=True, primary=["brs"], secondary=["cbi_work"])
    tables = simulate(design, n=n, seed=seed)
    scores = wave_scores(tables["participants"], tables["responses"], tables["scale_scores"], knot=design.knot_months)
    return scores, design


@pytest.mark.parametrize("name", list(DESIGNS))
def test_unit_weights_without_covariates_are_the_growth_model(name: str) -> None:
    """(a) all weights 1, no covariates: the same rows as the unadjusted growth model (1e-10)."""
    scores, design = study_scores(DESIGNS[name])
    fixed, terms, baseline = design.growth_fixed(), design.effect_terms(), design.baseline
    plain = growth_results(scores, scales=["brs", "cbi_work"], fixed=fixed, random=RANDOM, moderation=None,
                           waves=design.wave_months, baseline=baseline, knot=design.knot_months, effect_terms=terms,
                           programmes=design.programme_ids)["effects"]  # fmt: skip
    for scale in ("brs", "cbi_work"):
        data = growth_data(scores, scale, design.programme_ids)
        ones = pd.Series(1.0, index=data["participant"].unique())
        ours = adjusted_growth_effects(data, [], ones, fixed=fixed, random=RANDOM, terms=terms, baseline=baseline,
                                       outcome=scale, estimand="none")  # fmt: skip
        theirs = plain[plain["outcome"] == scale].set_index("term").loc[terms].reset_index()
        assert list(ours["term"]) == terms and (ours["structure"] == theirs["structure"]).all()
        for column in ("estimate", "std_error", "df", "p_val", "ci95_low", "ci95_high", "std_estimate",
                       "std_ci95_low", "std_ci95_high", "sd_baseline", "n", "n_obs"):  # fmt: skip
            assert_allclose(ours[column].astype(float), theirs[column].astype(float), rtol=1e-10, err_msg=column)
        assert ours["adjusted"].all() and (ours["weights"] == "none").all() and (ours["note"] == "").all()
        assert list(ours.columns) == ADJUSTED_COLUMNS


def confounded_study(seed: int, *, n: int = 100, slope_x: float = 0.5, waves: tuple[float, ...] = (0, 3, 15)) -> pd.DataFrame:
    """Wave scores of one scale where ``x`` drives joining intervisie and the slope after the short-term wave.

    P(intervisie) = logistic(1.2 x); y = person + 0.4 x + (0.1 + 0.3 T) short + slope_x x long + e;
    the true long-term arm effect (``long:armintervisie``) is 0. Intervisie participants meet in
    groups of five (group SD 0.2); 10% of the later scores are missing.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    treated = rng.uniform(size=n) < 1 / (1 + np.exp(-1.2 * x))
    order = np.cumsum(treated) - 1
    group = np.where(treated, [f"G{k // 5:02d}" for k in order], None)
    group_effect = pd.Series(rng.normal(0, 0.2, n // 5 + 1), index=[f"G{k:02d}" for k in range(n // 5 + 1)])
    person = rng.normal(0, 0.8, n) + np.where(treated, group_effect.reindex(group).fillna(0).to_numpy(), 0.0)
    months = np.array(waves, dtype=float)
    short, long = piecewise_time(months, knot=months[1])
    rows = []
    for i in range(n):
        for w, m in enumerate(months):
            if w and rng.uniform() < 0.1:
                continue
            y = person[i] + 0.4 * x[i] + (0.1 + 0.3 * treated[i]) * short[w] + slope_x * x[i] * long[w]
            rows.append({"participant": f"P{i:03d}", "wave": f"t{w}", "scale": "s", "score": y + rng.normal(0, 0.5),
                         "months": m, "short": short[w], "long": long[w], "arm": "intervisie" if treated[i] else "comparison",
                         "programme": "p", "group": group[i], "x": x[i]})  # fmt: skip
    return pd.DataFrame(rows)


def fit_both(scores: pd.DataFrame, covariates: list[Covariate]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The unadjusted model (weights of one, no covariates: known answer (a)) and the adjusted one."""
    fixed, terms = "y ~ (short + long) * arm", ["short:armintervisie", "long:armintervisie"]
    random = ["(1 | participant) + (1 | group)", "(1 | participant)"]  # the simulation has no random slope
    data = growth_data(scores, "s").assign(x=scores["x"].to_numpy())
    ones = pd.Series(1.0, index=data["participant"].unique())
    plain = adjusted_growth_effects(data, [], ones, fixed=fixed, random=random, terms=terms, baseline="t0")
    weights = participant_weights(data, covariates, baseline="t0")
    adjusted = adjusted_growth_effects(data, covariates, weights, fixed=fixed, random=random, terms=terms,
                                       baseline="t0", outcome="s")  # fmt: skip
    return plain.set_index("term"), adjusted.set_index("term")


def test_adjusted_long_term_effect_is_unbiased_where_the_unadjusted_one_is_not() -> None:
    """(c) confounding by a baseline covariate: unadjusted biased, adjusted within Monte-Carlo error of 0."""
    start = time.perf_counter()
    covariates = [Covariate("x", "numeric")]
    plain, adjusted = [], []
    for seed in range(50):
        p, a = fit_both(confounded_study(1000 + seed), covariates)
        plain.append(p.loc["long:armintervisie", "estimate"])
        adjusted.append(a.loc["long:armintervisie", "estimate"])
    plain_a, adjusted_a = np.asarray(plain), np.asarray(adjusted)
    mc_plain = plain_a.std(ddof=1) / np.sqrt(len(plain_a))
    mc_adjusted = adjusted_a.std(ddof=1) / np.sqrt(len(adjusted_a))
    print(f"\nlong:armintervisie over {len(plain_a)} studies (truth 0): unadjusted mean {plain_a.mean():.4f} "
          f"(MC SE {mc_plain:.4f}), adjusted mean {adjusted_a.mean():.4f} (MC SE {mc_adjusted:.4f}); "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    assert np.isfinite(adjusted_a).all()
    assert plain_a.mean() > 6 * mc_plain  # the confounder raises the intervisie slope
    assert abs(adjusted_a.mean()) < 3 * mc_adjusted


@pytest.fixture(scope="module")
def covariate_case() -> dict:
    """A two-programme study with a numeric, a binary and a categorical covariate (some missing)."""
    scores, design = study_scores(DESIGNS["two programmes, three waves"], n=90, seed=8)
    rng = np.random.default_rng(4)
    people = sorted(scores["participant"].unique())
    treated = scores.drop_duplicates("participant").set_index("participant")["arm"].reindex(people) == "intervisie"
    wide = pd.DataFrame({
        "participant": people,
        "age": np.round(rng.normal(40, 8, len(people)) + 4 * treated.to_numpy(), 1),
        "prior": (rng.uniform(size=len(people)) < 0.3 + 0.2 * treated.to_numpy()).astype(float),
        "route": pd.array(rng.choice(["direct", "work", "gp"], len(people)), dtype="string"),
    })  # fmt: skip
    wide.loc[[2, 70, 80], "age"] = np.nan  # missing in both arms (else the indicator separates them)
    wide.loc[[5, 75, 85], "route"] = pd.NA
    covariates = [Covariate("age", "numeric"), Covariate("prior", "binary", ("false", "true")),
                  Covariate("route", "categorical", ("direct", "work", "gp"))]  # fmt: skip
    data = growth_data(scores, "brs", design.programme_ids).merge(wide, on="participant", how="left")
    weights = participant_weights(data, covariates, baseline=design.baseline)
    fixed, terms = design.growth_fixed(), design.effect_terms()
    effects = adjusted_growth_effects(data, covariates, weights, fixed=fixed, random=RANDOM, terms=terms,
                                      baseline=design.baseline, outcome="brs")  # fmt: skip
    frame, model_fixed, notes = adjusted_model_frame(data, covariates, weights.weights, fixed=fixed)
    return {"design": design, "data": data, "wide": wide, "covariates": covariates, "weights": weights,
            "effects": effects, "frame": frame, "fixed": model_fixed, "notes": notes, "scores": scores}  # fmt: skip


def test_weighted_fit_with_covariates_by_time_matches_lmer(covariate_case: dict) -> None:
    """(b) lmerTest on the same model frame and weights; R's glm for the propensity model (overlap weights)."""
    case = covariate_case
    effects, frame = case["effects"], case["frame"]
    structure = effects["structure"].iloc[0]
    for column in ("cov_age", "cov_age_missing", "cov_prior", "cov_route_work", "cov_route_gp", "cov_route_missing"):
        assert f"{column} * (short + long)" in case["fixed"]
    assert structure.startswith(case["fixed"] + " + ")
    base = case["data"][case["data"]["wave"] == case["design"].baseline].drop_duplicates("participant")
    base = base.assign(treated=(base["arm"] == "intervisie").astype(float), age_missing=base["age"].isna().astype(float),
                       route_missing=base["route"].isna().astype(float))  # fmt: skip
    base = base.assign(age=base["age"].fillna(base["age"].mean()), route=base["route"].fillna("direct"))
    script = f"""
ctl <- lmerControl(optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-12, xtol_rel = 1e-12, maxeval = 1e5))
m <- lmer({structure}, data = d, weights = w, control = ctl)
s <- coef(summary(m))
out$term <- rownames(s); out$estimate <- unname(s[, 1]); out$std_error <- unname(s[, 2]); out$df <- unname(s[, 3])
b$route_work <- as.numeric(b$route == "work"); b$route_gp <- as.numeric(b$route == "gp")
b$route_work[b$route_missing == 1] <- mean(b$route_work[b$route_missing == 0])
b$route_gp[b$route_missing == 1] <- mean(b$route_gp[b$route_missing == 0])
g <- glm(treated ~ y + programme + age + prior + route_work + route_gp + age_missing + route_missing,
         family = binomial, data = b, control = glm.control(epsilon = 1e-14, maxit = 100))
e <- fitted(g)
out$participant <- b$participant; out$ato <- ifelse(b$treated == 1, 1 - e, e)
"""
    r = run_r(script, {"d": frame, "b": base.reset_index(drop=True)})
    theirs = pd.DataFrame({"term": r["term"], "estimate": r["estimate"], "std_error": r["std_error"], "df": r["df"]})
    ours = effects.merge(theirs, on="term", suffixes=("", "_r"))
    assert len(ours) == 2
    for column in ("estimate", "std_error", "df"):
        assert_allclose(ours[column], ours[f"{column}_r"], rtol=1e-6, err_msg=column)
    ato = pd.Series(r["ato"], index=r["participant"])
    assert_allclose(case["weights"].weights.reindex(ato.index), ato, rtol=1e-6)


def test_overlap_weights_balance_the_adjustment_set_exactly(covariate_case: dict) -> None:
    weights = covariate_case["weights"]
    assert weights.estimand == "ato" and weights.converged
    balance = weights.balance
    assert {"baseline score", "programme: p2", "age", "age (missing)", "prior", "route: work", "route: gp"} <= set(
        balance["covariate"]
    )
    assert weights.max_abs_smd < 1e-6  # Li, Morgan & Zaslavsky 2018, Theorem 3
    row = covariate_case["effects"].iloc[0]
    assert row["balance_ok"] and row["weights"] == "ato" and row["covariates"] == "age, prior, route"
    assert 0 < row["ess_comparison"] < row["ess_intervisie"] <= 90
    assert row["evalue"] >= 1 and row["evalue_ci"] >= 1


def test_participants_without_a_baseline_score_are_left_out_and_counted(covariate_case: dict) -> None:
    case = covariate_case
    data = case["data"]
    gone = data.loc[data["wave"] == case["design"].baseline, "participant"].iloc[:3]
    later_only = data[~((data["wave"] == case["design"].baseline) & data["participant"].isin(gone))]
    weights = participant_weights(later_only, case["covariates"], baseline=case["design"].baseline)
    assert not set(gone) & set(weights.weights.index)
    effects = adjusted_growth_effects(later_only, case["covariates"], weights, fixed=case["design"].growth_fixed(),
                                      random=RANDOM, terms=case["design"].effect_terms(),
                                      baseline=case["design"].baseline)  # fmt: skip
    lost = later_only[later_only["participant"].isin(gone)]
    assert (effects["n"] == later_only["participant"].nunique() - 3).all()
    assert (effects["n_obs"] == len(later_only) - len(lost)).all()
    assert effects["note"].str.contains(f"3 participant(s) ({len(lost)} scores) without a weight", regex=False).all()


def test_an_outcome_that_cannot_be_fitted_is_a_row_of_nan_with_the_reason(covariate_case: dict) -> None:
    case = covariate_case
    design = case["design"]
    few = case["scores"][case["scores"]["participant"].isin(sorted(case["scores"]["participant"].unique())[60:66])]
    out = adjusted_growth_results(few, case["wide"], case["covariates"], scales=["brs"], fixed=design.growth_fixed(),
                                  random=RANDOM, terms=design.effect_terms(), baseline=design.baseline,
                                  programmes=design.programme_ids)  # fmt: skip
    effects, skipped = out["effects"], out["skipped"]
    assert list(effects.columns) == ADJUSTED_COLUMNS and len(effects) == 2
    assert effects["estimate"].isna().all() and (effects["note"] != "").all()
    assert set(skipped["analysis"]) == {"adjusted effect short:armintervisie", "adjusted effect long:armintervisie"}
    with pytest.raises(ValueError, match="lacks column"):
        adjusted_growth_results(few, case["wide"].drop(columns="age"), case["covariates"], scales=["brs"],
                                fixed=design.growth_fixed(), random=RANDOM, terms=design.effect_terms(),
                                baseline=design.baseline)  # fmt: skip


def _long_covariates(wide: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in wide.itertuples():
        rows.append({"participant": r.participant, "covariate": "age", "value": r.age, "level": pd.NA})
        rows.append({"participant": r.participant, "covariate": "route", "value": np.nan, "level": r.route})
    return pd.DataFrame(rows).astype({"participant": "string", "covariate": "string", "level": "string"})


@pytest.mark.parametrize("assignment", ["self_selected", "randomised"])
def test_the_growth_stage_writes_adjusted_effects_unless_randomised(
    covariate_case: dict, tmp_path: Path, assignment: str
) -> None:
    design = covariate_case["design"].model_copy(update={
        "assignment": assignment,
        "covariates": [CovariateInfo(id="age", label_nl="leeftijd", label_en="age", kind="numeric"),
                       CovariateInfo(id="route", label_nl="route", label_en="route", kind="categorical",
                                     levels=["direct", "work", "gp"])],
    })  # fmt: skip
    clean, params = write_study(tmp_path, design, simulate(design, n=60, seed=2))
    wide = pd.DataFrame({"participant": [f"P{i:04d}" for i in range(60)], "age": np.linspace(25, 60, 60),
                         "route": ["direct", "work", "gp"] * 20})  # fmt: skip
    _long_covariates(wide).to_parquet(clean / "covariates.parquet", index=False)
    run_growth(clean, ROOT / "instruments", params, tmp_path / "growth", quiet)
    adjusted = pd.read_csv(tmp_path / "growth" / "adjusted_effects.csv")
    skipped = pd.read_csv(tmp_path / "growth" / "skipped.csv")
    assert list(adjusted.columns) == ADJUSTED_COLUMNS
    if assignment == "randomised":
        assert adjusted.empty
        assert "randomised" in skipped.loc[skipped["analysis"] == "adjusted long-term effects", "reason"].iloc[0]
        return
    assert len(adjusted) == 2 * len(design.outcomes())
    assert adjusted["estimate"].notna().all() and (adjusted["covariates"] == "age, route").all()
    assert "adjusted long-term effects" not in set(skipped["analysis"])
    plain = pd.read_csv(tmp_path / "growth" / "effects.csv")
    assert set(adjusted["term"]) <= set(plain["term"])
    # the careless-responding sensitivity run compares the unadjusted effects only
    pd.DataFrame({"response_id": [0], "flagged": [True]}).to_parquet(clean / "careless.parquet", index=False)
    run_growth(clean, ROOT / "instruments", params, tmp_path / "careless", quiet, exclude_flagged=clean / "careless.parquet")
    assert not (tmp_path / "careless" / "adjusted_effects.csv").exists()
    assert "adjusted long-term effects" not in set(pd.read_csv(tmp_path / "careless" / "skipped.csv")["analysis"])
