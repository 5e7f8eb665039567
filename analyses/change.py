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
from scipy import stats

from analyses.checks import check_ci, check_columns, ci_label
from analyses.noncentral import ncp_interval

__all__ = ["hedges_g", "hedges_g_change", "standardised_response_mean"]

#: a spread below this fraction of the scores' magnitude is zero (floating-point noise of equal values)
ZERO_SPREAD = 1e-10


def _pairs(data: pd.DataFrame, pre: str, post: str) -> tuple[np.ndarray, np.ndarray]:
    """Pre and post values of the rows with both (``ValueError`` only for unusable columns)."""
    check_columns(data, [pre, post], numeric=[pre, post])
    if pre == post:
        raise ValueError(f"pre and post must be different columns, got {pre!r} twice")
    both = data[[pre, post]].dropna()
    return both[pre].to_numpy(dtype=float), both[post].to_numpy(dtype=float)


def _sd(values: np.ndarray, magnitude: float) -> float:
    """Sample SD, exactly 0 when the spread is floating-point noise (equal values computed differently).

    Four changes of 0.2 computed as ``post - pre`` can differ in the 16th digit, which gives an SD
    of 1e-16 and a t statistic of 1e15; such an SD is zero: spread below :data:`ZERO_SPREAD` times
    ``max(1, magnitude)`` (the largest absolute score) counts as none.
    """
    if len(values) < 2 or np.ptp(values) <= ZERO_SPREAD * max(1.0, magnitude):
        return 0.0
    return float(values.std(ddof=1))


def _too_few(n: int, pre: str, post: str, needed: int = 2) -> str:
    return f"not estimable: {n} participant(s) with both {pre!r} and {post!r}; at least {needed} are needed"


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
        :math:`\\delta_{av}`, named after ``ci``) and ``note`` (why a value is missing, else None).

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

    It is an interval for :math:`\\delta_{av}`, not multiplied by :math:`J`; the noncentral-t
    inversion is :func:`analyses.noncentral.ncp_interval` (normal approximation above 10 000 df).

    Degenerate data give NaN and a ``note`` instead of an error: fewer than 2 pairs, no variance
    at either wave (no :math:`d_{av}`), 2 pairs (no :math:`J`, so no :math:`g_{av}`), all changes
    equal (``sd_change`` 0: no interval). SDs below floating-point noise count as 0.

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
    x_pre, x_post = _pairs(data, pre, post)
    n = len(x_pre)
    label = ci_label(ci)
    row = dict.fromkeys(["mean_pre", "mean_post", "mean_change", "sd_pre", "sd_post", "sd_change", "r_pre_post",
                         "d_av", "g_av", f"{label}_low", f"{label}_high"], np.nan)
    row = {"n": n, **row, "note": None}
    if n < 2:
        return pd.DataFrame([{**row, "note": _too_few(n, pre, post)}])
    change = x_post - x_pre
    magnitude = float(max(np.abs(x_pre).max(), np.abs(x_post).max()))
    sd_pre, sd_post, sd_change = _sd(x_pre, magnitude), _sd(x_post, magnitude), _sd(change, magnitude)
    sd_av = np.sqrt((sd_pre**2 + sd_post**2) / 2)
    row.update(mean_pre=x_pre.mean(), mean_post=x_post.mean(), mean_change=change.mean(), sd_pre=sd_pre,
               sd_post=sd_post, sd_change=sd_change)
    if min(sd_pre, sd_post) > 0:
        row["r_pre_post"] = float(np.corrcoef(x_pre, x_post)[0, 1])
    if sd_av == 0:
        row["note"] = f"not estimable: {pre!r} and {post!r} have no variance (all scores equal)"
        return pd.DataFrame([row])
    notes = []
    row["d_av"] = d_av = change.mean() / sd_av
    if n >= 3:
        row["g_av"] = (1 - 3 / (4 * (n - 1) - 1)) * d_av
    else:
        notes.append("g_av not estimable with 2 participants (the small-sample correction is 0)")
    if sd_change > 0:
        t = change.mean() / (sd_change / np.sqrt(n))
        low, high, method = ncp_interval(t, n - 1, ci)
        row[f"{label}_low"], row[f"{label}_high"] = (ncp * sd_change / (np.sqrt(n) * sd_av) for ncp in (low, high))
        if method != "exact":
            notes.append(f"interval: {method}")
    else:
        notes.append("interval not estimable: all changes are equal (SD of change 0)")
    row["note"] = "; ".join(notes) or None
    return pd.DataFrame([row])


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
        ``ci95_high`` (interval around g, named after ``ci``), ``note``: NaN and the reason when
        a group has fewer than 2 values or the values are tied within both groups.

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
    nx, ny = len(x), len(y)
    label = ci_label(ci)
    row = {"level_a": level_a, "level_b": level_b, "n_a": nx, "n_b": ny, "mean_a": np.nan, "mean_b": np.nan,
           "mean_diff": np.nan, "d": np.nan, "g": np.nan, f"{label}_low": np.nan, f"{label}_high": np.nan,
           "note": None}
    small = [f"{level!r} has {len(v)}" for level, v in ((level_a, x), (level_b, y)) if len(v) < 2]
    if small:
        row["note"] = f"not estimable: {' and '.join(small)} value(s) of {dv!r}; at least 2 per group are needed"
        return pd.DataFrame([row])
    row.update(mean_a=x.mean(), mean_b=y.mean(), mean_diff=x.mean() - y.mean())
    magnitude = float(np.abs(np.concatenate([x, y])).max())
    if _sd(x, magnitude) == 0 and _sd(y, magnitude) == 0:
        row["note"] = f"not estimable: {dv!r} has no variance within the groups (all values tied)"
        return pd.DataFrame([row])
    import pingouin as pg  # here, not at the top: the stages that never call it skip its 2 s import
    d = float(pg.compute_effsize(x, y, paired=False, eftype="cohen"))
    g = float(pg.compute_effsize(x, y, paired=False, eftype="hedges"))
    se = np.sqrt((nx + ny) / (nx * ny) + g**2 / (2 * (nx + ny)))
    crit = stats.t.ppf(1 - (1 - ci) / 2, nx + ny - 2)
    row.update(d=d, g=g, **{f"{label}_low": g - crit * se, f"{label}_high": g + crit * se})
    return pd.DataFrame([row])


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
        (named after ``ci``), ``note``: NaN and the reason with fewer than 2 pairs or all changes
        equal (SD of change 0; below floating-point noise counts as 0).

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
    x_pre, x_post = _pairs(data, pre, post)
    n = len(x_pre)
    label = ci_label(ci)
    row = {"n": n, "mean_change": np.nan, "sd_change": np.nan, "srm": np.nan, f"{label}_low": np.nan,
           f"{label}_high": np.nan, "note": None}
    if n < 2:
        return pd.DataFrame([{**row, "note": _too_few(n, pre, post)}])
    change = x_post - x_pre
    sd_change = _sd(change, float(max(np.abs(x_pre).max(), np.abs(x_post).max())))
    row.update(mean_change=change.mean(), sd_change=sd_change)
    if sd_change == 0:
        row["note"] = f"not estimable: all changes from {pre!r} to {post!r} are equal (SD of change 0)"
        return pd.DataFrame([row])
    row["srm"] = srm = change.mean() / sd_change
    low, high, method = ncp_interval(srm * np.sqrt(n), n - 1, ci)
    row[f"{label}_low"], row[f"{label}_high"] = low / np.sqrt(n), high / np.sqrt(n)
    row["note"] = None if method == "exact" else f"interval: {method}"
    return pd.DataFrame([row])
