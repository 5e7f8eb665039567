"""The tables and the figure of the programme board report, each made from the design and result tables.

Every function returns Pandoc markdown (the figure: PNG bytes, or None when there is nothing
to draw); a section whose results are absent prints one sentence instead.  Cells about fewer
than ``min_cell`` people, and cells that would reveal them, are hidden (``×``) by the document's
:class:`~reporting.publish.Publication`.
"""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.figure import Figure

from pipeline.design import Design
from reporting import fmt
from reporting import populations as P
from reporting.board import _l, effect_reading, heading
from reporting.effects import Effect, effect_term, long_term_effect, short_term_effect
from reporting.publish import Publication, publication
from reporting.results import Results, absent
from reporting.texts import (
    adjusted_for,
    arm_name,
    factor_name,
    join_words,
    outcome_name,
    pick,
    programme_name,
    short_months,
)

#: line colours of the canonical arms (the same in every design)
COLOURS = {"intervisie": "#1b6ca8", "comparison": "#b5651d"}


def _effects_key(design: Design) -> str:
    """The heading of the effects table: effects after random allocation, differences otherwise."""
    if not design.has_comparison:
        return "changes"
    return "effects" if design.randomised else "differences"


def _cell(effect: Effect | None, lang: str, pub: Publication) -> str:
    if effect is None:
        return fmt.NONE
    text = f"{fmt.num(effect.estimate, 2, lang)} {fmt.ci(effect.low, effect.high, 2, lang)}"
    return pub.statistic(fmt.HIDDEN if effect.hidden else text, *effect.pops)


def lower_better_note(design: Design, outcomes: list[str], lang: str) -> str:
    """"Bij X en Y is een lagere score beter ..." for the outcomes whose instrument says so (else nothing)."""
    lower = [outcome_name(design, o, lang) for o in outcomes if o in design.scales and not design.scales[o].higher_is_better]
    if not lower:
        return ""
    return _l(f" Bij {join_words(lower, 'nl')} is een lagere score beter: een negatief getal is daar gunstig.",
              f" For {join_words(lower, 'en')} a lower score is better: there a negative number is good.", lang)  # fmt: skip


