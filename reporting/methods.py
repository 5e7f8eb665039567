"""The methods appendix (English, technical): every table a methodologist needs to check the results.

Each function returns Pandoc markdown for one section of ``reports/methods.qmd``, read from the
finished result tables; sections of stages that have not run say so instead of failing.
Counts and statistics about fewer than ``min_cell`` people are hidden (``×``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pandas as pd

from reporting import fmt
from reporting.results import Results
from reporting.suppress import Margin, suppress
from reporting.tables import between_arms, per_programme, response_flow
from reporting.texts import outcome_name, programme_name

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
    return "".join("r" if i and all(_NUMERIC.match(row[i]) for row in body) else "l" for i in range(n))


def missing_stage(stage: str) -> str:
    """The sentence a section prints when its stage has not run."""
    return f"*The `{stage}` stage has not written its results yet; this section fills in once it has run.*\n"


def n_cell(column: str) -> Callable[[pd.Series], str]:
    return lambda r: fmt.count(r[column], hidden=bool(r.get("suppressed", False)) and pd.isna(r[column]))


def x_cell(column: str, digits: int = 2) -> Callable[[pd.Series], str]:
    return lambda r: fmt.num(r[column], digits, LANG, hidden=bool(r.get("suppressed", False)) and pd.isna(r[column]))


def ci_cell(low: str = "ci95_low", high: str = "ci95_high", digits: int = 2) -> Callable[[pd.Series], str]:
    return lambda r: fmt.ci(r[low], r[high], digits, LANG, hidden=bool(r.get("suppressed", False)) and pd.isna(r[low]))


def p_cell(column: str = "p_val") -> Callable[[pd.Series], str]:
    return lambda r: fmt.pval(r[column], LANG).removeprefix("p = ").removeprefix("p ")


def outcome_cell(column: str = "outcome") -> Callable[[pd.Series], str]:
    return lambda r: outcome_name(str(r[column]), LANG)


def flow(res: Results) -> str:
    """Participants on the roster and answering each wave, per arm and programme."""
    table = response_flow(res)
    wide = table.pivot_table(index=["arm", "programme"], columns="stage", values="n", aggfunc="first", dropna=False)
    stages = [s for s in ("roster", "t0", "t1", "t2", "t3") if s in wide.columns]
    rows = [
        [arm, programme_name(programme, LANG), *(fmt.count(wide.loc[(arm, programme), s], hidden=pd.isna(wide.loc[(arm, programme), s]))
                           for s in stages)]
        for arm, programme in wide.index
    ]  # fmt: skip
    return fmt.table(["Arm", "Programme", *stages], rows, align="ll" + "r" * len(stages),
                     caption="Response flow: people on the roster and answering each wave (× = hidden, < 5 people).")  # fmt: skip


def missing_patterns(res: Results) -> str:
    """Wave-response patterns (1 = answered) per arm, with disclosure control."""
    table = res.table("quality", "missing_patterns")
    table["pattern"] = table["pattern"].astype(str).str.zfill(4)
    shown = suppress(table, count="n", values=["share"], keys=("arm", "pattern"), margins=(Margin("pattern"),),
                     min_cell=res.min_cell)  # fmt: skip
    return frame(
        shown,
        [("Arm", lambda r: str(r["arm"])), ("Pattern t0-t3", lambda r: f"`{r['pattern']}`"), ("n", n_cell("n")),
         ("Share", lambda r: fmt.pct(r["share"], LANG, hidden=bool(r["suppressed"])))],
        caption="Missing-data patterns (1 = wave answered).",
    )  # fmt: skip


def baseline_differences(res: Results) -> str:
    """Completers vs dropouts at baseline (Welch t, Hedges' g)."""
    table = res.table("quality", "baseline_differences")
    stats = ["mean_completers", "sd_completers", "mean_dropouts", "sd_dropouts", "difference", "t_val", "df", "p_val",
             "hedges_g"]  # fmt: skip
    hidden = suppress(table, count="n_dropouts", values=stats, min_cell=res.min_cell)["suppressed"]
    hidden |= suppress(table, count="n_completers", values=stats, min_cell=res.min_cell)["suppressed"]
    table = table.assign(suppressed=hidden)
    table.loc[hidden, ["n_completers", "n_dropouts", *stats]] = float("nan")
    return frame(
        table,
        [("Scale", outcome_cell("scale")), ("Arm", lambda r: str(r["arm"])), ("n completers", n_cell("n_completers")),
         ("n dropouts", n_cell("n_dropouts")), ("Difference", x_cell("difference")), ("g", x_cell("hedges_g")), ("p", p_cell())],
        caption="Baseline scores of completers vs dropouts (difference = completers - dropouts).",
    )  # fmt: skip


def reliability(res: Results, outcomes: list[str], baseline: str) -> str:
    """Cronbach's alpha (Feldt CI) and omega at baseline (session ratings: over all sessions), with flagged cells."""
    table = res.table("reliability", "reliability")
    flagged = table.groupby("scale")["flag_below_threshold"].apply(lambda s: int(s.astype(bool).sum()))
    cells = table.groupby("scale").size()
    base = table[(table["programme"] == "all") & ((table["wave"] == baseline) | table["wave"].isna())]
    base = base.set_index("scale").reindex([s for s in base["scale"] if s in outcomes] +
                                           [s for s in base["scale"] if s not in outcomes]).reset_index()  # fmt: skip
    return frame(
        base,
        [("Scale", outcome_cell("scale")), ("Items", lambda r: fmt.count(r["k"])), ("n", n_cell("n")), ("Alpha", x_cell("alpha")),
         ("95% CI", ci_cell()), ("Omega", x_cell("omega_total")), ("Min item-rest r", x_cell("min_r_item_rest")),
         ("Cells below line", lambda r: f"{flagged.get(r['scale'], 0)} of {cells.get(r['scale'], 0)}")],
        caption="Reliability at baseline (session ratings: all sessions), all programmes (alpha with Feldt CI, "
        "McDonald's omega total); the last column "
        "counts wave x programme cells with alpha below the threshold in params.yaml.",
    )  # fmt: skip


def short_term(res: Results, outcomes: list[str]) -> str:
    """Within-arm change (g_av), between-arm difference (g) and responsiveness (SRM), all programmes."""
    within = per_programme(res, "change", "within_change", n="n", keys=("outcome", "arm", "programme"),
                           values=["mean_pre", "mean_post", "mean_change", "g_av", "ci95_low", "ci95_high"])  # fmt: skip
    within = within[within["programme"] == "all"].copy()
    within["order"] = within["outcome"].map({o: i for i, o in enumerate(outcomes)})
    part1 = frame(
        within.sort_values(["order", "arm"]),
        [("Outcome", outcome_cell()), ("Arm", lambda r: str(r["arm"])), ("n", n_cell("n")), ("Pre", x_cell("mean_pre")),
         ("Post", x_cell("mean_post")), ("Change", x_cell("mean_change")), ("g_av", x_cell("g_av")), ("95% CI", ci_cell())],
        caption="Within-arm change baseline to 3 months (Hedges' g_av, Lakens 2013).",
    )  # fmt: skip
    arms = between_arms(res)
    arms = arms[arms["programme"] == "all"]
    part2 = frame(
        arms,
        [("Outcome", outcome_cell()), ("n intervisie", n_cell("n_a")), ("n comparison", n_cell("n_b")),
         ("Difference in change", x_cell("mean_diff")), ("g", x_cell("g")), ("95% CI", ci_cell())],
        caption="Intervisie vs comparison: difference in change at 3 months (Hedges' g).",
    )  # fmt: skip
    return part1 + "\n" + part2


def growth_models(res: Results, terms: list[str]) -> str:
    """The accepted model per outcome, the effect terms with Satterthwaite df, and every singular fit."""
    structures = res.table("growth", "structures")
    accepted = structures[structures["status"] == "accepted"]
    effects = res.table("growth", "effects")
    rows = effects[effects["term"].isin(terms)]
    parts = ["Fixed part (all outcomes): `" + str(accepted["formula"].iloc[0]).split(" + (")[0] + "`\n"
             if not accepted.empty else ""]  # fmt: skip
    parts.append(frame(
        accepted,
        [("Outcome", outcome_cell()), ("Random part accepted", lambda r: " + ".join(
            "(" + p for p in str(r["formula"]).split(" + (")[1:]))],
        caption="Random-effects structure used per outcome (most complex non-singular one of params.yaml).",
        widths=[30, 60],
    ))  # fmt: skip
    parts.append(frame(
        rows,
        [("Outcome", outcome_cell()), ("Term", lambda r: f"`{r['term']}`"), ("Estimate", x_cell("estimate", 3)),
         ("SE", x_cell("std_error", 3)), ("df", x_cell("df", 1)), ("p", p_cell()), ("95% CI", ci_cell(digits=3)),
         ("Std.", x_cell("std_estimate")), ("n", n_cell("n")), ("Obs.", n_cell("n_obs"))],
        caption="Effect terms (REML, Satterthwaite df, as lmerTest). short: change over the first 3 months; "
        "long: change per year after; std.: divided by the baseline SD.",
    ))  # fmt: skip
    singular = structures[structures["status"] == "singular"]
    notes = "\n".join(f"- {outcome_name(r.outcome, LANG)}: {r.reason}" for r in singular.itertuples())
    parts.append("**Singular fits** (the next simpler structure was used):\n\n" + (notes or "- none") + "\n")
    moderation = res.optional("growth", "moderation")
    if moderation is not None:
        parts.append(frame(
            moderation,
            [("Outcome", outcome_cell()), ("Terms tested", lambda r: f"`{r['terms']}`"), ("Chi-square", x_cell("chisq")),
             ("df", lambda r: fmt.count(r["df"])), ("p", p_cell())],
            caption="Does the effect differ by programme? Likelihood-ratio test of the programme x arm x time terms.",
        ))  # fmt: skip
    parts.append(random_effects(res))
    return "\n".join(parts)


def random_effects(res: Results) -> str:
    """Variance components (as R's ``as.data.frame(VarCorr(m))``) and fit of each accepted growth model."""
    variances = res.optional("growth", "random_effects")
    fits = res.optional("growth", "model_fit")
    if variances is None or fits is None:
        return missing_stage("growth")
    level = {"participant": "participant", "group": "group (comparison: one per person)", "Residual": "residual"}
    parts = [frame(
        variances,
        [("Outcome", outcome_cell()), ("Level", lambda r: level.get(str(r["group"]), str(r["group"]))),
         ("Term", lambda r: "" if pd.isna(r["term"]) else f"`{r['term']}`" + (
             "" if pd.isna(r["term2"]) else f" with `{r['term2']}`")),
         ("SD", lambda r: "" if pd.isna(r["sd"]) else fmt.num(r["sd"], 3, LANG)),
         ("Corr.", lambda r: "" if pd.isna(r["corr"]) else fmt.num(r["corr"], 2, LANG))],
        caption="Random effects of the accepted models (REML): standard deviations and correlations.",
    )]  # fmt: skip
    parts.append(frame(
        fits,
        [("Outcome", outcome_cell()), ("Obs.", n_cell("n_obs")), ("Participants", n_cell("n_participant")),
         ("Log-lik. (REML)", x_cell("loglik_reml", 1)), ("AIC", x_cell("aic", 1)), ("BIC", x_cell("bic", 1)),
         ("Converged", lambda r: "yes" if bool(r["converged"]) else "NO"),
         ("Singular", lambda r: "YES" if bool(r["singular"]) else "no")],
        caption="Diagnostics of the accepted models: convergence (lme4's gradient and Hessian checks) and "
        "singularity (lme4's isSingular).",
    ))  # fmt: skip
    return "\n".join(parts)
