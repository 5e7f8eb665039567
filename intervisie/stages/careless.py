"""The careless-responding screen (``intervisie careless``): indices and flags per response.

Reads ``responses.parquet`` and ``item_responses.parquet``, computes for every submission of
the screened occasions the indices of :mod:`pipeline.careless`, flags each against the
thresholds in ``params.yaml`` (section ``careless``) and writes ``data_clean/careless.parquet``.
The analyses can then be rerun without flagged responses (``intervisie analyze growth
--exclude-flagged``).  Choices, all documented in ``params.yaml``:

- **longstring** on the raw answer codes in questionnaire order across the whole submission;
  flagged when ``longstring >= max(longstring_min, ceil(longstring_share * k_max))``, with
  ``k_max`` the item count of the longest instrument the submission holds (Johnson, 2005, and
  Curran, 2016, suggest a run of about half a scale's length).
- **IRV** within each instrument, on the codes rescaled to a proportion of the item's range,
  ``(code - min) / (max - min)``, then averaged over the submission's instruments weighted by
  their answered items: the instruments' ranges differ (1-4 to 0-6), and an SD across them
  would be large for a respondent who ticks the same column throughout (column 3 is 0.67 of a
  1-4 item but 0.33 of a 0-6 item).  For one instrument it is the SD of its raw codes divided
  by their range.  Flagged below ``irv_below``, or at or below the ``irv_quantile`` of its
  wave when that is given instead.
- **Mahalanobis** D2 on the raw codes of all items, among the responses to the same
  questionnaire: the same wave (or all session evaluations) and the same items presented in
  the same order (the comparison arm is not asked about its group's safety, so its
  questionnaire is shorter).  Complete responses only, and only where a questionnaire has at
  least ``items + 2`` of them (else NaN); flagged when ``p < mahalanobis_p_below``.  All other
  indices are computed per questionnaire as well, on the items presented.
- **even-odd** within each scale with at least two items, on the keyed proportion of each
  item (its scored value rescaled to 0-1, reverse-keyed items reversed) so that scales of
  different ranges can be compared; a total scale that holds another scale of its instrument
  is left out (its items would count twice).  Flagged below ``even_odd_below``.
- **speed**: ``duration_seconds`` per item presented, where the export has a duration;
  flagged below ``seconds_per_item_below`` (Meade & Craig, 2012: 2 s per item).

An index that cannot be computed is NaN and never raises a flag; ``flagged`` is
``n_flags >= min_flags`` (Curran, 2016, recommends acting on several indices together).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.atomic import write_parquet
from pipeline.careless import even_odd, irv, longstring, mahalanobis
from pipeline.config import load_yaml_model
from pipeline.errors import InputError
from pipeline.instruments import Instrument, load_library
from pipeline.schemas import Careless

Progress = Callable[[str], None]

INDICES = ["longstring", "irv", "mahalanobis", "even_odd", "speed"]
COLUMNS = [
    "response_id",
    "participant",
    "wave",
    "occasion",
    "n_items",
    "longstring",
    "irv",
    "mahalanobis_d2",
    "mahalanobis_p",
    "even_odd",
    "seconds_per_item",
    *[f"flag_{index}" for index in INDICES],
    "n_flags",
    "flagged",
]


class CarelessParams(BaseModel):
    """The ``careless`` section of ``params.yaml``: which occasions to screen and the thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    occasions: list[Literal["wave", "session"]] = ["wave"]
    longstring_share: float = Field(0.5, gt=0, le=1)
    longstring_min: int = Field(10, ge=2)
    irv_below: float | None = Field(0.10, ge=0)
    irv_quantile: float | None = Field(None, gt=0, lt=1)
    mahalanobis_p_below: float = Field(0.001, gt=0, lt=1)
    even_odd_below: float = Field(0.30, ge=-1, le=1)
    seconds_per_item_below: float = Field(2.0, ge=0)
    min_flags: int = Field(2, ge=1, le=len(INDICES))

    @model_validator(mode="after")
    def _one_irv_rule(self) -> CarelessParams:
        if (self.irv_below is None) == (self.irv_quantile is None):
            raise ValueError("give exactly one of irv_below (absolute) and irv_quantile (per wave)")
        return self


def load_careless_params(path: Path) -> CarelessParams:
    """Read the ``careless`` section of ``params.yaml``."""
    return load_yaml_model(path, CarelessParams, "parameters file", section="careless")


