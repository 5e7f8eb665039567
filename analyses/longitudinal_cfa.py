"""Longitudinal one-factor confirmatory factor analysis by normal-theory maximum likelihood.

One group of :math:`N` people answers the same :math:`p` items at :math:`W` waves.  The
:math:`v = Wp` observed variables (wave-major: variable :math:`wp + j` is item :math:`j` at
wave :math:`w`) follow one factor per wave (Widaman, Ferrer & Conger 2010; Liu et al. 2017):

.. math::

    x_{wj} = \\nu_{wj} + \\lambda_{wj}\\eta_w + \\varepsilon_{wj},\\qquad
    \\Sigma = \\Lambda\\Phi\\Lambda^\\top + \\Theta,\\qquad \\mu = \\nu + \\Lambda\\kappa

with :math:`\\Lambda` (:math:`v \\times W`) holding wave :math:`w`'s loadings in column
:math:`w`, :math:`\\Phi` the factors' covariance matrix (freely correlated over the waves),
:math:`\\kappa` the factor means and :math:`\\Theta` the residual covariance matrix: residual
variances on the diagonal and, because the same item answered twice shares specific variance,
a free covariance between the residuals of the same item at every pair of waves (all other
off-diagonal elements 0).  The estimates minimise the ML discrepancy (Jöreskog 1971; Bollen
1989, ch. 4)

.. math::

    F = \\log|\\Sigma| + \\operatorname{tr}(S\\Sigma^{-1}) - \\log|S| - v + (m-\\mu)^\\top\\Sigma^{-1}(m-\\mu)

with :math:`S` the covariance matrix divided by :math:`N` (R lavaan's ``likelihood = "normal"``).
Its gradient: with :math:`W = \\Sigma^{-1} - \\Sigma^{-1}S\\Sigma^{-1} - \\Sigma^{-1}dd^\\top\\Sigma^{-1}`,
:math:`d = m-\\mu` and :math:`g = -2\\Sigma^{-1}d`, :math:`\\partial F/\\partial\\Lambda = 2W\\Lambda\\Phi
+ g\\kappa^\\top`, :math:`\\partial F/\\partial\\Phi = \\Lambda^\\top W\\Lambda`,
:math:`\\partial F/\\partial\\Theta = W`, :math:`\\partial F/\\partial\\nu = g`,
:math:`\\partial F/\\partial\\kappa = \\Lambda^\\top g` (an off-diagonal element of a symmetric
matrix counts twice).  The test statistic is :math:`T = NF` on
:math:`df = v(v+3)/2 - q` (:math:`q` free parameters); the baseline is the independence model
(free means and variances), :math:`T_b = N(\\sum_i\\log s_{ii} - \\log|S|)` on :math:`v(v-1)/2` df;
:math:`\\mathrm{CFI} = 1 - \\max(T-df, 0)/\\max(T-df, T_b-df_b, 0)` (Bentler 1990) and
:math:`\\mathrm{RMSEA} = \\sqrt{\\max(0, (T-df)/(N\\,df))}` (Steiger 1998), as lavaan computes them
for one group (Rosseel 2012).  Which parameters are free, fixed or equal over the waves is a
:class:`LongSpec`; :func:`longitudinal_spec` builds the configural, metric and scalar models.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import linalg

LEVELS = ("configural", "metric", "scalar")


@dataclass(frozen=True)
class LongSpec:
    """Free, fixed and equal parameters: each ``*_id`` holds the free parameter's index or ``-1`` (fixed).

    Shapes (``W`` waves, ``p`` items): loadings, intercepts and residual variances ``(W, p)``;
    residual covariances of the same item ``(p, W, W)`` and factor covariances ``(W, W)``
    (symmetric); factor means ``(W,)``.  Fixed loadings and factor (co)variances take the
    values in ``loading_fixed`` / ``phi_fixed``; every other fixed parameter is 0.
    """

    loading_id: np.ndarray
    intercept_id: np.ndarray
    residual_id: np.ndarray
    rescov_id: np.ndarray
    phi_id: np.ndarray
    mean_id: np.ndarray
    loading_fixed: np.ndarray
    phi_fixed: np.ndarray

    @property
    def n_free(self) -> int:
        """Return the number of distinct free parameters."""
        ids = np.concatenate([a.ravel() for a in (self.loading_id, self.intercept_id, self.residual_id,
                                                   self.rescov_id, self.phi_id, self.mean_id)])  # fmt: skip
        return int(ids.max()) + 1 if (ids >= 0).any() else 0


@dataclass(frozen=True)
class LongMoments:
    """The people's count, the means and the ML covariance matrix (divided by N) of the wave-major variables."""

    n: float
    n_items: int
    means: np.ndarray
    cov: np.ndarray
    logdet: float

    @classmethod
    def from_waves(cls, waves: list[np.ndarray]) -> LongMoments:
        """Return the moments of complete-case item matrices (people x items), one per wave, rows aligned by person."""
        x = np.hstack(waves)
        cov = np.cov(x, rowvar=False, bias=True)
        return cls(n=float(len(x)), n_items=waves[0].shape[1], means=x.mean(axis=0), cov=cov,
                   logdet=float(np.linalg.slogdet(cov)[1]))  # fmt: skip


