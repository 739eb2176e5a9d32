"""The interior-point method on the whole ReLU program (backend="firstorder", method="ipm"):
its Woodbury Newton solve against the dense matrix, agreement with Clarabel on the same
program at small and large beta (cone-constrained and gated; squared, logistic and hinge
loss, with and without an intercept; bias; a CNN's pooled rows), certified brackets, limits, and the hand-over of ``method="auto"``."""

from functools import partial

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.backends.firstorder.cones import NesterovToddScaling
from sdpnets.backends.firstorder.relu import ipm, methods
from sdpnets.backends.firstorder.relu.ipm import _Structure
from sdpnets.backends.firstorder.relu.program import ReLUProgram
from sdpnets.losses import get_loss
from tests.conftest import relu_teacher_data

TOL = 1e-7
#: The hinge loss's interior point certifies less (its Newton systems degrade first).
HINGE_TOL = 1e-5
data = partial(relu_teacher_data, n=30)


def beta_max(X, y, masks, bias=False):
    A = np.hstack([X, np.ones((len(X), 1))]) if bias else X
    return float(np.linalg.norm(A.T @ (masks * y[:, None]), axis=0).max())


def check(prog, tol=TOL, method="ipm"):
    """Clarabel, then the interior point on the same program: the optimum, the network's
    objective, and a bracket that holds and is as tight as asked."""
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    res = prog.solve(backend="firstorder", method=method, tol=tol)
    assert res.status == "optimal", res.message
    assert abs(res.objective - ref) <= 10 * tol * abs(ref)
    lower = res.raw["lower_bound"]
    assert lower <= ref * (1 + 1e-9)
    assert res.objective - lower <= tol * abs(res.objective) * 1.001
    net = prog.network()
    assert net.objective(prog.X, prog.y, prog.beta, prog.loss) == pytest.approx(
        res.objective, rel=tol)
    return res


@pytest.mark.parametrize("fraction", [0.5, 0.01])
@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
@pytest.mark.parametrize("bias", [False, True])
def test_ipm_agrees_with_clarabel(loss, bias, fraction):
    X, y = data(labels=loss != "squared", seed=2 + bias)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=10, loss=loss, bias=bias, seed=1)
    prog.beta = fraction * beta_max(X, y, prog.patterns.masks, bias)
    res = check(prog, tol=TOL if loss == "squared" else HINGE_TOL)
    assert res.raw["method"] == "ipm"
    assert res.raw["cone_violation"] <= 1e-9 * np.abs(prog.network().predict(X)).max()


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_ipm_on_the_gated_program(loss):
    X, y = data(labels=loss != "squared", seed=5)
    prog = sn.ConvexGatedReLU(X, y, 1.0, patterns=12, loss=loss, bias=True)
    prog.beta = 0.05 * beta_max(X, y, prog.patterns.masks, True)
    check(prog, tol=TOL if loss == "squared" else HINGE_TOL)


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_gated_working_set(loss):
    """``auto`` solves the gated program over a working set of patterns: at a large beta
    fewer than all, at a small one more; the optimum is Clarabel's either way, and the
    returned dual point is feasible for the whole program."""
    X, y = data(n=60, labels=loss != "squared", seed=6)
    prog = sn.ConvexGatedReLU(X, y, 1.0, patterns=40, loss=loss, bias=True, seed=1)
    A = np.hstack([X, np.ones((len(X), 1))])
    sizes = []
    for fraction in (0.5, 0.01):
        prog.beta = fraction * beta_max(X, y, prog.patterns.masks, True)
        res = check(prog, tol=TOL if loss == "squared" else HINGE_TOL, method="auto")
        sizes.append(res.raw["statistics"][0]["working_set"])
        v = prog._fo_dual[:, 0]
        sigma = np.linalg.norm(A.T @ (prog.patterns.masks * v[:, None]), axis=0)
        assert sigma.max() <= prog.beta * (1 + 1e-9)
    assert sizes[0] < sizes[1] <= prog.patterns.count


