"""sdpnets' own first-order solvers (backend="firstorder") on the least-squares families.

Every optimum is compared with Clarabel at a tight tolerance (an independent interior-point
solve of the cvxpy program), every certificate must bracket Clarabel's optimum, and every
recovered network's objective must equal the first-order objective.
"""

from __future__ import annotations

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.backends.firstorder import (
    Composite,
    FactoredQuadratic,
    GroupL2,
    NuclearNorm,
    Quadratic,
    certify_point,
    gram_statistics,
    solve_composite,
)

RTOL = 1e-7


def _fc(rng, n=50, d=7, K=4):
    X = rng.standard_normal((n, d))
    Y = X @ rng.standard_normal((d, 2)) @ rng.standard_normal((2, K)) + 0.3 * rng.standard_normal((n, K))
    return X, Y


def _families(rng):
    """(name, factory) pairs: each factory builds the same program twice."""
    X, Y = _fc(rng)
    S = rng.standard_normal((40, 12))
    s = S[:, 2] - 0.5 * S[:, 7] + 0.1 * rng.standard_normal(40)
    I = rng.standard_normal((30, 2, 6, 6))
    yi = I[:, 0, 2, 2] - I[:, 1, 3, 1] + 0.1 * rng.standard_normal(30)
    S2 = rng.standard_normal((30, 1, 4, 6))
    y2 = S2[:, 0, 1, 1] + 0.1 * rng.standard_normal(30)
    Yc = np.stack([s, S[:, 5]], axis=1)
    return [
        ("fc vector", lambda: sn.ConvexLinearFC(X, Y, 4.0)),
        ("fc scalar", lambda: sn.ConvexLinearFC(X, Y[:, 0], 4.0)),
        ("fc spectral depth 4", lambda: sn.ConvexLinearFC(X, Y, 4.0, depth=4, hidden="spectral")),
        ("cnn 1-D", lambda: sn.ConvexLinearCNN(S, s, 2.0, kernel_size=3)),
        ("cnn 1-D vector", lambda: sn.ConvexLinearCNN(S, Yc, 2.0, kernel_size=4, stride=2)),
        ("cnn mean pooling", lambda: sn.ConvexLinearCNN(S, s, 0.5, kernel_size=3, pooling="mean")),
        ("cnn sum pooling vector", lambda: sn.ConvexLinearCNN(S, Yc, 1.0, kernel_size=3, pooling="sum")),
        ("cnn 2-D", lambda: sn.ConvexLinearCNN(I, yi, 3.0, kernel_size=3, padding=1)),
        ("circular", lambda: sn.ConvexCircularCNN(S, s, 2.0)),
        ("circular depth 3", lambda: sn.ConvexCircularCNN(S, s, 2.0, depth=3, hidden="unit_norm")),
        ("circular 2-D", lambda: sn.ConvexCircularCNN(S2, y2, 1.0)),
    ]


FAMILIES = [name for name, _ in _families(np.random.default_rng(0))]


def _data_of(prog):
    return getattr(prog, "_X_input", prog.X), prog.y if hasattr(prog, "y") else prog.Y


@pytest.mark.parametrize("name", FAMILIES)
def test_firstorder_agrees_with_clarabel_and_recovers_the_network(name):
    make = dict(_families(np.random.default_rng(0)))[name]
    ref = make()
    rref = ref.solve(backend="clarabel", tol=1e-10)
    assert rref.status == "optimal"
    prog = make()
    res = prog.solve(backend="firstorder", tol=1e-10)
    assert res.status == "optimal" and res.backend == "firstorder"
    assert abs(res.objective - rref.objective) <= RTOL * rref.objective
    # the certified bracket holds Clarabel's optimum (up to Clarabel's own accuracy)
    lower, gap = res.raw["lower_bound"], res.raw["gap"]
    assert lower <= rref.objective * (1 + 1e-9)
    assert res.objective >= rref.objective * (1 - 1e-9)
    assert gap <= 1e-10 * res.objective * (1 + 1e-6)
    X, y = _data_of(prog)
    net = prog.network()
    assert abs(net.objective(X, y, prog.beta) - res.objective) <= 1e-9 * res.objective
    cert = prog.certificate()
    assert cert.lower_bound <= rref.objective * (1 + 1e-9) <= cert.upper_bound * (1 + 2e-9)


