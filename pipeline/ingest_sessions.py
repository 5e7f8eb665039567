"""Sessions in the ingest: the session log, and the rows (attendance, evaluations) that name a session.

A session is known by its ID in the study (``sessions.session_id_scope: study``, the default)
or, when coaches number the sessions of each group 1, 2, 3 ... (``session_id_scope: group``),
by the pair (group, number). Rows that name a session in the group scope take the group from
their own ``group_id`` column when the source maps one, else from the participant's group in
the roster. A (group, number) pair written twice in the log is a ``duplicate_value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from pipeline.canonical import _as_id, canonical_rows, map_distinct
from pipeline.ledger import Ledger
from pipeline.pseudonymise import normalise_id
from pipeline.readers import RawTable
from pipeline.study import Source, Study

#: joins group and session number into one key (never in an ID as typed)
SEPARATOR = "\x1f"


def norm_ids(ids: pd.Series) -> pd.Series:
    """Normalise IDs for matching (:func:`~pipeline.pseudonymise.normalise_id`), each distinct value once."""
    return map_distinct(ids, lambda v: None if v is None else normalise_id(v))


def session_keys(scope: Literal["study", "group"], groups: pd.Series, sessions: pd.Series) -> pd.Series:
    """Return the key of each session: its normalised ID, or ``group<SEP>number`` in the group scope.

    ``groups`` must be normalised already; a missing group or session gives a missing key.
    """
    sid = norm_ids(sessions)
    if scope == "study":
        return sid
    both = groups.notna() & sid.notna()
    out = pd.Series(None, index=sid.index, dtype=object)
    out[both] = groups[both].astype(str) + SEPARATOR + sid[both].astype(str)
    return out


@dataclass(frozen=True)
class People:
    """Who is who after the roster: clean members, those who declined, those quarantined."""

    members: pd.DataFrame
    refused: set[str]
    quarantined: set[str]


@dataclass(frozen=True)
class Sessions:
    """The clean sessions (session key -> normalised group ID), those whose log row was quarantined, the scope."""

    group_of: dict[str, str]
    held: set[str]
    scope: Literal["study", "group"] = "study"


def session_rows(table: RawTable, study: Study, roster: pd.DataFrame, ledger: Ledger, common: dict) -> pd.DataFrame:
    """Return the clean rows of the session log (with their key ``skey``); settle every row in the ledger."""
    src = study.sessions
    name = table.name
    rows = canonical_rows(table, "sessions", src, ledger, **common)
    gid = norm_ids(rows["group_id"])
    rows = rows.assign(skey=session_keys(study.session_scope, gid, rows["session_id"]))
    if study.session_scope == "group":
        twice = rows["skey"].duplicated(keep=False)
        ledger.quarantine(
            name,
            rows.index[twice],
            src.columns["session_id"],
            "duplicate_value",
            redact=True,
            detail="the same session number twice in one group (session_id_scope: group)",
        )
        rows, gid = rows[~twice], gid[~twice]
    group_start = roster.assign(g=norm_ids(roster["group_id"])).dropna(subset=["g"]).groupby("g")["start_date"].min()
    unknown = ~gid.isin(group_start.index)
    ledger.quarantine(name, rows.index[unknown], src.columns["group_id"], "unknown_group", redact=True)
    rows, gid = rows[~unknown], gid[~unknown]
    early = rows["date"] < gid.map(group_start)
    ledger.quarantine(
        name,
        rows.index[early],
        src.columns["date"],
        "session_before_start",
        values=rows.loc[early, "date"].dt.strftime("%Y-%m-%d"),
        kind="date",
    )
    rows = rows[~early]
    ledger.settle(name, rows.index, "clean", "")
    return rows


def known_sessions(table: RawTable | None, study: Study, rows: pd.DataFrame) -> Sessions:
    """Return the clean sessions and the keys of the log rows that were quarantined."""
    if table is None or study.sessions is None:
        return Sessions({}, set(), study.session_scope)
    group_of = dict(zip(rows["skey"], norm_ids(rows["group_id"]), strict=True))
    columns = study.sessions.columns
    raw_groups = norm_ids(map_distinct(table.frame[columns["group_id"]], _as_id))
    raw_sessions = map_distinct(table.frame[columns["session_id"]], _as_id)
    held = set(session_keys(study.session_scope, raw_groups, raw_sessions).dropna()) - set(group_of)
    return Sessions(group_of, held, study.session_scope)


def check_sessions(
    rows: pd.DataFrame, name: str, src: Source, sessions: Sessions, people: People, ledger: Ledger
) -> pd.DataFrame:
    """Quarantine rows about a quarantined or unknown session, or by someone outside the session's group.

    Returns the remaining rows with their session key in ``skey``.
    """
    group_of_member = people.members["group_id"].map(lambda v: None if v is None else normalise_id(v))
    member_group = rows["pid"].map(group_of_member)
    if sessions.scope == "group":
        given = norm_ids(rows["group_id"]) if "group_id" in src.columns else member_group
        no_group = given.isna()
        ledger.quarantine(
            name,
            rows.index[no_group],
            src.columns.get("group_id", src.columns["participant_id"]),
            "not_group_member",
            redact=True,
            detail="sessions are numbered per group, and this row has no group (nor has the participant one)",
        )
        rows, given = rows[~no_group], given[~no_group]
        sid = session_keys("group", given, rows["session_id"])
    else:
        sid = norm_ids(rows["session_id"])
    held = sid.isin(sessions.held)
    ledger.quarantine(name, rows.index[held], src.columns["session_id"], "session_quarantined", redact=True)
    unknown = ~sid.isin(sessions.group_of.keys()) & ~held
    ledger.quarantine(name, rows.index[unknown], src.columns["session_id"], "unknown_session", redact=True)
    rows, sid = rows[~held & ~unknown], sid[~held & ~unknown]
    outsider = sid.map(sessions.group_of) != rows["pid"].map(group_of_member)
    ledger.quarantine(name, rows.index[outsider], src.columns["participant_id"], "not_group_member", redact=True)
    return rows[~outsider].assign(skey=sid[~outsider])
