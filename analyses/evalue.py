"""E-values: how strong unmeasured confounding would have to be to explain an effect away.

The E-value is the minimum strength of association, on the risk-ratio scale, that an unmeasured
confounder would need with both the treatment and the outcome, above and beyond the measured
covariates, to fully explain away an observed association (VanderWeele & Ding 2017).

References
----------
VanderWeele, T. J., & Ding, P. (2017). Sensitivity analysis in observational research:
introducing the E-value. *Annals of Internal Medicine*, 167(4), 268-274.
"""

from __future__ import annotations

import math

SMD_TO_LOG_RR = 0.91  # log RR ~ 0.91 d (VanderWeele & Ding 2017, table 2; Hasselblad & Hedges 1995)
CI_LOG_RR = 1.78  # 0.91 x 1.96, rounded as published (and as in R's EValue::evalues.MD)


def _evalue(rr: float) -> float:
    """E = RR + sqrt(RR (RR - 1)) for RR >= 1 (a protective RR is inverted first)."""
    if not math.isfinite(rr) or rr <= 0:
        return math.nan
    if rr < 1:
        rr = 1.0 / rr
    return rr + math.sqrt(rr * (rr - 1.0))


def evalue_rr(rr: float, low: float | None = None, high: float | None = None) -> tuple[float, float]:
    """E-values for a risk ratio and its confidence interval.

    Parameters
    ----------
    rr : float
        The observed risk ratio (> 0).
    low, high : float, optional
        The confidence limits.

    Returns
    -------
    tuple of float
        ``(E for the point estimate, E for the limit closest to 1)``; the second is 1.0 when the
        interval includes 1 and NaN when no limit on the side of 1 was given.  NaN for a
        non-finite or non-positive ``rr``.

    Notes
    -----
    For :math:`RR \\ge 1`

    .. math::

        E = RR + \\sqrt{RR\\,(RR - 1)}

    and for a protective :math:`RR < 1` the same formula on :math:`1/RR`; for the interval the
    formula is applied to the limit closest to 1 (VanderWeele & Ding 2017, table 2).  Worked
    example there: RR = 3.9 (95% CI 1.8 to 8.7) gives E = 7.26 and 3.0 for the lower limit.
    """
    rr = float(rr)
    point = _evalue(rr)
    if not math.isfinite(point):
        return math.nan, math.nan
    if rr >= 1:
        if low is None or not math.isfinite(float(low)):
            return point, math.nan
        return point, 1.0 if float(low) <= 1 else _evalue(float(low))
    if high is None or not math.isfinite(float(high)):
        return point, math.nan
    return point, 1.0 if float(high) >= 1 else _evalue(float(high))


def evalue_smd(d: float, se: float) -> tuple[float, float]:
    """E-values for a standardised mean difference of a continuous outcome.

    Parameters
    ----------
    d : float
        The standardised mean difference (e.g. the adjusted effect divided by the baseline SD).
    se : float
        Its standard error.

    Returns
    -------
    tuple of float
        ``(E for the point estimate, E for the confidence limit closest to 1)``, as
        :func:`evalue_rr`.

    Notes
    -----
    The difference is first put on the risk-ratio scale by the approximation

    .. math::

        RR \\approx e^{0.91 d}, \\qquad CI \\approx \\left(e^{0.91 d - 1.78\\,se},\\; e^{0.91 d + 1.78\\,se}\\right)

    (VanderWeele & Ding 2017, table 2; 1.78 = 0.91 x 1.96 rounded, as published), then :func:`evalue_rr` is applied.
    """
    d, se = float(d), float(se)
    if not math.isfinite(d):
        return math.nan, math.nan
    rr = math.exp(SMD_TO_LOG_RR * d)
    if not math.isfinite(se) or se < 0:
        return evalue_rr(rr)[0], math.nan
    half = CI_LOG_RR * se
    low = math.exp(SMD_TO_LOG_RR * d - half)
    high = math.exp(SMD_TO_LOG_RR * d + half)
    return evalue_rr(rr, low, high)
