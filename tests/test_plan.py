"""Planning by simulation, the parts that need no cluster: plan files, the data-generating model, seeds, summaries.

Known answers: the simulated data reproduce the plan's variance components (large samples,
tolerances stated per check); Wilson intervals equal statsmodels'; the closed-form power equals
statsmodels' t-test power and inverts the power stage's sample size. Resuming and failing fits
are tested in-process; the cluster and the Monte Carlo known answers are in ``test_plan_dask.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.power import TTestIndPower, TTestPower
from statsmodels.stats.proportion import proportion_confint

import analyses.plan as plan_module
from analyses.aggregation import icc_aggregation
from analyses.mixed import NoAcceptableFitError
from analyses.plan import CellSpec, run_task, simulate_study, task_frame, task_seed
from analyses.plan_summary import closed_form_power, handout_rows, summarise, wilson
from analyses.power import sample_size
from intervisie.stages.plan import cell_specs, run_plan
from intervisie.stages.plan_inputs import PlanChoices, load_choices, plan_from_results
from pipeline.errors import InputError
from pipeline.plan_file import Plan, load_plan

ROOT = Path(__file__).resolve().parents[1]
SMALL = {
    "seed": 11,
    "replicates": 3,
    "waves_months": [0, 3, 12],
    "grid": {"groups_per_arm": [4], "group_size": [4, 5], "effect_short": [0.0, 0.5]},
    "group_size_spread": 1,
    "programmes": 2,
    "attrition": {"per_wave": [0.1, 0.2], "burnout_log_odds": 0.5},
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- the plan file


def test_example_plan_loads() -> None:
    plan = load_plan(ROOT / "plans" / "example.yaml")
    assert len(cell_specs(plan)) == 4 * 2 * 4


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("seed: 1\nreplicates: 10\nwaves_months: [0, 3]\ngrid: {groups_per_arm: [1], group_size: [5], effect_short: [0.2]}\n", "grid.groups_per_arm"),
        ("seed: 1\nreplicates: 10\nwaves_months: [0, 3]\ngrid: {groups_per_arm: [4], group_size: [5], effect_short: [0.2]}\nattrition: {per_wave: [0.1, 0.2]}\n", "attrition.per_wave"),
        ("seed: 1\nreplicates: 10\nwaves_months: [1, 3]\ngrid: {groups_per_arm: [4], group_size: [5], effect_short: [0.2]}\n", "waves_months"),
        ("seed: 1\nreplicates: 10\nwaves_months: [0, 3]\ngrid: {groups_per_arm: [4], group_size: [5], effect_short: [0.2]}\nvariance: {icc_level: 0.5, residual_share: 0.6}\n", "variance"),
        ("seed: 1\nreplicates: 10\nwaves_months: [0, 3]\ngrid: {groups_per_arm: [4], group_size: [5], effect_short: [0.2]}\ngroup_sizes: 3\n", "group_sizes"),
        ("seed: 1\nwaves_months: [0, 3]\ngrid: {groups_per_arm: [4], group_size: [5], effect_short: [0.2]}\n", "replicates"),
    ],
)
def test_bad_plan_file_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = _write(tmp_path / "plan.yaml", text)
    with pytest.raises(InputError) as caught:
        load_plan(path)
    assert str(path) in str(caught.value)
    assert key in str(caught.value)


def test_missing_plan_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        load_plan(tmp_path / "nothing.yaml")


def test_params_section_names_its_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "params.yaml", "plan:\n  seed: 1\n  replicates: 5\n  grid: {groups_per_arm: [4], group_size: [0], effect_short: [0.2]}\n")
    with pytest.raises(InputError, match=r"plan\.grid\.group_size"):
        load_choices(path)


# ----------------------------------------------------------------------------- the data-generating model


def test_simulated_data_reproduce_the_variance_components() -> None:
    """2,000 groups of 5 plus 10,000 comparison participants: moments within a few % of the truth."""
    spec = CellSpec(seed=3, alpha=0.05, waves_months=(0.0, 3.0), groups_per_arm=2000, group_size=5,
                    effect_short=0.4, effect_long=0.0, icc_level=0.2, icc_change=0.3, residual_share=0.3,
                    slope_sd=0.4)  # fmt: skip
    data = simulate_study(spec, np.random.default_rng(1))
    wide = data.pivot_table(index="participant", columns="wave", values="score").join(
        data.drop_duplicates("participant").set_index("participant")[["group", "arm"]]
    )
    wide["change"] = wide["w1"] - wide["w0"]
    treated = wide[wide["arm"] == "intervisie"]
    assert treated["w0"].std() == pytest.approx(1.0, abs=0.03)
    level = icc_aggregation(treated.rename(columns={"w0": "y"}), dv="y", group="group").iloc[0]
    assert level["icc1"] == pytest.approx(0.2, abs=0.03)
    change = icc_aggregation(treated, dv="change", group="group").iloc[0]
    assert change["icc1"] == pytest.approx(0.3, abs=0.03)
    assert treated["change"].std() == pytest.approx(spec.sd_change, rel=0.03)
    control = wide[wide["arm"] == "comparison"]
    assert control["change"].std() == pytest.approx(spec.sd_change, rel=0.03)  # same variance, unclustered
    diff = (treated["change"].mean() - control["change"].mean()) / spec.sd_change
    assert diff == pytest.approx(0.4, abs=0.04)  # SE of the difference ~0.014 (in SDs of change)


def test_attrition_is_monotone_and_rises_with_the_baseline_level() -> None:
    spec = CellSpec(seed=3, alpha=0.05, waves_months=(0.0, 3.0, 12.0), groups_per_arm=2000, group_size=5,
                    effect_short=0.0, effect_long=0.0, attrition=(0.2, 0.25), burnout_log_odds=0.0)  # fmt: skip
    data = simulate_study(spec, np.random.default_rng(2))
    n = data["participant"].nunique()
    kept = data.groupby("wave")["participant"].nunique() / n
    assert kept["w1"] == pytest.approx(0.8, abs=0.01)  # SE 0.003
    assert kept["w2"] == pytest.approx(0.8 * 0.75, abs=0.01)
    waves = data.groupby("participant")["wave"].apply(lambda w: "".join(sorted(w)))
    assert set(waves) <= {"w0", "w0w1", "w0w1w2"}  # nobody comes back
    linked = simulate_study(CellSpec(**{**spec.__dict__, "burnout_log_odds": 1.0}), np.random.default_rng(2))
    base = linked[linked["wave"] == "w0"].set_index("participant")["score"]
    stayed = base.index.isin(set(linked.loc[linked["wave"] == "w1", "participant"]))
    assert base[~stayed].mean() > base[stayed].mean() + 0.3


def test_task_seeds_depend_only_on_the_coordinates() -> None:
    spec = cell_specs(Plan.model_validate(SMALL))[0]
    other = cell_specs(Plan.model_validate(SMALL))[1]
    draw = lambda s, r: np.random.default_rng(task_seed(s, r)).random(3).tolist()  # noqa: E731
    assert draw(spec, 0) == draw(spec, 0)
    assert draw(spec, 0) != draw(spec, 1)
    assert draw(spec, 0) != draw(other, 0)


# ----------------------------------------------------------------------------- one task, failing fits


def test_a_task_fits_the_growth_model_of_the_design() -> None:
    spec = cell_specs(Plan.model_validate(SMALL))[-1]
    rows = task_frame(run_task(spec, 0))
    assert list(rows["term"]) == ["short:armintervisie", "long:armintervisie"]
    assert (rows["status"] == "ok").all()
    assert rows["estimate"].notna().all()
    assert spec.fixed() == "y ~ programme * (short + long) + arm * (short + long)"


@pytest.mark.parametrize(
    ("error", "status"),
    [(RuntimeError("engine broke"), "error"), (NoAcceptableFitError("nothing fits", pd.DataFrame()), "no acceptable fit")],
)
def test_a_failing_fit_is_an_outcome(monkeypatch: pytest.MonkeyPatch, error: Exception, status: str) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(plan_module, "fit_pruned", fail)
    rows = task_frame(run_task(cell_specs(Plan.model_validate(SMALL))[0], 0))
    assert (rows["status"] == status).all()
    assert rows["estimate"].isna().all()
    assert str(error) in rows["reason"].iloc[0]


def test_a_study_too_small_to_fit_is_not_estimable() -> None:
    spec = CellSpec(seed=1, alpha=0.05, waves_months=(0.0, 3.0), groups_per_arm=2, group_size=2,
                    effect_short=0.3, effect_long=0.0, comparison=0.0)  # fmt: skip
    rows = task_frame(run_task(spec, 0))
    assert rows["status"].tolist() == ["not estimable"]
    assert "at least 10" in rows["reason"].iloc[0]


# ----------------------------------------------------------------------------- summaries


@pytest.mark.parametrize(("k", "n"), [(0, 20), (7, 20), (20, 20), (163, 200), (1, 3)])
def test_wilson_matches_statsmodels(k: int, n: int) -> None:
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert wilson(k, n) == pytest.approx((low, high), abs=1e-12)


def test_closed_form_power_is_the_t_test_without_clustering() -> None:
    spec = CellSpec(seed=1, alpha=0.05, waves_months=(0.0, 3.0), groups_per_arm=8, group_size=5,
                    effect_short=0.6, effect_long=0.0)  # fmt: skip
    expected = TTestIndPower().power(effect_size=0.6, nobs1=40, alpha=0.05, ratio=1.0)
    assert closed_form_power(spec) == pytest.approx(expected, abs=1e-10)


def test_a_single_arm_design_tests_the_change_within_intervisie() -> None:
    """No comparison arm: the model is ``y ~ short`` and the closed form the paired t test (TTestPower)."""
    spec = CellSpec(seed=1, alpha=0.05, waves_months=(0.0, 3.0), groups_per_arm=6, group_size=5,
                    effect_short=0.4, effect_long=0.0, comparison=0.0)  # fmt: skip
    assert spec.fixed() == "y ~ short"
    rows = task_frame(run_task(spec, 0))
    assert rows["term"].tolist() == ["short"] and rows["status"].tolist() == ["ok"]
    expected = TTestPower().power(effect_size=0.4, nobs=30, alpha=0.05)
    assert closed_form_power(spec) == pytest.approx(expected, abs=1e-10)


def test_closed_form_power_inverts_the_power_stage() -> None:
    """At the power stage's (unrounded) n per arm the closed-form power is 0.80 (df differ by <1: 0.002)."""
    components = {"icc_change": 0.05, "cluster_size": 8.0, "retention_treated": 1.0, "retention_comparison": 1.0,
                  "d_observed": 0.3, "sd_change": 1.0, "note": None}  # fmt: skip
    row = sample_size(components, effect_sizes=[0.35])
    row = row[row["basis"] == "d=0.35"].iloc[0]
    n = row["n_unclustered"] * row["design_effect"]
    spec = CellSpec(seed=1, alpha=0.05, waves_months=(0.0, 3.0), groups_per_arm=n / 8, group_size=8,
                    effect_short=0.35, effect_long=0.0, icc_change=0.05)  # fmt: skip
    assert closed_form_power(spec) == pytest.approx(0.80, abs=0.002)


