"""The DNN relaxation's dual as arrays: adjoint identities and weak duality, independently of
any solver."""

import numpy as np

from sdpnets.backends.firstorder.dnn_dual import (
    DNNMultipliers,
    certified_bound,
    constraint_maps,
    dual_value,
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
    res = solve_dnn_dual(X, Y, beta, upper, max_iters=300, rounds=3)
    assert res.bound <= upper
    assert res.bound > dual_value(np.zeros((n, K)), Y) - 1e-12  # better than the zero point
    assert all(h <= upper for h in res.history)
    assert np.isclose(certified_bound(X, Y, beta, res.multipliers, upper)[0], res.bound)
