"""The round-table handout ("Samen leren wat werkt"): factors, instruments, what a programme needs.

Each function returns Pandoc markdown for one section of ``reports/handout.qmd`` (Dutch by
default), read from finished results and named from the study's design: ranked implementation
factors and the Cox model of leaving, reliability and responsiveness per instrument, and the
sample sizes the study's own variance estimates imply (``results/power``) and the designs the
simulation of studies like it recommends (``results/plan``).  A section whose
results are absent prints one sentence instead.
"""

from __future__ import annotations

import re

import pandas as pd

from pipeline.design import Design
from reporting import cells_survival as C
from reporting import fmt
from reporting import populations as P
from reporting.board_tables import direction_word
from reporting.estimable import linear_reason, not_estimable, ratio_reason
from reporting.invariance_text import holds_text
from reporting.publish import Publication, publication
from reporting.results import Results, absent
from reporting.texts import factor_name, outcome_name, pick, programme_name, short_months, wave_months

#: responsiveness classes of the standardised response mean (Husted et al. 2000; Cohen 1988 bounds)
SRM_GOOD, SRM_FAIR = 0.5, 0.2
#: the canonical meeting formats of the roster (docs/canonical-form.md)
FORMATS = {"online": ("online in plaats van fysiek", "online rather than in person"),
           "in_person": ("fysiek in plaats van online", "in person rather than online")}  # fmt: skip
_PERIOD = re.compile(r"^(?P<term>.+)_months_(?P<start>[0-9.]+)_(?P<end>[0-9.]+|plus)$")


def _l(nl: str, en: str, lang: str) -> str:
    return pick((nl, en), lang)


def _stat(pub: Publication, pops: list[dict], reason: str | None, texts: list[str], lang: str) -> list[str]:
    """Spans of an estimate's cells: ``×`` unless every group is provably large enough, else "niet te schatten"."""
    pop, *also = pops
    if reason is not None and pub.shown(pop, *also):
        return [not_estimable(reason, lang), *(fmt.NONE for _ in texts[1:])]
    return [pub.statistic(text, pop, *also) for text in texts]


def factors(res: Results, design: Design, lang: str, pub: Publication | None = None) -> str:
    """Promoting and hindering factors, strongest evidence first, and the factors without a clear effect.

    The factors are estimated from all intervisie participants: nothing is shown unless that
    group is provably about ``min_cell`` people.
    """
    ranked = res.usable("implementation", "factors_ranked", ("factor", "level", "outcome", "direction", "p_val", "effect"))
    if ranked is None:
        return absent(res, "implementation", lang,
                      what=("De analyse van de implementatiefactoren", "The analysis of implementation factors"))  # fmt: skip
    pub = publication(res, design, pub)
    pop = C.implementation_population(design)
    clear = ranked[ranked["direction"].isin(["promoting", "hindering"])].sort_values("p_val")
    rows = []
    for _, r in clear.iterrows():
        reason = linear_reason(r["effect"], r.get("ci_low"), r.get("ci_high"))
        texts = [f"{fmt.num(r['effect'], 2, lang)} {fmt.ci(r['ci_low'], r['ci_high'], 2, lang)}",
                 fmt.pval(r["p_val"], lang).removeprefix("p = ").removeprefix("p "),
                 direction_word(str(r["direction"]), lang)]  # fmt: skip
        rows.append([factor_name(str(r["factor"]), str(r["level"]), lang), outcome_name(design, str(r["outcome"]), lang),
                     *_stat(pub, [pop], reason, texts, lang)])  # fmt: skip
    horizon = short_months(design, lang)
    table = fmt.table(
        [_l("Factor", "Factor", lang), _l("Uitkomst", "Outcome", lang), _l("Effect [95%-BI]", "Effect [95% CI]", lang),
         "p", _l("Werking", "Acts as", lang)],
        rows, align="llrrl", widths=[34, 28, 20, 10, 12],
        caption=_l("Factoren met een duidelijk effect, het sterkste bewijs (kleinste p) bovenaan. Effect: extra "
                   f"verandering in de eerste {horizon} in punten van de uitkomst per SD van de beoordeling; "
                   "positief = gunstig (ook waar een lagere score beter is).",
                   "Factors with a clear effect, strongest evidence (smallest p) first. Effect: extra change over "
                   f"the first {horizon} in points of the outcome per SD of the rating; positive = favourable (also "
                   "where a lower score is better).", lang),
    ) if rows else _l("Geen factor had een duidelijk effect.\n", "No factor had a clear effect.\n", lang)  # fmt: skip
    if not pub.shown(pop):  # which factors had a clear effect is itself a finding about these people
        return table + "\n"
    unclear = sorted(set(ranked["factor"]) - set(clear["factor"]))
    names = ", ".join(factor_name(f, "", lang) for f in unclear)
    tail = _l(f"Geen duidelijk effect (BI bevat 0 voor elke uitkomst): {names}.",
              f"No clear effect (CI includes zero for every outcome): {names}.", lang) if unclear else ""  # fmt: skip
    return table + "\n" + tail + "\n"


