r"""The hyperplane arrangement of the data's rows: its cells, counted and enumerated.

For data :math:`X \in \mathbb{R}^{n \times d}` every gate :math:`g` has the activation
pattern :math:`1[Xg \ge 0]`; the patterns of gates in the open cells of the arrangement
:math:`\{g : x_i^T g = 0\}` are the ``D_i`` of the ReLU programs (docs/relu.md sections
4a-4b). With ``r = rank X`` and ``m`` distinct hyperplanes (rows up to a non-zero scale)
there are at most

.. math::

    P_{\max} = 2 \sum_{k=0}^{r-1} \binom{m - 1}{k}

cells (:func:`max_pattern_count`, :func:`arrangement_info`), with equality exactly when the
hyperplanes are in general position.

:func:`enumerate_cells` finds every cell exactly: each cell of an essential central
arrangement is a pointed cone, so it touches an extreme ray ``t`` where ``r - 1``
independent hyperplanes meet. For every ``(r-1)``-subset ``S`` of rows the null direction
``t`` of ``X_S`` is perturbed into each of the ``2^(r-1)`` sign orthants of ``S`` (both
signs of ``t``, :func:`_general_rays`) by a step too small to flip any other row. Where
more than ``r - 1`` hyperplanes meet in ``t`` (rows not in general position) the cells
around ``t`` are those of the smaller arrangement of those rows, found recursively
(:func:`_around_degenerate_ray`); one gate is kept per cell (:func:`_one_per_cell`).
Duplicate, parallel and zero rows are merged before enumeration and reported.

In the plane (``r = 2``) the ``m`` lines cut it into exactly ``2m`` cones: sorting the
``2m`` ray angles :math:`\operatorname{atan2}(b_2, b_1) \pm \pi/2`, the bisector of two
consecutive rays lies strictly inside one cell (:func:`planar_gate_angles`), and a row at
angle :math:`\phi` is active exactly for the gates within :math:`\pi/2` of
:math:`\phi`, a circular interval found by binary search (:func:`planar_masks`):
``O((n + m) log m)`` plus writing the ``n x 2m`` patterns.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from numbers import Real

import numpy as np

from .._validate import check_data, check_int
from ..errors import InvalidInputError, ProblemTooLargeError

logger = logging.getLogger(__name__)

__all__ = [
    "ArrangementInfo",
    "Cells",
    "arrangement_info",
    "max_pattern_count",
    "unique_patterns",
    "enumerate_cells",
    "check_tol",
    "planar_gate_angles",
    "planar_masks",
    "MAX_CANDIDATE_GATES",
]

#: Enumeration examines ``C(m, r-1) 2^(r-1)`` candidate gates (``m`` hyperplanes of rank
#: ``r``); more than this is refused up front (about a minute of work).
MAX_CANDIDATE_GATES = 20_000_000

TWO_PI = 2.0 * np.pi


# --- counting ------------------------------------------------------------------------------


def max_pattern_count(m: int, r: int) -> int:
    r""":math:`2\sum_{k<r}\binom{m-1}{k}`: cells of ``m`` central hyperplanes in general
    position in :math:`\mathbb{R}^r` (an upper bound for any ``m`` hyperplanes of rank ``r``)."""
    if m <= 0 or r <= 0:
        return 1
    return 2 * sum(math.comb(m - 1, k) for k in range(min(r, m)))


def _canonical_rows(X: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct hyperplanes of the rows of ``X``.

    Returns ``(H, index, sign)``: unit normals ``H`` (one per distinct hyperplane, zero
    rows excluded), and for each row of ``X`` the index of its hyperplane (``-1`` for a zero
    row) and the sign relating them (``x_i = sign_i * |x_i| * H[index_i]``).
    """
    norms = np.linalg.norm(X, axis=1)
    scale = norms.max(initial=0.0)
    nonzero = norms > tol * max(scale, 1e-300)
    index = np.full(X.shape[0], -1)
    sign = np.ones(X.shape[0])
    if not np.any(nonzero):
        return np.zeros((0, X.shape[1])), index, sign
    unit = X[nonzero] / norms[nonzero, None]
    # canonical sign: first clearly non-zero coordinate positive
    first = np.argmax(np.abs(unit) > 1e-8, axis=1)
    s = np.sign(unit[np.arange(unit.shape[0]), first])
    s[s == 0] = 1.0
    unit = unit * s[:, None]
    digits = max(1, int(-np.log10(max(tol, 1e-15))) - 1)
    key = np.round(unit, digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    _, first_idx, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    H = unit[first_idx]
    index[nonzero] = inverse.ravel()
    sign[nonzero] = s
    return H, index, sign


@dataclass(frozen=True)
class ArrangementInfo:
    """Sizes of the hyperplane arrangement of the rows of ``X`` (see :func:`arrangement_info`)."""

    n: int
    rank: int
    hyperplanes: int
    zero_rows: int
    repeated_rows: int
    max_cells: int


def check_tol(tol) -> float:
    """The pattern helpers' relative tolerance: a real number in ``(0, 1e-2]``."""
    if isinstance(tol, bool) or not isinstance(tol, Real) or not 0 < float(tol) <= 1e-2:
        raise InvalidInputError(
            f"tol must be a number with 0 < tol <= 1e-2 (a relative tolerance for rank, "
            f"parallel rows and concurrent hyperplanes), got {tol!r}."
        )
    return float(tol)


def _masks(X: np.ndarray, G: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """``X G >= 0`` computed ``chunk`` gates at a time (no ``n x P`` float temporary);
    returned as the transpose of a C-ordered ``(P, n)`` array (each pattern contiguous)."""
    out = np.empty((G.shape[1], X.shape[0]), dtype=bool)
    for start in range(0, G.shape[1], chunk):
        out[start:start + chunk] = G[:, start:start + chunk].T @ X.T >= 0
    return out.T


def arrangement_info(X, tol: float = 1e-10) -> ArrangementInfo:
    """Rank, number of distinct hyperplanes and the cell bound :math:`P_{\\max}` of ``X``.

    ``repeated_rows`` counts rows whose hyperplane equals an earlier row's (duplicates or
    parallel rows); ``zero_rows`` rows that are zero (always active, ``0 >= 0``).
    """
    X = check_data(X)
    tol = check_tol(tol)
    H, index, _ = _canonical_rows(X, tol)
    r = _rank(H, tol)
    zero = int(np.sum(index < 0))
    return ArrangementInfo(
        n=X.shape[0],
        rank=r,
        hyperplanes=H.shape[0],
        zero_rows=zero,
        repeated_rows=X.shape[0] - zero - H.shape[0],
        max_cells=max_pattern_count(H.shape[0], r),
    )


def _rank(A: np.ndarray, tol: float) -> int:
    """Numerical rank (the rule :func:`_cell_gates` uses; applied to the unit normals, so
    that the bound, the message and the enumeration agree)."""
    if A.size == 0:
        return 0
    s = np.linalg.svd(A, compute_uv=False)
    return int(np.sum(s > tol * max(s[0], 1e-300) * max(A.shape)))


# --- exact enumeration -----------------------------------------------------------------------


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


@dataclass(frozen=True)
class Cells:
    """Every cell of an arrangement, as :func:`enumerate_cells` found them.

    Attributes
    ----------
    masks : ndarray of bool, shape (n, P)
        The distinct non-zero patterns, one per column.
    gates : ndarray, shape (d, P)
        A unit gate strictly inside the cell of each pattern.
    count : int
        Number of cells (the all-zero cell included when it exists).
    bound : int
        The bound :math:`P_{\\max}` over the distinct hyperplanes.
    general_position : bool
        Whether the ``n`` rows are in general position (the count equals
        :math:`2\\sum_{k<r}\\binom{n-1}{k}`).
    detail : str
        The count and what merged or degenerate rows did to it, in words.
    """

    masks: np.ndarray
    gates: np.ndarray
    count: int
    bound: int
    general_position: bool
    detail: str


def enumerate_cells(X, max_patterns: int, tol: float = 1e-10) -> Cells:
    """Every full-dimensional cell of the arrangement of ``X``'s rows (docs/relu.md section 4b),
    refused with :class:`~sdpnets.ProblemTooLargeError` when the bound :math:`P_{\\max}`
    exceeds ``max_patterns``. Hyperplanes within about ``tol`` (relative) of being
    dependent, parallel or (``10 tol``) of passing through a common ray are treated as
    exactly so: cells thinner than that are merged, which is the numerical meaning of
    "every cell" here (the parameters of :func:`sdpnets.enumerate_patterns`, which wraps
    this in a :class:`~sdpnets.PatternSet`). ``general_position`` is ``False`` when rows are
    zero, repeated or parallel, or when more than ``r - 1`` hyperplanes meet in a ray
    (``detail`` says which).
    """
    X = check_data(X)
    max_patterns = check_int(max_patterns, "max_patterns", minimum=1)
    tol = check_tol(tol)
    n, d = X.shape
    H, index, sign = _canonical_rows(X, tol)
    r = _rank(H, tol)
    m = H.shape[0]
    bound = max_pattern_count(m, r)
    if bound > max_patterns:
        raise ProblemTooLargeError(
            f"exhaustive enumeration of activation patterns would give up to {bound:,} "
            f"patterns (n={n}, rank {r}, {m} distinct hyperplanes), more than "
            f"max_patterns={max_patterns:,}. Sample gates instead (patterns=1000, seed=0): "
            f"the result is then an upper bound on the optimum; or raise max_patterns."
        )
    candidates = math.comb(m, r - 1) * 2 ** (r - 1) if r > 2 else 2 * m
    if candidates > MAX_CANDIDATE_GATES:
        raise ProblemTooLargeError(
            f"exhaustive enumeration would examine {candidates:,} candidate gates "
            f"(C({m}, {r - 1}) subsets of rows times 2^{r - 1} sign patterns), more than "
            f"{MAX_CANDIDATE_GATES:,} (about a minute); sample gates instead "
            "(patterns=1000, seed=0)."
        )
    if m == 0:
        G = np.zeros((d, 1))
    elif r == 2:  # a line arrangement: sort by angle, one gate per cell by construction
        plane = np.linalg.svd(H, full_matrices=False)[2][:2].T  # (d, 2) basis of the rows
        psi = planar_gate_angles(H @ plane)
        G = plane @ np.stack([np.cos(psi), np.sin(psi)])
    else:
        G = _cell_gates(H, tol)
    if r != 2:
        # one gate per distinct pattern of the distinct hyperplanes, strictly inside its cell
        HG = H @ G
        full = np.all(np.abs(HG) > 0, axis=0)
        G = G[:, full]
        cell_masks = H @ G >= 0 if m else np.ones((0, G.shape[1]), dtype=bool)
        _, keep = unique_patterns(cell_masks, drop_zero=False) if m else (None, np.array([0]))
        G = G[:, keep]
    cells = G.shape[1]
    # the n rows are in general position iff none is zero or parallel to another and the
    # distinct hyperplanes reach the bound
    bound_rows = max_pattern_count(n, r)
    general = m == n and cells == bound_rows
    G = G / np.maximum(np.linalg.norm(G, axis=0, keepdims=True), 1e-300)
    if r == 2:  # distinct cells of distinct hyperplanes: distinct masks; drop the zero one
        masks = planar_masks(X @ plane, psi)
        kept = np.flatnonzero(masks.any(axis=0))
        if kept.size < masks.shape[1]:
            masks = masks[:, kept]
    else:
        masks, kept = unique_patterns(_masks(X, G))
    zero, repeated = int(np.sum(index < 0)), n - int(np.sum(index < 0)) - m
    formula = f"2 sum_(k<{r}) C({n - 1}, k)"
    if general:
        detail = f"rows in general position: {cells} cells = {formula}"
    else:
        cmp = "<" if cells < bound_rows else "="
        detail = f"rows not in general position: {cells} cells {cmp} {formula} = {bound_rows}"
        if zero or repeated:
            detail += (
                f"; {repeated} repeated/parallel and {zero} zero rows merged, leaving {m} "
                f"distinct hyperplanes (at most {bound} cells)"
            )
        if cells < bound:
            detail += (
                f"; more than {r - 1} hyperplanes meet in some ray (degenerate intersections, "
                "enumerated exactly)"
            )
    return Cells(masks=masks, gates=G[:, kept], count=cells, bound=bound,
                 general_position=general, detail=detail)


# --- the rays of the arrangement --------------------------------------------------------------


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


# --- the plane ---------------------------------------------------------------------------


def planar_gate_angles(B: np.ndarray) -> np.ndarray:
    """Angles (sorted, in ``[0, 2 pi)``) of one gate strictly inside each of the ``2m``
    cells of the lines with normals ``B`` (``(m, 2)``, pairwise non-parallel, ``m >= 1``)."""
    along = np.mod(np.arctan2(B[:, 1], B[:, 0]) + 0.5 * np.pi, np.pi)  # in [0, pi)
    rays = np.sort(np.concatenate([along, along + np.pi]))  # 2m angles in [0, 2 pi)
    following = np.append(rays[1:], rays[0] + TWO_PI)
    return np.sort(np.mod(0.5 * (rays + following), TWO_PI))


def planar_masks(X2: np.ndarray, psi: np.ndarray) -> np.ndarray:
    r"""Patterns :math:`1[x_i^T g_k \ge 0]`, ``(n, P)``, of rows ``X2`` (``(n, 2)``) and the
    gates at the sorted angles ``psi`` (no row orthogonal to a gate, as for gates inside
    cells). A zero row is active for every gate."""
    n, P = X2.shape[0], psi.size
    phi = np.arctan2(X2[:, 1], X2[:, 0])
    start = np.searchsorted(psi, np.mod(phi - 0.5 * np.pi, TWO_PI), side="left")
    stop = np.searchsorted(psi, np.mod(phi + 0.5 * np.pi, TWO_PI), side="right")
    rows = np.arange(n)
    steps = np.zeros((n, P + 1), dtype=np.int8)  # +1 where a row's interval starts, -1 ends
    np.add.at(steps, (rows, start), 1)
    np.add.at(steps, (rows, stop), -1)
    np.add.at(steps, (rows[stop < start], 0), 1)  # the interval wraps past 2 pi
    masks = np.cumsum(steps[:, :P], axis=1, dtype=np.int8) > 0
    masks[~np.any(X2 != 0, axis=1)] = True
    return masks
