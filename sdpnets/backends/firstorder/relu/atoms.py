r"""Column generation over the atoms of the pattern cones: the cone-constrained two-layer
ReLU program with the squared loss, solved by a small master problem over exactly
feasible directions, certified on the full program.

The program, one output at a time (:class:`.program.ReLUProgram`):

.. math::

    \min_z\; \tfrac12\|Fz - y\|^2 + \beta\sum_j \|z_j\|_2
    \quad\text{s.t.}\quad z_j \in K_j = \{u : (2D_j - I)Au \ge 0\} .

**Atoms and the master problem.** Any unit direction :math:`u \in K_j` is an *atom*
with feature :math:`\phi = F_ju`. Over a finite set of atoms the *master problem*

.. math::

    \min_{c \ge 0}\; \tfrac12\Big\|\sum_a c_a\phi_a - y\Big\|^2 + \beta\sum_a c_a

is a restriction of the program: :math:`z_j = \sum_{a \in j} c_au_a` lies in the convex
cone :math:`K_j` and :math:`\|z_j\| \le \sum_{a \in j} c_a`, so ``z`` is feasible and its
objective is at most the master's. It is a nonnegative quadratic program in as many
variables as atoms (tens to hundreds), solved by a primal-dual interior point on its bound
constraints (:func:`solve_master`; a linear program for the hinge loss) to a tolerance tied
to the gap asked for (:func:`.master.master_tol`).
After each solve the atoms of a block are merged into one (:math:`z_j/\|z_j\|`), which
lowers the master's value to the program's at ``z``.

**Pricing.** With the residual :math:`v = y - Fz` and :math:`g_j = F_j^Tv`, the best atom
of block ``j`` and the dual norm of the certificate are

.. math::

    \sigma_j = \max_{u \in K_j,\ \|u\| \le 1} g_j^Tu = \|\Pi_{K_j}(g_j)\|
    = \min_{\lambda \ge 0} \|g_j + G_j^T\lambda\| .

Over a subset ``R`` of the rows the same nonnegative least squares gives an *upper bound*
(the cone of fewer rows contains :math:`K_j`) and a residual :math:`r = g_j +
G_R^T\lambda`; when ``r`` satisfies every row of the block it *is* the projection, the
bound is exact and :math:`r/\|r\|` is the block's best atom (cutting planes: otherwise the
rows ``r`` violates most join ``R``, and the rows of ``R`` whose multipliers are zero
leave it, so each solve stays of the size of a face). Any :math:`\lambda \ge 0` bounds :math:`\sigma_j`
by :math:`\|g_j + G_j^T\lambda\|`, so each round first bounds every block with its last
multipliers (one sparse product for all), refits the largest bounds over their kept rows
(one small least-squares solve each), and makes exact only the largest of those; the best
exact ones above ``beta`` enter as atoms.

**Directions of the blocks in use.** The best atom of a block already in ``z`` refines its
direction one atom per round, as in Frank-Wolfe. Each round therefore also adds, for every
block of ``z``, the directions of :math:`\Pi_{K_j}(z_j + \tau\|z_j\|/\|g_j\|\,g_j)` for the
steps :data:`GRADIENT_STEPS` (projected-gradient points, projected exactly by the same
cutting planes): the master problem then takes a projected-gradient step of its own length
in every block (docs/design_notes.md says what that changed).

**Certificate.** Weak duality with the scaled residual: the optimum is at least
:math:`-L^*(-sv)` whenever :math:`s\max_j\sigma_j \le \beta` (the best ``s`` is taken,
the bounds in place of the :math:`\sigma_j`). The loop stops when ``z``'s objective is
within ``tol`` of the best such bound; ``z`` is feasible by construction (its cone
violation is rounding).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls

from ....results import relative_gap
from ..linalg import on_one_blas_thread
from .master import master_tol, solve_master
from .program import ReLUProgram, ReLUResult, top_rows, unscaled_result

__all__ = ["solve_relu_atoms", "pattern_dual_norms", "DEFAULT_ATOMS_PER_ROUND"]

#: Blocks that enter the master problem per round (the largest exact ``sigma_j``).
DEFAULT_ATOMS_PER_ROUND = 40

#: Blocks made exact per round (those with the largest bounds), in atoms per round, and
#: blocks whose bound is refitted over their kept rows, in blocks made exact.
EXACT_FACTOR = 5
REFIT_FACTOR = 4

#: Cutting-plane passes of the exact pricing, and rows added per pass and block (in ``h``).
CUT_PASSES = 50
CUT_ROWS = 2

#: A row is violated by a direction ``r`` when its product is below minus this times
#: ``||r||`` (the rows have unit scale).
CUT_TOL = 1e-13

#: Steps (relative to ``||z_j|| / ||g_j||``) of the projected-gradient atoms added for
#: every block of ``z`` each round (:func:`_gradient_atoms`).
GRADIENT_STEPS = (0.3, 3.0)

#: Round cap when the caller gives none (the certified gap stops the loop first).
DEFAULT_MAX_ROUNDS = 500

#: The loop has stalled when the relative gap has fallen by less than ``STALL_FACTOR``
#: in ``STALL_ROUNDS`` rounds: the last digits of a block's direction come from atoms
#: almost parallel to it, one round each (as in Frank-Wolfe), and :mod:`.methods`
#: may hand over to the active set.
STALL_ROUNDS = 5
STALL_FACTOR = 0.99


class _Pricing:
    r"""The rows kept per block, their last multipliers, and the dual norms
    :math:`\sigma_j` they bound."""

    def __init__(self, ops: ReLUProgram, deadline: float | None = None):
        self.ops, self.sign, self.pat = ops, ops.sign, ops.pat  # of each block
        #: ``time.perf_counter()`` past which the cutting planes stop (the bounds found so
        #: far stay valid; the blocks not made exact are not entered).
        self.deadline = deadline
        self.rows: list[np.ndarray] = [np.zeros(0, dtype=int) for _ in range(ops.nb)]
        self.lam: list[np.ndarray] = [np.zeros(0) for _ in range(ops.nb)]

    def gradients(self, G0: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        r""":math:`g_j = \sigma_jF_{p(j)}^Tv` for ``blocks`` from :math:`F_0^Tv` ``(h, P)``."""
        return G0[:, self.pat[blocks]] * self.sign[blocks]

    def carried(self, g: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        r""":math:`g_j + G_j^T\lambda_j` with each block's last multipliers (any
        :math:`\lambda \ge 0` bounds :math:`\sigma_j` by this norm): one sparse product."""
        ops = self.ops
        counts = np.array([self.lam[b].size for b in blocks], dtype=int)
        if not counts.sum():
            return g.copy()
        r = np.concatenate([self.rows[b] for b in blocks])
        lam = np.concatenate([self.lam[b] for b in blocks])
        col = np.repeat(np.arange(blocks.size), counts)
        E = 2.0 * ops.M[r, self.pat[blocks[col]]] - 1.0
        L = sp.csc_matrix((E * lam, (r, col)), shape=(ops.N, blocks.size))
        return g + np.asarray((L.T @ ops.A).T)

    def fit(self, g: np.ndarray, blocks: np.ndarray, which: np.ndarray) -> np.ndarray:
        r"""Residuals :math:`g_j + G_R^T\lambda` of the nonnegative least squares over each
        block's kept rows, for the columns ``which`` of ``g`` (one small solve per block;
        the multipliers are kept)."""
        ops, R = self.ops, g.copy()
        for i in which:
            b = blocks[i]
            rs = self.rows[b]
            if rs.size:
                rows = (2.0 * ops.M[rs, self.pat[b]] - 1.0)[:, None] * ops.A[rs]
                lam, _ = nnls(rows.T, -g[:, i])
                R[:, i] = g[:, i] + rows.T @ lam
                self.lam[b] = lam
        return R[:, which]

    def keep_used(self, b: int) -> None:
        """Keep only the rows of block ``b`` whose last multipliers are positive (the
        nonnegative least squares then stays of the size of the face, instead of growing by
        every pass's cuts)."""
        if self.lam[b].size == self.rows[b].size:
            used = self.lam[b] > 0
            self.rows[b], self.lam[b] = self.rows[b][used], self.lam[b][used]

    def violated(self, R: np.ndarray, blocks: np.ndarray, norms: np.ndarray):
        """For directions ``R`` ``(h, C)`` of ``blocks``: which satisfy every row, and the
        ``(row, column)`` pairs of the rows violated most (at most ``CUT_ROWS h`` per
        column, by :func:`.program.top_rows`)."""
        ops = self.ops
        ok = np.ones(blocks.size, dtype=bool)
        found = []
        for a in range(0, blocks.size, ops.step):
            J = np.arange(a, min(a + ops.step, blocks.size))
            S = (2.0 * ops.M[:, self.pat[blocks[J]]] - 1.0) * (ops.A @ R[:, J])
            bad = np.maximum(-S - CUT_TOL * norms[J], 0.0)  # violation beyond rounding
            ok[J] = ~bad.any(axis=0)
            found.append(top_rows(bad, J, CUT_ROWS * ops.h))
        return ok, np.hstack(found) if found else np.zeros((2, 0), dtype=int)

    def price(self, g: np.ndarray, blocks: np.ndarray, threshold: float, exact_count: int):
        r"""Bounds on :math:`\|\Pi_{K_j}(g_j)\|` for the vectors ``g`` ``(h, C)`` of
        ``blocks`` (exact for those returned exact) and their residual directions ``(h,
        C)`` (the projections, where exact): every bound from the last multipliers, the
        ``REFIT_FACTOR exact_count`` largest above ``threshold`` refitted over their kept
        rows (only the rows with positive multipliers stay), then cutting planes on the
        ``exact_count`` largest."""
        R = self.carried(g, blocks)
        sig = np.linalg.norm(R, axis=0)
        gnorm = np.linalg.norm(g, axis=0)
        looser = gnorm < sig  # the multipliers of another residual can be worse than none
        R[:, looser], sig[looser] = g[:, looser], gnorm[looser]
        refit = np.flatnonzero(sig > threshold)
        refit = refit[np.argsort(-sig[refit])][:REFIT_FACTOR * exact_count]
        for b in blocks[refit]:  # the rows in use last time
            self.keep_used(b)
        R[:, refit] = self.fit(g, blocks, refit)
        sig[refit] = np.linalg.norm(R[:, refit], axis=0)
        exact = np.zeros(blocks.size, dtype=bool)
        todo = refit[sig[refit] > threshold]
        todo = todo[np.argsort(-sig[todo])][:exact_count]
        for _ in range(CUT_PASSES):
            if not todo.size or (self.deadline is not None
                                 and time.perf_counter() >= self.deadline):
                break
            ok, (rows, col) = self.violated(R[:, todo], blocks[todo], sig[todo])
            ok |= sig[todo] <= CUT_TOL * gnorm[todo]  # g in the polar cone: sigma_j = 0
            exact[todo[ok]] = True
            cut = ~ok[col]
            order = np.argsort(col[cut], kind="stable")
            starts = np.searchsorted(col[cut][order], np.flatnonzero(~ok))
            for i, new in zip(todo[~ok], np.split(rows[cut][order], starts[1:])):
                self.keep_used(blocks[i])  # the rows of the last fit that bind, and the cuts
                self.rows[blocks[i]] = np.union1d(self.rows[blocks[i]], new)
            todo = todo[~ok]
            if todo.size:
                R[:, todo] = self.fit(g, blocks, todo)
                sig[todo] = np.linalg.norm(R[:, todo], axis=0)
                todo = todo[sig[todo] > threshold]  # bounds that fell below need no more
        return sig, R, exact


def pattern_dual_norms(program: ReLUProgram, v: np.ndarray, patterns: np.ndarray,
                       deadline: float | None = None, G0: np.ndarray | None = None
                       ) -> np.ndarray:
    r"""Upper bounds ``(len(patterns),)`` on :math:`\max(\sigma_{j+}(v), \sigma_{j-}(v))`,
    the dual norms of both sign blocks of each pattern of a cone-constrained program at the
    dual point ``v``, exact where above ``beta``: :math:`\|F_j^Tv\|` where that is at most
    ``beta``, the cutting-plane projections of :class:`_Pricing` (on the spectrally
    normalized rows, whose cones are the same) for the others. Any multipliers bound
    :math:`\sigma_j`, so a projection cut short by the ``deadline`` still bounds it.
    ``G0``: ``program.F0T(v)`` when the caller has it already."""
    ops, a, _ = program.normalized(scale_targets=False)
    G0 = (program.F0T(np.asarray(v, dtype=float)) if G0 is None else G0) / a  # A / a's units
    out = np.linalg.norm(G0[:, patterns], axis=0)
    over = np.flatnonzero(out > ops.beta)
    if over.size:
        pricing = _Pricing(ops, deadline)
        blocks = np.concatenate([patterns[over], patterns[over] + ops.P])
        sig, _, _ = pricing.price(pricing.gradients(G0, blocks), blocks, ops.beta,
                                  blocks.size)
        out[over] = np.maximum(sig[:over.size], sig[over.size:])
    return out * a


def _features(ops: ReLUProgram, pat: np.ndarray, sign: np.ndarray, U: np.ndarray
              ) -> np.ndarray:
    """Columns :math:`\\sigma S D_pAu` of atoms ``U`` ``(h, K)`` (``n x K``)."""
    rows = ops.M[:, pat] * (ops.A @ U) * sign
    return rows.reshape(ops.pool, ops.n, -1).sum(axis=0) if ops.pool > 1 else rows


@on_one_blas_thread
def solve_relu_atoms(
    program: ReLUProgram,
    *,
    start: np.ndarray | None = None,
    tol: float = 1e-8,
    max_iters: int | None = None,
    time_limit: float | None = None,
    atoms_per_round: int = DEFAULT_ATOMS_PER_ROUND,
    log: Any = None,
    progress: Any = None,
    stop: Callable[[], bool] | None = None,
) -> ReLUResult:
    r"""Solve a cone-constrained :class:`.program.ReLUProgram` with the squared loss by
    column generation over cone atoms.

    Parameters
    ----------
    program : ReLUProgram
    start : ndarray, shape (h, 2P), optional
        Starting blocks ``[V, W]`` (a trained network's): each nonzero block, projected
        onto its cone, is a first atom. The result is never worse than ``start``.
    tol : float
        Relative certified gap at which to stop.
    max_iters : int, optional
        Rounds (master solves) before ``"iteration_limit"``.
    time_limit : float, optional
        Seconds before ``"time_limit"``.
    atoms_per_round : int
        Blocks entering the master problem per round.
    log : logging.Logger, optional
        Progress at every round (debug level).
    progress : callable, optional
        Called with the certified relative gap at every round.
    stop : callable, optional
        Asked after every certificate; ``True`` ends the run as its time limit would
        (``"time_limit"``): another method racing it has finished.

    Returns
    -------
    ReLUResult
        ``method="atoms"``; ``iterations`` counts rounds; ``statistics["atoms"]`` the atoms
        of the last master problem. ``status`` is ``"optimal"`` (certified gap at most
        ``tol``), ``"time_limit"``, ``"iteration_limit"``, or, when no block is left to
        enter or the gap stalls (:data:`STALL_ROUNDS`), ``"optimal_inaccurate"`` (gap at
        most ``10 tol``) or ``"error"``. The work runs on one BLAS thread
        (:func:`~sdpnets.backends.firstorder.linalg.single_threaded`; its products and small
        solves are faster so: 0.85 s against 1.14 s at (1000, 20, 100), 5.8 s against 6.2 s at
        (4000, 50, 200), 79 s against 105 s for the 10-class digits estimator, at half the
        CPU).
    """
    t0 = time.perf_counter()
    if not program.cone:
        raise ValueError("column generation solves the cone-constrained program")
    deadline = None if time_limit is None else t0 + time_limit
    ops, scale, ys = program.normalized(scale_targets=program.loss.homogeneous)
    bs, yy = ops.beta, ops.y
    pricing = _Pricing(ops, deadline)
    h, nb = ops.h, ops.nb
    max_rounds = DEFAULT_MAX_ROUNDS if max_iters is None else int(max_iters)
    batch = max(int(atoms_per_round), 1)
    threshold = bs * (1.0 + 0.1 * tol)
    inner_tol = master_tol(tol)  # the master problems' own tolerance

    atom_block = np.zeros(0, dtype=int)
    U = np.zeros((h, 0))
    c = np.zeros(0)
    best_start = None
    if start is not None:
        Z0 = np.asarray(start, dtype=float) * (scale / ys)
        live = np.flatnonzero(np.linalg.norm(Z0, axis=0) > 0)
        best_start = (ops.values(Z0), Z0)
        if live.size:  # the start's blocks, exactly on their cones
            sig, R, exact = pricing.price(Z0[:, live], live, -1.0, live.size)  # projections
            keep = exact & (sig > 0)
            atom_block, U, c = live[keep], R[:, keep] / sig[keep], sig[keep]
    v = ops.loss.dual_point(np.zeros_like(yy), yy)  # the master's dual point
    if c.size:
        c, v = solve_master(_features(ops, ops.pat[atom_block], ops.sign[atom_block], U), yy,
                            bs, ops.loss, tol=inner_tol)
    lower, dual_point = -math.inf, np.zeros_like(yy)
    history: list[tuple[int, float, float]] = []
    status, rounds = None, 0
    exact_count = EXACT_FACTOR * batch
    while True:
        Z = _blocks(atom_block, U, c, nb)
        prog, net, viol, pred = vals = ops.values(Z)  # pred = F z, the master's prediction
        upper = max(prog, net)
        G0 = ops.F0T(v)
        over = np.flatnonzero(np.linalg.norm(G0, axis=0) > bs)  # sigma_j <= ||g_j||
        blocks = np.concatenate([over, over + ops.P])
        sig, R, exact = pricing.price(pricing.gradients(G0, blocks), blocks, threshold,
                                      exact_count)
        value, s = ops.dual_bound(v, float(sig.max(initial=0.0)))
        if value > lower:
            lower, dual_point = value, s * v
        rel = relative_gap(lower, upper)
        history.append((rounds, time.perf_counter() - t0, rel))
        if progress is not None:
            progress(rel)
        if log is not None:
            log.debug("relu atoms round %d: upper %.10g lower %.10g rel gap %.2e atoms %d "
                      "priced %d exact %d", rounds, upper * ys * ys, lower * ys * ys, rel,
                      c.size, blocks.size, int(exact.sum()))
        if rel <= tol:
            status = "optimal"
            break
        if (deadline is not None and time.perf_counter() >= deadline) \
                or (stop is not None and stop()):
            status = "time_limit"
            break
        if rounds >= STALL_ROUNDS and rel > STALL_FACTOR * history[-1 - STALL_ROUNDS][2]:
            status = "optimal_inaccurate" if rel <= 10 * tol else "error"
            break
        enter = np.flatnonzero(exact & (sig > threshold))
        live = np.flatnonzero(np.linalg.norm(Z, axis=0) > 0)
        if not enter.size and exact_count < blocks.size:
            exact_count = blocks.size  # no exact block above beta: make every bound exact
            continue
        if not enter.size and not live.size:
            status = "optimal_inaccurate" if rel <= 10 * tol else "error"
            break
        exact_count = EXACT_FACTOR * batch
        if rounds >= max_rounds:
            status = "iteration_limit"
            break
        enter = enter[np.argsort(-sig[enter])][:batch]
        # merged atoms (one per block of z), the entering ones, and projected-gradient
        # steps of the blocks of z
        zn = np.linalg.norm(Z[:, live], axis=0)
        local_block, local_U = _gradient_atoms(pricing, Z, G0, live)
        atom_block = np.concatenate([live, blocks[enter], local_block])
        U = np.hstack([Z[:, live] / zn, R[:, enter] / sig[enter], local_U])
        Phi = _features(ops, ops.pat[atom_block], ops.sign[atom_block], U)
        c, v = solve_master(Phi, yy, bs, ops.loss, tol=inner_tol)
        on = c > 0
        atom_block, U, c = atom_block[on], U[:, on], c[on]
        rounds += 1
    blocks_out, out_vals = Z, vals[:3]
    if best_start is not None and max(best_start[0][:2]) < upper:
        blocks_out, out_vals = best_start[1], best_start[0][:3]
    return unscaled_result(blocks_out, out_vals, lower, dual_point, scale, ys, t0,
                           status=status, method="atoms", iterations=rounds,
                           statistics={"atoms": int(c.size)}, history=history)


def _gradient_atoms(pricing: _Pricing, Z: np.ndarray, G0: np.ndarray, live: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    r"""Projected-gradient atoms of the blocks ``live`` of ``Z``: the unit directions of
    :math:`\Pi_{K_j}(z_j + \tau\,\|z_j\|/\|g_j\|\; g_j)` for each step :math:`\tau` of
    :data:`GRADIENT_STEPS` (:math:`g_j = F_j^Tv`, the negative gradient of the loss in
    block ``j``). The pricing's best atom of a block already in ``z`` is the limit
    :math:`\tau \to \infty`, which refines its direction one atom per round; these nearer
    points let the master problem take projected-gradient steps in every block at once.
    Returns their blocks and directions ``(h, k)``."""
    if not live.size or not GRADIENT_STEPS:
        return np.zeros(0, dtype=int), np.zeros((Z.shape[0], 0))
    g = pricing.gradients(G0, live)
    step = np.linalg.norm(Z[:, live], axis=0) / np.maximum(np.linalg.norm(g, axis=0), 1e-300)
    blocks, dirs = [], []
    for tau in GRADIENT_STEPS:  # exact projections (threshold below every norm)
        sig, R, exact = pricing.price(Z[:, live] + tau * step * g, live, -1.0, live.size)
        ok = exact & (sig > 0)  # a projection cut short (deadline) may leave its cone
        blocks.append(live[ok])
        dirs.append(R[:, ok] / sig[ok])
    return np.concatenate(blocks), np.hstack(dirs)


def _blocks(atom_block: np.ndarray, U: np.ndarray, c: np.ndarray, nb: int) -> np.ndarray:
    """Blocks :math:`z_j = \\sum_{a \\in j} c_au_a` ``(h, nb)``."""
    Z = np.zeros((U.shape[0], nb))
    np.add.at(Z.T, atom_block, (U * c).T)
    return Z
