r"""Deep linear fully connected networks (docs/linear_fc.md).

Two layers with weight decay, or ``L`` layers whose hidden layers are spectral-norm
constrained, have the same global optimum as a nuclear-norm regularized least squares:

.. math::

    \min_{W_l} \tfrac12\|X W_1 \cdots W_L - Y\|_F^2 + \tfrac{\beta}{2}(\|W_{L-1}\|_F^2 + \|W_L\|_F^2)
    \;=\; \min_Z \tfrac12\|XZ - Y\|_F^2 + \beta\|Z\|_*

posed as an SDP with the explicit block :math:`\begin{bmatrix}A & Z\\ Z^T & B\end{bmatrix}
\succeq 0` and penalty :math:`\tfrac{\beta}{2}(\operatorname{tr}A + \operatorname{tr}B)`,
so the factors are read off :math:`Z = USV^T`. With scalar output the nuclear norm is the
Euclidean norm (an SOCP). With weight decay on *all* ``L >= 3`` layers and scalar output the
problem is :math:`\min_z \tfrac12\|Xz-y\|^2 + \tfrac{\beta L}{2}\|z\|^{2/L}`: not convex, but
solved globally by a search along the ridge path; with vector output it is refused.
"""

from __future__ import annotations

import time

import cvxpy as cp
import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from .._validate import (
    check_beta,
    check_choice,
    check_data,
    check_int,
    check_solve_options,
    check_targets,
)
from ..backends import get_backend
from ..backends.firstorder import NuclearNorm, Quadratic, gram_statistics
from ..backends.firstorder.linalg import single_threaded, spectral_norm
from ..certificates import BETA_MAX_FAMILIES, certify
from ..errors import InvalidInputError, NonConvexFormulationError, ProblemTooLargeError
from ..features.statistics import materialize
from ..losses import SquaredLoss
from ..networks.linear import LinearFC
from ..results import Certificate, SolveResult
from ..solving.verify import verify
from .base import ConvexProgram
from .composite import CompositeLeastSquares
from .least_squares import reduce_least_squares

__all__ = ["ConvexLinearFC", "linear_fc_beta_max", "ridge_path_search", "ridge_path_beta_max",
           "ridge_spectrum"]

#: Intervals the ridge-path lower bound refines per round, and the largest grid it keeps
#: (grid points times rank of X): together they bound its memory and time.
MAX_SPLITS_PER_ROUND = 20_000
MAX_GRID_ENTRIES = 2_000_000

HIDDEN_CHOICES = ("weight_decay", "spectral", "frobenius")

#: The deepest network the deep-linear formulation builds (its recovery stores every layer).
MAX_DEPTH = 10_000

CONVEX_VARIANTS = (
    "Convex variants: depth=2 with weight decay (nuclear-norm SDP, docs/linear_fc.md sections 1a/1b); "
    "hidden='spectral' for depth >= 3 (||W_l||_2 <= 1 on hidden layers, the same SDP, 1c); "
    "scalar output with weight decay on every layer (exact ridge-path search, 1d)."
)


