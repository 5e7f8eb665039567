"""Privacy proofs: identifying data planted in the raw files never leaves data_raw/.

Canaries (a name, a coach's name, e-mail addresses, student numbers, phone numbers, BSNs, an
IBAN) are planted in a copy of the demo study where a real study would hold them: roster name,
e-mail and coach columns, a new participant's ID, Qualtrics' recipient columns, free-text
comments, a session report, a tip for the coach, answer cells, a column the study ignores, and
where nobody meant them to be: number, count and date fields (a BSN as a duration, a phone
number as a count, an e-mail address as a date), a file name, a sheet name, a column header
and .sav variable and value labels (``tests/hostile/project.py``).  After `dvc repro`, every
file under data_clean/, results/ and the rendered reports (reports/_site/, whatever stages
write there) is searched, as bytes and, for parquet, cell by cell, for every canary, ignoring
case; so is everything the run printed.  A non-demo study without a key, and an export with a
column nobody declared, stop before anything is written.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pipeline.instruments import load_library
from pipeline.items import data_columns
from pipeline.pseudonymise import KEY_VARIABLE, pseudonym
from pipeline.readers import read_source
from pipeline.study import load_study
from tests.hostile import project as canary
from tests.test_ingest import INSTRUMENTS, MINI, PARAMS

pytestmark = pytest.mark.slow
SCANNED = ("data_clean", "results", "reports/_site")


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return canary.shared_project(tmp_path_factory)[0]


def texts_of(path: Path) -> list[str]:
    """Return what a file says, case-folded: its bytes as text, parquet cells, members of zip archives."""
    data = path.read_bytes()
    texts = [data.decode("utf-8", errors="ignore"), data.decode("utf-16", errors="ignore")]
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        texts += [str(c) for c in frame.columns]
        for column in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[column]) or frame[column].dtype == object:
                texts += [str(v) for v in frame[column].dropna().unique()]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            texts += [archive.read(n).decode("utf-8", errors="ignore") for n in archive.namelist()]
    return [t.casefold() for t in texts]


def scanned_files(root: Path) -> list[Path]:
    return sorted(p for part in SCANNED if (root / part).is_dir() for p in (root / part).rglob("*") if p.is_file())


def test_the_canaries_are_in_the_raw_data(copy: Path) -> None:
    """Without this the proof below would be empty: every canary is in some raw cell."""
    study = load_study(copy / canary.STUDY / "study.yaml")
    library = load_library(INSTRUMENTS)
    cells: set[str] = set()
    for role, source in study.sources():
        table = read_source(copy / canary.STUDY / source.file, source, data_columns(study, role, source, library))
        cells |= {str(v).casefold() for v in table.frame.to_numpy(dtype=object).ravel() if v is not None}
    for token in canary.CELL_CANARIES:
        assert any(token.casefold() in c for c in cells), token


def test_the_name_canaries_are_in_the_raw_files(copy: Path) -> None:
    """The canaries outside cells are where they were planted: a file name, a sheet, a header, .sav labels."""
    import openpyxl
    import pyreadstat

    folder = copy / canary.STUDY
    assert any(canary.FILE_NAME in p.name for p in folder.iterdir())
    assert any(canary.SHEET_NAME in name for name in openpyxl.load_workbook(folder / "roster.xlsx").sheetnames)
    header = next(openpyxl.load_workbook(folder / "survey_t3_24m.xlsx")["Antwoorden"].iter_rows(values_only=True))
    assert canary.HEADER in header
    _frame, meta = pyreadstat.read_sav(folder / "survey_t1_3m.sav", metadataonly=True)
    assert any(canary.SAV_VARIABLE_LABEL in (label or "") for label in meta.column_labels)
    assert any(canary.SAV_VALUE_LABEL in v for labels in meta.variable_value_labels.values() for v in labels.values())


def test_the_canary_participant_is_in_the_clean_data_under_a_pseudonym(copy: Path) -> None:
    """The planted participant went through the pipeline (so the scan looked at their data)."""
    participants = pd.read_parquet(copy / "data_clean" / "participants.parquet")
    assert pseudonym(canary.KEY.encode(), "participant", canary.STUDENT) in set(participants["participant"])


def test_no_canary_in_any_output(copy: Path) -> None:
    files = scanned_files(copy)
    assert len(files) > 30
    assert any(p.suffix == ".parquet" for p in files) and any(p.parts[-3:-1] == ("results", "growth") for p in files)
    leaks = {
        (p.relative_to(copy).as_posix(), token)
        for p in files
        for text in texts_of(p)
        for token in canary.CANARIES
        if token.casefold() in text
    }
    assert leaks == set()


def test_no_canary_in_the_terminal_output(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Everything `dvc repro` printed (each stage's progress lines, warnings) is free of canaries too."""
    log = canary.shared_log(tmp_path_factory).casefold()
    assert "ingest" in log
    assert {token for token in canary.CANARIES if token != canary.FILE_NAME and token.casefold() in log} == set()


