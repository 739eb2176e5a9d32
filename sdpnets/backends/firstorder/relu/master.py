r"""The master problem of column generation over atoms, for every loss:

.. math::

    \min_{c \ge 0}\; L(\Phi c, y) + \beta\sum_a c_a ,

``Phi`` holding one feature column per atom. The squared and the logistic loss are smooth:
a primal-dual interior-point method on the bound-constrained problem (Newton matrices of
the order of the atoms, :func:`nonnegative_ipm`; at the best offset of an intercept, the offset
eliminated from the Hessian); the hinge loss makes it a linear
program (HiGHS; at the best offset, with the offset as one more, free, variable), whose
margin multipliers are the dual point (summing to zero with the offset). Each returns the
weights and the dual point :math:`v` of the prediction (:math:`-\nabla L(\Phi c)` for the
smooth losses).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.optimize import linprog

from ....losses import HingeLoss, Loss, LogisticLoss, SquaredLoss
from ..linalg import gram

__all__ = ["solve_master", "nonnegative_ipm", "master_tol"]

#: Relative tolerance of the interior-point method (residuals and complementarity) when the
#: caller asks for none: the tightest it is given.
MASTER_TOL = 1e-13

#: The loosest relative tolerance :func:`master_tol` gives, and its fraction of the
#: certified gap asked for: at 1e-13 whatever that gap, the master problems of (4000, 50,
#: 200) at 0.001 beta_max took 50-80 interior-point iterations each once their atoms were
#: nearly parallel, 42 of the atoms' 89 s; at 1e-10 (for a gap of 1e-6) 12-20, 8 s of 53 s.
LOOSEST_MASTER_TOL = 1e-10
MASTER_TOL_FRACTION = 1e-4

#: The logistic master's Newton steps move no margin by more than this (the quadratic
#: model of the logistic loss holds over a few units; without it, a column nearly constant
#: across the samples, which the loss at the best offset does not see, let the iterates run
#: off to overflow).
MARGIN_REACH = 8.0

#: Weights below this fraction of the largest are zero (the interior point never reaches 0).
ZERO_WEIGHT = 1e-10


def master_tol(tol: float) -> float:
    """The master problem's relative tolerance for a solve that certifies the relative gap
    ``tol``: :data:`MASTER_TOL_FRACTION` of it, between :data:`MASTER_TOL` and
    :data:`LOOSEST_MASTER_TOL`."""
    return min(max(MASTER_TOL_FRACTION * tol, MASTER_TOL), LOOSEST_MASTER_TOL)


def _longest(x: np.ndarray, dx: np.ndarray) -> float:
    neg = dx < 0
    return float(np.min(x[neg] / -dx[neg])) if neg.any() else np.inf


def _factor(H: np.ndarray, c: np.ndarray, lam: np.ndarray):
    """Cholesky factor of :math:`H + \\operatorname{diag}(\\lambda / c)`, shifted by a
    growing tiny multiple of ``trace(H) / K`` where rounding makes it indefinite."""
    M = H.copy()
    M[np.diag_indices_from(M)] += lam / c
    base = 1e-14 * max(float(np.trace(H)) / max(H.shape[0], 1), 1e-300)
    shift = 0.0
    for _ in range(8):
        try:
            return sla.cho_factor(M, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            shift = base if shift == 0.0 else 100.0 * shift
            M[np.diag_indices_from(M)] += shift
    raise np.linalg.LinAlgError("the master problem's Newton matrix is not positive definite")


def nonnegative_ipm(grad_hess, K: int, scale: float, max_iter: int = 100,
                    reach=None, tol: float = MASTER_TOL) -> np.ndarray:
    r""":math:`\arg\min_{c \ge 0} f(c)` for a smooth convex ``f`` by Mehrotra's
    predictor-corrector on :math:`\nabla f(c) = \lambda`, :math:`c \circ \lambda = \mu`.

    ``grad_hess(c)`` returns :math:`(\nabla f(c), \nabla^2 f(c))`; ``scale`` is the size of
    the gradient (the tolerances are relative to it); ``reach(dc)``, when given, is the
    longest step along ``dc`` over which the quadratic model is trusted (a damped Newton
    step: the logistic loss's model holds for margins moved by a few units); ``tol`` bounds
    the residuals and the complementarity, relative to ``scale``."""
    c = np.ones(K)
    g, H = grad_hess(c)
    lam = np.maximum(np.abs(g), scale)
    for _ in range(max_iter):
        rd = g - lam
        mu = float(c @ lam) / K
        if np.abs(rd).max() <= tol * scale and mu <= tol * scale:
            break
        L = _factor(H, c, lam)
        dc = sla.cho_solve(L, -rd - lam, check_finite=False)
        dl = -lam - lam / c * dc
        a_p, a_d = min(1.0, _longest(c, dc)), min(1.0, _longest(lam, dl))
        sigma = min((float((c + a_p * dc) @ (lam + a_d * dl)) / K / mu) ** 3, 1.0)
        rc = c * lam + dc * dl - sigma * mu
        dc = sla.cho_solve(L, -rd - rc / c, check_finite=False)
        dl = (-rc - lam * dc) / c
        a = min(1.0, 0.995 * _longest(c, dc))
        c = c + (a if reach is None else min(a, reach(dc))) * dc
        lam = lam + min(1.0, 0.995 * _longest(lam, dl)) * dl
        g, H = grad_hess(c)
    c[c < ZERO_WEIGHT * max(float(c.max(initial=0.0)), 1e-300)] = 0.0
    return c


def solve_master(Phi: np.ndarray, y: np.ndarray, beta: float, loss: Loss,
                 tol: float = MASTER_TOL) -> tuple[np.ndarray, np.ndarray]:
    """``(c, v)``: the master problem's weights and the dual point of its prediction
    (``tol``: the interior point's relative tolerance, :func:`master_tol`)."""
    n, K = Phi.shape
    if K == 0:
        return np.zeros(0), loss.dual_point(np.zeros(n), y)
    if isinstance(loss, HingeLoss):
        # variables (c, xi[, offset]): margins y (Phi c + offset) + xi >= 1
        free = 1 if loss.centered_offset else 0
        cost = np.concatenate([np.full(K, beta), np.ones(n), np.zeros(free)])
        A_ub = sp.hstack([sp.csr_matrix(-(y[:, None] * Phi)), -sp.eye(n),
                          sp.csr_matrix(-y[:, None])[:, :free]], format="csr")
        bounds = [(0, None)] * (K + n) + [(None, None)] * free
        res = linprog(cost, A_ub=A_ub, b_ub=-np.ones(n), bounds=bounds, method="highs")
        if res.status != 0:
            raise RuntimeError(f"the hinge master problem failed: {res.message}")
        c = np.maximum(res.x[:K], 0.0)
        return c, loss.into_domain(-y * res.ineqlin.marginals, y)
    if isinstance(loss, SquaredLoss):
        if loss.centered_offset:  # the loss at the best offset: centered columns and targets
            Phi, y = Phi - Phi.mean(axis=0), y - y.mean()
        Q, q = gram(Phi), Phi.T @ y - beta
        scale = max(float(np.abs(q).max()), float(np.diag(Q).max()), 1e-300)
        c = nonnegative_ipm(lambda c: (Q @ c - q, Q), K, scale, tol=tol)
        return c, y - Phi @ c
    if isinstance(loss, LogisticLoss):
        def grad_hess(c):
            _, v, w = loss.second_order(Phi @ c, y)  # at the best offset, if one
            H = gram(Phi * np.sqrt(w)[:, None])  # the Hessian, formed at every iteration
            if loss.centered_offset:  # the offset eliminated: W - w w^T / 1^T w
                Pw = Phi.T @ w
                H -= np.outer(Pw, Pw) / max(float(w.sum()), 1e-300)
            return beta - Phi.T @ v, H

        def reach(dc):  # margins moved by at most MARGIN_REACH
            return MARGIN_REACH / max(float(np.abs(Phi @ dc).max(initial=0.0)), 1e-300)

        scale = max(0.5 * float(np.abs(Phi.T @ y).max()), beta, 1e-300)
        c = nonnegative_ipm(grad_hess, K, scale, reach=reach, tol=tol)
        return c, loss.dual_point(Phi @ c, y)
    raise ValueError(f"no master problem for {loss!r}")
