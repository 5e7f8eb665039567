"""The ``intervisie`` command: its sub-commands, a run on the mini study, and how it reports errors.

Most tests call :func:`intervisie.cli.main` in-process (fast); a few run the installed console
command, to show that it exists and that the exit codes reach the shell.  Errors a user can fix
must end the command with exit code 2 and one paragraph on standard error, without a traceback;
``--debug`` shows the traceback.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from intervisie.cli import cli, main
from pipeline.errors import InputError
from pipeline.pseudonymise import KEY_VARIABLE, pseudonym
from tests.study_keys import key_in_environment  # noqa: F401 (autouse: the mini study's key)
from tests.test_ingest import EXPECTED_ACCOUNTING

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "fixtures" / "mini"
INSTRUMENTS = ROOT / "instruments"
PARAMS = ROOT / "params.yaml"
COMMAND = Path(sys.executable).parent / "intervisie"
SUMMARY = re.compile(r"^43 raw rows: 20 clean, 17 quarantined, 6 excluded \(see .*row_accounting\.csv\)\.$", re.M)
GOOD_KEY = "k3y-for-tests-only-Qm7Zr2Lx9Vb4Tn8Wc5Hd"  # 39 characters, varied enough (pipeline/keys.py)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command line in-process; return (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code: int, out: str, err: str, *needles: str) -> str:
    """Check the shape of an error a user can fix; return its message (from ``error:`` on)."""
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    assert "internal error" not in err
    assert "error: " in err
    message = err[err.index("error: ") :].strip()
    assert "\n\n" not in message  # one paragraph
    for needle in needles:
        assert needle in message, (needle, message)
    return message


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    """A copy of the mini study, free to break."""
    return Path(shutil.copytree(MINI, tmp_path / "study"))


def ingest_args(study: Path, out: Path, instruments: Path = INSTRUMENTS) -> list[str]:
    return [
        "ingest",
        "--study",
        str(study / "study.yaml"),
        "--instruments",
        str(instruments),
        "--params",
        str(PARAMS),
        "--out",
        str(out),
    ]


def real_study(study: Path) -> Path:
    """Turn the copied mini study into a real (non-demo) one, without its published key."""
    path = study / "study.yaml"
    text = path.read_text(encoding="utf-8")
    assert "demo: false" in text or "demo: true" in text
    lines = [line for line in text.splitlines() if "demo_pseudonym_key" not in line]
    path.write_text("\n".join(lines).replace("demo: true", "demo: false") + "\n", encoding="utf-8")
    return study


# --------------------------------------------------------------------------------------------
# help


def test_help_lists_the_sub_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert out.startswith("Usage: intervisie")
    listed = re.findall(r"^  (\S+)\s", out.split("Commands:", 1)[1], re.M)
    assert {"ingest", "score", "instruments", "simulate", "where"} <= set(listed)
    assert set(listed) == set(cli.commands)


SUB_COMMANDS = [[name] for name in sorted(cli.commands)] + [["instruments", "check"]]


@pytest.mark.parametrize("command", SUB_COMMANDS, ids=[" ".join(c) for c in SUB_COMMANDS])
def test_every_sub_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*command, "--help"], capsys)
    assert code == 0, err
    assert out.startswith(f"Usage: intervisie {' '.join(command)}")
    assert "-h, --help" in out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["ingset"], capsys)
    assert code == 2
    assert "No such command 'ingset'" in err
    assert "Traceback" not in err


def test_console_command_is_installed() -> None:
    result = subprocess.run([str(COMMAND), "--help"], capture_output=True, text=True, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for name in ("ingest", "score", "instruments", "simulate", "where"):
        assert re.search(rf"^  {name}\s", result.stdout, re.M), name


# --------------------------------------------------------------------------------------------
# a run on the mini study


def test_ingest_score_where_on_the_mini_study(mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "clean"
    code, out, err = run(ingest_args(mini, out_dir), capsys)
    assert code == 0, err
    assert SUMMARY.search(out), out
    assert "read roster: 10 rows (roster)" in err  # progress goes to stderr, naming sources by role
    assert (out_dir / "participants.parquet").is_file()
    assert (out_dir / "quality" / "row_accounting.csv").is_file()

    scores = out_dir / "scale_scores.parquet"
    dictionary = out_dir / "data_dictionary.csv"
    code, out, err = run(
        ["score", "--clean", str(out_dir), "--instruments", str(INSTRUMENTS), "--out", str(scores),
         "--dictionary", str(dictionary)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    n = len(pd.read_parquet(scores))
    assert n > 0
    assert out.strip() == f"{n} scale scores written to {scores}."
    assert dictionary.is_file()

    code, out, err = run(["where", "--clean", str(out_dir)], capsys)
    assert code == 0, err
    assert out.startswith("Row accounting per raw file")
    expected = EXPECTED_ACCOUNTING  # source: read, clean, quarantined, excluded (worked out in tests/test_ingest.py)
    for name, (read, clean, quarantined, excluded) in expected.items():
        pattern = (
            rf"^\s+{re.escape(name)}\s+{read} read\s+{clean} clean\s+{quarantined} quarantined\s+{excluded} excluded$"
        )
        assert re.search(pattern, out, re.M), (name, out)
    assert f"{out_dir}/" in out
    assert "issues.parquet" in out


def test_where_without_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_user_error(*run(["where", "--clean", str(tmp_path / "nothing")], capsys), "No results", "dvc repro")


def test_where_says_when_the_reports_are_older_than_the_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    clean, results, site = tmp_path / "clean", tmp_path / "results", tmp_path / "site"
    (clean / "quality").mkdir(parents=True)
    (clean / "quality" / "row_accounting.csv").write_text(
        "source_file,rows_read,rows_clean,rows_quarantined,rows_excluded\nroster.csv,1,1,0,0\n", encoding="utf-8"
    )
    (results / "growth").mkdir(parents=True)
    (results / "growth" / "effects.csv").write_text("outcome\n", encoding="utf-8")
    site.mkdir()
    (site / "board.html").write_text("<html></html>", encoding="utf-8")
    args = ["where", "--clean", str(clean), "--results", str(results), "--site", str(site)]
    os.utime(site / "board.html", (2_000_000_000, 2_000_000_000))  # rendered after the results
    code, out, err = run(args, capsys)
    assert code == 0 and "Board report" in out and "older" not in err
    os.utime(results / "growth" / "effects.csv", (2_000_000_100, 2_000_000_100))  # a later run stopped before the report
    code, out, err = run(args, capsys)
    assert code == 0 and "older than the data or results" in err and "make repro" in err


# --------------------------------------------------------------------------------------------
# errors: one paragraph, exit code 2, no traceback


def test_missing_study_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "geen" / "study.yaml"
    code, out, err = run(ingest_args(missing.parent, tmp_path / "out"), capsys)
    assert_user_error(code, out, err, str(missing), "cannot be read")
    assert not (tmp_path / "out").exists()


def test_study_yaml_with_a_typo(mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = mini / "study.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("free_text_columns: [Verslag]", "free_txt_columns: [Verslag]"), encoding="utf-8")
    code, out, err = run(ingest_args(mini, tmp_path / "out"), capsys)
    message = assert_user_error(code, out, err, "is not valid", "sessions.free_txt_columns", "Extra inputs")
    assert str(path) in message


def test_raw_file_that_is_binary(mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (mini / "roster.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    code, out, err = run(ingest_args(mini, tmp_path / "out"), capsys)
    assert_user_error(code, out, err, "roster.csv", "binary")
    assert not (tmp_path / "out").exists()  # nothing is half-written


def test_survey_missing_a_declared_column(mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = mini / "survey_t1.csv"
    rows = [line.split(",") for line in path.read_text(encoding="utf-8").splitlines()]
    drop = rows[0].index("brs4")
    path.write_text("\n".join(",".join(r[:drop] + r[drop + 1 :]) for r in rows) + "\n", encoding="utf-8")
    code, out, err = run(ingest_args(mini, tmp_path / "out"), capsys)
    assert_user_error(code, out, err, "survey_t1.csv", "['brs4']", "not in the file")
    assert not SUMMARY.search(out)


def test_real_study_without_a_key_is_refused(
    mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    code, out, err = run(ingest_args(real_study(mini), tmp_path / "out"), capsys)
    assert_user_error(code, out, err, KEY_VARIABLE, "not the demo study")
    assert not (tmp_path / "out").exists()


def test_demo_key_in_a_real_study_is_refused(mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = mini / "study.yaml"
    text = path.read_text(encoding="utf-8").replace("demo: false", 'demo: false\n  demo_pseudonym_key: "DEMO-ONLY-x"')
    path.write_text(text, encoding="utf-8")
    code, out, err = run(ingest_args(mini, tmp_path / "out"), capsys)
    assert_user_error(code, out, err, "demo_pseudonym_key is allowed only in a demo study")


def test_short_key_is_refused(
    mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "x" * 31)
    code, out, err = run(ingest_args(real_study(mini), tmp_path / "out"), capsys)
    message = assert_user_error(code, out, err, KEY_VARIABLE, "31 characters", "at least 32")
    assert "x" * 31 not in message  # the key itself is never printed
    assert not (tmp_path / "out").exists()


def test_real_study_with_a_proper_key_runs_with_that_key(
    mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, GOOD_KEY)
    out_dir = tmp_path / "out"
    code, out, err = run(ingest_args(real_study(mini), out_dir), capsys)
    assert code == 0, err
    assert SUMMARY.search(out)
    participants = set(pd.read_parquet(out_dir / "participants.parquet")["participant"])
    key = GOOD_KEY.encode()
    assert participants == {pseudonym(key, "participant", p) for p in ("P001", "P002", "P003", "P004")}


def broken_library(tmp_path: Path) -> tuple[Path, Path, int]:
    """A copy of the instrument library with one bad value in brs.yaml; returns (dir, file, line)."""
    library = Path(shutil.copytree(INSTRUMENTS, tmp_path / "instruments", ignore=shutil.ignore_patterns("*.md")))
    brs = library / "brs.yaml"
    lines = brs.read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines) if text.strip() == "max: 5")
    lines[line] = lines[line].replace("max: 5", "max: five")
    brs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return library, brs, line + 1


def test_ingest_with_a_broken_instrument_library(
    mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library, brs, line = broken_library(tmp_path)
    code, out, err = run(ingest_args(mini, tmp_path / "out", library), capsys)
    assert_user_error(code, out, err, "instrument library", f"{brs}:{line}:", "max")


def test_debug_lets_the_exception_through(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        main(["--debug", *ingest_args(tmp_path / "geen", tmp_path / "out")])


def test_console_command_errors_and_debug_traceback(tmp_path: Path) -> None:
    args = [str(COMMAND), *ingest_args(tmp_path / "geen", tmp_path / "out")]
    plain = subprocess.run(args, capture_output=True, text=True, check=False, cwd=ROOT)
    assert plain.returncode == 2
    assert "error: The study description" in plain.stderr
    assert "Traceback" not in plain.stderr
    debug = subprocess.run([args[0], "--debug", *args[1:]], capture_output=True, text=True, check=False, cwd=ROOT)
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert "pipeline.errors.InputError" in debug.stderr


def test_internal_error_is_exit_1_with_a_pointer_to_debug(
    mini: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("intervisie.stages.ingest.run_ingest", boom)
    code, _, err = run(ingest_args(mini, tmp_path / "out"), capsys)
    assert code == 1
    assert "internal error: ZeroDivisionError: a bug" in err
    assert "--debug" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# intervisie instruments check


def test_instruments_check_on_the_shipped_library(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["instruments", "check", str(INSTRUMENTS)], capsys)
    assert code == 0, out + err
    n = len(list(INSTRUMENTS.glob("*.yaml")))
    assert out.strip() == f"{n} instrument file(s) checked: no problems."


def test_instruments_check_lists_file_line_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    library, brs, line = broken_library(tmp_path)
    (library / "kapot.yaml").write_text('id: kapot\nname: {nl: "niet gesloten\nversion: 1\n', encoding="utf-8")
    code, out, err = run(["instruments", "check", str(library)], capsys)
    assert_user_error(code, out, err, "problem(s) in 2 of")
    problems = [p for p in out.splitlines() if p]
    assert problems, out
    assert all(re.match(r"^.+\.yaml:\d+:", p) for p in problems), problems
    assert any(p.startswith(f"{brs}:{line}:") and "max" in p for p in problems), problems
    assert any(p.startswith(f"{library / 'kapot.yaml'}:") for p in problems), problems


def test_instruments_check_on_a_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_user_error(*run(["instruments", "check", str(tmp_path / "nope")], capsys), "not a directory")
