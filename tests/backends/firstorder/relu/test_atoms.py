"""Column generation over cone atoms (backend="firstorder", method="atoms"): the pricing's
exact projections against nonnegative least squares over every row, its bounds, the master
problem against Clarabel, the solve against Clarabel on the full program, a trained
network as the start (never worse), and forced limits."""

from functools import partial

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import nnls

import sdpnets as sn
from tests.conftest import relu_teacher_data
from sdpnets.backends.firstorder.relu.atoms import _Pricing
from sdpnets.backends.firstorder.relu.program import ReLUProgram
from sdpnets.local import train_relu_mlp
from sdpnets.losses import SquaredLoss

#: What column generation reaches alone on these small programs (below it, its last digits
#: come one near-parallel atom per round; ``method="auto"`` then hands over to the interior point).
TOL = 1e-5


data = partial(relu_teacher_data, n=40)


def pattern_operators(n=300, h=6, P=12, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, h))
    A /= np.linalg.norm(A, 2)
    masks = A @ rng.standard_normal((h, P)) >= 0
    y = rng.standard_normal(n)
    return ReLUProgram(A, masks, y, SquaredLoss(), 1.0, cone=True), rng


def new_pricing(ops):
    return _Pricing(ops)


@pytest.mark.parametrize("seed", range(3))
def test_exact_pricing_is_the_projection_onto_the_full_cone(seed):
    ops, rng = pattern_operators(seed=seed)
    pricing = new_pricing(ops)
    G0 = rng.standard_normal((ops.h, ops.P))
    blocks = np.arange(ops.nb)
    sig, R, exact = pricing.price(pricing.gradients(G0, blocks), blocks, -1.0, ops.nb)
    assert exact.all()
    for j in blocks:  # independent: nonnegative least squares over every row of the block
        g = G0[:, j % ops.P] * (1.0 if j < ops.P else -1.0)
        rows = (2.0 * ops.M[:, j % ops.P] - 1.0)[:, None] * ops.A
        lam, dist = nnls(rows.T, -g)
        gn = np.linalg.norm(g)
        assert sig[j] == pytest.approx(dist, rel=1e-8, abs=1e-12 * gn)
        assert np.min(rows @ R[:, j]) >= -1e-12 * gn  # inside the cone
        # sigma_j is the support function of the cone's unit ball at g
        assert g @ R[:, j] == pytest.approx(sig[j] ** 2, rel=1e-8, abs=1e-12 * gn**2)


def test_bounds_from_kept_rows_are_never_below_the_exact_value():
    ops, rng = pattern_operators(seed=4)
    pricing = new_pricing(ops)
    G0 = rng.standard_normal((ops.h, ops.P))
    blocks = np.arange(ops.nb)
    pricing.price(pricing.gradients(G0, blocks), blocks, -1.0, ops.nb)  # rows, multipliers
    # new gradients: the last pricing's multipliers give bounds only
    G1 = G0 + 0.5 * rng.standard_normal(G0.shape)
    g1 = pricing.gradients(G1, blocks)
    truth, _, _ = new_pricing(ops).price(g1, blocks, -1.0, ops.nb)
    bound, _, exact = pricing.price(g1, blocks, np.inf, 0)  # no refit, no cutting planes
    assert not exact.any()
    gn = np.linalg.norm(g1, axis=0)
    assert np.all(bound >= truth * (1 - 1e-10) - 1e-12 * gn)
    assert np.all(bound <= gn * (1 + 1e-12))
    assert np.any(bound < gn * (1 - 1e-3))  # the carried multipliers do tighten bounds


def check_against_clarabel(prog, tol=TOL):
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    res = prog.solve(backend="firstorder", method="atoms", tol=tol)
    assert res.status == "optimal", res.message
    assert res.raw["method"] == "atoms"
    assert abs(res.objective - ref) <= 2 * tol * abs(ref)
    lower = res.raw["lower_bound"]
    assert lower <= ref * (1 + 1e-9) and ref - lower <= 2 * tol * abs(ref)
    net = prog.network()
    assert net.objective(prog.X, prog.y, prog.beta) == pytest.approx(res.objective, rel=1e-9)
    # the atoms lie in their cones: the blocks satisfy every row
    assert res.raw["cone_violation"] <= 1e-9 * np.abs(net.predict(prog.X)).max()
    return res


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_atoms_agree_with_clarabel(seed, bias):
    X, y = data(seed=seed)
    check_against_clarabel(sn.ConvexReLU(X, y, 0.2, patterns=12, seed=seed, bias=bias))


def test_atoms_vector_outputs_and_cnn():
    X, Y = data(n=30, seed=3, K=2)
    check_against_clarabel(sn.ConvexReLU(X, Y, 0.3, patterns=8, seed=1))
    rng = np.random.default_rng(6)
    Xc = rng.standard_normal((20, 8))
    yc = np.maximum(Xc[:, :3] @ rng.standard_normal(3), 0) + 0.1 * rng.standard_normal(20)
    check_against_clarabel(sn.ConvexReLUCNN(Xc, yc, 0.3, kernel_size=3, patterns=8, seed=2))


def test_a_trained_network_is_never_made_worse():
    X, y = data(n=60, seed=8)
    beta = 0.2
    net = train_relu_mlp(X, y, beta, 6, seed=1, max_iters=200)
    prog = sn.ConvexReLU(X, y, beta, patterns=net)
    res = prog.solve(backend="firstorder", method="atoms", tol=TOL)
    assert res.status == "optimal"
    assert res.objective <= net.objective(X, y, beta) * (1 + 1e-12)
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    assert abs(res.objective - ref) <= 2 * TOL * ref


