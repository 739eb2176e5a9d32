r"""scikit-learn estimators: globally optimal networks behind ``fit`` / ``predict``.

Each estimator solves its family's convex program in :meth:`fit` and keeps the recovered
network, so it works in ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``:

.. code-block:: python

    from sdpnets.sklearn import ConvexReLUClassifier
    clf = ConvexReLUClassifier(beta=0.1).fit(X, y)      # any two labels
    clf.predict_proba(X); clf.certificate_.gap; clf.network_.to_torch()

The training problem is the package's, with the loss summed over samples (not averaged),
so a good ``beta`` grows with the number of samples:

.. math::

    \min_\theta \; L\big(f_\theta(X), y\big) + \tfrac{\beta}{2}\sum_l \|W_l\|_F^2 .

Classifiers are binary: the two labels in ``classes_`` are coded :math:`-1, +1` (the
classification losses' convention), :meth:`decision_function` is the network output
:math:`f(x)`, ``predict`` picks ``classes_[1]`` where :math:`f(x) > 0`, and with the
logistic loss ``predict_proba`` is :math:`\sigma(f(x))`. The deep linear and circular CNN
families fit ``{-1, +1}`` by least squares (their programs are exact for the squared loss
only).

Learned attributes: ``network_`` (the trained :class:`~sdpnets.Network`), ``result_``
(the :class:`~sdpnets.SolveResult`), ``program_`` (the solved convex program),
``certificate_`` (:class:`~sdpnets.Certificate` bracketing the global optimum, computed
on first access; ``None`` for the ReLU family when the exact certificate needs more than
``max_patterns`` activation patterns), ``n_features_in_``.

This module imports scikit-learn; importing :mod:`sdpnets` never does.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from .errors import ProblemTooLargeError
from .formulations.base import ConvexProgram
from .formulations.circular_cnn import ConvexCircularCNN
from .formulations.linear_fc import ConvexLinearFC
from .formulations.relu.mlp import ConvexReLU
from .results import Certificate

__all__ = [
    "ConvexReLURegressor",
    "ConvexReLUClassifier",
    "ConvexLinearRegressor",
    "ConvexLinearClassifier",
    "ConvexCircularCNNRegressor",
    "ConvexCircularCNNClassifier",
]

logger = logging.getLogger(__name__)

#: The estimators' bound on exhaustive pattern enumeration (certificates, exactness checks):
#: lower than the library's, so that fitting stays quick on data with many cells.
ESTIMATOR_MAX_PATTERNS = 2000


#: Marks a certificate not computed yet.
_PENDING = object()


class _ConvexEstimator(BaseEstimator):
    """Shared ``fit``: validate, build the program, solve, recover, certify."""

    _multi_output = False

    def _program(self, X: np.ndarray, y: np.ndarray) -> ConvexProgram:
        raise NotImplementedError

    def _network_kwargs(self) -> dict[str, Any]:
        return {}

    def _as_input(self, X: np.ndarray) -> np.ndarray:
        """The validated 2-D ``X`` in the layout the network takes."""
        return X

    def _solve(self, X: np.ndarray, y: np.ndarray) -> None:
        program = self._program(self._as_input(X), y)
        self.result_ = program.solve(backend=self.backend, tol=self.tol)
        # network() raises SolveFailedError (with the solver's message) on a failed solve
        self.network_ = program.network(**self._network_kwargs())
        self.program_ = program
        self._certificate: Any = _PENDING

    @property
    def certificate_(self) -> Certificate | None:
        """The certified bracket of the global optimum around ``network_``'s objective,
        computed on first access (``None`` when the ReLU family's exact certificate needs
        more than ``max_patterns`` activation patterns)."""
        check_is_fitted(self)
        if self._certificate is _PENDING:
            try:
                self._certificate = self.program_.certificate()
            except ProblemTooLargeError as exc:
                logger.info("no certificate for %s: %s", type(self).__name__, exc)
                self._certificate = None
        return self._certificate

    def _output(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return np.asarray(self.network_.predict(self._as_input(X)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = self._multi_output
        return tags


class _Regressor(RegressorMixin, _ConvexEstimator):
    def fit(self, X, y) -> _Regressor:
        """Solve the training problem on ``(X, y)`` to its global optimum.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Training inputs (rows are flattened images with ``input_shape``).
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)
            Targets (several outputs for the ReLU and deep linear families).

        Returns
        -------
        self
            The fitted estimator.
        """
        X, y = validate_data(
            self, X, y, dtype=np.float64, y_numeric=True, multi_output=self._multi_output
        )
        self._solve(X, np.asarray(y, dtype=np.float64))
        return self

    def predict(self, X) -> np.ndarray:
        """The network's output :math:`f(X)`.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Inputs, as in :meth:`fit`.

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_outputs)
            The predictions.
        """
        out = self._output(X)
        return out.reshape(out.shape[0], -1)[:, 0] if out.ndim > 1 and out.shape[1] == 1 else out


class _Classifier(ClassifierMixin, _ConvexEstimator):
    def fit(self, X, y) -> _Classifier:
        """Fit a binary classifier; the two labels are coded -1 (``classes_[0]``) and +1.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Training inputs (rows are flattened images with ``input_shape``).
        y : array_like, shape (n_samples,)
            Any two labels.

        Returns
        -------
        self
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y")
        self.classes_ = np.unique(y)
        if y_type != "binary" or self.classes_.size > 2:
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {y_type}."
            )
        if self.classes_.size < 2:
            raise ValueError(
                "y holds one class only; a classifier needs two classes "
                f"(got {self.classes_.tolist()})."
            )
        self._solve(X, np.where(y == self.classes_[1], 1.0, -1.0))
        return self

    def decision_function(self, X) -> np.ndarray:
        """The network's output :math:`f(x)`: positive for ``classes_[1]``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Inputs, as in :meth:`fit`.

        Returns
        -------
        ndarray, shape (n_samples,)
            The scores.
        """
        return self._output(X).reshape(-1)

    def predict(self, X) -> np.ndarray:
        """``classes_[1]`` where :math:`f(x) > 0`, else ``classes_[0]``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Inputs, as in :meth:`fit`.

        Returns
        -------
        ndarray, shape (n_samples,)
            Predicted labels.
        """
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


