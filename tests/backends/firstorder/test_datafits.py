"""Least-squares datafits against dense linear algebra on the data itself (issue 26).

:class:`Quadratic` and :class:`FactoredQuadratic` know ``A`` only through statistics (or a
compression :math:`G = E^TME`, built here from a factor ``B`` with :math:`G = B^TB`); every quantity they give is checked against the same
quantity computed from ``A`` directly: the value :math:`\\tfrac12\\|AW - Y\\|^2`, the
gradient, the residual terms, :math:`\\lambda_{\\max}(A^TA)`, and the shifted solves
:math:`(G + \\rho I)^{-1}B` by ``numpy.linalg.solve`` on the dense shifted Gram, including
after ``rho`` changes (a cached factorization must follow ``rho``) and for spectra with
exactly zero and tiny eigenvalues.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdpnets.backends.firstorder.datafits import FactoredQuadratic, Quadratic, gram_statistics

PROPERTY = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _data(seed: int, n: int, p: int, K: int, spectrum=None):
    """``A`` (``n x p``) with the given singular values (default Gaussian) and ``Y``."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p))
    if spectrum is not None:
        U, _, Vt = np.linalg.svd(rng.standard_normal((n, p)), full_matrices=False)
        s = np.zeros(min(n, p))
        s[: len(spectrum)] = spectrum[: min(n, p)]
        A = (U * s) @ Vt
    return A, rng.standard_normal((n, K))


def _dense_shifted(G: np.ndarray, B: np.ndarray, rho: float) -> np.ndarray:
    return np.linalg.solve(G + rho * np.eye(G.shape[0]), B)


def _close(a, b, rel=1e-9):
    scale = max(float(np.abs(b).max(initial=0.0)), 1e-300)
    np.testing.assert_allclose(a, b, rtol=0, atol=rel * scale)


# --- statistics and the quantities read from them ---------------------------------------------


@PROPERTY
@given(seed=st.integers(0, 2**16), n=st.integers(1, 12), p=st.integers(1, 8),
       K=st.integers(1, 3), diagonal=st.booleans())
def test_value_gradient_and_residual_terms_match_the_data(seed, n, p, K, diagonal):
    A, Y = _data(seed, n, p, K)
    if diagonal:  # orthogonal columns: G is diagonal, given as a vector
        Q, _ = np.linalg.qr(np.random.default_rng(seed + 1).standard_normal((max(n, p), p)))
        A = Q[:n] * np.linspace(0.5, 3.0, p) if n >= p else A
    G, C, yy = gram_statistics(A, Y)
    np.testing.assert_allclose(G, A.T @ A, atol=1e-12 * max(1.0, np.abs(G).max()))
    np.testing.assert_allclose(C, A.T @ Y, atol=1e-12 * max(1.0, np.abs(C).max()))
    assert yy == pytest.approx(float(np.sum(Y * Y)), rel=1e-13)
    is_diag = diagonal and n >= p and np.allclose(G, np.diag(np.diag(G)), atol=1e-10)
    f = Quadratic(np.diag(G) if is_diag else G, C, yy)
    assert f.shape == (p, K) and f.diagonal == is_diag
    W = np.random.default_rng(seed + 2).standard_normal((p, K))
    R = Y - A @ W
    assert f.value(W) == pytest.approx(0.5 * float(np.sum(R * R)), rel=1e-9, abs=1e-12)
    _close(f.gram_apply(W), A.T @ (A @ W))
    _close(f.correlation(W), A.T @ R)  # the negative gradient
    rr, ry = f.residual_terms(W, f.gram_apply(W))
    assert rr == pytest.approx(float(np.sum(R * R)), rel=1e-9, abs=1e-12)
    assert ry == pytest.approx(float(np.sum(R * Y)), rel=1e-9, abs=1e-12)
    assert f.lipschitz == pytest.approx(np.linalg.norm(A, 2) ** 2, rel=1e-10, abs=1e-14)


