r"""Activation patterns of a two-layer ReLU network: the cells of a hyperplane arrangement.

For data :math:`X \in \mathbb{R}^{n \times d}` and a gate :math:`g \in \mathbb{R}^d` the
activation pattern is the boolean vector :math:`1[Xg \ge 0]`. The patterns of gates in the
open cells of the arrangement :math:`\{g : x_i^T g = 0\}` are the ``D_i`` of the convex
program (docs/relu.md sections 4a-4b). With ``r = rank X`` and ``m`` distinct hyperplanes (rows up to a
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

import logging
import math
from dataclasses import dataclass, field, replace
from numbers import Real

import numpy as np

from ._arrangement import (  # noqa: F401  (the enumeration's pure pieces)
    _around_degenerate_ray,
    _cell_gates,
    _general_rays,
    _one_per_cell,
    _through_tol,
    unique_patterns,
)
from ._planar import planar_gate_angles, planar_masks
from ._validate import check_data, check_int
from .errors import InvalidInputError, ProblemTooLargeError

logger = logging.getLogger(__name__)

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

#: Enumeration examines ``C(m, r-1) 2^(r-1)`` candidate gates (``m`` hyperplanes of rank
#: ``r``); more than this is refused up front (about a minute of work).
MAX_CANDIDATE_GATES = 20_000_000

#: Largest ``d * P`` (gate floats) and ``n * P`` (mask entries) sampling may allocate.
MAX_SAMPLED_ENTRIES = 2**28



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
        The number of cells when it was counted by exhaustive enumeration (sampled or given
        patterns whose arrangement fits within ``max_patterns``), otherwise the bound
        :math:`P_{\\max}` over the distinct hyperplanes (equal to the count for
        hyperplanes in general position). For :func:`enumerate_patterns` it is
        :math:`P_{\\max}` and ``cells_found`` is the count.
    general_position : bool or None
        Whether the ``n`` rows are in general position, i.e. the number of cells is
        :math:`2\\sum_{k<r}\\binom{n-1}{k}` (``None``: unknown).
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


def _check_tol(tol) -> float:
    """The pattern helpers' relative tolerance: a real number in ``(0, 1e-2]``."""
    if isinstance(tol, bool) or not isinstance(tol, Real) or not 0 < float(tol) <= 1e-2:
        raise InvalidInputError(
            f"tol must be a number with 0 < tol <= 1e-2 (a relative tolerance for rank, "
            f"parallel rows and concurrent hyperplanes), got {tol!r}."
        )
    return float(tol)


def _check_seed(seed) -> int | None:
    """``None`` or an integer ``>= 0`` (numpy's seeds)."""
    return None if seed is None else check_int(seed, "seed", minimum=0)


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
    tol = _check_tol(tol)
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


# --- masks ---------------------------------------------------------------------------------


def patterns_from_gates(X, G) -> np.ndarray:
    """Boolean patterns ``1[X G >= 0]`` (shape ``(n, P)``) of gates ``G`` (``(d, P)``)."""
    return np.asarray(X) @ np.asarray(G) >= 0


