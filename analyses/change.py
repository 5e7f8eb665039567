"""Short-term change (baseline to about three months): effect sizes, reliable change, responsiveness.

One function per statistic, in the style of pingouin: ``data`` with one row per participant and
the column names of the two measurements (``pre``, ``post``) or of the outcome and the arm,
keyword-only options, tidy DataFrames with identifier-safe columns; nothing is rounded.

* :func:`hedges_g_change` -- within-person standardised change, Hedges' :math:`g_{av}` with the
  Algina-Keselman interval (Lakens 2013; Cumming 2012);
* :func:`hedges_g` -- between-arm Hedges' g of an outcome such as the change score, intervisie vs
  comparison (pingouin's ``compute_effsize`` and ``compute_esci``);
* :func:`standardised_response_mean` -- responsiveness of an instrument (Liang et al. 1990) with
  an exact noncentral-t interval.

Change is always ``post - pre``. Rows without both measurements are left out of every
statistic (and reported as missing by :func:`reliable_change`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import optimize, stats

from analyses.checks import check_ci, check_columns, ci_label

__all__ = ["hedges_g", "hedges_g_change", "standardised_response_mean"]

#: Reliable-change categories, in reporting order.


def _pairs(data: pd.DataFrame, pre: str, post: str, *, min_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pre and post values of the rows with both, or ``ValueError`` if fewer than ``min_n``."""
    check_columns(data, [pre, post], numeric=[pre, post])
    if pre == post:
        raise ValueError(f"pre and post must be different columns, got {pre!r} twice")
    both = data[[pre, post]].dropna()
    if len(both) < min_n:
        raise ValueError(
            f"{len(both)} row(s) with both {pre!r} and {post!r}; at least {min_n} are needed ({len(data)} rows in data)"
        )
    return both[pre].to_numpy(dtype=float), both[post].to_numpy(dtype=float)


def _ncp_interval(t: float, df: float, ci: float) -> tuple[float, float]:
    """Confidence interval of the noncentrality parameter of a t statistic (Steiger & Fouladi 1997).

    Solves ``nct.cdf(t, df, lower) = 1 - (1 - ci) / 2`` and ``nct.cdf(t, df, upper) = (1 - ci) / 2``;
    the cdf decreases in the noncentrality parameter, so each root is unique.
    """
    if not np.isfinite(t):
        return np.nan, np.nan
    tail = (1 - ci) / 2

    def root(target: float) -> float:
        def gap(ncp: float) -> float:
            return float(stats.nct.cdf(t, df, ncp)) - target

        width = 2.0 + abs(t)
        low, high = t - width, t + width
        while gap(low) < 0:
            low -= width
        while gap(high) > 0:
            high += width
        return float(optimize.brentq(gap, low, high, xtol=1e-14, rtol=1e-14, maxiter=500))

    return root(1 - tail), root(tail)


