"""The round-table handout ("Samen leren wat werkt"): factors, instruments, what a programme needs.

Each function returns Pandoc markdown for one section of ``reports/handout.qmd`` (Dutch by
default), read from finished results: ranked implementation factors and the Cox model of
leaving, reliability and responsiveness per instrument, and the sample sizes the study's own
variance estimates imply (``results/power``).
"""

from __future__ import annotations

import pandas as pd

from reporting import fmt
from reporting.board import direction_word, outcomes
from reporting.results import Results
from reporting.texts import factor_name, outcome_name, pick

#: Cox model terms (survival/cox.csv) in words
COX_TERMS = {
    "cbi_work_z": ("werkgerelateerde burn-out bij de start (per SD)", "work-related burnout at baseline (per SD)"),
    "coach_quality_z": ("kwaliteit van de coach (per SD)", "coach quality (per SD)"),
    "psysafety_z": ("psychologische veiligheid (per SD)", "psychological safety (per SD)"),
    "format_online": ("online in plaats van fysiek", "online rather than in person"),
    "programme_anios": ("a(n)ios (t.o.v. coschappen)", "residents (vs clerkships)"),
    "programme_buitenlandse_artsen": ("buitenlandse artsen (t.o.v. coschappen)", "foreign-trained doctors (vs clerkships)"),
}
#: responsiveness classes of the standardised response mean (Husted et al. 2000; Cohen 1988 bounds)
SRM_GOOD, SRM_FAIR = 0.5, 0.2


def _l(nl: str, en: str, lang: str) -> str:
    return pick((nl, en), lang)


def factors(res: Results, params: dict, lang: str) -> str:
    """Promoting and hindering factors, strongest evidence first, and the factors without a clear effect."""
    ranked = res.optional("implementation", "factors_ranked")
    if ranked is None or ranked.empty:
        return _l("*De analyse van de implementatiefactoren is nog niet beschikbaar.*\n",
                  "*The analysis of implementation factors is not available yet.*\n", lang)  # fmt: skip
    clear = ranked[ranked["direction"].isin(["promoting", "hindering"])].sort_values("p_val")
    rows = [
        [factor_name(str(r["factor"]), str(r["level"]), lang), outcome_name(str(r["outcome"]), lang),
         f"{fmt.num(r['effect'], 2, lang)} {fmt.ci(r['ci_low'], r['ci_high'], 2, lang)}",
         fmt.pval(r["p_val"], lang).removeprefix("p = ").removeprefix("p "),
         direction_word(str(r["direction"]), lang)]
        for _, r in clear.iterrows()
    ]  # fmt: skip
    table = fmt.table(
        [_l("Factor", "Factor", lang), _l("Uitkomst", "Outcome", lang), _l("Effect [95%-BI]", "Effect [95% CI]", lang),
         "p", _l("Werking", "Acts as", lang)],
        rows, align="llrrl", widths=[34, 28, 20, 10, 12],
        caption=_l("Factoren met een duidelijk effect, het sterkste bewijs (kleinste p) bovenaan. Effect: extra "
                   "verandering in de eerste 3 maanden in punten van de uitkomst per SD van de beoordeling; "
                   "positief = gunstig (bij burn-out: minder burn-out).",
                   "Factors with a clear effect, strongest evidence (smallest p) first. Effect: extra change over "
                   "the first 3 months in points of the outcome per SD of the rating; positive = favourable (for "
                   "burnout: less burnout).", lang),
    )  # fmt: skip
    unclear = sorted(set(ranked["factor"]) - set(clear["factor"]))
    names = ", ".join(factor_name(f, "", lang) for f in unclear)
    tail = _l(f"Geen duidelijk effect (BI bevat 0 voor elke uitkomst): {names}.",
              f"No clear effect (CI includes zero for every outcome): {names}.", lang) if unclear else ""  # fmt: skip
    return table + "\n" + tail + "\n"


def leaving(res: Results, lang: str) -> str:
    """What keeps participants in intervisie: the primary Cox model of leaving, in words."""
    cox = res.optional("survival", "cox")
    if cox is None or cox.empty:
        return _l("*De analyse van uitval is nog niet beschikbaar.*\n", "*The analysis of leaving is not available yet.*\n",
                  lang)  # fmt: skip
    primary = cox[cox["primary"].astype(bool)]
    rows = []
    for _, r in primary.iterrows():
        if r["ci_high"] < 1:
            word = _l("minder uitval", "less leaving", lang)
        elif r["ci_low"] > 1:
            word = _l("meer uitval", "more leaving", lang)
        else:
            word = _l("geen duidelijk verschil", "no clear difference", lang)
        name = pick(COX_TERMS[r["term"]], lang) if r["term"] in COX_TERMS else str(r["term"])
        rows.append([name, f"{fmt.num(r['hr'], 2, lang)} {fmt.ci(r['ci_low'], r['ci_high'], 2, lang)}", word])
    return fmt.table(
        [_l("Kenmerk", "Characteristic", lang), _l("Hazard ratio [95%-BI]", "Hazard ratio [95% CI]", lang),
         _l("Betekenis", "Meaning", lang)],
        rows, align="lrl", widths=[40, 24, 24],
        caption=_l("Wat houdt deelnemers in de groep? Coxmodel van stoppen met intervisie (HR onder 1: minder uitval).",
                   "What keeps participants in the group? Cox model of leaving intervisie (HR below 1: less leaving).",
                   lang),
    )  # fmt: skip


