r"""Cluster-robust standard errors of a Cox model, with Efron's tie handling and a few-cluster correction.

The robust ("sandwich") variance of Lin & Wei (1989) clustered as in R's
``coxph(..., cluster = g)`` is

.. math:: V_R = D' D, \qquad D_g = \sum_{i \in g} U_i\,\mathcal{I}^{-1},

with :math:`U_i` the score residuals of person :math:`i` and :math:`\mathcal{I}^{-1}` the
model-based variance.  With Efron's approximation for tied event times the :math:`d` tied
deaths at :math:`t_j` are spread over :math:`d` steps: at step :math:`k = 0..d-1` a dying
person is still at risk with weight :math:`w_{ik} = 1 - k/d` (others: 1), the risk-set sum is
:math:`a_k = S_0 - (k/d) D_0` and the mean :math:`\bar x_k = (S_1 - (k/d) D_1) / a_k`
(:math:`S`: sums over the risk set of :math:`r_i = e^{x_i'\beta}` and :math:`r_i x_i`, :math:`D`:
the same over the tied deaths).  The score residual is

.. math:: U_i = \sum_j \Big[ \delta_{ij} \big(x_i - \tfrac1d \textstyle\sum_k \bar x_k\big)
          - r_i \textstyle\sum_k w_{ik} (x_i - \bar x_k) / a_k \Big]

(Therneau & Grambsch 2000, sec. 3.7.3 and 7.2; R's ``residuals(m, "score")``; lifelines leaves
the weights :math:`w_{ik}` out, which moves the SEs by 1e-4 to 1e-3 relative when event times
are tied).  The score residuals sum to the Efron score, zero at the estimate.

Few clusters.  With :math:`G` clusters :math:`D'D` is biased downwards (Cameron & Miller 2015,
sec. VI): with 25 groups a null group-level covariate is "significant" far too often.  The
intervals and p-values therefore use the bias-reduced (jackknife-type, "CR3") sandwich and
Student's t on :math:`G - 1` df (:func:`robust_inference`), for any number of clusters (the
difference fades from about 50 on).  G/(G-1) with t (CR1) was measured and not enough.

References
----------
Lin DY, Wei LJ (1989). The robust inference for the Cox proportional hazards model. JASA 84:1074-1078.
Therneau TM, Grambsch PM (2000). Modeling Survival Data: Extending the Cox Model. Springer.
Cameron AC, Miller DL (2015). A practitioner's guide to cluster-robust inference. J Hum Resour
50(2):317-372. doi:10.3368/jhr.50.2.317
Mancl LA, DeRouen TA (2001). A covariance estimator for GEE with improved small-sample
properties. Biometrics 57(1):126-134.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats


def efron_score_residuals(
    time: NDArray[np.float64], event: NDArray[np.float64], x: NDArray[np.float64], beta: NDArray[np.float64],
    strata: NDArray[np.object_] | None = None,
) -> NDArray[np.float64]:
    """Score residuals :math:`U_i` of a Cox model with Efron ties (one row per person, one column per coefficient).

    Parameters
    ----------
    time, event : arrays of length n
        Follow-up time and event indicator (1 event, 0 censored).
    x : array (n, p)
        Covariates.
    beta : array (p,)
        The coefficients (the partial-likelihood estimate).
    strata : array of length n, optional
        Stratum of each person: the risk sets are formed within strata.

    Returns
    -------
    array (n, p)
        As R's ``residuals(coxph(..., ties = "efron"), type = "score")``.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    x = np.atleast_2d(np.asarray(x, dtype=float).reshape(len(time), -1))
    out = np.zeros_like(x)
    labels = np.zeros(len(time), dtype=int) if strata is None else pd.factorize(pd.Series(strata).astype(str))[0]
    for s in np.unique(labels):
        idx = np.flatnonzero(labels == s)
        out[idx] = _stratum_residuals(time[idx], event[idx], x[idx], np.asarray(beta, dtype=float))
    return out


