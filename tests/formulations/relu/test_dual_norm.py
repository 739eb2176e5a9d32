"""Certificates of two-layer ReLU networks without enumerating every activation pattern, and
the hinge loss's dual point.

References are computed independently: the exact dual norm by NNLS over every enumerated
pattern (``relu_dual_norm``), sampled directions by NumPy, the subgradient of the hinge
loss from the margins, the optimum by Clarabel on the exhaustive program.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.formulations.relu.dual_norm import (
    hinge_dual_point,
    relu_dual_norm,
    relu_dual_norm_lower,
    relu_dual_norm_upper,
)
from sdpnets.results import BetaMaxInterval


def sampled_max(A, v, k=4000, seed=1):
    """max over random unit directions of |v^T (Au)_+| (a lower bound on the dual norm)."""
    U = np.random.default_rng(seed).standard_normal((A.shape[1], k))
    U /= np.linalg.norm(U, axis=0)
    return float(np.abs(v @ np.maximum(A @ U, 0.0)).max())


def labels(n, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), np.where(rng.standard_normal(n) >= 0, 1.0, -1.0)


@pytest.mark.parametrize("bias", [False, True])
def test_dual_norm_bracket_contains_exact_value(bias):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 3)), rng.standard_normal(12)
    A = np.hstack([X, np.ones((12, 1))]) if bias else X
    prog = sn.ConvexReLU(X, y, 0.3, bias=bias)
    prog.solve(backend="clarabel", tol=1e-10)
    resid = y - prog.network().predict(X)
    for v in (resid, rng.standard_normal(12), -np.abs(y)):
        exact = relu_dual_norm(A, v)
        lower, u = relu_dual_norm_lower(A, v)
        assert lower <= exact * (1 + 1e-9)
        assert lower == pytest.approx(abs(v @ np.maximum(A @ u, 0.0)), rel=1e-12)
        methods = ("relaxation", "triangle") + (("descent",) if v is resid else ())
        for method in methods:
            upper = relu_dual_norm_upper(A, v, method=method)
            assert upper >= exact * (1 - 1e-12), method
        assert relu_dual_norm_upper(A, v) <= relu_dual_norm_upper(A, v, method="triangle")


def test_upper_bound_above_every_sampled_direction_at_size():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((200, 10))
    for v in (rng.standard_normal(200), np.abs(rng.standard_normal(200))):
        upper = relu_dual_norm_upper(A, v)
        lower, _ = relu_dual_norm_lower(A, v)
        assert sampled_max(A, v) <= lower * (1 + 1e-12) <= upper
        assert upper <= relu_dual_norm_upper(A, v, method="triangle")


def test_nonpositive_weights_have_zero_one_sided_bound():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((30, 4))
    v = -np.abs(rng.standard_normal(30))
    # max_u |v^T(Au)_+| = max_u |v|^T (Au)_+ : the bound must see the other sign
    assert relu_dual_norm_upper(A, v) >= relu_dual_norm(A, v) > 0


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_relaxation_certificate_never_above_the_exact_one(loss):
    X, y = labels(12, seed=5)
    if loss == "squared":
        y = y + 0.3 * np.random.default_rng(5).standard_normal(12)
    beta = 0.4
    prog = sn.ConvexReLU(X, y, beta, loss=loss)
    assert prog.solve(backend="clarabel", tol=1e-9).status in ("optimal", "optimal_inaccurate")
    worse = sn.ReLUMLP(prog.network().U * 0.7, prog.network().alpha, loss=loss)
    for net in (prog.network(), worse):
        exact = sn.certify(net, X, y, beta, loss=loss)
        relaxed = sn.certify(net, X, y, beta, loss=loss, max_patterns=1)
        assert exact.kind == "exact" and relaxed.kind == "relaxation"
        assert relaxed.lower_bound <= exact.lower_bound + 1e-12
        assert relaxed.lower_bound <= prog.result.objective + 1e-9
        lo, hi = relaxed.dual_norm_bounds
        elo, ehi = exact.dual_norm_bounds
        assert elo == ehi and lo <= elo * (1 + 1e-9) and hi >= ehi * (1 - 1e-12)
        assert relaxed.upper_bound == exact.upper_bound == net.objective(X, y, beta, loss)


def test_certificate_at_n200_d10_returns_a_valid_bracket():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((200, 10))
    y = np.maximum(X @ rng.standard_normal(10), 0) + 0.1 * rng.standard_normal(200)
    beta = 1.0
    prog = sn.ConvexReLU(X, y, beta, patterns=30, seed=0)
    res = prog.solve(backend="clarabel", tol=1e-8)
    assert res.status == "optimal" and not res.exact
    cert = prog.certificate()
    assert cert.kind == "relaxation"
    # the sampled program's optimum is an upper bound on the global optimum
    assert 0 < cert.lower_bound <= res.objective <= cert.upper_bound + 1e-6 * res.objective
    lo, hi = cert.dual_norm_bounds
    assert 0 < lo <= hi
    net = prog.network()
    c2 = sn.certify(net, X, y, beta)
    assert c2.kind == "relaxation" and c2.lower_bound <= res.objective
    bm = sn.beta_max(X, y)
    assert isinstance(bm, BetaMaxInterval) and not bm.exact
    sampled = sampled_max(X, y)
    assert sampled <= bm.upper == float(bm) and 0.95 * sampled <= bm.lower <= bm.upper


def test_beta_max_interval_contains_exact_value_and_zero_network_above():
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((12, 3)), rng.standard_normal(12)
    exact = sn.beta_max(X, y)
    assert type(exact) is float
    full = sn.beta_max(X, y, interval=True)
    assert full.exact and full.lower == full.upper == pytest.approx(exact, rel=1e-12)
    bm = sn.beta_max(X, y, max_patterns=1)
    assert isinstance(bm, BetaMaxInterval) and not bm.exact
    assert bm.lower <= exact * (1 + 1e-9) and bm.upper >= exact * (1 - 1e-12)
    assert "lower" in repr(bm)
    zero = 0.5 * float(y @ y)
    above = sn.ConvexReLU(X, y, bm.upper * 1.01)
    assert above.solve(backend="clarabel", tol=1e-10).objective == pytest.approx(zero, rel=1e-7)
    below = sn.ConvexReLU(X, y, bm.lower * 0.9)
    assert below.solve(backend="clarabel", tol=1e-10).objective < zero * (1 - 1e-4)


@pytest.mark.parametrize("loss,bias,seed", [("hinge", False, 0), ("hinge", True, 1),
                                            ("logistic", False, 2), ("logistic", True, 3)])
def test_certify_of_optimal_classifier_is_tight(loss, bias, seed):
    X, y = labels(12, seed)
    beta = 0.3 * float(sn.beta_max(X, y, loss=loss, bias=bias))
    prog = sn.ConvexReLU(X, y, beta, loss=loss, bias=bias)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sn.SdpnetsWarning)
        res = prog.solve(backend="clarabel", tol=1e-10)
        net = prog.network()
    assert res.solved
    cert = sn.certify(net, X, y, beta, loss=loss)
    assert cert.kind == "exact"
    assert cert.upper_bound == pytest.approx(res.objective, rel=1e-7)
    assert cert.gap <= 1e-6 * cert.upper_bound


def test_hinge_dual_point_is_the_margin_subgradient_without_ties():
    rng = np.random.default_rng(8)
    A = rng.standard_normal((10, 3))
    y = np.where(rng.standard_normal(10) >= 0, 1.0, -1.0)
    yhat = y * np.linspace(-1.45, 3.05, 10)  # margins away from 1
    margin = y * yhat
    assert np.all(np.abs(margin - 1) > 1e-2)
    v = hinge_dual_point(A, yhat, y, 1.0, neurons=rng.standard_normal((3, 2)))
    np.testing.assert_array_equal(v, y * (margin < 1))


def test_hinge_dual_point_matches_the_solver_subgradient_at_the_optimum():
    X, y = labels(12, seed=9)
    beta = 0.3 * float(sn.beta_max(X, y, loss="hinge"))
    prog = sn.ConvexReLU(X, y, beta, loss="hinge")
    assert prog.solve(backend="clarabel", tol=1e-10).status == "optimal"
    net = prog.network()
    margin = y * net.predict(X)
    cert = sn.certify(net, X, y, beta, loss="hinge")
    theta = y * cert.dual_point[:, 0]
    # an element of the subdifferential at the network's predictions
    assert np.all(theta[margin < 1 - 1e-6] == pytest.approx(1.0, abs=1e-9))
    assert np.all(theta[margin > 1 + 1e-6] == pytest.approx(0.0, abs=1e-9))
    assert np.all((theta >= 0) & (theta <= 1))
    ties = np.abs(margin - 1) <= 1e-6
    assert ties.any()  # the choice matters on this instance
    # dual feasible (exact dual norm over every pattern) ...
    assert relu_dual_norm(X, cert.dual_point[:, 0]) <= beta * (1 + 1e-7)
    # ... and as good as the solver's own multiplier, an independent subgradient choice
    solver = np.clip(y * prog.dual_point()[:, 0], 0, 1)
    assert theta.sum() == pytest.approx(solver.sum(), rel=1e-6)
    # the naive choice (1/2 on the margin points) leaves a gap on this instance
    naive = y * np.where(margin < 1 - 1e-6, 1.0, np.where(margin > 1 + 1e-6, 0.0, 0.5))
    scale = min(1.0, beta / relu_dual_norm(X, naive))
    assert scale * naive.dot(y) < cert.lower_bound - 1e-6


def test_relu_cnn_certificate_without_enumeration():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((10, 6))
    y = rng.standard_normal(10)
    prog = sn.ConvexReLUCNN(X, y, 0.5, kernel_size=3, patterns=20, seed=0)
    res = prog.solve(backend="clarabel", tol=1e-9)
    assert res.solved
    exact = sn.certify(prog.network(), X, y, 0.5, max_patterns=10**6)
    relaxed = sn.certify(prog.network(), X, y, 0.5, max_patterns=1)
    assert exact.kind == "exact" and relaxed.kind == "relaxation"
    assert relaxed.lower_bound <= exact.lower_bound + 1e-12
    assert exact.lower_bound <= res.objective + 1e-8


def test_bounds_are_homogeneous_down_to_tiny_and_up_to_huge_scales():
    rng = np.random.default_rng(11)
    A, v = rng.standard_normal((20, 3)), rng.standard_normal(20)
    upper, lower = relu_dual_norm_upper(A, v), relu_dual_norm_lower(A, v)[0]
    exact = relu_dual_norm(A, v)
    for a, c in ((1e-200, 1.0), (1e150, 1e-100), (3.0, 1e-30)):
        assert relu_dual_norm_upper(a * A, c * v) == pytest.approx(a * c * upper, rel=1e-9)
        assert relu_dual_norm_lower(a * A, c * v)[0] == pytest.approx(a * c * lower, rel=1e-9)
        assert a * c * lower <= a * c * exact * (1 + 1e-9) <= a * c * upper * (1 + 2e-9)
    assert relu_dual_norm_upper(1e200 * A, 1e200 * v) == np.inf  # overflow: still an upper bound
    assert relu_dual_norm_upper(A, np.zeros(20)) == relu_dual_norm_lower(A, np.zeros(20))[0] == 0


@pytest.mark.parametrize("seed", range(3))
def test_the_exact_dual_norm_returns_a_unit_direction_attaining_it(seed):
    """``return_direction``: a unit ``u`` with ``|v^T (Au)_+|`` equal to the value, which
    no sampled direction exceeds."""
    rng = np.random.default_rng(seed)
    A, v = rng.standard_normal((12, 3)), rng.standard_normal(12)
    value, u = relu_dual_norm(A, v, return_direction=True)
    assert np.linalg.norm(u) == pytest.approx(1.0, rel=1e-9)
    assert abs(v @ np.maximum(A @ u, 0.0)) == pytest.approx(value, rel=1e-7)
    assert sampled_max(A, v) <= value * (1 + 1e-9)


def test_hinge_dual_point_on_margin_points_obeys_the_cuts():
    """On margin points (every margin exactly 1) the choice of ``theta`` is constrained by
    the cells of the ``cuts`` alone when no neurons are given: ``theta = 1`` everywhere when
    ``beta`` exceeds what any cell can reach (``||A^T y||`` bounds it), and for a small
    ``beta`` a nonzero choice that keeps the cut's cell within ``beta`` (the exact dual norm
    over that one pattern, by NNLS)."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((10, 3))
    y = np.where(rng.standard_normal(10) >= 0, 1.0, -1.0)
    cut = rng.standard_normal(3)
    big = 10.0 * float(np.abs(A).sum())
    np.testing.assert_allclose(hinge_dual_point(A, y, y, big, cuts=cut), y, atol=1e-6)
    beta = 0.05 * float(np.linalg.norm(A.T @ y))
    v = hinge_dual_point(A, y, y, beta, cuts=cut)
    theta = y * v
    assert np.all((theta >= -1e-9) & (theta <= 1 + 1e-9))
    assert theta.sum() > 1e-3  # the best choice is not the zero subgradient
    cell = (A @ cut >= 0)[:, None]
    assert relu_dual_norm(A, v, masks=cell) <= beta * (1 + 1e-5)


