"""Composite scores: scales that combine other scales of an instrument file (instruments/README.md).

Known answers: each composite is recomputed here from the item answers with exact rational
arithmetic (``fractions.Fraction``) following the rule as the README states it, independently of
:mod:`pipeline.scoring`: the mean of the scored (reverse-keyed) item values of the subscales that
have a score, when at least ``min_subscales`` do.  Item values are integers, so the pipeline's
``total / count`` is the correctly rounded quotient of two exact integers and must equal
``float(Fraction)`` exactly (tolerance 0).  The simple scales must come out byte-identical with
and without composites in the file.  The Brief COPE composites (Cooper, Katona & Livingston
2008, J Nerv Ment Dis 196:838-843) go through the installed command on the hand-made mini study
(a non-demo design): check, ingest, score, data dictionary, design and the expectations suites.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.expectations import suite_expectations
from pipeline.instrument_examples import check_library
from pipeline.instruments import Instrument, check_file, load_instrument, load_library
from pipeline.keys import KEY_VARIABLE
from pipeline.scoring import score, score_range
from tests.study_keys import TEST_KEY

ROOT = Path(__file__).parents[1]
INTERVISIE = Path(sys.executable).parent / "intervisie"
COPE = ROOT / "instruments" / "cope.yaml"
COMPOSITES = ["cope_problem_focused", "cope_emotion_focused", "cope_dysfunctional"]

# A made-up instrument (not a shipped one): 7 items on 1..5, items 2 and 6 reverse-keyed; three
# subscales (one flagged below its minimum) and a composite of them that needs 2 of 3.
STRAIN = """
id: strain
version: "1.0"
name: {nl: Spanning, en: Strain}
construct: strain
citation: Made up for a test.
licence: Test only.
response_sets:
  agree5:
    min: 1
    max: 5
    labels: {1: {nl: a, en: a}, 2: {nl: b, en: b}, 3: {nl: c, en: c}, 4: {nl: d, en: d}, 5: {nl: e, en: e}}
    missing_codes: [99]
items:
  - {id: strain_1, label: {nl: een, en: one}}
  - {id: strain_2, label: {nl: twee, en: two}, reverse: true}
  - {id: strain_3, label: {nl: drie, en: three}}
  - {id: strain_4, label: {nl: vier, en: four}}
  - {id: strain_5, label: {nl: vijf, en: five}}
  - {id: strain_6, label: {nl: zes, en: six}, reverse: true}
  - {id: strain_7, label: {nl: zeven, en: seven}}
scales:
  - {id: strain_a, name: {nl: A, en: A}, items: [strain_1, strain_2, strain_3], method: mean, min_items: 2,
     direction: higher_worse}
  - {id: strain_b, name: {nl: B, en: B}, items: [strain_4, strain_5], method: sum, min_items: 2,
     direction: higher_worse}
  - {id: strain_c, name: {nl: C, en: C}, items: [strain_6, strain_7], method: mean, min_items: 2,
     below_min: flag, direction: higher_worse}
  - id: strain_total
    name: {nl: Totaal, en: Total}
    subscales: [strain_a, strain_b, strain_c]
    min_subscales: 2
    method: mean
    direction: higher_worse
    source: Made up for a test.
"""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, KEY_VARIABLE: TEST_KEY}  # the mini study is hand-made (non-demo)
    return subprocess.run([str(INTERVISIE), *args], cwd=cwd, capture_output=True, text=True, check=False, env=env)


def _items(inst: Instrument, scale_id: str) -> list[str]:
    return next(s for s in inst.scales if s.id == scale_id).items


def _hand_composite(inst: Instrument, scale_id: str, answers: dict[str, float | None]) -> Fraction | None:
    """The composite by the README's rule, in exact arithmetic, written without pipeline.scoring."""
    by_id = {s.id: s for s in inst.scales}
    items = {i.id: i for i in inst.items}
    composite = by_id[scale_id]
    total, count, scored = Fraction(0), 0, 0
    for sub_id in composite.subscales or []:
        sub = by_id[sub_id]
        values = []
        for item_id in sub.items:
            code = answers[item_id]
            if code is None:
                continue
            rs = inst.response_set_of(items[item_id])
            values.append(rs.min + rs.max - int(code) if items[item_id].reverse else int(code))
        if len(values) >= sub.min_items:  # the subscale's own score has status ok
            scored += 1
            total += sum(values)
            count += len(values)
    if scored < (composite.min_subscales or 0):
        return None
    return total / count


