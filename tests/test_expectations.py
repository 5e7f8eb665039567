"""The Great Expectations gate: the suites say what pandera and the instruments say.

* Generation: the stage generates its context from the schemas and the library on every run
  (no committed copy to go stale); generating twice gives identical files; a context on disk
  that differs from the generated one is refused (exit 2), naming the files that differ.
* Translation: every pandera rule of every clean table has its expectation; an untranslatable
  check is refused, never dropped.
* Score ranges: the published ranges of the instruments (BRS 1-5, Smith et al. 2008; CBI 0-100,
  Kristensen et al. 2005; Brief COPE subscales 2-8, Carver 1997; UWES-9 0-6, Schaufeli et al.
  2006; OLBI 1-4, Demerouti et al. 2003; team psychological safety 1-7, Edmondson 1999), and the
  extremes that :func:`pipeline.scoring.score` itself produces.
* Validation: the demo study passes every expectation; a corrupted copy (one out-of-range answer
  code, one null participant, one duplicated attendance key) fails exactly those three, with the
  unexpected counts that were planted and that pandera's own lazy validation reports; the Data
  Docs index names the failing suites.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from great_expectations import expectations as gxe
from numpy.testing import assert_allclose

from intervisie.cli import main
from pipeline.errors import InputError
from pipeline.expectations import PANDERA, pandera_expectations, score_range, suite_expectations
from pipeline.expectations_context import generated_files
from pipeline.expectations_run import (
    ExpectationsFailed,
    StaleContext,
    gate_failures,
    summary_table,
    validate_clean_tables,
)
from pipeline.instruments import load_library
from pipeline.schemas import CLEAN_TABLES
from pipeline.scoring import score, scored_values

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "data_raw" / "demo"
INSTRUMENTS = ROOT / "instruments"


@pytest.fixture(scope="module")
def library() -> dict:
    return load_library(INSTRUMENTS)


def test_generation_is_deterministic_and_complete(tmp_path: Path, library: dict) -> None:
    for target in ("a", "b"):
        main(["expectations", "generate", "--instruments", str(INSTRUMENTS), "--context", str(tmp_path / target)])
    first, second = generated_files(tmp_path / "a"), generated_files(tmp_path / "b")
    assert first == second
    assert len(first) == 1 + 3 * len(CLEAN_TABLES)
    written = sum(len(json.loads(first[f"expectations/{t}.json"])["expectations"]) for t in CLEAN_TABLES)
    assert written == sum(len(e) for e in suite_expectations(library).values())


def test_a_stale_context_is_refused_naming_the_files(tmp_path: Path) -> None:
    """A context generated before an instrument changed can neither pass nor fail in silence."""
    old_library = tmp_path / "instruments"
    shutil.copytree(INSTRUMENTS, old_library, ignore=shutil.ignore_patterns("who5.yaml"))
    context = tmp_path / "gx"
    main(["expectations", "generate", "--instruments", str(old_library), "--context", str(context)])
    with pytest.raises(StaleContext) as raised:
        validate_clean_tables(
            INSTRUMENTS, tmp_path / "clean", tmp_path / "docs", tmp_path / "out", lambda _m: None, context
        )
    message = str(raised.value)
    assert "expectations/item_responses.json" in message and "expectations/scale_scores.json" in message
    assert "expectations/participants.json" not in message  # unchanged suites are not named
    assert f"intervisie expectations generate --instruments {INSTRUMENTS} --context {context}" in message
    assert StaleContext.exit_code == 2 and not (tmp_path / "out").exists()


def test_every_pandera_rule_has_its_expectation(library: dict) -> None:
    suites = suite_expectations(library)
    assert list(suites) == list(CLEAN_TABLES)
    for table, model in CLEAN_TABLES.items():
        schema = model.to_schema()
        keys = 0 if schema.unique is None else 1
        per_column = sum(1 + (not c.nullable) + bool(c.unique) + len(c.checks) for c in schema.columns.values())
        translated = [e for e in suites[table] if e.meta["source"] == PANDERA]
        assert len(translated) == int(schema.strict) + keys + per_column, table
        columns = [e for e in translated if isinstance(e, gxe.ExpectTableColumnsToMatchSet)]
        assert columns[0].column_set == list(schema.columns)


def test_pandera_bounds_keep_their_strictness() -> None:
    """``gt``/``in_range(include_max=False)`` exclude the bound in pandera, so they must in GE."""

    class Bounds(pa.DataFrameModel):
        a: float = pa.Field(in_range={"min_value": 0, "max_value": 1, "include_max": False})
        c: float = pa.Field(gt=0, le=8, nullable=True)
        b: str = pa.Field(str_length={"min_value": 1}, notin=["x"])

        class Config:
            strict = True
            unique = ["a", "b"]  # noqa: RUF012 (pandera reads a list)

    got = [(type(e).__name__, e.configuration.kwargs) for e in pandera_expectations("bounds", Bounds)]
    assert got == [
        ("ExpectTableColumnsToMatchSet", {"column_set": ["a", "c", "b"]}),
        ("ExpectCompoundColumnsToBeUnique", {"column_list": ["a", "b"]}),
        ("ExpectColumnValuesToBeOfType", {"column": "a", "type_": "float64"}),
        ("ExpectColumnValuesToNotBeNull", {"column": "a"}),
        ("ExpectColumnValuesToBeBetween", {"column": "a", "min_value": 0, "max_value": 1, "strict_max": True}),
        ("ExpectColumnValuesToBeOfType", {"column": "c", "type_": "float64"}),
        ("ExpectColumnValuesToBeBetween", {"column": "c", "min_value": 0, "strict_min": True}),
        ("ExpectColumnValuesToBeBetween", {"column": "c", "max_value": 8}),
        ("ExpectColumnValuesToBeOfType", {"column": "b", "type_": "str_"}),
        ("ExpectColumnValuesToNotBeNull", {"column": "b"}),
        ("ExpectColumnValuesToNotBeInSet", {"column": "b", "value_set": ["x"]}),
        ("ExpectColumnValueLengthsToBeBetween", {"column": "b", "min_value": 1}),
    ]


def test_an_untranslatable_check_is_refused() -> None:
    class Odd(pa.DataFrameModel):
        x: int = pa.Field(ge=0)

        @pa.check("x", name="is_even")
        def _even(cls, s: pd.Series) -> pd.Series:
            return s % 2 == 0

    with pytest.raises(InputError, match=r"check 'is_even' on odd\.x"):
        pandera_expectations("odd", Odd)


@pytest.mark.parametrize(
    ("instrument", "scale", "published"),
    [
        ("brs", "brs", (1, 5)),
        ("cbi", "cbi_personal", (0, 100)),
        ("cbi", "cbi_work", (0, 100)),
        ("cope", "cope_active", (2, 8)),
        ("uwes9", "uwes_total", (0, 6)),
        ("olbi", "olbi_exhaustion", (1, 4)),
        ("psysafety", "psysafety", (1, 7)),
        ("pss10", "pss10", (0, 40)),  # Cohen & Williamson 1988: sum of 10 items on 0-4
        ("who5", "who5", (0, 100)),  # Topp et al. 2015: raw sum 0-25 x 4
    ],
)
def test_score_range_is_the_published_range(library: dict, instrument: str, scale: str, published: tuple) -> None:
    inst = library[instrument]
    found = score_range(inst, next(s for s in inst.scales if s.id == scale))
    assert_allclose(found, published, rtol=1e-12)


def test_score_range_ends_are_the_scores_of_extreme_answers(library: dict) -> None:
    """Lowest: only ``min_items`` items answered, each at its lowest scored code; highest: all at the highest."""
    for inst in library.values():
        by_id = {i.id: i for i in inst.items}
        for scale in inst.scales:
            low_row, high_row = {}, {}
            for n, item_id in enumerate(scale.items):
                rs = inst.response_set_of(by_id[item_id])
                codes = np.arange(rs.min, rs.max + 1)
                values = scored_values(codes, rs, reverse=by_id[item_id].reverse)
                low_row[item_id] = float(codes[values.argmin()]) if n < scale.min_items else np.nan
                high_row[item_id] = float(codes[values.argmax()])
            wide = pd.DataFrame([low_row, high_row]).reindex(columns=inst.item_ids())
            scores = score(wide, inst)
            got = scores.loc[scores["scale"] == scale.id, "score"].to_numpy()
            assert_allclose(got, score_range(inst, scale), rtol=1e-12, err_msg=f"{inst.id}/{scale.id}")


def test_only_pandera_rules_gate_the_pipeline() -> None:
    rows = [
        {"suite": "item_responses", "source": "instruments", "success": False, "unexpected_count": 3},
        {"suite": "participants", "source": "pandera", "success": True, "unexpected_count": 0},
    ]
    assert gate_failures(summary_table(rows)).empty
    rows[1]["success"] = False
    assert gate_failures(summary_table(rows))["suite"].tolist() == ["participants"]


# ---------------------------------------------------------------- validation runs (GE on real tables)


@pytest.fixture(scope="module")
def demo_clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo study, ingested and scored (and screened, once careless.parquet is a clean table) as `dvc repro` does it."""
    from intervisie.stages.careless import run_careless
    from intervisie.stages.ingest import run_ingest
    from intervisie.stages.score import run_score

    out = tmp_path_factory.mktemp("demo_clean")
    quiet = lambda _m: None  # noqa: E731
    run_ingest(DEMO / "study.yaml", ROOT / "instruments", ROOT / "params.yaml", out, quiet)
    run_score(out, ROOT / "instruments", out / "scale_scores.parquet", out / "data_dictionary.csv", quiet)
    if "careless" in CLEAN_TABLES:
        run_careless(out, ROOT / "instruments", ROOT / "params.yaml", out / "careless.parquet", quiet)
    return out


