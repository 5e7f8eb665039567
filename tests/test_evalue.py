"""E-values (analyses.evalue) against VanderWeele & Ding (2017) and the formula written out."""

from __future__ import annotations

import math

import pytest

from analyses.evalue import evalue_rr, evalue_smd


def test_published_worked_example() -> None:
    # VanderWeele & Ding (2017), Ann Intern Med 167:268: RR 3.9 (95% CI 1.8 to 8.7) -> E 7.26 and 3.0.
    point, ci = evalue_rr(3.9, 1.8, 8.7)
    assert round(point, 2) == 7.26
    assert round(ci, 1) == 3.0
    assert ci == pytest.approx(3.0, rel=1e-12)  # 1.8 + sqrt(1.8 * 0.8) = 1.8 + 1.2


def test_formula_exact() -> None:
    for rr in (1.0, 1.2, 2.0, 3.9, 17.5):
        assert evalue_rr(rr)[0] == pytest.approx(rr + math.sqrt(rr * (rr - 1)), rel=1e-14)
    assert evalue_rr(1.0)[0] == 1.0


def test_protective_ratio_is_inverted() -> None:
    rr, low, high = 1 / 3.9, 1 / 8.7, 1 / 1.8
    point, ci = evalue_rr(rr, low, high)
    assert point == pytest.approx(evalue_rr(3.9)[0], rel=1e-12)
    assert ci == pytest.approx(evalue_rr(1.8)[0], rel=1e-12)  # the limit closest to 1 is the upper one


def test_interval_including_one_gives_one() -> None:
    assert evalue_rr(1.5, 0.9, 2.5)[1] == 1.0
    assert evalue_rr(0.7, 0.4, 1.2)[1] == 1.0
    assert evalue_rr(1.5, 1.0, 2.5)[1] == 1.0


def test_missing_limits_and_bad_input() -> None:
    assert math.isnan(evalue_rr(2.0)[1])
    assert math.isnan(evalue_rr(2.0, None, 3.0)[1])  # the limit on the side of 1 is the lower one
    assert all(math.isnan(v) for v in evalue_rr(float("nan")))
    assert all(math.isnan(v) for v in evalue_rr(-1.0))
    assert all(math.isnan(v) for v in evalue_smd(float("nan"), 0.1))


def test_smd_via_exp_091_d() -> None:
    # VanderWeele & Ding (2017), table 2: RR ~ exp(0.91 d), CI exp(0.91 d -+ 1.78 se).
    d, se = 0.5, 0.1
    rr = math.exp(0.91 * d)
    low = math.exp(0.91 * d - 1.78 * se)
    point, ci = evalue_smd(d, se)
    assert point == pytest.approx(rr + math.sqrt(rr * (rr - 1)), rel=1e-12)
    assert ci == pytest.approx(low + math.sqrt(low * (low - 1)), rel=1e-12)
    assert point == pytest.approx(2.5291, abs=5e-4)  # exp(0.455) = 1.5762; 1.5762 + sqrt(1.5762 * 0.5762)


def test_smd_negative_is_symmetric_and_ci_crossing_zero() -> None:
    assert evalue_smd(-0.5, 0.1) == pytest.approx(evalue_smd(0.5, 0.1), rel=1e-12)
    assert evalue_smd(0.1, 0.2)[1] == 1.0
    assert math.isnan(evalue_smd(0.3, float("nan"))[1])
