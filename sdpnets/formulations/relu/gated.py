r"""Two-layer gated ReLU networks: fixed gates, so the group lasso has no cone constraints.

A gated ReLU network :math:`f(X) = \sum_j 1[Xg_j \ge 0] \odot (Xu_j)\,\alpha_j` with fixed
gates :math:`g_j` and weight decay on :math:`u_j, \alpha_j` is trained globally by

.. math::

    \min_{z_i} L\Big(\sum_{i=1}^P D_i X z_i,\; y\Big) + \beta\sum_{i=1}^P \|z_i\|_2,
    \qquad D_i = \operatorname{diag}(1[Xg_i \ge 0]),

(the model the scnn library ships, Mishkin, Sahiner & Pilanci 2022): for each gate the
minimum of :math:`\tfrac\beta2(\|u\|^2 + \alpha^2)` with :math:`u\alpha = z` is
:math:`\beta\|z\|`. Recovery: :math:`u_i = z_i/\sqrt{\|z_i\|}`,
:math:`\alpha_i = \sqrt{\|z_i\|}`, same gate. The dual norm is
:math:`\max_i \|X^T D_i v\|_2`, so certificates are exact at every size.
"""

from __future__ import annotations

from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from ...errors import InvalidInputError
from ...features.patterns import DEFAULT_MAX_PATTERNS
from ...losses import Loss
from ...networks.relu import GatedReLUMLP
from ...results import BetaMaxInterval, Certificate
from .dual_norm import DualNormBracket
from .group_lasso import BLOCK_TOL, GroupLassoReLU, outputs_bound, zero_network_dual

__all__ = ["ConvexGatedReLU"]


