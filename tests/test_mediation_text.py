"""The mediation section of the methods appendix and the board sentence (reporting/mediation_text.py)."""

from __future__ import annotations

from pathlib import Path

from analyses.mediation import EFFECTS
from reporting import mediation_text
from reporting.publish import Publication, plain
from reporting.results import Results
from tests.report_fixtures import make_design, write

WAVES = {"t0": 0, "t1": 3, "t2": 12}
VALUES = {"a": (2.5, 1.0, 4.0), "b": (-0.4, -0.6, -0.2), "indirect": (-1.0, -1.9, -0.3),
          "direct": (-3.0, -5.0, -1.0), "total": (-4.0, -6.0, -2.0), "proportion": (0.25, 0.08, 0.6)}  # fmt: skip


def _results(root: Path, *, n_b: int = 40) -> Results:
    arms = [{"outcome": o, "programme": "all", "level_a": "intervisie", "level_b": "comparison", "n_a": 60, "n_b": 40,
             "mean_a": 0.2, "mean_b": 0.0, "mean_diff": 0.2, "d": 0.5, "g": 0.5, "ci95_low": 0.2, "ci95_high": 0.8}
            for o in ("brs", "cbi_work", "gras")]  # fmt: skip
    write(root, "change", "between_arms", arms)
    rows = [{"mediator": "gras", "outcome": "cbi_work", "wave": "t2", "effect": e, "estimate": VALUES[e][0],
             "se": 0.5, "df": 30.0, "p": 0.01, "ci95_low": VALUES[e][1], "ci95_high": VALUES[e][2],
             "method": "t", "n": 60 + n_b, "n_a": 60, "n_b": n_b, "clusters": 52, "weighting": "ato", "vcov": "CR2",
             "draws": 20000, "note": "", "seed": 1} for e in EFFECTS]  # fmt: skip
    write(root, "mediation", "mediation", rows)
    return Results(root)


def test_section_prints_every_effect_with_its_interval_and_the_assumption(tmp_path: Path) -> None:
    design = make_design(comparison=True, waves=WAVES, programmes=["coschappen"])
    res = _results(tmp_path / "r")
    text = plain(mediation_text.mediation(res, design, Publication.build(res, design)))
    for cell in ("2.50 [1.00, 4.00]", "−0.400 [−0.600, −0.200]", "−1.00 [−1.90, −0.30]", "−3.00 [−5.00, −1.00]",
                 "−4.00 [−6.00, −2.00]", "0.25 [0.08, 0.60]"):  # fmt: skip
        assert cell in text
    assert "nothing unmeasured drives both the mediator's change and the outcome's change" in text
    assert "overlap weights" in text and "Preacher & Selig 2012" in text and "20000" in text


def test_rows_about_fewer_than_min_cell_people_are_hidden(tmp_path: Path) -> None:
    design = make_design(comparison=True, waves=WAVES, programmes=["coschappen"])
    res = _results(tmp_path / "r", n_b=3)
    text = plain(mediation_text.mediation(res, design, Publication.build(res, design)))
    assert "2.50" not in text and "0.25 [" not in text and text.count("×") >= len(EFFECTS)
    assert "×" in plain(mediation_text.board_sentence(res, design, Publication.build(res, design), "en"))


def test_board_sentence_follows_the_design_and_the_interval(tmp_path: Path) -> None:
    res = _results(tmp_path / "r")
    chosen = make_design(comparison=True, waves=WAVES, programmes=["coschappen"])
    text = plain(mediation_text.board_sentence(res, chosen, Publication.build(res, chosen), "en"))
    assert text.startswith("Mechanism: part of the association appears to run through the change in")
    assert "−1.00 [−1.90, −0.30]" in text and "nothing unmeasured" in text
    randomised = make_design(comparison=True, waves=WAVES, programmes=["coschappen"], assignment="randomised")
    nl = plain(mediation_text.board_sentence(res, randomised, Publication.build(res, randomised), "nl"))
    assert nl.startswith("Werkingsmechanisme: een deel van het effect lijkt") and "−1,00 [−1,90; −0,30]" in nl
    assert mediation_text.board_sentence(Results(tmp_path / "empty"), chosen, Publication.build(res, chosen), "en") == ""
