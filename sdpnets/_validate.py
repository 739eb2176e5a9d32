"""Input checks shared by every entry point.

Each function raises :class:`~sdpnets.errors.InvalidInputError` (a ``ValueError``)
naming the argument and what was expected, and returns a clean ``float64`` array or value.
"""

from __future__ import annotations

from collections.abc import Collection
from numbers import Integral, Real

import numpy as np

from .errors import InvalidInputError

#: Largest magnitude an input entry may have: squares and products of the data (losses,
#: Gram matrices, certificates, norms of X^T y) must stay finite in float64: fourth powers
#: of 1e50 are 1e200.
MAX_MAGNITUDE = 1e50

#: Entries per block of the validating copy (:func:`_finite_copy`): 512 KiB of float64, a
#: block that stays in a core's cache between its copy and its check.
CHECK_BLOCK = 1 << 16

__all__ = [
    "MAX_MAGNITUDE",
    "check_array",
    "check_data",
    "check_targets",
    "check_beta",
    "check_int",
    "check_choice",
    "check_solve_options",
]


def check_array(a, name: str, ndims: Collection[int] = (2,)) -> np.ndarray:
    """Return a private ``float64`` copy of ``a``, checked finite with one of the allowed
    ``ndims``.

    The copy is what every entry point keeps: a caller who later changes (or puts NaN
    into) their own array does not change the data that were checked.
    """
    if isinstance(a, (str, bytes)) or a is None:
        raise InvalidInputError(f"{name} must be a numeric array, got {type(a).__name__}.")
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists and the like
        raise InvalidInputError(f"{name} must be a numeric array: {exc}") from exc
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise InvalidInputError(
            f"{name} must hold real numbers (integer or float dtype), got dtype {arr.dtype}."
        )
    if arr.ndim not in ndims:
        shapes = " or ".join(f"{k}-D" for k in sorted(ndims))
        raise InvalidInputError(f"{name} must be {shapes}, got shape {arr.shape}.")
    if arr.size == 0:
        raise InvalidInputError(f"{name} must not be empty, got shape {arr.shape}.")
    arr, largest = _finite_copy(arr)
    if not np.isfinite(largest):
        raise InvalidInputError(f"{name} contains NaN or infinite values.")
    if largest > MAX_MAGNITUDE:
        raise InvalidInputError(
            f"{name} has entries as large as {largest:.3g}; sdpnets accepts magnitudes up to "
            f"{MAX_MAGNITUDE:.0e} (losses and certificates square the data, which must stay "
            f"finite in float64): rescale {name}."
        )
    return arr


def _finite_copy(a: np.ndarray) -> tuple[np.ndarray, float]:
    """A ``float64`` copy of ``a`` and its largest magnitude (``nan`` or ``inf`` when an
    entry is not finite), in one pass: the copy is made block by block and each block is
    checked while it is still in cache, instead of a copy followed by separate passes for
    ``isfinite`` and ``abs`` (docs/design_notes.md)."""
    out = np.empty(a.shape, dtype=np.float64)
    flat_out = out.reshape(-1)
    flat_in = a.reshape(-1) if a.flags.c_contiguous else None
    if flat_in is None:  # not contiguous: one copy, then the check block by block
        np.copyto(out, a, casting="same_kind")
    largest = 0.0
    for start in range(0, flat_out.size, CHECK_BLOCK):
        block = flat_out[start:start + CHECK_BLOCK]
        if flat_in is not None:
            np.copyto(block, flat_in[start:start + CHECK_BLOCK], casting="same_kind")
        hi, lo = float(block.max()), float(block.min())
        if not (np.isfinite(hi) and np.isfinite(lo)):
            return out, float("nan")
        largest = max(largest, hi, -lo)
    return out, largest


def check_data(X, ndims: Collection[int] = (2,)) -> np.ndarray:
    """Validate the data matrix/tensor ``X`` (samples along the first axis)."""
    return check_array(X, "X", ndims)


def check_targets(y, n: int, name: str = "y") -> np.ndarray:
    """Validate targets: ``(n,)`` or ``(n, K)`` with ``n`` matching ``X``."""
    y = check_array(y, name, (1, 2))
    if y.shape[0] != n:
        raise InvalidInputError(
            f"{name} must have one row per sample of X ({n}), got shape {y.shape}."
        )
    return y


def check_beta(beta) -> float:
    """``beta`` must be a finite real number > 0."""
    if isinstance(beta, bool) or not isinstance(beta, (Real, np.floating, np.integer)):
        raise InvalidInputError(f"beta must be a positive real number, got {beta!r}.")
    beta = float(beta)
    if not np.isfinite(beta) or beta <= 0:
        raise InvalidInputError(f"beta must be a finite number > 0, got {beta!r}.")
    return beta


def check_int(value, name: str, minimum: int | None = None) -> int:
    """An integer (not bool), optionally ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (Integral, np.integer)):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}.")
    value = int(value)
    if minimum is not None and value < minimum:
        raise InvalidInputError(f"{name} must be >= {minimum}, got {value}.")
    return value


def check_choice(value, name: str, choices: Collection[str]) -> str:
    """One of a fixed set of strings."""
    if not isinstance(value, str) or value not in list(choices):
        options = ", ".join(repr(c) for c in choices)
        raise InvalidInputError(f"{name} must be one of {options}, got {value!r}.")
    return value


def check_solve_options(tol, max_iters, time_limit) -> None:
    """``0 < tol < 1`` (a relative tolerance); ``max_iters`` ``None`` or an integer >= 1;
    ``time_limit`` ``None`` or > 0 (``inf``: no limit)."""
    if (
        isinstance(tol, bool)
        or not isinstance(tol, (int, float, np.floating))
        or not 0 < tol < 1
    ):
        raise InvalidInputError(
            f"tol must be a number with 0 < tol < 1 (a relative tolerance), got {tol!r}."
        )
    if max_iters is not None and (
        isinstance(max_iters, bool) or not isinstance(max_iters, (int, np.integer)) or max_iters < 1
    ):
        raise InvalidInputError(f"max_iters must be None or an integer >= 1, got {max_iters!r}.")
    if time_limit is not None and (
        isinstance(time_limit, bool)
        or not isinstance(time_limit, (int, float, np.floating))
        or not time_limit > 0
    ):
        raise InvalidInputError(f"time_limit must be None or a number > 0, got {time_limit!r}.")
