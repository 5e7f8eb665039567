"""``check_file`` reports every problem of an instrument file, each at the line where it is.

Each test writes a small broken file to ``tmp_path`` (a one-line change to a valid file) and
asserts the location (``where``), the line and the message of the problem.  The expected line
is found by searching the file text for the changed line, so the tests say *which* line is
meant rather than a bare number.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.instruments import (
    InstrumentError,
    Problem,
    check_directory,
    check_file,
    load_instrument,
    load_library,
)

INSTRUMENTS = Path(__file__).resolve().parents[1] / "instruments"
#: the shipped library, discovered: adding a file needs no change here
SHIPPED = {p.stem for p in INSTRUMENTS.glob("*.yaml")}

VALID = """\
id: bad
version: "1.0"
name: {nl: Slecht, en: Bad}
construct: test
citation: Test citation
licence: MIT
occasion: wave
response_sets:
  agree5:
    min: 1
    max: 5
    labels:
      1: {nl: een, en: one}
      2: {nl: twee, en: two}
      3: {nl: drie, en: three}
      4: {nl: vier, en: four}
      5: {nl: vijf, en: five}
    missing_codes: [99, -9, "n.v.t."]
items:
  - {id: bad_1, label: {nl: een, en: one}}
  - {id: bad_2, label: {nl: twee, en: two}, reverse: true}
  - {id: bad_3, label: {nl: drie, en: three}}
scales:
  - id: bad_total
    name: {nl: Totaal, en: Total}
    items: [bad_1, bad_2, bad_3]
    method: mean
    min_items: 2
    direction: higher_better
"""


def line_no(text: str, needle: str, occurrence: int = 1) -> int:
    """Return the 1-based number of the line holding the ``occurrence``-th ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} occurs {len(hits)} time(s)"
    return hits[occurrence - 1]


def write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edit(old: str, new: str, text: str = VALID) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)


def find(problems: list[Problem], where: str, fragment: str) -> Problem:
    """Return the problem at ``where`` whose message contains ``fragment`` (fail otherwise)."""
    hits = [p for p in problems if p.where == where and fragment in p.message]
    assert hits, f"no problem at {where!r} containing {fragment!r}; got:\n" + "\n".join(map(str, problems))
    return hits[0]


# --------------------------------------------------------------------------- the shipped library


def test_every_shipped_file_checks_clean():
    result = check_directory(INSTRUMENTS)
    assert len(SHIPPED) >= 10 and {p.stem for p in result} == SHIPPED
    assert {str(p): probs for p, probs in result.items() if probs} == {}


def test_every_shipped_instrument_has_an_abbreviation():
    """Reports write a scale as "name (abbreviation)": every file says what readers know it by."""
    missing = sorted(k for k, inst in load_library(INSTRUMENTS).items() if not inst.abbreviation)
    assert not missing, f"add `abbreviation:` (e.g. `abbreviation: BRS`) to instruments/{{{','.join(missing)}}}.yaml"


def test_multiplier_must_be_positive(tmp_path):
    text = edit("    direction: higher_better\n", "    direction: higher_better\n    multiplier: 0\n")
    problem = find(check_file(write(tmp_path, text)), "scales[0].multiplier", "greater than 0")
    assert problem.line == line_no(text, "multiplier: 0")


def test_example_with_wrong_number_of_answers_and_unknown_scale(tmp_path):
    text = VALID + (
        "examples:\n"
        "  - answers: [1, 2]\n"
        "    scores: {bad_total: 2, bad_sum: 4}\n"
        "    working: two answers for three items\n"
    )
    problems = check_file(write(tmp_path, text))
    assert find(problems, "examples[0].answers", "2 answer(s) for the 3 items").line == line_no(text, "answers: [1, 2]")
    assert find(problems, "examples[0].scores.bad_sum", "not a scale").line == line_no(text, "scores:")


def test_load_library_keys():
    library = load_library(INSTRUMENTS)
    assert set(library) == SHIPPED
    assert all(inst.id == key for key, inst in library.items())


def test_the_valid_template_is_valid(tmp_path):
    assert check_file(write(tmp_path, VALID)) == []


# --------------------------------------------------------------------------- one problem each


