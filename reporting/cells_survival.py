"""Cell sources: leaving intervisie (Kaplan-Meier, Cox, PH test), time to caseness, sensitivity, implementation, power.

Lists every count and statistic about people that the methods appendix (:mod:`reporting.appendix`)
and the handout (:mod:`reporting.handout`) print from ``results/survival``, ``sensitivity``,
``careless``, ``implementation`` and ``power``, with its population, for the joint suppression of
:mod:`reporting.publish`.  The documents name the same populations with the functions here.

Dimensions added to the study's (``arm``, ``programme``, ``wave:<id>``, ``model:<outcome>``):

- ``dropout``: ``"1"`` in the analysis of leaving (an intervisie participant with a group and a start
  date); only declared when that is not everyone of the intervisie arm, programme by programme;
- ``left``: ``"1"`` left intervisie within follow-up (a Kaplan-Meier event);
- ``format``: the meeting format (``none``: not recorded), when the curves are drawn by format;
- ``cox``: ``"1"`` in the Cox model (all covariates known); only when that is not the whole analysis;
- ``beyond``: ``"1"`` followed beyond the cut of a Cox model split in time (PH repair);
- ``caseness`` / ``case``: in the time-to-caseness analysis / became a case;
- ``cva:<outcome>``, ``ava:<outcome>``, ``mi:<outcome>``, ``imputed:<outcome>:<wave>``, ``careless:<outcome>``: in the
  complete-case analysis, in the available-case one (when not the growth model's), in the multiple-imputation sample, imputed at a wave, with a response
  dropped as careless.

A statistic rests on the events of its population: a hazard ratio of a programme is published only
if that programme's *events* are provably at least ``min_cell`` (its population includes
``left = 1``), and the comparison level's too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from pipeline.design import Design
from reporting import populations as P
from reporting.catalogue import Part
from reporting.results import Results

Population = dict[str, str | tuple[str, ...]]
INTERVISIE = "intervisie"
PERIOD = re.compile(r"^(?P<term>.+)_months_(?P<start>[0-9.]+)_(?P<end>[0-9.]+|plus)$")
_FACTORS = ("programme", "format")


@dataclass(frozen=True)
class Leaving:
    """The populations of the analysis of leaving, named from its result tables."""

    base: Population
    cox: Population
    km: pd.DataFrame | None
    cox_table: pd.DataFrame | None
    ph: pd.DataFrame | None
    formats: tuple[str, ...] = ()
    dims: dict[str, list[str]] = field(default_factory=dict)

    def stratum(self, curve: str, stratum: str) -> Population:
        """The people of one Kaplan-Meier stratum (``overall``: everyone in the analysis)."""
        if curve == "overall":
            return dict(self.base)
        return self.base | {curve: str(stratum)}

    def term(self, term: str) -> tuple[Population, list[Population]]:
        """A Cox term's population (its events) and the other groups it compares with (their events).

        A factor level (``programme_<id>``, ``format_<value>``) is about that level's events against the
        reference level's; a continuous covariate about the model's events (in its period, when split).
        """
        match = PERIOD.match(term)
        name = match["term"] if match else term
        period: Population = {}
        if match:
            period = {"beyond": "0"} if match["end"] != "plus" else {"beyond": "1"}
        for factor in _FACTORS:
            level = name.removeprefix(f"{factor}_")
            if name.startswith(f"{factor}_") and level in self.levels(factor):
                reference = self.reference(factor)
                pop = self.stratum(factor, level) | {"left": "1"}
                also = [self.stratum(factor, r) | {"left": "1"} for r in reference]
                return pop, also
        return self.cox | {"left": "1"} | period, []

    def levels(self, factor: str) -> list[str]:
        if self.km is None:
            return []
        return [str(s) for s in self.km.loc[self.km["curve"] == factor, "stratum"]]

    def reference(self, factor: str) -> list[str]:
        """The reference level of a factor in the Cox model: the level without a term of its own."""
        if self.cox_table is None:
            return []
        named = set()
        for t in self.cox_table["term"].astype(str):
            m = PERIOD.match(t)
            named.add(m["term"] if m else t)
        levels = self.levels(factor)
        if not any(f"{factor}_{lv}" in named for lv in levels):
            return []
        return [lv for lv in levels if f"{factor}_{lv}" not in named]

    def cox_n(self, period: str = "") -> Population:
        """The people a Cox model (or one period of the split model) is fitted on."""
        return self.cox | ({"beyond": "1"} if period == "plus" else {})

    def cox_events(self, period: str = "") -> Population:
        extra = {"beyond": "1"} if period == "plus" else {"beyond": "0"} if period else {}
        return self.cox | {"left": "1"} | extra


def _roster(res: Results) -> pd.DataFrame | None:
    flow = res.usable("quality", "response_flow", ("arm", "programme", "stage", "n"))
    if flow is None:
        return None
    return flow[(flow["stage"] == "roster") & (flow["arm"].astype(str) == INTERVISIE)]


def leaving(res: Results) -> Leaving:
    """Read the tables of the analysis of leaving and decide its populations (see the module docstring)."""
    km = res.usable("survival", "km_summary", ("curve", "stratum", "n", "events"))
    cox = res.usable("survival", "cox", ("model", "term", "hr", "n", "events"))
    ph = res.usable("survival", "ph_test", ("model", "term"))
    dims: dict[str, list[str]] = {"left": ["0", "1"]}
    base: Population = {"arm": INTERVISIE}
    roster = _roster(res)
    overall = km[km["curve"] == "overall"] if km is not None else pd.DataFrame()
    same = roster is not None and not overall.empty and roster["n"].sum() == overall["n"].iloc[0]
    if same and km is not None:
        by = dict(zip(roster["programme"].astype(str), roster["n"], strict=False))
        strata = km[(km["curve"] == "programme") & km["n"].notna()]
        same = all(by.get(str(s)) == n for s, n in zip(strata["stratum"], strata["n"], strict=True))
    if not same:
        base = base | {"dropout": "1"}
        dims["dropout"] = ["0", "1"]
    formats: tuple[str, ...] = ()
    if km is not None and (km["curve"] == "format").any():
        rows = km[km["curve"] == "format"]
        formats = tuple(str(s) for s in rows["stratum"])
        levels = list(formats)
        if rows["n"].notna().all() and not overall.empty and rows["n"].sum() != overall["n"].iloc[0]:
            levels.append("none")  # some have no recorded format: the strata do not add up to the whole
        dims["format"] = levels
    cox_pop = dict(base)
    if cox is not None and not overall.empty:
        main = cox[cox["model"] == "main"]
        if not main.empty and main["n"].iloc[0] != overall["n"].iloc[0]:
            cox_pop = base | {"cox": "1"}
            dims["cox"] = ["0", "1"]
    if cox is not None and cox["term"].astype(str).str.contains(r"_months_[0-9.]+_plus$").any():
        dims["beyond"] = ["0", "1"]
    return Leaving(base, cox_pop, km, cox, ph, formats, dims)


def _declare(part: Part, dims: dict[str, list[str]]) -> None:
    for name, levels in dims.items():
        part.dim(name, levels)


def _counted(part: Part, topic: str, pop: Population, n: object) -> None:
    """A count that is printed (hidden when unknown: its people are inside a printed total)."""
    known = n is not None and not pd.isna(n)
    part.count(topic, pop, n if known else None, hidden=not known)
    part.statistic(topic, pop, n if known else None)


def survival_source(res: Results, design: Design) -> Part:
    """Kaplan-Meier n and events per stratum, the Cox model's n and events, and the statistics about them."""
    part = Part()
    frame = leaving(res)
    if frame.km is None and frame.cox_table is None:
        return part
    _declare(part, frame.dims)
    if frame.km is not None:
        for r in frame.km.itertuples():
            pop = frame.stratum(str(r.curve), str(r.stratum))
            _counted(part, "km", pop, r.n)
            _counted(part, "km", pop | {"left": "1"}, r.events)
    if frame.cox_table is not None:
        for r in frame.cox_table.itertuples():
            m = PERIOD.match(str(r.term))
            period = (m["end"] if m["end"] == "plus" else "early") if m else ""
            _counted(part, "cox", frame.cox_n("plus" if period == "plus" else ""), r.n)
            _counted(part, "cox", frame.cox_events(period), r.events)
            pop, also = frame.term(str(r.term))
            part.statistic("cox", pop)
            for other in also:
                part.statistic("cox", other)
    caseness = res.usable("survival", "caseness", ("model", "term", "n", "events"))
    if caseness is not None:
        part.dim("caseness", ["0", "1"])
        part.dim("case", ["0", "1"])
        row = caseness.iloc[0]
        _counted(part, "case", {"caseness": "1"}, row["n"])
        _counted(part, "case", {"caseness": "1", "case": "1"}, row["events"])
        for term in caseness["term"].astype(str):
            for pop in caseness_groups(design, term):
                part.statistic("case", pop)
    return part


