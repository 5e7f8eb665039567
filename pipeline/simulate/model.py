"""The generative model: person trajectories of the outcomes, group ratings, dropout.

Outcome scale ``s`` of person ``i`` (programme ``p``, group ``g``, arm ``a`` = 1 for
intervisie) at wave month ``m``::

    y = mean_p + u_g + b0_i
        + short(m) * (change_short + a * (effect_short_p + impl_i))
        + long(m) * (slope_long + b1_i) + a * long_enrolled_i(m) * effect_long_p + e

with ``short(m) = min(m / short_term_months, 1)``, ``long(m)`` the years after the
short-term window and ``long_enrolled`` the same but only while still in intervisie.
``impl_i`` sums the planted implementation effects (coach quality, safety, structure
(quadratic), dose, online), each centred on the mean of the programme's intervisie
participants, so that ``effect_short_p`` stays the programme's average short-term effect.
Person intercepts share one wellbeing factor (signed by each scale's direction).  Baseline
covariates (:mod:`.covariates`) add to ``b0_i``, to the short-term change (both arms) and to
``b1_i``; a selection mechanism then moves people between rows (:func:`move_people`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.instruments import Instrument
from pipeline.simulate.config import OutcomeScale, Rating, SimulationConfig
from pipeline.simulate.design import NO_GROUP, Cohort, per_member, stream
from pipeline.simulate.items import ScaleGeometry, error_variance, geometry


@dataclass(frozen=True)
class Outcome:
    """An outcome scale's resolved parameters (scale-score units) and its person draws."""

    geom: ScaleGeometry
    params: OutcomeScale
    base: np.ndarray  # mean_p + u_g + b0_i
    slope: np.ndarray  # b1_i
    effect_short: np.ndarray  # effect_short_p (+ impl_i once known), 0 for comparison
    effect_long: np.ndarray
    #: the baseline covariates' part of the short-term change (person-level; None without covariates)
    change: np.ndarray | None = None


@dataclass(frozen=True)
class RatingScale:
    """A rating scale whose truth is a group property; its person part and variance split."""

    geom: ScaleGeometry
    params: Rating
    driver: np.ndarray  # per group, var 1
    person: np.ndarray  # per participant, N(0, 1)
    group_sd: float
    within_sd: float


@dataclass
class Model:
    """Everything drawn once per person or group; waves and sessions only add occasion noise."""

    instruments: dict[str, Instrument]
    outcomes: dict[str, Outcome]
    ratings: dict[str, RatingScale]
    leave_months: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _per_programme(value: float | dict[str, float], programmes: np.ndarray, name: str) -> np.ndarray:
    if isinstance(value, dict):
        unknown = set(np.unique(programmes)) - set(value)
        if unknown:
            raise InputError(f"simulation.yaml: {name} gives no value for programme(s) {sorted(unknown)}")
        return np.array([value[p] for p in programmes], dtype=float)
    return np.full(len(programmes), float(value))


def _default_params(cfg: SimulationConfig, geom: ScaleGeometry) -> OutcomeScale:
    d = cfg.outcomes.defaults
    return OutcomeScale(
        mean=geom.low + d.mean * geom.width,
        person_sd=d.person_sd * geom.width,
        group_sd=d.group_sd * geom.width,
        slope_sd=d.slope_sd * geom.width,
        residual_sd=d.residual_sd * geom.width,
    )


def _default_rating(geom: ScaleGeometry) -> Rating:
    return Rating(drivers={}, mean=geom.low + 0.65 * geom.width, sd=0.15 * geom.width, icc=0.2, person_share=0.5)


def check_references(cfg: SimulationConfig, geoms: dict[str, ScaleGeometry]) -> None:
    """Raise :class:`InputError` naming every scale the configuration mentions but the library lacks."""
    named = {
        "outcomes.scales": set(cfg.outcomes.scales),
        "implementation.effects_short": set(cfg.implementation.effects_short),
        "ratings": set(cfg.ratings),
        "dropout.burnout_scale": {cfg.dropout.burnout_scale},
        "response.burnout_scale": {cfg.response.burnout_scale},
    }
    problems = [f"{where}: {sorted(ids - set(geoms))}" for where, ids in named.items() if ids - set(geoms)]
    not_driving = sorted(s for s in cfg.outcomes.scales if s in geoms and not geoms[s].driven)
    if not_driving:
        problems.append(f"outcomes.scales: {not_driving} are totals of other scales; give their parts instead")
    if problems:
        raise InputError("simulation.yaml names scales it cannot simulate: " + "; ".join(problems))


