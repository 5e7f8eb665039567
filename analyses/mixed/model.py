"""One linear mixed model: :class:`MixedModel` (see :mod:`analyses.mixed` for the overview).

The fit runs on the engine (``mixedlm``); fixed-effect inference is lmerTest's Satterthwaite or
pbkrtest's Kenward-Roger (:mod:`analyses.mixed.ddf`), diagnostics are lme4's
(:mod:`analyses.mixed.checks`) and marginal means follow R's emmeans reference grid.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from analyses.mixed.checks import convergence_messages, singular_components, variance_table
from analyses.mixed.ddf import KenwardRoger, Satterthwaite, kenward_roger, satterthwaite
from analyses.mixed.formula import ParsedFormula, parse_formula, r_coefficient_name

__all__ = ["DF_METHODS", "MixedModel", "NotFittedError"]

logger = logging.getLogger("analyses.mixed")  # one logger for everything the mixed-model engine reports

DF_METHODS = ("satterthwaite", "kenward-roger", "asymptotic")
FIXED_COLUMNS = ["term", "estimate", "std_error", "df", "t_val", "p_val", "ci95_low", "ci95_high"]


class NotFittedError(ValueError, AttributeError):
    """A fitted attribute was used before :meth:`MixedModel.fit`."""


class MixedModel:
    r"""A linear mixed model written as an lme4 formula, fitted as lme4 + lmerTest would.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"y ~ arm * (short + long) + (1 | group/participant)"`` (random
        intercepts for groups and for participants within groups) or
        ``"y ~ arm * time + (1 + time | participant) + (1 | group)"`` (correlated random
        intercept and slope). The fixed part follows R's algebra (``*``, ``:``, ``/``, ``^``,
        ``-``, ``0``); categorical predictors use treatment contrasts with the first level
        (first category of a pandas Categorical, else the sorted first value) as reference.
    reml : bool, default True
        REML (lme4's default) or ML.
    df_method : {"satterthwaite", "kenward-roger", "asymptotic"}
        Denominator df of the t tests: Satterthwaite as in lmerTest,

        .. math:: \nu = 2\,(c'\Sigma_\beta c)^2 / \big(g' A g\big), \quad
                  g_k = c'\,\partial\Sigma_\beta/\partial\varphi_k\,c, \quad A = 2H^{-1},

        Kenward-Roger as in pbkrtest (REML only; standard errors from the adjusted covariance
        :math:`\Phi_A`), or asymptotic (z tests, df infinite).
    singular_tol : float, default 1e-4
        lme4's ``isSingular`` tolerance on the relative standard deviations :math:`\theta`.

    Observation weights (``fit(data, weights=...)``) are lme4's prior weights: precision weights,
    :math:`\operatorname{Var}(\varepsilon_i) = \sigma^2 / w_i`. As in lme4 the rows of
    :math:`X`, :math:`Z` and :math:`y` are multiplied by :math:`\sqrt{w_i}` and the deviance
    gains :math:`-\sum_i \log w_i` (so the log-likelihood gains :math:`+\tfrac12\sum_i\log w_i`);
    fixed effects, their covariance, the variance components and Satterthwaite's df are those of
    ``lmerTest::lmer(..., weights = w)``. Kenward-Roger is not available with weights.

    Attributes
    ----------
    fixed_ : DataFrame
        ``term, estimate, std_error, df, t_val, p_val, ci95_low, ci95_high``; terms named as R
        names them (``armcoach:short``); Wald t intervals with the chosen df (as
        ``lmerTest::contest(..., confint = TRUE)``).
    random_ : DataFrame
        ``group, term, term2, variance, sd, corr`` (R's ``as.data.frame(VarCorr(m))``).
    loglik_, aic_, bic_ : float
        Log-likelihood (the REML criterion's for REML fits) and information criteria, as lme4.
    n_obs_ : int
    n_groups_ : dict of str to int
        Levels per grouping factor (``group:participant`` for participants within groups).
    weights_ : ndarray or None
        The prior weights of the fitted rows (None: unweighted).
    singular_ : bool
        lme4's ``isSingular``.
    converged_ : bool
        The optimizer converged and lme4's gradient and Hessian checks pass.
    messages_ : list of str
        Every warning about this fit: dropped rows, singularity, convergence, engine warnings.
    vcov_ : DataFrame
        Covariance of the fixed effects used for the standard errors.
    result_ : mixedlm.LmerResult
        The engine's fit.
    fallback_log_ : DataFrame
        Set by :func:`analyses.mixed.fit_with_fallback` only: the structures tried and why.

    Examples
    --------
    >>> m = MixedModel("y ~ arm * (short + long) + (1 | group/participant)").fit(df)  # doctest: +SKIP
    >>> m.fixed_  # doctest: +SKIP

    The R equivalent: ``summary(lmerTest::lmer(y ~ arm * (short + long) + (1 | group/participant),
    data = df))`` (``ddf = "Kenward-Roger"`` for ``df_method="kenward-roger"``).
    """

    def __init__(
        self, formula: str, *, reml: bool = True, df_method: str = "satterthwaite", singular_tol: float = 1e-4
    ) -> None:
        if df_method not in DF_METHODS:
            raise ValueError(f"df_method must be one of {', '.join(DF_METHODS)}; got {df_method!r}")
        if df_method == "kenward-roger" and not reml:
            raise ValueError("Kenward-Roger's method is only available for REML fits: use reml=True")
        if not (np.isfinite(singular_tol) and singular_tol >= 0):
            raise ValueError(f"singular_tol must be a finite number >= 0, got {singular_tol!r}")
        self.formula = formula
        self.reml = bool(reml)
        self.df_method = df_method
        self.singular_tol = float(singular_tol)
        self.parsed: ParsedFormula = parse_formula(formula)
        self._inference: Satterthwaite | KenwardRoger | None = None

    def __repr__(self) -> str:
        state = "fitted" if hasattr(self, "result_") else "not fitted"
        return f"MixedModel({self.formula!r}, reml={self.reml}, df_method={self.df_method!r}) [{state}]"

    # ------------------------------------------------------------------ fitting
    def _model_frame(
        self, data: pd.DataFrame, weights: Any = None
    ) -> tuple[pd.DataFrame, list[str], NDArray[np.float64] | None]:
        if not isinstance(data, pd.DataFrame):
            raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        needed = self.parsed.variables
        missing = [c for c in needed if c not in data.columns]
        if missing:
            raise ValueError(
                f"data is missing column(s) {', '.join(map(repr, missing))} needed by formula {self.formula!r}"
            )
        frame = data[needed].copy()
        w = None if weights is None else _weights_column(data, weights)
        messages = []
        incomplete = frame.isna().any(axis=1)
        if w is not None:
            incomplete = incomplete | w.isna().to_numpy()
        if incomplete.any():
            counts = frame.isna().sum()
            if w is not None:
                counts["(weights)"] = int(w.isna().sum())
            detail = ", ".join(f"{c}: {n}" for c, n in counts[counts > 0].items())
            messages.append(f"{int(incomplete.sum())} of {len(frame)} rows dropped for missing values ({detail})")
            frame = frame.loc[~incomplete]
            if w is not None:
                w = w.loc[~incomplete.to_numpy()]
        if frame.empty:
            raise ValueError(f"no complete rows for formula {self.formula!r}")
        if not pd.api.types.is_numeric_dtype(frame[self.parsed.response]) or pd.api.types.is_bool_dtype(
            frame[self.parsed.response]
        ):
            raise ValueError(f"response {self.parsed.response!r} must be numeric")
        for col in frame.columns:
            if isinstance(frame[col].dtype, pd.CategoricalDtype):
                frame[col] = frame[col].cat.remove_unused_categories()
        values = None if w is None else w.to_numpy(dtype=np.float64)
        return frame.reset_index(drop=True), messages, values

    def fit(self, data: pd.DataFrame, weights: str | pd.Series | Sequence[float] | None = None) -> MixedModel:
        """Fit the model to long-format ``data`` (one row per observation); returns ``self``.

        Rows with a missing value in any variable of the formula (or a missing weight) are
        dropped and counted in ``messages_`` (R's ``na.omit``).

        Parameters
        ----------
        data : DataFrame
        weights : str, Series or array-like, optional
            Prior (precision) weights, as ``lmer(..., weights = w)``: the name of a column of
            ``data``, a Series aligned on ``data``'s index, or one value per row of ``data``.
            Each must be finite and > 0 (or missing: the row is dropped). None: unweighted.

        Raises
        ------
        ValueError
            If ``data`` is not a DataFrame, lacks a column of the formula, has no complete row or
            a non-numeric response; if ``weights`` do not match ``data`` or a weight is not a
            finite positive number; if Kenward-Roger df are asked for a weighted fit.
        """
        import mixedlm

        if weights is not None and self.df_method == "kenward-roger":
            raise ValueError("Kenward-Roger df are not available for a weighted fit: use df_method='satterthwaite'")
        frame, messages, w = self._model_frame(data, weights)
        printed = io.StringIO()  # the engine prints some checks (lme4's "message" level): keep them
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("always")
            if w is None:
                result = mixedlm.lmer(self.parsed.engine_formula(), frame, REML=self.reml)
            else:
                result = mixedlm.lmer(self.parsed.engine_formula(), frame, REML=self.reml, weights=w)
        engine_notes = [str(w.message) for w in caught] + printed.getvalue().splitlines()
        for note in engine_notes:
            text = f"engine: {note.strip()}"
            if note.strip() and text not in messages and "singular" not in note.lower():
                messages.append(text)
        source = result.matrices.fixed_source_names
        dropped = [n for n in source if n not in result.matrices.fixed_names] if source else []
        if dropped:
            messages.append(
                "fixed-effect design matrix is rank deficient; coefficient(s) not estimable and dropped: "
                + ", ".join(self._r_name_with(n, result) for n in dropped)
            )
        self.result_ = result
        self.weights_ = w
        self._frame_summary = _frame_summary(frame, self.parsed, result)
        singular = singular_components(result, self.singular_tol)
        self.singular_ = bool(singular)
        if singular:
            messages.append(
                "boundary (singular) fit: variance estimated as zero for "
                + "; ".join(singular)
                + " (lme4 isSingular, tol = "
                + f"{self.singular_tol:g})"
            )
            conv = [] if result.converged else [f"optimizer did not report convergence: {result.message}"]
        else:
            conv = convergence_messages(result)
        self.converged_ = not conv
        messages.extend(conv)

        names = [self._r_name(n) for n in result.matrices.fixed_names]
        self._inference = None
        try:
            if self.df_method == "satterthwaite":
                self._inference = satterthwaite(result)
                messages.extend(self._inference.messages)
            elif self.df_method == "kenward-roger":
                self._inference = kenward_roger(result)
        except (np.linalg.LinAlgError, ValueError) as exc:
            messages.append(f"{self.df_method} df could not be computed ({exc}); df reported as NaN")
        vcov = self._vcov()
        self.vcov_ = pd.DataFrame(vcov, index=names, columns=names)
        self.fixed_ = _t_table(names, np.asarray(result.beta, dtype=np.float64), np.eye(len(names)), vcov, self._df)
        self.random_ = variance_table(result)
        self.n_obs_ = int(result.matrices.n_obs)
        self.n_groups_ = {s.grouping_factor: int(s.n_levels) for s in result.matrices.random_structures}
        self.n_params_ = int(result.matrices.n_fixed + len(result.theta) + 1)
        self.deviance_ = float(result.deviance)
        self.loglik_ = -0.5 * self.deviance_
        self.aic_ = -2 * self.loglik_ + 2 * self.n_params_
        self.bic_ = -2 * self.loglik_ + np.log(self.n_obs_) * self.n_params_
        self.messages_ = messages
        for message in messages:
            logger.warning("%s: %s", self.formula, message)
        return self

    def _r_name(self, name: str) -> str:
        return self._r_name_with(name, self.result_)

    def _r_name_with(self, name: str, result: Any) -> str:
        levels = result.matrices.category_levels
        full_rank = None
        if not self.parsed.intercept:
            full_rank = next((t[0] for t in self.parsed.fixed_terms if len(t) == 1 and t[0] in levels), None)
        return r_coefficient_name(name, levels, full_rank)

    def _vcov(self) -> NDArray[np.float64]:
        if isinstance(self._inference, KenwardRoger):
            return self._inference.vcov_adjusted
        if isinstance(self._inference, Satterthwaite):
            return self._inference.vcov_beta
        return np.asarray(self.result_.vcov(), dtype=np.float64)

    def _df(self, contrasts: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.df_method == "asymptotic":
            return np.full(len(contrasts), np.inf)
        if self._inference is None:
            return np.full(len(contrasts), np.nan)
        return self._inference.df(contrasts)

    def _check_fitted(self) -> None:
        if not hasattr(self, "result_"):
            raise NotFittedError("this MixedModel is not fitted yet: call fit(data) first")

    # ------------------------------------------------------------------ results
    @property
    def summary(self) -> pd.DataFrame:
        """Fixed effects indexed by term; fit statistics in ``summary.attrs``."""
        self._check_fitted()
        table = self.fixed_.set_index("term")
        table.attrs = {
            "formula": self.formula,
            "method": "REML" if self.reml else "ML",
            "df_method": self.df_method,
            "loglik": self.loglik_,
            "aic": self.aic_,
            "bic": self.bic_,
            "n_obs": self.n_obs_,
            "n_groups": dict(self.n_groups_),
            "singular": self.singular_,
            "converged": self.converged_,
            "messages": list(self.messages_),
        }
        return table

    def emmeans(self, specs: str | Sequence[str], at: dict[str, Any] | None = None) -> pd.DataFrame:
        """Estimated marginal means over a reference grid, as R's ``emmeans(m, specs, at = at)``.

        The reference grid crosses every level of each factor with each numeric predictor at its
        mean over the fitted rows, unless ``at`` gives values. Each mean is :math:`\\ell'\\hat\\beta`,
        :math:`\\ell` the design row averaged with equal weights over the grid dimensions not in
        ``specs``; its standard error is :math:`\\sqrt{\\ell'\\Sigma_\\beta\\ell}` and its df follow the
        model's ``df_method`` for the contrast :math:`\\ell` (R: ``lmer.df = "satterthwaite"`` or
        ``"kenward-roger"``).

        Parameters
        ----------
        specs : str or sequence of str
            Predictors whose combinations form the rows.
        at : dict, optional
            Values for predictors (numeric ones in ``specs`` need them to vary).

        Returns
        -------
        DataFrame
            The ``specs`` columns, then ``estimate, std_error, df, ci95_low, ci95_high``.
        """
        self._check_fitted()
        specs = [specs] if isinstance(specs, str) else list(specs)
        grid, L = _reference_grid(self.result_, self._frame_summary, specs, at or {})
        est = L @ np.asarray(self.result_.beta, dtype=np.float64)
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, self._vcov(), L))
        df = self._df(L)
        half = stats.t.ppf(0.975, df) * se
        out = grid.reset_index(drop=True)
        out = out.assign(estimate=est, std_error=se, df=df, ci95_low=est - half, ci95_high=est + half)
        return out


def _weights_column(data: pd.DataFrame, weights: Any) -> pd.Series:
    """The prior weights as a float Series on ``data``'s index; a clear error for anything else."""
    if isinstance(weights, str):
        if weights not in data.columns:
            raise ValueError(f"weights: data has no column {weights!r}")
        w = data[weights]
        where = f"weights column {weights!r}"
    elif isinstance(weights, pd.Series):
        if not weights.index.equals(data.index):
            absent = data.index.difference(weights.index)
            if len(absent) or weights.index.has_duplicates:
                raise ValueError(
                    "weights: a Series must have one weight for each row of data, on data's index"
                    + (f" ({len(absent)} row(s) without a weight, e.g. index {absent[0]!r})" if len(absent) else "")
                )
            weights = weights.reindex(data.index)
        w = weights
        where = "weights"
    else:
        values = np.asarray(weights)
        if values.ndim != 1 or len(values) != len(data):
            raise ValueError(f"weights must have one value per row of data ({len(data)}), got shape {values.shape}")
        w = pd.Series(values, index=data.index)
        where = "weights"
    if not (pd.api.types.is_numeric_dtype(w) and not pd.api.types.is_bool_dtype(w)):
        raise ValueError(f"{where} must be numeric, got dtype {w.dtype}")
    w = w.astype(np.float64)
    bad = w.notna() & ~(np.isfinite(w) & (w > 0))
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        raise ValueError(
            f"{where}: every weight must be a finite number > 0; row {row} (index {w.index[row]!r}) has {w.iloc[row]!r}"
            f" ({int(bad.sum())} such row(s))"
        )
    return w


def _t_table(
    names: list[str], beta: NDArray[np.float64], L: NDArray[np.float64], vcov: NDArray[np.float64], df_fun: Any
) -> pd.DataFrame:
    est = L @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, vcov, L))
    df = df_fun(L)
    t = est / se
    p = 2 * stats.t.sf(np.abs(t), df)
    half = stats.t.ppf(0.975, df) * se
    return pd.DataFrame(
        {
            "term": names,
            "estimate": est,
            "std_error": se,
            "df": df,
            "t_val": t,
            "p_val": p,
            "ci95_low": est - half,
            "ci95_high": est + half,
        },
        columns=FIXED_COLUMNS,
    )


def _frame_summary(frame: pd.DataFrame, parsed: ParsedFormula, result: Any) -> dict[str, list[Any]]:
    """Default reference-grid values: factor levels, numeric means (over the fitted rows)."""
    levels = result.matrices.category_levels
    return {
        v: list(levels[v]) if v in levels else [float(frame[v].astype(float).mean())] for v in parsed.fixed_variables
    }


def _reference_grid(
    result: Any, defaults: dict[str, list[Any]], specs: list[str], at: dict[str, Any]
) -> tuple[pd.DataFrame, NDArray[np.float64]]:
    from mixedlm.matrices.design import build_fixed_matrix

    unknown = [s for s in [*specs, *at] if s not in defaults]
    if unknown:
        raise ValueError(
            f"emmeans: {', '.join(map(repr, unknown))} not a fixed-effect predictor; choose from {list(defaults)}"
        )
    values = {v: list(np.atleast_1d(at[v])) if v in at else vals for v, vals in defaults.items()}
    levels = result.matrices.category_levels
    for v, vals in values.items():
        if v in levels and (bad := [x for x in vals if x not in levels[v]]):
            raise ValueError(f"emmeans: level(s) {bad} of {v!r} not in the fitted levels {levels[v]}")
    # R's row order: the first of ``specs`` varies fastest
    order = [*reversed(specs), *[v for v in values if v not in specs]]
    grid = pd.DataFrame(list(itertools.product(*(values[v] for v in order))), columns=order)
    X, names = build_fixed_matrix(result.formula, grid, contrasts=result.matrices.contrasts, category_levels=levels)
    index = {n: i for i, n in enumerate(names)}
    X = X[:, [index[n] for n in result.matrices.fixed_names]]
    keys = grid[specs].astype(object).apply(tuple, axis=1)
    codes, uniques = pd.factorize(keys)
    L = np.vstack([X[codes == k].mean(axis=0) for k in range(len(uniques))])
    rows = pd.DataFrame(list(uniques), columns=specs)
    return rows, L
