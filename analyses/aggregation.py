"""Aggregation checks: may a member rating be used as a property of the group?

Before a rating (coach quality, structure of the sessions, psychological safety) given by the
members of a reflection group is averaged and used at group level, three questions are asked
(Bliese 2000; James, Demaree & Wolf 1984, 1993):

* :func:`icc_aggregation` -- ICC(1): does group membership explain variance in the rating? and
  ICC(2): how reliable are the group *means*? (one-way ANOVA of the rating on the group);
* :func:`rwg_j` -- rwg(j): do the members of each group agree, compared with random responding?
* :func:`rwg_summary` -- median, mean and share of groups with rwg(j) at or above a cut-off;
* :func:`aggregation_check` -- all of the above in one row, with ``justified`` and a plain-language
  ``verdict``.

Style as in :mod:`analyses.reliability`: long ``data`` (one row per member x rating) plus column
names, keyword-only options, tidy DataFrames with identifier-safe columns; nothing is rounded
(except the numbers written into the ``verdict`` text, which is for reading).

Small groups. ICC(2) is the Spearman-Brown step-up of ICC(1) to the group size,
``k ICC(1) / (1 + (k - 1) ICC(1))``; with reflection groups of 4-10 members it is often below .70
even when ICC(1) is substantial. :func:`aggregation_check` then says so explicitly and reports
the group size that would be needed (``k_needed``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analyses.checks import check_columns


def _clean(data: pd.DataFrame, columns: Sequence[str], group: str) -> pd.DataFrame:
    check_columns(data, [*columns, group], numeric=columns)
    return data[[group, *columns]].dropna(axis=0, how="any")


def icc_aggregation(data: pd.DataFrame, *, dv: str, group: str) -> pd.DataFrame:
    """ICC(1) and ICC(2) of ``dv`` nested in ``group``, from a one-way random-effects ANOVA.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data: one row per member, a numeric rating ``dv`` and a group identifier ``group``.
        Rows with a missing ``dv`` or ``group`` are dropped.
    dv : str, keyword-only
        The rating (e.g. a member's scale score for psychological safety).
    group : str, keyword-only
        The group identifier.

    Returns
    -------
    pandas.DataFrame
        One row: ``n_groups`` (J), ``n_obs`` (N), ``mean_group_size`` (k0, see Notes),
        ``group_size_min``, ``group_size_max``, ``ms_between``, ``ms_within``, ``icc1``,
        ``icc2``, ``F``, ``df_between``, ``df_within``, ``p_val``.

    Raises
    ------
    ValueError
        If a column is missing or ``dv`` is not numeric, or with fewer than 2 groups or no
        within-group degrees of freedom.

    Notes
    -----
    With group sizes :math:`n_j`, :math:`N = \\sum n_j` and :math:`J` groups, the one-way ANOVA
    gives :math:`MSB = \\sum_j n_j(\\bar y_j - \\bar y)^2 / (J-1)` and
    :math:`MSW = \\sum_j \\sum_i (y_{ij} - \\bar y_j)^2 / (N-J)`, :math:`F = MSB/MSW`. Then
    (Bliese 2000; McGraw & Wong 1996, ICC(1) and ICC(k) of the one-way model)

    .. math::

        ICC(1) = \\frac{MSB - MSW}{MSB + (k - 1) MSW}, \\qquad ICC(2) = \\frac{MSB - MSW}{MSB}

    with the group size :math:`k` taken as the adjusted mean group size for unbalanced groups
    (Bliese 2000, Snedecor & Cochran's :math:`k_0`)

    .. math:: k_0 = \\frac{N - \\sum_j n_j^2 / N}{J - 1},

    which equals :math:`n` when all groups have :math:`n` members. ICC(2) does not depend on
    :math:`k`. ICC(1) can be negative (when MSB < MSW); it is not truncated.

    R equivalent: ``multilevel::ICC1(aov(dv ~ factor(group), d))`` and ``multilevel::ICC2(...)``;
    note that ``multilevel::ICC1`` uses the simple mean group size :math:`N/J` instead of
    :math:`k_0`, so its ICC(1) differs slightly for unbalanced groups (identical when balanced,
    as is ICC(2) always). For balanced groups also ``psych::ICC(wide)`` with groups as rows:
    rows ``ICC1`` (single raters absolute) and ``ICC1k`` (average raters absolute).

    References
    ----------
    Bliese, P. D. (2000). Within-group agreement, non-independence, and reliability: Implications
    for data aggregation and analysis. In K. J. Klein & S. W. J. Kozlowski (Eds.), Multilevel
    theory, research, and methods in organizations (pp. 349-381). Jossey-Bass.

    McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some intraclass correlation
    coefficients. Psychological Methods, 1(1), 30-46.

    Examples
    --------
    >>> d = pd.DataFrame({"g": list("AAABBBBCC"), "y": [1, 2, 3, 4, 5, 5, 6, 4, 6]})
    >>> res = icc_aggregation(d, dv="y", group="g")
    >>> # MSB 9, MSW 1, k0 26/9 -> ICC(1) 36/49, ICC(2) 8/9
    >>> res[["ms_between", "ms_within", "icc1", "icc2"]].to_numpy().round(4).tolist()
    [[9.0, 1.0, 0.7347, 0.8889]]
    """
    clean = _clean(data, [dv], group)
    y = clean[dv].astype(float)
    sizes = clean.groupby(group, sort=False, observed=True)[dv].size()
    means = y.groupby(clean[group], sort=False, observed=True).mean()
    n_groups, n_obs = len(sizes), int(sizes.sum())
    if n_groups < 2:
        raise ValueError(f"at least 2 groups with a non-missing {dv!r} are needed, got {n_groups}")
    if n_obs <= n_groups:
        raise ValueError(f"no within-group variance: {n_obs} observations in {n_groups} groups (all of size 1)")
    df_b, df_w = n_groups - 1, n_obs - n_groups
    ss_b = float((sizes * (means - y.mean()) ** 2).sum())
    ss_w = float(((y - clean[group].map(means)) ** 2).sum())
    ms_b, ms_w = ss_b / df_b, ss_w / df_w
    k0 = (n_obs - float((sizes**2).sum()) / n_obs) / df_b
    with np.errstate(divide="ignore", invalid="ignore"):
        f_stat = ms_b / ms_w if ms_w > 0 else np.inf
        denominator = ms_b + (k0 - 1) * ms_w
        icc1 = (ms_b - ms_w) / denominator if denominator > 0 else np.nan  # all values equal: not estimable
        icc2 = (ms_b - ms_w) / ms_b if ms_b > 0 else np.nan
    return pd.DataFrame(
        {
            "n_groups": [n_groups],
            "n_obs": [n_obs],
            "mean_group_size": [k0],
            "group_size_min": [int(sizes.min())],
            "group_size_max": [int(sizes.max())],
            "ms_between": [ms_b],
            "ms_within": [ms_w],
            "icc1": [icc1],
            "icc2": [icc2],
            "F": [f_stat],
            "df_between": [df_b],
            "df_within": [df_w],
            "p_val": [float(stats.f.sf(f_stat, df_b, df_w))],
        }
    )


def rwg_j(data: pd.DataFrame, *, items: Sequence[str], group: str, n_options: int) -> pd.DataFrame:
    """Within-group agreement rwg(j) on ``items`` against a uniform (random-response) null, per group.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data: one row per member, numeric item columns and a group identifier.
        Rows with a missing item or group are dropped (listwise, as ``multilevel::rwg.j``).
    items : list of str, keyword-only
        The J items of one scale (J >= 1; with J = 1 this is rwg).
    group : str, keyword-only
    n_options : int, keyword-only
        Number A of response options of the items (e.g. 5 for a 1-5 Likert scale).

    Returns
    -------
    pandas.DataFrame
        One row per group: ``group`` (the identifier), ``n`` (members used), ``j`` (items),
        ``mean_item_var`` (:math:`\\bar s^2`), ``var_eu`` (:math:`\\sigma^2_{EU}`), ``rwg_j``
        and ``truncated`` (True when :math:`\\bar s^2 > \\sigma^2_{EU}` and rwg(j) was set to 0).
        A group with fewer than 2 members has NaN.

    Notes
    -----
    James, Demaree & Wolf (1984):

    .. math::

        r_{wg(J)} = \\frac{J(1 - \\bar s^2/\\sigma^2_{EU})}
                         {J(1 - \\bar s^2/\\sigma^2_{EU}) + \\bar s^2/\\sigma^2_{EU}},
        \\qquad \\sigma^2_{EU} = \\frac{A^2 - 1}{12}

    with :math:`\\bar s^2` the mean of the within-group item variances (denominator n - 1).
    When :math:`\\bar s^2 > \\sigma^2_{EU}` the formula leaves [0, 1] (it can exceed 1); by
    convention (James et al. 1993; Bliese 2000) :math:`\\bar s^2` is then set to
    :math:`\\sigma^2_{EU}`, giving 0, and ``truncated`` is True.

    R equivalent: ``multilevel::rwg.j(d[, items], d$group, ranvar = (A^2 - 1) / 12)``.

    References
    ----------
    James, L. R., Demaree, R. G., & Wolf, G. (1984). Estimating within-group interrater
    reliability with and without response bias. Journal of Applied Psychology, 69(1), 85-98.

    James, L. R., Demaree, R. G., & Wolf, G. (1993). rwg: An assessment of within-group
    interrater agreement. Journal of Applied Psychology, 78(2), 306-309.

    Examples
    --------
    >>> d = pd.DataFrame({"g": [1, 1, 1], "a": [1, 2, 3], "b": [2, 3, 4], "c": [3, 3, 3]})
    >>> # item variances 1, 1, 0 -> mean 2/3; sigma2_EU = 2 -> rwg(j) = 2 / (7/3) = 6/7
    >>> float(rwg_j(d, items=["a", "b", "c"], group="g", n_options=5)["rwg_j"].iloc[0])
    0.8571428571428571
    """
    if isinstance(items, str):
        raise ValueError("items must be a list of column names, not a single string")
    items = list(items)
    if not items:
        raise ValueError("items is empty")
    if not (isinstance(n_options, int | np.integer) and n_options >= 2):
        raise ValueError(f"n_options must be an integer >= 2, got {n_options!r}")
    clean = _clean(data, items, group)
    var_eu = (n_options**2 - 1) / 12
    rows = []
    for name, block in clean.groupby(group, sort=True, observed=True):
        n = len(block)
        s2 = float(block[items].astype(float).var(ddof=1).mean()) if n >= 2 else np.nan
        truncated = bool(s2 > var_eu) if n >= 2 else False
        ratio = min(s2, var_eu) / var_eu
        j = len(items)
        value = j * (1 - ratio) / (j * (1 - ratio) + ratio) if n >= 2 else np.nan
        rows.append(
            {
                "group": name,
                "n": n,
                "j": j,
                "mean_item_var": s2,
                "var_eu": var_eu,
                "rwg_j": value,
                "truncated": truncated,
            }
        )
    return pd.DataFrame(rows)


def rwg_summary(rwg: pd.DataFrame, *, rwg_min: float = 0.70) -> pd.DataFrame:
    """Median, mean and share of groups with rwg(j) >= ``rwg_min``, from :func:`rwg_j`.

    Parameters
    ----------
    rwg : pandas.DataFrame
        The result of :func:`rwg_j` (groups with NaN, i.e. fewer than 2 members, are left out).
    rwg_min : float, keyword-only
        Conventional cut-off for agreement (default .70; LeBreton & Senter 2008 discuss its limits).

    Returns
    -------
    pandas.DataFrame
        One row: ``n_groups`` (with an rwg(j)), ``rwg_median``, ``rwg_mean``, ``share_rwg_ok``
        (proportion with rwg(j) >= ``rwg_min``), ``n_truncated``.

    Notes
    -----
    R equivalent: ``r <- multilevel::rwg.j(...)$rwg.j; median(r); mean(r); mean(r >= .70)``.

    References
    ----------
    LeBreton, J. M., & Senter, J. L. (2008). Answers to 20 questions about interrater reliability
    and interrater agreement. Organizational Research Methods, 11(4), 815-852.
    """
    check_columns(rwg, ["rwg_j", "truncated"])
    values = rwg["rwg_j"].dropna().astype(float)
    return pd.DataFrame(
        {
            "n_groups": [len(values)],
            "rwg_median": [float(values.median()) if len(values) else np.nan],
            "rwg_mean": [float(values.mean()) if len(values) else np.nan],
            "share_rwg_ok": [float((values >= rwg_min).mean()) if len(values) else np.nan],
            "n_truncated": [int(rwg["truncated"].sum())],
        }
    )


def _fmt(x: float) -> str:
    """.18 style (APA: no leading zero for statistics bounded by 1)."""
    if not np.isfinite(x):
        return "NA"
    return f"{x:.2f}".replace("0.", ".", 1)


def aggregation_check(
    data: pd.DataFrame,
    *,
    dv: str,
    items: Sequence[str],
    group: str,
    n_options: int,
    icc1_min: float = 0.05,
    icc2_min: float = 0.70,
    rwg_min: float = 0.70,
) -> pd.DataFrame:
    """Is aggregating ``dv`` to group means justified? ICC(1), ICC(2) and median rwg(j) in one row.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per member: the scale score ``dv``, its ``items`` and ``group``.
    dv, items, group, n_options
        As in :func:`icc_aggregation` and :func:`rwg_j`.
    icc1_min, icc2_min, rwg_min : float, keyword-only
        Cut-offs (defaults .05, .70, .70; Bliese 2000, LeBreton & Senter 2008).

    Returns
    -------
    pandas.DataFrame
        One row: the columns of :func:`icc_aggregation` and :func:`rwg_summary` (the latter's
        ``n_groups`` as ``rwg_n_groups``), ``k_needed`` (group size at which ICC(2) would reach
        ``icc2_min`` given ICC(1); NaN when ICC(1) <= 0), ``icc1_ok``, ``icc2_ok``, ``rwg_ok``,
        ``justified`` (all three) and ``verdict`` (plain-language text).

    Notes
    -----
    ``k_needed`` inverts the Spearman-Brown relation :math:`ICC(2) = k\\,ICC(1)/(1+(k-1)ICC(1))`:

    .. math:: k = \\frac{ICC(2)^*(1 - ICC(1))}{ICC(1)(1 - ICC(2)^*)}

    A low ICC(2) with an adequate ICC(1) is typical of small groups: group means are then
    unreliable, which attenuates group-level relations (Bliese 2000); the verdict states it.

    R equivalent: ``multilevel::ICC1``, ``multilevel::ICC2`` and ``multilevel::rwg.j`` together.
    """
    icc = icc_aggregation(data, dv=dv, group=group)
    rwg = rwg_summary(rwg_j(data, items=items, group=group, n_options=n_options), rwg_min=rwg_min)
    row = {c: icc[c].iloc[0] for c in icc.columns}
    icc1, icc2, k0 = float(row["icc1"]), float(row["icc2"]), float(row["mean_group_size"])
    rwg_med = float(rwg["rwg_median"].iloc[0])
    k_needed = icc2_min * (1 - icc1) / (icc1 * (1 - icc2_min)) if icc1 > 0 else np.nan
    icc1_ok, icc2_ok = bool(icc1 >= icc1_min), bool(icc2 >= icc2_min)
    rwg_ok = bool(np.isfinite(rwg_med) and rwg_med >= rwg_min)

    size = f"groups of about {k0:.0f} members"
    parts = []
    if icc1_ok:
        parts.append(f"ICC(1) {_fmt(icc1)} shows group-level variance")
    else:
        parts.append(f"ICC(1) {_fmt(icc1)} < {_fmt(icc1_min)}: little group-level variance")
    if icc2_ok:
        parts.append(f"ICC(2) {_fmt(icc2)} >= {_fmt(icc2_min)}: group means are reliable with {size}")
    else:
        need = f" (about {np.ceil(k_needed):.0f} would be needed)" if np.isfinite(k_needed) else ""
        parts.append(f"ICC(2) {_fmt(icc2)} < {_fmt(icc2_min)}: group means are unreliable with {size}{need}")
    if rwg_ok:
        parts.append(f"median rwg(j) {_fmt(rwg_med)} >= {_fmt(rwg_min)}: members agree within groups")
    else:
        parts.append(f"median rwg(j) {_fmt(rwg_med)} < {_fmt(rwg_min)}: members do not agree within groups")
    justified = icc1_ok and icc2_ok and rwg_ok
    joiner = "; " if justified or not icc1_ok else ", but "
    head = "Aggregation justified: " if justified else "Aggregation not justified: "
    verdict = head + parts[0] + joiner + "; ".join(parts[1:])

    row.update({f"rwg_{k}" if k == "n_groups" else k: v for k, v in ((c, rwg[c].iloc[0]) for c in rwg.columns)})
    row.update(
        {
            "k_needed": k_needed,
            "icc1_ok": icc1_ok,
            "icc2_ok": icc2_ok,
            "rwg_ok": rwg_ok,
            "justified": justified,
            "verdict": verdict,
        }
    )
    return pd.DataFrame([row])
