r"""Real DFT coordinates and conjugate-symmetric frequency groups (1-D and 2-D).

For a real vector (or image) ``b`` of ``D`` entries its DFT ``B = F b`` (``F`` the
unnormalized DFT, ``numpy.fft.fftn``) satisfies ``B_{-k} = conj(B_k)``. Frequencies ``k``
and ``-k`` form one *group*: a pair (two real coordinates, cosine and sine) or a singleton
when ``k = -k`` (``k = 0`` and the Nyquist frequencies). :func:`real_dft` maps ``b`` to the
coordinates ``z = Phi^T b`` in the orthonormal real Fourier basis ``Phi``, with
``|B_k| = sqrt(D) |z_k|`` for singletons and ``|B_k| = sqrt(D/2) ||z_g||_2`` for pairs;
:func:`inverse_real_dft` is its inverse. The circular-CNN formulation and sdpnets' own
first-order solvers both work in these coordinates, where the Fourier l1 penalty of a
circular CNN is a group lasso.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DFTGroups",
    "dft_groups",
    "real_dft",
    "inverse_real_dft",
    "spectrum_from_real",
    "real_from_spectrum",
]


@dataclass(frozen=True)
class DFTGroups:
    r"""Conjugate-symmetric frequency groups of a real signal of shape ``shape``.

    Attributes
    ----------
    shape : tuple of int
        ``(d,)`` or ``(H, W)``; ``D = prod(shape)``.
    single : ndarray of int
        Flat indices of the self-conjugate frequencies (``k = -k``), one real coordinate each.
    pair : ndarray of int
        Flat index of one representative ``k`` of each pair ``{k, -k}``, two real
        coordinates each (cosine, sine).
    pair_partner : ndarray of int
        Flat index of ``-k`` for each representative.
    """

    shape: tuple[int, ...]
    single: np.ndarray
    pair: np.ndarray
    pair_partner: np.ndarray

    @property
    def size(self) -> int:
        """``D``, the number of real coordinates."""
        return int(np.prod(self.shape))

    @property
    def n_groups(self) -> int:
        return self.single.size + self.pair.size

    @property
    def group_sizes(self) -> np.ndarray:
        """1 for each singleton, then 2 for each pair (the coordinate order of
        :func:`real_dft`)."""
        return np.concatenate([np.ones(self.single.size, int), np.full(self.pair.size, 2)])

    @property
    def column_groups(self) -> np.ndarray:
        """Group index of each real coordinate (length ``D``)."""
        s = self.single.size
        return np.concatenate(
            [np.arange(s), s + np.repeat(np.arange(self.pair.size), 2)]
        )

    @property
    def frequencies(self) -> np.ndarray:
        """Frequency (multi-index, one row per group) of each group's representative."""
        flat = np.concatenate([self.single, self.pair])
        return np.stack(np.unravel_index(flat, self.shape), axis=1)


def dft_groups(shape) -> DFTGroups:
    """The conjugate-symmetric groups of the DFT of a real array of ``shape``."""
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    neg = np.ravel_multi_index(tuple((-g) % s for g, s in zip(grids, shape)), shape).ravel()
    flat = np.arange(int(np.prod(shape)))
    single = flat[neg == flat]
    rep = flat[flat < neg]
    return DFTGroups(shape, single, rep, neg[rep])


def real_dft(b: np.ndarray, groups: DFTGroups) -> np.ndarray:
    r"""Coordinates ``z = Phi^T b`` in the orthonormal real Fourier basis.

    ``b`` has shape ``(..., *groups.shape)``; the result has shape ``(..., D)``: the
    singletons first (:math:`z = \mathrm{Re}\,B_k/\sqrt D`), then for each pair the cosine
    and sine coordinates (:math:`\sqrt{2/D}\,(\mathrm{Re}\,B_k, -\mathrm{Im}\,B_k)`).
    """
    nd = len(groups.shape)
    B = np.fft.fftn(b, axes=tuple(range(-nd, 0))).reshape(*b.shape[:-nd], -1)
    return _coords_from_spectrum(B, groups)


def _coords_from_spectrum(B: np.ndarray, groups: DFTGroups) -> np.ndarray:
    D = groups.size
    single = B[..., groups.single].real / np.sqrt(D)
    pair = B[..., groups.pair] * np.sqrt(2.0 / D)
    pair = np.stack([pair.real, -pair.imag], axis=-1).reshape(*B.shape[:-1], -1)
    return np.concatenate([single, pair], axis=-1)


def spectrum_from_real(z: np.ndarray, groups: DFTGroups) -> np.ndarray:
    """The full DFT ``B = F b`` (shape ``(..., *groups.shape)``, complex) of the real
    array ``b`` whose real-basis coordinates are ``z`` (shape ``(..., D)``)."""
    z = np.asarray(z, dtype=float)
    D, s = groups.size, groups.single.size
    lead = z.shape[:-1]
    B = np.zeros((*lead, D), dtype=complex)
    B[..., groups.single] = np.sqrt(D) * z[..., :s]
    zp = z[..., s:].reshape(*lead, -1, 2)
    Bk = np.sqrt(D / 2.0) * (zp[..., 0] - 1j * zp[..., 1])
    B[..., groups.pair] = Bk
    B[..., groups.pair_partner] = np.conj(Bk)
    return B.reshape(*lead, *groups.shape)


def inverse_real_dft(z: np.ndarray, groups: DFTGroups) -> np.ndarray:
    """``b = Phi z``: the real array (shape ``(..., *groups.shape)``) with coordinates ``z``."""
    nd = len(groups.shape)
    return real_from_spectrum(spectrum_from_real(z, groups), nd)


def real_from_spectrum(B: np.ndarray, nd: int) -> np.ndarray:
    """Inverse DFT over the last ``nd`` axes of a conjugate-symmetric spectrum (real part)."""
    return np.fft.ifftn(B, axes=tuple(range(-nd, 0))).real