def test_the_working_set_grows_by_a_bounded_factor_per_solve(monkeypatch):
    """Each working-set solve adds the most violated patterns, the set growing at most
    ``WORKING_SET_GROWTH`` times (adding every violator of a small set's dual point took 244
    of 500 patterns where 22 are active, on breast_cancer); the result is still Clarabel's
    optimum."""
    X, y = data(n=80, seed=6)
    prog = sn.ConvexGatedReLU(X, y, 1.0, patterns=120, bias=True, seed=1)
    prog.beta = 0.02 * beta_max(X, y, prog.patterns.masks, True)
    real, sizes = methods._screened, []

    def spy(program, drop, **kw):
        sizes.append(int((~drop).sum()))
        return real(program, drop, **kw)

    monkeypatch.setattr(methods, "_screened", spy)
    monkeypatch.setattr(methods, "WORKING_SET_GROWTH", 2)
    check(prog, method="auto")
    assert len(sizes) >= 3 and sizes[0] == methods.WORKING_SET_START
    # bounded growth while the grown set stays below half of the patterns (sizes grow,
    # so those sets are the first ones)
    small = [a for a in sizes if 2 * a < methods.WORKING_SET_ALL_FROM * prog.patterns.count]
    assert small and all(b <= 2 * a for a, b in zip(small, sizes[1:]))


def test_near_the_whole_program_every_violator_joins_the_working_set(monkeypatch):
    """Once the grown set would hold half of the patterns, every violated pattern joins at
    once instead of the most violated few: a set soon outgrown is not solved ((4000, 50,
    200) gated at 0.01 ``beta_max`` solved 8, 32, 128 and then all 200 patterns, 59 s; 8,
    32 and 200, 42 s). The violators of each dual point are counted independently here,
    and the result is still Clarabel's optimum."""
    X, y = data(n=80, seed=6)
    prog = sn.ConvexGatedReLU(X, y, 1.0, patterns=50, bias=True, seed=1)
    prog.beta = 0.01 * beta_max(X, y, prog.patterns.masks, True)
    P = prog.patterns.count
    real, sizes, violators = methods._screened, [], []

    def spy(program, drop, **kw):
        sizes.append(int((~drop).sum()))
        res, sigma = real(program, drop, **kw)
        violators.append(int((drop & (sigma > program.beta)).sum()))
        return res, sigma

    monkeypatch.setattr(methods, "_screened", spy)
    check(prog, method="auto")
    assert sizes[0] == methods.WORKING_SET_START
    # 8 + 3 * 8 = 32 >= P / 2: every violator of the first dual point joins, more than
    # the growth factor alone would have let in
    start = methods.WORKING_SET_START
    assert start + 3 * start >= methods.WORKING_SET_ALL_FROM * P
    assert violators[0] > 3 * start
    grown = sizes[1] if len(sizes) > 1 else P
    assert grown == start + violators[0]


def test_a_screened_solve_returns_a_dual_point_feasible_for_the_whole_program():
    """Dropping a pattern that is active at the optimum: the reduced solve's dual point
    violates that pattern's constraint, so the screened result scales it into the whole
    program's dual set, and its bound stays below the whole program's optimum."""
    X, y = data(n=60, seed=6)
    prog = sn.ConvexGatedReLU(X, y, 1.0, patterns=20, seed=1)
    prog.beta = 0.05 * beta_max(X, y, prog.patterns.masks)
    whole = prog.solve(backend="clarabel", tol=1e-10).objective
    program = ReLUProgram(X, prog.patterns.masks, y, get_loss("squared"), prog.beta,
                          cone=False)
    sigma = np.linalg.norm(program.F0T(y), axis=0)
    drop = np.zeros(program.P, dtype=bool)
    drop[np.argmax(sigma)] = True
    res, outside = methods._screened(program, drop, method="ipm", start=np.zeros(
        (program.h, program.nb)), tol=1e-9, max_iters=None, log=None, progress=None)
    assert outside[drop].max() > prog.beta  # the unscaled point violated the dropped one
    feasible = np.linalg.norm(program.F0T(res.dual_point), axis=0)
    assert feasible.max() <= prog.beta * (1 + 1e-9)
    assert res.lower_bound <= whole * (1 + 1e-9)
    assert res.lower_bound == pytest.approx(program.loss.dual_value(res.dual_point, y),
                                            rel=1e-9)


def test_ipm_vector_outputs_and_a_cnn():
    X, Y = data(K=2, seed=3)
    check(sn.ConvexReLU(X, Y, 0.05, patterns=6))
    rng = np.random.default_rng(4)
    Xs = rng.standard_normal((14, 6))
    ys = np.maximum(Xs[:, :3] @ rng.standard_normal(3), 0) + 0.1 * rng.standard_normal(14)
    check(sn.ConvexReLUCNN(Xs, ys, 0.05, kernel_size=3, patterns=8))


