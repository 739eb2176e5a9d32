"""The outputs of a vector-output ReLU program solved side by side in worker processes
(:mod:`sdpnets.backends.firstorder.relu.outputs`): the same certified optimum as in the
caller's process and as Clarabel's, honest statuses when a worker dies or the time runs
out, the choice of the number of workers, and its option."""

import os
import time

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.backends.firstorder.linalg import allowed_cores, limit_blas_threads
from sdpnets.backends.firstorder.relu import outputs
from sdpnets.backends.firstorder.relu.program import ReLUProgram
from sdpnets.errors import InvalidInputError
from sdpnets.solving.memory import OVERHEAD
from sdpnets.losses import get_loss
from tests.conftest import relu_teacher_data

TOL = 1e-7

fork_only = pytest.mark.skipif(
    "fork" not in __import__("multiprocessing").get_all_start_methods(),
    reason="worker processes are forked (Linux)")


def three_outputs(loss="squared", n=40, seed=4):
    X, y = relu_teacher_data(n=n, d=3, seed=seed, labels=loss != "squared")
    rng = np.random.default_rng(seed)
    Y = np.column_stack([y, -y, np.sign(rng.standard_normal(n)) if loss != "squared"
                         else rng.standard_normal(n)])
    return X, Y


@fork_only
@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
@pytest.mark.parametrize("intercept", [False, True])
def test_workers_certify_the_same_optimum_as_the_callers_process_and_clarabel(loss, intercept):
    """Two workers and one: the same status and certified optimum (within the tolerance,
    the solves being the same), equal to Clarabel's; the network's objective is the
    result's."""
    X, Y = three_outputs(loss)
    prog = sn.ConvexReLU(X, Y, 1.0, patterns=10, loss=loss, seed=1, intercept=intercept)
    prog.beta = 0.02 * prog.program_beta_max()
    ref = prog.solve(backend="clarabel", tol=1e-10).objective
    tol = TOL if loss == "squared" else 1e-5
    found = {}
    for workers in (1, 2):
        res = prog.solve(backend="firstorder", tol=tol, workers=workers)
        assert res.status == "optimal", res.message
        assert abs(res.objective - ref) <= 10 * tol * abs(ref)
        assert res.raw["lower_bound"] <= ref * (1 + 1e-9)
        net = prog.network()
        value = net.objective(X, Y, prog.beta, loss)
        assert abs(value - res.objective) <= 1e-9 * abs(ref)
        found[workers] = res.objective
    assert abs(found[1] - found[2]) <= 10 * tol * abs(ref)


def _die(job, kwargs):
    """A worker that dies without answering (as if killed by the out-of-memory killer)."""
    os._exit(3)


@fork_only
def test_a_worker_that_dies_ends_its_outputs_in_error_with_the_reason(monkeypatch):
    X, Y = three_outputs()
    prog = sn.ConvexReLU(X, Y, 0.5, patterns=8, seed=1)
    monkeypatch.setattr(outputs, "_solve_job", _die)
    res = prog.solve(backend="firstorder", workers=2)
    assert res.status == "error"
    assert "not solved" in res.message and "worker process died" in res.message
    # backend="auto" hands the program to a conic solver, which solves it
    res = prog.solve(workers=2)
    assert res.status == "optimal" and res.backend != "firstorder", res.message
    assert "worker process died" in res.message


