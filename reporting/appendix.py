"""The later sections of the methods appendix: multiplicity, sensitivity, implementation, survival, power.

Each reads the tables of one stage (``results/<stage>/``) and prints them, named from the study's
design; a stage whose results are absent gives one sentence (with its reason) instead.  Every
number about people goes through the disclosure layer (:class:`reporting.publish.Publication`,
populations from :mod:`reporting.cells_survival`): a Pandoc span, ``×`` when hidden.  A
degenerate estimate is printed as "not estimable" with its reason (:mod:`reporting.estimable`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from pipeline.design import Design
from reporting import cells_survival as C
from reporting import fmt
from reporting import populations as P
from reporting.estimable import linear_reason, not_estimable, ratio_reason
from reporting.methods import LANG, missing_stage, outcome_cell, p_cell
from reporting.publish import Publication, publication
from reporting.results import Results
from reporting.suppress import Margin, suppress
from reporting.texts import join_words, months, programme_name

Pop = dict
Cell = Callable[[pd.Series], str]


def figure(path: Path | None, caption: str) -> str:
    """A figure of a stage's ``figures/`` (markdown image), or nothing when it does not exist."""
    return f"![{caption}]({path.as_posix()})\n" if path is not None else ""


def _num(x: object, digits: int) -> str:
    return fmt.num(x, digits, LANG)


def estimate_cells(pub: Publication, pops: Sequence[Pop], reason: str | None, texts: Sequence[str]) -> list[str]:
    """The cells of one estimate (estimate, CI, SE, p, ...) about ``pops``: spans, ``×``, or "not estimable".

    Hidden (``×``) unless every population is provably about ``min_cell`` people (events); else
    "not estimable (reason)" in the first cell (plain text: no number about people) and ``–`` after it.
    """
    pop, *also = pops
    if pub.shown(pop, *also) and reason is not None:
        return [not_estimable(reason, LANG), *(fmt.NONE for _ in texts[1:])]
    return [pub.statistic(text, pop, *also) for text in texts]


def _ratio_cells(pub: Publication, pops: Sequence[Pop], r: pd.Series, est: str, *, se: str | None = None,
                 events: object = None) -> list[str]:  # fmt: skip
    reason = ratio_reason(r[est], r["ci_low"], r["ci_high"], events=events, note=r.get("note"))
    texts = [_num(r[est], 2), fmt.ci(r["ci_low"], r["ci_high"], 2, LANG)]
    if se is not None:
        texts.append(_num(r[se], 3))
    texts.append(p_cell()(r))
    return estimate_cells(pub, pops, reason, texts)


def _linear_cells(pub: Publication, pops: Sequence[Pop], r: pd.Series, est: str, low: str, high: str,
                  p: str | None = "p_val") -> list[str]:  # fmt: skip
    reason = linear_reason(r[est], r[low], r[high], note=r.get("note"))
    texts = [_num(r[est], 3), fmt.ci(r[low], r[high], 3, LANG)] + ([p_cell(p)(r)] if p else [])
    return estimate_cells(pub, pops, reason, texts)


def _table(header: Sequence[str], rows: list[list[str]], caption: str, texts: int) -> str:
    """A table whose first ``texts`` columns are words (left-aligned) and the rest numbers."""
    return fmt.table(header, rows, align="l" * texts + "r" * (len(header) - texts), caption=caption)


# ----------------------------------------------------------------------------------- multiplicity
def multiplicity(res: Results, design: Design, pub: Publication | None = None) -> str:
    """Holm (primary) and Benjamini-Hochberg (secondary) adjusted p-values of the effect terms."""
    table = res.usable("sensitivity", "multiplicity", ("outcome", "family", "term", "p_adj", "reject"))
    if table is None:
        return missing_stage(res, "sensitivity", "The multiplicity correction")
    pub = publication(res, design, pub)
    rows = []
    for _, r in table.iterrows():
        pop = P.model(str(r["outcome"]))
        cells = _linear_cells(pub, [pop], r, "estimate", "ci_low", "ci_high")
        rows.append([outcome_cell(design)(r), str(r["family"]), f"`{r['term']}`", *cells,
                     pub.statistic(p_cell("p_adj")(r), pop), str(r["method"]),
                     pub.statistic("yes" if bool(r["reject"]) else "no", pop), pub.count(pop)])  # fmt: skip
    return fmt.table(["Outcome", "Family", "Term", "Estimate", "95% CI", "p", "p adj.", "Method", "Holds", "n"], rows,
                     align="lllrrrrllr",
                     caption="Multiplicity: adjusted p-values per family of outcomes; 'holds' = significant after "
                     "adjustment; n = participants in the growth model.")  # fmt: skip


