r"""A primal-dual interior-point method for the dense group lasso with homogeneous linear
inequalities: the reduced programs of :mod:`.relu_active_set`.

The program, over ``m`` blocks :math:`z_j \in \mathbb{R}^h` (``z`` of length ``m h``):

.. math::

    \min_z\; \tfrac12 z^THz - c^Tz + \beta\sum_j \|z_j\|_2
    \quad\text{s.t.}\quad a_k^T z_{b(k)} \ge 0 \quad (k = 1..K),

each inequality row ``a_k`` acting on one block ``b(k)``. With epigraph variables
:math:`t_j \ge \|z_j\|` it is a conic quadratic program over ``K`` nonnegative cones and
``m`` second-order cones (:math:`(t_j, z_j)`), solved by Mehrotra's predictor-corrector
with Nesterov-Todd scaling, the textbook method of CVXOPT's ``coneqp`` (Vandenberghe, "The
CVXOPT linear and quadratic cone program solvers", 2010) written for this structure: the
Newton system reduces to one dense symmetric positive-definite matrix of order
``m h + m``,

.. math::

    H \oplus 0 \;+\; \sum_k \tfrac{\mu_k}{s_k}\, a_ka_k^T \;+\; \bigoplus_j W_j^{-2},

whose inequality part is block diagonal (each row touches one block) and whose cone part
adds one ``(h+1)``-square block per ``j`` (:math:`W_j` the scaling of cone ``j``). One
LAPACK Cholesky factor per iteration serves the predictor and the corrector, so an
iteration costs about :math:`(mh)^3/3` flops and memory is two matrices of order ``m h``;
Clarabel on the same program spends about five times longer per iteration in its sparse
factorization of the (dense) KKT system.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

__all__ = ["GroupConeResult", "solve_group_cone_qp"]

#: Fraction of the step to the cone boundary that is taken.
STEP_FRACTION = 0.99
_DEBUG = False

#: Iterative-refinement steps per Newton solve.
REFINEMENT_STEPS = 1

#: Iterations without a better merit (the largest of the relative residuals and gap)
#: after which the best iterate is returned: near the optimum the Newton system's
#: condition number grows past what double precision resolves.
STALL_ITERATIONS = 3

#: Stalls count only once the merit is below this (early merits need not decrease).
STALL_MERIT = 1e-5


@dataclass
class GroupConeResult:
    """The best iterate: ``z`` ``(m, h)`` blocks, ``mu`` ``(K,)`` multipliers of the
    inequality rows (``>= 0``), ``status`` (``"solved"``: merit at most ``tol``;
    ``"inaccurate"``: progress stalled with the merit at most ``sqrt(tol)``;
    ``"max_iterations"``, ``"time_limit"``, ``"numerical_error"``), ``iterations``, its
    relative duality ``gap`` and ``merit``, the largest of the relative primal and dual
    residuals and the gap."""

    z: np.ndarray
    mu: np.ndarray
    status: str
    iterations: int
    gap: float
    merit: float


# --- the cones' algebra (nonnegative: elementwise; second-order: rows (x0, x1)) ---------------


def _soc_product(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""Jordan product :math:`x \circ y = (x^Ty,\; x_0y_1 + y_0x_1)` per row."""
    out = x[:, :1] * y + y[:, :1] * x
    out[:, 0] = np.einsum("ij,ij->i", x, y)
    return out


