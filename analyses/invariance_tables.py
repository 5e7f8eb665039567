"""Measurement invariance tables of a study: every multi-item outcome scale across programmes and across waves.

Pure functions from the canonical item-level tables to tidy result tables (the stage
``intervisie analyze invariance`` reads and writes).  Two comparisons per scale:

* **programmes** -- the baseline wave's responses, one group per programme;
* **waves** -- one longitudinal CFA of the same people over the waves (a factor per wave, the
  factors correlated, the residuals of the same item correlated over the waves; Widaman,
  Ferrer & Conger 2010; Liu et al. 2017; :func:`analyses.invariance.longitudinal_invariance`),
  so its chi-square is a real test of the constraints.

Which people and waves enter the longitudinal model: the waves are taken in order (baseline
first) and a wave joins the model when at least ``min_per_group`` people answered every item
of the scale at it *and* at every wave already in the model; the model is fitted, all waves
jointly, on those people (complete cases).  A wave that would leave fewer people is left out
with its reason (``skipped.csv``), so attrition at a late wave costs that wave, not the whole
comparison, and a two-wave study of 40 people is one two-wave model (or, below the floor, a
reason).  Full-information ML over the attrition patterns would use more answers but needs the
saturated model by EM for the test; complete cases keep the statistic exact and the stage
fast, at the price of describing the people who stayed.  ``n`` is the number of people in the
model; ``n_incomplete`` counts the responses at the compared waves left out (an item missing,
or the person missing a complete answer at another compared wave).  People with more than one
complete response at one wave are left out (there is no right one to choose).

Items are treated as continuous and fitted by normal-theory ML: with five or more answer
categories ML on the item scores performs about as well as categorical estimators
(Rhemtulla, Brosseau-Liard & Savalei 2012).  A response with any item of the scale missing is
left out of that scale's models (listwise, counted in ``n_incomplete``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyses.invariance import LEVELS, InvarianceResult, fit_table, invariance, longitudinal_invariance

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
    fits = _summarise(row, result, item_ids, key)
    return row, fits, sizes, skipped


def _summarise(row: dict, result: InvarianceResult, item_ids: list[str], key: dict[str, str]) -> pd.DataFrame:
    """Fill the summary row from the three levels' fits and return the fit rows."""
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
    return fits.reindex(columns=FIT_COLUMNS)


def wave_invariance(
    items: pd.DataFrame,
    item_ids: list[str],
    order: list[str],
    *,
    min_per_group: int,
    delta_cfi: float,
    delta_rmsea: float,
    key: dict[str, str],
) -> tuple[dict, pd.DataFrame, pd.DataFrame, list[dict[str, str]]]:
    """Test one scale's invariance over the waves ``order`` (baseline first) by a longitudinal CFA.

    ``items`` has one row per response with ``participant`` and ``wave``.  Returns the summary
    row, the fit rows, the per-wave rows (``n``: the people in the model) and the skipped
    entries; which people and waves enter the model is in the module docstring.
    """
    at = items[items["wave"].astype(str).isin(order)].assign(wave=lambda f: f["wave"].astype(str),
                                                               participant=lambda f: f["participant"].astype(str))
    complete = at.dropna(subset=item_ids)
    repeated = complete.duplicated(["participant", "wave"], keep=False)
    skipped: list[dict[str, str]] = []
    if repeated.any():
        skipped.append({"analysis": f"invariance across {key['comparison']}", "outcome": key["scale"],
                        "reason": "people with more than one complete response at one wave are left out of the "
                                  "longitudinal model"})  # fmt: skip
    usable = complete[~repeated]
    by_wave = {w: usable[usable["wave"] == w].set_index("participant")[item_ids] for w in order}
    names: list[str] = []
    people = pd.Index([], dtype=str)
    for wave in order:
        candidate = by_wave[wave].index if not names else people.intersection(by_wave[wave].index)
        candidate = candidate.sort_values()
        what = f"invariance across {key['comparison']}: {wave}"
        if len(candidate) < min_per_group:
            since = " and at every earlier wave in the model" if names else ""
            skipped.append({"analysis": what, "outcome": key["scale"],
                            "reason": f"fewer than {min_per_group} people answered every item at this wave{since} "
                                      "(analyses.invariance.min_per_group)"})  # fmt: skip
            continue
        matrices = [by_wave[w].loc[candidate].to_numpy(dtype=float) for w in (*names, wave)]
        if any(np.any(x.var(axis=0) == 0) for x in matrices):
            skipped.append({"analysis": what, "outcome": key["scale"],
                            "reason": "an item has the same answer from everyone in the model at a wave"})
            continue
        names.append(wave)
        people = candidate
    n = len(people) if names else 0
    row: dict = {**key, "k": len(item_ids), "groups": ";".join(names), "n": n,
                 "n_incomplete": int(at["wave"].isin(names).sum() - n * len(names))}  # fmt: skip
    sizes = pd.DataFrame([{**key, "group": w, "n": n} for w in names], columns=GROUP_COLUMNS)
    if len(names) < 2:
        row["note"] = (f"not estimable: {len(names)} wave(s) with at least {min_per_group} people who answered "
                       "every item at each")  # fmt: skip
        skipped.append({"analysis": f"invariance across {key['comparison']}", "outcome": key["scale"],
                        "reason": row["note"]})  # fmt: skip
        return row, pd.DataFrame(columns=FIT_COLUMNS), sizes, skipped
    waves = [by_wave[w].loc[people].to_numpy(dtype=float) for w in names]
    result = longitudinal_invariance(waves, item_ids, delta_cfi=delta_cfi, delta_rmsea=delta_rmsea)
    return row, _summarise(row, result, item_ids, key), sizes, skipped


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
    table (one row per response, with ``participant``, ``wave`` and ``programme``).  Returns the tables
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
            options = {"min_per_group": min_per_group, "delta_cfi": delta_cfi, "delta_rmsea": delta_rmsea, "key": key}
            row, fit_rows, size_rows, left_out = (
                wave_invariance(data, item_ids, order, **options) if comparison == "waves"
                else scale_invariance(data, item_ids, by, order, **options))  # fmt: skip
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
