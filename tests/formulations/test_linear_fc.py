"""Deep linear fully connected networks (docs/linear_fc.md), checked against independent
computations: closed forms, proximal gradient with singular value thresholding, a dense
1-D search for the ridge-path variant, and L-BFGS on the network weights."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdpnets as sn
from tests._reference import (
    deep_linear_loss_grad,
    deep_linear_objective,
    deep_scalar_reference,
    group_lasso_scalar,
    orthonormal_closed_form,
    prox_grad_nuclear,
    train_lbfgs,
    unflatten,
)
from tests.conftest import assert_rel, solve_kwargs


def orthonormal_instance(sig, n=20, d=5, K=4, seed=3):
    """``X`` with orthonormal columns and ``Y`` whose ``X^T Y`` has singular values ``sig``
    (plus a component of ``Y`` orthogonal to the range of ``X``)."""
    rng = np.random.default_rng(seed)
    X, _ = np.linalg.qr(rng.standard_normal((n, d)))
    r = len(sig)
    U, _ = np.linalg.qr(rng.standard_normal((d, r)))
    V, _ = np.linalg.qr(rng.standard_normal((K, r)))
    E = rng.standard_normal((n, K))
    E -= X @ (X.T @ E)
    Y = X @ (U * np.asarray(sig, dtype=float)) @ V.T + 0.3 * E
    return X, Y


def solved(X, Y, beta, backend, **kw):
    prog = sn.ConvexLinearFC(X, Y, beta, **kw)
    res = prog.solve(backend=backend, **solve_kwargs(backend))
    assert res.status == "optimal", res.message
    return prog, res


def rank_of(Z, scale):
    return int(np.linalg.matrix_rank(Z, tol=1e-6 * max(scale, 1e-300)))


# --- the reference implementations themselves --------------------------------------------------


def test_reference_prox_grad_matches_closed_form():
    X, Y = orthonormal_instance([5.0, 3.0, 1.5])
    Zc, vc, _ = orthonormal_closed_form(X, Y, 2.0)
    Zp, vp, lower = prox_grad_nuclear(X, Y, 2.0)
    assert_rel(vp, vc, 1e-10, "prox-grad vs closed form")
    assert lower <= vc + 1e-9
    assert np.allclose(Zp, Zc, atol=1e-8)


def test_reference_gradient_matches_finite_differences(rng):
    X, Y = rng.standard_normal((7, 3)), rng.standard_normal((7, 2))
    shapes = [(3, 4), (4, 2), (2, 2)]
    theta = rng.standard_normal(sum(a * b for a, b in shapes))
    f, g = deep_linear_loss_grad(theta, X, Y, 0.7, shapes, [1, 2])
    h = 1e-6
    fd = np.array(
        [
            (deep_linear_loss_grad(theta + h * e, X, Y, 0.7, shapes, [1, 2])[0]
             - deep_linear_loss_grad(theta - h * e, X, Y, 0.7, shapes, [1, 2])[0]) / (2 * h)
            for e in np.eye(theta.size)
        ]
    )
    assert np.allclose(g, fd, rtol=1e-6, atol=1e-6)
    assert_rel(f, deep_linear_objective(X, Y, unflatten(theta, shapes), 0.7, [1, 2]), 1e-12)


# --- 1a: two layers, vector output -------------------------------------------------------------


def test_1a_orthonormal_closed_form(backend):
    """For X^T X = I, Z* = SVT(X^T Y, beta) and the optimum is explicit."""
    X, Y = orthonormal_instance([6.0, 4.0, 2.5, 0.8])
    beta = 2.0
    Zc, opt, _ = orthonormal_closed_form(X, Y, beta)
    prog, res = solved(X, Y, beta, backend)
    net = prog.network()
    cert = prog.certificate()
    assert_rel(res.objective, opt, 1e-6, "convex optimum")
    assert_rel(net.objective(X, Y, beta), opt, 1e-6, "network objective")
    assert_rel(deep_linear_objective(X, Y, net.weights, beta), opt, 1e-6, "own objective")
    assert_rel(cert.lower_bound, opt, 1e-6, "certificate lower bound")
    assert cert.lower_bound <= opt + 1e-9 * max(1, opt)
    assert np.allclose(prog.solution, Zc, atol=1e-5)
    assert np.allclose(net.product, Zc, atol=1e-5)


def test_1a_general_X_matches_prox_grad(backend, vector_data):
    X, Y = vector_data
    beta = 0.3 * np.linalg.norm(X.T @ Y, 2)
    Zref, opt, _ = prox_grad_nuclear(X, Y, beta)
    prog, res = solved(X, Y, beta, backend)
    net = prog.network()
    cert = prog.certificate()
    assert_rel(res.objective, opt, 1e-6, "convex optimum")
    assert_rel(net.objective(X, Y, beta), opt, 1e-6, "network objective")
    assert_rel(deep_linear_objective(X, Y, net.weights, beta), opt, 1e-6, "own objective")
    assert_rel(cert.lower_bound, opt, 1e-6, "certificate lower bound")
    assert np.allclose(net.product, Zref, atol=1e-5)
    # Recovery is balanced: W1^T W1 = W2 W2^T (docs/linear_fc.md section 1a).
    W1, W2 = net.weights
    assert np.allclose(W1.T @ W1, W2 @ W2.T, atol=1e-8)
    assert net.predict(X).shape == Y.shape


def test_1a_spectral_depth_two_is_weight_decay(vector_data):
    X, Y = vector_data
    beta = 0.2 * np.linalg.norm(X.T @ Y, 2)
    _, opt, _ = prox_grad_nuclear(X, Y, beta)
    prog, res = solved(X, Y, beta, "clarabel", depth=2, hidden="spectral")
    assert_rel(res.objective, opt, 1e-6)
    assert_rel(prog.network().objective(X, Y, beta), opt, 1e-6)


# --- 1b: two layers, scalar output -------------------------------------------------------------


@pytest.mark.parametrize("frac", [0.1, 0.6])
def test_1b_scalar_output(backend, scalar_data, frac):
    X, y = scalar_data
    beta = frac * np.linalg.norm(X.T @ y)
    zref, opt = group_lasso_scalar(X, y, beta)
    prog, res = solved(X, y, beta, backend)
    net = prog.network()
    cert = prog.certificate()
    assert_rel(res.objective, opt, 1e-6, "convex optimum")
    assert_rel(net.objective(X, y, beta), opt, 1e-6, "network objective")
    assert_rel(deep_linear_objective(X, y, net.weights, beta), opt, 1e-6, "own objective")
    assert_rel(cert.lower_bound, opt, 1e-6, "certificate")
    assert np.allclose(net.product[:, 0], zref, atol=1e-5)
    assert net.predict(X).shape == y.shape  # 1-D targets give 1-D predictions
    assert net.weights[0].shape[1] == 1  # width 1 suffices (1b)


def test_1b_column_target_keeps_column_predictions(scalar_data):
    X, y = scalar_data
    beta = 0.3 * np.linalg.norm(X.T @ y)
    _, opt = group_lasso_scalar(X, y, beta)
    prog, res = solved(X, y[:, None], beta, "clarabel")
    assert_rel(res.objective, opt, 1e-6)
    assert prog.network().predict(X).shape == (X.shape[0], 1)


# --- 1c: L layers, spectral-norm constrained hidden layers ---------------------------------------


@pytest.mark.parametrize("depth", [3, 4])
@pytest.mark.parametrize("output", ["vector", "scalar"])
def test_1c_spectral(backend, vector_data, depth, output):
    X, Y = vector_data
    if output == "scalar":
        Y = Y[:, 0]
    beta = 0.25 * np.linalg.norm(X.T @ Y.reshape(len(X), -1), 2)
    Zref, opt, _ = prox_grad_nuclear(X, Y, beta)
    prog, res = solved(X, Y, beta, backend, depth=depth, hidden="spectral")
    net = prog.network()
    assert net.depth == depth
    assert_rel(res.objective, opt, 1e-6, "convex optimum")
    assert_rel(net.objective(X, Y, beta), opt, 1e-6, "network objective")
    # Own evaluation: only the last two layers are penalized ...
    penal = [depth - 2, depth - 1]
    assert_rel(deep_linear_objective(X, Y, net.weights, beta, penal), opt, 1e-6, "own")
    # ... and the hidden layers satisfy ||W_l||_2 <= 1.
    for W in net.weights[: depth - 2]:
        assert np.linalg.norm(W, 2) <= 1 + 1e-9
    assert np.allclose(net.product, Zref, atol=1e-5)
    assert np.allclose(net.product, prog.solution, atol=1e-9)
    cert = prog.certificate()
    assert_rel(cert.lower_bound, opt, 1e-6, "certificate")


def test_1c_objective_flags_violated_constraint(vector_data):
    X, Y = vector_data
    beta = 1.0
    prog, _ = solved(X, Y, beta, "clarabel", depth=3, hidden="spectral")
    W = [w.copy() for w in prog.network().weights]
    W[0] = 2.0 * W[0] / np.linalg.norm(W[0], 2)
    bad = sn.LinearFC(W, hidden="spectral")
    assert bad.objective(X, Y, beta) == np.inf


# --- 1d: L >= 3, weight decay on every layer, scalar output ---------------------------------------


@pytest.mark.parametrize("depth", [3, 4])
@pytest.mark.parametrize("frac", [0.05, 0.2, 0.5, 2.0])
def test_1d_ridge_path_matches_dense_search_and_lbfgs(scalar_data, depth, frac):
    X, y = scalar_data
    beta = frac * np.linalg.norm(X.T @ y) ** (2.0 / depth)  # scale-aware choice
    ref = deep_scalar_reference(X, y, beta, depth)
    prog = sn.ConvexLinearFC(X, y, beta, depth=depth)
    res = prog.solve(tol=1e-10)
    assert res.status == "optimal"
    net = prog.network()
    assert_rel(res.objective, ref, 1e-8, "ridge path vs dense search")
    assert_rel(net.objective(X, y, beta), ref, 1e-8, "network objective")
    assert_rel(deep_linear_objective(X, y, net.weights, beta), ref, 1e-8, "own objective")
    cert = prog.certificate()
    assert cert.lower_bound <= ref * (1 + 1e-9) + 1e-12
    assert_rel(cert.lower_bound, ref, 1e-6, "certificate")
    # Non-convex local training on the weights: never below, best reaches the optimum.
    values = [train_lbfgs(X, y, beta, [2] * (depth - 1), seed=s)[0] for s in range(6)]
    assert min(values) >= ref * (1 - 1e-8)
    assert_rel(min(values), ref, 1e-6, "best L-BFGS")


RIDGE_TIGHT_TOL_SCRIPT = """
import resource, sys
import numpy as np, sdpnets as sn
# Cap the address space 512 MiB above what the imports already reserved (BLAS thread
# buffers and solver libraries reserve well over a GiB of virtual memory on some machines).
with open("/proc/self/status") as status:
    vm_size = next(int(line.split()[1]) for line in status if line.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, ((vm_size + 512 * 1024) * 1024,) * 2)