def caseness_groups(design: Design, term: str) -> list[Population]:
    """The groups a time-to-caseness term is about: the cases, and the arms or the programme it compares."""
    name = term.split(":", 1)[-1]
    groups: list[Population] = [{"caseness": "1", "case": "1"}]
    if name.startswith("arm_"):
        groups += [P.roster(a.id) for a in design.arms]
    elif name.startswith("programme_"):
        groups.append({"programme": name.removeprefix("programme_")})
    return groups


# ------------------------------------------------------------------------------ sensitivity
def cva_population(res: Results, outcome: str, analysis: str) -> Population:
    """Those in the complete-case (``cva:<outcome>``) or the available-case (growth model) analysis."""
    if analysis == "available_case" and _same_as_model(res, outcome):
        return P.model(outcome)
    return {f"{'cva' if analysis == 'complete_case' else 'ava'}:{outcome}": "1"}


def model_n(res: Results, outcome: str) -> float | None:
    """The number of participants in the growth model of ``outcome`` (``growth/effects.csv``), when it has one."""
    effects = res.usable("growth", "effects", ("outcome", "n"))
    if effects is None:
        return None
    values = effects.loc[effects["outcome"].astype(str) == outcome, "n"].dropna().unique()
    return float(values[0]) if len(values) == 1 else None


