"""MOSEK: commercial interior point; needs a licence, detected by a real tiny solve."""

from __future__ import annotations

import functools
import math

from ..errors import InvalidInputError
from .base import Backend, check_bool_option, check_real_option, check_str_option

LICENCE_HELP = (
    "MOSEK is installed but cannot solve: {reason} Put a licence file at "
    "~/mosek/mosek.lic or point the MOSEKLM_LICENSE_FILE environment variable at one "
    "(free academic licences: mosek.com/products/academic-licenses), or use "
    "backend='clarabel'."
)


@functools.lru_cache(maxsize=1)
def _mosek_probe() -> tuple[bool, str]:
    """Solve ``min x s.t. x >= 1`` with MOSEK itself; cached for the process."""
    try:
        import mosek
    except ImportError:
        return False, "MOSEK is not installed: `pip install sdpnets[mosek]` (and a licence)."
    try:
        with mosek.Env() as env, env.Task() as task:
            task.appendvars(1)
            task.putvarbound(0, mosek.boundkey.lo, 1.0, 1e30)
            task.putcj(0, 1.0)
            task.optimize()
            if abs(task.getxx(mosek.soltype.itr)[0] - 1.0) > 1e-6:
                return False, LICENCE_HELP.format(reason="the test solve returned a wrong value.")
    except Exception as exc:  # mosek.Error: missing/expired licence and the like
        return False, LICENCE_HELP.format(reason=str(exc).strip().rstrip(".") + ".")
    return True, ""


class MosekBackend(Backend):
    """MOSEK through cvxpy. ``tol`` sets the interior-point relative gap and primal/dual
    feasibility tolerances, ``max_iters`` the interior-point iteration cap and
    ``time_limit`` the optimizer's time limit.

    A limit makes MOSEK return an *unknown* solution status. cvxpy is asked to hand such
    points back (``accept_unknown``) so that the iteration count and optimizer time can
    tell what stopped MOSEK: ``iteration_limit`` when ``max_iters`` was used up,
    ``time_limit`` when ``time_limit`` was, and ``error`` otherwise (a stall: MOSEK did
    not prove the point optimal). An unknown status is never reported as optimal.
    """

    name = "mosek"
    cvxpy_solver = "MOSEK"
    cones = frozenset({"zero", "nonneg", "soc", "psd", "exp"})
    #: MOSEK's integer parameters are 32-bit.
    MAX_ITERS = 2**31 - 1
    OPTION_NAMES = frozenset({"mosek_params", "save_file", "bfs", "accept_unknown", "eps"})
    #: cvxpy hands MOSEK a ``sum_squares`` objective as a second-order cone.
    quadratic_objective = False

    def predict_memory(self, sizes):
        r"""Bytes MOSEK allocates, modelled like an interior-point method with dense PSD
        blocks (:math:`64 m^2` per cone of vectorized size :math:`m`) and a sparse part.
        Not calibrated (no licence on the machines that measured the others), so a
        conservative guess."""
        return int(64 * sizes.dense_psd + 150 * (sizes.nnz_A + sizes.nnz_P)
                   + 200 * sizes.kkt_dim)

    def _check_option(self, key, value):
        if key == "mosek_params" and not isinstance(value, dict):
            raise InvalidInputError(
                f"mosek option mosek_params must be a dict of MOSEK parameters, got {value!r}."
            )
        if key in ("bfs", "accept_unknown"):
            check_bool_option(self.name, key, value)
        elif key == "eps":  # cvxpy's shortcut for MOSEK's tolerances
            check_real_option(self.name, key, value, 0.0)
        elif key == "save_file":
            check_str_option(self.name, key, value)

    def availability(self):
        ok, reason = super().availability()
        if not ok:
            return ok, reason
        return _mosek_probe()

    def solver_options(self, tol, max_iters, time_limit):
        params = {
            "MSK_DPAR_INTPNT_CO_TOL_REL_GAP": tol,
            "MSK_DPAR_INTPNT_CO_TOL_PFEAS": tol,
            "MSK_DPAR_INTPNT_CO_TOL_DFEAS": tol,
        }
        if max_iters is not None:
            params["MSK_IPAR_INTPNT_MAX_ITERATIONS"] = int(max_iters)
        if time_limit is not None and math.isfinite(time_limit):
            params["MSK_DPAR_OPTIMIZER_MAX_TIME"] = float(time_limit)
        return {"mosek_params": params, "accept_unknown": True}

    def map_status(self, problem, max_iters, time_limit):
        status = super().map_status(problem, max_iters, time_limit)
        # For continuous problems cvxpy reports MOSEK's "unknown" solution status (accepted
        # above) as optimal_inaccurate; the base class has already turned it into the
        # limit that was reached, so what is left is a stall.
        return "error" if status == "optimal_inaccurate" else status

    def raw_status(self, problem):
        if problem.status == "optimal_inaccurate":
            return "unknown solution status (MOSEK stopped before proving optimality)"
        return super().raw_status(problem)
