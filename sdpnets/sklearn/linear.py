r"""The least-squares families behind ``fit`` / ``predict``: deep linear networks
(:class:`~sdpnets.ConvexLinearFC`) and circular linear CNNs
(:class:`~sdpnets.ConvexCircularCNN`), and the ``...CV`` variants of the deep linear ones.

**Intercept.** Their networks are linear in ``x``, so an unpenalized intercept ``c`` is
eliminated exactly by centering: :math:`\min_{W, c}\tfrac12\|f_W(X) + 1c^T - Y\|^2 +
\text{penalty}(W)` equals the program on :math:`X - 1\bar x^T`, :math:`Y - 1\bar y^T`
with :math:`c = \bar y - f_W(\bar x)`. The estimators build the program (and its
certificate) on the centered data; ``network_`` is the network without the intercept and
``intercept_`` is ``c``, so ``predict(X) = network_.predict(X) + intercept_``.

**Sparse input.** A ``scipy.sparse`` ``X`` is never densified: the program is built from
its statistics :math:`X^TX`, :math:`X^TY` (centered by a rank-one update,
:func:`~sdpnets.features.statistics.sparse_statistics`), and predictions are sparse
products with ``coef_`` (deep linear) or with the effective filter (circular).
"""

from __future__ import annotations

import numpy as np

from ..features.statistics import is_sparse, sparse_statistics, surrogate_data
from ..results import Certificate, SolveResult
from ..formulations.circular_cnn import ConvexCircularCNN
from ..formulations.linear_fc import ConvexLinearFC
from ._base import ConvexClassifier, ConvexRegressor, PathCV, fit_params_doc

__all__ = ["ConvexLinearRegressor", "ConvexLinearClassifier", "ConvexLinearRegressorCV",
           "ConvexLinearClassifierCV", "ConvexCircularCNNRegressor",
           "ConvexCircularCNNClassifier", "LINEAR_BETA_FRACTION"]

#: ``beta=None``: this fraction of ``beta_max`` (measured on the bundled datasets,
#: docs/design_notes.md).
LINEAR_BETA_FRACTION = 0.01


def _centered(X, T: np.ndarray, center: bool):
    """``(X', T', x_mean, t_mean)``: the data the program is built on (centered with
    ``center``), a sparse ``X`` replaced by small dense data with its statistics."""
    if is_sparse(X):
        stats, xm, tm_ = sparse_statistics(X, T, center=center)
        Xs, Ts = surrogate_data(stats)
        return Xs, Ts, xm, tm_
    if not center:
        return X, T, np.zeros(X.shape[1]), np.zeros(T.shape[1:])
    xm, tm_ = X.mean(axis=0), T.mean(axis=0)
    return X - xm, T - tm_, xm, tm_


class _LeastSquares:
    """Centering, sparse input and the attributes of the least-squares families."""

    _sparse = True
    _beta_fraction = LINEAR_BETA_FRACTION
    fit_intercept: bool

    def _shape(self, X):
        return X

    def _build(self, X, T):
        raise NotImplementedError

    def _program(self, X, T):
        Xc, Tc, self._x_mean, self._t_mean = _centered(X, T, self.fit_intercept)
        return self._build(self._shape(Xc), Tc)

    def _beta_max(self, program) -> float:
        return float(program.beta_max())

    def _attach(self, program) -> None:
        self.network_ = program.network()
        mean_out = np.asarray(self._linear_map(self._x_mean[None, :]))[0]
        self.intercept_ = (self._t_mean - mean_out) if self.fit_intercept else 0.0 * mean_out
        if np.ndim(self.intercept_) == 0:
            self.intercept_ = float(self.intercept_)

    def _linear_map(self, X) -> np.ndarray:
        """``network_`` on rows ``X`` (sparse or dense), without the intercept."""
        raise NotImplementedError

    def _output(self, X) -> np.ndarray:
        return np.asarray(self._linear_map(X)) + self.intercept_

    def to_torch(self):
        """The fitted model as a float64 ``torch.nn.Sequential`` taking the rows ``X`` the
        estimator takes (flattened images are unflattened first) and computing
        :meth:`predict`'s output: the network's layers, its last ``Linear`` given the
        intercept as its bias.

        Returns
        -------
        torch.nn.Sequential
            The module.
        """
        from ..networks import torch_modules as tm

        module = self.network_.to_torch()
        last = module[-1]
        weight = tm.to_numpy(last.weight).T
        bias = np.broadcast_to(np.asarray(self.intercept_, dtype=float),
                               (weight.shape[1],)).copy()
        layers = [*list(module)[:-1], tm.linear(weight, bias)]
        return tm.torch_module().nn.Sequential(*self._unflatten(), *layers)

    def _unflatten(self) -> list:
        return []