def build_model(cfg: SimulationConfig, instruments: dict[str, Instrument], cohort: Cohort) -> Model:
    """Draw the person and group parts of every scale of the given instruments.

    Parameters
    ----------
    cfg : SimulationConfig
        The configuration.
    instruments : dict
        The instruments the study's files hold, keyed by id.
    cohort : Cohort
        The participants and groups.

    Returns
    -------
    Model
        Outcome and rating scales with their draws (implementation effects still to add).
    """
    geoms = {g.scale: g for inst in instruments.values() for g in geometry(inst)}
    check_references(cfg, geoms)
    people, groups = cohort.people, cohort.groups
    rng = stream(cfg.seed, "persons")
    n = len(people)
    programme = people["programme"].to_numpy()
    group = people["group"].to_numpy()
    member = group != NO_GROUP
    arm = people["intervisie"].to_numpy()
    wellbeing = rng.standard_normal(n)
    rho = cfg.outcomes.person_correlation
    outcomes: dict[str, Outcome] = {}
    ratings: dict[str, RatingScale] = {}
    for scale_id, geom in geoms.items():
        if not geom.driven:
            continue  # a total of other scales: its truth is that of its parts
        inst = instruments[geom.instrument]
        is_rating = scale_id in cfg.ratings or inst.occasion == "session" or geom.level == "group"
        if is_rating:
            params = cfg.ratings.get(scale_id) or _default_rating(geom)
            ratings[scale_id] = _rating(params, geom, inst, groups, rng, n, cfg)
            continue
        params = cfg.outcomes.scales.get(scale_id) or _default_params(cfg, geom)
        u = rng.normal(0.0, params.group_sd, len(groups))
        own = np.where(member, params.person_sd, np.hypot(params.person_sd, params.group_sd))
        b0 = own * (np.sqrt(rho) * geom.sign * wellbeing + np.sqrt(1 - rho) * rng.standard_normal(n))
        base = _per_programme(params.mean, programme, f"{scale_id}.mean") + per_member(u, group) + b0
        outcomes[scale_id] = Outcome(
            geom=geom,
            params=params,
            base=base,
            slope=rng.normal(0.0, params.slope_sd, n),
            effect_short=arm * _per_programme(params.effect_short, programme, f"{scale_id}.effect_short"),
            effect_long=arm * _per_programme(params.effect_long, programme, f"{scale_id}.effect_long"),
        )
    return Model(instruments=instruments, outcomes=outcomes, ratings=ratings)


def _rating(
    params: Rating,
    geom: ScaleGeometry,
    inst: Instrument,
    groups: pd.DataFrame,
    rng: np.random.Generator,
    n: int,
    cfg: SimulationConfig,
) -> RatingScale:
    """Split a rating's variance: group (ICC) / person and occasion / item noise and rounding."""
    r = cfg.implementation.safety_coach_correlation
    w = {k: params.drivers.get(k, 0.0) for k in ("coach_quality", "structure", "safety")}
    combo = sum(w[k] * groups[k].to_numpy() for k in w) if params.drivers else rng.standard_normal(len(groups))
    variance = w["coach_quality"] ** 2 + w["structure"] ** 2 + w["safety"] ** 2
    variance += 2 * r * w["coach_quality"] * w["safety"]
    driver = combo / np.sqrt(variance) if params.drivers else combo
    total = params.sd**2
    group_var = params.icc * total
    within = total - group_var - error_variance(inst, geom, cfg.items.noise_sd)
    if within <= 0:
        raise InputError(
            f"simulation.yaml, ratings.{geom.scale}: sd {params.sd} is too small for the item noise; raise sd"
        )
    return RatingScale(
        geom,
        params,
        np.asarray(driver, dtype=float),
        rng.standard_normal(n),
        float(np.sqrt(group_var)),
        float(np.sqrt(within)),
    )


def add_implementation(cfg: SimulationConfig, model: Model, cohort: Cohort, dose: np.ndarray) -> dict[str, dict]:
    """Add the planted implementation effects to each outcome's short-term effect.

    Each covariate is centred on the mean of its programme's intervisie participants.
    Returns the realised centring constants (for the manifest).
    """
    people, groups = cohort.people, cohort.groups
    arm = people["intervisie"].to_numpy()
    group = people["group"].to_numpy()
    programme = people["programme"].to_numpy()
    peak = cfg.implementation.structure_peak
    raw = {
        "coach_quality": groups["coach_quality"].to_numpy(),
        "safety": groups["safety"].to_numpy(),
        "structure_quadratic": (groups["structure"].to_numpy() - peak) ** 2,
        "online": groups["online"].to_numpy().astype(float),
    }
    covariates = {k: per_member(v, group).astype(float) for k, v in raw.items()}
    covariates["dose"] = np.where(arm, dose, 0.0)
    centres: dict[str, dict] = {}
    for name, values in covariates.items():
        centred = values.copy()
        centres[name] = {}
        for p in np.unique(programme[arm]):
            mine = arm & (programme == p)
            centre = float(values[mine].mean())
            centred[mine] -= centre
            centres[name][str(p)] = round(centre, 6)
        covariates[name] = centred
    for scale_id, effects in cfg.implementation.effects_short.items():
        outcome = model.outcomes.get(scale_id)
        if outcome is None:
            raise InputError(f"simulation.yaml: implementation.effects_short.{scale_id} is not an outcome scale")
        extra = sum(getattr(effects, name) * covariates[name] for name in covariates)
        model.outcomes[scale_id] = replace(outcome, effect_short=outcome.effect_short + extra)
    return centres


