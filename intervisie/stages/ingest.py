"""The ingest stage (raw -> clean): read inputs, call pure functions, write atomically.

Paths come from the command line (as written in ``dvc.yaml``), choices from ``params.yaml``.
Nothing else in the package reads or writes files of a study.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from pipeline.atomic import write_parquet, write_text
from pipeline.config import load_yaml_model
from pipeline.errors import InputError
from pipeline.ingest import IngestParams, build_clean
from pipeline.instruments import load_library
from pipeline.items import item_columns
from pipeline.pseudonymise import resolve_key
from pipeline.readers import read_source
from pipeline.schemas import validate_clean
from pipeline.study import load_study

Progress = Callable[[str], None]


def run_ingest(study_path: Path, instruments_dir: Path, params_path: Path, out_dir: Path, progress: Progress) -> dict:
    """Read every raw file of a study and write the clean tables and the quality tables.

    Returns the row accounting as a list of records (for the command's summary line).
    """
    study = load_study(study_path)
    instruments = load_library(instruments_dir)
    params = load_yaml_model(params_path, IngestParams, "parameters file", section="ingest")
    key = resolve_key(study.study, os.environ)
    raw = {}
    for role, source in study.sources():
        path = study_path.parent / source.file
        items = frozenset()
        if role == "survey":
            items = frozenset(c for m in item_columns(source, instruments).values() for c in m.values())
        name = study.source_name(source)
        raw[name] = read_source(path, source, items)
        progress(f"read {name}: {len(raw[name].rows)} rows ({role})")
    clean = build_clean(study, raw, instruments, key, params)
    for name, frame in clean.tables.items():
        write_parquet(out_dir / f"{name}.parquet", validate_clean(name, frame))
        progress(f"wrote {name}.parquet: {len(frame)} rows")
    accounting = clean.ledger.accounting()
    write_parquet(out_dir / "quality" / "issues.parquet", clean.ledger.issues())
    write_parquet(out_dir / "quality" / "row_fates.parquet", clean.ledger.fates())
    write_parquet(out_dir / "quality" / "row_accounting.parquet", accounting)
    write_text(out_dir / "quality" / "row_accounting.csv", accounting.to_csv(index=False, lineterminator="\n"))
    write_text(out_dir / "quality" / "ingest_metrics.json", ingest_metrics(accounting, clean.tables))
    if not accounting["reconciles"].all():
        bad = accounting.loc[~accounting["reconciles"], "source_file"].tolist()
        raise InputError(f"The row accounting does not reconcile for {bad}; see {out_dir / 'quality'}")
    return accounting.to_dict("records")


def ingest_metrics(accounting: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> str:
    """Return the ingest's headline counts as JSON (``dvc metrics show``)."""
    totals = {c: int(accounting[c].sum()) for c in ("rows_read", "rows_clean", "rows_quarantined", "rows_excluded")}
    metrics = {
        **totals,
        "all_rows_reconcile": bool(accounting["reconciles"].all()),
        "participants": len(tables["participants"]),
        "groups": len(tables["groups"]),
        "responses": len(tables["responses"]),
    }
    return json.dumps(metrics, indent=2, sort_keys=True) + "\n"