class ConvexLinearFC(CompositeLeastSquares, ConvexProgram):
    r"""Globally optimal training of a deep linear network :math:`f(X) = X W_1 \cdots W_L`.

    Solves

    .. math::

        \min_Z \tfrac12\|XZ - Y\|_F^2 + \beta\|Z\|_*

    (the nuclear norm is :math:`\|z\|_2` for scalar output), whose optimum equals the
    network's for ``depth=2`` with weight decay on both layers (docs/linear_fc.md sections 1a, 1b) and for
    ``hidden="spectral"`` (:math:`\|W_l\|_2 \le 1` for :math:`l \le L-2`, weight decay on
    the last two layers, 1c). For ``depth >= 3`` with weight decay on every layer and
    scalar output it solves
    :math:`\min_z \tfrac12\|Xz-y\|^2 + \tfrac{\beta L}{2}\|z\|_2^{2/L}` globally by an exact
    ridge-path search (1d). The data are reduced by a thin QR first, so the program's size
    does not grow with ``n``.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Inputs, one sample per row.
        A ``dask.array`` chunked by rows (with a Dask ``y``) is read once: its sufficient
        statistics are computed on the active Dask scheduler and the program is built on
        small surrogate data with the same statistics (:mod:`sdpnets.statistics`), so
        ``X`` then holds that surrogate and ``data_pass_time`` the pass's seconds.
    Y : array_like, shape (n,) or (n, K)
        Targets.
    beta : float
        Weight decay, ``> 0``.
    depth : int
        Number of layers ``L >= 2``.
    hidden : {"weight_decay", "spectral"}
        Regularization of layers ``1..L-2``. ``"frobenius"`` (:math:`\|W_1\|_F \le 1`) is
        recognized and refused: it is not convex (the nuclear program is only a lower bound).
    rank_tol : float
        Singular values of the solution below ``rank_tol`` times the larger of
        :math:`\sigma_{\max}(Z)` and the data's scale :math:`\|X^TY\|_2/\|X\|_2^2` are
        dropped when the network is recovered (they are solver noise).

    Raises
    ------
    NonConvexFormulationError
        For ``depth >= 3`` with weight decay on every layer and vector output, and for
        ``hidden="frobenius"``.
    """

    def __init__(
        self,
        X: ArrayLike,
        Y: ArrayLike,
        beta: float,
        depth: int = 2,
        hidden: str = "weight_decay",
        *,
        rank_tol: float = 1e-6,
    ) -> None:
        super().__init__(beta)
        X, Y, self.data_pass_time = materialize(X, Y, (2,))
        self.X = check_data(X)
        self.Y = check_targets(Y, self.X.shape[0], name="Y")
        self.depth = check_int(depth, "depth", minimum=2)
        if self.depth > MAX_DEPTH:
            raise ProblemTooLargeError(
                f"depth={self.depth:,} is more than the {MAX_DEPTH:,} layers sdpnets builds: "
                f"the recovered network holds one weight matrix per layer (at least "
                f"{8 * self.depth / 2**30:,.3g} GiB) and its objective sums over all of them."
            )
        self.hidden = check_choice(hidden, "hidden", HIDDEN_CHOICES)
        if isinstance(rank_tol, bool) or not (
            isinstance(rank_tol, (int, float, np.integer, np.floating)) and 0 <= rank_tol < 1
        ):
            raise InvalidInputError(f"rank_tol must be a number in [0, 1), got {rank_tol!r}.")
        self.rank_tol = float(rank_tol)
        self._Y2 = self.Y.reshape(self.X.shape[0], -1)
        self.scalar_output = self._Y2.shape[1] == 1
        if self.hidden == "frobenius":
            raise NonConvexFormulationError(
                "hidden='frobenius' (||W_1||_F <= 1) gives the penalty "
                "beta (sum_i sigma_i(Z)^(2/3))^(3/2), which is not convex; the nuclear-norm "
                "program is only a lower bound for it. " + CONVEX_VARIANTS
            )
        if self.depth >= 3 and self.hidden == "weight_decay" and not self.scalar_output:
            raise NonConvexFormulationError(
                f"depth={self.depth} with weight decay on every layer and vector output "
                f"({self._Y2.shape[1]} outputs) is not convex: its value is a Schatten-2/"
                f"{self.depth} quasi-norm program with distinct local optima (docs/linear_fc.md section 1e). "
                + CONVEX_VARIANTS
            )
        self._Z: np.ndarray | None = None  # the ridge-path solution (variant 1d)

    # -- which program ------------------------------------------------------------------
    @property
    def variant(self) -> str:
        """``"nuclear"`` (SDP), ``"l2"`` (SOCP) or ``"ridge_path"`` (exact 1-D search)."""
        if self.depth >= 3 and self.hidden == "weight_decay":
            return "ridge_path"
        return "l2" if self.scalar_output else "nuclear"

    @property
    def cones(self):
        return frozenset({"zero", "soc", "psd"} if self.variant == "nuclear" else {"zero", "soc"})

    def _build(self) -> cp.Problem:
        if self.variant == "ridge_path":
            raise NonConvexFormulationError(
                "depth >= 3 with weight decay on every layer has no convex program; "
                "solve() runs an exact ridge-path search instead (docs/linear_fc.md section 1d)."
            )
        d, K = self.X.shape[1], self._Y2.shape[1]
        # columns equilibrated: Z = solution_scale * Z' / c (rows), penalty of Z' / c
        Xs, Ys, c = self._equilibrate_columns(self.X, self._Y2)
        R, QtY, offset = reduce_least_squares(Xs, Ys)
        beta = self.beta_parameter
        if self.variant == "l2":
            z = cp.Variable(d, name="Z")
            self._Zvar = self.solution_scale * cp.multiply(1.0 / c, z)
            fit = 0.5 * cp.sum_squares(R @ z - QtY[:, 0])
            return cp.Problem(cp.Minimize(
                fit + 0.5 * offset + beta * cp.norm(cp.multiply(1.0 / c, z), 2)))
        # [[A, Z], [Z^T, B]] >= 0 iff [[C A C, C Z], [Z^T C, B]] >= 0 (C = diag(c) > 0), and
        # tr A = sum_i (C A C)_ii / c_i^2: the block holds C Z, the trace is weighted
        block = cp.Variable((d + K, d + K), PSD=True, name="block")
        Z = block[:d, d:]
        self._Zvar = self.solution_scale * cp.multiply((1.0 / c)[:, None], Z)
        fit = 0.5 * cp.sum_squares(R @ Z - QtY)
        weights = np.concatenate([1.0 / c**2, np.ones(K)])
        return cp.Problem(cp.Minimize(fit + 0.5 * offset + 0.5 * beta * (weights @ cp.diag(block))))

    def solve(
        self,
        backend: str = "auto",
        tol: float = 1e-8,
        max_iters: int | None = None,
        time_limit: float | None = None,
        verbose: bool = False,
        *,
        warm_start: bool = False,
        memory_limit: int | float | str | None = None,
        isolate: bool = False,
        **solver_options,
    ) -> SolveResult:
        """Solve the program (see :meth:`ConvexProgram.solve`).

        The ridge-path variant (``depth >= 3``, weight decay on every layer) runs no conic
        solver: ``backend`` must be ``"auto"``, the result's backend is ``"ridge_path"``,
        ``tol`` is the relative gap the search certifies and ``max_iters`` caps its
        refinement rounds (default 60); ``time_limit``, ``verbose`` and solver options do
        not apply to it, and it runs in this process (its memory is that of one SVD of
        ``X``, so ``memory_limit`` and ``isolate`` are accepted and have nothing to guard).
        """
        if self.variant != "ridge_path":
            result = super().solve(backend, tol, max_iters, time_limit, verbose,
                                   warm_start=warm_start, memory_limit=memory_limit,
                                   isolate=isolate, **solver_options)
            if result.status == "error" and self.beta >= linear_fc_beta_max(self.X, self.Y):
                result = self._zero_optimum(result)
            return result
        check_solve_options(tol, max_iters, time_limit)
        if not isinstance(backend, str):
            get_backend(backend)  # raises UnknownBackendError naming backend
        if backend != "auto":
            raise InvalidInputError(
                f"backend={backend!r}: depth >= 3 with weight decay on every layer is solved "
                "by an exact ridge-path search, not a conic solver; use backend='auto'."
            )
        if solver_options:
            raise InvalidInputError(
                f"solver options {sorted(solver_options)} do not apply to the ridge-path search."
            )
        start = time.perf_counter()
        z, value, lower = ridge_path_search(
            self.X, self._Y2[:, 0], self.beta, self.depth, tol=tol,
            max_rounds=60 if max_iters is None else max_iters,
        )
        elapsed = time.perf_counter() - start
        self._Z = z[:, None]
        certified = value - lower <= tol * max(1.0, abs(value))
        self._result = SolveResult(
            status="optimal" if certified else "iteration_limit",
            objective=value,
            backend="ridge_path",
            solve_time=elapsed,
            compile_time=0.0,
            message=f"exact ridge-path search; certified lower bound {lower:.12g}.",
            raw={"lower_bound": lower},
            data_pass_time=self.data_pass_time,
        )
        return self._result

    def _firstorder_sizes(self) -> tuple[int, int, int]:
        d = self.X.shape[1]
        return d, d, self._Y2.shape[1]

    def _composite_parts(self):
        if self.variant == "ridge_path":
            raise InvalidInputError(
                "backend='firstorder': depth >= 3 with weight decay on every layer is solved "
                "by an exact ridge-path search, not a convex program; use backend='auto'."
            )
        G, C, yy = gram_statistics(self.X, self._Y2)
        return Quadratic(G, C, yy), NuclearNorm()

    def _network_point(self, network: LinearFC) -> np.ndarray:
        return network.product.reshape(self.X.shape[1], -1)

    @property
    def solution(self) -> np.ndarray:
        """The solved end-to-end map ``Z`` (``d x K``)."""
        result = self._require_solution()
        if self.variant == "ridge_path":
            assert self._Z is not None  # set by the ridge-path solve
            return self._Z
        if result.backend == "firstorder":
            return np.asarray(self._fo_W).reshape(self.X.shape[1], -1)
        if result.backend == "closed_form":
            return np.zeros((self.X.shape[1], self._Y2.shape[1]))
        return np.asarray(self._Zvar.value, dtype=float).reshape(self.X.shape[1], -1)

    # -- recovery ---------------------------------------------------------------------------
    def _recover(self) -> LinearFC:
        Z = self.solution
        if self.variant == "ridge_path":
            return _balanced_rank_one(Z[:, 0], self.depth, self.scalar_output and self.Y.ndim == 1)
        U, s, Vt = np.linalg.svd(Z, full_matrices=False)
        r = int(np.sum(s > self.rank_tol * max(s[0], self._solution_scale())))
        return factor_nuclear(U[:, :r], s[:r], Vt[:r], self.depth, self.hidden,
                              scalar_output=self.Y.ndim == 1)

    def _zero_optimum(self, failed: SolveResult) -> SolveResult:
        r"""The zero network, optimal for :math:`\beta \ge \|X^TY\|_2`, when the solver failed
        there (data so small that the program reaching the solver is degenerate)."""
        value = 0.5 * float(np.sum(self._Y2 * self._Y2))
        self._result = SolveResult(
            status="optimal", objective=value, backend="closed_form",
            solve_time=failed.solve_time, compile_time=failed.compile_time, exact=True,
            message=f"beta >= beta_max = ||X^T Y||_2, so the zero network is the optimum "
            f"(closed form; {failed.backend} failed: {failed.message})",
        )
        self._result = verify(self, self._result, 1e-12)
        return self._result

    def _solution_scale(self) -> float:
        r"""Natural size of ``Z``, :math:`\|X^TY\|_2 / \|X\|_2^2`: singular values far below it
        are solver noise (e.g. at ``beta >= beta_max``, where the optimum is zero)."""
        if self._fo_parts is not None:  # the first-order solve's statistics: no data pass
            datafit = self._fo_parts[0]
            norm = float(np.sqrt(datafit.lipschitz))  # from the solver's eigendecomposition
            top = spectral_norm(datafit.corr)
        else:
            norm = spectral_norm(self.X)
            top = linear_fc_beta_max(self.X, self.Y)
        if not norm > 0:
            return 0.0  # X = 0: the zero network is the only solution
        return top / norm / norm  # no underflow of norm**2

    def _certificate(self) -> Certificate:
        net = self._recover()  # certificate() has checked that a solution exists
        if self.variant == "ridge_path":
            return certify(net, self.X, self.Y, self.beta)
        return nuclear_certificate(net, self.X, self._Y2, self.beta)

    def beta_max(self) -> float:
        r"""Smallest ``beta`` whose optimum is the zero network.

        :math:`\|X^TY\|_2` for the nuclear-norm variants; for the ridge-path variant the
        threshold found by bisection (:func:`ridge_path_beta_max`).
        """
        if self.variant == "ridge_path":
            return ridge_path_beta_max(self.X, self._Y2[:, 0], self.depth)
        return linear_fc_beta_max(self.X, self.Y)


