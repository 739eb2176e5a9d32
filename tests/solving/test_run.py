"""The in-process solve of ``backend="auto"``: the first-order solver first, then the conic
fallback, which gets only the time left, none of the first-order solver's options, and
never replaces a solved first-order result by an unsolved conic one."""

import time
from dataclasses import replace

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.results import SolveResult
from sdpnets.solving import run as run_module
from tests.conftest import relu_teacher_data


@pytest.fixture
def prog():
    X, y = relu_teacher_data(n=20, seed=3)
    return sn.ConvexReLU(X, y, 0.3, patterns=8, seed=1)


def inaccurate(monkeypatch, cls, pause=0.0, status="optimal_inaccurate"):
    """Make the first-order solve end ``status`` (after ``pause`` seconds), its certified
    bracket kept."""
    real = cls.solve_firstorder

    def solve_firstorder(self, **kwargs):
        res = real(self, **kwargs)
        time.sleep(pause)
        return replace(res, status=status)

    monkeypatch.setattr(cls, "solve_firstorder", solve_firstorder)


def test_first_order_options_do_not_reach_the_conic_fallback(prog, monkeypatch):
    inaccurate(monkeypatch, sn.ConvexReLU)
    res = prog.solve(method="atoms", atoms_per_round=3, tol=1e-14)
    assert res.backend != "firstorder" and res.solved
    assert "first-order solver did not certify" in res.message


def test_an_unsolved_conic_fallback_keeps_the_first_order_result(prog, monkeypatch):
    inaccurate(monkeypatch, sn.ConvexReLU)

    def failed(program, engine, options):
        return SolveResult(status="error", objective=float("nan"), backend=engine.name,
                           solve_time=0.0, compile_time=0.0, message="forced failure")

    monkeypatch.setattr(run_module, "solve_conic", failed)
    res = prog.solve(tol=1e-14)
    assert res.backend == "firstorder" and res.status == "optimal_inaccurate"
    assert "the conic fallback: clarabel ended 'error'" in res.message
    net = prog.network()  # the first-order solution is what is recovered
    assert net.objective(prog.X, prog.y, prog.beta) == pytest.approx(res.objective, rel=1e-9)


def test_the_fallback_gets_only_the_time_left(prog, monkeypatch):
    inaccurate(monkeypatch, sn.ConvexReLU, pause=0.3)
    calls = []
    real = run_module.solve_conic
    monkeypatch.setattr(run_module, "solve_conic",
                        lambda program, engine, options: calls.append(options) or
                        real(program, engine, options))
    res = prog.solve(tol=1e-14, time_limit=0.2)  # spent by the first-order solve
    assert res.backend == "firstorder" and not calls
    start = time.perf_counter()
    prog.solve(tol=1e-14, time_limit=30.0)
    assert len(calls) == 1
    assert 0 < calls[0]["time_limit"] <= 30.0 - 0.3
    assert calls[0]["time_limit"] >= 30.0 - (time.perf_counter() - start) - 1e-6
    assert "method" not in calls[0]


def test_a_stalled_first_order_bracket_outlives_a_conic_fallback_cut_by_the_time_limit(
        prog, monkeypatch):
    """The first-order solver stalls ("error", with a certified bracket) and the conic
    fallback runs out of the caller's time without one: the first-order bracket is
    returned, as ``"time_limit"`` (it returned the conic solver's empty result, gap inf:
    (1000, 20, 100) at tol 1e-12 with 10 s, after 17 s)."""
    inaccurate(monkeypatch, sn.ConvexReLU, status="error")

    def cut(program, engine, options):
        return SolveResult(status="time_limit", objective=float("nan"), backend=engine.name,
                           solve_time=options["time_limit"], compile_time=0.0,
                           message="stopped on its time limit")

    monkeypatch.setattr(run_module, "solve_conic", cut)
    res = prog.solve(tol=1e-14, time_limit=30.0)
    assert res.backend == "firstorder" and res.status == "time_limit"
    assert np.isfinite(res.relative_gap) and res.lower_bound <= res.objective
    assert "clarabel ended 'time_limit'" in res.message


