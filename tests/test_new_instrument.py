"""A methodologist adds an instrument by writing one YAML file: no code changes.

The test copies the instrument library and the mini study to a temporary project, adds the
WHO-5 Well-Being Index (public domain; Topp et al. 2015, Psychother Psychosom 84:167-176:
five items 0-5, raw sum x 4 = 0-100 percentage score), maps its columns in study.yaml and
runs the installed ``intervisie`` command, exactly as ``dvc repro`` does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from numpy.testing import assert_allclose

from pipeline.pseudonymise import pseudonym

ROOT = Path(__file__).parents[1]
INTERVISIE = Path(sys.executable).parent / "intervisie"

WHO5 = """\
id: who5
version: "1.0"
name: {nl: WHO-5 Welbevinden Index, en: WHO-5 Well-Being Index}
construct: well-being
citation: >-
  Topp CW, Ostergaard SD, Sondergaard S, Bech P. The WHO-5 Well-Being Index: a systematic review
  of the literature. Psychother Psychosom. 2015;84(3):167-176. doi:10.1159/000376585
licence: Public domain (WHO); only short labels are stored.
occasion: wave
response_sets:
  freq6:
    min: 0
    max: 5
    labels:
      0: {nl: Nooit, en: At no time}
      1: {nl: Af en toe, en: Some of the time}
      2: {nl: Minder dan de helft van de tijd, en: Less than half of the time}
      3: {nl: Meer dan de helft van de tijd, en: More than half of the time}
      4: {nl: Het grootste deel van de tijd, en: Most of the time}
      5: {nl: De hele tijd, en: All of the time}
    missing_codes: [99, -9, "n.v.t."]
items:
  - {id: who5_1, label: {nl: opgewekt, en: cheerful}}
  - {id: who5_2, label: {nl: rustig, en: calm}}
  - {id: who5_3, label: {nl: actief, en: active}}
  - {id: who5_4, label: {nl: uitgerust wakker, en: rested}}
  - {id: who5_5, label: {nl: interessante dingen, en: interesting daily life}}
scales:
  - id: who5
    name: {nl: Welbevinden, en: Well-being}
    items: [who5_1, who5_2, who5_3, who5_4, who5_5]
    method: pomp
    min_items: 5
    direction: higher_better
    cutoffs:
      - {operator: "<=", threshold: 50, label: {nl: screen op depressie, en: screen for depression}, source: "Topp et al. 2015"}
"""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(INTERVISIE), *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_a_new_instrument_file_is_checked_ingested_and_scored(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "instruments", project / "instruments")
    shutil.copytree(ROOT / "tests" / "fixtures" / "mini", project / "data_raw" / "mini")
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    (project / "instruments" / "who5.yaml").write_text(WHO5, encoding="utf-8")

    # the study's t1 export gains five columns, and study.yaml maps them
    survey = project / "data_raw" / "mini" / "survey_t1.csv"
    lines = survey.read_text(encoding="utf-8").splitlines()
    extra = ["who1,who2,who3,who4,who5", "5,4,3,2,1", "0,0,0,0,0", ",,,,", "3,3,3,3,3"]
    survey.write_text("\n".join(f"{a},{b}" for a, b in zip(lines, extra, strict=True)) + "\n", encoding="utf-8")
    study_path = project / "data_raw" / "mini" / "study.yaml"
    study = yaml.safe_load(study_path.read_text(encoding="utf-8"))
    study["surveys"][1]["items"]["who5"] = "who{n}"
    study_path.write_text(yaml.safe_dump(study, sort_keys=False, allow_unicode=True), encoding="utf-8")

    checked = _run("instruments", "check", "instruments", cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "11 instrument file(s) checked" in checked.stdout

    ingest = _run("ingest", "--study", "data_raw/mini/study.yaml", "--out", "data_clean", cwd=project)
    assert ingest.returncode == 0, ingest.stderr
    score = _run("score", "--clean", "data_clean", "--out", "data_clean/scale_scores.parquet",
                 "--dictionary", "data_clean/data_dictionary.csv", cwd=project)
    assert score.returncode == 0, score.stderr

    scores = pd.read_parquet(project / "data_clean" / "scale_scores.parquet")
    who5 = scores[scores["scale"] == "who5"]
    key = b"DEMO-ONLY-test-key-for-the-mini-study-fixture"
    # P001 and P004 have clean t1 rows (t7 is an unknown wave, P003 answered nothing):
    # P001 5+4+3+2+1 = 15 -> x4 = 60 (pomp: mean 3 on 0..5 -> 60); P004 3 x 5 = 15 -> 60
    assert who5["participant"].tolist() == [pseudonym(key, "participant", p) for p in ("P001", "P004")]
    assert_allclose(who5["score"].to_numpy(), [60.0, 60.0], rtol=0, atol=1e-12)
    dictionary = pd.read_csv(project / "data_clean" / "data_dictionary.csv")
    levels = dictionary.loc[dictionary["column"] == "scale", "levels"].iloc[0]
    assert "who5" in levels.split("|")
    assert not np.isnan(who5["score"]).any()


def test_a_broken_new_instrument_stops_the_run_naming_file_and_line(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "instruments", project / "instruments")
    shutil.copytree(ROOT / "tests" / "fixtures" / "mini", project / "data_raw" / "mini")
    broken = WHO5.replace("items: [who5_1, who5_2, who5_3, who5_4, who5_5]", "items: [who5_1, who5_6]")
    (project / "instruments" / "who5.yaml").write_text(broken, encoding="utf-8")
    result = _run("ingest", "--study", "data_raw/mini/study.yaml", "--params", str(ROOT / "params.yaml"),
                  "--out", "data_clean", cwd=project)
    assert result.returncode == 2
    assert "who5.yaml:" in result.stderr and "'who5_6' is not an item" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "data_clean").exists()
