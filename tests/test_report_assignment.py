"""Reports speak as the design allows: causal words only after random allocation, the adjusted estimate first."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.design import CovariateInfo
from reporting import board, board_tables, confounding
from reporting.publish import plain
from reporting.results import Results
from tests.report_fixtures import make_design, write

WAVES = {"t0": 0, "t1": 3, "t2": 12}
YEAR = CovariateInfo(id="training_year", label_nl="opleidingsjaar", label_en="year of training", kind="numeric")
TREATED = CovariateInfo(id="treated_before", label_nl="eerder behandeld", label_en="treated before", kind="binary",
                        levels=["false", "true"])  # fmt: skip


def _results(root: Path, *, adjusted: bool = True, g: float = 0.5, std: float = 0.4) -> Path:
    arms = [{"outcome": o, "programme": "all", "level_a": "intervisie", "level_b": "comparison", "n_a": 60, "n_b": 40,
             "mean_a": 0.2, "mean_b": 0.0, "mean_diff": 0.2, "d": x, "g": x, "ci95_low": x - 0.3, "ci95_high": x + 0.3}
            for o, x in (("brs", g), ("cbi_work", -g))]  # fmt: skip
    write(root, "change", "between_arms", arms)
    if adjusted:
        rows = [{"outcome": o, "estimand": "ato", "n_a": 60, "n_b": 40, "clusters": 48, "estimate": 0.3, "se": 0.1,
                 "df": 47, "p": 0.004, "ci95_low": 0.1, "ci95_high": 0.5, "std_estimate": s, "std_ci95_low": s - 0.25,
                 "std_ci95_high": s + 0.25, "ess_a": 55.2, "ess_b": 36.1, "max_abs_smd": 0.0, "balance_ok": True,
                 "evalue": 2.21, "evalue_ci": 1.42, "converged": True, "primary_estimate": True, "family": "primary",
                 "p_adj": 0.008, "p_method": "holm", "reject": True, "note": ""}
                for o, s in (("brs", std), ("cbi_work", -std))]  # fmt: skip
        write(root, "change", "adjusted", rows)
        balance = [{"outcome": o, "covariate": c, "smd_unweighted": 0.3, "smd_weighted": 0.0,
                    "variance_ratio_unweighted": 1.1, "variance_ratio_weighted": 1.0, "imbalanced": False,
                    "smallest_cell": n} for o in ("brs", "cbi_work")
                   for c, n in (("pre", float("nan")), ("training_year", float("nan")), ("treated_before", 3.0))]  # fmt: skip
        write(root, "change", "balance", balance)
    return root


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_self_selected_study_reports_an_association_never_that_intervisie_helps(tmp_path: Path, lang: str) -> None:
    design = make_design(comparison=True, waves=WAVES, programmes=["coschappen"], covariates=(YEAR,))
    text = plain(board.answer(Results(_results(tmp_path / "r")), design, lang))
    assert "helpt" not in text and "helps" not in text.split("too small")[0]
    first = text.split("\n")[0]
    assert first.startswith("**Samenhang gevonden.**" if lang == "nl" else "**Associated with improvement.**")
    assert ("Na correctie voor verschillen bij de start" if lang == "nl" else "After adjusting for differences") in first
    # the adjusted estimate in SD units is printed, not the unadjusted g
    assert "0,40 SD" in text if lang == "nl" else "0.40 SD" in text
    assert "g = 0" not in text
    # the E-value in one plain sentence
    assert ("2,2 (1,4) na 3 maanden" if lang == "nl" else "2.2 (1.4) after 3 months") in text
    assert ("E-waarde" if lang == "nl" else "E-value") in text


def test_randomised_study_keeps_the_causal_lead_and_hedges_g(tmp_path: Path) -> None:
    design = make_design(comparison=True, waves=WAVES, programmes=["coschappen"], assignment="randomised")
    text = plain(board.answer(Results(_results(tmp_path / "r")), design, "en"))
    assert text.startswith("**Yes: intervisie helps.**") and "g = 0.50" in text and "E-value" not in text


def test_without_the_adjusted_table_the_lead_says_it_is_unadjusted(tmp_path: Path) -> None:
    design = make_design(comparison=True, waves=WAVES, programmes=["coschappen"])
    text = plain(board.answer(Results(_results(tmp_path / "r", adjusted=False)), design, "en"))
    assert text.startswith("**Associated with improvement.** Without adjusting for differences at the start")
    assert "helps" not in text.split("\n")[0]


def test_caveats_name_what_was_adjusted_for_and_what_remains(tmp_path: Path) -> None:
    design = make_design(comparison=True, waves=WAVES, programmes=["coschappen", "anios"], covariates=(YEAR,))
    text = board.caveats(design, "en")
    assert "the baseline score, the programme and year of training" in text
    assert "not a proven effect" in text and "do not count" not in text


def test_effects_table_and_multiplicity_follow_the_adjusted_estimate(tmp_path: Path) -> None:
    design = make_design(comparison=True, waves={"t0": 0, "t1": 3}, programmes=["coschappen"])
    res = Results(_results(tmp_path / "r"))
    table = plain(board_tables.effects_table(res, design, "en"))
    assert "The differences between the groups in one table" in table and "0.40 [0.15, 0.65]" in table
    assert "adjusted for differences at the start (weighting and regression on the baseline score)" in table
    sentence = board_tables.multiplicity(res, design, "en")
    assert "the differences after 3 months hold for the primary outcomes" in sentence and "(2 of 2)" in sentence


def test_methods_section_shows_adjusted_beside_unadjusted_and_hides_small_balance_rows(tmp_path: Path) -> None:
    design = make_design(comparison=True, waves=WAVES, programmes=["coschappen"], covariates=(YEAR, TREATED))
    text = plain(confounding.adjustment(Results(_results(tmp_path / "r")), design))
    assert "Participants chose to join intervisie" in text and "overlap weights" in text
    assert "| 0.40 [0.15, 0.65] |" in text and "| 0.50 [0.20, 0.80] |" in text  # adjusted SD units, unadjusted g
    assert "2.21 (1.42)" in text and "55.2 / 36.1" in text
    assert "year of training" in text
    rows = [line for line in text.splitlines() if line.startswith("| treated before")]
    assert rows and all("0.30" not in r and "1.10" not in r for r in rows)  # 3 people in a cell: hidden
    year = [line for line in text.splitlines() if line.startswith("| year of training")]
    assert year and "0.30" in year[0]


def test_methods_section_of_a_randomised_study_calls_the_adjustment_a_check(tmp_path: Path) -> None:
    design = make_design(comparison=True, waves=WAVES, programmes=["coschappen"], assignment="cluster_randomised")
    text = plain(confounding.adjustment(Results(_results(tmp_path / "r")), design))
    assert text.startswith("Groups were allocated") and "sensitivity analysis" in text


def test_single_arm_study_has_nothing_to_adjust(tmp_path: Path) -> None:
    design = make_design(comparison=False, waves=WAVES, programmes=["coschappen"])
    text = confounding.adjustment(Results(_results(tmp_path / "r")), design)
    assert "no comparison group" in text
