"""Linear CNNs (docs/linear_cnn.md sections 2a, 2b): convex optimum = recovered network objective on two
backends, never undercut by L-BFGS on the network weights, planted filters recovered,
vector targets checked against non-convex training, every bad input a clear error.

The non-convex objective and its gradient are written here from index arithmetic, without
sdpnets' patch code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

import sdpnets as sn
from tests.conftest import ALL_BACKENDS
from sdpnets.formulations.linear_cnn import linear_cnn_beta_max

# clarabel and scs (both must be installed), plus MOSEK, skipped with its own reason when
# it has no licence here
BACKENDS = ["clarabel", "scs"] + [b for b in ALL_BACKENDS if b not in ("clarabel", "scs")]


def solve_opts(backend):
    return {"tol": 1e-9, "max_iters": 200_000} if backend == "scs" else {"tol": 1e-9}


def rel(a, b):
    return abs(a - b) / max(1.0, abs(a), abs(b))


def ref_patches(X, q, s, p):
    """Patches (n, K, C*q) of (n, C, L) signals by explicit index arithmetic."""
    Xp = np.pad(X, ((0, 0), (0, 0), (p, p)))
    K = (Xp.shape[2] - q) // s + 1
    idx = s * np.arange(K)[:, None] + np.arange(q)[None, :]  # (K, q)
    P = Xp[:, :, idx]  # (n, C, K, q)
    return P.transpose(0, 2, 1, 3).reshape(X.shape[0], K, -1)


def ref_patches_2d(X, q, s, p):
    """Patches (n, K, C*q1*q2) of (n, C, H, W) images, row-major over output positions, by
    explicit slicing (sizes, strides and paddings as pairs)."""
    Xp = np.pad(X, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    rows = (Xp.shape[2] - q[0]) // s[0] + 1
    cols = (Xp.shape[3] - q[1]) // s[1] + 1
    return np.stack(
        [Xp[:, :, r * s[0] : r * s[0] + q[0], c * s[1] : c * s[1] + q[1]].reshape(X.shape[0], -1)
         for r in range(rows) for c in range(cols)],
        axis=1,
    )


def pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def pooled(P, pooling):
    if not pooling:
        return P
    return P.sum(axis=1, keepdims=True) / (P.shape[1] if pooling == "mean" else 1)


def nonconvex_value(P, Y, beta, U, A, pooling):
    """The network objective of filters U (m x h) and output weights A (m x K x O)."""
    P = pooled(P, pooling)
    R = np.einsum("ikt,jt,jko->io", P, U, A) - Y
    return 0.5 * np.sum(R * R) + 0.5 * beta * (np.sum(U * U) + np.sum(A * A))


def nonconvex_best(P, Y, beta, m, pooling, starts=5, seed=0):
    """Best objective of L-BFGS on (U: m x h, A: m x K x O) from several random starts.

    f(x_i)_o = sum_j sum_k (P_ik . u_j) a_jko   (no pooling)
    f(x_i)_o = sum_j (pool_k P_ik . u_j) a_jo   (pooling)
    """
    n, K, h = P.shape
    O = Y.shape[1]
    P = pooled(P, pooling)
    K = P.shape[1]
    rng = np.random.default_rng(seed)

    def fg(theta):
        U = theta[: m * h].reshape(m, h)
        A = theta[m * h :].reshape(m, K, O)
        H = np.einsum("ikt,jt->ijk", P, U)
        R = np.einsum("ijk,jko->io", H, A) - Y
        f = 0.5 * np.sum(R * R) + 0.5 * beta * (np.sum(U * U) + np.sum(A * A))
        gA = np.einsum("ijk,io->jko", H, R) + beta * A
        gU = np.einsum("io,jko,ikt->jt", R, A, P) + beta * U
        return f, np.concatenate([gU.ravel(), gA.ravel()])

    best = np.inf
    for _ in range(starts):
        theta0 = rng.standard_normal(m * h + m * K * O)
        out = minimize(fg, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-11})
        best = min(best, out.fun)
    return best


CASES = {
    "1d": dict(shape=(14, 9), kernel_size=3, stride=1, padding=0, pooling=None),
    "1d-channels-stride-pad": dict(shape=(14, 2, 7), kernel_size=3, stride=2, padding=1, pooling=None),
    "2d": dict(shape=(12, 1, 4, 5), kernel_size=(2, 3), stride=(2, 1), padding=0, pooling=None),
    "sum": dict(shape=(14, 9), kernel_size=3, stride=1, padding=0, pooling="sum"),
    "mean-2d": dict(shape=(12, 2, 4, 4), kernel_size=2, stride=1, padding=1, pooling="mean"),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_optimum_equals_recovered_network(case, backend):
    c = CASES[case]
    rng = np.random.default_rng(7)
    X = rng.standard_normal(c["shape"])
    y = rng.standard_normal(c["shape"][0])
    kw = {k: v for k, v in c.items() if k != "shape"}
    prog = sn.ConvexLinearCNN(X, y, 0.7, **kw)
    res = prog.solve(backend=backend, **solve_opts(backend))
    assert res.status == "optimal"
    net = prog.network()
    assert isinstance(net, sn.LinearCNN)
    assert rel(res.objective, net.objective(X, y, 0.7)) < 1e-6
    assert net.predict(X).shape == y.shape
    cert = prog.certificate()
    assert cert.lower_bound <= cert.upper_bound + 1e-9
    assert cert.relative_gap < 1e-6
    assert cert.lower_bound <= res.objective + 1e-7


@pytest.mark.parametrize("case", ["1d", "1d-channels-stride-pad", "sum", "2d", "mean-2d"])
def test_nonconvex_training_never_below_optimum(case):
    c = CASES[case]
    rng = np.random.default_rng(11)
    X = rng.standard_normal(c["shape"])
    y = rng.standard_normal(c["shape"][0])
    beta = 0.5
    kw = {k: v for k, v in c.items() if k != "shape"}
    prog = sn.ConvexLinearCNN(X, y, beta, **kw)
    res = prog.solve(backend="clarabel", tol=1e-9)
    assert res.status == "optimal"
    opt = res.objective
    Xc = X[:, None] if X.ndim == 2 else X
    if Xc.ndim == 3:
        P = ref_patches(Xc, kw["kernel_size"], kw["stride"], kw["padding"])
    else:
        P = ref_patches_2d(Xc, *(pair(kw[k]) for k in ("kernel_size", "stride", "padding")))
    # the recovered weights, evaluated by this file's own objective, attain the optimum
    net = prog.network()
    r = net.filters.shape[0]
    U, A = net.filters.reshape(r, -1), net.output_weights.reshape(r, -1, 1)
    assert rel(nonconvex_value(P, y[:, None], beta, U, A, kw["pooling"]), opt) < 1e-6
    m = P.shape[2]
    best = nonconvex_best(P, y[:, None], beta, m, kw["pooling"])
    assert best >= opt * (1 - 1e-8)
    # and the convex value is tight: local training reaches it (no spurious minima here)
    assert rel(best, opt) < 1e-5


@pytest.mark.parametrize("pooling", [None, "sum"])
def test_vector_targets_against_nonconvex_training(pooling):
    """Vector targets (n, O): the derived nuclear-norm program over h x KO (h x O pooled)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((12, 8))
    Y = rng.standard_normal((12, 2))
    beta = 0.8
    prog = sn.ConvexLinearCNN(X, Y, beta, kernel_size=3, pooling=pooling)
    res = prog.solve(backend="clarabel", tol=1e-10)
    net = prog.network()
    assert net.predict(X).shape == Y.shape
    assert rel(res.objective, net.objective(X, Y, beta)) < 1e-6
    P = ref_patches(X[:, None], 3, 1, 0)
    best = nonconvex_best(P, Y, beta, m=3, pooling=pooling, starts=5, seed=1)
    assert best >= res.objective * (1 - 1e-8)
    assert rel(best, res.objective) < 1e-5
    # scs agrees
    res_scs = prog.solve(backend="scs", **solve_opts("scs"))
    assert rel(res_scs.objective, res.objective) < 1e-6


