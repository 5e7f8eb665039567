"""The effects the board report and handout lead with, read the same way for every design.

With a comparison cohort the short-term effect is the difference in change between the arms
(Hedges' g, ``change/between_arms.csv``, programme ``all``) and the long-term effect the
growth model's ``long:armintervisie`` term.  Without one, no effect of intervisie can be
estimated: the documents report *change within the intervisie group*, the growth model's
``short`` and ``long`` terms (``growth/effects.csv``), standardised by the baseline SD.  A
design whose last wave is the short-term wave has no long-term effect at all.

Nothing is computed here: each :class:`Effect` is a row of a result table, with the populations
it is about; it is hidden when the document's :class:`~reporting.publish.Publication` may not show
a statistic about them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.design import Design
from reporting import populations as P
from reporting.publish import Publication, publication
from reporting.results import Results, effect_row
from reporting.texts import higher_is_better

#: a confidence interval reaching this far on both sides (in SD units) cannot tell benefit from harm
WIDE_SD = 0.2


@dataclass(frozen=True)
class Effect:
    """One effect as the documents print it.

    ``estimate``/``low``/``high`` are the printed numbers (Hedges' g between arms, or the
    growth model's term in baseline SD units); ``std``/``std_low``/``std_high`` the same in SD units (for the size
    word and the width check); ``better_higher`` the scale's direction; ``hidden`` when the
    effect is about fewer than ``min_cell`` people.
    """

    outcome: str
    estimate: float
    low: float
    high: float
    std: float
    std_low: float
    std_high: float
    better_higher: bool
    hidden: bool = False
    n: float = float("nan")
    #: a difference between arms (else change within the intervisie group)
    between: bool = False
    #: the populations the effect is about (print it with ``pub.statistic(text, *pops)``)
    pops: tuple = ()
    #: adjusted for how people came in (propensity weights + ANCOVA; ``change/adjusted.csv``)
    adjusted: bool = False
    #: E-values of the estimate and of its CI bound nearest the null (VanderWeele & Ding 2017)
    evalue: float = float("nan")
    evalue_ci: float = float("nan")

    @property
    def wide(self) -> bool:
        """Whether the 95% CI reaches from a benefit to a harm of at least :data:`WIDE_SD` SD."""
        if self.hidden or pd.isna(self.std_low) or pd.isna(self.std_high):
            return False
        benefit, harm = (self.std_high, -self.std_low) if self.better_higher else (-self.std_low, self.std_high)
        return benefit >= WIDE_SD and harm >= WIDE_SD


def short_term_effect(res: Results, design: Design, outcome: str, pub: Publication | None = None) -> Effect | None:
    """The short-term effect of ``outcome`` (between arms with a comparison cohort, else change), or None.

    ``pub`` decides whether it may be shown (default: the publication of every document, built here).
    """
    better = higher_is_better(design, outcome)
    if design.has_comparison and not design.randomised:
        adjusted = adjusted_effect(res, design, outcome, pub)
        if adjusted is not None:
            return adjusted
    if design.has_comparison:
        table = res.usable("change", "between_arms", ("outcome", "programme", "level_a", "level_b", "g", "ci95_low",
                                                      "ci95_high"))  # fmt: skip
        if table is None:
            return None
        hit = table[(table["outcome"] == outcome) & (table["programme"] == "all")]
        if hit.empty or pd.isna(hit["g"].iloc[0]):
            return None
        r = hit.iloc[0]
        pops = tuple(P.changed(res, design, outcome, str(r[level]), "all") for level in ("level_a", "level_b"))
        pub = publication(res, design, pub)
        return Effect(outcome, r["g"], r["ci95_low"], r["ci95_high"], r["g"], r["ci95_low"], r["ci95_high"], better,
                      hidden=not pub.shown(*pops), n=r.get("n_a", float("nan")), between=True, pops=pops)  # fmt: skip
    return _growth_effect(res, design, outcome, "short", pub)


def adjusted_effect(res: Results, design: Design, outcome: str, pub: Publication | None = None) -> Effect | None:
    """The baseline-adjusted, weighted short-term difference between arms in baseline SD units, or None.

    Read from ``change/adjusted.csv`` (the change stage); None when the row is absent or its
    estimate could not be made (then the unadjusted difference is all there is).
    """
    table = res.usable("change", "adjusted", ("outcome", "std_estimate", "std_ci95_low", "std_ci95_high"))
    if table is None:
        return None
    hit = table[table["outcome"] == outcome]
    if hit.empty or pd.isna(hit["std_estimate"].iloc[0]):
        return None
    r = hit.iloc[0]
    pops = tuple(P.changed(res, design, outcome, arm, "all") for arm in ("intervisie", "comparison"))
    pub = publication(res, design, pub)
    std = (r["std_estimate"], r["std_ci95_low"], r["std_ci95_high"])
    return Effect(outcome, *std, *std, higher_is_better(design, outcome), hidden=not pub.shown(*pops),
                  n=r.get("n_a", float("nan")), between=True, pops=pops, adjusted=True,
                  evalue=float(r.get("evalue", float("nan"))), evalue_ci=float(r.get("evalue_ci", float("nan"))))  # fmt: skip


def long_term_effect(res: Results, design: Design, outcome: str, pub: Publication | None = None) -> Effect | None:
    """The yearly change after the short-term wave (between arms, or within intervisie), or None.

    None when the design has no wave after the short-term wave, or the term was not estimated.
    """
    if not design.long_term:
        return None
    if design.has_comparison and not design.randomised:
        adjusted = _growth_effect(res, design, outcome, "long", pub, table="adjusted_effects")
        if adjusted is not None:
            return adjusted
    return _growth_effect(res, design, outcome, "long", pub)


def effect_term(design: Design, horizon: str) -> str:
    """The growth-model term of a horizon (``short``/``long``) this design reports as its effect."""
    return f"{horizon}:armintervisie" if design.has_comparison else horizon


def _growth_effect(res: Results, design: Design, outcome: str, horizon: str, pub: Publication | None,
                   table: str = "effects") -> Effect | None:  # fmt: skip
    """A growth-model term in baseline SD units; ``table="adjusted_effects"``: the weighted, covariate-adjusted model.

    The adjusted model leaves out those without a baseline score (they have no propensity
    weight): it is shown only when the model's population may be and it holds ``min_cell`` people.
    """
    effects = res.usable("growth", table, ("outcome", "term", "estimate"))
    row = effect_row(effects, outcome, effect_term(design, horizon))
    if row is None or pd.isna(row.get("std_estimate", float("nan"))):
        return None
    std = [row.get(c, float("nan")) for c in ("std_estimate", "std_ci95_low", "std_ci95_high")]
    pops = (P.model(outcome),)
    pub = publication(res, design, pub)
    n = row.get("n", float("nan"))
    adjusted = table == "adjusted_effects"
    hidden = not pub.shown(*pops) or (adjusted and not n >= res.min_cell)
    return Effect(outcome, std[0], std[1], std[2], std[0], std[1], std[2], higher_is_better(design, outcome),
                  hidden=hidden, n=n, between=design.has_comparison, pops=pops, adjusted=adjusted,
                  evalue=float(row.get("evalue", float("nan"))) if adjusted else float("nan"),
                  evalue_ci=float(row.get("evalue_ci", float("nan"))) if adjusted else float("nan"))  # fmt: skip


def needed_sizes(res: Results, outcome: str, horizon: str = "short") -> pd.DataFrame | None:
    """The rows of ``power/sample_size.csv`` for chosen effect sizes (not the observed one), or None."""
    sizes = res.usable("power", "sample_size", ("outcome", "horizon", "basis", "effect_d", "n_enrol"))
    if sizes is None:
        return None
    part = sizes[(sizes["outcome"] == outcome) & (sizes["horizon"] == horizon) & (sizes["basis"] != "observed")]
    part = part[part["n_enrol"].notna()].sort_values("effect_d")
    return None if part.empty else part
