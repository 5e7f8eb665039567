"""The expectations stage: generate the GE suites from the library, run them on the clean tables, build Data Docs.

``intervisie expectations validate --instruments instruments --clean data_clean --docs
reports/_site/data-docs --out results/expectations`` generates the context from
``pipeline/schemas.py`` and the instrument library into a scratch directory
(:func:`pipeline.expectations_context.build_context`), so the suites always follow
``instruments/``: adding an instrument file adds its rules with no other step.  It then runs
one checkpoint per clean table (GE takes one dataframe per run) and writes

* the Data Docs (static HTML; ``index.html`` lists every suite with passed/failed) into ``--docs``,
  replacing what was there; a static overview table is put at the top of ``index.html``, since
  GE's own table there needs JavaScript from CDNs (:func:`overview_html`).  They show run times, so they are the one output of the stage that is
  not byte-identical across runs (``cache: false`` in dvc.yaml);
* ``summary.csv``: one row per expectation (suite, expectation, column, condition, source, rule,
  success, unexpected_count, unexpected_percent), in suite order, with no run times, so it is
  byte-identical for the same data and library;
* ``metrics.json``: counts of expectations, failures, and failures of pandera rules.

A context on disk (``--context gx``, e.g. one written by ``intervisie expectations generate``
and extended for GE's own tools) is never run in place of the generated one: when given, it must
be exactly what the schemas and the library generate, or the command stops with exit code 2
naming the files that differ (:class:`StaleContext`), so an out-of-date suite can neither pass
nor fail in silence.

The gate.  The clean tables were validated by pandera when they were written, so a failing
*pandera* expectation means the data drifted from the schema (e.g. a file edited by hand): the
command exits with code 2 and names the rules.  A failing *instrument* expectation (answer codes
or score ranges) is reported in the summary and the Data Docs but does not stop the pipeline:
the ingest and scoring steps already set out-of-range answers to missing, so such a failure
points to an instrument file whose key changed after the data were scored (rerun ``ingest`` and
``score``), which the researcher should see rather than have the run refused.
"""

from __future__ import annotations

import html
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.atomic import write_text
from pipeline.errors import InputError, PipelineError
from pipeline.expectations_context import SITE, build_context, open_context, stale_files

Progress = Callable[[str], None]

SUMMARY_COLUMNS = [
    "suite",
    "expectation",
    "column",
    "condition",
    "source",
    "rule",
    "success",
    "unexpected_count",
    "unexpected_percent",
]


class ExpectationsFailed(PipelineError):
    """A rule that pandera also enforces failed on the clean tables (drift, not bad input)."""


class StaleContext(InputError):
    """A context on disk that is not what ``pipeline/schemas.py`` and the instrument library generate."""


def _column(kwargs: dict[str, Any]) -> str:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_list" in kwargs:
        return "+".join(kwargs["column_list"])
    return ""


def _condition(kwargs: dict[str, Any]) -> str:
    condition = kwargs.get("row_condition")
    return "" if condition is None else repr(condition)


def result_rows(suite: str, validation: Any) -> list[dict[str, Any]]:
    """Return the summary rows of one suite's validation result (an ``ExpectationSuiteValidationResult``)."""
    rows = []
    for result in validation.results:
        config = result.expectation_config
        kwargs = dict(config.kwargs)
        meta = config.meta or {}
        outcome = result.result or {}
        rows.append(
            {
                "suite": suite,
                "expectation": config.type,
                "column": _column(kwargs),
                "condition": _condition(kwargs),
                "source": meta.get("source", ""),
                "rule": meta.get("rule", ""),
                "success": bool(result.success),
                "unexpected_count": outcome.get("unexpected_count"),
                "unexpected_percent": outcome.get("unexpected_percent"),
            }
        )
    return rows


