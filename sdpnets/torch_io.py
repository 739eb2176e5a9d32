r"""The network of a PyTorch module: :func:`from_torch`, the inverse of the networks' ``to_torch``.

Every network's ``to_torch`` builds a float64 ``nn.Sequential`` of standard layers
(:mod:`sdpnets.networks.torch_modules`) whose forward pass equals the network's
``predict``; :func:`from_torch` reads such a module back (or one trained in PyTorch with the
same shape), so :func:`sdpnets.certify` can judge how far it is from the global optimum of
its weight-decay training problem.

Layouts. Fully connected networks take ``(n, d)``; convolutional ones take PyTorch's
``(n, C, length)`` or ``(n, C, height, width)`` (sdpnets' ``(n, length)`` signals are
``X[:, None, :]``). Outputs are ``(n, K)`` (``(n, 1)`` for a scalar output). A circular
convolution :math:`C(u)x = u \circledast x` is a ``CircularPad`` of ``d - 1`` entries on
the left followed by a full-size ``Conv`` holding the flipped filter (PyTorch convolutions
are cross-correlations). torch is imported inside the functions only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidInputError
from .features.patches import patch_spec
from .losses import Loss, get_loss
from .networks import torch_modules as tm
from .networks.base import Network
from .networks.linear import CircularCNN, LinearCNN, LinearFC
from .networks.relu import CircularReLUNet, ReLUCNN, ReLUMLP

__all__ = ["from_torch", "SUPPORTED_MODULES"]

#: What :func:`from_torch` reads (``Conv`` is ``Conv1d`` or ``Conv2d``; no layer has a bias
#: unless said).
SUPPORTED_MODULES = """\
  LinearFC:        Linear, Linear, ..., Linear
  ReLUMLP:         Linear (bias allowed), ReLU, Linear (bias allowed: the unpenalized offset)
  LinearCNN:       Conv, [SumPool | AdaptiveAvgPool(1)], Flatten, Linear
  ReLUCNN:         Conv, ReLU, SumPool | AdaptiveAvgPool(1), Flatten, Linear(m, 1)
  CircularCNN:     CircularPad, Conv(1 -> m, full size), [CircularPad, Conv(m -> m, groups=m)]...,
                   Flatten, Linear(m * d, 1)  (or Conv(padding_mode='circular') covering the signal)
  CircularReLUNet: Unflatten, CircularPad1d, Conv1d(1 -> m, full size), Conv1d(m -> m, groups=m,
                   full size), Flatten, ReLU, Linear(m, 1)
