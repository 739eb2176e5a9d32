r"""Sufficient statistics of least-squares data, in memory or in one pass over a Dask array.

Every least-squares family of sdpnets needs its data only through

.. math::

    G = X^TX,\qquad C = X^TY,\qquad \|Y\|_F^2

(``X`` flattened to ``n x D``), certificates included. For data that do not fit in memory,
``X`` and ``y`` may be ``dask.array`` arrays chunked by rows: :func:`dask_statistics` computes
the three statistics, and checks every block for NaN/inf, in one map-reduce on the active
Dask scheduler (a ``distributed.Client`` when one is active, the threaded scheduler
otherwise). Dask is imported only when a Dask array is given.

After the pass, a formulation is built on :func:`surrogate_data`: at most ``D + 1`` rows
with exactly the same statistics, so the program, its solution, its certificate and the
recovered network are those of the full data, and nothing reads the data again.

A ``scipy.sparse`` ``X`` is read the same way (:func:`sparse_statistics`): the statistics
are sparse products, and only the ``D x D`` Gram matrix is dense, refused with
:class:`~sdpnets.ProblemTooLargeError` when it would not fit in memory. Centering (an
unpenalized intercept of a least-squares family: :math:`X - 1\bar x^T`, :math:`Y -
1\bar y^T`) is a rank-one update of the statistics, so it never densifies ``X`` either.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._units import available_memory, format_bytes
from ..errors import InvalidInputError, ProblemTooLargeError

__all__ = [
    "DataStatistics",
    "is_dask_array",
    "is_sparse",
    "sparse_statistics",
    "GRAM_COPIES",
    "dask_statistics",
    "reduce_from_gram",
    "surrogate_data",
    "materialize",
]


@dataclass(frozen=True)
class DataStatistics:
    r"""The sufficient statistics of ``(X, Y)``.

    Attributes
    ----------
    gram : ndarray, shape (D, D)
        :math:`X^TX`, ``X`` flattened to ``n x D``.
    corr : ndarray, shape (D, K)
        :math:`X^TY`.
    yy : float
        :math:`\|Y\|_F^2`.
    n : int
        Number of samples.
    sample_shape : tuple of int
        ``X.shape[1:]``.
    target_shape : tuple of int
        ``Y.shape``.
    pass_time : float
        Seconds the pass over the data took.
    """

    gram: np.ndarray
    corr: np.ndarray
    yy: float
    n: int
    sample_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    pass_time: float = 0.0


def is_dask_array(a: Any) -> bool:
    """Whether ``a`` is a ``dask.array.Array`` (checked without importing Dask)."""
    return type(a).__module__.split(".")[0] == "dask" and hasattr(a, "chunks")


def is_sparse(a: Any) -> bool:
    """Whether ``a`` is a ``scipy.sparse`` matrix or array."""
    import scipy.sparse as sp

    return bool(sp.issparse(a))


#: Dense ``D x D`` arrays a sparse input's statistics hold at once (the Gram matrix, its
#: eigenvectors and a product), the memory :func:`sparse_statistics` checks first.
GRAM_COPIES = 3


def sparse_statistics(X, y, center: bool = False,
                      memory: int | None = None) -> tuple[DataStatistics, np.ndarray, np.ndarray]:
    r"""The statistics of a ``scipy.sparse`` ``X`` (``n x D``) and dense ``y``, without
    densifying ``X``; with ``center``, those of :math:`X - 1\bar x^T`, :math:`Y - 1\bar y^T`.

    Returns ``(statistics, x_mean, y_mean)`` (zeros without ``center``).

    Raises
    ------
    ProblemTooLargeError
        When the dense ``D x D`` Gram matrix (:data:`GRAM_COPIES` copies) would not fit in
        ``memory`` bytes (default: the memory available now).
    InvalidInputError
        For NaN or infinite values, or ``y`` of the wrong length.
    """
    import scipy.sparse as sp

    X = sp.csr_matrix(X, dtype=np.float64)
    n, D = X.shape
    need = GRAM_COPIES * 8 * D * D
    memory = available_memory() if memory is None else int(memory)
    if need > memory:
        raise ProblemTooLargeError(
            f"a sparse X with {D:,} columns is read through its dense {D:,} x {D:,} Gram "
            f"matrix, which needs about {format_bytes(need)} ({format_bytes(memory)} "
            "available): reduce the number of features first (e.g. "
            "sklearn.decomposition.TruncatedSVD or feature selection)."
        )
    if not np.all(np.isfinite(X.data)):
        raise InvalidInputError("X contains NaN or infinite values.")
    Y = np.asarray(y, dtype=np.float64)
    if Y.shape[0] != n:
        raise InvalidInputError(f"y must have one row per sample of X ({n}), got shape {Y.shape}.")
    if not np.all(np.isfinite(Y)):
        raise InvalidInputError("y contains NaN or infinite values.")
    Y2 = Y.reshape(n, -1)
    G = np.asarray((X.T @ X).toarray())
    C = np.asarray(X.T @ Y2)
    yy = float(np.sum(Y2 * Y2))
    xm, ym = np.zeros(D), np.zeros(Y2.shape[1])
    if center:
        xm = np.asarray(X.mean(axis=0)).reshape(-1)
        ym = Y2.mean(axis=0)
        G = G - n * np.outer(xm, xm)
        C = C - n * np.outer(xm, ym)
        yy = max(yy - n * float(ym @ ym), 0.0)
    G = 0.5 * (G + G.T)
    stats = DataStatistics(G, C, yy, n, (D,), tuple(Y.shape))
    return stats, xm, ym.reshape(Y.shape[1:])


def _block_statistics(xb: np.ndarray, yb: np.ndarray) -> tuple:
    xb = np.asarray(xb, dtype=float)
    yb = np.asarray(yb, dtype=float)
    bad_x = not np.all(np.isfinite(xb))
    bad_y = not np.all(np.isfinite(yb))
    if bad_x or bad_y:  # keep the sums finite; the flags carry the verdict
        xb = np.nan_to_num(xb, nan=0.0, posinf=0.0, neginf=0.0)
        yb = np.nan_to_num(yb, nan=0.0, posinf=0.0, neginf=0.0)
    return xb.T @ xb, xb.T @ yb, float(np.sum(yb * yb)), bad_x, bad_y


def _add(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] or b[3], a[4] or b[4]


def _tree_sum(parts: list):
    import dask

    while len(parts) > 1:
        parts = [dask.delayed(_add)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


def _check_meta(a, name: str, ndims: tuple[int, ...]) -> None:
    dtype = np.dtype(a.dtype)
    if dtype == bool or not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise InvalidInputError(
            f"{name} must hold real numbers (integer or float dtype), got dtype {dtype}."
        )
    if a.ndim not in ndims:
        shapes = " or ".join(f"{k}-D" for k in sorted(ndims))
        raise InvalidInputError(f"{name} must be {shapes}, got shape {a.shape}.")
    if any(s == 0 for s in a.shape):
        raise InvalidInputError(f"{name} must not be empty, got shape {a.shape}.")
    if any(np.isnan(s) for s in a.shape):
        raise InvalidInputError(f"{name} must have known chunk sizes (call compute_chunk_sizes()).")


def dask_statistics(X, y, ndims: tuple[int, ...] = (2,)) -> DataStatistics:
    r""":math:`X^TX`, :math:`X^TY`, :math:`\|Y\|^2` of Dask (or NumPy) arrays in one pass.

    Parameters
    ----------
    X : dask.array.Array or array_like, shape (n, ...)
        Chunked by rows (other axes are merged into one chunk).
    y : dask.array.Array or array_like, shape (n,) or (n, K)
    ndims : tuple of int
        Allowed numbers of dimensions of ``X``.

    Raises
    ------
    InvalidInputError
        Before the pass for wrong shapes or dtypes; after it, naming ``X`` or ``y``, when a
        block holds NaN or infinite values.
    """
    import dask
    import dask.array as da

    X = X if is_dask_array(X) else da.from_array(np.asarray(X))
    y = y if is_dask_array(y) else da.from_array(np.asarray(y))
    _check_meta(X, "X", ndims)
    _check_meta(y, "y", (1, 2))
    n = X.shape[0]
    if y.shape[0] != n:
        raise InvalidInputError(f"y must have one row per sample of X ({n}), got shape {y.shape}.")
    Xf = X.rechunk({i: -1 for i in range(1, X.ndim)}).reshape(n, -1)
    Y2 = y.reshape(n, -1).rechunk((Xf.chunks[0], -1))
    start = time.perf_counter()
    parts = [dask.delayed(_block_statistics)(xb, yb)
             for xb, yb in zip(Xf.to_delayed().ravel(), Y2.to_delayed().ravel())]
    (G, C, yy, bad_x, bad_y), = dask.compute(_tree_sum(parts))
    elapsed = time.perf_counter() - start
    if bad_x:
        raise InvalidInputError("X contains NaN or infinite values.")
    if bad_y:
        raise InvalidInputError("y contains NaN or infinite values.")
    G = 0.5 * (G + G.T)
    return DataStatistics(np.asarray(G), np.asarray(C), float(yy), int(n),
                          tuple(int(s) for s in X.shape[1:]), tuple(int(s) for s in y.shape),
                          elapsed)


def reduce_from_gram(G: np.ndarray, C: np.ndarray, yy: float, rtol: float = 1e-12
                     ) -> tuple[np.ndarray, np.ndarray, float]:
    r"""The reduction of :func:`~sdpnets.formulations.base.reduce_least_squares` from the
    statistics: with :math:`G = V\Lambda V^T`, :math:`R = \Lambda^{1/2}V^T` and
    :math:`Q^TY = \Lambda^{-1/2}V^TC` over the eigenvalues above ``rtol`` times the largest,
    :math:`\|AZ - Y\|^2 = \|RZ - Q^TY\|^2 + \|Y\|^2 - \|Q^TY\|^2`."""
    lam, V = np.linalg.eigh(G)
    keep = lam > rtol * max(float(lam.max(initial=0.0)), 0.0)
    if not np.any(keep):
        R = np.zeros((1, G.shape[0]))
        QtY = np.zeros((1,) + C.shape[1:])
        return R, QtY, max(float(yy), 0.0)
    root = np.sqrt(lam[keep])
    R = root[:, None] * V[:, keep].T
    QtY = (V[:, keep].T @ C) / (root[:, None] if C.ndim == 2 else root)
    offset = max(float(yy) - float(np.sum(QtY * QtY)), 0.0)
    return R, QtY, offset


def surrogate_data(stats: DataStatistics, rtol: float = 1e-13) -> tuple[np.ndarray, np.ndarray]:
    r"""Small data ``(X~, Y~)`` with exactly the statistics of ``stats``.

    With :math:`G = V\Lambda V^T` (eigenvalues above ``rtol`` times the largest),
    :math:`\tilde X = \begin{bmatrix}\Lambda^{1/2}V^T\\ 0\end{bmatrix}` and
    :math:`\tilde Y = \begin{bmatrix}\Lambda^{-1/2}V^TC\\ t\end{bmatrix}` with
    :math:`\|t\|^2 = \|Y\|^2 - \|\Lambda^{-1/2}V^TC\|^2`, so that
    :math:`\|\tilde XZ - \tilde Y\|^2 = \|XZ - Y\|^2` for every ``Z``: a least-squares program,
    its dual values and its certificate are the same on ``(X~, Y~)`` as on the full data,
    which has ``r + 1`` rows (``r = rank X <= D``) instead of ``n``.
    """
    R, QtY, offset = reduce_from_gram(stats.gram, stats.corr, stats.yy, rtol)
    tail = np.zeros((1, QtY.shape[1]))
    tail[0, 0] = np.sqrt(offset)
    Xs = np.vstack([R, np.zeros((1, R.shape[1]))]).reshape(-1, *stats.sample_shape)
    Ys = np.vstack([QtY, tail])
    if len(stats.target_shape) == 1:
        Ys = Ys[:, 0]
    return Xs, Ys


def materialize(X, Y, ndims: tuple[int, ...]) -> tuple[Any, Any, float]:
    """``(X, Y, 0.0)`` for in-memory data; for Dask arrays, one pass computing their
    statistics and the surrogate data of :func:`surrogate_data`, with the pass's seconds;
    for a ``scipy.sparse`` ``X`` (2-D data), the surrogate data of its
    :func:`sparse_statistics`."""
    if is_sparse(X) and 2 in ndims:
        start = time.perf_counter()
        stats, _, _ = sparse_statistics(X, Y)
        Xs, Ys = surrogate_data(stats)
        return Xs, Ys, time.perf_counter() - start
    if not (is_dask_array(X) or is_dask_array(Y)):
        return X, Y, 0.0
    stats = dask_statistics(X, Y, ndims)
    Xs, Ys = surrogate_data(stats)
    return Xs, Ys, stats.pass_time
