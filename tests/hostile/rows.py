"""Corpus cases about rows: unknown waves, people, groups and sessions; dates; coded values and answers."""

from __future__ import annotations

from pathlib import Path

from tests.hostile.edits import Case, Settles, append, issues, replace
from tests.hostile.redaction import CASES as REDACTION_CASES

T1_P001 = "P001,t1,2025-04-10,5,1,5,1,5,1"


def _t1(new: str):
    """Build: replace survey_t1's first submission (P001, all answers 5 after reversal) by ``new``."""

    def build(study: Path, _instruments: Path) -> None:
        replace(study, "survey_t1.csv", T1_P001, new)

    return build


def _edit(file: str, old: str, new: str):
    def build(study: Path, _instruments: Path) -> None:
        replace(study, file, old, new)

    return build


def _both(*edits: tuple[str, str]):
    """Build: several replacements in survey_t1.csv."""

    def build(study: Path, _instruments: Path) -> None:
        for old, new in edits:
            replace(study, "survey_t1.csv", old, new)

    return build


def _append(file: str, *lines: str):
    def build(study: Path, _instruments: Path) -> None:
        append(study, file, *lines)

    return build


P002_IN_G2 = "p002 ,Bram Jansen,bram.jansen@example.org,a(n)ios,intervisie,G2,C2,Coach Twee,online,2025-02-03,ja"
P001_AGAIN = (
    "P001,Anna de Vries,anna.devries@example.org,coschappen,intervisie,G1,C1,Coach Een,fysiek,2025-01-06,ja"
)

