"""Readers for the export formats studies arrive in: CSV (any dialect), Qualtrics CSV, SPSS, Excel.

Every reader returns a :class:`RawTable`: the cells as the export holds them (text stays
text, numbers stay numbers; nothing is guessed), the row numbers a person sees when
opening the file, and the file's name.  A file that cannot be read at all raises
:class:`~pipeline.errors.UnreadableFileError` naming the file and the reason, never its content.

The delimited-text readers live here; SPSS in :mod:`pipeline.read_spss`, Excel in
:mod:`pipeline.read_xlsx`.  Before any of them opens a file, :mod:`pipeline.safe_path` checks
that it is a regular file inside the study folder and within the size limit.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipeline.errors import InputError, UnreadableFileError
from pipeline.raw_table import TEXT, RawTable, cells, check_header, shown_columns
from pipeline.read_spss import read_spss
from pipeline.read_xlsx import read_xlsx
from pipeline.safe_path import check_regular_file, read_bytes, study_folder
from pipeline.study import Source

__all__ = [
    "READERS",
    "TEXT",
    "RawTable",
    "cells",
    "check_declared_columns",
    "declared_columns",
    "read_csv",
    "read_qualtrics_csv",
    "read_source",
    "read_spss",
    "read_xlsx",
]

QUALTRICS_HEADER_ROWS = 3


def _check_bytes(path: Path, source: Source) -> bytes:
    size = check_regular_file(path, max_megabytes=source.max_megabytes)
    data = read_bytes(path, size, source.max_megabytes)
    if not data.strip():
        raise UnreadableFileError(path, "the file is empty")
    return data


#: byte-order marks and the encoding family they announce (UTF-32 first: its LE mark begins like UTF-16's)
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _check_byte_order_mark(path: Path, data: bytes, encoding: str) -> None:
    """Refuse a file whose byte-order mark announces another encoding than study.yaml declares.

    Read in the declared encoding, such a file would start with nonsense (``ï»¿`` before the
    first column name) or look binary (UTF-16 text is full of NUL bytes).
    """
    declared = codecs.lookup(encoding).name
    for mark, family in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            if declared.startswith(family):
                return
            if not data.decode(family, errors="replace").lstrip("\ufeff").strip():
                raise UnreadableFileError(path, "the file is empty")
            raise UnreadableFileError(
                path,
                f"it is {family.upper()} text (it starts with a {family.upper()} byte-order mark), but study.yaml "
                f"declares encoding {encoding!r}; set `csv: {{encoding: {family}}}` in study.yaml",
            )


def _text_of(path: Path, data: bytes, encoding: str) -> str:
    binary = "it holds binary data (NUL bytes), not delimited text; is it another format?"
    _check_byte_order_mark(path, data, encoding)
    wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))  # text in these is full of NUL bytes
    if not wide and b"\x00" in data[:65536]:
        raise UnreadableFileError(path, binary)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnreadableFileError(
            path,
            f"it is not valid {encoding} text (line {line}, byte {exc.start}); "
            "set `csv: {encoding: ...}` in study.yaml (e.g. cp1252 for a file saved by Excel on Windows)",
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
    check_header(path, header)
    width = len(header)
    keep = [(n, r) for n, r in enumerate(body) if any(cell.strip() for cell in r)]  # blank lines are no rows
    for n, record in keep:
        extra = record[width:]
        if len(record) > width and any(cell.strip() for cell in extra):
            raise UnreadableFileError(
                path,
                f"row {lines[n]} has {len(record)} fields but the header names {width} "
                "(wrong separator, or a title row above the header?)",
            )
    cells = [[(c.strip() or None) for c in (r + [""] * width)[:width]] for _, r in keep]
    frame = pd.DataFrame(cells, columns=header, dtype=object) if cells else pd.DataFrame(columns=header, dtype=object)
    rows = np.array([lines[n] for n, _ in keep], dtype=np.int64)
    blank = np.setdiff1d(np.array(lines[: len(body)], dtype=np.int64), rows)
    return RawTable(path.name, frame.astype(TEXT), rows, {}, blank)


@functools.cache
def _plain_csv(sep: str) -> re.Pattern[str]:
    """Delimited text in which every field is either quoted whole (quotes doubled inside) or has no quote.

    What this grammar accepts, pyarrow and the strict standard-library parser read alike; a text
    it refuses (``"a"b``, a quote inside an unquoted field) goes to the exact parser.  Possessive
    quantifiers keep the match linear in the length of the text.
    """
    s = re.escape(sep)
    return re.compile(rf'(?:(?:"(?:[^"]|"")*+"|[^"{s}\r\n]*+)(?:{s}|\r?\n|\Z))*+')


def _fast_table(path: Path, text: str, sep: str, header_rows: int) -> RawTable | None:
    """Parse a simple delimited text with pyarrow; ``None`` when the exact parser is needed.

    A file is simple when every record is one physical line (no line breaks inside quoted
    values) and every record has the header's number of fields: then the row a person sees
    is the line number.  Anything else (and every malformed file) goes to the standard
    library's parser, which gives the same table more slowly and names the offending line.
    """
    if text.count('"') % 2:
        return None  # an unterminated quote (a truncated file): the exact parser reports it
    if '"' in text and _plain_csv(sep).fullmatch(text) is None:
        return None  # e.g. `"a"b`: pyarrow would read it, the strict parser refuses it and says where
    first = next(csv.reader(io.StringIO(text, newline=""), delimiter=sep), None)
    if not first:
        return None
    header = [h.strip() for h in first]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(skip_rows_after_names=header_rows - 1, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(first, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError, ValueError):
        return None
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if table.num_rows + header_rows != lines or len(set(first)) != len(first):
        return None
    check_header(path, header)
    columns = {}
    for name, column in zip(header, table.columns, strict=False):
        trimmed = pc.utf8_trim_whitespace(column)
        columns[name] = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    for column in table.columns[len(header) :]:
        if pc.any(pc.not_equal(pc.utf8_trim_whitespace(column), "")).as_py():
            return None  # values under an unnamed trailing column: the exact parser says where
    frame = pa.table(columns).to_pandas(types_mapper={pa.string(): TEXT}.get)
    keep = frame.notna().any(axis=1).to_numpy()
    numbers = np.arange(header_rows + 1, header_rows + 1 + table.num_rows, dtype=np.int64)
    return RawTable(path.name, frame[keep].reset_index(drop=True), numbers[keep], {}, numbers[~keep])


def read_csv(path: Path, source: Source) -> RawTable:
    """Read a delimited text file (separator, decimal mark and encoding from study.yaml)."""
    data = _check_bytes(path, source)
    text = _text_of(path, data, source.csv.encoding)
    fast = _fast_table(path, text, source.csv.sep, header_rows=1)
    if fast is not None:
        return fast
    records, lines = _records(path, text, source.csv.sep)
    if not records:
        raise UnreadableFileError(path, "the file has no header row")
    return _frame_from_records(path, records[0], records[1:], lines[1:])


def read_qualtrics_csv(path: Path, source: Source) -> RawTable:
    """Read a Qualtrics CSV export: row 1 column codes, rows 2-3 question texts and ImportIds."""
    data = _check_bytes(path, source)
    text = _text_of(path, data, source.csv.encoding)
    head = list(itertools.islice(csv.reader(io.StringIO(text, newline=""), delimiter=source.csv.sep), 3))
    if len(head) == QUALTRICS_HEADER_ROWS and _import_ids(head[2]):
        fast = _fast_table(path, text, source.csv.sep, header_rows=QUALTRICS_HEADER_ROWS)
        if fast is not None:
            return fast
    records, lines = _records(path, text, source.csv.sep)
    if len(records) < QUALTRICS_HEADER_ROWS:
        raise UnreadableFileError(path, "a Qualtrics export has three header rows; this file has fewer rows")
    if not _import_ids(records[2]):
        raise UnreadableFileError(
            path, "row 3 does not hold Qualtrics ImportIds; is it a plain CSV? (use `format: csv` in study.yaml)"
        )
    return _frame_from_records(path, records[0], records[QUALTRICS_HEADER_ROWS:], lines[QUALTRICS_HEADER_ROWS:])


def _import_ids(record: list[str]) -> bool:
    """Return whether a record is Qualtrics' third header row (``{"ImportId": ...}`` cells)."""
    cells = [c.strip() for c in record if c.strip()]
    return bool(cells) and all(c.startswith('{"ImportId"') for c in cells)


