"""What the quality tables may show of raw values, column names and file names (pipeline.redact, pipeline.sources).

Each planted value is one a person could type into an export; the expected text is what the
issue table must show: a short value of the field's kind, or ``<redacted: KIND>`` with KIND
from the fixed vocabulary (data_raw/README.md).  The end-to-end proofs are the hostile cases
in tests/hostile/redaction.py and the canary run in tests/test_privacy.py.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from intervisie.stages.ingest import run_ingest
from pipeline.dates import EARLIEST, is_partial, start_window, study_window
from pipeline.ledger import Ledger
from pipeline.redact import safe_column, shape, show
from pipeline.sources import source_labels
from pipeline.study import load_study
from tests.hostile import project as canary
from tests.study_keys import key_in_environment  # noqa: F401 (autouse: the mini study's key)
from tests.test_ingest import INSTRUMENTS, LABEL, MINI, PARAMS


def eleven_proof(bsn: str) -> bool:
    """The BSN check: 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a multiple of 11."""
    digits = [int(c) for c in bsn]
    if len(digits) != 9:
        return False
    total = sum(w * d for w, d in zip(range(9, 1, -1), digits[:8], strict=True)) - digits[8]
    return total % 11 == 0


def test_the_planted_bsns_are_valid_bsns() -> None:
    """A canary BSN that failed the 11-proof would not be a realistic one."""
    assert eleven_proof(canary.BSN) and eleven_proof(canary.BSN_2)
    assert not eleven_proof("123456789")


@pytest.mark.parametrize(
    ("value", "field", "shown"),
    [
        # answers: a short number is shown; a BSN or a phone number read as a number is not
        (7, "item", "7"),
        (7.0, "item", "7"),
        ("4,5", "item", "4,5"),
        (-9, "item", "-9"),
        (123456782, "item", "<redacted: 9 digits>"),
        (123456782.0, "item", "<redacted: 9 digits>"),
        ("0612345678", "item", "<redacted: 10 digits>"),
        ("06-12345678", "item", "<redacted: phone number>"),
        ("+31 6 1234 5678", "item", "<redacted: phone number>"),
        ("+31612345678", "item", "<redacted: phone number>"),
        ("020-7654321", "item", "<redacted: phone number>"),
        ("(010) 123 45 67", "item", "<redacted: phone number>"),
        ("NL91ABNA0417164300", "item", "<redacted: code>"),
        ("Mee eens!", "item", "<redacted: text>"),
        ("bel me 06-99990101", "item", "<redacted: text>"),
        ("jan.jansen@example.org", "item", "<redacted: e-mail>"),
        ("J.Jansen+intervisie@Sub.Example.NL", "item", "<redacted: e-mail>"),
        ("mail: jan@example.org", "item", "<redacted: e-mail>"),
        (True, "item", "<redacted: value>"),
        # counts and durations
        ("2 (casus van Anna, 0611111111)", "count", "<redacted: text>"),
        (12, "count", "12"),
        (1234, "count", "<redacted: 4 digits>"),
        ("111222333", "number", "<redacted: 9 digits>"),
        (3600, "number", "3600"),
        (float("inf"), "number", "inf"),
        ("inf", "number", "inf"),
        ("twee", "number", "<redacted: word>"),
        ("1e9", "number", "<redacted: number>"),
        # coded columns: a short code is shown, a word is not (it may be a name)
        ("t5", "code", "t5"),
        ("12m", "code", "12m"),
        ("1", "code", "1"),
        ("Start", "code", "<redacted: word>"),
        ("Anna de Vries", "code", "<redacted: text>"),
        ("123456782", "code", "<redacted: 9 digits>"),
        # dates: a date is shown, anything else by its shape
        ("2024", "date", "2024"),
        ("2024-03", "date", "2024-03"),
        ("13-01-2100", "date", "13-01-2100"),
        (pd.Timestamp("1900-01-06"), "date", "1900-01-06"),
        ("vertrokken, bel +31613333333", "date", "<redacted: text>"),
        ("jan@example.org", "date", "<redacted: e-mail>"),
        ("gisteren", "date", "<redacted: word>"),
        # identifiers and free text: never
        ("P001", "identifier", "<redacted: identifier>"),
        ("7", "text", "<redacted: 1 digits>"),
        (None, "item", ""),
        (np.nan, "date", ""),
    ],
)
def test_what_the_issue_table_shows(value: object, field: str, shown: str) -> None:
    assert show(value, field) == shown


def test_every_shape_is_in_the_vocabulary() -> None:
    samples = ["x@y.nl", "123", "1.5", "+31 6 12345678", "2024-01-01 10:00", "naam", "ab12", "a b", 2.5, 12, True]
    for value in samples:
        kind = shape(value)
        assert kind in {"number", "e-mail", "phone number", "date", "word", "code", "text", "value"} or kind.endswith(
            " digits"
        ), (value, kind)


def test_column_names_with_personal_data_are_redacted() -> None:
    assert safe_column("Duration (in seconds)") == "Duration (in seconds)"
    assert safe_column("BRS[SQ001]") == "BRS[SQ001]"
    assert safe_column("jan.jansen@example.org") == "<redacted: e-mail>"
    assert safe_column("0612345678") == "<redacted: 10 digits>"
    assert safe_column("+31 6 1234 5678") == "<redacted: phone number>"
    ledger = Ledger()
    ledger.register("survey_t0", "survey", np.array([2]))
    ledger.issue("survey_t0", [2], "jan@example.org", "not_a_date", values=["x"], action="set_missing", kind="date")
    assert ledger.issues()[["column", "value"]].values.tolist() == [["<redacted: e-mail>", "<redacted: word>"]]


def test_sources_are_named_by_their_role_in_study_yaml(tmp_path: Path) -> None:
    study = load_study(MINI / "study.yaml")
    assert {study.source_name(s): label for _r, s, label in source_labels(study)} == LABEL
    # two exports of one wave, and a second survey whose wave is a column
    spec = (MINI / "study.yaml").read_text(encoding="utf-8")
    extra = (
        "  - file: survey_t0_papier.csv\n    format: csv\n    wave: t0\n    columns: {participant_id: id}\n"
        "    items: {brs: \"brs{n}\"}\n"
        "  - file: survey_t1_papier.csv\n    format: csv\n    columns: {participant_id: id, wave: golf}\n"
        "    items: {brs: \"brs{n}\"}\n"
    )
    (tmp_path / "study.yaml").write_text(spec + extra, encoding="utf-8")
    labels = [label for _r, _s, label in source_labels(load_study(tmp_path / "study.yaml"))]
    assert labels == [
        "roster", "sessions", "attendance", "survey_t0", "survey_2", "survey_session", "survey_t0_2", "survey_5",
    ]  # fmt: skip


def _renamed_mini(tmp_path: Path, name: str) -> Path:
    study = Path(shutil.copytree(MINI, tmp_path / "study"))
    (study / "session_evals.csv").rename(study / name)
    spec = (study / "study.yaml").read_text(encoding="utf-8")
    (study / "study.yaml").write_text(spec.replace("file: session_evals.csv", f"file: {name}"), encoding="utf-8")
    return study


def test_a_file_name_with_a_name_stays_in_data_raw(tmp_path: Path) -> None:
    """`evaluaties_coach_<name>.csv`: responses, issues, fates and the accounting say `survey_session`."""
    study = _renamed_mini(tmp_path, "evaluaties_coach_Kwartelkoning.csv")
    out = tmp_path / "out"
    run_ingest(study / "study.yaml", INSTRUMENTS, PARAMS, out, lambda _message: None)
    for path in sorted(out.rglob("*")):
        if path.is_file():
            assert b"kwartelkoning" not in path.read_bytes().lower(), path.name
            if path.suffix == ".parquet":
                frame = pd.read_parquet(path)
                text = frame.astype(str).to_numpy().ravel().tolist() + [str(c) for c in frame.columns]
                assert not any("kwartelkoning" in t.casefold() for t in text), path.name
    assert "survey_session" in set(pd.read_parquet(out / "responses.parquet")["source_file"])


def test_a_file_name_with_a_name_is_not_logged(tmp_path: Path) -> None:
    study = _renamed_mini(tmp_path, "evaluaties_coach_Kwartelkoning.csv")
    messages: list[str] = []
    run_ingest(study / "study.yaml", INSTRUMENTS, PARAMS, tmp_path / "out", messages.append)
    assert messages and not any("kwartelkoning" in m.casefold() for m in messages)


def test_partial_dates_and_the_study_window() -> None:
    assert is_partial("2024") and is_partial(" 2024-03 ") and is_partial("2024/3")
    assert not is_partial("2024-03-10") and not is_partial(2024) and not is_partial("10-03-2024")
    window = start_window(date(2026, 11, 29))
    assert (window.first, window.last) == (EARLIEST, pd.Timestamp("2027-11-29"))
    starts = pd.Series(pd.to_datetime(["2024-01-15", "2024-06-30", None]))
    window = study_window(starts, 24)
    assert window is not None
    # one year before the first start; the last start + 24 months + one year
    assert (window.first, window.last) == (pd.Timestamp("2023-01-15"), pd.Timestamp("2027-06-30"))
    dates = pd.Series(pd.to_datetime(["2023-01-14", "2023-01-15", "2027-06-30", "2027-07-01", None]))
    assert window.outside(dates).tolist() == [True, False, False, True, False]
    assert study_window(pd.Series([], dtype="datetime64[ns]"), 3) is None
    # a wave at 2.5 months counts as 3
    half = study_window(pd.Series(pd.to_datetime(["2024-01-31"])), 2.5)
    assert half is not None and half.last == pd.Timestamp("2025-04-30")
