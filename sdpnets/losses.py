r"""Convex losses, summed over samples: cvxpy expression, NumPy value, Fenchel conjugate.

Conventions (docs/conventions.md):

* squared: :math:`L(\hat y) = \tfrac12 \|\hat y - y\|^2`
* logistic: :math:`L(\hat y) = \sum_i \log(1 + e^{-y_i \hat y_i})`, :math:`y_i \in \{-1, 1\}`
* hinge: :math:`L(\hat y) = \sum_i (1 - y_i \hat y_i)_+`, :math:`y_i \in \{-1, 1\}`

The conjugate is :math:`L^*(V) = \sup_u \langle V, u\rangle - L(u)`; for a regularized
problem :math:`\min_z L(Az) + \beta R(z)` every ``v`` with :math:`R^\circ(A^T v) \le \beta`
gives the lower bound :math:`-L^*(-v)` (weak duality). For the squared loss the optimal
``v`` is the residual ``y - yhat``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import cvxpy as cp
import numpy as np
from scipy.special import xlogy

from .errors import InvalidInputError

__all__ = ["Loss", "SquaredLoss", "LogisticLoss", "HingeLoss", "get_loss", "LOSSES"]


class Loss(ABC):
    """A convex loss summed over samples."""

    name: str = ""
    #: Whether targets must be labels in {-1, +1}.
    classification: bool = False

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SquaredLoss(Loss):
    name = "squared"

    def value(self, yhat, y):
        return 0.5 * float(np.sum((np.asarray(yhat) - y) ** 2))

    def expr(self, yhat, y):
        return 0.5 * cp.sum_squares(yhat - y)

    def conjugate(self, V, y):
        return float(np.sum(V * y) + 0.5 * np.sum(V**2))


class LogisticLoss(Loss):
    name = "logistic"
    classification = True

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
