"""The programme board report: the answer first, in plain Dutch (or English), from finished results.

Each function returns Pandoc markdown for one section of ``reports/board.qmd``; the document's
cells print them (``output: asis``).  Numbers come from the result tables as written; every
table goes through disclosure control (:mod:`reporting.tables`).
"""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.figure import Figure

from reporting import fmt
from reporting.results import Results, beneficial, effect_row, reading
from reporting.tables import between_arms, reliable_change
from reporting.texts import arm_name, factor_name, outcome_name, pick, programme_name

LONG = "long:armintervisie"


def _l(nl: str, en: str, lang: str) -> str:
    return pick((nl, en), lang)


def _estimate(value: float, low: float, high: float, lang: str, *, hidden: bool = False) -> str:
    """``0,45 [0,25; 0,66]``, or one ``×`` when hidden."""
    return fmt.HIDDEN if hidden else f"{fmt.num(value, 2, lang)} {fmt.ci(low, high, 2, lang)}"


def outcomes(params: dict) -> list[str]:
    """The primary, then the secondary outcomes of ``params.yaml`` (``analyses`` section)."""
    section = params.get("analyses", {})
    return [*section.get("primary", []), *section.get("secondary", [])]


def answer(res: Results, params: dict, lang: str) -> str:
    """The answer in plain language: does it help, short and long term, for whom (bullets)."""
    primary = params.get("analyses", {}).get("primary", [])
    arms = between_arms(res)
    effects = res.table("growth", "effects")
    moderation = res.optional("growth", "moderation")
    bullets = []
    for scale in primary:
        row = arms[(arms["outcome"] == scale) & (arms["programme"] == "all")]
        if row.empty:
            continue
        r = row.iloc[0]
        short = reading(r["g"], r["ci95_low"], r["ci95_high"], scale, lang)
        long_row = effect_row(effects, scale, LONG)
        long = (
            reading(long_row["estimate"], long_row["ci95_low"], long_row["ci95_high"], scale, lang,
                    std_effect=long_row["std_estimate"])
            if long_row is not None else fmt.NONE
        )  # fmt: skip
        bullets.append(
            _l(
                f"**{outcome_name(scale, lang)}**: na 3 maanden een {short}; daarna per jaar een {long}.",
                f"**{outcome_name(scale, lang)}**: after 3 months a {short}; after that, per year, a {long}.",
                lang,
            )
        )
    verdicts = [
        beneficial(r["g"], r["ci95_low"], r["ci95_high"], r["outcome"])
        for _, r in arms[(arms["programme"] == "all") & arms["outcome"].isin(primary)].iterrows()
    ]
    if verdicts and all(v is True for v in verdicts):
        lead = _l(
            "**Ja: intervisie helpt.** Deelnemers gaan er op de hoofduitkomsten duidelijk meer op vooruit dan de "
            "vergelijkingsgroep, vooral in de eerste drie maanden; daarna blijft het verschil kleiner bestaan.",
            "**Yes: intervisie helps.** On the primary outcomes participants improve clearly more than the comparison "
            "group, mostly in the first three months; after that a smaller difference remains.",
            lang,
        )
    elif any(v is True for v in verdicts):
        lead = _l("**Deels**: intervisie helpt op een deel van de hoofduitkomsten.",
                  "**In part**: intervisie helps on some of the primary outcomes.", lang)  # fmt: skip
    else:
        lead = _l("**Nog niet aangetoond**: op de hoofduitkomsten is geen duidelijk effect gevonden.",
                  "**Not shown**: no clear effect was found on the primary outcomes.", lang)  # fmt: skip
    if moderation is not None and not moderation.empty:
        sub = moderation[moderation["outcome"].isin(primary)]
        differs = sub[sub["p_val"] < 0.05]
        ps = ", ".join(f"{outcome_name(o, lang)} {fmt.pval(p, lang)}" for o, p in zip(sub["outcome"], sub["p_val"], strict=True))
        if differs.empty:
            bullets.append(_l(
                f"**Voor wie**: er is geen aanwijzing dat het effect verschilt tussen coschappen, a(n)ios en "
                f"buitenlandse artsen (toets op verschil: {ps}).",
                f"**For whom**: there is no sign that the effect differs between clerkship students, residents and "
                f"foreign-trained doctors (test for a difference: {ps}).",
                lang,
            ))  # fmt: skip
        else:
            bullets.append(_l(f"**Voor wie**: het effect verschilt per programma ({ps}); zie de tabel per programma.",
                              f"**For whom**: the effect differs by programme ({ps}); see the table by programme.",
                              lang))  # fmt: skip
    return lead + "\n\n" + "\n".join(f"- {b}" for b in bullets) + "\n"


