"""Statistical disclosure control for published tables: primary and complementary cell suppression.

*Primary suppression* hides every cell that is about fewer than ``min_cell`` people: a count
``0 < n < min_cell``, and every statistic (mean, share, CI, effect size) whose base count is
below ``min_cell``.  *Complementary suppression* then hides further cells so that a hidden one
cannot be recovered by subtraction from a published total: within every group of cells that
add up to a published margin, as long as exactly one cell is hidden, or the hidden cells
together are about fewer than ``min_cell`` people, the smallest visible cell is hidden too
(a cell about nobody only when no other is left: hiding a zero protects nothing).
Margins are handled in turn until no margin changes (hierarchical tables, e.g. programmes
that add up to ``all`` and categories that add up to ``n``).

References: Hundepool A, Domingo-Ferrer J, Franconi L, et al. *Statistical Disclosure
Control*. Wiley, 2012, ch. 4.2-4.3 (threshold rule, secondary suppression);
CBS, *Statistische beveiliging*, minimum cell frequency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.errors import InputError


@dataclass(frozen=True)
class Margin:
    """Cells that add up to a published total.

    Parameters
    ----------
    along
        The column whose levels add up (e.g. ``"category"`` or ``"programme"``).
    total
        The level of ``along`` that *is* the total (e.g. ``"all"``), or ``None`` when the
        total is published elsewhere (e.g. the ``n`` column of the same rows).
    """

    along: str
    total: str | None = None


def primary_mask(counts: pd.Series, min_cell: int, *, base: pd.Series | None = None) -> pd.Series:
    """Cells about fewer than ``min_cell`` people: ``0 < count < min_cell``, or a base below ``min_cell``.

    A zero count is shown (it is about nobody) unless its base is small.
    """
    counts = pd.to_numeric(counts, errors="coerce")
    mask = (counts > 0) & (counts < min_cell)
    if base is not None:
        base = pd.to_numeric(base, errors="coerce")
        mask |= base < min_cell
    return mask.fillna(False).astype(bool)


def suppress(
    table: pd.DataFrame,
    *,
    count: str,
    values: Sequence[str] = (),
    keys: Sequence[str] = (),
    margins: Sequence[Margin] = (),
    base: str | None = None,
    min_cell: int = 5,
) -> pd.DataFrame:
    """Return a copy of ``table`` with disclosive cells set to missing and a boolean ``suppressed`` column.

    Parameters
    ----------
    table
        One row per cell; ``keys`` identify a cell.
    count
        The column with the number of people the cell is about (hidden when suppressed).
    values
        Statistics computed from those people (hidden with the count).
    keys
        Columns that identify a cell; a margin's group is ``keys`` without its ``along`` column.
    margins
        The totals the cells add up to (see :class:`Margin`), checked in turn until stable.
    base
        Optional column with the size of the group a count belongs to (e.g. ``n``); a
        row whose base is below ``min_cell`` is suppressed whole.
    min_cell
        The smallest number of people a published number may be about.

    Examples
    --------
    >>> t = pd.DataFrame({"cat": ["a", "b", "c"], "n": [3, 10, 20]})
    >>> suppress(t, count="n", keys=["cat"], margins=[Margin("cat")])["n"].tolist()
    [nan, nan, 20.0]
    """
    missing = [c for c in (count, *values, *keys, *(m.along for m in margins)) if c not in table.columns]
    if base is not None and base not in table.columns:
        missing.append(base)
    if missing:
        raise InputError(f"cannot suppress: the table has no column(s) {sorted(set(missing))}")
    out = table.copy()
    hidden = primary_mask(out[count], min_cell, base=out[base] if base else None).to_numpy().copy()
    counts = pd.to_numeric(out[count], errors="coerce").fillna(0).to_numpy()
    changed = True
    while changed:
        changed = False
        for margin in margins:
            group_cols = [k for k in keys if k != margin.along]
            groups = out.groupby(group_cols, sort=False, dropna=False).indices if group_cols else {(): np.arange(len(out))}
            for rows in groups.values():
                candidates = [int(r) for r in rows if margin.total is None or out[margin.along].iloc[r] != margin.total]
                changed |= _complement(candidates, hidden, counts, min_cell)
    out["suppressed"] = hidden
    for column in (count, *values):
        if out[column].dtype.kind in "iub":
            out[column] = out[column].astype("float64")
        out.loc[hidden, column] = np.nan
    if base is not None and base != count:
        small = (pd.to_numeric(out[base], errors="coerce") < min_cell).to_numpy()
        out[base] = out[base].astype("float64")
        out.loc[small, base] = np.nan
    return out


def _complement(rows: list[int], hidden: np.ndarray, counts: np.ndarray, min_cell: int) -> bool:
    """Hide the smallest visible cells of one margin group until subtraction reveals nothing."""
    changed = False
    while True:
        secret = [r for r in rows if hidden[r]]
        visible = [r for r in rows if not hidden[r]]
        if not secret or not visible:
            return changed
        if len(secret) > 1 and counts[secret].sum() >= min_cell:
            return changed
        # a zero cell protects nothing (it is about nobody): take the smallest cell about people first
        smallest = min(visible, key=lambda r: (counts[r] <= 0, counts[r], r))
        hidden[smallest] = True
        changed = True


def suppress_statistics(
    table: pd.DataFrame, *, n: str, values: Sequence[str], min_cell: int = 5
) -> pd.DataFrame:
    """Hide statistics (and their ``n``) computed on fewer than ``min_cell`` people; no margins.

    For tables whose rows do not add up to a published total (e.g. model-based estimates).
    """
    return suppress(table, count=n, values=values, min_cell=min_cell, base=None)
