"""The questionnaire tables of the clean data: one kept submission per participant and occasion.

Several submissions of one participant at one wave (or after one session), in one file or
several, are settled here: ``params.yaml`` ``ingest.duplicates`` chooses which is kept; the
others are excluded as ``superseded_duplicate``.  The kept ones become ``responses.parquet``
and their coded items ``item_responses.parquet``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.items import ITEM_STATUS, NOT_ANSWERED
from pipeline.ledger import Ledger
from pipeline.pseudonymise import Pseudonymiser
from pipeline.study import Study, SurveySource


@dataclass
class SurveyPart:
    """One questionnaire export after its row checks: its rows, coded item cells and answered counts."""

    name: str
    source: SurveySource
    rows: pd.DataFrame
    coded: dict[str, tuple[list[str], np.ndarray, np.ndarray]]
    answered: pd.Series


def responses_tables(
    parts: list[SurveyPart], study: Study, keep: str, ledger: Ledger, pseudo: Pseudonymiser
) -> dict[str, pd.DataFrame]:
    """Settle duplicates across all files of an occasion; build responses and item_responses."""
    frames = []
    for n, part in enumerate(parts):
        pending = ledger.pending(part.name).intersection(part.rows.index)
        frames.append(
            part.rows.loc[pending].assign(
                _part=n, _row=pending, _answered=part.answered.loc[pending], _occasion=part.source.occasion
            )
        )
    allrows = pd.concat(frames) if frames else pd.DataFrame()
    if "skey" not in allrows:
        allrows["skey"] = None
    allrows["_key"] = allrows["wave"].where(allrows["_occasion"] == "wave", allrows["skey"])
    allrows = allrows.reset_index(drop=True)
    by = {
        "latest": ["submitted_at", "_answered", "_part", "_row"],
        "most_complete": ["_answered", "submitted_at", "_part", "_row"],
        "first": ["_part", "_row"],
    }[keep]
    ordered = allrows.sort_values(by, na_position="first", kind="stable")
    dup = ordered.duplicated(["pid", "_occasion", "_key"], keep="first" if keep == "first" else "last")
    for n, part in enumerate(parts):
        hit = ordered[dup & (ordered["_part"] == n)]
        ledger.exclude(part.name, hit["_row"], "superseded_duplicate", detail=f"keep={keep}")
    kept = allrows.loc[ordered.index[~dup]].sort_values(["_part", "_row"], kind="stable").reset_index(drop=True)
    kept["response_id"] = np.arange(1, len(kept) + 1)
    months = {w: v.months for w, v in study.waves.items()}
    responses = pd.DataFrame(
        {
            "response_id": kept["response_id"].astype("int64"),
            "participant": pseudo("participant", kept["participant_id"]),
            "occasion": kept["_occasion"].astype("string"),
            "wave": kept["wave"].astype("string"),
            "months": kept["wave"].map(months).astype(float),
            "session": pseudo("session", kept["skey"].astype(object).where(kept["skey"].notna(), None)),
            "source_file": kept["_part"].map(lambda n: parts[n].name).astype("string"),
            "source_row": kept["_row"].astype("int64"),
            "submitted_at": pd.to_datetime(kept["submitted_at"]),
            "duration_seconds": kept["duration_seconds"].astype(float),
            "finished": kept["finished"].map({"true": True, "false": False}).astype("boolean"),
        }
    )
    item_ids = sorted({i for part in parts for _inst, (ids, _c, _s) in part.coded.items() for i in ids})
    item_code = {item: n for n, item in enumerate(item_ids)}
    inst_ids = sorted({inst for part in parts for inst in part.coded})
    chunks: list[tuple[np.ndarray, ...]] = []
    for n, part in enumerate(parts):
        ledger.settle(part.name, kept.loc[kept["_part"] == n, "_row"], "clean", "")
        who = responses["response_id"].to_numpy()[kept["_part"].to_numpy() == n]
        position = part.rows.index.get_indexer(kept.loc[kept["_part"] == n, "_row"])
        if not part.coded or not len(who):
            continue
        blocks = list(part.coded.items())
        codes = np.hstack([c[position] for _i, (_ids, c, _s) in blocks])
        status = np.hstack([s[position] for _i, (_ids, _c, s) in blocks])
        # an instrument none of whose items a submission touched was not administered to it
        administered = np.hstack(
            [
                np.repeat((s[position] != NOT_ANSWERED).any(axis=1)[:, None], s.shape[1], axis=1)
                for _i, (_ids, _c, s) in blocks
            ]
        )
        inst_of = np.concatenate([np.full(len(ids), inst_ids.index(i), dtype=np.int16) for i, (ids, _c, _s) in blocks])
        item_of = np.concatenate([[item_code[x] for x in ids] for _i, (ids, _c, _s) in blocks]).astype(np.int32)
        shape = codes.shape
        # boolean indexing keeps row-major order: each submission's items together, in questionnaire order
        chunks.append(
            (
                np.broadcast_to(who[:, None], shape)[administered],
                np.broadcast_to(inst_of, shape)[administered],
                np.broadcast_to(item_of, shape)[administered],
                codes[administered],
                status[administered],
            )
        )
    columns = [np.concatenate(c) for c in zip(*chunks, strict=True)] if chunks else [np.array([], dtype=int)] * 5
    ids = columns[0]  # already in response_id order (files, then rows); sorted here only if not
    order = slice(None) if (np.diff(ids) >= 0).all() else np.argsort(ids, kind="stable")
    item_responses = pd.DataFrame(
        {
            "response_id": columns[0][order].astype("int64"),
            "instrument": pd.Categorical.from_codes(columns[1][order], categories=inst_ids),
            "item": pd.Categorical.from_codes(columns[2][order], categories=item_ids),
            "response": columns[3][order].astype(float),
            "response_status": pd.Categorical.from_codes(
                columns[4][order].astype(np.int8), categories=list(ITEM_STATUS)
            ),
        }
    )
    return {"responses": responses, "item_responses": item_responses}
