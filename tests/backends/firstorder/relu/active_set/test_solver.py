"""The active-set (cutting-plane) solver of the cone-constrained ReLU program
(backend="firstorder", method="active_set"): agreement with Clarabel on the full program,
the recovered network's objective, certified bounds that bracket Clarabel's optimum, blocks
that satisfy every cone row, forced limits, and the choice of method."""

import dataclasses
from functools import partial

import numpy as np
import pytest

import sdpnets as sn
from tests.conftest import relu_teacher_data
from sdpnets.backends.firstorder.relu import methods as relu_methods
from sdpnets.backends.firstorder.relu.active_set import solver as ras
from sdpnets.backends.firstorder.relu.program import ReLUProgram
from sdpnets.losses import get_loss

TOL = 1e-8


data = partial(relu_teacher_data, n=40)


def worst_cone_row(prog):
    """Largest violation of (2D_i - I) A v_i >= 0 and (2D_i - I) A w_i >= 0 over every row
    of every block, relative to the recovered network's largest prediction."""
    V, W = prog.blocks()  # (h, P, K)
    A, M = prog._A, prog.patterns.masks
    E = 2.0 * M[:, :, None] - 1.0
    AV = np.einsum("nh,hpk->npk", A, V)
    AW = np.einsum("nh,hpk->npk", A, W)
    worst = max(float(np.max(-E * AV)), float(np.max(-E * AW)), 0.0)
    return worst / np.abs(prog.network().predict(prog.X)).max()


def check_against_clarabel(prog):
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    res = prog.solve(backend="firstorder", method="active_set", tol=TOL)
    assert res.status == "optimal", res.message
    assert res.raw["method"] == "active_set"
    assert abs(res.objective - ref) <= 1e-6 * abs(ref)
    # the recovered network's objective is the result's objective
    value = prog.network().objective(prog.X, prog.y, prog.beta)
    assert abs(value - res.objective) <= 1e-10 * abs(ref)
    # the certified bracket holds Clarabel's optimum (up to Clarabel's own accuracy)
    lower = res.raw["lower_bound"]
    assert lower <= ref * (1 + 1e-8)
    assert res.objective >= ref * (1 - 1e-8)
    assert res.objective - lower <= 2 * TOL * abs(res.objective)
    assert worst_cone_row(prog) <= 1e-9
    assert res.raw["cone_violation"] <= 1e-9 * np.abs(prog.network().predict(prog.X)).max()
    return res


@pytest.mark.parametrize("bias", [False, True])
def test_active_set_agrees_with_clarabel(bias):
    X, y = data(seed=1 + bias)
    prog = sn.ConvexReLU(X, y, 0.3, patterns=12, bias=bias, seed=2)
    check_against_clarabel(prog)


def test_active_set_vector_outputs():
    X, Y = data(n=30, seed=3, K=2)
    prog = sn.ConvexReLU(X, Y, 0.4, patterns=8, seed=1)
    check_against_clarabel(prog)
    assert prog.network().alpha.shape[1] == 2


def test_active_set_relu_cnn():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((12, 6))
    y = np.maximum(X[:, :3] @ rng.standard_normal(3), 0) + 0.1 * rng.standard_normal(12)
    prog = sn.ConvexReLUCNN(X, y, 0.5, kernel_size=3, patterns=8, seed=0)
    check_against_clarabel(prog)


def test_active_set_keeps_few_rows_on_a_larger_instance():
    """More samples than the toy ones: the reduced programs keep a fraction of the cone rows
    and the answer is still the full program's optimum."""
    X, y = data(n=150, d=4, seed=5)
    prog = sn.ConvexReLU(X, y, 0.5, patterns=20, seed=3)
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    A, M = prog._A, prog.patterns.masks
    out = ras.solve_relu_active_set(ReLUProgram(A, M, y, get_loss("squared"), 0.5), tol=TOL)
    assert out.status == "optimal"
    assert abs(out.program_objective - ref) <= 1e-6 * ref
    assert out.lower_bound <= ref * (1 + 1e-8) <= out.objective * (1 + 2e-8)
    assert out.iterations >= 1
    # the blocks satisfy every row of every block
    E = 2.0 * np.hstack([M, M]) - 1.0
    assert np.max(-E * (A @ out.blocks)) <= 1e-9 * np.abs(A @ out.blocks).max()


