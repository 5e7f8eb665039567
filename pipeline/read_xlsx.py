"""Reading one sheet of an Excel workbook: what a person sees when opening it, nothing hidden.

* **Hidden sheets** are never read unless study.yaml names them: ``sheet:`` as a number counts
  the visible sheets only (``0``, the default, is the first visible sheet); a hidden or
  very hidden sheet is read only when ``sheet:`` gives its name.
* **Hidden rows** (hidden by hand, by a filter or by a collapsed outline) stop the run with a
  message naming them: a row someone hid may be a person who should not be processed, and
  only the research team knows.  ``hidden_rows: read`` in study.yaml reads them as ordinary
  rows (their numbers are kept in :attr:`RawTable.hidden_rows`); deleting them from the
  workbook leaves them out.
* **Formulas** are read as the value Excel stored when it last calculated the workbook; a
  formula without a stored value (a file written by a program, never opened in Excel) stops
  the run naming its cells, instead of being read as a blank answer.
* **Size**: the file and its unpacked content must fit the source's ``max_megabytes``.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import UnreadableFileError
from pipeline.raw_table import RawTable, check_header
from pipeline.safe_path import MEGABYTE, check_regular_file, too_large
from pipeline.study import Source

#: how many cells or rows a message names before it says "and N more"
SHOWN = 10


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _check_archive(path: Path, source: Source) -> None:
    check_regular_file(path, max_megabytes=source.max_megabytes)
    if not zipfile.is_zipfile(path):
        raise UnreadableFileError(path, "not an Excel .xlsx workbook (not a zip archive; an old .xls or a CSV?)")
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFileError(path, "not a readable Excel workbook (a damaged zip archive)") from exc
    if unpacked > source.max_megabytes * MEGABYTE:
        raise UnreadableFileError(path, too_large(unpacked, source.max_megabytes, "the unpacked workbook"))


def _load(path: Path, data_only: bool):
    import openpyxl

    try:
        return openpyxl.load_workbook(path, data_only=data_only, keep_links=False, keep_vba=False)
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise UnreadableFileError(path, f"not a readable Excel workbook ({type(exc).__name__})") from exc


def _sheet(path: Path, book, wanted: str | int):
    """Return the sheet ``wanted`` names: a name (any sheet) or a number (visible sheets only)."""
    visible = [ws for ws in book.worksheets if ws.sheet_state == "visible"]
    hidden = len(book.worksheets) - len(visible)
    note = f" ({hidden} hidden sheet(s) are read only when `sheet:` gives their name)" if hidden else ""
    if isinstance(wanted, str):
        if wanted not in book.sheetnames or wanted not in [ws.title for ws in book.worksheets]:
            raise UnreadableFileError(
                path, f"the workbook has no sheet named {wanted!r} (check `sheet:` in study.yaml)"
            )
        return book[wanted]
    if not 0 <= wanted < len(visible):
        raise UnreadableFileError(
            path,
            f"the workbook has {len(visible)} visible sheet(s), so there is no sheet number {wanted} "
            f"(check `sheet:` in study.yaml; numbers count from 0){note}",
        )
    return visible[wanted]


def _value(cell) -> object:
    """A cell's value as pandas' Excel reader gives it: whole numbers as int, errors as NaN."""
    value = cell.value
    if value is None:
        return None
    if cell.data_type == "e":
        return np.nan
    if cell.data_type == "n" and not isinstance(value, bool | dt.datetime | dt.date | dt.time | dt.timedelta):
        whole = int(value)
        return whole if whole == value else float(value)
    return value


def _formulas(sheet) -> list[str]:
    """Return the coordinates of the formula cells of a sheet loaded with formulas."""
    return [cell.coordinate for row in sheet.iter_rows() for cell in row if cell.data_type == "f"]


def _hidden_rows(sheet, last: int) -> list[int]:
    return sorted(r for r, d in sheet.row_dimensions.items() if d.hidden and r <= last)


def read_xlsx(path: Path, source: Source) -> RawTable:
    """Read one sheet of an Excel workbook with openpyxl; dates arrive as dates.

    Raises :class:`UnreadableFileError` for a hidden row (unless ``hidden_rows: read``), a
    formula without a stored value, a missing sheet, and values beyond the named columns.
    """
    _check_archive(path, source)
    book = _load(path, data_only=False)
    sheet = _sheet(path, book, source.sheet)
    formulas = _formulas(sheet)
    if formulas:  # the stored results live in the workbook loaded with data_only
        title = sheet.title
        book = _load(path, data_only=True)
        sheet = book[title]
        # a stored empty text (``=IF(..., "", ...)``) is a result: Excel marks it as text (t="str")
        blank = [c for c in formulas if sheet[c].value is None and sheet[c].data_type != "str"]
        if blank:
            raise UnreadableFileError(
                path,
                f"{len(blank)} cell(s) of sheet {source.sheet!r} hold a formula without a calculated value "
                f"({_listed(blank)}); open the workbook in Excel and save it (Excel stores the results), "
                "or replace the formulas by their values",
            )
    rows_of = sheet.iter_rows(min_row=1, min_col=1, max_row=sheet.max_row, max_col=sheet.max_column)
    grid = [[_value(cell) for cell in row] for row in rows_of]
    last = max((i for i, row in enumerate(grid) if any(v is not None for v in row)), default=-1)
    grid = grid[: last + 1]
    if not grid:
        raise UnreadableFileError(path, f"sheet {source.sheet!r} is empty")
    hidden = _hidden_rows(sheet, last + 1)
    if hidden and source.hidden_rows == "refuse":
        raise UnreadableFileError(
            path,
            f"sheet {source.sheet!r} has {len(hidden)} hidden row(s) ({_listed([str(r) for r in hidden])}): "
            "a hidden row may be someone who should not be processed. Unhide the rows in Excel to read "
            "them, delete the rows that must not be read, or say `hidden_rows: read` for this source in study.yaml",
        )
    header = [h.strip() for h in ("" if _blank(v) else str(v) for v in grid[0])]
    check_header(path, header)
    width = len(header)
    body = grid[1:]
    keep = [n for n, r in enumerate(body) if any(not _blank(c) for c in r)]
    for n in keep:  # content beyond the last named column would be silently lost
        if any(not _blank(c) for c in body[n][width:]):
            raise UnreadableFileError(path, f"row {n + 2} has values in columns without a header")
    values = [[_text(v) for v in (body[n] + [None] * width)[:width]] for n in keep]
    table = pd.DataFrame(values, columns=header, dtype=object)  # numbers stay as they are, blanks None
    if not values:
        table = pd.DataFrame(columns=header, dtype=object)
    rows = np.array([n + 2 for n in keep], dtype=np.int64)
    blank_rows = np.setdiff1d(np.arange(2, len(body) + 2, dtype=np.int64), rows)
    read_hidden = np.intersect1d(np.array(hidden, dtype=np.int64), rows)
    return RawTable(path.name, table, rows, {}, blank_rows, hidden_rows=read_hidden)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and not value.strip())


def _text(value: object) -> object:
    if isinstance(value, float) and np.isnan(value):
        return None
    return (value.strip() or None) if isinstance(value, str) else value
