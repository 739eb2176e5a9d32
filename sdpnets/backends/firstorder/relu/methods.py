r"""Which method solves a :class:`.program.ReLUProgram` on ``backend="firstorder"``.

* ``method="atoms"`` (:mod:`.atoms`): column generation over exactly feasible directions of
  the pattern cones, for the cone-constrained program with any loss. Few rounds when few
  blocks are active (large ``beta``); more, and slower ones, as ``beta`` falls.
* ``method="ipm"`` (:mod:`.ipm`): a primal-dual interior-point method on the whole program,
  squared, logistic and hinge losses, cone-constrained or gated. Its cost does not depend on
  ``beta``: about :data:`IPM_ITERATIONS` iterations of :math:`n^2 h n_b` flops (``n_b``
  blocks), and ``n x h n_b`` floats of memory.
* ``method="admm"`` (:mod:`.admm`): every program but the logistic loss with an intercept
  (its loss at the best offset has no elementwise prox), the fallback for an interior point
  too large for the memory.

``"auto"`` (the default) picks by the program and the predicted cost of the interior
point (:func:`ipm_seconds`, :func:`.ipm.predict_memory`):

* cone-constrained program: the atoms first, for at most :data:`ATOMS_SHARE` of the
  interior point's predicted time when it applies and fits; when that share runs out,
  the atoms go on if their rate of convergence says they finish within another such
  share (:func:`atoms_seconds_left`), and a run they did not certify is finished by the
  interior point, over a working set of patterns when at most half of them are live in
  the atoms' iterate (:func:`working_set_ipm`, :func:`_narrow`; the atoms alone when it
  does not apply or fit, until their own stall test or the time limit); after one
  output was handed over to the whole program's interior point, the next outputs (same
  data, same ``beta``) give the atoms :data:`ATOMS_MIN_SECONDS` only; with a spare core
  (``spare_core``: a single program, or fewer output workers than half the cores), the
  interior point runs in a forked process beside the atoms from their first second on
  (:data:`RACE_AFTER_SECONDS`, :mod:`.background`, :func:`_races`), the atoms stop as
  soon as it has finished, and a hand-over to the whole program takes its result
  instead of starting it then (a working set's cancels it; the two compete for memory
  bandwidth: atoms that win alone are slower raced, e.g. the exhaustive 14 x 14 program
  at 0.01 ``beta_max``, 8.4-9.4 s alone, 14-15 s raced;
  started halfway through the atoms' share instead, the race lost most of its gains at
  0.001);
* gated program: the interior point over a growing working set of patterns where it
  applies and fits (:func:`working_set_ipm`), else the ADMM.

The better certified of two results is returned, so a hand-over never loses ground.

**Safe screening.** Given a start (the previous solution along a path, or a trained
network), blocks that are zero at every optimum are removed before any method runs, by
the GAP safe sphere (Ndiaye, Fercoq, Gramfort, Salmon 2017): the dual objective
:math:`D(\theta) = -L^*(-\theta)` is :math:`\alpha`-strongly concave (:math:`\alpha = 1`
for the squared loss, 4 for the logistic), so the dual optimum lies within
:math:`r = \sqrt{2(P(z_0) - D(\theta))/\alpha}` of any feasible :math:`\theta`, and a
block with :math:`\|F_j^T\theta\| + r\|F_j\|_2 < \beta` has
:math:`\sigma_j(\theta^\star) < \beta`, hence :math:`z_j^\star = 0`
(:func:`safe_screen`). The certificate is then re-checked on every block.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ...._units import available_memory, format_bytes
from ....errors import InvalidInputError, ProblemTooLargeError
from ....losses import HingeLoss, LogisticLoss, SquaredLoss
from ..linalg import allowed_cores
from .admm import solve_relu_admm
from .atoms import pattern_dual_norms, solve_relu_atoms
from .background import BackgroundSolve
from .ipm import predict_memory as ipm_memory
from .ipm import merges_signs, solve_relu_ipm
from .program import ReLUProgram, ReLUResult

__all__ = ["solve_relu", "safe_screen", "predict_memory", "ipm_seconds",
           "atoms_seconds_left", "working_set_ipm", "handed_over_whole", "METHODS",
           "ADMM_OPTIONS", "ATOMS_OPTIONS", "IPM_OPTIONS"]

ADMM_OPTIONS = frozenset({"rho", "check_every", "linear_solver", "cone_weight"})
ATOMS_OPTIONS = frozenset({"atoms_per_round"})
IPM_OPTIONS: frozenset[str] = frozenset()
METHODS = ("auto", "atoms", "ipm", "admm")

#: Interior-point iterations the time prediction assumes (measured: 20-45 on the
#: benchmark's programs, at every ``beta``), and with the hinge loss (80-110 at (1000, 20,
#: 100) below 0.1 ``beta_max``: its affine steps are cut short, by every kind of row in turn).
IPM_ITERATIONS = 40
IPM_ITERATIONS_HINGE = 100

#: Flops per second the time prediction assumes: what one core reached (measured: the
#: (1000, 20, 100) program at 0.001 ``beta_max``, 45 iterations in 9.3 s with one BLAS
#: thread, 2.2e10 by this count; the ``n``-square product is a symmetric rank-k update).
#: More cores only shorten the interior point, so the atoms' share errs short.
FLOP_RATE = 2e10

#: Seconds per block and per cubed block size ``(h + 1)^3`` of an interior-point iteration's
#: batched small-matrix work (factors, inverses and solves of the blocks' scalings), which
#: dominates with many small blocks (measured: 29 us per block at ``h = 14``, the 16,383
#: exhaustive patterns of 14 samples, one core).
BLOCK_SECONDS = 1e-8

#: Under ``"auto"``, the atoms' share of the interior point's predicted time before they
#: hand over to it.
ATOMS_SHARE = 0.5

#: The atoms always get at least this many seconds before a hand-over.
ATOMS_MIN_SECONDS = 1.0

#: Once the grown working set would hold this fraction of all patterns, every violated
#: pattern joins it at once (:func:`working_set_ipm`): a set soon outgrown is not solved
#: (measured: (4000, 50, 200) gated at 0.01 / 0.001 ``beta_max``, sets of 8, 32, 128 and
#: 200 patterns in 59 / 80 s, of 8, 32 and 200 in 42 / 48 s; 19 other gated cells of
#: (1000, 20, 100), breast_cancer and digits 3-vs-8 within the machine's spread).
WORKING_SET_ALL_FROM = 0.5

#: Patterns in the gated program's first working set (:func:`working_set_ipm`).
WORKING_SET_START = 8

#: The gated working set grows by at most this factor per solve (measured on nine gated
#: programs, Gaussian and real data: 2 took 47 s in all, 4 36 s, every violator at once
#: 32 s but 3.8 s instead of 1.0 s where few patterns are active).
WORKING_SET_GROWTH = 4

#: Rounds over which the atoms' rate of convergence is measured when their share runs
#: out: they go on (for 1.5 times the extrapolated time) instead of handing over when that
#: time is within their share of the interior point's (:func:`atoms_seconds_left`).
RATE_ROUNDS = 5


#: ``"auto"`` with a spare core runs the interior point beside the atoms when its
#: predicted time (:func:`ipm_seconds`) reaches this many seconds.
RACE_FROM_SECONDS = 2.0

#: ... starting it once the atoms have run this long (or their whole share, if shorter):
#: the atoms finish most solves at large ``beta`` sooner, and a fork beside them costs
#: them up to a second there (copy-on-write of the caller's pages, shared memory
#: bandwidth: (4000, 50, 200) at 0.5 ``beta_max``, 1.1 s alone, 2.05 s raced at once).
RACE_AFTER_SECONDS = 1.0


def predict_memory(N: int, h: int, P: int) -> int:
    r"""Bytes a solve of a program with ``N`` rows of ``h`` features and ``P`` patterns may
    need under ``"auto"`` without the interior point (which is only chosen when it fits,
    :func:`.ipm.predict_memory`): the ADMM's, the larger of the two others (a dense Cholesky
    factor of the ``hP x hP`` coupled system when ``hP <= 3000``, the cone slacks and
    multipliers, ``N x 2P`` a few copies, and chunked products of at most :math:`2^{22}`
    floats each)."""
    dense = 2 * 8 * (h * P) ** 2 if h * P <= 3000 else 0
    return int(dense + 6 * 8 * N * 2 * P + 4 * 8 * min(2**22, N * 2 * P) + 16 * 8 * h * 2 * P)


def ipm_seconds(program: ReLUProgram) -> float:
    """Predicted seconds of :func:`.ipm.solve_relu_ipm` on ``program``: :data:`IPM_ITERATIONS`
    (:data:`IPM_ITERATIONS_HINGE`) iterations of the ``n``-square product (:math:`hP`
    columns where the signs merge, :func:`.ipm.merges_signs`), the rows' Gram matrices and
    the products with ``A``, at :data:`FLOP_RATE`, and of the blocks' small factorizations
    and solves, at :data:`BLOCK_SECONDS` per block and cubed block size."""
    n, N, h, nb = program.n, program.N, program.h, program.nb
    columns = h * (program.P if merges_signs(program) else nb)
    per = n * n * columns + 2.0 * N * h * h * nb + 40.0 * N * h * nb
    iterations = IPM_ITERATIONS_HINGE if isinstance(program.loss, HingeLoss) else IPM_ITERATIONS
    return iterations * (per / FLOP_RATE + BLOCK_SECONDS * nb * (h + 1) ** 3)


def atoms_seconds_left(history: list[tuple[int, float, float]], tol: float) -> float:
    r"""Seconds the atoms would still need to certify ``tol``, extrapolated from the rate
    at which the certified relative gap fell over their last :data:`RATE_ROUNDS` rounds
    (``history``: ``(round, seconds, gap)``): :math:`\log(g/\mathrm{tol})` over the log-gap
    decrease per second. Infinite with fewer rounds, or a gap that did not fall."""
    if len(history) <= RATE_ROUNDS:
        return math.inf
    (_, t_a, g_a), (_, t_b, g_b) = history[-1 - RATE_ROUNDS], history[-1]
    if not (0.0 < g_b < g_a) or not math.isfinite(g_a) or t_b <= t_a:
        return 0.0 if 0.0 <= g_b <= tol else math.inf
    rate = math.log(g_a / g_b) / (t_b - t_a)
    return max(math.log(g_b / tol), 0.0) / rate


def _ipm_applies(program: ReLUProgram) -> bool:
    return isinstance(program.loss, (SquaredLoss, HingeLoss, LogisticLoss))


def _offset_without_prox(program: ReLUProgram) -> bool:
    """A loss at the best offset of an intercept with no elementwise prox, which the ADMM
    cannot take (a loss lacking its prox for no such reason is refused by the ADMM itself,
    naming what it lacks)."""
    return program.loss.centered_offset and not program.loss.has_prox()


def _ipm_fits(program: ReLUProgram) -> bool:
    need = ipm_memory(program.N, program.n, program.h, program.nb, program.cone)
    return need <= available_memory()


#: Strong concavity of the dual objective, per loss (none for the hinge loss).
_CONCAVITY = {"squared": 1.0, "logistic": 4.0}


def safe_screen(program: ReLUProgram, start: np.ndarray,
                previous: tuple[float, np.ndarray, float] | None = None) -> np.ndarray:
    r"""The patterns whose blocks are zero at every optimum of ``program`` (both signs), a
    boolean array over the patterns; none for the hinge loss.

    Each block is tested on a sphere around the dual optimum :math:`\theta^\star` (module
    docstring) with the bound :math:`\sigma_j(\theta) \le \|F_j^T\theta\|` and the
    spectral norm :math:`\|F_j\|_2` (:meth:`.program.ReLUProgram.pattern_norms`):

    * the GAP sphere of a feasible dual point: ``previous = (beta_p, theta_p, gap_p)`` (the
      last solve of a path: its ``beta``, feasible dual point and certified gap) scaled by
      at most :math:`\beta/\beta_p` (still feasible), else ``start``'s own dual point
      scaled into feasibility, with ``start``'s objective as the primal value;
    * with the squared loss and ``previous``, the sequential sphere: the dual optimum is
      :math:`\beta\,\Pi_{C}(y/\beta)` for the fixed convex set
      :math:`C = \{\theta : \sigma_j(\theta) \le 1\ \forall j\}`, and the projection is
      nonexpansive, so :math:`\theta^\star/\beta` lies within
      :math:`\sqrt{2\,\mathrm{gap}_p}/\beta_p + \|y\|\,|1/\beta_p - 1/\beta|` of
      :math:`\theta_p/\beta_p`.
    """
    alpha = _CONCAVITY.get(program.loss.name)
    if alpha is None:
        return np.zeros(program.P, dtype=bool)
    loss, y, beta = program.loss, program.y, program.beta
    lipschitz = program.pattern_norms()
    prog_value, net_value, _, pred = program.values(start)
    if previous is not None and previous[0] >= beta:
        beta_p, theta_p, gap_p = previous
        theta = loss.best_dual_scale(theta_p, y, beta_p, beta) * theta_p
    else:
        v = loss.dual_point(pred, y)
        theta = loss.best_dual_scale(
            v, y, float(np.linalg.norm(program.F0T(v), axis=0).max(initial=0.0)), beta) * v
    gap = max(prog_value, net_value) - loss.dual_value(theta, y)
    radius = np.sqrt(2.0 * max(gap, 0.0) / alpha)
    drop = np.linalg.norm(program.F0T(theta), axis=0) + radius * lipschitz \
        < beta * (1.0 - 1e-9)
    if previous is not None and loss.name == "squared":
        beta_p, theta_p, gap_p = previous
        reach = (np.sqrt(2.0 * max(gap_p, 0.0)) / beta_p
                 + float(np.linalg.norm(y)) * abs(1.0 / beta_p - 1.0 / beta))
        level = np.linalg.norm(program.F0T(theta_p), axis=0) / beta_p
        drop |= level + reach * lipschitz < 1.0 - 1e-9
    return drop


def solve_relu(program: ReLUProgram, *, method: str = "auto", start=None, tol: float = 1e-8,
               max_iters: int | None = None, time_limit: float | None = None,
               log: Any = None, progress: Any = None, screen: bool = True,
               previous: tuple[float, np.ndarray, float] | None = None,
               ipm_first: bool = False, brief_atoms: bool = False,
               spare_core: bool = False, **options) -> ReLUResult:
    """Solve one output's :class:`.program.ReLUProgram` by ``method`` (module docstring).
    ``options`` are the chosen method's (:data:`ATOMS_OPTIONS`, :data:`ADMM_OPTIONS`);
    ``progress`` is called with the certified relative gap at every certificate; with a
    ``start`` and ``screen``, safely screened patterns are removed first
    (:func:`safe_screen`, with ``previous``: the last solve of a path); ``ipm_first``
    sends ``"auto"`` straight to the interior point where it applies (along a path, once
    the atoms were handed over at a larger ``beta``); ``brief_atoms`` gives the atoms
    only :data:`ATOMS_MIN_SECONDS` before a hand-over (the next outputs of a program
    whose earlier output was handed over: the same data and ``beta``); ``spare_core``
    lets ``"auto"`` run the interior point beside the atoms in a forked process (the
    caller has a core free for it, :func:`_races`).

    Raises
    ------
    InvalidInputError
        For an unknown method, a method that does not apply, or options of another method.
    """
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {list(METHODS)}, got {method!r}.")
    if method == "atoms" and not program.cone:
        raise InvalidInputError("method='atoms' solves the cone-constrained program; this "
                                "one is gated (use method='ipm' or 'admm').")
    if method == "ipm" and not _ipm_applies(program):
        raise InvalidInputError(f"method='ipm' solves the squared, logistic and hinge "
                                f"losses; this program has the {program.loss.name} loss (use "
                                "method='atoms' or 'admm').")
    if method == "admm" and _offset_without_prox(program):
        raise InvalidInputError(f"method='admm' needs an elementwise prox of the loss, which "
                                f"{program.loss!r} (the {program.loss.name} loss with "
                                "intercept=True) has not; use method='auto', 'atoms' or "
                                "'ipm'.")
    allowed = {"auto": ATOMS_OPTIONS | ADMM_OPTIONS, "atoms": ATOMS_OPTIONS,
               "ipm": IPM_OPTIONS, "admm": ADMM_OPTIONS}[method]
    unknown = set(options) - allowed
    if unknown:
        raise InvalidInputError(f"option(s) {sorted(unknown)} do not apply to "
                                f"method={method!r} (its options: {sorted(allowed)}).")
    k = options.get("atoms_per_round", 1)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"atoms_per_round must be a positive integer, got {k!r}.")
    if screen and start is not None:
        drop = safe_screen(program, np.asarray(start, dtype=float), previous)
        if drop.any() and not drop.all():
            return _screened(program, drop, method=method, start=start, tol=tol,
                             max_iters=max_iters, time_limit=time_limit, log=log,
                             progress=progress, ipm_first=ipm_first,
                             brief_atoms=brief_atoms, spare_core=spare_core,
                             **options)[0]
    common = dict(start=start, tol=tol, max_iters=max_iters, log=log, progress=progress)
    atoms_opts = {k: v for k, v in options.items() if k in ATOMS_OPTIONS}
    admm_opts = {k: v for k, v in options.items() if k in ADMM_OPTIONS}
    if method == "atoms":
        return solve_relu_atoms(program, time_limit=time_limit, **common, **atoms_opts)
    if method == "ipm":
        return solve_relu_ipm(program, time_limit=time_limit, **common)
    if method == "admm":
        return solve_relu_admm(program, time_limit=time_limit, **common, **admm_opts)
    return _auto(program, time_limit, common, atoms_opts, admm_opts, ipm_first, brief_atoms,
                 spare_core)


def _screened(program: ReLUProgram, drop: np.ndarray, *, start, **kwargs
              ) -> tuple[ReLUResult, np.ndarray]:
    r"""Solve the program without the screened patterns, put its blocks back among zeros,
    and re-check the certificate on every block: the reduced solve's dual point keeps its
    value where the screened blocks' dual norms stay below ``beta``, else it is scaled
    down to feasibility (and returned so). The dual norms are bounded by
    :math:`\|F_j^Tv\|`, and, in a cone-constrained program, made exact where that bound
    exceeds ``beta`` (:func:`.atoms.pattern_dual_norms`: the cones shrink them). Also
    returns those bounds ``(P,)`` for the unscaled point (a working set's violations; the
    kept patterns' are :math:`\|F_j^Tv\|`)."""
    t0 = time.perf_counter()
    keep = np.flatnonzero(~drop)
    cols = np.concatenate([keep, keep + program.P]) if program.cone else keep
    reduced = ReLUProgram(program.A, program.M[:, keep], program.y, program.loss,
                          program.beta, pool=program.pool, cone=program.cone)
    res = solve_relu(reduced, start=np.asarray(start, dtype=float)[:, cols], screen=False,
                     **kwargs)
    blocks = np.zeros((program.h, program.nb))
    blocks[:, cols] = res.blocks
    d = res.dual_point
    G0 = program.F0T(d)
    norms = np.linalg.norm(G0, axis=0)
    if program.cone and drop.any():
        limit = kwargs.get("time_limit")
        norms[drop] = pattern_dual_norms(program, d, np.flatnonzero(drop),
                                         deadline=None if limit is None else t0 + limit,
                                         G0=G0)
    outside = float(norms[drop].max(initial=0.0))
    lower = res.lower_bound
    if outside > program.beta:  # the point scaled into the whole program's dual set
        lower, scale = program.dual_bound(d, outside)
        d = scale * d
    res.blocks, res.lower_bound, res.dual_point = blocks, lower, d
    res.statistics = {**res.statistics, "screened": int(drop.sum())}
    return res, norms


def _races(program: ReLUProgram) -> bool:
    """Whether ``"auto"``, given a spare core, runs the interior point (which applies)
    beside the atoms: when its memory fits twice over (both methods run at once) and its
    predicted time reaches :data:`RACE_FROM_SECONDS` (below it the atoms finish first or
    the fork costs more than it saves)."""
    need = ipm_memory(program.N, program.n, program.h, program.nb, program.cone)
    return 2 * need <= available_memory() and ipm_seconds(program) >= RACE_FROM_SECONDS


def _auto(program: ReLUProgram, time_limit: float | None, common: dict, atoms_opts: dict,
          admm_opts: dict, ipm_first: bool = False, brief_atoms: bool = False,
          spare_core: bool = False) -> ReLUResult:
    t0 = time.perf_counter()
    ipm = _ipm_applies(program) and _ipm_fits(program)
    if not program.cone:
        if ipm:
            return working_set_ipm(program, time_limit=time_limit, **common)
        if _offset_without_prox(program):
            needed = ipm_memory(program.N, program.n, program.h, program.nb, program.cone)
            raise ProblemTooLargeError(
                f"the gated program with the {program.loss.name} loss and an intercept needs "
                f"the interior point, which needs {format_bytes(needed)} (available: "
                f"{format_bytes(available_memory())}); the ADMM has no prox of that loss. "
                "Use fewer patterns, or no intercept.")
        return solve_relu_admm(program, time_limit=time_limit, **common, **admm_opts)
    if ipm and ipm_first:
        start = common.get("start")
        narrow = start is not None and _narrow(program, np.asarray(start, dtype=float))
        res = _interior_point(program, narrow, time_limit, common)
        res.statistics = {**res.statistics, "ipm_first": True}
        return res
    budget = time_limit
    if not ipm:
        share = math.inf
    elif brief_atoms:
        share = ATOMS_MIN_SECONDS
    else:
        share = max(ATOMS_SHARE * ipm_seconds(program), ATOMS_MIN_SECONDS)
    if ipm:
        budget = share if time_limit is None else min(share, time_limit)
    race = None  # the interior point in a forked process, from the atoms' first second
    if ipm and spare_core and not brief_atoms and _races(program):
        # the caller's deadline, not a limit counted from the delayed start
        race = BackgroundSolve(solve_relu_ipm, program, cores=allowed_cores(),
                               delay=min(RACE_AFTER_SECONDS, share),
                               deadline=None if time_limit is None else t0 + time_limit,
                               **{**common, "log": None, "progress": None})
    try:
        return _atoms_then_ipm(program, time_limit, t0, common, atoms_opts, ipm, share,
                               budget, race)
    finally:
        if race is not None:
            race.cancel()


def _atoms_then_ipm(program: ReLUProgram, time_limit: float | None, t0: float, common: dict,
                    atoms_opts: dict, ipm: bool, share: float, budget: float | None,
                    race: BackgroundSolve | None) -> ReLUResult:
    """The atoms for their ``budget``, on while they converge fast enough, then the
    interior point (``race``'s result when it ran beside them; they stop as soon as it
    has finished); the better certified of the two, ``"time_limit"`` when neither is
    optimal and the caller's time ran out on the interior point."""
    stop = race.done if race is not None else None
    first = solve_relu_atoms(program, time_limit=budget, stop=stop, **common, **atoms_opts)
    if first.status == "optimal" or not ipm:
        return first
    left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
    need = atoms_seconds_left(first.history, common["tol"])
    if first.status == "time_limit" and need <= share \
            and (left is None or left > 0) and not (race is not None and race.done()):
        # the atoms are converging fast enough to finish before the interior point would
        more = 1.5 * need if left is None else min(1.5 * need, left)
        cont = solve_relu_atoms(program, time_limit=more, stop=stop,
                                **{**common, "start": first.blocks}, **atoms_opts)
        cont.solve_time += first.solve_time
        cont.statistics = {**cont.statistics, "continued": True}
        if cont.status == "optimal":
            return cont
        first = cont if cont.relative_gap < first.relative_gap else first
        left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
    if first.status == "time_limit" and (left is None or left > 0):
        # the atoms' share ran out, not the caller's time: say how far they got
        first.status = "optimal_inaccurate" if first.relative_gap <= 10 * common["tol"] \
            else "error"
    narrow = _narrow(program, first.blocks)
    second = None
    if race is not None and race.started and (race.done() or not narrow):
        second = race.result()
    if second is None:  # no race (yet), or its process failed: the interior point here
        if left is not None and left <= 0:
            return first
        if race is not None:
            race.cancel()  # the working set below is cheaper than the race's whole program
        second = _interior_point(program, narrow, left, {**common, "start": first.blocks},
                                 dual=first.dual_point)
    else:
        second.solve_time = time.perf_counter() - t0
    better = second if (second.status == "optimal"
                        or second.relative_gap < first.relative_gap) else first
    better.statistics = {**better.statistics, "handed_over": better is second,
                         "atoms_seconds": first.solve_time, "atoms_status": first.status,
                         "raced": race is not None and race.started}
    if race is not None and race.failure:
        better.statistics["race_failure"] = race.failure
    if better.status != "optimal" and second.status == "time_limit":
        # the caller's time ran out on the interior point: that, not the atoms' stall
        # within their share, is why neither finished
        better.status = "time_limit"
    return better


def working_set_ipm(program: ReLUProgram, *, time_limit: float | None = None,
                    start=None, dual: np.ndarray | None = None, **common) -> ReLUResult:
    r"""The program by interior-point solves over a growing working set of patterns:
    each solve is restricted to the set, and its dual point :math:`v` is certified on every
    pattern (:func:`_screened`: :math:`\sigma_j(v) = \|F_j^Tv\|` in the gated program,
    the exact cone projections of the cone-constrained one); the patterns outside
    with :math:`\sigma_j > \beta` join the set, the most violated first, the set growing at
    most :data:`WORKING_SET_GROWTH` times per solve (every violator at once when that would
    reach :data:`WORKING_SET_ALL_FROM` of the patterns), until the bracket of the whole
    program is within ``tol``. The first set: the :data:`WORKING_SET_START` patterns of
    largest :math:`\|F_j^T\nabla L(0)\|`, or of largest dual norm at ``dual`` (a dual
    point of the program, the atoms' last when they hand over: the patterns nearest to
    joining), and, with ``start``, its nonzero blocks too (the atoms' last iterate). Each
    solve costs the interior point's :math:`n^2h` per pattern of the set and iteration,
    so few active patterns (large ``beta``, or many sampled patterns) make it fast.
    """
    t0 = time.perf_counter()
    P, tol = program.P, common["tol"]
    z0 = np.zeros((program.h, program.nb)) if start is None else np.asarray(start, float)
    keep = _live_patterns(program, z0)
    if dual is None:
        v0 = program.loss.dual_point(np.zeros(program.n), program.y)
        norms = np.linalg.norm(program.F0T(v0), axis=0)
    else:
        G0 = program.F0T(dual)
        norms = np.linalg.norm(G0, axis=0)
        if program.cone and not keep.all():
            out = np.flatnonzero(~keep)
            norms[out] = pattern_dual_norms(program, dual, out, G0=G0)
        norms[keep] = -np.inf  # the extra patterns are taken among the others
    keep[np.argsort(-norms)[:WORKING_SET_START]] = True
    solves, best = 0, None
    while True:
        left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
        if keep.all():
            res = solve_relu_ipm(program, time_limit=left, start=start, **common)
        else:
            res, sigma = _screened(program, ~keep, method="ipm", start=z0,
                                   time_limit=left, **common)
        solves += 1
        res.solve_time = time.perf_counter() - t0
        res.statistics = {**res.statistics, "working_set": int(keep.sum()),
                          "working_set_solves": solves}
        if best is None or res.relative_gap < best.relative_gap:
            best = res  # every solve's bracket holds for the whole program
        if keep.all() or res.status not in ("optimal", "optimal_inaccurate"):
            if res.status != "optimal" and best is not res:
                # cut short (the time limit): the best bracket found on the way
                best.status, best.solve_time = res.status, res.solve_time
                best.statistics = res.statistics
            return best
        if res.relative_gap <= tol:
            res.status = "optimal"
            return res
        over = np.flatnonzero(~keep & (sigma > program.beta))
        if not over.size:  # no violated pattern outside: the reduced solve's own bracket
            res.status = "optimal_inaccurate" if res.relative_gap <= 10 * tol else "error"
            return res
        # the most violated, the set growing at most WORKING_SET_GROWTH times (a dual point
        # from a small set is violated by far more patterns than the optimum uses)
        size = int(keep.sum())
        grow = max(int((WORKING_SET_GROWTH - 1) * size), WORKING_SET_START)
        if size + grow >= WORKING_SET_ALL_FROM * P:  # near the whole program: every
            grow = over.size  # violator now, rather than a solve of a set soon outgrown
        keep[over[np.argsort(-sigma[over])][:grow]] = True
        z0 = res.blocks


def handed_over_whole(result: ReLUResult) -> bool:
    """Whether ``result`` comes from a hand-over of the atoms to the whole program's
    interior point: the next outputs of the same program (same data and ``beta``) then
    give the atoms :data:`ATOMS_MIN_SECONDS` only (``brief_atoms``). Not after a hand-over
    to a working set, which starts from the atoms' iterate and needs a good one (from one
    second of atoms, 10-class digits with the hinge loss needed three working-set solves
    per output instead of one, and ran out of time)."""
    stats = result.statistics
    return bool(stats.get("handed_over")) and "working_set" not in stats


def _narrow(program: ReLUProgram, blocks: np.ndarray) -> bool:
    """Whether the interior point that takes over from ``blocks`` (the atoms' last iterate,
    or a path's previous solution) runs over a working set (:func:`working_set_ipm`): when
    at most :data:`WORKING_SET_ALL_FROM` of the patterns are live in them (measured:
    breast_cancer with 500 patterns, the hinge loss at 0.01 ``beta_max``: 14 live
    patterns after the atoms' first second, which were the optimum's; the run took 2.9 s
    instead of 25 s with the whole program's interior point)."""
    return bool(_live_patterns(program, blocks).sum() <= WORKING_SET_ALL_FROM * program.P)


def _interior_point(program: ReLUProgram, narrow: bool, time_limit: float | None,
                    common: dict, dual: np.ndarray | None = None) -> ReLUResult:
    """The interior point over a working set from ``common["start"]`` and ``dual``
    (``narrow``, :func:`_narrow`) or on the whole program."""
    if narrow:
        return working_set_ipm(program, time_limit=time_limit, dual=dual, **common)
    return solve_relu_ipm(program, time_limit=time_limit, **common)


def _live_patterns(program: ReLUProgram, blocks: np.ndarray) -> np.ndarray:
    """The patterns ``(P,)`` with a nonzero block (either sign of a cone-constrained
    program)."""
    live = np.linalg.norm(blocks, axis=0) > 0
    return live.reshape(2, program.P).any(axis=0) if program.cone else live
