"""Short-term effects and reliability tables of a study, built from the statistics modules.

Pure functions from canonical tables to tidy result tables; the stage (``intervisie.stages.common``)
reads and writes.  Per outcome scale and group: within-person change (Hedges' g_av), the
difference in change between the arms (Hedges' g), the Jacobson-Truax reliable-change shares
and the standardised response mean (responsiveness).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyses.change import hedges_g, hedges_g_change, standardised_response_mean
from analyses.data import change_table
from analyses.reliability import reliability_table
from analyses.reliable_change import reliable_change_shares
from pipeline.instruments import Instrument
from pipeline.itemtable import instrument_tables
from pipeline.scoring import scored_values

MIN_GROUP = 3  # fewer people than this in a group: no change statistics for it


def scored_items(wide: pd.DataFrame, inst: Instrument, design: pd.DataFrame) -> pd.DataFrame:
    """Return one instrument's items scored in the scale's direction, with wave and programme beside them.

    ``wide`` is the response x item table of answer codes; ``design`` gives ``wave`` and
    ``programme`` per ``response_id``.
    """
    by_item = {item.id: item for item in inst.items}
    scored = pd.DataFrame(
        {
            i: scored_values(wide[i].to_numpy(), inst.response_set_of(by_item[i]), reverse=by_item[i].reverse)
            for i in wide.columns
        },
        index=wide.index,
    )
    return scored.join(design, how="left").reset_index(drop=True)


def reliability_results(
    item_responses: pd.DataFrame,
    responses: pd.DataFrame,
    participants: pd.DataFrame,
    instruments: dict[str, Instrument],
    *,
    threshold: float,
) -> pd.DataFrame:
    """Alpha, omega and item-rest correlations per scale, wave and programme (and all programmes)."""
    programme = participants.astype({"participant": str}).set_index("participant")["programme"]
    design = responses.set_index("response_id")[["participant", "wave"]].astype({"participant": str})
    design = pd.DataFrame(
        {"wave": design["wave"].astype(str), "programme": design["participant"].map(programme).astype(str)}
    )
    parts = []
    for inst, wide in instrument_tables(item_responses, instruments):
        items = scored_items(wide, inst, design)
        scales = {s.id: s.items for s in inst.scales}
        by = ["wave", "programme"] if inst.occasion == "wave" else ["programme"]
        overall = items.assign(programme="all")
        table = reliability_table(
            pd.concat([items, overall], ignore_index=True), scales=scales, by=by, threshold=threshold
        )
        parts.append(table.assign(instrument=inst.id))
    table = pd.concat(parts, ignore_index=True)
    if "wave" not in table:
        table["wave"] = np.nan
    first = ["instrument", "scale", "wave", "programme"]
    return table[first + [c for c in table.columns if c not in first]]


def _groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """All participants of an arm, then each programme separately."""
    out = [("all", frame)]
    out += [(str(p), part) for p, part in frame.groupby("programme", sort=True)]
    return out


def change_results(
    scores: pd.DataFrame,
    reliability: pd.DataFrame,
    *,
    scales: list[str],
    baseline: str,
    short_term: str,
    directions: dict[str, bool],
) -> dict[str, pd.DataFrame]:
    """Within-arm change, between-arm difference, reliable change and responsiveness per scale.

    ``reliability`` is the reliability table; the baseline alpha of all programmes together is
    the :math:`r_{xx}` of the reliable change index.  ``directions`` says per scale whether a
    higher score is better (reliable improvement means up, or down).
    """
    within, between, shares, srm = [], [], [], []
    base_alpha = reliability[(reliability["wave"].astype(str) == baseline) & (reliability["programme"] == "all")]
    alpha = base_alpha.set_index("scale")["alpha"]
    for scale in scales:
        pairs = change_table(scores, scale=scale, pre=baseline, post=short_term)
        if pairs.empty:
            continue
        pairs["change"] = pairs["post"] - pairs["pre"]
        for arm, arm_part in pairs.groupby("arm", sort=True):
            for programme, part in _groups(arm_part):
                if len(part) < MIN_GROUP:
                    continue
                key = {"outcome": scale, "arm": arm, "programme": programme}
                within.append(pd.concat([pd.DataFrame([key]), hedges_g_change(part, pre="pre", post="post")], axis=1))
                srm.append(
                    pd.concat([pd.DataFrame([key]), standardised_response_mean(part, pre="pre", post="post")], axis=1)
                )
        for programme, part in _groups(pairs):
            if part["arm"].nunique() == 2 and part["arm"].value_counts().min() >= MIN_GROUP:
                g = hedges_g(part, dv="change", between="arm", levels=["intervisie", "comparison"])
                between.append(pd.concat([pd.DataFrame([{"outcome": scale, "programme": programme}]), g], axis=1))
        if scale in alpha and np.isfinite(alpha[scale]):
            table = reliable_change_shares(
                pairs,
                pre="pre",
                post="post",
                reliability=float(alpha[scale]),
                by=["arm", "programme"],
                higher_is_better=directions[scale],
            )
            overall = reliable_change_shares(
                pairs,
                pre="pre",
                post="post",
                reliability=float(alpha[scale]),
                by=["arm"],
                higher_is_better=directions[scale],
            ).assign(programme="all")
            shares.append(
                pd.concat([overall, table], ignore_index=True).assign(scale=scale, reliability=float(alpha[scale]))
            )

    def stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    return {
        "within_change": stack(within),
        "between_arms": stack(between),
        "reliable_change": stack(shares),
        "responsiveness": stack(srm),
    }
