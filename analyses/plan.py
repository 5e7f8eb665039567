r"""Planning a study by simulation: simulate one study of a design, fit the growth model, keep the effects.

One simulated study is drawn from the data-generating model the growth model assumes (the
multilevel piecewise growth model of :mod:`analyses.growth`), with the SD of the baseline score
as the unit. Person :math:`i` in group :math:`g` (arm :math:`a = 1` for intervisie) at a wave
of month :math:`m`:

.. math::

    y_{ti} = u_{0g} + b_{0i} + s(m)\,(a\,\delta_s + u_{1g} + b_{1i}) + l(m)\,a\,\delta_l + e_{ti}

with :math:`s, l` the piecewise time of :func:`analyses.data.piecewise_time` (knot at the
second wave), :math:`u_{0g} \sim N(0, \rho_{level})`, :math:`e \sim N(0, \sigma_e^2)` with
:math:`\sigma_e^2` the plan's ``residual_share``, :math:`b_{0i} \sim N(0, 1 - \rho_{level} -
\sigma_e^2)` (so the baseline SD is 1), :math:`b_{1i} \sim N(0, \sigma_1^2)` (``slope_sd``) and
:math:`u_{1g} \sim N(0, \tau_1^2)` with :math:`\tau_1^2 = \rho_\Delta/(1 - \rho_\Delta)\,(2\sigma_e^2
+ \sigma_1^2)`, so that the ICC of the change from baseline to the short-term wave is the plan's
``icc_change`` :math:`\rho_\Delta` (as the power stage estimates it). The effects are in SDs of
that change, :math:`\sigma_\Delta = \sqrt{2\sigma_e^2 + \sigma_1^2 + \tau_1^2}`: :math:`\delta_s =
d_s \sigma_\Delta` and :math:`\delta_l = d_l \sigma_\Delta` per year. Comparison participants
meet in no group: each is its own group of one (its own :math:`u_{0g}, u_{1g}`), as the growth
model treats them. Attrition is monotone: before follow-up wave :math:`w` a participant still
answering leaves with probability :math:`\mathrm{expit}(\mathrm{logit}(p_w) + \gamma z_i)`, with
:math:`z_i` the standardised true baseline level (higher = more burnout) and :math:`\gamma` the
plan's ``burnout_log_odds`` -- missing at random given the observed baseline, as the growth
model assumes.

The fitted model is the growth stage's own: the fixed part of :meth:`pipeline.design.Design.growth_fixed`
for this design and the random part pruned of zero variance components
(:func:`analyses.random_pruning.fit_pruned`). A fit that fails is an outcome of its study
(``status``), never an exception.

Reference: Arnold BF, Hogan DR, Colford JM, Hubbard AE (2011). Simulation methods to estimate
design power: an overview for applied research. BMC Med Res Methodol 11:94.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from analyses.data import piecewise_time
from analyses.growth import growth_data, not_estimable
from analyses.mixed import NoAcceptableFitError
from analyses.random_pruning import fit_pruned

#: the growth stage's default random parts (params.yaml ``analyses.growth.random``), the maximal first
DEFAULT_RANDOM = ("(1 + short | participant) + (1 | group)", "(1 | participant) + (1 | group)", "(1 | participant)")
TASK_COLUMNS = [
    "cell", "replicate", "term", "truth", "status", "reason", "estimate", "std_error", "df", "p_val",
    "ci95_low", "ci95_high", "reject", "covered", "singular", "structure", "n_participants", "n_obs",
]  # fmt: skip


@dataclass(frozen=True)
class CellSpec:
    """One grid cell: a design and its true effects, everything a simulated study needs."""

    seed: int
    alpha: float
    waves_months: tuple[float, ...]
    groups_per_arm: int
    group_size: int
    effect_short: float
    effect_long: float
    group_size_spread: int = 0
    programmes: int = 1
    comparison: float = 1.0
    icc_level: float = 0.05
    icc_change: float = 0.0
    residual_share: float = 0.35
    slope_sd: float = 0.3
    attrition: tuple[float, ...] = ()
    burnout_log_odds: float = 0.0
    random: tuple[str, ...] = DEFAULT_RANDOM

    @property
    def cell_id(self) -> str:
        """A file-safe name of the cell's coordinates, e.g. ``g12-m8-s0.350-l0.000``."""
        return f"g{self.groups_per_arm}-m{self.group_size}-s{self.effect_short:.3f}-l{self.effect_long:.3f}"

    @property
    def has_long(self) -> bool:
        """Whether a wave follows the short-term wave."""
        return len(self.waves_months) > 2

    @property
    def sd_change(self) -> float:
        r""":math:`\sigma_\Delta`, the SD of the change from baseline to the short-term wave (baseline SD 1)."""
        individual = 2 * self.residual_share + self.slope_sd**2
        return math.sqrt(individual / (1 - self.icc_change))

    def fixed(self) -> str:
        """The growth model's fixed part for this design (as :meth:`pipeline.design.Design.growth_fixed`)."""
        time = "short + long" if self.has_long else "short"
        if self.comparison > 0:
            return f"y ~ programme * ({time}) + arm * ({time})" if self.programmes > 1 else f"y ~ ({time}) * arm"
        return f"y ~ {'programme + ' if self.programmes > 1 else ''}{time}"

    def terms(self) -> dict[str, float]:
        """The effect terms and their true values (SDs of change; the yearly slope per year)."""
        suffix = ":armintervisie" if self.comparison > 0 else ""
        truth = {f"short{suffix}": self.effect_short}
        if self.has_long:
            truth[f"long{suffix}"] = self.effect_long
        return truth

    def random_parts(self) -> list[str]:
        """The random parts this design can carry (as the growth stage resolves them)."""
        parts = list(self.random)
        if len(self.waves_months) < 3:  # two scores per person cannot separate a random slope from the residual
            parts = [p.replace("(1 + short | participant)", "(1 | participant)") for p in parts]
        return list(dict.fromkeys(parts))

    def fingerprint(self) -> str:
        """The cell's full specification as text (what a kept result must match to be reused)."""
        return repr(sorted(asdict(self).items()))