def _item_facts(instruments: dict[str, Instrument]) -> tuple[pd.MultiIndex, np.ndarray, np.ndarray, np.ndarray]:
    """Each (instrument, item): its lowest code, the keyed proportion of each code, and the code range.

    Returns the item index, the lowest codes, a matrix whose row holds the keyed proportion of
    code ``min + j`` in column ``j`` (scored value rescaled to 0-1, reversed for reverse-keyed
    items) and the width ``max - min`` of the codes.
    """
    keys, lowest, widths, keyed = [], [], [], []
    for inst in instruments.values():
        for item in inst.items:
            rs = inst.response_set_of(item)
            scored = np.array([rs.scores[c] if rs.scores else float(c) for c in range(rs.min, rs.max + 1)])
            span = scored.max() - scored.min()
            share = (scored - scored.min()) / span if span > 0 else np.zeros_like(scored)
            keys.append((inst.id, item.id))
            lowest.append(float(rs.min))
            widths.append(float(max(rs.max - rs.min, 1)))
            keyed.append(1.0 - share if item.reverse else share)
    table = np.full((len(keyed), max((len(k) for k in keyed), default=1)), np.nan)
    for n, share in enumerate(keyed):
        table[n, : len(share)] = share
    index = pd.MultiIndex.from_tuples(keys, names=["instrument", "item"])
    return index, np.array(lowest), table, np.array(widths)


def _even_odd_scales(inst: Instrument) -> list[list[str]]:
    """The scales of an instrument used for even-odd: two items or more, totals left out."""
    sets = [set(s.items) for s in inst.scales]
    keep = []
    for n, scale in enumerate(inst.scales):
        total = any(m != n and other < sets[n] for m, other in enumerate(sets))
        if len(scale.items) >= 2 and not total:
            keep.append([f"{inst.id}.{item}" for item in scale.items])
    return keep


def _pooled_irv(proportions: pd.DataFrame) -> pd.Series:
    """IRV per instrument (columns ``instrument.item``), averaged weighted by answered items."""
    instrument = np.array([c.split(".", 1)[0] for c in proportions.columns])
    total = np.zeros(len(proportions))
    weight = np.zeros(len(proportions))
    for inst in pd.unique(instrument):
        block = proportions.loc[:, instrument == inst]
        value = irv(block).to_numpy()
        answered = np.where(np.isnan(value), 0.0, block.notna().sum(axis=1).to_numpy())
        total += np.where(np.isnan(value), 0.0, value) * answered
        weight += answered
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.Series(np.where(weight > 0, total / weight, np.nan), index=proportions.index, name="irv")


def _questionnaire_indices(
    part: pd.DataFrame, ids: np.ndarray, columns: list[str], instruments: dict[str, Instrument]
) -> pd.DataFrame:
    """The indices of the responses ``ids`` to one questionnaire (the same items in the same order)."""
    row = pd.Index(ids).get_indexer(part["response_id"])
    col = pd.Index(columns).get_indexer(part["column"])
    wide = {}
    for name in ("code", "proportion", "keyed"):
        values = np.full((len(ids), len(columns)), np.nan)
        values[row, col] = part[name].to_numpy()
        wide[name] = pd.DataFrame(values, index=pd.Index(ids, name="response_id"), columns=columns)
    present = {c.split(".", 1)[0] for c in columns}
    scales = [s for i in sorted(present) for s in _even_odd_scales(instruments[i])]
    return pd.concat(
        [
            longstring(wide["code"]),
            _pooled_irv(wide["proportion"]),
            mahalanobis(wide["code"]).drop(columns="mahalanobis_df"),
            even_odd(wide["keyed"], scales),
        ],
        axis=1,
    )


