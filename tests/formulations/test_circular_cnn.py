"""Circular CNNs (docs/circular_cnn.md sections 3a, 3b; images in 3a): l1 in DFT feature space.

Reference computations here are independent of sdpnets: circulant matrices built by index
arithmetic, spectra by numpy.fft, the non-convex objectives and their gradients written out,
and the unweighted-l1 program posed directly on explicit cosine/sine rows.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from scipy.linalg import circulant
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

import sdpnets as sn
from tests.conftest import ALL_BACKENDS
from sdpnets.features.fourier import dft_features
from sdpnets.formulations.circular_cnn import circular_cnn_beta_max

# clarabel and scs (both must be installed), plus MOSEK, skipped with its own reason when
# it has no licence here
BACKENDS = ["clarabel", "scs"] + [b for b in ALL_BACKENDS if b not in ("clarabel", "scs")]


def solve_opts(backend):
    return {"tol": 1e-9, "max_iters": 200_000} if backend == "scs" else {"tol": 1e-10}


def rel(a, b):
    return abs(a - b) / max(1.0, abs(a), abs(b))


def conv_index(shape):
    """Flat indices I (D x D) with I[t, s] = (t - s) mod shape, so that a.ravel()[I] is the
    matrix of circular convolution with a."""
    grids = np.indices(shape).reshape(len(shape), -1)  # (nd, D)
    diff = (grids[:, :, None] - grids[:, None, :]) % np.array(shape)[:, None, None]
    return np.ravel_multi_index(tuple(diff), shape)


def conv_matrix(a):
    """D x D matrix M with M[t, s] = a[(t - s) mod shape]: M u = a (*) u (circular)."""
    return a.ravel()[conv_index(a.shape)]


def self_conjugate(shape):
    """Boolean mask (flat) of the frequencies k with k = -k mod shape."""
    grids = np.indices(shape).reshape(len(shape), -1)
    return np.all((2 * grids) % np.array(shape)[:, None] == 0, axis=0)


def data(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape), rng.standard_normal(shape[0])


# --- the identities behind the features ---------------------------------------------------------


@pytest.mark.parametrize("shape", [(8,), (7,), (4, 5), (4, 4)])
def test_dft_features_penalty_is_the_spectral_l1_norm(shape):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, *shape))
    Xin = X if len(shape) == 1 else X[:, None]
    b = rng.standard_normal(shape)
    D = b.size
    B = np.fft.fftn(b).ravel()
    omega = np.where(self_conjugate(shape), 1.0, np.sqrt(2.0))
    for depth, hidden, expected in [
        (2, "weight_decay", np.sum(np.abs(B)) / D),
        (3, "unit_norm", np.sum(omega * np.abs(B)) / D**1.5),
    ]:
        feats = dft_features(Xin, depth=depth, hidden=hidden)
        # features of the unit signals are the basis Phi itself; z = Phi^T b
        eye = np.eye(D).reshape(D, *shape)
        Phi = dft_features(eye if len(shape) == 1 else eye[:, None], depth, hidden).features
        np.testing.assert_allclose(Phi.T @ Phi, np.eye(D), atol=1e-12)
        z = Phi.T @ b.ravel()
        np.testing.assert_allclose(feats.features @ z, X.reshape(6, -1) @ b.ravel(), atol=1e-10)
        np.testing.assert_allclose(feats.to_signal(z), b, atol=1e-10)
        assert np.isclose(feats.penalty(z), expected)
    np.testing.assert_allclose(feats.features @ feats.features.T, X.reshape(6, -1) @ X.reshape(6, -1).T, atol=1e-10)


# --- convex optimum = recovered network ------------------------------------------------------------

CASES = {
    "1d-even": ((10, 8), 2, "weight_decay"),
    "1d-odd": ((10, 7), 2, "weight_decay"),
    "2d": ((9, 1, 4, 5), 2, "weight_decay"),
    "1d-depth3": ((10, 8), 3, "unit_norm"),
    "1d-odd-depth3": ((10, 7), 3, "unit_norm"),
    "2d-depth3": ((9, 1, 4, 4), 3, "unit_norm"),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_optimum_equals_recovered_network(case, backend):
    shape, depth, hidden = CASES[case]
    X, y = data(shape, 1)
    beta = 0.6
    prog = sn.ConvexCircularCNN(X, y, beta, depth=depth, hidden=hidden)
    res = prog.solve(backend=backend, **solve_opts(backend))
    assert res.status == "optimal"
    net = prog.network()
    assert isinstance(net, sn.CircularCNN) and net.depth == depth
    assert rel(res.objective, net.objective(X, y, beta)) < 1e-6
    # the network's function is the solved filter b
    np.testing.assert_allclose(net.effective_filter(), prog.filter, atol=1e-7)
    cert = prog.certificate()
    assert cert.lower_bound <= cert.upper_bound + 1e-9 and cert.relative_gap < 1e-6
    if depth == 2:
        u, w = net.weights
        assert u.shape[0] == 1  # one channel suffices
        # u is even: u[t] = u[-t]
        flipped = np.roll(np.flip(u[0]), 1, axis=tuple(range(u[0].ndim)))
        np.testing.assert_allclose(u[0], flipped, atol=1e-8)
    else:
        u1 = net.weights[0].reshape(net.weights[0].shape[0], -1)
        np.testing.assert_allclose(np.linalg.norm(u1, axis=1), 1.0, atol=1e-10)
        # one channel per active frequency group
        norms = prog.features.group_norms(prog.solution)
        assert u1.shape[0] == np.sum(norms > 1e-9 * norms.max())


# --- non-convex training never goes below the convex optimum ---------------------------------------


def train_two_layer(X, y, beta, m, starts, seed):
    """L-BFGS on f(x) = sum_j w_j^T C(u_j) x, WD on u and w (any 1-D or 2-D shape)."""
    n = X.shape[0]
    M = np.stack([conv_matrix(x) for x in X])  # (n, D, D): M_x u = u (*) x
    D = M.shape[1]
    rng = np.random.default_rng(seed)

    def fg(theta):
        U, W = theta[: m * D].reshape(m, D), theta[m * D :].reshape(m, D)
        H = np.einsum("itd,jd->ijt", M, U)  # (n, m, D) feature maps
        r = np.einsum("ijt,jt->i", H, W) - y
        f = 0.5 * r @ r + 0.5 * beta * (np.sum(U * U) + np.sum(W * W))
        gW = np.einsum("i,ijt->jt", r, H) + beta * W
        gU = np.einsum("i,itd,jt->jd", r, M, W) + beta * U
        return f, np.concatenate([gU.ravel(), gW.ravel()])

    vals = []
    for _ in range(starts):
        out = minimize(fg, rng.standard_normal(2 * m * D), jac=True, method="L-BFGS-B",
                       options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-10})
        vals.append(out.fun)
    return min(vals)


def train_unit_norm(X, y, beta, m, starts, seed):
    """L-BFGS on f(x) = sum_j w_j^T C(u2_j) C(u1_j) x, u1_j = v_j / ||v_j|| (unit norm),
    WD on u2 and w (1-D or 2-D signals)."""
    shape = X.shape[1:]
    d = int(np.prod(shape))
    index = conv_index(shape)
    M = X.reshape(X.shape[0], -1)[:, index]  # M_x u = u (*) x
    rng = np.random.default_rng(seed)

    def fg(theta):
        V, U2, W = theta.reshape(3, m, d)
        nv = np.linalg.norm(V, axis=1, keepdims=True)
        U1 = V / nv
        C1, C2 = U1[:, index], U2[:, index]
        G = np.einsum("jab,jb->ja", C1, U2)  # u1 (*) u2
        H = np.einsum("itd,jd->ijt", M, G)
        r = np.einsum("ijt,jt->i", H, W) - y
        f = 0.5 * r @ r + 0.5 * beta * (np.sum(U2 * U2) + np.sum(W * W))
        gW = np.einsum("i,ijt->jt", r, H) + beta * W
        gG = np.einsum("i,itd,jt->jd", r, M, W)
        gU2 = np.einsum("jab,ja->jb", C1, gG) + beta * U2
        gU1 = np.einsum("jab,ja->jb", C2, gG)
        gV = (gU1 - U1 * np.sum(U1 * gU1, axis=1, keepdims=True)) / nv
        return f, np.concatenate([gV.ravel(), gU2.ravel(), gW.ravel()])

    vals = []
    for _ in range(starts):
        out = minimize(fg, rng.standard_normal(3 * m * d), jac=True, method="L-BFGS-B",
                       options={"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-10})
        vals.append(out.fun)
    return min(vals)


@pytest.mark.parametrize("shape, m", [((10, 8), 1), ((10, 7), 2), ((9, 1, 3, 4), 1), ((9, 1, 4, 4), 2)])
def test_two_layer_nonconvex_training_never_below_optimum(shape, m):
    """Includes the *derived* 2-D identity (beta/(HW)) ||F2 b||_1: random starts of a 2-D
    circular CNN never undercut it, and reach it."""
    X, y = data(shape, 2)
    beta = 0.5
    opt = sn.ConvexCircularCNN(X, y, beta).solve(backend="clarabel", tol=1e-10).objective
    S = X if X.ndim == 2 else X[:, 0]
    best = train_two_layer(S, y, beta, m, starts=4, seed=3)
    assert best >= opt * (1 - 1e-8)
    assert rel(best, opt) < 1e-5


def test_unit_norm_nonconvex_training_never_below_weighted_optimum():
    """docs/circular_cnn.md section 3b: the weighted l1 is the true optimum; the *unweighted* l1 is strictly
    lower (a mere lower bound) and no network attains it."""
    X, y = data((10, 8), 4)
    beta = 0.5
    d = 8
    prog = sn.ConvexCircularCNN(X, y, beta, depth=3, hidden="unit_norm")
    opt = prog.solve(backend="clarabel", tol=1e-10).objective
    assert rel(opt, prog.network().objective(X, y, beta)) < 1e-6

    # unweighted l1 (beta / d^(3/2)) sum_k |(F b)_k|, posed on explicit cos/sin rows
    t = np.arange(d)
    Cos = np.cos(2 * np.pi * np.outer(t, t) / d)
    Sin = np.sin(2 * np.pi * np.outer(t, t) / d)
    b = cp.Variable(d)
    moduli = cp.norm(cp.vstack([Cos @ b, Sin @ b]), 2, axis=0)
    unweighted = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X @ b - y) + beta / d**1.5 * cp.sum(moduli)))
    unweighted.solve(solver="CLARABEL")
    assert unweighted.value < opt * (1 - 1e-3)

    best = train_unit_norm(X, y, beta, m=d, starts=3, seed=5)
    assert best >= opt * (1 - 1e-8)
    assert rel(best, opt) < 1e-6  # and the weighted value is reached: it is the optimum
    assert best > unweighted.value


def test_unit_norm_2d_nonconvex_training_never_below_optimum():
    """The 2-D version of 3b (derived: weights 1 / sqrt 2 over the 2-D DFT, D = H W):
    random starts never undercut the convex value, which the recovered network attains."""
    X, y = data((9, 1, 3, 4), 12)
    beta = 0.4
    prog = sn.ConvexCircularCNN(X, y, beta, depth=3, hidden="unit_norm")
    opt = prog.solve(backend="clarabel", tol=1e-10).objective
    assert rel(opt, prog.network().objective(X, y, beta)) < 1e-6
    best = train_unit_norm(X[:, 0], y, beta, m=7, starts=3, seed=6)  # 7 frequency groups
    assert best >= opt * (1 - 1e-8)
    assert rel(best, opt) < 1e-6


# --- planted sparse spectrum --------------------------------------------------------------------


def planted_sparse_spectrum(shape):
    """Noise-free data from a real filter whose spectrum has two conjugate-pair classes.

    Returns the network input (``(n, d)`` or ``(n, 1, H, W)``), targets, the filter, its
    spectrum ``B`` and the planted classes."""
    rng = np.random.default_rng(6)
    D = int(np.prod(shape))
    B = np.zeros(shape, complex)
    classes = [(1,), (3,)] if len(shape) == 1 else [(1, 0), (2, 3)]
    for k, val in zip(classes, (2.0 + 1.0j, -1.5j)):
        B[k] = val
        B[tuple(-np.array(k) % shape)] = np.conj(val)
    b_true = np.fft.ifftn(B).real * D
    X = rng.standard_normal((3 * D, *shape))
    y = X.reshape(X.shape[0], -1) @ b_true.ravel()
    Xin = X if len(shape) == 1 else X[:, None]
    return Xin, y, b_true, B, classes


@pytest.mark.parametrize("shape", [(16,), (6, 6)])
def test_planted_sparse_spectrum_is_recovered(shape):
    Xin, y, b_true, B, _ = planted_sparse_spectrum(shape)
    prog = sn.ConvexCircularCNN(Xin, y, 1e-4)
    prog.solve(backend="clarabel", tol=1e-10)
    np.testing.assert_allclose(prog.filter, b_true, atol=1e-3 * np.abs(b_true).max())
    spectrum = np.abs(prog.spectrum)
    support = np.abs(B) > 0
    assert spectrum[~support].max() < 1e-4 * spectrum.max()
    # the recovered filter pair has the planted support too
    u = prog.network().weights[0][0]
    assert np.all(np.abs(np.fft.fftn(u))[~support] < 1e-2 * np.abs(np.fft.fftn(u)).max())


@pytest.mark.parametrize("shape", [(16,), (6, 6)])
def test_planted_sparse_spectrum_unit_norm_one_channel_per_class(shape):
    """docs/circular_cnn.md section 3b: a planted filter with two active frequency classes is recovered by the
    three-layer network with exactly two channels, each first filter a unit sinusoid of
    one planted class."""
    Xin, y, b_true, B, classes = planted_sparse_spectrum(shape)
    prog = sn.ConvexCircularCNN(Xin, y, 1e-4, depth=3, hidden="unit_norm", support_tol=1e-6)
    prog.solve(backend="clarabel", tol=1e-10)
    net = prog.network()
    np.testing.assert_allclose(net.effective_filter(), b_true, atol=1e-3 * np.abs(b_true).max())
    u1 = net.weights[0]
    assert u1.shape[0] == 2  # one channel per active class
    found = set()
    for channel in u1:
        assert np.isclose(np.linalg.norm(channel), 1.0)
        S = np.abs(np.fft.fftn(channel))
        support = {tuple(k) for k in np.argwhere(S > 1e-8 * S.max())}
        # the class {k, -k} of one planted frequency
        k = next(c for c in classes if c in support)
        assert support == {k, tuple(-np.array(k) % shape)}
        found.add(k)
    assert found == set(classes)


def test_larger_beta_gives_a_sparser_spectrum():
    X, y = data((30, 16), 7)
    prog = sn.ConvexCircularCNN(X, y, 1.0)
    counts = []
    bmax = prog.beta_max()
    for frac in (0.05, 0.3, 0.8):
        prog.beta = frac * bmax
        prog.solve(backend="clarabel", tol=1e-10, warm_start=True)
        norms = prog.features.group_norms(prog.solution)
        counts.append(int(np.sum(norms > 1e-6 * norms.max())))
    assert counts[0] >= counts[1] >= counts[2] >= 1
    assert counts[0] > counts[2]


@pytest.mark.parametrize("depth, hidden", [(2, "weight_decay"), (3, "unit_norm")])
def test_beta_max(depth, hidden):
    X, y = data((12, 6), 8)
    prog = sn.ConvexCircularCNN(X, y, 1.0, depth=depth, hidden=hidden)
    bmax = prog.beta_max()
    G = np.fft.fft(X.T @ y)
    if depth == 2:
        # the dual norm of (1/D)||F b||_1 is ||F g||_inf, since <g, b> = Re <F g, F b> / D
        assert np.isclose(bmax, np.abs(G).max())
        assert np.isclose(circular_cnn_beta_max(X, y), bmax)
        assert np.isclose(sn.beta_max(X, y, family="circular_cnn"), bmax)
    else:
        # dual of (1/D^1.5) sum_k omega_k |(F b)_k|: sqrt(D) max_k |G_k| / omega_k
        omega = np.where(self_conjugate((6,)), 1.0, np.sqrt(2.0))
        assert np.isclose(bmax, np.sqrt(6) * np.max(np.abs(G) / omega))
    prog.beta = 1.001 * bmax
    assert rel(prog.solve(backend="clarabel", tol=1e-10).objective, 0.5 * y @ y) < 1e-7
    assert rel(prog.network().objective(X, y, prog.beta), 0.5 * y @ y) < 1e-7
    assert prog.network().weights[0].shape[0] == 1  # one (zero) channel
    prog.beta = 0.9 * bmax
    assert prog.solve(backend="clarabel", tol=1e-10).objective < 0.5 * y @ y * (1 - 1e-6)


def test_certify_any_circular_network():
    X, y = data((10, 8), 9)
    rng = np.random.default_rng(0)
    opt = sn.ConvexCircularCNN(X, y, 0.5).solve(backend="clarabel", tol=1e-10).objective
    net = sn.CircularCNN([0.3 * rng.standard_normal((3, 8)), 0.3 * rng.standard_normal((3, 8))])
    cert = sn.certify(net, X, y, 0.5)
    assert cert.lower_bound <= opt + 1e-8 and opt <= cert.upper_bound + 1e-8
    with pytest.raises(sn.NonConvexFormulationError, match="not convex"):
        sn.certify(sn.CircularCNN([np.ones((1, 8))] * 3), X, y, 0.5)


def test_network_really_convolves():
    rng = np.random.default_rng(10)
    u, w = rng.standard_normal((2, 7))
    X = rng.standard_normal((4, 7))
    net = sn.CircularCNN([u[None], w[None]])
    np.testing.assert_allclose(net.predict(X), X @ (circulant(u).T @ w), atol=1e-12)
    # 2-D: explicit sum of shifted copies
    u2, w2 = rng.standard_normal((2, 3, 4))
    X2 = rng.standard_normal((4, 1, 3, 4))
    conv = sum(u2[a, c] * np.roll(X2[:, 0], (a, c), axis=(1, 2)) for a in range(3) for c in range(4))
    expected = np.einsum("iab,ab->i", conv, w2)
    np.testing.assert_allclose(sn.CircularCNN([u2[None], w2[None]]).predict(X2), expected, atol=1e-12)
    # the unit-norm network penalizes only u2, w and is infeasible when ||u1|| > 1
    net3 = sn.CircularCNN([np.full((1, 4), 0.5), np.ones((1, 4)), np.ones((1, 4))], hidden="unit_norm")
    assert net3.penalty() == 8.0
    net3.weights[0] = np.ones((1, 4))
    assert net3.penalty() == np.inf


@pytest.mark.parametrize(
    "X, y, kwargs, err, match",
    [
        (np.ones((4, 6)), np.ones(4), dict(depth=3), sn.NonConvexFormulationError, "not convex.*depth=2.*unit_norm"),
        (np.ones((4, 6)), np.ones(4), dict(depth=4), sn.NonConvexFormulationError, "docs/circular_cnn.md section 3c"),
        (np.ones((4, 6)), np.ones(4), dict(depth=2, hidden="unit_norm"), sn.InvalidInputError, "depth=2 has none"),
        (np.ones((4, 6)), np.ones(4), dict(depth=4, hidden="unit_norm"), sn.InvalidInputError, "depth=4"),
        (np.ones((4, 6)), np.ones(4), dict(depth=1), sn.InvalidInputError, "depth must be >= 2"),
        (np.ones((4, 6)), np.ones(4), dict(hidden="spectral"), sn.InvalidInputError, "hidden must be one of"),
        (np.ones((4, 2, 6)), np.ones(4), {}, sn.InvalidInputError, "single channel"),
        (np.ones((4, 6)), np.ones((4, 2)), {}, sn.InvalidInputError, r"y must be \(n,\)"),
        (np.ones((4, 6)), np.ones(5), {}, sn.InvalidInputError, "one row per sample"),
        (np.full((4, 6), np.nan), np.ones(4), {}, sn.InvalidInputError, "X contains NaN"),
        (np.ones((4, 6)), np.array([0, 1, np.nan, 2]), {}, sn.InvalidInputError, "y contains NaN"),
        (np.ones(6), np.ones(6), {}, sn.InvalidInputError, "X must be 2-D"),
    ],
)
def test_bad_input_is_a_clear_error(X, y, kwargs, err, match):
    with pytest.raises(err, match=match):
        sn.ConvexCircularCNN(X, y, 1.0, **kwargs)
    assert issubclass(err, ValueError)


def test_nonconvex_error_is_also_raised_by_dft_features():
    with pytest.raises(sn.NonConvexFormulationError, match="depth=2 with weight decay"):
        dft_features(np.ones((3, 4)), depth=3)


def test_network_before_solve_and_bad_support_tol():
    prog = sn.ConvexCircularCNN(np.eye(4), np.ones(4), 1.0)
    with pytest.raises(sn.NotSolvedError, match="solve"):
        prog.network()
    sn.ConvexCircularCNN(np.eye(4), np.ones(4), 1.0, support_tol=np.float64(1e-8))
    with pytest.raises(sn.InvalidInputError, match="support_tol"):
        sn.ConvexCircularCNN(np.eye(4), np.ones(4), 1.0, support_tol=2.0)


def test_fourier_module_doctest():
    import doctest

    import sdpnets.features.fourier

    assert doctest.testmod(sdpnets.features.fourier).failed == 0


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(2, 8),
    shape=st.sampled_from([(5,), (6,), (2, 3), (3, 3)]),
    depth=st.sampled_from([2, 3]),
    log_beta=st.floats(-2, 1),
    seed=st.integers(0, 2**16),
)
def test_property_optimum_equals_recovered_network(n, shape, depth, log_beta, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, *shape))
    X = X if len(shape) == 1 else X[:, None]
    y = rng.standard_normal(n)
    beta = 10.0**log_beta
    hidden = "weight_decay" if depth == 2 else "unit_norm"
    prog = sn.ConvexCircularCNN(X, y, beta, depth=depth, hidden=hidden)
    res = prog.solve(backend="clarabel", tol=1e-10)
    assert rel(res.objective, prog.network().objective(X, y, beta)) < 1e-6
    cert = prog.certificate()
    assert cert.lower_bound <= res.objective + 1e-7


def test_data_reduction_keeps_the_program_size_fixed():
    rng = np.random.default_rng(13)
    sizes = []
    for n in (30, 300):
        prog = sn.ConvexCircularCNN(rng.standard_normal((n, 1, 4, 4)), rng.standard_normal(n), 1.0)
        m = prog.problem.size_metrics
        sizes.append((m.num_scalar_variables, m.num_scalar_data, m.num_scalar_eq_constr))
    assert sizes[0] == sizes[1]


def test_circular_network_checks_its_input():
    net = sn.CircularCNN([np.ones((1, 6)), np.ones((1, 6))])
    with pytest.raises(sn.InvalidInputError, match=r"signals of shape \(6,\)"):
        net.predict(np.ones((3, 5)))
    with pytest.raises(sn.InvalidInputError, match=r"signals of shape \(6,\).*\(n, 1, 6\)"):
        net.predict(np.ones((3, 2, 6)))
    with pytest.raises(sn.InvalidInputError, match="X contains NaN"):
        net.predict(np.full((3, 6), np.nan))
    with pytest.raises(sn.InvalidInputError, match="same shape"):
        sn.CircularCNN([np.ones((1, 6)), np.ones((1, 5))])
    with pytest.raises(sn.InvalidInputError, match="hidden must be"):
        sn.CircularCNN([np.ones((1, 6))] * 3, hidden="spectral")
    image_net = sn.CircularCNN([np.ones((1, 3, 4)), np.ones((1, 3, 4))])
    with pytest.raises(sn.InvalidInputError, match=r"\(n, 1, 3, 4\) images or \(n, 12\) rows"):
        image_net.predict(np.ones((3, 11)))
    images = np.random.default_rng(0).standard_normal((3, 1, 3, 4))  # rows flattened in C order
    np.testing.assert_array_equal(image_net.predict(images.reshape(3, 12)),
                                  image_net.predict(images))