def _soc_divide(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    r"""``v`` with :math:`\lambda \circ v = u` per row (``lam`` interior)."""
    l0, l1 = lam[:, 0], lam[:, 1:]
    det = l0 * l0 - np.einsum("ij,ij->i", l1, l1)
    v0 = (l0 * u[:, 0] - np.einsum("ij,ij->i", l1, u[:, 1:])) / det
    return np.column_stack([v0, (u[:, 1:] - v0[:, None] * l1) / l0[:, None]])


def _soc_min_eig(x: np.ndarray) -> np.ndarray:
    return x[:, 0] - np.linalg.norm(x[:, 1:], axis=1)


def _soc_step(x: np.ndarray, d: np.ndarray) -> float:
    r"""Largest :math:`\alpha` with :math:`x + \alpha d` in every cone (``x`` interior)."""
    a = d[:, 0] ** 2 - np.einsum("ij,ij->i", d[:, 1:], d[:, 1:])
    b = 2.0 * (x[:, 0] * d[:, 0] - np.einsum("ij,ij->i", x[:, 1:], d[:, 1:]))
    nx = np.linalg.norm(x[:, 1:], axis=1)
    c = (x[:, 0] - nx) * (x[:, 0] + nx)
    disc = b * b - 4.0 * a * c
    root = -b + np.sqrt(np.maximum(disc, 0.0))
    hit = ((a < 0) | (b < 0)) & (disc >= 0) & (root > 0)
    alpha = float(np.min(2.0 * c[hit] / root[hit])) if hit.any() else math.inf
    # x0 + alpha d0 >= 0 too: a path through the apex touches the boundary only there,
    # where rounding can hide the (double) root
    down = d[:, 0] < 0
    if down.any():
        alpha = min(alpha, float(np.min(-x[down, 0] / d[down, 0])))
    return alpha


class _SOCScaling:
    r"""Nesterov-Todd scaling :math:`W = b(2ww^T - J)` of each second-order cone, with
    :math:`W y = W^{-1}s = \lambda`."""

    def __init__(self, s: np.ndarray, y: np.ndarray):
        ns = np.sqrt(np.maximum(_soc_min_eig(s) * (s[:, 0] + np.linalg.norm(s[:, 1:], axis=1)),
                                1e-300))
        ny = np.sqrt(np.maximum(_soc_min_eig(y) * (y[:, 0] + np.linalg.norm(y[:, 1:], axis=1)),
                                1e-300))
        sb, yb = s / ns[:, None], y / ny[:, None]
        gamma = np.sqrt(np.maximum((1.0 + np.einsum("ij,ij->i", sb, yb)) / 2.0, 1e-300))
        yJ = yb.copy()
        yJ[:, 1:] *= -1.0
        wbar = (sb + yJ) / (2.0 * gamma[:, None])  # 2 wbar wbar^T - J maps ybar to sbar
        wbar[:, 0] += 1.0  # its square root: the reflection through (wbar + e)
        self.w = wbar / np.sqrt(2.0 * wbar[:, :1])
        self.b = np.sqrt(ns / ny)

    def apply(self, v: np.ndarray, inverse: bool = False) -> np.ndarray:
        r""":math:`Wv` or :math:`W^{-1}v = b^{-1}(2Jww^TJ - J)v`."""
        w = self.w
        if inverse:
            Jv = v.copy()
            Jv[:, 1:] *= -1.0
            Jw = w.copy()
            Jw[:, 1:] *= -1.0
            out = 2.0 * np.einsum("ij,ij->i", w, Jv)[:, None] * Jw - Jv
            return out / self.b[:, None]
        Jv = v.copy()
        Jv[:, 1:] *= -1.0
        return self.b[:, None] * (2.0 * np.einsum("ij,ij->i", w, v)[:, None] * w - Jv)

    def inverse_square(self) -> np.ndarray:
        r""":math:`W^{-2}` per cone, ``(m, h+1, h+1)``."""
        k = self.w.shape[1]
        Jw = self.w.copy()
        Jw[:, 1:] *= -1.0
        Winv = 2.0 * Jw[:, :, None] * Jw[:, None, :]
        idx = np.arange(k)
        Winv[:, idx, idx] -= np.where(idx == 0, 1.0, -1.0)
        Winv /= self.b[:, None, None]
        return Winv @ Winv


# --- the solver --------------------------------------------------------------------------------


class _Problem:
    """The data and the products with the constraint map ``G``: ``G x = (-a_k^T z_{b(k)},
    -(t_j, z_j))``, ``x = (z, t)``."""

    def __init__(self, H, c, beta, rows, blocks, m, h):
        self.H, self.c, self.beta, self.m, self.h = H, c, float(beta), m, h
        self.nz = m * h
        K = rows.shape[0]
        self.K = K
        cols = (blocks[:, None] * h + np.arange(h)).ravel()
        self.Gc = sp.csr_matrix((rows.ravel(), (np.repeat(np.arange(K), h), cols)),
                                shape=(K, self.nz))
        # rows grouped by block, padded: (m, r_max, h), for the block-diagonal a_k a_k^T sums
        order = np.argsort(blocks, kind="stable")
        counts = np.bincount(blocks, minlength=m)
        r_max = int(counts.max(initial=0))
        slot = np.arange(K) - np.repeat(np.cumsum(counts) - counts, counts)
        self.order, self.slot, self.sorted_blocks = order, slot, blocks[order]
        self.padded = np.zeros((m, max(r_max, 1), h))
        self.padded[self.sorted_blocks, slot] = rows[order]
        self.diag = (np.arange(m)[:, None, None] * h + np.arange(h)[None, :, None],
                     np.arange(m)[:, None, None] * h + np.arange(h)[None, None, :])

    def objective(self, z, t) -> float:
        return 0.5 * float(z @ (self.H @ z)) - float(self.c @ z) + self.beta * float(t.sum())

    def residuals(self, z, t, s_l, s_q, y_l, y_q):
        """Dual residual ``P x + q + G^T y`` and primal residual ``G x + s``."""
        h = self.h
        rz = self.H @ z - self.c - self.Gc.T @ y_l - y_q[:, 1:].ravel()
        rt = self.beta - y_q[:, 0]
        rs_l = s_l - self.Gc @ z
        rs_q = s_q - np.column_stack([t, z.reshape(self.m, h)])
        return rz, rt, rs_l, rs_q

    def G(self, dz, dt):
        return -(self.Gc @ dz), -np.column_stack([dt, dz.reshape(self.m, self.h)])

    def GT(self, v_l, v_q):
        return -(self.Gc.T @ v_l) - v_q[:, 1:].ravel(), -v_q[:, 0]

    def normal_matrix(self, d_l: np.ndarray, soc_inv2: np.ndarray) -> np.ndarray:
        r""":math:`P + G^TDG`: ``H`` plus the block-diagonal row and cone parts."""
        nz, m, h = self.nz, self.m, self.h
        N = np.zeros((nz + m, nz + m))
        N[:nz, :nz] = self.H
        dp = np.zeros(self.padded.shape[:2])
        dp[self.sorted_blocks, self.slot] = d_l[self.order]
        blocks = np.matmul(self.padded.transpose(0, 2, 1), self.padded * dp[:, :, None])
        blocks += soc_inv2[:, 1:, 1:]
        N[self.diag] += blocks
        tcol = nz + np.arange(m)
        zrows = (np.arange(m)[:, None] * h + np.arange(h)).ravel()
        N[zrows, np.repeat(tcol, h)] += soc_inv2[:, 1:, 0].ravel()
        N[np.repeat(tcol, h), zrows] += soc_inv2[:, 0, 1:].ravel()
        N[tcol, tcol] += soc_inv2[:, 0, 0]
        return N


def _factor(build):
    """Cholesky factor of the matrix ``build()`` returns (factored in place), rebuilt and
    shifted by a growing multiple of its diagonal scale when rounding makes it indefinite."""
    shift = 0.0
    for _ in range(8):
        N = build()
        if shift:
            N[np.diag_indices_from(N)] += shift
        try:
            return sla.cho_factor(N, lower=False, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            scale = float(np.max(np.abs(np.diag(build())), initial=1.0))
            shift = scale * (1e-14 if shift == 0.0 else 100.0 * shift / scale)
    raise np.linalg.LinAlgError("the Newton system is not positive definite")


def solve_group_cone_qp(H: np.ndarray, c: np.ndarray, beta: float, rows: np.ndarray,
                        blocks: np.ndarray, m: int, h: int, *, tol: float = 1e-9,
                        max_iter: int = 100, time_limit: float | None = None
                        ) -> GroupConeResult:
    r"""Solve :math:`\min \tfrac12 z^THz - c^Tz + \beta\sum_j\|z_j\|` subject to
    :math:`a_k^Tz_{b(k)} \ge 0` by a primal-dual interior-point method.

    Parameters
    ----------
    H : ndarray, shape (m h, m h)
        Positive semidefinite; block ``j`` occupies entries ``j h`` to ``(j + 1) h``.
    c : ndarray, shape (m h,)
    beta : float
    rows : ndarray, shape (K, h)
        The inequality rows :math:`a_k`.
    blocks : ndarray of int, shape (K,)
        The block :math:`b(k)` of each row.
    m, h : int
    tol : float
        Relative tolerance on the primal and dual residuals and the duality gap.
    max_iter : int
    time_limit : float, optional
        Seconds.

    Returns
    -------
    GroupConeResult
    """
    t0 = time.perf_counter()
    pr = _Problem(H, c, beta, np.asarray(rows, dtype=float), np.asarray(blocks, dtype=int), m, h)
    nz, K = pr.nz, pr.K
    deg = K + m
    qnorm = max(float(np.linalg.norm(c)), beta * math.sqrt(m), 1.0)

    # start: the solution with identity scaling, shifted into the cones
    F = _factor(lambda: pr.normal_matrix(np.ones(K),
                                         np.broadcast_to(np.eye(h + 1), (m, h + 1, h + 1))))
    x = sla.cho_solve(F, np.concatenate([c, -np.full(m, beta)]), check_finite=False)
    z, t = x[:nz], x[nz:]
    gl, gq = pr.G(z, t)
    s_l, s_q = -gl, -gq
    y_l, y_q = gl.copy(), gq.copy()
    for s_lin, s_soc in ((s_l, s_q), (y_l, y_q)):
        low = min(float(s_lin.min(initial=math.inf)), float(_soc_min_eig(s_soc).min()))
        if low <= 0:
            s_lin += 1.0 - low
            s_soc[:, 0] += 1.0 - low
    status, it = "max_iterations", 0
    best, since = (math.inf, z, y_l, math.inf), 0
    for it in range(1, max_iter + 1):
        rz, rt, rs_l, rs_q = pr.residuals(z, t, s_l, s_q, y_l, y_q)
        gap = float(s_l @ y_l) + float(np.sum(s_q * y_q))
        pcost = pr.objective(z, t)
        pres = math.sqrt(float(rs_l @ rs_l) + float(np.sum(rs_q * rs_q)))
        dres = math.sqrt(float(rz @ rz) + float(rt @ rt)) / qnorm
        rel_gap = gap / max(abs(pcost), 1.0)
        merit = max(pres, dres, rel_gap)
        if _DEBUG: print(it, pcost, gap, pres, dres)
        if not math.isfinite(merit):
            status = "numerical_error"
            break
        if merit < best[0]:
            best, since = (merit, z, y_l, rel_gap), 0
        elif best[0] <= STALL_MERIT:
            since += 1
        if merit <= tol:
            status = "solved"
            break
        if since >= STALL_ITERATIONS:  # rounding has taken over: the best iterate stands
            status = "stalled"
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            status = "time_limit"
            break
        # scalings: nonnegative W = diag(sqrt(s/y)); second-order cones by Nesterov-Todd
        w_l = np.sqrt(s_l / y_l)
        lam_l = np.sqrt(s_l * y_l)
        sc = _SOCScaling(s_q, y_q)
        lam_q = sc.apply(y_q)
        try:
            inv2 = sc.inverse_square()
            F = _factor(lambda: pr.normal_matrix(y_l / s_l, inv2))
        except np.linalg.LinAlgError:
            status = "numerical_error"
            break
        mu = gap / deg

        def direction(ds_l, ds_q):
            # u = lambda \ ds; b = r_s + W u; N dx = -r_x - G^T W^-2 b
            u_l, u_q = ds_l / lam_l, _soc_divide(lam_q, ds_q)
            b_l = rs_l + w_l * u_l
            b_q = rs_q + sc.apply(u_q)
            wb_l = b_l / w_l**2
            wb_q = sc.apply(sc.apply(b_q, inverse=True), inverse=True)
            gz, gt = pr.GT(wb_l, wb_q)
            rhs = np.concatenate([-rz - gz, -rt - gt])
            dx = np.zeros(nz + m)
            for _ in range(1 + REFINEMENT_STEPS):
                # the normal equations, and refinement on the first KKT equation's residual
                # (the factor loses digits as the scaling degenerates near the optimum)
                dx = dx + sla.cho_solve(F, rhs, check_finite=False)
                dz, dt = dx[:nz], dx[nz:]
                g_l, g_q = pr.G(dz, dt)
                dy_l = (g_l + b_l) / w_l**2
                dy_q = sc.apply(sc.apply(g_q + b_q, inverse=True), inverse=True)
                ez, et = pr.GT(dy_l, dy_q)
                rhs = -np.concatenate([pr.H @ dz + ez + rz, et + rt])
            return dz, dt, -rs_l - g_l, -rs_q - g_q, dy_l, dy_q

        def step(ds_l, ds_q, dy_l, dy_q):
            a = math.inf
            for x_l, d_l in ((s_l, ds_l), (y_l, dy_l)):
                neg = d_l < 0
                if neg.any():
                    a = min(a, float(np.min(-x_l[neg] / d_l[neg])))
            return min(a, _soc_step(s_q, ds_q), _soc_step(y_q, dy_q))

        # predictor (affine scaling)
        aff = direction(-lam_l * lam_l, -_soc_product(lam_q, lam_q))
        a_aff = min(1.0, step(*aff[2:]))
        gap_aff = (float((s_l + a_aff * aff[2]) @ (y_l + a_aff * aff[4]))
                   + float(np.sum((s_q + a_aff * aff[3]) * (y_q + a_aff * aff[5]))))
        sigma = min(1.0, max(gap_aff / gap, 0.0)) ** 3
        # corrector: -lam o lam - (W^-1 ds_a) o (W dy_a) + sigma mu e
        ds_l = -lam_l * lam_l - (aff[2] / w_l) * (w_l * aff[4]) + sigma * mu
        ds_q = -_soc_product(lam_q, lam_q) - _soc_product(sc.apply(aff[3], inverse=True),
                                                           sc.apply(aff[5]))
        ds_q[:, 0] += sigma * mu
        dz, dt, dsl, dsq, dyl, dyq = direction(ds_l, ds_q)
        a = min(1.0, STEP_FRACTION * step(dsl, dsq, dyl, dyq))
        z, t = z + a * dz, t + a * dt
        s_l, s_q, y_l, y_q = s_l + a * dsl, s_q + a * dsq, y_l + a * dyl, y_q + a * dyq
    else:
        it = max_iter
    merit, z, y_l, rel_gap = best
    if status in ("stalled", "numerical_error"):
        status = "inaccurate" if merit <= math.sqrt(tol) else "numerical_error"
    return GroupConeResult(z=z.reshape(m, h), mu=np.maximum(y_l, 0.0), status=status,
                           iterations=it, gap=rel_gap, merit=merit)