# --- deep linear networks ---------------------------------------------------------------------


class _LinearParams(_LeastSquares):
    # one constructor for the regressor and the classifier (scikit-learn reads the
    # parameters from the signature of the inherited __init__)
    def __init__(self, beta: float | None = None, *, fit_intercept: bool = True,
                 depth: int = 2, hidden: str = "weight_decay", backend: str = "auto",
                 tol: float = 1e-8) -> None:
        self.beta = beta
        self.fit_intercept = fit_intercept
        self.depth = depth
        self.hidden = hidden
        self.backend = backend
        self.tol = tol

    def _build(self, X, T):
        return ConvexLinearFC(X, T, 1.0, depth=self.depth, hidden=self.hidden)

    def _attach(self, program) -> None:
        self.network_ = program.network()
        coef = np.eye(program.X.shape[1])
        for W in self.network_.weights:
            coef = coef @ W
        #: The end-to-end linear map ``W_1 ... W_L`` (``predict = X coef_ + intercept_``).
        self.coef_ = coef[:, 0] if coef.shape[1] == 1 and np.ndim(self._t_mean) == 0 else coef
        super()._attach(program)

    def _linear_map(self, X) -> np.ndarray:
        return np.asarray(X @ self.coef_)


_INTERCEPT_DOC = r"""    fit_intercept : bool
        An unpenalized intercept, eliminated exactly by centering ``X`` and ``y`` (the
        program and its certificate are those of the centered data; see the module
        docstring)."""

_LINEAR_PARAMS = r"""
    depth : int
        Number of layers ``L >= 2``.
    hidden : {"weight_decay", "spectral"}
        Regularization of layers ``1..L-2`` (see :class:`~sdpnets.ConvexLinearFC`).
    backend : str
        ``"auto"``, ``"clarabel"``, ``"scs"``, ``"mosek"`` or ``"firstorder"``.
    tol : float
        Solver tolerance."""

_ATTRIBUTES = r"""
    Attributes
    ----------
    network_ : {network}
        The trained network, without the intercept.
    intercept_ : float or ndarray
    coef_ : ndarray
        The end-to-end linear map (deep linear networks only).
    beta_ : float
        The weight decay used.
    beta_max_ : float or None
        ``beta_max`` of the centered data when ``beta`` was chosen relative to it.
    result_ : SolveResult
    program_ : ConvexProgram
    certificate_ : Certificate
        The global-optimum bracket, computed on first access.
    optimality_gap_ : float
        The solved program's certified relative gap.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        With DataFrame input."""

_BETA = r"""    beta : float or None
        Weight decay, ``> 0`` (the loss is summed over samples). ``None``: the fraction
        {fraction} of ``beta_max`` (the smallest ``beta`` whose optimum is the zero network).
""".format(fraction=LINEAR_BETA_FRACTION)


class ConvexLinearRegressor(_LinearParams, ConvexRegressor):
    __doc__ = (r"""Deep linear network regressor trained to the global optimum of its convex program.

    The network :math:`f(x) = x^T W_1 \cdots W_L + c` is trained to the global optimum of
    its nuclear-norm program (:class:`~sdpnets.ConvexLinearFC`), squared loss; ``X`` may
    be ``scipy.sparse``.

    Parameters
    ----------
""" + _BETA + _INTERCEPT_DOC + _LINEAR_PARAMS + _ATTRIBUTES.format(network="LinearFC")
        + "\n    ")

    _multi_output = True


