r"""Two-layer ReLU CNNs with sum or mean pooling as a group lasso over the joint
activation patterns of the stacked patches (docs/relu.md section 4e)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..._validate import check_beta, check_choice, check_data, check_int, check_targets
from ...certificates import certify
from ...errors import InvalidInputError
from ...features.patches import extract_patches
from ...features.patterns import DEFAULT_MAX_PATTERNS
from ...losses import Loss, get_loss
from ...networks.relu import ReLUCNN
from ...results import Certificate
from .dual_norm import cells_if_they_fit
from .group_lasso import GroupLassoReLU, caratheodory_prune, certificate_kind, output_bound

__all__ = ["ConvexReLUCNN"]


# --- ReLU CNN with sum / mean pooling (docs/relu.md section 4e) -----------------------------------


class ConvexReLUCNN(GroupLassoReLU):
    r"""Globally optimal two-layer ReLU CNN with sum (or mean) pooling.

    :math:`f(x) = \sum_j \alpha_j\, c\sum_k (x_k^T u_j)_+` over the patches :math:`x_k`.

    Solves (docs/relu.md section 4e), with the patch matrices :math:`X_k` (``n x h``) stacked into
    :math:`[X_1; \dots; X_K]` and the *joint* patterns :math:`D_i = (D_i^1, \dots, D_i^K)` of
    its ``nK`` rows,

    .. math::

        \min_{v_i, w_i} L\Big(c\sum_i\sum_k D_i^k X_k (v_i - w_i), y\Big)
            + \beta\sum_i (\|v_i\|_2 + \|w_i\|_2)
        \quad\text{s.t.}\quad (2D_i^k - I)X_k v_i \ge 0,\ (2D_i^k - I)X_k w_i \ge 0\ \forall k,

    equal to :math:`\min L(f(X), y) + \tfrac{\beta}{2}(\|U\|_F^2 + \|\alpha\|^2)` over every
    joint pattern (``c = 1`` for ``pooling="sum"``; ``c = 1/K`` for ``"mean"``, which is the
    same program on the patches divided by ``K``, by positive homogeneity).

    Parameters
    ----------
    X : array_like
        ``(n, length)``, ``(n, channels, length)`` or ``(n, channels, height, width)``.
    y : array_like, shape (n,)
        Targets; labels in {-1, +1} for ``loss="logistic"`` and ``"hinge"``.
    beta : float
        Weight decay, ``> 0``.
    kernel_size, stride, padding : int or tuple
        Filter size, stride and zero padding per spatial axis (filters span all channels).
    patterns : "exhaustive", int or array
        As for :class:`ConvexReLU`, over the ``nK`` stacked patch rows (boolean arrays are
        ``(nK, P)`` with row ``k * n + i`` for patch ``k`` of sample ``i``; gates ``(h, P)``).
    loss : {"squared", "logistic", "hinge"}
    pooling : {"sum", "mean"}
    seed : int or None
        Seed of the sampled gates.
    max_patterns : int
        Limit for exhaustive enumeration.
    """

    def __init__(
        self,
        X,
        y,
        beta: float,
        kernel_size,
        stride=1,
        padding=0,
        patterns: Any = "exhaustive",
        loss: str | Loss = "squared",
        pooling: str = "sum",
        seed: int | None = 0,
        *,
        max_patterns: int = DEFAULT_MAX_PATTERNS,
    ) -> None:
        super().__init__(beta)
        self.X = check_data(X, ndims=(2, 3, 4))
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.pooling = check_choice(pooling, "pooling", ("sum", "mean"))
        Pt = extract_patches(self.X, kernel_size, stride, padding)  # (n, K, h)
        n, K, _ = Pt.shape
        if self.pooling == "mean":
            Pt = Pt / K
        self._A = Pt.transpose(1, 0, 2).reshape(n * K, -1)  # row k * n + i
        self._S = sp.kron(np.ones((1, K)), sp.eye(n), format="csr")  # (n, nK)
        self.num_patches = K
        self._check_common(y, loss, patterns, seed, max_patterns, scalar_only=True)

    def _data_for_network(self):
        return self.X

    def _recover(self) -> ReLUCNN:
        vec, sgn, _ = self._neurons()
        root = np.sqrt(np.linalg.norm(vec, axis=0))
        U = vec / np.maximum(root, 1e-300)
        alpha = sgn * root
        if vec.shape[1] == 0:
            U, alpha = np.zeros((self._A.shape[1], 1)), np.zeros(1)
        return ReLUCNN(U, alpha, self.kernel_size, self.stride, self.padding, self.pooling,
                       loss=self._loss)

    def network(self, prune: bool = False) -> ReLUCNN:
        """The recovered CNN, one filter per non-zero block (``prune=True``: at most
        ``n + 1`` filters by Caratheodory pruning, same objective)."""
        self._require_solution()
        net = self._recover()
        if not prune:
            return net
        a = np.linalg.norm(net.U, axis=0)
        c = a * np.abs(net.alpha)
        live = c > 0
        dirs = np.zeros_like(net.U)
        dirs[:, live] = net.U[:, live] / a[live]
        sgn = np.sign(net.alpha)
        F = np.asarray(self._S @ np.maximum(self._A @ dirs, 0.0)) * sgn  # (n, m)
        c = caratheodory_prune(F, c)
        keep = np.flatnonzero(c > 0) if np.any(c > 0) else np.array([0])
        root = np.sqrt(c[keep])
        return ReLUCNN(dirs[:, keep] * root, sgn[keep] * root, self.kernel_size, self.stride,
                       self.padding, self.pooling, loss=net.training_loss())


@certify.register
def _certify_relu_cnn(
    network: ReLUCNN, X, y, beta: float, loss: str | Loss | None = None,
    max_patterns: int = DEFAULT_MAX_PATTERNS,
) -> Certificate:
    r"""Certify any ReLU CNN with sum/mean pooling (docs/relu.md section 4e): the dual norm
    :math:`\max_{\|u\| \le 1}|v^T \sum_k (X_k u)_+|` is computed exactly over the joint
    patterns of the stacked patches when they fit ``max_patterns`` (``kind="exact"``),
    else bounded above by a certified relaxation (``kind="relaxation"``). ``loss=None``:
    the network's own loss."""
    beta = check_beta(beta)
    loss = network.training_loss(loss)
    Pt = extract_patches(X, network.kernel_size, network.stride, network.padding)
    n, K, _ = Pt.shape
    y = check_targets(y, n)
    loss.check_targets(y)
    if y.ndim != 1:
        raise InvalidInputError(f"y must be (n,) for a ReLU CNN, got shape {y.shape}.")
    if network.pooling == "mean":
        Pt = Pt / K
    A = Pt.transpose(1, 0, 2).reshape(n * K, -1)
    max_patterns = check_int(max_patterns, "max_patterns", minimum=1)
    masks = cells_if_they_fit(A, max_patterns)
    yhat = np.asarray(network.predict(X), dtype=float).reshape(n)
    upper = network.objective(X, y, beta, loss)
    S = sp.kron(np.ones((1, K)), sp.eye(n), format="csr")  # (n, nK): sum over patches
    value, point, br = output_bound(loss, A, y, yhat, beta, masks=masks,
                                     max_patterns=max_patterns, directions=network.U, S=S)
    lower = min(value, upper)
    kind, bounds = certificate_kind([br])
    return Certificate(lower, upper, upper - lower, dual_point=point, kind=kind,
                       dual_norm_bounds=bounds)
