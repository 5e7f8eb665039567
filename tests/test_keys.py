"""Keys that cannot be misused: strength, whitespace, published keys, the fingerprint beside the tables.

The attack these rules answer: with the demo study's public key, the pseudonyms of a study whose
participant IDs are ``i`` + 6 digits are reversed by trying all 10^6 IDs (419 of 897 in 9.7 s
when that key was accepted for real data).  :func:`test_the_brute_force_attack_works_only_with_the_public_key`
runs the attack on a small ID range against both keys; the other tests show that the public key
is refused for any data but the simulator's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from intervisie.cli import main
from intervisie.stages.ingest import run_ingest
from pipeline.atomic import read_parquet_metadata
from pipeline.errors import PrivacyError
from pipeline.keys import (
    FINGERPRINT_FILE,
    FINGERPRINT_LABEL,
    FINGERPRINT_METADATA,
    KEY_VARIABLE,
    MIN_KEY_BITS,
    MIN_KEY_LENGTH,
    check_key,
    estimated_bits,
    fingerprint,
    key_problem,
)
from pipeline.pseudonymise import pseudonym, resolve_key
from pipeline.study import StudyInfo, load_study
from tests.study_keys import TEST_KEY, non_demo

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "fixtures" / "mini"
DEMO = ROOT / "data_raw" / "demo"
INSTRUMENTS = ROOT / "instruments"
PARAMS = ROOT / "params.yaml"
DEMO_KEY = load_study(DEMO / "study.yaml").study.demo_pseudonym_key
OTHER_KEY = "Vb3-Kq8zR1mW5tY0pLx7Nc2sJf4hGd9aUe6iO_TrQwZ"
REAL = StudyInfo(id="real", title="A real study", demo=False)


# --------------------------------------------------------------------------------------------
# strength


@pytest.mark.parametrize("nbytes", [32, 48])
def test_every_generated_key_passes(nbytes: int) -> None:
    """The key the message tells people to make always passes: 10,000 draws, with a margin."""
    estimates = []
    for _ in range(10_000):
        key = secrets.token_urlsafe(nbytes)
        assert key_problem(key) is None, key
        estimates.append(estimated_bits(key))
    assert min(estimates) >= MIN_KEY_BITS + 40  # measured: smallest of 100,000 draws of token_urlsafe(32) ~183


def test_long_hex_keys_pass() -> None:
    assert all(key_problem(secrets.token_hex(32)) is None for _ in range(2_000))


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("a" * 32, "repeats a block of 1"),
        ("a" * 64, "repeats a block of 1"),
        ("ab" * 16, "repeats a block of 2"),
        ("Password1" * 4, "repeats a block of 9"),
        ("ZuHfJ22sqxlFVggmEqEsGA" * 2, "repeats a block of 22"),  # a token_urlsafe(16), fixed: same tests in every worker
        ("abcdefghijklmnopqrstuvwxyz012345", "too predictable"),
        ("0123456789" * 3 + "01234", "repeats a block of 10"),
        ("aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb", "too predictable"),
        ("k3y-for-tests-only-" + "x" * 20, "too predictable"),
        ("correct-horse-battery-staple-xyz", "too predictable"),
    ],
)
def test_simple_keys_are_refused(key: str, reason: str) -> None:
    assert len(key) >= MIN_KEY_LENGTH
    problem = key_problem(key)
    assert problem is not None and reason in problem, problem
    with pytest.raises(PrivacyError) as error:
        check_key(key)
    assert "token_urlsafe(32)" in str(error.value)  # how to make one
    assert key not in str(error.value)  # never the key


def test_the_estimate_on_known_answers() -> None:
    """n * min(H(characters), H(steps)): hand-worked values (tolerance 1e-9)."""
    assert estimated_bits("a" * 32) == 0
    # "ab" * 16: characters 1 bit; steps +1 (16 times) and -1 (15 times): 0.99925 bits
    assert estimated_bits("ab" * 16) == pytest.approx(32 * _h(16, 15), abs=1e-9)
    assert estimated_bits("ab" * 16) == pytest.approx(31.976, abs=1e-3)
    # "abcd" * 8: characters 2 bits; steps +1 (24 times) and -3 (7 times): 0.7706 bits
    assert estimated_bits("abcd" * 8) == pytest.approx(32 * _h(24, 7), abs=1e-9)
    assert estimated_bits("") == 0 and estimated_bits("x") == 0


def _h(*counts: int) -> float:
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts)


@pytest.mark.parametrize("space", ["\r", "\n", "\r\n", " ", "\t", "\u00a0"])
@pytest.mark.parametrize("where", ["end", "start"])
def test_surrounding_whitespace_is_refused_not_stripped(space: str, where: str) -> None:
    key = TEST_KEY + space if where == "end" else space + TEST_KEY
    with pytest.raises(PrivacyError, match="whitespace") as error:
        resolve_key(REAL, {KEY_VARIABLE: key})
    assert "refused, not stripped" in str(error.value)
    assert TEST_KEY not in str(error.value)


def test_control_characters_inside_are_refused() -> None:
    with pytest.raises(PrivacyError, match="control or invisible"):
        check_key(TEST_KEY[:20] + "\x00" + TEST_KEY[20:])
    with pytest.raises(PrivacyError, match="control or invisible"):
        check_key(TEST_KEY[:20] + "\u200b" + TEST_KEY[20:])  # a zero-width space


@pytest.mark.parametrize("key", [DEMO_KEY, "DEMO-ONLY-test-key-for-the-mini-study-fixture", "x-Demo-Only-" + TEST_KEY])
def test_published_keys_are_refused_for_a_real_study(key: str) -> None:
    """The public demo key given in the environment for a `demo: false` study: refused."""
    with pytest.raises(PrivacyError, match="published demo key"):
        resolve_key(REAL, {KEY_VARIABLE: key})


# --------------------------------------------------------------------------------------------
# the attack


def _reverse(pseudonyms: set[str], key: bytes, candidates: range) -> dict[str, str]:
    """Try every ID ``i`` + 6 digits in ``candidates``; return pseudonym -> ID for the ones found."""
    found = {}
    for n in candidates:
        raw = f"i{n:06d}"
        name = "P" + hmac.new(key, f"participant:{raw}".encode(), hashlib.sha256).hexdigest()[:16]
        if name in pseudonyms:
            found[name] = raw
    return found


def test_the_brute_force_attack_works_only_with_the_public_key() -> None:
    """With the public demo key 10,000 candidate IDs reverse all 50 pseudonyms; with a real key none.

    The public key cannot be used for real data any more: `demo: false` refuses it (above) and
    `demo: true` refuses any file the simulator did not write (tests/test_pseudonymise.py).
    """
    ids = [f"i{n:06d}" for n in range(120_000, 130_000, 200)]
    public = {pseudonym(DEMO_KEY.encode(), "participant", i) for i in ids}
    start = time.perf_counter()
    found = _reverse(public, DEMO_KEY.encode(), range(120_000, 130_000))
    seconds = time.perf_counter() - start
    assert sorted(found.values()) == ids  # every pseudonym reversed
    assert seconds < 10  # 10^6 candidates take ~13 s on one busy core: a public key protects nothing
    secret = {pseudonym(TEST_KEY.encode(), "participant", i) for i in ids}
    assert _reverse(secret, DEMO_KEY.encode(), range(120_000, 130_000)) == {}
    with pytest.raises(PrivacyError):
        resolve_key(REAL, {KEY_VARIABLE: DEMO_KEY})


# --------------------------------------------------------------------------------------------
# the fingerprint beside the clean tables


def test_fingerprint_is_an_hmac_of_a_fixed_label() -> None:
    """Known answer: HMAC-SHA256(key, label), first 16 hex digits; the key is not in it."""
    expected = hmac.new(TEST_KEY.encode(), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]
    assert fingerprint(TEST_KEY.encode()) == expected
    assert len(expected) == 16 and int(expected, 16) >= 0
    assert fingerprint(OTHER_KEY.encode()) != expected


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A copy of the mini study as a real study (it is hand-made, so it needs a key of its own)."""
    return non_demo(Path(shutil.copytree(MINI, tmp_path / "study")))