def effects_table(res: Results, design: Design, lang: str, pub: Publication | None = None) -> str:
    """Every outcome: the short-term effect (or change) and, with a later wave, the yearly one after, with readings."""
    horizon = short_months(design, lang)
    pub = publication(res, design, pub)
    rows, shown = [], []
    for scale in design.outcomes():
        short, long = short_term_effect(res, design, scale, pub), long_term_effect(res, design, scale, pub)
        if short is None and long is None:
            continue
        shown.append(scale)
        row = [outcome_name(design, scale, lang), _cell(short, lang, pub), effect_reading(short, lang)]
        if design.long_term:
            row += [_cell(long, lang, pub), effect_reading(long, lang)]
        rows.append(row)
    if not rows:
        return heading(_effects_key(design), lang) + absent(
            res, "growth", lang, what=("De tabel van effecten", "The table of effects"))
    if design.has_comparison and not design.randomised:
        first = _l(f"Na {horizon}: SD [95%-BI]", f"After {horizon}: SD [95% CI]", lang)
        caption = _l("Verschil tussen intervisie en vergelijkingsgroep, gecorrigeerd voor verschillen bij de start "
                     f"(weging en regressie op {adjusted_for(design, 'nl')}), in "
                     "standaarddeviaties bij de start (0,2 klein, 0,5 middelgroot, 0,8 groot). Dit is samenhang, geen "
                     "bewezen effect: deelnemers zijn niet door loting ingedeeld.",
                     "Difference between intervisie and the comparison group, adjusted for differences at the start "
                     f"(weighting and regression on {adjusted_for(design, 'en')}), "
                     "in baseline standard deviations (0.2 small, 0.5 medium, 0.8 large). This is an association, not a "
                     "proven effect: participants were not allocated at random.", lang)  # fmt: skip
        later = _l(f" Per jaar: extra verandering per jaar na de eerste {horizon}, in standaarddeviaties bij de start.",
                   f" Per year: extra change per year after the first {horizon}, in baseline standard deviations.", lang)  # fmt: skip
    elif design.has_comparison:
        first = _l(f"Na {horizon}: g [95%-BI]", f"After {horizon}: g [95% CI]", lang)
        caption = _l("Verschil tussen intervisie en vergelijkingsgroep. g: verschil in verandering in standaarddeviaties "
                     "(Hedges' g; 0,2 klein, 0,5 middelgroot, 0,8 groot).",
                     "Difference between intervisie and the comparison group. g: difference in change in standard "
                     "deviations (Hedges' g; 0.2 small, 0.5 medium, 0.8 large).", lang)  # fmt: skip
        later = _l(f" Per jaar: extra verandering per jaar na de eerste {horizon}, in standaarddeviaties bij de start.",
                   f" Per year: extra change per year after the first {horizon}, in baseline standard deviations.", lang)  # fmt: skip
    else:
        first = _l(f"Verandering na {horizon} (SD) [95%-BI]", f"Change after {horizon} (SD) [95% CI]", lang)
        caption = _l("Verandering binnen de intervisiegroep (er is geen vergelijkingsgroep), in standaarddeviaties bij "
                     "de start (groeimodel; 0,2 klein, 0,5 middelgroot, 0,8 groot).",
                     "Change within the intervisie group (there is no comparison group), in baseline standard "
                     "deviations (growth model; 0.2 small, 0.5 medium, 0.8 large).", lang)  # fmt: skip
        later = _l(f" Per jaar: verandering per jaar na de eerste {horizon}.",
                   f" Per year: change per year after the first {horizon}.", lang)  # fmt: skip
    caption += (later if design.long_term else "") + lower_better_note(design, shown, lang) + _l(
        " BI: betrouwbaarheidsinterval; de lezing spreekt van verbetering of verslechtering alleen als het BI 0 niet bevat.",
        " CI: confidence interval; the reading speaks of an improvement or deterioration only when the CI does not "
        "include zero.", lang)  # fmt: skip
    header = [_l("Uitkomst", "Outcome", lang), first, _l("Lezing", "Reading", lang)]
    align, widths = "lrl", [26, 20, 26]
    if design.long_term:
        header += [_l("Per jaar daarna (SD) [95%-BI]", "Per year after (SD) [95% CI]", lang), _l("Lezing", "Reading", lang)]
        align, widths = align + "rl", [*widths, 20, 26]
    return heading(_effects_key(design), lang) + fmt.table(
        header, rows, align=align, widths=widths, caption=caption.strip())


