"""The path every ``solve()`` takes, one trip down: options checked, backend chosen, memory
guarded, then the solve here or in a child process.

:func:`solve` is what :meth:`sdpnets.ConvexProgram.solve` hands itself to:

1. the common options are checked and the backend name resolved
   (:func:`sdpnets.backends.resolve_backend`); ``backend="auto"`` means sdpnets'
   first-order solver for a program with ``auto_firstorder`` (the least-squares families),
   else the conic order MOSEK (licensed), Clarabel, SCS;
2. a backend that lacks one of the program's cones, or ``"firstorder"`` for a program
   without ``has_firstorder``, is refused with :class:`~sdpnets.InvalidInputError`;
3. the memory guard (:func:`.memory.choose_backend`) refuses a backend predicted not to
   fit, or, under ``"auto"``, moves on to one that fits;
4. the solve runs here (:func:`.run.run`) or, with ``isolate=True``, in a child process
   (:func:`.isolated_solve.solve_isolated`), with ``memory_limit`` (less the fixed
   :data:`.memory.OVERHEAD`) as the memory the solvers' own choices may count on
   (:func:`sdpnets._units.solve_budget`: how many worker processes to fork, whether an
   interior point fits); either way it ends verified by the program's certificate
   (:mod:`.verify`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .._units import parse_memory, solve_budget
from .._validate import check_solve_options
from ..backends import FIRST_ORDER, Backend, get_backend, resolve_backend
from ..errors import InvalidInputError
from ..results import SolveResult
from .isolated_solve import solve_isolated
from .memory import OVERHEAD, choose_backend
from .protocol import SolvableProgram
from .run import run

__all__ = ["solve"]


def solve(program: SolvableProgram, backend: str = "auto", tol: float = 1e-8,
          max_iters: int | None = None, time_limit: float | None = None,
          verbose: bool = False, *, warm_start: bool = False,
          memory_limit: int | float | str | None = None, isolate: bool = False,
          **solver_options: Any) -> SolveResult:
    """Solve ``program`` (the parameters of :meth:`sdpnets.ConvexProgram.solve`).

    Returns
    -------
    SolveResult
        Verified; also left in ``program.result``.

    Raises
    ------
    InvalidInputError
        For bad options, a backend without the program's cones, or ``"firstorder"`` for a
        program that has no first-order solver (before anything is built).
    ProblemTooLargeError
        Before any solver runs, when no allowed backend is predicted to fit in memory.
    """
    check_solve_options(tol, max_iters, time_limit)
    if not isinstance(backend, str):
        get_backend(backend)  # raises UnknownBackendError naming backend
    if not isinstance(isolate, (bool, np.bool_)):
        raise InvalidInputError(f"isolate must be True or False, got {isolate!r}.")
    auto = backend == "auto"
    if auto and program.auto_firstorder:
        backend = FIRST_ORDER
    engine = resolve_backend(backend)
    if not isinstance(engine, Backend) and not program.has_firstorder:
        raise InvalidInputError(
            f"backend='firstorder' is not available for {type(program).__name__}; use one of "
            "'auto', 'clarabel', 'scs', 'mosek'."
        )
    if isinstance(engine, Backend) and not engine.supports(program.cones):
        raise InvalidInputError(
            f"backend {engine.name!r} does not support the cones this program needs "
            f"({', '.join(sorted(program.cones - engine.cones))})."
        )
    start = time.perf_counter()
    built = program.is_built
    engine = choose_backend(program, engine, auto, memory_limit)  # may build the problem
    prebuild_time = 0.0 if built else time.perf_counter() - start
    options: dict[str, Any] = dict(
        tol=tol, max_iters=max_iters, time_limit=time_limit, verbose=verbose,
        warm_start=warm_start, memory_limit=memory_limit, solver_options=solver_options)
    # the solvers' own memory choices stay within memory_limit, less the fixed overhead
    # every solve has (the guard's OVERHEAD)
    budget = None if memory_limit is None else max(parse_memory(memory_limit) - OVERHEAD, 0)
    with solve_budget(budget):
        if isolate:
            return solve_isolated(program, engine, **options)
        return run(program, engine, auto=auto, prebuild_time=prebuild_time, **options)

