"""Mediation: does the effect of intervisie on a later outcome run through a short-term change?

The programmes' own account is a mechanism: intervisie changes a mediator within the first
months (reflection, a way of coping), and that change protects against burnout later.  With
the arm :math:`T` (1 intervisie, 0 comparison), the mediator at baseline and at the short-term
wave (:math:`M_0, M_1`), the outcome at baseline and at a later wave (:math:`Y_0, Y_2`) and the
adjustment set :math:`X = (M_0, Y_0, \\text{programme}, \\text{covariates})`, three linear models
are fitted to the same people, with the same weights :math:`w`:

.. math::

    M_1 &= \\alpha_1 + a T + X\\gamma_1 + e_1                 && \\text{(a-path)}\\\\
    Y_2 &= \\alpha_2 + c' T + b M_1 + X\\gamma_2 + e_2         && \\text{(b-path, direct effect } c')\\\\
    Y_2 &= \\alpha_3 + c T + X\\gamma_3 + e_3                  && \\text{(total effect } c)

With :math:`M_0` and :math:`Y_0` in :math:`X`, ``a`` is the effect of the arm on the
mediator's short-term change (:math:`M_1 - M_0` adjusted for :math:`M_0`) and ``b`` the
association of that change with the later outcome's change (:math:`Y_2 - Y_0` adjusted for
:math:`Y_0`): the coefficients are the same whether the level or the change is the response.
The indirect effect is :math:`ab`, the direct effect :math:`c'`, and because the three models
share :math:`X`, people and weights, the least-squares identity :math:`c = c' + ab` holds
exactly (the "product of coefficients" decomposition; MacKinnon 2008, ch. 3).  The proportion
mediated is :math:`ab / c` and is reported only with its interval: it is unstable whenever
:math:`c` is near zero.

**Clustering.**  Members of one intervisie group share sessions; every standard error is
cluster-robust by group (a comparison participant without a group is a cluster of one): by
default CR2 with Satterthwaite degrees of freedom (:mod:`analyses.cluster_robust`; Bell &
McCaffrey 2002; Pustejovsky & Tipton 2018), or CR1.  The same path model in R lavaan,
``sem(model, data, cluster = "group")``, gives the same estimates and ``se = "robust.cluster"``,
the CR0 sandwich times :math:`G/(G-1)`: that is CR1 times :math:`(N-K)/(N-1)`, K the coefficients
of the equation with its intercept (tests/test_mediation.py checks both to 1e-4 relative).

**Indirect effect.**  Its interval is the Monte Carlo interval of Preacher & Selig (2012):
draw :math:`a^* \\sim N(\\hat a, \\widehat{se}_a^2)` and, jointly from the b-path model,
:math:`(b^*, c'^*) \\sim N((\\hat b, \\hat c'), \\hat V_{b,c'})` (:math:`\\hat V` the cluster-robust
covariance; the a-path and b-path estimates are taken as uncorrelated, as in Preacher & Selig),
and take the 2.5% and 97.5% quantiles of :math:`a^* b^*`.  The proportion mediated uses the
same draws: :math:`a^* b^* / (a^* b^* + c'^*)`.  The draws are seeded (``seed``), so the
interval is reproducible byte for byte.

**Assumptions.**  The indirect and direct effects are causal only if (1) the arm's effect on
the mediator and on the outcome is unconfounded: true by design after randomisation; without
randomisation the three models are weighted with the same propensity-score weights as the
adjusted short-term effect (:mod:`analyses.adjusted`, :mod:`analyses.propensity`; overlap weights
by default) on the baseline mediator, baseline outcome, programme and declared covariates, so
that the a-path and the total effect rest on the same "no unmeasured confounding of joining"
assumption as that analysis; and (2) nothing unmeasured drives both the mediator's change and
the outcome's change (no unmeasured mediator-outcome confounding, given :math:`X` and the arm).
Randomisation does not protect (2): people whose reflection grows for another reason (a
supervisor, a life event) may also burn out less.  Neither can be checked from the data
(VanderWeele 2015, ch. 2; Imai, Keele & Tingley 2010).  The arm is also assumed not to modify
the mediator-outcome slope (no :math:`T \\times M` interaction).

References
----------
Preacher, K. J., & Selig, J. P. (2012). Advantages of Monte Carlo confidence intervals for
indirect effects. *Communication Methods and Measures*, 6(2), 77-98.

MacKinnon, D. P. (2008). *Introduction to statistical mediation analysis*. Erlbaum.

Imai, K., Keele, L., & Tingley, D. (2010). A general approach to causal mediation analysis.
*Psychological Methods*, 15(4), 309-334.

VanderWeele, T. J. (2015). *Explanation in causal inference: methods for mediation and
interaction*. Oxford University Press.

Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression
with multi-stage samples. *Survey Methodology*, 28(2), 169-181.

Pustejovsky, J. E., & Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. *Journal of Business & Economic
Statistics*, 36(4), 672-683.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from scipy import stats

from analyses.adjusted import cluster_labels, programme_covariate
from analyses.cluster_robust import VCOV_TYPES, VcovType, contrast_inference
from analyses.propensity import (
    Covariate,
    adjustment_matrix,
    balancing_weights,
    independent_columns,
    propensity_scores,
)

Weighting = Literal["none", "ato", "att", "ate"]
#: the columns :func:`mediation_effects` needs besides the covariates
FRAME_COLUMNS = ["participant", "arm", "programme", "group", "m_pre", "m_post", "y_pre", "y_post"]
EFFECTS = ("a", "b", "indirect", "direct", "total", "proportion")
EFFECT_KEYS = ["effect", "estimate", "se", "df", "p", "ci95_low", "ci95_high", "method"]
INFO_KEYS = ["n", "n_a", "n_b", "clusters", "weighting", "vcov", "draws", "note"]


@dataclass(frozen=True)
class Regression:
    """A weighted least-squares fit with its cluster-robust covariance of chosen coefficients.

    Attributes
    ----------
    beta : numpy.ndarray
        The coefficients, in the order of the design's columns.
    design, weights, residuals, codes : numpy.ndarray
        What :func:`analyses.cluster_robust.contrast_inference` needs.
    """

    beta: np.ndarray
    design: np.ndarray
    weights: np.ndarray
    residuals: np.ndarray
    codes: np.ndarray

    def inference(self, contrast: np.ndarray, vcov: VcovType) -> tuple[float, float]:
        """Return the cluster-robust variance of ``contrast' beta`` and its degrees of freedom."""
        got = contrast_inference(self.design, self.weights, self.residuals, self.codes, contrast, vcov)
        return got.variance, got.df


