"""The methods appendix (English, technical): every table a methodologist needs to check the results.

Each function returns Pandoc markdown for one section of ``reports/methods.qmd``, read from the
finished result tables and named from the study's design; sections whose results are absent
say so (with the stage's reason) instead of failing.  Every number about people is printed by the
document's :class:`~reporting.publish.Publication`, which hides (``×``) what is about fewer than
``min_cell`` people and what would reveal such a number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pandas as pd

from pipeline.design import Design
from reporting import fmt, methods_text
from reporting import populations as P
from reporting.publish import Publication, publication
from reporting.results import Results, absent
from reporting.texts import arm_name, months, outcome_name, programme_name

Column = tuple[str, Callable[[pd.Series], str]]
#: how a printed number starts (numbers, CIs, hidden or missing cells, "< 0.001")
_NUMERIC = re.compile(r"^[−\-+\d\[×–<]")
LANG = "en"


def frame(rows: pd.DataFrame, columns: Sequence[Column], *, caption: str | None = None, widths=None) -> str:
    """A Pandoc table of ``rows`` with one ``(header, cell function)`` per column."""
    body = [[func(r) for _, func in columns] for _, r in rows.iterrows()]
    align = align_for(body, len(columns))
    return fmt.table([h for h, _ in columns], body, align=align, widths=widths, caption=caption)


def align_for(body: Sequence[Sequence[str]], n: int) -> str:
    """Right-align the columns that hold only numbers (after the first), left-align text."""
    return "".join("r" if i and body and all(_NUMERIC.match(row[i]) for row in body) else "l" for i in range(n))


def missing_stage(res: Results, stage: str, what: str | None = None) -> str:
    """The sentence a section prints when its results are absent (with the stage's reason when it gave one)."""
    return absent(res, stage, LANG, what=(what, what) if what else None)


def n_cell(column: str) -> Callable[[pd.Series], str]:
    return lambda r: fmt.count(r[column], hidden=bool(r.get("suppressed", False)) and pd.isna(r[column]))


def x_cell(column: str, digits: int = 2) -> Callable[[pd.Series], str]:
    return lambda r: fmt.num(r[column], digits, LANG, hidden=bool(r.get("suppressed", False)) and pd.isna(r[column]))


def ci_cell(low: str = "ci95_low", high: str = "ci95_high", digits: int = 2) -> Callable[[pd.Series], str]:
    return lambda r: fmt.ci(r[low], r[high], digits, LANG, hidden=bool(r.get("suppressed", False)) and pd.isna(r[low]))


def p_cell(column: str = "p_val") -> Callable[[pd.Series], str]:
    return lambda r: fmt.pval(r[column], LANG).removeprefix("p = ").removeprefix("p ")


def outcome_cell(design: Design, column: str = "outcome") -> Callable[[pd.Series], str]:
    return lambda r: outcome_name(design, str(r[column]), LANG)


def arm_cell(design: Design, column: str = "arm") -> Callable[[pd.Series], str]:
    return lambda r: arm_name(design, str(r[column]), LANG)


def _ordered(table: pd.DataFrame, design: Design, column: str = "outcome") -> pd.DataFrame:
    """Rows in the design's order of outcomes (primary first), others after."""
    order = {o: i for i, o in enumerate(design.outcomes())}
    return table.assign(_order=table[column].map(order).fillna(len(order))).sort_values("_order", kind="stable")


def _index(named: Sequence, key: str) -> int:
    """The position of ``key`` among the design's arms or programmes (unknown ones last)."""
    ids = [n.id for n in named]
    return ids.index(key) if key in ids else len(ids)


def flow(res: Results, design: Design, pub: Publication | None = None) -> str:
    """Participants on the roster and answering each wave, per arm and programme."""
    pub = publication(res, design, pub)
    table = res.usable("quality", "response_flow", ("arm", "programme", "stage", "n"))
    if table is None:
        return missing_stage(res, "quality", "The response flow")
    present = set(zip(table["arm"].astype(str), table["programme"].astype(str), table["stage"].astype(str), strict=True))
    pairs = sorted({(str(a), str(p)) for a, p in zip(table["arm"], table["programme"], strict=True)},
                   key=lambda k: (_index(design.arms, k[0]), _index(design.programmes, k[1])))  # fmt: skip
    stages = [s for s in ("roster", *design.wave_ids) if s in set(table["stage"].astype(str))]

    def cell(arm: str, programme: str, stage: str) -> str:
        if (arm, programme, stage) not in present:
            return fmt.NONE
        return pub.count(P.roster(arm, programme) if stage == "roster" else P.answered(arm, programme, stage))

    rows = [[arm_name(design, arm, LANG), programme_name(design, programme, LANG), *(cell(arm, programme, s) for s in stages)]
            for arm, programme in pairs]  # fmt: skip
    headers = ["Roster" if s == "roster" else design.wave(s).label_en for s in stages]
    return fmt.table(["Arm", "Programme", *headers], rows, align="ll" + "r" * len(stages),
                     caption=f"Response flow: people on the roster and answering each wave (× = hidden: about fewer than "
                     f"{res.min_cell} people, or would reveal such a number).")  # fmt: skip


def missing_patterns(res: Results, design: Design, pub: Publication | None = None) -> str:
    """Wave-response patterns (1 = answered, one digit per wave of the design) per arm, with disclosure control."""
    pub = publication(res, design, pub)
    table = res.usable("quality", "missing_patterns", ("arm", "pattern", "n", "share"))
    if table is None:
        return missing_stage(res, "quality", "The missing-data patterns")
    table = table.copy()
    table["pattern"] = table["pattern"].astype(str).str.zfill(len(design.waves))
    table = table[table["pattern"].str.len() == len(design.waves)]
    waves = "".join(f"`{w}`" if i == 0 else f"-`{w}`" for i, w in enumerate(design.wave_ids))

    def pop(r: pd.Series) -> dict:
        return P.pattern(design, str(r["arm"]), str(r["pattern"]))

    return frame(
        table,
        [("Arm", arm_cell(design)), (f"Pattern {waves}", lambda r: f"`{r['pattern']}`"), ("n", lambda r: pub.count(pop(r))),
         ("Share", lambda r: pub.share(pop(r), P.roster(str(r["arm"])), LANG))],
        caption="Missing-data patterns (one digit per wave, in order; 1 = wave answered).",
    )  # fmt: skip


def baseline_differences(res: Results, design: Design, pub: Publication | None = None) -> str:
    """Completers vs dropouts at baseline (Welch t, Hedges' g)."""
    pub = publication(res, design, pub)
    table = res.usable("quality", "baseline_differences", ("scale", "arm", "n_completers", "n_dropouts"))
    if table is None:
        return missing_stage(res, "quality", "The comparison of completers and dropouts")

    def groups(r: pd.Series) -> tuple[dict, dict]:
        return (P.baseline_group(res, design, str(r["scale"]), str(r["arm"]), True),
                P.baseline_group(res, design, str(r["scale"]), str(r["arm"]), False))  # fmt: skip

    def stat(text: Callable[[pd.Series], str]) -> Callable[[pd.Series], str]:
        return lambda r: pub.statistic(text(r), *groups(r))

    return frame(
        _ordered(table, design, "scale"),
        [("Scale", outcome_cell(design, "scale")), ("Arm", arm_cell(design)),
         ("n completers", lambda r: pub.count(groups(r)[0])), ("n dropouts", lambda r: pub.count(groups(r)[1])),
         ("Difference", stat(x_cell("difference"))), ("g", stat(x_cell("hedges_g"))), ("p", stat(p_cell()))],
        caption=f"Baseline scores of completers (answered the last wave, {design.wave(design.last_wave).label_en}) vs "
        "dropouts (difference = completers - dropouts).",
    )  # fmt: skip


def _about(pub: Publication, pops: Callable[[pd.Series], Sequence[dict]], cell: Callable[[pd.Series], str]):
    """A cell function printing ``cell``'s text as a statistic about the populations ``pops`` of the row."""
    return lambda r: pub.statistic(cell(r), *pops(r))


def reliability(res: Results, design: Design, pub: Publication | None = None) -> str:
    """Cronbach's alpha (Feldt CI) and omega at baseline (session ratings: over all sessions), with flagged cells.

    Session ratings are counted in ratings, not people: their row shows the number of ratings.
    """
    pub = publication(res, design, pub)
    table = res.usable("reliability", "reliability", ("scale", "wave", "programme", "alpha", "flag_below_threshold"))
    if table is None:
        return missing_stage(res, "reliability", "The reliability analysis")
    flagged = table.groupby("scale")["flag_below_threshold"].apply(lambda s: int(s.astype(bool).sum()))
    cells = table.groupby("scale").size()
    base = table[(table["programme"] == "all") & ((table["wave"] == design.baseline) | table["wave"].isna())]

    def about(cell: Callable[[pd.Series], str]) -> Callable[[pd.Series], str]:
        return lambda r: cell(r) if pd.isna(r["wave"]) else pub.statistic(cell(r), P.alpha(str(r["scale"])))

    def n(r: pd.Series) -> str:
        return fmt.count(r["n"]) + " ratings" if pd.isna(r["wave"]) else pub.count(P.alpha(str(r["scale"])))

    return frame(
        _ordered(base, design, "scale"),
        [("Scale", outcome_cell(design, "scale")), ("Items", lambda r: fmt.count(r["k"])), ("n", n),
         ("Alpha", about(x_cell("alpha"))), ("95% CI", about(ci_cell())), ("Omega", about(x_cell("omega_total"))),
         ("Min item-rest r", about(x_cell("min_r_item_rest"))),
         ("Cells below line", lambda r: f"{flagged.get(r['scale'], 0)} of {cells.get(r['scale'], 0)}")],
        caption=f"Reliability at baseline ({design.wave(design.baseline).label_en}; session ratings: all sessions), all "
        "programmes (alpha with Feldt CI, McDonald's omega total); the last column counts wave x programme cells with "
        "alpha below the threshold in params.yaml.",
    )  # fmt: skip


def short_term(res: Results, design: Design, pub: Publication | None = None) -> str:
    """The section's heading, within-arm change (g_av), the between-arm difference (g, with a comparison cohort)."""
    pub = publication(res, design, pub)
    return methods_text.short_term_heading(design) + "\n" + _short_term_tables(res, design, pub)


def _short_term_tables(res: Results, design: Design, pub: Publication) -> str:
    horizon = months(design.knot_months, LANG)
    within = res.usable("change", "within_change", ("outcome", "arm", "programme", "n", "g_av"))
    if within is None:
        return missing_stage(res, "change", "The short-term change")
    within = _ordered(within[within["programme"] == "all"], design)

    def pairs(r: pd.Series) -> list[dict]:
        return [P.changed(res, design, str(r["outcome"]), str(r["arm"]), "all")]

    part1 = frame(
        within,
        [("Outcome", outcome_cell(design)), ("Arm", arm_cell(design)), ("n", lambda r: pub.count(pairs(r)[0])),
         ("Pre", _about(pub, pairs, x_cell("mean_pre"))), ("Post", _about(pub, pairs, x_cell("mean_post"))),
         ("Change", _about(pub, pairs, x_cell("mean_change"))), ("g_av", _about(pub, pairs, x_cell("g_av"))),
         ("95% CI", _about(pub, pairs, ci_cell()))],
        caption=f"Within-arm change from baseline to {horizon} (Hedges' g_av, Lakens 2013).",
    )  # fmt: skip
    if not design.has_comparison:
        return part1 + "\nThe study has no comparison group, so no difference in change between arms is reported.\n"
    arms = res.usable("change", "between_arms", ("outcome", "programme", "level_a", "level_b", "n_a", "n_b", "g"))
    if arms is None:
        return part1 + "\n" + missing_stage(res, "change", "The difference between arms")

    def groups(r: pd.Series) -> list[dict]:
        return [P.changed(res, design, str(r["outcome"]), str(r[level]), "all") for level in ("level_a", "level_b")]

    part2 = frame(
        _ordered(arms[arms["programme"] == "all"], design),
        [("Outcome", outcome_cell(design)), (f"n {arm_name(design, 'intervisie', LANG)}", lambda r: pub.count(groups(r)[0])),
         (f"n {arm_name(design, 'comparison', LANG)}", lambda r: pub.count(groups(r)[1])),
         ("Difference in change", _about(pub, groups, x_cell("mean_diff"))), ("g", _about(pub, groups, x_cell("g"))),
         ("95% CI", _about(pub, groups, ci_cell()))],
        caption=f"Intervisie vs comparison: difference in change at {horizon} (Hedges' g).",
    )  # fmt: skip
    return part1 + "\n" + part2


def growth_models(res: Results, design: Design, pub: Publication | None = None) -> str:
    """The section's heading and model, the accepted model per outcome, the effect terms, every singular fit."""
    pub = publication(res, design, pub)
    intro = methods_text.growth_intro(design) + "\n"
    structures = res.usable("growth", "structures", ("outcome", "status", "formula"))
    effects = res.usable("growth", "effects", ("outcome", "term", "estimate"))
    if structures is None or effects is None:
        return intro + missing_stage(res, "growth", "The growth models")
    accepted = structures[structures["status"] == "accepted"]
    terms = design.effect_terms()
    rows = _ordered(effects[effects["term"].isin(terms)], design)
    parts = [intro, "Fixed part (all outcomes): `" + str(accepted["formula"].iloc[0]).split(" + (")[0] + "`\n"
             if not accepted.empty else ""]  # fmt: skip
    parts.append(frame(
        _ordered(accepted, design),
        [("Outcome", outcome_cell(design)), ("Random part accepted", lambda r: " + ".join(
            "(" + p for p in str(r["formula"]).split(" + (")[1:]))],
        caption="Random-effects structure used per outcome (most complex non-singular one of params.yaml).",
        widths=[30, 60],
    ))  # fmt: skip
    horizon = months(design.knot_months, LANG)
    meaning = (f"short: {'difference in ' if design.has_comparison else ''}change over the first {horizon}"
               + (f"; long: {'difference in ' if design.has_comparison else ''}change per year after" if design.long_term
                  else ""))  # fmt: skip
    fitted = _fitted(pub)
    parts.append(frame(
        rows,
        [("Outcome", outcome_cell(design)), ("Term", lambda r: f"`{r['term']}`"),
         ("Estimate", _about(pub, fitted, x_cell("estimate", 3))), ("SE", _about(pub, fitted, x_cell("std_error", 3))),
         ("df", _about(pub, fitted, x_cell("df", 1))), ("p", _about(pub, fitted, p_cell())),
         ("95% CI", _about(pub, fitted, ci_cell(digits=3))), ("Std.", _about(pub, fitted, x_cell("std_estimate"))),
         ("n", lambda r: pub.count(fitted(r)[0])), ("Obs.", _about(pub, fitted, n_cell("n_obs")))],
        caption=f"Effect terms (REML, Satterthwaite df, as lmerTest). {meaning}; std.: divided by the baseline SD.",
    ))  # fmt: skip
    singular = structures[structures["status"] == "singular"]
    notes = "\n".join(f"- {outcome_name(design, r.outcome, LANG)}: {r.reason}" for r in singular.itertuples())
    parts.append("**Singular fits** (the next simpler structure was used):\n\n" + (notes or "- none") + "\n")
    moderation = res.usable("growth", "moderation", ("outcome", "terms", "p_val"))
    if moderation is not None and design.several_programmes:
        what = "programme x arm x time" if design.has_comparison else "programme x time"
        parts.append(frame(
            _ordered(moderation, design),
            [("Outcome", outcome_cell(design)), ("Terms tested", lambda r: f"`{r['terms']}`"),
             ("Chi-square", _about(pub, fitted, x_cell("chisq"))), ("df", lambda r: fmt.count(r["df"])),
             ("p", _about(pub, fitted, p_cell()))],
            caption=f"Does the {'effect' if design.has_comparison else 'change'} differ by programme? Likelihood-ratio "
            f"test of the {what} terms.",
        ))  # fmt: skip
    parts.append(random_effects(res, design, pub))
    return "\n".join(parts)


def _fitted(pub: Publication) -> Callable[[pd.Series], list[dict]]:
    """The participants of a row's growth model (a statistic about them needs their n published)."""
    return lambda r: [P.model(str(r["outcome"]))]


def random_effects(res: Results, design: Design, pub: Publication) -> str:
    """Variance components (as R's ``as.data.frame(VarCorr(m))``) and fit of each accepted growth model."""
    variances = res.usable("growth", "random_effects", ("outcome", "group", "term", "sd"))
    fits = res.usable("growth", "model_fit", ("outcome", "n_obs", "converged", "singular"))
    if variances is None or fits is None:
        return missing_stage(res, "growth", "The random effects of the growth models")
    fitted = _fitted(pub)
    level = {"participant": "participant", "group": "group (comparison: one per person)", "Residual": "residual"}
    if not design.has_comparison:
        level["group"] = "group"
    parts = [frame(
        _ordered(variances, design),
        [("Outcome", outcome_cell(design)), ("Level", lambda r: level.get(str(r["group"]), str(r["group"]))),
         ("Term", lambda r: "" if pd.isna(r["term"]) else f"`{r['term']}`" + (
             "" if pd.isna(r.get("term2")) else f" with `{r['term2']}`")),
         ("SD", _about(pub, fitted, lambda r: fmt.num(r["sd"], 3, LANG))),
         ("Corr.", lambda r: "" if pd.isna(r.get("corr")) else pub.statistic(fmt.num(r["corr"], 2, LANG), *fitted(r)))],
        caption="Random effects of the accepted models (REML): standard deviations and correlations.",
    )]  # fmt: skip
    participants = "n_participant" if "n_participant" in fits.columns else None
    parts.append(frame(
        _ordered(fits, design),
        [("Outcome", outcome_cell(design)), ("Obs.", _about(pub, fitted, n_cell("n_obs"))),
         ("Participants", (lambda r: pub.count(fitted(r)[0])) if participants else lambda r: fmt.NONE),
         ("Log-lik. (REML)", _about(pub, fitted, x_cell("loglik_reml", 1))), ("AIC", _about(pub, fitted, x_cell("aic", 1))),
         ("BIC", _about(pub, fitted, x_cell("bic", 1))),
         ("Converged", lambda r: "yes" if bool(r["converged"]) else "NO"),
         ("Singular", lambda r: "YES" if bool(r["singular"]) else "no")],
        caption="Diagnostics of the accepted models: convergence (lme4's gradient and Hessian checks) and "
        "singularity (lme4's isSingular).",
    ))  # fmt: skip
    return "\n".join(parts)
