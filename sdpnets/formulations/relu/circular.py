r"""A unit-norm circular filter before a ReLU: the ReLU group lasso with Fourier l1
group norms (docs/relu.md section 4f)."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import cvxpy as cp
import numpy as np

from ...backends.clarabel import fork_safe_options
from ..._validate import check_beta, check_data, check_targets
from ...certificates import certify
from ...errors import InvalidInputError, SdpnetsWarning
from ...features.patterns import DEFAULT_MAX_PATTERNS
from ...losses import Loss, get_loss
from ...networks.relu import CircularReLUNet
from ...results import Certificate
from .dual_norm import every_cell
from .group_lasso import GroupLassoReLU, certify_scalar

__all__ = ["ConvexCircularReLU", "circular_relu_dual_norm"]


def circular_relu_dual_norm(
    X: np.ndarray, v: np.ndarray, masks: np.ndarray | None = None
) -> float:
    r""":math:`\max\{|v^T (Xq)_+| : \|Fq\|_1 / d \le 1\}`, the dual norm of the
    circular-filter ReLU program (docs/relu.md section 4f), as an upper bound that is tight to solver
    accuracy.

    The dual of the Fourier l1 norm :math:`\tfrac1d\|Fq\|_1` (complex moduli) is
    :math:`\|Fa\|_\infty`, so per pattern ``D`` and sign ``s``

    .. math::

        \max\{s\,v^T D X q : (2D - I)Xq \ge 0,\ \|Fq\|_1 \le d\}
        = \min_{\lambda \ge 0} \|F(s X^T D v + X^T (2D - I)\lambda)\|_\infty,

    one small second-order cone program each (one parametrized cvxpy problem, compiled
    once, solved by Clarabel). The value kept is :math:`\|F(\cdot)\|_\infty` evaluated at
    the solver's :math:`\lambda` clipped to :math:`\ge 0`: an upper bound on the maximum
    whatever the solver's accuracy, so the lower bounds built on it stay valid. ``masks``
    must hold every cell of ``X``'s arrangement (default: enumerated).
    """
    X = np.asarray(X, dtype=float)
    v = np.asarray(v, dtype=float).reshape(-1)
    n, d = X.shape
    if masks is None:
        masks = every_cell(X)
    masks = np.asarray(masks, dtype=bool)
    half = d // 2 + 1  # F a of a real a is conjugate symmetric: frequencies 0..d/2 suffice
    F = np.fft.fft(np.eye(d), axis=0)[:half]
    Fr, Fi = F.real, F.imag

    def fourier_sup(a: np.ndarray) -> np.ndarray:
        return np.abs(F @ a).max(axis=0)

    C = X.T @ (masks * v[:, None])  # (d, P): X^T D_i v
    bound = fourier_sup(C)  # lambda = 0
    c = cp.Parameter(d)
    sign = cp.Parameter(n)
    lam = cp.Variable(n, nonneg=True)
    t = cp.Variable()
    a = c + X.T @ cp.multiply(sign, lam)
    problem = cp.Problem(
        cp.Minimize(t), [cp.norm(cp.vstack([Fr @ a, Fi @ a]), 2, axis=0) <= t]
    )
    best = 0.0
    for i in np.argsort(-bound):
        if bound[i] <= best:
            break
        sign.value = 2.0 * masks[:, i] - 1.0
        for s in (1.0, -1.0):
            c.value = s * C[:, i]
            try:
                problem.solve(solver=cp.CLARABEL, **fork_safe_options())
            except cp.error.SolverError as exc:
                warnings.warn(
                    f"Clarabel failed on the dual-norm cone program of pattern {i} ({exc}); "
                    "its lambda = 0 bound is used, valid but looser.",
                    SdpnetsWarning,
                    stacklevel=2,
                )
            value = bound[i]
            if lam.value is not None:
                step = X.T @ (sign.value * np.maximum(lam.value, 0.0))
                value = min(value, float(fourier_sup((s * C[:, i] + step)[:, None])[0]))
            best = max(best, value)
    return best

# --- circular filter before the ReLU (docs/relu.md section 4f) -------------------------------


class ConvexCircularReLU(GroupLassoReLU):
    r"""Globally optimal network with a unit-norm circular filter before a ReLU.

    :math:`f(x) = \sum_j (x^T C(u_j)^T w_{1j})_+ w_{2j}`, :math:`\|u_j\|_2 \le 1`, weight
    decay on :math:`w_1, w_2` (docs/relu.md section 4f).

    Solves program 4a with the group norms replaced by Fourier l1 norms,

    .. math::

        \min_{v_i, w_i} L\Big(\sum_i D_i X (v_i - w_i), y\Big)
            + \frac{\beta}{d}\sum_i \big(\|F v_i\|_1 + \|F w_i\|_1\big)
        \quad\text{s.t.}\quad (2D_i - I)Xv_i \ge 0,\ (2D_i - I)Xw_i \ge 0,

    (``F`` the unnormalized DFT, moduli of complex entries): the minimum of
    :math:`\|w_1\|` over unit filters with :math:`C(u)^T w_1 = q` is :math:`\|Fq\|_1/d`.
    Recovery, one neuron per block ``B = F v``: :math:`g = \|B\|_1/d`,
    :math:`u = F^{-1}\sqrt{d|B|/\|B\|_1}`, :math:`w_1 = F^{-1}(B/U)/\sqrt g`,
    :math:`w_2 = \pm\sqrt g`.

    The dual norm of the Fourier l1 penalty is :math:`\|Fa\|_\infty`, so certificates and
    :meth:`beta_max` take one small cone program per pattern
    (:func:`circular_relu_dual_norm`) where 4a takes one NNLS.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Full-length signals (the filters have length ``d``).
    y : array_like, shape (n,)
        Targets; labels in {-1, +1} for ``loss="logistic"`` and ``"hinge"``.
    beta : float
        Weight decay, ``> 0``.
    patterns : "exhaustive", int or array
        As for :class:`ConvexReLU`.
    loss : {"squared", "logistic", "hinge"} or Loss
        As for :class:`ConvexReLU`.
    seed : int or None
        As for :class:`ConvexReLU`.
    max_patterns : int
        As for :class:`ConvexReLU`.
    """

    def __init__(
        self,
        X,
        y,
        beta: float,
        patterns: Any = "exhaustive",
        loss: str | Loss = "squared",
        seed: int | None = 0,
        *,
        max_patterns: int = DEFAULT_MAX_PATTERNS,
    ) -> None:
        super().__init__(beta)
        self.X = check_data(X)
        self._A = self.X
        self._S = None
        self._check_common(y, loss, patterns, seed, max_patterns, scalar_only=True)

    def _penalty(self, V: cp.Variable) -> cp.Expression:
        d = V.shape[0]
        F = np.fft.fft(np.eye(d), axis=0)
        size = V.shape[0] * V.shape[1]
        re = cp.reshape(F.real @ V, (1, size), order="C")
        im = cp.reshape(F.imag @ V, (1, size), order="C")
        return cp.sum(cp.norm(cp.vstack([re, im]), 2, axis=0)) / d

    def _data_for_network(self):
        return self.X

    def _recover(self) -> CircularReLUNet:
        vec, sgn, _ = self._neurons()
        d = self.X.shape[1]
        if vec.shape[1] == 0:
            return CircularReLUNet(np.zeros((d, 1)), np.zeros((d, 1)), np.zeros(1),
                                   loss=self._loss)
        B = np.fft.fft(vec, axis=0)  # (d, m)
        mod = np.abs(B)
        l1 = mod.sum(axis=0)
        g = l1 / d
        Uf = np.sqrt(d * mod / l1)
        filters = np.fft.ifft(Uf, axis=0).real
        W1f = np.divide(B, Uf, out=np.zeros_like(B), where=Uf > 0)
        W1 = np.fft.ifft(W1f, axis=0).real / np.sqrt(g)
        return CircularReLUNet(filters, W1, sgn * np.sqrt(g), loss=self._loss)

    _euclidean = False  # Fourier l1 groups: exact dual norms over every pattern only

    #: The Fourier l1 group norms have no first-order solver (yet).
    has_firstorder: ClassVar[bool] = False
    auto_firstorder: ClassVar[bool] = False

    def _dual_norm(self, v: np.ndarray, masks: np.ndarray, floor: float = 0.0) -> float:
        return max(circular_relu_dual_norm(self.X, v, masks), floor)



@certify.register
def _certify_circular_relu(
    network: CircularReLUNet, X, y, beta: float, loss: str | Loss | None = None,
    max_patterns: int = DEFAULT_MAX_PATTERNS,
) -> Certificate:
    """Certify any network with a circular filter before a ReLU (docs/relu.md section 4f): its
    objective, a lower bound on the global optimum from its scaled dual point
    ``-grad L(f(X))`` (dual norm by :func:`circular_relu_dual_norm` over every pattern), and
    the gap. ``loss=None``: the network's own loss."""
    X = check_data(X)
    beta = check_beta(beta)
    loss = network.training_loss(loss)
    y = check_targets(y, X.shape[0])
    loss.check_targets(y)
    if y.ndim != 1:
        raise InvalidInputError(f"y must be a vector (n,) for this network, got shape {y.shape}.")
    if X.shape[1] != network.filters.shape[0]:
        raise InvalidInputError(
            f"the network has {network.filters.shape[0]} inputs, X has {X.shape[1]} columns."
        )
    masks = every_cell(X, max_patterns)
    return certify_scalar(network, X, y, beta, loss,
                           lambda v: circular_relu_dual_norm(X, v, masks))