def effects_table(res: Results, params: dict, lang: str) -> str:
    """Every outcome: the short-term difference (Hedges' g) and the yearly difference after, with a reading."""
    arms = between_arms(res)
    effects = res.table("growth", "effects")
    rows = []
    for scale in outcomes(params):
        hit = arms[(arms["outcome"] == scale) & (arms["programme"] == "all")]
        if hit.empty:
            continue
        r = hit.iloc[0]
        lr = effect_row(effects, scale, LONG)
        long_cells = [fmt.NONE, fmt.NONE]
        if lr is not None:
            long_cells = [
                f"{fmt.num(lr['std_estimate'], 2, lang)} {fmt.ci(lr['std_ci95_low'], lr['std_ci95_high'], 2, lang)}",
                reading(lr["estimate"], lr["ci95_low"], lr["ci95_high"], scale, lang, std_effect=lr["std_estimate"],
                        short=True),
            ]
        rows.append([
            outcome_name(scale, lang),
            _estimate(r["g"], r["ci95_low"], r["ci95_high"], lang, hidden=bool(r["suppressed"])),
            reading(r["g"], r["ci95_low"], r["ci95_high"], scale, lang, short=True),
            *long_cells,
        ])  # fmt: skip
    header = [
        _l("Uitkomst", "Outcome", lang),
        _l("Na 3 maanden: g [95%-BI]", "After 3 months: g [95% CI]", lang),
        _l("Lezing", "Reading", lang),
        _l("Per jaar daarna [95%-BI]", "Per year after [95% CI]", lang),
        _l("Lezing", "Reading", lang),
    ]
    caption = _l(
        "Verschil tussen intervisie en vergelijkingsgroep. g: verschil in verandering in standaarddeviaties "
        "(Hedges' g; 0,2 klein, 0,5 middelgroot, 0,8 groot). Per jaar: extra verandering per jaar na de eerste "
        "3 maanden, in standaarddeviaties bij de start. Bij burn-out is een negatief getal gunstig. "
        "BI: betrouwbaarheidsinterval; de lezing spreekt van verbetering of verslechtering alleen als het BI 0 niet bevat.",
        "Difference between intervisie and the comparison group. g: difference in change in standard deviations "
        "(Hedges' g; 0.2 small, 0.5 medium, 0.8 large). Per year: extra change per year after the first 3 months, "
        "in baseline standard deviations. For burnout a negative number is good. CI: confidence interval; the reading "
        "speaks of an improvement or deterioration only when the CI does not include zero.",
        lang,
    )
    return fmt.table(header, rows, align="lrlrl", widths=[26, 20, 26, 20, 26], caption=caption)


def by_programme_table(res: Results, params: dict, lang: str) -> str:
    """Hedges' g per programme for the primary outcomes (cells about < min_cell people hidden)."""
    arms = between_arms(res)
    primary = params.get("analyses", {}).get("primary", [])
    rows = []
    for _, r in arms[arms["outcome"].isin(primary)].iterrows():
        rows.append([
            outcome_name(r["outcome"], lang),
            programme_name(r["programme"], lang),
            fmt.count(r["n_a"], hidden=pd.isna(r["n_a"])),
            fmt.count(r["n_b"], hidden=pd.isna(r["n_b"])),
            _estimate(r["g"], r["ci95_low"], r["ci95_high"], lang, hidden=bool(r["suppressed"])),
        ])  # fmt: skip
    header = [_l("Uitkomst", "Outcome", lang), _l("Programma", "Programme", lang), "n intervisie",
              _l("n vergelijking", "n comparison", lang), _l("g [95%-BI]", "g [95% CI]", lang)]  # fmt: skip
    caption = _l(
        "Effect na 3 maanden per programma. × = niet getoond: gaat over minder dan 5 personen of zou zo'n getal "
        "verraden.",
        "Effect after 3 months by programme. × = not shown: about fewer than 5 people, or would reveal such a number.",
        lang,
    )
    return fmt.table(header, rows, align="llrrr", widths=[30, 26, 12, 12, 22], caption=caption)


