"""The simulator's configuration (``data_raw/<study>/simulation.yaml``): design, true effects, defects.

Every number that shapes the synthetic study lives here, so that the truth a later analysis
should recover is written down before the data exist.  Outcome parameters are in the units
of the scale score (BRS 1-5, CBI 0-100, ...); a scale the file does not mention gets neutral
defaults expressed as fractions of its score range, so a new instrument needs no new code.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.config import load_yaml_model

GroupFactor = Literal["coach_quality", "structure", "safety"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """An inclusive integer range."""

    min: int
    max: int

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ProgrammeDesign(_Strict):
    """One programme: how many take part, in which groups, how they meet and how they are named."""

    n_intervisie: int = Field(ge=0)
    n_comparison: int = Field(ge=0)
    n_groups: int = Field(ge=0)
    group_size: Range
    #: share of the programme's groups that meet online (Teams)
    online_share: float = Field(ge=0, le=1)
    id_prefix: str = Field(min_length=1)
    id_digits: int = Field(ge=3, le=9)
    email_domain: str
    #: "dutch" or "international" name pool for the participants
    names: Literal["dutch", "international"] = "dutch"
    #: days between sessions, chosen per group; ``session_jitter_days`` moves each session
    session_interval_days: Range
    session_jitter_days: int = Field(ge=0)
    #: session length in hours -> probability
    session_hours: dict[float, float]
    group_prefix: str = Field(min_length=1)


class Design(_Strict):
    """The study's size and calendar."""

    first_start: date
    #: group (and comparison) start dates are spread over this many days after ``first_start``
    enrolment_days: int = Field(ge=1)
    follow_up_months: int = Field(ge=1)
    #: the end of the short-term window (months after the start): the first follow-up wave
    short_term_months: float = Field(gt=0)
    n_coaches: int = Field(ge=1)
    programmes: dict[str, ProgrammeDesign]

    def base_size(self) -> int:
        """Return the number of participants the design describes (before scaling)."""
        return sum(p.n_intervisie + p.n_comparison for p in self.programmes.values())


class ItemModel(_Strict):
    """How item answers scatter around the latent score (in answer-code steps)."""

    noise_sd: float = Field(ge=0.5)
    offset_sd: float = Field(ge=0)


class OutcomeScale(_Strict):
    """The latent trajectory of one outcome scale, in scale-score units.

    ``y = mean[programme] + group + person + short(t) * (change_short + intervisie * (effect_short
    + implementation)) + long(t) * (slope_long + person_slope) + intervisie * long_enrolled(t)
    * effect_long + residual``, with ``short(t) = min(t / short_term, 1)`` and ``long(t)`` the
    years after the short-term window.
    """

    mean: float | dict[str, float]
    person_sd: float = Field(ge=0)
    group_sd: float = Field(ge=0, default=0.0)
    slope_sd: float = Field(ge=0, default=0.0)
    residual_sd: float = Field(ge=0)
    change_short: float = 0.0
    slope_long: float = 0.0
    effect_short: float | dict[str, float] = 0.0
    effect_long: float | dict[str, float] = 0.0


class OutcomeDefaults(_Strict):
    """Parameters of scales not named in ``outcomes.scales``, as fractions of the score range."""

    mean: float = Field(gt=0, lt=1)
    person_sd: float = Field(ge=0)
    group_sd: float = Field(ge=0)
    slope_sd: float = Field(ge=0)
    residual_sd: float = Field(ge=0)


class Outcomes(_Strict):
    """Outcome scales: named ones and the defaults for the rest."""

    #: correlation of person intercepts across scales through one wellbeing factor
    person_correlation: float = Field(ge=0, lt=1)
    defaults: OutcomeDefaults
    scales: dict[str, OutcomeScale]


class ImplementationEffects(_Strict):
    """Effects on the short-term change of one scale (intervisie only, centred within programme)."""

    coach_quality: float = 0.0  # per SD of the group's true coach quality
    safety: float = 0.0  # per SD of the group's true psychological safety
    structure_quadratic: float = 0.0  # coefficient of (structure_z - structure_peak)^2
    dose: float = 0.0  # per unit proportion of sessions attended before the short-term wave
    online: float = 0.0  # online group versus in person


