r"""The deep linear networks: fully connected, convolutional over patches, circular.

A deep linear network computes a product of its layers, :math:`f(X) = XW_1\cdots W_L`
(fully connected), a sum over filters of correlations with the patches (linear CNN,
docs/linear_cnn.md) or of circular convolutions (circular CNN, docs/circular_cnn.md); each
evaluates its own weight-decay objective (:class:`~sdpnets.networks.base.Network`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._validate import check_array, check_data
from ..errors import InvalidInputError
from ..features.patches import spatial_tuple
from . import torch_modules as tm
from .base import CONSTRAINT_TOL, Network

__all__ = ["LinearFC", "LinearCNN", "CircularCNN"]

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

    @tm.with_dtype
    def to_torch(self):
        """The network as bias-free ``Linear`` layers.

        Input ``(n, d)``, output ``(n, K)``.

        Parameters
        ----------
        dtype : torch.dtype, optional
            The module's floating type: float64 by default (sdpnets' precision, so a
            float32 tensor needs ``x.double()``); ``torch.float32`` casts the parameters so
            float32 inputs work (the forward pass then agrees with :meth:`predict` to
            float32 precision).

        Returns
        -------
        torch.nn.Sequential
            Float64 (or ``dtype``); its forward pass equals :meth:`predict` (layers of
            :mod:`.torch_modules`).
        """
        return tm.torch_module().nn.Sequential(*[tm.linear(w) for w in self.weights])


# --- convolutional networks (linear CNN, circular CNN) ------------------------------------


def _as_batch(X, nd: int, channels: int, name: str = "X") -> np.ndarray:
    """``X`` as ``(n, C, *spatial)`` with ``nd`` spatial axes and ``channels`` channels."""
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

    @tm.with_dtype
    def to_torch(self):
        """The network as ``Sequential(Conv(C, m), pooling or Flatten, Linear(.., O))``.

        Input ``(n, C, *spatial)``; sum pooling is ``SumPool``, mean pooling
        ``AdaptiveAvgPool(1)`` and ``Flatten``.

        Parameters
        ----------
        dtype : torch.dtype, optional
            The module's floating type: float64 by default (sdpnets' precision, so a
            float32 tensor needs ``x.double()``); ``torch.float32`` casts the parameters so
            float32 inputs work (the forward pass then agrees with :meth:`predict` to
            float32 precision).

        Returns
        -------
        torch.nn.Sequential
            Float64 (or ``dtype``); its forward pass equals :meth:`predict` (layers of
            :mod:`.torch_modules`).
        """
        filters, a = self.filters, self.output_weights
        nd = filters.ndim - 2
        nn = tm.torch_module().nn
        conv = tm.conv(nd, filters, stride=spatial_tuple(self.stride, "stride", nd, 1),
                       padding=spatial_tuple(self.padding, "padding", nd, 0))
        if self.pooling:
            return nn.Sequential(conv, *tm.pooling(nd, self.pooling), tm.linear(a))
        return nn.Sequential(conv, nn.Flatten(), tm.linear(a.reshape(-1, a.shape[-1])))


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
        """The output :math:`f(x)` for each signal of ``X``: ``(n, d)`` signals, ``(n, 1,
        d)``, ``(n, 1, H, W)`` images, or images flattened to rows ``(n, H W)`` in C order
        (as the estimators of :mod:`sdpnets.sklearn` take them)."""
        shape = self.signal_shape
        nd = len(shape)
        given = np.shape(X)
        X = check_array(X, "X", (2, 3, 4))  # finite numbers first: their error is its own
        if nd == 2 and X.ndim == 2 and given[1] == int(np.prod(shape)):
            X = X.reshape(given[0], 1, *shape)
        if X.ndim == 2:
            X = X[:, None]
        if X.ndim - 2 != nd or X.shape[1] != 1 or X.shape[2:] != shape:
            want = f"(n, {shape[0]}) or (n, 1, {shape[0]})" if nd == 1 else (
                f"(n, 1, {shape[0]}, {shape[1]}) images or (n, {int(np.prod(shape))}) rows "
                "flattened in C order")
            raise InvalidInputError(
                f"X must hold signals of shape {shape} for this network: {want}; got an "
                f"array of shape {given}."
            )
        X = X[:, 0]
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

    @tm.with_dtype
    def to_torch(self):
        """The network as circular convolutions, ``Flatten`` and ``Linear(m d, 1)``.

        Each circular convolution is a left ``CircularPad`` of ``d - 1`` and a full-size
        ``Conv`` (depthwise after the first); input ``(n, 1, *signal_shape)``.

        Parameters
        ----------
        dtype : torch.dtype, optional
            The module's floating type: float64 by default (sdpnets' precision, so a
            float32 tensor needs ``x.double()``); ``torch.float32`` casts the parameters so
            float32 inputs work (the forward pass then agrees with :meth:`predict` to
            float32 precision).

        Returns
        -------
        torch.nn.Sequential
            Float64 (or ``dtype``); its forward pass equals :meth:`predict` (layers of
            :mod:`.torch_modules`).
        """
        shape = self.signal_shape
        nd = len(shape)
        m = self.weights[0].shape[0]
        layers = []
        for i, u in enumerate(self.weights[:-1]):
            weight = tm.flip(u, nd)[:, None]  # (m, 1, *shape)
            layers += [tm.left_circular_pad(shape), tm.conv(nd, weight, groups=1 if i == 0 else m)]
        nn = tm.torch_module().nn
        layers += [nn.Flatten(), tm.linear(self.weights[-1].reshape(-1, 1))]
        return nn.Sequential(*layers)
