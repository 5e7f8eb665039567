"""The mediation stage (``intervisie analyze mediation``): does the effect run through a short-term change?

For every mediator (default: the study's reflection scale, when the study measures it at the
waves), every outcome (default: the primary outcomes) and every wave after the short-term wave,
this writes the a-path (arm on the mediator's short-term change), the b-path (that change on the
outcome's change to the later wave), the indirect, direct and total effects and the proportion
mediated, with group-clustered standard errors and Monte Carlo intervals for the indirect effect
(:mod:`analyses.mediation`), to ``mediation.csv``; what the design cannot support goes to
``skipped.csv`` with its reason: no comparison arm, no wave after the short-term wave, a mediator
the study does not measure, or too few people.

Choices (``analyses.mediation`` in ``params.yaml``): ``mediators``, ``outcomes``, ``draws``,
``seed``, ``vcov`` and ``weighting`` (``auto``: none after randomisation, otherwise the estimand of
``analyses.adjusted``, the same propensity weights as the adjusted short-term effect).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from analyses.data import covariate_frame
from analyses.mediation import EFFECT_KEYS, INFO_KEYS, mediation_effects, mediation_frame
from intervisie.choices import default_mediators
from intervisie.stages.adjusted import AdjustedParams, clean_covariates, design_covariates
from intervisie.stages.common import (
    DESIGN_FILE,
    Progress,
    analysis_scores,
    choice_section,
    load_analysis_params,
    write_skipped,
    write_table,
)
from pipeline.atomic import write_text
from pipeline.design import Design
from pipeline.errors import InputError

NO_GROUPS = "the roster names no intervisie groups: every participant is a cluster of one (robust, not clustered, SEs)"
MEDIATION_COLUMNS = ["mediator", "outcome", "wave", *EFFECT_KEYS, *INFO_KEYS, "seed"]


class MediationParams(BaseModel):
    """``analyses.mediation`` in ``params.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: mediator scales (default: intervisie.choices.default_mediators, from the design)
    mediators: list[str] | None = None
    #: outcome scales (default: the primary outcomes)
    outcomes: list[str] | None = None
    #: Monte Carlo draws for the indirect effect's interval (Preacher & Selig 2012)
    draws: int = Field(20000, ge=1000)
    seed: int = 20261129
    vcov: Literal["CR2", "CR1"] = "CR2"
    #: auto: none after randomisation, otherwise analyses.adjusted.estimand's propensity weights
    weighting: Literal["auto", "none", "ato", "att", "ate"] = "auto"


def mediation_choices(options: MediationParams, design: Design, params_path: Path) -> tuple[list[str], list[str]]:
    """Return the mediators and outcomes, defaulted from the design; a name the study lacks is an input error."""
    mediators = default_mediators(design) if options.mediators is None else list(options.mediators)
    outcomes = list(design.primary) if options.outcomes is None else list(options.outcomes)
    problems = [f"analyses.mediation.mediators: '{m}' is not a scale measured at the waves of this study"
                for m in mediators if m not in design.scales or design.scales[m].occasion != "wave"]  # fmt: skip
    problems += [f"analyses.mediation.outcomes: '{o}' is not an outcome of this study ({design.outcomes()})"
                 for o in outcomes if o not in design.outcomes()]  # fmt: skip
    if problems:
        raise InputError(f"The parameters file {params_path} does not fit the study's design:\n"
                         + "\n".join(f"  {p}" for p in problems))  # fmt: skip
    return mediators, outcomes


def _weighting(options: MediationParams, params_section: dict, design: Design) -> str:
    if options.weighting != "auto":
        return options.weighting
    if design.randomised:
        return "none"
    return AdjustedParams.model_validate(params_section).estimand


def run_mediation(clean_dir: Path, params_path: Path, out_dir: Path, progress: Progress) -> None:
    """Write ``mediation.csv``, ``skipped.csv`` and ``metrics.json`` to ``out_dir``."""
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    design = params.design
    options = choice_section(params, "mediation", MediationParams, params_path)
    mediators, outcomes = mediation_choices(options, design, params_path)
    later = [w.id for w in design.waves if w.months > design.wave(design.short_term).months]
    skipped: list[dict[str, str]] = []
    rows: list[dict] = []
    if not design.has_comparison:
        skipped.append({"analysis": "mediation", "reason": "no comparison cohort: there is no effect of the arm to "
                        "split into an indirect and a direct part"})  # fmt: skip
    if not later:
        skipped.append({"analysis": "mediation", "reason": "no wave after the short-term wave: the mediator's "
                        "short-term change cannot precede a later outcome"})  # fmt: skip
    if not mediators:
        skipped.append({"analysis": "mediation", "reason": "the study measures no mediator at the waves (name one "
                        "as analyses.mediation.mediators in params.yaml)"})  # fmt: skip
    if design.has_comparison and later and mediators:
        _participants, scores = analysis_scores(clean_dir, params)
        covs = design_covariates(design)
        wide = covariate_frame(clean_covariates(clean_dir), {c.name: c.kind for c in covs})
        weighting = _weighting(options, params.section("adjusted"), design)
        measured = set(scores["scale"].astype(str))
        for mediator in mediators:
            if mediator not in measured:
                skipped.append({"analysis": f"mediation through {mediator}", "reason": "no valid scores of the "
                                "mediator in the clean data"})  # fmt: skip
                continue
            for outcome in outcomes:
                if outcome == mediator:
                    continue
                for wave in later:
                    frame = mediation_frame(scores, wide, mediator=mediator, outcome=outcome,
                                            baseline=design.baseline, short_term=design.short_term, later=wave)  # fmt: skip
                    if not design.data.groups:  # a group column without groups in the design is not clustered on
                        frame["group"] = pd.array([None] * len(frame), dtype="string")
                    if "programme" in frame:
                        frame["programme"] = pd.Categorical(frame["programme"].astype(str),
                                                            categories=design.programme_ids, ordered=True)  # fmt: skip
                    found = mediation_effects(frame, covs, weighting=weighting, draws=options.draws,  # type: ignore[arg-type]
                                              seed=options.seed, vcov=options.vcov)  # fmt: skip
                    if not design.data.groups:
                        found = [{**r, "note": "; ".join(filter(None, [r["note"], NO_GROUPS]))} for r in found]
                    rows += [{"mediator": mediator, "outcome": outcome, "wave": wave, **r, "seed": options.seed}
                             for r in found]  # fmt: skip
                    if pd.isna(found[0]["estimate"]):
                        skipped.append({"analysis": f"mediation through {mediator} at {wave}", "outcome": outcome,
                                        "reason": found[0]["note"]})  # fmt: skip
    table = pd.DataFrame(rows, columns=MEDIATION_COLUMNS) if rows else pd.DataFrame(columns=MEDIATION_COLUMNS)
    write_table(out_dir / "mediation.csv", table)
    write_skipped(out_dir, "mediation", skipped)
    indirect = table[table["effect"] == "indirect"]
    metrics = {f"indirect_{r.mediator}_{r.outcome}_{r.wave}": round(float(r.estimate), 6)
               for r in indirect.itertuples() if pd.notna(r.estimate)}  # fmt: skip
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(f"wrote {len(indirect)} mediation estimate(s) to {out_dir}")
