r"""A primal-dual interior-point method on the whole two-layer ReLU program with the squared,
the logistic or the hinge loss, whose Newton systems go through the ``n`` samples.

The program, one output at a time (:class:`.program.ReLUProgram`), with epigraph variables
:math:`t_j \ge \|z_j\|` (and, for the hinge loss, slacks :math:`\xi_i \ge 0` with
:math:`y_i(Fz)_i + \xi_i \ge 1`):

.. math::

    \min_{z, t}\; L(Fz) + \beta\sum_j t_j
    \quad\text{or}\quad \min_{z, t, \xi}\; \textstyle\sum_i \xi_i + \beta\sum_j t_j
    \quad\text{s.t.}\quad (t_j, z_j) \in \mathcal Q^{h+1},\quad
    G_j z_j \ge 0 \ \text{(cone-constrained program only)} ,

``L`` the squared or the logistic loss (either at the best offset of an intercept). With an
intercept, the hinge loss's margins are :math:`y_i((Fz)_i + c) + \xi_i \ge 1` with the
offset ``c`` one more, free, variable (:class:`_Structure`).

It is solved by Mehrotra's predictor-corrector with Nesterov-Todd scaling (the method of
CVXOPT's ``coneqp``; for the logistic loss, as in CVXOPT's ``cp``, its gradient and Hessian
at each iterate take the place of the quadratic's), with Gondzio's centrality correctors
on the cone rows when they cut the step short (they hold the step to 0.2-0.5 in the middle
of a run; the correctors reuse the factor: at (1000, 20, 100), 45 -> 39 iterations on the
squared loss and 45 -> 41 on the logistic loss at 0.001 ``beta_max``, 110 -> 88 on the hinge
loss at 0.01). With the slacks eliminated, every
Newton system has the matrix :math:`B + F^TWF`: ``B`` block diagonal, one
:math:`(h+1)`-square block per :math:`(t_j, z_j)` (the weighted Gram matrix
:math:`A^T\operatorname{diag}(\mu_j/s_j)A` of the block's cone rows plus the scaling of
its second-order cone), and ``W`` the loss's Hessian on the samples: the identity for the
squared loss, :math:`\operatorname{diag}(\sigma_i(1 - \sigma_i))` for the logistic one,
:math:`d_\xi d_m/(d_\xi + d_m)` from the weights of the slack and margin rows for the
hinge loss; at the best offset, :math:`W^{1/2}\Pi_uW^{1/2}` with the projection
:math:`\Pi_u` off the unit vector along :math:`W^{1/2}1`. By the Woodbury identity

.. math::

    (B + F^TWF)^{-1} = B^{-1} - B^{-1}F^T\,(W^{-1} + FB^{-1}F^T)^{-1}\,FB^{-1},
    \qquad FB^{-1}F^T = \sum_j F_j S_j^{-1} F_j^T = YY^T,

with :math:`S_j` the Schur complement of :math:`t_j` in block ``j`` and
:math:`Y = [F_1L_1^{-T} \cdots]` (:math:`S_j = L_jL_j^T`): one ``n``-square Cholesky factor
per iteration, formed by one symmetric rank-:math:`h n_b` product. In the cone-constrained
program the two blocks of a pattern (both signs) share :math:`F_j = \pm D_pA`, so their terms
merge, :math:`D_pA(S_{p+}^{-1} + S_{p-}^{-1})A^TD_p`, and the product has rank
:math:`hP = h n_b/2` (:func:`merges_signs`: (1000, 20, 100) at 0.001 ``beta_max``, 9.4 ->
7.4 s). An iteration costs about
:math:`n^2 h\,n_b + N h^2 n_b` flops (``n_b`` blocks) whatever ``beta`` is, and the number
of iterations barely depends on it either; memory is ``n x h n_b`` floats for ``Y`` and a
few ``N x n_b`` for the cone rows' slacks and multipliers (:func:`predict_memory`).

**Certificate.** Each iterate ``z`` is scored like every method's
(:meth:`.program.ReLUProgram.values`); its dual point is the loss's negative gradient
:math:`v = -\nabla L(Fz)` (the residual for the squared loss; hinge: :math:`y` times the
margins' multipliers) with the iterate's cone multipliers
:math:`\mu`, which weak duality turns into a lower bound after scaling
(:meth:`.program.ReLUProgram.dual_bound` with the dual norm
:math:`\max_j\|\sigma_jF_j^Tv + G_j^T\mu_j\|`). The method stops on that certified gap.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.linalg as sla
from scipy.linalg.blas import dsyrk

from ...._units import available_memory
from ....losses import HingeLoss, LogisticLoss, SquaredLoss
from ..cones import NesterovToddScaling, SecondOrderCones
from ..linalg import callers_threads, on_one_blas_thread
from .program import ReLUProgram, ReLUResult, unscaled_result

__all__ = ["solve_relu_ipm", "predict_memory", "merges_signs", "DEFAULT_MAX_ITERS"]

#: Iteration cap when the caller gives none (the certified gap stops the method first).
DEFAULT_MAX_ITERS = 200

#: Fraction of the step to the boundary of the cones that is taken.
STEP_FRACTION = 0.99

#: Factor the ``D x D`` Newton matrix itself instead of the Woodbury form's ``n x n`` one
#: when the blocks hold fewer unknowns ``D`` than this many times the samples ``n``.
DIRECT_BELOW = 1.0

#: Gondzio's centrality correctors per iteration, while the step is below
#: ``CORRECTOR_BELOW`` (not in the fast final iterations): each aims the nonnegative rows'
#: complementarity products at the step ``a + CORRECTOR_REACH`` into
#: ``[CENTRAL_LOW, CENTRAL_HIGH]`` times the target ``sigma mu`` by one more solve with the
#: same factor (``CORRECTOR_REFINE`` refinement steps), and is kept when it lengthens the
#: step by ``CORRECTOR_GAIN CORRECTOR_REACH``.
CORRECTORS = 4
CORRECTOR_REACH = 0.3
CORRECTOR_GAIN = 0.1
CORRECTOR_REFINE = 0
CORRECTOR_BELOW = 0.5
CENTRAL_LOW, CENTRAL_HIGH = 0.2, 5.0

#: Merge the two signs' columns of a pattern in the Woodbury form's ``n x n`` product (one
#: ``h x h`` factor per pattern, :func:`_merged_factor`) when ``n`` exceeds this many ``h``:
#: the product's flops halve, for a few batched ``h``-square products per pattern.
MERGE_SIGNS_ABOVE = 4

#: Iterative-refinement steps per Newton solve, at most (the Woodbury solve loses digits as
#: the scaling degenerates near the optimum): they go on while each shrinks the system's
#: residual to at most ``REFINEMENT_CONTRACTION`` of the last one (2 fixed steps left the
#: hinge loss with an offset on wine at gap 7e-6, where the Woodbury iterates broke down; 5
#: reached 1e-7).
REFINEMENT_STEPS = 6
REFINEMENT_CONTRACTION = 0.5
#: ... and while the residual is above this fraction of the right-hand side's norm (below
#: it, the next step would only stir rounding: most solves stop after one or two).
REFINEMENT_FLOOR = 1e-14

#: Iterations without a better merit, once it is below :data:`STALL_MERIT`, after which the
#: best iterate stands: rounding has taken over.
STALL_ITERATIONS = 3
STALL_MERIT = 1e-6

#: A merit this many times the best one, once the best is below :data:`BLOWUP_FROM`, is a
#: numerical breakdown: the method resumes from the iterate of the best merit with the
#: blocks regularized, then with the ``D x D`` matrix factored itself (:func:`_resume`),
#: or stops with its best certified iterate.
BLOWUP_FACTOR = 10.0
BLOWUP_FROM = 1e-2

#: The direct factor after breakdowns that regularization did not cure only when ``D`` is
#: at most this many times ``n`` (its iterations then cost at most about ten of the
#: Woodbury form's).
DIRECT_MAX_RATIO = 8

#: A breakdown resumes with this multiple of the identity added to every block's Schur
#: complement :math:`S_j` in the Woodbury form (static regularization, as Clarabel's; the
#: program is normalized, so its scale is fixed): :math:`B^{-1}`, whose cancellation
#: against :math:`B^{-1}F^TC^{-1}FB^{-1}` broke the solve, stays below its inverse, and
#: iterative refinement against the unregularized system (:data:`REFINEMENT_STEPS`) takes
#: most of it back out. Measured: the hinge loss on breast_cancer, P = 500, 0.001
#: ``beta_max`` (``D`` too large for the direct factor) ended ``error`` at gap 3.7e-5 (a
#: jump of the dual residual to 4e-2 at iteration 51), and is certified so; on (1000, 20,
#: 100) at 0.01 / 0.001 it is certified in 16.5 / 15.6 s where resuming with the direct
#: factor took 21 / 24 s (same iterations); on 24 breast_cancer and digits subsets with
#: breakdowns both certified alike. With 1e-8 from the first iteration on, digits 3-vs-8
#: at 0.001 stalled at 2.4e-6 where it was certified without: hence only after a
#: breakdown.
REGULARIZATION = 1e-8
REGULARIZATION_GROWTH = 100.0
REGULARIZATION_MAX = 1e-6

#: Bytes per float of the ``D x D`` matrix and the ``n x D`` features of the direct solve
#: (a few copies), for the memory check before switching to it after a breakdown.
DIRECT_BYTES = 8 * 3

#: Floats of one chunk of the rows' outer products in the Gram sums.
_CHUNK_FLOATS = 1 << 23


def predict_memory(N: int, n: int, h: int, nb: int, cone: bool = True) -> int:
    """Peak bytes of :func:`solve_relu_ipm`: ``Y`` (``n x h nb``) and its ``n``-square
    product, the per-block matrices, a dozen vectors of the cone rows (``N x nb``) and
    the chunked outer products of the rows."""
    rows = 12 * N * nb if cone else 0
    return int(8 * (2 * n * h * nb + 2 * n * n + 6 * nb * (h + 1) ** 2 + rows
                    + min(_CHUNK_FLOATS, N * h * h) + 8 * h * nb))


class _Structure:
    r"""The conic form of a :class:`ReLUProgram`, :math:`\min \tfrac12 x^TPx + q^Tx` s.t.
    :math:`Gx + s = h`, ``s`` in the cones, with ``x = (z, t, xi, c)``: the blocks ``z``
    (block-major, block ``j`` at ``[j h, (j+1) h)``), one ``t_j`` per block, and for the hinge
    loss one slack :math:`\xi_i \ge (1 - y_i((Fz)_i + c))_+` per sample and, at the best
    offset of an intercept, the free offset ``c`` itself. Nonnegative rows: the cone rows
    (``(nb, N)`` flattened), then for the hinge loss :math:`\xi \ge 0` and the margins
    :math:`y \circ (Fz + c) + \xi \ge 1`; second-order cones :math:`(t_j, z_j)` end to end.
    """

    def __init__(self, pr: ReLUProgram) -> None:
        self.pr = pr
        self.hinge = isinstance(pr.loss, HingeLoss)
        self.h, self.nb, self.N, self.n = pr.h, pr.nb, pr.N, pr.n
        self.D = pr.nb * pr.h
        self.K = pr.N * pr.nb if pr.cone else 0
        self.nxi = pr.n if self.hinge else 0
        self.L = self.K + 2 * self.nxi  # nonnegative rows
        self.cones = SecondOrderCones(pr.nb, pr.h + 1)
        tail = np.ones(self.D + self.nb, dtype=bool)
        tail[self.cones.heads] = False
        var = np.empty(self.D + self.nb, dtype=int)
        var[self.cones.heads] = self.D + np.arange(self.nb)
        var[tail] = np.arange(self.D)
        self.var, self.inv_var = var, np.argsort(var)
        self.signs = (2.0 * pr.M - 1.0)[:, pr.pat] if pr.cone else None  # (N, nb)
        self.hl = np.zeros(self.L)
        if self.hinge:
            self.hl[self.K + self.nxi:] = -1.0
        #: the logistic loss: its gradient and Hessian change with the iterate (at_point)
        self.logistic = isinstance(pr.loss, LogisticLoss)
        #: the loss at the best offset (an intercept): the offset eliminated from the
        #: Hessian, a projection off the unit vector ``u`` of the samples' weights; the
        #: hinge loss carries it as one free variable instead (``free``), which borders the
        #: samples' matrix of each Newton solve (:meth:`_woodbury_solve`) or the direct
        #: factor (:meth:`_direct_solve`)
        self.center = bool(pr.loss.centered_offset) and not self.hinge
        self.free = 1 if self.hinge and pr.loss.centered_offset else 0
        #: the square roots of the logistic loss's Hessian weights on the samples at the
        #: current point (``None``: the squared loss's, all ones), their squared sum, and
        #: the loss's value there (:meth:`at_point`)
        self.root_w: np.ndarray | None = None
        self.w_sum = float(self.n)
        self.value = math.nan
        self.q_z = np.zeros(self.D) if self.hinge else \
            -self.FT(pr.loss.dual_point(np.zeros_like(pr.y), pr.y))
        #: the rows' signed mask of every block, (N, nb)
        self.sign_masks = pr.M[:, pr.pat] * pr.sign
        #: factor the D x D Newton matrix whatever D is (after a breakdown of the Woodbury
        #: form, whose n x n matrix loses the digits of extreme hinge weights)
        self.direct = False
        #: added to the blocks' Schur complements after a breakdown (:func:`_resume`);
        #: iterative refinement solves the unregularized system with it
        self.regularization = 0.0
        self._features: np.ndarray | None = None

    # -- data ------------------------------------------------------------------------------
    def blocks(self, z: np.ndarray) -> np.ndarray:
        return z.reshape(self.nb, self.h).T

    def F(self, z: np.ndarray) -> np.ndarray:
        return self.pr.forward(self.blocks(z))

    def FT(self, v: np.ndarray) -> np.ndarray:
        G0 = self.pr.F0T(v)
        return (np.hstack([G0, -G0]) if self.pr.cone else G0).T.reshape(-1)

    def at_point(self, z: np.ndarray) -> None:
        r"""The logistic loss's value, gradient :math:`-F^Tv` and Hessian weights at the
        iterate ``z`` (:meth:`~sdpnets.losses.LogisticLoss.second_order`, at the best
        offset with an intercept); the others' Hessians are constant."""
        if not self.logistic:
            return
        loss = self.pr.loss
        assert isinstance(loss, LogisticLoss)  # self.logistic
        self.value, v, w = loss.second_order(self.F(z), self.pr.y)
        self.q_z = -self.FT(v)  # the gradient itself
        w = np.maximum(w, 1e-300)
        self.root_w, self.w_sum = np.sqrt(w), float(w.sum())

    def _root_times(self, r: np.ndarray) -> np.ndarray:
        """:math:`W^{1/2} r` on the samples (rows of ``r``)."""
        if self.root_w is None:
            return r
        return self.root_w.reshape((-1,) + (1,) * (r.ndim - 1)) * r

    def project(self, r: np.ndarray) -> np.ndarray:
        r""":math:`\Pi_u r = r - u(u^Tr)` on the samples (rows of ``r``), ``u`` the unit
        vector along :math:`W^{1/2}1` (the centering for the squared loss); ``r`` itself
        without an intercept."""
        if not self.center:
            return r
        root = np.ones(1) if self.root_w is None else self.root_w
        along = self._root_times(r).sum(axis=0) / self.w_sum  # u^T r / ||W^1/2 1||
        return r - root.reshape((-1,) + (1,) * (r.ndim - 1)) * along

    def weighted(self, r: np.ndarray) -> np.ndarray:
        r""":math:`\Pi_u W^{1/2} r` for samples' values ``r`` (rows of ``r``): the loss's
        Hessian on the samples, :math:`W^{1/2}\Pi_uW^{1/2}` (:math:`W - ww^T/1^Tw` at the
        best offset), is its transpose times itself."""
        return self.project(self._root_times(r))

    def P(self, z: np.ndarray) -> np.ndarray:
        r"""The objective's Hessian on ``z`` (:math:`F^TW^{1/2}\Pi_uW^{1/2}F` for the
        squared and logistic losses, at the current point, else 0)."""
        if self.hinge:
            return np.zeros_like(z)
        return self.FT(self._root_times(self.weighted(self.F(z))))

    def split(self, x: np.ndarray):
        """``(z, t, xi, c)``: ``xi`` and ``c`` empty where the program has none."""
        D, nb, e = self.D, self.nb, self.D + self.nb + self.nxi
        return x[:D], x[D:D + nb], x[D + nb:e], x[e:]

    # -- the constraint map ------------------------------------------------------------------
    def G(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z, t, xi, c = self.split(x)
        parts = []
        if self.K:
            parts.append(-(self.signs * (self.pr.A @ self.blocks(z))).T.reshape(-1))
        if self.hinge:
            parts += [-xi, -self.pr.y * (self.F(z) + c.sum()) - xi]
        g_l = np.concatenate(parts) if parts else np.zeros(0)
        return g_l, -np.concatenate([z, t])[self.var]

    def rows_T(self, v_rows: np.ndarray) -> np.ndarray:
        r""":math:`G_j^T\mu_j` as ``(h, nb)``."""
        return self.pr.A.T @ (self.signs * v_rows.reshape(self.nb, self.N).T)

    def GT(self, v_l: np.ndarray, v_q: np.ndarray) -> np.ndarray:
        back = -v_q[self.inv_var]
        gz, gt = back[:self.D], back[self.D:]
        if self.K:
            gz = gz - self.rows_T(v_l[:self.K]).T.reshape(-1)
        if not self.hinge:
            return np.concatenate([gz, gt])
        v_x, v_m = v_l[self.K:self.K + self.nxi], v_l[self.K + self.nxi:]
        gz = gz - self.FT(self.pr.y * v_m)
        gc = np.full(self.free, -float(self.pr.y @ v_m))
        return np.concatenate([gz, gt, -v_x - v_m, gc])

    def q(self) -> np.ndarray:
        """The linear part of the objective (the gradient at the current point for the
        logistic loss)."""
        return np.concatenate([self.q_z, np.full(self.nb, self.pr.beta), np.ones(self.nxi),
                               np.zeros(self.free)])

    def residuals(self, x, s_l, s_q, y_l, y_q):
        """Dual residual :math:`\nabla f(x) + G^Ty` (:math:`Px + q` for the quadratic
        objectives), primal :math:`Gx + s - h`, and the cost (the logistic loss's gradient
        and Hessian are taken at ``x`` first, :meth:`at_point`)."""
        z, t, xi, c = self.split(x)
        self.at_point(z)
        Pz = np.zeros_like(z) if self.logistic else self.P(z)
        q = self.q()
        rx = np.concatenate([Pz, np.zeros(self.nb + self.nxi + self.free)]) + q \
            + self.GT(y_l, y_q)
        g_l, g_q = self.G(x)
        if self.logistic:
            cost = self.value + self.pr.beta * float(t.sum())
        else:
            cost = 0.5 * float(z @ Pz) + float(q @ x)
        return rx, s_l + g_l - self.hl, s_q + g_q, cost

    # -- the Newton system -----------------------------------------------------------------
    def _row_grams(self, d: np.ndarray) -> np.ndarray:
        r""":math:`A^T\operatorname{diag}(d_j)A` for every block, ``(nb, h, h)``: the rows'
        outer products :math:`a_ia_i^T` times the weights, one product per chunk of rows."""
        A, h = self.pr.A, self.h
        out = np.zeros((self.nb, h * h))
        step = max(1, _CHUNK_FLOATS // (h * h))
        for a in range(0, self.N, step):
            rows = A[a:a + step]
            out += d[:, a:a + step] @ (rows[:, :, None] * rows[:, None, :]).reshape(-1, h * h)
        return out.reshape(self.nb, h, h)

    def factor(self, d_l: np.ndarray, W2: np.ndarray):
        r"""The solve of :math:`(P + G^TW^{-2}G)x = r` (module docstring) for the
        nonnegative rows' weights ``d_l`` and the cones' :math:`W^{-2}` blocks ``W2``
        (``(nb, h+1, h+1)``, head :math:`t_j` first)."""
        h, nb, pr, D = self.h, self.nb, self.pr, self.D
        Bk = W2.copy()  # per block, (t_j, z_j) order
        if self.K:
            Bk[:, 1:, 1:] += self._row_grams(d_l[:self.K].reshape(nb, self.N))
        btt, bzt = Bk[:, 0, 0], Bk[:, 1:, 0]
        S = Bk[:, 1:, 1:] - bzt[:, :, None] * bzt[:, None, :] / btt[:, None, None]
        S = 0.5 * (S + np.transpose(S, (0, 2, 1)))
        if self.hinge:  # the slacks xi eliminated: weights of the margins on F
            d_x, d_m = d_l[self.K:self.K + self.nxi], d_l[self.K + self.nxi:]
            d_xm = d_x + d_m
            weight = d_x * d_m / d_xm
        else:
            weight = np.ones(self.n)
        direct = self.direct or D < DIRECT_BELOW * self.n
        if self.regularization:
            S = S + self.regularization * np.eye(h)
        solve_zt = (self._direct_solve if direct else self._woodbury_solve)(S, btt, bzt, weight)

        def solve(r: np.ndarray) -> np.ndarray:
            r_z, r_t, r_xi, r_c = self.split(r)
            if self.hinge:  # xi = (r_xi - d_m y (F z + c)) / (d_x + d_m)
                r_z = r_z - self.FT(pr.y * d_m * r_xi / d_xm)
                r_c = r_c - float(pr.y @ (d_m * r_xi / d_xm))
            z, t, c = solve_zt(r_z.reshape(nb, h), r_t, r_c)
            parts = [z, t]
            if self.hinge:
                parts.append((r_xi - d_m * pr.y * (self.F(z) + c.sum())) / d_xm)
            parts.append(c)
            return np.concatenate(parts)

        return solve

    def _woodbury_solve(self, S: np.ndarray, btt: np.ndarray, bzt: np.ndarray,
                        weight: np.ndarray):
        r"""``(r_z, r_t, r_c) -> (z, t, c)`` of the Newton system with the heads
        :math:`t_j` eliminated, through the samples: the blocks' inverse factors and one
        ``n x n`` Cholesky factor of :math:`C = W^{-1} + FB^{-1}F^T` (module docstring).
        The hinge loss's free offset ``c`` (empty without one) borders the system in the
        samples' space: with :math:`p = W(Fz + 1c)`, :math:`Cp - 1c = FB^{-1}r_z` and
        :math:`1^Tp = r_c`, so :math:`c = (r_c - 1^TC^{-1}FB^{-1}r_z) / 1^TC^{-1}1`, a
        positive denominator (no cancellation, unlike the complement of ``c`` in the
        blocks' space)."""
        h, nb, pr = self.h, self.nb, self.pr
        Linv = _inverse_factor(S)  # Linv^T Linv = S^{-1}
        # Y_j = W^1/2 F_j L_j^{-T}: sign_j S D_{p(j)} A L_j^{-T}, all blocks in one product;
        # the two signs of a pattern share D_p A, so their columns merge into D_p A X_p^T
        # with X_p^T X_p = S_{p+}^{-1} + S_{p-}^{-1} (half the n-square product's flops)
        X, masks = Linv, self.sign_masks
        if merges_signs(pr):
            X, masks = _merged_factor(Linv, pr.P), pr.M
        m = X.shape[0]
        with callers_threads():
            AL = (pr.A @ np.transpose(X, (2, 0, 1)).reshape(h, m * h)).reshape(
                self.N, m, h)
        AL *= masks[:, :, None]
        Y = AL.reshape(self.N, m * h)
        if pr.pool > 1:
            Y = Y.reshape(pr.pool, pr.n, m * h).sum(axis=0)
        if not self.hinge:  # Pi_u W^1/2 F: the loss's Hessian on the samples, factored
            Y = self.weighted(Y)
        with callers_threads():  # the large product and factor: threads pay
            # hinge: W^-1 + F B^-1 F^T, well scaled for huge weights; else I + Y Y^T
            # Y Y^T, handed to BLAS as the Fortran-ordered Y^T: a C-ordered Y is copied
            # (transposed) first, n x h n_b floats per iteration, which took up to 1 s
            # beside the product's 0.15 s (breast_cancer, P = 500, hinge at 0.001: the
            # interior point alone 41 -> 31 s)
            C = dsyrk(1.0, Y.T, trans=1, lower=1)
            C[np.diag_indices_from(C)] += 1.0 / weight
            Cf = sla.cho_factor(C, lower=True, check_finite=False)

        def block_solve(rz: np.ndarray, rt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            # batched matrix-vector products (matmul: faster than einsum with many blocks)
            w = np.matmul(Linv, (rz - bzt * (rt / btt)[:, None])[:, :, None])
            xz = np.matmul(w[:, :, 0][:, None, :], Linv)[:, 0, :]
            return xz, (rt - np.einsum("bi,bi->b", bzt, xz)) / btt

        if self.free:
            C1 = sla.cho_solve(Cf, np.ones(self.n), check_finite=False)
            C1_sum = float(C1.sum())

        def solve_zt(rz: np.ndarray, rt: np.ndarray, rc: np.ndarray):
            xz, xt = block_solve(rz, rt)
            Fx = self.F(xz.reshape(-1))
            u = sla.cho_solve(Cf, Fx if self.hinge else self.weighted(Fx),
                              check_finite=False)
            c = np.zeros(self.free)
            if self.free:
                c[:] = (float(rc.sum()) - float(u.sum())) / C1_sum
                u = u + c[0] * C1
            back = self._root_times(self.project(u))
            cz, ct = block_solve(self.FT(back).reshape(nb, h), np.zeros(nb))
            return (xz - cz).reshape(-1), xt - ct, c

        return solve_zt

    def _direct_solve(self, S: np.ndarray, btt: np.ndarray, bzt: np.ndarray,
                      weight: np.ndarray):
        r"""``(r_z, r_t, r_c) -> (z, t, c)`` with the ``D x D`` matrix
        :math:`\operatorname{blockdiag}(S_j) + F^TWF` factored itself (with the hinge loss's
        free offset, one more row and column: ``F`` gains a column of ones): the choice
        when the blocks hold fewer unknowns than there are samples (a small working set),
        where the Woodbury form's ``n``-square factor would cost more, and after a
        breakdown of that form."""
        h, nb, D = self.h, self.nb, self.D
        Fm = self.features()
        if self.free:  # the hinge loss's free offset: one more column, of ones
            Fm = np.hstack([Fm, np.ones((self.n, 1))])
        Fw = Fm * np.sqrt(weight)[:, None] if self.hinge else self.weighted(Fm)
        with callers_threads():  # the large product and factor: threads pay
            H = dsyrk(1.0, Fw.T, lower=1)  # Fw^T Fw, without a copy (as above)
            rows = (np.arange(nb) * h)[:, None, None] + np.arange(h)[None, :, None]
            H[rows, np.transpose(rows, (0, 2, 1))] += S  # the blocks' diagonal squares
            Hf = sla.cho_factor(H, lower=True, check_finite=False)

        def solve_zt(rz: np.ndarray, rt: np.ndarray, rc: np.ndarray):
            zc = sla.cho_solve(Hf, np.concatenate([(rz - bzt * (rt / btt)[:, None])
                                                   .reshape(-1), rc]), check_finite=False)
            z = zc[:D]
            return z, (rt - np.einsum("bi,bi->b", bzt, z.reshape(nb, h))) / btt, zc[D:]

        return solve_zt

    def features(self) -> np.ndarray:
        r""":math:`F` as a dense ``n x D`` matrix, built once."""
        if self._features is None:
            pr = self.pr
            Fm = (pr.A[:, None, :] * self.sign_masks[:, :, None]).reshape(self.N, self.D)
            if pr.pool > 1:
                Fm = Fm.reshape(pr.pool, pr.n, self.D).sum(axis=0)
            self._features = Fm
        return self._features

    # -- certificate -------------------------------------------------------------------------
    def certificate(self, x: np.ndarray, y_l: np.ndarray):
        """``(values, lower bound, dual point)`` of the iterate ``x`` with the nonnegative
        rows' multipliers ``y_l`` (:meth:`ReLUProgram.values`, :meth:`ReLUProgram.
        dual_bound`): the dual point is the residual (squared loss) or ``y`` times the
        margins' multipliers clipped to [0, 1] (hinge), with the cone rows' multipliers."""
        pr = self.pr
        z = self.split(x)[0]
        vals = pr.values(self.blocks(z))
        if self.hinge:  # balanced (1^T v = 0) at the best offset
            v = pr.loss.into_domain(pr.y * y_l[self.K + self.nxi:], pr.y)
        else:
            v = pr.loss.dual_point(vals[3], pr.y)
        C = self.FT(v).reshape(self.nb, self.h).T
        if self.K:
            C = C + self.rows_T(np.maximum(y_l[:self.K], 0.0))
        norm = float(np.linalg.norm(C, axis=0).max(initial=0.0))
        lower, s = pr.dual_bound(v, norm)
        return vals, lower, s * v


@on_one_blas_thread
def solve_relu_ipm(program: ReLUProgram, *, start: np.ndarray | None = None,
                   tol: float = 1e-8, max_iters: int | None = None,
                   time_limit: float | None = None, log: Any = None,
                   progress: Any = None) -> ReLUResult:
    r"""Solve a :class:`.program.ReLUProgram` with the squared, logistic or hinge loss
    (cone-constrained or gated) by the interior-point method of the module docstring.

    Parameters
    ----------
    program : ReLUProgram
    start : ndarray, optional
        Not used by the iterations (an interior-point method starts from its own central
        point); the result is never worse than ``start`` when one is given.
    tol : float
        Relative certified gap at which to stop.
    max_iters : int, optional
        Iterations before ``"iteration_limit"``.
    time_limit : float, optional
        Seconds before ``"time_limit"``: no iteration starts that the last one's duration
        says would end past it.
    log : logging.Logger, optional
        Progress at every iteration (debug level).
    progress : callable, optional
        Called with the certified relative gap at every iteration.

    Returns
    -------
    ReLUResult
        ``method="ipm"``; ``statistics["merit"]`` is the last largest relative residual or
        gap of the conic form, ``statistics["direct"]`` and ``["regularization"]`` say how
        the Newton systems were solved at the end (after a breakdown, :func:`_resume`).
        ``status`` is ``"optimal"`` (certified gap at most ``tol``),
        ``"time_limit"``, ``"iteration_limit"``, or, when rounding stops progress first,
        ``"optimal_inaccurate"`` (gap at most ``10 tol``) or ``"error"``. The many small
        products and solves run on one BLAS thread, the ``n``-square (or ``D``-square)
        product and factorization on the caller's threads
        (:func:`~sdpnets.backends.firstorder.linalg.single_threaded`; measured on two
        cores: (1000, 20, 100) at 0.001 ``beta_max`` 12.6 s on two threads throughout, 9.5
        s on one and so; the gated (4000, 50, 200) at 0.1 46 s on one, 27 s so).
    """
    t0 = time.perf_counter()
    if not isinstance(program.loss, (SquaredLoss, HingeLoss, LogisticLoss)):
        raise ValueError("the interior-point method solves the squared, logistic and hinge "
                         "losses")
    pr, scale, ys = program.normalized(scale_targets=isinstance(program.loss, SquaredLoss))
    st = _Structure(pr)
    D, nb, L, cones = st.D, st.nb, st.L, st.cones
    deg = L + nb
    qnorm = max(float(np.linalg.norm(st.q_z)), pr.beta * math.sqrt(nb), math.sqrt(st.nxi), 1.0)
    cap = DEFAULT_MAX_ITERS if max_iters is None else int(max_iters)

    # start: the solution with identity scaling, shifted into the cones
    e = np.zeros(D + nb)
    e[cones.heads] = 1.0
    st.at_point(np.zeros(D))
    solve = st.factor(np.ones(L), NesterovToddScaling(cones, e, e).inverse_square())
    x = solve(-st.q() + st.GT(st.hl, np.zeros(D + nb)))
    g_l, g_q = st.G(x)
    s_l, s_q = st.hl - g_l, -g_q
    y_l, y_q = g_l - st.hl, g_q.copy()
    for s_lin, s_soc in ((s_l, s_q), (y_l, y_q)):
        low = min(float(s_lin.min(initial=math.inf)), float(cones.min_eig(s_soc).min()))
        if low <= 0:
            s_lin += 1.0 - low
            s_soc[cones.heads] += 1.0 - low

    last_good = None  # the iterate of the best merit so far
    singular = False  # the last Newton matrix could not be factored
    best = None  # (certified relative gap, values, lower, dual point, z)
    history: list[tuple[int, float, float]] = []
    best_merit, since = math.inf, 0
    status, it, merit, last = "iteration_limit", 0, math.inf, 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for it in range(1, cap + 1):
            began = time.perf_counter()
            rx, rs_l, rs_q, pcost = st.residuals(x, s_l, s_q, y_l, y_q)
            gap = float(s_l @ y_l) + float(s_q @ y_q)
            pres = math.sqrt(float(rs_l @ rs_l) + float(rs_q @ rs_q))
            dres = float(np.linalg.norm(rx)) / qnorm
            merit = max(pres, dres, gap / max(abs(pcost), 1.0))
            if singular or not math.isfinite(merit) or \
                    (best_merit <= BLOWUP_FROM and merit > BLOWUP_FACTOR * best_merit):
                # rounding broke the Newton system or the iterates (seen in the Woodbury
                # form with the hinge loss at a small beta): they do not come back. Resume
                # from the iterate of the best merit with the blocks regularized, then
                # with the D x D matrix factored itself where it fits; else the best
                # stands.
                resumed = _resume(st, last_good)
                if log is not None:
                    log.debug("relu ipm iteration %d: numerical breakdown (merit %.1e); %s",
                              it, merit, "stopping" if resumed is None else
                              "resuming with the direct factor" if st.direct else
                              f"resuming with regularization {st.regularization:.0e}")
                if resumed is None:
                    status = _unfinished(best, tol)
                    break
                (x, s_l, s_q, y_l, y_q), best_merit, singular = resumed, math.inf, False
                continue
            vals, lower, point = st.certificate(x, y_l)
            rel = _relative(lower, max(vals[0], vals[1]))
            history.append((it, time.perf_counter() - t0, rel))
            if best is None or rel < best[0]:
                best = (rel, vals, lower, point, st.split(x)[0].copy())
            if progress is not None:
                progress(rel)
            if log is not None:
                log.debug("relu ipm iteration %d: upper %.10g lower %.10g rel gap %.2e merit "
                          "%.1e", it, max(vals[0], vals[1]) * ys * ys, lower * ys * ys, rel,
                          merit)
            if rel <= tol and vals[2] <= tol * max(1.0, float(np.abs(vals[3]).max())):
                status = "optimal"
                break
            if merit < best_merit:
                best_merit, since = merit, 0
                last_good = (x, s_l, s_q, y_l, y_q)  # the iterate of the best merit
            elif best_merit <= STALL_MERIT:
                since += 1
            if since >= STALL_ITERATIONS:
                status = _unfinished(best, tol)
                break
            if time_limit is not None and time.perf_counter() - t0 + last >= time_limit:
                status = "time_limit"
                break
            try:
                x, s_l, s_q, y_l, y_q = _step(st, (x, s_l, s_q, y_l, y_q), (rx, rs_l, rs_q),
                                              gap / deg)
            except np.linalg.LinAlgError:  # handled at the next iteration's top
                singular = True
            last = time.perf_counter() - began
    if best is None:
        vals, lower, point = st.certificate(x, y_l)
        best = (math.inf, vals, lower, point, st.split(x)[0])
    _, vals, lower, point, zb = best
    blocks = st.blocks(zb)
    if start is not None:  # never worse than the start
        Z0 = np.asarray(start, dtype=float) * (scale / ys)
        v0 = pr.values(Z0)
        if max(v0[0], v0[1]) < max(vals[0], vals[1]):
            blocks, vals = Z0, v0
    return unscaled_result(blocks, vals[:3], lower, point, scale, ys, t0, status=status,
                           method="ipm", iterations=it,
                           statistics={"merit": merit, "direct": st.direct,
                                       "regularization": st.regularization},
                           history=history)


def _inverse_factor(S: np.ndarray) -> np.ndarray:
    r"""``M`` with :math:`M^TM = S_j^{-1}` for a stack of symmetric positive-definite
    blocks ``S`` ``(nb, h, h)``: the inverse of the lower Cholesky factor; when rounding
    made a block indefinite, every block takes its eigenvalues instead, floored at a tiny
    fraction of the largest."""
    try:
        return np.linalg.inv(np.linalg.cholesky(S))
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(S)
        w = np.maximum(w, 1e-14 * np.maximum(w[:, -1:], 1e-300))
        return np.transpose(V, (0, 2, 1)) / np.sqrt(w)[:, :, None]


def merges_signs(program: ReLUProgram) -> bool:
    """Whether the Woodbury form merges the two signs' columns of each pattern (a
    cone-constrained program with ``n`` over :data:`MERGE_SIGNS_ABOVE` ``h``): its
    ``n``-square product then has ``P h`` columns instead of ``2 P h``."""
    return program.cone and program.n > MERGE_SIGNS_ABOVE * program.h


def _merged_factor(Linv: np.ndarray, P: int) -> np.ndarray:
    r"""``X`` ``(P, h, h)`` with :math:`X_p^TX_p = S_p^{-1} + S_{p+P}^{-1}` from the blocks'
    inverse factors (:math:`L_j^{-T}L_j^{-1} = S_j^{-1}`, blocks ``p`` and ``p + P`` the two
    signs of pattern ``p``): the transposed Cholesky factor of the sum, or its eigenvalues
    (negative rounding floored at zero) where the sum is numerically singular."""
    inv = np.matmul(np.transpose(Linv, (0, 2, 1)), Linv)
    both = inv[:P] + inv[P:]
    try:
        return np.transpose(np.linalg.cholesky(both), (0, 2, 1))
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(both)
        return np.transpose(V, (0, 2, 1)) * np.sqrt(np.maximum(w, 0.0))[:, :, None]


def _resume(st: _Structure, last_good):
    """The iterate to resume from after a numerical breakdown (``None``: none left, the
    best iterate stands), with the Newton solves changed: the Woodbury form's blocks
    regularized by :data:`REGULARIZATION`, then :data:`REGULARIZATION_GROWTH` times more
    at a further breakdown, up to :data:`REGULARIZATION_MAX`; past that, the directly
    factored ``D x D`` matrix (unregularized) when ``D`` is at most
    :data:`DIRECT_MAX_RATIO` ``n`` and it fits in memory."""
    if last_good is None or st.direct:
        return None
    grown = max(REGULARIZATION, REGULARIZATION_GROWTH * st.regularization)
    if grown <= REGULARIZATION_MAX:
        st.regularization = grown
        return last_good
    if st.D <= DIRECT_MAX_RATIO * st.n and \
            DIRECT_BYTES * st.D * (st.D + st.n) <= available_memory():
        st.direct, st.regularization = True, 0.0
        return last_good
    return None


def _unfinished(best, tol: float) -> str:
    """The status of a run stopped before ``tol``: ``"optimal_inaccurate"`` when its best
    certified gap is within ``10 tol``, else ``"error"``."""
    return "optimal_inaccurate" if best is not None and best[0] <= 10 * tol else "error"


def _relative(lower: float, upper: float) -> float:
    return (upper - lower) / max(abs(upper), 1e-300)


def _step(st: _Structure, point, res, mu):
    """One Mehrotra predictor-corrector step from ``point`` with residuals ``res``."""
    x, s_l, s_q, y_l, y_q = point
    rx, rs_l, rs_q = res
    cones, D, nb = st.cones, st.D, st.nb
    w_l = np.sqrt(s_l / y_l)
    lam_l = np.sqrt(s_l * y_l)
    sc = NesterovToddScaling(cones, s_q, y_q)
    lam_q = sc.apply(y_q)
    solve = st.factor(y_l / s_l, sc.inverse_square())

    def hess(dx):
        out = np.zeros_like(dx)
        out[:D] = st.P(dx[:D])
        return out

    def direction(ds_l, ds_q, residuals=(rx, rs_l, rs_q), refine=REFINEMENT_STEPS):
        r_x, r_l, r_q = residuals
        u_l, u_q = ds_l / lam_l, cones.divide(lam_q, ds_q)
        b_l = r_l + w_l * u_l
        b_q = r_q + sc.apply(u_q)
        rhs = -r_x - st.GT(b_l / w_l**2, sc.apply(sc.apply(b_q, inverse=True), inverse=True))
        dx, last = np.zeros_like(rx), math.inf
        floor = REFINEMENT_FLOOR * float(np.linalg.norm(rhs))
        for _ in range(1 + refine):
            trial = dx + solve(rhs)
            g_l, g_q = st.G(trial)
            t_l = (g_l + b_l) / w_l**2
            t_q = sc.apply(sc.apply(g_q + b_q, inverse=True), inverse=True)
            rhs = -(hess(trial) + st.GT(t_l, t_q) + r_x)
            size = float(np.linalg.norm(rhs))
            if size > REFINEMENT_CONTRACTION * last:  # rounding has taken over
                if size <= last:
                    dx, dg_l, dg_q, dy_l, dy_q = trial, g_l, g_q, t_l, t_q
                break
            dx, dg_l, dg_q, dy_l, dy_q, last = trial, g_l, g_q, t_l, t_q, size
            if size <= floor:
                break
        return dx, -r_l - dg_l, -r_q - dg_q, dy_l, dy_q

    def longest(ds_l, ds_q, dy_l, dy_q):
        a = math.inf
        for x_l, d_l in ((s_l, ds_l), (y_l, dy_l)):
            neg = d_l < 0
            if neg.any():
                a = min(a, float(np.min(-x_l[neg] / d_l[neg])))
        return min(a, cones.step(s_q, ds_q), cones.step(y_q, dy_q))

    aff = direction(-lam_l * lam_l, -cones.product(lam_q, lam_q))
    a_aff = min(1.0, longest(*aff[1:]))
    gap = float(s_l @ y_l) + float(s_q @ y_q)
    gap_aff = (float((s_l + a_aff * aff[1]) @ (y_l + a_aff * aff[3]))
               + float((s_q + a_aff * aff[2]) @ (y_q + a_aff * aff[4])))
    sigma = min(1.0, max(gap_aff / gap, 0.0)) ** 3
    ds_l = -lam_l * lam_l - aff[1] * aff[3] + sigma * mu
    ds_q = -cones.product(lam_q, lam_q) - cones.product(sc.apply(aff[2], inverse=True),
                                                       sc.apply(aff[4]))
    ds_q[cones.heads] += sigma * mu
    step = direction(ds_l, ds_q)
    a = min(1.0, STEP_FRACTION * longest(*step[1:]))
    target = sigma * mu
    zeros = (np.zeros_like(rx), np.zeros_like(rs_l), np.zeros_like(rs_q))
    for _ in range(CORRECTORS):  # Gondzio's centrality correctors on the nonnegative rows
        if a >= CORRECTOR_BELOW or not s_l.size:
            break
        reach = min(1.0, a + CORRECTOR_REACH)
        prod = (s_l + reach * step[1]) * (y_l + reach * step[3])
        corr = np.maximum(CENTRAL_LOW * target - prod, 0.0) \
            + np.maximum(np.minimum(CENTRAL_HIGH * target - prod, 0.0),
                         -CENTRAL_HIGH * target)
        # the corrector's own direction (no residuals, one solve), added to the step
        extra = direction(corr, np.zeros_like(ds_q), zeros, refine=CORRECTOR_REFINE)
        trial = tuple(u + v for u, v in zip(step, extra))
        a_trial = min(1.0, STEP_FRACTION * longest(*trial[1:]))
        if a_trial < a + CORRECTOR_GAIN * CORRECTOR_REACH:
            break
        step, a = trial, a_trial
    dx, dsl, dsq, dyl, dyq = step
    return x + a * dx, s_l + a * dsl, s_q + a * dsq, y_l + a * dyl, y_q + a * dyq
