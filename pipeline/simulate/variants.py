"""Small synthetic studies of any common design: one function writes study.yaml, simulation.yaml and the raw files.

A :class:`DesignSpec` names what varies between real studies: the programmes, how many take
part per arm, the waves (months), the instruments, and which sources exist (session log,
attendance list, session ratings, leaving dates).  :func:`write_design` turns it into the
two configuration files the simulator reads (:mod:`.variant_files`) and runs the simulator
(:func:`pipeline.simulate.run`) on them, so every design goes through the same code as the
demo.  Same spec and seed give byte-identical files.  :data:`DESIGNS` holds named designs
used by the design-matrix tests and by ``intervisie simulate --design NAME``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import InputError

#: the wave instruments whose scales may be outcomes, and the rating instruments
RATING_INSTRUMENTS = ("coach_quality", "session_structure", "session_eval", "psysafety")


class CovariateSpec(BaseModel):
    """A baseline covariate of a design: how it is drawn and what it does to every outcome.

    Parameters
    ----------
    name : str
        Its canonical name (study.yaml ``covariates:``); the roster column is ``column`` or the
        name with spaces, capitalised.
    kind : {"numeric", "binary", "categorical"}
        numeric: ``mean``, ``sd``, ``decimals``, ``range``; binary: ``probability``;
        categorical: ``probabilities`` (level -> probability, the first the reference).
    level, short, long : float
        Effects on every outcome scale, in units of its person SD, signed so that a positive
        effect is better on every scale: the baseline, the short-term change and the slope per
        year (per SD of a numeric covariate, true vs false of a binary one; none for categorical).
    missing : float
        Share of roster cells left empty.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["numeric", "binary", "categorical"] = "numeric"
    column: str | None = None
    mean: float = 0.0
    sd: float = Field(default=1.0, gt=0)
    decimals: int | None = Field(default=None, ge=0, le=6)
    range: tuple[float, float] | None = None
    probability: float = Field(default=0.5, ge=0, le=1)
    probabilities: dict[str, float] | None = None
    level: float = 0.0
    short: float = 0.0
    long: float = 0.0
    missing: float = Field(default=0.0, ge=0, lt=1)

    @property
    def roster_column(self) -> str:
        """The roster column the covariate is written to."""
        return self.column or self.name.replace("_", " ").capitalize()


