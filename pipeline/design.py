"""The study's design, declared once: built from ``study.yaml`` and the instrument library.

``study.yaml`` says what the study *is*: its waves and their months, its programmes in order
(the first is the reference level) with the names readers know them by, whether a comparison
cohort was measured and how people came into intervisie, its outcome scales, which rating
scales measure the implementation factors and which raw files exist. :func:`build_design`
checks all of it against the instrument library and returns one :class:`Design`; the ``design``
stage writes it to ``data_clean/design.json`` beside the clean tables, and every analysis stage
and every report reads it from there. Nothing downstream assumes a wave, programme or scale by
name: they come from here, and outcome names and directions from the instrument files.

``params.yaml`` holds what the researcher *chooses*; ``intervisie.choices`` checks those
choices against this design.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import InputError
from pipeline.instruments import Instrument, Scale
from pipeline.scoring import score_range
from pipeline.study import ARM_LABELS, Study

#: the arms of the canonical form, the reference (comparison) first
ARMS = ("comparison", "intervisie")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Named(_Frozen):
    """Something readers see by name: an id with its Dutch and English names."""

    id: str
    label_nl: str
    label_en: str

    def label(self, lang: str) -> str:
        """The name in ``lang`` (``nl`` or ``en``)."""
        return self.label_nl if lang == "nl" else self.label_en


class WaveInfo(Named):
    """A measurement occasion and its months after the start."""

    months: float


class ScaleInfo(_Frozen):
    """What the reports and analyses need to know of a scale, taken from its instrument file."""

    id: str
    instrument: str
    name_nl: str
    name_en: str
    higher_is_better: bool
    occasion: Literal["wave", "session"]
    #: the lowest and highest possible scale score
    min: float
    max: float
    #: published thresholds: (operator, threshold, label_nl, label_en)
    cutoffs: list[tuple[str, float, str, str]] = Field(default_factory=list)

    def label(self, lang: str) -> str:
        """The scale's name in ``lang`` with its instrument's short name, e.g. "Veerkracht (BRS)"."""
        return self.name_nl if lang == "nl" else self.name_en


class CovariateInfo(Named):
    """A baseline covariate of the study (``covariates.parquet``): its kind and coded levels.

    ``levels`` is empty for a numeric covariate, ``["false", "true"]`` for a binary one and
    the declared order of a categorical one (the first is the reference level).
    """

    kind: Literal["numeric", "binary", "categorical"]
    levels: list[str] = Field(default_factory=list)


class DataAvailable(_Frozen):
    """Which raw files and roster fields the study has (each switches analyses on or off)."""

    groups: bool
    coaches: bool
    format: bool
    leaving_dates: bool
    sessions: bool
    attendance: bool
    session_surveys: bool


class Design(_Frozen):
    """One study's design: the object every stage and every report receives."""

    study_id: str
    title: str
    demo: bool
    waves: list[WaveInfo]
    baseline: str
    short_term: str
    programmes: list[Named]
    arms: list[Named]
    assignment: str
    primary: list[str]
    secondary: list[str]
    scales: dict[str, ScaleInfo]
    ratings: dict[str, str]
    data: DataAvailable
    #: baseline covariates (study.yaml ``covariates:``), in the declared order
    covariates: list[CovariateInfo] = Field(default_factory=list)

    # -- the design in the words the analyses need -------------------------------------------

    @property
    def wave_ids(self) -> list[str]:
        """Wave ids in the order of their months."""
        return [w.id for w in self.waves]

    @property
    def wave_months(self) -> dict[str, float]:
        """Wave id -> months after the start."""
        return {w.id: w.months for w in self.waves}

    @property
    def knot_months(self) -> float:
        """Where the short-term part of the piecewise growth model ends: the short-term wave's months."""
        return self.wave_months[self.short_term] - self.wave_months[self.baseline]

    @property
    def long_term(self) -> bool:
        """Whether any wave follows the short-term wave (then the growth model has a long-term slope)."""
        return self.waves[-1].id != self.short_term

    @property
    def last_wave(self) -> str:
        """The last wave of the design."""
        return self.waves[-1].id

    @property
    def randomised(self) -> bool:
        """Whether people (or groups) were allocated at random: only then is the plain contrast causal."""
        return self.assignment in ("randomised", "cluster_randomised")

    @property
    def has_comparison(self) -> bool:
        """Whether a comparison cohort was measured (else only within-intervisie change is estimable)."""
        return any(a.id == "comparison" for a in self.arms)

    @property
    def programme_ids(self) -> list[str]:
        """Programme ids in the declared order (the first is the reference level)."""
        return [p.id for p in self.programmes]

    @property
    def several_programmes(self) -> bool:
        """Whether programme is a factor of the models (more than one programme)."""
        return len(self.programmes) > 1

    def outcomes(self) -> list[str]:
        """The primary, then the secondary outcome scales."""
        return [*self.primary, *self.secondary]

    def wave(self, wave_id: str) -> WaveInfo:
        """The wave with this id."""
        return next(w for w in self.waves if w.id == wave_id)

    def programme(self, programme_id: str) -> Named:
        """The programme with this id (``all`` stands for all programmes together)."""
        for p in self.programmes:
            if p.id == programme_id:
                return p
        if programme_id == "all":
            return Named(id="all", label_nl="alle programma's", label_en="all programmes")
        raise KeyError(programme_id)

    def arm(self, arm_id: str) -> Named:
        """The arm with this id."""
        return next(a for a in self.arms if a.id == arm_id)

    def growth_time_terms(self) -> str:
        """``short + long`` when a wave follows the short-term wave, else ``short``."""
        return "short + long" if self.long_term else "short"

    def time_terms(self) -> list[str]:
        """The time variables of the piecewise growth model."""
        return ["short", "long"] if self.long_term else ["short"]

    def growth_fixed(self, *, arms: bool = True) -> str:
        """The fixed part of the growth model this design supports.

        Two arms: ``y ~ [programme * (short + long) +] arm * (short + long)``; one arm (or
        ``arms=False``): ``y ~ [programme +] short + long`` (the average change over programmes).
        ``long`` only when a wave follows the short-term wave; ``programme`` only with several.
        """
        time = self.growth_time_terms()
        if arms and self.has_comparison:
            # time before arm in the formula, so the interactions are named as R names them: short:armintervisie
            if self.several_programmes:
                return f"y ~ programme * ({time}) + arm * ({time})"
            return f"y ~ ({time}) * arm"
        prog = "programme + " if self.several_programmes else ""
        return f"y ~ {prog}{time}"

    def effect_terms(self) -> list[str]:
        """The growth-model terms reported as effects: arm x time with a comparison, else time."""
        if self.has_comparison:
            return [f"{t}:armintervisie" for t in self.time_terms()]
        return self.time_terms()

    def moderation_terms(self) -> str | None:
        """Terms added to test whether the effects differ between programmes (None with one programme)."""
        if not self.several_programmes:
            return None
        if self.has_comparison:
            return " + ".join(f"programme:arm:{t}" for t in self.time_terms())
        return " + ".join(f"programme:{t}" for t in self.time_terms())

    def to_json(self) -> str:
        """The design as JSON, byte-identical for the same design."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _problems_of_design(study: Study, library: dict[str, Instrument]) -> list[str]:
    """Every way the design part of ``study`` disagrees with itself or the instrument library."""
    problems: list[str] = []
    scales = {s.id: inst for inst in library.values() for s in inst.scales}
    administered = {inst for survey in study.surveys for inst in survey.items}
    wave_instruments = {inst for survey in study.surveys if survey.occasion == "wave" for inst in survey.items}
    unknown = sorted(administered - set(library))
    if unknown:
        problems.append(f"surveys name instrument(s) {unknown} that are not in the instrument library ({sorted(library)})")
    wave_scales = sorted(s for s, inst in scales.items() if inst.id in wave_instruments and inst.occasion == "wave")
    if study.outcomes is None:
        problems.append(
            f"`outcomes:` is missing: name the primary outcome scale(s), e.g. `outcomes: {{primary: [{', '.join(wave_scales[:1]) or 'brs'}]}}`"
            f" (scales measured at the waves: {wave_scales})"
        )
    else:
        for key in ("primary", "secondary"):
            for scale in getattr(study.outcomes, key):
                if scale not in scales:
                    problems.append(f"outcomes.{key}: '{scale}' is not a scale of the instrument library ({sorted(scales)})")
                elif scale not in wave_scales:
                    problems.append(
                        f"outcomes.{key}: '{scale}' is not measured at the waves of this study (measured: {wave_scales})"
                    )
        both = sorted(set(study.outcomes.primary) & set(study.outcomes.secondary))
        if both:
            problems.append(f"outcomes: {both} named both primary and secondary")
        repeated = sorted({s for s in study.outcomes.primary + study.outcomes.secondary if (study.outcomes.primary + study.outcomes.secondary).count(s) > 1} - set(both))
        if repeated:
            problems.append(f"outcomes: {repeated} named twice")
    waves = sorted(study.waves.items(), key=lambda kv: kv[1].months)
    if len(waves) < 2:
        problems.append(f"waves: a study needs at least two waves (baseline and one follow-up); it has {list(study.waves)}")
    months = [w.months for _, w in waves]
    if len(set(months)) != len(months):
        problems.append(f"waves: two waves share the same months ({ {k: w.months for k, w in waves} })")
    for key in ("baseline", "short_term"):
        value = getattr(study.design, key)
        if value is not None and value not in study.waves:
            problems.append(f"design.{key}: '{value}' is not a wave of the study ({list(study.waves)})")
    if not problems and len(waves) >= 2 and study.design.baseline not in (None, waves[0][0]):
        problems.append(
            f"design.baseline: '{study.design.baseline}' must be the first wave (time is counted from the baseline); "
            f"the first wave is '{waves[0][0]}' at {waves[0][1].months} months"
        )
    if not problems and len(waves) >= 2 and waves[0][1].months != 0:
        problems.append(
            f"waves: the baseline wave '{waves[0][0]}' must be at 0 months (time is counted from it), not {waves[0][1].months}"
        )
    if not problems and len(waves) >= 2:
        baseline = study.design.baseline or waves[0][0]
        later = [k for k, w in waves if w.months > study.waves[baseline].months]
        short = study.design.short_term or (later[0] if later else None)
        if short is None or study.waves[short].months <= study.waves[baseline].months:
            problems.append(
                f"design.short_term: '{short}' must be a wave after the baseline '{baseline}' "
                f"(months: { {k: w.months for k, w in waves} })"
            )
    measured = {survey.wave for survey in study.surveys if survey.occasion == "wave" and survey.wave}
    wave_column = any(survey.occasion == "wave" and "wave" in survey.columns for survey in study.surveys)
    if not wave_column:
        for wave in study.waves:
            if wave not in measured:
                problems.append(f"waves: '{wave}' has no survey export in `surveys:` (surveys cover {sorted(measured)})")
    for factor, scale in study.design.ratings.items():
        if scale not in scales:
            problems.append(f"design.ratings.{factor}: '{scale}' is not a scale of the instrument library")
        elif scales[scale].id not in administered:
            problems.append(
                f"design.ratings.{factor}: '{scale}' (instrument {scales[scale].id}) is in no survey of this study"
            )
    has_arm = "arm" in study.roster.columns
    if study.design.comparison and not has_arm:
        problems.append("design.comparison is true but the roster maps no `arm` column: add `arm:` to roster.columns")
    unknown_labels = sorted(set(study.programme_labels) - set(study.programmes))
    if unknown_labels:
        problems.append(f"programme_labels: {unknown_labels} are not programmes of the study ({list(study.programmes)})")
    return problems


def build_design(study: Study, library: dict[str, Instrument]) -> Design:
    """Check the design declared in ``study`` against the instrument library and return it.

    Raises :class:`~pipeline.errors.InputError` listing every problem (a configuration mistake,
    never an internal error), each naming the key, the value and what exists.
    """
    problems = _problems_of_design(study, library)
    if problems:
        raise InputError("The study's design (study.yaml) has problems:\n" + "\n".join(f"  {p}" for p in problems))
    waves = sorted(study.waves.items(), key=lambda kv: kv[1].months)
    baseline = study.design.baseline or waves[0][0]
    later = [k for k, w in waves if w.months > study.waves[baseline].months]
    short = study.design.short_term or later[0]
    comparison = study.design.comparison if study.design.comparison is not None else "arm" in study.roster.columns
    arms = [a for a in ARMS if a == "intervisie" or comparison]
    arm_labels = {**ARM_LABELS, **study.arms}
    scales: dict[str, ScaleInfo] = {}
    for inst in library.values():
        if not any(inst.id in survey.items for survey in study.surveys):
            continue
        scales.update({scale.id: scale_info(inst, scale) for scale in inst.scales})
    roster = study.roster.columns
    data = DataAvailable(
        groups="group_id" in roster,
        coaches="coach_id" in roster,
        format="format" in roster,
        leaving_dates="end_date" in roster,
        sessions=study.sessions is not None,
        attendance=study.attendance is not None,
        session_surveys=any(s.occasion == "session" for s in study.surveys),
    )
    outcomes = study.outcomes
    if outcomes is None:  # reported by _problems_of_design
        raise InputError("study.yaml: `outcomes:` is missing")
    return Design(
        study_id=study.study.id,
        title=study.study.title,
        demo=study.study.demo,
        waves=[WaveInfo(id=k, label_nl=w.label_nl, label_en=w.label_en, months=w.months) for k, w in waves],
        baseline=baseline,
        short_term=short,
        programmes=[
            Named(
                id=p,
                label_nl=study.programme_labels[p].label_nl if p in study.programme_labels else p.replace("_", " "),
                label_en=study.programme_labels[p].label_en if p in study.programme_labels else p.replace("_", " "),
            )
            for p in study.programmes
        ],
        arms=[Named(id=a, label_nl=arm_labels[a].label_nl, label_en=arm_labels[a].label_en) for a in arms],
        assignment=study.design.assignment,
        primary=list(outcomes.primary),
        secondary=list(outcomes.secondary),
        scales=scales,
        ratings=dict(sorted(study.design.ratings.items())),
        data=data,
        covariates=[
            CovariateInfo(id=name, label_nl=c.label_nl, label_en=c.label_en, kind=c.kind, levels=c.levels)
            for name, c in study.covariates.items()
        ],
    )


def scale_info(inst: Instrument, scale: Scale) -> ScaleInfo:
    """What the design records of one scale of an instrument file: names, direction, range, cut-offs."""
    abbreviation = inst.abbreviation or inst.id.upper()
    low, high = score_range(inst, scale)
    return ScaleInfo(
        id=scale.id,
        instrument=inst.id,
        name_nl=f"{scale.name.nl} ({abbreviation})",
        name_en=f"{scale.name.en} ({abbreviation})",
        higher_is_better=scale.direction == "higher_better",
        occasion=inst.occasion,
        min=low,
        max=high,
        cutoffs=[(c.operator, c.threshold, c.label.nl, c.label.en) for c in scale.cutoffs],
    )


def load_design(path: Path) -> Design:
    """Read ``design.json`` (written by the ``design`` stage); a missing or stale file says how to make it."""
    if not path.is_file():
        raise InputError(
            f"{path} is missing: it describes the study's design and is written by "
            "`intervisie design --study data_raw/<study>/study.yaml` (the design stage of dvc.yaml)"
        )
    try:
        return Design.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as exc:
        raise InputError(
            f"{path} is not a design written by this version of the pipeline ({exc.__class__.__name__}): "
            "run `dvc repro` (or `intervisie design`) to write it again"
        ) from None
