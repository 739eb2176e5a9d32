r"""Smooth parts of composite programs: least squares known through sufficient statistics.

Every least-squares family of sdpnets has the smooth part

.. math::

    f(W) = \tfrac12\|A W - Y\|_F^2
         = \tfrac12\langle W, G W\rangle - \langle W, C\rangle + \tfrac12\|Y\|_F^2,
    \qquad G = A^T A,\; C = A^T Y,

so after one pass over the data (:func:`gram_statistics`) the work no longer depends on the
number of samples ``n``. :class:`Quadratic` holds ``G``, ``C`` and :math:`\|Y\|^2` and gives the
solvers what they need: products with ``G``, solves with :math:`G + \rho I`, the Lipschitz
constant :math:`\lambda_{\max}(G)`, and the residual quantities of the duality-gap
certificate (:math:`\|R\|^2`, :math:`\langle R, Y\rangle` and :math:`A^T R = C - GW` for
:math:`R = Y - AW`).

When the penalty is invariant under rotations of ``W`` on the left (nuclear and Euclidean
norms of ``W`` itself), :meth:`Quadratic.diagonalized` rotates the program into the
eigenbasis of ``G``: there ``G`` is diagonal, so a gradient or a shifted solve costs
:math:`O(pK)` instead of :math:`O(p^2K)`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg as sla

__all__ = ["Quadratic", "FactoredQuadratic", "gram_statistics"]


def gram_statistics(A, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    r"""One pass over the data: :math:`G = A^TA`, :math:`C = A^TY`, :math:`\|Y\|_F^2`.

    ``A`` is ``(n, p)`` (a dense array or anything with ``.T @``), ``Y`` is ``(n, K)``.
    """
    G = np.asarray(A.T @ A, dtype=float)
    G = 0.5 * (G + G.T)
    C = np.asarray(A.T @ Y, dtype=float)
    return G, C, float(np.sum(Y * Y))


class Quadratic:
    r""":math:`f(W) = \tfrac12\langle W, GW\rangle - \langle W, C\rangle + \tfrac12\|Y\|^2`.

    Parameters
    ----------
    gram : ndarray, shape (p, p) or (p,)
        :math:`G = A^TA`, symmetric positive semidefinite; a 1-D array is a diagonal ``G``.
    corr : ndarray, shape (p, K)
        :math:`C = A^TY`.
    yy : float
        :math:`\|Y\|_F^2`.
    """

    def __init__(self, gram: np.ndarray, corr: np.ndarray, yy: float) -> None:
        self.gram = np.asarray(gram, dtype=float)
        self.corr = np.asarray(corr, dtype=float)
        self.yy = float(yy)
        self.diagonal = self.gram.ndim == 1
        self._lipschitz: float | None = None
        self._factor: tuple[float, tuple] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Shape ``(p, K)`` of the variable."""
        p, K = self.corr.shape
        return p, K

    def gram_apply(self, W: np.ndarray) -> np.ndarray:
        """:math:`GW`."""
        return self.gram[:, None] * W if self.diagonal else self.gram @ W

    def correlation(self, W: np.ndarray, GW: np.ndarray | None = None) -> np.ndarray:
        r""":math:`A^T R = C - GW`, the negative gradient (``GW`` may be passed in)."""
        return self.corr - (self.gram_apply(W) if GW is None else GW)

    def residual_terms(self, W: np.ndarray, GW: np.ndarray) -> tuple[float, float]:
        r"""``(||R||^2, <R, Y>)`` for :math:`R = Y - AW`, from the statistics alone."""
        wc = float(np.sum(W * self.corr))
        rr = max(self.yy - 2.0 * wc + float(np.sum(W * GW)), 0.0)
        return rr, self.yy - wc

    def value(self, W: np.ndarray) -> float:
        r""":math:`f(W) = \tfrac12\|AW - Y\|^2`."""
        return 0.5 * self.residual_terms(W, self.gram_apply(W))[0]

    @property
    def lipschitz(self) -> float:
        r""":math:`\lambda_{\max}(G)`, the Lipschitz constant of :math:`\nabla f`."""
        if self._lipschitz is None:
            if self.diagonal:
                lam = float(self.gram.max(initial=0.0))
            else:
                p = self.gram.shape[0]
                lam = float(sla.eigh(self.gram, eigvals_only=True,
                                     subset_by_index=[p - 1, p - 1])[0])
            self._lipschitz = max(lam, 0.0)
        return self._lipschitz

    def shifted_solve(self, B: np.ndarray, rho: float) -> np.ndarray:
        r""":math:`(G + \rho I)^{-1} B`; the Cholesky factor is kept for the last ``rho``."""
        if self.diagonal:
            return B / (self.gram + rho)[:, None]
        if self._factor is None or self._factor[0] != rho:
            shifted = self.gram + rho * np.eye(self.gram.shape[0])
            self._factor = (rho, sla.cho_factor(shifted, lower=True, check_finite=False))
        return sla.cho_solve(self._factor[1], B, check_finite=False)

    def diagonalized(self) -> tuple["Quadratic", np.ndarray | None]:
        r"""The same program in the eigenbasis ``V`` of ``G`` (:math:`G = V\Lambda V^T`):
        ``(Quadratic(Lambda, V^T C, ||Y||^2), V)``; ``W = V W'``. A diagonal ``G`` is
        returned as it is with ``V = None``."""
        if self.diagonal:
            return self, None
        lam, V = sla.eigh(self.gram, check_finite=False, driver="evd")
        return Quadratic(np.maximum(lam, 0.0), V.T @ self.corr, self.yy), V


