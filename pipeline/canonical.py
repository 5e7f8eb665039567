"""From a raw table to canonical, typed rows: rename, translate coded values, parse, validate.

Each problem is recorded in the :class:`~pipeline.ledger.Ledger` with the file, the row a
person sees, the export column and the rule; failing rows are quarantined and the rest go
on.  The rules themselves live in :mod:`pipeline.schemas` (pandera, checked lazily so that
all violations of a file are found in one pass).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from datetime import date, datetime

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.dates import Window, is_partial
from pipeline.errors import InputError
from pipeline.ledger import RULES, Ledger
from pipeline.readers import RawTable, cells
from pipeline.schemas import BOOKKEEPING_RANGES, INPUT_SCHEMAS, ROW_CHECKS
from pipeline.study import Source

#: the canonical fields of each role and how each is parsed
FIELD_KINDS: dict[str, dict[str, str]] = {
    "roster": {
        "participant_id": "id",
        "programme": "coded",
        "arm": "coded",
        "group_id": "id",
        "coach_id": "id",
        "format": "coded",
        "start_date": "date",
        "end_date": "date",
        "consent": "coded",
    },
    "sessions": {
        "session_id": "id",
        "group_id": "id",
        "date": "date",
        "duration_hours": "number",
        "method": "coded",
        "cases_discussed": "number",
    },
    "attendance": {"session_id": "id", "participant_id": "id", "attended": "coded", "group_id": "id"},
    "survey": {
        "participant_id": "id",
        "wave": "coded",
        "session_id": "id",
        "group_id": "id",
        "submitted_at": "date",
        "duration_seconds": "number",
        "finished": "coded",
    },
}
REQUIRED: dict[str, set[str]] = {
    "roster": {"participant_id", "programme", "start_date", "consent"},
    "sessions": {"session_id", "group_id", "date"},
    "attendance": {"session_id", "participant_id", "attended"},
    "survey": {"participant_id"},
}
#: the value of a field the source does not map (a single-arm study's roster has no ``arm``: all intervisie)
DEFAULTS: dict[str, dict[str, str]] = {"roster": {"arm": "intervisie"}}
#: fields read only to key sessions numbered per group (``session_id_scope: group``); not in the input schemas
GROUP_KEY_FIELDS = {"attendance": "group_id", "survey": "group_id"}
#: fields whose values identify a person: never copied into the quality tables
IDENTIFYING = {"participant_id", "group_id", "coach_id", "session_id"}
#: the kind of value each field holds, for what the quality tables may show of it (pipeline.redact)
SHOWN_AS = {"id": "identifier", "coded": "code", "date": "date", "number": "number", "text": "text"}
COUNTS = {"cases_discussed"}
#: bookkeeping fields: an unreadable value is set missing (and reported); the row is kept
SOFT_FIELDS = {"submitted_at", "duration_seconds", "finished", "duration_hours", "cases_discussed", "end_date", "method"}
#: coded fields whose canonical values the study must list itself (``values:``): the column is
#: filled in by hand, so without the list every entry would be unknown
DECLARED_CODES = {"method"}
#: roles whose exact duplicate rows (every canonical field equal) are excluded, keeping the first
EXACT_DUPLICATES_EXCLUDED = {"roster", "sessions"}
BOOLEAN_WORDS = {"true": ["true", "1", "ja", "yes", "waar"], "false": ["false", "0", "nee", "no", "onwaar"]}


class _Report:
    """Records the bad cells of one field: set missing (bookkeeping) or quarantined, shown by their kind."""

    def __init__(self, ledger: Ledger, file: str, column: str, soft: bool, redact: bool, kind: str) -> None:
        self.ledger, self.file, self.column = ledger, file, column
        self.soft, self.redact, self.kind = soft, redact, kind

    def __call__(self, values: pd.Series, bad: pd.Series, rule: str, detail: str) -> None:
        rows, shown = values.index[bad.to_numpy()], values[bad.to_numpy()]
        common = {"values": shown, "detail": detail, "redact": self.redact, "kind": self.kind}
        if self.soft:  # bookkeeping: a bad value is dropped, the row is kept
            self.ledger.issue(self.file, rows, self.column, rule, action="set_missing", **common)  # type: ignore[arg-type]
        else:
            self.ledger.quarantine(self.file, rows, self.column, rule, **common)


def _shown_kind(role: str, field: str) -> str:
    kind = FIELD_KINDS.get(role, {}).get(field, "text")
    return "count" if field in COUNTS else SHOWN_AS[kind]


def rule_name(check: str) -> str:
    """Return the quarantine rule for a pandera check (its name; the check itself goes in ``detail``)."""
    for prefix, rule in (
        ("not_nullable", "missing_value"),
        ("field_uniqueness", "duplicate_value"),
        ("isin", "unknown_value"),
        ("str_length", "empty_value"),
        ("greater_than", "out_of_range"),
        ("less_than", "out_of_range"),
        ("in_range", "out_of_range"),
        ("coerce_dtype", "wrong_type"),
        ("dtype", "wrong_type"),
    ):
        if check.startswith(prefix):
            return rule
    return check


def check_fields(role: str, source: Source) -> None:
    """Raise :class:`InputError` when ``columns:`` names unknown fields or lacks required ones."""
    unknown = sorted(set(source.columns) - set(FIELD_KINDS[role]))
    missing = sorted(REQUIRED[role] - set(source.columns))
    undeclared = sorted(f for f in DECLARED_CODES & set(source.columns) if not source.values.get(f))
    if undeclared:
        raise InputError(
            f"study.yaml, {role} file {source.file}: field(s) {undeclared} are coded: list their values under "
            f"`values:` (canonical value -> the export's spellings), e.g. values: {{{undeclared[0]}: "
            "{incidentmethode: [incidentmethode, Incidentmethode]}}; what a coordinator types freely is not kept"
        )
    if unknown or missing:
        raise InputError(
            f"study.yaml, {role} file {source.file}: `columns:` "
            + (f"names unknown field(s) {unknown} (known: {sorted(FIELD_KINDS[role])})" if unknown else "")
            + ("; " if unknown and missing else "")
            + (f"lacks required field(s) {missing}" if missing else "")
        )


def map_distinct(values: pd.Series, func: Callable[[object], object]) -> pd.Series:
    """Apply ``func`` to each distinct value once (``None`` for missing) and spread the results.

    Raw columns repeat their values (a participant ID on every attendance row), so this is
    the same as ``values.map(func)`` at the cost of the distinct values only.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=object)
    table[:-1] = [func(v) for v in uniques]
    table[-1] = func(None)
    return pd.Series(table[codes], index=values.index, dtype=object)


