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
from pipeline.errors import InputError, PrivacyError
from pipeline.ingest import IngestParams, build_clean
from pipeline.instruments import load_library
from pipeline.items import data_columns
from pipeline.keys import FINGERPRINT_FILE, FINGERPRINT_LABEL, FINGERPRINT_METADATA, KEY_VARIABLE, fingerprint
from pipeline.pseudonymise import resolve_key
from pipeline.readers import read_source
from pipeline.schemas import validate_clean
from pipeline.sources import source_labels
from pipeline.study import load_study

Progress = Callable[[str], None]


def run_ingest(study_path: Path, instruments_dir: Path, params_path: Path, out_dir: Path, progress: Progress) -> dict:
    """Read every raw file of a study and write the clean tables and the quality tables.

    Returns the row accounting as a list of records (for the command's summary line).
    """
    study = load_study(study_path)
    instruments = load_library(instruments_dir)
    params = load_yaml_model(params_path, IngestParams, "parameters file", section="ingest")
    labels = {id(source): label for _role, source, label in source_labels(study)}
    files = {labels[id(source)]: source.file for _role, source in study.sources()}
    key = resolve_key(study.study, os.environ, study_dir=study_path.parent, files=files)
    record = key_record(study.study.id, fingerprint(key))
    check_same_key(out_dir, record)
    raw = {}
    for role, source in study.sources():
        path = study_path.parent / source.file
        items = data_columns(study, role, source, instruments)
        name = study.source_name(source)
        raw[name] = read_source(path, source, items)
        progress(f"read {labels[id(source)]}: {len(raw[name].rows)} rows ({role})")  # never the file's name
    clean = build_clean(study, raw, instruments, key, params)
    write_text(out_dir / FINGERPRINT_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")
    for name, frame in clean.tables.items():
        write_parquet(out_dir / f"{name}.parquet", validate_clean(name, frame), {FINGERPRINT_METADATA: record["fingerprint"]})
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


def key_record(study_id: str, key_fingerprint: str) -> dict[str, str]:
    """Return what ``data_clean/key_fingerprint.json`` says: the study and its key's fingerprint."""
    return {
        "study": study_id,
        "fingerprint": key_fingerprint,
        "method": f"HMAC-SHA256(key, {FINGERPRINT_LABEL.decode()!r}), first 16 hexadecimal digits",
    }


def read_key_record(clean_dir: Path) -> dict | None:
    """Return the key record beside existing clean tables, or ``None`` when there is none."""
    path = clean_dir / FINGERPRINT_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"{path} cannot be read; delete it to start the study's clean data afresh") from None
    if not isinstance(record, dict) or not isinstance(record.get("fingerprint"), str):
        raise InputError(f"{path} has no fingerprint; delete it to start the study's clean data afresh")
    return record


def check_same_key(clean_dir: Path, record: dict[str, str]) -> None:
    """Refuse a key other than the one that made the clean tables of the same study in ``clean_dir``.

    A different study (another ``study.id``) starts afresh.  Rotating a study's key on purpose:
    delete ``data_clean/key_fingerprint.json`` (README, 'Running a real study').
    """
    existing = read_key_record(clean_dir)
    if existing is None or existing.get("study") != record["study"]:
        return
    if existing["fingerprint"] != record["fingerprint"]:
        raise PrivacyError(
            f"{KEY_VARIABLE} is not the key that made the clean tables of study '{record['study']}' in {clean_dir} "
            f"(key fingerprint {record['fingerprint']}, the tables' {existing['fingerprint']}). With another key "
            "every pseudonym changes, so new waves would not link to the earlier pseudonyms. Use the study's key "
            "(check for a stray space or line end). To change the key on purpose (rotation), delete "
            f"{clean_dir / FINGERPRINT_FILE} and run every wave again with the new key; see README, 'Running a "
            "real study'."
        )
