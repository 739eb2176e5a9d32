r"""Activation patterns of a two-layer ReLU network: which gates a program is built on.

A pattern is the boolean vector :math:`1[Xg \ge 0]` of a gate :math:`g`; the patterns of
every cell of the hyperplane arrangement of ``X``'s rows (:mod:`.arrangement`) are the
``D_i`` of the exact convex program (docs/relu.md sections 4a-4b). A :class:`PatternSet`
holds patterns with how they were obtained: every cell (:func:`enumerate_patterns`),
Gaussian gates (:func:`sample_patterns`, seeded, de-duplicated; a program built on sampled
patterns is only an upper bound on the network optimum unless every cell was found), or
given masks or gates (:func:`resolve_patterns`, the ``patterns=`` argument of the ReLU
formulations).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .._validate import check_data, check_int
from ..errors import InvalidInputError, ProblemTooLargeError
from .arrangement import arrangement_info, check_tol, enumerate_cells, unique_patterns

__all__ = [
    "DEFAULT_SAMPLED_PATTERNS",
    "PatternSet",
    "patterns_from_gates",
    "enumerate_patterns",
    "sample_patterns",
    "bisector_gates",
    "resolve_patterns",
    "DEFAULT_MAX_PATTERNS",
]

#: Exhaustive enumeration is refused when the bound :math:`P_{\max}` exceeds this.
DEFAULT_MAX_PATTERNS = 20_000

#: Sampled gates of a ReLU program when every cell is too many (the estimators of
#: :mod:`sdpnets.sklearn` and ``sdpnets fit``): chosen by measurement of test score and fit
#: time against the number of patterns on scikit-learn's datasets (docs/estimators.md).
DEFAULT_SAMPLED_PATTERNS = 64

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


def _check_seed(seed) -> int | None:
    """``None`` or an integer ``>= 0`` (numpy's seeds)."""
    return None if seed is None else check_int(seed, "seed", minimum=0)


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
    cells = enumerate_cells(X, max_patterns, tol)
    return PatternSet(
        masks=cells.masks,
        gates=cells.gates,
        method="exhaustive",
        complete=True,
        cells_found=cells.count,
        cells_expected=cells.bound,
        general_position=cells.general_position,
        message=f"exhaustive enumeration: {cells.masks.shape[1]} non-zero patterns "
        f"({cells.detail}).",
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
    seed, tol = _check_seed(seed), check_tol(tol)
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
    info = arrangement_info(X, tol)
    m, bound = info.hyperplanes, info.max_cells
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


def bisector_gates(X, num_gates: int, seed: int | None = 0, offset: bool = True
                   ) -> np.ndarray:
    r"""Gates of the perpendicular bisectors of random pairs of samples.

    For a pair :math:`(x_i, x_j)` drawn uniformly, the gate is active on the side of
    :math:`x_i`: :math:`(x - \tfrac12(x_i + x_j))^T(x_i - x_j) \ge 0`. Unlike Gaussian gates
    (:func:`sample_patterns`), these cut where the data are, at every scale the data have;
    the estimators of :mod:`sdpnets.sklearn` use them (measured there against Gaussian
    gates: docs/estimators.md).

    Parameters
    ----------
    X : array_like, shape (n, d)
        The samples (without a ones column).
    num_gates : int
        Gates drawn (pairs of distinct indices; equal samples give the all-active pattern).
    seed : int or None
        Seed of the pairs.
    offset : bool
        ``True``: gates ``(d + 1, P)`` for the data with a ones column appended last (a
        first-layer bias), the last entry the bisector's offset
        :math:`-\tfrac12(\|x_i\|^2 - \|x_j\|^2)`. ``False``: ``(d, P)``, the hyperplanes
        :math:`x^T(x_i - x_j) = 0` through the origin (no bias to carry an offset).

    Returns
    -------
    ndarray of shape (d + 1, P) or (d, P)
        One gate per column, for the ``patterns=`` argument of :class:`~sdpnets.ConvexReLU`.
    """
    X = check_data(X)
    num_gates = check_int(num_gates, "patterns", minimum=1)
    n = X.shape[0]
    if n < 2:
        raise InvalidInputError(f"bisector gates need at least two samples, got n={n}.")
    rng = np.random.default_rng(_check_seed(seed))
    i = rng.integers(0, n, num_gates)
    j = (i + rng.integers(1, n, num_gates)) % n  # j != i
    G = (X[i] - X[j]).T
    if not offset:
        return G
    sq = np.einsum("ij,ij->i", X, X)
    return np.vstack([G, -0.5 * (sq[i] - sq[j])])


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
