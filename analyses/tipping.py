r"""Dropout not at random: delta-adjusted multiple imputation and the tipping point.

The growth models assume that who drops out depends only on what was observed (missing at
random, MAR).  If participants who leave the intervisie arm fared worse than the MAR model
predicts, the effect is overestimated.  This module asks how much worse they would have to
fare before the conclusion changes (the delta-adjustment, or pattern-mixture, approach:
Carpenter & Kenward 2013, ch. 10; van Buuren 2018, sec. 9.2; Cro et al. 2020).

For one outcome and one follow-up wave:

1. **MAR imputation** of the missing follow-up scores by proper Bayesian linear regression
   (Rubin 1987, p. 167; van Buuren 2018, Algorithm 3.1, mice's ``norm``), with the predictors
   of the analysis model (baseline score, arm, programme) and :math:`X` its design matrix on the
   :math:`n_1` observed rows: :math:`\hat\beta = (X'X)^{-1}X'y`,
   :math:`\dot\sigma^2 = (y - X\hat\beta)'(y - X\hat\beta)/g` with :math:`g \sim \chi^2_{n_1 - q}`
   (a draw from the scaled inverse-:math:`\chi^2` posterior),
   :math:`\dot\beta = \hat\beta + \dot\sigma\, L z_1` with :math:`LL' = (X'X)^{-1}`,
   :math:`z_1 \sim N(0, I_q)`, and imputations :math:`\dot y = X_{mis}\dot\beta + \dot\sigma z_2`.
   This is repeated independently for each of the :math:`m` imputations.
2. **Delta adjustment**: imputed scores of the intervisie arm are moved by :math:`\delta` in the
   unfavourable direction of the outcome (down for ``higher_better``, up for ``higher_worse``
   scales); :math:`\delta` is given in SD units of the baseline score.  The same :math:`m` MAR
   imputations serve every :math:`\delta`, so the results vary smoothly with it.
3. **Analysis** of each completed data set by ANCOVA, ``followup ~ baseline + arm + programme``
   (ordinary least squares, statsmodels), whose arm coefficient is the effect.

   *Single-arm designs* (no comparison cohort, ``estimand="change"``): the estimand is the
   change within intervisie, the mean of ``followup - baseline`` over intervisie participants
   with a baseline score (R: ``lm(I(followup - baseline) ~ 1)``).  The imputation model is the
   same without the arm (``followup ~ baseline + programme``), and the delta shift moves every
   imputed follow-up score (all are intervisie's) the unfavourable way: the tipping point is
   the shift at which the interval of the within-intervisie change reaches zero.  It answers
   "how much worse would the dropouts have to fare before the change is no longer shown", not
   whether intervisie caused the change.
4. **Pooling** by Rubin's rules with the Barnard-Rubin small-sample degrees of freedom
   (:func:`rubin_pool`).
5. **Tipping point**: the smallest :math:`\delta` at which the pooled confidence interval of the
   effect includes zero, found by root-finding (Brent) between the grid points that bracket it.

The ANCOVA ignores the clustering of intervisie participants in groups: its standard errors are
somewhat too small, so the tipping point it gives is, if anything, too far out.  It is a
sensitivity analysis of the direction and size of the effect, the growth model stays primary.

References
----------
Rubin DB (1987). Multiple Imputation for Nonresponse in Surveys. Wiley.
Barnard J, Rubin DB (1999). Small-sample degrees of freedom with multiple imputation.
Biometrika 86(4):948-955.
van Buuren S (2018). Flexible Imputation of Missing Data, 2nd ed. Chapman & Hall/CRC.
Carpenter JR, Kenward MG (2013). Multiple Imputation and its Application. Wiley.
Cro S, Morris TP, Kenward MG, Carpenter JR (2020). Sensitivity analysis for clinical trials with
missing continuous outcome data using controlled multiple imputation: a practical guide.
Stat Med 39(21):2815-2842.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats

from pipeline.errors import InputError

#: mice's floor on the fraction of variance due to missingness (avoids infinite df when b = 0)
LAMBDA_FLOOR = 1e-4

GRID_COLUMNS = ["delta_sd", "delta", "estimate", "std_error", "df", "ci_low", "ci_high", "p_val", "m", "fmi"]


def rubin_pool(
    estimates: Sequence[float] | np.ndarray,
    variances: Sequence[float] | np.ndarray,
    *,
    df_complete: float = np.inf,
    alpha: float = 0.05,
) -> pd.DataFrame:
    r"""Pool estimates from :math:`m` imputed data sets with Rubin's rules.

    .. math::

        \bar Q = \frac1m \sum_l \hat Q_l, \quad \bar U = \frac1m \sum_l U_l, \quad
        B = \frac{1}{m-1} \sum_l (\hat Q_l - \bar Q)^2, \quad T = \bar U + (1 + m^{-1}) B

    with the relative increase in variance :math:`r = (1 + m^{-1})B/\bar U`, the proportion of
    variance due to missingness :math:`\lambda = (1 + m^{-1})B/T` (floored at :math:`10^{-4}`
    as in mice), and the Barnard-Rubin degrees of freedom

    .. math::

        \nu_{old} = \frac{m-1}{\lambda^2}, \quad
        \nu_{obs} = \frac{\nu_{com}+1}{\nu_{com}+3}\,\nu_{com}(1-\lambda), \quad
        \nu = \frac{\nu_{old}\,\nu_{obs}}{\nu_{old}+\nu_{obs}}

    (:math:`\nu = \nu_{old}` when :math:`\nu_{com}` is infinite), the fraction of missing
    information :math:`\gamma = (r + 2/(\nu+3))/(r+1)` and the interval
    :math:`\bar Q \pm t_{\nu, 1-\alpha/2}\sqrt{T}`.

    Parameters
    ----------
    estimates, variances : array-like, shape (m,) or (m, k)
        The estimate(s) of each completed-data analysis and their squared standard errors.
    df_complete : float, default inf
        :math:`\nu_{com}`, the residual df the analysis would have without missing data
        (for a linear model: n - number of coefficients).
    alpha : float, default 0.05
        For the :math:`100(1-\alpha)\%` confidence interval.

    Returns
    -------
    DataFrame
        One row per estimate: ``estimate, std_error, df, t_val, p_val, ci_low, ci_high, ubar, b,
        total_variance, riv, lambda_, fmi, m, df_complete``.

    Examples
    --------
    R: ``mice::pool.scalar(Q, U, n = df_complete + 1, k = 1)`` gives the same ``qbar``, ``ubar``,
    ``b``, ``t``, ``df``, ``r`` and ``fmi``; ``summary(mice::pool(fits), conf.int = TRUE)`` the
    same pooled estimate, interval and p-value for a list of fitted models.

    References
    ----------
    Rubin (1987), ch. 3; Barnard & Rubin (1999); van Buuren (2018), sec. 2.3-2.4.
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.shape != u.shape or q.ndim not in (1, 2):
        raise InputError(f"estimates and variances must have the same shape (m,) or (m, k), got {q.shape} and {u.shape}")
    if q.ndim == 1:
        q, u = q[:, None], u[:, None]
    m = q.shape[0]
    if m < 2:
        raise InputError(f"Rubin's rules need at least 2 imputations, got {m}")
    if not (np.isfinite(q).all() and np.isfinite(u).all() and (u >= 0).all()):
        raise InputError("estimates and variances to pool must be finite, and variances non-negative")
    qbar, ubar, b = q.mean(axis=0), u.mean(axis=0), q.var(axis=0, ddof=1)
    total = ubar + (1 + 1 / m) * b
    riv = (1 + 1 / m) * b / ubar
    lam = np.maximum((1 + 1 / m) * b / total, LAMBDA_FLOOR)
    df_old = (m - 1) / lam**2
    if np.isinf(df_complete):
        df = df_old
    else:
        df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
        df = df_old * df_obs / (df_old + df_obs)
    fmi = (riv + 2 / (df + 3)) / (riv + 1)
    se = np.sqrt(total)
    t_val = qbar / se
    half = stats.t.ppf(1 - alpha / 2, df) * se
    return pd.DataFrame(
        {
            "estimate": qbar,
            "std_error": se,
            "df": df,
            "t_val": t_val,
            "p_val": 2 * stats.t.sf(np.abs(t_val), df),
            "ci_low": qbar - half,
            "ci_high": qbar + half,
            "ubar": ubar,
            "b": b,
            "total_variance": total,
            "riv": riv,
            "lambda_": lam,
            "fmi": fmi,
            "m": m,
            "df_complete": float(df_complete),
        }
    )


