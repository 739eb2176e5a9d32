"""The verification policy as documented (issue 26): which claims of a solver survive the
program's own certificate, and the second attempts of :func:`solve_verified`.

The threshold is the one ``sdpnets.solving.verify`` documents,
:math:`\\max(10\\,\\mathrm{tol}, \\sqrt{\\mathrm{tol}}/10)`, written out here from the
documentation (not read from the module). A stub program hands :func:`verify` certificates
whose relative gap is placed just inside and just outside that threshold; a stub backend
plays a solver whose accuracy follows the tolerance it is asked for.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.backends import ClarabelBackend
from sdpnets.results import Certificate, SolveResult
from sdpnets.solving.verify import solve_verified, verify, verify_limit

TOLS = [1e-14, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1]


def documented_limit(tol: float) -> float:
    """The threshold of the documentation: max(10 tol, sqrt(tol) / 10)."""
    return max(10.0 * tol, math.sqrt(tol) / 10.0)


class Stub:
    """The members of ``SolvableProgram`` that :func:`verify` reads."""

    always_feasible = True
    objective_scale = 1.0

    def __init__(self, lower: float, upper: float, raises: Exception | None = None):
        self.lower, self.upper, self.raises = lower, upper, raises
        self.result: SolveResult | None = None
        self.asked: list[float] = []

    def verification_certificate(self, tol: float) -> Certificate:
        self.asked.append(tol)
        if self.raises is not None:
            raise self.raises
        return Certificate(self.lower, self.upper, self.upper - self.lower)


def _result(status="optimal", objective=1.0, **kw) -> SolveResult:
    return SolveResult(status=status, objective=objective, backend="stub", solve_time=0.1,
                       compile_time=0.1, **kw)


@pytest.mark.parametrize("tol", TOLS)
def test_verify_limit_is_the_documented_threshold(tol):
    assert verify_limit(tol) == pytest.approx(documented_limit(tol), rel=1e-15)


@pytest.mark.parametrize("tol", TOLS)
@pytest.mark.parametrize("upper", [1e-9, 1.0, 3e7])
def test_optimal_is_kept_inside_the_threshold_and_downgraded_outside(tol, upper):
    limit = documented_limit(tol)
    for factor, kept in ((0.98, True), (1.02, False)):
        lower = upper * (1.0 - factor * limit)
        out = verify(Stub(lower, upper), _result(objective=upper), tol)
        assert out.status == ("optimal" if kept else "optimal_inaccurate"), (factor, out.message)
        assert out.lower_bound == lower and out.upper_bound == upper
        assert out.gap == pytest.approx(upper - lower, rel=1e-12)
        if not kept:
            assert "certified relative gap" in out.message


@pytest.mark.parametrize("tol", [1e-10, 1e-8, 1e-4])
def test_a_disagreeing_objective_is_not_optimal(tol):
    """The solver's objective must agree with the recovered network's (the upper bound) to
    the same threshold, relative to the objective."""
    limit = documented_limit(tol)
    upper = 5.0
    for factor, kept in ((0.9, True), (1.1, False)):
        out = verify(Stub(upper, upper), _result(objective=upper * (1 + factor * limit)), tol)
        assert out.status == ("optimal" if kept else "optimal_inaccurate"), out.message
        if not kept:
            assert "differs from the solver's" in out.message


def test_a_zero_optimum_is_judged_on_the_objective_scale():
    """Below an objective of ``tol * objective_scale`` a disagreement is absolute."""
    prog = Stub(0.0, 0.0)
    prog.objective_scale = 100.0
    assert verify(prog, _result(objective=0.9e-8 * 100.0), 1e-8).status == "optimal"
    assert verify(prog, _result(objective=1.1e-8 * 100.0), 1e-8).status == "optimal_inaccurate"


@pytest.mark.parametrize("tol", [1e-9, 1e-6, 1e-3])
def test_an_inaccurate_claim_is_promoted_only_when_the_certificate_proves_tol(tol):
    upper = 2.0
    proved = verify(Stub(upper * (1 - 0.9 * tol), upper),
                    _result("optimal_inaccurate", upper), tol)
    assert proved.status == "optimal" and "proves relative gap" in proved.message
    # a gap within the threshold but above tol: not proved
    loose = verify(Stub(upper * (1 - 2.0 * tol), upper), _result("optimal_inaccurate", upper), tol)
    assert loose.status == "optimal_inaccurate"
    # tight certificate, but the solver's objective off by more than tol
    off = verify(Stub(upper, upper), _result("optimal_inaccurate", upper * (1 + 2 * tol)), tol)
    assert off.status == "optimal_inaccurate"


@pytest.mark.parametrize("status", ["infeasible", "unbounded"])
def test_infeasible_or_unbounded_from_an_always_feasible_program_is_an_error(status):
    prog = Stub(0.0, 1.0)
    out = verify(prog, _result(status, float("nan"), message="solver said so"), 1e-8)
    assert out.status == "error" and status in out.message and "solver said so" in out.message
    assert prog.asked == []  # nothing to certify
    prog.always_feasible = False
    assert verify(prog, _result(status, float("nan")), 1e-8).status == status


@pytest.mark.parametrize("status", ["time_limit", "iteration_limit", "error"])
def test_unsolved_results_are_returned_untouched(status):
    prog = Stub(0.0, 1.0)
    res = _result(status, float("nan"))
    assert verify(prog, res, 1e-8) is res
    assert prog.asked == []


def test_the_certificate_is_asked_at_the_requested_tol_and_sees_the_result():
    prog = Stub(1.0, 1.0)
    res = _result(objective=1.0)
    verify(prog, res, 3e-7)
    assert prog.asked == [3e-7] and prog.result is res


@pytest.mark.parametrize("bounds", [(-np.inf, 1.0), (0.0, np.inf), (np.nan, 1.0)])
def test_a_non_finite_certificate_is_not_optimal(bounds):
    out = verify(Stub(*bounds), _result(objective=1.0), 1e-6)
    assert out.status == "optimal_inaccurate" and "not finite" in out.message
    assert out.lower_bound == -np.inf and out.upper_bound == np.inf


def test_an_unverifiable_point_is_not_optimal():
    out = verify(Stub(0, 1, raises=np.linalg.LinAlgError("SVD did not converge")),
                 _result(objective=1.0), 1e-6)
    assert out.status == "optimal_inaccurate"
    assert "LinAlgError" in out.message and "SVD did not converge" in out.message


# --- second attempts --------------------------------------------------------------------------


class SloppyClarabel(ClarabelBackend):
    """Clarabel whose first ``sloppy`` answers are a point far from its optimum (every
    variable times 1.5) while it still says "optimal": a solver stopped by its own
    criterion whose point the certificate does not verify."""

    def __init__(self, sloppy: int):
        self.sloppy = sloppy
        self.asked: list[float] = []

    def solve(self, problem, **kwargs):
        self.asked.append(kwargs["tol"])
        res = super().solve(problem, **kwargs)
        if len(self.asked) <= self.sloppy:
            for var in problem.variables():
                var.value = 1.5 * var.value
        return res


def _fc(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((30, 4))
    y = X @ rng.standard_normal(4) + 0.3 * rng.standard_normal(30)
    return sn.ConvexLinearFC(X, y, 1.0)  # scalar output: its variables may be scaled freely


def _options(tol):
    return dict(tol=tol, max_iters=None, time_limit=None, verbose=False)


def test_a_verified_first_solve_is_not_repeated():
    engine = SloppyClarabel(0)
    res = solve_verified(_fc(), engine, 0.0, False, _options(1e-8))
    assert res.status == "optimal" and engine.asked == [1e-8]


@pytest.mark.parametrize("tol", [1e-3, 1e-6])
def test_an_unverified_optimal_is_solved_again_at_a_tighter_tolerance(tol):
    """A first answer the certificate does not verify is solved again, each attempt asking
    the solver for a smaller tolerance; the kept result is judged against the requested
    ``tol`` and its times are those of both attempts."""
    engine = SloppyClarabel(1)
    res = solve_verified(_fc(1), engine, 0.0, False, _options(tol))
    assert len(engine.asked) == 2 and engine.asked[0] == tol and engine.asked[1] < tol
    assert res.status == "optimal" and res.relative_gap <= documented_limit(tol)
    assert "solved again" in res.message


def test_a_worse_second_attempt_is_dropped_and_the_first_kept():
    engine = SloppyClarabel(10)  # every attempt is sloppy
    prog = _fc(3)
    res = solve_verified(prog, engine, 0.0, False, _options(1e-3))
    assert len(engine.asked) >= 2 and res.status == "optimal_inaccurate"
    assert prog.result is res
    # the program holds the kept solve's point: its network gives the kept upper bound
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sn.SdpnetsWarning)  # optimal_inaccurate, as it says
        net = prog.network()
    assert net.objective(prog.X, prog.Y, prog.beta) == pytest.approx(res.upper_bound, rel=1e-9)


def test_no_tightening_when_raw_options_fix_the_tolerance():
    engine = SloppyClarabel(1)
    res = solve_verified(_fc(2), engine, 0.0, False, _options(1e-3), tighten=False)
    assert engine.asked == [1e-3] and res.status == "optimal_inaccurate"
