"""The later sections of the methods appendix: multiplicity, sensitivity, implementation, survival, power.

Each reads the tables of one stage (``results/<stage>/``) and prints them; a stage that has not
run yet gives one sentence instead.  Counts about fewer than ``min_cell`` people are hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from reporting import fmt
from reporting.methods import LANG, align_for, ci_cell, frame, missing_stage, n_cell, outcome_cell, p_cell, x_cell
from reporting.results import Results
from reporting.suppress import suppress


def generic(table: pd.DataFrame, columns: Sequence[str], *, caption: str | None = None, digits: int = 3) -> str:
    """Print the named columns as they are: whole numbers as counts, other numbers with ``digits`` decimals."""
    present = [c for c in columns if c in table.columns]
    body = []
    for _, r in table.iterrows():
        cells = []
        for c in present:
            value = r[c]
            if c in ("outcome", "scale"):
                cells.append(outcome_cell(c)(r))
            elif isinstance(value, bool) or pd.api.types.is_bool(value):
                cells.append("yes" if value else "no")
            elif isinstance(value, int | float) and not pd.isna(value):
                whole = float(value).is_integer() and c in ("n", "events", "df", "rank", "n_groups", "m", "at_risk")
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


def multiplicity(res: Results) -> str:
    """Holm (primary) and Benjamini-Hochberg (secondary) adjusted p-values of the effect terms."""
    table = res.optional("sensitivity", "multiplicity")
    if table is None:
        return missing_stage("sensitivity")
    return frame(
        table,
        [("Outcome", outcome_cell()), ("Family", lambda r: str(r["family"])), ("Term", lambda r: f"`{r['term']}`"),
         ("Estimate", x_cell("estimate", 3)), ("95% CI", ci_cell("ci_low", "ci_high", 3)), ("p", p_cell()), ("p adj.", p_cell("p_adj")),
         ("Method", lambda r: str(r["method"])), ("Holds", lambda r: "yes" if bool(r["reject"]) else "no")],
        caption="Multiplicity: adjusted p-values per family of outcomes; 'holds' = significant after adjustment.",
    )  # fmt: skip


def sensitivity(res: Results) -> str:
    """Complete-case vs available-case models and the tipping point of dropout not at random."""
    parts = []
    cva = res.optional("sensitivity", "complete_vs_available")
    if cva is None:
        return missing_stage("sensitivity")
    parts.append(frame(
        cva,
        [("Outcome", outcome_cell()), ("Term", lambda r: f"`{r['term']}`"), ("Analysis", lambda r: str(r["analysis"])),
         ("Estimate", x_cell("estimate", 3)), ("95% CI", ci_cell("ci_low", "ci_high", 3)), ("p", p_cell()),
         ("Participants", n_cell("n_participants"))],
        caption="Complete cases (all waves answered) vs all available measurements.",
    ))  # fmt: skip
    careless = res.optional("careless", "comparison")
    if careless is not None:
        parts.append(frame(
            careless,
            [("Outcome", outcome_cell()), ("Term", lambda r: f"`{r['term']}`"), ("All: estimate", x_cell("estimate_all", 3)),
             ("95% CI", ci_cell("ci95_low_all", "ci95_high_all", 3)), ("Screened: estimate", x_cell("estimate_screened", 3)),
             ("95% CI ", ci_cell("ci95_low_screened", "ci95_high_screened", 3)), ("Responses dropped", n_cell("n_dropped"))],
            caption="The growth models without the responses flagged as careless (screened), beside the models on all "
            "responses.",
        ))  # fmt: skip
    summary = res.optional("sensitivity", "tipping_summary")
    if summary is not None:
        columns = ["outcome", "wave", "estimate_mar", "ci_low_mar", "ci_high_mar", "tipping_delta_sd",
                   "conclusion_robust", "conclusion", "n_imputed", "m"]  # fmt: skip
        parts.append(generic(summary, columns,
                             caption="Tipping point: the shift of imputed intervisie scores (SD units, the "
                             "unfavourable way) at which the conclusion changes."))  # fmt: skip
    return "\n".join(parts)


def implementation(res: Results) -> str:
    """Aggregation checks of the group-level ratings and the ranked implementation factors."""
    aggregation = res.optional("implementation", "aggregation")
    ranked = res.optional("implementation", "factors_ranked")
    if aggregation is None or ranked is None:
        return missing_stage("implementation")
    parts = [generic(aggregation, ["construct", "n_groups", "mean_group_size", "icc1", "icc2", "rwg_j_median",
                                   "justified"],
                     caption="Can member ratings be aggregated to the group? ICC(1), ICC(2) and median rwg(j) "
                     "(Bliese 2000; LeBreton & Senter 2008).")]  # fmt: skip
    ranked = ranked.assign(order=ranked["outcome"].map({o: i for i, o in enumerate(ranked["outcome"].unique())}))
    parts.append(frame(
        ranked.sort_values(["order", "rank"]),
        [("#", lambda r: fmt.count(r["rank"])), ("Outcome", outcome_cell()), ("Factor", lambda r: f"{r['factor']} ({r['level']})"),
         ("Effect", x_cell("effect", 3)), ("95% CI", ci_cell("ci_low", "ci_high", 3)), ("p", p_cell()),
         ("Direction", lambda r: str(r["direction"]))],
        caption="Implementation factors ranked by the evidence (within- and between-group parts of each factor).",
    ))  # fmt: skip
    for scale in ("brs", "cbi_work"):
        parts.append(figure(res.figure("implementation", f"forest_{scale}"), f"Implementation factors, {scale}"))
    return "\n".join(parts)


def survival(res: Results) -> str:
    """Kaplan-Meier summaries, the Cox model of leaving, its PH test, and time to burnout caseness."""
    km = res.optional("survival", "km_summary")
    if km is None:
        return missing_stage("survival")
    values = [c for c in km.columns if c not in ("curve", "stratum", "n", "note")]
    shown = suppress(km, count="events", values=values, base="n", min_cell=res.min_cell)
    parts = [generic(shown, ["curve", "stratum", "n", "events", "survival_12m", "survival_12m_ci_low",
                             "survival_12m_ci_high", "survival_24m", "survival_24m_ci_low", "survival_24m_ci_high"],
                     caption="Staying in intervisie (Kaplan-Meier): share still taking part at 12 and 24 months.")]  # fmt: skip
    cox = res.optional("survival", "cox")
    if cox is not None:
        parts.append(frame(
            cox,
            [("Model", lambda r: str(r["model"])), ("Term", lambda r: f"`{r['term']}`"), ("HR", x_cell("hr")),
             ("95% CI", ci_cell("ci_low", "ci_high")), ("Robust SE", x_cell("se_robust", 3)), ("p", p_cell()), ("n", n_cell("n")),
             ("Events", n_cell("events")), ("Primary", lambda r: "yes" if bool(r["primary"]) else "no")],
            caption="Cox model of leaving intervisie (hazard ratios, SEs clustered on the group).",
        ))  # fmt: skip
    ph = res.optional("survival", "ph_test")
    if ph is not None:
        parts.append(generic(ph, list(ph.columns), caption="Proportional-hazards test (scaled Schoenfeld residuals)."))
    caseness = res.optional("survival", "caseness")
    if caseness is not None:
        parts.append(generic(caseness, [c for c in caseness.columns if c != "note"],
                             caption="Time to burnout caseness (interval-censored Weibull models)."))  # fmt: skip
    for name in ("km_programme", "km_format"):
        parts.append(figure(res.figure("survival", name), f"Kaplan-Meier curves ({name.removeprefix('km_')})"))
    return "\n".join(parts)


def power(res: Results, outcomes: list[str]) -> str:
    """Variance components and the sample sizes they imply."""
    components = res.optional("power", "components")
    sizes = res.optional("power", "sample_size")
    if components is None or sizes is None:
        return missing_stage("power")
    parts = [generic(components, ["outcome", "horizon", "wave", "sd_change", "d_observed", "icc_change", "cluster_size",
                                  "retention_treated", "retention_comparison"],
                     caption="The study's own variance estimates: SD of change, ICC of change within groups, "
                     "group size and retention.")]  # fmt: skip
    primary = sizes[sizes["outcome"].isin(outcomes[:2])]
    parts.append(generic(primary, ["outcome", "horizon", "basis", "effect_d", "design_effect", "n_analysed", "n_enrol",
                                   "groups_needed"],
                         caption="Participants per arm needed (two-sided alpha and power of params.yaml), primary outcomes.",
                         digits=2))  # fmt: skip
    return "\n".join(parts)


def data_docs(site: str) -> str:
    """A link to the Great Expectations Data Docs when the quality gate has written them."""
    index = Path(site) / "data-docs" / "index.html"
    if index.is_file():
        return ("Every clean table was also checked by the Great Expectations suites; the "
                "[Data Docs](data-docs/index.html) show each expectation and its result.\n")  # fmt: skip
    return "*The Great Expectations Data Docs have not been built in this run.*\n"