def posterior_draw(x: np.ndarray, y: np.ndarray, g: float, z: np.ndarray) -> tuple[np.ndarray, float]:
    r"""One draw of :math:`(\dot\beta, \dot\sigma)` from the posterior of a normal linear model.

    With :math:`\hat\beta` the least-squares fit of ``y`` on ``x`` and :math:`V = (X'X)^{-1}`:
    :math:`\dot\sigma = \sqrt{\hat e'\hat e / g}` and :math:`\dot\beta = \hat\beta + \dot\sigma L z`,
    :math:`LL' = V` (van Buuren 2018, Algorithm 3.1; mice's ``.norm.draw`` with ``ls.meth = "qr"``).

    Parameters
    ----------
    x : ndarray, shape (n, q)
        Design matrix of the observed rows (full column rank).
    y : ndarray, shape (n,)
    g : float
        A draw from :math:`\chi^2_{n-q}`.
    z : ndarray, shape (q,)
        Standard normal draws.
    """
    xtx = x.T @ x
    if np.linalg.matrix_rank(xtx) < x.shape[1]:
        raise InputError("the imputation model's design matrix is not of full rank (a programme or arm without data?)")
    beta_hat = np.linalg.solve(xtx, x.T @ y)
    resid = y - x @ beta_hat
    sigma = float(np.sqrt(resid @ resid / g))
    chol = np.linalg.cholesky(np.linalg.inv(xtx))
    return beta_hat + sigma * (chol @ z), sigma


