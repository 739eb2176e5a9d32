r"""Least-squares helpers shared by the formulations: the QR reduction that makes a conic
program's size independent of ``n``,

.. math::

    \|AZ - Y\|^2 = \|RZ - Q^TY\|^2 + \|Y\|^2 - \|Q^TY\|^2 \qquad (A = QR),

and the data scales the equilibration of :class:`~sdpnets.formulations.base.ConvexProgram`
reads.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "reduce_least_squares",
    "ORDINARY_RANGE",
    "ordinary_or",
    "safe_norm",
    "column_scale",
]

#: Data scales (column norms, ``||y||``, column-norm ratios) within this factor of 1 are
#: left alone by the equilibration.
ORDINARY_RANGE = 1e3


def ordinary_or(scale: float) -> float:
    """``scale`` when it is far from 1 (outside ``[1/ORDINARY_RANGE, ORDINARY_RANGE]``), else
    ``1`` (and ``1`` for a zero scale)."""
    if not scale > 0 or 1.0 / ORDINARY_RANGE <= scale <= ORDINARY_RANGE:
        return 1.0
    return scale


def safe_norm(A: np.ndarray) -> float:
    """Frobenius norm without overflow for huge finite entries."""
    m = float(np.max(np.abs(A), initial=0.0))
    return m * float(np.linalg.norm(A / m)) if m > 0 else 0.0


def column_scale(A: np.ndarray) -> float:
    """The largest column norm of ``A`` (``1`` for a zero matrix), overflow-safe."""
    m = float(np.max(np.abs(A), initial=0.0))
    if not m > 0:
        return 1.0
    A = A.reshape(A.shape[0], -1) / m
    return m * float(np.sqrt(np.max(np.einsum("ij,ij->j", A, A))))


def reduce_least_squares(A: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    r"""Shrink :math:`\|A Z - Y\|^2` to a size independent of the number of rows.

    With the thin QR :math:`A = QR`,
    :math:`\|AZ - Y\|^2 = \|RZ - Q^T Y\|^2 + \|Y\|^2 - \|Q^T Y\|^2` (docs/conventions.md).

    Returns
    -------
    R : ndarray, shape (min(n, d), d)
    QtY : ndarray, shape (min(n, d),) or (min(n, d), K)
    offset : float
        :math:`\|Y\|^2 - \|Q^T Y\|^2 \ge 0`.
    """
    Q, R = np.linalg.qr(A, mode="reduced")
    QtY = Q.T @ Y
    resid = Y - Q @ QtY  # ||Y||^2 - ||Q^T Y||^2 without cancellation when Y is nearly fit
    offset = float(np.sum(resid * resid))
    return R, QtY, offset