def hedges_g_change(data: pd.DataFrame, *, pre: str, post: str, ci: float = 0.95) -> pd.DataFrame:
    """Within-person standardised change from ``pre`` to ``post``: Hedges' :math:`g_{av}` with CI.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant, with the two measurements as columns.
    pre, post : str, keyword-only
        Columns of the baseline and the follow-up score; change is ``post - pre``.
    ci : float, keyword-only
        Confidence level (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row: ``n`` (participants with both scores), ``mean_pre``, ``mean_post``,
        ``mean_change``, ``sd_pre``, ``sd_post``, ``sd_change``, ``r_pre_post``, ``d_av``,
        ``g_av``, ``ci95_low`` and ``ci95_high`` (interval for the population
        :math:`\\delta_{av}`, named after ``ci``).

    Notes
    -----
    The standardiser is the average of the two variances (Cumming 2012; Lakens 2013 with the
    correction pingouin notes), so that the effect is on the scale of a between-person SD and
    comparable with between-group effects:

    .. math::

        d_{av} = \\frac{\\bar x_{post} - \\bar x_{pre}}{\\sqrt{(s^2_{pre} + s^2_{post}) / 2}},
        \\qquad g_{av} = J\\, d_{av}, \\qquad J = 1 - \\frac{3}{4(n - 1) - 1}

    :math:`J` is Hedges' small-sample correction with the :math:`n - 1` degrees of freedom of a
    matched design (Borenstein et al. 2009, ch. 4: :math:`J = 1 - 3/(4\\,df - 1)`, df = n - 1).
    Lakens' (2013) reported :math:`g_{av}` = 1.08 for his movie example corresponds to the
    two-independent-groups correction :math:`1 - 3/(4 \\cdot 2n - 9)`, which is also what
    ``pingouin.compute_effsize(paired=True, eftype="hedges")`` applies; it corrects less
    (1.08 there, 1.03 here for n = 10).

    The interval is the approximate noncentral-t interval of Algina & Keselman (2003) that ESCI
    (Cumming 2012) and Lakens (2013) report: with :math:`t = \\bar D / (s_D / \\sqrt n)` the
    paired t statistic on :math:`n - 1` df and :math:`[\\lambda_L, \\lambda_U]` the exact
    interval of its noncentrality parameter,

    .. math:: \\left[\\lambda_L, \\lambda_U\\right] \\cdot \\frac{s_D}{\\sqrt n\\, s_{av}}.

    It is an interval for :math:`\\delta_{av}`, not multiplied by :math:`J`. No interval when
    all changes are equal (``sd_change`` = 0).

    R equivalent: by hand, ``d <- mean(post - pre) / sqrt((var(pre) + var(post)) / 2)``; the
    interval is ``MBESS::conf.limits.nct(t, n - 1)`` times ``sd(post - pre) / (sqrt(n) * s_av)``
    (``MOTE::d.dep.t.avg`` averages the SDs rather than the variances).

    References
    ----------
    Algina, J., & Keselman, H. J. (2003). Approximate confidence intervals for effect sizes.
    Educational and Psychological Measurement, 63(4), 537-553.

    Borenstein, M., Hedges, L. V., Higgins, J. P. T., & Rothstein, H. R. (2009). Introduction to
    meta-analysis. Wiley (chapter 4).

    Cumming, G. (2012). Understanding the new statistics. Routledge.

    Lakens, D. (2013). Calculating and reporting effect sizes to facilitate cumulative science:
    a practical primer for t-tests and ANOVAs. Frontiers in Psychology, 4, 863.

    Examples
    --------
    Lakens' (2013) movie-rating example: d_av 1.13, 95% CI [0.42, 1.80].

    >>> import pandas as pd
    >>> movies = pd.DataFrame({"movie_2": [9, 6, 7, 8, 7, 9, 8, 8, 8, 7],
    ...                        "movie_1": [9, 7, 8, 9, 8, 9, 9, 10, 9, 9]})
    >>> res = hedges_g_change(movies, pre="movie_2", post="movie_1")
    >>> res[["d_av", "g_av", "ci95_low", "ci95_high"]].round(4).to_numpy().tolist()
    [[1.1259, 1.0294, 0.4207, 1.804]]
    """
    check_ci(ci)
    x_pre, x_post = _pairs(data, pre, post, min_n=2)
    n = len(x_pre)
    change = x_post - x_pre
    var_pre, var_post = x_pre.var(ddof=1), x_post.var(ddof=1)
    sd_av = np.sqrt((var_pre + var_post) / 2)
    sd_change = change.std(ddof=1)
    if sd_av == 0:
        raise ValueError(f"{pre!r} and {post!r} have no variance; a standardised change is not defined")
    d_av = change.mean() / sd_av
    correction = 1 - 3 / (4 * (n - 1) - 1)
    if sd_change > 0:
        t = change.mean() / (sd_change / np.sqrt(n))
        low, high = (ncp * sd_change / (np.sqrt(n) * sd_av) for ncp in _ncp_interval(t, n - 1, ci))
    else:
        low = high = np.nan
    with np.errstate(invalid="ignore"):
        r = np.corrcoef(x_pre, x_post)[0, 1] if min(var_pre, var_post) > 0 else np.nan
    label = ci_label(ci)
    return pd.DataFrame(
        {
            "n": [n],
            "mean_pre": [x_pre.mean()],
            "mean_post": [x_post.mean()],
            "mean_change": [change.mean()],
            "sd_pre": [np.sqrt(var_pre)],
            "sd_post": [np.sqrt(var_post)],
            "sd_change": [sd_change],
            "r_pre_post": [r],
            "d_av": [d_av],
            "g_av": [correction * d_av],
            f"{label}_low": [low],
            f"{label}_high": [high],
        }
    )


