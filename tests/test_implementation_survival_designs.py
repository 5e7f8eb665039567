"""The implementation and survival stages on the designs a real study may have (synthetic canonical tables).

Each case writes a small study with :func:`tests.synthetic_study.write_study`, runs both stages
and checks that (a) every declared output exists, tables with their header columns, (b) what
the design cannot support is in ``skipped.csv`` with a reason, (c) what it can support is
estimated, and where the synthetic truth is known, recovered.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analyses.moderators import MODERATOR_COLUMNS
from analyses.survival import COX_COLUMNS
from intervisie.stages.implementation import RANKED_COLUMNS, run_implementation
from intervisie.stages.survival import run_survival
from intervisie.stages.survival_caseness import CASENESS_COLUMNS, CURVE_COLUMNS
from tests.synthetic_study import SHORT_MOD, write_study

ROOT = Path(__file__).parents[1]
IMPLEMENTATION_FILES = ["aggregation.csv", "moderators.csv", "structures.csv", "factors_ranked.csv", "metrics.json",
                        "skipped.csv"]
SURVIVAL_FILES = ["km.csv", "km_summary.csv", "cox.csv", "ph_test.csv", "caseness.csv", "caseness_curve.csv",
                  "metrics.json", "skipped.csv"]


def _params(tmp: Path, survival: dict | None = None, implementation: dict | None = None) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["analyses"]["survival"].update(survival or {})
    params["analyses"]["implementation"].update(implementation or {})
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


def _run(tmp: Path, *, survival: dict | None = None, implementation: dict | None = None, **design) -> Path:
    write_study(tmp / "clean", **design)
    params = _params(tmp, survival, implementation)
    run_implementation(tmp / "clean", ROOT / "instruments", params, tmp / "impl", lambda _m: None)
    run_survival(tmp / "clean", params, tmp / "surv", lambda _m: None)
    for name in IMPLEMENTATION_FILES:
        assert (tmp / "impl" / name).exists(), name
    for name in SURVIVAL_FILES:
        assert (tmp / "surv" / name).exists(), name
    for stage in ("impl", "surv"):
        figures = list((tmp / stage / "figures").iterdir())
        assert figures, stage
        json.loads((tmp / stage / "metrics.json").read_text())  # valid JSON: no NaN
        assert pd.read_csv(tmp / stage / "skipped.csv").columns.tolist() == ["stage", "analysis", "outcome", "reason"]
    return tmp


def _skipped(tmp: Path, stage: str) -> pd.DataFrame:
    table = pd.read_csv(tmp / stage / "skipped.csv").fillna("")
    assert (table["reason"].str.len() > 10).all()
    return table


def _has(skipped: pd.DataFrame, analysis: str, reason: str = "") -> bool:
    hit = skipped[skipped["analysis"].str.contains(analysis, regex=False)]
    return bool(len(hit)) and hit["reason"].str.contains(reason, regex=False).any()


@pytest.fixture(scope="module")
def two_waves(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # one programme, two waves (0 and 3 months): no `long` anywhere; 16 groups for a known answer
    return _run(tmp_path_factory.mktemp("two_waves"), months=(0, 3), n_groups=16, group_size=6, seed=3,
                implementation={"outcomes": ["cbi_work"]})


def test_two_waves_use_the_short_term_slope_only(two_waves: Path) -> None:
    moderators = pd.read_csv(two_waves / "impl" / "moderators.csv")
    assert moderators.columns.tolist() == MODERATOR_COLUMNS
    assert set(moderators["slope"]) == {"baseline", "short"}
    assert not moderators["term"].str.contains("long").any()
    structures = pd.read_csv(two_waves / "impl" / "structures.csv")
    assert not structures["formula"].str.contains("long").any()
    assert not structures["formula"].str.contains("programme").any()  # one programme: no programme term


def test_two_waves_recover_the_planted_moderation(two_waves: Path) -> None:
    # cbi_work's short-term change moves SHORT_MOD (-4) points per SD of the group's true coach quality;
    # the covariate is per SD of the observed group means (ICC(2) about .95), so the coefficient is
    # SHORT_MOD times the SD of the true values over these 16 groups, attenuated by at most ~5%.
    truth = pd.read_parquet(two_waves / "truth.parquet")
    expected = SHORT_MOD * float(truth["coach_quality"].std(ddof=1))
    moderators = pd.read_csv(two_waves / "impl" / "moderators.csv")
    hit = moderators.query("model == 'coach_quality' and covariate == 'coach_quality_between' and slope == 'short'")
    row = hit.iloc[0]
    assert row["ci95_low"] < expected < row["ci95_high"]
    assert row["ci95_high"] < 0  # the planted effect is found, not only covered


def test_two_waves_caseness_model_is_not_identified(two_waves: Path) -> None:
    caseness = pd.read_csv(two_waves / "surv" / "caseness.csv")
    assert caseness["estimate"].isna().all() and caseness["note"].str.contains("one follow-up wave").all()
    curve = pd.read_csv(two_waves / "surv" / "caseness_curve.csv")
    assert set(curve["time_upper"]) <= {3.0}  # the curve is known at the one follow-up wave


def test_two_waves_ranked_and_figures(two_waves: Path) -> None:
    ranked = pd.read_csv(two_waves / "impl" / "factors_ranked.csv")
    assert ranked.columns.tolist() == RANKED_COLUMNS
    assert set(ranked["outcome"]) == {"cbi_work"}
    assert (two_waves / "impl" / "figures" / "forest_cbi_work.png").exists()


def test_without_ratings_the_other_factors_still_run(tmp_path: Path) -> None:
    out = _run(tmp_path, ratings=False, group_size=(5, 6, 7, 5, 6, 7), implementation={"outcomes": ["cbi_work"]})
    skipped = _skipped(out, "impl")
    assert _has(skipped, "rated factors", "design.ratings is empty")
    assert pd.read_csv(out / "impl" / "aggregation.csv").empty
    factors = set(pd.read_csv(out / "impl" / "moderators.csv")["factor"])
    assert {"dose", "group_size", "online"} <= factors
    assert not factors & {"coach_quality", "safety", "structure"}
    # survival: no rating scales, so the Cox model has the baseline scores and the format only
    cox = pd.read_csv(out / "surv" / "cox.csv")
    assert cox.columns.tolist() == COX_COLUMNS
    assert not cox["term"].str.contains("coach_quality|psysafety|session_structure").any()


def test_without_session_log_and_attendance(tmp_path: Path) -> None:
    out = _run(tmp_path, sessions=False, attendance=False, implementation={"outcomes": ["cbi_work"]},
               survival={"min_groups": 5})
    skipped = _skipped(out, "impl")
    assert _has(skipped, "factor dose", "no session log and attendance list")
    assert _has(skipped, "factor method", "no session log")
    factors = set(pd.read_csv(out / "impl" / "moderators.csv")["factor"])
    assert "dose" not in factors and "coach_quality" in factors
    # survival needs no session log: session ratings belong to the rater's group
    cox = pd.read_csv(out / "surv" / "cox.csv")
    assert "coach_quality_z" in set(cox["term"]) and cox.loc[cox["term"] == "coach_quality_z", "hr"].notna().all()


def test_without_groups_the_implementation_stage_is_skipped(tmp_path: Path) -> None:
    out = _run(tmp_path, groups=False, leave_rate=0.4)
    skipped = _skipped(out, "impl")
    assert len(skipped) == 1 and "reflection group" in skipped["reason"].iloc[0]
    for name, header in (("moderators.csv", MODERATOR_COLUMNS), ("factors_ranked.csv", RANKED_COLUMNS)):
        table = pd.read_csv(out / "impl" / name)
        assert table.empty and table.columns.tolist() == header
    assert "no intervisie participant" in (out / "impl" / "figures" / "README.txt").read_text()
    # survival: dropout still estimated (clustered on the person), group ratings left out
    surv = _skipped(out, "surv")
    assert _has(surv, "Cox covariate coach_quality_z", "no reflection groups")
    assert _has(surv, "group-clustered standard errors")
    assert pd.read_csv(out / "surv" / "km_summary.csv").query("curve == 'overall'")["n"].iloc[0] == 36


def test_without_leaving_dates_dropout_is_skipped(tmp_path: Path) -> None:
    out = _run(tmp_path, leaving_dates=False, implementation={"outcomes": ["cbi_work"]})
    skipped = _skipped(out, "surv")
    assert _has(skipped, "dropout", "no leaving dates")
    for name in ("km.csv", "km_summary.csv", "cox.csv", "ph_test.csv"):
        table = pd.read_csv(out / "surv" / name)
        assert table.empty and len(table.columns) >= 7, name
    assert "leaving dates" in (out / "surv" / "figures" / "README.txt").read_text()


def test_without_comparison_the_caseness_curve_is_still_estimated(tmp_path: Path) -> None:
    out = _run(tmp_path, n_comparison=0, cbi_mean=48.0, n_groups=8, implementation={"outcomes": ["cbi_work"]},
               survival={"caseness": {"scale": "cbi_work", "threshold": 40.0, "covariates": []}})
    skipped = _skipped(out, "surv")
    assert _has(skipped, "intervisie vs comparison", "no comparison cohort")
    caseness = pd.read_csv(out / "surv" / "caseness.csv")
    assert caseness.empty and caseness.columns.tolist() == CASENESS_COLUMNS
    curve = pd.read_csv(out / "surv" / "caseness_curve.csv")
    assert curve.columns.tolist() == CURVE_COLUMNS and set(curve["arm"]) == {"intervisie"}
    assert curve["survival"].between(0, 1).all() and curve["survival"].is_monotonic_decreasing


def test_caseness_skipped_when_no_outcome_has_a_cutoff(tmp_path: Path) -> None:
    out = _run(tmp_path, cutoffs=False, implementation={"outcomes": ["cbi_work"]})
    assert _has(_skipped(out, "surv"), "time to caseness", "no outcome of the study has a published cut-off")
    assert pd.read_csv(out / "surv" / "caseness.csv").empty
    assert pd.read_csv(out / "surv" / "caseness_curve.csv").empty


def test_small_study_is_not_estimable_with_reasons_never_a_crash(tmp_path: Path) -> None:
    # 3 groups (sizes 6, 6, 2), one format, hardly anyone leaves, few cases: 14 intervisie + 10 comparison
    out = _run(tmp_path, n_groups=3, group_size=(6, 6, 2), n_comparison=10, formats=("in_person",),
               leave_rate=0.02, seed=5, months=(0, 3, 12), implementation={"outcomes": ["cbi_work"]})
    impl = _skipped(out, "impl")
    assert _has(impl, "factor online", "same format")
    aggregation = pd.read_csv(out / "impl" / "aggregation.csv")
    assert (aggregation["programme"] == "all").all()  # one programme: no per-programme duplicate rows
    cox = pd.read_csv(out / "surv" / "cox.csv")
    assert cox["hr"].isna().all() and cox["note"].str.startswith("not estimated").all()
    assert _has(_skipped(out, "surv"), "dropout Cox model", "fewer than 5 participants left")
    assert cox["events"].isna().all()  # no count of fewer than 5 people
    metrics = json.loads((out / "surv" / "metrics.json").read_text())
    assert not any(k.startswith("dropout_hr") for k in metrics)


def test_aggregation_with_too_few_groups_is_not_estimable(tmp_path: Path) -> None:
    out = _run(tmp_path, n_groups=2, group_size=8, n_comparison=10, implementation={"outcomes": ["cbi_work"]})
    aggregation = pd.read_csv(out / "impl" / "aggregation.csv")
    assert aggregation["icc1"].isna().all() and aggregation["note"].str.startswith("not estimable: 2 rated").all()
    assert _has(_skipped(out, "impl"), "moderator models", "at least 3 are needed")
    assert "no moderator model" in (out / "impl" / "figures" / "README.txt").read_text()


def test_a_factor_level_of_two_people_is_left_out_of_the_cox_model(tmp_path: Path) -> None:
    out = _run(tmp_path, n_groups=5, group_size=(8, 8, 8, 8, 2), formats=("in_person",) * 4 + ("online",),
               leave_rate=0.5, seed=2, implementation={"outcomes": ["cbi_work"]})
    assert _has(_skipped(out, "surv"), "Cox factor format", "fewer than 5 participants")
    summary = pd.read_csv(out / "surv" / "km_summary.csv").set_index(["curve", "stratum"])
    assert pd.isna(summary.loc[("format", "online"), "n"])  # a stratum of 2: suppressed
    cox = pd.read_csv(out / "surv" / "cox.csv")
    assert not cox["term"].str.startswith("format").any()
    assert cox["hr"].notna().all()


def test_outputs_are_deterministic(tmp_path: Path, two_waves: Path) -> None:
    params = _params(tmp_path, implementation={"outcomes": ["cbi_work"]})
    run_implementation(two_waves / "clean", ROOT / "instruments", params, tmp_path / "impl", lambda _m: None)
    run_survival(two_waves / "clean", params, tmp_path / "surv", lambda _m: None)
    for stage, names in (("impl", IMPLEMENTATION_FILES), ("surv", SURVIVAL_FILES)):
        for name in names:
            assert (tmp_path / stage / name).read_bytes() == (two_waves / stage / name).read_bytes(), name
