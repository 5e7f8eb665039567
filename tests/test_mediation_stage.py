"""The mediation stage (intervisie/stages/mediation.py) on small synthetic designs: estimates and skips."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from analyses.mediation import EFFECTS
from intervisie.stages.mediation import MEDIATION_COLUMNS, default_mediators, run_mediation
from pipeline.design import ScaleInfo
from pipeline.errors import InputError
from tests.design_factory import make_test_design
from tests.small_study import SCALES, small_design, write_study


def _params(tmp: Path, mediation: dict | None) -> Path:
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump({"analyses": {"mediation": mediation or {}}}), encoding="utf-8")
    return path


def _study(tmp: Path, waves: dict[str, float], arms: list[str], *, groups: bool = True) -> Path:
    design = small_design(waves=waves, programmes=["p1", "p2"], arms=arms)
    if not groups:
        design = design.model_copy(update={"data": design.data.model_copy(update={"groups": False})})
    n = {(arm, prog): 25 for arm in arms for prog in ("p1", "p2")}
    write_study(tmp / "clean", design, n=n, change={"intervisie": 0.4, "comparison": 0.0}, seed=3)
    return tmp / "clean"


def _run(tmp: Path, clean: Path, mediation: dict | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = tmp / "results"
    run_mediation(clean, _params(tmp, mediation), out, lambda _m: None)
    return pd.read_csv(out / "mediation.csv"), pd.read_csv(out / "skipped.csv")


def test_stage_estimates_every_later_wave_and_is_deterministic(tmp_path: Path) -> None:
    clean = _study(tmp_path, {"w0": 0, "w1": 3, "w2": 12, "w3": 24}, ["intervisie", "comparison"])
    choice = {"mediators": ["brs"], "outcomes": ["cbi_work"], "draws": 2000, "seed": 4}
    table, skipped = _run(tmp_path, clean, choice)
    assert list(table.columns) == MEDIATION_COLUMNS
    assert sorted(set(table["wave"])) == ["w2", "w3"] and list(table["effect"][:6]) == list(EFFECTS)
    assert table["estimate"].notna().all() and skipped.empty
    assert (table["weighting"] == "ato").all()  # self-selected: the adjusted analysis' propensity weights
    assert not table["note"].fillna("").str.contains("no intervisie groups").any()
    first = (tmp_path / "results" / "mediation.csv").read_bytes()
    _run(tmp_path, clean, choice)
    assert (tmp_path / "results" / "mediation.csv").read_bytes() == first


@pytest.mark.parametrize(
    ("waves", "arms", "reason"),
    [
        ({"w0": 0, "w1": 3, "w2": 12}, ["intervisie"], "no comparison cohort"),
        ({"w0": 0, "w1": 3}, ["intervisie", "comparison"], "no wave after the short-term wave"),
    ],
)
def test_stage_skips_with_a_reason(tmp_path: Path, waves: dict, arms: list[str], reason: str) -> None:
    clean = _study(tmp_path, waves, arms)
    table, skipped = _run(tmp_path, clean, {"mediators": ["brs"], "outcomes": ["cbi_work"], "draws": 1000})
    assert table.empty and skipped["reason"].str.contains(reason).any()


def test_default_mediator_comes_from_the_design_and_unknown_names_are_input_errors(tmp_path: Path) -> None:
    clean = _study(tmp_path, {"w0": 0, "w1": 3, "w2": 12}, ["intervisie", "comparison"])
    table, skipped = _run(tmp_path, clean, None)  # this design measures no reflection scale
    assert table.empty and skipped["reason"].str.contains("no mediator").any()
    design = small_design(waves={"w0": 0, "w1": 3}, programmes=["p1"], arms=["intervisie"])
    assert default_mediators(design) == []
    reflection = ScaleInfo(id="refl_total", instrument="gras", name_nl="r", name_en="r", higher_is_better=True,
                           occasion="wave", min=23, max=115)  # fmt: skip
    with_reflection = make_test_design(waves={"w0": 0, "w1": 3}, programmes=["p1"], comparison=True,
                                       scales={**SCALES, "refl_total": reflection}, primary=["brs"])  # fmt: skip
    assert default_mediators(with_reflection) == ["refl_total"]
    with pytest.raises(InputError, match=r"analyses\.mediation\.mediators: 'gras'"):
        _run(tmp_path, clean, {"mediators": ["gras"]})
    with pytest.raises(InputError, match=r"analyses\.mediation\.draws"):
        _run(tmp_path, clean, {"draws": 10})


def test_a_study_without_groups_says_its_errors_are_not_clustered(tmp_path: Path) -> None:
    clean = _study(tmp_path, {"w0": 0, "w1": 3, "w2": 12}, ["intervisie", "comparison"], groups=False)
    table, _ = _run(tmp_path, clean, {"mediators": ["brs"], "outcomes": ["cbi_work"], "draws": 1000})
    assert table["estimate"].notna().all() and table["note"].str.contains("no intervisie groups").all()
    assert (table["clusters"] == table["n"]).all()  # every participant a cluster of one
