"""Programs and results survive pickling; recovered networks remember their training loss."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.losses import get_loss

from tests.conftest import assert_rel


@pytest.fixture
def labelled():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 3))
    y = np.sign(X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.standard_normal(10))
    return X, y


# --- networks remember how they were trained ----------------------------------------------


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
@pytest.mark.parametrize("bias", [False, True])
def test_relu_network_objective_defaults_to_program_loss(labelled, loss, bias):
    X, y = labelled
    beta = 0.5
    prog = sn.ConvexReLU(X, y, beta, loss=loss, bias=bias)
    res = prog.solve()
    assert res.solved
    for net in (prog.network(), prog.network(prune=True)):
        assert net.loss.name == loss
        assert_rel(res.objective, net.objective(X, y, beta), 1e-6, f"{loss} bias={bias}")
        # the default is the program's loss, not the squared loss
        assert net.objective(X, y, beta) == net.objective(X, y, beta, loss=loss)
        if loss != "squared":
            assert net.objective(X, y, beta, loss="squared") != net.objective(X, y, beta)
    # certify judges the network with its own loss by default
    cert = sn.certify(prog.network(), X, y, beta)
    assert cert.upper_bound == prog.network().objective(X, y, beta, loss=loss)


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_relu_cnn_and_circular_relu_remember_their_loss(labelled, loss):
    X, y = labelled
    beta = 0.5
    for prog in (
        sn.ConvexReLUCNN(X, y, beta, kernel_size=2, loss=loss),
        sn.ConvexCircularReLU(X[:6, :2], y[:6], beta, loss=loss),
    ):
        res = prog.solve()
        assert res.solved
        net = prog.network()
        assert net.loss.name == loss
        assert_rel(res.objective, net.objective(prog.X, prog.y, beta), 1e-6, type(prog).__name__)
    pruned = sn.ConvexReLUCNN(X, y, beta, kernel_size=2, loss=loss)
    pruned.solve()
    assert pruned.network(prune=True).loss.name == loss


def test_network_loss_by_hand(labelled):
    X, y = labelled
    rng = np.random.default_rng(0)
    U, alpha, b = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    net = sn.ReLUMLP(U, alpha, bias=b, loss="hinge")
    yhat = np.maximum(X @ U + b, 0) @ alpha
    penalty = np.sum(U**2) + np.sum(b**2) + np.sum(alpha**2)
    expected = np.sum(np.maximum(0, 1 - y * yhat)) + 0.5 * 0.3 * penalty
    assert_rel(net.objective(X, y, 0.3), expected, 1e-12, "hinge by hand")
    with pytest.raises(sn.InvalidInputError, match="loss must be one of"):
        sn.ReLUMLP(U, alpha, loss="absolute")


# --- pickling -------------------------------------------------------------------------------


def _programs(X, y):
    Y2 = np.c_[y, X[:, 0]]
    Xs, ys = X[:6, :2], y[:6]  # the circular-filter ReLU takes one cone program per pattern
    return [
        (sn.ConvexReLU(X, y, 0.5, loss="hinge", bias=True), y),
        (sn.ConvexReLU(X, y, 0.5, patterns=15, seed=1), y),
        (sn.ConvexLinearFC(X, Y2, 0.5), Y2),
        (sn.ConvexLinearFC(X, y, 0.5, depth=3), y),
        (sn.ConvexLinearCNN(X, y, 0.5, kernel_size=2), y),
        (sn.ConvexCircularCNN(X, y, 0.5), y),
        (sn.ConvexReLUCNN(X, y, 0.5, kernel_size=2), y),
        (sn.ConvexCircularReLU(Xs, ys, 0.5), ys),
    ]


def test_solved_programs_and_results_pickle(labelled):
    X, y = labelled
    for prog, target in _programs(X, y):
        name = type(prog).__name__
        res = prog.solve()
        assert res.solved, name
        copy = pickle.loads(pickle.dumps(prog))
        assert pickle.loads(pickle.dumps(res)) == res
        assert copy.result == res
        # the solution survives: same network, same certificate
        data = prog.X if hasattr(prog, "X") else X
        np.testing.assert_array_equal(copy.network().predict(data), prog.network().predict(data))
        assert copy.certificate().lower_bound == prog.certificate().lower_bound
        assert (copy.network().objective(data, target, 0.5)
                == prog.network().objective(data, target, 0.5))
        # and the copy can be solved again (the dropped problem is rebuilt)
        again = copy.solve()
        assert again.solved, name
        assert_rel(again.objective, res.objective, 1e-6, name)


def test_unsolved_program_pickles_and_solves(labelled):
    X, y = labelled
    prog = sn.ConvexReLU(X, y, 0.5)
    _ = prog.problem  # compiled but not solved
    copy = pickle.loads(pickle.dumps(prog))
    with pytest.raises(sn.NotSolvedError, match="solve"):
        copy.network()
    res = copy.solve()
    assert_rel(res.objective, prog.solve().objective, 1e-6, "unsolved copy")


def test_pickled_network_keeps_its_loss(labelled):
    X, y = labelled
    prog = sn.ConvexReLU(X, y, 0.5, loss="hinge")
    prog.solve()
    net = pickle.loads(pickle.dumps(prog.network()))
    assert net.loss.name == "hinge"
    assert net.objective(X, y, 0.5) == prog.network().objective(X, y, 0.5, get_loss("hinge"))
