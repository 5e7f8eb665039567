"""Plant every configured defect in every export, in a fixed order, and return the records.

Order: participants without consent are chosen first (their rows are left alone by the
other defects, so each record stands for one problem); then each questionnaire, the
session log and the attendance list; trailing empty rows last, since they must end a sheet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.simulate.careless import plant_in_export
from pipeline.simulate.config import SimulationConfig
from pipeline.simulate.defects import (
    Planter,
    Record,
    add_keys,
    insert_after,
    next_keys,
    plant_free_text,
    plant_survey,
    resolve_rows,
)
from pipeline.simulate.design import NO_GROUP, stream
from pipeline.simulate.simulation import Simulation
from pipeline.simulate.tables import Export
from pipeline.study import Study


def plant_all(cfg: SimulationConfig, sim: Simulation, study: Study, exports: dict[str, Export]) -> list[Record]:
    """Plant the defects of ``cfg.defects`` in ``exports`` (changed in place) and record them.

    Returns
    -------
    list of dict
        One record per planted defect, with file, row, column and value.
    """
    rng = stream(cfg.seed, "defects")
    d = cfg.defects.model_dump()
    people = sim.cohort.people
    names = (people["first"] + " " + people["last"]).to_numpy()
    emails = people["email"].to_numpy()
    roster = exports[study.roster.file]
    add_keys(roster)
    surveys = [e for e in exports.values() if e.role == "survey"]
    waves = [e for e in surveys if e.source.occasion == "wave"]
    candidates = np.unique(waves[0].frame["_person"].to_numpy()) if waves else np.zeros(0, dtype=np.int64)
    refusers = rng.choice(candidates, size=min(d["no_consent"], len(candidates)), replace=False)
    planter = Planter(rng, set(refusers.tolist()))
    consent_col = study.roster.columns["consent"]
    refuse_text = str(study.roster.values.get("consent", {}).get("false", ["nee"])[0])
    for person in refusers:
        pos = int(np.flatnonzero(roster.frame["_person"].to_numpy() == person)[0])
        roster.frame.iat[pos, roster.frame.columns.get_loc(consent_col)] = refuse_text
        planter.record(
            "no_consent",
            roster,
            int(roster.frame["_key"].iat[pos]),
            consent_col,
            participant_id=people["pid"].iat[int(person)],
            _person=int(person),
        )
    roster_ids = set(people["pid"].tolist())
    for export in surveys:
        qualtrics = {"finished": export.source.columns.get("finished"), "progress": "Progress"}
        qualtrics = {k: v for k, v in qualtrics.items() if v is not None and v in export.frame}
        plant_survey(planter, export, d, roster_ids, names, emails, qualtrics)
    careless = Planter(stream(cfg.seed, "careless"), planter.protected)
    for export in waves:
        mine = [r for r in planter.records if r["file"] == export.source.file]
        busy = {int(r[k]) for r in mine for k in ("_key", "_dup_key") if k in r}
        busy |= set(export.frame.loc[export.frame["_dup_of"].notna(), "_dup_of"].astype(int).tolist())
        busy |= set(export.frame.loc[export.frame["_dup_of"].notna(), "_key"].tolist())
        plant_in_export(
            careless, export, straight=d["careless_straight_line"], random=d["careless_random"], busy=busy
        )
    if study.sessions is not None:
        _sessions(planter, exports[study.sessions.file], sim, d, names, emails)
    if study.attendance is not None:
        _attendance(planter, exports[study.attendance.file], sim, study, d)
    for export in exports.values():
        if export.source.format == "xlsx":
            _trailing_rows(planter, export, d["trailing_empty_rows"])
    planter.records.extend(careless.records)
    records = resolve_rows(exports, planter.records)
    for rec, raw in zip(records, planter.records, strict=True):
        if rec["defect"] == "no_consent":
            rec["survey_rows"] = {
                e.source.file: (e.first_row + np.flatnonzero(e.frame["_person"].to_numpy() == raw["_person"])).tolist()
                for e in surveys
                if (e.frame["_person"].to_numpy() == raw["_person"]).any()
            }
    return records


def _sessions(
    planter: Planter, export: Export, sim: Simulation, d: dict[str, int], names: np.ndarray, emails: np.ndarray
) -> None:
    """A session logged twice, durations with a decimal point, names in the reports."""
    add_keys(export)
    src = export.source
    groups = sim.cohort.groups
    group = sim.sessions["group"].to_numpy()[export.frame["_session"].to_numpy()]
    offset = planter.rng.integers(0, 1 << 30, len(group)) % groups["size"].to_numpy()[group]
    export.frame["_person"] = groups["first_member"].to_numpy()[group] + offset  # who brought the case
    anchors = planter.rows(export, d["session_duplicate_id"])
    anchor_keys = export.frame["_key"].to_numpy()[anchors].tolist()
    copies = export.frame.iloc[anchors].copy()
    copies["_key"] = next_keys(export, len(copies))
    insert_after(export, copies, anchor_keys)
    id_col = src.columns["session_id"]
    for copy_key, anchor_key, session_id in zip(copies["_key"], anchor_keys, copies[id_col], strict=True):
        planter.record(
            "session_duplicate_id", export, int(copy_key), id_col, value=str(session_id), _dup_key=int(anchor_key)
        )
    busy = set(copies["_key"].tolist())
    hours_col = src.columns.get("duration_hours")
    if hours_col is not None:
        fractional = export.frame[hours_col].astype(str).str.contains(src.csv.decimal, regex=False).to_numpy()
        keys = export.frame["_key"].to_numpy()
        pool = np.flatnonzero(fractional & ~np.isin(keys, list(busy)))
        for pos in planter.rng.choice(pool, size=min(d["session_dot_decimal"], len(pool)), replace=False):
            text = str(export.frame[hours_col].iat[pos]).replace(src.csv.decimal, ".")
            export.frame.iat[pos, export.frame.columns.get_loc(hours_col)] = text
            busy.add(int(keys[pos]))
            planter.record("session_dot_decimal", export, int(keys[pos]), hours_col, value=text)
    if src.free_text_columns:
        plant_free_text(
            planter, export, src.free_text_columns[0], d["free_text_pii"], names, emails, busy, emails_too=False
        )


def _attendance(planter: Planter, export: Export, sim: Simulation, study: Study, d: dict[str, int]) -> None:
    """Rows for unknown sessions, for people outside the group, conflicting twins, odd values."""
    add_keys(export)
    src = export.source
    frame = export.frame
    sid_col, pid_col, att_col = (src.columns[k] for k in ("session_id", "participant_id", "attended"))
    people = sim.cohort.people
    known_sessions = set(sim.sessions["session_id"].tolist())
    spellings = src.values.get("attended", {"true": ["ja"], "false": ["nee"]})
    yes, no = str(spellings["true"][0]), str(spellings["false"][0])
    new_rows, anchors, notes = [], [], []
    for pos in planter.rows(export, d["attendance_unknown_session"]):
        row = frame.iloc[pos].copy()
        session_id = str(row[sid_col])
        bad = session_id[:-1] + str((int(session_id[-1]) + 5) % 10) + "9"
        while bad in known_sessions:
            bad += "9"
        row[sid_col] = bad
        new_rows.append(row)
        anchors.append(int(row["_key"]))
        notes.append(("attendance_unknown_session", sid_col, {"value": bad}))
    member = people["group"].to_numpy() != NO_GROUP
    for pos in planter.rows(export, d["attendance_not_in_group"]):
        row = frame.iloc[pos].copy()
        own_group = people["group"].iat[int(row["_person"])]
        others = np.flatnonzero(member & (people["group"].to_numpy() != own_group))
        if not len(others):
            continue
        stranger = int(planter.rng.choice(others))
        row[pid_col], row["_person"] = people["pid"].iat[stranger], stranger
        new_rows.append(row)
        anchors.append(int(row["_key"]))
        notes.append(("attendance_not_in_group", pid_col, {"value": people["pid"].iat[stranger]}))
    for pos in planter.rows(export, d["attendance_conflicting_duplicate"]):
        row = frame.iloc[pos].copy()
        value = no if str(row[att_col]).casefold() in {str(v).casefold() for v in spellings["true"]} else yes
        row[att_col] = value
        new_rows.append(row)
        anchors.append(int(row["_key"]))
        notes.append(("attendance_conflicting_duplicate", att_col, {"value": value, "_dup_key": int(row["_key"])}))
    if new_rows:
        rows = pd.DataFrame(new_rows)
        rows["_key"] = next_keys(export, len(rows))
        insert_after(export, rows, anchors)
        for key, (defect, column, extra) in zip(rows["_key"], notes, strict=True):
            planter.record(defect, export, int(key), column, **extra)
    busy = set(anchors) | (set(rows["_key"].tolist()) if new_rows else set())
    for pos in planter.rows(export, d["attendance_invalid_value"], busy=busy):
        value = ["?", "x", "misschien"][int(planter.rng.integers(0, 3))]
        export.frame.iat[pos, export.frame.columns.get_loc(att_col)] = value
        planter.record("attendance_invalid_value", export, int(export.frame["_key"].iat[pos]), att_col, value=value)


def _trailing_rows(planter: Planter, export: Export, k: int) -> None:
    """End an Excel sheet with rows that look empty but hold a space (as pasted sheets do)."""
    if "_key" not in export.frame:
        add_keys(export)
    visible = [c for c in export.frame.columns if not c.startswith("_")]
    keys = next_keys(export, k)
    frame = export.frame.astype({c: object for c in visible})
    frame = frame.reindex(range(len(frame) + k))
    frame.loc[len(export.frame) :, visible] = None
    frame.loc[len(export.frame) :, visible[0]] = " "
    frame.loc[len(export.frame) :, "_key"] = keys
    frame.loc[len(export.frame) :, "_person"] = -1
    export.frame = frame.astype({"_key": np.int64, "_person": np.int64})
    rows = pd.DataFrame({"_key": keys})
    for key in rows["_key"]:
        planter.record("trailing_empty_rows", export, int(key))
