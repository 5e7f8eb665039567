"""Generic scoring: one function turns item responses into scale scores for any instrument.

Nothing here knows a questionnaire by name; every rule comes from the instrument file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.instruments import Instrument, ResponseSet, Scale

SCORE_COLUMNS = ["scale", "score", "n_items", "n_answered", "score_status"]


class ScoringError(ValueError):
    """Responses that cannot be scored (codes outside the instrument's response set)."""


def scored_values(codes: np.ndarray, rs: ResponseSet, *, reverse: bool) -> np.ndarray:
    """Turn answer codes into scored values, reversing where the item is reverse-keyed.

    A code ``c`` scores ``s(c)`` (the response set's ``scores``, or ``c`` itself); a
    reverse-keyed item scores ``s_min + s_max - s(c)``, so that the scale's direction
    holds for every item (e.g. BRS item 2 answered 4 on 1..5 scores 2).
    """
    values = codes.astype(float)
    if rs.scores is not None:
        lookup = np.array([rs.scores[c] for c in range(rs.min, rs.max + 1)], dtype=float)
        answered = ~np.isnan(values)
        mapped = np.full_like(values, np.nan)
        mapped[answered] = lookup[values[answered].astype(int) - rs.min]
        values = mapped
        low, high = float(lookup.min()), float(lookup.max())
    else:
        low, high = float(rs.min), float(rs.max)
    return low + high - values if reverse else values


def _value_range(rs: ResponseSet) -> tuple[float, float]:
    if rs.scores is None:
        return float(rs.min), float(rs.max)
    return float(min(rs.scores.values())), float(max(rs.scores.values()))


def _check_codes(responses: pd.DataFrame, inst: Instrument) -> None:
    for item in inst.items:
        rs = inst.response_set_of(item)
        column = responses[item.id]
        codes = pd.to_numeric(column, errors="coerce")
        bad = column.notna() & (codes.isna() | (codes % 1 != 0) | (codes < rs.min) | (codes > rs.max))
        if bad.any():
            first = bad.idxmax()
            raise ScoringError(
                f"instrument '{inst.id}', item '{item.id}': {int(bad.sum())} value(s) are not answer codes "
                f"{rs.min}..{rs.max}, first at row {first!r} (value {column[first]!r}); "
                "missing codes and out-of-range answers must be set to missing before scoring"
            )


def _aggregate(values: np.ndarray, scale: Scale, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Combine the scored values of one scale, row by row; returns (score, n_answered).

    mean: :math:`\\bar v = \\sum_{answered} v_j / m` over the ``m`` answered items.
    sum: :math:`\\sum_{answered} v_j`.
    prorated_sum: :math:`k \\bar v`, the mean scaled to all ``k`` items (person-mean
    imputation of the unanswered items).
    pomp: :math:`100 (\\bar v - v_{min}) / (v_{max} - v_{min})`, percent of maximum
    possible (Cohen, Cohen, Aiken & West, 1999, Multivariate Behav Res 34:315-346).
    """
    answered = ~np.isnan(values)
    n_answered = answered.sum(axis=1)
    total = np.where(answered, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n_answered
    if scale.method == "mean":
        score = mean
    elif scale.method == "sum":
        score = np.where(n_answered > 0, total, np.nan)
    elif scale.method == "prorated_sum":
        score = mean * values.shape[1]
    else:  # pomp
        score = 100.0 * (mean - low) / (high - low)
    return score, n_answered


def _simple(scored: Mapping[str, np.ndarray], inst: Instrument, scale: Scale) -> tuple[np.ndarray, ...]:
    """Score one scale of items: (score, n_answered, score_status), by its method, multiplier and min_items."""
    by_id = {item.id: item for item in inst.items}
    values = np.column_stack([scored[i] for i in scale.items])
    low, high = _value_range(inst.response_set_of(by_id[scale.items[0]]))
    raw, n_answered = _aggregate(values, scale, low, high)
    if scale.multiplier is not None:
        raw = raw * scale.multiplier
    enough = n_answered >= scale.min_items
    status = np.where(enough, "ok", "too_few_items" if scale.below_min == "missing" else "scored_below_min")
    final = raw if scale.below_min == "flag" else np.where(enough, raw, np.nan)
    return final, n_answered, status


def _composite(
    scored: Mapping[str, np.ndarray], scale: Scale, subscales: Sequence[tuple[Scale, np.ndarray]]
) -> tuple[np.ndarray, ...]:
    """Score a composite from its subscales' item values and statuses: (score, n_answered, score_status).

    With :math:`S` the subscales whose own score has status ``ok`` and :math:`A_s` the answered
    items of subscale :math:`s`, the composite is

    .. math:: C = \\frac{\\sum_{s \\in S} \\sum_{j \\in A_s} v_j}{\\sum_{s \\in S} |A_s|}

    (the mean of the scored, reverse-keyed item values of the scored subscales, on the items'
    metric) when :math:`|S| \\ge` ``min_subscales``, else missing (``too_few_items``).  Items of a
    subscale without a score do not count.  ``n_answered`` counts every answered item of the
    composite, as for any scale.  E.g. the Brief COPE's problem-focused coping with active
    coping 4 + 2, planning 2 + (unanswered), instrumental support 2 + 2 and ``min_subscales`` 2:
    planning has no score, :math:`C = (4 + 2 + 2 + 2) / 4 = 2.5`.

    References
    ----------
    Cooper C, Katona C, Livingston G (2008). Validity and reliability of the Brief COPE in carers
    of people with dementia: the LASER-AD Study. J Nerv Ment Dis 196:838-843 (the problem-focused,
    emotion-focused and dysfunctional grouping of the Brief COPE).  The mean over items and the
    ``min_subscales`` rule are the instrument file's (instruments/README.md, *Composite scores*).
    """
    n_rows = len(next(iter(scored.values())))
    total, count, n_scored = np.zeros(n_rows), np.zeros(n_rows), np.zeros(n_rows, dtype=int)
    for sub, status in subscales:
        values = np.column_stack([scored[i] for i in sub.items])
        use = ~np.isnan(values) & (status == "ok")[:, None]
        total += np.where(use, values, 0.0).sum(axis=1)
        count += use.sum(axis=1)
        n_scored += status == "ok"
    enough = n_scored >= (scale.min_subscales or len(subscales))
    with np.errstate(invalid="ignore", divide="ignore"):
        final = np.where(enough, total / count, np.nan)
    n_answered = (~np.isnan(np.column_stack([scored[i] for i in scale.items]))).sum(axis=1)
    return final, n_answered, np.where(enough, "ok", "too_few_items")


def combine(scored: Mapping[str, np.ndarray], instrument: Instrument) -> dict[str, tuple[np.ndarray, ...]]:
    """Score every scale from the scored item values: scale id -> (score, n_answered, score_status).

    ``scored`` maps each item id to its scored values (:func:`scored_values`, reversal applied),
    one per row.  Simple scales are combined by their ``method`` (:func:`_aggregate`), times
    their ``multiplier``, under their ``min_items`` rule; composites then from the scored
    subscales (:func:`_composite`).  :func:`score` and the simulator both call this, so their
    numbers agree.
    """
    out = {s.id: _simple(scored, instrument, s) for s in instrument.scales if not s.is_composite}
    by_id = {s.id: s for s in instrument.scales}
    for scale in instrument.scales:
        if scale.is_composite:
            subs = [(by_id[sub], out[sub][2]) for sub in scale.subscales or []]
            out[scale.id] = _composite(scored, scale, subs)
    return out


def score(responses: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Score every scale of an instrument for every row of a wide response table.

    Parameters
    ----------
    responses : pandas.DataFrame
        One row per completed questionnaire, one column per item id of the instrument,
        holding answer codes (NaN where the item was not answered).  Other columns are
        ignored; the index identifies the row and is kept in the result.
    instrument : Instrument
        The instrument whose scales to compute.

    Returns
    -------
    pandas.DataFrame
        Long form, one row per input row and scale, indexed like ``responses`` (repeated),
        with columns ``scale``, ``score``, ``n_items``, ``n_answered`` and ``score_status``:
        ``ok``; ``too_few_items`` (fewer than ``min_items`` answered, score missing);
        ``scored_below_min`` (fewer answered but the scale says ``below_min: flag``).

    Notes
    -----
    Reverse-keyed items are reversed on the scored values (:func:`scored_values`); each
    scale is combined by its ``method`` (:func:`_aggregate`) and, when the scale has a
    ``multiplier`` ``c``, multiplied by it: WHO-5's percentage score is the raw sum times 4
    (Topp et al. 2015, Psychother Psychosom 84:167-176), e.g. answers 5 4 3 2 1 sum to 15 and
    score 60.  A composite (a scale with ``subscales``) is the mean of the item values of its
    subscales that have a score, when at least ``min_subscales`` do (:func:`_composite`).

    Examples
    --------
    BRS answered 4, 2, 4, 2, 4, 2 (items 2, 4 and 6 reversed) scores 4.0, as
    ``rowMeans`` of the reversed items would in R.
    """
    missing = [i for i in instrument.item_ids() if i not in responses.columns]
    if missing:
        raise ScoringError(f"instrument '{instrument.id}': responses lack the item column(s) {missing}")
    _check_codes(responses, instrument)
    scored = {
        item.id: scored_values(
            pd.to_numeric(responses[item.id], errors="coerce").to_numpy(dtype=float),
            instrument.response_set_of(item),
            reverse=item.reverse,
        )
        for item in instrument.items
    }
    combined = combine(scored, instrument)
    parts = []
    for scale in instrument.scales:
        final, n_answered, status = combined[scale.id]
        parts.append(
            pd.DataFrame(
                {
                    "scale": scale.id,
                    "score": final,
                    "n_items": len(scale.items),
                    "n_answered": n_answered.astype("int16"),
                    "score_status": status,
                },
                index=responses.index,
            )
        )
    return pd.concat(parts)


def score_range(inst: Instrument, scale: Scale) -> tuple[float, float]:
    """Return the lowest and highest score a scale can take under its instrument's scoring rule.

    With scored item values in :math:`[v_{lo}, v_{hi}]` (the response set's ``scores``, or its
    codes), ``k`` items and at least ``m`` answered (``min_items``, or 1 when a score below
    the minimum is only flagged):

    * ``mean``: :math:`[v_{lo}, v_{hi}]`;
    * ``sum``: :math:`[\\min(m v_{lo}, k v_{lo}), \\max(m v_{hi}, k v_{hi})]` (only answered items are added);
    * ``prorated_sum``: :math:`[k v_{lo}, k v_{hi}]`;
    * ``pomp``: :math:`100 (v - a) / (b - a)` at both ends, with ``[a, b]`` the range of the first
      item's response set, as :func:`score` computes it (0-100 on one response set);

    and both ends times the scale's ``multiplier`` ``c > 0`` when it has one.  A composite
    (``subscales``) is a ``mean`` of its subscales' items, so its range is theirs (1-4 for the
    Brief COPE's).

    Examples
    --------
    CBI (codes scored 100..0, mean) gives (0, 100); BRS (codes 1..5, mean) gives (1, 5); a Brief
    COPE subscale (two items on 1..4, sum, ``min_items: 2``) gives (2, 8); WHO-5 (five items
    0..5, sum, multiplier 4) gives (0, 100).

    References
    ----------
    Cohen P, Cohen J, Aiken LS, West SG (1999). The problem of units and the circumstance for
    POMP. Multivariate Behav Res 34:315-346 (the POMP metric).
    """
    by_id = {i.id: i for i in inst.items}
    ranges = [_value_range(inst.response_set_of(by_id[item])) for item in scale.items]
    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    k = len(scale.items)
    m = scale.min_items if scale.below_min == "missing" else 1
    if scale.method == "mean":
        ends = low, high
    elif scale.method == "sum":
        ends = min(m * low, k * low), max(m * high, k * high)
    elif scale.method == "prorated_sum":
        ends = k * low, k * high
    else:
        a, b = ranges[0]
        ends = 100.0 * (low - a) / (b - a), 100.0 * (high - a) / (b - a)
    c = 1.0 if scale.multiplier is None else scale.multiplier
    return ends[0] * c, ends[1] * c