def wls(y: np.ndarray, design: np.ndarray, weights: np.ndarray, codes: np.ndarray) -> Regression:
    """Weighted least squares :math:`\\hat\\beta = (Z^\\top W Z)^{-1} Z^\\top W y` (``design`` holds the intercept)."""
    root = np.sqrt(weights)
    beta = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)[0]
    return Regression(beta, design, weights, y - design @ beta, codes)


def _unit(k: int, j: int) -> np.ndarray:
    out = np.zeros(k)
    out[j] = 1.0
    return out


def _t_row(effect: str, estimate: float, variance: float, df: float) -> dict[str, Any]:
    se = math.sqrt(max(variance, 0.0))
    if not (se > 0 and np.isfinite(df) and df > 0):
        return {"effect": effect, "estimate": estimate, "se": math.nan, "df": math.nan, "p": math.nan,
                "ci95_low": math.nan, "ci95_high": math.nan, "method": "t"}  # fmt: skip
    half = float(stats.t.ppf(0.975, df)) * se
    p = float(2 * stats.t.sf(abs(estimate / se), df))
    return {"effect": effect, "estimate": estimate, "se": se, "df": df, "p": p,
            "ci95_low": estimate - half, "ci95_high": estimate + half, "method": "t"}  # fmt: skip


def _mc_row(effect: str, estimate: float, draws: np.ndarray) -> dict[str, Any]:
    finite = draws[np.isfinite(draws)]
    if len(finite) < 2:
        low = high = se = p = math.nan
    else:
        low, high = (float(q) for q in np.quantile(finite, [0.025, 0.975]))
        se = float(np.std(finite, ddof=1)) if effect == "indirect" else math.nan  # a ratio's SD means nothing
        p = float(min(1.0, 2 * min(np.mean(finite <= 0), np.mean(finite >= 0)))) if effect == "indirect" else math.nan
    return {"effect": effect, "estimate": estimate, "se": se, "df": math.nan, "p": p,
            "ci95_low": low, "ci95_high": high, "method": "monte_carlo"}  # fmt: skip


