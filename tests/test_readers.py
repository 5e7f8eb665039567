"""The readers: every export format, the dialects studies arrive in, and the files that cannot be read.

Each test builds its file in ``tmp_path`` (no binary fixtures are committed) and checks the cells,
the row numbers a person sees when opening the file, and the error a broken file gives.  The
item coding (:mod:`pipeline.items`) is tested here too, on the BRS response set, because it is
what turns the cells the readers return into answer codes.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest
from pydantic import ValidationError

from pipeline.canonical import _as_number
from pipeline.errors import InputError, UnreadableFileError
from pipeline.instruments import ResponseSet, load_instrument
from pipeline.items import (
    ANSWERED,
    ITEM_STATUS,
    MISSING_CODE,
    NOT_ANSWERED,
    OUT_OF_RANGE,
    UNRECOGNISED,
    code_cells,
    interpret,
)
from pipeline.readers import (
    cells,
    check_declared_columns,
    read_csv,
    read_qualtrics_csv,
    read_source,
    read_spss,
    read_xlsx,
)
from pipeline.study import Source, load_study

INSTRUMENTS = Path(__file__).resolve().parents[1] / "instruments"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def source(fmt: str = "csv", **kw: object) -> Source:
    """A source description with no column mapping (the readers do not look at it)."""
    return Source(file="x", format=fmt, columns={}, **kw)  # type: ignore[arg-type]


def write(tmp_path: Path, name: str, data: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts, with None for blank cells (text columns hold pandas' NA)."""
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def unreadable(path: Path, src: Source, reader=read_csv) -> str:
    """Return the message of the UnreadableFileError reading ``path`` raises; it names the file."""
    with pytest.raises(UnreadableFileError) as info:
        reader(path, src)
    message = str(info.value)
    assert str(path) in message
    assert info.value.path == path
    return message


# --------------------------------------------------------------------------------------------
# read_csv: encodings


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbfDeelnemer-ID,Naam\r\nP001,Ren\xc3\xa9e\r\n")
    table = read_csv(path, source())
    assert list(table.frame.columns) == ["Deelnemer-ID", "Naam"]
    assert records(table.frame) == [{"Deelnemer-ID": "P001", "Naam": "Renée"}]
    assert table.rows.tolist() == [2]
    assert table.name == "bom.csv"


def test_utf8_sig_encoding_reads_the_same(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbfid,a\n1,2\n")
    table = read_csv(path, source(csv={"encoding": "utf-8-sig"}))
    assert list(table.frame.columns) == ["id", "a"]


CP1252_TEXT = "id;Opmerking;Plaats\nP001;één keer;Enschedé\nP002;naïef;Zoë's huis\n"


def test_cp1252_with_accents_read_with_the_encoding_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "win.csv", CP1252_TEXT, encoding="cp1252")
    assert b"\xe9" in path.read_bytes()  # é is one byte: this really is Windows-1252, not UTF-8
    table = read_csv(path, source(csv={"sep": ";", "encoding": "cp1252"}))
    assert records(table.frame) == [
        {"id": "P001", "Opmerking": "één keer", "Plaats": "Enschedé"},
        {"id": "P002", "Opmerking": "naïef", "Plaats": "Zoë's huis"},
    ]
    assert table.rows.tolist() == [2, 3]


def test_cp1252_read_as_utf8_names_the_file_and_the_encoding_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "win.csv", CP1252_TEXT, encoding="cp1252")
    message = unreadable(path, source(csv={"sep": ";"}))
    assert "win.csv" in message
    assert "utf-8" in message
    assert "encoding" in message and "study.yaml" in message
    first_non_ascii = next(i for i, b in enumerate(path.read_bytes()) if b > 127)
    assert f"byte {first_non_ascii}" in message


