"""Every defect the simulator planted in the demo study is caught and accounted for.

The simulator lists each planted defect with its file, row and column in
``data_raw/demo/simulation_manifest.yaml``; this test ingests the committed demo study and
checks, defect by defect, that the row ended where the rules say (clean, quarantined with the
right rule, or excluded with the right reason) and that item-level trouble is recorded in the
item statuses.  A defect type without an expectation here fails the test, so a new kind of
trouble in the simulator cannot go unchecked.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from intervisie.stages.careless import run_careless
from intervisie.stages.ingest import run_ingest
from intervisie.stages.score import run_score
from pipeline.instruments import load_library
from pipeline.items import item_columns
from pipeline.sources import source_labels
from pipeline.study import load_study

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "data_raw" / "demo"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("demo_clean")
    quiet = lambda _m: None  # noqa: E731
    run_ingest(DEMO / "study.yaml", ROOT / "instruments", ROOT / "params.yaml", out, quiet)
    run_score(out, ROOT / "instruments", out / "scale_scores.parquet", out / "data_dictionary.csv", quiet)
    run_careless(out, ROOT / "instruments", ROOT / "params.yaml", out / "careless.parquet", quiet)
    study = load_study(DEMO / "study.yaml")
    # the clean data name each source by its role in study.yaml; the manifest names files
    to_file = {label: src.file for _role, src, label in source_labels(study)}
    fates = pd.read_parquet(out / "quality" / "row_fates.parquet").assign(source_file=lambda f: f["source_file"].map(to_file))
    responses = pd.read_parquet(out / "responses.parquet").assign(source_file=lambda f: f["source_file"].map(to_file))
    issues = pd.read_parquet(out / "quality" / "issues.parquet").assign(source_file=lambda f: f["source_file"].map(to_file))
    items = pd.read_parquet(out / "item_responses.parquet")
    items["item"] = items["item"].astype(str)
    items["response_status"] = items["response_status"].astype(str)
    library = load_library(ROOT / "instruments")
    column_item = {
        survey.file: {col: item for mapping in item_columns(survey, library).values() for item, col in mapping.items()}
        for survey in study.surveys
    }
    return {
        "fate": {(r.source_file, r.source_row): (r.fate, r.reason) for r in fates.itertuples()},
        "issues": issues,
        "responses": responses,
        "items": items.set_index(["response_id", "item"]),
        "column_item": column_item,
        "manifest": yaml.safe_load((DEMO / "simulation_manifest.yaml").read_text(encoding="utf-8")),
        "out": out,
        "to_file": to_file,
        "careless": pd.read_parquet(out / "careless.parquet").merge(
            responses[["response_id", "source_file", "source_row"]], on="response_id", validate="one_to_one"
        ),
    }


def _item(demo: dict, d: dict) -> pd.Series:
    """Return the clean item row of a defect's (file, row, column)."""
    response = demo["responses"]
    hit = response[(response["source_file"] == d["file"]) & (response["source_row"] == d["row"])]
    assert len(hit) == 1, d
    return demo["items"].loc[(int(hit["response_id"].iloc[0]), demo["column_item"][d["file"]][d["column"]])]


def _fate(demo: dict, file: str, row: int) -> tuple[str, str]:
    return demo["fate"][(file, row)]


def _has_issue(demo: dict, d: dict, rule: str) -> bool:
    issues = demo["issues"]
    return bool(
        ((issues["source_file"] == d["file"]) & (issues["source_row"] == d["row"]) & (issues["rule"] == rule)).any()
    )


def _one_kept_one_dropped(demo: dict, d: dict, reason: str) -> None:
    fates = {_fate(demo, d["file"], d["row"]), _fate(demo, d["file"], d["duplicate_of_row"])}
    assert ("excluded", reason) in fates, (d, fates)
    assert any(f == "clean" for f, _ in fates), (d, fates)


