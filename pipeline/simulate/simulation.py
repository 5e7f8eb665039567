"""One simulated study in memory: the cohort, its sessions, and every answer, before any export.

:func:`simulate` is pure (configuration, study description and instruments in; data out);
:mod:`pipeline.simulate.tables` lays the data out as the study's raw files and
:mod:`pipeline.simulate.defects` plants the trouble real exports have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.instruments import Instrument
from pipeline.simulate.config import SimulationConfig
from pipeline.simulate.design import Cohort, build_cohort
from pipeline.simulate.model import Model, add_implementation, build_model, draw_leave_months
from pipeline.simulate.sessions import build_attendance, build_evaluations, build_sessions
from pipeline.simulate.waves import build_waves
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
    say("cohort")
    cohort = build_cohort(cfg, n_participants)
    model = build_model(cfg, instruments, cohort)
    model.leave_months = draw_leave_months(cfg, model, cohort)
    say(f"sessions ({len(cohort.people)} participants, {len(cohort.groups)} groups)")
    sessions = build_sessions(cfg, cohort)
    attendance, dose = build_attendance(cfg, cohort, sessions, model.leave_months)
    centres = add_implementation(cfg, model, cohort, dose)
    say("waves")
    months = {w: study.waves[w].months for w in wave_instruments}
    waves, latents = build_waves(cfg, cohort, model, wave_instruments, months)
    say("session evaluations")
    evaluations = build_evaluations(cfg, cohort, model, sessions, attendance, session_instruments)
    return Simulation(cohort, model, sessions, attendance, waves, latents, evaluations, dose, centres)
