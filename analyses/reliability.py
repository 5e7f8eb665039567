"""Reliability of each scale: Cronbach's alpha, McDonald's omega and item-rest correlations.

One function per statistic, in the style of pingouin: wide ``data`` (one row per completed
questionnaire, one column per item) plus the item column names, keyword-only options, and a tidy
DataFrame with identifier-safe column names as the result. Nothing is rounded or printed.

* :func:`cronbach_alpha` -- alpha (via :func:`pingouin.cronbach_alpha`) with Feldt's interval;
* :func:`mcdonald_omega` -- omega total from a one-factor maximum-likelihood factor analysis;
* :func:`item_rest_correlations` -- corrected item-total correlations and alpha if an item is dropped;
* :func:`reliability_table` -- all of the above per scale x group (e.g. programme x wave), with
  scales below a threshold flagged; a group too small to estimate gives NaN and a note, never an error.

Missing data: every function uses the rows on which *all* the items of the scale were answered
(listwise deletion; ``psych::alpha(x, use = "complete.obs")``, ``pingouin.cronbach_alpha(...,
nan_policy="listwise")``). Pairwise deletion (the default of both psych and pingouin) gives a
covariance matrix that belongs to no single sample, which leaves the ``n`` of the confidence
interval undefined and can make the matrix indefinite. Items must already be scored in the
scale's direction (reverse-keyed items reversed), as :func:`pipeline.scoring.score` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analyses.checks import check_ci, ci_label, complete_items
from analyses.omega import mcdonald_omega

__all__ = ["cronbach_alpha", "item_rest_correlations", "mcdonald_omega", "reliability_table"]  # omega: analyses.omega


#: SRMR above which the one-factor model behind omega is noted as fitting poorly (Hu & Bentler 1999).
SRMR_POOR_FIT = 0.08


def _feldt_interval(alpha: float, n: int, k: int, ci: float) -> tuple[float, float]:
    """Feldt, Woodruff & Salih (1987) interval; pingouin's formula without its rounding."""
    df1 = n - 1
    df2 = df1 * (k - 1)
    tail = (1 - ci) / 2
    lower = 1 - (1 - alpha) * stats.f.isf(tail, df1, df2)
    upper = 1 - (1 - alpha) * stats.f.isf(1 - tail, df1, df2)
    return float(lower), float(upper)


def cronbach_alpha(data: pd.DataFrame, *, items: Sequence[str], ci: float = 0.95) -> pd.DataFrame:
    """Cronbach's alpha of the unweighted sum of ``items``, with Feldt's confidence interval.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data: one row per completed questionnaire, one numeric column per item.
    items : list of str
        The item columns of one scale (at least 2), already scored in the scale's direction.
    ci : float, keyword-only
        Confidence level of the interval (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row: ``alpha``, ``ci95_low``, ``ci95_high`` (named after ``ci``), ``n`` (complete
        rows used) and ``k`` (items).

    Notes
    -----
    Raw (covariance-based) alpha on the complete rows (listwise deletion, see the module notes):

    .. math:: \\alpha = \\frac{k}{k-1}\\left(1 - \\frac{\\sum_i s^2_i}{s^2_X}\\right)

    with :math:`s^2_i` the item variances and :math:`s^2_X` the variance of the sum score. The
    point estimate is :func:`pingouin.cronbach_alpha` on the complete rows. The interval is
    Feldt's (Feldt, Woodruff & Salih 1987):

    .. math::

        \\left[1 - (1 - \\alpha) F_{1-\\gamma/2}(n-1, (n-1)(k-1)),\\;
               1 - (1 - \\alpha) F_{\\gamma/2}(n-1, (n-1)(k-1))\\right]

    with :math:`\\gamma = 1 - ci` and :math:`F_p` the :math:`p` quantile. It is computed here
    rather than taken from pingouin because pingouin rounds it to 3 decimals and, like psych,
    uses the number of *all* rows as :math:`n` when rows with missing items are dropped; here
    :math:`n` is the number of complete rows that produced alpha.

    R equivalent: ``psych::alpha(x, use = "complete.obs")$total$raw_alpha`` and
    ``$feldt`` (identical when no item is missing).

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
    Psychometrika, 16(3), 297-334.

    Feldt, L. S., Woodruff, D. J., & Salih, F. A. (1987). Statistical inference for coefficient
    alpha. Applied Psychological Measurement, 11(1), 93-103.

    Examples
    --------
    >>> import pingouin as pg
    >>> long = pg.read_dataset("cronbach_alpha")
    >>> wide = long.pivot(index="Subj", columns="Items", values="Scores")
    >>> res = cronbach_alpha(wide, items=list(wide.columns))
    >>> # R: psych::alpha(wide)  -> raw_alpha 0.5917, Feldt 0.1949 to 0.8398
    >>> res[["alpha", "ci95_low", "ci95_high", "n", "k"]].to_numpy().round(4).tolist()
    [[0.5917, 0.1949, 0.8398, 15.0, 10.0]]
    """
    check_ci(ci)
    complete = complete_items(data, items, min_items=2, min_rows=2)
    n, k = complete.shape
    import pingouin as pg  # here, not at the top: the stages that never call it skip its 2 s import
    alpha, _ = pg.cronbach_alpha(data=complete, nan_policy="listwise", ci=ci)
    low, high = _feldt_interval(float(alpha), n, k, ci)
    label = ci_label(ci)
    return pd.DataFrame({"alpha": [float(alpha)], f"{label}_low": [low], f"{label}_high": [high], "n": [n], "k": [k]})


