r"""A primal-dual interior-point method for the dense group lasso with homogeneous linear
inequalities: the reduced programs of :mod:`.solver`.

The program, over ``m`` blocks :math:`z_j \in \mathbb{R}^{d_j}` (``z`` of length
:math:`D = \sum_j d_j`, block ``j`` at offset :math:`\sum_{i<j} d_i`):

.. math::

    \min_z\; \tfrac12 z^THz - c^Tz + \beta\sum_j \|z_j\|_2
    \quad\text{s.t.}\quad a_k^T z_{b(k)} \ge 0 \quad (k = 1..K),

each inequality row ``a_k`` acting on one block ``b(k)``. With epigraph variables
:math:`t_j \ge \|z_j\|` it is a conic quadratic program over ``K`` nonnegative cones and
``m`` second-order cones (:math:`(t_j, z_j)`), solved by Mehrotra's predictor-corrector
with Nesterov-Todd scaling, the textbook method of CVXOPT's ``coneqp`` (Vandenberghe, "The
CVXOPT linear and quadratic cone program solvers", 2010) written for this structure: the
Newton system reduces to one dense symmetric positive-definite matrix of order
``D + m``,

.. math::

    H \oplus 0 \;+\; \sum_k \tfrac{\mu_k}{s_k}\, a_ka_k^T \;+\; \bigoplus_j W_j^{-2},

whose inequality part is block diagonal (each row touches one block) and whose cone part
adds one :math:`(d_j+1)`-square block per ``j`` (:math:`W_j` the scaling of cone ``j``,
identity plus rank two). One LAPACK Cholesky factor per iteration serves the predictor and
the corrector, so an iteration costs about :math:`D^3/3` flops and memory is two matrices
of order ``D``. Blocks may differ in size: the active set solves its programs on the
faces of the pattern cones (:mod:`.faces`), a few coordinates for most blocks. Second-order-cone vectors of all blocks are stored end to end,
head :math:`t_j` first.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

__all__ = ["GroupConeResult", "solve_group_cone_qp", "padded_rows"]

#: Fraction of the step to the cone boundary that is taken.
STEP_FRACTION = 0.99

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
    """The best iterate: ``z`` ``(D,)`` (the blocks end to end), ``mu`` ``(K,)`` multipliers of the
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


