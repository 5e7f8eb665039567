"""Small synthetic studies in the canonical form, for the designs the analysis stages must survive.

:func:`write_study` writes ``participants``, ``responses``, ``scale_scores``, ``item_responses``,
``groups`` and (optionally) ``sessions`` and ``attendance`` parquet tables plus ``design.json``
into a directory, for a design chosen by keyword: programmes, comparison arm or not, the
waves' months, groups or not, ratings or not, session log/attendance or not, leaving dates or
not, one or two meeting formats.  Outcomes: ``cbi_work`` (0-100, caseness >= 50) and ``brs``
(1-5).  The planted truths (documented per keyword) let tests check what is estimated, not
only that nothing crashes.

Model (per participant i in group g, wave months m, short = min(m, knot) / knot):

``cbi_work = cbi_mean + 10 u_i + 4 v_g + (-6 + SHORT_MOD * cq_g) * short * intervisie + e``, ``e ~ N(0, 5)``,

with ``cq_g ~ N(0, 1)`` the group's true coach quality (written to ``../truth.parquet``); members rate coach quality
(session ratings) around ``3 + 0.6 cq_g``.  Leaving: exponential with ``leave_rate`` per year.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.design import Design, ScaleInfo, scale_info
from pipeline.instruments import load_library
from tests.design_factory import make_test_design

ROOT = Path(__file__).parents[1]
#: the planted moderation of the short-term change of cbi_work per SD of the group's coach quality
SHORT_MOD = -4.0
RATINGS = {"coach_quality": "coach_quality", "safety": "psysafety", "structure": "session_structure"}


def _scales() -> dict[str, ScaleInfo]:
    return {scale.id: scale_info(inst, scale) for inst in load_library(ROOT / "instruments").values() for scale in inst.scales}


def write_study(
    out: Path,
    *,
    seed: int = 1,
    programmes: tuple[str, ...] = ("p1",),
    n_groups: int = 6,
    group_size: int | tuple[int, ...] = 6,
    n_comparison: int = 30,
    months: tuple[float, ...] = (0, 3, 12),
    groups: bool = True,
    ratings: bool = True,
    sessions: bool = True,
    attendance: bool = True,
    leaving_dates: bool = True,
    formats: tuple[str, ...] = ("in_person", "online"),
    methods: tuple[str, ...] = ("methode a", "methode b"),
    leave_rate: float = 0.3,
    primary: tuple[str, ...] = ("cbi_work", "brs"),
    cutoffs: bool = True,
    cbi_mean: float = 42.0,
) -> Design:
    """Write one synthetic study's canonical tables and ``design.json`` into ``out``; return the design."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    knot = months[1]
    waves = [f"w{i}" for i in range(len(months))]
    start0 = pd.Timestamp("2025-01-06")
    # -- people and groups --------------------------------------------------------------------
    rows = []
    cq = rng.normal(size=n_groups)
    sizes = group_size if isinstance(group_size, tuple) else (group_size,) * n_groups
    for g in range(n_groups):
        for _k in range(sizes[g]):
            rows.append({"arm": "intervisie", "g": g, "programme": programmes[g % len(programmes)]})
    for k in range(n_comparison if n_comparison else 0):
        rows.append({"arm": "comparison", "g": -1, "programme": programmes[k % len(programmes)]})
    people = pd.DataFrame(rows)
    n = len(people)
    people["participant"] = [f"P{i:04d}" for i in range(n)]
    member = people["g"] >= 0
    people["group"] = np.where(member, "G" + people["g"].astype(str).str.zfill(2), None)
    people["coach"] = np.where(member, "C" + (people["g"] % 3).astype(str), None)
    fmt = np.array([formats[g % len(formats)] if formats else None for g in range(n_groups)], dtype=object)
    people["format"] = np.where(member, fmt[people["g"].clip(lower=0)], None)
    people["start_date"] = start0 + pd.to_timedelta(rng.integers(0, 30, n), unit="D")
    years = rng.exponential(1 / leave_rate, n) if leave_rate > 0 else np.full(n, np.inf)
    end = people["start_date"] + pd.to_timedelta(np.minimum(years, 50) * 365.25, unit="D")
    people["end_date"] = pd.Series(end).where(member & (years * 12 < max(months)) & leaving_dates)
    participants = people[["participant", "programme", "arm", "group", "coach", "format", "start_date", "end_date"]]
    if not groups:
        participants = participants.assign(group=None, coach=None)
    participants = participants.astype(
        {c: "string" for c in ["participant", "programme", "arm", "group", "coach", "format"]}
    )
    participants.to_parquet(out / "participants.parquet")
    grp = people[member].groupby("group").agg(programme=("programme", "first"), coach=("coach", "first"),
                                               format=("format", "first"), n_members=("participant", "size"),
                                               start_date=("start_date", "min")).reset_index()
    (grp if groups else grp.iloc[:0]).to_parquet(out / "groups.parquet")
    # -- wave scores ---------------------------------------------------------------------------
    u, v = rng.normal(size=n), rng.normal(size=n_groups)
    g_idx = people["g"].to_numpy()
    cq_i = np.where(member, cq[g_idx.clip(min=0)], 0.0)
    v_i = np.where(member, v[g_idx.clip(min=0)], 0.0)
    responses, scores, items = [], [], []
    rid = 0
    for w, m in zip(waves, months, strict=True):
        short = min(m, knot) / knot
        effect = (-6 + SHORT_MOD * cq_i) * short * member
        cbi = np.clip(cbi_mean + 10 * u + 4 * v_i + effect + rng.normal(0, 5, n), 0, 100)
        brs = np.clip(3.4 - 0.03 * (cbi - 42) + rng.normal(0, 0.3, n), 1, 5)
        for i in range(n):
            rid += 1
            responses.append({"response_id": rid, "participant": people["participant"][i], "occasion": "wave",
                              "wave": w, "months": float(m), "session": None})
            for scale, inst, value in (("cbi_work", "cbi", cbi[i]), ("brs", "brs", brs[i])):
                scores.append({"response_id": rid, "participant": people["participant"][i], "wave": w,
                               "session": None, "instrument": inst, "scale": scale, "score": float(value),
                               "score_status": "ok"})
            if ratings and member[i] and m > 0:  # psychological safety at the follow-up waves
                answers = np.clip(np.round(4 + 0.8 * cq_i[i] + rng.normal(0, 1, 7)), 1, 7)
                items += [{"response_id": rid, "instrument": "psysafety", "item": f"psysafety_{j + 1}",
                           "response": float(a), "response_status": "answered"} for j, a in enumerate(answers)]
                scores.append({"response_id": rid, "participant": people["participant"][i], "wave": w,
                               "session": None, "instrument": "psysafety", "scale": "psysafety",
                               "score": float(answers.mean()), "score_status": "ok"})
    # -- sessions, attendance and session ratings ----------------------------------------------
    session_rows, attend = [], []
    for g in range(n_groups):
        for k in range(6):
            sid = f"S{g:02d}{k}"
            date = start0 + pd.Timedelta(days=30 + 21 * k)
            session_rows.append({"session": sid, "group": f"G{g:02d}", "date": date, "duration_hours": 1.5,
                                 "method": methods[(g + (k % 2 == 0 and g % 3 == 0)) % len(methods)] if methods
                                 else None, "cases_discussed": 2.0})
            for i in np.flatnonzero(g_idx == g):
                came = bool(rng.random() < 0.8)
                attend.append({"session": sid, "participant": people["participant"][i], "attended": came})
                if ratings and came:
                    rid += 1
                    responses.append({"response_id": rid, "participant": people["participant"][i],
                                      "occasion": "session", "wave": None, "months": np.nan, "session": sid})
                    for scale, k_items in (("coach_quality", 6), ("session_structure", 5)):
                        answers = np.clip(np.round(3 + 0.6 * cq[g] + rng.normal(0, 0.8, k_items)), 1, 5)
                        items += [{"response_id": rid, "instrument": scale, "item": f"{scale}_{j + 1}",
                                   "response": float(a), "response_status": "answered"}
                                  for j, a in enumerate(answers)]
                        scores.append({"response_id": rid, "participant": people["participant"][i], "wave": None,
                                       "session": sid, "instrument": scale, "scale": scale,
                                       "score": float(answers.mean()), "score_status": "ok"})
    pd.DataFrame(responses).astype({"participant": "string", "wave": "string", "session": "string"}).to_parquet(
        out / "responses.parquet")
    pd.DataFrame(scores).astype({"participant": "string", "wave": "string", "session": "string",
                                 "scale": "string"}).to_parquet(out / "scale_scores.parquet")
    item_table = pd.DataFrame(items, columns=["response_id", "instrument", "item", "response", "response_status"])
    item_table.to_parquet(out / "item_responses.parquet")
    if sessions and groups:
        pd.DataFrame(session_rows).astype({"method": "string"}).to_parquet(out / "sessions.parquet")
    if attendance and groups:
        pd.DataFrame(attend).to_parquet(out / "attendance.parquet")
    # -- the design ----------------------------------------------------------------------------
    design = make_test_design(
        waves=dict(zip(waves, months, strict=True)), programmes=programmes, comparison=bool(n_comparison),
        scales=_scales(), primary=primary, wave_label=lambda _w, m: (f"{m:g} mnd", f"{m:g} months"),
        ratings=RATINGS if ratings else None, title="synthetic",
        data={"groups": groups, "coaches": groups, "format": len(formats) > 0, "leaving_dates": leaving_dates,
              "sessions": sessions and groups, "attendance": attendance and groups, "session_surveys": ratings},
    )  # fmt: skip
    if not cutoffs:
        design = design.model_copy(
            update={"scales": {k: v.model_copy(update={"cutoffs": []}) for k, v in design.scales.items()}}
        )
    (out / "design.json").write_text(design.to_json(), encoding="utf-8")
    pd.DataFrame({"group": [f"G{g:02d}" for g in range(n_groups)], "coach_quality": cq}).to_parquet(
        out.parent / "truth.parquet")
    return design