def item_rest_correlations(data: pd.DataFrame, *, items: Sequence[str], alpha_if_dropped: bool = True) -> pd.DataFrame:
    """Corrected item-total (item-rest) correlation of each item, and alpha if it is dropped.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data: one row per completed questionnaire, one numeric column per item.
    items : list of str
        The item columns of one scale (at least 2), already scored in the scale's direction.
    alpha_if_dropped : bool, keyword-only
        Whether to compute alpha without each item (False leaves the column NaN; the
        reliability table needs only the correlations).

    Returns
    -------
    pandas.DataFrame
        One row per item, in the order given: ``item``, ``r_item_rest`` and
        ``alpha_if_dropped`` (raw alpha of the other items; NaN when only one item would be
        left), plus ``n`` (complete rows).

    Notes
    -----
    On the complete rows, the Pearson correlation of item :math:`i` with the sum of the other
    items,

    .. math:: r_{i,X-i} = \\frac{\\mathrm{cov}(x_i, X - x_i)}{s_i\\, s_{X - x_i}},

    which does not count the item's own error as agreement (unlike the item-total correlation).
    A constant item gets NaN.

    R equivalent: ``psych::alpha(x, use = "complete.obs")$item.stats$r.drop`` and
    ``$alpha.drop$raw_alpha``.

    References
    ----------
    Nunnally, J. C., & Bernstein, I. H. (1994). Psychometric theory (3rd ed.). New York:
    McGraw-Hill (corrected item-total correlation).

    Revelle, W. (2024). psych: Procedures for psychological, psychometric, and personality
    research (``alpha``: ``r.drop``). R package.

    Examples
    --------
    >>> import pandas as pd
    >>> x = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 5, 4], "c": [1, 3, 2, 5, 5]})
    >>> item_rest_correlations(x, items=["a", "b", "c"])["r_item_rest"].round(4).tolist()
    [0.9061, 0.8675, 0.8965]
    """
    complete = complete_items(data, items, min_items=2, min_rows=3)
    values = complete.to_numpy()
    total = values.sum(axis=1)
    rows = []
    for j, item in enumerate(complete.columns):
        rest = total - values[:, j]
        if values[:, j].var() == 0 or rest.var() == 0:
            r = np.nan
        else:
            r = float(np.corrcoef(values[:, j], rest)[0, 1])
        others = [c for c in complete.columns if c != item]
        if alpha_if_dropped and len(others) >= 2:
            import pingouin as pg  # here, not at the top: the stages that never call it skip its 2 s import
            alpha_drop = float(pg.cronbach_alpha(data=complete[others], nan_policy="listwise")[0])
        else:
            alpha_drop = np.nan
        rows.append({"item": item, "r_item_rest": r, "alpha_if_dropped": alpha_drop, "n": len(complete)})
    return pd.DataFrame(rows)


