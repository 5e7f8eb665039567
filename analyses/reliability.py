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
import pingouin as pg
from scipy import optimize, stats

__all__ = ["cronbach_alpha", "item_rest_correlations", "mcdonald_omega", "reliability_table"]

#: Lower bound of a uniqueness in the maximum-likelihood fit (as ``factanal`` and ``psych::fa``).
PSI_LOWER = 0.005

#: SRMR above which the one-factor model behind omega is noted as fitting poorly (Hu & Bentler 1999).
SRMR_POOR_FIT = 0.08


# ----------------------------------------------------------------------------- input checks


def _ci_label(ci: float) -> str:
    """``0.95`` -> ``"ci95"``, ``0.975`` -> ``"ci97_5"`` (identifier-safe)."""
    return "ci" + f"{100 * ci:.10g}".replace(".", "_")


def _check_ci(ci: float) -> None:
    if not (isinstance(ci, float | int) and 0 < ci < 1):
        raise ValueError(f"ci must be a number between 0 and 1 (e.g. 0.95), got {ci!r}")


def _complete_items(data: pd.DataFrame, items: Sequence[str], *, min_items: int, min_rows: int) -> pd.DataFrame:
    """Return the numeric item columns on complete rows, or raise ``ValueError`` saying why not."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if isinstance(items, str):
        raise ValueError("items must be a list of column names, not a single string")
    items = list(items)
    if len(set(items)) != len(items):
        raise ValueError(f"items contains duplicate column names: {items}")
    missing = [c for c in items if c not in data.columns]
    if missing:
        raise ValueError(f"item column(s) not in data: {missing}")
    if len(items) < min_items:
        raise ValueError(f"at least {min_items} items are needed, got {len(items)}: {items}")
    block = data[items]
    not_numeric = [c for c in items if not pd.api.types.is_numeric_dtype(block[c])]
    if not_numeric:
        raise ValueError(f"item column(s) are not numeric: {not_numeric}")
    complete = block.dropna(axis=0, how="any").astype(float)
    if len(complete) < min_rows:
        raise ValueError(
            f"{len(complete)} complete row(s) on items {items}; at least {min_rows} are needed "
            f"({len(block)} rows in data, {len(block) - len(complete)} with a missing item)"
        )
    return complete


def _constant_items(complete: pd.DataFrame) -> list[str]:
    return [c for c in complete.columns if complete[c].var(ddof=1) == 0]


# ----------------------------------------------------------------------------- alpha


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
    _check_ci(ci)
    complete = _complete_items(data, items, min_items=2, min_rows=2)
    n, k = complete.shape
    alpha, _ = pg.cronbach_alpha(data=complete, nan_policy="listwise", ci=ci)
    low, high = _feldt_interval(float(alpha), n, k, ci)
    label = _ci_label(ci)
    return pd.DataFrame({"alpha": [float(alpha)], f"{label}_low": [low], f"{label}_high": [high], "n": [n], "k": [k]})


# ----------------------------------------------------------------------------- omega


def _ml_objective(psi: np.ndarray, corr: np.ndarray) -> tuple[float, np.ndarray]:
    """Concentrated ML discrepancy of a one-factor model and its gradient in the uniquenesses.

    For fixed uniquenesses ``psi`` the best loadings follow from the leading eigenpair of
    :math:`\\Psi^{-1/2} R \\Psi^{-1/2}`; what is left to minimise is
    :math:`-\\sum_{j \\ge 2} (\\log e_j - e_j) - (p - 1)` (Joreskog 1967; R's ``factanal``).
    """
    scale = 1 / np.sqrt(psi)
    values, vectors = np.linalg.eigh(corr * np.outer(scale, scale))
    values, vectors = values[::-1], vectors[:, ::-1]
    rest = values[1:]
    value = -float(np.sum(np.log(rest) - rest)) - (len(psi) - 1)
    loading = np.sqrt(psi) * vectors[:, 0] * np.sqrt(max(values[0] - 1, 0.0))
    residual_diag = loading**2 + psi - np.diag(corr)
    return value, residual_diag / psi**2


def _fit_one_factor_ml(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Maximum-likelihood one-factor fit of a correlation matrix: (loadings, uniquenesses, converged)."""
    p = corr.shape[0]
    start = np.clip((1 - 0.5 / p) / np.diag(np.linalg.inv(corr)), PSI_LOWER, 1.0)
    result = optimize.minimize(
        _ml_objective,
        start,
        args=(corr,),
        jac=True,
        method="L-BFGS-B",
        bounds=[(PSI_LOWER, 1.0)] * p,
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )
    psi = result.x
    scale = 1 / np.sqrt(psi)
    values, vectors = np.linalg.eigh(corr * np.outer(scale, scale))
    loading = np.sqrt(psi) * vectors[:, -1] * np.sqrt(max(values[-1] - 1, 0.0))
    if loading.sum() < 0:  # the sign of an eigenvector is arbitrary
        loading = -loading
    return loading, psi, bool(result.success)


def mcdonald_omega(data: pd.DataFrame, *, items: Sequence[str], standardized: bool = False) -> pd.DataFrame:
    """McDonald's omega total of the unweighted sum of ``items``, from a one-factor ML model.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data: one row per completed questionnaire, one numeric column per item.
    items : list of str
        The item columns of one scale (at least 3: a one-factor model of 2 items is not
        identified), already scored in the scale's direction.
    standardized : bool, keyword-only
        ``False`` (default): omega of the raw sum score (item covariances), the score the
        pipeline reports and the metric of raw alpha. ``True``: omega of the sum of
        standardised items (item correlations), the default of ``psych::omega``.

    Returns
    -------
    pandas.DataFrame
        One row: ``omega_total``, ``n`` (complete rows), ``k`` (items), ``srmr`` (fit of the
        one-factor model, see Notes), ``heywood_case`` (an estimated uniqueness at its lower
        bound 0.005, so a loading of about 1: read omega with care) and ``converged`` (the
        optimiser's own report).

    Notes
    -----
    A one-factor model :math:`\\Sigma = \\lambda\\lambda^\\top + \\Psi` is fitted by maximum
    likelihood to the item correlation matrix of the complete rows (Joreskog 1967; the
    algorithm of R's ``factanal``: the loadings are concentrated out and the uniquenesses
    minimised with L-BFGS-B on :math:`[0.005, 1]`). Then

    .. math::

        \\omega_t = \\frac{(\\sum_i \\lambda_i)^2}{(\\sum_i \\lambda_i)^2 + \\sum_i \\psi_i}

    (McDonald 1999, ch. 6; Revelle & Zinbarg 2009), with :math:`\\lambda_i = s_i \\lambda^*_i`
    and :math:`\\psi_i = s_i^2 \\psi^*_i` for the raw score (:math:`s_i` the item SD) or the
    standardised solution :math:`\\lambda^*, \\psi^*` when ``standardized=True``.

    Why maximum likelihood rather than psych's default minres: the ML solution is scale-free
    (the covariance fit is exactly the rescaled correlation fit), so the raw-score omega follows
    from one fit; it is the estimator of the confirmatory one-factor models from which omega is
    usually reported (lavaan, semTools, JASP); and it reproduces every item variance exactly,
    so the denominator above equals the observed-score variance implied by the model. The
    denominator is model-implied, as in the formula of McDonald (1999); ``psych::omega`` divides
    by the observed variance of the sum instead and fits by minres, so its ``omega.tot``
    differs slightly (by 0.0005 on the simulated data of the tests; more when the model
    fits poorly). No item is reversed here (psych flips items with negative loadings): omega
    describes the score as it is computed.

    Omega total assumes the one-factor model holds. ``srmr`` is the standardised root mean
    square residual of the fitted correlation matrix,
    :math:`\\sqrt{\\sum_{i \\le j} (r_{ij} - \\hat\\sigma_{ij})^2 / (k(k+1)/2)}`; above about .08
    (Hu & Bentler 1999) the scale is not unidimensional (e.g. the three UWES-9 subscales), a
    one-factor omega is not a valid estimate of the reliability of the total, and the subscales
    should be reported instead.

    R equivalent: ``f <- psych::fa(x, nfactors = 1, fm = "ml")`` (or ``factanal(x, 1)``),
    then ``l <- f$loadings[, 1] * apply(x, 2, sd); u <- f$uniquenesses * apply(x, 2, sd)^2;
    sum(l)^2 / (sum(l)^2 + sum(u))`` (drop the ``sd`` factors for ``standardized = TRUE``).

    References
    ----------
    Joreskog, K. G. (1967). Some contributions to maximum likelihood factor analysis.
    Psychometrika, 32(4), 443-482.

    McDonald, R. P. (1999). Test theory: A unified treatment. Mahwah, NJ: Erlbaum.

    Revelle, W., & Zinbarg, R. E. (2009). Coefficients alpha, beta, omega, and the glb: Comments
    on Sijtsma. Psychometrika, 74(1), 145-154.

    Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in covariance structure
    analysis. Structural Equation Modeling, 6(1), 1-55.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> f = rng.normal(size=(5000, 1))
    >>> x = pd.DataFrame(f * [0.8, 0.7, 0.6, 0.5] + rng.normal(size=(5000, 4)) * [0.6, 0.714, 0.8, 0.866],
    ...                  columns=["i1", "i2", "i3", "i4"])
    >>> res = mcdonald_omega(x, items=["i1", "i2", "i3", "i4"])
    >>> # population value: 2.6**2 / (2.6**2 + 2.26) = 0.7494
    >>> bool(abs(res["omega_total"].iloc[0] - 0.7494) < 0.01)
    True
    """
    complete = _complete_items(data, items, min_items=3, min_rows=len(list(items)) + 2)
    constant = _constant_items(complete)
    if constant:
        raise ValueError(f"item(s) without variance in the complete rows: {constant}; omega is not defined")
    values = complete.to_numpy()
    corr = np.corrcoef(values, rowvar=False)
    if np.linalg.eigvalsh(corr)[0] <= 1e-10:
        raise ValueError(f"the correlation matrix of items {list(items)} is singular; omega is not defined")
    loading, psi, converged = _fit_one_factor_ml(corr)
    residual = corr - np.outer(loading, loading) - np.diag(psi)
    srmr = float(np.sqrt(np.mean(residual[np.tril_indices_from(residual)] ** 2)))
    heywood = bool(np.any(psi <= PSI_LOWER * (1 + 1e-6)))
    if not standardized:
        sd = values.std(axis=0, ddof=1)
        loading, psi = loading * sd, psi * sd**2
    common = loading.sum() ** 2
    omega = common / (common + psi.sum())
    return pd.DataFrame(
        {
            "omega_total": [float(omega)],
            "n": [len(complete)],
            "k": [complete.shape[1]],
            "srmr": [srmr],
            "heywood_case": [heywood],
            "converged": [converged],
        }
    )


# ----------------------------------------------------------------------------- item-rest


def item_rest_correlations(data: pd.DataFrame, *, items: Sequence[str]) -> pd.DataFrame:
    """Corrected item-total (item-rest) correlation of each item, and alpha if it is dropped.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data: one row per completed questionnaire, one numeric column per item.
    items : list of str
        The item columns of one scale (at least 2), already scored in the scale's direction.

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
    complete = _complete_items(data, items, min_items=2, min_rows=3)
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
        if len(others) >= 2:
            alpha_drop = float(pg.cronbach_alpha(data=complete[others], nan_policy="listwise")[0])
        else:
            alpha_drop = np.nan
        rows.append({"item": item, "r_item_rest": r, "alpha_if_dropped": alpha_drop, "n": len(complete)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- table


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
    _check_ci(ci)
    needed = by + [item for scale_items in scales.values() for item in scale_items]
    missing = sorted({c for c in needed if c not in item_wide.columns})
    if missing:
        raise ValueError(f"column(s) not in item_wide: {missing}")
    label = _ci_label(ci)

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
        rest = item_rest_correlations(frame, items=items)
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
