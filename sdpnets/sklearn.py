"""scikit-learn estimators of sdpnets' network families (``pip install 'sdpnets[sklearn]'``).

``from sdpnets.sklearn import ConvexReLUClassifier``; see :mod:`sdpnets.estimators`.
"""

from .estimators import (  # noqa: F401  (the names of __all__)
    ConvexCircularCNNClassifier,
    ConvexCircularCNNRegressor,
    ConvexLinearClassifier,
    ConvexLinearRegressor,
    ConvexReLUClassifier,
    ConvexReLURegressor,
    __all__,
)