@pytest.mark.parametrize("merge", [False, True])
@pytest.mark.parametrize("loss, intercept", [
    ("squared", False), ("squared", True), ("logistic", False), ("logistic", True),
    ("hinge", False), ("hinge", True)])
def test_woodbury_newton_solve_equals_the_dense_one(loss, intercept, merge, monkeypatch):
    """The Newton system P + G^T W^-2 G, built densely from the constraint map G and the
    scalings, solved directly, against the structured Woodbury solve, with and without the
    two signs of each pattern merged in its n-square product; the logistic loss's
    Hessian at a random point, and at the best offset the Hessian of the loss minimized
    over it (checked by finite differences of its gradient); the hinge loss's offset is a
    free variable of the system (its column of G built like the others)."""
    monkeypatch.setattr(ipm, "MERGE_SIGNS_ABOVE", 0 if merge else np.inf)
    X, y = data(n=12, labels=loss != "squared", seed=6)
    M = X @ np.random.default_rng(0).standard_normal((X.shape[1], 4)) >= 0
    base = get_loss(loss)
    pr = ReLUProgram(X, M, y, base.at_best_offset() if intercept else base, 0.3)
    assert ipm.merges_signs(pr) == merge
    st = _Structure(pr)
    rng = np.random.default_rng(1)
    z0 = rng.standard_normal(st.D)
    st.at_point(z0)
    if loss == "logistic":  # P is the Hessian of z -> L(Fz): finite differences of -F^T v
        def grad(z):
            return -st.FT(pr.loss.dual_point(st.F(z), y))

        e = 1e-6 * rng.standard_normal(st.D)
        assert np.allclose(st.P(e), grad(z0 + e) - grad(z0), rtol=1e-4,
                           atol=1e-4 * np.abs(st.P(e)).max())
        assert np.allclose(st.q_z, grad(z0))
    d_l = np.exp(rng.uniform(-3, 3, st.L))
    cones = st.cones
    s, z = rng.standard_normal((2, st.D + st.nb))
    for v in (s, z):  # interior points of the second-order cones
        V = cones.view(v)
        V[:, 0] = np.linalg.norm(V[:, 1:], axis=1) + 0.3
    sc = NesterovToddScaling(cones, s, z)
    nx = st.D + st.nb + st.nxi + st.free
    assert st.free == (loss == "hinge" and intercept)
    E = np.eye(nx)
    # G and the objective's Hessian P as dense matrices, one column at a time
    Gl = np.column_stack([st.G(E[:, i])[0] for i in range(nx)])
    Gq = np.column_stack([st.G(E[:, i])[1] for i in range(nx)])
    P = np.zeros((nx, nx))
    P[:st.D, :st.D] = np.column_stack([st.P(E[:st.D, i]) for i in range(st.D)])
    from scipy.linalg import block_diag

    W2 = block_diag(*sc.inverse_square())
    N = P + Gl.T @ (d_l[:, None] * Gl) + Gq.T @ W2 @ Gq
    r = rng.standard_normal(nx)
    x = st.factor(d_l, sc.inverse_square())(r)
    assert np.allclose(x, np.linalg.solve(N, r), rtol=1e-7, atol=1e-9 * np.abs(x).max())


def test_ipm_limits_and_refusals():
    X, y = data(seed=7)
    prog = sn.ConvexReLU(X, y, 0.05, patterns=10, seed=2)
    assert prog.solve(backend="firstorder", method="ipm", max_iters=2).status \
        == "iteration_limit"
    assert prog.solve(backend="firstorder", method="ipm", time_limit=1e-9).status \
        == "time_limit"
    labels = np.sign(y - np.median(y))
    logistic = sn.ConvexGatedReLU(X, labels, 0.05, patterns=6, loss="logistic",
                                  intercept=True)
    with pytest.raises(sn.InvalidInputError, match="method='admm'.*prox.*logistic"):
        logistic.solve(backend="firstorder", method="admm")
    with pytest.raises(sn.InvalidInputError, match=r"\['rho'\].*method='ipm'"):
        prog.solve(backend="firstorder", method="ipm", rho=1.0)