def impute_norm(x: np.ndarray, y: np.ndarray, *, m: int, rng: np.random.Generator) -> np.ndarray:
    """Impute the missing values of ``y`` ``m`` times by Bayesian linear regression on ``x``.

    Each imputation draws its own parameters (:func:`posterior_draw`, with
    :math:`g \\sim \\chi^2_{n_{obs}-q}`) and adds residual noise: proper multiple imputation
    (Rubin 1987, p. 167).

    Returns
    -------
    ndarray, shape (m, number of missing values)
    """
    observed = ~np.isnan(y)
    xo, yo, xm = x[observed], y[observed], x[~observed]
    df = xo.shape[0] - xo.shape[1]
    if df < 1:
        raise InputError(f"too few observed values to impute: {xo.shape[0]} for {xo.shape[1]} coefficients")
    draws = np.empty((m, xm.shape[0]))
    for i in range(m):
        beta, sigma = posterior_draw(xo, yo, float(rng.chisquare(df)), rng.standard_normal(xo.shape[1]))
        draws[i] = xm @ beta + sigma * rng.standard_normal(xm.shape[0])
    return draws


def ancova_data(scores: pd.DataFrame, *, scale: str, baseline: str, followup: str) -> pd.DataFrame:
    """One row per participant with a baseline score of ``scale``: baseline, follow-up (NaN if missing), arm, programme.

    ``scores`` is the long wave-score table (:func:`analyses.data.wave_scores`).
    """
    part = scores[scores["scale"] == scale]
    wide = part.pivot_table(index="participant", columns="wave", values="score", aggfunc="first")
    wide = wide.reindex(columns=[baseline, followup])
    design = part.drop_duplicates("participant").set_index("participant")[["arm", "programme"]]
    table = wide.join(design).rename(columns={baseline: "baseline", followup: "followup"})
    table = table[table["baseline"].notna()].reset_index()
    table["arm"] = table["arm"].astype(str)
    table["programme"] = table["programme"].astype(str)
    return table[["participant", "programme", "arm", "baseline", "followup"]].sort_values("participant").reset_index(
        drop=True
    )


