"""The :class:`Backend` base class: one small class per conic solver.

A backend knows cvxpy problems only, never a formulation. It declares the cones it
supports, says whether it can solve here (:meth:`Backend.availability`), translates the
package's option vocabulary (``tol``, ``max_iters``, ``time_limit``, ``verbose``) into its
solver's, and maps the solver's status onto :data:`sdpnets.results.STATUSES`.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any, ClassVar

import cvxpy as cp

from ..errors import InvalidInputError
from ..results import SOLVED_STATUSES, SolveResult

logger = logging.getLogger(__name__)

__all__ = ["Backend", "CVXPY_STATUS_MAP"]

#: cvxpy's status strings mapped onto ours. ``user_limit`` is resolved by each backend
#: (iteration vs time limit); the inaccurate infeasible/unbounded statuses are not
#: certificates, so they are reported as ``"error"`` with cvxpy's status in the message.
CVXPY_STATUS_MAP: dict[str, str] = {
    cp.OPTIMAL: "optimal",
    cp.OPTIMAL_INACCURATE: "optimal_inaccurate",
    cp.INFEASIBLE: "infeasible",
    cp.UNBOUNDED: "unbounded",
    cp.INFEASIBLE_INACCURATE: "error",
    cp.UNBOUNDED_INACCURATE: "error",
    "infeasible_or_unbounded": "error",
    cp.SOLVER_ERROR: "error",
    cp.USER_LIMIT: "iteration_limit",  # refined by Backend._limit_status
}


class Backend:
    """A conic solver reached through cvxpy.

    Subclasses set the class attributes and implement :meth:`solver_options`; they may
    refine :meth:`_limit_status` and :meth:`availability`.
    """

    #: sdpnets' name for the backend (``backend=...`` in :meth:`ConvexProgram.solve`).
    name: ClassVar[str] = ""
    #: cvxpy's solver name.
    cvxpy_solver: ClassVar[str] = ""
    #: Cones the solver handles: subset of {"zero", "nonneg", "soc", "psd", "exp"}.
    cones: ClassVar[frozenset[str]] = frozenset()
    #: The solver's own status words (see :meth:`solver_status`) mapped onto ours; when
    #: the solver's word is known it takes precedence over cvxpy's coarser status.
    SOLVER_STATUS_MAP: ClassVar[dict[str, str]] = {}

    # -- availability ---------------------------------------------------------------
    def availability(self) -> tuple[bool, str]:
        """``(True, "")`` when the solver can run here, else ``(False, reason)``."""
        if self.cvxpy_solver not in cp.installed_solvers():
            return False, (
                f"{self.name}: cvxpy does not find the {self.cvxpy_solver} solver; "
                f"install it with `pip install {self.name}`."
            )
        return True, ""

    def is_available(self) -> bool:
        """Whether :meth:`availability` says the solver can run here."""
        return self.availability()[0]

    def supports(self, cones: frozenset[str] | set[str]) -> bool:
        """Whether every cone in ``cones`` is one this solver handles."""
        return set(cones) <= self.cones

    # -- options ----------------------------------------------------------------------
    def solver_options(
        self,
        tol: float,
        max_iters: int | None,
        time_limit: float | None,
    ) -> dict[str, Any]:
        """Translate the common vocabulary into keyword arguments of ``Problem.solve``."""
        raise NotImplementedError

    # -- status -----------------------------------------------------------------------
    def _limit_status(
        self, problem: cp.Problem, max_iters: int | None, time_limit: float | None
    ) -> str:
        """Resolve cvxpy's ``user_limit`` into ``iteration_limit`` or ``time_limit``."""
        iters = _iterations(problem)
        if max_iters is not None and iters is not None and iters >= max_iters:
            return "iteration_limit"
        if time_limit is not None:
            return "time_limit"
        return "iteration_limit"

    def map_status(
        self, problem: cp.Problem, max_iters: int | None, time_limit: float | None
    ) -> str:
        """Our status for the last solve of ``problem``: the solver's own status word when
        :meth:`solver_status` knows it, else cvxpy's status."""
        raw = self.solver_status(problem)
        if raw in self.SOLVER_STATUS_MAP:
            status = self.SOLVER_STATUS_MAP[raw]
        elif problem.status == cp.USER_LIMIT:
            status = self._limit_status(problem, max_iters, time_limit)
        else:
            status = CVXPY_STATUS_MAP.get(problem.status, "error")
        if status == "optimal_inaccurate":
            # A solver stopped by a limit may still call its point "almost solved" (Clarabel
            # does); the limit is what happened, so the limit is what we report.
            iters = _iterations(problem)
            solve_time = problem.solver_stats.solve_time
            if max_iters is not None and iters is not None and iters >= max_iters:
                status = "iteration_limit"
            elif time_limit is not None and solve_time is not None and solve_time >= time_limit:
                status = "time_limit"
        return status

    def solver_status(self, problem: cp.Problem) -> str | None:
        """The solver's own status word for the last solve, when it can be read (``None``:
        only cvxpy's status is known)."""
        return None

    def raw_status(self, problem: cp.Problem) -> str:
        """The solver's own words for how the last solve ended (cvxpy's, by default)."""
        raw = self.solver_status(problem)
        return str(problem.status) if raw is None else raw

    # -- solve ------------------------------------------------------------------------
    def solve(
        self,
        problem: cp.Problem,
        *,
        tol: float = 1e-8,
        max_iters: int | None = None,
        time_limit: float | None = None,
        verbose: bool = False,
        warm_start: bool = False,
        **solver_options: Any,
    ) -> SolveResult:
        """Solve ``problem`` and return a :class:`SolveResult`.

        ``solver_options`` are passed to the solver untouched and override the
        translated ones. Solver failures are caught and reported as a status, never
        raised and never reported as optimal.
        """
        options = self.solver_options(tol, max_iters, time_limit)
        options.update(solver_options)
        start = time.perf_counter()
        message = ""
        try:
            with warnings.catch_warnings():
                # cvxpy warns on inaccurate solutions; the status says so instead.
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                warnings.filterwarnings("ignore", message="Optimization terminated by time limit")
                problem.solve(
                    solver=self.cvxpy_solver, verbose=verbose, warm_start=warm_start, **options
                )
        except TypeError as exc:
            if solver_options:  # cvxpy and the solvers reject unknown settings this way
                raise InvalidInputError(
                    f"{self.name} rejected the solver options {sorted(solver_options)}: {exc}"
                ) from exc
            raise
        except cp.error.SolverError as exc:
            wall = time.perf_counter() - start
            raw = self.solver_status(problem)
            status = self.SOLVER_STATUS_MAP.get(raw, "error")
            if status in SOLVED_STATUSES:  # a stale word from an earlier solve: ignore it
                raw, status = None, "error"
            message = f"{self.name} failed: {exc}"
            if raw is not None:
                message += f" The solver's status: {raw!r}."
            logger.info(message)
            if status == "error" and time_limit is not None and wall >= time_limit:
                status = "time_limit"
            return SolveResult(
                status=status,
                objective=float("nan"),
                backend=self.name,
                solve_time=wall,
                compile_time=float("nan"),
                message=message,
            )
        wall = time.perf_counter() - start
        status = self.map_status(problem, max_iters, time_limit)
        stats = problem.solver_stats
        solve_time = stats.solve_time if stats.solve_time is not None else float("nan")
        compile_time = getattr(problem, "compilation_time", None)
        if compile_time is None:
            compile_time = max(wall - solve_time, 0.0) if solve_time == solve_time else wall
        value = problem.value
        objective = float(value) if value is not None else float("nan")
        if status != "optimal":
            message = (
                f"{self.name} stopped with status {self.raw_status(problem)!r} after "
                f"{_iterations(problem)} iterations."
            )
        return SolveResult(
            status=status,
            objective=objective,
            backend=self.name,
            solve_time=float(solve_time),
            compile_time=float(compile_time),
            iterations=_iterations(problem),
            message=message,
            raw=stats.extra_stats,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _iterations(problem: cp.Problem) -> int | None:
    stats = problem.solver_stats
    return None if stats is None or stats.num_iters is None else int(stats.num_iters)
