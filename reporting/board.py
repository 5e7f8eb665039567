"""The programme board report: the answer first, in plain Dutch (or English), from finished results.

Each function returns Pandoc markdown for one section of ``reports/board.qmd``; the document's
cells print them (``output: asis``).  Every sentence that depends on the study is made from its
:class:`~pipeline.design.Design` (title, programmes, waves, arms, outcome names and directions)
and from the result tables as written; a section whose results are absent says so in one
sentence.  The tables are in :mod:`reporting.board_tables`.
"""

from __future__ import annotations

import pandas as pd

from pipeline.design import Design
from reporting import fmt
from reporting import populations as P
from reporting.effects import Effect, long_term_effect, needed_sizes, short_term_effect
from reporting.mediation_text import board_sentence
from reporting.publish import Publication, publication
from reporting.results import Results, absent, beneficial, reading
from reporting.texts import adjusted_for, join_words, outcome_name, pick, programmes_phrase, short_months, wave_months


def _l(nl: str, en: str, lang: str) -> str:
    return pick((nl, en), lang)


def estimate_text(effect: Effect, lang: str, *, symbol: str = "g", pub: Publication | None = None) -> str:
    """``g = 0,45 [0,24; 0,66]``, or in SD units ``0,45 SD [0,24; 0,66]`` (``×`` when hidden).

    With ``pub`` the numbers are its span (a statistic about the effect's populations).
    """
    if effect.hidden and pub is None:
        return fmt.HIDDEN
    value, ci = fmt.num(effect.estimate, 2, lang), fmt.ci(effect.low, effect.high, 2, lang)
    if pub is not None:
        text = fmt.HIDDEN if effect.hidden else f"{value} SD {ci}" if symbol == "SD" else f"{value} {ci}"
        numbers = pub.statistic(text, *effect.pops)
        return numbers if symbol == "SD" else f"{symbol} = {numbers}"
    return f"{value} SD {ci}" if symbol == "SD" else f"{symbol} = {value} {ci}"


def effect_reading(effect: Effect | None, lang: str, *, short: bool = True) -> str:
    """The plain reading of an effect (improvement, deterioration, no clear difference/change)."""
    if effect is None:
        return fmt.NONE
    if effect.hidden:
        return fmt.HIDDEN
    return reading(effect.estimate, effect.low, effect.high, effect.better_higher, lang, std_effect=effect.std,
                   short=short, change=not effect.between)  # fmt: skip


def title(design: Design, lang: str) -> str:
    """The title block: the study's title (level-1 heading) and a one-line lead made from its design."""
    horizon = short_months(design, lang)
    span = (
        _l(f"op korte termijn ({horizon}) en lange termijn (tot {wave_months(design, design.last_wave, 'nl')})",
           f"short term ({horizon}) and long term (up to {wave_months(design, design.last_wave, 'en')})", lang)
        if design.long_term else _l(f"op korte termijn ({horizon})", f"short term ({horizon})", lang)
    )  # fmt: skip
    who = programmes_phrase(design, lang)
    if design.has_comparison:
        lead = _l(f"Rapport voor de programmaraad. Intervisie voor {who}: effecten {span}, vergeleken met een "
                  "vergelijkingsgroep.",
                  f"Report for the programme board. Intervisie for {who}: {span} effects, compared with a comparison "
                  "group.", lang)  # fmt: skip
    else:
        lead = _l(f"Rapport voor de programmaraad. Intervisie voor {who}: verandering {span} bij de deelnemers "
                  "(zonder vergelijkingsgroep).",
                  f"Report for the programme board. Intervisie for {who}: {span} change among participants (no "
                  "comparison group).", lang)  # fmt: skip
    return f"# {design.title}\n\n{lead}\n"


def heading(key: str, lang: str) -> str:
    """A section heading of the board report."""
    headings = {
        "answer": ("Het antwoord", "The answer"),
        "effects": ("De effecten in één tabel", "The effects in one table"),
        "differences": ("De verschillen tussen de groepen in één tabel", "The differences between the groups in one table"),
        "changes": ("De veranderingen in één tabel", "The changes in one table"),
        "trajectories": ("Verloop over de tijd", "Over time"),
        "programmes": ("Per programma", "By programme"),
        "reliable": ("Hoeveel deelnemers veranderden echt?", "How many participants really changed?"),
        "drivers": ("Wat maakt het verschil?", "What makes the difference?"),
        "quality": ("Kwaliteit van de gegevens", "Data quality"),
        "caveats": ("Kanttekeningen", "Caveats"),
    }
    return f"## {pick(headings[key], lang)}\n"


