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


def long_term_effect(res: Results, design: Design, outcome: str, pub: Publication | None = None) -> Effect | None:
    """The yearly change after the short-term wave (between arms, or within intervisie), or None.

    None when the design has no wave after the short-term wave, or the term was not estimated.
    """
    if not design.long_term:
        return None
    return _growth_effect(res, design, outcome, "long", pub)


def effect_term(design: Design, horizon: str) -> str:
    """The growth-model term of a horizon (``short``/``long``) this design reports as its effect."""
    return f"{horizon}:armintervisie" if design.has_comparison else horizon


def _growth_effect(res: Results, design: Design, outcome: str, horizon: str, pub: Publication | None) -> Effect | None:
    effects = res.usable("growth", "effects", ("outcome", "term", "estimate"))
    row = effect_row(effects, outcome, effect_term(design, horizon))
    if row is None:
        return None
    std = [row.get(c, float("nan")) for c in ("std_estimate", "std_ci95_low", "std_ci95_high")]
    pops = (P.model(outcome),)
    pub = publication(res, design, pub)
    return Effect(outcome, std[0], std[1], std[2], std[0], std[1], std[2], higher_is_better(design, outcome),
                  hidden=not pub.shown(*pops), n=row.get("n", float("nan")), between=design.has_comparison,
                  pops=pops)  # fmt: skip


def needed_sizes(res: Results, outcome: str, horizon: str = "short") -> pd.DataFrame | None:
    """The rows of ``power/sample_size.csv`` for chosen effect sizes (not the observed one), or None."""
    sizes = res.usable("power", "sample_size", ("outcome", "horizon", "basis", "effect_d", "n_enrol"))
    if sizes is None:
        return None
    part = sizes[(sizes["outcome"] == outcome) & (sizes["horizon"] == horizon) & (sizes["basis"] != "observed")]
    part = part[part["n_enrol"].notna()].sort_values("effect_d")
    return None if part.empty else part
