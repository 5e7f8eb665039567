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


class ItemShift(_Strict):
    """A non-invariant item: ``steps`` answer steps added to one item's answers in one programme.

    The latent trait is the same; only how the item is answered differs (an intercept shift, the
    kind of measurement non-invariance a scalar invariance test looks for).
    """

    item: str
    programme: str
    steps: float


class ItemModel(_Strict):
    """How item answers scatter around the latent score (in answer-code steps)."""

    noise_sd: float = Field(ge=0.5)
    offset_sd: float = Field(ge=0)
    #: planted non-invariant items (none by default)
    shifts: list[ItemShift] = Field(default_factory=list)


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


class CovariateEffect(_Strict):
    """How a baseline covariate shapes one outcome, in units of the outcome's ``person_sd``.

    Per SD of a numeric covariate, for ``true`` against ``false`` of a binary one, and per level
    against the reference level of a categorical one (then each entry maps level -> effect).
    ``level`` moves the baseline, ``short`` the change over the short-term window, ``long`` the
    slope per year after it.
    """

    level: float | dict[str, float] = 0.0
    short: float | dict[str, float] = 0.0
    long: float | dict[str, float] = 0.0


class CovariateModel(_Strict):
    """How a baseline covariate (study.yaml ``covariates:``) is drawn, and what it does.

    numeric: ``mean`` and ``sd`` (a number or one per programme), rounded to ``decimals``
    (none: unrounded) and clipped into ``range``; binary: ``probability`` of ``true``;
    categorical: ``probabilities`` of the levels (summing to 1, the first the reference).
    ``missing`` is the share of roster cells left empty.  The effects act on a centred
    covariate (numeric: ``(x - mean) / sd``; binary and categorical: the indicator minus its
    probability), so each outcome's ``mean`` and ``change_short`` stay population averages.
    """

    kind: Literal["numeric", "binary", "categorical"]
    mean: float | dict[str, float] | None = None
    sd: float | dict[str, float] | None = None
    decimals: int | None = Field(default=None, ge=0, le=6)
    range: tuple[float, float] | None = None
    probability: float | dict[str, float] | None = None
    probabilities: dict[str, float] | None = None
    missing: float = Field(default=0.0, ge=0, lt=1)
    effects: dict[str, CovariateEffect] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_kind(self) -> CovariateModel:
        given = {k for k in ("mean", "sd", "probability", "probabilities") if getattr(self, k) is not None}
        needs = {"numeric": {"mean", "sd"}, "binary": {"probability"}, "categorical": {"probabilities"}}[self.kind]
        if given != needs:
            raise ValueError(f"a {self.kind} covariate gives exactly {sorted(needs)} (got {sorted(given)})")
        if self.kind != "numeric" and (self.range is not None or self.decimals is not None):
            raise ValueError("`range` and `decimals` are for numeric covariates")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"`range` must be [low, high] with low < high, not {list(self.range)}")
        sds = self.sd.values() if isinstance(self.sd, dict) else [self.sd or 0.0]
        if self.kind == "numeric" and min(sds) <= 0:
            raise ValueError("`sd` must be positive")
        probs = self.probability.values() if isinstance(self.probability, dict) else [self.probability or 0.5]
        if not all(0 <= p <= 1 for p in probs):
            raise ValueError("`probability` lies in [0, 1]")
        if self.probabilities is not None:
            if len(self.probabilities) < 2 or min(self.probabilities.values()) < 0:
                raise ValueError("`probabilities` gives at least two levels, none negative")
            if abs(sum(self.probabilities.values()) - 1) > 1e-6:
                raise ValueError(f"`probabilities` sum to 1, not {sum(self.probabilities.values()):g}")
        for scale, effect in self.effects.items():
            for part in ("level", "short", "long"):
                value = getattr(effect, part)
                if self.kind == "categorical":
                    levels = list(self.probabilities or {})[1:]
                    if not isinstance(value, dict) and value != 0:
                        raise ValueError(f"effects.{scale}.{part}: a categorical covariate maps level -> effect")
                    if isinstance(value, dict) and set(value) - set(levels):
                        raise ValueError(
                            f"effects.{scale}.{part}: levels {sorted(set(value) - set(levels))} are not among the "
                            f"non-reference levels {levels}"
                        )
                elif isinstance(value, dict):
                    raise ValueError(f"effects.{scale}.{part}: a {self.kind} covariate has one number per effect")
        return self


class Selection(_Strict):
    """Who joins intervisie within each programme (the arm sizes stay those of the design).

    ``random``: at random (the default).  ``baseline``: the chance to join rises with the
    *observed* baseline score of ``outcome`` (regression to the mean); ``covariate``: with the
    baseline covariate ``covariate`` (which may also shape the outcomes).  ``log_odds_per_sd``
    is the strength: the log-odds of joining per within-programme SD of the score (negative:
    the chance falls).  The arm is drawn by weighted sampling without replacement with weights
    ``exp(log_odds_per_sd * z)`` (Efraimidis & Spirakis 2006, Inf Process Lett 97:181).
    """

    mechanism: Literal["random", "baseline", "covariate"] = "random"
    outcome: str | None = None
    covariate: str | None = None
    log_odds_per_sd: float = 0.0

    @model_validator(mode="after")
    def _named(self) -> Selection:
        if self.mechanism == "baseline" and not self.outcome:
            raise ValueError("selection on the baseline names the `outcome` whose baseline score drives joining")
        if self.mechanism == "covariate" and not self.covariate:
            raise ValueError("selection on a covariate names the `covariate`")
        return self


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
    #: baseline covariates: how each of study.yaml's ``covariates:`` is drawn and what it does
    covariates: dict[str, CovariateModel] = Field(default_factory=dict)
    #: who joins intervisie (default: at random, with the design's arm sizes)
    selection: Selection = Selection()


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