class ConvexLinearClassifier(_LinearParams, ConvexClassifier):
    __doc__ = (r"""Deep linear network classifier fitted at the global optimum.

    A deep linear network is fitted to the labels coded :math:`\pm 1` (one output for two
    classes, one-vs-rest columns for more: the vector-output nuclear-norm program, which
    couples the classes through a shared low-rank map) by least squares with weight decay,
    at the global optimum (:class:`~sdpnets.ConvexLinearFC`).

    Parameters
    ----------
""" + _BETA + _INTERCEPT_DOC + _LINEAR_PARAMS
        + _ATTRIBUTES.format(network="LinearFC").replace(
            "    network_ :", "    classes_ : ndarray\n    network_ :") + "\n    ")


class ConvexLinearRegressorCV(PathCV, ConvexLinearRegressor):
    __doc__ = (r"""Deep linear regressor whose ``beta`` is chosen by cross-validation along
    warm-started paths (as ``RidgeCV``).

    Parameters
    ----------
""" + fit_params_doc() + _INTERCEPT_DOC + _LINEAR_PARAMS
        + _ATTRIBUTES.format(network="LinearFC") + "\n    ")

    _base = ConvexLinearRegressor
    beta = None

    def __init__(self, fractions=None, *, cv=None, scoring=None, fit_intercept: bool = True,
                 depth: int = 2, hidden: str = "weight_decay", backend: str = "auto",
                 tol: float = 1e-8) -> None:
        self.fractions = fractions
        self.cv = cv
        self.scoring = scoring
        self.fit_intercept = fit_intercept
        self.depth = depth
        self.hidden = hidden
        self.backend = backend
        self.tol = tol


class ConvexLinearClassifierCV(PathCV, ConvexLinearClassifier):
    __doc__ = (r"""Deep linear classifier whose ``beta`` is chosen by cross-validation along
    warm-started paths.

    Parameters
    ----------
""" + fit_params_doc() + _INTERCEPT_DOC + _LINEAR_PARAMS
        + _ATTRIBUTES.format(network="LinearFC").replace(
            "    network_ :", "    classes_ : ndarray\n    network_ :") + "\n    ")

    _base = ConvexLinearClassifier
    beta = None

    def __init__(self, fractions=None, *, cv=None, scoring=None, fit_intercept: bool = True,
                 depth: int = 2, hidden: str = "weight_decay", backend: str = "auto",
                 tol: float = 1e-8) -> None:
        self.fractions = fractions
        self.cv = cv
        self.scoring = scoring
        self.fit_intercept = fit_intercept
        self.depth = depth
        self.hidden = hidden
        self.backend = backend
        self.tol = tol


# --- circular CNNs ----------------------------------------------------------------------------


class OneVsRest:
    """``K`` one-output programs (one-vs-rest columns) read as one program: the objective is
    their sum, so are the certified bounds; one ``beta`` for all.

    Parameters
    ----------
    programs : list of ConvexProgram
        One per output, solved one after another.
    """

    def __init__(self, programs: list) -> None:
        self.programs = programs
        self.result: SolveResult | None = None

    @property
    def beta(self) -> float:
        """The weight decay of every program."""
        return float(self.programs[0].beta)

    @beta.setter
    def beta(self, value: float) -> None:
        for p in self.programs:
            p.beta = value

    def beta_max(self) -> float:
        """The largest of the programs' ``beta_max``: above it every output is zero."""
        return max(float(p.beta_max()) for p in self.programs)

    def solve(self, **options) -> SolveResult:
        """Solve every program; the result sums objectives, bounds and times."""
        results = [p.solve(**options) for p in self.programs]
        status = next((r.status for r in results if not r.solved),
                      "optimal_inaccurate" if any(r.status == "optimal_inaccurate"
                                                  for r in results) else "optimal")
        lower = float(sum(r.lower_bound for r in results))
        upper = float(sum(r.upper_bound for r in results))
        self.result = SolveResult(
            status=status, objective=float(sum(r.objective for r in results)),
            backend=results[0].backend, solve_time=float(sum(r.solve_time for r in results)),
            compile_time=float(sum(r.compile_time for r in results)),
            message=f"{len(results)} one-vs-rest programs: " + " | ".join(
                r.message for r in results), lower_bound=lower, upper_bound=upper,
            gap=upper - lower)
        return self.result

    def network(self) -> list:
        """The programs' networks, one per output."""
        return [p.network() for p in self.programs]

    def certificate(self) -> Certificate:
        """The sum of the programs' certificates (the objective is separable)."""
        certs = [p.certificate() for p in self.programs]
        lower = float(sum(c.lower_bound for c in certs))
        upper = float(sum(c.upper_bound for c in certs))
        return Certificate(lower, upper, upper - lower)

    def path(self, betas, *, callback=None, **options) -> list[SolveResult]:
        """:meth:`~sdpnets.ConvexProgram.path` over the programs together."""
        out = []
        for b in betas:
            self.beta = b
            out.append(self.solve(**options))
            if callback is not None:
                callback(self, out[-1])
        return out


