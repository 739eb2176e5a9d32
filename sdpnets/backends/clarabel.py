"""Clarabel: interior point, supports zero/nonneg/SOC/PSD/exp cones."""

from __future__ import annotations

from .base import Backend

#: Clarabel's own default iteration cap, used to tell iteration from time limits when
#: Clarabel's status word cannot be read.
CLARABEL_DEFAULT_MAX_ITER = 200

#: Every ``clarabel.SolverStatus`` mapped onto sdpnets' statuses. "Almost" infeasible or
#: unbounded is not a certificate of either, so it is an error; only ``Solved`` is optimal.
CLARABEL_STATUS_MAP: dict[str, str] = {
    "Solved": "optimal",
    "AlmostSolved": "optimal_inaccurate",
    "PrimalInfeasible": "infeasible",
    "DualInfeasible": "unbounded",
    "AlmostPrimalInfeasible": "error",
    "AlmostDualInfeasible": "error",
    "MaxIterations": "iteration_limit",
    "MaxTime": "time_limit",
    "NumericalError": "error",
    "InsufficientProgress": "error",
    "CallbackTerminated": "error",
    "Unsolved": "error",
}


class ClarabelBackend(Backend):
    """Clarabel through cvxpy. ``tol`` sets the gap (absolute and relative), feasibility and
    infeasibility-ratio tolerances (``tol_gap_abs``, ``tol_gap_rel``, ``tol_feas``,
    ``tol_ktratio``); ``max_iters`` is ``max_iter``; ``time_limit`` is ``time_limit``
    (seconds).

    The status is read from Clarabel's own ``SolverStatus`` (cvxpy folds ``MaxIterations``
    and ``MaxTime`` into one ``user_limit`` and ``NumericalError``/``InsufficientProgress``
    into an exception); see :data:`CLARABEL_STATUS_MAP`.
    """

    name = "clarabel"
    cvxpy_solver = "CLARABEL"
    cones = frozenset({"zero", "nonneg", "soc", "psd", "exp"})
    SOLVER_STATUS_MAP = CLARABEL_STATUS_MAP

    def solver_options(self, tol, max_iters, time_limit):
        opts = {"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol, "tol_ktratio": max(tol, 1e-10)}
        if max_iters is not None:
            opts["max_iter"] = int(max_iters)
        if time_limit is not None:
            opts["time_limit"] = float(time_limit)
        return opts

    def solve(self, problem, **kwargs):
        cache = getattr(problem, "_solver_cache", None)
        if isinstance(cache, dict) and not kwargs.get("warm_start", False):
            # cvxpy reuses the cached solver only to warm start; dropping it otherwise keeps
            # a status word from an earlier solve from being read as this one's.
            cache.pop(self.cvxpy_solver, None)
        return super().solve(problem, **kwargs)

    def solver_status(self, problem):
        # cvxpy keeps the Clarabel solver of the last solve in the problem's solver cache.
        cache = getattr(problem, "_solver_cache", None)
        solver = cache.get(self.cvxpy_solver) if isinstance(cache, dict) else None
        try:
            return str(solver.get_solution().status)
        except Exception:  # no cache, or a cvxpy/Clarabel version without it
            return None

    def _limit_status(self, problem, max_iters, time_limit):
        # Fallback when Clarabel's own status cannot be read: cvxpy folds MaxIterations and
        # MaxTime into "user_limit"; the count tells them apart.
        cap = CLARABEL_DEFAULT_MAX_ITER if max_iters is None else max_iters
        iters = problem.solver_stats.num_iters
        if iters is not None and iters >= cap:
            return "iteration_limit"
        return "time_limit" if time_limit is not None else "iteration_limit"
