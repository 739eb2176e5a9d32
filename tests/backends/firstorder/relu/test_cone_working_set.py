"""The interior point over a working set of patterns of a cone-constrained program: the
dual norms that certify it (exact cone projections, against cvxpy), and the hand-over of
``method="auto"`` to it (Clarabel's optimum, fewer patterns than the program's)."""

from functools import partial

import cvxpy as cp
import numpy as np
import pytest

import sdpnets as sn
from sdpnets.backends.firstorder.relu import methods
from sdpnets.backends.firstorder.relu.atoms import pattern_dual_norms
from sdpnets.backends.firstorder.relu.program import ReLUProgram
from sdpnets.losses import get_loss
from tests.backends.firstorder.relu.test_ipm import HINGE_TOL, TOL, beta_max, check
from tests.conftest import relu_teacher_data

data = partial(relu_teacher_data, n=40)


def cone_dual_norm(A, mask, v, sign):
    """max (sign D A u)^T v over the cone (2D - I) A u >= 0 and ||u|| <= 1, by cvxpy."""
    u = cp.Variable(A.shape[1])
    G = (2.0 * mask - 1.0)[:, None] * A
    problem = cp.Problem(cp.Maximize(sign * (A.T @ (mask * v)) @ u),
                         [G @ u >= 0, cp.norm(u) <= 1])
    problem.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert problem.status == "optimal", problem.status
    return max(problem.value, 0.0)


def test_pattern_dual_norms_bound_the_cone_projections_and_are_exact_above_beta():
    """Every bound holds against the projection solved apart; above ``beta`` it is that
    projection (the cones cut it well below ||F_j^T v|| for some patterns)."""
    X, y = data(seed=4)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=15, bias=True, seed=2)
    A = np.hstack([X, np.ones((len(X), 1))])
    masks = prog.patterns.masks.astype(float)
    v = np.random.default_rng(0).standard_normal(len(X))
    exact = np.array([max(cone_dual_norm(A, masks[:, j], v, 1.0),
                          cone_dual_norm(A, masks[:, j], v, -1.0))
                      for j in range(masks.shape[1])])
    loose = np.linalg.norm(A.T @ (masks * v[:, None]), axis=0)
    beta = float(np.median(exact))
    program = ReLUProgram(A, masks > 0, y, get_loss("squared"), beta)
    bounds = pattern_dual_norms(program, v, np.arange(masks.shape[1]))
    assert np.all(bounds >= exact * (1 - 1e-7) - 1e-9)
    above = bounds > beta
    assert above.any() and not above.all()
    np.testing.assert_allclose(bounds[above], exact[above], rtol=1e-6)
    assert np.all(bounds <= loose * (1 + 1e-12))
    assert (exact < 0.9 * loose).any()  # the cones matter on these data


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_the_atoms_hand_over_to_a_working_set_of_patterns(monkeypatch, loss):
    """With the atoms' share gone at once, ``auto`` hands over to the interior point over
    a working set, fewer than all of 60 patterns at a large ``beta``; the result is
    Clarabel's optimum with a bracket that holds, and its dual point is feasible on every
    pattern of the whole program (cone projections solved apart)."""
    X, y = data(n=50, labels=loss != "squared", seed=6)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=60, loss=loss, bias=True, seed=1)
    prog.beta = 0.3 * beta_max(X, y, prog.patterns.masks, True)
    monkeypatch.setattr(methods, "ATOMS_SHARE", 0.0)
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 0.0)
    res = check(prog, tol=TOL if loss == "squared" else HINGE_TOL, method="auto")
    stats = res.raw["statistics"][0]
    assert stats["handed_over"] and stats["working_set"] < prog.patterns.count
    A = np.hstack([X, np.ones((len(X), 1))])
    v = prog._fo_dual[:, 0]
    masks = prog.patterns.masks.astype(float)
    top = max(cone_dual_norm(A, masks[:, j], v, s) for j in range(masks.shape[1])
              for s in (1.0, -1.0))
    assert top <= prog.beta * (1 + 1e-6)


def test_a_wide_hand_over_solves_the_whole_program(monkeypatch):
    """When more than ``WORKING_SET_ALL_FROM`` of the patterns are live in the atoms'
    iterate, the whole program's interior point takes over (no working set)."""
    X, y = data(seed=6)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=20, bias=True, seed=1)
    prog.beta = 0.3 * beta_max(X, y, prog.patterns.masks, True)
    monkeypatch.setattr(methods, "ATOMS_SHARE", 0.0)
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 0.0)
    monkeypatch.setattr(methods, "WORKING_SET_ALL_FROM", -1.0)
    res = check(prog, method="auto")
    stats = res.raw["statistics"][0]
    assert stats["handed_over"] and "working_set" not in stats


def test_a_working_set_cut_short_keeps_its_best_bracket(monkeypatch):
    """When a later solve of the working set is cut short (here: made to report a time
    limit with a poorer bracket), the best bracket of the solves so far is returned, with
    the cut's status; that bracket holds for the whole program (Clarabel's optimum)."""
    X, y = data(n=80, seed=6)
    prog = sn.ConvexGatedReLU(X, y, 1.0, patterns=120, bias=True, seed=1)
    prog.beta = 0.02 * beta_max(X, y, prog.patterns.masks, True)
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    real, gaps = methods._screened, []

    def cut(program, drop, **kw):
        res, sigma = real(program, drop, **kw)
        if gaps:  # the second solve: cut, with a worse bracket than the first
            res.status, res.lower_bound = "time_limit", res.lower_bound - 10 * abs(ref)
        gaps.append(res.relative_gap)
        return res, sigma

    monkeypatch.setattr(methods, "_screened", cut)
    res = prog.solve(backend="firstorder", tol=1e-9)
    assert len(gaps) == 2 and gaps[1] > gaps[0]
    assert res.status == "time_limit"
    assert res.raw["lower_bound"] <= ref * (1 + 1e-9) <= res.objective * (1 + 1e-9)
    assert (res.objective - res.raw["lower_bound"]) / abs(res.objective) \
        == pytest.approx(gaps[0], rel=1e-6)