def test_auto_hands_the_atoms_over_to_the_interior_point(monkeypatch):
    """With no time for the atoms, ``auto`` finishes with the interior point, certified,
    and says so; with ample time the atoms finish alone."""
    X, y = data(n=40, seed=8)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=12, seed=3)
    prog.beta = 0.002 * beta_max(X, y, prog.patterns.masks)
    monkeypatch.setattr(methods, "ATOMS_SHARE", 0.0)
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 0.0)
    res = check(prog, method="auto")
    assert res.raw["method"] == "ipm"
    assert res.raw["statistics"][0]["handed_over"]
    assert "finished by the interior point" in res.message
    # two outputs, the first zero at this beta (certified by the atoms at once): the
    # message names the method that finished the other
    two = sn.ConvexReLU(X, np.column_stack([1e-4 * y, y]), prog.beta, patterns=12, seed=3)
    res = check(two, method="auto")
    assert [s.get("handed_over", False) for s in res.raw["statistics"]] == [False, True]
    assert "finished by the interior point (" in res.message
    assert "on 1 of 2 outputs" in res.message
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 600.0)
    prog.beta = 0.5 * beta_max(X, y, prog.patterns.masks)
    res = check(prog, method="auto")
    assert res.raw["method"] == "atoms"


def test_a_hand_over_cut_by_the_time_limit_says_time_limit(monkeypatch):
    """The atoms' share runs out (their status becomes ``"error"``: they stopped short of
    the caller's time), then the interior point meets the caller's time limit: the better
    bracket is returned with ``"time_limit"``, the reason nothing finished, not
    ``"error"``."""
    X, y = data(n=40, seed=8)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=12, seed=3)
    prog.beta = 0.002 * beta_max(X, y, prog.patterns.masks)
    monkeypatch.setattr(methods, "ATOMS_SHARE", 0.0)
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 0.0)
    monkeypatch.setattr(methods, "atoms_seconds_left", lambda history, tol: np.inf)
    real_ipm = methods.solve_relu_ipm  # the caller's time runs out on it at once
    monkeypatch.setattr(methods, "solve_relu_ipm",
                        lambda program, **kw: real_ipm(program, **{**kw, "time_limit": 0.0}))
    res = prog.solve(backend="firstorder", method="auto", tol=1e-8, time_limit=60.0)
    stats = res.raw["statistics"][0]
    assert res.status == "time_limit", res.message
    assert stats["atoms_status"] == "error"  # their share ran out, not the caller's time
    assert res.lower_bound <= res.objective and res.relative_gap > 1e-8
    assert res.lower_bound <= prog.solve(backend="clarabel", tol=1e-9).objective * (1 + 1e-7)


@pytest.mark.parametrize("working_set", [False, True])
def test_outputs_after_a_hand_over_give_the_atoms_a_brief_share(monkeypatch, working_set):
    """Once an output's atoms were handed over to the whole program's interior point, the
    next outputs of the same program (same data, same beta) give the atoms only
    ``ATOMS_MIN_SECONDS`` (the interior point's share otherwise); after a hand-over to a
    working set, which starts from the atoms' iterate, they keep their share. Every output
    is still certified (Clarabel's optimum)."""
    X, y = data(n=40, seed=8)
    prog = sn.ConvexReLU(X, np.column_stack([y, -y, 0.5 * y]), 1.0, patterns=12, seed=3)
    prog.beta = 0.002 * beta_max(X, y, prog.patterns.masks)
    monkeypatch.setattr(methods, "WORKING_SET_ALL_FROM", 1.0 if working_set else -1.0)
    monkeypatch.setattr(methods, "ATOMS_SHARE", 1e9)
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 5.0)
    monkeypatch.setattr(methods, "atoms_seconds_left", lambda history, tol: np.inf)
    real, budgets = methods.solve_relu_atoms, []

    def atoms(program, time_limit=None, **kw):
        budgets.append(time_limit)
        return real(program, time_limit=0.0 if len(budgets) == 1 else time_limit, **kw)

    monkeypatch.setattr(methods, "solve_relu_atoms", atoms)
    res = check(prog, method="auto")
    stats = res.raw["statistics"][0]
    assert stats["handed_over"] and ("working_set" in stats) == working_set
    assert budgets[0] > 5.0 and len(budgets) == 3
    assert all(b > 5.0 for b in budgets[1:]) if working_set else budgets[1:] == [5.0, 5.0]


def test_atoms_seconds_left_extrapolates_the_gap_rate():
    """From the last rounds' log-gap rate: a gap falling tenfold a second needs three more
    seconds from 1e-3 to 1e-6; too few rounds, or a gap that does not fall, is infinite."""
    k = methods.RATE_ROUNDS
    hist = [(i, 0.2 * i, 10.0 ** (-0.2 * i)) for i in range(16)]  # 1e-3 at 3 s
    assert methods.atoms_seconds_left(hist, 1e-6) == pytest.approx(3.0)
    assert methods.atoms_seconds_left(hist[:k], 1e-6) == np.inf
    flat = [(i, 0.1 * i, 1e-2) for i in range(10)]
    assert methods.atoms_seconds_left(flat, 1e-6) == np.inf
    assert methods.atoms_seconds_left([(i, 0.1 * i, 1e-7) for i in range(10)], 1e-6) == 0.0