def test_the_descent_minimizes_the_bound_it_certifies():
    """The multiplier descent's objective and gradient (``_bound_and_gradient``) are the
    certified bound (``_multiplier_bound``) at the same multipliers and its derivatives
    (central differences)."""
    from sdpnets.formulations.relu.dual_norm import _bound_and_gradient, _multiplier_bound

    rng = np.random.default_rng(4)
    A, w = rng.standard_normal((15, 4)), rng.standard_normal(15)
    r, c = np.linalg.norm(A, axis=1), np.abs(w)
    pos, neg = np.flatnonzero(w > 0), np.flatnonzero(w < 0)
    pi = rng.uniform(0.1, 0.6, neg.size)
    e = rng.uniform(-0.3, 0.3, neg.size)
    x = np.concatenate([np.log(rng.uniform(0.05, 0.5, pos.size)), pi, e])
    value, grad = _bound_and_gradient(x, A, w, c, r, pos, neg)
    Z, Pi, E = np.zeros(15), np.zeros(15), np.zeros(15)
    Z[pos], Pi[neg], E[neg] = np.exp(x[: pos.size]), pi, e
    assert value == pytest.approx(_multiplier_bound(A, w, Z, Pi, E), rel=1e-9)
    h = 1e-6
    numeric = [(_bound_and_gradient(x + h * d, A, w, c, r, pos, neg)[0]
                - _bound_and_gradient(x - h * d, A, w, c, r, pos, neg)[0]) / (2 * h)
               for d in np.eye(x.size)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6)


