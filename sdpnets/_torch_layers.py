"""PyTorch layers sdpnets' modules need that ``torch.nn`` lacks.

Imported only by :mod:`sdpnets.torch_io`, inside functions: importing sdpnets never imports
torch.
"""

from __future__ import annotations

import torch

__all__ = ["SumPool"]


class SumPool(torch.nn.Module):
    r"""Sum pooling over every spatial position, :math:`(n, C, *S) \to (n, C)`,
    :math:`y_{ic} = \sum_k x_{ick}` (the global counterpart of ``AdaptiveAvgPool`` without
    the division by the number of positions)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).sum(dim=2)