def by_programme(res: Results, design: Design, lang: str, pub: Publication | None = None) -> str:
    """The short-term effect (or change) per programme for the primary outcomes; nothing with one programme.

    Every programme of the design has a row: one the analysis wrote nothing for is still counted in
    the row of all programmes, so its cells show ``×`` (or ``–`` when nobody of it had both scores).
    """
    if not design.several_programmes:
        return ""
    horizon = short_months(design, lang)
    hidden_note = _l(f"× = niet getoond: gaat over minder dan {res.min_cell} personen of zou zo'n getal verraden.",
                     f"× = not shown: about fewer than {res.min_cell} people, or would reveal such a number.", lang)  # fmt: skip
    pub = publication(res, design, pub)
    if design.has_comparison:
        table = res.usable("change", "between_arms", ("outcome", "programme", "level_a", "level_b", "n_a", "n_b", "g"))
        if table is None:
            return heading("programmes", lang) + absent(res, "change", lang)
        arms = (str(table["level_a"].iloc[0]), str(table["level_b"].iloc[0]))
        rows = []
        for outcome, programme, r in _programme_rows(table, design):
            pops = [P.changed(res, design, outcome, arm, programme) for arm in arms]
            ns = [pub.count(p) if pub.publishes("count", p) else fmt.NONE for p in pops]
            g = fmt.NONE if r is None else pub.statistic(
                f"{fmt.num(r['g'], 2, lang)} {fmt.ci(r['ci95_low'], r['ci95_high'], 2, lang)}", *pops)
            rows.append([outcome_name(design, outcome, lang), programme_name(design, programme, lang), *ns,
                         fmt.HIDDEN if r is None and fmt.HIDDEN in "".join(ns) else g])  # fmt: skip
        header = [_l("Uitkomst", "Outcome", lang), _l("Programma", "Programme", lang),
                  f"n {arm_name(design, arms[0], lang)}", f"n {arm_name(design, arms[1], lang)}",
                  _l("g [95%-BI]", "g [95% CI]", lang)]  # fmt: skip
        caption = _l(f"Effect na {horizon} per programma (Hedges' g). ", f"Effect after {horizon} by programme (Hedges' g). ",
                     lang) if design.randomised else _l(
            f"Verschil in verandering na {horizon} per programma (Hedges' g, niet gecorrigeerd voor verschillen bij de "
            "start). ", f"Difference in change after {horizon} by programme (Hedges' g, not adjusted for differences at "
            "the start). ", lang)  # fmt: skip
        caption += hidden_note
        return heading("programmes", lang) + fmt.table(header, rows, align="llrrr", widths=[30, 26, 12, 12, 22],
                                                       caption=caption)  # fmt: skip
    table = res.usable("change", "within_change", ("outcome", "arm", "programme", "n", "g_av"))
    if table is None:
        return heading("programmes", lang) + absent(res, "change", lang)
    table = table[table["arm"] == "intervisie"]
    rows = []
    for outcome, programme, r in _programme_rows(table, design):
        pop = P.changed(res, design, outcome, "intervisie", programme)
        n = pub.count(pop) if pub.publishes("count", pop) else fmt.NONE
        g = fmt.NONE if r is None else pub.statistic(
            f"{fmt.num(r['g_av'], 2, lang)} {fmt.ci(r['ci95_low'], r['ci95_high'], 2, lang)}", pop)
        rows.append([outcome_name(design, outcome, lang), programme_name(design, programme, lang), n,
                     fmt.HIDDEN if r is None and n != fmt.NONE else g])  # fmt: skip
    header = [_l("Uitkomst", "Outcome", lang), _l("Programma", "Programme", lang), "n",
              _l("g_av [95%-BI]", "g_av [95% CI]", lang)]  # fmt: skip
    caption = _l(f"Verandering na {horizon} binnen de intervisiegroep per programma (Hedges' g_av; geen "
                 "vergelijkingsgroep). ",
                 f"Change after {horizon} within the intervisie group by programme (Hedges' g_av; no comparison "
                 "group). ", lang) + hidden_note  # fmt: skip
    return heading("programmes", lang) + fmt.table(header, rows, align="llrr", widths=[30, 26, 12, 22], caption=caption)


def _programme_rows(table: pd.DataFrame, design: Design):
    """(outcome, programme, row or None) for every primary outcome with rows, ``all`` first, then every programme."""
    programmes = ["all", *design.programme_ids]
    programmes += sorted(p for p in set(table["programme"].astype(str)) if p not in programmes)
    for outcome in design.primary:
        part = table[table["outcome"] == outcome]
        if part.empty:
            continue
        by = {str(r["programme"]): r for _, r in part.iterrows()}
        for programme in programmes:
            yield outcome, programme, by.get(programme)


def _outcome_key(design: Design):
    outcomes = {o: i for i, o in enumerate(design.outcomes())}

    def key(column: pd.Series) -> pd.Series:
        return column.map(outcomes) if column.name == "outcome" else column

    return key


