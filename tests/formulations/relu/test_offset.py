"""The unpenalized output offset (intercept) of the ReLU programs and the softmax loss
(docs/relu.md section 4h): planted offsets recovered, the program equal to its
minimum over constant shifts, certificates and beta_max with the offset, sdpnets' own
solvers (the squared loss at the best offset) against Clarabel, and the joint softmax program.

The references are computed here: the network objective and the offset's optimality by
NumPy, the minimum over the offset by a 1-D search over programs *without* an intercept.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import sdpnets as sn

from tests.conftest import assert_rel


def teacher(n=24, d=2, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal(d) + 0.3, 0.0) - np.maximum(X[:, 0] - 0.5, 0.0)
    return X, y + 0.05 * rng.standard_normal(n) + offset


def test_a_planted_offset_is_recovered_and_shifts_nothing_else():
    """Adding t to every target moves the offset by exactly t and leaves the network's
    weights and objective unchanged (the offset is unpenalized); the offset of the
    recovered network is the best one for its hidden layer (NumPy's mean residual)."""
    X, y = teacher(offset=0.0)
    masks = np.random.default_rng(1).standard_normal((X.shape[1] + 1, 12))
    nets, objs = [], []
    for t in (0.0, 37.5):
        prog = sn.ConvexReLU(X, y + t, 0.2, patterns=masks, bias=True, intercept=True)
        res = prog.solve(tol=1e-9)
        assert res.status == "optimal"
        net = prog.network()
        assert_rel(res.objective, net.objective(X, y + t, 0.2), 1e-7, "program vs network")
        nets.append(net)
        objs.append(res.objective)
    assert_rel(objs[0], objs[1], 1e-6, "shifted targets")
    assert float(nets[1].offset) - float(nets[0].offset) == pytest.approx(37.5, abs=1e-5)
    np.testing.assert_allclose(nets[1].predict(X) - 37.5, nets[0].predict(X), atol=1e-5)
    hidden = np.maximum(X @ nets[0].U + nets[0].bias, 0.0) @ nets[0].alpha
    assert float(nets[0].offset) == pytest.approx(float(np.mean(y - hidden)), abs=1e-6)


def test_the_intercept_program_is_the_minimum_over_constant_shifts():
    """min_{z, c} = min_c (program without intercept on y - c): a bounded 1-D search over
    programs without intercept reaches the same value, never below it."""
    X, y = teacher(n=16, seed=2, offset=3.0)
    gates = np.random.default_rng(3).standard_normal((X.shape[1], 8))
    beta = 0.3
    with_c = sn.ConvexReLU(X, y, beta, patterns=gates, intercept=True).solve(tol=1e-10)

    def shifted(c):
        return sn.ConvexReLU(X, y - c, beta, patterns=gates).solve(tol=1e-10).objective

    best = minimize_scalar(shifted, bounds=(y.min(), y.max()), method="bounded",
                           options={"xatol": 1e-7})
    assert with_c.objective <= best.fun + 1e-7
    assert with_c.objective == pytest.approx(best.fun, rel=1e-6)
    assert with_c.objective < shifted(0.0) - 1e-3  # the intercept matters on these data


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_certificate_and_beta_max_with_an_offset(loss):
    """Exhaustive patterns: the certificate (dual points centered) closes on the optimum;
    at beta_max the network is only its offset, the best constant; below it, not."""
    X, y = teacher(n=14, seed=4)
    if loss != "squared":
        y = np.where(y > np.median(y), 1.0, -1.0)
    prog = sn.ConvexReLU(X, y, 1.0, loss=loss, bias=True, intercept=True)
    top = float(prog.beta_max())
    prog.beta = 0.3 * top
    res = prog.solve(tol=1e-9)
    cert = prog.certificate()
    assert cert.kind == "exact"
    assert cert.lower_bound <= res.objective * (1 + 1e-7) + 1e-9
    assert cert.relative_gap <= 1e-5
    assert abs(np.sum(cert.dual_point)) <= 1e-8 * max(1.0, np.abs(cert.dual_point).sum())
    assert top == pytest.approx(float(sn.beta_max(X, y, loss=loss, bias=True, intercept=True)))
    prog.beta = 1.001 * top
    prog.solve(tol=1e-9)
    net = prog.network()
    best_constant = min(get(loss).value(np.full(y.size, c), y) for c in np.linspace(-4, 4, 8001))
    assert net.objective(X, y, prog.beta) == pytest.approx(best_constant, rel=1e-4, abs=1e-6)
    assert np.max(np.abs(net.predict(X) - net.offset)) <= 1e-4 * max(1.0, abs(float(net.offset)))
    prog.beta = 0.9 * top
    prog.solve(tol=1e-9)
    assert np.ptp(prog.network().predict(X)) > 1e-6


def get(name):
    return sn.losses.get_loss(name)


@pytest.mark.parametrize("method", ["atoms", "ipm", "admm"])
def test_firstorder_intercept_agrees_with_clarabel(method):
    """Squared loss: sdpnets' own solvers minimize the squared loss at the best offset (one
    solve per output); every method's certified bracket holds Clarabel's optimum of the
    program with the offset variable, for one and for several outputs, and the offset is
    the best one for the recovered network (NumPy's mean residual)."""
    X, y = teacher(n=30, seed=5, offset=-2.0)
    Y = np.c_[y, 0.5 * y + 4.0]
    for targets in (y, Y):
        a = sn.ConvexReLU(X, targets, 0.2, patterns=16, bias=True, intercept=True)
        b = sn.ConvexReLU(X, targets, 0.2, patterns=16, bias=True, intercept=True)
        ra = a.solve(backend="firstorder", method=method, tol=1e-8)
        rb = b.solve(backend="clarabel", tol=1e-9)
        assert ra.status == rb.status == "optimal"
        assert_rel(ra.objective, rb.objective, 1e-6, "first-order vs Clarabel")
        assert np.isfinite(ra.lower_bound)
        assert ra.lower_bound <= rb.objective * (1 + 1e-8)
        net = a.network()
        np.testing.assert_allclose(net.offset, b.network().offset, atol=1e-3)
        hidden = net.predict(X) - net.offset
        np.testing.assert_allclose(net.offset, np.mean(targets - hidden, axis=0), atol=1e-9)


def test_firstorder_gated_intercept_agrees_with_clarabel():
    """The gated program with an offset: the interior point and the ADMM reach Clarabel's
    optimum, with a finite certified lower bound below it (tol 1e-7: the interior point's
    round-off floor is near 1e-8)."""
    X, y = teacher(n=26, seed=8, offset=5.0)
    gates = np.random.default_rng(9).standard_normal((X.shape[1] + 1, 10))
    ref = sn.ConvexGatedReLU(X, y, 0.3, patterns=gates, bias=True, intercept=True).solve(
        backend="clarabel", tol=1e-9)
    for method in ("ipm", "admm"):
        prog = sn.ConvexGatedReLU(X, y, 0.3, patterns=gates, bias=True, intercept=True)
        res = prog.solve(backend="firstorder", method=method, tol=1e-7)
        assert res.status == "optimal", (method, res.message)
        assert_rel(res.objective, ref.objective, 1e-6, method)
        assert res.lower_bound <= ref.objective * (1 + 1e-8)


@pytest.mark.parametrize("method", ["atoms", "ipm", "auto"])
@pytest.mark.parametrize("fraction", [0.3, 0.003])
def test_firstorder_logistic_intercept_agrees_with_clarabel(method, fraction):
    """Logistic loss: sdpnets' own solvers minimize the logistic loss at the best offset
    (a one-dimensional minimization, eliminated from the Newton systems); at a large and a
    small beta their certified bracket holds Clarabel's optimum of the program with the
    offset variable, for two outputs, and the offset is the best one for the recovered
    network (its derivative, the sum of the logistic gradients, vanishes)."""
    X, y = teacher(n=40, seed=5, offset=1.5)
    Y = np.c_[np.where(y > np.median(y), 1.0, -1.0), np.where(y > 0.5, 1.0, -1.0)]
    a = sn.ConvexReLU(X, Y, 1.0, patterns=12, bias=True, intercept=True, loss="logistic")
    a.beta = fraction * a.program_beta_max()
    b = sn.ConvexReLU(X, Y, a.beta, patterns=12, bias=True, intercept=True, loss="logistic")
    ra = a.solve(backend="firstorder", method=method, tol=1e-7)
    rb = b.solve(backend="clarabel", tol=1e-9)
    assert ra.status == "optimal", ra.message
    assert rb.status in ("optimal", "optimal_inaccurate")
    assert ra.objective <= rb.objective * (1 + 1e-6)  # never worse than Clarabel's
    assert np.isfinite(ra.lower_bound) and ra.lower_bound <= rb.objective * (1 + 1e-8)
    assert ra.objective - ra.lower_bound <= 1e-7 * ra.objective * 1.001
    net = a.network()
    margins = Y * net.predict(X)
    np.testing.assert_allclose((Y / (1.0 + np.exp(margins))).sum(axis=0), 0.0, atol=1e-7)


@pytest.mark.parametrize("method", ["atoms", "ipm", "auto"])
@pytest.mark.parametrize("fraction", [0.3, 0.02])
def test_firstorder_hinge_intercept_agrees_with_clarabel(method, fraction):
    """The hinge loss at the best offset (:class:`~sdpnets.losses.HingeAtBestOffset`): the
    interior point (the offset a free variable of its Newton systems), the atoms (a free
    column of the master's linear program) and ``auto`` reach Clarabel's optimum, with a
    certified bound below it; the recovered network's offset is optimal for its hidden
    layer (a subgradient of the hinge loss in the offset contains zero)."""
    X, y = teacher(n=40, seed=11, offset=0.7)
    labels = np.where(y > np.quantile(y, 0.3), 1.0, -1.0)  # unbalanced: the offset matters
    a = sn.ConvexReLU(X, labels, 1.0, patterns=12, bias=True, intercept=True, loss="hinge")
    a.beta = fraction * a.program_beta_max()
    b = sn.ConvexReLU(X, labels, a.beta, patterns=12, bias=True, intercept=True,
                      loss="hinge")
    rb = b.solve(backend="clarabel", tol=1e-9)
    assert rb.status == "optimal"
    ra = a.solve(backend="firstorder", method=method, tol=1e-6)
    if method == "atoms":  # the atoms alone may stall on the hinge loss: never wrong
        assert ra.status in ("optimal", "optimal_inaccurate", "error"), ra.message
    else:
        assert ra.status == "optimal", ra.message
        assert ra.objective - ra.lower_bound <= 1e-6 * ra.objective * 1.001
    assert ra.objective >= rb.objective * (1 - 1e-7)  # a feasible network: never below
    assert ra.lower_bound <= rb.objective * (1 + 1e-8)  # a certified bound: never above
    if ra.status == "optimal":
        assert_rel(ra.objective, rb.objective, 2e-6, method)
        net = a.network()
        margins = labels * net.predict(X)
        below, on = margins < 1 - 1e-6, np.abs(margins - 1) <= 1e-6
        fixed = float(labels[below].sum())  # the offset's subgradient: -sum over below,
        span = float(np.abs(labels[on]).sum())  # minus any part of the kinks
        assert abs(fixed) <= span + 1e-6


@pytest.mark.parametrize("loss, seed, quantile", [("logistic", 8, 0.5), ("hinge", 12, 0.35)])
def test_firstorder_gated_intercept_agrees_with_clarabel_on_classification(loss, seed, quantile):
    """The gated program with the logistic or hinge loss and an offset: the interior point
    (also over a working set, ``auto``) reaches Clarabel's optimum with a bound below it;
    the ADMM, which has no prox of the loss at the best offset, refuses it by name."""
    X, y = teacher(n=30, seed=seed, offset=1.0)
    labels = np.where(y > np.quantile(y, quantile), 1.0, -1.0)
    gates = np.random.default_rng(seed + 1).standard_normal((X.shape[1] + 1, 10))
    ref = sn.ConvexGatedReLU(X, labels, 0.3, patterns=gates, bias=True, intercept=True,
                             loss=loss).solve(backend="clarabel", tol=1e-9)
    assert ref.status == "optimal"
    for method in ("ipm", "auto"):
        prog = sn.ConvexGatedReLU(X, labels, 0.3, patterns=gates, bias=True, intercept=True,
                                  loss=loss)
        res = prog.solve(backend="firstorder", method=method, tol=1e-7)
        assert res.status == "optimal", (method, res.message)
        assert_rel(res.objective, ref.objective, 1e-6, method)
        assert res.lower_bound <= ref.objective * (1 + 1e-8)
    with pytest.raises(sn.InvalidInputError, match="method='admm'.*prox"):
        prog.solve(backend="firstorder", method="admm")


def test_firstorder_refuses_what_it_cannot_solve_and_auto_falls_back():
    """The one-output solvers cannot take a coupled loss: status "error" saying why (never
    a wrong answer); ``auto`` falls back to a conic solver."""
    X, y = teacher(n=12, seed=6)
    Y = np.eye(3)[np.digitize(X[:, 0], [-0.4, 0.4])]
    prog = sn.ConvexReLU(X, Y, 0.2, patterns=6, loss="softmax")
    res = prog.solve(backend="firstorder")
    assert res.status == "error" and "couples the outputs" in res.message
    with pytest.raises(sn.SolveFailedError):
        prog.network()
    assert prog.solve().status == "optimal"  # auto: a conic solver


def test_softmax_program_is_exact_with_every_pattern():
    """The joint softmax program over every cell is the global optimum: its certificate
    over all networks closes, the network's objective equals the program's, the offset is
    optimal for the network's logits, and random perturbations of the weights never go
    below it."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((12, 2))
    labels = np.digitize(X[:, 0] + 0.3 * X[:, 1], [-0.5, 0.5])
    Y = np.eye(3)[labels]
    beta = 0.5
    prog = sn.ConvexReLU(X, Y, beta, loss="softmax", bias=True, intercept=True)
    res = prog.solve(tol=1e-9)
    assert res.status == "optimal"
    net = prog.network()
    assert_rel(res.objective, net.objective(X, Y, beta), 1e-6, "program vs network")
    cert = sn.certify(net, X, Y, beta)
    assert cert.kind == "exact" and cert.relative_gap <= 1e-5
    logits = net.predict(X) - net.offset
    loss = get("softmax")
    best = loss.optimal_offset(logits, Y)
    assert loss.value(logits + net.offset, Y) <= loss.value(logits + best, Y) + 1e-6
    for _ in range(30):
        U = net.U + 0.05 * rng.standard_normal(net.U.shape)
        alpha = net.alpha + 0.05 * rng.standard_normal(net.alpha.shape)
        other = sn.ReLUMLP(U, alpha, bias=net.bias, output_penalty="l1_squared",
                           loss="softmax", offset=net.offset)
        assert other.objective(X, Y, beta) >= cert.lower_bound - 1e-9
