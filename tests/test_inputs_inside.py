"""Inputs stay inside the study: relative paths, regular files only, a size limit, no file content in messages.

Each case is a way a study.yaml (or a link in the study folder) could make the pipeline read
something else than the study's own exports: it must stop with exit code 2 and a message
naming the file and the rule, never an internal error, never a hang, never the content.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.errors import InputError, UnreadableFileError
from pipeline.readers import read_source
from pipeline.safe_path import DEFAULT_MAX_MEGABYTES, check_regular_file, study_folder
from pipeline.study import Source, load_study
from tests.real_study import STUDY, write_study
from tests.test_study_cli import check

ROSTER_FILE = "  file: roster.csv\n"


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail instead of hanging: a read that blocks (a FIFO) is interrupted after 20 s."""

    def stop(*_: object) -> None:
        raise TimeoutError("the read blocked")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def study_with_roster(tmp_path: Path, file: str) -> Path:
    return write_study(tmp_path / "pilot", STUDY.replace(ROSTER_FILE, f"  file: {file}\n"))


def assert_refused(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err
    for needle in needles:
        assert needle in err, err


# ---------------------------------------------------------------------------------------------
# paths in study.yaml


def test_absolute_path_is_refused_and_its_content_never_shown(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = study_with_roster(tmp_path, "/etc/passwd")
    code, out, err = check(folder, capsys)
    assert_refused(code, err, "roster.file", "absolute path")
    assert "root:" not in out + err and "/bin/" not in out + err


def test_path_leaving_the_study_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "roster.xlsx").write_bytes(b"PK\x03\x04 not really")
    folder = study_with_roster(tmp_path, "../outside/roster.xlsx")
    code, _out, err = check(folder, capsys)
    assert_refused(code, err, "leaves the study folder")


@pytest.mark.parametrize("file", [".", "./", "sub/.."])
def test_the_study_folder_itself_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture, file: str) -> None:
    folder = study_with_roster(tmp_path, f'"{file}"')
    code, _out, err = check(folder, capsys)
    assert_refused(code, err, "roster.file")


@pytest.mark.parametrize("file", ["C:\\\\data\\\\roster.csv", "~/roster.csv", "a/../../roster.csv", "roster.csv\\0"])
def test_other_escapes_are_refused_when_study_yaml_is_read(tmp_path: Path, file: str) -> None:
    folder = study_with_roster(tmp_path, f'"{file}"')
    with pytest.raises(InputError, match=r"roster\.file"):
        load_study(folder / "study.yaml")


def test_a_file_in_a_subfolder_is_fine(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = study_with_roster(tmp_path, "exports/roster.csv")
    (folder / "exports").mkdir()
    (folder / "roster.csv").rename(folder / "exports" / "roster.csv")
    code, _out, err = check(folder, capsys)
    assert code == 0, err


# ---------------------------------------------------------------------------------------------
# what the path points at


def test_a_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = study_with_roster(tmp_path, "roster.csv")
    (folder / "roster.csv").unlink()
    (folder / "roster.csv").mkdir()
    code, _out, err = check(folder, capsys)
    assert_refused(code, err, "roster.csv", "a folder, not a file")


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path, capsys: pytest.CaptureFixture, alarm: None) -> None:
    folder = study_with_roster(tmp_path, "roster.csv")
    (folder / "roster.csv").unlink()
    os.mkfifo(folder / "roster.csv")
    code, _out, err = check(folder, capsys)
    assert_refused(code, err, "named pipe (FIFO)")


def test_a_link_to_a_device_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture, alarm: None) -> None:
    folder = study_with_roster(tmp_path, "roster.csv")
    (folder / "roster.csv").unlink()
    (folder / "roster.csv").symlink_to("/dev/zero")
    code, _out, err = check(folder, capsys)
    assert_refused(code, err, "outside the study folder")


def test_a_device_is_refused_before_reading(alarm: None) -> None:
    with pytest.raises(UnreadableFileError, match="a device"):
        check_regular_file(Path("/dev/zero"), max_megabytes=1)