rng = np.random.default_rng(11)
X = rng.standard_normal((20, 5))
y = X @ rng.standard_normal(5) + 0.5 * rng.standard_normal(20)
prog = sn.ConvexLinearFC(X, y, 0.2 * np.linalg.norm(X.T @ y) ** (2 / 3), depth=3)
try:
    print(prog.solve(tol=float(sys.argv[1])).status)
except MemoryError:
    print("MemoryError")
"""


@pytest.mark.parametrize("tol", [1e-15])
def test_1d_unreachable_tol_stays_bounded(tol):
    """A tolerance below what floating point can certify must end (optimal or
    iteration_limit, as documented) in bounded memory: run in a child process capped at
    512 MiB of address space beyond its imports, so a runaway refinement cannot take the
    machine down."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", RIDGE_TIGHT_TOL_SCRIPT, repr(tol)],
        capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout.strip().splitlines()
    assert out and out[-1] in ("optimal", "iteration_limit"), (out, proc.stderr[-2000:])


def test_1d_instances_cover_zero_and_nonzero_optima(scalar_data):
    """The beta grid above exercises both a non-zero optimum and the zero network."""
    X, y = scalar_data
    zero = 0.5 * float(y @ y)
    kinds = set()
    for depth in (3, 4):
        for frac in (0.05, 0.2, 0.5, 2.0):
            beta = frac * np.linalg.norm(X.T @ y) ** (2.0 / depth)
            ref = deep_scalar_reference(X, y, beta, depth)
            kinds.add(ref < zero * (1 - 1e-6))
            prog = sn.ConvexLinearFC(X, y, beta, depth=depth)
            prog.solve()
            if ref >= zero * (1 - 1e-12):
                assert np.all(prog.network().product == 0)
            else:
                assert np.linalg.norm(prog.network().product) > 0
    assert kinds == {True, False}


