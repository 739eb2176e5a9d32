r"""Patch extraction for convolutional networks (docs/linear_cnn.md).

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from .._validate import check_array
from ..errors import InvalidInputError, ProblemTooLargeError

#: Largest number of floats a patch geometry may ask for (per sample in :func:`patch_spec`,
#: for the whole batch in :func:`extract_patches`): 2**28 floats are 2 GiB.
MAX_PATCH_FLOATS = 2**28

#: A size per spatial axis: one int for every axis, or a tuple with one int per axis.
Size = int | tuple[int, ...]

__all__ = [
    "Size",
    "PatchSpec",
    "as_image_batch",
    "spatial_tuple",
    "patch_spec",
    "extract_patches",
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
    if not isinstance(mode, str) or mode not in ("zeros", "circular"):
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
            f"{padded if nd > 1 else padded[0]} of X (including padding "
            f"{padding if nd > 1 else padding[0]})."
        )
    if mode == "circular":
        out = tuple(-(-s // st) for s, st in zip(spatial, stride))
    else:
        out = tuple((s - k) // st + 1 for s, k, st in zip(padded, kernel, stride))
    padded_floats = channels * math.prod(padded)
    patch_floats = math.prod(out) * channels * math.prod(kernel)
    if max(padded_floats, patch_floats) > MAX_PATCH_FLOATS:
        raise ProblemTooLargeError(
            f"this convolution geometry (padding {padding if nd > 1 else padding[0]}, kernel "
            f"{kernel if nd > 1 else kernel[0]}, stride {stride if nd > 1 else stride[0]}) needs "
            f"{patch_floats:,} patch entries and a padded input of {padded_floats:,} floats per "
            f"sample ({8 * max(padded_floats, patch_floats) / 2**30:,.3g} GiB), more than the "
            f"{MAX_PATCH_FLOATS:,} allowed: reduce padding or kernel_size, or raise stride."
        )
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
    total = Xc.shape[0] * spec.n_patches * spec.patch_size
    if total > MAX_PATCH_FLOATS:
        raise ProblemTooLargeError(
            f"the patches of {Xc.shape[0]} samples would be an array of {total:,} floats "
            f"({8 * total / 2**30:,.3g} GiB), more than the {MAX_PATCH_FLOATS:,} allowed; "
            "the convex programs never build it (they reduce through X itself)."
        )
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
