r"""Two-layer ReLU networks as cone-constrained group lassos (MATH.md section 4).

For a two-layer ReLU network :math:`f(X) = \sum_j (Xu_j)_+ \alpha_j` with weight decay,

.. math::

    \min_{U, \alpha} L\Big(\sum_j (Xu_j)_+\alpha_j,\; y\Big)
        + \tfrac{\beta}{2}\big(\|U\|_F^2 + \|\alpha\|^2\big)
    \;=\; \min_{v_i, w_i} L\Big(\sum_i D_i X (v_i - w_i),\; y\Big)
        + \beta \sum_i \big(\|v_i\|_2 + \|w_i\|_2\big)
    \quad\text{s.t. } (2D_i - I)Xv_i \ge 0,\ (2D_i - I)Xw_i \ge 0,

over the activation patterns :math:`D_i` of every full-dimensional cell of the arrangement
:math:`\{x_k^T g = 0\}` (Pilanci & Ergen 2020, Theorem 1), for every convex loss ``L``
(summed over samples). The program is built vectorized: ``V, W`` are ``(d, P)`` variables,
the prediction is ``sum(mask * (X (V - W)), axis=1)`` and all cone constraints are one
elementwise matrix inequality. Variants: vector output with the separable l1-squared output
penalty (4d), ReLU CNNs with sum/mean pooling over joint patch patterns (4e), and a
circular filter before the ReLU, whose group norms become Fourier l1 norms (4f).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar, nnls

from .._validate import check_beta, check_choice, check_data, check_int, check_targets
from ..certificates import BETA_MAX_FAMILIES, certify
from ..errors import (
    InvalidInputError,
    NonConvexFormulationError,
    ProblemTooLargeError,
    SdpnetsWarning,
)
from ..losses import Loss, SquaredLoss, get_loss
from ..networks import CircularReLUNet, ReLUCNN, ReLUMLP
from ..patches import extract_patches
from ..patterns import (
    DEFAULT_MAX_PATTERNS,
    PatternSet,
    arrangement_info,
    enumerate_patterns,
    resolve_patterns,
)
from ..results import Certificate
from .base import ConvexProgram, best_dual_scaling

__all__ = [
    "ConvexReLU",
    "ConvexReLUCNN",
    "ConvexCircularReLU",
    "relu_dual_norm",
    "circular_relu_dual_norm",
    "relu_beta_max",
    "caratheodory_prune",
    "prune_network",
]

#: Blocks whose norm is at most this fraction of the largest block are dropped on recovery.
BLOCK_TOL = 1e-9


# --- pure pieces ------------------------------------------------------------------------------


def _every_cell(A: np.ndarray, max_patterns: int = DEFAULT_MAX_PATTERNS) -> np.ndarray:
    """The masks of every cell of ``A``'s rows, for an exact dual norm (MATH.md 4c); refused
    up front when the bound on their number exceeds ``max_patterns``."""
    bound = arrangement_info(A).max_cells
    if bound > max_patterns:
        raise ProblemTooLargeError(
            "an exact dual norm (certificate, certify, beta_max) "
            f"is a maximum over every activation pattern, and these data have up to "
            f"{bound:,} of them, more than max_patterns={max_patterns:,}. Raise max_patterns "
            "if enumerating them and one small problem per pattern fits; sampled patterns "
            "would only underestimate the dual norm, so no certified bound is given without them."
        )
    return enumerate_patterns(A, max_patterns=max_patterns).masks


def relu_dual_norm(
    A: np.ndarray, v: np.ndarray, masks: np.ndarray | None = None, *, return_direction: bool = False
):
    r""":math:`\max_{\|u\|_2 \le 1} |v^T (Au)_+|`, exactly (MATH.md 4c).

    Per pattern ``D`` and sign ``s``,
    :math:`\max\{s\,v^T D A u : \|u\| \le 1,\ (2D - I)Au \ge 0\}
    = \min_{\lambda \ge 0} \|s A^T D v + A^T (2D - I)\lambda\|_2`, one non-negative least
    squares problem each. ``masks`` must hold *every* cell of ``A``'s arrangement for the
    value to be exact (default: enumerated).

    Returns the maximum (and, with ``return_direction``, a maximizing unit ``u``).
    """
    A = np.asarray(A, dtype=float)
    v = np.asarray(v, dtype=float).reshape(-1)
    if masks is None:
        masks = _every_cell(A)
    masks = np.asarray(masks, dtype=bool)
    C = A.T @ (masks * v[:, None])  # (h, P): A^T D_i v for each pattern
    bound = np.linalg.norm(C, axis=0)  # lambda = 0 gives an upper bound per pattern
    best, best_u = 0.0, np.zeros(A.shape[1])
    for i in np.argsort(-bound):
        if bound[i] <= best:
            break
        At = (A * (2.0 * masks[:, i, None] - 1.0)).T  # A^T (2 D_i - I), (h, N)
        for s in (1.0, -1.0):
            lam, value = nnls(At, -s * C[:, i], maxiter=50 * At.shape[1])
            if value > best:
                best = float(value)
                r = s * C[:, i] + At @ lam
                best_u = r / np.linalg.norm(r)
    return (best, best_u) if return_direction else best


def circular_relu_dual_norm(
    X: np.ndarray, v: np.ndarray, masks: np.ndarray | None = None
) -> float:
    r""":math:`\max\{|v^T (Xq)_+| : \|Fq\|_1 / d \le 1\}`, the dual norm of the
    circular-filter ReLU program (MATH.md 4f), as an upper bound that is tight to solver
    accuracy.

    The dual of the Fourier l1 norm :math:`\tfrac1d\|Fq\|_1` (complex moduli) is
    :math:`\|Fa\|_\infty`, so per pattern ``D`` and sign ``s``

    .. math::

        \max\{s\,v^T D X q : (2D - I)Xq \ge 0,\ \|Fq\|_1 \le d\}
        = \min_{\lambda \ge 0} \|F(s X^T D v + X^T (2D - I)\lambda)\|_\infty,

    one small second-order cone program each (one parametrized cvxpy problem, compiled
    once, solved by Clarabel). The value kept is :math:`\|F(\cdot)\|_\infty` evaluated at
    the solver's :math:`\lambda` clipped to :math:`\ge 0`: an upper bound on the maximum
    whatever the solver's accuracy, so the lower bounds built on it stay valid. ``masks``
    must hold every cell of ``X``'s arrangement (default: enumerated).
    """
    X = np.asarray(X, dtype=float)
    v = np.asarray(v, dtype=float).reshape(-1)
    n, d = X.shape
    if masks is None:
        masks = _every_cell(X)
    masks = np.asarray(masks, dtype=bool)
    half = d // 2 + 1  # F a of a real a is conjugate symmetric: frequencies 0..d/2 suffice
    F = np.fft.fft(np.eye(d), axis=0)[:half]
    Fr, Fi = F.real, F.imag

    def fourier_sup(a: np.ndarray) -> np.ndarray:
        return np.abs(F @ a).max(axis=0)

    C = X.T @ (masks * v[:, None])  # (d, P): X^T D_i v
    bound = fourier_sup(C)  # lambda = 0
    c = cp.Parameter(d)
    sign = cp.Parameter(n)
    lam = cp.Variable(n, nonneg=True)
    t = cp.Variable()
    a = c + X.T @ cp.multiply(sign, lam)
    problem = cp.Problem(
        cp.Minimize(t), [cp.norm(cp.vstack([Fr @ a, Fi @ a]), 2, axis=0) <= t]
    )
    best = 0.0
    for i in np.argsort(-bound):
        if bound[i] <= best:
            break
        sign.value = 2.0 * masks[:, i] - 1.0
        for s in (1.0, -1.0):
            c.value = s * C[:, i]
            try:
                problem.solve(solver=cp.CLARABEL)
            except cp.error.SolverError as exc:
                warnings.warn(
                    f"Clarabel failed on the dual-norm cone program of pattern {i} ({exc}); "
                    "its lambda = 0 bound is used, valid but looser.",
                    SdpnetsWarning,
                    stacklevel=2,
                )
            value = bound[i]
            if lam.value is not None:
                step = X.T @ (sign.value * np.maximum(lam.value, 0.0))
                value = min(value, float(fourier_sup((s * C[:, i] + step)[:, None])[0]))
            best = max(best, value)
    return best


def caratheodory_prune(F: np.ndarray, c: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    r"""Weights :math:`c' \ge 0` with at most ``rank([F; 1^T])`` non-zeros, ``F c' = F c`` and
    :math:`\sum c' = \sum c` (Caratheodory: move along the null space of
    :math:`[F; 1^T]` until a coefficient hits zero, repeat).

    Parameters
    ----------
    F : ndarray, shape (N, m)
        One feature column per neuron.
    c : ndarray, shape (m,)
        Non-negative coefficients.
    """
    F = np.asarray(F, dtype=float)
    c = np.asarray(c, dtype=float).copy()
    M = np.vstack([F, np.ones((1, F.shape[1]))])
    active = np.flatnonzero(c > 0)
    c[c <= 0] = 0.0
    while active.size > 1:
        _, s, Vt = np.linalg.svd(M[:, active], full_matrices=True)
        if active.size <= M.shape[0] and s[-1] > tol * s[0] * active.size:
            break  # columns independent: nothing left to remove
        delta = Vt[-1]
        if delta.max() <= 0:
            delta = -delta
        pos = delta > 0
        ratios = np.full(active.size, np.inf)
        ratios[pos] = c[active[pos]] / delta[pos]
        k = int(np.argmin(ratios))
        c[active] = c[active] - ratios[k] * delta
        c[active[k]] = 0.0
        c[c < 0] = 0.0  # round-off only: ratios[k] is the smallest step to a zero
        active = np.flatnonzero(c > 0)
    return c


def _balanced_parts(net: ReLUMLP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit first-layer directions (with bias row), unit output rows and ``c_j``."""
    first = net.U if net.bias is None else np.vstack([net.U, net.bias[None, :]])
    a = np.linalg.norm(first, axis=0)
    alpha = net.alpha.reshape(net.width, -1)
    o = (
        np.abs(alpha).sum(axis=1)
        if net.output_penalty == "l1_squared"
        else np.linalg.norm(alpha, axis=1)
    )
    c = a * o
    live = c > 0
    dirs = np.zeros_like(first)
    outs = np.zeros_like(alpha)
    dirs[:, live] = first[:, live] / a[live]
    outs[live] = alpha[live] / o[live, None]
    return dirs, outs, c