def check(demo: dict, d: dict) -> None:
    kind = d["defect"]
    if kind == "no_consent":
        assert _fate(demo, d["file"], d["row"]) == ("excluded", "no_consent")
        for file, rows in d["survey_rows"].items():
            for row in rows:
                assert _fate(demo, file, row) == ("excluded", "no_consent"), (file, row)
    elif kind in ("duplicate_submissions", "attendance_conflicting_duplicate"):
        _one_kept_one_dropped(demo, d, "superseded_duplicate")
    elif kind == "session_duplicate_id":
        _one_kept_one_dropped(demo, d, "duplicate_row")
    elif kind == "unknown_ids":
        assert _fate(demo, d["file"], d["row"]) == ("quarantined", "unknown_participant")
    elif kind == "id_whitespace":
        assert _fate(demo, d["file"], d["row"])[0] != "quarantined"  # " vb8999 " is VB8999
    elif kind == "unfinished_responses":
        response = demo["responses"]
        hit = response[(response["source_file"] == d["file"]) & (response["source_row"] == d["row"])]
        assert hit["finished"].tolist() == [False]
    elif kind == "item_nonresponse":
        if _fate(demo, d["file"], d["row"])[0] == "clean":
            assert _item(demo, d)["response_status"] == "not_answered"
    elif kind == "out_of_range":
        assert _has_issue(demo, d, "out_of_range")
        if _fate(demo, d["file"], d["row"])[0] == "clean":
            assert _item(demo, d)["response_status"] == "out_of_range"
    elif kind == "missing_codes":
        if _fate(demo, d["file"], d["row"])[0] == "clean":
            assert _item(demo, d)["response_status"] == "missing_code"
    elif kind == "codes_in_label_export":
        if _fate(demo, d["file"], d["row"])[0] == "clean":
            item = _item(demo, d)
            assert item["response_status"] == "answered" and item["response"] == d["value"]
    elif kind == "date_as_text":
        response = demo["responses"]
        hit = response[(response["source_file"] == d["file"]) & (response["source_row"] == d["row"])]
        if len(hit):
            assert hit["submitted_at"].notna().all()
    elif kind == "session_dot_decimal":
        assert _has_issue(demo, d, "decimal_point")
        assert _fate(demo, d["file"], d["row"])[0] == "clean"
    elif kind == "attendance_unknown_session":
        assert _fate(demo, d["file"], d["row"]) == ("quarantined", "unknown_session")
    elif kind == "attendance_not_in_group":
        assert _fate(demo, d["file"], d["row"]) == ("quarantined", "not_group_member")
    elif kind == "attendance_invalid_value":
        assert _fate(demo, d["file"], d["row"]) == ("quarantined", "unknown_value")
    elif kind == "trailing_empty_rows":
        assert _fate(demo, d["file"], d["row"]) == ("excluded", "blank_row")
    elif kind in ("careless_straight_line", "careless_random"):
        assert _fate(demo, d["file"], d["row"]) == ("clean", ""), d
        screened = demo["careless"]
        hit = screened[(screened["source_file"] == d["file"]) & (screened["source_row"] == d["row"])]
        assert len(hit) == 1, d
        if kind == "careless_straight_line":  # the same column throughout: long strings, no variability
            assert hit["flag_longstring"].item() and hit["flag_irv"].item() and hit["flagged"].item(), d
        else:  # random answers lie far from everyone else's pattern
            assert hit["flag_mahalanobis"].item(), d
    elif kind == "free_text_pii":
        pass  # checked below for the whole of data_clean/
    else:
        raise AssertionError(f"no expectation for planted defect type {kind!r}: add one to this test")


def test_every_planted_defect_is_caught_and_accounted_for(demo: dict) -> None:
    defects = demo["manifest"]["defects"]
    assert len(defects) > 100
    for d in defects:
        check(demo, d)
    kinds = {d["defect"] for d in defects}
    assert kinds == set(demo["manifest"]["defect_counts"])


def test_planted_free_text_never_reaches_clean_data(demo: dict) -> None:
    leaked = {d["leaked"].casefold() for d in demo["manifest"]["defects"] if d["defect"] == "free_text_pii"}
    assert len(leaked) >= 10
    for path in demo["out"].rglob("*.parquet"):
        frame = pd.read_parquet(path)
        for column in frame.columns:
            values = {str(v).casefold() for v in frame[column].dropna().unique()}
            assert not any(secret in value for value in values for secret in leaked), (path.name, column)


def test_demo_rows_reconcile(demo: dict) -> None:
    accounting = pd.read_parquet(demo["out"] / "quality" / "row_accounting.parquet")
    assert accounting["reconciles"].all()
    files = demo["manifest"]["files"]
    for row in accounting.itertuples():
        # every data row the simulator wrote (blank rows included) is in the ledger
        assert row.rows_read == files[demo["to_file"][row.source_file]]["data_rows"], row.source_file


def test_careless_screen_flags_the_planted_responders_and_few_others(demo: dict) -> None:
    planted = {(d["file"], d["row"]) for d in demo["manifest"]["defects"] if d["defect"].startswith("careless_")}
    screened = demo["careless"]
    is_planted = [(f, r) in planted for f, r in zip(screened["source_file"], screened["source_row"], strict=True)]
    flagged = screened["flagged"].to_numpy()
    assert len(planted) == 24
    assert flagged[is_planted].sum() >= 20  # every straight-liner; most random responders (Meade & Craig 2012)
    assert flagged[~pd.Series(is_planted).to_numpy()].mean() < 0.01  # false alarms among attentive responses


def test_leaving_dates_match_the_simulated_dropout(demo: dict) -> None:
    """The roster's leaving date (Uitstroomdatum) reaches participants.end_date for every consenting leaver."""
    from pipeline.pseudonymise import pseudonym

    key = load_study(DEMO / "study.yaml").study.demo_pseudonym_key.encode()
    truth = demo["manifest"]["truth"]["left_intervisie"]
    refused = {d["participant_id"] for d in demo["manifest"]["defects"] if d["defect"] == "no_consent"}
    expected = {
        pseudonym(key, "participant", pid): pd.Timestamp(day) for pid, day in truth["rows"] if pid not in refused
    }
    people = pd.read_parquet(demo["out"] / "participants.parquet")
    left = people.dropna(subset=["end_date"])
    assert dict(zip(left["participant"], left["end_date"], strict=True)) == expected
    assert (people.loc[people["arm"] == "comparison", "end_date"].isna()).all()
    assert len(expected) > 100
