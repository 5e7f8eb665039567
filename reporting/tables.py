"""Published tables shared by the documents, each with its disclosure control applied.

Every function takes the :class:`~reporting.results.Results` a document reads and returns a
data frame ready to print (numbers still numbers, hidden cells missing, a ``suppressed``
flag per row), so the same suppression holds in every document and every format.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reporting.results import Results
from reporting.suppress import Margin, suppress

RC_VALUES = ("share", "ci95_low", "ci95_high")


def reliable_change(res: Results) -> pd.DataFrame:
    """Jacobson-Truax categories per scale, arm and programme, with primary and complementary suppression.

    Categories add up to the group's ``n`` and programmes add up to ``all``: both are margins.
    """
    table = res.table("change", "reliable_change")
    return suppress(
        table,
        count="count",
        values=RC_VALUES,
        keys=("scale", "arm", "programme", "category"),
        margins=(Margin("category"), Margin("programme", total="all")),
        base="n",
        min_cell=res.min_cell,
    )


def between_arms(res: Results) -> pd.DataFrame:
    """Intervisie vs comparison (Hedges' g) per outcome and programme; hidden when either arm has < min_cell.

    Each arm's ``n`` adds up over programmes to ``all``, so both get complementary suppression.
    """
    table = res.table("change", "between_arms")
    stats = ["mean_a", "mean_b", "mean_diff", "d", "g", "ci95_low", "ci95_high"]
    keys = ("outcome", "programme")
    margin = (Margin("programme", total="all"),)
    first = suppress(table, count="n_a", values=stats, keys=keys, margins=margin, min_cell=res.min_cell)
    second = suppress(table, count="n_b", values=stats, keys=keys, margins=margin, min_cell=res.min_cell)
    out = first.copy()
    out["n_b"] = second["n_b"]
    hidden = first["suppressed"].to_numpy() | second["suppressed"].to_numpy()
    out.loc[hidden, stats] = np.nan
    out["suppressed"] = hidden
    return out


def per_programme(res: Results, stage: str, name: str, *, n: str, values: list[str], keys: tuple[str, ...]) -> pd.DataFrame:
    """A per-programme table whose ``n`` adds up to the ``all`` row, with primary and complementary suppression."""
    table = res.table(stage, name)
    return suppress(
        table, count=n, values=values, keys=keys, margins=(Margin("programme", total="all"),), min_cell=res.min_cell
    )


def response_flow(res: Results) -> pd.DataFrame:
    """People on the roster and answering each wave, per arm and programme (suppressed; programmes add up per arm)."""
    table = res.table("quality", "response_flow")
    return suppress(
        table,
        count="n",
        values=["share_of_roster"],
        keys=("arm", "stage", "programme"),
        margins=(Margin("programme"),),
        min_cell=res.min_cell,
    )