def test_network_really_convolves():
    """LinearCNN.predict = sum_j sum_k a_jk * sum_{c,t} u_j[c,t] x[c, k s + t - p]."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((3, 2, 9))
    filters = rng.standard_normal((2, 2, 4))
    s, p = 2, 1
    K = (9 + 2 * p - 4) // s + 1
    a = rng.standard_normal((2, K, 1))
    net = sn.LinearCNN(filters, a, stride=s, padding=p)
    Xp = np.pad(X, ((0, 0), (0, 0), (p, p)))
    expected = np.zeros(3)
    for j in range(2):
        for k in range(K):
            expected += a[j, k, 0] * np.einsum("ict,ct->i", Xp[:, :, k * s : k * s + 4], filters[j])
    np.testing.assert_allclose(net.predict(X), expected, atol=1e-12)
    assert np.isclose(net.penalty(), np.sum(filters**2) + np.sum(a**2))
    # images: f(x)_o = sum_j sum_{r,c} a_jrco sum_{ch,t,v} u_j[ch,t,v] xpad[ch, r s1 + t, c s2 + v]
    X2 = rng.standard_normal((3, 2, 5, 6))
    f2 = rng.standard_normal((2, 2, 2, 3))
    (s1, s2), (p1, p2) = (2, 1), (1, 0)
    Ho, Wo = (5 + 2 * p1 - 2) // s1 + 1, (6 + 2 * p2 - 3) // s2 + 1
    a2 = rng.standard_normal((2, Ho, Wo, 2))
    Xp2 = np.pad(X2, ((0, 0), (0, 0), (p1, p1), (p2, p2)))
    expected2 = np.zeros((3, 2))
    for j in range(2):
        for r in range(Ho):
            for c in range(Wo):
                window = Xp2[:, :, r * s1 : r * s1 + 2, c * s2 : c * s2 + 3]
                expected2 += np.outer(np.einsum("iabc,abc->i", window, f2[j]), a2[j, r, c])
    net2 = sn.LinearCNN(f2, a2, stride=(s1, s2), padding=(p1, p2), scalar_output=False)
    np.testing.assert_allclose(net2.predict(X2), expected2, atol=1e-12)
    pooled_net = sn.LinearCNN(f2, a2[:, 0, 0], stride=(s1, s2), padding=(p1, p2),
                              pooling="mean", scalar_output=False)
    maps = np.einsum("ijrc,jo->io", net2.feature_maps(X2), a2[:, 0, 0]) / (Ho * Wo)
    np.testing.assert_allclose(pooled_net.predict(X2), maps, atol=1e-12)


def test_planted_filter_is_recovered():
    """Non-overlapping patches make the operator injective: a planted rank-one
    Z = u a^T (one filter) is recovered for small beta."""
    rng = np.random.default_rng(3)
    u = np.array([1.0, -2.0, 0.5])
    a = np.array([0.5, 1.0, -1.0, 2.0])
    X = rng.standard_normal((40, 12))
    net_true = sn.LinearCNN(u[None, None], a[None, :, None], stride=3)
    y = net_true.predict(X)
    prog = sn.ConvexLinearCNN(X, y, 1e-4, kernel_size=3, stride=3)
    prog.solve(backend="clarabel", tol=1e-10)
    net = prog.network()
    assert net.filters.shape[0] == 1  # one filter
    uh = net.filters[0, 0]
    cos = abs(uh @ u) / (np.linalg.norm(uh) * np.linalg.norm(u))
    assert cos > 1 - 1e-6
    Z = prog.solution
    np.testing.assert_allclose(Z, np.outer(u, a), atol=1e-3)


@pytest.mark.parametrize("pooling", ["sum", "mean"])
def test_planted_pooled_filter_is_recovered(pooling):
    """docs/linear_cnn.md section 2b: a planted pooled network (one filter u, output weight a) is recovered
    for small beta: one filter, u a equal to the planted product."""
    rng = np.random.default_rng(12)
    u, a = np.array([1.0, -2.0, 0.5]), 1.5
    X = rng.standard_normal((30, 10))
    y = sn.LinearCNN(u[None, None], [[a]], pooling=pooling).predict(X)
    prog = sn.ConvexLinearCNN(X, y, 1e-5, kernel_size=3, pooling=pooling)
    prog.solve(backend="clarabel", tol=1e-10)
    net = prog.network()
    assert net.filters.shape[0] == 1
    np.testing.assert_allclose(net.filters[0, 0] * net.output_weights[0, 0], u * a, atol=1e-4)
    # balanced recovery: ||u|| = |a|
    assert np.isclose(np.linalg.norm(net.filters), abs(net.output_weights[0, 0]))


@pytest.mark.parametrize("pooling", [None, "sum", "mean"])
@pytest.mark.parametrize(
    "shape, kernel, stride, padding",
    [((5, 9), 3, 2, 1), ((5, 2, 7), 2, 1, 2), ((4, 2, 4, 5), (2, 3), (2, 1), (1, 0))],
)
def test_patch_selection_is_the_data_map(shape, kernel, stride, padding, pooling):
    """A(Z) = X_flat S vec(Z): the sparse 0/1 map that lets the program reduce through X's QR
    equals the patch matrices built here by index arithmetic (1-D) or the operator (2-D)."""
    from sdpnets.formulations.linear_cnn import linear_cnn_operator, patch_selection
    from sdpnets.features.patches import extract_patches, patch_spec

    rng = np.random.default_rng(14)
    X = rng.standard_normal(shape)
    Xc = X[:, None] if X.ndim == 2 else X
    spec = patch_spec(Xc.shape[1:], kernel, stride, padding)
    S = patch_selection(spec, pooling)
    P = ref_patches(Xc, kernel, stride, padding) if Xc.ndim == 3 else extract_patches(
        X, kernel, stride, padding)
    A = pooled(P, pooling).reshape(shape[0], -1)
    np.testing.assert_allclose(X.reshape(shape[0], -1) @ S, A, atol=1e-12)
    np.testing.assert_allclose(linear_cnn_operator(P, pooling), A, atol=1e-12)
    if pooling is None:
        assert S.nnz <= A.shape[1] and set(np.unique(S.data)) == {1.0}


@pytest.mark.parametrize(
    "tail, outputs, kernel, pooling",
    [((10,), None, 3, None), ((2, 4, 4), 2, 2, None), ((1, 4, 5), 3, 2, "mean")],
)
def test_data_reduction_keeps_the_program_size_fixed(tail, outputs, kernel, pooling):
    rng = np.random.default_rng(4)
    sizes = []
    for n in (100, 1000):  # more samples than the operator has columns (at most 72 here)
        X = rng.standard_normal((n, *tail))
        y = rng.standard_normal(n if outputs is None else (n, outputs))
        prog = sn.ConvexLinearCNN(X, y, 1.0, kernel_size=kernel, pooling=pooling)
        m = prog.problem.size_metrics
        sizes.append((m.num_scalar_variables, m.num_scalar_data, m.num_scalar_eq_constr))
    assert sizes[0] == sizes[1]


@pytest.mark.parametrize("pooling", [None, "mean"])
def test_beta_max_is_where_the_zero_network_becomes_optimal(pooling):
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((15, 8)), rng.standard_normal(15)
    bmax = linear_cnn_beta_max(X, y, kernel_size=3, pooling=pooling)
    prog = sn.ConvexLinearCNN(X, y, bmax * 1.01, kernel_size=3, pooling=pooling)
    assert np.isclose(prog.beta_max(), bmax)
    res = prog.solve(backend="clarabel", tol=1e-10)
    assert rel(res.objective, 0.5 * y @ y) < 1e-7
    assert rel(prog.network().objective(X, y, prog.beta), 0.5 * y @ y) < 1e-7
    assert prog.network().filters.shape[0] == 1  # the zero network has one (zero) filter
    prog.beta = bmax * 0.9
    assert prog.solve(backend="clarabel", tol=1e-10).objective < 0.5 * y @ y * (1 - 1e-6)


def test_certify_an_arbitrary_network_brackets_the_optimum():
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((12, 8)), rng.standard_normal(12)
    prog = sn.ConvexLinearCNN(X, y, 0.5, kernel_size=3)
    opt = prog.solve(backend="clarabel", tol=1e-10).objective
    net = sn.LinearCNN(rng.standard_normal((2, 1, 3)), 0.1 * rng.standard_normal((2, 6, 1)))
    cert = sn.certify(net, X, y, 0.5)
    assert cert.lower_bound <= opt + 1e-8 <= cert.upper_bound + 2e-8
    assert np.isclose(cert.upper_bound, net.objective(X, y, 0.5))


def test_path_reuses_the_program():
    rng = np.random.default_rng(9)
    X, y = rng.standard_normal((10, 7)), rng.standard_normal(10)
    prog = sn.ConvexLinearCNN(X, y, 1.0, kernel_size=2)
    results = prog.path([2.0, 1.0, 0.5], backend="clarabel", tol=1e-9)
    values = [r.objective for r in results]
    assert values[0] > values[1] > values[2]
    assert rel(values[-1], prog.network().objective(X, y, 0.5)) < 1e-6


@pytest.mark.parametrize(
    "X, y, kwargs, match",
    [
        (np.ones((4, 5)), np.ones(4), dict(kernel_size=6), "kernel_size 6 is larger than the signal length 5"),
        (np.ones((4, 5)), np.ones(4), dict(kernel_size=2, stride=0), "stride must be >= 1"),
        (np.ones((4, 5)), np.ones(4), dict(kernel_size=2, padding=-1), "padding must be >= 0"),
        (np.ones((4, 5)), np.ones(3), dict(kernel_size=2), "y must have one row per sample of X"),
        (np.ones((4, 5)), np.ones((4, 2, 2)), dict(kernel_size=2), "y must be 1-D or 2-D"),
        (np.full((4, 5), np.nan), np.ones(4), dict(kernel_size=2), "X contains NaN"),
        (np.ones((4, 5)), np.array([1, 2, np.inf, 0]), dict(kernel_size=2), "y contains NaN or infinite"),
        (np.ones(5), np.ones(5), dict(kernel_size=2), "X must be 2-D or 3-D or 4-D"),
        (np.ones((4, 5)), np.ones(4), dict(kernel_size=2, pooling="max"), "pooling must be"),
        (np.ones((4, 1, 3, 3)), np.ones(4), dict(kernel_size=(2, 4)), "larger than the image size"),
        (np.ones((4, 5)), np.ones(4), dict(kernel_size=(2, 2)), "tuple of 1 integers"),
    ],
)
def test_bad_input_is_a_clear_error(X, y, kwargs, match):
    with pytest.raises(sn.InvalidInputError, match=match):
        sn.ConvexLinearCNN(X, y, 1.0, **kwargs)


@pytest.mark.parametrize("beta", [0, -1.0, float("nan"), "1"])
def test_bad_beta(beta):
    with pytest.raises(sn.InvalidInputError, match="beta"):
        sn.ConvexLinearCNN(np.ones((4, 5)), np.ones(4), beta, kernel_size=2)


def test_rank_tol_accepts_numpy_reals_and_refuses_bad_values():
    X, y = np.eye(5), np.ones(5)
    sn.ConvexLinearCNN(X, y, 1.0, kernel_size=2, rank_tol=np.float32(1e-6))
    for bad in (1.0, -0.1, True, "0"):
        with pytest.raises(sn.InvalidInputError, match="rank_tol"):
            sn.ConvexLinearCNN(X, y, 1.0, kernel_size=2, rank_tol=bad)


def test_network_before_solve_raises():
    prog = sn.ConvexLinearCNN(np.eye(5), np.ones(5), 1.0, kernel_size=2)
    with pytest.raises(sn.NotSolvedError, match="solve"):
        prog.network()


def test_network_checks_its_input():
    net = sn.LinearCNN(np.ones((1, 2, 3)), np.ones((1, 4, 1)))
    with pytest.raises(sn.InvalidInputError, match="2 channel"):
        net.predict(np.ones((3, 6)))
    with pytest.raises(sn.InvalidInputError, match="output positions"):
        net.predict(np.ones((3, 2, 7)))
    with pytest.raises(sn.InvalidInputError, match="output_weights"):
        sn.LinearCNN(np.ones((2, 1, 3)), np.ones((1, 4, 1)))


def test_beta_max_family_dispatch_passes_the_geometry():
    rng = np.random.default_rng(21)
    X, y = rng.standard_normal((12, 7)), rng.standard_normal(12)
    direct = linear_cnn_beta_max(X, y, kernel_size=3, stride=2, pooling="sum")
    assert sn.beta_max(X, y, family="linear_cnn", kernel_size=3, stride=2, pooling="sum") == direct
    prog = sn.ConvexLinearCNN(X, y, 1.01 * direct, kernel_size=3, stride=2, pooling="sum")
    prog.solve()
    assert np.allclose(prog.network().predict(X), 0.0, atol=1e-6)
    with pytest.raises(sn.InvalidInputError, match="family must be one of"):
        sn.beta_max(X, y, family="transformer")
