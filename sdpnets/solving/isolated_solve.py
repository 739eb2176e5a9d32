"""``solve(isolate=True)``: a program solved in a child process
(:func:`.isolation.run_isolated`), its solution copied back.

Even a crash of a solver's native code (an abort on a failed allocation, a segfault) comes
back as a :class:`~sdpnets.results.SolveResult` with status ``"error"``, and the caller's
process survives. The child runs the same in-process solve as an ordinary ``solve()``
(:func:`.run.run`, on the backend the parent chose and checked); it sends back the result,
the attributes the solve changed (the program's portable :meth:`snapshot`) and the
solution of the cvxpy problem, which the parent puts into its own problem.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from typing import Any

import numpy as np

from .._units import parse_memory
from ..backends import Backend, FirstOrderBackend
from ..results import SolveResult
from .isolation import run_isolated
from .protocol import SolvableProgram
from .run import run

__all__ = ["solve_isolated", "ISOLATED_TIME_FACTOR", "ISOLATED_TIME_GRACE"]

#: Hard wall-clock limit of an isolated solve with a ``time_limit``: the solver's own limit
#: first, then the child is killed at ``ISOLATED_TIME_FACTOR * time_limit + ISOLATED_TIME_GRACE``.
ISOLATED_TIME_FACTOR = 2.0
ISOLATED_TIME_GRACE = 30.0


def _solve_in_child(program: SolvableProgram, engine: Backend | FirstOrderBackend,
                    options: dict[str, Any]) -> tuple:
    """Child side of :func:`solve_isolated`: solve, then collect what the parent needs to hold
    the same solution: the portable attributes the solve replaced, and the variables' values
    and constraints' dual values in the problem's own order (the solve may rebuild the
    problem, e.g. to re-scale it, so cvxpy's ids are not shared with the parent)."""
    before = program.snapshot()  # holds the old values, so no id is reused
    problem_before = program.problem if program.is_built else None
    result = run(program, engine, auto=False, prebuild_time=0.0, **options)
    state = {key: value for key, value in program.snapshot(portable=True).items()
             if key not in before or before[key] is not value}
    solution = None
    if program.is_built:
        problem = program.problem
        solution = (
            problem is not problem_before,
            [var.value for var in problem.variables()],
            [con.dual_value for con in problem.constraints],
            (problem.status, problem.value),
        )
    payload = (result, state, solution)
    try:
        pickle.dumps(payload)
    except Exception:  # noqa: BLE001 - e.g. a solver's native statistics object in raw
        payload = (replace(result, raw=None), state, solution)
    return payload


def _copy_solution(program: SolvableProgram, solution) -> bool:
    """Put the child's solution into this process's problem (rebuilt like the child's when
    the child rebuilt it); ``False`` if the two problems do not match."""
    rebuilt, values, duals, (status, value) = solution
    if rebuilt:
        program.discard_problem()
    problem = program.problem
    variables, constraints = problem.variables(), problem.constraints
    if len(variables) != len(values) or len(constraints) != len(duals):
        return False
    for var, val in zip(variables, values):
        if val is not None and np.shape(val) != var.shape:
            return False
    for var, val in zip(variables, values):
        var.save_value(val)
    for con, dual in zip(constraints, duals):
        con.save_dual_value(dual)
    problem._status, problem._value = status, value  # cvxpy keeps them private
    return True


def solve_isolated(program: SolvableProgram, engine: Backend | FirstOrderBackend, *,
                   memory_limit: Any = None, **options: Any) -> SolveResult:
    """Solve ``program`` on ``engine`` in a child process (``solve(isolate=True)``);
    ``options`` are those of :func:`.run.run` (``tol``, limits, ``verbose``,
    ``warm_start``, ``memory_limit``, ``solver_options``).

    The cvxpy problem is built here first, so that the child's variables are this
    process's; on success their values, the constraints' dual values and the attributes
    the solve changed are copied back, and the program is as after an ordinary solve. A
    crash, a kill on ``memory_limit`` or a hang past the hard time limit comes back as a
    :class:`~sdpnets.results.SolveResult` with status ``"error"`` (``"time_limit"`` for the
    hang), its message naming what ended the child.
    """
    conic = isinstance(engine, Backend)
    if conic:
        program.problem  # noqa: B018 - built here, so the child's variables are ours
    limit = None if memory_limit is None else parse_memory(memory_limit)
    time_limit = options.get("time_limit")
    hard = None if time_limit is None else ISOLATED_TIME_FACTOR * time_limit + ISOLATED_TIME_GRACE
    outcome = run_isolated(_solve_in_child, program, engine,
                           dict(options, memory_limit=memory_limit), time_limit=hard,
                           memory_limit=limit)
    if outcome.status == "ok":
        result, state, solution = outcome.value
        program.restore(state)
        if solution is None or _copy_solution(program, solution):
            program.result = result
            return result
        status, message = "error", (
            f"isolated solve on {engine.name}: the solution could not be copied back (the "
            "rebuilt problem does not match the child's).")
    else:
        status = "time_limit" if outcome.status == "time_limit" else "error"
        what = {"crashed": "crashed", "time_limit": "was stopped", "memory_limit":
                "ran out of memory"}[outcome.status]
        message = (f"isolated solve on {engine.name} {what}: {outcome.message} "
                   f"(peak {outcome.peak_mib:.0f} MiB, {outcome.wall_time:.1f} s).")
    program.result = SolveResult(
        status=status, objective=float("nan"), backend=engine.name,
        solve_time=outcome.wall_time, compile_time=float("nan"), exact=program.exact,
        message=message,
    )
    return program.result
