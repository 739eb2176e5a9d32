r"""The composite form shared by the least-squares families, and their first-order solve.

A least-squares family (deep linear FC, linear CNN, circular CNN) is, as a convex program,

.. math::

    \min_W \tfrac12\|AW - Y\|_F^2 + \beta\,\Omega(W)

with a data map ``A`` and a norm :math:`\Omega` whose prox is closed form. A formulation that
mixes in :class:`CompositeLeastSquares` says what ``A`` (through its sufficient statistics
:math:`A^TA`, :math:`A^TY`, :math:`\|Y\|^2`) and :math:`\Omega` are
(:meth:`~CompositeLeastSquares._composite_parts`) and where its solution lives
(:meth:`~CompositeLeastSquares._store_firstorder`); ``backend="firstorder"`` then runs
:func:`sdpnets.backends.firstorder.solve_composite` on it, stopping on a certified gap.
The statistics are computed once per program and shared by every later solve (a ``beta``
path reads the data once).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from ..backends.firstorder import Composite, Quadratic, certify_point, solve_composite
from ..backends.firstorder.linalg import single_threaded
from ..backends.firstorder.solvers import METHODS
from ..errors import InvalidInputError
from ..results import Certificate, SolveResult

__all__ = ["CompositeLeastSquares"]

#: Options ``solve(backend="firstorder", ...)`` accepts beyond the common vocabulary.
FIRSTORDER_OPTIONS = ("method", "rho", "check_every")


class CompositeLeastSquares:
    """Mixin for :class:`~sdpnets.formulations.base.ConvexProgram` subclasses whose program is
    least squares plus a norm penalty."""

    beta: float
    X: np.ndarray
    _fo_parts: tuple[Quadratic, Any] | None = None
    _fo_W: np.ndarray | None = None
    _fo_rho: float | None = None

    #: ``(||X||_F, ||Y||_F)`` from the statistics of the first data pass (``None`` before):
    #: recovery reads the data's scale here instead of making a pass of its own.
    _data_norms: tuple[float, float] | None = None

    has_firstorder: ClassVar[bool] = True
    auto_firstorder: ClassVar[bool] = True

    def firstorder_memory(self) -> int:
        r"""Bytes of the first-order solve, which works on the sufficient statistics: the Gram
        matrix :math:`A^TA` of the ``p`` unknowns per output, the data's own Gram
        :math:`X^TX` (``D x D``) it is computed from, and a few ``p x K`` iterates:
        :math:`8\,(4p^2 + 2D^2 + 24pK)` (sizes from :meth:`_firstorder_sizes`)."""
        D, p, K = self._firstorder_sizes()
        return int(8 * (4 * p * p + 2 * D * D + 24 * p * K))

    def _firstorder_sizes(self) -> tuple[int, int, int]:
        """``(D, p, K)``: features of one sample, unknowns per output, outputs (default:
        ``p = D``, one output)."""
        D = int(np.prod(self.X.shape[1:]))
        return D, D, 1


    def _norms(self, X: np.ndarray, Y: np.ndarray) -> tuple[float, float]:
        """``(||X||_F, ||Y||_F)``, from the statistics when they exist."""
        if self._data_norms is not None:
            return self._data_norms
        return float(np.linalg.norm(X)), float(np.linalg.norm(Y))

    def _composite_parts(self) -> tuple[Quadratic, Any]:
        """``(Quadratic(A^T A, A^T Y, ||Y||^2), penalty)`` of the program."""
        raise NotImplementedError

    def _store_firstorder(self, W: np.ndarray) -> None:
        """Keep the first-order solution ``W`` where :meth:`solution` finds it."""
        self._fo_W = W

    def composite(self) -> Composite:
        r"""The program as :math:`\min_W f(W) + \beta\Omega(W)` (see
        :mod:`sdpnets.backends.firstorder`); the data statistics are computed on first use."""
        if self._fo_parts is None:
            self._fo_parts = self._composite_parts()
        datafit, penalty = self._fo_parts
        return Composite(datafit, penalty, self.beta)

    def solve_firstorder(
        self,
        *,
        tol: float,
        max_iters: int | None,
        time_limit: float | None,
        verbose: bool,
        warm_start: bool,
        **options: Any,
    ) -> SolveResult:
        unknown = sorted(set(options) - set(FIRSTORDER_OPTIONS))
        if unknown:
            raise InvalidInputError(
                f"backend='firstorder' does not know the options {unknown}; it takes "
                f"{', '.join(FIRSTORDER_OPTIONS)}."
            )
        method = options.get("method", "auto")
        if method not in METHODS:
            raise InvalidInputError(f"method must be one of {METHODS}, got {method!r}.")
        check_every = options.get("check_every", 5)
        if isinstance(check_every, bool) or not isinstance(check_every, (int, np.integer)) \
                or check_every < 1:
            raise InvalidInputError(f"check_every must be an integer >= 1, got {check_every!r}.")
        rho = options.get("rho")
        if rho is not None and not (isinstance(rho, (int, float)) and 0 < rho < np.inf):
            raise InvalidInputError(f"rho must be a finite number > 0, got {rho!r}.")
        start = time.perf_counter()
        fresh = self._fo_parts is None
        problem = self.composite()
        pass_time = time.perf_counter() - start if fresh else 0.0
        W0 = self._fo_W if warm_start else None
        if warm_start and rho is None:
            rho = self._fo_rho
        out = solve_composite(
            problem, W0, tol=tol, max_iters=max_iters,
            time_limit=None if time_limit is None else max(time_limit - pass_time, 0.0),
            method=method, rho=rho, check_every=int(check_every),
        )
        self._fo_rho = out.rho
        self._store_firstorder(out.W)
        cert = out.certificate
        message = (
            f"firstorder ({out.method}) after {out.iterations} iterations: certified bracket "
            f"[{cert.lower:.12g}, {cert.upper:.12g}], relative gap {cert.relative_gap:.2e}"
        )
        if out.stalled:
            message = ("stopped: its certified gap stopped shrinking (halved less than once "
                       "over the last half of its iterations); " + message)
        elif out.status != "optimal":
            message = f"stopped on its {out.status.replace('_', ' ')}; " + message
        return SolveResult(
            status=out.status,
            objective=cert.upper,
            backend="firstorder",
            solve_time=out.solve_time,
            compile_time=pass_time,
            iterations=out.iterations,
            message=message + ".",
            raw={
                "lower_bound": cert.lower,
                "gap": cert.gap,
                "relative_gap": cert.relative_gap,
                "method": out.method,
                "rho": out.rho,
                "history": out.history,
                "data_pass_time": pass_time,
                "stalled": out.stalled,
            },
        )

    def _network_point(self, network) -> np.ndarray:
        """The program's variable ``W`` whose objective is ``network``'s (its end-to-end
        map in the program's coordinates)."""
        raise NotImplementedError

    def _program_certificate(self) -> Certificate:
        """After a first-order solve, verify from the statistics already computed: the
        certificate of the recovered network's own point ``W`` (its end-to-end map), at
        :math:`O(p^2K)` cost and with no pass over the data; otherwise the full-data
        certificate."""
        if self._fo_parts is None:
            return self._certificate()  # type: ignore[attr-defined]
        problem = self.composite()
        with single_threaded(max(problem.datafit.shape)):  # small dense algebra only
            W = self._network_point(self.network())  # type: ignore[attr-defined]
            cert = certify_point(problem, W)
        return Certificate(cert.lower, cert.upper, cert.gap, dual_point=None)