def _random_answers(inst: Instrument, n: int, seed: int, p_missing: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = {}
    for item in inst.items:
        rs = inst.response_set_of(item)
        codes = rng.integers(rs.min, rs.max + 1, n).astype(float)
        codes[rng.random(n) < p_missing] = np.nan
        frame[item.id] = codes
    return pd.DataFrame(frame, index=pd.RangeIndex(100, 100 + n))


def _check_against_hand(inst: Instrument, responses: pd.DataFrame, composite_ids: list[str]) -> int:
    """Compare every row's composites with the hand computation; return how many rows had a score."""
    scored = score(responses, inst)
    checked = 0
    for scale_id in composite_ids:
        rows = scored[scored["scale"] == scale_id]
        items = _items(inst, scale_id)
        for index, row in zip(responses.index, rows.itertuples(), strict=True):
            answers = {c: (None if np.isnan(v) else v) for c, v in responses.loc[index].items()}
            expected = _hand_composite(inst, scale_id, answers)
            if expected is None:
                assert np.isnan(row.score) and row.score_status == "too_few_items", (scale_id, index)
            else:
                assert row.score == float(expected), (scale_id, index, row.score, expected)  # exact
                assert row.score_status == "ok"
                checked += 1
            assert row.n_items == len(items)
            assert row.n_answered == sum(answers[i] is not None for i in items)
    return checked


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cope() -> Instrument:
    return load_instrument(COPE)


@pytest.fixture(scope="module")
def strain(tmp_path_factory: pytest.TempPathFactory) -> Instrument:
    path = tmp_path_factory.mktemp("lib") / "strain.yaml"
    path.write_text(STRAIN, encoding="utf-8")
    return load_instrument(path)


def test_cope_composites_follow_cooper_2008_and_take_their_items_from_the_subscales(cope: Instrument) -> None:
    by_id = {s.id: s for s in cope.scales}
    assert by_id["cope_problem_focused"].subscales == ["cope_active", "cope_planning", "cope_instrumental_support"]
    assert set(by_id["cope_emotion_focused"].subscales or []) == {
        "cope_acceptance", "cope_emotional_support", "cope_humour", "cope_positive_reframing", "cope_religion",
    }  # fmt: skip
    assert set(by_id["cope_dysfunctional"].subscales or []) == {
        "cope_venting", "cope_denial", "cope_substance_use", "cope_behavioural_disengagement",
        "cope_self_distraction", "cope_self_blame",
    }  # fmt: skip
    # together the three take every item once (Cooper et al.: 6 + 10 + 12 = 28)
    items = [i for c in COMPOSITES for i in by_id[c].items]
    assert sorted(items) == sorted(cope.item_ids())
    assert [by_id[c].direction for c in COMPOSITES] == ["higher_better", "higher_better", "higher_worse"]
    assert [by_id[c].min_subscales for c in COMPOSITES] == [2, 4, 5]
    assert all("doi:10.1097/NMD.0b013e31818b504c" in (by_id[c].source or "") for c in COMPOSITES)
    assert [score_range(cope, by_id[c]) for c in COMPOSITES] == [(1.0, 4.0)] * 3


def test_cope_composites_equal_the_hand_computation_exactly(cope: Instrument) -> None:
    responses = _random_answers(cope, 400, seed=20260, p_missing=0.08)
    checked = _check_against_hand(cope, responses, COMPOSITES)
    assert 300 < checked < 3 * 400  # most rows scored, some not: both branches of the rule are exercised


def test_a_composite_with_reverse_keyed_items_and_flagged_subscales_equals_the_hand_computation(
    strain: Instrument,
) -> None:
    # one row worked out in the test's own words: items 1..7 answered 5, 4, -, 2, 3, 1, -
    # strain_a: 5, 6 - 4 = 2 (2 of 3 >= 2, ok); strain_b: 2 + 3 (ok); strain_c: 6 - 1 = 5 alone,
    # below min_items 2 and only flagged (scored_below_min, not ok): left out of the composite;
    # composite = (5 + 2 + 2 + 3) / 4 = 3
    row = pd.DataFrame([[5, 4, np.nan, 2, 3, 1, np.nan]], columns=strain.item_ids())
    got = score(row, strain).set_index("scale")
    assert got.loc["strain_c", "score_status"] == "scored_below_min" and got.loc["strain_c", "score"] == 5.0
    assert got.loc["strain_total", "score"] == 3.0 and got.loc["strain_total", "n_answered"] == 5
    assert score_range(strain, strain.scales[-1]) == (1.0, 5.0)
    responses = _random_answers(strain, 300, seed=7, p_missing=0.2)
    assert _check_against_hand(strain, responses, ["strain_total"]) > 100


def test_simple_scales_are_byte_identical_with_and_without_composites(cope: Instrument) -> None:
    data = yaml.safe_load(COPE.read_text(encoding="utf-8"))
    data["scales"] = [s for s in data["scales"] if "subscales" not in s]
    data["examples"] = []
    plain = Instrument.model_validate(data)
    responses = _random_answers(cope, 500, seed=3, p_missing=0.1)
    with_composites = score(responses, cope)
    without = score(responses, plain)
    kept = with_composites[~with_composites["scale"].isin(COMPOSITES)]
    pd.testing.assert_frame_equal(kept, without, check_exact=True)
    assert kept["score"].to_numpy().tobytes() == without["score"].to_numpy().tobytes()
    # the composites come after the subscales, in the file's order
    assert list(with_composites["scale"].unique()) == [s.id for s in cope.scales]


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        (lambda c: c.update(subscales=["strain_a", "strain_x"]), "subscales[1]", "'strain_x' is not a scale"),
        (lambda c: c.update(subscales=["strain_a", "strain_a"]), "subscales[1]", "duplicate subscale id"),
        (lambda c: c.update(min_subscales=4), "min_subscales", "min_subscales (4) exceeds the 3 subscales"),
        (lambda c: c.pop("min_subscales"), "min_subscales", "needs min_subscales"),
        (lambda c: c.update(method="sum"), "method", "must use method mean"),
        (lambda c: c.update(below_min="flag"), "below_min", "below_min must be missing"),
        (lambda c: c.update(multiplier=2), "multiplier", "takes no multiplier"),
        (lambda c: c.pop("source"), "source", "needs a source"),
        (lambda c: c.update(direction="higher_better"), "subscales[0]", "opposite directions"),
        (lambda c: c.update(items=["strain_1"]), "items", "leave `items` out"),
        (lambda c: c.update(min_items=1), "min_items", "takes min_items from min_subscales"),
    ],
)
def test_a_broken_composite_is_reported_at_its_line(tmp_path: Path, edit, where: str, message: str) -> None:
    data = yaml.safe_load(STRAIN)
    edit(data["scales"][3])
    path = _write(tmp_path / "strain.yaml", data)
    problems = check_file(path)
    hits = [p for p in problems if p.where == f"scales[3].{where}" and message in p.message]
    assert hits, [str(p) for p in problems]
    lines = path.read_text(encoding="utf-8").splitlines()
    composite_line = next(n for n, line in enumerate(lines, 1) if "id: strain_total" in line)
    assert hits[0].line >= composite_line