@fork_only
def test_workers_share_the_time_limit_honestly():
    """A time limit far too short for the outputs ends in ``time_limit`` with a certified
    bracket, soon after the limit (one round of each running solve past it)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 8))
    Y = rng.standard_normal((400, 4))
    prog = sn.ConvexReLU(X, Y, 1.0, patterns=60, seed=0)
    prog.beta = 1e-3 * prog.program_beta_max()
    start = time.perf_counter()
    res = prog.solve(backend="firstorder", method="atoms", tol=1e-12, time_limit=0.5,
                     workers=2)
    assert res.status == "time_limit", res.message
    assert res.raw["lower_bound"] <= res.objective
    assert time.perf_counter() - start < 30  # not the minutes the solve would take


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=fork_only)])
def test_each_output_starts_with_its_share_of_the_time_left(monkeypatch, workers):
    """The outputs' time shares count the workers, the outputs waiting (the starting one
    included) and those running: in this process 4, 3, 2, 1 waiting and none running;
    with two workers, the first two start with 4 then 3 waiting (1 running), and each
    later one when a worker is free."""
    program = ReLUProgram(np.eye(3), np.ones((3, 2), bool), np.ones(3), get_loss("squared"),
                          0.1)
    calls = []
    real = outputs.time_share

    def spy(left, w, waiting, running):
        calls.append((w, waiting, running))
        return real(left, w, waiting, running)

    monkeypatch.setattr(outputs, "time_share", spy)
    jobs = [outputs.OutputJob(program) for _ in range(4)]
    res = outputs.solve_outputs(jobs, workers=workers, time_limit=100.0, tol=1e-8)
    assert [r.status for r in res] == ["optimal"] * 4
    if workers == 1:
        assert calls == [(1, 4, 0), (1, 3, 0), (1, 2, 0), (1, 1, 0)]
    else:
        assert calls[:2] == [(2, 4, 0), (2, 3, 1)]
        assert calls[2:] == [(2, 2, 1), (2, 1, 1)]


def test_output_workers(monkeypatch):
    """A requested number is kept (at most K); small outputs or one output give one
    worker; otherwise one per allowed core, at most K and what the memory holds; a process
    that cannot fork (daemonic) gets one, even when more were asked for."""
    from sdpnets._units import solve_budget

    small = ReLUProgram(np.ones((10, 3)), np.ones((10, 4), bool), np.ones(10),
                        get_loss("squared"), 0.1)
    large = ReLUProgram(np.ones((2000, 40)), np.ones((2000, 50), bool), np.ones(2000),
                        get_loss("squared"), 0.1)
    monkeypatch.setattr(outputs, "allowed_cores", lambda: 3)  # as on three cores
    assert outputs.output_workers(5, small, 1, requested=3) == 3
    assert outputs.output_workers(2, small, 1, requested=8) == 2
    assert outputs.output_workers(5, small, 1) == 1
    assert outputs.output_workers(1, large, 1) == 1
    assert outputs.output_workers(10, large, 1) == 3  # the cores
    assert outputs.output_workers(2, large, 1) == 2  # the outputs
    with solve_budget(5 * 2**20):
        assert outputs.output_workers(10, large, 2 * 2**20) == 2  # the memory: two fit
    assert outputs.output_workers(10, large, 2**60) == 1  # no memory for a second solve

    class Daemon:
        daemon = True

    monkeypatch.setattr(outputs.multiprocessing, "current_process", lambda: Daemon())
    assert not outputs.can_fork()
    assert outputs.output_workers(10, large, 1) == 1
    assert outputs.output_workers(10, large, 1, requested=4) == 1


def test_one_blas_thread_allows_one_core():
    """A process told to use one BLAS thread (OMP_NUM_THREADS=1, a joblib worker) keeps a
    solve to one core: no workers are chosen for it."""
    large = ReLUProgram(np.ones((2000, 40)), np.ones((2000, 50), bool), np.ones(2000),
                        get_loss("squared"), 0.1)
    with limit_blas_threads(1):
        assert allowed_cores() == 1 and outputs.output_workers(10, large, 1) == 1


def test_time_share():
    """One worker: the time left over the outputs still to start; two: twice that, with
    the running ones counted, but never more than the time left."""
    assert outputs.time_share(100.0, 1, 4, 0) == 25.0
    assert outputs.time_share(100.0, 2, 4, 0) == 50.0
    assert outputs.time_share(100.0, 2, 3, 1) == 50.0
    assert outputs.time_share(100.0, 2, 1, 1) == 100.0
    assert outputs.time_share(100.0, 2, 1, 0) == 100.0  # capped at the time left


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_workers_option_is_checked(bad):
    X, Y = three_outputs()
    prog = sn.ConvexReLU(X, Y, 0.5, patterns=8, seed=1)
    with pytest.raises(InvalidInputError, match="workers"):
        prog.solve(backend="firstorder", workers=bad)


@fork_only
def test_workers_log_a_line_per_output(caplog):
    """With workers there are no gap bars: ``verbose`` logs each output as it ends."""
    X, Y = three_outputs()
    prog = sn.ConvexReLU(X, Y, 0.5, patterns=8, seed=1)
    with caplog.at_level("INFO", logger="sdpnets"):
        res = prog.solve(backend="firstorder", workers=2, verbose=True)
    assert res.status == "optimal"
    lines = [r.getMessage() for r in caplog.records if "(worker)" in r.getMessage()]
    assert sorted(line.split(":")[0] for line in lines) == [f"output {k} of 3"
                                                           for k in (1, 2, 3)]


def test_memory_limit_bounds_the_workers_and_the_race(monkeypatch):
    """A solve's ``memory_limit`` is the memory its workers count on: with room for one
    output's solve only, one worker (this process), and no race beside the atoms."""
    from sdpnets._units import available_memory, solve_budget
    from sdpnets.backends.firstorder.relu import methods

    large = ReLUProgram(np.ones((2000, 40)), np.ones((2000, 50), bool), np.ones(2000),
                        get_loss("squared"), 0.1)
    with solve_budget(10 * 2**20):
        assert available_memory() == 10 * 2**20
        assert outputs.output_workers(10, large, 8 * 2**20) == 1
        need = methods.ipm_memory(large.N, large.n, large.h, large.nb, large.cone)
    with solve_budget(need + 1):
        assert not methods._races(large)  # both methods at once would not fit
    assert available_memory() > 10 * 2**20  # the budget ends with its block

    seen = []
    real = outputs.solve_outputs

    def spy(jobs, *, workers=1, **kw):
        seen.append(workers)
        return real(jobs, workers=workers, **kw)

    monkeypatch.setattr("sdpnets.formulations.relu.group_lasso.solve_outputs", spy)
    monkeypatch.setattr(outputs, "allowed_cores", lambda: 2)  # as on 2 cores, any runner
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((1500, 20)), rng.standard_normal((1500, 2))
    prog = sn.ConvexReLU(X, Y, 1.0, patterns=60, seed=0)
    prog.beta = 0.5 * prog.program_beta_max()
    N, h, P = 1500, 20, 60
    need = max(methods.predict_memory(N, h, P), methods.ipm_memory(N, N, h, 2 * P, True))
    assert N * h * 2 * P >= outputs.PARALLEL_FROM_FLOPS  # large enough for workers
    prog.solve(backend="firstorder")
    assert seen[0] == (2 if outputs.can_fork() else 1)
    # room for one output's solve beyond the fixed overhead: one worker, this process
    res = prog.solve(backend="firstorder", memory_limit=OVERHEAD + int(1.5 * need))
    assert res.status == "optimal" and seen[1] == 1
