"""Great Expectations suites for the clean tables, translated from the rules the pipeline already has.

No rule is written here: every expectation is read from one of two sources of truth.

* **pandera** (:data:`pipeline.schemas.CLEAN_TABLES`): the columns of a strict model become
  ``expect_table_columns_to_match_set``; each column's dtype (as GE's pandas engine sees it: the
  dtype's scalar type, ``str`` for ``string``, ``CategoricalDtypeType`` for ``category``), nullability and uniqueness become
  ``expect_column_values_to_be_of_type``, ``..._to_not_be_null`` and ``..._to_be_unique``; a
  model's ``unique = [...]`` becomes ``expect_compound_columns_to_be_unique``; the built-in
  checks ``isin``, ``notin``, ``greater_than(_or_equal_to)``, ``less_than(_or_equal_to)``,
  ``in_range``, ``equal_to`` and ``str_length`` become their GE counterparts.  A check this
  module cannot translate raises :class:`~pipeline.errors.InputError`, so a rule is never
  dropped in silence.
* **the instrument library** (:func:`pipeline.instruments.load_library`): the levels of
  ``instrument``, ``item`` and ``scale``; per instrument and answer range, the valid codes of
  ``item_responses.response``; per scale, the range of ``scale_scores.score``
  (:func:`pipeline.scoring.score_range`).  Range rules use GE 1.x row conditions (``Column("scale") == "brs"``).

Each expectation carries ``meta = {"source": "pandera" | "instruments", "rule": ...}``; the
validation stage gates on the pandera rules only (see :mod:`pipeline.expectations_run`).

References
----------
Great Expectations 1.x, *Expectations gallery* and *Row conditions*,
https://docs.greatexpectations.io/docs/core/customize_expectations/expectation_conditions
"""

from __future__ import annotations

from typing import Any

import pandera.pandas as pa
from great_expectations import expectations as gxe
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.row_conditions import Column, Condition

from pipeline.errors import InputError
from pipeline.instruments import Instrument
from pipeline.schemas import CLEAN_TABLES
from pipeline.scoring import score_range

__all__ = [
    "INSTRUMENTS",
    "PANDERA",
    "instrument_expectations",
    "pandera_expectations",
    "score_range",
    "suite_expectations",
]

PANDERA = "pandera"
INSTRUMENTS = "instruments"


def _meta(source: str, rule: str) -> dict[str, str]:
    return {"source": source, "rule": rule}


def _check_expectation(table: str, column: str, check: pa.Check) -> Expectation:
    """Translate one built-in pandera column check into the GE expectation that checks the same."""
    stats: dict[str, Any] = dict(check.statistics or {})
    meta = _meta(PANDERA, f"{table}.{column}: {check.name} {stats}")
    name = check.name
    if name == "isin":
        return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(stats["allowed_values"]), meta=meta)
    if name == "notin":
        return gxe.ExpectColumnValuesToNotBeInSet(column=column, value_set=list(stats["forbidden_values"]), meta=meta)
    bounds: dict[str, dict[str, Any]] = {
        "greater_than": {"min_value": stats.get("min_value"), "strict_min": True},
        "greater_than_or_equal_to": {"min_value": stats.get("min_value")},
        "less_than": {"max_value": stats.get("max_value"), "strict_max": True},
        "less_than_or_equal_to": {"max_value": stats.get("max_value")},
        "equal_to": {"min_value": stats.get("value"), "max_value": stats.get("value")},
        "in_range": {
            "min_value": stats.get("min_value"),
            "max_value": stats.get("max_value"),
            "strict_min": not stats.get("include_min", True),
            "strict_max": not stats.get("include_max", True),
        },
    }
    if name in bounds:
        return gxe.ExpectColumnValuesToBeBetween(column=column, **bounds[name], meta=meta)
    if name == "str_length":
        return gxe.ExpectColumnValueLengthsToBeBetween(
            column=column, min_value=stats.get("min_value"), max_value=stats.get("max_value"), meta=meta
        )
    raise InputError(
        f"pipeline/schemas.py: check '{name}' on {table}.{column} has no Great Expectations translation in "
        "pipeline/expectations.py; add one there so that the Data Docs show every rule the schema enforces"
    )


