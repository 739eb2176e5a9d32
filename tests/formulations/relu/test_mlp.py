"""Two-layer ReLU networks (docs/relu.md sections 4a-4d): convex optimum = recovered network, weak duality
against an independent L-BFGS on the weights, exact dual norms, beta_max, pruning,
classification, sampled patterns, errors.

Every reference is computed here, independently of the package: the network objective by
NumPy, the local optimizer on ``(U, alpha)`` with hand-written gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit

import sdpnets as sn
from sdpnets.formulations.relu.dual_norm import relu_dual_norm
from sdpnets.formulations.relu.group_lasso import caratheodory_prune

BACKENDS = [b for b in ("clarabel", "scs") if b in sn.available_backends()]


def solve_kwargs(backend):
    return {"tol": 1e-9, "max_iters": 200_000} if backend == "scs" else {"tol": 1e-10}


def rel(a, b):
    return abs(a - b) / max(1.0, abs(a), abs(b))


def data(n=10, d=2, seed=0, labels=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    return X, (np.where(y >= 0, 1.0, -1.0) if labels else y)


def network_value(U, alpha, X, y, beta, loss="squared", bias=None):
    """The non-convex objective, written out independently of sdpnets."""
    Z = X @ U + (0.0 if bias is None else bias)
    yhat = np.maximum(Z, 0.0) @ alpha
    if loss == "squared":
        fit = 0.5 * np.sum((yhat - y) ** 2)
    elif loss == "logistic":
        fit = np.sum(np.logaddexp(0.0, -y * yhat))
    else:
        fit = np.sum(np.maximum(0.0, 1.0 - y * yhat))
    pen = np.sum(U**2) + np.sum(alpha**2) + (0.0 if bias is None else np.sum(bias**2))
    return fit + 0.5 * beta * pen


def lbfgs_relu(X, y, beta, width, starts, seed, loss="squared"):
    """Best objective of L-BFGS on (U, alpha) from random starts, each neuron rebalanced
    (|alpha_j| = ||u_j||, which never raises the objective) before it is compared.
    ``loss``: "squared" or "logistic" (smooth losses)."""
    n, d = X.shape
    rng = np.random.default_rng(seed)

    def f(theta):
        U = theta[: d * width].reshape(d, width)
        a = theta[d * width :]
        Z = X @ U
        H = np.maximum(Z, 0.0)
        yhat = H @ a
        if loss == "squared":
            r = yhat - y  # dL/dyhat
            fit = 0.5 * r @ r
        else:
            fit = np.sum(np.logaddexp(0.0, -y * yhat))
            r = -y * expit(-y * yhat)
        val = fit + 0.5 * beta * (np.sum(U**2) + a @ a)
        ga = H.T @ r + beta * a
        gU = X.T @ ((r[:, None] * a[None, :]) * (Z > 0)) + beta * U
        return val, np.concatenate([gU.ravel(), ga])

    best = np.inf
    for _ in range(starts):
        theta0 = rng.standard_normal(d * width + width) * rng.choice([0.1, 0.5, 1.0])
        res = minimize(f, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 3000})
        U = res.x[: d * width].reshape(d, width)
        a = res.x[d * width :]
        nu = np.linalg.norm(U, axis=0)
        scale = np.sqrt(np.divide(np.abs(a), nu, out=np.zeros_like(a), where=nu > 0))
        U2 = U * scale
        a2 = np.divide(a, scale, out=np.zeros_like(a), where=scale > 0)
        best = min(best, res.fun, network_value(U2, a2, X, y, beta, loss))
    return best


# --- the central promise ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_convex_optimum_equals_recovered_network(backend, loss):
    X, y = data(n=10, d=3, seed=1, labels=loss != "squared")
    beta = 0.2
    prog = sn.ConvexReLU(X, y, beta, loss=loss)
    res = prog.solve(backend=backend, **solve_kwargs(backend))
    assert res.status == "optimal" and res.exact
    net = prog.network()
    assert isinstance(net, sn.ReLUMLP)
    assert rel(res.objective, net.objective(X, y, beta, loss)) <= 1e-6
    assert rel(res.objective, network_value(net.U, net.alpha, X, y, beta, loss)) <= 1e-6
    assert "exhaustive" in res.message


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_two_backends_agree(loss):
    if len(BACKENDS) < 2:
        pytest.skip("needs clarabel and scs")
    X, y = data(n=10, d=2, seed=2, labels=loss != "squared")
    values = [
        sn.ConvexReLU(X, y, 0.3, loss=loss, bias=True).solve(backend=b, **solve_kwargs(b)).objective
        for b in BACKENDS
    ]
    assert rel(values[0], values[1]) <= 1e-6


def test_bias_and_vector_output():
    X, _ = data(n=9, d=2, seed=3)
    Y = np.random.default_rng(4).standard_normal((9, 2))
    prog = sn.ConvexReLU(X, Y, 0.2, bias=True)
    res = prog.solve(tol=1e-10)
    net = prog.network()
    assert net.bias is not None and net.alpha.shape[1] == 2
    assert net.output_penalty == "l1_squared"
    assert rel(res.objective, net.objective(X, Y, 0.2)) <= 1e-6
    # every recovered neuron feeds one output, so standard weight decay gives the same value
    assert np.all(np.count_nonzero(net.alpha, axis=1) == 1)
    std = sn.ReLUMLP(net.U, net.alpha, bias=net.bias)
    assert rel(std.objective(X, Y, 0.2), res.objective) <= 1e-6
    # 4d: the vector program separates into scalar programs with the same patterns
    sep = sum(sn.ConvexReLU(X, Y[:, k], 0.2, bias=True).solve(tol=1e-10).objective for k in range(2))
    assert rel(sep, res.objective) <= 1e-6


@pytest.mark.parametrize("patterns", ["exhaustive", 20])
def test_program_is_vectorized(patterns):
    # three constraints (prediction, two cone blocks) for any number of patterns, and no
    # constant of n x n size (no diagonal pattern matrices)
    X, y = data(n=12, d=3, seed=26)
    prog = sn.ConvexReLU(X, y, 0.1, patterns=patterns)
    P = prog.patterns.count
    assert len(prog.problem.constraints) == 3
    shapes = {c.shape for c in prog.problem.constants()}
    assert (12, 12) not in shapes and (12, P) in shapes
    assert sorted(v.shape for v in prog.problem.variables()) == [(3, P), (3, P), (12,)]


def test_local_optimizer_never_below_the_optimum():
    X, y = data(n=10, d=2, seed=5)
    beta = 0.1
    opt = sn.ConvexReLU(X, y, beta).solve(tol=1e-10).objective
    best = lbfgs_relu(X, y, beta, width=12, starts=25, seed=0)
    assert best >= opt * (1 - 1e-8)


def test_local_optimizer_never_below_the_optimum_logistic_with_bias():
    X, y = data(n=10, d=2, seed=27, labels=True)
    beta = 0.3
    opt = sn.ConvexReLU(X, y, beta, loss="logistic", bias=True).solve(tol=1e-10).objective
    Xa = np.hstack([X, np.ones((10, 1))])  # a penalized bias is a ones column
    best = lbfgs_relu(Xa, y, beta, width=12, starts=15, seed=1, loss="logistic")
    assert best >= opt * (1 - 1e-7)


# --- duality -------------------------------------------------------------------------------------


def test_dual_norm_equals_beta_at_optimum_and_exceeds_it_for_a_worse_network():
    X, y = data(n=10, d=3, seed=6)
    beta = 0.3
    prog = sn.ConvexReLU(X, y, beta)
    opt = prog.solve(tol=1e-10).objective
    net = prog.network()
    residual = y - net.predict(X)
    assert rel(relu_dual_norm(X, residual), beta) <= 1e-6
    # at active neurons v^T (X u_j)_+ = sgn(alpha_j) beta ||u_j||
    act = residual @ np.maximum(X @ net.U, 0.0)
    assert np.allclose(act, np.sign(net.alpha) * beta * np.linalg.norm(net.U, axis=0), atol=1e-6)
    cert = prog.certificate()
    assert cert.lower_bound <= opt + 1e-9 and cert.gap <= 1e-6 * max(1, opt)
    worse = sn.ReLUMLP(net.U, 0.5 * net.alpha)
    assert relu_dual_norm(X, y - worse.predict(X)) > beta * (1 + 1e-3)
    c = sn.certify(worse, X, y, beta)
    assert c.upper_bound > opt and c.lower_bound <= opt + 1e-9 and c.gap > 1e-3


def test_dual_norm_is_exact_and_sampling_underestimates_it():
    X, y = data(n=12, d=3, seed=7)
    value, u = relu_dual_norm(X, y, return_direction=True)
    assert np.isclose(np.linalg.norm(u), 1.0)
    assert np.isclose(abs(y @ np.maximum(X @ u, 0.0)), value, rtol=1e-9)
    G = np.random.default_rng(0).standard_normal((3, 20_000))
    G /= np.linalg.norm(G, axis=0)
    sampled = np.max(np.abs(y @ np.maximum(X @ G, 0.0)))
    assert sampled <= value * (1 + 1e-12)


def test_certify_any_network():
    X, y = data(n=10, d=2, seed=8)
    beta = 0.2
    opt = sn.ConvexReLU(X, y, beta).solve(tol=1e-10).objective
    rng = np.random.default_rng(1)
    for _ in range(5):
        net = sn.ReLUMLP(rng.standard_normal((2, 6)), rng.standard_normal(6))
        c = sn.certify(net, X, y, beta)
        assert c.lower_bound <= opt * (1 + 1e-8) <= c.upper_bound + 1e-9
        assert np.isclose(c.upper_bound, network_value(net.U, net.alpha, X, y, beta))


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_classification_certificate_brackets_the_optimum(loss):
    X, y = data(n=8, d=2, seed=9, labels=True)
    prog = sn.ConvexReLU(X, y, 0.3, loss=loss)
    opt = prog.solve(tol=1e-10).objective
    cert = prog.certificate()
    assert cert.lower_bound <= opt * (1 + 1e-8) and cert.relative_gap <= 1e-6
    net = sn.ReLUMLP(np.ones((2, 1)), np.ones(1))
    c = sn.certify(net, X, y, 0.3, loss=loss)
    assert c.lower_bound <= opt * (1 + 1e-8) <= c.upper_bound


def zero_network_loss(y, loss):
    """The loss of the zero network, written out."""
    return {"squared": 0.5 * y @ y, "logistic": y.size * np.log(2.0), "hinge": float(y.size)}[loss]


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
@pytest.mark.parametrize("bias", [False, True])
def test_beta_max_for_every_loss_and_bias(loss, bias):
    X, y = data(n=10, d=2, seed=21, labels=loss != "squared")
    bmax = sn.beta_max(X, y, loss=loss, bias=bias)
    prog = sn.ConvexReLU(X, y, bmax, loss=loss, bias=bias)
    assert rel(prog.beta_max(), bmax) <= 1e-12
    zero = zero_network_loss(y, loss)
    prog.beta = 1.01 * bmax
    assert rel(prog.solve(tol=1e-10).objective, zero) <= 1e-7
    assert np.linalg.norm(prog.network().predict(X)) <= 1e-6 * np.linalg.norm(y)
    prog.beta = 0.98 * bmax
    assert prog.solve(tol=1e-10).objective < zero * (1 - 1e-6)


def test_beta_max_of_the_logistic_loss_is_half_the_squared_one():
    # -grad L(0) is y / 2 for the logistic loss, y for squared and hinge
    X, y = data(n=10, d=2, seed=22, labels=True)
    assert rel(sn.beta_max(X, y, loss="logistic"), 0.5 * sn.beta_max(X, y)) <= 1e-12
    assert rel(sn.beta_max(X, y, loss="hinge"), sn.beta_max(X, y)) <= 1e-12


def test_zero_targets_give_the_zero_network():
    X, _ = data(n=8, d=2, seed=23)
    prog = sn.ConvexReLU(X, np.zeros(8), 0.1)
    assert abs(prog.solve(tol=1e-10).objective) <= 1e-8
    assert sn.beta_max(X, np.zeros(8)) == 0.0
    net = prog.network()
    assert net.width == 1 and not np.any(net.predict(X))


def test_beta_max_gives_the_zero_network():
    X, y = data(n=10, d=2, seed=10)
    bmax = sn.beta_max(X, y)
    above = sn.ConvexReLU(X, y, 1.1 * bmax)
    res = above.solve(tol=1e-10)
    assert rel(res.objective, 0.5 * y @ y) <= 1e-7
    assert np.linalg.norm(above.network().predict(X)) <= 1e-6 * np.linalg.norm(y)
    below = sn.ConvexReLU(X, y, 0.9 * bmax).solve(tol=1e-10)
    assert below.objective < 0.5 * y @ y * (1 - 1e-6)


# --- pruning ------------------------------------------------------------------------------------------


def test_pruning_keeps_the_objective_and_reaches_n_plus_one():
    X, y = data(n=10, d=3, seed=11)
    beta = 0.05
    prog = sn.ConvexReLU(X, y, beta)
    res = prog.solve(tol=1e-10)
    full, pruned = prog.network(), prog.network(prune=True)
    assert pruned.width <= X.shape[0] + 1 and pruned.width <= full.width
    assert rel(pruned.objective(X, y, beta), res.objective) <= 1e-6
    assert np.allclose(pruned.predict(X), full.predict(X), atol=1e-8)


def test_caratheodory_on_random_features():
    rng = np.random.default_rng(12)
    F = np.maximum(rng.standard_normal((6, 30)), 0.0)
    c = rng.random(30)
    c2 = caratheodory_prune(F, c)
    assert np.count_nonzero(c2) <= 7 and np.all(c2 >= 0)
    assert np.allclose(F @ c2, F @ c) and np.isclose(c2.sum(), c.sum())


@pytest.mark.parametrize("K,penalty", [(1, "frobenius"), (3, "frobenius"), (3, "l1_squared")])
def test_prune_a_wide_network(K, penalty):
    from sdpnets.formulations.relu.mlp import prune_network

    X, _ = data(n=6, d=2, seed=13)
    rng = np.random.default_rng(0)
    alpha = rng.standard_normal((30, K)) if K > 1 else rng.standard_normal(30)
    Y = rng.standard_normal((6, K)) if K > 1 else rng.standard_normal(6)
    U, b = rng.standard_normal((2, 30)), rng.standard_normal(30)
    net = sn.ReLUMLP(U, alpha, bias=b, output_penalty=penalty)
    small = prune_network(net, X)
    assert small.width <= 6 * K + 1
    assert np.allclose(small.predict(X), net.predict(X), atol=1e-9)
    # same predictions and the penalty of the rebalanced network, 2 sum_j ||(u_j, b_j)|| |a_j|
    # (|a_j| the l2 or the l1 norm of neuron j's output weights)
    a2 = alpha.reshape(30, -1)
    out = np.abs(a2).sum(axis=1) if penalty == "l1_squared" else np.linalg.norm(a2, axis=1)
    rebalanced = 0.5 * np.sum((net.predict(X) - Y) ** 2) + 0.1 * np.linalg.norm(
        np.vstack([U, b]), axis=0) @ out
    assert rel(small.objective(X, Y, 0.1), rebalanced) <= 1e-10
    assert small.objective(X, Y, 0.1) <= net.objective(X, Y, 0.1) + 1e-9


# --- classification, sampling, warm paths -------------------------------------------------------------


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_classifies_a_separable_toy_set(loss):
    rng = np.random.default_rng(14)
    X = rng.standard_normal((12, 2))
    y = np.where(np.abs(X[:, 0]) > 0.6, 1.0, -1.0)  # needs two ReLUs and a bias
    prog = sn.ConvexReLU(X, y, 1e-3, loss=loss, bias=True)
    prog.solve(tol=1e-9)
    assert np.all(np.sign(prog.network().predict(X)) == y)


def test_sampled_patterns_give_an_upper_bound():
    X, y = data(n=12, d=3, seed=15)
    exact = sn.ConvexReLU(X, y, 0.1).solve(tol=1e-10)
    prog = sn.ConvexReLU(X, y, 0.1, patterns=15, seed=3)
    res = prog.solve(tol=1e-10)
    assert not res.exact and "upper bound" in res.message
    assert res.objective >= exact.objective * (1 - 1e-8)
    assert rel(prog.network().objective(X, y, 0.1), res.objective) <= 1e-6
    masks = sn.enumerate_patterns(X).masks
    given = sn.ConvexReLU(X, y, 0.1, patterns=masks).solve(tol=1e-10)
    assert given.exact and rel(given.objective, exact.objective) <= 1e-6


def test_path_reuses_the_program():
    X, y = data(n=8, d=2, seed=16)
    prog = sn.ConvexReLU(X, y, 1.0)
    results = prog.path([1.0, 0.3, 0.1], tol=1e-10)
    values = [r.objective for r in results]
    assert values[0] > values[1] > values[2]
    assert rel(prog.network().objective(X, y, 0.1), values[2]) <= 1e-6


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"y": np.arange(10.0), "loss": "logistic"}, r"labels in \{-1, \+1\}"),
        ({"y": np.arange(10.0), "loss": "hinge"}, r"labels in \{-1, \+1\}"),
        ({"X": np.full((10, 2), np.nan)}, "NaN"),
        ({"y": np.ones(9)}, "one row per sample"),
        ({"X": np.ones(10)}, "2-D"),
        ({"beta": 0.0}, "beta"),
        ({"loss": "huber"}, "loss must be one of"),
        ({"bias": "yes"}, "bias must be True or False"),
        ({"seed": -1}, "seed must be >= 0"),
    ],
)
def test_bad_input(kwargs, match):
    X, y = data(n=10, d=2, seed=17)
    args = {"X": X, "y": y, "beta": 0.1, **kwargs}
    with pytest.raises(sn.InvalidInputError, match=match):
        sn.ConvexReLU(args.pop("X"), args.pop("y"), args.pop("beta"), **args)


def test_certificate_without_enumeration_is_a_relaxation():
    # too many patterns to enumerate: certificates and beta_max fall back to a certified
    # upper bound on the dual norm (tests/test_relu_bounds.py checks its values)
    rng = np.random.default_rng(24)
    X, y = rng.standard_normal((60, 5)), rng.standard_normal(60)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=40)  # sampling: no enumeration needed to solve
    assert prog.solve(tol=1e-8).status == "optimal" and not prog.result.exact
    for cert in (prog.certificate(), sn.certify(prog.network(), X, y, 1.0)):
        assert cert.kind == "relaxation"
        lo, hi = cert.dual_norm_bounds
        assert 0 < lo <= hi
        assert cert.lower_bound <= prog.result.objective  # sampled optimum: an upper bound
    bm = sn.beta_max(X, y)
    assert bm.lower <= bm.upper == float(bm) and not bm.exact


def test_network_before_solve_and_certify_errors():
    X, y = data(n=8, d=2, seed=18)
    prog = sn.ConvexReLU(X, y, 0.1)
    with pytest.raises(sn.NotSolvedError, match="solve"):
        prog.network()
    net = sn.ReLUMLP(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(sn.NonConvexFormulationError, match="l1_squared"):
        sn.certify(net, X, np.ones((8, 2)), 0.1, loss="logistic")
    with pytest.raises(sn.InvalidInputError, match="inputs"):
        sn.certify(sn.ReLUMLP(np.ones((3, 2)), np.ones(2)), X, y, 0.1)
    with pytest.raises(sn.InvalidInputError, match=r"alpha must have shape"):
        sn.ReLUMLP(np.ones((2, 3)), np.ones(4))
    with pytest.raises(sn.InvalidInputError, match="output_penalty"):
        sn.ReLUMLP(np.ones((2, 3)), np.ones(3), output_penalty="l2")
    with pytest.raises(sn.InvalidInputError, match="U contains NaN"):
        sn.ReLUMLP(np.full((2, 3), np.nan), np.ones(3))
    with pytest.raises(sn.InvalidInputError, match="bias contains NaN"):
        sn.ReLUMLP(np.ones((2, 3)), np.ones(3), bias=[0.0, np.inf, 0.0])
    with pytest.raises(sn.InvalidInputError, match="U must be 2-D"):
        sn.ReLUCNN(np.ones(3), np.ones(3), kernel_size=3)
    with pytest.raises(sn.InvalidInputError, match="real numbers"):
        sn.CircularReLUNet(np.ones((3, 1)), np.ones((3, 1)) * 1j, np.ones(1))


def test_vector_output_pruning():
    X, _ = data(n=6, d=2, seed=19)
    Y = np.random.default_rng(20).standard_normal((6, 2))
    prog = sn.ConvexReLU(X, Y, 0.05)
    res = prog.solve(tol=1e-10)
    pruned = prog.network(prune=True)
    assert pruned.width <= 6 * 2 + 1
    assert rel(pruned.objective(X, Y, 0.05), res.objective) <= 1e-6


def test_network_predict_checks_its_input():
    net = sn.ReLUMLP(np.ones((2, 3)), np.ones(3))
    with pytest.raises(sn.InvalidInputError, match="2 columns"):
        net.predict(np.ones((4, 3)))
