r"""The rays of a hyperplane arrangement, one gate per full-dimensional cell.

Small pure functions behind :func:`sdpnets.patterns.enumerate_patterns`: for every
``(r-1)``-subset of rows the null direction of that subset, perturbed into each sign orthant
of the subset (:func:`_general_rays`), with the degenerate rays of nearly concurrent
hyperplanes handled apart (:func:`_around_degenerate_ray`), then one gate kept per cell
(:func:`_one_per_cell`).
"""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np

logger = logging.getLogger("sdpnets.patterns")


def unique_patterns(masks: np.ndarray, drop_zero: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Distinct columns of a boolean ``(n, P)`` array, in order of first appearance.

    Returns the de-duplicated masks and the indices of the kept columns. The all-zero
    column is dropped when ``drop_zero``.
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.shape[1] == 0:
        return masks, np.zeros(0, dtype=int)
    # (P, ceil(n/8)) bytes, one row per pattern, packed along contiguous memory
    packed = np.packbits(np.ascontiguousarray(masks.T), axis=1)
    _, first = np.unique(packed, axis=0, return_index=True)
    first = np.sort(first)
    if drop_zero:
        first = first[masks[:, first].any(axis=0)]
    return masks[:, first], first


# --- exact enumeration -----------------------------------------------------------------------


#: Floats per vectorized batch of subsets during enumeration (bounds memory: each batch's
#: gates are reduced to one per cell before the next batch).
_BATCH_FLOATS = 1 << 21


def _cell_gates(B: np.ndarray, tol: float) -> np.ndarray:
    """A gate strictly inside every cell of the central arrangement with unit normals ``B``.

    ``B`` is ``(m, k)`` with pairwise non-parallel non-zero rows. Returns ``(k, C)`` gates
    ``g`` with ``B g`` free of zeros, one per cell (possibly repeated).
    """
    m, k = B.shape
    if m == 0:
        return np.zeros((k, 1))
    # work in the row space of B (coordinates V_r)
    _, s, Vt = np.linalg.svd(B, full_matrices=False)
    r = int(np.sum(s > tol * s[0] * max(B.shape)))
    Vr = Vt[:r].T  # (k, r)
    Bc = B @ Vr  # (m, r)
    if r == 1:
        b = Bc[0] / np.linalg.norm(Bc[0])
        return Vr @ np.stack([b, -b], axis=1)
    return Vr @ _general_rays(Bc, r, tol)


def _one_per_cell(B: np.ndarray, G: np.ndarray) -> np.ndarray:
    """The gates of ``G`` strictly inside a cell of ``B`` (no ``B g = 0`` entry), one per cell."""
    Z = B @ G
    G = G[:, np.all(Z != 0, axis=0)]
    _, keep = unique_patterns(B @ G > 0, drop_zero=False)
    return G[:, keep]


def _general_rays(Bc: np.ndarray, r: int, tol: float) -> np.ndarray:
    """Gates (``(r, C)``) of every cell of the essential arrangement ``Bc`` (``(m, r)``),
    one per cell."""
    m = Bc.shape[0]
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=r - 1)))  # (2^(r-1), r-1)
    found = np.zeros((r, 0))
    degenerate_rays: list[tuple[np.ndarray, float]] = []
    subsets = itertools.combinations(range(m), r - 1)
    batch_size = max(1, _BATCH_FLOATS // (2 * m * signs.shape[0]))
    total, done, reported = math.comb(m, r - 1), 0, 0
    while True:
        batch = np.array(list(itertools.islice(subsets, batch_size)), dtype=int)
        if batch.size == 0:
            break
        done += batch.shape[0]
        if total > 3 * batch_size and 10 * done >= (reported + 1) * total:
            reported = 10 * done // total  # progress of long enumerations, every 10%
            logger.info("enumerating activation patterns: %d of %d row subsets (%d%%), "
                        "%d cells so far", done, total, 100 * done // total, found.shape[1])
        BS = Bc[batch]  # (C, r-1, r)
        _, sv, vt = np.linalg.svd(BS, full_matrices=True)
        independent = sv[:, -1] > tol * max(r, 1) * 10
        batch, BS, sv, vt = batch[independent], BS[independent], sv[independent], vt[independent]
        if batch.size == 0:
            continue
        t = vt[:, -1, :]  # (C, r) null direction of each X_S, unit norm
        z = t @ Bc.T  # (C, m): x_j^T t
        on_tol = _through_tol(tol, sv[:, -1])  # (C,)
        on = np.abs(z) <= on_tol[:, None]
        in_S = np.zeros_like(on)
        np.put_along_axis(in_S, batch, True, axis=1)
        extra = on & ~in_S  # more hyperplanes through t than S
        degenerate = extra.any(axis=1)
        degenerate_rays.extend(zip(t[degenerate], on_tol[degenerate]))
        simple = ~degenerate
        if not np.any(simple):
            continue
        BS, t, z, in_S = BS[simple], t[simple], z[simple], in_S[simple]
        # W = B_S^+ : B_S W = I, so x_j^T (t + eps W s) = eps s_j for j in S
        W = np.linalg.pinv(BS)  # (C, r, r-1)
        H = W @ signs.T  # (C, r, 2^(r-1))
        BH = np.einsum("mr,crq->cmq", Bc, H)  # (C, m, 2^(r-1))
        margin = np.where(in_S, np.inf, np.abs(z)).min(axis=1)  # (C,)
        spread = np.where(in_S[:, :, None], 0.0, np.abs(BH)).max(axis=(1, 2))  # (C,)
        eps = 0.5 * margin / np.maximum(spread, 1e-300)
        eps = np.minimum(eps, 1.0)
        new = [found]
        for sgn in (1.0, -1.0):
            G = sgn * t[:, :, None] + eps[:, None, None] * H  # (C, r, 2^(r-1))
            new.append(G.transpose(1, 0, 2).reshape(r, -1))
        found = _one_per_cell(Bc, np.concatenate(new, axis=1))
    if degenerate_rays:
        rays = np.array([ray for ray, _ in degenerate_rays])
        ray_tols = np.array([rt for _, rt in degenerate_rays])
        lead = np.argmax(np.abs(rays) > 1e-8, axis=1)
        rays = rays * np.sign(rays[np.arange(len(rays)), lead])[:, None]
        _, keep = np.unique(np.round(rays, 10) + 0.0, axis=0, return_index=True)
        found = np.concatenate(
            [found]
            + [_around_degenerate_ray(Bc, rays[i], r, tol, ray_tols[i]) for i in keep],
            axis=1,
        )
        found = _one_per_cell(Bc, found)
    return found


def _through_tol(tol: float, smallest_sv: np.ndarray) -> np.ndarray:
    """How close to a ray ``t`` (unit, from ``r - 1`` unit rows with smallest singular value
    ``smallest_sv``) a unit hyperplane normal must be to count as passing through it:
    ``10 tol``, or the round-off in ``t`` when the rows are ill-conditioned."""
    return np.maximum(10.0 * tol, 1e3 * np.finfo(float).eps / smallest_sv)


def _around_degenerate_ray(
    Bc: np.ndarray, t: np.ndarray, r: int, tol: float, on_tol: float
) -> np.ndarray:
    """Gates of the cells touching the ray ``+-t`` where more than ``r-1`` hyperplanes meet:
    the cells of the local arrangement of those hyperplanes, perturbed off ``t``."""
    z = Bc @ t
    on = np.abs(z) <= on_tol
    local = Bc[on] - np.outer(Bc[on] @ t, t)  # exactly orthogonal to t
    local = local / np.linalg.norm(local, axis=1, keepdims=True)
    H = _cell_gates(local, tol)  # (r, C): cells of the local arrangement (lineality t)
    H = H - np.outer(t, t @ H)
    H = H / np.maximum(np.linalg.norm(H, axis=0, keepdims=True), 1e-300)
    margin = np.abs(z[~on]).min(initial=np.inf)
    spread = np.abs(Bc[~on] @ H).max(initial=0.0)
    eps = min(1.0, 0.5 * margin / spread) if spread > 0 else 1.0
    return np.concatenate([t[:, None] + eps * H, -t[:, None] + eps * H], axis=1)