def test_summary_and_handout_sentence() -> None:
    specs = {s.cell_id: s for s in cell_specs(Plan.model_validate({**SMALL, "waves_months": [0, 3], "attrition": {}}))}
    rows = []
    for i, (cell, spec) in enumerate(specs.items()):
        for r in range(10):
            hit = r < 2 + 3 * i  # 2, 5, 8, 11 of 10 -> capped by the 10 studies
            rows.append({"cell": cell, "replicate": r, "term": "short:armintervisie", "truth": spec.effect_short,
                         "status": "ok", "reason": "", "estimate": spec.effect_short + (0.1 if r % 2 else -0.1),
                         "std_error": 0.1, "df": 30.0, "p_val": 0.01 if hit else 0.5, "ci95_low": 0.0, "ci95_high": 1.0,
                         "reject": hit, "covered": True, "singular": r == 0, "structure": "", "n_participants": 40.0,
                         "n_obs": 80.0})  # fmt: skip
    summary = summarise(task_frame(rows), specs)
    assert summary["power"].tolist() == [0.2, 0.5, 0.8, 1.0]
    assert summary["bias"].abs().max() < 1e-12
    assert summary["share_singular"].tolist() == [0.1] * 4
    assert summary["power_mcse"].iloc[2] == pytest.approx(math.sqrt(0.8 * 0.2 / 10))
    handout = handout_rows(summary, target=0.8, comparison=1.0)
    assert handout["sentence"].tolist() == [
        "With 4 groups of 5 per arm, a short-term effect of 0.5 SD of change is found 10 times in 10."
    ]


