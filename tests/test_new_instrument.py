"""A methodologist adds an outcome instrument with one YAML file (plus the study's column mapping).

The test builds a temporary project from a copy of the instrument library *without* the WHO-5
Well-Being Index and the mini study, then does what a user does: drops ``instruments/who5.yaml``
in (the shipped file: Topp et al. 2015, Psychother Psychosom 84:167-176; five items 0-5, raw sum
x 4 = 0-100), maps its columns in ``study.yaml`` and names it an outcome there.  With no other
file changed, the installed ``intervisie`` command checks the file (and its hand-worked sheets),
ingests and scores it, the design names it with its abbreviation and direction, and the Great
Expectations suites generated for the expectations stage carry its answer codes and score range.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from numpy.testing import assert_allclose

from pipeline.expectations import suite_expectations
from pipeline.instruments import load_library
from pipeline.keys import KEY_VARIABLE
from pipeline.pseudonymise import pseudonym
from tests.study_keys import TEST_KEY

ROOT = Path(__file__).parents[1]
INTERVISIE = Path(sys.executable).parent / "intervisie"
NEW = "who5"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, KEY_VARIABLE: TEST_KEY}  # the mini study is a hand-made (non-demo) study
    return subprocess.run([str(INTERVISIE), *args], cwd=cwd, capture_output=True, text=True, check=False, env=env)


def _tree_digest(root: Path, skip: set[str]) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and str(p.relative_to(root)) not in skip
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose library lacks WHO-5, with the mini study (two waves, BRS)."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "instruments", project / "instruments", ignore=shutil.ignore_patterns(f"{NEW}.yaml"))
    shutil.copytree(ROOT / "tests" / "fixtures" / "mini", project / "data_raw" / "mini")
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    assert NEW not in load_library(project / "instruments")
    return project


def _add_who5(project: Path) -> None:
    """What the user does: one instrument file, five columns mapped, WHO-5 named an outcome."""
    shutil.copy(ROOT / "instruments" / f"{NEW}.yaml", project / "instruments" / f"{NEW}.yaml")
    survey = project / "data_raw" / "mini" / "survey_t1.csv"
    lines = survey.read_text(encoding="utf-8").splitlines()
    extra = ["who1,who2,who3,who4,who5", "5,4,3,2,1", "0,0,0,0,0", ",,,,", "3,3,3,3,3"]
    survey.write_text("\n".join(f"{a},{b}" for a, b in zip(lines, extra, strict=True)) + "\n", encoding="utf-8")
    study_path = project / "data_raw" / "mini" / "study.yaml"
    study = yaml.safe_load(study_path.read_text(encoding="utf-8"))
    study["surveys"][1]["items"][NEW] = "who{n}"
    study["outcomes"] = {"primary": ["brs"], "secondary": [NEW]}
    study_path.write_text(yaml.safe_dump(study, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_a_new_instrument_file_reaches_scores_design_and_expectations(project: Path) -> None:
    before = _tree_digest(project, skip=set())
    _add_who5(project)
    changed = {k for k, v in _tree_digest(project, skip=set()).items() if before.get(k) != v}
    assert changed == {
        f"instruments/{NEW}.yaml",
        "data_raw/mini/study.yaml",
        "data_raw/mini/survey_t1.csv",  # the study's export, which now holds the answers
    }

    n_files = len(list((project / "instruments").glob("*.yaml")))
    checked = _run("instruments", "check", "instruments", cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{n_files} instrument file(s) checked: no problems." in checked.stdout

    ingest = _run("ingest", "--study", "data_raw/mini/study.yaml", "--out", "data_clean", cwd=project)
    assert ingest.returncode == 0, ingest.stderr
    score = _run(
        "score", "--clean", "data_clean", "--out", "data_clean/scale_scores.parquet",
        "--dictionary", "data_clean/data_dictionary.csv", cwd=project,
    )  # fmt: skip
    assert score.returncode == 0, score.stderr

    # scores: P001 and P004 have clean t1 rows (t7 is an unknown wave, P003 answered nothing):
    # P001 raw 5 + 4 + 3 + 2 + 1 = 15, x 4 = 60; P004 raw 3 x 5 = 15, x 4 = 60
    scores = pd.read_parquet(project / "data_clean" / "scale_scores.parquet")
    who5 = scores[scores["scale"] == NEW]
    key = TEST_KEY.encode()
    assert who5["participant"].tolist() == [pseudonym(key, "participant", p) for p in ("P001", "P004")]
    assert_allclose(who5["score"].to_numpy(), [60.0, 60.0], rtol=0, atol=1e-12)
    assert not np.isnan(who5["score"]).any()
    dictionary = pd.read_csv(project / "data_clean" / "data_dictionary.csv")
    assert NEW in dictionary.loc[dictionary["column"] == "scale", "levels"].iloc[0].split("|")

    # the design: names (with the abbreviation) and direction come from the instrument file
    design_run = _run(
        "design", "--study", "data_raw/mini/study.yaml", "--instruments", "instruments",
        "--params", "params.yaml", "--out", "data_clean/design.json", cwd=project,
    )  # fmt: skip
    assert design_run.returncode == 0, design_run.stderr
    design = json.loads((project / "data_clean" / "design.json").read_text(encoding="utf-8"))
    scale = design["scales"][NEW]
    assert (scale["name_nl"], scale["name_en"]) == ("Welbevinden (WHO-5)", "Well-being (WHO-5)")
    assert scale["higher_is_better"] is True and design["secondary"] == [NEW]

    # the expectations stage's suites (generated from the library on every run) know WHO-5
    suites = suite_expectations(load_library(project / "instruments"))
    rules = {e.meta["rule"] for table in ("item_responses", "scale_scores") for e in suites[table]}
    assert f"instruments/{NEW}.yaml: answer codes 0..5" in rules
    assert f"instruments/{NEW}.yaml: {NEW} (sum) in 0..100" in rules
    levels = next(
        e for e in suites["scale_scores"] if getattr(e, "column", None) == "scale" and e.meta["source"] == "instruments"
    )
    assert NEW in levels.value_set


def test_the_library_without_the_new_file_has_no_trace_of_it(project: Path) -> None:
    """The counterfactual of the test above: before the file is added, nothing knows WHO-5."""
    suites = suite_expectations(load_library(project / "instruments"))
    assert not any(NEW in e.meta["rule"] for table in suites.values() for e in table)


def test_a_broken_new_instrument_stops_the_run_naming_file_and_line(project: Path) -> None:
    text = (ROOT / "instruments" / f"{NEW}.yaml").read_text(encoding="utf-8")
    broken = text.replace("items: [who5_1, who5_2, who5_3, who5_4, who5_5]", "items: [who5_1, who5_6]")
    assert broken != text
    (project / "instruments" / f"{NEW}.yaml").write_text(broken, encoding="utf-8")
    result = _run("ingest", "--study", "data_raw/mini/study.yaml", "--out", "data_clean", cwd=project)
    assert result.returncode == 2
    assert "who5.yaml:" in result.stderr and "'who5_6' is not an item" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "data_clean").exists()


def test_the_design_range_of_a_transformed_score_is_the_published_range(project: Path) -> None:
    from pipeline.design import build_design
    from pipeline.study import load_study

    _add_who5(project)
    design = build_design(
        load_study(project / "data_raw" / "mini" / "study.yaml"), load_library(project / "instruments")
    )
    scale = design.scales[NEW]
    assert (scale.min, scale.max) == (0.0, 100.0)  # Topp et al. 2015: percentage score 0-100