class SelectionSpec(BaseModel):
    """Who joins intervisie in a design (see :class:`pipeline.simulate.config.Selection`).

    ``outcome`` defaults to the first primary outcome, ``covariate`` to the first covariate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mechanism: Literal["random", "baseline", "covariate"] = "random"
    outcome: str | None = None
    covariate: str | None = None
    log_odds_per_sd: float = 0.0


class DesignSpec(BaseModel):
    """What varies between study designs (everything else gets plain, realistic defaults).

    Parameters
    ----------
    name : str
        A short name (letters, digits, ``_``); the study id is ``design-<name>``.
    programmes : tuple of str
        Programme ids in order (the first is the reference level).
    n_intervisie, n_comparison : int
        Participants per programme in each arm (``n_comparison = 0``: a single-arm study).
    group_size : tuple of int
        Smallest and largest intervisie group.
    months : tuple of float
        The waves' months after the start, the first 0 (the baseline).
    instruments : tuple of str
        Wave instruments whose scales are outcomes (ids of the instrument library).
    primary, secondary : tuple of str, optional
        Outcome scales; default: the first scale the first instrument drives is primary, the
        first scale each other instrument drives secondary.
    has_sessions, has_attendance, has_ratings, has_leaving : bool
        Whether the session log, the attendance list, ratings of coach quality / structure
        (after sessions, needs the session log) and safety (at the follow-up waves), and the
        roster's leaving dates exist.
    formats : {"csv", "mixed"}
        ``csv``: every wave a Qualtrics CSV, the roster a UTF-8 CSV; ``mixed``: the roster in
        Excel and the waves in turn Qualtrics CSV (one as choice text), SPSS and Excel.
    assignment : str
        How people came in (study.yaml ``design.assignment``).
    covariates : tuple of CovariateSpec
        Baseline covariates in the roster (default: none).
    selection : SelectionSpec
        Who joins intervisie (default: at random).
    effect_short : float
        The true short-term effect on the primary outcomes as a share of the score range
        (secondary outcomes: half; the long-term effect: a third of it per year); 0: no effect.
    seed : int
        The simulator's seed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    programmes: tuple[str, ...] = Field(default=("huisarts",), min_length=1)
    n_intervisie: int = Field(default=30, ge=3)
    n_comparison: int = Field(default=0, ge=0)
    group_size: tuple[int, int] = (4, 6)
    months: tuple[float, ...] = (0.0, 3.0)
    instruments: tuple[str, ...] = Field(default=("brs", "cbi"), min_length=1)
    primary: tuple[str, ...] | None = None
    secondary: tuple[str, ...] | None = None
    has_sessions: bool = True
    has_attendance: bool = True
    has_ratings: bool = True
    has_leaving: bool = True
    formats: Literal["csv", "mixed"] = "csv"
    assignment: Literal["randomised", "cluster_randomised", "self_selected", "by_programme", "unknown"] = (
        "self_selected"
    )
    covariates: tuple[CovariateSpec, ...] = ()
    selection: SelectionSpec = SelectionSpec()
    effect_short: float = 0.06
    seed: int = Field(default=20260101, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> DesignSpec:
        problems = []
        names = [c.name for c in self.covariates]
        if len(set(names)) != len(names):
            problems.append(f"covariates repeat a name: {names}")
        if self.selection.mechanism != "random" and not self.has_comparison:
            problems.append("a selection mechanism needs a comparison arm (n_comparison > 0)")
        if self.selection.mechanism == "covariate" and not self.covariates:
            problems.append("selection on a covariate needs covariates")
        if self.selection.covariate is not None and self.selection.covariate not in names:
            problems.append(f"selection.covariate '{self.selection.covariate}' is not among the covariates {names}")
        if len(self.months) < 2 or self.months[0] != 0 or list(self.months) != sorted(set(self.months)):
            problems.append(f"months must start at 0 and increase, with at least two waves (got {list(self.months)})")
        if not 2 <= self.group_size[0] <= self.group_size[1]:
            problems.append(f"group_size must be (min, max) with 2 <= min <= max (got {self.group_size})")
        if self.n_intervisie < self.group_size[0]:
            problems.append(f"n_intervisie {self.n_intervisie} is smaller than one group ({self.group_size[0]})")
        if self.has_attendance and not self.has_sessions:
            problems.append("has_attendance needs has_sessions (attendance lists name sessions)")
        if len(set(self.programmes)) != len(self.programmes):
            problems.append(f"programmes repeat an id: {list(self.programmes)}")
        rating = sorted(set(self.instruments) & set(RATING_INSTRUMENTS))
        if rating:
            problems.append(f"instruments {rating} are ratings: use has_ratings instead")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def has_comparison(self) -> bool:
        """Whether a comparison cohort is measured."""
        return self.n_comparison > 0

    @property
    def size(self) -> int:
        """The number of participants."""
        return len(self.programmes) * (self.n_intervisie + self.n_comparison)


def _spec(name: str, **kwargs: object) -> DesignSpec:
    return DesignSpec(name=name, **kwargs)  # type: ignore[arg-type]


#: a numeric and a binary covariate that shape the outcomes (the self-selected designs)
_TRAINING_COVARIATES = (
    CovariateSpec(
        name="training_year", column="Opleidingsjaar", mean=3.0, sd=1.4, decimals=0, range=(1, 6), short=0.3, level=0.2
    ),
    CovariateSpec(
        name="prior_treatment",
        kind="binary",
        column="Eerder behandeld",
        probability=0.25,
        level=-0.4,
        short=-0.2,
        missing=0.05,
    ),
)

#: named designs: every common shape of study, each small (20-60 participants, groups of 3-8)
DESIGNS: dict[str, DesignSpec] = {
    s.name: s
    for s in (
        _spec(
            "single_arm_two_waves",
            n_intervisie=30,
            has_sessions=False,
            has_attendance=False,
            has_ratings=False,
            has_leaving=False,
        ),
        _spec("two_arms_two_waves", n_intervisie=28, n_comparison=16, has_ratings=False, assignment="randomised",
              seed=11),
        _spec(
            "two_arms_three_waves_two_programmes",
            programmes=("huisarts", "zorg_mix"),
            n_intervisie=20,
            n_comparison=8,
            months=(0, 3, 12),
            instruments=("brs", "cbi", "olbi"),
            primary=("brs", "cbi_work"),
            secondary=("cbi_personal", "olbi_exhaustion"),
            seed=12,
        ),
        _spec("single_arm_three_waves_ratings", n_intervisie=36, months=(0, 3, 9), group_size=(5, 8), seed=13),
        _spec(
            "irregular_five_waves",
            programmes=("huisarts", "zorg_mix"),
            n_intervisie=18,
            n_comparison=8,
            months=(0, 2, 6, 9, 18),
            has_ratings=False,
            seed=14,
        ),
        _spec(
            "single_arm_six_waves",
            n_intervisie=32,
            months=(0, 1, 3, 6, 12, 24),
            has_sessions=False,
            has_attendance=False,
            has_ratings=False,
            seed=15,
        ),
        _spec(
            "three_programmes",
            programmes=("huisarts", "zorg_mix", "spoedzorg"),
            n_intervisie=12,
            n_comparison=6,
            months=(0, 3, 12),
            instruments=("uwes9", "brs"),
            group_size=(3, 6),
            seed=16,
        ),
        _spec(
            "brs_only_no_sources",
            n_intervisie=26,
            n_comparison=14,
            months=(0, 3, 6),
            instruments=("brs",),
            has_sessions=False,
            has_attendance=False,
            has_ratings=False,
            has_leaving=False,
            seed=17,
        ),
        _spec(
            "sessions_without_attendance",
            n_intervisie=30,
            n_comparison=12,
            months=(0, 4, 10),
            has_attendance=False,
            has_ratings=False,
            assignment="cluster_randomised",
            seed=18,
        ),
        _spec(
            "safety_rating_only",
            programmes=("zorg_mix",),
            n_intervisie=30,
            n_comparison=10,
            months=(0, 3, 12),
            has_sessions=False,
            has_attendance=False,
            seed=19,
        ),
        _spec(
            "mixed_formats_four_waves",
            programmes=("huisarts", "zorg_mix"),
            n_intervisie=16,
            n_comparison=8,
            months=(0, 3, 6, 12),
            formats="mixed",
            seed=20,
        ),
        _spec(
            "tiny_groups_of_three",
            n_intervisie=15,
            n_comparison=6,
            group_size=(3, 3),
            months=(0, 3, 6),
            instruments=("cbi",),
            seed=21,
        ),
        _spec(
            "self_selected_baseline",
            n_intervisie=32,
            n_comparison=28,
            months=(0, 3, 12),
            instruments=("cbi",),
            primary=("cbi_work",),
            covariates=_TRAINING_COVARIATES,
            selection=SelectionSpec(mechanism="baseline", log_odds_per_sd=0.8),
            has_attendance=False,
            has_ratings=False,
            seed=22,
        ),
        _spec(
            "self_selected_covariate",
            programmes=("huisarts", "zorg_mix"),
            n_intervisie=18,
            n_comparison=12,
            months=(0, 3),
            instruments=("brs",),
            covariates=_TRAINING_COVARIATES,
            selection=SelectionSpec(mechanism="covariate", covariate="training_year", log_odds_per_sd=1.0),
            has_sessions=False,
            has_attendance=False,
            has_ratings=False,
            formats="mixed",
            seed=23,
        ),
    )
}


def resolve_spec(name_or_spec: str | DesignSpec | dict) -> DesignSpec:
    """Return the spec of a named design, or check a spec given as a model or mapping.

    Raises
    ------
    InputError
        If the name is unknown or the mapping breaks the schema.
    """
    if isinstance(name_or_spec, DesignSpec):
        return name_or_spec
    if isinstance(name_or_spec, str):
        if name_or_spec not in DESIGNS:
            raise InputError(f"unknown design '{name_or_spec}'; the named designs are {sorted(DESIGNS)}")
        return DESIGNS[name_or_spec]
    try:
        return DesignSpec.model_validate(name_or_spec)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors())
        raise InputError(f"design spec: {problems}") from None