# ------------------------------------------------------------------------------------ sensitivity
def sensitivity(res: Results, design: Design, pub: Publication | None = None) -> str:
    """Complete-case vs available-case models, the careless-responding screen and the tipping point."""
    cva = res.usable("sensitivity", "complete_vs_available", ("outcome", "term", "analysis", "estimate"))
    careless = res.usable("careless", "comparison", ("outcome", "term", "estimate_all", "estimate_screened"))
    summary = res.usable("sensitivity", "tipping_summary", ("outcome", "wave"))
    parts = []
    if cva is None:
        parts.append(missing_stage(res, "sensitivity", "The complete-case comparison"))
    if cva is None and careless is None and summary is None:
        return parts[0]
    pub = publication(res, design, pub)
    if cva is not None:
        rows = []
        for _, r in cva.iterrows():
            pop = C.cva_population(res, str(r["outcome"]), str(r["analysis"]))
            rows.append([outcome_cell(design)(r), f"`{r['term']}`", str(r["analysis"]),
                         *_linear_cells(pub, [pop], r, "estimate", "ci_low", "ci_high"), pub.count(pop)])  # fmt: skip
        parts.append(_table(["Outcome", "Term", "Analysis", "Estimate", "95% CI", "p", "Participants"], rows,
                            "Complete cases (all waves answered) vs all available measurements.", 3))  # fmt: skip
    if careless is not None:
        rows = []
        for _, r in careless.iterrows():
            pop = P.model(str(r["outcome"]))
            rows.append([outcome_cell(design)(r), f"`{r['term']}`",
                         *_linear_cells(pub, [pop], r, "estimate_all", "ci95_low_all", "ci95_high_all", p=None),
                         *_linear_cells(pub, [pop], r, "estimate_screened", "ci95_low_screened", "ci95_high_screened",
                                        p=None),
                         pub.count(pop), pub.count(C.careless_population(str(r["outcome"])))])  # fmt: skip
        parts.append(_table(["Outcome", "Term", "All: estimate", "95% CI", "Screened: estimate", "95% CI ",
                             "Participants", "Responses dropped"], rows,
                            "The growth models without the responses flagged as careless (screened), beside the "
                            "models on all responses.", 2))  # fmt: skip
    if summary is not None:
        parts.append(_tipping(summary, design, pub))
    return "\n".join(p for p in parts if p)


def _tipping(summary: pd.DataFrame, design: Design, pub: Publication) -> str:
    rows = []
    for _, r in summary.iterrows():
        outcome, wave = str(r["outcome"]), str(r["wave"])
        pop = C.mi_population(outcome)
        cells = _linear_cells(pub, [pop], r, "estimate_mar", "ci_low_mar", "ci_high_mar", p=None)
        robust = r.get("conclusion_robust")
        rows.append([outcome_cell(design)(r), wave, *cells, pub.statistic(_num(r.get("tipping_delta_sd"), 2), pop),
                     pub.statistic(fmt.NONE if pd.isna(robust) else "yes" if bool(robust) else "no", pop),
                     pub.statistic(str(r.get("conclusion", fmt.NONE)), pop), pub.count(pop),
                     pub.count(C.mi_population(outcome, wave)), fmt.count(r.get("m"))])  # fmt: skip
    shifted = "imputed intervisie scores" if design.has_comparison else "imputed scores"
    return _table(["Outcome", "Wave", "Estimate (MAR)", "95% CI", "Tipping shift (SD)", "Robust", "Conclusion",
                   "Participants", "Imputed", "Imputations"], rows,
                  f"Tipping point: the shift of {shifted} (SD units, the unfavourable way) at which the conclusion "
                  "changes; 'imputed' = participants whose score at the wave was imputed.", 2)  # fmt: skip