CASES = [
    Case(
        "unknown_wave_label",
        "a survey row whose wave column holds the wave's Dutch label 'Start' instead of its id",
        _t1("P001,Start,2025-04-10,5,1,5,1,5,1"),
        Settles(added=issues(("survey_t1.csv", 2, "golf", "unknown_value")), accounting={"survey_t1.csv": (4, 1, 2, 1)}),
    ),
    Case(
        "wave_label_case_and_spaces",
        "a wave id typed as ' T1 ' (case and spaces differ)",
        _t1("P001, T1 ,2025-04-10,5,1,5,1,5,1"),
        Settles(scores={("P001", "t1", "brs"): 5.0}),
    ),
    Case(
        "participant_in_two_groups",
        "the roster lists P002 a second time, as 'p002 ' in another group and programme",
        _append("roster.csv", P002_IN_G2),
        Settles(
            added=issues(
                ("roster.csv", 3, "Deelnemer-ID", "duplicate_value"),
                ("roster.csv", 12, "Deelnemer-ID", "duplicate_value"),
                ("attendance.csv", 3, "Deelnemer-ID", "participant_quarantined"),
                ("attendance.csv", 5, "Deelnemer-ID", "participant_quarantined"),
                ("attendance.csv", 11, "Deelnemer-ID", "participant_quarantined"),
                ("survey_t0.csv", 5, "ExternalReference", "participant_quarantined"),
                ("survey_t0.csv", 6, "ExternalReference", "participant_quarantined"),
                ("session_evals.csv", 3, "Deelnemer-ID", "participant_quarantined"),
            ),
            removed=issues(("attendance.csv", 5, "", "superseded_duplicate"), ("survey_t0.csv", 5, "", "superseded_duplicate")),
            accounting={
                "roster.csv": (11, 3, 7, 1),
                "attendance.csv": (11, 3, 7, 1),
                "survey_t0.csv": (9, 3, 5, 1),
                "session_evals.csv": (3, 1, 2, 0),
            },
        ),
    ),
    Case(
        "exact_duplicate_roster_row",
        "the roster row of P001 copied twice (every field equal)",
        _append("roster.csv", P001_AGAIN),
        Settles(added=issues(("roster.csv", 12, "", "duplicate_row")), accounting={"roster.csv": (11, 4, 5, 2)}),
    ),
    Case(
        "evaluation_by_non_member",
        "a session evaluation of group G1's session S1 by P003, a member of G2",
        _append("session_evals.csv", "S1;P003;13-01-2025 18:00;4;4;4;4;4;4;;;;;;;;;;"),
        Settles(
            added=issues(("session_evals.csv", 5, "Deelnemer-ID", "not_group_member")),
            accounting={"session_evals.csv": (4, 2, 2, 0)},
        ),
    ),
    Case(
        "survey_id_not_in_roster",
        "a survey ID with a letter O for a zero ('P0O1')",
        _t1("P0O1,t1,2025-04-10,5,1,5,1,5,1"),
        Settles(
            added=issues(("survey_t1.csv", 2, "id", "unknown_participant")), accounting={"survey_t1.csv": (4, 1, 2, 1)}
        ),
    ),
    Case(
        "survey_id_case_and_spaces",
        "a survey ID typed as ' p001 '",
        _t1(" p001 ,t1,2025-04-10,5,1,5,1,5,1"),
        Settles(scores={("P001", "t1", "brs"): 5.0}),
    ),
    Case(
        "blank_participant_id",
        "a survey row whose ID cell holds only spaces",
        _t1("   ,t1,2025-04-10,5,1,5,1,5,1"),
        Settles(added=issues(("survey_t1.csv", 2, "id", "missing_value")), accounting={"survey_t1.csv": (4, 1, 2, 1)}),
    ),
    Case(
        "attendance_unknown_session",
        "attendance for session S7, which the session log does not have",
        _append("attendance.csv", "S7;P002;ja"),
        Settles(
            added=issues(("attendance.csv", 13, "Sessie-ID", "unknown_session")),
            accounting={"attendance.csv": (12, 5, 5, 2)},
        ),
    ),
    Case(
        "attendance_ids_case_and_spaces",
        "attendance IDs typed as ' s1 ' and 'p001'",
        _edit("attendance.csv", "S1;P001;ja", " s1 ;p001;ja"),
        Settles(accounting={"attendance.csv": (11, 5, 4, 2)}),
    ),
    Case(
        "attended_as_number",
        "'1' in the attendance column whose values study.yaml lists as ja/nee",
        _edit("attendance.csv", "S1;P001;ja", "S1;P001;1"),
        Settles(
            added=issues(("attendance.csv", 2, "Aanwezig", "unknown_value")),
            accounting={"attendance.csv": (11, 4, 5, 2)},
        ),
    ),
    Case(
        "session_before_programme_start",
        "session S1 of group G1 dated 05-01-2025, the day before G1 started",
        _edit("sessions.csv", "S1;G1;13-01-2025", "S1;G1;05-01-2025"),
        Settles(
            added=issues(
                ("sessions.csv", 2, "Datum", "session_before_start"),
                ("attendance.csv", 2, "Sessie-ID", "session_quarantined"),
                ("attendance.csv", 3, "Sessie-ID", "session_quarantined"),
                ("session_evals.csv", 2, "Sessie-ID", "session_quarantined"),
            ),
            accounting={
                "sessions.csv": (6, 2, 4, 0),
                "attendance.csv": (11, 3, 6, 2),
                "session_evals.csv": (3, 1, 2, 0),
            },
        ),
    ),
    Case(
        "session_date_in_iso_form",
        "a session date written 2025-03-10 in a file whose date format is %d-%m-%Y",
        _edit("sessions.csv", "S3;G2;10-03-2025", "S3;G2;2025-03-10"),
        Settles(
            added=issues(
                ("sessions.csv", 4, "Datum", "not_a_date"),
                ("attendance.csv", 6, "Sessie-ID", "session_quarantined"),
                ("attendance.csv", 10, "Sessie-ID", "session_quarantined"),
            ),
            removed=issues(("attendance.csv", 10, "Deelnemer-ID", "not_group_member")),
            accounting={"sessions.csv": (6, 2, 4, 0), "attendance.csv": (11, 4, 5, 2)},
        ),
    ),
    Case(
        "excel_serial_date_in_csv",
        "a session date exported as the Excel serial number 45698",
        _edit("sessions.csv", "S2;G1;10-02-2025", "S2;G1;45698"),
        Settles(
            added=issues(
                ("sessions.csv", 3, "Datum", "not_a_date"),
                ("attendance.csv", 4, "Sessie-ID", "session_quarantined"),
                ("attendance.csv", 5, "Sessie-ID", "session_quarantined"),
                ("attendance.csv", 11, "Sessie-ID", "session_quarantined"),
                ("session_evals.csv", 3, "Sessie-ID", "session_quarantined"),
            ),
            removed=issues(("attendance.csv", 5, "", "superseded_duplicate")),
            accounting={
                "sessions.csv": (6, 2, 4, 0),
                "attendance.csv": (11, 3, 7, 1),
                "session_evals.csv": (3, 1, 2, 0),
            },
        ),
    ),
    Case(
        "decimal_point_in_comma_file",
        "a duration written 2.5 in a file whose decimal mark is a comma",
        _edit("sessions.csv", "13-01-2025;2,5;", "13-01-2025;2.5;"),
        Settles(added=issues(("sessions.csv", 2, "Duur (uur)", "decimal_point")), accounting={"sessions.csv": (6, 3, 3, 0)}),
    ),
    Case(
        "duration_not_a_number",
        "a duration written 'twee' (bookkeeping: set missing, the session is kept)",
        _edit("sessions.csv", "13-01-2025;2,5;", "13-01-2025;twee;"),
        Settles(added=issues(("sessions.csv", 2, "Duur (uur)", "not_a_number")), accounting={"sessions.csv": (6, 3, 3, 0)}),
    ),
    Case(
        "consent_unknown_word",
        "consent 'misschien' (neither ja nor nee): the person and all their rows are held back",
        _edit("roster.csv", "2025-01-06,ja\nP005", "2025-01-06,misschien\nP005"),
        Settles(
            added=issues(
                ("roster.csv", 5, "Toestemming", "unknown_value"),
                ("survey_t0.csv", 8, "ExternalReference", "participant_quarantined"),
                ("survey_t1.csv", 5, "id", "participant_quarantined"),
            ),
            accounting={"roster.csv": (10, 3, 6, 1), "survey_t0.csv": (9, 3, 4, 2), "survey_t1.csv": (4, 1, 2, 1)},
        ),
    ),
    Case(
        "mixed_labels_and_codes",
        "one survey column holding Dutch and English value labels beside codes",
        _t1("P001,t1,2025-04-10,Helemaal mee eens,helemaal MEE oneens,5,1,Strongly agree,1"),
        Settles(scores={("P001", "t1", "brs"): 5.0}),
    ),
    Case(
        "unrecognised_answer",
        "an answer that is neither a code nor a label ('Mee eens!'): set missing, the rest scored",
        _t1("P001,t1,2025-04-10,Mee eens!,1,5,1,5,1"),
        Settles(added=issues(("survey_t1.csv", 2, "brs1", "unrecognised")), scores={("P001", "t1", "brs"): 5.0}),
    ),
    Case(
        "out_of_range_after_a_dropped_row",
        "an answer 7 on 1..5 in a row that follows a row held back for an unknown ID",
        _both(("P001,t1,", "P0O1,t1,"), ("P004,t1,10-04-2025,3,", "P004,t1,10-04-2025,7,")),
        Settles(
            added=issues(("survey_t1.csv", 2, "id", "unknown_participant"), ("survey_t1.csv", 5, "brs1", "out_of_range")),
            accounting={"survey_t1.csv": (4, 1, 2, 1)},
            values={("survey_t1.csv", 5, "brs1", "out_of_range"): "7"},
        ),
    ),
    Case(
        "typed_comment_in_an_answer_cell",
        "a phone number typed into an answer cell: unrecognised, and never copied into the issue table",
        _t1("P001,t1,2025-04-10,bel me 06-99990101,1,5,1,5,1"),
        Settles(
            added=issues(("survey_t1.csv", 2, "brs1", "unrecognised")),
            values={("survey_t1.csv", 2, "brs1", "unrecognised"): "<redacted: text>"},
        ),
    ),
    Case(
        "fractional_answer",
        "an answer 4.5 on a 1..5 scale of whole codes: out of range, set missing",
        _t1("P001,t1,2025-04-10,4.5,1,5,1,5,1"),
        Settles(added=issues(("survey_t1.csv", 2, "brs1", "out_of_range")), scores={("P001", "t1", "brs"): 5.0}),
    ),
    *REDACTION_CASES,
]
