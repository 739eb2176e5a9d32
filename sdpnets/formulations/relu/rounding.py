r"""A two-layer ReLU network with standard weight decay from a relaxation's solution
(docs/relu_vector_output.md section 5d): directions pushed into their cells' cones, output
weights by a group lasso, a few rounds of column generation, an L-BFGS polish.

Every step works on the rescaled problem: with unit first-layer directions ``a_j`` and
output rows ``g_j``, the network :math:`u_j = \sqrt{\|g_j\|}a_j`,
:math:`\alpha_j = g_j/\sqrt{\|g_j\|}` has objective
:math:`\tfrac12\|\sum_j(Aa_j)_+g_j^T - Y\|^2 + \beta\sum_j\|g_j\|` (balanced neurons), so the
output weights for fixed directions are a group lasso. The upper bound a family reports is the
objective of the returned weights, computed from them alone.

Every function takes an optional ``loss`` (a :class:`~sdpnets.losses.Loss`; ``None``: the
squared loss, with the closed forms above): the output weights are then the group lasso of
that loss, the dual point is :math:`-\nabla L` of the predictions, and the polish minimizes
that loss.
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
from scipy.optimize import minimize, nnls

from ...backends.clarabel import fork_safe_options
from ...losses import Loss

__all__ = ["project_cone", "directions_from_lift", "directions_from_blocks", "output_weights",
           "ascent_direction", "network_objective", "polish", "round_network"]


def project_cone(a: np.ndarray, C: np.ndarray) -> np.ndarray:
    r"""The Euclidean projection of ``a`` onto :math:`\{u : Cu \ge 0\}` (Moreau: ``a`` plus
    the polar part, :math:`a + C^T\lambda` with :math:`\lambda = \arg\min_{\lambda\ge0}
    \|a + C^T\lambda\|`, one NNLS problem)."""
    lam, _ = nnls(C.T, -a, maxiter=50 * C.shape[0])
    return a + C.T @ lam


def _unit_columns(cols: list[np.ndarray], h: int) -> np.ndarray:
    U = np.array(cols).T if cols else np.zeros((h, 0))
    norms = np.linalg.norm(U, axis=0)
    keep = norms > 1e-10 * max(float(norms.max(initial=0.0)), 1e-300)
    return U[:, keep] / norms[keep]


def directions_from_lift(M: np.ndarray, h: int, tol: float = 1e-6) -> np.ndarray:
    """The first-layer parts (first ``h`` rows), both signs, of the eigenvectors of a lifted
    PSD matrix whose eigenvalue is above ``tol`` times the largest."""
    w, Q = np.linalg.eigh(0.5 * (M + M.T))
    top = max(float(w.max(initial=0.0)), 1e-300)
    cols = []
    for k in np.argsort(-w):
        if w[k] <= tol * top:
            break
        cols += [Q[:h, k], -Q[:h, k]]
    return _unit_columns(cols, h)


def directions_from_blocks(blocks: list[np.ndarray], masks: np.ndarray, A: np.ndarray,
                           tol: float = 1e-6) -> np.ndarray:
    """Per cell ``i``, the leading left singular vectors of ``blocks[i]`` (``h x k``), both
    signs, each projected onto the cell's cone :math:`\\{u : (2D_i - I)Au \\ge 0\\}` so that
    its pattern is realized."""
    h = A.shape[1]
    top = max((float(np.linalg.norm(B, 2)) for B in blocks), default=0.0)
    cols = []
    for i, B in enumerate(blocks):
        Ub, s, _ = np.linalg.svd(B, full_matrices=False)
        if s.size == 0 or s[0] <= tol * max(top, 1e-300):
            continue
        C = (2.0 * masks[:, i] - 1.0)[:, None] * A
        for k in np.flatnonzero(s > tol * s[0]):
            for a in (Ub[:, k], -Ub[:, k]):
                cols.append(project_cone(a, C))
    return _unit_columns(cols, h)


def _squared(loss: Loss | None) -> bool:
    return loss is None or loss.name == "squared"


def output_weights(H: np.ndarray, Y: np.ndarray, beta: float, loss: Loss | None = None
                   ) -> tuple[np.ndarray, float]:
    r""":math:`\min_G \tfrac12\|HG - Y\|^2 + \beta\sum_j\|g_j\|` (rows ``g_j``) and its value,
    reduced by a thin QR of ``H`` and solved by Clarabel; with another ``loss``,
    :math:`\min_G L(HG) + \beta\sum_j\|g_j\|`, its value computed from ``G``."""
    if not _squared(loss):
        assert loss is not None  # not the squared loss
        G = cp.Variable((H.shape[1], Y.shape[1]))
        norms = cp.sum(cp.norm(G, 2, axis=1))
        problem = cp.Problem(cp.Minimize(loss.expr(H @ G, Y) + beta * norms))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                problem.solve(solver=cp.CLARABEL, **fork_safe_options())
            except cp.error.SolverError:
                pass
        Gv = (np.zeros((H.shape[1], Y.shape[1])) if G.value is None
              else np.asarray(G.value, dtype=float))
        value = loss.value(H @ Gv, Y) + beta * float(np.sum(np.linalg.norm(Gv, axis=1)))
        return Gv, value
    Q, R = np.linalg.qr(H)
    QtY = Q.T @ Y
    const = 0.5 * (float(np.sum(Y * Y)) - float(np.sum(QtY * QtY)))
    G = cp.Variable((H.shape[1], Y.shape[1]))
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(R @ G - QtY)
                                     + beta * cp.sum(cp.norm(G, 2, axis=1))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem.solve(solver=cp.CLARABEL, **fork_safe_options())
    if G.value is None:
        return np.zeros((H.shape[1], Y.shape[1])), 0.5 * float(np.sum(Y * Y))
    return np.asarray(G.value), float(problem.value) + const


def ascent_direction(A: np.ndarray, V: np.ndarray, starts: np.ndarray, samples: int = 256,
                     seed: int = 0, steps: int = 30) -> tuple[float, np.ndarray]:
    r"""A unit ``u`` with a large :math:`\|V^T(Au)_+\|` (a lower bound on the dual norm):
    from the best of ``starts``, the rows of ``A`` and random directions, fix the pattern and
    move to the top right singular vector of :math:`V^TDA`, while that increases it."""
    rng = np.random.default_rng(seed)
    h = A.shape[1]
    U = np.hstack([starts.reshape(h, -1), A.T, rng.standard_normal((h, samples))])
    U = U / np.maximum(np.linalg.norm(U, axis=0), 1e-300)
    vals = np.linalg.norm(V.T @ np.maximum(A @ U, 0.0), axis=0)
    best, best_u = 0.0, np.zeros(h)
    for k in np.argsort(-vals)[:8]:
        u, val = U[:, k], float(vals[k])
        for _ in range(steps):
            D = (A @ u > 0).astype(float)
            _, _, Wt = np.linalg.svd(V.T @ (D[:, None] * A), full_matrices=False)
            cands = [(float(np.linalg.norm(V.T @ np.maximum(A @ c, 0.0))), c)
                     for c in (Wt[0], -Wt[0])]
            cval, c = max(cands, key=lambda t: t[0])
            if cval <= val * (1.0 + 1e-12):
                break
            u, val = c, cval
        if val > best:
            best, best_u = val, u
    return best, best_u


def network_objective(U: np.ndarray, alpha: np.ndarray, A: np.ndarray, Y: np.ndarray,
                      beta: float, loss: Loss | None = None) -> float:
    """:math:`\\tfrac12\\|(AU)_+\\alpha - Y\\|^2 + \\tfrac\\beta2(\\|U\\|^2 + \\|\\alpha\\|^2)`
    (with ``loss``: :math:`L((AU)_+\\alpha)` in place of the squared loss)."""
    penalty = 0.5 * beta * (float(np.sum(U * U)) + float(np.sum(alpha * alpha)))
    if not _squared(loss):
        assert loss is not None  # not the squared loss
        return loss.value(np.maximum(A @ U, 0.0) @ alpha, Y) + penalty
    R = np.maximum(A @ U, 0.0) @ alpha - Y
    return 0.5 * float(np.sum(R * R)) + penalty


def polish(U: np.ndarray, alpha: np.ndarray, A: np.ndarray, Y: np.ndarray, beta: float,
           max_iters: int = 2000, loss: Loss | None = None) -> tuple[np.ndarray, np.ndarray]:
    """L-BFGS on the standard objective (with ``loss``, if given) from ``(U, alpha)`` (the
    ReLU differentiated as ``1[z > 0]``); the better of start and end."""
    h, m = U.shape

    def fun(theta):
        Ut, at = theta[: h * m].reshape(h, m), theta[h * m:].reshape(m, -1)
        Z = A @ Ut
        Hd = np.maximum(Z, 0.0)
        F = Hd @ at
        if _squared(loss):
            R = F - Y
            f = 0.5 * np.sum(R * R) + 0.5 * beta * (np.sum(Ut * Ut) + np.sum(at * at))
        else:
            assert loss is not None  # not the squared loss
            R = loss.gradient(F, Y)
            f = loss.value(F, Y) + 0.5 * beta * (np.sum(Ut * Ut) + np.sum(at * at))
        gU = A.T @ ((R @ at.T) * (Z > 0)) + beta * Ut
        ga = Hd.T @ R + beta * at
        return f, np.concatenate([gU.ravel(), ga.ravel()])

    res = minimize(fun, np.concatenate([U.ravel(), alpha.ravel()]), jac=True,
                   method="L-BFGS-B", options={"maxiter": max_iters, "ftol": 1e-15,
                                               "gtol": 1e-10, "maxcor": 30})
    U1, a1 = res.x[: h * m].reshape(h, m), res.x[h * m:].reshape(m, -1)
    if network_objective(U1, a1, A, Y, beta, loss) <= network_objective(U, alpha, A, Y, beta,
                                                                         loss):
        return U1, a1
    return U, alpha


def _balanced(directions: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.linalg.norm(G, axis=1)
    keep = c > 1e-12 * max(float(c.max(initial=0.0)), 1e-300)
    if not np.any(keep):
        return np.zeros((directions.shape[0], 1)), np.zeros((1, G.shape[1]))
    r = np.sqrt(c[keep])
    return directions[:, keep] * r, G[keep] / r[:, None]


def round_network(A: np.ndarray, Y: np.ndarray, beta: float, directions: np.ndarray, *,
                  rounds: int = 20, do_polish: bool = True, loss: Loss | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(U, alpha)`` on the rows ``A`` (a ones column for a bias) from candidate
    directions: output weights by :func:`output_weights`, then up to ``rounds`` times the
    direction of :func:`ascent_direction` at the dual point (the residual for the squared
    loss, :math:`-\\nabla L` for ``loss``) added while it violates the dual constraint
    (``> beta``), zero rows dropped; balanced; polished by :func:`polish`."""
    h = A.shape[1]
    D = directions if directions.shape[1] else A.T / np.maximum(
        np.linalg.norm(A.T, axis=0), 1e-300)
    for _ in range(rounds):
        G, _ = output_weights(np.maximum(A @ D, 0.0), Y, beta, loss)
        F = np.maximum(A @ D, 0.0) @ G
        V = Y - F if _squared(loss) else loss.dual_point(F, Y)  # type: ignore[union-attr]
        live = np.linalg.norm(G, axis=1) > 1e-10 * max(float(np.abs(G).max(initial=0.0)),
                                                       1e-300)
        value, u = ascent_direction(A, V, D)
        if np.any(live):
            D = D[:, live]
        if value <= beta * (1.0 + 1e-9):
            break
        D = np.hstack([D, u.reshape(h, 1)])
    G, _ = output_weights(np.maximum(A @ D, 0.0), Y, beta, loss)
    U, alpha = _balanced(D, G)
    if do_polish:
        U, alpha = polish(U, alpha, A, Y, beta, loss=loss)
    return U, alpha
