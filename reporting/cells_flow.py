"""Cell source: who answered what (response flow, missing-data patterns, completers vs dropouts, reliability n).

Lists every count, share and statistic about people that the documents print from
``results/quality/`` and ``results/reliability/``, with its population (:mod:`reporting.populations`),
for the joint suppression of :mod:`reporting.publish`.
"""

from __future__ import annotations

import pandas as pd

from pipeline.design import Design
from reporting import populations as P
from reporting.catalogue import Part
from reporting.results import Results


def source(res: Results, design: Design) -> Part:
    """The flow, patterns, baseline-difference and reliability cells (and the board's data-quality sentence)."""
    part = Part()
    flow = res.usable("quality", "response_flow", ("arm", "programme", "stage", "n"))
    if flow is not None:
        _flow(part, flow, design)
    patterns = res.usable("quality", "missing_patterns", ("arm", "pattern", "n"))
    if patterns is not None:
        _patterns(part, patterns, design)
    base = res.usable("quality", "baseline_differences", ("scale", "arm", "n_completers", "n_dropouts"))
    if base is not None:
        for r in base.itertuples():
            part.dim(f"scale:{r.scale}", P.scale_levels(res, str(r.scale)))
            groups = []
            for completed, n in ((True, r.n_completers), (False, r.n_dropouts)):
                pop = P.baseline_group(res, design, str(r.scale), str(r.arm), completed)
                part.count("base", pop, n)
                part.statistic("base", pop, n)
                groups.append(pop)
    rel = res.usable("reliability", "reliability", ("scale", "wave", "programme", "n"))
    if rel is not None:
        rows = rel[(rel["programme"] == "all") & (rel["wave"] == design.baseline)]
        for r in rows.itertuples():
            part.dim(f"alpha:{r.scale}", ["0", "1"])
            part.count("rel", P.alpha(str(r.scale)), r.n)
            part.statistic("rel", P.alpha(str(r.scale)), r.n)
    return part


def _flow(part: Part, flow: pd.DataFrame, design: Design) -> None:
    part.dim("arm", flow["arm"].astype(str))
    part.dim("programme", flow["programme"].astype(str))
    for r in flow.itertuples():
        arm, programme, stage = str(r.arm), str(r.programme), str(r.stage)
        if stage == "roster":
            part.count("flow", P.roster(arm, programme), r.n)
        elif stage in design.wave_ids:
            part.count("flow", P.answered(arm, programme, stage), r.n)
    roster = flow[flow["stage"] == "roster"]
    part.count("dq", P.roster(), roster["n"].sum())
    for arm in roster["arm"].astype(str).unique():
        last = flow[(flow["arm"] == arm) & (flow["stage"] == design.last_wave)]["n"].sum()
        total = roster[roster["arm"] == arm]["n"].sum()
        part.share("dq", P.answered(arm, None, design.last_wave), P.roster(arm), last, total)


def _patterns(part: Part, patterns: pd.DataFrame, design: Design) -> None:
    part.dim("arm", patterns["arm"].astype(str))
    width = len(design.wave_ids)
    totals = patterns.groupby("arm")["n"].sum()
    for r in patterns.itertuples():
        digits = str(r.pattern).zfill(width)
        if len(digits) != width:
            continue
        pop = P.pattern(design, str(r.arm), digits)
        part.count("pat", pop, r.n)
        part.share("pat", pop, P.roster(str(r.arm)), r.n, totals[r.arm], share=getattr(r, "share", None))
