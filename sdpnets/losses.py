r"""Convex losses, summed over samples, each with its whole calculus: value, cvxpy
expression, Fenchel conjugate, gradient (the dual point of a prediction), prox and the best
scale of a dual point.

Conventions (docs/conventions.md):

* squared: :math:`L(\hat y) = \tfrac12 \|\hat y - y\|^2`
* logistic: :math:`L(\hat y) = \sum_i \log(1 + e^{-y_i \hat y_i})`, :math:`y_i \in \{-1, 1\}`
* hinge: :math:`L(\hat y) = \sum_i (1 - y_i \hat y_i)_+`, :math:`y_i \in \{-1, 1\}`
* softmax (cross-entropy): :math:`L(\hat Y) = \sum_i \big(\log\sum_k e^{\hat y_{ik}}
  - \langle y_i, \hat y_i\rangle\big)`, rows :math:`y_i` one-hot (or in the simplex);
  the only loss here that couples the outputs (``separable = False``)

The conjugate is :math:`L^*(V) = \sup_u \langle V, u\rangle - L(u)`; for a regularized
problem :math:`\min_z L(Az) + \beta R(z)` every ``v`` with :math:`R^\circ(A^T v) \le \beta`
gives the lower bound :math:`-L^*(-v)` (weak duality). The natural dual point of a
prediction :math:`\hat y` is :math:`v = -\nabla L(\hat y)` (:meth:`Loss.dual_point`; for the
squared loss the residual ``y - yhat``); a dual point whose dual norm ``N`` exceeds
:math:`\beta` is scaled into feasibility, :math:`s \le \beta/N`, by the scale maximizing
:math:`-L^*(-sv)` (:meth:`Loss.best_dual_scale`). First-order solvers also need the prox
:math:`\arg\min_p L(p) + \tfrac\rho2\|p - c\|^2` (:meth:`Loss.prox`).

A loss of one's own needs :meth:`~Loss.value`, :meth:`~Loss.expr` and
:meth:`~Loss.conjugate` for the conic backends; the certificates and sdpnets' own solvers
also need :meth:`~Loss.dual_point`, :meth:`~Loss.best_dual_scale` and :meth:`~Loss.prox`,
and raise :class:`~sdpnets.InvalidInputError` naming the missing piece when it lacks one.

**Unpenalized intercept** (docs/relu.md section 4h). A program with an output offset
:math:`c`, :math:`\min_{z, c} L(Fz + 1c^T) + \beta R(z)`, has the dual
:math:`\max_V -L^*(-V)` over the same dual-norm ball *and* :math:`1^TV = 0`. So a loss also
gives :meth:`~Loss.optimal_offset` (the best offset for fixed predictions) and
:meth:`~Loss.centered` (a dual point moved onto :math:`1^TV = 0` inside the loss's domain).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import cvxpy as cp
import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.special import expit, xlogy

from .errors import InvalidInputError

__all__ = ["Loss", "SquaredLoss", "CenteredSquaredLoss", "LogisticLoss",
           "LogisticAtBestOffset", "HingeLoss", "HingeAtBestOffset",
           "SoftmaxLoss", "get_loss", "LOSSES", "OFFSET_NEWTON_STEP"]

#: The logistic loss's best offset stops once a Newton step is this small relative to the
#: offset: Newton's error after it is of the order of its square, below round-off (a
#: tighter test never passes, the root's sign test then flips on round-off, and the
#: bracket is bisected to nothing: 60 evaluations where 4 suffice).
OFFSET_NEWTON_STEP = 1e-10


class Loss(ABC):
    """A convex loss summed over samples."""

    name: str = ""
    #: Whether targets must be labels in {-1, +1}.
    classification: ClassVar[bool] = False
    #: Whether :math:`L(c\hat y, cy) = c^2 L(\hat y, y)`: the targets may then be rescaled
    #: (the conic programs' equilibration) without changing the optimum's location.
    homogeneous: ClassVar[bool] = False
    #: Cones beyond the nonnegative and second-order ones its cvxpy expression needs.
    cones: ClassVar[frozenset[str]] = frozenset()
    #: Whether the loss is a sum over the columns (outputs) of its argument: a program with
    #: ``K`` outputs is then ``K`` programs that share their patterns, solvable one output at
    #: a time. ``False`` (softmax) couples the outputs: they are solved jointly.
    separable: ClassVar[bool] = True
    #: Whether the loss has already minimized over an unpenalized offset of the
    #: predictions (:class:`CenteredSquaredLoss`, :class:`LogisticAtBestOffset`): its dual
    #: points are centered.
    centered_offset: ClassVar[bool] = False

    def check_targets(self, y: np.ndarray) -> np.ndarray:
        """Raise unless ``y`` suits this loss; return it unchanged."""
        if self.classification and not np.all(np.isin(y, (-1.0, 1.0))):
            bad = np.unique(y[~np.isin(y, (-1.0, 1.0))])[:5]
            raise InvalidInputError(
                f"y must hold labels in {{-1, +1}} for the {self.name} loss; "
                f"found values such as {bad.tolist()}. Map 0/1 labels with 2 * y - 1, or use "
                "a classifier of sdpnets.sklearn, which takes any two labels."
            )
        return y

    @abstractmethod
    def value(self, yhat: np.ndarray, y: np.ndarray) -> float:
        """The loss of predictions ``yhat`` (NumPy)."""

    @abstractmethod
    def expr(self, yhat: cp.Expression, y: np.ndarray) -> cp.Expression:
        """The same loss as a cvxpy expression."""

    @abstractmethod
    def conjugate(self, V: np.ndarray, y: np.ndarray) -> float:
        """:math:`L^*(V)`; ``inf`` outside its domain."""

    def dual_value(self, v: np.ndarray, y: np.ndarray) -> float:
        """The dual objective :math:`-L^*(-v)` of a dual point ``v``."""
        return -self.conjugate(-np.asarray(v, dtype=float), y)

    def dual_point(self, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
        r"""The dual point :math:`-\nabla L(\hat y)` of predictions ``yhat`` (the negative of
        a subgradient where the loss is not differentiable)."""
        raise self._missing("gradient (dual_point)")

    def gradient(self, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
        r""":math:`\nabla L(\hat y)` (a subgradient where the loss is not differentiable)."""
        return -self.dual_point(yhat, y)

    def into_domain(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``v`` projected into the domain of :math:`-L^*(-v)` (for the classification
        losses :math:`v_iy_i \\in [0, 1]`; solver dual points can leave it by round-off)."""
        if self.classification:
            return y * np.clip(v * y, 0.0, 1.0)
        return v

    def prox(self, c: np.ndarray, y: np.ndarray, rho: float,
             guess: np.ndarray | None = None) -> np.ndarray:
        r""":math:`\arg\min_p L(p, y) + \tfrac\rho2\|p - c\|^2`, elementwise (``guess``: a
        starting point where the prox is iterative, e.g. the previous prox)."""
        raise self._missing("prox")

    def has_prox(self) -> bool:
        """Whether the loss has its own :meth:`prox` (the ADMM needs one)."""
        return type(self).prox is not Loss.prox

    def at_best_offset(self) -> Loss | None:
        r"""This loss minimized in closed form over an unpenalized offset of the
        predictions, :math:`\min_c L(\hat y + c1, y)`, as a loss of its own (``None`` where
        that minimum has no closed form): a program with an intercept is then the program
        without one under this loss (:class:`CenteredSquaredLoss` for the squared loss)."""
        return None

    def optimal_offset(self, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
        r"""The unpenalized offset :math:`c = \arg\min_c L(\hat y + 1c^T, y)` for fixed
        predictions ``yhat``: shape ``()`` for ``(n,)`` targets, ``(K,)`` for ``(n, K)``."""
        yhat, y = np.asarray(yhat, dtype=float), np.asarray(y, dtype=float)
        cols = [self._column_offset(yhat.reshape(y.shape[0], -1)[:, k],
                                    y.reshape(y.shape[0], -1)[:, k])
                for k in range(y.reshape(y.shape[0], -1).shape[1])]
        return np.asarray(cols[0] if y.ndim == 1 else cols, dtype=float)

    def _column_offset(self, f: np.ndarray, y: np.ndarray) -> float:
        raise self._missing("optimal offset (optimal_offset)")

    def centered(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        r"""A dual point near ``v`` with :math:`1^Tv = 0` (every column), inside the domain
        of :math:`-L^*(-v)`: what the dual of a program with an unpenalized intercept asks."""
        v = np.asarray(v, dtype=float)
        if not self.classification:
            return v - v.mean(axis=0)
        return _balanced(self.into_domain(v, y), y)

    def offset_dual_point(self, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
        r"""A dual point :math:`-g`, :math:`g \in \partial L(\hat y)`, with :math:`1^Tg = 0`
        (every column), at predictions whose offset is optimal (such a ``g`` then exists):
        the optimality condition of the offset, which ``beta_max`` with an intercept needs.
        For a differentiable loss the gradient itself, centered against round-off."""
        return self.centered(self.into_domain(self.dual_point(yhat, y), y), y)

    def best_dual_scale(self, v: np.ndarray, y: np.ndarray, dual_norm: float,
                        beta: float) -> float:
        r"""The scale :math:`s \ge 0` maximizing the dual value :math:`-L^*(-sv)` among the
        feasible ones, :math:`s\,\text{dual\_norm} \le \beta`."""
        raise self._missing("best dual scale (best_dual_scale)")

    def scaled_dual_value(self, v: np.ndarray, y: np.ndarray, dual_norm: float,
                          beta: float) -> tuple[float, float]:
        """``(value, s)``: the lower bound :math:`-L^*(-sv)` at the best feasible scale
        ``s`` (:meth:`best_dual_scale`)."""
        s = self.best_dual_scale(v, y, dual_norm, beta)
        return self.dual_value(s * v, y), s

    def _missing(self, what: str) -> InvalidInputError:
        return InvalidInputError(
            f"the loss {self!r} has no {what}, which certificates and sdpnets' own solvers "
            f"need; the losses {', '.join(map(repr, LOSSES))} have theirs."
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _balanced(v: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""A classification loss's dual point ``v = y * theta`` (:math:`\theta \in [0, 1]`)
    with the side of the larger sum scaled down, column by column, so that
    :math:`1^Tv = 0`: it stays in the domain."""
    v = np.asarray(v, dtype=float)
    v2 = v.reshape(v.shape[0], -1).copy()
    y2 = np.asarray(y, dtype=float).reshape(v2.shape)
    for k in range(v2.shape[1]):
        pos, neg = y2[:, k] > 0, y2[:, k] < 0
        sp_, sn_ = float(v2[pos, k].sum()), float(-v2[neg, k].sum())
        if sp_ > sn_:
            v2[pos, k] *= sn_ / sp_
        elif sn_ > sp_:
            v2[neg, k] *= sp_ / sn_
    return v2.reshape(v.shape)


def _largest_feasible(dual_norm: float, beta: float) -> float:
    """The largest scale of a dual point in a bounded domain (``s <= 1``) with
    ``s * dual_norm <= beta``."""
    return 1.0 if dual_norm <= beta else beta / dual_norm


class SquaredLoss(Loss):
    name = "squared"
    homogeneous = True

    def value(self, yhat, y):
        return 0.5 * float(np.sum((np.asarray(yhat) - y) ** 2))

    def expr(self, yhat, y):
        return 0.5 * cp.sum_squares(yhat - y)

    def conjugate(self, V, y):
        return float(np.sum(V * y) + 0.5 * np.sum(V**2))

    def dual_point(self, yhat, y):
        """The residual ``y - yhat``."""
        return y - yhat

    def _column_offset(self, f, y):
        """The mean residual."""
        return float(np.mean(y - f))

    def at_best_offset(self) -> Loss:
        """:class:`CenteredSquaredLoss`."""
        return CenteredSquaredLoss()

    def prox(self, c, y, rho, guess=None):
        """:math:`(y + \\rho c) / (1 + \\rho)`."""
        return (y + rho * c) / (1.0 + rho)

    def best_dual_scale(self, v, y, dual_norm, beta):
        r"""The dual value :math:`-\tfrac12\|sv - y\|^2 + \tfrac12\|y\|^2` is concave in
        ``s``: its maximizer :math:`\langle v, y\rangle / \|v\|^2` (at least 0), capped at
        :math:`\beta/\text{dual\_norm}`."""
        vv = float(np.sum(v * v))
        if vv == 0.0:
            return 0.0
        s = max(float(np.sum(v * y)) / vv, 0.0)
        if dual_norm > 0:
            s = min(s, beta / dual_norm)
        return s


class CenteredSquaredLoss(SquaredLoss):
    r"""The squared loss at the best unpenalized offset,
    :math:`L(\hat y) = \min_c \tfrac12\|\hat y + c1 - y\|^2 = \tfrac12\|\Pi(\hat y - y)\|^2`
    with the centering :math:`\Pi = I - 11^T/n` (one output).

    A program :math:`\min_{z, c} \tfrac12\|Fz + c1 - y\|^2 + \beta R(z)` with an
    unpenalized intercept is the program :math:`\min_z L(Fz) + \beta R(z)` with this loss
    (the offset is minimized in closed form, :math:`c = \operatorname{mean}(y - Fz)`), so a
    solver of the program without intercept solves it in one run. Its conjugate is the
    squared loss's on :math:`1^Tv = 0` and :math:`+\infty` off it, so its dual points are
    centered (:meth:`into_domain`), as the dual of the program with an intercept asks.
    """

    centered_offset = True

    def value(self, yhat, y):
        r = np.asarray(yhat, dtype=float) - y
        r = r - r.mean()
        return 0.5 * float(r @ r)

    def expr(self, yhat, y):
        r = yhat - y
        return 0.5 * cp.sum_squares(r - cp.sum(r) / y.shape[0])

    def conjugate(self, V, y):
        V = np.asarray(V, dtype=float)
        if abs(float(V.sum())) > 1e-9 * max(float(np.abs(V).sum()), 1e-300):
            return float("inf")
        V = V - V.mean()  # the round-off of a centered point
        return float(V @ y + 0.5 * (V @ V))

    def dual_point(self, yhat, y):
        """The centered residual :math:`\\Pi(y - \\hat y)`."""
        r = y - np.asarray(yhat, dtype=float)
        return r - r.mean()

    def into_domain(self, v, y):
        """``v`` centered."""
        v = np.asarray(v, dtype=float)
        return v - v.mean()

    def at_best_offset(self) -> Loss:
        """Itself: the offset is already minimized over."""
        return self

    def prox(self, c, y, rho, guess=None):
        r"""The mean of ``c`` along :math:`1` (the loss is flat there), and
        :math:`\Pi(y + \rho c) / (1 + \rho)` across."""
        c = np.asarray(c, dtype=float)
        across = (y - y.mean() + rho * (c - c.mean())) / (1.0 + rho)
        return c.mean() + across

    def best_dual_scale(self, v, y, dual_norm, beta):
        """The squared loss's, on the centered ``v``."""
        return super().best_dual_scale(self.into_domain(v, y), y, dual_norm, beta)


class LogisticLoss(Loss):
    name = "logistic"
    classification = True
    cones = frozenset({"exp"})

    def value(self, yhat, y):
        return float(np.sum(np.logaddexp(0.0, -y * np.asarray(yhat))))

    def expr(self, yhat, y):
        return cp.sum(cp.logistic(-cp.multiply(y, yhat)))

    def conjugate(self, V, y):
        p = -V * y  # must lie in [0, 1]
        if np.any(p < -1e-12) or np.any(p > 1 + 1e-12):
            return float("inf")
        p = np.clip(p, 0.0, 1.0)
        return float(np.sum(xlogy(p, p) + xlogy(1 - p, 1 - p)))

    def dual_point(self, yhat, y):
        """:math:`y_i\\,\\sigma(-y_i\\hat y_i)`."""
        return y / (1.0 + np.exp(np.clip(y * yhat, -700, 700)))

    def second_order(self, yhat, y) -> tuple[float, np.ndarray, np.ndarray]:
        r"""``(value, v, w)`` at the predictions ``yhat``: the loss, its dual point
        :math:`v = -\nabla L` and the diagonal :math:`w_i = \sigma_i(1 - \sigma_i)` of its
        Hessian (what Newton-type solvers need, in one pass)."""
        yhat = np.asarray(yhat, dtype=float)
        p = 0.5 * (1.0 - np.tanh(0.5 * y * yhat))  # sigma(-y yhat)
        value = float(np.sum(np.logaddexp(0.0, -y * yhat)))  # this class's value, no offset
        return value, y * p, p * (1.0 - p)

    def prox(self, c, y, rho, guess=None):
        """``p = c + y t`` with ``t`` the root of the increasing
        :math:`g(t) = \\rho t - \\sigma(-(y c + t))` in :math:`[0, 1/\\rho]`: Newton steps
        kept inside a shrinking bracket (bisection otherwise)."""
        lo, hi = np.zeros_like(c), np.full_like(c, 1.0 / rho)
        t = np.zeros_like(c) if guess is None else np.clip(y * (guess - c), 0.0, 1.0 / rho)
        m = y * c
        for _ in range(100):
            e = 1.0 / (1.0 + np.exp(np.clip(m + t, -700, 700)))
            g = rho * t - e
            lo = np.where(g < 0, t, lo)
            hi = np.where(g > 0, t, hi)
            t_new = t - g / (rho + e * (1.0 - e))
            bad = (t_new <= lo) | (t_new >= hi)
            t_new = np.where(bad, 0.5 * (lo + hi), t_new)
            if np.max(np.abs(t_new - t)) <= 1e-14 * (1.0 + 1.0 / rho):
                t = t_new
                break
            t = t_new
        return c + y * t

    def _column_offset(self, f, y):
        """The root of the increasing :math:`g(c) = -\\sum_i y_i\\sigma(-y_i(f_i + c))`:
        Newton steps kept inside a shrinking bracket (bisection otherwise), stopped once a
        Newton step falls to :data:`OFFSET_NEWTON_STEP` (relative; the next one would be of
        its square, below round-off); an end of the bracket when all labels agree (the
        loss then only decreases towards it)."""
        width = 40.0 + float(np.max(np.abs(f), initial=0.0))
        lo, hi = -width, width
        # g(lo) < 0 < g(hi) as soon as both labels occur (each term is within e^-40 of
        # -1_{y > 0} at lo, of 1_{y < 0} at hi)
        positives, negatives = int(np.sum(y > 0)), int(np.sum(y < 0))
        if not positives:
            return lo
        if not negatives:
            return hi
        c = float(np.log(positives / negatives)) - float(np.mean(f))
        c = min(max(c, lo), hi)
        for _ in range(200):
            e = expit(-y * (f + c))  # sigma(-y(f + c))
            gc = float(-np.sum(y * e))
            if gc == 0.0:
                return c
            if gc > 0:
                hi = c
            else:
                lo = c
            curv = float(np.sum(e * (1.0 - e)))
            newton = c - gc / curv if curv > 0 else np.inf
            if abs(newton - c) <= OFFSET_NEWTON_STEP * max(1.0, abs(c)):
                return newton
            step = newton if lo < newton < hi else 0.5 * (lo + hi)
            if hi - lo <= 1e-15 * max(1.0, abs(c)):
                return step
            c = step
        return c

    def best_dual_scale(self, v, y, dual_norm, beta):
        r"""The maximizer over :math:`s \in [0, \min(1, \beta/\text{dual\_norm})]` (the
        dual domain is bounded) of the concave
        :math:`D(s) = -\sum_i [p_i\log p_i + (1 - p_i)\log(1 - p_i)]`,
        :math:`p_i = s\,a_i`, :math:`a_i = v_iy_i` (clipped into [0, 1]): the root of the
        decreasing :math:`D'(s) = -\sum_i a_i\,\mathrm{logit}(s a_i)` by Brent's method,
        or the upper end where :math:`D' \ge 0` there; its end points compared too."""
        top = _largest_feasible(dual_norm, beta)
        a = np.clip(np.asarray(v, dtype=float) * y, 0.0, 1.0)
        a = a[a > 0]

        def slope(t):
            p = np.clip(t * a, 1e-300, 1.0 - 1e-16)
            return -float(np.sum(a * (np.log(p) - np.log1p(-p))))

        if a.size and top > 0 and slope(top) < 0:
            s = brentq(slope, 1e-300, top, xtol=1e-15, rtol=1e-13)
        else:
            s = top
        return max((float(s), top, 0.0), key=lambda t: self.dual_value(t * v, y))

    def at_best_offset(self) -> Loss:
        """:class:`LogisticAtBestOffset`."""
        return LogisticAtBestOffset()


def _off_centered(V: np.ndarray) -> bool:
    """Whether ``V`` leaves :math:`1^TV = 0` by more than round-off."""
    return abs(float(V.sum())) > 1e-9 * max(float(np.abs(V).sum()), 1e-300)


class _AtBestOffset:
    r"""What a loss minimized over an unpenalized offset of the predictions shares (mixed in
    before the loss): its value is the loss's at the best offset
    (:meth:`~Loss.optimal_offset`), its cvxpy expression carries the offset as a variable
    minimized with the program, its conjugate is the loss's on :math:`1^Tv = 0` and
    :math:`+\infty` off it, its dual points are balanced (:meth:`into_domain`), it is its
    own loss at the best offset, and it has no elementwise prox: the offset couples the
    samples (:meth:`Loss.has_prox` is False, the ADMM does not take it)."""

    centered_offset = True

    def value(self, yhat, y):
        yhat = np.asarray(yhat, dtype=float)
        return super().value(yhat + self._column_offset(yhat, y), y)

    def expr(self, yhat, y):
        return super().expr(yhat + cp.Variable(), y)

    def conjugate(self, V, y):
        V = np.asarray(V, dtype=float)
        return float("inf") if _off_centered(V) else super().conjugate(V, y)

    def into_domain(self, v, y):
        """``v`` clipped into the loss's domain, then balanced (``1^T v = 0``)."""
        return _balanced(super().into_domain(v, y), y)

    def at_best_offset(self) -> Loss:
        """Itself: the offset is already minimized over."""
        return self  # type: ignore[return-value]

    prox = Loss.prox


class LogisticAtBestOffset(_AtBestOffset, LogisticLoss):
    r"""The logistic loss at the best unpenalized offset,
    :math:`L(\hat y) = \min_c \sum_i \log(1 + e^{-y_i(\hat y_i + c)})` (one output).

    A program :math:`\min_{z, c} \sum_i \log(1 + e^{-y_i((Fz)_i + c)}) + \beta R(z)` with an
    unpenalized intercept is the program :math:`\min_z L(Fz) + \beta R(z)` with this loss:
    the offset is a one-dimensional minimization for fixed predictions (a safeguarded
    Newton root, :meth:`~Loss.optimal_offset`). ``L`` is smooth and convex; its gradient
    is the logistic one at the best offset, whose entries sum to zero, and its Hessian is
    :math:`W - ww^T/1^Tw`, :math:`w_i = \sigma_i(1 - \sigma_i)` (the offset eliminated).
    Its conjugate is the logistic loss's on :math:`1^Tv = 0` and :math:`+\infty` off it
    (round-off clipped into its domain first), so its dual points are balanced
    (:meth:`into_domain`), as the dual of the program with an intercept asks. It has no
    elementwise prox (the ADMM does not take it).
    """

    def conjugate(self, V, y):
        V = np.asarray(V, dtype=float)
        if _off_centered(V):
            return float("inf")
        return LogisticLoss.conjugate(self, -self.into_domain(-V, y), y)

    def dual_point(self, yhat, y):
        r""":math:`y_i\,\sigma(-y_i(\hat y_i + c))` at the best offset ``c``, balanced
        against round-off."""
        yhat = np.asarray(yhat, dtype=float)
        return self.into_domain(super().dual_point(yhat + self._column_offset(yhat, y), y), y)

    def second_order(self, yhat, y):
        r"""The logistic loss's at the best offset (``v`` balanced against round-off); the
        Hessian of this loss is :math:`W - ww^T/1^Tw` with these ``w``."""
        yhat = np.asarray(yhat, dtype=float)
        value, v, w = super().second_order(yhat + self._column_offset(yhat, y), y)
        return value, self.into_domain(v, y), w


class HingeLoss(Loss):
    name = "hinge"
    classification = True

    def value(self, yhat, y):
        return float(np.sum(np.maximum(0.0, 1.0 - y * np.asarray(yhat))))

    def expr(self, yhat, y):
        return cp.sum(cp.pos(1 - cp.multiply(y, yhat)))

    def conjugate(self, V, y):
        p = -V * y  # must lie in [0, 1]
        if np.any(p < -1e-12) or np.any(p > 1 + 1e-12):
            return float("inf")
        return float(np.sum(V * y))

    def dual_point(self, yhat, y):
        """:math:`y_i\\theta_i` with :math:`\\theta_i = 1` below the margin, 0 above and 1/2
        on it (one subgradient; :func:`~sdpnets.formulations.relu.dual_norm.hinge_dual_point`
        chooses the best one for ReLU certificates)."""
        margin = y * yhat
        return y * np.where(margin < 1.0, 1.0, np.where(margin > 1.0, 0.0, 0.5))

    def offset_dual_point(self, yhat, y):
        """:math:`v = y\\theta` with :math:`\\theta_i = 1` below the margin, 0 above, and on
        the margin one common value per column chosen so that :math:`\\sum_i v_i = 0` (it
        exists when the offset is optimal; clipped to [0, 1] otherwise)."""
        y = np.asarray(y, dtype=float)
        margin = y * np.asarray(yhat, dtype=float).reshape(y.shape)
        tol = 1e-9 * max(1.0, float(np.max(np.abs(margin), initial=0.0)))
        kink = np.abs(margin - 1.0) <= tol
        theta = np.where(margin < 1.0 - tol, 1.0, 0.0)
        y2, t2, k2 = (a.reshape(y.shape[0], -1) for a in (y, theta, kink))
        for k in range(y2.shape[1]):
            fixed = float(np.sum(y2[:, k] * t2[:, k] * ~k2[:, k]))
            weight = float(np.sum(y2[:, k] * k2[:, k]))  # sum of y over the kinks
            if weight != 0.0:
                t2[k2[:, k], k] = np.clip(-fixed / weight, 0.0, 1.0)
        return self.centered(y * t2.reshape(y.shape), y)

    def prox(self, c, y, rho, guess=None):
        """The margin ``y c`` kept above 1, moved by ``y / rho`` below ``1 - 1/rho``, set to
        1 between."""
        m = y * c
        return np.where(m >= 1.0, c, np.where(m <= 1.0 - 1.0 / rho, c + y / rho, y))

    def _column_offset(self, f, y):
        """The middle of the interval of minimizers: the loss is piecewise linear and
        convex in ``c``,
        :math:`\\sum_{y_i > 0}(b_i - c)_+ + \\sum_{y_i < 0}(c - a_i)_+` with
        :math:`b_i = 1 - f_i`, :math:`a_i = -1 - f_i`: the best of its breakpoints, each
        evaluated in O(log n) from sorted prefix sums."""
        b = np.sort(1.0 - f[y > 0])
        a = np.sort(-1.0 - f[y < 0])
        cands = np.concatenate([b, a])
        if cands.size == 0:
            return 0.0
        b_suffix = np.concatenate([np.cumsum(b[::-1])[::-1], [0.0]])
        a_prefix = np.concatenate([[0.0], np.cumsum(a)])
        ib = np.searchsorted(b, cands, side="right")  # b_i > c from index ib on
        ia = np.searchsorted(a, cands, side="left")  # a_i < c below index ia
        value = (b_suffix[ib] - cands * (b.size - ib)) + (cands * ia - a_prefix[ia])
        best = cands[value <= value.min() + 1e-12 * max(1.0, abs(float(value.min())))]
        return 0.5 * float(best.min() + best.max())  # the middle of the flat bottom

    def best_dual_scale(self, v, y, dual_norm, beta):
        """:math:`-L^*(-sv) = s\\langle v, y\\rangle` is linear in ``s``: the largest feasible
        scale (``s <= 1``, the dual domain is bounded)."""
        return _largest_feasible(dual_norm, beta)

    def at_best_offset(self) -> Loss:
        """:class:`HingeAtBestOffset`."""
        return HingeAtBestOffset()


class HingeAtBestOffset(_AtBestOffset, HingeLoss):
    r"""The hinge loss at the best unpenalized offset,
    :math:`L(\hat y) = \min_c \sum_i (1 - y_i(\hat y_i + c))_+` (one output).

    A program :math:`\min_{z, c} \sum_i (1 - y_i((Fz)_i + c))_+ + \beta R(z)` with an
    unpenalized intercept is the program :math:`\min_z L(Fz) + \beta R(z)` with this loss:
    for fixed predictions the offset minimizes a convex piecewise-linear function, exactly
    (:meth:`~Loss.optimal_offset`, the middle of its flat bottom). Its conjugate is the
    hinge loss's on :math:`1^Tv = 0` and :math:`+\infty` off it, so its dual points are
    balanced (:meth:`into_domain`), as the dual of the program with an intercept asks; a
    subgradient is the hinge loss's at the best offset with the kinks' weights chosen so
    that it sums to zero (:meth:`HingeLoss.offset_dual_point`). It has no elementwise prox
    (the ADMM does not take it); the interior point carries the offset as one free
    variable and the atoms' master problem as one free column.
    """

    def dual_point(self, yhat, y):
        """A subgradient's negative at the best offset, summing to zero
        (:meth:`HingeLoss.offset_dual_point`)."""
        yhat = np.asarray(yhat, dtype=float)
        return self.offset_dual_point(yhat + self._column_offset(yhat, y), y)


class SoftmaxLoss(Loss):
    r"""Softmax cross-entropy over ``K`` outputs (multinomial logistic loss).

    :math:`L(\hat Y) = \sum_i \log\sum_k e^{\hat y_{ik}} - \langle y_i, \hat y_i\rangle`
    with rows :math:`y_i` one-hot (or any point of the simplex). It couples the outputs
    (``separable = False``): a program with this loss is solved jointly over its outputs.
    The conjugate is :math:`L^*(V) = \sum_{ik} p_{ik}\log p_{ik}` for :math:`P = V + Y`
    with rows in the simplex (``inf`` elsewhere); the dual point of predictions is
    :math:`Y - \operatorname{softmax}(\hat Y)`.
    """

    name = "softmax"
    classification = True
    separable = False
    cones = frozenset({"exp"})

    def check_targets(self, y: np.ndarray) -> np.ndarray:
        """Raise unless ``y`` is ``(n, K)``, ``K >= 2``, with rows in the simplex."""
        y = np.asarray(y)
        if y.ndim != 2 or y.shape[1] < 2:
            raise InvalidInputError(
                f"y must be (n, K) with K >= 2 columns for the softmax loss (one-hot rows, "
                f"e.g. np.eye(K)[labels]), got shape {y.shape}; sdpnets.sklearn's classifiers "
                "take any labels."
            )
        if np.any(y < 0) or not np.allclose(y.sum(axis=1), 1.0, rtol=0, atol=1e-9):
            raise InvalidInputError(
                "y must hold one-hot rows (or rows of probabilities summing to 1) for the "
                "softmax loss, e.g. np.eye(K)[labels]."
            )
        return y

    @staticmethod
    def _probabilities(yhat: np.ndarray) -> np.ndarray:
        z = yhat - yhat.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def value(self, yhat, y):
        yhat = np.asarray(yhat, dtype=float).reshape(y.shape)
        m = yhat.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(yhat - m).sum(axis=1))
        return float(np.sum(lse) - np.sum(y * yhat))

    def expr(self, yhat, y):
        return cp.sum(cp.log_sum_exp(yhat, axis=1)) - cp.sum(cp.multiply(y, yhat))

    def conjugate(self, V, y):
        P = np.asarray(V, dtype=float) + y  # rows must lie in the simplex
        if np.any(P < -1e-12) or not np.allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-9):
            return float("inf")
        P = np.clip(P, 0.0, 1.0)
        return float(np.sum(xlogy(P, P)))

    def dual_point(self, yhat, y):
        """:math:`Y - \\operatorname{softmax}(\\hat Y)` (row-wise)."""
        return y - self._probabilities(np.asarray(yhat, dtype=float).reshape(y.shape))

    def into_domain(self, v, y):
        """``Y - P`` with ``P = Y - v`` clipped at 0 and its rows renormalized."""
        P = np.clip(y - np.asarray(v, dtype=float), 0.0, None)
        s = P.sum(axis=1, keepdims=True)
        P = np.where(s > 0, P / np.where(s > 0, s, 1.0), y)
        return y - P

    def optimal_offset(self, yhat, y):
        r"""The ``(K,)`` offset :math:`c` with :math:`\sum_i \operatorname{softmax}(\hat y_i
        + c) = \sum_i y_i`, by damped Newton steps on the convex
        :math:`\sum_i \log\sum_k e^{\hat y_{ik} + c_k} - \langle 1^TY, c\rangle`
        (defined up to a constant, fixed by :math:`\sum_k c_k = 0`)."""
        F = np.asarray(yhat, dtype=float).reshape(y.shape)
        counts = y.sum(axis=0)
        K = y.shape[1]
        c = np.zeros(K)
        f_val = self.value(F, y)
        for _ in range(100):
            P = self._probabilities(F + c)
            g = P.sum(axis=0) - counts
            if np.max(np.abs(g)) <= 1e-13 * y.shape[0]:
                break
            H = np.diag(P.sum(axis=0)) - P.T @ P + 1e-12 * y.shape[0] * np.eye(K)
            step = np.linalg.lstsq(H, -g, rcond=None)[0]
            step -= step.mean()
            t = 1.0
            while t > 1e-12:
                trial = c + t * step
                v = self.value(F + trial, y)
                if v <= f_val + 1e-4 * t * float(g @ step):
                    break
                t *= 0.5
            if t <= 1e-12:
                break
            c, f_val = c + t * step, v
        return c - c.mean()

    def centered(self, v, y):
        """``Y - P`` with ``P = Y - v`` rescaled (Sinkhorn) so that its rows sum to 1 and its
        columns to those of ``Y``: column sums of the dual point zero, to round-off."""
        P = np.clip(y - np.asarray(v, dtype=float), 1e-300, None)
        counts = y.sum(axis=0)
        for _ in range(1000):
            cols = P.sum(axis=0)
            P = P * np.where(cols > 0, counts / np.where(cols > 0, cols, 1.0), 0.0)
            P = P / P.sum(axis=1, keepdims=True)
            if np.max(np.abs(P.sum(axis=0) - counts)) <= 1e-13 * y.shape[0]:
                break
        return y - P

    def best_dual_scale(self, v, y, dual_norm, beta):
        """A bounded 1-D search over :math:`s \\in [0, \\min(1, \\beta/\\text{dual\\_norm})]`
        (for :math:`s \\le 1`, :math:`Y - sv` is a mixture of ``Y`` and the probabilities,
        inside the domain), its end points compared too."""
        top = _largest_feasible(dual_norm, beta)
        res = minimize_scalar(lambda s: -self.dual_value(s * v, y), bounds=(0.0, top),
                              method="bounded", options={"xatol": 1e-12})
        return max((float(res.x), top, 0.0), key=lambda t: self.dual_value(t * v, y))


LOSSES: dict[str, type[Loss]] = {
    "squared": SquaredLoss,
    "logistic": LogisticLoss,
    "hinge": HingeLoss,
    "softmax": SoftmaxLoss,
}


def get_loss(loss: str | Loss) -> Loss:
    """Return a :class:`Loss` instance for a name or pass an instance through."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise InvalidInputError(
        f"loss must be one of {', '.join(map(repr, LOSSES))} or a Loss instance, got {loss!r}."
    )
