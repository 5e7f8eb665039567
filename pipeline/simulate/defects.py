"""Plant the trouble real exports have, each kind a configured number of times, and record where.

Every planted defect becomes one manifest record: the defect, the file, the row as a person
sees it (CSV line with the header as row 1; Qualtrics data from row 4; Excel row; SPSS case
number), the column and the value, so that tests of the ingest stage can check each one is
caught.  Rows are tracked by a bookkeeping key while rows are inserted; row numbers are
resolved only once every file has its final order (:func:`resolve_rows`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.instruments import ResponseSet
from pipeline.simulate.tables import Export, time_cells
from pipeline.simulate.text import pii_text

Record = dict[str, object]


class Planter:
    """Chooses where defects go, applies them to exports and records them."""

    def __init__(self, rng: np.random.Generator, protected: set[int]):
        self.rng = rng
        #: participants whose rows other defects must not touch (e.g. the no-consent ones)
        self.protected = protected
        self.records: list[Record] = []
        self.used: set[tuple[str, int, str]] = set()

    def record(self, defect: str, export: Export, key: int, column: str | None = None, **extra: object) -> None:
        """Add a manifest record (its row is resolved later from ``key``)."""
        rec: Record = {"defect": defect, "file": export.source.file, "_key": int(key)}
        if column is not None:
            rec["column"] = column
        rec.update({k: _plain(v) for k, v in extra.items()})
        self.records.append(rec)

    def rows(self, export: Export, k: int, *, busy: set[int] | None = None) -> np.ndarray:
        """Return up to ``k`` random row positions of real, unprotected, not yet used rows."""
        frame = export.frame
        ok = np.ones(len(frame), dtype=bool)
        if "_person" in frame:
            person = frame["_person"].to_numpy()
            ok &= (person >= 0) & ~np.isin(person, list(self.protected))
        if busy:
            ok &= ~frame["_key"].isin(busy).to_numpy()
        candidates = np.flatnonzero(ok)
        return self.rng.choice(candidates, size=min(k, len(candidates)), replace=False) if k else candidates[:0]

    def cells(self, export: Export, k: int, busy: set[int]) -> list[tuple[int, str]]:
        """Return up to ``k`` random answered item cells (position, column), each used once."""
        frame = export.frame
        columns = list(export.items)
        rows = self.rows(export, 10 * k + 10, busy=busy)
        out: list[tuple[int, str]] = []
        for pos in rows:
            column = columns[int(self.rng.integers(0, len(columns)))]
            tag = (export.source.file, int(frame["_key"].iat[pos]), column)
            if tag in self.used or is_empty(frame[column].iat[pos]):
                continue
            self.used.add(tag)
            out.append((int(pos), column))
            if len(out) == k:
                break
        return out


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def add_keys(export: Export) -> None:
    """Give every row of an export a bookkeeping key."""
    export.frame["_key"] = np.arange(len(export.frame), dtype=np.int64)


def insert_after(export: Export, rows: pd.DataFrame, anchors: list[int]) -> None:
    """Insert ``rows`` (with fresh ``_key``) right after the rows whose keys are ``anchors``."""
    frame = export.frame.assign(_order=np.arange(len(export.frame), dtype=float))
    where = dict(zip(frame["_key"].to_numpy().tolist(), frame["_order"].to_numpy().tolist(), strict=True))
    rows = rows.assign(_order=[where[a] + 0.5 + 0.01 * n for n, a in enumerate(anchors)])
    export.frame = pd.concat([frame, rows]).sort_values("_order", kind="stable").drop(columns="_order")
    export.frame = export.frame.reset_index(drop=True)


def next_keys(export: Export, n: int) -> np.ndarray:
    """Return ``n`` unused row keys."""
    start = int(export.frame["_key"].max()) + 1 if len(export.frame) else 0
    return np.arange(start, start + n, dtype=np.int64)


def code_of(value: object, rs: ResponseSet, style: str) -> float:
    """Return the answer code a cell holds (NaN when empty or not a code)."""
    if is_empty(value):
        return math.nan
    if style == "labels" and isinstance(value, str):
        for code, label in rs.labels.items():
            if value == label.nl:
                return float(code)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def cell_of(code: int, rs: ResponseSet, style: str) -> object:
    """Return how an export writes an answer code (valid or not)."""
    if style == "codes":
        return float(code)
    if style == "labels":
        return rs.labels[code].nl if code in rs.labels else str(code)
    return int(code)


def set_cell(export: Export, pos: int, column: str, value: object) -> None:
    frame = export.frame
    if value is None or isinstance(value, str):
        if frame[column].dtype != object:
            frame[column] = frame[column].astype(object)
    frame.iat[pos, frame.columns.get_loc(column)] = value


def plant_survey(
    planter: Planter,
    export: Export,
    counts: dict[str, int],
    roster_ids: set[str],
    names: np.ndarray,
    emails: np.ndarray,
    qualtrics: dict[str, str],
) -> None:
    """Plant every defect that applies to one questionnaire export.

    Parameters
    ----------
    planter : Planter
        Chooses and records.
    export : Export
        The questionnaire (``_person`` and ``_time`` bookkeeping columns present).
    counts : dict
        Defect -> how many to plant in this file.
    roster_ids : set
        Every participant ID of the roster (a typo must match none of them, even case-folded).
    names, emails : numpy.ndarray
        Per participant, for free-text answers that leak them.
    qualtrics : dict
        Role -> column of the Qualtrics bookkeeping (``finished``, ``progress``).
    """
    add_keys(export)
    src = export.source
    pid_col = src.columns["participant_id"]
    _duplicates(planter, export, counts.get("duplicate_submissions", 0))
    busy = set(export.frame.loc[export.frame["_dup_of"].notna(), "_key"].tolist()) | set(
        export.frame.loc[export.frame["_dup_of"].notna(), "_dup_of"].astype(int).tolist()
    )
    folded = {i.casefold() for i in roster_ids}
    for pos in planter.rows(export, counts.get("unknown_ids", 0), busy=busy):
        true_id = str(export.frame[pid_col].iat[pos])
        typo = _typo(planter.rng, true_id, folded)
        set_cell(export, pos, pid_col, typo)
        key = int(export.frame["_key"].iat[pos])
        busy.add(key)
        planter.record("unknown_ids", export, key, pid_col, value=typo, true_id=true_id)
    for pos in planter.rows(export, counts.get("id_whitespace", 0), busy=busy):
        true_id = str(export.frame[pid_col].iat[pos])
        # SPSS pads strings with spaces, so a trailing space cannot survive there
        variants = [f" {true_id}", true_id.swapcase()] + ([f"{true_id} "] if src.format != "spss" else [])
        variant = variants[int(planter.rng.integers(0, len(variants)))]
        set_cell(export, pos, pid_col, variant)
        key = int(export.frame["_key"].iat[pos])
        busy.add(key)
        planter.record("id_whitespace", export, key, pid_col, value=variant, true_id=true_id)
    if src.format == "qualtrics_csv":
        _unfinished(planter, export, counts.get("unfinished_responses", 0), busy, qualtrics)
    _cell_defects(planter, export, counts, busy)
    if src.format == "xlsx" and "submitted_at" in src.columns:
        column = src.columns["submitted_at"]
        for pos in planter.rows(export, counts.get("date_as_text", 0), busy=busy):
            text = pd.Timestamp(export.frame["_time"].iat[pos]).strftime("%d-%m-%Y %H:%M")
            set_cell(export, pos, column, text)
            planter.record("date_as_text", export, int(export.frame["_key"].iat[pos]), column, value=text)
    if src.free_text_columns:
        plant_free_text(planter, export, src.free_text_columns[0], counts.get("free_text_pii", 0), names, emails, busy)


def _duplicates(planter: Planter, export: Export, k: int) -> None:
    """Submit some questionnaires twice: a later copy with a few answers changed."""
    frame = export.frame
    frame["_dup_of"] = np.nan
    originals = planter.rows(export, k)
    if not len(originals):
        return
    copies = frame.iloc[originals].copy()
    copies["_dup_of"] = copies["_key"].to_numpy(dtype=float)
    copies["_key"] = next_keys(export, len(copies))
    later = pd.to_timedelta(planter.rng.integers(5 * 60, 3 * 24 * 3600, len(copies)), unit="s")
    copies["_time"] = pd.DatetimeIndex(copies["_time"]) + later
    src = export.source
    times = pd.DatetimeIndex(copies["_time"])
    if "submitted_at" in src.columns:
        copies[src.columns["submitted_at"]] = time_cells(src, times)
    if "EndDate" in copies:
        copies["EndDate"] = time_cells(src, times)
    if "StartDate" in copies and "duration_seconds" in src.columns:
        took = pd.to_timedelta(copies[src.columns["duration_seconds"]].astype(np.int64).to_numpy(), unit="s")
        copies["StartDate"] = time_cells(src, times - took)
    if "ResponseId" in copies:
        copies["ResponseId"] = copies["ResponseId"].astype(str) + "x"
    for column, (inst, item) in export.items.items():
        rs = inst.response_set_of(item)
        change = planter.rng.random(len(copies)) < 0.25
        for n in np.flatnonzero(change):
            code = code_of(copies[column].iat[n], rs, export.style)
            if not math.isnan(code):
                new = int(np.clip(code + planter.rng.choice([-1, 1]), rs.min, rs.max))
                copies.iat[n, copies.columns.get_loc(column)] = cell_of(new, rs, export.style)
    export.frame = pd.concat([frame, copies]).sort_values(["_time", "_key"], kind="stable").reset_index(drop=True)
    pid_col = src.columns["participant_id"]
    for _, row in copies.iterrows():
        planter.record(
            "duplicate_submissions",
            export,
            int(row["_key"]),
            pid_col,
            participant_id=row[pid_col],
            _dup_key=int(row["_dup_of"]),
        )


def _typo(rng: np.random.Generator, true_id: str, taken: set[str]) -> str:
    """Change one digit of an ID so that it matches no roster ID."""
    digits = [n for n, ch in enumerate(true_id) if ch.isdigit()]
    for _ in range(100):
        n = digits[int(rng.integers(0, len(digits)))]
        new = str((int(true_id[n]) + int(rng.integers(1, 10))) % 10)
        candidate = true_id[:n] + new + true_id[n + 1 :]
        if candidate.casefold() not in taken:
            return candidate
    return true_id + "0"


def _unfinished(planter: Planter, export: Export, k: int, busy: set[int], qualtrics: dict[str, str]) -> None:
    """Leave some Qualtrics responses unfinished: Finished false, the later items empty."""
    frame = export.frame
    columns = list(export.items)
    labels = export.style == "labels"
    for pos in planter.rows(export, k, busy=busy):
        progress = int(planter.rng.integers(20, 90))
        cut = int(len(columns) * progress / 100)
        for column in columns[cut:]:
            set_cell(export, pos, column, None if export.style != "codes" else math.nan)
        for column in export.source.free_text_columns:
            set_cell(export, pos, column, "")
        if "finished" in qualtrics:
            set_cell(export, pos, qualtrics["finished"], "False" if labels else 0)
        if "progress" in qualtrics:
            set_cell(export, pos, qualtrics["progress"], progress)
        key = int(frame["_key"].iat[pos])
        busy.add(key)
        planter.record(
            "unfinished_responses",
            export,
            key,
            qualtrics.get("finished"),
            progress=progress,
            first_empty_column=columns[cut] if cut < len(columns) else None,
        )


def _cell_defects(planter: Planter, export: Export, counts: dict[str, int], busy: set[int]) -> None:
    """Empty answers, out-of-range answers, missing codes and (label exports) bare codes."""
    style = export.style
    for pos, column in planter.cells(export, counts.get("item_nonresponse", 0), busy):
        set_cell(export, pos, column, None if style != "codes" else math.nan)
        planter.record("item_nonresponse", export, int(export.frame["_key"].iat[pos]), column)
    for pos, column in planter.cells(export, counts.get("out_of_range", 0), busy):
        inst, item = export.items[column]
        rs = inst.response_set_of(item)
        code = rs.max + int(planter.rng.choice([1, 2, 3]))
        set_cell(export, pos, column, str(code) if style == "labels" else cell_of(code, rs, style))
        planter.record(
            "out_of_range", export, int(export.frame["_key"].iat[pos]), column, value=code, valid=f"{rs.min}..{rs.max}"
        )
    for pos, column in planter.cells(export, counts.get("missing_codes", 0), busy):
        inst, item = export.items[column]
        rs = inst.response_set_of(item)
        numeric = [c for c in rs.missing_codes if isinstance(c, int)]
        text = [c for c in rs.missing_codes if isinstance(c, str)]
        options = (numeric or text) if style == "codes" else (text or numeric)
        if not options:
            continue
        value = options[int(planter.rng.integers(0, len(options)))]
        set_cell(export, pos, column, float(value) if isinstance(value, int) and style == "codes" else value)
        planter.record("missing_codes", export, int(export.frame["_key"].iat[pos]), column, value=value)
    if style == "labels":
        for pos, column in planter.cells(export, counts.get("codes_in_label_export", 0), busy):
            inst, item = export.items[column]
            code = int(code_of(export.frame[column].iat[pos], inst.response_set_of(item), style))
            set_cell(export, pos, column, str(code))
            planter.record("codes_in_label_export", export, int(export.frame["_key"].iat[pos]), column, value=code)


def plant_free_text(
    planter: Planter,
    export: Export,
    column: str,
    k: int,
    names: np.ndarray,
    emails: np.ndarray,
    busy: set[int],
    *,
    emails_too: bool = True,
) -> None:
    """Write free-text answers that contain a person's name (or, if ``emails_too``, e-mail address)."""
    frame = export.frame
    for pos in planter.rows(export, k, busy=busy):
        person = int(frame["_person"].iat[pos])
        kind = "email" if emails_too and planter.rng.random() < 0.5 else "name"
        text = pii_text(kind, str(names[person]), str(emails[person]), int(planter.rng.integers(0, 6)))
        set_cell(export, pos, column, text)
        planter.record(
            "free_text_pii",
            export,
            int(frame["_key"].iat[pos]),
            column,
            kind=kind,
            leaked=str(emails[person] if kind == "email" else names[person]),
        )


def resolve_rows(exports: dict[str, Export], records: list[Record]) -> list[Record]:
    """Replace bookkeeping keys by file row numbers, now that every file has its final order."""
    positions = {
        name: dict(zip(e.frame["_key"].to_numpy().tolist(), range(len(e.frame)), strict=True))
        for name, e in exports.items()
        if "_key" in e.frame
    }
    out = []
    for rec in records:
        export = exports[str(rec["file"])]
        where = positions[str(rec["file"])]
        clean = {k: v for k, v in rec.items() if not k.startswith("_")}
        clean["row"] = export.first_row + where[int(rec["_key"])]  # type: ignore[arg-type]
        if "_dup_key" in rec:
            clean["duplicate_of_row"] = export.first_row + where[int(rec["_dup_key"])]  # type: ignore[arg-type]
        out.append(clean)
    return out
