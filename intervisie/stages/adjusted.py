"""The baseline-adjusted short-term effect (part of ``intervisie analyze change``).

When people chose (or were chosen) to join intervisie, the arms differ before it starts, and a
plain difference in change is biased (regression to the mean, or a characteristic that shapes
both joining and the course of burnout).  For every outcome this writes, beside the unadjusted
tables of the change stage:

* ``adjusted.csv``: the doubly robust effect (propensity weights + weighted ANCOVA of the
  short-term score on arm, baseline score, programme and the declared covariates, with
  group-clustered SEs), its standardised size, the effective sample sizes, and E-values;
* ``balance.csv``: the arms' standardised mean differences before and after weighting;
* ``love_plot.png``: the same, as a figure.

The weights follow ``analyses.adjusted.estimand`` in params.yaml (overlap weights by default).
Which estimate leads the reports follows the design: the unadjusted one after randomisation,
the adjusted one otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from analyses.adjusted import adjusted_short_term
from analyses.data import change_table, covariate_frame
from analyses.figures import love_plot, save_png
from analyses.multiplicity import FAMILY_METHODS, p_adjust
from analyses.propensity import Covariate
from pipeline.covariates import empty_covariates
from pipeline.design import Design
from pipeline.errors import InputError

ADJUSTED_COLUMNS = [
    "outcome", "estimand", "n_a", "n_b", "clusters", "estimate", "se", "df", "p", "ci95_low", "ci95_high",
    "std_estimate", "std_ci95_low", "std_ci95_high", "ess_a", "ess_b", "max_abs_smd", "balance_ok", "evalue",
    "evalue_ci", "converged", "vcov", "primary_estimate", "family", "p_adj", "p_method", "reject", "note",
]  # fmt: skip
BALANCE_COLUMNS = [
    "outcome", "covariate", "smd_unweighted", "smd_weighted", "variance_ratio_unweighted",
    "variance_ratio_weighted", "imbalanced", "smallest_cell",
]  # fmt: skip


class AdjustedParams(BaseModel):
    """``analyses.adjusted`` in ``params.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: ato: overlap weights (Li, Morgan & Zaslavsky 2018); att: the effect among those who joined; ate
    estimand: Literal["ato", "att", "ate"] = "ato"
    #: |SMD| after weighting above this is reported as imbalance (Austin 2009)
    smd_threshold: float = Field(0.1, gt=0)


def design_covariates(design: Design) -> list[Covariate]:
    """The study's declared baseline covariates as the analyses take them."""
    return [Covariate(c.id, c.kind, tuple(c.levels)) for c in design.covariates]


def clean_covariates(clean_dir: Path) -> pd.DataFrame:
    """The clean covariates table (long), or its empty form when the clean data have none (scored data supplied)."""
    path = clean_dir / "covariates.parquet"
    if not path.exists():
        return empty_covariates()
    long = pd.read_parquet(path)
    missing = {"participant", "covariate", "value", "level"} - set(long.columns)
    if missing:
        raise InputError(f"{path} lacks column(s) {sorted(missing)}: it is not a clean covariates table "
                         "(see docs/canonical-form.md)")  # fmt: skip
    return long


