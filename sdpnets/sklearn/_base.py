r"""What every estimator of :mod:`sdpnets.sklearn` shares: the input checks, the choice of
``beta``, the solve, the learned attributes, labels, probabilities and the
cross-validation over a ``beta_max``-relative grid.

A family module (:mod:`.relu`, :mod:`.linear`) says how to build its program from
validated ``(X, T)`` (``_program``), what ``beta_max`` its grid is relative to
(``_beta_max``), what a solved program gives the estimator (``_attach``) and how the
network's output is computed on new inputs (``_output``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..errors import InvalidInputError, ProblemTooLargeError, SdpnetsWarning
from ..formulations.base import ConvexProgram
from ..results import Certificate, SolveResult

__all__ = ["ConvexEstimator", "ConvexRegressor", "ConvexClassifier", "PathCV",
           "DEFAULT_FRACTIONS", "DEFAULT_CV"]

logger = logging.getLogger(__name__)

#: The ``...CV`` estimators' default grid: fractions of ``beta_max`` (the smallest ``beta``
#: whose optimum is the zero network), from strong to weak regularization.
DEFAULT_FRACTIONS = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001)

#: Folds of the ``...CV`` estimators (stratified for classifiers).
DEFAULT_CV = 5

#: Marks a certificate not computed yet.
_PENDING = object()

CERTIFICATE_DOC = r"""The certified bracket of the *global* optimum of the training problem
        around ``network_``'s objective (a :class:`~sdpnets.Certificate`), computed on
        first access (not in :meth:`fit`).

        ``lower_bound <= global optimum <= upper_bound``, over *all* networks of the family
        with this ``beta_`` (and the intercept), whatever patterns the program used. For the
        ReLU estimators with sampled patterns the program's optimum is only an upper bound
        on the global one, so a large ``relative_gap`` means: either the sampled patterns
        miss better networks, or the bound is loose. ``kind`` says which bound it is:
        ``"exact"`` (every activation pattern enumerated, the bound is tight at a global
        optimum) or ``"relaxation"`` (too many patterns to enumerate: the dual norm is only
        bounded above, ``dual_norm_bounds = (lower, upper)`` says by how much it may be off,
        and the gap may be loose even at a global optimum). ``None`` when no certificate
        can be computed within ``max_patterns``. The cheap number certified during the
        solve is :attr:`optimality_gap_` (the program's own gap)."""


def _solved(result: SolveResult | None) -> bool:
    return result is not None and result.solved


class ConvexEstimator(BaseEstimator):
    """Shared ``fit``: validate, build the program, choose ``beta``, solve, recover."""

    #: ``scipy.sparse`` ``X`` accepted (read through its statistics by the family).
    _sparse = False
    #: Regressors: ``(n, K)`` targets accepted.
    _multi_output = False
    #: ``beta=None``: this fraction of :meth:`_beta_max` (chosen by measurement,
    #: benchmarks/estimators_real_data.py; docs/estimators.md).
    _beta_fraction = 0.01

    # -- what a family implements ------------------------------------------------------
    def _program(self, X, T: np.ndarray) -> ConvexProgram:
        """The program on validated inputs ``X`` and coded targets ``T`` (any ``beta``)."""
        raise NotImplementedError

    def _beta_max(self, program: ConvexProgram) -> float:
        """The ``beta`` above which ``program``'s optimum is the zero network."""
        raise NotImplementedError

    def _attach(self, program: ConvexProgram) -> None:
        """The learned attributes of a solved ``program`` (``network_``, ``intercept_``)."""
        raise NotImplementedError

    def _output(self, X) -> np.ndarray:
        """The fitted network's output on validated inputs ``X``, intercept included."""
        raise NotImplementedError

    # -- the fit -----------------------------------------------------------------------
    def _validate_X(self, X, reset: bool = False):
        return validate_data(self, X, reset=reset, dtype=np.float64,
                             accept_sparse=("csr", "csc") if self._sparse else False)

    def _prepare(self, X, T: np.ndarray) -> tuple[ConvexProgram, float | None]:
        """The program and, when the grid needs it (``beta=None``), its ``beta_max``."""
        program = self._program(X, T)
        top = None
        if self.beta is None:
            top = float(self._beta_max(program))
        return program, top

    def _default_fraction(self) -> float:
        """``beta=None``: the fraction of ``beta_max`` solved at (:attr:`_beta_fraction`;
        a family may choose it by its parameters, e.g. the loss)."""
        return self._beta_fraction

    def _fit_program(self, X, T: np.ndarray, fraction: float | None = None) -> None:
        """Solve at ``beta`` (or ``fraction`` of ``beta_max``, default
        :meth:`_default_fraction` when ``beta`` is ``None``) and keep the result."""
        program, top = self._prepare(X, T)
        if self.beta is None or fraction is not None:
            top = float(self._beta_max(program)) if top is None else top
            program.beta = _relative_beta(top, self._default_fraction() if fraction is None
                                          else fraction)
        else:
            program.beta = self.beta
        self.beta_max_ = top
        result = program.solve(backend=self.backend, tol=self.tol)
        self._adopt(program, result)

    def _adopt(self, program: ConvexProgram, result: SolveResult) -> None:
        self.result_ = result
        self.program_ = program
        self.beta_ = float(program.beta)
        self._attach(program)  # network() raises SolveFailedError on a failed solve
        self._certificate: Any = _PENDING

    # -- what the solve certified -------------------------------------------------------
    @property
    def certificate_(self) -> Certificate | None:
        check_is_fitted(self)
        if self._certificate is _PENDING:
            try:
                self._certificate = self.program_.certificate()
            except ProblemTooLargeError as exc:
                logger.info("no certificate for %s: %s", type(self).__name__, exc)
                self._certificate = None
        return self._certificate

    certificate_.__doc__ = CERTIFICATE_DOC

    @property
    def optimality_gap_(self) -> float:
        """The certified relative gap :math:`(u - \\ell)/|u|` of the program that was solved
        (``result_.relative_gap``): how far ``network_`` is from the optimum of *that*
        program (over its own patterns, for sampled ReLU patterns), certified by the solver's
        dual point at no extra cost. For the global optimum over all networks see
        :attr:`certificate_`."""
        check_is_fitted(self)
        return float(self.result_.relative_gap)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = self._multi_output
        tags.input_tags.sparse = self._sparse
        return tags


def _relative_beta(top: float, fraction: float) -> float:
    """``fraction * top``; any ``beta`` when ``top`` is 0 (the zero network is then optimal
    for every ``beta``)."""
    return fraction * top if top > 0 else 1.0


class ConvexRegressor(RegressorMixin, ConvexEstimator):
    """``fit`` / ``predict`` of a regressor."""

    def _targets(self, X, y, reset: bool = True):
        X, y = validate_data(self, X, y, reset=reset, dtype=np.float64, y_numeric=True,
                             multi_output=self._multi_output,
                             accept_sparse=("csr", "csc") if self._sparse else False)
        y = np.asarray(y, dtype=np.float64)
        self._y_ndim = y.ndim
        return X, y, y

    def fit(self, X, y) -> ConvexRegressor:
        """Solve the training problem on ``(X, y)`` to its global optimum.

        Parameters
        ----------
        X : array_like or DataFrame, shape (n_samples, n_features)
            Training inputs (rows are flattened images with ``input_shape``).
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)
            Targets (several outputs for the ReLU and deep linear families).

        Returns
        -------
        self
            The fitted estimator.
        """
        X, _, T = self._targets(X, y)
        self._fit_program(X, T)
        return self

    def predict(self, X) -> np.ndarray:
        """The network's output :math:`f(X)` (intercept included).

        Parameters
        ----------
        X : array_like or DataFrame, shape (n_samples, n_features)
            Inputs, as in :meth:`fit`.

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_outputs)
            The predictions.
        """
        check_is_fitted(self)
        out = np.asarray(self._output(self._validate_X(X)))
        if self._y_ndim == 1:
            return out.reshape(out.shape[0])
        return out.reshape(out.shape[0], -1)


class ConvexClassifier(ClassifierMixin, ConvexEstimator):
    """``fit`` / ``predict`` / ``predict_proba`` of a classifier on any labels.

    Two classes are one output coded :math:`\\pm 1` (``classes_[1]`` is +1), ``K > 2``
    classes ``K`` outputs coded :math:`\\pm 1` one-vs-rest, and the softmax loss one-hot
    targets with ``K`` outputs (any ``K``)."""

    def _loss_name(self) -> str:
        return "squared"

    def _targets(self, X, y, reset: bool = True):
        X, y = validate_data(self, X, y, reset=reset, dtype=np.float64,
                             accept_sparse=("csr", "csc") if self._sparse else False)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError(
                "y holds one class only; a classifier needs at least two classes "
                f"(got {self.classes_.tolist()})."
            )
        codes = np.searchsorted(self.classes_, y)
        K = self.classes_.size
        if self._loss_name() == "softmax":
            T = np.eye(K)[codes]
        elif K == 2:
            T = np.where(codes == 1, 1.0, -1.0)
        else:
            T = 2.0 * np.eye(K)[codes] - 1.0
        return X, y, T

    def fit(self, X, y) -> ConvexClassifier:
        """Fit the classifier: any labels, two classes or more.

        Parameters
        ----------
        X : array_like or DataFrame, shape (n_samples, n_features)
            Training inputs (rows are flattened images with ``input_shape``).
        y : array_like, shape (n_samples,)
            Labels of any type (integers, strings, ...).

        Returns
        -------
        self
            The fitted estimator.
        """
        X, _, T = self._targets(X, y)
        self._fit_program(X, T)
        return self

    def decision_function(self, X) -> np.ndarray:
        """The network's output: ``(n,)`` for two classes (positive for ``classes_[1]``),
        ``(n, K)`` otherwise (one score per class).

        Parameters
        ----------
        X : array_like or DataFrame, shape (n_samples, n_features)
            Inputs, as in :meth:`fit`.

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_classes)
            The scores.
        """
        check_is_fitted(self)
        F = np.asarray(self._output(self._validate_X(X)))
        F = F.reshape(F.shape[0], -1)
        if F.shape[1] == 1:
            return F[:, 0]
        if self.classes_.size == 2:  # softmax over two classes: the difference of logits
            return F[:, 1] - F[:, 0]
        return F

    def predict(self, X) -> np.ndarray:
        """The class with the largest score (``classes_[1]`` where the score is positive for
        two classes).

        Parameters
        ----------
        X : array_like or DataFrame, shape (n_samples, n_features)
            Inputs, as in :meth:`fit`.

        Returns
        -------
        ndarray, shape (n_samples,)
            Predicted labels.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _has_proba(self) -> bool:
        return self._loss_name() in ("logistic", "softmax")

    @available_if(_has_proba)
    def predict_proba(self, X) -> np.ndarray:
        r"""Class probabilities, each row summing to one: :math:`\sigma(f)` for two classes
        with the logistic loss, the normalized :math:`\sigma(f_k)` one-vs-rest for more, the
        softmax of the outputs for the softmax loss.

        Parameters
        ----------
        X : array_like or DataFrame, shape (n_samples, n_features)
            Inputs, as in :meth:`fit`.

        Returns
        -------
        ndarray, shape (n_samples, n_classes)
            Probabilities of the classes in ``classes_``.
        """
        check_is_fitted(self)
        F = np.asarray(self._output(self._validate_X(X)))
        F = F.reshape(F.shape[0], -1)
        if self._loss_name() == "softmax":
            return softmax(F, axis=1)
        if F.shape[1] == 1:
            p = expit(F[:, 0])
            return np.column_stack([1.0 - p, p])
        P = expit(F)
        return P / P.sum(axis=1, keepdims=True)

    @available_if(_has_proba)
    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array_like or DataFrame, shape (n_samples, n_features)
            Inputs, as in :meth:`fit`.

        Returns
        -------
        ndarray, shape (n_samples, n_classes)
            Log-probabilities of the classes in ``classes_``.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


class PathCV:
    """Cross-validation of ``beta`` over a ``beta_max``-relative grid, by warm-started
    paths (:meth:`~sdpnets.ConvexProgram.path`), as ``RidgeCV`` / ``LogisticRegressionCV``.

    Each fold builds the program on its training part and solves it along
    ``fractions * beta_max`` of that part (strong to weak regularization, each solve started
    from the last), scoring every solution on the held-out part; the fraction with the best
    mean score is refitted on all the data. A solve that fails scores ``-inf`` for its
    fraction (with a warning), never an exception.
    """

    #: The estimator whose parameters (all but ``beta``) the folds are fitted with.
    _base: type

    fractions: Sequence[float] | None
    cv: Any
    scoring: Any

    def _fraction_grid(self) -> np.ndarray:
        fractions = DEFAULT_FRACTIONS if self.fractions is None else self.fractions
        grid = np.asarray(fractions, dtype=float).reshape(-1)
        if grid.size == 0 or not np.all((grid > 0) & np.isfinite(grid)):
            raise InvalidInputError(
                f"fractions must be positive fractions of beta_max, got {fractions!r}."
            )
        return np.sort(grid)[::-1]  # strong to weak: the path's warm starts go that way

    def _fold_estimator(self) -> ConvexEstimator:
        names = self._base._get_param_names()  # type: ignore[attr-defined]
        params = {k: getattr(self, k) for k in names if k != "beta"}
        return self._base(beta=None, **params)

    def fit(self, X, y):
        """Choose ``beta`` by cross-validation along warm-started paths, then refit.

        Parameters
        ----------
        X : array_like or DataFrame, shape (n_samples, n_features)
            Training inputs.
        y : array_like, shape (n_samples,)
            Targets (regressors) or labels (classifiers).

        Returns
        -------
        self
            The fitted estimator; ``fractions_``, ``scores_`` (folds x fractions),
            ``best_fraction_`` and everything the base estimator learns.
        """
        est: Any = self
        X, y, T = est._targets(X, y)
        grid = self._fraction_grid()
        folds = list(check_cv(self.cv if self.cv is not None else DEFAULT_CV, y,
                              classifier=is_classifier(self)).split(X, y))
        scores = np.full((len(folds), grid.size), -np.inf)
        for i, (train, test) in enumerate(folds):
            fold: Any = self._fold_estimator()
            Xtr = X[train]
            Xtr, _, Ttr = fold._targets(Xtr, y[train])
            scorer = check_scoring(fold, scoring=self.scoring)
            program, _ = fold._prepare(Xtr, Ttr)
            top = float(fold._beta_max(program))
            fold.beta_max_ = top
            betas = [_relative_beta(top, f) for f in grid]
            column = iter(range(grid.size))

            def score(prog: ConvexProgram, result: SolveResult, fold=fold, i=i,
                      test=test, column=column, scorer=scorer) -> None:
                j = next(column)
                if not _solved(result):
                    warnings.warn(f"fold {i}, fraction {grid[j]:g} of beta_max: the solve "
                                  f"ended {result.status!r}; it scores -inf. "
                                  f"{result.message}", SdpnetsWarning, stacklevel=2)
                    return
                fold._adopt(prog, result)
                scores[i, j] = scorer(fold, X[test], y[test])

            program.path(betas, callback=score, backend=self.backend, tol=self.tol)
        self.fractions_ = grid
        self.scores_ = scores
        mean = scores.mean(axis=0)
        if not np.any(np.isfinite(mean)):
            raise InvalidInputError("every fraction of the grid failed in some fold; see the "
                                    "warnings for the solvers' messages.")
        self.best_fraction_ = float(grid[int(np.argmax(mean))])
        self._fit_program(X, T, fraction=self.best_fraction_)
        return self


def fit_params_doc(extra: str = "") -> str:
    """The ``fractions``, ``cv`` and ``scoring`` parameters of the ``...CV`` estimators."""
    return f"""    fractions : sequence of float, optional
        The grid, as fractions of ``beta_max`` of each training fold (default
        ``{DEFAULT_FRACTIONS}``), solved from strong to weak regularization, each solve
        warm-started from the last.
    cv : int, cross-validation generator or iterable, optional
        As for ``GridSearchCV`` (default {DEFAULT_CV} folds, stratified for classifiers).
    scoring : str or callable, optional
        As for ``GridSearchCV`` (default: the estimator's ``score``).{extra}
"""


ProgramFactory = Callable[[Any, np.ndarray], ConvexProgram]
