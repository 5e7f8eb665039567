r"""What the simulated studies of a plan say: power, bias and coverage per design, with Monte Carlo error.

For each grid cell and effect term, over the :math:`R` simulated studies of the cell:

* power :math:`\hat p = k / R`, the share of studies whose test rejects at ``alpha`` (a study
  whose fit failed counts as not finding the effect), with its Monte Carlo SE
  :math:`\sqrt{\hat p (1 - \hat p) / R}` and the Wilson score interval (:func:`wilson`);
* bias, the mean of estimate minus truth over the fitted studies, with its Monte Carlo SE
  :math:`s / \sqrt{R_{fit}}`; the mean model SE beside the empirical SE (SD of the estimates);
* coverage, the share of fitted studies whose 95% CI holds the truth, with MC SE and Wilson interval;
* the share of studies whose maximal random structure was singular (the fit fell back) and of failed fits.

The short-term effect also gets the closed-form power (:func:`closed_form_power`), the answer
of the power stage for the same design, so both can be read side by side.

Reference: Morris TP, White IR, Crowther MJ (2019). Using simulation studies to evaluate
statistical methods. Stat Med 38(11):2074-2102 (performance measures and their MC SEs).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats

from analyses.plan import CellSpec

SUMMARY_COLUMNS = [
    "cell", "groups_per_arm", "group_size", "effect_short", "effect_long", "term", "truth", "n_studies",
    "n_fitted", "share_failed", "power", "power_mcse", "power_low", "power_high", "power_closed_form", "bias",
    "bias_mcse", "mean_se", "empirical_se", "coverage", "coverage_mcse", "coverage_low", "coverage_high",
    "share_singular", "mean_participants",
]  # fmt: skip


def wilson(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    r"""Wilson score interval of a proportion.

    .. math:: \frac{\hat p + z^2/2n \pm z\sqrt{\hat p(1-\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    with :math:`z` the :math:`1 - (1 - level)/2` normal quantile (Wilson 1927; Brown, Cai &
    DasGupta 2001). R: ``prop.test(k, n, correct = FALSE)$conf.int``. NaNs when ``n`` is 0.
    """
    if n <= 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes <= 0 else max(centre - half, 0.0)
    high = 1.0 if successes >= n else min(centre + half, 1.0)
    return low, high


def closed_form_power(spec: CellSpec) -> float:
    r"""The power stage's closed-form power of the short-term effect for this cell's design.

    With a comparison arm: a two-sided t test of the difference in change (Cohen 1988) whose
    variance carries the partially nested design effect (Moerbeek & Wong 2008),

    .. math:: \lambda = d \Big/ \sqrt{DE/n_t + 1/n_c}, \qquad DE = 1 + (m r - 1)\rho_\Delta,

    power :math:`= P(|T| > t_{1-\alpha/2,\,n_t+n_c-2})` with :math:`T \sim t'(n_t + n_c - 2, \lambda)`;
    :math:`n_t = G m r` intervisie and :math:`n_c` comparison participants with both waves
    (:math:`r` the retention at the short-term wave, :math:`m` the mean group size). With equal
    arms this is the inverse of :func:`analyses.power.sample_size`. Without a comparison arm:
    the paired t test of the change, :math:`\lambda = d\sqrt{n_t / DE}`, df :math:`n_t - 1`
    (:func:`analyses.power.sample_size_within`). The retention is the expected one,
    :math:`1 - p_1`; with a link to burnout the realised retention differs a little.
    """
    retention = 1 - (spec.attrition[0] if spec.attrition else 0.0)
    m = spec.group_size * retention
    n_t = spec.groups_per_arm * m
    de = 1 + max(m - 1, 0.0) * spec.icc_change
    d = abs(spec.effect_short)
    if spec.comparison > 0:
        n_c = spec.comparison * spec.groups_per_arm * spec.group_size * retention
        df = n_t + n_c - 2
        ncp = d / math.sqrt(de / n_t + 1 / n_c)
    else:
        df = n_t - 1
        ncp = d * math.sqrt(n_t / de)
    crit = float(stats.t.ppf(1 - spec.alpha / 2, df))
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def summarise(tasks: pd.DataFrame, specs: dict[str, CellSpec]) -> pd.DataFrame:
    """One row per grid cell and effect term (:data:`SUMMARY_COLUMNS`); see the module docstring."""
    rows = []
    for (cell, term), part in tasks.groupby(["cell", "term"], sort=False):
        spec = specs[str(cell)]
        fitted = part[part["status"] == "ok"]
        n, n_fit = len(part), len(fitted)
        hits = int(fitted["reject"].fillna(False).astype(bool).sum())
        covered = int(fitted["covered"].fillna(False).astype(bool).sum())
        power = hits / n if n else math.nan
        coverage = covered / n_fit if n_fit else math.nan
        error = fitted["estimate"].to_numpy(float) - fitted["truth"].to_numpy(float)
        p_low, p_high = wilson(hits, n)
        c_low, c_high = wilson(covered, n_fit)
        rows.append(
            {
                "cell": cell,
                "groups_per_arm": spec.groups_per_arm,
                "group_size": spec.group_size,
                "effect_short": spec.effect_short,
                "effect_long": spec.effect_long,
                "term": term,
                "truth": float(part["truth"].iloc[0]),
                "n_studies": n,
                "n_fitted": n_fit,
                "share_failed": 1 - n_fit / n if n else math.nan,
                "power": power,
                "power_mcse": math.sqrt(power * (1 - power) / n) if n else math.nan,
                "power_low": p_low,
                "power_high": p_high,
                "power_closed_form": closed_form_power(spec) if term.startswith("short") else math.nan,
                "bias": float(error.mean()) if n_fit else math.nan,
                "bias_mcse": float(error.std(ddof=1) / math.sqrt(n_fit)) if n_fit > 1 else math.nan,
                "mean_se": float(fitted["std_error"].mean()) if n_fit else math.nan,
                "empirical_se": float(fitted["estimate"].std(ddof=1)) if n_fit > 1 else math.nan,
                "coverage": coverage,
                "coverage_mcse": math.sqrt(coverage * (1 - coverage) / n_fit) if n_fit else math.nan,
                "coverage_low": c_low,
                "coverage_high": c_high,
                "share_singular": float(fitted["singular"].mean()) if n_fit else math.nan,
                "mean_participants": float(part.drop_duplicates("replicate")["n_participants"].mean()),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def times_in_ten(power: float) -> str:
    """Power as a reader counts it: ``8 times in 10``."""
    k = round(power * 10)
    return f"{k} time{'' if k == 1 else 's'} in 10"


def design_words(groups: int, size: int, comparison: float) -> str:
    """``12 groups of 8 per arm`` (balanced arms), ``12 groups of 8 and 40 comparison participants``, ``12 groups of 8``."""
    if comparison == 1:
        return f"{groups} groups of {size} per arm"
    if comparison > 0:
        return f"{groups} groups of {size} and {round(comparison * groups * size)} comparison participants"
    return f"{groups} groups of {size}"


def handout_rows(summary: pd.DataFrame, *, target: float, comparison: float) -> pd.DataFrame:
    """For each short-term effect above 0: the smallest simulated design reaching ``target`` power, in a sentence.

    ``comparison`` is the number of comparison participants per intervisie participant (0: none).
    Smallest means the fewest intervisie participants (groups x members), then the fewest groups.
    When no design reaches the target, the row names the largest one (``reached`` False).
    Columns: ``effect_short, groups_per_arm, group_size, power, power_low, power_high,
    power_closed_form, n_comparison`` (comparison participants of the design), ``studies`` (simulated
    per cell), ``target_power, reached, sentence``.
    """
    short = summary[summary["term"].str.startswith("short") & (summary["effect_short"] > 0)]
    short = short[short["effect_long"] == short["effect_long"].min()] if len(short) else short
    rows = []
    for effect, part in short.groupby("effect_short", sort=True):
        part = part.assign(size=part["groups_per_arm"] * part["group_size"])
        enough = part[part["power"] >= target].sort_values(["size", "groups_per_arm"], kind="stable")
        largest = part.sort_values(["size", "groups_per_arm"], kind="stable").iloc[-1]
        best = enough.iloc[0] if len(enough) else largest
        design = design_words(int(best["groups_per_arm"]), int(best["group_size"]), comparison)
        found = times_in_ten(float(best["power"]))
        if len(enough):
            sentence = f"With {design}, a short-term effect of {effect:g} SD of change is found {found}."
        else:
            sentence = (
                f"None of the designs simulated finds a short-term effect of {effect:g} SD of change "
                f"{times_in_ten(target)}; the largest, {design}, finds it {found}."
            )
        rows.append(
            {
                "effect_short": float(effect),
                "groups_per_arm": int(best["groups_per_arm"]),
                "group_size": int(best["group_size"]),
                "power": float(best["power"]),
                "power_low": float(best["power_low"]),
                "power_high": float(best["power_high"]),
                "power_closed_form": float(best["power_closed_form"]),
                "n_comparison": round(comparison * int(best["groups_per_arm"]) * int(best["group_size"])),
                "studies": int(best["n_studies"]),
                "target_power": target,
                "reached": bool(len(enough)),
                "sentence": sentence,
            }
        )
    columns = ["effect_short", "groups_per_arm", "group_size", "power", "power_low", "power_high",
               "power_closed_form", "n_comparison", "studies", "target_power", "reached", "sentence"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def power_curve_figure(summary: pd.DataFrame, *, target: float) -> Figure:
    """Power of the short-term effect against groups per arm: a line per group size, a panel per effect.

    Error bars are the Wilson 95% intervals; the dashed line is the target power, the dotted
    line the closed-form power of the same design.
    """
    short = summary[summary["term"].str.startswith("short")]
    short = short[short["effect_long"] == short["effect_long"].min()]
    effects = sorted(short["effect_short"].unique())
    fig = Figure(figsize=(3.2 * len(effects) + 0.8, 3.4), dpi=110)  # no pyplot: no global state
    axes = fig.subplots(1, len(effects), sharey=True, squeeze=False)
    for ax, effect in zip(axes[0], effects, strict=True):
        part = short[short["effect_short"] == effect]
        for size, line in part.groupby("group_size", sort=True):
            line = line.sort_values("groups_per_arm")
            x = line["groups_per_arm"].to_numpy(float)
            y = line["power"].to_numpy(float)
            err = np.vstack([y - line["power_low"].to_numpy(float), line["power_high"].to_numpy(float) - y])
            err = np.clip(err, 0.0, None)  # rounding at a power of 0 or 1
            shown = ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"groups of {size}")
            ax.plot(x, line["power_closed_form"].to_numpy(float), ":", color=shown[0].get_color())
        ax.axhline(target, linestyle="--", color="grey", linewidth=1)
        ax.set_title(f"effect {effect:g} SD of change")
        ax.set_xlabel("intervisie groups per arm")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("power (share of studies finding the effect)")
    handles, _labels = axes[0][-1].get_legend_handles_labels()
    handles += [Line2D([], [], linestyle=":", color="black", label="closed form"),
                Line2D([], [], linestyle="--", color="grey", label=f"target {target:g}")]  # fmt: skip
    axes[0][-1].legend(handles=handles, fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig
