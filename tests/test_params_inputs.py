"""params.yaml cannot reach outside the project: report documents live in reports/, formulas must parse.

A ``reports.languages`` key is a document name, so ``../../x/evil`` (a .qmd elsewhere, output
written beside it) is refused when params.yaml is read; a language tag becomes part of a file
name, so it is checked too.  A growth-model random part that does not parse is an input error
naming its key (``analyses.growth.random[i]``), not an internal error in a later stage.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from analyses.mixed.formula import parse_formula
from intervisie.choices import resolve_analyses
from pipeline.config import load_yaml_model
from pipeline.design import build_design
from pipeline.errors import InputError
from pipeline.instruments import load_library
from pipeline.study import Study
from reporting.render import ReportParams, document_path, run_report
from tests.real_study import write_study
from tests.test_study_cli import run

ROOT = Path(__file__).parents[1]
DEMO = yaml.safe_load((ROOT / "data_raw" / "demo" / "study.yaml").read_text(encoding="utf-8"))


def params_file(tmp_path: Path, reports: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"reports": reports}), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("languages", "message"),
    [
        ({"../../x/evil": ["nl"]}, "'../../x/evil' is not the name of a document in reports/"),
        ({"/tmp/evil": ["nl"]}, "is not the name of a document in reports/"),
        ({"sub/board": ["nl"]}, "no folders"),
        ({"board": ["../../x"]}, "'../../x' is not a language tag"),
        ({"board": []}, "name at least one language"),
    ],
)
def test_document_names_and_languages_are_plain(tmp_path: Path, languages: dict, message: str) -> None:
    with pytest.raises(InputError) as info:
        load_yaml_model(params_file(tmp_path, {"languages": languages}), ReportParams, "parameters file", section="reports")
    assert "reports.languages" in str(info.value) and message in str(info.value)


def test_the_shipped_documents_are_accepted() -> None:
    params = load_yaml_model(ROOT / "params.yaml", ReportParams, "parameters file", section="reports")
    for stem in params.languages:
        assert document_path(ROOT / "reports", stem) == ROOT / "reports" / f"{stem}.qmd"


def test_a_document_that_is_not_in_reports_is_refused_before_anything_runs(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "_quarto.yml").write_text("project: {type: default}\n", encoding="utf-8")
    (reports / "board.qmd").write_text("# Board\n", encoding="utf-8")
    outside = tmp_path / "x"
    outside.mkdir()
    (outside / "evil.qmd").write_text("```{python}\nopen('/tmp/pwned', 'w')\n```\n", encoding="utf-8")
    (reports / "evil.qmd").symlink_to(outside / "evil.qmd")  # a link out of reports/
    out = tmp_path / "site"
    for stem, expected in (("missing", "not a document in"), ("evil", "not a document in")):
        params = params_file(tmp_path, {"languages": {stem: ["nl"]}})
        with pytest.raises(InputError, match=expected) as info:
            run_report(tmp_path, reports, out, params, tmp_path / "dvc.lock", lambda _m: None,
                       design_path=tmp_path / "design.json")
        assert "reports.languages" in str(info.value) and "['board'" in str(info.value)
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# growth formulas


@pytest.fixture(scope="module")
def design():
    study = copy.deepcopy(DEMO)
    return build_design(Study.model_validate(study), load_library(ROOT / "instruments"))


@pytest.mark.parametrize(
    ("random", "message"),
    [
        (["(1 + short | participant"], "analyses.growth.random[0]: '(1 + short | participant' is not a formula"),
        (["(1 | participant)", "1 | group"], "analyses.growth.random[1]"),
        (["(1 + | participant)"], "Cannot read the left of '|'"),
        (["(1 | )"], "reads (terms | grouping)"),
        (["(1 | participant) + age"], "adds fixed terms"),
        (["(1 | school)"], "uses ['school'], which the growth data do not have"),
        ([3], "must be random-effect terms written as text"),
    ],
)
def test_a_random_part_that_does_not_parse_names_its_key(design, random: list, message: str) -> None:
    with pytest.raises(InputError) as info:
        resolve_analyses({"growth": {"random": random}}, design, ROOT / "params.yaml")
    assert message in str(info.value)


def test_the_shipped_random_parts_parse(design) -> None:
    resolved = resolve_analyses({}, design, ROOT / "params.yaml")
    for part in resolved["growth"]["random"]:
        parse_formula(f"{design.growth_fixed()} + {part}")


def test_study_check_reports_the_formula_key_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = write_study(tmp_path / "pilot")
    params = tmp_path / "params.yaml"
    params.write_text('analyses:\n  growth: {random: ["(1 | participant"]}\n', encoding="utf-8")
    code, _out, err = run(
        ["study", "check", str(folder), "--instruments", str(ROOT / "instruments"), "--params", str(params)], capsys
    )
    assert code == 2 and "internal error" not in err
    assert "analyses.growth.random[0]" in err