class ConvexGatedReLU(GroupLassoReLU):
    r"""Globally optimal two-layer gated ReLU network with fixed gates (no cone constraints).

    Solves :math:`\min_{z_i} L(\sum_i D_i X z_i, y) + \beta\sum_i\|z_i\|_2` over the gates'
    patterns :math:`D_i`; for targets ``(n, K)`` one block per (gate, output) with the
    separable l1-squared output penalty. Its optimum *is* the gated network's global
    optimum for these gates (``result.exact`` is ``True``). ``backend="firstorder"`` runs
    ADMM with certified stopping; the conic backends solve the same program.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Inputs, one sample per row.
    y : array_like, shape (n,) or (n, K)
        Targets; labels in {-1, +1} for ``loss="logistic"`` and ``"hinge"``.
    beta : float
        Weight decay, ``> 0``.
    patterns : int, "exhaustive" or float array
        Number of sampled Gaussian gates, every cell, or the gates themselves ``(d, P)``
        (``d + 1`` rows with ``bias=True``). Boolean masks are refused: the network needs
        its gates.
    loss : {"squared", "logistic", "hinge"} or Loss
        Summed over samples.
    bias : bool
        Biases in the gates and in the first layer (penalized).
    seed : int or None
        Seed of the sampled gates.
    max_patterns : int
        Limit for ``patterns="exhaustive"``.
    intercept : bool
        An unpenalized output offset (intercept), as for :class:`~sdpnets.ConvexReLU`.
    """

    _cone = False

    def __init__(
        self,
        X,
        y,
        beta: float,
        patterns: Any = 500,
        loss: str | Loss = "squared",
        bias: bool = False,
        seed: int | None = 0,
        *,
        max_patterns: int = DEFAULT_MAX_PATTERNS,
        intercept: bool = False,
    ) -> None:
        super().__init__(beta)
        self._set_dense_data(X, bias)
        if isinstance(patterns, np.ndarray) and patterns.dtype == bool:
            raise InvalidInputError(
                "patterns for ConvexGatedReLU must be gates (a float (d, P) array), a number "
                "of sampled gates or 'exhaustive': the recovered network needs its gates, "
                "which boolean masks do not give."
            )
        self._check_common(y, loss, patterns, seed, max_patterns, intercept=intercept)

    @property
    def exact(self) -> bool:
        return True

    @property
    def cones(self):
        return frozenset({"soc"}) | self._loss.cones

    def _data_for_network(self) -> np.ndarray:
        return self.X

    def _message(self) -> str:
        return (f"gated ReLU with {self._patterns.count} fixed gates (exact for the gated "
                f"network with these gates); {self._patterns.message}")

    @property
    def gates(self) -> np.ndarray:
        """The fixed gates ``(h, P)`` (a bias row last with ``bias=True``)."""
        gates = self._patterns.gates
        assert gates is not None  # the constructor refuses patterns given without gates
        return gates

    def _build(self) -> cp.Problem:
        A, M = self._A, self._patterns.masks
        P, K = M.shape[1], self._y2.shape[1]
        Mt = np.tile(M, (1, K)).astype(float)
        V = cp.Variable((A.shape[1], P * K), name="Z")
        self._V = V
        Z = cp.multiply(Mt, A @ V)
        if self._scalar:
            rows = cp.sum(Z, axis=1)
        else:
            rows = Z @ sp.kron(sp.eye(K), np.ones((P, 1)), format="csr")
        target = self._y2[:, 0] if self._scalar else self._y2
        pred = cp.Variable(target.shape, name="prediction")
        self._pred_constraint = pred == self._with_offset(rows, target.shape)
        objective = (self._loss.expr(pred, target)
                     + self.beta_parameter * cp.sum(cp.norm(V, 2, axis=0)))
        return cp.Problem(cp.Minimize(objective), [self._pred_constraint])

    def _block_values(self) -> tuple[np.ndarray, np.ndarray]:
        if self._from_firstorder():
            assert self._fo_blocks is not None  # _from_firstorder() checks it
            return self._fo_blocks
        h, P, K = self._A.shape[1], self._patterns.count, self._y2.shape[1]
        Z = np.asarray(self._V.value, dtype=float).reshape(h, K, P).transpose(0, 2, 1)
        return Z, np.zeros_like(Z)

    def _recover(self) -> GatedReLUMLP:
        Z, _ = self._block_values()
        h, P, K = Z.shape
        norms = np.linalg.norm(Z, axis=0)  # (P, K)
        scale = float(np.linalg.norm(self._y2)) / max(float(np.linalg.norm(self._A, 2)), 1e-300)
        keep = norms > BLOCK_TOL * max(norms.max(initial=0.0), scale, 1e-300)
        if scale == 0.0:
            keep[:] = False
        gate_idx, out = np.nonzero(keep)
        root = np.sqrt(norms[gate_idx, out])
        U = Z[:, gate_idx, out] / np.maximum(root, 1e-300)
        G = self.gates[:, gate_idx]
        if gate_idx.size == 0:
            U, G, root, out = np.zeros((h, 1)), self.gates[:, :1], np.zeros(1), np.zeros(1, int)
        if self._scalar:
            alpha = root
        else:
            alpha = np.zeros((root.size, K))
            alpha[np.arange(root.size), out] = root
        d = self.X.shape[1]
        return GatedReLUMLP(
            G[:d], U[:d], alpha,
            gate_bias=G[d] if self.bias else None, bias=U[d] if self.bias else None,
            output_penalty="frobenius" if self._scalar else "l1_squared", loss=self._loss,
            offset=self._offset_value(),
        )

    def network(self) -> GatedReLUMLP:
        """The recovered gated network: one neuron per non-zero block, on its gate."""
        self._require_solution()
        return self._recover()

    def _dual_norms(self, V: np.ndarray) -> np.ndarray:
        """:math:`\\max_i \\|A^T D_i v_k\\|` per output (exact: the gates are fixed)."""
        M = self._patterns.masks
        return np.array([np.linalg.norm(self._A.T @ (M * V[:, k, None]), axis=0).max()
                         for k in range(V.shape[1])])

    def _dual_norm(self, v: np.ndarray, masks: np.ndarray, floor: float = 0.0) -> float:
        """The gated program's exact dual norm (its own gates; ``masks`` unused), or
        ``floor`` when that is larger."""
        return max(float(self._dual_norms(np.asarray(v, dtype=float).reshape(-1, 1))[0]),
                   floor)

    def beta_max(self, *, interval: bool = False) -> float:
        r""":math:`\max_k\max_i \|A^T D_i g_k\|_2`, :math:`g = -\nabla L(0)`: the zero network
        is optimal exactly when ``beta`` is at least this. The value is always exact;
        ``interval=True`` returns it as an exact
        :class:`~sdpnets.BetaMaxInterval`."""
        g = zero_network_dual(self._loss, self._y2, self._intercept)
        value = float(self._dual_norms(g).max())
        return BetaMaxInterval(value, value, exact=True) if interval else value

    def _certificate(self, masks: np.ndarray | None = None) -> Certificate:
        # the gates are the program's and the network's: its dual norm is exact (masks unused)
        net = self.network()
        yhat = np.asarray(net.predict(self.X)).reshape(self._y2.shape)
        upper = net.objective(self.X, self.y, self.beta, self._loss)

        def exact(k: int, v: np.ndarray) -> DualNormBracket:
            value = float(self._dual_norms(v[:, None])[0])
            return DualNormBracket(value, value, True, np.zeros(self._A.shape[1]))

        best: tuple[float, np.ndarray] | None = None
        for V in (None, self.dual_point()):
            lower, point, _ = outputs_bound(self._loss, self._A, self._y2, yhat, self.beta,
                                            masks=None, V=V, bracket=exact,
                                            choose_hinge=False, centered=self._intercept)
            if best is None or lower > best[0]:
                best = (lower, point)
        assert best is not None  # two candidates were scored
        lower = min(best[0], upper)
        return Certificate(lower, upper, upper - lower, dual_point=best[1])
