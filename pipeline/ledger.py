"""The row ledger: every raw row ends clean, quarantined with a rule, or excluded with a reason.

Stages record what they decide here; nothing is dropped without an entry, and the
accounting table shows, per source file, that the counts reconcile.  A source file goes by
the study's name for it (:mod:`pipeline.sources`), never by its name on disk.  A raw value is
copied into the issue table only when it is a short, valid-looking value of its field's kind;
any other value, and every value of an identifier column, is written as ``<redacted: KIND>``
(:mod:`pipeline.redact`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipeline.redact import safe_column, show

FATES = ("clean", "quarantined", "excluded")
REDACTED = "<redacted: identifier>"

#: what each rule means, for the quality tables and the data dictionary
RULES: dict[str, str] = {
    "missing_value": "a required value is empty",
    "empty_value": "a required value is empty text",
    "duplicate_value": "a value that must be unique occurs more than once (all rows with it are quarantined)",
    "wrong_type": "a value of the wrong type",
    "group_matches_arm": "an intervisie participant needs a group and a coach; a comparison participant has neither",
    "end_before_start": "the participant left intervisie (end_date) before they started (start_date)",
    "arm_not_in_design": "a comparison-arm participant in a study whose design has no comparison cohort (design: {comparison: false})",
    "end_date_not_member": "a leaving date for a participant of the comparison cohort, who was never in intervisie",
    "not_a_date": "a date column holds something that is not a date in the declared format",
    "not_a_number": "a number column holds something that is not a number",
    "unknown_value": "a coded column holds a value that study.yaml does not list",
    "unknown_participant": "the participant ID matches no roster entry",
    "participant_quarantined": "the participant's roster row was quarantined, so their rows are too",
    "no_consent": "the participant did not consent; none of their data is used",
    "unknown_group": "the group matches no group in the roster",
    "unknown_session": "the session matches no row of the session log",
    "session_quarantined": "the session's row in the session log was quarantined, so rows about it are too",
    "not_group_member": "the participant is not a member of the session's group",
    "session_before_start": "the session is dated before the group's programme started",
    "no_answers": "the submission answers no item of any instrument",
    "blank_row": "a row with no value at all (a blank line, an empty row at the end of a sheet)",
    "duplicate_row": "an exact copy of an earlier row (every field equal); the first is kept",
    "decimal_point": "a decimal point in a file whose decimal mark is a comma; read as a decimal point",
    "superseded_duplicate": "a later (or more complete) submission of the same participant and occasion is kept",
    "out_of_range": "an answer outside the response set's codes (set missing), or a bookkeeping number that cannot be true (set missing)",
    "partial_date": "a date without its day or month (2024, 2024-03): not read as the first of the month",
    "date_out_of_window": "a date outside the study's plausible window (see data_raw/README.md)",
    "unrecognised": "an answer that is neither a code, a value label nor a missing code; set to missing",
    "mixed_script_id": "the ID mixes letters of two scripts (e.g. a Latin i with a Cyrillic і that looks the same); "
    "the row is not read as a person",
}


class Ledger:
    """Collects issues and the fate of every raw row, per source file."""

    def __init__(self) -> None:
        self._issues: list[pd.DataFrame] = []
        self._fate: dict[str, pd.Series] = {}
        self._reason: dict[str, pd.Series] = {}
        self._role: dict[str, str] = {}

    def register(self, file: str, role: str, rows: np.ndarray, blank_rows: np.ndarray | None = None) -> None:
        """Start the accounting of a source file: every row is pending; blank rows are excluded at once."""
        blank = np.asarray(blank_rows if blank_rows is not None else [], dtype=np.int64)
        index = pd.Index(np.sort(np.concatenate([np.asarray(rows, dtype=np.int64), blank])), name="source_row")
        self._fate[file] = pd.Series(pd.NA, index=index, dtype="string")
        self._reason[file] = pd.Series(pd.NA, index=index, dtype="string")
        self._role[file] = role
        if len(blank):
            self.settle(file, blank, "excluded", "blank_row")

    def issue(
        self,
        file: str,
        rows: Iterable[int],
        column: str | None,
        rule: str,
        *,
        values: Iterable[object] | None = None,
        action: str,
        detail: str = "",
        redact: bool = False,
        kind: str = "text",
    ) -> None:
        """Record a problem at (file, rows, column); ``action`` says what was done about it.

        ``values`` are the raw cells; what is shown of them depends on ``kind``, the kind of
        field (:func:`pipeline.redact.show`): ``redact=True`` is the kind ``identifier``.
        """
        rows = list(rows)
        if not rows:
            return
        field = "identifier" if redact else kind
        if values is None:
            shown = [REDACTED if redact else ""] * len(rows)
        else:
            shown = [show(v, field) for v in values]
        self._issues.append(
            pd.DataFrame(
                {
                    "source_file": file,
                    "source_row": np.asarray(rows, dtype=np.int64),
                    "column": ", ".join(safe_column(c) for c in column.split(", ")) if column else "",
                    "rule": rule,
                    "value": shown,
                    "action": action,
                    "detail": detail,
                }
            )
        )

    def settle(self, file: str, rows: Iterable[int], fate: str, reason: str) -> None:
        """Give pending rows their fate; rows already settled keep their first fate."""
        fates = self._fate[file]
        rows = pd.Index(list(rows))
        pending = rows[fates.loc[rows].isna().to_numpy()]
        fates.loc[pending] = fate
        self._reason[file].loc[pending] = reason

    def pending(self, file: str) -> pd.Index:
        """Return the rows of a file that have no fate yet."""
        fates = self._fate[file]
        return fates.index[fates.isna().to_numpy()]

    def quarantine(self, file: str, rows: Iterable[int], column: str | None, rule: str, **kw: object) -> None:
        """Record an issue and quarantine the rows it concerns."""
        rows = list(rows)
        self.issue(file, rows, column, rule, action="quarantined", **kw)  # type: ignore[arg-type]
        self.settle(file, rows, "quarantined", rule)

    def exclude(self, file: str, rows: Iterable[int], reason: str, detail: str = "") -> None:
        """Exclude rows for a documented reason (no consent, superseded duplicate, ...)."""
        rows = list(rows)
        self.issue(file, rows, None, reason, action="excluded", detail=detail)
        self.settle(file, rows, "excluded", reason)

    def issues(self) -> pd.DataFrame:
        """Return every issue, in a stable order."""
        if not self._issues:
            columns = ["source_file", "source_row", "column", "rule", "value", "action", "detail"]
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "source_row" else "string") for c in columns})
        frame = pd.concat(self._issues, ignore_index=True)
        frame = frame.astype({c: "string" for c in frame.columns if c != "source_row"})
        return frame.sort_values(["source_file", "source_row", "column", "rule"], kind="stable").reset_index(drop=True)

    def fates(self) -> pd.DataFrame:
        """Return the fate of every raw row (all pending rows must have been settled)."""
        parts = []
        for file, fates in self._fate.items():
            parts.append(
                pd.DataFrame(
                    {
                        "source_file": file,
                        "role": self._role[file],
                        "source_row": fates.index.to_numpy(),
                        "fate": fates.to_numpy(),
                        "reason": self._reason[file].to_numpy(),
                    }
                )
            )
        frame = pd.concat(parts, ignore_index=True)
        return frame.astype({"source_file": "string", "role": "string", "fate": "string", "reason": "string"})

    def accounting(self) -> pd.DataFrame:
        """Return one row per source file: rows read, clean, quarantined, excluded, and whether they add up."""
        fates = self.fates()
        rows = []
        for file, role in self._role.items():  # every registered file, also one without rows
            part = fates[fates["source_file"] == file]
            counts = part["fate"].value_counts()
            row = {
                "source_file": file,
                "role": role,
                "rows_read": len(part),
                **{f"rows_{f}": int(counts.get(f, 0)) for f in FATES},
                "rows_unsettled": int(part["fate"].isna().sum()),
            }
            for reason, n in part.loc[part["fate"] != "clean", "reason"].value_counts().sort_index().items():
                row[f"n_{reason}"] = int(n)
            rows.append(row)
        table = pd.DataFrame(rows).fillna(0)
        count_columns = [c for c in table.columns if c.startswith(("rows_", "n_"))]
        table[count_columns] = table[count_columns].astype("int64")
        settled = table["rows_clean"] + table["rows_quarantined"] + table["rows_excluded"]
        table["reconciles"] = (settled == table["rows_read"]) & (table["rows_unsettled"] == 0)
        return table

