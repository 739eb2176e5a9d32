"""The interior point raced beside the atoms (``method="auto"`` with a spare core,
:mod:`sdpnets.backends.firstorder.relu.background`): its child process answers, fails or is
stopped honestly, the atoms stop when it has finished, and the raced result is certified
(Clarabel's optimum) whichever method wins, also when the child dies."""

import os
import time

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.backends.firstorder.relu import methods, outputs
from sdpnets.backends.firstorder.relu.atoms import solve_relu_atoms
from sdpnets.backends.firstorder.relu.background import BackgroundSolve
from sdpnets.backends.firstorder.relu.program import ReLUProgram
from sdpnets.losses import get_loss
from tests.conftest import relu_teacher_data

pytestmark = pytest.mark.skipif(
    "fork" not in __import__("multiprocessing").get_all_start_methods(),
    reason="the race forks its child (Linux)")


def _square(x):
    return x * x


def _raise(x):
    raise ValueError(f"no square of {x}")


def _die(x):
    os._exit(7)


def _time_limit(*, time_limit):
    return time_limit


def test_background_solve_returns_the_childs_value():
    job = BackgroundSolve(_square, 7.0)
    assert job.result() == 49.0 and job.done() and not job.failure
    job.cancel()


@pytest.mark.parametrize("fn, why", [(_raise, "raised ValueError: no square of 3"),
                                     (_die, "ended without a result (exit code 7)")])
def test_background_solve_reports_a_failure(fn, why):
    job = BackgroundSolve(fn, 3)
    assert job.result() is None
    assert why in job.failure
    job.cancel()


def test_cancel_stops_a_running_child():
    job = BackgroundSolve(time.sleep, 60)
    assert not job.done()
    start = time.perf_counter()
    job.cancel()
    assert time.perf_counter() - start < 10
    assert job.result() is None and job.failure


@pytest.fixture
def two_cores(monkeypatch):
    """A spare core for the race, whatever threads the test runner gives (one BLAS thread
    per pytest-xdist worker)."""
    monkeypatch.setattr(outputs, "allowed_cores", lambda: 2)


def program(n=40, fraction=0.002, loss="squared"):
    X, y = relu_teacher_data(n=n, d=3, seed=8, labels=loss != "squared")
    prog = sn.ConvexReLU(X, y, 1.0, patterns=12, seed=3, loss=loss)
    prog.beta = fraction * prog.program_beta_max()
    return prog


def test_the_atoms_stop_when_asked():
    """``stop`` ends the atoms after their first certificate, as a time limit would."""
    prog = program()
    ops = ReLUProgram(prog.X, prog.patterns.masks, prog.y, get_loss("squared"), prog.beta)
    assert solve_relu_atoms(ops, tol=1e-12).iterations > 1  # more than one round
    stopped = solve_relu_atoms(ops, tol=1e-12, stop=lambda: True)
    assert stopped.status == "time_limit" and stopped.iterations == 0
    assert stopped.lower_bound <= stopped.objective


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_a_raced_hand_over_is_certified(monkeypatch, two_cores, loss):
    """The atoms' share runs out at once and the interior point, raced from the start in
    its child, finishes the solve: Clarabel's optimum, within the tolerance."""
    prog = program(loss=loss)
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    monkeypatch.setattr(methods, "RACE_FROM_SECONDS", 0.0)
    monkeypatch.setattr(methods, "ATOMS_SHARE", 0.0)
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 0.0)
    tol = 1e-7 if loss == "squared" else 1e-5
    res = prog.solve(backend="firstorder", tol=tol, workers=1)
    stats = res.raw["statistics"][0]
    assert res.status == "optimal", res.message
    assert stats["raced"] and stats["handed_over"] and "race_failure" not in stats
    assert abs(res.objective - ref) <= 10 * tol * abs(ref)
    assert res.raw["lower_bound"] <= ref * (1 + 1e-9)


def _ipm_dies_in_the_child(parent):
    real = methods.solve_relu_ipm

    def ipm(*args, **kwargs):
        if os.getpid() != parent:
            os._exit(9)
        return real(*args, **kwargs)

    return ipm


def test_a_race_whose_child_dies_is_finished_here(monkeypatch, two_cores):
    """The child dies: the interior point runs in the caller's process after the atoms,
    and the result is certified; the failure is named in the statistics. (The whole
    program's hand-over waits for the race; a working set's would cancel it, so none is
    taken here.)"""
    prog = program()
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    monkeypatch.setattr(methods, "WORKING_SET_ALL_FROM", -1.0)
    monkeypatch.setattr(methods, "RACE_FROM_SECONDS", 0.0)
    monkeypatch.setattr(methods, "ATOMS_SHARE", 0.0)
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 0.0)
    monkeypatch.setattr(methods, "solve_relu_ipm", _ipm_dies_in_the_child(os.getpid()))
    res = prog.solve(backend="firstorder", tol=1e-7, workers=1)
    stats = res.raw["statistics"][0]
    assert res.status == "optimal", res.message
    assert "exit code 9" in stats["race_failure"]
    assert abs(res.objective - ref) <= 1e-6 * abs(ref)


def test_no_race_below_the_threshold(monkeypatch, two_cores):
    """Small programs (predicted interior point below ``RACE_FROM_SECONDS``) never fork."""
    prog = program()
    started = []
    monkeypatch.setattr(methods, "BackgroundSolve",
                        lambda *a, **k: started.append(1) or BackgroundSolve(*a, **k))
    monkeypatch.setattr(methods, "ATOMS_SHARE", 0.0)
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 0.0)
    res = prog.solve(backend="firstorder", tol=1e-7, workers=1)
    assert res.status == "optimal" and not started
    assert not res.raw["statistics"][0].get("raced")