def reliable_change_table(res: Results, params: dict, lang: str) -> str:
    """Shares improved / unchanged / deteriorated beyond measurement error, per primary outcome and arm."""
    table = reliable_change(res)
    primary = params.get("analyses", {}).get("primary", [])
    part = table[(table["programme"] == "all") & table["scale"].isin(primary)]
    rows = []
    for (scale, arm), cells in part.groupby(["scale", "arm"], sort=False):
        by = cells.set_index("category")
        shares = [
            fmt.pct(by.loc[c, "share"], lang, hidden=bool(by.loc[c, "suppressed"])) if c in by.index else fmt.NONE
            for c in ("improved", "unchanged", "deteriorated")
        ]
        n = cells["n"].iloc[0]
        rows.append([outcome_name(scale, lang), arm_name(arm, lang), *shares, fmt.count(n, hidden=pd.isna(n))])
    header = [_l("Uitkomst", "Outcome", lang), _l("Groep", "Group", lang), _l("Verbeterd", "Improved", lang),
              _l("Gelijk", "Unchanged", lang), _l("Verslechterd", "Deteriorated", lang), "n"]  # fmt: skip
    caption = _l(
        "Betrouwbare verandering na 3 maanden (Jacobson-Truax): aandeel deelnemers dat meer veranderde dan de "
        "meetfout verklaart. × = niet getoond (minder dan 5 personen).",
        "Reliable change after 3 months (Jacobson-Truax): share of participants who changed more than measurement "
        "error explains. × = not shown (fewer than 5 people).",
        lang,
    )
    return fmt.table(header, rows, align="llrrrr", widths=[30, 22, 12, 12, 12, 8], caption=caption)


def trajectory_png(res: Results, params: dict, lang: str) -> bytes:
    """Estimated means per wave with 95% CIs for the primary outcomes, one panel each (PNG bytes)."""
    means = res.table("growth", "wave_means")
    primary = params.get("analyses", {}).get("primary", [])
    fig = Figure(figsize=(7.0, 2.8), dpi=150)
    axes = fig.subplots(1, max(1, len(primary)), squeeze=False)[0]
    colours = {"intervisie": "#1b6ca8", "comparison": "#b5651d"}
    for ax, scale in zip(axes, primary, strict=False):
        part = means[means["outcome"] == scale].sort_values("months")
        for arm, rows in part.groupby("arm", sort=True):
            colour = colours.get(str(arm), "grey")
            ax.plot(rows["months"], rows["estimate"], marker="o", color=colour, label=arm_name(str(arm), lang))
            ax.fill_between(rows["months"], rows["ci95_low"], rows["ci95_high"], color=colour, alpha=0.18, lw=0)
        ax.set_title(outcome_name(scale, lang), fontsize=9)
        ax.set_xlabel(_l("maanden na de start", "months since baseline", lang), fontsize=8)
        ax.set_xticks(sorted(part["months"].unique()))
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def drivers(res: Results, params: dict, lang: str, *, top: int = 8) -> str:
    """The implementation factors with a clear effect, ranked by the evidence per outcome (``factors_ranked.csv``)."""
    outcomes_order = outcomes(params)
    ranked = res.optional("implementation", "factors_ranked")
    if ranked is None or ranked.empty:
        return _l(
            "De analyse van de implementatiefactoren (coach, structuur, veiligheid, groepssamenstelling) is nog niet "
            "beschikbaar; dit deel verschijnt zodra die stap van de pijplijn is gedraaid.",
            "The analysis of implementation factors (coach, structure, safety, group composition) is not available "
            "yet; this part appears once that step of the pipeline has run.",
            lang,
        ) + "\n"
    clear = ranked[ranked["direction"].isin(["promoting", "hindering"])].copy()
    order = {o: i for i, o in enumerate(outcomes_order)}
    clear["order"] = clear["outcome"].map(order).fillna(len(order))
    rows = []
    for _, r in clear.sort_values(["order", "rank"]).head(top).iterrows():
        rows.append([
            str(int(r["rank"])),
            factor_name(str(r["factor"]), str(r["level"]), lang),
            outcome_name(str(r["outcome"]), lang),
            f"{fmt.num(r['effect'], 2, lang)} {fmt.ci(r['ci_low'], r['ci_high'], 2, lang)}",
            direction_word(str(r["direction"]), lang),
        ])  # fmt: skip
    header = ["#", _l("Factor", "Factor", lang), _l("Uitkomst", "Outcome", lang),
              _l("Effect [95%-BI]", "Effect [95% CI]", lang), _l("Werking", "Acts as", lang)]  # fmt: skip
    caption = _l(
        "Factoren met een duidelijk effect (BI zonder 0), per uitkomst gerangschikt naar de sterkte van het bewijs "
        "(#: rang). Effect: extra verandering in de eerste 3 maanden, in punten van de uitkomst, per "
        "standaarddeviatie van de beoordeling (aanwezigheid: alle vs geen sessies); positief = gunstig, ook bij "
        "burn-out (dan: minder burn-out).",
        "Factors with a clear effect (CI without zero), ranked per outcome by the strength of the evidence "
        "(#: rank). Effect: extra change over the first 3 months, in points of the outcome, per standard deviation "
        "of the rating (attendance: all vs no sessions); positive = favourable, for burnout too (then: less burnout).",
        lang,
    )
    return fmt.table(header, rows, align="lllrl", widths=[4, 34, 26, 20, 16], caption=caption)


