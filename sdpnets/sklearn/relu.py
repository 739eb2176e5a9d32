r"""Two-layer ReLU network estimators: :class:`~sdpnets.ConvexReLU` behind ``fit`` /
``predict``, and their ``...CV`` variants.

The network :math:`f(x) = \sum_j (x^Tu_j + b_j)_+\alpha_j + c` is trained to the optimum of
its group-lasso program over ``patterns`` sampled activation patterns, with an
unpenalized intercept :math:`c` (``fit_intercept``, docs/relu.md section 4h) and the
loss summed over samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import check_int
from ..errors import InvalidInputError
from ..features.patterns import bisector_gates
from ..formulations.relu.mlp import ConvexReLU
from ._base import ConvexClassifier, ConvexRegressor, PathCV, fit_params_doc

__all__ = ["ConvexReLURegressor", "ConvexReLUClassifier", "ConvexReLURegressorCV",
           "ConvexReLUClassifierCV", "DEFAULT_PATTERNS", "PATTERN_WORK", "AUTO_PATTERNS",
           "auto_pattern_count", "ESTIMATOR_MAX_PATTERNS", "GATES", "RELU_BETA_FRACTIONS"]

#: ``patterns="auto"`` (the default): about this many (pattern, sample, output) triples,
#: ``P = PATTERN_WORK / (n K)``, within :data:`AUTO_PATTERNS`: more patterns where they are
#: cheap (chosen by measurement of test score and fit time against P on the bundled
#: datasets, docs/estimators.md).
PATTERN_WORK = 2 ** 17

#: The fewest and the most patterns ``"auto"`` draws (96 at least: 10-class digits, where
#: 64 scored 0.971 and 96 0.980-0.982 over three seeds with the logistic loss).
AUTO_PATTERNS = (96, 256)

#: The estimators' ``patterns`` default.
DEFAULT_PATTERNS = "auto"

#: The estimators' bound on exhaustive pattern enumeration (certificates, exactness checks):
#: lower than the library's, so that fitting stays quick on data with many cells.
ESTIMATOR_MAX_PATTERNS = 2000

#: How the estimators draw ``patterns`` gates (an int): the perpendicular bisectors of
#: random pairs of training samples, or standard Gaussian gates (docs/estimators.md
#: compares them).
GATES = ("bisectors", "gaussian")

#: ``beta=None``: this fraction of the program's own ``beta_max`` (measured on the bundled
#: datasets with the squared loss, docs/estimators.md).
RELU_BETA_FRACTION = 0.03

#: ... per classifier loss: the logistic loss's dual point at zero is half the labels (the
#: squared loss's is the labels), and the fraction that scored best is smaller (measured:
#: 0.01, docs/estimators.md, "The classifiers' loss"); the hinge and softmax losses keep
#: the squared loss's (not measured on their own).
RELU_BETA_FRACTIONS = {"squared": RELU_BETA_FRACTION, "logistic": 0.01,
                       "hinge": RELU_BETA_FRACTION, "softmax": RELU_BETA_FRACTION}

#: The certified relative gap at which the estimators' solves stop by default, as
#: scikit-learn's ``LogisticRegression`` and ``Ridge`` stop at ``tol=1e-4``: the program's
#: objective is then known to four digits, and no test score on the bundled datasets moves
#: (measured: 10-class digits 0.958 either way, fit 10.1 s at 1e-6 and 7.7 s at 1e-4;
#: breast_cancer, wine and diabetes the same scores to three digits in at most 0.4 s).
RELU_TOL = 1e-4


def auto_pattern_count(n: int, outputs: int) -> int:
    """The patterns ``patterns="auto"`` draws for ``n`` samples and ``outputs`` outputs:
    :data:`PATTERN_WORK` ``/ (n outputs)``, clipped to :data:`AUTO_PATTERNS`.

    The solve's work grows with patterns x samples x outputs; on scikit-learn's smaller
    datasets 256 patterns score within the spread of seeds of 64 or better (breast_cancer:
    0.951-0.958 over five seeds against 0.937-0.951) for about a second, while 10-class
    digits keeps 64 (128 took 15-16 s for +0.006).
    """
    work = check_int(n, "n", minimum=1) * check_int(outputs, "outputs", minimum=1)
    low, high = AUTO_PATTERNS
    return int(np.clip(PATTERN_WORK // work, low, high))


class _ReLU:
    """What the ReLU estimators share: the program, its ``beta_max``, the attributes."""

    _beta_fraction = RELU_BETA_FRACTION
    beta: float | None
    patterns: Any
    bias: bool
    fit_intercept: bool
    seed: int | None
    max_patterns: int
    prune: bool
    gates: str

    def _loss_name(self) -> str:
        return "squared"

    def _patterns(self, X, outputs: int):
        """The ``patterns`` argument of the program: ``"auto"`` becomes a count
        (:func:`auto_pattern_count`), and a count that many gates drawn as ``gates``
        says."""
        if self.gates not in GATES:
            raise InvalidInputError(f"gates must be one of {GATES}, got {self.gates!r}.")
        patterns = self.patterns
        if isinstance(patterns, str) and patterns == "auto":
            patterns = auto_pattern_count(len(X), outputs)
        sampled = isinstance(patterns, (int, np.integer)) and not isinstance(patterns, bool)
        if sampled and self.gates == "bisectors" and len(X) >= 2:
            return bisector_gates(X, patterns, seed=self.seed, offset=self.bias)
        return patterns

    def _program(self, X, T):
        outputs = 1 if np.ndim(T) == 1 else np.shape(T)[1]
        return ConvexReLU(X, T, 1.0, patterns=self._patterns(X, outputs),
                          loss=self._loss_name(),
                          bias=self.bias, seed=self.seed, max_patterns=self.max_patterns,
                          intercept=self.fit_intercept)

    def _beta_max(self, program) -> float:
        # over the program's own (sampled) patterns: exact and cheap, and the beta above
        # which *this* program's optimum is zero
        return program.program_beta_max()

    def _attach(self, program) -> None:
        self.network_ = program.network(prune=self.prune)
        offset = self.network_.offset
        K = 1 if self.network_.alpha.ndim == 1 else self.network_.alpha.shape[1]
        if offset is None:
            self.intercept_ = 0.0 if K == 1 else np.zeros(K)
        else:
            self.intercept_ = float(offset) if np.ndim(offset) == 0 else np.asarray(offset)

    def _output(self, X) -> np.ndarray:
        return np.asarray(self.network_.predict(X))


_RELU_PARAMS = r"""
    fit_intercept : bool
        An unpenalized output offset :math:`c` (``intercept_``), carried by the convex
        program and its certificates (docs/relu.md section 4h).
    patterns : "auto", int or "exhaustive"
        Activation patterns of the program: an int draws that many gates (see ``gates``;
        the program's optimum is then an upper bound on the global one, see
        ``certificate_``); ``"auto"`` (default) draws between 64 and 256 of them, more for
        smaller programs (:func:`auto_pattern_count`: about ``2**17 / (n_samples
        n_outputs)`` of the data the program is built on, so a CV fold counts its own;
        measured on scikit-learn's datasets, docs/estimators.md);
        ``"exhaustive"`` enumerates every cell (the global optimum; only for small
        data).
    gates : {"bisectors", "gaussian"}
        How an int ``patterns`` draws its gates: the perpendicular bisectors of random
        pairs of training samples (:func:`~sdpnets.features.patterns.bisector_gates`,
        default: on scikit-learn's datasets within the spread of seeds or better, and two
        to three times faster to solve on the digits, docs/estimators.md) or standard
        Gaussian gates (:func:`~sdpnets.sample_patterns`; also what ``"bisectors"`` falls
        back to with a single sample, which has no pair).
    bias : bool
        A first-layer bias (penalized like the weights).
    backend : str
        ``"auto"`` (default: sdpnets' own solvers where they apply, else a conic solver),
        ``"clarabel"``, ``"scs"``, ``"mosek"`` or ``"firstorder"``.
    tol : float
        The certified relative gap of the program at which sdpnets' own solver stops
        (default ``1e-4``, as scikit-learn's linear models; a conic backend takes it as
        its own gap tolerance, on its conic form); ``optimality_gap_`` reports the gap
        reached.
    seed : int or None
        Seed of the sampled gates.
    max_patterns : int
        Largest exhaustive enumeration (``patterns="exhaustive"``, the exactness check of
        sampled gates and ``certificate_``).
    prune : bool
        Caratheodory-prune the network to at most ``nK + 1`` neurons (same objective)."""

_RELU_ATTRIBUTES = r"""
    Attributes
    ----------
    network_ : ReLUMLP
        The trained network (its ``offset`` is ``intercept_``).
    intercept_ : float or ndarray of shape (K,)
    beta_ : float
        The weight decay used.
    beta_max_ : float or None
        The program's ``beta_max`` (over its own patterns) when ``beta`` was chosen
        relative to it.
    result_ : SolveResult
    program_ : ConvexReLU
    certificate_ : Certificate or None
        The global-optimum bracket, computed on first access (see the property).
    optimality_gap_ : float
        The solved program's certified relative gap.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        With DataFrame input."""

_BETA_DOC = r"""    beta : float or None
        Weight decay, ``> 0``, in the package's scale (the loss is summed over samples, so
        a good ``beta`` grows with the number of samples). ``None``: a fraction of
        ``beta_max``, the smallest ``beta`` at which the program's optimum is the zero
        network, so the default scales with the data ({fraction}, measured on
        scikit-learn's datasets)."""


class ConvexReLURegressor(_ReLU, ConvexRegressor):
    __doc__ = r"""Two-layer ReLU network regressor trained to the optimum of its convex program.

    The network :math:`f(x) = \sum_j (x^T u_j + b_j)_+\alpha_j + c` is trained to the
    optimum of its group-lasso program (:class:`~sdpnets.ConvexReLU`), squared loss.

    Parameters
    ----------
""" + _BETA_DOC.format(fraction=f"{RELU_BETA_FRACTION:g}") + _RELU_PARAMS + _RELU_ATTRIBUTES \
        + "\n    "

    _multi_output = True

    def __init__(self, beta: float | None = None, *, fit_intercept: bool = True,
                 patterns: Any = DEFAULT_PATTERNS, gates: str = "bisectors",
                 bias: bool = True, backend: str = "auto",
                 tol: float = RELU_TOL, seed: int | None = 0,
                 max_patterns: int = ESTIMATOR_MAX_PATTERNS, prune: bool = False) -> None:
        self.beta = beta
        self.fit_intercept = fit_intercept
        self.patterns = patterns
        self.gates = gates
        self.bias = bias
        self.backend = backend
        self.tol = tol
        self.seed = seed
        self.max_patterns = max_patterns
        self.prune = prune


_LOSS_DOC = r"""
    loss : {"logistic", "squared", "hinge", "softmax"}
        ``"logistic"`` (default: the most accurate of sdpnets' own solvers' losses on
        scikit-learn's datasets, docs/estimators.md), ``"squared"`` (least squares on the
        labels coded :math:`\pm 1`) and ``"hinge"`` (two classes: one output; ``K``
        classes: ``K`` outputs one-vs-rest,
        the separable vector-output program, docs/relu.md section 4d) or ``"softmax"`` (the
        cross-entropy of ``K`` outputs, one joint program, section 4h: a conic backend's
        only, since sdpnets' own solvers take one output at a time; its memory grows with
        samples x patterns x classes, and a fit that no conic backend fits is refused with
        :class:`~sdpnets.ProblemTooLargeError`, e.g. 10-class digits with 64 patterns,
        about 46 GB). ``predict_proba`` exists for ``"logistic"`` and ``"softmax"``."""


class ConvexReLUClassifier(_ReLU, ConvexClassifier):
    __doc__ = r"""Two-layer ReLU network classifier trained to the optimum of its convex program.

    A two-layer ReLU network is trained to the optimum of its group-lasso program
    (:class:`~sdpnets.ConvexReLU`) on any labels: two classes or more (see ``loss``).

    Parameters
    ----------
""" + _BETA_DOC.format(fraction="0.01 with the logistic loss, 0.03 with the others") \
        + _LOSS_DOC + _RELU_PARAMS \
        + _RELU_ATTRIBUTES.replace("    network_ :", "    classes_ : ndarray\n    network_ :") \
        + "\n    "

    def __init__(self, beta: float | None = None, *, loss: str = "logistic",
                 fit_intercept: bool = True, patterns: Any = DEFAULT_PATTERNS,
                 gates: str = "bisectors",
                 bias: bool = True, backend: str = "auto", tol: float = RELU_TOL,
                 seed: int | None = 0, max_patterns: int = ESTIMATOR_MAX_PATTERNS,
                 prune: bool = False) -> None:
        self.beta = beta
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.patterns = patterns
        self.gates = gates
        self.bias = bias
        self.backend = backend
        self.tol = tol
        self.seed = seed
        self.max_patterns = max_patterns
        self.prune = prune

    def _loss_name(self) -> str:
        return self.loss

    def _default_fraction(self) -> float:
        return RELU_BETA_FRACTIONS.get(self.loss, RELU_BETA_FRACTION)


_CV_ATTRIBUTES = r"""
    fractions_ : ndarray
        The grid (fractions of ``beta_max``), strong to weak.
    scores_ : ndarray of shape (n_folds, n_fractions)
        Held-out scores (``-inf`` where a solve failed).
    best_fraction_ : float
        The fraction refitted on all the data (``beta_ = best_fraction_ * beta_max_``)."""


class ConvexReLURegressorCV(PathCV, ConvexReLURegressor):
    __doc__ = r"""ReLU regressor whose ``beta`` is chosen by cross-validation along
    warm-started paths (as ``RidgeCV``).

    Parameters
    ----------
""" + fit_params_doc() + _RELU_PARAMS + _RELU_ATTRIBUTES + _CV_ATTRIBUTES + "\n    "

    _base = ConvexReLURegressor
    beta = None

    def __init__(self, fractions=None, *, cv=None, scoring=None, fit_intercept: bool = True,
                 patterns: Any = DEFAULT_PATTERNS, gates: str = "bisectors",
                 bias: bool = True, backend: str = "auto",
                 tol: float = RELU_TOL, seed: int | None = 0,
                 max_patterns: int = ESTIMATOR_MAX_PATTERNS, prune: bool = False) -> None:
        self.fractions = fractions
        self.cv = cv
        self.scoring = scoring
        self.fit_intercept = fit_intercept
        self.patterns = patterns
        self.gates = gates
        self.bias = bias
        self.backend = backend
        self.tol = tol
        self.seed = seed
        self.max_patterns = max_patterns
        self.prune = prune


class ConvexReLUClassifierCV(PathCV, ConvexReLUClassifier):
    __doc__ = r"""ReLU classifier whose ``beta`` is chosen by cross-validation along
    warm-started paths (as ``LogisticRegressionCV``).

    Parameters
    ----------
""" + fit_params_doc() + _LOSS_DOC + _RELU_PARAMS \
        + _RELU_ATTRIBUTES.replace("    network_ :", "    classes_ : ndarray\n    network_ :") \
        + _CV_ATTRIBUTES + "\n    "

    _base = ConvexReLUClassifier
    beta = None

    def __init__(self, fractions=None, *, cv=None, scoring=None, loss: str = "logistic",
                 fit_intercept: bool = True, patterns: Any = DEFAULT_PATTERNS,
                 gates: str = "bisectors",
                 bias: bool = True, backend: str = "auto", tol: float = RELU_TOL,
                 seed: int | None = 0, max_patterns: int = ESTIMATOR_MAX_PATTERNS,
                 prune: bool = False) -> None:
        self.fractions = fractions
        self.cv = cv
        self.scoring = scoring
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.patterns = patterns
        self.gates = gates
        self.bias = bias
        self.backend = backend
        self.tol = tol
        self.seed = seed
        self.max_patterns = max_patterns
        self.prune = prune
