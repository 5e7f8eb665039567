"""One copy of the project with canaries planted in its raw data, run once with `dvc repro`.

The privacy proofs (tests/test_privacy.py) and the crash-safety and determinism tests
(tests/test_crash_safety.py) share it: a full run of the pipeline is the expensive part, so it
is made once per test session (memoised here) and the bytes of every DVC output are recorded
right after it, before any test touches the copy.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
import yaml

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
STUDY = Path("data_raw") / "demo"

#: planted in the raw data; none may reach data_clean/, results/ or the rendered reports (any case)
NAME = "Zwaantje Canarie-Vlinder"
COACH = "Kwartel Vinkenoog"
EMAIL = "zwaantje.canarie@kanarie-test.nl"
EMAIL_2 = "z.canarie-vlinder@kanarie-test.nl"
STUDENT = "i9999901"  # a participant ID: only its keyed pseudonym may leave data_raw/
STUDENT_2 = "i9999902"  # in a column the study ignores
PHONE = "06-99990101"
PHONE_2 = "+31 6 9999 0101"
#: typed into number, date and count fields (each of the shapes the issue table redacts)
BSN = "123456782"  # passes the 11-proof: 9*1 + 8*2 + 7*3 + 6*4 + 5*5 + 4*6 + 3*7 + 2*8 - 1*2 = 154 = 11 * 14
BSN_2 = "111222333"  # 11-proof too (66 = 11 * 6): a BSN as a completion time
IBAN = "NL91ABNA0417164300"
MOBILE = "0687124359"  # read as the number 687124359 where a number belongs
MOBILE_INTL = "+31687654329"
LANDLINE = "020-7654321"
EMAIL_3 = "Zwaantje.Canarie+intervisie@Kanarie-Test.NL"  # plus-addressing, upper case
#: in names rather than cells: a file, a sheet, a column header, .sav variable and value labels
FILE_NAME = "Kwartelkoning"  # the session evaluations are saved as evaluaties_coach_Kwartelkoning.csv
SHEET_NAME = "Zwaluwstaart"  # the roster's sheet is called "Deelnemers Zwaluwstaart"
HEADER = "kop.canarie@kanarie-test.nl"  # an e-mail address as a column header (declared as an identifier)
SAV_VARIABLE_LABEL = "Merelzang"  # in the variable label of a .sav column
SAV_VALUE_LABEL = "Lijsterbes"  # in a value label of a .sav column
CELL_CANARIES = (
    NAME, "Zwaantje", "Canarie-Vlinder", COACH, EMAIL, EMAIL_2, "kanarie-test", STUDENT, STUDENT_2, PHONE, PHONE_2,
    BSN, BSN_2, IBAN, MOBILE, MOBILE_INTL, LANDLINE, EMAIL_3,
)  # fmt: skip
NAME_CANARIES = (FILE_NAME, SHEET_NAME, HEADER, SAV_VARIABLE_LABEL, SAV_VALUE_LABEL)
CANARIES = CELL_CANARIES + NAME_CANARIES + ("687124359", "31687654329", "0207654321")
#: the key of the canary study (not the demo: its files are changed, so it runs as a real study would)
KEY = "c6e1f0a94b7d2e3f58a1b9c0d4e7f2a6b3c8d1e5f9a0b4c7d2e6f1a3b5c8d0e9"

_SHARED: dict[str, object] = {}


def run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command of the project's environment (no pseudonymisation key unless given)."""
    environ = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    if "INTERVISIE_PSEUDONYM_KEY" not in env:
        environ.pop("INTERVISIE_PSEUDONYM_KEY", None)
    return subprocess.run(cmd, cwd=cwd, env=environ, capture_output=True, text=True, check=False)


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``dvc`` in a copy of the project, with the canary study's key."""
    return run([str(BIN / "dvc"), *args], root, INTERVISIE_PSEUDONYM_KEY=KEY)


