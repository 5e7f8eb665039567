"""The score stage (clean items -> scale scores and data dictionary), and the canonical-form check."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.atomic import read_parquet_metadata, write_parquet, write_text
from pipeline.dictionary import data_dictionary
from pipeline.errors import InputError
from pipeline.instruments import Instrument, load_library
from pipeline.itemtable import category_codes, instrument_tables
from pipeline.keys import FINGERPRINT_FILE, FINGERPRINT_METADATA
from pipeline.schemas import CLEAN_TABLES, validate_clean
from pipeline.scoring import score

Progress = Callable[[str], None]


def score_table(
    responses: pd.DataFrame, item_responses: pd.DataFrame, instruments: dict[str, Instrument]
) -> pd.DataFrame:
    """Score every administered instrument of every submission (long form, one row per scale).

    Works on the category codes of the long item table, so that a study of 100,000
    participants (tens of millions of item rows) is scored without copying its text.
    """
    parts = []
    for inst, wide in instrument_tables(item_responses, instruments):
        scored = score(wide, inst)
        parts.append(scored.reset_index(names="response_id").assign(instrument=inst.id))
    scores = pd.concat(parts, ignore_index=True)
    position = pd.Index(responses["response_id"]).get_indexer(scores["response_id"])
    if (position < 0).any():
        raise InputError("item_responses name response_id(s) that responses.parquet does not have")
    for column in ("participant", "wave", "session"):
        codes, names = category_codes(responses[column])
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
    scores = validate_clean("scale_scores", score_table(responses, item_responses, instruments))
    key = read_parquet_metadata(clean_dir / "responses.parquet").get(FINGERPRINT_METADATA)
    write_parquet(scores_path, scores, {FINGERPRINT_METADATA: key} if key else None)
    progress(f"wrote {scores_path.name}: {len(scores)} scores of {scores['scale'].nunique()} scales")
    write_text(dictionary_path, data_dictionary(instruments).to_csv(index=False, lineterminator="\n"))
    progress(f"wrote {dictionary_path.name}")
    return len(scores)


def check_clean(clean_dir: Path) -> tuple[list[str], list[str]]:
    """Check the canonical tables present in ``clean_dir`` against their schemas and against each other.

    Returns ``(checked, problems)``: the tables found, and one line per violation, all of them,
    not only the first: schema violations (table, column, check, row and value), references to
    a participant, group, session or submission that its own table lacks (:data:`LINKS`; table,
    column, how many rows), and tables made with different pseudonymisation keys (the key
    fingerprint each ingested table carries, and ``key_fingerprint.json``).
    """
    checked, problems = [], []
    frames: dict[str, pd.DataFrame] = {}
    for name, model in CLEAN_TABLES.items():
        path = clean_dir / f"{name}.parquet"
        if not path.exists():
            continue
        checked.append(name)
        frames[name] = pd.read_parquet(path)
        try:
            model.validate(frames[name], lazy=True)
        except pa.errors.SchemaErrors as exc:
            for case in exc.failure_cases.itertuples(index=False):
                row = "" if pd.isna(case.index) else f" row {int(case.index) + 1}"
                problems.append(f"{path}:{row} column {case.column}: {case.check} (value {case.failure_case!r})")
    problems += link_problems(clean_dir, frames)
    problems += key_problems(clean_dir, checked)
    return checked, problems


#: (table, column) -> (table, column) it must name a row of; checked when both tables are present
LINKS: dict[tuple[str, str], tuple[str, str]] = {
    ("participants", "group"): ("groups", "group"),
    ("covariates", "participant"): ("participants", "participant"),
    ("sessions", "group"): ("groups", "group"),
    ("attendance", "participant"): ("participants", "participant"),
    ("attendance", "session"): ("sessions", "session"),
    ("responses", "participant"): ("participants", "participant"),
    ("responses", "session"): ("sessions", "session"),
    ("item_responses", "response_id"): ("responses", "response_id"),
    ("scale_scores", "participant"): ("participants", "participant"),
    ("scale_scores", "session"): ("sessions", "session"),
    ("scale_scores", "response_id"): ("responses", "response_id"),
    ("careless", "participant"): ("participants", "participant"),
    ("careless", "response_id"): ("responses", "response_id"),
}


def link_problems(clean_dir: Path, frames: dict[str, pd.DataFrame]) -> list[str]:
    """Return one line per (table, column) whose non-missing values name rows another table lacks.

    Rows that would otherwise vanish silently from every analysis joining the two tables (a score
    of a participant not in participants.parquet, an attendance row of an unknown session).
    """
    problems = []
    for (table, column), (other, key) in LINKS.items():
        if table not in frames or other not in frames:
            continue
        if column not in frames[table] or key not in frames[other]:
            continue  # the schema check reports the missing column
        values = frames[table][column]
        known = pd.Index(frames[other][key].dropna().astype(str).unique())
        present = values.notna()
        unknown = present & ~values.astype("string").isin(known)
        n_bad = int(unknown.sum())
        if n_bad:
            n_values = int(values[unknown].nunique())
            problems.append(
                f"{clean_dir / f'{table}.parquet'}: column {column}: {n_bad} of {int(present.sum())} row(s) name "
                f"{n_values} {key} value(s) that {other}.parquet does not have (rule: unknown_{key}); "
                f"these rows would drop out of every analysis that joins the two tables"
            )
    return problems


def key_problems(clean_dir: Path, checked: list[str]) -> list[str]:
    """Return a line when the tables carry different key fingerprints, or one unlike ``key_fingerprint.json``.

    Tables you supply yourself carry none and are not checked; the ingest writes the fingerprint
    into each table's parquet metadata and beside them (:mod:`pipeline.keys`).
    """
    found = {}
    for name in checked:
        path = clean_dir / f"{name}.parquet"
        try:
            value = read_parquet_metadata(path).get(FINGERPRINT_METADATA)
        except (OSError, ValueError):
            continue  # an unreadable file is reported by the schema check
        if value:
            found[name] = value
    record_path = clean_dir / FINGERPRINT_FILE
    expected = None
    if record_path.is_file():
        try:
            expected = json.loads(record_path.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            return [f"{record_path}: cannot be read (rule: key_fingerprint)"]
    groups: dict[str, list[str]] = {}
    for name, value in found.items():
        groups.setdefault(value, []).append(name)
    if len(groups) <= 1 and (expected is None or set(groups) <= {expected}):
        return []
    parts = [f"{', '.join(names)} with key {value}" for value, names in sorted(groups.items())]
    against = f"; {FINGERPRINT_FILE} says {expected}" if expected else ""
    return [
        f"{clean_dir}: the tables were pseudonymised with different keys ({'; '.join(parts)}{against}) "
        "(rule: key_fingerprint): their pseudonyms do not link; run the ingest again with the study's one key"
    ]
