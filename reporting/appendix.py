"""The later sections of the methods appendix: multiplicity, sensitivity, implementation, survival, power.

Each reads the tables of one stage (``results/<stage>/``) and prints them, named from the study's
design; a stage whose results are absent gives one sentence (with its reason) instead.  Counts
about fewer than ``min_cell`` people are hidden.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from pipeline.design import Design
from reporting import fmt
from reporting.methods import LANG, align_for, ci_cell, frame, missing_stage, n_cell, outcome_cell, p_cell, x_cell
from reporting.results import Results
from reporting.suppress import suppress
from reporting.texts import join_words, months, programme_name

_WHOLE = ("n", "events", "df", "rank", "n_groups", "m", "at_risk", "n_imputed", "n_participants")


def generic(table: pd.DataFrame, columns: Sequence[str], design: Design, *, caption: str | None = None,
            digits: int = 3) -> str:  # fmt: skip
    """Print the named columns as they are: whole numbers as counts, other numbers with ``digits`` decimals."""
    present = [c for c in columns if c in table.columns]
    body = []
    for _, r in table.iterrows():
        cells = []
        for c in present:
            value = r[c]
            if c in ("outcome", "scale"):
                cells.append(outcome_cell(design, c)(r))
            elif isinstance(value, bool) or pd.api.types.is_bool(value):
                cells.append("yes" if value else "no")
            elif isinstance(value, int | float) and not pd.isna(value):
                whole = float(value).is_integer() and c in _WHOLE
                cells.append(fmt.count(value) if whole else fmt.num(value, digits, LANG))
            elif pd.isna(value) and bool(r.get("suppressed", False)):
                cells.append(fmt.HIDDEN)
            else:
                cells.append(fmt.NONE if pd.isna(value) else str(value))
        body.append(cells)
    headers = [c.replace("_", " ") for c in present]
    return fmt.table(headers, body, align=align_for(body, len(present)), caption=caption)


def figure(path: Path | None, caption: str) -> str:
    """A figure of a stage's ``figures/`` (markdown image), or nothing when it does not exist."""
    return f"![{caption}]({path.as_posix()})\n" if path is not None else ""


def multiplicity(res: Results, design: Design) -> str:
    """Holm (primary) and Benjamini-Hochberg (secondary) adjusted p-values of the effect terms."""
    table = res.usable("sensitivity", "multiplicity", ("outcome", "family", "term", "p_adj", "reject"))
    if table is None:
        return missing_stage(res, "sensitivity", "The multiplicity correction")
    return frame(
        table,
        [("Outcome", outcome_cell(design)), ("Family", lambda r: str(r["family"])), ("Term", lambda r: f"`{r['term']}`"),
         ("Estimate", x_cell("estimate", 3)), ("95% CI", ci_cell("ci_low", "ci_high", 3)), ("p", p_cell()), ("p adj.", p_cell("p_adj")),
         ("Method", lambda r: str(r["method"])), ("Holds", lambda r: "yes" if bool(r["reject"]) else "no")],
        caption="Multiplicity: adjusted p-values per family of outcomes; 'holds' = significant after adjustment.",
    )  # fmt: skip


