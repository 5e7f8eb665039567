"""Propensity scores, balancing weights and covariate balance for non-randomised comparisons.

When people choose (or are chosen) to join intervisie, the arms differ at baseline.  This module
turns the baseline adjustment set into a numeric matrix (:func:`adjustment_matrix`), fits the
propensity score ``e(x) = P(intervisie | x)`` by logistic regression (:func:`propensity_scores`,
Rosenbaum & Rubin 1983), turns it into balancing weights (:func:`balancing_weights`; overlap
weights by default, Li, Morgan & Zaslavsky 2018), and shows how well the weights balance the arms
(:func:`balance_table`, Austin 2009; Austin & Stuart 2015) and how many people the weighted arms
are worth (:func:`effective_sample_size`, Kish 1965).

References
----------
Rosenbaum, P. R., & Rubin, D. B. (1983). The central role of the propensity score in
observational studies for causal effects. *Biometrika*, 70(1), 41-55.

Li, F., Morgan, K. L., & Zaslavsky, A. M. (2018). Balancing covariates via propensity score
weighting. *Journal of the American Statistical Association*, 113(521), 390-400.

Austin, P. C. (2009). Balance diagnostics for comparing the distribution of baseline covariates
between treatment groups in propensity-score matched samples. *Statistics in Medicine*, 28,
3083-3107.

Austin, P. C., & Stuart, E. A. (2015). Moving towards best practice when using inverse probability
of treatment weighting (IPTW) using the propensity score to estimate causal treatment effects in
observational studies. *Statistics in Medicine*, 34, 3661-3679.

Kish, L. (1965). *Survey Sampling*. New York: Wiley.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm

BALANCE_THRESHOLD = 0.1  # |SMD| above this after weighting: the covariate counts as imbalanced
CLIP = 1e-6  # propensity scores are kept inside [CLIP, 1 - CLIP] (only when the fit reaches the edge)
BALANCE_COLUMNS = [
    "covariate",
    "smd_unweighted",
    "smd_weighted",
    "variance_ratio_unweighted",
    "variance_ratio_weighted",
    "imbalanced",
]


@dataclass(frozen=True)
class Covariate:
    """One baseline covariate of the adjustment set.

    Attributes
    ----------
    name : str
        The column in the analysis frame.
    kind : {"numeric", "binary", "categorical"}
        Numeric and binary (0/1) covariates enter as they are, categorical ones as dummies.
    levels : tuple of str
        Categorical only: the levels in order; the first is the reference.  Empty: the order of
        first appearance in the frame.
    """

    name: str
    kind: Literal["numeric", "binary", "categorical"]
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class PropensityFit:
    """A fitted propensity model.

    Attributes
    ----------
    scores : numpy.ndarray
        ``e(x)`` per row, inside ``[1e-6, 1 - 1e-6]``.
    converged : bool
        Whether the maximum-likelihood fit converged (False under separation).
    note : str
        Separation, non-convergence or clipping, in words; empty when none.
    params : pandas.Series
        The logistic coefficients (``const`` first, then the columns of ``X``).
    separation : {"none", "quasi", "complete"}
        ``complete``: the linear predictor separates the arms perfectly (no overlap at all);
        ``quasi``: some people have a score at the edge (no comparable person in the other arm).
    """

    scores: np.ndarray
    converged: bool
    note: str
    params: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    separation: Literal["none", "quasi", "complete"] = "none"


def _categorical_levels(values: pd.Series, cov: Covariate) -> list[str]:
    present = [str(v) for v in pd.unique(values.dropna())]
    levels = [str(v) for v in cov.levels]
    if not levels and isinstance(values.dtype, pd.CategoricalDtype) and values.cat.ordered:
        levels = [str(v) for v in values.cat.categories]
    return levels + [v for v in present if v not in levels]


def _columns_of(frame: pd.DataFrame, cov: Covariate) -> dict[str, pd.Series]:
    if cov.name not in frame.columns:
        raise ValueError(f"adjustment_matrix: covariate {cov.name!r} is not a column of the frame")
    values = frame[cov.name]
    if cov.kind in ("numeric", "binary"):
        if values.dtype.kind in "fiub":  # already numbers: no parsing needed
            numbers = pd.Series(values.to_numpy(dtype="float64"), index=frame.index)
            if cov.kind == "numeric":
                return {cov.name: numbers}
        else:
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        bad = numbers.isna() & values.notna()
        if cov.kind == "binary":
            bad |= numbers.notna() & ~numbers.isin([0.0, 1.0])
        if bad.any():
            first = values[bad].iloc[0]
            raise ValueError(
                f"adjustment_matrix: {cov.kind} covariate {cov.name!r} has {int(bad.sum())} value(s) that are not "
                f"{'0/1' if cov.kind == 'binary' else 'numbers'}, e.g. {first!r} (row {values[bad].index[0]!r})"
            )
        return {cov.name: numbers}
    if cov.kind != "categorical":
        raise ValueError(f"adjustment_matrix: covariate {cov.name!r} has unknown kind {cov.kind!r}")
    text = values.astype("string")
    levels = _categorical_levels(values, cov)
    missing = text.isna()
    return {
        f"{cov.name}: {level}": pd.Series(np.where(missing, np.nan, (text == level).fillna(False)), index=frame.index)
        .astype("float64")
        for level in levels[1:]
    }


def independent_columns(matrix: np.ndarray) -> list[int]:
    """Indices of the columns that are not constant and not a linear combination of the intercept and earlier columns.

    The same choice as R's ``lm`` and ``glm`` (which alias later columns of a rank-deficient model);
    columns are scaled to unit length first and the rank is judged with a relative tolerance of
    ``1e-10 sqrt(n)``.
    """
    m = np.asarray(matrix, dtype=float)
    keep: list[int] = []
    basis = np.ones((m.shape[0], 1))
    for j in range(m.shape[1]):
        x = m[:, j]
        if len(x) == 0 or not np.all(np.isfinite(x)) or np.ptp(x) == 0:
            continue
        trial = np.column_stack([basis, x])
        scaled = trial / np.linalg.norm(trial, axis=0)
        if np.linalg.matrix_rank(scaled, tol=1e-10 * np.sqrt(len(x))) == trial.shape[1]:
            keep.append(j)
            basis = trial
    return keep


def adjustment_matrix(frame: pd.DataFrame, covariates: Sequence[Covariate]) -> pd.DataFrame:
    """The numeric design matrix of the adjustment set (without intercept).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per participant with a column per covariate.
    covariates : sequence of Covariate
        The adjustment set, in order.

    Returns
    -------
    pandas.DataFrame
        Same index as ``frame``.  Numeric and binary covariates as they are (float); categorical
        ones as 0/1 dummies named ``"<name>: <level>"``, the reference (first) level dropped;
        levels present but not declared follow the declared ones in order of appearance.
        ``.attrs["dropped"]`` lists the columns left out: constant ones (including an all-missing
        covariate) and ones that are a linear combination of earlier columns and the intercept.

    Notes
    -----
    Missing values use the missing-indicator method: a covariate with missing values is filled
    with its mean among those observed and gets an extra 0/1 column ``"<name> (missing)"``, so
    that nobody is dropped and the pattern of missingness is balanced along with the observed
    values (Rosenbaum & Rubin 1984, appendix; D'Agostino & Rubin 2000).  It removes the bias when
    joining intervisie is ignorable given the observed values and which values are missing; it
    does not recover the unobserved values themselves.

    References: Rosenbaum, P. R., & Rubin, D. B. (1984). Reducing bias in observational studies
    using subclassification on the propensity score. *JASA*, 79, 516-524.  D'Agostino, R. B., &
    Rubin, D. B. (2000). Estimating and using propensity scores with partially missing data.
    *JASA*, 95, 749-759.
    """
    columns: dict[str, pd.Series] = {}
    for cov in covariates:
        parts = _columns_of(frame, cov)
        missing = frame[cov.name].isna()
        if cov.kind in ("numeric", "binary"):
            missing = missing | parts[cov.name].isna()
        for name, col in parts.items():
            columns[name] = col.fillna(col.mean()) if col.notna().any() else col.fillna(0.0)
        if missing.any():
            columns[f"{cov.name} (missing)"] = missing.astype("float64")
    matrix = pd.DataFrame(columns, index=frame.index, dtype="float64")
    keep = independent_columns(matrix.to_numpy())
    out = matrix.iloc[:, keep].copy()
    out.attrs["dropped"] = [str(c) for i, c in enumerate(matrix.columns) if i not in set(keep)]
    return out


def _edge_note(scores: np.ndarray) -> tuple[np.ndarray, str]:
    low, high = int((scores < CLIP).sum()), int((scores > 1 - CLIP).sum())
    if low == 0 and high == 0:
        return scores, ""
    clipped = np.clip(scores, CLIP, 1 - CLIP)
    return clipped, f"propensity scores clipped to [{CLIP:g}, 1 - {CLIP:g}] ({low + high} of {len(scores)})"


def propensity_scores(X: pd.DataFrame, treated: np.ndarray) -> PropensityFit:
    """Propensity scores by logistic maximum likelihood with an intercept.

    Parameters
    ----------
    X : pandas.DataFrame
        The adjustment matrix (:func:`adjustment_matrix`), without intercept.
    treated : numpy.ndarray
        1 (or True) for the intervisie arm, 0 for the comparison arm.

    Returns
    -------
    PropensityFit

    Notes
    -----
    .. math::

        \\operatorname{logit} e(x_i) = \\beta_0 + x_i^\\top \\beta, \\qquad
        \\hat\\beta = \\arg\\max \\sum_i t_i \\log e(x_i) + (1 - t_i) \\log(1 - e(x_i))

    fitted by Newton-Raphson (:class:`statsmodels.discrete.discrete_model.Logit`; the same
    estimate as R ``glm(family = binomial)``).  The propensity score is a balancing score:
    given ``e(x)`` the covariates are independent of the arm (Rosenbaum & Rubin 1983).  Under
    separation the MLE does not exist; the fit then stops with scores at 0 or 1, which are
    clipped to ``[1e-6, 1 - 1e-6]`` and noted.
    """
    t = np.asarray(treated, dtype=float)
    exog = sm.add_constant(np.asarray(X, dtype=float), has_constant="add").reshape(len(t), -1)
    names = ["const", *map(str, X.columns)]
    if not (np.all(np.isfinite(exog)) and np.all(np.isin(t, (0.0, 1.0)))):
        raise ValueError("propensity_scores: X must be finite (use adjustment_matrix) and treated 0/1")
    if len(t) == 0:
        return PropensityFit(np.array([], dtype=float), False, "no participants", pd.Series(dtype=float))
    if t.min() == t.max():
        return PropensityFit(np.full(len(t), np.nan), False, "only one arm present", pd.Series(dtype=float))
    notes: list[str] = []
    converged = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = sm.Logit(t, exog).fit(method="newton", maxiter=100, tol=1e-10, disp=0)
            converged = bool(res.mle_retvals.get("converged", False))
        except (np.linalg.LinAlgError, ValueError, OverflowError):
            res = sm.Logit(t, exog).fit(method="lbfgs", maxiter=2000, disp=0)
            converged = False
    params = pd.Series(np.asarray(res.params, dtype=float), index=names)
    linear = exog @ params.to_numpy()
    scores = 1.0 / (1.0 + np.exp(-np.clip(linear, -700, 700)))
    separation: Literal["none", "quasi", "complete"] = "none"
    at_edge = bool(np.any(scores < CLIP) or np.any(scores > 1 - CLIP))
    if any("separation" in str(w.message).lower() for w in caught) or at_edge or not converged:
        if linear[t == 1].min() > linear[t == 0].max():
            separation = "complete"
            notes.append("perfect separation: the covariates predict the arm exactly (no overlap)")
        elif at_edge:
            separation = "quasi"
            notes.append("quasi-complete separation: some people have no comparable person in the other arm")
    if not converged:
        notes.append("propensity model did not converge")
    scores, clip_note = _edge_note(scores)
    if clip_note:
        notes.append(clip_note)
    return PropensityFit(scores, converged, "; ".join(notes), params, separation)


def balancing_weights(
    treated: np.ndarray, scores: np.ndarray, estimand: Literal["att", "ato", "ate"]
) -> np.ndarray:
    """Balancing weights from propensity scores.

    Parameters
    ----------
    treated : numpy.ndarray
        1 for the intervisie arm, 0 for the comparison arm.
    scores : numpy.ndarray
        Propensity scores ``e`` in (0, 1).
    estimand : {"att", "ato", "ate"}
        The target population: the treated (ATT), the overlap population (ATO) or everyone (ATE).

    Returns
    -------
    numpy.ndarray
        One weight per person:

        ============  =============  ==============
        estimand      intervisie     comparison
        ============  =============  ==============
        ``att``       1              e / (1 - e)
        ``ato``       1 - e          e
        ``ate``       1 / e          1 / (1 - e)
        ============  =============  ==============

    Notes
    -----
    Overlap weights (``ato``) target the people who could have been in either arm, are bounded
    and, with a logistic propensity model, balance the mean of every covariate in the model exactly
    (Li, Morgan & Zaslavsky 2018, Theorem 3).  ATT and ATE weights: Austin & Stuart (2015).
    """
    t = np.asarray(treated, dtype=float)
    e = np.asarray(scores, dtype=float)
    if t.shape != e.shape:
        raise ValueError(f"balancing_weights: treated has shape {t.shape} but scores {e.shape}")
    if estimand == "att":
        return np.where(t == 1, 1.0, e / (1.0 - e))
    if estimand == "ato":
        return np.where(t == 1, 1.0 - e, e)
    if estimand == "ate":
        return np.where(t == 1, 1.0 / e, 1.0 / (1.0 - e))
    raise ValueError(f"balancing_weights: unknown estimand {estimand!r} (use 'att', 'ato' or 'ate')")


def _weighted_mean_var(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean and the reliability-weighted ("unbiased") variance; with w = 1 the sample variance."""
    sw = w.sum()
    if len(x) == 0 or sw <= 0:
        return np.nan, np.nan
    mean = float(np.sum(w * x) / sw)
    denom = sw**2 - np.sum(w**2)
    var = float(sw * np.sum(w * (x - mean) ** 2) / denom) if denom > 0 else np.nan
    return mean, var


def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else np.nan


def balance_table(X: pd.DataFrame, treated: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
    """Standardised mean differences and variance ratios before and after weighting.

    Parameters
    ----------
    X : pandas.DataFrame
        The adjustment matrix (:func:`adjustment_matrix`).
    treated : numpy.ndarray
        1 for the intervisie arm, 0 for the comparison arm.
    weights : numpy.ndarray
        Balancing weights (:func:`balancing_weights`).

    Returns
    -------
    pandas.DataFrame
        One row per column of ``X``: ``covariate``, ``smd_unweighted``, ``smd_weighted``,
        ``variance_ratio_unweighted``, ``variance_ratio_weighted`` (NaN for 0/1 columns, whose
        variance follows from the mean) and ``imbalanced`` (``|smd_weighted| > 0.1``).

    Notes
    -----
    With arm 1 = intervisie and arm 0 = comparison, weighted means
    :math:`\\bar x_{wk} = \\sum w_i x_i / \\sum w_i` and unweighted sample variances :math:`s_k^2`:

    .. math::

        \\mathrm{SMD}_w = \\frac{\\bar x_{w1} - \\bar x_{w0}}{\\sqrt{(s_1^2 + s_0^2)/2}}

    The standardiser is the *unweighted* pooled SD, the same before and after weighting, so that a
    change in SMD reflects a change in the means only (Austin 2009; Austin & Stuart 2015; the
    default of R's cobalt for ATE and ATO).  The variance ratio is :math:`s_{w1}^2 / s_{w0}^2` with
    the weighted variance :math:`\\frac{\\sum w}{(\\sum w)^2 - \\sum w^2} \\sum w (x - \\bar x_w)^2`
    (equal to the sample variance when all weights are 1).  ``|SMD| > 0.1`` is the usual threshold
    for meaningful imbalance (Austin 2009).
    """
    t = np.asarray(treated, dtype=float)
    w = np.asarray(weights, dtype=float)
    ones = np.ones_like(w)
    values = X.to_numpy(dtype=float)
    rows = []
    for j, col in enumerate(X.columns):
        x = values[:, j]
        binary = bool(np.isin(x, (0.0, 1.0)).all())
        m1, v1 = _weighted_mean_var(x[t == 1], ones[t == 1])
        m0, v0 = _weighted_mean_var(x[t == 0], ones[t == 0])
        wm1, wv1 = _weighted_mean_var(x[t == 1], w[t == 1])
        wm0, wv0 = _weighted_mean_var(x[t == 0], w[t == 0])
        sd = np.sqrt((v1 + v0) / 2.0) if np.isfinite(v1) and np.isfinite(v0) else np.nan
        smd_u = (m1 - m0) / sd if sd > 0 else np.nan
        smd_w = (wm1 - wm0) / sd if sd > 0 else np.nan
        rows.append(
            {
                "covariate": str(col),
                "smd_unweighted": smd_u,
                "smd_weighted": smd_w,
                "variance_ratio_unweighted": np.nan if binary else _ratio(v1, v0),
                "variance_ratio_weighted": np.nan if binary else _ratio(wv1, wv0),
                "imbalanced": bool(np.isfinite(smd_w) and abs(smd_w) > BALANCE_THRESHOLD),
            }
        )
    return pd.DataFrame(rows, columns=BALANCE_COLUMNS).astype({"imbalanced": bool})


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of a weighted sample.

    .. math::

        n_\\mathrm{eff} = \\frac{(\\sum_i w_i)^2}{\\sum_i w_i^2}

    It equals n when all weights are equal and shrinks as the weights grow unequal (Kish 1965,
    section 11.7).  NaN for an empty or all-zero set of weights.
    """
    w = np.asarray(weights, dtype=float)
    denom = float(np.sum(w**2))
    return float(np.sum(w) ** 2 / denom) if denom > 0 else np.nan
