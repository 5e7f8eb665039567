"""The researcher's analysis choices (``params.yaml``, section ``analyses``), checked against the design.

``params.yaml`` holds choices only: thresholds, model options, seeds. Everything that names a
wave, a programme or an outcome is part of the study's design (``study.yaml``, read into
:class:`~pipeline.design.Design`); a choice left out (or ``null``) defaults from the design, and
a choice that names something the study does not have is an input error naming the key, the
value and what exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from analyses.mixed.formula import parse_formula
from pipeline.design import Design
from pipeline.errors import InputError

#: keys that used to be choices and are now part of the study's design
MOVED_TO_STUDY = {
    "waves": "the `waves:` of study.yaml",
    "baseline": "`design: {baseline: ...}` in study.yaml",
    "short_term": "`design: {short_term: ...}` in study.yaml",
    "knot_months": "the months of the short-term wave in study.yaml (the knot follows from them)",
    "primary": "`outcomes: {primary: [...]}` in study.yaml",
    "secondary": "`outcomes: {secondary: [...]}` in study.yaml",
}
#: the default mediators (analyses.mediation): instrument id of the library -> its scales that are
#: mediators (None: every scale), when the study measures them at the waves. Reflection (GRAS) and
#: problem-focused coping (the Brief COPE composite, Cooper et al. 2008): the programmes' account of
#: how intervisie works is that structured reflection changes how people cope.
MEDIATOR_SCALES: dict[str, tuple[str, ...] | None] = {"gras": None, "cope": ("cope_problem_focused",)}


def default_mediators(design: Design) -> list[str]:
    """The study's wave scales that :data:`MEDIATOR_SCALES` names, in the design's order of scales."""
    return [s.id for s in design.scales.values() if s.occasion == "wave" and s.instrument in MEDIATOR_SCALES
            and (MEDIATOR_SCALES[s.instrument] is None or s.id in (MEDIATOR_SCALES[s.instrument] or ()))]  # fmt: skip
#: growth-model keys that follow the design (programmes, arms, waves)
DERIVED_GROWTH = ("fixed", "moderation", "effect_terms")


def read_params(path: Path) -> dict[str, Any]:
    """Read ``params.yaml`` as a mapping; an unreadable file is an input error naming it."""
    if not path.is_file():
        raise InputError(f"{path} is missing: the analysis choices live in params.yaml (see the README)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"The parameters file {path} cannot be read: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"The parameters file {path} must be a mapping of sections (ingest, careless, analyses, reports)")
    return data


def _names(problems: list[str], key: str, values: Iterable[str] | None, allowed: Iterable[str], what: str) -> None:
    allowed = list(allowed)
    for value in values or []:
        if value not in allowed:
            problems.append(f"{key}: '{value}' is not {what} of this study (it has: {allowed or 'none'})")


#: the columns a random part of the growth model may use besides the fixed part's and the time terms
GROUPING = ("participant", "group")


def _check_random(problems: list[str], key: str, random: list[object], fixed: str) -> None:
    """Check each random part of ``key``: it must read as lme4 random terms over known columns."""
    base = parse_formula(f"{fixed} + (1 | participant)")
    allowed = list(dict.fromkeys([*base.fixed_variables, "short", "long", *GROUPING]))
    for i, part in enumerate(random):
        where = f"{key}[{i}]"
        if not isinstance(part, str) or not part.strip():
            problems.append(f"{where}: must be random-effect terms written as text, e.g. \"(1 | participant)\"")
            continue
        try:
            parsed = parse_formula(f"{fixed} + {part}")
        except ValueError as exc:
            problems.append(f"{where}: {part!r} is not a formula the growth model can read: {exc}")
            continue
        if parsed.fixed_terms != base.fixed_terms or parsed.intercept != base.intercept:
            problems.append(
                f"{where}: {part!r} adds fixed terms; write only random-effect terms in parentheses, "
                "e.g. (1 + short | participant)"
            )
            continue
        unknown = [v for v in parsed.random_variables if v not in allowed]
        if unknown:
            problems.append(f"{where}: {part!r} uses {unknown}, which the growth data do not have (it has: {allowed})")


def resolve_analyses(section: dict[str, Any], design: Design, path: Path) -> dict[str, Any]:
    """Return the ``analyses`` section with every design-dependent default filled in from ``design``.

    Fills in the growth model's ``fixed``, ``moderation`` and ``effect_terms`` (from
    :meth:`Design.growth_fixed` and friends), the random parts this design can carry, and the
    defaults of ``implementation``, ``survival`` and ``mediation``. Raises
    :class:`InputError` with every problem when a choice names a wave, scale, programme or
    factor the study does not have, or a key that now belongs to study.yaml.
    """
    problems: list[str] = []
    section = dict(section or {})
    for key, where in MOVED_TO_STUDY.items():
        if key in section:
            problems.append(f"analyses.{key}: part of the study's design now; remove it here and declare it as {where}")
    growth = dict(section.get("growth") or {})
    for key in DERIVED_GROWTH:
        if key in growth:
            problems.append(
                f"analyses.growth.{key}: follows from the design in study.yaml (programmes, arms, waves); remove it"
            )
    random = list(growth.get("random") or [])
    _check_random(problems, "analyses.growth.random", random, design.growth_fixed())
    random = [r for r in random if isinstance(r, str)]
    if not random:
        random = ["(1 + short | participant) + (1 | group)", "(1 | participant) + (1 | group)", "(1 | participant)"]
    if not design.data.groups:
        random = [r for r in random if "group" not in r] or ["(1 | participant)"]
    if len(design.waves) == 2:
        # two scores per person cannot separate a random slope from the residual: not identifiable
        random = [r for r in random if not re.search(r"short\s*\|", r)] or ["(1 | participant)"]
    if not design.long_term:
        bad = [r for r in random if isinstance(r, str) and "long" in r]
        if bad:
            problems.append(f"analyses.growth.random: {bad} use `long`, but no wave follows the short-term wave")
    growth.update(
        fixed=design.growth_fixed(),
        random=list(dict.fromkeys(random)),
        moderation=design.moderation_terms(),
        effect_terms=design.effect_terms(),
    )
    outcomes = design.outcomes()
    impl = dict(section.get("implementation") or {})
    if "ratings" in impl:
        problems.append(
            "analyses.implementation.ratings: part of the study's design now; declare it as "
            "`design: {ratings: {coach_quality: ..., structure: ..., safety: ...}}` in study.yaml"
        )
    if "fixed" in impl:
        problems.append("analyses.implementation.fixed: follows from the design in study.yaml; remove it")
    if impl.get("outcomes") is None:
        impl["outcomes"] = list(design.primary)
    _names(problems, "analyses.implementation.outcomes", impl["outcomes"], outcomes, "an outcome")
    impl["ratings"] = dict(design.ratings)
    impl["fixed"] = design.growth_fixed(arms=False)
    survival = dict(section.get("survival") or {})
    months = design.wave_months
    last = months[design.last_wave]
    if survival.get("follow_up_months") is None:
        survival["follow_up_months"] = max(last, design.knot_months)
    if survival.get("km_times") is None:
        survival["km_times"] = sorted({m for m in months.values() if 0 < m <= survival["follow_up_months"]})
    factors = ["programme"] if design.several_programmes else []
    factors += ["format"] if design.data.format else []
    if survival.get("km_by") is None:
        survival["km_by"] = factors
    if survival.get("factors") is None:
        survival["factors"] = [f for f in ("format", "programme") if f in factors]
    _names(problems, "analyses.survival.km_by", survival["km_by"], factors, "a factor")
    _names(problems, "analyses.survival.factors", survival["factors"], factors, "a factor")
    if survival.get("baseline_scales") is None:
        survival["baseline_scales"] = list(design.primary)
    _names(problems, "analyses.survival.baseline_scales", survival["baseline_scales"], outcomes, "an outcome")
    if survival.get("group_scales") is None:
        survival["group_scales"] = sorted(set(design.ratings.values()))
    _names(problems, "analyses.survival.group_scales", survival["group_scales"], sorted(set(design.ratings.values())), "a rating scale (design.ratings)")
    caseness = dict(survival.get("caseness") or {})
    if caseness.get("scale") is None:
        # caseness is the bad side of a published cut-off: high burnout, on a higher-is-worse scale
        with_cutoff = [
            s for s in outcomes
            if not design.scales[s].higher_is_better and any(c[0] in (">=", ">") for c in design.scales[s].cutoffs)
        ]
        caseness["scale"] = with_cutoff[0] if with_cutoff else None
    elif caseness["scale"] not in outcomes:
        problems.append(f"analyses.survival.caseness.scale: '{caseness['scale']}' is not an outcome of this study ({outcomes})")
    if caseness.get("scale") in design.scales and caseness.get("threshold") is None:
        cut = next((c for c in design.scales[caseness["scale"]].cutoffs if c[0] in (">=", ">")), None)
        caseness["threshold"] = cut[1] if cut else None
    if caseness.get("covariates") is None:
        caseness["covariates"] = ["programme"] if design.several_programmes else []
    _names(problems, "analyses.survival.caseness.covariates", caseness["covariates"], factors, "a factor")
    survival["caseness"] = caseness
    mediation = dict(section.get("mediation") or {})
    wave_scales = [s for s, info in design.scales.items() if info.occasion == "wave"]
    if mediation.get("mediators") is None:
        mediation["mediators"] = default_mediators(design)
    _names(problems, "analyses.mediation.mediators", mediation["mediators"], wave_scales, "a scale measured at the waves")
    if mediation.get("outcomes") is None:
        mediation["outcomes"] = list(design.primary)
    _names(problems, "analyses.mediation.outcomes", mediation["outcomes"], outcomes, "an outcome")
    if problems:
        raise InputError(f"The parameters file {path} does not fit the study's design:\n" + "\n".join(f"  {p}" for p in problems))
    for key in MOVED_TO_STUDY:
        section.pop(key, None)
    return {
        **section,
        "growth": growth,
        "implementation": impl,
        "survival": survival,
        "mediation": mediation,
    }


def check_all_params(params: dict[str, Any], design: Design, path: Path) -> dict[str, Any]:
    """Check every section of ``params.yaml`` against the design; return the resolved ``analyses`` section."""
    unknown = sorted(set(params) - {"ingest", "careless", "analyses", "plan", "reports"})
    if unknown:
        raise InputError(f"The parameters file {path} has unknown section(s) {unknown} (known: ingest, careless, analyses, plan, reports)")
    return resolve_analyses(params.get("analyses") or {}, design, path)