def sensitivity(res: Results, design: Design) -> str:
    """Complete-case vs available-case models, the careless-responding screen and the tipping point."""
    parts = []
    cva = res.usable("sensitivity", "complete_vs_available", ("outcome", "term", "analysis", "estimate"))
    if cva is None:
        parts.append(missing_stage(res, "sensitivity", "The complete-case comparison"))
    else:
        parts.append(frame(
            cva,
            [("Outcome", outcome_cell(design)), ("Term", lambda r: f"`{r['term']}`"), ("Analysis", lambda r: str(r["analysis"])),
             ("Estimate", x_cell("estimate", 3)), ("95% CI", ci_cell("ci_low", "ci_high", 3)), ("p", p_cell()),
             ("Participants", n_cell("n_participants"))],
            caption="Complete cases (all waves answered) vs all available measurements.",
        ))  # fmt: skip
    careless = res.usable("careless", "comparison", ("outcome", "term", "estimate_all", "estimate_screened"))
    if careless is not None:
        parts.append(frame(
            careless,
            [("Outcome", outcome_cell(design)), ("Term", lambda r: f"`{r['term']}`"), ("All: estimate", x_cell("estimate_all", 3)),
             ("95% CI", ci_cell("ci95_low_all", "ci95_high_all", 3)), ("Screened: estimate", x_cell("estimate_screened", 3)),
             ("95% CI ", ci_cell("ci95_low_screened", "ci95_high_screened", 3)), ("Responses dropped", n_cell("n_dropped"))],
            caption="The growth models without the responses flagged as careless (screened), beside the models on all "
            "responses.",
        ))  # fmt: skip
    summary = res.usable("sensitivity", "tipping_summary", ("outcome",))
    if summary is not None:
        columns = ["outcome", "wave", "estimate_mar", "ci_low_mar", "ci_high_mar", "tipping_delta_sd",
                   "conclusion_robust", "conclusion", "n_imputed", "m"]  # fmt: skip
        shifted = "imputed intervisie scores" if design.has_comparison else "imputed scores"
        parts.append(generic(summary, columns, design,
                             caption=f"Tipping point: the shift of {shifted} (SD units, the unfavourable way) at which "
                             "the conclusion changes."))  # fmt: skip
    return "\n".join(p for p in parts if p)


def implementation(res: Results, design: Design) -> str:
    """Aggregation checks of the group-level ratings and the ranked implementation factors."""
    aggregation = res.usable("implementation", "aggregation", ("construct",))
    ranked = res.usable("implementation", "factors_ranked", ("outcome", "factor", "level", "rank"))
    if aggregation is None and ranked is None:
        return missing_stage(res, "implementation", "The analysis of implementation factors")
    parts = []
    if aggregation is not None:
        parts.append(generic(aggregation, ["construct", "n_groups", "mean_group_size", "icc1", "icc2", "rwg_j_median",
                                           "justified"], design,
                             caption="Can member ratings be aggregated to the group? ICC(1), ICC(2) and median rwg(j) "
                             "(Bliese 2000; LeBreton & Senter 2008)."))  # fmt: skip
    if ranked is None:
        parts.append(missing_stage(res, "implementation", "The ranking of implementation factors"))
        return "\n".join(p for p in parts if p)
    ranked = ranked.assign(order=ranked["outcome"].map({o: i for i, o in enumerate(design.outcomes())}).fillna(99))
    parts.append(frame(
        ranked.sort_values(["order", "rank"]),
        [("#", lambda r: fmt.count(r["rank"])), ("Outcome", outcome_cell(design)),
         ("Factor", lambda r: f"{r['factor']} ({r['level']})"), ("Effect", x_cell("effect", 3)),
         ("95% CI", ci_cell("ci_low", "ci_high", 3)), ("p", p_cell()), ("Direction", lambda r: str(r["direction"]))],
        caption="Implementation factors ranked by the evidence (within- and between-group parts of each factor).",
    ))  # fmt: skip
    for scale in design.outcomes():
        parts.append(figure(res.figure("implementation", f"forest_{scale}"),
                            f"Implementation factors, {design.scales[scale].name_en if scale in design.scales else scale}, "
                            f"first {months(design.knot_months, LANG)}"))  # fmt: skip
    return "\n".join(p for p in parts if p)


def _km_months(columns: Sequence[str]) -> list[str]:
    """The months at which ``km_summary.csv`` gives survival (its ``survival_<m>m`` columns), in order."""
    found = [m.group(1) for c in columns if (m := re.fullmatch(r"survival_([0-9.]+)m", c))]
    return sorted(found, key=float)


def _stratum(design: Design, row: pd.Series) -> str:
    """A Kaplan-Meier stratum in words: a programme by its name, other strata as written."""
    stratum = str(row["stratum"])
    return programme_name(design, stratum, LANG) if row["curve"] == "programme" else stratum


def _survival_cell(column: str):
    def cell(r: pd.Series) -> str:
        hidden = bool(r.get("suppressed", False)) and pd.isna(r[column])
        if hidden:
            return fmt.HIDDEN
        return f"{fmt.num(r[column], 2, LANG)} {fmt.ci(r[f'{column}_ci_low'], r[f'{column}_ci_high'], 2, LANG)}"

    return cell


