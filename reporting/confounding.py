"""How people came into intervisie, and what the comparison can then claim (methods appendix).

Reads the change stage's ``adjusted.csv`` and ``balance.csv`` (:mod:`intervisie.stages.adjusted`)
and the design's declared assignment; nothing is estimated here.  Every number about people goes
through the document's :class:`~reporting.publish.Publication`: the adjusted effects and the
balance of the arms are statistics about those with both the baseline and the short-term score
in each arm, the same people as the unadjusted difference.  A balance row of a 0/1 column (a
programme, a binary covariate, a level, a missing-value indicator) whose smallest arm cell holds
fewer than ``min_cell`` people is hidden whole: its standardised difference and variance ratio
could give that count away.
"""

from __future__ import annotations

import pandas as pd

from pipeline.design import Design
from reporting import fmt
from reporting import populations as P
from reporting.appendix import figure
from reporting.methods import LANG, _ordered, frame, missing_stage, outcome_cell
from reporting.publish import Publication, publication
from reporting.results import Results
from reporting.texts import arm_name, join_words, months, programme_name

ESTIMANDS = {
    "ato": "overlap weights (Li, Morgan & Zaslavsky 2018): intervisie participants weighted by 1 − e, comparison "
           "participants by e, where e is the propensity score. They target the people who could have been in either "
           "group, are bounded (no extreme weights) and balance the means of every covariate in the propensity model "
           "exactly",
    "att": "ATT weights: intervisie participants weight 1, comparison participants e/(1 − e), where e is the propensity "
           "score. They target the effect among those who joined",
    "ate": "inverse probability weights: 1/e for intervisie participants, 1/(1 − e) for comparison participants, where e "
           "is the propensity score. They target the whole study population",
}  # fmt: skip


def _assignment_text(design: Design) -> str:
    if design.assignment == "randomised":
        return ("Participants were allocated to intervisie or the comparison group at random. The primary short-term "
                "effect is the unadjusted difference in change (Hedges' g); the weighted, baseline-adjusted estimate "
                "below is reported as a check of the arms' balance and as a sensitivity analysis.")  # fmt: skip
    if design.assignment == "cluster_randomised":
        return ("Groups were allocated to intervisie or the comparison group at random. The primary short-term effect "
                "is the unadjusted difference in change (Hedges' g); the weighted, baseline-adjusted estimate below is "
                "reported as a check of the arms' balance and as a sensitivity analysis.")  # fmt: skip
    how = {"self_selected": "Participants chose to join intervisie (self-selection)",
           "by_programme": "Whether people took part in intervisie depended on their programme",
           "unknown": "How people came into intervisie is not known (study.yaml: `design.assignment: unknown`)"}  # fmt: skip
    return (f"{how.get(design.assignment, how['unknown'])}, so the arms may differ before intervisie starts: people with "
            "more complaints at baseline may join more often (and their scores then fall by regression to the mean "
            "alone), and characteristics that shape both joining and the course of burnout confound the comparison. "
            "The primary short-term effect is therefore the baseline-adjusted, propensity-weighted estimate below; the "
            "unadjusted difference in change stays beside it as a sensitivity analysis.")  # fmt: skip


def _estimator_text(design: Design, estimand: str) -> str:
    covariates = [c.label_en for c in design.covariates]
    adjust = ["the outcome's baseline score"] + (["the programme"] if design.several_programmes else []) + covariates
    return (
        f"**Estimator.** A logistic propensity model of joining intervisie on {join_words(adjust, LANG)} "
        "(Rosenbaum & Rubin 1983; a covariate with missing values enters mean-filled with a missing-value indicator) "
        f"gives each participant a propensity score e. The weights are {ESTIMANDS.get(estimand, estimand)}. The "
        f"effect is a weighted ANCOVA of the {months(design.knot_months, LANG)} score on the arm and the same "
        "covariates, doubly robust: consistent if either the propensity model or the outcome model is right (Bang & "
        "Robins 2005; Funk et al. 2011). Its standard error is cluster-robust by intervisie group (bias-reduced CR2; a "
        "comparison participant is a cluster of one) with a t reference on Satterthwaite degrees of freedom (Bell & "
        "McCaffrey 2002; Pustejovsky & Tipton 2018), which keeps the error rate near 5% with 10 to 50 groups. The "
        "standardised effect divides by the pooled within-arm SD of the baseline score. Balance is the standardised "
        "mean difference (SMD) of each covariate before and after weighting, with the unweighted pooled SD as the "
        "standardiser; |SMD| > 0.1 counts as imbalance (Austin 2009). The effective sample size of each arm is Kish's "
        "(Σw)²/Σw². The E-value is the minimum strength of association, on the risk-ratio scale, that an unmeasured "
        "confounder would need with both joining and the outcome to explain the effect away (and the CI bound nearest "
        "zero: to make it unclear), from RR ≈ exp(0.91 d) (VanderWeele & Ding 2017).\n\n"
        "**What it rests on.** No unmeasured confounding: given the baseline score, the programme and the declared "
        "covariates, joining is unrelated to how a person's scores would have changed. Motivation, support at home, a "
        "demanding rotation or anything else not measured can still bias the estimate; the E-values say how strong "
        "such a factor would have to be. And overlap: every kind of participant could have been in either arm.\n"
    )


