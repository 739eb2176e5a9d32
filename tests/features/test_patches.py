"""Patch extraction against scipy.signal's direct correlation; real DFT helpers against the
explicit cosine/sine basis."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

import sdpnets as sn
from sdpnets.features.fourier import dft_groups, inverse_real_dft, real_dft, spectrum_from_real
from sdpnets.features.patches import extract_patches, patch_spec


def _reference_correlation(X, u, stride, padding):
    """Cross-correlation of each sample with the full-depth filter ``u`` by scipy, padded
    and strided, flattened over output positions: shape (n, K)."""
    nd = u.ndim - 1
    Xp = np.pad(X, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    out = scipy.signal.correlate(Xp, u[None], mode="valid", method="direct")[:, 0]
    step = (slice(None),) + tuple(slice(None, None, s) for s in stride)
    return out[step].reshape(X.shape[0], -1)


@pytest.mark.parametrize(
    "shape, kernel, stride, padding",
    [
        ((4, 11), 3, 1, 0),
        ((4, 11), 4, 2, 1),
        ((3, 2, 9), 3, 3, 2),
        ((3, 3, 7, 6), (3, 2), (2, 1), (1, 0)),
        ((2, 1, 5, 5), 5, 1, 0),
        ((2, 2, 6, 7), 2, (3, 2), 2),
    ],
)
def test_patches_match_scipy_correlation(shape, kernel, stride, padding):
    rng = np.random.default_rng(0)
    X = rng.standard_normal(shape)
    Xc = X[:, None] if X.ndim == 2 else X
    spec = patch_spec(Xc.shape[1:], kernel, stride, padding)
    u = rng.standard_normal(spec.filter_shape)
    P = extract_patches(X, kernel, stride, padding)
    assert P.shape == (shape[0], spec.n_patches, spec.patch_size)
    ref = _reference_correlation(Xc, u, spec.stride, spec.padding)
    np.testing.assert_allclose(P @ u.ravel(), ref, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3),
    channels=st.integers(1, 3),
    length=st.integers(1, 9),
    kernel=st.integers(1, 9),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_patches_property_1d(n, channels, length, kernel, stride, padding, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, channels, length))
    if kernel > length + 2 * padding:
        with pytest.raises(sn.InvalidInputError, match="kernel_size"):
            extract_patches(X, kernel, stride, padding)
        return
    u = rng.standard_normal((channels, kernel))
    P = extract_patches(X, kernel, stride, padding)
    np.testing.assert_allclose(
        P @ u.ravel(), _reference_correlation(X, u, (stride,), (padding,)), atol=1e-12
    )


@pytest.mark.parametrize("shape, kernel, stride", [((3, 10), 4, 1), ((3, 10), 3, 3), ((2, 2, 5, 6), (2, 3), (2, 2))])
def test_circular_patches_wrap_around(shape, kernel, stride):
    """Circular patches = valid correlation of the periodically extended signal."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal(shape)
    Xc = X[:, None] if X.ndim == 2 else X
    spec = patch_spec(Xc.shape[1:], kernel, stride, mode="circular")
    u = rng.standard_normal(spec.filter_shape)
    tiled = np.tile(Xc, (1, 1) + (2,) * (Xc.ndim - 2))
    full = scipy.signal.correlate(tiled, u[None], mode="valid", method="direct")[:, 0]
    index = (slice(None),) + tuple(
        slice(0, L, s) for L, s in zip(spec.spatial, spec.stride)
    )
    ref = full[index].reshape(X.shape[0], -1)
    P = extract_patches(X, kernel, stride, mode="circular")
    assert spec.out_shape == tuple(-(-L // s) for L, s in zip(spec.spatial, spec.stride))
    np.testing.assert_allclose(P @ u.ravel(), ref, atol=1e-12)


def test_layouts_agree():
    """(n, L) is the single-channel case of (n, 1, L)."""
    X = np.arange(24.0).reshape(3, 8)
    np.testing.assert_array_equal(extract_patches(X, 3, 2, 1), extract_patches(X[:, None], 3, 2, 1))


@pytest.mark.parametrize(
    "X, kwargs, match",
    [
        (np.ones((2, 5)), dict(kernel_size=6), "kernel_size 6 is larger than the signal length 5"),
        (np.ones((2, 5)), dict(kernel_size=8, padding=1), "kernel_size 8 is larger than the signal length 7"),
        (np.ones((2, 1, 4, 4)), dict(kernel_size=(2, 5)), "larger than the image size"),
        (np.ones((2, 5)), dict(kernel_size=2, stride=0), "stride must be >= 1"),
        (np.ones((2, 5)), dict(kernel_size=0), "kernel_size must be >= 1"),
        (np.ones((2, 5)), dict(kernel_size=2, padding=-1), "padding must be >= 0"),
        (np.ones((2, 5)), dict(kernel_size=2.5), "kernel_size must hold integers"),
        (np.ones((2, 1, 4, 4)), dict(kernel_size=(2, 2, 2)), "tuple of 2 integers"),
        (np.ones((2, 5)), dict(kernel_size=2, mode="reflect"), "mode must be"),
        (np.ones((2, 5)), dict(kernel_size=2, padding=1, mode="circular"), "padding must be 0"),
        (np.ones(5), dict(kernel_size=2), "X must be 2-D or 3-D or 4-D"),
        (np.full((2, 5), np.nan), dict(kernel_size=2), "X contains NaN"),
    ],
)
def test_bad_geometry_is_a_clear_error(X, kwargs, match):
    with pytest.raises(sn.InvalidInputError, match=match):
        extract_patches(X, **kwargs)


# --- real DFT -------------------------------------------------------------------------------


def _explicit_real_basis(d: int) -> np.ndarray:
    """Orthonormal real Fourier basis in sdpnets' column order, from cos/sin formulas."""
    t = np.arange(d)
    cols = [np.ones(d) / np.sqrt(d)]
    if d % 2 == 0:
        cols.append((-1.0) ** t / np.sqrt(d))
    for k in range(1, (d + 1) // 2):
        cols.append(np.sqrt(2 / d) * np.cos(2 * np.pi * k * t / d))
        cols.append(np.sqrt(2 / d) * np.sin(2 * np.pi * k * t / d))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("d", [1, 2, 5, 8, 9])
def test_real_dft_is_the_orthonormal_cos_sin_basis(d):
    groups = dft_groups((d,))
    Phi = _explicit_real_basis(d)
    np.testing.assert_allclose(Phi.T @ Phi, np.eye(d), atol=1e-12)
    b = np.random.default_rng(d).standard_normal((3, d))
    np.testing.assert_allclose(real_dft(b, groups), b @ Phi, atol=1e-12)
    np.testing.assert_allclose(inverse_real_dft(b @ Phi, groups), b, atol=1e-12)


@pytest.mark.parametrize("shape", [(6,), (7,), (4, 6), (3, 5), (4, 4)])
def test_real_coordinates_give_the_dft_moduli(shape):
    """|B_k| = sqrt(D)|z| on self-conjugate frequencies, sqrt(D/2)||z_g|| on pairs; Parseval."""
    groups = dft_groups(shape)
    D = groups.size
    b = np.random.default_rng(3).standard_normal(shape)
    z = real_dft(b, groups)
    B = np.fft.fftn(b)
    np.testing.assert_allclose(spectrum_from_real(z, groups), B, atol=1e-10)
    s = groups.single.size
    pair_norms = np.linalg.norm(z[s:].reshape(-1, 2), axis=1)
    np.testing.assert_allclose(np.abs(B.ravel()[groups.single]), np.sqrt(D) * np.abs(z[:s]), atol=1e-10)
    np.testing.assert_allclose(np.abs(B.ravel()[groups.pair]), np.sqrt(D / 2) * pair_norms, atol=1e-10)
    np.testing.assert_allclose(np.abs(B.ravel()[groups.pair_partner]), np.sqrt(D / 2) * pair_norms, atol=1e-10)
    assert np.isclose(np.sum(z * z), np.sum(b * b))
    # every frequency belongs to exactly one group
    covered = np.concatenate([groups.single, groups.pair, groups.pair_partner])
    assert sorted(covered.tolist()) == list(range(D))
