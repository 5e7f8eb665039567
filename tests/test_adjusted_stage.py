"""The change stage's adjusted tables: multiplicity of the adjusted tests, the cells behind a balance row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyses.multiplicity import p_adjust
from analyses.propensity import Covariate
from intervisie.stages.adjusted import _multiplicity, balance_label, smallest_cell
from pipeline.design import CovariateInfo
from tests.report_fixtures import make_design

COVS = [Covariate("year", "numeric"), Covariate("treated", "binary", ("false", "true")),
        Covariate("route", "categorical", ("direct", "werk"))]  # fmt: skip


def _pairs() -> pd.DataFrame:
    arm = ["intervisie"] * 10 + ["comparison"] * 8
    treated = [1.0] * 3 + [0.0] * 6 + [np.nan] + [1.0] * 4 + [0.0] * 4
    route = ["werk"] * 2 + ["direct"] * 8 + ["werk"] * 6 + ["direct"] * 2
    programme = ["a"] * 7 + ["b"] * 3 + ["a"] * 8
    return pd.DataFrame({"arm": arm, "treated": treated, "route": pd.Series(route, dtype="string"),
                         "programme": programme, "year": np.arange(18.0)})  # fmt: skip


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("pre", np.nan),  # continuous: nothing to count
        ("year", np.nan),
        ("treated", 1.0),  # the one intervisie participant whose value is missing
        ("treated (missing)", 1.0),  # one intervisie participant misses it (nobody in comparison: no cell)
        ("route: werk", 2.0),  # two of intervisie take that route
        ("programme: b", 3.0),  # three of intervisie; no comparison participant there (an empty cell names nobody)
    ],
)
def test_smallest_cell_counts_the_people_a_balance_row_is_about(column: str, expected: float) -> None:
    got = smallest_cell(_pairs(), column, COVS)
    assert (np.isnan(got) and np.isnan(expected)) or got == expected


def test_adjusted_p_values_are_corrected_per_family_as_the_growth_effects_are() -> None:
    design = make_design(comparison=True, waves={"t0": 0, "t1": 3}, programmes=["coschappen"])
    table = pd.DataFrame({"outcome": ["brs", "cbi_work", "gras"], "p": [0.01, 0.04, 0.03]})
    out = _multiplicity(table.assign(family=None, p_adj=np.nan, p_method=None, reject=None), design, 0.05)
    holm = p_adjust(np.array([0.01, 0.04]), method="holm")  # Holm: 0.02, 0.04
    assert out["p_adj"].tolist()[:2] == pytest.approx(list(holm)) and out["p_adj"].iloc[2] == pytest.approx(0.03)
    assert out["family"].tolist() == ["primary", "primary", "secondary"]
    assert out["reject"].tolist() == [True, True, True]


def test_balance_rows_are_named_for_readers() -> None:
    design = make_design(comparison=True, waves={"t0": 0, "t1": 3}, programmes=["coschappen", "anios"],
                         covariates=(CovariateInfo(id="year", label_nl="jaar", label_en="year of training",
                                                   kind="numeric"),))  # fmt: skip
    assert balance_label("pre", design) == "baseline score"
    assert balance_label("year (missing)", design) == "year of training (missing)"
    assert balance_label("programme: anios", design) == design.programmes[1].label_en