def factor_nuclear(U, s, Vt, depth: int, hidden: str, scalar_output: bool = False) -> LinearFC:
    r"""Weights of a ``depth``-layer network whose product is :math:`U\,\mathrm{diag}(s)\,V^T`
    and whose penalty is :math:`\beta\sum_i s_i` (docs/linear_fc.md sections 1a, 1c).

    Two layers: :math:`W_1 = US^{1/2}`, :math:`W_2 = S^{1/2}V^T` (balanced). More layers
    (spectral variant): :math:`W_1 = U`, identities in between,
    :math:`W_{L-1} = S^{1/2}`, :math:`W_L = S^{1/2}V^T`. A zero solution gets width 1.
    """
    d, K = U.shape[0], Vt.shape[1]
    r = s.size
    if r == 0:
        U, s, Vt = np.zeros((d, 1)), np.zeros(1), np.zeros((1, K))
        r = 1
    root = np.sqrt(s)
    if depth == 2:
        weights = [U * root, root[:, None] * Vt]
    else:
        weights = [U] + [np.eye(r)] * (depth - 3) + [np.diag(root), root[:, None] * Vt]
    return LinearFC(weights, hidden="weight_decay" if depth == 2 else hidden,
                    scalar_output=scalar_output)


def _balanced_rank_one(z: np.ndarray, depth: int, scalar_output: bool) -> LinearFC:
    """``depth`` balanced width-1 layers whose product is ``z`` (docs/linear_fc.md section 1d)."""
    t = float(np.linalg.norm(z))
    direction = z / t if t > 0 else np.zeros_like(z)
    scale = t ** (1.0 / depth)
    weights = [scale * direction[:, None]] + [np.full((1, 1), scale)] * (depth - 1)
    return LinearFC(weights, hidden="weight_decay", scalar_output=scalar_output)