def prune_network(net: ReLUMLP, X) -> ReLUMLP:
    r"""Caratheodory pruning of a two-layer ReLU network (MATH.md 4a).

    Every neuron is rebalanced (:math:`\|u_j\| = \|\alpha_j\|`, which never raises the
    objective) and written :math:`c_j\, \bar u_j, \bar\alpha_j` with unit parts; the
    predictions are linear in ``c`` and the penalty is :math:`\beta\sum_j c_j`, so
    :func:`caratheodory_prune` keeps both while leaving at most ``nK + 1`` neurons.
    """
    X = check_data(X)
    dirs, outs, c = _balanced_parts(net)
    Xa = X if net.bias is None else np.hstack([X, np.ones((X.shape[0], 1))])
    H = np.maximum(Xa @ dirs, 0.0)  # (n, m)
    F = (H[:, :, None] * outs[None, :, :]).transpose(0, 2, 1).reshape(-1, net.width)
    c = caratheodory_prune(F, c)
    keep = np.flatnonzero(c > 0)
    if keep.size == 0:
        keep = np.array([0])
    root = np.sqrt(c[keep])
    first = dirs[:, keep] * root
    alpha = outs[keep] * root[:, None]
    alpha = alpha.reshape(-1) if net.alpha.ndim == 1 else alpha
    U = first if net.bias is None else first[:-1]
    bias = None if net.bias is None else first[-1]
    return ReLUMLP(U, alpha, bias=bias, output_penalty=net.output_penalty)


