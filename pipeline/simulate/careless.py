"""Careless responders: straight-liners and random responders planted in a table of answer codes.

Kept apart from the other defects so that planting them draws from its own random stream
(``stream(seed, "careless")``) and changes no other simulated value.  :func:`plant_in_export`
plants them in the demo study's wave questionnaires (``defects.careless_straight_line`` and
``defects.careless_random`` in simulation.yaml; each recorded in the manifest with file and row);
:func:`plant_careless` plants them in a plain table of codes for the screen's own tests.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.simulate.defects import Planter, cell_of, is_empty, set_cell
from pipeline.simulate.tables import Export


def plant_careless(
    codes: pd.DataFrame,
    ranges: Mapping[str, tuple[int, int]],
    *,
    straight: int,
    random: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return a copy of ``codes`` with careless responders planted, and one record per responder.

    A *straight-liner* ticks the same answer column throughout: column ``j`` (drawn once per
    responder, ``0 <= j <= `` the narrowest range's width) gives code ``min + j`` on every item.
    A *random responder* answers every item with a code drawn uniformly from its range
    (Meade & Craig, 2012, simulate careless responding this way).  Responders are distinct rows
    drawn without replacement.

    Parameters
    ----------
    codes : DataFrame
        Responses x items, answer codes.
    ranges : mapping of str to (int, int)
        Lowest and highest code of each item column.
    straight, random : int
        How many straight-liners and random responders to plant.
    rng : numpy.random.Generator
        The random stream (the simulator's ``stream(seed, "careless")``).

    Returns
    -------
    (DataFrame, DataFrame)
        The planted table, and the records: ``row`` (index label), ``kind``
        (``straight_line`` or ``random``) and ``column`` (the straight-liner's answer column).
    """
    missing = [c for c in codes.columns if c not in ranges]
    if missing:
        raise InputError(f"plant_careless: no code range for item column(s) {missing[:5]}")
    if straight < 0 or random < 0 or straight + random > len(codes):
        raise InputError(f"plant_careless: cannot plant {straight} + {random} responders in {len(codes)} rows")
    low = np.array([ranges[c][0] for c in codes.columns])
    high = np.array([ranges[c][1] for c in codes.columns])
    rows = rng.choice(len(codes), size=straight + random, replace=False)
    out = codes.copy()
    values = out.to_numpy(dtype=float, copy=True)
    records = []
    for n, row in enumerate(rows):
        kind = "straight_line" if n < straight else "random"
        values[row], column = responder_codes(kind, low, high, rng)
        records.append({"row": codes.index[row], "kind": kind, "column": column})
    out.loc[:, :] = values
    return out, pd.DataFrame(records, columns=["row", "kind", "column"])


def responder_codes(
    kind: str, low: np.ndarray, high: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """The answer codes of one careless responder over items with codes ``low..high``.

    Returns the codes and, for a straight-liner, the answer column ticked (``-1`` for a random
    responder).  See :func:`plant_careless` for the two kinds.
    """
    if kind == "straight_line":
        narrowest = int((high - low).min()) if len(low) else 0
        column = int(rng.integers(0, narrowest + 1))
        return low + column, column
    if kind == "random":
        return rng.integers(low, high + 1), -1
    raise InputError(f"unknown kind of careless responder {kind!r}: straight_line or random")


def plant_in_export(planter: Planter, export: Export, *, straight: int, random: int, busy: set[int]) -> None:
    """Turn some rows of a questionnaire export into careless responders, and record them.

    The rows are drawn among real, consenting rows no other defect touched (``busy`` holds their
    keys); only the items the row answered are rewritten, each in the export's own way of
    writing an answer (code, value label or Excel cell).  Records: ``careless_straight_line``
    (with ``value`` = the answer column ticked) and ``careless_random``.
    """
    columns = list(export.items)
    rows = planter.rows(export, straight + random, busy=busy)
    for n, pos in enumerate(rows):
        kind = "straight_line" if n < straight else "random"
        answered = [c for c in columns if not is_empty(export.frame[c].iat[pos])]
        sets = [export.items[c][0].response_set_of(export.items[c][1]) for c in answered]
        low = np.array([rs.min for rs in sets], dtype=np.int64)
        high = np.array([rs.max for rs in sets], dtype=np.int64)
        codes, column = responder_codes(kind, low, high, planter.rng)
        for c, rs, code in zip(answered, sets, codes, strict=True):
            set_cell(export, int(pos), c, cell_of(int(code), rs, export.style))
        extra = {"value": column} if kind == "straight_line" else {}
        planter.record(f"careless_{kind}", export, int(export.frame["_key"].iat[pos]), **extra)
