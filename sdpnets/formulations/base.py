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
from ..backends import FIRST_ORDER, get_backend, resolve_backend
from ..errors import InvalidInputError, ProblemTooLargeError, NotSolvedError, SdpnetsWarning, SolveFailedError
from ..isolated_solve import solve_isolated
from ..memory import choose_backend
from ..networks import Network
from ..results import Certificate, SolveResult, relative_gap

from .refine import RESCALE_BELOW, VERIFY_FACTOR, solve_verified, verify_limit  # noqa: F401
from .least_squares import (  # noqa: F401  (re-exported: formulations import them from here)
    ORDINARY_RANGE,
    column_scale,
    safe_norm,
    ordinary_or,
    best_dual_scaling,
    reduce_least_squares,
)

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

    #: Every program here is feasible and bounded below (losses and penalties are
    #: non-negative, the zero network is feasible): a solver's "infeasible"/"unbounded" is
    #: a numerical failure, reported as "error" with the solver's word kept.
    always_feasible: ClassVar[bool] = True

    def __init__(self, beta: float) -> None:
        self._beta = check_beta(beta)
        self._beta_param: cp.Parameter | None = None
        self._problem: cp.Problem | None = None
        self._result: SolveResult | None = None
        self._scales = (1.0, 1.0)  # (x, y): the conic solver sees X / x and y / y
        self._targets_scaled = False
        self._y_scale_hint: float | None = None

    # -- beta -------------------------------------------------------------------------
    @property
    def beta(self) -> float:
        """The weight-decay strength. Setting it keeps the compiled problem."""
        return self._beta

    @beta.setter
    def beta(self, value: float) -> None:
        self._beta = check_beta(value)
        if self._beta_param is not None:
            self._beta_param.value = self._scaled_beta()
        self._result = None

    @property
    def beta_parameter(self) -> cp.Parameter:
        """The cvxpy parameter holding ``beta`` in the equilibrated units of the problem
        (``beta / (x_scale * y_scale)``, see :meth:`_equilibrate`; for use in :meth:`_build`)."""
        if self._beta_param is None:
            self._beta_param = cp.Parameter(nonneg=True, name="beta", value=self._scaled_beta())
        return self._beta_param

    def _scaled_beta(self) -> float:
        sx, sy = self._scales
        return self._beta / (sx * sy)

    # -- equilibration ------------------------------------------------------------------
    def _equilibrate(
        self, A: np.ndarray, Y: np.ndarray, scale_targets: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        r"""The data as the conic solver sees them: ``A / x`` and ``Y / y`` (for :meth:`_build`).

        Every program here is :math:`\min_Z L(\mathcal A(Z), Y) + \beta\,\Omega(Z)` with
        :math:`\mathcal A` linear in the data and :math:`\Omega` positively homogeneous, so
        with :math:`A = xA'`, :math:`Y = yY'` and :math:`Z = (y/x)Z'` the squared-loss
        objective is :math:`y^2` times that of :math:`(A', Y', \beta/(xy))`. ``x`` is the
        largest column norm of ``A``; ``y`` is :math:`\|Y\|_F` (so the zero network costs
        1/2), or the square root of twice the objective when a first solve showed the
        optimum far below that; a scale within a factor :data:`ORDINARY_RANGE` of 1 is left
        at 1, so ordinary data reach the solver untouched. Only the squared loss scales
        with ``y`` (``scale_targets``).
        The solution and objective are returned in the caller's units
        (:attr:`solution_scale`, the objective times ``y**2``).
        """
        sx = ordinary_or(column_scale(A))
        sy = 1.0
        if scale_targets:
            sy = self._y_scale_hint if self._y_scale_hint else ordinary_or(safe_norm(Y))
        self._scales = (sx, sy)
        self._targets_scaled = scale_targets
        self.beta_parameter.value = self._scaled_beta()
        return A / sx, Y / sy

    def _equilibrate_columns(
        self, A: np.ndarray, Y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r""":meth:`_equilibrate`, and each column of ``A`` to unit norm when the column norms
        differ by more than :data:`ORDINARY_RANGE`.

        Returns ``(A', Y', c)`` with :math:`A' = A\,\mathrm{diag}(c)^{-1}/x`. With the
        variable's rows :math:`Z' = \mathrm{diag}(c)\,Z\,x/y`, the program must put
        :math:`\mathrm{diag}(c)^{-1}` inside the penalty
        (:math:`\Omega(\mathrm{diag}(c)^{-1}Z')`) and read the solution as
        ``solution_scale * Z' / c[:, None]``: the same optimum, but data whose columns
        differ by many orders of magnitude no longer reach the solver as a near-singular
        matrix. Equilibrated columns have ``x = 1`` and ``c`` the column norms themselves:
        the weights ``1/c`` then carry the data's scale (measured on badly scaled data, this
        keeps the penalty's cone variable the size of the weighted variable, where a tiny
        ``beta`` times a huge norm stalls the solvers).
        """
        A2, Y2 = self._equilibrate(A, Y)
        norms = np.sqrt(np.einsum("ij,ij->j", A2, A2))
        positive = norms[norms > 0]
        if positive.size == 0 or positive.max() <= ORDINARY_RANGE * positive.min():
            return A2, Y2, np.ones(A.shape[1])  # columns of comparable size are left alone
        c = np.where(norms > 0, norms, 1.0)
        sx, sy = self._scales
        self._scales = (1.0, sy)
        self.beta_parameter.value = self._scaled_beta()
        return A2 / c, Y2, c * sx

    @property
    def solution_scale(self) -> float:
        """The factor ``y_scale / x_scale`` from the problem's variables (equilibrated units)
        to the caller's (see :meth:`_equilibrate`)."""
        sx, sy = self._scales
        return sy / sx

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
        backend : {"auto", "firstorder", "clarabel", "scs", "mosek"}
            ``"firstorder"`` is sdpnets' own structured solver (:mod:`sdpnets.backends.
            firstorder`), stopping on a certified gap. ``"auto"`` picks, by the measured
            benchmark (``benchmarks/firstorder_least_squares.py``): ``"firstorder"`` for the
            least-squares families (deep linear FC, linear CNN, circular CNN), where it
            certifies ``1e-8`` orders of magnitude faster than any conic solver at every
            measured size, falling back to the conic choice below if it stalls; for the
            other families MOSEK when licensed, else Clarabel (interior point: tight
            tolerances in a few dozen iterations; SCS is first order and slow to reach
            1e-8). A backend predicted not to fit in memory is never picked. See
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
            raised; :meth:`network` then raises :class:`SolveFailedError`. Every solved
            result is verified by the certificate of the program that was solved
            (``lower_bound``, ``upper_bound``, ``gap``; see :meth:`_verify`): one recovery
            and one dual-norm evaluation, small next to the solve (measured: 0.2 s after a
            4.3 s exhaustive ReLU solve, 2 ms after a 0.2 s deep-linear one). Data far from
            unit scale are equilibrated first (:meth:`_equilibrate`); results are in the
            caller's units.

        Raises
        ------
        ProblemTooLargeError
            Before any solver runs, when no allowed backend is predicted to fit in memory.
        """
        check_solve_options(tol, max_iters, time_limit)
        if not isinstance(backend, str):
            get_backend(backend)  # raises UnknownBackendError naming backend
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
            self._result = self._verify(self._result, tol)
            if auto and not self._result.solved and self._result.status != "time_limit":
                return self._auto_fallback(tol, max_iters, time_limit, verbose, memory_limit,
                                           solver_options)
            return self._result
        if not engine.supports(self.cones):
            raise InvalidInputError(
                f"backend {engine.name!r} does not support the cones this program needs "
                f"({', '.join(sorted(self.cones - engine.cones))})."
            )
        options = dict(tol=tol, max_iters=max_iters, time_limit=time_limit, verbose=verbose,
                       **solver_options)
        return solve_verified(self, engine, prebuild_time, warm_start, options,
                              tighten=not solver_options)

    def _auto_fallback(self, tol, max_iters, time_limit, verbose, memory_limit,
                       solver_options) -> SolveResult:
        """``backend="auto"`` after sdpnets' first-order solver could not certify ``tol``
        (it stalled or hit its cap): solve on the conic solver ``"auto"`` would pick among
        them, when one is predicted to fit; otherwise keep the first-order result."""
        first = self._result
        assert first is not None
        try:
            engine = choose_backend(self, resolve_backend("auto"), True, memory_limit)
        except ProblemTooLargeError:
            return first
        options = dict(tol=tol, max_iters=max_iters, time_limit=time_limit, verbose=verbose,
                       **solver_options)
        second = self._solve_conic(engine, 0.0, False, options)
        self._result = replace(second, message=(
            f"{second.message} (backend 'auto': the first-order solver did not certify the "
            f"gap: {first.message})").strip())
        return self._result

    def _solve_conic(self, engine, prebuild_time: float, warm_start: bool,
                     options: dict[str, Any], verify_tol: float | None = None) -> SolveResult:
        """One solve of the (equilibrated) cvxpy problem, in the caller's units, verified
        against ``verify_tol`` (default: the solver's ``options["tol"]``)."""
        start = time.perf_counter()
        problem = self.problem
        build_time = prebuild_time + time.perf_counter() - start
        result = engine.solve(problem, warm_start=warm_start, **options)
        compile_time = build_time + (0.0 if np.isnan(result.compile_time) else result.compile_time)
        result = replace(
            result,
            objective=result.objective * self._scales[1] ** 2,
            compile_time=compile_time,
            exact=self.exact,
            message=" ".join(m for m in (result.message, self._message()) if m),
        )
        return self._verify(result, options["tol"] if verify_tol is None else verify_tol)

    # -- verification -------------------------------------------------------------------
    def _verify(self, result: SolveResult, tol: float) -> SolveResult:
        """Check a solver's claim with the certificate of the program that was solved.

        A solved result gets ``lower_bound``, ``upper_bound`` (the recovered network's
        objective) and ``gap``; an "optimal" whose certified relative gap, or whose
        disagreement with the recovered network's objective, exceeds
        :func:`verify_limit` of ``tol`` becomes "optimal_inaccurate" with the numbers in its
        message. An "optimal_inaccurate" whose certificate proves relative gap <= ``tol``
        (and agreement to ``tol``) is "optimal": the certificate is the proof, the solver's
        doubt is kept in the message. "infeasible"/"unbounded" from a program that is
        always feasible and bounded is a numerical failure: "error", the solver's word kept.
        """
        if result.status in ("infeasible", "unbounded") and self.always_feasible:
            return replace(result, status="error", message=(
                f"numerical failure: {result.backend} reported {result.status!r}, but this "
                f"program is always feasible and bounded below. {result.message}").strip())
        if not result.solved:
            return result
        self._result = result  # recovery and certificate read the solution of this result
        self._solve_tol = tol  # recovery drops components below the solve's resolution
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SdpnetsWarning)
                cert = self._program_certificate()
            lower, upper = float(cert.lower_bound), float(cert.upper_bound)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - an unverifiable point is not optimal
            return replace(
                result,
                status="optimal_inaccurate",
                message=f"{result.message} The solution could not be verified "
                f"({type(exc).__name__}: {exc}).".strip(),
            )
        limit = verify_limit(tol)
        rel = relative_gap(lower, upper)
        issues = []
        if not (np.isfinite(lower) and np.isfinite(upper)):
            issues.append(f"its certificate is not finite (lower {lower!r}, upper {upper!r})")
            lower, upper = -np.inf, np.inf
        elif rel > limit:
            issues.append(
                f"certified relative gap {rel:.3g} > {limit:.3g} (lower bound {lower:.12g}, "
                f"upper bound {upper:.12g})"
            )
        # the solver's own criterion is absolute below an objective of 1 in its units, i.e.
        # tol * y_scale**2 here: a zero optimum reached to 1e-10 is not a disagreement
        slack = max(limit * abs(upper), tol * self._scales[1] ** 2)
        if np.isfinite(upper) and abs(result.objective - upper) > slack:
            issues.append(
                f"the recovered network's objective {upper:.12g} differs from the solver's "
                f"{result.objective:.12g}"
            )
        status, message = result.status, result.message
        if issues:
            status = "optimal_inaccurate"
            message = (f"{message} {result.backend} reported {result.status!r} but "
                       + "; ".join(issues) + ".").strip()
        elif status == "optimal_inaccurate" and rel <= tol and \
                abs(result.objective - upper) <= tol * abs(upper):
            # the solver doubted its point, but the certificate proves it within tol of the
            # optimum: the recovered network is optimal to the requested tolerance
            status = "optimal"
            message = (f"{message} Its certificate proves relative gap {rel:.3g} <= tol "
                       f"(lower bound {lower:.12g}, upper bound {upper:.12g}).").strip()
        return replace(result, status=status, message=message, lower_bound=lower,
                       upper_bound=upper, gap=upper - lower)

    def _program_certificate(self) -> Certificate:
        """The certificate of the program that was solved (for :meth:`_verify`); for a
        program on a subset of the network's activation patterns, over those patterns."""
        return self._certificate()

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