def pandera_expectations(table: str, model: type[pa.DataFrameModel]) -> list[Expectation]:
    """Return the expectations that state the pandera model of one clean table.

    Parameters
    ----------
    table : str
        Name of the clean table (``participants``, ...).
    model : type[pandera.DataFrameModel]
        Its output schema.

    Returns
    -------
    list of Expectation
        Table-level rules first (column set, compound keys), then per column in schema order:
        type, not-null, unique and its checks.
    """
    schema = model.to_schema()
    if schema.checks:
        names = ", ".join(str(c.name) for c in schema.checks)
        raise InputError(
            f"pipeline/schemas.py: dataframe check(s) {names} of {table} have no Great Expectations translation"
        )
    out: list[Expectation] = []
    columns = list(schema.columns)
    if schema.strict:
        out.append(
            gxe.ExpectTableColumnsToMatchSet(
                column_set=columns, exact_match=True, meta=_meta(PANDERA, f"{table}: strict (exactly these columns)")
            )
        )
    for key in _unique_keys(schema.unique):
        out.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=key, meta=_meta(PANDERA, f"{table}: unique {key}")))
    for name, column in schema.columns.items():
        dtype = column.dtype.type  # the pandas dtype; GE compares its scalar type (``dtype.type``)
        out.append(
            gxe.ExpectColumnValuesToBeOfType(
                column=name, type_=dtype.type.__name__, meta=_meta(PANDERA, f"{table}.{name}: dtype {dtype}")
            )
        )
        if not column.nullable:
            out.append(
                gxe.ExpectColumnValuesToNotBeNull(column=name, meta=_meta(PANDERA, f"{table}.{name}: not nullable"))
            )
        if column.unique:
            out.append(gxe.ExpectColumnValuesToBeUnique(column=name, meta=_meta(PANDERA, f"{table}.{name}: unique")))
        out.extend(_check_expectation(table, name, check) for check in column.checks)
    return out


def _unique_keys(unique: str | list[str] | None) -> list[list[str]]:
    if unique is None:
        return []
    return [[unique]] if isinstance(unique, str) else [list(unique)]


def instrument_expectations(table: str, instruments: dict[str, Instrument]) -> list[Expectation]:
    """Return the expectations the instrument library implies for ``item_responses`` or ``scale_scores``.

    ``item_responses``: ``instrument`` and ``item`` are ids of the library; per instrument and
    answer range ``min..max`` (of its response sets), ``response`` lies in that range.
    ``scale_scores``: ``instrument`` and ``scale`` are ids of the library; per scale, ``score``
    lies in :func:`score_range`.  Other tables have no instrument rules (an empty list).
    """
    ids = sorted(instruments)
    if table == "item_responses":
        out: list[Expectation] = [
            _levels("instrument", ids, table),
            _levels("item", [i.id for inst in instruments.values() for i in inst.items], table),
        ]
        for inst in instruments.values():
            by_range: dict[tuple[int, int], list[str]] = {}
            for item in inst.items:
                rs = inst.response_set_of(item)
                by_range.setdefault((rs.min, rs.max), []).append(item.id)
            for (low, high), items in by_range.items():
                condition: Condition = Column("instrument") == inst.id
                if len(by_range) > 1:
                    condition = condition & Column("item").is_in(items)
                out.append(
                    gxe.ExpectColumnValuesToBeBetween(
                        column="response",
                        min_value=low,
                        max_value=high,
                        row_condition=condition,
                        meta=_meta(INSTRUMENTS, f"instruments/{inst.id}.yaml: answer codes {low}..{high}"),
                    )
                )
        return out
    if table == "scale_scores":
        out = [
            _levels("instrument", ids, table),
            _levels("scale", [s.id for inst in instruments.values() for s in inst.scales], table),
        ]
        for inst in instruments.values():
            for scale in inst.scales:
                low, high = score_range(inst, scale)
                out.append(
                    gxe.ExpectColumnValuesToBeBetween(
                        column="score",
                        min_value=low,
                        max_value=high,
                        row_condition=Column("scale") == scale.id,
                        meta=_meta(
                            INSTRUMENTS, f"instruments/{inst.id}.yaml: {scale.id} ({scale.method}) in {low:g}..{high:g}"
                        ),
                    )
                )
        return out
    return []


def _levels(column: str, values: list[str], table: str) -> Expectation:
    return gxe.ExpectColumnValuesToBeInSet(
        column=column, value_set=values, meta=_meta(INSTRUMENTS, f"{table}.{column}: ids of instruments/")
    )


def suite_expectations(instruments: dict[str, Instrument]) -> dict[str, list[Expectation]]:
    """Return every clean table's expectations, keyed by table (the suite name), in schema order."""
    return {
        table: pandera_expectations(table, model) + instrument_expectations(table, instruments)
        for table, model in CLEAN_TABLES.items()
    }
