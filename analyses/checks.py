"""Input checks and naming shared by the statistics modules (no statistic here)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def ci_label(ci: float) -> str:
    """``0.95`` -> ``"ci95"``, ``0.975`` -> ``"ci97_5"`` (identifier-safe)."""
    return "ci" + f"{100 * ci:.10g}".replace(".", "_")


def check_ci(ci: float) -> None:
    """Raise ``ValueError`` unless ``ci`` is a confidence level strictly between 0 and 1."""
    if not (isinstance(ci, float | int) and 0 < ci < 1):
        raise ValueError(f"ci must be a number between 0 and 1 (e.g. 0.95), got {ci!r}")


def check_columns(data: pd.DataFrame, columns: Sequence[str], *, numeric: Sequence[str] = ()) -> None:
    """Raise ``ValueError`` naming the columns that ``data`` lacks or that are not numeric."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}")
    not_numeric = [c for c in numeric if not pd.api.types.is_numeric_dtype(data[c])]
    if not_numeric:
        raise ValueError(f"column(s) are not numeric: {not_numeric}")


def complete_items(data: pd.DataFrame, items: Sequence[str], *, min_items: int, min_rows: int) -> pd.DataFrame:
    """Return the numeric item columns on complete rows, or raise ``ValueError`` saying why not."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if isinstance(items, str):
        raise ValueError("items must be a list of column names, not a single string")
    items = list(items)
    if len(set(items)) != len(items):
        raise ValueError(f"items contains duplicate column names: {items}")
    missing = [c for c in items if c not in data.columns]
    if missing:
        raise ValueError(f"item column(s) not in data: {missing}")
    if len(items) < min_items:
        raise ValueError(f"at least {min_items} items are needed, got {len(items)}: {items}")
    block = data[items]
    not_numeric = [c for c in items if not pd.api.types.is_numeric_dtype(block[c])]
    if not_numeric:
        raise ValueError(f"item column(s) are not numeric: {not_numeric}")
    complete = block.dropna(axis=0, how="any").astype(float)
    if len(complete) < min_rows:
        raise ValueError(
            f"{len(complete)} complete row(s) on items {items}; at least {min_rows} are needed "
            f"({len(block)} rows in data, {len(block) - len(complete)} with a missing item)"
        )
    return complete


def constant_items(complete: pd.DataFrame) -> list[str]:
    return [c for c in complete.columns if complete[c].var(ddof=1) == 0]
