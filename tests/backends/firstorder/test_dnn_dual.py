"""The DNN relaxation's dual as arrays: adjoint identities and weak duality, independently of
any solver."""

import numpy as np

from sdpnets.backends.firstorder.dnn_dual import (
    DNNMultipliers,
    certified_bound,
    constraint_maps,
    dual_value,
    h_scale,
    lagrangian_matrix,
    solve_dnn_dual,
    trace_bound,
)


def _random_multipliers(rng, n, K, scale=0.1):
    return DNNMultipliers(rng.standard_normal((n, K)), scale * rng.random((n, n)),
                          scale * rng.random((n, n)), scale * rng.random((n, n)),
                          scale * rng.standard_normal(n))


def _lift(X, U, alpha):
    """sum_j z_j z_j^T with z_j = (u_j, alpha_j, (X u_j)_+): a network as a feasible point."""
    Z = np.vstack([U, alpha.T, np.maximum(X @ U, 0.0)])
    return Z @ Z.T


def test_lagrangian_matrix_is_the_adjoint_of_the_constraint_maps():
    rng = np.random.default_rng(0)
    n, d, K, beta = 7, 3, 2, 0.7
    X = rng.standard_normal((n, d))
    m = _random_multipliers(rng, n, K)
    W = rng.standard_normal((d + K + n,) * 2)
    W = W + W.T
    Wha, Whh, HS, SS, dHS = constraint_maps(X, W, K)
    direct = (0.5 * beta * (np.trace(W[:d, :d]) + np.trace(W[d:d + K, d:d + K]))
              - np.sum(m.V * Wha) - np.sum(m.L_hh * Whh) - np.sum(m.L_hs * HS)
              - np.sum(m.L_ss * SS) - m.mu @ dHS)
    assert np.isclose(np.sum(lagrangian_matrix(X, beta, m) * W), direct, rtol=1e-12)


def test_networks_are_feasible_and_every_multiplier_gives_a_lower_bound():
    rng = np.random.default_rng(1)
    n, d, K, beta = 8, 3, 3, 0.5
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, K))
    nets = [(rng.standard_normal((d, 4)), rng.standard_normal((4, K))) for _ in range(20)]
    objs = [0.5 * np.sum((np.maximum(X @ U, 0) @ a - Y) ** 2)
            + 0.5 * beta * (np.sum(U * U) + np.sum(a * a)) for U, a in nets]
    upper = min(objs)
    for (U, a), obj in zip(nets, objs):
        M = _lift(X, U, a)
        Wha, Whh, HS, SS, dHS = constraint_maps(X, M, K)
        assert np.allclose(Wha, np.maximum(X @ U, 0) @ a)
        assert Whh.min() >= 0 and HS.min() >= -1e-12 and SS.min() >= -1e-12
        assert np.abs(dHS).max() <= 1e-10
        assert np.trace(M) <= trace_bound(X, beta, obj)  # the trace bound holds at every point
        for c in (0.1, 1.0, np.linalg.norm(X, 2), 30.0):  # and with the h-block scaled by c
            inv = 1.0 / h_scale(M.shape[0], n, c)
            assert np.trace(M * np.outer(inv, inv)) <= trace_bound(X, beta, obj, c) * (1 + 1e-12)
    for _ in range(20):
        m = _random_multipliers(rng, n, K)
        bound, _ = certified_bound(X, Y, beta, m, upper)
        assert bound <= upper + 1e-12
        assert bound <= max(dual_value(m.V, Y), 0.0) + 1e-12  # 0: the value of V = 0


def test_first_order_iterates_are_certified_and_improve():
    rng = np.random.default_rng(2)
    n, d, K, beta = 10, 3, 2, 1.0
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, K))
    U, a = rng.standard_normal((d, 5)), rng.standard_normal((5, K))
    upper = 0.5 * np.sum((np.maximum(X @ U, 0) @ a - Y) ** 2) + 0.5 * beta * (
        np.sum(U * U) + np.sum(a * a))
    upper = min(upper, 0.5 * np.sum(Y * Y))
    res = solve_dnn_dual(X, Y, beta, upper, max_iters=300, chunk=100)
    assert res.bound <= upper
    assert res.bound > dual_value(np.zeros((n, K)), Y) - 1e-12  # better than the zero point
    assert all(h <= upper for h in res.history)
    assert np.isclose(certified_bound(X, Y, beta, res.multipliers, upper)[0], res.bound)


def _wide_instance(seed=3, n=20, d=3, K=2, scale=3.0):
    """Rows of large norm (||X||_2^2 in the hundreds) and a network's objective."""
    rng = np.random.default_rng(seed)
    X = scale * rng.standard_normal((n, d))
    Y = np.eye(K)[rng.integers(0, K, n)]
    U, a = 0.1 * rng.standard_normal((d, 4)), 0.1 * rng.standard_normal((4, K))
    upper = 0.5 * np.sum((np.maximum(X @ U, 0) @ a - Y) ** 2) + 0.5 * (
        np.sum(U * U) + np.sum(a * a))
    return X, Y, min(upper, 0.5 * np.sum(Y * Y))


def test_first_order_bound_leaves_zero_on_rows_of_large_norm():
    # regression: from the residual of a poor network (V = Y, no elementwise multipliers),
    # with the unscaled lift, the line search failed from the first step and the bound
    # stayed at the trivial 0
    X, Y, upper = _wide_instance()
    assert np.linalg.norm(X, 2) ** 2 > 100
    n = X.shape[0]
    zeros = np.zeros((n, n))
    start = DNNMultipliers(Y.copy(), zeros, zeros, zeros, np.zeros(n))
    res = solve_dnn_dual(X, Y, 1.0, upper, start=start, max_iters=400)
    assert 0.0 < res.bound <= upper
    assert res.status == "iteration_limit"
    assert np.isclose(certified_bound(X, Y, 1.0, res.multipliers, upper)[0], res.bound)


def test_first_order_stops_on_the_certified_gap_or_the_time_limit():
    X, Y, upper = _wide_instance()
    reached = solve_dnn_dual(X, Y, 1.0, upper, max_iters=400).bound
    res = solve_dnn_dual(X, Y, 1.0, upper, target=0.5 * reached, tol=0.0, time_limit=60.0)
    assert res.status == "optimal" and res.bound >= 0.5 * reached
    res = solve_dnn_dual(X, Y, 1.0, upper, target=upper, tol=0.0, time_limit=0.5)
    assert res.status == "time_limit" and res.bound <= upper  # not a step size, not a count
