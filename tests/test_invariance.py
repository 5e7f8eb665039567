"""Measurement invariance (analyses/cfa.py, analyses/invariance.py, analyses/invariance_tables.py).

Known answers: R lavaan's ``cfa(..., group=, group.equal=, estimator = "ML")`` on the same data
(estimates, chi-square, df, CFI, RMSEA; rtol 1e-4), and simulated truth: an intercept shift
planted on one item for one group breaks scalar invariance and the search names that item; a
loading difference breaks metric invariance; clean data keep scalar invariance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyses.cfa import Moments, fit
from analyses.invariance import LEVELS, invariance, spec_for
from analyses.invariance_tables import invariance_results
from tests.r_reference import run_r

ITEMS = [f"i{j}" for j in range(5)]
LOADINGS = np.array([0.8, 0.7, 0.6, 0.9, 0.5])


def simulate(
    rng: np.random.Generator, n: int, *, factor_mean: float = 0.0, shift: dict[int, float] | None = None,
    loading: dict[int, float] | None = None, codes: int = 5,
) -> np.ndarray:
    """Five items of a one-factor model, rounded to 1..``codes``; ``shift`` adds to an item's intercept."""
    lam = LOADINGS.copy()
    for j, value in (loading or {}).items():
        lam[j] = value
    x = 3 + rng.normal(factor_mean, 1, n)[:, None] * lam + rng.normal(0, 0.6, (n, len(lam)))
    for j, value in (shift or {}).items():
        x[:, j] += value
    return np.clip(np.rint(x), 1, codes)


def _groups(seed: int, shift: dict[int, float] | None = None) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [simulate(rng, 200), simulate(rng, 150, factor_mean=0.3), simulate(rng, 180, shift=shift)]


LAVAAN = """
m <- paste('f =~', paste(setdiff(names(d), 'g'), collapse = ' + '))
for (lv in c('configural', 'metric', 'scalar')) {
  ge <- switch(lv, configural = 'none', metric = 'loadings', scalar = c('loadings', 'intercepts'))
  f <- cfa(m, data = d, group = 'g', group.equal = ge, estimator = 'ML', std.lv = STDLV)
  pe <- parameterEstimates(f)
  out[[lv]] <- list(fm = as.list(fitMeasures(f, c('chisq', 'df', 'cfi', 'rmsea'))), est = pe$est, lhs = pe$lhs,
                    op = pe$op, grp = pe$group)
}
"""


@pytest.mark.parametrize("identification", ["marker", "fixed_factor"])
def test_estimates_and_fit_agree_with_lavaan(identification: str) -> None:
    groups = _groups(1, shift={2: 0.8})
    frame = pd.concat([pd.DataFrame(x, columns=ITEMS).assign(g=f"g{k}") for k, x in enumerate(groups)])
    frame["g"] = pd.Categorical(frame["g"], categories=["g0", "g1", "g2"])
    script = LAVAAN.replace("STDLV", "TRUE" if identification == "fixed_factor" else "FALSE")
    out = run_r(script, frame, packages=("lavaan", "jsonlite"))
    mom = Moments.from_groups(groups)
    for level in LEVELS:
        ours = fit(spec_for(3, 5, level, identification=identification), mom)
        ref = out[level]
        np.testing.assert_allclose([ours.chisq, ours.cfi, ours.rmsea], [ref["fm"][k] for k in ("chisq", "cfi", "rmsea")],
                                   rtol=1e-4)  # fmt: skip
        assert ours.df == ref["fm"]["df"]
        pe = pd.DataFrame({k: ref[k] for k in ("lhs", "op", "grp", "est")})
        loadings = pe[pe["op"] == "=~"]["est"].to_numpy().reshape(3, 5)
        intercepts = pe[(pe["op"] == "~1") & (pe["lhs"] != "f")]["est"].to_numpy().reshape(3, 5)
        residuals = pe[(pe["op"] == "~~") & (pe["lhs"] != "f")]["est"].to_numpy().reshape(3, 5)
        variances = pe[(pe["op"] == "~~") & (pe["lhs"] == "f")]["est"].to_numpy()
        means = pe[(pe["op"] == "~1") & (pe["lhs"] == "f")]["est"].to_numpy()
        for mine, theirs in ((ours.loadings, loadings), (ours.intercepts, intercepts), (ours.residuals, residuals),
                             (ours.variances, variances)):  # fmt: skip
            np.testing.assert_allclose(mine, theirs, rtol=1e-4)
        np.testing.assert_allclose(ours.means, means, rtol=1e-4, atol=1e-6)


