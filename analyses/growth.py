"""Long-term effects: piecewise growth models per outcome, intervisie vs comparison.

Per outcome scale the model is

.. math::

    y_{tij} = \\beta_0 + \\text{programme} \\times (\\text{short} + \\text{long})
              + \\text{arm} \\times (\\text{short} + \\text{long}) + \\text{random effects} + e_{tij}

with ``short`` the share of the first three months elapsed and ``long`` the years after them
(:func:`analyses.data.piecewise_time`).  The coefficient of ``arm[intervisie]:short`` is the
short-term effect (difference in change from baseline to three months) and that of
``arm[intervisie]:long`` the difference in the yearly slope afterwards.  The random part is
tried from the most to the least complex structure (``params.yaml``); the one used, and why
the others were rejected, is written beside the estimates.  Programme moderation is tested
with a likelihood-ratio test of ``programme:arm:(short + long)``.  Comparison participants
belong to no intervisie group: each is its own group of one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyses.mixed import MixedModel, fit_with_fallback, likelihood_ratio_test

ARM_LEVELS = ["comparison", "intervisie"]


def growth_data(scores: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Return one scale's wave scores ready for the model (categorical arm and programme)."""
    part = scores[scores["scale"] == scale].copy()
    solo = part["group"].isna()
    part["group"] = part["group"].astype(object)
    part.loc[solo, "group"] = "solo-" + part.loc[solo, "participant"].astype(str)
    part["arm"] = pd.Categorical(part["arm"].astype(str), categories=ARM_LEVELS)
    part["programme"] = pd.Categorical(part["programme"].astype(str))
    part["participant"] = part["participant"].astype(str)
    return part.rename(columns={"score": "y"}).reset_index(drop=True)


def _wave_means(model: MixedModel, waves: dict[str, float], knot: float) -> pd.DataFrame:
    """Estimated means per arm at the waves (averaged over programmes with equal weights)."""
    points = {w: (min(m, knot) / knot, max(m - knot, 0.0) / 12.0) for w, m in waves.items()}
    shorts = sorted({p[0] for p in points.values()})
    longs = sorted({p[1] for p in points.values()})
    grid = model.emmeans(["arm", "short", "long"], at={"short": shorts, "long": longs})
    rows = []
    for wave, (short, long) in points.items():
        hit = grid[np.isclose(grid["short"], short) & np.isclose(grid["long"], long)]
        rows.append(hit.assign(wave=wave, months=waves[wave]))
    means = pd.concat(rows, ignore_index=True)
    return means[["wave", "months", "arm", "estimate", "std_error", "df", "ci95_low", "ci95_high"]]


def growth_results(
    scores: pd.DataFrame,
    *,
    scales: list[str],
    fixed: str,
    random: list[str],
    moderation: str,
    waves: dict[str, float],
    baseline: str,
    knot: float = 3.0,
) -> dict[str, pd.DataFrame]:
    """Fit the growth model of every scale: effects, wave means, fallback log, moderation tests, variances, fit.

    ``fixed`` is the fixed part with ``y`` as the response, ``random`` the random parts from the
    most to the least complex, ``moderation`` the terms added for the programme test.
    Standardised effects divide by the pooled SD of the baseline scores of the scale.
    """
    effects, means, logs, moderation_tests, variances, fits = [], [], [], [], [], []
    for scale in scales:
        data = growth_data(scores, scale)
        if data["participant"].nunique() < 10:
            continue
        formulas = [f"{fixed} + {r}" for r in random]
        model, log = fit_with_fallback(formulas, data, reml=True)
        logs.append(log.assign(outcome=scale))
        sd_base = float(data.loc[data["wave"] == baseline, "y"].std(ddof=1))
        table = model.fixed_.assign(
            outcome=scale,
            structure=model.formula,
            singular=model.singular_,
            n=data["participant"].nunique(),
            n_obs=len(data),
            sd_baseline=sd_base,
        )
        for column in ("estimate", "ci95_low", "ci95_high"):
            table[f"std_{column}"] = table[column] / sd_base
        effects.append(table)
        variances.append(model.random_.assign(outcome=scale, structure=model.formula))
        fits.append(
            pd.DataFrame(
                {
                    "outcome": [scale],
                    "structure": [model.formula],
                    "n_obs": [model.n_obs_],
                    **{f"n_{name.replace(':', '_in_')}": [n] for name, n in sorted(model.n_groups_.items())},
                    "loglik_reml": [model.loglik_],
                    "aic": [model.aic_],
                    "bic": [model.bic_],
                    "converged": [model.converged_],
                    "singular": [model.singular_],
                }
            )
        )
        means.append(_wave_means(model, waves, knot).assign(outcome=scale))
        restricted = MixedModel(model.formula, reml=False).fit(data)
        full_formula = model.formula.replace(fixed, f"{fixed} + {moderation}", 1)
        full = MixedModel(full_formula, reml=False).fit(data)
        moderation_tests.append(likelihood_ratio_test(restricted, full).assign(outcome=scale, terms=moderation))

    def stack(parts: list[pd.DataFrame], first: list[str]) -> pd.DataFrame:
        if not parts:
            return pd.DataFrame(columns=first)
        table = pd.concat(parts, ignore_index=True)
        return table[first + [c for c in table.columns if c not in first]]

    return {
        "effects": stack(
            effects, ["outcome", "term", "estimate", "std_error", "df", "p_val", "ci95_low", "ci95_high", "n"]
        ),
        "wave_means": stack(means, ["outcome", "wave"]),
        "structures": stack(logs, ["outcome"]),
        "moderation": stack(moderation_tests, ["outcome", "terms"]),
        "random_effects": stack(variances, ["outcome", "structure"]),
        "model_fit": stack(fits, ["outcome", "structure"]),
    }