class FactoredQuadratic(Quadratic):
    r""":class:`Quadratic` with a low-rank Gram :math:`G = B^TB`, ``B`` of shape ``(r, p)``,
    ``r < p``.

    The patch CNN's Gram :math:`S^T(X^TX)S` has rank at most the input size ``D`` while its
    side is the number of patch entries ``Kh``; with :math:`X^TX = Q\Lambda Q^T`,
    :math:`B = \Lambda^{1/2}Q^TS`. Products with ``G`` cost :math:`O(rpK)`, the Lipschitz
    constant is :math:`\lambda_{\max}(BB^T)` and shifted solves use the Woodbury identity

    .. math::

        (B^TB + \rho I)^{-1} = \tfrac1\rho\big(I - B^TU\operatorname{diag}
        (1/(\mu + \rho))U^TB\big),\qquad BB^T = U\operatorname{diag}(\mu)U^T,

    so a new ``rho`` costs nothing. ``factor`` may be a callable that builds ``B`` on first
    need (a shifted solve, or the Lipschitz constant when none is given). ``product``, when
    given, computes :math:`GW` more cheaply than through ``B``, and ``lipschitz``
    :math:`\lambda_{\max}(G)`: for the patch CNN, :math:`S^T(X^TX)(SW)` with the sparse
    selection ``S`` is a tenth of the work of :math:`B^T(BW)`, and accelerated gradient
    then never needs ``B``.
    """

    def __init__(self, factor: np.ndarray | Callable[[], np.ndarray], corr: np.ndarray,
                 yy: float, product: Callable[[np.ndarray], np.ndarray] | None = None,
                 lipschitz: float | None = None) -> None:
        super().__init__(np.zeros(0), corr, yy)
        self.diagonal = False
        self._make_factor = factor if callable(factor) else lambda: factor
        self._factor_array: np.ndarray | None = None
        self._woodbury: tuple[np.ndarray, np.ndarray] | None = None
        self._product = product
        self._lipschitz = None if lipschitz is None else max(float(lipschitz), 0.0)

    @property
    def factor(self) -> np.ndarray:
        """``B`` (``r x p``, :math:`G = B^TB`), built on first use."""
        if self._factor_array is None:
            self._factor_array = np.asarray(self._make_factor(), dtype=float)
        return self._factor_array

    def _eigen(self) -> tuple[np.ndarray, np.ndarray]:
        r"""``(mu, U^T B)`` with :math:`BB^T = U\operatorname{diag}(\mu)U^T`."""
        if self._woodbury is None:
            B = self.factor
            mu, U = sla.eigh(B @ B.T, check_finite=False)
            self._woodbury = (np.maximum(mu, 0.0), U.T @ B)
        return self._woodbury

    @property
    def lipschitz(self) -> float:
        if self._lipschitz is None:
            self._lipschitz = float(self._eigen()[0].max(initial=0.0))
        return self._lipschitz

    def gram_apply(self, W: np.ndarray) -> np.ndarray:
        if self._product is not None:
            return self._product(W)
        return self.factor.T @ (self.factor @ W)

    def shifted_solve(self, B: np.ndarray, rho: float) -> np.ndarray:
        mu, UtB = self._eigen()
        inner = (UtB @ B) / (mu + rho)[:, None]
        return (B - UtB.T @ inner) / rho

    def diagonalized(self) -> tuple["Quadratic", np.ndarray | None]:
        raise NotImplementedError("a factored Gram is kept factored")
