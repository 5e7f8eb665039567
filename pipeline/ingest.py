"""Raw tables to clean tables: relational checks, consent, duplicates, pseudonyms, item coding.

:func:`build_clean` is a pure function of the raw tables, the study description, the
instrument library, the key and the parameters; only the stage (``intervisie.stages.ingest``)
touches the disk.  Every raw row is settled in the ledger; the order of the rules is:
schema rules (quarantine) -> unknown participant/group/session, a session quarantined in the
log, a participant outside the session's group (quarantine) -> no consent (exclusion) -> no
answers (exclusion) -> superseded duplicate (exclusion) -> clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pydantic import BaseModel, ConfigDict

from pipeline.canonical import canonical_rows, coded_lookup, map_distinct
from pipeline.instruments import Instrument
from pipeline.items import ITEM_STATUS, NOT_ANSWERED, OUT_OF_RANGE, UNRECOGNISED, code_cells, item_columns
from pipeline.ledger import Ledger
from pipeline.pseudonymise import Pseudonymiser, normalise_id
from pipeline.readers import RawTable
from pipeline.study import Source, Study, SurveySource


class IngestParams(BaseModel):
    """Choices a researcher may change (``params.yaml``, section ``ingest``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: which of several submissions of one participant at one occasion is kept
    duplicates: Literal["latest", "most_complete", "first"] = "latest"


@dataclass
class CleanData:
    """Everything the ingest stage writes."""

    tables: dict[str, pd.DataFrame]
    ledger: Ledger


def _norm(ids: pd.Series) -> pd.Series:
    """Normalise IDs for matching (:func:`~pipeline.pseudonymise.normalise_id`), each distinct value once."""
    return map_distinct(ids, lambda v: None if v is None else normalise_id(v))


def build_clean(
    study: Study,
    raw: dict[str, RawTable],
    instruments: dict[str, Instrument],
    key: bytes,
    params: IngestParams,
) -> CleanData:
    """Build the clean tables from raw tables keyed by file name (see module docstring)."""
    ledger = Ledger()
    pseudo = Pseudonymiser(key)
    for role, source in study.sources():
        ledger.register(source.file, role, raw[source.file].rows, raw[source.file].blank_rows)
    common = {"programmes": study.programmes, "waves": list(study.waves)}

    roster = canonical_rows(
        raw[study.roster.file],
        "roster",
        study.roster,
        ledger,
        **common,
        dynamic_checks={"programme": [pa.Check.isin(sorted(study.programmes))]},
    )
    roster["pid"] = _norm(roster["participant_id"])
    same = roster["pid"].duplicated(keep=False)  # one person written twice ("P002" and "p002 ")
    ledger.quarantine(
        study.roster.file,
        roster.index[same],
        study.roster.columns["participant_id"],
        "duplicate_value",
        redact=True,
        detail="the same ID after trimming and ignoring case",
    )
    roster = roster[~same]
    no_consent = roster["consent"] == "false"
    ledger.exclude(study.roster.file, roster.index[no_consent], "no_consent")
    roster = roster[~no_consent]
    ledger.settle(study.roster.file, roster.index, "clean", "")
    refused = {normalise_id(v) for v in raw_ids_of_refusers(raw[study.roster.file], study)}
    members = roster.set_index("pid")
    listed = set(_norm(raw[study.roster.file].frame[study.roster.columns["participant_id"]].dropna().map(str)))
    people = _People(members, refused, listed - set(members.index) - refused)
    tables: dict[str, pd.DataFrame] = {}
    tables["participants"] = pd.DataFrame(
        {
            "participant": pseudo("participant", roster["participant_id"]).to_numpy(),
            "programme": roster["programme"].to_numpy(),
            "arm": roster["arm"].to_numpy(),
            "group": pseudo("group", roster["group_id"]).to_numpy(),
            "coach": pseudo("coach", roster["coach_id"]).to_numpy(),
            "format": roster["format"].to_numpy(),
            "start_date": roster["start_date"].to_numpy(),
            "end_date": pd.to_datetime(roster["end_date"]).to_numpy(),
        }
    ).astype({c: "string" for c in ("participant", "programme", "arm", "group", "coach", "format")})
    tables["groups"] = _groups(roster, pseudo)

    sessions = pd.DataFrame()
    if study.sessions is not None:
        sessions = _sessions(raw[study.sessions.file], study, roster, ledger, common)
        tables["sessions"] = pd.DataFrame(
            {
                "session": pseudo("session", sessions["session_id"]).to_numpy(),
                "group": pseudo("group", sessions["group_id"]).to_numpy(),
                "date": sessions["date"].to_numpy(),
                "duration_hours": sessions["duration_hours"].to_numpy(dtype=float),
                "method": sessions["method"].astype("string").to_numpy(),
                "cases_discussed": sessions["cases_discussed"].to_numpy(dtype=float),
            }
        ).astype({"session": "string", "group": "string", "method": "string"})
    session_group = dict(
        zip(
            _norm(sessions.get("session_id", pd.Series(dtype=object))),
            _norm(sessions.get("group_id", pd.Series(dtype=object))),
            strict=True,
        )
    )
    held: set[str] = set()
    if study.sessions is not None:  # sessions in the log whose row was quarantined
        held = set(_norm(raw[study.sessions.file].frame[study.sessions.columns["session_id"]].dropna()))
    known_sessions = _Sessions(session_group, held - set(session_group))

    if study.attendance is not None:
        src = study.attendance
        rows = canonical_rows(raw[src.file], "attendance", src, ledger, **common)
        rows = _check_people(rows, src.file, src.columns["participant_id"], people, ledger)
        rows = _check_sessions(rows, src, known_sessions, people, ledger)
        rows = _drop_duplicates(rows, ["pid", "sid"], src.file, ledger, params.duplicates)
        ledger.settle(src.file, rows.index, "clean", "")
        tables["attendance"] = pd.DataFrame(
            {
                "session": pseudo("session", rows["session_id"]).to_numpy(),
                "participant": pseudo("participant", rows["participant_id"]).to_numpy(),
                "attended": (rows["attended"] == "true").to_numpy(),
            }
        ).astype({"session": "string", "participant": "string"})

    surveys = [_survey(raw[s.file], s, instruments, people, known_sessions, ledger, common) for s in study.surveys]
    tables.update(_responses(surveys, study, params, ledger, pseudo))
    return CleanData(tables, ledger)


def raw_ids_of_refusers(table: RawTable, study: Study) -> list[str]:
    """Return the raw participant IDs whose roster consent says no (their rows are excluded everywhere)."""
    column, consent = study.roster.columns["participant_id"], study.roster.columns["consent"]
    lookup = coded_lookup("consent", study.roster, study.programmes, list(study.waves))  # as the roster reads it
    refused = map_distinct(table.frame[consent], lambda v: v is not None and lookup.get(str(v).strip().casefold()))
    return [str(v) for v in table.frame.loc[refused.to_numpy() == "false", column].dropna()]


def _groups(roster: pd.DataFrame, pseudo: Pseudonymiser) -> pd.DataFrame:
    grouped = roster[roster["group_id"].notna()].groupby("group_id", sort=True)
    first = grouped.agg(
        programme=("programme", "first"),
        coach_id=("coach_id", "first"),
        format=("format", "first"),
        n_members=("pid", "size"),
        start_date=("start_date", "min"),
    ).reset_index()
    return pd.DataFrame(
        {
            "group": pseudo("group", first["group_id"]).to_numpy(),
            "programme": first["programme"].to_numpy(),
            "coach": pseudo("coach", first["coach_id"]).to_numpy(),
            "format": first["format"].to_numpy(),
            "n_members": first["n_members"].astype("int64").to_numpy(),
            "start_date": first["start_date"].to_numpy(),
        }
    ).astype({c: "string" for c in ("group", "programme", "coach", "format")})


def _sessions(table: RawTable, study: Study, roster: pd.DataFrame, ledger: Ledger, common: dict) -> pd.DataFrame:
    src = study.sessions
    rows = canonical_rows(table, "sessions", src, ledger, **common)
    group_start = roster.assign(g=_norm(roster["group_id"])).dropna(subset=["g"]).groupby("g")["start_date"].min()
    gid = _norm(rows["group_id"])
    unknown = ~gid.isin(group_start.index)
    ledger.quarantine(src.file, rows.index[unknown], src.columns["group_id"], "unknown_group", redact=True)
    rows, gid = rows[~unknown], gid[~unknown]
    early = rows["date"] < gid.map(group_start)
    ledger.quarantine(
        src.file,
        rows.index[early],
        src.columns["date"],
        "session_before_start",
        values=rows.loc[early, "date"].dt.strftime("%Y-%m-%d"),
    )
    rows = rows[~early]
    ledger.settle(src.file, rows.index, "clean", "")
    return rows


@dataclass(frozen=True)
class _Sessions:
    """The clean sessions (normalised session ID -> group ID) and those whose log row was quarantined."""

    group_of: dict[str, str]
    held: set[str]


def _check_sessions(
    rows: pd.DataFrame, src: Source, sessions: _Sessions, people: _People, ledger: Ledger
) -> pd.DataFrame:
    """Quarantine rows about a quarantined or unknown session, or by someone outside the session's group."""
    sid = _norm(rows["session_id"])
    held = sid.isin(sessions.held)
    ledger.quarantine(src.file, rows.index[held], src.columns["session_id"], "session_quarantined", redact=True)
    unknown = ~sid.isin(sessions.group_of.keys()) & ~held
    ledger.quarantine(src.file, rows.index[unknown], src.columns["session_id"], "unknown_session", redact=True)
    rows, sid = rows[~held & ~unknown], sid[~held & ~unknown]
    group_of_member = people.members["group_id"].map(lambda v: None if v is None else normalise_id(v))
    outsider = sid.map(sessions.group_of) != rows["pid"].map(group_of_member)
    ledger.quarantine(src.file, rows.index[outsider], src.columns["participant_id"], "not_group_member", redact=True)
    return rows[~outsider].assign(sid=sid[~outsider])


@dataclass(frozen=True)
class _People:
    """Who is who after the roster: clean members, those who declined, those quarantined."""

    members: pd.DataFrame
    refused: set[str]
    quarantined: set[str]


def _check_people(rows: pd.DataFrame, file: str, column: str, people: _People, ledger: Ledger) -> pd.DataFrame:
    """Exclude rows of participants without consent; quarantine rows of anyone not in the clean roster."""
    rows = rows.assign(pid=_norm(rows["participant_id"]))
    declined = rows["pid"].isin(people.refused) & ~rows["pid"].isin(people.members.index)
    ledger.exclude(file, rows.index[declined], "no_consent")
    rows = rows[~declined]
    held = rows["pid"].isin(people.quarantined)
    ledger.quarantine(file, rows.index[held], column, "participant_quarantined", redact=True)
    unknown = ~rows["pid"].isin(people.members.index) & ~held
    ledger.quarantine(file, rows.index[unknown], column, "unknown_participant", redact=True)
    return rows[~unknown & ~held]


def _drop_duplicates(rows: pd.DataFrame, keys: list[str], file: str, ledger: Ledger, keep: str) -> pd.DataFrame:
    """Keep one row per key (the last in the file, or the first); exclude the others as superseded."""
    superseded = rows.index[rows.duplicated(keys, keep="first" if keep == "first" else "last").to_numpy()]
    ledger.exclude(file, superseded, "superseded_duplicate", detail=f"keep={keep}")
    return rows.drop(index=superseded)


@dataclass
class _SurveyPart:
    source: SurveySource
    rows: pd.DataFrame
    coded: dict[str, tuple[list[str], np.ndarray, np.ndarray]]
    answered: pd.Series


def _survey(
    table: RawTable,
    source: SurveySource,
    instruments: dict[str, Instrument],
    people: _People,
    sessions: _Sessions,
    ledger: Ledger,
    common: dict,
) -> _SurveyPart:
    """Check one questionnaire export row by row and code its item cells."""
    rows = canonical_rows(table, "survey", source, ledger, **common)
    if source.wave is not None:
        rows["wave"] = source.wave
    rows = _check_people(rows, source.file, source.columns["participant_id"], people, ledger)
    if source.occasion == "session":
        rows = _check_sessions(rows, source, sessions, people, ledger)
    columns = item_columns(source, instruments)
    position = pd.Index(table.rows).get_indexer(rows.index)
    coded = {}
    answered = pd.Series(0, index=rows.index)
    for inst_id, mapping in columns.items():
        inst = instruments[inst_id]
        block = table.frame[list(mapping.values())]
        cells = code_cells(block, [inst.response_set_of(i) for i in inst.items], source.csv.decimal, rows=position)
        coded[inst_id] = (inst.item_ids(), cells.codes, cells.status)
        answered += (cells.status != NOT_ANSWERED).sum(axis=1)
        # an unrecognised answer may be anything typed into the cell (a name, a phone number): never copied
        for status, rule in ((OUT_OF_RANGE, "out_of_range"), (UNRECOGNISED, "unrecognised")):
            r, c = np.nonzero(cells.status == status)
            for j in np.unique(c):
                hit = r[c == j]
                ledger.issue(
                    source.file,
                    rows.index[hit],
                    block.columns[j],
                    rule,
                    values=block.iloc[position[hit], j],
                    action="set_missing",
                    redact=rule == "unrecognised",
                )
    empty = answered == 0
    ledger.exclude(source.file, rows.index[empty], "no_answers")
    return _SurveyPart(source, rows, coded, answered)


def _responses(
    parts: list[_SurveyPart], study: Study, params: IngestParams, ledger: Ledger, pseudo: Pseudonymiser
) -> dict[str, pd.DataFrame]:
    """Settle duplicates across all files of an occasion; build responses and item_responses."""
    frames = []
    for n, part in enumerate(parts):
        pending = ledger.pending(part.source.file).intersection(part.rows.index)
        frames.append(
            part.rows.loc[pending].assign(
                _part=n, _row=pending, _answered=part.answered.loc[pending], _occasion=part.source.occasion
            )
        )
    allrows = pd.concat(frames) if frames else pd.DataFrame()
    allrows["_key"] = allrows["wave"].where(allrows["_occasion"] == "wave", _norm(allrows["session_id"]))
    allrows = allrows.reset_index(drop=True)
    keep = params.duplicates
    by = {
        "latest": ["submitted_at", "_answered", "_part", "_row"],
        "most_complete": ["_answered", "submitted_at", "_part", "_row"],
        "first": ["_part", "_row"],
    }[keep]
    ordered = allrows.sort_values(by, na_position="first", kind="stable")
    dup = ordered.duplicated(["pid", "_occasion", "_key"], keep="first" if keep == "first" else "last")
    for n, part in enumerate(parts):
        hit = ordered[dup & (ordered["_part"] == n)]
        ledger.exclude(part.source.file, hit["_row"], "superseded_duplicate", detail=f"keep={keep}")
    kept = allrows.loc[ordered.index[~dup]].sort_values(["_part", "_row"], kind="stable").reset_index(drop=True)
    kept["response_id"] = np.arange(1, len(kept) + 1)
    months = {w: v.months for w, v in study.waves.items()}
    responses = pd.DataFrame(
        {
            "response_id": kept["response_id"].astype("int64"),
            "participant": pseudo("participant", kept["participant_id"]),
            "occasion": kept["_occasion"].astype("string"),
            "wave": kept["wave"].astype("string"),
            "months": kept["wave"].map(months).astype(float),
            "session": pseudo("session", kept["session_id"]),
            "source_file": kept["_part"].map(lambda n: parts[n].source.file).astype("string"),
            "source_row": kept["_row"].astype("int64"),
            "submitted_at": pd.to_datetime(kept["submitted_at"]),
            "duration_seconds": kept["duration_seconds"].astype(float),
            "finished": kept["finished"].map({"true": True, "false": False}).astype("boolean"),
        }
    )
    item_ids = sorted({i for part in parts for _inst, (ids, _c, _s) in part.coded.items() for i in ids})
    item_code = {item: n for n, item in enumerate(item_ids)}
    inst_ids = sorted({inst for part in parts for inst in part.coded})
    chunks: list[tuple[np.ndarray, ...]] = []
    for n, part in enumerate(parts):
        ledger.settle(part.source.file, kept.loc[kept["_part"] == n, "_row"], "clean", "")
        who = responses["response_id"].to_numpy()[kept["_part"].to_numpy() == n]
        position = part.rows.index.get_indexer(kept.loc[kept["_part"] == n, "_row"])
        if not part.coded or not len(who):
            continue
        blocks = list(part.coded.items())
        codes = np.hstack([c[position] for _i, (_ids, c, _s) in blocks])
        status = np.hstack([s[position] for _i, (_ids, _c, s) in blocks])
        # an instrument none of whose items a submission touched was not administered to it
        administered = np.hstack(
            [
                np.repeat((s[position] != NOT_ANSWERED).any(axis=1)[:, None], s.shape[1], axis=1)
                for _i, (_ids, _c, s) in blocks
            ]
        )
        inst_of = np.concatenate([np.full(len(ids), inst_ids.index(i), dtype=np.int16) for i, (ids, _c, _s) in blocks])
        item_of = np.concatenate([[item_code[x] for x in ids] for _i, (ids, _c, _s) in blocks]).astype(np.int32)
        shape = codes.shape
        # boolean indexing keeps row-major order: each submission's items together, in questionnaire order
        chunks.append(
            (
                np.broadcast_to(who[:, None], shape)[administered],
                np.broadcast_to(inst_of, shape)[administered],
                np.broadcast_to(item_of, shape)[administered],
                codes[administered],
                status[administered],
            )
        )
    columns = [np.concatenate(c) for c in zip(*chunks, strict=True)] if chunks else [np.array([], dtype=int)] * 5
    ids = columns[0]  # already in response_id order (files, then rows); sorted here only if not
    order = slice(None) if (np.diff(ids) >= 0).all() else np.argsort(ids, kind="stable")
    item_responses = pd.DataFrame(
        {
            "response_id": columns[0][order].astype("int64"),
            "instrument": pd.Categorical.from_codes(columns[1][order], categories=inst_ids),
            "item": pd.Categorical.from_codes(columns[2][order], categories=item_ids),
            "response": columns[3][order].astype(float),
            "response_status": pd.Categorical.from_codes(
                columns[4][order].astype(np.int8), categories=list(ITEM_STATUS)
            ),
        }
    )
    return {"responses": responses, "item_responses": item_responses}
