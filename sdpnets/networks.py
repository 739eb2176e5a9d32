r"""The non-convex networks sdpnets trains: prediction and weight-decay objective.

Every network holds its weights as NumPy arrays in :attr:`Network.weights`, predicts with
:meth:`Network.predict`, and evaluates its own *non-convex* training objective with
:meth:`Network.objective` (loss summed over samples plus ``beta/2`` times the squared
Frobenius norms of the penalized layers, MATH.md section 0). These classes never use the
convex programs' matrices: they are the independent side of the package's central check
``convex optimum == network objective``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from ._validate import check_beta, check_data, check_targets
from .errors import InvalidInputError
from .losses import Loss, get_loss

__all__ = ["Network", "LinearFC"]

#: Relative slack allowed on norm constraints before a network counts as infeasible.
CONSTRAINT_TOL = 1e-7


class Network(ABC):
    """Base class of the recovered (non-convex) networks."""

    weights: list[np.ndarray]

    @abstractmethod
    def predict(self, X) -> np.ndarray:
        """Network output for inputs ``X``."""

    @abstractmethod
    def penalty(self) -> float:
        """Sum of the squared Frobenius norms of the penalized layers (``inf`` when a
        norm constraint is violated)."""

    def objective(self, X, y, beta: float, loss: str | Loss = "squared") -> float:
        r"""Training objective :math:`L(f(X), y) + \tfrac{\beta}{2}\sum_l \|W_l\|_F^2`
        over the penalized layers (``inf`` if a norm constraint is violated)."""
        beta = check_beta(beta)
        loss = get_loss(loss)
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

    def __repr__(self) -> str:
        shapes = ", ".join("x".join(map(str, w.shape)) for w in self.weights)
        return f"{type(self).__name__}(weights=[{shapes}])"


class LinearFC(Network):
    r"""Deep linear fully connected network :math:`f(X) = X W_1 W_2 \cdots W_L`.

    Parameters
    ----------
    weights : sequence of 2-D arrays
        ``W_1`` is ``d x m_1``, ..., ``W_L`` is ``m_{L-1} x K``.
    hidden : {"weight_decay", "spectral"}
        ``"weight_decay"``: every layer is penalized. ``"spectral"``: layers
        ``1..L-2`` satisfy :math:`\|W_l\|_2 \le 1` and only the last two are penalized
        (MATH.md 1c).
    scalar_output : bool
        Return predictions of shape ``(n,)`` instead of ``(n, 1)``.
    """

    def __init__(
        self,
        weights: Sequence[np.ndarray],
        hidden: str = "weight_decay",
        scalar_output: bool = False,
    ) -> None:
        self.weights = [np.atleast_2d(np.asarray(w, dtype=float)) for w in weights]
        if len(self.weights) < 1:
            raise InvalidInputError("weights must hold at least one layer.")
        for a, b in zip(self.weights, self.weights[1:]):
            if a.shape[1] != b.shape[0]:
                raise InvalidInputError(
                    f"weights do not chain: {a.shape} is followed by {b.shape}."
                )
        if hidden not in ("weight_decay", "spectral"):
            raise InvalidInputError(
                f"hidden must be 'weight_decay' or 'spectral', got {hidden!r}."
            )
        self.hidden = hidden
        self.scalar_output = bool(scalar_output)

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def product(self) -> np.ndarray:
        r"""The end-to-end linear map :math:`W_1 \cdots W_L` (``d x K``)."""
        out = self.weights[0]
        for w in self.weights[1:]:
            out = out @ w
        return out

    def predict(self, X) -> np.ndarray:
        X = check_data(X)
        if X.shape[1] != self.weights[0].shape[0]:
            raise InvalidInputError(
                f"X must have {self.weights[0].shape[0]} columns, got shape {X.shape}."
            )
        out = X
        for w in self.weights:
            out = out @ w
        return out[:, 0] if self.scalar_output and out.shape[1] == 1 else out

    def constrained_layers(self) -> list[int]:
        """Indices of layers with :math:`\\|W_l\\|_2 \\le 1` (spectral variant)."""
        return list(range(self.depth - 2)) if self.hidden == "spectral" else []

    def penalty(self) -> float:
        for i in self.constrained_layers():
            if np.linalg.norm(self.weights[i], 2) > 1 + CONSTRAINT_TOL:
                return float("inf")
        penalized = self.weights[-2:] if self.hidden == "spectral" else self.weights
        return float(sum(np.sum(w * w) for w in penalized))

    def to_torch(self):
        """A ``torch.nn.Sequential`` of bias-free ``Linear`` layers with these weights."""
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ImportError("to_torch needs PyTorch: pip install 'sdpnets[torch]'") from exc
        layers = []
        for w in self.weights:
            layer = torch.nn.Linear(w.shape[0], w.shape[1], bias=False, dtype=torch.float64)
            with torch.no_grad():
                layer.weight.copy_(torch.as_tensor(w.T))
            layers.append(layer)
        return torch.nn.Sequential(*layers)


# --- convolutional networks (linear CNN, circular CNN) ------------------------------------

# --- ReLU networks --------------------------------------------------------------------------
