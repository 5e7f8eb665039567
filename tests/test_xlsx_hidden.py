"""Excel workbooks are read as a person sees them: hidden sheets only by name, hidden rows reported,
formulas by their stored results (a formula without one is an error naming its cells)."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest

from pipeline.errors import UnreadableFileError
from pipeline.read_xlsx import read_xlsx
from pipeline.study import Source
from tests.real_study import write_study
from tests.test_study_cli import check


def source(**kw: object) -> Source:
    return Source(file="x.xlsx", format="xlsx", columns={}, **kw)  # type: ignore[arg-type]


def consent_workbook(path: Path, state: str = "hidden") -> Path:
    """An old hidden first sheet (everyone consented) before the visible current one (three refused)."""
    wb = openpyxl.Workbook()
    old = wb.active
    old.title = "Oud"
    old.append(["Deelnemer-ID", "Toestemming"])
    for n in range(1, 7):
        old.append([f"P{n}", "ja"])
    old.sheet_state = state
    current = wb.create_sheet("Deelnemers")
    current.append(["Deelnemer-ID", "Toestemming"])
    for n in range(1, 7):
        current.append([f"P{n}", "nee" if n <= 3 else "ja"])
    wb.save(path)
    return path


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_a_hidden_first_sheet_is_not_read_when_sheet_is_left_out(tmp_path: Path, state: str) -> None:
    table = read_xlsx(consent_workbook(tmp_path / "r.xlsx", state), source())
    assert table.frame["Toestemming"].tolist() == ["nee"] * 3 + ["ja"] * 3  # the visible sheet: three refused


def test_a_hidden_sheet_is_read_when_named(tmp_path: Path) -> None:
    table = read_xlsx(consent_workbook(tmp_path / "r.xlsx"), source(sheet="Oud"))
    assert table.frame["Toestemming"].tolist() == ["ja"] * 6


def test_sheet_numbers_count_visible_sheets_only(tmp_path: Path) -> None:
    path = consent_workbook(tmp_path / "r.xlsx")
    assert read_xlsx(path, source(sheet=0)).frame["Toestemming"].tolist()[0] == "nee"
    with pytest.raises(UnreadableFileError) as info:
        read_xlsx(path, source(sheet=1))
    message = str(info.value)
    assert "1 visible sheet(s)" in message and "hidden sheet(s) are read only when `sheet:` gives their name" in message
    assert "Oud" not in message  # a hidden sheet's name is not shown


def test_a_workbook_with_only_hidden_sheets_reads_nothing_unnamed(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.append(["id"])
    wb.create_sheet("Zichtbaar").append(["id"])
    wb.active.sheet_state = "hidden"
    wb.active = 1
    wb["Zichtbaar"].sheet_state = "visible"
    wb.worksheets[0].sheet_state = "hidden"
    wb.save(tmp_path / "w.xlsx")
    assert list(read_xlsx(tmp_path / "w.xlsx", source()).frame.columns) == ["id"]


def hidden_rows_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Deelnemer-ID", "Score"])
    for n in range(1, 7):
        ws.append([f"P{n}", n])
    ws.row_dimensions[3].hidden = True  # P2, hidden by hand
    ws.row_dimensions[6].hidden = True  # P5
    wb.save(path)
    return path


def test_hidden_rows_stop_the_read_naming_them(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError) as info:
        read_xlsx(hidden_rows_workbook(tmp_path / "h.xlsx"), source())
    message = str(info.value)
    assert "2 hidden row(s) (3, 6)" in message
    assert "hidden_rows: read" in message and "P2" not in message


def test_hidden_rows_read_when_study_yaml_says_so_and_recorded(tmp_path: Path) -> None:
    table = read_xlsx(hidden_rows_workbook(tmp_path / "h.xlsx"), source(hidden_rows="read"))
    assert table.frame["Deelnemer-ID"].tolist() == [f"P{n}" for n in range(1, 7)]
    assert table.hidden_rows.tolist() == [3, 6]
    assert table.rows.tolist() == [2, 3, 4, 5, 6, 7]


def test_rows_hidden_by_a_filter_are_hidden_rows_too(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Deelnemer-ID", "Groep"])
    for n, group in enumerate(["A", "B", "A", "B"], start=1):
        ws.append([f"P{n}", group])
    ws.auto_filter.ref = "A1:B5"
    ws.auto_filter.add_filter_column(1, ["A"])
    for row in (3, 5):  # what Excel stores when the filter shows group A only
        ws.row_dimensions[row].hidden = True
    wb.save(tmp_path / "f.xlsx")
    with pytest.raises(UnreadableFileError, match=r"2 hidden row\(s\) \(3, 5\)"):
        read_xlsx(tmp_path / "f.xlsx", source())


def test_hidden_blank_rows_beyond_the_data_do_not_count(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id"])
    ws.append(["P1"])
    ws.row_dimensions[40].hidden = True
    wb.save(tmp_path / "b.xlsx")
    assert read_xlsx(tmp_path / "b.xlsx", source()).frame["id"].tolist() == ["P1"]


def formula_workbook(path: Path, cached: dict[str, str] | None = None, text: tuple[str, ...] = ()) -> Path:
    """Row 1 header, rows 2-4 answers; C2:C4 a total by formula (written without stored results)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "a", "totaal"])
    for n in range(2, 5):
        ws.append([f"P{n - 1}", n, f"=B{n}*2"])
    wb.save(path)
    if cached:  # store results as Excel would after calculating
        with zipfile.ZipFile(path) as zin:
            parts = {name: zin.read(name) for name in zin.namelist()}
        xml = parts["xl/worksheets/sheet1.xml"].decode()
        for cell, value in cached.items():
            xml = re.sub(rf'(<c r="{cell}"[^>]*><f>[^<]*</f>)<v\s*/>', rf"\1<v>{value}</v>", xml)
        for cell in text:  # a result Excel stored as text
            xml = xml.replace(f'<c r="{cell}">', f'<c r="{cell}" t="str">')
        parts["xl/worksheets/sheet1.xml"] = xml.encode()
        with zipfile.ZipFile(path, "w") as zout:
            for name, data in parts.items():
                zout.writestr(name, data)
    return path