def baseline_z(model: Model, scale_id: str, programme: np.ndarray) -> np.ndarray:
    """Return each person's true baseline level of a scale as a z-score within programme."""
    base = model.outcomes[scale_id].base
    z = np.zeros(len(base))
    for p in np.unique(programme):
        mine = programme == p
        sd = base[mine].std()
        z[mine] = (base[mine] - base[mine].mean()) / (sd if sd > 0 else 1.0)
    return z


def draw_leave_months(cfg: SimulationConfig, model: Model, cohort: Cohort) -> np.ndarray:
    """Draw when each intervisie participant leaves (months after start; inf if they stay).

    Exponential hazard ``h = hazard_per_year * exp(b_burnout * z_burnout + b_cq * coach_quality)``,
    with ``z_burnout`` the true baseline level of ``dropout.burnout_scale`` (z within programme).
    """
    d = cfg.dropout
    people = cohort.people
    arm = people["intervisie"].to_numpy()
    group = people["group"].to_numpy()
    z_burn = baseline_z(model, d.burnout_scale, people["programme"].to_numpy())
    cq = per_member(cohort.groups["coach_quality"].to_numpy(), group)
    rate = d.hazard_per_year * np.exp(d.log_hr_burnout * z_burn + d.log_hr_coach_quality * cq)
    rng = stream(cfg.seed, "dropout")
    years = rng.exponential(1.0, len(people)) / np.maximum(rate, 1e-12)
    months = years * 12.0
    months[(~arm) | (months >= cfg.design.follow_up_months)] = np.inf
    return months


def outcome_latent(
    outcome: Outcome, month: float, short_months: float, leave_months: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Return the latent score of one outcome at a wave for everyone (see module docstring)."""
    p = outcome.params
    short = min(month / short_months, 1.0)
    long = max(month - short_months, 0.0) / 12.0
    enrolled = np.clip(np.minimum(month, leave_months) - short_months, 0.0, None) / 12.0
    change = p.change_short + outcome.effect_short
    if outcome.change is not None:
        change = change + outcome.change
    return (
        outcome.base
        + short * change
        + long * (p.slope_long + outcome.slope)
        + enrolled * outcome.effect_long
        + rng.normal(0.0, p.residual_sd, len(outcome.base))
    )


def move_people(model: Model, order: np.ndarray) -> Model:
    """Return the model with the person-level draws moved: row ``k`` gets the person of row ``order[k]``.

    Baseline level, personal slope, the covariates' change and the stable part of ratings
    travel with the person; what belongs to the row's arm and group (effects, dropout) does not.
    """
    outcomes = {
        k: replace(o, base=o.base[order], slope=o.slope[order], change=None if o.change is None else o.change[order])
        for k, o in model.outcomes.items()
    }
    ratings = {k: replace(r, person=r.person[order]) for k, r in model.ratings.items()}
    return replace(model, outcomes=outcomes, ratings=ratings)


def rows_to_people(model: Model, inv: np.ndarray) -> Model:
    """Return every per-row array of the model re-indexed by ``inv`` (effects and leaving included)."""
    outcomes = {
        k: replace(
            o,
            base=o.base[inv],
            slope=o.slope[inv],
            effect_short=o.effect_short[inv],
            effect_long=o.effect_long[inv],
            change=None if o.change is None else o.change[inv],
        )
        for k, o in model.outcomes.items()
    }
    ratings = {k: replace(r, person=r.person[inv]) for k, r in model.ratings.items()}
    leave = model.leave_months[inv] if len(model.leave_months) else model.leave_months
    return replace(model, outcomes=outcomes, ratings=ratings, leave_months=leave)


def rating_latent(rating: RatingScale, group: np.ndarray, person: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return latent ratings for (group, person) pairs: group truth + person + occasion parts."""
    p = rating.params
    if not len(rating.driver):  # no groups at all (a tiny scaled design)
        return np.full(len(group), np.nan)
    occasion = rng.standard_normal(len(group))
    within = np.sqrt(p.person_share) * rating.person[person] + np.sqrt(1 - p.person_share) * occasion
    return p.mean + rating.group_sd * rating.driver[group] + rating.within_sd * within
