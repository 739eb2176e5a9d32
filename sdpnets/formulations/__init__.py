"""Convex formulations, one module per network family."""

from .base import ConvexProgram
from .linear_fc import ConvexLinearFC
from .linear_cnn import ConvexLinearCNN
from .fourier import ConvexCircularCNN
from .relu import ConvexReLU
from .relu_cnn import ConvexReLUCNN
from .circular_relu import ConvexCircularReLU
from .gated_relu import ConvexGatedReLU

__all__ = ["ConvexProgram", "ConvexLinearFC", "ConvexLinearCNN", "ConvexCircularCNN",
           "ConvexReLU", "ConvexReLUCNN", "ConvexCircularReLU", "ConvexGatedReLU"]
