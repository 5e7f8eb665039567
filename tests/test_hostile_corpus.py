"""The hostile-input corpus (tests/hostile/): each defective input gives its stated outcome.

A case either stops the command with a clear error (exit code 2, one paragraph naming the
file, the row or column and the rule, no traceback), or the ingest goes on and, compared with
the unchanged mini study, exactly the stated issues appear or disappear, with the stated row
counts and every file still reconciling: no row is lost without a named rule.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from intervisie.cli import main
from intervisie.stages.score import run_score
from pipeline.instruments import check_file
from pipeline.pseudonymise import pseudonym
from tests.hostile import files, instrument_files, rows
from tests.hostile.edits import Case, Fails, Settles
from tests.study_keys import key_in_environment  # noqa: F401 (autouse: the mini study's key)
from tests.test_ingest import EXPECTED_ACCOUNTING, EXPECTED_ISSUES, INSTRUMENTS, KEY, MINI, PARAMS

CORPUS: list[Case] = [*files.CASES, *rows.CASES, *instrument_files.CASES]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command line in-process; return (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_corpus_is_large_and_its_names_distinct() -> None:
    names = [case.name for case in CORPUS]
    assert len(names) == len(set(names))
    assert len(CORPUS) >= 30
    assert sum(isinstance(c.expect, Fails) for c in CORPUS) >= 10
    assert sum(isinstance(c.expect, Settles) for c in CORPUS) >= 10


def test_the_corpus_readme_lists_every_case() -> None:
    listed = re.findall(r"^\| `([a-z0-9_]+)` \|", (Path(__file__).parent / "hostile" / "README.md").read_text("utf-8"), re.M)
    assert listed == [case.name for case in CORPUS]


def test_the_instrument_template_is_valid_so_each_case_has_one_defect(tmp_path: Path) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text(instrument_files.TEMPLATE, encoding="utf-8")
    assert check_file(path) == []


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_hostile_input(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = Path(shutil.copytree(MINI, tmp_path / "study"))
    library = Path(shutil.copytree(INSTRUMENTS, tmp_path / "instruments", ignore=shutil.ignore_patterns("*.md")))
    case.build(study, library)
    out = tmp_path / "out"
    if isinstance(case.expect, Fails) and case.expect.command == "instruments":
        argv = ["instruments", "check", str(library)]
    else:
        argv = ["ingest", "--study", str(study / "study.yaml"), "--instruments", str(library)]
        argv += ["--params", str(PARAMS), "--out", str(out)]
    code, stdout, stderr = run(argv, capsys)
    assert "Traceback" not in stdout + stderr and "internal error" not in stderr, stderr
    if isinstance(case.expect, Fails):
        _check_failure(case.expect, code, stdout, stderr)
    else:
        assert code == 0, stderr
        _check_settled(case.expect, out, library)


def _check_failure(expect: Fails, code: int, stdout: str, stderr: str) -> None:
    assert code == 2, (stdout, stderr)
    assert "error: " in stderr
    message = stderr[stderr.index("error: ") :] if expect.command == "ingest" else stdout + stderr
    assert "\n\n" not in message.strip(), message  # one paragraph
    for fragment in expect.fragments:
        assert fragment in message, (fragment, message)


def _check_settled(expect: Settles, out: Path, library: Path) -> None:
    renamed = {(expect.renamed.get(f, f), r, c, rule) for f, r, c, rule in EXPECTED_ISSUES}
    found_table = pd.read_parquet(out / "quality" / "issues.parquet")
    found = set(found_table[["source_file", "source_row", "column", "rule"]].itertuples(index=False, name=None))
    assert found - renamed == set(expect.added)
    assert renamed - found == set(expect.removed)
    accounting = pd.read_parquet(out / "quality" / "row_accounting.parquet").set_index("source_file")
    assert accounting["reconciles"].all()
    counts = {file: tuple(int(v) for v in counts) for file, counts in EXPECTED_ACCOUNTING.items()}
    counts = {expect.renamed.get(f, f): c for f, c in counts.items()} | dict(expect.accounting)
    for file, expected in counts.items():
        row = accounting.loc[file]
        assert (row.rows_read, row.rows_clean, row.rows_quarantined, row.rows_excluded) == expected, file
    shown = found_table.set_index(["source_file", "source_row", "column", "rule"])["value"]
    for issue, value in expect.values.items():
        assert shown.loc[issue] == value, issue
    fates = pd.read_parquet(out / "quality" / "row_fates.parquet").set_index(["source_file", "source_row"])
    for (file, source_row), (fate, reason) in expect.fates.items():
        assert (fates.loc[(file, source_row), "fate"], fates.loc[(file, source_row), "reason"]) == (fate, reason)
    if expect.scores:
        run_score(out, library, out / "scale_scores.parquet", out / "data_dictionary.csv", lambda _: None)
        scores = pd.read_parquet(out / "scale_scores.parquet")
        for (participant, wave, scale), value in expect.scores.items():
            hit = scores[
                (scores["participant"] == pseudonym(KEY, "participant", participant))
                & (scores["wave"] == wave)
                & (scores["scale"] == scale)
            ]
            assert len(hit) == 1
            assert_allclose(hit["score"].to_numpy(), [value], rtol=1e-12)