def reliable_change_table(res: Results, design: Design, lang: str, pub: Publication | None = None) -> str:
    """Shares improved / unchanged / deteriorated beyond measurement error, per primary outcome and arm."""
    columns = ("scale", "arm", "programme", "category", "count", "n", "share")
    table = res.usable("change", "reliable_change", columns)
    if table is None:
        return absent(res, "change", lang, what=("Betrouwbare verandering", "Reliable change"))
    pub = publication(res, design, pub)
    part = table[(table["programme"] == "all") & table["scale"].isin(design.primary)]
    arms = [a.id for a in reversed(design.arms)]  # intervisie first
    rows = []
    for scale in design.primary:
        for arm in arms:
            cells = part[(part["scale"] == scale) & (part["arm"] == arm)]
            if cells.empty:
                continue
            den = P.changed(res, design, scale, arm, "all")
            present = set(cells["category"].astype(str))
            shares = [pub.share(P.changed(res, design, scale, arm, "all", c), den, lang) if c in present else fmt.NONE
                      for c in ("improved", "unchanged", "deteriorated")]  # fmt: skip
            rows.append([outcome_name(design, scale, lang), arm_name(design, arm, lang), *shares, pub.count(den)])
    if not rows:
        return absent(res, "change", lang, what=("Betrouwbare verandering", "Reliable change"))
    header = [_l("Uitkomst", "Outcome", lang), _l("Groep", "Group", lang), _l("Verbeterd", "Improved", lang),
              _l("Gelijk", "Unchanged", lang), _l("Verslechterd", "Deteriorated", lang), "n"]  # fmt: skip
    horizon = short_months(design, lang)
    caption = _l(
        f"Betrouwbare verandering na {horizon} (Jacobson-Truax): aandeel deelnemers dat meer veranderde dan de "
        f"meetfout verklaart. × = niet getoond (minder dan {res.min_cell} personen, of zou zo'n getal verraden).",
        f"Reliable change after {horizon} (Jacobson-Truax): share of participants who changed more than measurement "
        f"error explains. × = not shown (fewer than {res.min_cell} people, or would reveal such a number).",
        lang,
    )
    return fmt.table(header, rows, align="llrrrr", widths=[30, 22, 12, 12, 12, 8], caption=caption)


def trajectory_png(res: Results, design: Design, lang: str) -> bytes | None:
    """Estimated means per wave with 95% CIs for the primary outcomes, one panel each (PNG bytes; None: no means)."""
    means = res.usable("growth", "wave_means", ("outcome", "months", "estimate", "ci95_low", "ci95_high"))
    if means is None:
        return None
    primary = [o for o in design.primary if (means["outcome"] == o).any()]
    if not primary:
        return None
    fig = Figure(figsize=(7.0, 2.8), dpi=150)
    axes = fig.subplots(1, len(primary), squeeze=False)[0]
    for ax, scale in zip(axes, primary, strict=True):
        part = means[means["outcome"] == scale].sort_values("months")
        groups = part.groupby("arm", sort=True) if "arm" in part.columns else [(design.arms[-1].id, part)]
        for arm, rows in groups:
            colour = COLOURS.get(str(arm), "grey")
            ax.plot(rows["months"], rows["estimate"], marker="o", color=colour, label=arm_name(design, str(arm), lang))
            ax.fill_between(rows["months"], rows["ci95_low"], rows["ci95_high"], color=colour, alpha=0.18, lw=0)
        ax.set_title(outcome_name(design, scale, lang), fontsize=9)
        ax.set_xlabel(_l("maanden na de start", "months since baseline", lang), fontsize=8)
        ax.set_xticks(sorted(part["months"].unique()))
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def trajectory_caption(res: Results, design: Design, lang: str, *, drawn: bool) -> str:
    """The caption under the trajectory figure, or the sentence that stands in for it."""
    if not drawn:
        return absent(res, "growth", lang, what=("Het verloop over de tijd", "The course over time"))
    groups = join_words([a.label(lang) for a in reversed(design.arms)], lang)
    return _l(f"*Figuur: geschatte gemiddelden per meting met 95%-betrouwbaarheidsinterval (groeimodel), {groups}.*",
              f"*Figure: estimated means per wave with 95% confidence intervals (growth model), {groups}.*", lang) + "\n"  # fmt: skip


def direction_word(direction: str, lang: str) -> str:
    """Promoting / hindering in the reader's language (other values as written)."""
    words = {
        "promoting": ("bevorderend", "promoting"),
        "hindering": ("belemmerend", "hindering"),
        "unclear": ("onduidelijk", "unclear"),
    }
    return pick(words[direction], lang) if direction in words else direction


