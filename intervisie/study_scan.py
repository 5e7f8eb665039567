"""Look at a folder of export files without reading anyone's answers: formats, sheets, headers, row counts.

``intervisie study init`` starts from here. What is read of a cell is only ever *counted* or
*tested* (how many rows, how many distinct values, does every value parse as a date in this
format); no cell value is returned, printed or written.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

#: the formats a date column of a text export is tried in, in this order
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d-%m-%Y",
    "%d-%m-%Y %H:%M",
    "%d/%m/%Y",
    "%d/%m/%Y %H:%M",
)
SEPARATORS = (",", ";", "\t", "|")
EXPORT_SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".sav": "spss"}


@dataclass
class Table:
    """One table of an export: a CSV or SPSS file, or one sheet of a workbook."""

    file: str
    format: str
    columns: list[str]
    n_rows: int
    sheet: str | None = None
    sep: str = ","
    encoding: str = "utf-8"
    #: the cells of the first rows, kept in memory only to count and test them (never shown)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def label(self) -> str:
        """The file, with the sheet of a workbook with several sheets."""
        return f"{self.file} [{self.sheet}]" if self.sheet is not None else self.file

    def n_distinct(self, column: str) -> int:
        """How many distinct non-empty values the column holds (the values themselves are not returned)."""
        return int(self.frame[column].dropna().astype(str).str.strip().replace("", None).dropna().nunique())

    def date_format(self, column: str) -> str | None:
        """The first of :data:`DATE_FORMATS` that every non-empty text value of ``column`` parses in, if any."""
        values = [v for v in self.frame[column].dropna().tolist() if isinstance(v, str) and v.strip()][:200]
        if not values:
            return None
        for fmt in DATE_FORMATS:
            try:
                for v in values:
                    datetime.strptime(v.strip(), fmt)
            except ValueError:
                continue
            return fmt
        return None

    def repeats_across(self, column: str, by: str) -> bool:
        """Whether a value of ``column`` occurs with more than one value of ``by`` (session 1 of every group)."""
        pair = self.frame[[by, column]].dropna().astype(str).drop_duplicates()
        return bool(pair[column].duplicated().any())


def _encoding_of(data: bytes) -> str:
    for mark, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(mark):
            return name
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _text_table(path: Path) -> Table:
    data = path.read_bytes()
    encoding = _encoding_of(data)
    text = data.decode(encoding, errors="replace").removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    sep = max(SEPARATORS, key=first.count)
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    records = [r for r in records if any(c.strip() for c in r)]
    header = [h.strip() for h in records[0]] if records else []
    body = records[1:]
    fmt = "csv"
    if len(body) >= 2 and all(c.strip().startswith('{"ImportId"') for c in body[1] if c.strip()):
        fmt, body = "qualtrics_csv", body[2:]
    frame = pd.DataFrame([(r + [""] * len(header))[: len(header)] for r in body], columns=header, dtype=object)
    frame = frame.map(lambda v: v.strip() or None)
    return Table(path.name, fmt, header, len(body), sep=sep, encoding=encoding, frame=frame)


def _workbook_tables(path: Path) -> list[Table]:
    sheets = pd.read_excel(path, sheet_name=None, dtype=object, header=None, engine="openpyxl")
    tables = []
    for name, raw in sheets.items():
        raw = raw.dropna(how="all")
        if raw.empty:
            continue
        header = ["" if pd.isna(h) else str(h).strip() for h in raw.iloc[0]]
        frame = raw.iloc[1:].copy()
        frame.columns = header
        frame = frame.loc[:, [h for h in header if h]]
        sheet = str(name) if len(sheets) > 1 else None
        tables.append(Table(path.name, "xlsx", [h for h in header if h], len(frame), sheet=sheet, frame=frame))
    return tables


def _spss_table(path: Path) -> Table:
    import pyreadstat

    frame, meta = pyreadstat.read_sav(str(path), apply_value_formats=False)
    return Table(path.name, "spss", list(meta.column_names), len(frame), frame=frame.astype(object))


def scan_folder(folder: Path) -> tuple[list[Table], list[str]]:
    """Return every table of the export files in ``folder`` and what could not be read (file: reason)."""
    tables: list[Table] = []
    unreadable: list[str] = []
    for path in sorted(folder.iterdir()):
        kind = EXPORT_SUFFIXES.get(path.suffix.lower())
        if not path.is_file() or kind is None or path.name.startswith((".", "~$")):
            continue
        try:
            if kind == "xlsx":
                if not zipfile.is_zipfile(path):
                    raise ValueError("not an .xlsx workbook")
                tables += _workbook_tables(path)
            elif kind == "spss":
                tables.append(_spss_table(path))
            else:
                tables.append(_text_table(path))
        except Exception as exc:  # any damaged file: reported by name, never a crash of the draft
            unreadable.append(f"{path.name}: {exc.__class__.__name__}")
    return tables, unreadable


def simple(name: str) -> str:
    """A column name reduced to lower-case letters and digits (``Deelnemer-ID`` -> ``deelnemerid``)."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


WAVE_WORDS_BASELINE = ("baseline", "voormeting", "nulmeting", "start", "intake")


def wave_of(name: str) -> tuple[str | None, float | None, str]:
    """Guess a wave from a file name: ``(id, months, how)``; ``None`` where the name says nothing.

    ``t2``-style tokens give the id; ``3m``, ``12mnd``, ``6 maanden``, ``1jr``, ``26wk`` the months;
    baseline words (baseline, voormeting, nulmeting, start) months 0.
    """
    stem = Path(name).stem.casefold()
    token = re.search(r"(?<![a-z0-9])t(\d{1,2})(?![0-9])", stem)
    months: float | None = None
    how = []
    unit = re.search(
        r"(?<![0-9])(\d{1,3})[ _-]?(maanden|maand|months|month|mnd|mo|m|jaar|jr|years|year|y|weken|weeks|wk|w)(?![a-z])",
        stem,
    )
    if unit:
        number, word = float(unit.group(1)), unit.group(2)
        factor = 12.0 if word.startswith(("j", "y")) else (12 / 52 if word.startswith("w") else 1.0)
        months = round(number * factor, 1)
        how.append(f"'{unit.group(0)}' in the file name")
    elif any(re.search(rf"(?<![a-z]){w}", stem) for w in WAVE_WORDS_BASELINE):
        months = 0.0
        how.append("a baseline word in the file name")
    wave_id = f"t{token.group(1)}" if token else None
    if token:
        how.insert(0, f"'{token.group(0)}' in the file name")
        if months is None and token.group(1) == "0":
            months = 0.0
    if wave_id is None and months is not None:
        wave_id = "baseline" if months == 0 else f"m{months:g}".replace(".", "_")
    return wave_id, months, " and ".join(how)
