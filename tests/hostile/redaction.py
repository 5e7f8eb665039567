"""Corpus cases about what the issue table may show: personal data typed into cells, impossible dates and numbers.

Each case plants something a person could type into an export (a BSN, a phone number, an
e-mail address, a comment) or a value that cannot be true (a partial date, a date a century
off, an infinite duration, a 9-digit duration), and states the issue and exactly what the
issue table shows of the cell: a short value of the field's kind, or ``<redacted: KIND>``.
"""

from __future__ import annotations

from pathlib import Path

from tests.hostile.edits import Case, Settles, issues, read, replace, study_yaml, write

T1_P001 = "P001,t1,2025-04-10,5,1,5,1,5,1"
P004_START = ",,,,,2025-01-06,ja"  # the comparison participant's empty group cells, start date and consent
#: the rows of P004 (roster row 5) in the surveys: held back when the roster row is
P004_ELSEWHERE = (
    ("survey_t0.csv", 8, "ExternalReference", "participant_quarantined"),
    ("survey_t1.csv", 5, "id", "participant_quarantined"),
)
P004_COUNTS = {"roster.csv": (10, 3, 6, 1), "survey_t0.csv": (9, 3, 4, 2), "survey_t1.csv": (4, 1, 2, 1)}
#: the rows about session S1 (sessions row 2), held back when the log row is
S1_ELSEWHERE = (
    ("attendance.csv", 2, "Sessie-ID", "session_quarantined"),
    ("attendance.csv", 3, "Sessie-ID", "session_quarantined"),
    ("session_evals.csv", 2, "Sessie-ID", "session_quarantined"),
)
S1_COUNTS = {"sessions.csv": (6, 2, 4, 0), "attendance.csv": (11, 3, 6, 2), "session_evals.csv": (3, 1, 2, 0)}


def _edit(file: str, old: str, new: str):
    def build(study: Path, _instruments: Path) -> None:
        replace(study, file, old, new)

    return build


def _t1(new: str):
    return _edit("survey_t1.csv", T1_P001, new)


def _end_dates(**ends: str):
    """Build: map the roster's leaving date (``Uitstroomdatum``) and fill it for some participants."""

    def build(study: Path, _instruments: Path) -> None:
        study_yaml(study, "    start_date: Startdatum\n", "    start_date: Startdatum\n    end_date: Uitstroomdatum\n")
        lines = read(study, "roster.csv").splitlines()
        out = [lines[0] + ",Uitstroomdatum"]
        out += [line + "," + (f'"{ends[line[:4]]}"' if line[:4] in ends else "") for line in lines[1:]]
        write(study, "roster.csv", "\n".join(out) + "\n")

    return build