def drivers(res: Results, design: Design, lang: str, *, top: int = 8) -> str:
    """The implementation factors with a clear effect, ranked by the evidence per outcome (``factors_ranked.csv``)."""
    ranked = res.usable("implementation", "factors_ranked", ("factor", "level", "outcome", "direction", "rank", "effect"))
    if ranked is None:
        return absent(res, "implementation", lang,
                      what=("De analyse van de implementatiefactoren", "The analysis of implementation factors"))  # fmt: skip
    clear = ranked[ranked["direction"].isin(["promoting", "hindering"])].copy()
    if clear.empty:
        return _l("Geen van de implementatiefactoren had een duidelijk effect (elk BI bevat 0).",
                  "None of the implementation factors had a clear effect (every CI includes zero).", lang) + "\n"  # fmt: skip
    order = {o: i for i, o in enumerate(design.outcomes())}
    clear["order"] = clear["outcome"].map(order).fillna(len(order))
    rows = [
        [str(int(r["rank"])), factor_name(str(r["factor"]), str(r["level"]), lang), outcome_name(design, str(r["outcome"]), lang),
         f"{fmt.num(r['effect'], 2, lang)} {fmt.ci(r['ci_low'], r['ci_high'], 2, lang)}", direction_word(str(r["direction"]), lang)]
        for _, r in clear.sort_values(["order", "rank"]).head(top).iterrows()
    ]  # fmt: skip
    header = ["#", _l("Factor", "Factor", lang), _l("Uitkomst", "Outcome", lang),
              _l("Effect [95%-BI]", "Effect [95% CI]", lang), _l("Werking", "Acts as", lang)]  # fmt: skip
    horizon = short_months(design, lang)
    caption = _l(
        "Factoren met een duidelijk effect (BI zonder 0), per uitkomst gerangschikt naar de sterkte van het bewijs "
        f"(#: rang). Effect: extra verandering in de eerste {horizon}, in punten van de uitkomst, per "
        "standaarddeviatie van de beoordeling (aanwezigheid: alle vs geen sessies); positief = gunstig, ook waar een "
        "lagere score beter is.",
        "Factors with a clear effect (CI without zero), ranked per outcome by the strength of the evidence "
        f"(#: rank). Effect: extra change over the first {horizon}, in points of the outcome, per standard deviation "
        "of the rating (attendance: all vs no sessions); positive = favourable, also where a lower score is better.",
        lang,
    )
    return fmt.table(header, rows, align="lllrl", widths=[4, 34, 26, 20, 16], caption=caption)


def multiplicity(res: Results, design: Design, lang: str) -> str:
    """One sentence: which short-term effects (or changes) hold after correction for multiple testing."""
    table = res.usable("sensitivity", "multiplicity", ("term", "family", "reject", "outcome"))
    adjusted = res.usable("change", "adjusted", ("outcome", "family", "reject", "p_adj"))
    if design.has_comparison and not design.randomised and adjusted is not None:
        part = adjusted[adjusted["p_adj"].notna()]  # the primary estimate without random allocation
    elif table is None:
        return ""
    else:
        part = table[table["term"] == effect_term(design, "short")]
    if part.empty:
        return ""
    primary, secondary = part[part["family"] == "primary"], part[part["family"] != "primary"]
    held = [outcome_name(design, o, lang) for o in primary.loc[primary["reject"].astype(bool), "outcome"]]
    n_sec, k_sec = len(secondary), int(secondary["reject"].astype(bool).sum())
    names = ", ".join(held) if held else _l("geen", "none", lang)
    horizon = short_months(design, lang)
    what = _l("veranderingen", "changes", lang) if not design.has_comparison else _l("effecten", "effects", lang) if \
        design.randomised else _l("verschillen", "differences", lang)
    text = _l(f"Na correctie voor meervoudig toetsen houden de {what} na {horizon} stand voor de hoofduitkomsten: "
              f"{names} ({len(held)} van {len(primary)})",
              f"After correction for multiple testing the {what} after {horizon} hold for the primary outcomes: "
              f"{names} ({len(held)} of {len(primary)})", lang)  # fmt: skip
    if n_sec:
        text += _l(f"; van de ondersteunende uitkomsten {k_sec} van {n_sec}", f"; of the supporting outcomes {k_sec} of {n_sec}",
                   lang)  # fmt: skip
    return text + ".\n"
