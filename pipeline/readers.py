"""Readers for the export formats studies arrive in: CSV (any dialect), Qualtrics CSV, SPSS, Excel.

Every reader returns a :class:`RawTable`: the cells as the export holds them (text stays
text, numbers stay numbers; nothing is guessed), the row numbers a person sees when
opening the file, and the file's name.  A file that cannot be read at all raises
:class:`~pipeline.errors.UnreadableFileError` naming the file and the reason.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import InputError, UnreadableFileError
from pipeline.study import Source

QUALTRICS_HEADER_ROWS = 3


@dataclass(frozen=True)
class RawTable:
    """One raw file as read: cells, row numbers as a person sees them, and its name.

    ``frame`` has a default RangeIndex; ``rows[i]`` is the 1-based row of ``frame.iloc[i]``
    in the file (the line in a CSV, the row in Excel, the case number in SPSS).
    """

    name: str
    frame: pd.DataFrame
    rows: np.ndarray
    value_labels: dict[str, dict[float, str]]


def _check_bytes(path: Path) -> bytes:
    if not path.exists():
        raise UnreadableFileError(path, "the file does not exist (check `file:` in study.yaml)")
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableFileError(path, "the file is empty")
    return data


def _text_of(path: Path, data: bytes, encoding: str) -> str:
    binary = "it holds binary data (NUL bytes), not delimited text; is it another format?"
    wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))  # text in these is full of NUL bytes
    if not wide and b"\x00" in data[:65536]:
        raise UnreadableFileError(path, binary)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(
            path, f"it is not valid {encoding} text (byte {exc.start}); set `csv: {{encoding: ...}}` in study.yaml"
        ) from exc
    if "\x00" in text[:65536]:
        raise UnreadableFileError(path, binary)
    text = text.removeprefix("\ufeff")
    if not text.strip():  # e.g. only a byte-order mark and line breaks
        raise UnreadableFileError(path, "the file is empty")
    return text


def _records(path: Path, text: str, sep: str) -> tuple[list[list[str]], list[int]]:
    """Split delimited text into records with the standard library's CSV parser (strict quoting).

    Returns the records and the line each record starts on (a quoted field may span lines).
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    records: list[list[str]] = []
    starts: list[int] = []
    try:
        end = 0
        for record in reader:
            records.append(record)
            starts.append(end + 1)
            end = reader.line_num
    except csv.Error as exc:
        raise UnreadableFileError(
            path, f"malformed CSV near line {reader.line_num}: {exc} (is the file truncated?)"
        ) from exc
    return records, starts


def _frame_from_records(path: Path, header: list[str], body: list[list[str]], lines: list[int]) -> RawTable:
    """Build the table of ``body`` under ``header``; ``lines[n]`` is the line ``body[n]`` starts on."""
    header = [h.strip() for h in header]
    _check_header(path, header)
    width = len(header)
    keep = [(n, r) for n, r in enumerate(body) if any(cell.strip() for cell in r)]  # blank lines are no rows
    for n, record in keep:
        extra = record[width:]
        if len(record) > width and any(cell.strip() for cell in extra):
            raise UnreadableFileError(
                path, f"row {lines[n]} has {len(record)} fields but the header names {width} (wrong separator?)"
            )
    cells = [(r + [""] * width)[:width] for _, r in keep]
    frame = pd.DataFrame(cells, columns=header, dtype=object) if cells else pd.DataFrame(columns=header, dtype=object)
    frame = frame.replace({"": None}).map(lambda v: v.strip() if isinstance(v, str) else v)
    frame = frame.replace({"": None})
    rows = np.array([lines[n] for n, _ in keep], dtype=np.int64)
    return RawTable(path.name, frame, rows, {})


def _check_header(path: Path, header: list[str]) -> None:
    trailing = len(header)
    while trailing and not header[trailing - 1]:
        trailing -= 1
    if any(not h for h in header[:trailing]):
        empty = [i + 1 for i, h in enumerate(header[:trailing]) if not h]
        raise UnreadableFileError(path, f"the header has empty column name(s) at position(s) {empty}")
    seen: dict[str, int] = {}
    for h in header[:trailing]:
        seen[h] = seen.get(h, 0) + 1
    dup = sorted(h for h, c in seen.items() if c > 1)
    if dup:
        raise UnreadableFileError(path, f"column name(s) {dup} appear more than once in the header")
    del header[trailing:]


def read_csv(path: Path, source: Source) -> RawTable:
    """Read a delimited text file (separator, decimal mark and encoding from study.yaml)."""
    data = _check_bytes(path)
    records, lines = _records(path, _text_of(path, data, source.csv.encoding), source.csv.sep)
    if not records:
        raise UnreadableFileError(path, "the file has no header row")
    return _frame_from_records(path, records[0], records[1:], lines[1:])


