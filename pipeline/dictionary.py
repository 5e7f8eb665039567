"""The data dictionary of ``data_clean/``: one entry per column of every clean table.

Built from the pandera output schemas (their descriptions and metadata) and the instrument
library (the levels of ``instrument`` and ``scale``), so it always says what the checks check.
"""

from __future__ import annotations

import pandas as pd

from pipeline.instruments import Instrument
from pipeline.schemas import CLEAN_TABLES

COLUMNS = ["table", "column", "type", "nullable", "description", "levels", "unit", "source"]


def data_dictionary(instruments: dict[str, Instrument]) -> pd.DataFrame:
    """Return the data dictionary as a table (see :data:`COLUMNS`)."""
    scale_levels = "|".join(s.id for inst in instruments.values() for s in inst.scales)
    rows = []
    for table, model in CLEAN_TABLES.items():
        schema = model.to_schema()
        for name, column in schema.columns.items():
            meta = (column.metadata or {}).get("dictionary", {})
            levels = meta.get("levels", "")
            if name == "instrument":
                levels = "|".join(sorted(instruments))
            elif name == "scale":
                levels = scale_levels
            rows.append(
                {
                    "table": f"{table}.parquet",
                    "column": name,
                    "type": str(column.dtype),
                    "nullable": bool(column.nullable),
                    "description": column.description or "",
                    "levels": levels,
                    "unit": meta.get("unit", ""),
                    "source": meta.get("source", "") or "pipeline",
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
