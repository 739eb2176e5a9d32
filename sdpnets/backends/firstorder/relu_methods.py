r"""Which solver takes a two-layer ReLU program on ``backend="firstorder"``.

``method="active_set"`` (:mod:`.relu_active_set`: interior-point solves of reduced
programs, polished on the faces of the cones, certified on the full one) applies to the
cone-constrained program with the squared loss; ``method="admm"`` (:mod:`.relu_admm`) to
every program; ``"auto"`` takes the active set where it applies and its working sets stay
small, the ADMM otherwise.

The active set's reduced program is dense: its interior-point solves factor matrices of
order (blocks kept) x ``h``. Before each reduced solve its memory is predicted as
:data:`REDUCED_BYTES_PER_ENTRY` bytes per entry of that order's square; a working set that
would not fit in the memory available is handed to the ADMM under ``"auto"``, and refused
with :class:`~sdpnets.errors.ProblemTooLargeError` under an explicit ``"active_set"`` (up
front when the first working set already would not fit), instead of taking the process
down.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..._units import available_memory, format_bytes
from ...errors import InvalidInputError, ProblemTooLargeError
from ...losses import Loss
from .relu_active_set import DEFAULT_BLOCKS_PER_ROUND, _TooLarge, solve_relu_active_set
from .relu_admm import ReLUADMMResult, solve_relu_admm

__all__ = ["solve_relu_firstorder", "METHODS", "ADMM_OPTIONS", "ACTIVE_SET_OPTIONS",
           "MAX_REDUCED_VARIABLES", "REDUCED_BYTES_PER_ENTRY"]

#: Peak bytes of one reduced solve per entry of the square of its number of variables (the
#: kept Gram matrix and the one being extended, the Newton matrix factored in place, the
#: products of the face polish). Measured with tracemalloc on (4000, 50, 200) working sets:
#: 64 bytes per entry at 2,000 variables, 88 at 1,000 (where the fixed chunk buffers of
#: the Gram products weigh more).
REDUCED_BYTES_PER_ENTRY = 96


def reduced_variables_that_fit(memory: int | None = None) -> int:
    """The most reduced variables whose predicted memory fits in ``memory`` bytes (default:
    the memory available now)."""
    memory = available_memory() if memory is None else int(memory)
    return int(np.sqrt(max(memory, 0) / REDUCED_BYTES_PER_ENTRY))


ADMM_OPTIONS = frozenset({"rho", "check_every", "linear_solver", "cone_weight"})
ACTIVE_SET_OPTIONS = frozenset({"rows_per_round", "blocks_per_round"})
METHODS = ("auto", "active_set", "admm")

#: ``method="auto"`` hands over to the ADMM when a working set has more reduced variables
#: (blocks times ``h``) than this (the first one at most ``2 blocks_per_round`` blocks):
#: each interior-point iteration factors a dense matrix of that order (measured on one
#: core: 2,000 variables 0.13 s per factor, 0.2-0.3 s per iteration; 4,000 variables 36 s
#: for a 17-iteration solve) and forming its Gram matrix costs ``2 n (m h)^2`` flops (at
#: (20000, 100, 2000) with the gated start and the certificates, minutes per round).
MAX_REDUCED_VARIABLES = 3000


def solve_relu_firstorder(A, masks, y, loss: Loss, beta: float, *, method: str = "auto",
                          cone: bool = True, pool: int = 1, start=None, tol: float = 1e-8,
                          max_iters: int | None = None, time_limit: float | None = None,
                          log: Any = None, **options) -> ReLUADMMResult:
    """One output's solve by ``method``: ``"active_set"`` (:func:`solve_relu_active_set`,
    cone-constrained program, squared loss), ``"admm"``
    (:func:`~.relu_admm.solve_relu_admm`) or ``"auto"``: the active set where it applies
    and its working sets have at most :data:`MAX_REDUCED_VARIABLES` reduced variables (and
    fit in memory), else the ADMM (with the time left, from the active set's blocks).

    Raises
    ------
    ProblemTooLargeError
        With ``method="active_set"``, when a working set's reduced program would not fit in
        the memory available (see the module docstring).
    """
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {list(METHODS)}, got {method!r}.")
    applies = cone and loss.name == "squared"
    if method == "active_set" and not applies:
        raise InvalidInputError(
            "method='active_set' solves the cone-constrained program with the squared loss; "
            f"this one is {'gated' if not cone else 'not squared'} (use method='admm')."
        )
    t0 = time.perf_counter()
    first = 2 * options.get("blocks_per_round", DEFAULT_BLOCKS_PER_ROUND) * A.shape[1]
    fits = reduced_variables_that_fit()
    limit = min(MAX_REDUCED_VARIABLES, fits) if method == "auto" else fits
    if method == "auto" and first > limit:
        applies = False  # even the first working set would be too large
    if method == "active_set" and first > fits:
        raise ProblemTooLargeError(_too_large(first, fits))
    if method != "admm" and applies:
        unknown = set(options) - ACTIVE_SET_OPTIONS - ADMM_OPTIONS
        if unknown:
            raise InvalidInputError(f"unknown option(s) {sorted(unknown)}.")
        kw = {k: options.pop(k) for k in ACTIVE_SET_OPTIONS & set(options)}
        try:
            return solve_relu_active_set(
                A, masks, y, loss, beta, pool=pool, start=start, tol=tol, max_iters=max_iters,
                time_limit=time_limit, log=log,
                max_variables=limit, **kw)
        except _TooLarge as stop:
            if method == "active_set":
                raise ProblemTooLargeError(_too_large(limit + 1, fits)) from None
            if log is not None:
                log.debug("relu active set: working set too large, ADMM instead")
            if start is None and np.any(stop.args[0]):
                start = stop.args[0]
    left = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 0.0)
    options = {k: v for k, v in options.items() if k not in ACTIVE_SET_OPTIONS}
    return solve_relu_admm(A, masks, y, loss, beta, pool=pool, cone=cone, start=start, tol=tol,
                           max_iters=max_iters, time_limit=left, log=log, **options)


def _too_large(variables: int, fits: int) -> str:
    need = REDUCED_BYTES_PER_ENTRY * variables**2
    return (f"method='active_set': a reduced program of {variables} variables would need "
            f"about {format_bytes(need)}, and only {fits} variables fit in the memory "
            f"available ({format_bytes(available_memory())}); use method='admm' (memory "
            "O(n P) booleans plus O(n d)) or method='auto'.")
