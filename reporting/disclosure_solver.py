"""Solving the attacker's programs of :mod:`reporting.disclosure_lp`: many objectives over one set of constraints.

The constraints (what is published) stay the same and only the objective (which population to bound)
changes, so the linear relaxations are solved with one HiGHS model whose costs are changed in place: the
dual simplex starts from the previous optimal basis (warm start), which is one to two orders of magnitude
faster than building every program anew.  When SciPy's bundled HiGHS object is not available the
relaxations are solved one by one with ``scipy.optimize.linprog``.  Integer optima come from
``scipy.optimize.milp`` (HiGHS branch and bound), needed only where the relaxation's optimal vertex is
fractional.

The relaxation bounds the integer optimum: ``ceil(LP min) <= integer min`` and ``integer max <=
floor(LP max)``; an integral optimal vertex *is* an integer optimum.

References
----------
Huangfu Q, Hall JAJ. Parallelizing the dual revised simplex method. *Mathematical Programming
Computation* 10 (2018) 119-142 (HiGHS).  Hundepool A et al. *Statistical Disclosure Control*. Wiley, 2012,
section 4.3 (the attacker problem as a linear program; its integer version).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import csr_array, vstack

#: an LP value within this of an integer counts as that integer
_TOL = 1e-6
#: integer solutions kept to settle later programs without a search
_POOL = 256


class Infeasible(ValueError):
    """No non-negative (integer) solution satisfies the constraints."""


class Unsolved(RuntimeError):
    """The solver stopped without an answer (time limit or numerical trouble)."""


def _bundled_highs() -> object | None:
    """SciPy's own HiGHS object (``scipy.optimize._highspy``), or None where this SciPy has no such object."""
    try:
        from scipy.optimize._highspy import _core
    except ImportError:  # pragma: no cover - another SciPy version
        return None
    return _core if hasattr(_core, "_Highs") else None


class LinearSystem:
    """``lb <= A x <= ub``, ``x >= 0`` (integer in :meth:`integer`); optimise many objectives in turn."""

    def __init__(self, matrix: np.ndarray, lower: np.ndarray, upper: np.ndarray):
        self.n = matrix.shape[1]
        self.matrix = csr_array(matrix)
        self.lower, self.upper = np.asarray(lower, float), np.asarray(upper, float)
        self._highs = None
        self.pool: list[np.ndarray] = []
        self._core = _bundled_highs()
        if self._core is not None and matrix.shape[0] > 0:
            self._highs = self._build()

    def _build(self) -> object:
        core = self._core
        highs = core._Highs()
        highs.setOptionValue("output_flag", False)
        inf = highs.getInfinity()
        columns = self.matrix.tocsc()
        lp = core.HighsLp()
        lp.num_col_, lp.num_row_ = self.n, columns.shape[0]
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_, lp.col_upper_ = np.zeros(self.n), np.full(self.n, inf)
        lp.row_lower_ = np.where(np.isinf(self.lower), -inf, self.lower)
        lp.row_upper_ = np.where(np.isinf(self.upper), inf, self.upper)
        lp.a_matrix_.format_ = core.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = columns.indptr, columns.indices, columns.data
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.n, columns.shape[0]
        highs.passModel(lp)
        return highs

    def relaxation(self, objective: np.ndarray) -> tuple[float, bool]:
        """Minimum of ``objective @ x`` over real ``x``: (value, optimal vertex integral); value -inf if unbounded."""
        if self.matrix.shape[0] == 0:
            return (-math.inf if np.any(np.asarray(objective) < 0) else 0.0), True
        if self._highs is not None:
            core, highs = self._core, self._highs
            highs.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), np.asarray(objective, float))
            highs.run()
            status = highs.getModelStatus()
            if status == core.HighsModelStatus.kOptimal:
                x = np.asarray(highs.getSolution().col_value)
                return float(highs.getInfo().objective_function_value), self._keep(x)
            if status == core.HighsModelStatus.kInfeasible:
                raise Infeasible("no solution")
            if status in (core.HighsModelStatus.kUnbounded, core.HighsModelStatus.kUnboundedOrInfeasible):
                self.relaxation(np.zeros(self.n))  # tells infeasible from unbounded
                return -math.inf, False
            self._highs = None  # numerical trouble: fall back to a fresh solve
        result = self._linprog(objective)
        if result.status == 2:
            raise Infeasible("no solution")
        if result.status == 3:
            return -math.inf, False
        if result.status != 0:
            raise Unsolved(result.message)
        return float(result.fun), self._keep(result.x)

    def _keep(self, x: np.ndarray) -> bool:
        """Whether ``x`` is integral; an integral solution joins the pool of known integer solutions."""
        integral = bool(np.all(np.abs(x - np.round(x)) < _TOL))
        if integral and len(self.pool) < _POOL:
            self.pool.append(np.round(x))
        return integral

    def _linprog(self, objective: np.ndarray) -> object:
        """One relaxation from scratch: two-sided rows as ``A_ub`` (upper) and ``-A_ub`` (lower) pairs."""
        upper, lower = np.isfinite(self.upper), np.isfinite(self.lower)
        rows = vstack([self.matrix[upper], -self.matrix[lower]])
        bounds = np.concatenate([self.upper[upper], -self.lower[lower]])
        return linprog(objective, A_ub=rows, b_ub=bounds, bounds=(0, None), method="highs")

    def integer(self, objective: np.ndarray, time_limit: float, bound: float = -math.inf) -> tuple[float, bool]:
        """Minimum of ``objective @ x`` over non-negative integer ``x``: (value, exact).

        ``bound`` is a proven lower bound (the rounded relaxation): an integer solution already known (from
        earlier programs over the same constraints) that reaches it is optimal without a search.  On the time
        limit, the best proven lower bound (HiGHS's dual bound) is returned with ``exact=False``.
        """
        if self.pool:
            best = min(float(objective @ x) for x in self.pool)
            if best <= bound + _TOL:
                return best, True
        constraints = [LinearConstraint(self.matrix, self.lower, self.upper)] if self.matrix.shape[0] else None
        result = milp(
            objective,
            constraints=constraints,
            integrality=np.ones(self.n),
            bounds=Bounds(0, np.inf),
            options={"mip_rel_gap": 0.0, "time_limit": time_limit},
        )
        if result.status == 2:
            raise Infeasible("no integer solution")
        if result.status == 3 or "nbounded" in str(result.message):
            return -math.inf, True
        if result.x is not None and len(self.pool) < _POOL:
            self.pool.append(np.round(result.x))
        if result.status == 0 and result.x is not None:
            return float(objective @ np.round(result.x)), True
        bound = getattr(result, "mip_dual_bound", None)
        if bound is None or not np.isfinite(bound):
            raise Unsolved(str(result.message))
        return float(bound), False