def test_atoms_forced_limits_and_a_stall_are_reported(monkeypatch):
    X, y = data(n=60, seed=7)
    prog = sn.ConvexReLU(X, y, 0.2, patterns=15, seed=5)
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    res = prog.solve(backend="firstorder", method="atoms", max_iters=1)
    assert res.status == "iteration_limit"
    res = prog.solve(backend="firstorder", method="atoms", time_limit=1e-9)
    assert res.status == "time_limit"
    # whatever the tolerance, "optimal" is a certified gap within it
    res = prog.solve(backend="firstorder", method="atoms", tol=1e-12)
    lower = res.raw["lower_bound"]
    assert lower <= ref * (1 + 1e-9) <= res.objective * (1 + 2e-9)
    if res.status == "optimal":
        assert res.objective - lower <= 1e-12 * res.objective * 1.0001
    # a master problem that makes no progress: a stall, never "optimal"
    from sdpnets.backends.firstorder.relu import atoms

    real = atoms.solve_master
    monkeypatch.setattr(atoms, "solve_master",
                        lambda Phi, y, beta, loss, **kw: _frozen(real, Phi, y, beta, loss))
    res = prog.solve(backend="firstorder", method="atoms", tol=1e-8)
    assert res.status in ("optimal_inaccurate", "error")
    assert res.raw["lower_bound"] <= ref * (1 + 1e-9) <= res.objective * (1 + 2e-9)


def _frozen(real, Phi, y, beta, loss):
    """The master problem over the first atom only (the others weighted zero)."""
    c1, v = real(Phi[:, :1], y, beta, loss)
    c = np.zeros(Phi.shape[1])
    c[:1] = c1
    return c, v


def test_atoms_refuse_what_they_do_not_solve():
    X, y = data(seed=1)
    gated = sn.ConvexGatedReLU(X, y, 0.2, patterns=6)
    with pytest.raises(sn.InvalidInputError, match="method='atoms'.*gated"):
        gated.solve(backend="firstorder", method="atoms")
    prog = sn.ConvexReLU(X, y, 0.2, patterns=6)
    with pytest.raises(sn.InvalidInputError, match=r"\['rho'\].*method='atoms'"):
        prog.solve(backend="firstorder", method="atoms", rho=1.0)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(sn.InvalidInputError, match="atoms_per_round must be a positive"):
            prog.solve(backend="firstorder", atoms_per_round=bad)


def test_atoms_from_projections_cut_short_are_never_used():
    """A pricing stopped by its deadline leaves some projections inexact (outside their
    cones): the gradient atoms keep only the exact ones, so every atom is feasible."""
    from sdpnets.backends.firstorder.relu.atoms import _gradient_atoms

    ops, rng = pattern_operators(seed=5)
    live = np.arange(ops.nb)
    Z = rng.standard_normal((ops.h, ops.nb))
    _, Z, exact = _Pricing(ops).price(Z, live, -1.0, ops.nb)  # blocks inside their cones
    assert exact.all()
    G0 = rng.standard_normal((ops.h, ops.P))
    late = _Pricing(ops, deadline=0.0)  # every cutting-plane pass is past its deadline
    blocks, U = _gradient_atoms(late, Z, G0, live)
    rows = (2.0 * ops.M[:, ops.pat[blocks]] - 1.0) * (ops.A @ U)
    assert np.min(rows, initial=0.0) >= -1e-12
    full_blocks, _ = _gradient_atoms(_Pricing(ops), Z, G0, live)
    assert blocks.size < full_blocks.size  # some were dropped, not all


def test_atoms_run_on_one_blas_thread_and_restore_the_callers(monkeypatch):
    """The column generation's small products run on one BLAS thread (faster, measured);
    the caller's threads are back afterwards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from sdpnets.backends.firstorder.relu import atoms

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    seen, real = [], atoms.solve_master
    monkeypatch.setattr(atoms, "solve_master",
                        lambda *a, **kw: seen.append(blas_threads()) or real(*a, **kw))
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        ops, _ = pattern_operators(n=300)
        ops.beta = 0.2 * float(np.linalg.norm(ops.F0T(ops.y), axis=0).max())
        res = atoms.solve_relu_atoms(ops, tol=1e-6)
        assert blas_threads() == before
    assert res.status == "optimal" and seen
    assert all(t == [1] * len(t) for t in seen)


@pytest.mark.parametrize("tol", [1e-6, 1e-9])
def test_atoms_solve_their_master_problems_to_the_gap_they_certify(monkeypatch, tol):
    """Every master problem gets the tolerance tied to the gap asked for
    (:func:`~sdpnets.backends.firstorder.relu.master.master_tol`), and the solve still
    certifies that gap."""
    from sdpnets.backends.firstorder.relu import atoms
    from sdpnets.backends.firstorder.relu.master import master_tol

    asked, real = [], atoms.solve_master
    monkeypatch.setattr(atoms, "solve_master",
                        lambda *a, tol: asked.append(tol) or real(*a, tol=tol))
    ops, _ = pattern_operators(n=300)
    ops.beta = 0.05 * float(np.linalg.norm(ops.F0T(ops.y), axis=0).max())
    res = atoms.solve_relu_atoms(ops, tol=tol)
    assert res.status == "optimal" and res.relative_gap <= tol
    assert asked and set(asked) == {master_tol(tol)}
