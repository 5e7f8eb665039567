"""Defects a user met on a real study, each pinned by a test on tests/real_study.py's exports.

1. sessions numbered per group (``session_id_scope: group``); 2. sessions and attendance as two
sheets of one workbook; 3. per-study and per-export missing codes; 4. zero-padded item patterns;
5. a single-arm roster without an ``arm`` column.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from intervisie.stages.ingest import run_ingest
from pipeline.errors import InputError
from pipeline.instruments import load_library
from pipeline.items import item_columns
from pipeline.pseudonymise import pseudonym
from pipeline.study import SurveySource, load_study
from tests.real_study import STUDY, write_study
from tests.test_ingest import INSTRUMENTS, PARAMS

KEY = "test-key-for-the-real-study-defects-0123456789"


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("INTERVISIE_PSEUDONYM_KEY", KEY)
    return KEY.encode()


def ingest(folder: Path, out: Path) -> pd.DataFrame:
    run_ingest(folder / "study.yaml", INSTRUMENTS, PARAMS, out, lambda _: None)
    return pd.read_parquet(out / "quality" / "row_accounting.parquet").set_index("source_file")


@pytest.fixture
def pilot(tmp_path: Path, keyed: bytes) -> Path:
    out = tmp_path / "clean"
    ingest(write_study(tmp_path / "raw"), out)
    return out


def issues(out: Path) -> set[tuple[str, int, str, str]]:
    frame = pd.read_parquet(out / "quality" / "issues.parquet")
    return set(frame[["source_file", "source_row", "column", "rule"]].itertuples(index=False, name=None))


def test_sessions_numbered_per_group_are_kept_and_attendance_finds_them(pilot: Path, keyed: bytes) -> None:
    sessions = pd.read_parquet(pilot / "sessions.parquet")
    # G1's 1, 2, 3 and G2's 1, 2: five distinct sessions (G2's session 3 is written twice)
    assert len(sessions) == 5 and sessions["session"].is_unique
    assert sorted(sessions.groupby("group").size().tolist()) == [2, 3]
    attendance = pd.read_parquet(pilot / "attendance.parquet")
    assert len(attendance) == 4
    p1 = attendance[attendance["participant"] == pseudonym(keyed, "participant", "P1")]
    p4 = attendance[attendance["participant"] == pseudonym(keyed, "participant", "P4")]
    # session "1" of G1 and session "1" of G2 are different sessions
    assert set(p1["session"]).isdisjoint(set(p4["session"]))
    g1 = sessions[sessions["group"] == pseudonym(keyed, "group", "G1")]
    assert set(p1["session"]) <= set(g1["session"])


def test_a_session_number_twice_in_one_group_is_still_a_duplicate(pilot: Path) -> None:
    found = issues(pilot)
    log = "sessions"
    assert {(log, 7, "Sessie", "duplicate_value"), (log, 8, "Sessie", "duplicate_value")} <= found
    rows = {(r, rule) for f, r, _c, rule in found if f == "attendance"}
    assert rows == {(6, "session_quarantined"), (7, "unknown_session")}


def test_two_sheets_of_one_workbook_are_two_sources_with_their_own_accounting(tmp_path: Path, keyed: bytes) -> None:
    accounting = ingest(write_study(tmp_path / "raw"), tmp_path / "clean")
    sessions, attendance = accounting.loc["sessions"], accounting.loc["attendance"]
    assert (sessions.rows_read, sessions.rows_clean, sessions.rows_quarantined) == (7, 5, 2)
    assert (attendance.rows_read, attendance.rows_clean, attendance.rows_quarantined) == (6, 4, 2)
    assert sessions.role == "sessions" and attendance.role == "attendance"
    assert accounting["reconciles"].all()


def test_two_sources_on_the_same_sheet_are_refused(tmp_path: Path) -> None:
    folder = write_study(tmp_path / "raw", STUDY.replace("sheet: Aanwezigheid", "sheet: Sessies"))
    with pytest.raises(InputError, match=r"both read logboek\.xlsx, sheet 'Sessies'"):
        load_study(folder / "study.yaml")


def test_study_and_export_missing_codes_are_missing_not_unrecognised(pilot: Path) -> None:
    assert not [i for i in issues(pilot) if i[3] == "unrecognised"]
    items = pd.read_parquet(pilot / "item_responses.parquet")
    assert (items["response_status"] == "missing_code").sum() == 2  # "Geen antwoord" and "Weet niet"
    assert (items["response_status"] == "answered").sum() == 3 * 6 + 2 * 6 - 2


def test_without_the_missing_code_the_answer_is_unrecognised(tmp_path: Path, keyed: bytes) -> None:
    folder = write_study(tmp_path / "raw", STUDY.replace('missing_codes: ["Geen antwoord"]\n', ""))
    ingest(folder, tmp_path / "clean")
    assert ("survey_t0", 2, "BRS[SQ006]", "unrecognised") in issues(tmp_path / "clean")


def test_a_missing_code_that_is_a_valid_answer_is_refused(tmp_path: Path, keyed: bytes) -> None:
    folder = write_study(tmp_path / "raw", STUDY.replace('missing_codes: ["Geen antwoord"]', "missing_codes: [3]"))
    with pytest.raises(InputError, match=r"missing_codes \[3\] are also valid answers"):
        ingest(folder, tmp_path / "clean")


@pytest.mark.parametrize(
    ("pattern", "first", "last"),
    [
        ("Q{n:02d}", "Q01", "Q06"),
        ("BRS[SQ{n:03d}]", "BRS[SQ001]", "BRS[SQ006]"),
        ("brs_{id}", "brs_brs_1", "brs_brs_6"),
        ("x{{{n}}}", "x{1}", "x{6}"),
    ],
)
def test_item_patterns_take_format_specs_and_item_ids(pattern: str, first: str, last: str) -> None:
    survey = SurveySource(
        file="s.csv", format="csv", wave="t0", columns={"participant_id": "id"}, items={"brs": pattern}
    )
    columns = list(item_columns(survey, load_library(INSTRUMENTS))["brs"].values())
    assert (columns[0], columns[-1], len(columns)) == (first, last, 6)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("Q{k}", "only {n}"), ("Q_", "neither {n}"), ("Q{n:q}", "number format"), ("Q{n", "literal brace")],
)
def test_bad_item_patterns_say_what_is_allowed(pattern: str, message: str) -> None:
    survey = SurveySource(
        file="s.csv", format="csv", wave="t0", columns={"participant_id": "id"}, items={"brs": pattern}
    )
    with pytest.raises(InputError, match=message.replace("{", r"\{")):
        item_columns(survey, load_library(INSTRUMENTS))


def test_a_single_arm_roster_needs_no_arm_column(pilot: Path) -> None:
    participants = pd.read_parquet(pilot / "participants.parquet")
    assert len(participants) == 6 and (participants["arm"] == "intervisie").all()
    # an intervisie member needs a group, as before: P7 has none (the issue names the mapped columns)
    assert ("roster", 8, "Groep, Coach-ID", "group_matches_arm") in issues(pilot)


def test_a_comparison_participant_in_a_single_arm_study_is_quarantined(tmp_path: Path, keyed: bytes) -> None:
    roster = "Deelnemer-ID,Naam,Programma,Arm,Groep,Coach-ID,Startdatum,Toestemming\n"
    roster += "P1,Anna,coschappen,intervisie,G1,C1,2025-01-06,ja\nP2,Bram,coschappen,vergelijking,,,2025-01-06,ja\n"
    study = STUDY.replace("group_id: Groep, coach_id", "arm: Arm, group_id: Groep, coach_id").replace(
        "  identifier_columns: [Naam]\nsessions",
        "  identifier_columns: [Naam]\n  values: {arm: {intervisie: [intervisie], "
        "comparison: [vergelijking]}}\nsessions",
    )
    folder = write_study(tmp_path / "raw", study, roster)
    accounting = ingest(folder, tmp_path / "clean")
    assert ("roster", 3, "Arm", "arm_not_in_design") in issues(tmp_path / "clean")
    assert accounting.loc["roster", "n_arm_not_in_design"] == 1


def test_comparison_declared_without_an_arm_column_is_refused(tmp_path: Path, keyed: bytes) -> None:
    folder = write_study(tmp_path / "raw", STUDY.replace("design: {comparison: false}", "design: {comparison: true}"))
    with pytest.raises(InputError, match="maps no `arm` column"):
        ingest(folder, tmp_path / "clean")


def test_attendance_may_name_the_group_itself(tmp_path: Path, keyed: bytes) -> None:
    folder = write_study(tmp_path / "raw")
    frame = pd.read_excel(folder / "logboek.xlsx", sheet_name=None)
    frame["Aanwezigheid"]["Groep"] = ["G1", "G1", "G2", "G2", "G2", "G2"]  # P2 (of G1) at G2's session 1
    frame["Aanwezigheid"].loc[5, "Sessie"] = 1
    with pd.ExcelWriter(folder / "logboek.xlsx", engine="openpyxl") as writer:
        for name, sheet in frame.items():
            sheet.to_excel(writer, sheet_name=name, index=False)
    study = STUDY.replace(
        "columns: {session_id: Sessie, participant_id", "columns: {group_id: Groep, session_id: Sessie, participant_id"
    )
    (folder / "study.yaml").write_text(study, encoding="utf-8")
    ingest(folder, tmp_path / "clean")
    rows = {(r, rule) for f, r, _c, rule in issues(tmp_path / "clean") if f == "attendance"}
    assert rows == {(6, "session_quarantined"), (7, "not_group_member")}


def test_a_group_column_without_per_group_sessions_is_refused(tmp_path: Path, keyed: bytes) -> None:
    study = STUDY.replace("  session_id_scope: group\n", "").replace(
        "columns: {session_id: Sessie, participant_id", "columns: {group_id: Sessie, session_id: Sessie, participant_id"
    )
    folder = write_study(tmp_path / "raw", study)
    with pytest.raises(InputError, match="session_id_scope: group"):
        ingest(folder, tmp_path / "clean")


def test_without_the_group_scope_numbered_sessions_are_all_duplicates(tmp_path: Path, keyed: bytes) -> None:
    """The defect as the user met it, now loud: every numbered session shares its ID with another group's."""
    folder = write_study(tmp_path / "raw", STUDY.replace("  session_id_scope: group\n", ""))
    accounting = ingest(folder, tmp_path / "clean")
    assert accounting.loc["sessions", "rows_clean"] == 0