def _logistic(estimator) -> bool:
    return getattr(estimator, "loss", None) == "logistic"


# --- two-layer ReLU network ------------------------------------------------------------------


class _ReLUParams:
    def _program(self, X, y):
        return ConvexReLU(
            X, y, self.beta, patterns=self.patterns, loss=self._loss_name(), bias=self.bias,
            seed=self.seed, max_patterns=self.max_patterns,
        )

    def _network_kwargs(self):
        return {"prune": self.prune}


class ConvexReLURegressor(_ReLUParams, _Regressor):
    r"""Two-layer ReLU network regressor trained to the optimum of its convex program.

    The network :math:`f(x) = \sum_j (x^T u_j + b_j)_+\alpha_j` is trained to the optimum of
    its group-lasso program (:class:`~sdpnets.ConvexReLU`) with the squared loss.

    Parameters
    ----------
    beta : float
        Weight decay, ``> 0`` (the loss is summed over samples).
    patterns : "exhaustive" or int
        Activation patterns of the program: an int samples that many gates (the program's
        optimum is then an upper bound, exact when the gates hit every cell, see
        ``result_.exact``); ``"exhaustive"`` enumerates every cell (the global optimum).
    bias : bool
        A first-layer bias (penalized like the weights).
    backend : str
        ``"auto"``, ``"clarabel"``, ``"scs"``, ``"mosek"`` or ``"firstorder"``.
    tol : float
        Solver tolerance.
    seed : int or None
        Seed of the sampled gates.
    max_patterns : int
        Largest exhaustive enumeration (for ``patterns="exhaustive"``, the exactness check
        of sampled gates and ``certificate_``).
    prune : bool
        Caratheodory-prune the network to at most ``n + 1`` neurons (same objective).

    Attributes
    ----------
    network_ : ReLUMLP
    result_ : SolveResult
    certificate_ : Certificate or None
    n_features_in_ : int
    """

    _multi_output = True

    def __init__(self, beta: float = 1.0, *, patterns: Any = 32, bias: bool = True,
                 backend: str = "auto", tol: float = 1e-8, seed: int | None = 0,
                 max_patterns: int = ESTIMATOR_MAX_PATTERNS, prune: bool = False) -> None:
        self.beta = beta
        self.patterns = patterns
        self.bias = bias
        self.backend = backend
        self.tol = tol
        self.seed = seed
        self.max_patterns = max_patterns
        self.prune = prune

    def _loss_name(self) -> str:
        return "squared"


