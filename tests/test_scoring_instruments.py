"""Hand-worked answer sheets for every shipped instrument, and the generic rules of ``score``.

The sheets of each instrument are in its file (``examples:``, instruments/README.md), with the
arithmetic in ``working``: which items are reverse-keyed and what they become, the sum, the
divisor.  The generic rules below carry theirs in comments.  Reverse keying is
``s_min + s_max - s`` on the scored values (``pipeline.scoring.scored_values``).  The same
numbers follow in R from ``rowMeans(x, na.rm = TRUE)`` / ``rowSums`` on the reversed items.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from pipeline.instrument_examples import check_library, coverage_problems, example_problems, expected_value
from pipeline.instruments import Instrument, load_library
from pipeline.scoring import SCORE_COLUMNS, ScoringError, score, score_range

INSTRUMENTS = Path(__file__).resolve().parents[1] / "instruments"
NA = np.nan
TOL = {"rtol": 0, "atol": 1e-9}


@pytest.fixture(scope="module")
def library() -> dict[str, Instrument]:
    return load_library(INSTRUMENTS)


# --------------------------------------------------------------------------- CBI structure


def test_cbi_response_sets_follow_the_original(library):
    # frequency wording: personal 1-6, work 10-13, patient 18-19; degree wording: 7-9, 14-17
    inst = library["cbi"]
    by_set = {n: inst.items[n - 1].response_set for n in range(1, 20)}
    assert [n for n, rs in by_set.items() if rs == "degree5"] == [7, 8, 9, 14, 15, 16, 17]
    assert [n for n, rs in by_set.items() if rs == "frequency5"] == [1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 18, 19]
    assert [i.id for i in inst.items if i.reverse] == ["cbi_13"]
    for rs in inst.response_sets.values():
        assert rs.scores == {1: 100, 2: 75, 3: 50, 4: 25, 5: 0}


# --------------------------------------------------------------------------- hand-worked sheets
# The sheets live in each instrument file (``examples:``), with the arithmetic in ``working``,
# so that a methodologist adds them without writing Python; every file of instruments/ is
# discovered here, none is listed by hand.

SHIPPED = sorted(INSTRUMENTS.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_hand_worked_sheets_score_as_worked_out(path: Path, library) -> None:
    problems = example_problems(path, library[path.stem])
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_instrument_has_hand_worked_sheets(path: Path, library) -> None:
    """At least two sheets, every scale worked out, an unanswered item, a reversed item off its middle."""
    problems = coverage_problems(path, library[path.stem])
    assert not problems, "\n".join(map(str, problems))


def test_a_sheet_that_the_key_does_not_reproduce_is_reported_at_its_line(tmp_path: Path) -> None:
    # PSS-10 with item 4 no longer reverse-keyed: sheet 1 (4 4 4 0 0 4 0 0 4 4) then gives
    # 24 + item 4 as coded 0 + items 5 7 8 reversed 3 x 4 = 36, not the 40 worked out by hand
    text = (INSTRUMENTS / "pss10.yaml").read_text(encoding="utf-8")
    old = "en: confident handling own problems}, reverse: true}"
    assert text.count(old) == 1
    path = tmp_path / "pss10.yaml"
    path.write_text(text.replace(old, "en: confident handling own problems}}"), encoding="utf-8")
    problems = check_library(tmp_path)[path]
    lines = text.splitlines()
    first = next(n for n, line in enumerate(lines, 1) if "scores: {pss10: 40}" in line)
    second = next(n for n, line in enumerate(lines, 1) if "scores: {pss10: 16}" in line)
    # sheet 2 (0 1 2 3 4 0 1 2 3 4): item 4 kept as 3 instead of 1: 16 + 2 = 18
    assert [(p.line, p.where) for p in problems] == [
        (first, "examples[0].scores.pss10"),
        (second, "examples[1].scores.pss10"),
    ]
    assert "worked out by hand as 40, but the scoring rules of this file give 36 (ok)" in problems[0].message
    assert "give 18 (ok)" in problems[1].message


def test_an_instrument_without_sheets_is_told_what_to_add(tmp_path: Path) -> None:
    text = (INSTRUMENTS / "who5.yaml").read_text(encoding="utf-8")
    path = tmp_path / "who5.yaml"
    path.write_text(text[: text.index("# Hand-worked answer sheets")], encoding="utf-8")
    (problem,) = check_library(tmp_path)[path]
    assert problem.where == "examples"
    assert "0 hand-worked answer sheet(s); at least 2 are required" in problem.message
    assert "under `examples:` in who5.yaml (see instruments/README.md#worked-examples)" in problem.message


def test_sheets_that_leave_the_key_untested_are_reported(tmp_path: Path) -> None:
    # BRS with only its two sheets that answer every item, both on the middle code 3
    text = (INSTRUMENTS / "brs.yaml").read_text(encoding="utf-8")
    head = text[: text.index("examples:")]
    sheets = (
        "examples:\n"
        "  - {answers: [3, 3, 3, 3, 3, 3], scores: {brs: 3}, working: all 3}\n"
        "  - {answers: [5, 3, 5, 3, 5, 3], scores: {brs: 4}, working: 'reversed 3 -> 3: 24 / 6'}\n"
    )
    path = tmp_path / "brs.yaml"
    path.write_text(head + sheets, encoding="utf-8")
    messages = [p.message for p in check_library(tmp_path)[path]]
    assert len(messages) == 2
    assert messages[0].startswith("no sheet leaves an item unanswered")
    assert messages[1].startswith("no sheet answers a reverse-keyed item off the middle")


def test_expected_scores_may_be_arithmetic_but_nothing_else() -> None:
    assert_allclose(expected_value("67 / 19 * 23"), 67 / 19 * 23, rtol=0, atol=0)
    assert_allclose(expected_value("-(1 + 2) / 4"), -0.75, rtol=0, atol=0)
    assert expected_value(None) is None and expected_value(4) == 4.0
    for bad in ("__import__('os')", "2 ** 10", "x / 2", "1 / 0", "3,5"):
        with pytest.raises(ValueError, match="not arithmetic"):
            expected_value(bad)


# --------------------------------------------------------------------------- generic rules of score()


def synthetic(**scale_overrides) -> Instrument:
    """Four items on 1..5, item 4 reverse-keyed, and one scale per method over all four."""
    scales = [
        {
            "id": method,
            "name": {"nl": method, "en": method},
            "items": ["t_1", "t_2", "t_3", "t_4"],
            "method": method,
            "min_items": 2,
            "direction": "higher_better",
        }
        for method in ("mean", "sum", "prorated_sum", "pomp")
    ]
    scales.append(
        {
            "id": "times",
            "name": {"nl": "x", "en": "x"},
            "items": ["t_1", "t_2", "t_3", "t_4"],
            "method": "sum",
            "multiplier": 2.5,
            "min_items": 2,
            "direction": "higher_better",
        }
    )
    scales.append(
        {
            "id": "flagged",
            "name": {"nl": "f", "en": "f"},
            "items": ["t_1", "t_2", "t_3", "t_4"],
            "method": "mean",
            "min_items": 4,
            "below_min": "flag",
            "direction": "higher_better",
        }
        | scale_overrides
    )
    return Instrument.model_validate(
        {
            "id": "t",
            "version": "1",
            "name": {"nl": "t", "en": "t"},
            "construct": "test",
            "citation": "test",
            "licence": "MIT",
            "response_sets": {
                "agree5": {
                    "min": 1,
                    "max": 5,
                    "labels": {c: {"nl": str(c), "en": str(c)} for c in range(1, 6)},
                    "missing_codes": [99, -9, "n.v.t."],
                }
            },
            "items": [{"id": f"t_{n}", "label": {"nl": "x", "en": "x"}, "reverse": n == 4} for n in range(1, 5)],
            "scales": scales,
        }
    )


def test_sum_prorated_sum_pomp_and_mean_differ_as_defined():
    inst = synthetic()
    responses = pd.DataFrame(
        {"t_1": [5, 1, NA], "t_2": [3, 1, NA], "t_3": [NA, 1, NA], "t_4": [2, 5, NA]}, index=["a", "b", "c"]
    )
    res = score(responses, inst)
    assert list(res.columns) == SCORE_COLUMNS
    got = res.reset_index().pivot(index="index", columns="scale", values="score")
    # a: item 4 2 -> 6 - 2 = 4; answered values 5 3 4 (item 3 missing)
    #    sum 12; mean 4; prorated 4 x 4 items = 16; pomp 100 (4 - 1) / (5 - 1) = 75
    assert_allclose(got.loc["a", ["sum", "mean", "prorated_sum", "pomp"]], [12, 4, 16, 75], **TOL)
    # b: item 4 5 -> 1; values 1 1 1 1: sum 4, mean 1, prorated 4, pomp 0
    assert_allclose(got.loc["b", ["sum", "mean", "prorated_sum", "pomp"]], [4, 1, 4, 0], **TOL)
    # c: nothing answered: every method missing, never 0
    assert got.loc["c"].isna().all()
    assert (res.loc["c", "n_answered"] == 0).all()
    assert (res.loc["c", "score_status"] == "too_few_items").sum() == 5


def test_multiplier_scales_the_combined_score():
    """``multiplier: c`` multiplies the combined score (WHO-5: raw sum x 4, Topp et al. 2015)."""
    inst = synthetic()
    responses = pd.DataFrame({"t_1": [5, 1, 5], "t_2": [3, 1, NA], "t_3": [NA, 1, NA], "t_4": [2, 5, NA]})
    got = score(responses, inst).reset_index().pivot(index="index", columns="scale", values="score")
    # row 0: item 4 2 -> 4; sum 5 + 3 + 4 = 12, x 2.5 = 30
    # row 1: values 1 1 1 1 (item 4 5 -> 1): sum 4, x 2.5 = 10
    # row 2: 1 answered < min_items 2: no score (a multiplier never makes a score out of none)
    assert_allclose(got["times"].to_numpy(), [30.0, 10.0, NA], **TOL)
    # range: sum of 2..4 items on 1..5 is 2..20, x 2.5 = 5..50
    times = next(s for s in inst.scales if s.id == "times")
    assert_allclose(score_range(inst, times), (5.0, 50.0), **TOL)


def test_who5_percentage_score_is_the_raw_sum_times_four(library):
    # Topp et al. 2015: raw score = sum of five items on 0..5 (0-25), percentage score = raw x 4
    who5 = library["who5"]
    sheets = pd.DataFrame([[5, 4, 3, 2, 1], [0, 0, 0, 0, 0], [5, 5, 5, 5, 5]], columns=who5.item_ids())
    assert_allclose(score(sheets, who5)["score"].to_numpy(), [60.0, 0.0, 100.0], **TOL)


def test_below_min_flag_keeps_the_score_and_marks_it():
    inst = synthetic()
    responses = pd.DataFrame({"t_1": [5, 2], "t_2": [3, 2], "t_3": [NA, 2], "t_4": [2, 2]}, index=["a", "b"])
    res = score(responses, inst)
    flagged = res[res["scale"] == "flagged"]
    # a: 3 of 4 answered < min_items 4, below_min flag: mean (5 + 3 + 4) / 3 = 4 kept, flagged
    assert flagged.loc["a", "score_status"] == "scored_below_min"
    assert_allclose(flagged.loc["a", "score"], 4.0, **TOL)
    # b: all answered, item 4 2 -> 4: (2 + 2 + 2 + 4) / 4 = 2.5, ok
    assert flagged.loc["b", "score_status"] == "ok"
    assert_allclose(flagged.loc["b", "score"], 2.5, **TOL)
    # the same row on a below_min: missing scale would be missing instead
    missing = score(responses, synthetic(below_min="missing"))
    row = missing[missing["scale"] == "flagged"].loc["a"]
    assert row["score_status"] == "too_few_items" and np.isnan(row["score"])


def test_pomp_uses_scored_values_not_codes(library):
    # CBI work scale, all seven answered "sometimes" (code 3 = 50, item 13 reversed 100 - 50 = 50):
    # mean 50 on the 0..100 value range -> POMP 100 (50 - 0) / (100 - 0) = 50, not (3 - 1) / 4
    cbi = library["cbi"]
    pomp = cbi.model_copy(update={"scales": [cbi.scales[1].model_copy(update={"method": "pomp"})]})
    res = score(pd.DataFrame([[3] * 19], columns=cbi.item_ids()), pomp)
    assert_allclose(res["score"].iloc[0], 50.0, **TOL)


@pytest.mark.parametrize("bad", [6, 0, 2.5, "n.v.t.", 99])
def test_code_outside_the_response_set_raises(bad):
    inst = synthetic()
    responses = pd.DataFrame({"t_1": [1, bad], "t_2": [1, 1], "t_3": [1, 1], "t_4": [1, 1]}, index=["ok", "bad"])
    with pytest.raises(ScoringError, match=r"item 't_1'.*1\.\.5.*row 'bad'"):
        score(responses, inst)


def test_missing_item_column_raises():
    inst = synthetic()
    responses = pd.DataFrame({"t_1": [1], "t_2": [1], "t_4": [1]})
    with pytest.raises(ScoringError, match=r"lack the item column\(s\) \['t_3'\]"):
        score(responses, inst)


def test_index_and_extra_columns_are_kept_and_ignored():
    inst = synthetic()
    responses = pd.DataFrame(
        {"t_1": [4], "t_2": [4], "t_3": [4], "t_4": [2], "participant": ["p1"]}, index=pd.Index(["x"], name="row")
    )
    res = score(responses, inst)
    assert list(res.index.unique()) == ["x"] and res.index.name == "row"
    assert len(res) == len(inst.scales)
