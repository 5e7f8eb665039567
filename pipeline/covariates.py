"""Baseline covariates: read from the roster as study.yaml declares them, into ``covariates.parquet``.

A study that did not randomise needs what it knows about people before they joined (year of
training, age, earlier treatment for burnout ...) to adjust its effects for how people came in.
Each covariate is one roster column (study.yaml ``covariates:``, :class:`pipeline.study.Covariate`).
A value that cannot be read (not a number, outside the declared range, a spelling the coding
does not list) is set missing and reported in the quality tables with its file, row, column and
rule; the participant stays, and the analyses treat the value as missing.  The values are never
shown in the quality tables (an age or a training year can point to a person in a small group).

The clean table is long: one row per participant and covariate (``value`` for numeric and
binary covariates, 1 meaning ``true``; ``level`` for categorical ones), so that its schema is
fixed whatever the study declares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.canonical import _as_id, _as_number, map_distinct
from pipeline.ledger import Ledger
from pipeline.readers import RawTable, cells
from pipeline.study import Study

COLUMNS = ["participant", "covariate", "value", "level"]


def empty_covariates() -> pd.DataFrame:
    """The covariates table of a study that declares none (its columns, no rows)."""
    return pd.DataFrame(
        {
            "participant": pd.Series(dtype="string"),
            "covariate": pd.Series(dtype="string"),
            "value": pd.Series(dtype=float),
            "level": pd.Series(dtype="string"),
        }
    )


def covariate_rows(table: RawTable, rows: pd.Index, participants: np.ndarray, study: Study, ledger: Ledger) -> pd.DataFrame:
    """Read every declared covariate of the roster rows ``rows`` (source rows of the clean roster).

    ``participants`` holds the pseudonyms of those rows, in the same order.  Problems are
    recorded in ``ledger`` against ``table.name`` (action ``set_missing``; the values redacted).
    """
    if not study.covariates:
        return empty_covariates()
    positions = pd.Index(table.rows).get_indexer(rows)
    parts = []
    for name, cov in study.covariates.items():
        values = pd.Series(cells(table.frame[cov.column].iloc[positions]), index=rows, dtype=object)
        number = pd.Series(np.nan, index=rows)
        level = pd.Series(pd.NA, index=rows, dtype="string")

        def report(bad: pd.Series, rule: str, detail: str, column: str = cov.column) -> None:
            ledger.issue(table.name, rows[bad.to_numpy()], column, rule, action="set_missing", detail=detail,
                         redact=True)  # fmt: skip

        if cov.kind == "numeric":
            number, failed, _dotted = _as_number(values, study.roster.csv.decimal)
            report(failed, "not_a_number", f"covariate '{name}' is a number (set missing)")
            if cov.range is not None:
                low, high = cov.range
                outside = number.notna() & ((number < low) | (number > high))
                report(outside, "out_of_range", f"covariate '{name}' lies in [{low:g}, {high:g}] (set missing)")
                number = number.where(~outside)
        else:
            lookup = {str(raw_value).strip().casefold(): code for code, spellings in cov.values.items()
                      for raw_value in spellings}  # fmt: skip
            mapped = map_distinct(values, lambda v, lk=lookup: None if v is None else lk.get(str(_as_id(v)).casefold()))
            unknown = values.notna() & mapped.isna()
            report(unknown, "unknown_value", f"covariate '{name}': allowed {sorted(cov.values)} (set missing)")
            if cov.kind == "binary":
                number = mapped.map({"true": 1.0, "false": 0.0}).astype(float)
            else:
                level = mapped.astype("string")
        parts.append(
            pd.DataFrame(
                {
                    "participant": participants,
                    "covariate": name,
                    "value": number.to_numpy(dtype=float),
                    "level": level.to_numpy(),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True).astype({"participant": "string", "covariate": "string", "level": "string"})
    return out.sort_values(["participant", "covariate"], kind="stable").reset_index(drop=True)
