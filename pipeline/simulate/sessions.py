"""Sessions, attendance and the evaluations written after sessions.

Groups meet every ``session_interval_days`` (chosen per group; VBGA groups choose from a
wider range) for the follow-up period, each session moved by a little jitter and off the
weekend.  Every member is listed for each session until the day they leave; a listed
member attends with a personal probability (the *dose* varies per person).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.simulate.config import SimulationConfig
from pipeline.simulate.design import Cohort, stream
from pipeline.simulate.items import answer_codes, item_offsets
from pipeline.simulate.model import Model, rating_latent
from pipeline.simulate.text import METHOD_WEIGHTS, METHODS, REPORTS, TIPS, pick

DAYS_PER_MONTH = 365.25 / 12


def build_sessions(cfg: SimulationConfig, cohort: Cohort) -> pd.DataFrame:
    """Draw every group's sessions.

    Returns
    -------
    pandas.DataFrame
        One row per session: ``session_id``, ``group`` (row of ``cohort.groups``), ``date``,
        ``hours``, ``method``, ``cases``, ``report`` (free text, often empty).
    """
    rng = stream(cfg.seed, "sessions")
    groups = cohort.groups
    horizon = cfg.design.follow_up_months * DAYS_PER_MONTH
    parts = []
    for key, prog in cfg.design.programmes.items():
        mine = np.flatnonzero(groups["programme"].to_numpy() == key)
        if not len(mine):
            continue
        interval = rng.integers(prog.session_interval_days.min, prog.session_interval_days.max + 1, len(mine))
        most = int(np.ceil(horizon / max(prog.session_interval_days.min - prog.session_jitter_days, 7))) + 1
        steps = interval[:, None] + rng.integers(
            -prog.session_jitter_days, prog.session_jitter_days + 1, (len(mine), most)
        )
        steps[:, 0] = 0
        offset = np.cumsum(np.maximum(steps, 7), axis=1)
        rows, cols = np.nonzero(offset < horizon)
        hours = np.array(list(prog.session_hours), dtype=float)
        chance = np.array(list(prog.session_hours.values()), dtype=float)
        parts.append(
            pd.DataFrame(
                {
                    "group": mine[rows],
                    "number": cols + 1,
                    "offset": offset[rows, cols],
                    "hours": hours[rng.choice(len(hours), size=len(rows), p=chance / chance.sum())],
                }
            )
        )
    sessions = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({"group": [], "number": [], "offset": [], "hours": []})
    )
    n = len(sessions)
    start = groups["start"].to_numpy()[sessions["group"].to_numpy()]
    date = pd.DatetimeIndex(start + pd.to_timedelta(sessions["offset"].to_numpy(), unit="D"))
    weekday = date.dayofweek.to_numpy()
    date = date + pd.to_timedelta(np.select([weekday == 5, weekday == 6], [-1, 1], 0), unit="D")
    sessions["date"] = date
    width = max(2, len(str(int(sessions["number"].max()))) if n else 2)
    sessions["session_id"] = (
        groups["group_id"].to_numpy()[sessions["group"].to_numpy()].astype(str)
        + "-S"
        + pd.Series(sessions["number"]).astype(str).str.zfill(width).to_numpy()
    )
    sessions["method"] = METHODS[rng.choice(len(METHODS), size=n, p=METHOD_WEIGHTS / METHOD_WEIGHTS.sum())]
    sessions["cases"] = np.where(rng.random(n) < 0.6, 1, 2)
    sessions["report"] = pick(rng, REPORTS, n, 0.7)
    return (
        sessions.drop(columns=["offset", "number"]).sort_values(["group", "date"], kind="stable").reset_index(drop=True)
    )


def build_attendance(
    cfg: SimulationConfig, cohort: Cohort, sessions: pd.DataFrame, leave_months: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """List members per session until they leave, and draw who attended.

    Returns
    -------
    tuple
        The attendance table (``session`` row, ``participant`` row, ``attended``) and each
        participant's dose: the share of their listed sessions before the short-term wave
        (``short_term_months``) that they attended (0 when none was listed).
    """
    rng = stream(cfg.seed, "attendance")
    people, groups = cohort.people, cohort.groups
    n_people = len(people)
    a = cfg.attendance
    propensity = rng.beta(a.mean * a.concentration, (1 - a.mean) * a.concentration, n_people)
    group = sessions["group"].to_numpy()
    size = groups["size"].to_numpy()[group]
    session_row = np.repeat(np.arange(len(sessions)), size)
    block_start = np.repeat(np.cumsum(size) - size, size)
    person = np.repeat(groups["first_member"].to_numpy()[group], size) + np.arange(len(session_row)) - block_start
    start = people["start"].to_numpy()[person]
    days = (sessions["date"].to_numpy()[session_row] - start) / np.timedelta64(1, "D")
    listed = days < leave_months[person] * DAYS_PER_MONTH
    session_row, person, days = session_row[listed], person[listed], days[listed]
    attended = rng.random(len(person)) < propensity[person]
    early = days < cfg.design.short_term_months * DAYS_PER_MONTH
    held = np.bincount(person[early], minlength=n_people)
    went = np.bincount(person[early], weights=attended[early], minlength=n_people)
    dose = np.divide(went, held, out=np.zeros(n_people), where=held > 0)
    table = pd.DataFrame({"session": session_row, "participant": person, "attended": attended})
    return table, dose


def build_evaluations(
    cfg: SimulationConfig,
    cohort: Cohort,
    model: Model,
    sessions: pd.DataFrame,
    attendance: pd.DataFrame,
    instrument_ids: list[str],
) -> pd.DataFrame:
    """Draw the questionnaires attendees fill in after a session.

    Returns
    -------
    pandas.DataFrame
        One row per evaluation: ``participant``, ``session``, ``submitted``, ``comment`` and
        one column per item of ``instrument_ids`` (answer codes).
    """
    rng = stream(cfg.seed, "evaluations")
    came = attendance[attendance["attended"].to_numpy()]
    chosen = came[rng.random(len(came)) < cfg.response.evaluation_rate]
    person = chosen["participant"].to_numpy()
    session = chosen["session"].to_numpy()
    group = sessions["group"].to_numpy()[session]
    hours = 17 + rng.gamma(1.2, 16.0, len(person))
    submitted = sessions["date"].to_numpy()[session] + (hours * 60).astype("timedelta64[m]")
    frame = pd.DataFrame({"participant": person, "session": session, "submitted": submitted})
    for inst_id in instrument_ids:
        inst = model.instruments[inst_id]
        geoms = [r.geom for r in model.ratings.values() if r.geom.instrument == inst_id]
        latent = {g.scale: rating_latent(model.ratings[g.scale], group, person, rng) for g in geoms}
        offsets = item_offsets(stream(cfg.seed, f"offsets/{inst_id}"), inst, geoms, cfg.items.offset_sd)
        codes = answer_codes(rng, inst, geoms, latent, offsets, cfg.items.noise_sd)
        for item in inst.items:
            frame[item.id] = codes[item.id]
    frame["comment"] = pick(rng, TIPS, len(frame), cfg.response.free_text_rate)
    return frame.sort_values(["submitted", "participant"], kind="stable").reset_index(drop=True)
