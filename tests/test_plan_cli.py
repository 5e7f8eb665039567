"""``intervisie plan`` on the command line: a small plan in this process, and bad input as exit code 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from intervisie.cli import cli, main

pytestmark = pytest.mark.skipif("plan" not in cli.commands, reason="intervisie plan is not wired into the CLI")

PLAN = """\
seed: 3
replicates: 2
waves_months: [0, 3]
grid: {groups_per_arm: [4], group_size: [5], effect_short: [0.0, 0.5]}
"""


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_file_in_this_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN, encoding="utf-8")
    code, out, err = _run(["plan", "--plan", str(tmp_path / "plan.yaml"), "--out", str(tmp_path / "out"),
                           "--workers", "0"], capsys)  # fmt: skip
    assert code == 0, err
    assert "power.csv" in out
    power = pd.read_csv(tmp_path / "out" / "power.csv")
    assert power["n_studies"].tolist() == [2, 2]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (PLAN.replace("group_size: [5]", "group_size: [1]"), "grid.group_size"),
        (PLAN + "attrition: {per_wave: [0.1, 0.1]}\n", "attrition.per_wave"),
    ],
)
def test_bad_plan_file_is_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: str
) -> None:
    (tmp_path / "plan.yaml").write_text(text, encoding="utf-8")
    code, _out, err = _run(["plan", "--plan", str(tmp_path / "plan.yaml"), "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    assert words in err and "internal error" not in err


def test_plan_needs_a_plan_or_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(["plan", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert "--plan" in err


def test_from_missing_results_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("plan:\n  seed: 1\n  replicates: 2\n  grid: {groups_per_arm: [4], group_size: [5], effect_short: [0.3]}\n",
                      encoding="utf-8")  # fmt: skip
    code, _out, err = _run(["plan", "--from-results", str(tmp_path / "results"), "--params", str(params),
                            "--out", str(tmp_path / "out")], capsys)  # fmt: skip
    assert code == 2
    assert "missing" in err
