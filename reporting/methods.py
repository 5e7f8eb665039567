"""The methods appendix (English, technical): every table a methodologist needs to check the results.

Each function returns Pandoc markdown for one section of ``reports/methods.qmd``, read from the
finished result tables and named from the study's design; sections whose results are absent
say so (with the stage's reason) instead of failing.  Counts and statistics about fewer than
``min_cell`` people are hidden (``×``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pandas as pd

from pipeline.design import Design
from reporting import fmt, methods_text
from reporting.results import Results, absent
from reporting.suppress import Margin, suppress
from reporting.tables import between_arms, per_programme, response_flow
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


def flow(res: Results, design: Design) -> str:
    """Participants on the roster and answering each wave, per arm and programme."""
    if res.usable("quality", "response_flow", ("arm", "programme", "stage", "n")) is None:
        return missing_stage(res, "quality", "The response flow")
    table = response_flow(res)
    wide = table.pivot_table(index=["arm", "programme"], columns="stage", values="n", aggfunc="first", dropna=False)
    stages = [s for s in ("roster", *design.wave_ids) if s in wide.columns]
    rows = [
        [arm_name(design, arm, LANG), programme_name(design, programme, LANG),
         *(fmt.count(wide.loc[(arm, programme), s], hidden=pd.isna(wide.loc[(arm, programme), s])) for s in stages)]
        for arm, programme in sorted(wide.index, key=lambda k: (_index(design.arms, k[0]), _index(design.programmes, k[1])))
    ]  # fmt: skip
    headers = ["Roster" if s == "roster" else design.wave(s).label_en for s in stages]
    return fmt.table(["Arm", "Programme", *headers], rows, align="ll" + "r" * len(stages),
                     caption=f"Response flow: people on the roster and answering each wave (× = hidden, < {res.min_cell} "
                     "people).")  # fmt: skip


def missing_patterns(res: Results, design: Design) -> str:
    """Wave-response patterns (1 = answered, one digit per wave of the design) per arm, with disclosure control."""
    table = res.usable("quality", "missing_patterns", ("arm", "pattern", "n", "share"))
    if table is None:
        return missing_stage(res, "quality", "The missing-data patterns")
    table = table.copy()
    table["pattern"] = table["pattern"].astype(str).str.zfill(len(design.waves))
    shown = suppress(table, count="n", values=["share"], keys=("arm", "pattern"), margins=(Margin("pattern"),),
                     min_cell=res.min_cell)  # fmt: skip
    waves = "".join(f"`{w}`" if i == 0 else f"-`{w}`" for i, w in enumerate(design.wave_ids))
    return frame(
        shown,
        [("Arm", arm_cell(design)), (f"Pattern {waves}", lambda r: f"`{r['pattern']}`"), ("n", n_cell("n")),
         ("Share", lambda r: fmt.pct(r["share"], LANG, hidden=bool(r["suppressed"])))],
        caption="Missing-data patterns (one digit per wave, in order; 1 = wave answered).",
    )  # fmt: skip


def baseline_differences(res: Results, design: Design) -> str:
    """Completers vs dropouts at baseline (Welch t, Hedges' g)."""
    table = res.usable("quality", "baseline_differences", ("scale", "arm", "n_completers", "n_dropouts"))
    if table is None:
        return missing_stage(res, "quality", "The comparison of completers and dropouts")
    stats = [c for c in ("mean_completers", "sd_completers", "mean_dropouts", "sd_dropouts", "difference", "t_val", "df",
                         "p_val", "hedges_g") if c in table.columns]  # fmt: skip
    hidden = suppress(table, count="n_dropouts", values=stats, min_cell=res.min_cell)["suppressed"]
    hidden |= suppress(table, count="n_completers", values=stats, min_cell=res.min_cell)["suppressed"]
    table = table.assign(suppressed=hidden)
    table.loc[hidden, ["n_completers", "n_dropouts", *stats]] = float("nan")
    return frame(
        _ordered(table, design, "scale"),
        [("Scale", outcome_cell(design, "scale")), ("Arm", arm_cell(design)), ("n completers", n_cell("n_completers")),
         ("n dropouts", n_cell("n_dropouts")), ("Difference", x_cell("difference")), ("g", x_cell("hedges_g")), ("p", p_cell())],
        caption=f"Baseline scores of completers (answered the last wave, {design.wave(design.last_wave).label_en}) vs "
        "dropouts (difference = completers - dropouts).",
    )  # fmt: skip


def reliability(res: Results, design: Design) -> str:
    """Cronbach's alpha (Feldt CI) and omega at baseline (session ratings: over all sessions), with flagged cells."""
    table = res.usable("reliability", "reliability", ("scale", "wave", "programme", "alpha", "flag_below_threshold"))
    if table is None:
        return missing_stage(res, "reliability", "The reliability analysis")
    flagged = table.groupby("scale")["flag_below_threshold"].apply(lambda s: int(s.astype(bool).sum()))
    cells = table.groupby("scale").size()
    base = table[(table["programme"] == "all") & ((table["wave"] == design.baseline) | table["wave"].isna())]
    return frame(
        _ordered(base, design, "scale"),
        [("Scale", outcome_cell(design, "scale")), ("Items", lambda r: fmt.count(r["k"])), ("n", n_cell("n")),
         ("Alpha", x_cell("alpha")), ("95% CI", ci_cell()), ("Omega", x_cell("omega_total")),
         ("Min item-rest r", x_cell("min_r_item_rest")),
         ("Cells below line", lambda r: f"{flagged.get(r['scale'], 0)} of {cells.get(r['scale'], 0)}")],
        caption=f"Reliability at baseline ({design.wave(design.baseline).label_en}; session ratings: all sessions), all "
        "programmes (alpha with Feldt CI, McDonald's omega total); the last column counts wave x programme cells with "
        "alpha below the threshold in params.yaml.",
    )  # fmt: skip


def short_term(res: Results, design: Design) -> str:
    """The section's heading, within-arm change (g_av), the between-arm difference (g, with a comparison cohort)."""
    return methods_text.short_term_heading(design) + "\n" + _short_term_tables(res, design)


def _short_term_tables(res: Results, design: Design) -> str:
    horizon = months(design.knot_months, LANG)
    if res.usable("change", "within_change", ("outcome", "arm", "programme", "n", "g_av")) is None:
        return missing_stage(res, "change", "The short-term change")
    within = per_programme(res, "change", "within_change", n="n", keys=("outcome", "arm", "programme"),
                           values=["mean_pre", "mean_post", "mean_change", "g_av", "ci95_low", "ci95_high"])  # fmt: skip
    within = _ordered(within[within["programme"] == "all"], design)
    part1 = frame(
        within,
        [("Outcome", outcome_cell(design)), ("Arm", arm_cell(design)), ("n", n_cell("n")), ("Pre", x_cell("mean_pre")),
         ("Post", x_cell("mean_post")), ("Change", x_cell("mean_change")), ("g_av", x_cell("g_av")), ("95% CI", ci_cell())],
        caption=f"Within-arm change from baseline to {horizon} (Hedges' g_av, Lakens 2013).",
    )  # fmt: skip
    if not design.has_comparison:
        return part1 + "\nThe study has no comparison group, so no difference in change between arms is reported.\n"
    if res.usable("change", "between_arms", ("outcome", "programme", "n_a", "n_b", "g")) is None:
        return part1 + "\n" + missing_stage(res, "change", "The difference between arms")
    arms = between_arms(res)
    part2 = frame(
        _ordered(arms[arms["programme"] == "all"], design),
        [("Outcome", outcome_cell(design)), (f"n {arm_name(design, 'intervisie', LANG)}", n_cell("n_a")),
         (f"n {arm_name(design, 'comparison', LANG)}", n_cell("n_b")), ("Difference in change", x_cell("mean_diff")),
         ("g", x_cell("g")), ("95% CI", ci_cell())],
        caption=f"Intervisie vs comparison: difference in change at {horizon} (Hedges' g).",
    )  # fmt: skip
    return part1 + "\n" + part2


def growth_models(res: Results, design: Design) -> str:
    """The section's heading and model, the accepted model per outcome, the effect terms, every singular fit."""
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
    parts.append(frame(
        rows,
        [("Outcome", outcome_cell(design)), ("Term", lambda r: f"`{r['term']}`"), ("Estimate", x_cell("estimate", 3)),
         ("SE", x_cell("std_error", 3)), ("df", x_cell("df", 1)), ("p", p_cell()), ("95% CI", ci_cell(digits=3)),
         ("Std.", x_cell("std_estimate")), ("n", n_cell("n")), ("Obs.", n_cell("n_obs"))],
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
            [("Outcome", outcome_cell(design)), ("Terms tested", lambda r: f"`{r['terms']}`"), ("Chi-square", x_cell("chisq")),
             ("df", lambda r: fmt.count(r["df"])), ("p", p_cell())],
            caption=f"Does the {'effect' if design.has_comparison else 'change'} differ by programme? Likelihood-ratio "
            f"test of the {what} terms.",
        ))  # fmt: skip
    parts.append(random_effects(res, design))
    return "\n".join(parts)


def random_effects(res: Results, design: Design) -> str:
    """Variance components (as R's ``as.data.frame(VarCorr(m))``) and fit of each accepted growth model."""
    variances = res.usable("growth", "random_effects", ("outcome", "group", "term", "sd"))
    fits = res.usable("growth", "model_fit", ("outcome", "n_obs", "converged", "singular"))
    if variances is None or fits is None:
        return missing_stage(res, "growth", "The random effects of the growth models")
    level = {"participant": "participant", "group": "group (comparison: one per person)", "Residual": "residual"}
    if not design.has_comparison:
        level["group"] = "group"
    parts = [frame(
        _ordered(variances, design),
        [("Outcome", outcome_cell(design)), ("Level", lambda r: level.get(str(r["group"]), str(r["group"]))),
         ("Term", lambda r: "" if pd.isna(r["term"]) else f"`{r['term']}`" + (
             "" if pd.isna(r.get("term2")) else f" with `{r['term2']}`")),
         ("SD", lambda r: "" if pd.isna(r["sd"]) else fmt.num(r["sd"], 3, LANG)),
         ("Corr.", lambda r: "" if pd.isna(r.get("corr")) else fmt.num(r["corr"], 2, LANG))],
        caption="Random effects of the accepted models (REML): standard deviations and correlations.",
    )]  # fmt: skip
    participants = "n_participant" if "n_participant" in fits.columns else None
    parts.append(frame(
        _ordered(fits, design),
        [("Outcome", outcome_cell(design)), ("Obs.", n_cell("n_obs")),
         ("Participants", n_cell(participants) if participants else lambda r: fmt.NONE),
         ("Log-lik. (REML)", x_cell("loglik_reml", 1)), ("AIC", x_cell("aic", 1)), ("BIC", x_cell("bic", 1)),
         ("Converged", lambda r: "yes" if bool(r["converged"]) else "NO"),
         ("Singular", lambda r: "YES" if bool(r["singular"]) else "no")],
        caption="Diagnostics of the accepted models: convergence (lme4's gradient and Hessian checks) and "
        "singularity (lme4's isSingular).",
    ))  # fmt: skip
    return "\n".join(parts)