def test_formulas_without_stored_results_are_an_error_naming_the_cells(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError) as info:
        read_xlsx(formula_workbook(tmp_path / "f.xlsx"), source())
    message = str(info.value)
    assert "3 cell(s)" in message and "(C2, C3, C4)" in message and "formula without a calculated value" in message


def test_formulas_with_stored_results_read_their_results(tmp_path: Path) -> None:
    table = read_xlsx(formula_workbook(tmp_path / "f.xlsx", {"C2": "4", "C3": "6", "C4": "8"}), source())
    assert table.frame["totaal"].tolist() == [4, 6, 8]


def test_a_formula_whose_stored_result_is_empty_text_is_a_blank_cell(tmp_path: Path) -> None:
    """``=IF(B4>3, "", B4*2)`` calculated by Excel: an empty text result, not a missing one."""
    path = formula_workbook(tmp_path / "f.xlsx", {"C2": "4", "C3": "6", "C4": ""}, text=("C4",))
    table = read_xlsx(path, source())
    assert table.frame["totaal"].tolist()[:2] == [4, 6] and table.frame["totaal"].tolist()[2] is None


def test_one_formula_without_a_result_among_calculated_ones(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match=r"1 cell\(s\).*\(C4\)"):
        read_xlsx(formula_workbook(tmp_path / "f.xlsx", {"C2": "4", "C3": "6"}), source())


def test_hidden_row_in_a_study_stops_study_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = write_study(tmp_path / "pilot")
    book = openpyxl.load_workbook(folder / "logboek.xlsx")
    book["Sessies"].row_dimensions[4].hidden = True
    book.save(folder / "logboek.xlsx")
    code, _out, err = check(folder, capsys)
    assert code == 2 and "internal error" not in err
    assert "1 hidden row(s) (4)" in err and "sheet 'Sessies'" in err
    shutil.rmtree(folder)