def cox_term(design: Design, term: str, terms: list[str], lang: str) -> str:
    """A Cox model term in words, named from the design (a term it does not know is printed as written).

    ``<scale>_z``: a baseline score (an outcome) or a group mean of ratings, per SD;
    ``programme_<id>``: the programme against the reference programme (the one without a term);
    ``format_<value>``: the meeting format; ``..._months_<a>_<b>``: the term in a period of follow-up.
    """
    period = ""
    match = _PERIOD.match(term)
    if match:
        term = match["term"]
        end = match["end"]
        period = (_l(f"; na {match['start']} maanden", f"; after {match['start']} months", lang) if end == "plus" else
                  _l(f"; {match['start']}-{end} maanden", f"; {match['start']}-{end} months", lang))  # fmt: skip
    base = [_PERIOD.match(t)["term"] if _PERIOD.match(t) else t for t in terms]
    if term.endswith("_z") and term.removesuffix("_z") in design.scales:
        scale = term.removesuffix("_z")
        name = outcome_name(design, scale, lang)
        if scale in design.outcomes():
            return _l(f"{name} bij de start (per SD)", f"{name} at baseline (per SD)", lang) + period
        return _l(f"{name}, groepsgemiddelde (per SD)", f"{name}, group mean (per SD)", lang) + period
    if term.startswith("programme_") and term.removeprefix("programme_") in design.programme_ids:
        named = {t.removeprefix("programme_") for t in base if t.startswith("programme_")}
        reference = [p for p in design.programme_ids if p not in named]
        name = programme_name(design, term.removeprefix("programme_"), lang)
        if len(reference) == 1:
            name += _l(f" (t.o.v. {programme_name(design, reference[0], 'nl')})",
                       f" (vs {programme_name(design, reference[0], 'en')})", lang)  # fmt: skip
        return name + period
    if term.startswith("format_") and term.removeprefix("format_") in FORMATS:
        return pick(FORMATS[term.removeprefix("format_")], lang) + period
    return term.replace("_", " ") + period


def leaving(res: Results, design: Design, lang: str, pub: Publication | None = None) -> str:
    """What keeps participants in intervisie: the primary Cox model of leaving, in words.

    A hazard ratio is shown only when the group it is about (its events, and the reference
    group's) is provably about ``min_cell`` people; a degenerate one reads "niet te schatten".
    """
    cox = res.usable("survival", "cox", ("term", "hr", "ci_low", "ci_high", "primary"))
    if cox is None:
        return absent(res, "survival", lang, what=("De analyse van uitval", "The analysis of leaving"))
    pub = publication(res, design, pub)
    frame = C.leaving(res)
    primary = cox[cox["primary"].astype(bool)]
    terms = [str(t) for t in primary["term"]]
    rows = []
    for _, r in primary.iterrows():
        if r["ci_high"] < 1:
            word = _l("minder uitval", "less leaving", lang)
        elif r["ci_low"] > 1:
            word = _l("meer uitval", "more leaving", lang)
        else:
            word = _l("geen duidelijk verschil", "no clear difference", lang)
        term = str(r["term"])
        match = C.PERIOD.match(term)
        period = (match["end"] if match["end"] == "plus" else "early") if match else ""
        pop, also = frame.term(term)
        reason = ratio_reason(r["hr"], r["ci_low"], r["ci_high"], events=r.get("events"), note=r.get("note"))
        texts = [f"{fmt.num(r['hr'], 2, lang)} {fmt.ci(r['ci_low'], r['ci_high'], 2, lang)}", word]
        rows.append([cox_term(design, term, terms, lang),
                     *_stat(pub, [pop, *also, frame.cox_events(period)], reason, texts, lang)])  # fmt: skip
    return fmt.table(
        [_l("Kenmerk", "Characteristic", lang), _l("Hazard ratio [95%-BI]", "Hazard ratio [95% CI]", lang),
         _l("Betekenis", "Meaning", lang)],
        rows, align="lrl", widths=[40, 24, 24],
        caption=_l("Wat houdt deelnemers in de groep? Coxmodel van stoppen met intervisie (HR onder 1: minder uitval; "
                   "× = verborgen: over te weinig mensen of gebeurtenissen).",
                   "What keeps participants in the group? Cox model of leaving intervisie (HR below 1: less leaving; "
                   "× = hidden: about too few people or events).", lang),
    )  # fmt: skip


