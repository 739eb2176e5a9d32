r"""Penalties of composite programs: value, proximal operator and dual norm.

Each penalty :math:`\Omega` is a norm, so the solvers need three things of it: its value,
its proximal operator :math:`\operatorname{prox}_{t\Omega}(V) = \arg\min_W
\tfrac12\|W - V\|^2 + t\,\Omega(W)` (closed form here), and its dual norm
:math:`\Omega^*(H) = \max_{\Omega(W)\le1}\langle H, W\rangle`, which decides whether a dual
point is feasible (:math:`\Omega^*(A^TV) \le \beta`) and so gives the certificate.

* :class:`NuclearNorm`: :math:`\|\mathcal V(W)\|_*`, prox by singular-value thresholding,
  dual norm the spectral norm. :math:`\mathcal V` is an optional rearrangement of the
  entries of ``W`` into the matrix whose nuclear norm is taken (the patch CNN's variable is
  stored by patch position, its penalty is on the ``h x K`` filter matrix). A ``p x 1``
  variable makes it the Euclidean norm.
* :class:`GroupL2`: :math:`\sum_g c_g\|w_g\|_2` over disjoint groups of coordinates,
  prox by group soft-thresholding, dual norm :math:`\max_g\|h_g\|_2/c_g` (the circular CNN's
  Fourier l1 norm in real DFT coordinates, weighted for depth 3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import scipy.linalg as sla

__all__ = ["Penalty", "NuclearNorm", "GroupL2"]

Rearrange = Callable[[np.ndarray], np.ndarray]


class Penalty(Protocol):
    """What a solver needs of a penalty :math:`\\Omega`: value, prox and dual norm."""

    @property
    def left_invariant(self) -> bool:
        """Whether :math:`\\Omega(QW) = \\Omega(W)` for orthogonal ``Q``."""

    def value(self, W: np.ndarray) -> float:
        """:math:`\\Omega(W)`."""

    def prox(self, V: np.ndarray, t: float) -> np.ndarray:
        """:math:`\\operatorname{prox}_{t\\Omega}(V)`."""

    def dual_norm(self, H: np.ndarray) -> float:
        """:math:`\\Omega^*(H)`."""


def _svd(M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD; falls back to the slower but always-converging LAPACK driver. A wide
    matrix is decomposed through its transpose (faster for the short, wide matrices of
    patch CNNs)."""
    if M.shape[0] < M.shape[1]:
        V, s, Ut = _svd(M.T)
        return Ut.T, s, V.T
    try:
        return np.linalg.svd(M, full_matrices=False)
    except np.linalg.LinAlgError:  # pragma: no cover - gesdd rarely fails to converge
        return sla.svd(M, full_matrices=False, lapack_driver="gesvd")


class NuclearNorm:
    r""":math:`\Omega(W) = \|\mathcal V(W)\|_*`, the sum of singular values.

    Parameters
    ----------
    view, unview : callable, optional
        :math:`\mathcal V` and its inverse, both permutations of entries (so
        :math:`\langle \mathcal V(H), \mathcal V(W)\rangle = \langle H, W\rangle` and the dual
        norm is :math:`\|\mathcal V(H)\|_2`). Omitted: the identity, and the penalty is
        invariant under rotations of ``W`` on the left (:attr:`left_invariant`).
    """

    def __init__(self, view: Rearrange | None = None, unview: Rearrange | None = None) -> None:
        if (view is None) != (unview is None):
            raise ValueError("give both view and unview, or neither")
        self._view = view
        self._unview = unview
        self._last: tuple[np.ndarray, float] | None = None  # the last prox and its norm

    @property
    def left_invariant(self) -> bool:
        """Whether :math:`\\Omega(QW) = \\Omega(W)` for every orthogonal ``Q``."""
        return self._view is None

    def matrix(self, W: np.ndarray) -> np.ndarray:
        """:math:`\\mathcal V(W)`, the matrix whose nuclear norm is the penalty."""
        return W if self._view is None else self._view(W)

    def value(self, W: np.ndarray) -> float:
        if self._last is not None and self._last[0] is W:  # the solvers certify prox outputs
            return self._last[1]
        M = self.matrix(W)
        if min(M.shape) == 1:
            return float(np.linalg.norm(M))
        return float(np.sum(np.linalg.svd(M, compute_uv=False)))

    def prox(self, V: np.ndarray, t: float) -> np.ndarray:
        r"""Singular-value thresholding: :math:`U\max(S - t, 0)V^T` of :math:`\mathcal V(V)`."""
        M = self.matrix(V)
        if min(M.shape) == 1:
            norm = float(np.linalg.norm(M))
            kept = max(norm - t, 0.0)  # the output's norm
            out = M * (kept / norm) if norm > 0 else np.zeros_like(M)
        else:
            U, s, Vt = _svd(M)
            s = np.maximum(s - t, 0.0)
            kept = float(s.sum())  # the output's nuclear norm
            r = int(np.count_nonzero(s))
            out = (U[:, :r] * s[:r]) @ Vt[:r]
        out = out if self._unview is None else self._unview(out)
        out.flags.writeable = False  # so that the cached value below cannot go stale
        self._last = (out, kept)
        return out

    def dual_norm(self, H: np.ndarray) -> float:
        """The spectral norm :math:`\\|\\mathcal V(H)\\|_2`."""
        M = self.matrix(H)
        if min(M.shape) == 1:
            return float(np.linalg.norm(M))
        # the largest eigenvalue of the smaller Gram is accurate to machine precision
        # relative to itself, and a fraction of an SVD's cost
        small = M.T @ M if M.shape[0] >= M.shape[1] else M @ M.T
        k = small.shape[0]
        top = sla.eigh(small, eigvals_only=True, subset_by_index=[k - 1, k - 1],
                       check_finite=False)[0]
        return float(np.sqrt(max(top, 0.0)))


class GroupL2:
    r""":math:`\Omega(w) = \sum_g c_g \|w_g\|_2` for a variable of shape ``(p, 1)``.

    Parameters
    ----------
    groups : ndarray of int, shape (p,)
        Group index ``0..G-1`` of each coordinate.
    weights : ndarray, shape (G,)
        :math:`c_g > 0`.
    """

    left_invariant = False

    def __init__(self, groups: np.ndarray, weights: np.ndarray) -> None:
        self.groups = np.asarray(groups, dtype=np.intp)
        self.weights = np.asarray(weights, dtype=float)

    def norms(self, W: np.ndarray) -> np.ndarray:
        """:math:`\\|w_g\\|_2` per group."""
        return np.sqrt(np.bincount(self.groups, weights=W.reshape(-1) ** 2,
                                   minlength=self.weights.size))

    def value(self, W: np.ndarray) -> float:
        return float(self.weights @ self.norms(W))

    def prox(self, V: np.ndarray, t: float) -> np.ndarray:
        r"""Group soft-thresholding: :math:`v_g \max(1 - t c_g/\|v_g\|, 0)`."""
        norms = self.norms(V)
        shrink = np.maximum(1.0 - t * self.weights / np.where(norms > 0, norms, 1.0), 0.0)
        return V * shrink[self.groups].reshape(V.shape[0], -1)

    def dual_norm(self, H: np.ndarray) -> float:
        """:math:`\\max_g \\|h_g\\|_2 / c_g`."""
        return float(np.max(self.norms(H) / self.weights))
