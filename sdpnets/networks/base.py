r"""The base class of the non-convex networks sdpnets trains: prediction and weight-decay
objective.

Every network holds its weights as NumPy arrays in :attr:`Network.weights`, predicts with
:meth:`Network.predict`, and evaluates its own *non-convex* training objective with
:meth:`Network.objective`,

.. math::

    L(f(X), y) + \tfrac{\beta}{2}\sum_l \|W_l\|_F^2

(loss summed over samples, over the penalized layers, docs/conventions.md). Networks never
use the convex programs' matrices: they are the independent side of the package's central
check ``convex optimum == network objective``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from .._validate import check_beta, check_targets
from ..errors import InvalidInputError
from ..losses import Loss, SquaredLoss, get_loss

__all__ = ["Network", "CONSTRAINT_TOL"]

#: Relative slack allowed on norm constraints before a network counts as infeasible.
CONSTRAINT_TOL = 1e-7


class Network(ABC):
    """Base class of the recovered (non-convex) networks."""

    weights: list[np.ndarray]

    #: The loss the network is trained with, the default of :meth:`objective` (a recovered
    #: network carries its program's loss); ``None`` when unknown (a network read from
    #: PyTorch without ``loss=``): :meth:`objective` and :func:`sdpnets.certify` then ask.
    loss: Loss | None = SquaredLoss()

    @abstractmethod
    def predict(self, X) -> np.ndarray:
        """Network output for inputs ``X``."""

    @abstractmethod
    def penalty(self) -> float:
        """Sum of the squared Frobenius norms of the penalized layers (``inf`` when a
        norm constraint is violated)."""

    def objective(self, X, y, beta: float, loss: str | Loss | None = None) -> float:
        r"""Training objective :math:`L(f(X), y) + \tfrac{\beta}{2}\sum_l \|W_l\|_F^2`
        over the penalized layers (``inf`` if a norm constraint is violated).

        ``loss=None`` uses the network's own :attr:`loss` (the loss of the program it was
        recovered from), so ``prog.network().objective(X, y, beta)`` equals the program's
        optimum for every loss.
        """
        beta = check_beta(beta)
        loss = self.training_loss(loss)
        yhat = self.predict(X)
        y = check_targets(y, yhat.shape[0])
        loss.check_targets(y)
        if y.shape != yhat.shape:
            if y.size != yhat.size:
                raise InvalidInputError(
                    f"y has shape {y.shape} but the network predicts shape {yhat.shape}."
                )
            yhat = yhat.reshape(y.shape)
        return loss.value(yhat, y) + 0.5 * beta * self.penalty()

    def training_loss(self, loss: str | Loss | None = None) -> Loss:
        """``loss`` if given, else the network's own; raises when neither is known."""
        if loss is not None:
            return get_loss(loss)
        if self.loss is None:
            raise InvalidInputError(
                f"the training loss of this {type(self).__name__} is unknown (it was read from "
                "PyTorch without loss=): state it, e.g. loss='squared' for regression, "
                "'logistic' for labels in {-1, +1} or 'softmax' for one-hot targets "
                "(sn.from_torch(module, loss=...) or the loss= argument here)."
            )
        return self.loss

    def __repr__(self) -> str:
        shapes = ", ".join("x".join(map(str, w.shape)) for w in self.weights)
        return f"{type(self).__name__}(weights=[{shapes}])"