def test_auto_takes_the_atoms_for_the_squared_cone_program_and_the_admm_otherwise(monkeypatch):
    X, y = data(seed=6)
    prog = sn.ConvexReLU(X, y, 0.3, patterns=10, seed=4)
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    res = prog.solve(backend="firstorder", tol=1e-5)
    assert res.raw["method"] == "atoms" and res.status == "optimal"
    assert abs(res.objective - ref) <= 1e-5 * ref
    # a column generation that stalls (here: stopped after two rounds and reported so) is
    # finished by the active set from its blocks
    real = relu_methods.solve_relu_atoms

    def stalled(*args, **kw):
        out = real(*args, **{**kw, "max_iters": 2})
        return dataclasses.replace(out, status="optimal_inaccurate")

    monkeypatch.setattr(relu_methods, "solve_relu_atoms", stalled)
    res = prog.solve(backend="firstorder", tol=1e-10)
    assert res.raw["method"] == "active_set" and res.status == "optimal"
    assert abs(res.objective - ref) <= 1e-8 * ref
    logistic = sn.ConvexReLU(X, np.sign(y - np.median(y)), 0.3, patterns=10, seed=4,
                             loss="logistic")
    assert logistic.solve(backend="firstorder", tol=1e-4, max_iters=50).raw["method"] == "admm"


def test_a_working_set_that_would_not_fit_is_refused(monkeypatch):
    X, y = data(seed=6)
    prog = sn.ConvexReLU(X, y, 0.3, patterns=10, seed=4)
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    # pretend that only 100 kB are free: the first working set (2 x 20 blocks of h) does not fit
    monkeypatch.setattr(relu_methods, "available_memory", lambda: 100_000)
    with pytest.raises(sn.ProblemTooLargeError, match="method='active_set'.*would need about"):
        prog.solve(backend="firstorder", method="active_set", tol=1e-7)
    res = prog.solve(backend="firstorder", tol=1e-5)  # auto: the atoms, never an abort
    assert res.raw["method"] == "atoms" and res.status == "optimal"
    assert abs(res.objective - ref) <= 1e-5 * ref


def test_active_set_forced_limits():
    X, y = data(n=60, seed=7)
    prog = sn.ConvexReLU(X, y, 0.2, patterns=15, seed=5)
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    res = prog.solve(backend="firstorder", method="active_set", max_iters=1)
    assert res.status == "iteration_limit" and res.iterations == 1
    assert res.raw["lower_bound"] <= ref * (1 + 1e-8)
    with pytest.raises(sn.SolveFailedError):
        prog.network()
    res = prog.solve(backend="firstorder", method="active_set", time_limit=1e-9)
    assert res.status == "time_limit"
    assert res.raw["lower_bound"] <= ref * (1 + 1e-8)


def test_active_set_refuses_what_it_does_not_solve():
    X, y = data(seed=8)
    labels = np.where(y > np.median(y), 1.0, -1.0)
    prog = sn.ConvexReLU(X, labels, 0.3, patterns=6, loss="logistic")
    with pytest.raises(sn.InvalidInputError, match="squared loss"):
        prog.solve(backend="firstorder", method="active_set")
    gated = sn.ConvexGatedReLU(X, y, 0.3, patterns=6)
    with pytest.raises(sn.InvalidInputError, match="gated"):
        gated.solve(backend="firstorder", method="active_set")
    with pytest.raises(sn.InvalidInputError, match="method must be one of"):
        sn.ConvexReLU(X, y, 0.3, patterns=6).solve(backend="firstorder", method="newton")


def test_active_set_without_face_polish(monkeypatch):
    """With the Newton polish on faces switched off (every reduced program left to the
    interior-point method alone) the certified optimum is the same."""
    monkeypatch.setattr(ras, "polish", lambda *args: None)
    X, y = data(seed=9)
    prog = sn.ConvexReLU(X, y, 0.3, patterns=10, seed=6)
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    res = prog.solve(backend="firstorder", method="active_set", tol=1e-6)
    assert res.status == "optimal", res.message
    assert abs(res.objective - ref) <= 1e-6 * abs(ref)


@pytest.mark.parametrize("seed", range(6))
def test_active_set_on_badly_scaled_random_instances(seed):
    """Random sizes, data and targets scaled by up to 100x either way, with and without bias,
    one or two outputs: the certified optimum is Clarabel's, and the certified lower bound
    lies below it."""
    rng = np.random.default_rng(1000 + seed)
    n, d, P = int(rng.integers(15, 60)), int(rng.integers(2, 7)), int(rng.integers(4, 25))
    X = rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-2, 2)
    y = (np.maximum(X @ rng.standard_normal(d), 0) + 0.3 * rng.standard_normal(n)) \
        * 10.0 ** rng.uniform(-2, 2)
    Y = y if seed % 3 else np.column_stack([y, rng.standard_normal(n) * np.std(y)])
    prog = sn.ConvexReLU(X, Y, 1.0, patterns=P, seed=seed, bias=bool(seed % 2))
    prog.beta = 10.0 ** rng.uniform(-2, 0) * float(np.abs(X.T @ Y.reshape(n, -1)).max())
    ref = prog.solve(backend="clarabel", tol=1e-9).objective
    res = prog.solve(backend="firstorder", method="active_set", tol=1e-7)
    assert res.status == "optimal", res.message
    assert res.objective == pytest.approx(ref, rel=1e-6)
    assert res.raw["lower_bound"] <= ref * (1 + 1e-7)