def test_utf16_file_with_declared_encoding_is_text_not_binary(tmp_path: Path) -> None:
    # Excel's "Unicode text" export: UTF-16 with a BOM, tab-separated; every ASCII character has a NUL byte
    path = write(tmp_path, "unicode.txt", "id\tnaam\nP001\tZoë\n", encoding="utf-16")
    assert b"\x00" in path.read_bytes()
    table = read_csv(path, source(csv={"sep": "\t", "encoding": "utf-16"}))
    assert records(table.frame) == [{"id": "P001", "naam": "Zoë"}]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"encoding": "cp1525"}, "encoding"),
        ({"sep": "\\t"}, "sep"),
        ({"sep": ";;"}, "sep"),
        ({"decimal": ""}, "decimal"),
    ],
)
def test_impossible_csv_options_are_refused_in_the_study_description(options: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        source(csv=options)
    assert field in str(info.value)


def test_impossible_csv_option_in_study_yaml_is_an_input_error(tmp_path: Path) -> None:
    mini = Path(__file__).parent / "fixtures" / "mini" / "study.yaml"
    text = mini.read_text(encoding="utf-8").replace("encoding: cp1252", "encoding: windows-1525", 1)
    path = write(tmp_path, "study.yaml", text)
    with pytest.raises(InputError) as info:
        load_study(path)
    assert "sessions.csv.encoding" in str(info.value)
    assert "windows-1525" in str(info.value)


# --------------------------------------------------------------------------------------------
# read_csv: dialects, quoting, row numbers


def test_semicolons_and_decimal_commas_stay_text_until_the_canonical_layer(tmp_path: Path) -> None:
    path = write(tmp_path, "nl.csv", "Sessie-ID;Duur (uur);Aantal\nS1;2,5;2\nS2;1,75;\nS3;twee;3\n")
    table = read_csv(path, source(csv={"sep": ";", "decimal": ","}))
    assert records(table.frame) == [
        {"Sessie-ID": "S1", "Duur (uur)": "2,5", "Aantal": "2"},
        {"Sessie-ID": "S2", "Duur (uur)": "1,75", "Aantal": None},
        {"Sessie-ID": "S3", "Duur (uur)": "twee", "Aantal": "3"},
    ]
    hours, failed, _dotted = _as_number(table.frame["Duur (uur)"], decimal=",")
    assert hours.iloc[:2].tolist() == [2.5, 1.75]
    assert math.isnan(hours.iloc[2])
    assert failed.tolist() == [False, False, True]  # "twee" is reported, not guessed
    count, failed, _dotted = _as_number(table.frame["Aantal"], decimal=",")
    assert count.iloc[[0, 2]].tolist() == [2.0, 3.0]
    assert math.isnan(count.iloc[1])
    assert failed.tolist() == [False, False, False]  # empty is missing, not a failure


def test_as_number_with_decimal_comma() -> None:
    values = pd.Series(["2,5", " 3 ", "0,25", 4, 1.5, None, "1.234,5", "abc", True], dtype=object)
    out, failed, dotted = _as_number(values, decimal=",")
    assert out.iloc[:5].tolist() == [2.5, 3.0, 0.25, 4.0, 1.5]
    assert out.iloc[5:].isna().all()
    assert failed.tolist() == [False, False, False, False, False, False, True, True, True]
    assert not dotted.any()
    out, failed, dotted = _as_number(pd.Series(["2,5", "2.5"], dtype=object), decimal=".")
    assert math.isnan(out.iloc[0]) and out.iloc[1] == 2.5
    assert failed.tolist() == [True, False]
    assert not dotted.any()  # a point is the declared mark here


def test_a_decimal_point_in_a_comma_file_is_read_and_reported() -> None:
    out, failed, dotted = _as_number(pd.Series(["2.5", "2,5", "1.234,5"], dtype=object), decimal=",")
    assert out.iloc[0] == 2.5 and out.iloc[1] == 2.5 and math.isnan(out.iloc[2])
    assert failed.tolist() == [False, False, True]
    assert dotted.tolist() == [True, False, False]


def test_quoted_fields_keep_separators_quotes_and_line_breaks(tmp_path: Path) -> None:
    text = (
        "id;opmerking;cijfer\n"
        'P001;"goed; heel goed";"7,5"\n'
        'P002;"zei ""nee"", toen ja";8\n'
        'P003;"eerste regel\ntweede regel";6\n'
        "P004;gewoon;5\n"
    )
    table = read_csv(write(tmp_path, "q.csv", text), source(csv={"sep": ";"}))
    assert table.frame["opmerking"].tolist() == [
        "goed; heel goed",
        'zei "nee", toen ja',
        "eerste regel\ntweede regel",
        "gewoon",
    ]
    assert table.frame["cijfer"].tolist() == ["7,5", "8", "6", "5"]
    # P003's record spans lines 4-5, so P004 is on line 6 when the file is opened
    assert table.rows.tolist() == [2, 3, 4, 6]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_blank_lines_and_trailing_empty_rows_are_not_rows_and_rows_are_lines(tmp_path: Path, newline: str) -> None:
    lines = [
        "id,a,b",  # 1
        "P1,x,y",  # 2
        "",  # 3 blank line
        'P2,"two',  # 4 a record over two lines
        'lines",z',  # 5
        ",,",  # 6 separators only: an empty row
        "P3,q,r",  # 7
        "   ",  # 8 only spaces
        "P4,,t",  # 9
        ",,",  # 10 trailing empty rows, as Excel writes them
        ",,",  # 11
        "",  # 12
    ]
    table = read_csv(write(tmp_path, "blank.csv", newline.join(lines) + newline), source())
    assert table.rows.tolist() == [2, 4, 7, 9]
    assert table.rows.dtype == np.int64
    assert table.frame["id"].tolist() == ["P1", "P2", "P3", "P4"]
    assert table.frame["a"].iloc[1].splitlines() == ["two", "lines"]
    assert pd.isna(table.frame["a"].iloc[3])  # an empty cell is missing, not ""
    assert list(table.frame.index) == [0, 1, 2, 3]


def test_cells_are_trimmed_and_empty_cells_are_none(tmp_path: Path) -> None:
    table = read_csv(write(tmp_path, "t.csv", " id , a ,b\n  P1 ,  , x \nP2,y\n"), source())
    assert list(table.frame.columns) == ["id", "a", "b"]
    assert records(table.frame) == [{"id": "P1", "a": None, "b": "x"}, {"id": "P2", "a": "y", "b": None}]


def test_trailing_empty_columns_are_ignored(tmp_path: Path) -> None:
    table = read_csv(write(tmp_path, "t.csv", "id,a,,\nP1,1,,\nP2,2,,\nP3,3\n"), source())
    assert list(table.frame.columns) == ["id", "a"]
    assert records(table.frame) == [{"id": "P1", "a": "1"}, {"id": "P2", "a": "2"}, {"id": "P3", "a": "3"}]
    assert table.rows.tolist() == [2, 3, 4]


def test_header_only_gives_an_empty_table_with_its_columns(tmp_path: Path) -> None:
    table = read_csv(write(tmp_path, "t.csv", "id,a\n\n"), source())
    assert list(table.frame.columns) == ["id", "a"]
    assert len(table.frame) == 0
    assert table.rows.tolist() == []


# --------------------------------------------------------------------------------------------
# read_csv: files that cannot be read


def test_duplicated_column_names_are_named(tmp_path: Path) -> None:
    message = unreadable(write(tmp_path, "d.csv", "id,score,naam,score ,naam\n1,2,3,4,5\n"), source())
    assert "['naam', 'score']" in message
    assert "more than once" in message


def test_empty_column_name_in_the_middle(tmp_path: Path) -> None:
    message = unreadable(write(tmp_path, "e.csv", "id,,score\n1,2,3\n"), source())
    assert "empty column name" in message
    assert "[2]" in message  # the position of the nameless column


@pytest.mark.parametrize(
    "data",
    [b"", b" \n\t\r\n  \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n\r\n"],
    ids=["empty", "whitespace", "bom", "bom+lines"],
)
def test_empty_files(tmp_path: Path, data: bytes) -> None:
    assert "empty" in unreadable(write(tmp_path, "leeg.csv", data), source())


@pytest.mark.parametrize(
    "data", [PNG, b"id,a\n1,\x002\n", "id\nP1\n".encode("utf-16-le")], ids=["png", "nul", "utf16-undeclared"]
)
def test_binary_files_with_a_csv_name(tmp_path: Path, data: bytes) -> None:
    message = unreadable(write(tmp_path, "foto.csv", data), source())
    assert "binary" in message


def test_binary_file_is_refused_under_any_declared_encoding(tmp_path: Path) -> None:
    message = unreadable(write(tmp_path, "foto.csv", PNG), source(csv={"encoding": "cp1252"}))
    assert "binary" in message


def test_truncated_file_with_an_unterminated_quote(tmp_path: Path) -> None:
    path = write(tmp_path, "kapot.csv", 'id,opmerking\nP1,"goed"\nP2,"dit stopt halverwe')
    message = unreadable(path, source())
    assert "malformed" in message
    assert "truncated" in message
    assert "line 3" in message


def test_row_with_more_fields_than_the_header_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "breed.csv", 'id,a\nP1,"x\ny"\nP2,1\nP3,2,3\n')
    message = unreadable(path, source())
    assert "row 5" in message  # the line it is on (the record of P1 spans lines 2-3)
    assert "3 fields" in message and "header names 2" in message
    assert "separator" in message