def _lead(design: Design, shorts: list[Effect], longs: list[Effect], lang: str) -> str:
    """The first sentence: does it help (or: did participants change), from the primary outcomes."""
    horizon = short_months(design, lang)
    verdicts = {e.outcome: beneficial(e.estimate, e.low, e.high, e.better_higher) for e in shorts if not e.hidden}
    good = [outcome_name(design, o, lang) for o, v in verdicts.items() if v is True]
    bad = [outcome_name(design, o, lang) for o, v in verdicts.items() if v is False]
    if design.has_comparison and not design.randomised:
        return _associated(shorts, good, bad, verdicts, horizon, lang) + _long_clause(design, longs, lang, between=True)
    if design.has_comparison:
        if verdicts and len(good) == len(verdicts):
            lead = _l(f"**Ja: intervisie helpt.** Op de hoofduitkomsten gaan deelnemers er in de eerste {horizon} duidelijk "
                      "meer op vooruit dan de vergelijkingsgroep.",
                      f"**Yes: intervisie helps.** On the primary outcomes participants improve clearly more than the "
                      f"comparison group over the first {horizon}.", lang)  # fmt: skip
        elif good:
            lead = _l(f"**Deels**: intervisie helpt op een deel van de hoofduitkomsten ({join_words(good, 'nl')}).",
                      f"**In part**: intervisie helps on some of the primary outcomes ({join_words(good, 'en')}).", lang)  # fmt: skip
        elif bad:
            lead = _l(f"**Let op**: op {join_words(bad, 'nl')} gaat de intervisiegroep er minder op vooruit dan de "
                      "vergelijkingsgroep.",
                      f"**Note**: on {join_words(bad, 'en')} the intervisie group does worse than the comparison group.",
                      lang)  # fmt: skip
        else:
            lead = _l("**Nog niet aangetoond**: op de hoofduitkomsten is geen duidelijk effect gevonden.",
                      "**Not shown**: no clear effect was found on the primary outcomes.", lang)  # fmt: skip
        return lead + _long_clause(design, longs, lang, between=True)
    lead = _l("Deze studie heeft geen vergelijkingsgroep: ze laat zien hoe deelnemers aan intervisie veranderden, "
              "niet of die verandering door intervisie komt.",
              "This study has no comparison group: it shows how intervisie participants changed, not whether the "
              "change is due to intervisie.", lang)  # fmt: skip
    if verdicts and len(good) == len(verdicts):
        first = _l(f"**Deelnemers gingen erop vooruit**: op de hoofduitkomsten verbeterden zij duidelijk in de eerste "
                   f"{horizon}.",
                   f"**Participants improved**: on the primary outcomes they improved clearly over the first {horizon}.",
                   lang)  # fmt: skip
    elif good:
        first = _l(f"**Deels**: deelnemers verbeterden op een deel van de hoofduitkomsten ({join_words(good, 'nl')}).",
                   f"**In part**: participants improved on some of the primary outcomes ({join_words(good, 'en')}).", lang)  # fmt: skip
    elif bad:
        first = _l(f"**Let op**: op {join_words(bad, 'nl')} gingen deelnemers erop achteruit.",
                   f"**Note**: on {join_words(bad, 'en')} participants got worse.", lang)  # fmt: skip
    else:
        first = _l("**Geen duidelijke verandering** op de hoofduitkomsten.",
                   "**No clear change** on the primary outcomes.", lang)  # fmt: skip
    return f"{first} {lead}" + _long_clause(design, longs, lang, between=False)


