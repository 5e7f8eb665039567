"""From export cells to answer codes: the item mapping of a survey and the coding of each cell.

A cell may hold a code (``4``, ``"4"``, ``4.0``), a value label in Dutch or English
(``"Mee eens"``), a missing code (``99``, ``-9``, ``"n.v.t."``), nothing, or something
else.  :func:`code_cells` decides which, for a whole block of cells at once, without
guessing: anything it does not recognise is reported, never coerced.
"""

from __future__ import annotations

import math
import numbers
import string
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.instruments import Instrument, ResponseSet
from pipeline.schemas import ITEM_STATUS
from pipeline.study import Source, Study, SurveySource

#: the status of one item cell, in the order of its small-integer code
ANSWERED, NOT_ANSWERED, MISSING_CODE, OUT_OF_RANGE, UNRECOGNISED = range(len(ITEM_STATUS))


def item_columns(survey: SurveySource, instruments: dict[str, Instrument]) -> dict[str, dict[str, str]]:
    """Return ``{instrument id: {item id: export column}}`` for a survey description.

    A pattern names the column of item number ``n`` (1-based, questionnaire order) with
    ``{n}``, or of item id ``x`` with ``{id}``; ``{n}`` takes a Python format spec for
    zero-padded numbers (``Q{n:02d}`` -> ``Q01``, ``BRS[SQ{n:03d}]`` -> ``BRS[SQ001]``); a
    literal brace is doubled (``{{``). An explicit mapping names every item.
    """
    out: dict[str, dict[str, str]] = {}
    problems = []
    for inst_id, spec in survey.items.items():
        inst = instruments.get(inst_id)
        if inst is None:
            problems.append(f"instrument '{inst_id}' is not in the instrument library ({sorted(instruments)})")
            continue
        if inst.occasion != survey.occasion:
            problems.append(
                f"instrument '{inst_id}' is answered per {inst.occasion}, this survey per {survey.occasion}"
            )
            continue
        if isinstance(spec, str):
            problem = pattern_problem(spec)
            if problem:
                problems.append(f"pattern '{spec}' for '{inst_id}': {problem}")
                continue
            out[inst_id] = {it.id: spec.format(n=n, id=it.id) for n, it in enumerate(inst.items, 1)}
        else:
            absent = [i for i in inst.item_ids() if i not in spec]
            unknown = [i for i in spec if i not in inst.item_ids()]
            if absent or unknown:
                problems.append(f"mapping for '{inst_id}': items without a column {absent}, unknown items {unknown}")
                continue
            out[inst_id] = {i: spec[i] for i in inst.item_ids()}
    if problems:
        raise InputError(f"survey {survey.file} in study.yaml: " + "; ".join(problems))
    return out


def data_columns(study: Study, role: str, source: Source, instruments: dict[str, Instrument]) -> frozenset[str]:
    """The export columns of a source besides its mapped fields: a survey's items, the roster's covariates.

    Every column of a file must be declared (:func:`pipeline.readers.check_declared_columns`);
    these are the ones declared by the instrument mapping (``items:``) or by ``covariates:``.
    """
    if role == "survey" and isinstance(source, SurveySource):
        return frozenset(c for m in item_columns(source, instruments).values() for c in m.values())
    return study.covariate_columns(role)


def pattern_problem(pattern: str) -> str | None:
    """Return what is wrong with an item column pattern, or ``None`` when it is usable."""
    try:
        fields = [(name, spec, conv) for _t, name, spec, conv in string.Formatter().parse(pattern) if name is not None]
    except ValueError as exc:
        return f"{exc} (write a literal brace twice: {{{{ or }}}})"
    names = {name for name, _s, _c in fields}
    unknown = sorted(names - {"n", "id"})
    if unknown:
        return f"names {unknown}; only {{n}} (item number, e.g. {{n:02d}} for 01) and {{id}} (item id) are known"
    if not names:
        return "has neither {n} (item number) nor {id} (item id)"
    try:
        pattern.format(n=1, id="x")
    except (ValueError, TypeError) as exc:
        return f"{exc} (a number format is written like {{n:02d}})"
    return None


def with_missing_codes(rs: ResponseSet, extra: list[str | int]) -> ResponseSet:
    """Return ``rs`` with the study's (or export's) missing codes added to the instrument's own.

    Raises :class:`InputError` when a code is also a valid answer (a number in ``min..max`` or a
    value label): it could not mean both.
    """
    if not extra:
        return rs
    labels = {t.casefold() for label in rs.labels.values() for t in (label.nl, label.en)}
    clash = []
    for code in extra:
        number = _as_float(code)
        if (number is not None and rs.min <= number <= rs.max) or str(code).strip().casefold() in labels:
            clash.append(code)
    if clash:
        raise InputError(
            f"study.yaml: missing_codes {clash} are also valid answers (codes {rs.min}..{rs.max} or a value label) "
            "of an instrument's response set; remove them from `missing_codes:`"
        )
    codes = list(rs.missing_codes) + [c for c in extra if c not in rs.missing_codes]
    codes = [int(c) if isinstance(c, str) and _as_float(c) is not None and float(c).is_integer() else c for c in codes]
    return rs.model_copy(update={"missing_codes": codes})