def instruments(res: Results, params: dict, lang: str) -> str:
    """Per outcome instrument: reliability at baseline, responsiveness (SRM in intervisie) and a verdict."""
    analyses = params.get("analyses", {})
    threshold = float(analyses.get("reliability_threshold", 0.7))
    reliability = res.table("reliability", "reliability")
    base = reliability[(reliability["programme"] == "all") & (reliability["wave"] == analyses.get("baseline", "t0"))]
    srm = res.table("change", "responsiveness")
    srm = srm[(srm["programme"] == "all") & (srm["arm"] == "intervisie")]
    rows = []
    for scale in outcomes(params):
        a = base.loc[base["scale"] == scale, "alpha"]
        s = srm[srm["outcome"] == scale]
        alpha = float(a.iloc[0]) if not a.empty else float("nan")
        value = float(s["srm"].iloc[0]) if not s.empty else float("nan")
        rows.append([outcome_name(scale, lang), fmt.num(alpha, 2, lang),
                     f"{fmt.num(value, 2, lang)} {fmt.ci(s['ci95_low'].iloc[0], s['ci95_high'].iloc[0], 2, lang)}"
                     if not s.empty else fmt.NONE,
                     verdict(alpha, value, threshold, lang)])  # fmt: skip
    return fmt.table(
        [_l("Uitkomst (instrument)", "Outcome (instrument)", lang), _l("Betrouwbaarheid (alfa)", "Reliability (alpha)", lang),
         _l("Gevoeligheid (SRM) [95%-BI]", "Responsiveness (SRM) [95% CI]", lang), _l("Oordeel", "Verdict", lang)],
        rows, align="lrrl", widths=[32, 16, 26, 30],
        caption=_l(
            f"Betrouwbaarheid bij de start (Cronbachs alfa; grens {fmt.num(threshold, 2, lang)}) en gevoeligheid voor "
            "verandering in de intervisiegroep na 3 maanden (standardised response mean: 0,2 matig, 0,5 goed).",
            f"Reliability at baseline (Cronbach's alpha; line {fmt.num(threshold, 2, lang)}) and responsiveness in the "
            "intervisie group after 3 months (standardised response mean: 0.2 fair, 0.5 good).", lang),
    )  # fmt: skip


def verdict(alpha: float, srm: float, threshold: float, lang: str) -> str:
    """Reliable and responsive? Alpha against ``threshold``; \\|SRM\\| >= 0.5 good, >= 0.2 fair (Husted et al. 2000)."""
    if pd.isna(alpha) or pd.isna(srm):
        return fmt.NONE
    if alpha < threshold:
        return _l("onvoldoende betrouwbaar", "not reliable enough", lang)
    if abs(srm) >= SRM_GOOD:
        return _l("betrouwbaar en gevoelig", "reliable and responsive", lang)
    if abs(srm) >= SRM_FAIR:
        return _l("betrouwbaar, matig gevoelig", "reliable, fairly responsive", lang)
    return _l("betrouwbaar, weinig gevoelig", "reliable, hardly responsive", lang)