class ConvexReLUClassifier(_ReLUParams, _Classifier):
    r"""Binary two-layer ReLU network classifier trained to the optimum of its convex program.

    A two-layer ReLU network is trained to the optimum of its group-lasso program (:class:`~sdpnets.ConvexReLU`) with a classification loss on the
    labels coded :math:`\pm 1`.

    Parameters
    ----------
    beta : float
        Weight decay, ``> 0`` (the loss is summed over samples).
    loss : {"logistic", "hinge", "squared"}
        ``predict_proba`` exists for ``"logistic"``: :math:`P(\text{classes\_}[1] \mid x)
        = \sigma(f(x))`.
    patterns : "exhaustive" or int
        As for :class:`ConvexReLURegressor`.
    bias : bool
        A first-layer bias.
    backend : str
        ``"auto"``, ``"clarabel"``, ``"scs"``, ``"mosek"`` or ``"firstorder"``.
    tol : float
        Solver tolerance.
    seed : int or None
        Seed of the sampled gates.
    max_patterns : int
        Largest exhaustive enumeration.
    prune : bool
        Caratheodory-prune the network (same objective).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    network_ : ReLUMLP
    result_ : SolveResult
    certificate_ : Certificate or None
    n_features_in_ : int
    """

    def __init__(self, beta: float = 1.0, *, loss: str = "logistic", patterns: Any = 32,
                 bias: bool = True, backend: str = "auto", tol: float = 1e-8,
                 seed: int | None = 0, max_patterns: int = ESTIMATOR_MAX_PATTERNS,
                 prune: bool = False) -> None:
        self.beta = beta
        self.loss = loss
        self.patterns = patterns
        self.bias = bias
        self.backend = backend
        self.tol = tol
        self.seed = seed
        self.max_patterns = max_patterns
        self.prune = prune

    def _loss_name(self) -> str:
        return self.loss

    @available_if(_logistic)
    def predict_proba(self, X) -> np.ndarray:
        r"""Class probabilities :math:`[1 - \sigma(f(x)), \sigma(f(x))]` (logistic loss).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Inputs, as in :meth:`fit`.

        Returns
        -------
        ndarray, shape (n_samples, 2)
            Probabilities of ``classes_[0]`` and ``classes_[1]``.
        """
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    @available_if(_logistic)
    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`, computed stably.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Inputs, as in :meth:`fit`.

        Returns
        -------
        ndarray, shape (n_samples, 2)
            Log-probabilities of ``classes_[0]`` and ``classes_[1]``.
        """
        f = self.decision_function(X)
        return np.column_stack([-np.logaddexp(0.0, f), -np.logaddexp(0.0, -f)])


def _solver_and_attributes_doc(network: str) -> str:
    """The ``backend``/``tol`` parameters and the fitted attributes of a least-squares
    family's estimators (numpydoc), for the network class ``network``."""
    return f"""    backend : str
        ``"auto"``, ``"clarabel"``, ``"scs"``, ``"mosek"`` or ``"firstorder"``.
    tol : float
        Solver tolerance.

    Attributes
    ----------
    network_ : {network}
    result_ : SolveResult
    certificate_ : Certificate
    n_features_in_ : int
"""


# --- deep linear network ----------------------------------------------------------------------


class _LinearParams:
    # one constructor for the regressor and the classifier (scikit-learn reads the
    # parameters from the signature of the inherited __init__)
    def __init__(self, beta: float = 1.0, *, depth: int = 2, hidden: str = "weight_decay",
                 backend: str = "auto", tol: float = 1e-8) -> None:
        self.beta = beta
        self.depth = depth
        self.hidden = hidden
        self.backend = backend
        self.tol = tol

    def _program(self, X, y):
        return ConvexLinearFC(X, y, self.beta, depth=self.depth, hidden=self.hidden)


_LINEAR_DOC = r"""
    Parameters
    ----------
    beta : float
        Weight decay, ``> 0`` (the loss is summed over samples).
    depth : int
        Number of layers ``L >= 2``.
    hidden : {"weight_decay", "spectral"}
        Regularization of layers ``1..L-2`` (see :class:`~sdpnets.ConvexLinearFC`).
""" + _solver_and_attributes_doc("LinearFC")


class ConvexLinearRegressor(_LinearParams, _Regressor):
    __doc__ = (
        r"""Deep linear network regressor trained to the global optimum of its convex program.

    The network :math:`f(x) = x^T W_1 \cdots W_L` is trained to the global optimum of its nuclear-norm program (:class:`~sdpnets.ConvexLinearFC`), squared loss.
    No intercept: centre the data (e.g. ``StandardScaler`` in a ``Pipeline``).
"""
        + _LINEAR_DOC
    )

    _multi_output = True


class ConvexLinearClassifier(_LinearParams, _Classifier):
    __doc__ = (
        r"""Binary deep linear network classifier fitted at the global optimum.

    A deep linear network is fitted to the labels coded
    :math:`\pm 1` by least squares with weight decay, at the global optimum
    (:class:`~sdpnets.ConvexLinearFC`). No intercept: centre the data.
"""
        + _LINEAR_DOC.replace("Attributes\n    ----------\n",
                              "Attributes\n    ----------\n    classes_ : ndarray of shape (2,)\n")
    )


# --- circular CNN -----------------------------------------------------------------------------


class _CircularParams:
    def __init__(self, beta: float = 1.0, *, depth: int = 2, hidden: str = "weight_decay",
                 input_shape: tuple[int, int] | None = None, backend: str = "auto",
                 tol: float = 1e-8) -> None:
        self.beta = beta
        self.depth = depth
        self.hidden = hidden
        self.input_shape = input_shape
        self.backend = backend
        self.tol = tol

    def _as_input(self, X):
        if self.input_shape is None:
            return X
        return X.reshape(X.shape[0], 1, *tuple(self.input_shape))

    def _program(self, X, y):
        return ConvexCircularCNN(X, y, self.beta, depth=self.depth, hidden=self.hidden)


_CIRCULAR_DOC = r"""
    Parameters
    ----------
    beta : float
        Weight decay, ``> 0`` (the loss is summed over samples).
    depth : {2, 3}
    hidden : {"weight_decay", "unit_norm"}
        ``depth=3`` needs ``"unit_norm"`` (see :class:`~sdpnets.ConvexCircularCNN`).
    input_shape : tuple of int, optional
        ``(H, W)``: each row of ``X`` is an image flattened in C order (2-D circular
        convolutions). Default: rows are 1-D signals.
""" + _solver_and_attributes_doc("CircularCNN")


class ConvexCircularCNNRegressor(_CircularParams, _Regressor):
    __doc__ = (
        r"""Circular linear CNN regressor trained to the global optimum of its convex program.

    The CNN with full-size circular filters
    :math:`f(x) = \sum_j w_j^T C(u_{L-1,j})\cdots C(u_{1,j})x`, trained to the global optimum
    of its Fourier-domain group lasso (:class:`~sdpnets.ConvexCircularCNN`), squared loss.
"""
        + _CIRCULAR_DOC
    )


class ConvexCircularCNNClassifier(_CircularParams, _Classifier):
    __doc__ = (
        r"""Binary circular linear CNN classifier fitted at the global optimum.

    A circular linear CNN is fitted to the labels coded
    :math:`\pm 1` by least squares with weight decay, at the global optimum
    (:class:`~sdpnets.ConvexCircularCNN`).
"""
        + _CIRCULAR_DOC.replace("Attributes\n    ----------\n",
                                "Attributes\n    ----------\n    classes_ : ndarray of shape (2,)\n")
    )
