"""The :class:`Backend` base class: one small class per conic solver.

A backend knows cvxpy problems only, never a formulation. It declares the cones it
supports, says whether it can solve here (:meth:`Backend.availability`), translates the
package's option vocabulary (``tol``, ``max_iters``, ``time_limit``, ``verbose``) into its
solver's, and maps the solver's status onto :data:`sdpnets.results.STATUSES`.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import cvxpy as cp

from ..errors import InvalidInputError
from ..results import SOLVED_STATUSES, SolveResult
from .sizes import ProgramSizes, program_sizes

logger = logging.getLogger(__name__)

__all__ = [
    "Backend",
    "CVXPY_STATUS_MAP",
    "CVXPY_SOLVE_OPTIONS",
    "check_int_option",
    "check_real_option",
    "check_bool_option",
    "check_str_option",
]

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


#: Keyword arguments of ``cvxpy.Problem.solve`` itself that a caller may pass through
#: ``**solver_options`` (the others, ``solver``/``verbose``/``warm_start``, are sdpnets' own),
#: with the values each accepts (``None``: any bool).
CVXPY_SOLVE_OPTIONS: dict[str, tuple | None] = {
    "canon_backend": (None, "CPP", "SCIPY", "COO", "RUST"),
    "ignore_dpp": None,
    "enforce_dpp": None,
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
    #: The largest ``max_iters`` the solver can take (its iteration counter's integer type).
    MAX_ITERS: ClassVar[int] = 2**31 - 1
    #: The solver's own option names accepted through ``**solver_options``.
    OPTION_NAMES: ClassVar[frozenset[str]] = frozenset()
    #: Whether ``tol`` reaches the solver (when not, a re-solve at a tighter ``tol`` would
    #: only repeat the same solve, so none is made).
    takes_tol: ClassVar[bool] = True

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

    def check_options(
        self, max_iters: int | None, time_limit: float | None, options: dict[str, Any]
    ) -> None:
        """Refuse, before the solver runs, a ``max_iters`` beyond :attr:`MAX_ITERS` and
        options the solver does not know or whose values it cannot take.

        Raises
        ------
        InvalidInputError
            Naming the option and what is accepted.
        """
        if max_iters is not None and max_iters > self.MAX_ITERS:
            raise InvalidInputError(
                f"max_iters must be <= {self.MAX_ITERS} for {self.name} (its iteration "
                f"counter's range), got {max_iters!r}."
            )
        unknown = sorted(set(options) - self.OPTION_NAMES - set(CVXPY_SOLVE_OPTIONS))
        if unknown:
            raise InvalidInputError(
                f"{self.name} does not know the solver option(s) {unknown}; its options are "
                f"{', '.join(sorted(self.OPTION_NAMES))} (and cvxpy's "
                f"{', '.join(CVXPY_SOLVE_OPTIONS)})."
            )
        for key, allowed in CVXPY_SOLVE_OPTIONS.items():
            if key not in options:
                continue
            value = options[key]
            ok = (value in allowed) if allowed is not None else isinstance(value, bool)
            if not ok:
                expected = ", ".join(map(repr, allowed)) if allowed else "True or False"
                raise InvalidInputError(f"{key} must be one of {expected}, got {value!r}.")
        for key, value in options.items():
            if key in self.OPTION_NAMES:
                self._check_option(key, value)

    def _check_option(self, key: str, value: Any) -> None:
        """Check one of the solver's own options (subclasses know their solver's types)."""

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
        self.check_options(max_iters, time_limit, solver_options)
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
        except (TypeError, OverflowError) as exc:
            if solver_options:  # cvxpy and the solvers reject bad settings this way
                raise InvalidInputError(
                    f"{self.name} rejected the solver options {sorted(solver_options)}: {exc}"
                ) from exc
            return self._crashed(exc, problem, start, time_limit)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - a solver crash (even a Rust panic,
            # which is a BaseException) is a status, never an escaping exception
            return self._crashed(exc, problem, start, time_limit)
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

    def _crashed(
        self, exc: BaseException, problem: cp.Problem, start: float, time_limit: float | None
    ) -> SolveResult:
        """The result of a solve that raised: ``"error"`` with the solver's message (a
        ``time_limit`` when the solver's own status says so, or when cvxpy's SolverError came
        after the time limit had passed)."""
        wall = time.perf_counter() - start
        solver_error = isinstance(exc, cp.error.SolverError)
        raw = self.solver_status(problem) if solver_error else None
        status = "error" if raw is None else self.SOLVER_STATUS_MAP.get(raw, "error")
        if status in SOLVED_STATUSES:  # a stale word from an earlier solve: ignore it
            raw, status = None, "error"
        what = str(exc).strip() or type(exc).__name__
        message = f"{self.name} failed ({type(exc).__name__}): {what}"
        if raw is not None:
            message += f" The solver's status: {raw!r}."
        logger.info(message)
        if status == "error" and solver_error and time_limit is not None and wall >= time_limit:
            status = "time_limit"
        return SolveResult(
            status=status,
            objective=float("nan"),
            backend=self.name,
            solve_time=wall,
            compile_time=float("nan"),
            message=message,
        )

    # -- memory -------------------------------------------------------------------------
    #: Whether the solver takes a quadratic objective through cvxpy (``sum_squares`` in the
    #: objective becomes ``P``); otherwise cvxpy gives it a second-order cone.
    quadratic_objective: ClassVar[bool] = True

    def memory_for(self, problem: cp.Problem) -> tuple[ProgramSizes, int]:
        """The conic sizes of ``problem`` as this solver receives it
        (:func:`~sdpnets.backends.sizes.program_sizes`) and the bytes it would allocate for
        them (:meth:`predict_memory`)."""
        sizes = program_sizes(problem, self.quadratic_objective)
        return sizes, self.predict_memory(sizes)

    def predict_memory(self, sizes: ProgramSizes) -> int:
        r"""Bytes the solver allocates for a program of these
        :class:`~sdpnets.backends.sizes.ProgramSizes` (cvxpy's compilation is counted apart).

        Default: a sparse factorization,
        :math:`120\,(\mathrm{nnz}(A) + \mathrm{nnz}(P)) + 200\,(n + m)` bytes, plus the
        dense blocks of the PSD cones, :math:`64 \sum_i m_i^2` with
        :math:`m_i = s_i(s_i+1)/2`.
        """
        return int(64 * sizes.dense_psd + 120 * (sizes.nnz_A + sizes.nnz_P)
                   + 200 * sizes.kkt_dim)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_int_option(backend: str, key: str, value: Any, minimum: int, maximum: int) -> None:
    """A solver option that must be an integer in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not (
        minimum <= int(value) <= maximum
    ):
        raise InvalidInputError(
            f"{backend} option {key} must be an integer in [{minimum}, {maximum}], got {value!r}."
        )


def check_real_option(
    backend: str, key: str, value: Any, minimum: float = 0.0, allow_inf: bool = False
) -> None:
    """A solver option that must be a real number ``>= minimum`` (finite unless
    ``allow_inf``)."""
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value) or (
        value < minimum or (math.isinf(value) and not allow_inf)
    ):
        bound = "" if allow_inf else "finite "
        raise InvalidInputError(
            f"{backend} option {key} must be a {bound}number >= {minimum}, got {value!r}."
        )


def check_bool_option(backend: str, key: str, value: Any) -> None:
    """A solver option that must be ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise InvalidInputError(f"{backend} option {key} must be True or False, got {value!r}.")


def check_str_option(backend: str, key: str, value: Any) -> None:
    """A solver option that must be a string (a file name, a method's name)."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{backend} option {key} must be a string, got {value!r}.")


def _iterations(problem: cp.Problem) -> int | None:
    stats = problem.solver_stats
    return None if stats is None or stats.num_iters is None else int(stats.num_iters)
