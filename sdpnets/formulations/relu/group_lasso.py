r"""The group lasso over activation patterns shared by the two-layer ReLU formulations
(docs/relu.md): the program, its recovery (Caratheodory pruning) and the certificates built
from scaled dual points.

Every family (:mod:`.mlp`, :mod:`.cnn`, :mod:`.circular`, :mod:`.gated`) solves

.. math::

    \min_{v_i, w_i} L\Big(S\sum_i D_i A (v_i - w_i),\; y\Big)
        + \beta \sum_i \big(R(v_i) + R(w_i)\big)
    \quad\text{s.t. } (2D_i - I)Av_i \ge 0,\ (2D_i - I)Aw_i \ge 0,

with rows ``A`` (samples, or stacked patches), a pooling map ``S`` and a group norm ``R``.
The program is built vectorized: ``V, W`` are ``(h, P)`` variables, the prediction is
``sum(mask * (A (V - W)), axis=1)`` and all cone constraints are one elementwise matrix
inequality.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import ClassVar

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from ..._validate import check_data, check_int, check_targets
from ...backends.firstorder.relu.ipm import predict_memory as ipm_memory
from ...backends.firstorder.relu.methods import (
    ADMM_OPTIONS,
    ATOMS_OPTIONS,
    predict_memory,
)
from ...backends.firstorder.relu.outputs import OutputJob, output_workers, solve_outputs
from ...backends.firstorder.relu.program import ReLUProgram
from ...errors import InvalidInputError
from ...features.patterns import DEFAULT_MAX_PATTERNS, PatternSet, resolve_patterns
from ...losses import HingeLoss, Loss, get_loss
from ...results import BetaMaxInterval, Certificate, SolveResult
from ...solving.progress import gap_progress
from ..base import ConvexProgram
from .dual_norm import (
    DualNormBracket,
    cells_if_they_fit,
    every_cell,
    hinge_dual_point,
    relu_dual_norm,
    relu_dual_norm_bracket,
)

__all__ = ["GroupLassoReLU", "caratheodory_prune", "output_bound", "outputs_bound",
           "certify_scalar", "certificate_kind", "beta_max_value", "zero_network_dual",
           "BLOCK_TOL"]

logger = logging.getLogger(__name__)

#: Blocks whose norm is at most this fraction of the largest block are dropped on recovery.
BLOCK_TOL = 1e-9


# --- pure pieces ------------------------------------------------------------------------------


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

def output_bound(loss: Loss, A: np.ndarray, y: np.ndarray, yhat: np.ndarray, beta: float, *,
                  masks: np.ndarray | None, max_patterns: int = DEFAULT_MAX_PATTERNS,
                  directions: np.ndarray | None = None, S=None, v: np.ndarray | None = None,
                  bracket: Callable | None = None, choose_hinge: bool = True,
                  centered: bool = False):
    r"""Lower bound on one output's share of the global optimum, from a dual point scaled
    into feasibility: ``(value, point, DualNormBracket)``.

    The dual point is ``v`` if given, else :math:`-\nabla L(\hat y)`; for the hinge loss the
    best choice in the subdifferential (:func:`~.dual_norm.hinge_dual_point`, with the
    neurons ``directions`` (rows of ``A``'s space) and, when the exact dual norm still
    exceeds ``beta``, its maximizing directions as cuts, up to three rounds; off with
    ``choose_hinge=False``). The dual norm is exact over ``masks`` when given, else
    bracketed (``bracket(rows)`` overrides both). ``centered``: the program has an
    unpenalized intercept, so the dual point is moved onto :math:`1^Tv = 0` first
    (:meth:`~sdpnets.losses.Loss.centered`).
    """
    def admissible(x):
        x = loss.into_domain(x, y)
        return loss.centered(x, y) if centered else x

    def rows(x):
        return x if S is None else np.asarray(S.T @ x)

    def measure(x):
        if bracket is not None:
            return bracket(rows(x))
        return relu_dual_norm_bracket(A, rows(x), masks=masks, max_patterns=max_patterns,
                                      directions=directions)

    choose = v is None and isinstance(loss, HingeLoss) and choose_hinge
    if v is None:
        v = loss.dual_point(yhat, y)
        if choose:
            v = hinge_dual_point(A, yhat, y, beta, neurons=directions, S=S)
    v = admissible(v)
    br = measure(v)
    value, s = loss.scaled_dual_value(v, y, br.upper, beta)
    best = (value, s * v, br)
    cuts: list[np.ndarray] = []
    for _ in range(3 if choose else 0):
        # a cut where the dual norm is known to exceed beta (exactly, or at a found direction)
        if (br.upper if br.exact else br.lower) <= beta * (1.0 + 1e-10) \
                or not np.any(br.direction):
            break
        cuts.append(br.direction)
        v = admissible(hinge_dual_point(A, yhat, y, beta, neurons=directions,
                                        cuts=np.stack(cuts, axis=1), S=S))
        br = measure(v)
        value, s = loss.scaled_dual_value(v, y, br.upper, beta)
        if value > best[0]:
            best = (value, s * v, br)
    return best


def outputs_bound(loss: Loss, A: np.ndarray, Y: np.ndarray, Yhat: np.ndarray, beta: float, *,
                  masks: np.ndarray | None, max_patterns: int = DEFAULT_MAX_PATTERNS,
                  directions: Callable[[int], np.ndarray | None] = lambda k: None, S=None,
                  V: np.ndarray | None = None, bracket: Callable | None = None,
                  choose_hinge: bool = True, centered: bool = False):
    r"""Lower bound on the global optimum of a ``K``-output program from its dual point:
    ``(value, point (n, K), brackets)``.

    A separable loss bounds each output apart (:func:`output_bound`, its own scale, the
    values summed). A coupled loss (softmax) has one dual point :math:`V` whose every column
    must satisfy the dual-norm constraint, so one scale :math:`s \le \beta/\max_k N(v_k)`
    serves all: the bound is :math:`-L^*(-sV)`. ``directions(k)`` gives output ``k``'s
    neurons; ``bracket(k, rows)`` overrides the dual norm as in :func:`output_bound`;
    ``centered`` as there (an unpenalized intercept)."""
    K = Y.shape[1]
    if loss.separable:
        lower, points, brackets = 0.0, [], []
        for k in range(K):
            value, point, br = output_bound(
                loss, A, Y[:, k], Yhat[:, k], beta, masks=masks, max_patterns=max_patterns,
                directions=directions(k), S=S, v=None if V is None else V[:, k],
                bracket=None if bracket is None else (lambda x, k=k: bracket(k, x)),
                choose_hinge=choose_hinge, centered=centered)
            lower += value
            points.append(point)
            brackets.append(br)
        return lower, np.stack(points, axis=1), brackets
    V = loss.dual_point(Yhat, Y) if V is None else V
    V = loss.into_domain(V, Y)
    if centered:
        V = loss.centered(V, Y)
    rows = V if S is None else np.asarray(S.T @ V)
    brackets = [
        bracket(k, rows[:, k]) if bracket is not None else relu_dual_norm_bracket(
            A, rows[:, k], masks=masks, max_patterns=max_patterns, directions=directions(k))
        for k in range(K)]
    value, s = loss.scaled_dual_value(V, Y, max(b.upper for b in brackets), beta)
    return value, s * V, brackets


def zero_network_dual(loss: Loss, Y: np.ndarray, intercept: bool) -> np.ndarray:
    r"""The dual point :math:`-\nabla L` of the zero network, ``(n, K)``: at the zero
    prediction, or with ``intercept`` at the best constant prediction
    :math:`1c^T` (:meth:`~sdpnets.losses.Loss.optimal_offset`), centered."""
    yhat = np.zeros_like(Y)
    if not intercept:
        return loss.dual_point(yhat, Y)
    yhat = yhat + loss.optimal_offset(yhat, Y)
    return loss.offset_dual_point(yhat, Y)


def certificate_kind(brackets: list[DualNormBracket]) -> tuple[str, tuple[float, float]]:
    """``Certificate.kind`` and ``dual_norm_bounds`` (the loosest output's bracket)."""
    exact = all(b.exact for b in brackets)
    worst = max(brackets, key=lambda b: b.upper / b.lower if b.lower > 0 else (
        1.0 if b.upper == 0 else np.inf))
    return ("exact" if exact else "relaxation"), (float(worst.lower), float(worst.upper))


def beta_max_value(brackets: list[DualNormBracket], interval: bool) -> float:
    """``max_k`` of the outputs' dual norms: a float when exact, else (or with ``interval``)
    a :class:`BetaMaxInterval`."""
    lower = max(b.lower for b in brackets)
    upper = max(b.upper for b in brackets)
    exact = all(b.exact for b in brackets)
    if exact and not interval:
        return float(upper)
    return BetaMaxInterval(upper if exact else lower, upper, exact)


def certify_scalar(network, X, y: np.ndarray, beta: float, loss: Loss,
                    dual_norm: Callable[[np.ndarray], float]) -> Certificate:
    """Certificate of a scalar-output network from its dual point :math:`-\\nabla L(f(X))`,
    scaled into feasibility; ``dual_norm(v)`` is the program's exact dual norm over every
    pattern."""
    v = loss.dual_point(np.asarray(network.predict(X)).reshape(y.shape), y)
    value, s = loss.scaled_dual_value(v, y, dual_norm(v), beta)
    point = s * v
    upper = network.objective(X, y, beta, loss)
    lower = min(value, upper)
    return Certificate(lower, upper, upper - lower, dual_point=point)

# --- the shared program ---------------------------------------------------------------------


class GroupLassoReLU(ConvexProgram):
    """Machinery shared by the ReLU formulations: rows ``A`` (``N x h``), a pooling map
    ``S`` (``n x N``, ``None`` for the identity), patterns of ``A``'s rows."""

    _A: np.ndarray
    _S: sp.spmatrix | None
    _y2: np.ndarray
    _loss: Loss
    _patterns: PatternSet

    has_firstorder: ClassVar[bool] = True
    #: Whether ``backend="auto"`` runs sdpnets' own ReLU solver first (then, if it did not
    #: certify ``tol``, a conic solver).
    auto_firstorder: ClassVar[bool] = True

    #: Cone-constrained blocks ``V, W`` (``False``: the gated program's free blocks).
    _cone: bool = True
    _fo_blocks: tuple[np.ndarray, np.ndarray] | None = None
    _fo_dual: np.ndarray | None = None
    #: The last first-order solve's ``(beta, dual points (n, K), certified gaps (K,))``.
    _fo_previous: tuple[float, np.ndarray, np.ndarray] | None = None
    _fo_handed_over: np.ndarray | None = None  # per output: the atoms handed over last solve
    #: Starting blocks ``(V, W)`` of a trained network (``patterns=net``), ``(h, P, K)``.
    _start_blocks: tuple[np.ndarray, np.ndarray] | None = None
    #: An unpenalized output offset ``c`` (intercept) in the program (docs/conventions.md
    #: section 5); the first-order solver's value of it.
    _intercept: bool = False
    _fo_offset: np.ndarray | None = None
    _offset: cp.Variable | None = None

    @property
    def intercept(self) -> bool:
        """Whether the program carries an unpenalized output offset (intercept)."""
        return self._intercept

    def build_memory(self) -> int:
        """Bytes of the ``n x P`` patterns expanded into float masks and signs for each
        output, and three copies of the rows ``A``."""
        K = self._y2.shape[1]
        return int(6 * 8 * self._patterns.masks.size * K + 3 * self._A.nbytes)

    def firstorder_memory(self) -> int:
        """Bytes of sdpnets' own ReLU solver
        (:func:`~sdpnets.backends.firstorder.relu.methods.predict_memory`)."""
        N, h = self._A.shape
        return predict_memory(N, h, self._patterns.masks.shape[1])

    @property
    def patterns(self) -> PatternSet:
        """The activation patterns the program uses and how they were obtained."""
        return self._patterns

    @property
    def loss(self) -> Loss:
        return self._loss

    @property
    def exact(self) -> bool:
        return self._patterns.complete

    def note(self) -> str:
        return self._patterns.message

    @property
    def cones(self):
        return frozenset({"nonneg", "soc"}) | self._loss.cones

    def _penalty(self, V: cp.Variable) -> cp.Expression:
        return cp.sum(cp.norm(V, 2, axis=0))

    def _build(self) -> cp.Problem:
        M = self._patterns.masks
        # equilibrated data (only the squared loss scales with the targets)
        A, y2 = self._equilibrate(self._A, self._y2, scale_targets=self._loss.homogeneous)
        P, K = M.shape[1], self._y2.shape[1]
        h = A.shape[1]
        Mt = np.tile(M, (1, K)).astype(float)  # column k * P + i: pattern i, output k
        V = cp.Variable((h, P * K), name="V")
        W = cp.Variable((h, P * K), name="W")
        self._V, self._W = self.solution_scale * V, self.solution_scale * W
        Z = cp.multiply(Mt, A @ (V - W))
        if self._scalar:
            rows = cp.sum(Z, axis=1)
        else:
            E = sp.kron(sp.eye(K), np.ones((P, 1)), format="csr")  # (P K, K) block sums
            rows = Z @ E
        yhat = rows if self._S is None else self._S @ rows
        target = y2[:, 0] if self._scalar else y2
        yhat = self._with_offset(yhat, target.shape)
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

    def _with_offset(self, yhat: cp.Expression, shape: tuple[int, ...]) -> cp.Expression:
        """``yhat`` plus the unpenalized offset variable (``1 c^T``) when the program has an
        intercept."""
        if not self._intercept:
            self._offset = None
            return yhat
        if len(shape) == 1:
            self._offset = cp.Variable(name="offset")
            return yhat + self._offset
        self._offset = cp.Variable(shape[1], name="offset")
        return yhat + np.ones((shape[0], 1)) @ cp.reshape(self._offset, (1, shape[1]), order="C")

    def offset(self) -> np.ndarray | None:
        """The solved unpenalized output offset (``()`` for scalar output, else ``(K,)``;
        ``None`` without an intercept)."""
        self._require_solution()
        return self._offset_value()

    def _offset_value(self) -> np.ndarray | None:
        if not self._intercept:
            return None
        if self._from_firstorder():
            c = np.asarray(self._fo_offset, dtype=float)
        else:
            assert self._offset is not None  # built with the intercept
            sy = self._scales[1] if self._loss.homogeneous else 1.0
            c = sy * np.asarray(self._offset.value, dtype=float)
        return c.reshape(()) if self._scalar else c.reshape(-1)

    @property
    def _scalar(self) -> bool:
        return self._y2.shape[1] == 1 and self._y_ndim == 1

    def blocks(self) -> tuple[np.ndarray, np.ndarray]:
        """The solved ``V, W`` as ``(h, P, K)`` arrays (pattern ``i``, output ``k``)."""
        self._require_solution()
        return self._block_values()

    def _block_values(self) -> tuple[np.ndarray, np.ndarray]:
        if self._from_firstorder():
            assert self._fo_blocks is not None  # _from_firstorder() checks it
            return self._fo_blocks
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

    def _set_dense_data(self, X, bias) -> None:
        """``X`` checked, ``bias`` and the data the patterns act on, :math:`A = [X, 1]`
        (``X`` without bias), of the fully connected families."""
        self.X = check_data(X)
        if not isinstance(bias, (bool, np.bool_)):
            raise InvalidInputError(f"bias must be True or False, got {bias!r}.")
        self.bias = bool(bias)
        self._A = np.hstack([self.X, np.ones((self.X.shape[0], 1))]) if self.bias else self.X
        self._S = None

    def _check_common(self, y, loss, patterns, seed, max_patterns, scalar_only=False,
                      intercept=False):
        if not isinstance(intercept, (bool, np.bool_)):
            raise InvalidInputError(f"intercept must be True or False, got {intercept!r}.")
        self._intercept = bool(intercept)
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

    #: Euclidean group norms: dual norms can be bracketed without every pattern
    #: (:mod:`.dual_norm`); ``False`` (circular filter): every pattern is required.
    _euclidean: bool = True

    def _all_masks(self) -> np.ndarray | None:
        """Every cell's pattern (the program's own when they are complete); ``None`` when
        they do not fit ``max_patterns`` and dual norms are bracketed instead."""
        if self._patterns.complete:
            return self._patterns.masks
        if not self._euclidean:
            return every_cell(self._A, self.max_patterns)
        return cells_if_they_fit(self._A, self.max_patterns)

    def _bracket(self, v: np.ndarray, masks: np.ndarray | None,
                 directions: np.ndarray | None = None) -> DualNormBracket:
        """The dual norm at ``v`` (rows of ``A``): exact over ``masks``, else bracketed."""
        if not self._euclidean:
            if masks is None:  # the exact dual norm is a maximum over every cell
                masks = every_cell(self._A, self.max_patterns)
            value = self._dual_norm(v, masks)
            return DualNormBracket(value, value, True, np.zeros(self._A.shape[1]))
        return relu_dual_norm_bracket(self._A, v, masks=masks, max_patterns=self.max_patterns,
                                      directions=directions)

    def beta_max(self, *, interval: bool = False) -> float:
        r"""Smallest ``beta`` at which the zero network is the global optimum for these data
        and this loss: :math:`\max_k \max_{\|u\| \le 1} |g_k^T (Au)_+|` with
        :math:`g = -\nabla L(0)` (``y`` for squared and hinge loss, ``y/2`` for logistic),
        pooled for CNNs (docs/relu.md section 4c).

        Exact (a float) when every pattern fits ``max_patterns``; otherwise a
        :class:`~sdpnets.BetaMaxInterval`, a float equal to the
        certified upper end (the zero network is optimal at and above it) with ``.lower``
        and ``.upper``. ``interval=True`` always returns the interval type."""
        g = zero_network_dual(self._loss, self._y2, self._intercept)
        rows = g if self._S is None else np.asarray(self._S.T @ g)
        masks = self._all_masks()
        brackets = [self._bracket(rows[:, k], masks) for k in range(rows.shape[1])]
        return beta_max_value(brackets, interval)

    def program_beta_max(self) -> float:
        r"""Smallest ``beta`` at which *this program* (over its own patterns, e.g. sampled
        ones) has the zero solution: :math:`\max_k` of the dual norm at the zero network's
        dual point over the program's patterns only (exact: one non-negative least-squares
        problem per pattern). At most :meth:`beta_max` (equal when the patterns are
        complete); the natural top of a ``beta`` grid for this program, and cheap."""
        g = zero_network_dual(self._loss, self._y2, self._intercept)
        rows = g if self._S is None else np.asarray(self._S.T @ g)
        masks = self._patterns.masks
        best = 0.0  # the outputs share it: patterns bounded below it are not solved
        for k in np.argsort(-np.abs(rows).sum(axis=0)):
            best = self._dual_norm(rows[:, k], masks, floor=best)
        return float(best)

    def _dual_norm(self, v: np.ndarray, masks: np.ndarray, floor: float = 0.0) -> float:
        """The dual norm of the program's regularizer at ``v`` over every pattern, or
        ``floor`` when that is larger (:func:`.dual_norm.relu_dual_norm`)."""
        return relu_dual_norm(self._A, v, masks, floor=floor)

    def _data_for_network(self) -> np.ndarray:
        """The inputs the recovered network takes (``X`` in the network's own shape)."""
        raise NotImplementedError

    def dual_point(self) -> np.ndarray:
        """The solver's dual point for the prediction (``y - yhat`` for squared loss)."""
        self._require_solution()
        if self._from_firstorder():  # the first-order solver's own dual point
            return np.asarray(self._fo_dual, dtype=float).reshape(self._y2.shape)
        v = np.asarray(self._pred_constraint.dual_value, dtype=float).reshape(self._y2.shape)
        return self._scales[1] * v  # the problem's targets are y / y_scale

    def _certify_rows(
        self, yhat: np.ndarray, upper: float, v: np.ndarray | None = None,
        masks: np.ndarray | None = None,
    ) -> Certificate:
        """Certificate from predictions ``yhat`` (n, K) (or a given dual point ``v``), over
        ``masks`` (default: every cell)."""
        masks = self._all_masks() if masks is None else masks
        dirs, _, out = self._neurons() if self._euclidean else (None, None, None)

        def directions(k: int) -> np.ndarray | None:
            return None if dirs is None else dirs[:, out == k]

        lower, points, brackets = outputs_bound(
            self._loss, self._A, self._y2, yhat, self.beta, masks=masks,
            directions=directions, S=self._S, V=v,
            bracket=lambda k, x: self._bracket(x, masks, directions(k)),
            choose_hinge=self._euclidean, centered=self._intercept,
        )
        lower = min(lower, upper)
        kind, bounds = certificate_kind(brackets)
        return Certificate(lower, upper, upper - lower, dual_point=points,
                           kind=kind, dual_norm_bounds=bounds)

    def _program_certificate(self) -> Certificate:
        """The certificate of the program that was solved: over its own patterns (for
        sampled patterns a bound on the program, not on the network's optimum)."""
        if self._from_firstorder():
            return self._firstorder_certificate()
        return self._certificate(masks=self._patterns.masks)

    def _certificate(self, masks: np.ndarray | None = None) -> Certificate:
        net = self.network()
        yhat = np.asarray(net.predict(self._data_for_network())).reshape(self._y2.shape)
        upper = net.objective(self._data_for_network(), self.y, self.beta, self._loss)
        # Two candidate dual points, each made exactly feasible by scaling: -grad L at the
        # network's predictions, and the solver's multiplier of the prediction (usually
        # feasible to a much smaller relative error; for hinge the only tight choice).
        best = self._certify_rows(yhat, upper, masks=masks)
        other = self._certify_rows(yhat, upper, v=self.dual_point(), masks=masks)
        return other if other.lower_bound > best.lower_bound else best

    # -- sdpnets' own solver (backend="firstorder") --------------------------------------
    def _from_firstorder(self) -> bool:
        return (self._result is not None and self._result.backend == "firstorder"
                and self._fo_blocks is not None)

    def solve_firstorder(self, *, tol, max_iters, time_limit, verbose, warm_start,
                          **options) -> SolveResult:
        """Solve with sdpnets' own ReLU solvers, one program per output.

        Each output is a :class:`~sdpnets.backends.firstorder.relu.program.ReLUProgram`
        solved by :func:`~sdpnets.backends.firstorder.relu.methods.solve_relu`, the
        outputs side by side in forked worker processes where there are several cores
        (:func:`~sdpnets.backends.firstorder.relu.outputs.output_workers`; option
        ``workers`` sets their number, ``workers=1`` solves in this process): ``method``
        "atoms" (column generation over cone atoms, cone-constrained program, every loss),
        "ipm" (interior point through the samples, every loss), "admm" (no intercept with
        the logistic and hinge losses), or
        "auto" (default: the atoms, finished by the interior point when they have not
        certified ``tol`` within half its predicted time; the interior point for the gated
        program; the ADMM where neither applies). Starts from the trained network's blocks
        (``patterns=net``) or, with ``warm_start``, from the last first-order solution.
        Options: ``atoms_per_round`` (atoms); ``rho``, ``check_every``, ``linear_solver``
        ("auto", "direct", "cg"), ``cone_weight`` (ADMM)."""
        A, M = self._A, self._patterns.masks
        n, K = self._y2.shape
        P, h = M.shape[1], A.shape[1]
        start = self._start_blocks
        previous = None  # the last solve of a path: (beta, dual points, gaps) for screening
        slow_atoms = np.zeros(self._y2.shape[1], dtype=bool)
        if warm_start and self._fo_blocks is not None:
            start = self._fo_blocks
            previous = self._fo_previous
            if previous is not None and self.beta <= previous[0] \
                    and self._fo_handed_over is not None:
                # the atoms only slow down as beta falls: once handed over, no more share
                slow_atoms = self._fo_handed_over
        known = ADMM_OPTIONS | ATOMS_OPTIONS | {"method", "screen", "workers"}
        unknown = set(options) - known
        if unknown:
            raise InvalidInputError(
                f"unknown option(s) {sorted(unknown)} for backend='firstorder'; known: "
                f"{sorted(known)}."
            )
        requested = options.pop("workers", None)
        if requested is not None:
            check_int(requested, "workers", minimum=1)
        refused = self._firstorder_refusal()
        if refused:
            return SolveResult(status="error", objective=float("nan"), backend="firstorder",
                               solve_time=0.0, compile_time=0.0, message=refused)
        t0 = time.perf_counter()
        # an intercept: the loss at the best offset (one solve, the offset in closed form)
        loss = self._loss.at_best_offset() if self._intercept else self._loss
        assert loss is not None  # refused above otherwise
        jobs = []
        for k in range(K):
            z0 = None
            if start is not None:
                z0 = np.hstack([start[0][:, :, k], start[1][:, :, k]]) if self._cone \
                    else start[0][:, :, k]
            prev = None if previous is None else (previous[0], previous[1][:, k], previous[2][k])
            program = ReLUProgram(A, M, self._y2[:, k], loss, self.beta, pool=A.shape[0] // n,
                                  cone=self._cone)
            jobs.append(OutputJob(program, z0, prev, bool(slow_atoms[k])))
        need = max(predict_memory(A.shape[0], h, P),
                   ipm_memory(A.shape[0], n, h, jobs[0].program.nb, self._cone))
        workers = output_workers(K, jobs[0].program, need, requested)

        def progress_for(k: int):
            return gap_progress(verbose, tol, "ReLU program"
                                + (f", output {k + 1} of {K}" if K > 1 else ""))

        outs = solve_outputs(jobs, workers=workers, time_limit=time_limit,
                             progress_for=progress_for, tol=tol, max_iters=max_iters,
                             log=logger if verbose else None, **options)
        offsets = [float(self._loss.optimal_offset(job.program.network_prediction(res.blocks),
                                                   self._y2[:, k]))
                   for k, (job, res) in enumerate(zip(jobs, outs))] if self._intercept else []
        if self._intercept:
            self._fo_offset = np.asarray(offsets)
        Z = np.stack([o.blocks for o in outs], axis=2)  # (h, nb, K)
        self._fo_blocks = (Z[:, :P], Z[:, P:]) if self._cone else (Z, np.zeros_like(Z))
        self._fo_dual = np.stack([o.dual_point for o in outs], axis=1)
        self._fo_handed_over = np.array([bool(o.statistics.get("handed_over")
                                              or o.statistics.get("ipm_first")) for o in outs])
        self._fo_previous = (self.beta, self._fo_dual,
                             np.array([max(o.gap, 0.0) for o in outs]))
        statuses = [o.status for o in outs]
        status = next((s for s in ("error", "time_limit", "iteration_limit", "optimal_inaccurate")
                       if s in statuses), "optimal")
        objective = float(sum(o.objective for o in outs))
        lower = float(sum(o.lower_bound for o in outs))
        program_objective = float(sum(o.program_objective for o in outs))
        upper = max(objective, program_objective)  # the bracket's upper end
        violation = max(o.cone_violation for o in outs)
        raw = {
            "lower_bound": lower,
            "gap": upper - lower,
            "program_objective": program_objective,
            "cone_violation": violation,
            "method": outs[0].method,
            "statistics": [o.statistics for o in outs],
            "history": [o.history for o in outs],
        }
        handed = [o for o in outs if o.statistics.get("handed_over")]
        kind = (handed or outs)[0].method  # the method that finished (a hand-over's)
        rounds = max(o.iterations for o in outs if o.method == kind)
        method = {"ipm": f"interior point ({rounds} iterations)",
                  "atoms": f"column generation over cone atoms ({rounds} rounds)",
                  "admm": f"ADMM ({outs[0].statistics.get('linear_solver')} linear "
                          "solves)"}[kind]
        if handed:
            which = "" if K == 1 else f" on {len(handed)} of {K} outputs"
            method = (f"column generation over cone atoms, finished by the {method}{which} "
                      f"(the atoms had not certified the gap in "
                      f"{max(o.statistics.get('atoms_seconds', 0.0) for o in handed):.1f} s)")
        message = (f"{method}: certified lower bound "
                   f"{lower:.10g}, network objective {objective:.10g}")
        if self._intercept:
            message += " (the loss at the best unpenalized offset)"
        failed = [k + 1 for k, o in enumerate(outs) if "failure" in o.statistics]
        if failed:
            message += (f"; output(s) {failed} not solved: "
                        f"{outs[failed[0] - 1].statistics['failure']}")
        if self._cone:
            message += f", cone violation {violation:.1e}"
        # the solver's own bracket, kept when it did not solve (verification replaces it)
        if not (np.isfinite(lower) and np.isfinite(upper)):
            lower, upper = -np.inf, np.inf
        return SolveResult(
            status=status, objective=objective, backend="firstorder",
            solve_time=time.perf_counter() - t0, compile_time=0.0,
            iterations=max(o.iterations for o in outs), message=message + ".", raw=raw,
            lower_bound=lower, upper_bound=upper, gap=upper - lower,
        )

    def _firstorder_refusal(self) -> str:
        """Why sdpnets' own solvers cannot take this program (``""`` when they can): they
        solve one output at a time, so not a loss that couples the outputs; and an
        unpenalized offset only for a loss whose minimum over it is a loss of its own
        (:meth:`~sdpnets.losses.Loss.at_best_offset`: the squared, logistic and hinge
        losses have theirs)."""
        if not self._loss.separable:
            return (f"the {self._loss.name} loss couples the outputs; sdpnets' own ReLU solvers "
                    "solve one output at a time. Use a conic backend ('clarabel', 'mosek'; "
                    "'auto' falls back to one that fits in memory).")
        if self._intercept and self._loss.at_best_offset() is None:
            return (f"sdpnets' own ReLU solvers take an unpenalized offset (intercept=True) "
                    f"with the squared, logistic and hinge losses only, not the "
                    f"{self._loss.name} loss. Use a conic backend ('clarabel', 'mosek'; "
                    "'auto' falls back to one that fits in memory).")
        return ""

    def _firstorder_certificate(self) -> Certificate:
        """The first-order solver's own certificate of the program: its lower bound (a dual
        point made feasible with the cone multipliers, over the program's patterns) and
        the recovered network's objective (with an intercept, the solver's loss is the
        loss at the best offset, :meth:`~sdpnets.losses.Loss.at_best_offset`, so its bound
        holds over the offset too)."""
        net = self.network()
        upper = net.objective(self._data_for_network(), self.y, self.beta, self._loss)
        assert self._result is not None  # network() has checked the solve
        lower = min(float(self._result.raw["lower_bound"]), upper)
        return Certificate(lower, upper, upper - lower, dual_point=self._fo_dual)