# --- width below / above the rank ------------------------------------------------------------------


def test_width_below_rank_strictly_worse():
    """Width r-1 cannot reach the optimum: its optimum is exactly 1/2 (sigma_r - beta)^2 higher
    (orthonormal X), and L-BFGS from several starts stays above optimum + margin."""
    sig = [6.0, 4.0, 3.0]
    beta = 1.0
    X, Y = orthonormal_instance(sig, n=18, d=5, K=4, seed=5)
    _, opt, s = orthonormal_closed_form(X, Y, beta)
    r = int(np.sum(s > beta))
    assert r == 3
    prog, res = solved(X, Y, beta, "clarabel")
    assert_rel(res.objective, opt, 1e-6)
    assert prog.network().weights[0].shape[1] == r
    width_opt = opt + 0.5 * (s[r - 1] - beta) ** 2  # best rank-(r-1) value
    values = [train_lbfgs(X, Y, beta, [r - 1], seed=k)[0] for k in range(5)]
    margin = 0.5 * (s[r - 1] - beta) ** 2
    assert min(values) > opt + 0.5 * margin
    assert min(values) >= width_opt * (1 - 1e-8)
    # and full width does reach the optimum (the L-BFGS code is not simply failing)
    full = [train_lbfgs(X, Y, beta, [r], seed=k)[0] for k in range(3)]
    assert_rel(min(full), opt, 1e-6)


