"""The score stage (clean items -> scale scores and data dictionary), and the canonical-form check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.atomic import write_parquet, write_text
from pipeline.dictionary import data_dictionary
from pipeline.errors import InputError
from pipeline.instruments import Instrument, load_library
from pipeline.itemtable import category_codes, instrument_tables
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