@pytest.mark.parametrize("method", ["apg", "admm"])
def test_each_method_reaches_the_same_optimum(method, rng):
    X, Y = _fc(rng)
    ref = sn.ConvexLinearFC(X, Y, 3.0).solve(backend="clarabel", tol=1e-10)
    res = sn.ConvexLinearFC(X, Y, 3.0).solve(backend="firstorder", tol=1e-9, method=method)
    assert res.status == "optimal" and res.raw["method"] == method
    assert abs(res.objective - ref.objective) <= RTOL * ref.objective


def test_forced_limits_give_their_statuses_never_optimal(rng):
    X, Y = _fc(rng, n=80, d=12, K=6)
    prog = sn.ConvexLinearFC(X, Y, 0.5)
    res = prog.solve(backend="firstorder", tol=1e-14, max_iters=2)
    assert res.status == "iteration_limit" and res.iterations <= 2
    assert res.raw["lower_bound"] <= res.objective  # the bound stays valid
    with pytest.raises(sn.SolveFailedError):
        prog.network()
    res = prog.solve(backend="firstorder", tol=1e-14, time_limit=1e-9)
    assert res.status == "time_limit"


def test_certificate_is_valid_at_any_point(rng):
    """At arbitrary (non-optimal) points the lower bound never exceeds the optimum."""
    X, Y = _fc(rng)
    beta = 2.0
    opt = sn.ConvexLinearFC(X, Y, beta).solve(backend="clarabel", tol=1e-10).objective
    G, C, yy = gram_statistics(X, Y)
    problem = Composite(Quadratic(G, C, yy), NuclearNorm(), beta)
    for scale in (0.0, 0.1, 1.0, 10.0):
        W = scale * rng.standard_normal(C.shape)
        cert = certify_point(problem, W)
        Z = W
        direct = 0.5 * np.sum((X @ Z - Y) ** 2) + beta * np.sum(np.linalg.svd(Z, compute_uv=False))
        assert cert.upper == pytest.approx(direct, rel=1e-10)
        assert cert.lower <= opt * (1 + 1e-10)
        assert cert.gap >= 0 and cert.lower == pytest.approx(cert.upper - cert.gap)


def test_planted_low_rank_solution_found(rng):
    n, d, K, r = 400, 15, 10, 2
    X = rng.standard_normal((n, d))
    Z0 = rng.standard_normal((d, r)) @ rng.standard_normal((r, K))
    Y = X @ Z0 + 0.01 * rng.standard_normal((n, K))
    # beta above the noise's ||X^T E||_2 (about 0.01 sqrt(n) (sqrt(d) + sqrt(K)) = 1.4)
    prog = sn.ConvexLinearFC(X, Y, 5.0)
    res = prog.solve(backend="firstorder", tol=1e-10)
    assert res.status == "optimal"
    Z = prog.solution
    s = np.linalg.svd(Z, compute_uv=False)
    assert np.sum(s > 1e-6 * s[0]) == r
    assert np.linalg.norm(Z - Z0) <= 0.02 * np.linalg.norm(Z0)
    assert prog.network().weights[0].shape[1] == r


def test_planted_sparse_spectrum_found(rng):
    """A circular CNN whose target uses two frequencies: the optimal filter's spectrum is
    supported there."""
    n, d = 300, 16
    S = rng.standard_normal((n, d))
    t = np.arange(d)
    b0 = np.cos(2 * np.pi * 3 * t / d) + 0.5 * np.sin(2 * np.pi * 5 * t / d)
    y = S @ b0 + 0.01 * rng.standard_normal(n)
    prog = sn.ConvexCircularCNN(S, y, 5.0)
    assert prog.solve(backend="firstorder", tol=1e-10).status == "optimal"
    mag = np.abs(np.fft.fft(prog.filter))
    support = {k for k in range(d) if mag[k] > 1e-6 * mag.max()}
    assert support == {3, 5, d - 3, d - 5}


@pytest.mark.parametrize("cond", [1e2, 1e4])
def test_ill_conditioned_data_reach_the_requested_gap(rng, cond):
    n, d, K = 300, 20, 6
    U, _, Vt = np.linalg.svd(rng.standard_normal((n, d)), full_matrices=False)
    X = (U * np.logspace(0, -np.log10(cond), d)) @ Vt * np.sqrt(n)
    Y = X @ rng.standard_normal((d, K)) + 0.1 * rng.standard_normal((n, K))
    beta = 1e-3 * sn.beta_max(X, Y, family="linear_fc")
    res = sn.ConvexLinearFC(X, Y, beta).solve(backend="firstorder", tol=1e-8)
    assert res.status == "optimal" and res.raw["relative_gap"] <= 1e-8
    ref = sn.ConvexLinearFC(X, Y, beta).solve(backend="clarabel", tol=1e-10)
    assert res.raw["lower_bound"] <= ref.objective * (1 + 1e-9)
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective


