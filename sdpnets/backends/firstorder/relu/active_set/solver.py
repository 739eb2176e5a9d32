r"""Active-set (cutting-plane) solver for the cone-constrained two-layer ReLU program,
squared loss: an interior-point method on a reduced program, certified on the full one.

The program, one output at a time (:class:`..program.ReLUProgram`):

.. math::

    \min_z\; \tfrac12\|Fz - y\|^2 + \beta\sum_j \|z_j\|_2
    \quad\text{s.t.}\quad G_j z_j = (2D_j - I)Az_j \ge 0 .

**Relaxation.** Keeping only the blocks ``j`` of a working set :math:`\mathcal B` (the
others fixed at zero) and, per kept block, only the cone rows of a working set
:math:`\mathcal R_j` gives a reduced program (few blocks, few rows), solved to high
accuracy (see *Reduced solves*). Its prediction residual :math:`v = y - Fz` and the multipliers
:math:`\mu_j \ge 0` of its kept rows (zero on every other row) are a dual point of the
*full* program, so weak duality gives the certified lower bound

.. math::

    \text{optimum} \ge -L^*(-sv) \quad\text{whenever}\quad
    s\,\big\|\sigma_j F_j^T v + G_j^T\mu_j\big\|_2 \le \beta\ \ \forall j \in \{1..2P\}

(the best ``s`` is taken). Blocks above ``beta`` get their multipliers improved over
*every* row by accelerated projected gradient on
:math:`\min_{\mu_j \ge 0}\|\sigma_jF_j^Tv + G_j^T\mu_j\|`; a block still above ``beta``
enters the working set with the ``2h`` rows its multipliers use most. The reduced
solution ``z`` is feasible for the full program once it satisfies every cone row (checked
over all rows, a chunk of blocks at a time). Each violated block gets its 10 most violated
rows and the ``h`` rows active at its projection onto its full cone
(:math:`z_j + G_j^T\lambda`, :math:`\lambda = \arg\min_{\lambda\ge0}\|z_j +
G_j^T\lambda\|`, by the same projected gradient); once no row is violated by more than
``1e-3`` relative, every row with slack below ``1e-6`` (relative to its block) is added
at once. Zero blocks leave
the reduced program unless they need multipliers to stay below ``beta``; a block that
comes back stays (no cycling). The loop stops when the full program's objective at ``z``
(and the objective of the network read off ``z``) is within ``tol`` of the lower bound
and no cone row is violated by more than ``cone_tol`` relative to the predictions.

**Reduced solves.** :func:`.group_cone_ipm.solve_group_cone_qp`, a primal-dual
interior-point method on the Gram form :math:`\tfrac12 z^TF_B^TF_Bz - y^TF_Bz` (the Gram
matrix is kept from round to round; only new blocks' columns are computed) whose Newton
system is one dense Cholesky factor of order ``m h`` (``m`` blocks kept), then
:func:`.faces.polish`: Newton's method on the faces of the cones the solution
touches, which takes it to rounding error when the faces are right. Once the full
program's relative gap is below :data:`FACE_GAP`, the rows left tight are held as
equalities (:func:`.faces.solve_on_faces`): most blocks then keep a few of their
``h`` coordinates and the factor shrinks.
Equalities whose multipliers turn negative are released, and all are dropped when a
round adds nothing.

**Start.** The gated program (gates = the patterns, a relaxation) by 100 accelerated
proximal-gradient steps (:func:`gated_start`): its 40 largest blocks, each with the sign
whose cone it violates less and the rows it violates most. A given start (a trained
network's blocks, with the rows they nearly touch) is used instead, and the result is
never worse than it.

**Role.** ``method="auto"`` uses the atoms (:mod:`..atoms`) and hands a stalled run with
few blocks over to this solver (:mod:`..methods`); measurements and the designs tried and
dropped are in docs/design_notes.md.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from .....losses import SquaredLoss
from .....results import relative_gap
from ..program import ReLUProgram, ReLUResult, top_rows, unscaled_result
from .faces import ZERO_BLOCK, nonnegative_fit, polish, row_sums, solve_on_faces
from .working_set import Working, merge

__all__ = ["solve_relu_active_set", "DEFAULT_MAX_ROUNDS"]

#: Round cap when the caller gives none (the certified gap stops the loop first).
DEFAULT_MAX_ROUNDS = 100

#: Cone rows added per block and round (the most violated ones).
DEFAULT_ROWS_PER_ROUND = 10

#: Blocks added per round (those furthest above ``beta`` after refinement).
DEFAULT_BLOCKS_PER_ROUND = 20

#: Once no row is violated by more than ``END_VIOLATION`` (relative to the predictions),
#: every row with slack below ``END_MARGIN`` (relative to its block's rows) is added: the
#: solution sits on many rows at once.
END_VIOLATION = 1e-3
END_MARGIN = 1e-6

#: Projected-gradient steps towards the projection of a violated block onto its full
#: cone, whose active rows are added (``h`` per block and round).
PROJECTION_STEPS = 100

#: Projected-gradient steps that improve the multipliers of blocks above ``beta``.
REFINE_STEPS = 50

#: Accelerated proximal-gradient steps on the gated program that guess the first working
#: set (at most; checked every ``START_CHECK`` steps for a settled support), and power
#: iterations for their step size.
START_STEPS = 100
POWER_STEPS = 15
START_CHECK = 10

#: Tight rows are held as equalities (the reduced programs solved on faces) once the
#: full program's relative gap is below this: earlier, the working set still moves.
FACE_GAP = 1e-3


class _ActiveSet:
    """The reduced programs and the checks against the full one (``A`` at unit norm,
    ``y`` and ``beta`` in the same units)."""

    def __init__(self, ops: ReLUProgram):
        self.ops, self.y, self.beta = ops, ops.y, ops.beta
        self.sign, self.pat = ops.sign, ops.pat
        self.ipm_iterations = 0
        #: kept rows held as equalities (the faces of :mod:`.faces`)
        self.equal = np.zeros((ops.N, ops.nb), dtype=bool)
        #: the last reduced program's blocks, Gram matrix and F_B^T y
        self._gram = (np.zeros(0, dtype=int), np.zeros((0, 0)), np.zeros(0))
        #: per reduced solve: status, blocks, rows, interior-point iterations, seconds
        self.solve_log: list[tuple[str, int, int, int, float]] = []

    # -- reduced program ---------------------------------------------------------------
    def block_rows(self, idx: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Rows ``idx`` of :math:`F_B` (``len(idx) x |B| h``), summed over the pool."""
        ops, n = self.ops, self.ops.n
        Fc = np.zeros((idx.size, B.size, ops.h))
        for g in range(ops.pool):  # the pool's row groups of each sample
            r = g * n + idx
            Fc += (ops.M[r][:, self.pat[B]] * self.sign[B])[:, :, None] * ops.A[r, None, :]
        return Fc.reshape(idx.size, B.size * ops.h)

    def pieces(self, ws: Working):
        """Blocks ``B``, kept pairs ``(rows, local block)`` and the loss part: the Gram
        matrix :math:`F_B^TF_B` and :math:`F_B^Ty`. The last round's Gram matrix is kept:
        only the columns of blocks new to ``B`` are computed, over chunks of samples
        (memory bounded by the chunk, not by ``n m h``)."""
        ops, h, n = self.ops, self.ops.h, self.ops.n
        B = np.flatnonzero(ws.active)
        nz = B.size * h
        H, c = np.zeros((nz, nz)), np.zeros(nz)
        old_B, old_H, old_c = self._gram
        had = np.isin(B, old_B)
        if had.any():
            pos_new = (np.flatnonzero(had)[:, None] * h + np.arange(h)).ravel()
            where = np.searchsorted(old_B, B[had])
            pos_old = (where[:, None] * h + np.arange(h)).ravel()
            H[np.ix_(pos_new, pos_new)] = old_H[np.ix_(pos_old, pos_old)]
            c[pos_new] = old_c[pos_old]
        fresh = np.flatnonzero(~had)
        if fresh.size:
            cols = (fresh[:, None] * h + np.arange(h)).ravel()
            step = max(1, (1 << 22) // max(nz, 1))
            for a in range(0, n, step):
                idx = np.arange(a, min(a + step, n))
                Fm = self.block_rows(idx, B)
                Fnew = Fm[:, cols]
                H[:, cols] += Fm.T @ Fnew
                c[cols] += Fnew.T @ self.y[idx]
            H[np.ix_(cols, np.setdiff1d(np.arange(nz), cols))] = \
                H[np.ix_(np.setdiff1d(np.arange(nz), cols), cols)].T
        self._gram = (B, H, c)
        kr, kb = np.nonzero(ws.keep[:, B])
        return B, (kr, kb), H, c

    def solve_reduced(self, ws: Working, time_limit: float | None, accuracy: float,
                      hold: bool = True):
        """Solve the reduced program by :func:`.group_cone_ipm.solve_group_cone_qp`; returns
        ``(Z (h, nb), mu pairs, status)``."""
        ops, h = self.ops, self.ops.h
        B, (kr, kb), H, c = self.pieces(ws)
        E = 2.0 * ops.M[kr, self.pat[B[kb]]] - 1.0
        t0 = time.perf_counter()
        rows = E[:, None] * ops.A[kr]
        sol = solve_on_faces(H, c, self.beta, rows, kb, self.equal[kr, B[kb]], B.size, h,
                             tol=accuracy, time_limit=time_limit, hold=hold)
        self.equal[kr, B[kb]] = sol.equal
        self.ipm_iterations += sol.iterations
        z, mu, status = sol.z, sol.mu, sol.status
        if status in ("solved", "inaccurate"):
            polished = polish(H, c, self.beta, rows, kb, z, mu)
            if polished is not None:
                z, mu = polished
                status = "solved"
        Z = np.zeros((h, ops.nb))
        Z[:, B] = z.T
        self.solve_log.append((status, B.size, kr.size, sol.iterations,
                               time.perf_counter() - t0))
        return Z, (kr, B[kb], mu), status

    # -- checks against the full program ---------------------------------------------------
    def violations(self, Z: np.ndarray, blocks: np.ndarray, ws: Working, k: int, thr: float,
                   margin: float = 0.0):
        """Largest cone violation of ``Z``'s ``blocks`` over every row and the ``k`` most
        violated unkept rows per block (violation above ``thr``); with ``margin``, also the
        rows whose slack is below ``margin`` times the block's largest ``|A z_j|``."""
        ops = self.ops
        worst, found = 0.0, []
        for a in range(0, blocks.size, ops.step):
            J = blocks[a:a + ops.step]
            AZ = ops.A @ Z[:, J]
            slack = (2.0 * ops.M[:, self.pat[J]] - 1.0) * AZ
            worst = max(worst, float(np.max(-slack, initial=0.0)))
            cut = np.full(J.size, thr)
            if margin:
                cut = np.minimum(cut, -margin * np.abs(AZ).max(axis=0))
            found.append(top_rows(np.where(-slack > cut, 1e-300 - slack - cut, 0.0), J, k,
                                   ws.keep))
        rows = np.hstack(found) if found else np.zeros((2, 0), dtype=int)
        return worst, rows

    def dual_norms(self, v: np.ndarray, mu_pairs) -> np.ndarray:
        r""":math:`\|\sigma_jF_j^Tv + G_j^T\mu_j\|` for every block."""
        ops = self.ops
        C0 = ops.F0T(v)
        C = np.hstack([C0, -C0])
        r, b, mu = mu_pairs
        if r.size:
            E = 2.0 * ops.M[r, self.pat[b]] - 1.0
            Mu = sp.csc_matrix((E * mu, (r, b)), shape=(ops.N, ops.nb))
            C += np.asarray((Mu.T @ ops.A).T)
        return C

    def fit_kept(self, C: np.ndarray, mu_pairs, J: np.ndarray, ws: Working):
        r"""Dual norms of blocks ``J`` with their multipliers refitted exactly over their
        kept rows (:func:`.faces.nonnegative_fit`); returns the norms, the multiplier
        pairs and the refitted columns :math:`\sigma_jF_j^Tv + G_j^T\mu_j` of ``C``."""
        ops = self.ops
        r, b, mu = mu_pairs
        sel = np.isin(b, J)
        pos = np.full(ops.nb, -1)
        pos[J] = np.arange(J.size)
        E = 2.0 * ops.M[r[sel], self.pat[b[sel]]] - 1.0
        Mu = sp.csc_matrix((E * mu[sel], (r[sel], pos[b[sel]])), shape=(ops.N, J.size))
        base = C[:, J] - np.asarray((Mu.T @ ops.A).T)  # sigma_j F_j^T v
        kr, kb = np.nonzero(ws.keep[:, J])
        rows = (2.0 * ops.M[kr, self.pat[J[kb]]] - 1.0)[:, None] * ops.A[kr]
        norms, mu_new = nonnegative_fit(base.T, rows, kb)
        cols = base + row_sums(mu_new[:, None] * rows, kb, J.size).T
        return norms, (kr, J[kb], mu_new), cols

    def refine(self, mu_pairs, C: np.ndarray, J_all: np.ndarray, ws: Working, k: int,
               steps: int = REFINE_STEPS):
        r"""Accelerated projected gradient on :math:`\min_{\mu_j \ge 0}\|c_j + A^TE_j\mu_j\|^2`
        over every row for blocks ``J_all`` (from the current multipliers); returns their
        norms and the ``k`` rows with the largest new multipliers per block."""
        ops = self.ops
        r, b, mu = mu_pairs
        norms = np.empty(J_all.size)
        found, kept = [], []
        for a in range(0, J_all.size, ops.step):
            J = J_all[a:a + ops.step]
            E = 2.0 * ops.M[:, self.pat[J]] - 1.0
            pos = np.full(ops.nb, -1)
            pos[J] = np.arange(J.size)
            sel = pos[b] >= 0
            m = np.zeros((ops.N, J.size))
            m[r[sel], pos[b[sel]]] = mu[sel]
            base = C[:, J] - ops.A.T @ (E * m)  # sigma_j F_j^T v
            yk, t = m.copy(), 1.0
            for _ in range(steps):  # A has unit norm: step 1
                R = base + ops.A.T @ (E * yk)
                m_new = np.maximum(yk - E * (ops.A @ R), 0.0)
                t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
                yk = m_new + ((t - 1.0) / t_new) * (m_new - m)
                m, t = m_new, t_new
            norms[a:a + J.size] = np.linalg.norm(base + ops.A.T @ (E * m), axis=0)
            found.append(top_rows(m, J, k, ws.keep))
            rr, cc = np.nonzero(m)
            kept.append((rr, J[cc], m[rr, cc]))
        rows = np.hstack(found) if found else np.zeros((2, 0), dtype=int)
        pairs = tuple(np.concatenate([x[i] for x in kept]) for i in range(3))
        return norms, rows, pairs


def gated_start(ops: ReLUProgram, y: np.ndarray, beta: float, keep: int,
                 steps: int = START_STEPS) -> np.ndarray:
    r"""Blocks ``U`` ``(h, P)`` of the gated program :math:`\min_U \tfrac12\|F_0U - y\|^2 +
    \beta\sum_i\|u_i\|` after at most ``steps`` accelerated proximal-gradient steps from
    zero (step ``1/L``, ``L`` from power iterations on :math:`F_0^TF_0`): a guess of the
    support, two products per step. It stops early once its ``keep`` largest blocks are
    the same at two checks :data:`START_CHECK` steps apart (they are all the caller uses)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((ops.h, ops.P))
    lip = 1.0
    for _ in range(POWER_STEPS):
        X = ops.F0T(ops.F0(X))
        lip = float(np.linalg.norm(X))
        X /= max(lip, 1e-300)
    step = 1.0 / (1.01 * max(lip, 1e-300))
    U = np.zeros((ops.h, ops.P))
    Yk, t = U, 1.0
    last = None
    for k in range(1, steps + 1):
        G = Yk + step * ops.F0T(y - ops.F0(Yk))
        norms = np.linalg.norm(G, axis=0)
        U_new = G * np.maximum(1.0 - step * beta / np.maximum(norms, 1e-300), 0.0)
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        Yk = U_new + ((t - 1.0) / t_new) * (U_new - U)
        U, t = U_new, t_new
        if k % START_CHECK == 0:
            un = np.linalg.norm(U, axis=0)
            largest = np.argsort(-un)[:keep]
            top = frozenset(largest[un[largest] > 0].tolist())
            if top and top == last:
                break
            last = top
    return U


def solve_relu_active_set(
    program: ReLUProgram,
    *,
    start: np.ndarray | None = None,
    tol: float = 1e-8,
    cone_tol: float = 1e-9,
    max_iters: int | None = None,
    time_limit: float | None = None,
    rows_per_round: int = DEFAULT_ROWS_PER_ROUND,
    blocks_per_round: int = DEFAULT_BLOCKS_PER_ROUND,
    max_variables: int | None = None,
    log: Any = None,
) -> ReLUResult:
    r"""Solve a cone-constrained :class:`..program.ReLUProgram` with the squared loss by
    cutting planes.

    Parameters
    ----------
    program : ReLUProgram
    start : ndarray, shape (h, 2P), optional
        Starting blocks ``[V, W]`` (a trained network's); otherwise the gated program's
        solution guesses the working set. The result is never worse than ``start``.
    tol : float
        Relative certified gap at which to stop.
    cone_tol : float
        Largest cone violation accepted, relative to the largest prediction.
    max_iters : int, optional
        Rounds (reduced solves) before ``"iteration_limit"``.
    time_limit : float, optional
        Seconds before ``"time_limit"``.
    rows_per_round : int
        Cone rows added per block and round.
    blocks_per_round : int
        Blocks added per round.
    max_variables : int, optional
        Raise :class:`_TooLarge` before a reduced program with more variables (blocks times
        ``h``).

    log : logging.Logger, optional
        Progress at every round (debug level).

    Returns
    -------
    ReLUResult
        ``method="active_set"``; ``iterations`` counts rounds;
        ``statistics["ipm_iterations"]`` the interior-point iterations.
    """
    t0 = time.perf_counter()
    if not (program.cone and isinstance(program.loss, SquaredLoss)):
        raise ValueError("the active-set solver handles the cone-constrained squared loss only")
    ops, scale, ys = program.normalized(scale_targets=True)
    bs, yy = ops.beta, ops.y
    act = _ActiveSet(ops)
    h, P, nb, N = ops.h, ops.P, ops.nb, ops.N
    max_rounds = DEFAULT_MAX_ROUNDS if max_iters is None else int(max_iters)
    ws = Working(N, nb)
    k_rows = int(rows_per_round)
    k_enter = 2 * h  # rows of a block entering the working set
    max_blocks = int(blocks_per_round)
    history: list[tuple[int, float, float]] = []

    def left() -> float | None:
        return None if time_limit is None else time_limit - (time.perf_counter() - t0)

    # -- first working set ------------------------------------------------------------------
    lower, dual_point = -math.inf, np.zeros_like(yy)
    best_start = None
    if start is not None:
        Z0 = np.asarray(start, dtype=float) * (scale / ys)
        live = np.flatnonzero(np.linalg.norm(Z0, axis=0) > 0)
        ws.add(live)
        # the rows each block of the (feasible) start nearly touches
        _, rows = act.violations(Z0, live, ws, h, 0.0, margin=1e-2)
        ws.add(np.zeros(0, dtype=int), rows)
        prog, net, viol, pred = ops.values(Z0)
        best_start = (max(prog, net), Z0, (prog, net, viol))
        v = yy - pred
    else:
        U = gated_start(ops, yy, bs, keep=2 * max_blocks)
        live = np.flatnonzero(np.linalg.norm(U, axis=0) > 1e-9 * max(
            float(np.linalg.norm(U, axis=0).max(initial=0.0)), 1e-300))
        # one sign per live pattern: the block that violates its cone rows less
        slack = np.zeros(P)
        for c in ops.chunks():
            E = 2.0 * ops.M[:, c] - 1.0
            AU = E * (ops.A @ U[:, c])
            slack[c] = np.sum(np.maximum(AU, 0.0), axis=0) - np.sum(np.maximum(-AU, 0.0), axis=0)
        Z0 = np.hstack([U * (slack >= 0), -U * (slack < 0)])
        # the largest blocks first (the cone program's support is smaller than the gated one's)
        live = live[np.argsort(-np.linalg.norm(U[:, live], axis=0))][:2 * max_blocks]
        first_blocks = np.where(slack[live] >= 0, live, live + P)
        ws.add(first_blocks)
        _, rows = act.violations(Z0, first_blocks, ws, k_rows, 0.0)
        ws.add(np.zeros(0, dtype=int), rows)
        v = yy - ops.F0(U)
    # the start's residual: its multipliers are zero; refined below like every round's
    mu_pairs = (np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0))
    status, rounds = None, 0
    Z = np.zeros((h, nb))
    Z_last = Z  # the last finite blocks of a reduced solve
    vals = ops.values(Z)
    accuracy = 1e-10
    faces = True  # tight rows may be held as equalities (until a round adds nothing)
    while True:
        # certificate of the current dual point (v, mu) on the full program
        C = act.dual_norms(v, mu_pairs)
        norms = np.linalg.norm(C, axis=0)
        over = np.flatnonzero(norms > bs * (1.0 + 0.1 * tol))
        new = 0
        inside = over[ws.active[over]]
        if inside.size:  # blocks of the working set: exact multipliers over their kept rows
            fitted, pairs, cols = act.fit_kept(C, mu_pairs, inside, ws)
            better = fitted < norms[inside]
            mu_pairs = merge(mu_pairs, tuple(x[np.isin(pairs[1], inside[better])]
                                              for x in pairs), inside[better])
            norms[inside[better]] = fitted[better]
            C[:, inside[better]] = cols[:, better]
            over = np.flatnonzero(norms > bs * (1.0 + 0.1 * tol))
        if over.size:
            refined, rows, pairs = act.refine(mu_pairs, C, over, ws, k_enter)
            mu_pairs = merge(mu_pairs, pairs, over)
            norms[over] = np.minimum(norms[over], refined)
            above = refined > bs * (1.0 + 0.1 * tol)
            grow = over[above][np.argsort(-refined[above])][:max_blocks]
            act.equal[:, grow[~ws.active[grow]]] = False  # faces of blocks coming back
            new += ws.add(grow, rows[:, np.isin(rows[1], grow)])
        value, s = ops.dual_bound(v, float(norms.max(initial=0.0)))
        if value > lower:
            lower, dual_point = value, s * v
        prog, net, viol, pred = vals
        upper = max(prog, net)
        size = max(float(np.abs(pred).max(initial=0.0)), 1e-300)
        # cone rows the current blocks violate (every row of every live block)
        live = np.flatnonzero(np.linalg.norm(Z, axis=0) > 0)
        viol, rows = act.violations(Z, live, ws, k_rows, cone_tol * size)
        if viol <= END_VIOLATION * size:
            # the last few: every violated row, and the rows the solution nearly touches
            viol, rows = act.violations(Z, live, ws, N, cone_tol * size, END_MARGIN)
        new += ws.add(np.zeros(0, dtype=int), rows)
        if rows.size:
            # the rows active at the projection of each violated block onto its full cone
            J = np.unique(rows[1])
            none = (np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0))
            _, prow, _ = act.refine(none, Z, J, ws, h, steps=PROJECTION_STEPS)
            new += ws.add(np.zeros(0, dtype=int), prow)
        rel = relative_gap(lower, upper) if rounds else math.inf
        history.append((rounds, time.perf_counter() - t0, rel))
        if log is not None:
            log.debug("relu active set round %d: upper %.10g lower %.10g rel gap %.2e cone viol "
                      "%.1e blocks %d rows %d", rounds, upper * ys * ys, lower * ys * ys, rel,
                      viol, int(ws.active.sum()), int(ws.keep.sum()))
            if act.solve_log:
                log.debug("  last reduced solve: %s", act.solve_log[-1])
        if rounds and rel <= tol and viol <= cone_tol * size:
            status = "optimal"
            break
        if rounds and new == 0:
            if faces:  # the faces may be what stops progress: solve without them from now on
                act.equal[:] = False
                faces = False
            elif accuracy <= 1e-12:  # nothing left to add and the solves are at their limit
                status = "optimal_inaccurate" if rel <= 10 * tol else "error"
                break
            else:
                accuracy = max(accuracy * 1e-2, 1e-12)
        if rounds >= max_rounds:
            status = "iteration_limit"
            break
        budget = left()
        if budget is not None and budget <= 0:
            status = "time_limit"
            break
        if max_variables is not None and int(ws.active.sum()) * h > max_variables:
            raise _TooLarge(Z * (ys / scale))
        Z, reduced_pairs, cl_status = act.solve_reduced(ws, budget, accuracy,
                                                        hold=faces and rel <= FACE_GAP)
        # the reduced program's multipliers, and the last ones of the blocks outside it
        mu_pairs = merge(mu_pairs, reduced_pairs, np.flatnonzero(ws.active))
        rounds += 1
        if cl_status == "time_limit":
            status = "time_limit"
        if not np.all(np.isfinite(Z)):  # a failed reduced solve: keep the last blocks
            Z, status = Z_last, "error"
        zn = np.linalg.norm(Z, axis=0)
        small = zn <= ZERO_BLOCK * max(float(zn.max(initial=0.0)), 1e-300)
        Z[:, small] = 0.0
        Z_last = Z
        vals = ops.values(Z)
        v = yy - vals[3]
        # zero blocks leave the reduced program (its optimum stays optimal without them);
        # their rows stay recorded, should they come back
        # unless they need multipliers to stay below beta
        zero = ws.active & small
        if zero.any():
            J = np.flatnonzero(zero)
            C0 = (ops.A.T @ (ops.M[:, J % P] * ops.pool_adj(v)[:, None])) * act.sign[J]
            out = J[(np.linalg.norm(C0, axis=0) <= bs) | ~ws.sticky[J]]
            ws.active[out] = False
            ws.left[out] = True
        if status is not None:
            break
    prog, net, viol, pred = vals
    upper = max(prog, net)
    blocks, out_vals = Z, (prog, net, viol)
    if best_start is not None and best_start[0] < upper:
        blocks, out_vals = best_start[1], best_start[2]
    return unscaled_result(blocks, out_vals, lower, dual_point, scale, ys, t0,
                           status=status, method="active_set", iterations=rounds,
                           statistics={"ipm_iterations": act.ipm_iterations},
                           history=history)


class _TooLarge(Exception):
    """The reduced program would exceed ``max_variables`` (``args[0]``: the blocks so far)."""
