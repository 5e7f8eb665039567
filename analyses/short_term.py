"""Short-term effects and reliability tables of a study, built from the statistics modules.

Pure functions from canonical tables to tidy result tables; the stage (``intervisie.stages.common``)
reads and writes.  Per outcome scale and group: within-person change (Hedges' g_av), the
difference in change between the arms (Hedges' g), the Jacobson-Truax reliable-change shares
and the standardised response mean (responsiveness).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from analyses.change import hedges_g, hedges_g_change, standardised_response_mean
from analyses.data import change_table
from analyses.parallel import map_ordered
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
    workers: int = 1,
) -> pd.DataFrame:
    """Alpha, omega and item-rest correlations per scale, wave and programme (and all programmes).

    ``workers``: processes the instruments are computed in (:func:`analyses.parallel.map_ordered`).
    """
    programme = participants.astype({"participant": str}).set_index("participant")["programme"]
    design = responses.set_index("response_id")[["participant", "wave"]].astype({"participant": str})
    design = pd.DataFrame(
        {"wave": design["wave"].astype(str), "programme": design["participant"].map(programme).astype(str)}
    )
    task = partial(_instrument_reliability, design=design, threshold=threshold)
    parts = map_ordered(task, instrument_tables(item_responses, instruments), workers=workers)
    first = ["instrument", "scale", "wave", "programme"]
    if not parts:  # no item responses of any instrument in the library: the header only
        rest = ["n", "k", "alpha", "ci95_low", "ci95_high", "omega_total", "min_r_item_rest", "weakest_item",
                "flag_below_threshold", "note"]
        return pd.DataFrame(columns=first + rest)
    table = pd.concat(parts, ignore_index=True)
    if "wave" not in table:
        table["wave"] = np.nan
    return table[first + [c for c in table.columns if c not in first]]


def _instrument_reliability(table: tuple[Instrument, pd.DataFrame], *, design: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The reliability rows of one instrument's item table (see :func:`reliability_results`)."""
    inst, wide = table
    items = scored_items(wide, inst, design)
    scales = {s.id: s.items for s in inst.scales}
    by = ["wave", "programme"] if inst.occasion == "wave" else ["programme"]
    overall = items.assign(programme="all")
    rows = reliability_table(pd.concat([items, overall], ignore_index=True), scales=scales, by=by, threshold=threshold)
    return rows.assign(instrument=inst.id)


def _groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """All participants of an arm, then each programme separately."""
    out = [("all", frame)]
    out += [(str(p), part) for p, part in frame.groupby("programme", sort=True)]
    return out


def _columns(statistic: Callable[..., pd.DataFrame], **kwargs: str) -> list[str]:
    """The columns a statistic returns (it returns a not-estimable row for no data)."""
    empty = pd.DataFrame({"pre": pd.Series(dtype=float), "post": pd.Series(dtype=float),
                          "change": pd.Series(dtype=float), "arm": pd.Series(dtype=str)})
    return list(statistic(empty, **kwargs).columns)


#: the columns of each result table (written with their header even when no row can be estimated)
WITHIN_COLUMNS = ["outcome", "arm", "programme", *_columns(hedges_g_change, pre="pre", post="post")]
BETWEEN_COLUMNS = ["outcome", "programme", *_columns(hedges_g, dv="change", between="arm", levels=["a", "b"])]
SRM_COLUMNS = ["outcome", "arm", "programme", *_columns(standardised_response_mean, pre="pre", post="post")]
RELIABLE_COLUMNS = ["arm", "programme", "category", "count", "n", "share", "ci95_low", "ci95_high", "scale",
                    "reliability"]


def _small(key: dict, n: int, columns: list[str], what: str) -> pd.DataFrame:
    note = f"not estimable: {n} {what}; at least {MIN_GROUP} are needed"
    return pd.DataFrame([{**key, "n": n, "note": note}]).reindex(columns=columns)


def _within(scale: str, pairs: pd.DataFrame) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """Within-arm change and responsiveness rows of one scale, per arm x (all + each programme)."""
    within, srm = [], []
    for arm, arm_part in pairs.groupby("arm", sort=True):
        for programme, part in _groups(arm_part):
            key = {"outcome": scale, "arm": arm, "programme": programme}
            if len(part) < MIN_GROUP:
                within.append(_small(key, len(part), WITHIN_COLUMNS, "participant(s) with both waves"))
                srm.append(_small(key, len(part), SRM_COLUMNS, "participant(s) with both waves"))
                continue
            within.append(pd.concat([pd.DataFrame([key]), hedges_g_change(part, pre="pre", post="post")], axis=1))
            srm.append(pd.concat([pd.DataFrame([key]), standardised_response_mean(part, pre="pre", post="post")],
                                 axis=1))
    return within, srm