def careless_indices(
    responses: pd.DataFrame,
    item_responses: pd.DataFrame,
    instruments: dict[str, Instrument],
    *,
    occasions: list[str],
) -> pd.DataFrame:
    """Return the careless-responding indices of every response of the given occasions.

    Parameters
    ----------
    responses, item_responses : DataFrame
        The clean tables (``responses.parquet``, ``item_responses.parquet``).
    instruments : dict
        The instrument library.
    occasions : list of str
        Occasions to screen (``wave``, ``session``).

    Returns
    -------
    DataFrame
        One row per response: identifiers, ``n_items`` presented, ``longest_instrument`` and the
        indices (see the module docstring); Mahalanobis is computed within each wave.
    """
    kept = responses[responses["occasion"].astype(str).isin(occasions)].sort_values("response_id")
    index, lowest, keyed_table, widths = _item_facts(instruments)
    items = item_responses[item_responses["response_id"].isin(kept["response_id"])]
    items = items.assign(instrument=items["instrument"].astype(str), item=items["item"].astype(str))
    position = index.get_indexer(pd.MultiIndex.from_frame(items[["instrument", "item"]]))
    if (position < 0).any():
        unknown = items.loc[position < 0, ["instrument", "item"]].drop_duplicates().head(5)
        raise InputError(
            "item_responses.parquet holds item(s) the instrument library lacks: "
            + ", ".join(f"{i}.{j}" for i, j in unknown.itertuples(index=False))
        )
    code = items["response"].to_numpy(dtype=float)
    offset = code - lowest[position]
    proportion = offset / widths[position]
    valid = (offset >= 0) & (offset < keyed_table.shape[1]) & (offset == np.round(offset))
    keyed = np.full(len(code), np.nan)
    keyed[valid] = keyed_table[position[valid], offset[valid].astype(np.int64)]
    long = pd.DataFrame(
        {
            "response_id": items["response_id"].to_numpy(),
            "column": (items["instrument"] + "." + items["item"]).to_numpy(),
            "code": code,
            "proportion": proportion,
            "keyed": keyed,
        }
    )
    sizes = items.groupby(["response_id", "instrument"]).size()
    per_response = pd.DataFrame(
        {"n_items": sizes.groupby(level=0).sum(), "longest_instrument": sizes.groupby(level=0).max()}
    )
    # one questionnaire = one wave and one sequence of presented items (the comparison arm may skip an
    # instrument; an export may hold another version): each index is computed within it
    column_code, column_names = pd.factorize(long["column"])
    sequence = (
        pd.Series(column_code).groupby(long["response_id"].to_numpy(), sort=False).agg(lambda v: v.to_numpy().tobytes())
    )
    wave_key = kept["occasion"].astype(str) + ":" + kept["wave"].astype(str)
    questionnaire = wave_key + "|" + kept["response_id"].map(sequence).fillna(b"").map(bytes.hex)
    parts = []
    for _key, block in kept.groupby(questionnaire.to_numpy(), sort=True):
        ids = block["response_id"].to_numpy()
        part = long[long["response_id"].isin(ids)]
        columns = column_names[np.frombuffer(sequence.get(ids[0], b""), dtype=column_code.dtype)]
        parts.append(_questionnaire_indices(part, ids, list(columns), instruments))
    indices = pd.concat(parts) if parts else pd.DataFrame(columns=["longstring", "irv", "mahalanobis_d2"])
    out = kept[["response_id", "participant", "wave", "occasion", "duration_seconds"]].set_index("response_id")
    out = out.join(per_response).join(indices)
    out["n_items"] = out["n_items"].fillna(0).astype("int64")
    out["longest_instrument"] = out["longest_instrument"].fillna(0).astype("int64")
    out["longstring"] = out["longstring"].fillna(0).astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["seconds_per_item"] = out["duration_seconds"] / out["n_items"].where(out["n_items"] > 0)
    return out.drop(columns="duration_seconds").reset_index()


def careless_flags(indices: pd.DataFrame, params: CarelessParams) -> pd.DataFrame:
    """Add a flag per index, ``n_flags`` and ``flagged`` to :func:`careless_indices` output.

    A missing index never flags.  Thresholds: see :class:`CarelessParams` and the module docstring.
    """
    out = indices.copy()
    share = np.ceil(params.longstring_share * out["longest_instrument"].to_numpy() - 1e-9)
    threshold = np.maximum(params.longstring_min, share)
    out["flag_longstring"] = (out["longstring"].to_numpy() >= threshold) & (out["n_items"].to_numpy() > 0)
    if params.irv_below is not None:
        out["flag_irv"] = (out["irv"] < params.irv_below).fillna(False)
    else:
        q = params.irv_quantile
        group = out["occasion"].astype(str) + ":" + out["wave"].astype(str).fillna("")
        cut = out.groupby(group)["irv"].transform(lambda v: v.quantile(q) if v.notna().any() else np.nan)
        out["flag_irv"] = (out["irv"] <= cut).fillna(False)
    out["flag_mahalanobis"] = (out["mahalanobis_p"] < params.mahalanobis_p_below).fillna(False)
    out["flag_even_odd"] = (out["even_odd"] < params.even_odd_below).fillna(False)
    out["flag_speed"] = (out["seconds_per_item"] < params.seconds_per_item_below).fillna(False)
    flags = [f"flag_{index}" for index in INDICES]
    out[flags] = out[flags].astype(bool)
    out["n_flags"] = out[flags].sum(axis=1).astype("int64")
    out["flagged"] = out["n_flags"] >= params.min_flags
    return out[COLUMNS]


def careless_table(
    responses: pd.DataFrame,
    item_responses: pd.DataFrame,
    instruments: dict[str, Instrument],
    params: CarelessParams,
) -> pd.DataFrame:
    """Return ``careless.parquet``: indices and flags of every screened response, checked."""
    indices = careless_indices(responses, item_responses, instruments, occasions=list(params.occasions))
    table = careless_flags(indices, params)
    table = table.astype({"participant": "string", "wave": "string", "occasion": "string", "longstring": "int64"})
    return Careless.validate(table.reset_index(drop=True), lazy=True)


def run_careless(clean_dir: Path, instruments_dir: Path, params_path: Path, out_path: Path, progress: Progress) -> int:
    """Screen the clean responses for careless responding and write ``careless.parquet``."""
    params = load_careless_params(params_path)
    instruments = load_library(instruments_dir)
    responses = pd.read_parquet(clean_dir / "responses.parquet")
    item_responses = pd.read_parquet(clean_dir / "item_responses.parquet")
    table = careless_table(responses, item_responses, instruments, params)
    write_parquet(out_path, table)
    progress(
        f"wrote {out_path.name}: {len(table)} responses screened, {int(table['flagged'].sum())} flagged "
        f"(at least {params.min_flags} of {len(INDICES)} indices)"
    )
    return len(table)