@dataclass(frozen=True)
class LongFit:
    """A fitted model: the parameter arrays (shapes as in :class:`LongSpec`), the statistic and fit indices."""

    loadings: np.ndarray
    intercepts: np.ndarray
    residuals: np.ndarray
    residual_covs: np.ndarray
    phi: np.ndarray
    means: np.ndarray
    chisq: float
    df: int
    baseline_chisq: float
    baseline_df: int
    cfi: float
    rmsea: float
    converged: bool


def longitudinal_spec(
    n_waves: int,
    n_items: int,
    level: str,
    *,
    identification: str = "fixed_factor",
    free_loadings: tuple[int, ...] = (),
    free_intercepts: tuple[int, ...] = (),
) -> LongSpec:
    """Return the specification of one longitudinal invariance level (the first wave the reference).

    * configural: loadings and intercepts free per wave; ``"fixed_factor"`` fixes every wave's
      factor variance at 1, ``"marker"`` the first item's loading at 1 at every wave; factor means 0;
    * metric: each item's loading equal over the waves (later waves' factor variances free);
    * scalar: loadings and intercepts equal (later waves' factor means free).

    Factor covariances and the residual covariances of the same item are free at every level.
    ``free_loadings`` / ``free_intercepts`` are items left free per wave (partial invariance).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown invariance level {level!r}; choose one of {LEVELS}")
    if identification not in ("fixed_factor", "marker"):
        raise ValueError(f"unknown identification {identification!r}; choose fixed_factor or marker")
    w, p = n_waves, n_items
    counter = itertools.count()
    marker = identification == "marker"

    def per_item(shared: bool, free_items: tuple[int, ...], skip_first: bool = False) -> np.ndarray:
        out = np.full((w, p), -1, dtype=int)
        for j in range(p):
            if skip_first and j == 0:
                continue
            out[:, j] = next(counter) if shared and j not in free_items else [next(counter) for _ in range(w)]
        return out

    loading_id = per_item(level != "configural", free_loadings, skip_first=marker)
    intercept_id = per_item(level == "scalar", free_intercepts)
    residual_id = per_item(False, ())
    rescov_id = np.full((p, w, w), -1, dtype=int)
    for j in range(p):
        for a, b in itertools.combinations(range(w), 2):
            rescov_id[j, a, b] = rescov_id[j, b, a] = next(counter)
    phi_id = np.full((w, w), -1, dtype=int)
    for a in range(w):
        if marker or (level != "configural" and a > 0):
            phi_id[a, a] = next(counter)
    for a, b in itertools.combinations(range(w), 2):
        phi_id[a, b] = phi_id[b, a] = next(counter)
    mean_id = np.full(w, -1, dtype=int)
    if level == "scalar":
        mean_id[1:] = [next(counter) for _ in range(1, w)]
    loading_fixed = np.zeros((w, p))
    if marker:
        loading_fixed[:, 0] = 1.0
    return LongSpec(loading_id=loading_id, intercept_id=intercept_id, residual_id=residual_id, rescov_id=rescov_id,
                    phi_id=phi_id, mean_id=mean_id, loading_fixed=loading_fixed, phi_fixed=np.eye(w))  # fmt: skip


def _unpack(theta: np.ndarray, spec: LongSpec) -> tuple[np.ndarray, ...]:
    def take(ids: np.ndarray, fixed: np.ndarray | float) -> np.ndarray:
        return np.asarray(np.where(ids >= 0, theta[np.maximum(ids, 0)], fixed), dtype=float)

    return (take(spec.loading_id, spec.loading_fixed), take(spec.intercept_id, 0.0), take(spec.residual_id, 0.0),
            take(spec.rescov_id, 0.0), take(spec.phi_id, spec.phi_fixed), take(spec.mean_id, 0.0))  # fmt: skip


@dataclass(frozen=True)
class _Layout:
    """Every parameter slot of the model in one flat vector (loadings, intercepts, residual variances,
    residual covariances, factor covariances, factor means), with its free-parameter id or fixed value
    and where it sits in the model matrices (so the objective runs without Python loops)."""

    ids: np.ndarray
    fixed: np.ndarray
    cuts: tuple[int, ...]
    lam_rows: np.ndarray
    lam_cols: np.ndarray
    rc_rows: np.ndarray
    rc_cols: np.ndarray
    unique: np.ndarray
    n_waves: int
    n_free: int

    @classmethod
    def of(cls, spec: LongSpec) -> _Layout:
        w, p = spec.loading_id.shape
        blocks = [(spec.loading_id, spec.loading_fixed), (spec.intercept_id, 0.0), (spec.residual_id, 0.0),
                  (spec.rescov_id, 0.0), (spec.phi_id, spec.phi_fixed), (spec.mean_id, 0.0)]  # fmt: skip
        ids = np.concatenate([b.ravel() for b, _ in blocks])
        fixed = np.concatenate([np.broadcast_to(f, b.shape).ravel() for b, f in blocks]).astype(float)
        cuts = tuple(np.cumsum([b.size for b, _ in blocks])[:-1])
        wave, item = np.divmod(np.arange(w * p), p)
        j, a, b = np.unravel_index(np.arange(p * w * w), (p, w, w))
        fa, fb = np.divmod(np.arange(w * w), w)
        # the slots that carry a parameter: free, and of a symmetric pair only the upper one
        upper = np.concatenate([np.ones(3 * w * p, dtype=bool), a < b, fa <= fb, np.ones(w, dtype=bool)])
        return cls(ids=ids, fixed=fixed, cuts=cuts, lam_rows=wave * p + item, lam_cols=wave, rc_rows=a * p + j,
                   rc_cols=b * p + j, unique=upper & (ids >= 0), n_waves=w, n_free=spec.n_free)  # fmt: skip


def _model(theta: np.ndarray, lay: _Layout) -> tuple[np.ndarray, ...]:
    """Return :math:`\\Lambda`, :math:`\\Phi`, :math:`\\kappa`, :math:`\\Sigma`, :math:`\\mu`."""
    values = np.where(lay.ids >= 0, theta[np.maximum(lay.ids, 0)], lay.fixed)
    lam, nu, res, rc, phi, kap = np.split(values, lay.cuts)
    w = lay.n_waves
    v = len(nu)
    big = np.zeros((v, w))
    big[lay.lam_rows, lay.lam_cols] = lam
    theta_mat = np.zeros((v, v))
    theta_mat[lay.rc_rows, lay.rc_cols] = rc
    theta_mat[np.diag_indices(v)] = res
    phi = phi.reshape(w, w)
    return big, phi, kap, big @ phi @ big.T + theta_mat, nu + big @ kap


def implied(theta: np.ndarray, spec: LongSpec) -> tuple[np.ndarray, np.ndarray]:
    """Return the model-implied covariance matrix :math:`\\Sigma` and mean vector :math:`\\mu`."""
    return _model(theta, _Layout.of(spec))[3:]


def _objective(theta: np.ndarray, lay: _Layout, mom: LongMoments) -> tuple[float, np.ndarray]:
    """Return :math:`T = NF` and its gradient in the free parameters."""
    big, phi, kap, sigma, mu = _model(theta, lay)
    try:
        chol = linalg.cho_factor(sigma, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return 1e20, np.zeros_like(theta)
    inv = linalg.cho_solve(chol, np.eye(len(sigma)), check_finite=False)
    d = mom.means - mu
    inv_d = inv @ d
    logdet = 2.0 * np.log(np.diag(chol[0])).sum()
    f = logdet + np.sum(mom.cov * inv) - mom.logdet - len(d) + d @ inv_d
    wmat = inv - inv @ mom.cov @ inv - np.outer(inv_d, inv_d)
    g_mu = -2.0 * inv_d
    g_big = 2.0 * wmat @ big @ phi + np.outer(g_mu, kap)
    slots = np.concatenate([g_big[lay.lam_rows, lay.lam_cols], g_mu, np.diag(wmat), wmat[lay.rc_rows, lay.rc_cols],
                            (big.T @ wmat @ big).ravel(), big.T @ g_mu])  # fmt: skip
    free = lay.ids >= 0
    grad = np.bincount(lay.ids[free], weights=slots[free], minlength=lay.n_free)
    return float(mom.n * f), mom.n * grad


def _information(theta: np.ndarray, lay: _Layout, mom: LongMoments) -> np.ndarray:
    """Return the expected Hessian of :math:`T = NF` in the free parameters (the Fisher information, scaled).

    Every parameter slot moves :math:`\\Sigma` by a symmetric :math:`xy^\\top + yx^\\top` and
    :math:`\\mu` by :math:`u` (a loading: :math:`x = e_r`, :math:`y = (\\Lambda\\Phi)_{\\cdot w}`,
    :math:`u = \\kappa_w e_r`; a factor covariance: :math:`x = \\Lambda_{\\cdot a}`,
    :math:`y = \\Lambda_{\\cdot b}`; ...), so with :math:`P = \\Sigma^{-1}`
    :math:`E\\,\\partial^2 F/\\partial\\theta_k\\partial\\theta_l = \\operatorname{tr}(P\\Sigma_k P\\Sigma_l)
    + 2u_k^\\top P u_l = 2[(x_k^\\top Px_l)(y_k^\\top Py_l) + (x_k^\\top Py_l)(y_k^\\top Px_l) + u_k^\\top Pu_l]`
    (Lee & Jennrich 1979); slots sharing a parameter are summed.
    """
    big, phi, kap, sigma, _ = _model(theta, lay)
    v, w = big.shape
    inv = linalg.inv(sigma, check_finite=False)
    eye, zero = np.eye(v), np.zeros((v, v))
    fa, fb = np.divmod(np.arange(w * w), w)
    load = big @ phi
    none = np.zeros((v, w))
    x = np.hstack([eye[:, lay.lam_rows], zero, eye, eye[:, lay.rc_rows], big[:, fa], none])
    y = np.hstack([load[:, lay.lam_cols], zero, 0.5 * eye, eye[:, lay.rc_cols], big[:, fb] * np.where(fa == fb, 0.5, 1),
                   none])  # fmt: skip
    u = np.hstack([eye[:, lay.lam_rows] * kap[lay.lam_cols], eye, zero, np.zeros((v, len(lay.rc_rows))),
                   np.zeros((v, w * w)), big])  # fmt: skip
    keep = lay.unique
    x, y, u = x[:, keep], y[:, keep], u[:, keep]
    px, py = inv @ x, inv @ y
    slots = 2.0 * ((x.T @ px) * (y.T @ py) + (x.T @ py) * (y.T @ px) + u.T @ inv @ u)
    m = np.zeros((keep.sum(), lay.n_free))
    m[np.arange(keep.sum()), lay.ids[keep]] = 1.0
    return mom.n * (m.T @ slots @ m)


def _scoring(
    theta: np.ndarray, lay: _Layout, mom: LongMoments, lower: np.ndarray, *, tol: float, maxit: int = 500
) -> np.ndarray:
    """Fisher scoring with step halving (a step that leaves :math:`\\Sigma` indefinite or raises T is halved).

    Stops when the largest step is below ``tol`` times the largest parameter, or T stops falling.
    """
    value, grad = _objective(theta, lay, mom)
    for _ in range(maxit):
        try:
            delta = linalg.solve(_information(theta, lay, mom), grad, assume_a="pos", check_finite=False)
        except (linalg.LinAlgError, ValueError):
            delta = grad / mom.n
        step = 1.0
        while step > 1e-10:
            candidate = np.maximum(theta - step * delta, lower)
            new_value, new_grad = _objective(candidate, lay, mom)
            if new_value <= value:
                break
            step /= 2
        else:
            break
        moved = np.max(np.abs(candidate - theta), initial=0.0)
        theta, value, grad = candidate, new_value, new_grad
        if moved < tol * max(1.0, np.max(np.abs(theta), initial=0.0)):
            break
    return theta


def _fill(ids: np.ndarray, values: np.ndarray, theta: np.ndarray, counts: np.ndarray) -> None:
    free = ids >= 0
    np.add.at(theta, ids[free], np.broadcast_to(values, ids.shape)[free])
    np.add.at(counts, ids[free], 1.0)


def _start(spec: LongSpec, mom: LongMoments) -> np.ndarray:
    """Starting values: each wave's first principal axis, its covariances with the others, shared ids averaged."""
    w, p = spec.loading_id.shape
    cov = mom.cov
    lam = np.empty((w, p))
    res = np.empty((w, p))
    for a in range(w):
        block = cov[a * p:(a + 1) * p, a * p:(a + 1) * p]
        values, vectors = np.linalg.eigh(block)
        lam[a] = vectors[:, -1] * np.sqrt(max(values[-1], 1e-8))
        lam[a] *= np.sign(lam[a].sum() or 1.0)
        res[a] = np.maximum(np.diag(block) - lam[a] ** 2, 0.1 * np.diag(block))
    phi = np.eye(w)
    for a, b in itertools.combinations(range(w), 2):
        cross = cov[a * p:(a + 1) * p, b * p:(b + 1) * p]
        phi[a, b] = phi[b, a] = np.clip(lam[a] @ cross @ lam[b] / (lam[a] @ lam[a] * (lam[b] @ lam[b])), -0.9, 0.9)
    values, vectors = np.linalg.eigh(phi)  # keep the start positive definite
    phi = (vectors * np.maximum(values, 0.05)) @ vectors.T
    phi /= np.sqrt(np.outer(np.diag(phi), np.diag(phi)))
    common = lam.mean(axis=0)
    means = mom.means.reshape(w, p)
    kap = (means - means[0]) @ common / (common @ common)
    if (spec.loading_fixed != 0).any():  # marker: rescale each wave's factor to its first loading
        scale = lam[:, 0].copy()
        lam, phi, kap = lam / scale[:, None], phi * np.outer(scale, scale), kap * scale
    theta = np.zeros(spec.n_free)
    counts = np.zeros(spec.n_free)
    _fill(spec.loading_id, lam, theta, counts)
    _fill(spec.intercept_id, means - lam * kap[:, None], theta, counts)
    _fill(spec.residual_id, res, theta, counts)
    _fill(spec.phi_id, phi, theta, counts)
    _fill(spec.mean_id, kap, theta, counts)
    return theta / np.maximum(counts, 1.0)