def task_seed(spec: CellSpec, replicate: int) -> np.random.SeedSequence:
    """The seed of one simulated study: the plan's seed and the task's coordinates (cell, replicate).

    ``SeedSequence(seed, spawn_key=(crc32(cell_id), replicate))`` gives independent streams
    that do not depend on which worker runs the task or in which order (O'Neill 2015, PCG).
    """
    return np.random.SeedSequence(spec.seed, spawn_key=(zlib.crc32(spec.cell_id.encode()), int(replicate)))


def simulate_study(spec: CellSpec, rng: np.random.Generator) -> pd.DataFrame:
    """Return one simulated study in the growth stage's long form (see the module docstring for the model).

    Returns one row per observed score: ``participant, group, programme, arm, wave, months,
    short, long, scale, score`` (``group`` missing for comparison participants).
    """
    s = spec
    if s.group_size_spread:
        sizes = rng.integers(s.group_size - s.group_size_spread, s.group_size + s.group_size_spread + 1, s.groups_per_arm)
    else:
        sizes = np.full(s.groups_per_arm, s.group_size)
    n_int = int(sizes.sum())
    n_cmp = round(s.comparison * n_int)
    members = np.repeat(np.arange(s.groups_per_arm), sizes)
    # every comparison participant is a group of one: its own group effects
    group = np.concatenate([members, s.groups_per_arm + np.arange(n_cmp)])
    n_units, n = s.groups_per_arm + n_cmp, n_int + n_cmp
    arm = np.concatenate([np.ones(n_int), np.zeros(n_cmp)]) if n_cmp else np.ones(n_int)
    programme = np.concatenate([members % s.programmes, np.arange(n_cmp) % s.programmes])
    var_e = s.residual_share
    tau1 = math.sqrt(s.icc_change / (1 - s.icc_change) * (2 * var_e + s.slope_sd**2))
    u0 = rng.normal(0.0, math.sqrt(s.icc_level), n_units)[group]
    u1 = rng.normal(0.0, tau1, n_units)[group]
    b0 = rng.normal(0.0, math.sqrt(1 - s.icc_level - var_e), n)
    b1 = rng.normal(0.0, s.slope_sd, n)
    months = np.asarray(s.waves_months, dtype=float)
    short, long = piecewise_time(months, knot=months[1])
    delta_s, delta_l = s.effect_short * s.sd_change, s.effect_long * s.sd_change
    noise = rng.normal(0.0, math.sqrt(var_e), (len(months), n))
    y = (u0 + b0)[None, :] + short[:, None] * (arm * delta_s + u1 + b1)[None, :]
    y = y + long[:, None] * (arm * delta_l)[None, :] + noise
    present = np.ones((len(months), n), dtype=bool)
    level = (u0 + b0) / math.sqrt(1 - var_e)
    for w, share in enumerate(s.attrition, start=1):
        if share > 0:
            logit = math.log(share / (1 - share)) + s.burnout_log_odds * level
            leave = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
            present[w] = present[w - 1] & ~leave
        else:
            present[w] = present[w - 1]
    w_idx, p_idx = np.nonzero(present)
    return pd.DataFrame(
        {
            "participant": p_idx.astype(str),
            "group": pd.Series(np.where(arm[p_idx] == 1, group[p_idx], -1)).map(lambda g: f"g{g}" if g >= 0 else None),
            "programme": pd.Series(programme[p_idx]).map(lambda p: f"p{p + 1}"),
            "arm": np.where(arm[p_idx] == 1, "intervisie", "comparison"),
            "wave": pd.Series(w_idx).map(lambda w: f"w{w}"),
            "months": months[w_idx],
            "short": short[w_idx],
            "long": long[w_idx],
            "scale": "outcome",
            "score": y[w_idx, p_idx],
        }
    )


