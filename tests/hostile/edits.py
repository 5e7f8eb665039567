"""Small edits of a copied mini study, and the expected outcomes a corpus case can state."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: the encodings the mini study's files are written in (study.yaml declares the same)
ENCODING = {"sessions.csv": "cp1252", "attendance.csv": "cp1252", "session_evals.csv": "cp1252"}

#: (file, row, column, rule): one issue of data_clean/quality/issues.parquet
Issue = tuple[str, int, str, str]
Build = Callable[[Path, Path], None]


@dataclass(frozen=True)
class Fails:
    """The command stops: exit code 2 and one message holding every fragment (file, row/column, rule)."""

    fragments: tuple[str, ...]
    command: str = "ingest"


@dataclass(frozen=True)
class Settles:
    """The ingest runs; compared with the unchanged mini study, exactly these issues appear or go.

    ``accounting`` gives (rows read, clean, quarantined, excluded) of the files the defect
    touches; ``fates`` the (fate, reason) of single rows; ``renamed`` maps a mini file name to
    the name the case gives it; ``scores`` the expected scale score of (raw participant ID,
    wave, scale); ``values`` what the issue table shows of a cell.  Files are named as on disk
    (``survey_t1.csv``); the quality tables name them by their role in study.yaml
    (:func:`tests.test_ingest.label`), and the case is translated so.
    """

    added: frozenset[Issue] = frozenset()
    removed: frozenset[Issue] = frozenset()
    accounting: Mapping[str, tuple[int, int, int, int]] = field(default_factory=dict)
    fates: Mapping[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    renamed: Mapping[str, str] = field(default_factory=dict)
    scores: Mapping[tuple[str, str, str], float] = field(default_factory=dict)
    values: Mapping[Issue, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from tests.test_ingest import label

        object.__setattr__(self, "added", issues(*self.added))
        object.__setattr__(self, "removed", issues(*self.removed))
        object.__setattr__(self, "accounting", {label(f): c for f, c in self.accounting.items()})
        object.__setattr__(self, "fates", {(label(f), r): v for (f, r), v in self.fates.items()})
        object.__setattr__(self, "values", {_labelled(i): v for i, v in self.values.items()})
        object.__setattr__(self, "renamed", {})  # a renamed file keeps its role, so its name


@dataclass(frozen=True)
class Case:
    """One defective input: its name, what is wrong, how it is made, and what must happen."""

    name: str
    defect: str
    build: Build
    expect: Fails | Settles


def _labelled(issue: Issue) -> Issue:
    from tests.test_ingest import label

    file, row, column, rule = issue
    return (label(file), row, column, rule)


def issues(*found: Issue) -> frozenset[Issue]:
    """Return a set of issues (for readable case tables), with each file under its study.yaml name."""
    return frozenset(_labelled(i) for i in found)


def read(study: Path, file: str) -> str:
    """Return a mini file's text with its line ends as they are."""
    with open(study / file, encoding=ENCODING.get(file, "utf-8"), newline="") as handle:
        return handle.read()


def write(study: Path, file: str, text: str, encoding: str | None = None) -> None:
    """Write text to a file of the study (in the file's own encoding unless told)."""
    with open(study / file, "w", encoding=encoding or ENCODING.get(file, "utf-8"), newline="") as handle:
        handle.write(text)


def replace(study: Path, file: str, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in a file (a case that misses its target is a broken case)."""
    text = read(study, file)
    if text.count(old) != 1:
        raise ValueError(f"{file}: {old!r} occurs {text.count(old)} times, not once")
    write(study, file, text.replace(old, new))


def newline_of(text: str) -> str:
    """Return the line end a text uses."""
    return "\r\n" if "\r\n" in text else "\n"


def append(study: Path, file: str, *lines: str) -> None:
    """Append lines to a file, with its own line end."""
    text = read(study, file)
    nl = newline_of(text)
    write(study, file, text + "".join(line + nl for line in lines))


def records(study: Path, file: str, sep: str = ",") -> list[list[str]]:
    """Return the records of a delimited mini file."""
    return list(csv.reader(io.StringIO(read(study, file), newline=""), delimiter=sep))


def write_records(study: Path, file: str, rows: list[list[object]], sep: str = ",", encoding: str | None = None) -> None:
    """Write records as delimited text (``\\n`` line ends)."""
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=sep, lineterminator="\n").writerows(rows)
    write(study, file, out.getvalue(), encoding)


def study_yaml(study: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in study.yaml."""
    replace(study, "study.yaml", old, new)