def _associated(shorts: list[Effect], good: list[str], bad: list[str], verdicts: dict, horizon: str, lang: str) -> str:
    """The lead without random allocation: an association after adjustment, never "intervisie helps"."""
    adjusted = all(e.adjusted for e in shorts if not e.hidden)
    after = _l("Na correctie voor verschillen bij de start ", "After adjusting for differences at the start, ", lang) \
        if adjusted else _l("Zonder correctie voor verschillen bij de start ", "Without adjusting for differences at the start, ",
                            lang)  # fmt: skip
    if verdicts and len(good) == len(verdicts):
        lead = _l(f"**Samenhang gevonden.** {after}gingen deelnemers aan intervisie er op de hoofduitkomsten in de eerste "
                  f"{horizon} duidelijk meer op vooruit dan de vergelijkingsgroep.",
                  f"**Associated with improvement.** {after}intervisie participants improved clearly more than the "
                  f"comparison group on the primary outcomes over the first {horizon}.", lang)  # fmt: skip
    elif good:
        lead = _l(f"**Deels**: {after.lower()}hangt deelname aan intervisie samen met meer vooruitgang op een deel van de "
                  f"hoofduitkomsten ({join_words(good, 'nl')}).",
                  f"**In part**: {after.lower()}taking part in intervisie is associated with more improvement on some of "
                  f"the primary outcomes ({join_words(good, 'en')}).", lang)  # fmt: skip
    elif bad:
        lead = _l(f"**Let op**: {after.lower()}ging de intervisiegroep er op {join_words(bad, 'nl')} minder op vooruit dan "
                  "de vergelijkingsgroep.",
                  f"**Note**: {after.lower()}the intervisie group did worse than the comparison group on "
                  f"{join_words(bad, 'en')}.", lang)  # fmt: skip
    else:
        lead = _l(f"**Geen duidelijke samenhang**: {after.lower()}verschilt de verandering op de hoofduitkomsten niet "
                  "duidelijk tussen de groepen.",
                  f"**No clear association**: {after.lower()}change on the primary outcomes did not differ clearly between "
                  "the groups.", lang)  # fmt: skip
    return lead + _l(" Deelnemers kozen zelf (of werden gekozen), dus dit toont niet dat intervisie de oorzaak is.",
                     " Participants were not allocated at random, so this does not show that intervisie is the cause.",
                     lang)  # fmt: skip


def evalue_text(shorts: list[Effect], longs: list[Effect], design: Design, lang: str, pub: Publication) -> str:
    """One plain bullet: how strong an unmeasured confounder would have to be to explain each clear effect away.

    Only adjusted effects whose CI excludes zero are listed (an E-value of an unclear effect says
    nothing more than the CI); per outcome the E-value of the estimate and, in brackets, of the
    CI bound nearest zero (VanderWeele & Ding 2017).
    """
    def clear(e: Effect | None) -> bool:
        return e is not None and e.adjusted and not e.hidden and pd.notna(e.evalue) and beneficial(
            e.estimate, e.low, e.high, e.better_higher) is not None  # fmt: skip

    def pair(e: Effect) -> str:
        return pub.statistic(f"{fmt.num(e.evalue, 1, lang)} ({fmt.num(e.evalue_ci, 1, lang)})", *e.pops)

    long_by = {e.outcome: e for e in longs}
    parts = []
    for short in shorts:
        later = long_by.get(short.outcome)
        bits = [pair(short) + _l(f" na {short_months(design, lang)}", f" after {short_months(design, lang)}", lang)] \
            if clear(short) else []  # fmt: skip
        if later is not None and clear(later):
            bits.append(pair(later) + _l(" per jaar daarna", " per year after that", lang))
        if bits:
            parts.append(f"{outcome_name(design, short.outcome, lang)} " + _l(" en ", " and ", lang).join(bits))
    if not parts:
        return ""
    return _l(
        "**Hoe sterk zou een onbekende factor moeten zijn?** Een factor die niet gemeten is, zou zowel de kans op "
        "deelname als de uitkomst zoveel keer zo sterk moeten beïnvloeden om het verschil helemaal te verklaren "
        "(E-waarde; tussen haakjes: om het onduidelijk te maken): ",
        "**How strong would an unmeasured factor have to be?** A factor nobody measured would have to make both "
        "joining and the outcome this many times as likely to explain the difference away entirely (E-value; in "
        "brackets: to make it unclear): ", lang) + "; ".join(parts) + "."


def _long_clause(design: Design, longs: list[Effect], lang: str, *, between: bool) -> str:
    """What happens after the short-term wave (nothing when the design has no later wave)."""
    shown = [e for e in longs if not e.hidden]
    if not design.long_term or not shown:
        return ""
    verdicts = [beneficial(e.estimate, e.low, e.high, e.better_higher) for e in shown]
    subject = _l("het verschil", "the difference", lang) if between else _l("de uitkomsten", "the outcomes", lang)
    if all(v is True for v in verdicts):
        return _l(f" Daarna groeit {subject} verder.", f" After that {subject} keeps growing.", lang)  # fmt: skip
    if all(v is None for v in verdicts):
        return _l(f" Daarna verandert {subject} niet duidelijk meer.", f" After that {subject} no longer changes clearly.",
                  lang)  # fmt: skip
    return _l(" Wat daarna gebeurt, verschilt per uitkomst (zie de tabel).",
              " What happens after that differs by outcome (see the table).", lang)  # fmt: skip


