"""Clarabel: interior point, supports zero/nonneg/SOC/PSD/exp cones."""

from __future__ import annotations

from .base import Backend

#: Clarabel's own default iteration cap, used to tell iteration from time limits.
CLARABEL_DEFAULT_MAX_ITER = 200


class ClarabelBackend(Backend):
    """Clarabel through cvxpy. ``tol`` sets the gap (absolute and relative) and
    feasibility tolerances; ``max_iters`` is ``max_iter``; ``time_limit`` in seconds."""

    name = "clarabel"
    cvxpy_solver = "CLARABEL"
    cones = frozenset({"zero", "nonneg", "soc", "psd", "exp"})

    def solver_options(self, tol, max_iters, time_limit):
        opts = {"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol, "tol_ktratio": max(tol, 1e-10)}
        if max_iters is not None:
            opts["max_iter"] = int(max_iters)
        if time_limit is not None:
            opts["time_limit"] = float(time_limit)
        return opts

    def _limit_status(self, problem, max_iters, time_limit):
        # cvxpy folds MaxIterations and MaxTime into "user_limit"; the count tells them apart.
        cap = CLARABEL_DEFAULT_MAX_ITER if max_iters is None else max_iters
        iters = problem.solver_stats.num_iters
        if iters is not None and iters >= cap:
            return "iteration_limit"
        return "time_limit" if time_limit is not None else "iteration_limit"