def _rows(spec: CellSpec, replicate: int, status: str, reason: str, extra: dict[str, dict]) -> list[dict]:
    base = {c: np.nan for c in TASK_COLUMNS}
    rows = []
    for term, truth in spec.terms().items():
        row = {**base, "cell": spec.cell_id, "replicate": replicate, "term": term, "truth": truth,
               "status": status, "reason": reason, "singular": False, "structure": ""}  # fmt: skip
        row.update(extra.get(term, {}))
        rows.append(row)
    return rows


def run_task(spec: CellSpec, replicate: int) -> list[dict]:
    """Simulate study ``replicate`` of a cell and fit the growth model: one row per effect term.

    Estimates, SEs and CIs are in SDs of change (divided by :attr:`CellSpec.sd_change`), as the
    truth; ``reject`` is ``p_val < alpha``, ``covered`` whether the 95% CI holds the truth,
    ``singular`` whether the maximal random structure was singular (the fit fell back),
    ``structure`` the random part used. ``status`` is ``ok``, ``not estimable``, ``no acceptable
    fit`` or ``error`` (with the ``reason``): a failing fit is a result, not an exception.
    Rows are plain dicts (cheap to send between processes); :func:`task_frame` makes the table.
    """
    with _quiet("analyses.mixed"):
        return _run_task(spec, replicate)


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Keep the engine's warnings about each of many simulated fits out of the log (they are in ``status``)."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _run_task(spec: CellSpec, replicate: int) -> list[dict]:
    rng = np.random.default_rng(task_seed(spec, replicate))
    data = growth_data(simulate_study(spec, rng), "outcome")
    fixed = spec.fixed()
    n = {"n_participants": data["participant"].nunique(), "n_obs": len(data)}
    reason = not_estimable(data, fixed)
    if reason is not None:
        return _rows(spec, replicate, "not estimable", reason, {t: n for t in spec.terms()})
    try:
        model, log = fit_pruned(fixed, spec.random_parts(), data, reml=True)
    except NoAcceptableFitError as exc:
        return _rows(spec, replicate, "no acceptable fit", str(exc), {t: n for t in spec.terms()})
    except Exception as exc:  # any failure of the engine is this study's outcome, never the plan's crash
        return _rows(spec, replicate, "error", f"{type(exc).__name__}: {exc}", {t: n for t in spec.terms()})
    table = model.fixed_.set_index("term")
    scale = spec.sd_change
    extra = {}
    for term, truth in spec.terms().items():
        if term not in table.index:
            extra[term] = {**n, "status": "not estimable", "reason": "coefficient dropped"}
            continue
        r = table.loc[term]
        low, high = float(r["ci95_low"]) / scale, float(r["ci95_high"]) / scale
        extra[term] = {
            **n,
            "estimate": float(r["estimate"]) / scale,
            "std_error": float(r["std_error"]) / scale,
            "df": float(r["df"]),
            "p_val": float(r["p_val"]),
            "ci95_low": low,
            "ci95_high": high,
            "reject": bool(r["p_val"] < spec.alpha),
            "covered": bool(low <= truth <= high),
            "singular": bool(log["status"].iloc[0] != "accepted"),
            "structure": model.formula.removeprefix(f"{fixed} + "),
        }
    return _rows(spec, replicate, "ok", "", extra)


def task_frame(rows: list[dict]) -> pd.DataFrame:
    """The rows of :func:`run_task` (of one or many studies) as a table with stable column types."""
    table = pd.DataFrame(rows, columns=TASK_COLUMNS)
    for column in ("reject", "covered"):
        table[column] = table[column].astype("boolean")
    table["singular"] = table["singular"].astype(bool)
    return table.astype({"replicate": "int64", "n_participants": "float64", "n_obs": "float64"})