def ancova_design(data: pd.DataFrame, *, treated: str = "intervisie", arm: bool = True) -> tuple[np.ndarray, list[str]]:
    """Design matrix of ``followup ~ baseline + arm + programme`` (treatment coding, first programme as reference).

    ``arm=False`` leaves the arm out (``followup ~ baseline + programme``: the imputation model of
    a single-arm design).
    """
    arms = set(data["arm"])
    if arm and (treated not in arms or len(arms) != 2):
        raise InputError(f"the ANCOVA needs two arms, one of them {treated!r}; found {sorted(arms)}")
    programmes = sorted(set(data["programme"]))
    columns = ["const", "baseline", *([f"arm{treated}"] if arm else []), *[f"programme{p}" for p in programmes[1:]]]
    x = np.column_stack(
        [
            np.ones(len(data)),
            data["baseline"].to_numpy(float),
            *([(data["arm"] == treated).to_numpy(float)] if arm else []),
            *[(data["programme"] == p).to_numpy(float) for p in programmes[1:]],
        ]
    )
    return x, columns


class TippingPoint:
    """Delta-adjusted multiple imputation of a follow-up score and its tipping point.

    Parameters
    ----------
    m : int, default 50
        Number of imputations.
    seed : int or sequence of int, default 0
        Seed of the random generator (``numpy.random.default_rng``).
    delta_sd : sequence of float
        Grid of shifts, in SD units of the baseline score (0 is MAR).
    direction : {"higher_better", "higher_worse"}
        Direction of the scale; the shift moves intervisie's imputed scores the unfavourable way.
    alpha : float, default 0.05
        For the confidence intervals.
    treated : str, default "intervisie"
        The arm whose imputed scores are shifted.
    plausible_delta_sd : float, optional
        The largest shift (SD units) the researchers deem plausible; the conclusion is robust when
        it does not tip at or below it (Cro et al. 2020, sec. 5).  Default: the end of the grid.
    estimand : {"difference", "change"}, default "difference"
        ``difference``: the arm effect of the ANCOVA (two arms). ``change``: the mean change from
        baseline within the ``treated`` arm (single-arm designs; other arms' rows are left out).

    Attributes
    ----------
    data_ : DataFrame
        The analysis data (participants with a baseline score).
    imputations_ : ndarray, shape (m, number of missing follow-up scores)
        The MAR imputations.
    sd_baseline_ : float
        SD of the baseline scores, the unit of ``delta_sd``.
    grid_ : DataFrame
        Pooled effect per delta: ``delta_sd, delta, estimate, std_error, df, ci_low, ci_high, p_val, m, fmi``.
    tipping_delta_sd_, tipping_delta_ : float
        The smallest shift at which the interval includes zero; NaN when the MAR interval already
        includes zero or no shift in the grid reaches it.
    conclusion_ : str
        ``"no difference shown under MAR"`` (``"no change ..."`` for ``estimand="change"``),
        ``"no tipping point within the grid"`` or
        ``"tips within the grid"``.

    Examples
    --------
    >>> tp = TippingPoint(m=20, seed=1, delta_sd=[0, 0.25, 0.5], direction="higher_better").fit(data)  # doctest: +SKIP
    >>> tp.grid_, tp.tipping_delta_sd_  # doctest: +SKIP

    R: ``mice(d, method = "norm", m = m)``, shifting imputed values with a post-processing
    statement (van Buuren 2018, sec. 9.2), then ``pool(with(imp, lm(followup ~ baseline + arm +
    programme)))``.
    """

    def __init__(
        self,
        *,
        m: int = 50,
        seed: int | Sequence[int] = 0,
        delta_sd: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
        direction: str = "higher_better",
        alpha: float = 0.05,
        treated: str = "intervisie",
        plausible_delta_sd: float | None = None,
        estimand: str = "difference",
    ) -> None:
        if estimand not in ("difference", "change"):
            raise InputError(f"estimand must be difference or change, got {estimand!r}")
        if direction not in ("higher_better", "higher_worse"):
            raise InputError(f"direction must be higher_better or higher_worse, got {direction!r}")
        if m < 2:
            raise InputError(f"the tipping-point analysis needs at least 2 imputations, got m = {m}")
        grid = np.asarray(delta_sd, dtype=float)
        if grid.size < 2 or grid[0] != 0 or (np.diff(grid) <= 0).any():
            raise InputError(f"the delta grid must start at 0 (MAR) and increase, got {list(delta_sd)}")
        self.m, self.seed, self.delta_sd = m, seed, grid
        self.direction, self.alpha, self.treated, self.estimand = direction, alpha, treated, estimand
        self.plausible_delta_sd = float(grid[-1] if plausible_delta_sd is None else plausible_delta_sd)
        if self.plausible_delta_sd < 0:
            raise InputError(f"the plausible shift must be non-negative, got {plausible_delta_sd}")

    def fit(self, data: pd.DataFrame) -> TippingPoint:
        """Impute under MAR, then pool the ANCOVA effect at every delta of the grid and find the tipping point.

        ``data`` has columns ``baseline``, ``followup`` (NaN where missing), ``arm``, ``programme``
        (:func:`ancova_data`).
        """
        missing = {"baseline", "followup", "arm", "programme"} - set(data.columns)
        if missing:
            raise InputError(f"the tipping-point data lack column(s) {sorted(missing)}")
        if data["baseline"].isna().any():
            raise InputError("the tipping-point analysis needs a baseline score for every participant")
        change = self.estimand == "change"
        self.data_ = (data[data["arm"] == self.treated] if change else data).reset_index(drop=True)
        self.x_, self.columns_ = ancova_design(self.data_, treated=self.treated, arm=not change)
        # the analysis of each completed set: the ANCOVA's arm coefficient, or the mean change
        self.analysis_x_ = np.ones((len(self.data_), 1)) if change else self.x_
        self.effect_ = 0 if change else self.columns_.index(f"arm{self.treated}")
        self.offset_ = self.data_["baseline"].to_numpy(float) if change else np.zeros(len(self.data_))
        y = self.data_["followup"].to_numpy(float)
        self.missing_ = np.isnan(y)
        self.y_observed_ = y
        self.imputations_ = impute_norm(self.x_, y, m=self.m, rng=np.random.default_rng(self.seed))
        self.shift_ = np.where(self.data_["arm"].to_numpy() == self.treated, 1.0, 0.0)[self.missing_]
        self.sign_ = -1.0 if self.direction == "higher_better" else 1.0
        self.sd_baseline_ = float(self.data_["baseline"].std(ddof=1))
        grid = pd.concat([self.pooled(d * self.sd_baseline_) for d in self.delta_sd], ignore_index=True)
        grid.insert(0, "delta_sd", self.delta_sd)
        self.grid_ = grid[GRID_COLUMNS].reset_index(drop=True)
        self._find_tipping_point()
        return self

    def completed(self, delta: float = 0.0) -> pd.DataFrame:
        """The ``m`` completed data sets at shift ``delta`` (score units), stacked with an ``imputation`` column."""
        frames = []
        for i in range(self.m):
            y = self.y_observed_.copy()
            y[self.missing_] = self.imputations_[i] + self.sign_ * delta * self.shift_
            frames.append(self.data_.assign(followup=y, imputation=i + 1, imputed=self.missing_))
        return pd.concat(frames, ignore_index=True)

    def pooled(self, delta: float) -> pd.DataFrame:
        """Pooled effect (ANCOVA arm effect, or mean change) with intervisie's imputed scores shifted by ``delta``."""
        y = self.y_observed_.copy()
        estimates, variances = np.empty(self.m), np.empty(self.m)
        for i in range(self.m):
            y[self.missing_] = self.imputations_[i] + self.sign_ * delta * self.shift_
            fit = sm.OLS(y - self.offset_, self.analysis_x_).fit()
            estimates[i], variances[i] = fit.params[self.effect_], fit.bse[self.effect_] ** 2
        df_complete = float(self.analysis_x_.shape[0] - self.analysis_x_.shape[1])
        pooled = rubin_pool(estimates, variances, df_complete=df_complete, alpha=self.alpha)
        return pooled.assign(delta=delta)

    def _margin(self, delta: float, side: float) -> float:
        """Distance of the interval's bound nearest zero from zero (negative once it includes zero)."""
        row = self.pooled(delta).iloc[0]
        return float(row["ci_low"]) if side > 0 else -float(row["ci_high"])

    def _find_tipping_point(self) -> None:
        first = self.grid_.iloc[0]
        self.tipping_delta_sd_ = self.tipping_delta_ = float("nan")
        if first["ci_low"] <= 0 <= first["ci_high"]:
            self.conclusion_ = f"no {self.estimand} shown under MAR"
            return
        side = 1.0 if first["estimate"] > 0 else -1.0
        margins = (self.grid_["ci_low"] if side > 0 else -self.grid_["ci_high"]).to_numpy()
        crossed = np.flatnonzero(margins <= 0)
        if crossed.size == 0:
            self.conclusion_ = "no tipping point within the grid"
            return
        k = int(crossed[0])
        lo, hi = self.grid_["delta"].iloc[k - 1], self.grid_["delta"].iloc[k]
        root = hi if margins[k] == 0 else optimize.brentq(self._margin, lo, hi, args=(side,), xtol=1e-10)
        self.tipping_delta_ = float(root)
        self.tipping_delta_sd_ = float(root / self.sd_baseline_)
        self.conclusion_ = "tips within the grid"

    def summary(self) -> pd.DataFrame:
        """One row: the MAR estimate and interval, the tipping point and whether the conclusion is robust.

        ``conclusion_robust`` is True when the MAR conclusion holds for every plausible shift
        (up to ``plausible_delta_sd``): either no difference was shown under MAR (an unfavourable
        shift cannot create a benefit), or the interval excludes zero up to that shift.
        """
        first = self.grid_.iloc[0]
        return pd.DataFrame(
            [
                {
                    "estimate_mar": float(first["estimate"]),
                    "ci_low_mar": float(first["ci_low"]),
                    "ci_high_mar": float(first["ci_high"]),
                    "p_val_mar": float(first["p_val"]),
                    "tipping_delta_sd": self.tipping_delta_sd_,
                    "tipping_delta": self.tipping_delta_,
                    "conclusion_robust": bool(
                        np.isnan(self.tipping_delta_sd_) or self.tipping_delta_sd_ > self.plausible_delta_sd
                    ),
                    "conclusion": self.conclusion_,
                    "plausible_delta_sd": self.plausible_delta_sd,
                    "delta_sd_max": float(self.delta_sd[-1]),
                    "sd_baseline": self.sd_baseline_,
                    "n_participants": len(self.data_),
                    "n_imputed": int(self.missing_.sum()),
                    "m": self.m,
                    "estimand": self.estimand,
                }
            ]
        )
