"""The table every reader returns, and the header checks all formats share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import UnreadableFileError

#: text cells of delimited files: Arrow-backed strings, missing where the export is blank
TEXT = pd.StringDtype("pyarrow")


def cells(column: pd.Series) -> np.ndarray:
    """Return a raw column's values as Python objects, with ``None`` wherever the export is blank."""
    return column.to_numpy(dtype=object, na_value=None)


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
    #: rows with no value at all (blank lines, trailing empty rows): not data, but accounted for
    blank_rows: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    #: rows hidden in the workbook and read because study.yaml says ``hidden_rows: read``
    hidden_rows: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    #: per column, the rows (as in ``rows``) whose SPSS user-missing code was set missing
    user_missing: dict[str, np.ndarray] = field(default_factory=dict)


#: a column name shown in a message: a short name of word characters, spaces and light punctuation
_PLAIN_NAME = re.compile(r"[\w .,:;()\[\]{}#%&+*/?!'\"<>=-]{1,60}")
#: a header that may hold a person's data: an e-mail address, a long run of digits (phone, BSN, IBAN)
_PERSONAL = re.compile(r"@|\d(?:[\s.\-/]?\d){5,}")


def shown_column(name: object, position: int | None = None) -> str:
    """Return a column name as a message may show it: quoted, or redacted when it may hold personal data.

    A header is copied into a message only when it looks like a column name (at most 60
    characters, no e-mail address, no run of six or more digits); otherwise it is shown as
    ``<column N: redacted>`` so that a phone number or address typed into a header row never
    reaches the terminal.
    """
    text = str(name)
    if _PLAIN_NAME.fullmatch(text) and not _PERSONAL.search(text):
        return repr(text)
    where = f"column {position}" if position is not None else "a column"
    return f"<{where}: redacted>"


def shown_columns(names: list[str], header: list[str] | None = None) -> str:
    """Return column names for a message (see :func:`shown_column`), as a bracketed list."""
    positions = {n: i + 1 for i, n in enumerate(header or [])}
    return "[" + ", ".join(shown_column(n, positions.get(n)) for n in names) + "]"


def check_header(path: Path, header: list[str]) -> None:
    """Check a header row: names present, none empty before the last, none twice; trailing blanks dropped."""
    trailing = len(header)
    while trailing and not header[trailing - 1]:
        trailing -= 1
    if not trailing:
        raise UnreadableFileError(path, "the header row has no column names (is the first line empty?)")
    if any(not h for h in header[:trailing]):
        empty = [i + 1 for i, h in enumerate(header[:trailing]) if not h]
        raise UnreadableFileError(
            path,
            f"the header has empty column name(s) at position(s) {empty} "
            "(merged cells, or a second header row above the column names?)",
        )
    seen: dict[str, int] = {}
    for h in header[:trailing]:
        seen[h] = seen.get(h, 0) + 1
    dup = sorted(h for h, c in seen.items() if c > 1)
    if dup:
        raise UnreadableFileError(
            path, f"column name(s) {shown_columns(dup, header)} appear more than once in the header"
        )
    del header[trailing:]