def nuclear_certificate(net: LinearFC, X: np.ndarray, Y2: np.ndarray, beta: float) -> Certificate:
    r"""Certificate for the nuclear-norm program from a network's residual (docs/linear_fc.md section 1a).

    The dual point is :math:`V = s(Y - XZ)` with ``s`` the best scale subject to
    :math:`\|X^T V\|_2 \le \beta`; its value
    :math:`-\tfrac12\|V - Y\|^2 + \tfrac12\|Y\|^2` is a lower bound on the optimum.
    """
    upper = net.objective(X, Y2, beta)
    best = (-np.inf, None)
    for V in (Y2 - X @ net.product, _subgradient_dual(X, Y2, net.product, beta)):
        if V is None:
            continue
        dual_norm = spectral_norm(X.T @ V)
        V = SquaredLoss().best_dual_scale(V, Y2, dual_norm, beta) * V
        # <V, Y> - ||V||^2 / 2, the dual value, without the cancellation of ||Y||^2 / 2
        lower = float(np.sum(V * Y2)) - 0.5 * float(np.sum(V * V))
        if lower > best[0]:
            best = (lower, V)
    lower, V = best
    return Certificate(lower, upper, upper - lower, dual_point=V)


def _subgradient_dual(X: np.ndarray, Y2: np.ndarray, Z: np.ndarray, beta: float):
    r"""The dual point the optimality condition of ``Z`` gives, built without the residual.

    At the optimum :math:`X^T V = \beta G` with :math:`G = U_rV_r^T \in \partial\|Z\|_*`
    and :math:`V = Y - XZ`; with :math:`X = QR`,
    :math:`V = (I - QQ^T)Y + Q R^{-T}\beta G`. Unlike the residual, this point has a dual
    norm accurate to round-off even when ``X`` is badly conditioned and ``Y`` is nearly
    fit (the residual of any floating-point ``Z`` is then off by far more than ``beta``).
    ``None`` for a zero ``Z``.
    """
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    keep = s > 1e-9 * s.max(initial=0.0)
    if not np.any(keep):
        return None
    G = U[:, keep] @ Vt[keep]
    Q, R = np.linalg.qr(X, mode="reduced")
    perp = Y2 - Q @ (Q.T @ Y2)
    perp = perp - Q @ (Q.T @ perp)  # twice: the first pass leaves round-off of ||Y|| in range(Q)
    t = np.linalg.lstsq(R.T, beta * G, rcond=None)[0]
    return perp + Q @ t


