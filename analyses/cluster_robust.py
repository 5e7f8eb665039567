"""Cluster-robust inference for one contrast of a weighted least-squares fit.

Members of one intervisie group share sessions, so their outcomes are correlated; the standard
error of a regression coefficient is then taken from a cluster-robust ("sandwich") variance.
With few clusters the ordinary CR1 sandwich is too small and a t on G - 1 degrees of freedom is
too liberal, above all when only one arm is clustered (a handful of intervisie groups against
many comparison participants who are each a cluster of one).  :func:`contrast_inference`
therefore offers, and uses by default, the bias-reduced linearisation estimator CR2 of Bell &
McCaffrey (2002) for weighted least squares as Pustejovsky & Tipton (2018) give it, with
Satterthwaite degrees of freedom for the contrast (the "BM" degrees of freedom of Imbens &
Kolesár 2016; the ``df`` that R ``clubSandwich::coef_test(fit, vcov = "CR2", test =
"Satterthwaite")`` reports).  CR1 (R ``sandwich::vcovCL(type = "HC1")``, t on G - 1 df) stays
available.

References
----------
Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression
with multi-stage samples. *Survey Methodology*, 28(2), 169-181.

Pustejovsky, J. E., & Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. *Journal of Business & Economic
Statistics*, 36(4), 672-683.

Imbens, G. W., & Kolesár, M. (2016). Robust standard errors in small samples: some practical
advice. *Review of Economics and Statistics*, 98(4), 701-712.

Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust inference.
*Journal of Human Resources*, 50(2), 317-372.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

VcovType = Literal["CR2", "CR1"]
VCOV_TYPES: tuple[str, ...] = ("CR2", "CR1")
EIGEN_TOL = 1e-12  # eigenvalues of B_g at or below this count as zero (B_g^{+1/2}, as clubSandwich)


@dataclass(frozen=True)
class ContrastInference:
    """The cluster-robust variance of ``c' beta`` and the degrees of freedom of its t statistic.

    Attributes
    ----------
    variance : float
        :math:`c^\\top \\hat V c`.
    df : float
        Satterthwaite (CR2) or G - 1 (CR1) degrees of freedom.
    vcov : str
        ``"CR2"`` or ``"CR1"``.
    """

    variance: float
    df: float
    vcov: str


def _inv_sqrt_psd(b: np.ndarray) -> np.ndarray:
    """:math:`B^{+1/2}`: the symmetric inverse square root, zero on the null space."""
    values, vectors = np.linalg.eigh((b + b.T) / 2)
    powered = np.where(values > EIGEN_TOL, 1 / np.sqrt(np.maximum(values, EIGEN_TOL)), 0.0)
    return (vectors * powered) @ vectors.T


def _cr2_adjusted_weights(
    design: np.ndarray, w: np.ndarray, codes: np.ndarray, bread: np.ndarray, mc: np.ndarray
) -> np.ndarray:
    """:math:`p = \\bigoplus_g A_g W_g Z_g M c`, stacked in row order (a vector of length N)."""
    n = len(w)
    xmc = design @ mc  # Z M c
    zw2z = (design * (w**2)[:, None]).T @ design
    outer = bread @ zw2z @ bread  # M Z'W^2Z M
    p = np.empty(n)
    sizes = np.bincount(codes)
    single = sizes[codes] == 1
    if single.any():  # clusters of one, vectorised: B = 1 - 2 h_i + z_i' M Z'W^2Z M z_i
        zs = design[single]
        lev = w[single] * np.einsum("ij,jk,ik->i", zs, bread, zs)
        b = 1 - 2 * lev + np.einsum("ij,jk,ik->i", zs, outer, zs)
        a = np.where(b > EIGEN_TOL, 1 / np.sqrt(np.maximum(b, EIGEN_TOL)), 0.0)
        p[single] = a * w[single] * xmc[single]
    order = np.argsort(codes, kind="stable")
    starts = np.r_[0, np.cumsum(sizes)]
    for g in np.flatnonzero(sizes > 1):
        rows = order[starts[g] : starts[g + 1]]
        zg, wg = design[rows], w[rows]
        h = (zg @ bread @ zg.T) * wg[None, :]  # H_gg = Z_g M Z_g' W_g
        b = np.eye(len(rows)) - h - h.T + zg @ outer @ zg.T
        p[rows] = _inv_sqrt_psd(b) @ (wg * xmc[rows])
    return p


def _satterthwaite_df(
    design: np.ndarray, w: np.ndarray, codes: np.ndarray, bread: np.ndarray, p: np.ndarray
) -> float:
    """:math:`\\nu = (\\operatorname{tr} \\Omega)^2 / \\sum_{gh} \\Omega_{gh}^2` with :math:`\\Omega = U^\\top U`."""
    g = int(codes.max()) + 1
    q = np.zeros((design.shape[1], g))  # Q = Z'P, column g: Z_g' p_g
    r = np.zeros_like(q)  # R = Z'WP
    np.add.at(q.T, codes, design * p[:, None])
    np.add.at(r.T, codes, design * (w * p)[:, None])
    pp = np.bincount(codes, weights=p**2, minlength=g)  # P'P is diagonal: the clusters are disjoint
    zw2z = (design * (w**2)[:, None]).T @ design
    cross = r.T @ bread @ q
    omega = np.diag(pp) - cross - cross.T + q.T @ (bread @ zw2z @ bread) @ q
    total = float(np.trace(omega))
    spread = float(np.sum(omega**2))
    return total**2 / spread if spread > 0 else float("nan")


def contrast_inference(
    design: np.ndarray,
    weights: np.ndarray,
    residuals: np.ndarray,
    clusters: np.ndarray,
    contrast: np.ndarray,
    vcov: VcovType = "CR2",
) -> ContrastInference:
    """Cluster-robust variance and degrees of freedom of :math:`c^\\top\\hat\\beta` from a WLS fit.

    Parameters
    ----------
    design : numpy.ndarray
        :math:`Z` (N x K, full column rank, with the intercept if the model has one).
    weights : numpy.ndarray
        :math:`w > 0` (N); here balancing weights, not inverse variances.
    residuals : numpy.ndarray
        :math:`e = y - Z\\hat\\beta` (N), unweighted.
    clusters : numpy.ndarray
        Integer cluster codes 0..G-1 (N).
    contrast : numpy.ndarray
        :math:`c` (K).
    vcov : {"CR2", "CR1"}
        The small-sample correction.

    Returns
    -------
    ContrastInference

    Notes
    -----
    With :math:`W = \\mathrm{diag}(w)`, :math:`M = (Z^\\top W Z)^{-1}`, G clusters, N people and K
    coefficients, every estimator has the form :math:`\\hat V = M \\big(\\sum_g Z_g^\\top W_g A_g e_g
    e_g^\\top A_g^\\top W_g Z_g\\big) M`.

    **CR1** (R ``sandwich::vcovCL(type = "HC1")``): :math:`A_g = I` and the factor
    :math:`\\frac{G}{G-1}\\frac{N-1}{N-K}`; t on :math:`G - 1` df (Cameron & Miller 2015).

    **CR2** (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018, with the working model
    :math:`\\Phi = I`, the default of R ``clubSandwich::vcovCR`` for ``lm`` with weights that are
    not inverse variances, which balancing weights are not).  With the hat matrix
    :math:`H = Z M Z^\\top W` and :math:`(I - H)_g` the rows of cluster g,

    .. math::

        B_g = (I - H)_g (I - H)_g^\\top
            = I - H_{gg} - H_{gg}^\\top + Z_g M Z^\\top W^2 Z M Z_g^\\top, \\qquad
        A_g = B_g^{+1/2},

    the symmetric inverse square root (Moore-Penrose on a singular :math:`B_g`).  Since
    :math:`e = (I - H)\\varepsilon`, :math:`E[A_g e_g e_g^\\top A_g] = \\sigma^2 I` when the errors
    are independent with variance :math:`\\sigma^2`, so :math:`\\hat V` is then exactly unbiased.

    **Satterthwaite df** for CR2 (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018; the "BM"
    df of Imbens & Kolesár 2016, there for one cluster per person).  Write
    :math:`p_g = A_g W_g Z_g M c` and :math:`u_g = (I - H)_g^\\top p_g` (length N).  Then
    :math:`c^\\top\\hat V c = \\sum_g (p_g^\\top e_g)^2 = \\varepsilon^\\top Q \\varepsilon` with
    :math:`Q = \\sum_g u_g u_g^\\top`.  Under the working model
    (:math:`\\varepsilon \\sim N(0, \\sigma^2 I)`) a quadratic form has mean
    :math:`\\sigma^2 \\operatorname{tr} Q` and variance :math:`2\\sigma^4 \\operatorname{tr} Q^2`;
    matching a scaled :math:`\\chi^2_\\nu / \\nu` gives

    .. math::

        \\nu = \\frac{2 E^2}{\\operatorname{Var}}
            = \\frac{\\big(\\sum_g u_g^\\top u_g\\big)^2}{\\sum_g \\sum_h (u_g^\\top u_h)^2}.

    The G x G matrix :math:`\\Omega = [u_g^\\top u_h]` is computed without forming the
    :math:`u_g`: with :math:`P` the N x G matrix holding :math:`p_g` in the rows of cluster g,
    :math:`Q_Z = Z^\\top P` and :math:`R_Z = Z^\\top W P`,
    :math:`\\Omega = P^\\top P - R_Z^\\top M Q_Z - Q_Z^\\top M R_Z + Q_Z^\\top M Z^\\top W^2 Z M Q_Z`
    (:math:`P^\\top P` is diagonal).  For a difference in means without covariates, unit weights
    and clusters that lie wholly in one arm (:math:`G_1` clusters with :math:`n_1` people against
    :math:`G_0` with :math:`n_0`, equal cluster sizes within an arm) this reduces to

    .. math::

        \\nu = \\frac{(1/n_1 + 1/n_0)^2}{1/(n_1^2 (G_1 - 1)) + 1/(n_0^2 (G_0 - 1))},

    which is G - 2 for two equal arms and close to :math:`G_1 - 1` when a few groups face many
    singletons (tests/test_adjusted.py checks this identity and derives it).
    """
    z = np.asarray(design, dtype=float)
    w = np.asarray(weights, dtype=float)
    e = np.asarray(residuals, dtype=float)
    codes = np.asarray(clusters, dtype=np.intp)
    c = np.asarray(contrast, dtype=float)
    if vcov not in VCOV_TYPES:
        raise ValueError(f"contrast_inference: unknown vcov {vcov!r} (use 'CR2' or 'CR1')")
    n, k = z.shape
    g = int(codes.max()) + 1
    root = np.sqrt(w)
    _, tri = np.linalg.qr(z * root[:, None])
    tri_inv = np.linalg.solve(tri, np.eye(k))
    bread = tri_inv @ tri_inv.T  # (Z'WZ)^-1
    mc = bread @ c
    if vcov == "CR1":
        score = np.bincount(codes, weights=w * e * (z @ mc), minlength=g)  # c'M Z_g'W_g e_g
        factor = g / (g - 1) * (n - 1) / (n - k)
        return ContrastInference(float(factor * np.sum(score**2)), float(g - 1), "CR1")
    p = _cr2_adjusted_weights(z, w, codes, bread, mc)
    variance = float(np.sum(np.bincount(codes, weights=p * e, minlength=g) ** 2))
    return ContrastInference(variance, _satterthwaite_df(z, w, codes, bread, p), "CR2")