def copy_project(root: Path) -> Path:
    """Copy the project as a clone would have it (tracked and untracked, not ignored) into a git repo."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        if (ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
    return root


def commit(root: Path) -> None:
    """Make the copy a git repository with one commit (DVC needs one)."""
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "copy"],
    ):
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)


# --------------------------------------------------------------------------- canaries


def _read(path: Path, encoding: str) -> str:
    """Return a file's text with its line ends as they are."""
    with open(path, encoding=encoding, newline="") as handle:
        return handle.read()


def _append_csv_row(path: Path, like: str, changes: dict[str, str], *, sep: str, encoding: str) -> None:
    """Append a copy of the row whose first ID column equals ``like``, with some cells changed."""
    text = _read(path, encoding)
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=sep))
    header = rows[0]
    row = next(r for r in rows if like in r)
    new = [changes.get(column, cell) for column, cell in zip(header, row, strict=True)]
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=sep, lineterminator="\r\n" if "\r\n" in text else "\n").writerow(new)
    path.write_text(text + out.getvalue(), encoding=encoding, newline="")


def _fill_last_column(path: Path, line_no: int, value: str, *, encoding: str) -> None:
    """Write ``value`` into the (empty) last column of one line of a ';' file."""
    lines = _read(path, encoding).split("\n")
    if not lines[line_no - 1].rstrip("\r").endswith(";"):
        raise ValueError(f"{path.name}:{line_no} does not end with an empty last column")
    end = "\r" if lines[line_no - 1].endswith("\r") else ""
    lines[line_no - 1] = lines[line_no - 1].rstrip("\r") + value + end
    path.write_text("\n".join(lines), encoding=encoding, newline="")


def plant_canaries(study: Path) -> None:
    """Plant names, e-mail addresses, student numbers and phone numbers in a copy of the demo's raw files.

    A new participant (``STUDENT``) joins the group of the roster's second participant: roster
    row (name, e-mail, coach name), attendance, a baseline submission with the names and e-mail
    in Qualtrics' recipient columns, a phone number in the comment and in an answer cell, and a
    student number in an ignored column; a session report, a tip for the coach and a 24-month
    comment mention the canaries too.
    """
    book = openpyxl.load_workbook(study / "roster.xlsx")
    sheet = book["Deelnemers"]
    header = [c.value for c in sheet[1]]
    like = _member_who_answered(study, sheet, header)
    template = next(
        [c.value for c in row] for row in sheet.iter_rows(min_row=2) if row[header.index("Deelnemer-ID")].value == like
    )
    changes = {"Deelnemer-ID": STUDENT, "Naam": NAME, "E-mail": EMAIL, "Coach": COACH}
    sheet.append([changes.get(h, v) for h, v in zip(header, template, strict=True)])
    book.save(study / "roster.xlsx")

    attendance = study / "attendance.csv"
    lines = _read(attendance, "cp1252").split("\r\n")
    copies = [line.replace(f";{like};", f";{STUDENT};") for line in lines if f";{like};" in line]
    attendance.write_text("\r\n".join(lines[:-1] + copies + lines[-1:]), encoding="cp1252", newline="")

    first, last = NAME.split(" ", 1)
    _append_csv_row(
        study / "survey_t0_baseline.csv",
        like,
        {
            "ExternalReference": STUDENT,
            "RecipientFirstName": first,
            "RecipientLastName": last,
            "RecipientEmail": EMAIL,
            "Q_opmerking": f"Bel me gerust: {PHONE}",
            "BRS_1": f"bel {PHONE}",
            "DistributionChannel": STUDENT_2,
        },
        sep=",",
        encoding="utf-8",
    )
    _fill_last_column(study / "sessions.csv", 2, f"{NAME} ({STUDENT}, {PHONE}) bracht een casus in", encoding="cp1252")
    _fill_last_column(study / "session_evaluations.csv", 2, f"Vraag {NAME}, {EMAIL}", encoding="cp1252")

    book = openpyxl.load_workbook(study / "survey_t3_24m.xlsx")
    sheet = book["Antwoorden"]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=2, column=header.index("E-mail") + 1, value=EMAIL_2)
    sheet.cell(row=2, column=header.index("Opmerking") + 1, value=f"Groeten, {NAME} ({PHONE_2})")
    book.save(study / "survey_t3_24m.xlsx")
    plant_more_canaries(study)