# ----------------------------------------------------------------------------- resuming, from results


def test_an_interrupted_plan_resumes_with_the_missing_cell(tmp_path: Path) -> None:
    cheap = {**SMALL, "replicates": 2, "waves_months": [0, 3], "programmes": 1, "attrition": {}}
    plan = Plan.model_validate(cheap)
    first = run_plan(plan, tmp_path, lambda _m: None, workers=0, show_bar=False)
    assert len(first.computed) == 4 and not first.reused
    outputs = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in outputs}
    lost = tmp_path / "cells" / f"{first.computed[1]}.parquet"
    lost.unlink()
    (tmp_path / "cells" / f"{first.computed[2]}.parquet").write_bytes(b"truncated")
    again = run_plan(plan, tmp_path, lambda _m: None, workers=0, show_bar=False)
    assert again.computed == [first.computed[1], first.computed[2]]
    assert again.reused == [first.computed[0], first.computed[3]]
    assert {p: p.read_bytes() for p in outputs} == before
    more = run_plan(Plan.model_validate({**cheap, "replicates": 3}), tmp_path, lambda _m: None, workers=0, show_bar=False)
    assert len(more.computed) == 4  # a changed plan reuses nothing


def test_plan_from_results(tmp_path: Path) -> None:
    (tmp_path / "power").mkdir()
    (tmp_path / "growth").mkdir()
    pd.DataFrame({"outcome": ["a", "a"], "horizon": ["short", "long"], "n_treated": [100.0, 80.0],
                  "n_comparison": [50.0, 40.0], "icc_change": [0.04, 0.05], "retention_treated": [0.8, 0.648]}
                 ).to_csv(tmp_path / "power" / "components.csv", index=False)  # fmt: skip
    pd.DataFrame({"outcome": "a", "wave": ["t0", "t1", "t2", "t3"], "months": [0.0, 3.0, 12.0, 24.0]}).to_csv(
        tmp_path / "growth" / "wave_means.csv", index=False
    )
    pd.DataFrame({"outcome": "a", "group": ["participant", "participant", "participant", "group", "Residual"],
                  "term": ["(Intercept)", "short", "(Intercept)", "(Intercept)", None],
                  "term2": [None, None, "short", None, None], "variance": [1.2, 0.16, 0.01, 0.2, 0.6]}
                 ).to_csv(tmp_path / "growth" / "random_effects.csv", index=False)  # fmt: skip
    pd.DataFrame({"outcome": "a", "term": ["(Intercept)", "programmeb", "programmec", "short:programmeb"]}).to_csv(
        tmp_path / "growth" / "effects.csv", index=False
    )
    choices = PlanChoices.model_validate({"seed": 1, "replicates": 5, "grid": {"groups_per_arm": [4], "group_size": [5], "effect_short": [0.3]}})
    plan = plan_from_results(tmp_path, choices)
    assert plan.waves_months == [0.0, 3.0, 12.0, 24.0]
    assert plan.variance.icc_level == pytest.approx(0.1)
    assert plan.variance.residual_share == pytest.approx(0.3)
    assert plan.variance.slope_sd == pytest.approx(math.sqrt(0.16 / 2.0), abs=1e-6)
    assert plan.variance.icc_change == 0.04
    assert plan.comparison == 0.5
    assert plan.programmes == 3
    assert plan.attrition.per_wave == pytest.approx([0.2, 0.1, 0.1])  # 0.8 * 0.9 * 0.9 = 0.648
    with pytest.raises(InputError, match=r"plan\.outcome"):
        plan_from_results(tmp_path, choices.model_copy(update={"outcome": "zzz"}))
    with pytest.raises(InputError, match="missing"):
        plan_from_results(tmp_path / "nowhere", choices)
