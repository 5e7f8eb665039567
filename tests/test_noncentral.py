"""The noncentral-t interval (analyses.noncentral) against an independent computation and R, and its edge cases.

Known answers:
* an independent implementation of the noncentral t cdf, the integral
  :math:`P(T \\le t) = E_V[\\Phi(t\\sqrt{V/\\nu} - \\lambda)]`, :math:`V \\sim \\chi^2_\\nu` (Johnson, Kotz &
  Balakrishnan 1995, ch. 31), by adaptive quadrature, inverted with Brent's method to 1e-13:
  the limits must agree to 1e-8 (absolute, ncp units);
* R's ``pt(t, df, ncp)`` inverted with ``uniroot(tol = 1e-13)`` (what ``MBESS::conf.limits.nct``
  does), embedded below and run live where R is installed: agreement to 1e-7. R's ``pt`` switches
  to an approximation for ncp > 37.62, so the R cases stay below that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, optimize, special, stats

from analyses import noncentral
from analyses.change import hedges_g_change, standardised_response_mean
from analyses.noncentral import NORMAL_DF, ncp_interval, ncp_interval_normal, nct_cdf
from tests.r_reference import run_r

#: (t, df) -> R: lim <- function(t, df) sapply(c(.975, .025), function(p)
#:     uniroot(function(l) pt(t, df, l) - p, c(t - 50, t + 50), tol = 1e-13)$root)
R_LIMITS = {
    (4.743416490252569, 9): (1.77250137550583, 7.60033256176384),
    (0.3, 4): (-1.68800662517769, 2.25240601539464),
    (-2.5, 19): (-4.58478959454287, -0.358814634775226),
    (12.0, 39): (8.6724634952374, 15.269910583031),
    (2.1, 2): (-0.724996906570547, 4.73783718223812),
}


def _cdf_by_quadrature(t: float, df: float, ncp: float) -> float:
    lo, hi = stats.chi2.ppf([1e-15, 1 - 1e-15], df)

    log_norm = -df / 2 * np.log(2) - special.gammaln(df / 2)

    def integrand(v: float) -> float:  # Phi(t sqrt(v/df) - ncp) times the chi-square density
        return special.ndtr(t * np.sqrt(v / df) - ncp) * np.exp(log_norm + (df / 2 - 1) * np.log(v) - v / 2)

    points = [df] if lo < df < hi else None
    return integrate.quad(integrand, lo, hi, epsabs=1e-14, epsrel=1e-12, limit=500, points=points)[0]


def _limits_by_quadrature(t: float, df: float) -> tuple[float, float]:
    def solve(target: float) -> float:
        return optimize.brentq(lambda ncp: _cdf_by_quadrature(t, df, ncp) - target, t - 80, t + 80, xtol=1e-13)

    return solve(0.975), solve(0.025)


@pytest.mark.parametrize(("t", "df"), [(4.743416490252569, 9), (2.1, 2), (-3.0, 5), (60.40297597928656, 200),
                                       (35.0, 5000), (0.0, 30)])
def test_interval_matches_independent_quadrature(t, df):
    low, high, method = ncp_interval(t, df, 0.95)
    assert method == "exact"
    assert_allclose([low, high], _limits_by_quadrature(t, df), atol=1e-8)


@pytest.mark.parametrize(("t", "df"), list(R_LIMITS))
def test_interval_matches_r_pt_inversion(t, df):
    assert_allclose(ncp_interval(t, df, 0.95)[:2], R_LIMITS[(t, df)], atol=1e-7)


def test_interval_matches_r_live():
    cases = pd.DataFrame(list(R_LIMITS), columns=["t", "df"])
    script = """
    lim <- function(t, df) sapply(c(.975, .025), function(p)
        uniroot(function(l) pt(t, df, l) - p, c(t - 50, t + 50), tol = 1e-13)$root)
    out$lim <- t(mapply(lim, d$t, d$df))
    """
    out = run_r(script, cases, packages=("jsonlite",))
    mine = [ncp_interval(t, df, 0.95)[:2] for t, df in zip(cases["t"], cases["df"], strict=True)]
    assert_allclose(mine, np.asarray(out["lim"]), atol=1e-7)


def test_the_cases_that_stopped_the_old_solver():
    # a 20x demo study (~18,000 people): the old bracket met NaN near x = 60.40; now exact up to
    # NORMAL_DF and the normal approximation above, each within 1e-4 of the quadrature limits
    t = 60.40297597928656
    for df in (9000, 17999):
        low, high, method = ncp_interval(t, df, 0.95)
        assert method == ("exact" if df <= NORMAL_DF else "normal approximation")
        assert_allclose([low, high], _limits_by_quadrature(t, df), atol=1e-4)
    # four identical change scores: t = 4e15 from an SD of floating-point noise -> not estimable
    low, high, reason = ncp_interval(4021071095866516.0, 3, 0.95)
    assert np.isnan(low) and np.isnan(high) and reason.startswith("not estimable")
    assert np.isnan(ncp_interval(np.inf, 3, 0.95)[0]) and np.isnan(ncp_interval(2.0, 0, 0.95)[0])


def test_cdf_never_nan_where_the_library_is():
    # scipy's nct returns NaN far in the tails (here t = 7, df = 3, ncp = -7); the fallback gives ~1
    assert np.isnan(stats.nct.cdf(7.0, 3, -7.0)) or stats.nct.cdf(7.0, 3, -7.0) > 1 - 1e-8
    grid = [nct_cdf(t, df, ncp) for df in (3, 30, 17999) for t in (-25.0, 0.0, 25.0) for ncp in (-40.0, 0.0, 40.0)]
    assert np.isfinite(grid).all() and (np.asarray(grid) >= 0).all() and (np.asarray(grid) <= 1).all()


def test_normal_approximation_rule_and_symmetry(monkeypatch):
    # symmetry: the interval of -t is the mirrored interval of t
    low, high, _ = ncp_interval(2.5, 19, 0.95)
    assert_allclose(ncp_interval(-2.5, 19, 0.95)[:2], [-high, -low], rtol=1e-12)
    # the closed form solves the approximate cdf exactly
    lo, hi = ncp_interval_normal(3.0, 50_000, 0.9)
    assert_allclose([noncentral.nct_cdf_normal(3.0, 50_000, lo), noncentral.nct_cdf_normal(3.0, 50_000, hi)],
                    [0.95, 0.05], atol=1e-12)
    # the stated accuracy at the switch: standardised limits within 1e-4 of the exact ones up to 3 SD
    monkeypatch.setattr(noncentral, "NORMAL_DF", 10**9)
    df = NORMAL_DF + 1
    for t in (0.0, 50.0, 150.0, 300.0):
        exact = np.array(ncp_interval(t, df, 0.95)[:2])
        assert np.abs(exact - ncp_interval_normal(t, df, 0.95)).max() / np.sqrt(df + 1) < 1e-4


# ------------------------------------------------------------------ degenerate data in the effect sizes


def test_identical_changes_give_not_estimable_rows_not_a_crash():
    pre = np.array([3.1, 3.3, 2.7, 3.9])
    data = pd.DataFrame({"pre": pre, "post": pre + 0.2})  # changes equal up to rounding (SD ~ 1e-16)
    assert 0 < (data["post"] - data["pre"]).std() < 1e-14
    row = hedges_g_change(data, pre="pre", post="post").iloc[0]
    assert row["sd_change"] == 0 and np.isnan(row["ci95_low"]) and "all changes are equal" in row["note"]
    assert_allclose(row["d_av"], 0.2 / pre.std(ddof=1), rtol=1e-9)  # d_av is still defined
    srm = standardised_response_mean(data, pre="pre", post="post").iloc[0]
    assert np.isnan(srm["srm"]) and srm["note"].startswith("not estimable")


def test_no_variance_and_two_people():
    flat = pd.DataFrame({"pre": [3.0, 3.0, 3.0], "post": [3.0, 3.0, 3.0]})
    row = hedges_g_change(flat, pre="pre", post="post").iloc[0]
    assert np.isnan(row["d_av"]) and "no variance" in row["note"]
    two = hedges_g_change(pd.DataFrame({"pre": [1.0, 2.0], "post": [2.0, 4.0]}), pre="pre", post="post").iloc[0]
    assert np.isfinite(two["d_av"]) and np.isnan(two["g_av"]) and "2 participants" in two["note"]


def test_large_study_interval_close_to_the_normal_theory_se():
    rng = np.random.default_rng(5)
    pre = rng.normal(3, 0.5, 18_000)
    data = pd.DataFrame({"pre": pre, "post": pre + rng.normal(0.3, 0.4, 18_000)})
    srm = standardised_response_mean(data, pre="pre", post="post").iloc[0]
    # SE of d_z is sqrt(1/n + d^2/(2n)) (Hedges & Olkin 1985); the interval is +-1.96 SE to 1e-4
    se = np.sqrt(1 / 18_000 + srm["srm"] ** 2 / (2 * 18_000))
    assert_allclose([srm["ci95_low"], srm["ci95_high"]], [srm["srm"] - 1.96 * se, srm["srm"] + 1.96 * se], atol=1e-4)
    assert srm["note"] == "interval: normal approximation"
