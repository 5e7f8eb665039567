"""Reading an SPSS ``.sav`` file: codes as numbers, value labels beside them, user-missing codes missing.

SPSS lets a file declare *user-missing* values per variable (a list of codes or a range, e.g.
``99`` "weet niet", or ``3`` where a team coded "not applicable" inside the scale).  Whatever
the code, the file says the answer is missing, so the reader sets such cells missing and
records, per column, which rows they were in (:attr:`RawTable.user_missing`).  Value labels
are kept beside the codes; :mod:`pipeline.sav_labels` checks them against the instrument's
response set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import UnreadableFileError
from pipeline.raw_table import RawTable
from pipeline.safe_path import check_regular_file
from pipeline.study import Source


def _in_ranges(column: pd.Series, ranges: list[dict]) -> np.ndarray:
    """Return where ``column`` holds a declared user-missing value (``{lo, hi}`` ranges, inclusive)."""
    hit = np.zeros(len(column), dtype=bool)
    values = column.to_numpy(dtype=object)
    for bounds in ranges:
        lo, hi = bounds.get("lo"), bounds.get("hi")
        for i, v in enumerate(values):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            if isinstance(v, str) != isinstance(lo, str):
                continue
            try:
                hit[i] |= bool(lo <= v <= hi)
            except TypeError:
                continue
    return hit


def read_spss(path: Path, source: Source) -> RawTable:
    """Read an SPSS ``.sav`` file with pyreadstat; value labels are kept beside the codes.

    User-defined missing values (a code, a list of codes or a range declared in the file) are
    set missing, wherever they lie; the rows they were in are kept in ``user_missing``.
    """
    import pyreadstat

    check_regular_file(path, max_megabytes=source.max_megabytes)
    try:
        frame, meta = pyreadstat.read_sav(str(path), user_missing=True, apply_value_formats=False)
    except Exception as exc:  # pyreadstat raises its own exception types for damaged files
        raise UnreadableFileError(path, f"not a readable SPSS file ({type(exc).__name__}: {exc})") from exc
    labels = {column: dict(v) for column, v in (meta.variable_value_labels or {}).items()}
    frame = frame.astype(object).where(frame.notna(), None)
    frame = frame.map(lambda v: (v.strip() or None) if isinstance(v, str) else v)
    keep = frame.notna().any(axis=1).to_numpy()  # a case of user-missing codes only is still a case
    missing_at: dict[str, np.ndarray] = {}
    for column, ranges in (meta.missing_ranges or {}).items():
        if column not in frame.columns or not ranges:
            continue
        hit = _in_ranges(frame[column], ranges)
        if hit.any():
            frame.loc[hit, column] = None
            missing_at[column] = hit
    numbers = np.arange(1, len(frame) + 1, dtype=np.int64)
    user_missing = {c: numbers[hit & keep] for c, hit in missing_at.items()}
    return RawTable(
        path.name, frame[keep].reset_index(drop=True), numbers[keep], labels, numbers[~keep], user_missing=user_missing
    )
