"""The first-order solvers' dense linear algebra against the dense computation: the shared
eigendecomposition, the spectral norm and the singular-value thresholding through the
smaller Gram (both routes), on full-rank, rank-deficient and tiny-singular-value spectra."""

from __future__ import annotations

import numpy as np
import pytest

from sdpnets.backends.firstorder import linalg
from sdpnets.backends.firstorder.linalg import (
    SymmetricEigen,
    factor_nuclear_norm,
    gram,
    single_threaded,
    singular_values,
    spectral_norm,
    threshold_singular_values,
)


def _matrix(rng, shape, spectrum):
    """A matrix of the given shape whose singular values are ``spectrum`` (padded with 0)."""
    p, K = shape
    k = min(p, K)
    s = np.zeros(k)
    s[: len(spectrum)] = spectrum
    U = np.linalg.qr(rng.standard_normal((p, k)))[0]
    V = np.linalg.qr(rng.standard_normal((K, k)))[0]
    return (U * s) @ V.T


SPECTRA = {
    "full": lambda k: np.linspace(3.0, 1.0, k),
    "rank-deficient": lambda k: np.r_[np.linspace(2.0, 1.0, max(k // 3, 1)), np.zeros(k - max(k // 3, 1))],
    "tiny": lambda k: np.logspace(0, -13, k),  # down to 1e-13 of the largest
    "clustered": lambda k: np.r_[np.full(k // 2, 1.0), np.full(k - k // 2, 1.0 - 1e-9)],
}
SHAPES = [(120, 40), (40, 120), (60, 60), (200, 30), (9, 196), (30, 1)]


def _dense_prox(M, t):
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    kept = np.maximum(s - t, 0.0)
    return (U * kept) @ Vt, kept.sum()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("spectrum", sorted(SPECTRA))
def test_spectral_norm_and_singular_values_match_the_svd(rng, shape, spectrum):
    M = _matrix(rng, shape, SPECTRA[spectrum](min(shape)))
    s = np.linalg.svd(M, compute_uv=False)
    assert spectral_norm(M) == pytest.approx(s[0], rel=1e-13)
    # every singular value to absolute accuracy eps * ||M||: the small ones too
    np.testing.assert_allclose(np.sort(singular_values(M)), np.sort(s), rtol=0, atol=1e-14 * s[0])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("spectrum", sorted(SPECTRA))
@pytest.mark.parametrize("where", [0.5, 0.01, 2.0])
def test_thresholding_matches_the_dense_svd(rng, shape, spectrum, where):
    """Both routes (the smaller Gram, the direct SVD) give the dense prox; the factored
    output's nuclear norm is exact whatever the route."""
    M = _matrix(rng, shape, SPECTRA[spectrum](min(shape)))
    t = where * np.linalg.svd(M, compute_uv=False)[0]
    expected, norm = _dense_prox(M, t)
    for hint in (None, min(shape)):  # no hint: the Gram route where it is accurate
        A, B, s, exact = threshold_singular_values(M, t, hint)
        out = A @ B.T if s.size else np.zeros_like(M)
        assert np.linalg.norm(out - expected) <= 1e-12 * max(np.linalg.norm(M), 1e-300)
        assert factor_nuclear_norm(A, B, s, exact) == pytest.approx(norm, rel=1e-12, abs=1e-14)
        # singular values are accurate to rounding of the spectral norm (not of the
        # largest entry, which can be ten times smaller)
        np.testing.assert_allclose(np.sort(s), np.sort(np.linalg.svd(expected, compute_uv=False)[: s.size]),
                                   rtol=1e-9, atol=1e-14 * np.linalg.norm(M, 2))


def test_the_gram_route_is_taken_only_where_it_is_accurate(rng):
    """A threshold far below the largest singular value (where the Gram's round-off would
    blur it) goes to the direct SVD; a moderate one to the Gram."""
    M = _matrix(rng, (300, 60), np.logspace(0, -12, 60))
    sigma = np.linalg.svd(M, compute_uv=False)
    assert threshold_singular_values(M, 0.3)[3] is False  # the Gram route
    for t in (1e-4, 1e-9):  # ||M||^2 / t^2 = 1e8, 1e18: the Gram would blur the small ones
        A, B, s, exact = threshold_singular_values(M, t)
        assert exact  # the direct SVD
        expected, norm = _dense_prox(M, t)
        assert np.linalg.norm(A @ B.T - expected) <= 1e-13
        kept = sigma[sigma > t] - t
        np.testing.assert_allclose(np.sort(s), np.sort(kept), rtol=1e-10, atol=1e-16)


def test_no_singular_value_above_the_threshold_is_missed(rng):
    """Singular values just above the threshold (relative margin 1e-6) are all kept."""
    t = 1.0
    spectrum = np.r_[5.0, 2.0, t * (1 + 1e-6), t * (1 + 2e-6), t * (1 - 1e-6), 0.5 * np.ones(35)]
    M = _matrix(rng, (150, 40), spectrum)
    A, B, s, exact = threshold_singular_values(M, t)
    assert s.size == 4
    np.testing.assert_allclose(np.sort(s)[:2], [1e-6, 2e-6], rtol=1e-4)


def test_symmetric_eigen_is_computed_once_and_clipped(rng, monkeypatch):
    M = rng.standard_normal((20, 5))
    G = M @ M.T  # rank 5: 15 eigenvalues at round-off, some negative
    eig = SymmetricEigen(G)
    assert not eig.computed
    calls = []
    original = linalg.sla.eigh
    monkeypatch.setattr(linalg.sla, "eigh", lambda *a, **k: calls.append(1) or original(*a, **k))
    values, vectors, top = eig.values, eig.vectors, eig.top
    assert len(calls) == 1 and eig.computed
    assert np.all(values >= 0) and top == values[-1]
    np.testing.assert_allclose((vectors * values) @ vectors.T, G, atol=1e-12 * np.abs(G).max())
    np.testing.assert_allclose(values, np.clip(np.linalg.eigvalsh(G), 0, None), atol=1e-12 * top)


def test_single_threaded_limits_and_restores_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    with single_threaded():
        inside = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert inside and all(n == 1 for n in inside)
    assert after == before
    with single_threaded(side=linalg.SINGLE_THREAD_FROM - 1):  # small work: left alone
        small = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert small == before


def test_callers_threads_inside_single_threaded():
    """Inside a single-threaded block, a large product can take the caller's threads back;
    outside one, ``callers_threads`` changes nothing."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas():  # the most threads any loaded BLAS may use
        return max(i["num_threads"] for i in threadpoolctl.threadpool_info()
                   if i["user_api"] == "blas")

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        with linalg.callers_threads():
            assert blas() == 2
        with single_threaded():
            assert blas() == 1
            with linalg.callers_threads():
                assert blas() == 2
            assert blas() == 1
        assert blas() == 2


def test_single_threaded_without_threadpoolctl_leaves_threads_alone(rng, monkeypatch):
    """threadpoolctl is optional: without it the block runs on the caller's threads and a
    solve gives the same certified result."""
    import sys

    import sdpnets as sn

    X = rng.standard_normal((300, linalg.SINGLE_THREAD_FROM + 2))  # a side that limits
    Y = rng.standard_normal((300, 4))
    reference = sn.ConvexLinearFC(X, Y, 5.0).solve(backend="firstorder", tol=1e-9)
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    monkeypatch.setattr(linalg, "_controller", None)
    with single_threaded():
        pass
    assert linalg._controller is False
    res = sn.ConvexLinearFC(X, Y, 5.0).solve(backend="firstorder", tol=1e-9)
    assert reference.status == res.status == "optimal"
    assert res.objective == pytest.approx(reference.objective, rel=1e-8)


def test_spectral_norm_is_not_below_the_norm(rng):
    """Rounded up by the Gram's round-off bound: never below the largest singular value
    (a dual point scaled by it stays feasible), and within 1e-12 of it."""
    for _ in range(300):
        p, K = rng.integers(2, 80, size=2)
        M = rng.standard_normal((p, K)) * 10.0 ** rng.uniform(-8, 8)
        s = np.linalg.svd(M, compute_uv=False)[0]
        assert s <= spectral_norm(M) <= s * (1 + 1e-12)


@pytest.mark.parametrize("layout", ["c", "fortran", "strided", "empty rows", "no columns"])
def test_gram_is_the_full_symmetric_product(layout):
    rng = np.random.default_rng(3)
    M = rng.standard_normal((60, 9))
    M = {"c": M, "fortran": np.asfortranarray(M), "strided": M[::2, ::2],
         "empty rows": M[:0], "no columns": M[:, :0]}[layout]
    G = gram(M)
    assert G.shape == (M.shape[1], M.shape[1])
    np.testing.assert_array_equal(G, G.T)  # both triangles, not the lower one alone
    np.testing.assert_allclose(G, M.T @ M, rtol=0, atol=1e-12 * max(1.0, float((M * M).sum())))
