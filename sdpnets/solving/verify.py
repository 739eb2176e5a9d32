r"""A solve that ends verified: the verification policy, and the conic solve with at most two
kinds of second attempt.

:func:`verify` checks a solver's claim with the certificate of the program that was solved
(:meth:`~.protocol.SolvableProgram.verification_certificate`): an "optimal" is kept only
when the certified relative gap, and the disagreement between the solver's objective and
the recovered network's, are at most :func:`verify_limit` of ``tol``.

:func:`solve_verified` runs one conic solve of a program (:func:`solve_conic`, verified),
then

1. **re-scales**, when the solve failed verification because the objective the solver saw
   (in equilibrated units, where the zero network costs 1/2) was far below 1, so that its
   absolute tolerances were too coarse: the problem is rebuilt on the objective's own
   scale and solved once more;
2. **tightens**, when a solver stopped "optimal" by its own residual criterion but the
   certificate shows a relative gap above :func:`verify_limit` of the requested ``tol``:
   the solver's tolerance is divided by :data:`TIGHTEN_FACTOR` and the problem solved
   again, down to :data:`TIGHTEST_TOL`, within what is left of ``time_limit``. The result
   is judged against the *requested* ``tol``.

A second attempt replaces the first only when it is solved and certified at least as
tight; otherwise the first solve (its problem, its variables) is restored. Each attempt is
named in the message, and its time added, so nothing is hidden.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from ..backends import Backend
from ..errors import SdpnetsWarning
from ..results import SolveResult, relative_gap
from .protocol import SolvableProgram

__all__ = ["verify", "verify_limit", "labelled", "solve_conic", "solve_verified", "VERIFY_FACTOR",
           "RESCALE_BELOW", "TIGHTEN_FACTOR", "TIGHTEST_TOL"]

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
    is the dual point built from it. A solver that stopped far from its tolerance (a
    first-order solver at a loose tolerance, a stall) is caught by either term.
    """
    return max(VERIFY_FACTOR * tol, np.sqrt(tol) / VERIFY_FACTOR)


def verify(program: SolvableProgram, result: SolveResult, tol: float) -> SolveResult:
    """Check a solver's claim with the certificate of the program that was solved.

    A solved result gets ``lower_bound``, ``upper_bound`` (the recovered network's
    objective) and ``gap``; an "optimal" whose certified relative gap, or whose
    disagreement with the recovered network's objective, exceeds :func:`verify_limit` of
    ``tol`` becomes "optimal_inaccurate" with the numbers in its message. An
    "optimal_inaccurate" whose certificate proves relative gap <= ``tol`` (and agreement to
    ``tol``) is "optimal": the certificate is the proof, the solver's doubt is kept in the
    message. "infeasible"/"unbounded" from a program that is always feasible and bounded
    is a numerical failure: "error", the solver's word kept.
    """
    if result.status in ("infeasible", "unbounded") and program.always_feasible:
        return replace(result, status="error", message=(
            f"numerical failure: {result.backend} reported {result.status!r}, but this "
            f"program is always feasible and bounded below. {result.message}").strip())
    if not result.solved:
        return result
    program.result = result  # recovery and certificate read the solution of this result
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SdpnetsWarning)
            cert = program.verification_certificate(tol)
        lower, upper = float(cert.lower_bound), float(cert.upper_bound)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - an unverifiable point is not optimal
        return replace(
            result,
            status="optimal_inaccurate",
            message=f"{result.message} The solution could not be verified "
            f"({type(exc).__name__}: {exc}).".strip(),
        )
    limit = verify_limit(tol)
    rel = relative_gap(lower, upper)
    issues = []
    if not (np.isfinite(lower) and np.isfinite(upper)):
        issues.append(f"its certificate is not finite (lower {lower!r}, upper {upper!r})")
        lower, upper = -np.inf, np.inf
    elif rel > limit:
        issues.append(
            f"certified relative gap {rel:.3g} > {limit:.3g} (lower bound {lower:.12g}, "
            f"upper bound {upper:.12g})"
        )
    # the solver's own criterion is absolute below an objective of 1 in its units, i.e.
    # tol * objective_scale here: a zero optimum reached to 1e-10 is not a disagreement
    slack = max(limit * abs(upper), tol * program.objective_scale)
    if np.isfinite(upper) and abs(result.objective - upper) > slack:
        issues.append(
            f"the recovered network's objective {upper:.12g} differs from the solver's "
            f"{result.objective:.12g}"
        )
    status, message = result.status, result.message
    if issues:
        status = "optimal_inaccurate"
        message = (f"{message} {result.backend} reported {result.status!r} but "
                   + "; ".join(issues) + ".").strip()
    elif status == "optimal_inaccurate" and rel <= tol and \
            abs(result.objective - upper) <= tol * abs(upper):
        # the solver doubted its point, but the certificate proves it within tol of the
        # optimum: the recovered network is optimal to the requested tolerance
        status = "optimal"
        message = (f"{message} Its certificate proves relative gap {rel:.3g} <= tol "
                   f"(lower bound {lower:.12g}, upper bound {upper:.12g}).").strip()
    return replace(result, status=status, message=message, lower_bound=lower,
                   upper_bound=upper, gap=upper - lower)


