"""What every ``solve()`` goes through (issue 26): the times a result reports, measured
against a wall clock around the call, and the choices the pipeline makes before a solver
runs.

Times: ``0 <= solve_time``, ``0 <= compile_time`` and their sum at most the wall clock
around ``solve()`` on every path (a conic backend, sdpnets' first-order solvers, the
ridge-path search, an isolated solve, a warm-started path), and ``data_pass_time`` present
and positive exactly where a pass over the data happened: in the first first-order solve
(``raw["data_pass_time"]``, counted in its ``compile_time``) and in the construction of a
program on Dask arrays (``result.data_pass_time``, within the wall clock around the
constructor, and in no solve time).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.backends import ClarabelBackend
from tests.conftest import BACKENDS
from tests.solving.test_memory import no_solver  # noqa: F401 - the fixture: no solver may run


def _fc(seed=0, n=40, d=5, K=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = X @ rng.standard_normal((d, K)) + 0.3 * rng.standard_normal((n, K))
    return X, Y


def _signals(seed=1):
    X, Y = _fc(seed, 30, 8, 1)
    return X, Y[:, 0]


def _relu(seed=0, n=14, d=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.maximum(X @ rng.standard_normal(d), 0) + 0.1 * rng.standard_normal(n)


def timed(call):
    start = time.perf_counter()
    res = call()
    return res, time.perf_counter() - start


def assert_times_within(res, wall):
    assert np.isfinite(res.solve_time) and np.isfinite(res.compile_time), res
    assert 0.0 <= res.solve_time <= wall
    assert 0.0 <= res.compile_time <= wall
    assert res.solve_time + res.compile_time <= wall * (1 + 1e-9) + 1e-9


PATHS = {
    "clarabel": (lambda: sn.ConvexLinearFC(*_fc(), 1.0), dict(backend="clarabel")),
    "scs": (lambda: sn.ConvexLinearFC(*_fc(), 1.0), dict(backend="scs", tol=1e-6)),
    "firstorder": (lambda: sn.ConvexLinearFC(*_fc(), 1.0), dict(backend="firstorder")),
    "auto least squares": (lambda: sn.ConvexLinearCNN(*_signals(), 0.5, kernel_size=3),
                           dict(backend="auto")),
    "ridge path": (lambda: sn.ConvexLinearFC(_fc()[0], _fc()[1][:, 0], 1.0, depth=3), {}),
    "relu conic": (lambda: sn.ConvexReLU(*_relu(), 0.2), dict(backend="clarabel")),
    "relu firstorder": (lambda: sn.ConvexReLU(*_relu(), 0.2), dict(backend="firstorder")),
    "isolated": (lambda: sn.ConvexLinearFC(*_fc(), 1.0), dict(backend="clarabel", isolate=True)),
    "tightened": (lambda: sn.ConvexLinearFC(*_fc(2), 1.0), dict(backend="scs", tol=1e-3)),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_reported_times_are_within_the_wall_clock(path):
    make, options = PATHS[path]
    prog = make()
    res, wall = timed(lambda: prog.solve(**options))
    assert res.solved, res.message
    assert_times_within(res, wall)
    assert res.data_pass_time == 0.0  # in-memory data: no pass over a Dask array
    if not options.get("isolate"):
        assert res.solve_time > 0.0


def test_a_time_limited_solve_reports_times_within_the_wall_clock():
    prog = sn.ConvexLinearFC(*_fc(3, 60, 8, 4), 1.0)
    res, wall = timed(lambda: prog.solve(backend="scs", tol=1e-14, time_limit=1e-3))
    assert res.status == "time_limit"
    assert_times_within(res, wall)


def test_a_path_reports_each_solve_within_its_own_wall_clock():
    prog = sn.ConvexLinearFC(*_fc(4), 1.0)
    total = 0.0
    for beta in (4.0, 2.0, 1.0):
        prog.beta = beta
        res, wall = timed(lambda: prog.solve(backend="clarabel", warm_start=True))
        assert_times_within(res, wall)
        total += wall
    assert total > 0


def test_first_order_statistics_pass_is_timed_once():
    """The first first-order solve computes ``A^TA``, ``A^TY``, ``||Y||^2`` (its
    ``data_pass_time``, counted as its compile time); a second solve reuses them."""
    prog = sn.ConvexLinearFC(*_fc(5, 400, 30, 3), 1.0)
    first, wall = timed(lambda: prog.solve(backend="firstorder"))
    assert 0.0 < first.raw["data_pass_time"] <= wall
    assert first.compile_time == pytest.approx(first.raw["data_pass_time"], rel=1e-12)
    assert_times_within(first, wall)
    prog.beta = 0.5
    second, wall = timed(lambda: prog.solve(backend="firstorder"))
    assert second.raw["data_pass_time"] == 0.0 and second.compile_time == 0.0
    assert_times_within(second, wall)


def test_dask_data_pass_is_timed_at_construction_and_in_no_solve_time():
    da = pytest.importorskip("dask.array")
    import dask

    X, Y = _fc(6, 600, 5, 2)
    with dask.config.set(scheduler="synchronous"):
        Xd, Yd = da.from_array(X, chunks=(100, 5)), da.from_array(Y, chunks=(100, 2))
        prog, build_wall = timed(lambda: sn.ConvexLinearFC(Xd, Yd, 1.0))
    assert 0.0 < prog.data_pass_time <= build_wall
    for backend in ("firstorder", "clarabel"):
        res, wall = timed(lambda: prog.solve(backend=backend))
        assert res.solved
        assert res.data_pass_time == prog.data_pass_time
        assert_times_within(res, wall)
    reference = sn.ConvexLinearFC(X, Y, 1.0).solve(backend="clarabel")
    assert res.objective == pytest.approx(reference.objective, rel=1e-6)


# --- choices before the solver runs -----------------------------------------------------------


def test_auto_is_the_first_order_solver_where_one_applies_and_conic_otherwise():
    fc = sn.ConvexLinearFC(*_fc(7), 1.0)
    assert fc.solve().backend == "firstorder"
    relu = sn.ConvexReLU(*_relu(7), 0.2)
    assert relu.solve(backend="auto").backend == "firstorder"
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((12, 6)), rng.standard_normal(12)
    circular = sn.ConvexCircularReLU(X, y, 0.2, patterns=8)  # no first-order solver of its own
    conic = circular.solve(backend="auto")
    assert conic.backend in BACKENDS and conic.backend != "firstorder"


@pytest.mark.parametrize("bad", [1, 0, "yes", None, 1.0])
def test_isolate_must_be_a_bool(bad, no_solver):
    prog = sn.ConvexLinearFC(*_fc(), 1.0)
    with pytest.raises(sn.InvalidInputError, match="isolate"):
        prog.solve(backend="clarabel", isolate=bad)
    assert prog.result is None


def test_firstorder_for_a_program_without_it_is_refused(no_solver):
    prog = sn.ConvexCircularReLU(*_relu(8, 8, 4), 0.3, patterns=4)
    assert not prog.has_firstorder
    with pytest.raises(sn.InvalidInputError, match="firstorder"):
        prog.solve(backend="firstorder")
    assert prog.result is None and not prog.is_built


def test_a_backend_without_the_programs_cones_is_refused(no_solver, monkeypatch):
    prog = sn.ConvexLinearFC(*_fc(), 1.0)
    monkeypatch.setattr(ClarabelBackend, "cones", frozenset({"zero", "soc"}))
    with pytest.raises(sn.InvalidInputError, match="psd"):
        prog.solve(backend="clarabel")
    assert prog.result is None


def test_an_unknown_backend_is_refused_before_anything_is_built(no_solver):
    prog = sn.ConvexLinearFC(*_fc(), 1.0)
    for bad in ("clarabell", 3, None):
        with pytest.raises(sn.UnknownBackendError):
            prog.solve(backend=bad)
    assert not prog.is_built and prog.result is None


def test_a_backend_that_does_not_fit_is_refused_before_it_runs(no_solver):
    prog = sn.ConvexLinearFC(*_fc(), 1.0)
    with pytest.raises(sn.ProblemTooLargeError, match="memory_limit"):
        prog.solve(backend="clarabel", memory_limit=1024)
    assert prog.result is None


def test_auto_moves_to_a_backend_that_fits(monkeypatch):
    """Under ``auto`` a ReLU program too large for Clarabel's model (a memory limit between
    the two predictions) is solved by the one that fits, never refused."""
    from sdpnets.solving.memory import estimate

    prog = sn.ConvexReLU(*_relu(9, 40, 4), 0.2, patterns=40)
    conic = estimate(prog, ClarabelBackend()).total
    first = estimate(prog, sn.backends.FirstOrderBackend()).total
    assert first < conic
    res = prog.solve(backend="auto", memory_limit=(first + conic) // 2)
    assert res.backend == "firstorder" and res.solved


def test_the_pipeline_defaults_are_the_programs():
    """``pipeline.solve`` (what ``ConvexProgram.solve`` calls, also usable alone) takes the
    same defaults as ``ConvexProgram.solve``: called without them, the same solve runs."""
    import inspect

    from sdpnets.formulations.base import ConvexProgram
    from sdpnets.solving import pipeline

    ours = inspect.signature(pipeline.solve).parameters
    theirs = inspect.signature(ConvexProgram.solve).parameters
    shared = [name for name in theirs if name in ours and name != "self"]
    assert {"backend", "tol", "max_iters", "time_limit", "memory_limit"} <= set(shared)
    for name in shared:
        assert ours[name].default == theirs[name].default, name


def test_building_the_problem_to_choose_a_backend_is_compile_time(monkeypatch):
    """The memory guard builds the cvxpy problem of an unbuilt program before the solver
    runs; that time is part of the solve's ``compile_time``, and nothing is added for a
    program built earlier. Checked on the pipeline's clock, moved on by a fixed hour while
    the backend is chosen (so no real duration is compared)."""
    import types

    from sdpnets.solving import pipeline

    hour = 3600.0
    offset = [0.0]
    clock = types.SimpleNamespace(perf_counter=lambda: time.perf_counter() + offset[0])
    choose = pipeline.choose_backend

    def slow_choice(*args, **kwargs):
        offset[0] += hour
        return choose(*args, **kwargs)

    monkeypatch.setattr(pipeline, "time", clock)
    monkeypatch.setattr(pipeline, "choose_backend", slow_choice)
    prog = sn.ConvexLinearFC(*_fc(), 1.0)
    assert not prog.is_built
    first = prog.solve(backend="clarabel")
    assert prog.is_built and hour <= first.compile_time < 2 * hour
    again = prog.solve(backend="clarabel")
    assert again.compile_time < hour
