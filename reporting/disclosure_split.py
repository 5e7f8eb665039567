"""The attack of :mod:`reporting.disclosure_lp`, solved over a split of the dimensions (same answers, far smaller).

A study has *shared* dimensions (arm, programme, answered per wave) and many *private* ones (one per
scale, per model, ...) that no population restricts together with another private group.  The atoms
are the product of all levels, so merging atoms by membership signature still leaves a product of the
private groups' classes.  Split instead: a variable ``z_c`` per class ``c`` of the shared dimensions,
and for every private group ``g`` a variable ``y_{g,c',h}`` per class ``c'`` of the shared dimensions
as ``g``'s populations see them and class ``h`` of ``g``'s own dimensions, tied by
``sum_h y_{g,c',h} = sum_{c in c'} z_c``.  A population that restricts dimensions of ``g`` is a sum of
``y_g``, one that restricts only shared dimensions a sum of ``z``.

This is exact: for any integer ``z`` and ``y_g`` with equal sums, integer counts of the full atoms
exist with those sums (each coupling is a transportation problem with integer margins, which always
has an integer solution), so both programs allow the same counts of every population.

Reference: Hundepool A, et al. *Statistical Disclosure Control*. Wiley, 2012, 4.3 (the audit of a
suppression pattern by linear programming); Dantzig GB. *Linear Programming and Extensions*, 1963,
ch. 14 (integrality of the transportation problem).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from reporting.disclosure_atoms import signatures
from reporting.disclosure_lp import Finding, InconsistentPublication, Key, PublishedCell, canonical, checks_of

_BIG = 10**7
_EPS = 1e-7


def shared_dims(dims: Mapping[str, Sequence[str]]) -> set[str]:
    """The dimensions every study's tables cross: ``arm``, ``programme`` and ``wave:*``."""
    return {d for d in dims if d in ("arm", "programme") or d.startswith("wave:")}


class SplitProgram:
    """Everything published as integer constraints over the split variables; min/max of any population."""

    def __init__(self, dims: Mapping[str, Sequence[str]], cells: Sequence[PublishedCell], targets: Sequence[Key]):
        keys: dict[Key, int] = {}
        rows: list[tuple[int, float, int, float, float]] = []
        for cell in cells:
            pop = keys.setdefault(canonical(cell.population, dims), len(keys))
            if cell.value is None or cell.kind == "statistic":
                continue
            if cell.kind == "count":
                rows.append((pop, 0.0, -1, float(cell.value), float(cell.value)))
            else:
                den = keys.setdefault(canonical(cell.denominator or {}, dims), len(keys))
                half = 0.5 * 10.0**-cell.digits
                low, high = max(cell.value - half, 0.0) / 100, min(cell.value + half, 100.0) / 100
                rows += [(pop, low, den, -_EPS, math.inf), (pop, high, den, -math.inf, _EPS), (den, 0.0, -1, 1.0, math.inf)]
        self.target_index = [keys.setdefault(k, len(keys)) for k in targets]
        key_list = sorted(keys, key=keys.get)
        shared = shared_dims(dims)
        groups = _groups(key_list, shared)
        group_of = {}
        for g, names in enumerate(groups):
            for name in names:
                group_of[name] = g
        owner = []  # the private group each key restricts (-1: only shared dims)
        for key in key_list:
            own = {group_of[d] for d, _ in key if d not in shared}
            owner.append(own.pop() if own else -1)
        shared_names = [d for d in dims if d in shared]
        shared_part = [tuple((d, lv) for d, lv in k if d in shared) for k in key_list]
        z_classes = signatures(dims, shared_part, shared_names)
        n_keys = len(key_list)
        columns: list[np.ndarray] = []  # membership of each variable over keys
        # z variables: keys owned by no group
        for c in z_classes:
            columns.append(np.array([owner[j] == -1 and bool(c >> j & 1) for j in range(n_keys)], dtype=float))
        ties: list[tuple[list[int], list[int]]] = []  # (y vars, z vars) with sum y = sum z
        for g, names in enumerate(groups):
            own = [j for j in range(n_keys) if owner[j] == g]
            coarse = signatures(dims, [shared_part[j] for j in own], shared_names)
            private = signatures(dims, [tuple((d, lv) for d, lv in key_list[j] if d not in shared) for j in own],
                                 names, keep_zero=True)
            projection: dict[int, list[int]] = {}
            for i, c in enumerate(z_classes):
                projection.setdefault(sum((c >> j & 1) << k for k, j in enumerate(own)), []).append(i)
            for cc in coarse:
                members = projection.get(cc, [])
                ys = []
                for h in private:
                    column = np.zeros(n_keys)
                    for k, j in enumerate(own):
                        column[j] = float(bool(cc >> k & 1) and bool(h >> k & 1))
                    ys.append(len(columns))
                    columns.append(column)
                ties.append((ys, members))
        self.members = np.array(columns).T if columns else np.zeros((n_keys, 0))
        self.n_vars = self.members.shape[1]
        matrix_rows, lows, highs = [], [], []
        for p, coef, d, lb, ub in rows:
            matrix_rows.append(self.members[p] - (coef * self.members[d] if d >= 0 else 0.0))
            lows.append(lb)
            highs.append(ub)
        for ys, zs in ties:
            line = np.zeros(self.n_vars)
            line[ys] = 1.0
            line[zs] -= 1.0
            matrix_rows.append(line)
            lows.append(0.0)
            highs.append(0.0)
        self.constraint = (LinearConstraint(coo_array(np.array(matrix_rows)).tocsr(), lows, highs)
                           if matrix_rows else None)  # fmt: skip

    def solve(self, j: int, sense: int) -> int | None:
        """``sense=+1``: the minimum of population ``j``; ``-1``: the maximum (``None`` when unbounded)."""
        objective = self.members[j]
        if self.n_vars == 0 or not objective.any():
            return 0
        result = milp(sense * objective, constraints=[self.constraint] if self.constraint is not None else None,
                      integrality=np.ones(self.n_vars), bounds=Bounds(0, _BIG),
                      options={"mip_rel_gap": 0.0, "presolve": True, "time_limit": 60.0})  # fmt: skip
        if result.status == 2:
            raise InconsistentPublication("the published numbers contradict each other: no table of counts fits")
        if result.x is None:
            raise RuntimeError(f"integer program not solved: {result.message}")
        x = np.round(result.x)
        if sense < 0 and np.max(x[objective > 0], initial=0) >= _BIG / 2:
            return None
        return round(float(objective @ x))