def labelled(program: SolvableProgram, result: SolveResult) -> SolveResult:
    """``result`` with the program's :attr:`exact` and its :meth:`note` in the message."""
    return replace(result, exact=program.exact,
                   message=" ".join(m for m in (result.message, program.note()) if m))


def solve_conic(program: SolvableProgram, engine: Backend, options: dict[str, Any], *,
                warm_start: bool = False, prebuild_time: float = 0.0,
                verify_tol: float | None = None) -> SolveResult:
    """One solve of the program's (equilibrated) cvxpy problem on ``engine``, in the
    caller's units, verified against ``verify_tol`` (default: the solver's
    ``options["tol"]``); ``prebuild_time`` is what building the problem took before."""
    start = time.perf_counter()
    problem = program.problem
    build_time = prebuild_time + time.perf_counter() - start
    result = engine.solve(problem, warm_start=warm_start, **options)
    compile_time = build_time + (0.0 if np.isnan(result.compile_time) else result.compile_time)
    result = labelled(program, replace(result, objective=result.objective * program.objective_scale,
                                       compile_time=compile_time))
    return verify(program, result, options["tol"] if verify_tol is None else verify_tol)


def should_rescale(program: SolvableProgram, result: SolveResult, tol: float) -> bool:
    """Whether a solve failed verification because the objective the solver saw (in
    equilibrated units, where the zero network costs 1/2) was tiny: the solver's absolute
    tolerances were then too coarse for it."""
    if not result.solved or not program.targets_rescalable:
        return False
    if result.relative_gap <= verify_limit(tol):
        return False
    seen = result.upper_bound / program.objective_scale
    return bool(np.isfinite(seen) and 0.0 < seen < RESCALE_BELOW)


def should_tighten(result: SolveResult, tol: float, solver_tol: float) -> bool:
    """Whether a solved but unverified result may be certified by a tighter solve."""
    return (result.status == "optimal_inaccurate" and solver_tol > TIGHTEST_TOL
            and not result.relative_gap <= verify_limit(tol))


def _second_attempt(program: SolvableProgram, first: SolveResult, attempt, note: str,
                    notes: list[str]) -> SolveResult:
    """Run ``attempt()`` on a freshly built problem; keep it (``note`` joins ``notes``, all
    of them in its message) when it is solved and certified at least as tight as ``first``,
    else restore the first solve's state."""
    state = program.snapshot()
    program.discard_problem()
    second = attempt()
    if second.solved and not second.relative_gap > first.relative_gap:
        notes.append(note)
        program.result = replace(
            second,
            solve_time=first.solve_time + second.solve_time,
            compile_time=first.compile_time + second.compile_time,
            message=f"{second.message} ({'; '.join(notes)})".strip(),
        )
    else:  # keep the first solve: its problem and variables hold its solution
        program.restore(state)
    result = program.result
    assert result is not None
    return result


def solve_verified(program: SolvableProgram, engine: Backend, prebuild_time: float,
                   warm_start: bool, options: dict[str, Any], tighten: bool = True
                   ) -> SolveResult:
    """Solve ``program`` on the conic ``engine`` with ``options`` (``tol``, limits, solver
    options), re-scale and tighten as the module describes, and return the kept result
    (also left in ``program.result``). ``tighten=False`` when the caller's raw solver
    options fix the solver's tolerance (a tighter ``tol`` would not reach the solver)."""
    tol = options["tol"]
    notes: list[str] = []
    started = time.perf_counter()
    program.result = solve_conic(program, engine, options, warm_start=warm_start,
                                 prebuild_time=prebuild_time)
    first = program.result
    if should_rescale(program, first, tol):

        def rescaled() -> SolveResult:
            program.rescale_targets(first.upper_bound)
            return solve_conic(program, engine, options)

        _second_attempt(program, first, rescaled, "solved twice: the first solve, on the data's "
                        f"scale, had relative gap {first.relative_gap:.2g}", notes)
    solver_tol = tol
    kept = program.result
    while tighten and should_tighten(kept, tol, solver_tol):
        limit = options.get("time_limit")
        remaining = None if limit is None else limit - (time.perf_counter() - started)
        if remaining is not None and remaining <= 0:
            break
        first, asked = kept, solver_tol
        solver_tol = max(solver_tol * TIGHTEN_FACTOR, TIGHTEST_TOL)
        tighter = dict(options, tol=solver_tol, time_limit=remaining)

        def tightened() -> SolveResult:
            return solve_conic(program, engine, tighter, verify_tol=tol)

        kept = _second_attempt(program, first, tightened, f"solved again at solver tolerance "
                               f"{solver_tol:.0e}: at {asked:.0e} the certified relative gap "
                               f"was {first.relative_gap:.2g}", notes)
    assert kept is not None
    return kept