def survival(res: Results, design: Design) -> str:
    """Kaplan-Meier summaries, the Cox model of leaving, its PH test, and time to burnout caseness."""
    km = res.usable("survival", "km_summary", ("curve", "stratum", "n", "events"))
    if km is None:
        return missing_stage(res, "survival", "The analysis of leaving intervisie")
    values = [c for c in km.columns if c not in ("curve", "stratum", "n", "note")]
    shown = suppress(km, count="events", values=values, base="n", min_cell=res.min_cell)
    at = _km_months(km.columns)
    when = join_words([f"{m} months" for m in at], LANG) if at else "each follow-up time"
    columns = [("Curve", lambda r: str(r["curve"])), ("Stratum", lambda r: _stratum(design, r)), ("n", n_cell("n")),
               ("Events", n_cell("events"))]  # fmt: skip
    for m in at:
        columns.append((f"{m} months [95% CI]", _survival_cell(f"survival_{m}m")))
    parts = [frame(shown, columns, caption=f"Staying in intervisie (Kaplan-Meier): share still taking part at {when}.")]
    cox = res.usable("survival", "cox", ("model", "term", "hr"))
    if cox is not None:
        parts.append(frame(
            cox,
            [("Model", lambda r: str(r["model"])), ("Term", lambda r: f"`{r['term']}`"), ("HR", x_cell("hr")),
             ("95% CI", ci_cell("ci_low", "ci_high")), ("Robust SE", x_cell("se_robust", 3)), ("p", p_cell()), ("n", n_cell("n")),
             ("Events", n_cell("events")), ("Primary", lambda r: "yes" if bool(r["primary"]) else "no")],
            caption="Cox model of leaving intervisie (hazard ratios, SEs clustered on the group).",
        ))  # fmt: skip
    ph = res.usable("survival", "ph_test")
    if ph is not None:
        parts.append(generic(ph, list(ph.columns), design, caption="Proportional-hazards test (scaled Schoenfeld residuals)."))
    caseness = res.usable("survival", "caseness")
    if caseness is not None:
        parts.append(generic(caseness, [c for c in caseness.columns if c != "note"], design,
                             caption="Time to caseness (interval-censored Weibull models)."))  # fmt: skip
    for name in ("km_programme", "km_format"):
        parts.append(figure(res.figure("survival", name), f"Kaplan-Meier curves ({name.removeprefix('km_')})"))
    return "\n".join(p for p in parts if p)


def power(res: Results, design: Design) -> str:
    """Variance components and the sample sizes they imply (short term, and long term when a later wave exists)."""
    components = res.usable("power", "components", ("outcome", "horizon"))
    sizes = res.usable("power", "sample_size", ("outcome", "horizon", "basis"))
    if components is None or sizes is None:
        return missing_stage(res, "power", "The sample-size calculation")
    horizons = ["short", "long"] if design.long_term else ["short"]
    components = components[components["horizon"].isin(horizons)]
    parts = [generic(components, ["outcome", "horizon", "wave", "sd_change", "d_observed", "icc_change", "cluster_size",
                                  "retention_treated", "retention_comparison"], design,
                     caption="The study's own variance estimates: SD of change, ICC of change within groups, "
                     "group size and retention.")]  # fmt: skip
    primary = sizes[sizes["outcome"].isin(design.primary) & sizes["horizon"].isin(horizons)]
    parts.append(generic(primary, ["outcome", "horizon", "wave", "basis", "effect_d", "design_effect", "n_analysed",
                                   "n_enrol", "groups_needed"], design,
                         caption="Participants per arm needed (two-sided alpha and power of params.yaml), primary outcomes.",
                         digits=2))  # fmt: skip
    return "\n".join(p for p in parts if p)


def data_docs(site: str) -> str:
    """A link to the Great Expectations Data Docs when the quality gate has written them."""
    index = Path(site) / "data-docs" / "index.html"
    if index.is_file():
        return ("Every clean table was also checked by the Great Expectations suites; the "
                "[Data Docs](data-docs/index.html) show each expectation and its result.\n")  # fmt: skip
    return "*The Great Expectations Data Docs have not been built in this run.*\n"
