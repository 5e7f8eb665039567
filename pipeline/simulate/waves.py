"""The questionnaire waves: who answers when, and what.

Wave ``w`` is answered with probability ``logistic(intercept_w + b_obs * z_last_observed +
b_cur * z_current + b_left * left + b_cmp * comparison)``, where ``z_last_observed`` is the
participant's most recent *observed* score on the burnout scale (missing at random given
the data) and ``z_current`` their current latent burnout (a small not-at-random part);
both are standardised on the baseline distribution of the programme.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.instruments import Instrument
from pipeline.simulate.config import SimulationConfig
from pipeline.simulate.design import NO_GROUP, Cohort, stream
from pipeline.simulate.items import answer_codes, item_offsets, observed_score
from pipeline.simulate.model import Model, outcome_latent, rating_latent, rows_to_people
from pipeline.simulate.sessions import DAYS_PER_MONTH
from pipeline.simulate.text import COMMENTS, pick


def _standardiser(values: np.ndarray, programme: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre = np.zeros(len(values))
    spread = np.ones(len(values))
    for p in np.unique(programme):
        mine = programme == p
        centre[mine] = values[mine].mean()
        spread[mine] = values[mine].std() or 1.0
    return centre, spread


def build_waves(
    cfg: SimulationConfig,
    cohort: Cohort,
    model: Model,
    wave_instruments: dict[str, list[str]],
    wave_months: dict[str, float],
    order: np.ndarray | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Draw every wave's answers and who gives them.

    Parameters
    ----------
    cfg : SimulationConfig
        The configuration.
    cohort : Cohort
        The participants.
    model : Model
        Person and group draws, implementation effects included.
    wave_instruments : dict
        Wave -> the instruments its questionnaire holds.
    wave_months : dict
        Wave -> months after the start.
    order : numpy.ndarray, optional
        When people were moved between rows by a selection mechanism (row ``k`` holds the
        person drawn as row ``order[k]``): the waves' random draws follow the person, not the
        row, so that the baseline answers are those the selection saw.

    Returns
    -------
    tuple
        Wave -> responses (one row per response: ``participant``, ``submitted``,
        ``duration``, ``comment`` and item columns; rating instruments are empty for the
        comparison cohort), and wave -> the latent outcome scores of every participant
        (one column per outcome scale: the truth the items were drawn from).
    """
    if order is None:
        return _build_waves(cfg, cohort, model, wave_instruments, wave_months)
    inv = np.argsort(order)  # person j sits in row inv[j]
    people = cohort.people.iloc[inv].reset_index(drop=True)
    by_person = Cohort(people=people, groups=cohort.groups, coaches=cohort.coaches)
    waves, latents = _build_waves(cfg, by_person, rows_to_people(model, inv), wave_instruments, wave_months)
    for wave, frame in waves.items():
        frame["participant"] = inv[frame["participant"].to_numpy()]
        waves[wave] = frame.sort_values(["submitted", "participant"], kind="stable").reset_index(drop=True)
    return waves, {wave: latent.iloc[order].reset_index(drop=True) for wave, latent in latents.items()}


def wave_answers(
    cfg: SimulationConfig,
    model: Model,
    wave: str,
    month: float,
    instruments: list[str],
    group: np.ndarray,
    arm: np.ndarray,
    programme: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.random.Generator]:
    """Return one wave's latent outcomes and item answers of everyone, and the wave's stream (drawn so far).

    ``programme`` (per person) places the planted non-invariant items (``items.shifts``).
    """
    rng = stream(cfg.seed, f"wave/{wave}")
    latent = {
        scale_id: outcome_latent(
            outcome,
            month,
            cfg.design.short_term_months,
            model.leave_months,
            stream(cfg.seed, f"wave/{wave}/{scale_id}"),
        )
        for scale_id, outcome in model.outcomes.items()
    }
    items: dict[str, np.ndarray] = {}
    for inst_id in instruments:
        items.update(_instrument_answers(cfg, model, model.instruments[inst_id], latent, group, arm, rng, programme))
    return latent, items, rng