@pytest.mark.parametrize("fast", [True, False])
def test_auto_goes_on_with_atoms_that_converge_fast_enough(monkeypatch, fast):
    """When the atoms' share runs out, ``auto`` lets them go on if their rate says they
    finish within their share of the interior point's time, and hands over otherwise;
    either way the result is certified."""
    X, y = data(n=40, seed=8)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=12, seed=3)
    prog.beta = 0.05 * beta_max(X, y, prog.patterns.masks)
    real, calls = methods.solve_relu_atoms, []

    def share_runs_out_after_one_round(program, **kwargs):
        calls.append(kwargs.get("start") is not None)
        if len(calls) > 1:
            return real(program, **kwargs)
        res = real(program, **{**kwargs, "max_iters": 1})
        res.status = "time_limit"  # as if the share had run out
        return res

    monkeypatch.setattr(methods, "solve_relu_atoms", share_runs_out_after_one_round)
    monkeypatch.setattr(methods, "ipm_seconds", lambda program: 1e6)
    monkeypatch.setattr(methods, "RACE_FROM_SECONDS", np.inf)  # the atoms alone, then ipm
    monkeypatch.setattr(methods, "atoms_seconds_left",
                        lambda history, tol: 30.0 if fast else np.inf)
    res = check(prog, method="auto")
    stats = res.raw["statistics"][0]
    if fast:  # the atoms went on from their blocks, and certified
        assert calls == [False, True]
        assert res.raw["method"] == "atoms" and stats["continued"]
    else:
        assert calls == [False]
        assert res.raw["method"] == "ipm" and stats["handed_over"]


def test_along_a_path_a_hand_over_sends_smaller_betas_to_the_interior_point(monkeypatch):
    """Once the atoms were handed over at one beta, a warm-started solve at a smaller beta
    goes to the interior point at once (the atoms only slow down as beta falls); a larger
    beta, or a cold solve, starts with the atoms again. Every solve is certified."""
    X, y = data(n=40, seed=8)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=12, seed=3)
    top = beta_max(X, y, prog.patterns.masks)
    prog.beta = 0.01 * top
    monkeypatch.setattr(methods, "ATOMS_SHARE", 0.0)
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 0.0)
    monkeypatch.setattr(methods, "atoms_seconds_left", lambda history, tol: np.inf)
    assert check(prog, method="auto").raw["statistics"][0]["handed_over"]
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 600.0)  # atoms would finish now
    prog.beta = 0.005 * top
    res = prog.solve(backend="firstorder", tol=TOL, warm_start=True)
    assert res.status == "optimal" and res.raw["method"] == "ipm"
    assert res.raw["statistics"][0].get("ipm_first")
    prog.beta = 0.5 * top  # a larger beta: the atoms again
    res = prog.solve(backend="firstorder", tol=TOL, warm_start=True)
    assert res.status == "optimal" and res.raw["method"] == "atoms"
    prog.beta = 0.005 * top  # the last solve was not handed over
    res = prog.solve(backend="firstorder", tol=TOL, warm_start=True)
    assert res.raw["method"] == "atoms"
    assert res.objective == pytest.approx(check(prog, method="ipm").objective, rel=1e-5)


@pytest.mark.parametrize("primal", [True, False])
@pytest.mark.parametrize("loss, cls, intercept", [
    ("squared", sn.ConvexReLU, False), ("squared", sn.ConvexReLU, True),
    ("hinge", sn.ConvexReLU, False), ("squared", sn.ConvexGatedReLU, False),
    ("hinge", sn.ConvexGatedReLU, False), ("logistic", sn.ConvexReLU, True),
    ("logistic", sn.ConvexGatedReLU, True), ("hinge", sn.ConvexReLU, True),
    ("hinge", sn.ConvexGatedReLU, True)])
