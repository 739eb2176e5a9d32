"""backend="firstorder" for the two-layer ReLU programs (ConvexReLU, ConvexReLUCNN) and the
gated ReLU (ConvexGatedReLU): agreement with Clarabel on the same patterns, the recovered
network's objective, certificates that bracket the optimum, a trained network as the start
(never worse), forced limits."""

from functools import partial

import numpy as np
import pytest

import sdpnets as sn
from tests.conftest import relu_teacher_data
from sdpnets.local import train_relu_mlp

FO_TOL = 1e-7
#: The classification losses converge more slowly on the cone-constrained program.
CLS_TOL = 1e-5


data = partial(relu_teacher_data, n=24)


def agree(prog, loss="squared", tol=FO_TOL):
    """Clarabel, then firstorder on the same program: optimum, network objective, bracket."""
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    res = prog.solve(backend="firstorder", tol=tol)
    assert res.status == "optimal", res.message
    assert res.backend == "firstorder"
    assert abs(res.objective - ref) <= 10 * tol * abs(ref)
    net = prog.network()
    value = net.objective(prog.X, prog.y, prog.beta, loss)
    assert abs(value - res.objective) <= 1e-9 * abs(ref)
    lower = res.raw["lower_bound"]
    assert lower <= ref * (1 + 1e-9)  # a lower bound on the program's optimum
    assert ref - lower <= 10 * tol * abs(ref)
    return res


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
@pytest.mark.parametrize("bias", [False, True])
def test_relu_firstorder_agrees_with_clarabel(loss, bias):
    X, y = data(n=16, labels=loss != "squared", seed=1 + bias)
    prog = sn.ConvexReLU(X, y, 0.3, patterns=8, loss=loss, bias=bias, seed=2)
    tol = FO_TOL if loss == "squared" else CLS_TOL
    res = agree(prog, loss, tol)
    assert res.raw["cone_violation"] <= tol * np.abs(prog.network().predict(X)).max()


def test_vector_outputs_firstorder():
    X, Y = data(n=16, K=2, seed=3)
    prog = sn.ConvexReLU(X, Y, 0.4, patterns=6)
    agree(prog)
    assert prog.network().alpha.shape[1] == 2


def test_relu_cnn_firstorder():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((10, 5))
    y = np.maximum(X[:, :3] @ rng.standard_normal(3), 0) + 0.1 * rng.standard_normal(10)
    prog = sn.ConvexReLUCNN(X, y, 0.5, kernel_size=3, patterns=6)
    agree(prog)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_gated_relu_firstorder_and_certificate(loss):
    X, y = data(n=16, labels=loss != "squared", seed=5)
    prog = sn.ConvexGatedReLU(X, y, 1.0, patterns=10, loss=loss, bias=True)
    ref = prog.solve(backend="clarabel", tol=1e-10)
    cert = prog.certificate()  # exact dual norm over the fixed gates
    assert cert.lower_bound <= ref.objective * (1 + 1e-9) <= cert.upper_bound * (1 + 1e-8)
    res = agree(prog, loss, FO_TOL if loss == "squared" else CLS_TOL)
    net = prog.network()
    assert isinstance(net, sn.GatedReLUMLP)
    # every neuron sits on one of the program's fixed gates
    gates = np.vstack([net.gates, net.gate_bias[None, :]])
    assert all(np.any(np.all(np.isclose(prog.gates, g[:, None]), axis=0)) for g in gates.T)
    assert res.objective >= cert.lower_bound - 1e-9


def test_gated_beta_max_is_the_threshold():
    X, y = data(seed=6)
    prog = sn.ConvexGatedReLU(X, y, 1.0, patterns=10)
    bmax = prog.beta_max()
    prog.beta = 1.01 * bmax
    prog.solve(backend="clarabel", tol=1e-10)
    assert np.allclose(prog.network().predict(X), 0.0, atol=1e-6)
    prog.beta = 0.9 * bmax
    res = prog.solve(backend="firstorder", tol=FO_TOL)
    assert res.objective < 0.5 * float(y @ y) * (1 - 1e-6)


def test_gated_refuses_boolean_masks():
    X, y = data(seed=7)
    with pytest.raises(sn.InvalidInputError, match="gates"):
        sn.ConvexGatedReLU(X, y, 1.0, patterns=np.ones((X.shape[0], 2), dtype=bool))