@pytest.mark.parametrize("extra", [0, 2])
def test_local_training_never_below_optimum(vector_data, extra):
    X, Y = vector_data
    beta = 0.3 * np.linalg.norm(X.T @ Y, 2)
    prog, res = solved(X, Y, beta, "clarabel")
    r = prog.network().weights[0].shape[1]
    _, ref, _ = prox_grad_nuclear(X, Y, beta)
    values = [train_lbfgs(X, Y, beta, [r + extra], seed=k)[0] for k in range(5)]
    assert min(values) >= res.objective * (1 - 1e-8)
    assert min(values) >= ref * (1 - 1e-8)
    assert_rel(min(values), res.objective, 1e-6, "best local run")


def test_spectral_local_training_never_below_optimum(vector_data):
    """Projected gradient on a depth-3 spectral network (own code) stays above the optimum."""
    X, Y = vector_data
    beta = 0.3 * np.linalg.norm(X.T @ Y, 2)
    _, opt, _ = prox_grad_nuclear(X, Y, beta)
    shapes = [(5, 3), (3, 3), (3, 3)]
    step = 0.02 / np.linalg.norm(X, 2) ** 2
    for seed in range(3):
        rng = np.random.default_rng(seed)
        W = [0.3 * rng.standard_normal(s) for s in shapes]
        for _ in range(2000):
            theta = np.concatenate([w.ravel() for w in W])
            _, g = deep_linear_loss_grad(theta, X, Y, beta, shapes, [1, 2])
            W = [w - step * gw for w, gw in zip(W, unflatten(g, shapes))]
            U, s, Vt = np.linalg.svd(W[0], full_matrices=False)
            W[0] = (U * np.minimum(s, 1.0)) @ Vt
        value = sn.LinearFC(W, hidden="spectral").objective(X, Y, beta)
        assert value >= opt * (1 - 1e-8)


# --- planted low rank, beta_max ----------------------------------------------------------------------


def test_planted_low_rank_recovered(backend):
    rng = np.random.default_rng(12)
    n, d, K, r = 40, 6, 5, 2
    X = rng.standard_normal((n, d))
    Z0 = rng.standard_normal((d, r)) @ rng.standard_normal((r, K))
    Y = X @ Z0 + 0.01 * rng.standard_normal((n, K))
    beta = 0.05 * np.linalg.norm(X.T @ Y, 2)
    Zref, opt, _ = prox_grad_nuclear(X, Y, beta)
    s_ref = np.linalg.svd(Zref, compute_uv=False)
    assert int(np.sum(s_ref > 1e-9 * s_ref[0])) == r  # the instance is what it claims
    prog, res = solved(X, Y, beta, backend)
    net = prog.network()
    assert_rel(res.objective, opt, 1e-6)
    assert net.weights[0].shape[1] == r
    assert rank_of(net.product, s_ref[0]) == r
    assert np.allclose(net.product, Zref, atol=1e-5 * s_ref[0])


def test_beta_max_is_the_zero_threshold(vector_data):
    X, Y = vector_data
    bm = sn.beta_max(X, Y, family="linear_fc")
    Z_above, v_above, _ = prox_grad_nuclear(X, Y, bm * (1 + 1e-6))
    Z_below, v_below, _ = prox_grad_nuclear(X, Y, bm * (1 - 1e-3))
    assert np.all(Z_above == 0)
    assert_rel(v_above, 0.5 * float(np.sum(Y * Y)), 1e-12)
    assert np.linalg.norm(Z_below) > 0
    assert v_below < 0.5 * float(np.sum(Y * Y))


@pytest.mark.parametrize("factor", [1.01, 3.0])
def test_beta_above_beta_max_gives_zero_optimum(backend, vector_data, factor):
    X, Y = vector_data
    beta = factor * sn.beta_max(X, Y, family="linear_fc")
    zero = 0.5 * float(np.sum(Y * Y))
    prog, res = solved(X, Y, beta, backend)
    net = prog.network()
    assert_rel(res.objective, zero, 1e-6)
    assert_rel(net.objective(X, Y, beta), zero, 1e-6)
    scale = np.linalg.norm(np.linalg.lstsq(X, Y, rcond=None)[0], 2)
    assert np.linalg.norm(net.product, 2) <= 1e-6 * scale


@pytest.mark.parametrize("factor", [1.01, 3.0])
def test_beta_above_beta_max_recovers_the_zero_network(backend, vector_data, factor):
    """With the default solve options, the recovered network is the zero network: at most
    width 1 (factor_nuclear: "a zero solution gets width 1"), not a full-width network
    made of solver noise (whose width the demo reports as the solution's rank)."""
    X, Y = vector_data
    beta = factor * sn.beta_max(X, Y, family="linear_fc")
    prog = sn.ConvexLinearFC(X, Y, beta)
    assert prog.solve(backend=backend).status == "optimal"
    net = prog.network()
    scale = np.linalg.norm(np.linalg.lstsq(X, Y, rcond=None)[0], 2)
    assert np.linalg.norm(net.product, 2) <= 1e-6 * scale
    assert net.weights[0].shape[1] <= 1, [w.shape for w in net.weights]


