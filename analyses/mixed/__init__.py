r"""Linear mixed models held to lme4/lmerTest: fits, tests, marginal means and fallbacks.

The growth models of this project (waves within participants within groups, optionally
coaches) are linear mixed models written as lme4 formulas,

.. math:: y = X\beta + Zb + \varepsilon, \qquad b \sim N(0, \sigma^2 \Lambda_\theta\Lambda_\theta'),
          \qquad \varepsilon \sim N(0, \sigma^2 I),

fitted by REML or ML with the profiled deviance of Bates et al. (2015).

Engine choice: ``mixedlm`` 1.3 (a port of lme4: same parametrisation and deviance, sparse
Cholesky, native code, L-BFGS-B with exact gradients). Measured by ``benchmarks/mixed.py`` on an
idle 2-core machine, same data, same run, on the demo design (893 participants in 120 groups,
3,322 rows) and one ten times larger: its REML fit takes 0.23-0.40 of lme4's wall time (0.45-0.58
of its CPU time), and :class:`MixedModel` with Satterthwaite df takes 0.20-0.42 of
``lmerTest::lmer`` + ``summary``. Its optimum agrees with lme4 run to convergence within 2e-6
relative in every reported quantity; lme4's default stopping rule can stop ~3e-6 higher in the
REML criterion, which moves a weakly identified slope variance by up to 2e-4. statsmodels'
MixedLM was rejected: in the project's measurements it was 2.5 to 300 times slower, its
slope-model fixed effects differed from lme4's in the third decimal, it cannot give correlated
random slopes within nested groups, and it reports only z tests (design notes, section 4).
mixedlm's own Kenward-Roger df (a scaled Satterthwaite, up to 3% off pbkrtest) and emmeans df
(the residual df, n - p) do not match R, hence the ports in :mod:`analyses.mixed.ddf`.

What R users get from lmerTest, pbkrtest and emmeans is ported on top of the engine and
tested against R (``tests/test_mixed.py``):

- :class:`MixedModel` -- one fit: fixed effects with Satterthwaite (lmerTest) or Kenward-Roger
  (pbkrtest) df, variance components, log-likelihood, AIC/BIC, lme4's singular-fit and
  convergence checks, and :meth:`MixedModel.emmeans` (R's ``emmeans``);
- :func:`likelihood_ratio_test` -- R's ``anova(m0, m1)``, refitting REML fits by ML;
- :func:`fit_with_fallback` -- tries random-effect structures from most to least complex and
  records why each was rejected, so results say which structure was used and why.

Every fit takes optional observation weights with lme4's meaning (``lmer(..., weights = w)``:
precision weights, residual variance :math:`\sigma^2 / w_i`; tested against lme4 + lmerTest
in ``tests/test_mixed_weights.py``).

Nothing is hidden: singular fits, convergence problems and engine warnings go to
``messages_`` and to the ``analyses.mixed`` logger.

References
----------
Bates D, Mächler M, Bolker B, Walker S (2015). Fitting Linear Mixed-Effects Models Using lme4.
J Stat Softw 67(1). doi:10.18637/jss.v067.i01
Kuznetsova A, Brockhoff PB, Christensen RHB (2017). lmerTest Package: Tests in Linear Mixed
Effects Models. J Stat Softw 82(13). doi:10.18637/jss.v082.i13
Kenward MG, Roger JH (1997). Small sample inference for fixed effects from restricted maximum
likelihood. Biometrics 53(3):983-997.
Searle SR, Speed FM, Milliken GA (1980). Population marginal means in the linear model.
Am Stat 34(4):216-221 (estimated marginal means).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
from scipy import stats

from analyses.mixed.model import DF_METHODS, MixedModel, NotFittedError

__all__ = [
    "DF_METHODS",
    "MixedModel",
    "NoAcceptableFitError",
    "NotFittedError",
    "fit_with_fallback",
    "likelihood_ratio_test",
]

logger = logging.getLogger(__name__)


class NoAcceptableFitError(RuntimeError):
    """:func:`fit_with_fallback` found no acceptable fit; ``log`` says why each formula failed."""

    def __init__(self, message: str, log: pd.DataFrame) -> None:
        super().__init__(message)
        self.log = log


def likelihood_ratio_test(restricted: MixedModel, full: MixedModel, *, refit: bool = True) -> pd.DataFrame:
    r"""Likelihood-ratio test of nested models, as R's ``anova(restricted, full)`` for merMods.

    .. math:: \chi^2 = 2\,(\ell_{full} - \ell_{restricted}), \qquad
              df = k_{full} - k_{restricted}, \qquad p = P(\chi^2_{df} > \chi^2)

    with :math:`k` the number of parameters (fixed effects, variance parameters, residual SD).
    As lme4's ``anova(..., refit = TRUE)``, REML fits are refitted by ML first: REML likelihoods
    of models with different fixed effects are not comparable. For random effects tested at
    the boundary (a variance of zero) the :math:`\chi^2` p-value is conservative
    (Self & Liang 1987).

    Parameters
    ----------
    restricted, full : MixedModel
        Fitted models on the same rows; ``restricted`` has fewer parameters.
    refit : bool, default True
        Refit REML fits with ML (``False`` compares REML criteria, valid only for equal fixed effects).

    Returns
    -------
    DataFrame
        One row: ``npar_restricted, npar_full, loglik_restricted, loglik_full, chisq, df, p_val, refitted_ml``.
    """
    for name, m in (("restricted", restricted), ("full", full)):
        if not isinstance(m, MixedModel):
            raise ValueError(f"{name} must be a MixedModel, got {type(m).__name__}")
        m._check_fitted()
    if restricted.n_obs_ != full.n_obs_:
        raise ValueError(
            f"models were fitted to different numbers of rows ({restricted.n_obs_} vs {full.n_obs_}): "
            "fit both to the same complete rows"
        )
    if restricted.n_params_ >= full.n_params_:
        raise ValueError(
            f"the restricted model must have fewer parameters than the full one "
            f"({restricted.n_params_} vs {full.n_params_}): pass them as (restricted, full)"
        )
    if not refit and restricted.reml != full.reml:
        raise ValueError("refit=False needs both models fitted the same way (both REML or both ML)")
    refitted = refit and (restricted.reml or full.reml)

    def loglik(m: MixedModel) -> float:
        res = m.result_.refitML() if refit and m.reml else m.result_
        return -0.5 * float(res.deviance)

    ll0, ll1 = loglik(restricted), loglik(full)
    chisq = max(2.0 * (ll1 - ll0), 0.0)
    df = full.n_params_ - restricted.n_params_
    return pd.DataFrame(
        [
            {
                "npar_restricted": restricted.n_params_,
                "npar_full": full.n_params_,
                "loglik_restricted": ll0,
                "loglik_full": ll1,
                "chisq": chisq,
                "df": df,
                "p_val": float(stats.chi2.sf(chisq, df)),
                "refitted_ml": bool(refitted),
            }
        ]
    )


def fit_with_fallback(
    formulas: Sequence[str],
    data: pd.DataFrame,
    *,
    reml: bool = True,
    df_method: str = "satterthwaite",
    accept_singular: bool = False,
    weights: str | pd.Series | Sequence[float] | None = None,
) -> tuple[MixedModel, pd.DataFrame]:
    """Fit random-effect structures from most to least complex; keep the first acceptable one.

    A fit is acceptable when it converged (lme4's checks) and, unless ``accept_singular``, is not
    singular. Errors, singular fits and convergence failures are recorded with their reason,
    logged, and the next (simpler) formula is tried: the usual strategy when the data do not
    support the maximal structure (Barr et al. 2013; Bates et al. 2015, arXiv:1506.04967).

    Parameters
    ----------
    formulas : sequence of str
        lme4 formulas, most complex first, e.g.
        ``["y ~ arm*time + (1 + time | participant) + (1 | group)",
        "y ~ arm*time + (1 | participant) + (1 | group)", "y ~ arm*time + (1 | participant)"]``.
    data : DataFrame
    reml, df_method : see :class:`MixedModel`.
    accept_singular : bool, default False
    weights : str, Series or array-like, optional
        Prior (precision) weights, as :meth:`MixedModel.fit` (lme4's ``weights``).

    Returns
    -------
    model : MixedModel
        The first acceptable fit. If it is not the first formula, ``model.messages_`` says which
        structure was used and why the others were rejected; ``model.fallback_log_`` holds the log.
    log : DataFrame
        ``formula, status, reason``; status is ``accepted``, ``singular``, ``not converged``,
        ``error`` or ``not tried``.

    Raises
    ------
    ValueError
        If ``formulas`` is empty.
    NoAcceptableFitError
        If no formula gives an acceptable fit; its ``log`` attribute holds the table.
    """
    if isinstance(formulas, str) or not formulas:
        raise ValueError("formulas must be a non-empty list of lme4 formulas, most complex first")
    rows: list[dict[str, str]] = []
    chosen: MixedModel | None = None
    for formula in formulas:
        if chosen is not None:
            rows.append({"formula": formula, "status": "not tried", "reason": "a more complex structure was accepted"})
            continue
        try:
            model = MixedModel(formula, reml=reml, df_method=df_method).fit(data, weights=weights)
        except Exception as exc:  # record any failure of this structure and move on
            rows.append({"formula": formula, "status": "error", "reason": f"{type(exc).__name__}: {exc}"})
            logger.warning("%s: fit failed: %s: %s", formula, type(exc).__name__, exc)
            continue
        if model.singular_ and not accept_singular:
            reason = next(m for m in model.messages_ if m.startswith("boundary (singular) fit"))
            rows.append({"formula": formula, "status": "singular", "reason": reason})
        elif not model.converged_:
            reasons = [m for m in model.messages_ if "converge" in m or "Hessian" in m or "unidentifiable" in m]
            rows.append({"formula": formula, "status": "not converged", "reason": "; ".join(reasons)})
        else:
            rows.append({"formula": formula, "status": "accepted", "reason": ""})
            chosen = model
    log = pd.DataFrame(rows, columns=["formula", "status", "reason"])
    if chosen is None:
        detail = "; ".join(f"{r['formula']}: {r['status']} ({r['reason']})" for r in rows)
        raise NoAcceptableFitError(f"no acceptable random-effects structure: {detail}", log)
    if log["status"].iloc[0] != "accepted":
        rejected = "; ".join(
            f"'{r['formula']}' {r['status']}: {r['reason']}"
            for r in rows
            if r["status"] not in ("accepted", "not tried")
        )
        note = f"random-effects structure simplified to '{chosen.formula}' because {rejected}"
        chosen.messages_.append(note)
        logger.warning(note)
    chosen.fallback_log_ = log
    return chosen, log