(an nn.Sequential, nested Sequentials flattened; a single Linear is a one-layer LinearFC)"""


class _Unsupported(InvalidInputError):
    pass


def _layers(module) -> list:
    """The leaf layers of a (nested) ``nn.Sequential``, or ``[module]`` for a leaf."""
    torch = tm.torch_module()
    if isinstance(module, torch.nn.Sequential):
        out = []
        for child in module:
            out += _layers(child)
        return out
    return [module]


def _refuse(layers: list, i: int, why: str):
    where = (
        f"layer {i} ({type(layers[i]).__name__}: {layers[i]!r})"
        if i < len(layers)
        else f"the end of the module after layer {len(layers) - 1}"
    )
    return _Unsupported(
        f"from_torch cannot read {where}: {why}.\nSupported modules:\n{SUPPORTED_MODULES}"
    )


def from_torch(module: Any, input_shape: tuple[int, ...] | None = None, *,
               loss: str | Loss | None = None) -> Network:
    """The sdpnets network computing the same function as a PyTorch module.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.Sequential`` of one of the shapes in :data:`SUPPORTED_MODULES` (what every
        network's ``to_torch()`` builds), e.g. PyTorch's default ``Sequential(Linear(d, m),
        ReLU(), Linear(m, K))``: a first-layer bias is the penalized bias of
        :class:`~sdpnets.ReLUMLP`, an output-layer bias its unpenalized ``offset`` (an
        intercept, which the weight decay of sdpnets' problems does not touch; to certify a
        network trained with weight decay on that bias too, fold it into a first-layer
        bias or train with ``Linear(m, K, bias=False)``).
    input_shape : tuple of int, optional
        ``(C, H, W)`` of one input; needed only for a 2-D linear CNN without pooling (its
        ``Flatten`` hides the grid of output positions).
    loss : {"squared", "logistic", "hinge", "softmax"} or Loss, optional
        The loss the module was trained with. A module does not say, so it is never
        assumed: without it a ReLU network's loss is unknown, and
        :func:`sdpnets.certify` and ``objective`` ask for ``loss=`` (the linear families
        have only the squared loss).

    Returns
    -------
    Network
        ``LinearFC``, ``ReLUMLP``, ``LinearCNN``, ``ReLUCNN``, ``CircularCNN`` or
        ``CircularReLUNet``, with float64 copies of the weights (whatever the module's
        dtype), ready for :func:`sdpnets.certify`.

    Raises
    ------
    InvalidInputError
        For any other module, naming the first layer that does not fit and listing what
        is supported.
    """
    torch = tm.torch_module()
    if not isinstance(module, torch.nn.Module):
        raise InvalidInputError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
    if not isinstance(module, (torch.nn.Sequential, torch.nn.Linear)):
        raise InvalidInputError(
            f"from_torch reads nn.Sequential models (or a single nn.Linear); "
            f"{type(module).__name__} has its own forward, which cannot be read.\n"
            f"Supported modules:\n{SUPPORTED_MODULES}"
        )
    stated = None if loss is None else get_loss(loss)
    net = _read(module, input_shape)
    if isinstance(net, (ReLUMLP, ReLUCNN, CircularReLUNet)):
        net.loss = stated
    elif stated is not None and stated.name != "squared":
        raise InvalidInputError(
            f"a {type(net).__name__} is trained with the squared loss only, not {stated.name!r}."
        )
    return net


def _read(module, input_shape) -> Network:
    torch = tm.torch_module()
    layers = _layers(module)
    nn = torch.nn
    first = layers[0] if layers else None
    if first is None:
        raise InvalidInputError("module is an empty nn.Sequential.")
    if isinstance(first, nn.Linear):
        return _read_dense(layers)
    if isinstance(first, (nn.Conv1d, nn.Conv2d)) and first.padding_mode == "zeros":
        return _read_cnn(layers, input_shape)
    if isinstance(first, (nn.Conv1d, nn.Conv2d, nn.CircularPad1d, nn.CircularPad2d)):
        return _read_circular(layers, 0)
    if isinstance(first, nn.Unflatten):
        return _read_circular_relu(layers)
    raise _refuse(layers, 0, "no supported network starts with this layer")


def _no_bias(layers, i, kind="layer"):
    if getattr(layers[i], "bias", None) is not None:
        raise _refuse(layers, i, f"this {kind} has a bias; the network it would be has none")


def _read_dense(layers) -> Network:
    nn = tm.torch_module().nn
    if len(layers) == 3 and isinstance(layers[1], nn.ReLU):
        if not isinstance(layers[2], nn.Linear):
            raise _refuse(layers, 2, "a two-layer ReLU network ends with a Linear layer")
        W1, W2 = tm.to_numpy(layers[0].weight), tm.to_numpy(layers[2].weight)
        bias = None if layers[0].bias is None else tm.to_numpy(layers[0].bias)
        offset = None if layers[2].bias is None else tm.to_numpy(layers[2].bias)
        alpha = W2.T[:, 0] if W2.shape[0] == 1 else W2.T
        if offset is not None and W2.shape[0] == 1:
            offset = offset.reshape(())
        return ReLUMLP(W1.T, alpha, bias=bias, offset=offset)
    for i, layer in enumerate(layers):
        if not isinstance(layer, nn.Linear):
            why = (
                "a ReLU network is read only as Linear, ReLU, Linear (two layers)"
                if isinstance(layer, nn.ReLU)
                else "a deep linear network holds only Linear layers"
            )
            raise _refuse(layers, i, why)
        _no_bias(layers, i)
    weights = [tm.to_numpy(layer.weight).T for layer in layers]
    return LinearFC(weights, scalar_output=weights[-1].shape[1] == 1)


def _conv_geometry(layers, i) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """``(nd, stride, padding)`` of a plain convolution, refusing what sdpnets lacks."""
    conv = layers[i]
    nd = 1 if isinstance(conv, tm.torch_module().nn.Conv1d) else 2
    _no_bias(layers, i, "convolution")
    if conv.groups != 1 or any(v != 1 for v in conv.dilation):
        raise _refuse(layers, i, "groups and dilation must be 1")
    if isinstance(conv.padding, str):
        if conv.padding != "valid":
            raise _refuse(layers, i, "padding='same' is not supported; give integer padding")
        padding = (0,) * nd
    else:
        padding = tuple(conv.padding)
    return nd, tuple(conv.stride), padding


def _read_pool(layers, i, nd) -> tuple[str | None, int]:
    """Pooling at ``layers[i]`` (``None`` for a plain ``Flatten``) and the next index."""
    nn = tm.torch_module().nn
    layer = layers[i] if i < len(layers) else None
    if isinstance(layer, tm.SumPool):
        return "sum", i + 1
    if isinstance(layer, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
        size = layer.output_size
        if any(s != 1 for s in np.atleast_1d(np.asarray(size, dtype=object))):
            raise _refuse(layers, i, "only global average pooling (output size 1) is supported")
        if not (i + 1 < len(layers) and isinstance(layers[i + 1], nn.Flatten)):
            raise _refuse(layers, i + 1, "AdaptiveAvgPool must be followed by Flatten")
        return "mean", i + 2
    if isinstance(layer, nn.Flatten):
        return None, i + 1
    raise _refuse(layers, i, "after the convolution comes SumPool, AdaptiveAvgPool(1) or Flatten")


def _read_output(layers, i, scalar: bool = False) -> np.ndarray:
    """The weight ``(in, out)`` of the last layer, a bias-free ``Linear``."""
    if i >= len(layers) or not isinstance(layers[i], tm.torch_module().nn.Linear):
        raise _refuse(layers, i, "the network must end with a Linear layer")
    if i != len(layers) - 1:
        raise _refuse(layers, i + 1, "nothing may follow the output Linear layer")
    _no_bias(layers, i, "output layer")
    W = tm.to_numpy(layers[i].weight).T
    if scalar and W.shape[1] != 1:
        raise _refuse(layers, i, "this network has one output (Linear(m, 1))")
    return W


def _read_cnn(layers, input_shape) -> Network:
    nn = tm.torch_module().nn
    nd, stride, padding = _conv_geometry(layers, 0)
    w = tm.to_numpy(layers[0].weight)  # (m, C, *kernel)
    m = w.shape[0]
    if len(layers) > 1 and isinstance(layers[1], nn.ReLU):
        pooling, i = _read_pool(layers, 2, nd)
        if pooling is None:
            raise _refuse(layers, 2, "a ReLU CNN pools (SumPool or AdaptiveAvgPool(1))")
        alpha = _read_output(layers, i, scalar=True)[:, 0]
        U = w.reshape(m, -1).T
        return ReLUCNN(U, alpha, tuple(w.shape[2:]), stride, padding, pooling)
    pooling, i = _read_pool(layers, 1, nd)
    a = _read_output(layers, i)
    O = a.shape[1]
    if pooling:
        out = a
    else:
        if a.shape[0] % m:
            raise _refuse(layers, i, f"its input size is not a multiple of the {m} filters")
        positions = a.shape[0] // m
        if nd == 1:
            out_shape: tuple[int, ...] = (positions,)
        elif input_shape is None:
            raise InvalidInputError(
                "a 2-D linear CNN without pooling needs input_shape=(C, H, W): its Flatten "
                "hides the grid of output positions."
            )
        else:
            out_shape = patch_spec(tuple(input_shape), tuple(w.shape[2:]), stride, padding).out_shape
            if int(np.prod(out_shape)) != positions:
                raise InvalidInputError(
                    f"input_shape {tuple(input_shape)} gives {int(np.prod(out_shape))} "
                    f"positions, the output layer reads {positions} per filter."
                )
        out = a.reshape(m, *out_shape, O)
    return LinearCNN(w, out, stride=stride, padding=padding, pooling=pooling,
                     scalar_output=O == 1)


def _circular_conv(layers, i, in_channels: int | None):
    """``(filter (m, *shape), next index)`` of one circular convolution at ``layers[i]``
    (a left-padded ``CircularPad`` + ``Conv``, or a ``Conv`` with circular padding)."""
    nn = tm.torch_module().nn
    lefts: tuple[int, ...] | None = None
    if isinstance(layers[i], (nn.CircularPad1d, nn.CircularPad2d)):
        pad = tuple(layers[i].padding)  # (left, right[, top, bottom]) last axis first
        pairs = [pad[k : k + 2] for k in range(0, len(pad), 2)][::-1]
        lefts = tuple(p[0] for p in pairs)
        totals = tuple(p[0] + p[1] for p in pairs)
        i += 1
    if i >= len(layers) or not isinstance(layers[i], (nn.Conv1d, nn.Conv2d)):
        raise _refuse(layers, i, "a circular padding is followed by a convolution")
    conv = layers[i]
    nd = 1 if isinstance(conv, nn.Conv1d) else 2
    shape = tuple(conv.kernel_size)
    _no_bias(layers, i, "convolution")
    if any(v != 1 for v in conv.stride) or any(v != 1 for v in conv.dilation):
        raise _refuse(layers, i, "a circular convolution has stride and dilation 1")
    if lefts is None:
        if conv.padding_mode != "circular" or isinstance(conv.padding, str):
            raise _refuse(layers, i, "a circular convolution needs circular padding")
        lefts = tuple(conv.padding)
        totals = tuple(2 * p for p in conv.padding)
    elif conv.padding_mode == "circular" or any(conv.padding):
        raise _refuse(layers, i, "the convolution after CircularPad must not pad again")
    if len(lefts) != nd or any(t != d - 1 for t, d in zip(totals, shape)):
        raise _refuse(
            layers, i, f"the kernel {shape} must cover the whole signal, padded by its size - 1"
        )
    m = conv.out_channels
    if in_channels is None:  # first layer: one input channel
        if conv.in_channels != 1 or conv.groups != 1:
            raise _refuse(layers, i, "the first circular convolution maps 1 channel to m")
    elif conv.in_channels != m or conv.groups != m or m != in_channels:
        raise _refuse(layers, i, f"a deeper circular layer is depthwise: {in_channels} -> "
                      f"{in_channels} channels, groups={in_channels}")
    w = tm.to_numpy(conv.weight)[:, 0]  # (m, *shape)
    # cross-correlation after a left pad p: u_t = w_{(p - t) mod d} on every axis
    for axis, (p, d) in enumerate(zip(lefts, shape)):
        w = np.take(w, (p - np.arange(d)) % d, axis=axis + 1)
    return w, i + 1


def _read_circular(layers, i) -> Network:
    nn = tm.torch_module().nn
    filters = []
    channels = None
    while i < len(layers) and not isinstance(layers[i], nn.Flatten):
        u, i = _circular_conv(layers, i, channels)
        channels = u.shape[0]
        filters.append(u)
    if not filters or i >= len(layers):
        raise _refuse(layers, i, "a circular CNN flattens its channels before the output")
    w = _read_output(layers, i + 1, scalar=True)[:, 0]
    shape = filters[0].shape
    if w.size != int(np.prod(shape)):
        raise _refuse(layers, i + 1, f"the output layer reads m * d = {int(np.prod(shape))} values")
    return CircularCNN(filters + [w.reshape(shape)])


def _read_circular_relu(layers) -> Network:
    nn = tm.torch_module().nn
    if len(layers) < 2 or not isinstance(layers[1], (nn.CircularPad1d, nn.Conv1d)):
        raise _refuse(layers, 1, "after Unflatten comes a circular Conv1d")
    u, i = _circular_conv(layers, 1, None)  # (m, d)
    m, d = u.shape
    conv = layers[i] if i < len(layers) else None
    if not (isinstance(conv, nn.Conv1d) and conv.groups == m and conv.in_channels == m
            and conv.out_channels == m and tuple(conv.kernel_size) == (d,)
            and not any(conv.padding) and conv.bias is None):
        raise _refuse(layers, i, f"the inner products with w_1 are Conv1d({m}, {m}, {d}, "
                      f"groups={m}, bias=False) without padding")
    W1 = tm.to_numpy(conv.weight)[:, 0].T  # (d, m)
    if not (i + 2 < len(layers) and isinstance(layers[i + 1], nn.Flatten)
            and isinstance(layers[i + 2], nn.ReLU)):
        raise _refuse(layers, i + 1, "then come Flatten and ReLU")
    w2 = _read_output(layers, i + 3, scalar=True)[:, 0]
    return CircularReLUNet(u.T, W1, w2)