def test_session_evaluations_find_their_group_numbered_session(tmp_path: Path, keyed: bytes) -> None:
    folder = write_study(tmp_path / "raw")
    evaluations = "Deelnemer,Sessie," + ",".join(f"coach_{n}" for n in range(1, 7)) + "\n"
    evaluations += "P1,1,4,4,4,4,4,4\nP4,1,3,3,3,3,3,3\nP4,3,5,5,5,5,5,5\n"
    (folder / "evaluaties.csv").write_text(evaluations, encoding="utf-8")
    study = STUDY + (
        "  - file: evaluaties.csv\n    format: csv\n    occasion: session\n"
        "    columns: {participant_id: Deelnemer, session_id: Sessie}\n    items: {coach_quality: \"coach_{n}\"}\n"
    )
    (folder / "study.yaml").write_text(study, encoding="utf-8")
    out = tmp_path / "clean"
    accounting = ingest(folder, out)
    assert ("survey_session", 4, "Sessie", "session_quarantined") in issues(out)  # G2's session 3
    assert accounting.loc["survey_session", "rows_clean"] == 2
    responses = pd.read_parquet(out / "responses.parquet")
    sessions = pd.read_parquet(out / "sessions.parquet").set_index("session")
    rated = responses[responses["occasion"] == "session"].set_index("participant")["session"]
    # each evaluation is of session 1 of the participant's own group
    assert sessions.loc[rated[pseudonym(keyed, "participant", "P1")], "group"] == pseudonym(keyed, "group", "G1")
    assert sessions.loc[rated[pseudonym(keyed, "participant", "P4")], "group"] == pseudonym(keyed, "group", "G2")