def direction_word(direction: str, lang: str) -> str:
    """Promoting / hindering in the reader's language (other values as written)."""
    words = {
        "promoting": ("bevorderend", "promoting"),
        "hindering": ("belemmerend", "hindering"),
        "unclear": ("onduidelijk", "unclear"),
    }
    return pick(words[direction], lang) if direction in words else direction


def data_quality(res: Results, params: dict, lang: str) -> str:
    """One paragraph: response, retention, differences between dropouts and stayers, reliability."""
    flow = res.table("quality", "response_flow")
    roster = int(flow.loc[flow["stage"] == "roster", "n"].sum())
    metrics = res.metrics("quality")
    waves = params.get("analyses", {}).get("waves", [])
    last = waves[-1] if waves else "t3"
    keep_i = metrics.get(f"retention_intervisie_{last}")
    keep_c = metrics.get(f"retention_comparison_{last}")
    base = res.table("quality", "baseline_differences")
    differs = base[base["p_val"] < 0.05]
    rel = res.metrics("reliability")
    threshold = params.get("analyses", {}).get("reliability_threshold", 0.7)
    reliability = res.table("reliability", "reliability")
    primary = params.get("analyses", {}).get("primary", [])
    overall = reliability[(reliability["programme"] == "all") & reliability["scale"].isin(primary)]
    primary_ok = not overall.empty and not overall["flag_below_threshold"].astype(bool).any()
    closing = (
        _l("de hoofduitkomsten zijn op elke meting betrouwbaar gemeten (zie de methodenbijlage).",
           "the primary outcomes were measured reliably at every wave (see the methods appendix).", lang)
        if primary_ok else
        _l("let op: niet alle hoofduitkomsten zijn op elke meting betrouwbaar gemeten (zie de methodenbijlage).",
           "note: not every primary outcome was measured reliably at every wave (see the methods appendix).", lang)
    )  # fmt: skip
    return _l(
        f"Op de roosters stonden {roster} deelnemers. Bij de laatste meting deed nog {fmt.pct(keep_i, lang)} van de "
        f"intervisiegroep en {fmt.pct(keep_c, lang)} van de vergelijkingsgroep mee. Wie uitviel verschilde bij de "
        f"start in {len(differs)} van de {len(base)} vergelijkingen van wie bleef; de modellen gebruiken alle "
        f"beschikbare metingen, wat klopt zolang uitval samenhangt met eerder gemeten scores. "
        f"Van de {rel.get('scales_checked', fmt.NONE)} schalen haalden er in {rel.get('scale_waves_below_threshold', fmt.NONE)} "
        f"combinaties van meting en programma de betrouwbaarheidsgrens (alfa {fmt.num(threshold, 2, lang)}) niet; "
        f"{closing}",
        f"The rosters listed {roster} participants. At the last wave {fmt.pct(keep_i, lang)} of the intervisie group "
        f"and {fmt.pct(keep_c, lang)} of the comparison group still took part. Those who dropped out differed at "
        f"baseline in {len(differs)} of {len(base)} comparisons from those who stayed; the models use every "
        f"available measurement, which is right as long as dropout depends on scores measured before. "
        f"Of the {rel.get('scales_checked', fmt.NONE)} scales, {rel.get('scale_waves_below_threshold', fmt.NONE)} "
        f"combinations of wave and programme fell below the reliability line (alpha {fmt.num(threshold, 2, lang)}); "
        f"{closing}",
        lang,
    ) + "\n"


