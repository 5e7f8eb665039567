"""Longitudinal measurement invariance (analyses/longitudinal_cfa.py, analyses/invariance.longitudinal_invariance).

Known answers: R lavaan's ``cfa(..., meanstructure = TRUE, estimator = "ML")`` on the same data,
with the one-factor-per-wave model written out (labels for the equalities, correlated
residuals of the same item over the waves): every estimate, chi-square, df, CFI and RMSEA
agree to rtol 1e-6 at the configural, metric, scalar and a partial scalar level, under both
identifications (one Rscript call for the module).  Simulated truth: an intercept shift of one
item at a later wave breaks scalar invariance and the search names that item; a loading change
breaks metric invariance; invariant simulations keep scalar invariance.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from analyses import longitudinal_cfa as lcfa
from analyses.invariance import longitudinal_invariance
from analyses.invariance_tables import invariance_results
from tests.r_reference import run_r

LOADINGS = np.array([0.8, 0.7, 0.6, 0.9, 0.5])
ITEMS = [f"i{j}" for j in range(5)]
#: the lavaan models compared: (level, identification, items whose intercepts are free per wave)
CASES = [("configural", "fixed_factor", ()), ("metric", "fixed_factor", ()), ("scalar", "fixed_factor", ()),
         ("scalar", "fixed_factor", (2,)), ("configural", "marker", ()), ("metric", "marker", ()),
         ("scalar", "marker", ())]  # fmt: skip


def simulate_waves(
    rng: np.random.Generator, n: int, *, n_waves: int = 3, shift: dict[tuple[int, int], float] | None = None,
    loading: dict[tuple[int, int], float] | None = None, codes: int | None = 5,
) -> list[np.ndarray]:
    """Five items at ``n_waves`` waves of the same ``n`` people: a factor per wave (correlated, rising mean),
    item-specific variance shared over the waves, answers rounded to 1..``codes``; ``shift`` adds to the
    intercept and ``loading`` replaces the loading of (wave, item)."""
    w = n_waves
    phi = 0.6 * np.ones((w, w)) + np.diag(np.linspace(0.4, 0.7, w))
    eta = rng.multivariate_normal(np.linspace(0, 0.5, w), phi, n)
    specific = rng.normal(0, 0.35, (n, len(LOADINGS)))
    out = []
    for a in range(w):
        lam = LOADINGS.copy()
        for (wave, j), value in (loading or {}).items():
            lam[j] = value if wave == a else lam[j]
        x = 3 + eta[:, [a]] * lam + specific + rng.normal(0, 0.5, (n, len(lam)))
        for (wave, j), value in (shift or {}).items():
            x[:, j] += value if wave == a else 0.0
        out.append(np.clip(np.rint(x), 1, codes) if codes else x)
    return out


def lavaan_model(n_waves: int, p: int, level: str, identification: str, free_intercepts: tuple[int, ...]) -> str:
    """The model in lavaan syntax: variables ``x{j}_{w}``, factors ``f{w}``, equalities by shared labels."""
    lines = []
    for w in range(n_waves):
        terms = []
        for j in range(p):
            label = f"l{j}" if level != "configural" else f"l{j}_{w}"
            if identification == "marker" and j == 0:
                terms.append(f"1*x0_{w}")
            else:
                terms.append(f"{'NA*x0_' + str(w) + ' + ' if j == 0 else ''}{label}*x{j}_{w}")
        lines.append(f"f{w} =~ " + " + ".join(terms))
        fixed_variance = identification == "fixed_factor" and (level == "configural" or w == 0)
        lines.append(f"f{w} ~~ {'1*' if fixed_variance else ''}f{w}")
        lines.append(f"f{w} ~ {'NA' if level == 'scalar' and w > 0 else '0'}*1")
        for j in range(p):
            shared = level == "scalar" and j not in free_intercepts
            lines.append(f"x{j}_{w} ~ {'t' + str(j) if shared else f't{j}_{w}'}*1")
    for a, b in itertools.combinations(range(n_waves), 2):
        lines.append(f"f{a} ~~ f{b}")
        lines += [f"x{j}_{a} ~~ x{j}_{b}" for j in range(p)]
    return "\n".join(lines)


def _frame(waves: list[np.ndarray]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame(x, columns=[f"x{j}_{w}" for j in range(x.shape[1])]) for w, x in enumerate(waves)],
                     axis=1)  # fmt: skip


@pytest.fixture(scope="module")
def lavaan_case() -> tuple[list[np.ndarray], list[dict]]:
    """Three waves of four items (N = 300, an intercept shift of item 2 at wave 2), fitted by lavaan once."""
    waves = [x[:, :4] for x in simulate_waves(np.random.default_rng(11), 300, shift={(2, 2): 0.5})]
    models = [lavaan_model(3, 4, level, ident, free) for level, ident, free in CASES]
    script = "models <- c(" + ", ".join(f"'{m}'" for m in models) + ")\n" + """
