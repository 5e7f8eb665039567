"""Small synthetic studies in the canonical form, for any design (test helper, not a test module).

:func:`write_study` writes ``participants``, ``responses`` and ``scale_scores`` parquet tables and
``design.json`` to a directory, for one or two arms, any waves and programmes, with scores whose
true change is known: ``score = base + change * (wave is after baseline) + noise``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.design import Design, ScaleInfo
from tests.design_factory import make_test_design

SCALES = {
    "brs": ScaleInfo(id="brs", instrument="brs", name_nl="Veerkracht (BRS)", name_en="Resilience (BRS)",
                     higher_is_better=True, occasion="wave", min=1.0, max=5.0),
    "cbi_work": ScaleInfo(id="cbi_work", instrument="cbi", name_nl="Werk (CBI)", name_en="Work (CBI)",
                          higher_is_better=False, occasion="wave", min=0.0, max=100.0),
}  # fmt: skip


def small_design(
    *, waves: dict[str, float], programmes: list[str], arms: list[str], short_term: str | None = None
) -> Design:
    """A design with these waves (id -> months), programmes and arms, BRS and CBI work as outcomes."""
    return make_test_design(
        waves=waves, programmes=programmes, comparison="comparison" in arms, scales=SCALES,
        primary=["brs", "cbi_work"], short_term=short_term, data={"format": True}, study_id="small",
        title="small synthetic study",
    )  # fmt: skip


def write_study(
    clean: Path,
    design: Design,
    *,
    n: dict[tuple[str, str], int],
    change: dict[str, float],
    seed: int = 1,
    noise: float = 0.3,
    dropout: float = 0.0,
    group_size: int = 5,
) -> pd.DataFrame:
    """Write a study of ``n[(arm, programme)]`` people to ``clean``; return the long scores written.

    ``change[arm]`` is the true change (score units of BRS; CBI changes 10 times as much the
    other way). ``noise`` 0 makes every change within an arm identical (tied change scores, up to
    floating-point rounding). ``dropout`` is the share missing each later wave. Intervisie
    participants are in groups of ``group_size``; comparison participants in none.
    """
    rng = np.random.default_rng(seed)
    clean.mkdir(parents=True, exist_ok=True)
    people, responses, scores = [], [], []
    rid = 0
    for (arm, programme), count in n.items():
        for k in range(count):
            pid = f"{arm[:3]}-{programme}-{k}"
            group = f"g-{programme}-{k // group_size}" if arm == "intervisie" else None
            people.append({"participant": pid, "group": group, "coach": None if group is None else "c1",
                           "programme": programme, "arm": arm, "format": "in_person"})
            base = {"brs": 3 + rng.normal(0, 0.5), "cbi_work": 45 + rng.normal(0, 10)}
            for j, wave in enumerate(design.waves):
                if j > 0 and rng.random() < dropout:
                    continue
                rid += 1
                responses.append({"response_id": rid, "participant": pid, "occasion": "wave", "wave": wave.id,
                                  "months": wave.months})
                for scale, value in base.items():
                    step = change[arm] * (1 if scale == "brs" else -10) * (j > 0)
                    scores.append({"response_id": rid, "participant": pid, "wave": wave.id, "scale": scale,
                                   "score": round(value, 4) + step + rng.normal(0, noise) * (scale == "brs" or 10),
                                   "score_status": "ok"})
    pd.DataFrame(people).to_parquet(clean / "participants.parquet")
    pd.DataFrame(responses).to_parquet(clean / "responses.parquet")
    frame = pd.DataFrame(scores)
    frame.to_parquet(clean / "scale_scores.parquet")
    (clean / "design.json").write_text(design.to_json(), encoding="utf-8")
    return frame
