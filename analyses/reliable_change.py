"""Reliable change (Jacobson & Truax 1991): per person, and the shares per group with Wilson intervals.

Change is ``post - pre``; rows without both measurements are reported as missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analyses.checks import check_ci, check_columns, ci_label

CATEGORIES = ("improved", "unchanged", "deteriorated")


def _wilson(count: np.ndarray, n: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson (1927) score interval for ``count / n``; NaN where ``n`` is 0."""
    count = np.asarray(count, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.isf((1 - ci) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = count / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    low, high = centre - half, centre + half
    # p = 0 and p = 1 give exactly 0 and 1 in exact arithmetic
    low = np.where((count == 0) & (n > 0), 0.0, low)
    high = np.where((count == n) & (n > 0), 1.0, high)
    return low, high


def reliable_change(
    data: pd.DataFrame,
    *,
    pre: str,
    post: str,
    reliability: float,
    sd_pre: float | None = None,
    higher_is_better: bool = True,
    z_crit: float = 1.96,
) -> pd.DataFrame:
    """Jacobson-Truax reliable change index per participant, and the resulting category.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant, with the two measurements as columns.
    pre, post : str, keyword-only
        Columns of the baseline and the follow-up score.
    reliability : float, keyword-only
        Reliability :math:`r_{xx}` of the score, in [0, 1): test-retest from the literature, or
        the baseline alpha (e.g. from :func:`analyses.reliability.reliability_table`).
    sd_pre : float, keyword-only
        SD of the baseline score. Default: the sample SD of ``pre`` over the rows with both
        scores. Pass one value (the whole baseline sample or a norm group) when groups are to be
        compared, so that all use the same threshold.
    higher_is_better : bool, keyword-only
        Direction of the scale: ``True`` for resilience or engagement, ``False`` for burnout.
    z_crit : float, keyword-only
        Critical value (default 1.96 as in Jacobson & Truax, two-sided 5%).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``data``: ``change`` (``post - pre``), ``se_diff``, ``rci`` and
        ``category`` (categorical: ``improved``, ``unchanged``, ``deteriorated``; missing when a
        score is missing).

    Notes
    -----
    Jacobson & Truax (1991):

    .. math::

        SE_{diff} = \\sqrt{2}\\, s_{pre} \\sqrt{1 - r_{xx}}, \\qquad
        RCI = \\frac{x_{post} - x_{pre}}{SE_{diff}}

    and a change is reliable when :math:`|RCI| >` ``z_crit`` (strictly). It is an improvement
    when its sign agrees with ``higher_is_better``.

    R equivalent: none in base R or psych; by hand
    ``(post - pre) / (sqrt(2) * sd(pre) * sqrt(1 - rxx))``.

    References
    ----------
    Jacobson, N. S., & Truax, P. (1991). Clinical significance: A statistical approach to
    defining meaningful change in psychotherapy research. Journal of Consulting and Clinical
    Psychology, 59(1), 12-19.

    Examples
    --------
    SD 10 and reliability .5 give :math:`SE_{diff} = \\sqrt 2 \\cdot 10 \\cdot \\sqrt{.5} = 10`:

    >>> import pandas as pd
    >>> df = pd.DataFrame({"pre": [50, 50, 50], "post": [75, 60, 25]})
    >>> res = reliable_change(df, pre="pre", post="post", reliability=0.5, sd_pre=10)
    >>> res["rci"].round(12).tolist(), res["category"].tolist()
    ([2.5, 1.0, -2.5], ['improved', 'unchanged', 'deteriorated'])
    """
    check_columns(data, [pre, post], numeric=[pre, post])
    if pre == post:
        raise ValueError(f"pre and post must be different columns, got {pre!r} twice")
    if not (isinstance(reliability, float | int) and 0 <= reliability < 1):
        raise ValueError(f"reliability must be a number in [0, 1), got {reliability!r}")
    if not (isinstance(z_crit, float | int) and z_crit > 0):
        raise ValueError(f"z_crit must be a positive number, got {z_crit!r}")
    both = data[pre].notna() & data[post].notna()
    if sd_pre is None:
        if both.sum() < 2:
            raise ValueError(
                f"{int(both.sum())} row(s) with both {pre!r} and {post!r}: cannot estimate sd_pre; pass sd_pre"
            )
        sd_pre = float(data.loc[both, pre].std(ddof=1))
    if not (isinstance(sd_pre, float | int) and np.isfinite(sd_pre) and sd_pre > 0):
        raise ValueError(f"sd_pre must be a positive number, got {sd_pre!r}")
    se_diff = np.sqrt(2) * sd_pre * np.sqrt(1 - reliability)
    change = data[post].astype(float) - data[pre].astype(float)
    rci = change / se_diff
    good = rci > z_crit if higher_is_better else rci < -z_crit
    bad = rci < -z_crit if higher_is_better else rci > z_crit
    labels = np.where(good, "improved", np.where(bad, "deteriorated", "unchanged"))
    category = pd.Categorical(np.where(rci.notna(), labels, None), categories=list(CATEGORIES))
    return pd.DataFrame(
        {"change": change, "se_diff": np.where(rci.notna(), se_diff, np.nan), "rci": rci, "category": category},
        index=data.index,
    )


def reliable_change_shares(
    data: pd.DataFrame,
    *,
    pre: str,
    post: str,
    reliability: float,
    by: Sequence[str] = (),
    sd_pre: float | None = None,
    higher_is_better: bool = True,
    z_crit: float = 1.96,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Counts and shares of participants reliably improved, unchanged and deteriorated, per group.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant: ``pre``, ``post`` and the grouping columns ``by``.
    pre, post, reliability, sd_pre, higher_is_better, z_crit
        As in :func:`reliable_change`. When ``sd_pre`` is not given it is estimated once from
        all rows of ``data`` with both scores, not per group, so every group is classified
        against the same threshold.
    by : list of str, keyword-only
        Grouping columns, e.g. ``["programme", "arm"]``; empty for the whole sample.
    ci : float, keyword-only
        Confidence level of the Wilson intervals (default 0.95).

    Returns
    -------
    pandas.DataFrame
        Three rows per group (one per category, zero counts included): the ``by`` columns,
        ``category``, ``count``, ``n`` (participants with both scores), ``share``
        (``count / n``), ``ci95_low``, ``ci95_high`` (Wilson score interval, named after ``ci``).

    Notes
    -----
    Wilson (1927) score interval, with :math:`\\hat p = x/n` and :math:`z` the normal quantile:

    .. math::

        \\frac{\\hat p + z^2/(2n)}{1 + z^2/n} \\pm
        \\frac{z}{1 + z^2/n}\\sqrt{\\frac{\\hat p(1 - \\hat p)}{n} + \\frac{z^2}{4n^2}}

    It keeps its coverage for small groups and shares near 0 or 1 (Brown, Cai & DasGupta 2001),
    where the Wald interval does not. A group with no complete pair has ``n`` 0 and NaN shares.

    R equivalent: ``prop.test(x, n, correct = FALSE)$conf.int`` per category (the Wilson
    interval); Python: ``statsmodels.stats.proportion.proportion_confint(x, n, method="wilson")``.

    References
    ----------
    Jacobson, N. S., & Truax, P. (1991). Journal of Consulting and Clinical Psychology, 59(1), 12-19.

    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
    Journal of the American Statistical Association, 22(158), 209-212.

    Brown, L. D., Cai, T. T., & DasGupta, A. (2001). Interval estimation for a binomial
    proportion. Statistical Science, 16(2), 101-133.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"pre": [50] * 4, "post": [75, 60, 70, 25], "arm": ["i", "i", "c", "c"]})
    >>> res = reliable_change_shares(df, pre="pre", post="post", reliability=0.5, sd_pre=10, by=["arm"])
    >>> res[["arm", "category", "count", "n"]].to_numpy().tolist()[:3]
    [['c', 'improved', 1, 2], ['c', 'unchanged', 0, 2], ['c', 'deteriorated', 1, 2]]
    """
    check_ci(ci)
    if isinstance(by, str):
        raise ValueError("by must be a list of column names, not a single string")
    by = list(by)
    check_columns(data, [pre, post, *by])
    rc = reliable_change(
        data,
        pre=pre,
        post=post,
        reliability=reliability,
        sd_pre=sd_pre,
        higher_is_better=higher_is_better,
        z_crit=z_crit,
    )
    frame = pd.concat([data[by].reset_index(drop=True), rc["category"].reset_index(drop=True)], axis=1)
    if by:
        groups = frame.groupby(by, dropna=False, sort=True, observed=True)
    else:
        groups = [((), frame)]
    rows = []
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        counts = part["category"].value_counts()
        n = int(part["category"].notna().sum())
        for category in CATEGORIES:
            rows.append(
                {**dict(zip(by, key, strict=True)), "category": category, "count": int(counts[category]), "n": n}
            )
    table = pd.DataFrame(rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["share"] = np.where(table["n"] > 0, table["count"] / table["n"].where(table["n"] > 0), np.nan)
    low, high = _wilson(table["count"].to_numpy(), table["n"].to_numpy(), ci)
    label = ci_label(ci)
    table[f"{label}_low"] = low
    table[f"{label}_high"] = high
    table["category"] = pd.Categorical(table["category"], categories=list(CATEGORIES))
    return table.astype({"count": "int64", "n": "int64"})
