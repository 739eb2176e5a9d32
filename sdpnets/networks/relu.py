r"""The two-layer ReLU networks sdpnets trains (and their gated and convolutional forms).

Like every :class:`~sdpnets.networks.base.Network`, each predicts directly from its
weights and evaluates its own non-convex objective, independently of the convex programs.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_array, check_data
from ..errors import InvalidInputError
from ..features.patches import extract_patches, spatial_tuple
from ..losses import Loss, get_loss
from . import torch_modules as tm
from .base import CONSTRAINT_TOL, Network

__all__ = ["ReLUMLP", "GatedReLUMLP", "ReLUCNN", "CircularReLUNet"]


def _relu(Z: np.ndarray) -> np.ndarray:
    return np.maximum(Z, 0.0)


def check_offset(offset, K: int | None) -> np.ndarray | None:
    """The unpenalized output offset: ``None``, or a float array of shape ``()`` (scalar
    output, ``K is None``) or ``(K,)``."""
    if offset is None:
        return None
    c = check_array(offset, "offset", (0, 1))
    want = () if K is None else (K,)
    if c.shape != want and not (K is None and c.shape == (1,)):
        raise InvalidInputError(f"offset must have shape {want} (one per output), got {c.shape}.")
    return c.reshape(want)


def _output_norms(alpha: np.ndarray, output_penalty: str) -> np.ndarray:
    """Per-neuron output norm entering the penalty: ``||alpha_j||_2`` or ``||alpha_j||_1``."""
    a = alpha.reshape(alpha.shape[0], -1)
    return np.abs(a).sum(axis=1) if output_penalty == "l1_squared" else np.sqrt((a * a).sum(axis=1))


class ReLUMLP(Network):
    r"""Two-layer ReLU network :math:`f(X) = (XU + 1 b^T)_+\,\alpha + 1c^T`.

    The training objective (docs/conventions.md, docs/relu.md section 4a) is

    .. math::

        L(f(X), y) + \tfrac{\beta}{2}\Big(\|U\|_F^2 + \|b\|^2 + \sum_j \|\alpha_j\|^2\Big),

    the output offset :math:`c` (an intercept) unpenalized (docs/relu.md section 4h).

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
    loss : {"squared", "logistic", "hinge", "softmax"}, Loss or None
        The training loss, the default of :meth:`objective` and :func:`sdpnets.certify`;
        ``None`` (a network read from PyTorch without a stated loss) leaves it unknown, and
        both then ask for it.
    offset : float or array_like of shape (K,), optional
        The unpenalized output offset :math:`c` (PyTorch's output-layer bias).
    """

    def __init__(
        self, U, alpha, bias=None, output_penalty: str = "frobenius",
        loss: str | Loss | None = "squared", offset=None,
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
        self.loss = None if loss is None else get_loss(loss)
        self.offset = check_offset(offset, None if alpha.ndim == 1 else alpha.shape[1])

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
        out = self.hidden(X) @ self.alpha
        return out if self.offset is None else out + self.offset

    def penalty(self) -> float:
        first = float(np.sum(self.U**2)) + (0.0 if self.bias is None else float(np.sum(self.bias**2)))
        return first + float(np.sum(_output_norms(self.alpha, self.output_penalty) ** 2))

    @tm.with_dtype
    def to_torch(self):
        """The network as ``Sequential(Linear(d, m), ReLU(), Linear(m, K))``.

        Output ``(n, K)`` (``(n, 1)`` for scalar output); the output layer has a bias (the
        offset) only when the network has one.

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
        torch = tm.torch_module()
        d, m = self.U.shape
        first = torch.nn.Linear(d, m, bias=self.bias is not None, dtype=torch.float64)
        tm.set_parameter(first.weight, self.U.T)
        if self.bias is not None:
            tm.set_parameter(first.bias, self.bias)
        offset = None if self.offset is None else self.offset.reshape(-1)
        return torch.nn.Sequential(first, torch.nn.ReLU(),
                                   tm.linear(self.alpha.reshape(m, -1), offset))


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
    loss : {"squared", "logistic", "hinge", "softmax"} or Loss
        The training loss, the default of :meth:`objective` and :func:`sdpnets.certify`.
    offset : float or array_like of shape (K,), optional
        An unpenalized output offset (intercept), as for :class:`ReLUMLP`.
    """

    def __init__(self, gates, U, alpha, gate_bias=None, bias=None,
                 output_penalty: str = "frobenius", loss: str | Loss = "squared",
                 offset=None) -> None:
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
        self.offset = check_offset(offset, None if self.alpha.ndim == 1 else self.alpha.shape[1])

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
        out = ((G >= 0) * Z) @ self.alpha
        return out if self.offset is None else out + self.offset

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
        As for :func:`sdpnets.features.patches.extract_patches`.
    pooling : {"sum", "mean"}
    loss : {"squared", "logistic", "hinge"} or Loss
        The training loss, the default of :meth:`objective` and :func:`sdpnets.certify`
        (``None``: unknown, both then ask for it).
    """

    def __init__(
        self, U, alpha, kernel_size, stride=1, padding=0, pooling: str = "sum",
        loss: str | Loss | None = "squared",
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
        self.loss = None if loss is None else get_loss(loss)

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

    @tm.with_dtype
    def to_torch(self, spatial_dims: int | None = None):
        """The network as ``Sequential(Conv(C, m), ReLU(), pooling, Linear(m, 1))``.

        Input ``(n, C, *spatial)``; sum pooling is ``SumPool``, mean pooling
        ``AdaptiveAvgPool(1)`` and ``Flatten``.

        Parameters
        ----------
        spatial_dims : {1, 2}, optional
            Read from a tuple ``kernel_size``; an integer one means 1-D unless given.
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
        if spatial_dims is None:
            spatial_dims = len(self.kernel_size) if isinstance(self.kernel_size, (tuple, list)) else 1
        if spatial_dims not in (1, 2):
            raise InvalidInputError(f"spatial_dims must be 1 or 2, got {spatial_dims!r}.")
        nd = spatial_dims
        kernel = spatial_tuple(self.kernel_size, "kernel_size", nd, 1)
        h, m = self.U.shape
        channels, rem = divmod(h, int(np.prod(kernel)))
        if rem:
            raise InvalidInputError(
                f"the filters have {h} entries, not a multiple of the kernel {kernel}: pass "
                "spatial_dims matching the data."
            )
        conv = tm.conv(nd, self.U.T.reshape(m, channels, *kernel),
                       stride=spatial_tuple(self.stride, "stride", nd, 1),
                       padding=spatial_tuple(self.padding, "padding", nd, 0))
        nn = tm.torch_module().nn
        return nn.Sequential(conv, nn.ReLU(), *tm.pooling(nd, self.pooling),
                             tm.linear(self.alpha[:, None]))


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
        The training loss, the default of :meth:`objective` and :func:`sdpnets.certify`
        (``None``: unknown, both then ask for it).
    """

    def __init__(self, filters, W1, w2, loss: str | Loss | None = "squared") -> None:
        self.filters = check_array(filters, "filters", (2,))
        self.W1 = check_array(W1, "W1", (2,))
        self.w2 = check_array(w2, "w2", (0, 1, 2)).reshape(-1)
        if self.filters.shape != self.W1.shape or self.w2.shape[0] != self.W1.shape[1]:
            raise InvalidInputError(
                f"filters {self.filters.shape} and W1 {self.W1.shape} must both be (d, m) and "
                f"w2 {self.w2.shape} must be (m,)."
            )
        self.loss = None if loss is None else get_loss(loss)

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

    @tm.with_dtype
    def to_torch(self):
        """The network as circular convolutions, a depthwise ``Conv1d``, ReLU and ``Linear``.

        ``Unflatten`` to ``(n, 1, d)``, the circular convolutions, the inner products with
        ``W1`` (a depthwise ``Conv1d``), ``Flatten``, ``ReLU``, ``Linear(m, 1)``; input
        ``(n, d)`` as for :meth:`predict`.

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
        nn = tm.torch_module().nn
        d, m = self.filters.shape
        return nn.Sequential(
            nn.Unflatten(1, (1, d)),
            tm.left_circular_pad((d,)),
            tm.conv(1, tm.flip(self.filters.T, 1)[:, None]),
            tm.conv(1, self.W1.T[:, None], groups=m),
            nn.Flatten(),
            nn.ReLU(),
            tm.linear(self.w2[:, None]),
        )