@pytest.fixture(scope="module")
def demo_run(demo_clean: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("demo_run")
    summary = validate_clean_tables(INSTRUMENTS, demo_clean, base / "docs", base / "out", lambda _m: None)
    return {"summary": summary, "out": base / "out", "docs": base / "docs"}


@pytest.mark.slow
def test_the_demo_study_meets_every_expectation(demo_run: dict) -> None:
    summary = demo_run["summary"]
    assert len(summary) == sum(len(e) for e in suite_expectations(load_library(INSTRUMENTS)).values())
    assert summary["success"].all(), summary[~summary["success"]].to_string()
    assert (summary.dropna(subset=["unexpected_count"])["unexpected_count"] == 0).all()
    metrics = json.loads((demo_run["out"] / "metrics.json").read_text())
    assert metrics["success"] and metrics["failed"] == 0 and metrics["suites"] == len(CLEAN_TABLES)
    written = pd.read_csv(demo_run["out"] / "summary.csv")
    assert written.columns.tolist()[:3] == ["suite", "expectation", "column"]
    assert "unexpected_percent" in written.columns and "run_time" not in written.columns
    index = (demo_run["docs"] / "index.html").read_text(encoding="utf-8")
    assert "'Failed'" not in index and all(f"'asset_name': '{t}'" in index for t in CLEAN_TABLES)


@pytest.fixture(scope="module")
def corrupted(demo_clean: Path, library: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A copy of the demo tables (first submissions only, to keep GE quick) with three planted defects."""
    clean = tmp_path_factory.mktemp("corrupted")
    tables = {t: pd.read_parquet(demo_clean / f"{t}.parquet") for t in CLEAN_TABLES}
    keep = set(tables["responses"]["response_id"].iloc[:80])
    for t in {"item_responses", "scale_scores", "careless"} & set(tables):
        tables[t] = tables[t][tables[t]["response_id"].isin(keep)].reset_index(drop=True)
    items = tables["item_responses"]
    row = items.index[(items["instrument"] == "brs") & (items["response_status"] == "answered")][0]
    brs_max = library["brs"].response_sets[next(iter(library["brs"].response_sets))].max
    items.loc[row, "response"] = brs_max + 1  # one answer code above the BRS range
    tables["participants"].loc[4, "participant"] = pd.NA  # one participant without pseudonym
    att = tables["attendance"]
    tables["attendance"] = pd.concat([att, att.iloc[[7]]], ignore_index=True)  # one (session, participant) twice
    for t, frame in tables.items():
        frame.to_parquet(clean / f"{t}.parquet", index=False)
    base = tmp_path_factory.mktemp("corrupted_run")
    with pytest.raises(ExpectationsFailed) as raised:
        validate_clean_tables(INSTRUMENTS, clean, base / "docs", base / "out", lambda _m: None)
    return {"tables": tables, "out": base / "out", "docs": base / "docs", "error": str(raised.value)}


def _pandera_failures(model: type[pa.DataFrameModel], frame: pd.DataFrame) -> dict[str, int]:
    """Rows failing each pandera check, from pandera's own lazy validation (the reference)."""
    with pytest.raises(pa.errors.SchemaErrors) as raised:
        model.validate(frame, lazy=True)
    cases = raised.value.failure_cases
    return cases.groupby("check")["index"].nunique().to_dict()


@pytest.mark.slow
def test_a_corrupted_copy_fails_exactly_the_planted_rules(corrupted: dict) -> None:
    summary = pd.read_csv(corrupted["out"] / "summary.csv")
    failed = summary[~summary["success"]]
    got = {(r.suite, r.expectation, r.column): r.unexpected_count for r in failed.itertuples()}
    participants = _pandera_failures(CLEAN_TABLES["participants"], corrupted["tables"]["participants"])
    attendance = _pandera_failures(CLEAN_TABLES["attendance"], corrupted["tables"]["attendance"])
    assert participants == {"not_nullable": 1} and attendance == {"multiple_fields_uniqueness": 2}
    assert got == {
        ("participants", "expect_column_values_to_not_be_null", "participant"): participants["not_nullable"],
        ("attendance", "expect_compound_columns_to_be_unique", "session+participant"): attendance[
            "multiple_fields_uniqueness"
        ],
        ("item_responses", "expect_column_values_to_be_between", "response"): 1,
    }
    brs = failed[failed["suite"] == "item_responses"].iloc[0]
    assert brs["source"] == "instruments" and "brs" in brs["condition"] and "brs.yaml" in brs["rule"]
    items = corrupted["tables"]["item_responses"]
    answered_brs = int(items.loc[items["instrument"] == "brs", "response"].notna().sum())
    assert_allclose(
        brs["unexpected_percent"], 100 / answered_brs, rtol=1e-12
    )  # GE: % of non-null rows in the condition
    metrics = json.loads((corrupted["out"] / "metrics.json").read_text())
    assert (metrics["failed"], metrics["failed_pandera"], metrics["failed_instruments"]) == (3, 2, 1)
    assert "participants.participant: not nullable" in corrupted["error"]
    assert "attendance: unique" in corrupted["error"] and "brs" not in corrupted["error"]


@pytest.mark.slow
def test_the_data_docs_index_names_the_failed_suites(corrupted: dict) -> None:
    index = (corrupted["docs"] / "index.html").read_text(encoding="utf-8")
    listed = re.findall(r"'_validation_success_text': '(\w+)', 'asset_name': '(\w+)'", index)
    by_table = {table: text for text, table in listed}
    assert {t for t, s in by_table.items() if s == "Failed"} == {"participants", "attendance", "item_responses"}
    assert set(by_table) == set(CLEAN_TABLES)
    # the static overview (readable without the CDN scripts GE's own table needs)
    overview = dict(re.findall(r">(\w+)</a></td>\s*<td>(passed|failed)</td>", index))
    assert {t for t, s in overview.items() if s == "failed"} == {"participants", "attendance", "item_responses"}
    assert set(overview) == set(CLEAN_TABLES) and "participants.participant: not nullable" in index
    pages = list((corrupted["docs"] / "validations").rglob("*.html"))
    assert len(pages) == len(CLEAN_TABLES)
