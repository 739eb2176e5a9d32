"""One solve in this process, on a backend already chosen: sdpnets' first-order solver or a
verified conic solve, then, for ``backend="auto"``, the fallback from the first to the
second.

The first-order result is verified like a conic one (:func:`.verify.verify`). Under
``"auto"``, a first-order solve that did not certify ``tol`` (it stalled, ended
``"optimal_inaccurate"`` or hit its iteration cap; not its time limit) is followed by one
verified solve on the conic solver ``"auto"`` would
pick among those predicted to fit (:func:`.memory.choose_backend`); when none fits, the
first-order result is kept if it is solved, and otherwise the solve is refused as too large
(:class:`~sdpnets.ProblemTooLargeError`: the first-order solver's word and what each conic
solver would need), since no backend can return a network.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ..backends import Backend, FirstOrderBackend, resolve_backend
from ..errors import ProblemTooLargeError
from ..results import SolveResult
from .memory import choose_backend, conic_needs
from .protocol import SolvableProgram
from .verify import labelled, solve_conic, solve_verified, verify

__all__ = ["run"]


def run(program: SolvableProgram, engine: Backend | FirstOrderBackend, *, auto: bool,
        prebuild_time: float, tol: float, max_iters: int | None, time_limit: float | None,
        verbose: bool, warm_start: bool, memory_limit: Any,
        solver_options: dict[str, Any]) -> SolveResult:
    """Solve ``program`` on ``engine`` here and return the verified result (also left in
    ``program.result``); ``auto`` allows the fallback of the module docstring."""
    if not isinstance(engine, Backend):  # sdpnets' own first-order solver
        started = time.perf_counter()
        result = program.solve_firstorder(tol=tol, max_iters=max_iters, time_limit=time_limit,
                                          verbose=verbose, warm_start=warm_start,
                                          **solver_options)
        program.result = labelled(program, result)
        program.result = verify(program, program.result, tol)
        if auto and program.result.status not in ("optimal", "time_limit"):
            left = None if time_limit is None else \
                time_limit - (time.perf_counter() - started)
            if left is not None and left <= 0:
                return program.result
            return _fallback(program, program.result, tol, max_iters, left, verbose,
                             memory_limit)
        return program.result
    options = dict(tol=tol, max_iters=max_iters, time_limit=time_limit, verbose=verbose,
                   **solver_options)
    return solve_verified(program, engine, prebuild_time, warm_start, options,
                          tighten=not solver_options and engine.takes_tol)


def _fallback(program: SolvableProgram, first: SolveResult, tol: float, max_iters: int | None,
              time_limit: float | None, verbose: bool, memory_limit: Any) -> SolveResult:
    """``backend="auto"`` after sdpnets' first-order solver could not certify ``tol``: one
    verified solve, in the time left, on the conic solver ``"auto"`` would pick among those
    predicted to fit (the caller's solver options were the first-order solver's, so none
    reach it); the first-order result is kept when no conic solver fits, or when the conic
    solve ends unsolved while the first-order one was solved.

    Raises
    ------
    ProblemTooLargeError
        When ``first`` is unsolved and no conic solver is predicted to fit.
    """
    try:
        engine = choose_backend(program, resolve_backend("auto"), True, memory_limit)
    except ProblemTooLargeError:
        engine = None
    if not isinstance(engine, Backend):  # no conic solver fits, only the first-order one
        if first.solved:
            return first
        raise ProblemTooLargeError(
            f"{type(program).__name__}.solve(backend='auto'): sdpnets' first-order solver "
            f"ended {first.status!r} ({first.message.rstrip('.')}), and "
            f"{conic_needs(program, memory_limit)}.")
    options = dict(tol=tol, max_iters=max_iters, time_limit=time_limit, verbose=verbose)
    second = solve_conic(program, engine, options)
    if first.solved and not second.solved:
        program.result = replace(first, message=(
            f"{first.message} (backend 'auto': the conic fallback on {second.backend} ended "
            f"{second.status!r}: {second.message})").strip())
        return program.result
    program.result = replace(second, message=(
        f"{second.message} (backend 'auto': the first-order solver did not certify the "
        f"gap: {first.message})").strip())
    return program.result