@certify.register
def _certify_linear_fc(network: LinearFC, X, y, beta: float) -> Certificate:
    """Certify a deep linear network (docs/linear_fc.md sections 1a-1d)."""
    X = check_data(X)
    Y2 = check_targets(y, X.shape[0]).reshape(X.shape[0], -1)
    beta = check_beta(beta)
    if network.weights[0].shape[0] != X.shape[1] or network.weights[-1].shape[1] != Y2.shape[1]:
        raise InvalidInputError(
            f"network maps {network.weights[0].shape[0]} inputs to "
            f"{network.weights[-1].shape[1]} outputs; data have {X.shape[1]} and {Y2.shape[1]}."
        )
    if network.depth == 2 or network.hidden == "spectral":
        return nuclear_certificate(network, X, Y2, beta)
    if Y2.shape[1] != 1:
        raise NonConvexFormulationError(
            "No certified lower bound for depth >= 3 with weight decay on every layer and "
            "vector output (not convex, docs/linear_fc.md section 1e). " + CONVEX_VARIANTS
        )
    _, _, lower = ridge_path_search(X, Y2[:, 0], beta, network.depth)
    upper = network.objective(X, Y2, beta)
    return Certificate(lower, upper, upper - lower, dual_point=None)


def linear_fc_beta_max(X: ArrayLike, Y: ArrayLike) -> float:
    r""":math:`\|X^T Y\|_2`: the zero network is optimal iff ``beta`` is at least this
    (two layers, or spectral hidden layers; docs/linear_fc.md section 1a)."""
    X = check_data(X)
    Y2 = check_targets(Y, X.shape[0]).reshape(X.shape[0], -1)
    return spectral_norm(X.T @ Y2)