def answer(res: Results, design: Design, lang: str, pub: Publication | None = None) -> str:
    """The answer in plain language: does it help, short and long term, for whom (bullets)."""
    pub = publication(res, design, pub)
    shorts = [e for o in design.primary if (e := short_term_effect(res, design, o, pub)) is not None]
    longs = [e for o in design.primary if (e := long_term_effect(res, design, o, pub)) is not None]
    if not shorts:
        return absent(res, "change" if design.has_comparison else "growth", lang,
                      what=("Het effect op de hoofduitkomsten", "The effect on the primary outcomes"))  # fmt: skip
    horizon = short_months(design, lang)
    bullets = []
    long_by = {e.outcome: e for e in longs}
    for effect in shorts:
        text = f"**{outcome_name(design, effect.outcome, lang)}**: " + _l("na", "after", lang) + f" {horizon}: " + (
            f"{effect_reading(effect, lang)} ({estimate_text(effect, lang, symbol=_symbol(design, effect), pub=pub)})")
        if design.long_term:
            later = long_by.get(effect.outcome)
            if later is not None:
                text += _l("; daarna per jaar: ", "; after that, per year: ", lang) + (
                    f"{effect_reading(later, lang)} ({estimate_text(later, lang, symbol='SD', pub=pub)})")
            else:
                text += _l("; de verandering daarna is niet geschat", "; the change after that was not estimated", lang)
        bullets.append(text + ".")
    bullets += [w for e in shorts if e.wide and (w := too_small(res, design, e, lang, pub))]
    confounder = evalue_text(shorts, longs, design, lang, pub)
    bullets += [confounder] if confounder else []
    mechanism = board_sentence(res, design, pub, lang)
    bullets += [mechanism] if mechanism else []
    who = for_whom(res, design, lang)
    if who:
        bullets.append(who)
    return _lead(design, shorts, longs, lang) + "\n\n" + "\n".join(f"- {b}" for b in bullets) + "\n"


def _symbol(design: Design, effect: Effect) -> str:
    """How an effect is printed: Hedges' g for the plain difference between arms, else in baseline SD units."""
    return "g" if design.has_comparison and not effect.adjusted else "SD"


def too_small(res: Results, design: Design, effect: Effect, lang: str, pub: Publication | None = None) -> str:
    """The study was too small to tell: the CI spans benefit and harm; the numbers a decision would need.

    The numbers are read from ``power/sample_size.csv`` (participants to enrol per arm, and
    groups, for each effect size of ``analyses.power.effect_sizes``); nothing is computed here.
    """
    name = outcome_name(design, effect.outcome, lang)
    benefit, harm = (effect.std_high, -effect.std_low) if effect.better_higher else (-effect.std_low, effect.std_high)
    pub = publication(res, design, pub)
    good, bad = (pub.statistic(fmt.num(v, 2, lang), *effect.pops) for v in (benefit, harm))
    text = _l(
        f"**{name}: te klein om te beslissen.** Het 95%-betrouwbaarheidsinterval loopt van een verbetering van "
        f"{good} tot een verslechtering van {bad} standaarddeviatie: deze "
        "studie was te klein om te zeggen of het helpt of schaadt.",
        f"**{name}: too small to tell.** The 95% confidence interval runs from an improvement of "
        f"{good} to a deterioration of {bad} standard deviations: this study was "
        "too small to tell whether it helps or harms.",
        lang,
    )
    sizes = needed_sizes(res, effect.outcome)
    if sizes is None:
        return text + _l(" Hoeveel deelnemers een besluit nodig heeft, is niet berekend (zie de methodenbijlage).",
                         " How many participants a decision would need was not computed (see the methods appendix).",
                         lang)  # fmt: skip
    per_arm = _l(" per arm", " per arm", lang) if design.has_comparison else ""
    what = _l("een verschil", "a difference", lang) if design.has_comparison else _l("een verandering", "a change", lang)
    parts = [
        _l(f"{fmt.count(r['n_enrol'])} deelnemers{per_arm} voor {what} van {fmt.num(r['effect_d'], 2, lang)} SD",
           f"{fmt.count(r['n_enrol'])} participants{per_arm} for {what} of {fmt.num(r['effect_d'], 2, lang)} SD",
           lang)
        + ("" if pd.isna(r.get("groups_needed")) else _l(f" ({fmt.count(r['groups_needed'])} groepen)",
                                                         f" ({fmt.count(r['groups_needed'])} groups)", lang))
        for _, r in sizes.iterrows()
    ]  # fmt: skip
    r0 = sizes.iloc[0]
    alpha = fmt.num(r0.get("alpha", 0.05), 2, lang)
    power = fmt.pct(r0.get("power", 0.8), lang)
    intro = _l(f" Om het te beslissen (alfa {alpha}, power {power}, uitval meegerekend) zijn in te schrijven: ",
               f" To decide it (alpha {alpha}, power {power}, dropout accounted for) a study would enrol ", lang)  # fmt: skip
    tail = "" if design.has_comparison else _l(
        "; dat toont verandering binnen de groep aan, niet dat die door intervisie komt (daarvoor is een "
        "vergelijkingsgroep nodig)",
        "; that shows change within the group, not that it is due to intervisie (which needs a comparison group)", lang)  # fmt: skip
    return text + intro + join_words(parts, lang) + tail + "."


