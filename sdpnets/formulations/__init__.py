"""Convex formulations, one module per network family."""

from .base import ConvexProgram
from .linear_fc import ConvexLinearFC
from .linear_cnn import ConvexLinearCNN
from .fourier import ConvexCircularCNN

__all__ = ["ConvexProgram", "ConvexLinearFC", "ConvexLinearCNN", "ConvexCircularCNN"]