def _dual_point(loss: Loss, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``-grad L(yhat)``: the dual point of a network's predictions (a subgradient for hinge)."""
    if loss.name == "squared":
        return y - yhat
    if loss.name == "logistic":
        return y / (1.0 + np.exp(np.clip(y * yhat, -700, 700)))
    if loss.name == "hinge":
        margin = y * yhat
        return y * np.where(margin < 1.0, 1.0, np.where(margin > 1.0, 0.0, 0.5))
    raise InvalidInputError(f"no dual point for loss {loss!r}.")


def _into_domain(loss: Loss, v: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Project a dual point into the domain of :math:`-L^*(-v)` (``v_i y_i`` in [0, 1] for
    the classification losses; solver dual points can leave it by round-off)."""
    if loss.classification:
        return y * np.clip(v * y, 0.0, 1.0)
    return v


def _scaled_dual_value(loss: Loss, v: np.ndarray, y: np.ndarray, dual_norm: float, beta: float):
    """Best lower bound :math:`-L^*(-sv)` over feasible scales ``s`` (``s * dual_norm <= beta``)."""
    if isinstance(loss, SquaredLoss):
        s = best_dual_scaling(v, y, dual_norm, beta)
        return loss.dual_value(s * v, y), s * v
    top = 1.0 if dual_norm <= beta else beta / dual_norm
    res = minimize_scalar(lambda s: -loss.dual_value(s * v, y), bounds=(0.0, top),
                          method="bounded", options={"xatol": 1e-12})
    s = float(res.x)
    best = max((s, top, 0.0), key=lambda t: loss.dual_value(t * v, y))
    return loss.dual_value(best * v, y), best * v


def _certify_scalar(network, X, y: np.ndarray, beta: float, loss: Loss,
                    dual_norm: Callable[[np.ndarray], float]) -> Certificate:
    """Certificate of a scalar-output network from its dual point :math:`-\\nabla L(f(X))`,
    scaled into feasibility; ``dual_norm(v)`` is the program's exact dual norm over every
    pattern."""
    v = _dual_point(loss, np.asarray(network.predict(X)).reshape(y.shape), y)
    value, point = _scaled_dual_value(loss, v, y, dual_norm(v), beta)
    upper = network.objective(X, y, beta, loss)
    lower = min(value, upper)
    return Certificate(lower, upper, upper - lower, dual_point=point)


# --- the shared program ---------------------------------------------------------------------


class _GroupLassoReLU(ConvexProgram):
    """Machinery shared by the ReLU formulations: rows ``A`` (``N x h``), a pooling map
    ``S`` (``n x N``, ``None`` for the identity), patterns of ``A``'s rows."""

    _A: np.ndarray
    _S: sp.spmatrix | None
    _y2: np.ndarray
    _loss: Loss
    _patterns: PatternSet

    @property
    def patterns(self) -> PatternSet:
        """The activation patterns the program uses and how they were obtained."""
        return self._patterns

    @property
    def loss(self) -> Loss:
        return self._loss

    @property
    def exact(self) -> bool:  # type: ignore[override]
        return self._patterns.complete

    def _message(self) -> str:
        return self._patterns.message

    @property
    def cones(self):  # type: ignore[override]
        base = {"nonneg", "soc"}
        if self._loss.name == "logistic":
            base.add("exp")
        return frozenset(base)

    def _penalty(self, V: cp.Variable) -> cp.Expression:
        return cp.sum(cp.norm(V, 2, axis=0))

    def _build(self) -> cp.Problem:
        A, M = self._A, self._patterns.masks
        P, K = M.shape[1], self._y2.shape[1]
        h = A.shape[1]
        Mt = np.tile(M, (1, K)).astype(float)  # column k * P + i: pattern i, output k
        V = cp.Variable((h, P * K), name="V")
        W = cp.Variable((h, P * K), name="W")
        self._V, self._W = V, W
        Z = cp.multiply(Mt, A @ (V - W))
        if self._scalar:
            rows = cp.sum(Z, axis=1)
        else:
            E = sp.kron(sp.eye(K), np.ones((P, 1)), format="csr")  # (P K, K) block sums
            rows = Z @ E
        yhat = rows if self._S is None else self._S @ rows
        target = self._y2[:, 0] if self._scalar else self._y2
        pred = cp.Variable(target.shape, name="prediction")
        self._pred = pred
        self._pred_constraint = pred == yhat
        sign = 2.0 * Mt - 1.0
        constraints = [
            self._pred_constraint,
            cp.multiply(sign, A @ V) >= 0,
            cp.multiply(sign, A @ W) >= 0,
        ]
        beta = self.beta_parameter
        objective = self._loss.expr(pred, target) + beta * (self._penalty(V) + self._penalty(W))
        return cp.Problem(cp.Minimize(objective), constraints)

    @property
    def _scalar(self) -> bool:
        return self._y2.shape[1] == 1 and self._y_ndim == 1

    def blocks(self) -> tuple[np.ndarray, np.ndarray]:
        """The solved ``V, W`` as ``(h, P, K)`` arrays (pattern ``i``, output ``k``)."""
        self._require_solution()
        return self._block_values()

    def _block_values(self) -> tuple[np.ndarray, np.ndarray]:
        h, P, K = self._A.shape[1], self._patterns.count, self._y2.shape[1]
        Vv = np.asarray(self._V.value, dtype=float).reshape(h, K, P).transpose(0, 2, 1)
        Wv = np.asarray(self._W.value, dtype=float).reshape(h, K, P).transpose(0, 2, 1)
        return Vv, Wv

    def _neurons(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Non-zero blocks as ``(vectors (h, m), signs (m,), outputs (m,))``."""
        Vv, Wv = self._block_values()
        h = Vv.shape[0]
        vec = np.concatenate([Vv.reshape(h, -1), Wv.reshape(h, -1)], axis=1)
        K, P = Vv.shape[2], Vv.shape[1]
        out = np.tile(np.tile(np.arange(K), P), 2)  # reshape(h, -1) runs (i, k) with k fastest
        sgn = np.repeat([1.0, -1.0], P * K)
        norms = np.linalg.norm(vec, axis=0)
        # natural scale of a block: ||y|| / ||A||_2 (so an all-zero optimum gives no neuron)
        scale = float(np.linalg.norm(self._y2)) / max(float(np.linalg.norm(self._A, 2)), 1e-300)
        keep = norms > BLOCK_TOL * max(norms.max(initial=0.0), scale, 1e-300)
        if scale == 0.0:  # zero targets: the zero network is the optimum
            keep[:] = False
        return vec[:, keep], sgn[keep], out[keep]

    def _check_common(self, y, loss, patterns, seed, max_patterns, scalar_only=False):
        n = self._A.shape[0] if self._S is None else self._S.shape[0]
        y = check_targets(y, n)
        if scalar_only and y.ndim != 1:
            raise InvalidInputError(
                f"y must be (n,) for {type(self).__name__}, got shape {y.shape}."
            )
        self._loss = get_loss(loss)
        self._loss.check_targets(y)
        self.y = y
        self._y_ndim = y.ndim
        self._y2 = y.reshape(n, -1)
        if seed is not None:
            seed = check_int(seed, "seed", minimum=0)
        self.seed = seed
        self.max_patterns = check_int(max_patterns, "max_patterns", minimum=1)
        self._patterns = resolve_patterns(
            self._A, patterns, seed=seed, max_patterns=self.max_patterns
        )

    def _all_masks(self) -> np.ndarray:
        """Every cell's pattern (the program's own when they are complete)."""
        if self._patterns.complete:
            return self._patterns.masks
        return _every_cell(self._A, self.max_patterns)

    def beta_max(self) -> float:
        r"""Smallest ``beta`` at which the zero network is the global optimum for these data
        and this loss: :math:`\max_k \max_{\|u\| \le 1} |g_k^T (Au)_+|` with
        :math:`g = -\nabla L(0)` (``y`` for squared and hinge loss, ``y/2`` for logistic),
        pooled for CNNs (MATH.md 4c)."""
        g = _dual_point(self._loss, np.zeros_like(self._y2), self._y2)
        rows = g if self._S is None else np.asarray(self._S.T @ g)
        masks = self._all_masks()
        return max(self._dual_norm(rows[:, k], masks) for k in range(rows.shape[1]))

    def _dual_norm(self, v: np.ndarray, masks: np.ndarray) -> float:
        """The dual norm of the program's regularizer at ``v`` over every pattern."""
        return relu_dual_norm(self._A, v, masks)

    def dual_point(self) -> np.ndarray:
        """The solver's dual point for the prediction (``y - yhat`` for squared loss)."""
        self._require_solution()
        return np.asarray(self._pred_constraint.dual_value, dtype=float).reshape(self._y2.shape)

    def _certify_rows(
        self, yhat: np.ndarray, upper: float, v: np.ndarray | None = None
    ) -> Certificate:
        """Certificate from predictions ``yhat`` (n, K) (or a given dual point ``v``)."""
        masks = self._all_masks()
        if v is None:
            v = _dual_point(self._loss, yhat, self._y2)
        v = _into_domain(self._loss, v, self._y2)
        rows = v if self._S is None else np.asarray(self._S.T @ v)
        lower = 0.0
        points = []
        for k in range(self._y2.shape[1]):
            dn = self._dual_norm(rows[:, k], masks)
            value, point = _scaled_dual_value(self._loss, v[:, k], self._y2[:, k], dn, self.beta)
            lower += value
            points.append(point)
        lower = min(lower, upper)
        return Certificate(lower, upper, upper - lower, dual_point=np.stack(points, axis=1))

    def _certificate(self) -> Certificate:
        net = self.network()
        yhat = np.asarray(net.predict(self._data_for_network())).reshape(self._y2.shape)
        upper = net.objective(self._data_for_network(), self.y, self.beta, self._loss)
        # Two candidate dual points, each made exactly feasible by scaling: -grad L at the
        # network's predictions, and the solver's multiplier of the prediction (usually
        # feasible to a much smaller relative error; for hinge the only tight choice).
        best = self._certify_rows(yhat, upper)
        other = self._certify_rows(yhat, upper, v=self.dual_point())
        return other if other.lower_bound > best.lower_bound else best


# --- ConvexReLU ---------------------------------------------------------------------------------


class ConvexReLU(_GroupLassoReLU):
    r"""Globally optimal two-layer ReLU network :math:`f(X) = (XU + 1b^T)_+\alpha`.

    Solves (MATH.md 4a)

    .. math::

        \min_{v_i, w_i} L\Big(\sum_{i=1}^P D_i X (v_i - w_i), y\Big)
            + \beta\sum_{i=1}^P \big(\|v_i\|_2 + \|w_i\|_2\big)
        \quad\text{s.t.}\quad (2D_i - I)Xv_i \ge 0,\ (2D_i - I)Xw_i \ge 0,

    whose optimum equals :math:`\min L(f(X), y) + \tfrac{\beta}{2}(\|U\|_F^2 + \|b\|^2 +
    \|\alpha\|^2)` when the patterns ``D_i`` are every cell of the arrangement of ``X``'s
    rows (``patterns="exhaustive"``); with fewer patterns it is an upper bound
    (``result.exact`` is ``False``). For targets ``Y`` of shape ``(n, K)`` the output
    penalty is the separable :math:`\|\alpha_j\|_1^2` (4d): ``K`` independent programs that
    share the patterns.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,) or (n, K)
        Targets; labels in {-1, +1} for ``loss="logistic"`` and ``"hinge"``.
    beta : float
        Weight decay, ``> 0``.
    patterns : "exhaustive", int or array
        ``"exhaustive"``: every cell (refused with :class:`ProblemTooLargeError` when the
        bound exceeds ``max_patterns``); an int: that many sampled Gaussian gates; a boolean
        ``(n, P)`` array of patterns or a float ``(d, P)`` array of gates (``d + 1`` rows
        with ``bias=True``).
    loss : {"squared", "logistic", "hinge"} or Loss
        Summed over samples.
    bias : bool
        Append a column of ones to ``X`` (a penalized first-layer bias).
    seed : int or None
        Seed of the sampled gates.
    max_patterns : int
        Limit for exhaustive enumeration.
    """

    def __init__(
        self,
        X,
        y,
        beta: float,
        patterns: Any = "exhaustive",
        loss: str | Loss = "squared",
        bias: bool = False,
        seed: int | None = 0,
        *,
        max_patterns: int = DEFAULT_MAX_PATTERNS,
    ) -> None:
        super().__init__(beta)
        self.X = check_data(X)
        if not isinstance(bias, (bool, np.bool_)):
            raise InvalidInputError(f"bias must be True or False, got {bias!r}.")
        self.bias = bool(bias)
        n = self.X.shape[0]
        self._A = np.hstack([self.X, np.ones((n, 1))]) if self.bias else self.X
        self._S = None
        self._check_common(y, loss, patterns, seed, max_patterns)

    def _data_for_network(self) -> np.ndarray:
        return self.X

    def _recover(self, prune: bool = False) -> ReLUMLP:
        vec, sgn, out = self._neurons()
        d, K = self.X.shape[1], self._y2.shape[1]
        root = np.sqrt(np.linalg.norm(vec, axis=0))
        first = vec / np.maximum(root, 1e-300)
        if self._scalar:
            alpha = sgn * root
        else:
            alpha = np.zeros((vec.shape[1], K))
            alpha[np.arange(vec.shape[1]), out] = sgn * root
        if vec.shape[1] == 0:
            first = np.zeros((self._A.shape[1], 1))
            alpha = np.zeros(1) if self._scalar else np.zeros((1, K))
        net = ReLUMLP(
            first[:d],
            alpha,
            bias=first[d] if self.bias else None,
            output_penalty="frobenius" if self._scalar else "l1_squared",
        )
        return prune_network(net, self.X) if prune else net

    def network(self, prune: bool = False) -> ReLUMLP:  # type: ignore[override]
        """The recovered network: one neuron per non-zero block,
        :math:`u = v_i/\\sqrt{\\|v_i\\|}`, :math:`\\alpha = \\pm\\sqrt{\\|v_i\\|}`.

        With ``prune=True`` Caratheodory pruning leaves at most ``n + 1`` neurons
        (``nK + 1`` for ``K`` outputs) at the same objective.
        """
        return super().network(prune=prune)


def relu_beta_max(
    X,
    y,
    max_patterns: int = DEFAULT_MAX_PATTERNS,
    *,
    bias: bool = False,
    loss: str | Loss = "squared",
) -> float:
    r""":math:`\beta_{\max} = \max_{\|u\| \le 1} |g^T (Xu)_+|` with :math:`g = -\nabla L(0)`
    (max over outputs): the zero network is the global optimum of the two-layer ReLU problem
    iff :math:`\beta \ge \beta_{\max}` (MATH.md 4c). ``g = y`` for squared and hinge loss,
    ``y / 2`` for logistic loss. ``bias=True`` appends the ones column of a first-layer
    bias."""
    X = check_data(X)
    if not isinstance(bias, (bool, np.bool_)):
        raise InvalidInputError(f"bias must be True or False, got {bias!r}.")
    loss = get_loss(loss)
    y2 = check_targets(y, X.shape[0]).reshape(X.shape[0], -1)
    loss.check_targets(y2)
    A = np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X
    g = _dual_point(loss, np.zeros_like(y2), y2)
    masks = _every_cell(A, check_int(max_patterns, "max_patterns", minimum=1))
    return max(relu_dual_norm(A, g[:, k], masks) for k in range(y2.shape[1]))


BETA_MAX_FAMILIES["relu"] = relu_beta_max


@certify.register
def _certify_relu_mlp(
    network: ReLUMLP, X, y, beta: float, loss: str | Loss = "squared",
    max_patterns: int = DEFAULT_MAX_PATTERNS,
) -> Certificate:
    """Certify any two-layer ReLU network: its objective, a lower bound on the global optimum
    from its scaled dual point ``-grad L(f(X))`` (exact dual feasibility by NNLS over every
    pattern, MATH.md 4c), and the gap."""
    X = check_data(X)
    beta = check_beta(beta)
    loss = get_loss(loss)
    y = check_targets(y, X.shape[0])
    loss.check_targets(y)
    if X.shape[1] != network.U.shape[0]:
        raise InvalidInputError(
            f"the network has {network.U.shape[0]} inputs, X has {X.shape[1]} columns."
        )
    y2 = y.reshape(X.shape[0], -1)
    K_net = 1 if network.alpha.ndim == 1 else network.alpha.shape[1]
    if K_net != y2.shape[1]:
        raise InvalidInputError(f"the network has {K_net} outputs, y has {y2.shape[1]}.")
    if y2.shape[1] > 1 and network.output_penalty != "l1_squared":
        raise NonConvexFormulationError(
            "no certified lower bound for vector-output ReLU networks with standard weight "
            "decay (a copositive program, MATH.md 4d); the exact convex variant uses the "
            "separable output penalty: ReLUMLP(..., output_penalty='l1_squared')."
        )
    A = X if network.bias is None else np.hstack([X, np.ones((X.shape[0], 1))])
    masks = _every_cell(A, max_patterns)
    yhat = np.asarray(network.predict(X)).reshape(y2.shape)
    v = _dual_point(loss, yhat, y2)
    upper = network.objective(X, y, beta, loss)
    lower, points = 0.0, []
    for k in range(y2.shape[1]):
        dn = relu_dual_norm(A, v[:, k], masks)
        value, point = _scaled_dual_value(loss, v[:, k], y2[:, k], dn, beta)
        lower += value
        points.append(point)
    lower = min(lower, upper)
    return Certificate(lower, upper, upper - lower, dual_point=np.stack(points, axis=1))


# --- ReLU CNN with sum / mean pooling (MATH.md 4e) ------------------------------------------------


class ConvexReLUCNN(_GroupLassoReLU):
    r"""Globally optimal two-layer ReLU CNN with sum (or mean) pooling,
    :math:`f(x) = \sum_j \alpha_j\, c\sum_k (x_k^T u_j)_+` over the patches :math:`x_k`.

    Solves (MATH.md 4e), with the patch matrices :math:`X_k` (``n x h``) stacked into
    :math:`[X_1; \dots; X_K]` and the *joint* patterns :math:`D_i = (D_i^1, \dots, D_i^K)` of
    its ``nK`` rows,

    .. math::

        \min_{v_i, w_i} L\Big(c\sum_i\sum_k D_i^k X_k (v_i - w_i), y\Big)
            + \beta\sum_i (\|v_i\|_2 + \|w_i\|_2)
        \quad\text{s.t.}\quad (2D_i^k - I)X_k v_i \ge 0,\ (2D_i^k - I)X_k w_i \ge 0\ \forall k,

    equal to :math:`\min L(f(X), y) + \tfrac{\beta}{2}(\|U\|_F^2 + \|\alpha\|^2)` over every
    joint pattern (``c = 1`` for ``pooling="sum"``; ``c = 1/K`` for ``"mean"``, which is the
    same program on the patches divided by ``K``, by positive homogeneity).

    Parameters
    ----------
    X : array_like
        ``(n, length)``, ``(n, channels, length)`` or ``(n, channels, height, width)``.
    y : array_like, shape (n,)
    beta : float
    kernel_size, stride, padding : int or tuple
    patterns : "exhaustive", int or array
        As for :class:`ConvexReLU`, over the ``nK`` stacked patch rows (boolean arrays are
        ``(nK, P)`` with row ``k * n + i`` for patch ``k`` of sample ``i``; gates ``(h, P)``).
    loss : {"squared", "logistic", "hinge"}
    pooling : {"sum", "mean"}
    seed : int or None
    max_patterns : int
    """

    def __init__(
        self,
        X,
        y,
        beta: float,
        kernel_size,
        stride=1,
        padding=0,
        patterns: Any = "exhaustive",
        loss: str | Loss = "squared",
        pooling: str = "sum",
        seed: int | None = 0,
        *,
        max_patterns: int = DEFAULT_MAX_PATTERNS,
    ) -> None:
        super().__init__(beta)
        self.X = check_data(X, ndims=(2, 3, 4))
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.pooling = check_choice(pooling, "pooling", ("sum", "mean"))
        Pt = extract_patches(self.X, kernel_size, stride, padding)  # (n, K, h)
        n, K, _ = Pt.shape
        if self.pooling == "mean":
            Pt = Pt / K
        self._A = Pt.transpose(1, 0, 2).reshape(n * K, -1)  # row k * n + i
        self._S = sp.kron(np.ones((1, K)), sp.eye(n), format="csr")  # (n, nK)
        self.num_patches = K
        self._check_common(y, loss, patterns, seed, max_patterns, scalar_only=True)

    def _data_for_network(self):
        return self.X

    def _recover(self) -> ReLUCNN:
        vec, sgn, _ = self._neurons()
        root = np.sqrt(np.linalg.norm(vec, axis=0))
        U = vec / np.maximum(root, 1e-300)
        alpha = sgn * root
        if vec.shape[1] == 0:
            U, alpha = np.zeros((self._A.shape[1], 1)), np.zeros(1)
        return ReLUCNN(U, alpha, self.kernel_size, self.stride, self.padding, self.pooling)

    def network(self, prune: bool = False) -> ReLUCNN:  # type: ignore[override]
        """The recovered CNN, one filter per non-zero block (``prune=True``: at most
        ``n + 1`` filters by Caratheodory pruning, same objective)."""
        net = super().network()
        if not prune:
            return net
        a = np.linalg.norm(net.U, axis=0)
        c = a * np.abs(net.alpha)
        live = c > 0
        dirs = np.zeros_like(net.U)
        dirs[:, live] = net.U[:, live] / a[live]
        sgn = np.sign(net.alpha)
        F = np.asarray(self._S @ np.maximum(self._A @ dirs, 0.0)) * sgn  # (n, m)
        c = caratheodory_prune(F, c)
        keep = np.flatnonzero(c > 0) if np.any(c > 0) else np.array([0])
        root = np.sqrt(c[keep])
        return ReLUCNN(dirs[:, keep] * root, sgn[keep] * root, self.kernel_size, self.stride,
                       self.padding, self.pooling)


@certify.register
def _certify_relu_cnn(
    network: ReLUCNN, X, y, beta: float, loss: str | Loss = "squared",
    max_patterns: int = DEFAULT_MAX_PATTERNS,
) -> Certificate:
    r"""Certify any ReLU CNN with sum/mean pooling (MATH.md 4e): the dual norm
    :math:`\max_{\|u\| \le 1}|v^T \sum_k (X_k u)_+|` is computed exactly over the joint
    patterns of the stacked patches."""
    beta = check_beta(beta)
    loss = get_loss(loss)
    Pt = extract_patches(X, network.kernel_size, network.stride, network.padding)
    n, K, _ = Pt.shape
    y = check_targets(y, n)
    loss.check_targets(y)
    if y.ndim != 1:
        raise InvalidInputError(f"y must be (n,) for a ReLU CNN, got shape {y.shape}.")
    if network.pooling == "mean":
        Pt = Pt / K
    A = Pt.transpose(1, 0, 2).reshape(n * K, -1)
    masks = _every_cell(A, max_patterns)
    return _certify_scalar(network, X, y, beta, loss,
                           lambda v: relu_dual_norm(A, np.tile(v, K), masks))


# --- circular filter before the ReLU (MATH.md 4f) --------------------------------------------


class ConvexCircularReLU(_GroupLassoReLU):
    r"""Globally optimal network with a unit-norm circular filter before a ReLU,
    :math:`f(x) = \sum_j (x^T C(u_j)^T w_{1j})_+ w_{2j}`, :math:`\|u_j\|_2 \le 1`, weight
    decay on :math:`w_1, w_2` (MATH.md 4f).

    Solves program 4a with the group norms replaced by Fourier l1 norms,

    .. math::

        \min_{v_i, w_i} L\Big(\sum_i D_i X (v_i - w_i), y\Big)
            + \frac{\beta}{d}\sum_i \big(\|F v_i\|_1 + \|F w_i\|_1\big)
        \quad\text{s.t.}\quad (2D_i - I)Xv_i \ge 0,\ (2D_i - I)Xw_i \ge 0,

    (``F`` the unnormalized DFT, moduli of complex entries): the minimum of
    :math:`\|w_1\|` over unit filters with :math:`C(u)^T w_1 = q` is :math:`\|Fq\|_1/d`.
    Recovery, one neuron per block ``B = F v``: :math:`g = \|B\|_1/d`,
    :math:`u = F^{-1}\sqrt{d|B|/\|B\|_1}`, :math:`w_1 = F^{-1}(B/U)/\sqrt g`,
    :math:`w_2 = \pm\sqrt g`.

    The dual norm of the Fourier l1 penalty is :math:`\|Fa\|_\infty`, so certificates and
    :meth:`beta_max` take one small cone program per pattern
    (:func:`circular_relu_dual_norm`) where 4a takes one NNLS.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Full-length signals (the filters have length ``d``).
    y : array_like, shape (n,)
    beta : float
    patterns, loss, seed, max_patterns
        As for :class:`ConvexReLU`.
    """

    def __init__(
        self,
        X,
        y,
        beta: float,
        patterns: Any = "exhaustive",
        loss: str | Loss = "squared",
        seed: int | None = 0,
        *,
        max_patterns: int = DEFAULT_MAX_PATTERNS,
    ) -> None:
        super().__init__(beta)
        self.X = check_data(X)
        self._A = self.X
        self._S = None
        self._check_common(y, loss, patterns, seed, max_patterns, scalar_only=True)

    def _penalty(self, V: cp.Variable) -> cp.Expression:
        d = V.shape[0]
        F = np.fft.fft(np.eye(d), axis=0)
        size = V.shape[0] * V.shape[1]
        re = cp.reshape(F.real @ V, (1, size), order="C")
        im = cp.reshape(F.imag @ V, (1, size), order="C")
        return cp.sum(cp.norm(cp.vstack([re, im]), 2, axis=0)) / d

    def _data_for_network(self):
        return self.X

    def _recover(self) -> CircularReLUNet:
        vec, sgn, _ = self._neurons()
        d = self.X.shape[1]
        if vec.shape[1] == 0:
            return CircularReLUNet(np.zeros((d, 1)), np.zeros((d, 1)), np.zeros(1))
        B = np.fft.fft(vec, axis=0)  # (d, m)
        mod = np.abs(B)
        l1 = mod.sum(axis=0)
        g = l1 / d
        Uf = np.sqrt(d * mod / l1)
        filters = np.fft.ifft(Uf, axis=0).real
        W1f = np.divide(B, Uf, out=np.zeros_like(B), where=Uf > 0)
        W1 = np.fft.ifft(W1f, axis=0).real / np.sqrt(g)
        return CircularReLUNet(filters, W1, sgn * np.sqrt(g))

    def _dual_norm(self, v: np.ndarray, masks: np.ndarray) -> float:
        return circular_relu_dual_norm(self.X, v, masks)


@certify.register
def _certify_circular_relu(
    network: CircularReLUNet, X, y, beta: float, loss: str | Loss = "squared",
    max_patterns: int = DEFAULT_MAX_PATTERNS,
) -> Certificate:
    """Certify any network with a circular filter before a ReLU (MATH.md 4f): its
    objective, a lower bound on the global optimum from its scaled dual point
    ``-grad L(f(X))`` (dual norm by :func:`circular_relu_dual_norm` over every pattern), and
    the gap."""
    X = check_data(X)
    beta = check_beta(beta)
    loss = get_loss(loss)
    y = check_targets(y, X.shape[0])
    loss.check_targets(y)
    if y.ndim != 1:
        raise InvalidInputError(f"y must be a vector (n,) for this network, got shape {y.shape}.")
    if X.shape[1] != network.filters.shape[0]:
        raise InvalidInputError(
            f"the network has {network.filters.shape[0]} inputs, X has {X.shape[1]} columns."
        )
    masks = _every_cell(X, max_patterns)
    return _certify_scalar(network, X, y, beta, loss,
                           lambda v: circular_relu_dual_norm(X, v, masks))
