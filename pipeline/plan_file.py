"""The plan file (``plans/<name>.yaml``): a future study's design and the grid of designs to simulate.

A plan describes the study a programme considers running, in the units the power stage uses,
so that simulated and closed-form answers can be set side by side:

* the design: waves (months after the start; the first is the baseline, the second the
  short-term wave), intervisie groups per arm and members per group (grid dimensions), how
  much group sizes vary, programmes, and how many comparison participants per intervisie
  participant (0: no comparison arm);
* the variance of the outcome (baseline SD = 1): the share between groups at baseline
  (``icc_level``), the share of the change from baseline to the short-term wave that is shared
  within groups (``icc_change``, as the power stage's ICC of change), occasion noise
  (``residual_share``) and person differences in change (``slope_sd``);
* attrition per follow-up wave and its link to the baseline level (burnout);
* the true effects (grid dimensions): the short-term difference in change in SDs of change
  (the power stage's ``effect_d``) and the yearly slope difference after the short-term wave
  in SDs of change per year;
* the seed, the number of simulated studies per grid cell and the test level.

Every problem is reported at once, each naming its key.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Grid(_Strict):
    """The designs to simulate: every combination of these values is one grid cell."""

    groups_per_arm: list[int] = Field(min_length=1)
    group_size: list[int] = Field(min_length=1)
    effect_short: list[float] = Field(min_length=1)
    effect_long: list[float] = [0.0]

    @field_validator("groups_per_arm")
    @classmethod
    def _enough_groups(cls, value: list[int]) -> list[int]:
        if any(g < 2 for g in value):
            raise ValueError(f"every value must be at least 2 (a group variance needs groups), got {value}")
        return value

    @field_validator("group_size")
    @classmethod
    def _members(cls, value: list[int]) -> list[int]:
        if any(m < 2 for m in value):
            raise ValueError(f"every value must be at least 2 members, got {value}")
        return value

    @field_validator("effect_short", "effect_long")
    @classmethod
    def _plausible(cls, value: list[float]) -> list[float]:
        if any(abs(v) > 5 for v in value):
            raise ValueError(f"effects are in SDs of change; values beyond +-5 are not plausible, got {value}")
        return value


class Variance(_Strict):
    """How the outcome varies, with the SD of the baseline score as the unit."""

    icc_level: float = Field(0.05, ge=0, lt=1)
    icc_change: float = Field(0.0, ge=0, lt=1)
    residual_share: float = Field(0.35, gt=0, lt=1)
    slope_sd: float = Field(0.3, ge=0)

    @model_validator(mode="after")
    def _person_left(self) -> Variance:
        if self.icc_level + self.residual_share >= 1:
            raise ValueError(
                f"icc_level ({self.icc_level}) + residual_share ({self.residual_share}) must stay below 1: "
                "the rest is the variance between persons"
            )
        return self


class Attrition(_Strict):
    """Who stops answering: a share per follow-up wave, rising with the baseline level."""

    per_wave: list[float] = []
    burnout_log_odds: float = 0.0

    @field_validator("per_wave")
    @classmethod
    def _shares(cls, value: list[float]) -> list[float]:
        if any(not 0 <= v < 1 for v in value):
            raise ValueError(f"each share must be at least 0 and below 1, got {value}")
        return value


class Plan(_Strict):
    """A plan file (see the module docstring)."""

    seed: int = Field(ge=0)
    replicates: int = Field(ge=2, le=100_000)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    target_power: float = Field(0.80, gt=0, lt=1)
    waves_months: list[float] = Field(min_length=2)
    grid: Grid
    group_size_spread: int = Field(0, ge=0)
    programmes: int = Field(1, ge=1, le=10)
    comparison: float = Field(1.0, ge=0, le=10)
    variance: Variance = Variance()
    attrition: Attrition = Attrition()
    random: list[str] | None = None

    @field_validator("waves_months")
    @classmethod
    def _ordered(cls, value: list[float]) -> list[float]:
        if value[0] != 0:
            raise ValueError(f"the first wave is the baseline at month 0, got {value[0]}")
        if any(b <= a for a, b in pairwise(value)):
            raise ValueError(f"months must increase from wave to wave, got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        follow_ups = len(self.waves_months) - 1
        if self.attrition.per_wave and len(self.attrition.per_wave) != follow_ups:
            raise ValueError(
                f"attrition.per_wave gives {len(self.attrition.per_wave)} share(s) but the plan has {follow_ups} "
                f"follow-up wave(s) ({self.waves_months[1:]} months)"
            )
        if len(self.waves_months) < 3 and any(e != 0 for e in self.grid.effect_long):
            raise ValueError("grid.effect_long: no wave follows the short-term wave, so there is no long-term slope")
        small = min(self.grid.group_size) - self.group_size_spread
        if small < 2:
            raise ValueError(
                f"group_size_spread ({self.group_size_spread}) would make groups of {small} from the smallest "
                f"group_size ({min(self.grid.group_size)}); groups need at least 2 members"
            )
        return self


def load_plan(path: Path) -> Plan:
    """Read and check a plan file; :class:`pipeline.errors.InputError` names every bad key.

    A problem that concerns several keys at once names them in its message.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"The plan file {path} cannot be read: {exc}") from exc
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"The plan file {path} is not valid:\n" + "\n".join(problem_lines(exc))) from None


def problem_lines(exc: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: ``  key.path: message`` (a problem of several keys: ``  message``)."""
    lines = []
    for e in exc.errors():
        message = str(e["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in e["loc"])
        lines.append(f"  {prefix}{where}: {message}" if where else f"  {message}")
    return lines
