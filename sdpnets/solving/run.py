"""One solve in this process, on a backend already chosen: sdpnets' first-order solver or a
verified conic solve, then, for ``backend="auto"``, the fallback from the first to the
second.

The first-order result is verified like a conic one (:func:`.verify.verify`). Under
``"auto"``, a first-order solve that did not certify ``tol`` (it stalled, ended
``"optimal_inaccurate"`` or hit its iteration cap; not its time limit) is followed by a
verified solve on the first conic solver of the auto order predicted to fit
(:func:`.memory.fitting_conic`), then the next ones while they end unsolved; when none fits, the
first-order result is kept if it is solved, and otherwise the solve is refused as too large
(:class:`~sdpnets.ProblemTooLargeError`: the first-order solver's word and what each conic
solver would need), since no backend can return a network. Under ``"auto"`` a conic solve
that ends unsolved (Clarabel's "InsufficientProgress" on an exponential-cone program, say)
is followed by the next conic solver of the auto order that fits, in the time left, until
one solves; each failure is named in the kept result's message.

**Time.** A conic solver's ``time_limit`` bounds its iterations, not cvxpy's compile of the
problem before them, which takes seconds on the ReLU programs (:data:`COMPILE_SECONDS_PER_NNZ`
per nonzero of the conic data). Within a caller's ``time_limit`` a conic solve therefore
starts only when the time left holds twice its predicted compile, and its solver is given
what the compile leaves (a fallback started with 1.5 of 10 s left used to end at 17 s).
When no conic solver solves the program, the result with the best certified bracket is
kept (the first-order one, unless a conic one brackets the optimum closer), and
``"time_limit"`` says that the caller's time ran out on the way.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ..backends import Backend, FirstOrderBackend
from ..errors import ProblemTooLargeError
from ..results import SolveResult
from .memory import conic_needs, fitting_conic
from .protocol import SolvableProgram
from .verify import labelled, solve_conic, solve_verified, verify

__all__ = ["run", "COMPILE_SECONDS_PER_NNZ"]

#: Seconds cvxpy takes to compile a program, per nonzero of its conic data (constraint
#: matrix and quadratic objective): 5e-7 to 8e-7 measured on ReLU programs of 4e6 to 3e7
#: nonzeros (2.5 to 24 s); the larger is taken.
COMPILE_SECONDS_PER_NNZ = 8e-7


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
            return _fallback(program, program.result, tol, max_iters, time_limit, verbose,
                             memory_limit, started)
        return program.result
    started = time.perf_counter()
    options = dict(tol=tol, max_iters=max_iters, time_limit=time_limit, verbose=verbose,
                   **solver_options)
    result = solve_verified(program, engine, prebuild_time, warm_start, options,
                            tighten=not solver_options and engine.takes_tol)
    verdict = result.status in ("infeasible", "unbounded") and not program.always_feasible
    if not auto or result.solved or verdict:
        return result
    others = [b for b in fitting_conic(program, memory_limit) if b.name != engine.name]
    # the caller's solver options were the first solver's: none reach the others
    plain = dict(tol=tol, max_iters=max_iters, time_limit=time_limit, verbose=verbose)
    solved, failed, _ = _try_conic(program, others, plain, started)
    failed = [result] + failed
    kept = solved if solved is not None else failed[-1]
    earlier = [f for f in failed if f is not kept]
    if earlier:
        kept = replace(kept, message=f"{kept.message} (backend 'auto': {_said(earlier)})".strip())
    program.result = kept
    return kept


def _try_conic(program: SolvableProgram, engines: list[Backend], options: dict[str, Any],
               started: float) -> tuple[SolveResult | None, list[SolveResult], bool]:
    """Verified solves on ``engines`` in turn, each in the time left of
    ``options["time_limit"]`` since ``started``, until one is solved: ``(that result or
    None, the unsolved results before it, whether the time left ran out before an engine
    could start)``. An engine starts only with twice its predicted compile time left
    (:func:`compile_seconds`), and its solver gets the time left after that compile."""
    limit = options["time_limit"]
    failed: list[SolveResult] = []
    for engine in engines:
        left = None if limit is None else limit - (time.perf_counter() - started)
        if left is not None:
            compiling = compile_seconds(program, engine)
            if left <= 2 * compiling:
                return None, failed, True
            left -= compiling
        result = solve_conic(program, engine, {**options, "time_limit": left})
        if result.solved:
            return result, failed, False
        failed.append(result)
    return None, failed, False


def compile_seconds(program: SolvableProgram, engine: Backend) -> float:
    """Predicted seconds of cvxpy's compile of ``program`` for ``engine``
    (:data:`COMPILE_SECONDS_PER_NNZ` per nonzero of its conic data)."""
    sizes, _ = engine.memory_for(program.problem)
    return COMPILE_SECONDS_PER_NNZ * (sizes.nnz_A + sizes.nnz_P)


def _said(failed: list[SolveResult]) -> str:
    return "; ".join(f"{f.backend} ended {f.status!r}: {f.message.rstrip('.')}"
                     for f in failed)


def _fallback(program: SolvableProgram, first: SolveResult, tol: float, max_iters: int | None,
              time_limit: float | None, verbose: bool, memory_limit: Any,
              started: float) -> SolveResult:
    """``backend="auto"`` after sdpnets' first-order solver could not certify ``tol``: a
    verified solve, in the time left, on the conic solver ``"auto"`` would pick among those
    predicted to fit, then on the next ones while they end unsolved (:func:`_try_conic`;
    the caller's solver options were the first-order solver's, so none reach them; the
    caller's ``time_limit`` counts from ``started``, the first-order solve's start); the
    first-order result is kept when no conic solver fits, when the conic solves end
    unsolved while the first-order one was solved, and when none of them brackets the
    optimum closer (``"time_limit"`` if the caller's time ran out on them).

    Raises
    ------
    ProblemTooLargeError
        When ``first`` is unsolved and no conic solver is predicted to fit.
    """
    engines = fitting_conic(program, memory_limit)
    if not engines:  # no conic solver fits, only the first-order one
        if first.solved:
            return first
        raise ProblemTooLargeError(
            f"{type(program).__name__}.solve(backend='auto'): sdpnets' first-order solver "
            f"ended {first.status!r} ({first.message.rstrip('.')}), and "
            f"{conic_needs(program, memory_limit)}.")
    options = dict(tol=tol, max_iters=max_iters, time_limit=time_limit, verbose=verbose)
    second, failed, out_of_time = _try_conic(program, engines, options, started)
    if second is None:  # no conic solver solved it: the best certified bracket stands
        best = min([first] + failed, key=lambda r: r.relative_gap)  # first on ties
        if first.solved or best is first:
            timed = out_of_time or any(f.status == "time_limit" for f in failed)
            notes = [_said(failed)] if failed else []
            if out_of_time:
                notes.append("no time left to compile the next conic solver")
            said = "; ".join(notes) or "no time left"
            program.result = replace(
                first, status="time_limit" if timed and not first.solved else first.status,
                message=f"{first.message} (backend 'auto': the conic fallback: {said})".strip())
            return program.result
        second, failed = best, [f for f in failed if f is not best]
    said = f"; then {_said(failed)}" if failed else ""
    program.result = replace(second, message=(
        f"{second.message} (backend 'auto': the first-order solver did not certify the "
        f"gap: {first.message.rstrip('.')}{said})").strip())
    return program.result
