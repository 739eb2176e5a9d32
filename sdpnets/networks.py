r"""The non-convex networks sdpnets trains: prediction and weight-decay objective.

Every network holds its weights as NumPy arrays in :attr:`Network.weights`, predicts with
:meth:`Network.predict`, and evaluates its own *non-convex* training objective with
:meth:`Network.objective` (loss summed over samples plus ``beta/2`` times the squared
Frobenius norms of the penalized layers, docs/conventions.md). These classes never use the
convex programs' matrices: they are the independent side of the package's central check
``convex optimum == network objective``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from ._validate import check_array, check_beta, check_data, check_targets
from .errors import InvalidInputError
from .losses import Loss, SquaredLoss, get_loss
from .patches import extract_patches, spatial_tuple

__all__ = ["Network", "LinearFC", "ReLUMLP", "GatedReLUMLP", "ReLUCNN", "CircularReLUNet",
           "LinearCNN", "CircularCNN"]

#: Relative slack allowed on norm constraints before a network counts as infeasible.
CONSTRAINT_TOL = 1e-7


class Network(ABC):
    """Base class of the recovered (non-convex) networks."""

    weights: list[np.ndarray]

    #: The loss the network is trained with, the default of :meth:`objective` (a recovered
    #: network carries its program's loss).
    loss: Loss = SquaredLoss()

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
        loss = self.loss if loss is None else get_loss(loss)
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


def _check_layers(weights) -> None:
    """``weights`` must be a list or tuple of arrays, one per layer."""
    if not isinstance(weights, (list, tuple)):
        raise InvalidInputError(
            f"weights must be a list of arrays, one per layer, got {type(weights).__name__}."
        )


class LinearFC(Network):
    r"""Deep linear fully connected network :math:`f(X) = X W_1 W_2 \cdots W_L`.

    Parameters
    ----------
    weights : sequence of 2-D arrays
        ``W_1`` is ``d x m_1``, ..., ``W_L`` is ``m_{L-1} x K``.
    hidden : {"weight_decay", "spectral"}
        ``"weight_decay"``: every layer is penalized. ``"spectral"``: layers
        ``1..L-2`` satisfy :math:`\|W_l\|_2 \le 1` and only the last two are penalized
        (docs/linear_fc.md section 1c).
    scalar_output : bool
        Return predictions of shape ``(n,)`` instead of ``(n, 1)``.
    """

    def __init__(
        self,
        weights: Sequence[np.ndarray],
        hidden: str = "weight_decay",
        scalar_output: bool = False,
    ) -> None:
        _check_layers(weights)
        self.weights = [check_array(w, f"weights[{i}]", (2,)) for i, w in enumerate(weights)]
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
        """The network as bias-free ``Linear`` layers.

        Input ``(n, d)``, output ``(n, K)``.

        Returns
        -------
        torch.nn.Sequential
            Float64; its forward pass equals :meth:`predict` (:mod:`sdpnets.torch_io`).
        """
        from .torch_io import linear_fc_to_torch

        return linear_fc_to_torch(self)


# --- convolutional networks (linear CNN, circular CNN) ------------------------------------


def _as_batch(X, nd: int, channels: int, name: str = "X") -> np.ndarray:
    """``X`` as ``(n, C, *spatial)`` with ``nd`` spatial axes and ``channels`` channels."""
    from ._validate import check_array

    X = check_array(X, name, (2, 3, 4))
    if X.ndim == 2:
        X = X[:, None, :]
    if X.ndim - 2 != nd or X.shape[1] != channels:
        want = "(n, length) or (n, channels, length)" if nd == 1 else "(n, channels, height, width)"
        raise InvalidInputError(
            f"X must be {want} with {channels} channel(s) for this network, got shape "
            f"{X.shape}."
        )
    return X


class LinearCNN(Network):
    r"""Linear convolutional network with ``m`` filters (docs/linear_cnn.md sections 2a, 2b).

    Without pooling each filter's output at each position has its own output weight,

    .. math::

        f(x)_o = \sum_{j=1}^m \sum_{k=1}^K (u_j \star x)_k \, a_{jko},

    with pooling the filter outputs are summed (or averaged) over the ``K`` positions
    first, :math:`f(x)_o = \sum_j \big(\operatorname{pool}_k (u_j \star x)_k\big) a_{jo}`.
    :math:`\star` is cross-correlation (the deep-learning "convolution") with the given
    stride and zero padding, computed by :func:`scipy.signal.correlate`. Both layers are
    penalized: :math:`\tfrac{\beta}{2}(\sum_j\|u_j\|^2 + \|a\|_F^2)`.

    Parameters
    ----------
    filters : array_like, shape (m, C, q) or (m, C, q1, q2)
        The ``m`` filters (1-D signals or images with ``C`` channels).
    output_weights : array_like
        ``(m, *out_shape, O)`` without pooling (``out_shape`` the output positions),
        ``(m, O)`` with pooling.
    stride, padding : int or tuple of int
        Stride and zero padding of the convolution, per spatial axis or one for all.
    pooling : {None, "sum", "mean"}
    scalar_output : bool
        Predict shape ``(n,)`` (requires ``O == 1``) instead of ``(n, O)``.
    """

    def __init__(
        self,
        filters: np.ndarray,
        output_weights: np.ndarray,
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        pooling: str | None = None,
        scalar_output: bool = True,
    ) -> None:
        filters = check_array(filters, "filters", (1, 2, 3, 4, 5))
        output_weights = check_array(output_weights, "output_weights", (1, 2, 3, 4, 5))
        if filters.ndim not in (3, 4):
            raise InvalidInputError(
                f"filters must be (m, C, q) or (m, C, q1, q2), got shape {filters.shape}."
            )
        if not (pooling is None or isinstance(pooling, str) and pooling in ("sum", "mean")):
            raise InvalidInputError(f"pooling must be None, 'sum' or 'mean', got {pooling!r}.")
        nd = filters.ndim - 2
        want = 2 if pooling else 2 + nd
        if output_weights.ndim != want or output_weights.shape[0] != filters.shape[0]:
            raise InvalidInputError(
                f"output_weights must have shape (m{', *out_shape' if not pooling else ''}, O) "
                f"with m = {filters.shape[0]} filters, got {output_weights.shape}."
            )
        if scalar_output and output_weights.shape[-1] != 1:
            raise InvalidInputError("scalar_output=True needs output_weights with O = 1.")
        self.weights = [filters, output_weights]
        self.stride, self.padding, self.pooling = stride, padding, pooling
        self.scalar_output = bool(scalar_output)

    @property
    def filters(self) -> np.ndarray:
        return self.weights[0]

    @property
    def output_weights(self) -> np.ndarray:
        return self.weights[1]

    def feature_maps(self, X) -> np.ndarray:
        """Filter outputs :math:`(u_j \\star x_i)_k`, shape ``(n, m, *out_shape)``."""
        from scipy.signal import correlate

        filters = self.filters
        nd = filters.ndim - 2
        X = _as_batch(X, nd, filters.shape[1])
        pad = spatial_tuple(self.padding, "padding", nd, 0)
        stride = spatial_tuple(self.stride, "stride", nd, 1)
        if any(pad):
            X = np.pad(X, [(0, 0), (0, 0)] + [(p, p) for p in pad])
        if any(q > s for q, s in zip(filters.shape[2:], X.shape[2:])):
            raise InvalidInputError(
                f"the filters {filters.shape[2:]} are larger than the padded input "
                f"{X.shape[2:]}."
            )
        step = (slice(None),) + tuple(slice(None, None, s) for s in stride)
        # one correlation per filter (a loop over filters, not samples); the channel axis
        # of a 'valid' correlation with a full-depth filter has length 1.
        maps = [correlate(X, u[None], mode="valid")[:, 0][step] for u in filters]
        return np.stack(maps, axis=1)

    def predict(self, X) -> np.ndarray:
        maps = self.feature_maps(X)
        a = self.output_weights
        nd = maps.ndim - 2
        if self.pooling:
            pooled = maps.reshape(*maps.shape[:2], -1)
            pooled = pooled.mean(axis=2) if self.pooling == "mean" else pooled.sum(axis=2)
            out = pooled @ a
        else:
            if maps.shape[2:] != a.shape[1:-1]:
                raise InvalidInputError(
                    f"X gives {maps.shape[2:]} output positions but the output weights "
                    f"expect {a.shape[1:-1]}."
                )
            out = np.tensordot(maps, a, axes=(list(range(1, 2 + nd)), list(range(0, 1 + nd))))
        return out[:, 0] if self.scalar_output else out

    def penalty(self) -> float:
        return float(sum(np.sum(w * w) for w in self.weights))

    def to_torch(self):
        """The network as ``Sequential(Conv(C, m), pooling or Flatten, Linear(.., O))``.

        Input ``(n, C, *spatial)``; sum pooling is ``SumPool``, mean pooling
        ``AdaptiveAvgPool(1)`` and ``Flatten``.

        Returns
        -------
        torch.nn.Sequential
            Float64; its forward pass equals :meth:`predict` (:mod:`sdpnets.torch_io`).
        """
        from .torch_io import linear_cnn_to_torch

        return linear_cnn_to_torch(self)


class CircularCNN(Network):
    r"""Linear CNN with full-size circular filters (docs/circular_cnn.md).

    .. math::

        f(x) = \sum_{j=1}^m w_j^T C(u_{L-1,j}) \cdots C(u_{1,j})\, x,

    :math:`C(u)x = u \circledast x` the circular convolution (2-D for images), computed with
    the FFT. ``hidden="weight_decay"``: every layer penalized,
    :math:`\tfrac{\beta}{2}\sum_l\|u_l\|^2 + \tfrac{\beta}{2}\|w\|^2`. ``hidden="unit_norm"``:
    the first ``L-2`` filters satisfy :math:`\|u_{l,j}\|_2 \le 1` and only the last filter
    and ``w`` are penalized (docs/circular_cnn.md section 3b).

    Parameters
    ----------
    weights : sequence of arrays, each ``(m, d)`` or ``(m, H, W)``
        ``[u_1, ..., u_{L-1}, w]``; row ``j`` is channel ``j``.
    hidden : {"weight_decay", "unit_norm"}
    """

    def __init__(self, weights: Sequence[np.ndarray], hidden: str = "weight_decay") -> None:
        _check_layers(weights)
        self.weights = [check_array(w, f"weights[{i}]", (1, 2, 3, 4))
                        for i, w in enumerate(weights)]
        if len(self.weights) < 2:
            raise InvalidInputError("weights must hold at least a filter and w.")
        shape = self.weights[0].shape
        if len(shape) not in (2, 3) or any(w.shape != shape for w in self.weights):
            raise InvalidInputError(
                "weights: every layer must have the same shape (m, d) or (m, H, W), got "
                f"{[w.shape for w in self.weights]}."
            )
        if hidden not in ("weight_decay", "unit_norm"):
            raise InvalidInputError(
                f"hidden must be 'weight_decay' or 'unit_norm', got {hidden!r}."
            )
        self.hidden = hidden

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def signal_shape(self) -> tuple[int, ...]:
        return self.weights[0].shape[1:]

    def effective_filter(self) -> np.ndarray:
        r""":math:`b = \sum_j C(u_{1,j})^T \cdots C(u_{L-1,j})^T w_j`, so that
        :math:`f(x) = \langle b, x\rangle` (shape ``signal_shape``)."""
        axes = tuple(range(1, 1 + len(self.signal_shape)))
        spec = np.conj(np.fft.fftn(self.weights[-1], axes=axes))
        for u in self.weights[:-1]:
            spec = spec * np.fft.fftn(u, axes=axes)
        return np.fft.ifftn(np.conj(spec).sum(axis=0), axes=tuple(a - 1 for a in axes)).real

    def predict(self, X) -> np.ndarray:
        shape = self.signal_shape
        nd = len(shape)
        X = _as_batch(X, nd, 1)[:, 0]
        if X.shape[1:] != shape:
            raise InvalidInputError(
                f"X must hold signals of shape {shape} for this network, got {X.shape[1:]}."
            )
        axes = tuple(range(-nd, 0))
        H = np.fft.fftn(X, axes=axes)[:, None]  # (n, 1, *shape)
        for u in self.weights[:-1]:
            H = H * np.fft.fftn(u, axes=axes)[None]
        maps = np.fft.ifftn(H, axes=axes).real  # (n, m, *shape): circular convolutions
        return np.sum(maps * self.weights[-1][None], axis=tuple(range(1, 2 + nd)))

    def constrained_layers(self) -> list[int]:
        """Layers with :math:`\\|u_{l,j}\\| \\le 1` (the first ``L-2`` for unit_norm)."""
        return list(range(self.depth - 2)) if self.hidden == "unit_norm" else []

    def penalty(self) -> float:
        for i in self.constrained_layers():
            norms = np.sqrt(np.sum(self.weights[i].reshape(self.weights[i].shape[0], -1) ** 2, 1))
            if np.any(norms > 1 + CONSTRAINT_TOL):
                return float("inf")
        layers = self.weights[-2:] if self.hidden == "unit_norm" else self.weights
        return float(sum(np.sum(w * w) for w in layers))

    def to_torch(self):
        """The network as circular convolutions, ``Flatten`` and ``Linear(m d, 1)``.

        Each circular convolution is a left ``CircularPad`` of ``d - 1`` and a full-size
        ``Conv`` (depthwise after the first); input ``(n, 1, *signal_shape)``.

        Returns
        -------
        torch.nn.Sequential
            Float64; its forward pass equals :meth:`predict` (:mod:`sdpnets.torch_io`).
        """
        from .torch_io import circular_cnn_to_torch

        return circular_cnn_to_torch(self)


# --- ReLU networks --------------------------------------------------------------------------


def _relu(Z: np.ndarray) -> np.ndarray:
    return np.maximum(Z, 0.0)


def _output_norms(alpha: np.ndarray, output_penalty: str) -> np.ndarray:
    """Per-neuron output norm entering the penalty: ``||alpha_j||_2`` or ``||alpha_j||_1``."""
    a = alpha.reshape(alpha.shape[0], -1)
    return np.abs(a).sum(axis=1) if output_penalty == "l1_squared" else np.sqrt((a * a).sum(axis=1))


class ReLUMLP(Network):
    r"""Two-layer ReLU network :math:`f(X) = (XU + 1 b^T)_+\,\alpha`.

    The training objective (docs/conventions.md, docs/relu.md section 4a) is

    .. math::

        L(f(X), y) + \tfrac{\beta}{2}\Big(\|U\|_F^2 + \|b\|^2 + \sum_j \|\alpha_j\|^2\Big),

    where :math:`\|\alpha_j\|` is the Euclidean norm of neuron ``j``'s output weights
    (``output_penalty="frobenius"``, standard weight decay) or their l1 norm
    (``"l1_squared"``, the separable vector-output penalty of docs/relu.md section 4d). Both agree for
    scalar output and for neurons with a single non-zero output.

    Parameters
    ----------
    U : array_like, shape (d, m)
        First-layer weights, one neuron per column.
    alpha : array_like, shape (m,) or (m, K)
        Output weights; ``(m,)`` gives predictions of shape ``(n,)``.
    bias : array_like, shape (m,), optional
        First-layer biases (penalized like ``U``).
    output_penalty : {"frobenius", "l1_squared"}
    loss : {"squared", "logistic", "hinge"} or Loss
        The training loss, the default of :meth:`objective` and :func:`sdpnets.certify`.
    """

    def __init__(
        self, U, alpha, bias=None, output_penalty: str = "frobenius",
        loss: str | Loss = "squared",
    ) -> None:
        U = check_array(U, "U", (2,))
        alpha = check_array(alpha, "alpha", (1, 2))
        if alpha.shape[0] != U.shape[1]:
            raise InvalidInputError(
                f"alpha must have shape (m,) or (m, K) with m = {U.shape[1]} neurons, "
                f"got shape {alpha.shape}."
            )
        if bias is not None:
            bias = check_array(bias, "bias", (0, 1, 2)).reshape(-1)
            if bias.shape != (U.shape[1],):
                raise InvalidInputError(
                    f"bias must have shape (m,) = ({U.shape[1]},), got shape {bias.shape}."
                )
        if output_penalty not in ("frobenius", "l1_squared"):
            raise InvalidInputError(
                f"output_penalty must be 'frobenius' or 'l1_squared', got {output_penalty!r}."
            )
        self.U, self.alpha, self.bias = U, alpha, bias
        self.output_penalty = output_penalty
        self.loss = get_loss(loss)

    @property
    def weights(self) -> list[np.ndarray]:  # type: ignore[override]
        return [self.U, self.alpha] if self.bias is None else [self.U, self.bias, self.alpha]

    @property
    def width(self) -> int:
        """Number of hidden neurons ``m``."""
        return int(self.U.shape[1])

    def hidden(self, X) -> np.ndarray:
        """Hidden activations :math:`(XU + 1b^T)_+` (``n x m``)."""
        X = check_data(X)
        if X.shape[1] != self.U.shape[0]:
            raise InvalidInputError(f"X must have {self.U.shape[0]} columns, got shape {X.shape}.")
        Z = X @ self.U
        if self.bias is not None:
            Z = Z + self.bias
        return _relu(Z)

    def predict(self, X) -> np.ndarray:
        return self.hidden(X) @ self.alpha

    def penalty(self) -> float:
        first = float(np.sum(self.U**2)) + (0.0 if self.bias is None else float(np.sum(self.bias**2)))
        return first + float(np.sum(_output_norms(self.alpha, self.output_penalty) ** 2))

    def to_torch(self):
        """The network as ``Sequential(Linear(d, m), ReLU(), Linear(m, K, bias=False))``.

        Output ``(n, K)`` (``(n, 1)`` for scalar output).

        Returns
        -------
        torch.nn.Sequential
            Float64; its forward pass equals :meth:`predict` (:mod:`sdpnets.torch_io`).
        """
        from .torch_io import relu_mlp_to_torch

        return relu_mlp_to_torch(self)


class GatedReLUMLP(Network):
    r"""Two-layer gated ReLU network with fixed gates.

    :math:`f(X) = \sum_j 1[Xg_j + c_j \ge 0] \odot (Xu_j + b_j)\,\alpha_j`.

    The gates :math:`(g_j, c_j)` are fixed (not trained, not penalized); the objective is
    :math:`L(f(X), y) + \tfrac{\beta}{2}(\|U\|_F^2 + \|b\|^2 + \sum_j\|\alpha_j\|^2)`
    with :math:`\|\alpha_j\|` the l2 (``"frobenius"``) or l1 (``"l1_squared"``) norm of
    neuron ``j``'s output weights, as for :class:`ReLUMLP`.

    Parameters
    ----------
    gates : array_like, shape (d, m)
        The fixed gates :math:`g_j`, one per column.
    U : array_like, shape (d, m)
        First-layer weights :math:`u_j`, one neuron per column.
    alpha : array_like, shape (m,) or (m, K)
        Output weights; ``(m,)`` gives predictions of shape ``(n,)``.
    gate_bias, bias : array_like, shape (m,), optional
        The gates' offsets :math:`c_j` (fixed) and the first-layer biases :math:`b_j`
        (penalized like ``U``).
    output_penalty : {"frobenius", "l1_squared"}
        Norm of each neuron's output weights in the penalty, as for :class:`ReLUMLP`.
    loss : {"squared", "logistic", "hinge"} or Loss
        The training loss, the default of :meth:`objective` and :func:`sdpnets.certify`.
    """

    def __init__(self, gates, U, alpha, gate_bias=None, bias=None,
                 output_penalty: str = "frobenius", loss: str | Loss = "squared") -> None:
        self.gates = check_array(gates, "gates", (2,))
        self.U = check_array(U, "U", (2,))
        self.alpha = check_array(alpha, "alpha", (1, 2))
        m = self.U.shape[1]
        if self.gates.shape != self.U.shape or self.alpha.shape[0] != m:
            raise InvalidInputError(
                f"gates and U must have the same shape (d, m) and alpha m = {m} rows; got "
                f"{self.gates.shape}, {self.U.shape}, {self.alpha.shape}."
            )
        self.gate_bias = None if gate_bias is None else check_array(gate_bias, "gate_bias", (1,))
        self.bias = None if bias is None else check_array(bias, "bias", (1,))
        for name, b in (("gate_bias", self.gate_bias), ("bias", self.bias)):
            if b is not None and b.shape != (m,):
                raise InvalidInputError(f"{name} must have shape ({m},), got {b.shape}.")
        if output_penalty not in ("frobenius", "l1_squared"):
            raise InvalidInputError(
                f"output_penalty must be 'frobenius' or 'l1_squared', got {output_penalty!r}."
            )
        self.output_penalty = output_penalty
        self.loss = get_loss(loss)

    @property
    def weights(self) -> list[np.ndarray]:  # type: ignore[override]
        return [self.U, self.alpha] if self.bias is None else [self.U, self.bias, self.alpha]

    @property
    def width(self) -> int:
        return int(self.U.shape[1])

    def predict(self, X) -> np.ndarray:
        X = check_data(X)
        if X.shape[1] != self.U.shape[0]:
            raise InvalidInputError(f"X must have {self.U.shape[0]} columns, got shape {X.shape}.")
        G = X @ self.gates + (0.0 if self.gate_bias is None else self.gate_bias)
        Z = X @ self.U + (0.0 if self.bias is None else self.bias)
        return ((G >= 0) * Z) @ self.alpha

    def penalty(self) -> float:
        first = float(np.sum(self.U**2)) + (0.0 if self.bias is None else float(np.sum(self.bias**2)))
        return first + float(np.sum(_output_norms(self.alpha, self.output_penalty) ** 2))


class ReLUCNN(Network):
    r"""Two-layer ReLU CNN with sum (or mean) pooling.

    :math:`f(x) = \sum_j \alpha_j\, c \sum_k (x_k^T u_j)_+` over the patches :math:`x_k` of
    ``x`` (``c = 1`` for ``pooling="sum"``, ``1/K`` for ``"mean"``), objective
    :math:`L + \tfrac{\beta}{2}(\|U\|_F^2 + \|\alpha\|^2)` (docs/relu.md section 4e).

    Parameters
    ----------
    U : array_like, shape (h, m)
        Filters (``h = channels * prod(kernel_size)``), one per column.
    alpha : array_like, shape (m,)
        Output weights, one per filter.
    kernel_size, stride, padding : int or tuple of int
        As for :func:`sdpnets.patches.extract_patches`.
    pooling : {"sum", "mean"}
    loss : {"squared", "logistic", "hinge"} or Loss
        The training loss, the default of :meth:`objective` and :func:`sdpnets.certify`.
    """

    def __init__(
        self, U, alpha, kernel_size, stride=1, padding=0, pooling: str = "sum",
        loss: str | Loss = "squared",
    ) -> None:
        self.U = check_array(U, "U", (2,))
        self.alpha = check_array(alpha, "alpha", (0, 1, 2)).reshape(-1)
        if self.alpha.shape[0] != self.U.shape[1]:
            raise InvalidInputError(
                f"alpha must have one entry per filter ({self.U.shape[1]}), got {self.alpha.shape}."
            )
        if pooling not in ("sum", "mean"):
            raise InvalidInputError(f"pooling must be 'sum' or 'mean', got {pooling!r}.")
        self.kernel_size, self.stride, self.padding, self.pooling = kernel_size, stride, padding, pooling
        self.loss = get_loss(loss)

    @property
    def weights(self) -> list[np.ndarray]:  # type: ignore[override]
        return [self.U, self.alpha]

    def predict(self, X) -> np.ndarray:
        P = extract_patches(X, self.kernel_size, self.stride, self.padding)
        if P.shape[2] != self.U.shape[0]:
            raise InvalidInputError(
                f"patches have {P.shape[2]} entries but the filters have {self.U.shape[0]}."
            )
        pooled = _relu(P @ self.U).sum(axis=1)  # (n, m)
        if self.pooling == "mean":
            pooled = pooled / P.shape[1]
        return pooled @ self.alpha

    def penalty(self) -> float:
        return float(np.sum(self.U**2) + np.sum(self.alpha**2))

    def to_torch(self, spatial_dims: int | None = None):
        """The network as ``Sequential(Conv(C, m), ReLU(), pooling, Linear(m, 1))``.

        Input ``(n, C, *spatial)``; sum pooling is ``SumPool``, mean pooling
        ``AdaptiveAvgPool(1)`` and ``Flatten``.

        Parameters
        ----------
        spatial_dims : {1, 2}, optional
            Read from a tuple ``kernel_size``; an integer one means 1-D unless given.

        Returns
        -------
        torch.nn.Sequential
            Float64; its forward pass equals :meth:`predict` (:mod:`sdpnets.torch_io`).
        """
        from .torch_io import relu_cnn_to_torch

        return relu_cnn_to_torch(self, spatial_dims)


class CircularReLUNet(Network):
    r"""Two-layer ReLU network with a circular filter before the ReLU.

    :math:`f(x) = \sum_j \big(x^T C(u_j)^T w_{1j}\big)_+ w_{2j}`, :math:`\|u_j\| \le 1`,
    objective :math:`L + \tfrac{\beta}{2}(\|W_1\|_F^2 + \|w_2\|^2)` (``inf`` when a filter
    has norm above 1). ``C(u)`` is the circulant matrix with first column ``u``
    (``C(u) x`` is the circular convolution ``u * x``).

    Parameters
    ----------
    filters : array_like, shape (d, m)
        Unit-norm circular filters ``u_j``.
    W1 : array_like, shape (d, m)
        First-layer weights ``w_{1j}``, one column per neuron.
    w2 : array_like, shape (m,)
        Output weights ``w_{2j}``.
    loss : {"squared", "logistic", "hinge"} or Loss
        The training loss, the default of :meth:`objective` and :func:`sdpnets.certify`.
    """

    def __init__(self, filters, W1, w2, loss: str | Loss = "squared") -> None:
        self.filters = check_array(filters, "filters", (2,))
        self.W1 = check_array(W1, "W1", (2,))
        self.w2 = check_array(w2, "w2", (0, 1, 2)).reshape(-1)
        if self.filters.shape != self.W1.shape or self.w2.shape[0] != self.W1.shape[1]:
            raise InvalidInputError(
                f"filters {self.filters.shape} and W1 {self.W1.shape} must both be (d, m) and "
                f"w2 {self.w2.shape} must be (m,)."
            )
        self.loss = get_loss(loss)

    @property
    def weights(self) -> list[np.ndarray]:  # type: ignore[override]
        return [self.filters, self.W1, self.w2]

    def first_layer(self) -> np.ndarray:
        """Effective first-layer vectors :math:`q_j = C(u_j)^T w_{1j}` (``d x m``)."""
        d = self.filters.shape[0]
        idx = (np.arange(d)[:, None] - np.arange(d)[None, :]) % d  # C(u)[a, b] = u[a - b]
        C = self.filters[idx]  # (d, d, m)
        return np.einsum("abm,am->bm", C, self.W1)

    def predict(self, X) -> np.ndarray:
        X = check_data(X)
        if X.shape[1] != self.filters.shape[0]:
            raise InvalidInputError(
                f"X must have {self.filters.shape[0]} columns, got shape {X.shape}."
            )
        return _relu(X @ self.first_layer()) @ self.w2

    def penalty(self) -> float:
        if np.any(np.linalg.norm(self.filters, axis=0) > 1 + CONSTRAINT_TOL):
            return float("inf")
        return float(np.sum(self.W1**2) + np.sum(self.w2**2))

    def to_torch(self):
        """The network as circular convolutions, a depthwise ``Conv1d``, ReLU and ``Linear``.

        ``Unflatten`` to ``(n, 1, d)``, the circular convolutions, the inner products with
        ``W1`` (a depthwise ``Conv1d``), ``Flatten``, ``ReLU``, ``Linear(m, 1)``; input
        ``(n, d)`` as for :meth:`predict`.

        Returns
        -------
        torch.nn.Sequential
            Float64; its forward pass equals :meth:`predict` (:mod:`sdpnets.torch_io`).
        """
        from .torch_io import circular_relu_to_torch

        return circular_relu_to_torch(self)
