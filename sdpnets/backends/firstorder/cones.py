r"""Second-order cones stored end to end, and their Nesterov-Todd scaling: the cone algebra
of sdpnets' interior-point methods.

Cone ``j`` of dimension :math:`d_j + 1` holds :math:`(t_j, z_j)` with
:math:`\|z_j\| \le t_j`, head :math:`t_j` first; the cones of all blocks are one vector.
The Jordan algebra of the cone (:math:`x \circ y = (x^Ty,\; x_0y_1 + y_0x_1)`, the
reflection ``J``) and the scaling :math:`W = b(2ww^T - J)` with :math:`Wy = W^{-1}s` follow
Vandenberghe, "The CVXOPT linear and quadratic cone program solvers" (2010).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SecondOrderCones", "NesterovToddScaling"]


class SecondOrderCones:
    """Index maps of the second-order cones :math:`(t_j, z_j)` of blocks of sizes ``d``."""

    def __init__(self, sizes: np.ndarray):
        m = sizes.size
        lengths = sizes + 1
        self.m = m
        self.heads = np.cumsum(lengths) - lengths
        self.of = np.repeat(np.arange(m), lengths)  # cone of each entry
        self.tail = np.ones(self.of.size, dtype=bool)
        self.tail[self.heads] = False
        # all (p, q) entry pairs inside each cone, for the W^-2 blocks
        sq = lengths**2
        cone = np.repeat(np.arange(m), sq)
        local = np.arange(int(sq.sum())) - np.repeat(np.cumsum(sq) - sq, sq)
        self.pair_cone = cone
        self.pair_p = self.heads[cone] + local // lengths[cone]
        self.pair_q = self.heads[cone] + local % lengths[cone]

    def dot(self, x, y):
        return np.bincount(self.of, weights=x * y, minlength=self.m)

    def J(self, x):
        return np.where(self.tail, -x, x)

    def product(self, x, y):
        r"""Jordan product :math:`x \circ y = (x^Ty,\; x_0y_1 + y_0x_1)` per cone."""
        out = x[self.heads][self.of] * y + y[self.heads][self.of] * x
        out[self.heads] = self.dot(x, y)
        return out

    def divide(self, lam, u):
        r"""``v`` with :math:`\lambda \circ v = u` per cone (``lam`` interior)."""
        l0, u0 = lam[self.heads], u[self.heads]
        det = 2.0 * l0 * l0 - self.dot(lam, lam)
        v0 = (l0 * u0 - (self.dot(lam, u) - l0 * u0)) / det
        v = (u - v0[self.of] * lam) / l0[self.of]
        v[self.heads] = v0
        return v

    def min_eig(self, x):
        x0 = x[self.heads]
        return x0 - np.sqrt(np.maximum(self.dot(x, x) - x0 * x0, 0.0))

    def jnorm(self, x):
        r""":math:`\sqrt{x^TJx}` computed as :math:`\sqrt{(x_0 - \|x_1\|)(x_0 + \|x_1\|)}`."""
        x0 = x[self.heads]
        n1 = np.sqrt(np.maximum(self.dot(x, x) - x0 * x0, 0.0))
        return np.sqrt(np.maximum((x0 - n1) * (x0 + n1), 1e-300))

    def step(self, x, d) -> float:
        r"""Largest :math:`\alpha` with :math:`x + \alpha d` in every cone (``x`` interior)."""
        x0, d0 = x[self.heads], d[self.heads]
        a = 2.0 * d0 * d0 - self.dot(d, d)
        b = 2.0 * (2.0 * x0 * d0 - self.dot(x, d))
        n1 = np.sqrt(np.maximum(self.dot(x, x) - x0 * x0, 0.0))
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

    def __init__(self, cones: SecondOrderCones, s: np.ndarray, y: np.ndarray):
        self.cones = cones
        ns, ny = cones.jnorm(s), cones.jnorm(y)
        sb, yb = s / ns[cones.of], y / ny[cones.of]
        gamma = np.sqrt(np.maximum((1.0 + cones.dot(sb, yb)) / 2.0, 1e-300))
        wbar = (sb + cones.J(yb)) / (2.0 * gamma[cones.of])  # maps ybar to sbar
        wbar[cones.heads] += 1.0  # its square root: the reflection through (wbar + e)
        self.w = wbar / np.sqrt(2.0 * wbar[cones.heads])[cones.of]
        self.b = np.sqrt(ns / ny)

    def apply(self, v: np.ndarray, inverse: bool = False) -> np.ndarray:
        r""":math:`Wv` or :math:`W^{-1}v = b^{-1}(2Jww^TJ - J)v`."""
        cones, w = self.cones, self.w
        Jv = cones.J(v)
        if inverse:
            return (2.0 * cones.dot(w, Jv)[cones.of] * cones.J(w) - Jv) / self.b[cones.of]
        return self.b[cones.of] * (2.0 * cones.dot(w, v)[cones.of] * w - Jv)

    def inverse_square_pairs(self) -> np.ndarray:
        r"""Entries of :math:`W^{-2} = b^{-2}(I + 4(w^Tw)\,Jw(Jw)^T - 2Jw\,w^T - 2w(Jw)^T)`
        at the cones' entry pairs (``cones.pair_p``, ``cones.pair_q``)."""
        cones, w = self.cones, self.w
        Jw = cones.J(w)
        p, q, j = cones.pair_p, cones.pair_q, cones.pair_cone
        ww = cones.dot(w, w)
        vals = 4.0 * ww[j] * Jw[p] * Jw[q] - 2.0 * Jw[p] * w[q] - 2.0 * w[p] * Jw[q]
        vals += p == q
        return vals / self.b[j] ** 2