def read_qualtrics_csv(path: Path, source: Source) -> RawTable:
    """Read a Qualtrics CSV export: row 1 column codes, rows 2-3 question texts and ImportIds."""
    data = _check_bytes(path)
    records, lines = _records(path, _text_of(path, data, source.csv.encoding), source.csv.sep)
    if len(records) < QUALTRICS_HEADER_ROWS:
        raise UnreadableFileError(path, "a Qualtrics export has three header rows; this file has fewer rows")
    import_ids = [c for c in records[2] if c.strip()]
    if not import_ids or not all(c.strip().startswith('{"ImportId"') for c in import_ids):
        raise UnreadableFileError(
            path, "row 3 does not hold Qualtrics ImportIds; is it a plain CSV? (use `format: csv` in study.yaml)"
        )
    return _frame_from_records(path, records[0], records[QUALTRICS_HEADER_ROWS:], lines[QUALTRICS_HEADER_ROWS:])


def read_spss(path: Path, source: Source) -> RawTable:
    """Read an SPSS ``.sav`` file with pyreadstat; value labels are kept beside the codes.

    User-defined missing values (e.g. 99) are kept as values, so that the instrument's
    missing codes decide what they mean.
    """
    import pyreadstat

    _check_bytes(path)
    try:
        frame, meta = pyreadstat.read_sav(str(path), user_missing=True, apply_value_formats=False)
    except Exception as exc:  # pyreadstat raises its own exception types for damaged files
        raise UnreadableFileError(path, f"not a readable SPSS file: {exc}") from exc
    labels = {
        column: meta.value_labels[name] for column, name in meta.variable_to_label.items() if name in meta.value_labels
    }
    frame = frame.astype(object).where(frame.notna(), None)
    frame = frame.map(lambda v: (v.strip() or None) if isinstance(v, str) else v)
    keep = frame.notna().any(axis=1).to_numpy()
    rows = np.arange(1, len(frame) + 1)[keep]
    return RawTable(path.name, frame[keep].reset_index(drop=True), rows, labels)


def read_xlsx(path: Path, source: Source) -> RawTable:
    """Read one sheet of an Excel workbook with openpyxl; dates arrive as dates."""
    _check_bytes(path)
    if not zipfile.is_zipfile(path):
        raise UnreadableFileError(path, "not an Excel .xlsx workbook (not a zip archive; an old .xls or a CSV?)")
    try:
        frame = pd.read_excel(path, sheet_name=source.sheet, dtype=object, header=None, engine="openpyxl")
    except ValueError as exc:
        raise UnreadableFileError(path, f"{exc} (check `sheet:` in study.yaml)") from exc
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise UnreadableFileError(path, f"not a readable Excel workbook: {exc}") from exc
    if frame.empty:
        raise UnreadableFileError(path, f"sheet {source.sheet!r} is empty")
    header = ["" if pd.isna(h) else str(h) for h in frame.iloc[0]]
    body = [
        ["" if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in row]
        for row in frame.iloc[1:].itertuples(index=False)
    ]
    header = [h.strip() for h in header]
    _check_header(path, header)
    width = len(header)
    keep = [(n, r[:width]) for n, r in enumerate(body) if any(not (isinstance(c, str) and not c.strip()) for c in r)]
    for n, _record in keep:  # content beyond the last named column would be silently lost
        if any(not (isinstance(c, str) and not c.strip()) for c in body[n][width:]):
            raise UnreadableFileError(path, f"row {n + 2} has values in columns without a header")
    table = pd.DataFrame([r for _, r in keep], columns=header, dtype=object)
    table = table.map(lambda v: (v.strip() or None) if isinstance(v, str) else v)
    rows = np.array([n + 2 for n, _ in keep], dtype=np.int64)
    return RawTable(path.name, table, rows, {})


READERS = {"csv": read_csv, "qualtrics_csv": read_qualtrics_csv, "spss": read_spss, "xlsx": read_xlsx}


def read_source(path: Path, source: Source, item_columns: frozenset[str] = frozenset()) -> RawTable:
    """Read a raw file with the reader its ``format`` names, then check its columns.

    Every column must be declared in the study description (as a mapped field, one of
    ``item_columns``, an identifier, free text or ignored), and every declared column
    must exist; all mismatches are reported together.
    """
    table = READERS[source.format](path, source)
    check_declared_columns(path, table.frame.columns, source, item_columns)
    return table


def declared_columns(source: Source) -> set[str]:
    """Return the export columns a source description names outside its item mapping."""
    return (
        set(source.columns.values())
        | set(source.identifier_columns)
        | set(source.free_text_columns)
        | set(source.ignore_columns)
    )


def check_declared_columns(path: Path, columns: pd.Index, source: Source, item_columns: frozenset[str]) -> None:
    """Raise :class:`InputError` if the file's columns and the description disagree."""
    expected = declared_columns(source) | item_columns
    present = set(columns)
    missing = sorted(expected - present)
    unknown = sorted(present - expected)
    problems = []
    if missing:
        problems.append(f"column(s) named in study.yaml but not in the file: {missing}")
    if unknown:
        problems.append(
            f"column(s) in the file that study.yaml does not describe: {unknown} "
            "(declare each as a mapped column, item, identifier_columns, free_text_columns or ignore_columns)"
        )
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))