# --------------------------------------------------------------------------------- implementation
def implementation(res: Results, design: Design, pub: Publication | None = None) -> str:
    """Aggregation checks of the group-level ratings and the ranked implementation factors.

    Groups are not identifiable: a row of the aggregation checks about fewer than ``min_cell``
    groups is hidden, with complementary suppression against the row of all programmes.
    """
    aggregation = res.usable("implementation", "aggregation", ("construct", "n_groups"))
    ranked = res.usable("implementation", "factors_ranked", ("outcome", "factor", "level", "rank"))
    if aggregation is None and ranked is None:
        return missing_stage(res, "implementation", "The analysis of implementation factors")
    pub = publication(res, design, pub)
    parts = []
    if aggregation is not None:
        parts.append(_aggregation(aggregation, design, pub, res.min_cell))
    if ranked is None:
        parts.append(missing_stage(res, "implementation", "The ranking of implementation factors"))
        return "\n".join(p for p in parts if p)
    pop = C.implementation_population(design)
    ranked = ranked.assign(order=ranked["outcome"].map({o: i for i, o in enumerate(design.outcomes())}).fillna(99))
    rows = []
    for _, r in ranked.sort_values(["order", "rank"]).iterrows():
        cells = _linear_cells(pub, [pop], r, "effect", "ci_low", "ci_high")
        rows.append([fmt.count(r["rank"]), outcome_cell(design)(r), f"{r['factor']} ({r['level']})", *cells,
                     pub.statistic(str(r.get("direction", fmt.NONE)), pop)])  # fmt: skip
    parts.append(fmt.table(["#", "Outcome", "Factor", "Effect", "95% CI", "p", "Direction"], rows, align="rllrrrl",
                           caption="Implementation factors ranked by the evidence (within- and between-group parts "
                           "of each factor)."))  # fmt: skip
    if pub.shown(pop):
        for scale in design.outcomes():
            name = design.scales[scale].name_en if scale in design.scales else scale
            parts.append(figure(res.figure("implementation", f"forest_{scale}"),
                                f"Implementation factors, {name}, first {months(design.knot_months, LANG)}"))  # fmt: skip
    return "\n".join(p for p in parts if p)


_AGG = (("mean_group_size", 1), ("icc1", 2), ("icc2", 2), ("rwg_j_median", 2))


def _aggregation(table: pd.DataFrame, design: Design, pub: Publication, min_cell: int) -> str:
    table = table.copy()
    if "programme" not in table.columns:
        table["programme"] = "all"
    shown = suppress(table, count="n_groups", values=[c for c, _ in _AGG if c in table.columns],
                     keys=("construct", "programme"), margins=(Margin("programme", total="all"),), min_cell=min_cell)  # fmt: skip
    rows = []
    for _, r in shown.iterrows():
        programme = str(r["programme"])
        pop = C.implementation_population(design, programme)
        hidden = bool(r["suppressed"])
        cells = [fmt.HIDDEN if hidden else fmt.count(r["n_groups"])]
        for column, digits in _AGG:
            text = fmt.HIDDEN if hidden else _num(r.get(column), digits)
            cells.append(pub.statistic(text, pop))
        justified = r.get("justified")
        word = fmt.HIDDEN if hidden or pd.isna(justified) else "yes" if bool(justified) else "no"
        cells.append(pub.statistic(word, pop))
        rows.append([str(r["construct"]), "all" if programme == "all" else programme_name(design, programme, LANG),
                     *cells])  # fmt: skip
    return fmt.table(["Construct", "Programme", "Groups", "Mean group size", "ICC(1)", "ICC(2)", "rwg(j) median",
                      "Justified"], rows, align="llrrrrrl",
                     caption=f"Can member ratings be aggregated to the group? ICC(1), ICC(2) and median rwg(j) "
                     f"(Bliese 2000; LeBreton & Senter 2008); × = about fewer than {min_cell} groups.")  # fmt: skip


# --------------------------------------------------------------------------------------- survival
def _km_months(columns: Sequence[str]) -> list[str]:
    """The months at which ``km_summary.csv`` gives survival (its ``survival_<m>m`` columns), in order."""
    found = [m.group(1) for c in columns if (m := re.fullmatch(r"survival_([0-9.]+)m", c))]
    return sorted(found, key=float)


def km_times_shown(res: Results, curve: str, stratum: str, n: object, at: Sequence[str]) -> set[str]:
    """The times at which a stratum's survival may be printed: no count of fewer than ``min_cell`` behind it.

    ``S(t) = (n - d(t)) / n`` without censoring, so a survival gives away the number who left by ``t``
    and the number still in: each must be 0 or at least ``min_cell``, and so must the number who left
    between two printed times (read from ``km.csv``).
    """
    steps = res.usable("survival", "km", ("curve", "stratum", "time_months", "events"))
    if steps is None or pd.isna(n):
        return set()
    part = steps[(steps["curve"].astype(str) == curve) & (steps["stratum"].astype(str) == stratum)]
    part = part.dropna(subset=["time_months"])
    ok, before = set(), 0.0
    for m in at:
        left = float(part.loc[part["time_months"] <= float(m), "events"].sum())
        step, still = left - before, float(n) - left
        if all(x == 0 or x >= res.min_cell for x in (left, step, still)):
            ok.add(m)
            before = left
    return ok


