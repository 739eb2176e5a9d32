"""The master problem of column generation, min_{c >= 0} L(Phi c) + beta sum(c), for every
loss: its optimum against Clarabel on the same problem, and its dual point (complementary
slackness and dual feasibility of the master)."""

import warnings

import cvxpy as cp
import numpy as np
import pytest

from sdpnets.backends.firstorder.relu.master import solve_master
from sdpnets.losses import LogisticAtBestOffset, LogisticLoss, SquaredLoss, get_loss


def instance(loss, seed, n=60, K=25, parallel=False):
    rng = np.random.default_rng(seed)
    Phi = rng.standard_normal((n, K))
    if parallel:  # near-parallel atoms make the Gram matrix nearly singular
        Phi[:, 1] = Phi[:, 0] + 1e-9 * rng.standard_normal(n)
    y = rng.standard_normal(n)
    if loss != "squared":
        y = np.sign(y)
    return Phi, y, 0.3 * float(np.abs(Phi.T @ y).max())


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_master_against_clarabel(loss, parallel):
    L = get_loss(loss)
    Phi, y, beta = instance(loss, 3, parallel=parallel)
    c, v = solve_master(Phi, y, beta, L)
    x = cp.Variable(Phi.shape[1], nonneg=True)
    ref = cp.Problem(cp.Minimize(L.expr(Phi @ x, y) + beta * cp.sum(x)))
    ref.solve(solver=cp.CLARABEL)
    value = L.value(Phi @ c, y) + beta * c.sum()
    assert np.all(c >= 0)
    assert value == pytest.approx(ref.value, rel=1e-7)
    # the dual point: Phi^T v <= beta on every atom, = beta on the atoms in use
    g = Phi.T @ v
    assert g.max() <= beta * (1 + 1e-6)
    on = c > 1e-6 * c.max()
    assert np.allclose(g[on], beta, rtol=1e-5)
    # and its dual value is a lower bound that meets the optimum
    assert L.dual_value(v, y) <= value * (1 + 1e-9) + 1e-9
    assert L.dual_value(v, y) == pytest.approx(value, rel=1e-5)


def test_master_without_atoms():
    L = get_loss("squared")
    y = np.arange(4.0)
    c, v = solve_master(np.zeros((4, 0)), y, 1.0, L)
    assert c.size == 0 and np.array_equal(v, y)


@pytest.mark.parametrize("loss", [LogisticLoss(), LogisticAtBestOffset()])
@pytest.mark.parametrize("seed", [0, 4])
def test_logistic_master_on_nearly_separable_data_stays_finite(loss, seed):
    """Nearly separable labels at a small beta: the optimum has large weights, and the
    undamped Newton steps of the master's interior point ran into overflow (NaN iterates,
    seen on 10-class digits); damped to margins moved by a few units, it reaches the KKT
    conditions (the gradient nonnegative, complementary to the weights) without warning."""
    rng = np.random.default_rng(0)
    for _ in range(seed + 1):  # the seeds whose undamped runs overflowed
        Phi = rng.standard_normal((80, 10))
        y = np.where(Phi @ rng.standard_normal(10) > 0.3, 1.0, -1.0)
    Phi, beta = np.hstack([Phi, -Phi]), 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c, v = solve_master(Phi, y, beta, loss)
    grad = beta - Phi.T @ v
    assert np.all(c >= 0) and np.isfinite(c).all() and c.sum() > 10
    assert grad.min() >= -1e-9 and np.abs(c * grad).max() <= 1e-9


def test_the_master_tolerance_follows_the_gap_asked_for(monkeypatch):
    """The master problem's tolerance is a fixed fraction of the certified gap asked for,
    between the tightest and the loosest; with near-parallel atoms the interior point stops
    sooner at the loosest (it would not if the tolerance were ignored), and its objective is
    within 1e-8 of the tightest one's (and not below it)."""
    from sdpnets.backends.firstorder.relu import master
    from sdpnets.backends.firstorder.relu.master import (LOOSEST_MASTER_TOL, MASTER_TOL,
                                                         master_tol)

    assert master_tol(1e-6) == pytest.approx(1e-10)
    assert master_tol(1e-8) == pytest.approx(1e-12)
    assert master_tol(1e-12) == MASTER_TOL and master_tol(1e-2) == LOOSEST_MASTER_TOL
    rng = np.random.default_rng(3)
    Phi = rng.standard_normal((60, 40))
    Phi = np.hstack([Phi, Phi[:, :10] + 1e-4 * rng.standard_normal((60, 10))])  # near-parallel
    y, beta = rng.standard_normal(60), 0.5

    def objective(c):
        return 0.5 * float(np.sum((Phi @ c - y) ** 2)) + beta * float(c.sum())

    values, factors = {}, {}
    real = master._factor
    for tol in (MASTER_TOL, LOOSEST_MASTER_TOL):
        calls = []
        monkeypatch.setattr(master, "_factor", lambda *a: calls.append(1) or real(*a))
        c, v = solve_master(Phi, y, beta, SquaredLoss(), tol=tol)
        assert np.all(c >= 0) and np.allclose(v, y - Phi @ c)
        values[tol], factors[tol] = objective(c), len(calls)
    assert factors[LOOSEST_MASTER_TOL] < factors[MASTER_TOL]
    assert values[LOOSEST_MASTER_TOL] >= values[MASTER_TOL] - 1e-12 * abs(values[MASTER_TOL])
    assert values[LOOSEST_MASTER_TOL] - values[MASTER_TOL] <= 1e-8 * abs(values[MASTER_TOL])
