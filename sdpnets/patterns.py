r"""Activation patterns of a two-layer ReLU network: the cells of a hyperplane arrangement.

For data :math:`X \in \mathbb{R}^{n \times d}` and a gate :math:`g \in \mathbb{R}^d` the
activation pattern is the boolean vector :math:`1[Xg \ge 0]`. The patterns of gates in the
open cells of the arrangement :math:`\{g : x_i^T g = 0\}` are the ``D_i`` of the convex
program (MATH.md 4a-4b). With ``r = rank X`` and ``m`` distinct hyperplanes (rows up to a
non-zero scale) there are at most

.. math::

    P_{\max} = 2 \sum_{k=0}^{r-1} \binom{m - 1}{k}

cells, with equality exactly when the hyperplanes are in general position.

:func:`enumerate_patterns` finds every cell exactly: each cell of an essential central
arrangement is a pointed cone, so it touches an extreme ray ``t`` where ``r - 1``
independent hyperplanes meet. For every ``(r-1)``-subset ``S`` of rows the null direction
``t`` of ``X_S`` is perturbed into each of the ``2^(r-1)`` sign orthants of ``S`` (both
signs of ``t``) by a step too small to flip any other row. Where more than ``r - 1``
hyperplanes meet in ``t`` (rows not in general position) the cells around ``t`` are those
of the smaller arrangement of those rows, found recursively. Duplicate, parallel and zero
rows are merged before enumeration and reported.

:func:`sample_patterns` draws Gaussian gates (seeded, de-duplicated); a program built on
sampled patterns is only an upper bound on the network optimum unless every cell was found.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ._validate import check_data, check_int
from .errors import InvalidInputError, ProblemTooLargeError

__all__ = [
    "PatternSet",
    "max_pattern_count",
    "arrangement_info",
    "patterns_from_gates",
    "unique_patterns",
    "enumerate_patterns",
    "sample_patterns",
    "resolve_patterns",
    "DEFAULT_MAX_PATTERNS",
]

#: Exhaustive enumeration is refused when the bound :math:`P_{\max}` exceeds this.
DEFAULT_MAX_PATTERNS = 20_000

#: Subsets processed per vectorized batch during enumeration (bounds memory).
_BATCH = 4096


@dataclass(frozen=True)
class PatternSet:
    """Activation patterns and how they were obtained.

    Attributes
    ----------
    masks : ndarray of bool, shape (n, P)
        One pattern per column, ``masks[:, i] = 1[X g_i >= 0]``. The all-zero pattern is
        dropped (it contributes nothing to the program).
    gates : ndarray, shape (d, P) or None
        A gate strictly inside each cell (``None`` for patterns given as masks).
    method : str
        ``"exhaustive"``, ``"sampled"``, ``"masks"`` (given) or ``"gates"`` (given).
    complete : bool
        Whether every cell of the arrangement is known to be among the patterns; the
        convex program is then exact, otherwise an upper bound on the network optimum.
    cells_found : int
        Number of distinct cells found (the all-zero cell included when it exists).
    cells_expected : int or None
        :math:`P_{\\max}` when computable (an upper bound on the number of cells, equal to
        it for hyperplanes in general position).
    general_position : bool or None
        Whether the distinct hyperplanes are in general position (``None``: unknown).
    message : str
        How the patterns were obtained, in words.
    """

    masks: np.ndarray
    gates: np.ndarray | None
    method: str
    complete: bool
    cells_found: int
    cells_expected: int | None
    general_position: bool | None = None
    message: str = field(default="")

    @property
    def count(self) -> int:
        """Number of patterns (columns of :attr:`masks`)."""
        return int(self.masks.shape[1])


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


def arrangement_info(X, tol: float = 1e-10) -> ArrangementInfo:
    """Rank, number of distinct hyperplanes and the cell bound :math:`P_{\\max}` of ``X``.

    ``repeated_rows`` counts rows whose hyperplane equals an earlier row's (duplicates or
    parallel rows); ``zero_rows`` rows that are zero (always active, ``0 >= 0``).
    """
    X = check_data(X)
    H, index, _ = _canonical_rows(X, tol)
    r = _rank(X, tol)
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
    if A.size == 0:
        return 0
    s = np.linalg.svd(A, compute_uv=False)
    return int(np.sum(s > tol * max(s[0], 1e-300) * max(A.shape)))


# --- masks ---------------------------------------------------------------------------------


def patterns_from_gates(X, G) -> np.ndarray:
    """Boolean patterns ``1[X G >= 0]`` (shape ``(n, P)``) of gates ``G`` (``(d, P)``)."""
    return np.asarray(X) @ np.asarray(G) >= 0


def unique_patterns(masks: np.ndarray, drop_zero: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Distinct columns of a boolean ``(n, P)`` array, in order of first appearance.

    Returns the de-duplicated masks and the indices of the kept columns. The all-zero
    column is dropped when ``drop_zero``.
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.shape[1] == 0:
        return masks, np.zeros(0, dtype=int)
    packed = np.packbits(masks, axis=0).T  # (P, ceil(n/8)) bytes, one row per pattern
    _, first = np.unique(packed, axis=0, return_index=True)
    first = np.sort(first)
    if drop_zero:
        first = first[masks[:, first].any(axis=0)]
    return masks[:, first], first


# --- exact enumeration -----------------------------------------------------------------------


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


def _general_rays(Bc: np.ndarray, r: int, tol: float) -> np.ndarray:
    """Gates (``(r, C)``) of every cell of the essential arrangement ``Bc`` (``(m, r)``)."""
    m = Bc.shape[0]
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=r - 1)))  # (2^(r-1), r-1)
    out: list[np.ndarray] = []
    degenerate_rays: list[np.ndarray] = []
    subsets = itertools.combinations(range(m), r - 1)
    while True:
        batch = np.array(list(itertools.islice(subsets, _BATCH)), dtype=int)
        if batch.size == 0:
            break
        BS = Bc[batch]  # (C, r-1, r)
        _, sv, vt = np.linalg.svd(BS, full_matrices=True)
        independent = sv[:, -1] > tol * max(r, 1) * 10
        batch, BS, sv, vt = batch[independent], BS[independent], sv[independent], vt[independent]
        if batch.size == 0:
            continue
        t = vt[:, -1, :]  # (C, r) null direction of each X_S, unit norm
        z = t @ Bc.T  # (C, m): x_j^T t
        on = np.abs(z) <= tol * 1e3
        in_S = np.zeros_like(on)
        np.put_along_axis(in_S, batch, True, axis=1)
        extra = on & ~in_S  # more hyperplanes through t than S
        degenerate = extra.any(axis=1)
        for ray in t[degenerate]:
            degenerate_rays.append(ray)
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
        for sgn in (1.0, -1.0):
            G = sgn * t[:, :, None] + eps[:, None, None] * H  # (C, r, 2^(r-1))
            out.append(G.transpose(1, 0, 2).reshape(r, -1))
    if degenerate_rays:
        rays = np.array(degenerate_rays)
        lead = np.argmax(np.abs(rays) > 1e-8, axis=1)
        rays = rays * np.sign(rays[np.arange(len(rays)), lead])[:, None]
        _, keep = np.unique(np.round(rays, 8) + 0.0, axis=0, return_index=True)
        for t in rays[keep]:
            out.append(_around_degenerate_ray(Bc, t, r, tol))
    return np.concatenate(out, axis=1) if out else np.zeros((r, 0))


def _around_degenerate_ray(Bc: np.ndarray, t: np.ndarray, r: int, tol: float) -> np.ndarray:
    """Gates of the cells touching the ray ``+-t`` where more than ``r-1`` hyperplanes meet:
    the cells of the local arrangement of those hyperplanes, perturbed off ``t``."""
    z = Bc @ t
    on = np.abs(z) <= tol * 1e3
    local = Bc[on] - np.outer(Bc[on] @ t, t)  # exactly orthogonal to t
    local = local / np.linalg.norm(local, axis=1, keepdims=True)
    H = _cell_gates(local, tol)  # (r, C): cells of the local arrangement (lineality t)
    H = H - np.outer(t, t @ H)
    H = H / np.maximum(np.linalg.norm(H, axis=0, keepdims=True), 1e-300)
    margin = np.abs(z[~on]).min(initial=np.inf)
    spread = np.abs(Bc[~on] @ H).max(initial=0.0)
    eps = min(1.0, 0.5 * margin / spread) if spread > 0 else 1.0
    return np.concatenate([t[:, None] + eps * H, -t[:, None] + eps * H], axis=1)


def enumerate_patterns(
    X, max_patterns: int = DEFAULT_MAX_PATTERNS, tol: float = 1e-10
) -> PatternSet:
    """Every activation pattern of ``X``: one per full-dimensional cell (MATH.md 4b).

    Parameters
    ----------
    X : array_like, shape (n, d)
    max_patterns : int
        Refuse when the bound :math:`P_{\\max}` on the number of cells exceeds this.
    tol : float
        Relative tolerance for rank, parallel rows and hyperplanes meeting in a ray.

    Returns
    -------
    PatternSet
        ``complete=True``; ``general_position`` says whether the count met the bound.

    Raises
    ------
    ProblemTooLargeError
        When the bound exceeds ``max_patterns`` (the message suggests sampling).
    """
    X = check_data(X)
    max_patterns = check_int(max_patterns, "max_patterns", minimum=1)
    n, d = X.shape
    H, index, sign = _canonical_rows(X, tol)
    r = _rank(X, tol)
    m = H.shape[0]
    bound = max_pattern_count(m, r)
    if bound > max_patterns:
        raise ProblemTooLargeError(
            f"exhaustive enumeration of activation patterns would give up to {bound:,} "
            f"patterns (n={n}, rank {r}, {m} distinct hyperplanes), more than "
            f"max_patterns={max_patterns:,}. Sample gates instead (patterns=1000, seed=0): "
            f"the result is then an upper bound on the optimum; or raise max_patterns."
        )
    if m == 0:
        G = np.zeros((d, 1))
    else:
        G = _cell_gates(H, tol)
    # one gate per distinct pattern of the distinct hyperplanes, strictly inside its cell
    HG = H @ G
    full = np.all(np.abs(HG) > 0, axis=0)
    G = G[:, full]
    cell_masks = H @ G >= 0 if m else np.ones((0, G.shape[1]), dtype=bool)
    _, keep = unique_patterns(cell_masks, drop_zero=False) if m else (None, np.array([0]))
    G = G[:, keep]
    cells = G.shape[1]
    general = cells == bound
    G = G / np.maximum(np.linalg.norm(G, axis=0, keepdims=True), 1e-300)
    masks, kept = unique_patterns(patterns_from_gates(X, G))
    zero, repeated = int(np.sum(index < 0)), n - int(np.sum(index < 0)) - m
    if general:
        detail = (
            f"rows in general position: {cells} cells = 2 sum_(k<{r}) C({m - 1}, k)"
        )
    else:
        detail = (
            f"rows not in general position: {cells} cells < bound {bound} "
            "(degenerate intersections enumerated exactly)"
        )
    if zero or repeated:
        detail += f"; {repeated} repeated/parallel and {zero} zero rows merged"
    return PatternSet(
        masks=masks,
        gates=G[:, kept],
        method="exhaustive",
        complete=True,
        cells_found=cells,
        cells_expected=bound,
        general_position=general,
        message=f"exhaustive enumeration: {masks.shape[1]} non-zero patterns ({detail}).",
    )


# --- sampling ------------------------------------------------------------------------------------


def sample_patterns(X, num_gates: int, seed: int | None = 0, tol: float = 1e-10) -> PatternSet:
    """Patterns of ``num_gates`` standard Gaussian gates, de-duplicated.

    ``complete`` is ``True`` only when the number of distinct cells found reaches the bound
    :math:`P_{\\max}` (then every cell was found); otherwise a program on these patterns is
    an upper bound on the network optimum.
    """
    X = check_data(X)
    num_gates = check_int(num_gates, "patterns", minimum=1)
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((X.shape[1], num_gates))
    masks_all = patterns_from_gates(X, G)
    H, _, _ = _canonical_rows(X, tol)
    bound = max_pattern_count(H.shape[0], _rank(X, tol))
    _, cells_idx = unique_patterns(masks_all, drop_zero=False)
    cells = cells_idx.size
    masks, kept = unique_patterns(masks_all)
    complete = cells >= bound
    msg = (
        f"{num_gates} sampled Gaussian gates (seed={seed}) gave {masks.shape[1]} distinct "
        f"non-zero patterns ({cells} of at most {bound} cells)"
    )
    if complete:
        msg += "; every cell was found, so the program is exact."
    else:
        msg += (
            "; the optimum is an upper bound on the network optimum "
            "(use patterns='exhaustive' for the exact one)."
        )
    return PatternSet(
        masks=masks,
        gates=G[:, kept],
        method="sampled",
        complete=complete,
        cells_found=cells,
        cells_expected=bound,
        general_position=True if complete else None,
        message=msg,
    )


# --- the ``patterns=`` argument -----------------------------------------------------------------


def resolve_patterns(
    X: np.ndarray,
    patterns="exhaustive",
    seed: int | None = 0,
    max_patterns: int = DEFAULT_MAX_PATTERNS,
) -> PatternSet:
    """Interpret the ``patterns`` argument of the ReLU formulations.

    ``"exhaustive"`` enumerates every cell; an ``int`` samples that many gates; a boolean
    ``(n, P)`` array gives patterns (one per column); a float ``(d, P)`` array gives gates.
    Given patterns are ``complete`` only when they are checked to contain every cell
    (possible when exhaustive enumeration fits within ``max_patterns``).
    """
    n, d = X.shape
    if isinstance(patterns, str):
        if patterns != "exhaustive":
            raise InvalidInputError(
                f"patterns must be 'exhaustive', an int (number of sampled gates), a boolean "
                f"(n, P) array or a float (d, P) array of gates; got {patterns!r}."
            )
        return enumerate_patterns(X, max_patterns=max_patterns)
    if isinstance(patterns, (int, np.integer)) and not isinstance(patterns, bool):
        return sample_patterns(X, check_int(patterns, "patterns", minimum=1), seed=seed)
    if isinstance(patterns, bool) or patterns is None:
        raise InvalidInputError(
            f"patterns must be 'exhaustive', an int or an array; got {patterns!r}."
        )
    arr = np.asarray(patterns)
    if arr.ndim != 2:
        raise InvalidInputError(
            f"patterns as an array must be 2-D: boolean (n={n}, P) patterns or float "
            f"(d={d}, P) gates; got shape {arr.shape}."
        )
    if arr.dtype == bool:
        if arr.shape[0] != n:
            raise InvalidInputError(
                f"boolean patterns must have shape (n={n}, P), one pattern per column; "
                f"got shape {arr.shape}."
            )
        masks, _ = unique_patterns(arr)
        gates, method = None, "masks"
    else:
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise InvalidInputError(f"patterns array has unsupported dtype {arr.dtype}.")
        if arr.shape[0] != d:
            raise InvalidInputError(
                f"gates must have shape (d={d}, P), one gate per column (d counts the ones "
                f"column when bias=True); got shape {arr.shape}."
            )
        arr = arr.astype(float)
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError("patterns (gates) contain NaN or infinite values.")
        masks, kept = unique_patterns(patterns_from_gates(X, arr))
        gates, method = arr[:, kept], "gates"
    if masks.shape[1] == 0:
        raise InvalidInputError("patterns contain no non-zero pattern; the program would be empty.")
    complete, expected, general, note = False, None, None, ""
    info = arrangement_info(X)
    expected = info.max_cells
    if expected <= max_patterns:
        full = enumerate_patterns(X, max_patterns=max_patterns)
        general = full.general_position
        have = {m.tobytes() for m in masks.T}
        missing = sum(m.tobytes() not in have for m in full.masks.T)
        complete = missing == 0
        note = (
            "they contain every cell, so the program is exact."
            if complete
            else f"{missing} of {full.count} non-zero cells are missing: the optimum is an "
            "upper bound on the network optimum."
        )
    else:
        note = (
            "not checked against every cell: the optimum is an upper bound on the network "
            "optimum."
        )
    kind = "boolean masks" if gates is None else "from gates"
    msg = f"{masks.shape[1]} given patterns ({kind}); {note}"
    return PatternSet(
        masks=masks,
        gates=gates,
        method=method,
        complete=complete,
        cells_found=masks.shape[1],
        cells_expected=expected,
        general_position=general,
        message=msg,
    )
