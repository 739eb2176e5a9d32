"""The :class:`ConvexProgram` base class shared by every network family.

A formulation builds a cvxpy problem lazily (:attr:`ConvexProgram.problem`), recovers the
non-convex network from the solution (:meth:`ConvexProgram.network`) and certifies it
(:meth:`ConvexProgram.certificate`). :meth:`ConvexProgram.solve` hands the program to
:func:`sdpnets.solving.pipeline.solve`, which talks to it through the public members of
:class:`sdpnets.solving.protocol.SolvableProgram` only. ``beta`` is a cvxpy
:class:`~cvxpy.Parameter`, so a change of ``beta`` (e.g. in :meth:`ConvexProgram.path`)
reuses the compiled problem.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, ClassVar

import cvxpy as cp
import numpy as np

from .._validate import check_beta
from ..errors import InvalidInputError, NotSolvedError, SdpnetsWarning, SolveFailedError
from ..networks.base import Network
from ..results import Certificate, SolveResult
from ..solving import pipeline
from .least_squares import ORDINARY_RANGE, column_scale, ordinary_or, safe_norm

__all__ = ["ConvexProgram", "PATH_POINTS"]

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

    #: Whether sdpnets' own first-order solver applies (``backend="firstorder"``): a family
    #: that sets it implements :meth:`solve_firstorder` and :meth:`firstorder_memory`.
    has_firstorder: ClassVar[bool] = False

    #: Whether ``backend="auto"`` tries the first-order solver first (the least-squares
    #: families: it certifies tight gaps orders of magnitude faster than the conic solvers).
    auto_firstorder: ClassVar[bool] = False

    #: Seconds of the one pass over Dask data that computed the sufficient statistics (0 for
    #: in-memory data); recorded in every result.
    data_pass_time: float = 0.0

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
        the weights ``1/c`` then carry the data's scale (this keeps the penalty's cone
        variable the size of the weighted variable, where a tiny ``beta`` times a huge norm
        stalls the solvers).
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
        """The result of the last :meth:`solve` (``None`` before any); set by
        :mod:`sdpnets.solving`, which recovery and certificates then read."""
        return self._result

    @result.setter
    def result(self, value: SolveResult | None) -> None:
        self._result = value

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
            firstorder`), stopping on a certified gap. ``"auto"`` picks ``"firstorder"``
            for the least-squares families (deep linear FC, linear CNN, circular CNN),
            where it certifies tight gaps orders of magnitude faster than the conic
            solvers (docs/design_notes.md), falling back to the conic choice below if it
            stalls; for the other families MOSEK when licensed, else Clarabel (interior
            point: tight tolerances in a few dozen iterations; SCS is first order and slow
            to reach 1e-8). A backend predicted not to fit in memory is never picked
            (:mod:`sdpnets.solving.pipeline`). See :func:`sdpnets.available_backends`.
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
            from the program's sizes first (:mod:`sdpnets.solving.memory`); a backend predicted not
            to fit is refused with :class:`ProblemTooLargeError` (saying what it would need
            and which backend would fit), and ``"auto"`` never picks one. With ``isolate``
            the limit is also enforced on the child process.
        isolate : bool
            Run the solve in a child process (:func:`sdpnets.solving.isolation.run_isolated`), so that
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
            (``lower_bound``, ``upper_bound``, ``gap``; see
            :func:`sdpnets.solving.verify.verify`): one recovery and one dual-norm
            evaluation, small next to the solve. Data far from
            unit scale are equilibrated first (:meth:`_equilibrate`); results are in the
            caller's units.

        Raises
        ------
        ProblemTooLargeError
            Before any solver runs, when no allowed backend is predicted to fit in memory.
        """
        result = pipeline.solve(self, backend, tol, max_iters, time_limit, verbose,
                                warm_start=warm_start, memory_limit=memory_limit,
                                isolate=isolate, **solver_options)
        if self.data_pass_time:
            result = replace(result, data_pass_time=self.data_pass_time)
            self._result = result
        return result

    # -- what sdpnets.solving asks of a program (solving.protocol.SolvableProgram) ----------
    @property
    def is_built(self) -> bool:
        """Whether :attr:`problem` has been built (and not discarded since)."""
        return self._problem is not None

    def discard_problem(self) -> None:
        """Drop the built problem; the next access to :attr:`problem` rebuilds it."""
        self._problem = None

    @property
    def objective_scale(self) -> float:
        """The factor from the conic solver's objective (equilibrated units) to the caller's:
        ``y_scale**2`` (see :meth:`_equilibrate`)."""
        return self._scales[1] ** 2

    @property
    def targets_rescalable(self) -> bool:
        """Whether :meth:`rescale_targets` may still change the targets' scale (the loss
        scales with them and no scale was forced yet)."""
        return self._targets_scaled and self._y_scale_hint is None

    def rescale_targets(self, objective: float) -> None:
        """Build the problem again with targets scaled so that an objective of ``objective``
        (caller's units) is 1/2 in the solver's, as the zero network is on data of unit
        scale: the solver's absolute tolerances then fit the optimum."""
        self._y_scale_hint = float(np.sqrt(2.0 * objective))
        self._problem = None

    def snapshot(self, portable: bool = False) -> dict[str, Any]:
        """The program's state (a shallow copy of its attributes), for :meth:`restore`.

        ``portable=True`` leaves out what cannot or need not cross to another process: the
        compiled problem and the other transient attributes (rebuilt on demand), cvxpy
        objects, and the result (which travels apart)."""
        state = dict(self.__dict__)
        if portable:
            state = {key: value for key, value in state.items()
                     if key not in self._transient and key != "_result"
                     and not (type(value).__module__ or "").startswith("cvxpy")}
        return state

    def restore(self, state: dict[str, Any]) -> None:
        """Put back the attributes of a :meth:`snapshot` (the others stay), and the value of
        the ``beta`` parameter they imply."""
        self.__dict__.update(state)
        if self._beta_param is not None:
            self._beta_param.value = self._scaled_beta()

    def note(self) -> str:
        """Extra detail recorded in every result (e.g. how patterns were obtained)."""
        return ""

    def verification_certificate(self, tol: float) -> Certificate:
        """The certificate of the program that was solved, for the solution of
        :attr:`result` (solved at ``tol``: recovery drops components below that
        resolution); for a program on a subset of the network's activation patterns, over
        those patterns."""
        self._solve_tol = tol
        return self._program_certificate()

    def _program_certificate(self) -> Certificate:
        """:meth:`verification_certificate` of the last solution (default: the network's
        :meth:`_certificate`)."""
        return self._certificate()

    def solve_firstorder(self, *, tol: float, max_iters: int | None,
                         time_limit: float | None, verbose: bool, warm_start: bool,
                         **options: Any) -> SolveResult:
        """One solve by sdpnets' own structured first-order solver (``backend="firstorder"``),
        its result in the caller's units, not yet verified. Families with
        :attr:`has_firstorder` implement it."""
        raise NotImplementedError(f"{type(self).__name__} has no first-order solver")

    def build_memory(self) -> int:
        """Bytes the formulation allocates around a conic solver: in :meth:`_build` (before
        cvxpy compiles) and when the recovered network is evaluated for the certificate.
        Default: three copies of the data ``X``; families with large arrays of their own
        (QR factors, patches, pattern masks) override it."""
        return 3 * self.data_memory()

    def firstorder_memory(self) -> int:
        """Bytes sdpnets' own first-order solver needs for this program (families with
        :attr:`has_firstorder` implement it)."""
        raise NotImplementedError(f"{type(self).__name__} has no first-order solver")

    def data_memory(self) -> int:
        """Bytes of the data ``X`` (one copy: what the first-order path holds outside its
        solver, whose solution is verified with the solver's own certificate)."""
        X = getattr(self, "X", None)
        return int(X.nbytes) if isinstance(X, np.ndarray) else 0

    def path(self, betas: Iterable[float] | None = None, *,
             callback: Callable[[ConvexProgram, SolveResult], None] | None = None,
             **solve_kwargs: Any) -> list[SolveResult]:
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
        callback : callable, optional
            ``callback(program, result)`` after each solve, while the program holds that
            solution (read its :meth:`network` there, e.g. to score it on held-out data).
        **solve_kwargs
            Passed to :meth:`solve`.

        Returns
        -------
        list of SolveResult
            One per ``beta``, in order.
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
            if callback is not None:
                callback(self, results[-1])
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