def test_a_link_leaving_the_folder_is_refused_one_inside_is_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = study_with_roster(tmp_path, "roster.csv")
    outside = tmp_path / "elsewhere.csv"
    (folder / "roster.csv").rename(outside)
    (folder / "roster.csv").symlink_to(outside)
    code, _out, err = check(folder, capsys)
    assert_refused(code, err, "link to a file outside the study folder")
    (folder / "roster.csv").unlink()
    (folder / "kept").mkdir()
    outside.rename(folder / "kept" / "roster.csv")
    (folder / "roster.csv").symlink_to(Path("kept") / "roster.csv")
    code, _out, err = check(folder, capsys)
    assert code == 0, err


def test_a_link_to_etc_passwd_shows_nothing_of_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = study_with_roster(tmp_path, "roster.csv")
    (folder / "roster.csv").unlink()
    (folder / "roster.csv").symlink_to("/etc/passwd")
    code, out, err = check(folder, capsys)
    assert_refused(code, err, "outside the study folder")
    assert "root:" not in out + err


def test_a_missing_file_and_a_dangling_link(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = study_with_roster(tmp_path, "roster.csv")
    (folder / "roster.csv").unlink()
    code, _out, err = check(folder, capsys)
    assert_refused(code, err, "does not exist")
    (folder / "roster.csv").symlink_to(folder / "gone.csv")
    code, _out, err = check(folder, capsys)
    assert_refused(code, err, "link to a file that does not exist")


# ---------------------------------------------------------------------------------------------
# size limit


def test_a_file_over_the_size_limit_is_refused_with_the_key_to_raise_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert DEFAULT_MAX_MEGABYTES == 200  # documented in data_raw/README.md and pipeline/study.py
    folder = study_with_roster(tmp_path, "roster.csv\n  max_megabytes: 0.0001")
    code, _out, err = check(folder, capsys)
    assert_refused(code, err, "more than the limit of 0.0001 MB", "max_megabytes")
    raised = study_with_roster(tmp_path / "b", "roster.csv\n  max_megabytes: 1")
    code, _out, err = check(raised, capsys)
    assert code == 0, err


def test_the_size_limit_holds_for_every_format(tmp_path: Path) -> None:
    folder = write_study(tmp_path / "pilot")
    study = load_study(folder / "study.yaml")
    for _role, source in study.sources():
        tiny = source.model_copy(update={"max_megabytes": 1e-6})
        with pytest.raises(UnreadableFileError, match="more than the limit"):
            read_source(folder / source.file, tiny)


def test_an_unpacked_workbook_over_the_limit_is_refused(tmp_path: Path) -> None:
    folder = write_study(tmp_path / "pilot")
    study = load_study(folder / "study.yaml")
    assert study.sessions is not None
    size = (folder / study.sessions.file).stat().st_size
    limit = size * 1.05 / 1e6  # the file fits; its unpacked XML does not
    from pipeline.read_xlsx import read_xlsx

    with pytest.raises(UnreadableFileError, match="the unpacked workbook is"):
        read_xlsx(folder / study.sessions.file, study.sessions.model_copy(update={"max_megabytes": limit}))


# ---------------------------------------------------------------------------------------------
# messages never echo content


def test_a_header_holding_personal_data_is_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = write_study(tmp_path / "pilot")
    roster = (folder / "roster.csv").read_text(encoding="utf-8").splitlines()
    roster[0] += ",jan.jansen@example.org,bel 0612345678"
    roster[1:] = [line + ",," for line in roster[1:]]
    (folder / "roster.csv").write_text("\n".join(roster) + "\n", encoding="utf-8")
    code, out, err = check(folder, capsys)
    assert_refused(code, err, "does not describe", "<column 8: redacted>", "<column 9: redacted>")
    assert "jan.jansen" not in out + err and "0612345678" not in out + err


def test_study_folder_is_found_from_the_joined_path() -> None:
    assert study_folder(Path("/s/study/exports/r.csv"), "exports/r.csv") == Path("/s/study")
    assert study_folder(Path("/s/study/r.csv"), "./r.csv") == Path("/s/study")
    assert study_folder(Path("/tmp/other.csv"), "r.csv") is None


def test_source_file_validation_message_is_plain() -> None:
    with pytest.raises(ValueError, match=r"relative to the folder of study\.yaml"):
        Source(file="/etc/passwd", format="csv", columns={})
