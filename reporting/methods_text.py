"""The paragraphs of the methods appendix that describe the study: made from its design, never typed in.

The design, the instruments, the growth model and the list of analyses the stages left out
(every ``results/<stage>/skipped.csv``) are written from the study's
:class:`~pipeline.design.Design` and the result tables, so the appendix never names a wave,
programme or outcome the study lacks.
"""

from __future__ import annotations

from pipeline.design import Design
from reporting import fmt
from reporting.results import Results
from reporting.texts import join_words, months, outcome_name

LANG = "en"

ASSIGNMENT = {
    "randomised": "Participants were allocated to intervisie or the comparison group at random.",
    "cluster_randomised": "Groups were allocated to intervisie or the comparison group at random (cluster randomisation).",
    "self_selected": "Participants chose whether to take part in intervisie (no randomisation).",
    "by_programme": "Whether participants took part in intervisie followed from their programme (no randomisation).",
    "unknown": "How participants came into intervisie is not recorded (no randomisation is assumed).",
}


def study_design(design: Design) -> str:
    """Who, which arms, which waves, which programmes and how people came into intervisie."""
    waves = join_words([_wave(design, w.id) for w in design.waves], LANG)
    who = ("Participants in intervisie groups (coach-guided peer reflection) and a comparison group"
           if design.has_comparison else
           "Participants in intervisie groups (coach-guided peer reflection; the study has no comparison group)")  # fmt: skip
    n = len(design.programmes)
    programmes = join_words([p.label_en for p in design.programmes], LANG)
    where = f"in one programme ({programmes})" if n == 1 else f"in {n} programmes: {programmes}"
    text = [f"{who} answered questionnaires at {waves}, {where}."]
    if design.has_comparison:
        text.append(ASSIGNMENT.get(design.assignment, ASSIGNMENT["unknown"]))
    else:
        text.append("Without a comparison group no effect of intervisie can be estimated: the appendix reports change "
                    "within the intervisie group, which may also reflect time, training or regression to the mean.")  # fmt: skip
    short = months(design.knot_months, LANG)
    if design.long_term:
        text.append(f"The short term runs from the baseline to `{design.short_term}` ({short}); the waves after it "
                    "give the long-term change per year.")  # fmt: skip
    else:
        text.append(f"The last wave, `{design.short_term}`, is the short-term wave ({short}): with no wave after it "
                    "there is no long-term change to estimate.")  # fmt: skip
    return " ".join(text) + "\n"


def _wave(design: Design, wave: str) -> str:
    """``3 months (`t1`)``, or ``Follow-up (`t1`, 3 months)`` when the label does not say when."""
    info = design.wave(wave)
    after = months(info.months - design.wave_months[design.baseline], LANG)
    if wave == design.baseline or info.label_en.lower() == after.lower():
        return f"{info.label_en} (`{wave}`)"
    return f"{info.label_en} (`{wave}`, {after})"


def _scale_text(design: Design, scale: str) -> str:
    info = design.scales.get(scale)
    if info is None:
        return scale
    direction = "higher is better" if info.higher_is_better else "lower is better"
    return f"{info.name_en} ({fmt.num(info.min, 0 if info.min.is_integer() else 1, LANG)}-" \
           f"{fmt.num(info.max, 0 if info.max.is_integer() else 1, LANG)}, {direction})"


def instruments(design: Design) -> str:
    """The primary and secondary outcomes with their score ranges and directions (from the instrument files)."""
    text = f"Primary outcome{'s' if len(design.primary) > 1 else ''}: " + \
        join_words([_scale_text(design, s) for s in design.primary], LANG) + "."
    if design.secondary:
        text += " Secondary: " + join_words([_scale_text(design, s) for s in design.secondary], LANG) + "."
    ratings = {f: s for f, s in design.ratings.items() if s in design.scales}
    if ratings:
        text += " Implementation factors rated in the session evaluations: " + join_words(
            [f"{factor.replace('_', ' ')} ({outcome_name(design, scale, LANG)})" for factor, scale in ratings.items()],
            LANG) + "."
    return text + "\n"


def short_term_heading(design: Design) -> str:
    """The heading of the short-term section, with the study's own horizon."""
    return f"## Short-term {'effects' if design.has_comparison else 'change'} (baseline to {months(design.knot_months, LANG)})\n"


def growth_intro(design: Design) -> str:
    """The growth model in words: its fixed part from the design, the time coding, the random-part fallback."""
    short = months(design.knot_months, LANG)
    time = f"`short` runs from 0 to 1 over the first {short}"
    time += ", `long` counts years after." if design.long_term else " (no wave follows, so there is no `long` term)."
    comparison = ("The effect terms are the arm x time interactions (difference in change between intervisie and the "
                  "comparison group)." if design.has_comparison else
                  "With no comparison group the reported terms are the time terms themselves: change within the "
                  "intervisie group.")  # fmt: skip
    heading = "## Long-term effects: piecewise growth models\n\n" if design.long_term else "## Piecewise growth models\n\n"
    return (heading + f"Each outcome is modelled as `{design.growth_fixed()}` with random effects (lme4-grade estimation, "
            f"REML, Satterthwaite degrees of freedom). {time} {comparison} The random part starts at the most complex "
            "structure in `params.yaml` and steps down when a fit is singular (lme4's `isSingular`).\n")  # fmt: skip


def skipped(res: Results, design: Design) -> str:
    """Every analysis a stage left out, with its reason (all ``results/<stage>/skipped.csv`` in one table)."""
    table = res.skipped()
    if table.empty:
        return "Every analysis of the pipeline could be run for this study: no stage left anything out.\n"
    rows = [[f"`{r.stage}`", str(r.analysis), _outcome(design, r.outcome), str(r.reason)] for r in table.itertuples()]
    return fmt.table(["Stage", "Analysis", "Outcome", "Reason"], rows, align="llll", widths=[12, 26, 18, 44],
                     caption="Analyses this study's design or data could not support, as each stage recorded them "
                     "(`results/<stage>/skipped.csv`).")  # fmt: skip


def _outcome(design: Design, outcome: object) -> str:
    """The outcome's name (blank when a row concerns no single outcome)."""
    text = "" if outcome is None or (isinstance(outcome, float) and outcome != outcome) else str(outcome)
    return outcome_name(design, text, LANG) if text else ""
