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

from .linalg import SymmetricEigen, top_eigenvalue

__all__ = ["Quadratic", "FactoredQuadratic", "gram_statistics", "POWER_STEPS"]

#: Power-iteration steps of :meth:`Quadratic.lipschitz_estimate` (a lower estimate of
#: :math:`\lambda_{\max}(G)` at a few matrix-vector products; accelerated gradient then
#: backtracks where it is too low).
POWER_STEPS = 30


def gram_statistics(A, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    r"""One pass over the data: :math:`G = A^TA`, :math:`C = A^TY`, :math:`\|Y\|_F^2`.

    ``A`` is ``(n, p)`` (a dense array or anything with ``.T @``), ``Y`` is ``(n, K)``.
    """
    G = np.asarray(A.T @ A, dtype=float)
    G = 0.5 * (G + G.T)
    C = np.asarray(A.T @ Y, dtype=float)
    y = Y.reshape(-1)
    return G, C, float(y @ y)


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
        #: The eigendecomposition of ``G``, computed once on first need and shared by the
        #: eigenbasis (:meth:`diagonalized`), :attr:`lipschitz` and the formulations'
        #: recovery (``None`` for a diagonal ``G``).
        self.eigen: SymmetricEigen | None = None if self.diagonal else SymmetricEigen(self.gram)

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
            elif self.eigen is not None and self.eigen.computed:
                lam = self.eigen.top
            else:
                lam = top_eigenvalue(self.gram)
            self._lipschitz = max(lam, 0.0)
        return self._lipschitz

    def lipschitz_estimate(self) -> tuple[float, bool]:
        r"""``(L, exact)``: :math:`\lambda_{\max}(G)` when it is known or free (``exact``),
        else a lower estimate by :data:`POWER_STEPS` power iterations from a fixed start
        (the Rayleigh quotient, so never above :math:`\lambda_{\max}`), for a solver that
        backtracks."""
        if self._lipschitz is not None or self.diagonal or (
                self.eigen is not None and self.eigen.computed):
            return self.lipschitz, True
        p = self.shape[0]
        v = np.random.default_rng(0).standard_normal((p, 1))
        theta = 0.0
        for _ in range(POWER_STEPS):
            norm = float(np.linalg.norm(v))
            if not norm > 0:
                break
            v /= norm
            w = self.gram_apply(v)
            theta = float(v[:, 0] @ w[:, 0])
            v = w
        return max(theta, 0.0), False

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
        assert self.eigen is not None
        lam, V = self.eigen.values, self.eigen.vectors
        return Quadratic(lam, V.T @ self.corr, self.yy), V


class FactoredQuadratic(Quadratic):
    r""":class:`Quadratic` with a rank-deficient Gram given through an orthonormal
    compression: :math:`G = E^TME`, ``E`` of shape ``(r, p)`` with orthonormal rows
    (:math:`EE^T = I`), ``M`` a symmetric positive semidefinite ``r x r`` matrix, ``r < p``.

    The patch CNN's Gram :math:`S^T(X^TX)S` has rank at most the input size ``D`` while its
    side is the number of patch entries ``Kh``. For a patch selection ``S`` (one 1 per
    column) :math:`SS^T = \operatorname{diag}(c)`, ``c`` counting the patch entries that
    read each input, so :math:`E = \operatorname{diag}(c)^{-1/2}S` has orthonormal rows and
    :math:`M = \operatorname{diag}(c)^{1/2}X^TX\operatorname{diag}(c)^{1/2}`. Everything
    runs at the cost of the small side: a product :math:`E^T(M(EW))` is a scatter, an
    ``r x r`` product and a gather; the Lipschitz constant is :math:`\lambda_{\max}(M)`;
    with the eigendecomposition :math:`M = U\operatorname{diag}(\mu)U^T` (computed once,
    :attr:`eigen`), a shifted solve is

    .. math::

        (G + \rho I)^{-1}B = \tfrac1\rho\big(B - E^TU\operatorname{diag}
        (\mu/(\mu + \rho))U^TEB\big),

    so a new ``rho`` costs nothing.

    Parameters
    ----------
    inner : ndarray, shape (r, r)
        ``M``.
    compress, expand : callable
        :math:`W \mapsto EW` (``(p, K)`` to ``(r, K)``) and :math:`V \mapsto E^TV`.
    corr, yy
        As for :class:`Quadratic`.
    """

    def __init__(self, inner: np.ndarray, compress: Callable[[np.ndarray], np.ndarray],
                 expand: Callable[[np.ndarray], np.ndarray], corr: np.ndarray,
                 yy: float) -> None:
        super().__init__(np.zeros(0), corr, yy)
        self.diagonal = False
        self.inner = np.asarray(inner, dtype=float)
        self.compress, self.expand = compress, expand
        self.inner_eigen = SymmetricEigen(self.inner)  # G's non-zero spectrum, M's
        self.eigen = self.inner_eigen

    @property
    def lipschitz(self) -> float:
        if self._lipschitz is None:
            self._lipschitz = max(self.inner_eigen.top if self.inner_eigen.computed
                                  else top_eigenvalue(self.inner), 0.0)
        return self._lipschitz

    def lipschitz_estimate(self) -> tuple[float, bool]:
        if self._lipschitz is not None or self.inner_eigen.computed:
            return self.lipschitz, True
        v: np.ndarray = np.random.default_rng(0).standard_normal((self.inner.shape[0],))
        theta = 0.0
        for _ in range(POWER_STEPS):  # on the small side: G and M share their spectrum
            norm = float(np.linalg.norm(v))
            if not norm > 0:
                break
            v /= norm
            w = self.inner @ v
            theta = float(v @ w)
            v = w
        return max(theta, 0.0), False

    def gram_apply(self, W: np.ndarray) -> np.ndarray:
        return self.expand(self.inner @ self.compress(W))

    def shifted_solve(self, B: np.ndarray, rho: float) -> np.ndarray:
        mu, U = self.inner_eigen.values, self.inner_eigen.vectors
        inner = U @ ((mu / (mu + rho))[:, None] * (U.T @ self.compress(B)))
        return (B - self.expand(inner)) / rho

    def spectrum(self) -> np.ndarray:
        """The non-zero part of :math:`G`'s spectrum (that of ``M``)."""
        return self.inner_eigen.values

    def diagonalized(self) -> tuple["Quadratic", np.ndarray | None]:
        raise NotImplementedError("a factored Gram is kept factored")
