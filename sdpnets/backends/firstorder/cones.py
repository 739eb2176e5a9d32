r"""Second-order cones of one dimension, stored end to end, and their Nesterov-Todd scaling:
the cone algebra of sdpnets' interior-point method.

``count`` cones of dimension ``dim`` hold :math:`(t_j, z_j)` with :math:`\|z_j\| \le t_j`,
head :math:`t_j` first; the cones of all blocks are one vector of ``count * dim`` entries,
viewed as a ``(count, dim)`` array for every operation (no loop over cones). The Jordan
algebra of the cone (:math:`x \circ y = (x^Ty,\; x_0y_1 + y_0x_1)`, the reflection
:math:`J = \operatorname{diag}(1, -I)`) and the scaling :math:`W = b(2ww^T - J)` with
:math:`Wy = W^{-1}s` follow Vandenberghe, "The CVXOPT linear and quadratic cone program
solvers" (2010).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SecondOrderCones", "NesterovToddScaling"]


class SecondOrderCones:
    """``count`` second-order cones of dimension ``dim``, stored end to end."""

    def __init__(self, count: int, dim: int) -> None:
        self.count, self.dim = int(count), int(dim)
        self.heads = np.arange(self.count) * self.dim

    def view(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(self.count, self.dim)

    def dot(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """:math:`x_j^Ty_j` per cone."""
        return np.einsum("ij,ij->i", self.view(x), self.view(y))

    def J(self, x: np.ndarray) -> np.ndarray:
        out = -x
        out[self.heads] = x[self.heads]
        return out

    def product(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r"""Jordan product :math:`x \circ y = (x^Ty,\; x_0y_1 + y_0x_1)` per cone."""
        X, Y = self.view(x), self.view(y)
        out = X[:, :1] * Y + Y[:, :1] * X
        out[:, 0] = self.dot(x, y)
        return out.reshape(-1)

    def divide(self, lam: np.ndarray, u: np.ndarray) -> np.ndarray:
        r"""``v`` with :math:`\lambda \circ v = u` per cone (``lam`` interior)."""
        L, U = self.view(lam), self.view(u)
        l0, u0 = L[:, 0], U[:, 0]
        det = 2.0 * l0 * l0 - self.dot(lam, lam)
        v0 = (l0 * u0 - (self.dot(lam, u) - l0 * u0)) / det
        V = (U - v0[:, None] * L) / l0[:, None]
        V[:, 0] = v0
        return V.reshape(-1)

    def _tail_norm(self, x: np.ndarray) -> np.ndarray:
        X = self.view(x)
        return np.sqrt(np.einsum("ij,ij->i", X[:, 1:], X[:, 1:]))

    def min_eig(self, x: np.ndarray) -> np.ndarray:
        return self.view(x)[:, 0] - self._tail_norm(x)

    def jnorm(self, x: np.ndarray) -> np.ndarray:
        r""":math:`\sqrt{x^TJx}` computed as :math:`\sqrt{(x_0 - \|x_1\|)(x_0 + \|x_1\|)}`."""
        x0, n1 = self.view(x)[:, 0], self._tail_norm(x)
        return np.sqrt(np.maximum((x0 - n1) * (x0 + n1), 1e-300))

    def step(self, x: np.ndarray, d: np.ndarray) -> float:
        r"""Largest :math:`\alpha` with :math:`x + \alpha d` in every cone (``x`` interior)."""
        x0, d0 = self.view(x)[:, 0], self.view(d)[:, 0]
        a = 2.0 * d0 * d0 - self.dot(d, d)
        b = 2.0 * (2.0 * x0 * d0 - self.dot(x, d))
        n1 = self._tail_norm(x)
        c = (x0 - n1) * (x0 + n1)
        disc = b * b - 4.0 * a * c
        root = -b + np.sqrt(np.maximum(disc, 0.0))
        hit = ((a < 0) | (b < 0)) & (disc >= 0) & (root > 0)
        alpha = float(np.min(2.0 * c[hit] / root[hit])) if hit.any() else math.inf
        # x0 + alpha d0 >= 0 too: a path through the apex touches the boundary only there,
        # where rounding can hide the (double) root
        down = d0 < 0
        if down.any():
            alpha = min(alpha, float(np.min(-x0[down] / d0[down])))
        return alpha


class NesterovToddScaling:
    r"""Nesterov-Todd scaling :math:`W = b(2ww^T - J)` of each second-order cone, with
    :math:`W y = W^{-1}s = \lambda`."""

    def __init__(self, cones: SecondOrderCones, s: np.ndarray, y: np.ndarray) -> None:
        self.cones = cones
        ns, ny = cones.jnorm(s), cones.jnorm(y)
        sb = cones.view(s) / ns[:, None]
        yb = cones.view(y) / ny[:, None]
        gamma = np.sqrt(np.maximum((1.0 + np.einsum("ij,ij->i", sb, yb)) / 2.0, 1e-300))
        Jyb = -yb
        Jyb[:, 0] = yb[:, 0]
        wbar = (sb + Jyb) / (2.0 * gamma[:, None])  # maps ybar to sbar
        wbar[:, 0] += 1.0  # its square root: the reflection through (wbar + e)
        self.w = wbar / np.sqrt(2.0 * wbar[:, :1])
        self.b = np.sqrt(ns / ny)

    def apply(self, v: np.ndarray, inverse: bool = False) -> np.ndarray:
        r""":math:`Wv` or :math:`W^{-1}v = b^{-1}(2Jww^TJ - J)v`."""
        cones, w = self.cones, self.w
        V = cones.view(v)
        JV = -V
        JV[:, 0] = V[:, 0]
        if inverse:
            Jw = -w
            Jw[:, 0] = w[:, 0]
            out = 2.0 * np.einsum("ij,ij->i", w, JV)[:, None] * Jw - JV
            return (out / self.b[:, None]).reshape(-1)
        out = 2.0 * np.einsum("ij,ij->i", w, V)[:, None] * w - JV
        return (out * self.b[:, None]).reshape(-1)

    def inverse_square(self) -> np.ndarray:
        r""":math:`W^{-2} = b^{-2}(I + 4(w^Tw)\,Jw(Jw)^T - 2Jw\,w^T - 2w(Jw)^T)` of every
        cone, ``(count, dim, dim)``."""
        w = self.w
        Jw = -w
        Jw[:, 0] = w[:, 0]
        ww = np.einsum("ij,ij->i", w, w)
        M = (4.0 * ww[:, None, None] * Jw[:, :, None] * Jw[:, None, :]
             - 2.0 * Jw[:, :, None] * w[:, None, :] - 2.0 * w[:, :, None] * Jw[:, None, :])
        M += np.eye(w.shape[1])
        return M / (self.b**2)[:, None, None]