class Implementation(_Strict):
    """Group-level implementation factors and their planted effects."""

    #: share of the variance of coach quality that belongs to the coach (the rest: the group)
    coach_share: float = Field(ge=0, le=1)
    safety_coach_correlation: float = Field(ge=-1, le=1)
    structure_peak: float
    effects_short: dict[str, ImplementationEffects]


class Rating(_Strict):
    """A rating scale whose true value is a group property (coach quality, safety, ...)."""

    drivers: dict[GroupFactor, float]
    mean: float
    #: SD of one person's observed rating (scale-score units)
    sd: float = Field(gt=0)
    #: intended ICC(1) of the observed ratings within groups
    icc: float = Field(gt=0, lt=1)
    #: share of the within-group latent variance that is stable per person
    person_share: float = Field(ge=0, le=1)


class Dropout(_Strict):
    """Leaving intervisie: an exponential hazard with two covariates (log hazard ratios per SD)."""

    hazard_per_year: float = Field(ge=0)
    burnout_scale: str
    log_hr_burnout: float
    log_hr_coach_quality: float


class Attendance(_Strict):
    """Each member attends each session with a personal probability ~ Beta(mean, concentration)."""

    mean: float = Field(gt=0, lt=1)
    concentration: float = Field(gt=0)


class Response(_Strict):
    """Who fills in a questionnaire: a logistic model per wave, and the free-text habits."""

    burnout_scale: str
    logit_intercept: dict[str, float]
    last_observed_burnout: float  # per SD, the missing-at-random part
    current_burnout: float  # per SD, the (small) missing-not-at-random part
    left_intervisie: float
    comparison: float
    evaluation_rate: float = Field(ge=0, le=1)
    free_text_rate: float = Field(ge=0, le=1)
    #: share of coded cells (programme, arm, consent, ...) written in another accepted spelling
    spelling_variant_rate: float = Field(ge=0, le=1)


class Defects(_Strict):
    """How often each kind of realistic trouble is planted (per file it applies to, unless noted)."""

    item_nonresponse: int = Field(ge=0)
    duplicate_submissions: int = Field(ge=0)
    out_of_range: int = Field(ge=0)
    missing_codes: int = Field(ge=0)
    unknown_ids: int = Field(ge=0)
    id_whitespace: int = Field(ge=0)
    unfinished_responses: int = Field(ge=0)
    codes_in_label_export: int = Field(ge=0)
    date_as_text: int = Field(ge=0)
    free_text_pii: int = Field(ge=0)
    trailing_empty_rows: int = Field(ge=0)
    no_consent: int = Field(ge=0)  # participants, in the roster
    session_duplicate_id: int = Field(ge=0)
    session_dot_decimal: int = Field(ge=0)
    attendance_unknown_session: int = Field(ge=0)
    attendance_not_in_group: int = Field(ge=0)
    attendance_conflicting_duplicate: int = Field(ge=0)
    attendance_invalid_value: int = Field(ge=0)
    #: careless responders per wave questionnaire (own random stream: other values do not move)
    careless_straight_line: int = Field(default=0, ge=0)
    careless_random: int = Field(default=0, ge=0)


class SimulationConfig(_Strict):
    """The whole simulation: seed, design, generative model, true effects and defects."""

    seed: int = Field(ge=0)
    #: the study description whose files are written, relative to this file
    study: str = "study.yaml"
    #: fixed timestamp stamped into xlsx and sav headers (determinism)
    file_timestamp: date
    #: Qualtrics files exported as choice text (value labels) instead of numeric codes
    label_exports: list[str] = Field(default_factory=list)
    design: Design
    items: ItemModel
    outcomes: Outcomes
    implementation: Implementation
    ratings: dict[str, Rating]
    dropout: Dropout
    attendance: Attendance
    response: Response
    defects: Defects


def load_config(path: Path) -> SimulationConfig:
    """Read and check ``simulation.yaml``; every problem is reported at once.

    Parameters
    ----------
    path : Path
        The configuration file.

    Returns
    -------
    SimulationConfig
        The validated configuration.

    Raises
    ------
    InputError
        If the file cannot be read or breaks the schema.
    """
    return load_yaml_model(path, SimulationConfig, "simulation configuration")