def test_no_file_name_in_the_terminal_output(tmp_path_factory: pytest.TempPathFactory) -> None:
    assert canary.FILE_NAME.casefold() not in canary.shared_log(tmp_path_factory).casefold()


def test_the_quality_tables_name_sources_by_role_and_show_only_shapes(copy: Path) -> None:
    """source_file is the study.yaml name of a file; a shown value is short, or a shape from the fixed vocabulary."""
    clean = copy / "data_clean"
    expected = {"roster", "sessions", "attendance", "survey_t0", "survey_t1", "survey_t2", "survey_t3", "survey_session"}
    accounting = pd.read_parquet(clean / "quality" / "row_accounting.parquet")
    assert set(accounting["source_file"]) == expected
    assert set(pd.read_parquet(clean / "responses.parquet")["source_file"]) <= expected
    issues = pd.read_parquet(clean / "quality" / "issues.parquet")
    assert set(issues["source_file"]) <= expected
    kinds = set(issues["value"][issues["value"].str.startswith("<redacted")])
    vocabulary = r"<redacted: (identifier|\d+ digits|number|e-mail|phone number|date|word|code|text|value)>"
    assert kinds and all(re.fullmatch(vocabulary, k) for k in kinds), kinds
    shown = issues["value"][~issues["value"].str.startswith("<redacted") & (issues["value"] != "")]
    assert all(len(v) <= 16 and re.fullmatch(r"[\w.,:+\- ]+", v) for v in shown), sorted(set(shown))
    planted = {
        ("survey_t0", "BRS_2"): "<redacted: 9 digits>",  # a BSN in an answer cell
        ("survey_t0", "BRS_3"): "<redacted: 10 digits>",  # a mobile number, read as a number
        ("survey_t0", "Duration (in seconds)"): "<redacted: 9 digits>",  # a BSN as a completion time
        ("sessions", "Aantal casussen"): "<redacted: text>",  # '2 (casus van Zwaantje, 06...)'
        ("sessions", "Duur (uur)"): "<redacted: phone number>",  # a landline number as a session length
        ("survey_t3", "Ingevuld op"): "<redacted: e-mail>",  # an e-mail address as a submission date
        ("survey_t3", "BRS_1"): "<redacted: code>",  # an IBAN in an answer cell
        ("roster", "Uitstroomdatum"): "<redacted: text>",  # 'vertrokken, bel +316...'
    }
    values = issues.groupby(["source_file", "column"])["value"].agg(set)
    for where, value in planted.items():
        assert value in values.loc[where], (where, values.loc[where])


def test_the_scan_finds_a_canary_where_there_is_one(tmp_path: Path) -> None:
    """The scan itself works: a canary in a parquet cell (compressed) and in a CSV is found."""
    pd.DataFrame({"x": [canary.EMAIL.upper()]}).to_parquet(tmp_path / "t.parquet", compression="zstd")
    (tmp_path / "t.csv").write_text(f"a\n{canary.NAME}\n", encoding="utf-8")
    assert any(canary.EMAIL.casefold() in t for t in texts_of(tmp_path / "t.parquet"))
    assert any(canary.NAME.casefold() in t for t in texts_of(tmp_path / "t.csv"))


def _real(study: Path) -> None:
    path = study / "study.yaml"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if "demo_pseudonym_key" not in line]
    path.write_text("\n".join(lines).replace("demo: true", "demo: false") + "\n", encoding="utf-8")


def test_a_real_study_without_a_key_stops_before_writing(copy: Path, tmp_path: Path) -> None:
    """The installed command on the canary study made non-demo: exit 2, the reason, no output at all.

    (tests/test_pseudonymise.py checks the rule, tests/test_cli.py the in-process command on the
    mini study; this is the console command a research team runs, on the full raw data.)
    """
    study = Path(shutil.copytree(copy / canary.STUDY, tmp_path / "study"))
    _real(study)
    out = tmp_path / "clean"
    result = canary.run(
        ["intervisie", "ingest", "--study", str(study / "study.yaml"), "--instruments", str(copy / "instruments"),
         "--params", str(copy / "params.yaml"), "--out", str(out)],
        copy,
    )
    assert result.returncode == 2, result.stderr
    assert KEY_VARIABLE in result.stderr and "not the demo study" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not any(t.casefold() in result.stderr.casefold() for t in canary.CANARIES)


def test_an_undeclared_column_stops_the_ingest_without_echoing_its_values(tmp_path: Path) -> None:
    study = Path(shutil.copytree(MINI, tmp_path / "study"))
    roster = study / "roster.csv"
    lines = roster.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",Telefoon"] + [f"{line},{canary.PHONE}" for line in lines[1:]]
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "clean"
    result = canary.run(
        ["intervisie", "ingest", "--study", str(study / "study.yaml"), "--instruments", str(INSTRUMENTS),
         "--params", str(PARAMS), "--out", str(out)],
        tmp_path,
        INTERVISIE_PSEUDONYM_KEY=canary.KEY,
    )
    assert result.returncode == 2
    assert "['Telefoon']" in result.stderr and canary.PHONE not in result.stderr
    assert not out.exists()
