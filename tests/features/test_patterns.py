"""Activation patterns (docs/relu.md section 4b): exact enumeration against an independent brute force,
the cell-count formula, sampling, the ``patterns=`` argument and its errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linprog

import sdpnets as sn
from sdpnets.features.arrangement import arrangement_info, max_pattern_count, unique_patterns
from sdpnets.features.patterns import enumerate_patterns, resolve_patterns, sample_patterns


def cells_by_lp(X: np.ndarray) -> set[bytes]:
    """Every full-dimensional cell, independently: add the hyperplanes one at a time and keep
    each sign vector whose open cone ``{g : s_i x_i^T g > 0}`` is non-empty (an LP with
    margin 1, which is scale-free for a cone). Zero rows are always active (``0 >= 0``)."""
    n, d = X.shape
    nonzero = [i for i in range(n) if np.any(X[i] != 0)]

    def feasible(signs):
        rows = nonzero[: len(signs)]
        A = -(np.array(signs)[:, None] * X[rows])
        res = linprog(np.zeros(d), A_ub=A, b_ub=-np.ones(len(rows)),
                      bounds=[(None, None)] * d, method="highs")
        return res.status == 0

    cells = [()]
    for _ in nonzero:
        cells = [c + (s,) for c in cells for s in (1.0, -1.0) if feasible(list(c) + [s])]
    out = set()
    for c in cells:
        mask = np.ones(n, dtype=bool)
        mask[nonzero] = np.array(c) > 0
        if mask.any():
            out.add(mask.tobytes())
    return out


def as_set(masks: np.ndarray) -> set[bytes]:
    return {np.ascontiguousarray(m).tobytes() for m in masks.T}


@pytest.mark.parametrize("n,d,seed", [(6, 2, 0), (7, 3, 1), (6, 4, 2)])
def test_enumeration_matches_brute_force_general_position(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    ps = enumerate_patterns(X)
    assert as_set(ps.masks) == cells_by_lp(X)
    assert ps.general_position and ps.complete
    assert ps.cells_found == ps.cells_expected == 2 * sum(math.comb(n - 1, k) for k in range(d))


def degenerate_data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 2))
    X[:3] = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]  # three collinear points
    X = np.hstack([X, np.ones((X.shape[0], 1))])  # bias: affine arrangement
    return np.vstack([X, X[4:5], -2.5 * X[5:6]])  # a duplicate and an anti-parallel row


def test_enumeration_matches_brute_force_degenerate():
    X = degenerate_data()
    ps = enumerate_patterns(X)
    assert as_set(ps.masks) == cells_by_lp(X)
    assert ps.complete and not ps.general_position
    assert ps.cells_found < ps.cells_expected
    assert "not in general position" in ps.message and "merged" in ps.message


def grid_with_bias(a, b):
    """The points of an ``a x b`` integer grid with a ones column: many collinear triples,
    so many rays where three or more hyperplanes meet."""
    pts = np.array([[i, j] for i in range(a) for j in range(b)], dtype=float)
    return np.hstack([pts, np.ones((a * b, 1))])


def cube_rows():
    """The 13 hyperplanes of {-1, 0, 1}^3 (rays where up to four of them meet), two of them
    repeated with the opposite sign."""
    v = np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).reshape(3, -1).T
    v = v[14:].astype(float)  # the vectors after the zero vector: one of each +-pair
    return np.vstack([v, -v[:2]])


@pytest.mark.parametrize(
    "X",
    [
        grid_with_bias(3, 3),
        cube_rows(),
        np.vstack([grid_with_bias(2, 3), [[0.0, 0.0, 1.0]], np.zeros((2, 3))]),
        np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [3.0, 3.0]]),
    ],
    ids=["grid3x3", "cube", "grid-origin-zero-rows", "2d-collinear"],
)
def test_enumeration_matches_brute_force_highly_degenerate(X):
    ps = enumerate_patterns(X)
    assert as_set(ps.masks) == cells_by_lp(X)
    assert np.array_equal(X @ ps.gates >= 0, ps.masks)
    assert ps.complete and not ps.general_position
    assert "not in general position" in ps.message


@pytest.mark.parametrize("delta", [1e-3, 1e-6, 1e-8])
def test_nearly_concurrent_hyperplanes_keep_their_thin_cells(delta):
    # three hyperplanes that miss a common ray by delta: 8 cells, two of them thin
    x1, x2, z = np.random.default_rng(27).standard_normal((3, 3))
    X = np.array([x1, x2, 0.7 * x1 - 1.3 * x2 + delta * z])
    ps = enumerate_patterns(X)
    assert ps.cells_found == 8 and ps.general_position
    assert as_set(ps.masks) == cells_by_lp(X)


def test_repeated_rows_are_not_in_general_position():
    X = np.random.default_rng(24).standard_normal((10, 3))
    ps = enumerate_patterns(np.vstack([X, 2.0 * X[:2]]))
    # the 10 distinct hyperplanes are in general position and all their cells are found ...
    assert ps.cells_found == ps.cells_expected == max_pattern_count(10, 3)
    # ... but the 12 rows are not: the count is below 2 sum_(k<3) C(11, k)
    assert ps.cells_found < max_pattern_count(12, 3) and not ps.general_position
    assert "not in general position" in ps.message and "2 repeated/parallel" in ps.message


def test_zero_row_is_always_active_and_merged():
    X = np.random.default_rng(4).standard_normal((6, 2))
    X[2] = 0.0
    ps = enumerate_patterns(X)
    assert np.all(ps.masks[2])
    assert as_set(ps.masks) == cells_by_lp(X)
    assert arrangement_info(X).zero_rows == 1


def test_gates_lie_strictly_inside_their_cells():
    X = np.random.default_rng(5).standard_normal((12, 3))
    ps = enumerate_patterns(X)
    Z = X @ ps.gates
    assert np.all(np.abs(Z) > 0)
    assert np.array_equal(Z >= 0, ps.masks)
    assert len(as_set(ps.masks)) == ps.count  # no duplicates
    assert not np.any(~ps.masks.any(axis=0))  # the all-zero pattern is dropped


def test_dense_sampling_never_finds_a_cell_enumeration_missed():
    X = np.random.default_rng(6).standard_normal((12, 3))
    ps = enumerate_patterns(X)
    G = np.random.default_rng(7).standard_normal((3, 50_000))
    sampled = as_set(unique_patterns(X @ G >= 0)[0])
    assert sampled <= as_set(ps.masks)


def test_rank_deficient_data_count_uses_the_rank():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((9, 2)) @ rng.standard_normal((2, 4))  # rank 2 in R^4
    ps = enumerate_patterns(X)
    assert ps.cells_found == max_pattern_count(9, 2) == 18
    assert as_set(ps.masks) == cells_by_lp(X)


def test_sampling_is_seeded_deduplicated_and_a_subset():
    X = np.random.default_rng(9).standard_normal((12, 3))
    a = sample_patterns(X, 40, seed=1)
    b = sample_patterns(X, 40, seed=1)
    assert np.array_equal(a.masks, b.masks)
    assert len(as_set(a.masks)) == a.count <= 40
    assert as_set(a.masks) <= as_set(enumerate_patterns(X).masks)
    assert a.method == "sampled" and a.cells_expected == max_pattern_count(12, 3)
    assert not a.complete and "upper bound" in a.message


def test_sampling_that_finds_every_cell_is_complete():
    X = np.random.default_rng(10).standard_normal((5, 2))
    ps = sample_patterns(X, 20_000, seed=0)
    assert ps.complete and "exact" in ps.message
    assert as_set(ps.masks) == as_set(enumerate_patterns(X).masks)


def test_sampled_argument_counts_the_cells_it_misses():
    X = np.random.default_rng(25).standard_normal((12, 3))
    full = enumerate_patterns(X)
    ps = resolve_patterns(X, 300, seed=2)
    found = len(as_set(ps.masks))
    assert found < full.count and ps.cells_expected == full.cells_found
    assert not ps.complete and f"of the {full.cells_found} cells" in ps.message
    assert "upper bound" in ps.message and "seed=2" in ps.message
    # degenerate rows never meet the bound, but a sample holding every cell is exact
    Xd = degenerate_data()
    dense = resolve_patterns(Xd, 50_000, seed=0)
    assert as_set(dense.masks) == cells_by_lp(Xd)
    assert dense.complete and dense.general_position is False and "exact" in dense.message


def test_given_masks_and_gates():
    X = np.random.default_rng(11).standard_normal((8, 2))
    full = enumerate_patterns(X)
    given = resolve_patterns(X, full.masks)
    assert given.complete and given.method == "masks"
    partial = resolve_patterns(X, full.masks[:, :5])
    assert not partial.complete and "upper bound" in partial.message
    gates = resolve_patterns(X, full.gates)
    assert gates.complete and gates.method == "gates"


def test_refuses_enumeration_that_would_not_fit():
    X = np.random.default_rng(12).standard_normal((200, 6))
    with pytest.raises(sn.ProblemTooLargeError, match="Sample gates instead"):
        enumerate_patterns(X)
    with pytest.raises(sn.ProblemTooLargeError, match="max_patterns"):
        sn.ConvexReLU(X, np.ones(200), 1.0)
    prog = sn.ConvexReLU(X, np.ones(200), 1.0, patterns=50)  # sampling works
    assert not prog.exact


@pytest.mark.parametrize(
    "patterns,match",
    [
        ("all", "patterns must be"),
        (0, "patterns must be >= 1"),
        (np.ones((3, 4, 2)), "must be 2-D"),
        (np.ones((5, 4), dtype=bool), r"shape \(n=8, P\)"),
        (np.ones((3, 4)), r"shape \(d=2, P\)"),
        (np.zeros((8, 3), dtype=bool), "no non-zero pattern"),
        (np.array([[np.nan], [1.0]]), "NaN"),
        (True, "patterns must be"),
        (3.5, "patterns must be"),
        (None, "patterns must be"),
    ],
)
def test_bad_patterns_argument(patterns, match):
    X = np.random.default_rng(13).standard_normal((8, 2))
    with pytest.raises(sn.InvalidInputError, match=match):
        resolve_patterns(X, patterns)


@pytest.mark.parametrize("n,d,seed", [(9, 2, 20), (11, 3, 21), (10, 4, 22), (15, 3, 23)])
def test_count_meets_the_bound_for_random_rows(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    ps = enumerate_patterns(X)
    assert ps.cells_found == max_pattern_count(n, d)
    assert np.array_equal(X @ ps.gates >= 0, ps.masks)


def test_sampling_more_gate_entries_than_allowed_is_refused_before_drawing(monkeypatch):
    """``sample_patterns`` holds a ``d x gates`` gate matrix and ``n x gates`` patterns: it
    refuses when ``max(n, d) * gates`` exceeds the module's limit (lowered here so that the
    test allocates nothing large), and samples at the limit itself."""
    import sdpnets.features.patterns as patterns_module

    monkeypatch.setattr(patterns_module, "MAX_SAMPLED_ENTRIES", 1000)
    X = np.random.default_rng(0).standard_normal((10, 3))
    assert sample_patterns(X, 100).masks.shape[0] == 10  # 10 * 100 entries: allowed
    with pytest.raises(sn.ProblemTooLargeError, match="patterns=101 .* sample fewer gates"):
        sample_patterns(X, 101)
    monkeypatch.setattr(patterns_module, "MAX_SAMPLED_ENTRIES", 299)
    with pytest.raises(sn.ProblemTooLargeError):  # d = 3 > n = 2 decides
        sample_patterns(X[:2], 100)


def test_bisector_gates_cut_random_pairs_at_their_midpoints():
    """Each gate is x_i - x_j for a pair of distinct samples, with the offset that puts the
    pair's midpoint on its hyperplane (x_i on the active side); without an offset, the
    direction alone; the same seed gives the same gates."""
    from sdpnets.features.patterns import bisector_gates

    rng = np.random.default_rng(3)
    X = rng.standard_normal((9, 4))
    G = bisector_gates(X, 25, seed=5)
    assert G.shape == (5, 25)
    np.testing.assert_array_equal(G, bisector_gates(X, 25, seed=5))
    A = np.hstack([X, np.ones((9, 1))])
    diffs = X[:, None, :] - X[None, :, :]
    for g in G.T:
        i, j = np.argwhere(np.all(np.isclose(diffs, g[:4]), axis=2))[0]
        assert i != j
        assert np.isclose(g @ np.append(0.5 * (X[i] + X[j]), 1.0), 0.0)
        assert g @ A[i] > 0 > g @ A[j]
    np.testing.assert_array_equal(bisector_gates(X, 25, seed=5, offset=False), G[:4])
    with pytest.raises(sn.InvalidInputError, match="at least two samples"):
        bisector_gates(X[:1], 3)