def test_scale_naming_a_missing_item(tmp_path):
    # Reverse keying is a flag on the item itself (reverse: true), so only a scale can name an
    # item that does not exist; a misspelt or non-boolean reverse flag is tested further down.
    text = edit("items: [bad_1, bad_2, bad_3]", "items: [bad_1, bad_2, bad_9]")
    problem = find(check_file(write(tmp_path, text)), "scales[0].items[2]", "'bad_9' is not an item")
    assert problem.line == line_no(text, "bad_9")


def test_min_greater_than_max(tmp_path):
    text = edit("    min: 1\n", "    min: 6\n")
    problem = find(check_file(write(tmp_path, text)), "response_sets.agree5.min", "min (6) is greater than max (5)")
    assert problem.line == line_no(text, "min: 6")


def test_scale_without_items(tmp_path):
    text = edit("items: [bad_1, bad_2, bad_3]", "items: []")
    problem = find(check_file(write(tmp_path, text)), "scales[0].items", "has no items")
    assert problem.line == line_no(text, "items: []")


def test_duplicate_item_ids(tmp_path):
    text = edit("{id: bad_3,", "{id: bad_2,")
    problems = check_file(write(tmp_path, text))
    problem = find(problems, "items[2]", "duplicate item id 'bad_2'")
    assert problem.line == line_no(text, "{id: bad_2,", occurrence=2)


def test_duplicate_scale_ids(tmp_path):
    second = """\
  - id: bad_total
    name: {nl: Tweede, en: Second}
    items: [bad_1, bad_2]
    method: sum
    min_items: 2
    direction: higher_better
"""
    text = VALID + second
    problem = find(check_file(write(tmp_path, text)), "scales[1]", "duplicate scale id 'bad_total'")
    assert problem.line == line_no(text, "- id: bad_total", occurrence=2)


def test_min_items_larger_than_the_scale(tmp_path):
    text = edit("min_items: 2", "min_items: 4")
    problem = find(check_file(write(tmp_path, text)), "scales[0].min_items", "min_items (4) exceeds the 3 items")
    assert problem.line == line_no(text, "min_items: 4")


def test_labels_not_covering_the_codes(tmp_path):
    text = edit("      5: {nl: vijf, en: five}\n", "")
    problem = find(check_file(write(tmp_path, text)), "response_sets.agree5.labels", "no label for code(s) [5]")
    assert problem.line == line_no(text, "labels:")


def test_label_outside_the_codes(tmp_path):
    text = edit("      5: {nl: vijf, en: five}\n", "      5: {nl: vijf, en: five}\n      6: {nl: zes, en: six}\n")
    problem = find(check_file(write(tmp_path, text)), "response_sets.agree5.labels", "label for code(s) [6] outside")
    assert problem.line == line_no(text, "labels:")


def test_scores_not_covering_the_codes(tmp_path):
    text = edit("    missing_codes:", "    scores: {1: 0, 2: 25, 3: 50, 4: 75}\n    missing_codes:")
    problem = find(check_file(write(tmp_path, text)), "response_sets.agree5.scores", "a value for each code 1..5")
    assert problem.line == line_no(text, "scores:")


def test_missing_code_that_is_a_valid_answer(tmp_path):
    text = edit('missing_codes: [99, -9, "n.v.t."]', 'missing_codes: [99, 3, "n.v.t."]')
    problem = find(
        check_file(write(tmp_path, text)), "response_sets.agree5.missing_codes", "missing code(s) [3] are valid answers"
    )
    assert problem.line == line_no(text, "missing_codes:")


def test_unknown_response_set(tmp_path):
    text = edit(
        "{id: bad_1, label: {nl: een, en: one}}", "{id: bad_1, label: {nl: een, en: one}, response_set: agree7}"
    )
    problem = find(check_file(write(tmp_path, text)), "items[0].response_set", "'agree7' is not a response set")
    assert problem.line == line_no(text, "agree7")