def _as_id(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip() or None


def _as_date(values: pd.Series, fmt: str | None) -> tuple[pd.Series, pd.Series]:
    """Parse dates; returns (parsed, failed) where failed marks present but unparseable cells.

    Date cells (Excel) are taken as they are; text must follow ``fmt`` (ISO 8601 without one);
    anything else (a number, say) is not a date.  Each distinct value is parsed once.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    parsed = pd.Series(pd.NaT, index=range(len(uniques) + 1), dtype="datetime64[ns]")
    is_dt = np.array([isinstance(v, datetime | date | pd.Timestamp) for v in uniques] + [False])
    is_text = np.array([isinstance(v, str) for v in uniques] + [False])
    if is_dt.any():
        parsed[is_dt] = pd.to_datetime([pd.Timestamp(v) for v, d in zip(uniques, is_dt, strict=False) if d])
    if is_text.any():
        text = [v for v, t in zip(uniques, is_text, strict=False) if t]
        parsed[is_text] = pd.to_datetime(text, errors="coerce", format=fmt or "ISO8601")
    out = pd.Series(parsed.to_numpy()[codes], index=values.index)
    return out, values.notna() & out.isna()


def _as_number(values: pd.Series, decimal: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse numbers; returns (parsed, failed, dotted).

    ``dotted`` marks text with a decimal point in a file whose decimal mark is a comma
    (``"2.5"`` in a Dutch export): read as 2.5 and reported, never silently.
    """

    def parse(v: object) -> float:
        if v is None or isinstance(v, bool):
            return np.nan
        if isinstance(v, numbers.Real):
            return float(v)
        if isinstance(v, str):
            text = v.strip().replace(decimal, ".") if decimal != "." and decimal in v else v.strip()
            try:
                number = float(text)
            except ValueError:
                return np.nan
            return number if np.isfinite(number) else np.nan
        return np.nan

    def finite(v: object) -> float:  # inf (typed, or a number cell) cannot be a duration or a count
        number = parse(v)
        return number if np.isfinite(number) else np.nan

    out = map_distinct(values, finite).astype(float)
    dotted = map_distinct(values, lambda v: decimal != "." and isinstance(v, str) and "." in v and decimal not in v)
    return out, values.notna() & out.isna(), dotted.astype(bool) & out.notna()


def coded_lookup(field: str, source: Source, programmes: dict[str, list[str]], waves: list[str]) -> dict[str, str]:
    """Return how a coded field's raw values translate: case-folded raw text -> canonical value."""
    if field == "programme":
        table = programmes
    elif field == "wave":
        table = {w: [w] for w in waves}
    elif field in source.values:
        table = {k: [str(v) for v in vs] for k, vs in source.values[field].items()}
    elif field in ("consent", "attended", "finished"):
        table = BOOLEAN_WORDS
    else:
        table = {}
    return {str(raw).strip().casefold(): canonical for canonical, raws in table.items() for raw in raws}


def canonical_rows(
    table: RawTable,
    role: str,
    source: Source,
    ledger: Ledger,
    *,
    programmes: dict[str, list[str]],
    waves: list[str],
    dynamic_checks: dict[str, list[pa.Check]] | None = None,
    windows: dict[str, Window] | None = None,
) -> pd.DataFrame:
    """Return the valid canonical rows of a raw table, indexed by source row.

    Rows that break a rule are quarantined in ``ledger`` (one issue per broken rule and
    cell), and are absent from the result; a bookkeeping field's bad value is set missing
    instead (:data:`SOFT_FIELDS`).  ``windows`` gives the dates each date field may hold
    (:mod:`pipeline.dates`).
    """
    check_fields(role, source)
    raw = table.frame
    frame = pd.DataFrame(index=pd.Index(table.rows, name="source_row"))
    for field, kind in FIELD_KINDS[role].items():
        column = source.columns.get(field)
        if column is None:
            frame[field] = pd.Series(DEFAULTS.get(role, {}).get(field), index=frame.index, dtype=object)
            continue
        values = pd.Series(cells(raw[column]), index=frame.index, dtype=object)
        redact = field in IDENTIFYING
        shown = "count" if field in COUNTS else SHOWN_AS[kind]
        report = _Report(ledger, table.name, column, field in SOFT_FIELDS, redact, shown)
        if kind == "id":
            frame[field] = map_distinct(values, _as_id)
            continue
        if kind == "text":
            frame[field] = map_distinct(values, lambda v: None if v is None else str(v))
            continue
        if kind == "date":
            parsed, failed = _as_date(values, source.date_format)
            partial = map_distinct(values, is_partial).astype(bool)
            report(values, partial, "partial_date", "write the full date: a year or a month is not a day")
            failed &= ~partial
            parsed = parsed.where(~partial)
            window = (windows or {}).get(field)
            if window is not None:
                report(values, window.outside(parsed), "date_out_of_window", window.detail())
                parsed = parsed.where(~window.outside(parsed))
            frame[field] = parsed
            rule, detail = "not_a_date", f"expected format {source.date_format or 'ISO 8601 (YYYY-MM-DD)'}"
        elif kind == "number":
            parsed, failed, dotted = _as_number(values, source.csv.decimal)
            rule, detail = "not_a_number", ""
            ledger.issue(
                table.name,
                frame.index[dotted],
                column,
                "decimal_point",
                values=values[dotted],
                action="kept",
                detail="read with a decimal point",
                kind=shown,
            )
            if field in BOOKKEEPING_RANGES:
                low, high, low_ok = BOOKKEEPING_RANGES[field]
                wrong = parsed.notna() & ((parsed < low if low_ok else parsed <= low) | (parsed > high))
                bound = f"{low:g} {'<=' if low_ok else '<'} {field} <= {high:.10g}"
                report(values, wrong, "out_of_range", f"cannot be true; allowed: {bound} (set missing)")
                parsed = parsed.where(~wrong)
            frame[field] = parsed
        else:
            lookup = coded_lookup(field, source, programmes, waves)
            mapped = map_distinct(values, lambda v, lk=lookup: None if v is None else lk.get(str(_as_id(v)).casefold()))
            failed = values.notna() & mapped.isna()
            frame[field] = mapped
            rule, detail = "unknown_value", f"allowed: {sorted(set(lookup.values()))}"
        report(values, failed, rule, detail)
    if role in EXACT_DUPLICATES_EXCLUDED:
        pending = frame.loc[ledger.pending(table.name).intersection(frame.index)]
        copies = pending.index[pending.astype(str).duplicated(keep="first").to_numpy()]
        ledger.exclude(table.name, copies, "duplicate_row")
    schema = INPUT_SCHEMAS[role].to_schema()
    if role in GROUP_KEY_FIELDS and GROUP_KEY_FIELDS[role] not in schema.columns:
        schema = schema.add_columns({GROUP_KEY_FIELDS[role]: pa.Column(str, nullable=True)})
    if getattr(source, "session_id_scope", "study") == "group":  # unique per group: checked by the caller
        schema = schema.update_column("session_id", unique=False)
    for field, checks in (dynamic_checks or {}).items():
        schema = schema.update_column(field, checks=checks)
    candidates = frame.loc[ledger.pending(table.name).intersection(frame.index)]
    try:
        valid = schema.validate(candidates, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
        structural = failures[failures["index"].isna()]
        if not structural.empty:
            raise InputError(f"{table.name}: {structural[['column', 'check']].to_dict('records')}") from exc
        for (field, check), part in failures.groupby(["column", "check"], dropna=False, sort=True):
            check = str(check)
            rows = pd.Index(part["index"].astype("int64").unique())
            if check in ROW_CHECKS:  # a rule about several columns of a row: one issue per row
                if field != ROW_CHECKS[check][0]:
                    continue
                mapped = [source.columns[f] for f in ROW_CHECKS[check] if f in source.columns]  # e.g. no `arm`
                columns = ", ".join(mapped or ROW_CHECKS[check])
                ledger.quarantine(table.name, rows, columns, check, detail=RULES[check])
                continue
            field_name = str(field)
            originals = candidates.loc[rows, field_name] if field_name in candidates else None
            ledger.quarantine(
                table.name,
                rows,
                source.columns.get(field_name, field_name),
                rule_name(check),
                values=originals,
                detail=check,
                redact=field_name in IDENTIFYING,
                kind=_shown_kind(role, field_name),
            )
        keep = ledger.pending(table.name).intersection(candidates.index)
        valid = schema.validate(candidates.loc[keep], lazy=True)
    return valid
