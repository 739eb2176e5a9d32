"""CopositiveReLU: certified brackets for vector-output ReLU networks with standard weight
decay (docs/relu_vector_output.md). Every reference is computed independently: the scalar
exact program, closed forms of planted instances, local trainings, a brute-force solution."""

import itertools
import warnings

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.features.patterns import enumerate_patterns
from sdpnets.formulations.relu.rounding import output_weights
from sdpnets.local import train_relu_mlps_adam


def objective(U, a, X, Y, beta):
    R = np.maximum(X @ U, 0.0) @ a - Y
    return 0.5 * np.sum(R * R) + 0.5 * beta * (np.sum(U * U) + np.sum(a * a))


def softmax_objective(U, a, X, Y, beta):
    """Softmax cross-entropy, summed over samples, plus the standard weight decay."""
    F = np.maximum(X @ U, 0.0) @ a
    m = F.max(axis=1)
    lse = m + np.log(np.exp(F - m[:, None]).sum(axis=1))
    return np.sum(lse - np.sum(Y * F, axis=1)) + 0.5 * beta * (np.sum(U * U) + np.sum(a * a))


def onehot_data(n, d, K, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.eye(K)[rng.integers(0, K, n)]


def local_trainings(X, Y, beta, runs=100, width=8, steps=1500, seed=0):
    """Objectives of `runs` standard networks trained by Adam from random starts."""
    nets = train_relu_mlps_adam(X, Y, beta, width, runs=runs, steps=steps, lr=0.02, seed=seed)
    return [objective(net.U, net.alpha, X, Y, beta) for net in nets]


@pytest.mark.parametrize("seed", [0, 1])
def test_one_output_cone_split_is_the_exact_scalar_program(seed):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((9, 2)), rng.standard_normal(9)
    prog = sn.CopositiveReLU(X, y, 0.3, relaxation="cone_split")
    res = prog.solve()
    exact = sn.ConvexReLU(X, y, 0.3, patterns="exhaustive").solve()
    assert prog.exact and res.exact
    assert abs(res.objective - exact.objective) <= 1e-6 * exact.objective
    assert res.lower_bound <= exact.objective * (1 + 1e-7)
    assert prog.certificate().kind == "exact"


def planted_spike_free(n, d, K, seed):
    """X with orthonormal rows and Y = P S B^T, P >= 0 with disjoint column supports."""
    rng = np.random.default_rng(seed)
    X = np.linalg.qr(rng.standard_normal((d, n)))[0].T
    groups = np.arange(n) % 2
    P = np.zeros((n, 2))
    P[np.arange(n), groups] = rng.uniform(0.5, 1.5, n)
    P /= np.linalg.norm(P, axis=0)
    B = np.linalg.qr(rng.standard_normal((K, 2)))[0]
    return X, P @ np.diag([3.0, 2.0]) @ B.T


@pytest.mark.parametrize("relaxation", ["dnn", "cone_split"])
def test_planted_spike_free_instances_close_the_gap(relaxation):
    X, Y = planted_spike_free(5, 7, 3, seed=3)
    beta = 0.8
    # closed form: soft-thresholded SVD of Y (left factor >= 0) realized by u = X^T a
    Ua, s, Bt = np.linalg.svd(Y, full_matrices=False)
    keep = s > beta
    sign = np.where(Ua[:, keep].sum(0) < 0, -1.0, 1.0)
    Z = (Ua[:, keep] * sign) * (s[keep] - beta) @ (Bt[keep] * sign[:, None])
    optimum = 0.5 * np.sum((Z - Y) ** 2) + beta * np.sum(s[keep] - beta)
    res = sn.CopositiveReLU(X, Y, beta, relaxation=relaxation).solve()
    assert res.lower_bound <= optimum * (1 + 1e-9)
    assert res.upper_bound >= optimum * (1 - 1e-9)
    assert res.relative_gap < 1e-6


@pytest.mark.parametrize("relaxation", ["dnn", "cone_split"])
def test_lower_bound_below_100_local_trainings_and_upper_bound_is_the_network(relaxation):
    X, Y = onehot_data(10, 2, 3, seed=4)
    X = np.hstack([X, np.ones((10, 1))])
    beta = 0.5
    prog = sn.CopositiveReLU(X, Y, beta, relaxation=relaxation)
    res = prog.solve()
    objs = local_trainings(X, Y, beta)
    assert res.lower_bound <= min(objs)
    net = prog.network()
    assert net.output_penalty == "frobenius"
    assert res.upper_bound == pytest.approx(objective(net.U, net.alpha, X, Y, beta), rel=1e-12)
    cert = prog.certificate()
    assert cert.lower_bound == res.lower_bound and cert.upper_bound == res.upper_bound


@pytest.mark.parametrize("relaxation", ["dnn", "cone_split"])
def test_softmax_lower_bound_below_100_local_trainings_and_upper_bound_is_the_network(
        relaxation):
    # the relaxations' prediction is linear in the lifted matrix: a convex loss of it keeps a
    # convex relaxation whose dual bound -L*(-V) + T min(0, lambda_min) holds for any network
    X, Y = onehot_data(10, 2, 3, seed=4)
    X = np.hstack([X, np.ones((10, 1))])
    beta = 0.5
    prog = sn.CopositiveReLU(X, Y, beta, relaxation=relaxation, loss="softmax")
    assert "exp" in prog.cones
    res = prog.solve()
    nets = train_relu_mlps_adam(X, Y, beta, 8, runs=100, steps=1500, lr=0.02, seed=0,
                                loss="softmax")
    objs = [softmax_objective(net.U, net.alpha, X, Y, beta) for net in nets]
    assert res.lower_bound <= min(objs)
    assert res.lower_bound <= res.objective * (1 + 1e-9)  # below the relaxation's value
    net = prog.network()
    assert net.loss.name == "softmax" and net.output_penalty == "frobenius"
    assert res.upper_bound == pytest.approx(softmax_objective(net.U, net.alpha, X, Y, beta),
                                            rel=1e-12)


def test_certify_softmax_network():
    X, Y = onehot_data(9, 3, 3, seed=6)
    beta = 0.5
    rng = np.random.default_rng(0)
    net = sn.ReLUMLP(rng.standard_normal((3, 5)), rng.standard_normal((5, 3)), loss="softmax")
    cert = sn.certify(net, X, Y, beta)
    assert cert.upper_bound == pytest.approx(softmax_objective(net.U, net.alpha, X, Y, beta))
    nets = train_relu_mlps_adam(X, Y, beta, 8, runs=30, steps=800, lr=0.02, loss="softmax")
    assert cert.lower_bound <= min(softmax_objective(m.U, m.alpha, X, Y, beta) for m in nets)


def brute_force_optimum(X, Y, beta, rounds=200):
    """The exact optimum on tiny data: column generation on unit directions whose oracle is
    the exact dual norm max_u ||V^T (Xu)_+|| (every cell, every face: the top singular vector
    of V^T D X restricted to the face's span, kept if it lies in the closed cell)."""
    n, d = X.shape
    masks = enumerate_patterns(X).masks
    subsets = [list(S) for k in range(d) for S in itertools.combinations(range(n), k)]

    def dual_norm(V):
        best, best_u = 0.0, None
        for i in range(masks.shape[1]):
            D = masks[:, i].astype(float)
            C = (2 * D - 1)[:, None] * X
            B = V.T @ (D[:, None] * X)
            for S in subsets:
                N = np.linalg.svd(X[S])[2][len(S):].T if S else np.eye(d)
                if N.shape[1] == 0:
                    continue
                u = N @ np.linalg.svd(B @ N)[2][0]
                for c in (u, -u):
                    if np.all(C @ c >= -1e-10):
                        val = np.linalg.norm(V.T @ np.maximum(X @ c, 0))
                        if val > best:
                            best, best_u = val, c
        return best, best_u

    dirs = X.T / np.linalg.norm(X.T, axis=0)
    for _ in range(rounds):
        H = np.maximum(X @ dirs, 0)
        G, upper = output_weights(H, Y, beta)
        V = Y - H @ G
        N, u = dual_norm(V)
        s = min(max(np.sum(V * Y) / np.sum(V * V), 0.0), beta / N)
        lower = 0.5 * np.sum(Y * Y) - 0.5 * np.sum((Y - s * V) ** 2)
        if upper - lower <= 1e-8 * upper:
            return lower, upper
        dirs = np.hstack([dirs, u[:, None]])
    raise AssertionError("brute force did not converge")


def test_brute_force_optimum_lies_in_the_bracket_and_bounds_the_gap():
    X, Y = onehot_data(7, 2, 2, seed=5)
    X = np.hstack([X, np.ones((7, 1))])
    beta = 0.4
    lower, upper = brute_force_optimum(X, Y, beta)
    for relaxation in ("cone_split", "dnn"):
        res = sn.CopositiveReLU(X, Y, beta, relaxation=relaxation).solve()
        assert res.lower_bound <= upper * (1 + 1e-9)
        assert res.upper_bound >= lower * (1 - 1e-9)
        # the relaxation's own gap is at least the true optimum's distance from its bound
        assert res.upper_bound - res.lower_bound >= (lower - res.lower_bound) - 1e-9


def test_certify_multi_output_frobenius_network():
    X, Y = onehot_data(9, 3, 3, seed=6)
    beta = 0.5
    rng = np.random.default_rng(0)
    net = sn.ReLUMLP(rng.standard_normal((3, 5)), rng.standard_normal((5, 3)))
    cert = sn.certify(net, X, Y, beta)
    assert cert.upper_bound == pytest.approx(objective(net.U, net.alpha, X, Y, beta))
    assert cert.kind in ("relaxation", "exact")
    assert cert.lower_bound <= min(local_trainings(X, Y, beta, runs=30, steps=800))
    with pytest.raises(sn.NonConvexFormulationError, match="squared"):
        sn.certify(net, X, 2.0 * Y - 1.0, beta, loss="logistic")


def test_certify_refuses_a_network_with_an_output_offset():
    """The relaxation bounds networks without an output offset; with one, the best constant
    alone can go below that bound (targets shifted far from zero), so certify refuses such
    a network before any solver runs, instead of returning a bound that is not one."""
    X, Y = onehot_data(9, 3, 3, seed=6)
    Y = Y + 10.0  # an offset of 10 fits these targets at a cost the bound cannot see
    beta = 0.5
    offset_only = sn.ReLUMLP(np.zeros((3, 1)), np.zeros((1, 3)), offset=Y.mean(axis=0))
    no_offset = sn.CopositiveReLU(X, Y, beta).solve()
    assert offset_only.objective(X, Y, beta) < no_offset.lower_bound  # the bound would fail
    with pytest.raises(sn.InvalidInputError, match="offset"):
        sn.certify(offset_only, X, Y, beta)


def test_first_order_bound_is_certified():
    X, Y = onehot_data(8, 2, 2, seed=7)
    beta = 1.0
    conic = sn.CopositiveReLU(X, Y, beta, relaxation="dnn").solve()
    prog = sn.CopositiveReLU(X, Y, beta, relaxation="dnn")
    res = prog.solve(backend="firstorder", max_iters=200)
    assert res.lower_bound <= conic.objective * (1 + 1e-7)  # below the relaxation's optimum
    assert res.lower_bound <= res.upper_bound
    with warnings.catch_warnings():  # an open bracket is reported as optimal_inaccurate
        warnings.simplefilter("ignore", sn.SdpnetsWarning)
        net = prog.network()
    assert res.upper_bound == pytest.approx(net.objective(X, Y, beta), rel=1e-12)


def test_first_order_bound_is_nontrivial_on_rows_of_large_norm():
    """Regression: the trace bound of the unscaled lift carries 1 + ||X||_2^2 (here ~240),
    and the smoothed dual was then so ill-conditioned that L-BFGS failed from its first step
    and the bound stayed at the trivial 0. It must now be positive and still certified:
    below the relaxation's optimum and below every trained network."""
    rng = np.random.default_rng(0)
    X = 3.0 * rng.standard_normal((20, 3))
    Y = np.eye(2)[rng.integers(0, 2, 20)]
    beta = 1.0
    prog = sn.CopositiveReLU(X, Y, beta, relaxation="dnn", bias=True)
    res = prog.solve(backend="firstorder", max_iters=400)
    conic = sn.CopositiveReLU(X, Y, beta, relaxation="dnn", bias=True).solve()
    assert 0.0 < res.lower_bound <= conic.objective * (1 + 1e-7)
    nets = train_relu_mlps_adam(X, Y, beta, 8, runs=20, steps=800, lr=0.02, bias=True)
    assert res.lower_bound <= min(net.objective(X, Y, beta) for net in nets)
    assert res.lower_bound <= res.upper_bound


def test_bad_input_is_refused_before_any_solver():
    X, Y = onehot_data(8, 2, 2, seed=8)
    with pytest.raises(sn.InvalidInputError, match="relaxation"):
        sn.CopositiveReLU(X, Y, 0.1, relaxation="sdp")
    with pytest.raises(sn.InvalidInputError, match="Y"):
        sn.CopositiveReLU(X, Y[:5], 0.1)
    with pytest.raises(sn.InvalidInputError, match="beta"):
        sn.CopositiveReLU(X, Y, -1.0)
    with pytest.raises(sn.InvalidInputError, match="bias"):
        sn.CopositiveReLU(X, Y, 0.1, bias="yes")
    with pytest.raises(sn.ProblemTooLargeError, match="max_patterns"):
        sn.CopositiveReLU(np.random.default_rng(0).standard_normal((40, 6)),
                          np.ones((40, 2)), 0.1, relaxation="cone_split", max_patterns=100)
    with pytest.raises(sn.InvalidInputError, match="loss"):
        sn.CopositiveReLU(X, Y, 0.1, loss="hinge")
    with pytest.raises(sn.InvalidInputError, match="softmax"):
        sn.CopositiveReLU(X, 0.5 * Y, 0.1, loss="softmax")  # rows not in the simplex
    with pytest.raises(sn.InvalidInputError, match="squared"):
        sn.CopositiveReLU(X, Y, 0.1, relaxation="dnn", loss="softmax").solve(
            backend="firstorder")
    prog = sn.CopositiveReLU(X, Y, 0.1, relaxation="cone_split")
    with pytest.raises(sn.InvalidInputError, match="firstorder"):
        prog.solve(backend="firstorder")
    with pytest.raises(sn.NotSolvedError):
        prog.network()


def test_isolated_solve_gives_the_same_bracket():
    X, Y = onehot_data(8, 2, 2, seed=9)
    here = sn.CopositiveReLU(X, Y, 0.5, relaxation="dnn").solve()
    prog = sn.CopositiveReLU(X, Y, 0.5, relaxation="dnn")
    there = prog.solve(isolate=True)
    assert there.lower_bound == pytest.approx(here.lower_bound, rel=1e-9)
    assert there.upper_bound == pytest.approx(prog.network().objective(X, Y, 0.5), rel=1e-12)