def test_response_set_required_when_there_are_several(tmp_path):
    text = edit(
        "items:\n  - {id: bad_1",
        "  yesno:\n    min: 0\n    max: 1\n    labels: {0: {nl: nee, en: no}, 1: {nl: ja, en: yes}}\nitems:\n  - {id: bad_1",
    )
    problems = check_file(write(tmp_path, text))
    problem = find(problems, "items[0].response_set", "required when there are several response sets")
    assert problem.line == line_no(text, "{id: bad_1")


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("min_items: 2", "min_itmes: 2", "scales[0].min_itmes"),  # typo in a scale
        ("licence: MIT", "licnce: MIT", "licnce"),  # typo at the top
        ("reverse: true}", "reversed: true}", "items[1].reversed"),  # typo in an item
        ("    max: 5\n", "    max: 5\n    maximum: 5\n", "response_sets.agree5.maximum"),
    ],
)
def test_unknown_field(tmp_path, old, new, where):
    text = edit(old, new)
    problem = find(check_file(write(tmp_path, text)), where, "Extra inputs are not permitted")
    assert problem.line == line_no(text, where.rsplit(".", 1)[-1] + ":")


def test_unknown_field_also_reports_the_field_it_replaced(tmp_path):
    text = edit("min_items: 2", "min_itmes: 2")
    problem = find(check_file(write(tmp_path, text)), "scales[0].min_items", "Field required")
    assert problem.line == line_no(text, "- id: bad_total")  # the scale that lacks it


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ('version: "1.0"', 'version: "1.0', 'version: "1.0'),  # unclosed quote: where it opens
        ('[99, -9, "n.v.t."]', '[99, -9, "n.v.t.]', '"n.v.t.]'),  # unclosed up to the end of the file
        ("name: {nl: Slecht, en: Bad}", "name: {nl: Slecht, en: Bad", "construct: test"),  # unclosed brace
        ("    max: 5\n", "   max: 5\n", "   max: 5"),  # bad indentation
        ("citation: Test citation", "citation: Test: citation", "citation: Test: citation"),
    ],
)
def test_invalid_yaml_reports_the_line_of_the_syntax_error(tmp_path, old, new, needle):
    text = edit(old, new)
    problems = check_file(write(tmp_path, text))
    assert len(problems) == 1
    assert problems[0].message.startswith("is not valid YAML")
    assert problems[0].line == line_no(text, needle)


def test_yaml_that_is_not_a_mapping(tmp_path):
    problems = check_file(write(tmp_path, "- id: bad\n- version: 1\n"))
    assert [(p.line, p.message) for p in problems] == [(1, "must be a mapping of instrument fields")]


def test_id_differing_from_the_file_name(tmp_path):
    path = write(tmp_path, VALID, name="other.yaml")
    problem = find(check_file(path), "id", "'bad' differs from the file name")
    assert problem.line == 1


@pytest.mark.parametrize(
    ("old", "new", "where", "fragment"),
    [
        ("min_items: 2", "min_items: two", "scales[0].min_items", "valid integer"),
        ("    max: 5\n", "    max: five\n", "response_sets.agree5.max", "valid integer"),
        ('version: "1.0"', "version: 1.0", "version", "valid string"),
        ("reverse: true}", "reverse: maybe}", "items[1].reverse", "valid boolean"),
        ("method: mean", "method: median", "scales[0].method", "'mean', 'sum', 'prorated_sum' or 'pomp'"),
        ("items: [bad_1, bad_2, bad_3]", "items: bad_1", "scales[0].items", "valid list"),
        ("min_items: 2", "min_items: 0", "scales[0].min_items", "greater than or equal to 1"),
        ("id: bad_total", "id: Bad-Total", "scales[0].id", "should match pattern"),
    ],
)
def test_wrong_type_or_value(tmp_path, old, new, where, fragment):
    text = edit(old, new)
    problem = find(check_file(write(tmp_path, text)), where, fragment)
    assert problem.line == line_no(text, new.strip().split("\n")[-1].split("}")[0])


# --------------------------------------------------------------------------- many problems at once


