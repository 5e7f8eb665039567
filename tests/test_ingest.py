"""Ingest and score the hand-made mini study, whose every row has a known fate and score.

The expected values below were worked out by hand from tests/fixtures/mini/*.csv; the
comments say why each row ends where it does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from intervisie.stages.ingest import run_ingest
from intervisie.stages.score import run_score
from pipeline.errors import InputError
from pipeline.pseudonymise import pseudonym
from tests.study_keys import TEST_KEY, key_in_environment  # noqa: F401 (autouse: the mini study's key)

MINI = Path(__file__).parent / "fixtures" / "mini"
INSTRUMENTS = Path(__file__).parents[1] / "instruments"
PARAMS = Path(__file__).parents[1] / "params.yaml"
KEY = TEST_KEY.encode()

#: the name each mini file goes by in data_clean/ (its role in study.yaml, pipeline.sources): a file's
#: name on disk may hold a person's name, so it never leaves data_raw/
LABEL = {
    "roster.csv": "roster",
    "sessions.csv": "sessions",
    "attendance.csv": "attendance",
    "survey_t0.csv": "survey_t0",
    "survey_t1.csv": "survey_2",  # its wave is a column: named by its place under `surveys:`
    "session_evals.csv": "survey_session",
}


def label(file: str) -> str:
    """Return the name the quality tables give a mini file (also when a case changed its extension)."""
    if file in LABEL.values():
        return file
    return LABEL.get(file) or LABEL[Path(file).stem + ".csv"]


#: (file, row, column, rule) of every issue, worked out by hand
_ISSUES_BY_FILE = {
    # roster.csv: P005 said no; P006 has an unknown programme; P007 a non-ISO date;
    # P008 is listed twice (two groups): both rows; P009 is a comparison participant with a group
    ("roster.csv", 6, "", "no_consent"),
    ("roster.csv", 7, "Programma", "unknown_value"),
    ("roster.csv", 8, "Startdatum", "not_a_date"),
    ("roster.csv", 9, "Deelnemer-ID", "duplicate_value"),
    ("roster.csv", 10, "Deelnemer-ID", "duplicate_value"),
    ("roster.csv", 11, "Arm, Groep, Coach-ID", "group_matches_arm"),
    # sessions.csv: S4 names group G9; S5 predates G2's start (2025-02-03); S6 is 31 February
    ("sessions.csv", 5, "Groep", "unknown_group"),
    ("sessions.csv", 6, "Datum", "session_before_start"),
    ("sessions.csv", 7, "Datum", "not_a_date"),
    # attendance.csv: row 5 (S2,P002,nee) is superseded by row 11 (S2,P002,ja); P005 declined;
    # P099 unknown; S9 unknown; P001 is not in S3's group; "misschien" is not ja/nee
    ("attendance.csv", 5, "", "superseded_duplicate"),
    ("attendance.csv", 7, "", "no_consent"),
    ("attendance.csv", 8, "Deelnemer-ID", "unknown_participant"),
    ("attendance.csv", 9, "Sessie-ID", "unknown_session"),
    ("attendance.csv", 10, "Deelnemer-ID", "not_group_member"),
    ("attendance.csv", 12, "Aanwezig", "unknown_value"),
    # survey_t0.csv (data from line 4): P002's first submission (line 5) is superseded by line 6;
    # line 7 has BRS_1 = 6 (out of range, set missing); P005 declined; X123 unknown;
    # P006's roster row was quarantined; line 12 has no ID
    ("survey_t0.csv", 5, "", "superseded_duplicate"),
    ("survey_t0.csv", 7, "BRS_1", "out_of_range"),
    ("survey_t0.csv", 9, "", "no_consent"),
    ("survey_t0.csv", 10, "ExternalReference", "unknown_participant"),
    ("survey_t0.csv", 11, "ExternalReference", "participant_quarantined"),
    ("survey_t0.csv", 12, "ExternalReference", "missing_value"),
    # survey_t1.csv: wave "t7" unknown; P003 answered nothing; "10-04-2025" is not ISO: the
    # submission time is bookkeeping, so it is set missing and the row is kept
    ("survey_t1.csv", 3, "golf", "unknown_value"),
    ("survey_t1.csv", 4, "", "no_answers"),
    ("survey_t1.csv", 5, "datum", "not_a_date"),
    # session_evals.csv: session S9 does not exist
    ("session_evals.csv", 4, "Sessie-ID", "unknown_session"),
}
EXPECTED_ISSUES = {(label(f), r, c, rule) for f, r, c, rule in _ISSUES_BY_FILE}

#: rows read, clean, quarantined, excluded per file
_ACCOUNTING_BY_FILE = {
    "roster.csv": (10, 4, 5, 1),
    "sessions.csv": (6, 3, 3, 0),
    "attendance.csv": (11, 5, 4, 2),
    "survey_t0.csv": (9, 4, 3, 2),
    "survey_t1.csv": (4, 2, 1, 1),
    "session_evals.csv": (3, 2, 1, 0),
}
EXPECTED_ACCOUNTING = {label(f): counts for f, counts in _ACCOUNTING_BY_FILE.items()}


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mini_clean")
    run_ingest(MINI / "study.yaml", INSTRUMENTS, PARAMS, out, lambda _: None)
    run_score(out, INSTRUMENTS, out / "scale_scores.parquet", out / "data_dictionary.csv", lambda _: None)
    return out


def test_every_issue_is_found_with_file_row_column_and_rule(clean_dir: Path) -> None:
    issues = pd.read_parquet(clean_dir / "quality" / "issues.parquet")
    found = set(issues[["source_file", "source_row", "column", "rule"]].itertuples(index=False, name=None))
    assert found == EXPECTED_ISSUES


def test_rows_reconcile_per_file(clean_dir: Path) -> None:
    accounting = pd.read_parquet(clean_dir / "quality" / "row_accounting.parquet").set_index("source_file")
    for file, (read, clean, quarantined, excluded) in EXPECTED_ACCOUNTING.items():
        row = accounting.loc[file]
        assert (row.rows_read, row.rows_clean, row.rows_quarantined, row.rows_excluded) == (
            read,
            clean,
            quarantined,
            excluded,
        ), file
    assert accounting["reconciles"].all()
    fates = pd.read_parquet(clean_dir / "quality" / "row_fates.parquet")
    assert fates["fate"].notna().all()
    assert not fates.duplicated(["source_file", "source_row"]).any()


def test_clean_rows_match_the_clean_tables(clean_dir: Path) -> None:
    accounting = pd.read_parquet(clean_dir / "quality" / "row_accounting.parquet").set_index("source_file")
    responses = pd.read_parquet(clean_dir / "responses.parquet")
    per_file = responses["source_file"].value_counts()
    for file in ("survey_t0", "survey_2", "survey_session"):
        assert per_file[file] == accounting.loc[file, "rows_clean"]
    assert len(pd.read_parquet(clean_dir / "participants.parquet")) == accounting.loc["roster", "rows_clean"]
    assert len(pd.read_parquet(clean_dir / "sessions.parquet")) == accounting.loc["sessions", "rows_clean"]
    assert len(pd.read_parquet(clean_dir / "attendance.parquet")) == accounting.loc["attendance", "rows_clean"]


def test_kept_duplicate_is_the_latest_submission(clean_dir: Path) -> None:
    responses = pd.read_parquet(clean_dir / "responses.parquet")
    p002 = pseudonym(KEY, "participant", "P002")
    t0 = responses[(responses["participant"] == p002) & (responses["wave"] == "t0")]
    assert t0["source_row"].tolist() == [6]
    attendance = pd.read_parquet(clean_dir / "attendance.parquet")
    s2 = attendance[(attendance["participant"] == p002) & (attendance["session"] == pseudonym(KEY, "session", "S2"))]
    assert s2["attended"].tolist() == [True]  # the later row says "ja"


def test_scale_scores_match_hand_worked_values(clean_dir: Path) -> None:
    scores = pd.read_parquet(clean_dir / "scale_scores.parquet")
    pid = {p: pseudonym(KEY, "participant", p) for p in ("P001", "P002", "P003", "P004")}

    def brs(p: str, wave: str) -> pd.Series:
        row = scores[(scores["participant"] == pid[p]) & (scores["wave"] == wave) & (scores["scale"] == "brs")]
        assert len(row) == 1
        return row.iloc[0]

    # P001 t0: 4,2,4,2,4,2 with items 2,4,6 reversed (6 - x) -> all 4 -> mean 4.0
    assert_allclose(brs("P001", "t0").score, 4.0, rtol=0, atol=1e-12)
    # P002 t0 (kept row): all 3 -> 3.0
    assert_allclose(brs("P002", "t0").score, 3.0, rtol=0, atol=1e-12)
    # P003 t0: 6 (out of range), 2, 99 (missing), -9 (missing), empty, 4 -> 2 answered < 4 -> missing
    row = brs("P003", "t0")
    assert np.isnan(row.score) and row.n_answered == 2 and row.score_status == "too_few_items"
    # P004 t0: "Mee eens"=4, 1->5, "n.v.t." missing, 2->4, 4, 5->1 -> (4+5+4+4+1)/5 = 3.6
    row = brs("P004", "t0")
    assert_allclose(row.score, 3.6, rtol=0, atol=1e-12)
    assert row.n_answered == 5
    # P001 t1: 5,1,5,1,5,1 -> all 5 after reversal -> 5.0
    assert_allclose(brs("P001", "t1").score, 5.0, rtol=0, atol=1e-12)
    # session evaluation after S1 by P001: coach items 5,4,5,4,5,4 -> 4.5
    s1 = scores[(scores["session"] == pseudonym(KEY, "session", "S1")) & (scores["scale"] == "coach_quality")]
    assert_allclose(s1["score"].to_numpy(), [4.5], rtol=0, atol=1e-12)


def test_item_statuses_record_what_the_export_held(clean_dir: Path) -> None:
    items = pd.read_parquet(clean_dir / "item_responses.parquet")
    responses = pd.read_parquet(clean_dir / "responses.parquet")
    items = items.merge(responses[["response_id", "participant", "wave"]], on="response_id", validate="many_to_one")
    p003 = items[(items["participant"] == pseudonym(KEY, "participant", "P003")) & (items["wave"] == "t0")]
    status = dict(zip(p003["item"].astype(str), p003["response_status"].astype(str), strict=True))
    assert status == {
        "brs_1": "out_of_range",
        "brs_2": "answered",
        "brs_3": "missing_code",
        "brs_4": "missing_code",
        "brs_5": "not_answered",
        "brs_6": "answered",
    }
    # every item row belongs to a kept submission, and items keep questionnaire order
    assert items["participant"].notna().all()
    assert p003["item"].astype(str).tolist() == [f"brs_{n}" for n in range(1, 7)]


def test_two_runs_are_byte_identical(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        run_ingest(MINI / "study.yaml", INSTRUMENTS, PARAMS, out, lambda _: None)
        run_score(out, INSTRUMENTS, out / "scale_scores.parquet", out / "data_dictionary.csv", lambda _: None)
        outputs.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert outputs[0].keys() == outputs[1].keys()
    assert len(outputs[0]) >= 12
    for path in outputs[0]:
        assert outputs[0][path] == outputs[1][path], path


def test_duplicates_policy_first_keeps_the_first_submission(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("ingest:\n  duplicates: first\n", encoding="utf-8")
    study = tmp_path / "mini"
    shutil.copytree(MINI, study)
    run_ingest(study / "study.yaml", INSTRUMENTS, params, tmp_path / "out", lambda _: None)
    responses = pd.read_parquet(tmp_path / "out" / "responses.parquet")
    p002 = pseudonym(KEY, "participant", "P002")
    assert responses.loc[(responses["participant"] == p002) & (responses["wave"] == "t0"), "source_row"].tolist() == [5]


def test_leaving_dates_are_checked_against_start_and_arm(tmp_path: Path) -> None:
    """Uitstroomdatum: kept when valid; before the start or for the comparison cohort the row is quarantined;
    an unreadable date is bookkeeping: set missing with an issue, the participant is kept."""
    study = tmp_path / "mini"
    shutil.copytree(MINI, study)
    spec = (study / "study.yaml").read_text(encoding="utf-8")
    (study / "study.yaml").write_text(
        spec.replace("    start_date: Startdatum\n", "    start_date: Startdatum\n    end_date: Uitstroomdatum\n", 1),
        encoding="utf-8",
    )
    lines = (study / "roster.csv").read_text(encoding="utf-8").splitlines()
    # P001 left after 3 months; P002 "left" before starting; P003 an unreadable date; P004 is comparison
    ends = {"P001": "2025-04-07", "P002": "2024-12-01", "P003": "gisteren", "P004": "2025-03-01"}
    out_lines = [lines[0] + ",Uitstroomdatum"]
    out_lines += [line + "," + ends.get(line.split(",")[0], "") for line in lines[1:]]
    (study / "roster.csv").write_text("\n".join(out_lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    run_ingest(study / "study.yaml", INSTRUMENTS, PARAMS, out, lambda _: None)
    issues = pd.read_parquet(out / "quality" / "issues.parquet")
    found = set(issues[["source_file", "source_row", "column", "rule"]].itertuples(index=False, name=None))
    new = found - EXPECTED_ISSUES
    # the quarantined roster rows take their participants' other rows with them (named as such)
    assert {rule for file, *_, rule in new if file != "roster"} == {"participant_quarantined"}
    assert {i for i in new if i[0] == "roster"} == {
        ("roster", 3, "Uitstroomdatum, Startdatum", "end_before_start"),
        ("roster", 4, "Uitstroomdatum", "not_a_date"),
        ("roster", 5, "Uitstroomdatum, Arm", "end_date_not_member"),
    }
    people = pd.read_parquet(out / "participants.parquet").set_index("participant")
    assert people.loc[pseudonym(KEY, "participant", "P001"), "end_date"] == pd.Timestamp("2025-04-07")
    assert pd.isna(people.loc[pseudonym(KEY, "participant", "P003"), "end_date"])
    assert pseudonym(KEY, "participant", "P002") not in people.index
    assert pseudonym(KEY, "participant", "P004") not in people.index


def test_session_method_is_coded_and_typed_text_is_not_kept(tmp_path: Path) -> None:
    """Methode: listed methods are kept; a name typed into the column is set missing and reported redacted;
    a study that maps the column without listing the methods is stopped with the reason."""
    study = tmp_path / "mini"
    shutil.copytree(MINI, study)
    raw = (study / "sessions.csv").read_bytes().decode("cp1252")
    raw = raw.replace(";5-stappenmethode;", ";Anna de Vries vertelde;", 1)
    (study / "sessions.csv").write_bytes(raw.encode("cp1252"))
    out = tmp_path / "out"
    run_ingest(study / "study.yaml", INSTRUMENTS, PARAMS, out, lambda _: None)
    issues = pd.read_parquet(out / "quality" / "issues.parquet")
    typed = issues[(issues["source_file"] == "sessions") & (issues["column"] == "Methode")]
    assert typed[["rule", "value", "action"]].values.tolist() == [["unknown_value", "<redacted: text>", "set_missing"]]
    for path in out.rglob("*.parquet"):
        frame = pd.read_parquet(path)
        assert not frame.astype(str).apply(lambda c: c.str.contains("Anna de Vries")).any().any(), path.name
    sessions = pd.read_parquet(out / "sessions.parquet")
    assert set(sessions["method"].dropna()) <= {"incidentmethode", "roddelmethode", "5-stappenmethode"}
    spec = (study / "study.yaml").read_text(encoding="utf-8")
    (study / "study.yaml").write_text("\n".join(line for line in spec.splitlines() if "values: {method" not in line) + "\n",
                                      encoding="utf-8")  # fmt: skip
    with pytest.raises(InputError, match=r"\['method'\] are coded: list their values"):
        run_ingest(study / "study.yaml", INSTRUMENTS, PARAMS, tmp_path / "out2", lambda _: None)
