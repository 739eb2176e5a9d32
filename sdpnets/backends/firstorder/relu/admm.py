r"""ADMM for two-layer ReLU programs (cone-constrained or gated group lassos over
activation patterns), stopping on a certified duality gap.

The program, one output at a time (see :mod:`.relu_ops` for ``F``, ``G``):

.. math::

    \min_z\; L(Fz, y) + \beta\sum_j \|z_j\|_2
    \quad\text{s.t.}\quad G_j z_j \ge 0 \ \text{(cone-constrained program only)}.

**Splitting.** With :math:`p = Fz`, :math:`q = z`, :math:`s = Gz \ge 0`, ADMM alternates
one linear solve for ``z`` (the matrix :math:`I + G^TG + F^TF` does not depend on the
penalty parameter :math:`\rho`, so its factor is computed once) with closed-form updates:
:math:`p` by the prox of the loss (squared and hinge in closed form, logistic by a
safeguarded Newton iteration), :math:`q` by group soft-thresholding at
:math:`\beta/\rho`, :math:`s` by clipping at zero. Over-relaxation 1.6; :math:`\rho`
follows the residuals. Each iteration costs two products with ``A`` / ``A^T`` over the
blocks plus the linear solve.

**Certificate.** For any ``v`` (a dual point of the prediction) and multipliers
:math:`\mu_j \ge 0` of the cone constraints, weak duality gives

.. math::

    \text{optimum} \ge -L^*(-s v) \quad\text{whenever}\quad
    s\,\big\|\sigma_j F_j^T v + G_j^T\mu_j\big\|_2 \le \beta\ \ \forall j,

(for the gated program without :math:`\mu`). ADMM supplies :math:`v = -\rho\lambda_p`
and :math:`\mu = -\rho\lambda_s`; ``v = -\nabla L(Fq)`` is tried too, and the best scale
``s`` is taken. The upper value of an iterate ``q`` is the larger of the program objective
and the objective of the network read off ``q`` (neuron :math:`(A q_j)_+` per block), so
the network returned is never above it. The solver stops when the upper value minus the
best lower bound seen is at most ``tol`` relative *and* the cone violation of ``q`` is at
most ``tol`` relative to its predictions (an infeasible ``q`` can sit below the program's
optimum). The last iterate is returned, or the start point when it was better (a trained
network's blocks are feasible, so the result is never worse than the network).

**Measured** (``benchmarks/relu_firstorder.py``, 2 shared cores): the gated program
converges in about a hundred iterations; the cone-constrained one needs thousands (the
slack ``s`` of the ``N x 2P`` cone rows converges slowly), so at (1000, 20, 100) it does
not reach ``1e-6`` within minutes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from ....losses import Loss
from ....results import relative_gap
from .program import PatternOperators

__all__ = ["ReLUADMMResult", "solve_relu_admm", "DEFAULT_MAX_ITERS"]

#: Iteration cap when the caller gives none (the certified gap stops the solver first).
DEFAULT_MAX_ITERS = 20_000

RELAXATION = 1.6

#: Initial penalty parameter (A is scaled to unit norm). Measured: on small instances of
#: every loss 0.03-0.1 converge in 1000-2000 iterations where 1 or frequent adaptation
#: needs over 10,000; the cone-constrained program with N rows does best near
#: 0.1 N / 30 (N = 300: about 1; N = 1000: 3-30), which is the default there.
DEFAULT_RHO = 0.1

#: Iterations between updates of the penalty parameter (each one perturbs the iterates).
ADAPT_EVERY = 200


@dataclass
class ReLUADMMResult:
    r"""Outcome of :func:`solve_relu_admm`.

    ``blocks`` ``(h, nb)`` are the last iterate (or the start, when better); ``objective`` is the
    objective of the network read off them, ``program_objective`` the program's own value
    there, ``lower_bound`` the best certified lower bound on the program's optimum,
    ``cone_violation`` :math:`\max_j \max((-(2D_j - I)Az_j)_+)` of ``blocks``,
    ``dual_point`` the (feasible, scaled) dual point of the lower bound.
    """

    blocks: np.ndarray
    status: str
    iterations: int
    objective: float
    program_objective: float
    lower_bound: float
    cone_violation: float
    dual_point: np.ndarray
    solve_time: float
    rho: float
    linear_solver: str
    cg_iterations: int = 0
    history: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def gap(self) -> float:
        return max(self.objective, self.program_objective) - self.lower_bound

    @property
    def relative_gap(self) -> float:
        return relative_gap(self.lower_bound, max(self.objective, self.program_objective))


# --- the loss's prox and dual ---------------------------------------------------------------


def loss_prox(loss: Loss, c: np.ndarray, y: np.ndarray, rho: float,
              guess: np.ndarray | None = None) -> np.ndarray:
    r""":math:`\arg\min_p L(p, y) + \tfrac\rho2\|p - c\|^2`, elementwise (``guess``: a
    starting point for the logistic loss's Newton iteration, e.g. the previous prox)."""
    if loss.name == "squared":
        return (y + rho * c) / (1.0 + rho)
    if loss.name == "hinge":
        m = y * c
        return np.where(m >= 1.0, c, np.where(m <= 1.0 - 1.0 / rho, c + y / rho, y))
    if loss.name == "logistic":
        # p = c + y t, t the root of g(t) = rho t - sigmoid(-(y c + t)), increasing, in
        # [0, 1/rho]: Newton steps kept inside a shrinking bracket (bisection otherwise)
        lo, hi = np.zeros_like(c), np.full_like(c, 1.0 / rho)
        t = np.zeros_like(c) if guess is None else np.clip(y * (guess - c), 0.0, 1.0 / rho)
        m = y * c
        for _ in range(100):
            e = 1.0 / (1.0 + np.exp(np.clip(m + t, -700, 700)))
            g = rho * t - e
            lo = np.where(g < 0, t, lo)
            hi = np.where(g > 0, t, hi)
            t_new = t - g / (rho + e * (1.0 - e))
            bad = (t_new <= lo) | (t_new >= hi)
            t_new = np.where(bad, 0.5 * (lo + hi), t_new)
            if np.max(np.abs(t_new - t)) <= 1e-14 * (1.0 + 1.0 / rho):
                t = t_new
                break
            t = t_new
        return c + y * t
    raise ValueError(f"no prox for loss {loss!r}")


def loss_gradient_point(loss: Loss, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``-grad L(yhat)`` (a subgradient for hinge)."""
    if loss.name == "squared":
        return y - yhat
    if loss.name == "logistic":
        return y / (1.0 + np.exp(np.clip(y * yhat, -700, 700)))
    margin = y * yhat
    return y * np.where(margin < 1.0, 1.0, np.where(margin > 1.0, 0.0, 0.5))


def unscaled_result(blocks: np.ndarray, values, lower: float, dual_point: np.ndarray,
                    scale: float, ys: float, t0: float, **fields) -> ReLUADMMResult:
    """The result in the caller's units of a solve on ``A / scale`` and ``y / ys`` (``beta``
    divided by ``scale ys``): ``values`` are the program objective, the network objective
    and the cone violation at ``blocks``; ``fields`` are the solver's own
    (``status``, ``iterations``, ``linear_solver``, ...)."""
    f = ys * ys
    return ReLUADMMResult(
        blocks=blocks * (ys / scale), objective=values[1] * f,
        program_objective=values[0] * f, lower_bound=lower * f,
        cone_violation=values[2] * ys, dual_point=dual_point * ys,
        solve_time=time.perf_counter() - t0, **{"rho": 0.0, **fields})


def best_scaled_value(loss: Loss, v: np.ndarray, y: np.ndarray, norm: float, beta: float
                      ) -> tuple[float, float]:
    r"""The best :math:`-L^*(-sv)` over scales with :math:`s\cdot\text{norm} \le \beta`
    (and ``s <= 1`` for the classification losses, whose dual domain is bounded).
    Returns ``(value, s)``."""
    if loss.name == "hinge":  # -L*(-sv) = s <v, y> is linear in s: the largest feasible s
        s = 1.0 if norm <= beta else beta / norm
        return loss.dual_value(s * v, y), s
    if loss.name == "squared":
        vv = float(v @ v)
        s = 0.0 if vv == 0.0 else max(float(v @ y) / vv, 0.0)
        if norm > 0:
            s = min(s, beta / norm)
        return loss.dual_value(s * v, y), s
    top = 1.0 if norm <= beta else beta / norm
    res = minimize_scalar(lambda s: -loss.dual_value(s * v, y), bounds=(0.0, top),
                          method="bounded", options={"xatol": 1e-12})
    s = max((float(res.x), top, 0.0), key=lambda t: loss.dual_value(t * v, y))
    return loss.dual_value(s * v, y), s


# --- the solver -------------------------------------------------------------------------------


class _ReLUADMM:
    def __init__(self, ops: PatternOperators, y, loss, beta, scale):
        self.ops, self.y, self.loss, self.beta = ops, y, loss, beta
        self.scale = scale  # A is divided by it; blocks are multiplied by it
        P, nb = ops.P, ops.nb
        self.sign = np.concatenate([np.ones(P), -np.ones(P)]) if ops.cone else np.ones(P)
        self.pat = np.tile(np.arange(P), 2) if ops.cone else np.arange(P)
        self.root = math.sqrt(ops.gamma)  # the cone rows enter as sqrt(gamma) G z = s

    # products over every block ----------------------------------------------------------
    def forward(self, Z: np.ndarray) -> np.ndarray:
        """:math:`Fz` for blocks ``Z`` ``(h, nb)``."""
        ops, P = self.ops, self.ops.P
        return ops.F0(Z[:, :P] - Z[:, P:]) if ops.cone else ops.F0(Z)

    @staticmethod
    def slack_view(Wc: np.ndarray, mode: str, scale: float) -> np.ndarray:
        r"""A chunk of the stored ``Wst`` as it enters a product (never the whole array, which
        is the largest one): ``|Wst|`` = ``s - lambda_s``, or the multipliers
        ``scale * (-Wst)_+`` = :math:`\mu`."""
        return np.abs(Wc) if mode == "abs" else scale * np.maximum(-Wc, 0.0)

    def adjoint(self, v: np.ndarray, W: np.ndarray | None, mode: str = "abs",
                scale: float = 1.0) -> np.ndarray:
        r""":math:`F^Tv + G^T w` as ``(h, nb)`` blocks, ``w`` the :meth:`slack_view` of
        ``W`` ``(N, nb)`` (``None`` for the gated program)."""
        ops, P = self.ops, self.ops.P
        r = ops.pool_adj(v)
        out = np.empty((ops.h, ops.nb))
        for c in ops.chunks():
            M = ops.M[:, c]
            Mr = M * r[:, None]
            if ops.cone:
                assert W is not None  # the cone slack, given whenever there are cones
                E = 2.0 * M - 1.0
                cw = slice(c.start + P, c.stop + P)
                Wv = self.slack_view(W[:, c], mode, scale)
                out[:, c] = ops.A.T @ (Mr + self.root * E * Wv)
                Wv = self.slack_view(W[:, cw], mode, scale)
                out[:, cw] = ops.A.T @ (self.root * E * Wv - Mr)
            else:
                out[:, c] = ops.A.T @ Mr
        return out

    def cone_step(self, Z: np.ndarray, Wst: np.ndarray) -> float:
        r"""Relaxed update of ``Wst`` = :math:`\hat G z + \lambda_s` in place (``s`` and
        :math:`\lambda_s` are its positive and negative parts); returns
        :math:`\|\Delta\lambda_s\|^2`."""
        ops, P = self.ops, self.ops.P
        change = 0.0
        for c in ops.chunks():
            M = ops.M[:, c]
            E = 2.0 * M - 1.0
            for cols in (c, slice(c.start + P, c.stop + P)):
                w = Wst[:, cols]
                lam_old = np.minimum(w, 0.0)
                Gz = self.root * E * (ops.A @ Z[:, cols])
                w_new = RELAXATION * Gz + (1.0 - RELAXATION) * np.maximum(w, 0.0) + lam_old
                change += float(np.sum((np.minimum(w_new, 0.0) - lam_old) ** 2))
                Wst[:, cols] = w_new
        return change

    # certificate -------------------------------------------------------------------------
    def values(self, Q: np.ndarray) -> tuple[float, float, float, np.ndarray]:
        """Program objective, network objective, cone violation and program prediction at
        blocks ``Q``."""
        ops = self.ops
        norms = np.linalg.norm(Q, axis=0)
        live = np.flatnonzero(norms > 0)
        rows_prog, rows_net = np.zeros(ops.N), np.zeros(ops.N)
        viol = 0.0
        for a in range(0, live.size, ops.step):
            j = live[a:a + ops.step]
            AQ = ops.A @ Q[:, j]
            M = ops.M[:, self.pat[j]]
            rows_prog += (M * AQ) @ self.sign[j]
            rows_net += np.maximum(AQ, 0.0) @ self.sign[j]
            if ops.cone:
                viol = max(viol, float(np.max(-(2.0 * M - 1.0) * AQ, initial=0.0)))
        pen = self.beta * float(norms.sum())
        pred = ops.pool_sum(rows_prog)
        prog = self.loss.value(pred, self.y) + pen
        if not ops.cone:  # gated network: the gates are fixed, so the network is the program
            return prog, prog, 0.0, pred
        net = self.loss.value(ops.pool_sum(rows_net), self.y) + pen
        return prog, net, viol, pred

    def lower_bound(self, v: np.ndarray, Wst: np.ndarray | None, mu_scale: float
                    ) -> tuple[float, np.ndarray]:
        """Certified lower bound from ``v`` and the cone multipliers
        ``mu = mu_scale * (-Wst)_+`` (scaled jointly with ``v``)."""
        if self.loss.classification:
            v = self.y * np.clip(v * self.y, 0.0, 1.0)
        C = self.adjoint(v, Wst, "mu", mu_scale)
        norms = np.linalg.norm(C, axis=0)
        if Wst is not None:
            norms = self._refine(v, Wst, mu_scale, C, norms)
        norm = float(norms.max(initial=0.0))
        value, s = best_scaled_value(self.loss, v, self.y, norm, self.beta)
        return value, s * v

    def _refine(self, v, Wst, mu_scale, C, norms, steps: int = 30):
        r"""Improve the multipliers of the blocks above ``beta``: accelerated projected
        gradient on :math:`\min_{\mu_j \ge 0} \|c_j + \sqrt\gamma A^T E_j\mu_j\|^2`
        (``A`` has unit norm, so the step is :math:`1/\gamma`)."""
        ops = self.ops
        J_all = np.flatnonzero(norms > self.beta)
        if J_all.size == 0 or self.root == 0.0 or J_all.size > max(10, norms.size // 10):
            return norms  # far from converged (most blocks above beta): not worth 2*steps products
        refined = np.empty(J_all.size)
        for a in range(0, J_all.size, ops.step):  # chunks of blocks: bounded temporaries
            J = J_all[a:a + ops.step]
            E = 2.0 * ops.M[:, self.pat[J]] - 1.0
            m = mu_scale * np.maximum(-Wst[:, J], 0.0)
            base = C[:, J] - self.root * ops.A.T @ (E * m)  # sigma_j F_j^T v
            yk, t = m.copy(), 1.0
            for _ in range(steps):
                R = base + self.root * ops.A.T @ (E * yk)
                m_new = np.maximum(yk - (E * (ops.A @ R)) / self.root, 0.0)
                t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
                yk = m_new + ((t - 1.0) / t_new) * (m_new - m)
                m, t = m_new, t_new
            refined[a:a + J.size] = np.linalg.norm(base + self.root * ops.A.T @ (E * m), axis=0)
        J = J_all
        out = norms.copy()
        out[J] = np.minimum(norms[J], refined)
        return out


def solve_relu_admm(
    A: np.ndarray,
    masks: np.ndarray,
    y: np.ndarray,
    loss: Loss,
    beta: float,
    *,
    pool: int = 1,
    cone: bool = True,
    start: np.ndarray | None = None,
    tol: float = 1e-8,
    max_iters: int | None = None,
    time_limit: float | None = None,
    rho: float | None = None,
    check_every: int = 10,
    linear_solver: str = "auto",
    cone_weight: float = 1.0,
    adapt: bool = True,
    log: Any = None,
) -> ReLUADMMResult:
    r"""Solve the cone-constrained (``cone=True``) or gated group lasso over patterns.

    Parameters
    ----------
    A : ndarray, shape (N, h)
        Rows (samples, or ``pool`` stacked groups of patches).
    masks : ndarray of bool, shape (N, P)
    y : ndarray, shape (n,)
        One output's targets.
    loss : Loss
        ``"squared"``, ``"logistic"`` or ``"hinge"``.
    beta : float
    pool : int
        Row groups summed per sample (``N = pool * n``).
    cone : bool
        ``2P`` sign-constrained blocks ``[V, W]`` with cone constraints, or ``P`` free
        blocks (gated ReLU).
    start : ndarray, shape (h, nb), optional
        Starting blocks (e.g. a trained network's neurons); it counts as an iterate, so
        the result is never worse than it.
    tol : float
        Relative certified gap at which to stop.
    max_iters, time_limit : optional
        Limits (status ``"iteration_limit"`` / ``"time_limit"``, best iterate kept).
    rho : float, optional
        Initial penalty parameter.
    check_every : int
        Iterations between certificates.
    linear_solver : {"auto", "direct", "cg"}
    log : logging.Logger, optional
        Progress at every certificate (debug level).
    """
    t0 = time.perf_counter()
    A = np.asarray(A, dtype=float)
    y = np.asarray(y, dtype=float)
    scale = max(float(np.linalg.norm(A, 2)), 1e-300) if A.size else 1.0
    ops = PatternOperators(A / scale, masks, pool=pool, cone=cone, linear_solver=linear_solver,
                           cone_weight=cone_weight)
    if time_limit is not None:
        ops.deadline = t0 + time_limit
    bs = beta / scale
    alg = _ReLUADMM(ops, y, loss, bs, scale)
    h, nb, N = ops.h, ops.nb, ops.N
    max_iters = DEFAULT_MAX_ITERS if max_iters is None else int(max_iters)
    if rho is None:  # the cone rows want a larger rho as their number grows (measured)
        rho = DEFAULT_RHO * max(1.0, N / 30.0) if cone else DEFAULT_RHO
    rho = float(rho)

    Z = np.zeros((h, nb)) if start is None else np.asarray(start, dtype=float) * scale
    ops.set_guess(Z)
    Q = Z.copy()
    p = alg.forward(Z)
    lam_p = np.zeros_like(p)
    lam_q = np.zeros_like(Z)
    Wst = np.zeros((N, nb if cone else 0))  # slack of the cone constraints (none without)
    if cone:  # s = G z (feasible start: lambda_s = 0)
        for c in ops.chunks():
            E = 2.0 * ops.M[:, c] - 1.0
            Wst[:, c] = np.maximum(alg.root * E * (ops.A @ Z[:, c]), 0.0)
            cw = slice(c.start + ops.P, c.stop + ops.P)
            Wst[:, cw] = np.maximum(alg.root * E * (ops.A @ Z[:, cw]), 0.0)

    # the latest iterate is returned, or the (feasible) start point if it was better
    latest: dict[str, Any] = {}
    first: dict[str, Any] = {}
    lower, dual_point = -math.inf, np.zeros_like(y)
    history: list[tuple[int, float, float]] = []

    def certify(k: int) -> float:
        nonlocal lower, dual_point
        prog, net, viol, pred = alg.values(Q)
        upper = max(prog, net)
        latest.update(upper=upper, Q=Q, vals=(prog, net, viol))
        if k == 0 and start is not None:
            first.update(latest, Q=Q.copy())
        for v in (-rho * lam_p, loss_gradient_point(loss, pred, y)):
            value, point = alg.lower_bound(v, Wst, rho * alg.root)
            if value > lower:
                lower, dual_point = value, point
        rel = relative_gap(lower, upper)
        # a point off its cones by more than tol (relative to its rows) is not yet feasible
        size = float(np.abs(pred).max(initial=0.0))
        feasible = viol <= tol * max(size, 1e-300)
        history.append((k, time.perf_counter() - t0, rel))
        if log is not None:
            log.debug("relu admm it %d: upper %.10g lower %.10g rel gap %.2e cone viol %.1e "
                      "rho %.3g", k, upper, lower, rel, viol, rho)
        return rel if feasible else math.inf

    status, k, next_check = None, 0, check_every
    rel = certify(0)
    if rel <= tol:
        status = "optimal"
    while status is None:
        if k >= max_iters:
            status = "iteration_limit"
            break
        if time_limit is not None and time.perf_counter() - t0 >= time_limit:
            status = "time_limit"
            break
        k += 1
        rhs = alg.adjoint(p - lam_p, Wst) + (Q - lam_q)
        Z = ops.solve(rhs, rtol=1e-10 if ops.linear_solver == "direct" else
                      max(1e-12, min(1e-3, 0.1 * rel)))
        Fz = RELAXATION * alg.forward(Z) + (1.0 - RELAXATION) * p
        Zr = RELAXATION * Z + (1.0 - RELAXATION) * Q
        s_change = alg.cone_step(Z, Wst) if cone else 0.0
        p_old, Q_old = p, Q
        p = loss_prox(loss, Fz + lam_p, y, rho, guess=p)
        G = Zr + lam_q
        gn = np.linalg.norm(G, axis=0)
        Q = G * np.maximum(1.0 - (bs / rho) / np.maximum(gn, 1e-300), 0.0)
        lam_p = lam_p + Fz - p
        lam_q = lam_q + Zr - Q
        if adapt and k % ADAPT_EVERY == 0:
            r = math.sqrt(float(np.sum((Fz - p) ** 2) + np.sum((Zr - Q) ** 2)) + s_change)
            d = rho * math.sqrt(float(np.sum((p - p_old) ** 2) + np.sum((Q - Q_old) ** 2)))
            factor = 1.0
            if r > 50.0 * d or d > 50.0 * r:  # balance only far-off residuals: each change
                factor = 2.0 if r > d else 0.5  # of rho perturbs the iterates
            if factor != 1.0:
                rho *= factor
                lam_p /= factor
                lam_q /= factor
                if cone:
                    np.divide(Wst, factor, out=Wst, where=Wst < 0)  # lambda_s: negative part
        if k >= next_check or k >= max_iters:
            rel = certify(k)
            next_check = k + max(check_every, k // 20)  # certificates cost ~5% at most
            if rel <= tol:
                status = "optimal"
    if history[-1][0] != k:
        certify(k)
    best = first if first and first["upper"] < latest["upper"] else latest
    prog, net, viol = best["vals"]
    return ReLUADMMResult(
        blocks=best["Q"] / scale,
        status=status,
        iterations=k,
        objective=net,
        program_objective=prog,
        lower_bound=lower,
        cone_violation=viol,
        dual_point=dual_point,
        solve_time=time.perf_counter() - t0,
        rho=rho,
        linear_solver=ops.linear_solver,
        cg_iterations=ops.cg_iterations,
        history=history,
    )