BETA_MAX_FAMILIES["linear_fc"] = linear_fc_beta_max


# --- docs/linear_fc.md section 1d: exact search along the ridge path ---------------------------


def ridge_spectrum(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    r"""``(sigma, b, Vt, y_perp)``: the singular values of ``X`` above ``1e-12`` times the
    largest, ``y``'s coordinates :math:`b = U^Ty` in the left singular basis, the right
    singular vectors and :math:`\|y - UU^Ty\|^2`, computed once for every search along
    the ridge path of the same data.

    By a thin QR :math:`X = QR` and the SVD of the ``d x d`` factor
    :math:`R = U_R\Sigma V^T`: :math:`U = QU_R`, never formed. ``y_perp`` is the residual
    of the projection itself plus the squares of its coordinates along dropped singular
    directions, without the cancellation of :math:`\|y\|^2 - \|b\|^2`.
    Both factorizations run on one BLAS thread
    (:func:`~sdpnets.backends.firstorder.linalg.single_threaded`: LAPACK's QR gains little
    from a second thread and loses much on a busy machine, docs/design_notes.md)."""
    with single_threaded():
        Q, R = np.linalg.qr(X, mode="reduced")
        qy = Q.T @ y
        perp = y - Q @ qy
        U, sigma, Vt = np.linalg.svd(R, full_matrices=False)
    keep = sigma > sigma.max(initial=0.0) * 1e-12
    # Q spans more than the range of a rank-deficient X: y's coordinates along the
    # dropped singular directions belong to the part no z can fit
    coords = U.T @ qy
    dropped = coords[~keep]
    return sigma[keep], coords[keep], Vt[keep], float(perp @ perp) + float(dropped @ dropped)


def ridge_path_search(
    X: np.ndarray, y: np.ndarray, beta: float, depth: int, tol: float = 1e-10,
    grid: int = 4000, max_rounds: int = 60,
    spectrum: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None,
) -> tuple[np.ndarray, float, float]:
    r"""Global minimum of :math:`g(z) = \tfrac12\|Xz-y\|^2 + \tfrac{\beta L}{2}\|z\|^{2/L}`.

    Every non-zero stationary point lies on the ridge path
    :math:`z(\mu) = (X^TX + \mu I)^{-1}X^Ty` with :math:`\mu = \beta\|z\|^{2/L-2}`. With
    one eigendecomposition of :math:`X^TX` the path is explicit; the stationary points are
    the roots of a scalar function of :math:`\log\mu`, bracketed on a grid and refined.

    The lower bound is rigorous: :math:`\phi(t) = \min_{\|z\|\le t}\tfrac12\|Xz-y\|^2` is
    attained on the path (:math:`t = \|z(\mu)\|`) and decreasing, the penalty increasing,
    so on :math:`[t_j, t_{j+1}]`, :math:`g \ge \phi(t_{j+1}) + \tfrac{\beta L}{2}t_j^{2/L}`;
    intervals whose bound is not within ``tol`` of the best value are split until it is.

    Returns
    -------
    z : ndarray
        The global minimizer.
    value : float
        Its objective.
    lower_bound : float
        Certified lower bound on the global minimum.
    """
    L = depth
    coef = 0.5 * beta * L
    sigma, b, Vt, y_perp = ridge_spectrum(X, y) if spectrum is None else spectrum
    evals = sigma**2
    c = sigma * b  # X^T y in the right singular basis
    cnorm = float(np.linalg.norm(c))
    zero_value = 0.5 * float(y @ y)
    if cnorm == 0.0:
        return np.zeros(X.shape[1]), zero_value, zero_value

    def weights(mu):
        return c / (evals[None, :] + np.atleast_1d(mu)[:, None])

    def path(mu):
        """(t, phi) at each mu: the norm of z(mu) and its squared-loss value, computed from
        the residual b_i mu / (s_i + mu) in the range of X (no cancellation)."""
        mu = np.atleast_1d(mu)[:, None]
        w = c / (evals + mu)
        t = np.sqrt(np.sum(w * w, axis=1))
        phi = 0.5 * (y_perp + np.sum((b * mu / (evals + mu)) ** 2, axis=1))
        return t, phi

    t_max, phi_min = path(0.0)
    t_max, phi_min = float(t_max[0]), float(phi_min[0])
    a = (2.0 * L - 2.0) / L
    mu_lo = beta * t_max ** (-a)
    mu_hi = (cnorm**a / beta) ** (1.0 / (a - 1.0))
    log_mu = np.linspace(np.log(mu_lo) - 3.0, np.log(mu_hi) + 3.0, grid)

    def stationarity(lm):
        t, _ = path(np.exp(lm))
        return np.log(t) - (np.log(beta) - lm) / a

    g = stationarity(log_mu)
    candidates = [0.0, np.exp(log_mu[0])]
    for i in np.flatnonzero(np.sign(g[:-1]) != np.sign(g[1:])):
        candidates.append(np.exp(brentq(lambda lm: stationarity(lm)[0], log_mu[i], log_mu[i + 1],
                                        xtol=1e-14, rtol=1e-15)))
    cand = np.array(candidates)
    t, phi = path(cand)
    values = phi + coef * t ** (2.0 / L)
    best = int(np.argmin(values))
    value, mu_best = float(values[best]), cand[best]
    z = Vt.T @ weights(mu_best)[0]
    if zero_value <= value:
        z, value = np.zeros(X.shape[1]), zero_value

    # Certified lower bound by interval bounds on t, refined where it is not tight.
    mus = np.exp(log_mu)
    target = 0.5 * tol * max(1.0, abs(value))  # margin for round-off in the final check
    lower = -np.inf
    for _ in range(max(max_rounds, 1)):
        t, phi = path(mus)  # t decreases as mu grows
        t = np.concatenate(([t_max], t, [0.0]))  # mus ascending, so t descending
        phi = np.concatenate(([phi_min], phi, [zero_value]))
        # interval between consecutive points k (larger t) and k+1 (smaller t):
        interval = phi[:-1] + coef * t[1:] ** (2.0 / L)
        tail = phi_min + coef * t_max ** (2.0 / L)  # t >= t_max
        lower = float(min(interval.min(), tail))
        loose = np.flatnonzero(interval < value - target)
        if lower >= value - target or loose.size == 0:
            break
        # split the loosest intervals (interior ones live between mus[k-1] and mus[k]);
        # a bounded number per round keeps memory bounded when tol is below what floating
        # point can certify
        loose = loose[np.argsort(interval[loose])[:MAX_SPLITS_PER_ROUND]]
        inner = loose[(loose >= 1) & (loose <= mus.size - 1)]
        mids = np.sqrt(mus[inner - 1] * mus[inner])
        edge = []
        if np.any(loose == 0):
            edge.append(mus[0] * 1e-3)
        if np.any(loose == mus.size):
            edge.append(mus[-1] * 1e3)
        refined = np.unique(np.concatenate((mus, mids, edge)))
        if refined.size == mus.size or refined.size * evals.size > MAX_GRID_ENTRIES:
            break  # no floating-point progress left, or the grid would not fit
        mus = refined
    return z, value, min(lower, value)


def ridge_path_beta_max(X: np.ndarray, y: np.ndarray, depth: int, rtol: float = 1e-12) -> float:
    r"""Smallest ``beta`` at which :math:`z = 0` minimizes
    :math:`\tfrac12\|Xz-y\|^2 + \tfrac{\beta L}{2}\|z\|^{2/L}` (docs/linear_fc.md section 1d).

    Zero is optimal at ``beta`` iff it is at every larger ``beta`` (the objective grows with
    ``beta`` while the zero network's value does not), so the threshold is found by
    bisection on :math:`\log\beta`, each step deciding with the exact stationary-point
    search of :func:`ridge_path_search`. Unlike the convex variants, at the threshold the
    optimum jumps from zero to a non-zero network.
    """
    zero_value = 0.5 * float(y @ y)
    spectrum = ridge_spectrum(X, y)  # one decomposition for every step of the bisection

    def zero_is_optimal(beta: float) -> bool:
        _, value, _ = ridge_path_search(X, y, beta, depth, tol=1.0, spectrum=spectrum)
        return value >= zero_value

    scale = float(np.linalg.norm(X.T @ y))
    if scale == 0.0:
        return 0.0
    lo = hi = scale ** (2.0 - 2.0 / depth)
    while zero_is_optimal(lo):
        lo /= 2.0
    while not zero_is_optimal(hi):
        hi *= 2.0
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if zero_is_optimal(mid) else (mid, hi)
    return hi
