"""``intervisie study init DIR``: a draft ``study.yaml`` from the export files in a folder.

Each table (a CSV, an SPSS file, a sheet of a workbook) gets a role from its name and its
columns; each column a place: a canonical field, an instrument's item (recognised by the
library's ids and abbreviations: ``BRS_1``, ``brs1``, ``BRS[SQ001]``, ``Q{n:02d}``-style
numbering kept), an identifier, free text, or ``ignore_columns``. Waves come from the survey
file names (``t0``, ``baseline``, ``3m``, ``12mnd``). Every guess carries a comment and every
open decision a ``TODO``; no cell value is ever written (:mod:`intervisie.study_scan`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from intervisie.study_scan import Table, scan_folder, simple, wave_of
from pipeline.atomic import write_text
from pipeline.errors import InputError
from pipeline.instruments import Instrument

#: canonical field -> simplified column names that mean it, per role
FIELD_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "roster": {
        "participant_id": ("deelnemerid", "participantid", "deelnemer", "participant", "pid", "studienummer", "id"),
        "programme": ("programma", "programme", "program", "opleiding"),
        "arm": ("arm", "conditie", "condition", "cohort"),
        "group_id": ("groepid", "groupid", "groep", "group", "intervisiegroep"),
        "coach_id": ("coachid", "coachnummer", "coachnr"),
        "format": ("vorm", "format", "werkvorm"),
        "start_date": ("startdatum", "startdate", "start", "begindatum"),
        "end_date": ("uitstroomdatum", "einddatum", "enddate", "stopdatum"),
        "consent": ("toestemming", "consent", "informedconsent"),
    },
    "sessions": {
        "session_id": ("sessieid", "sessionid", "sessienummer", "sessie", "session", "bijeenkomst"),
        "group_id": ("groepid", "groupid", "groep", "group"),
        "date": ("datum", "date", "sessiedatum"),
        "duration_hours": ("duuruur", "duurinuren", "duur", "durationhours", "duration"),
        "method": ("methode", "method", "werkwijze"),
        "cases_discussed": ("aantalcasussen", "casussen", "cases", "casesdiscussed"),
    },
    "attendance": {
        "session_id": ("sessieid", "sessionid", "sessienummer", "sessie", "session"),
        "participant_id": ("deelnemerid", "participantid", "deelnemer", "participant", "id"),
        "attended": ("aanwezig", "attended", "present", "aanwezigheid"),
        "group_id": ("groepid", "groupid", "groep", "group"),
    },
    "survey": {
        "participant_id": (
            "externalreference",
            "participantid",
            "deelnemerid",
            "token",
            "deelnemer",
            "participant",
            "respondentid",
            "studienummer",
            "recordid",
            "id",
        ),
        "session_id": ("sessieid", "sessionid", "sessie", "session"),
        "group_id": ("groepid", "groupid", "groep", "group"),
        "submitted_at": (
            "recordeddate",
            "submitdate",
            "ingevuldop",
            "surveycompletedon",
            "completedon",
            "datestamp",
            "datum",
        ),
        "duration_seconds": ("durationinseconds", "interviewtime", "durationseconds"),
        "finished": ("finished", "voltooid"),
    },
}
#: parts of a column name that say it identifies a person
IDENTIFYING = (
    "naam",
    "name",
    "email",
    "mail",
    "ipaddr",
    "latitude",
    "longitude",
    "recipient",
    "telefoon",
    "phone",
    "adres",
    "address",
    "geboorte",
    "birth",
    "bsn",
)
#: parts of a column name that say it holds typed text
FREE_TEXT = ("opmerking", "comment", "toelichting", "tip", "verslag", "remark", "feedback", "notitie", "note")
#: export bookkeeping of the survey tools (Qualtrics, LimeSurvey, Castor)
BOOKKEEPING = (
    "startdate",
    "enddate",
    "status",
    "progress",
    "responseid",
    "distributionchannel",
    "userlanguage",
    "lastpage",
    "startlanguage",
    "seed",
    "refurl",
    "participantstatus",
    "siteabbreviation",
    "participantcreationdate",
    "surveypackagename",
    "surveyname",
    "surveysentdate",
    "id",
)
ROLE_WORDS = {
    "roster": ("roster", "deelnemers", "participants", "deelnemerslijst", "aanmeldingen", "deelnemer"),
    "attendance": ("aanwezig", "attendance", "presentie"),
    "sessions": ("sessies", "sessions", "logboek", "sessie", "bijeenkomsten", "session"),
    "session_survey": ("evaluatie", "evaluation", "evaluaties"),
}
ITEM_COLUMN = re.compile(r"^(?P<prefix>.*?)(?P<num>\d+)(?P<suffix>\]?)$")


@dataclass
class Placed:
    """Where a table's columns go in the draft, with a comment per guess."""

    role: str
    why: str
    fields: dict[str, str] = field(default_factory=dict)
    items: dict[str, tuple[str, str]] = field(default_factory=dict)  # instrument -> (pattern, comment)
    identifiers: list[str] = field(default_factory=list)
    free_text: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (column, comment)
    todo: list[str] = field(default_factory=list)