def test_wrong_separator_is_caught_as_extra_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "komma.csv", "id,score\nP1,4,5\n")  # a decimal comma in a comma file
    assert "row 2" in unreadable(path, source())


def test_missing_file(tmp_path: Path) -> None:
    message = unreadable(tmp_path / "nergens.csv", source())
    assert "does not exist" in message
    assert "file:" in message  # points at the study.yaml setting


# --------------------------------------------------------------------------------------------
# read_qualtrics_csv

QUALTRICS = (
    "StartDate,ExternalReference,BRS_1,Q_opmerking\n"
    'Start Date,External Data Reference,"Ik herstel snel, meestal",Opmerkingen\n'
    '"{""ImportId"":""startDate""}","{""ImportId"":""externalDataReference""}",'
    '"{""ImportId"":""QID1_1""}","{""ImportId"":""QID2_TEXT""}"\n'
    "2025-01-10 09:00:00,P001,4,\n"
    "\n"
    '2025-01-10 10:00:00,P002,Mee eens,"twee\nregels"\n'
    "2025-01-10 11:00:00,P003,5,kort\n"
    ",,,\n"
)


def test_qualtrics_three_header_rows_and_data_from_row_4(tmp_path: Path) -> None:
    table = read_qualtrics_csv(write(tmp_path, "survey.csv", QUALTRICS), source("qualtrics_csv"))
    assert list(table.frame.columns) == ["StartDate", "ExternalReference", "BRS_1", "Q_opmerking"]
    assert table.frame["ExternalReference"].tolist() == ["P001", "P002", "P003"]
    assert table.frame["BRS_1"].tolist() == ["4", "Mee eens", "5"]
    assert list(cells(table.frame["Q_opmerking"])) == [None, "twee\nregels", "kort"]
    assert table.rows.tolist() == [4, 6, 8]  # line 5 is blank; P002's record spans lines 6-7