def summary_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Return the summary as a table with stable dtypes (counts as nullable integers)."""
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    table["unexpected_count"] = table["unexpected_count"].astype("Int64")
    table["unexpected_percent"] = table["unexpected_percent"].astype("float64")
    return table


def gate_failures(summary: pd.DataFrame) -> pd.DataFrame:
    """Return the failed expectations that stop the pipeline: those translated from pandera rules."""
    return summary[~summary["success"] & (summary["source"] == "pandera")]


def overview_html(summary: pd.DataFrame, site: Path) -> str:
    """Return a static HTML overview of the run: per suite, passed or failed, with its failing rules.

    GE draws its index table with JavaScript loaded from CDNs (offline Data Docs were declined
    upstream, great_expectations PR #2870), so on a machine without internet the index shows no
    results; this table needs neither and links to GE's page of each suite.
    """
    rows = []
    for suite, part in summary.groupby("suite", sort=False):
        pages = sorted((site / "validations" / str(suite)).rglob("*.html"))
        link = pages[0].relative_to(site).as_posix() if pages else ""
        failed = part[~part["success"]]
        rows.append(
            {
                "suite": f'<a href="{html.escape(link)}">{html.escape(str(suite))}</a>' if link else html.escape(suite),
                "status": "failed" if len(failed) else "passed",
                "expectations": len(part),
                "failed": len(failed),
                "failed_rules": "<br>".join(
                    html.escape(f"{r.rule} ({r.source}; {r.unexpected_count} unexpected)") for r in failed.itertuples()
                ),
            }
        )
    table = pd.DataFrame(rows).to_html(index=False, escape=False, border=1)
    passed = int(summary["success"].sum())
    return (
        '<section id="intervisie-overview" style="margin:1em 3em">\n'
        f"<h2>Clean tables: {passed} of {len(summary)} expectations met</h2>\n{table}\n</section>\n"
    )


def _add_overview(index: Path, overview: str) -> None:
    text = index.read_text(encoding="utf-8")
    if "<body>" not in text:
        raise PipelineError(f"{index}: no <body> tag in the Data Docs index (a Great Expectations change?)")
    write_text(index, text.replace("<body>", "<body>\n" + overview, 1))


def _replace_dir(source: Path, target: Path) -> None:
    """Put ``source`` in place of ``target`` (built aside first, so a failed run leaves the old docs)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    shutil.rmtree(staged)
    shutil.copytree(source, staged)
    if target.exists():
        shutil.rmtree(target)
    staged.rename(target)


def validate_clean_tables(
    instruments_dir: Path,
    clean_dir: Path,
    docs_dir: Path,
    out_dir: Path,
    progress: Progress,
    context_dir: Path | None = None,
) -> pd.DataFrame:
    """Generate the suites from the library, run them on ``clean_dir``; write Data Docs, summary and metrics.

    Parameters
    ----------
    instruments_dir : Path
        The instrument library the suites are generated from (with ``pipeline/schemas.py``).
    clean_dir, docs_dir, out_dir : Path
        The clean tables; where the Data Docs go; where ``summary.csv`` and ``metrics.json`` go.
    progress : callable
        Receives one line per step.
    context_dir : Path, optional
        A context on disk that must equal the generated one (:class:`StaleContext` otherwise).

    Returns
    -------
    pandas.DataFrame
        The summary table.  Raises :class:`ExpectationsFailed` (exit code 2) after writing
        everything when a pandera-derived expectation failed.
    """
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gx-run-") as scratch:
        root, site = Path(scratch) / "gx", Path(scratch) / "site"
        root.mkdir()
        n = build_context(root, instruments_dir)
        progress(f"generated {n} expectations from pipeline/schemas.py and {instruments_dir}")
        if context_dir is not None:
            stale = stale_files(context_dir, root)
            if stale:
                raise StaleContext(
                    f"the Great Expectations context {context_dir} is not what pipeline/schemas.py and "
                    f"{instruments_dir} generate (differs in {', '.join(stale)}): regenerate it with `intervisie "
                    f"expectations generate --instruments {instruments_dir} --context {context_dir}`, or leave out "
                    "--context (the suites are then generated for this run)"
                )
        context = open_context(root, site)
        for checkpoint in sorted(context.checkpoints.all(), key=lambda c: c.name):
            (definition,) = checkpoint.validation_definitions
            table = definition.data.data_asset.name
            path = clean_dir / f"{table}.parquet"
            if not path.is_file():
                raise InputError(
                    f"{path} not found: the expectations have a suite for the clean table '{table}' "
                    "(generated from pipeline/schemas.py); run the ingest, score and careless stages first"
                )
            result = checkpoint.run(batch_parameters={"dataframe": pd.read_parquet(path)})
            for validation in result.run_results.values():
                rows.extend(result_rows(definition.suite.name, validation))
            progress(f"{table}: {'passed' if result.success else 'FAILED'}")
        context.build_data_docs(site_names=[SITE])  # once for every table, not once per checkpoint
        summary = summary_table(rows)
        _add_overview(site / "index.html", overview_html(summary, site))
        _replace_dir(site, docs_dir)
    failed = summary[~summary["success"]]
    gate = gate_failures(summary)
    write_text(out_dir / "summary.csv", summary.to_csv(index=False, lineterminator="\n"))
    metrics = {
        "suites": int(summary["suite"].nunique()),
        "expectations": len(summary),
        "failed": len(failed),
        "failed_pandera": len(gate),
        "failed_instruments": int((failed["source"] == "instruments").sum()),
        "success": bool(failed.empty),
    }
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    progress(f"wrote {out_dir / 'summary.csv'} and Data Docs {docs_dir / 'index.html'}")
    if not gate.empty:
        listed = "; ".join(f"{r.suite}: {r.rule} ({r.unexpected_count} unexpected)" for r in gate.itertuples())
        raise ExpectationsFailed(
            f"{len(gate)} rule(s) of pipeline/schemas.py fail on the clean tables in {clean_dir}: {listed}. "
            "The tables were validated when written, so they drifted from the schema (edited by hand, or written "
            f"by an older version): rerun the pipeline from ingest; details in {docs_dir / 'index.html'}."
        )
    return summary