def instrument_columns(
    columns: list[str], library: dict[str, Instrument], prefer: str | None = None
) -> tuple[dict[str, tuple[str, str, list[str]]], list[str]]:
    """Recognise numbered item columns: ``{instrument: (pattern, comment, columns)}`` and notes on near misses.

    A neutral name (``Q01``) is matched by the number of items alone, among the instruments
    answered per ``prefer`` (``wave`` or ``session``) when that is known, and marked TODO.
    """
    groups: dict[tuple[str, str], dict[int, tuple[str, int]]] = {}
    for column in columns:
        m = ITEM_COLUMN.match(column)
        if m and m.group("prefix"):
            groups.setdefault((m.group("prefix"), m.group("suffix")), {})[int(m.group("num"))] = (
                column,
                len(m.group("num")),
            )
    found: dict[str, tuple[str, str, list[str]]] = {}
    notes: list[str] = []
    for (prefix, suffix), numbered in sorted(groups.items()):
        key = simple(prefix.removesuffix("[SQ").removesuffix("[sq"))
        if not key:
            continue
        named = [i for i in library.values() if key in _keys(i)]
        runs = sorted(numbered) == list(range(1, len(numbered) + 1))
        fits = [i for i in named if len(i.items) == len(numbered) and runs]
        guess = ""
        if not named and runs:  # a neutral name (Q1, V01): only the number of items can tell
            fits = [i for i in library.values() if len(i.items) == len(numbered)]
            if len(fits) > 1 and prefer:
                fits = [i for i in fits if i.occasion == prefer]
            guess = " (TODO: guessed from the number of columns only; check which questionnaire this is)"
        if len(fits) != 1:
            if named or fits:
                notes.append(
                    f"TODO: columns {prefix}..{suffix} ({len(numbered)} numbered) could be "
                    f"{[i.id for i in named or fits]}: map them by pattern or item by item"
                )
            continue
        inst = fits[0]
        widths = {w for _c, w in numbered.values()}
        width = widths.pop() if len(widths) == 1 else 1
        number = "{n}" if width == 1 else f"{{n:0{width}d}}"
        pattern = prefix.replace("{", "{{").replace("}", "}}") + number + suffix
        first, last = numbered[1][0], numbered[len(numbered)][0]
        if inst.id in found:
            notes.append(f"TODO: columns {first} .. {last} could also be {inst.id}: map them by hand")
            continue
        comment = f"{first} .. {last}: the {len(numbered)} items of {inst.id}{guess}"
        found[inst.id] = (pattern, comment, [c for c, _w in numbered.values()])
    return found, notes


def _keys(inst: Instrument) -> set[str]:
    names = {simple(inst.id), simple(inst.abbreviation or "")}
    return {k for n in names for k in (n, n.rstrip("0123456789")) if len(k) >= 2}


