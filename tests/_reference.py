"""Independent reference computations for the tests (no sdpnets code is used here).

* nuclear-norm regularized least squares by proximal gradient with singular value
  thresholding, with its own duality-gap certificate;
* closed forms for orthonormal ``X``;
* the scalar group-lasso (docs/linear_fc.md section 1b) through its secular equation;
* the depth-``L`` weight-decay scalar problem (1d) by a dense search over ``t = ||z||`` with
  the trust-region value ``phi(t)`` computed from the SVD of ``X``;
* the non-convex deep linear objective, its gradient and L-BFGS training on the weights.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, minimize_scalar

# --- 1a / 1c: nuclear-norm program ---------------------------------------------------------


def svt(A: np.ndarray, tau: float) -> np.ndarray:
    """Singular value soft-thresholding: prox of ``tau ||.||_*``."""
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    return (U * np.maximum(s - tau, 0.0)) @ Vt


def nuclear_value(X, Y, Z, beta) -> float:
    """``1/2 ||XZ - Y||^2 + beta ||Z||_*``."""
    return 0.5 * float(np.sum((X @ Z - Y) ** 2)) + beta * float(
        np.sum(np.linalg.svd(Z, compute_uv=False))
    )


def nuclear_dual_bound(X, Y, Z, beta) -> float:
    """Lower bound from the residual scaled into ``||X^T V||_2 <= beta`` (best scale)."""
    R = Y - X @ Z
    norm = np.linalg.norm(X.T @ R, 2)
    rr = float(np.sum(R * R))
    if rr == 0:
        return 0.0  # V = 0
    s = max(float(np.sum(R * Y)) / rr, 0.0)
    if norm > 0:
        s = min(s, beta / norm)
    V = s * R
    return -0.5 * float(np.sum((V - Y) ** 2)) + 0.5 * float(np.sum(Y * Y))


def prox_grad_nuclear(X, Y, beta, max_iter: int = 50000, gap_tol: float = 1e-12):
    """Minimize ``1/2||XZ - Y||^2 + beta ||Z||_*`` by proximal gradient (ISTA: step
    ``1/||X||_2^2``, singular value thresholding).

    Returns ``(Z, value, lower)`` where ``lower`` is a certified dual lower bound;
    raises if the certified relative gap does not reach ``gap_tol``.
    """
    Y = Y.reshape(X.shape[0], -1)
    step = 1.0 / np.linalg.norm(X, 2) ** 2
    Z = np.zeros((X.shape[1], Y.shape[1]))
    for it in range(max_iter):
        Z = svt(Z - step * (X.T @ (X @ Z - Y)), step * beta)
        if it % 20 == 19:
            val = nuclear_value(X, Y, Z, beta)
            lower = nuclear_dual_bound(X, Y, Z, beta)
            if val - lower <= gap_tol * max(1.0, abs(val)):
                return Z, val, lower
    raise AssertionError(f"reference prox-grad did not converge: gap {val - lower:.3g}")


def orthonormal_closed_form(X, Y, beta):
    """For ``X^T X = I``: ``Z* = SVT(X^T Y, beta)`` and the optimal value in closed form."""
    Y = Y.reshape(X.shape[0], -1)
    A = X.T @ Y
    sig = np.linalg.svd(A, compute_uv=False)
    value = 0.5 * (float(np.sum(Y * Y)) - float(np.sum(A * A)))
    value += float(np.sum(0.5 * np.minimum(sig, beta) ** 2 + beta * np.maximum(sig - beta, 0.0)))
    return svt(A, beta), value, sig


# --- 1b: scalar output ---------------------------------------------------------------------


def group_lasso_scalar(X, y, beta):
    """``min_z 1/2||Xz - y||^2 + beta ||z||_2`` via the secular equation ``mu ||z(mu)|| = beta``."""
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    b = U.T @ y
    c = s * b  # = V^T X^T y
    if np.linalg.norm(c) <= beta:
        z = np.zeros(X.shape[1])
        return z, 0.5 * float(y @ y)

    def h(log_mu):
        mu = np.exp(log_mu)
        return mu * np.linalg.norm(c / (s**2 + mu)) - beta

    lo, hi = -60.0, 60.0
    for _ in range(300):  # plain bisection: h is increasing in mu
        mid = 0.5 * (lo + hi)
        if h(mid) > 0:
            hi = mid
        else:
            lo = mid
    mu = np.exp(0.5 * (lo + hi))
    z = Vt.T @ (c / (s**2 + mu))
    return z, 0.5 * float(np.sum((X @ z - y) ** 2)) + beta * float(np.linalg.norm(z))


# --- 1d: depth-L weight decay, scalar output -------------------------------------------------


def trust_region_values(X, y, ts):
    """``phi(t) = min_{||z|| <= t} 1/2 ||Xz - y||^2`` for each ``t`` (vectorized bisection on
    the Lagrange multiplier, from the SVD of ``X``)."""
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    keep = s > s.max() * 1e-12  # the range of X only (rank-deficient X)
    U, s = U[:, keep], s[keep]
    b = U.T @ y
    c = s * b
    out_of_range = 0.5 * (float(y @ y) - float(b @ b))
    t_max = float(np.linalg.norm(c / s**2))
    ts = np.asarray(ts, dtype=float)
    phi = np.empty_like(ts)
    inside = ts < t_max
    phi[~inside] = out_of_range
    tt = ts[inside]
    lo = np.full(tt.shape, -80.0)
    hi = np.full(tt.shape, 80.0)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        mu = np.exp(mid)[:, None]
        norm = np.linalg.norm(c[None, :] / (s[None, :] ** 2 + mu), axis=1)
        too_big = norm > tt  # ||z(mu)|| decreases with mu
        lo = np.where(too_big, mid, lo)
        hi = np.where(too_big, hi, mid)
    mu = np.exp(0.5 * (lo + hi))[:, None]
    resid = mu * b[None, :] / (s[None, :] ** 2 + mu)
    phi[inside] = 0.5 * np.sum(resid**2, axis=1) + out_of_range
    return phi, t_max


def deep_scalar_reference(X, y, beta, depth, grid: int = 4000) -> float:
    """``min_t phi(t) + (beta L / 2) t^(2/L)`` by a dense grid over ``t`` then a bounded
    refinement; ``t = 0`` (the zero network) is included."""
    coef = 0.5 * beta * depth
    _, t_max = trust_region_values(X, y, np.array([0.0]))
    ts = np.linspace(0.0, t_max, grid)
    phi, _ = trust_region_values(X, y, ts)
    g = phi + coef * ts ** (2.0 / depth)
    k = int(np.argmin(g))
    best = float(g[k])
    lo, hi = ts[max(k - 1, 0)], ts[min(k + 1, grid - 1)]
    if hi > lo:
        res = minimize_scalar(
            lambda t: trust_region_values(X, y, np.array([t]))[0][0] + coef * t ** (2.0 / depth),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-14 * max(1.0, t_max)},
        )
        best = min(best, float(res.fun))
    return best


# --- the non-convex network, its gradient, L-BFGS --------------------------------------------


def unflatten(theta, shapes):
    out, k = [], 0
    for shape in shapes:
        size = shape[0] * shape[1]
        out.append(theta[k : k + size].reshape(shape))
        k += size
    return out


def deep_linear_loss_grad(theta, X, Y, beta, shapes, penalized):
    """Objective ``1/2||X W_1...W_L - Y||^2 + beta/2 sum_{l in penalized} ||W_l||^2`` and its
    gradient with respect to the flattened weights."""
    Ws = unflatten(theta, shapes)
    acts = [X]
    for W in Ws:
        acts.append(acts[-1] @ W)
    R = acts[-1] - Y
    value = 0.5 * float(np.sum(R * R))
    grads = [None] * len(Ws)
    back = R  # d value / d acts[l+1]
    for l in range(len(Ws) - 1, -1, -1):
        grads[l] = acts[l].T @ back
        back = back @ Ws[l].T
    for l in penalized:
        value += 0.5 * beta * float(np.sum(Ws[l] ** 2))
        grads[l] = grads[l] + beta * Ws[l]
    return value, np.concatenate([g.ravel() for g in grads])


def train_lbfgs(X, Y, beta, widths, seed, penalized=None, scale=0.5, maxiter=5000):
    """L-BFGS on the weights of ``X W_1 ... W_L`` from a seeded random start.

    ``widths`` are the hidden widths (``L - 1`` of them). Returns ``(value, weights)``.
    """
    Y = Y.reshape(X.shape[0], -1)
    dims = [X.shape[1], *widths, Y.shape[1]]
    shapes = list(zip(dims[:-1], dims[1:]))
    if penalized is None:
        penalized = range(len(shapes))
    penalized = list(penalized)
    rng = np.random.default_rng(seed)
    theta0 = np.concatenate([scale * rng.standard_normal(a * b) for a, b in shapes])
    res = minimize(
        deep_linear_loss_grad,
        theta0,
        args=(X, Y, beta, shapes, penalized),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": maxiter, "maxfun": 4 * maxiter, "gtol": 1e-12, "ftol": 1e-15},
    )
    return float(res.fun), unflatten(res.x, shapes)


def deep_linear_objective(X, Y, weights, beta, penalized=None) -> float:
    """The same objective as :func:`deep_linear_loss_grad`, from a list of weights."""
    Y = Y.reshape(X.shape[0], -1)
    out = X
    for W in weights:
        out = out @ W
    if penalized is None:
        penalized = range(len(weights))
    return 0.5 * float(np.sum((out - Y) ** 2)) + 0.5 * beta * sum(
        float(np.sum(weights[l] ** 2)) for l in penalized
    )


# --- conic programs with closed-form optima (the file formats of sdpnets.bench) -------------


def conic_references() -> list[tuple[str, object, float]]:
    """``(name, cvxpy problem, optimal value)`` of small conic programs whose optimum is known
    in closed form, one per cone the file writers map."""
    import cvxpy as cp

    rng = np.random.default_rng(3)
    M = rng.standard_normal((4, 4))
    C = M + M.T
    X = cp.Variable((4, 4), symmetric=True)
    # min <C, X> over the spectraplex: the smallest eigenvalue (every off-diagonal counts)
    psd = cp.Problem(cp.Minimize(cp.trace(C @ X)), [X >> 0, cp.trace(X) == 1])
    x = cp.Variable(3)
    # the distance of (2, 0, 0) to the simplex: 1, at (1, 0, 0)
    soc = cp.Problem(cp.Minimize(cp.norm(x - np.array([2.0, 0.0, 0.0]))),
                     [cp.sum(x) == 1, x >= 0])
    y = cp.Variable(3)
    # sum of exp(y_i) - 2 y_i: each y_i = log 2
    exp = cp.Problem(cp.Minimize(cp.sum(cp.exp(y)) - 2 * cp.sum(y)))
    return [("psd", psd, float(np.linalg.eigvalsh(C)[0])), ("soc", soc, 1.0),
            ("exp", exp, 3 * (2 - 2 * np.log(2)))]
