"""The pure parts of the pipeline benchmark (benchmarks/pipeline.py): dvc.yaml commands, growth exponents, tables.

No timing is asserted here: speed is measured by ``python -m benchmarks pipeline`` (benchmarks/README.md).
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path

import pytest
import yaml

from benchmarks.pipeline import (
    ROOT,
    format_table,
    growth_exponent,
    run_command,
    stage_commands,
    stage_summary,
    study_folder,
    substitute,
)


def test_substitute_scalars_dotted_names_and_booleans() -> None:
    context = {"study": "data_raw/x", "fit": {"seed": 7, "ml": True}, "waves": ["t0", "t1"]}
    text = "run --study ${study}/study.yaml --seed ${fit.seed} --ml ${ fit.ml } --first ${waves.0}"
    assert substitute(text, context) == "run --study data_raw/x/study.yaml --seed 7 --ml true --first t0"


def test_substitute_names_an_undefined_variable_and_refuses_a_mapping() -> None:
    with pytest.raises(KeyError, match=r"\$\{studie\}"):
        substitute("--study ${studie}", {"study": "a"})
    with pytest.raises(ValueError, match=r"\$\{fit\} is not a scalar"):
        substitute("--fit ${fit}", {"fit": {"seed": 1}})


def test_stage_commands_read_params_then_vars_in_order(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("study: from_params\nseed: 3\nother: {n: 9}\n", encoding="utf-8")
    (tmp_path / "more.yaml").write_text("n_max: 50\nunused: 1\n", encoding="utf-8")
    spec = {
        "vars": [{"study": "data_raw/s"}, "more.yaml:n_max"],
        "stages": {
            "first": {"cmd": "tool a --study ${study}/study.yaml\n  --seed ${seed}"},
            "second": {"cmd": ["tool b --n ${other.n}", "tool c --max ${n_max}"]},
        },
    }
    assert stage_commands(spec, tmp_path) == [
        ("first", "tool a --study data_raw/s/study.yaml --seed 3"),
        ("second", "tool b --n 9 && tool c --max 50"),
    ]
    spec["stages"]["third"] = {"cmd": "tool d --u ${unused}"}  # not taken from more.yaml
    with pytest.raises(KeyError, match="unused"):
        stage_commands(spec, tmp_path)
    with pytest.raises(ValueError, match="foreach"):
        stage_commands({"stages": {"many": {"foreach": [1, 2], "do": {"cmd": "x ${item}"}}}}, tmp_path)


def test_stage_commands_of_the_project_dvc_yaml() -> None:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    stages = stage_commands(spec, ROOT)
    assert [name for name, _ in stages] == list(spec["stages"])
    study = next(v["study"] for v in spec["vars"] if isinstance(v, dict) and "study" in v)
    for _name, cmd in stages:
        assert "${" not in cmd and "\n" not in cmd
        assert shlex.split(cmd)  # the shell can split it
    assert study_folder(spec, stages) == study


def test_command_modules_follow_the_subcommand() -> None:
    from benchmarks.pipeline_reference import command_modules

    modules = command_modules(["analyze", "growth", "--clean", "data_clean"])
    assert modules[0] == "intervisie.cli"
    assert "intervisie.stages.growth" in modules
    assert "intervisie.stages.survival" not in modules


def test_growth_exponent_recovers_a_known_power() -> None:
    scales = [1, 5, 20]
    assert growth_exponent(scales, [2.0 * s**1.5 for s in scales]) == pytest.approx(1.5, abs=1e-12)
    assert growth_exponent(scales, [4.0, 4.0, 4.0]) == pytest.approx(0.0, abs=1e-12)
    # least squares through log(1,2,4) vs log(1,3,5): slope by hand
    x, y = [0.0, math.log(2), math.log(4)], [0.0, math.log(3), math.log(5)]
    mx, my = sum(x) / 3, sum(y) / 3
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum((a - mx) ** 2 for a in x)
    assert growth_exponent([1, 2, 4], [1, 3, 5]) == pytest.approx(slope, abs=1e-12)
    assert growth_exponent([1], [3.0]) is None
    assert growth_exponent([1, 5], [2.0, None]) is None  # a failed stage leaves one point
    assert growth_exponent([1, 5, 20], [1.0, None, 20.0]) == pytest.approx(1.0, abs=1e-12)


def _run(scale: float, stages: dict[str, tuple[float, float, int]]) -> dict:
    return {
        "scale": scale,
        "stages": {n: {"wall_s": w, "peak_mib": m, "returncode": rc} for n, (w, m, rc) in stages.items()},
    }


def test_stage_summary_and_table() -> None:
    runs = [
        _run(1, {"ingest": (2.0, 100.0, 0), "growth": (1.0, 200.0, 0), "report": (3.0, 50.0, 0)}),
        _run(4, {"ingest": (8.0, 300.0, 0), "growth": (8.0, 400.0, 0), "report": (3.5, 60.0, 1)}),
    ]
    imports = {"ingest": 0.5, "growth": 1.0, "report": None}
    rows = stage_summary(["ingest", "growth", "report"], runs, imports)
    by = {r["stage"]: r for r in rows}
    assert by["ingest"]["exponent"] == pytest.approx(1.0)
    assert by["ingest"]["flag"] == ""
    assert by["growth"]["exponent"] == pytest.approx(1.5)
    assert by["growth"]["flag"] == "superlinear"
    # less the import time: 0 s at 1x is left out, one point remains
    assert by["growth"]["net_exponent"] is None
    assert by["growth"]["cpu_exponent"] is None  # no CPU times recorded
    assert by["ingest"]["net_exponent"] == pytest.approx(math.log(7.5 / 1.5) / math.log(4), abs=0.01)
    assert by["report"]["wall_s@4x"] is None and by["report"]["peak_mib@4x"] == 60.0
    assert by["report"]["exponent"] is None and by["report"]["flag"] == "exit 1 at 4x"
    table = format_table(rows, [1, 4]).splitlines()
    assert table[0].split(" | ")[:5] == ["stage", "wall s 1x", "MiB 1x", "wall s 4x", "MiB 4x"]
    assert table[3].split(" | ")[:3] == ["growth", "1.0", "200"]
    assert table[4].startswith("report | 3.0 | 50 | - | 60 | - | - | - | exit 1 at 4x")
    total = table[5].split(" | ")
    assert total[:5] == ["total", "6.0", "200", "16.0", "400"]
    # growth of the summed times of the stages that ran at every scale (3 s -> 16 s); imports summed
    assert total[5] == f"{math.log(16 / 3) / math.log(4):.2f}" and total[7] == "1.50"


def test_run_command_records_a_failure_with_its_exit_code_and_stderr(tmp_path: Path) -> None:
    failed = run_command("echo first >&2; echo 'the reason' >&2; exit 3", tmp_path)
    assert failed["returncode"] == 3
    assert failed["stderr_tail"].splitlines()[-1] == "the reason"
    assert failed["peak_mib"] > 0 and failed["wall_s"] >= 0
    done = run_command("python -c 'import sys; sys.exit(0)'", tmp_path)  # the virtual environment's python
    assert done["returncode"] == 0 and "stderr_tail" not in done


def test_reference_table_without_r_leaves_the_r_column_empty_with_the_note() -> None:
    from benchmarks.pipeline_reference import format_reference

    runs = [{"scale": 1.0, "reference": {"outcome": "x", "formula": "y ~ t + (1 | p)", "rows": 40, "engine_s": 0.1}}]
    lines = format_reference(runs, "Rscript not found").splitlines()
    assert lines[2] == "1x | x | 40 | 0.1 | - | - | -"
    assert lines[-2:] == ["model: y ~ t + (1 | p)", "note: Rscript not found; the R column is left empty"]
