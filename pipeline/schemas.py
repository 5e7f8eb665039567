"""pandera schemas for every boundary: the canonical rows read from raw files, and the clean tables.

Input schemas (``*Rows``) are checked lazily on each raw file after its columns are
renamed and typed; every failing row is quarantined with the check it broke.  Output
schemas describe ``data_clean/``: their field descriptions and metadata *are* the data
dictionary (``pipeline.dictionary``), so the documentation cannot drift from the checks.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

ARMS = ["intervisie", "comparison"]
FORMATS = ["in_person", "online"]
OCCASIONS = ["wave", "session"]
FLAGS = ["true", "false"]
#: the status of an item cell (pipeline.items.ITEM_STATUS)
ITEM_STATUS = ("answered", "not_answered", "missing_code", "out_of_range", "unrecognised")


def _meta(unit: str = "", levels: str = "", source: str = "") -> dict[str, dict[str, str]]:
    return {"dictionary": {"unit": unit, "levels": levels, "source": source}}


# ---------------------------------------------------------------- input rows (after renaming)


class RosterRows(pa.DataFrameModel):
    """One roster row: a participant, their programme, arm, group and consent."""

    participant_id: Series[str] = pa.Field(str_length={"min_value": 1}, unique=True)
    programme: Series[str]
    arm: Series[str] = pa.Field(isin=ARMS)
    group_id: Series[str] = pa.Field(nullable=True)
    coach_id: Series[str] = pa.Field(nullable=True)
    format: Series[str] = pa.Field(isin=FORMATS, nullable=True)
    start_date: Series[pa.DateTime]
    end_date: Series[pa.DateTime] = pa.Field(nullable=True)
    consent: Series[str] = pa.Field(isin=FLAGS)

    @pa.dataframe_check(name="group_matches_arm")
    def _group_matches_arm(cls, df: pd.DataFrame) -> pd.Series:
        in_group = df["group_id"].notna() & df["coach_id"].notna()
        return (df["arm"] == "intervisie") == in_group

    @pa.dataframe_check(name="end_before_start")
    def _left_after_start(cls, df: pd.DataFrame) -> pd.Series:
        return df["end_date"].isna() | (df["end_date"] >= df["start_date"])

    @pa.dataframe_check(name="end_date_not_member")
    def _only_members_leave(cls, df: pd.DataFrame) -> pd.Series:
        return df["end_date"].isna() | (df["arm"] == "intervisie")

    class Config:
        strict = True
        coerce = True


class SessionRows(pa.DataFrameModel):
    """One session of a group, from the session log."""

    session_id: Series[str] = pa.Field(str_length={"min_value": 1}, unique=True)
    group_id: Series[str]
    date: Series[pa.DateTime]
    duration_hours: Series[float] = pa.Field(nullable=True)  # range: BOOKKEEPING_RANGES
    method: Series[str] = pa.Field(nullable=True)
    cases_discussed: Series[float] = pa.Field(nullable=True)  # range: BOOKKEEPING_RANGES

    class Config:
        strict = True
        coerce = True


class AttendanceRows(pa.DataFrameModel):
    """Whether a participant attended a session."""

    session_id: Series[str]
    participant_id: Series[str]
    attended: Series[str] = pa.Field(isin=FLAGS)

    class Config:
        strict = True
        coerce = True


class SurveyRows(pa.DataFrameModel):
    """The bookkeeping of one questionnaire submission (its answers are checked item by item)."""

    participant_id: Series[str] = pa.Field(str_length={"min_value": 1})
    wave: Series[str] = pa.Field(nullable=True)
    session_id: Series[str] = pa.Field(nullable=True)
    submitted_at: Series[pa.DateTime] = pa.Field(nullable=True)
    duration_seconds: Series[float] = pa.Field(nullable=True)  # range: BOOKKEEPING_RANGES
    finished: Series[str] = pa.Field(isin=FLAGS, nullable=True)

    class Config:
        strict = True
        coerce = True


#: the values a bookkeeping number can take: (lowest, highest, whether the lowest itself is allowed).
#: A value outside is set missing with an ``out_of_range`` issue; the row is kept (a session with a
#: mistyped length still happened). 31 days is longer than any survey tool keeps a session open.
BOOKKEEPING_RANGES: dict[str, tuple[float, float, bool]] = {
    "duration_hours": (0.0, 8.0, False),
    "cases_discussed": (0.0, 10.0, True),
    "duration_seconds": (0.0, 31 * 24 * 3600.0, True),
}


#: rules about several columns of a row (dataframe checks), with the columns they concern
ROW_CHECKS: dict[str, list[str]] = {
    "group_matches_arm": ["arm", "group_id", "coach_id"],
    "end_before_start": ["end_date", "start_date"],
    "end_date_not_member": ["end_date", "arm"],
}

INPUT_SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "roster": RosterRows,
    "sessions": SessionRows,
    "attendance": AttendanceRows,
    "survey": SurveyRows,
}

# ---------------------------------------------------------------- clean tables (data_clean/)

PSEUDONYM = "pseudonym: HMAC-SHA256 of the raw ID with the study key (pipeline.pseudonymise)"


class Participants(pa.DataFrameModel):
    """participants.parquet: one row per consenting participant in the clean roster."""

    participant: Series[pd.StringDtype] = pa.Field(unique=True, description="participant " + PSEUDONYM)
    programme: Series[pd.StringDtype] = pa.Field(
        description="training programme", metadata=_meta(levels="study.yaml `programmes`")
    )
    arm: Series[pd.StringDtype] = pa.Field(
        isin=ARMS, description="intervisie or comparison cohort", metadata=_meta(levels="|".join(ARMS))
    )
    group: Series[pd.StringDtype] = pa.Field(
        nullable=True, description="intervisie group " + PSEUDONYM + "; empty in the comparison cohort"
    )
    coach: Series[pd.StringDtype] = pa.Field(nullable=True, description="coach (intervisor) " + PSEUDONYM)
    format: Series[pd.StringDtype] = pa.Field(
        isin=FORMATS, nullable=True, description="how the group meets", metadata=_meta(levels="|".join(FORMATS))
    )
    start_date: Series[pa.DateTime] = pa.Field(
        description="date the participant started the programme", metadata=_meta(unit="date")
    )
    end_date: Series[pa.DateTime] = pa.Field(
        nullable=True,
        description="date the participant left intervisie (roster); empty if they stayed, and in the comparison cohort",
        metadata=_meta(unit="date"),
    )

    class Config:
        strict = True


class Groups(pa.DataFrameModel):
    """groups.parquet: one row per intervisie group."""

    group: Series[pd.StringDtype] = pa.Field(unique=True, description="group " + PSEUDONYM)
    programme: Series[pd.StringDtype] = pa.Field(description="programme of the group's members")
    coach: Series[pd.StringDtype] = pa.Field(description="coach " + PSEUDONYM)
    format: Series[pd.StringDtype] = pa.Field(
        isin=FORMATS, nullable=True, description="in person or online", metadata=_meta(levels="|".join(FORMATS))
    )
    n_members: Series[int] = pa.Field(
        ge=1, description="consenting members in the clean roster", metadata=_meta(unit="people")
    )
    start_date: Series[pa.DateTime] = pa.Field(
        description="earliest start date of its members", metadata=_meta(unit="date")
    )

    class Config:
        strict = True


class Sessions(pa.DataFrameModel):
    """sessions.parquet: one row per intervisie session in the session log."""

    session: Series[pd.StringDtype] = pa.Field(unique=True, description="session " + PSEUDONYM)
    group: Series[pd.StringDtype] = pa.Field(description="group " + PSEUDONYM)
    date: Series[pa.DateTime] = pa.Field(description="date of the session", metadata=_meta(unit="date"))
    duration_hours: Series[float] = pa.Field(
        nullable=True, gt=0, description="length of the session", metadata=_meta(unit="hours")
    )
    method: Series[pd.StringDtype] = pa.Field(
        nullable=True, description="intervisie method used (e.g. incidentmethode)"
    )
    cases_discussed: Series[float] = pa.Field(
        nullable=True, ge=0, description="number of cases (inbreng) discussed", metadata=_meta(unit="cases")
    )

    class Config:
        strict = True


class Attendance(pa.DataFrameModel):
    """attendance.parquet: one row per participant and session in the attendance list."""

    session: Series[pd.StringDtype] = pa.Field(description="session " + PSEUDONYM)
    participant: Series[pd.StringDtype] = pa.Field(description="participant " + PSEUDONYM)
    attended: Series[bool] = pa.Field(description="whether the participant was present")

    class Config:
        strict = True
        unique = ["session", "participant"]


class Responses(pa.DataFrameModel):
    """responses.parquet: one row per kept questionnaire submission."""

    response_id: Series[int] = pa.Field(unique=True, ge=1, description="submission number within this data set")
    participant: Series[pd.StringDtype] = pa.Field(description="participant " + PSEUDONYM)
    occasion: Series[pd.StringDtype] = pa.Field(
        isin=OCCASIONS,
        description="a survey wave or an evaluation after a session",
        metadata=_meta(levels="|".join(OCCASIONS)),
    )
    wave: Series[pd.StringDtype] = pa.Field(
        nullable=True, description="survey wave id (study.yaml `waves`); empty for session evaluations"
    )
    months: Series[float] = pa.Field(
        nullable=True, ge=0, description="planned time of the wave since baseline", metadata=_meta(unit="months")
    )
    session: Series[pd.StringDtype] = pa.Field(nullable=True, description="session " + PSEUDONYM + "; empty for waves")
    source_file: Series[pd.StringDtype] = pa.Field(
        description="raw source the submission came from, by its name in study.yaml (survey_t1, survey_session; "
        "pipeline.sources), never the file's name on disk"
    )
    source_row: Series[int] = pa.Field(ge=1, description="row of the submission in that source's file")
    submitted_at: Series[pa.DateTime] = pa.Field(
        nullable=True, description="when it was submitted", metadata=_meta(unit="date-time")
    )
    duration_seconds: Series[float] = pa.Field(
        nullable=True, ge=0, description="completion time, where the export has it", metadata=_meta(unit="seconds")
    )
    finished: Series[pd.BooleanDtype] = pa.Field(
        nullable=True, description="whether the survey tool marked it finished"
    )

    class Config:
        strict = True


class ItemResponses(pa.DataFrameModel):
    """item_responses.parquet: one row per submission and item of each instrument administered.

    Who and when are in ``responses.parquet`` (join on ``response_id``); the items of one
    submission and instrument are stored together, in questionnaire order.
    """

    response_id: Series[int] = pa.Field(ge=1, description="submission (responses.parquet)")
    instrument: Series[pa.Category] = pa.Field(
        description="instrument id (instruments/<id>.yaml)", metadata=_meta(source="instruments/")
    )
    item: Series[pa.Category] = pa.Field(
        description="item id within the instrument", metadata=_meta(source="instruments/")
    )
    response: Series[float] = pa.Field(
        nullable=True,
        description="answer code on the item's response set, before reverse keying; empty unless answered",
        metadata=_meta(unit="answer code", source="instruments/"),
    )
    response_status: Series[pa.Category] = pa.Field(
        isin=list(ITEM_STATUS),
        description="what the export held",
        metadata=_meta(levels="|".join(ITEM_STATUS)),
    )

    class Config:
        strict = True
        coerce = True  # text columns are stored as categories; supplied text is accepted


class ScaleScores(pa.DataFrameModel):
    """scale_scores.parquet: one row per submission and scale (long form)."""

    response_id: Series[int] = pa.Field(ge=1, description="submission (responses.parquet)")
    participant: Series[pa.Category] = pa.Field(description="participant " + PSEUDONYM)
    wave: Series[pa.Category] = pa.Field(nullable=True, description="survey wave id; empty for session evaluations")
    session: Series[pa.Category] = pa.Field(nullable=True, description="session " + PSEUDONYM)
    instrument: Series[pa.Category] = pa.Field(description="instrument id", metadata=_meta(source="instruments/"))
    scale: Series[pa.Category] = pa.Field(
        description="scale id (unique across instruments)", metadata=_meta(source="instruments/")
    )
    score: Series[float] = pa.Field(
        nullable=True,
        description="scale score by the instrument's method; empty when too few items were answered",
        metadata=_meta(unit="scale units (instrument file)", source="instruments/"),
    )
    n_items: Series[int] = pa.Field(ge=1, description="items in the scale")
    n_answered: Series[int] = pa.Field(ge=0, description="items answered")
    score_status: Series[pa.Category] = pa.Field(
        isin=["ok", "too_few_items", "scored_below_min"],
        description="validity of the score",
        metadata=_meta(levels="ok|too_few_items|scored_below_min"),
    )

    class Config:
        strict = True
        coerce = True  # text columns are stored as categories; supplied text is accepted
        unique = ["response_id", "scale"]


class Careless(pa.DataFrameModel):
    """careless.parquet: careless-responding indices and flags per screened submission (pipeline.careless)."""

    response_id: Series[int] = pa.Field(unique=True, ge=1, description="submission (responses.parquet)")
    participant: Series[pd.StringDtype] = pa.Field(description="participant " + PSEUDONYM)
    wave: Series[pd.StringDtype] = pa.Field(nullable=True, description="survey wave id; empty for session evaluations")
    occasion: Series[pd.StringDtype] = pa.Field(
        isin=OCCASIONS, description="a survey wave or a session evaluation", metadata=_meta(levels="|".join(OCCASIONS))
    )
    n_items: Series[int] = pa.Field(ge=0, description="items presented", metadata=_meta(unit="items"))
    longstring: Series[int] = pa.Field(
        ge=0, description="longest run of identical consecutive answers (Johnson 2005)", metadata=_meta(unit="items")
    )
    irv: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="SD of the answers as proportions of the item range, per instrument, item-weighted mean (Dunn 2018)",
    )
    mahalanobis_d2: Series[float] = pa.Field(
        nullable=True,
        ge=0,
        description="squared Mahalanobis distance among the complete responses to the same questionnaire",
    )
    mahalanobis_p: Series[float] = pa.Field(
        nullable=True, ge=0, le=1, description="chi-square p of mahalanobis_d2 (df = items)"
    )
    even_odd: Series[float] = pa.Field(
        nullable=True, ge=-1, le=1, description="even-odd consistency, Spearman-Brown corrected (Meade & Craig 2012)"
    )
    seconds_per_item: Series[float] = pa.Field(
        nullable=True, ge=0, description="completion time per item presented", metadata=_meta(unit="seconds")
    )
    flag_longstring: Series[bool] = pa.Field(description="longstring at or above its threshold (params.yaml careless)")
    flag_irv: Series[bool] = pa.Field(description="irv below its threshold")
    flag_mahalanobis: Series[bool] = pa.Field(description="mahalanobis_p below its threshold")
    flag_even_odd: Series[bool] = pa.Field(description="even_odd below its threshold")
    flag_speed: Series[bool] = pa.Field(description="seconds_per_item below its threshold")
    n_flags: Series[int] = pa.Field(ge=0, le=5, description="number of flags raised")
    flagged: Series[bool] = pa.Field(description="n_flags at or above careless.min_flags: left out of sensitivity runs")

    class Config:
        strict = True


class Covariates(pa.DataFrameModel):
    """covariates.parquet: one row per participant and baseline covariate declared in study.yaml."""

    participant: Series[pd.StringDtype] = pa.Field(description="participant " + PSEUDONYM)
    covariate: Series[pd.StringDtype] = pa.Field(
        description="covariate name", metadata=_meta(levels="study.yaml `covariates`")
    )
    value: Series[float] = pa.Field(
        nullable=True, description="numeric covariate, or 1/0 for a binary one (true/false); empty if unknown"
    )
    level: Series[pd.StringDtype] = pa.Field(
        nullable=True, description="level of a categorical covariate; empty if unknown or not categorical",
        metadata=_meta(levels="study.yaml `covariates.<name>.values`"),
    )

    class Config:
        strict = True
        unique = ["participant", "covariate"]


CLEAN_TABLES: dict[str, type[pa.DataFrameModel]] = {
    "participants": Participants,
    "covariates": Covariates,
    "groups": Groups,
    "sessions": Sessions,
    "attendance": Attendance,
    "responses": Responses,
    "item_responses": ItemResponses,
    "scale_scores": ScaleScores,
    "careless": Careless,
}


def validate_clean(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check a clean table against its output schema (a failure here is a bug, not bad input)."""
    return CLEAN_TABLES[name].validate(frame, lazy=True)