def test_both_newton_solves_reach_the_optimum(monkeypatch, primal, loss, cls, intercept):
    """Fewer unknowns in the blocks than samples: the Newton matrix factored itself
    (``primal``) or through the samples (Woodbury); both certify Clarabel's optimum."""
    from sdpnets.backends.firstorder.relu import ipm

    monkeypatch.setattr(ipm, "DIRECT_BELOW", 1.0 if primal else 0.0)
    real, calls = ipm._Structure._direct_solve, []
    monkeypatch.setattr(ipm._Structure, "_direct_solve",
                        lambda self, *a: calls.append(1) or real(self, *a))
    X, y = data(n=80, d=3, labels=loss != "squared", seed=11)
    prog = cls(X, y, 1.0, patterns=5, loss=loss, seed=2, intercept=intercept)
    assert prog._A.shape[1] * prog.patterns.count * (2 if cls is sn.ConvexReLU else 1) < 80
    prog.beta = 0.05 * beta_max(X, y, prog.patterns.masks)
    check(prog, tol=TOL if loss == "squared" else HINGE_TOL)
    assert bool(calls) == primal


def wrecking_step(real, at, steps, seen):
    """An interior-point ``_step`` that counts its calls in ``steps``, records the
    regularization each ran with in ``seen``, and throws the iterate far off (``x + 1e3``)
    at the call numbers in ``at``."""
    def step(st, point, res, mu):
        steps.append(1)
        seen.append(st.regularization)
        x, s_l, s_q, y_l, y_q = real(st, point, res, mu)
        return (x + 1e3 if len(steps) in at else x), s_l, s_q, y_l, y_q
    return step


def test_a_numerical_breakdown_resumes_regularized_then_with_the_direct_solve(monkeypatch):
    """Iterates wrecked near the end, or a Newton matrix made singular (as rounding in the
    Woodbury form does with the hinge loss at a small beta): the method resumes from the
    last good iterate with the blocks regularized (1e-8, then 1e-6), then factoring the
    ``D x D`` matrix itself, and still certifies the optimum; wrecked once more, it stops
    at once with its best certified iterate and an honest status."""
    X, y = data(n=40, seed=8)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=12, seed=3)
    prog.beta = 0.05 * beta_max(X, y, prog.patterns.masks)
    assert prog._A.shape[1] * 2 * prog.patterns.count > 40  # the Woodbury form first
    clean = prog.solve(backend="firstorder", method="ipm", tol=1e-8)
    real, steps, direct, seen = ipm._step, [], [], []
    real_direct = ipm._Structure._direct_solve
    monkeypatch.setattr(ipm._Structure, "_direct_solve",
                        lambda self, *a: direct.append(len(steps)) or real_direct(self, *a))

    def wreck(at):
        return wrecking_step(real, at, steps, seen)

    at = clean.iterations - 5  # near the end
    monkeypatch.setattr(ipm, "_step", wreck({at}))
    res = prog.solve(backend="firstorder", method="ipm", tol=1e-8)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(clean.objective, rel=1e-7)
    assert not direct and set(seen[at:]) == {ipm.REGULARIZATION}

    steps.clear(), seen.clear()
    monkeypatch.setattr(ipm, "_step", wreck({at, at + 2, at + 4}))
    res = prog.solve(backend="firstorder", method="ipm", tol=1e-8)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(clean.objective, rel=1e-7)
    assert seen[at + 1] == ipm.REGULARIZATION and seen[at + 3] == 1e-6
    assert min(direct) == at + 5  # the direct solve from the step after the third wreck
    assert res.raw["statistics"][0]["direct"]

    def singular(st, point, res, mu):  # Newton matrices that rounding made singular
        steps.append(1)
        if len(steps) >= at and not st.direct:
            raise np.linalg.LinAlgError("not positive definite")
        return real(st, point, res, mu)

    steps.clear(), direct.clear()
    monkeypatch.setattr(ipm, "_step", singular)
    res = prog.solve(backend="firstorder", method="ipm", tol=1e-8)
    assert res.status == "optimal" and direct
    assert res.objective == pytest.approx(clean.objective, rel=1e-7)

    steps.clear()
    monkeypatch.setattr(ipm, "_step", wreck({at, at + 2, at + 4, at + 6}))
    res = prog.solve(backend="firstorder", method="ipm", tol=1e-8)
    # three resumes, each an iteration without a step; stopped on the fourth wreck
    assert len(steps) == at + 6 and res.iterations == at + 10
    assert res.status == ("optimal_inaccurate" if res.relative_gap <= 1e-7 else "error")
    assert res.lower_bound <= clean.objective * (1 + 1e-9) <= res.objective * (1 + 1e-9)