def test_path_is_monotone_and_warm_starts_save_iterations(rng):
    X, Y = _fc(rng, n=200, d=15, K=8)
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    results = prog.path(backend="firstorder", tol=1e-9)  # default grid from beta_max down
    assert len(results) == 20 and all(r.status == "optimal" for r in results)
    bmax = sn.beta_max(X, Y, family="linear_fc")
    assert prog.beta == pytest.approx(1e-3 * bmax)
    objectives = [r.objective for r in results]  # betas decrease along the grid
    assert all(a >= b * (1 - 1e-9) for a, b in zip(objectives, objectives[1:]))
    assert objectives[0] == pytest.approx(0.5 * np.sum(Y * Y), rel=1e-9)  # zero network at beta_max
    nuclear = []
    for b in np.geomspace(bmax, 1e-3 * bmax, 20):
        p = sn.ConvexLinearFC(X, Y, b)
        p.solve(backend="firstorder", tol=1e-9)
        nuclear.append(np.sum(np.linalg.svd(p.solution, compute_uv=False)))
    assert all(a <= b * (1 + 1e-6) + 1e-12 for a, b in zip(nuclear, nuclear[1:]))
    cold = sum(
        sn.ConvexLinearFC(X, Y, b).solve(backend="firstorder", tol=1e-9).iterations
        for b in np.geomspace(bmax, 1e-3 * bmax, 20)
    )
    warm = sum(r.iterations for r in results)
    assert warm < cold


def test_path_statistics_are_computed_once(rng, monkeypatch):
    X, Y = _fc(rng)
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    calls = []
    original = prog._composite_parts
    monkeypatch.setattr(prog, "_composite_parts", lambda: calls.append(1) or original())
    prog.path([3.0, 2.0, 1.0], backend="firstorder")
    assert len(calls) == 1


def test_auto_is_firstorder_for_least_squares_and_relu_families(rng):
    X, Y = _fc(rng)
    assert sn.ConvexLinearFC(X, Y, 1.0).solve().backend == "firstorder"
    Xr = rng.standard_normal((8, 2))
    assert sn.ConvexReLU(Xr, Xr[:, 0], 0.1).solve(tol=1e-6).backend == "firstorder"
    assert sn.ConvexGatedReLU(Xr, Xr[:, 0], 0.1, patterns=4).solve(tol=1e-6).backend \
        == "firstorder"
    # the circular ReLU has no first-order solver: auto is a conic one
    Xc = rng.standard_normal((6, 4))
    assert sn.ConvexCircularReLU(Xc, Xc[:, 0], 0.1).solve().backend != "firstorder"


def test_firstorder_options_are_checked_before_solving(rng):
    X, Y = _fc(rng)
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    with pytest.raises(sn.InvalidInputError, match="does not know the options"):
        prog.solve(backend="firstorder", eps_abs=1e-3)
    with pytest.raises(sn.InvalidInputError, match="method must be one of"):
        prog.solve(backend="firstorder", method="newton")
    with pytest.raises(sn.InvalidInputError, match="rho"):
        prog.solve(backend="firstorder", rho=-1.0)
    assert prog.result is None
    deep = sn.ConvexLinearFC(X, Y[:, 0], 1.0, depth=3)  # ridge-path variant: no convex program
    with pytest.raises(sn.InvalidInputError, match="ridge-path"):
        deep.solve(backend="firstorder")


# --- the pieces -----------------------------------------------------------------------------


def test_nuclear_prox_is_the_minimizer(rng):
    """prox_{t||.||_*}(V) minimizes 1/2||W - V||^2 + t||W||_*: no random perturbation does
    better, and its value matches the closed form."""
    V = rng.standard_normal((6, 4))
    t = 0.8
    pen = NuclearNorm()
    W = pen.prox(V, t)

    def value(M):
        return 0.5 * np.sum((M - V) ** 2) + t * pen.value(M)

    base = value(W)
    for _ in range(200):
        assert value(W + 1e-3 * rng.standard_normal(W.shape)) >= base - 1e-12
    s = np.linalg.svd(V, compute_uv=False)
    assert np.allclose(np.linalg.svd(W, compute_uv=False), np.maximum(s - t, 0), atol=1e-12)


