"""Clarabel: interior point, supports zero/nonneg/SOC/PSD/exp cones."""

from __future__ import annotations

import os
import sys

from ..errors import InvalidInputError
from .base import (
    Backend,
    check_bool_option,
    check_int_option,
    check_real_option,
    check_str_option,
)


def _clarabel_settings():
    import clarabel

    return clarabel.DefaultSettings()


def _clarabel_option_names() -> frozenset[str]:
    try:
        settings = _clarabel_settings()
    except Exception:  # clarabel missing: the backend is then unavailable anyway
        return frozenset()
    return frozenset(a for a in dir(settings) if not a.startswith("_") and a != "default")

#: Whether this process was forked from one that had imported Clarabel (set by a fork hook).
_FORKED_AFTER_CLARABEL = False


def _note_fork_in_child() -> None:
    global _FORKED_AFTER_CLARABEL
    _FORKED_AFTER_CLARABEL = _FORKED_AFTER_CLARABEL or "clarabel" in sys.modules


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_note_fork_in_child)


def fork_safe_options() -> dict[str, int]:
    """Options that keep a Clarabel solve from hanging in a forked child process.

    Clarabel (0.11) starts a thread pool at its first solve. A child forked afterwards
    (:func:`sdpnets.solving.isolation.run_isolated`, the benchmark runner) inherits the pool's
    state but not its threads, and a multi-threaded solve there waits forever. Whether the
    parent solved is not known (it may have called Clarabel directly), so a process forked
    from one that had imported Clarabel solves single-threaded (``max_threads=1``); a user's
    own ``max_threads`` still wins. Pass these options to every Clarabel solve.
    """
    return {"max_threads": 1} if _FORKED_AFTER_CLARABEL else {}


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
    ``tol_ktratio``, the last never below ``1e-10``); ``max_iters`` is ``max_iter``; ``time_limit`` is ``time_limit``
    (seconds).

    The status is read from Clarabel's own ``SolverStatus`` (cvxpy folds ``MaxIterations``
    and ``MaxTime`` into one ``user_limit`` and ``NumericalError``/``InsufficientProgress``
    into an exception); see :data:`CLARABEL_STATUS_MAP`.
    """

    name = "clarabel"
    cvxpy_solver = "CLARABEL"
    cones = frozenset({"zero", "nonneg", "soc", "psd", "exp"})
    SOLVER_STATUS_MAP = CLARABEL_STATUS_MAP
    #: Clarabel counts iterations in a 32-bit unsigned integer.
    MAX_ITERS = 2**32 - 1
    OPTION_NAMES = _clarabel_option_names()

    def predict_memory(self, sizes):
        r"""Bytes Clarabel allocates: each PSD cone of side :math:`s` (vectorized size
        :math:`m = s(s+1)/2`) puts a dense :math:`m \times m` block into the KKT system,
        held as a dense scaling matrix, in the KKT matrix and in its factor (measured:
        about :math:`56 m^2` bytes, counted as :math:`64 m^2`); the sparse part is about
        120 bytes per nonzero of ``A`` and ``P`` and 200 bytes per KKT row."""
        return int(64 * sizes.dense_psd + 120 * (sizes.nnz_A + sizes.nnz_P)
                   + 200 * sizes.kkt_dim)

    def solver_options(self, tol, max_iters, time_limit):
        opts = {"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol, "tol_ktratio": max(tol, 1e-10)}
        if max_iters is not None:
            opts["max_iter"] = int(max_iters)
        if time_limit is not None:
            opts["time_limit"] = float(time_limit)  # inf: no limit, Clarabel's own default
        return opts

    def _check_option(self, key, value):
        # the kind of each setting is the type of Clarabel's own default for it
        settings = _clarabel_settings()
        default = getattr(settings, key)
        if isinstance(default, bool):
            check_bool_option(self.name, key, value)
        elif isinstance(default, int):  # counts; max_threads = 0 is "as many as cores"
            check_int_option(self.name, key, value, 0 if key == "max_threads" else 1,
                             self.MAX_ITERS)
        elif isinstance(default, float):  # tolerances, scalings, step fractions: >= 0
            check_real_option(self.name, key, value, 0.0, allow_inf=key == "time_limit")
        elif isinstance(default, str):
            check_str_option(self.name, key, value)
        # every value must be one Clarabel's settings object takes (type and range)
        try:
            setattr(settings, key, value)
        except Exception as exc:  # TypeError / OverflowError from the Rust binding
            raise InvalidInputError(
                f"clarabel option {key} cannot take {value!r}: {exc}"
            ) from exc

    def solve(self, problem, **kwargs):
        cache = getattr(problem, "_solver_cache", None)
        if isinstance(cache, dict) and not kwargs.get("warm_start", False):
            # cvxpy reuses the cached solver only to warm start; dropping it otherwise keeps
            # a status word from an earlier solve from being read as this one's.
            cache.pop(self.cvxpy_solver, None)
        return super().solve(problem, **{**fork_safe_options(), **kwargs})

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
