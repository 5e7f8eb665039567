"""Small synthetic studies of any design, in the canonical form, with their ``design.json``.

:func:`make_design` builds a :class:`~pipeline.design.Design` directly (two arms or one, any
waves, any programmes); :func:`simulate` draws canonical tables whose truth is known:

``z = person + group + change(t) + N(0, 0.5^2)``, score = ``mean + sd * sign * z`` per scale,
with ``change(t) = comparison_short * short + comparison_long * long`` for everyone and
``effect_short * short + effect_long * long`` added for intervisie (SD units). ``short``/``long``
follow :func:`analyses.data.piecewise_time` with the knot at the short-term wave.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analyses.data import piecewise_time
from pipeline.design import Design, ScaleInfo
from tests.design_factory import make_test_design

ROOT = Path(__file__).parents[1]
#: scale -> (mean, SD, sign of a benefit, higher_is_better)
SCALES = {"brs": (3.5, 0.6, 1.0, True), "cbi_work": (45.0, 15.0, -1.0, False), "uwes_vigour": (4.0, 1.0, 1.0, True)}


def make_design(
    *,
    waves: dict[str, float],
    programmes: list[str],
    comparison: bool,
    primary: list[str],
    secondary: list[str] | None = None,
    groups: bool = True,
    directions: dict[str, bool] | None = None,
) -> Design:
    """A design of the given waves (first = baseline, second = short-term), programmes and arms.

    ``directions`` gives scale id -> higher is better (default: the scales of :data:`SCALES`).
    """
    directions = directions or {s: spec[3] for s, spec in SCALES.items()}
    scales = {
        s: ScaleInfo(id=s, instrument=s, name_nl=f"{s} (NL)", name_en=f"{s} scale", higher_is_better=higher,
                     occasion="wave", min=0.0, max=100.0)
        for s, higher in directions.items()
    }
    return make_test_design(
        waves=waves, programmes=programmes, comparison=comparison, scales=scales, primary=primary,
        secondary=secondary or [], data={"groups": groups, "coaches": groups},
    )  # fmt: skip


def simulate(
    design: Design,
    *,
    n: int,
    seed: int,
    effect_short: float = 0.5,
    effect_long: float = 0.2,
    comparison_short: float = 0.1,
    comparison_long: float = 0.0,
    dropout: float = 0.15,
) -> dict[str, pd.DataFrame]:
    """Canonical participants, responses and scale_scores of ``n`` people (3/4 intervisie with a comparison)."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:04d}" for i in range(n)]
    treated = (np.arange(n) < (3 * n) // 4) if design.has_comparison else np.ones(n, dtype=bool)
    groups = np.array([f"G{i // 6:03d}" for i in range(n)], dtype=object)
    group = np.where(treated & design.data.groups, groups, None)
    programme = np.array(design.programme_ids)[np.arange(n) % len(design.programmes)]
    participants = pd.DataFrame(
        {
            "participant": ids,
            "programme": programme,
            "arm": np.where(treated, "intervisie", "comparison"),
            "group": pd.array(group, dtype="string"),
            "coach": pd.array(np.where(group != None, "C1", None), dtype="string"),  # noqa: E711
            "format": "in_person",
        }
    )
    group_sd = pd.Series(rng.normal(0, 0.2, n // 6 + 1), index=[f"G{i:03d}" for i in range(n // 6 + 1)])
    person = rng.normal(0, 0.8, n) + np.where(treated, group_sd.reindex(groups).to_numpy(), 0.0)
    responses, scores = [], []
    present = np.ones(n, dtype=bool)
    months = design.wave_months
    short, long = piecewise_time(np.array(list(months.values())), knot=design.knot_months)
    for w, wave in enumerate(months):
        if w:
            present &= rng.uniform(size=n) >= dropout
        for i in np.flatnonzero(present):
            rid = w * 100_000 + i
            responses.append({"response_id": rid, "participant": ids[i], "occasion": "wave", "wave": wave,
                              "months": months[wave]})
            change = comparison_short * short[w] + comparison_long * long[w]
            change += (effect_short * short[w] + effect_long * long[w]) * treated[i]
            for scale, (mean, sd, sign, _higher) in SCALES.items():
                z = person[i] + change + rng.normal(0, 0.5)
                scores.append({"response_id": rid, "participant": ids[i], "wave": wave, "scale": scale,
                               "score": mean + sd * sign * z, "score_status": "ok"})
    return {"participants": participants, "responses": pd.DataFrame(responses), "scale_scores": pd.DataFrame(scores)}


def write_study(root: Path, design: Design, tables: dict[str, pd.DataFrame], *, imputations: int = 5) -> tuple[Path, Path]:
    """Write the clean tables, ``design.json`` and a ``params.yaml``; return (clean dir, params path)."""
    clean = root / "clean"
    clean.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_parquet(clean / f"{name}.parquet", index=False)
    (clean / "design.json").write_text(design.to_json(), encoding="utf-8")
    analyses = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["analyses"]
    analyses["sensitivity"] = {"alpha": 0.05, "imputations": imputations, "seed": 5,
                               "delta_sd": [0.0, 0.25, 0.5, 0.75, 1.0], "plausible_delta_sd": 0.5}
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"analyses": analyses}), encoding="utf-8")
    return clean, params
