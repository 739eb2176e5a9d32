"""``solve(isolate=True)``: a :class:`~sdpnets.formulations.base.ConvexProgram` solved in a
child process (:func:`sdpnets.isolation.run_isolated`), its solution copied back.

Even a crash of a solver's native code (an abort on a failed allocation, a segfault) comes
back as a :class:`~sdpnets.results.SolveResult` with status ``"error"``, and the caller's
process survives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .isolation import run_isolated

__all__ = ["solve_isolated", "ISOLATED_TIME_FACTOR", "ISOLATED_TIME_GRACE"]

#: Hard wall-clock limit of an isolated solve with a ``time_limit``: the solver's own limit
#: first, then the child is killed at ``ISOLATED_TIME_FACTOR * time_limit + ISOLATED_TIME_GRACE``.
ISOLATED_TIME_FACTOR = 2.0
ISOLATED_TIME_GRACE = 30.0


def _is_cvxpy_object(value: Any) -> bool:
    module = type(value).__module__ or ""
    return module.startswith("cvxpy")


def _solve_in_child(program, backend: str, kwargs: dict) -> tuple:
    """Child side of :func:`solve_isolated`: solve, then collect what the parent needs to hold
    the same solution: the plain attributes the solve replaced, and the variables' values and
    constraints' dual values in the problem's own order (the solve may rebuild the problem,
    e.g. to re-scale it, so cvxpy's ids are not shared with the parent)."""
    import pickle

    from .memory import _SKIP_CHECK

    _SKIP_CHECK.set(True)  # the parent has checked the prediction already
    before = dict(program.__dict__)  # holds the old values, so no id is reused
    result = program.solve(backend=backend, isolate=False, **kwargs)
    transient = set(getattr(program, "_transient", ()))
    state = {
        key: value for key, value in program.__dict__.items()
        if (key not in before or before[key] is not value) and key not in transient
        and not _is_cvxpy_object(value)
    }
    problem = program.__dict__.get("_problem")
    solution = None
    if problem is not None:
        solution = (
            problem is not before.get("_problem"),
            [var.value for var in problem.variables()],
            [con.dual_value for con in problem.constraints],
            (problem.status, problem.value),
        )
    payload = (result, state, solution)
    try:
        pickle.dumps(payload)
    except Exception:  # noqa: BLE001 - e.g. a solver's native statistics object in raw
        from dataclasses import replace

        result = replace(result, raw=None)
        state.pop("_result", None)
        payload = (result, state, solution)
    return payload


def _copy_solution(program, solution) -> bool:
    """Put the child's solution into this process's problem (rebuilt like the child's when
    the child rebuilt it); ``False`` if the two problems do not match."""
    rebuilt, values, duals, (status, value) = solution
    if rebuilt or program.__dict__.get("_problem") is None:
        program._problem = None
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
    problem._status, problem._value = status, value
    return True


def solve_isolated(program, backend: str, *, memory_limit: Any = None, **kwargs: Any):
    """Solve ``program`` on ``backend`` in a child process (``solve(isolate=True)``).

    The cvxpy problem is built here first, so that the child's variables are this
    process's; on success their values, the constraints' dual values and the attributes
    the solve changed are copied back, and the program is as after an ordinary solve. A
    crash, a kill on ``memory_limit`` or a hang past the hard time limit comes back as a
    :class:`~sdpnets.results.SolveResult` with status ``"error"`` (``"time_limit"`` for the
    hang), its message naming what ended the child.
    """
    from .backends import FIRST_ORDER
    from .memory import parse_memory
    from .results import SolveResult

    if backend != FIRST_ORDER:
        program.problem  # noqa: B018 - built here, so the child's variables are ours
    limit = None if memory_limit is None else parse_memory(memory_limit)
    time_limit = kwargs.get("time_limit")
    hard = None if time_limit is None else ISOLATED_TIME_FACTOR * time_limit + ISOLATED_TIME_GRACE
    outcome = run_isolated(_solve_in_child, program, backend, kwargs, time_limit=hard,
                           memory_limit=limit)
    if outcome.status == "ok":
        result, state, solution = outcome.value
        program.__dict__.update(state)
        if solution is None or _copy_solution(program, solution):
            program._result = result
            return result
        status, message = "error", (
            f"isolated solve on {backend}: the solution could not be copied back (the "
            "rebuilt problem does not match the child's).")
    else:
        status = "time_limit" if outcome.status == "time_limit" else "error"
        what = {"crashed": "crashed", "time_limit": "was stopped", "memory_limit":
                "ran out of memory"}[outcome.status]
        message = (f"isolated solve on {backend} {what}: {outcome.message} "
                   f"(peak {outcome.peak_mib:.0f} MiB, {outcome.wall_time:.1f} s).")
    program._result = SolveResult(
        status=status, objective=float("nan"), backend=backend,
        solve_time=outcome.wall_time, compile_time=float("nan"), exact=program.exact,
        message=message,
    )
    return program._result