def _km(res: Results, design: Design, pub: Publication, frame_: C.Leaving) -> tuple[str, dict[str, bool]]:
    km = frame_.km
    at = _km_months(km.columns)
    rows, whole = [], {}
    for _, r in km.iterrows():
        curve, stratum = str(r["curve"]), str(r["stratum"])
        pop = frame_.stratum(curve, stratum)
        events = pop | {"left": "1"}
        fine = not pub.hidden_count(pop) and not pub.hidden_count(events) and pub.shown(events, pop)
        whole[curve] = whole.get(curve, True) and fine
        times = km_times_shown(res, curve, stratum, r["n"], at)
        cells = []
        for m in at:
            col = f"survival_{m}m"
            text = f"{_num(r[col], 2)} {fmt.ci(r[f'{col}_ci_low'], r[f'{col}_ci_high'], 2, LANG)}"
            cells.append(pub.statistic(text if m in times else fmt.HIDDEN, events, pop))
        name = programme_name(design, stratum, LANG) if curve == "programme" else stratum
        rows.append([curve, name, pub.count(pop), pub.count(events), *cells])
    when = join_words([f"{m} months" for m in at], LANG) if at else "each follow-up time"
    table = fmt.table(["Curve", "Stratum", "n", "Events", *(f"{m} months [95% CI]" for m in at)], rows,
                      align="ll" + "r" * (2 + len(at)),
                      caption=f"Staying in intervisie (Kaplan-Meier): share still taking part at {when} "
                      f"(× = hidden: about fewer than {res.min_cell} people or events, or it would give such a "
                      "number away).")  # fmt: skip
    return table, whole


def _cox(pub: Publication, frame_: C.Leaving) -> str:
    rows = []
    for _, r in frame_.cox_table.iterrows():
        term = str(r["term"])
        match = C.PERIOD.match(term)
        period = (match["end"] if match["end"] == "plus" else "early") if match else ""
        pop, also = frame_.term(term)
        n_pop = frame_.cox_n("plus" if period == "plus" else "")
        events = frame_.cox_events(period)
        cells = _ratio_cells(pub, [pop, *also, events], r, "hr", se="se_robust", events=r["events"])
        rows.append([str(r["model"]), f"`{term}`", *cells, pub.count(n_pop), pub.count(events),
                     "yes" if bool(r["primary"]) else "no"])  # fmt: skip
    return fmt.table(["Model", "Term", "HR", "95% CI", "Robust SE", "p", "n", "Events", "Primary"], rows,
                     align="llrrrrrrl",
                     caption="Cox model of leaving intervisie (hazard ratios, SEs clustered on the group); a hazard "
                     "ratio of a group rests on that group's events and the reference group's.")  # fmt: skip


def _ph(pub: Publication, frame_: C.Leaving) -> str:
    rows = []
    for _, r in frame_.ph.iterrows():
        term = str(r["term"])
        pop, also = frame_.term(term) if term != "GLOBAL" else (frame_.cox_events(), [])
        pops = [pop, *also] if term == "GLOBAL" else [pop, *also, frame_.cox_events()]
        stat = r.get("statistic")
        finite = pd.notna(stat) and abs(float(stat)) != float("inf")
        texts = [_num(stat, 3), p_cell()(r), "yes" if bool(r.get("violated")) else "no"]
        cells = estimate_cells(pub, pops, None if finite else "not_estimated", texts)
        rows.append([str(r["model"]), f"`{term}`", *cells, fmt.count(r.get("df")), str(r.get("action", ""))])
    return fmt.table(["Model", "Term", "Statistic", "p", "Violated", "df", "Action"], rows, align="llrrlrl",
                     caption="Proportional-hazards test (scaled Schoenfeld residuals).")


def _caseness(design: Design, pub: Publication, table: pd.DataFrame) -> str:
    rows = []
    n_pop, e_pop = {"caseness": "1"}, {"caseness": "1", "case": "1"}
    for _, r in table.iterrows():
        pops = C.caseness_groups(design, str(r["term"]))
        reason = ratio_reason(r["estimate"], r["ci_low"], r["ci_high"], events=r.get("events"), note=r.get("note"))
        texts = [_num(r["estimate"], 3), fmt.ci(r["ci_low"], r["ci_high"], 3, LANG), p_cell()(r)]
        note = str(r.get("note")) if pd.notna(r.get("note")) else ""
        rows.append([str(r["model"]), f"`{r['term']}`", *estimate_cells(pub, pops, reason, texts), pub.count(n_pop),
                     pub.count(e_pop), note])  # fmt: skip
    return fmt.table(["Model", "Term", "Estimate", "95% CI", "p", "n", "Events", "Note"], rows, align="llrrrrrl",
                     caption="Time to caseness (interval-censored Weibull models); an estimate with an infinite or "
                     "absurd bound is not estimable.")  # fmt: skip