def test_both_identifications_give_the_same_fit() -> None:
    mom = Moments.from_groups(_groups(2))
    for level in LEVELS:
        a = fit(spec_for(3, 5, level, identification="marker"), mom)
        b = fit(spec_for(3, 5, level, identification="fixed_factor"), mom)
        assert a.df == b.df
        np.testing.assert_allclose(a.chisq, b.chisq, rtol=1e-6)


def test_a_planted_intercept_shift_breaks_scalar_invariance_and_is_found() -> None:
    for seed in (3, 4):
        result = invariance(_groups(seed, shift={2: 0.8}), ITEMS)
        assert result.holds == "metric"
        assert result.partial_level == "scalar"
        assert result.broken_by == ["i2"]
        assert result.partial is not None
        assert result.fits["metric"].cfi - result.partial.cfi <= 0.010


def test_a_planted_loading_difference_breaks_metric_invariance_and_is_found() -> None:
    rng = np.random.default_rng(5)
    groups = [simulate(rng, 300), simulate(rng, 300, loading={3: 0.1}, codes=7)]
    result = invariance(groups, ITEMS)
    assert result.holds == "configural"
    assert result.broken_by[0] == "i3"


def test_clean_simulations_keep_scalar_invariance() -> None:
    """Chen's cut-offs are not a test at a fixed level: on clean data they seldom (not never) reject.

    The change in RMSEA of a five-item model has few degrees of freedom and is noisy at a few
    hundred people per group (Kenny, Kaniskan & McCoach 2015): at most 2 false alarms in 12.
    """
    kept = 0
    for seed in range(12):
        rng = np.random.default_rng(100 + seed)
        groups = [simulate(rng, 400), simulate(rng, 300, factor_mean=0.3), simulate(rng, 350)]
        kept += invariance(groups, ITEMS, find_items=False).holds == "scalar"
    assert kept >= 10


def test_bad_level_or_identification_is_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        spec_for(2, 4, "strict")
    with pytest.raises(ValueError, match="identification"):
        spec_for(2, 4, "metric", identification="effects")


