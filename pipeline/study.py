"""The study description (``data_raw/<study>/study.yaml``): what each raw file is and holds.

A research team describes its exports once: which file is the roster, the session log,
the attendance list, each survey wave; which column holds the participant ID; which
columns hold names, e-mail addresses or free text (they never leave ``data_raw/``); and
how export columns map to instrument items.  Every column of every file must be named
somewhere, so that no unexpected column (an identifier, say) slips through unnoticed.
``data_raw/README.md`` documents the format for researchers.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.config import load_yaml_model
from pipeline.safe_path import DEFAULT_MAX_MEGABYTES, check_relative


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvOptions(_Strict):
    """How a delimited text file is written (a Dutch Excel CSV: ``;``, ``,``, cp1252)."""

    sep: str = ","
    decimal: str = "."
    encoding: str = "utf-8"

    @field_validator("sep", "decimal")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError(f'must be one character, not {value!r} (a tab is written "\\t", in double quotes)')
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, cp1252, utf-16)") from None
        return value


class Source(_Strict):
    """A raw file: where it is, how to read it, and what its columns are."""

    #: the file, relative to the folder of study.yaml (no absolute path, no ``..``)
    file: str
    format: Literal["csv", "qualtrics_csv", "spss", "xlsx"]
    csv: CsvOptions = CsvOptions()
    #: an Excel sheet: its name, or its 0-based number among the *visible* sheets (hidden
    #: sheets are read only by name)
    sheet: str | int = 0
    #: the largest file (and, for a workbook, unpacked content) read, in megabytes (10^6 bytes)
    max_megabytes: float = Field(DEFAULT_MAX_MEGABYTES, gt=0)
    #: rows hidden in an Excel sheet: ``refuse`` stops the run naming them, ``read`` reads them
    hidden_rows: Literal["refuse", "read"] = "refuse"
    #: canonical field -> export column, e.g. ``participant_id: Deelnemer-ID``
    columns: dict[str, str]
    #: raw text -> canonical value, per canonical field, e.g. ``consent: {true: [ja], false: [nee]}``
    values: dict[str, dict[str, list[str | int]]] = Field(default_factory=dict)
    #: columns with names, e-mail addresses, IP addresses: read, never kept
    identifier_columns: list[str] = Field(default_factory=list)
    #: columns with free text: read, never kept
    free_text_columns: list[str] = Field(default_factory=list)
    #: export bookkeeping that the analyses do not need (e.g. Qualtrics' StartDate)
    ignore_columns: list[str] = Field(default_factory=list)
    #: date format of the date columns (``strftime`` codes); Excel dates need none
    date_format: str | None = None
    #: answers that mean "no answer" in this export (e.g. LimeSurvey's ``Geen antwoord``), added to
    #: the study's ``missing_codes`` and the instruments' own missing codes
    missing_codes: list[str | int] = Field(default_factory=list)

    @field_validator("file")
    @classmethod
    def _inside_study(cls, value: str) -> str:
        return check_relative(value)

    @field_validator("sheet")
    @classmethod
    def _sheet_number(cls, value: str | int) -> str | int:
        if isinstance(value, int) and value < 0:
            raise ValueError("a sheet number counts the visible sheets from 0; it cannot be negative")
        return value


class SessionSource(Source):
    """The session log: one row per session of a group."""

    #: ``study``: every session ID is unique in the study; ``group``: sessions are numbered per group
    #: (1, 2, 3 ... in every group, as coaches keep them), so a session is the pair (group, number)
    session_id_scope: Literal["study", "group"] = "study"


class SurveySource(Source):
    """A questionnaire export: one row per submission, at a wave or after a session."""

    occasion: Literal["wave", "session"] = "wave"
    #: the wave every row belongs to (or name a ``wave`` column in ``columns``)
    wave: str | None = None
    #: instrument id -> column pattern with ``{n}`` (item number) or ``{id}`` (item id),
    #: or an explicit mapping item id -> column
    items: dict[str, str | dict[str, str]]
    #: instrument id -> {code in this export: the instrument's code}, for an export coded
    #: otherwise than the instrument (e.g. stored reverse-coded); .sav value labels must agree
    #: with the instrument's response set after this recoding
    recode: dict[str, dict[int, int]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _wave_given(self) -> SurveySource:
        if self.occasion == "wave" and self.wave is None and "wave" not in self.columns:
            raise ValueError("a wave survey needs `wave:` or a `wave` entry in `columns`")
        if self.occasion == "session" and "session_id" not in self.columns:
            raise ValueError("a session survey needs a `session_id` entry in `columns`")
        if "participant_id" not in self.columns:
            raise ValueError("`columns` needs a `participant_id` entry")
        return self


class Wave(_Strict):
    """A measurement occasion of the study design."""

    label_nl: str
    label_en: str
    months: float = Field(ge=0)


class StudyInfo(_Strict):
    """Who the study is, and whether it is the synthetic demo."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str
    demo: bool = False
    #: only for ``demo: true``: a published key, for synthetic data only
    demo_pseudonym_key: str | None = None

    @model_validator(mode="after")
    def _demo_key_only_for_demo(self) -> StudyInfo:
        if self.demo_pseudonym_key is not None and not self.demo:
            raise ValueError("demo_pseudonym_key is allowed only in a demo study (demo: true)")
        return self


