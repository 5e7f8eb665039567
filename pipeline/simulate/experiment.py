"""Many small studies in memory: one row per participant with covariates and scale scores, no files.

Checking an estimator against simulated truth (bias, coverage, the rejection rate under a true
zero) needs hundreds of studies; writing and ingesting each study's Excel, SPSS and CSV files
would take far longer than the estimator itself.  :func:`selection_study` runs the simulator
of a design (:class:`~pipeline.simulate.variants.DesignSpec`) in memory and scores one outcome
the way the pipeline scores it (:func:`pipeline.scoring.score` on the answers), so an
experiment sees what an analysis of the real files would see, without the planted defects
(typing errors, careless responders, duplicates: the cleaning stages' business, not the
estimator's).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.instruments import Instrument, load_library
from pipeline.simulate.config import SimulationConfig
from pipeline.simulate.items import observed_score
from pipeline.simulate.simulation import simulate
from pipeline.simulate.variant_files import outcome_scales, simulation_config, study_description
from pipeline.simulate.variants import DesignSpec, resolve_spec
from pipeline.study import Study

INSTRUMENTS = Path(__file__).resolve().parents[2] / "instruments"


@lru_cache(maxsize=4)
def _library(instruments_dir: Path) -> dict[str, Instrument]:
    return load_library(instruments_dir)


def selection_study(
    spec: str | DesignSpec | dict,
    seed: int,
    *,
    outcome: str | None = None,
    instruments_dir: Path | None = None,
) -> pd.DataFrame:
    """Simulate one study of a design in memory and return its participants and scores of one outcome.

    Parameters
    ----------
    spec : str, DesignSpec or dict
        A named design (:data:`~pipeline.simulate.variants.DESIGNS`) or a spec.
    seed : int
        The simulator's seed (replaces the spec's).
    outcome : str, optional
        The scale to score (default: the design's first primary outcome).
    instruments_dir : Path, optional
        The instrument library (default: the project's ``instruments/``).

    Returns
    -------
    pandas.DataFrame
        One row per participant: ``participant`` (roster ID), ``arm`` (``intervisie`` /
        ``comparison``), ``programme``, ``group`` (group ID, ``<NA>`` in the comparison arm),
        one column per covariate (numeric: the value; binary: 0/1; categorical: the level
        (pandas string); missing: NaN / ``<NA>``), then one column per wave (its id, e.g.
        ``m0``, ``m3``) holding the observed scale score (NaN: no answer that wave).
        ``attrs`` holds ``outcome``, ``waves`` (in order), ``covariates`` (``(name, (kind,
        levels))`` pairs), ``effect_short`` and ``effect_long`` (the configured effects of the
        outcome, averaged over the intervisie participants' programmes: the truth), ``design``
        and ``seed``.

    Raises
    ------
    InputError
        If the spec is invalid or the outcome is not a scale of its instruments.
    """
    design = resolve_spec(spec).model_copy(update={"seed": seed})
    library = _library((instruments_dir or INSTRUMENTS).resolve())
    study_data = study_description(design, library, roster_arm=True)
    study = Study.model_validate(study_data)
    cfg = SimulationConfig.model_validate(simulation_config(design, library, study_data))
    scale = outcome or outcome_scales(design, library)[0][0]
    sim = simulate(cfg, study, library)
    if scale not in sim.model.outcomes:
        raise InputError(f"outcome '{scale}' is not an outcome scale of design '{design.name}'")
    people, groups = sim.cohort.people, sim.cohort.groups
    group = people["group"].to_numpy()
    member = group >= 0
    group_ids = np.full(len(people), None, dtype=object)
    group_ids[member] = groups["group_id"].to_numpy()[group[member]]
    frame = pd.DataFrame(
        {
            "participant": people["pid"].astype(str).to_numpy(),
            "arm": np.where(people["intervisie"].to_numpy(), "intervisie", "comparison"),
            "programme": people["programme"].astype(str).to_numpy(),
            "group": pd.array(group_ids, dtype="string"),
        }
    )
    kinds: dict[str, tuple[str, tuple[str, ...]]] = {}
    for name, cov in study.covariates.items():
        values = sim.covariates[name] if sim.covariates is not None else pd.Series(np.nan, index=frame.index)
        if cov.kind == "categorical":
            frame[name] = pd.array(values.to_numpy(), dtype="string")
        else:
            frame[name] = values.to_numpy(dtype=float)
        kinds[name] = (cov.kind, tuple(cov.levels))
    inst = sim.model.instruments[sim.model.outcomes[scale].geom.instrument]
    waves = sorted(sim.waves, key=lambda w: study.waves[w].months)
    for wave in waves:
        answers = sim.waves[wave]
        column = np.full(len(people), np.nan)
        if len(answers) and inst.item_ids()[0] in answers:
            codes = {i: answers[i].to_numpy(dtype=float) for i in inst.item_ids()}
            column[answers["participant"].to_numpy()] = observed_score(codes, inst, scale)
        frame[wave] = column
    # flat and small: pandas copies ``attrs`` deeply into every frame derived from this one
    truth = _truth(cfg, scale, frame)
    frame.attrs = {
        "outcome": scale,
        "waves": tuple(waves),
        "covariates": tuple(kinds.items()),
        "effect_short": truth["effect_short"],
        "effect_long": truth["effect_long"],
        "design": design.name,
        "seed": seed,
    }
    return frame


def _truth(cfg: SimulationConfig, scale: str, frame: pd.DataFrame) -> dict[str, float]:
    """Return the configured effects of ``scale`` averaged over the intervisie participants' programmes."""
    params = cfg.outcomes.scales.get(scale)
    treated = frame.loc[frame["arm"] == "intervisie", "programme"]
    out = {}
    for part in ("effect_short", "effect_long"):
        value = getattr(params, part) if params is not None else 0.0
        out[part] = float(treated.map(value).mean()) if isinstance(value, dict) and len(treated) else float(value)
    return out


__all__ = ["selection_study"]