def plant_more_canaries(study: Path) -> None:
    """Plant personal data where it is not a cell of an identifier or free-text column.

    BSNs, an IBAN, mobile, international and landline phone numbers and e-mail addresses in
    answer cells, durations, counts, a leaving date and a submission date; a person's name in a
    file name, a sheet name and .sav variable and value labels; an e-mail address as a column
    header.  The study becomes a real one (``demo: false``, a key from the environment): its
    files are no longer the simulator's.
    """
    _append_last_row_cells(
        study / "survey_t0_baseline.csv", {"BRS_2": BSN, "BRS_3": MOBILE, "Duration (in seconds)": BSN_2}
    )
    lines = _read(study / "sessions.csv", "cp1252").split("\r\n")
    lines[2] = _set_field(lines[2], 5, f"2 (casus van Zwaantje, {MOBILE})")  # Aantal casussen
    lines[3] = _set_field(lines[3], 3, LANDLINE)  # Duur (uur)
    (study / "sessions.csv").write_text("\r\n".join(lines), encoding="cp1252", newline="")

    book = openpyxl.load_workbook(study / "survey_t3_24m.xlsx")
    sheet = book["Antwoorden"]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=3, column=header.index("Ingevuld op") + 1, value=EMAIL_3)
    sheet.cell(row=3, column=header.index("BRS_1") + 1, value=IBAN)
    sheet.cell(row=1, column=len(header) + 1, value=HEADER)
    book.save(study / "survey_t3_24m.xlsx")

    book = openpyxl.load_workbook(study / "roster.xlsx")
    sheet = book["Deelnemers"]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=sheet.max_row, column=header.index("Uitstroomdatum") + 1, value=f"vertrokken, bel {MOBILE_INTL}")
    sheet.title = f"Deelnemers {SHEET_NAME}"
    book.save(study / "roster.xlsx")

    _relabel_sav(study / "survey_t1_3m.sav")
    evaluations = f"evaluaties_coach_{FILE_NAME}.csv"
    (study / "session_evaluations.csv").rename(study / evaluations)
    spec = (study / "study.yaml").read_text(encoding="utf-8")
    for old, new in (
        ("file: session_evaluations.csv", f"file: {evaluations}"),
        ("sheet: Deelnemers\n", f"sheet: Deelnemers {SHEET_NAME}\n"),
        ("identifier_columns: [E-mail]", f"identifier_columns: [E-mail, {HEADER}]"),
        ("free_text_columns: [opmerking]", "free_text_columns: [opmerking]\n    ignore_columns: [kanaal]"),
        ("demo: true", "demo: false"),
    ):
        if spec.count(old) != 1:
            raise ValueError(f"study.yaml: {old!r} occurs {spec.count(old)} times, not once")
        spec = spec.replace(old, new)
    spec = "\n".join(line for line in spec.splitlines() if "demo_pseudonym_key" not in line) + "\n"
    (study / "study.yaml").write_text(spec, encoding="utf-8")


def _set_field(line: str, index: int, value: str, sep: str = ";") -> str:
    fields = line.split(sep)
    fields[index] = value
    return sep.join(fields)


def _append_last_row_cells(path: Path, changes: dict[str, str]) -> None:
    """Change cells of the last row of a comma-separated file (the canary participant's submission)."""
    text = _read(path, "utf-8")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    header, last = rows[0], rows[-1]
    for column, value in changes.items():
        last[header.index(column)] = value
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n" if "\r\n" in text else "\n").writerow(last)
    body = text.rstrip("\r\n")
    cut = body.rfind("\n") + 1
    path.write_text(text[:cut] + out.getvalue(), encoding="utf-8", newline="")