def test_several_problems_are_all_reported(tmp_path):
    text = VALID
    text = edit("    min: 1\n", "    min: 6\n", text)  # 1: min > max
    text = edit("{id: bad_3,", "{id: bad_2,", text)  # 2: duplicate item id
    text = edit("reverse: true}", "reverse: maybe}", text)  # 3: wrong type
    text = edit("method: mean", "method: meen", text)  # 4: bad value in scale 0
    text = edit("licence: MIT", "licnce: MIT", text)  # 5: unknown field (and 6: licence missing)
    text += """\
  - id: bad_other
    name: {nl: Ander, en: Other}
    items: [bad_1, bad_9]
    method: sum
    min_items: 3
    direction: higher_better
"""  # 7: names a missing item; 8: min_items 3 > 2 items (in a scale after a broken one)
    path = write(tmp_path, text, name="wrong_name.yaml")  # 9: id differs from the file name
    problems = check_file(path)
    expected = [
        ("response_sets.agree5.min", "greater than max", line_no(text, "min: 6")),
        ("items[2]", "duplicate item id 'bad_2'", line_no(text, "{id: bad_2,", occurrence=2)),
        ("items[1].reverse", "valid boolean", line_no(text, "reverse: maybe")),
        ("scales[0].method", "'mean', 'sum'", line_no(text, "method: meen")),
        ("licnce", "Extra inputs", line_no(text, "licnce")),
        ("licence", "Field required", 1),
        ("scales[1].items[1]", "'bad_9' is not an item", line_no(text, "bad_9")),
        ("scales[1].min_items", "exceeds the 2 items", line_no(text, "min_items: 3")),
        ("id", "differs from the file name", 1),
    ]
    for where, fragment, line in expected:
        assert find(problems, where, fragment).line == line, where
    assert len(problems) == len(expected), "\n".join(map(str, problems))


def test_a_broken_response_set_does_not_make_its_items_fail(tmp_path):
    # the label of code 5 lacks its English text: that is the one problem, not also
    # "'agree5' is not a response set" on every item answered on it
    text = edit("      5: {nl: vijf, en: five}", "      5: {nl: vijf}")
    text = edit(
        "{id: bad_1, label: {nl: een, en: one}}", "{id: bad_1, label: {nl: een, en: one}, response_set: agree5}", text
    )
    problems = check_file(write(tmp_path, text))
    assert [(p.where, p.line) for p in problems] == [
        ("response_sets.agree5.labels[5].en", line_no(text, "5: {nl: vijf}"))
    ]


def test_problem_prints_as_file_line_where_message(tmp_path):
    text = edit("min_items: 2", "min_items: 4")
    path = write(tmp_path, text)
    (problem,) = check_file(path)
    assert (
        str(problem)
        == f"{path}:{line_no(text, 'min_items: 4')}: scales[0].min_items: min_items (4) exceeds the 3 items"
    )


def test_load_instrument_raises_with_every_problem(tmp_path):
    text = edit("min_items: 2", "min_items: 4", edit("    min: 1\n", "    min: 6\n"))
    with pytest.raises(InstrumentError) as info:
        load_instrument(write(tmp_path, text))
    assert {p.where for p in info.value.problems} == {"response_sets.agree5.min", "scales[0].min_items"}


def test_load_library_fails_with_the_problems_of_all_files(tmp_path):
    write(tmp_path, VALID)
    write(tmp_path, edit("id: bad\n", "id: worse\n", edit("min_items: 2", "min_items: 4")), name="worse.yaml")
    write(tmp_path, edit("id: bad\n", "id: broken\n", edit('version: "1.0"', 'version: "1.0')), name="broken.yaml")
    with pytest.raises(InstrumentError) as info:
        load_library(tmp_path)
    assert sorted((p.file.name, p.where) for p in info.value.problems) == [
        ("broken.yaml", ""),
        ("worse.yaml", "scales[0].min_items"),
    ]


def test_load_library_of_an_empty_directory_fails(tmp_path):
    with pytest.raises(InstrumentError, match="holds no instrument files"):
        load_library(tmp_path)


def test_a_scale_id_used_by_two_instruments_is_reported_and_stops_loading(tmp_path: Path) -> None:
    import shutil

    from pipeline.instruments import InstrumentError, check_directory, load_library

    library = tmp_path / "instruments"
    library.mkdir()
    shutil.copy(INSTRUMENTS / "brs.yaml", library / "brs.yaml")
    text = (INSTRUMENTS / "brs.yaml").read_text(encoding="utf-8").replace("id: brs\n", "id: brs_copy\n", 1)
    (library / "brs_copy.yaml").write_text(text, encoding="utf-8")
    found = check_directory(library)
    assert found[library / "brs.yaml"] == []
    [problem] = found[library / "brs_copy.yaml"]
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.strip() == "- id: brs")
    assert (problem.line, problem.where) == (line, "scales[0].id")
    assert "scale id 'brs' is also used by brs.yaml" in problem.message
    with pytest.raises(InstrumentError, match="scale ids must be unique"):
        load_library(library)
