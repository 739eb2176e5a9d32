r"""Faces of the pattern cones: the reduced ReLU program restricted to the rows a solution
touches, where it is smooth and Newton's method solves it to rounding error.

At an optimum of the cone-constrained program most nonzero blocks :math:`z_j` sit on a
low-dimensional face of their cone :math:`\{z : a_k^Tz \ge 0,\ k \in \text{rows of } j\}`
(measured on Gaussian data with ``h = 20``: 17 to 19 rows tight per block, faces of
dimension 1 to 3). With the tight rows :math:`\mathcal E_j` held as equalities,
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

import math

import numpy as np

__all__ = ["face_bases", "polish", "equality_multipliers", "padded_rows"]

#: Relative singular-value cut for the rank of a block's tight rows.
RANK_TOL = 1e-10

#: Newton iterations of :func:`polish`.
NEWTON_STEPS = 30


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
    r"""Least-squares :math:`\mu` with :math:`\sum_{k \in \mathcal E_j} \mu_k a_k = g_j` per
    block (``grad`` ``(m, h)``); returns ``mu`` (one per row) and the residual norm of
    each block."""
    pad, slot = padded_rows(rows, blocks, m)
    sol = np.linalg.pinv(pad.transpose(0, 2, 1)) @ grad[:, :, None]  # (m, r_max, 1)
    resid = np.linalg.norm(np.einsum("jrh,jr->jh", pad, sol[:, :, 0]) - grad, axis=1)
    return sol[blocks, slot, 0], resid


def polish(H: np.ndarray, c: np.ndarray, beta: float, N: np.ndarray, col_block: np.ndarray,
           z0: np.ndarray) -> np.ndarray | None:
    r"""Newton's method with backtracking on the face program from the projection of
    ``z0`` (``m h``); returns ``z = N x`` or ``None`` when a block of ``x`` vanishes or the
    iteration does not converge."""
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
        if norms.min(initial=math.inf) <= 1e-12 * max(float(norms.max()), 1e-300):
            return None
        nx = norms[grp]
        u = x / nx
        g = Hr @ x - cr + beta * u
        if float(np.abs(g).max()) <= 1e-15 * scale:
            break
        K = Hr + beta * same * (np.eye(D) - np.outer(u, u)) / nx[:, None]
        try:
            step = np.linalg.solve(K, -g)
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