def _effects_table(res: Results, design: Design, pub: Publication, table: pd.DataFrame) -> str:
    between = res.usable("change", "between_arms", ("outcome", "programme", "g", "ci95_low", "ci95_high"))
    plain = between[between["programme"] == "all"].set_index("outcome") if between is not None else pd.DataFrame()

    def pops(r: pd.Series) -> list[dict]:
        return [P.changed(res, design, str(r["outcome"]), arm, "all") for arm in ("intervisie", "comparison")]

    def about(text: str, r: pd.Series) -> str:
        return pub.statistic(text, *pops(r))

    def unadjusted(r: pd.Series) -> str:
        if r["outcome"] not in plain.index:
            return fmt.NONE
        row = plain.loc[r["outcome"]]
        return about(f"{fmt.num(row['g'], 2, LANG)} {fmt.ci(row['ci95_low'], row['ci95_high'], 2, LANG)}", r)

    def evalue(r: pd.Series) -> str:
        if pd.isna(r["evalue"]):
            return fmt.NONE
        return about(f"{fmt.num(r['evalue'], 2, LANG)} ({fmt.num(r['evalue_ci'], 2, LANG)})", r)

    intervisie, comparison = (arm_name(design, a, LANG) for a in ("intervisie", "comparison"))
    columns = [
        ("Outcome", outcome_cell(design)),
        (f"n {intervisie}", lambda r: pub.count(pops(r)[0])),
        (f"n {comparison}", lambda r: pub.count(pops(r)[1])),
        ("Adjusted difference [95% CI]", lambda r: about(
            f"{fmt.num(r['estimate'], 2, LANG)} {fmt.ci(r['ci95_low'], r['ci95_high'], 2, LANG)}", r)),
        ("SD units [95% CI]", lambda r: about(
            f"{fmt.num(r['std_estimate'], 2, LANG)} {fmt.ci(r['std_ci95_low'], r['std_ci95_high'], 2, LANG)}", r)),
        ("ESS", lambda r: about(f"{fmt.num(r['ess_a'], 1, LANG)} / {fmt.num(r['ess_b'], 1, LANG)}", r)),
        ("E-value (CI)", evalue),
        ("Unadjusted g [95% CI]", unadjusted),
    ]  # fmt: skip
    caption = (f"Short-term effect ({months(design.knot_months, LANG)}) adjusted for how people came in, beside the "
               f"unadjusted difference in change. ESS: effective sample size, {intervisie} / {comparison}. Adjusted "
               "difference in score points; SD units: divided by the pooled baseline SD.")  # fmt: skip
    text = frame(_ordered(table, design), columns, caption=caption)
    notes = [f"{outcome_cell(design)(r)}: {r['note']}" for _, r in _ordered(table, design).iterrows()
             if isinstance(r.get("note"), str) and r["note"].strip()]  # fmt: skip
    if notes:
        text += "\nNotes of the estimation: " + "; ".join(notes) + ".\n"
    return text


def _balance_table(res: Results, design: Design, pub: Publication, balance: pd.DataFrame) -> str:
    parts = []
    labels = {c.id: c.label_en for c in design.covariates}
    for outcome in [o for o in design.primary if o in set(balance["outcome"])]:
        rows = balance[balance["outcome"] == outcome]
        pops = [P.changed(res, design, outcome, arm, "all") for arm in ("intervisie", "comparison")]

        def name(r: pd.Series, outcome: str = outcome) -> str:
            column = str(r["covariate"])
            if column == "pre":
                return f"baseline score ({outcome_cell(design)(pd.Series({'outcome': outcome}))})"
            base, sep, rest = column.partition(": ")
            if base == "programme" and rest in design.programme_ids:
                return f"programme: {programme_name(design, rest, LANG)}"
            if column.endswith(" (missing)"):
                base = column[: -len(" (missing)")]
                return f"{labels.get(base, base)} (missing)"
            return f"{labels.get(base, base)}{sep}{rest}"

        def cell(column: str, r: pd.Series, pops: list = pops) -> str:
            small = pd.notna(r.get("smallest_cell")) and float(r["smallest_cell"]) < res.min_cell
            text = fmt.HIDDEN if small else fmt.num(r[column], 2, LANG)
            return pub.statistic(text, *pops)

        columns = [("Covariate", name)] + [
            (head, lambda r, c=col: cell(c, r)) for head, col in (
                ("SMD before", "smd_unweighted"), ("SMD after", "smd_weighted"),
                ("Variance ratio before", "variance_ratio_unweighted"), ("Variance ratio after", "variance_ratio_weighted"))
        ] + [("|SMD| > 0.1 after", lambda r: "yes" if bool(r["imbalanced"]) else "no")]  # fmt: skip
        caption = (f"Balance of the arms at baseline, {outcome_cell(design)(pd.Series({'outcome': outcome}))} sample: "
                   "standardised mean differences (intervisie − comparison) and variance ratios before and after "
                   f"weighting. Rows about fewer than {res.min_cell} people in a cell are hidden (×).")  # fmt: skip
        parts.append(frame(rows, columns, caption=caption))
        bad = rows[rows["imbalanced"].astype(bool)]
        if not bad.empty:
            parts.append(f"**Warning:** after weighting the arms still differ by more than 0.1 SD on "
                         f"{join_words([name(r) for _, r in bad.iterrows()], LANG)}; the outcome model adjusts for "
                         "it, but the estimate then leans on that model being right.\n")  # fmt: skip
    return "\n".join(parts)


