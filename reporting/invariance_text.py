"""The methods appendix's measurement-invariance section, and its cell source.

Reads ``results/invariance/`` (``intervisie analyze invariance``): one table per scale with, for
the comparison across programmes (at baseline) and across waves, the invariance level that holds
(configural, metric, scalar; Chen 2007 cut-offs), the changes in CFI and RMSEA and the items that
break the next level.  Fit indices of a CFA over a programme's (or a wave's) respondents are
statistics about those people, so every number goes through the document's
:class:`~reporting.publish.Publication`.  Every effect that compares waves or programmes on a scale
where scalar invariance fails is flagged in words.
"""

from __future__ import annotations

import pandas as pd

from pipeline.design import Design
from reporting import fmt
from reporting import populations as P
from reporting.catalogue import Part
from reporting.methods import frame, missing_stage
from reporting.publish import Publication, publication
from reporting.results import Results
from reporting.texts import outcome_name

LANG = "en"
COLUMNS = ("scale", "comparison", "groups", "k", "holds", "configural_cfi", "configural_rmsea", "delta_cfi_metric",
           "delta_rmsea_metric", "delta_cfi_scalar", "delta_rmsea_scalar", "broken_level", "broken_by")  # fmt: skip
LEVEL_WORDS = {"configural": "configural only", "metric": "metric (equal loadings)",
               "scalar": "scalar (equal loadings and intercepts)", "none": "not estimable (no convergence)"}  # fmt: skip


def populations(design: Design, comparison: str, groups: object) -> list[P.Population]:
    """The people each compared group's CFA is about: baseline respondents of a programme, or a wave's respondents."""
    if not isinstance(groups, str) or not groups:  # a comparison left out (one programme, too few people): no groups
        return []
    names = [g for g in str(groups).split(";") if g]
    if comparison == "programmes":
        return [P.answered(None, g, design.baseline) for g in names]
    return [P.answered(None, None, g) for g in names]


def source(res: Results, design: Design) -> Part:
    """The statistic cells of the invariance section (one per compared group and scale)."""
    part = Part()
    table = res.usable("invariance", "summary", COLUMNS)
    if table is None:
        return part
    for r in table.itertuples():
        for pop in populations(design, str(r.comparison), r.groups):
            part.statistic("inv", pop)
    return part


def _table(design: Design, pub: Publication, rows: pd.DataFrame, scale: str) -> str:
    def about(text: str, r: pd.Series) -> str:
        pops = populations(design, str(r["comparison"]), r["groups"])
        return pub.statistic(text, pops[0], *pops[1:]) if pops else text

    def num(column: str, digits: int = 3):
        return lambda r: about(fmt.num(r[column], digits, LANG), r)

    def broken(r: pd.Series) -> str:
        if pd.isna(r["broken_by"]) or not str(r["broken_by"]):
            return "–"
        return f"{', '.join(str(r['broken_by']).split(';'))} ({r['broken_level']})"

    columns = [("Across", lambda r: str(r["comparison"])), ("Level that holds", lambda r: LEVEL_WORDS.get(
        str(r["holds"]), "not estimable")), ("CFI configural", num("configural_cfi")),
        ("RMSEA configural", num("configural_rmsea")), ("ΔCFI metric", num("delta_cfi_metric")),
        ("ΔRMSEA metric", num("delta_rmsea_metric")), ("ΔCFI scalar", num("delta_cfi_scalar")),
        ("ΔRMSEA scalar", num("delta_rmsea_scalar")), ("Items that break the next level", broken)]  # fmt: skip
    return frame(rows, columns, caption=f"Measurement invariance of {outcome_name(design, scale, LANG)}: "
                 "one-factor CFA by ML; ΔCFI is the drop in CFI and ΔRMSEA the rise in RMSEA from the level below; "
                 "a level holds when both are at most .010 and .015 (Chen 2007).")  # fmt: skip


def flags(table: pd.DataFrame, design: Design) -> list[str]:
    """One sentence per scale and comparison where scalar invariance fails, naming the effects it concerns."""
    out = []
    for r in table.itertuples():
        if str(r.holds) == "scalar" or pd.isna(r.holds):
            continue
        name = outcome_name(design, str(r.scale), LANG)
        if r.comparison == "waves":
            what = ("change over the waves (short-term change, growth and long-term effects) on "
                    f"{name}: part of a difference between waves may be how the items are answered, not the trait")
        else:
            what = (f"programmes on {name} (programme differences and moderation by programme): part of a "
                    "difference between programmes may be how the items are answered, not the trait")
        out.append(f"Scalar invariance across {r.comparison} does not hold for {name}; read every effect that "
                   f"compares {what}.")  # fmt: skip
    return out


def invariance(res: Results, design: Design, pub: Publication | None = None) -> str:
    """The section: how invariance was tested, one table per scale, and the effects to read with care."""
    pub = publication(res, design, pub)
    table = res.usable("invariance", "summary", COLUMNS)
    if table is None:
        return missing_stage(res, "invariance", "The measurement-invariance analysis")
    intro = ("Each multi-item outcome scale was fitted as a one-factor model across the programmes (baseline "
             "answers, one group per programme) and over the waves (one longitudinal model of the people who "
             "answered every item at each compared wave: a factor per wave, the factors correlated and each item's "
             "residuals correlated over the waves; Widaman, Ferrer & Conger 2010). Items were treated as continuous "
             "and fitted by maximum likelihood, which performs about as well as categorical estimators with five or "
             "more answer categories (Rhemtulla, Brosseau-Liard & Savalei 2012). When a level fails, each item's "
             "constraint was released in turn to find the items that break it (partial invariance).\n")  # fmt: skip
    if table.empty:
        return intro + "\nNo scale could be tested (see the skipped analyses).\n"
    parts = [intro]
    for scale, rows in table.groupby("scale", sort=False):
        parts.append(_table(design, pub, rows.reset_index(drop=True), str(scale)))
    words = flags(table, design)
    parts.append("\n".join(f"- {w}" for w in words) if words else
                 "Scalar invariance holds for every tested scale and comparison.")  # fmt: skip
    return "\n\n".join(parts) + "\n"


HANDOUT_WORDS = {"scalar": ("gelijk", "same"), "metric": ("deels (ladingen gelijk)", "in part (equal loadings)"),
                 "configural": ("alleen de vorm", "form only")}  # fmt: skip


def holds_text(res: Results, design: Design, scale: str, lang: str, pub: Publication) -> str:
    """For the handout: does ``scale`` measure the same over the waves and between programmes (the level that holds)."""
    table = res.usable("invariance", "summary", COLUMNS)
    if table is None:
        return fmt.NONE
    parts = []
    for comparison, (nl, en) in (("waves", ("over de metingen", "over the waves")),
                                 ("programmes", ("tussen programma's", "between programmes"))):  # fmt: skip
        hit = table[(table["scale"] == scale) & (table["comparison"] == comparison)]
        if hit.empty or str(hit["holds"].iloc[0]) not in HANDOUT_WORDS:
            continue
        r = hit.iloc[0]
        word = HANDOUT_WORDS[str(r["holds"])][0 if lang == "nl" else 1]
        pops = populations(design, comparison, r["groups"])
        if not pops or not pub.shown(*pops):
            continue  # a comparison about groups the publication cannot show is left out, not crossed out
        parts.append(pub.statistic(f"{nl if lang == 'nl' else en}: {word}", pops[0], *pops[1:]))
    return "; ".join(parts) if parts else fmt.NONE
