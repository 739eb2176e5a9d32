r"""The PyTorch layers the networks' ``to_torch`` are made of, built from NumPy weights.

Every network's ``to_torch`` is a float64 ``nn.Sequential`` of standard layers whose forward
pass equals its ``predict``; the constructors here turn NumPy weights into those layers
(bias-free ``Linear`` computing ``x @ W``, convolutions holding ``(out, in/groups, *kernel)``
weights, the left ``CircularPad`` of ``d - 1`` entries that makes a full-size convolution
circular, :math:`C(u)x = u \circledast x`, with the filter flipped since PyTorch
convolutions are cross-correlations). :class:`SumPool` is the one layer ``torch.nn`` lacks:
sum pooling over every spatial position, :math:`(n, C, *S) \to (n, C)`,
:math:`y_{ic} = \sum_k x_{ick}` (``AdaptiveAvgPool`` without the division).

torch is imported inside the functions only (``SumPool`` is built on first access), so
importing sdpnets never imports it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

__all__ = ["torch_module", "tensor", "set_parameter", "to_numpy", "nn_layer", "linear",
           "conv", "left_circular_pad", "flip", "pooling", "SumPool"]


def torch_module():
    """The ``torch`` module (an ``ImportError`` naming the extra when it is missing)."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError("PyTorch is needed here: pip install 'sdpnets[torch]'") from exc
    return torch


def tensor(a: np.ndarray):
    """A float64 tensor holding ``a``."""
    return torch_module().as_tensor(np.ascontiguousarray(a), dtype=torch_module().float64)


def set_parameter(param, value: np.ndarray) -> None:
    """Copy ``value`` (reshaped to the parameter's shape) into ``param``."""
    with torch_module().no_grad():
        param.copy_(tensor(np.asarray(value, dtype=float).reshape(tuple(param.shape))))


def to_numpy(t) -> np.ndarray:
    """A float64 NumPy copy of tensor ``t``."""
    return t.detach().cpu().double().numpy().copy()


def nn_layer(nd: int, name: str):
    """``nn.Conv1d`` / ``nn.Conv2d`` (and friends) by spatial dimension."""
    return getattr(torch_module().nn, f"{name}{nd}d")


def with_dtype(method):
    """Give a network's ``to_torch`` the keyword ``dtype``: the float64 module it builds, cast
    with ``module.to(dtype)`` when one is given (e.g. ``torch.float32`` for float32 inputs)."""
    import functools
    import inspect

    @functools.wraps(method)
    def to_torch(self, *args, dtype=None, **kwargs):
        module = method(self, *args, **kwargs)
        return module if dtype is None else module.to(dtype)

    sig = inspect.signature(method)
    extra = inspect.Parameter("dtype", inspect.Parameter.KEYWORD_ONLY, default=None)
    to_torch.__signature__ = sig.replace(
        parameters=[*sig.parameters.values(), extra])
    return to_torch


def linear(weight_in_out: np.ndarray, bias: np.ndarray | None = None):
    """A float64 ``Linear`` computing ``x @ weight_in_out`` (``+ bias`` when given; bias-free
    otherwise)."""
    w = np.asarray(weight_in_out, dtype=float)
    torch = torch_module()
    layer = torch.nn.Linear(w.shape[0], w.shape[1], bias=bias is not None, dtype=torch.float64)
    set_parameter(layer.weight, w.T)
    if bias is not None:
        set_parameter(layer.bias, bias)
    return layer


def conv(nd: int, weight: np.ndarray, *, stride=1, padding=0, groups: int = 1):
    """A bias-free float64 convolution with the given ``(out, in/groups, *kernel)`` weight."""
    out_ch, in_per_group, *kernel = weight.shape
    layer = nn_layer(nd, "Conv")(
        in_per_group * groups, out_ch, tuple(kernel), stride=stride, padding=padding,
        groups=groups, bias=False, dtype=torch_module().float64,
    )
    set_parameter(layer.weight, weight)
    return layer


def left_circular_pad(shape: tuple[int, ...]):
    """``CircularPad`` of ``d - 1`` on the left of each axis (torch orders the last axis first)."""
    widths: list[int] = []
    for d in reversed(shape):
        widths += [d - 1, 0]
    return nn_layer(len(shape), "CircularPad")(tuple(widths))


def flip(a: np.ndarray, nd: int) -> np.ndarray:
    """Reverse the last ``nd`` axes (a convolution as a cross-correlation)."""
    return np.flip(a, axis=tuple(range(-nd, 0))).copy()


def pooling(nd: int, kind: str) -> list:
    """The layers of ``"sum"`` (:class:`SumPool`) or ``"mean"`` pooling over every position
    (``AdaptiveAvgPool(1)`` and ``Flatten``)."""
    if kind == "sum":
        return [_sum_pool()()]
    return [nn_layer(nd, "AdaptiveAvgPool")(1), torch_module().nn.Flatten()]


@functools.cache
def _sum_pool() -> Any:
    """The :class:`SumPool` class (built once, when torch is first needed)."""
    torch = torch_module()

    class SumPool(torch.nn.Module):  # type: ignore[name-defined]
        r"""Sum pooling over every spatial position, :math:`(n, C, *S) \to (n, C)`,
        :math:`y_{ic} = \sum_k x_{ick}` (the global counterpart of ``AdaptiveAvgPool``
        without the division by the number of positions)."""

        def forward(self, x):
            return x.flatten(2).sum(dim=2)

    SumPool.__module__, SumPool.__qualname__ = __name__, "SumPool"  # pickled by this name
    return SumPool


def __getattr__(name: str) -> Any:
    if name == "SumPool":
        return _sum_pool()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
