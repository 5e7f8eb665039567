"""The adjusted short-term effect of intervisie when people were not randomised.

Without randomisation the arms differ at baseline (people who feel worse may join more often,
and an extreme baseline score regresses to the mean by itself).  The effect is then estimated
doubly robustly: propensity-score weights (:mod:`analyses.propensity`; overlap weights by default)
balance the arms on the baseline score, the programme and the declared covariates, and a weighted
regression of the follow-up score on the arm and the same covariates (a weighted ANCOVA) adjusts
for what balance remains.  The estimate is consistent if either the propensity model or the
outcome model is right (Bang & Robins 2005; Funk et al. 2011).  Standard errors are
cluster-robust by intervisie group, since members of one group share sessions: by default the
bias-reduced CR2 estimator with Satterthwaite degrees of freedom (Bell & McCaffrey 2002;
Pustejovsky & Tipton 2018; :mod:`analyses.cluster_robust`), which keeps the size of the test with
the 10-50 groups an intervisie study has, where CR1 with G - 1 df rejects too often.

References
----------
Bang, H., & Robins, J. M. (2005). Doubly robust estimation in missing data and causal inference
models. *Biometrics*, 61(4), 962-973.

Funk, M. J., Westreich, D., Wiesen, C., Stürmer, T., Brookhart, M. A., & Davidian, M. (2011).
Doubly robust estimation of causal effects. *American Journal of Epidemiology*, 173(7), 761-767.

Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression
with multi-stage samples. *Survey Methodology*, 28(2), 169-181.

Pustejovsky, J. E., & Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. *Journal of Business & Economic
Statistics*, 36(4), 672-683.

Li, F., Morgan, K. L., & Zaslavsky, A. M. (2018). Balancing covariates via propensity score
weighting. *Journal of the American Statistical Association*, 113(521), 390-400.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from scipy import stats

from analyses.cluster_robust import VCOV_TYPES, VcovType, contrast_inference
from analyses.evalue import evalue_smd
from analyses.propensity import (
    BALANCE_COLUMNS,
    BALANCE_THRESHOLD,
    Covariate,
    adjustment_matrix,
    balance_table,
    balancing_weights,
    effective_sample_size,
    independent_columns,
    propensity_scores,
)

RESULT_KEYS = [
    "estimand",
    "n_a",
    "n_b",
    "clusters",
    "estimate",
    "se",
    "df",
    "p",
    "ci95_low",
    "ci95_high",
    "std_estimate",
    "std_ci95_low",
    "std_ci95_high",
    "ess_a",
    "ess_b",
    "max_abs_smd",
    "balance_ok",
    "evalue",
    "evalue_ci",
    "converged",
    "note",
]
PAIR_COLUMNS = ["participant", "arm", "programme", "group", "pre", "post"]


@dataclass(frozen=True)
class AncovaFit:
    """The arm coefficient of a weighted ANCOVA with its cluster-robust inference.

    Attributes
    ----------
    estimate, se, df, t, p, ci95_low, ci95_high : float
        The coefficient of ``treated``, its cluster-robust standard error, the degrees of freedom
        of its t (Satterthwaite for CR2, G - 1 for CR1), the t statistic, the two-sided p-value
        and the 95% interval.
    n : int
        People in the fit (with a positive weight).
    clusters : int
        G, the number of clusters.
    note : str
        Why the numbers are NaN, if they are, or which aliased covariates were left out.
    vcov : str
        The cluster-robust variance used: ``"CR2"`` or ``"CR1"``.
    """

    estimate: float
    se: float
    df: float
    t: float
    p: float
    ci95_low: float
    ci95_high: float
    n: int
    clusters: int
    note: str = ""
    vcov: str = "CR2"


def _nan_fit(n: int, clusters: int, note: str, vcov: str) -> AncovaFit:
    nan = math.nan
    return AncovaFit(nan, nan, nan, nan, nan, nan, nan, n, clusters, note, vcov)


def weighted_ancova(
    y: np.ndarray,
    treated: np.ndarray,
    X: pd.DataFrame,
    weights: np.ndarray,
    clusters: np.ndarray,
    *,
    vcov: VcovType = "CR2",
) -> AncovaFit:
    """Weighted least squares of the outcome on the arm and the covariates, cluster-robust SE.

    Parameters
    ----------
    y : numpy.ndarray
        The outcome (e.g. the follow-up score).
    treated : numpy.ndarray
        1 for the intervisie arm, 0 for the comparison arm.
    X : pandas.DataFrame
        The covariates (:func:`analyses.propensity.adjustment_matrix`), without intercept.
    weights : numpy.ndarray
        Balancing weights; rows with weight 0 are left out (as R's ``lm`` does for the degrees of
        freedom).
    clusters : numpy.ndarray
        A cluster label per row (the intervisie group; a comparison participant without a group is
        a cluster of one).
    vcov : {"CR2", "CR1"}, keyword-only
        The cluster-robust variance and its degrees of freedom (see Notes); CR2 by default.

    Returns
    -------
    AncovaFit

    Notes
    -----
    With design :math:`Z = [1, t, X]`, :math:`W = \\mathrm{diag}(w)`, residuals :math:`e`, G
    clusters, N people and K coefficients, :math:`\\hat\\beta = (Z^\\top W Z)^{-1} Z^\\top W y`
    and, with :math:`M = (Z^\\top W Z)^{-1}`,

    .. math::

        \\hat V = M \\Big(\\sum_g Z_g^\\top W_g A_g e_g e_g^\\top A_g W_g Z_g\\Big) M .

    ``vcov="CR2"`` (default): :math:`A_g = [(I - H)_g (I - H)_g^\\top]^{-1/2}` with
    :math:`H = Z M Z^\\top W`, the bias-reduced linearisation of Bell & McCaffrey (2002) for WLS
    with the working model of independent, homoskedastic errors (Pustejovsky & Tipton 2018; R
    ``clubSandwich::vcovCR(fit, cluster, type = "CR2")`` for ``lm(weights = w)``), and t on the
    Satterthwaite degrees of freedom of the arm coefficient
    :math:`\\nu = (\\sum_g u_g^\\top u_g)^2 / \\sum_{g,h} (u_g^\\top u_h)^2`,
    :math:`u_g = (I - H)_g^\\top A_g W_g Z_g M c` (``clubSandwich::coef_test(test =
    "Satterthwaite")``); see :func:`analyses.cluster_robust.contrast_inference` for the
    derivation.  R ``sandwich::vcovCL(type = "HC2")`` is the same estimator for equal weights
    only: with unequal weights it uses :math:`(I - Z_g M Z_g^\\top W_g)^{-1/2} W_g e_g` in place of
    :math:`W_g A_g e_g`, another estimator.

    ``vcov="CR1"``: :math:`A_g = I` times :math:`\\frac{G}{G-1}\\frac{N-1}{N-K}` (R
    ``sandwich::vcovCL(type = "HC1")``), t on G - 1 degrees of freedom (Cameron & Miller 2015).
    With few intervisie groups facing many comparison participants who are each a cluster of
    one, CR1 is too small and G - 1 counts the singletons as if they informed the between-group
    variance: the test rejects too often.

    The weighted regression with balancing weights is the doubly robust estimator of Funk et al.
    (2011) and Bang & Robins (2005).
    """
    if vcov not in VCOV_TYPES:
        raise ValueError(f"weighted_ancova: unknown vcov {vcov!r} (use 'CR2' or 'CR1')")
    yv = np.asarray(y, dtype=float)
    tv = np.asarray(treated, dtype=float)
    w = np.asarray(weights, dtype=float)
    xm = np.asarray(X, dtype=float).reshape(len(yv), -1)
    cl = pd.Series(np.asarray(clusters, dtype=object))
    lengths = {len(yv), len(tv), len(w), len(xm), len(cl)}
    if len(lengths) != 1:
        raise ValueError(f"weighted_ancova: y, treated, X, weights and clusters differ in length ({sorted(lengths)})")
    finite = np.isfinite(yv) & np.isfinite(tv) & np.isfinite(w) & np.isfinite(xm).all(axis=1) & (w > 0)
    yv, tv, w, xm, cl = yv[finite], tv[finite], w[finite], xm[finite], cl[finite].reset_index(drop=True)
    n = len(yv)
    codes, uniques = pd.factorize(cl.astype(str))
    g = len(uniques)
    if n == 0 or tv.min() == tv.max():
        return _nan_fit(n, g, "the weighted ANCOVA needs people with a positive weight in both arms", vcov)
    keep = independent_columns(np.column_stack([tv, xm]))  # the arm first: covariates aliased with it go
    note = ""
    if len(keep) < 1 + xm.shape[1]:
        names = [str(c) for c in getattr(X, "columns", range(xm.shape[1]))]
        note = "aliased covariate(s) left out of the ANCOVA: " + ", ".join(
            names[j - 1] for j in range(1, 1 + xm.shape[1]) if j not in keep
        )
    design = np.column_stack([np.ones(n), np.column_stack([tv, xm])[:, keep]])
    k = design.shape[1]
    if n <= k:
        return _nan_fit(n, g, f"too few people ({n}) for {k} coefficients", vcov)
    if g < 2:
        return _nan_fit(n, g, "fewer than 2 clusters: no cluster-robust standard error", vcov)
    if min(len(set(codes[tv == 1])), len(set(codes[tv == 0]))) < 2:
        note = "; ".join(filter(None, [note, "one arm is a single cluster: the standard error misses its "
                                        "between-cluster variance"]))  # fmt: skip
    root = np.sqrt(w)
    beta = np.linalg.lstsq(design * root[:, None], yv * root, rcond=None)[0]
    contrast = np.zeros(k)
    contrast[1] = 1.0
    inference = contrast_inference(design, w, yv - design @ beta, codes, contrast, vcov)
    estimate, se, df = float(beta[1]), math.sqrt(max(inference.variance, 0.0)), inference.df
    if not (np.isfinite(se) and se > 0 and np.isfinite(df) and df > 0):
        return _nan_fit(n, g, "the cluster-robust standard error is zero or undefined", vcov)
    t = estimate / se
    p = float(2 * stats.t.sf(abs(t), df))
    half = float(stats.t.ppf(0.975, df)) * se
    return AncovaFit(estimate, se, df, t, p, estimate - half, estimate + half, n, g, note, vcov)


def _empty_row(estimand: str, n_a: int, n_b: int, note: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(RESULT_KEYS, math.nan)
    row.update(estimand=estimand, n_a=n_a, n_b=n_b, clusters=0, balance_ok=False, converged=False, note=note)
    return row


def programme_covariate(frame: pd.DataFrame, treated: np.ndarray, notes: list[str]) -> list[Covariate]:
    """``programme`` as a categorical covariate, when it has several levels and one of them spans both arms.

    The level order is the Categorical's (the design's order: the first is the reference), else
    that of first appearance.  When every programme lies wholly in one arm (assignment by
    programme), programme cannot be adjusted for: it is left out and ``notes`` says so.
    """
    prog = frame["programme"]
    if isinstance(prog.dtype, pd.CategoricalDtype):
        levels = [str(v) for v in prog.cat.categories if (prog == v).any()]
    else:
        levels = [str(v) for v in pd.unique(prog.dropna())]
    if len(levels) < 2:
        return []
    text = prog.astype("string")
    mixed = [lev for lev in levels if len(set(treated[(text == lev).fillna(False).to_numpy()])) == 2]
    if not mixed:
        notes.append("programme not adjusted for: every programme lies wholly in one arm")
        return []
    return [Covariate("programme", "categorical", tuple(levels))]


def cluster_labels(frame: pd.DataFrame) -> np.ndarray:
    """The cluster of each row: its intervisie group, or the participant alone when they have none."""
    group = frame["group"].astype("string")
    own = "participant:" + frame["participant"].astype(str)
    return np.where(group.isna().to_numpy(), own.to_numpy(), ("group:" + group.fillna("")).to_numpy())


def _pooled_sd(x: np.ndarray, treated: np.ndarray) -> float:
    a, b = x[treated == 1], x[treated == 0]
    if len(a) < 2 or len(b) < 2:
        return math.nan
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    return float(np.sqrt(pooled))


def adjusted_short_term(
    pairs: pd.DataFrame,
    covariates: Sequence[Covariate],
    *,
    estimand: str = "ato",
    arms: tuple[str, str] = ("intervisie", "comparison"),
    min_per_arm: int = 2,
    vcov: VcovType = "CR2",
) -> tuple[dict, pd.DataFrame]:
    """The baseline-adjusted, propensity-weighted difference between the arms at follow-up.

    Parameters
    ----------
    pairs : pandas.DataFrame
        One row per participant with both waves: ``participant``, ``arm``, ``programme``,
        ``group`` (NA in the comparison arm), ``pre``, ``post`` and a column per covariate.
    covariates : sequence of Covariate
        The declared baseline covariates.
    estimand : {"ato", "att", "ate"}, keyword-only
        The weights (:func:`analyses.propensity.balancing_weights`); overlap weights by default.
    arms : (str, str), keyword-only
        ``(a, b)``: the effect is a - b; ``a`` is the "treated" arm of the propensity model.
    min_per_arm : int, keyword-only
        Fewer people than this in an arm: a row of NaN with a note.
    vcov : {"CR2", "CR1"}, keyword-only
        The cluster-robust variance of the ANCOVA (:func:`weighted_ancova`); CR2 with
        Satterthwaite degrees of freedom by default.

    Returns
    -------
    (dict, pandas.DataFrame)
        The result row (keys ``RESULT_KEYS``) and the balance table
        (:func:`analyses.propensity.balance_table`).

    Notes
    -----
    The adjustment set is ``pre`` (the baseline score), ``programme`` as a categorical (when it
    has more than one level and at least one programme has people in both arms; the level order
    is that of first appearance unless ``programme`` is an ordered Categorical) and the
    covariates, with missing values by the missing-indicator method.  Steps:

    1. propensity scores :math:`e(x)` by logistic regression (Rosenbaum & Rubin 1983);
    2. weights from ``estimand`` (overlap weights: intervisie :math:`1 - e`, comparison :math:`e`;
       Li, Morgan & Zaslavsky 2018);
    3. the weighted ANCOVA ``post ~ 1 + arm + X`` (:func:`weighted_ancova`), doubly robust
       (Funk et al. 2011), cluster-robust standard error by intervisie group: CR2 (Bell &
       McCaffrey 2002; Pustejovsky & Tipton 2018) with t on the Satterthwaite degrees of freedom
       (``df`` in the row; typically near the number of intervisie groups minus one, not the
       number of clusters), or with ``vcov="CR1"`` CR1 and t on G - 1 df;
    4. the standardised estimate: estimate / :math:`s_p`, the pooled unweighted within-arm SD of
       ``pre`` (:math:`s_p^2 = ((n_a-1)s_a^2 + (n_b-1)s_b^2)/(n_a+n_b-2)`);
    5. the E-values of the standardised estimate (:func:`analyses.evalue.evalue_smd`).

    ``balance_ok`` is True when every ``|smd_weighted|`` is at most 0.1.  Rows with a missing
    ``pre`` or ``post`` or another arm are left out and counted in the note.  Perfect separation
    (no overlap between the arms) gives a row of NaN with a note and the unweighted balance
    (``smd_weighted`` then equals ``smd_unweighted``).  Constant, all-missing or redundant
    covariates are left out of the adjustment and named in the note; the estimate goes on.
    """
    if estimand not in ("ato", "att", "ate"):
        raise ValueError(f"adjusted_short_term: unknown estimand {estimand!r} (use 'ato', 'att' or 'ate')")
    if vcov not in VCOV_TYPES:
        raise ValueError(f"adjusted_short_term: unknown vcov {vcov!r} (use 'CR2' or 'CR1')")
    missing = [c for c in PAIR_COLUMNS + [c.name for c in covariates] if c not in pairs.columns]
    if missing:
        raise ValueError(f"adjusted_short_term: pairs lacks column(s) {missing}")
    notes: list[str] = []
    arm = pairs["arm"].astype("string")
    in_arms = arm.isin(list(arms)).fillna(False).to_numpy()
    if (~in_arms).any():
        notes.append(f"{int((~in_arms).sum())} row(s) in another arm left out")
    frame = pairs.loc[in_arms].copy()
    pre = pd.to_numeric(frame["pre"], errors="coerce")
    post = pd.to_numeric(frame["post"], errors="coerce")
    complete = (pre.notna() & post.notna()).to_numpy()
    if (~complete).any():
        notes.append(f"{int((~complete).sum())} row(s) without both pre and post left out")
    frame = frame.loc[complete].assign(pre=pre[complete].astype(float), post=post[complete].astype(float))
    treated = (frame["arm"].astype("string") == arms[0]).to_numpy(dtype=float)
    n_a, n_b = int(treated.sum()), int(len(treated) - treated.sum())
    if min(n_a, n_b) < max(min_per_arm, 1):
        notes.append(f"too few people: {n_a} in {arms[0]}, {n_b} in {arms[1]} (at least {min_per_arm} per arm)")
        return _empty_row(estimand, n_a, n_b, "; ".join(notes)), pd.DataFrame(columns=BALANCE_COLUMNS)
    adjust = [Covariate("pre", "numeric"), *programme_covariate(frame, treated, notes)]
    adjust += [c for c in covariates if c.name not in {"pre", "programme"}]
    X = adjustment_matrix(frame, adjust)
    if X.attrs.get("dropped"):
        notes.append("left out of the adjustment (constant or redundant): " + ", ".join(X.attrs["dropped"]))
    fit = propensity_scores(X, treated)
    if fit.note:
        notes.append(fit.note)
    if fit.separation == "complete":
        row = _empty_row(estimand, n_a, n_b, "; ".join(notes) + "; no adjusted estimate possible")
        return row, balance_table(X, treated, np.ones(len(treated)))
    weights = balancing_weights(treated, fit.scores, cast(Literal["att", "ato", "ate"], estimand))
    balance = balance_table(X, treated, weights)
    ancova = weighted_ancova(frame["post"].to_numpy(), treated, X, weights, cluster_labels(frame), vcov=vcov)
    if ancova.note:
        notes.append(ancova.note)
    sd = _pooled_sd(frame["pre"].to_numpy(), treated)
    std = (lambda v: v / sd if sd > 0 else math.nan)  # noqa: E731
    smds = balance["smd_weighted"].abs()
    max_smd = float(smds.max()) if smds.notna().any() else math.nan
    e_point, e_ci = evalue_smd(std(ancova.estimate), std(ancova.se))
    row = {
        "estimand": estimand,
        "n_a": n_a,
        "n_b": n_b,
        "clusters": ancova.clusters,
        "estimate": ancova.estimate,
        "se": ancova.se,
        "df": ancova.df,
        "p": ancova.p,
        "ci95_low": ancova.ci95_low,
        "ci95_high": ancova.ci95_high,
        "std_estimate": std(ancova.estimate),
        "std_ci95_low": std(ancova.ci95_low),
        "std_ci95_high": std(ancova.ci95_high),
        "ess_a": effective_sample_size(weights[treated == 1]),
        "ess_b": effective_sample_size(weights[treated == 0]),
        "max_abs_smd": max_smd,
        "balance_ok": bool(np.isfinite(max_smd) and max_smd <= BALANCE_THRESHOLD),
        "evalue": e_point,
        "evalue_ci": e_ci,
        "converged": fit.converged,
        "note": "; ".join(notes),
    }
    return row, balance