def test_a_floor_skips_patterns_but_not_the_value(monkeypatch):
    """relu_dual_norm with a floor is max(dual norm, floor), and a floor above every
    pattern's bound ||A^T D v|| solves no pattern; program_beta_max, which passes the
    running maximum over the outputs as the floor, equals the largest output's dual norm
    computed alone."""
    from sdpnets.formulations.relu import dual_norm as dn

    rng = np.random.default_rng(7)
    X = rng.standard_normal((25, 3))
    Y = rng.standard_normal((25, 4))
    prog = sn.ConvexReLU(X, Y, 1.0, patterns=12, seed=1, bias=True)
    A, masks = np.hstack([X, np.ones((25, 1))]), prog.patterns.masks
    alone = [relu_dual_norm(A, Y[:, k], masks) for k in range(4)]
    assert prog.program_beta_max() == pytest.approx(max(alone), rel=1e-12)
    value = alone[0]
    assert relu_dual_norm(A, Y[:, 0], masks, floor=0.5 * value) == pytest.approx(value)
    assert relu_dual_norm(A, Y[:, 0], masks, floor=2.0 * value) == 2.0 * value
    solved, real = [], dn.nnls
    monkeypatch.setattr(dn, "nnls", lambda *a, **k: solved.append(1) or real(*a, **k))
    top = float(np.linalg.norm(A.T @ (masks * Y[:, :1]), axis=0).max())
    assert relu_dual_norm(A, Y[:, 0], masks, floor=0.0) > 0 and solved  # the spy counts
    solved.clear()
    assert relu_dual_norm(A, Y[:, 0], masks, floor=top) == top
    assert not solved


