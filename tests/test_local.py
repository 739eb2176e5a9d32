"""The gradient-descent baseline: exact gradients, monotone descent, never below the optimum."""

from __future__ import annotations

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.local import project_spectral, train_linear_fc, train_relu_mlp


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 6))
    Y = X @ rng.standard_normal((6, 2)) @ rng.standard_normal((2, 3)) + 0.2 * rng.standard_normal((40, 3))
    return X, Y


def test_projection_clips_singular_values_only():
    rng = np.random.default_rng(0)
    W = 3 * rng.standard_normal((5, 4))
    P = project_spectral(W)
    assert np.linalg.norm(P, 2) <= 1 + 1e-12
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    np.testing.assert_allclose(P, (U * np.minimum(s, 1)) @ Vt, atol=1e-12)
    small = W / (2 * np.linalg.norm(W, 2))
    np.testing.assert_allclose(project_spectral(small), small, atol=1e-12)


@pytest.mark.parametrize("hidden,widths", [("weight_decay", [4]), ("spectral", [4, 4])])
def test_local_training_stays_above_certified_optimum(data, hidden, widths):
    X, Y = data
    beta = 0.3 * sn.beta_max(X, Y, family="linear_fc")
    prog = sn.ConvexLinearFC(X, Y, beta, depth=len(widths) + 1, hidden=hidden)
    prog.solve()
    lower = prog.certificate().lower_bound
    for seed in range(3):
        net = train_linear_fc(X, Y, beta, widths, hidden=hidden, seed=seed)
        assert net.objective(X, Y, beta) >= lower
        for i in net.constrained_layers():
            assert np.linalg.norm(net.weights[i], 2) <= 1 + 1e-9


@pytest.mark.parametrize("hidden,widths", [("weight_decay", [4]), ("spectral", [4, 4])])
def test_local_training_reaches_the_certified_optimum(data, hidden, widths):
    """Width above the rank of the optimum: gradient descent on the right objective (with
    the right gradient) ends at the convex optimum; a wrong gradient or penalty would not."""
    X, Y = data
    beta = 0.3 * sn.beta_max(X, Y, family="linear_fc")
    prog = sn.ConvexLinearFC(X, Y, beta, depth=len(widths) + 1, hidden=hidden)
    prog.solve()
    cert = prog.certificate()
    values = [train_linear_fc(X, Y, beta, widths, hidden=hidden, seed=s).objective(X, Y, beta)
              for s in range(3)]
    assert min(values) >= cert.lower_bound
    assert min(values) - cert.lower_bound <= 1e-6 * cert.lower_bound


def test_more_iterations_never_increase_the_objective(data):
    X, Y = data
    beta = 1.0
    values = [train_linear_fc(X, Y, beta, [3], seed=1, max_iters=k).objective(X, Y, beta)
              for k in (1, 5, 50)]
    assert values[0] >= values[1] >= values[2]


def test_local_training_rejects_bad_input(data):
    X, Y = data
    with pytest.raises(sn.InvalidInputError, match="widths"):
        train_linear_fc(X, Y, 1.0, [])
    with pytest.raises(sn.InvalidInputError, match="hidden"):
        train_linear_fc(X, Y, 1.0, [2], hidden="frobenius")


def test_relu_training_never_beats_the_global_optimum():
    """L-BFGS on a ReLU network ends at or above the exact (exhaustive-pattern) optimum and
    well below the zero network; the objective it reports is the network's own."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((14, 2))
    y = np.maximum(X @ [1.0, -1.0], 0) - np.maximum(X @ [0.5, 1.0], 0)
    beta = 0.05
    prog = sn.ConvexReLU(X, y, beta, patterns="exhaustive")
    optimum = prog.solve(backend="clarabel", tol=1e-9).objective
    for seed in range(3):
        net = train_relu_mlp(X, y, beta, width=6, seed=seed, max_iters=500)
        assert isinstance(net, sn.ReLUMLP) and net.width == 6
        value = net.objective(X, y, beta)
        assert value >= optimum - 1e-7 * abs(optimum)
        assert value < 0.5 * float(y @ y)  # it trained: the zero network's objective


def test_relu_training_rejects_bad_input():
    X = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(sn.InvalidInputError, match="y"):
        train_relu_mlp(X, np.ones((10, 2)), 0.1, 4)
    with pytest.raises(sn.InvalidInputError, match="width"):
        train_relu_mlp(X, np.ones(10), 0.1, 0)
    with pytest.raises(sn.InvalidInputError, match="beta"):
        train_relu_mlp(X, np.ones(10), -1.0, 4)


def test_train_relu_mlps_adam_trains_independent_multi_output_networks():
    from sdpnets.local import train_relu_mlps_adam

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((12, 3)), rng.standard_normal((12, 2))
    nets = train_relu_mlps_adam(X, Y, 0.5, 6, runs=5, steps=400, bias=True)
    zero = 0.5 * np.sum(Y * Y)
    for net in nets:
        assert net.alpha.shape == (6, 2) and net.bias.shape == (6,)
        assert net.output_penalty == "frobenius"
        assert net.objective(X, Y, 0.5) < zero  # training moved below the zero network
    with pytest.raises(sn.InvalidInputError, match="runs"):
        train_relu_mlps_adam(X, Y, 0.5, 6, runs=0)


def test_train_relu_mlps_adam_with_softmax_descends_below_the_zero_network():
    from sdpnets.local import train_relu_mlps_adam

    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((12, 3)), np.eye(3)[rng.integers(0, 3, 12)]
    nets = train_relu_mlps_adam(X, Y, 0.5, 6, runs=3, steps=300, loss="softmax")
    zero = 12 * np.log(3.0)  # the zero network's cross-entropy
    for net in nets:
        assert net.loss.name == "softmax"
        assert net.objective(X, Y, 0.5) < zero
    with pytest.raises(sn.InvalidInputError, match="softmax"):
        train_relu_mlps_adam(X, 2.0 * Y, 0.5, 6, runs=1, loss="softmax")
