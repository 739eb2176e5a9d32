r"""Patch extraction for convolutional networks, and real DFT helpers (MATH.md 2, 3).

Patches
-------
The input layout is told by the number of dimensions, the same everywhere in sdpnets:
``(n, length)`` single-channel 1-D signals, ``(n, channels, length)`` multi-channel 1-D
signals, ``(n, channels, height, width)`` images. :func:`extract_patches` returns the
tensor ``P`` of shape ``(n, K, h)`` with

.. math::

    P[i, k, :] = \operatorname{vec}\big(x_i[:, s k : s k + q]\big)
    \qquad (\text{1-D; 2-D analogously, row-major over output positions}),

the ``k``-th patch of sample ``i`` flattened in ``(channel, row, column)`` order, so that
``P[:, k, :] @ u`` is the cross-correlation (the "convolution" of deep learning) of the
data with the filter ``u.reshape(channels, *kernel_size)`` at output position ``k``.
Zero padding adds ``padding`` zeros on both sides of each spatial axis; ``mode="circular"``
treats every signal as periodic (patch ``k`` is ``x[(s k + t) mod L]``, ``ceil(L/s)``
positions per axis).

Real DFT
--------
For a real vector (or image) ``b`` of ``D`` entries its DFT ``B = F b`` satisfies
``B_{-k} = conj(B_k)``. Frequencies ``k`` and ``-k`` form one *group*: a pair (two real
coordinates, cosine and sine) or a singleton when ``k = -k`` (``k = 0`` and the Nyquist
frequencies). :func:`real_dft` maps ``b`` to the coordinates ``z = Phi^T b`` in the
orthonormal real Fourier basis ``Phi``, with ``|B_k| = sqrt(D) |z_k|`` for singletons and
``|B_k| = sqrt(D/2) ||z_g||_2`` for pairs; :func:`inverse_real_dft` is its inverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from ._validate import check_array
from .errors import InvalidInputError

#: A size per spatial axis: one int for every axis, or a tuple with one int per axis.
Size = int | tuple[int, ...]

__all__ = [
    "Size",
    "PatchSpec",
    "as_image_batch",
    "spatial_tuple",
    "patch_spec",
    "extract_patches",
    "DFTGroups",
    "dft_groups",
    "real_dft",
    "inverse_real_dft",
    "spectrum_from_real",
    "real_from_spectrum",
]


# --- patches ---------------------------------------------------------------------------------


def as_image_batch(X, name: str = "X") -> np.ndarray:
    """Validate ``X`` and return it with an explicit channel axis:
    ``(n, C, L)`` for 1-D signals, ``(n, C, H, W)`` for images."""
    X = check_array(X, name, (2, 3, 4))
    return X[:, None, :] if X.ndim == 2 else X


def spatial_tuple(value, name: str, ndim: int, minimum: int) -> tuple[int, ...]:
    """An int or a tuple of ``ndim`` ints, each ``>= minimum``."""
    items = value if isinstance(value, (tuple, list)) else (value,) * ndim
    if len(items) != ndim:
        raise InvalidInputError(
            f"{name} must be an integer or a tuple of {ndim} integers for "
            f"{ndim}-D inputs, got {value!r}."
        )
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (Integral, np.integer)):
            raise InvalidInputError(f"{name} must hold integers, got {value!r}.")
        if v < minimum:
            raise InvalidInputError(f"{name} must be >= {minimum}, got {value!r}.")
        out.append(int(v))
    return tuple(out)


@dataclass(frozen=True)
class PatchSpec:
    """Geometry of a convolution: kernel, stride, padding, mode and the resulting patches.

    Attributes
    ----------
    channels : int
    spatial : tuple of int
        ``(length,)`` or ``(height, width)`` of the input.
    kernel_size, stride, padding : tuple of int
        One entry per spatial axis.
    mode : {"zeros", "circular"}
    out_shape : tuple of int
        Number of output positions per spatial axis; ``K = prod(out_shape)``.
    """

    channels: int
    spatial: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    mode: str
    out_shape: tuple[int, ...]

    @property
    def n_patches(self) -> int:
        """``K``, the number of patches per sample."""
        return int(np.prod(self.out_shape))

    @property
    def patch_size(self) -> int:
        """``h = channels * prod(kernel_size)``, the length of a flattened patch."""
        return self.channels * int(np.prod(self.kernel_size))

    @property
    def filter_shape(self) -> tuple[int, ...]:
        """Shape of one filter: ``(channels, *kernel_size)``."""
        return (self.channels, *self.kernel_size)


def patch_spec(
    input_shape: tuple[int, ...],
    kernel_size: Size,
    stride: Size = 1,
    padding: Size = 0,
    mode: str = "zeros",
) -> PatchSpec:
    """Check the convolution geometry against ``input_shape`` = ``X.shape[1:]`` of an
    ``(n, C, L)`` or ``(n, C, H, W)`` batch, and compute the output positions.

    Raises
    ------
    InvalidInputError
        Kernel larger than the (padded) signal, stride or kernel < 1, padding < 0,
        padding with ``mode="circular"``, or an unknown mode.
    """
    channels, spatial = int(input_shape[0]), tuple(int(s) for s in input_shape[1:])
    nd = len(spatial)
    if mode not in ("zeros", "circular"):
        raise InvalidInputError(f"mode must be 'zeros' or 'circular', got {mode!r}.")
    kernel = spatial_tuple(kernel_size, "kernel_size", nd, 1)
    stride = spatial_tuple(stride, "stride", nd, 1)
    padding = spatial_tuple(padding, "padding", nd, 0)
    if mode == "circular" and any(padding):
        raise InvalidInputError(
            "padding must be 0 with mode='circular' (a periodic signal needs no padding)."
        )
    padded = tuple(s + 2 * p for s, p in zip(spatial, padding))
    if any(k > s for k, s in zip(kernel, padded)):
        what = "signal length" if nd == 1 else "image size"
        raise InvalidInputError(
            f"kernel_size {kernel if nd > 1 else kernel[0]} is larger than the {what} "
            f"{padded if nd > 1 else padded[0]} (including padding {padding if nd > 1 else padding[0]})."
        )
    if mode == "circular":
        out = tuple(-(-s // st) for s, st in zip(spatial, stride))
    else:
        out = tuple((s - k) // st + 1 for s, k, st in zip(padded, kernel, stride))
    return PatchSpec(channels, spatial, kernel, stride, padding, mode, out)


def extract_patches(
    X: np.ndarray,
    kernel_size: Size,
    stride: Size = 1,
    padding: Size = 0,
    mode: str = "zeros",
) -> np.ndarray:
    r"""All patches of every sample, vectorized (no loop over samples or positions).

    Parameters
    ----------
    X : array_like, shape (n, L), (n, C, L) or (n, C, H, W)
    kernel_size : int or tuple of int
    stride : int or tuple of int
    padding : int or tuple of int
        Zeros added on both sides of each spatial axis.
    mode : {"zeros", "circular"}

    Returns
    -------
    ndarray, shape (n, K, h)
        ``K`` output positions (row-major for images), ``h = C * prod(kernel_size)``;
        ``P[:, k] @ u`` is the cross-correlation of ``X`` with the filter ``u`` at ``k``.
    """
    Xc = as_image_batch(X)
    spec = patch_spec(Xc.shape[1:], kernel_size, stride, padding, mode)
    return patches_from_spec(Xc, spec)


def patches_from_spec(Xc: np.ndarray, spec: PatchSpec) -> np.ndarray:
    """:func:`extract_patches` for an already validated ``(n, C, ...)`` batch."""
    nd = len(spec.spatial)
    axes = tuple(range(2, 2 + nd))
    if spec.mode == "circular":
        widths = [(0, 0), (0, 0)] + [(0, k - 1) for k in spec.kernel_size]
        Xp = np.pad(Xc, widths, mode="wrap")
    elif any(spec.padding):
        Xp = np.pad(Xc, [(0, 0), (0, 0)] + [(p, p) for p in spec.padding])
    else:
        Xp = Xc
    windows = np.lib.stride_tricks.sliding_window_view(Xp, spec.kernel_size, axis=axes)
    # windows: (n, C, *positions, *kernel); keep every stride-th position
    index = (slice(None), slice(None)) + tuple(
        slice(None, o * st, st) for o, st in zip(spec.out_shape, spec.stride)
    )
    windows = windows[index]
    # -> (n, *positions, C, *kernel)
    order = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))
    n = Xc.shape[0]
    return np.ascontiguousarray(windows.transpose(order)).reshape(
        n, spec.n_patches, spec.patch_size
    )


# --- real DFT ----------------------------------------------------------------------------------


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
