r"""The two-layer ReLU program as one object: the group lasso over activation patterns, its
pattern operators, values and certified lower bound, and the result every method returns.

The program (two-layer ReLU networks, ReLU CNNs and gated ReLU networks), one output at a
time, has blocks :math:`z_j \in \mathbb{R}^h`, one per (pattern, sign):

.. math::

    \min_z\; L(Fz, y) + \beta\sum_j \|z_j\|_2
    \quad\text{s.t.}\quad G_j z_j \ge 0 \ \text{(cone-constrained program only)},

    F z = S \sum_j \sigma_j D_{p(j)} A z_j \in \mathbb{R}^n, \qquad
    G_j z_j = (2D_{p(j)} - I) A z_j \in \mathbb{R}^N,

with rows ``A`` (``N x h``; ``N = pool * n`` stacked patches for CNNs), boolean masks
``M`` (``N x P``, column ``i`` the diagonal of :math:`D_i`), the pooling
:math:`S = [I_n \cdots I_n]` that sums the ``pool`` row groups, and signs
:math:`\sigma_j`. The cone-constrained program has ``2P`` blocks ``[V, W]`` (signs
``+1, -1``), the gated program ``P`` free blocks. Every product is one matrix product with
``A`` or ``A^T`` over a chunk of patterns, so memory stays ``O(N P)`` booleans plus a
chunk of floats.

**Certificate.** For any ``v`` (a dual point of the prediction) weak duality gives

.. math::

    \text{optimum} \ge -L^*(-s v) \quad\text{whenever}\quad
    s\,\big\|\sigma_j F_j^T v + G_j^T\mu_j\big\|_2 \le \beta\ \ \forall j

for multipliers :math:`\mu_j \ge 0` of the cone constraints (none for the gated program);
:meth:`ReLUProgram.dual_bound` takes the best scale ``s`` (:meth:`~sdpnets.losses.Loss.
best_dual_scale`). The upper value of blocks ``z`` is the larger of the program objective
and the objective of the network read off ``z`` (neuron :math:`(Az_j)_+` per block,
:meth:`ReLUProgram.values`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ....losses import Loss
from ....results import relative_gap

__all__ = ["ReLUProgram", "ReLUResult", "unscaled_result", "top_rows"]

#: Floats in one chunk of ``A z`` (bounds the temporaries of every product).
_CHUNK_FLOATS = 1 << 22


class ReLUProgram:
    """The group lasso over activation patterns for one output (see the module docstring).

    Parameters
    ----------
    A : ndarray, shape (N, h)
        Rows (samples, or ``pool`` stacked groups of patches).
    masks : ndarray of bool, shape (N, P)
    y : ndarray, shape (n,)
        One output's targets.
    loss : Loss
    beta : float
    pool : int
        Row groups summed into one sample (``N = pool * n``); 1 for fully connected nets.
    cone : bool
        Cone-constrained (``2P`` blocks ``[V, W]``) or gated (``P`` free blocks) program.
    """

    def __init__(self, A: np.ndarray, masks: np.ndarray, y: np.ndarray, loss: Loss,
                 beta: float, *, pool: int = 1, cone: bool = True) -> None:
        self.A = np.ascontiguousarray(A, dtype=float)
        self.M = np.asarray(masks, dtype=bool)
        self.y = np.asarray(y, dtype=float)
        self.loss, self.beta = loss, beta
        self.N, self.h = self.A.shape
        self.P = self.M.shape[1]
        self.pool = int(pool)
        self.n = self.N // self.pool
        self.cone = bool(cone)
        self.nb = 2 * self.P if cone else self.P
        self.step = max(1, _CHUNK_FLOATS // max(self.N, 1))
        #: sign and pattern of each block
        self.sign = np.concatenate([np.ones(self.P), -np.ones(self.P)]) if cone else np.ones(self.P)
        self.pat = np.tile(np.arange(self.P), 2) if cone else np.arange(self.P)
        self._pattern_norms: np.ndarray | None = None

    def normalized(self, scale_targets: bool) -> tuple[ReLUProgram, float, float]:
        r"""The same program on ``A / a`` and ``y / b`` with ``beta / (a b)``: ``a`` the
        spectral norm of ``A``, ``b`` the largest ``|y_i|`` (of the centered targets for a
        loss at the best offset, which a shift of the targets leaves unchanged; 1 without
        ``scale_targets``). Its blocks are ``a / b`` times these, its objective
        :math:`1/b^2` times this one's. Returns ``(program, a, b)``."""
        a = max(float(np.linalg.norm(self.A, 2)), 1e-300) if self.A.size else 1.0
        spread = self.y - self.y.mean() if self.loss.centered_offset and self.y.size else self.y
        b = max(float(np.abs(spread).max(initial=0.0)), 1e-300) if scale_targets else 1.0
        y = self.y / b if scale_targets else self.y
        beta = self.beta / (a * b) if scale_targets else self.beta / a
        return (ReLUProgram(self.A / a, self.M, y, self.loss, beta, pool=self.pool,
                            cone=self.cone), a, b)

    def pattern_norms(self) -> np.ndarray:
        r"""The spectral norms :math:`\|S D_i A\|_2` of every pattern's feature map (the
        Lipschitz constants of :math:`v \mapsto F_j^Tv`), computed once: the largest
        eigenvalue of each :math:`A^TD_iA` (``P`` Gram matrices by one product over the
        rows' outer products; the pooling sums the patch groups of a sample, so its norm is
        bounded by ``sqrt(pool)`` times that of the stacked rows)."""
        if getattr(self, "_pattern_norms", None) is None:
            h = self.h
            grams = np.zeros((self.P, h * h))
            step = max(1, _CHUNK_FLOATS // max(h * h, 1))
            for a in range(0, self.N, step):
                rows = self.A[a:a + step]
                grams += self.M[a:a + step].T.astype(float) @ \
                    (rows[:, :, None] * rows[:, None, :]).reshape(-1, h * h)
            top = np.linalg.eigvalsh(grams.reshape(self.P, h, h))[:, -1]
            self._pattern_norms = np.sqrt(np.maximum(top, 0.0) * self.pool)
        assert self._pattern_norms is not None
        return self._pattern_norms

    # -- pooling ---------------------------------------------------------------------------
    def pool_sum(self, r: np.ndarray) -> np.ndarray:
        """:math:`S r`: rows ``(N,)`` to samples ``(n,)``."""
        return r.reshape(self.pool, self.n).sum(axis=0) if self.pool > 1 else r

    def pool_adj(self, v: np.ndarray) -> np.ndarray:
        """:math:`S^T v`: samples ``(n,)`` to rows ``(N,)``."""
        return np.tile(v, self.pool) if self.pool > 1 else v

    def chunks(self):
        """Slices of pattern columns whose ``A z`` chunk fits the float budget."""
        for a in range(0, self.P, self.step):
            yield slice(a, min(a + self.step, self.P))

    # -- F0 = S sum_i D_i A u_i and its adjoint --------------------------------------------
    def F0(self, U: np.ndarray) -> np.ndarray:
        """:math:`S\\sum_i D_i A u_i` for blocks ``U`` ``(h, P)``."""
        rows = np.zeros(self.N)
        for c in self.chunks():
            rows += np.einsum("ij,ij->i", self.M[:, c], self.A @ U[:, c])
        return self.pool_sum(rows)

    def F0T(self, v: np.ndarray) -> np.ndarray:
        """:math:`(A^T D_i S^T v)_i` as ``(h, P)``."""
        r = self.pool_adj(v)
        out = np.empty((self.h, self.P))
        for c in self.chunks():
            out[:, c] = self.A.T @ (self.M[:, c] * r[:, None])
        return out

    def forward(self, Z: np.ndarray) -> np.ndarray:
        """:math:`Fz` for blocks ``Z`` ``(h, nb)``."""
        P = self.P
        return self.F0(Z[:, :P] - Z[:, P:]) if self.cone else self.F0(Z)

    # -- values and lower bound ------------------------------------------------------------
    def _predictions(self, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Program prediction, network prediction (neurons :math:`(Az_j)_+`; the program's
        for the gated program), cone violation and group norm at blocks ``Q``."""
        norms = np.linalg.norm(Q, axis=0)
        live = np.flatnonzero(norms > 0)
        rows_prog, rows_net = np.zeros(self.N), np.zeros(self.N)
        viol = 0.0
        for a in range(0, live.size, self.step):
            j = live[a:a + self.step]
            AQ = self.A @ Q[:, j]
            M = self.M[:, self.pat[j]]
            rows_prog += (M * AQ) @ self.sign[j]
            if self.cone:
                rows_net += np.maximum(AQ, 0.0) @ self.sign[j]
                viol = max(viol, float(np.max(-(2.0 * M - 1.0) * AQ, initial=0.0)))
        pred = self.pool_sum(rows_prog)
        # gated network: the gates are fixed, so the network is the program
        net = self.pool_sum(rows_net) if self.cone else pred
        return pred, net, viol, float(norms.sum())

    def network_prediction(self, Q: np.ndarray) -> np.ndarray:
        """The prediction ``(n,)`` of the network read off blocks ``Q``."""
        return self._predictions(Q)[1]

    def values(self, Q: np.ndarray) -> tuple[float, float, float, np.ndarray]:
        """Program objective, network objective, cone violation and program prediction at
        blocks ``Q``."""
        pred, net_pred, viol, norm = self._predictions(Q)
        pen = self.beta * norm
        prog = self.loss.value(pred, self.y) + pen
        if not self.cone:
            return prog, prog, 0.0, pred
        return prog, self.loss.value(net_pred, self.y) + pen, viol, pred

    def dual_bound(self, v: np.ndarray, dual_norm: float) -> tuple[float, float]:
        """``(value, s)``: the certified lower bound :math:`-L^*(-sv)` of a dual point ``v``
        whose dual norm (with its cone multipliers) is ``dual_norm``, at the best feasible
        scale ``s``."""
        return self.loss.scaled_dual_value(v, self.y, dual_norm, self.beta)


@dataclass
class ReLUResult:
    r"""Outcome of a solve of a :class:`ReLUProgram` by one method.

    Attributes
    ----------
    blocks : ndarray, shape (h, nb)
        The blocks returned (the last iterate, or the start when it was better).
    status : str
    method : {"admm", "atoms", "ipm"}
        The method that produced the blocks.
    iterations : int
        The method's iterations (ADMM) or rounds (atoms, active set).
    objective : float
        The objective of the network read off ``blocks``.
    program_objective : float
        The program's own objective at ``blocks``.
    lower_bound : float
        The best certified lower bound on the program's optimum.
    cone_violation : float
        :math:`\max_j \max((-(2D_j - I)Az_j)_+)` of ``blocks``.
    dual_point : ndarray
        The (feasible, scaled) dual point of the lower bound.
    solve_time : float
    statistics : dict
        The method's own counts: ADMM ``rho``, ``linear_solver``, ``cg_iterations``; atoms
        ``atoms`` (of the last master problem); interior point ``merit``; under ``"auto"``,
        ``handed_over`` when the atoms were finished by the interior point.
    history : list of (int, float, float)
        ``(iteration, seconds, relative gap)`` at every certificate.
    """

    blocks: np.ndarray
    status: str
    method: str
    iterations: int
    objective: float
    program_objective: float
    lower_bound: float
    cone_violation: float
    dual_point: np.ndarray
    solve_time: float
    statistics: dict[str, Any] = field(default_factory=dict)
    history: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def gap(self) -> float:
        return max(self.objective, self.program_objective) - self.lower_bound

    @property
    def relative_gap(self) -> float:
        return relative_gap(self.lower_bound, max(self.objective, self.program_objective))


def unscaled_result(blocks: np.ndarray, values, lower: float, dual_point: np.ndarray,
                    scale: float, ys: float, t0: float, **fields) -> ReLUResult:
    """The result in the caller's units of a solve of the :meth:`ReLUProgram.normalized`
    program (``A / scale``, ``y / ys``): ``values`` are the program objective, the network
    objective and the cone violation at ``blocks``; ``fields`` are the method's own
    (``status``, ``method``, ``iterations``, ``statistics``, ``history``)."""
    f = ys * ys
    return ReLUResult(
        blocks=blocks * (ys / scale), objective=values[1] * f,
        program_objective=values[0] * f, lower_bound=lower * f,
        cone_violation=values[2] * ys, dual_point=dual_point * ys,
        solve_time=time.perf_counter() - t0, **fields)


def top_rows(score: np.ndarray, blocks: np.ndarray, k: int,
             keep: np.ndarray | None = None) -> np.ndarray:
    """``(rows, blocks)`` of the ``k`` largest positive ``score`` entries per column
    (``score`` is ``N x len(blocks)``, e.g. the violations of each block's cone rows),
    skipping rows already kept (``keep``, ``N x nb``, when given)."""
    if keep is not None:
        score = np.where(keep[:, blocks], 0.0, score)
    k = min(k, score.shape[0])
    idx = np.argpartition(-score, k - 1, axis=0)[:k] if k < score.shape[0] else \
        np.broadcast_to(np.arange(score.shape[0])[:, None], score.shape)
    vals = np.take_along_axis(score, idx, axis=0)
    ok = vals > 0
    cols = np.broadcast_to(np.arange(score.shape[1]), idx.shape)
    return np.stack([idx[ok], blocks[cols[ok]]])
