"""Measurement invariance tables of a study: every multi-item outcome scale across programmes and across waves.

Pure functions from the canonical item-level tables to tidy result tables (the stage
``intervisie analyze invariance`` reads and writes).  Two comparisons per scale:

* **programmes** -- the baseline wave's responses, one group per programme;
* **waves** -- every wave's responses, one group per wave (baseline first).  The same people
  answer at several waves, so the groups are not independent: treating them as groups is a
  simplification of longitudinal invariance (which would model one person's answers over the
  waves jointly, with correlated residuals of the same item; Widaman, Ferrer & Conger 2010).
  The chi-square statistics of this comparison are therefore descriptive; the decision uses
  the changes in CFI and RMSEA (Chen 2007).

Items are treated as continuous and fitted by normal-theory ML: with five or more answer
categories ML on the item scores performs about as well as categorical estimators
(Rhemtulla, Brosseau-Liard & Savalei 2012).  A response with any item of the scale missing is
left out of that scale's models (listwise, counted in ``n_incomplete``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyses.invariance import LEVELS, fit_table, invariance

SUMMARY_COLUMNS = ["instrument", "scale", "comparison", "groups", "k", "n", "n_incomplete", "holds",
                   "configural_cfi", "configural_rmsea", "delta_cfi_metric", "delta_rmsea_metric",
                   "delta_cfi_scalar", "delta_rmsea_scalar", "broken_level", "broken_by", "partial_cfi",
                   "partial_rmsea", "note"]  # fmt: skip
FIT_COLUMNS = ["instrument", "scale", "comparison", "level", "chisq", "df", "cfi", "rmsea", "delta_cfi",
               "delta_rmsea", "converged"]  # fmt: skip
GROUP_COLUMNS = ["instrument", "scale", "comparison", "group", "n"]


def scale_invariance(
    items: pd.DataFrame,
    item_ids: list[str],
    by: str,
    order: list[str],
    *,
    min_per_group: int,
    delta_cfi: float,
    delta_rmsea: float,
    key: dict[str, str],
) -> tuple[dict, pd.DataFrame, pd.DataFrame, list[dict[str, str]]]:
    """Test one scale's invariance across the groups of column ``by`` (in ``order``, the first the reference).

    Returns the summary row, the fit rows, the group-size rows and the skipped entries (groups
    with fewer than ``min_per_group`` complete responses are left out, each with its reason).
    """
    complete = items.dropna(subset=item_ids)
    row: dict = {**key, "k": len(item_ids), "n_incomplete": int(len(items) - len(complete))}
    skipped: list[dict[str, str]] = []
    groups, names = [], []
    for name in order:
        part = complete.loc[complete[by].astype(str) == name, item_ids].to_numpy(dtype=float)
        if len(part) < min_per_group:
            skipped.append({"analysis": f"invariance across {key['comparison']}: {name}", "outcome": key["scale"],
                            "reason": f"fewer than {min_per_group} complete responses in this group "
                                      "(analyses.invariance.min_per_group)"})  # fmt: skip
            continue
        if np.any(part.var(axis=0) == 0):
            skipped.append({"analysis": f"invariance across {key['comparison']}: {name}", "outcome": key["scale"],
                            "reason": "an item has the same answer from everyone in this group"})
            continue
        groups.append(part)
        names.append(name)
    sizes = pd.DataFrame([{**key, "group": n, "n": len(x)} for n, x in zip(names, groups, strict=True)],
                         columns=GROUP_COLUMNS)  # fmt: skip
    row.update(groups=";".join(names), n=int(sum(len(x) for x in groups)))
    if len(groups) < 2:
        row["note"] = f"not estimable: {len(groups)} group(s) with at least {min_per_group} complete responses"
        skipped.append({"analysis": f"invariance across {key['comparison']}", "outcome": key["scale"],
                        "reason": row["note"]})  # fmt: skip
        return row, pd.DataFrame(columns=FIT_COLUMNS), sizes, skipped
    result = invariance(groups, item_ids, delta_cfi=delta_cfi, delta_rmsea=delta_rmsea)
    fits = fit_table(result).assign(**key)
    by_level = fits.set_index("level")
    row.update(holds=result.holds, configural_cfi=by_level.loc["configural", "cfi"],
               configural_rmsea=by_level.loc["configural", "rmsea"])  # fmt: skip
    for level in LEVELS[1:]:
        row[f"delta_cfi_{level}"] = by_level.loc[level, "delta_cfi"]
        row[f"delta_rmsea_{level}"] = by_level.loc[level, "delta_rmsea"]
    if result.partial_level is not None:
        row.update(broken_level=result.partial_level, broken_by=";".join(result.broken_by))
        if result.partial is not None:
            row.update(partial_cfi=result.partial.cfi, partial_rmsea=result.partial.rmsea)
    notes = []
    if len(item_ids) == 3:
        notes.append("3 items: the configural model is just-identified (df 0), so its fit cannot be judged and "
                     "the change in RMSEA rests on few degrees of freedom")
    if not by_level["converged"].all():
        notes.append("a model did not converge: read its fit with care")
    if notes:
        row["note"] = "; ".join(notes)
    return row, fits.reindex(columns=FIT_COLUMNS), sizes, skipped


def invariance_results(
    items_by_scale: dict[str, tuple[str, list[str], pd.DataFrame]],
    *,
    programmes: list[str],
    waves: list[str],
    baseline: str,
    min_per_group: int,
    delta_cfi: float = 0.010,
    delta_rmsea: float = 0.015,
) -> tuple[dict[str, pd.DataFrame], list[dict[str, str]]]:
    """Invariance across programmes (at baseline) and across waves of every scale.

    ``items_by_scale`` maps a scale id to its instrument id, its item ids and its scored item
    table (one row per response, with ``wave`` and ``programme``).  Returns the tables
    ``summary``, ``fit`` and ``groups`` and the skipped entries.
    """
    rows, fits, sizes, skipped = [], [], [], []
    for scale, (instrument, item_ids, items) in items_by_scale.items():
        if len(item_ids) < 3:
            skipped.append({"analysis": "measurement invariance", "outcome": scale,
                            "reason": f"{len(item_ids)} item(s): a one-factor model needs at least 3"})
            continue
        comparisons = [("programmes", items[items["wave"].astype(str) == baseline], "programme", programmes),
                       ("waves", items, "wave", waves)]  # fmt: skip
        for comparison, data, by, order in comparisons:
            if len(order) < 2:
                what = "programme" if by == "programme" else "wave"
                skipped.append({"analysis": f"invariance across {comparison}", "outcome": scale,
                                "reason": f"the study has one {what}: there is nothing to compare"})  # fmt: skip
                continue
            key = {"instrument": instrument, "scale": scale, "comparison": comparison}
            row, fit_rows, size_rows, left_out = scale_invariance(
                data, item_ids, by, order, min_per_group=min_per_group, delta_cfi=delta_cfi,
                delta_rmsea=delta_rmsea, key=key)  # fmt: skip
            rows.append(row)
            fits.append(fit_rows)
            sizes.append(size_rows)
            skipped += left_out

    def stack(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
        parts = [p for p in parts if not p.empty]
        return pd.concat(parts, ignore_index=True).reindex(columns=columns) if parts else pd.DataFrame(columns=columns)

    tables = {
        "summary": pd.DataFrame(rows).reindex(columns=SUMMARY_COLUMNS),
        "fit": stack(fits, FIT_COLUMNS),
        "groups": stack(sizes, GROUP_COLUMNS),
    }
    return tables, skipped