def test_rearranged_nuclear_norm_uses_the_view(rng):
    K, h = 5, 3
    view = lambda M: M.reshape(K, h).T  # noqa: E731
    unview = lambda Z: Z.T.reshape(K * h, 1)  # noqa: E731
    pen = NuclearNorm(view, unview)
    M = rng.standard_normal((K * h, 1))
    assert pen.value(M) == pytest.approx(np.sum(np.linalg.svd(view(M), compute_uv=False)))
    H = rng.standard_normal((K * h, 1))
    assert pen.dual_norm(H) == pytest.approx(np.linalg.norm(view(H), 2))
    assert not pen.left_invariant and NuclearNorm().left_invariant


def test_group_l2_prox_and_dual_norm(rng):
    groups = np.array([0, 1, 1, 2, 2])
    weights = np.array([1.0, np.sqrt(2), 0.5])
    pen = GroupL2(groups, weights)
    V = rng.standard_normal((5, 1))
    t = 0.7
    W = pen.prox(V, t)
    for g, c in enumerate(weights):
        v, w = V[groups == g, 0], W[groups == g, 0]
        expected = v * max(1 - t * c / np.linalg.norm(v), 0)
        assert np.allclose(w, expected, atol=1e-14)
    # dual norm: <H, W> <= dual(H) * value(W) for every W, with equality attainable
    H = rng.standard_normal((5, 1))
    for _ in range(100):
        Wr = rng.standard_normal((5, 1))
        assert float(np.sum(H * Wr)) <= pen.dual_norm(H) * pen.value(Wr) + 1e-12
    g = int(np.argmax(pen.norms(H) / weights))
    Wg = np.where((groups == g)[:, None], H, 0.0)
    assert float(np.sum(H * Wg)) == pytest.approx(pen.dual_norm(H) * pen.value(Wg))


def test_solver_zero_data_gives_zero_solution():
    problem = Composite(Quadratic(np.zeros((3, 3)), np.zeros((3, 2)), 0.0), NuclearNorm(), 1.0)
    out = solve_composite(problem, tol=1e-8)
    assert out.status == "optimal" and np.all(out.W == 0) and out.certificate.upper == 0.0


@pytest.mark.parametrize("shape, kernel, stride, padding, outputs", [
    ((1, 8, 8), 3, 1, 0, 1),
    ((1, 7, 9), (3, 2), 1, 0, 1),
    ((1, 6, 6), 3, 2, 1, 2),  # stride and padding: entries reading padding, inputs never read
    ((3, 12), 4, 1, 2, 3),  # channels, 1-D, vector output
])
def test_patch_cnn_factored_gram_matches_the_dense_one(rng, shape, kernel, stride, padding, outputs):
    # the patch CNN's Gram S^T (X^T X) S is kept compressed, E^T M E with orthonormal rows
    # E: products, the Lipschitz constant (exact, and the power estimate below it) and the
    # shifted solves must all be the dense G's
    X = rng.standard_normal((40,) + shape)
    y = rng.standard_normal((40, outputs))
    prog = sn.ConvexLinearCNN(X, y, 1.0, kernel_size=kernel, stride=stride, padding=padding)
    f, _ = prog._composite_parts()
    assert isinstance(f, FactoredQuadratic)
    S = prog.selection().toarray()
    flat = X.reshape(40, -1)
    G = S.T @ (flat.T @ flat) @ S
    W = rng.standard_normal(f.shape)
    np.testing.assert_allclose(f.gram_apply(W), G @ W, rtol=1e-10, atol=1e-10 * np.abs(G @ W).max())
    E = f.compress(np.eye(G.shape[0]))
    np.testing.assert_allclose(E @ E.T, np.eye(E.shape[0]), atol=1e-12)
    top = np.linalg.eigvalsh(G)[-1]
    estimate, exact = f.lipschitz_estimate()
    assert not exact and estimate <= top * (1 + 1e-12) and estimate >= 0.5 * top
    assert f.lipschitz == pytest.approx(top, rel=1e-10)
    for rho in (0.7, 1e-3 * top, 10 * top):
        np.testing.assert_allclose(f.shifted_solve(W, rho),
                                   np.linalg.solve(G + rho * np.eye(len(G)), W),
                                   rtol=1e-8, atol=1e-10 * np.abs(W).max() / rho)
    # the eigendecomposition behind the solves is M's, computed once
    assert f.eigen.computed and f.spectrum().size == E.shape[0]


