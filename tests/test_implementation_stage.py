"""The implementation stage's parameters are checked before any data are read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from intervisie.stages.implementation import run_implementation
from pipeline.errors import InputError

ROOT = Path(__file__).parents[1]


def _params(tmp_path: Path, change) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    change(params["analyses"])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


def test_missing_section_is_named(tmp_path: Path) -> None:
    path = _params(tmp_path, lambda a: a.pop("implementation"))
    with pytest.raises(InputError, match=r"analyses\.implementation is missing"):
        run_implementation(tmp_path, ROOT / "instruments", path, tmp_path / "out", lambda _m: None)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = _params(tmp_path, lambda a: a["implementation"].update(outcome=["brs"]))
    with pytest.raises(InputError, match=r"analyses\.implementation\.outcome: Extra inputs"):
        run_implementation(tmp_path, ROOT / "instruments", path, tmp_path / "out", lambda _m: None)


def test_unknown_scale_is_named(tmp_path: Path) -> None:
    path = _params(tmp_path, lambda a: a["implementation"].update(outcomes=["no_such_scale"]))
    (tmp_path / "clean").mkdir()
    with pytest.raises(InputError, match=r"unknown scale\(s\) no_such_scale"):
        run_implementation(tmp_path / "clean", ROOT / "instruments", path, tmp_path / "out", lambda _m: None)