def survival(res: Results, design: Design, pub: Publication | None = None) -> str:
    """Kaplan-Meier summaries, the Cox model of leaving, its PH test, and time to burnout caseness."""
    frame_ = C.leaving(res)
    if frame_.km is None:
        return missing_stage(res, "survival", "The analysis of leaving intervisie")
    pub = publication(res, design, pub)
    table, whole = _km(res, design, pub, frame_)
    parts = [table]
    if frame_.cox_table is not None:
        parts.append(_cox(pub, frame_))
    if frame_.ph is not None:
        parts.append(_ph(pub, frame_))
    caseness = res.usable("survival", "caseness", ("model", "term", "estimate", "ci_low", "ci_high", "n", "events"))
    if caseness is not None:
        parts.append(_caseness(design, pub, caseness))
    for name in ("km_programme", "km_format"):
        curve = name.removeprefix("km_")
        if whole.get(curve, False):  # a curve shows every stratum's steps: only when no stratum is hidden
            parts.append(figure(res.figure("survival", name), f"Kaplan-Meier curves ({curve})"))
    return "\n".join(p for p in parts if p)


# ------------------------------------------------------------------------------------------ power
_COMPONENTS = (("sd_change", 3), ("d_observed", 3), ("icc_change", 3), ("cluster_size", 1), ("retention_treated", 3),
               ("retention_comparison", 3))  # fmt: skip
_SIZES = (("effect_d", 2), ("design_effect", 2), ("n_analysed", 0), ("n_enrol", 0), ("groups_needed", 0))


def power(res: Results, design: Design, pub: Publication | None = None) -> str:
    """Variance components and the sample sizes they imply (short term, and long term when a later wave exists).

    Every number here is estimated from the arms of the study: shown only when each arm is
    provably about ``min_cell`` people.
    """
    components = res.usable("power", "components", ("outcome", "horizon"))
    sizes = res.usable("power", "sample_size", ("outcome", "horizon", "basis"))
    if components is None or sizes is None:
        return missing_stage(res, "power", "The sample-size calculation")
    pub = publication(res, design, pub)
    arms = [P.roster(a.id) for a in design.arms]
    horizons = ["short", "long"] if design.long_term else ["short"]

    def cells(r: pd.Series, columns: Sequence[tuple[str, int]]) -> list[str]:
        out = []
        for c, digits in columns:
            value = r.get(c)
            text = fmt.count(value) if digits == 0 else _num(value, digits)
            out.append(pub.statistic(text, *arms) if c in r.index else fmt.NONE)
        return out

    rows = [[outcome_cell(design)(r), str(r["horizon"]), str(r.get("wave", "")), *cells(r, _COMPONENTS)]
            for _, r in components[components["horizon"].isin(horizons)].iterrows()]
    parts = [fmt.table(["Outcome", "Horizon", "Wave", "SD change", "d observed", "ICC change", "Cluster size",
                        "Retention treated", "Retention comparison"], rows, align="lll" + "r" * 6,
                       caption="The study's own variance estimates: SD of change, ICC of change within groups, "
                       "group size and retention.")]  # fmt: skip
    primary = sizes[sizes["outcome"].isin(design.primary) & sizes["horizon"].isin(horizons)]
    rows = [[outcome_cell(design)(r), str(r["horizon"]), str(r.get("wave", "")), str(r["basis"]), *cells(r, _SIZES)]
            for _, r in primary.iterrows()]
    parts.append(fmt.table(["Outcome", "Horizon", "Wave", "Basis", "Effect d", "Design effect", "n analysed",
                            "n enrol", "Groups needed"], rows, align="llll" + "r" * 5,
                           caption="Participants per arm needed (two-sided alpha and power of params.yaml), primary "
                           "outcomes."))  # fmt: skip
    return "\n".join(p for p in parts if p)


def data_docs(site: str) -> str:
    """A link to the Great Expectations Data Docs when the quality gate has written them."""
    index = Path(site) / "data-docs" / "index.html"
    if index.is_file():
        return ("Every clean table was also checked by the Great Expectations suites; the "
                "[Data Docs](data-docs/index.html) show each expectation and its result.\n")  # fmt: skip
    return "*The Great Expectations Data Docs have not been built in this run.*\n"
