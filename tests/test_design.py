"""The study's design, declared once in study.yaml and checked with the instruments and params.yaml.

Known answers are the designs themselves: for each variant of the demo's study.yaml the resolved
design (baseline, knot, arms, growth formula, effect terms) is what the declaration says, and every
configuration mistake is an input error naming the key, the value and what exists.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from intervisie.choices import resolve_analyses
from intervisie.stages.common import AnalysisParams
from intervisie.stages.design import run_design
from pipeline.design import build_design, load_design
from pipeline.errors import InputError
from pipeline.instruments import load_library
from pipeline.study import Study

ROOT = Path(__file__).parents[1]
DEMO = yaml.safe_load((ROOT / "data_raw" / "demo" / "study.yaml").read_text(encoding="utf-8"))
PARAMS = ROOT / "params.yaml"


@pytest.fixture(scope="module")
def library() -> dict:
    return load_library(ROOT / "instruments")


def pilot(**design: object) -> dict:
    """A two-wave, single-arm, one-programme study with BRS and CBI only (the common pilot)."""
    study = copy.deepcopy(DEMO)
    study["study"] = {"id": "pilot", "title": "Pilot intervisie huisartsen", "demo": False}
    study["waves"] = {"pre": {"label_nl": "Voor", "label_en": "Before", "months": 0},
                      "post": {"label_nl": "Na 6 maanden", "label_en": "After 6 months", "months": 6}}
    study["programmes"] = {"huisarts": {"label_nl": "huisartsen in opleiding", "label_en": "GP trainees",
                                        "values": ["HAIO"]}}
    study["design"] = {"comparison": False, **design}
    study["outcomes"] = {"primary": ["brs"], "secondary": ["cbi_work"]}
    roster = study["roster"]
    roster["columns"] = {k: v for k, v in roster["columns"].items() if k not in ("arm", "end_date", "format")}
    roster["values"] = {k: v for k, v in roster["values"].items() if k == "consent"}
    del study["sessions"], study["attendance"]
    study["surveys"] = [
        {"file": "pre.csv", "format": "csv", "wave": "pre", "columns": {"participant_id": "id"},
         "items": {"brs": "BRS_{n}", "cbi": "CBI_{n}"}},
        {"file": "post.csv", "format": "csv", "wave": "post", "columns": {"participant_id": "id"},
         "items": {"brs": "BRS_{n}", "cbi": "CBI_{n}"}},
    ]
    return study


def test_the_demo_design(library: dict) -> None:
    design = build_design(Study.model_validate(DEMO), library)
    assert design.wave_ids == ["t0", "t1", "t2", "t3"]
    assert (design.baseline, design.short_term, design.knot_months, design.long_term) == ("t0", "t1", 3.0, True)
    assert design.programme_ids == ["coschappen", "anios", "buitenlandse_artsen"]  # declared order: reference first
    assert design.has_comparison and design.several_programmes
    assert design.growth_fixed() == "y ~ programme * (short + long) + arm * (short + long)"
    assert design.effect_terms() == ["short:armintervisie", "long:armintervisie"]
    assert design.moderation_terms() == "programme:arm:short + programme:arm:long"
    assert design.scales["cbi_work"].higher_is_better is False
    assert design.scales["brs"].name_nl == "Veerkracht (BRS)"
    assert (design.scales["cbi_work"].min, design.scales["cbi_work"].max) == (0.0, 100.0)
    assert (design.scales["brs"].min, design.scales["brs"].max) == (1.0, 5.0)
    assert design.data.sessions and design.data.leaving_dates


def test_a_pilot_design_has_no_comparison_no_long_term_and_no_moderation(library: dict) -> None:
    design = build_design(Study.model_validate(pilot()), library)
    assert not design.has_comparison and not design.long_term and not design.several_programmes
    assert design.knot_months == 6.0
    assert design.growth_fixed() == "y ~ short"
    assert design.effect_terms() == ["short"]
    assert design.moderation_terms() is None
    assert not design.data.sessions and not design.data.leaving_dates and not design.data.format
    assert sorted(design.scales) == ["brs", "cbi_patient", "cbi_personal", "cbi_work"]
    resolved = resolve_analyses({"growth": {}}, design, PARAMS)
    params = AnalysisParams(design=design, **resolved)
    assert params.waves == ["pre", "post"] and params.knot_months == 6.0
    assert resolved["survival"]["km_by"] == [] and resolved["survival"]["caseness"]["scale"] == "cbi_work"
    assert resolved["survival"]["caseness"]["threshold"] == 50
    assert resolved["implementation"]["outcomes"] == ["brs"]
    assert resolved["implementation"]["fixed"] == "y ~ short"


def test_three_waves_at_other_months_and_a_declared_short_term_wave(library: dict) -> None:
    study = pilot(short_term="mid")
    study["waves"]["mid"] = {"label_nl": "2 maanden", "label_en": "2 months", "months": 2}
    study["surveys"].append({**study["surveys"][0], "file": "mid.csv", "wave": "mid"})
    study["programmes"]["zorg"] = ["Zorg"]
    design = build_design(Study.model_validate(study), library)
    assert design.wave_ids == ["pre", "mid", "post"] and design.knot_months == 2.0 and design.long_term
    assert design.growth_fixed() == "y ~ programme + short + long"
    assert design.growth_fixed(arms=False) == "y ~ programme + short + long"
    assert design.moderation_terms() == "programme:short + programme:long"
    assert design.programme("zorg").label_nl == "zorg"  # no display names given: the id, readable


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("outcomes"), "`outcomes:` is missing"),
        (lambda s: s.update(outcomes={"primary": ["no_such_scale"]}), "outcomes.primary: 'no_such_scale' is not a scale"),
        (lambda s: s.update(outcomes={"primary": ["gras"]}), "outcomes.primary: 'gras' is not measured at the waves"),
        (lambda s: s["design"].update(baseline="t0"), "design.baseline: 't0' is not a wave of the study"),
        (lambda s: s["design"].update(ratings={"safety": "psysafety"}), "design.ratings.safety: 'psysafety'"),
        (lambda s: s["design"].update(comparison=True), "roster maps no `arm` column"),
        (lambda s: s.update(waves={"pre": s["waves"]["pre"]}, surveys=s["surveys"][:1]), "at least two waves"),
        (lambda s: s["waves"]["pre"].update(months=1), "must be at 0 months"),
        (lambda s: s["design"].update(baseline="post"), "design.baseline: 'post' must be the first wave"),
    ],
)
def test_design_mistakes_are_input_errors_naming_the_key(library: dict, edit, message: str) -> None:
    study = pilot()
    edit(study)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("[", r"\[")):
        build_design(Study.model_validate(study), library)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"waves": ["t0", "t1"]}, "analyses.waves: part of the study's design now"),
        ({"primary": ["brs"]}, "`outcomes: {primary"),
        ({"growth": {"fixed": "y ~ arm * short"}}, "analyses.growth.fixed: follows from the design"),
        ({"growth": {"random": ["(1 + long | participant)"]}}, "use `long`, but no wave follows"),
        ({"implementation": {"outcomes": ["olbi_exhaustion"]}}, "'olbi_exhaustion' is not an outcome of this study"),
        ({"survival": {"km_by": ["programme"]}}, "analyses.survival.km_by: 'programme' is not a factor"),
        ({"survival": {"caseness": {"scale": "gras"}}}, "caseness.scale: 'gras' is not an outcome"),
        ({"implementation": {"ratings": {}}}, "declare it as `design: {ratings"),
    ],
)
def test_choices_that_name_what_the_study_lacks_are_input_errors(library: dict, section: dict, message: str) -> None:
    design = build_design(Study.model_validate(pilot()), library)
    with pytest.raises(InputError) as caught:
        resolve_analyses(section, design, PARAMS)
    assert message in str(caught.value)
    assert str(PARAMS) in str(caught.value)


def test_design_json_round_trips_byte_for_byte(tmp_path: Path) -> None:
    first = run_design(ROOT / "data_raw" / "demo" / "study.yaml", ROOT / "instruments", PARAMS, tmp_path / "a.json")
    run_design(ROOT / "data_raw" / "demo" / "study.yaml", ROOT / "instruments", PARAMS, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert load_design(tmp_path / "a.json") == first
    (tmp_path / "c.json").write_text('{"study_id": 1}', encoding="utf-8")
    with pytest.raises(InputError, match="run `dvc repro`"):
        load_design(tmp_path / "c.json")
    with pytest.raises(InputError, match="intervisie design --study"):
        load_design(tmp_path / "missing.json")


def test_the_design_command_exits_2_with_the_key_named(tmp_path: Path) -> None:
    study = pilot()
    study["outcomes"] = {"primary": ["brs"], "secondary": ["uwes_vigour"]}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study, allow_unicode=True), encoding="utf-8")
    cli = Path(sys.executable).parent / "intervisie"
    run = subprocess.run([str(cli), "design", "--study", str(tmp_path / "study.yaml"), "--instruments",
                          str(ROOT / "instruments"), "--params", str(PARAMS), "--out", str(tmp_path / "d.json")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2, run.stderr
    assert "outcomes.secondary: 'uwes_vigour' is not measured at the waves" in run.stderr
    assert "internal error" not in run.stderr and not (tmp_path / "d.json").exists()


def test_two_arms_in_one_programme_name_the_effects_as_r_does(library: dict) -> None:
    """``(short) * arm``: R (and the engine) name the interaction ``short:armintervisie``, the design's effect term."""
    study = pilot(comparison=True)
    study["roster"]["columns"]["arm"] = "Arm"
    design = build_design(Study.model_validate(study), library)
    assert design.growth_fixed() == "y ~ (short) * arm"
    assert design.effect_terms() == ["short:armintervisie"]
    resolved = resolve_analyses({}, design, PARAMS)
    # two scores per person cannot carry a random slope: only random intercepts are tried
    assert resolved["growth"]["random"] == ["(1 | participant) + (1 | group)", "(1 | participant)"]