def test_a_delayed_solve_starts_at_the_first_poll_after_its_delay():
    job = BackgroundSolve(_square, 3.0, delay=0.3)
    assert not job.done() and not job.started  # polled before its delay: not started
    assert job.result() is None and "not started" in job.failure
    job = BackgroundSolve(_square, 3.0, delay=0.3)
    time.sleep(0.35)
    assert not job.started
    job.done()  # the poll that starts it
    assert job.started and job.result() == 9.0
    job.cancel()
    never = BackgroundSolve(_square, 3.0, delay=0.1)
    never.cancel()
    time.sleep(0.15)
    assert not never.done() and not never.started


def test_a_delayed_solve_is_given_the_seconds_left_to_the_callers_deadline():
    """A child started after its delay gets the time left until the deadline as its
    ``time_limit``, not a fresh limit counted from its own start (the raced interior point
    of a 2 s solve ran on to 3 s)."""
    deadline = time.perf_counter() + 5.0
    job = BackgroundSolve(_time_limit, delay=0.3, deadline=deadline)
    time.sleep(0.35)
    job.done()
    left = job.result()
    assert 0.0 < left <= 5.0 - 0.3
    job.cancel()
    late = BackgroundSolve(_time_limit, deadline=time.perf_counter() - 1.0)
    assert late.result() == 0.0  # past the deadline: no time at all, never negative
    late.cancel()


def test_a_raced_solve_keeps_the_callers_time_limit(monkeypatch, two_cores):
    """The interior point raced from 0.2 s after the start is given the caller's deadline
    (its start plus its limit), from which the child takes the time left when it starts
    (the test above), so the race ends within the caller's limit."""
    prog = program()
    given = []
    real = BackgroundSolve

    def spy(*args, **kwargs):
        given.append(kwargs.get("deadline"))
        return real(*args, **kwargs)

    monkeypatch.setattr(methods, "BackgroundSolve", spy)
    monkeypatch.setattr(methods, "RACE_FROM_SECONDS", 0.0)
    monkeypatch.setattr(methods, "RACE_AFTER_SECONDS", 0.2)
    start = time.perf_counter()
    res = prog.solve(backend="firstorder", tol=1e-14, time_limit=1.0, workers=1)
    end = time.perf_counter()
    assert given and given[0] is not None
    assert start <= given[0] - 1.0 <= end  # the caller's start within the solve, plus 1 s
    assert res.status in ("time_limit", "optimal", "optimal_inaccurate")
    assert res.raw["lower_bound"] <= res.objective


def test_no_race_without_a_spare_core(monkeypatch):
    """One allowed core (one BLAS thread: OMP_NUM_THREADS=1, a joblib worker): the
    interior point is never forked beside the atoms, even where it would race."""
    prog = program()
    started = []
    monkeypatch.setattr(outputs, "allowed_cores", lambda: 1)
    monkeypatch.setattr(methods, "BackgroundSolve",
                        lambda *a, **k: started.append(1) or BackgroundSolve(*a, **k))
    monkeypatch.setattr(methods, "RACE_FROM_SECONDS", 0.0)
    monkeypatch.setattr(methods, "ATOMS_SHARE", 0.0)
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 0.0)
    res = prog.solve(backend="firstorder", tol=1e-7, workers=1)
    assert res.status == "optimal" and not started


def _lent_threads_after(seconds):
    """In the child: the BLAS threads lent to its large products, read after a pause."""
    from sdpnets.backends.firstorder import linalg

    time.sleep(seconds)
    return linalg._lent_threads()


def test_the_caller_lends_its_core_only_while_it_waits():
    """The child's large products get one thread while the caller works beside it and
    ``cores`` once the caller waits in ``result()``."""
    working = BackgroundSolve(_lent_threads_after, 0.0, cores=3)
    while not working.done():
        time.sleep(0.01)
    assert working.result() == 1  # answered before the caller waited
    waiting = BackgroundSolve(_lent_threads_after, 0.5, cores=3)
    assert waiting.result() == 3
    for job in (working, waiting):
        job.cancel()


def test_the_race_starts_after_the_atoms_first_second(monkeypatch, two_cores):
    """``auto`` starts the race after ``RACE_AFTER_SECONDS`` of atoms, or their whole share
    when it is shorter."""
    prog = program()
    delays = []

    def recorded(*args, **kwargs):
        delays.append(kwargs["delay"])
        return BackgroundSolve(*args, **kwargs)

    monkeypatch.setattr(methods, "BackgroundSolve", recorded)
    monkeypatch.setattr(methods, "RACE_FROM_SECONDS", 0.0)
    monkeypatch.setattr(methods, "ipm_seconds", lambda program: 100.0)  # share 50 s
    assert prog.solve(backend="firstorder", tol=1e-7, workers=1).status == "optimal"
    monkeypatch.setattr(methods, "ipm_seconds", lambda program: 0.5)
    monkeypatch.setattr(methods, "ATOMS_MIN_SECONDS", 0.25)  # share 0.25 s
    assert prog.solve(backend="firstorder", tol=1e-7, workers=1).status == "optimal"
    assert delays == [methods.RACE_AFTER_SECONDS, 0.25]
