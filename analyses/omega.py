"""McDonald's omega total from a one-factor maximum-likelihood factor analysis.

:math:`\\omega_t = (\\sum\\lambda)^2 / ((\\sum\\lambda)^2 + \\sum\\psi)` (McDonald 1999; Revelle & Zinbarg
2009), with loadings and uniquenesses from the ML one-factor fit of R's ``factanal``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize

from analyses.checks import complete_items, constant_items

#: Lower bound of a uniqueness in the maximum-likelihood fit (as ``factanal`` and ``psych::fa``).
PSI_LOWER = 0.005


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
    complete = complete_items(data, items, min_items=3, min_rows=len(list(items)) + 2)
    constant = constant_items(complete)
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
