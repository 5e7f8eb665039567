"""Cell source: change (within arms, between arms, reliable change) and the growth models' n.

Every per-programme table adds up to its ``all`` row; a programme the analysis wrote no row for
is still a population inside that total, so it enters the catalogue as a hidden cell (its size
taken from the total and the other rows: display control, not a statistic) and the suppression
protects it like any other.
"""

from __future__ import annotations

import pandas as pd

from pipeline.design import Design
from reporting import populations as P
from reporting.catalogue import Part
from reporting.results import Results


def source(res: Results, design: Design) -> Part:
    """The cells of ``change/*.csv`` and of the growth models' participants."""
    part = Part()
    within = res.usable("change", "within_change", ("outcome", "arm", "programme", "n"))
    if within is not None:
        _grouped(part, res, design, within.rename(columns={"outcome": "scale"}), "chg")
    between = res.usable("change", "between_arms", ("outcome", "programme", "level_a", "level_b", "n_a", "n_b"))
    if between is not None:
        long = pd.concat([between.rename(columns={"outcome": "scale", "level_a": "arm", "n_a": "n"}),
                          between.rename(columns={"outcome": "scale", "level_b": "arm", "n_b": "n"})])  # fmt: skip
        _grouped(part, res, design, long[["scale", "arm", "programme", "n"]], "chg")
    rc = res.usable("change", "reliable_change", ("scale", "arm", "programme", "category", "count", "n"))
    if rc is not None:
        _reliable(part, res, design, rc)
    _growth(part, res)
    return part


def _programmes(part: Part, table: pd.DataFrame, design: Design) -> list[str]:
    """Every programme: the design's and any other the table names (``all`` is the total, not a level)."""
    part.dim("programme", design.programme_ids)
    part.dim("programme", [p for p in table["programme"].astype(str).unique() if p != "all"])
    part.dim("arm", table["arm"].astype(str).unique())
    return part.dims["programme"]


def _absent(programmes: list[str], rows: pd.DataFrame) -> list[str]:
    """The programmes inside a table's ``all`` row that have no row of their own.

    A study of one programme has none: that programme is the ``all`` row itself (the same people),
    not a population hidden inside it.
    """
    if len(programmes) < 2:
        return []
    present = set(rows["programme"].astype(str))
    return [p for p in programmes if p not in present]


def _grouped(part: Part, res: Results, design: Design, table: pd.DataFrame, topic: str) -> None:
    """Counts (and statistics) of pairs per scale, arm and programme, with hidden cells for absent programmes."""
    programmes = _programmes(part, table, design)
    for (scale, arm), rows in table.groupby(["scale", "arm"], sort=True):
        scale, arm = str(scale), str(arm)
        part.dim(f"scale:{scale}", P.scale_levels(res, scale))
        for r in rows.itertuples():
            pop = P.changed(res, design, scale, arm, str(r.programme))
            part.count(topic, pop, r.n)
            part.statistic(topic, pop, r.n)
        total = rows.loc[rows["programme"] == "all", "n"]
        absent = _absent(programmes, rows)
        if absent and not total.empty and not pd.isna(total.iloc[0]):
            rest = total.iloc[0] - rows.loc[rows["programme"] != "all", "n"].sum()
            if rest > 0:
                for programme in absent:
                    part.count(topic, P.changed(res, design, scale, arm, programme), rest if len(absent) == 1 else None,
                               hidden=True)  # fmt: skip


def _reliable(part: Part, res: Results, design: Design, rc: pd.DataFrame) -> None:
    """Reliable-change counts and shares per category, with the pairs they are shares of."""
    programmes = _programmes(part, rc, design)
    for (scale, arm), rows in rc.groupby(["scale", "arm"], sort=True):
        scale, arm = str(scale), str(arm)
        part.dim(f"scale:{scale}", P.scale_levels(res, scale))
        for r in rows.itertuples():
            den = P.changed(res, design, scale, arm, str(r.programme))
            pop = P.changed(res, design, scale, arm, str(r.programme), str(r.category))
            part.count("rc", den, r.n)
            part.count("rc", pop, r.count)
            part.share("rc", pop, den, r.count, r.n, share=getattr(r, "share", None))
        absent = _absent(programmes, rows)
        for category, cells in rows.groupby("category"):
            total = cells.loc[cells["programme"] == "all", "count"]
            if not absent or total.empty:
                continue
            rest = total.iloc[0] - cells.loc[cells["programme"] != "all", "count"].sum()
            for programme in absent:
                if rest > 0:
                    part.count("rc", P.changed(res, design, scale, arm, programme, str(category)),
                               rest if len(absent) == 1 else None, hidden=True)  # fmt: skip


def _growth(part: Part, res: Results) -> None:
    """The participants of each outcome's growth model (effects and fit statistics are about them)."""
    effects = res.usable("growth", "effects", ("outcome", "term", "n"))
    seen: dict[str, float] = {}
    if effects is not None:
        for outcome, rows in effects.groupby("outcome", sort=True):
            n = rows["n"].dropna()
            if not n.empty:
                seen[str(outcome)] = float(n.iloc[0])
    fits = res.usable("growth", "model_fit", ("outcome", "n_participant"))
    if fits is not None:
        for r in fits.itertuples():
            seen.setdefault(str(r.outcome), r.n_participant)
    for outcome, n in seen.items():
        part.dim(f"model:{outcome}", ["0", "1"])
        part.count("model", P.model(outcome), n)
        part.statistic("model", P.model(outcome), n)
