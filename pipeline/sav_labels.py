"""Value labels against the instrument: a file stored reverse-coded is found, not scored.

An SPSS file carries the meaning of its codes as value labels (``1 = Helemaal mee eens``).
When those labels contradict the instrument's response set (the file's code 1 carries the
instrument's label of code 5), scoring the codes as they are would turn every answer around
without a trace; so :func:`reconcile_value_labels` stops the run.  The rule, per item column
with value labels, for every labelled code inside the response set's range that is not one of
its missing codes:

* the label must be the instrument's label of the *same* code (Dutch or English; case,
  spacing and a leading or trailing copy of the code, as in ``1 = ...`` or ``... (1)``,
  do not count); a label of another code is a contradiction;
* a label that is none of the instrument's labels cannot be checked and is refused too,
  unless the study maps the codes: ``recode: {instrument: {file code: instrument code}}``
  under the survey in study.yaml.  With a mapping the file's codes are recoded first, and
  only contradictions after recoding are refused.

Messages name the file, the column, the code and the instrument's label, never the file's
own label text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import pandas as pd

from pipeline.errors import InputError
from pipeline.instruments import Instrument, ResponseSet
from pipeline.raw_table import RawTable
from pipeline.study import SurveySource

#: how many problems a message lists before it says "and N more"
SHOWN = 8


def _normal(label: str, code: float | None = None) -> str:
    text = " ".join(str(label).split()).casefold()
    if code is not None and float(code).is_integer():
        c = re.escape(str(int(code)))
        text = re.sub(rf"^\(?{c}\)?\s*[=.:)\-]?\s+", "", text)
        text = re.sub(rf"\s*[(\[]{c}[)\]]$", "", text)
    return text.strip()


def _instrument_codes(rs: ResponseSet) -> dict[str, set[int]]:
    """Normalised label -> the instrument codes that carry it."""
    out: dict[str, set[int]] = {}
    for code, text in rs.labels.items():
        for label in (text.nl, text.en):
            out.setdefault(_normal(label), set()).add(code)
    return out


def _is_missing_code(code: float, rs: ResponseSet) -> bool:
    for missing in rs.missing_codes:
        try:
            if float(missing) == code:
                return True
        except (TypeError, ValueError):
            continue
    return False


def _as_code(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _recoded(column: pd.Series, recode: Mapping[int, int]) -> pd.Series:
    table = {float(k): v for k, v in recode.items()}

    def one(value: object) -> object:
        code = _as_code(value)
        return table[code] if code is not None and code in table else value

    return column.map(one).astype(object)


def _recode_key(code: object, recode: Mapping[int, int]) -> object:
    number = _as_code(code)
    if number is None or not number.is_integer() or int(number) not in recode:
        return code
    return float(recode[int(number)])


def _check_recode(source: SurveySource, instruments: Mapping[str, Instrument]) -> list[str]:
    problems = []
    for inst_id, mapping in source.recode.items():
        if inst_id not in source.items:
            problems.append(f"recode.{inst_id}: not an instrument of this survey's `items:` ({sorted(source.items)})")
            continue
        sets = {id(s): s for s in (instruments[inst_id].response_set_of(i) for i in instruments[inst_id].items)}
        for rs in sets.values():
            bad = sorted(v for v in mapping.values() if not rs.min <= v <= rs.max)
            if bad:
                problems.append(f"recode.{inst_id}: code(s) {bad} are outside the instrument's range {rs.min}..{rs.max}")
        if len(set(mapping.values())) != len(mapping):
            problems.append(f"recode.{inst_id}: two file codes are mapped to one instrument code")
    return problems


def _column_problems(column: str, labels: Mapping[float, str], rs: ResponseSet, mapped: bool) -> tuple[list[str], dict]:
    """Return the problems of one column (one line) and the recoding its labels suggest (file -> instrument code)."""
    known = _instrument_codes(rs)
    moved, unknown, suggested = [], [], {}
    for code, label in sorted(labels.items()):
        if not isinstance(code, int | float) or _is_missing_code(float(code), rs):
            continue
        if not rs.min <= code <= rs.max:
            continue
        meant = known.get(_normal(label, code), set())
        if len(meant) == 1:
            suggested[code] = next(iter(meant))
        if meant and code not in meant:
            moved.append((code, sorted(meant)[0]))
        elif not meant and not mapped:
            unknown.append(code)
    parts = []
    if moved:
        (first, target), rest = moved[0], moved[1:]
        text = f"code {first:g} is labelled as the instrument's code {target} ({rs.labels[target].nl!r})"
        parts.append(text + "".join(f", code {c:g} as {t}" for c, t in rest))
    for code in unknown:
        expected = f" ({rs.labels[int(code)].nl!r} expected)" if int(code) in rs.labels else ""
        parts.append(f"the label of code {code:g} is none of the instrument's labels{expected}")
    problems = [f"column {column!r}: " + "; ".join(parts)] if parts else []
    return problems, suggested


def reconcile_value_labels(
    table: RawTable,
    source: SurveySource,
    columns: Mapping[str, Mapping[str, str]],
    instruments: Mapping[str, Instrument],
    where: str,
) -> RawTable:
    """Recode a survey export as study.yaml's ``recode:`` says, then check its value labels.

    Parameters
    ----------
    table : RawTable
        The export as read; ``value_labels`` holds the .sav value labels per column.
    source : SurveySource
        The survey's description (``recode:``).
    columns : mapping
        ``{instrument id: {item id: export column}}`` (:func:`pipeline.items.item_columns`).
    instruments : mapping
        The instrument library.
    where : str
        How messages name the file (study.yaml's name for it).

    Returns
    -------
    RawTable
        ``table`` with recoded item columns (and value labels keyed by the recoded codes).

    Raises
    ------
    InputError
        When a value label contradicts the instrument's response set, or a label cannot be
        checked and the study maps no codes; the message suggests the ``recode:`` the labels imply.
    """
    problems = [f"study.yaml, survey {where}: {p}" for p in _check_recode(source, instruments)]
    if problems:
        raise InputError("\n".join(problems))
    frame, value_labels = table.frame, dict(table.value_labels)
    found: list[str] = []
    hints: dict[str, dict] = {}
    for inst_id, mapping in columns.items():
        inst, recode = instruments[inst_id], source.recode.get(inst_id, {})
        items = {item.id: item for item in inst.items}
        for item_id, column in mapping.items():
            if recode and column in frame.columns:
                if frame is table.frame:
                    frame = frame.copy()
                frame[column] = _recoded(frame[column], recode)
                if column in value_labels:
                    value_labels[column] = {_recode_key(c, recode): t for c, t in value_labels[column].items()}
            labels = value_labels.get(column)
            if not labels or item_id not in items:
                continue
            trouble, suggested = _column_problems(column, labels, inst.response_set_of(items[item_id]), bool(recode))
            found += trouble
            if trouble and suggested:
                hints.setdefault(inst_id, {}).update({int(k): int(v) for k, v in suggested.items()})
    if found:
        listed = "\n".join(f"  {p}" for p in found[:SHOWN])
        more = f"\n  ... and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        hint = ""
        if hints:
            shown = "; ".join(f"{i}: {dict(sorted(m.items()))}" for i, m in hints.items())
            hint = (
                f"\nThe labels say the file is coded otherwise than the instrument (stored reverse-coded?). "
                f"If so, declare under this survey in study.yaml: recode: {{{shown}}}"
            )
        else:
            hint = (
                "\nIf the file's codes do mean the instrument's codes, say so under this survey in study.yaml "
                "with `recode: {instrument: {file code: instrument code}}` (e.g. {1: 1, 2: 2, ...})"
            )
        raise InputError(
            f"{where}: the SPSS value labels disagree with the instrument's response set, so the answers "
            f"cannot be scored safely:\n{listed}{more}{hint}"
        )
    if frame is table.frame:
        return table
    return RawTable(
        table.name,
        frame,
        table.rows,
        value_labels,
        table.blank_rows,
        hidden_rows=table.hidden_rows,
        user_missing=table.user_missing,
    )