def test_ipm_threads_small_work_on_one_the_factor_on_the_callers(monkeypatch):
    """The interior point's small solves run on one BLAS thread, its ``n``-square product
    on the caller's threads; the caller's are back afterwards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from sdpnets.backends.firstorder.relu import ipm

    def blas():
        return max(i["num_threads"] for i in threadpoolctl.threadpool_info()
                   if i["user_api"] == "blas")

    small, large = [], []
    real_inverse, real_syrk = ipm._inverse_factor, ipm.dsyrk
    monkeypatch.setattr(ipm, "_inverse_factor", lambda S: small.append(blas()) or real_inverse(S))
    monkeypatch.setattr(ipm, "dsyrk", lambda *a, **k: large.append(blas()) or real_syrk(*a, **k))
    X, y = data(n=200, seed=8)  # rows enough to limit threads (linalg.SINGLE_THREAD_FROM)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=40, seed=3)
    prog.beta = 0.05 * beta_max(X, y, prog.patterns.masks)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        check(prog)
        assert blas() == 2
    assert small and set(small) == {1}
    assert large and set(large) == {2}


def test_inverse_factor_of_a_stack_of_blocks():
    """M^T M = S^-1 for every block, positive definite or (by rounding) not."""
    from sdpnets.backends.firstorder.relu.ipm import _inverse_factor

    rng = np.random.default_rng(9)
    B = rng.standard_normal((6, 5, 5))
    S = B @ np.transpose(B, (0, 2, 1)) + 1e-3 * np.eye(5)
    S[2] = np.outer(B[2, 0], B[2, 0])  # singular: rank one
    S[2][np.diag_indices(5)] -= 1e-12  # and a hair indefinite
    M = _inverse_factor(S)
    for k in (0, 1, 3, 4, 5):
        assert np.allclose(M[k].T @ M[k] @ S[k], np.eye(5), atol=1e-8)
    assert np.all(np.isfinite(M[2]))


def test_merged_factor_of_the_two_signs_of_each_pattern():
    """X_p^T X_p = S_p^-1 + S_{p+P}^-1 from the blocks' inverse factors, also where the
    sum is singular (its eigenvalues then, rounding floored at zero)."""
    from sdpnets.backends.firstorder.relu.ipm import _inverse_factor, _merged_factor

    rng = np.random.default_rng(4)
    B = rng.standard_normal((6, 5, 5))
    S = B @ np.transpose(B, (0, 2, 1)) + 1e-3 * np.eye(5)
    X = _merged_factor(_inverse_factor(S), 3)
    for p in range(3):
        assert np.allclose(X[p].T @ X[p], np.linalg.inv(S[p]) + np.linalg.inv(S[p + 3]))
    Linv = _inverse_factor(S)
    Linv[[1, 4]] = 0.0  # pattern 1's two blocks contribute nothing: a zero sum
    Linv[[1, 4], 0, 0] = 1.0  # ... but one direction: rank one, singular
    X = _merged_factor(Linv, 3)
    e = np.zeros(5)
    e[0] = 1.0
    assert np.allclose(X[1].T @ X[1], 2.0 * np.outer(e, e), atol=1e-12)
    assert np.allclose(X[0].T @ X[0], np.linalg.inv(S[0]) + np.linalg.inv(S[3]))


def test_the_predicted_interior_point_time_follows_its_columns_and_the_loss(monkeypatch):
    """``auto``'s prediction of the interior point (the atoms' share): the n-square product
    has h P columns where the two signs merge (2 h P otherwise), and the hinge loss takes
    its own, larger iteration count."""
    X, y = data(n=60, labels=True, seed=2)
    M = X @ np.random.default_rng(0).standard_normal((X.shape[1], 5)) >= 0
    squared = ReLUProgram(X, M, y, get_loss("squared"), 0.3)
    hinge = ReLUProgram(X, M, y, get_loss("hinge"), 0.3)
    assert ipm.merges_signs(squared)
    assert methods.ipm_seconds(hinge) / methods.ipm_seconds(squared) == pytest.approx(
        methods.IPM_ITERATIONS_HINGE / methods.IPM_ITERATIONS)
    merged = methods.ipm_seconds(squared)
    monkeypatch.setattr(ipm, "MERGE_SIGNS_ABOVE", np.inf)
    n, h, P = squared.n, squared.h, squared.P
    assert methods.ipm_seconds(squared) - merged == pytest.approx(
        methods.IPM_ITERATIONS * n * n * h * P / methods.FLOP_RATE)


def test_where_the_direct_factor_does_not_fit_a_breakdown_resumes_regularized(monkeypatch):
    """Without the ``D x D`` factor (``D`` too large for it), a wrecked iterate resumes
    from the last good one with the blocks regularized (1e-8), still certifies the
    optimum, and each further breakdown grows the regularization a hundredfold until
    :data:`~ipm.REGULARIZATION_MAX`, past which the best certified iterate stands (no
    direct factor to turn to)."""
    monkeypatch.setattr(ipm, "DIRECT_MAX_RATIO", 0)
    X, y = data(n=40, seed=8)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=12, seed=3)
    prog.beta = 0.05 * beta_max(X, y, prog.patterns.masks)
    clean = prog.solve(backend="firstorder", method="ipm", tol=1e-8)
    assert clean.raw["statistics"][0]["regularization"] == 0.0  # no breakdown, none added
    real, steps, seen = ipm._step, [], []

    def wreck(at):
        return wrecking_step(real, at, steps, seen)

    at = clean.iterations - 5
    monkeypatch.setattr(ipm, "_step", wreck({at}))
    res = prog.solve(backend="firstorder", method="ipm", tol=1e-8)
    assert res.status == "optimal", res.message
    assert res.objective == pytest.approx(clean.objective, rel=1e-7)
    assert res.lower_bound <= clean.objective * (1 + 1e-9)
    stats = res.raw["statistics"][0]
    assert stats["regularization"] == ipm.REGULARIZATION and not stats["direct"]
    assert set(seen[:at]) == {0.0} and set(seen[at:]) == {ipm.REGULARIZATION}

    steps.clear(), seen.clear()
    monkeypatch.setattr(ipm, "_step", wreck({at, at + 2, at + 4}))
    res = prog.solve(backend="firstorder", method="ipm", tol=1e-8)
    # 1e-8 after the first wreck, 1e-6 after the second, the best stands after the third
    assert sorted(set(seen)) == [0.0, ipm.REGULARIZATION,
                                 ipm.REGULARIZATION * ipm.REGULARIZATION_GROWTH]
    assert len(steps) == at + 4 and res.raw["statistics"][0]["regularization"] == 1e-6
    assert res.status == ("optimal_inaccurate" if res.relative_gap <= 1e-7 else "error")
    assert res.lower_bound <= clean.objective * (1 + 1e-9) <= res.objective * (1 + 1e-9)


def test_the_hinge_loss_on_real_data_is_certified_after_a_breakdown():
    """The hinge loss on 300 samples of breast_cancer (standardized, with bias, 50 gates,
    1e-4 ``beta_max``; ``D = 3100`` unknowns, over ``DIRECT_MAX_RATIO n``, so no direct
    factor): the Woodbury solve's rounding breaks the iterates down near the end (the
    method stopped there with ``error`` at gap 2e-5 before it resumed regularized); now it
    certifies the optimum, which Clarabel confirms."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    idx = np.random.default_rng(0).choice(len(X), 300, replace=False)
    X, y = X[idx], 2.0 * y[idx] - 1.0
    prog = sn.ConvexReLU(X, y, 1.0, patterns=50, seed=0, loss="hinge", bias=True)
    prog.beta = 1e-4 * beta_max(X, y, prog.patterns.masks, bias=True)
    res = prog.solve(backend="firstorder", method="ipm", tol=1e-6)
    assert res.status == "optimal", res.message
    assert res.relative_gap <= 1e-6
    ref = prog.solve(backend="clarabel", tol=1e-9)
    assert res.lower_bound <= ref.objective * (1 + 1e-8)
    assert res.objective == pytest.approx(ref.objective, rel=2e-6)


def test_refinement_goes_on_while_it_contracts_on_the_hinge_loss_with_an_offset():
    """The three one-vs-rest programs of the hinge classifier with an intercept on
    scikit-learn's wine data (standardized, the estimator's 64 bisector gates and beta):
    near the optimum the Woodbury solves lose digits, and two fixed refinement steps let
    the iterates break down on two outputs (ending ``optimal_inaccurate`` at gap 7e-6);
    refining while the residual contracts certifies every output."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    from sdpnets.sklearn import ConvexReLUClassifier

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = ConvexReLUClassifier(loss="hinge", backend="clarabel").fit(X, y)
    ref = clf.result_
    prog = clf.program_
    res = prog.solve(backend="firstorder", method="ipm", tol=1e-6)
    assert res.status == "optimal", res.message
    # the two certified brackets overlap
    assert res.lower_bound <= ref.upper_bound and ref.lower_bound <= res.objective
