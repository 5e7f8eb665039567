"""Multi-group one-factor confirmatory factor analysis by normal-theory maximum likelihood.

The model of group :math:`g` (items :math:`j = 1..p`, one factor :math:`\\eta`) is

.. math::

    x_{gj} = \\nu_{gj} + \\lambda_{gj} \\eta_g + \\varepsilon_{gj},\\qquad
    \\Sigma_g = \\phi_g \\lambda_g \\lambda_g^\\top + \\Theta_g,\\qquad
    \\mu_g = \\nu_g + \\lambda_g \\kappa_g

with :math:`\\Theta_g` diagonal (residual variances), :math:`\\phi_g` the factor variance and
:math:`\\kappa_g` the factor mean.  The estimates minimise the multi-group ML discrepancy
(Jöreskog 1971; Bollen 1989, ch. 8)

.. math::

    F = \\sum_g \\frac{N_g}{N}\\Big[\\log|\\Sigma_g| + \\operatorname{tr}(S_g\\Sigma_g^{-1})
        - \\log|S_g| - p + (m_g-\\mu_g)^\\top\\Sigma_g^{-1}(m_g-\\mu_g)\\Big]

with :math:`S_g` the covariance matrix divided by :math:`N_g` (the normal likelihood, as R
lavaan's default ``likelihood = "normal"``).  The test statistic is :math:`T = N F`; the
baseline is the independence model with free item means and variances per group; then
:math:`\\mathrm{CFI} = 1 - \\max(T-df, 0)/\\max(T-df, T_b-df_b, 0)` (Bentler 1990) and
:math:`\\mathrm{RMSEA} = \\sqrt{G}\\sqrt{\\max(0, (T-df)/(N\\,df))}` (Steiger 1998), both as lavaan
computes them (Rosseel 2012).  Which parameters are free, fixed, or equal across groups is a
:class:`Spec`; :mod:`analyses.invariance` builds the configural, metric and scalar models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

#: the five parameter blocks of a group, in the order of :class:`Spec` arrays
BLOCKS = ("loading", "intercept", "residual", "variance", "mean")


@dataclass(frozen=True)
class Spec:
    """Which parameters are free (and which are shared across groups) and the values of the fixed ones.

    Each ``*_id`` array holds, per group (and item), the index of the free parameter it takes
    (the same index in two groups = an equality constraint) or ``-1`` for fixed at the value
    in the matching ``*_fixed`` array.  Shapes: loadings, intercepts and residuals ``(G, p)``;
    factor variance and mean ``(G,)``.
    """

    loading_id: np.ndarray
    intercept_id: np.ndarray
    residual_id: np.ndarray
    variance_id: np.ndarray
    mean_id: np.ndarray
    loading_fixed: np.ndarray
    variance_fixed: np.ndarray

    @property
    def n_free(self) -> int:
        """Return the number of distinct free parameters."""
        ids = np.concatenate([a.ravel() for a in (self.loading_id, self.intercept_id, self.residual_id,
                                                   self.variance_id, self.mean_id)])
        return int(ids.max()) + 1 if (ids >= 0).any() else 0


@dataclass(frozen=True)
class Moments:
    """Per group: the number of people, item means and ML covariance matrix (divided by N)."""

    n: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    @classmethod
    def from_groups(cls, groups: list[np.ndarray]) -> Moments:
        """Return the moments of complete-case item matrices (people x items), one per group."""
        n = np.array([len(x) for x in groups], dtype=float)
        means = np.array([x.mean(axis=0) for x in groups])
        covs = np.array([np.cov(x, rowvar=False, bias=True) for x in groups])
        return cls(n=n, means=means, covs=covs)


@dataclass(frozen=True)
class Fit:
    """A fitted model: per-group parameter arrays, the test statistic and the fit indices."""

    loadings: np.ndarray
    intercepts: np.ndarray
    residuals: np.ndarray
    variances: np.ndarray
    means: np.ndarray
    chisq: float
    df: int
    baseline_chisq: float
    baseline_df: int
    cfi: float
    rmsea: float
    converged: bool


def _unpack(theta: np.ndarray, spec: Spec) -> tuple[np.ndarray, ...]:
    def take(ids: np.ndarray, fixed: np.ndarray | float) -> np.ndarray:
        out = np.where(ids >= 0, theta[np.maximum(ids, 0)], fixed)
        return np.asarray(out, dtype=float)

    return (
        take(spec.loading_id, spec.loading_fixed),
        take(spec.intercept_id, 0.0),
        take(spec.residual_id, 0.0),
        take(spec.variance_id, spec.variance_fixed),
        take(spec.mean_id, 0.0),
    )


def _objective(theta: np.ndarray, spec: Spec, mom: Moments) -> tuple[float, np.ndarray]:
    """Return :math:`N F` and its gradient in the free parameters."""
    lam, nu, res, phi, kap = _unpack(theta, spec)
    grad = np.zeros_like(theta)
    total = 0.0
    p = lam.shape[1]
    for g in range(lam.shape[0]):
        sigma = phi[g] * np.outer(lam[g], lam[g]) + np.diag(res[g])
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return 1e20, np.zeros_like(theta)
        inv = np.linalg.inv(sigma)
        d = mom.means[g] - (nu[g] + lam[g] * kap[g])
        inv_d = inv @ d
        logdet = 2.0 * np.log(np.diag(chol)).sum()
        _, logdet_s = np.linalg.slogdet(mom.covs[g])
        f = logdet + np.trace(mom.covs[g] @ inv) - logdet_s - p + d @ inv_d
        n = mom.n[g]
        total += n * f
        # dF = tr(W dSigma) - 2 (Sigma^-1 d)' dmu
        w = inv - inv @ mom.covs[g] @ inv - np.outer(inv_d, inv_d)
        g_mu = -2.0 * inv_d
        g_lam = 2.0 * phi[g] * (w @ lam[g]) + kap[g] * g_mu
        parts = ((spec.loading_id[g], g_lam), (spec.intercept_id[g], g_mu), (spec.residual_id[g], np.diag(w)),
                 (spec.variance_id[g:g + 1], np.array([lam[g] @ w @ lam[g]])),
                 (spec.mean_id[g:g + 1], np.array([lam[g] @ g_mu])))  # fmt: skip
        for ids, values in parts:
            free = ids >= 0
            np.add.at(grad, ids[free], n * values[free])
    return float(total), grad


def _start(spec: Spec, mom: Moments) -> np.ndarray:
    """Starting values: the first principal axis of the pooled covariance, group means as intercepts."""
    pooled = np.average(mom.covs, axis=0, weights=mom.n)
    values, vectors = np.linalg.eigh(pooled)
    lam = vectors[:, -1] * np.sqrt(max(values[-1], 1e-8))
    lam = lam * np.sign(lam.sum() or 1.0)
    res = np.maximum(np.diag(pooled) - lam**2, 0.1 * np.diag(pooled))
    marker = spec.loading_id[0] < 0
    scale = lam[np.argmax(marker)] if marker.any() else 1.0
    theta = np.zeros(spec.n_free)
    theta[spec.loading_id[spec.loading_id >= 0]] = np.broadcast_to(lam / scale, spec.loading_id.shape)[
        spec.loading_id >= 0]
    theta[spec.intercept_id[spec.intercept_id >= 0]] = mom.means[spec.intercept_id >= 0]
    theta[spec.residual_id[spec.residual_id >= 0]] = np.broadcast_to(res, spec.residual_id.shape)[
        spec.residual_id >= 0]
    theta[spec.variance_id[spec.variance_id >= 0]] = scale**2
    return theta


def _bounds(spec: Spec) -> list[tuple[float | None, float | None]]:
    bounds: list[tuple[float | None, float | None]] = [(None, None)] * spec.n_free
    for ids in (spec.residual_id, spec.variance_id):
        for i in np.unique(ids[ids >= 0]):
            bounds[int(i)] = (1e-8, None)
    return bounds


def baseline_chisq(mom: Moments) -> tuple[float, int]:
    """Return the independence model's statistic and df: :math:`\\sum_g N_g(\\sum_j\\log s_{gjj} - \\log|S_g|)`."""
    stat = sum(n * (np.log(np.diag(s)).sum() - np.linalg.slogdet(s)[1]) for n, s in zip(mom.n, mom.covs, strict=True))
    p = mom.covs.shape[1]
    return float(stat), int(len(mom.n) * p * (p - 1) // 2)


def fit(spec: Spec, mom: Moments, *, start: np.ndarray | None = None, polish: bool = True) -> Fit:
    """Fit one model by ML (L-BFGS-B with the analytic gradient, then Newton polishing).

    Parameters
    ----------
    spec : Spec
        The free, fixed and equal parameters.
    mom : Moments
        The groups' sample moments.
    start : numpy.ndarray, optional
        Starting values of the free parameters (default: principal-axis values).
    polish : bool
        Whether to finish with Newton steps (needed for agreement to 1e-6 with lavaan; the
        search for non-invariant items compares statistics and leaves them out).

    Returns
    -------
    Fit
        Estimates per group, :math:`T = NF`, its df, the baseline statistic, CFI and RMSEA.
    """
    theta0 = _start(spec, mom) if start is None else start
    done = optimize.minimize(_objective, theta0, args=(spec, mom), jac=True, method="L-BFGS-B",
                             bounds=_bounds(spec), options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-10,
                                                            "maxcor": 50})  # fmt: skip
    theta = _polish(done.x, spec, mom) if polish else done.x
    chisq, grad = _objective(theta, spec, mom)
    g, p = spec.loading_id.shape
    df = int(g * (p * (p + 1) // 2 + p) - spec.n_free)
    base, base_df = baseline_chisq(mom)
    n = float(mom.n.sum())
    t1 = max(chisq - df, 0.0)
    t2 = max(chisq - df, base - base_df, 0.0)
    cfi = 1.0 if t2 == 0 else 1.0 - t1 / t2
    rmsea = float(np.sqrt(g) * np.sqrt(max(0.0, (chisq - df) / (n * df)))) if df > 0 else 0.0
    converged = bool(np.max(np.abs(grad)) < 1e-4 * max(1.0, n / 100))
    lam, nu, res, phi, kap = _unpack(theta, spec)
    return Fit(loadings=lam, intercepts=nu, residuals=res, variances=phi, means=kap, chisq=float(chisq), df=df,
               baseline_chisq=base, baseline_df=base_df, cfi=float(cfi), rmsea=rmsea, converged=converged)


def _polish(theta: np.ndarray, spec: Spec, mom: Moments, steps: int = 20) -> np.ndarray:
    """Newton steps on a finite-difference Hessian of the analytic gradient, while they lower the objective."""
    value, grad = _objective(theta, spec, mom)
    lower = np.array([b[0] if b[0] is not None else -np.inf for b in _bounds(spec)])
    for _ in range(steps):
        h = 1e-6 * np.maximum(1.0, np.abs(theta))
        hess = np.empty((theta.size, theta.size))
        for i in range(theta.size):
            step = np.zeros_like(theta)
            step[i] = h[i]
            hess[:, i] = (_objective(theta + step, spec, mom)[1] - _objective(theta - step, spec, mom)[1]) / (2 * h[i])
        hess = (hess + hess.T) / 2
        try:
            delta = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        candidate = np.maximum(theta - delta, lower)
        new_value, new_grad = _objective(candidate, spec, mom)
        if not new_value <= value:
            break
        theta, value, grad = candidate, new_value, new_grad
        if np.max(np.abs(delta)) < 1e-12 * max(1.0, np.max(np.abs(theta))):
            break
    return theta
