"""Pseudonyms: stable, keyed, standard HMAC-SHA256, and nothing identifying ever reaches the output.

The last tests run the mini study end to end and search every output file, cell by cell and byte
by byte, for anything from the raw files that identifies a person: IDs, names, e-mail and IP
addresses, free-text answers, and the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

import pipeline.pseudonymise as ps
from intervisie.stages.ingest import run_ingest
from intervisie.stages.score import run_score
from pipeline.errors import PrivacyError
from pipeline.keys import DEMO_MANIFEST, MIN_KEY_BITS, demo_data_problem, estimated_bits
from pipeline.pseudonymise import (
    KEY_VARIABLE,
    MIN_KEY_LENGTH,
    PREFIX,
    is_mixed_script,
    mixed_script_mask,
    normalise_id,
    pseudonym,
    pseudonymise,
    resolve_key,
)
from pipeline.readers import READERS, read_source
from pipeline.sources import source_labels
from pipeline.study import StudyInfo, load_study
from tests.study_keys import TEST_KEY, non_demo

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "fixtures" / "mini"
DEMO = ROOT / "data_raw" / "demo"
INSTRUMENTS = ROOT / "instruments"
PARAMS = ROOT / "params.yaml"
KEY = b"known-answer-test-key-0123456789abcdef"
OTHER_KEY = b"another-key-of-enough-length-0123456789"
PSEUDONYM = re.compile(r"^[PGCS][0-9a-f]{16}$")


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 written out from RFC 2104, without the ``hmac`` module."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\x00")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


# --------------------------------------------------------------------------------------------
# the primitive and the known answer


def test_hmac_is_the_standard_one_rfc_4231_case_2() -> None:
    key, data = b"Jefe", b"what do ya want for nothing?"
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert hmac.new(key, data, hashlib.sha256).hexdigest() == expected
    assert hmac_sha256(key, data).hex() == expected  # and so is the version written out here


def test_rfc_4231_case_6_long_key() -> None:
    key = b"\xaa" * 131
    data = b"Test Using Larger Than Block-Size Key - Hash Key First"
    expected = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    assert hmac.new(key, data, hashlib.sha256).hexdigest() == expected
    assert hmac_sha256(key, data).hex() == expected


def test_known_answer() -> None:
    got = pseudonym(KEY, "participant", " i123456 ")
    assert got == "P" + hmac_sha256(KEY, b"participant:i123456").hex()[:16]
    # hard-coded, so that any change of algorithm, message format or normalisation shows here
    assert got == "Pff1a2c9a4f97952e"
    assert pseudonym(KEY, "coach", "C7") == "C9b3155d47537eb0b"
    assert pseudonym(KEY, "group", "G1") == "G35bff5931a0fa8c6"
    assert pseudonym(KEY, "session", "S1") == "S22e08646d7505dce"


@pytest.mark.parametrize("kind", sorted(PREFIX))
def test_every_kind_is_prefix_and_truncated_hmac(kind: str) -> None:
    expected = PREFIX[kind] + hmac_sha256(KEY, f"{kind}:abc-17".encode()).hex()[:16]
    assert pseudonym(KEY, kind, "ABC-17") == expected
    assert pseudonymise(KEY, kind, pd.Series(["ABC-17"])).tolist() == [expected]


# --------------------------------------------------------------------------------------------
# stability and separation


def test_same_id_and_key_give_the_same_pseudonym_everywhere() -> None:
    first = pseudonym(KEY, "participant", "P001")
    assert pseudonym(KEY, "participant", "P001") == first
    assert pseudonymise(KEY, "participant", pd.Series(["P001", "x", "P001"])).tolist()[::2] == [first, first]
    assert pseudonymise(KEY, "participant", pd.Series(["P001"], dtype="string")).tolist() == [first]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (" i123456 ", "I123456"),
        ("i123456", "I123456"),
        ("I123456\t", "i123456"),
        (123456.0, "123456"),
        (123456, "123456"),
        (123456.0, 123456),
        ("Straße", "STRASSE"),  # case-folded, not only lower-cased
        ("zo\u00eb-01", "zoe\u0308-01"),  # NFC (one code point) and NFD (e + combining diaeresis): one person
        ("\u00c5ngstr\u00f6m", "A\u030angstro\u0308m"),
        ("\u212bx1", "\u00e5x1"),  # the Angstrom sign is canonically the letter \u00e5
    ],
)
def test_normalisation(a: object, b: object) -> None:
    assert normalise_id(a) == normalise_id(b)
    assert pseudonym(KEY, "participant", a) == pseudonym(KEY, "participant", b)
    pair = pseudonymise(KEY, "participant", pd.Series([a, b], dtype=object)).tolist()
    assert pair[0] == pair[1] == pseudonym(KEY, "participant", b)


def test_nfc_and_nfd_in_one_column_are_one_person() -> None:
    nfc, nfd = "i12345\u00e9", "i12345e\u0301"
    assert nfc != nfd and len(nfd) == len(nfc) + 1
    names = pseudonymise(KEY, "participant", pd.Series([nfc, nfd, nfd.upper()], dtype=object))
    assert names.nunique() == 1
    # the known answer: the digest of the NFC form
    digest = hmac.new(KEY, "participant:i12345\u00e9".encode(), hashlib.sha256).hexdigest()[:16]
    assert names.iloc[0] == "P" + digest


@pytest.mark.parametrize(
    ("raw", "mixed"),
    [
        ("i123456", False),
        ("\u0456123456", False),  # Cyrillic only: a script of its own, not mixed
        ("i\u0456123456", True),  # Latin i + Cyrillic \u0456 (looks like i)
        ("P0\u041e1", True),  # Latin P + Cyrillic O
        ("\u0440001", False),  # a lone Cyrillic er looks like P, but is one script (no lookalike rule)
        ("\u00e9l\u00e8ve-7", False),  # accents stay Latin
        ("e\u0301x", False),  # a combining mark belongs to no script
        ("\u03b1b", True),  # Greek alpha + Latin b
        ("12-34", False),
        ("", False),
    ],
)
def test_mixed_script_ids_are_flagged(raw: str, mixed: bool) -> None:
    assert is_mixed_script(raw) is mixed
    mask = mixed_script_mask(pd.Series([raw, "P001", None], dtype=object))
    assert mask.tolist() == [mixed, False, False]


def test_normalisation_keeps_what_differs() -> None:
    assert normalise_id(123456.5) == "123456.5"
    assert normalise_id("0123456") != normalise_id(123456)  # a leading zero is part of the ID
    assert pseudonym(KEY, "participant", "P01") != pseudonym(KEY, "participant", "P1")


def test_different_keys_give_different_pseudonyms() -> None:
    assert pseudonym(KEY, "participant", "P001") != pseudonym(OTHER_KEY, "participant", "P001")
    ids = pd.Series([f"P{n:03d}" for n in range(50)])
    mine, theirs = pseudonymise(KEY, "participant", ids), pseudonymise(OTHER_KEY, "participant", ids)
    assert not set(mine) & set(theirs)


def test_kinds_with_the_same_raw_id_differ() -> None:
    # coach 7 and participant 7 are different people; the hashes (not only the prefixes) differ
    made = {kind: pseudonym(KEY, kind, "7") for kind in PREFIX}
    assert len({p[1:] for p in made.values()}) == len(PREFIX)
    assert made["participant"][0] == "P" and made["coach"][0] == "C"
    assert made["group"][0] == "G" and made["session"][0] == "S"


def test_format() -> None:
    for n in range(200):
        for kind in PREFIX:
            made = pseudonym(KEY, kind, f"id-{n}")
            assert PSEUDONYM.match(made), made
            assert made[0] == PREFIX[kind]
            assert len(made) == 17


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(KeyError):
        pseudonym(KEY, "patient", "P001")


# --------------------------------------------------------------------------------------------
# pseudonymise on a column


def test_pseudonymise_keeps_missing_missing_and_order() -> None:
    ids = pd.Series(["P2", None, " p1 ", float("nan"), "P2", pd.NA, "", "   ", 17.0, "P1"], index=list("abcdefghij"))
    out = pseudonymise(KEY, "participant", ids)
    assert out.dtype == "string"
    assert list(out.index) == list(ids.index)
    assert out.isna().tolist() == [False, True, False, True, False, True, True, True, False, False]
    p1, p2 = pseudonym(KEY, "participant", "P1"), pseudonym(KEY, "participant", "P2")
    assert out[["a", "c", "e", "i", "j"]].tolist() == [p2, p1, p2, pseudonym(KEY, "participant", "17"), p1]


def test_pseudonymise_with_repeated_index_labels() -> None:
    # e.g. rows of two files concatenated without a new index
    ids = pd.Series(["P1", "P2", None, "P1"], index=[2, 2, 3, 2])
    out = pseudonymise(KEY, "participant", ids)
    assert list(out.index) == [2, 2, 3, 2]
    assert out.isna().tolist() == [False, False, True, False]
    assert out.iloc[0] == out.iloc[3] == pseudonym(KEY, "participant", "P1")
    assert out.iloc[1] == pseudonym(KEY, "participant", "P2")


def test_pseudonymise_empty_and_all_missing() -> None:
    assert pseudonymise(KEY, "group", pd.Series([], dtype=object)).tolist() == []
    out = pseudonymise(KEY, "group", pd.Series([None, None]))
    assert len(out) == 2 and out.isna().all()


def test_pseudonymise_hashes_each_distinct_id_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []

    class CountingHmac:
        @staticmethod
        def new(key: bytes, msg: bytes, digestmod: object) -> hmac.HMAC:
            calls.append(msg)
            return hmac.new(key, msg, digestmod)  # type: ignore[arg-type]

    monkeypatch.setattr(ps, "hmac", CountingHmac)
    ids = pd.Series(["P1", "p1 ", "P2", None, "P1", 3.0, "3", "P2"] * 100)
    out = pseudonymise(KEY, "participant", ids)
    assert len(out) == len(ids)
    assert sorted(calls) == [b"participant:3", b"participant:p1", b"participant:p2"]


def test_pseudonymise_refuses_a_collision(monkeypatch: pytest.MonkeyPatch) -> None:
    class ConstantDigest:
        @staticmethod
        def new(key: bytes, msg: bytes, digestmod: object) -> object:
            return type("D", (), {"hexdigest": lambda self: "0" * 64})()

    monkeypatch.setattr(ps, "hmac", ConstantDigest)
    with pytest.raises(PrivacyError, match="share a pseudonym"):
        pseudonymise(KEY, "participant", pd.Series(["P1", "P2"]))


# --------------------------------------------------------------------------------------------
# the key


def info(demo: bool, key: str | None = None) -> StudyInfo:
    return StudyInfo(id="s", title="S", demo=demo, demo_pseudonym_key=key)


ENV_KEY = TEST_KEY


@pytest.fixture
def simulated(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder of files with a manifest of their SHA-256, as `intervisie simulate` writes it."""
    files = {"roster.csv": b"id\n1\n", "wave.csv": b"id,x\n1,2\n"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    sums = {name: {"format": "csv", "sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()}
    (tmp_path / DEMO_MANIFEST).write_text(yaml.safe_dump({"files": sums}), encoding="utf-8")
    return tmp_path, {name.removesuffix(".csv"): name for name in files}  # source name -> file


def test_env_key_is_used_when_set(simulated: tuple[Path, dict[str, str]]) -> None:
    folder, files = simulated
    assert resolve_key(info(False), {KEY_VARIABLE: ENV_KEY}) == ENV_KEY.encode()
    # also in the demo study: a key in the environment wins over the published one
    assert resolve_key(info(True, "demo-key"), {KEY_VARIABLE: ENV_KEY}, study_dir=folder, files=files) == ENV_KEY.encode()


def test_demo_key_for_the_simulators_own_files_without_env(simulated: tuple[Path, dict[str, str]]) -> None:
    folder, files = simulated
    assert resolve_key(info(True, "published-demo-key"), {}, study_dir=folder, files=files) == b"published-demo-key"
    empty = {KEY_VARIABLE: ""}
    assert resolve_key(info(True, "published-demo-key"), empty, study_dir=folder, files=files) == b"published-demo-key"


def test_the_committed_demo_study_is_the_simulators() -> None:
    study = load_study(DEMO / "study.yaml")
    files = {label: s.file for _, s, label in source_labels(study)}
    assert demo_data_problem(DEMO, files) is None
    assert resolve_key(study.study, {}, study_dir=DEMO, files=files) == study.study.demo_pseudonym_key.encode()


@pytest.mark.parametrize("with_env_key", [False, True], ids=["demo-key", "env-key"])
def test_demo_true_on_other_data_is_refused(simulated: tuple[Path, dict[str, str]], with_env_key: bool) -> None:
    """A copied study.yaml that keeps `demo: true` (and its public key) does not run on real data."""
    folder, files = simulated
    environ = {KEY_VARIABLE: ENV_KEY} if with_env_key else {}
    (folder / "wave.csv").write_bytes(b"id,x\n1,3\n")  # one changed byte: not the simulator's file
    with pytest.raises(PrivacyError, match="the file of source 'wave' is not the one the simulator wrote") as error:
        resolve_key(info(True, "published-demo-key"), environ, study_dir=folder, files=files)
    assert "demo: false" in str(error.value) and KEY_VARIABLE in str(error.value)
    (folder / "extra.csv").write_bytes(b"id\n1\n")  # a file the manifest does not list
    with pytest.raises(PrivacyError, match="the file of source 'extra' is not one the simulator wrote"):
        resolve_key(info(True, "k"), environ, study_dir=folder, files={"extra": "extra.csv"})
    (folder / DEMO_MANIFEST).unlink()  # no manifest at all (a hand-made study)
    with pytest.raises(PrivacyError, match=f"no {DEMO_MANIFEST}"):
        resolve_key(info(True, "k"), environ, study_dir=folder, files={"roster": "roster.csv"})
    with pytest.raises(PrivacyError, match="no study folder"):
        resolve_key(info(True, "k"), environ)


def test_demo_true_on_real_data_with_the_demo_study_yaml_is_refused(tmp_path: Path) -> None:
    """The attack of a copied demo study.yaml: demo data replaced by a real roster, no key in the environment."""
    study = Path(shutil.copytree(DEMO, tmp_path / "study"))
    (study / "sessions.csv").write_bytes((study / "sessions.csv").read_bytes() + b"\r\n")
    with pytest.raises(PrivacyError, match="the file of source 'sessions' is not the one the simulator wrote") as error:
        run_ingest(study / "study.yaml", INSTRUMENTS, PARAMS, tmp_path / "out", lambda _: None)
    assert "sessions.csv" not in str(error.value)  # sources by their study.yaml name, never a file's name
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("study", [info(False), info(True)], ids=["real", "demo-without-key"])
def test_no_key_is_refused(study: StudyInfo, simulated: tuple[Path, dict[str, str]]) -> None:
    folder, files = simulated
    with pytest.raises(PrivacyError) as error:
        resolve_key(study, {"SOMETHING_ELSE": "x" * 40}, study_dir=folder, files=files)
    assert KEY_VARIABLE in str(error.value)
    assert "'s'" in str(error.value)
    assert "token_urlsafe" in str(error.value)  # how to make one


@pytest.mark.parametrize("length", [1, 16, MIN_KEY_LENGTH - 1])
def test_short_key_is_refused(length: int, simulated: tuple[Path, dict[str, str]]) -> None:
    folder, files = simulated
    key = TEST_KEY[:length]
    for study in (info(False), info(True, "demo-key")):
        with pytest.raises(PrivacyError) as error:
            resolve_key(study, {KEY_VARIABLE: key}, study_dir=folder, files=files)
        assert f"{length} characters" in str(error.value)
        assert length < 5 or key not in str(error.value)  # the key is not echoed


def test_key_of_exactly_the_minimum_length_is_accepted() -> None:
    key = TEST_KEY[:MIN_KEY_LENGTH]
    assert estimated_bits(key) >= MIN_KEY_BITS
    assert len(resolve_key(info(False), {KEY_VARIABLE: key})) == MIN_KEY_LENGTH


def test_demo_key_only_in_a_demo_study() -> None:
    with pytest.raises(ValidationError, match="demo_pseudonym_key"):
        info(False, "a-published-key-in-a-real-study")
    assert info(True, "demo").demo_pseudonym_key == "demo"


# --------------------------------------------------------------------------------------------
# privacy end to end: nothing identifying leaves data_raw/


def raw_identifiers(study_dir: Path) -> tuple[set[str], set[str]]:
    """Return (every identifying value, every ID value) of the study's raw files.

    Identifying values are the cells of the ID columns and of the columns declared as
    identifiers or free text (names, e-mail and IP addresses, remarks).
    """
    study = load_study(study_dir / "study.yaml")
    secret: set[str] = set()
    ids: set[str] = set()
    for _, src in study.sources():
        frame = READERS[src.format](study_dir / src.file, src).frame
        id_columns = [
            src.columns[f] for f in ("participant_id", "group_id", "coach_id", "session_id") if f in src.columns
        ]
        for column in id_columns:
            ids |= {str(v) for v in frame[column].dropna()}
        for column in [*src.identifier_columns, *src.free_text_columns]:
            secret |= {str(v) for v in frame[column].dropna()}
    return secret | ids, ids


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini study, run as a real study (it is hand-made, not the simulator's), ingested and scored."""
    root = tmp_path_factory.mktemp("privacy")
    study = non_demo(Path(shutil.copytree(MINI, root / "raw")))
    out = root / "clean"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_VARIABLE, TEST_KEY)
        run_ingest(study / "study.yaml", INSTRUMENTS, PARAMS, out, lambda _: None)
    run_score(out, INSTRUMENTS, out / "scale_scores.parquet", out / "data_dictionary.csv", lambda _: None)
    return out


def test_the_search_looks_for_the_right_things() -> None:
    secret, ids = raw_identifiers(MINI)
    expected_ids = {f"P00{n}" for n in range(1, 10)} | {"X123", "P099", "G1", "G2", "G9", "C1", "C2"}
    assert expected_ids | {f"S{n}" for n in range(1, 7)} <= ids
    for value in (
        "Anna de Vries",
        "anna.devries@example.org",
        "Coach Een",
        "192.0.2.1",
        "Alles goed",
        "Tweede keer, mail me op bram.jansen@example.org",
        "Meer tijd voor de casus",
        "Goed gesprek over een moeilijke patiënt",
    ):
        assert value in secret, value
    # and the mini study does still hold all of these (read_source accepts every file)
    study = load_study(MINI / "study.yaml")
    assert all((MINI / s.file).is_file() for _, s in study.sources())
    assert read_source(MINI / "roster.csv", study.roster).frame["Naam"].notna().all()


def test_outputs_were_written(output: Path) -> None:
    names = {p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()}
    for name in ("participants.parquet", "responses.parquet", "item_responses.parquet", "scale_scores.parquet",
                 "quality/issues.parquet", "quality/row_fates.parquet", "quality/row_accounting.csv",
                 "data_dictionary.csv"):  # fmt: skip
        assert name in names


def string_cells(output: Path) -> list[tuple[str, str, str]]:
    """Every string cell (and column name) of every parquet table: (file, column, value)."""
    cells = []
    for path in sorted(output.rglob("*.parquet")):
        table = pd.read_parquet(path)
        cells += [(path.name, "<column name>", str(c)) for c in table.columns]
        for column in table.columns:
            for value in table[column].dropna().unique():
                if isinstance(value, str):
                    cells.append((path.name, column, value))
    return cells


def test_no_identifier_in_any_table_cell(output: Path) -> None:
    secret, ids = raw_identifiers(MINI)
    cells = string_cells(output)
    assert len(cells) > 100  # the search looked at something
    folded_ids = {i.casefold() for i in ids}
    for file, column, value in cells:
        assert value.strip().casefold() not in folded_ids, (file, column, value)  # not even "G1" as a cell
        for s in secret:
            if len(s) >= 5:  # long enough not to occur by chance inside another value
                assert s.casefold() not in value.casefold(), (file, column, s)


def test_no_identifier_in_the_bytes_of_any_output_file(output: Path) -> None:
    secret, ids = raw_identifiers(MINI)
    needles = {s.casefold().encode("utf-8") for s in secret if len(s) >= 5}
    needles |= {s.casefold().encode("cp1252") for s in secret if len(s) >= 5}
    needles |= {i.casefold().encode() for i in ids if len(i) >= 4}  # P001..P009, X123, P099
    needles |= {b"devries", b"@example.org", b"192.0.2.", KEY.lower(), TEST_KEY.casefold().encode()}
    study = load_study(MINI / "study.yaml")
    if study.study.demo_pseudonym_key:  # a study's own key never leaves study.yaml
        needles.add(study.study.demo_pseudonym_key.casefold().encode())
    files = [p for p in output.rglob("*") if p.is_file()]
    assert len(files) >= 10
    for path in files:
        data = path.read_bytes().lower()
        for needle in needles:
            assert needle not in data, (path.name, needle)


def test_pseudonyms_in_the_output_are_those_of_the_clean_participants(output: Path) -> None:
    # the positive control: the participants are there, pseudonymised with the study's key
    key = TEST_KEY.encode()
    participants = pd.read_parquet(output / "participants.parquet")
    assert set(participants["participant"]) == {pseudonym(key, "participant", f"P00{n}") for n in range(1, 5)}
    assert set(participants["group"].dropna()) == {pseudonym(key, "group", g) for g in ("G1", "G2")}
    for path in output.rglob("*.parquet"):
        table = pd.read_parquet(path)
        for column in ("participant", "group", "coach", "session"):
            if column in table.columns:
                prefix = column[0].upper()
                bad = [v for v in table[column].dropna() if not (PSEUDONYM.match(v) and v[0] == prefix)]
                assert not bad, (path.name, column, bad)