def write_design(
    name_or_spec: str | DesignSpec | dict,
    out_dir: Path,
    seed: int | None = None,
    *,
    instruments_dir: Path,
    roster_arm: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> DesignSpec:
    """Write a complete small study of one design: ``study.yaml``, ``simulation.yaml`` and the raw files.

    Parameters
    ----------
    name_or_spec : str, DesignSpec or dict
        A name of :data:`DESIGNS` or a spec.
    out_dir : Path
        The study folder (created; files in it are overwritten).
    seed : int, optional
        Overrides the spec's seed.
    instruments_dir : Path
        The instrument library.
    roster_arm : bool, optional
        Whether a single-arm study's roster has an ``arm`` column (all ``intervisie``).  Default:
        only when the ingest still requires one.  Two-arm studies always have it.
    progress : callable, optional
        Receives a short message per step.

    Returns
    -------
    DesignSpec
        The spec that was written (with the seed used).
    """
    from pipeline.instruments import load_library
    from pipeline.simulate import run
    from pipeline.simulate.variant_files import simulation_config, study_description, write_yaml

    spec = resolve_spec(name_or_spec)
    if seed is not None:
        spec = spec.model_copy(update={"seed": seed})
    library = load_library(instruments_dir)
    unknown = sorted(set(spec.instruments) - set(library))
    if unknown:
        raise InputError(
            f"design '{spec.name}': instruments {unknown} are not in {instruments_dir} ({sorted(library)})"
        )
    if roster_arm is None:
        from pipeline.canonical import REQUIRED

        roster_arm = "arm" in REQUIRED["roster"]
    out_dir.mkdir(parents=True, exist_ok=True)
    study = study_description(spec, library, roster_arm=roster_arm or spec.has_comparison)
    write_yaml(out_dir / "study.yaml", study, f"Synthetic study of design '{spec.name}' (pipeline.simulate.variants).")
    config = simulation_config(spec, library, study)
    write_yaml(out_dir / "simulation.yaml", config, f"Simulation of design '{spec.name}': seed, sizes, true effects.")
    run(out_dir / "simulation.yaml", instruments_dir, out_dir, progress=progress)
    return spec
