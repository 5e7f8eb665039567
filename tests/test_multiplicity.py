"""Holm and Benjamini-Hochberg adjustment (analyses.multiplicity) against R's ``p.adjust``.

Every comparison runs base R's ``p.adjust(p, method = "holm")`` or ``p.adjust(p, method = "BH")``
on the same p-values (``tests/r_reference.py``) and asks ``rtol = 1e-12``: both are a few
multiplications, maxima and minima, so they must agree to rounding.  Without R the comparisons
skip with the reason; the hand-checked examples below still run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analyses.multiplicity import MULTIPLICITY_COLUMNS, adjust_effects, p_adjust
from pipeline.errors import InputError
from tests.r_reference import run_r

RTOL = 1e-12
BASE_R = ("jsonlite",)
TERMS = ["short:armintervisie", "long:armintervisie"]
PRIMARY = ["brs", "cbi_work"]
SECONDARY = ["cbi_personal", "cbi_patient", "uwes_vigour", "uwes_dedication", "gras"]

# p-values with ties, one of 1, one tiny, and one that Holm's running maximum must carry forward
P_VALUES = np.array([0.01, 0.04, 0.03, 0.04, 0.005, 0.2, 1.0, 1e-9, 0.0499, 0.012])


def effects_table() -> pd.DataFrame:
    """A growth effects table: every outcome x term, with p-values from a seeded generator."""
    rng = np.random.default_rng(4)
    rows = []
    for term in TERMS:
        for outcome in [*PRIMARY, *SECONDARY, "not_an_outcome"]:
            p = float(rng.uniform(0, 0.12))
            estimate = float(rng.normal())
            rows.append({"outcome": outcome, "term": term, "estimate": estimate, "ci95_low": estimate - 1,
                         "ci95_high": estimate + 1, "p_val": p, "std_error": 0.5})
        rows.append({"outcome": "brs", "term": "(Intercept)", "estimate": 3.0, "ci95_low": 2.0, "ci95_high": 4.0,
                     "p_val": 1e-30, "std_error": 0.5})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("method", ["holm", "BH"])
def test_p_adjust_equals_r(method: str) -> None:
    # R: p.adjust(d$p, method = method)
    out = run_r(f'out$adj <- p.adjust(d$p, method = "{method}")', pd.DataFrame({"p": P_VALUES}), packages=BASE_R)
    assert_allclose(p_adjust(P_VALUES, method=method), out["adj"], rtol=RTOL)


def test_p_adjust_hand_checked_examples() -> None:
    # Holm: sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, max(0.06, 0.04) = 0.06
    assert_allclose(p_adjust([0.01, 0.04, 0.03], method="holm"), [0.03, 0.06, 0.06], rtol=RTOL)
    # BH: k/j p_(j) = 0.03, 0.045, 0.04 -> running minimum from the top: 0.03, 0.04, 0.04
    assert_allclose(p_adjust([0.01, 0.04, 0.03], method="BH"), [0.03, 0.04, 0.04], rtol=RTOL)
    assert_allclose(p_adjust([0.3], method="holm"), [0.3], rtol=RTOL)
    assert p_adjust([], method="BH").size == 0


def test_adjust_effects_families_equal_r() -> None:
    effects = effects_table()
    table = adjust_effects(effects, primary=PRIMARY, secondary=SECONDARY, terms=TERMS, alpha=0.05)
    assert list(table.columns) == MULTIPLICITY_COLUMNS
    assert len(table) == len(TERMS) * (len(PRIMARY) + len(SECONDARY))
    assert "not_an_outcome" not in set(table["outcome"])
    # R, per term: p.adjust(p[outcome %in% primary], "holm"); p.adjust(p[outcome %in% secondary], "BH")
    script = """
    for (tm in unique(d$term)) {
      for (fam in c("primary", "secondary")) {
        sel <- d$term == tm & d$family == fam
        out[[paste(tm, fam)]] <- p.adjust(d$p_val[sel], method = if (fam == "primary") "holm" else "BH")
      }
    }
    """
    data = effects[effects["outcome"].isin(PRIMARY + SECONDARY)].assign(
        family=lambda t: np.where(t["outcome"].isin(PRIMARY), "primary", "secondary")
    )
    reference = run_r(script, data[["term", "family", "outcome", "p_val"]], packages=BASE_R)
    for term in TERMS:
        for family, method in (("primary", "holm"), ("secondary", "BH")):
            part = table[(table["term"] == term) & (table["family"] == family)]
            assert set(part["method"]) == {method}
            assert_allclose(part["p_adj"], reference[f"{term} {family}"], rtol=RTOL)
    assert (table["reject"] == (table["p_adj"] < 0.05)).all()
    assert (table["p_adj"] >= table["p_val"]).all()
    merged = table.merge(effects, on=["outcome", "term"], suffixes=("", "_in"))
    assert_allclose(merged["estimate"], merged["estimate_in"], rtol=RTOL)
    assert_allclose(merged["ci_low"], merged["ci95_low"], rtol=RTOL)


def test_terms_are_separate_families() -> None:
    # Holm over the two primary outcomes of one term: with p = (0.02, 0.03) -> (0.04, 0.04), both
    # rejected at 0.05; pooling both terms (4 tests) would give 0.08 and reject none.
    effects = pd.DataFrame(
        {
            "outcome": ["brs", "cbi_work", "brs", "cbi_work"],
            "term": [TERMS[0], TERMS[0], TERMS[1], TERMS[1]],
            "estimate": 1.0, "ci95_low": 0.5, "ci95_high": 1.5,
            "p_val": [0.02, 0.03, 0.02, 0.03],
        }
    )
    table = adjust_effects(effects, primary=PRIMARY, secondary=[], terms=TERMS, alpha=0.05)
    assert_allclose(table["p_adj"], [0.04, 0.04, 0.04, 0.04], rtol=RTOL)
    assert table["reject"].all()


def test_input_errors_name_the_rule() -> None:
    effects = effects_table()
    with pytest.raises(InputError, match="both primary and secondary"):
        adjust_effects(effects, primary=PRIMARY, secondary=["brs"], terms=TERMS)
    with pytest.raises(InputError, match="p_val"):
        adjust_effects(effects.drop(columns="p_val"), primary=PRIMARY, secondary=SECONDARY, terms=TERMS)
    with pytest.raises(InputError, match="alpha"):
        adjust_effects(effects, primary=PRIMARY, secondary=SECONDARY, terms=TERMS, alpha=1.5)
    with pytest.raises(InputError, match="unknown p-value adjustment"):
        p_adjust([0.1], method="bonferroni")
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        p_adjust([0.1, np.nan], method="holm")
    empty = adjust_effects(effects, primary=PRIMARY, secondary=SECONDARY, terms=["no:such_term"])
    assert list(empty.columns) == MULTIPLICITY_COLUMNS and empty.empty


def test_single_arm_terms_and_not_estimable_outcomes() -> None:
    # a single-arm, two-wave design has one effect term, `short` (change within intervisie); an
    # outcome whose model could not be fitted is a NaN row of the growth table and is left out of
    # its family: Holm over the two estimable primary p-values (0.02, 0.03) -> (0.04, 0.04)
    effects = pd.DataFrame(
        {
            "outcome": ["brs", "cbi_work", "cbi_personal", "uwes_vigour"],
            "term": "short",
            "estimate": [1.0, 1.0, np.nan, 1.0], "ci95_low": 0.5, "ci95_high": 1.5,
            "p_val": [0.02, 0.03, np.nan, 0.01],
        }
    )
    table = adjust_effects(effects, primary=[*PRIMARY, "cbi_personal"], secondary=["uwes_vigour"], terms=["short"])
    assert list(table["outcome"]) == ["brs", "cbi_work", "uwes_vigour"]
    assert_allclose(table["p_adj"], [0.04, 0.04, 0.01], rtol=RTOL)
    assert (table["term"] == "short").all()