class _CircularParams(_LeastSquares):
    def __init__(self, beta: float | None = None, *, fit_intercept: bool = True,
                 depth: int = 2, hidden: str = "weight_decay",
                 input_shape: tuple[int, int] | None = None, backend: str = "auto",
                 tol: float = 1e-8) -> None:
        self.beta = beta
        self.fit_intercept = fit_intercept
        self.depth = depth
        self.hidden = hidden
        self.input_shape = input_shape
        self.backend = backend
        self.tol = tol

    def _shape(self, X):
        if self.input_shape is None:
            return X
        return X.reshape(X.shape[0], 1, *tuple(self.input_shape))

    def _build(self, X, T):
        if T.ndim == 2:  # one-vs-rest: the circular program has one output
            return OneVsRest([ConvexCircularCNN(X, T[:, k], 1.0, depth=self.depth,
                                                hidden=self.hidden)
                              for k in range(T.shape[1])])
        return ConvexCircularCNN(X, T, 1.0, depth=self.depth, hidden=self.hidden)

    def _linear_map(self, X) -> np.ndarray:
        filters = [net.effective_filter().reshape(-1) for net in self._networks()]
        out = np.asarray(X @ np.stack(filters, axis=1))
        return out[:, 0] if not isinstance(self.network_, list) else out

    def _networks(self) -> list:
        return self.network_ if isinstance(self.network_, list) else [self.network_]

    def _unflatten(self) -> list:
        if self.input_shape is None:
            return []
        from ..networks import torch_modules as tm

        return [tm.torch_module().nn.Unflatten(1, (1, *tuple(self.input_shape)))]


_CIRCULAR_PARAMS = r"""
    depth : {2, 3}
    hidden : {"weight_decay", "unit_norm"}
        ``depth=3`` needs ``"unit_norm"`` (see :class:`~sdpnets.ConvexCircularCNN`).
    input_shape : tuple of int, optional
        ``(H, W)``: each row of ``X`` is an image flattened in C order (2-D circular
        convolutions); ``network_`` then takes ``(n, 1, H, W)`` images (or these rows) and
        :meth:`to_torch` the rows. Default: rows are 1-D signals.
    backend : str
        ``"auto"``, ``"clarabel"``, ``"scs"``, ``"mosek"`` or ``"firstorder"``.
    tol : float
        Solver tolerance."""


class ConvexCircularCNNRegressor(_CircularParams, ConvexRegressor):
    __doc__ = (r"""Circular linear CNN regressor trained to the global optimum of its convex program.

    The CNN with full-size circular filters
    :math:`f(x) = \sum_j w_j^T C(u_{L-1,j})\cdots C(u_{1,j})x + c`, trained to the global
    optimum of its Fourier-domain group lasso (:class:`~sdpnets.ConvexCircularCNN`),
    squared loss.

    Parameters
    ----------
""" + _BETA + _INTERCEPT_DOC + _CIRCULAR_PARAMS
        + _ATTRIBUTES.format(network="CircularCNN") + "\n    ")


class ConvexCircularCNNClassifier(_CircularParams, ConvexClassifier):
    __doc__ = (r"""Circular linear CNN classifier fitted at the global optimum.

    A circular linear CNN is fitted to the labels coded :math:`\pm 1` by least squares with
    weight decay, at the global optimum (:class:`~sdpnets.ConvexCircularCNN`). The circular
    program has one output, so ``K > 2`` classes are ``K`` programs one-vs-rest
    (``network_`` is then the list of their networks).

    Parameters
    ----------
""" + _BETA + _INTERCEPT_DOC + _CIRCULAR_PARAMS
        + _ATTRIBUTES.format(network="CircularCNN or list").replace(
            "    network_ :", "    classes_ : ndarray\n    network_ :") + "\n    ")