def caveats(lang: str) -> str:
    """One paragraph: what the results can and cannot say."""
    return _l(
        "Deelnemers zijn niet door loting aan intervisie toegewezen. Het effect is gemeten als verschil in "
        "verandering tussen de groepen, zodat verschillen bij de start niet meetellen, maar groepen kunnen om "
        "andere redenen verschillend veranderen. Alle uitkomsten zijn zelfrapportage. Er zijn veel uitkomsten "
        "getoetst: de hoofduitkomsten (veerkracht, werkgerelateerde burn-out) zijn vooraf gekozen, de andere zijn "
        "ondersteunend en gecorrigeerd voor meervoudig toetsen (methodenbijlage). Uitkomsten over minder dan "
        "5 personen worden nooit getoond.",
        "Participants were not allocated to intervisie at random. The effect is measured as the difference in "
        "change between the groups, so differences at baseline do not count, but groups may change differently "
        "for other reasons. All outcomes are self-reported. Many outcomes were tested: the primary outcomes "
        "(resilience, work-related burnout) were chosen beforehand, the others are supportive and corrected for "
        "multiple testing (methods appendix). Numbers about fewer than 5 people are never shown.",
        lang,
    ) + "\n"


def title(lang: str) -> str:
    """The title block (a level-1 heading and a one-line lead)."""
    return _l(
        "# Werkt intervisie? Rapport voor de programmaraad\n\n"
        "Intervisie voor coassistenten, a(n)ios en buitenlandse artsen: effecten op korte en lange termijn.\n",
        "# Does intervisie work? Report for the programme board\n\n"
        "Intervisie for clerkship students, residents and foreign-trained doctors: short- and long-term effects.\n",
        lang,
    )


def heading(key: str, lang: str) -> str:
    """A section heading of the board report."""
    headings = {
        "answer": ("Het antwoord", "The answer"),
        "effects": ("De effecten in één tabel", "The effects in one table"),
        "trajectories": ("Verloop over de tijd", "Over time"),
        "programmes": ("Per programma", "By programme"),
        "reliable": ("Hoeveel deelnemers veranderden echt?", "How many participants really changed?"),
        "drivers": ("Wat maakt het verschil?", "What makes the difference?"),
        "quality": ("Kwaliteit van de gegevens", "Data quality"),
        "caveats": ("Kanttekeningen", "Caveats"),
    }
    return f"## {pick(headings[key], lang)}\n"


def trajectory_caption(lang: str) -> str:
    """The caption under the trajectory figure."""
    return _l(
        "*Figuur: geschatte gemiddelden per meting met 95%-betrouwbaarheidsinterval (groeimodel), "
        "intervisie en vergelijkingsgroep.*",
        "*Figure: estimated means per wave with 95% confidence intervals (growth model), intervisie and comparison "
        "group.*",
        lang,
    ) + "\n"


def multiplicity(res: Results, lang: str, *, term: str = "short:armintervisie") -> str:
    """One sentence: which short-term effects hold after correction for multiple testing."""
    table = res.optional("sensitivity", "multiplicity")
    if table is None or table.empty:
        return ""
    part = table[table["term"] == term]
    primary, secondary = part[part["family"] == "primary"], part[part["family"] != "primary"]
    held = [outcome_name(o, lang) for o in primary.loc[primary["reject"].astype(bool), "outcome"]]
    n_sec, k_sec = len(secondary), int(secondary["reject"].astype(bool).sum())
    names = ", ".join(held) if held else _l("geen", "none", lang)
    return _l(
        f"Na correctie voor meervoudig toetsen houden de effecten na 3 maanden stand voor de hoofduitkomsten: "
        f"{names} ({len(held)} van {len(primary)}); van de ondersteunende uitkomsten {k_sec} van {n_sec}.",
        f"After correction for multiple testing the effects after 3 months hold for the primary outcomes: "
        f"{names} ({len(held)} of {len(primary)}); of the supporting outcomes {k_sec} of {n_sec}.",
        lang,
    ) + "\n"
