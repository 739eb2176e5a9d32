r"""scikit-learn estimators: globally optimal networks behind ``fit`` / ``predict``.

Each estimator solves its family's convex program in :meth:`fit` and keeps the recovered
network, so it works in ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``:

.. code-block:: python

    from sdpnets.sklearn import ConvexReLUClassifier, ConvexReLUClassifierCV
    clf = ConvexReLUClassifier().fit(X, y)          # any labels, two classes or more
    clf.predict(X); clf.optimality_gap_; clf.certificate_; clf.network_.to_torch()
    ConvexReLUClassifierCV().fit(X, y).beta_        # beta by cross-validated paths

The training problem is the package's, with the loss summed over samples (not averaged):

.. math::

    \min_{\theta, c} \; L\big(f_\theta(X) + 1c^T, y\big) + \tfrac{\beta}{2}\sum_l \|W_l\|_F^2 ,

with an unpenalized intercept :math:`c` (``fit_intercept=True``, as in scikit-learn: an
unpenalized offset variable of the ReLU programs, docs/relu.md section 4h; centering for
the linear families, :mod:`sdpnets.sklearn.linear`). ``beta=None`` (the default) is a
fraction of ``beta_max``, the smallest ``beta`` at which the optimum is the zero network,
so the default scales with the data; the ``...CV`` estimators choose the fraction by
cross-validation along warm-started paths.

Classifiers take any labels (integers, strings) and any number of classes: two classes are
one output coded :math:`\pm 1`, ``K`` classes ``K`` outputs coded :math:`\pm 1` one-vs-rest
(for a separable loss the vector-output program *is* ``K`` programs sharing their patterns),
or, with ``loss="softmax"``, the cross-entropy of ``K`` outputs as one joint program.
``predict_proba`` (logistic and softmax losses) sums to one.

Inputs: NumPy arrays, pandas DataFrames (``feature_names_in_``), any float or integer
dtype (computed in float64), and ``scipy.sparse`` ``X`` for the deep linear and circular
estimators (read through its statistics, never densified; refused when its ``d x d`` Gram
matrix would not fit in memory).

Learned attributes: ``network_``, ``intercept_``, ``beta_``, ``result_`` (the
:class:`~sdpnets.SolveResult`), ``program_``, ``optimality_gap_`` (the solved program's
certified relative gap, free), ``certificate_`` (the bracket of the global optimum over
all networks, computed on first access), ``n_features_in_``.

This package imports scikit-learn; importing :mod:`sdpnets` never does.
"""

from __future__ import annotations

from .linear import (
    ConvexCircularCNNClassifier,
    ConvexCircularCNNRegressor,
    ConvexLinearClassifier,
    ConvexLinearClassifierCV,
    ConvexLinearRegressor,
    ConvexLinearRegressorCV,
)
from .relu import (
    ConvexReLUClassifier,
    ConvexReLUClassifierCV,
    ConvexReLURegressor,
    ConvexReLURegressorCV,
)

__all__ = [
    "ConvexReLURegressor",
    "ConvexReLUClassifier",
    "ConvexReLURegressorCV",
    "ConvexReLUClassifierCV",
    "ConvexLinearRegressor",
    "ConvexLinearClassifier",
    "ConvexLinearRegressorCV",
    "ConvexLinearClassifierCV",
    "ConvexCircularCNNRegressor",
    "ConvexCircularCNNClassifier",
]
