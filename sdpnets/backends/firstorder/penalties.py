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

from .linalg import (
    factor_nuclear_norm,
    singular_values,
    spectral_norm,
    threshold_singular_values,
)

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
        # the last prox output, its factors and (once computed) its nuclear norm
        self._last: tuple | None = None
        self._rank: int | None = None  # the last prox's rank (which SVD route to take)

    @property
    def left_invariant(self) -> bool:
        """Whether :math:`\\Omega(QW) = \\Omega(W)` for every orthogonal ``Q``."""
        return self._view is None

    def matrix(self, W: np.ndarray) -> np.ndarray:
        """:math:`\\mathcal V(W)`, the matrix whose nuclear norm is the penalty."""
        return W if self._view is None else self._view(W)

    def value(self, W: np.ndarray) -> float:
        if self._last is not None and self._last[0] is W:  # the solvers certify prox outputs
            out, factors, norm = self._last
            if norm is None:  # computed on first need: a certificate, not every iteration
                norm = factor_nuclear_norm(*factors)
                self._last = (out, factors, norm)
            return norm
        return float(np.sum(singular_values(self.matrix(W))))

    def prox(self, V: np.ndarray, t: float) -> np.ndarray:
        r"""Singular-value thresholding: :math:`U\max(S - t, 0)V^T` of :math:`\mathcal V(V)`,
        through the smaller Gram (:func:`~.linalg.threshold_singular_values`). The result's
        factors are kept, so that :meth:`value` of it is the nuclear norm computed from its
        thin factor (exact to round-off, whatever the Gram's accuracy)."""
        M = self.matrix(V)
        if min(M.shape) == 1:
            norm = float(np.linalg.norm(M))
            kept = max(norm - t, 0.0)  # the output's norm
            out = M * (kept / norm) if norm > 0 else np.zeros_like(M)
            factors = None
        else:
            A, B, s, exact = threshold_singular_values(M, t, self._rank)
            self._rank = s.size
            out = A @ B.T if s.size else np.zeros_like(M)
            factors, kept = (A, B, s, exact), None
        out = out if self._unview is None else self._unview(out)
        out.flags.writeable = False  # so that the cached value below cannot go stale
        self._last = (out, factors, kept)
        return out

    def dual_norm(self, H: np.ndarray) -> float:
        """The spectral norm :math:`\\|\\mathcal V(H)\\|_2`."""
        return spectral_norm(self.matrix(H))


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
