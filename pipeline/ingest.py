"""Raw tables to clean tables: relational checks, consent, duplicates, pseudonyms, item coding.

:func:`build_clean` is a pure function of the raw tables, the study description, the
instrument library, the key and the parameters; only the stage (``intervisie.stages.ingest``)
touches the disk.  Every raw row is settled in the ledger; the order of the rules is:
schema rules (quarantine) -> unknown participant/group/session, a session quarantined in the
log, a participant outside the session's group (quarantine) -> no consent (exclusion) -> no
answers (exclusion) -> superseded duplicate (exclusion) -> clean.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pydantic import BaseModel, ConfigDict

from pipeline.canonical import canonical_rows, coded_lookup, map_distinct
from pipeline.errors import InputError
from pipeline.ingest_sessions import People, Sessions, check_sessions, known_sessions, norm_ids, session_rows
from pipeline.instruments import Instrument
from pipeline.items import (
    ITEM_STATUS,
    NOT_ANSWERED,
    OUT_OF_RANGE,
    UNRECOGNISED,
    code_cells,
    item_columns,
    with_missing_codes,
)
from pipeline.ledger import Ledger
from pipeline.pseudonymise import Pseudonymiser, normalise_id
from pipeline.readers import RawTable
from pipeline.study import Study, SurveySource


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


_norm = norm_ids


def _check_design(study: Study) -> None:
    """Refuse a study description whose roster, sessions and design disagree (before any row is read)."""
    if study.design.comparison and "arm" not in study.roster.columns:
        raise InputError(
            "study.yaml: design.comparison is true but the roster maps no `arm` column; add `arm:` to "
            "roster.columns (or say `design: {comparison: false}` for a study without a comparison cohort)"
        )
    if study.session_scope == "study":
        for role, source in study.sources():
            if role != "roster" and role != "sessions" and "group_id" in source.columns:
                raise InputError(
                    f"study.yaml, {role} file {source.file}: `columns: group_id` is read only when sessions are "
                    "numbered per group (`sessions: {session_id_scope: group}`); remove it"
                )


def build_clean(
    study: Study,
    raw: dict[str, RawTable],
    instruments: dict[str, Instrument],
    key: bytes,
    params: IngestParams,
) -> CleanData:
    """Build the clean tables from raw tables keyed by source name (see module docstring).

    A source's name is its file, or ``file [sheet]`` when two sources read sheets of one
    workbook (:meth:`~pipeline.study.Study.source_name`); the ledger accounts per name.
    """
    _check_design(study)
    ledger = Ledger()
    pseudo = Pseudonymiser(key)
    raw = {name: replace(table, name=name) for name, table in raw.items()}

    def table_of(source: object) -> RawTable:
        return raw[study.source_name(source)]  # type: ignore[arg-type]

    for role, source in study.sources():
        table = table_of(source)
        ledger.register(table.name, role, table.rows, table.blank_rows)
    common = {"programmes": study.programmes, "waves": list(study.waves)}
    roster_table = table_of(study.roster)
    roster_name = roster_table.name

    roster = canonical_rows(
        roster_table,
        "roster",
        study.roster,
        ledger,
        **common,
        dynamic_checks={"programme": [pa.Check.isin(sorted(study.programmes))]},
    )
    if study.design.comparison is False:  # a comparison arm the design says was not measured
        stray = roster["arm"] == "comparison"
        ledger.quarantine(
            roster_name,
            roster.index[stray],
            study.roster.columns.get("arm"),
            "arm_not_in_design",
            detail="design: {comparison: false}",
        )
        roster = roster[~stray]
    roster = roster.assign(pid=_norm(roster["participant_id"]))
    same = roster["pid"].duplicated(keep=False)  # one person written twice ("P002" and "p002 ")
    ledger.quarantine(
        roster_name,
        roster.index[same],
        study.roster.columns["participant_id"],
        "duplicate_value",
        redact=True,
        detail="the same ID after trimming and ignoring case",
    )
    roster = roster[~same]
    no_consent = roster["consent"] == "false"
    ledger.exclude(roster_name, roster.index[no_consent], "no_consent")
    roster = roster[~no_consent]
    ledger.settle(roster_name, roster.index, "clean", "")
    refused = {normalise_id(v) for v in raw_ids_of_refusers(roster_table, study)}
    members = roster.set_index("pid")
    listed = set(_norm(roster_table.frame[study.roster.columns["participant_id"]].dropna().map(str)))
    people = People(members, refused, listed - set(members.index) - refused)
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

    sessions = pd.DataFrame(columns=["skey", "group_id"])
    log = table_of(study.sessions) if study.sessions is not None else None
    if log is not None:
        sessions = session_rows(log, study, roster, ledger, common)
        tables["sessions"] = pd.DataFrame(
            {
                "session": pseudo("session", sessions["skey"]).to_numpy(),
                "group": pseudo("group", sessions["group_id"]).to_numpy(),
                "date": sessions["date"].to_numpy(),
                "duration_hours": sessions["duration_hours"].to_numpy(dtype=float),
                "method": sessions["method"].astype("string").to_numpy(),
                "cases_discussed": sessions["cases_discussed"].to_numpy(dtype=float),
            }
        ).astype({"session": "string", "group": "string", "method": "string"})
    known = known_sessions(log, study, sessions)

    if study.attendance is not None:
        src = study.attendance
        table = table_of(src)
        rows = canonical_rows(table, "attendance", src, ledger, **common)
        rows = _check_people(rows, table.name, src.columns["participant_id"], people, ledger)
        rows = check_sessions(rows, table.name, src, known, people, ledger)
        rows = _drop_duplicates(rows, ["pid", "skey"], table.name, ledger, params.duplicates)
        ledger.settle(table.name, rows.index, "clean", "")
        tables["attendance"] = pd.DataFrame(
            {
                "session": pseudo("session", rows["skey"]).to_numpy(),
                "participant": pseudo("participant", rows["participant_id"]).to_numpy(),
                "attended": (rows["attended"] == "true").to_numpy(),
            }
        ).astype({"session": "string", "participant": "string"})

    surveys = [
        _survey(table_of(s), s, instruments, people, known, ledger, {**common, "missing": study.missing_codes})
        for s in study.surveys
    ]
    tables.update(_responses(surveys, study, params, ledger, pseudo))
    # a study without a session log or attendance list still has these tables, empty: every stage
    # (and DVC) can rely on them; the design (data.sessions, data.attendance) says they were not collected
    tables.setdefault("sessions", EMPTY_SESSIONS.copy())
    tables.setdefault("attendance", EMPTY_ATTENDANCE.copy())
    return CleanData(tables, ledger)


EMPTY_SESSIONS = pd.DataFrame(
    {
        "session": pd.Series(dtype="string"),
        "group": pd.Series(dtype="string"),
        "date": pd.Series(dtype="datetime64[ns]"),
        "duration_hours": pd.Series(dtype=float),
        "method": pd.Series(dtype="string"),
        "cases_discussed": pd.Series(dtype=float),
    }
)
EMPTY_ATTENDANCE = pd.DataFrame(
    {"session": pd.Series(dtype="string"), "participant": pd.Series(dtype="string"), "attended": pd.Series(dtype=bool)}
)


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


def _check_people(rows: pd.DataFrame, file: str, column: str, people: People, ledger: Ledger) -> pd.DataFrame:
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
    name: str
    source: SurveySource
    rows: pd.DataFrame
    coded: dict[str, tuple[list[str], np.ndarray, np.ndarray]]
    answered: pd.Series


def _survey(
    table: RawTable,
    source: SurveySource,
    instruments: dict[str, Instrument],
    people: People,
    sessions: Sessions,
    ledger: Ledger,
    common: dict,
) -> _SurveyPart:
    """Check one questionnaire export row by row and code its item cells.

    ``common["missing"]`` holds the study's missing codes; the source's own are added to them.
    """
    name = table.name
    extra = [*common.pop("missing", []), *source.missing_codes]
    rows = canonical_rows(table, "survey", source, ledger, **common)
    if source.wave is not None:
        rows["wave"] = source.wave
    rows = _check_people(rows, name, source.columns["participant_id"], people, ledger)
    if source.occasion == "session":
        rows = check_sessions(rows, name, source, sessions, people, ledger)
    columns = item_columns(source, instruments)
    position = pd.Index(table.rows).get_indexer(rows.index)
    coded = {}
    answered = pd.Series(0, index=rows.index)
    for inst_id, mapping in columns.items():
        inst = instruments[inst_id]
        block = table.frame[list(mapping.values())]
        sets = [with_missing_codes(inst.response_set_of(i), extra) for i in inst.items]
        cells = code_cells(block, sets, source.csv.decimal, rows=position)
        coded[inst_id] = (inst.item_ids(), cells.codes, cells.status)
        answered += (cells.status != NOT_ANSWERED).sum(axis=1)
        # an unrecognised answer may be anything typed into the cell (a name, a phone number): never copied
        for status, rule in ((OUT_OF_RANGE, "out_of_range"), (UNRECOGNISED, "unrecognised")):
            r, c = np.nonzero(cells.status == status)
            for j in np.unique(c):
                hit = r[c == j]
                ledger.issue(
                    name,
                    rows.index[hit],
                    block.columns[j],
                    rule,
                    values=block.iloc[position[hit], j],
                    action="set_missing",
                    redact=rule == "unrecognised",
                )
    empty = answered == 0
    ledger.exclude(name, rows.index[empty], "no_answers")
    return _SurveyPart(name, source, rows, coded, answered)


def _responses(
    parts: list[_SurveyPart], study: Study, params: IngestParams, ledger: Ledger, pseudo: Pseudonymiser
) -> dict[str, pd.DataFrame]:
    """Settle duplicates across all files of an occasion; build responses and item_responses."""
    frames = []
    for n, part in enumerate(parts):
        pending = ledger.pending(part.name).intersection(part.rows.index)
        frames.append(
            part.rows.loc[pending].assign(
                _part=n, _row=pending, _answered=part.answered.loc[pending], _occasion=part.source.occasion
            )
        )
    allrows = pd.concat(frames) if frames else pd.DataFrame()
    if "skey" not in allrows:
        allrows["skey"] = None
    allrows["_key"] = allrows["wave"].where(allrows["_occasion"] == "wave", allrows["skey"])
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
        ledger.exclude(part.name, hit["_row"], "superseded_duplicate", detail=f"keep={keep}")
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
            "session": pseudo("session", kept["skey"].astype(object).where(kept["skey"].notna(), None)),
            "source_file": kept["_part"].map(lambda n: parts[n].name).astype("string"),
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
        ledger.settle(part.name, kept.loc[kept["_part"] == n, "_row"], "clean", "")
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