def _lower(spec: LongSpec) -> np.ndarray:
    lower = np.full(spec.n_free, -np.inf)
    diag = np.diagonal(spec.phi_id)
    for ids in (spec.residual_id, diag):
        lower[ids[ids >= 0]] = 1e-8
    return lower


def baseline_chisq(mom: LongMoments) -> tuple[float, int]:
    """Return the independence model's statistic :math:`N(\\sum_i\\log s_{ii} - \\log|S|)` and its df."""
    v = len(mom.means)
    stat = mom.n * (np.log(np.diag(mom.cov)).sum() - np.linalg.slogdet(mom.cov)[1])
    return float(stat), v * (v - 1) // 2


def _rescale(spec: LongSpec, lay: _Layout, c: float) -> np.ndarray:
    """Per free parameter, its value in the item units over its value with every item divided by ``c``.

    With :math:`x' = x/c` the factor is :math:`\\eta = s\\eta'` (:math:`s = c` when a loading is fixed
    at 1, else 1), so :math:`\\lambda = c\\lambda'/s`, :math:`\\nu = c\\nu'`, :math:`\\Theta = c^2\\Theta'`,
    :math:`\\Phi = s^2\\Phi'`, :math:`\\kappa = s\\kappa'`; :math:`T` is unchanged.
    """
    s = c if (spec.loading_fixed != 0).any() else 1.0
    sizes = np.diff([0, *lay.cuts, len(lay.ids)])
    factors = np.repeat([c / s, c, c**2, c**2, s**2, s], sizes)
    out = np.ones(lay.n_free)
    free = lay.ids >= 0
    out[lay.ids[free]] = factors[free]
    return out


