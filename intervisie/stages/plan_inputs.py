"""Where a plan comes from: a plan file, or a finished study's own estimates (``--from-results``).

From results, the design of the next study is the finished one's, for one outcome (``plan.outcome``
in params.yaml; default the first primary outcome, the first row of ``power/components.csv``):

* waves: the months of the growth stage's wave means (``growth/wave_means.csv``);
* variance (``growth/random_effects.csv``, the accepted growth model): with :math:`V` the sum of
  the group intercept, participant intercept and residual variances (the baseline variance),
  ``icc_level`` = group / V, ``residual_share`` = residual / V, ``slope_sd`` = SD of the
  participant slope of ``short`` / :math:`\\sqrt V` (0 when the model has none);
* ``icc_change`` (clipped to [0, 0.95]) and the comparison participants per intervisie
  participant from ``power/components.csv`` (short-term horizon; ``plan.comparison`` overrides
  the ratio, e.g. 1 for balanced arms as the closed-form sample sizes assume);
* attrition: the intervisie arm's loss by the short-term wave, then the same share at every
  later wave such that the retention at the last wave is the observed one (long horizon);
  no link to burnout (the stage has no estimate of it);
* programmes: as many as the growth model's programme terms say.

The grid, seed and number of studies come from ``plan`` in params.yaml (:class:`PlanChoices`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.config import load_yaml_model
from pipeline.errors import InputError
from pipeline.plan_file import Grid, Plan, problem_lines


class PlanChoices(BaseModel):
    """``plan`` in params.yaml: the grid and the simulation of a plan made from a study's results."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: str | None = None
    seed: int = Field(ge=0)
    replicates: int = Field(ge=2, le=100_000)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    target_power: float = Field(0.80, gt=0, lt=1)
    group_size_spread: int = Field(0, ge=0)
    #: comparison participants per intervisie participant; null: the finished study's own ratio
    comparison: float | None = Field(None, ge=0, le=10)
    grid: Grid
    random: list[str] | None = None


def load_choices(params_path: Path) -> PlanChoices:
    """Read ``plan`` of params.yaml; every problem names its key (``plan.grid.group_size``, ...)."""
    return load_yaml_model(params_path, PlanChoices, "parameters file", section="plan")


def _read(path: Path, needed: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"{path} is missing: run the growth and power stages before planning from results")
    table = pd.read_csv(path)
    missing = [c for c in needed if c not in table]
    if missing:
        raise InputError(f"{path} lacks column(s) {missing}: it is not a table of this pipeline's version")
    return table


def plan_from_results(results_dir: Path, choices: PlanChoices) -> Plan:
    """A :class:`Plan` with the design and variance of the finished study in ``results_dir`` (see the module docstring)."""
    comp = _read(results_dir / "power" / "components.csv", ["outcome", "horizon", "icc_change", "retention_treated"])
    if not len(comp):
        raise InputError(f"{results_dir / 'power' / 'components.csv'} has no rows: the power stage estimated nothing")
    outcome = choices.outcome or str(comp["outcome"].iloc[0])
    mine = comp[comp["outcome"] == outcome]
    if not len(mine):
        raise InputError(f"plan.outcome: '{outcome}' has no row in {results_dir / 'power' / 'components.csv'} "
                         f"(outcomes there: {sorted(set(comp['outcome']))})")  # fmt: skip
    short = mine[mine["horizon"] == "short"].iloc[0]
    means = _read(results_dir / "growth" / "wave_means.csv", ["outcome", "months"])
    months = sorted(set(means.loc[means["outcome"] == outcome, "months"].astype(float)))
    random = _read(results_dir / "growth" / "random_effects.csv", ["outcome", "group", "term", "term2", "variance"])
    own = random[(random["outcome"] == outcome) & random["term2"].isna()]
    if not len(own) or len(months) < 2:
        raise InputError(f"the growth model of '{outcome}' was not fitted (see {results_dir / 'growth' / 'skipped.csv'})")

    def variance(group: str, term: str | None) -> float:
        hit = own[(own["group"] == group) & ((own["term"] == term) if term else own["term"].isna())]
        return float(hit["variance"].sum())

    v_group, v_person = variance("group", "(Intercept)"), variance("participant", "(Intercept)")
    v_res, v_slope = variance("Residual", None), variance("participant", "short")
    total = v_group + v_person + v_res
    effects = _read(results_dir / "growth" / "effects.csv", ["outcome", "term"])
    terms = set(effects.loc[effects["outcome"] == outcome, "term"].astype(str))
    programmes = 1 + sum(1 for t in terms if t.startswith("programme") and ":" not in t)
    ratio = float(short["n_comparison"]) / float(short["n_treated"]) if "n_comparison" in short and pd.notna(short.get("n_comparison")) else 0.0
    kept_short = float(short["retention_treated"])
    attrition = [1 - kept_short]
    later = len(months) - 2
    if later:
        long = mine[mine["horizon"] == "long"]
        kept_long = float(long["retention_treated"].iloc[0]) if len(long) else kept_short
        step = (kept_long / kept_short) ** (1 / later) if kept_short > 0 else 1.0
        attrition += [max(0.0, 1 - step)] * later
    data = {
        "seed": choices.seed,
        "replicates": choices.replicates,
        "alpha": choices.alpha,
        "target_power": choices.target_power,
        "waves_months": months,
        "grid": choices.grid.model_dump(),
        "group_size_spread": choices.group_size_spread,
        "programmes": programmes,
        "comparison": choices.comparison if choices.comparison is not None else round(ratio, 6),
        "variance": {
            "icc_level": round(v_group / total, 6),
            "icc_change": round(min(max(float(short["icc_change"]), 0.0), 0.95), 6) if math.isfinite(short["icc_change"]) else 0.0,
            "residual_share": round(v_res / total, 6),
            "slope_sd": round(math.sqrt(v_slope / total), 6),
        },
        "attrition": {"per_wave": [round(a, 6) for a in attrition]},
        "random": choices.random,
    }
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        lines = problem_lines(exc)
        raise InputError(f"The estimates in {results_dir} do not make a valid plan:\n" + "\n".join(lines)) from None
