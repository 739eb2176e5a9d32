"""sdpnets: train neural networks to their global optimum through convex programs.

Weight decay on a deep linear network is a nuclear-norm (SDP) regularizer, on a circular
linear CNN an l1 penalty in the Fourier domain, on a two-layer ReLU network a group lasso
over activation patterns (Pilanci & Ergen, ICML 2020). sdpnets builds these programs,
solves them on real solvers, certifies the optimum and returns the trained network.
"""

from .backends import available_backends
from .certificates import beta_max, certify
from .errors import (
    BackendNotAvailableError,
    InvalidInputError,
    NonConvexFormulationError,
    NotSolvedError,
    ProblemTooLargeError,
    SdpnetsError,
    SdpnetsWarning,
    SolveFailedError,
    UnknownBackendError,
)
from .features.patterns import PatternSet, enumerate_patterns, sample_patterns
from .formulations.base import ConvexProgram
from .formulations.circular_cnn import ConvexCircularCNN
from .formulations.linear_cnn import ConvexLinearCNN
from .formulations.linear_fc import ConvexLinearFC
from .formulations.relu.circular import ConvexCircularReLU
from .formulations.relu.cnn import ConvexReLUCNN
from .formulations.relu.copositive import CopositiveReLU
from .formulations.relu.gated import ConvexGatedReLU
from .formulations.relu.mlp import ConvexReLU
from .networks.base import Network
from .networks.linear import CircularCNN, LinearCNN, LinearFC
from .networks.relu import CircularReLUNet, GatedReLUMLP, ReLUCNN, ReLUMLP
from .results import BetaMaxInterval, Certificate, SolveResult
from .torch_io import from_torch

__version__ = "0.1.0"

__all__ = [
    "ConvexReLU",
    "ConvexReLUCNN",
    "ConvexCircularReLU",
    "ConvexGatedReLU",
    "CopositiveReLU",
    "GatedReLUMLP",
    "ReLUMLP",
    "ReLUCNN",
    "CircularReLUNet",
    "PatternSet",
    "enumerate_patterns",
    "sample_patterns",
    "available_backends",
    "beta_max",
    "certify",
    "from_torch",
    "ConvexProgram",
    "ConvexLinearFC",
    "ConvexLinearCNN",
    "ConvexCircularCNN",
    "Network",
    "LinearFC",
    "LinearCNN",
    "CircularCNN",
    "SolveResult",
    "Certificate",
    "BetaMaxInterval",
    "SdpnetsError",
    "InvalidInputError",
    "UnknownBackendError",
    "NonConvexFormulationError",
    "ProblemTooLargeError",
    "BackendNotAvailableError",
    "NotSolvedError",
    "SolveFailedError",
    "SdpnetsWarning",
]

#: scikit-learn estimators, importable from here on first use (scikit-learn stays optional;
#: their home is :mod:`sdpnets.sklearn`).
_ESTIMATORS = frozenset({
    "ConvexReLURegressor", "ConvexReLUClassifier", "ConvexLinearRegressor",
    "ConvexLinearClassifier", "ConvexCircularCNNRegressor", "ConvexCircularCNNClassifier",
    "ConvexReLURegressorCV", "ConvexReLUClassifierCV", "ConvexLinearRegressorCV",
    "ConvexLinearClassifierCV",
})


def __getattr__(name: str):
    if name in _ESTIMATORS:
        from . import sklearn

        return getattr(sklearn, name)
    raise AttributeError(f"module 'sdpnets' has no attribute {name!r}")