def _relabel_sav(path: Path) -> None:
    """Rewrite a .sav with a name in a variable label and in a value label of an (ignored) extra column."""
    import pyreadstat

    frame, meta = pyreadstat.read_sav(path)
    frame["kanaal"] = 1.0
    labels = dict(meta.column_names_to_labels)
    labels["opmerking"] = f"Opmerking voor {SAV_VARIABLE_LABEL}"
    labels["kanaal"] = "kanaal"
    value_labels = dict(meta.variable_value_labels)
    value_labels["kanaal"] = {1.0: f"via {SAV_VALUE_LABEL} ({EMAIL})", 2.0: f"bel {LANDLINE}"}
    pyreadstat.write_sav(
        frame,
        path,
        column_labels=[labels.get(c) for c in frame.columns],
        variable_value_labels=value_labels,
        variable_format={c: f for c, f in meta.original_variable_types.items() if c in frame.columns},
    )


def _member_who_answered(study: Path, sheet: object, header: list[str]) -> str:
    """Return the ID of a consenting intervisie participant with attendance and a baseline submission."""
    attendance = (study / "attendance.csv").read_text(encoding="cp1252")
    baseline = (study / "survey_t0_baseline.csv").read_text(encoding="utf-8")
    at = {h: header.index(h) for h in ("Deelnemer-ID", "Arm", "Toestemming")}
    for row in sheet.iter_rows(min_row=2, values_only=True):  # type: ignore[attr-defined]
        pid = str(row[at["Deelnemer-ID"]])
        if row[at["Arm"]] == "intervisie" and row[at["Toestemming"]] == "ja":
            if f";{pid};" in attendance and f",{pid}," in baseline:
                return pid
    raise ValueError("no participant of the demo roster to copy")


# --------------------------------------------------------------------------- outputs


def time_stamped(dvc_yaml: str) -> set[str]:
    """Return the outputs that dvc.yaml documents as time-stamped (a comment about run times just above)."""
    found = set()
    lines = dvc_yaml.splitlines()
    for above, line in itertools.pairwise(lines):
        match = re.match(r"\s*-\s+([^\s:]+):?\s*$", line)
        if match and above.strip().startswith("#") and re.search(r"\btimes?\b|time-?stamp", above):
            found.add(match.group(1))
    return found


def declared_outputs(root: Path) -> list[str]:
    """Return every output of every stage (outs, metrics, plots), as written in dvc.yaml."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    out = []
    for stage in stages.values():
        for entry in stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", []):
            out.append(entry if isinstance(entry, str) else next(iter(entry)))
    return out


def output_bytes(root: Path, outputs: list[str]) -> dict[str, bytes]:
    """Return the bytes of every file of the given outputs (files, and the files in directories)."""
    found: dict[str, bytes] = {}
    for out in outputs:
        path = root / out
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                found[file.relative_to(root).as_posix()] = file.read_bytes()
    return found


def shared_project(factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """Return the canary copy after one `dvc repro`, and the bytes of its outputs right after it."""
    if "root" not in _SHARED:
        root = copy_project(factory.mktemp("canary_project"))
        plant_canaries(root / STUDY)
        commit(root)
        result = dvc(root, "repro")
        if result.returncode != 0:
            raise AssertionError(f"dvc repro failed in the canary copy:\n{result.stdout}\n{result.stderr}")
        _SHARED["log"] = result.stdout + result.stderr
        _SHARED["root"] = root
        _SHARED["snapshot"] = output_bytes(root, declared_outputs(root))
    return _SHARED["root"], _SHARED["snapshot"]  # type: ignore[return-value]


def shared_log(factory: pytest.TempPathFactory) -> str:
    """Return what the shared copy's `dvc repro` printed (stdout and stderr): the terminal output of a run."""
    shared_project(factory)
    return str(_SHARED["log"])


def built_project(factory: pytest.TempPathFactory, needed: str) -> Path:
    """A project root whose ``needed`` output exists: this checkout when `dvc repro` has run in it,
    otherwise (a fresh clone, as in CI) the shared copy after its own `dvc repro`."""
    here = Path(__file__).resolve().parents[2]
    if (here / needed).exists():
        return here
    return shared_project(factory)[0]