def monte_carlo_draws(
    a: float, var_a: float, bc: np.ndarray, cov_bc: np.ndarray, draws: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw :math:`a^* b^*` and the proportion mediated :math:`a^* b^* / (a^* b^* + c'^*)` (Preacher & Selig 2012).

    ``a ~ N(a, var_a)`` independently of ``(b, c') ~ N(bc, cov_bc)``; ``numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    a_star = a + math.sqrt(max(var_a, 0.0)) * rng.standard_normal(draws)
    values, vectors = np.linalg.eigh((cov_bc + cov_bc.T) / 2)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))  # root @ root.T = cov_bc (PSD square root)
    bc_star = bc[None, :] + rng.standard_normal((draws, 2)) @ root.T
    indirect = a_star * bc_star[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        proportion = indirect / (indirect + bc_star[:, 1])
    return indirect, proportion


def _empty(n: int, n_a: int, n_b: int, weighting: str, vcov: str, draws: int, note: str) -> list[dict[str, Any]]:
    info = {"n": n, "n_a": n_a, "n_b": n_b, "clusters": 0, "weighting": weighting, "vcov": vcov, "draws": draws,
            "note": note}  # fmt: skip
    nan = dict.fromkeys(EFFECT_KEYS[1:-1], math.nan)
    return [{"effect": e, **nan, "method": "monte_carlo" if e in ("indirect", "proportion") else "t", **info}
            for e in EFFECTS]  # fmt: skip


def mediation_effects(
    frame: pd.DataFrame,
    covariates: Sequence[Covariate],
    *,
    weighting: Weighting = "none",
    arms: tuple[str, str] = ("intervisie", "comparison"),
    draws: int = 20000,
    seed: int = 0,
    vcov: VcovType = "CR2",
    min_per_arm: int = 2,
) -> list[dict[str, Any]]:
    """Estimate the a-path, b-path, indirect, direct and total effects and the proportion mediated.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per participant: ``participant``, ``arm``, ``programme``, ``group`` (NA for no
        group), ``m_pre``, ``m_post`` (mediator at baseline and the short-term wave), ``y_pre``,
        ``y_post`` (outcome at baseline and the later wave) and a column per covariate.
    covariates : sequence of Covariate
        The design's baseline covariates (missing values by the missing-indicator method).
    weighting : {"none", "ato", "att", "ate"}, keyword-only
        ``"none"`` after randomisation; otherwise the propensity-score weights of
        :func:`analyses.propensity.balancing_weights` on the adjustment set, applied to all three
        models (see the module docstring).
    arms : (str, str), keyword-only
        ``(treated, comparison)``.
    draws, seed : int, keyword-only
        Monte Carlo draws and their seed.
    vcov : {"CR2", "CR1"}, keyword-only
        The cluster-robust variance (:func:`analyses.cluster_robust.contrast_inference`).
    min_per_arm : int, keyword-only
        Fewer complete people than this in an arm: rows of NaN with a note.

    Returns
    -------
    list of dict
        One dict per effect (``a``, ``b``, ``indirect``, ``direct``, ``total``, ``proportion``)
        with ``EFFECT_KEYS`` and ``INFO_KEYS``.  a, b, direct and total: t intervals on the
        cluster-robust SE (Satterthwaite df for CR2, G - 1 for CR1); indirect and proportion:
        Monte Carlo percentile intervals (``se`` of the indirect effect is the SD of its draws,
        NaN for the proportion, whose draws are heavy-tailed; ``p`` of the indirect effect is twice
        the smaller share of draws on one side of 0).

    Notes
    -----
    People without all four scores, or in another arm, are left out and counted in the note.
    Constant or aliased adjustment columns are left out (named in the note).
    """
    if vcov not in VCOV_TYPES:
        raise ValueError(f"mediation_effects: unknown vcov {vcov!r} (use 'CR2' or 'CR1')")
    if weighting not in ("none", "ato", "att", "ate"):
        raise ValueError(f"mediation_effects: unknown weighting {weighting!r} (use none, ato, att or ate)")
    missing = [c for c in FRAME_COLUMNS + [c.name for c in covariates] if c not in frame.columns]
    if missing:
        raise ValueError(f"mediation_effects: frame lacks column(s) {missing}")
    notes: list[str] = []
    in_arms = frame["arm"].astype("string").isin(list(arms)).fillna(False).to_numpy()
    if (~in_arms).any():
        notes.append(f"{int((~in_arms).sum())} row(s) in another arm left out")
    data = frame.loc[in_arms].copy()
    scores = ["m_pre", "m_post", "y_pre", "y_post"]
    for col in scores:
        data[col] = pd.to_numeric(data[col], errors="coerce").astype(float)
    complete = data[scores].notna().all(axis=1).to_numpy()
    if (~complete).any():
        notes.append(f"{int((~complete).sum())} row(s) without all four scores left out")
    data = data.loc[complete].reset_index(drop=True)
    treated = (data["arm"].astype("string") == arms[0]).to_numpy(dtype=float)
    n_a, n_b = int(treated.sum()), int(len(treated) - treated.sum())
    if min(n_a, n_b) < max(min_per_arm, 1):
        notes.append(f"too few people: {n_a} in {arms[0]}, {n_b} in {arms[1]} (at least {min_per_arm} per arm)")
        return _empty(n_a + n_b, n_a, n_b, weighting, vcov, draws, "; ".join(notes))
    adjust = [Covariate("m_pre", "numeric"), Covariate("y_pre", "numeric"), *programme_covariate(data, treated, notes)]
    adjust += [c for c in covariates if c.name not in {"m_pre", "y_pre", "programme"}]
    X = adjustment_matrix(data, adjust)
    if X.attrs.get("dropped"):
        notes.append("left out of the adjustment (constant or redundant): " + ", ".join(X.attrs["dropped"]))
    weights = np.ones(len(data))
    if weighting != "none":
        fit = propensity_scores(X, treated)
        if fit.note:
            notes.append(fit.note)
        if fit.separation == "complete":
            notes.append("no overlap between the arms: no weighted estimate possible")
            return _empty(len(data), n_a, n_b, weighting, vcov, draws, "; ".join(notes))
        weights = balancing_weights(treated, fit.scores, cast(Literal["att", "ato", "ate"], weighting))
    xm = X.to_numpy(dtype=float)
    m_post, y_post = data["m_post"].to_numpy(), data["y_post"].to_numpy()
    keep = independent_columns(np.column_stack([treated, m_post, xm]))  # arm, mediator first
    if 0 not in keep or 1 not in keep:
        notes.append("the arm or the mediator is aliased with the adjustment set")
        return _empty(len(data), n_a, n_b, weighting, vcov, draws, "; ".join(notes))
    cols = [j - 2 for j in keep if j >= 2]
    if len(cols) < xm.shape[1]:
        names = [str(c) for c in X.columns]
        notes.append("aliased covariate(s) left out: " + ", ".join(n for j, n in enumerate(names) if j not in cols))
    base = np.column_stack([np.ones(len(data)), treated, xm[:, cols]])  # 1, T, X
    codes, uniques = pd.factorize(pd.Series(cluster_labels(data)))
    codes = codes.astype(np.intp)
    g = len(uniques)
    info = {"n": len(data), "n_a": n_a, "n_b": n_b, "clusters": g, "weighting": weighting, "vcov": vcov,
            "draws": draws}  # fmt: skip
    if len(data) <= base.shape[1] + 1 or g < 2:
        notes.append(f"too few people ({len(data)}) or clusters ({g}) for the models")
        return _empty(len(data), n_a, n_b, weighting, vcov, draws, "; ".join(notes))
    if min(len(set(codes[treated == 1])), len(set(codes[treated == 0]))) < 2:
        notes.append("one arm is a single cluster: the standard errors miss its between-cluster variance")
    k = base.shape[1]
    path_a = wls(m_post, base, weights, codes)
    path_b = wls(y_post, np.column_stack([base[:, :2], m_post, base[:, 2:]]), weights, codes)  # 1, T, M, X
    total = wls(y_post, base, weights, codes)
    var_a, df_a = path_a.inference(_unit(k, 1), vcov)
    var_b, df_b = path_b.inference(_unit(k + 1, 2), vcov)
    var_d, df_d = path_b.inference(_unit(k + 1, 1), vcov)
    var_sum, _ = path_b.inference(_unit(k + 1, 1) + _unit(k + 1, 2), vcov)
    var_c, df_c = total.inference(_unit(k, 1), vcov)
    a, b, direct, c = float(path_a.beta[1]), float(path_b.beta[2]), float(path_b.beta[1]), float(total.beta[1])
    cov_bd = (var_sum - var_b - var_d) / 2  # polarisation: V is one matrix, so this is its off-diagonal
    indirect_draws, proportion_draws = monte_carlo_draws(
        a, var_a, np.array([b, direct]), np.array([[var_b, cov_bd], [cov_bd, var_d]]), draws, seed
    )
    rows = [
        _t_row("a", a, var_a, df_a),
        _t_row("b", b, var_b, df_b),
        _mc_row("indirect", a * b, indirect_draws),
        _t_row("direct", direct, var_d, df_d),
        _t_row("total", c, var_c, df_c),
        _mc_row("proportion", a * b / c if c != 0 else math.nan, proportion_draws),
    ]
    note = "; ".join(notes)
    return [{**row, **info, "note": note} for row in rows]


def mediation_frame(
    scores: pd.DataFrame,
    covariates: pd.DataFrame,
    *,
    mediator: str,
    outcome: str,
    baseline: str,
    short_term: str,
    later: str,
) -> pd.DataFrame:
    """Return one row per participant with ``m_pre, m_post, y_pre, y_post`` and the covariates (wide).

    ``scores`` is the long wave-score table (:func:`analyses.data.wave_scores`), ``covariates``
    the wide covariates (:func:`analyses.data.covariate_frame`, a ``participant`` column).
    Everyone with any score of the mediator or the outcome is a row (missing scores are NaN), so
    that :func:`mediation_effects` can count whom it leaves out.
    """
    wanted = {(mediator, baseline): "m_pre", (mediator, short_term): "m_post", (outcome, baseline): "y_pre",
              (outcome, later): "y_post"}  # fmt: skip
    part = scores[scores["scale"].isin([mediator, outcome])]
    people = part.drop_duplicates("participant")[["participant", "programme", "arm", "group"]]
    out = people.assign(participant=people["participant"].astype(str)).reset_index(drop=True)
    for (scale, wave), name in wanted.items():
        sel = part[(part["scale"] == scale) & (part["wave"] == wave)].drop_duplicates("participant")
        values = pd.Series(sel["score"].to_numpy(dtype=float), index=sel["participant"].astype(str))
        out[name] = out["participant"].map(values).astype(float)
    if "participant" in covariates.columns:
        out = out.merge(covariates.assign(participant=covariates["participant"].astype(str)), on="participant",
                        how="left", validate="one_to_one")  # fmt: skip
    return out