def place_columns(table: Table, library: dict[str, Instrument]) -> Placed:
    """Give a table a role and every one of its columns a place (see module docstring)."""
    name = f"{table.sheet or ''} {Path(table.file).stem}"
    prefer = "session" if any(w in simple(name) for w in ROLE_WORDS["session_survey"]) else None
    prefer = prefer or ("wave" if wave_of(name)[0] is not None else None)
    items, notes = instrument_columns(table.columns, library, prefer)
    role, why = _role(table, items, library)
    placed = Placed(role=role, why=why, todo=list(notes))
    if role == "survey" or role == "session_survey":
        occasion = "session" if role == "session_survey" else "wave"
        for inst_id, (pattern, comment, _cols) in items.items():
            if library[inst_id].occasion == occasion:
                placed.items[inst_id] = (pattern, comment)
    taken = {c for inst in placed.items for c in items[inst][2]}
    names = (
        FIELD_NAMES["survey" if role == "session_survey" else role]
        if role in FIELD_NAMES or role == "session_survey"
        else {}
    )
    simples = {c: simple(c) for c in table.columns if c not in taken}
    for fld, words in names.items():
        for word in words:  # earlier words win: ExternalReference before id
            match = [c for c, s in simples.items() if s == word and c not in placed.fields.values()]
            if match:
                placed.fields[fld] = match[0]
                break
    taken |= set(placed.fields.values())
    for column in table.columns:
        if column in taken:
            continue
        s = simple(column)
        if any(w in s for w in IDENTIFYING) or (role == "roster" and s == "coach"):
            placed.identifiers.append(column)
        elif any(w in s for w in FREE_TEXT):
            placed.free_text.append(column)
        elif s in BOOKKEEPING:
            placed.ignored.append((column, "survey-tool bookkeeping"))
        else:
            placed.ignored.append(
                (column, "TODO: not recognised; an item, an identifier or free text? (ignored columns are never kept)")
            )
    return placed


def _role(table: Table, items: dict, library: dict[str, Instrument]) -> tuple[str, str]:
    name = simple(f"{table.sheet or ''} {Path(table.file).stem}")
    simples = {simple(c) for c in table.columns}
    session_items = any(library[i].occasion == "session" for i in items)
    if session_items or (any(w in name for w in ROLE_WORDS["session_survey"]) and items):
        return "session_survey", "items of a per-session instrument"
    if items:
        return "survey", f"items of {sorted(items)}"
    for role in ("attendance", "roster", "sessions"):
        if any(w in simple(table.sheet or "") for w in ROLE_WORDS[role]):
            return role, f"the sheet name '{table.sheet}'"
    for role in ("attendance", "roster", "sessions"):
        if any(w in name for w in ROLE_WORDS[role]):
            return role, f"the name '{table.label}'"
    if simples & {"toestemming", "consent", "programma", "programme"}:
        return "roster", "a consent or programme column"
    if simples & {"aanwezig", "attended", "present"}:
        return "attendance", "an attended column"
    return "unknown", "TODO: neither its name nor its columns say what it is"


def q(value: object) -> str:
    """A YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def write_draft(folder: Path, library: dict[str, Instrument], *, force: bool = False) -> tuple[Path, list[str]]:
    """Write ``folder/study.yaml`` (refused if it exists, unless ``force``); return it and a summary."""
    from intervisie.study_draft import draft_text

    target = folder / "study.yaml"
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of export files")
    if target.exists() and not force:
        raise InputError(f"{target} exists already; it is not overwritten (use --force to replace it with a new draft)")
    tables, unreadable = scan_folder(folder)
    if not tables:
        raise InputError(f"{folder} holds no export files (.csv, .xlsx, .sav) that could be read {unreadable or ''}")
    placed = [(t, place_columns(t, library)) for t in tables]
    text, summary = draft_text(folder, placed, library, unreadable)
    write_text(target, text)
    return target, summary


__all__ = ["Placed", "instrument_columns", "place_columns", "q", "wave_of", "write_draft"]