def enumerate_patterns(
    X, max_patterns: int = DEFAULT_MAX_PATTERNS, tol: float = 1e-10
) -> PatternSet:
    """Every activation pattern of ``X``: one per full-dimensional cell (docs/relu.md section 4b).

    Parameters
    ----------
    X : array_like, shape (n, d)
        The data whose hyperplane arrangement is enumerated.
    max_patterns : int
        Refuse when the bound :math:`P_{\\max}` on the number of cells exceeds this.
    tol : float
        Relative tolerance for rank, parallel rows and hyperplanes meeting in a ray: unit
        normals within about ``tol`` of being dependent, parallel or (``10 tol``) of passing
        through a common ray are treated as exactly so. Rows that are degenerate only up to
        a perturbation of that size have cells thinner than it; those are merged, which is
        the numerical meaning of "every cell" here.

    Returns
    -------
    PatternSet
        ``complete=True``; ``cells_found`` is the number of cells (the all-zero cell
        included when it exists), ``cells_expected`` the bound :math:`P_{\\max}` over the
        distinct hyperplanes; ``general_position`` says whether the rows are in general
        position, i.e. whether the count equals :math:`2\\sum_{k<r}\\binom{n-1}{k}` (it
        is ``False`` when rows are zero, repeated or parallel, or when more than ``r - 1``
        hyperplanes meet in a ray; the message says which).

    Raises
    ------
    ProblemTooLargeError
        When the bound exceeds ``max_patterns`` (the message suggests sampling).
    """
    X = check_data(X)
    max_patterns = check_int(max_patterns, "max_patterns", minimum=1)
    tol = _check_tol(tol)
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
    """Sample activation patterns with ``num_gates`` standard Gaussian gates.

    ``complete`` is ``True`` only when the number of distinct cells found reaches the bound
    :math:`P_{\\max}` (then every cell was found); otherwise a program on these patterns is
    an upper bound on the network optimum.

    Parameters
    ----------
    X : array_like, shape (n, d)
        The data whose hyperplane arrangement is sampled.
    num_gates : int
        Number of Gaussian gates :math:`g \\sim N(0, I_d)` drawn.
    seed : int or None
        Seed of the gates.
    tol : float
        Relative tolerance for rows that count as the same hyperplane.

    Returns
    -------
    PatternSet
        The distinct non-zero patterns, the gates that produced them and how many cells
        were found.
    """
    X = check_data(X)
    num_gates = check_int(num_gates, "patterns", minimum=1)
    seed, tol = _check_seed(seed), _check_tol(tol)
    if max(X.shape) * num_gates > MAX_SAMPLED_ENTRIES:
        raise ProblemTooLargeError(
            f"patterns={num_gates:,} sampled gates need a {X.shape[1]} x {num_gates:,} gate "
            f"matrix and {X.shape[0]} x {num_gates:,} patterns "
            f"({max(X.shape) * num_gates * 9 / 2**30:,.3g} GiB), more than the "
            f"{MAX_SAMPLED_ENTRIES:,} entries allowed: sample fewer gates."
        )
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((X.shape[1], num_gates))
    masks_all = patterns_from_gates(X, G)
    H, _, _ = _canonical_rows(X, tol)
    m = H.shape[0]
    bound = max_pattern_count(m, _rank(H, tol))
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
        general_position=False if m < X.shape[0] else (True if complete else None),
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
    Sampled and given patterns are ``complete`` only when they are checked to contain every
    cell, which is done (and the cells counted, ``cells_expected``) when exhaustive
    enumeration fits within ``max_patterns``; otherwise the program on them is reported as
    an upper bound on the network optimum.
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
        sampled = sample_patterns(X, check_int(patterns, "patterns", minimum=1), seed=seed)
        full = _all_cells_if_they_fit(X, max_patterns)
        if full is None:
            return sampled
        missing = _missing(sampled.masks, full.masks)
        head = (
            f"{patterns} sampled Gaussian gates (seed={seed}) gave {sampled.count} distinct "
            "non-zero patterns"
        )
        note = (
            "every cell was found, so the program is exact."
            if missing == 0
            else "the optimum is an upper bound on the network optimum (use "
            "patterns='exhaustive' for the exact one)."
        )
        return replace(
            sampled,
            complete=missing == 0,
            cells_expected=full.cells_found,
            general_position=full.general_position,
            message=f"{head}: {sampled.cells_found} of the {full.cells_found} cells "
            f"(counted by exhaustive enumeration); {note}",
        )
    if isinstance(patterns, bool) or patterns is None or np.ndim(patterns) == 0:
        raise InvalidInputError(
            f"patterns must be 'exhaustive', an int (number of sampled gates) or an array "
            f"(boolean (n, P) patterns or float (d, P) gates); got {patterns!r}."
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
                f"column when bias=True; patterns as 0/1 masks must be a boolean (n={n}, P) "
                f"array); got shape {arr.shape}."
            )
        arr = arr.astype(float)
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError("patterns (gates) contain NaN or infinite values.")
        masks, kept = unique_patterns(patterns_from_gates(X, arr))
        gates, method = arr[:, kept], "gates"
    if masks.shape[1] == 0:
        raise InvalidInputError("patterns contain no non-zero pattern; the program would be empty.")
    complete, expected, general = False, arrangement_info(X).max_cells, None
    full = _all_cells_if_they_fit(X, max_patterns)
    if full is not None:
        expected, general = full.cells_found, full.general_position
        missing = _missing(masks, full.masks)
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


def _all_cells_if_they_fit(X: np.ndarray, max_patterns: int) -> PatternSet | None:
    """Every cell of ``X`` when the bound :math:`P_{\\max}` fits within ``max_patterns``."""
    if arrangement_info(X).max_cells > max_patterns:
        return None
    return enumerate_patterns(X, max_patterns=max_patterns)


def _missing(masks: np.ndarray, cells: np.ndarray) -> int:
    """How many columns of ``cells`` (non-zero cell patterns) are not among ``masks``."""
    have = {m.tobytes() for m in np.ascontiguousarray(masks.T)}
    return sum(c.tobytes() not in have for c in np.ascontiguousarray(cells.T))