def lbfgs_network(X, y, beta, width, seed=0):
    """A ReLUMLP trained by L-BFGS on the non-convex objective (squared loss), from a start
    of standard deviation 0.5."""
    return train_relu_mlp(X, y, beta, width, seed=seed, max_iters=200,
                          init_scale=0.5 * np.sqrt(X.shape[1]))


@pytest.mark.parametrize("max_iters", [1, 30, None])
def test_patterns_from_a_trained_network_never_worse(max_iters):
    X, y = data(n=30, seed=8)
    beta = 0.2
    net = lbfgs_network(X, y, beta, width=8)
    start = net.objective(X, y, beta)
    prog = sn.ConvexReLU(X, y, beta, patterns=net)
    assert prog.patterns.method == "network"
    res = prog.solve(backend="firstorder", tol=FO_TOL, max_iters=max_iters)
    assert res.objective <= start + 1e-12 * abs(start)
    if res.solved:
        assert prog.network().objective(X, y, beta) <= start + 1e-12 * abs(start)
        # the program on the network's patterns is solved: Clarabel agrees
        ref = sn.ConvexReLU(X, y, beta, patterns=net).solve(backend="clarabel", tol=1e-10)
        assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective


def test_patterns_from_network_merged_with_samples():
    X, y = data(n=30, seed=9)
    net = lbfgs_network(X, y, 0.2, width=4, seed=1)
    only = sn.ConvexReLU(X, y, 0.2, patterns=net)
    merged = sn.ConvexReLU(X, y, 0.2, patterns=(net, 20))
    assert merged.patterns.count > only.patterns.count
    a = only.solve(backend="clarabel", tol=1e-10).objective
    b = merged.solve(backend="clarabel", tol=1e-10).objective
    assert b <= a * (1 + 1e-8)  # more patterns: a lower (or equal) optimum


def test_patterns_from_network_checks_it():
    X, y = data(seed=10)
    net = sn.ReLUMLP(np.ones((3, 2)), np.ones(2), bias=np.zeros(2))
    with pytest.raises(sn.InvalidInputError, match="bias=True"):
        sn.ConvexReLU(X, y, 1.0, patterns=net)
    with pytest.raises(sn.InvalidInputError, match="inputs"):
        sn.ConvexReLU(X, y, 1.0, patterns=sn.ReLUMLP(np.ones((4, 2)), np.ones(2)))


@pytest.mark.parametrize("cls", [sn.ConvexReLU, sn.ConvexGatedReLU])
def test_forced_limits_give_their_statuses(cls):
    X, y = data(seed=11)
    prog = cls(X, y, 0.3, patterns=10)
    res = prog.solve(backend="firstorder", max_iters=1)
    assert res.status == "iteration_limit" and res.iterations == 1
    with pytest.raises(sn.SolveFailedError):
        prog.network()
    res = prog.solve(backend="firstorder", time_limit=1e-9)
    assert res.status == "time_limit"
    assert res.raw["lower_bound"] <= prog.solve(backend="clarabel", tol=1e-10).objective


def test_circular_relu_refuses_firstorder():
    X, y = data(seed=12)
    prog = sn.ConvexCircularReLU(X, y, 1.0, patterns=5)
    with pytest.raises(sn.InvalidInputError, match="firstorder"):
        prog.solve(backend="firstorder")


@pytest.mark.parametrize("limit", [dict(max_iters=1), dict(time_limit=1e-9)])
def test_an_unsolved_solve_keeps_its_certified_bracket(limit):
    """Stopped by a limit, every output still has its bracket: the result's lower and upper
    bounds hold the program's optimum (Clarabel's) between them."""
    X, _ = data(seed=13)
    Y = np.random.default_rng(13).standard_normal((len(X), 3))
    prog = sn.ConvexReLU(X, Y, 0.3, patterns=10)
    res = prog.solve(backend="firstorder", tol=1e-12, **limit)
    assert res.status in ("iteration_limit", "time_limit")
    optimum = prog.solve(backend="clarabel", tol=1e-10).objective
    assert np.isfinite(res.lower_bound) and np.isfinite(res.upper_bound)
    assert res.lower_bound <= optimum * (1 + 1e-9) <= res.upper_bound * (1 + 2e-9)
    assert res.gap == pytest.approx(res.upper_bound - res.lower_bound)