def for_whom(res: Results, design: Design, lang: str) -> str:
    """One bullet: does the effect (or the change) differ between the study's programmes?"""
    if not design.several_programmes:
        return ""
    moderation = res.usable("growth", "moderation", ("outcome", "p_val"))
    if moderation is None:
        return ""
    sub = moderation[moderation["outcome"].isin(design.primary) & moderation["p_val"].notna()]
    if sub.empty:
        return ""
    ps = ", ".join(f"{outcome_name(design, o, lang)} {fmt.pval(p, lang)}"
                   for o, p in zip(sub["outcome"], sub["p_val"], strict=True))  # fmt: skip
    what = _l("het effect", "the effect", lang) if design.has_comparison else _l("de verandering", "the change", lang)
    who = programmes_phrase(design, lang)
    if (sub["p_val"] < 0.05).any():
        return _l(f"**Voor wie**: {what} verschilt per programma ({ps}); zie de tabel per programma.",
                  f"**For whom**: {what} differs by programme ({ps}); see the table by programme.", lang)  # fmt: skip
    return _l(f"**Voor wie**: er is geen aanwijzing dat {what} verschilt tussen {who} (toets op verschil: {ps}).",
              f"**For whom**: there is no sign that {what} differs between {who} (test for a difference: {ps}).", lang)  # fmt: skip


def data_quality(res: Results, design: Design, params: dict, lang: str, pub: Publication | None = None) -> str:
    """One paragraph: response, retention per arm, dropouts vs stayers, reliability."""
    flow = res.usable("quality", "response_flow", ("arm", "stage", "n"))
    if flow is None:
        return absent(res, "quality", lang, what=("De beschrijving van respons en uitval", "The account of response and dropout"))
    pub = publication(res, design, pub)
    roster = pub.count(P.roster())
    last = design.last_wave
    arms = set(flow["arm"].astype(str))
    kept = [f"{pub.share(P.answered(a.id, None, last), P.roster(a.id), lang)} ({a.label(lang)})"
            for a in reversed(design.arms) if a.id in arms]  # fmt: skip
    sentences = [_l(f"Op de roosters stonden {roster} deelnemers.", f"The rosters listed {roster} participants.", lang)]
    if kept:
        sentences.append(_l(f"Bij de laatste meting ({wave_months(design, last, 'nl')}) deed nog mee: {join_words(kept, 'nl')}.",
                            f"Still taking part at the last wave ({wave_months(design, last, 'en')}): {join_words(kept, 'en')}.",
                            lang))  # fmt: skip
    base = res.usable("quality", "baseline_differences", ("p_val",))
    if base is not None:
        differs = int((base["p_val"] < 0.05).sum())
        sentences.append(_l(
            f"Wie uitviel verschilde bij de start in {differs} van de {len(base)} vergelijkingen van wie bleef; de "
            "modellen gebruiken alle beschikbare metingen, wat klopt zolang uitval samenhangt met eerder gemeten scores.",
            f"Those who dropped out differed at baseline in {differs} of {len(base)} comparisons from those who stayed; "
            "the models use every available measurement, which is right as long as dropout depends on scores measured "
            "before.", lang))  # fmt: skip
    reliability = res.usable("reliability", "reliability", ("programme", "scale", "flag_below_threshold"))
    if reliability is not None:
        rel = res.metrics("reliability")
        threshold = (params.get("analyses") or {}).get("reliability_threshold", 0.7)
        overall = reliability[(reliability["programme"] == "all") & reliability["scale"].isin(design.primary)]
        ok = not overall.empty and not overall["flag_below_threshold"].astype(bool).any()
        sentences.append(_l(
            f"Van de {rel.get('scales_checked', fmt.NONE)} schalen haalden er in {rel.get('scale_waves_below_threshold', fmt.NONE)} "
            f"combinaties van meting en programma de betrouwbaarheidsgrens (alfa {fmt.num(threshold, 2, lang)}) niet; ",
            f"Of the {rel.get('scales_checked', fmt.NONE)} scales, {rel.get('scale_waves_below_threshold', fmt.NONE)} "
            f"combinations of wave and programme fell below the reliability line (alpha {fmt.num(threshold, 2, lang)}); ",
            lang) + (
            _l("de hoofduitkomsten zijn op elke meting betrouwbaar gemeten (zie de methodenbijlage).",
               "the primary outcomes were measured reliably at every wave (see the methods appendix).", lang) if ok else
            _l("let op: niet alle hoofduitkomsten zijn op elke meting betrouwbaar gemeten (zie de methodenbijlage).",
               "note: not every primary outcome was measured reliably at every wave (see the methods appendix).", lang)))  # fmt: skip
    return " ".join(sentences) + "\n"