def _scale_table(seed: int, programmes: list[str], waves: list[str], n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for wave in waves:
        for programme in programmes:
            x = simulate(rng, n, shift={1: 1.0} if programme == programmes[-1] else None)
            people = [f"{programme}-{i}" for i in range(n)]  # the same people at every wave
            parts.append(pd.DataFrame(x, columns=ITEMS).assign(participant=people, wave=wave, programme=programme))
    return pd.concat(parts, ignore_index=True)


def test_tables_name_the_planted_item_and_skip_with_reasons() -> None:
    table = _scale_table(9, ["p_a", "p_b", "p_c"], ["w0", "w1"], 150)
    table.loc[0, "i0"] = np.nan  # an incomplete response: counted, left out of the models
    small = table[(table["programme"] != "p_c") | (table.index % 10 == 0)]  # p_c: 15 + 15 responses
    tables, skipped = invariance_results(
        {"scale_x": ("inst", ITEMS, table), "scale_small": ("inst", ITEMS, small),
         "scale_two": ("inst", ITEMS[:2], table)},
        programmes=["p_a", "p_b", "p_c"], waves=["w0", "w1"], baseline="w0", min_per_group=50,
    )  # fmt: skip
    summary = tables["summary"].set_index(["scale", "comparison"])
    row = summary.loc[("scale_x", "programmes")]
    assert row["holds"] == "metric" and row["broken_by"] == "i1" and row["n_incomplete"] == 1
    assert row["n"] == 449
    assert summary.loc[("scale_small", "programmes"), "groups"] == "p_a;p_b"
    reasons = {(s["outcome"], s["analysis"]): s["reason"] for s in skipped}
    assert "fewer than 50 complete responses" in reasons[("scale_small", "invariance across programmes: p_c")]
    assert "at least 3" in reasons[("scale_two", "measurement invariance")]
    assert set(tables["fit"]["level"]) == set(LEVELS)
    # over the waves: one longitudinal model of the 449 people complete at both waves (the incomplete
    # response and the same person's other response are left out)
    waves = summary.loc[("scale_x", "waves")]
    assert waves["groups"] == "w0;w1" and waves["n"] == 449 and waves["n_incomplete"] == 2
    assert tables["groups"].query("scale == 'scale_x' and comparison == 'waves'")["n"].tolist() == [449, 449]


def test_one_programme_and_one_wave_are_skipped_with_a_reason() -> None:
    table = _scale_table(10, ["only"], ["w0"], 120)
    tables, skipped = invariance_results({"s": ("inst", ITEMS, table)}, programmes=["only"], waves=["w0"],
                                         baseline="w0", min_per_group=50)  # fmt: skip
    assert tables["summary"].empty and list(tables["summary"].columns)
    assert {s["analysis"] for s in skipped} == {"invariance across programmes", "invariance across waves"}
    assert all("one" in s["reason"] for s in skipped)


def test_the_methods_appendix_flags_effects_where_scalar_invariance_fails() -> None:
    from reporting.invariance_text import flags
    from tests.design_factory import make_test_design

    design = make_test_design(waves={"w0": 0, "w1": 6}, programmes=["p_a", "p_b"], comparison=False, scales={},
                              primary=[])  # fmt: skip
    table = pd.DataFrame({"scale": ["s1", "s1", "s2"], "comparison": ["waves", "programmes", "waves"],
                          "holds": ["metric", "scalar", "configural"]})  # fmt: skip
    words = flags(table, design)
    assert len(words) == 2
    assert "across waves does not hold for s1" in words[0] and "change over the waves" in words[0]
    assert "s2" in words[1]


def _simulated_baseline(tmp_path: Path, shifts: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """The demo design simulated in memory (1,500 people), with ``shifts`` planted: baseline BRS items and programme."""
    from pipeline.instruments import load_library
    from pipeline.simulate.config import load_config
    from pipeline.simulate.simulation import simulate
    from pipeline.study import load_study

    demo = Path(__file__).resolve().parents[1] / "data_raw" / "demo"
    cfg = load_config(demo / "simulation.yaml")
    items_model = type(cfg.items).model_validate({**cfg.items.model_dump(), "shifts": shifts})
    cfg = cfg.model_copy(update={"items": items_model})
    study = load_study(demo / "study.yaml")
    library = load_library(Path(__file__).resolve().parents[1] / "instruments")
    sim = simulate(cfg, study, library, n_participants=1500)
    first = min(study.waves, key=lambda w: study.waves[w].months)
    frame = sim.waves[first]
    people = sim.cohort.people
    items = [i for i in library["brs"].item_ids()]
    out = frame[["participant", *items]].assign(programme=people["programme"].to_numpy()[frame["participant"]])
    return out, list(study.programmes)


def test_the_simulator_plants_a_non_invariant_item_and_the_analysis_finds_it(tmp_path: Path) -> None:
    """An intercept shift of one BRS item in one programme (pipeline/simulate, ``items.shifts``) breaks scalar
    invariance across programmes, and the search names that item; without it scalar invariance holds."""
    from analyses.invariance_tables import scale_invariance

    shifted, order = _simulated_baseline(tmp_path, [{"item": "brs_3", "programme": order_of_second(), "steps": 0.8}])
    items = [c for c in shifted.columns if c.startswith("brs_")]
    key = {"instrument": "brs", "scale": "brs", "comparison": "programmes", "groups": ";".join(order)}
    row, _fit, _sizes, _skipped = scale_invariance(shifted, items, "programme", order, min_per_group=100,
                                                   delta_cfi=0.010, delta_rmsea=0.015, key=key)  # fmt: skip
    assert row["holds"] == "metric", row
    assert "brs_3" in str(row["broken_by"]), row
    clean, _ = _simulated_baseline(tmp_path, [])
    row, *_ = scale_invariance(clean, items, "programme", order, min_per_group=100, delta_cfi=0.010,
                               delta_rmsea=0.015, key=key)  # fmt: skip
    assert row["holds"] == "scalar", row


def order_of_second() -> str:
    """The demo's second programme (the shift is planted there; the first is the reference)."""
    from pipeline.study import load_study

    return list(load_study(Path(__file__).resolve().parents[1] / "data_raw" / "demo" / "study.yaml").programmes)[1]