def adjusted_tables(
    scores: pd.DataFrame, covariates: pd.DataFrame, design: Design, outcomes: list[str], options: AdjustedParams,
    *, alpha: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the adjusted effect (one row per outcome) and the balance table (rows per outcome and covariate).

    ``scores`` are the wave scores in long form (:func:`analyses.data.wave_scores`),
    ``covariates`` the clean covariates table (long).  ``primary_estimate`` says whether the
    row is the study's primary estimate of the short-term effect (not after randomisation);
    ``p_adj`` corrects its p-value for multiple testing as the growth effects are (Holm within
    the primary outcomes, Benjamini-Hochberg within the secondary ones; ``reject`` at ``alpha``).
    """
    covs = design_covariates(design)
    wide = covariate_frame(covariates, {c.name: c.kind for c in covs})
    rows, balance = [], []
    for outcome in outcomes:
        pairs = change_table(scores, scale=outcome, pre=design.baseline, post=design.short_term)
        if pairs.empty:
            continue
        pairs = pairs.assign(participant=pairs["participant"].astype(str))
        pairs = pairs.merge(wide, on="participant", how="left", validate="one_to_one")
        pairs["programme"] = pd.Categorical(pairs["programme"].astype(str), categories=design.programme_ids,
                                            ordered=True)  # fmt: skip
        row, table = adjusted_short_term(pairs, covs, estimand=options.estimand)
        rows.append({"outcome": outcome, **row, "vcov": "CR2", "primary_estimate": not design.randomised})
        if not table.empty:
            cells = [smallest_cell(pairs, str(name), covs) for name in table["covariate"]]
            balance.append(table.assign(outcome=outcome, smallest_cell=cells))
    result = pd.DataFrame(rows).reindex(columns=ADJUSTED_COLUMNS)
    if not rows:
        result = pd.DataFrame(columns=ADJUSTED_COLUMNS)
    result = _multiplicity(result, design, alpha)
    bal = pd.concat(balance, ignore_index=True).reindex(columns=BALANCE_COLUMNS) if balance else pd.DataFrame(
        columns=BALANCE_COLUMNS)  # fmt: skip
    if not bal.empty:
        bal["imbalanced"] = bal["smd_weighted"].abs() > options.smd_threshold
    return result, bal


def _multiplicity(result: pd.DataFrame, design: Design, alpha: float) -> pd.DataFrame:
    """Add ``family``, ``p_adj``, ``p_method`` and ``reject`` (the tests actually made form each family)."""
    result = result.astype({"family": object, "p_method": object, "reject": object})
    for family, outcomes in (("primary", design.primary), ("secondary", design.secondary)):
        rows = result["outcome"].isin(outcomes) & result["p"].notna()
        result.loc[result["outcome"].isin(outcomes), "family"] = family
        if rows.any():
            method = FAMILY_METHODS[family][1]
            adjusted = p_adjust(result.loc[rows, "p"].to_numpy(dtype=float), method=method)
            result.loc[rows, "p_adj"] = adjusted
            result.loc[rows, "p_method"] = method
            result.loc[rows, "reject"] = adjusted < alpha
    return result


def smallest_cell(pairs: pd.DataFrame, column: str, covariates: list[Covariate]) -> float:
    """The fewest people behind an indicator row of the balance table, NaN for a continuous row.

    The balance of a 0/1 column (a programme, a binary covariate, a level of a categorical one,
    a missing-value indicator) is a function of how many people in each arm have it: with the
    arms' sizes, its standardised difference and variance ratio can give those counts away.
    This returns the smallest of, per arm, those with and those without the level (and those
    with the value missing), so that the reports can hide rows about fewer than ``min_cell``.
    """
    kinds = {c.name: c.kind for c in covariates}
    if column == "pre" or kinds.get(column) == "numeric":
        return float("nan")
    if column.endswith(" (missing)"):
        name = column[: -len(" (missing)")]
        flags = [pairs[name].isna()]
    elif column.startswith("programme: ") and "programme" not in kinds:
        flags = [pairs["programme"].astype(str) == column[len("programme: "):]]
    elif kinds.get(column) == "binary":
        flags = [pairs[column] == 1, pairs[column].isna()]
    else:
        name, _, level = column.partition(": ")
        if name not in pairs:
            return float("nan")
        flags = [pairs[name].astype("string") == level, pairs[name].isna()]
    counts = []
    for flag in flags:
        flag = flag.fillna(False).astype(bool)
        for arm in ("intervisie", "comparison"):
            mine = (pairs["arm"] == arm).to_numpy()
            k = int(flag.to_numpy()[mine].sum())
            counts += [k, int(mine.sum()) - k]
    counts = [c for c in counts if c > 0]  # an empty cell names nobody (as a published count of 0)
    return float(min(counts)) if counts else float("nan")


def balance_label(column: str, design: Design) -> str:
    """A balance row's name for readers: the baseline score, a programme's or a covariate's name."""
    names = {c.id: c.label_en for c in design.covariates}
    if column == "pre":
        return "baseline score"
    if column.endswith(" (missing)"):
        name = column.removesuffix(" (missing)")
        return f"{names.get(name, name)} (missing)"
    name, sep, level = column.partition(": ")
    if name == "programme" and level in design.programme_ids:
        return next(p.label_en for p in design.programmes if p.id == level)
    return f"{names.get(name, name)}{sep}{level}"


def write_love_plot(balance: pd.DataFrame, design: Design, path: Path, threshold: float, min_cell: int) -> None:
    """Draw the balance of the first outcome that has a balance table (empty axes when none has).

    Rows about fewer than ``min_cell`` people in an arm cell (:func:`smallest_cell`) are left out.
    """
    part = balance.iloc[0:0]
    for outcome in design.outcomes():
        part = balance[balance["outcome"] == outcome]
        if not part.empty:
            break
    part = part[~(part["smallest_cell"].astype(float) < min_cell)]
    part = part.assign(covariate=[balance_label(str(c), design) for c in part["covariate"]])
    title = (f"Balance of the arms at baseline ({design.scales[part['outcome'].iloc[0]].name_en} sample)"
             if not part.empty else "No balance table: the study has no comparison cohort")  # fmt: skip
    save_png(love_plot(part, threshold=threshold, title=title), path)