def test_accelerated_gradient_backtracks_from_a_low_lipschitz_estimate(rng, monkeypatch):
    """A dense G (circular CNN) gets a power-iteration estimate of lambda_max; where it is
    too low, the step backtracks on the exact descent condition: same certified optimum."""
    import sdpnets.backends.firstorder.datafits as datafits

    S = rng.standard_normal((60, 16))
    s = S[:, 2] - 0.5 * S[:, 7] + 0.1 * rng.standard_normal(60)
    reference = sn.ConvexCircularCNN(S, s, 2.0).solve(backend="clarabel", tol=1e-10).objective
    monkeypatch.setattr(datafits, "POWER_STEPS", 1)  # one step: far below lambda_max
    prog = sn.ConvexCircularCNN(S, s, 2.0)
    f = prog.composite().datafit
    estimate, exact = f.lipschitz_estimate()
    assert not exact and estimate < 0.9 * np.linalg.eigvalsh(f.gram)[-1]
    out = solve_composite(prog.composite(), tol=1e-10, method="apg")
    assert out.status == "optimal"
    assert out.certificate.upper == pytest.approx(reference, rel=1e-7)
    assert out.certificate.lower <= reference * (1 + 1e-9)


def test_one_eigendecomposition_serves_solver_certificate_and_recovery(rng, monkeypatch):
    """Deep linear FC: the eigenbasis of the solver, the Lipschitz constant and the recovery's
    data scale all read one eigendecomposition of X^T X; no SVD of the d x d Gram."""
    import scipy.linalg

    X, Y = _fc(rng, n=80, d=12, K=5)
    d = X.shape[1]
    calls = []
    eigh = scipy.linalg.eigh

    def counting(a, *args, **kwargs):
        if np.shape(a) == (d, d):
            calls.append(kwargs.get("subset_by_index"))
        return eigh(a, *args, **kwargs)

    monkeypatch.setattr(scipy.linalg, "eigh", counting)
    prog = sn.ConvexLinearFC(X, Y, 2.0)
    res = prog.solve(backend="firstorder", tol=1e-10)
    assert res.status == "optimal"
    prog.network()
    assert calls == [None]  # one full decomposition, no separate top eigenvalue
    reference = sn.ConvexLinearFC(X, Y, 2.0).solve(backend="clarabel", tol=1e-10).objective
    assert res.objective == pytest.approx(reference, rel=1e-7)


def test_certificate_equals_the_dense_computation(rng):
    """certify_point from the statistics is the textbook certificate computed on the data:
    residual R = Y - XW scaled by min(<R, Y>/||R||^2, beta/||X^T R||_2), dual value
    <V, Y> - ||V||^2/2, upper bound from a full SVD."""
    X, Y = _fc(rng, n=60, d=9, K=6)
    X = X * np.logspace(0, -5, X.shape[1])  # ill-conditioned columns
    beta = 0.7
    G, C, yy = gram_statistics(X, Y)
    problem = Composite(Quadratic(G, C, yy), NuclearNorm(), beta)
    for scale in (0.0, 0.01, 1.0, 30.0):
        W = scale * rng.standard_normal(C.shape)
        W[:, -1] = 0.0  # rank-deficient
        cert = certify_point(problem, W)
        R = Y - X @ W
        upper = 0.5 * np.sum(R * R) + beta * np.linalg.svd(W, compute_uv=False).sum()
        s = min(max(np.sum(R * Y) / np.sum(R * R), 0.0), beta / np.linalg.norm(X.T @ R, 2))
        lower = s * np.sum(R * Y) - 0.5 * s * s * np.sum(R * R)
        assert cert.upper == pytest.approx(upper, rel=1e-11)
        assert cert.lower == pytest.approx(lower, rel=1e-9, abs=1e-9 * upper)
        assert cert.scale == pytest.approx(s, rel=1e-10)


@pytest.mark.parametrize("shape", [(30, 7), (7, 30), (12, 12), (30, 1)])
def test_nuclear_value_and_dual_norm_match_the_svd(rng, shape):
    pen = NuclearNorm()
    M = rng.standard_normal(shape) * np.logspace(0, -6, shape[1])
    assert pen.dual_norm(M) == pytest.approx(np.linalg.svd(M, compute_uv=False)[0], rel=1e-13)
    out = pen.prox(M, 0.3)
    # the value of a prox output is read from its thresholded singular values
    assert pen.value(out) == pytest.approx(np.linalg.svd(out, compute_uv=False).sum(), rel=1e-12)
    with pytest.raises(ValueError):
        out += 1.0  # read-only: the cached value cannot go stale
    other = out.copy()
    other[0, 0] += 1.0
    assert pen.value(other) == pytest.approx(np.linalg.svd(other, compute_uv=False).sum(), rel=1e-12)