def _same_as_model(res: Results, outcome: str) -> bool:
    """Whether the available-case analysis has exactly the growth model's people (then it is one population)."""
    effects = res.usable("growth", "effects", ("outcome", "n"))
    cva = res.usable("sensitivity", "complete_vs_available", ("outcome", "analysis", "n_participants"))
    if effects is None or cva is None:
        return False
    a = effects.loc[effects["outcome"] == outcome, "n"].dropna().unique()
    b = cva.loc[(cva["outcome"] == outcome) & (cva["analysis"] == "available_case"), "n_participants"].dropna().unique()
    return len(a) == 1 and len(b) == 1 and a[0] == b[0]


def mi_population(outcome: str, wave: str | None = None) -> Population:
    """The multiple-imputation sample of an outcome (and those of it imputed at ``wave``)."""
    pop: Population = {f"mi:{outcome}": "1"}
    return pop | ({f"imputed:{outcome}:{wave}": "1"} if wave else {})


def careless_population(outcome: str) -> Population:
    return {f"careless:{outcome}": "1"}


def sensitivity_source(res: Results, design: Design) -> Part:
    """Complete vs available cases, the careless-response screen, multiplicity and the tipping point."""
    part = Part()
    cva = res.usable("sensitivity", "complete_vs_available", ("outcome", "analysis", "n_participants"))
    if cva is not None:
        for r in cva.itertuples():
            pop = cva_population(res, str(r.outcome), str(r.analysis))
            for dim in pop:
                part.dim(dim, ["0", "1"])
            _counted(part, "cva", pop, r.n_participants)
    careless = res.usable("careless", "comparison", ("outcome", "n_dropped"))
    if careless is not None:
        for r in careless.drop_duplicates("outcome").itertuples():
            part.dim(f"careless:{r.outcome}", ["0", "1"])
            part.count("careless", careless_population(str(r.outcome)), r.n_dropped)
    mult = res.usable("sensitivity", "multiplicity", ("outcome",))
    outcomes = set() if careless is None else set(careless["outcome"].astype(str))
    outcomes |= set() if mult is None else set(mult["outcome"].astype(str))
    for outcome in sorted(outcomes):
        part.dim(f"model:{outcome}", ["0", "1"])
        n = model_n(res, outcome)
        if n is not None:  # else the growth model's source lists it (or nothing does: its statistics stay hidden)
            part.count("mult", P.model(outcome), n)
        part.statistic("mult", P.model(outcome), n)
    tip = res.usable("sensitivity", "tipping_summary", ("outcome", "wave"))
    if tip is not None:
        for r in tip.itertuples():
            outcome, wave = str(r.outcome), str(r.wave)
            part.dim(f"mi:{outcome}", ["0", "1"])
            part.dim(f"imputed:{outcome}:{wave}", ["0", "1"])
            _counted(part, "tip", mi_population(outcome), getattr(r, "n_participants", None))
            _counted(part, "tip", mi_population(outcome, wave), getattr(r, "n_imputed", None))
    return part


# --------------------------------------------------------------------------- implementation, power
def implementation_population(design: Design, programme: str | None = None) -> Population:
    """The people an implementation factor or an aggregation check is about: intervisie (of a programme)."""
    arm = INTERVISIE if INTERVISIE in [a.id for a in design.arms] else None
    return P.roster(arm, programme)


def implementation_source(res: Results, design: Design) -> Part:
    part = Part()
    if res.usable("implementation", "factors_ranked", ("outcome",)) is not None or res.usable(
        "implementation", "aggregation", ("construct",)
    ) is not None:
        part.statistic("impl", implementation_population(design))
        agg = res.usable("implementation", "aggregation", ("construct", "programme"))
        if agg is not None:
            for programme in agg["programme"].astype(str).unique():
                part.statistic("impl", implementation_population(design, programme))
    return part


def power_source(res: Results, design: Design) -> Part:
    part = Part()
    if res.usable("power", "components", ("outcome",)) is not None or res.usable("power", "sample_size", ("outcome",)) is not None:
        for arm in design.arms:
            part.statistic("power", P.roster(arm.id))
    return part


def handout_source(res: Results, design: Design) -> Part:
    """The handout's instrument table: alpha at baseline and the responsiveness (SRM) in intervisie."""
    part = Part()
    srm = res.usable("change", "responsiveness", ("outcome", "arm", "programme", "srm"))
    if srm is not None and design.short_term:
        for scale in design.outcomes():
            part.dim(f"scale:{scale}", P.SCALE_LEVELS)  # see the note in populations.SCALE_LEVELS
            part.statistic("srm", P.changed(res, design, scale, INTERVISIE, None))
    rel = res.usable("reliability", "reliability", ("scale", "wave", "programme", "alpha"))
    if rel is not None:
        for scale in design.outcomes():
            part.dim(f"alpha:{scale}", ["0", "1"])
            part.statistic("rel", P.alpha(scale))
    return part


SOURCES = [survival_source, sensitivity_source, implementation_source, power_source, handout_source]
