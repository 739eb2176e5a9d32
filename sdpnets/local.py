r"""Non-convex local training baselines (gradient descent on the network weights).

These are what the convex programs are measured against: they train the *same* network
with the *same* objective from random starts, and can only ever end at or above the
certified global optimum.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._validate import check_beta, check_choice, check_data, check_int, check_targets
from .errors import InvalidInputError
from .losses import Loss, get_loss
from .networks.linear import LinearFC
from .networks.relu import ReLUMLP

__all__ = ["train_linear_fc", "train_relu_mlp", "train_relu_mlps_adam", "project_spectral"]


def project_spectral(W: np.ndarray) -> np.ndarray:
    """Euclidean projection onto :math:`\\{W : \\|W\\|_2 \\le 1\\}` (clip singular values)."""
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    return (U * np.minimum(s, 1.0)) @ Vt


def _forward_products(X: np.ndarray, weights: list[np.ndarray]):
    """Left products ``X W_1 ... W_l`` for every ``l`` (``acts[0] = X``)."""
    acts = [X]
    for w in weights:
        acts.append(acts[-1] @ w)
    return acts


def train_linear_fc(
    X,
    Y,
    beta: float,
    widths: Sequence[int],
    hidden: str = "weight_decay",
    *,
    seed: int = 0,
    max_iters: int = 5000,
    tol: float = 1e-12,
    init_scale: float = 0.5,
) -> LinearFC:
    r"""Train :math:`X W_1\cdots W_L` by (projected) gradient descent from a random start.

    Minimizes :math:`\tfrac12\|XW_1\cdots W_L - Y\|^2 + \tfrac{\beta}{2}\sum_l\|W_l\|_F^2`
    (``hidden="weight_decay"``) or, with ``hidden="spectral"``, penalizes only the last two
    layers and projects the others onto :math:`\|W_l\|_2\le 1` after every step. The step
    size is found by backtracking (Armijo), so the objective never increases.

    Parameters
    ----------
    X, Y : array_like
        Data ``(n, d)`` and targets ``(n,)`` or ``(n, K)``.
    beta : float
    widths : sequence of int
        Hidden widths ``m_1, ..., m_{L-1}``; the depth is ``len(widths) + 1``.
    seed : int
        Seed of the random (Gaussian, scaled by ``init_scale``) initialization.
    max_iters, tol
        Stop after ``max_iters`` steps or when a step improves the objective by less than
        ``tol`` relative.
    """
    X = check_data(X)
    Y = check_targets(Y, X.shape[0], name="Y")
    beta = check_beta(beta)
    hidden = check_choice(hidden, "hidden", ("weight_decay", "spectral"))
    widths = [check_int(m, "widths", minimum=1) for m in widths]
    if not widths:
        raise InvalidInputError("widths must name at least one hidden width.")
    Y2 = Y.reshape(X.shape[0], -1)
    dims = [X.shape[1], *widths, Y2.shape[1]]
    rng = np.random.default_rng(seed)
    weights = [init_scale * rng.standard_normal((a, b)) / np.sqrt(a) for a, b in zip(dims, dims[1:])]
    depth = len(weights)
    penalized = [hidden == "weight_decay" or l >= depth - 2 for l in range(depth)]
    constrained = [not p for p in penalized]

    def project(ws):
        return [project_spectral(w) if c else w for w, c in zip(ws, constrained)]

    def value_and_grads(ws):
        acts = _forward_products(X, ws)
        R = acts[-1] - Y2
        val = 0.5 * np.sum(R * R) + 0.5 * beta * sum(np.sum(w * w) for w, p in zip(ws, penalized) if p)
        grads = [None] * depth
        back = R  # d loss / d (X W_1 ... W_l) propagated from the output
        for l in range(depth - 1, -1, -1):
            grads[l] = acts[l].T @ back + (beta * ws[l] if penalized[l] else 0.0)
            back = back @ ws[l].T
        return float(val), grads

    weights = project(weights)
    value, grads = value_and_grads(weights)
    step = 1.0 / max(float(np.linalg.norm(X, 2)) ** 2, 1.0)
    for _ in range(max_iters):
        while True:
            trial = project([w - step * g for w, g in zip(weights, grads)])
            trial_value, trial_grads = value_and_grads(trial)
            decrease = sum(np.sum(g * (w - t)) for g, w, t in zip(grads, weights, trial))
            if trial_value <= value - 0.5 * decrease or step < 1e-16:
                break
            step *= 0.5
        improvement = value - trial_value
        weights, value, grads = trial, trial_value, trial_grads
        step *= 1.5
        if improvement <= tol * max(1.0, abs(value)):
            break
    return LinearFC(weights, hidden=hidden, scalar_output=Y.ndim == 1)


def train_relu_mlp(X, y, beta: float, width: int, *, seed: int = 0, max_iters: int = 1000,
                   init_scale: float = 1.0) -> ReLUMLP:
    r"""Train a two-layer ReLU network :math:`(XU)_+\alpha` by L-BFGS from a random start.

    Minimizes the weight-decay objective of :class:`~sdpnets.ReLUMLP` with the squared loss,
    :math:`\tfrac12\|(XU)_+\alpha - y\|^2 + \tfrac\beta2(\|U\|_F^2 + \|\alpha\|^2)`
    (scalar output, no bias), with :func:`scipy.optimize.minimize` (``L-BFGS-B``; the ReLU
    is differentiated as :math:`1[z > 0]`). A local method: it ends at or above the global
    optimum, which ``ConvexReLU(X, y, beta, patterns=net)`` then improves on.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    beta : float
    width : int
        Hidden neurons ``m``.
    seed : int
        Seed of the Gaussian initialization (scaled by ``init_scale / sqrt(d)``).
    max_iters : int
        L-BFGS iterations.
    init_scale : float

    Returns
    -------
    ReLUMLP
    """
    from scipy.optimize import minimize

    X = check_data(X)
    y = check_targets(y, X.shape[0], name="y")
    if y.ndim != 1:
        raise InvalidInputError(f"y must be one target per sample, got shape {y.shape}.")
    beta = check_beta(beta)
    width = check_int(width, "width", minimum=1)
    max_iters = check_int(max_iters, "max_iters", minimum=1)
    d = X.shape[1]
    rng = np.random.default_rng(seed)

    def objective(theta):
        U, a = theta[: d * width].reshape(d, width), theta[d * width:]
        Z = X @ U
        r = np.maximum(Z, 0.0) @ a - y
        gU = X.T @ ((Z > 0) * np.outer(r, a)) + beta * U
        ga = np.maximum(Z, 0.0).T @ r + beta * a
        return 0.5 * r @ r + 0.5 * beta * (theta @ theta), np.concatenate([gU.ravel(), ga])

    theta0 = init_scale * rng.standard_normal(d * width + width) / np.sqrt(d)
    res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iters})
    return ReLUMLP(res.x[: d * width].reshape(d, width), res.x[d * width:])


def train_relu_mlps_adam(X, Y, beta: float, width: int, *, runs: int = 100, steps: int = 3000,
                         lr: float = 0.01, seed: int = 0, bias: bool = False,
                         loss: str | Loss = "squared") -> list[ReLUMLP]:
    r"""Train ``runs`` two-layer ReLU networks with ``K`` outputs from random starts at once.

    Each minimizes the standard objective
    :math:`\tfrac12\|(XU + 1b^T)_+\alpha - Y\|_F^2 + \tfrac\beta2(\|U\|_F^2 + \|b\|^2 +
    \|\alpha\|_F^2)` by full-batch Adam with a cosine step-size schedule (the ReLU
    differentiated as :math:`1[z > 0]`), vectorized over the runs: the summed objective
    decouples and Adam is per-coordinate, so each run is an independent training. A local
    method: every network ends at or above the global optimum (docs/relu_vector_output.md).

    Parameters
    ----------
    X : array_like, shape (n, d)
    Y : array_like, shape (n, K)
    beta : float
    width : int
        Hidden neurons per network.
    runs : int
        Number of networks.
    steps : int
        Adam steps.
    lr : float
        Initial step size.
    seed : int
        Seed of the He-style Gaussian initialization.
    bias : bool
        Train a (penalized) first-layer bias.
    loss : {"squared", "logistic", "hinge", "softmax"} or Loss
        The loss in place of the squared one (its gradient in the predictions drives the
        steps; softmax: one-hot rows of ``Y``).

    Returns
    -------
    list of ReLUMLP
        ``output_penalty="frobenius"``, with ``loss``.
    """
    X = check_data(X)
    Y = check_targets(Y, X.shape[0], name="Y").reshape(X.shape[0], -1)
    beta = check_beta(beta)
    loss = get_loss(loss)
    loss.check_targets(Y)
    width = check_int(width, "width", minimum=1)
    runs = check_int(runs, "runs", minimum=1)
    steps = check_int(steps, "steps", minimum=1)
    rng = np.random.default_rng(seed)
    A = np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X
    h, K = A.shape[1], Y.shape[1]
    W = [rng.standard_normal((runs, h, width)) * np.sqrt(2.0 / h),
         rng.standard_normal((runs, width, K)) / np.sqrt(width)]
    first = [np.zeros_like(w) for w in W]
    second = [np.zeros_like(w) for w in W]
    for t in range(1, steps + 1):
        Z = np.einsum("nd,rdm->rnm", A, W[0])
        H = np.maximum(Z, 0.0)
        F = np.einsum("rnm,rmk->rnk", H, W[1])
        if loss.name == "squared":
            R = F - Y
        elif loss.name == "softmax":  # vectorized over the runs
            E = np.exp(F - F.max(axis=2, keepdims=True))
            R = E / E.sum(axis=2, keepdims=True) - Y
        else:
            R = np.stack([loss.gradient(F[r], Y) for r in range(runs)])
        grads = (np.einsum("nd,rnm->rdm", A, np.einsum("rnk,rmk->rnm", R, W[1]) * (Z > 0))
                 + beta * W[0], np.einsum("rnm,rnk->rmk", H, R) + beta * W[1])
        step = lr * 0.5 * (1.0 + np.cos(np.pi * t / steps))
        for w, g, m1, m2 in zip(W, grads, first, second):
            m1 *= 0.9
            m1 += 0.1 * g
            m2 *= 0.999
            m2 += 0.001 * g * g
            w -= step * (m1 / (1 - 0.9**t)) / (np.sqrt(m2 / (1 - 0.999**t)) + 1e-12)
    if bias:
        return [ReLUMLP(W[0][r][:-1], W[1][r], bias=W[0][r][-1], loss=loss)
                for r in range(runs)]
    return [ReLUMLP(W[0][r], W[1][r], loss=loss) for r in range(runs)]

