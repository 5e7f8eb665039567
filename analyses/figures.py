"""Figures of finished results: trajectories with confidence bands, and forest plots.

They draw tables the analysis stages have already computed (estimated means, effects); no
statistic is computed here.  PNGs are written without a timestamp, so the same table gives
the same bytes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from pipeline.atomic import write_with

ARM_STYLE = {"intervisie": {"color": "#1b6ca8", "marker": "o"}, "comparison": {"color": "#b5651d", "marker": "s"}}


def trajectory_figure(means: pd.DataFrame, *, title: str, ylabel: str) -> Figure:
    """Draw estimated means per wave with 95% CIs, one line per arm.

    ``means`` has columns ``arm``, ``months``, ``estimate``, ``ci95_low``, ``ci95_high``.
    """
    fig = Figure(figsize=(6.0, 3.6), dpi=110)  # no pyplot: no global state, no screen needed
    ax = fig.subplots()
    for arm, part in means.sort_values("months").groupby("arm", sort=True):
        style = ARM_STYLE.get(str(arm), {"color": "grey", "marker": "^"})
        ax.plot(part["months"], part["estimate"], label=str(arm), **style)
        ax.fill_between(
            part["months"], part["ci95_low"], part["ci95_high"], color=style["color"], alpha=0.18, linewidth=0
        )
    ax.set_xlabel("months since baseline")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_xticks(sorted(means["months"].unique()))
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def forest_figure(effects: pd.DataFrame, *, title: str, xlabel: str) -> Figure:
    """Draw one estimate with its 95% CI per row (``label``, ``estimate``, ``ci95_low``, ``ci95_high``)."""
    rows = effects.reset_index(drop=True)
    fig = Figure(figsize=(6.0, 0.45 * len(rows) + 1.2), dpi=110)
    ax = fig.subplots()
    y = list(range(len(rows)))[::-1]
    estimate = rows["estimate"].to_numpy(dtype=float)
    ax.errorbar(
        estimate,
        y,
        xerr=[estimate - rows["ci95_low"].to_numpy(dtype=float), rows["ci95_high"].to_numpy(dtype=float) - estimate],
        fmt="o",
        color="#1b6ca8",
        capsize=3,
    )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, rows["label"])
    # long row labels leave the plot narrow: wrap title and axis label to the width that is left
    longest = max((len(str(label)) for label in rows["label"]), default=0)
    width = max(28, 60 - longest)
    ax.set_xlabel(textwrap.fill(xlabel, width))
    ax.set_title(textwrap.fill(title, width))
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def save_png(fig: Figure, path: Path) -> None:
    """Write a figure as PNG atomically, without metadata that changes between runs."""
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", metadata={"Software": None}))


def love_plot(balance: pd.DataFrame, *, threshold: float = 0.1, title: str = "Balance of the arms at baseline") -> Figure:
    """Draw the absolute standardised mean differences before and after weighting (a "love plot").

    ``balance`` has columns ``covariate``, ``smd_unweighted``, ``smd_weighted``; the dashed
    lines mark ``threshold`` (Austin 2009: |SMD| > 0.1 is imbalance).
    """
    rows = balance.reset_index(drop=True)
    fig = Figure(figsize=(6.0, 0.38 * len(rows) + 1.8), dpi=110)
    ax = fig.subplots()
    y = list(range(len(rows)))[::-1]
    ax.scatter(rows["smd_unweighted"].abs(), y, marker="o", facecolors="none", edgecolors="#b5651d", label="unweighted")
    ax.scatter(rows["smd_weighted"].abs(), y, marker="o", color="#1b6ca8", label="weighted")
    ax.axvline(threshold, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(y, [textwrap.shorten(str(c), 40) for c in rows["covariate"]])
    ax.set_xlabel("absolute standardised mean difference")
    ax.set_xlim(left=0)
    ax.set_title(textwrap.fill(title, 55))
    ax.set_ylim(-0.8, len(rows) - 0.2)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), frameon=False, loc="lower center", ncol=2)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
