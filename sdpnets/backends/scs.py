"""SCS: first-order splitting conic solver, supports zero/nonneg/SOC/PSD/exp cones."""

from __future__ import annotations

import math

from .base import (
    Backend,
    check_bool_option,
    check_int_option,
    check_real_option,
    check_str_option,
)

#: SCS's settings (SCS 3) and cvxpy's own SCS switch ``use_quad_obj``.
SCS_OPTION_NAMES = frozenset({
    "max_iters", "eps_abs", "eps_rel", "eps_infeas", "alpha", "time_limit_secs", "verbose",
    "normalize", "scale", "adaptive_scale", "rho_x", "acceleration_lookback",
    "acceleration_interval", "write_data_filename", "log_csv_filename", "use_indirect",
    "gpu", "mkl", "use_quad_obj",
})


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
    #: SCS counts iterations in a C ``int``.
    MAX_ITERS = 2**31 - 1
    OPTION_NAMES = SCS_OPTION_NAMES

    def predict_memory(self, sizes):
        r"""Bytes SCS allocates: a sparse LDL factorization of its KKT matrix (measured:
        about 120 bytes per nonzero of ``A`` and ``P``, counted as 150) and 200 bytes per
        KKT row; a PSD cone of side :math:`s` adds its eigendecomposition workspace
        (:math:`\approx 4 s^2` doubles), never a dense :math:`m \times m` block."""
        psd = sum(32 * s * s + 256 * s for s in sizes.psd)
        return int(150 * (sizes.nnz_A + sizes.nnz_P) + 200 * sizes.kkt_dim + psd)

    def solver_options(self, tol, max_iters, time_limit):
        opts = {"eps_abs": tol, "eps_rel": tol}
        if max_iters is not None:
            opts["max_iters"] = int(max_iters)
        if time_limit is not None and math.isfinite(time_limit):
            opts["time_limit_secs"] = float(time_limit)  # SCS: finite only; inf = no limit
        return opts

    def _check_option(self, key, value):
        if key in ("max_iters", "acceleration_interval"):
            check_int_option(self.name, key, value, 1, self.MAX_ITERS)
        elif key == "acceleration_lookback":
            check_int_option(self.name, key, value, -self.MAX_ITERS, self.MAX_ITERS)
        elif key in ("eps_abs", "eps_rel", "eps_infeas", "time_limit_secs"):
            check_real_option(self.name, key, value, 0.0)
        elif key in ("alpha", "scale", "rho_x"):
            check_real_option(self.name, key, value, 1e-300)
        elif key in ("verbose", "normalize", "adaptive_scale", "use_indirect", "gpu", "mkl",
                     "use_quad_obj"):
            check_bool_option(self.name, key, value)
        elif key in ("write_data_filename", "log_csv_filename"):
            check_str_option(self.name, key, value)

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