def _groups(keys: Sequence[Key], shared: set[str]) -> list[list[str]]:
    """Private dimensions grouped so that no population restricts dimensions of two groups (union-find)."""
    parent: dict[str, str] = {}

    def find(d: str) -> str:
        while parent.setdefault(d, d) != d:
            d = parent[d]
        return d

    for key in keys:
        own = [d for d, _ in key if d not in shared]
        for d in own:
            find(d)
        for a, b in pairwise(own):
            parent[find(a)] = find(b)
    out: dict[str, list[str]] = {}
    for d in sorted(parent):
        out.setdefault(find(d), []).append(d)
    return [out[r] for r in sorted(out)]


def intervals(dims: Mapping[str, Sequence[str]], cells: Sequence[PublishedCell],
              targets: Sequence[Mapping]) -> list[tuple[int, int | None]]:  # fmt: skip
    """As :func:`reporting.disclosure_lp.intervals`, solved over the split."""
    keys = [canonical(t, dims) for t in targets]
    program = SplitProgram(dims, cells, keys)
    cache: dict[int, tuple[int, int | None]] = {}
    out = []
    for j in program.target_index:
        if j not in cache:
            cache[j] = (program.solve(j, +1) or 0, program.solve(j, -1))
        out.append(cache[j])
    return out


def findings(dims: Mapping[str, Sequence[str]], cells: Sequence[PublishedCell], *, min_cell: int,
             protection: int | None = None) -> list[Finding]:  # fmt: skip
    """As :func:`reporting.disclosure_lp.findings` (the same rules), solved over the split."""
    protection = min_cell - 1 if protection is None else protection
    found, checks = checks_of(cells, min_cell)
    try:
        bounds = intervals(dims, cells, [p for _, _, p in checks])
    except InconsistentPublication as exc:
        return [*found, Finding("*", "inconsistent", None, None, str(exc))]
    for (cell, rule, _), (low, high) in zip(checks, bounds, strict=True):
        width = math.inf if high is None else high - low
        if rule == "unprotected":
            if low < min_cell and width < protection and high != 0:
                found.append(Finding(cell.id, rule, low, high, f"hidden, but pinned to [{low}, {high}]"))
        elif low < min_cell and not (rule == "small-population" and cell.kind == "share" and high == 0):
            found.append(Finding(cell.id, rule, low, high, f"a visible {cell.kind} whose population may be {low}"))
    return found
