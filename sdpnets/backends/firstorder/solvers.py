r"""Solvers for composite least-squares programs, stopping on a certified duality gap.

The program is

.. math::

    \min_W\; P(W) = \tfrac12\|AW - Y\|_F^2 + \beta\,\Omega(W),

known through :math:`G = A^TA`, :math:`C = A^TY`, :math:`\|Y\|^2`
(:class:`~sdpnets.backends.firstorder.datafits.Quadratic`) and a norm :math:`\Omega` with a
closed-form prox (:mod:`~sdpnets.backends.firstorder.penalties`).

**Certificate.** At any ``W`` the residual :math:`R = Y - AW` scaled by the best
:math:`s \ge 0` with :math:`\Omega^*(sA^TR) \le \beta` is dual feasible, and its dual value
:math:`D(sR) = s\langle R, Y\rangle - \tfrac{s^2}2\|R\|^2` is a lower bound on the optimum.
The gap is computed without cancellation as

.. math::

    P(W) - D(sR) = \tfrac12(1-s)^2\|R\|^2 + \beta\,\Omega(W) - s\langle A^TR, W\rangle \;\ge 0,

and a solver stops only when :math:`(P - D)/P \le` ``tol`` (:func:`certify_point`).

**Algorithms** (:func:`solve_composite`):

* ``"apg"``: accelerated proximal gradient (FISTA, step :math:`1/\lambda_{\max}(G)`) with
  O'Donoghue-Candes gradient restart. Each iteration costs one product with ``G`` (that of
  the new point; the extrapolated point's follows by linearity, and the certificate reuses
  it) and one prox. Its iteration count grows like :math:`\sqrt{\kappa(G)}`. Where
  :math:`\lambda_{\max}(G)` is not known for free (a dense ``G`` not rotated to its
  eigenbasis: the circular CNN's), a power-iteration estimate replaces an eigenvalue
  computation and the step backtracks on the exact descent condition of the quadratic.
* ``"admm"``: ADMM on :math:`W = Z` with the smooth step :math:`(G + \rho I)^{-1}(C +
  \rho(Z - U))` from a cached Cholesky factor (diagonal in the eigenbasis) and residual
  balancing of :math:`\rho`. Much less sensitive to the conditioning of ``G``.
* ``"auto"`` (the default): APG, handing over to ADMM (warm-started, with the dual variable
  :math:`-\nabla f(Z)/\rho`) when APG has not certified the gap after
  :data:`AUTO_SWITCH` iterations *and* the program is diagonal in the eigenbasis of ``G``
  (nuclear norm of ``W`` itself: deep linear FC, pooled CNN), where ADMM's shifted solves
  are free. On a rank-deficient Gram kept factored (the patch CNN's,
  :class:`~sdpnets.backends.firstorder.datafits.FactoredQuadratic`, where shifted solves are
  free too) APG hands over after :data:`AUTO_SWITCH_SINGULAR` iterations to ADMM at the
  penalty's scale :math:`\rho = \beta/\Omega^*(W)` (at the optimum
  :math:`\Omega^*(\nabla f) = \beta`); residual balancing, which drives :math:`\rho` far off
  there, is the last resort. The measurements behind these rules: docs/design_notes.md.

When the penalty is invariant under left rotations (nuclear and Euclidean norms of ``W``
itself) the program is first rotated into the eigenbasis of ``G``, where each iteration
costs :math:`O(pK)` plus the prox.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .datafits import FactoredQuadratic, Quadratic
from .linalg import single_threaded
from .penalties import Penalty

__all__ = [
    "Composite",
    "GapCertificate",
    "FirstOrderResult",
    "certify_point",
    "solve_composite",
    "METHODS",
    "DEFAULT_MAX_ITERS",
]

#: The algorithms :func:`solve_composite` knows.
METHODS = ("auto", "admm", "apg")

#: ADMM's over-relaxation factor (1 is plain ADMM; 1.5-1.8 is the usual speed-up).
RELAXATION = 1.6

#: ``method="auto"``: APG iterations before handing over to ADMM.
AUTO_SWITCH = 150

#: ``method="auto"`` on a factored (rank-deficient) Gram, e.g. the patch CNN's: APG
#: iterations before handing over to ADMM with ``rho = beta / Omega^*(W)``
#: (docs/design_notes.md has the measurements behind these three numbers) ...
AUTO_SWITCH_SINGULAR = 50

#: ... then ADMM iterations at that fixed ``rho``, and at up to SINGULAR_RHO_TRIALS - 1
#: quarters of it in turn (nearly degenerate programs, where that scale can be far off),
#: before ADMM with residual balancing.
AUTO_SWITCH_SINGULAR_ADMM = 500
SINGULAR_RHO_TRIALS = 4

#: With no iteration cap given, a solve whose certified gap has not halved between
#: iteration k/2 and k (k >= STALL_AFTER) stops as stalled (status "iteration_limit").
STALL_AFTER = 2000

#: Iteration cap when the caller gives none (the solver stops on its certified gap first).
DEFAULT_MAX_ITERS = 50_000


#: Accelerated gradient with an estimated Lipschitz constant steps with ``1 / (margin L)``
#: (and backtracks where even that is too long).
LIPSCHITZ_MARGIN = 1.1

#: After ``k`` iterations the certificate is evaluated again after ``k // CHECK_SPACING``
#: more (or ``check_every``, whichever is larger): a fixed interval would spend a large
#: share of a long run certifying.
CHECK_SPACING = 10

@dataclass
class Composite:
    r""":math:`\min_W f(W) + \beta\,\Omega(W)` with a least-squares ``datafit`` ``f``."""

    datafit: Quadratic
    penalty: Penalty  # NuclearNorm | GroupL2: value, prox, dual_norm, left_invariant
    beta: float


@dataclass(frozen=True)
class GapCertificate:
    """Bounds on the optimum of a composite program from one primal point ``W``.

    ``lower <= optimum <= upper``; ``upper`` is :math:`P(W)`, ``lower`` the dual value of
    :math:`V = s(Y - AW)`; ``scale`` is ``s``.
    """

    upper: float
    lower: float
    gap: float
    scale: float

    @property
    def relative_gap(self) -> float:
        """``gap / upper`` (0 when both are 0; every objective here is >= 0)."""
        if self.upper > 0:
            return self.gap / self.upper
        return 0.0 if self.gap <= 0 else math.inf


def certify_point(problem: Composite, W: np.ndarray, GW: np.ndarray | None = None) -> GapCertificate:
    """The duality-gap certificate of ``W`` (see the module docstring)."""
    f, beta = problem.datafit, problem.beta
    GW = f.gram_apply(W) if GW is None else GW
    H = f.correlation(W, GW)  # A^T R
    rr, ry = f.residual_terms(W, GW)
    dual_norm = problem.penalty.dual_norm(H)
    s = max(ry / rr, 0.0) if rr > 0 else 1.0
    if dual_norm > 0:
        s = min(s, beta / dual_norm)
    omega = problem.penalty.value(W)
    upper = 0.5 * rr + beta * omega
    gap = 0.5 * (1.0 - s) ** 2 * rr + beta * omega - s * float(np.sum(H * W))
    gap = max(gap, 0.0)
    return GapCertificate(upper=upper, lower=upper - gap, gap=gap, scale=s)


@dataclass
class FirstOrderResult:
    """What :func:`solve_composite` returns.

    ``status`` is ``"optimal"`` (certified relative gap <= tol), ``"iteration_limit"`` or
    ``"time_limit"``; ``certificate`` is that of ``W``; ``history`` holds
    ``(iteration, seconds, relative gap)`` at every check (a convergence curve).
    """

    W: np.ndarray
    status: str
    iterations: int
    certificate: GapCertificate
    solve_time: float
    method: str
    rho: float | None = None
    history: list[tuple[int, float, float]] = field(default_factory=list)
    stalled: bool = False


class _Stopper:
    """Certified stopping, shared by the algorithms: checks the gap, the limits and keeps
    the history."""

    def __init__(self, problem, tol, max_iters, time_limit, check_every):
        self.problem, self.tol = problem, tol
        self.max_iters = DEFAULT_MAX_ITERS if max_iters is None else int(max_iters)
        self.detect_stall = max_iters is None
        self.stall = False
        self.phase_start = 0
        self.time_limit = time_limit
        self.check_every = check_every
        self.next_check = check_every
        self.start = time.perf_counter()
        self.history: list[tuple[int, float, float]] = []
        self.best: tuple[GapCertificate, np.ndarray] | None = None
        self.lower = -math.inf  # the best lower bound seen: every one is valid

    def stalled(self, k: int) -> bool:
        """Stall detection is on (no cap given, or an algorithm to hand over to), and the
        certified gap has not halved over the last half of the current phase's iterations
        (at least :data:`STALL_AFTER`): more of the same will not certify it."""
        if not self.detect_stall or k - self.phase_start < STALL_AFTER:
            return False
        middle = (self.phase_start + k) // 2
        half = [g for (i, _, g) in self.history if self.phase_start <= i <= middle]
        return bool(half) and self.history[-1][2] > 0.5 * min(half)

    def new_phase(self, k: int) -> None:
        """Another algorithm takes over at iteration ``k``."""
        self.phase_start, self.stall = k, False

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def check(self, k: int, W: np.ndarray, GW: np.ndarray | None = None,
              force: bool = False) -> str | None:
        """``None`` to go on, else the final status."""
        limit = None
        if k >= self.max_iters:
            limit = "iteration_limit"
        elif self.time_limit is not None and self.elapsed() >= self.time_limit:
            limit = "time_limit"
        if not (force or limit or k >= self.next_check):
            return None
        # a certificate costs a few iterations' work: every check_every iterations at
        # first, then every tenth of the iterations so far (at most 10% overshoot)
        self.next_check = k + max(self.check_every, k // CHECK_SPACING)
        cert = certify_point(self.problem, W, GW)
        self.lower = max(self.lower, cert.lower)
        if self.lower > cert.lower:  # an earlier dual point was better: keep its bound
            gap = max(cert.upper - self.lower, 0.0)
            cert = GapCertificate(cert.upper, cert.upper - gap, gap, cert.scale)
        self.history.append((k, self.elapsed(), cert.relative_gap))
        if self.best is None or cert.upper <= self.best[0].upper:
            self.best = (cert, W.copy())
        if cert.relative_gap <= self.tol:
            self.best = (cert, W.copy())
            return "optimal"
        if limit is None and self.stalled(k):
            limit = "iteration_limit"
            self.stall = True
        if limit is not None and self.best[0] is not cert:  # refresh its gap with the best bound
            up = self.best[0].upper
            gap = max(up - self.lower, 0.0)
            self.best = (GapCertificate(up, up - gap, gap, self.best[0].scale), self.best[1])
        return limit


def _dot(A: np.ndarray, B: np.ndarray) -> float:
    r""":math:`\langle A, B\rangle` by a BLAS dot (``np.sum(A * B)`` allocates and costs
    several times more on the small arrays of the iterations)."""
    return float(A.reshape(-1) @ B.reshape(-1))


def _apg(problem: Composite, W: np.ndarray, stop: _Stopper) -> tuple[str, int, float | None]:
    r"""Accelerated proximal gradient with gradient restart. One product with ``G`` per
    iteration, that of the new point: the extrapolated point's product follows by linearity
    and the certificate reuses it. With an estimated Lipschitz constant (no eigenvalue
    computation) the step backtracks on the quadratic's exact descent condition
    :math:`\langle D, GD\rangle \le L\|D\|^2` (Beck and Teboulle's), checked from the
    products already at hand."""
    f, pen, beta = problem.datafit, problem.penalty, problem.beta
    L, exact = f.lipschitz_estimate()
    if not exact:
        L *= LIPSCHITZ_MARGIN
    L = max(L, 1e-300)
    GW = f.gram_apply(W)
    Yk, GY, t, k = W, GW, 1.0, 0
    status = stop.check(0, W, GW, force=True)
    while status is None:
        k += 1
        while True:
            step = 1.0 / L
            W_new = pen.prox(Yk - step * (GY - f.corr), beta * step)
            GW_new = f.gram_apply(W_new)
            if exact:
                break
            D = (W_new - Yk).reshape(-1)
            dd = float(D @ D)
            if not dd > 0 or float(D @ (GW_new - GY).reshape(-1)) <= L * dd:
                break
            # apparently too long a step: the exact Rayleigh quotient of D decides (the
            # difference of products above carries round-off when D is tiny)
            rq = float(D @ f.gram_apply(D.reshape(W_new.shape)).reshape(-1)) / dd
            if rq <= L:
                break
            L = LIPSCHITZ_MARGIN * rq
        if _dot(Yk - W_new, W_new - W) > 0:  # momentum points uphill: restart
            t = 1.0
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        m = (t - 1.0) / t_new
        Yk = W_new + m * (W_new - W)
        GY = GW_new + m * (GW_new - GW)
        W, GW, t = W_new, GW_new, t_new
        status = stop.check(k, W, GW)
    return status, k, None


def _initial_rho(f: Quadratic) -> float:
    if f.diagonal:
        lam = f.gram
    elif f.gram.ndim == 2:
        lam = np.diag(f.gram)  # a cheap proxy for the spectrum's scale
    else:  # factored: the non-zero spectrum
        assert isinstance(f, FactoredQuadratic)
        lam = f.spectrum()
    top = float(lam.max(initial=0.0))
    if top <= 0:
        return 1.0
    positive = lam[lam > 1e-12 * top]
    return math.sqrt(top * float(np.exp(np.mean(np.log(positive)))))


def _admm(problem: Composite, Z: np.ndarray, stop: _Stopper, rho: float | None, first: int = 0,
          balance: bool = True) -> tuple[str, int, float | None]:
    """ADMM from ``Z``; ``balance``: residual balancing of ``rho`` (else ``rho`` stays)."""
    f, pen, beta = problem.datafit, problem.penalty, problem.beta
    rho = _initial_rho(f) if rho is None else float(rho)
    # the scaled dual variable at the optimum is -grad f(Z*) / rho: start from Z's
    U = f.correlation(Z) / rho
    # a diagonal G makes a new rho free; a dense one costs a Cholesky factorization
    adapt_every = 25 if f.gram.ndim == 2 else 5
    k = first
    status = stop.check(k, Z, force=True)
    while status is None:
        k += 1
        W = f.shifted_solve(f.corr + rho * (Z - U), rho)
        W = RELAXATION * W + (1.0 - RELAXATION) * Z  # over-relaxation
        Z_old = Z
        Z = pen.prox(W + U, beta / rho)
        U += W - Z
        if balance and k % adapt_every == 0:
            r = float(np.linalg.norm(W - Z))
            s = rho * float(np.linalg.norm(Z - Z_old))
            if r > 10.0 * s:
                rho *= 4.0
                U /= 4.0
            elif s > 10.0 * r:
                rho /= 4.0
                U *= 4.0
        status = stop.check(k, Z)
    return status, k, rho


def solve_composite(
    problem: Composite,
    W0: np.ndarray | None = None,
    *,
    tol: float = 1e-8,
    max_iters: int | None = None,
    time_limit: float | None = None,
    method: str = "auto",
    rho: float | None = None,
    check_every: int = 5,
    rotate: bool | None = None,
) -> FirstOrderResult:
    r"""Minimize :math:`f(W) + \beta\Omega(W)` until the certified relative gap is <= ``tol``.

    Parameters
    ----------
    problem : Composite
    W0 : ndarray, optional
        Starting point (a warm start), shape ``problem.datafit.shape``; zero by default.
    tol : float
        Relative duality gap to certify, ``(upper - lower) / upper``.
    max_iters, time_limit : optional
        Limits; reaching one gives status ``"iteration_limit"`` / ``"time_limit"`` with the
        best point found and its (valid) certificate.
    method : {"auto", "admm", "apg"}
    rho : float, optional
        ADMM's initial penalty parameter (e.g. the last one of a previous solve).
    check_every : int
        Iterations between certificate evaluations at first; after
        ``CHECK_SPACING * check_every`` iterations, a tenth of the iterations so far.
    rotate : bool, optional
        Work in the eigenbasis of ``G`` (default: when the penalty allows it).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    start = time.perf_counter()
    with single_threaded(max(problem.datafit.shape)):  # small dense algebra only (.linalg)
        return _solve(problem, W0, start, tol, max_iters, time_limit, method, rho,
                      check_every, rotate)


def _solve(problem, W0, start, tol, max_iters, time_limit, method, rho, check_every,
           rotate) -> FirstOrderResult:
    f0 = problem.datafit
    W = np.zeros(f0.shape) if W0 is None else np.array(W0, dtype=float).reshape(f0.shape)
    if rotate is None:
        rotate = bool(getattr(problem.penalty, "left_invariant", False)) and not f0.diagonal
    V = None
    work = problem
    if rotate:
        f_rot, V = f0.diagonalized()
        work = Composite(f_rot, problem.penalty, problem.beta)
        if V is not None:
            W = V.T @ W
    stop = _Stopper(work, tol, max_iters, time_limit, max(int(check_every), 1))
    name = method
    if method == "auto":
        # accelerated gradient first (fastest on well-conditioned data). Where the program is
        # diagonal in G's eigenbasis, ADMM's shifted solves are free: hand over to it when
        # APG has not certified the gap after AUTO_SWITCH iterations (ill-conditioned data).
        # Elsewhere hand over only when APG stalls. ADMM starts from APG's best point.
        cap, stall_on = stop.max_iters, stop.detect_stall
        singular = isinstance(work.datafit, FactoredQuadratic)
        if work.datafit.diagonal:
            stop.max_iters = min(cap, AUTO_SWITCH)
        elif singular:
            stop.max_iters = min(cap, AUTO_SWITCH_SINGULAR)
        stop.detect_stall = True
        status, k, rho_out = _apg(work, W, stop)
        name = "apg"
        if status == "iteration_limit" and k < cap:
            assert stop.best is not None
            stop.max_iters, stop.detect_stall = cap, stall_on
            stop.new_phase(k)
            Z0 = stop.best[1]
            scale = problem.penalty.dual_norm(Z0) if singular and rho is None else 0.0
            if scale > 0:
                # G has a null space (the patch map's): ADMM at the penalty's scale,
                # beta / Omega^*(Z) (Omega^*(grad f(Z*)) = beta), held fixed; where that
                # has not certified within AUTO_SWITCH_SINGULAR_ADMM iterations (nearly
                # degenerate programs), ADMM with residual balancing from its best point
                trial = problem.beta / scale
                for _ in range(SINGULAR_RHO_TRIALS):
                    stop.max_iters = min(cap, k + AUTO_SWITCH_SINGULAR_ADMM)
                    status, k, rho_out = _admm(work, stop.best[1], stop, trial, first=k,
                                               balance=False)
                    if status != "iteration_limit" or k >= cap:
                        break
                    stop.new_phase(k)
                    trial /= 4.0
                if status == "iteration_limit" and k < cap:
                    stop.max_iters = cap
                    stop.new_phase(k)
                    status, k, rho_out = _admm(work, stop.best[1], stop, None, first=k)
            else:
                status, k, rho_out = _admm(work, Z0, stop, rho, first=k)
            name = "apg+admm"
    elif method == "apg":
        status, k, rho_out = _apg(work, W, stop)
    else:
        status, k, rho_out = _admm(work, W, stop, rho)
    assert stop.best is not None
    cert, W = stop.best
    if V is not None:
        W = V @ W
    return FirstOrderResult(
        W=W, status=status, iterations=k, certificate=cert,
        solve_time=time.perf_counter() - start, method=name, rho=rho_out,
        history=stop.history, stalled=stop.stall,
    )

