"""ReLU CNN with sum/mean pooling (docs/relu.md section 4e) and a circular filter before a ReLU (4f):
optimum = recovered network, weak duality against L-BFGS on the weights, pruning,
certificates, patches, errors. References are computed here, independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import circulant
from scipy.optimize import check_grad, minimize

import sdpnets as sn
from sdpnets.features.patches import extract_patches

BACKENDS = [b for b in ("clarabel", "scs") if b in sn.available_backends()]


def solve_kwargs(backend):
    return {"tol": 1e-9, "max_iters": 200_000} if backend == "scs" else {"tol": 1e-10}


def rel(a, b):
    return abs(a - b) / max(1.0, abs(a), abs(b))


def signals(n=8, length=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, length)), rng.standard_normal(n)


def cnn_value(U, alpha, X, y, beta, kernel, stride, pool="sum"):
    """Objective of a 1-D ReLU CNN, with patches taken by an explicit loop."""
    n, L = X.shape
    starts = range(0, L - kernel + 1, stride)
    pooled = sum(np.maximum(X[:, s : s + kernel] @ U, 0.0) for s in starts)
    if pool == "mean":
        pooled = pooled / len(starts)
    r = pooled @ alpha - y
    return 0.5 * r @ r + 0.5 * beta * (np.sum(U**2) + alpha @ alpha)


def test_patches_match_an_explicit_loop():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 2, 6))
    P = extract_patches(X, 3, stride=2, padding=1)
    Xp = np.pad(X, [(0, 0), (0, 0), (1, 1)])
    expected = np.stack([Xp[:, :, s : s + 3].reshape(3, -1) for s in range(0, 6, 2)], axis=1)
    assert np.array_equal(P, expected)
    img = rng.standard_normal((2, 1, 4, 4))
    P2 = extract_patches(img, 2, stride=2)
    assert P2.shape == (2, 4, 4)
    assert np.array_equal(P2[:, 3], img[:, :, 2:4, 2:4].reshape(2, -1))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pooling", ["sum", "mean"])
def test_cnn_optimum_equals_recovered_network(backend, pooling):
    X, y = signals(n=6, length=5, seed=1)
    beta = 0.1
    prog = sn.ConvexReLUCNN(X, y, beta, kernel_size=2, stride=2, pooling=pooling)
    res = prog.solve(backend=backend, **solve_kwargs(backend))
    assert res.status == "optimal" and res.exact
    net = prog.network()
    assert isinstance(net, sn.ReLUCNN)
    assert rel(res.objective, net.objective(X, y, beta)) <= 1e-6
    assert rel(res.objective, cnn_value(net.U, net.alpha, X, y, beta, 2, 2, pooling)) <= 1e-6


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_cnn_classification_losses(loss):
    X, y = signals(n=6, length=4, seed=2)
    y = np.where(y >= 0, 1.0, -1.0)
    prog = sn.ConvexReLUCNN(X, y, 0.2, kernel_size=2, stride=2, loss=loss)
    res = prog.solve(tol=1e-10)
    assert rel(res.objective, prog.network().objective(X, y, 0.2, loss)) <= 1e-6


def test_cnn_images_and_channels():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 1, 2, 3))
    y = rng.standard_normal(4)
    prog = sn.ConvexReLUCNN(X, y, 0.2, kernel_size=2, stride=1)
    res = prog.solve(tol=1e-9)
    assert res.status == "optimal"
    assert rel(res.objective, prog.network().objective(X, y, 0.2)) <= 1e-6
    X2 = rng.standard_normal((4, 2, 4))  # two channels, 1-D
    prog = sn.ConvexReLUCNN(X2, y, 0.2, kernel_size=2, stride=2)
    res = prog.solve(tol=1e-9)
    assert rel(res.objective, prog.network().objective(X2, y, 0.2)) <= 1e-6


def test_cnn_local_optimizer_never_below_and_pruning():
    X, y = signals(n=8, length=5, seed=4)
    beta, k, s = 0.1, 2, 1
    prog = sn.ConvexReLUCNN(X, y, beta, kernel_size=k, stride=s)
    opt = prog.solve(tol=1e-10).objective
    m = 8
    patches = np.stack([X[:, t : t + k] for t in range(0, X.shape[1] - k + 1, s)], axis=1)

    def f(t):  # value and gradient of the CNN objective in (U, alpha)
        U, a = t[: k * m].reshape(k, m), t[k * m :]
        Z = patches @ U  # (n, K, m)
        H = np.maximum(Z, 0.0).sum(axis=1)
        r = H @ a - y
        gU = np.einsum("nkh,nkm->hm", patches, (Z > 0) * (r[:, None, None] * a)) + beta * U
        return 0.5 * r @ r + 0.5 * beta * (np.sum(U**2) + a @ a), np.concatenate(
            [gU.ravel(), H.T @ r + beta * a])

    rng = np.random.default_rng(0)
    best = np.inf
    for _ in range(10):
        res = minimize(f, rng.standard_normal(k * m + m) * 0.5, jac=True, method="L-BFGS-B",
                       options={"maxiter": 2000})
        U, a = res.x[: k * m].reshape(k, m), res.x[k * m :]
        best = min(best, res.fun, cnn_value(U, a, X, y, beta, k, s))
    assert best >= opt * (1 - 1e-8)
    pruned = prog.network(prune=True)
    assert pruned.U.shape[1] <= X.shape[0] + 1
    assert rel(pruned.objective(X, y, beta), opt) <= 1e-6
    cert = prog.certificate()
    assert cert.lower_bound <= opt * (1 + 1e-8) and cert.relative_gap <= 1e-6
    # any CNN (here the optimum with half its output weights) is certified against it
    worse = sn.ReLUCNN(pruned.U, 0.5 * pruned.alpha, kernel_size=k, stride=s)
    c = sn.certify(worse, X, y, beta)
    assert c.lower_bound <= opt * (1 + 1e-8) < c.upper_bound and c.gap > 1e-3
    c = sn.certify(pruned, X, y, beta)
    assert c.relative_gap <= 1e-5


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_cnn_beta_max_gives_the_zero_network(loss):
    X, y = signals(n=6, length=4, seed=9)
    if loss != "squared":
        y = np.where(y >= 0, 1.0, -1.0)
    prog = sn.ConvexReLUCNN(X, y, 1.0, kernel_size=2, loss=loss)
    bmax = prog.beta_max()
    zero = 0.5 * y @ y if loss == "squared" else y.size * np.log(2.0)
    prog.beta = 1.01 * bmax
    assert rel(prog.solve(tol=1e-10).objective, zero) <= 1e-7
    assert np.linalg.norm(prog.network().predict(X)) <= 1e-6 * np.linalg.norm(y)
    prog.beta = 0.98 * bmax
    assert prog.solve(tol=1e-10).objective < zero * (1 - 1e-6)


def test_cnn_with_one_patch_is_the_fully_connected_program():
    X, y = signals(n=8, length=3, seed=5)
    cnn = sn.ConvexReLUCNN(X, y, 0.2, kernel_size=3).solve(tol=1e-10).objective
    fc = sn.ConvexReLU(X, y, 0.2).solve(tol=1e-10).objective
    assert rel(cnn, fc) <= 1e-6


# --- circular filter before the ReLU (4f) ---------------------------------------------------------


def circular_value(filters, W1, w2, X, y, beta):
    """Objective with explicit circulant matrices (C(u) has first column u)."""
    d = filters.shape[0]
    C = filters[(np.arange(d)[:, None] - np.arange(d)[None, :]) % d]  # C[a, b, j] = u_j[a - b]
    assert np.array_equal(C[:, :, 0], circulant(filters[:, 0]))
    Q = np.einsum("abj,aj->bj", C, W1)
    r = np.maximum(X @ Q, 0.0) @ w2 - y
    return 0.5 * r @ r + 0.5 * beta * (np.sum(W1**2) + w2 @ w2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_circular_relu_optimum_equals_recovered_network(backend):
    X, y = signals(n=8, length=4, seed=6)
    beta = 0.1
    prog = sn.ConvexCircularReLU(X, y, beta)
    res = prog.solve(backend=backend, **solve_kwargs(backend))
    assert res.status == "optimal"
    net = prog.network()
    assert np.all(np.linalg.norm(net.filters, axis=0) <= 1 + 1e-9)
    assert rel(res.objective, net.objective(X, y, beta)) <= 1e-6
    assert rel(res.objective, circular_value(net.filters, net.W1, net.w2, X, y, beta)) <= 1e-6


def test_circular_relu_never_above_plain_relu_and_never_below_local_search():
    X, y = signals(n=8, length=3, seed=7)
    beta = 0.2
    opt = sn.ConvexCircularReLU(X, y, beta).solve(tol=1e-10).objective
    # u = e_0 makes C(u) = I: plain ReLU networks are in the family
    assert opt <= sn.ConvexReLU(X, y, beta).solve(tol=1e-10).objective * (1 + 1e-8)
    d, m = 3, 4
    rng = np.random.default_rng(1)
    idx = (np.arange(d)[:, None] - np.arange(d)[None, :]) % d

    def f(t):  # value and gradient in (A, W1, w2), unit filters u = A / ||A|| (w.l.o.g.)
        A, W1, w2 = t[: d * m].reshape(d, m), t[d * m : 2 * d * m].reshape(d, m), t[2 * d * m :]
        nA = np.linalg.norm(A, axis=0)
        u = A / nA
        C = u[idx]  # C[a, b, j] = u_j[a - b]
        Z = X @ np.einsum("abj,aj->bj", C, W1)
        H = np.maximum(Z, 0.0)
        r = H @ w2 - y
        GQ = X.T @ ((r[:, None] * w2[None, :]) * (Z > 0))  # gradient in q_j = C(u_j)^T w1_j
        gu = np.zeros((d, m))
        np.add.at(gu, idx.ravel(), (W1[:, None, :] * GQ[None, :, :]).reshape(d * d, m))
        gA = (gu - u * np.sum(u * gu, axis=0)) / nA
        gW1 = np.einsum("abj,bj->aj", C, GQ) + beta * W1
        val = 0.5 * r @ r + 0.5 * beta * (np.sum(W1**2) + w2 @ w2)
        return val, np.concatenate([gA.ravel(), gW1.ravel(), H.T @ r + beta * w2])

    t0 = rng.standard_normal(2 * d * m + m)
    A0 = t0[: d * m].reshape(d, m)
    value = circular_value(A0 / np.linalg.norm(A0, axis=0), t0[d * m : 2 * d * m].reshape(d, m),
                           t0[2 * d * m :], X, y, beta)
    assert np.isclose(f(t0)[0], value)
    assert check_grad(lambda t: f(t)[0], lambda t: f(t)[1], t0) <= 1e-4 * max(1.0, value)
    best = np.inf
    for _ in range(12):
        res = minimize(f, rng.standard_normal(2 * d * m + m), jac=True, method="L-BFGS-B",
                       options={"maxiter": 1000})
        A = res.x[: d * m].reshape(d, m)
        best = min(best, circular_value(A / np.linalg.norm(A, axis=0),
                                        res.x[d * m : 2 * d * m].reshape(d, m), res.x[2 * d * m :],
                                        X, y, beta))
    assert best >= opt * (1 - 1e-8)


def test_circular_relu_dual_norm_between_the_euclidean_bounds_and_above_samples():
    """(1/d)||Fq||_1 lies between ||q||/sqrt(d) and ||q||, so the Fourier dual norm lies
    between the exact Euclidean ReLU dual norm (NNLS, docs/relu.md section 4c) and sqrt(d) times it; no
    sampled direction q exceeds it."""
    from sdpnets.formulations.relu.circular import circular_relu_dual_norm
    from sdpnets.formulations.relu.dual_norm import relu_dual_norm

    X, v = signals(n=8, length=4, seed=12)
    d = X.shape[1]
    dn = circular_relu_dual_norm(X, v)
    euclid = relu_dual_norm(X, v)
    assert euclid * (1 - 1e-9) <= dn <= np.sqrt(d) * euclid * (1 + 1e-9)
    Q = np.random.default_rng(0).standard_normal((d, 20000))
    sampled = np.abs(v @ np.maximum(X @ Q, 0.0)) / (np.abs(np.fft.fft(Q, axis=0)).sum(axis=0) / d)
    assert sampled.max() <= dn * (1 + 1e-9)
    assert sampled.max() >= 0.9 * dn  # and the maximum is approached by some direction


def test_circular_relu_dual_norm_solver_failure_warns_and_stays_an_upper_bound(monkeypatch):
    """A failed cone program is said (SdpnetsWarning), and its pattern falls back to the
    lambda = 0 bound, looser but still above the true dual norm."""
    import cvxpy as cp

    from sdpnets.formulations.relu.circular import circular_relu_dual_norm

    X, v = signals(n=8, length=4, seed=12)
    exact = circular_relu_dual_norm(X, v)

    def fail(self, *args, **kwargs):
        raise cp.error.SolverError("forced failure")

    monkeypatch.setattr(cp.Problem, "solve", fail)
    with pytest.warns(sn.SdpnetsWarning, match="forced failure"):
        fallback = circular_relu_dual_norm(X, v)
    assert fallback >= exact * (1 - 1e-12)


def test_circular_relu_certificate_meets_the_optimum_and_bounds_worse_networks():
    X, y = signals(n=8, length=4, seed=6)
    beta = 0.1
    prog = sn.ConvexCircularReLU(X, y, beta)
    res = prog.solve(tol=1e-10)
    cert = prog.certificate()
    assert cert.lower_bound <= res.objective * (1 + 1e-9)
    assert cert.gap <= 1e-6 * res.objective
    # the residual is the dual point: its dual norm equals beta at the optimum
    from sdpnets.formulations.relu.circular import circular_relu_dual_norm

    net = prog.network()
    assert rel(circular_relu_dual_norm(X, y - net.predict(X)), beta) <= 1e-5
    # any other network: its objective above, the certified lower bound below the optimum
    worse = sn.CircularReLUNet(net.filters, 0.8 * net.W1, net.w2)
    other = sn.certify(worse, X, y, beta)
    assert rel(other.upper_bound, worse.objective(X, y, beta)) <= 1e-12
    assert other.lower_bound <= res.objective * (1 + 1e-9) < other.upper_bound
    assert circular_relu_dual_norm(X, y - worse.predict(X)) > beta


def test_circular_relu_beta_max_gives_the_zero_network():
    X, y = signals(n=8, length=4, seed=13)
    prog = sn.ConvexCircularReLU(X, y, 1.0)
    bmax = prog.beta_max()
    prog.beta = 1.01 * bmax
    assert rel(prog.solve(tol=1e-10).objective, 0.5 * y @ y) <= 1e-7
    assert np.linalg.norm(prog.network().predict(X)) <= 1e-6 * np.linalg.norm(y)
    prog.beta = 0.98 * bmax
    assert prog.solve(tol=1e-10).objective < 0.5 * y @ y * (1 - 1e-6)


def test_cnn_errors():
    X, y = signals(n=6, length=4, seed=8)
    with pytest.raises(sn.InvalidInputError, match="larger than"):
        sn.ConvexReLUCNN(X, y, 0.1, kernel_size=5)
    with pytest.raises(sn.InvalidInputError, match="kernel_size must be >= 1"):
        sn.ConvexReLUCNN(X, y, 0.1, kernel_size=0)
    with pytest.raises(sn.InvalidInputError, match="pooling"):
        sn.ConvexReLUCNN(X, y, 0.1, kernel_size=2, pooling="max")
    with pytest.raises(sn.InvalidInputError, match=r"y must be \(n,\)"):
        sn.ConvexReLUCNN(X, np.ones((6, 2)), 0.1, kernel_size=2)
    with pytest.raises(sn.InvalidInputError, match=r"labels in \{-1, \+1\}"):
        sn.ConvexCircularReLU(X, y, 0.1, loss="hinge")
    with pytest.raises(sn.InvalidInputError, match="NaN"):
        sn.ConvexCircularReLU(np.full((6, 4), np.inf), y, 0.1)
    with pytest.raises(sn.InvalidInputError, match="4 inputs"):
        sn.certify(sn.CircularReLUNet(np.eye(4)[:, :1], np.ones((4, 1)), np.ones(1)),
                   X[:, :3], y, 0.1)
