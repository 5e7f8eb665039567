"""Mechanisms: the mediation section of the methods appendix and the board's one sentence.

Reads the mediation stage's ``mediation.csv`` (:mod:`intervisie.stages.mediation`); nothing is
estimated here.  Every estimate is printed through the document's
:class:`~reporting.publish.Publication` as a statistic about those of each arm with the outcome's
baseline and short-term scores (:func:`reporting.populations.changed`; and the mediator's, when
the mediator is an outcome of the study too), the catalogue populations that contain the people
of the mediation models.  The models use a subset of them (those with all four scores), so a
row is also hidden whole when either arm of that subset holds fewer than ``min_cell`` people.
"""

from __future__ import annotations

import pandas as pd

from pipeline.design import Design
from reporting import fmt
from reporting import populations as P
from reporting.methods import LANG, frame, missing_stage
from reporting.publish import Publication, publication
from reporting.results import Results
from reporting.texts import arm_name, join_words, months, outcome_name, wave_name

COLUMNS = ("mediator", "outcome", "wave", "effect", "estimate", "ci95_low", "ci95_high", "n_a", "n_b")
WEIGHTING = {
    "none": "unweighted (the arms were randomised)",
    "ato": "weighted by the overlap weights of the adjusted short-term effect (see the section on confounding)",
    "att": "weighted by the ATT weights of the adjusted short-term effect (see the section on confounding)",
    "ate": "weighted by the inverse probability weights of the adjusted short-term effect (see the section on "
           "confounding)",
}  # fmt: skip


def _populations(res: Results, design: Design, mediator: str, outcome: str) -> list[dict]:
    scales = [outcome] + ([mediator] if mediator in design.outcomes() else [])
    return [P.changed(res, design, s, arm, "all") for s in scales for arm in ("intervisie", "comparison")]


def _small(part: pd.DataFrame, min_cell: int) -> bool:
    sizes = pd.to_numeric(part[["n_a", "n_b"]].stack(), errors="coerce")
    return bool(sizes.isna().any() or (sizes < min_cell).any())


def _cell(pub: Publication, pops: list[dict], row: pd.Series | None, hidden: bool, digits: int = 2,
          lang: str = LANG) -> str:  # fmt: skip
    if row is None or pd.isna(row["estimate"]):
        return fmt.NONE
    text = fmt.HIDDEN if hidden else \
        f"{fmt.num(row['estimate'], digits, lang)} {fmt.ci(row['ci95_low'], row['ci95_high'], digits, lang)}"  # fmt: skip
    return pub.statistic(text, *pops)


def _methods_text(design: Design, table: pd.DataFrame) -> str:
    weighting = str(table["weighting"].dropna().iloc[0]) if "weighting" in table and table["weighting"].notna().any() else "none"
    draws = int(table["draws"].dropna().iloc[0]) if "draws" in table and table["draws"].notna().any() else 0
    covariates = [c.label_en for c in design.covariates]
    adjust = ["the mediator's and the outcome's baseline scores"] + (["the programme"] if design.several_programmes else [])
    short = months(design.knot_months, LANG)
    return (
        "**Question.** Does the effect of intervisie on an outcome at a later wave run through the change in a "
        f"mediator over the first {short}? **Models** (linear, fitted to those with both scores of the mediator and "
        f"of the outcome, {WEIGHTING.get(weighting, weighting)}), adjusted for {join_words(adjust + covariates, LANG)}: "
        f"the *a-path* regresses the mediator at {short} on the arm (the effect of intervisie on the mediator's "
        "short-term change); the *b-path* regresses the outcome at the later wave on the mediator at "
        f"{short} and the arm (the association of the mediator's change with the outcome's change, and the "
        "*direct effect*, the arm's coefficient); the *total effect* regresses the outcome on the arm alone. The "
        "*indirect effect* is a × b; with the same people, weights and adjustment in every model, total = direct + "
        "indirect exactly. Standard errors are cluster-robust by intervisie group (CR2, a comparison participant is "
        "a cluster of one) with t intervals on Satterthwaite degrees of freedom (Bell & McCaffrey 2002; Pustejovsky "
        f"& Tipton 2018). The indirect effect's 95% interval is the Monte Carlo interval ({draws} seeded draws of a "
        "and b from their estimated sampling distributions; Preacher & Selig 2012); the proportion mediated "
        "(indirect ÷ total) is given only with its Monte Carlo interval, because it is unstable whenever the total "
        "effect is near zero.\n\n"
        "**What it rests on.** The indirect effect is a causal mechanism only if nothing unmeasured drives both the "
        "mediator's change and the outcome's change. Randomisation does not guarantee this: someone whose reflection "
        "grows for another reason (a supervisor, a change of rotation, a life event) may also burn out less, and "
        "the b-path would then credit intervisie with a path it did not cause. The a-path and the total effect are "
        "causal only after randomisation, or, without it, if the weights balance everything that drove joining. "
        "Neither assumption can be checked from these data; the estimates say how the effect divides *if* they "
        "hold (VanderWeele 2015; Imai, Keele & Tingley 2010).\n"
    )