# ----------------------------------------------------------------------------- between-arm g


def hedges_g(
    data: pd.DataFrame,
    *,
    dv: str,
    between: str,
    levels: Sequence[object] | None = None,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Hedges' g between two groups (e.g. change in the intervisie arm vs the comparison arm).

    Parameters
    ----------
    data : pandas.DataFrame
        Long data: one row per participant.
    dv : str, keyword-only
        The outcome column, e.g. the change score ``post - pre``.
    between : str, keyword-only
        The column with the two groups.
    levels : pair of values, keyword-only
        ``(a, b)``: the effect is ``a - b`` (e.g. ``("intervisie", "comparison")``). Default: the
        two levels present, sorted.
    ci : float, keyword-only
        Confidence level (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row: ``level_a``, ``level_b``, ``n_a``, ``n_b``, ``mean_a``, ``mean_b``,
        ``mean_diff``, ``d`` (Cohen's d, pooled SD), ``g`` (Hedges' g), ``ci95_low``,
        ``ci95_high`` (interval around g, named after ``ci``).

    Notes
    -----
    With :math:`s_p` the pooled SD (:func:`pingouin.compute_effsize`):

    .. math::

        d = \\frac{\\bar x_a - \\bar x_b}{s_p}, \\qquad
        g = d \\left(1 - \\frac{3}{4(n_a + n_b) - 9}\\right)

    and the interval of :func:`pingouin.compute_esci` (Hedges & Olkin 1985, p. 86), computed
    without its rounding:

    .. math::

        g \\pm t_{1-\\gamma/2,\\, n_a + n_b - 2}
        \\sqrt{\\frac{n_a + n_b}{n_a n_b} + \\frac{g^2}{2(n_a + n_b)}}

    R's ``effectsize::hedges_g`` uses the exact gamma-function correction (1e-4 relative
    difference for n = 20) and a noncentral-t interval, which is narrower for small groups:
    for Lakens' movies as two groups of 10, [0.07, 2.08] here and [0.16, 1.97] in R. For a change score this ignores the clustering of participants in intervisie
    groups; the growth models are the primary analysis.

    R equivalent: ``effectsize::hedges_g(dv ~ between, data = data)`` (see above).

    References
    ----------
    Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect size and related
    estimators. Journal of Educational Statistics, 6(2), 107-128.

    Hedges, L. V., & Olkin, I. (1985). Statistical methods for meta-analysis. Academic Press.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"change": [1, 2, 3, 4, 3, 4, 5, 6, 7],
    ...                    "arm": ["a"] * 4 + ["b"] * 5})
    >>> res = hedges_g(df, dv="change", between="arm")
    >>> float(res["d"].iloc[0])  # pingouin docs: -1.707825127659933
    -1.707825127659933
    """
    check_ci(ci)
    check_columns(data, [dv, between], numeric=[dv])
    used = data.loc[data[dv].notna() & data[between].notna(), [dv, between]]
    present = pd.unique(used[between])
    if levels is None:
        if len(present) != 2:
            raise ValueError(
                f"column {between!r} must have exactly 2 levels with a value of {dv!r}, found {len(present)}: "
                f"{sorted(map(str, present))}"
            )
        level_a, level_b = sorted(present)
    else:
        if isinstance(levels, str) or len(levels) != 2 or levels[0] == levels[1]:
            raise ValueError(f"levels must be two different values of {between!r}, got {levels!r}")
        level_a, level_b = levels
    x = used.loc[used[between] == level_a, dv].to_numpy(dtype=float)
    y = used.loc[used[between] == level_b, dv].to_numpy(dtype=float)
    for level, values in ((level_a, x), (level_b, y)):
        if len(values) < 2:
            raise ValueError(
                f"level {level!r} of {between!r} has {len(values)} value(s) of {dv!r}; at least 2 are needed"
            )
    nx, ny = len(x), len(y)
    if x.var(ddof=1) == 0 and y.var(ddof=1) == 0:
        raise ValueError(f"{dv!r} has no variance within the groups; a standardised difference is not defined")
    d = float(pg.compute_effsize(x, y, paired=False, eftype="cohen"))
    g = float(pg.compute_effsize(x, y, paired=False, eftype="hedges"))
    se = np.sqrt((nx + ny) / (nx * ny) + g**2 / (2 * (nx + ny)))
    crit = stats.t.ppf(1 - (1 - ci) / 2, nx + ny - 2)
    label = ci_label(ci)
    return pd.DataFrame(
        {
            "level_a": [level_a],
            "level_b": [level_b],
            "n_a": [nx],
            "n_b": [ny],
            "mean_a": [x.mean()],
            "mean_b": [y.mean()],
            "mean_diff": [x.mean() - y.mean()],
            "d": [d],
            "g": [g],
            f"{label}_low": [g - crit * se],
            f"{label}_high": [g + crit * se],
        }
    )


def standardised_response_mean(data: pd.DataFrame, *, pre: str, post: str, ci: float = 0.95) -> pd.DataFrame:
    """Standardised response mean (SRM) of an instrument, with an exact noncentral-t interval.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant, with the two measurements as columns.
    pre, post : str, keyword-only
        Columns of the baseline and the follow-up score; change is ``post - pre``.
    ci : float, keyword-only
        Confidence level (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row: ``n``, ``mean_change``, ``sd_change``, ``srm``, ``ci95_low``, ``ci95_high``
        (named after ``ci``).

    Notes
    -----
    .. math:: SRM = \\frac{\\bar D}{s_D}, \\qquad D = x_{post} - x_{pre}

    (Liang, Fossel & Larson 1990; it equals Cohen's :math:`d_z`). Since
    :math:`SRM \\sqrt n` is the paired t statistic, which follows a noncentral t distribution
    with :math:`n - 1` df and noncentrality :math:`\\delta \\sqrt n`, the interval
    :math:`[\\lambda_L, \\lambda_U] / \\sqrt n` from inverting that distribution is exact for
    normally distributed changes (Steiger & Fouladi 1997; Cumming 2012). No bias correction is
    applied: the SRM is conventionally reported uncorrected.

    R equivalent: ``effectsize::cohens_d(post, pre, paired = TRUE)`` (effectsize 0.8.3: same
    estimate and interval).

    References
    ----------
    Liang, M. H., Fossel, A. H., & Larson, M. G. (1990). Comparisons of five health status
    instruments for orthopedic evaluation. Medical Care, 28(7), 632-642.

    Husted, J. A., Cook, R. J., Farewell, V. T., & Gladman, D. D. (2000). Methods for assessing
    responsiveness: a critical review and recommendations. Journal of Clinical Epidemiology,
    53(5), 459-468.

    Steiger, J. H., & Fouladi, R. T. (1997). Noncentrality interval estimation and the
    evaluation of statistical models. In L. L. Harlow et al. (Eds.), What if there were no
    significance tests? (pp. 221-257). Erlbaum.

    Examples
    --------
    >>> import pandas as pd
    >>> movies = pd.DataFrame({"movie_2": [9, 6, 7, 8, 7, 9, 8, 8, 8, 7],
    ...                        "movie_1": [9, 7, 8, 9, 8, 9, 9, 10, 9, 9]})
    >>> res = standardised_response_mean(movies, pre="movie_2", post="movie_1")
    >>> # R: effectsize::cohens_d(movie_1, movie_2, paired = TRUE) -> 1.5 [0.5605, 2.4034]
    >>> res[["srm", "ci95_low", "ci95_high"]].round(4).to_numpy().tolist()
    [[1.5, 0.5605, 2.4034]]
    """
    check_ci(ci)
    x_pre, x_post = _pairs(data, pre, post, min_n=2)
    n = len(x_pre)
    change = x_post - x_pre
    sd_change = change.std(ddof=1)
    if sd_change == 0:
        raise ValueError(f"all changes from {pre!r} to {post!r} are equal; the SRM is not defined")
    srm = change.mean() / sd_change
    low, high = (ncp / np.sqrt(n) for ncp in _ncp_interval(srm * np.sqrt(n), n - 1, ci))
    label = ci_label(ci)
    return pd.DataFrame(
        {
            "n": [n],
            "mean_change": [change.mean()],
            "sd_change": [sd_change],
            "srm": [srm],
            f"{label}_low": [low],
            f"{label}_high": [high],
        }
    )