def test_no_conic_fallback_starts_without_time_for_its_compile(prog, monkeypatch):
    """cvxpy's compile is outside a conic solver's own time limit: a fallback starts only
    with twice its predicted compile left, and its solver gets what that compile leaves."""
    inaccurate(monkeypatch, sn.ConvexReLU, status="error")
    calls = []
    real = run_module.solve_conic
    monkeypatch.setattr(run_module, "solve_conic",
                        lambda program, engine, options: calls.append(options) or
                        real(program, engine, options))
    nnz = run_module.compile_seconds(prog, sn.backends.ClarabelBackend()) \
        / run_module.COMPILE_SECONDS_PER_NNZ
    monkeypatch.setattr(run_module, "COMPILE_SECONDS_PER_NNZ", 10.0 / nnz)  # 10 s predicted
    res = prog.solve(tol=1e-14, time_limit=15.0)
    assert not calls and res.backend == "firstorder" and res.status == "time_limit"
    assert "no time left to compile the next conic solver" in res.message
    start = time.perf_counter()
    prog.solve(tol=1e-14, time_limit=30.0)
    assert len(calls) == 1
    assert calls[0]["time_limit"] <= 30.0 - 10.0
    assert calls[0]["time_limit"] >= 30.0 - 10.0 - (time.perf_counter() - start)


def test_an_unsolved_first_order_result_with_no_conic_room_is_refused_as_too_large():
    """Under ``auto``, the softmax loss (which sdpnets' own ReLU solvers refuse) with a
    memory limit that no conic solver fits: no backend can return a network, so the solve
    is refused as too large, with the first-order solver's word and each conic need (it
    used to end ``"error"`` with a hint to use ``auto``, the backend that was used)."""
    from sdpnets.backends import BACKENDS, ClarabelBackend, FirstOrderBackend
    from sdpnets.solving.memory import estimate

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    Y = np.eye(3)[rng.integers(0, 3, 30)]
    prog = sn.ConvexReLU(X, Y, 0.5, patterns=6, loss="softmax")
    first = estimate(prog, FirstOrderBackend()).total
    conic = min(estimate(prog, cls()).total for cls in BACKENDS.values()
                if cls().is_available() and cls().supports(prog.cones))
    assert first < conic
    with pytest.raises(sn.ProblemTooLargeError) as info:
        prog.solve(memory_limit=(first + conic) // 2)
    message = str(info.value)
    assert "the softmax loss couples the outputs" in message
    assert "no conic backend is predicted to fit in the memory_limit" in message
    assert f"clarabel {estimate(prog, ClarabelBackend()).describe()}" in message
    res = prog.solve()  # with room, auto's fallback solves it
    assert res.solved and res.backend != "firstorder"


def _failing_on(monkeypatch, name):
    """Make the conic backend ``name`` end "error" without solving."""
    from sdpnets.backends import BACKENDS

    def solve(self, problem, **options):
        return SolveResult(status="error", objective=float("nan"), backend=name,
                           solve_time=0.0, compile_time=0.0, message="forced failure")

    monkeypatch.setattr(BACKENDS[name], "solve", solve)


def test_auto_moves_on_to_the_next_conic_solver_when_one_fails(monkeypatch):
    """A program only conic solvers take (softmax couples the outputs): under ``auto``,
    when Clarabel ends unsolved (as its "InsufficientProgress" on the softmax classifier of
    digits 3-vs-8), SCS solves it, to the optimum Clarabel reaches when it does not fail;
    the message names Clarabel's failure. A named backend gets no second solver."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    Y = np.eye(3)[rng.integers(0, 3, 30)]

    def program():
        return sn.ConvexReLU(X, Y, 0.5, patterns=6, loss="softmax")

    ref = program().solve(backend="clarabel", tol=1e-8)
    assert ref.status == "optimal"
    _failing_on(monkeypatch, "clarabel")
    res = program().solve(tol=1e-6)
    assert res.backend == "scs" and res.solved
    assert "clarabel ended 'error': forced failure" in res.message
    assert res.objective == pytest.approx(ref.objective, rel=1e-3)
    assert res.lower_bound <= ref.objective * (1 + 1e-6)
    named = program().solve(backend="clarabel")
    assert named.status == "error" and named.backend == "clarabel"


def test_auto_on_a_conic_family_moves_on_too(monkeypatch):
    """The conic path itself (a family without a first-order solver): Clarabel's failure
    under ``auto`` is followed by SCS."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((20, 4)), rng.standard_normal(20)
    prog = sn.ConvexCircularReLU(X, y, 0.5, patterns=4)
    assert not prog.has_firstorder
    _failing_on(monkeypatch, "clarabel")
    res = prog.solve(tol=1e-6)
    assert res.solved and res.backend == "scs"
    assert "clarabel ended 'error': forced failure" in res.message