def test_tightened_bounds_hold_and_leave_the_dual_norm_unchanged(monkeypatch):
    """The projected-gradient bounds of every pattern and sign lie between the exact value
    (one NNLS each, computed here) and ||A^T D v||, in chunks of patterns too; the dual norm
    and its direction are those of the untightened search."""
    from scipy.optimize import nnls

    from sdpnets.formulations.relu import dual_norm as dn

    rng = np.random.default_rng(11)
    A = np.hstack([rng.standard_normal((30, 4)), np.ones((30, 1))])
    v = rng.standard_normal(30)
    masks = A @ rng.standard_normal((5, 40)) >= 0
    C = A.T @ (masks * v[:, None])
    monkeypatch.setattr(dn, "_BOUND_FLOATS", 2 * 30 * 7)  # chunks of 7 patterns
    bounds = dn._tightened_bounds(A, masks, C, 10)
    for i in range(40):
        At = (A * (2.0 * masks[:, i, None] - 1.0)).T
        for side, s in enumerate((1.0, -1.0)):
            exact = nnls(At, -s * C[:, i], maxiter=5000)[1]
            assert exact <= bounds[side, i] * (1 + 1e-12) + 1e-12
            assert bounds[side, i] <= np.linalg.norm(C[:, i]) * (1 + 1e-12)
    assert (bounds < np.linalg.norm(C, axis=0) * (1 - 1e-3)).any()  # it does tighten
    value, u = relu_dual_norm(A, v, masks, return_direction=True)
    monkeypatch.setattr(dn, "BOUND_STEPS", 0)
    plain, u0 = relu_dual_norm(A, v, masks, return_direction=True)
    assert value == pytest.approx(plain, rel=1e-12)
    np.testing.assert_allclose(u, u0, atol=1e-9)