READERS = {"csv": read_csv, "qualtrics_csv": read_qualtrics_csv, "spss": read_spss, "xlsx": read_xlsx}


def read_source(path: Path, source: Source, item_columns: frozenset[str] = frozenset()) -> RawTable:
    """Read a raw file with the reader its ``format`` names, then check its columns.

    Every column must be declared in the study description (as a mapped field, one of
    ``item_columns``, an identifier, free text or ignored), and every declared column
    must exist; all mismatches are reported together.

    When ``path`` is the study folder joined with ``source.file`` (as the pipeline builds it),
    the file is checked before any reader opens it: a regular file, not larger than the
    source's ``max_megabytes``, reached through no link that leaves the study folder
    (:mod:`pipeline.safe_path`).
    """
    check_regular_file(path, max_megabytes=source.max_megabytes, folder=study_folder(path, source.file))
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
            f"column(s) in the file that study.yaml does not describe: {shown_columns(unknown, list(columns))} "
            "(declare each as a mapped column, item, identifier_columns, free_text_columns or ignore_columns)"
        )
    if len(present) == 1 and source.format in ("csv", "qualtrics_csv"):
        (only,) = present
        others = sorted({";", ",", "\t", "|"} & set(only) - {source.csv.sep})
        if others:
            problems.append(
                f"the file has one column, whose name holds {others}: is the separator not {source.csv.sep!r}? "
                "(set `csv: {sep: ...}` in study.yaml)"
            )
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))