def padded_rows(rows: np.ndarray, blocks: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows grouped by block and padded with zeros, ``(m, r_max, h)``, and each row's
    ``(block, slot)`` index into it."""
    order = np.argsort(blocks, kind="stable")
    counts = np.bincount(blocks, minlength=m)
    start = np.cumsum(counts) - counts
    slot = np.empty(blocks.size, dtype=int)
    slot[order] = np.arange(blocks.size) - np.repeat(start, counts)
    out = np.zeros((m, max(int(counts.max(initial=0)), 1), rows.shape[1]))
    out[blocks, slot] = rows
    return out, slot



# --- second-order cones stored end to end: cone j at [head_j, head_j + d_j + 1) -------------


class _Cones:
    """Index maps of the second-order cones :math:`(t_j, z_j)` of blocks of sizes ``d``."""

    def __init__(self, sizes: np.ndarray):
        m = sizes.size
        lengths = sizes + 1
        self.m = m
        self.heads = np.cumsum(lengths) - lengths
        self.of = np.repeat(np.arange(m), lengths)  # cone of each entry
        self.tail = np.ones(self.of.size, dtype=bool)
        self.tail[self.heads] = False
        # all (p, q) entry pairs inside each cone, for the W^-2 blocks
        sq = lengths**2
        cone = np.repeat(np.arange(m), sq)
        local = np.arange(int(sq.sum())) - np.repeat(np.cumsum(sq) - sq, sq)
        self.pair_cone = cone
        self.pair_p = self.heads[cone] + local // lengths[cone]
        self.pair_q = self.heads[cone] + local % lengths[cone]

    def dot(self, x, y):
        return np.bincount(self.of, weights=x * y, minlength=self.m)

    def J(self, x):
        return np.where(self.tail, -x, x)

    def product(self, x, y):
        r"""Jordan product :math:`x \circ y = (x^Ty,\; x_0y_1 + y_0x_1)` per cone."""
        out = x[self.heads][self.of] * y + y[self.heads][self.of] * x
        out[self.heads] = self.dot(x, y)
        return out

    def divide(self, lam, u):
        r"""``v`` with :math:`\lambda \circ v = u` per cone (``lam`` interior)."""
        l0, u0 = lam[self.heads], u[self.heads]
        det = 2.0 * l0 * l0 - self.dot(lam, lam)
        v0 = (l0 * u0 - (self.dot(lam, u) - l0 * u0)) / det
        v = (u - v0[self.of] * lam) / l0[self.of]
        v[self.heads] = v0
        return v

    def min_eig(self, x):
        x0 = x[self.heads]
        return x0 - np.sqrt(np.maximum(self.dot(x, x) - x0 * x0, 0.0))

    def jnorm(self, x):
        r""":math:`\sqrt{x^TJx}` computed as :math:`\sqrt{(x_0 - \|x_1\|)(x_0 + \|x_1\|)}`."""
        x0 = x[self.heads]
        n1 = np.sqrt(np.maximum(self.dot(x, x) - x0 * x0, 0.0))
        return np.sqrt(np.maximum((x0 - n1) * (x0 + n1), 1e-300))

    def step(self, x, d) -> float:
        r"""Largest :math:`\alpha` with :math:`x + \alpha d` in every cone (``x`` interior)."""
        x0, d0 = x[self.heads], d[self.heads]
        a = 2.0 * d0 * d0 - self.dot(d, d)
        b = 2.0 * (2.0 * x0 * d0 - self.dot(x, d))
        n1 = np.sqrt(np.maximum(self.dot(x, x) - x0 * x0, 0.0))
        c = (x0 - n1) * (x0 + n1)
        disc = b * b - 4.0 * a * c
        root = -b + np.sqrt(np.maximum(disc, 0.0))
        hit = ((a < 0) | (b < 0)) & (disc >= 0) & (root > 0)
        alpha = float(np.min(2.0 * c[hit] / root[hit])) if hit.any() else math.inf
        # x0 + alpha d0 >= 0 too: a path through the apex touches the boundary only there,
        # where rounding can hide the (double) root
        down = d0 < 0
        if down.any():
            alpha = min(alpha, float(np.min(-x0[down] / d0[down])))
        return alpha


class _SOCScaling:
    r"""Nesterov-Todd scaling :math:`W = b(2ww^T - J)` of each second-order cone, with
    :math:`W y = W^{-1}s = \lambda`."""

    def __init__(self, cones: _Cones, s: np.ndarray, y: np.ndarray):
        self.cones = cones
        ns, ny = cones.jnorm(s), cones.jnorm(y)
        sb, yb = s / ns[cones.of], y / ny[cones.of]
        gamma = np.sqrt(np.maximum((1.0 + cones.dot(sb, yb)) / 2.0, 1e-300))
        wbar = (sb + cones.J(yb)) / (2.0 * gamma[cones.of])  # maps ybar to sbar
        wbar[cones.heads] += 1.0  # its square root: the reflection through (wbar + e)
        self.w = wbar / np.sqrt(2.0 * wbar[cones.heads])[cones.of]
        self.b = np.sqrt(ns / ny)

    def apply(self, v: np.ndarray, inverse: bool = False) -> np.ndarray:
        r""":math:`Wv` or :math:`W^{-1}v = b^{-1}(2Jww^TJ - J)v`."""
        cones, w = self.cones, self.w
        Jv = cones.J(v)
        if inverse:
            return (2.0 * cones.dot(w, Jv)[cones.of] * cones.J(w) - Jv) / self.b[cones.of]
        return self.b[cones.of] * (2.0 * cones.dot(w, v)[cones.of] * w - Jv)

    def inverse_square_pairs(self) -> np.ndarray:
        r"""Entries of :math:`W^{-2} = b^{-2}(I + 4(w^Tw)\,Jw(Jw)^T - 2Jw\,w^T - 2w(Jw)^T)`
        at the cones' entry pairs (``cones.pair_p``, ``cones.pair_q``)."""
        cones, w = self.cones, self.w
        Jw = cones.J(w)
        p, q, j = cones.pair_p, cones.pair_q, cones.pair_cone
        ww = cones.dot(w, w)
        vals = 4.0 * ww[j] * Jw[p] * Jw[q] - 2.0 * Jw[p] * w[q] - 2.0 * w[p] * Jw[q]
        vals += p == q
        return vals / self.b[j] ** 2


# --- the solver --------------------------------------------------------------------------------


class _Problem:
    """The data and the products with the constraint map ``G``: ``G x = (-a_k^T z_{b(k)},
    -(t_j, z_j))``, ``x = (z, t)``; the cone part is a signed permutation of ``x``."""

    def __init__(self, H, c, beta, rows, blocks, sizes):
        self.H, self.c, self.beta = H, c, float(beta)
        m, D = sizes.size, int(sizes.sum())
        self.m, self.D, self.K = m, D, rows.shape[0]
        self.offsets = np.cumsum(sizes) - sizes
        self.cones = _Cones(sizes)
        # the variable of each cone entry: t_j at the head, then z_j
        var = np.empty(D + m, dtype=int)
        var[self.cones.heads] = D + np.arange(m)
        var[self.cones.tail] = np.arange(D)
        self.var = var
        self.inv_var = np.argsort(var)
        # inequality rows (K x D, one block each), padded by block for the a_k a_k^T sums
        valid = np.arange(rows.shape[1])[None, :] < sizes[blocks][:, None]
        kk, jj = np.nonzero(valid)
        self.Gc = sp.csr_matrix((rows[kk, jj], (kk, self.offsets[blocks[kk]] + jj)),
                                shape=(self.K, D))
        self.padded, slot = padded_rows(rows, blocks, m)
        self.row_at = (blocks, slot)
        # the valid (a, b) entries of each block's d_j x d_j square
        bj, ba, bb = np.nonzero((np.arange(rows.shape[1])[None, :, None] < sizes[:, None, None])
                                & (np.arange(rows.shape[1])[None, None, :]
                                   < sizes[:, None, None]))
        self.square = (bj, ba, bb, self.offsets[bj] + ba, self.offsets[bj] + bb)


    def G(self, dz, dt):
        return -(self.Gc @ dz), -np.concatenate([dz, dt])[self.var]

    def GT(self, v_l, v_q):
        back = -v_q[self.inv_var]
        return back[: self.D] - self.Gc.T @ v_l, back[self.D:]

    def residuals(self, z, t, s_l, s_q, y_l, y_q):
        r"""Dual residual ``P x + q + G^T y``, primal residual ``G x + s`` and the
        objective :math:`\tfrac12 z^THz - c^Tz + \beta\sum_j t_j` (one product with ``H``)."""
        gz, gt = self.GT(y_l, y_q)
        g_l, g_q = self.G(z, t)
        Hz = self.H @ z
        cost = 0.5 * float(z @ Hz) - float(self.c @ z) + self.beta * float(t.sum())
        return Hz - self.c + gz, self.beta + gt, s_l + g_l, s_q + g_q, cost

    def normal_matrix(self, d_l: np.ndarray, soc_pairs: np.ndarray) -> np.ndarray:
        r""":math:`P + G^TDG`: ``H`` plus the block-diagonal row and cone parts."""
        D, m = self.D, self.m
        N = np.zeros((D + m, D + m))
        N[:D, :D] = self.H
        dp = np.zeros(self.padded.shape[:2])
        dp[self.row_at] = d_l
        blocks = np.matmul(self.padded.transpose(0, 2, 1), self.padded * dp[:, :, None])
        bj, ba, bb, gi, gk = self.square
        N[gi, gk] += blocks[bj, ba, bb]
        cones = self.cones
        N[self.var[cones.pair_p], self.var[cones.pair_q]] += soc_pairs
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
                        blocks: np.ndarray, sizes: np.ndarray, *, tol: float = 1e-9,
                        max_iter: int = 100, time_limit: float | None = None
                        ) -> GroupConeResult:
    r"""Solve :math:`\min \tfrac12 z^THz - c^Tz + \beta\sum_j\|z_j\|` subject to
    :math:`a_k^Tz_{b(k)} \ge 0` by a primal-dual interior-point method.

    Parameters
    ----------
    H : ndarray, shape (D, D)
        Positive semidefinite; block ``j`` occupies its ``sizes[j]`` entries after the
        blocks before it.
    c : ndarray, shape (D,)
    beta : float
    rows : ndarray, shape (K, max(sizes))
        The inequality rows :math:`a_k` in their block's coordinates (zero-padded).
    blocks : ndarray of int, shape (K,)
        The block :math:`b(k)` of each row.
    sizes : ndarray of int, shape (m,)
        Block sizes :math:`d_j \ge 1`.
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
    sizes = np.asarray(sizes, dtype=int)
    if sizes.size == 0:  # no blocks: z = () is the only point
        return GroupConeResult(z=np.zeros(0), mu=np.zeros(len(rows)), status="solved",
                               iterations=0, gap=0.0, merit=0.0)
    pr = _Problem(H, c, beta, np.asarray(rows, dtype=float), np.asarray(blocks, dtype=int),
                  sizes)
    D, K, m, cones = pr.D, pr.K, pr.m, pr.cones
    deg = K + m  # the barrier degree: one per nonnegative row and per second-order cone
    qnorm = max(float(np.linalg.norm(c)), beta * math.sqrt(m), 1.0)

    # start: the solution with identity scaling, shifted into the cones
    eye_pairs = (cones.pair_p == cones.pair_q).astype(float)
    F = _factor(lambda: pr.normal_matrix(np.ones(K), eye_pairs))
    x = sla.cho_solve(F, np.concatenate([c, -np.full(m, beta)]), check_finite=False)
    z, t = x[:D], x[D:]
    gl, gq = pr.G(z, t)
    s_l, s_q = -gl, -gq
    y_l, y_q = gl.copy(), gq.copy()
    for s_lin, s_soc in ((s_l, s_q), (y_l, y_q)):
        low = min(float(s_lin.min(initial=math.inf)), float(cones.min_eig(s_soc).min()))
        if low <= 0:
            s_lin += 1.0 - low
            s_soc[cones.heads] += 1.0 - low
    best = (math.inf, z, y_l, math.inf)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # a diverging iterate turns non-finite, which the merit check maps to a status
        status, it, best = _iterate(pr, tol, max_iter, time_limit, t0, deg, qnorm,
                                    (z, t, s_l, s_q, y_l, y_q), best)
    merit, z, y_l, rel_gap = best
    if status in ("stalled", "numerical_error"):
        status = "inaccurate" if merit <= math.sqrt(tol) else "numerical_error"
    return GroupConeResult(z=z, mu=np.maximum(y_l, 0.0), status=status, iterations=it,
                           gap=rel_gap, merit=merit)


def _iterate(pr: _Problem, tol, max_iter, time_limit, t0, deg, qnorm, point, best):
    """Mehrotra predictor-corrector iterations from ``point``; returns the status, the
    iteration count and the best ``(merit, z, y_l, rel_gap)``."""
    z, t, s_l, s_q, y_l, y_q = point
    D, m, cones = pr.D, pr.m, pr.cones
    status, it, since = "max_iterations", 0, 0
    for it in range(1, max_iter + 1):
        rz, rt, rs_l, rs_q, pcost = pr.residuals(z, t, s_l, s_q, y_l, y_q)
        gap = float(s_l @ y_l) + float(s_q @ y_q)
        pres = math.sqrt(float(rs_l @ rs_l) + float(rs_q @ rs_q))
        dres = math.sqrt(float(rz @ rz) + float(rt @ rt)) / qnorm
        rel_gap = gap / max(abs(pcost), 1.0)
        merit = max(pres, dres, rel_gap)
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
        sc = _SOCScaling(cones, s_q, y_q)
        lam_q = sc.apply(y_q)
        try:
            inv2 = sc.inverse_square_pairs()
            F = _factor(lambda: pr.normal_matrix(y_l / s_l, inv2))
        except np.linalg.LinAlgError:
            status = "numerical_error"
            break
        mu = gap / deg

        def direction(ds_l, ds_q):
            # u = lambda \ ds; b = r_s + W u; N dx = -r_x - G^T W^-2 b
            u_l, u_q = ds_l / lam_l, cones.divide(lam_q, ds_q)
            b_l = rs_l + w_l * u_l
            b_q = rs_q + sc.apply(u_q)
            gz, gt = pr.GT(b_l / w_l**2, sc.apply(sc.apply(b_q, inverse=True), inverse=True))
            rhs = np.concatenate([-rz - gz, -rt - gt])
            dx = np.zeros(D + m)
            for _ in range(1 + REFINEMENT_STEPS):
                # the normal equations, and refinement on the first KKT equation's residual
                # (the factor loses digits as the scaling degenerates near the optimum)
                dx = dx + sla.cho_solve(F, rhs, check_finite=False)
                dz, dt = dx[:D], dx[D:]
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
            return min(a, cones.step(s_q, ds_q), cones.step(y_q, dy_q))

        # predictor (affine scaling)
        aff = direction(-lam_l * lam_l, -cones.product(lam_q, lam_q))
        a_aff = min(1.0, step(*aff[2:]))
        gap_aff = (float((s_l + a_aff * aff[2]) @ (y_l + a_aff * aff[4]))
                   + float((s_q + a_aff * aff[3]) @ (y_q + a_aff * aff[5])))
        sigma = min(1.0, max(gap_aff / gap, 0.0)) ** 3
        # corrector: -lam o lam - (W^-1 ds_a) o (W dy_a) + sigma mu e
        ds_l = -lam_l * lam_l - aff[2] * aff[4] + sigma * mu
        ds_q = -cones.product(lam_q, lam_q) - cones.product(sc.apply(aff[3], inverse=True),
                                                           sc.apply(aff[5]))
        ds_q[cones.heads] += sigma * mu
        dz, dt, dsl, dsq, dyl, dyq = direction(ds_l, ds_q)
        a = min(1.0, STEP_FRACTION * step(dsl, dsq, dyl, dyq))
        z, t = z + a * dz, t + a * dt
        s_l, s_q, y_l, y_q = s_l + a * dsl, s_q + a * dsq, y_l + a * dyl, y_q + a * dyq
    return status, it, best
