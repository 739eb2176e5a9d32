r"""The operators of the group lasso over activation patterns, applied without the stack
of :math:`D_i A`.

The program (two-layer ReLU networks, ReLU CNNs and gated ReLU networks) has blocks
:math:`z_j \in \mathbb{R}^h`, one per (pattern, sign), and

.. math::

    F z = S \sum_j \sigma_j D_{p(j)} A z_j \in \mathbb{R}^n, \qquad
    G_j z_j = (2D_{p(j)} - I) A z_j \in \mathbb{R}^N,

with rows ``A`` (``N x h``; ``N = pool * n`` stacked patches for CNNs), boolean masks
``M`` (``N x P``, column ``i`` the diagonal of :math:`D_i`), the pooling
:math:`S = [I_n \cdots I_n]` that sums the ``pool`` row groups, and signs
:math:`\sigma_j`. The cone-constrained program has ``2P`` blocks ``[V, W]`` (signs
``+1, -1``), the gated program ``P`` free blocks. Every product is one matrix product with
``A`` or ``A^T`` over a chunk of patterns, so memory stays ``O(N P)`` booleans plus a
chunk of floats.

The linear system of the ADMM step is :math:`(I + G^TG + F^TF)z = r` (``G`` absent for the
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

import time

import numpy as np
import scipy.linalg as sla

__all__ = ["PatternOperators", "DIRECT_MAX_SIZE"]

#: The coupled system is factorized directly when ``h * P`` is at most this.
DIRECT_MAX_SIZE = 3000

#: Floats in one chunk of ``A z`` (bounds the temporaries of every product).
_CHUNK_FLOATS = 1 << 22


class PatternOperators:
    """Products with :math:`F_0`, :math:`F_0^T` and the block linear solve.

    Parameters
    ----------
    A : ndarray, shape (N, h)
    masks : ndarray of bool, shape (N, P)
    pool : int
        Row groups summed into one sample (``N = pool * n``); 1 for fully connected nets.
    cone : bool
        Cone-constrained (``2P`` blocks) or gated (``P`` blocks) program.
    linear_solver : {"auto", "direct", "cg"}
    """

    def __init__(self, A: np.ndarray, masks: np.ndarray, pool: int = 1, cone: bool = True,
                 linear_solver: str = "auto", cone_weight: float = 1.0) -> None:
        self.A = np.ascontiguousarray(A, dtype=float)
        self.M = np.asarray(masks, dtype=bool)
        self.N, self.h = self.A.shape
        self.P = self.M.shape[1]
        self.pool = int(pool)
        self.n = self.N // self.pool
        self.cone = bool(cone)
        self.nb = 2 * self.P if cone else self.P
        self.step = max(1, _CHUNK_FLOATS // max(self.N, 1))
        gram = self.A.T @ self.A
        self.lam, self.Q = np.linalg.eigh(gram)
        self.lam = np.maximum(self.lam, 0.0)
        self.gamma = float(cone_weight) if cone else 0.0
        self.H = np.eye(self.h) + self.gamma * gram
        self.kappa = 2.0 if cone else 1.0
        self.H_chol = sla.cho_factor(self.H)
        density = self.M.mean(axis=0) * self.pool
        self.pre = 1.0 + np.outer(self.lam, self.gamma + self.kappa * density)
        if linear_solver == "auto":
            linear_solver = "direct" if self.h * self.P <= DIRECT_MAX_SIZE else "cg"
        self.linear_solver = linear_solver
        self._K = self._factor() if linear_solver == "direct" else None
        self._u = np.zeros((self.h, self.P))
        self.cg_iterations = 0
        #: ``time.perf_counter()`` value past which conjugate gradients stop early.
        self.deadline: float | None = None

    # -- pooling ---------------------------------------------------------------------------
    def pool_sum(self, r: np.ndarray) -> np.ndarray:
        """:math:`S r`: rows ``(N,)`` to samples ``(n,)``."""
        return r.reshape(self.pool, self.n).sum(axis=0) if self.pool > 1 else r

    def pool_adj(self, v: np.ndarray) -> np.ndarray:
        """:math:`S^T v`: samples ``(n,)`` to rows ``(N,)``."""
        return np.tile(v, self.pool) if self.pool > 1 else v

    def chunks(self):
        """Slices of pattern columns whose ``A z`` chunk fits the float budget."""
        for a in range(0, self.P, self.step):
            yield slice(a, min(a + self.step, self.P))

    # -- F0 = S sum_i D_i A u_i and its adjoint --------------------------------------------
    def F0(self, U: np.ndarray) -> np.ndarray:
        """:math:`S\\sum_i D_i A u_i` for blocks ``U`` ``(h, P)``."""
        rows = np.zeros(self.N)
        for c in self.chunks():
            rows += np.einsum("ij,ij->i", self.M[:, c], self.A @ U[:, c])
        return self.pool_sum(rows)

    def F0T(self, v: np.ndarray) -> np.ndarray:
        """:math:`(A^T D_i S^T v)_i` as ``(h, P)``."""
        r = self.pool_adj(v)
        out = np.empty((self.h, self.P))
        for c in self.chunks():
            out[:, c] = self.A.T @ (self.M[:, c] * r[:, None])
        return out

    # -- the linear system (I (x) H + kappa F0^T F0) u = r -------------------------------
    def _factor(self):
        """Cholesky factor of :math:`I \\otimes H + \\kappa F_0^TF_0` (``hP`` square), built
        from row chunks of :math:`F_0` (bounded memory)."""
        h, P = self.h, self.P
        K = np.kron(np.eye(P), self.H)
        rows = max(1, _CHUNK_FLOATS // (h * P))
        for a in range(0, self.n, rows):
            idx = np.arange(a, min(a + rows, self.n))
            Fc = np.zeros((idx.size, P, h))
            for g in range(self.pool):
                r = g * self.n + idx
                Fc += self.M[r, :, None] * self.A[r, None, :]
            Fc = Fc.reshape(idx.size, P * h)
            K += self.kappa * (Fc.T @ Fc)
        return sla.cho_factor(K)

    def _apply(self, U: np.ndarray) -> np.ndarray:
        return self.H @ U + self.kappa * self.F0T(self.F0(U))

    def _precondition(self, R: np.ndarray) -> np.ndarray:
        return self.Q @ ((self.Q.T @ R) / self.pre)

    def solve_coupled(self, R: np.ndarray, rtol: float) -> np.ndarray:
        """Solve :math:`(I \\otimes H + \\kappa F_0^TF_0) U = R` (``(h, P)`` blocks)."""
        if self._K is not None:
            x = sla.cho_solve(self._K, R.T.reshape(-1), check_finite=False)
            self._u = x.reshape(self.P, self.h).T
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
        if not self.cone:
            return self.solve_coupled(R, rtol)
        P = self.P
        Rv, Rw = R[:, :P], R[:, P:]
        t = sla.cho_solve(self.H_chol, (Rv + Rw) / np.sqrt(2.0), check_finite=False)
        u = self.solve_coupled((Rv - Rw) / np.sqrt(2.0), rtol)
        return np.hstack([(t + u) / np.sqrt(2.0), (t - u) / np.sqrt(2.0)])

    def set_guess(self, Z: np.ndarray) -> None:
        """Warm start of the coupled solve from blocks ``Z``."""
        self._u = (Z[:, : self.P] - Z[:, self.P:]) / np.sqrt(2.0) if self.cone else Z.copy()
