"""Memory prediction: sizes agree with cvxpy's compilation, oversized solves are refused
before any solver runs, isolated solves survive crashes, predictions bracket measurements."""

from __future__ import annotations

import os
import time

import cvxpy as cp
import json
import subprocess
import sys
from pathlib import Path
import numpy as np
import pytest

import sdpnets as sn
from sdpnets._units import parse_memory
from sdpnets.backends.sizes import program_sizes
from sdpnets.solving import isolated_solve, memory
from sdpnets.backends import BACKENDS as BACKEND_CLASSES
from sdpnets.backends import ClarabelBackend, SCSBackend
from sdpnets.backends.firstorder.relu.methods import predict_memory
from sdpnets.backends.base import Backend
from sdpnets.solving.isolation import run_isolated
from sdpnets.solving.memory import MARGIN, OVERHEAD, choose_backend, estimate, fits

MiB = 2**20


def _fc(n, d, K, seed=0, cond=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if cond is not None:
        U, _, Vt = np.linalg.svd(X, full_matrices=False)
        X = (U * np.geomspace(1.0, 1.0 / cond, d)) @ Vt
    Y = X @ rng.standard_normal((d, K)) + rng.standard_normal((n, K))
    return sn.ConvexLinearFC(X, Y, 1.0)


# --- sizes: the walk of the expression tree agrees with cvxpy's own compilation ---------------


def _programs():
    rng = np.random.default_rng(1)
    y = rng.standard_normal(100)
    return {
        "fc_nuclear": _fc(80, 7, 3),
        "fc_l2": sn.ConvexLinearFC(rng.standard_normal((50, 6)), y[:50], 0.3),
        "cnn_1d": sn.ConvexLinearCNN(rng.standard_normal((40, 12)), y[:40], 0.3, kernel_size=3),
        "cnn_2d": sn.ConvexLinearCNN(rng.standard_normal((40, 1, 6, 6)), y[:40], 0.3,
                                     kernel_size=3),
        "cnn_2d_mean": sn.ConvexLinearCNN(rng.standard_normal((40, 1, 6, 6)),
                                          rng.standard_normal((40, 2)), 0.3, kernel_size=3,
                                          pooling="mean"),
        "circular_1d": sn.ConvexCircularCNN(rng.standard_normal((40, 16)), y[:40], 0.3),
        "circular_2d": sn.ConvexCircularCNN(rng.standard_normal((40, 1, 4, 4)), y[:40], 0.3,
                                            depth=3, hidden="unit_norm"),
        # sizes where sampled patterns are not counted against an enumeration (fast)
        "relu": sn.ConvexReLU(rng.standard_normal((100, 12)), y, 0.3, patterns=12),
        "relu_vector": sn.ConvexReLU(rng.standard_normal((100, 12)),
                                     rng.standard_normal((100, 2)), 0.3, patterns=12),
        "relu_logistic": sn.ConvexReLU(rng.standard_normal((100, 12)),
                                       np.sign(rng.standard_normal(100)), 0.3, patterns=12,
                                       loss="logistic"),
        "relu_cnn": sn.ConvexReLUCNN(rng.standard_normal((40, 24)), y[:40], 0.3, kernel_size=8,
                                     patterns=10),
    }


def test_sizes_agree_with_cvxpy_compilation():
    solver = "CLARABEL"  # SCS receives the same conic form from cvxpy
    for name, prog in _programs().items():
        sizes = program_sizes(prog.problem, quadratic_objective=True)
        data, _, _ = prog.problem.get_problem_data(solver)
        A, dims = data["A"], data["dims"]
        assert list(sizes.psd) == list(dims.psd), name
        assert sizes.n_exp == dims.exp, name
        assert sum(sizes.soc) == sum(dims.soc), name
        assert 0.95 * A.nnz <= sizes.nnz_A <= 1.5 * A.nnz, (name, sizes.nnz_A, A.nnz)
        assert 0.95 * sum(A.shape) <= sizes.kkt_dim <= 1.3 * sum(A.shape), name
        P = data.get("P")
        if P is not None:
            assert sizes.nnz_P == P.nnz, name


def test_sizes_without_a_quadratic_objective_use_a_cone():
    prog = _fc(60, 5, 2)
    sizes = program_sizes(prog.problem, quadratic_objective=False)
    assert sizes.nnz_P == 0 and sizes.soc  # sum_squares became a second-order cone


def test_the_issues_psd_block_is_the_failed_allocation():
    # (n, d, K) = (20000, 200, 100): a PSD cone of side 300, vectorized size 45150, whose
    # dense block is the 16,308,180,000 bytes Clarabel failed to allocate
    prog = _fc(400, 200, 100)
    sizes = estimate(prog, ClarabelBackend()).sizes
    assert sizes.psd == (300,) and sizes.psd_rows == (45150,)
    assert 8 * sizes.dense_psd == 16_308_180_000


# --- refusals before the solver starts --------------------------------------------------------


@pytest.fixture
def no_solver(monkeypatch):
    """Any conic or first-order solve fails the test."""

    def boom(*args, **kwargs):
        raise AssertionError("a solver ran although the problem was refused")

    monkeypatch.setattr(Backend, "solve", boom)
    monkeypatch.setattr(ClarabelBackend, "solve", boom)
    monkeypatch.setattr(sn.ConvexLinearFC, "solve_firstorder", boom)


def _cnn_2d(n, side, k, seed=0):
    rng = np.random.default_rng(seed)
    return sn.ConvexLinearCNN(rng.standard_normal((n, 1, side, side)), rng.standard_normal(n),
                              1.0, kernel_size=k)


def _relu(n, d, P, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return sn.ConvexReLU(X, rng.standard_normal(n), 1.0, patterns=P, seed=seed)


# Rows of issue 14's table, scaled to a test machine: (program, backend, memory_limit).
ISSUE_ROWS = {
    "fc (20000, 200, 100) -> n=2000": (lambda: _fc(2000, 200, 100), "clarabel", "4GB"),
    "fc (50000, 500, 100) -> n=1000": (lambda: _fc(1000, 500, 100), "clarabel", None),
    "fc (20000, 200, 100) cond 1e4": (lambda: _fc(2000, 200, 100, cond=1e4), "clarabel", "4GB"),
    "2-D CNN n=5000 16x16 3x3 -> n=300": (lambda: _cnn_2d(300, 16, 3), "clarabel", "1.78GB"),
    "ReLU (4000, 50, 200) -> n=1000, clarabel": (lambda: _relu(1000, 50, 200), "clarabel",
                                                 "1GB"),
    "ReLU (4000, 50, 200) -> n=1000, scs": (lambda: _relu(1000, 50, 200), "scs", "1GB"),
}


@pytest.mark.parametrize("row", list(ISSUE_ROWS))
def test_issue_rows_are_refused_before_the_solver(row, no_solver):
    make, backend, limit = ISSUE_ROWS[row]
    prog = make()
    with pytest.raises(sn.ProblemTooLargeError, match=r"would need about .* but (the "
                       r"memory_limit|the memory available) .*") as info:
        prog.solve(backend=backend, memory_limit=limit)
    message = str(info.value)
    assert backend in message
    if isinstance(prog, (sn.ConvexLinearFC, sn.ConvexLinearCNN)):
        assert "backend='firstorder' (about" in message and "would fit" in message
    assert prog.result is None


def test_refusal_names_the_psd_block():
    with pytest.raises(sn.ProblemTooLargeError, match=r"side 300, so a dense 45150 x 45150"):
        _fc(2000, 200, 100).solve(backend="clarabel", memory_limit="4GB")


def test_auto_never_picks_a_backend_that_does_not_fit():
    prog = _fc(500, 60, 20)  # PSD side 80: Clarabel's dense block ~0.7 GB, SCS far less
    clarabel = estimate(prog, ClarabelBackend()).total
    scs = estimate(prog, SCSBackend()).total
    limit = (clarabel + scs) // 2
    assert scs < limit < clarabel
    assert not fits("clarabel", prog, limit) and fits("scs", prog, limit)
    assert choose_backend(prog, ClarabelBackend(), auto=True, memory_limit=limit).name == "scs"
    with pytest.raises(sn.ProblemTooLargeError, match="backend='scs' .* would fit"):
        choose_backend(prog, ClarabelBackend(), auto=False, memory_limit=limit)


def test_a_prediction_equal_to_the_budget_fits():
    """The rule is "predicted peak at most the budget", for the backend asked for and for
    each one auto falls back to: a budget of exactly SCS's estimate lets auto take SCS."""
    prog = _fc(100, 20, 8)
    prog.problem  # built: what the build holds is no longer charged
    scs = estimate(prog, SCSBackend()).total
    assert estimate(prog, ClarabelBackend()).total > scs
    assert fits("scs", prog, scs) and not fits("scs", prog, scs - 1)
    assert choose_backend(prog, SCSBackend(), auto=False, memory_limit=scs).name == "scs"
    assert choose_backend(prog, ClarabelBackend(), auto=True, memory_limit=scs).name == "scs"


def test_auto_on_a_relu_program_refuses_when_nothing_fits(no_solver):
    prog = _relu(300, 20, 100)
    with pytest.raises(sn.ProblemTooLargeError, match="No backend is predicted to fit"):
        prog.solve(memory_limit="20MB")


@pytest.mark.parametrize("value, expected", [
    (2_000_000_000, 2_000_000_000), ("2GB", 2 * 10**9), ("1.5 GiB", int(1.5 * 2**30)),
    ("512MiB", 512 * 2**20), ("300 kB", 300_000), (1e9, 10**9),
])
def test_parse_memory(value, expected):
    assert parse_memory(value) == expected


@pytest.mark.parametrize("bad", ["lots", "2 parsecs", -1, 0, True, float("nan"), [1]])
def test_bad_memory_limit_is_refused_before_solving(bad, no_solver):
    with pytest.raises(sn.InvalidInputError, match="memory_limit"):
        _fc(50, 4, 2).solve(backend="clarabel", memory_limit=bad)


def test_isolate_must_be_a_bool():
    with pytest.raises(sn.InvalidInputError, match="isolate"):
        _fc(50, 4, 2).solve(backend="clarabel", isolate="yes")


# --- isolated solves -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["clarabel", "scs", "firstorder"])
def test_isolated_solve_gives_the_same_solution(backend):
    kw = {"tol": 1e-9} if backend != "scs" else {"tol": 1e-9, "max_iters": 100_000}
    plain, isolated = _fc(60, 5, 3, seed=3), _fc(60, 5, 3, seed=3)
    res = isolated.solve(backend=backend, isolate=True, **kw)
    ref = plain.solve(backend=backend, **kw)
    assert res.status == ref.status == "optimal" and res.backend == backend
    net = isolated.network()
    X, Y = isolated.X, isolated.Y
    assert net.objective(X, Y, 1.0) == pytest.approx(res.objective, rel=1e-6)
    assert res.objective == pytest.approx(ref.objective, rel=1e-6)
    np.testing.assert_allclose(net.product, plain.network().product, atol=1e-4)
    cert = isolated.certificate()
    assert cert.lower_bound <= cert.upper_bound
    assert cert.upper_bound == pytest.approx(res.objective, rel=1e-6)


def test_isolated_relu_solve_recovers_the_network():
    prog = _relu(60, 12, 10, seed=2)
    res = prog.solve(backend="clarabel", isolate=True, tol=1e-9)
    assert res.status == "optimal"
    net = prog.network()
    assert net.objective(prog.X, prog._y2[:, 0], prog.beta) == pytest.approx(res.objective,
                                                                              rel=1e-6)


def _abort(self, problem, **kwargs):
    os.abort()


def test_forced_crash_in_an_isolated_solve_is_an_error_and_we_survive(monkeypatch):
    monkeypatch.setattr(ClarabelBackend, "solve", _abort)
    prog = _fc(60, 5, 3)
    res = prog.solve(backend="clarabel", isolate=True)
    assert res.status == "error" and "SIGABRT" in res.message
    assert prog.result is res
    with pytest.raises(sn.SolveFailedError, match="SIGABRT"):
        prog.network()
    # the same process goes on and solves normally
    monkeypatch.undo()
    assert prog.solve(backend="clarabel").status == "optimal"


def _raise(self, problem, **kwargs):
    raise KeyboardInterrupt("not in the parent")


def test_exception_escaping_the_backend_in_the_child_is_an_error(monkeypatch):
    monkeypatch.setattr(ClarabelBackend, "solve", _raise)
    res = _fc(60, 5, 3).solve(backend="clarabel", isolate=True)
    assert res.status == "error" and "KeyboardInterrupt" in res.message


def _hang(self, problem, **kwargs):
    time.sleep(60)


def test_hung_isolated_solve_is_a_time_limit(monkeypatch):
    monkeypatch.setattr(ClarabelBackend, "solve", _hang)
    monkeypatch.setattr(isolated_solve, "ISOLATED_TIME_GRACE", 0.2)
    res = _fc(60, 5, 3).solve(backend="clarabel", isolate=True, time_limit=0.2)
    assert res.status == "time_limit" and "time limit" in res.message


def _hog(self, problem, **kwargs):
    chunks = [np.ones(2**20) for _ in range(1000)]  # 8 GB, one 8 MiB chunk at a time
    return chunks


def test_isolated_solve_past_its_memory_limit_is_an_error(monkeypatch):
    monkeypatch.setattr(ClarabelBackend, "solve", _hog)
    res = _fc(60, 5, 3).solve(backend="clarabel", isolate=True, memory_limit="200MB")
    assert res.status == "error" and "memory" in res.message


# --- predictions against measurement --------------------------------------------------------------


_CASES = {
    "fc-clarabel": (lambda: _fc(2000, 35, 10), "clarabel"),
    "cnn2d-clarabel": (lambda: _cnn_2d(500, 8, 3), "clarabel"),
    "relu-scs": (lambda: _relu(300, 10, 30), "scs"),
}


def _measure_here(case: str) -> tuple[float, float]:
    """Predict, then solve in a forked child and measure its peak (run in a fresh
    interpreter by :func:`_measured`)."""
    make, backend = _CASES[case]

    def job():
        prog = make()
        est = estimate(prog, sn.backends.get_backend(backend))
        prog.solve(backend=backend, max_iters=2, memory_limit=2**62)
        return est.total

    out = run_isolated(job, time_limit=300)
    assert out.status == "ok", out.message
    return out.value, out.added_mib * MiB


def _measured(case: str) -> tuple[float, float]:
    """:func:`_measure_here` in a fresh interpreter: a child forked from this long-lived
    test process inherits the native state of every earlier solve (solver and BLAS thread
    pools), which is not what a user's first solve sees and can deadlock after fork."""
    script = (
        "import json, sys; sys.path.insert(0, {d!r}); import tests.solving.test_memory as t; "
        "print(json.dumps(t._measure_here({c!r})))"
    ).format(d=str(Path(__file__).resolve().parents[2]), c=case)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    predicted, measured = json.loads(out.stdout.strip().splitlines()[-1])
    return predicted, measured


@pytest.mark.parametrize("case", list(_CASES))
def test_prediction_brackets_the_measured_peak(case):
    predicted, measured = _measured(case)
    assert measured > 32 * MiB  # large enough for the solver's part to dominate
    assert measured <= predicted <= MARGIN * measured + OVERHEAD


def test_a_too_large_circular_relu_under_auto_is_too_large_never_invalid():
    """ConvexCircularReLU has no first-order solver: under backend="auto", a program that no
    conic solver fits is refused as too large, even where sdpnets' ReLU first-order solver
    would fit (it used to be handed that path, which refuses it as invalid input)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 4)), rng.standard_normal(20)
    prog = sn.ConvexCircularReLU(X, y, 0.5, patterns=8)
    assert not prog.has_firstorder
    conic = min(estimate(prog, cls()).total for cls in BACKEND_CLASSES.values()
                if cls().is_available() and cls().supports(prog.cones))
    N, h = prog.X.shape  # the rows A of this program are the signals X
    relu_firstorder = OVERHEAD + prog.data_memory() + predict_memory(N, h, prog.patterns.count)
    assert relu_firstorder < conic  # the limit below would fit a ReLU first-order solve
    limit = (relu_firstorder + conic) // 2
    with pytest.raises(sn.ProblemTooLargeError, match="No backend is predicted to fit") as info:
        prog.solve(backend="auto", memory_limit=limit)
    assert type(info.value) is sn.ProblemTooLargeError
    with pytest.raises(sn.InvalidInputError, match="backend='firstorder' is not available"):
        prog.solve(backend="firstorder", memory_limit=limit)


def test_available_memory_respects_the_process_limits():
    """A data-size limit (what a benchmark's memory limit sets) caps the memory the guards
    count on, in a child process so that the suite's own limits stay untouched."""
    import subprocess
    import sys

    code = (
        "import resource\n"
        "from sdpnets._units import available_memory, _system_available\n"
        "free = _system_available()\n"
        "resource.setrlimit(resource.RLIMIT_DATA, (2 * 2**30, resource.RLIM_INFINITY))\n"
        "left = available_memory()\n"
        "assert 0 < left < 2 * 2**30 < free, (left, free)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
