r"""Circular CNNs as an l1-regularized linear model in DFT feature space (docs/circular_cnn.md).

A linear CNN with full-size circular filters computes :math:`f(x) = \langle b, x\rangle`
with :math:`Fb = \sum_j \overline{F u_j}\circ F w_j`; weight decay on ``u`` and ``w`` is, by
Parseval and the AM-GM inequality per frequency, the l1 norm of the spectrum:

.. math::

    \min_{u_j, w_j}\tfrac12\Big\|\sum_j X C(u_j)^T w_j - y\Big\|^2
        + \tfrac\beta2\sum_j(\|u_j\|^2 + \|w_j\|^2)
    \;=\;\min_b \tfrac12\|Xb - y\|^2 + \tfrac{\beta}{D}\|Fb\|_1 ,

``D`` the signal length (or ``H W`` for images with the 2-D DFT). In the orthonormal real
Fourier basis (:func:`sdpnets.dft.real_dft`) this is a group lasso on the DFT features
:math:`\hat X = X\Phi` with groups of size 1 (self-conjugate frequencies) or 2 (a pair
:math:`\{k, -k\}`, cosine and sine):

.. math::

    \min_z \tfrac12\|\hat X z - y\|^2 + \beta\sum_g c_g\|z_g\|_2,\qquad
    c_g = \sqrt{|g|/D}\ \text{(depth 2)},\qquad c_g = |g|/D\ \text{(depth 3, unit-norm first filter)}.

The second weight is docs/circular_cnn.md section 3b's :math:`(\beta/D^{3/2})\sum_k\omega_k|(Fb)_k|`,
:math:`\omega_k\in\{1,\sqrt2\}`, in real coordinates.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from numbers import Real

import cvxpy as cp
import numpy as np

from .._validate import check_array, check_beta, check_choice, check_int, check_targets
from ..certificates import BETA_MAX_FAMILIES, certify
from ..errors import InvalidInputError, NonConvexFormulationError
from ..networks import CircularCNN
from ..dft import DFTGroups, dft_groups, real_dft, real_from_spectrum, spectrum_from_real
from ..results import Certificate
from ..backends.firstorder import GroupL2, Quadratic, gram_statistics
from .base import ConvexProgram, best_dual_scaling, reduce_least_squares
from ..statistics import materialize
from .composite import CompositeLeastSquares

__all__ = ["ConvexCircularCNN", "DFTFeatures", "dft_features", "circular_cnn_beta_max"]

#: A frequency group whose penalty is below this fraction of the objective's scale is zero.
NEGLIGIBLE = 1e-11

CONVEX_VARIANTS = (
    "Convex variants: depth=2 with weight decay (l1 in DFT feature space, docs/circular_cnn.md section 3a); "
    "depth=3 with hidden='unit_norm' (||u_1|| <= 1, weight decay on the other layers: "
    "weighted l1, docs/circular_cnn.md section 3b)."
)


def _signals(X, name: str = "X") -> np.ndarray:
    """``X`` as ``(n, d)`` or ``(n, H, W)`` single-channel signals."""
    X = check_array(X, name, (2, 3, 4))
    if X.ndim == 2:
        return X
    if X.shape[1] != 1:
        raise InvalidInputError(
            f"{name} must have a single channel for a circular CNN ((n, d), (n, 1, d) or "
            f"(n, 1, H, W)), got shape {X.shape}."
        )
    return X[:, 0]


def _group_weights(groups: DFTGroups, depth: int) -> np.ndarray:
    sizes = groups.group_sizes.astype(float)
    D = groups.size
    return np.sqrt(sizes / D) if depth == 2 else sizes / D


@dataclass(frozen=True)
class DFTFeatures:
    r"""A circular CNN's data in the real Fourier basis: an l1 (group-lasso) model.

    The network's optimum is :math:`\min_z \tfrac12\|\text{features}\,z - y\|^2 +
    \beta\sum_g \text{penalty\_weights}_g\|z_g\|_2`.

    Attributes
    ----------
    features : ndarray, shape (n, D)
        :math:`\hat X = X\Phi`, columns ordered as :func:`sdpnets.dft.real_dft`; computed
        on first access (the solvers and certificates only need :meth:`correlate`).
    signals : ndarray, shape (n, d) or (n, H, W)
        The single-channel signals ``X``.
    penalty_weights : ndarray, shape (n_groups,)
        :math:`c_g` per frequency group (multiply by ``beta``).
    column_groups : ndarray of int, shape (D,)
        Group of each feature column.
    frequencies : ndarray of int, shape (n_groups, ndim)
        The frequency (multi-)index of each group's representative.
    groups : DFTGroups
    """

    signals: np.ndarray = field(repr=False)
    penalty_weights: np.ndarray
    column_groups: np.ndarray
    frequencies: np.ndarray
    groups: DFTGroups

    @functools.cached_property
    def features(self) -> np.ndarray:
        """:math:`\\hat X = X\\Phi` (``n x D``)."""
        return real_dft(self.signals, self.groups)

    def correlate(self, v: np.ndarray) -> np.ndarray:
        """:math:`\\hat X^T v = \\Phi^T X^T v` without forming :math:`\\hat X`."""
        return real_dft(np.tensordot(v, self.signals, axes=(0, 0)), self.groups)

    def group_norms(self, z: np.ndarray) -> np.ndarray:
        """:math:`\\|z_g\\|_2` for each group."""
        return np.sqrt(np.bincount(self.column_groups, weights=np.asarray(z) ** 2,
                                   minlength=self.penalty_weights.size))

    def penalty(self, z: np.ndarray) -> float:
        """:math:`\\sum_g c_g\\|z_g\\|_2` (multiply by ``beta``)."""
        return float(self.penalty_weights @ self.group_norms(z))

    def to_signal(self, z: np.ndarray) -> np.ndarray:
        """The linear filter ``b`` (shape of one signal) with coordinates ``z``."""
        return real_from_spectrum(spectrum_from_real(z, self.groups), len(self.groups.shape))


def dft_features(X: np.ndarray, depth: int = 2, hidden: str = "weight_decay") -> DFTFeatures:
    r"""The DFT feature matrix and penalty weights of a circular CNN (docs/circular_cnn.md sections 3a, 3b).

    Parameters
    ----------
    X : array_like, shape (n, d), (n, 1, d) or (n, 1, H, W)
    depth : {2, 3}
    hidden : {"weight_decay", "unit_norm"}
        ``depth=3`` needs ``"unit_norm"`` (weight decay on every layer is not convex).

    Returns
    -------
    DFTFeatures
        ``features`` :math:`\hat X` and ``penalty_weights`` :math:`c_g`: the network's
        training problem is the group lasso
        :math:`\min_z \tfrac12\|\hat Xz - y\|^2 + \beta\sum_g c_g\|z_g\|_2`.
    """
    depth, hidden = _check_variant(depth, hidden)
    return _features(_signals(X), depth)


def _features(S: np.ndarray, depth: int) -> DFTFeatures:
    """:func:`dft_features` of validated single-channel signals ``(n, d)`` / ``(n, H, W)``."""
    groups = dft_groups(S.shape[1:])
    return DFTFeatures(
        signals=S,
        penalty_weights=_group_weights(groups, depth),
        column_groups=groups.column_groups,
        frequencies=groups.frequencies,
        groups=groups,
    )


def _check_variant(depth, hidden) -> tuple[int, str]:
    depth = check_int(depth, "depth", minimum=2)
    hidden = check_choice(hidden, "hidden", ("weight_decay", "unit_norm"))
    if depth >= 3 and hidden == "weight_decay":
        raise NonConvexFormulationError(
            f"depth={depth} with weight decay on every layer is not convex: its value is "
            f"(beta L/(2D)) sum_k |(Fb)_k|^(2/L) (docs/circular_cnn.md section 3c). " + CONVEX_VARIANTS
        )
    if depth == 2 and hidden != "weight_decay":
        raise InvalidInputError(
            "hidden='unit_norm' constrains the first of L >= 3 layers; depth=2 has none: "
            "use hidden='weight_decay'."
        )
    if depth >= 4:
        raise InvalidInputError(
            f"depth={depth} with hidden='unit_norm' is not implemented (docs/circular_cnn.md section 3b covers "
            "depth=3). " + CONVEX_VARIANTS
        )
    return depth, hidden


class ConvexCircularCNN(CompositeLeastSquares, ConvexProgram):
    r"""Globally optimal training of a circular linear CNN (docs/circular_cnn.md sections 3a, 3b).

    ``depth=2``: :math:`f(x) = \sum_j w_j^T C(u_j)x` with weight decay on ``u`` and ``w``;
    ``depth=3, hidden="unit_norm"``: :math:`f(x) = \sum_j w_j^T C(u_{2j})C(u_{1j})x`,
    :math:`\|u_{1j}\|\le 1`, weight decay on :math:`u_2, w`. Both are solved as

    .. math::

        \min_b \tfrac12\|Xb - y\|^2 + \frac{\beta}{D^{p}}\sum_k \omega_k|(Fb)_k|,

    with :math:`p = 1, \omega_k = 1` (depth 2) and :math:`p = 3/2`,
    :math:`\omega_k = 1` for self-conjugate ``k`` and :math:`\sqrt2` otherwise (depth 3),
    posed as a group lasso over real DFT coordinates (see :func:`dft_features`). ``F`` is
    the 1-D DFT for ``(n, d)`` signals and the 2-D DFT for ``(n, 1, H, W)`` images. Recovery
    (depth 2, one channel): :math:`B = Fb^*`, :math:`u = F^{-1}|B|^{1/2}`,
    :math:`w = F^{-1}(B/|B|^{1/2})`; depth 3: one channel per active frequency group, a
    unit sinusoid of that group as :math:`u_1`.

    Parameters
    ----------
    X : array_like, shape (n, d), (n, 1, d) or (n, 1, H, W)
        A ``dask.array`` chunked by rows (with a Dask ``y``) is read once: its sufficient
        statistics are computed on the active Dask scheduler and the program is built on
        small surrogate data with the same statistics (:mod:`sdpnets.statistics`), so
        ``X`` then holds that surrogate and ``data_pass_time`` the pass's seconds.
        Single-channel signals or images; the filters have the same length (or size).
    y : array_like, shape (n,)
        Targets (one output).
    beta : float
        Weight decay, ``> 0``.
    depth : {2, 3}
        Number of layers (filters plus the output layer).
    hidden : {"weight_decay", "unit_norm"}
        Depth 3: ``"unit_norm"`` bounds the first filter, :math:`\|u_{1j}\| \le 1`.
    support_tol : float
        Depth 3: frequency groups with :math:`\|z_g\|` below ``support_tol`` times the
        largest get no channel.

    Raises
    ------
    NonConvexFormulationError
        ``depth >= 3`` with weight decay on every layer (docs/circular_cnn.md section 3c).
    """

    cones = frozenset({"zero", "nonneg", "soc"})
    features: DFTFeatures
    support_tol: float
    _y1: np.ndarray

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        beta: float,
        depth: int = 2,
        hidden: str = "weight_decay",
        *,
        support_tol: float = 1e-9,
    ) -> None:
        super().__init__(beta)
        X, y, self.data_pass_time = materialize(X, y, (2, 3, 4))
        self.signals = _signals(X)
        self._X_input = check_array(X, "X", (2, 3, 4))
        self.X = self.signals.reshape(self.signals.shape[0], -1)
        self.y = check_targets(y, self.X.shape[0])
        if self.y.ndim == 2 and self.y.shape[1] != 1:
            raise InvalidInputError(
                f"y must be (n,) for a circular CNN (one output), got shape {self.y.shape}."
            )
        self.depth, self.hidden = _check_variant(depth, hidden)
        if isinstance(support_tol, bool) or not (
            isinstance(support_tol, Real) and 0 <= support_tol < 1
        ):
            raise InvalidInputError(
                f"support_tol must be a number in [0, 1), got {support_tol!r}."
            )
        self.support_tol = float(support_tol)
        self._y1 = self.y.reshape(-1)
        self.features = _features(self.signals, self.depth)

    def _build(self) -> cp.Problem:
        feats = self.features
        g = feats.groups
        R, Qty, offset = reduce_least_squares(*self._equilibrate(feats.features, self._y1))
        s, p = g.single.size, g.pair.size
        c = feats.penalty_weights
        beta = self.beta_parameter
        terms = []
        pred = 0
        parts = []
        if s:
            zs = cp.Variable(s, name="z_single")
            pred = pred + R[:, :s] @ zs
            terms.append(c[:s] @ cp.abs(zs))
            parts.append(zs)
        if p:
            zp = cp.Variable((p, 2), name="z_pair")
            pred = pred + R[:, s::2][:, :p] @ zp[:, 0] + R[:, s + 1 :: 2] @ zp[:, 1]
            terms.append(c[s:] @ cp.norm(zp, 2, axis=1))
            parts.append(zp)
        self._parts = [self.solution_scale * part for part in parts]
        fit = 0.5 * cp.sum_squares(pred - Qty)
        return cp.Problem(cp.Minimize(fit + 0.5 * offset + beta * sum(terms)))

    def _composite_parts(self):
        r"""The group lasso in real DFT coordinates from the signals' own statistics:
        :math:`G = \Phi^T(X^TX)\Phi` and :math:`C = \Phi^TX^Ty` by two real FFTs of
        :math:`X^TX` (no DFT feature matrix is needed), penalty
        :math:`\sum_g c_g\|z_g\|_2`."""
        g = self.features.groups
        D, shape = g.size, g.shape
        Gs, Cs, yy = gram_statistics(self.X, self._y1[:, None])
        half = real_dft(Gs.reshape(D, *shape), g)  # (Gs Phi), row by row
        G = real_dft(half.T.reshape(D, *shape), g)  # Phi^T Gs Phi
        C = real_dft(Cs[:, 0].reshape(shape), g)[:, None]
        datafit = Quadratic(0.5 * (G + G.T), C, yy)
        return datafit, GroupL2(g.column_groups, self.features.penalty_weights)

    def _network_point(self, network: CircularCNN) -> np.ndarray:
        """The real DFT coordinates of the network's end-to-end filter."""
        return real_dft(network.effective_filter(), self.features.groups)[:, None]

    @property
    def solution(self) -> np.ndarray:
        """The solved coordinates ``z`` (length ``D``) in the real Fourier basis."""
        result = self._require_solution()
        if result.backend == "firstorder":
            return np.asarray(self._fo_W, dtype=float).reshape(-1)
        return np.concatenate([np.asarray(v.value, dtype=float).reshape(-1) for v in self._parts])

    @property
    def filter(self) -> np.ndarray:
        """The end-to-end linear filter ``b`` (shape of one signal): :math:`f(x) = \\langle
        b, x\\rangle`."""
        return self.features.to_signal(self.solution)

    @property
    def spectrum(self) -> np.ndarray:
        """:math:`B = Fb` (complex, shape of one signal)."""
        return spectrum_from_real(self.solution, self.features.groups)

    def _recover(self) -> CircularCNN:
        B = self.spectrum
        nd = B.ndim
        if self.depth == 2:
            mag = np.abs(B)
            root = np.sqrt(mag)
            U = root
            W = np.divide(B, root, out=np.zeros_like(B), where=root > 0)
            u = real_from_spectrum(U, nd)
            w = real_from_spectrum(W, nd)
            return CircularCNN([u[None], w[None]])
        return self._recover_unit_norm(B)

    def _recover_unit_norm(self, B: np.ndarray) -> CircularCNN:
        g = self.features.groups
        D, shape, nd = g.size, g.shape, B.ndim
        norms = self.features.group_norms(self.solution)
        # a group is inactive below support_tol relative to the largest, or when its share
        # of the objective, at most ||z_g|| (beta c_g + ||X||_F ||y||), is below the solve's
        # resolution, tol times the objective (solver noise, e.g. at beta >= beta_max)
        share = norms * (self.beta * self.features.penalty_weights
                         + float(np.linalg.norm(self.X)) * float(np.linalg.norm(self._y1)))
        value = self.result.objective if self.result is not None else float("nan")
        resolution = max(NEGLIGIBLE, getattr(self, "_solve_tol", 0.0))
        floor = resolution * (value if np.isfinite(value) and value > 0 else 0.0)
        active = np.flatnonzero((norms > self.support_tol * norms.max()) & (share > floor))
        s = g.single.size
        Bf = B.reshape(-1)
        layers: tuple[list[np.ndarray], ...] = ([], [], [])
        for a in active:
            idx = [g.single[a]] if a < s else [g.pair[a - s], g.pair_partner[a - s]]
            U1 = np.zeros(D, complex)
            U1[idx] = np.sqrt(D / len(idx))  # a unit-norm real sinusoid of the group
            U2 = np.zeros(D, complex)
            U2[idx] = np.sqrt(np.abs(Bf[idx]) / U1[idx].real)
            W = np.zeros(D, complex)
            nz = [i for i in idx if U2[i] != 0]
            W[nz] = Bf[nz] / (U1[nz] * U2[nz])
            for layer, spec in zip(layers, (U1, U2, W)):
                layer.append(real_from_spectrum(spec.reshape(shape), nd))
        if not active.size:
            layers = tuple([np.zeros(shape)] for _ in range(3))
        return CircularCNN([np.stack(layer) for layer in layers], hidden="unit_norm")

    def _certificate(self) -> Certificate:
        return certify(self.network(), self._X_input, self.y, self.beta)

    def beta_max(self) -> float:
        """Smallest ``beta`` whose optimum is the zero network."""
        return _dual_norm(self.features, self._y1)


def _dual_norm(feats: DFTFeatures, v: np.ndarray) -> float:
    r""":math:`\max_g \|(\hat X^T v)_g\|_2 / c_g`."""
    return float(np.max(feats.group_norms(feats.correlate(v)) / feats.penalty_weights))


def circular_cnn_beta_max(X: np.ndarray, y: np.ndarray) -> float:
    r"""The zero two-layer circular CNN is optimal iff
    :math:`\beta \ge \|F X^T y\|_\infty` (docs/circular_cnn.md section 3a; ``F`` the 2-D DFT for images).

    The dual norm of :math:`b \mapsto \tfrac1D\|Fb\|_1` is
    :math:`g \mapsto \|Fg\|_\infty`, since :math:`\langle g, b\rangle =
    \tfrac1D\operatorname{Re}\langle Fg, Fb\rangle` (Parseval)."""
    feats = dft_features(X)
    y = check_targets(y, feats.signals.shape[0]).reshape(-1)
    if y.size != feats.signals.shape[0]:
        raise InvalidInputError("y must be (n,) for a circular CNN.")
    return _dual_norm(feats, y)


BETA_MAX_FAMILIES["circular_cnn"] = circular_cnn_beta_max


@certify.register
def _certify_circular_cnn(network: CircularCNN, X, y, beta: float) -> Certificate:
    r"""Certify a circular CNN (docs/circular_cnn.md sections 3a, 3b): the residual ``v``, scaled into
    :math:`\max_g\|(\hat X^T v)_g\|/c_g \le \beta`, gives the lower bound
    :math:`-\tfrac12\|v - y\|^2 + \tfrac12\|y\|^2`."""
    beta = check_beta(beta)
    depth, hidden = network.depth, network.hidden
    if depth >= 3 and hidden == "weight_decay":
        raise NonConvexFormulationError(
            "No certified lower bound for a circular CNN with weight decay on every one of "
            f"its {depth} layers (not convex, docs/circular_cnn.md section 3c). " + CONVEX_VARIANTS
        )
    feats = dft_features(X, depth, hidden)
    y1 = check_targets(y, feats.signals.shape[0]).reshape(-1)
    upper = network.objective(X, y1, beta)
    v = y1 - network.predict(X)
    s = best_dual_scaling(v, y1, _dual_norm(feats, v), beta)
    V = s * v
    lower = -0.5 * float(np.sum((V - y1) ** 2)) + 0.5 * float(np.sum(y1 * y1))
    return Certificate(lower, upper, upper - lower, dual_point=V)
