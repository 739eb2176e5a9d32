"""Convex formulations, one module per network family."""

from .base import ConvexProgram
from .linear_fc import ConvexLinearFC

__all__ = ["ConvexProgram", "ConvexLinearFC"]
