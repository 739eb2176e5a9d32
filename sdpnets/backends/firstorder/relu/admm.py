r"""ADMM for two-layer ReLU programs (cone-constrained or gated group lassos over
activation patterns), stopping on a certified duality gap.

The program, one output at a time (:class:`.program.ReLUProgram`, with its ``F``, ``G``):

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

**Linear system.** The ``z`` step solves :math:`(I + G^TG + F^TF)z = r` (``G`` absent for the
gated program). As :math:`G^TG = I \otimes A^TA` and :math:`F` only sees
:math:`v_i - w_i`, the orthogonal change :math:`u = (v - w)/\sqrt2`,
:math:`t = (v + w)/\sqrt2` leaves :math:`(I + A^TA)t = r_t` per block and one coupled
system :math:`(I \otimes H + \kappa F_0^TF_0)u = r_u` with :math:`F_0 u = S\sum_i D_i A
u_i`, :math:`H = I + A^TA`, :math:`\kappa = 2` (gated: :math:`H = I`, :math:`\kappa = 1`).
It is solved by a cached Cholesky factor when :math:`hP` is small, else by conjugate
gradients preconditioned with :math:`H + \kappa\omega_i A^TA` per block (``omega_i`` the
density of pattern ``i``), warm-started from the previous solution.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.linalg as sla

from ....results import relative_gap
from .program import ReLUProgram, ReLUResult

__all__ = ["solve_relu_admm", "DEFAULT_MAX_ITERS", "DIRECT_MAX_SIZE"]

#: Iteration cap when the caller gives none (the certified gap stops the solver first).
DEFAULT_MAX_ITERS = 20_000

RELAXATION = 1.6

#: Initial penalty parameter (``A`` is normalized to unit norm); the cone-constrained
#: program with ``N`` rows starts at ``0.1 N / 30`` (see docs/design_notes.md).
DEFAULT_RHO = 0.1

#: Iterations between updates of the penalty parameter (each one perturbs the iterates).
ADAPT_EVERY = 200

#: The coupled system is factorized directly when ``h * P`` is at most this.
DIRECT_MAX_SIZE = 3000

#: Floats in one chunk of the direct factor's rows of ``F`` (bounds its temporaries).
_CHUNK_FLOATS = 1 << 22


class _LinearSystem:
    r"""The ``z`` step's system :math:`(I + G^TG + F^TF)z = r` of a program (see the module
    docstring): a cached Cholesky factor, or preconditioned conjugate gradients.

    Parameters
    ----------
    prog : ReLUProgram
    linear_solver : {"auto", "direct", "cg"}
    cone_weight : float
        :math:`\gamma`, the weight of the cone rows (``G`` enters as :math:`\sqrt\gamma G`).
    """

    def __init__(self, prog: ReLUProgram, linear_solver: str = "auto",
                 cone_weight: float = 1.0) -> None:
        self.prog = prog
        gram = prog.A.T @ prog.A
        self.lam, self.Q = np.linalg.eigh(gram)
        self.lam = np.maximum(self.lam, 0.0)
        self.gamma = float(cone_weight) if prog.cone else 0.0
        self.H = np.eye(prog.h) + self.gamma * gram
        self.kappa = 2.0 if prog.cone else 1.0
        self.H_chol = sla.cho_factor(self.H)
        density = prog.M.mean(axis=0) * prog.pool
        self.pre = 1.0 + np.outer(self.lam, self.gamma + self.kappa * density)
        if linear_solver == "auto":
            linear_solver = "direct" if prog.h * prog.P <= DIRECT_MAX_SIZE else "cg"
        self.linear_solver = linear_solver
        self._K = self._factor() if linear_solver == "direct" else None
        self._u = np.zeros((prog.h, prog.P))
        self.cg_iterations = 0
        #: ``time.perf_counter()`` value past which conjugate gradients stop early.
        self.deadline: float | None = None

    # -- the linear system (I (x) H + kappa F0^T F0) u = r -------------------------------
    def _factor(self):
        """Cholesky factor of :math:`I \\otimes H + \\kappa F_0^TF_0` (``hP`` square), built
        from row chunks of :math:`F_0` (bounded memory)."""
        h, P = self.prog.h, self.prog.P
        K = np.kron(np.eye(P), self.H)
        rows = max(1, _CHUNK_FLOATS // (h * P))
        for a in range(0, self.prog.n, rows):
            idx = np.arange(a, min(a + rows, self.prog.n))
            Fc = np.zeros((idx.size, P, h))
            for g in range(self.prog.pool):
                r = g * self.prog.n + idx
                Fc += self.prog.M[r, :, None] * self.prog.A[r, None, :]
            Fc = Fc.reshape(idx.size, P * h)
            K += self.kappa * (Fc.T @ Fc)
        return sla.cho_factor(K)

    def _apply(self, U: np.ndarray) -> np.ndarray:
        return self.H @ U + self.kappa * self.prog.F0T(self.prog.F0(U))

    def _precondition(self, R: np.ndarray) -> np.ndarray:
        return self.Q @ ((self.Q.T @ R) / self.pre)

    def solve_coupled(self, R: np.ndarray, rtol: float) -> np.ndarray:
        """Solve :math:`(I \\otimes H + \\kappa F_0^TF_0) U = R` (``(h, P)`` blocks)."""
        if self._K is not None:
            x = sla.cho_solve(self._K, R.T.reshape(-1), check_finite=False)
            self._u = x.reshape(self.prog.P, self.prog.h).T
            return self._u
        U = self._u
        res = R - self._apply(U)
        bnorm = max(float(np.linalg.norm(R)), 1e-300)
        Zr = self._precondition(res)
        Pd = Zr.copy()
        rz = float(np.sum(res * Zr))
        for _ in range(100):
            if float(np.linalg.norm(res)) <= rtol * bnorm:
                break
            if self.deadline is not None and time.perf_counter() > self.deadline:
                break  # the solver's time limit: its caller reports "time_limit"
            Ap = self._apply(Pd)
            a = rz / float(np.sum(Pd * Ap))
            U = U + a * Pd
            res = res - a * Ap
            Zr = self._precondition(res)
            rz_new = float(np.sum(res * Zr))
            Pd = Zr + (rz_new / rz) * Pd
            rz = rz_new
            self.cg_iterations += 1
        self._u = U
        return U

    def solve(self, R: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
        r"""Solve :math:`(I + G^TG + F^TF) z = R` for blocks ``R`` ``(h, nb)``."""
        if not self.prog.cone:
            return self.solve_coupled(R, rtol)
        P = self.prog.P
        Rv, Rw = R[:, :P], R[:, P:]
        t = sla.cho_solve(self.H_chol, (Rv + Rw) / np.sqrt(2.0), check_finite=False)
        u = self.solve_coupled((Rv - Rw) / np.sqrt(2.0), rtol)
        return np.hstack([(t + u) / np.sqrt(2.0), (t - u) / np.sqrt(2.0)])

    def set_guess(self, Z: np.ndarray) -> None:
        """Warm start of the coupled solve from blocks ``Z``."""
        P = self.prog.P
        self._u = (Z[:, :P] - Z[:, P:]) / np.sqrt(2.0) if self.prog.cone else Z.copy()


class _Splitting:
    """The ADMM's own operators on a (normalized) :class:`.program.ReLUProgram`: the cone
    slack in its products, its update, and the lower bound with the slack's multipliers."""

    def __init__(self, prog: ReLUProgram, system: _LinearSystem):
        self.prog, self.system = prog, system
        self.root = math.sqrt(system.gamma)  # the cone rows enter as sqrt(gamma) G z = s

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
        ops, P = self.prog, self.prog.P
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
        ops, P = self.prog, self.prog.P
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
    def lower_bound(self, v: np.ndarray, Wst: np.ndarray | None, mu_scale: float
                    ) -> tuple[float, np.ndarray]:
        """Certified lower bound from ``v`` and the cone multipliers
        ``mu = mu_scale * (-Wst)_+`` (scaled jointly with ``v``)."""
        v = self.prog.loss.into_domain(v, self.prog.y)
        C = self.adjoint(v, Wst, "mu", mu_scale)
        norms = np.linalg.norm(C, axis=0)
        if Wst is not None:
            norms = self._refine(v, Wst, mu_scale, C, norms)
        norm = float(norms.max(initial=0.0))
        value, s = self.prog.dual_bound(v, norm)
        return value, s * v

    def _refine(self, v, Wst, mu_scale, C, norms, steps: int = 30):
        r"""Improve the multipliers of the blocks above ``beta``: accelerated projected
        gradient on :math:`\min_{\mu_j \ge 0} \|c_j + \sqrt\gamma A^T E_j\mu_j\|^2`
        (``A`` has unit norm, so the step is :math:`1/\gamma`)."""
        ops = self.prog
        J_all = np.flatnonzero(norms > self.prog.beta)
        if J_all.size == 0 or self.root == 0.0 or J_all.size > max(10, norms.size // 10):
            return norms  # far from converged (most blocks above beta): not worth 2*steps products
        refined = np.empty(J_all.size)
        for a in range(0, J_all.size, ops.step):  # chunks of blocks: bounded temporaries
            J = J_all[a:a + ops.step]
            E = 2.0 * ops.M[:, ops.pat[J]] - 1.0
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
    program: ReLUProgram,
    *,
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
    progress: Any = None,
) -> ReLUResult:
    r"""Solve a cone-constrained or gated :class:`.program.ReLUProgram` by ADMM (any loss).

    Parameters
    ----------
    program : ReLUProgram
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
    cone_weight : float
        Weight of the cone rows in the splitting.
    adapt : bool
        Let :math:`\rho` follow the residuals.
    log : logging.Logger, optional
        Progress at every certificate (debug level).
    progress : callable, optional
        Called with the certified relative gap at every certificate.

    Returns
    -------
    ReLUResult
        ``method="admm"``; ``statistics``: the final ``rho``, the ``linear_solver`` used and
        the ``cg_iterations``.
    """
    t0 = time.perf_counter()
    ops, scale, _ = program.normalized(scale_targets=False)
    system = _LinearSystem(ops, linear_solver=linear_solver, cone_weight=cone_weight)
    if time_limit is not None:
        system.deadline = t0 + time_limit
    alg = _Splitting(ops, system)
    y, loss, bs, cone = ops.y, ops.loss, ops.beta, ops.cone
    h, nb, N = ops.h, ops.nb, ops.N
    max_iters = DEFAULT_MAX_ITERS if max_iters is None else int(max_iters)
    if rho is None:  # the cone rows want a larger rho as their number grows
        rho = DEFAULT_RHO * max(1.0, N / 30.0) if cone else DEFAULT_RHO
    rho = float(rho)

    Z = np.zeros((h, nb)) if start is None else np.asarray(start, dtype=float) * scale
    system.set_guess(Z)
    Q = Z.copy()
    p = ops.forward(Z)
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
        prog, net, viol, pred = ops.values(Q)
        upper = max(prog, net)
        latest.update(upper=upper, Q=Q, vals=(prog, net, viol))
        if k == 0 and start is not None:
            first.update(latest, Q=Q.copy())
        for v in (-rho * lam_p, loss.dual_point(pred, y)):
            value, point = alg.lower_bound(v, Wst, rho * alg.root)
            if value > lower:
                lower, dual_point = value, point
        rel = relative_gap(lower, upper)
        # a point off its cones by more than tol (relative to its rows) is not yet feasible
        size = float(np.abs(pred).max(initial=0.0))
        feasible = viol <= tol * max(size, 1e-300)
        history.append((k, time.perf_counter() - t0, rel))
        if progress is not None:
            progress(rel)
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
        Z = system.solve(rhs, rtol=1e-10 if system.linear_solver == "direct" else
                         max(1e-12, min(1e-3, 0.1 * rel)))
        Fz = RELAXATION * ops.forward(Z) + (1.0 - RELAXATION) * p
        Zr = RELAXATION * Z + (1.0 - RELAXATION) * Q
        s_change = alg.cone_step(Z, Wst) if cone else 0.0
        p_old, Q_old = p, Q
        p = loss.prox(Fz + lam_p, y, rho, guess=p)
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
    return ReLUResult(
        blocks=best["Q"] / scale,
        status=status,
        method="admm",
        iterations=k,
        objective=net,
        program_objective=prog,
        lower_bound=lower,
        cone_violation=viol,
        dual_point=dual_point,
        solve_time=time.perf_counter() - t0,
        statistics={"rho": rho, "linear_solver": system.linear_solver,
                    "cg_iterations": system.cg_iterations},
        history=history,
    )
