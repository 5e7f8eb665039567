"""Corpus cases about whole files: encodings, separators, headers, empty, truncated and binary files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl

from tests.hostile.edits import (
    Case,
    Fails,
    Settles,
    append,
    issues,
    read,
    records,
    replace,
    study_yaml,
    write,
    write_records,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def _bom(study: Path, _instruments: Path) -> None:
    (study / "roster.csv").write_bytes(b"\xef\xbb\xbf" + (study / "roster.csv").read_bytes())


def _bom_qualtrics(study: Path, _instruments: Path) -> None:
    (study / "survey_t0.csv").write_bytes(b"\xef\xbb\xbf" + (study / "survey_t0.csv").read_bytes())


def _accented_roster(study: Path) -> None:
    text = read(study, "roster.csv").replace("Anna de Vries", "Zoë Hélène Brouwér").replace("Coach Een", "Coach Eén")
    write(study, "roster.csv", text, encoding="cp1252")


def _cp1252_declared(study: Path, _instruments: Path) -> None:
    _accented_roster(study)
    study_yaml(study, "  file: roster.csv\n  format: csv\n", "  file: roster.csv\n  format: csv\n  csv: {encoding: cp1252}\n")


def _cp1252_undeclared(study: Path, _instruments: Path) -> None:
    _accented_roster(study)


def _bom_declared_cp1252(study: Path, _instruments: Path) -> None:
    write(study, "sessions.csv", "\ufeff" + read(study, "sessions.csv"), encoding="utf-8")


def _utf16_undeclared(study: Path, _instruments: Path) -> None:
    write(study, "roster.csv", read(study, "roster.csv"), encoding="utf-16")


def _semicolons_decimal_commas(study: Path, _instruments: Path) -> None:
    rows = records(study, "survey_t1.csv")
    rows = [rows[0]] + [[*r[:3], *(f"{c},0" if c else "" for c in r[3:])] for r in rows[1:]]
    write_records(study, "survey_t1.csv", rows, sep=";")
    study_yaml(study, "  - file: survey_t1.csv\n    format: csv\n", '  - file: survey_t1.csv\n    format: csv\n    csv: {sep: ";", decimal: ","}\n')


def _semicolons_declared_as_commas(study: Path, _instruments: Path) -> None:
    study_yaml(
        study,
        "  file: attendance.csv\n  format: csv\n  csv: {sep: \";\", decimal: \",\", encoding: cp1252}",
        "  file: attendance.csv\n  format: csv\n  csv: {sep: \",\", decimal: \",\", encoding: cp1252}",
    )


def _roster_xlsx(study: Path, _instruments: Path) -> None:
    rows = records(study, "roster.csv")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(rows[0])
    start = rows[0].index("Startdatum")
    for row in rows[1:]:
        cells: list[object] = [c or None for c in row]
        text = row[start]
        if row[0] == "P004":
            cells[start] = 45663  # an Excel serial date (2025-0106) that lost its date format
        elif text[:4].isdigit():
            cells[start] = dt.datetime.strptime(text, "%Y-%m-%d")
        sheet.append(cells)
    book.save(study / "roster.xlsx")
    (study / "roster.csv").unlink()
    study_yaml(study, "  file: roster.csv\n  format: csv\n", "  file: roster.xlsx\n  format: xlsx\n")


def _title_row(study: Path, _instruments: Path) -> None:
    write(study, "roster.csv", "Deelnemerslijst intervisie 2025\n" + read(study, "roster.csv"))


def _merged_header(study: Path, _instruments: Path) -> None:
    write(study, "roster.csv", "Persoon,,,Opleiding,,Groep,,,,Start,\n" + read(study, "roster.csv"))


def _duplicate_name(study: Path, _instruments: Path) -> None:
    replace(study, "roster.csv", ",Coach,Vorm,", ",Groep,Vorm,")


def _empty_name(study: Path, _instruments: Path) -> None:
    replace(study, "roster.csv", ",Vorm,", ",,")


def _drop_column(study: Path, _instruments: Path) -> None:
    rows = records(study, "roster.csv")
    k = rows[0].index("Vorm")
    write_records(study, "roster.csv", [r[:k] + r[k + 1 :] for r in rows])


def _extra_column(study: Path, _instruments: Path) -> None:
    rows = records(study, "roster.csv")
    write_records(study, "roster.csv", [[*rows[0], "Telefoon"]] + [[*r, f"06-1234567{n}"] for n, r in enumerate(rows[1:])])


def _trailing_empties(study: Path, _instruments: Path) -> None:
    rows = records(study, "roster.csv")
    width = len(rows[0]) + 2
    write_records(study, "roster.csv", [[*r, "", ""] for r in rows] + [[""] * width, [""] * width])


def _trailing_blank_lines(study: Path, _instruments: Path) -> None:
    write(study, "attendance.csv", read(study, "attendance.csv") + "\r\n;;\r\n  \r\n")


def _empty(study: Path, _instruments: Path) -> None:
    (study / "survey_t1.csv").write_bytes(b"")


def _bom_only(study: Path, _instruments: Path) -> None:
    (study / "sessions.csv").write_bytes(b"\xef\xbb\xbf\r\n\r\n")


def _header_only(study: Path, _instruments: Path) -> None:
    write(study, "survey_t1.csv", read(study, "survey_t1.csv").splitlines(keepends=True)[0])


def _truncated_in_quotes(study: Path, _instruments: Path) -> None:
    text = read(study, "survey_t0.csv")
    write(study, "survey_t0.csv", text[: text.index("mail me op")])


def _truncated_mid_row(study: Path, _instruments: Path) -> None:
    text = read(study, "roster.csv")
    write(study, "roster.csv", text[: text.index("P009,Ilse Kok,ilse") + len("P009,Ilse Kok,ilse")])


def _png(study: Path, _instruments: Path) -> None:
    (study / "sessions.csv").write_bytes(PNG)


def _nul_padded(study: Path, _instruments: Path) -> None:
    (study / "survey_t1.csv").write_bytes((study / "survey_t1.csv").read_bytes() + b"\x00" * 512)


def _csv_named_xlsx(study: Path, _instruments: Path) -> None:
    (study / "roster.csv").rename(study / "roster.xlsx")
    study_yaml(study, "  file: roster.csv\n  format: csv\n", "  file: roster.xlsx\n  format: xlsx\n")


def _extra_fields(study: Path, _instruments: Path) -> None:
    append(study, "attendance.csv", "S1;P004;ja;later toegevoegd")


def _qualtrics_without_import_ids(study: Path, _instruments: Path) -> None:
    text = read(study, "survey_t0.csv").split("\n")
    write(study, "survey_t0.csv", "\n".join([text[0], *text[3:]]))


def _missing_file(study: Path, _instruments: Path) -> None:
    (study / "session_evals.csv").unlink()


def _wave_not_in_study(study: Path, _instruments: Path) -> None:
    study_yaml(study, "    wave: t0\n", "    wave: t5\n")


def _mixed_line_ends(study: Path, _instruments: Path) -> None:
    lines = read(study, "attendance.csv").split("\r\n")
    write(study, "attendance.csv", "\r\n".join(lines[:6]) + "\n" + "\n".join(lines[6:]))


CASES = [
    Case("utf8_bom", "roster.csv starts with a UTF-8 byte-order mark (Excel's 'CSV UTF-8')", _bom, Settles()),
    Case("utf8_bom_qualtrics", "a Qualtrics export with a byte-order mark", _bom_qualtrics, Settles()),
    Case(
        "cp1252_declared",
        "roster.csv saved by Excel as Windows-1252 with é and ë, and declared so",
        _cp1252_declared,
        Settles(),
    ),
    Case(
        "cp1252_undeclared",
        "the same Windows-1252 roster read as UTF-8 (the default)",
        _cp1252_undeclared,
        Fails(("roster.csv", "not valid utf-8", "line 2", "encoding")),
    ),
    Case(
        "utf16_undeclared",
        "roster.csv saved as UTF-16 ('Unicode text') but read as UTF-8",
        _utf16_undeclared,
        Fails(("roster.csv", "UTF-16", "encoding: utf-16")),
    ),
    Case(
        "utf8_bom_declared_cp1252",
        "a session log saved as 'CSV UTF-8' (with a byte-order mark) while study.yaml says cp1252",
        _bom_declared_cp1252,
        Fails(("sessions.csv", "UTF-8 byte-order mark", "encoding: utf-8")),
    ),
    Case(
        "semicolons_decimal_commas",
        "a survey saved by Dutch Excel: ';' between fields, '5,0' for five; declared so",
        _semicolons_decimal_commas,
        Settles(scores={("P001", "t1", "brs"): 5.0}),
    ),
    Case(
        "semicolons_read_as_commas",
        "a ';'-separated file whose description says ','",
        _semicolons_declared_as_commas,
        Fails(("attendance.csv", "Sessie-ID;Deelnemer-ID;Aanwezig", "does not describe", "separator")),
    ),
    Case(
        "excel_serial_date",
        "roster as an Excel workbook with date cells; one start date lost its format (45663)",
        _roster_xlsx,
        Settles(
            added=issues(
                ("roster.xlsx", 5, "Startdatum", "not_a_date"),
                ("survey_t0.csv", 8, "ExternalReference", "participant_quarantined"),
                ("survey_t1.csv", 5, "id", "participant_quarantined"),
            ),
            renamed={"roster.csv": "roster.xlsx"},
            accounting={"roster.xlsx": (10, 3, 6, 1), "survey_t0.csv": (9, 3, 4, 2), "survey_t1.csv": (4, 1, 2, 1)},
        ),
    ),
    Case(
        "title_row_above_header",
        "an extra title row above the header",
        _title_row,
        Fails(("roster.csv", "row 2", "fields but the header names 1", "title row")),
    ),
    Case(
        "merged_header_rows",
        "two header rows (merged cells above the column names)",
        _merged_header,
        Fails(("roster.csv", "empty column name", "position", "header row")),
    ),
    Case(
        "duplicated_column_name",
        "'Groep' twice in the header",
        _duplicate_name,
        Fails(("roster.csv", "['Groep']", "more than once")),
    ),
    Case("missing_column_name", "a column without a name", _empty_name, Fails(("roster.csv", "empty column name", "[9]"))),
    Case(
        "declared_column_absent",
        "the column 'Vorm' named in study.yaml is not in the file",
        _drop_column,
        Fails(("roster.csv", "named in study.yaml but not in the file", "['Vorm']")),
    ),
    Case(
        "undeclared_column",
        "an extra column with phone numbers that study.yaml does not describe",
        _extra_column,
        Fails(("roster.csv", "does not describe", "['Telefoon']", "identifier_columns")),
    ),
    Case(
        "trailing_empty_rows_and_columns",
        "two empty columns at the right and two empty rows at the end (an Excel selection)",
        _trailing_empties,
        Settles(
            accounting={"roster.csv": (12, 4, 5, 3)},
            fates={("roster.csv", 12): ("excluded", "blank_row"), ("roster.csv", 13): ("excluded", "blank_row")},
        ),
    ),
    Case(
        "trailing_blank_lines",
        "blank, separator-only and space-only lines at the end of a ';' file",
        _trailing_blank_lines,
        Settles(
            accounting={"attendance.csv": (14, 5, 4, 5)},
            fates={("attendance.csv", n): ("excluded", "blank_row") for n in (13, 14, 15)},
        ),
    ),
    Case(
        "mixed_line_ends",
        "CRLF and LF line ends mixed in one file (edited in two programs)",
        _mixed_line_ends,
        Settles(),
    ),
    Case("empty_file", "a survey export of 0 bytes", _empty, Fails(("survey_t1.csv", "the file is empty"))),
    Case("bom_only_file", "a session log holding only a byte-order mark and line ends", _bom_only, Fails(("sessions.csv", "the file is empty"))),
    Case(
        "header_only",
        "a survey export with the header and no submissions",
        _header_only,
        Settles(
            removed=issues(
                ("survey_t1.csv", 3, "golf", "unknown_value"),
                ("survey_t1.csv", 4, "", "no_answers"),
                ("survey_t1.csv", 5, "datum", "not_a_date"),
            ),
            accounting={"survey_t1.csv": (0, 0, 0, 0)},
        ),
    ),
    Case(
        "truncated_in_quotes",
        "a Qualtrics export cut off inside a quoted comment (an interrupted download)",
        _truncated_in_quotes,
        Fails(("survey_t0.csv", "line 6", "truncated")),
    ),
    Case(
        "truncated_mid_row",
        "a roster cut off in the middle of its last row",
        _truncated_mid_row,
        Settles(
            added=issues(
                ("roster.csv", 11, "Programma", "missing_value"),
                ("roster.csv", 11, "Arm", "missing_value"),
                ("roster.csv", 11, "Startdatum", "missing_value"),
                ("roster.csv", 11, "Toestemming", "missing_value"),
            ),
            removed=issues(("roster.csv", 11, "Arm, Groep, Coach-ID", "group_matches_arm")),
            accounting={"roster.csv": (10, 4, 5, 1)},
        ),
    ),
    Case("binary_as_csv", "a PNG image saved as sessions.csv", _png, Fails(("sessions.csv", "binary data"))),
    Case(
        "nul_padded",
        "a survey export followed by NUL bytes (a copy interrupted on a network share)",
        _nul_padded,
        Fails(("survey_t1.csv", "binary data")),
    ),
    Case(
        "csv_named_xlsx",
        "a CSV file renamed to .xlsx and declared as Excel",
        _csv_named_xlsx,
        Fails(("roster.xlsx", "not an Excel .xlsx workbook")),
    ),
    Case(
        "row_with_extra_fields",
        "a row with one field more than the header names",
        _extra_fields,
        Fails(("attendance.csv", "row 13", "4 fields", "header names 3")),
    ),
    Case(
        "qualtrics_without_import_ids",
        "a Qualtrics export whose second and third header rows were deleted",
        _qualtrics_without_import_ids,
        Fails(("survey_t0.csv", "row 3", "ImportIds", "format: csv")),
    ),
    Case("missing_file", "study.yaml names a file that is not there", _missing_file, Fails(("session_evals.csv", "does not exist"))),
    Case(
        "wave_not_in_study",
        "a survey declared for wave t5, which the study does not define",
        _wave_not_in_study,
        Fails(("study.yaml", "survey_t0.csv", "'t5'", "['t0', 't1']")),
    ),
]
