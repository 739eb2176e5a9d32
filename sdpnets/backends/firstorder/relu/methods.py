r"""Which method solves a :class:`.program.ReLUProgram` on ``backend="firstorder"``.

``method="atoms"`` (:mod:`.atoms`: column generation over exactly feasible directions
of the pattern cones, with pricing by cutting-plane least squares) and
``method="active_set"`` (:mod:`.active_set`: interior-point solves of reduced
programs, polished on the faces of the cones) apply to the cone-constrained program with
the squared loss; ``method="admm"`` (:mod:`.admm`) to every program. ``"auto"`` takes
the atoms where they apply (the fastest, docs/design_notes.md), the ADMM otherwise, and
hands a stalled column generation with few blocks over to the active set.

The active set's reduced program is dense: its interior-point solves factor matrices of
order (blocks kept) x ``h``. Before each reduced solve its memory is predicted as
:data:`REDUCED_BYTES_PER_ENTRY` bytes per entry of that order's square; a working set that
would not fit in the memory available is refused with
:class:`~sdpnets.errors.ProblemTooLargeError` (up front when the first working set already
would not fit), instead of taking the process down. The atoms keep ``n`` floats per atom
(tens to hundreds) and the rows each block's pricing found.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...._units import available_memory, format_bytes
from ....errors import InvalidInputError, ProblemTooLargeError
from ....losses import SquaredLoss
from .active_set.solver import DEFAULT_BLOCKS_PER_ROUND, _TooLarge, solve_relu_active_set
from .admm import solve_relu_admm
from .atoms import solve_relu_atoms
from .program import ReLUProgram, ReLUResult

__all__ = ["solve_relu", "predict_memory", "METHODS", "ADMM_OPTIONS", "ACTIVE_SET_OPTIONS",
           "ATOMS_OPTIONS", "REDUCED_BYTES_PER_ENTRY"]

#: Peak bytes of one reduced solve per entry of the square of its number of variables (the
#: kept Gram matrix and the one being extended, the Newton matrix factored in place, the
#: products of the face polish), calibrated with tracemalloc (docs/design_notes.md).
REDUCED_BYTES_PER_ENTRY = 96


def reduced_variables_that_fit(memory: int | None = None) -> int:
    """The most reduced variables whose predicted memory fits in ``memory`` bytes (default:
    the memory available now)."""
    memory = available_memory() if memory is None else int(memory)
    return int(np.sqrt(max(memory, 0) / REDUCED_BYTES_PER_ENTRY))


ADMM_OPTIONS = frozenset({"rho", "check_every", "linear_solver", "cone_weight"})
ACTIVE_SET_OPTIONS = frozenset({"rows_per_round", "blocks_per_round"})
ATOMS_OPTIONS = frozenset({"atoms_per_round"})

#: Under ``"auto"``, a stalled column generation hands over to the active set when its
#: blocks are at most this many reduced variables (blocks times ``h``): a fraction of a
#: second per interior-point factor.
HANDOVER_VARIABLES = 3000
METHODS = ("auto", "atoms", "active_set", "admm")


def predict_memory(N: int, h: int, P: int) -> int:
    r"""Bytes a solve of a program with ``N`` rows of ``h`` features and ``P`` patterns may
    need, by its most demanding method, the ADMM: a dense Cholesky factor of the ``hP x hP``
    coupled system when ``hP <= 3000`` (else conjugate gradients), the cone slacks and
    multipliers (``N x 2P``, a few copies) and chunked products of at most :math:`2^{22}`
    floats each. The atoms (the default) hold ``N`` floats per atom of their master problem
    instead of the ``N x 2P`` slacks; the active set checks each reduced program against
    the memory available itself (:data:`REDUCED_BYTES_PER_ENTRY`)."""
    dense = 2 * 8 * (h * P) ** 2 if h * P <= 3000 else 0
    return int(dense + 6 * 8 * N * 2 * P + 4 * 8 * min(2**22, N * 2 * P) + 16 * 8 * h * 2 * P)


def solve_relu(program: ReLUProgram, *, method: str = "auto", start=None, tol: float = 1e-8,
               max_iters: int | None = None, time_limit: float | None = None,
               log: Any = None, **options) -> ReLUResult:
    """Solve one output's :class:`.program.ReLUProgram` by ``method``: ``"atoms"``
    (:func:`.atoms.solve_relu_atoms`) or ``"active_set"``
    (:func:`.active_set.solver.solve_relu_active_set`), both for the cone-constrained
    program with the squared loss; ``"admm"`` (:func:`.admm.solve_relu_admm`); or
    ``"auto"``: the atoms where they apply, else the ADMM. ``options`` are the chosen
    method's (:data:`ATOMS_OPTIONS`, :data:`ACTIVE_SET_OPTIONS`, :data:`ADMM_OPTIONS`).

    Raises
    ------
    InvalidInputError
        For an unknown method, a method that does not apply, or options of another method.
    ProblemTooLargeError
        With ``method="active_set"``, when a working set's reduced program would not fit in
        the memory available (see the module docstring).
    """
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {list(METHODS)}, got {method!r}.")
    applies = program.cone and isinstance(program.loss, SquaredLoss)
    if method in ("atoms", "active_set") and not applies:
        raise InvalidInputError(
            f"method={method!r} solves the cone-constrained program with the squared loss; "
            f"this one is {'gated' if not program.cone else 'not squared'} (use method='admm')."
        )
    auto = method == "auto"
    if auto:
        method = "atoms" if applies else "admm"
    allowed = {"atoms": ATOMS_OPTIONS, "active_set": ACTIVE_SET_OPTIONS,
               "admm": ADMM_OPTIONS}[method]
    unknown = set(options) - allowed
    if unknown:
        raise InvalidInputError(f"option(s) {sorted(unknown)} do not apply to "
                                f"method={method!r} (its options: {sorted(allowed)}).")
    for name in ("atoms_per_round", "rows_per_round", "blocks_per_round"):
        k = options.get(name, 1)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {k!r}.")
    common = dict(start=start, tol=tol, max_iters=max_iters, time_limit=time_limit, log=log)
    if method == "atoms":
        t0 = time.perf_counter()
        res = solve_relu_atoms(program, **common, **options)
        return _finish_stalled(res, program, common, t0) if auto else res
    if method == "admm":
        return solve_relu_admm(program, **common, **options)
    first = 2 * options.get("blocks_per_round", DEFAULT_BLOCKS_PER_ROUND) * program.h
    fits = reduced_variables_that_fit()
    if first > fits:
        raise ProblemTooLargeError(_too_large(first, fits))
    try:
        return solve_relu_active_set(program, max_variables=fits, **common, **options)
    except _TooLarge:
        raise ProblemTooLargeError(_too_large(fits + 1, fits)) from None


def _finish_stalled(res: ReLUResult, program: ReLUProgram, common: dict,
                    t0: float) -> ReLUResult:
    """Under ``"auto"``, a column generation that stalled short of ``tol`` is finished by
    the active set from its blocks when they are at most :data:`HANDOVER_VARIABLES`
    reduced variables and fit in memory, and its working sets stay so (its interior-point
    solves and face polish reach rounding error);
    the better certified result is returned."""
    live = int(np.count_nonzero(np.linalg.norm(res.blocks, axis=0)))
    cap = min(HANDOVER_VARIABLES, reduced_variables_that_fit())
    if res.status not in ("optimal_inaccurate", "error") or live * program.h > cap:
        return res
    left = common["time_limit"]
    if left is not None:
        left = max(left - (time.perf_counter() - t0), 0.0)
    try:
        other = solve_relu_active_set(program, **{
            **common, "start": res.blocks, "time_limit": left, "max_variables": cap})
    except _TooLarge:
        return res
    if other.status == "optimal" or other.relative_gap < res.relative_gap:
        return other
    return res


def _too_large(variables: int, fits: int) -> str:
    need = REDUCED_BYTES_PER_ENTRY * variables**2
    return (f"method='active_set': a reduced program of {variables} variables would need "
            f"about {format_bytes(need)}, and only {fits} variables fit in the memory "
            f"available ({format_bytes(available_memory())}); use method='admm' (memory "
            "O(n P) booleans plus O(n d)) or method='auto'.")