def mediation(res: Results, design: Design, pub: Publication | None = None) -> str:
    """The section: the models, their assumption in plain words, and one table row per mediator, outcome and wave."""
    pub = publication(res, design, pub)
    table = res.usable("mediation", "mediation", COLUMNS)
    if table is None:
        return missing_stage(res, "mediation", "The mediation analysis")
    table = table[table["estimate"].notna()]
    if table.empty:
        return ("No mediation model could be estimated for this study; the reasons are listed under "
                "\"Analyses left out\".\n")  # fmt: skip
    rows = []
    for (mediator, outcome, wave), part in table.groupby(["mediator", "outcome", "wave"], sort=False):
        effects = {str(r["effect"]): r for _, r in part.iterrows()}
        rows.append({"mediator": mediator, "outcome": outcome, "wave": wave, "effects": effects,
                     "hidden": _small(part, res.min_cell),
                     "pops": _populations(res, design, str(mediator), str(outcome))})  # fmt: skip
    wide = pd.DataFrame(rows)

    def cell(effect: str, digits: int = 2):
        return lambda r: _cell(pub, r["pops"], r["effects"].get(effect), bool(r["hidden"]), digits)

    columns = [
        ("Mediator", lambda r: outcome_name(design, str(r["mediator"]), LANG)),
        ("Outcome", lambda r: outcome_name(design, str(r["outcome"]), LANG)),
        ("At", lambda r: wave_name(design, str(r["wave"]), LANG)),
        ("a [95% CI]", cell("a")),
        ("b [95% CI]", cell("b", 3)),
        ("Indirect a × b [95% MC CI]", cell("indirect")),
        ("Direct [95% CI]", cell("direct")),
        ("Total [95% CI]", cell("total")),
        ("Proportion mediated [95% MC CI]", cell("proportion")),
    ]
    intervisie, comparison = (arm_name(design, a, LANG) for a in ("intervisie", "comparison"))
    caption = (f"Mediation of the effect of intervisie ({intervisie} − {comparison}) on each outcome at a later wave "
               f"by the mediator's change over the first {months(design.knot_months, LANG)}, in score points "
               "(a: mediator points; b: outcome points per mediator point). MC CI: Monte Carlo interval. Rows about "
               f"fewer than {res.min_cell} people in an arm are hidden (×).")  # fmt: skip
    notes = [f"{outcome_name(design, str(m), LANG)} → {outcome_name(design, str(o), LANG)}: {n}"
             for (m, o), n in table.groupby(["mediator", "outcome"], sort=False)["note"].first().items()
             if isinstance(n, str) and n.strip()] if "note" in table else []  # fmt: skip
    text = _methods_text(design, table) + "\n" + frame(wide, columns, caption=caption)
    if notes:
        text += "\nNotes of the estimation: " + "; ".join(dict.fromkeys(notes)) + ".\n"
    return text


def board_sentence(res: Results, design: Design, pub: Publication, lang: str) -> str:
    """One sentence for the board: the first primary outcome's indirect effect at the last wave, or nothing."""
    table = res.usable("mediation", "mediation", COLUMNS)
    if table is None:
        return ""
    last = design.last_wave
    hit = table[(table["effect"] == "indirect") & (table["wave"] == last) & table["estimate"].notna()
                & table["outcome"].isin(design.primary)]  # fmt: skip
    if hit.empty:
        return ""
    row = hit.iloc[0]
    part = table[(table["mediator"] == row["mediator"]) & (table["outcome"] == row["outcome"]) & (table["wave"] == last)]
    pops = _populations(res, design, str(row["mediator"]), str(row["outcome"]))
    value = _cell(pub, pops, row, _small(part, res.min_cell), lang=lang)
    mediator, outcome = (outcome_name(design, str(row[k]), lang) for k in ("mediator", "outcome"))
    clear = bool(row["ci95_low"] > 0 or row["ci95_high"] < 0)
    where = f"{wave_name(design, last, lang)}: {value}"
    if lang == "nl":
        what = "het effect" if design.randomised else "de samenhang"
        claim = (f"een deel van {what} lijkt via de verandering in {mediator} te lopen" if clear
                 else f"het is niet aangetoond dat {what} via de verandering in {mediator} loopt")  # fmt: skip
        return (f"Werkingsmechanisme: {claim} (indirect deel, {outcome}, {where}; dit veronderstelt dat niets "
                "ongemeten zowel die verandering als de uitkomst beïnvloedt).")  # fmt: skip
    what = "the effect" if design.randomised else "the association"
    claim = (f"part of {what} appears to run through the change in {mediator}" if clear
             else f"it is not shown that {what} runs through the change in {mediator}")  # fmt: skip
    return (f"Mechanism: {claim} (indirect part, {outcome}, {where}; this assumes that nothing unmeasured drives both "
            "that change and the outcome).")  # fmt: skip
