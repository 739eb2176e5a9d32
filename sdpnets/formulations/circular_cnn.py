r"""Circular CNNs as an l1-regularized linear model in DFT feature space (docs/circular_cnn.md).

A linear CNN with full-size circular filters computes :math:`f(x) = \langle b, x\rangle`
with :math:`Fb = \sum_j \overline{F u_j}\circ F w_j`; weight decay on ``u`` and ``w`` is, by
Parseval and the AM-GM inequality per frequency, the l1 norm of the spectrum:

.. math::

    \min_{u_j, w_j}\tfrac12\Big\|\sum_j X C(u_j)^T w_j - y\Big\|^2
        + \tfrac\beta2\sum_j(\|u_j\|^2 + \|w_j\|^2)
    \;=\;\min_b \tfrac12\|Xb - y\|^2 + \tfrac{\beta}{D}\|Fb\|_1 ,

``D`` the signal length (or ``H W`` for images with the 2-D DFT). In the orthonormal real
Fourier basis (:func:`sdpnets.features.fourier.real_dft`) this is a group lasso on the DFT features
:math:`\hat X = X\Phi` with groups of size 1 (self-conjugate frequencies) or 2 (a pair
:math:`\{k, -k\}`, cosine and sine):

.. math::

    \min_z \tfrac12\|\hat X z - y\|^2 + \beta\sum_g c_g\|z_g\|_2,\qquad
    c_g = \sqrt{|g|/D}\ \text{(depth 2)},\qquad c_g = |g|/D\ \text{(depth 3, unit-norm first filter)}.

The second weight is docs/circular_cnn.md section 3b's :math:`(\beta/D^{3/2})\sum_k\omega_k|(Fb)_k|`,
:math:`\omega_k\in\{1,\sqrt2\}`, in real coordinates.
"""

from __future__ import annotations

from numbers import Real

import cvxpy as cp
import numpy as np

from .._validate import check_array, check_beta, check_targets
from ..backends.firstorder import GroupL2, Quadratic, gram_statistics
from ..certificates import BETA_MAX_FAMILIES, certify
from ..errors import InvalidInputError, NonConvexFormulationError
from ..features.fourier import (
    CONVEX_VARIANTS,
    DFTFeatures,
    single_channel,
    check_variant,
    dft_features,
    features_of_signals,
    real_dft,
    real_from_spectrum,
    spectrum_from_real,
)
from ..features.statistics import materialize
from ..losses import SquaredLoss
from ..networks.linear import CircularCNN
from ..results import Certificate
from .base import ConvexProgram
from .composite import CompositeLeastSquares
from .least_squares import reduce_least_squares

__all__ = ["ConvexCircularCNN", "circular_cnn_beta_max"]

#: A frequency group whose penalty is below this fraction of the objective's scale is zero.
NEGLIGIBLE = 1e-11


class ConvexCircularCNN(CompositeLeastSquares, ConvexProgram):
    r"""Globally optimal training of a circular linear CNN (docs/circular_cnn.md sections 3a, 3b).

    ``depth=2``: :math:`f(x) = \sum_j w_j^T C(u_j)x` with weight decay on ``u`` and ``w``;
    ``depth=3, hidden="unit_norm"``: :math:`f(x) = \sum_j w_j^T C(u_{2j})C(u_{1j})x`,
    :math:`\|u_{1j}\|\le 1`, weight decay on :math:`u_2, w`. Both are solved as

    .. math::

        \min_b \tfrac12\|Xb - y\|^2 + \frac{\beta}{D^{p}}\sum_k \omega_k|(Fb)_k|,

    with :math:`p = 1, \omega_k = 1` (depth 2) and :math:`p = 3/2`,
    :math:`\omega_k = 1` for self-conjugate ``k`` and :math:`\sqrt2` otherwise (depth 3),
    posed as a group lasso over real DFT coordinates (see :func:`~sdpnets.features.fourier.dft_features`). ``F`` is
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
        self._X_input = check_array(X, "X", (2, 3, 4))  # one validated copy, and views of it
        self.signals = single_channel(self._X_input)
        self.X = self.signals.reshape(self.signals.shape[0], -1)
        self.y = check_targets(y, self.X.shape[0])
        if self.y.ndim == 2 and self.y.shape[1] != 1:
            raise InvalidInputError(
                f"y must be (n,) for a circular CNN (one output), got shape {self.y.shape}."
            )
        self.depth, self.hidden = check_variant(depth, hidden)
        if isinstance(support_tol, bool) or not (
            isinstance(support_tol, Real) and 0 <= support_tol < 1
        ):
            raise InvalidInputError(
                f"support_tol must be a number in [0, 1), got {support_tol!r}."
            )
        self.support_tol = float(support_tol)
        self._y1 = self.y.reshape(-1)
        self.features = features_of_signals(self.signals, self.depth)

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

    def build_memory(self) -> int:
        """Bytes of the QR of the data (three copies of ``X``), the real DFT features and
        their QR (about five copies) and the complex spectra of the data when the
        network is verified (about four and a half)."""
        return int(11 * self.X.nbytes)

    def _composite_parts(self):
        r"""The group lasso in real DFT coordinates from the signals' own statistics:
        :math:`G = \Phi^T(X^TX)\Phi` and :math:`C = \Phi^TX^Ty` by two real FFTs of
        :math:`X^TX` (no DFT feature matrix is needed), penalty
        :math:`\sum_g c_g\|z_g\|_2`."""
        g = self.features.groups
        D, shape = g.size, g.shape
        Gs, Cs, yy = gram_statistics(self.X, self._y1[:, None])
        self._data_norms = (float(np.sqrt(max(np.trace(Gs), 0.0))), float(np.sqrt(yy)))
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
                         + float(np.prod(self._norms(self.X, self._y1))))
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
    s = SquaredLoss().best_dual_scale(v, y1, _dual_norm(feats, v), beta)
    V = s * v
    lower = -0.5 * float(np.sum((V - y1) ** 2)) + 0.5 * float(np.sum(y1 * y1))
    return Certificate(lower, upper, upper - lower, dual_point=V)
