r"""Convex losses, summed over samples, each with its whole calculus: value, cvxpy
expression, Fenchel conjugate, gradient (the dual point of a prediction), prox and the best
scale of a dual point.

Conventions (docs/conventions.md):

* squared: :math:`L(\hat y) = \tfrac12 \|\hat y - y\|^2`
* logistic: :math:`L(\hat y) = \sum_i \log(1 + e^{-y_i \hat y_i})`, :math:`y_i \in \{-1, 1\}`
* hinge: :math:`L(\hat y) = \sum_i (1 - y_i \hat y_i)_+`, :math:`y_i \in \{-1, 1\}`

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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import cvxpy as cp
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import xlogy

from .errors import InvalidInputError

__all__ = ["Loss", "SquaredLoss", "LogisticLoss", "HingeLoss", "get_loss", "LOSSES"]


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

    def best_dual_scale(self, v, y, dual_norm, beta):
        """A bounded 1-D search over :math:`s \\in [0, \\min(1, \\beta/\\text{dual\\_norm})]`
        (the dual domain is bounded), its end points compared too."""
        top = _largest_feasible(dual_norm, beta)
        res = minimize_scalar(lambda s: -self.dual_value(s * v, y), bounds=(0.0, top),
                              method="bounded", options={"xatol": 1e-12})
        return max((float(res.x), top, 0.0), key=lambda t: self.dual_value(t * v, y))


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

    def prox(self, c, y, rho, guess=None):
        """The margin ``y c`` kept above 1, moved by ``y / rho`` below ``1 - 1/rho``, set to
        1 between."""
        m = y * c
        return np.where(m >= 1.0, c, np.where(m <= 1.0 - 1.0 / rho, c + y / rho, y))

    def best_dual_scale(self, v, y, dual_norm, beta):
        """:math:`-L^*(-sv) = s\\langle v, y\\rangle` is linear in ``s``: the largest feasible
        scale (``s <= 1``, the dual domain is bounded)."""
        return _largest_feasible(dual_norm, beta)


LOSSES: dict[str, type[Loss]] = {
    "squared": SquaredLoss,
    "logistic": LogisticLoss,
    "hinge": HingeLoss,
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