def _stratum_residuals(
    time: NDArray[np.float64], event: NDArray[np.float64], x: NDArray[np.float64], beta: NDArray[np.float64]
) -> NDArray[np.float64]:
    x = x - x.mean(axis=0)  # centring changes no residual, and keeps exp() in range
    r = np.exp(x @ beta)
    n, p = x.shape
    resid = np.zeros((n, p))
    dead = event > 0
    death_times, which = np.unique(time[dead], return_inverse=True)
    if not len(death_times):
        return resid
    # risk-set sums S0, S1 at each event time (everyone with time >= t), and the tied deaths' D0, D1
    order = np.argsort(time, kind="stable")
    tail0 = np.cumsum(r[order][::-1])[::-1]
    tail1 = np.cumsum((r[:, None] * x)[order][::-1], axis=0)[::-1]
    first = np.searchsorted(time[order], death_times, side="left")
    s0, s1 = tail0[first], tail1[first]
    count = np.bincount(which, minlength=len(death_times))
    d0 = np.bincount(which, weights=r[dead], minlength=len(death_times))
    d1 = np.stack([np.bincount(which, weights=(r * x[:, c])[dead], minlength=len(death_times)) for c in range(p)], 1)
    h0, h1 = np.zeros(len(death_times)), np.zeros((len(death_times), p))
    own0, own1 = np.zeros(len(death_times)), np.zeros((len(death_times), p))
    mean_xbar = np.zeros((len(death_times), p))
    for d in np.unique(count):  # Efron's d steps, for all event times with d tied deaths at once
        j = np.flatnonzero(count == d)
        k = np.arange(d) / d
        a = s0[j, None] - k[None, :] * d0[j, None]  # (m, d)
        xbar = (s1[j, None, :] - k[None, :, None] * d1[j, None, :]) / a[:, :, None]  # (m, d, p)
        w = 1 - k  # a dying person is at risk with weight 1 - k/d at step k
        h0[j], h1[j] = (1 / a).sum(1), (xbar / a[:, :, None]).sum(1)
        own0[j], own1[j] = (w / a).sum(1), ((w / a)[:, :, None] * xbar).sum(1)
        mean_xbar[j] = xbar.mean(1)
    rows = np.flatnonzero(dead)
    resid[rows] += x[rows] - mean_xbar[which]
    resid[rows] += r[rows, None] * ((h0 - own0)[which, None] * x[rows] - (h1 - own1)[which])
    cum0, cum1 = np.cumsum(h0), np.cumsum(h1, axis=0)
    position = np.searchsorted(death_times, time, side="right") - 1
    seen = position >= 0
    resid[seen] -= r[seen, None] * (cum0[position[seen], None] * x[seen] - cum1[position[seen]])
    return resid


def newton_polish(
    time: NDArray[np.float64], event: NDArray[np.float64], x: NDArray[np.float64], beta: NDArray[np.float64],
    v_model: NDArray[np.float64], strata: NDArray[np.object_] | None = None,
) -> NDArray[np.float64]:
    r"""One Newton step :math:`\beta + \mathcal{I}^{-1} U(\beta)` from a fitter's estimate (Efron score).

    The score :math:`U(\beta)` is the sum of :func:`efron_score_residuals`; from an estimate 1e-7
    short of the optimum one step reaches R's ``coxph`` (``eps = 1e-12``) to rounding.
    """
    beta = np.asarray(beta, dtype=float)
    return beta + np.asarray(v_model, dtype=float) @ efron_score_residuals(time, event, x, beta, strata).sum(axis=0)


def cluster_variance(dfbeta: NDArray[np.float64], cluster: NDArray[np.object_]) -> NDArray[np.float64]:
    """:math:`D'D` with :math:`D` the dfbeta residuals summed within clusters (R: ``crossprod(rowsum(dfbeta, cluster))``)."""
    summed = pd.DataFrame(dfbeta).groupby(np.asarray(cluster), sort=True).sum().to_numpy()
    return summed.T @ summed


def cluster_score_jacobians(
    time: NDArray[np.float64], event: NDArray[np.float64], x: NDArray[np.float64], beta: NDArray[np.float64],
    cluster: NDArray[np.object_], strata: NDArray[np.object_] | None = None, *, step: float = 1e-6,
) -> NDArray[np.float64]:
    r""":math:`J_g = \partial U_g / \partial \beta'` of each cluster's summed score residuals (central differences).

    Returns an array (G, p, p), clusters in sorted order; :math:`\sum_g J_g` is minus the information.
    """
    beta = np.asarray(beta, dtype=float)
    p = len(beta)
    labels = np.asarray(cluster)

    def summed(b: NDArray[np.float64]) -> NDArray[np.float64]:
        scores = efron_score_residuals(time, event, x, b, strata)
        return pd.DataFrame(scores).groupby(labels, sort=True).sum().to_numpy()

    h = step * np.maximum(1.0, np.abs(beta))
    columns = [(summed(beta + h[k] * np.eye(p)[k]) - summed(beta - h[k] * np.eye(p)[k])) / (2 * h[k]) for k in range(p)]
    return np.stack(columns, axis=2)


