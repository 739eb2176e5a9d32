"""The :class:`ConvexProgram` base class shared by every network family.

A formulation builds a cvxpy problem lazily (:attr:`ConvexProgram.problem`), solves it on a
backend (:meth:`ConvexProgram.solve`), recovers the non-convex network from the solution
(:meth:`ConvexProgram.network`) and certifies it (:meth:`ConvexProgram.certificate`).
``beta`` is a cvxpy :class:`~cvxpy.Parameter`, so a change of ``beta`` (e.g. in
:meth:`ConvexProgram.path`) reuses the compiled problem.
"""

from __future__ import annotations

import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, ClassVar

import cvxpy as cp
import numpy as np

from .._validate import check_beta, check_solve_options
from ..backends import FIRST_ORDER, resolve_backend
from ..errors import InvalidInputError, NotSolvedError, SdpnetsWarning, SolveFailedError
from ..isolation import solve_isolated
from ..memory import choose_backend
from ..networks import Network
from ..results import Certificate, SolveResult

__all__ = ["ConvexProgram", "reduce_least_squares", "best_dual_scaling", "PATH_POINTS"]

#: Number of ``beta`` values of the default grid of :meth:`ConvexProgram.path`.
PATH_POINTS = 20


class ConvexProgram(ABC):
    """Base class: a network training problem posed as a convex program.

    Subclasses implement :meth:`_build` (return the cvxpy problem, using
    :attr:`beta_parameter` for ``beta``), :meth:`_recover` (weights from the solution) and
    :meth:`_certificate`.

    Parameters
    ----------
    beta : float
        Weight-decay strength, ``> 0``.
    """

    #: Cones the program needs; a backend that lacks one is refused before solving.
    cones: ClassVar[frozenset[str]] = frozenset({"zero", "nonneg", "soc", "psd"})

    #: Attributes dropped on pickling: the compiled cvxpy problem (it holds the solver's
    #: native state, which cannot be pickled), its ``beta`` parameter and the first-order
    #: solvers' cached data operators. All are rebuilt on demand; the solution stays in the
    #: variables recovery reads, so an unpickled program still gives its :meth:`network`
    #: and :meth:`certificate`, and can :meth:`solve` again.
    _transient: ClassVar[tuple[str, ...]] = ("_problem", "_beta_param", "_fo_parts")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._transient:
            if name in state:
                state[name] = None
        return state

    #: Attributes dropped on pickling: the compiled cvxpy problem (it holds the solver's
    #: native state, which cannot be pickled), its ``beta`` parameter and the first-order
    #: solvers' cached data operators. All are rebuilt on demand; the solution stays in the
    #: variables recovery reads, so an unpickled program still gives its :meth:`network`
    #: and :meth:`certificate`, and can :meth:`solve` again.
    _transient: ClassVar[tuple[str, ...]] = ("_problem", "_beta_param", "_fo_parts")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._transient:
            if name in state:
                state[name] = None
        return state

    def __init__(self, beta: float) -> None:
        self._beta = check_beta(beta)
        self._beta_param: cp.Parameter | None = None
        self._problem: cp.Problem | None = None
        self._result: SolveResult | None = None

    # -- beta -------------------------------------------------------------------------
    @property
    def beta(self) -> float:
        """The weight-decay strength. Setting it keeps the compiled problem."""
        return self._beta

    @beta.setter
    def beta(self, value: float) -> None:
        self._beta = check_beta(value)
        if self._beta_param is not None:
            self._beta_param.value = self._beta
        self._result = None

    @property
    def beta_parameter(self) -> cp.Parameter:
        """The cvxpy parameter holding ``beta`` (for use in :meth:`_build`)."""
        if self._beta_param is None:
            self._beta_param = cp.Parameter(nonneg=True, name="beta", value=self._beta)
        return self._beta_param

    # -- the program --------------------------------------------------------------------
    @property
    def problem(self) -> cp.Problem:
        """The cvxpy problem, built on first access. Users may add constraints to a copy
        (``cp.Problem(prog.problem.objective, prog.problem.constraints + [...])``)."""
        if self._problem is None:
            self._problem = self._build()
        return self._problem

    @abstractmethod
    def _build(self) -> cp.Problem:
        """Build the cvxpy problem (objective in the package's scale, constants included)."""

    @property
    def exact(self) -> bool:
        """Whether the program's optimum equals the network's global optimum (``False``:
        only an upper bound, e.g. with sampled activation patterns)."""
        return True

    @property
    def result(self) -> SolveResult | None:
        """The result of the last :meth:`solve` (``None`` before any)."""
        return self._result

    # -- solving --------------------------------------------------------------------------
    def solve(
        self,
        backend: str = "auto",
        tol: float = 1e-8,
        max_iters: int | None = None,
        time_limit: float | None = None,
        verbose: bool = False,
        *,
        warm_start: bool = False,
        memory_limit: int | float | str | None = None,
        isolate: bool = False,
        **solver_options: Any,
    ) -> SolveResult:
        """Solve the convex program.

        Parameters
        ----------
        backend : {"auto", "clarabel", "scs", "mosek"}
            ``"auto"`` is MOSEK when licensed, else Clarabel: both are interior-point
            solvers, which reach the tight tolerances a certificate needs in a few dozen
            iterations (SCS is first order and slow to reach 1e-8). See
            :func:`sdpnets.available_backends`.
        tol : float
            Solver tolerance (gap and feasibility), ``> 0``.
        max_iters : int, optional
            Iteration cap.
        time_limit : float, optional
            Seconds.
        verbose : bool
            Let the solver print its log.
        warm_start : bool
            Start from the previous solution where the solver supports it.
        memory_limit : int, float or str, optional
            Bytes the solve may use (or a string such as ``"2GB"``, ``"512MiB"``); default:
            the memory available now (``MemAvailable``). The solve's peak memory is predicted
            from the program's sizes first (:mod:`sdpnets.memory`); a backend predicted not
            to fit is refused with :class:`ProblemTooLargeError` (saying what it would need
            and which backend would fit), and ``"auto"`` never picks one. With ``isolate``
            the limit is also enforced on the child process.
        isolate : bool
            Run the solve in a child process (:func:`sdpnets.isolation.run_isolated`), so that
            even a crash of the solver's native code (an abort on a failed allocation, a
            segfault) comes back as status ``"error"`` with the child's exit signal in the
            message, and this process survives. On success the program holds the solution
            exactly as after an ordinary solve (:meth:`network`, :meth:`certificate`).
        **solver_options
            Passed to the solver untouched (override the translated options).

        Returns
        -------
        SolveResult
            Also kept in :attr:`result`. A failed solve is reported in ``status``, never
            raised; :meth:`network` then raises :class:`SolveFailedError`.

        Raises
        ------
        ProblemTooLargeError
            Before any solver runs, when no allowed backend is predicted to fit in memory.
        """
        check_solve_options(tol, max_iters, time_limit)
        if not isinstance(isolate, (bool, np.bool_)):
            raise InvalidInputError(f"isolate must be True or False, got {isolate!r}.")
        auto = backend == "auto"
        if backend == "auto" and self._auto_firstorder():
            backend = FIRST_ORDER
        engine = resolve_backend(backend)
        if engine.name != FIRST_ORDER and not engine.supports(self.cones):
            raise InvalidInputError(
                f"backend {engine.name!r} does not support the cones this program needs "
                f"({', '.join(sorted(self.cones - engine.cones))})."
            )
        start = time.perf_counter()
        built = self._problem is not None
        engine = choose_backend(self, engine, auto, memory_limit)  # may build the problem
        prebuild_time = 0.0 if built else time.perf_counter() - start
        if isolate:
            return solve_isolated(
                self, engine.name, tol=tol, max_iters=max_iters, time_limit=time_limit,
                verbose=verbose, warm_start=warm_start, memory_limit=memory_limit,
                **solver_options,
            )
        if engine.name == FIRST_ORDER:
            start = time.perf_counter()
            result = self._solve_firstorder(
                tol=tol, max_iters=max_iters, time_limit=time_limit, verbose=verbose,
                warm_start=warm_start, **solver_options,
            )
            self._result = replace(
                result,
                exact=self.exact,
                message=" ".join(m for m in (result.message, self._message()) if m),
            )
            return self._result
        if not engine.supports(self.cones):
            raise InvalidInputError(
                f"backend {engine.name!r} does not support the cones this program needs "
                f"({', '.join(sorted(self.cones - engine.cones))})."
            )
        start = time.perf_counter()
        problem = self.problem
        build_time = prebuild_time + time.perf_counter() - start
        result = engine.solve(
            problem,
            tol=tol,
            max_iters=max_iters,
            time_limit=time_limit,
            verbose=verbose,
            warm_start=warm_start,
            **solver_options,
        )
        compile_time = build_time + (0.0 if np.isnan(result.compile_time) else result.compile_time)
        self._result = replace(
            result,
            compile_time=compile_time,
            exact=self.exact,
            message=" ".join(m for m in (result.message, self._message()) if m),
        )
        return self._result

    def _auto_firstorder(self) -> bool:
        """Whether ``backend="auto"`` means sdpnets' own first-order solver for this program
        (the least-squares families: it certifies tight gaps orders of magnitude faster than
        the conic solvers at every size the benchmark measured)."""
        return False

    def _solve_firstorder(
        self,
        *,
        tol: float,
        max_iters: int | None,
        time_limit: float | None,
        verbose: bool,
        warm_start: bool,
        **options: Any,
    ) -> SolveResult:
        """Solve with sdpnets' own structured first-order solvers (``backend="firstorder"``).

        Families that have a composite form (smooth part + penalty with a prox) override
        this; the others refuse with the backends that can solve them.
        """
        raise InvalidInputError(
            f"backend='firstorder' is not available for {type(self).__name__}; use one of "
            "'auto', 'clarabel', 'scs', 'mosek'."
        )

    def _message(self) -> str:
        """Extra detail recorded in every result (e.g. how patterns were obtained)."""
        return ""

    def path(self, betas: Iterable[float] | None = None, **solve_kwargs: Any) -> list[SolveResult]:
        """Solve for each ``beta`` in turn, warm-starting from the previous solution.

        The compiled problem is reused (``beta`` is a cvxpy parameter); on
        ``backend="firstorder"`` the data statistics are computed once and each solve starts
        from the previous solution. The program is left at the last ``beta``; its
        :meth:`network` is that solution's.

        Parameters
        ----------
        betas : iterable of float, optional
            Default: ``PATH_POINTS`` values log-spaced from ``beta_max()`` (where the optimum
            is the zero network) down to ``1e-3 * beta_max()``.
        **solve_kwargs
            Passed to :meth:`solve`.
        """
        if betas is None:
            top = getattr(self, "beta_max", None)
            if top is None:
                raise InvalidInputError(
                    f"{type(self).__name__} has no beta_max(); pass betas explicitly."
                )
            bmax = float(top())
            if not bmax > 0:
                raise InvalidInputError(
                    "beta_max is 0 (the zero network is optimal for every beta): there is "
                    "no path to follow; pass betas explicitly."
                )
            betas = np.geomspace(bmax, 1e-3 * bmax, PATH_POINTS)
        betas = [check_beta(b) for b in betas]
        solve_kwargs.setdefault("warm_start", True)
        results = []
        for b in betas:
            self.beta = b
            results.append(self.solve(**solve_kwargs))
        return results

    # -- recovery and certificates --------------------------------------------------------
    def _require_solution(self) -> SolveResult:
        if self._result is None:
            raise NotSolvedError(f"{type(self).__name__} has not been solved: call solve() first.")
        if not self._result.solved:
            raise SolveFailedError(
                f"The last solve ended with status {self._result.status!r} on backend "
                f"{self._result.backend!r}; no network can be recovered. {self._result.message}"
            )
        if self._result.status == "optimal_inaccurate":
            warnings.warn(
                "The last solve was only optimal_inaccurate; the recovered network may be "
                "off the optimum by more than the requested tolerance.",
                SdpnetsWarning,
                stacklevel=3,
            )
        return self._result

    def network(self) -> Network:
        """The non-convex network recovered from the last solution.

        Raises
        ------
        NotSolvedError
            Before any :meth:`solve`.
        SolveFailedError
            When the last solve did not reach an optimal point.
        """
        self._require_solution()
        return self._recover()

    @abstractmethod
    def _recover(self) -> Network:
        """Build the network from the solved variables."""

    def certificate(self) -> Certificate:
        """Certified bracket ``lower_bound <= optimum <= upper_bound`` from the last solve.

        The upper bound is the training objective of :meth:`network`; the lower bound is
        the dual value of a dual-feasible point built from the solution.
        """
        self._require_solution()
        return self._certificate()

    @abstractmethod
    def _certificate(self) -> Certificate:
        """Compute the certificate from the solved program."""


