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
from pipeline.covariates import covariate_rows
from pipeline.dates import start_window, study_window
from pipeline.errors import InputError
from pipeline.ingest_sessions import People, Sessions, check_sessions, known_sessions, norm_ids, session_rows
from pipeline.instruments import Instrument
from pipeline.items import NOT_ANSWERED, OUT_OF_RANGE, UNRECOGNISED, code_cells, item_columns, with_missing_codes
from pipeline.ledger import Ledger
from pipeline.pseudonymise import MIXED_SCRIPT_RULE, Pseudonymiser, mixed_script_mask, normalise_id
from pipeline.readers import RawTable
from pipeline.responses import SurveyPart, responses_tables
from pipeline.sav_labels import reconcile_value_labels
from pipeline.sources import source_labels
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

    ``raw`` is keyed by :meth:`~pipeline.study.Study.source_name`; the ledger and
    ``responses.source_file`` name each source by its role in study.yaml
    (:mod:`pipeline.sources`), never by its file name, which may hold a person's name.
    """
    _check_design(study)
    ledger = Ledger()
    pseudo = Pseudonymiser(key)
    named = {id(src): replace(raw[study.source_name(src)], name=label) for _r, src, label in source_labels(study)}

    def table_of(source: object) -> RawTable:
        return named[id(source)]

    for role, source in study.sources():
        table = table_of(source)
        ledger.register(table.name, role, table.rows, table.blank_rows)
    common: dict = {"programmes": study.programmes, "waves": list(study.waves)}
    roster_table = table_of(study.roster)
    roster_name = roster_table.name

    roster = canonical_rows(
        roster_table,
        "roster",
        study.roster,
        ledger,
        **common,
        dynamic_checks={"programme": [pa.Check.isin(sorted(study.programmes))]},
        windows={"start_date": start_window(), "end_date": start_window()},
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
    mixed = mixed_script_mask(roster["participant_id"]).to_numpy()
    ledger.quarantine(roster_name, roster.index[mixed], study.roster.columns["participant_id"], MIXED_SCRIPT_RULE,
                      redact=True)  # fmt: skip
    roster = roster[~mixed]
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
    window = study_window(roster["start_date"], max((w.months for w in study.waves.values()), default=0.0))
    if window is not None:  # the dates of sessions, submissions and leaving lie around the roster's start dates
        common["windows"] = {"date": window, "submitted_at": window}
        late = window.outside(roster["end_date"])
        ledger.issue(
            roster_name,
            roster.index[late],
            study.roster.columns.get("end_date"),
            "date_out_of_window",
            values=roster.loc[late, "end_date"],
            action="set_missing",
            detail=window.detail(),
            kind="date",
        )
        roster = roster.assign(end_date=roster["end_date"].where(~late))
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
    tables["covariates"] = covariate_rows(
        roster_table, roster.index, tables["participants"]["participant"].to_numpy(), study, ledger
    )

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
    tables.update(responses_tables(surveys, study, params.duplicates, ledger, pseudo))
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
    mixed = mixed_script_mask(rows["participant_id"]).to_numpy()
    ledger.quarantine(file, rows.index[mixed], column, MIXED_SCRIPT_RULE, redact=True)
    rows = rows[~mixed]
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


def _survey(
    table: RawTable,
    source: SurveySource,
    instruments: dict[str, Instrument],
    people: People,
    sessions: Sessions,
    ledger: Ledger,
    common: dict,
) -> SurveyPart:
    """Check one questionnaire export row by row and code its item cells.

    ``common["missing"]`` holds the study's missing codes; the source's own are added to them.
    """
    table = reconcile_value_labels(table, source, item_columns(source, instruments), instruments, source.file)
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
        # an answer cell may hold anything typed into it (a name, a phone number, a BSN): the issue
        # table shows a short number, and the shape of anything else (pipeline.redact)
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
                    kind="item",
                )
    empty = answered == 0
    ledger.exclude(name, rows.index[empty], "no_answers")
    return SurveyPart(name, source, rows, coded, answered)