def test_composite_of_a_composite_and_min_subscales_on_a_simple_scale_are_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(STRAIN)
    data["scales"].append({**data["scales"][3], "id": "strain_grand", "subscales": ["strain_total", "strain_a"]})
    data["scales"][0]["min_subscales"] = 1
    messages = [str(p) for p in check_file(_write(tmp_path / "strain.yaml", data))]
    assert any("scales[4].subscales[0]" in m and "'strain_total' is a composite" in m for m in messages), messages
    assert any("scales[0].min_subscales" in m and "only a composite" in m for m in messages), messages


def test_the_check_asks_for_a_sheet_that_tests_min_subscales(tmp_path: Path) -> None:
    data = yaml.safe_load(STRAIN)
    data["examples"] = [
        {"answers": [1, 5, 1, 1, 1, 5, 1], "scores": {"strain_a": 1, "strain_b": 2, "strain_c": 1, "strain_total": 1},
         "working": "all ones after reversal; composite 7 / 7 = 1"},
        {"answers": [2, 4, 2, None, 3, 4, 2], "scores": {"strain_b": None, "strain_total": 2},
         "working": "b: one of its two items, no score; a: 2 2 2, c: 2 2 after reversal; (2 x 5) / 5 = 2"},
    ]  # fmt: skip
    path = _write(tmp_path / "strain.yaml", data)
    assert check_library(tmp_path)[path] == []
    # only strain_a loses an item, and 2 of its 3 still give it a score: min_subscales is untested
    data["examples"][1] = {**data["examples"][1], "answers": [None, 4, 2, 2, 2, 4, 2], "scores": {"strain_total": 2}}
    _write(path, data)
    messages = [p.message for p in check_library(tmp_path)[path]]
    assert any("no sheet scores composite 'strain_total' with one of its subscales unscored" in m for m in messages)