class Label(_Strict):
    """A name for readers, in Dutch and English."""

    label_nl: str = Field(min_length=1)
    label_en: str = Field(min_length=1)


class Programme(Label):
    """A programme with its display names and the ways the exports write it."""

    values: list[str] = Field(min_length=1)


class Outcomes(_Strict):
    """The outcome scales (scale ids of the instrument library): primary ones get Holm, secondary ones BH."""

    primary: list[str] = Field(min_length=1)
    secondary: list[str] = Field(default_factory=list)


class DesignInfo(_Strict):
    """How the study is built: which waves play which part, how people came in, what was rated."""

    #: the wave everything is compared with (default: the wave at 0 months)
    baseline: str | None = None
    #: the end of the short-term window and the knot of the growth model (default: the next wave)
    short_term: str | None = None
    #: whether a comparison cohort was measured (default: whether the roster maps an ``arm`` column)
    comparison: bool | None = None
    #: how people came into intervisie
    assignment: Literal["randomised", "cluster_randomised", "self_selected", "by_programme", "unknown"] = "unknown"
    #: implementation factor -> rating scale (instrument scale id); members' ratings are aggregated to the group
    ratings: dict[Literal["coach_quality", "structure", "safety"], str] = Field(default_factory=dict)


#: names a covariate may not take: the columns the analyses put beside the covariates
RESERVED_COVARIATE_NAMES = frozenset(
    {"participant", "programme", "arm", "group", "coach", "format", "wave", "pre", "post", "change", "treated",
     "weight", "score", "time", "short", "long", "months", "start_date", "end_date"}
)


class Covariate(Label):
    """A baseline characteristic read from the roster (training year, age, earlier treatment ...).

    ``numeric`` values are numbers (``range`` optional: values outside are set missing);
    ``binary`` ones are coded by ``values: {"true": [...], "false": [...]}``; ``categorical``
    ones by ``values: {level: [spellings], ...}``, the first level the reference.  A value the
    coding does not know is set missing and reported; the participant stays in the study.
    """

    #: the roster column the covariate is read from
    column: str = Field(min_length=1)
    kind: Literal["numeric", "binary", "categorical"]
    range: tuple[float, float] | None = None
    values: dict[str, list[str | int]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _coding_fits_kind(self) -> Covariate:
        if self.kind == "numeric" and self.values:
            raise ValueError("a numeric covariate has no `values:` (give `range: [low, high]` if you like)")
        if self.kind != "numeric" and self.range is not None:
            raise ValueError(f"`range:` is for numeric covariates; a {self.kind} one lists its `values:`")
        if self.kind == "binary" and set(self.values) != {"true", "false"}:
            raise ValueError('a binary covariate needs `values: {"true": [spellings], "false": [spellings]}`')
        if self.kind == "categorical" and len(self.values) < 2:
            raise ValueError("a categorical covariate needs `values:` with at least two levels (level: [spellings])")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"`range:` must be [low, high] with low < high, not {list(self.range)}")
        return self

    @property
    def levels(self) -> list[str]:
        """The coded levels in order (binary: ``false``, ``true``); none for a numeric covariate."""
        if self.kind == "binary":
            return ["false", "true"]
        return list(self.values)


ARM_LABELS = {
    "intervisie": Label(label_nl="intervisie", label_en="intervisie"),
    "comparison": Label(label_nl="vergelijkingsgroep", label_en="comparison group"),
}