def test_qualtrics_with_bom_and_semicolons(tmp_path: Path) -> None:
    text = 'id;q1\nID;Vraag 1\n{"ImportId":"id"};{"ImportId":"QID1"}\nP1;3\n'
    table = read_qualtrics_csv(
        write(tmp_path, "s.csv", b"\xef\xbb\xbf" + text.encode()), source("qualtrics_csv", csv={"sep": ";"})
    )
    assert list(table.frame.columns) == ["id", "q1"]
    assert table.rows.tolist() == [4]


def test_plain_csv_given_as_qualtrics_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.csv", "id,brs1\nP1,4\nP2,5\nP3,3\n")
    message = unreadable(path, source("qualtrics_csv"), read_qualtrics_csv)
    assert "ImportId" in message
    assert "format: csv" in message


@pytest.mark.parametrize("text", ["id,brs1\n", "id,brs1\nID,BRS 1\n"])
def test_qualtrics_with_fewer_than_three_rows(tmp_path: Path, text: str) -> None:
    message = unreadable(write(tmp_path, "kort.csv", text), source("qualtrics_csv"), read_qualtrics_csv)
    assert "three header rows" in message


# --------------------------------------------------------------------------------------------
# read_xlsx


def workbook(path: Path) -> Path:
    """A workbook whose sheet 'Deelnemers' is not the first, with dates, numbers, text and empty rows."""
    wb = openpyxl.Workbook()
    first = wb.active
    first.title = "Toelichting"
    first.append(["Dit blad is geen data"])
    sheet = wb.create_sheet("Deelnemers")
    sheet.append(["Deelnemer-ID", "Startdatum", "Score", "Opmerking", "Nummer"])  # row 1
    sheet.append(["P001", dt.datetime(2025, 1, 6), 3.5, "  goed  ", "0612"])  # row 2
    sheet.append([None, None, None, None, None])  # row 3: empty
    sheet.append(["P002", dt.datetime(2025, 2, 3, 14, 30), 4, None, "0613"])  # row 4
    sheet.append(["P003", "03-01-2025", None, "   ", None])  # row 5: a date typed as text
    sheet["A9"].number_format = "0.00"  # formatted but empty trailing rows
    sheet["C12"].number_format = "0.00"
    wb.save(path)
    return path


