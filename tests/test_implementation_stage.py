"""The implementation stage's parameters are checked against the design before any model is fitted."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from intervisie.stages.implementation import run_implementation
from pipeline.errors import InputError
from tests.synthetic_study import write_study

ROOT = Path(__file__).parents[1]


def _params(tmp_path: Path, change) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    change(params["analyses"])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("study") / "clean"
    write_study(out)
    return out


def test_unknown_key_is_named(tmp_path: Path, clean: Path) -> None:
    path = _params(tmp_path, lambda a: a["implementation"].update(outcome=["brs"]))
    with pytest.raises(InputError, match=r"analyses\.implementation\.outcome: Extra inputs"):
        run_implementation(clean, ROOT / "instruments", path, tmp_path / "out", lambda _m: None)


def test_outcome_outside_the_design_is_named(tmp_path: Path, clean: Path) -> None:
    path = _params(tmp_path, lambda a: a["implementation"].update(outcomes=["no_such_scale"]))
    with pytest.raises(InputError, match=r"analyses\.implementation\.outcomes: 'no_such_scale' is not an outcome"):
        run_implementation(clean, ROOT / "instruments", path, tmp_path / "out", lambda _m: None)


def test_ratings_belong_to_the_study_not_the_params(tmp_path: Path, clean: Path) -> None:
    path = _params(tmp_path, lambda a: a["implementation"].update(ratings={"coach_quality": "coach_quality"}))
    with pytest.raises(InputError, match=r"analyses\.implementation\.ratings: part of the study's design"):
        run_implementation(clean, ROOT / "instruments", path, tmp_path / "out", lambda _m: None)