def test_beta_slightly_below_beta_max_gives_nonzero_network(backend, vector_data):
    X, Y = vector_data
    beta = 0.98 * sn.beta_max(X, Y, family="linear_fc")
    Zref, opt, _ = prox_grad_nuclear(X, Y, beta)
    prog, res = solved(X, Y, beta, backend)
    net = prog.network()
    assert_rel(res.objective, opt, 1e-6)
    assert opt < 0.5 * float(np.sum(Y * Y))
    assert np.linalg.norm(net.product, 2) >= 0.5 * np.linalg.norm(Zref, 2) > 0
    scale = np.linalg.norm(np.linalg.lstsq(X, Y, rcond=None)[0], 2)
    assert np.allclose(net.product, Zref, atol=1e-5 * scale)


# --- certificates ------------------------------------------------------------------------------------


def test_certificate_at_optimum(backend, vector_data):
    X, Y = vector_data
    beta = 0.3 * np.linalg.norm(X.T @ Y, 2)
    _, opt, _ = prox_grad_nuclear(X, Y, beta)
    prog, res = solved(X, Y, beta, backend)
    cert = prog.certificate()
    assert isinstance(cert, sn.Certificate)
    assert cert.lower_bound <= cert.upper_bound
    assert cert.lower_bound <= opt + 1e-9 * max(1, opt)
    assert cert.gap == pytest.approx(cert.upper_bound - cert.lower_bound)
    assert cert.gap <= 1e-6 * max(1, opt)
    assert cert.relative_gap <= 1e-6
    # The dual point is feasible and its dual value is the lower bound (computed here).
    V = cert.dual_point
    assert np.linalg.norm(X.T @ V, 2) <= beta * (1 + 1e-9)
    dual = -0.5 * float(np.sum((V - Y) ** 2)) + 0.5 * float(np.sum(Y * Y))
    assert_rel(dual, cert.lower_bound, 1e-12)
    assert_rel(cert.upper_bound, prog.network().objective(X, Y, beta), 1e-12)


@pytest.mark.parametrize("how", ["perturbed", "early_stopped"])
def test_certify_worse_network_has_positive_gap(vector_data, how):
    X, Y = vector_data
    beta = 0.3 * np.linalg.norm(X.T @ Y, 2)
    _, opt, _ = prox_grad_nuclear(X, Y, beta)
    if how == "perturbed":
        prog, _ = solved(X, Y, beta, "clarabel")
        rng = np.random.default_rng(0)
        weights = [w + 0.05 * rng.standard_normal(w.shape) for w in prog.network().weights]
    else:
        shapes = [(5, 3), (3, 3)]
        theta = np.random.default_rng(1).standard_normal(15 + 9) * 0.1
        step = 0.1 / np.linalg.norm(X, 2) ** 2
        for _ in range(20):  # a few steps of gradient descent: far from converged
            theta = theta - step * deep_linear_loss_grad(theta, X, Y, beta, shapes, [0, 1])[1]
        weights = unflatten(theta, shapes)
    net = sn.LinearFC(weights)
    upper = deep_linear_objective(X, Y, weights, beta)
    assert upper > opt * (1 + 1e-4)
    cert = sn.certify(net, X, Y, beta)
    assert_rel(cert.upper_bound, upper, 1e-12)
    assert cert.lower_bound <= opt + 1e-9 * max(1, opt)
    assert cert.gap > 0
    assert cert.gap >= upper - opt - 1e-9 * max(1, opt)


def test_certify_spectral_and_deep_scalar_networks(vector_data, scalar_data):
    X, Y = vector_data
    beta = 0.3 * np.linalg.norm(X.T @ Y, 2)
    _, opt, _ = prox_grad_nuclear(X, Y, beta)
    rng = np.random.default_rng(2)
    W = [rng.standard_normal((5, 3)), rng.standard_normal((3, 3)), rng.standard_normal((3, 3))]
    W[0] /= np.linalg.norm(W[0], 2)
    cert = sn.certify(sn.LinearFC(W, hidden="spectral"), X, Y, beta)
    assert cert.lower_bound <= opt + 1e-9 * opt
    assert_rel(cert.upper_bound, deep_linear_objective(X, Y, W, beta, [1, 2]), 1e-12)

    X, y = scalar_data
    for depth in (3, 4):
        beta = 0.2 * np.linalg.norm(X.T @ y) ** (2.0 / depth)
        ref = deep_scalar_reference(X, y, beta, depth)
        Ws = [rng.standard_normal((5, 2))] + [rng.standard_normal((2, 2))] * (depth - 2)
        Ws.append(rng.standard_normal((2, 1)))
        cert = sn.certify(sn.LinearFC(Ws), X, y, beta)
        assert cert.lower_bound <= ref * (1 + 1e-9)
        assert_rel(cert.lower_bound, ref, 1e-6, "deep scalar lower bound")
        assert_rel(cert.upper_bound, deep_linear_objective(X, y, Ws, beta), 1e-12)


