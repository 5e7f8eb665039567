"""When a date of a study can be true: partial dates, and the window a study's dates lie in.

A date written ``2024`` or ``2024-03`` names no day; reading it as 1 January or 1 March would
invent one, so it is refused (``partial_date``).  A date can also be readable and still
impossible for the study (a typo of a century, ``1900``, ``2100``); such dates are
``date_out_of_window``:

- a roster's start date must lie between :data:`EARLIEST` (1990-01-01) and one year after the
  day of the run (nobody starts a programme years from now);
- every other date (sessions, submissions, leaving dates) must lie within the study's window:
  from one year before the earliest clean start date to one year after the latest start date
  plus the last wave's months (:func:`study_window`).

A date outside its window is handled like an unreadable one: a required date (a start date, a
session's date) quarantines its row, a bookkeeping date (submission time, leaving date) is
set missing.  data_raw/README.md documents the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pandas as pd

#: no intervisie study of today's trainees started before this
EARLIEST = pd.Timestamp("1990-01-01")
#: the margin on either side of the study's own dates
MARGIN = pd.DateOffset(years=1)
_PARTIAL = re.compile(r"^\s*\d{4}([-/.]\d{1,2})?\s*$")


@dataclass(frozen=True)
class Window:
    """The dates [first, last] a field may hold, and how the issue table describes them."""

    first: pd.Timestamp
    last: pd.Timestamp
    why: str

    def outside(self, dates: pd.Series) -> pd.Series:
        """Return which (present) dates fall outside the window."""
        return dates.notna() & ((dates < self.first) | (dates > self.last))

    def detail(self) -> str:
        """Return the window as the issue table states it."""
        return f"expected {self.first:%Y-%m-%d} .. {self.last:%Y-%m-%d} ({self.why})"


def start_window(today: date | None = None) -> Window:
    """Return the window of the roster's start dates: :data:`EARLIEST` to one year after ``today``."""
    day = pd.Timestamp(today or date.today())
    return Window(EARLIEST, day + MARGIN, "start dates from 1990 to one year after today")


def study_window(start_dates: pd.Series, last_wave_months: float) -> Window | None:
    """Return the window of the study's other dates, from its clean start dates; ``None`` without any.

    From one year before the earliest start to one year after the latest start plus the last
    wave's months (rounded up).
    """
    starts = pd.to_datetime(start_dates).dropna()
    if starts.empty:
        return None
    months = int(-(-float(last_wave_months) // 1))
    last = starts.max() + pd.DateOffset(months=months) + MARGIN
    return Window(
        starts.min() - MARGIN,
        last,
        f"a year around the start dates and the last wave at {last_wave_months:g} months",
    )


def is_partial(value: object) -> bool:
    """Whether a cell is a partial date as text: a year, or a year and month (``2024``, ``2024-03``)."""
    return isinstance(value, str) and bool(_PARTIAL.match(value))