def _ingest(study: Path, out: Path, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, key)
    run_ingest(study / "study.yaml", INSTRUMENTS, PARAMS, out, lambda _: None)


def test_the_fingerprint_is_written_beside_and_inside_the_tables(
    study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "clean"
    _ingest(study, out, TEST_KEY, monkeypatch)
    record = json.loads((out / FINGERPRINT_FILE).read_text(encoding="utf-8"))
    assert record["fingerprint"] == fingerprint(TEST_KEY.encode())
    assert record["study"] == "mini" and "HMAC-SHA256" in record["method"]
    assert TEST_KEY not in (out / FINGERPRINT_FILE).read_text(encoding="utf-8")
    for name in ("participants", "groups", "sessions", "attendance", "responses", "item_responses"):
        assert read_parquet_metadata(out / f"{name}.parquet")[FINGERPRINT_METADATA] == record["fingerprint"]
    before = (out / FINGERPRINT_FILE).read_bytes()
    _ingest(study, out, TEST_KEY, monkeypatch)  # the same key again: fine, same bytes
    assert (out / FINGERPRINT_FILE).read_bytes() == before


@pytest.mark.parametrize("second", [OTHER_KEY, TEST_KEY + "\r"], ids=["other-key", "trailing-cr"])
def test_a_run_with_another_key_is_refused_before_writing(
    second: str, study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "clean"
    _ingest(study, out, TEST_KEY, monkeypatch)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(PrivacyError) as error:
        _ingest(study, out, second, monkeypatch)
    message = str(error.value)
    if second == OTHER_KEY:
        assert "would not link to the earlier pseudonyms" in message
        assert FINGERPRINT_FILE in message and "rotation" in message
    else:
        assert "refused, not stripped" in message
    assert second.strip() not in message
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing touched


def test_rotating_a_key_on_purpose(study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting the fingerprint is the deliberate rotation: the run with the new key then goes ahead."""
    out = tmp_path / "clean"
    _ingest(study, out, TEST_KEY, monkeypatch)
    (out / FINGERPRINT_FILE).unlink()
    _ingest(study, out, OTHER_KEY, monkeypatch)
    assert json.loads((out / FINGERPRINT_FILE).read_text("utf-8"))["fingerprint"] == fingerprint(OTHER_KEY.encode())
    people = pd.read_parquet(out / "participants.parquet")
    assert pseudonym(OTHER_KEY.encode(), "participant", "P001") in set(people["participant"])


def test_another_study_in_the_same_folder_starts_afresh(
    study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Switching dvc.yaml from the demo to a real study needs no deletion: the record names its study."""
    out = tmp_path / "clean"
    _ingest(study, out, TEST_KEY, monkeypatch)
    path = study / "study.yaml"
    path.write_text(path.read_text("utf-8").replace("id: mini", "id: another"), encoding="utf-8")
    _ingest(study, out, OTHER_KEY, monkeypatch)
    assert json.loads((out / FINGERPRINT_FILE).read_text("utf-8"))["study"] == "another"


def test_the_command_says_why_and_exits_2(
    study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "clean"
    argv = ["ingest", "--study", str(study / "study.yaml"), "--instruments", str(INSTRUMENTS),
            "--params", str(PARAMS), "--out", str(out)]  # fmt: skip
    for key, code, needle in [
        (TEST_KEY, 0, ""),
        (OTHER_KEY, 2, "would not link"),
        ("a" * 40, 2, "repeats a block"),
        (DEMO_KEY, 2, "published demo key"),
    ]:
        monkeypatch.setenv(KEY_VARIABLE, key)
        with pytest.raises(SystemExit) as done:
            main(argv)
            raise SystemExit(0)
        err = capsys.readouterr().err
        assert (done.value.code or 0) == code, err
        assert needle in err and "Traceback" not in err and "internal error" not in err
        assert key not in err
