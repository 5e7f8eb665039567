r"""Denominator degrees of freedom for linear mixed models: Satterthwaite and Kenward-Roger.

Both are ports of the R reference implementations, computed on the engine's (``mixedlm``)
fitted model, so that the numbers agree with R:

Satterthwaite (lmerTest 3.1, Kuznetsova, Brockhoff & Christensen 2017)
    For a contrast :math:`c` of the fixed effects with :math:`\operatorname{Var}(c'\hat\beta) =
    c'\Sigma_\beta c`,

    .. math:: \nu = \frac{2\,(c'\Sigma_\beta c)^2}{g' A\, g}, \qquad
              g_k = c' \frac{\partial \Sigma_\beta}{\partial \varphi_k} c, \qquad
              A = 2\,H^{-1},

    where :math:`\varphi = (\theta, \sigma)` are lme4's variance parameters (relative Cholesky
    factor :math:`\theta`, residual SD :math:`\sigma`), :math:`H` is the Hessian of the REML (or
    ML) deviance in :math:`\varphi` and :math:`\Sigma_\beta(\varphi) = \sigma^2 (X'V_\theta^{-1}X)^{-1}`.
    As lmerTest does, :math:`H` and :math:`\partial\Sigma_\beta/\partial\varphi` are taken by
    Richardson-extrapolated central differences (numDeriv's ``hessian`` and ``jacobian`` with
    their default settings) and :math:`H^{-1}` is the Moore-Penrose inverse over eigenvalues
    above 1e-8. Each deviance evaluation is one sparse Cholesky factorisation in the engine.
    With prior weights the engine's products are weighted (:math:`X'WX`, ...); the deviance
    here omits lme4's constant :math:`-\sum\log w_i`, as lmerTest's ``devfun_vp`` does (a
    constant changes neither :math:`H` nor the df).

Kenward-Roger (pbkrtest 0.5, Kenward & Roger 1997; Halekoh & Højsgaard 2014)
    The covariance of :math:`\hat\beta` is inflated for the uncertainty of the variance
    parameters (``vcovAdj``), :math:`\Phi_A = \Phi + 2\Phi U \Phi`, and the F-approximation's
    denominator df follow from the scaled statistics :math:`A_1, A_2` (``Lb_ddf``). pbkrtest
    works with dense :math:`n \times n` matrices (R's emmeans caps it at 3000 observations);
    here the marginal covariance is split into its independent blocks (participants within
    groups make one block per group), so the same algebra runs block by block.

The deviance and :math:`X'V_\theta^{-1}X` at a given :math:`\theta` come from the engine's
``LMMOptimizer._evaluate_core`` (mixedlm 1.3.0, pinned in ``requirements.lock``); the tests
against R fail loudly if a new engine version changes it.

References
----------
Kuznetsova A, Brockhoff PB, Christensen RHB (2017). lmerTest Package: Tests in Linear Mixed
Effects Models. J Stat Softw 82(13). doi:10.18637/jss.v082.i13
Kenward MG, Roger JH (1997). Small sample inference for fixed effects from restricted maximum
likelihood. Biometrics 53(3):983-997.
Halekoh U, Højsgaard S (2014). A Kenward-Roger approximation and parametric bootstrap methods
for tests in linear mixed models - the R package pbkrtest. J Stat Softw 59(9).
Bates D, Mächler M, Bolker B, Walker S (2015). Fitting Linear Mixed-Effects Models Using lme4.
J Stat Softw 67(1). doi:10.18637/jss.v067.i01
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, sparse
from scipy.sparse import csgraph

__all__ = [
    "KenwardRoger",
    "Satterthwaite",
    "kenward_roger",
    "richardson_hessian",
    "richardson_jacobian",
    "satterthwaite",
]

_ZERO_TOL = float(np.sqrt(np.finfo(float).eps / 7e-7))  # numDeriv's zero.tol
_EIGEN_TOL = 1e-8  # lmerTest's tol for the Hessian's eigenvalues
KR_MAX_BLOCK = 5000  # largest independent block of observations Kenward-Roger will invert densely


def _richardson(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Richardson extrapolation over the first axis (numDeriv, v = 2)."""
    a = values.copy()
    r = a.shape[0]
    for m in range(1, r):
        a = (a[1 : r + 1 - m] * 4.0**m - a[: r - m]) / (4.0**m - 1.0)
    return a[0]


