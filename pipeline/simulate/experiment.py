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


def mediation_study(
    seed: int,
    *,
    groups: int = 30,
    group_size: int = 6,
    comparison: int = 150,
    a: float = 3.0,
    b: float = -0.4,
    direct: float = -1.0,
    group_sd: float = 2.0,
    sd: float = 5.0,
) -> pd.DataFrame:
    """Simulate one study with a planted indirect path, in memory: the model the mediation analysis assumes.

    ``groups`` intervisie groups of ``group_size`` members face ``comparison`` comparison
    participants, each a cluster of one, in two programmes; one numeric covariate ``x``.  With
    arm :math:`T`, group effects :math:`u_g, v_g \\sim N(0, \text{group\\_sd}^2)` (0 for a
    comparison participant) and errors :math:`N(0, \text{sd}^2)`:

    .. math::

        M_0 &= 50 + 2x + 8 z_m,\\quad Y_0 = 40 + 2x + 8 z_y \\
        M_1 &= 10 + 0.6 M_0 + a T + x + u_g + e_m \\
        Y_2 &= 5 + 0.5 Y_0 - 0.1 M_0 + b M_1 + \text{direct}\\, T + x + 1.5\\,[\text{programme 2}] + v_g + e_y

    so the true indirect effect is :math:`ab` and the total effect :math:`ab + \text{direct}`
    (in ``attrs``: ``a``, ``b``, ``indirect``, ``direct``, ``total``).  Returns the columns of
    :func:`analyses.mediation.mediation_effects`: ``participant, arm, programme, group, m_pre,
    m_post, y_pre, y_post, x``.
    """
    rng = np.random.default_rng(seed)
    n_t = groups * group_size
    n = n_t + comparison
    treated = np.r_[np.ones(n_t), np.zeros(comparison)]
    group = np.r_[np.repeat(np.arange(groups), group_size), np.full(comparison, -1)]
    programme = np.r_[np.repeat(rng.integers(0, 2, groups), group_size), rng.integers(0, 2, comparison)]
    u = np.r_[rng.normal(0, group_sd, groups), 0.0][group]
    v = np.r_[rng.normal(0, group_sd, groups), 0.0][group]
    x = rng.standard_normal(n)
    m_pre = 50 + 2 * x + 8 * rng.standard_normal(n)
    y_pre = 40 + 2 * x + 8 * rng.standard_normal(n)
    m_post = 10 + 0.6 * m_pre + a * treated + x + u + rng.normal(0, sd, n)
    y_post = 5 + 0.5 * y_pre - 0.1 * m_pre + b * m_post + direct * treated + x + 1.5 * programme + v
    y_post = y_post + rng.normal(0, sd, n)
    frame = pd.DataFrame(
        {
            "participant": [f"p{i:04d}" for i in range(n)],
            "arm": np.where(treated == 1, "intervisie", "comparison"),
            "programme": np.where(programme == 1, "programme_2", "programme_1"),
            "group": pd.array([f"g{k:03d}" if k >= 0 else None for k in group], dtype="string"),
            "m_pre": m_pre,
            "m_post": m_post,
            "y_pre": y_pre,
            "y_post": y_post,
            "x": x,
        }
    )
    frame.attrs = {"a": a, "b": b, "indirect": a * b, "direct": direct, "total": a * b + direct, "seed": seed}
    return frame


__all__ = ["mediation_study", "selection_study"]