for (m in models) {
  f <- cfa(m, data = d, meanstructure = TRUE, estimator = 'ML',
          optim.method = 'BFGS', control = list(reltol = 1e-14, maxit = 10000))
  pe <- parameterEstimates(f)
  out[[length(out) + 1]] <- list(fm = as.list(fitMeasures(f, c('chisq', 'df', 'cfi', 'rmsea'))),
                                 key = paste(pe$lhs, pe$op, pe$rhs), est = pe$est)
}
"""
    return waves, run_r(script, _frame(waves), packages=("lavaan", "jsonlite"))


def _ours(f: lcfa.LongFit) -> dict[str, float]:
    """Our estimates under lavaan's parameter names."""
    n_waves, p = f.loadings.shape
    out = {}
    for w in range(n_waves):
        out[f"f{w} ~~ f{w}"] = f.phi[w, w]
        out[f"f{w} ~1 "] = f.means[w]
        for j in range(p):
            out[f"f{w} =~ x{j}_{w}"] = f.loadings[w, j]
            out[f"x{j}_{w} ~1 "] = f.intercepts[w, j]
            out[f"x{j}_{w} ~~ x{j}_{w}"] = f.residuals[w, j]
    for a, b in itertools.combinations(range(n_waves), 2):
        out[f"f{a} ~~ f{b}"] = f.phi[a, b]
        for j in range(p):
            out[f"x{j}_{a} ~~ x{j}_{b}"] = f.residual_covs[j, a, b]
    return out


@pytest.mark.parametrize("case", range(len(CASES)), ids=["-".join(map(str, c[:2])) + ("-partial" if c[2] else "")
                                                         for c in CASES])  # fmt: skip
def test_estimates_and_fit_agree_with_lavaan(lavaan_case: tuple, case: int) -> None:
    waves, out = lavaan_case
    level, identification, free = CASES[case]
    mom = lcfa.LongMoments.from_waves(waves)
    ours = lcfa.fit(lcfa.longitudinal_spec(3, 4, level, identification=identification, free_intercepts=free), mom)
    ref = out[case]
    assert ours.converged
    assert ours.df == ref["fm"]["df"]
    np.testing.assert_allclose([ours.chisq, ours.cfi, ours.rmsea], [ref["fm"][k] for k in ("chisq", "cfi", "rmsea")],
                               rtol=1e-6)  # fmt: skip
    theirs = dict(zip(ref["key"], ref["est"], strict=True))
    mine = _ours(ours)
    assert set(mine) == set(theirs)
    keys = sorted(mine)
    np.testing.assert_allclose([mine[k] for k in keys], [theirs[k] for k in keys], rtol=1e-6, atol=1e-7)


def test_both_identifications_give_the_same_fit() -> None:
    mom = lcfa.LongMoments.from_waves(simulate_waves(np.random.default_rng(2), 250))
    for level in lcfa.LEVELS:
        a, b = (lcfa.fit(lcfa.longitudinal_spec(3, 5, level, identification=i), mom) for i in ("marker", "fixed_factor"))
        assert a.df == b.df
        np.testing.assert_allclose(a.chisq, b.chisq, rtol=1e-7)


def test_the_model_implied_moments_are_the_data_when_the_model_is_true() -> None:
    """Unrounded data from the model: configural estimates come back near the truth (N = 4000)."""
    waves = simulate_waves(np.random.default_rng(3), 4000, codes=None)
    f = lcfa.fit(lcfa.longitudinal_spec(3, 5, "metric"), lcfa.LongMoments.from_waves(waves))
    np.testing.assert_allclose(f.loadings[0], LOADINGS, atol=0.05)
    np.testing.assert_allclose(f.residual_covs[:, 0, 1], 0.35**2, atol=0.03)


def test_a_planted_intercept_shift_at_a_later_wave_breaks_scalar_invariance_and_is_found() -> None:
    for seed in (21, 22):
        result = longitudinal_invariance(simulate_waves(np.random.default_rng(seed), 600, shift={(2, 3): 0.6}), ITEMS)
        assert result.holds == "metric", result.fits
        assert result.partial_level == "scalar" and result.broken_by == ["i3"]
        assert result.partial is not None
        assert result.fits["metric"].cfi - result.partial.cfi <= 0.010


def test_a_planted_loading_change_breaks_metric_invariance_and_is_found() -> None:
    waves = simulate_waves(np.random.default_rng(23), 600, loading={(1, 1): 0.1}, codes=7)
    result = longitudinal_invariance(waves, ITEMS)
    assert result.holds == "configural"
    assert result.broken_by[0] == "i1"


