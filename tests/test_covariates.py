"""Baseline covariates: declared in study.yaml, read from the roster, kept pseudonymised, bad values reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analyses.data import covariate_frame
from intervisie.stages.ingest import run_ingest
from pipeline.design import build_design
from pipeline.errors import InputError
from pipeline.instruments import load_library
from pipeline.keys import KEY_VARIABLE
from pipeline.study import load_study
from tests.study_keys import TEST_KEY, non_demo

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "fixtures" / "mini"
INSTRUMENTS = ROOT / "instruments"
PARAMS = ROOT / "params.yaml"

COVARIATES = {
    "training_year": {"column": "Jaar", "kind": "numeric", "label_nl": "opleidingsjaar", "label_en": "year of training",
                      "range": [1, 6]},
    "treated_before": {"column": "Eerder", "kind": "binary", "label_nl": "eerder behandeld",
                       "label_en": "treated before", "values": {"true": ["ja"], "false": ["nee"]}},
    "route": {"column": "Route", "kind": "categorical", "label_nl": "route", "label_en": "route",
              "values": {"direct": ["direct"], "werk": ["via werk"]}},
}  # fmt: skip


def _study(tmp: Path, covariates: dict, cells: dict[str, list[object]]) -> Path:
    study = non_demo(Path(shutil.copytree(MINI, tmp / "raw")))
    path = study / "study.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["covariates"] = covariates
    spec.setdefault("outcomes", {"primary": ["brs"]})
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    roster = pd.read_csv(study / "roster.csv", dtype=str)
    for column, values in cells.items():
        roster[column] = (values * len(roster))[: len(roster)]
    roster.to_csv(study / "roster.csv", index=False)
    return path


def _ingest(path: Path, out: Path) -> dict[str, pd.DataFrame]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_VARIABLE, TEST_KEY)
        run_ingest(path, INSTRUMENTS, PARAMS, out, lambda _: None)
    return {n: pd.read_parquet(out / f"{n}.parquet") for n in ("participants", "covariates")} | {
        "issues": pd.read_parquet(out / "quality" / "issues.parquet")
    }


CELLS = {"Jaar": ["3", "9", "x", "2,5", None], "Eerder": ["ja", "nee", "misschien", None, "Ja"],
         "Route": ["direct", "via werk", "DIRECT", "anders", None]}  # fmt: skip


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    tmp = tmp_path_factory.mktemp("cov")
    return _ingest(_study(tmp, COVARIATES, CELLS), tmp / "clean")


def test_every_participant_has_a_row_per_covariate(ingested: dict[str, pd.DataFrame]) -> None:
    people, cov = ingested["participants"], ingested["covariates"]
    assert len(cov) == len(people) * len(COVARIATES)
    assert set(cov["participant"]) == set(people["participant"])
    assert set(cov["covariate"]) == set(COVARIATES)


def test_values_are_read_as_declared_and_bad_ones_set_missing(ingested: dict[str, pd.DataFrame]) -> None:
    cov = ingested["covariates"]
    year = cov[cov["covariate"] == "training_year"]["value"]
    # "3" -> 3, "2,5" (the roster is a comma-separated file with a decimal point) is not a number,
    # "9" lies outside [1, 6], "x" is not a number: only the readable, in-range values remain
    assert set(year.dropna()) == {3.0}
    treated = cov[cov["covariate"] == "treated_before"]["value"]
    assert set(treated.dropna()) == {0.0, 1.0}  # "Ja" matches "ja" case-insensitively; "misschien" is unknown
    route = cov[cov["covariate"] == "route"]["level"]
    assert set(route.dropna()) == {"direct", "werk"}
    assert cov[cov["covariate"] != "route"]["level"].isna().all()


def test_bad_values_are_reported_with_rule_and_never_shown(ingested: dict[str, pd.DataFrame]) -> None:
    issues = ingested["issues"]
    mine = issues[issues["column"].isin(["Jaar", "Eerder", "Route"])]
    rules = set(zip(mine["column"], mine["rule"], strict=True))
    assert ("Jaar", "out_of_range") in rules and ("Jaar", "not_a_number") in rules
    assert ("Eerder", "unknown_value") in rules and ("Route", "unknown_value") in rules
    assert (mine["action"] == "set_missing").all()
    assert not mine["value"].astype(str).str.contains("misschien|anders|9").any()


def test_wide_frame_has_the_declared_columns(ingested: dict[str, pd.DataFrame]) -> None:
    kinds = {name: spec["kind"] for name, spec in COVARIATES.items()}
    wide = covariate_frame(ingested["covariates"], kinds)
    assert list(wide.columns) == ["participant", *COVARIATES]
    assert len(wide) == len(ingested["participants"])
    assert wide["training_year"].dtype == float and str(wide["route"].dtype) == "string"


def test_design_records_the_covariates(tmp_path: Path) -> None:
    path = _study(tmp_path, COVARIATES, CELLS)
    design = build_design(load_study(path), load_library(INSTRUMENTS))
    assert [(c.id, c.kind, c.levels) for c in design.covariates] == [
        ("training_year", "numeric", []), ("treated_before", "binary", ["false", "true"]),
        ("route", "categorical", ["direct", "werk"])]  # fmt: skip


def test_a_study_without_covariates_has_an_empty_table(tmp_path: Path) -> None:
    path = non_demo(Path(shutil.copytree(MINI, tmp_path / "raw"))) / "study.yaml"
    tables = _ingest(path, tmp_path / "clean")
    assert tables["covariates"].empty and list(tables["covariates"].columns) == [
        "participant", "covariate", "value", "level"]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"training_year": {**COVARIATES["training_year"], "values": {"a": ["a"]}}}, "numeric covariate has no"),
        ({"treated_before": {**COVARIATES["treated_before"], "values": {"yes": ["ja"]}}}, "binary covariate needs"),
        ({"arm": COVARIATES["training_year"]}, "is not one of"),
        ({"training_year": {**COVARIATES["training_year"], "column": "Programma"}}, "already roster.columns.programme"),
        ({"route": {**COVARIATES["route"], "column": "Naam"}}, "already roster.identifier_columns"),
    ],
)
def test_a_wrong_declaration_says_what_to_fix(tmp_path: Path, change: dict, message: str) -> None:
    path = _study(tmp_path, change, {})
    with pytest.raises(InputError, match=message):
        load_study(path)


def test_a_declared_column_missing_from_the_roster_stops_ingest(tmp_path: Path) -> None:
    path = _study(tmp_path, {"training_year": COVARIATES["training_year"]}, {})
    with pytest.raises(InputError, match="Jaar"):
        _ingest(path, tmp_path / "clean")