def test_the_value_at_an_exact_fit_is_zero_not_negative():
    """``||Y||^2 - 2<W, C> + <W, GW>`` cancels at an exact fit; the value must be >= 0."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 4))
    W = rng.standard_normal((4, 2))
    Y = A @ W
    f = Quadratic(*gram_statistics(A, Y))
    assert 0.0 <= f.value(W) <= 1e-20 * float(np.sum(Y * Y))
    assert f.residual_terms(W, f.gram_apply(W))[0] >= 0.0


# --- shifted solves: a new rho is never answered by an old factorization ----------------------


@PROPERTY
@given(seed=st.integers(0, 2**16), p=st.integers(1, 8), K=st.integers(1, 3),
       rhos=st.lists(st.floats(1e-6, 1e6), min_size=2, max_size=5), diagonal=st.booleans())
def test_shifted_solve_follows_every_change_of_rho(seed, p, K, rhos, diagonal):
    """A sequence of ``rho`` values (repeats included) on one datafit gives, at each step,
    the solve of a fresh datafit and of the dense shifted Gram."""
    A, Y = _data(seed, 3 * p, p, K)
    G, C, yy = gram_statistics(A, Y)
    gram = np.abs(np.diag(G)) if diagonal else G
    dense = np.diag(gram) if diagonal else G
    f = Quadratic(gram, C, yy)
    B = np.random.default_rng(seed + 5).standard_normal((p, K))
    for rho in rhos + rhos[:1]:
        got = f.shifted_solve(B, rho)
        _close(got, _dense_shifted(dense, B, rho), 1e-8)
        _close(got, Quadratic(gram, C, yy).shifted_solve(B, rho), 1e-12)


def test_shifted_solve_after_a_change_of_rho_and_back():
    rng = np.random.default_rng(1)
    A, Y = _data(1, 20, 5, 2)
    f = Quadratic(*gram_statistics(A, Y))
    G = A.T @ A
    B = rng.standard_normal((5, 2))
    for rho in (1.0, 1.0, 1e-3, 1e3, 1.0, 1e-3):
        _close(f.shifted_solve(B, rho), _dense_shifted(G, B, rho), 1e-10)


# --- the factored Gram: products, Lipschitz constant and the Woodbury shifted solve -----------


def _compressed(Bf, C, yy, calls=None):
    """:class:`FactoredQuadratic` of :math:`G = B^TB` (``B``: ``r x p``) as :math:`E^TME`:
    :math:`B^T = QR` gives orthonormal rows :math:`E = Q^T` and :math:`M = RR^T`."""
    Q, R = np.linalg.qr(Bf.T)
    log = calls if calls is not None else []
    return FactoredQuadratic(R @ R.T, lambda W: log.append("compress") or Q.T @ W,
                             lambda V: log.append("expand") or Q @ V, C, yy)


SPECTRA = {
    "zero eigenvalues": [3.0, 1.0, 0.0, 0.0],
    "tiny eigenvalues": [2.0, 0.5, 1e-4, 1e-7],
    "all below one": [0.9, 0.3, 0.01],
    "mixed": [10.0, 1.0, 0.2, 1e-3, 0.0],
    "zero": [0.0],
}


@pytest.mark.parametrize("spectrum", list(SPECTRA), ids=list(SPECTRA))
@pytest.mark.parametrize("rho", [1e-6, 1e-2, 0.5, 1.0, 30.0])
def test_factored_shifted_solve_matches_the_dense_one(spectrum, rho):
    """``(B^T B + rho I)^{-1}`` by Woodbury on ``B``'s small Gram, against the dense solve,
    for factors whose Gram has zero and tiny eigenvalues (``BB^T`` singular)."""
    rng = np.random.default_rng(2)
    r, p, K = 5, 9, 2
    U, _ = np.linalg.qr(rng.standard_normal((r, r)))
    V, _ = np.linalg.qr(rng.standard_normal((p, r)))
    s = np.zeros(r)
    s[: len(SPECTRA[spectrum])] = np.sqrt(SPECTRA[spectrum])  # B's singular values
    Bf = (U * s) @ V.T  # r x p, G = Bf^T Bf has eigenvalues SPECTRA and zeros
    G = Bf.T @ Bf
    C = rng.standard_normal((p, K))
    rhs = rng.standard_normal((p, K))
    fq = _compressed(Bf, C, 1.0)
    expected = _dense_shifted(G, rhs, rho)
    _close(fq.shifted_solve(rhs, rho), expected, 1e-8)
    _close(fq.shifted_solve(rhs, 2 * rho), _dense_shifted(G, rhs, 2 * rho), 1e-8)
    _close(fq.shifted_solve(rhs, rho), expected, 1e-8)  # and back
    _close(fq.shifted_solve(rhs, rho), Quadratic(G, C, 1.0).shifted_solve(rhs, rho), 1e-8)
    assert fq.lipschitz == pytest.approx(max(SPECTRA[spectrum]), rel=1e-10, abs=1e-14)
    W = rng.standard_normal((p, K))
    _close(fq.gram_apply(W), G @ W, 1e-12)


@PROPERTY
@given(seed=st.integers(0, 2**16), r=st.integers(1, 6), extra=st.integers(1, 6),
       log_eigs=st.lists(st.floats(-12.0, 3.0) | st.just(-np.inf), min_size=1, max_size=6),
       log_rho=st.floats(-6.0, 4.0))
def test_factored_gram_agrees_with_the_dense_gram(seed, r, extra, log_eigs, log_rho):
    rng = np.random.default_rng(seed)
    p = r + extra
    eigs = np.zeros(r)
    vals = np.exp(np.array(log_eigs, dtype=float) * np.log(10.0))[:r]
    eigs[: vals.size] = vals
    U, _ = np.linalg.qr(rng.standard_normal((r, r)))
    V, _ = np.linalg.qr(rng.standard_normal((p, r)))
    Bf = (U * np.sqrt(eigs)) @ V.T
    G = Bf.T @ Bf
    C, rhs = rng.standard_normal((p, 2)), rng.standard_normal((p, 2))
    rho = 10.0**log_rho
    fq = _compressed(Bf, C, 3.0)
    _close(fq.shifted_solve(rhs, rho), _dense_shifted(G, rhs, rho), 1e-7)
    assert fq.lipschitz == pytest.approx(eigs.max(), rel=1e-9, abs=1e-13)
    W = rng.standard_normal((p, 2))
    rr, ry = fq.residual_terms(W, fq.gram_apply(W))
    dense = Quadratic(G, C, 3.0)
    assert rr == pytest.approx(dense.residual_terms(W, dense.gram_apply(W))[0], rel=1e-9,
                               abs=1e-9)
    assert ry == pytest.approx(dense.residual_terms(W, dense.gram_apply(W))[1], rel=1e-12)


def test_factored_gram_works_on_the_small_side():
    """The Lipschitz constant (exact, and the power estimate below it) from ``M`` alone,
    never through ``E``; products through ``E`` and ``M``; no eigenbasis rotation."""
    rng = np.random.default_rng(4)
    Bf = rng.standard_normal((3, 6))
    G = Bf.T @ Bf
    calls = []
    fq = _compressed(Bf, rng.standard_normal((6, 1)), 1.0, calls)
    top = float(np.linalg.eigvalsh(G)[-1])
    estimate, exact = fq.lipschitz_estimate()
    assert not exact and 0.5 * top <= estimate <= top * (1 + 1e-12)
    assert fq.lipschitz == pytest.approx(top, rel=1e-12)
    assert calls == []
    W = rng.standard_normal((6, 1))
    _close(fq.gram_apply(W), G @ W, 1e-12)
    assert calls == ["compress", "expand"]
    with pytest.raises(NotImplementedError, match="factored"):
        fq.diagonalized()


# --- the eigenbasis ---------------------------------------------------------------------------


@PROPERTY
@given(seed=st.integers(0, 2**16), p=st.integers(1, 7), K=st.integers(1, 3),
       rank=st.integers(0, 7))
def test_diagonalized_program_is_the_same_program(seed, p, K, rank):
    """In the eigenbasis ``V`` of ``G`` (``W = V W'``) the value, gradient and shifted
    solves are those of the original program, for Grams of any rank."""
    A, Y = _data(seed, 10, p, K, spectrum=np.linspace(2.0, 0.1, min(rank, p)) if rank else [0.0])
    f = Quadratic(*gram_statistics(A, Y))
    g, V = f.diagonalized()
    assert g.diagonal and V is not None
    assert np.all(g.gram >= 0)
    Wp = np.random.default_rng(seed + 9).standard_normal((p, K))
    W = V @ Wp
    assert g.value(Wp) == pytest.approx(f.value(W), rel=1e-9, abs=1e-12)
    _close(V @ g.correlation(Wp), f.correlation(W), 1e-9)
    assert g.lipschitz == pytest.approx(f.lipschitz, rel=1e-9, abs=1e-12)
    _close(V @ g.shifted_solve(Wp, 0.3), f.shifted_solve(W, 0.3), 1e-9)
    same, none = g.diagonalized()
    assert same is g and none is None
