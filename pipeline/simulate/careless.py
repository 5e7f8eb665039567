"""Careless responders: straight-liners and random responders planted in a table of answer codes.

Kept apart from the other defects so that planting them draws from its own random stream
(``stream(seed, "careless")``) and changes no other simulated value.  The demo study does not
call it yet; the careless-responding screen's tests plant known responders with it and check
that :mod:`pipeline.careless_stage` finds them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipeline.errors import InputError


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
    narrowest = int((high - low).min()) if len(low) else 0
    for n, row in enumerate(rows):
        if n < straight:
            column = int(rng.integers(0, narrowest + 1))
            values[row] = low + column
            records.append({"row": codes.index[row], "kind": "straight_line", "column": column})
        else:
            values[row] = rng.integers(low, high + 1)
            records.append({"row": codes.index[row], "kind": "random", "column": -1})
    out.loc[:, :] = values
    return out, pd.DataFrame(records, columns=["row", "kind", "column"])