def instruments(res: Results, design: Design, params: dict, lang: str, pub: Publication | None = None) -> str:
    """Per outcome instrument: reliability at baseline, responsiveness (SRM in intervisie) and a verdict.

    Alpha is about those in the reliability analysis, the SRM about the intervisie participants
    with both scores: each is shown only when its group is provably about ``min_cell`` people.
    """
    threshold = float((params.get("analyses") or {}).get("reliability_threshold", 0.7))
    reliability = res.usable("reliability", "reliability", ("scale", "wave", "programme", "alpha"))
    srm = res.usable("change", "responsiveness", ("outcome", "arm", "programme", "srm", "ci95_low", "ci95_high"))
    if reliability is None and srm is None:
        return absent(res, "reliability", lang, what=("De beoordeling van de instrumenten", "The appraisal of the instruments"))
    base = (reliability[(reliability["programme"] == "all") & (reliability["wave"] == design.baseline)]
            if reliability is not None else pd.DataFrame(columns=["scale", "alpha"]))  # fmt: skip
    srm = (srm[(srm["programme"] == "all") & (srm["arm"] == "intervisie")] if srm is not None
           else pd.DataFrame(columns=["outcome", "srm", "ci95_low", "ci95_high"]))  # fmt: skip
    pub = publication(res, design, pub)
    rows = []
    for scale in design.outcomes():
        a = base.loc[base["scale"] == scale, "alpha"]
        s = srm[srm["outcome"] == scale]
        alpha = float(a.iloc[0]) if not a.empty else float("nan")
        value = float(s["srm"].iloc[0]) if not s.empty else float("nan")
        alpha_pop = P.alpha(scale) if not a.empty else None
        srm_pop = P.changed(res, design, scale, C.INTERVISIE, None) if not s.empty and design.short_term else None
        groups = [g for g in (alpha_pop, srm_pop) if g is not None]
        srm_text = (f"{fmt.num(value, 2, lang)} {fmt.ci(s['ci95_low'].iloc[0], s['ci95_high'].iloc[0], 2, lang)}"
                    if not s.empty else fmt.NONE)  # fmt: skip
        rows.append([outcome_name(design, scale, lang),
                     pub.statistic(fmt.num(alpha, 2, lang), alpha_pop) if alpha_pop else fmt.NONE,
                     pub.statistic(srm_text, srm_pop) if srm_pop else fmt.NONE,
                     pub.statistic(verdict(alpha, value, threshold, lang), *groups) if groups else fmt.NONE,
                     holds_text(res, design, scale, lang, pub)])  # fmt: skip
    horizon = short_months(design, lang)
    return fmt.table(
        [_l("Uitkomst (instrument)", "Outcome (instrument)", lang), _l("Betrouwbaarheid (alfa)", "Reliability (alpha)", lang),
         _l("Gevoeligheid (SRM) [95%-BI]", "Responsiveness (SRM) [95% CI]", lang), _l("Oordeel", "Verdict", lang),
         _l("Meet hetzelfde", "Measures the same", lang)],
        rows, align="lrrll", widths=[24, 12, 20, 20, 24],
        caption=_l(
            f"Betrouwbaarheid bij de start (Cronbachs alfa; grens {fmt.num(threshold, 2, lang)}) en gevoeligheid voor "
            f"verandering in de intervisiegroep na {horizon} (standardised response mean: 0,2 matig, 0,5 goed).",
            f"Reliability at baseline (Cronbach's alpha; line {fmt.num(threshold, 2, lang)}) and responsiveness in the "
            f"intervisie group after {horizon} (standardised response mean: 0.2 fair, 0.5 good).", lang) + _l(
            " Meet hetzelfde: meetinvariantie (factoranalyse); 'gelijk' = dezelfde ladingen en startwaarden, zodat "
            "verschillen tussen metingen of programma's te vergelijken zijn.",
            " Measures the same: measurement invariance (factor analysis); 'same' = equal loadings and intercepts, so "
            "differences between waves or programmes can be compared.", lang),
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


def sample_sizes(res: Results, design: Design, lang: str, pub: Publication | None = None) -> str:
    """Participants and groups per arm a programme needs, from the study's own variance estimates.

    One block of rows per horizon the design has: the short-term wave, and the last wave when it
    comes later (a two-wave design has no long-term rows).  Every number rests on the study's own
    estimates (SD, ICC, retention of each arm): shown only when each arm is provably about
    ``min_cell`` people.
    """
    sizes = res.usable("power", "sample_size", ("outcome", "horizon", "wave", "basis", "effect_d", "n_enrol"))
    if sizes is None:
        return absent(res, "power", lang, what=("De berekening van benodigde aantallen", "The sample-size calculation"))
    components = res.usable("power", "components", ("outcome", "horizon", "icc_change"))
    horizons = ["short", "long"] if design.long_term else ["short"]
    part = sizes[sizes["outcome"].isin(design.primary) & sizes["horizon"].isin(horizons)]
    icc = components.set_index(["outcome", "horizon"])["icc_change"] if components is not None else pd.Series(dtype=float)
    pub = publication(res, design, pub)
    arms = [P.roster(a.id) for a in design.arms]
    rows = []
    for _, r in part.iterrows():
        d = f"d = {fmt.num(abs(r['effect_d']), 2, lang)}"
        basis = f"{_l('gevonden', 'observed', lang)}: {pub.statistic(d, *arms)}" if r["basis"] == "observed" else d
        wave = str(r["wave"])
        when = wave_months(design, wave, lang) if wave in design.wave_ids else wave
        key = (r["outcome"], r["horizon"])
        numbers = [fmt.num(icc.get(key, float("nan")), 2, lang), fmt.pct(r.get("retention"), lang),
                   fmt.count(r["n_enrol"]), fmt.count(r.get("groups_needed"))]  # fmt: skip
        rows.append([outcome_name(design, str(r["outcome"]), lang), when, basis,
                     *(pub.statistic(text, *arms) for text in numbers)])  # fmt: skip
    per_arm = " per arm" if design.has_comparison else ""
    within = "" if design.has_comparison else _l(
        " Zonder vergelijkingsgroep gaat het om verandering binnen één groep (voor-na); om een effect van intervisie "
        "aan te tonen is een vergelijkingsgroep nodig.",
        " Without a comparison group these are for change within one group (before-after); showing an effect of "
        "intervisie needs a comparison group.", lang)  # fmt: skip
    alpha = float(sizes["alpha"].iloc[0]) if "alpha" in sizes else 0.05
    power = float(sizes["power"].iloc[0]) if "power" in sizes else 0.8
    return fmt.table(
        [_l("Uitkomst", "Outcome", lang), _l("Termijn", "Horizon", lang), _l("Te vinden effect", "Effect to detect", lang),
         "ICC", _l("Behoud", "Retention", lang), _l("Deelnemers", "Participants", lang) + per_arm,
         _l("Groepen", "Groups", lang) + per_arm],
        rows, align="llrrrrr", widths=[28, 12, 18, 8, 10, 14, 12],
        caption=_l(
            f"Benodigde aantallen (in te schrijven) voor een toets met alfa {fmt.num(alpha, 2, lang)} en power "
            f"{fmt.pct(power, lang)}, uit de eigen schattingen van deze studie: ICC = gelijkenis van verandering "
            "binnen een groep; behoud = aandeel dat de meting nog invult (uitval is meegerekend).",
            f"Numbers to enrol for a test at alpha {fmt.num(alpha, 2, lang)} with {fmt.pct(power, lang)} power, from "
            "this study's own estimates: ICC = similarity of change within a group; retention = share still "
            "answering (dropout is accounted for).", lang) + within,
    )  # fmt: skip


def _design_words(groups: int, size: int, n_comparison: int, has_comparison: bool, lang: str) -> str:
    """``12 groepen van 8 per arm`` (balanced arms), ``... en 40 vergelijkingsdeelnemers``, ``12 groepen van 8``."""
    base = _l(f"{groups} groepen van {size}", f"{groups} groups of {size}", lang)
    if not has_comparison or n_comparison <= 0:
        return base
    if n_comparison == groups * size:
        return base + _l(" per arm", " per arm", lang)
    return base + _l(f" en {n_comparison} vergelijkingsdeelnemers", f" and {n_comparison} comparison participants", lang)


def simulated_designs(res: Results, design: Design, lang: str, pub: Publication | None = None) -> str:
    """Per effect size, the smallest simulated design that finds it with the target power (``results/plan``).

    The plan stage simulated studies from this study's own estimates (variances, ICC of change,
    retention) and fitted the growth model to each; ``handout.csv`` holds, per short-term effect,
    the smallest design of its grid reaching the target power (or the largest when none does),
    its simulated power with the Wilson 95% interval and the closed-form power of the same design.
    The inputs are estimates about both arms, so each number is shown only when the sample-size
    table's are (:func:`sample_sizes`): each arm provably at least ``min_cell`` people.
    """
    columns = ("effect_short", "groups_per_arm", "group_size", "power", "power_low", "power_high",
               "power_closed_form", "n_comparison", "studies", "target_power", "reached")  # fmt: skip
    plan = res.usable("plan", "handout", columns)
    if plan is None:
        return absent(res, "plan", lang, what=("De simulatie van ontwerpen", "The simulation of designs"))
    pub = publication(res, design, pub)
    arms = [P.roster(a.id) for a in design.arms]
    rows, sentences = [], []
    for _, r in plan.iterrows():
        words = _design_words(int(r["groups_per_arm"]), int(r["group_size"]), int(r["n_comparison"]),
                              design.has_comparison, lang)  # fmt: skip
        d = fmt.num(r["effect_short"], 2, lang)
        k = round(float(r["power"]) * 10)
        interval = f"{fmt.pct(r['power_low'], lang)}-{fmt.pct(r['power_high'], lang)}"
        numbers = [fmt.pct(r["power"], lang) + f" ({interval})", fmt.pct(r["power_closed_form"], lang)]
        rows.append([f"d = {d}", words, *(pub.statistic(text, *arms) for text in numbers)])
        if bool(r["reached"]) and pub.shown(*arms):
            sentences.append(_l(f"Met {words} wordt een effect van {d} SD op korte termijn {k} van de 10 keer gevonden.",
                                f"With {words}, a short-term effect of {d} SD is found {k} times in 10.", lang))  # fmt: skip
    studies, target = int(plan["studies"].iloc[0]), float(plan["target_power"].iloc[0])
    table = fmt.table(
        [_l("Te vinden effect", "Effect to detect", lang), _l("Kleinste ontwerp", "Smallest design", lang),
         _l("Power, gesimuleerd (95%-BI)", "Power, simulated (95% CI)", lang), _l("Power, formule", "Power, formula", lang)],
        rows, align="llrr", widths=[18, 40, 26, 16],
        caption=_l(
            f"Gesimuleerd: per ontwerp {studies} studies getrokken uit de schattingen van deze studie en elk geanalyseerd "
            f"met hetzelfde groeimodel; het kleinste ontwerp met power {fmt.pct(target, lang)} (of het grootste "
            "gesimuleerde als geen ontwerp die haalt). Effect in SD van de verandering tot de kortetermijnmeting; "
            "de formule is die van de tabel hierboven.",
            f"Simulated: per design {studies} studies drawn from this study's estimates, each analysed with the same "
            f"growth model; the smallest design with {fmt.pct(target, lang)} power (or the largest simulated when none "
            "reaches it). Effects in SDs of the change to the short-term wave; the formula is the table's above.", lang))  # fmt: skip
    return table + ("\n" + " ".join(sentences) + "\n" if sentences else "")


def intro(design: Design, lang: str) -> str:
    """Title (the study's) and the three questions of the round table."""
    return f"# {design.title}\n\n" + _l(
        "**Samen leren wat werkt.** Handout voor de rondetafel. Drie vragen, beantwoord met de gegevens van deze "
        "studie: welke factoren bevorderen of belemmeren intervisie, welke meetinstrumenten bleken betrouwbaar en "
        "gevoelig voor verandering, en wat heeft een programma nodig om effecten goed te meten?\n",
        "**Learning together what works.** Handout for the round table. Three questions, answered with this study's "
        "data: which factors promote or hinder intervisie, which instruments proved reliable and sensitive to change, "
        "and what does a programme need to measure effects well?\n",
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


def _retention(res: Results, design: Design, lang: str, pub: Publication | None) -> str | None:
    """The share of the intervisie arm that answered the last wave (a span), or None when not published."""
    if res.metrics("quality").get(f"retention_{C.INTERVISIE}_{design.last_wave}") is None:
        return None
    pub = publication(res, design, pub)
    try:
        return pub.share(P.answered(C.INTERVISIE, None, design.last_wave), P.roster(C.INTERVISIE), lang)
    except KeyError:  # the response flow was not published: no share of it either
        return None


def needs(res: Results, design: Design, lang: str, pub: Publication | None = None) -> str:
    """Waves, instruments, a comparison group and numbers a programme needs, from this study (bullets)."""
    horizon = short_months(design, lang)
    keep = _retention(res, design, lang, pub)
    last = wave_months(design, design.last_wave, lang)
    kept = "" if keep is None else _l(
        f"; bij de laatste meting ({last}) deed nog {keep} van de intervisiegroep mee: reken op uitval",
        f"; at the last wave ({last}) {keep} of the intervisie group still took part: expect dropout", lang)  # fmt: skip
    if design.long_term:
        waves = _l(f"- **Metingen**: de start, na {horizon} en minstens één meting daarna om te zien of het effect blijft{kept}.\n",
                   f"- **Waves**: baseline, {horizon} and at least one wave after that to see whether the effect lasts{kept}.\n",
                   lang)  # fmt: skip
    else:
        waves = _l(f"- **Metingen**: deze studie mat alleen bij de start en na {horizon}; zonder latere meting is niet te "
                   f"zien of het effect blijft{kept}.\n",
                   f"- **Waves**: this study measured only at baseline and after {horizon}; without a later wave it cannot "
                   f"show whether the effect lasts{kept}.\n", lang)  # fmt: skip
    comparison = (
        _l("- **Vergelijkingsgroep**: zonder vergelijkingsgroep is niet te zeggen of verandering door intervisie komt.\n",
           "- **Comparison group**: without one, change cannot be attributed to intervisie.\n", lang)
        if design.has_comparison else
        _l("- **Vergelijkingsgroep**: deze studie had er geen, dus is niet te zeggen of de verandering door intervisie "
           "komt; een volgende meting heeft er een nodig.\n",
           "- **Comparison group**: this study had none, so the change cannot be attributed to intervisie; a next "
           "study needs one.\n", lang)
    )  # fmt: skip
    if design.has_comparison and not design.randomised:
        comparison += _l(
            "- **Loting**: in deze studie kozen deelnemers zelf; de verschillen zijn daarom gecorrigeerd voor wat bij de "
            "start gemeten is, maar blijven samenhang. Wie wil weten of intervisie werkt, loot groepen (of deelnemers) "
            "toe en legt vooraf vast wat bij de start gemeten wordt (zoals opleidingsjaar).\n",
            "- **Allocation**: in this study participants chose themselves; the differences are therefore adjusted for "
            "what was measured at the start, but remain associations. To learn whether intervisie works, allocate groups "
            "(or participants) at random and record beforehand what is measured at the start (such as year of "
            "training).\n", lang)  # fmt: skip
    return waves + _l(
        "- **Instrumenten**: kies de instrumenten die hierboven *betrouwbaar en gevoelig* zijn.\n",
        "- **Instruments**: choose those marked *reliable and responsive* above.\n", lang) + comparison + _l(
        "- **Aantallen**: deelnemers in dezelfde groep lijken op elkaar; de tabel rekent daarmee en met de uitval.\n",
        "- **Numbers**: members of one group resemble each other; the table accounts for that and for dropout.\n", lang)  # fmt: skip