def _build_waves(
    cfg: SimulationConfig,
    cohort: Cohort,
    model: Model,
    wave_instruments: dict[str, list[str]],
    wave_months: dict[str, float],
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    people = cohort.people
    n = len(people)
    programme = people["programme"].to_numpy()
    arm = people["intervisie"].to_numpy()
    group = people["group"].to_numpy()
    r = cfg.response
    burnout = model.outcomes[r.burnout_scale]
    burnout_inst = model.instruments[burnout.geom.instrument]
    centre, spread = _standardiser(burnout.base, programme)
    last_observed = np.full(n, np.nan)
    waves: dict[str, pd.DataFrame] = {}
    latents: dict[str, pd.DataFrame] = {}
    for wave in sorted(wave_instruments, key=lambda w: wave_months[w]):
        month = wave_months[wave]
        latent, items, rng = wave_answers(cfg, model, wave, month, wave_instruments[wave], group, arm, programme)
        latents[wave] = pd.DataFrame(latent)
        current_burnout = latent[r.burnout_scale]
        z_obs = np.nan_to_num((last_observed - centre) / spread)
        z_cur = (current_burnout - centre) / spread
        left = model.leave_months <= month
        logit = (
            r.logit_intercept[wave]
            + r.last_observed_burnout * z_obs
            + r.current_burnout * z_cur
            + r.left_intervisie * left
            + r.comparison * (~arm)
        )
        answers = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
        who = np.flatnonzero(answers)
        offset_days = rng.uniform(-21, 0, len(who)) if month == 0 else rng.uniform(0, 35, len(who))
        day = people["start"].to_numpy()[who] + np.round(month * DAYS_PER_MONTH + offset_days).astype("timedelta64[D]")
        seconds = rng.integers(7 * 3600, 23 * 3600, len(who)).astype("timedelta64[s]")
        n_items = len(items)
        frame = pd.DataFrame(
            {
                "participant": who,
                "submitted": day + seconds,
                "duration": np.round(rng.lognormal(np.log(240 + 9 * n_items), 0.45, len(who))).astype(np.int64),
                "comment": pick(rng, COMMENTS, len(who), r.free_text_rate),
            }
        )
        frame = pd.concat([frame, pd.DataFrame({k: v[who] for k, v in items.items()})], axis=1)
        observed = _observed_scores(frame, burnout_inst, burnout.geom.scale)
        last_observed[who] = np.where(np.isnan(observed), last_observed[who], observed)
        waves[wave] = frame.sort_values(["submitted", "participant"], kind="stable").reset_index(drop=True)
    return waves, latents


def _instrument_answers(
    cfg: SimulationConfig,
    model: Model,
    inst: Instrument,
    outcome_latents: dict[str, np.ndarray],
    group: np.ndarray,
    arm: np.ndarray,
    rng: np.random.Generator,
    programme: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    geoms = [o.geom for o in model.outcomes.values() if o.geom.instrument == inst.id]
    geoms += [r.geom for r in model.ratings.values() if r.geom.instrument == inst.id]
    rated = group != NO_GROUP
    latent = {g.scale: outcome_latents[g.scale] for g in geoms if g.scale in outcome_latents}
    for geom in geoms:
        if geom.scale in model.ratings:
            person = np.arange(len(group))
            latent[geom.scale] = rating_latent(model.ratings[geom.scale], np.where(rated, group, 0), person, rng)
    offsets = item_offsets(stream(cfg.seed, f"offsets/{inst.id}"), inst, geoms, cfg.items.offset_sd)
    shifts = {
        shift.item: np.where(programme == shift.programme, shift.steps, 0.0)
        for shift in cfg.items.shifts
        if programme is not None and shift.item in inst.item_ids()
    }
    codes = answer_codes(rng, inst, geoms, latent, offsets, cfg.items.noise_sd, shifts)
    if all(g.scale in model.ratings for g in geoms):  # a group rating: only members can answer it
        codes = {k: np.where(rated & arm, v, np.nan) for k, v in codes.items()}
    return {item.id: codes[item.id] for item in inst.items}


def _observed_scores(frame: pd.DataFrame, inst: Instrument, scale_id: str) -> np.ndarray:
    if frame.empty:
        return np.zeros(0)
    return observed_score({i: frame[i].to_numpy(dtype=float) for i in inst.item_ids()}, inst, scale_id)