class Study(_Strict):
    """The whole description of a study's raw data and its design."""

    study: StudyInfo
    waves: dict[str, Wave]
    #: canonical programme id -> the ways the exports write it (``programme_labels`` the display names)
    programmes: dict[str, list[str]]
    #: canonical programme id -> display names (from the ``{label_nl, label_en, values}`` form of ``programmes``)
    programme_labels: dict[str, Label] = Field(default_factory=dict)
    #: display names of the arms (``intervisie``, ``comparison``)
    arms: dict[Literal["intervisie", "comparison"], Label] = Field(default_factory=lambda: dict(ARM_LABELS))
    design: DesignInfo = DesignInfo()
    outcomes: Outcomes | None = None
    #: baseline covariates read from the roster (name -> column, kind, labels, coding)
    covariates: dict[str, Covariate] = Field(default_factory=dict)
    #: answers that mean "no answer" in every export of the study (added to the instruments' own)
    missing_codes: list[str | int] = Field(default_factory=list)
    roster: Source
    sessions: SessionSource | None = None
    attendance: Source | None = None
    surveys: list[SurveySource]

    @model_validator(mode="before")
    @classmethod
    def _programme_forms(cls, data: object) -> object:
        """Accept ``id: [spellings]`` and ``id: {label_nl, label_en, values: [spellings]}``."""
        if not isinstance(data, dict) or not isinstance(data.get("programmes"), dict):
            return data
        spellings, labels = {}, dict(data.get("programme_labels") or {})
        for key, value in data["programmes"].items():
            if isinstance(value, dict):
                try:
                    spec = Programme.model_validate(value)
                except ValidationError as exc:
                    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                    raise ValueError(f"programme '{key}': {problems}") from None
                spellings[key] = spec.values
                labels[key] = {"label_nl": spec.label_nl, "label_en": spec.label_en}
            else:
                spellings[key] = value
        return {**data, "programmes": spellings, "programme_labels": labels}

    @model_validator(mode="after")
    def _known_waves(self) -> Study:
        for survey in self.surveys:
            if survey.wave is not None and survey.wave not in self.waves:
                raise ValueError(f"survey {survey.file}: wave '{survey.wave}' is not one of {list(self.waves)}")
        return self

    @model_validator(mode="after")
    def _distinct_tables(self) -> Study:
        seen: dict[tuple[str, str | int], str] = {}
        for role, source in self.sources():
            where = (source.file, source.sheet if source.format == "xlsx" else 0)
            if where in seen:
                sheet = f", sheet {source.sheet!r}" if source.format == "xlsx" else ""
                raise ValueError(
                    f"{role} and {seen[where]} both read {source.file}{sheet}: two sources of one workbook "
                    "need different `sheet:` values"
                )
            seen[where] = role
        return self

    @model_validator(mode="after")
    def _covariate_columns(self) -> Study:
        roster = self.roster
        taken = {c: f"roster.columns.{f}" for f, c in roster.columns.items()}
        taken |= {c: "roster.identifier_columns" for c in roster.identifier_columns}
        taken |= {c: "roster.free_text_columns" for c in roster.free_text_columns}
        taken |= {c: "roster.ignore_columns" for c in roster.ignore_columns}
        seen: dict[str, str] = {}
        for name, cov in self.covariates.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in RESERVED_COVARIATE_NAMES:
                raise ValueError(
                    f"covariate '{name}': a covariate name is lower case letters, digits and _ and is not one of "
                    f"{sorted(RESERVED_COVARIATE_NAMES)}"
                )
            if cov.column in taken:
                raise ValueError(f"covariate '{name}': roster column {cov.column!r} is already {taken[cov.column]}")
            if cov.column in seen:
                raise ValueError(f"covariates '{seen[cov.column]}' and '{name}' both read roster column {cov.column!r}")
            seen[cov.column] = name
        return self

    def covariate_columns(self, role: str) -> frozenset[str]:
        """The export columns a source of ``role`` holds for the covariates (only the roster has any)."""
        return frozenset(c.column for c in self.covariates.values()) if role == "roster" else frozenset()

    @property
    def session_scope(self) -> Literal["study", "group"]:
        """Whether session IDs are unique in the study or only within a group (``sessions.session_id_scope``)."""
        return self.sessions.session_id_scope if self.sessions is not None else "study"

    def source_name(self, source: Source) -> str:
        """The name a source goes by in the quality tables: its file, with the sheet when a file holds several."""
        shared = sum(1 for _r, s in self.sources() if s.file == source.file) > 1
        return f"{source.file} [{source.sheet}]" if shared else source.file

    def sources(self) -> list[tuple[str, Source]]:
        """Return every raw file of the study with its role."""
        out: list[tuple[str, Source]] = [("roster", self.roster)]
        if self.sessions is not None:
            out.append(("sessions", self.sessions))
        if self.attendance is not None:
            out.append(("attendance", self.attendance))
        out += [("survey", s) for s in self.surveys]
        return out


def load_study(path: Path) -> Study:
    """Read and check a study description; every problem is reported at once."""
    return load_yaml_model(path, Study, "study description")
