r"""Cells of a central line arrangement in the plane, by sorting angles.

``m`` pairwise non-parallel lines through the origin of :math:`\mathbb R^2` cut it into
exactly ``2m`` cones. The line with unit normal ``b`` runs along the angle
:math:`\theta = \operatorname{atan2}(b_2, b_1) + \pi/2`; its two rays are at
:math:`\theta` and :math:`\theta + \pi`. Sorting the ``2m`` ray angles, the bisector of two
consecutive rays lies strictly inside one cell, and every cell gets one. A row ``x`` at
angle :math:`\phi` is active (:math:`x^Tg \ge 0`) exactly for the gates whose angle lies
within :math:`\pi/2` of :math:`\phi`: a circular interval of the sorted gates, found by
binary search. Everything is ``O((n + m) log m)`` plus writing the ``n x 2m`` patterns.
"""

from __future__ import annotations

import numpy as np

__all__ = ["planar_gate_angles", "planar_masks"]

TWO_PI = 2.0 * np.pi


def planar_gate_angles(B: np.ndarray) -> np.ndarray:
    """Angles (sorted, in ``[0, 2 pi)``) of one gate strictly inside each of the ``2m``
    cells of the lines with normals ``B`` (``(m, 2)``, pairwise non-parallel, ``m >= 1``)."""
    along = np.mod(np.arctan2(B[:, 1], B[:, 0]) + 0.5 * np.pi, np.pi)  # in [0, pi)
    rays = np.sort(np.concatenate([along, along + np.pi]))  # 2m angles in [0, 2 pi)
    following = np.append(rays[1:], rays[0] + TWO_PI)
    return np.sort(np.mod(0.5 * (rays + following), TWO_PI))


def planar_masks(X2: np.ndarray, psi: np.ndarray) -> np.ndarray:
    r"""Patterns :math:`1[x_i^T g_k \ge 0]`, ``(n, P)``, of rows ``X2`` (``(n, 2)``) and the
    gates at the sorted angles ``psi`` (no row orthogonal to a gate, as for gates inside
    cells). A zero row is active for every gate."""
    n, P = X2.shape[0], psi.size
    phi = np.arctan2(X2[:, 1], X2[:, 0])
    start = np.searchsorted(psi, np.mod(phi - 0.5 * np.pi, TWO_PI), side="left")
    stop = np.searchsorted(psi, np.mod(phi + 0.5 * np.pi, TWO_PI), side="right")
    rows = np.arange(n)
    steps = np.zeros((n, P + 1), dtype=np.int8)  # +1 where a row's interval starts, -1 ends
    np.add.at(steps, (rows, start), 1)
    np.add.at(steps, (rows, stop), -1)
    np.add.at(steps, (rows[stop < start], 0), 1)  # the interval wraps past 2 pi
    masks = np.cumsum(steps[:, :P], axis=1, dtype=np.int8) > 0
    masks[~np.any(X2 != 0, axis=1)] = True
    return masks
