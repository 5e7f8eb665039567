"""The careless-responding screen as a stage (intervisie.stages.careless) and its sensitivity run.

Known answers: responses simulated with the demo simulator's own item model
(``pipeline.simulate.items``: the shipped instruments, reverse keys and score tables) from known
latent scores, with careless responders planted at known rows (``pipeline.simulate.careless``):
straight-liners must all be flagged, random responders at the rate the indices' theory gives, and
attentive respondents almost never.  Thresholds, flags and the summary are checked against
hand-worked tables; the sensitivity option against the rows it must leave out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from intervisie.cli import main
from intervisie.stages.careless import (
    COLUMNS,
    CarelessParams,
    _item_facts,
    careless_flags,
    careless_table,
    load_careless_params,
    run_careless,
)
from intervisie.stages.common import analysis_scores, careless_summary, flagged_responses, load_analysis_params
from intervisie.stages.growth import effect_comparison
from pipeline.careless import irv, longstring, mahalanobis
from pipeline.errors import InputError
from pipeline.instruments import load_library
from pipeline.schemas import Careless
from pipeline.simulate.careless import plant_careless
from pipeline.simulate.design import stream
from pipeline.simulate.items import answer_codes, geometry, item_offsets
from tests.demo_design import write_demo_design

ROOT = Path(__file__).parents[1]
LIBRARY = load_library(ROOT / "instruments")
WAVE_INSTRUMENTS = ["brs", "cbi", "cope", "gras", "olbi", "uwes9", "psysafety"]
N_HONEST, N_STRAIGHT, N_RANDOM, N_SPEEDERS = 400, 15, 15, 10
SEED = 20261123


def honest_codes(n: int, seed: int) -> pd.DataFrame:
    """Attentive answers from the simulator's item model: latent scores (a shared factor, r = .3) to codes.

    Scales differ in their mean (a fraction of the range drawn once per scale from U(.25, .75)), as
    real ones do: a COPE subscale such as substance use sits low, acceptance high.
    """
    rng = np.random.default_rng(seed)
    common = rng.normal(size=n)
    columns = {}
    for inst_id in WAVE_INSTRUMENTS:
        inst = LIBRARY[inst_id]
        geoms = geometry(inst)
        offsets = item_offsets(rng, inst, geoms, 0.15)
        latent = {}
        for geom in geoms:
            z = np.sqrt(0.3) * common + np.sqrt(0.7) * rng.normal(size=n)
            centre = rng.uniform(0.25, 0.75)
            latent[geom.scale] = geom.low + geom.width * np.clip(centre + 0.15 * z, 0.0, 1.0)
        codes = answer_codes(rng, inst, geoms, latent, offsets, 0.6)
        columns.update({f"{inst_id}.{item.id}": codes[item.id] for item in inst.items})
    return pd.DataFrame(columns)


def code_ranges() -> dict[str, tuple[int, int]]:
    out = {}
    for inst_id in WAVE_INSTRUMENTS:
        inst = LIBRARY[inst_id]
        for item in inst.items:
            rs = inst.response_set_of(item)
            out[f"{inst_id}.{item.id}"] = (rs.min, rs.max)
    return out


def clean_tables(wide: pd.DataFrame, seconds: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """responses.parquet and item_responses.parquet of one wave from a response x item table."""
    ids = np.arange(1, len(wide) + 1)
    responses = pd.DataFrame(
        {
            "response_id": ids,
            "participant": pd.array([f"P{i:05d}" for i in ids], dtype="string"),
            "occasion": pd.array(["wave"] * len(ids), dtype="string"),
            "wave": pd.array(["t0"] * len(ids), dtype="string"),
            "duration_seconds": seconds,
        }
    )
    long = wide.set_axis(ids).stack(future_stack=True).rename("response").reset_index()
    long.columns = ["response_id", "column", "response"]
    parts = long["column"].str.split(".", n=1, expand=True)
    items = pd.DataFrame(
        {
            "response_id": long["response_id"],
            "instrument": parts[0].astype("category"),
            "item": parts[1].astype("category"),
            "response": long["response"].astype(float),
            "response_status": pd.Categorical(np.where(long["response"].isna(), "not_answered", "answered")),
        }
    )
    return responses, items


@pytest.fixture(scope="module")
def planted() -> dict:
    """A wave of attentive respondents with straight-liners, random responders and speeders planted."""
    wide = honest_codes(N_HONEST + N_STRAIGHT + N_RANDOM, SEED)
    codes, records = plant_careless(
        wide, code_ranges(), straight=N_STRAIGHT, random=N_RANDOM, rng=stream(SEED, "careless")
    )
    rng = np.random.default_rng(SEED + 1)
    seconds = wide.shape[1] * rng.uniform(5.0, 15.0, len(wide))
    attentive = np.setdiff1d(np.arange(len(wide)), records["row"].to_numpy())
    speeders = rng.choice(attentive, N_SPEEDERS, replace=False)
    incomplete = int(np.setdiff1d(attentive, speeders)[0])
    codes.iloc[incomplete, 5] = np.nan  # an item left unanswered
    seconds[speeders] = wide.shape[1] * 1.5
    responses, items = clean_tables(codes, seconds)
    table = careless_table(responses, items, LIBRARY, load_careless_params(ROOT / "params.yaml"))
    kind = pd.Series("attentive", index=np.arange(len(wide)))
    kind[records["row"].to_numpy()] = records["kind"].to_numpy()
    kind[speeders] = "speeder"
    return {
        "table": table,
        "kind": kind.to_numpy(),
        "responses": responses,
        "items": items,
        "codes": codes,
        "incomplete": incomplete,
    }


def test_straight_liners_all_flagged(planted: dict) -> None:
    table = planted["table"][planted["kind"] == "straight_line"]
    # every item the same column: a run as long as the longest instrument (COPE, 28 items) and no variability
    assert (table["longstring"] >= 28).all()
    assert_allclose(table["irv"], 0.0, atol=1e-12)
    assert table["flagged"].all()


def test_random_responders_flagged_at_the_expected_rate(planted: dict) -> None:
    table = planted["table"][planted["kind"] == "random"]
    # uniform answers break the items' covariance: D2 beyond the chi2(108) .001 point (159.2) for all
    assert (table["mahalanobis_p"] < 0.001).all()
    # even-odd of unrelated halves over 25 scales: r is about N(0, 1/sqrt(24)), so P(2r/(1+r) < .30) =
    # P(r < .176) = .81; binomial(15, .81) gives fewer than 8 with probability .003 (here: 14 of 15)
    assert table["flag_even_odd"].sum() >= 8
    assert table["flagged"].sum() >= 8


def test_attentive_respondents_rarely_flagged(planted: dict) -> None:
    table = planted["table"][planted["kind"] == "attentive"]
    # the combined rule (2 of 5 indices) almost never fires for attentive respondents (here 0 of 390);
    # even-odd alone misfires more often (4.9% here; short COPE halves of one item each are noisy)
    assert table["flagged"].mean() <= 0.01
    assert table["flag_even_odd"].mean() <= 0.10
    assert not table["flag_speed"].any()


def test_speeders_flagged_on_speed_alone(planted: dict) -> None:
    table = planted["table"][planted["kind"] == "speeder"]
    assert_allclose(table["seconds_per_item"], 1.5, rtol=1e-12)
    assert table["flag_speed"].all()
    assert not table["flagged"].any()  # one index alone does not flag a response (min_flags = 2)


def test_table_has_the_documented_columns_and_is_deterministic(planted: dict) -> None:
    table = planted["table"]
    assert list(table.columns) == COLUMNS
    again = careless_table(planted["responses"], planted["items"], LIBRARY, load_careless_params(ROOT / "params.yaml"))
    pd.testing.assert_frame_equal(table, again)
    row = planted["incomplete"]
    assert np.isnan(table.loc[row, "mahalanobis_d2"])  # an unanswered item: no distance
    assert table.loc[row, "n_items"] == 108 and table["mahalanobis_d2"].notna().sum() == len(table) - 1


def test_indices_are_computed_per_questionnaire() -> None:
    # the comparison arm is not asked the 7 psysafety items: its 101-item questionnaire is screened on
    # its own, so the distances equal those of mahalanobis() on each arm's table (df 108 and 101)
    wide = honest_codes(300, SEED + 3)
    short = wide.drop(columns=[c for c in wide if c.startswith("psysafety.")])
    responses, items = clean_tables(wide, np.full(300, np.nan))
    short_items = clean_tables(short, np.full(300, np.nan))[1]
    arm = items["response_id"] > 150
    items = pd.concat([items[~arm], short_items[short_items["response_id"] > 150]], ignore_index=True)
    for column in ("instrument", "item", "response_status"):
        items[column] = items[column].astype(str).astype("category")
    table = careless_table(responses, items, LIBRARY, CarelessParams()).set_index("response_id")
    full_d2 = mahalanobis(wide.iloc[:150])["mahalanobis_d2"].to_numpy()
    short_d2 = mahalanobis(short.iloc[150:])["mahalanobis_d2"].to_numpy()
    assert_allclose(table["mahalanobis_d2"].to_numpy(), np.r_[full_d2, short_d2], rtol=1e-10)
    assert_allclose(table["mahalanobis_d2"].iloc[150:].mean(), 101 * 149 / 150, rtol=1e-10)
    assert_allclose(table["n_items"], np.r_[np.full(150, 108), np.full(150, 101)], rtol=0)
    assert_allclose(table["longstring"].iloc[150:], longstring(short.iloc[150:]), rtol=0)


def test_irv_is_pooled_within_instruments() -> None:
    # one instrument: the SD of its raw codes divided by its range (documented); several: weighted by items
    wide = honest_codes(50, SEED + 2)
    responses, items = clean_tables(wide, np.full(50, np.nan))
    table = careless_table(responses, items, LIBRARY, CarelessParams())
    brs = wide.filter(like="brs.")
    cope = wide.filter(like="cope.")
    expected = {
        inst: irv(wide.filter(like=f"{inst}.")) / (high - low)
        for inst, (low, high) in {"brs": (1, 5), "cope": (1, 4)}.items()
    }
    only = careless_table(*clean_tables(pd.concat([brs, cope], axis=1), np.full(50, np.nan)), LIBRARY, CarelessParams())
    assert_allclose(only["irv"], (6 * expected["brs"] + 28 * expected["cope"]) / 34, rtol=1e-12)
    assert table["seconds_per_item"].isna().all() and not table["flag_speed"].any()


def test_keyed_proportions_follow_reverse_keys_and_score_tables() -> None:
    index, lowest, keyed, _width = _item_facts(LIBRARY)
    row = {key: n for n, key in enumerate(index)}
    assert_allclose(keyed[row[("brs", "brs_1")], :5], [0, 0.25, 0.5, 0.75, 1], rtol=0, atol=1e-15)
    assert_allclose(keyed[row[("brs", "brs_2")], :5], [1, 0.75, 0.5, 0.25, 0], rtol=0, atol=1e-15)  # reversed
    # CBI codes 1..5 score 100..0: code 1 is the top of the keyed range; item 13 is reverse-keyed
    assert_allclose(keyed[row[("cbi", "cbi_1")], :5], [1, 0.75, 0.5, 0.25, 0], rtol=0, atol=1e-15)
    assert_allclose(keyed[row[("cbi", "cbi_13")], :5], [0, 0.25, 0.5, 0.75, 1], rtol=0, atol=1e-15)
    assert lowest[row[("uwes9", "uwes9_1")]] == 0


def indices_frame(**columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "response_id": list(range(1, n + 1)),
        "participant": [f"P{i}" for i in range(n)],
        "wave": ["t0"] * n,
        "occasion": ["wave"] * n,
        "n_items": [108] * n,
        "longest_instrument": [28] * n,
        "longstring": [3] * n,
        "irv": [0.25] * n,
        "mahalanobis_d2": [100.0] * n,
        "mahalanobis_p": [0.5] * n,
        "even_odd": [0.8] * n,
        "seconds_per_item": [10.0] * n,
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_flag_thresholds_at_their_boundaries() -> None:
    params = CarelessParams()
    nan = float("nan")
    frame = indices_frame(
        longstring=[14, 13, 3, 3, 3, 3, 3, 3],
        irv=[0.25, 0.25, 0.0999, 0.10, nan, 0.25, 0.25, 0.25],
        mahalanobis_p=[0.5, 0.5, 0.5, 0.5, 0.5, 0.0009, 0.001, nan],
        even_odd=[0.8, 0.8, 0.8, 0.8, 0.29, 0.30, nan, 0.8],
        seconds_per_item=[10.0, 10.0, 1.99, 2.0, nan, 10.0, 10.0, 1.0],
    )
    out = careless_flags(frame, params)
    # longstring threshold max(10, ceil(0.5 * 28)) = 14; irv < .10; p < .001; even_odd < .30; < 2 s per item
    assert out["flag_longstring"].tolist() == [True, False, False, False, False, False, False, False]
    assert out["flag_irv"].tolist() == [False, False, True, False, False, False, False, False]
    assert out["flag_mahalanobis"].tolist() == [False, False, False, False, False, True, False, False]
    assert out["flag_even_odd"].tolist() == [False, False, False, False, True, False, False, False]
    assert out["flag_speed"].tolist() == [False, False, True, False, False, False, False, True]
    assert_allclose(out["n_flags"], [1, 0, 2, 0, 1, 1, 0, 1], rtol=0)
    assert out["flagged"].tolist() == [False, False, True, False, False, False, False, False]
    short = indices_frame(longest_instrument=[6, 6], longstring=[10, 9])  # short forms: the absolute minimum
    assert careless_flags(short, params)["flag_longstring"].tolist() == [True, False]


def test_irv_quantile_rule() -> None:
    params = CarelessParams(irv_below=None, irv_quantile=0.25)
    frame = indices_frame(irv=[0.1, 0.2, 0.3, 0.4, 0.5])
    # quantile(.25) of 0.1..0.5 by linear interpolation (R type 7) = 0.2: 0.1 and 0.2 flagged
    assert careless_flags(frame, params)["flag_irv"].tolist() == [True, True, False, False, False]


def test_params_rules(tmp_path: Path) -> None:
    assert load_careless_params(ROOT / "params.yaml").min_flags == 2
    path = tmp_path / "params.yaml"
    path.write_text("careless:\n  irv_below: 0.1\n  irv_quantile: 0.05\n", encoding="utf-8")
    with pytest.raises(InputError, match="exactly one of irv_below"):
        load_careless_params(path)
    path.write_text("careless:\n  min_flag: 2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"careless\.min_flag"):
        load_careless_params(path)


def test_unknown_item_is_an_input_error(planted: dict) -> None:
    items = planted["items"].copy()
    items["instrument"] = items["instrument"].cat.rename_categories({"brs": "brs_old"})
    with pytest.raises(InputError, match="brs_old"):
        careless_table(planted["responses"], items, LIBRARY, CarelessParams())


def test_summary_counts(planted: dict) -> None:
    table = planted["table"]
    summary = careless_summary(table).set_index("index")
    assert summary.loc["any", "n"] == len(table)
    assert summary.loc["any", "n_flagged"] == table["flagged"].sum()
    assert summary.loc["mahalanobis", "n"] == table["mahalanobis_p"].notna().sum()
    assert_allclose(summary.loc["speed", "share"], table["flag_speed"].mean(), rtol=1e-12)
    assert set(summary.index) == {"longstring", "irv", "mahalanobis", "even_odd", "speed", "any"}


def test_schema_documents_every_column() -> None:
    # every column has a description, ready for the data dictionary (pipeline.dictionary)
    schema = Careless.to_schema()
    assert list(schema.columns) == COLUMNS
    assert all(column.description for column in schema.columns.values())


def test_cli_writes_the_table_byte_for_byte_reproducibly(planted: dict, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    planted["responses"].to_parquet(clean / "responses.parquet")
    planted["items"].to_parquet(clean / "item_responses.parquet")
    args = ["careless", "--clean", str(clean), "--instruments", str(ROOT / "instruments"),
            "--params", str(ROOT / "params.yaml")]  # fmt: skip
    main([*args, "--out", str(tmp_path / "a.parquet")])
    run_careless(clean, ROOT / "instruments", ROOT / "params.yaml", tmp_path / "b.parquet", lambda _m: None)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert_allclose(pd.read_parquet(tmp_path / "a.parquet")["n_flags"], planted["table"]["n_flags"], rtol=0)


# ------------------------------------------------------------------------------ sensitivity run


def test_flagged_responses_are_left_out_of_the_analysis_scores(tmp_path: Path) -> None:
    participants = pd.DataFrame(
        {
            "participant": pd.array(["A", "B"], dtype="string"),
            "programme": "anios",
            "arm": ["intervisie", "comparison"],
            "group": pd.array(["G1", None], dtype="string"),
            "coach": pd.array(["C1", None], dtype="string"),
            "format": pd.array(["online", None], dtype="string"),
            "start_date": pd.Timestamp("2024-01-01"),
        }
    )
    responses = pd.DataFrame({"response_id": [1, 2, 3, 4], "months": [0.0, 3.0, 0.0, 3.0]})
    scores = pd.DataFrame(
        {
            "response_id": [1, 2, 3, 4],
            "participant": ["A", "A", "B", "B"],
            "wave": ["t0", "t1", "t0", "t1"],
            "scale": "brs",
            "score": [3.0, 3.5, 2.0, 2.5],
            "score_status": "ok",
        }
    )
    careless = pd.DataFrame({"response_id": [1, 2, 3, 4], "flagged": [False, True, False, False]})
    for name, table in {"participants": participants, "responses": responses, "scale_scores": scores}.items():
        table.to_parquet(tmp_path / f"{name}.parquet")
    careless.to_parquet(tmp_path / "careless.parquet")
    assert flagged_responses(tmp_path / "careless.parquet") == [2]
    params = load_analysis_params(ROOT / "params.yaml", write_demo_design(tmp_path))
    _p, everything = analysis_scores(tmp_path, params)
    _p, screened = analysis_scores(tmp_path, params, exclude=[2])
    assert len(everything) == 4 and len(screened) == 3
    assert not ((screened["participant"] == "A") & (screened["wave"] == "t1")).any()
    with pytest.raises(InputError, match="intervisie careless"):
        flagged_responses(tmp_path / "missing.parquet")
    with pytest.raises(InputError, match="flagged"):
        flagged_responses(tmp_path / "responses.parquet")


def test_effect_comparison() -> None:
    cols = ["outcome", "term", "estimate", "ci95_low", "ci95_high", "p_val", "n_obs"]
    full = pd.DataFrame(
        [["brs", "short:armintervisie", 0.25, 0.1, 0.4, 0.001, 2808], ["brs", "(Intercept)", 3.5, 3.4, 3.6, 0, 2808]],
        columns=cols,
    )
    screened = full.assign(estimate=[0.27, 3.5], n_obs=[2790, 2790])
    out = effect_comparison(full, screened, ["short:armintervisie"])
    assert out["term"].tolist() == ["short:armintervisie"]
    assert_allclose(out[["difference", "n_dropped"]].to_numpy(), [[0.02, 18]], rtol=1e-12)