def sample_sizes(res: Results, params: dict, lang: str) -> str:
    """Participants and groups per arm a programme needs, from the study's own variance estimates."""
    sizes = res.optional("power", "sample_size")
    components = res.optional("power", "components")
    if sizes is None or components is None:
        return _l("*De berekening van benodigde aantallen is nog niet beschikbaar.*\n",
                  "*The sample-size calculation is not available yet.*\n", lang)  # fmt: skip
    primary = params.get("analyses", {}).get("primary", [])
    part = sizes[sizes["outcome"].isin(primary)]
    horizon = {"short": ("3 maanden", "3 months"), "long": ("24 maanden", "24 months")}
    components = components.set_index(["outcome", "horizon"])
    rows = []
    for _, r in part.iterrows():
        d = f"d = {fmt.num(abs(r['effect_d']), 2, lang)}"
        basis = f"{_l('gevonden', 'observed', lang)}: {d}" if r["basis"] == "observed" else d
        term = horizon.get(str(r["horizon"]), (str(r["horizon"]), str(r["horizon"])))
        key = (r["outcome"], r["horizon"])
        icc = components.loc[key, "icc_change"] if key in components.index else float("nan")
        rows.append([outcome_name(str(r["outcome"]), lang), pick(term, lang), basis, fmt.num(icc, 2, lang),
                     fmt.pct(r["retention"], lang), fmt.count(r["n_enrol"]), fmt.count(r["groups_needed"])])  # fmt: skip
    alpha = float(sizes["alpha"].iloc[0]) if "alpha" in sizes else 0.05
    power = float(sizes["power"].iloc[0]) if "power" in sizes else 0.8
    table = fmt.table(
        [_l("Uitkomst", "Outcome", lang), _l("Termijn", "Horizon", lang), _l("Te vinden effect", "Effect to detect", lang),
         "ICC", _l("Behoud", "Retention", lang), _l("Deelnemers per arm", "Participants per arm", lang),
         _l("Groepen per arm", "Groups per arm", lang)],
        rows, align="llrrrrr", widths=[28, 12, 18, 8, 10, 14, 12],
        caption=_l(
            f"Benodigde aantallen (in te schrijven) voor een toets met alfa {fmt.num(alpha, 2, lang)} en power "
            f"{fmt.pct(power, lang)}, uit de eigen schattingen van deze studie: ICC = gelijkenis van verandering "
            "binnen een groep; behoud = aandeel dat de meting nog invult (uitval is meegerekend).",
            f"Numbers to enrol for a test at alpha {fmt.num(alpha, 2, lang)} with {fmt.pct(power, lang)} power, from "
            "this study's own estimates: ICC = similarity of change within a group; retention = share still "
            "answering (dropout is accounted for).", lang),
    )  # fmt: skip
    return table


def intro(lang: str) -> str:
    """Title and the three questions of the round table."""
    return _l(
        "# Samen leren wat werkt: intervisie in de opleiding\n\n"
        "Handout voor de rondetafel. Drie vragen, beantwoord met de gegevens van deze studie: welke factoren "
        "bevorderen of belemmeren intervisie, welke meetinstrumenten bleken betrouwbaar en gevoelig voor "
        "verandering, en wat heeft een programma nodig om effecten goed te meten?\n",
        "# Learning together what works: intervisie in medical training\n\n"
        "Handout for the round table. Three questions, answered with this study's data: which factors promote or "
        "hinder intervisie, which instruments proved reliable and sensitive to change, and what does a programme "
        "need to measure effects well?\n",
        lang,
    )


def heading(key: str, lang: str) -> str:
    """A section heading of the handout."""
    headings = {
        "factors": ("1. Wat bevordert en wat belemmert?", "1. What promotes and what hinders?"),
        "instruments": ("2. Welke instrumenten werken?", "2. Which instruments work?"),
        "needs": ("3. Wat heeft een programma nodig?", "3. What does a programme need?"),
    }
    return f"## {pick(headings[key], lang)}\n"


def needs(res: Results, params: dict, lang: str) -> str:
    """Waves and instruments a programme needs, from this study's results (bullets)."""
    analyses = params.get("analyses", {})
    metrics = res.metrics("quality")
    waves = analyses.get("waves", [])
    last = waves[-1] if waves else "t3"
    keep = metrics.get(f"retention_intervisie_{last}")
    return _l(
        f"- **Metingen**: de start, na 3 maanden (daar zit het grootste deel van het effect) en minstens één meting "
        f"daarna om te zien of het effect blijft; bij de laatste meting deed nog {fmt.pct(keep, lang)} van de "
        "intervisiegroep mee: reken op uitval.\n"
        "- **Instrumenten**: kies de instrumenten die hierboven *betrouwbaar en gevoelig* zijn.\n"
        "- **Vergelijkingsgroep**: zonder vergelijkingsgroep is niet te zeggen of verandering door intervisie komt.\n"
        "- **Aantallen**: deelnemers in dezelfde groep lijken op elkaar; de tabel rekent daarmee en met de uitval.\n",
        f"- **Waves**: baseline, 3 months (where most of the effect lies) and at least one wave after that to see "
        f"whether it lasts; at the last wave {fmt.pct(keep, lang)} of the intervisie group still took part: expect "
        "dropout.\n"
        "- **Instruments**: choose those marked *reliable and responsive* above.\n"
        "- **Comparison group**: without one, change cannot be attributed to intervisie.\n"
        "- **Numbers**: members of one group resemble each other; the table accounts for that and for dropout.\n",
        lang,
    )
