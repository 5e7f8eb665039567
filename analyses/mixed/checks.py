"""Fit diagnostics as lme4 reports them, and tidy tables of a fitted ``mixedlm`` model.

- :func:`singular_components` is lme4's ``isSingular``: a fit is singular when any element of
  :math:`\\theta` whose lower bound is zero (a variance, i.e. a diagonal element of a relative
  Cholesky factor) is below ``tol`` (1e-4).
- :func:`convergence_messages` is lme4's ``checkConv`` for a non-singular fit: gradient and
  Hessian of the profiled deviance at the estimates by central differences (``deriv12``,
  step 1e-4); the scaled gradient :math:`\\min(|R^{-T} g|, |g|)` with :math:`H = R'R` must stay
  below 0.002, and the Hessian must be positive definite and not nearly unidentifiable
  (eigenvalue ratio below 1e-6, or an eigenvalue above 1e6).
- :func:`variance_table` is R's ``as.data.frame(VarCorr(m))`` with identifier-safe names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["convergence_messages", "singular_components", "theta_labels", "variance_table"]

GRAD_TOL = 2e-3  # lme4: check.conv.grad
HESS_TOL = 1e-6  # lme4: check.conv.hess


def theta_labels(result: Any) -> tuple[list[str], NDArray[np.bool_]]:
    """Label each element of theta (``"group: (Intercept)"``) and flag those bounded below by zero."""
    labels: list[str] = []
    bounded: list[bool] = []
    for name, struct in zip(result.VarCorr().groups, result.matrices.random_structures, strict=True):
        t = struct.n_terms
        if struct.correlated:
            rows, cols = np.tril_indices(t)
            for i, j in zip(rows, cols, strict=True):
                if i == j:
                    labels.append(f"{name}: {struct.term_names[i]}")
                else:
                    labels.append(f"{name}: {struct.term_names[i]} x {struct.term_names[j]}")
                bounded.append(bool(i == j))
        else:
            labels.extend(f"{name}: {term}" for term in struct.term_names)
            bounded.extend([True] * t)
    return labels, np.asarray(bounded, dtype=bool)


def singular_components(result: Any, tol: float = 1e-4) -> list[str]:
    """Variance parameters at the boundary (lme4's ``isSingular``); empty for a regular fit."""
    labels, bounded = theta_labels(result)
    theta = np.asarray(result.theta, dtype=np.float64)
    return [label for label, b, value in zip(labels, bounded, theta, strict=True) if b and value < tol]


def _deriv12(func: Any, x: NDArray[np.float64], delta: float = 1e-4) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gradient and Hessian by central differences, as lme4's ``deriv12``."""
    n = len(x)
    fx = func(x)
    g, H = np.empty(n), np.empty((n, n))
    eye = np.eye(n) * delta
    fadd = np.array([func(x + eye[j]) for j in range(n)])
    fsub = np.array([func(x - eye[j]) for j in range(n)])
    for j in range(n):
        H[j, j] = (fadd[j] - 2 * fx + fsub[j]) / delta**2
        g[j] = (fadd[j] - fsub[j]) / (2 * delta)
        for i in range(j):
            fpp, fpm = func(x + eye[i] + eye[j]), func(x + eye[i] - eye[j])
            fmp, fmm = func(x - eye[i] + eye[j]), func(x - eye[i] - eye[j])
            H[i, j] = H[j, i] = (fpp - fpm - fmp + fmm) / (4 * delta**2)
    return g, H


def convergence_messages(result: Any) -> list[str]:
    """lme4's convergence warnings for a (non-singular) fit; empty when the optimum checks out."""
    from mixedlm.estimation.reml import LMMOptimizer

    messages = []
    if not result.converged:
        messages.append(f"optimizer ({result.optimizer}) did not report convergence: {result.message}".strip())
    theta = np.asarray(result.theta, dtype=np.float64)
    if theta.size == 0:
        return messages
    objective = LMMOptimizer(result.matrices, REML=bool(result.REML)).objective
    g, H = _deriv12(objective, theta)
    if not np.all(np.isfinite(g)) or not np.all(np.isfinite(H)):
        return [*messages, "gradient or Hessian of the deviance contains non-finite values"]
    try:
        R = np.linalg.cholesky(H).T
        scaled = np.linalg.solve(R.T, g)
    except np.linalg.LinAlgError:
        messages.append("unable to evaluate scaled gradient")
    else:
        mingrad = np.minimum(np.abs(scaled), np.abs(g))
        if mingrad.max() > GRAD_TOL:
            messages.append(
                f"Model failed to converge with max|grad| = {mingrad.max():.6g} "
                f"(tol = {GRAD_TOL:g}, component {int(mingrad.argmax()) + 1})"
            )
    evd = np.linalg.eigvalsh((H + H.T) / 2)
    if (evd < -HESS_TOL).any():
        messages.append(
            f"Model failed to converge: degenerate Hessian with {(evd < -HESS_TOL).sum()} negative eigenvalues"
        )
    elif (np.abs(evd) < HESS_TOL).any():
        messages.append("Hessian is numerically singular: parameters are not uniquely determined")
    else:
        if evd.max() * HESS_TOL > 1:
            messages.append("Model is nearly unidentifiable: very large eigenvalue - rescale variables?")
        if evd.min() / evd.max() < HESS_TOL:
            messages.append("Model is nearly unidentifiable: large eigenvalue ratio - rescale variables?")
    return messages


def variance_table(result: Any) -> pd.DataFrame:
    """Variance components as R's ``as.data.frame(VarCorr(m))``.

    Returns
    -------
    DataFrame
        Columns ``group, term, term2, variance, sd, corr``: one row per variance (``term2`` empty,
        ``corr`` NaN), one per covariance (``variance`` holds the covariance, ``sd`` NaN), and a
        last row for the residual.
    """
    rows = []
    vc = result.VarCorr()
    for name, grp in vc.groups.items():
        cov = np.asarray(grp.cov, dtype=np.float64)
        terms = list(grp.term_names)
        for i, term in enumerate(terms):
            rows.append((name, term, None, cov[i, i], float(np.sqrt(max(cov[i, i], 0.0))), np.nan))
        for j in range(len(terms)):
            for i in range(j + 1, len(terms)):
                if grp.corr is None:
                    continue
                rows.append((name, terms[j], terms[i], cov[i, j], np.nan, float(grp.corr[i, j])))
    rows.append(("Residual", None, None, float(vc.residual), float(np.sqrt(vc.residual)), np.nan))
    return pd.DataFrame(rows, columns=["group", "term", "term2", "variance", "sd", "corr"])
