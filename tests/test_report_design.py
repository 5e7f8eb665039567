"""The documents are written from the study's design: odd designs get their own, true sentences.

Known answers: a single-arm, two-wave, one-programme study (tests/report_fixtures.py) has no
comparison group and no long-term change, so its documents must say so plainly, print the
within-intervisie change exactly as ``growth/effects.csv`` holds it, name no programme, wave
or outcome it lacks, and read the numbers a decision would need from ``power/sample_size.csv``
when a CI is too wide to tell benefit from harm (0.2 SD either way).  Absent results give one
sentence; the methods appendix lists every skipped analysis with its reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from reporting import appendix, board, board_tables, handout, methods, methods_text
from reporting.effects import Effect
from reporting.publish import plain
from reporting.results import Results
from tests.report_fixtures import (
    EFFECT_COLUMNS,
    ENROL_D02,
    ENROL_D05,
    GROUPS_D02,
    make_design,
    single_arm_two_wave_results,
    write,
)

ROOT = Path(__file__).parents[1]
PILOT = make_design(comparison=False, waves={"t0": 0, "t1": 3}, programmes=["coschappen"], title="Pilot zonder controle")


@pytest.fixture()
def res(tmp_path: Path) -> Results:
    return Results(single_arm_two_wave_results(tmp_path / "results"))


def test_single_arm_answer_says_there_is_no_comparison_group_and_reports_change(res: Results) -> None:
    text = plain(board.answer(res, PILOT, "nl"))  # as a reader sees it: without the disclosure spans
    assert "geen vergelijkingsgroep" in text
    assert "dan de vergelijkingsgroep" not in text and "intervisie helpt" not in text
    assert "0,45 SD [0,30; 0,60]" in text  # the planted std_estimate of `short`, as written
    assert "kleine verbetering" in text
    english = board.answer(res, PILOT, "en")
    assert "no comparison group" in english and "comparison group over" not in english


def test_two_waves_have_no_long_term_rows_or_sentences(res: Results) -> None:
    for text in (board.answer(res, PILOT, "nl"), board_tables.effects_table(res, PILOT, "nl"),
                 handout.sample_sizes(res, PILOT, "nl"), handout.needs(res, PILOT, "nl")):  # fmt: skip
        assert "per jaar" not in text.lower() and "daarna per" not in text
    assert "Per year" not in board_tables.effects_table(res, PILOT, "en")
    rows = [line for line in handout.sample_sizes(res, PILOT, "nl").splitlines() if line.startswith("| Werk")]
    assert len(rows) == 3  # observed, d = 0.2 and d = 0.5 of the short term only: the `long` rows are left out
    assert "alleen bij de start en na 3 maanden" in handout.needs(res, PILOT, "nl")


def test_title_and_programmes_come_from_the_design(res: Results) -> None:
    title = board.title(PILOT, "nl")
    assert title.startswith("# Pilot zonder controle\n")
    assert "coschappen" in title and "buitenlandse artsen" not in title and "a(n)ios" not in title
    assert "zonder vergelijkingsgroep" in title and "lange termijn" not in title
    assert board_tables.by_programme(res, PILOT, "nl") == ""  # one programme: no table by programme
    assert handout.intro(PILOT, "en").startswith("# Pilot zonder controle")


def test_a_wide_interval_says_the_study_was_too_small_with_numbers_read_from_power(res: Results) -> None:
    text = plain(board.answer(res, PILOT, "en"))
    line = next(b for b in text.splitlines() if "too small to tell" in b)
    assert line.startswith("- **Work-related burnout (CBI): too small to tell.**")
    assert "improvement of 0.35 to a deterioration of 0.25" in line  # lower is better: -0.35 is the benefit
    assert f"{ENROL_D02} participants for a change of 0.20 SD ({GROUPS_D02} groups)" in line  # one arm: no "per arm"
    assert f"{ENROL_D05} participants for" in line and "99999" not in line  # the observed row is not a target
    assert "not that it is due to intervisie" in line
    assert "too small" not in text.split("Work-related burnout (CBI): too small")[0]  # BRS is not wide


def test_width_rule_is_two_tenths_of_an_sd_both_ways() -> None:
    def effect(low: float, high: float, better_higher: bool = True) -> Effect:
        return Effect("x", 0.0, low, high, 0.0, low, high, better_higher)

    assert effect(-0.2, 0.2).wide and effect(-0.5, 0.9).wide
    assert not effect(-0.19, 0.5).wide and not effect(-0.5, 0.19).wide and not effect(0.1, 0.9).wide
    assert effect(-0.3, 0.2, better_higher=False).wide


def test_absent_results_give_one_sentence_not_a_crash(res: Results, tmp_path: Path) -> None:
    assert board_tables.drivers(res, PILOT, "en").startswith("*The analysis of implementation factors could not be")
    assert "the study has no session log" in board_tables.drivers(res, PILOT, "en")
    assert handout.leaving(res, PILOT, "nl") == "*De analyse van uitval is voor deze studie niet beschikbaar.*\n"
    assert handout.factors(res, PILOT, "nl").count("\n") == 1
    assert board_tables.multiplicity(res, PILOT, "nl") == ""
    for section in (appendix.multiplicity, appendix.sensitivity, appendix.implementation, appendix.survival):
        text = section(res, PILOT)
        assert text.startswith("*") and text.count("\n") == 1, text
    empty = Results(tmp_path / "nothing")
    assert board.answer(empty, PILOT, "nl").startswith("*Het effect op de hoofduitkomsten is")
    assert board.data_quality(empty, PILOT, {}, "en").startswith("*The account of response")
    assert board_tables.trajectory_png(empty, PILOT, "nl") is None
    assert methods.flow(empty, PILOT).startswith("*") and methods.growth_models(empty, PILOT).count("*The growth") == 1


def test_methods_appendix_lists_every_skipped_analysis_with_its_reason(res: Results) -> None:
    table = methods_text.skipped(res, PILOT)
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [r.split("|")[1].strip() for r in rows] == ["`change`", "`growth`", "`growth`", "`implementation`"]
    assert "no comparison cohort: the difference between arms cannot be estimated" in table
    assert "one programme: nothing to compare" in table


def test_methods_appendix_describes_this_design_only(res: Results) -> None:
    text = methods_text.study_design(PILOT) + methods.short_term(res, PILOT) + methods.growth_models(res, PILOT)
    assert "no comparison group" in text and "in one programme (clerkships (coschappen))" in text
    for absent in ("t2", "t3", "foreign-trained", "12 months", "`long`", "difference in change at",
                   "difference in change over", "Long-term", "Intervisie vs comparison"):
        assert absent not in text.replace("no `long` term", ""), absent
    assert "`y ~ short`" in text
    patterns = methods.missing_patterns(res, PILOT)
    assert "`01`" in patterns and "`10`" in patterns and "`0001`" not in patterns  # one digit per wave


def test_numbers_about_fewer_than_min_cell_people_stay_hidden(tmp_path: Path) -> None:
    root = single_arm_two_wave_results(tmp_path / "results", n=4)
    table = board_tables.effects_table(Results(root), PILOT, "nl")
    assert "0,45" not in table and table.count("×") >= 4


def test_handout_names_cox_terms_from_the_design() -> None:
    demo = make_design(comparison=True, waves={"t0": 0, "t1": 3, "t2": 12}, programmes=["anios", "coschappen", "buitenlandse_artsen"])  # fmt: skip
    terms = ["programme_coschappen", "programme_buitenlandse_artsen_months_0_12", "brs_z", "format_online"]
    named = [handout.cox_term(demo, t, terms, "nl") for t in terms]
    assert named == ["coschappen (t.o.v. a(n)ios)", "buitenlandse artsen (t.o.v. a(n)ios); 0-12 maanden",
                     "Veerkracht (BRS) bij de start (per SD)", "online in plaats van fysiek"]  # fmt: skip


def test_two_arm_lead_and_for_whom_follow_the_results(tmp_path: Path) -> None:
    design = make_design(comparison=True, waves={"t0": 0, "t1": 6, "t2": 18}, programmes=["coschappen", "anios"],
                         assignment="randomised")
    root = tmp_path / "results"
    arms = [{"outcome": o, "programme": p, "level_a": "intervisie", "level_b": "comparison", "n_a": na, "n_b": nb,
             "mean_a": 0.2, "mean_b": 0.0, "mean_diff": 0.2, "d": g, "g": g, "ci95_low": g - 0.1, "ci95_high": g + 0.1}
            for o, g in (("brs", 0.4), ("cbi_work", -0.4)) for p, na, nb in (("all", 100, 40), ("coschappen", 60, 20),
                                                                            ("anios", 40, 20))]  # fmt: skip
    write(root, "change", "between_arms", arms)
    write(root, "growth", "effects", [{"outcome": "brs", "term": "long:armintervisie", "estimate": 0.1, "ci95_low": 0.05,
                                       "ci95_high": 0.15, "n": 140, "std_estimate": 0.2, "std_ci95_low": 0.1,
                                       "std_ci95_high": 0.3}], EFFECT_COLUMNS)  # fmt: skip
    write(root, "growth", "moderation", [{"outcome": "brs", "terms": "t", "chisq": 1.0, "df": 2, "p_val": 0.6},
                                         {"outcome": "cbi_work", "terms": "t", "chisq": 1.0, "df": 2, "p_val": 0.7}])  # fmt: skip
    text = plain(board.answer(Results(root), design, "nl"))
    assert text.startswith("**Ja: intervisie helpt.**") and "eerste 6 maanden" in text
    assert "tussen coschappen en a(n)ios" in text and "buitenlandse" not in text
    assert "daarna per jaar: zeer kleine verbetering" not in text and "daarna per jaar: kleine verbetering (0,20 SD" in text
    assert "de verandering daarna is niet geschat" in text  # cbi_work has no long-term row
    table = plain(board_tables.by_programme(Results(root), design, "en"))
    assert "| residents (a(n)ios) | 40 | 20 | 0.40 [0.30, 0.50] |" in table
    assert "Effect after 6 months by programme" in table
    assert board_tables.reliable_change_table(Results(root), design, "en") == "*Reliable change is not available for this study.*\n"


def test_reporting_holds_no_demo_name_of_an_instrument_programme_wave_or_method() -> None:
    names = ["coschappen", "anios", "buitenlandse", "foreign-trained", "incidentmethode", "roddelmethode", "burn-out",
             "burnout (", "resilience", "veerkracht", "cbi_work", "brs", "uwes", "olbi", "gras"]  # fmt: skip
    for path in sorted((ROOT / "reporting").glob("*.py")):
        source = path.read_text(encoding="utf-8").lower()
        for name in names:
            assert name not in source, f"{path.name} names {name!r}: take it from the design"
        assert not re.search(r"[\"']t[0-9][\"']", source), f"{path.name} names a wave id"


def test_two_wave_handout_sample_sizes_keep_only_the_short_term_wave(res: Results) -> None:
    table = handout.sample_sizes(res, PILOT, "en")
    assert table.count("| 3 months |") == 3 and str(ENROL_D02) in table
    assert pd.read_csv(res.root / "power" / "sample_size.csv")["horizon"].eq("long").any()  # the file has long rows


def test_two_arm_wide_interval_reads_participants_per_arm(tmp_path: Path) -> None:
    design = make_design(comparison=True, waves={"t0": 0, "t1": 3}, programmes=["anios"])
    root = tmp_path / "results"
    write(root, "change", "between_arms", [{"outcome": "brs", "programme": "all", "level_a": "intervisie",
                                            "level_b": "comparison", "n_a": 30, "n_b": 12, "mean_diff": 0.02, "mean_a": 0.1,
                                            "mean_b": 0.08, "d": 0.05, "g": 0.05, "ci95_low": -0.3, "ci95_high": 0.4}])  # fmt: skip
    write(root, "power", "sample_size", [{"outcome": "brs", "horizon": "short", "wave": "t1", "basis": "d=0.35",
                                          "effect_d": 0.35, "n_enrol": 777, "groups_needed": 55, "alpha": 0.05,
                                          "power": 0.9}])  # fmt: skip
    text = board.answer(Results(root), design, "nl")
    assert "**Veerkracht (BRS): te klein om te beslissen.**" in text
    assert "777 deelnemers per arm voor een verschil van 0,35 SD (55 groepen)" in text and "power 90%" in text
    assert "Werkgerelateerde" not in text  # no result for it: no bullet, no claim


@pytest.mark.slow
@pytest.mark.parametrize(("name", "lang"), [("board", "en"), ("methods", "en"), ("handout", "nl")])
def test_every_document_renders_a_single_arm_two_wave_study(name: str, lang: str, tmp_path: Path) -> None:
    from reporting.execute import execute, to_markdown, to_notebook
    from reporting.qmd import read_qmd

    root = single_arm_two_wave_results(tmp_path / "results")
    (root / "design.json").write_text(PILOT.to_json(), encoding="utf-8")
    parameters = {"lang": lang, "results": str(root), "design_file": str(root / "design.json"), "site": str(tmp_path),
                  "params_file": str(ROOT / "params.yaml"), "dvc_lock": str(ROOT / "dvc.lock"), "render_date": "2026-01-01"}  # fmt: skip
    markdown = to_markdown(execute(to_notebook(read_qmd(ROOT / "reports" / f"{name}.qmd"), parameters), cwd=ROOT / "reports"),
                           defaults={"echo": False}, figure_dir=tmp_path / "fig", stem=name)  # fmt: skip
    body = markdown.split("{#provenance}")[0]
    assert body.startswith("# ") and "Pilot zonder controle" in body.splitlines()[0]
    for lacking in ("buitenlandse", "foreign-trained", "a(n)ios", "24 maanden", "24 months", "12 months", "`t2`", "t3"):
        assert lacking not in body, lacking
    if name == "board":
        assert ("geen vergelijkingsgroep" if lang == "nl" else "no comparison group") in body
        assert ("te klein om te beslissen" if lang == "nl" else "too small to tell") in body
    if name == "methods":
        assert "no comparison cohort: the difference between arms cannot be estimated" in body
