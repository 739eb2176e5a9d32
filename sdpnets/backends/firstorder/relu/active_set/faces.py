r"""Faces of the pattern cones: the reduced ReLU program restricted to the rows a solution
touches, where it is smooth and Newton's method solves it to rounding error.

At an optimum of the cone-constrained program most nonzero blocks :math:`z_j` sit on a
low-dimensional face of their cone :math:`\{z : a_k^Tz \ge 0,\ k \in \text{rows of } j\}`
(docs/design_notes.md). With the tight rows :math:`\mathcal E_j` held as equalities,
:math:`z_j = N_jx_j` (:math:`N_j` an orthonormal basis of the null space of the rows of
:math:`\mathcal E_j`) and the program becomes

.. math::

    \min_x\; \tfrac12 x^T N^THN x - c^TNx + \beta\sum_j \|x_j\|_2 ,

smooth wherever no :math:`x_j` vanishes. Its minimizer is the reduced program's exactly
when the other kept rows hold and the multipliers of :math:`\mathcal E_j` (least squares
on the stationarity condition :math:`(Hz - c)_j + \beta z_j/\|z_j\| = \sum_{k \in
\mathcal E_j}\mu_k a_k`) are nonnegative; both are checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .group_cone_ipm import padded_rows, solve_group_cone_qp

__all__ = ["face_bases", "newton_on_faces", "nonnegative_fit", "polish",
           "equality_multipliers", "solve_on_faces", "FaceSolve", "row_sums"]

#: Relative singular-value cut for the rank of a block's tight rows.
RANK_TOL = 1e-10

#: Newton iterations of :func:`newton_on_faces`.
NEWTON_STEPS = 30

#: Blocks at most this times the largest are zero (an interior-point solution's zero
#: blocks are small, not zero).
ZERO_BLOCK = 1e-6

#: A row of a nonzero block is held as an equality when its slack is at most this times
#: the block's largest row product (and its multiplier outweighs its slack).
TIGHT = 1e-7

#: Working-set corrections of :func:`polish` before it gives up.
POLISH_TRIES = 12

#: An equality row is released when its multiplier is below minus this times the largest.
RELEASE = 1e-9


def face_bases(rows: np.ndarray, blocks: np.ndarray, m: int, h: int,
               live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""The block-diagonal basis :math:`N` (``m h x D``) of the faces: for each ``live``
    block the null space of its tight ``rows`` (``blocks`` gives each row's block), no
    column for the others. Returns ``N`` and the block of each column."""
    pad, _ = padded_rows(rows, blocks, m)
    _, sv, vt = np.linalg.svd(pad, full_matrices=True)  # vt: (m, h, h)
    top = np.maximum(sv[:, :1], 1e-300)
    rank = np.sum(sv > RANK_TOL * top, axis=1) if sv.size else np.zeros(m, dtype=int)
    rank = np.where(np.abs(pad).max(axis=(1, 2)) > 0, rank, 0)
    free = (np.arange(h)[None, :] >= rank[:, None]) & live[:, None]  # (block, vt row)
    jb, kv = np.nonzero(free)
    N = np.zeros((m * h, jb.size))
    rows_idx = (jb[:, None] * h + np.arange(h)).ravel()
    N[rows_idx, np.repeat(np.arange(jb.size), h)] = vt[jb, kv].ravel()
    return N, jb