def _as_float(code: object) -> float | None:
    try:
        return float(str(code).strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class CodedCells:
    """Answer codes (NaN where there is none) and the status of every cell of a block."""

    codes: np.ndarray
    status: np.ndarray


def _numeric(value: float, rs: ResponseSet) -> tuple[float, int]:
    if value in {c for c in rs.missing_codes if isinstance(c, int)}:
        return math.nan, MISSING_CODE
    if float(value).is_integer() and rs.min <= value <= rs.max:
        return float(value), ANSWERED
    return math.nan, OUT_OF_RANGE


def interpret(value: object, rs: ResponseSet, decimal: str = ".") -> tuple[float, int]:
    """Return ``(code, status)`` for one export cell on a response set (see :data:`ITEM_STATUS`)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan, NOT_ANSWERED
    if isinstance(value, bool):
        return math.nan, UNRECOGNISED
    if isinstance(value, numbers.Real):
        return _numeric(float(value), rs)
    if not isinstance(value, str):
        return math.nan, UNRECOGNISED  # a date or time where an answer belongs
    text = value.strip()
    if not text:
        return math.nan, NOT_ANSWERED
    folded = text.casefold()
    for code, label in rs.labels.items():
        if folded in (label.nl.casefold(), label.en.casefold()):
            return float(code), ANSWERED
    if folded in {str(c).casefold() for c in rs.missing_codes}:
        return math.nan, MISSING_CODE
    try:
        number = float(text.replace(decimal, ".") if decimal != "." else text)
    except ValueError:
        return math.nan, UNRECOGNISED
    if math.isnan(number) or math.isinf(number):
        return math.nan, UNRECOGNISED
    return _numeric(number, rs)


def code_cells(
    block: pd.DataFrame, response_sets: list[ResponseSet], decimal: str = ".", rows: np.ndarray | None = None
) -> CodedCells:
    """Code every cell of ``block`` (rows x item columns, one response set per column).

    ``rows`` (positions) selects the rows to code, in that order; all rows by default.

    Each column is factorised (its distinct values found in one vectorised pass) and each
    distinct value is interpreted once per response set (:func:`interpret`), so the cost
    grows with the number of distinct values, not of cells.
    """
    n_rows = block.shape[0] if rows is None else len(rows)
    n_cols = block.shape[1]
    codes = np.full((n_rows, n_cols), np.nan)
    status = np.full((n_rows, n_cols), NOT_ANSWERED, dtype=np.int8)
    seen: dict[tuple[int, type, object], tuple[float, int]] = {}
    for j, rs in enumerate(response_sets):
        column = block.iloc[:, j]
        index, uniques = pd.factorize(column, use_na_sentinel=True)
        uniques = list(uniques)
        table = [seen.setdefault((id(rs), type(v), v), interpret(v, rs, decimal)) for v in uniques]
        table.append((math.nan, NOT_ANSWERED))
        index = np.where(index < 0, len(table) - 1, index)
        if column.dtype == object:
            index = _split_bools(index, uniques, column.to_numpy(dtype=object), table, rs, decimal)
        if rows is not None:
            index = index[rows]
        codes[:, j] = np.array([t[0] for t in table], dtype=float)[index]
        status[:, j] = np.array([t[1] for t in table], dtype=np.int8)[index]
    return CodedCells(codes, status)


def _split_bools(
    index: np.ndarray, uniques: list, values: np.ndarray, table: list, rs: ResponseSet, decimal: str
) -> np.ndarray:
    """Tell ``True``/``False`` apart from the numbers 1/0, which factorize files as one value.

    ``True == 1`` and both hash alike, so a tick box and a genuine answer 1 would share the
    interpretation of whichever came first; a boolean is never an answer code.
    """
    for k, unique in enumerate(uniques):
        if not isinstance(unique, numbers.Number | np.bool_) or unique not in (0, 1):
            continue
        cells = np.flatnonzero(index == k)
        is_bool = np.fromiter(map(isinstance, values[cells], repeat(bool | np.bool_)), bool, len(cells))
        if is_bool.any() and not is_bool.all():
            table += [interpret(float(unique), rs, decimal), (math.nan, UNRECOGNISED)]
            index[cells[~is_bool]] = len(table) - 2
            index[cells[is_bool]] = len(table) - 1
    return index
