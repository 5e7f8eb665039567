"""``intervisie study init`` and ``intervisie study check`` on a small folder of exports (tests/real_study.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from intervisie.cli import main
from tests.real_study import ATTENDANCE, FOLLOW_UP, LIMESURVEY, ROSTER, SESSIONS, STUDY, write_study
from tests.test_ingest import INSTRUMENTS, PARAMS

QUALTRICS = (
    "StartDate,EndDate,Status,IPAddress,Progress,Duration (in seconds),Finished,RecordedDate,ResponseId,"
    "RecipientEmail,ExternalReference,"
    + ",".join(f"UWES_{n}" for n in range(1, 10))
    + ",Q_opmerking\n"
    + ",".join(["vraag"] * 21)
    + "\n"
    + ",".join(['"{""ImportId"":""x""}"'] * 21)
    + "\n"
    + "2025-12-01,2025-12-01,0,10.1.2.3,100,600,1,2025-12-01,R_1,zoe@example.org,P1,"
    + ",".join(["4"] * 9)
    + ",heel fijn\n"
)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def cell_values(folder: Path) -> set[str]:
    """Every text cell of the exports (not the headers) that could identify or quote someone."""
    texts = [ROSTER, LIMESURVEY, FOLLOW_UP, QUALTRICS]
    values = {c for t in texts for line in t.splitlines()[1:] for c in line.split(",")}
    values |= {str(v) for frame in (SESSIONS, ATTENDANCE) for v in frame.to_numpy().ravel()}
    # ja/nee are the words the pipeline reads as true/false by itself (the draft names them as such)
    return {v for v in values if len(v) >= 3 and not re.fullmatch(r"[\d.:\- ]+|vraag|nee|.*ImportId.*", v)}


def init(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run(["study", "init", str(folder), "--instruments", str(INSTRUMENTS), *extra], capsys)


def check(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run(["study", "check", str(folder), "--instruments", str(INSTRUMENTS), "--params", str(PARAMS)], capsys)


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = write_study(tmp_path / "pilot", study="")
    (folder / "qualtrics_t2_12m.csv").write_text(QUALTRICS, encoding="utf-8")
    return folder


def test_init_drafts_every_source_without_copying_a_cell(exports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = init(exports, capsys)
    assert code == 0, err
    text = (exports / "study.yaml").read_text(encoding="utf-8")
    leaked = sorted(v for v in cell_values(exports) if v in text or v in out + err)
    assert leaked == []
    draft = yaml.safe_load(text)
    assert draft["roster"]["columns"]["participant_id"] == "Deelnemer-ID"
    assert draft["roster"]["identifier_columns"] == ["Naam"]
    assert draft["design"]["comparison"] is False  # no arm column
    assert draft["sessions"]["sheet"] == "Sessies" and draft["sessions"]["session_id_scope"] == "group"
    assert draft["attendance"]["sheet"] == "Aanwezigheid"
    assert draft["attendance"]["columns"] == {
        "session_id": "Sessie",
        "participant_id": "Deelnemer",
        "attended": "Aanwezig",
    }
    surveys = {s["file"]: s for s in draft["surveys"]}
    assert surveys["limesurvey_t0_baseline.csv"]["items"] == {"brs": "BRS[SQ{n:03d}]"}
    assert surveys["limesurvey_t0_baseline.csv"]["columns"]["participant_id"] == "token"
    assert surveys["vragenlijst_3m.csv"]["items"] == {"brs": "Q{n:02d}"}
    qualtrics = surveys["qualtrics_t2_12m.csv"]
    assert qualtrics["format"] == "qualtrics_csv" and qualtrics["items"] == {"uwes9": "UWES_{n}"}
    assert qualtrics["columns"]["participant_id"] == "ExternalReference"
    assert set(qualtrics["identifier_columns"]) == {"IPAddress", "RecipientEmail"}
    assert qualtrics["free_text_columns"] == ["Q_opmerking"]
    assert {s["wave"] for s in draft["surveys"]} == {"t0", "m3", "t2"}
    assert {w: v["months"] for w, v in draft["waves"].items()} == {"t0": 0, "m3": 3, "t2": 12}
    # every guess has a comment, the open decisions a TODO
    assert "BRS[SQ001] .. BRS[SQ006]" in text and "guessed from the number of columns only" in text
    assert text.count("TODO") >= 3


def test_init_never_overwrites_without_force(exports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (exports / "study.yaml").write_text("# mine\n", encoding="utf-8")
    code, _out, err = init(exports, capsys)
    assert code == 2 and "--force" in err
    assert (exports / "study.yaml").read_text(encoding="utf-8") == "# mine\n"
    code, _out, err = init(exports, capsys, "--force")
    assert code == 0, err
    assert (exports / "study.yaml").read_text(encoding="utf-8").startswith("# Draft written")


def test_check_of_a_fresh_draft_lists_its_todos(exports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init(exports, capsys)
    code, _out, err = check(exports, capsys)
    assert code == 2
    assert "still a TODO" in err and "title: TODO" in err


def test_check_reports_design_columns_and_analyses_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_study(tmp_path / "pilot")
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    code, out, err = check(folder, capsys)
    assert code == 0, err
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before
    assert "arms: intervisie;" in out
    assert "session_id <- Sessie" in out and "brs <- BRS[SQ001] .. BRS[SQ006] (6 columns)" in out
    assert "left out (identifiers, never kept): Naam" in out
    assert "no comparison cohort: between-arm effects skipped" in out
    assert "2 waves: no long-term slope" in out
    # the quality tables name a source by its role in study.yaml (older runs: by file and sheet)
    assert re.search(r"(sessions|logboek\.xlsx \[Sessies\]): 7 read, 5 clean, 2 quarantined", out)
    assert not [v for v in cell_values(folder) - {"coschappen"} if v in out]  # the programme id is study.yaml's


def test_check_says_what_goes_without_sessions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = re.sub(r"sessions:\n(  .*\n)+attendance:\n(  .*\n)+", "", STUDY)
    folder = write_study(tmp_path / "pilot", study)
    (folder / "logboek.xlsx").unlink()
    code, out, err = check(folder, capsys)
    assert code == 0, err
    assert "no sessions: dose and method factors skipped" in out


def test_check_exits_2_when_every_session_is_quarantined(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_study(tmp_path / "pilot", STUDY.replace("  session_id_scope: group\n", ""))
    code, _out, err = check(folder, capsys)
    assert code == 2
    assert "none of its 7 rows is clean" in err and "session_id_scope: group" in err


def test_check_exits_2_on_an_undescribed_column_and_a_bad_params_choice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_study(tmp_path / "pilot", STUDY.replace("  identifier_columns: [Naam]\n", ""))
    params = tmp_path / "params.yaml"
    params.write_text("analyses:\n  implementation: {outcomes: [cbi_work]}\n", encoding="utf-8")
    code, _out, err = run(
        ["study", "check", str(folder), "--instruments", str(INSTRUMENTS), "--params", str(params)], capsys
    )
    assert code == 2
    assert "['Naam']" in err and "does not describe" in err
    assert "analyses.implementation.outcomes: 'cbi_work' is not an outcome" in err
    assert "Traceback" not in err


def test_check_without_study_yaml_points_to_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_study(tmp_path / "pilot", study="")
    code, _out, err = check(folder, capsys)
    assert code == 2 and "intervisie study init" in err


def test_sessions_repeating_within_a_group_only_are_not_guessed_group_scoped(tmp_path: Path) -> None:
    from intervisie.study_scan import scan_folder

    folder = tmp_path / "x"
    folder.mkdir()
    pd.DataFrame({"Groep": ["G1", "G2"], "Sessie": ["S1", "S2"]}).to_excel(folder / "sessies.xlsx", index=False)
    (table,), _ = scan_folder(folder)
    assert not table.repeats_across("Sessie", "Groep")
