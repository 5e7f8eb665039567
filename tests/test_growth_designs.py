"""The growth, growth_careless and sensitivity stages on every common design.

Designs: two arms or one, two to six waves at any months, one programme or several, and small
studies (a handful of people).  Each is simulated small (:mod:`tests.growth_designs`) and run
through the stages; the checks are what the design implies (which terms, which wave means,
which tests, which figures, which skips).  Known answers:

* the single-arm fixed part ``y ~ programme + short + long`` and the two-wave fixed part
  ``y ~ arm * short`` equal ``lmerTest::lmer`` with the structure the stage accepted (estimate,
  SE, Satterthwaite df, p-value; ``rtol = 1e-4``, the engine's agreement with lme4 in
  tests/test_mixed.py), and the wave means of the single-arm model equal R's ``emmeans(m, ~ short
  + long, at = ..., lmer.df = "satterthwaite")`` (same tolerance);
* with 120 people of one arm the within-intervisie change of the simulation (known truth) lies
  inside the 95% interval of ``short`` and ``long``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analyses.data import wave_scores
from analyses.growth import MODERATION_COLUMNS, growth_data, growth_results
from intervisie.stages.growth import run_growth, term_title
from intervisie.stages.sensitivity import run_sensitivity
from tests.growth_designs import SCALES, make_design, simulate, write_study
from tests.r_reference import run_r

ROOT = Path(__file__).parents[1]
PRIMARY, SECONDARY = ["brs", "cbi_work"], ["uwes_vigour"]
CASES = {
    "two_arms_4_waves_3_programmes": {"waves": {"t0": 0, "t1": 3, "t2": 12, "t3": 24},
                                      "programmes": ["p1", "p2", "p3"], "comparison": True},
    "single_arm_3_waves": {"waves": {"w0": 0, "w6": 6, "w18": 18}, "programmes": ["p1", "p2"], "comparison": False},
    "two_arms_2_waves_one_programme": {"waves": {"pre": 0, "post": 3}, "programmes": ["p1"], "comparison": True},
    "single_arm_2_waves_one_programme": {"waves": {"a": 0, "b": 4}, "programmes": ["p1"], "comparison": False},
    "two_arms_6_waves_no_groups": {"waves": {"a": 0, "b": 2, "c": 5, "d": 9, "e": 14, "f": 30},
                                   "programmes": ["p1", "p2"], "comparison": True, "groups": False},
}
GROWTH_OUTS = ["effects.csv", "structures.csv", "moderation.csv", "random_effects.csv", "model_fit.csv",
               "wave_means.csv", "skipped.csv", "metrics.json", "figures/README.txt"]
SENSITIVITY_OUTS = ["multiplicity.csv", "complete_vs_available.csv", "tipping_point.csv", "tipping_summary.csv",
                    "skipped.csv", "metrics.json"]


def quiet(_message: str) -> None:
    """Progress messages are not checked here."""


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    design = make_design(primary=PRIMARY, secondary=SECONDARY, **CASES[request.param])
    root = tmp_path_factory.mktemp(request.param)
    clean, params = write_study(root, design, simulate(design, n=40, seed=11))
    careless = pd.DataFrame({"response_id": [0, 1, 100_002], "flagged": [True, False, True]})
    careless.to_parquet(clean / "careless.parquet", index=False)
    run_growth(clean, ROOT / "instruments", params, root / "growth", quiet)
    run_growth(clean, ROOT / "instruments", params, root / "careless", quiet,
               exclude_flagged=clean / "careless.parquet", compare_with=root / "growth" / "effects.csv")
    run_sensitivity(clean, ROOT / "instruments", root / "growth" / "effects.csv", params, root / "sensitivity", quiet)
    return {"design": design, "root": root}


def read(case: dict, stage: str, name: str) -> pd.DataFrame:
    return pd.read_csv(case["root"] / stage / name, keep_default_na=False, na_values=[""])


def test_every_declared_output_is_written(case: dict) -> None:
    for name in GROWTH_OUTS:
        assert (case["root"] / "growth" / name).is_file(), name
        assert (case["root"] / "careless" / name).is_file(), name
    assert (case["root"] / "careless" / "comparison.csv").is_file()
    for name in SENSITIVITY_OUTS:
        assert (case["root"] / "sensitivity" / name).is_file(), name
    for stage, label in (("growth", "growth"), ("careless", "growth_careless"), ("sensitivity", "sensitivity")):
        skipped = read(case, stage, "skipped.csv")
        assert list(skipped.columns) == ["stage", "analysis", "outcome", "reason"]
        assert set(skipped["stage"]) <= {label}


def test_effect_terms_follow_the_design(case: dict) -> None:
    design = case["design"]
    effects = read(case, "growth", "effects.csv")
    terms = design.effect_terms()
    assert terms == (["short:armintervisie", "long:armintervisie"][: len(design.time_terms())]
                     if design.has_comparison else design.time_terms())
    for outcome in PRIMARY + SECONDARY:
        part = effects[effects["outcome"] == outcome]
        assert set(terms) <= set(part["term"])
        assert part.loc[part["term"].isin(terms), "estimate"].notna().all()
    if not design.long_term:
        assert not effects["term"].str.contains("long").any()
    if not design.has_comparison:
        assert not effects["term"].str.contains("arm").any()
    # no rank deficiency anywhere: every coefficient of the model is estimable
    assert (effects["note"].fillna("") == "").all()
    comparison = read(case, "careless", "comparison.csv")
    assert set(comparison["term"]) == set(terms)
    assert (comparison["n_dropped"] >= 0).all()


def test_wave_means_per_wave_and_arm(case: dict) -> None:
    design = case["design"]
    means = read(case, "growth", "wave_means.csv")
    arms = ["comparison", "intervisie"] if design.has_comparison else ["intervisie"]
    for outcome in PRIMARY + SECONDARY:
        part = means[means["outcome"] == outcome]
        assert sorted(zip(part["wave"], part["arm"], strict=True)) == sorted(
            (w, a) for w in design.wave_ids for a in arms
        )
        assert_allclose(part.drop_duplicates("wave").set_index("wave")["months"].reindex(design.wave_ids),
                        list(design.wave_months.values()))


def test_moderation_only_with_several_programmes(case: dict) -> None:
    design = case["design"]
    moderation = read(case, "growth", "moderation.csv")
    skipped = read(case, "growth", "skipped.csv")
    adjusted = skipped["analysis"] == "adjusted long-term effects"  # its own test: test_adjusted_growth.py
    assert (case["root"] / "growth" / "adjusted_effects.csv").is_file()
    skipped = skipped[~adjusted]
    assert list(moderation.columns[: len(MODERATION_COLUMNS)]) == MODERATION_COLUMNS
    if design.several_programmes:
        assert list(moderation["outcome"]) == PRIMARY + SECONDARY
        assert (moderation["terms"] == design.moderation_terms()).all()
        assert (moderation["df"] == (len(design.programmes) - 1) * len(design.time_terms())).all()
        assert skipped.empty
    else:
        assert moderation.empty
        assert skipped[["analysis", "reason"]].values.tolist() == [["moderation", "one programme: no moderation test"]]


def test_figures_and_their_titles_follow_the_design(case: dict) -> None:
    design = case["design"]
    figures = {p.name for p in (case["root"] / "growth" / "figures").iterdir()}
    expected = {f"forest_{t.replace(':', '_')}.png" for t in design.effect_terms()}
    expected |= {f"trajectory_{s}.png" for s in PRIMARY + SECONDARY} | {"README.txt"}
    assert figures == expected
    months = f"{design.wave_months[design.short_term]:g} months"
    for term in design.effect_terms():
        title = term_title(term, design)
        assert months in title and "3 months" not in title.replace(months, "")
        assert ("vs comparison" in title) == design.has_comparison
        assert ("change within intervisie" in title) == (not design.has_comparison)


def test_sensitivity_follows_the_design(case: dict) -> None:
    design = case["design"]
    multiplicity = read(case, "sensitivity", "multiplicity.csv")
    assert sorted(set(multiplicity["term"])) == sorted(design.effect_terms())
    both = read(case, "sensitivity", "complete_vs_available.csv")
    assert set(both["analysis"]) == {"available_case", "complete_case"}
    assert set(both["term"]) == set(design.effect_terms())
    summary = read(case, "sensitivity", "tipping_summary.csv")
    waves = [design.short_term] + ([design.last_wave] if design.long_term else [])
    assert list(zip(summary["outcome"], summary["wave"], strict=True)) == [(s, w) for s in PRIMARY for w in waves]
    assert set(summary["estimand"]) == {"difference" if design.has_comparison else "change"}
    skipped = read(case, "sensitivity", "skipped.csv")
    assert (skipped["analysis"] == "tipping point at a later wave").any() == (not design.long_term)
    metrics = json.loads((case["root"] / "sensitivity" / "metrics.json").read_text(encoding="utf-8"))
    assert {k.split("__")[0] for k in metrics if k.endswith("_rejected")} == {
        t.replace(":", "_") for t in design.effect_terms()
    }


# ---------------------------------------------------------------- small studies and failures


def test_a_tiny_study_is_recorded_not_estimable(tmp_path: Path) -> None:
    design = make_design(waves={"a": 0, "b": 6, "c": 12}, programmes=["p1"], comparison=False,
                         primary=PRIMARY, secondary=SECONDARY)
    clean, params = write_study(tmp_path, design, simulate(design, n=6, seed=2))
    run_growth(clean, ROOT / "instruments", params, tmp_path / "growth", quiet)
    effects = pd.read_csv(tmp_path / "growth" / "effects.csv")
    assert len(effects) == 2 * 3 and effects["estimate"].isna().all()
    assert effects["note"].str.startswith("only 6 participant(s) with a score").all()
    skipped = pd.read_csv(tmp_path / "growth" / "skipped.csv")
    assert set(skipped.loc[skipped["analysis"] == "growth model", "outcome"]) == set(PRIMARY + SECONDARY)
    assert pd.read_csv(tmp_path / "growth" / "wave_means.csv").empty
    readme = (tmp_path / "growth" / "figures" / "README.txt").read_text(encoding="utf-8")
    assert "no trajectory of brs" in readme and "no forest plot of short" in readme
    assert json.loads((tmp_path / "growth" / "metrics.json").read_text(encoding="utf-8")) == {}
    run_sensitivity(clean, ROOT / "instruments", tmp_path / "growth" / "effects.csv", params, tmp_path / "sens", quiet)
    assert pd.read_csv(tmp_path / "sens" / "multiplicity.csv").empty
    assert pd.read_csv(tmp_path / "sens" / "tipping_summary.csv").empty
    reasons = pd.read_csv(tmp_path / "sens" / "skipped.csv")
    assert reasons["analysis"].str.startswith("tipping point at").sum() == 2 * len(PRIMARY)
    assert reasons["analysis"].str.startswith("multiplicity").sum() == 2 * 3
    assert (reasons["analysis"] == "complete-case growth model").sum() == 3


def test_the_stage_records_when_the_data_cannot_support_a_model() -> None:
    design = make_design(waves={"a": 0, "b": 3}, programmes=["p1", "p2"], comparison=True, primary=["brs"])
    tables = simulate(design, n=40, seed=4)
    scores = wave_scores(tables["participants"], tables["responses"], tables["scale_scores"], knot=3.0)
    flat = scores[scores["scale"] == "brs"].assign(scale="flat", score=2.0)
    one_arm = scores[(scores["scale"] == "brs") & (scores["arm"] == "intervisie")].assign(scale="one_arm")
    one_wave = scores[(scores["scale"] == "brs") & (scores["wave"] == "a")].assign(scale="one_wave")
    scores = pd.concat([scores, flat, one_arm, one_wave], ignore_index=True)
    kwargs = {"fixed": design.growth_fixed(), "moderation": design.moderation_terms(), "waves": design.wave_months,
              "baseline": "a", "effect_terms": design.effect_terms()}
    out = growth_results(scores, scales=["brs", "flat", "one_arm", "one_wave", "absent"],
                         random=["(1 | participant)"], **kwargs)
    reasons = out["skipped"].set_index("outcome")["reason"]
    assert reasons["flat"] == "the scores do not vary: there is nothing to model"
    assert reasons["one_arm"].startswith("scores of one arm only (intervisie)")
    assert reasons["one_wave"] == "scores at one wave only: change cannot be estimated"
    assert reasons["absent"].startswith("only 0 participant(s)")
    assert "brs" not in reasons
    effects = out["effects"].set_index(["outcome", "term"])
    assert np.isnan(effects.loc[("flat", "short:armintervisie"), "estimate"])
    assert np.isfinite(effects.loc[("brs", "short:armintervisie"), "estimate"])
    # no structure can be fitted: the reason, and the log, are kept
    failed = growth_results(scores, scales=["brs"], random=["(1 | nonexistent)"], **kwargs)
    assert failed["skipped"]["reason"].iloc[0].startswith("no acceptable fit")
    assert failed["structures"]["status"].tolist() == ["error"]
    assert failed["effects"]["estimate"].isna().all()


def test_no_rank_deficiency_warning_with_two_waves(caplog: pytest.LogCaptureFixture) -> None:
    design = make_design(waves={"a": 0, "b": 3}, programmes=["p1", "p2"], comparison=True, primary=["brs"])
    tables = simulate(design, n=40, seed=5)
    scores = wave_scores(tables["participants"], tables["responses"], tables["scale_scores"], knot=3.0)
    with caplog.at_level(logging.WARNING):
        out = growth_results(scores, scales=["brs"], fixed=design.growth_fixed(), random=["(1 | participant)"],
                             moderation=design.moderation_terms(), waves=design.wave_months, baseline="a",
                             effect_terms=design.effect_terms())
    assert "rank deficient" not in caplog.text
    assert set(out["wave_means"]["wave"]) == {"a", "b"}


# ---------------------------------------------------------------- known answers


def _fit(design_kwargs: dict, n: int, seed: int) -> tuple[dict, pd.DataFrame, object]:
    design = make_design(primary=["brs"], **design_kwargs)
    tables = simulate(design, n=n, seed=seed)
    scores = wave_scores(tables["participants"], tables["responses"], tables["scale_scores"], knot=design.knot_months)
    out = growth_results(scores, scales=["brs"], fixed=design.growth_fixed(),
                         random=["(1 | participant) + (1 | group)", "(1 | participant)"],
                         moderation=design.moderation_terms(), waves=design.wave_months, baseline=design.baseline,
                         knot=design.knot_months, effect_terms=design.effect_terms(), programmes=design.programme_ids)
    data = growth_data(scores, "brs", design.programme_ids)
    return out, data, design


@pytest.mark.parametrize(
    "design_kwargs",
    [
        {"waves": {"a": 0, "b": 6, "c": 18}, "programmes": ["p2", "p1"], "comparison": False},
        {"waves": {"a": 0, "b": 3}, "programmes": ["p1"], "comparison": True},
    ],
    ids=["single_arm", "two_waves"],
)
def test_fixed_part_equals_lmer(design_kwargs: dict) -> None:
    out, data, design = _fit(design_kwargs, n=50, seed=8)
    effects = out["effects"]
    structure = effects["structure"].iloc[0]
    columns = [c for c in ("y", "programme", "arm", "short", "long", "participant", "group") if c in data]
    # R: summary(lmerTest::lmer(<structure>, data = d, REML = TRUE))$coefficients
    script = f"""
    m <- lmer({structure}, data = d, REML = TRUE)
    s <- summary(m)$coefficients
    out$term <- rownames(s); out$estimate <- s[, "Estimate"]; out$se <- s[, "Std. Error"]
    out$df <- s[, "df"]; out$p <- s[, "Pr(>|t|)"]
    """
    ref = pd.DataFrame(run_r(script, data[columns]))
    ref = ref.set_index("term")
    ours = effects.set_index("term").loc[ref.index]
    assert_allclose(ours["estimate"], ref["estimate"], rtol=1e-4)
    assert_allclose(ours["std_error"], ref["se"], rtol=1e-4)
    assert_allclose(ours["df"], ref["df"], rtol=1e-4)
    assert_allclose(ours["p_val"], ref["p"], rtol=1e-4, atol=1e-12)
    assert set(design.effect_terms()) <= set(ref.index)


def test_single_arm_wave_means_equal_emmeans() -> None:
    out, data, _design = _fit({"waves": {"a": 0, "b": 6, "c": 18}, "programmes": ["p2", "p1"], "comparison": False},
                             n=50, seed=8)
    structure = out["effects"]["structure"].iloc[0]
    # R: emmeans(m, ~ short + long, at = list(short = c(0, 1), long = c(0, 1)), lmer.df = "satterthwaite"),
    #    at the waves' (short, long): (0, 0), (1, 0), (1, 1)
    script = f"""
    m <- lmer({structure}, data = d, REML = TRUE)
    e <- as.data.frame(emmeans(m, ~ short + long, at = list(short = c(0, 1), long = c(0, 1)),
                               lmer.df = "satterthwaite"))
    e <- e[(e$short == 0 & e$long == 0) | (e$short == 1), ]
    e <- e[order(e$long, e$short), ]
    out$estimate <- e$emmean; out$se <- e$SE; out$df <- e$df; out$low <- e$lower.CL; out$high <- e$upper.CL
    """
    ref = run_r(script, data[["y", "programme", "short", "long", "participant", "group"]],
                packages=("lme4", "lmerTest", "emmeans", "jsonlite"))
    means = out["wave_means"].set_index("wave").loc[["a", "b", "c"]]
    assert (means["arm"] == "intervisie").all()
    for ours, theirs in (("estimate", "estimate"), ("std_error", "se"), ("df", "df"), ("ci95_low", "low"),
                         ("ci95_high", "high")):
        assert_allclose(means[ours], ref[theirs], rtol=1e-4, err_msg=ours)


def test_single_arm_recovers_the_simulated_change() -> None:
    out, _data, _design = _fit({"waves": {"a": 0, "b": 6, "c": 18}, "programmes": ["p1", "p2"], "comparison": False},
                               n=120, seed=21)
    _mean, sd, sign, _higher = SCALES["brs"]
    truth = {"short": sd * sign * (0.1 + 0.5), "long": sd * sign * (0.0 + 0.2)}  # simulate()'s defaults
    effects = out["effects"].set_index("term")
    for term, value in truth.items():
        assert effects.loc[term, "ci95_low"] <= value <= effects.loc[term, "ci95_high"], (term, value)


def test_results_name_the_reference_levels() -> None:
    # the first programme study.yaml lists is the reference (not the first by code point, which
    # would be "Zorg"), the comparison arm is the reference arm, and the effects table says so
    out, data, _design = _fit({"waves": {"a": 0, "b": 3, "c": 12}, "programmes": ["anios", "Zorg"], "comparison": True},
                             n=60, seed=3)  # fmt: skip
    assert list(data["programme"].cat.categories) == ["anios", "Zorg"]
    assert list(data["arm"].cat.categories) == ["comparison", "intervisie"]
    effects = out["effects"].dropna(subset=["estimate"])
    assert (effects["reference_programme"] == "anios").all()
    assert (effects["reference_arm"] == "comparison").all()
    assert {"programmeZorg", "armintervisie", "short:armintervisie"} <= set(effects["term"])
    single = _fit({"waves": {"a": 0, "b": 3}, "programmes": ["p1"], "comparison": False}, n=40, seed=3)[0]["effects"]
    assert (single["reference_programme"] == "").all() and (single["reference_arm"] == "").all()