def _between(scale: str, pairs: pd.DataFrame, arms: tuple[str, str]) -> list[pd.DataFrame]:
    """Between-arm rows of one scale: all programmes, then each programme."""
    rows = []
    for programme, part in _groups(pairs):
        counts = part["arm"].value_counts()
        key = {"outcome": scale, "programme": programme, "level_a": arms[0], "level_b": arms[1],
               "n_a": int(counts.get(arms[0], 0)), "n_b": int(counts.get(arms[1], 0))}
        if min(key["n_a"], key["n_b"]) < MIN_GROUP:
            note = (f"not estimable: {key['n_a']} {arms[0]} and {key['n_b']} {arms[1]} participant(s) with both "
                    f"waves; at least {MIN_GROUP} per arm are needed")
            rows.append(pd.DataFrame([{**key, "note": note}]).reindex(columns=BETWEEN_COLUMNS))
            continue
        g = hedges_g(part, dv="change", between="arm", levels=list(arms))
        rows.append(pd.concat([pd.DataFrame([{"outcome": scale, "programme": programme}]), g], axis=1))
    return rows


def _reliable(
    scale: str, pairs: pd.DataFrame, alpha: float, higher_is_better: bool
) -> tuple[pd.DataFrame | None, str | None]:
    """Reliable-change shares of one scale per arm (all programmes, and each), or the reason there are none."""
    try:
        kwargs = {"pre": "pre", "post": "post", "reliability": alpha, "higher_is_better": higher_is_better}
        table = reliable_change_shares(pairs, by=["arm", "programme"], **kwargs)
        overall = reliable_change_shares(pairs, by=["arm"], **kwargs).assign(programme="all")
    except ValueError as exc:
        return None, f"not estimable: {exc}"
    shares = pd.concat([overall, table], ignore_index=True).assign(scale=scale, reliability=alpha)
    return shares.reindex(columns=RELIABLE_COLUMNS), None


def change_results(
    scores: pd.DataFrame,
    reliability: pd.DataFrame,
    *,
    scales: list[str],
    baseline: str,
    short_term: str,
    directions: dict[str, bool],
    arms: tuple[str, str] = ("intervisie", "comparison"),
) -> tuple[dict[str, pd.DataFrame], list[dict[str, str]]]:
    """Within-arm change, between-arm difference, reliable change and responsiveness per scale.

    ``reliability`` is the reliability table; the baseline alpha of all programmes together is
    the :math:`r_{xx}` of the reliable change index.  ``directions`` says per scale whether a
    higher score is better (reliable improvement means up, or down).  ``arms`` is the contrast
    of the between-arm table (first minus second).

    Returns the four tables (``within_change``, ``between_arms``, ``reliable_change``,
    ``responsiveness``; always with their columns, possibly no rows) and the analyses left out,
    each a dict with ``analysis``, ``outcome`` and ``reason`` (for ``skipped.csv``). A group
    with fewer than :data:`MIN_GROUP` people, tied scores or no variance is a row with NaN and
    a ``note``; a single-arm study gets no between-arm rows and a skipped entry saying why.
    """
    within, between, shares, srm = [], [], [], []
    skipped: list[dict[str, str]] = []
    base_alpha = reliability[(reliability["wave"].astype(str) == baseline) & (reliability["programme"] == "all")]
    alpha = base_alpha.set_index("scale")["alpha"]
    for scale in scales:
        pairs = change_table(scores, scale=scale, pre=baseline, post=short_term)
        if pairs.empty:
            skipped.append({"analysis": "short-term change", "outcome": scale,
                            "reason": f"no participant has both a {baseline} and a {short_term} score"})
            continue
        pairs["change"] = pairs["post"] - pairs["pre"]
        rows_within, rows_srm = _within(scale, pairs)
        within += rows_within
        srm += rows_srm
        present = set(pairs["arm"])
        missing = [a for a in arms if a not in present]
        if missing:
            reason = (f"no {' or '.join(missing)} participants with both waves: the difference between arms "
                      "cannot be estimated")
            if arms[1] in missing:
                reason = "no comparison cohort: the difference between arms cannot be estimated"
            skipped.append({"analysis": "difference in change between arms", "outcome": scale, "reason": reason})
        else:
            between += _between(scale, pairs, arms)
        if scale not in alpha or not np.isfinite(alpha[scale]):
            skipped.append({"analysis": "reliable change", "outcome": scale,
                            "reason": f"no baseline alpha of {scale} for all programmes (reliability table): "
                                      "the reliable change index needs it"})
            continue
        table, reason = _reliable(scale, pairs, float(alpha[scale]), directions[scale])
        if table is None:
            skipped.append({"analysis": "reliable change", "outcome": scale, "reason": str(reason)})
        else:
            shares.append(table)

    def stack(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
        if not parts:
            return pd.DataFrame(columns=columns)
        return pd.concat([p.reindex(columns=columns) for p in parts], ignore_index=True)

    tables = {
        "within_change": stack(within, WITHIN_COLUMNS),
        "between_arms": stack(between, BETWEEN_COLUMNS),
        "reliable_change": stack(shares, RELIABLE_COLUMNS),
        "responsiveness": stack(srm, SRM_COLUMNS),
    }
    return tables, skipped