def test_certify_rejects_vector_output_deep_weight_decay(vector_data):
    X, Y = vector_data
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((5, 2)), rng.standard_normal((2, 2)), rng.standard_normal((2, 3))]
    with pytest.raises(sn.NonConvexFormulationError, match="spectral"):
        sn.certify(sn.LinearFC(W), X, Y, 1.0)


def test_certify_rejects_mismatched_network_and_unknown_types(vector_data):
    X, Y = vector_data
    net = sn.LinearFC([np.ones((4, 2)), np.ones((2, 3))])
    with pytest.raises(sn.InvalidInputError, match="inputs"):
        sn.certify(net, X, Y, 1.0)
    with pytest.raises(sn.InvalidInputError, match="certify does not know"):
        sn.certify(object(), X, Y, 1.0)


# --- path --------------------------------------------------------------------------------------------


def test_path_matches_fresh_solves(backend, vector_data):
    X, Y = vector_data
    bm = sn.beta_max(X, Y, family="linear_fc")
    betas = [f * bm for f in (0.05, 0.2, 0.5, 0.9, 1.2)]
    prog = sn.ConvexLinearFC(X, Y, betas[0])
    results = prog.path(betas, backend=backend, **solve_kwargs(backend))
    assert len(results) == len(betas)
    for b, res in zip(betas, results):
        assert res.status == "optimal"
        _, ref, _ = prox_grad_nuclear(X, Y, b)
        fresh = sn.ConvexLinearFC(X, Y, b).solve(backend=backend, **solve_kwargs(backend))
        assert_rel(res.objective, fresh.objective, 1e-6, f"path vs fresh at beta={b}")
        assert_rel(res.objective, ref, 1e-6, f"path vs reference at beta={b}")
    assert prog.beta == betas[-1]
    assert_rel(prog.network().objective(X, Y, betas[-1]), 0.5 * float(np.sum(Y * Y)), 1e-6)


def test_path_ridge_variant_matches_fresh_solves(scalar_data):
    X, y = scalar_data
    betas = [f * np.linalg.norm(X.T @ y) ** (2 / 3) for f in (0.05, 0.2, 0.5)]
    prog = sn.ConvexLinearFC(X, y, betas[0], depth=3)
    for b, res in zip(betas, prog.path(betas)):
        assert_rel(res.objective, deep_scalar_reference(X, y, b, 3), 1e-8)


def test_beta_change_reuses_the_compiled_problem(vector_data):
    X, Y = vector_data
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    problem = prog.problem
    assert problem.is_dpp()
    prog.solve()
    prog.beta = 2.0
    assert prog.result is None  # old result no longer describes the program
    assert prog.problem is problem
    res = prog.solve()
    _, ref, _ = prox_grad_nuclear(X, Y, 2.0)
    assert_rel(res.objective, ref, 1e-6)


@pytest.mark.parametrize("name", ["clarabel", "scs"])
@pytest.mark.parametrize("scalar", [False, True])
def test_path_reuses_cvxpys_compiled_program(vector_data, name, scalar):
    """Along a path cvxpy only re-applies the beta parameter: the parametrized program it
    compiled for the first solve is the one every later solve uses (cvxpy's DPP cache)."""
    X, Y = vector_data
    if scalar:
        Y = Y[:, 0]
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    prog.solve(backend=name)
    cache = getattr(prog.problem, "_cache", None)
    if getattr(cache, "param_prog", None) is None:
        pytest.skip("this cvxpy version keeps its compiled program elsewhere")
    compiled = cache.param_prog
    for res in prog.path([1.5, 2.0], backend=name):
        assert res.status == "optimal"
        assert prog.problem._cache.param_prog is compiled


@pytest.mark.parametrize("scalar", [False, True])
def test_program_size_does_not_grow_with_n(scalar):
    """docs/conventions.md: the data are reduced before cvxpy sees them."""
    rng = np.random.default_rng(4)
    metrics = []
    for n in (12, 600):
        X = rng.standard_normal((n, 4))
        Y = rng.standard_normal(n) if scalar else rng.standard_normal((n, 3))
        m = sn.ConvexLinearFC(X, Y, 1.0).problem.size_metrics
        metrics.append(
            (m.num_scalar_variables, m.num_scalar_data, m.num_scalar_eq_constr,
             m.num_scalar_leq_constr)
        )
    assert metrics[0] == metrics[1]


