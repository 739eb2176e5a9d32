r"""A conic solve that ends verified: the solve, then at most two kinds of second attempt.

:func:`solve_verified` runs one conic solve of a program (its
:meth:`~sdpnets.formulations.base.ConvexProgram._solve_conic`, which verifies the solver's
claim by the certificate of the program that was solved), then

1. **re-scales**, when the solve failed verification because the objective the solver saw
   (in equilibrated units, where the zero network costs 1/2) was far below 1, so that its
   absolute tolerances were too coarse: the problem is rebuilt on the objective's own
   scale and solved once more;
2. **tightens**, when a solver stopped "optimal" by its own residual criterion but the
   certificate shows a relative gap above :func:`verify_limit` of the requested ``tol``
   (SCS at ``tol=1e-3`` on badly scaled data stopped thousands of times above the
   optimum): the solver's tolerance is divided by :data:`TIGHTEN_FACTOR` and the problem
   solved again, down to :data:`TIGHTEST_TOL`, within what is left of ``time_limit``. The
   result is judged against the *requested* ``tol``.

A second attempt replaces the first only when it is solved and certified at least as
tight; otherwise the first solve (its problem, its variables) is kept. Each attempt is
named in the message, and its time added, so nothing is hidden.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..results import SolveResult

if TYPE_CHECKING:  # pragma: no cover
    from .base import ConvexProgram

__all__ = ["verify_limit", "solve_verified", "VERIFY_FACTOR", "RESCALE_BELOW",
           "TIGHTEN_FACTOR", "TIGHTEST_TOL"]

#: A solver's "optimal" is kept only when the certified relative gap of the program that
#: was solved (and the disagreement between the solver's objective and the recovered
#: network's) is at most :func:`verify_limit` of ``tol``; otherwise it is
#: "optimal_inaccurate".
VERIFY_FACTOR = 10.0

#: The equilibrated problem is re-scaled and solved once more when an unverified solve saw
#: an objective below this (in its own units, where the zero network costs 1/2): the
#: solver's absolute tolerances were then too coarse for the objective.
RESCALE_BELOW = 1e-3

#: Each tightened attempt asks the solver for this fraction of the previous tolerance.
TIGHTEN_FACTOR = 1e-2

#: No attempt asks the solver for a tolerance below this (double precision's reach).
TIGHTEST_TOL = 1e-10


def verify_limit(tol: float) -> float:
    r"""The certified relative gap an "optimal" solve at ``tol`` may show:
    :math:`\max(10\,\mathrm{tol}, \sqrt{\mathrm{tol}}/10)`.

    The dual point is built from the primal solution (its residual, or the solver's
    multiplier), which is first-order accurate: a point whose objective is within ``tol``
    of the optimum is within about :math:`\sqrt{\mathrm{tol}}` of the optimal point, and so
    is the dual point built from it. A solver that stopped far from its tolerance (SCS at
    ``tol=1e-3`` 15x above the optimum, a stall) is caught by either term.
    """
    return max(VERIFY_FACTOR * tol, np.sqrt(tol) / VERIFY_FACTOR)


def should_rescale(prog: ConvexProgram, result: SolveResult, tol: float) -> bool:
    """Whether a solve failed verification because the objective the solver saw (in
    equilibrated units, where the zero network costs 1/2) was tiny: the solver's absolute
    tolerances were then too coarse for it."""
    if not result.solved or prog._y_scale_hint is not None or not prog._targets_scaled:
        return False
    if result.relative_gap <= verify_limit(tol):
        return False
    seen = result.upper_bound / prog._scales[1] ** 2
    return bool(np.isfinite(seen) and 0.0 < seen < RESCALE_BELOW)


def should_tighten(result: SolveResult, tol: float, solver_tol: float) -> bool:
    """Whether a solved but unverified result may be certified by a tighter solve."""
    return (result.status == "optimal_inaccurate" and solver_tol > TIGHTEST_TOL
            and not result.relative_gap <= verify_limit(tol))


def _second_attempt(prog: ConvexProgram, first: SolveResult, attempt, note: str,
                    notes: list[str]) -> SolveResult:
    """Run ``attempt()`` on a freshly built problem; keep it (``note`` joins ``notes``, all
    of them in its message) when it is solved and certified at least as tight as ``first``,
    else restore the first solve's state."""
    state = dict(prog.__dict__)
    prog._problem = None
    second = attempt()
    if second.solved and not second.relative_gap > first.relative_gap:
        notes.append(note)
        prog._result = replace(
            second,
            solve_time=first.solve_time + second.solve_time,
            compile_time=first.compile_time + second.compile_time,
            message=f"{second.message} ({'; '.join(notes)})".strip(),
        )
    else:  # keep the first solve: its problem and variables hold its solution
        prog.__dict__.update(state)
        prog.beta_parameter.value = prog._scaled_beta()
    assert prog._result is not None
    return prog._result


def solve_verified(prog: ConvexProgram, engine, prebuild_time: float, warm_start: bool,
                   options: dict[str, Any], tighten: bool = True) -> SolveResult:
    """Solve ``prog`` on the conic ``engine`` with ``options`` (``tol``, limits, solver
    options), re-scale and tighten as the module describes, and return the kept result
    (also left in ``prog._result``). ``tighten=False`` when the caller's raw solver
    options fix the solver's tolerance (a tighter ``tol`` would not reach the solver)."""
    tol = options["tol"]
    notes: list[str] = []
    started = time.perf_counter()
    prog._result = prog._solve_conic(engine, prebuild_time, warm_start, options)
    if should_rescale(prog, prog._result, tol):
        first = prog._result

        def rescaled() -> SolveResult:
            prog._y_scale_hint = float(np.sqrt(2.0 * first.upper_bound))
            return prog._solve_conic(engine, 0.0, False, options)

        _second_attempt(prog, first, rescaled, "solved twice: the first solve, on the data's "
                        f"scale, had relative gap {first.relative_gap:.2g}", notes)
    solver_tol = tol
    while tighten and should_tighten(prog._result, tol, solver_tol):
        limit = options.get("time_limit")
        remaining = None if limit is None else limit - (time.perf_counter() - started)
        if remaining is not None and remaining <= 0:
            break
        first, asked = prog._result, solver_tol
        solver_tol = max(solver_tol * TIGHTEN_FACTOR, TIGHTEST_TOL)
        tighter = dict(options, tol=solver_tol, time_limit=remaining)

        def tightened() -> SolveResult:
            return prog._solve_conic(engine, 0.0, False, tighter, verify_tol=tol)

        _second_attempt(prog, first, tightened, f"solved again at solver tolerance "
                        f"{solver_tol:.0e}: at {asked:.0e} the certified relative gap was "
                        f"{first.relative_gap:.2g}", notes)
    assert prog._result is not None
    return prog._result
