"""SCS: first-order splitting conic solver, supports zero/nonneg/SOC/PSD/exp cones."""

from __future__ import annotations

from .base import Backend


class SCSBackend(Backend):
    """SCS through cvxpy. ``tol`` sets ``eps_abs`` and ``eps_rel``; ``max_iters`` and
    ``time_limit`` (``time_limit_secs``) are passed through.

    SCS reports hitting a limit as "solved (inaccurate - reached max_iters)" (or
    ``time_limit_secs``), which cvxpy folds into ``optimal_inaccurate``. This backend
    reads SCS's own status string and reports ``iteration_limit`` / ``time_limit``.
    """

    name = "scs"
    cvxpy_solver = "SCS"
    cones = frozenset({"zero", "nonneg", "soc", "psd", "exp"})

    def solver_options(self, tol, max_iters, time_limit):
        opts = {"eps_abs": tol, "eps_rel": tol}
        if max_iters is not None:
            opts["max_iters"] = int(max_iters)
        if time_limit is not None:
            opts["time_limit_secs"] = float(time_limit)
        return opts

    def raw_status(self, problem):
        raw = problem.solver_stats.extra_stats
        info = raw.get("info", {}) if isinstance(raw, dict) else {}
        return str(info.get("status", problem.status))

    def map_status(self, problem, max_iters, time_limit):
        scs_status = self.raw_status(problem)
        if "reached max_iters" in scs_status:
            return "iteration_limit"
        if "reached time_limit" in scs_status:
            return "time_limit"
        return super().map_status(problem, max_iters, time_limit)
