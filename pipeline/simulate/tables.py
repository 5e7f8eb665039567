"""Lay a simulated study out as its raw files: the study description's columns, spellings, formats.

Column names come from ``study.yaml`` (the contract): mapped fields by their canonical
role, item columns from the item patterns, identifier and free-text columns by what they
hold.  Every table is checked to hold exactly the columns the description declares, so the
ingest stage can read what the simulator writes.  Columns whose names start with ``_``
carry bookkeeping (which participant a row belongs to) and are never written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import InputError
from pipeline.instruments import Instrument, Item
from pipeline.items import item_columns
from pipeline.readers import declared_columns
from pipeline.simulate.config import SimulationConfig
from pipeline.simulate.covariates import covariate_cells
from pipeline.simulate.design import NO_GROUP, per_member, stream
from pipeline.simulate.sessions import DAYS_PER_MONTH
from pipeline.simulate.simulation import Simulation
from pipeline.study import CsvOptions, Source, Study, SurveySource

FIRST_ROW = {"csv": 2, "qualtrics_csv": 4, "spss": 1, "xlsx": 2}
QUALTRICS_TIME = "%Y-%m-%d %H:%M:%S"
#: Qualtrics export metadata in export order: column, question text (row 2), ImportId (row 3)
QUALTRICS_META = [
    ("StartDate", "Start Date", '{"ImportId":"startDate","timeZone":"Europe/Amsterdam"}'),
    ("EndDate", "End Date", '{"ImportId":"endDate","timeZone":"Europe/Amsterdam"}'),
    ("Status", "Response Type", '{"ImportId":"status"}'),
    ("IPAddress", "IP Address", '{"ImportId":"ipAddress"}'),
    ("Progress", "Progress", '{"ImportId":"progress"}'),
    ("Duration (in seconds)", "Duration (in seconds)", '{"ImportId":"duration"}'),
    ("Finished", "Finished", '{"ImportId":"finished"}'),
    ("RecordedDate", "Recorded Date", '{"ImportId":"recordedDate","timeZone":"Europe/Amsterdam"}'),
    ("ResponseId", "Response ID", '{"ImportId":"_recordId"}'),
    ("RecipientLastName", "Recipient Last Name", '{"ImportId":"recipientLastName"}'),
    ("RecipientFirstName", "Recipient First Name", '{"ImportId":"recipientFirstName"}'),
    ("RecipientEmail", "Recipient Email", '{"ImportId":"recipientEmail"}'),
    ("ExternalReference", "External Data Reference", '{"ImportId":"externalDataReference"}'),
    ("LocationLatitude", "Location Latitude", '{"ImportId":"locationLatitude"}'),
    ("LocationLongitude", "Location Longitude", '{"ImportId":"locationLongitude"}'),
    ("DistributionChannel", "Distribution Channel", '{"ImportId":"distributionChannel"}'),
    ("UserLanguage", "User Language", '{"ImportId":"userLanguage"}'),
]
QUALTRICS_IDENTIFIERS = [
    "IPAddress",
    "RecipientLastName",
    "RecipientFirstName",
    "RecipientEmail",
    "LocationLatitude",
    "LocationLongitude",
]
QUALTRICS_IGNORED = ["StartDate", "EndDate", "Status", "Progress", "ResponseId", "DistributionChannel", "UserLanguage"]
#: what an identifier column of a roster or a non-Qualtrics survey holds, by its folded name
IDENTIFIER_KINDS = {"naam": "name", "name": "name", "e-mail": "email", "email": "email", "coach": "coach_name"}


@dataclass
class Export:
    """One raw file before writing: its description, its cells and what its item columns are."""

    role: str
    source: Source
    frame: pd.DataFrame
    #: item column -> (instrument, item)
    items: dict[str, tuple[Instrument, Item]] = field(default_factory=dict)
    #: how item cells are written: numeric codes, value labels, or Excel cells
    style: str = "codes"
    #: Qualtrics header rows 2 and 3, per column
    header_texts: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def first_row(self) -> int:
        """Return the file row (as a person sees it) of the first data row."""
        return FIRST_ROW[self.source.format]

    def visible(self) -> pd.DataFrame:
        """Return the cells that are written (bookkeeping columns dropped)."""
        return self.frame[[c for c in self.frame.columns if not c.startswith("_")]]


class Spelling:
    """Write coded values the way exports do: mostly the first accepted spelling, sometimes another."""

    def __init__(self, rng: np.random.Generator, rate: float):
        self.rng = rng
        self.rate = rate

    def __call__(self, canonical: np.ndarray, spellings: dict[str, list]) -> np.ndarray:
        """Return raw text for canonical values, given canonical -> accepted spellings."""
        out = np.empty(len(canonical), dtype=object)
        for key, options in spellings.items():
            where = np.flatnonzero(canonical == key)
            texts = np.array([str(o) for o in options], dtype=object)
            pick = np.where(self.rng.random(len(where)) < self.rate, self.rng.integers(0, len(texts), len(where)), 0)
            out[where] = texts[pick]
        return out


def _boolean_spellings(source: Source, name: str) -> dict[str, list]:
    return source.values.get(name, {"true": ["ja"], "false": ["nee"]})


def format_times(times: pd.DatetimeIndex | pd.Series, fmt: str) -> np.ndarray:
    """Return times as text in ``fmt`` (strftime codes), vectorised (Arrow's strftime, whole seconds)."""
    values = pd.DatetimeIndex(times).to_numpy().astype("datetime64[s]")
    return pc.strftime(pa.array(values), format=fmt).to_numpy(zero_copy_only=False).astype(object)


def time_cells(source: Source, times: pd.DatetimeIndex) -> np.ndarray:
    """Return submission times as the source's format writes them."""
    if source.format == "qualtrics_csv":
        return format_times(times, QUALTRICS_TIME)
    if source.format == "csv":
        return format_times(times, source.date_format or "%Y-%m-%d %H:%M")
    if source.format == "xlsx":
        return np.array(times.to_pydatetime(), dtype=object)
    return times.to_numpy()


def _check_columns(source: Source, written: list[str], items: set[str]) -> None:
    expected = declared_columns(source) | items
    missing = sorted(expected - set(written))
    if missing:
        raise InputError(f"the simulator does not know how to fill column(s) {missing} of {source.file} in study.yaml")


def roster_export(sim: Simulation, study: Study, spell: Spelling) -> Export:
    """Return the roster: one row per participant, intervisie members by group."""
    src = study.roster
    people, groups, coaches = sim.cohort.people, sim.cohort.groups, sim.cohort.coaches
    group = people["group"].to_numpy()
    member = group != NO_GROUP
    online = per_member(groups["online"].to_numpy(), group, False).astype(bool)
    start = _roster_dates(people["start"], src)
    leave = sim.model.leave_months
    left = np.isfinite(leave)
    end_on = people["start"] + pd.to_timedelta(np.where(left, np.round(leave * DAYS_PER_MONTH), 0), unit="D")
    end = np.where(left, _roster_dates(end_on, src), None)
    roles = {
        "participant_id": people["pid"].to_numpy(),
        "programme": spell(people["programme"].to_numpy(), study.programmes),
        # a single-arm study may have no arm column (nor its spellings)
        "arm": spell(np.where(people["intervisie"], "intervisie", "comparison"), src.values["arm"])
        if "arm" in src.columns
        else None,
        "group_id": per_member(groups["group_id"].to_numpy(), group, None),
        "coach_id": per_member(coaches["coach_id"].to_numpy()[groups["coach"].to_numpy()], group, None),
        "format": np.where(member, spell(np.where(online, "online", "in_person"), src.values["format"]), None),
        "start_date": start,
        "end_date": end,
        "consent": spell(np.full(len(people), "true"), _boolean_spellings(src, "consent")),
    }
    kinds = {
        "name": (people["first"] + " " + people["last"]).to_numpy(),
        "email": people["email"].to_numpy(),
        "coach_name": per_member(coaches["name"].to_numpy()[groups["coach"].to_numpy()], group, None),
    }
    order = [
        "participant_id",
        "name",
        "email",
        "programme",
        "arm",
        "group_id",
        "coach_id",
        "coach_name",
        "format",
        "start_date",
        "end_date",
        "consent",
    ]
    columns = _named_columns(src, roles, kinds, order)
    frame = pd.DataFrame(columns)
    frame["_person"] = np.arange(len(people))
    order = np.lexsort(
        (people["last"].to_numpy(), people["programme"].to_numpy(), np.where(member, group, len(groups)))
    )
    frame = frame.iloc[order]
    return Export("roster", src, frame.reset_index(drop=True))


def _roster_dates(dates: pd.Series, src: Source) -> np.ndarray:
    """Dates as the roster export writes them: Excel date cells, or text in the source's format."""
    if src.format == "xlsx":
        return dates.dt.date.to_numpy()
    return format_times(dates, src.date_format or "%Y-%m-%d")


def _named_columns(src: Source, roles: dict, kinds: dict, order: list[str]) -> dict[str, np.ndarray]:
    by_kind = {}
    for name in src.identifier_columns:
        kind = IDENTIFIER_KINDS.get(name.casefold())
        if kind is None:
            raise InputError(f"the simulator does not know what identifier column '{name}' of {src.file} holds")
        by_kind[kind] = name
    out = {}
    for key in order:
        if key in roles and key in src.columns:
            out[src.columns[key]] = roles[key]
        elif key in kinds and key in by_kind:
            out[by_kind[key]] = kinds[key]
    _check_columns(src, list(out) + src.free_text_columns, set())
    return out


def sessions_export(sim: Simulation, study: Study) -> Export:
    """Return the session log (Dutch Excel CSV: text dates, decimal commas)."""
    src = study.sessions
    if src is None:
        raise InputError("study.yaml has no sessions file")
    s = sim.sessions
    hours = s["hours"].map(lambda h: f"{h:g}".replace(".", src.csv.decimal)).to_numpy(dtype=object)
    roles = {
        "session_id": s["session_id"].to_numpy(),
        "group_id": sim.cohort.groups["group_id"].to_numpy()[s["group"].to_numpy()],
        "date": format_times(s["date"], src.date_format or "%Y-%m-%d"),
        "duration_hours": hours,
        "method": s["method"].to_numpy(),
        "cases_discussed": s["cases"].to_numpy(),
    }
    columns = {src.columns[k]: v for k, v in roles.items() if k in src.columns}
    for n, name in enumerate(src.free_text_columns):
        columns[name] = s["report"].to_numpy() if n == 0 else np.full(len(s), "", dtype=object)
    _check_columns(src, list(columns), set())
    frame = pd.DataFrame(columns)
    frame["_session"] = np.arange(len(s))
    return Export("sessions", src, frame)


def attendance_export(sim: Simulation, study: Study, spell: Spelling) -> Export:
    """Return the attendance list: one row per listed member per session."""
    src = study.attendance
    if src is None:
        raise InputError("study.yaml has no attendance file")
    a = sim.attendance
    roles = {
        "session_id": sim.sessions["session_id"].to_numpy()[a["session"].to_numpy()],
        "participant_id": sim.cohort.people["pid"].to_numpy()[a["participant"].to_numpy()],
        "attended": spell(np.where(a["attended"], "true", "false"), _boolean_spellings(src, "attended")),
    }
    columns = {src.columns[k]: v for k, v in roles.items() if k in src.columns}
    _check_columns(src, list(columns), set())
    frame = pd.DataFrame(columns)
    frame["_person"] = a["participant"].to_numpy()
    frame["_session"] = a["session"].to_numpy()
    return Export("attendance", src, frame)


def survey_export(
    sim: Simulation, study: Study, survey: SurveySource, library: dict[str, Instrument], cfg: SimulationConfig
) -> Export:
    """Return one questionnaire export in its format's layout (see module docstring)."""
    responses = sim.evaluations if survey.occasion == "session" else sim.waves[str(survey.wave)]
    people = sim.cohort.people
    person = responses["participant"].to_numpy()
    rng = stream(cfg.seed, f"export/{survey.file}")
    labels = survey.file in cfg.label_exports
    style = "labels" if labels else ("cells" if survey.format == "xlsx" else "codes")
    submitted = pd.DatetimeIndex(responses["submitted"])
    n = len(responses)
    roles: dict[str, np.ndarray] = {
        "participant_id": people["pid"].to_numpy()[person],
        "submitted_at": time_cells(survey, submitted),
    }
    if "session_id" in survey.columns:
        roles["session_id"] = sim.sessions["session_id"].to_numpy()[responses["session"].to_numpy()]
    roles["duration_seconds"] = responses["duration"].to_numpy() if "duration" in responses else np.zeros(n, int)
    roles["finished"] = np.full(n, "True" if labels else 1, dtype=object)
    roles["wave"] = np.full(n, survey.wave, dtype=object)
    columns: dict[str, np.ndarray] = {}
    texts: dict[str, tuple[str, str]] = {}
    if survey.format == "qualtrics_csv":
        values = _qualtrics_meta(rng, people, person, submitted, roles["duration_seconds"], labels)
        values |= {name: roles[role] for role, name in survey.columns.items()}
        for name, question, import_id in QUALTRICS_META:
            if name in declared_columns(survey) and name in values:
                columns[name] = values[name]
                texts[name] = (question, import_id)
        for name in survey.columns.values():
            if name not in columns:
                columns[name] = values[name]
                texts[name] = (name, f'{{"ImportId":"{name}"}}')
    else:
        kinds = {
            "email": people["email"].to_numpy()[person],
            "name": (people["first"] + " " + people["last"]).to_numpy()[person],
        }
        order = [
            "participant_id",
            "session_id",
            "submitted_at",
            "duration_seconds",
            "finished",
            "wave",
            "name",
            "email",
        ]
        columns = _named_columns(survey, roles, kinds, order)
    items: dict[str, tuple[Instrument, Item]] = {}
    mapping = item_columns(survey, library)
    for k, (inst_id, by_item) in enumerate(mapping.items(), start=1):
        inst = library[inst_id]
        for n_item, item in enumerate(inst.items, start=1):
            column = by_item[item.id]
            codes = responses[item.id].to_numpy(dtype=float)
            columns[column] = _item_cells(codes, inst, item, style)
            items[column] = (inst, item)
            texts[column] = (f"{inst.name.nl} - {item.label.nl}", f'{{"ImportId":"QID{k}_{n_item}"}}')
    for n_text, name in enumerate(survey.free_text_columns):
        columns[name] = responses["comment"].to_numpy(dtype=object) if n_text == 0 else np.full(n, "", dtype=object)
        texts[name] = ("Heeft u nog opmerkingen?", f'{{"ImportId":"QID{len(mapping) + 1 + n_text}_TEXT"}}')
    _check_columns(survey, list(columns), set(items))
    frame = pd.DataFrame(columns)
    frame["_person"] = person
    frame["_time"] = submitted
    if "session" in responses:
        frame["_session"] = responses["session"].to_numpy()
    return Export("survey", survey, frame, items=items, style=style, header_texts=texts)


def _item_cells(codes: np.ndarray, inst: Instrument, item: Item, style: str) -> np.ndarray:
    if style == "codes":
        return codes
    rs = inst.response_set_of(item)
    answered = ~np.isnan(codes)
    out = np.full(len(codes), None, dtype=object)
    if style == "labels":
        labels = np.array([rs.labels[c].nl for c in range(rs.min, rs.max + 1)], dtype=object)
        out[answered] = labels[codes[answered].astype(int) - rs.min]
    else:
        out[answered] = codes[answered].astype(int).astype(object)
    return out


def _qualtrics_meta(
    rng: np.random.Generator,
    people: pd.DataFrame,
    person: np.ndarray,
    submitted: pd.DatetimeIndex,
    duration: np.ndarray,
    labels: bool,
) -> dict[str, np.ndarray]:
    n = len(person)
    started = submitted - pd.to_timedelta(duration, unit="s")
    ip = np.char.add("145.", np.char.add(rng.integers(1, 255, n).astype(str), ".")).astype(object)
    ip = ip + rng.integers(0, 256, n).astype(str).astype(object) + "." + rng.integers(1, 255, n).astype(str)
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
    chars = np.ascontiguousarray(alphabet[rng.integers(0, len(alphabet), (n, 15))])
    response_id = np.char.add("R_", chars.view(f"<U{15}").ravel()).astype(object)
    return {
        "StartDate": format_times(started, QUALTRICS_TIME),
        "EndDate": format_times(submitted, QUALTRICS_TIME),
        "Status": np.full(n, "IP Address" if labels else 0, dtype=object),
        "IPAddress": ip,
        "Progress": np.full(n, 100, dtype=object),
        "RecipientLastName": people["last"].to_numpy()[person],
        "RecipientFirstName": people["first"].to_numpy()[person],
        "RecipientEmail": people["email"].to_numpy()[person],
        "LocationLatitude": np.char.mod("%.4f", 50.85 + rng.normal(0, 0.08, n)).astype(object),
        "LocationLongitude": np.char.mod("%.4f", 5.69 + rng.normal(0, 0.12, n)).astype(object),
        "DistributionChannel": np.full(n, "email", dtype=object),
        "UserLanguage": np.where(rng.random(n) < 0.05, "EN", "NL").astype(object),
        "ResponseId": response_id,
    }


def build_exports(
    sim: Simulation, study: Study, library: dict[str, Instrument], cfg: SimulationConfig
) -> dict[str, Export]:
    """Return every raw file of the study, keyed by file name, in the description's order."""
    spell = Spelling(stream(cfg.seed, "spelling"), cfg.response.spelling_variant_rate)
    exports = {study.roster.file: roster_export(sim, study, spell)}
    if study.covariates and sim.covariates is not None:
        roster = exports[study.roster.file].frame
        person = roster.pop("_person")
        for column, cells in covariate_cells(sim.covariates, cfg, study, person.to_numpy()).items():
            roster[column] = cells
        roster["_person"] = person
    if study.sessions is not None:
        exports[study.sessions.file] = sessions_export(sim, study)
    if study.attendance is not None:
        exports[study.attendance.file] = attendance_export(sim, study, spell)
    for survey in study.surveys:
        exports[survey.file] = survey_export(sim, study, survey, library, cfg)
    return exports


def csv_study(study: Study) -> Study:
    """Return the study as the CSV benchmark writes it: every wave a Qualtrics CSV, the roster plain CSV.

    The roster becomes ``roster.csv`` (UTF-8, ``,``, ISO dates); SPSS and Excel waves become
    Qualtrics exports with Qualtrics' own metadata columns and their item patterns kept.
    """
    roster = study.roster.model_copy(
        update={
            "file": str(Path(study.roster.file).with_suffix(".csv")),
            "format": "csv",
            "csv": CsvOptions(),
            "sheet": 0,
            "date_format": "%Y-%m-%d",
        }
    )
    surveys = []
    for survey in study.surveys:
        if survey.format in ("spss", "xlsx"):
            survey = survey.model_copy(
                update={
                    "file": str(Path(survey.file).with_suffix(".csv")),
                    "format": "qualtrics_csv",
                    "csv": CsvOptions(),
                    "sheet": 0,
                    "columns": {
                        "participant_id": "ExternalReference",
                        "submitted_at": "RecordedDate",
                        "duration_seconds": "Duration (in seconds)",
                        "finished": "Finished",
                    },
                    "identifier_columns": QUALTRICS_IDENTIFIERS,
                    "free_text_columns": ["Q_opmerking"],
                    "ignore_columns": QUALTRICS_IGNORED,
                }
            )
        surveys.append(survey)
    return Study.model_validate(study.model_copy(update={"roster": roster, "surveys": surveys}).model_dump())
