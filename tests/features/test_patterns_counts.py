"""Pattern enumeration at its limits (issue 26): the ``max_patterns`` threshold is inclusive,
sampled patterns are checked against every cell exactly when that fits, and the words about
degenerate rows appear exactly when the rows are degenerate.

Cell counts are computed here independently: for ``m`` hyperplanes in general position
through the origin of :math:`\\mathbb{R}^r` there are :math:`2\\sum_{k<r}\\binom{m-1}{k}`
cells (Cover 1965; Zaslavsky's count for a central arrangement), and for small planar data
the cells are counted by sweeping the gate's angle on a fine grid.
"""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.features import arrangement
from sdpnets.features.arrangement import arrangement_info, enumerate_cells, max_pattern_count
from sdpnets.features.patterns import enumerate_patterns, resolve_patterns, sample_patterns


def cover(m: int, r: int) -> int:
    return 2 * sum(comb(m - 1, k) for k in range(min(r, m)))


def _rows(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


@pytest.mark.parametrize("n, d", [(5, 2), (7, 3), (9, 3), (6, 4)])
def test_the_max_patterns_threshold_is_inclusive(n, d):
    X = _rows(n, d, seed=n + d)
    bound = cover(n, d)
    full = enumerate_patterns(X, max_patterns=bound)  # exactly the bound: allowed
    assert full.cells_found == bound and full.complete and full.general_position
    with pytest.raises(sn.ProblemTooLargeError, match="max_patterns"):
        enumerate_patterns(X, max_patterns=bound - 1)
    assert arrangement_info(X).max_cells == bound


@pytest.mark.parametrize("n, d", [(6, 2), (8, 3)])
def test_sampled_patterns_are_checked_exactly_when_every_cell_fits(n, d):
    X = _rows(n, d, seed=3)
    bound = cover(n, d)
    checked = resolve_patterns(X, 4, seed=0, max_patterns=bound)
    assert checked.cells_expected == bound  # counted by enumeration
    assert "counted by exhaustive enumeration" in checked.message
    assert not checked.complete  # 4 gates cannot find every cell
    unchecked = resolve_patterns(X, 4, seed=0, max_patterns=bound - 1)
    assert "counted by exhaustive enumeration" not in unchecked.message
    assert not unchecked.complete


@pytest.mark.parametrize("seed", range(3))
def test_the_program_is_exact_only_with_every_cell(seed):
    X, y = _rows(7, 2, seed), np.random.default_rng(seed).standard_normal(7)
    bound = cover(7, 2)
    assert sn.ConvexReLU(X, y, 0.5, patterns=4000, max_patterns=bound).exact
    assert not sn.ConvexReLU(X, y, 0.5, patterns=2, max_patterns=bound).exact
    # without the enumeration, sampled cells are complete when their count reaches the bound
    found = sample_patterns(X, 4000, seed=0)
    assert found.cells_found == bound
    assert sn.ConvexReLU(X, y, 0.5, patterns=4000, max_patterns=bound - 1).exact
    assert not sn.ConvexReLU(X, y, 0.5, patterns=2, max_patterns=bound - 1).exact


def _planar_cells(X: np.ndarray, grid: int = 200_000) -> int:
    """Cells of the arrangement of the rows of a 2-column ``X``, by sweeping the angle."""
    psi = np.linspace(0, 2 * np.pi, grid, endpoint=False)
    G = np.stack([np.cos(psi), np.sin(psi)])
    masks = X @ G >= 0
    changes = np.any(masks != np.roll(masks, 1, axis=1), axis=0)
    return max(int(changes.sum()), 1)


@pytest.mark.parametrize("seed", range(4))
def test_planar_counts_match_an_angle_sweep(seed):
    X = _rows(6, 2, seed)
    X[1] = -2.5 * X[0]  # a parallel row (opposite sign): the same line
    X[2] = 0.0
    pats = enumerate_patterns(X)
    assert pats.cells_found == _planar_cells(X) == 2 * 4  # 4 distinct lines
    assert not pats.general_position


def test_general_position_is_said_so_and_nothing_degenerate_is_claimed():
    pats = enumerate_patterns(_rows(8, 3, seed=5))
    assert pats.general_position
    assert "general position" in pats.message
    for word in ("not in general position", "meet in some ray", "repeated", "degenerate"):
        assert word not in pats.message


def test_repeated_rows_are_named_and_no_degenerate_ray_is_claimed():
    X = _rows(7, 3, seed=6)
    X[3] = X[1]  # a repeated row; the distinct hyperplanes stay in general position
    pats = enumerate_patterns(X)
    assert not pats.general_position
    assert pats.cells_found == cover(6, 3)  # the six distinct hyperplanes' count
    assert "1 repeated/parallel" in pats.message
    assert "meet in some ray" not in pats.message


def test_hyperplanes_through_a_common_ray_are_named():
    """Four rows in a common plane of R^3: their hyperplanes all contain that plane's normal
    line, so fewer cells than in general position, and the message says why."""
    rng = np.random.default_rng(8)
    basis = np.linalg.qr(rng.standard_normal((3, 2)))[0]
    X = np.vstack([(basis @ rng.standard_normal((2, 4))).T, rng.standard_normal((3, 3))])
    pats = enumerate_patterns(X)
    assert pats.cells_found < cover(7, 3)
    assert not pats.general_position
    assert "meet in some ray" in pats.message
    # and the count is every cell: no sampled gate finds another
    dense = sample_patterns(X, 20000, seed=1)
    have = {m.tobytes() for m in np.ascontiguousarray(pats.masks.T)}
    assert all(m.tobytes() in have for m in np.ascontiguousarray(dense.masks.T))


@pytest.mark.parametrize("tol", [0, 0.0, -1e-12, 0.011, 1, np.nan, True, "1e-10", None])
def test_a_tolerance_outside_zero_to_a_hundredth_is_refused(tol):
    """The tolerance is relative (to unit normals): a real number in (0, 1e-2]."""
    X = _rows(5, 2)
    for call in (lambda: enumerate_patterns(X, tol=tol), lambda: arrangement_info(X, tol),
                 lambda: sample_patterns(X, 10, tol=tol)):
        with pytest.raises(sn.InvalidInputError, match="tol must be"):
            call()


def test_a_tolerance_of_a_hundredth_is_allowed():
    X = _rows(5, 2, seed=1)
    assert enumerate_patterns(X, tol=1e-2).cells_found == cover(5, 2)


def test_no_hyperplane_leaves_the_whole_space_one_cell():
    """Zero rows cut nothing: one cell (every gate), where every row is active, and a
    ``max_patterns`` of one is enough for it."""
    X = np.zeros((4, 3))
    info = arrangement_info(X)
    assert (info.hyperplanes, info.zero_rows, info.rank, info.max_cells) == (0, 4, 0, 1)
    cells = enumerate_cells(X, max_patterns=1)
    assert cells.count == cells.bound == 1
    assert cells.masks.shape == (4, 1) and cells.masks.all()
    for m, r in [(0, 3), (0, 0), (5, 0)]:  # no hyperplane, or none of positive rank
        assert max_pattern_count(m, r) == 1


@pytest.mark.parametrize("n, d", [(6, 3), (5, 4), (6, 2)])
def test_enumeration_is_refused_past_its_candidate_gates(n, d, monkeypatch):
    """Enumeration perturbs the ray of every ``(r-1)``-subset of the ``m`` hyperplanes into
    each of the ``2^(r-1)`` sign orthants of the subset: ``C(m, r-1) 2^(r-1)`` candidate
    gates (``2m`` in the plane, one per ray direction). Past ``MAX_CANDIDATE_GATES`` it is
    refused before any work; at it, it runs."""
    X = _rows(n, d, seed=n * d)
    work = 2 * n if d == 2 else comb(n, d - 1) * 2 ** (d - 1)
    monkeypatch.setattr(arrangement, "MAX_CANDIDATE_GATES", work)
    assert enumerate_patterns(X).cells_found == cover(n, d)
    monkeypatch.setattr(arrangement, "MAX_CANDIDATE_GATES", work - 1)
    with pytest.raises(sn.ProblemTooLargeError, match="candidate gates"):
        enumerate_patterns(X)


def test_rows_near_a_lower_rank_are_enumerated_at_the_rank_of_the_bound():
    """Rows of R^4 within about 1e-7 of a 3-D subspace: whatever the tolerance, enumeration
    never finds more cells than the bound at the rank the tolerance gives (the rank is
    relative to the largest singular value of the unit normals, for the bound and the
    enumeration alike), and at rank 3 it finds the 3-D count of the projected rows, which
    are in general position. The tolerances include one between the relative rule and the
    same rule read as absolute (a singular value above ``tol * m`` but below
    ``tol * s_max * m``)."""
    rng = np.random.default_rng(0)
    n = 10
    X = np.hstack([rng.standard_normal((n, 3)), 1e-7 * rng.standard_normal((n, 1))])
    s = np.linalg.svd(X / np.linalg.norm(X, axis=1, keepdims=True), compute_uv=False)
    between = s[3] / (n * np.sqrt(s[0]))
    assert s[3] > between * n and s[3] < between * s[0] * n  # the rules disagree here
    for tol in (1e-10, between, 1e-7):
        rank = arrangement_info(X, tol).rank
        cells = enumerate_cells(X, 10**6, tol=tol)
        assert cells.bound == cover(n, rank)
        assert cells.count <= cells.bound
        if rank == 3:
            assert cells.count == cover(n, 3)
    assert arrangement_info(X, between).rank == 3