def test_underdetermined_data(backend):
    """n < d: the QR reduction must still give the exact optimum."""
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((4, 7)), rng.standard_normal((4, 3))
    beta = 0.2 * np.linalg.norm(X.T @ Y, 2)
    _, opt, _ = prox_grad_nuclear(X, Y, beta, gap_tol=1e-11, max_iter=200000)
    prog, res = solved(X, Y, beta, backend)
    assert_rel(res.objective, opt, 1e-6)
    assert_rel(prog.network().objective(X, Y, beta), opt, 1e-6)


# --- property-based ----------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 8),
    d=st.integers(1, 4),
    K=st.integers(1, 3),
    log_frac=st.floats(-3.0, 0.5),
)
def test_property_optimum_below_every_network(seed, n, d, K, log_frac):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, K))
    bm = np.linalg.norm(X.T @ Y, 2)
    if bm < 1e-6:
        return
    beta = bm * 10.0**log_frac
    prog = sn.ConvexLinearFC(X, Y, beta)
    res = prog.solve(backend="clarabel", tol=1e-9)
    assert res.status in ("optimal", "optimal_inaccurate")
    opt = res.objective
    tol = 1e-6 * max(1.0, abs(opt))
    cert = prog.certificate()
    assert cert.lower_bound <= cert.upper_bound + tol
    assert cert.upper_bound <= opt + tol
    width = min(d, K)
    for _ in range(3):
        W = [rng.standard_normal((d, width)), rng.standard_normal((width, K))]
        value = deep_linear_objective(X, Y, W, beta)
        assert opt <= value + tol
        c = sn.certify(sn.LinearFC(W), X, Y, beta)
        assert c.lower_bound <= opt + tol
        assert c.lower_bound <= c.upper_bound + tol
        assert_rel(c.upper_bound, value, 1e-10)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 9),
    d=st.integers(1, 7),
    depth=st.integers(3, 7),
    log_x=st.floats(-2.0, 2.0),
    log_frac=st.floats(-3.0, 0.5),
    duplicate_column=st.booleans(),
)
def test_property_ridge_path_is_the_global_optimum(
    seed, n, d, depth, log_x, log_frac, duplicate_column
):
    """1d on random instances (n < d, rank-deficient X, scales over four decades, depth up
    to 7): ridge-path optimum = dense search over t = network objective, certified."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * 10.0**log_x
    if duplicate_column and d > 1:
        X[:, -1] = X[:, 0]
    y = rng.standard_normal(n)
    beta = np.linalg.norm(X.T @ y) ** (2.0 / depth) * 10.0**log_frac
    if not beta > 0:
        return
    ref = deep_scalar_reference(X, y, beta, depth, grid=3000)
    prog = sn.ConvexLinearFC(X, y, beta, depth=depth)
    res = prog.solve()  # default tol; tighter ones: see test_1d_certifies_tight_tol_...
    assert res.status == "optimal"
    assert_rel(res.objective, ref, 1e-7, "ridge path vs dense search")
    assert_rel(prog.network().objective(X, y, beta), ref, 1e-7, "network objective")
    cert = prog.certificate()
    assert cert.lower_bound <= ref + 1e-9 * max(1.0, ref)


@pytest.mark.parametrize("kw", [{}, {"depth": 3, "hidden": "spectral"}])
def test_program_beta_max_is_the_zero_threshold_for_nuclear_variants(vector_data, kw):
    X, Y = vector_data
    bm = sn.ConvexLinearFC(X, Y, 1.0, **kw).beta_max()
    zero = 0.5 * float(np.sum(Y * Y))
    assert_rel(prox_grad_nuclear(X, Y, bm * 1.001)[1], zero, 1e-12)
    assert prox_grad_nuclear(X, Y, bm * 0.999)[1] < zero * (1 - 1e-9)


@pytest.mark.parametrize("depth", [3, 4])
def test_program_beta_max_for_ridge_path_variant(scalar_data, depth):
    """``prog.beta_max()`` is "the smallest beta whose optimum is the zero network". For the
    ridge-path variant (1d) that threshold is not ||X^T y|| (it is not even in the same
    units): the method must either refuse or return the real threshold."""
    X, y = scalar_data
    prog = sn.ConvexLinearFC(X, y, 1.0, depth=depth)
    try:
        bm = prog.beta_max()
    except sn.InvalidInputError:
        return
    zero = 0.5 * float(y @ y)
    assert deep_scalar_reference(X, y, bm * 1.01, depth) >= zero * (1 - 1e-12)
    assert deep_scalar_reference(X, y, bm * 0.99, depth) < zero * (1 - 1e-9)


def test_1d_certifies_tight_tol_on_rank_deficient_data():
    """A 9 x 3 instance with a duplicated column (found by the property test above): the
    ridge-path value is exact, and tol=1e-10 must be certified, not end in
    iteration_limit (which makes network() raise)."""
    rng = np.random.default_rng(598937643)
    X = rng.standard_normal((9, 3)) * 10.0**-1.6072724312944935
    X[:, -1] = X[:, 0]
    y = rng.standard_normal(9)
    beta = np.linalg.norm(X.T @ y) ** (2.0 / 5) * 10.0**-1.069956828162547
    ref = deep_scalar_reference(X, y, beta, 5)
    prog = sn.ConvexLinearFC(X, y, beta, depth=5)
    res = prog.solve(tol=1e-10)
    assert_rel(res.objective, ref, 1e-9, "value")
    assert res.status == "optimal", res.message


@pytest.mark.parametrize("depth", [3, 4])
def test_1d_lower_bound_is_an_interval_bound_not_the_value(scalar_data, depth):
    """The ridge-path lower bound comes from interval bounds on the path, not from the best
    value found: on a coarse grid with no refinement it must hold and be visibly loose
    (a bound copied from the value would be tight there too), and refinement closes it."""
    from sdpnets.formulations.linear_fc import ridge_path_search

    X, y = scalar_data
    beta = 0.2 * np.linalg.norm(X.T @ y) ** (2.0 / depth)
    ref = deep_scalar_reference(X, y, beta, depth)
    for grid in (3, 6):
        _, value, lower = ridge_path_search(X, y, beta, depth, tol=1e-12, grid=grid,
                                            max_rounds=1)
        assert value >= ref * (1 - 1e-9)
        assert lower < ref * (1 - 1e-3), (grid, lower, ref)
    _, value, lower = ridge_path_search(X, y, beta, depth, tol=1e-10)
    assert ref * (1 - 1e-9) <= value
    assert ref * (1 - 1e-9) <= lower <= ref * (1 + 1e-12)


def test_ridge_spectrum_is_the_svd_of_the_data(rng):
    """The ridge path's decomposition (QR, then the SVD of R) against the SVD of X, on
    rank-deficient data; y's part outside the range of X without cancellation."""
    from sdpnets.formulations.linear_fc import ridge_spectrum

    X = rng.standard_normal((40, 6)) @ np.diag([1.0, 1e-3, 1e-6, 1.0, 0.0, 2.0])
    y = X @ rng.standard_normal(6) + 1e-9 * rng.standard_normal(40)
    sigma, b, Vt, y_perp = ridge_spectrum(X, y)
    U, s, Wt = np.linalg.svd(X, full_matrices=False)
    keep = s > 1e-12 * s[0]
    np.testing.assert_allclose(sigma, s[keep], rtol=1e-12)
    np.testing.assert_allclose(np.abs(b), np.abs(U[:, keep].T @ y), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(np.abs(Vt @ Wt[keep].T), np.eye(keep.sum()), atol=1e-8)
    residual = y - U[:, keep] @ (U[:, keep].T @ y)
    assert y_perp == pytest.approx(residual @ residual, rel=1e-6)


def test_ridge_path_beta_max_decomposes_the_data_once(rng, monkeypatch):
    import sdpnets.formulations.linear_fc as linear_fc

    X = rng.standard_normal((30, 5))
    y = X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(30)
    calls = []
    original = linear_fc.ridge_spectrum
    monkeypatch.setattr(linear_fc, "ridge_spectrum", lambda *a: calls.append(1) or original(*a))
    bmax = linear_fc.ridge_path_beta_max(X, y, 3)
    assert len(calls) == 1
    # the threshold: zero is optimal just above it, not just below
    for factor, zero in ((1 + 1e-6, True), (1 - 1e-3, False)):
        _, value, _ = linear_fc.ridge_path_search(X, y, factor * bmax, 3, tol=1e-12)
        assert (value >= 0.5 * y @ y * (1 - 1e-12)) == zero


@pytest.mark.parametrize("K,depth,hidden", [(3, 2, "weight_decay"), (1, 2, "weight_decay"),
                                            (3, 3, "spectral"), (1, 4, "spectral")])
def test_cones_are_those_of_the_compiled_program(K, depth, hidden):
    """The cones a program declares (which backends may solve it) are the cones cvxpy's
    own compilation of its problem produces: a PSD cone for a vector output (nuclear
    norm), none for a scalar output (an l2 norm)."""
    import cvxpy as cp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 4))
    Y = rng.standard_normal((12, K)) if K > 1 else rng.standard_normal(12)
    prog = sn.ConvexLinearFC(X, Y, 0.5, depth=depth, hidden=hidden)
    dims = prog.problem.get_problem_data(cp.CLARABEL)[0]["dims"]
    assert ("psd" in prog.cones) == bool(dims.psd)
    assert ("psd" in prog.cones) == (K > 1)