def equality_multipliers(grad: np.ndarray, rows: np.ndarray, blocks: np.ndarray, m: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    r"""Multipliers :math:`\mu` with :math:`\sum_{k \in \mathcal E_j} \mu_k a_k = g_j` per
    block (``grad`` ``(m, h)``): least squares (batched pseudo-inverse), and for the blocks
    where that solution has a negative entry, nonnegative least squares (tight rows are
    often degenerate, more than the face's codimension, and the minimum-norm solution is
    then not the nonnegative one). Returns ``mu`` (one per row) and the residual norm of
    each block."""
    from scipy.optimize import nnls

    pad, slot = padded_rows(rows, blocks, m)
    sol = (np.linalg.pinv(pad.transpose(0, 2, 1)) @ grad[:, :, None])[:, :, 0]  # (m, r_max)
    resid = np.linalg.norm(np.einsum("jrh,jr->jh", pad, sol) - grad, axis=1)
    count = np.bincount(blocks, minlength=m)
    for j in np.flatnonzero((sol < 0).any(axis=1)):  # the few degenerate blocks
        k = count[j]
        x, r = nnls(pad[j, :k].T, grad[j])
        if r <= resid[j] + 1e-12 * max(float(np.linalg.norm(grad[j])), 1e-300):
            sol[j, :k], resid[j] = x, r
    return sol[blocks, slot], resid


def newton_on_faces(H: np.ndarray, c: np.ndarray, beta: float, N: np.ndarray,
                    col_block: np.ndarray, z0: np.ndarray) -> np.ndarray | None:
    r"""Newton's method with backtracking on the face program from the projection of
    ``z0`` (``m h``); a block that vanishes is fixed at zero. Returns ``z = N x``, or
    ``None`` when a Newton system is singular."""
    D = N.shape[1]
    if D == 0:
        return None
    Hr = N.T @ (H @ N)
    cr = N.T @ c
    x = N.T @ z0
    # column groups: one per live block
    _, grp = np.unique(col_block, return_inverse=True)
    ng = int(grp.max()) + 1
    same = grp[:, None] == grp[None, :]

    def value(x):
        norms = np.sqrt(np.bincount(grp, weights=x * x, minlength=ng))
        return 0.5 * float(x @ (Hr @ x)) - float(cr @ x) + beta * float(norms.sum()), norms

    f, norms = value(x)
    scale = max(float(np.abs(cr).max(initial=0.0)), beta, 1e-300)
    for _ in range(NEWTON_STEPS):
        # a block that vanishes leaves the face program (it is not smooth there)
        dead = norms <= 1e-12 * max(float(norms.max(initial=0.0)), 1e-300)
        alive = ~dead[grp]
        if not alive.any():
            return np.zeros(N.shape[0])
        x[~alive] = 0.0
        nx = np.maximum(norms[grp], 1e-300)
        u = x / nx
        g = np.where(alive, Hr @ x - cr + beta * u, 0.0)
        if float(np.abs(g).max()) <= 1e-15 * scale:
            break
        K = Hr + beta * same * (np.eye(D) - np.outer(u, u)) / nx[:, None]
        step = np.zeros(D)
        try:
            step[alive] = np.linalg.solve(K[np.ix_(alive, alive)], -g[alive])
        except np.linalg.LinAlgError:
            return None
        t, slope = 1.0, float(g @ step)
        while t > 1e-10:
            f_new, n_new = value(x + t * step)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            break  # no decrease left: at rounding level
        x, f, norms = x + t * step, f_new, n_new
    return N @ x


@dataclass
class FaceSolve:
    """Outcome of :func:`solve_on_faces`: blocks ``z`` ``(m, h)``, multipliers ``mu`` of
    every row (least squares for the equality rows, clipped at zero), the interior-point
    ``status`` and ``iterations``, and the equality rows for the next solve."""

    z: np.ndarray
    mu: np.ndarray
    status: str
    iterations: int
    equal: np.ndarray


def local_bases(N: np.ndarray, col_block: np.ndarray, m: int, h: int) -> np.ndarray:
    """Each block's columns of the block-diagonal ``N``, ``(m, h, d_max)`` zero-padded."""
    sizes = np.bincount(col_block, minlength=m)
    offsets = np.cumsum(sizes) - sizes
    local = np.arange(col_block.size) - offsets[col_block]
    out = np.zeros((m, h, max(int(sizes.max(initial=0)), 1)))
    out[col_block, :, local] = N.reshape(m, h, -1)[col_block, :, np.arange(col_block.size)]
    return out


def solve_on_faces(H: np.ndarray, c: np.ndarray, beta: float, rows: np.ndarray,
                   blocks: np.ndarray, equal: np.ndarray, m: int, h: int, *, tol: float,
                   time_limit: float | None, hold: bool = True) -> FaceSolve:
    r"""The reduced program with the rows ``equal`` held as equalities: the interior-point
    method of :mod:`.group_cone_ipm` on the faces :math:`z_j = N_jx_j` (blocks whose face
    is ``{0}`` are left out), the other rows as inequalities. Equality rows whose
    least-squares multipliers come out negative are released for the next solve; rows of
    nonzero blocks that end tight (slack at most :data:`TIGHT` of the block's largest row
    product, multiplier outweighing slack) are held when ``hold``."""
    ineq = ~equal
    if equal.any():
        N, col_block = face_bases(rows[equal], blocks[equal], m, h, np.ones(m, dtype=bool))
        sizes = np.bincount(col_block, minlength=m)
        Hr, cr = N.T @ (H @ N), N.T @ c
        Nloc = local_bases(N, col_block, m, h)
        pad, slot = padded_rows(rows[ineq], blocks[ineq], m)
        local_rows = np.matmul(pad, Nloc)[blocks[ineq], slot]
    else:
        N, sizes, Hr, cr, local_rows = None, np.full(m, h), H, c, rows
    present = sizes > 0
    keep = present[blocks] & ineq
    index = np.cumsum(present) - 1
    sub = keep[ineq]
    sol = solve_group_cone_qp(Hr, cr, beta, local_rows[sub], index[blocks[keep]],
                              sizes[present], tol=tol, time_limit=time_limit)
    z = (sol.z if N is None else N @ sol.z).reshape(m, h)
    mu = np.zeros(rows.shape[0])
    mu[keep] = sol.mu
    slack = np.einsum("kh,kh->k", rows, z[blocks])
    zn = np.linalg.norm(z, axis=1)
    live = zn > ZERO_BLOCK * max(float(zn.max(initial=0.0)), 1e-300)
    if equal.any():
        grad = _smooth_gradient(H, c, beta, z)
        grad -= row_sums(mu[keep, None] * rows[keep], blocks[keep], m)
        grad[~live] = 0.0
        mu_e, _ = equality_multipliers(grad, rows[equal], blocks[equal], m)
        mu[equal] = np.maximum(mu_e, 0.0)
        scale = max(float(mu.max(initial=0.0)), 1e-300)
        released = np.flatnonzero(equal)[(mu_e < -RELEASE * scale) | ~live[blocks[equal]]]
    else:
        released = np.zeros(0, dtype=int)
    small, dominant = _tightness(slack, mu, blocks, m)
    tight = ineq & live[blocks] & small & dominant
    nxt = equal | (tight & hold)
    nxt[released] = False
    return FaceSolve(z=z, mu=mu, status=sol.status, iterations=sol.iterations, equal=nxt)


def _smooth_gradient(H: np.ndarray, c: np.ndarray, beta: float, Z: np.ndarray) -> np.ndarray:
    r"""Per block, :math:`(Hz - c)_j + \beta z_j/\|z_j\|` (the objective's gradient where
    :math:`z_j \ne 0`; its caller zeroes the rows of zero blocks), ``(m, h)``."""
    norms = np.linalg.norm(Z, axis=1)
    return (H @ Z.ravel() - c).reshape(Z.shape) + beta * Z / np.maximum(norms, 1e-300)[:, None]


def nonnegative_fit(bases: np.ndarray, rows: np.ndarray, blocks: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    r"""For each block ``j`` (row ``j`` of ``bases``, ``(J, h)``),
    :math:`\min_{\mu \ge 0}\|b_j + \sum_{k: b(k) = j}\mu_k a_k\|` over its ``rows`` by
    nonnegative least squares: the exact distance to the polar of the cone those rows
    define. Returns the norms ``(J,)`` and ``mu`` (one per row)."""
    from scipy.optimize import nnls

    J = bases.shape[0]
    pad, slot = padded_rows(rows, blocks, J)
    count = np.bincount(blocks, minlength=J)
    sol = np.zeros(pad.shape[:2])
    norms = np.linalg.norm(bases, axis=1)
    for j in np.flatnonzero(count):  # one small problem per block of the working set
        sol[j, :count[j]], norms[j] = nnls(pad[j, :count[j]].T, -bases[j])
    return norms, sol[blocks, slot]


def _tightness(slack: np.ndarray, mu: np.ndarray, blocks: np.ndarray, m: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: slack at most :data:`TIGHT` of its block's largest row product, and
    multiplier outweighing slack (each relative to its largest value over the rows)."""
    size = np.zeros(m)
    np.maximum.at(size, blocks, np.abs(slack))
    small = slack <= TIGHT * size[blocks]
    dominant = (mu / max(float(mu.max(initial=0.0)), 1e-300)
                > slack / max(float(np.abs(slack).max(initial=0.0)), 1e-300))
    return small, dominant


def row_sums(vals: np.ndarray, blocks: np.ndarray, m: int) -> np.ndarray:
    """Sum of the rows of ``vals`` ``(K, h)`` per block ``blocks`` (``(m, h)``)."""
    out = np.zeros((m, vals.shape[1]))
    np.add.at(out, blocks, vals)
    return out


def polish(H: np.ndarray, c: np.ndarray, beta: float, rows: np.ndarray, blocks: np.ndarray,
           z: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Polish an interior-point solution ``z`` ``(m, h)`` of the reduced program (rows
    ``rows`` of blocks ``blocks``, multipliers ``mu``) by :func:`newton_on_faces` on the
    faces it touches: its nonzero blocks, with the rows whose slack is below
    :data:`TIGHT` of the block's largest row product or whose multiplier outweighs their
    slack held as equalities. Rows the result violates become equalities, and the
    equality with the most negative multiplier is released, as in a primal active-set
    method (:data:`POLISH_TRIES` tries). Returns
    ``(z, mu)`` when the result is feasible, its multipliers are nonnegative and its
    objective is not above ``z``'s, else ``None``."""
    m, h = z.shape
    zn = np.linalg.norm(z, axis=1)
    live = zn > ZERO_BLOCK * max(float(zn.max(initial=0.0)), 1e-300)
    slack = np.einsum("kh,kh->k", rows, z[blocks])
    small, dominant = _tightness(slack, mu, blocks, m)
    tight = live[blocks] & (small | dominant)

    def value(v, nrm):
        return 0.5 * float(v @ (H @ v)) - float(c @ v) + beta * float(nrm.sum())
    start = value(z.ravel(), zn)
    for _ in range(POLISH_TRIES):
        N, col_block = face_bases(rows[tight], blocks[tight], m, h, live)
        zp = newton_on_faces(H, c, beta, N, col_block, z.ravel())
        if zp is None:
            return None
        Zp = zp.reshape(m, h)
        s_new = np.einsum("kh,kh->k", rows, Zp[blocks])
        bad = s_new < -1e-12 * max(float(np.abs(s_new).max(initial=0.0)), 1e-300)
        if bad.any():  # rows the face point violates: held too
            tight |= bad
            continue
        norms = np.linalg.norm(Zp, axis=1)
        live = live & (norms > 0)  # blocks Newton fixed at zero leave the faces
        tight &= live[blocks]
        full = _smooth_gradient(H, c, beta, Zp)  # (H z - c)_j on the zero blocks
        grad = np.where(live[:, None], full, 0.0)
        mu_e, resid = equality_multipliers(grad, rows[tight], blocks[tight], m)
        scale = max(float(np.abs(grad).max(initial=0.0)), beta)
        if float(resid.max(initial=0.0)) > 1e-8 * scale:
            return None
        if mu_e.size and mu_e.min() < -1e-9 * max(float(mu.max(initial=0.0)), 1e-300):
            tight[np.flatnonzero(tight)[np.argmin(mu_e)]] = False  # the most negative goes
            continue
        # zero blocks: optimal only if min_{mu >= 0} ||grad_j - A_j^T mu|| <= beta
        zero = np.flatnonzero(~live)
        if zero.size:
            on = np.isin(blocks, zero)
            local = np.searchsorted(zero, blocks[on])
            dist, _ = nonnegative_fit(-full[zero], rows[on], local)
            wrong = zero[dist > beta * (1.0 + 1e-9)]
            if wrong.size:  # blocks that should not be zero: back on their full space
                live[wrong] = True
                continue
        if value(zp, norms) > start + 1e-14 * abs(start):
            return None
        mu_new = np.where(live[blocks], 0.0, mu)
        mu_new[tight] = np.maximum(mu_e, 0.0)
        return Zp, mu_new
    return None
