"""A small study as real exports arrive: single arm, sessions numbered per group, one workbook, LimeSurvey.

Written by the tests into a temporary folder (tests/test_real_study_ingest.py, tests/test_study_cli.py):

- ``roster.csv``: no ``arm`` column (a single-arm pilot); P7 has no group (quarantined);
- ``logboek.xlsx``: sheet ``Sessies`` (sessions numbered 1, 2, 3 in each group; G2's session 3 is
  written twice with different dates: both rows ``duplicate_value``) and sheet ``Aanwezigheid``
  (attendance without a group column: the group is the participant's group in the roster);
- ``limesurvey_t0_baseline.csv``: LimeSurvey columns ``BRS[SQ001]`` ..., with "Geen antwoord";
- ``vragenlijst_3m.csv``: zero-padded columns ``Q01`` ..., with "Weet niet" (this export's own code).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ROSTER = """Deelnemer-ID,Naam,Programma,Groep,Coach-ID,Startdatum,Toestemming
P1,Anna,coschappen,G1,C1,2025-01-06,ja
P2,Bram,coschappen,G1,C1,2025-01-06,ja
P3,Chris,coschappen,G1,C1,2025-01-06,ja
P4,Dina,coschappen,G2,C2,2025-01-06,ja
P5,Eva,coschappen,G2,C2,2025-01-06,ja
P6,Frits,coschappen,G2,C2,2025-01-06,ja
P7,Gijs,coschappen,,,2025-01-06,ja
"""

SESSIONS = pd.DataFrame(
    {
        "Groep": ["G1", "G1", "G1", "G2", "G2", "G2", "G2"],
        "Sessie": [1, 2, 3, 1, 2, 3, 3],
        "Datum": pd.to_datetime(
            ["2025-02-01", "2025-03-01", "2025-04-01", "2025-02-02", "2025-03-02", "2025-04-02", "2025-04-09"]
        ),
    }
)
#: rows 2..7 of the sheet: P1 at G1's 1 and 2, P4 at G2's 1 and 2, P4 at G2's 3 (quarantined in the
#: log), P2 at session 4 (G1 has no session 4)
ATTENDANCE = pd.DataFrame(
    {
        "Deelnemer": ["P1", "P1", "P4", "P4", "P4", "P2"],
        "Sessie": [1, 2, 1, 2, 3, 4],
        "Aanwezig": ["ja", "ja", "ja", "nee", "ja", "ja"],
    }
)

LIMESURVEY = (
    "id,token,submitdate," + ",".join(f"BRS[SQ{n:03d}]" for n in range(1, 7)) + "\n"
    "1,P1,2025-01-10 10:00:00,4,2,4,2,4,Geen antwoord\n"
    "2,P2,2025-01-10 11:00:00,3,3,3,3,3,3\n"
    "3,P4,2025-01-11 09:00:00,5,1,5,1,5,1\n"
)
FOLLOW_UP = "ID," + ",".join(f"Q{n:02d}" for n in range(1, 7)) + "\nP1,4,2,4,2,4,Weet niet\nP4,5,1,5,1,5,2\n"

STUDY = """study: {id: pilot, title: Pilot}
waves:
  t0: {label_nl: Start, label_en: Baseline, months: 0}
  t1: {label_nl: "3 maanden", label_en: "3 months", months: 3}
programmes:
  coschappen: {label_nl: coschappen, label_en: clerkships, values: [coschappen]}
design: {comparison: false}
outcomes: {primary: [brs]}
missing_codes: ["Geen antwoord"]
roster:
  file: roster.csv
  format: csv
  columns: {participant_id: Deelnemer-ID, programme: Programma, group_id: Groep, coach_id: Coach-ID,
            start_date: Startdatum, consent: Toestemming}
  identifier_columns: [Naam]
sessions:
  file: logboek.xlsx
  format: xlsx
  sheet: Sessies
  session_id_scope: group
  columns: {session_id: Sessie, group_id: Groep, date: Datum}
attendance:
  file: logboek.xlsx
  format: xlsx
  sheet: Aanwezigheid
  columns: {session_id: Sessie, participant_id: Deelnemer, attended: Aanwezig}
surveys:
  - file: limesurvey_t0_baseline.csv
    format: csv
    wave: t0
    columns: {participant_id: token, submitted_at: submitdate}
    ignore_columns: [id]
    items: {brs: "BRS[SQ{n:03d}]"}
  - file: vragenlijst_3m.csv
    format: csv
    wave: t1
    missing_codes: ["Weet niet"]
    columns: {participant_id: ID}
    items: {brs: "Q{n:02d}"}
"""


def write_study(folder: Path, study: str = STUDY, roster: str = ROSTER) -> Path:
    """Write the study's export files (and its study.yaml unless ``study`` is empty); return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "roster.csv").write_text(roster, encoding="utf-8")
    with pd.ExcelWriter(folder / "logboek.xlsx", engine="openpyxl") as writer:
        SESSIONS.to_excel(writer, sheet_name="Sessies", index=False)
        ATTENDANCE.to_excel(writer, sheet_name="Aanwezigheid", index=False)
    (folder / "limesurvey_t0_baseline.csv").write_text(LIMESURVEY, encoding="utf-8")
    (folder / "vragenlijst_3m.csv").write_text(FOLLOW_UP, encoding="utf-8")
    if study:
        (folder / "study.yaml").write_text(study, encoding="utf-8")
    return folder