def _long_term_table(res: Results, design: Design, pub: Publication) -> str:
    """The long-term terms of the weighted, covariate-adjusted growth model beside the unadjusted ones."""
    adjusted = res.usable("growth", "adjusted_effects", ("outcome", "term", "std_estimate", "n", "evalue"))
    if adjusted is None or adjusted.empty:
        return ""
    plain = res.usable("growth", "effects", ("outcome", "term", "std_estimate"))
    rows = _ordered(adjusted[adjusted["term"] == "long:armintervisie"], design)
    if rows.empty:
        return ""

    def about(text: str, r: pd.Series) -> str:
        small = not r["n"] >= res.min_cell
        return pub.statistic(fmt.HIDDEN if small else text, P.model(str(r["outcome"])))

    def unadjusted(r: pd.Series) -> str:
        hit = None if plain is None else plain[(plain["outcome"] == r["outcome"]) & (plain["term"] == r["term"])]
        if hit is None or hit.empty:
            return fmt.NONE
        h = hit.iloc[0]
        return pub.statistic(f"{fmt.num(h['std_estimate'], 2, LANG)} {fmt.ci(h['std_ci95_low'], h['std_ci95_high'], 2, LANG)}",
                             P.model(str(r["outcome"])))  # fmt: skip

    columns = [
        ("Outcome", outcome_cell(design)),
        ("n", lambda r: about(fmt.count(r["n"]), r)),
        ("Adjusted per year (SD) [95% CI]", lambda r: about(
            f"{fmt.num(r['std_estimate'], 2, LANG)} {fmt.ci(r['std_ci95_low'], r['std_ci95_high'], 2, LANG)}", r)),
        ("E-value (CI)", lambda r: about(f"{fmt.num(r['evalue'], 2, LANG)} ({fmt.num(r['evalue_ci'], 2, LANG)})", r)
         if pd.notna(r["evalue"]) else fmt.NONE),
        ("Unadjusted per year (SD) [95% CI]", unadjusted),
    ]  # fmt: skip
    caption = ("Long-term difference per year after the short-term wave (growth model term long × arm, baseline SD "
               "units): the model weighted by the same propensity weights (estimated from the baseline score, the "
               "programme and the covariates of those with a baseline score) with each covariate and its interaction "
               "with time added, beside the unadjusted model. Participants without a baseline score have no weight "
               "and are left out of the adjusted model.")  # fmt: skip
    return frame(rows, columns, caption=caption)


def adjustment(res: Results, design: Design, pub: Publication | None = None) -> str:
    """The section: how people came in, the estimator, the adjusted effects beside the plain ones, the balance."""
    pub = publication(res, design, pub)
    if not design.has_comparison:
        return ("The study has no comparison group: there is no difference between arms to adjust, and change within "
                "intervisie cannot be told apart from time, training or regression to the mean.\n")  # fmt: skip
    table = res.usable("change", "adjusted", ("outcome", "estimand", "estimate", "std_estimate", "evalue"))
    if table is None:
        return _assignment_text(design) + "\n\n" + missing_stage(res, "change", "The adjusted short-term effect")
    estimand = str(table["estimand"].dropna().iloc[0]) if table["estimand"].notna().any() else "ato"
    parts = [_assignment_text(design) + "\n", _estimator_text(design, estimand), _effects_table(res, design, pub, table),
             _long_term_table(res, design, pub)]
    balance = res.usable("change", "balance", ("outcome", "covariate", "smd_unweighted", "smd_weighted"))
    if balance is not None and not balance.empty:
        parts.append(_balance_table(res, design, pub, balance))
        first = next((o for o in design.primary if o in set(balance["outcome"])), None)
        if first is not None and pub.shown(*[P.changed(res, design, first, a, "all") for a in ("intervisie", "comparison")]):
            parts.append(figure(res.figure("change", "love_plot"), "Balance before and after weighting (love plot)"))
    if not design.covariates and not design.randomised:
        parts.append("The study declared no baseline covariates (study.yaml `covariates:`), so only the baseline score "
                     "and the programme were adjusted for; a characteristic such as the year of training that drives "
                     "both joining and the course of the outcome is not accounted for.\n")  # fmt: skip
    return "\n".join(parts)