def robust_inference(
    time: NDArray[np.float64], event: NDArray[np.float64], x: NDArray[np.float64], beta: NDArray[np.float64],
    v_model: NDArray[np.float64], cluster: NDArray[np.object_], strata: NDArray[np.object_] | None = None,
    *, alpha: float = 0.05,
) -> pd.DataFrame:
    r"""Clustered SEs as R's ``coxph`` (``se_robust``, ``z``), and few-cluster intervals and p-values.

    The intervals and p-values use the bias-reduced sandwich ("CR3"; Cameron & Miller 2015,
    sec. VI.B; Mancl & DeRouen 2001) with Student's t on :math:`G - 1` df:

    .. math:: V_{CR3} = \sum_g (\hat\beta_{(-g)} - \hat\beta)(\hat\beta_{(-g)} - \hat\beta)',

    the (uncentred) delete-one-cluster jackknife.  :math:`\hat\beta_{(-g)}` takes two Newton
    steps from :math:`\hat\beta` on the data without cluster :math:`g`, with the information
    :math:`\mathcal{I} - A_g` (:math:`A_g = -\partial U_g/\partial\beta'`, the cluster's share,
    :func:`cluster_score_jacobians`); the first step is
    :math:`(\mathcal{I} - A_g)^{-1}(-U_g)`, Mancl & DeRouen's (2001) bias-reduced sandwich in the
    form of the score.  In 200 simulated studies
    with 25 groups of 8, a shared frailty (SD 0.5) and null covariates, 95% intervals excluded
    1 in 5.5% (person-level covariate) and 6.5% (group-level) with CR3 and t, in 8.0% and 9.5%
    with R's :math:`D'D` and normal quantiles (``tests/test_survival.py``); CR1
    (:math:`G/(G-1)\,D'D` with t) gave 7.8% and 8.0% in 400 such studies, not enough.

    Parameters
    ----------
    time, event, x, strata : the data of the fit (see :func:`efron_score_residuals`).
    beta : array (p,)
    v_model : array (p, p)
        Model-based variance (inverse information).
    cluster : array of length n
    alpha : float
        1 - confidence level.

    Returns
    -------
    DataFrame
        One row per coefficient: ``coef``, ``se_model``, ``se_robust`` (R's robust SE, :math:`D'D`),
        ``z`` (R's robust z), ``se_cr3``, ``t_val`` (``coef / se_cr3``), ``df`` (:math:`G - 1`),
        ``p_val``, ``ci_low``, ``ci_high`` (log scale, t on ``df``), ``clusters`` (:math:`G`).

    References
    ----------
    Mancl LA, DeRouen TA (2001). A covariance estimator for GEE with improved small-sample
    properties. Biometrics 57(1):126-134.
    """
    beta = np.asarray(beta, dtype=float)
    v_model = np.asarray(v_model, dtype=float)
    labels = np.asarray(cluster)
    scores = efron_score_residuals(time, event, x, beta, strata)
    v_robust = cluster_variance(scores @ v_model, labels)
    summed = pd.DataFrame(scores).groupby(labels, sort=True).sum().to_numpy()
    g, p = summed.shape
    jac = cluster_score_jacobians(time, event, x, beta, labels, strata)
    info = np.linalg.inv(v_model)
    keys = np.unique(labels)
    shifts = np.zeros((g, p))
    for k in range(g):
        # delete-one-cluster estimate: two (quasi-)Newton steps from beta on the data without cluster k
        h_minus = info + jac[k]  # information without cluster k
        step = np.linalg.solve(h_minus, -summed[k])
        keep = labels != keys[k]  # the second step uses the score of the data without cluster k
        rest = efron_score_residuals(time[keep], event[keep], x[keep], beta + step,
                                     None if strata is None else np.asarray(strata)[keep])  # fmt: skip
        step = step + np.linalg.solve(h_minus, rest.sum(axis=0))
        shifts[k] = step
    v_cr3 = shifts.T @ shifts
    se_robust, se_cr3 = np.sqrt(np.diag(v_robust)), np.sqrt(np.diag(v_cr3))
    df = float(g - 1) if g > 1 else np.nan
    t_val = beta / se_cr3
    q = stats.t.ppf(1 - alpha / 2, df)
    return pd.DataFrame(
        {
            "coef": beta,
            "se_model": np.sqrt(np.diag(v_model)),
            "se_robust": se_robust,
            "z": beta / se_robust,
            "se_cr3": se_cr3,
            "t_val": t_val,
            "df": df,
            "p_val": 2 * stats.t.sf(np.abs(t_val), df),
            "ci_low": beta - q * se_cr3,
            "ci_high": beta + q * se_cr3,
            "clusters": g,
        }
    )