def richardson_hessian(
    func: Callable[[NDArray[np.float64]], float],
    x: NDArray[np.float64],
    *,
    d: float = 0.1,
    eps: float = 1e-4,
    r: int = 4,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gradient and Hessian by numDeriv's ``genD`` (Richardson extrapolation, v = 2).

    Returns
    -------
    gradient, hessian : ndarray
        As ``numDeriv::genD(func, x)`` (``numDeriv::hessian`` uses ``d = 0.1``).
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    f0 = func(x)
    h0 = np.abs(d * x) + eps * (np.abs(x) < _ZERO_TOL)
    grad = np.empty(n)
    hdiag = np.empty(n)
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        da, ha = np.empty(r), np.empty(r)
        h = h0.copy()
        for k in range(r):
            f1, f2 = func(x + e * h), func(x - e * h)
            da[k] = (f1 - f2) / (2 * h[i])
            ha[k] = (f1 - 2 * f0 + f2) / h[i] ** 2
            h = h / 2
        grad[i], hdiag[i] = _richardson(da), _richardson(ha)
    hess = np.diag(hdiag)
    for i in range(n):
        for j in range(i):
            e = np.zeros(n)
            e[i] = e[j] = 1.0
            da = np.empty(r)
            h = h0.copy()
            for k in range(r):
                step = e * h
                f1, f2 = func(x + step), func(x - step)
                da[k] = (f1 - 2 * f0 + f2 - hdiag[i] * h[i] ** 2 - hdiag[j] * h[j] ** 2) / (2 * h[i] * h[j])
                h = h / 2
            hess[i, j] = hess[j, i] = _richardson(da)
    return grad, hess


def richardson_jacobian(
    func: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    x: NDArray[np.float64],
    *,
    d: float = 1e-4,
    eps: float = 1e-4,
    r: int = 4,
) -> NDArray[np.float64]:
    """Jacobian by ``numDeriv::jacobian(method = "Richardson")``; shape ``(len(func(x)), len(x))``."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    h0 = np.abs(d * x) + eps * (np.abs(x) < _ZERO_TOL)
    columns = []
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        h = h0.copy()
        a = []
        for _ in range(r):
            a.append((func(x + e * h) - func(x - e * h)) / (2 * h[i]))
            h = h / 2
        columns.append(_richardson(np.asarray(a)))
    return np.column_stack(columns)


@dataclass
class Satterthwaite:
    """What lmerTest stores for Satterthwaite's method (``as_lmerModLT``).

    Attributes
    ----------
    vcov_beta : ndarray
        Covariance of the fixed effects at the estimates.
    vcov_varpar : ndarray
        :math:`A = 2 H^{-1}`, asymptotic covariance of :math:`(\\theta, \\sigma)`.
    jacobian : list of ndarray
        :math:`\\partial \\Sigma_\\beta / \\partial \\varphi_k`, one matrix per variance parameter.
    gradient : ndarray
        Gradient of the deviance in :math:`(\\theta, \\sigma)` (close to zero at an optimum).
    hessian : ndarray
        :math:`H`.
    messages : list of str
        lmerTest's warnings on negative or near-zero eigenvalues of :math:`H`.
    """

    vcov_beta: NDArray[np.float64]
    vcov_varpar: NDArray[np.float64]
    jacobian: list[NDArray[np.float64]]
    gradient: NDArray[np.float64]
    hessian: NDArray[np.float64]
    messages: list[str] = field(default_factory=list)

    def df(self, contrasts: NDArray[np.float64]) -> NDArray[np.float64]:
        """Satterthwaite df for each row :math:`c` of ``contrasts``: :math:`2 (c'\\Sigma c)^2 / g'Ag`."""
        rows = np.atleast_2d(np.asarray(contrasts, dtype=np.float64))
        var = np.einsum("ij,jk,ik->i", rows, self.vcov_beta, rows)
        grad = np.column_stack([np.einsum("ij,jk,ik->i", rows, jac, rows) for jac in self.jacobian])
        denom = np.einsum("ij,jk,ik->i", grad, self.vcov_varpar, grad)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2.0 * var**2 / denom

    def se(self, contrasts: NDArray[np.float64]) -> NDArray[np.float64]:
        rows = np.atleast_2d(np.asarray(contrasts, dtype=np.float64))
        return np.sqrt(np.einsum("ij,jk,ik->i", rows, self.vcov_beta, rows))


def satterthwaite(result: Any) -> Satterthwaite:
    """Prepare Satterthwaite's df for a fitted ``mixedlm`` LMM exactly as ``lmerTest::as_lmerModLT``.

    Parameters
    ----------
    result : mixedlm.LmerResult
        The fitted model (REML or ML; the deviance used matches the fit, as in lmerTest).
    """
    from mixedlm.estimation.reml import LMMOptimizer

    evaluator = LMMOptimizer(result.matrices, REML=bool(result.REML))
    n, p = result.matrices.n_obs, result.matrices.n_fixed
    reml = bool(result.REML)
    cache: dict[bytes, tuple[float, float, float, NDArray[np.float64]]] = {}

    def at_theta(theta: NDArray[np.float64]) -> tuple[float, float, float, NDArray[np.float64]]:
        key = theta.tobytes()
        if key not in cache:
            core = evaluator._evaluate_core(theta)
            if core is None:
                raise np.linalg.LinAlgError(f"the deviance could not be evaluated at theta = {theta}")
            info = np.asarray(core.fixed_information, dtype=np.float64)
            ldrx2 = float(np.linalg.slogdet(info)[1])
            cache[key] = (float(core.ldL2), float(core.pwrss), ldrx2, info)
        return cache[key]

    def devfun_vp(varpar: NDArray[np.float64]) -> float:
        sigma2 = varpar[-1] ** 2
        ldl2, pwrss, ldrx2, _ = at_theta(varpar[:-1])
        dev = ldl2 + pwrss / sigma2 + n * np.log(2 * np.pi * sigma2)
        if reml:
            dev += ldrx2 - p * np.log(2 * np.pi * sigma2)
        return dev

    def covbeta(varpar: NDArray[np.float64]) -> NDArray[np.float64]:
        info = at_theta(varpar[:-1])[3]
        return (varpar[-1] ** 2 * linalg.inv(info)).ravel(order="F")

    varpar = np.append(np.asarray(result.theta, dtype=np.float64), float(result.sigma))
    gradient, hess = richardson_hessian(devfun_vp, varpar)
    evals, evecs = np.linalg.eigh(hess)
    messages = []
    neg, zero = evals < -_EIGEN_TOL, np.abs(evals) <= _EIGEN_TOL
    if neg.any():
        messages.append(
            f"Model failed to converge with {neg.sum()} negative eigenvalue(s) of the deviance Hessian: "
            + " ".join(f"{v:.1e}" for v in evals[neg])
        )
    if zero.any():
        messages.append(
            f"Model may not have converged with {zero.sum()} eigenvalue(s) of the deviance Hessian close to zero: "
            + " ".join(f"{v:.1e}" for v in evals[zero])
        )
    pos = evals > _EIGEN_TOL
    h_inv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    jac = richardson_jacobian(covbeta, varpar)
    jac_list = [jac[:, k].reshape((p, p), order="F") for k in range(jac.shape[1])]
    vcov = float(result.sigma) ** 2 * linalg.inv(at_theta(np.asarray(result.theta, dtype=np.float64))[3])
    return Satterthwaite(vcov, 2.0 * h_inv, jac_list, gradient, hess, messages)


@dataclass
class KenwardRoger:
    """pbkrtest's adjusted covariance (``vcovAdj``) with what ``Lb_ddf`` needs.

    Attributes
    ----------
    vcov_beta : ndarray
        Unadjusted covariance :math:`\\Phi` of the fixed effects.
    vcov_adjusted : ndarray
        :math:`\\Phi_A`, the Kenward-Roger covariance.
    P : list of ndarray
        :math:`P_r = -X'\\Sigma^{-1}G_r\\Sigma^{-1}X` per variance parameter.
    W : ndarray
        :math:`W = 2\\,\\mathcal{I}_E^{-1}`, twice the inverse expected REML information.
    """

    vcov_beta: NDArray[np.float64]
    vcov_adjusted: NDArray[np.float64]
    P: list[NDArray[np.float64]]
    W: NDArray[np.float64]

    def df(self, contrasts: NDArray[np.float64]) -> NDArray[np.float64]:
        """Kenward-Roger df of each row of ``contrasts`` tested alone (``pbkrtest::Lb_ddf``, q = 1)."""
        rows = np.atleast_2d(np.asarray(contrasts, dtype=np.float64))
        return np.array([self.ddf(row[None, :]) for row in rows])

    def se(self, contrasts: NDArray[np.float64]) -> NDArray[np.float64]:
        rows = np.atleast_2d(np.asarray(contrasts, dtype=np.float64))
        return np.sqrt(np.einsum("ij,jk,ik->i", rows, self.vcov_adjusted, rows))

    def ddf(self, L: NDArray[np.float64]) -> float:
        """Denominator df for the hypothesis :math:`L\\beta = 0` (``pbkrtest::Lb_ddf``)."""
        V0 = self.vcov_beta
        theta = L.T @ linalg.solve(L @ V0 @ L.T, L)
        theta_v0 = theta @ V0
        u = [theta_v0 @ P @ V0 for P in self.P]
        a1 = a2 = 0.0
        k = len(self.P)
        for i in range(k):
            for j in range(i, k):
                e = 1.0 if i == j else 2.0
                a1 += e * self.W[i, j] * np.trace(u[i]) * np.trace(u[j])
                a2 += e * self.W[i, j] * np.sum(u[i] * u[j].T)
        q = L.shape[0]
        b = (a1 + 6 * a2) / (2 * q)
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        denom = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
        v0 = 1 + c1 * b
        v1 = 1 - c2 * b
        v2 = 1 - c3 * b
        v0 = 0.0 if abs(v0) < 1e-10 else v0
        x = 1 - a2 / q
        ratio = 1.0 if abs(x) < 1e-14 and abs(v1) < 1e-14 else x / v1
        rho = ratio**2 * v0 / (q * v2)
        return float(4 + (q + 2) / (q * rho - 1))


def _blockwise_inverse(sigma: sparse.csr_matrix) -> sparse.csr_matrix:
    """Invert a sparse SPD matrix that is block diagonal up to a permutation, block by block."""
    n = sigma.shape[0]
    n_comp, label = csgraph.connected_components(sigma, directed=False)
    sizes = np.bincount(label, minlength=n_comp)
    if sizes.max() > KR_MAX_BLOCK:
        raise ValueError(
            f"Kenward-Roger needs the marginal covariance of each independent block of observations; "
            f"the largest block here has {sizes.max()} observations (crossed random effects?), over the "
            f"limit of {KR_MAX_BLOCK}: use df_method='satterthwaite'"
        )
    order = np.argsort(label, kind="stable")
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pos = np.empty(n, dtype=np.intp)
    pos[order] = np.arange(n) - start[label[order]]
    coo = sigma.tocoo()
    rows, cols, vals = [], [], []
    for size in np.unique(sizes):
        comps = np.flatnonzero(sizes == size)
        slot = np.full(n_comp, -1)
        slot[comps] = np.arange(len(comps))
        keep = slot[label[coo.row]] >= 0
        dense = np.zeros((len(comps), size, size))
        dense[slot[label[coo.row[keep]]], pos[coo.row[keep]], pos[coo.col[keep]]] = coo.data[keep]
        inv = np.linalg.inv(dense)
        members = order[start[comps][:, None] + np.arange(size)[None, :]]  # (n_comps, size)
        rows.append(np.repeat(members, size, axis=1).ravel())
        cols.append(np.tile(members, (1, size)).ravel())
        vals.append(inv.ravel())
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def kenward_roger(result: Any) -> KenwardRoger:
    """Kenward-Roger adjusted covariance of a REML fit, as ``pbkrtest::vcovAdj`` computes it.

    Parameters
    ----------
    result : mixedlm.LmerResult
        A model fitted by REML.

    Raises
    ------
    ValueError
        For an ML fit (Kenward-Roger is defined for REML, as in lmerTest), or when an independent
        block of observations exceeds ``KR_MAX_BLOCK`` observations.
    """
    if not result.REML:
        raise ValueError("Kenward-Roger's method is only available for REML model fits")
    if not np.all(np.asarray(result.matrices.weights) == 1.0):
        raise ValueError("Kenward-Roger's method is not available for a weighted fit: use Satterthwaite's df")
    X = np.asarray(result.matrices.X, dtype=np.float64)
    Z = sparse.csc_matrix(result.matrices.Z)
    n = X.shape[0]
    ggamma: list[float] = []
    G: list[sparse.csr_matrix] = []
    offset = 0
    for struct, group in zip(result.matrices.random_structures, result.VarCorr().groups.values(), strict=True):
        t, levels = struct.n_terms, struct.n_levels
        zs = [Z[:, offset + np.arange(levels) * t + a] for a in range(t)]
        pairs = [(a, b) for a in range(t) for b in range(a + 1)] if struct.correlated else [(a, a) for a in range(t)]
        for a, b in pairs:
            gm = zs[a] @ zs[b].T
            G.append(sparse.csr_matrix(gm if a == b else gm + gm.T))
            ggamma.append(float(group.cov[a, b]))
        offset += levels * t
    G.append(sparse.identity(n, format="csr"))
    ggamma.append(float(result.sigma) ** 2)
    sigma = sum((g * gm for g, gm in zip(ggamma, G, strict=True)), start=sparse.csr_matrix((n, n)))
    sigma_inv = _blockwise_inverse(sparse.csr_matrix(sigma))
    phi = np.asarray(result.vcov(), dtype=np.float64)

    k = len(G)
    tt = sigma_inv @ X
    H = [gm @ sigma_inv for gm in G]
    OO = [h @ X for h in H]
    P = [-(o.T @ tt) for o in OO]
    P = [(m + m.T) / 2 for m in P]  # forceSymmetric
    Q = {(r, s): OO[r].T @ (sigma_inv @ OO[s]) for r in range(k) for s in range(r, k)}
    ktrace = np.empty((k, k))
    for r in range(k):
        for s in range(r, k):
            ktrace[r, s] = ktrace[s, r] = H[r].multiply(H[s].T).sum()
    ie2 = np.empty((k, k))
    for i in range(k):
        phi_p = phi @ P[i]
        for j in range(i, k):
            ie2[i, j] = ie2[j, i] = ktrace[i, j] - 2 * np.sum(phi * Q[i, j]) + np.sum(phi_p * (P[j] @ phi))
    condi = np.min(np.abs(np.linalg.eigvalsh(ie2)))
    W = 2 * (linalg.inv(ie2) if condi > 1e-10 else linalg.pinv(ie2))
    W = (W + W.T) / 2
    U = np.zeros_like(phi)
    for i in range(k - 1):
        for j in range(i + 1, k):
            U += W[i, j] * (Q[i, j] - P[i] @ phi @ P[j])
    U = U + U.T
    for i in range(k):
        U += W[i, i] * (Q[i, i] - P[i] @ phi @ P[i])
    adjusted = phi + 2 * phi @ U @ phi
    return KenwardRoger(phi, adjusted, P, W)