def reliability_table(
    item_wide: pd.DataFrame,
    *,
    scales: Mapping[str, Sequence[str]],
    by: Sequence[str] = (),
    threshold: float = 0.70,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Alpha, omega and item-rest correlations per scale and group, with weak scales flagged.

    Parameters
    ----------
    item_wide : pandas.DataFrame
        One row per completed questionnaire: the grouping columns ``by`` and one numeric column
        per item (scored in the scale's direction).
    scales : dict of str to list of str
        Scale name -> its item columns.
    by : list of str, keyword-only
        Grouping columns, e.g. ``["programme", "wave"]``; empty for the whole sample. Missing
        group values form their own group.
    threshold : float, keyword-only
        Alpha below this value is flagged (default 0.70, Nunnally & Bernstein 1994).
    ci : float, keyword-only
        Confidence level of alpha's Feldt interval.

    Returns
    -------
    pandas.DataFrame
        One row per group x scale: the ``by`` columns, ``scale``, ``n`` (rows with all items of
        the scale answered), ``k``, ``alpha``, ``ci95_low``, ``ci95_high``, ``omega_total``,
        ``min_r_item_rest``, ``weakest_item`` (the item with that correlation),
        ``flag_below_threshold`` (alpha < ``threshold``; pandas nullable boolean, ``<NA>`` when
        alpha could not be estimated) and ``note`` (why a value is missing or should be read
        with care, else ``<NA>``): too few rows, omega not identified (k < 3), a poorly
        fitting one-factor model (SRMR > .08), a Heywood case, or a negative item-rest
        correlation (usually a reverse-keyed item left unreversed).

    Notes
    -----
    A group with fewer than ``k + 2`` complete rows gets NaN for every statistic and a note,
    never an error, so one small cell (say, a four-person online group at one wave) does not
    stop the table. Omega needs at least 3 items (2-item scales such as the Brief COPE
    subscales get NaN omega and a note; alpha of two items is their Spearman-Brown coefficient
    for the covariance, and is reported). See :func:`cronbach_alpha`, :func:`mcdonald_omega` and
    :func:`item_rest_correlations` for the formulas.

    R equivalent: per group, ``psych::alpha(x[, items], use = "complete.obs")`` and
    ``psych::fa(x[, items], 1, fm = "ml")``.

    References
    ----------
    Nunnally, J. C., & Bernstein, I. H. (1994). Psychometric theory (3rd ed.). McGraw-Hill.

    McDonald, R. P. (1999). Test theory: A unified treatment. Erlbaum.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=200)
    >>> wide = pd.DataFrame({"wave": ["t0"] * 100 + ["t1"] * 100,
    ...                      **{f"q{i}": f + rng.normal(size=200) for i in range(1, 5)}})
    >>> tab = reliability_table(wide, scales={"q": ["q1", "q2", "q3", "q4"]}, by=["wave"])
    >>> tab[["wave", "scale", "n", "k"]].to_numpy().tolist()
    [['t0', 'q', 100, 4], ['t1', 'q', 100, 4]]
    """
    if not isinstance(item_wide, pd.DataFrame):
        raise ValueError(f"item_wide must be a pandas DataFrame, got {type(item_wide).__name__}")
    if isinstance(by, str):
        raise ValueError("by must be a list of column names, not a single string")
    by = list(by)
    if not isinstance(scales, Mapping) or not scales:
        raise ValueError("scales must be a non-empty dict of scale name -> list of item columns")
    check_ci(ci)
    needed = by + [item for scale_items in scales.values() for item in scale_items]
    missing = sorted({c for c in needed if c not in item_wide.columns})
    if missing:
        raise ValueError(f"column(s) not in item_wide: {missing}")
    label = ci_label(ci)

    if by:
        groups = item_wide.groupby(by, dropna=False, sort=True, observed=True)
    else:
        groups = [((), item_wide)]
    rows = []
    for key, frame in groups:
        key = key if isinstance(key, tuple) else (key,)
        for scale, scale_items in scales.items():
            rows.append(
                {**dict(zip(by, key, strict=True)), "scale": scale, **_scale_row(frame, scale_items, ci, label)}
            )
    table = pd.DataFrame(rows)
    alpha = table["alpha"]
    flag = pd.array(np.where(alpha.notna(), alpha < threshold, False), dtype="boolean")
    flag[alpha.isna().to_numpy()] = pd.NA
    table["flag_below_threshold"] = flag
    table["note"] = table["note"].astype("string")
    columns = [*by, "scale", "n", "k", "alpha", f"{label}_low", f"{label}_high", "omega_total"]
    columns += ["min_r_item_rest", "weakest_item", "flag_below_threshold", "note"]
    return table[columns].astype({"n": "int64", "k": "int64"})


def _scale_row(frame: pd.DataFrame, items: Sequence[str], ci: float, label: str) -> dict:
    items = list(items)
    k = len(items)
    n = int(frame[items].notna().all(axis=1).sum())
    row = {
        "n": n,
        "k": k,
        "alpha": np.nan,
        f"{label}_low": np.nan,
        f"{label}_high": np.nan,
        "omega_total": np.nan,
        "min_r_item_rest": np.nan,
        "weakest_item": None,
        "note": None,
    }
    notes = []
    if n < k + 2:
        row["note"] = f"{n} complete row(s), fewer than k + 2 = {k + 2}: not estimated"
        return row
    try:
        res = cronbach_alpha(frame, items=items, ci=ci).iloc[0]
        row.update(alpha=res["alpha"], **{f"{label}_low": res[f"{label}_low"], f"{label}_high": res[f"{label}_high"]})
    except ValueError as err:
        notes.append(f"alpha: {err}")
    try:
        rest = item_rest_correlations(frame, items=items, alpha_if_dropped=False)
        if rest["r_item_rest"].notna().any():
            weakest = rest.loc[rest["r_item_rest"].idxmin()]
            row.update(min_r_item_rest=float(weakest["r_item_rest"]), weakest_item=weakest["item"])
        negative = rest.loc[rest["r_item_rest"] < 0, "item"].tolist()
        if negative:
            notes.append(f"negative item-rest correlation for {negative}: reverse-keyed item(s) not reversed?")
    except ValueError as err:
        notes.append(f"item-rest: {err}")
    if k < 3:
        notes.append("omega: a one-factor model needs at least 3 items")
    else:
        try:
            om = mcdonald_omega(frame, items=items).iloc[0]
            row["omega_total"] = om["omega_total"]
            if om["srmr"] > SRMR_POOR_FIT:
                notes.append(f"omega: one-factor model fits poorly (SRMR {om['srmr']:.3f} > {SRMR_POOR_FIT})")
            if om["heywood_case"]:
                notes.append("omega: Heywood case (a uniqueness at its lower bound)")
            if not om["converged"]:
                notes.append("omega: the factor model did not converge")
        except ValueError as err:
            notes.append(f"omega: {err}")
    row["note"] = "; ".join(notes) if notes else None
    return row