def test_the_reliability_of_a_composite_is_alpha_over_its_items(cope: Instrument) -> None:
    from analyses.reliability import reliability_table

    rng = np.random.default_rng(11)
    trait = rng.normal(size=300)
    wide = pd.DataFrame(
        {i: np.clip(np.rint(2.5 + trait + rng.normal(scale=1.0, size=300)), 1, 4) for i in cope.item_ids()}
    )
    scales = {s.id: s.items for s in cope.scales if s.id in COMPOSITES}
    table = reliability_table(wide, scales=scales).set_index("scale")
    for scale_id, items in scales.items():
        x = wide[items].to_numpy()
        k = x.shape[1]
        alpha = k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))  # Cronbach 1951
        assert table.loc[scale_id, "k"] == k
        assert table.loc[scale_id, "alpha"] == pytest.approx(alpha, rel=1e-10)


def test_the_cope_composites_are_outcomes_of_a_non_demo_study_end_to_end(tmp_path: Path) -> None:
    """The mini study gains the Brief COPE at t1 and names the composites as secondary outcomes."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "instruments", project / "instruments")
    shutil.copytree(ROOT / "tests" / "fixtures" / "mini", project / "data_raw" / "mini")
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    survey = project / "data_raw" / "mini" / "survey_t1.csv"
    lines = survey.read_text(encoding="utf-8").splitlines()
    first = [str((i - 1) % 4 + 1) for i in range(1, 29)]  # the file's first worked sheet
    second = ["2"] * 28  # the file's third worked sheet: item 1 = 1, item 2 = 4, 3, 8, 14, 19 blank
    second[0], second[1] = "1", "4"
    for i in (3, 8, 14, 19):
        second[i - 1] = ""
    extra = [",".join(f"cope{i}" for i in range(1, 29)), ",".join(first), ",".join(first), ",".join([""] * 28),
             ",".join(second)]  # fmt: skip
    survey.write_text("\n".join(f"{a},{b}" for a, b in zip(lines, extra, strict=True)) + "\n", encoding="utf-8")
    study_path = project / "data_raw" / "mini" / "study.yaml"
    study = yaml.safe_load(study_path.read_text(encoding="utf-8"))
    study["surveys"][1]["items"]["cope"] = "cope{n}"
    study["outcomes"] = {"primary": ["brs"], "secondary": COMPOSITES}
    study_path.write_text(yaml.safe_dump(study, sort_keys=False, allow_unicode=True), encoding="utf-8")

    for args in (
        ("instruments", "check", "instruments"),
        ("ingest", "--study", "data_raw/mini/study.yaml", "--out", "data_clean"),
        ("score", "--clean", "data_clean", "--out", "data_clean/scale_scores.parquet",
         "--dictionary", "data_clean/data_dictionary.csv"),
        ("design", "--study", "data_raw/mini/study.yaml", "--instruments", "instruments", "--params", "params.yaml",
         "--out", "data_clean/design.json"),
    ):  # fmt: skip
        result = _run(*args, cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr

    scores = pd.read_parquet(project / "data_clean" / "scale_scores.parquet")
    got = scores[scores["scale"].isin(COMPOSITES)].pivot(index="participant", columns="scale", values="score")
    assert len(got) == 2  # P001 and P004 (P002's wave is unknown, P003 answered nothing)
    rows = [list(r) for r in got[COMPOSITES].to_numpy()]
    sheet_one = [13 / 6, 2.8, 29 / 12]  # the file's worked sheet 1: exact quotients of integers
    assert sheet_one in rows
    other = next(r for r in rows if r != sheet_one)
    assert other[0] == 2.5 and other[1] == 2.0 and np.isnan(other[2])
    dictionary = pd.read_csv(project / "data_clean" / "data_dictionary.csv")
    levels = dictionary.loc[dictionary["column"] == "scale", "levels"].iloc[0].split("|")
    assert set(COMPOSITES) <= set(levels)

    design = json.loads((project / "data_clean" / "design.json").read_text(encoding="utf-8"))
    assert design["secondary"] == COMPOSITES
    named = {c: (design["scales"][c]["name_en"], design["scales"][c]["higher_is_better"]) for c in COMPOSITES}
    assert named == {
        "cope_problem_focused": ("Problem-focused coping (Brief COPE)", True),
        "cope_emotion_focused": ("Emotion-focused coping (Brief COPE)", True),
        "cope_dysfunctional": ("Dysfunctional (avoidant) coping (Brief COPE)", False),
    }
    assert all((design["scales"][c]["min"], design["scales"][c]["max"]) == (1.0, 4.0) for c in COMPOSITES)

    suites = suite_expectations(load_library(project / "instruments"))
    rules = {e.meta["rule"] for e in suites["scale_scores"]}
    assert all(f"instruments/cope.yaml: {c} (mean) in 1..4" in rules for c in COMPOSITES)
