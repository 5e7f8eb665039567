"""The long item table (``item_responses.parquet``) as one response x item table per instrument.

Scoring and the reliability analyses both need each instrument's answers side by side; this
module is the one place that reshapes them.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.instruments import Instrument


def category_codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Return the category codes and categories of a text column (categorical or not)."""
    categorical = column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")
    return categorical.cat.codes.to_numpy(), categorical.cat.categories


def wide_codes(response_ids: np.ndarray, items: np.ndarray, answers: np.ndarray, inst: Instrument) -> pd.DataFrame:
    """Return one instrument's item responses as a response x item table of answer codes.

    The ingest stage writes each submission's items together in questionnaire order, so the
    table is a reshape; any other order (a table supplied by a researcher) is pivoted.
    """
    order = inst.item_ids()
    k = len(order)
    n = len(items) // k
    if len(items) == n * k and (items == np.tile(np.array(order, dtype=object), n)).all():
        ids = response_ids.reshape(n, k)
        if (ids == ids[:, :1]).all():
            return pd.DataFrame(answers.reshape(n, k), index=pd.Index(ids[:, 0], name="response_id"), columns=order)
    long = pd.DataFrame({"response_id": response_ids, "item": items, "response": answers})
    return long.pivot(index="response_id", columns="item", values="response").reindex(columns=order)


def instrument_tables(
    item_responses: pd.DataFrame, instruments: dict[str, Instrument]
) -> Iterator[tuple[Instrument, pd.DataFrame]]:
    """Yield each administered instrument with its response x item table of answer codes."""
    response_ids = item_responses["response_id"].to_numpy()
    answers = item_responses["response"].to_numpy(dtype=float)
    inst_codes, inst_names = category_codes(item_responses["instrument"])
    item_codes, item_names = category_codes(item_responses["item"])
    item_names = np.asarray(item_names, dtype=object)
    for k, inst_id in enumerate(inst_names):
        inst = instruments.get(str(inst_id))
        if inst is None:
            raise InputError(f"item_responses hold instrument '{inst_id}', which is not in the instrument library")
        rows = np.flatnonzero(inst_codes == k)
        yield inst, wide_codes(response_ids[rows], item_names[item_codes[rows]], answers[rows], inst)