def reduce_least_squares(A: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    r"""Shrink :math:`\|A Z - Y\|^2` to a size independent of the number of rows.

    With the thin QR :math:`A = QR`,
    :math:`\|AZ - Y\|^2 = \|RZ - Q^T Y\|^2 + \|Y\|^2 - \|Q^T Y\|^2` (docs/conventions.md).

    Returns
    -------
    R : ndarray, shape (min(n, d), d)
    QtY : ndarray, shape (min(n, d),) or (min(n, d), K)
    offset : float
        :math:`\|Y\|^2 - \|Q^T Y\|^2 \ge 0`.
    """
    Q, R = np.linalg.qr(A, mode="reduced")
    QtY = Q.T @ Y
    offset = max(float(np.sum(Y * Y) - np.sum(QtY * QtY)), 0.0)
    return R, QtY, offset


def best_dual_scaling(v: np.ndarray, y: np.ndarray, dual_norm: float, beta: float) -> float:
    r"""The scale :math:`s \ge 0` maximizing the squared-loss dual value of :math:`s v`.

    The dual value :math:`-\tfrac12\|s v - y\|^2 + \tfrac12\|y\|^2` is concave in ``s``; the
    point is feasible for :math:`s\,\text{dual\_norm} \le \beta`. Returns the maximizer on
    that interval.
    """
    vv = float(np.sum(v * v))
    if vv == 0.0:
        return 0.0
    s = max(float(np.sum(v * y)) / vv, 0.0)
    if dual_norm > 0:
        s = min(s, beta / dual_norm)
    return s