def test_invariant_simulations_keep_scalar_invariance() -> None:
    kept = [longitudinal_invariance(simulate_waves(np.random.default_rng(30 + s), 600), ITEMS,
                                    find_items=False).holds for s in range(6)]  # fmt: skip
    assert kept.count("scalar") >= 5, kept


def test_bad_level_identification_or_unaligned_waves_are_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        lcfa.longitudinal_spec(2, 4, "strict")
    with pytest.raises(ValueError, match="identification"):
        lcfa.longitudinal_spec(2, 4, "metric", identification="effects")
    with pytest.raises(ValueError, match="same people"):
        longitudinal_invariance([np.ones((5, 3)), np.ones((4, 3))], ITEMS[:3])


def test_the_information_is_the_hessian_where_the_model_fits_exactly() -> None:
    """At moments the model reproduces, the expected information equals the Hessian (central differences)."""
    spec = lcfa.longitudinal_spec(3, 4, "scalar", identification="marker")
    lay = lcfa._Layout.of(spec)
    mom = lcfa.LongMoments.from_waves([x[:, :4] for x in simulate_waves(np.random.default_rng(4), 300)])
    theta = lcfa._start(spec, mom)
    sigma, mu = lcfa.implied(theta, spec)
    exact = lcfa.LongMoments(n=300.0, n_items=4, means=mu, cov=sigma, logdet=float(np.linalg.slogdet(sigma)[1]))
    steps = 1e-6 * np.eye(spec.n_free)
    numeric = np.array([(lcfa._objective(theta + h, lay, exact)[1] - lcfa._objective(theta - h, lay, exact)[1]) / 2e-6
                        for h in steps])  # fmt: skip
    info = lcfa._information(theta, lay, exact)
    np.testing.assert_allclose(info, (numeric + numeric.T) / 2, rtol=1e-5, atol=1e-5 * np.abs(info).max())


def _long_table(rng: np.random.Generator, n: int, shift: dict[tuple[int, int], float]) -> pd.DataFrame:
    """Four waves of the same ``n`` people in long form; only 50 of them answer at the last wave."""
    waves = simulate_waves(rng, n, n_waves=4, shift=shift)
    parts = [pd.DataFrame(x, columns=ITEMS).assign(participant=[f"p{i:04d}" for i in range(n)], wave=f"w{w}",
                                                   programme="only") for w, x in enumerate(waves)]  # fmt: skip
    parts[3] = parts[3].iloc[:50]
    return pd.concat(parts, ignore_index=True)


def test_the_tables_test_the_waves_longitudinally_and_name_the_planted_item() -> None:
    """The stage's path: one longitudinal model of the people complete at w0..w2 (w3 has too few: a reason),
    an incomplete response counted, the item shifted at w2 named."""
    table = _long_table(np.random.default_rng(40), 600, {(2, 3): 0.6})
    table.loc[(table["wave"] == "w1") & (table["participant"] == "p0007"), "i0"] = np.nan
    tables, skipped = invariance_results({"s": ("inst", ITEMS, table)}, programmes=["only"],
                                         waves=["w0", "w1", "w2", "w3"], baseline="w0", min_per_group=100)  # fmt: skip
    row = tables["summary"].set_index("comparison").loc["waves"]
    assert row["groups"] == "w0;w1;w2" and row["n"] == 599 and row["n_incomplete"] == 3
    assert row["holds"] == "metric" and row["broken_level"] == "scalar" and row["broken_by"] == "i3"
    assert tables["fit"]["chisq"].gt(0).all() and list(tables["fit"]["level"]) == ["configural", "metric", "scalar"]
    assert tables["groups"]["n"].tolist() == [599, 599, 599]
    reasons = {s["analysis"]: s["reason"] for s in skipped}
    assert "fewer than 100 people answered every item at this wave and at every earlier wave" in reasons[
        "invariance across waves: w3"]  # fmt: skip
    assert "one programme" in reasons["invariance across programmes"]


def test_a_study_with_too_few_people_at_both_waves_is_skipped_with_a_reason() -> None:
    table = _long_table(np.random.default_rng(41), 60, {})
    tables, skipped = invariance_results({"s": ("inst", ITEMS, table)}, programmes=["only"], waves=["w0", "w1"],
                                         baseline="w0", min_per_group=100)  # fmt: skip
    row = tables["summary"].set_index("comparison").loc["waves"]
    assert pd.isna(row["holds"]) and "not estimable: 0 wave(s)" in row["note"]
    assert tables["fit"].empty
    assert any(s["analysis"] == "invariance across waves" and "not estimable" in s["reason"] for s in skipped)
