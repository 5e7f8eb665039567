"""The DVC stages of the raw -> clean pipeline: read inputs, call pure functions, write atomically.

Paths come from the command line (as written in ``dvc.yaml``), choices from ``params.yaml``.
Nothing else in the package reads or writes files of a study.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml
from pydantic import ValidationError

from pipeline.atomic import write_parquet, write_text
from pipeline.dictionary import data_dictionary
from pipeline.errors import InputError
from pipeline.ingest import IngestParams, build_clean
from pipeline.instruments import Instrument, load_library
from pipeline.items import item_columns
from pipeline.pseudonymise import resolve_key
from pipeline.readers import read_source
from pipeline.schemas import CLEAN_TABLES
from pipeline.scoring import score
from pipeline.study import load_study

Progress = Callable[[str], None]


def load_params(path: Path, section: str) -> dict:
    """Return one section of ``params.yaml`` (an empty dict when the section is absent)."""
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"Cannot read the parameters file {path}: {exc}") from exc
    value = params.get(section, {}) or {}
    if not isinstance(value, dict):
        raise InputError(f"{path}: section `{section}` must be a mapping")
    return value


def _validated(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check a clean table against its output schema (a failure here is a bug, not bad input)."""
    return CLEAN_TABLES[name].validate(frame, lazy=True)


def run_ingest(study_path: Path, instruments_dir: Path, params_path: Path, out_dir: Path, progress: Progress) -> dict:
    """Read every raw file of a study and write the clean tables and the quality tables.

    Returns the row accounting as a list of records (for the command's summary line).
    """
    study = load_study(study_path)
    instruments = load_library(instruments_dir)
    try:
        params = IngestParams(**load_params(params_path, "ingest"))
    except ValidationError as exc:
        problems = "; ".join(f"ingest.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"{params_path}: {problems}") from exc
    key = resolve_key(study.study, os.environ)
    raw = {}
    for role, source in study.sources():
        path = study_path.parent / source.file
        items = frozenset()
        if role == "survey":
            items = frozenset(c for m in item_columns(source, instruments).values() for c in m.values())
        raw[source.file] = read_source(path, source, items)
        progress(f"read {source.file}: {len(raw[source.file].rows)} rows ({role})")
    clean = build_clean(study, raw, instruments, key, params)
    for name, frame in clean.tables.items():
        write_parquet(out_dir / f"{name}.parquet", _validated(name, frame))
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


def _wide(response_ids: np.ndarray, items: np.ndarray, answers: np.ndarray, inst: Instrument) -> pd.DataFrame:
    """Return one instrument's item responses as a response x item table of answer codes.

    The ingest stage writes each submission's items together in questionnaire order, so the
    table is a reshape; any other order (a table supplied by a researcher) is pivoted.
    """
    order = inst.item_ids()
    k = len(order)
    n = len(items) // k
    if len(items) == n * k and (items == np.tile(np.array(order, dtype=object), n)).all():
        ids = response_ids.reshape(n, k)
        if (ids == ids[:, :1]).all():
            return pd.DataFrame(answers.reshape(n, k), index=pd.Index(ids[:, 0], name="response_id"), columns=order)
    long = pd.DataFrame({"response_id": response_ids, "item": items, "response": answers})
    return long.pivot(index="response_id", columns="item", values="response").reindex(columns=order)


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Return the category codes and categories of a text column (categorical or not)."""
    categorical = column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")
    return categorical.cat.codes.to_numpy(), categorical.cat.categories


def score_table(
    responses: pd.DataFrame, item_responses: pd.DataFrame, instruments: dict[str, Instrument]
) -> pd.DataFrame:
    """Score every administered instrument of every submission (long form, one row per scale).

    Works on the category codes of the long item table, so that a study of 100,000
    participants (tens of millions of item rows) is scored without copying its text.
    """
    response_ids = item_responses["response_id"].to_numpy()
    answers = item_responses["response"].to_numpy(dtype=float)
    inst_codes, inst_names = _codes(item_responses["instrument"])
    item_codes, item_names = _codes(item_responses["item"])
    item_names = np.asarray(item_names, dtype=object)
    parts = []
    for k, inst_id in enumerate(inst_names):
        inst = instruments.get(str(inst_id))
        if inst is None:
            raise InputError(f"item_responses hold instrument '{inst_id}', which is not in the instrument library")
        rows = np.flatnonzero(inst_codes == k)
        wide = _wide(response_ids[rows], item_names[item_codes[rows]], answers[rows], inst)
        scored = score(wide, inst)
        parts.append(scored.reset_index(names="response_id").assign(instrument=inst.id))
    scores = pd.concat(parts, ignore_index=True)
    position = pd.Index(responses["response_id"]).get_indexer(scores["response_id"])
    if (position < 0).any():
        raise InputError("item_responses name response_id(s) that responses.parquet does not have")
    for column in ("participant", "wave", "session"):
        codes, names = _codes(responses[column])
        scores[column] = pd.Categorical.from_codes(codes[position], categories=names)
    for column in ("instrument", "scale", "score_status"):
        scores[column] = scores[column].astype("category")
    order = np.lexsort((scores["scale"].cat.codes, scores["instrument"].cat.codes, scores["response_id"].to_numpy()))
    columns = [
        "response_id",
        "participant",
        "wave",
        "session",
        "instrument",
        "scale",
        "score",
        "n_items",
        "n_answered",
        "score_status",
    ]
    scores = scores.iloc[order][columns].reset_index(drop=True)
    return scores.astype({"n_items": "int64", "n_answered": "int64"})


def run_score(
    clean_dir: Path, instruments_dir: Path, scores_path: Path, dictionary_path: Path, progress: Progress
) -> int:
    """Score the clean item responses and write the scale scores and the data dictionary."""
    instruments = load_library(instruments_dir)
    responses = pd.read_parquet(clean_dir / "responses.parquet")
    item_responses = pd.read_parquet(clean_dir / "item_responses.parquet")
    scores = _validated("scale_scores", score_table(responses, item_responses, instruments))
    write_parquet(scores_path, scores)
    progress(f"wrote {scores_path.name}: {len(scores)} scores of {scores['scale'].nunique()} scales")
    write_text(dictionary_path, data_dictionary(instruments).to_csv(index=False, lineterminator="\n"))
    progress(f"wrote {dictionary_path.name}")
    return len(scores)


def check_clean(clean_dir: Path) -> tuple[list[str], list[str]]:
    """Check the canonical tables present in ``clean_dir`` against their schemas.

    Returns ``(checked, problems)``: the tables found, and one line per violation
    (table, column, check, row and value), all of them, not only the first.
    """
    checked, problems = [], []
    for name, model in CLEAN_TABLES.items():
        path = clean_dir / f"{name}.parquet"
        if not path.exists():
            continue
        checked.append(name)
        try:
            model.validate(pd.read_parquet(path), lazy=True)
        except pa.errors.SchemaErrors as exc:
            for case in exc.failure_cases.itertuples(index=False):
                row = "" if pd.isna(case.index) else f" row {int(case.index) + 1}"
                problems.append(f"{path}:{row} column {case.column}: {case.check} (value {case.failure_case!r})")
    return checked, problems
