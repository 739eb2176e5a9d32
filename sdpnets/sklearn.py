"""scikit-learn estimators of sdpnets' network families (``pip install 'sdpnets[sklearn]'``).

``from sdpnets.sklearn import ConvexReLUClassifier``; see :mod:`sdpnets.estimators`.
"""

from .estimators import (
    ConvexCircularCNNClassifier,
    ConvexCircularCNNRegressor,
    ConvexLinearClassifier,
    ConvexLinearRegressor,
    ConvexReLUClassifier,
    ConvexReLURegressor,
)

__all__ = [
    "ConvexReLURegressor",
    "ConvexReLUClassifier",
    "ConvexLinearRegressor",
    "ConvexLinearClassifier",
    "ConvexCircularCNNRegressor",
    "ConvexCircularCNNClassifier",
]
