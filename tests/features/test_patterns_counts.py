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
from sdpnets.features.arrangement import arrangement_info
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