CASES = [
    Case(
        "bsn_in_an_answer_cell",
        "a BSN (11-proof) typed into an answer cell: out of range, shown only as its shape",
        _t1("P001,t1,2025-04-10,123456782,1,5,1,5,1"),
        Settles(
            added=issues(("survey_t1.csv", 2, "brs1", "out_of_range")),
            values={("survey_t1.csv", 2, "brs1", "out_of_range"): "<redacted: 9 digits>"},
            scores={("P001", "t1", "brs"): 5.0},
        ),
    ),
    Case(
        "phone_number_read_as_a_number",
        "a mobile number typed into an answer cell without separators (read as the number 612345678)",
        _t1("P001,t1,2025-04-10,0612345678,1,5,1,5,1"),
        Settles(
            added=issues(("survey_t1.csv", 2, "brs1", "out_of_range")),
            values={("survey_t1.csv", 2, "brs1", "out_of_range"): "<redacted: 10 digits>"},
        ),
    ),
    Case(
        "phone_number_in_a_leaving_date",
        "'vertrokken, bel +31613333333' in the roster's leaving date: set missing, shown as text",
        _end_dates(P001="vertrokken, bel +31613333333"),
        Settles(
            added=issues(("roster.csv", 2, "Uitstroomdatum", "not_a_date")),
            values={("roster.csv", 2, "Uitstroomdatum", "not_a_date"): "<redacted: text>"},
        ),
    ),
    Case(
        "leaving_date_after_the_study",
        "a leaving date in 2027, more than a year after the last start date plus the last wave: set missing",
        _end_dates(P001="2027-01-01"),
        Settles(
            added=issues(("roster.csv", 2, "Uitstroomdatum", "date_out_of_window")),
            values={("roster.csv", 2, "Uitstroomdatum", "date_out_of_window"): "2027-01-01"},
        ),
    ),
    Case(
        "comment_in_a_count",
        "'2 (casus van Anna, 0611111111)' as the number of cases: set missing, the session kept",
        _edit("sessions.csv", ";2,5;incidentmethode;2;", ";2,5;incidentmethode;2 (casus van Anna, 0611111111);"),
        Settles(
            added=issues(("sessions.csv", 2, "Aantal casussen", "not_a_number")),
            values={("sessions.csv", 2, "Aantal casussen", "not_a_number"): "<redacted: text>"},
        ),
    ),
    Case(
        "email_in_a_date_column",
        "an e-mail address as the submission date: set missing, shown as its shape",
        _t1("P001,t1,anna.devries@example.org,5,1,5,1,5,1"),
        Settles(
            added=issues(("survey_t1.csv", 2, "datum", "not_a_date")),
            values={("survey_t1.csv", 2, "datum", "not_a_date"): "<redacted: e-mail>"},
        ),
    ),
    Case(
        "bsn_in_a_duration",
        "a BSN as the completion time (111222333 seconds, 3.5 years): cannot be true, set missing",
        _edit("survey_t0.csv", ",100,600,1,", ",100,111222333,1,"),
        Settles(
            added=issues(("survey_t0.csv", 4, "Duration (in seconds)", "out_of_range")),
            values={("survey_t0.csv", 4, "Duration (in seconds)", "out_of_range"): "<redacted: 9 digits>"},
        ),
    ),
    Case(
        "infinite_duration",
        "'inf' as the completion time: not a number, set missing",
        _edit("survey_t0.csv", ",100,600,1,", ",100,inf,1,"),
        Settles(
            added=issues(("survey_t0.csv", 4, "Duration (in seconds)", "not_a_number")),
            values={("survey_t0.csv", 4, "Duration (in seconds)", "not_a_number"): "inf"},
        ),
    ),
    Case(
        "session_length_out_of_range",
        "a session of 30 hours: bookkeeping, so the length is set missing and the session kept",
        _edit("sessions.csv", ";2;roddelmethode;", ";30;roddelmethode;"),
        Settles(
            added=issues(("sessions.csv", 3, "Duur (uur)", "out_of_range")),
            values={("sessions.csv", 3, "Duur (uur)", "out_of_range"): "30"},
            fates={("sessions.csv", 3): ("clean", "")},
        ),
    ),
    Case(
        "partial_date_year",
        "a start date written '2024' (no month, no day): refused, not read as 1 January",
        _edit("roster.csv", P004_START, ",,,,,2024,ja"),
        Settles(
            added=issues(("roster.csv", 5, "Startdatum", "partial_date"), *P004_ELSEWHERE),
            values={("roster.csv", 5, "Startdatum", "partial_date"): "2024"},
            accounting=P004_COUNTS,
        ),
    ),
    Case(
        "partial_date_month",
        "a submission date written '2025-04' (no day): set missing, not read as 1 April",
        _t1("P001,t1,2025-04,5,1,5,1,5,1"),
        Settles(
            added=issues(("survey_t1.csv", 2, "datum", "partial_date")),
            values={("survey_t1.csv", 2, "datum", "partial_date"): "2025-04"},
        ),
    ),
    Case(
        "start_date_in_1900",
        "a start date in 1900 (a typo of a century): outside the window, the participant held back",
        _edit("roster.csv", P004_START, ",,,,,1900-01-06,ja"),
        Settles(
            added=issues(("roster.csv", 5, "Startdatum", "date_out_of_window"), *P004_ELSEWHERE),
            values={("roster.csv", 5, "Startdatum", "date_out_of_window"): "1900-01-06"},
            accounting=P004_COUNTS,
        ),
    ),
    Case(
        "session_in_2100",
        "a session dated 2100: outside the study's window, the session and the rows about it held back",
        _edit("sessions.csv", "S1;G1;13-01-2025;", "S1;G1;13-01-2100;"),
        Settles(
            added=issues(("sessions.csv", 2, "Datum", "date_out_of_window"), *S1_ELSEWHERE),
            values={("sessions.csv", 2, "Datum", "date_out_of_window"): "13-01-2100"},
            accounting=S1_COUNTS,
        ),
    ),
    Case(
        "submission_in_1900",
        "a submission dated 1900-01-01: outside the study's window, set missing",
        _t1("P001,t1,1900-01-01,5,1,5,1,5,1"),
        Settles(
            added=issues(("survey_t1.csv", 2, "datum", "date_out_of_window")),
            values={("survey_t1.csv", 2, "datum", "date_out_of_window"): "1900-01-01"},
        ),
    ),
]
