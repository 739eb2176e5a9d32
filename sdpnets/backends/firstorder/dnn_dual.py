r"""The dual of the doubly non-negative (DNN) relaxation of a vector-output two-layer ReLU
network with standard weight decay (docs/relu_vector_output.md section 5c), as arrays: its
Lagrangian matrix, its constraint maps, the certified bound of any multipliers, and a
first-order method whose every iterate is such a bound.

The relaxation lifts ``z = (u, alpha, h)`` with ``h = (Xu)_+`` (``h >= 0``,
``s = h - Xu >= 0``, ``h o s = 0``) to a PSD matrix ``M`` of side ``N = d + K + n``:

.. math::

    \min_M \tfrac12\|M_{h\alpha} - Y\|^2 + \tfrac\beta2(\operatorname{tr}M_{uu}
      + \operatorname{tr}M_{\alpha\alpha})
    \ \text{s.t.}\ M \succeq 0,\ M_{hh} \ge 0,\ E[hs^T] \ge 0,\ E[ss^T] \ge 0,\
      \operatorname{diag}E[hs^T] = 0,

with :math:`E[hs^T] = M_{hh} - M_{hu}X^T` and
:math:`E[ss^T] = E[hs^T] - XM_{uh} + XM_{uu}X^T`. For multipliers
``x = (V, L_hh, L_hs, L_ss, mu)`` (``L >= 0``) and ``Q(x)`` the gradient in ``M`` of the
Lagrangian's linear part, every feasible ``M`` satisfies
:math:`\mathrm{obj}(M) \ge D(V) + \langle Q, M\rangle \ge D(V) + \min(0, \lambda_{\min}(Q))
\operatorname{tr}M`, with :math:`D(V) = \tfrac12\|Y\|^2 - \tfrac12\|Y - V\|^2`; over ``M``
whose objective is at most ``upper`` (any network's), :math:`\operatorname{tr}M \le T =
(2\,\mathrm{upper}/\beta)(1 + \|X\|_2^2)`. So :func:`certified_bound` is a lower bound on
the network optimum for *any* multipliers, whatever the accuracy of the solver that found
them.

Any other convex loss :math:`L` of the prediction carries over: the relaxation's objective
is then :math:`L(M_{h\alpha})` plus the same penalty, and :math:`D(V)` becomes
:math:`-L^*(-V)` (``certified_bound(..., loss=)``); ``T`` stays valid for a non-negative
loss (softmax cross-entropy with targets in the simplex is).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import minimize

if TYPE_CHECKING:
    from ...losses import Loss

__all__ = ["DNNMultipliers", "lagrangian_matrix", "constraint_maps", "trace_bound", "h_scale",
           "certified_bound", "DNNDualResult", "solve_dnn_dual"]


@dataclass
class DNNMultipliers:
    """Multipliers of the DNN relaxation: ``V`` (n, K) of the prediction, ``L_hh``,
    ``L_hs``, ``L_ss`` (n, n, non-negative) of the elementwise constraints, ``mu`` (n,) of
    the complementarity ``diag E[hs^T] = 0``."""

    V: np.ndarray
    L_hh: np.ndarray
    L_hs: np.ndarray
    L_ss: np.ndarray
    mu: np.ndarray

    def clipped(self) -> DNNMultipliers:
        """The inequality multipliers clipped to ``>= 0`` (a solver's may leave by round-off)."""
        return DNNMultipliers(self.V, np.maximum(self.L_hh, 0.0), np.maximum(self.L_hs, 0.0),
                              np.maximum(self.L_ss, 0.0), self.mu)

    def vector(self) -> np.ndarray:
        return np.concatenate([self.V.ravel(), self.L_hh.ravel(), self.L_hs.ravel(),
                               self.L_ss.ravel(), self.mu])

    @classmethod
    def from_vector(cls, x: np.ndarray, n: int, K: int) -> DNNMultipliers:
        o = np.cumsum([0, n * K, n * n, n * n, n * n, n])
        return cls(x[o[0]:o[1]].reshape(n, K), x[o[1]:o[2]].reshape(n, n),
                   x[o[2]:o[3]].reshape(n, n), x[o[3]:o[4]].reshape(n, n), x[o[4]:o[5]].copy())


def lagrangian_matrix(X: np.ndarray, beta: float, m: DNNMultipliers) -> np.ndarray:
    r"""``Q`` with :math:`\langle Q, M\rangle = \tfrac\beta2(\operatorname{tr}M_{uu} +
    \operatorname{tr}M_{\alpha\alpha}) - \langle V, M_{h\alpha}\rangle - \langle L_{hh},
    M_{hh}\rangle - \langle L_{hs}, E[hs^T]\rangle - \langle L_{ss}, E[ss^T]\rangle -
    \langle \mu, \operatorname{diag}E[hs^T]\rangle` for every symmetric ``M``."""
    n, d = X.shape
    K = m.V.shape[1]
    N = d + K + n
    iu, ia, ih = slice(0, d), slice(d, d + K), slice(d + K, N)
    Q = np.zeros((N, N))
    Lhs = m.L_hs + np.diag(m.mu)
    A = m.L_hh + Lhs + m.L_ss
    Q[ih, ih] = -0.5 * (A + A.T)
    G = 0.5 * (Lhs @ X + (m.L_ss + m.L_ss.T) @ X)
    Q[ih, iu] = G
    Q[iu, ih] = G.T
    B = X.T @ m.L_ss @ X
    Q[iu, iu] = 0.5 * beta * np.eye(d) - 0.5 * (B + B.T)
    Q[ia, ia] = 0.5 * beta * np.eye(K)
    Q[ih, ia] = -0.5 * m.V
    Q[ia, ih] = -0.5 * m.V.T
    return Q


def constraint_maps(X: np.ndarray, W: np.ndarray, K: int):
    """The relaxation's linear maps at a symmetric ``W``: ``(W_ha, W_hh, E[hs^T], E[ss^T],
    diag E[hs^T])`` (also the adjoint of :func:`lagrangian_matrix` in each multiplier)."""
    n, d = X.shape
    iu, ia, ih = slice(0, d), slice(d, d + K), slice(d + K, d + K + n)
    Whh, Whu, Wuu = W[ih, ih], W[ih, iu], W[iu, iu]
    HS = Whh - Whu @ X.T
    SS = HS - X @ Whu.T + X @ Wuu @ X.T
    return W[ih, ia], Whh, HS, SS, np.diag(HS).copy()


def trace_bound(X: np.ndarray, beta: float, upper: float, c: float = 1.0, *,
                x2: float | None = None) -> float:
    r""":math:`T_c = (2\,\mathrm{upper}/\beta)(1 + \|X\|_2^2/c^2) \ge
    \operatorname{tr}(S_c^{-1}MS_c^{-1})` over every feasible ``M`` of objective at most
    ``upper``, ``S_c`` scaling the ``h``-block by ``c`` (:func:`h_scale`; ``c = 1``: the
    trace of ``M``): the penalty bounds :math:`\operatorname{tr}M_{uu} +
    \operatorname{tr}M_{\alpha\alpha}`, and complementarity with PSD gives
    :math:`(M_{hh})_{ii} \le x_i^TM_{uu}x_i`. ``x2``: :math:`\|X\|_2^2` when known."""
    x2 = float(np.linalg.norm(X, 2)) ** 2 if x2 is None else x2
    return 2.0 * max(upper, 0.0) / beta * (1.0 + x2 / c**2)


def h_scale(N: int, n: int, c: float) -> np.ndarray:
    """The diagonal of ``S_c`` (side ``N``): 1, and ``c`` on the last ``n`` (``h``) rows."""
    scale = np.ones(N)
    scale[N - n:] = c
    return scale


def dual_value(V: np.ndarray, Y: np.ndarray) -> float:
    r""":math:`D(V) = \tfrac12\|Y\|^2 - \tfrac12\|Y - V\|^2`."""
    return 0.5 * float(np.sum(Y * Y)) - 0.5 * float(np.sum((Y - V) ** 2))


def certified_bound(X: np.ndarray, Y: np.ndarray, beta: float, m: DNNMultipliers,
                    upper: float, loss: Loss | None = None) -> tuple[float, float]:
    """``(bound, lambda_min(Q))``: :math:`D(V) + T\\min(0, \\lambda_{\\min}(Q))` for the
    clipped multipliers (with the best scaling of the ``h``-block, and never below 0, the
    value of ``V = 0``), a lower bound on the network optimum (module docstring). With a
    non-negative ``loss`` (``None``: the squared loss), :math:`D(V) = -L^*(-V)`; ``V`` must
    then lie in its domain (:meth:`~sdpnets.losses.Loss.into_domain`)."""
    m = m.clipped()
    Q = lagrangian_matrix(X, beta, m)
    lam = float(np.linalg.eigvalsh(Q)[0])
    base = dual_value(m.V, Y) if loss is None else loss.dual_value(m.V, Y)
    if lam >= 0.0:
        return base, lam
    x2 = float(np.linalg.norm(X, 2)) ** 2
    best = max(0.0, base + trace_bound(X, beta, upper, x2=x2) * lam)  # p* >= 0 (V = 0)
    # Scaling the h-block by c: <Q, M> = <SQS, S^-1 M S^-1> >= lambda_min(SQS) tr(S^-1 M S^-1),
    # and tr(S^-1 M S^-1) <= (2 upper / beta)(1 + ||X||_2^2 / c^2); the best c of a grid.
    n = X.shape[0]
    N = Q.shape[0]
    for c in np.sqrt(x2) * np.geomspace(1e-2, 1e2, 9):
        scale = h_scale(N, n, c)
        lam_c = float(np.linalg.eigvalsh(Q * np.outer(scale, scale))[0])
        best = max(best, base + trace_bound(X, beta, upper, c, x2=x2) * min(0.0, lam_c))
    return best, lam


@dataclass
class DNNDualResult:
    """Outcome of :func:`solve_dnn_dual`: the best certified ``bound``, its multipliers, the
    smoothed primal estimate ``W`` (a PSD matrix of the relaxation's side, for rounding),
    ``iterations``, ``status`` ("optimal" when ``target`` was reached within ``tol``,
    "time_limit" or "iteration_limit") and the bound after each round in ``history``."""

    bound: float
    multipliers: DNNMultipliers
    W: np.ndarray
    iterations: int
    status: str
    history: list[float] = field(default_factory=list)


#: Iteration budget of :func:`solve_dnn_dual` when it has neither ``max_iters`` nor
#: ``time_limit`` (it would otherwise run until ``target``, which a relaxation gap can keep
#: out of reach).
DEFAULT_MAX_ITERS = 4000


def solve_dnn_dual(X: np.ndarray, Y: np.ndarray, beta: float, upper: float, *,
                   start: DNNMultipliers | None = None, target: float | None = None,
                   tol: float = 1e-6, max_iters: int | None = None, chunk: int = 200,
                   time_limit: float | None = None) -> DNNDualResult:
    r"""Maximize :math:`g(x) = D(V) + T_c\min(0, \lambda_{\min}(S_cQ(x)S_c))` over the
    multipliers.

    ``S_c`` scales the ``h``-block by :math:`c = \|X\|_2` and
    :math:`T_c = (2\,\mathrm{upper}/\beta)(1 + \|X\|_2^2/c^2)` bounds the trace of
    :math:`S_c^{-1}MS_c^{-1}` (:func:`certified_bound`): the lifted ``h = (Xu)_+`` is about
    :math:`\|X\|_2` times larger than ``u``, and without the scaling the trace bound carries
    the factor :math:`1 + \|X\|_2^2` (hundreds on a few hundred samples), which makes the
    smoothed function so ill-conditioned across the multiplier blocks that L-BFGS's line
    search fails from the first step. ``g`` is concave and every value is a certified lower
    bound (each round's is recomputed by :func:`certified_bound`).

    L-BFGS-B maximizes the smoothed :math:`D(V) + T_c\,\mathrm{softmin}_s(0, \lambda_1,
    \dots, \lambda_N)` (below ``g`` by at most :math:`T_c s\log(N + 1)`; gradient from the
    eigenvectors through :func:`constraint_maps`) in rounds of ``chunk`` iterations, with
    ``s`` set each round so that this smoothing error is a fraction ``theta`` of the current
    gap ``upper - bound``; ``theta`` starts at 1 and, when a round closes less than 5% of
    the gap, halves if the smoothed maximum has caught up with the bound (the smoothing error
    is then the limit) and doubles, up to 1, if the round's line search failed. Stops when
    the certified bound reaches ``target`` (e.g. a network's objective) within relative
    ``tol``, at ``time_limit`` seconds, or after ``max_iters``
    iterations if given (:data:`DEFAULT_MAX_ITERS` when neither ``max_iters`` nor
    ``time_limit`` is); never on a step size or a failed line search.

    Parameters
    ----------
    X, Y : ndarray
        Data (n, d) and targets (n, K).
    beta : float
        Weight decay.
    upper : float
        The objective of a network (bounds the trace of the relevant ``M``).
    start : DNNMultipliers, optional
        Starting multipliers (default zero).
    target : float, optional
        Stop once the certified bound is within ``tol`` of it.
    tol : float
        Relative tolerance on ``target``.
    max_iters : int, optional
        Iteration budget (L-BFGS iterations in all).
    chunk : int
        L-BFGS iterations per round (between smoothing updates).
    time_limit : float, optional
        Seconds.

    Returns
    -------
    DNNDualResult
    """
    n, d = X.shape
    K = Y.shape[1]
    N = d + K + n
    x2 = float(np.linalg.norm(X, 2)) ** 2
    c = max(np.sqrt(x2), 1e-12)
    T = trace_bound(X, beta, upper, c, x2=x2)
    scale = h_scale(N, n, c)
    SS = np.outer(scale, scale)
    if start is None:
        start = DNNMultipliers(np.zeros((n, K)), np.zeros((n, n)), np.zeros((n, n)),
                               np.zeros((n, n)), np.zeros(n))
    x = start.clipped().vector()
    bounds = [(None, None)] * (n * K) + [(0.0, None)] * (3 * n * n) + [(None, None)] * n

    last = {"W": np.zeros((N, N))}

    def smoothed(x, s):
        m = DNNMultipliers.from_vector(x, n, K)
        lam, vecs = np.linalg.eigh(lagrangian_matrix(X, beta, m) * SS)
        z = np.concatenate([[0.0], -lam / s])
        top = z.max()
        w = np.exp(z - top)
        total = w.sum()
        smin = -s * (top + np.log(total))
        W = ((vecs * (w[1:] / total)) @ vecs.T) * SS  # d softmin / dQ = S P S
        Wha, Whh, HS, SS_, dHS = constraint_maps(X, W, K)
        f = dual_value(m.V, Y) + T * smin
        grad = np.concatenate([((Y - m.V) - T * Wha).ravel(), (-T * Whh).ravel(),
                               (-T * HS).ravel(), (-T * SS_).ravel(), -T * dHS])
        last["W"] = W
        return -f, -grad

    best, best_x = certified_bound(X, Y, beta, start, upper)[0], x
    best_W = last["W"]
    scale_s = 1.0 / (max(T, 1e-300) * np.log(N + 1.0))
    # the start's multipliers scaled by the factor of best smoothed value: far from PSD, a
    # start (e.g. a network's residual with no elementwise multipliers) costs hundreds of
    # iterations before its bound leaves 0, while the right direction with a smaller size
    # does not
    s0 = max(upper - best, 1e-12 * max(abs(upper), 1e-300)) * scale_s
    x = min((t * x for t in [0.0, *np.geomspace(2.0**-12, 1.0, 13)]),
            key=lambda y: smoothed(y, s0)[0])
    budget = max_iters if max_iters is not None else (
        DEFAULT_MAX_ITERS if time_limit is None else None)
    t0 = time.perf_counter()
    used, history, theta = 0, [], 1.0
    while True:
        if target is not None and target - best <= tol * abs(target):
            status = "optimal"
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            status = "time_limit"
            break
        if budget is not None and used >= budget:
            status = "iteration_limit"
            break
        gap = max(upper - best, 1e-12 * max(abs(upper), 1e-300))
        s = theta * gap * scale_s
        iters = chunk if budget is None else max(1, min(chunk, budget - used))
        res = minimize(smoothed, x, args=(s,), jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": iters, "maxcor": 20, "ftol": 0.0, "gtol": 0.0})
        x = res.x
        used += max(int(res.nit), 1)  # a failed first line search still spends the round
        value = certified_bound(X, Y, beta, DNNMultipliers.from_vector(x, n, K), upper)[0]
        history.append(value)
        if value - best < 0.05 * gap:
            if -float(res.fun) >= best - theta * gap:  # the smoothed maximum caught up with
                theta = max(0.5 * theta, 1e-2)  # the bound: its smoothing error is the limit
            elif res.status == 2:  # a failed line search: the function is too sharp
                theta = min(1.0, 2.0 * theta)
        if value > best:
            best, best_x, best_W = value, x, last["W"]
    return DNNDualResult(best, DNNMultipliers.from_vector(best_x, n, K).clipped(), best_W,
                         used, status, history)
