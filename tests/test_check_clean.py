"""`intervisie check-clean` checks the clean tables together, not only one by one.

Every participant, group, session and submission a table names must exist in its own table,
and the tables must come from one pseudonymisation key; anything else is an error naming the
table, the column and how many rows.  Before, scores of participants missing from
participants.parquet passed and then vanished from growth, change and quality without a word,
and tables made with two different keys passed and made `analyze change` crash.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from intervisie.cli import main
from intervisie.stages.ingest import run_ingest
from intervisie.stages.score import check_clean, run_score
from pipeline.atomic import read_parquet_metadata, write_parquet
from pipeline.keys import FINGERPRINT_FILE, FINGERPRINT_METADATA, KEY_VARIABLE
from tests.study_keys import TEST_KEY, non_demo

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "fixtures" / "mini"
INSTRUMENTS = ROOT / "instruments"
PARAMS = ROOT / "params.yaml"
OTHER_KEY = "Vb3-Kq8zR1mW5tY0pLx7Nc2sJf4hGd9aUe6iO_TrQwZ"


def _clean(root: Path, key: str) -> Path:
    study = non_demo(Path(shutil.copytree(MINI, root / "raw")))
    out = root / "clean"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_VARIABLE, key)
        run_ingest(study / "study.yaml", INSTRUMENTS, PARAMS, out, lambda _: None)
    run_score(out, INSTRUMENTS, out / "scale_scores.parquet", out / "data_dictionary.csv", lambda _: None)
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The mini study's clean tables, once with the study's key and once with another key."""
    return {
        "key": _clean(tmp_path_factory.mktemp("key"), TEST_KEY),
        "other": _clean(tmp_path_factory.mktemp("other"), OTHER_KEY),
    }


@pytest.fixture
def clean(made: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(made["key"], tmp_path / "clean"))


def _drop(path: Path, keep: pd.Series | None = None, frame: pd.DataFrame | None = None) -> None:
    table = pd.read_parquet(path) if frame is None else frame
    metadata = {k: v for k, v in read_parquet_metadata(path).items() if k == FINGERPRINT_METADATA}
    write_parquet(path, table if keep is None else table[keep].reset_index(drop=True), metadata)


def test_the_tables_as_ingested_pass(clean: Path) -> None:
    checked, problems = check_clean(clean)
    assert {"participants", "groups", "sessions", "attendance", "responses", "item_responses", "scale_scores"} <= set(
        checked
    )
    assert problems == []
    assert read_parquet_metadata(clean / "scale_scores.parquet")[FINGERPRINT_METADATA]  # the score stage keeps it


def test_scores_of_participants_missing_from_participants_are_an_error(clean: Path) -> None:
    people = pd.read_parquet(clean / "participants.parquet")
    scores = pd.read_parquet(clean / "scale_scores.parquet")
    gone = people["participant"].iloc[0]
    _drop(clean / "participants.parquet", people["participant"] != gone)
    _, problems = check_clean(clean)
    n_scores = int((scores["participant"] == gone).sum())
    n_responses = int((pd.read_parquet(clean / "responses.parquet")["participant"] == gone).sum())
    assert n_scores > 0 and n_responses > 0
    by_table = {line.split(":", 1)[0]: line for line in problems}
    line = by_table[str(clean / "scale_scores.parquet")]
    assert f"column participant: {n_scores} of {len(scores)} row(s) name 1 participant value(s)" in line
    assert "participants.parquet does not have" in line and "unknown_participant" in line
    assert f"column participant: {n_responses} of" in by_table[str(clean / "responses.parquet")]
    assert gone not in "\n".join(problems)  # counts, not the pseudonyms


def test_unknown_groups_and_sessions_are_errors(clean: Path) -> None:
    sessions = pd.read_parquet(clean / "sessions.parquet")
    attendance = pd.read_parquet(clean / "attendance.parquet")
    gone = sessions["session"].iloc[0]
    _drop(clean / "sessions.parquet", sessions["session"] != gone)
    groups = pd.read_parquet(clean / "groups.parquet")
    _drop(clean / "groups.parquet", groups.index > 0)
    _, problems = check_clean(clean)
    text = "\n".join(problems)
    n_attendance = int((attendance["session"] == gone).sum())
    assert f"attendance.parquet: column session: {n_attendance} of {len(attendance)} row(s)" in text
    assert "participants.parquet: column group:" in text and "groups.parquet does not have" in text
    assert "sessions.parquet: column group:" in text


def test_item_responses_of_unknown_submissions_are_an_error(clean: Path) -> None:
    responses = pd.read_parquet(clean / "responses.parquet")
    _drop(clean / "responses.parquet", responses.index > 0)
    _, problems = check_clean(clean)
    assert any("item_responses.parquet: column response_id:" in p and "unknown_response_id" in p for p in problems)


def test_tables_made_with_two_keys_are_an_error(made: dict[str, Path], clean: Path) -> None:
    """responses and scores from a run with another key, next to participants from the study's key."""
    for name in ("responses", "item_responses", "scale_scores"):
        shutil.copy(made["other"] / f"{name}.parquet", clean / f"{name}.parquet")
    _, problems = check_clean(clean)
    text = "\n".join(problems)
    assert "pseudonymised with different keys" in text and "key_fingerprint" in text
    assert f"{FINGERPRINT_FILE} says" in text
    responses = pd.read_parquet(clean / "responses.parquet")
    assert f"responses.parquet: column participant: {len(responses)} of {len(responses)} row(s)" in text


def test_tables_you_supply_without_a_fingerprint_are_checked_by_their_links_only(clean: Path) -> None:
    for path in clean.glob("*.parquet"):
        write_parquet(path, pd.read_parquet(path))  # no metadata
    (clean / FINGERPRINT_FILE).unlink()
    assert check_clean(clean)[1] == []


def test_the_command_names_table_column_and_rows(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    people = pd.read_parquet(clean / "participants.parquet")
    _drop(clean / "participants.parquet", people.index > 0)
    with pytest.raises(SystemExit) as done:
        main(["check-clean", "--clean", str(clean)])
    out, err = capsys.readouterr()
    assert done.value.code == 2
    assert "scale_scores.parquet: column participant:" in out and "violation(s)" in err
    assert "Traceback" not in out + err