def fit(spec: LongSpec, mom: LongMoments, *, polish: bool = True) -> LongFit:
    """Fit one model by ML: Fisher scoring (:func:`_information`) with step halving from principal-axis starts.

    The expected information is cheap here (no finite differences) and the steps keep
    :math:`\\Sigma` positive definite, where a quasi-Newton line search through an indefinite
    :math:`\\Sigma` stalls.  The items are divided by one common constant (the root mean item
    variance) while fitting, so answer scales of 1..5 and 0..100 are alike to the optimiser; the
    estimates are reported in the item units.

    Parameters
    ----------
    spec : LongSpec
        The free, fixed and equal parameters.
    mom : LongMoments
        The sample moments of the wave-major variables.
    polish : bool
        Iterate until the largest step is below 1e-11 of the largest parameter (agreement to
        1e-6 with lavaan) rather than 1e-6 (enough to compare candidates in the search for
        non-invariant items).

    Returns
    -------
    LongFit
        Estimates, :math:`T = NF`, its df, the baseline statistic, CFI and RMSEA.
    """
    v = len(mom.means)
    c = float(np.sqrt(np.mean(np.diag(mom.cov))))
    unit = LongMoments(n=mom.n, n_items=mom.n_items, means=mom.means / c, cov=mom.cov / c**2,
                       logdet=mom.logdet - 2 * v * np.log(c))  # fmt: skip
    lower = _lower(spec)
    lay = _Layout.of(spec)
    theta = _scoring(_start(spec, unit), lay, unit, lower, tol=1e-11 if polish else 1e-6)
    chisq, grad = _objective(theta, lay, unit)
    free_grad = np.where(theta > lower, grad, np.minimum(grad, 0.0))  # a parameter on its bound may push outwards
    converged = bool(np.max(np.abs(free_grad), initial=0.0) < 1e-4 * max(1.0, mom.n / 100))
    df = int(v * (v + 3) // 2 - spec.n_free)
    base, base_df = baseline_chisq(mom)
    t1 = max(chisq - df, 0.0)
    t2 = max(chisq - df, base - base_df, 0.0)
    cfi = 1.0 if t2 == 0 else 1.0 - t1 / t2
    rmsea = float(np.sqrt(max(0.0, (chisq - df) / (mom.n * df)))) if df > 0 else 0.0
    lam, nu, res, rc, phi, kap = _unpack(theta * _rescale(spec, lay, c), spec)
    return LongFit(loadings=lam, intercepts=nu, residuals=res, residual_covs=rc, phi=phi, means=kap,
                   chisq=float(chisq), df=df, baseline_chisq=base, baseline_df=base_df, cfi=float(cfi),
                   rmsea=rmsea, converged=converged)  # fmt: skip
