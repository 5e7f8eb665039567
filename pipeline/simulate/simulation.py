"""One simulated study in memory: the cohort, its sessions, and every answer, before any export.

:func:`simulate` is pure (configuration, study description and instruments in; data out);
:mod:`pipeline.simulate.tables` lays the data out as the study's raw files and
:mod:`pipeline.simulate.defects` plants the trouble real exports have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.instruments import Instrument
from pipeline.simulate.config import SimulationConfig
from pipeline.simulate.covariates import (
    add_covariate_effects,
    check_covariates,
    draw_covariates,
    select,
    selection_score,
)
from pipeline.simulate.design import Cohort, build_cohort
from pipeline.simulate.model import Model, add_implementation, build_model, draw_leave_months, move_people
from pipeline.simulate.sessions import build_attendance, build_evaluations, build_sessions
from pipeline.simulate.waves import build_waves, wave_answers
from pipeline.study import Study


@dataclass(frozen=True)
class Simulation:
    """A simulated study: who, when, what they answered, and the truth behind it."""

    cohort: Cohort
    model: Model
    sessions: pd.DataFrame
    attendance: pd.DataFrame
    #: wave -> responses (``participant``, ``submitted``, ``duration``, ``comment``, items)
    waves: dict[str, pd.DataFrame]
    #: wave -> latent outcome scores of every participant (one column per outcome scale)
    latents: dict[str, pd.DataFrame]
    #: evaluations after sessions (``participant``, ``session``, ``submitted``, ``comment``, items)
    evaluations: pd.DataFrame
    dose: np.ndarray
    #: realised centring constants of the implementation covariates, per programme
    centres: dict[str, dict]
    #: baseline covariates per participant (rows as ``cohort.people``; see :mod:`.covariates`)
    covariates: pd.DataFrame | None = None
    #: row ``k`` holds the person first drawn as row ``order[k]`` (None: nobody was moved)
    order: np.ndarray | None = None


def study_instruments(study: Study) -> tuple[dict[str, list[str]], list[str]]:
    """Return wave -> instrument ids of its questionnaires, and the session instruments."""
    waves: dict[str, list[str]] = {}
    session: list[str] = []
    for survey in study.surveys:
        target = session if survey.occasion == "session" else waves.setdefault(str(survey.wave), [])
        target += [i for i in survey.items if i not in target]
    return waves, session


def simulate(
    cfg: SimulationConfig,
    study: Study,
    library: dict[str, Instrument],
    *,
    n_participants: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Simulation:
    """Simulate a study in memory.

    Parameters
    ----------
    cfg : SimulationConfig
        The configuration (seed, design, true effects).
    study : Study
        The study description: which waves and instruments the files hold.
    library : dict
        The instrument library, keyed by id.
    n_participants : int, optional
        Scale the design to about this many participants.
    progress : callable, optional
        Receives a short message per step.

    Returns
    -------
    Simulation
        The simulated study.
    """
    say = progress or (lambda _msg: None)
    wave_instruments, session_instruments = study_instruments(study)
    wanted = {i for ids in wave_instruments.values() for i in ids} | set(session_instruments)
    missing = sorted(wanted - set(library))
    if missing:
        raise InputError(f"study.yaml names instrument(s) {missing} that the instrument library lacks")
    unknown_waves = sorted(set(cfg.response.logit_intercept) ^ set(wave_instruments))
    if unknown_waves:
        raise InputError(
            f"simulation.yaml: response.logit_intercept must name exactly the waves {sorted(wave_instruments)}"
        )
    unknown_programmes = sorted(set(cfg.design.programmes) - set(study.programmes))
    if unknown_programmes:
        raise InputError(f"simulation.yaml: programme(s) {unknown_programmes} are not in study.yaml's programmes")
    qualtrics = {s.file for s in study.surveys if s.format == "qualtrics_csv"}
    stray = sorted(set(cfg.label_exports) - qualtrics)
    if stray:
        raise InputError(f"simulation.yaml: label_exports {stray} are not Qualtrics CSV files of study.yaml")
    instruments = {k: library[k] for k in sorted(wanted)}
    check_covariates(cfg, study)
    say("cohort")
    cohort = build_cohort(cfg, n_participants)
    model = build_model(cfg, instruments, cohort)
    months = {w: study.waves[w].months for w in wave_instruments}
    covariates = draw_covariates(cfg, cohort.people["programme"].to_numpy()) if cfg.covariates else None
    if covariates is not None:
        add_covariate_effects(cfg, model, covariates)
    order = None
    if cfg.selection.mechanism != "random":
        order = _selection_order(cfg, cohort, model, covariates, wave_instruments, months)
        model = move_people(model, order)
        covariates = None if covariates is None else covariates.iloc[order].reset_index(drop=True)
    model.leave_months = draw_leave_months(cfg, model, cohort)
    say(f"sessions ({len(cohort.people)} participants, {len(cohort.groups)} groups)")
    sessions = build_sessions(cfg, cohort)
    attendance, dose = build_attendance(cfg, cohort, sessions, model.leave_months)
    centres = add_implementation(cfg, model, cohort, dose)
    say("waves")
    waves, latents = build_waves(cfg, cohort, model, wave_instruments, months, order)
    say("session evaluations")
    evaluations = build_evaluations(cfg, cohort, model, sessions, attendance, session_instruments)
    return Simulation(
        cohort, model, sessions, attendance, waves, latents, evaluations, dose, centres, covariates, order
    )


def _selection_order(
    cfg: SimulationConfig,
    cohort: Cohort,
    model: Model,
    covariates: pd.DataFrame | None,
    wave_instruments: dict[str, list[str]],
    months: dict[str, float],
) -> np.ndarray:
    """Return who fills which row under a non-random selection (see :func:`.covariates.select`).

    Selection on the baseline reads the answers everyone would give at the first wave: the
    same draws :func:`.waves.build_waves` makes for that wave (it follows the person), so the
    score the selection saw is the one in the file.
    """
    answers = None
    if cfg.selection.mechanism == "baseline":
        first = min(wave_instruments, key=lambda w: months[w])
        if months[first] != 0:
            raise InputError(f"simulation.yaml: selection on the baseline needs a wave at 0 months (the first is {first})")
        people = cohort.people
        before = replace(model, leave_months=np.full(len(people), np.inf))
        _latent, answers, _rng = wave_answers(
            cfg, before, first, 0.0, wave_instruments[first], people["group"].to_numpy(),
            people["intervisie"].to_numpy(), people["programme"].to_numpy(),
        )  # fmt: skip
    empty = pd.DataFrame(index=pd.RangeIndex(len(cohort.people)))
    value = selection_score(cfg, model, empty if covariates is None else covariates, answers)
    return select(cfg, cohort, value)
