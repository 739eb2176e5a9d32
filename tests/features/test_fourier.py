"""Real DFT coordinates against the dense definition."""

from __future__ import annotations

import numpy as np
import pytest

from sdpnets.features.fourier import dft_groups, inverse_real_dft, real_dft


@pytest.mark.parametrize("shape", [(7,), (8,), (1,), (2,), (5, 7), (4, 6), (3, 8), (8, 3), (1, 5), (6, 1)])
def test_real_dft_is_the_orthonormal_real_fourier_basis(rng, shape):
    """The real FFT's half spectrum gives every group: z = Phi^T b with Phi the orthonormal
    real Fourier basis built from the full complex DFT (singletons Re B_k / sqrt D, pairs
    sqrt(2/D) (Re B_k, -Im B_k) at the representative k)."""
    g = dft_groups(shape)
    D = g.size
    b = rng.standard_normal((3, 2) + shape)
    B = np.fft.fftn(b, axes=tuple(range(-len(shape), 0))).reshape(3, 2, D)
    pair = np.sqrt(2.0 / D) * B[..., g.pair]
    dense = np.concatenate(
        [B[..., g.single].real / np.sqrt(D),
         np.stack([pair.real, -pair.imag], axis=-1).reshape(3, 2, -1)], axis=-1)
    z = real_dft(b, g)
    np.testing.assert_allclose(z, dense, atol=1e-12)
    # orthonormal: the basis' Gram is the identity, and the inverse recovers b
    Phi = real_dft(np.eye(D).reshape((D,) + shape), g)
    np.testing.assert_allclose(Phi.T @ Phi, np.eye(D), atol=1e-12)
    np.testing.assert_allclose(inverse_real_dft(z, g), b, atol=1e-12)