def caveats(design: Design, lang: str, *, min_cell: int = 5) -> str:
    """One paragraph: what the results can and cannot say, for this design."""
    assignment = {
        "randomised": ("Deelnemers zijn door loting aan intervisie of de vergelijkingsgroep toegewezen.",
                       "Participants were allocated to intervisie or the comparison group at random."),
        "cluster_randomised": ("Groepen zijn door loting aan intervisie of de vergelijkingsgroep toegewezen.",
                               "Groups were allocated to intervisie or the comparison group at random."),
    }
    parts = []
    if not design.has_comparison:
        parts.append(_l(
            "Er is geen vergelijkingsgroep. Verandering binnen de intervisiegroep kan ook komen door de tijd, de "
            "opleiding zelf of terugkeer naar het gemiddelde; ze is geen effect van intervisie.",
            "There is no comparison group. Change within the intervisie group may also come from time, training itself "
            "or regression to the mean; it is not an effect of intervisie.", lang))  # fmt: skip
    elif design.assignment in assignment:
        parts.append(pick(assignment[design.assignment], lang))
    else:
        measured = adjusted_for(design, lang)
        parts.append(_l(
            "Deelnemers zijn niet door loting aan intervisie toegewezen: wie meedoet, kan bij de start al anders zijn "
            f"(bijvoorbeeld meer klachten hebben, die vanzelf wat afnemen). Daarom zijn de groepen vergeleken na "
            f"correctie voor {measured} (wegingen en regressie, methodenbijlage). Verschillen in wat niet gemeten is, "
            "zoals motivatie of steun thuis, kunnen het verschil nog steeds verklaren; de uitkomsten tonen samenhang, "
            "geen bewezen effect.",
            "Participants were not allocated to intervisie at random: those who join may differ at the start (for "
            "example have more complaints, which ease somewhat by themselves). The groups were therefore compared after "
            f"adjusting for {measured} (weighting and regression, methods appendix). Differences in what was not "
            "measured, such as motivation or support at home, may still explain the difference; the results show an "
            "association, not a proven effect.", lang))  # fmt: skip
    parts.append(_l("Alle uitkomsten zijn zelfrapportage.", "All outcomes are self-reported.", lang))
    primary = join_words([outcome_name(design, o, lang) for o in design.primary], lang)
    if design.secondary:
        parts.append(_l(
            f"Er zijn veel uitkomsten getoetst: de hoofduitkomsten ({primary}) zijn vooraf gekozen, de andere zijn "
            "ondersteunend en gecorrigeerd voor meervoudig toetsen (methodenbijlage).",
            f"Many outcomes were tested: the primary outcomes ({primary}) were chosen beforehand, the others are "
            "supportive and corrected for multiple testing (methods appendix).", lang))  # fmt: skip
    else:
        parts.append(_l(f"De hoofduitkomsten ({primary}) zijn vooraf gekozen.",
                        f"The primary outcomes ({primary}) were chosen beforehand.", lang))  # fmt: skip
    parts.append(_l(f"Uitkomsten over minder dan {min_cell} personen worden nooit getoond.",
                    f"Numbers about fewer than {min_cell} people are never shown.", lang))  # fmt: skip
    return " ".join(parts) + "\n"