def test_xlsx_cells_and_excel_row_numbers(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx")
    table = read_xlsx(path, source("xlsx", sheet="Deelnemers"))
    assert list(table.frame.columns) == ["Deelnemer-ID", "Startdatum", "Score", "Opmerking", "Nummer"]
    assert table.rows.tolist() == [2, 4, 5]
    assert table.frame["Deelnemer-ID"].tolist() == ["P001", "P002", "P003"]
    dates = table.frame["Startdatum"].tolist()
    assert isinstance(dates[0], dt.datetime) and dates[0] == dt.datetime(2025, 1, 6)
    assert isinstance(dates[1], dt.datetime) and dates[1] == dt.datetime(2025, 2, 3, 14, 30)
    assert dates[2] == "03-01-2025"  # text stays text: nothing is guessed
    scores = table.frame["Score"].tolist()
    assert all(isinstance(s, numbers.Real) and not isinstance(s, str) for s in scores[:2])
    assert scores[:2] == [3.5, 4]
    assert pd.isna(scores[2])
    assert table.frame["Opmerking"].tolist()[:2] == ["goed", None]
    assert table.frame["Opmerking"].tolist()[2] is None  # whitespace only is empty
    assert table.frame["Nummer"].tolist()[:2] == ["0612", "0613"]  # a leading zero survives


def test_xlsx_first_sheet_by_default(tmp_path: Path) -> None:
    table = read_xlsx(workbook(tmp_path / "w.xlsx"), source("xlsx"))
    assert list(table.frame.columns) == ["Dit blad is geen data"]
    assert len(table.frame) == 0


def test_xlsx_wrong_sheet_name_is_named(tmp_path: Path) -> None:
    message = unreadable(workbook(tmp_path / "w.xlsx"), source("xlsx", sheet="Deelnemerz"), read_xlsx)
    assert "Deelnemerz" in message
    assert "sheet" in message


def test_csv_renamed_to_xlsx(tmp_path: Path) -> None:
    path = write(tmp_path, "roster.xlsx", "Deelnemer-ID,Naam\nP001,Anna\n")
    message = unreadable(path, source("xlsx"), read_xlsx)
    assert "not an Excel" in message


def test_xlsx_values_in_a_column_without_a_header(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["Deelnemers"]["G4"] = "vergeten kolom"
    wb.save(path)
    message = unreadable(path, source("xlsx", sheet="Deelnemers"), read_xlsx)
    assert "row 4" in message
    assert "without a header" in message


def test_xlsx_empty_sheet(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "Leeg"
    wb.save(tmp_path / "leeg.xlsx")
    assert "empty" in unreadable(tmp_path / "leeg.xlsx", source("xlsx", sheet="Leeg"), read_xlsx)


def test_xlsx_duplicate_header(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.append(["id", "score", "score"])
    wb.active.append(["P1", 1, 2])
    wb.save(tmp_path / "dup.xlsx")
    assert "['score']" in unreadable(tmp_path / "dup.xlsx", source("xlsx"), read_xlsx)


# --------------------------------------------------------------------------------------------
# read_spss

LABELS = {1.0: "Helemaal mee oneens", 3.0: "Neutraal", 5.0: "Helemaal mee eens", 99.0: "Weet niet"}


def sav(path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "id": ["P001", "P002", "", "P004"],
            "brs_1": [1.0, 99.0, np.nan, 5.0],
            "brs_2": [3.0, 2.0, np.nan, np.nan],
        }
    )
    pyreadstat.write_sav(
        frame,
        str(path),
        variable_value_labels={"brs_1": LABELS, "brs_2": LABELS},
        missing_ranges={"brs_1": [99.0], "brs_2": [99.0]},
    )
    return path


def test_spss_codes_are_numbers_user_missing_missing_and_labels_beside(tmp_path: Path) -> None:
    path = sav(tmp_path / "survey.sav")
    _, meta = pyreadstat.read_sav(str(path), metadataonly=True, user_missing=True)
    assert meta.missing_ranges["brs_1"] == [{"lo": 99.0, "hi": 99.0}]  # the file does declare 99 missing
    table = read_spss(path, source("spss"))
    assert table.frame["id"].tolist() == ["P001", "P002", "P004"]
    assert table.rows.tolist() == [1, 2, 4]  # case numbers; the empty third case is no row
    codes = table.frame["brs_1"].tolist()
    assert codes[0] == 1.0 and pd.isna(codes[1]) and codes[2] == 5.0  # the file declares 99 missing: missing
    assert table.user_missing["brs_1"].tolist() == [2]  # ... and says in which case it was
    assert all(isinstance(c, numbers.Real) and not isinstance(c, str) for c in codes)
    assert table.frame["brs_2"].iloc[:2].tolist() == [3.0, 2.0]
    assert pd.isna(table.frame["brs_2"].iloc[2])
    assert table.value_labels["brs_1"] == LABELS
    assert table.value_labels["brs_2"] == LABELS
    assert "id" not in table.value_labels


def test_spss_codes_then_code_as_answers(tmp_path: Path) -> None:
    table = read_spss(sav(tmp_path / "survey.sav"), source("spss"))
    rs = brs_response_set()
    cells = code_cells(table.frame[["brs_1", "brs_2"]], [rs, rs])
    np.testing.assert_array_equal(cells.codes, [[1.0, 3.0], [np.nan, 2.0], [5.0, np.nan]])
    assert cells.status.tolist() == [[ANSWERED, ANSWERED], [NOT_ANSWERED, ANSWERED], [ANSWERED, NOT_ANSWERED]]


@pytest.mark.parametrize("data", [b"id,brs_1\nP001,4\n", PNG, b"$FL2@(#) truncated"], ids=["csv", "png", "truncated"])
def test_non_sav_file_with_sav_name(tmp_path: Path, data: bytes) -> None:
    message = unreadable(write(tmp_path, "survey.sav", data), source("spss"), read_spss)
    assert "SPSS" in message


def test_missing_and_empty_sav(tmp_path: Path) -> None:
    assert "does not exist" in unreadable(tmp_path / "weg.sav", source("spss"), read_spss)
    assert "empty" in unreadable(write(tmp_path, "leeg.sav", b""), source("spss"), read_spss)


# --------------------------------------------------------------------------------------------
# read_source / check_declared_columns: every column described, every described column present


def roster_source(**kw: object) -> Source:
    return Source(
        file="roster.csv",
        format="csv",
        columns={"participant_id": "Deelnemer-ID", "programme": "Programma"},
        identifier_columns=["Naam"],
        free_text_columns=["Opmerking"],
        ignore_columns=["Volgnummer"],
        **kw,  # type: ignore[arg-type]
    )


def test_all_columns_declared_reads(tmp_path: Path) -> None:
    path = write(tmp_path, "roster.csv", "Volgnummer,Deelnemer-ID,Naam,Programma,Opmerking\n1,P1,Anna,coschappen,\n")
    table = read_source(path, roster_source())
    assert table.frame["Deelnemer-ID"].tolist() == ["P1"]


def test_undeclared_column_is_refused_and_listed(tmp_path: Path) -> None:
    # an unexpected column might hold an identifier: it must be declared, never passed through
    path = write(
        tmp_path, "roster.csv", "Volgnummer,Deelnemer-ID,Naam,Programma,Opmerking,BSN,E-mail\n1,P1,A,c,,1,a@b.nl\n"
    )
    with pytest.raises(InputError) as info:
        read_source(path, roster_source())
    message = str(info.value)
    assert "['BSN', 'E-mail']" in message
    assert "does not describe" in message
    assert "identifier_columns" in message
    assert "roster.csv" in message


def test_declared_column_missing_is_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "roster.csv", "Volgnummer,Deelnemer-ID,Naam\n1,P1,A\n")
    with pytest.raises(InputError) as info:
        read_source(path, roster_source())
    message = str(info.value)
    assert "['Opmerking', 'Programma']" in message
    assert "not in the file" in message
    assert "does not describe" not in message


def test_missing_and_undeclared_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, "roster.csv", "Volgnummer,Deelnemer-ID,Naam,Opmerking,Telefoon\n1,P1,A,,06\n")
    with pytest.raises(InputError) as info:
        read_source(path, roster_source())
    message = str(info.value)
    assert "['Programma']" in message and "not in the file" in message
    assert "['Telefoon']" in message and "does not describe" in message
    assert message.count("\n") == 0  # one message, one paragraph


def test_item_columns_count_as_declared(tmp_path: Path) -> None:
    columns = pd.Index(["Volgnummer", "Deelnemer-ID", "Naam", "Programma", "Opmerking", "brs1", "brs2"])
    check_declared_columns(tmp_path / "s.csv", columns, roster_source(), frozenset({"brs1", "brs2"}))
    with pytest.raises(InputError, match=r"\['brs3'\]"):
        check_declared_columns(tmp_path / "s.csv", columns, roster_source(), frozenset({"brs1", "brs2", "brs3"}))
    with pytest.raises(InputError, match=r"\['brs2'\]"):
        check_declared_columns(tmp_path / "s.csv", columns, roster_source(), frozenset({"brs1"}))


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    # the CLI reports every InputError as one paragraph with exit code 2
    with pytest.raises(InputError):
        read_source(write(tmp_path, "roster.csv", PNG), roster_source())


# --------------------------------------------------------------------------------------------
# pipeline.items: from cells to answer codes, on the BRS response set


def brs_response_set() -> ResponseSet:
    inst = load_instrument(INSTRUMENTS / "brs.yaml")
    return inst.response_set_of(inst.items[0])


def test_brs_response_set_is_what_the_cases_below_assume() -> None:
    rs = brs_response_set()
    assert (rs.min, rs.max) == (1, 5)
    assert rs.labels[4].nl == "Mee eens" and rs.labels[4].en == "Agree"
    assert rs.missing_codes == [99, -9, "n.v.t."]


CASES = [
    # (cell, decimal, code, status)
    (4, ".", 4.0, ANSWERED),
    (4.0, ".", 4.0, ANSWERED),
    (np.int64(2), ".", 2.0, ANSWERED),
    (np.float64(5.0), ".", 5.0, ANSWERED),
    (1, ".", 1.0, ANSWERED),
    ("4", ".", 4.0, ANSWERED),
    (" 4 ", ".", 4.0, ANSWERED),
    ("4.0", ".", 4.0, ANSWERED),
    ("4,0", ",", 4.0, ANSWERED),
    ("Mee eens", ".", 4.0, ANSWERED),
    ("mee EENS", ".", 4.0, ANSWERED),
    ("  Helemaal mee oneens ", ".", 1.0, ANSWERED),
    ("Agree", ".", 4.0, ANSWERED),
    ("STRONGLY AGREE", ".", 5.0, ANSWERED),
    ("neutral", ".", 3.0, ANSWERED),
    (99, ".", math.nan, MISSING_CODE),
    (99.0, ".", math.nan, MISSING_CODE),
    (-9, ".", math.nan, MISSING_CODE),
    ("99", ".", math.nan, MISSING_CODE),
    ("-9", ".", math.nan, MISSING_CODE),
    ("n.v.t.", ".", math.nan, MISSING_CODE),
    ("N.V.T.", ".", math.nan, MISSING_CODE),
    (6, ".", math.nan, OUT_OF_RANGE),
    (0, ".", math.nan, OUT_OF_RANGE),
    (2.5, ".", math.nan, OUT_OF_RANGE),
    ("6", ".", math.nan, OUT_OF_RANGE),
    ("2,5", ",", math.nan, OUT_OF_RANGE),
    (-1, ".", math.nan, OUT_OF_RANGE),
    ("4,0", ".", math.nan, UNRECOGNISED),  # a decimal comma in a file that does not declare one
    ("misschien", ".", math.nan, UNRECOGNISED),
    ("Mee eens!", ".", math.nan, UNRECOGNISED),
    ("nan", ".", math.nan, UNRECOGNISED),
    ("inf", ".", math.nan, UNRECOGNISED),
    (dt.datetime(2025, 1, 4), ".", math.nan, UNRECOGNISED),
    (pd.Timestamp("2025-01-04"), ".", math.nan, UNRECOGNISED),
    (dt.date(2025, 1, 4), ".", math.nan, UNRECOGNISED),
    (True, ".", math.nan, UNRECOGNISED),  # True == 1, but a tick box is not the answer "1"
    (False, ".", math.nan, UNRECOGNISED),
    (None, ".", math.nan, NOT_ANSWERED),
    (math.nan, ".", math.nan, NOT_ANSWERED),
    ("", ".", math.nan, NOT_ANSWERED),
    ("   ", ".", math.nan, NOT_ANSWERED),
]


@pytest.mark.parametrize(("cell", "decimal", "code", "status"), CASES, ids=[repr(c[0]) for c in CASES])
def test_interpret(cell: object, decimal: str, code: float, status: int) -> None:
    got_code, got_status = interpret(cell, brs_response_set(), decimal)
    assert ITEM_STATUS[got_status] == ITEM_STATUS[status]
    if math.isnan(code):
        assert math.isnan(got_code)
    else:
        assert got_code == code


@pytest.mark.parametrize("decimal", [".", ","])
def test_code_cells_codes_every_case_of_a_block_at_once(decimal: str) -> None:
    # the cases for this decimal mark: those written for it, and those for "." without a comma in them
    cases = [c for c in CASES if c[1] == decimal or (c[1] == "." and "," not in str(c[0]))]
    rs = brs_response_set()
    # two columns on one response set, the second the first reversed, so values repeat across columns
    cells = [c[0] for c in cases]
    block = pd.DataFrame({"a": cells, "b": cells[::-1]}, dtype=object)
    coded = code_cells(block, [rs, rs], decimal)
    expected = [interpret(c, rs, decimal) for c in cells]
    for column, order in ((0, expected), (1, expected[::-1])):
        np.testing.assert_array_equal(coded.codes[:, column], [e[0] for e in order])
        assert coded.status[:, column].tolist() == [e[1] for e in order]
    # and the expectations of CASES themselves hold in the block
    for n, (_, _, code, status) in enumerate(cases):
        assert coded.status[n, 0] == status
        assert (math.isnan(code) and math.isnan(coded.codes[n, 0])) or coded.codes[n, 0] == code


@pytest.mark.parametrize(
    "column",
    [[True, 1, 1.0, "1"], [1, True, np.True_, 1.0], [0, False, 1, True], [False, 0, 0.0, 5]],
    ids=["bool-first", "number-first", "both", "false-zero"],
)
def test_code_cells_does_not_mix_up_booleans_and_numbers_0_1(column: list) -> None:
    # True == 1 and hash(True) == hash(1): a block coded value by value must still tell them apart
    block = pd.DataFrame({"a": column}, dtype=object)
    coded = code_cells(block, [brs_response_set()])
    expected = [interpret(v, brs_response_set()) for v in column]
    assert [ITEM_STATUS[s] for s in coded.status[:, 0]] == [ITEM_STATUS[e[1]] for e in expected]
    np.testing.assert_array_equal(coded.codes[:, 0], [e[0] for e in expected])


def test_code_cells_with_several_response_sets_and_an_empty_block() -> None:
    rs = brs_response_set()
    other = ResponseSet(min=0, max=6, labels={i: {"nl": f"n{i}", "en": f"e{i}"} for i in range(7)}, missing_codes=[9])
    block = pd.DataFrame({"a": [0, 6, 9, "n6"], "b": [0, 6, 9, "n6"]}, dtype=object)
    coded = code_cells(block, [rs, other])
    assert coded.status[:, 0].tolist() == [OUT_OF_RANGE, OUT_OF_RANGE, OUT_OF_RANGE, UNRECOGNISED]
    assert coded.status[:, 1].tolist() == [ANSWERED, ANSWERED, MISSING_CODE, ANSWERED]
    np.testing.assert_array_equal(coded.codes[:, 1], [0.0, 6.0, np.nan, 6.0])
    empty = code_cells(pd.DataFrame({"a": []}, dtype=object), [rs])
    assert empty.codes.shape == (0, 1) and empty.status.shape == (0, 1)
