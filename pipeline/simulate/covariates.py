"""Baseline covariates and who joins intervisie: the confounding a non-randomised study has to adjust for.

Each covariate of study.yaml's ``covariates:`` is drawn from its own random stream
(``covariate/<name>``), so a configuration without covariates draws exactly what it drew
before.  A covariate shapes outcome ``s`` of person ``i`` through its centred value ``c_i``
(numeric ``(x - mean) / sd``; binary and categorical: indicator minus probability)::

    base_i   += person_sd_s * level_s * c_i
    change_i += person_sd_s * short_s * c_i      (the short-term change, both arms)
    slope_i  += person_sd_s * long_s * c_i       (per year after the short-term window)

The selection mechanism then decides, within each programme, which of its people fill the
design's intervisie places (:func:`select`): at random (nothing moves), by the observed
baseline score of an outcome (regression to the mean), or by a covariate.  People are moved
between rows (:func:`pipeline.simulate.model.move_people`) with everything drawn for them, so
the group structure and arm sizes stay those of the design and the true intervisie effects stay
those of the configuration.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.simulate.config import CovariateModel, SimulationConfig
from pipeline.simulate.design import Cohort, stream
from pipeline.simulate.items import observed_score
from pipeline.simulate.model import Model
from pipeline.study import Study


def _per_programme(value: float | dict[str, float], programme: np.ndarray, where: str) -> np.ndarray:
    if isinstance(value, dict):
        unknown = sorted(set(np.unique(programme)) - set(value))
        if unknown:
            raise InputError(f"simulation.yaml: {where} gives no value for programme(s) {unknown}")
        return np.array([value[p] for p in programme], dtype=float)
    return np.full(len(programme), float(value))


def check_covariates(cfg: SimulationConfig, study: Study) -> None:
    """Raise :class:`InputError` if simulation.yaml and study.yaml disagree about the covariates."""
    declared, drawn = set(study.covariates), set(cfg.covariates)
    problems = []
    if declared - drawn:
        problems.append(f"study.yaml declares covariate(s) {sorted(declared - drawn)} that `covariates:` does not draw")
    if drawn - declared:
        problems.append(f"`covariates:` draws {sorted(drawn - declared)} that study.yaml does not declare")
    for name in sorted(declared & drawn):
        cov, sim = study.covariates[name], cfg.covariates[name]
        if cov.kind != sim.kind:
            problems.append(f"covariates.{name} is {sim.kind} here but {cov.kind} in study.yaml")
        elif sim.kind == "categorical" and list(sim.probabilities or {}) != cov.levels:
            problems.append(f"covariates.{name}.probabilities must name study.yaml's levels {cov.levels} in order")
    sel = cfg.selection
    if sel.mechanism == "covariate" and sel.covariate not in drawn:
        problems.append(f"selection.covariate '{sel.covariate}' is not one of `covariates:` {sorted(drawn)}")
    if problems:
        raise InputError("simulation.yaml: " + "; ".join(problems))


def draw_covariates(cfg: SimulationConfig, programme: np.ndarray) -> pd.DataFrame:
    """Draw every covariate for every person (rows as the cohort's, before any selection).

    Returns a frame with, per covariate, ``<name>`` (numeric: the value; binary: 0/1;
    categorical: the level; missing: NaN / None) and ``<name>__centred`` (what the effects and
    the selection act on; the value before it was set missing).
    """
    out: dict[str, np.ndarray] = {}
    n = len(programme)
    for name, spec in cfg.covariates.items():
        rng = stream(cfg.seed, f"covariate/{name}")
        where = f"covariates.{name}"
        if spec.kind == "numeric":
            mean = _per_programme(spec.mean, programme, f"{where}.mean")  # type: ignore[arg-type]
            sd = _per_programme(spec.sd, programme, f"{where}.sd")  # type: ignore[arg-type]
            value = rng.normal(mean, sd)
            if spec.decimals is not None:
                value = np.round(value, spec.decimals)
            if spec.range is not None:
                value = np.clip(value, *spec.range)
            centred = (value - mean) / sd
            shown: np.ndarray = value.astype(float)
        elif spec.kind == "binary":
            p = _per_programme(spec.probability, programme, f"{where}.probability")  # type: ignore[arg-type]
            value = (rng.random(n) < p).astype(float)
            centred = value - p
            shown = value
        else:
            levels = list(spec.probabilities or {})
            probs = np.array(list((spec.probabilities or {}).values()), dtype=float)
            index = np.minimum(np.searchsorted(np.cumsum(probs), rng.random(n), side="right"), len(levels) - 1)
            shown = np.array(levels, dtype=object)[index]
            centred = index.astype(float)  # the effects read the level index (see covariate_terms)
        gone = rng.random(n) < spec.missing
        shown = shown.copy()
        shown[gone] = None if spec.kind == "categorical" else np.nan
        out[name] = shown
        out[f"{name}__centred"] = centred
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def covariate_terms(spec: CovariateModel, centred: np.ndarray, part: str, scale: str) -> np.ndarray:
    """Return one covariate's contribution (in SD units of the outcome) to ``part`` of ``scale``."""
    effect = spec.effects.get(scale)
    if effect is None:
        return np.zeros(len(centred))
    value = getattr(effect, part)
    if spec.kind != "categorical":
        return float(value) * centred
    levels = list(spec.probabilities or {})
    probs = spec.probabilities or {}
    index = centred.astype(int)
    total = np.zeros(len(centred))
    for level, size in (value.items() if isinstance(value, dict) else []):
        total += size * ((index == levels.index(level)).astype(float) - probs[level])
    return total


def add_covariate_effects(cfg: SimulationConfig, model: Model, covariates: pd.DataFrame) -> None:
    """Add the covariates' effects to the outcomes' baseline, short-term change and slope (in place)."""
    for scale in {s for spec in cfg.covariates.values() for s in spec.effects}:
        if scale not in model.outcomes:
            raise InputError(f"simulation.yaml: covariate effects name '{scale}', which is not an outcome scale")
    for scale, outcome in list(model.outcomes.items()):
        if not any(scale in spec.effects for spec in cfg.covariates.values()):
            continue
        sd = float(outcome.params.person_sd)
        parts = {"level": 0.0, "short": 0.0, "long": 0.0}
        for name, spec in cfg.covariates.items():
            centred = covariates[f"{name}__centred"].to_numpy(dtype=float)
            for part in parts:
                parts[part] = parts[part] + sd * covariate_terms(spec, centred, part, scale)
        model.outcomes[scale] = replace(
            outcome,
            base=outcome.base + parts["level"],
            slope=outcome.slope + parts["long"],
            change=parts["short"] * np.ones(len(outcome.base)),
        )


def _zscore(values: np.ndarray, programme: np.ndarray) -> np.ndarray:
    z = np.zeros(len(values))
    for p in np.unique(programme):
        mine = programme == p
        sd = values[mine].std()
        z[mine] = (values[mine] - values[mine].mean()) / (sd if sd > 0 else 1.0)
    return z


def selection_score(
    cfg: SimulationConfig,
    model: Model,
    covariates: pd.DataFrame,
    baseline_answers: dict[str, np.ndarray] | None,
) -> np.ndarray:
    """Return what the chance to join rises with, per person: the observed baseline score or the covariate."""
    sel = cfg.selection
    if sel.mechanism == "covariate":  # a categorical covariate counts as its level index (levels in order)
        return covariates[f"{sel.covariate}__centred"].to_numpy(dtype=float)
    if baseline_answers is None or sel.outcome not in model.outcomes:
        raise InputError(f"simulation.yaml: selection.outcome '{sel.outcome}' is not an outcome scale of the study")
    inst = model.instruments[model.outcomes[str(sel.outcome)].geom.instrument]
    if any(i not in baseline_answers for i in inst.item_ids()):
        raise InputError(f"simulation.yaml: selection.outcome '{sel.outcome}' is not asked at the baseline wave")
    return observed_score(baseline_answers, inst, str(sel.outcome))


def select(cfg: SimulationConfig, cohort: Cohort, value: np.ndarray) -> np.ndarray:
    """Return the row order after selection: row ``k`` gets the person of row ``order[k]``.

    Within each programme the design's intervisie places go to people drawn by weighted
    sampling without replacement, weight ``exp(log_odds_per_sd * z)`` with ``z`` the score
    standardised within the programme: each key ``log(u) / w`` (``u`` uniform), the largest
    keys join (Efraimidis & Spirakis 2006).  The joiners fill the intervisie rows in random
    order (so groups are formed at random among them); the others keep their order.
    """
    rng = stream(cfg.seed, "selection")
    people = cohort.people
    programme = people["programme"].to_numpy()
    arm = people["intervisie"].to_numpy()
    z = _zscore(np.nan_to_num(value, nan=float(np.nanmean(value)) if np.isfinite(value).any() else 0.0), programme)
    order = np.arange(len(people))
    for p in cfg.design.programmes:
        rows = np.flatnonzero(programme == p)
        places = rows[arm[rows]]
        rest = rows[~arm[rows]]
        if not len(places) or not len(rest):
            continue
        weight = np.exp(cfg.selection.log_odds_per_sd * z[rows])
        key = np.log(rng.random(len(rows))) / weight
        ranked = rows[np.argsort(-key, kind="stable")]
        joiners = rng.permutation(ranked[: len(places)])
        order[places] = joiners
        order[rest] = np.sort(ranked[len(places) :])
    return order


def covariate_cells(
    covariates: pd.DataFrame, cfg: SimulationConfig, study: Study, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """Return the roster cells of every covariate (column -> cells), for participants ``rows`` in order.

    Numbers are written as the roster's format writes numbers (Excel: number cells; CSV: text with
    the roster's decimal mark), binary and categorical values in the spellings study.yaml
    accepts (mostly the first, sometimes another, from the covariate's own stream), missing
    values as empty cells.
    """
    roster = study.roster
    out: dict[str, np.ndarray] = {}
    for name, cov in study.covariates.items():
        spec = cfg.covariates[name]
        values = covariates[name].to_numpy()[rows]
        cells = np.full(len(rows), None, dtype=object)
        if cov.kind == "numeric":
            known = ~pd.isna(values)
            number = values[known].astype(float)
            if roster.format == "xlsx" or roster.format == "spss":
                cells[known] = number.astype(int) if spec.decimals == 0 else number
            else:
                text = [f"{v:.{spec.decimals}f}" if spec.decimals is not None else f"{v:g}" for v in number]
                cells[known] = np.array([t.replace(".", roster.csv.decimal) for t in text], dtype=object)
        else:
            canonical = values.astype(object)
            if cov.kind == "binary":
                canonical = np.where(pd.isna(values), None, np.where(values == 1, "true", "false"))
            rng = stream(cfg.seed, f"covariate/{name}/spelling")
            rate = cfg.response.spelling_variant_rate
            for level, options in cov.values.items():
                where = np.flatnonzero(canonical == level)
                texts = np.array([str(o) for o in options], dtype=object)
                pick = np.where(rng.random(len(where)) < rate, rng.integers(0, len(texts), len(where)), 0)
                cells[where] = texts[pick]
        out[cov.column] = cells
    return out


def covariate_truth(cfg: SimulationConfig, sim_covariates: pd.DataFrame | None, people: pd.DataFrame) -> dict:
    """Return the manifest's truth about covariates and selection ({} when neither is configured).

    Per covariate: its kind, declared distribution and effects (per outcome, in person-SD
    units) and the realised mean (numeric, binary) or level shares (categorical) per programme
    and arm, over the non-missing values.  The selection: mechanism, what drives it, its
    strength, and the intervisie effects it leaves untouched (``true_effects``).
    """
    out: dict = {}
    arm = np.where(people["intervisie"].to_numpy(), "intervisie", "comparison")
    programme = people["programme"].to_numpy()
    if cfg.covariates and sim_covariates is not None:
        block = {}
        for name, spec in cfg.covariates.items():
            values = sim_covariates[name]
            realised: dict[str, dict] = {}
            for p in cfg.design.programmes:
                realised[p] = {}
                for a in ("intervisie", "comparison"):
                    mine = values[(programme == p) & (arm == a)].dropna()
                    if not len(mine):
                        continue
                    if spec.kind == "categorical":
                        shares = mine.value_counts(normalize=True)
                        realised[p][a] = {lvl: round(float(shares.get(lvl, 0.0)), 4) for lvl in spec.probabilities or {}}
                    else:
                        realised[p][a] = round(float(mine.astype(float).mean()), 4)
            block[name] = spec.model_dump(mode="json", exclude_none=True) | {"realised": realised}
        out["covariates"] = block
    sel = cfg.selection
    if sel.mechanism != "random" or cfg.covariates:
        # selection moves people between rows, never the effects: these stay the truth
        true = {
            scale: {"effect_short": spec.effect_short, "effect_long": spec.effect_long}
            for scale, spec in cfg.outcomes.scales.items()
        }
        out["selection"] = sel.model_dump(mode="json", exclude_none=True) | {"true_effects": true}
    return out
