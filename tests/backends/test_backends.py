"""Backends: availability, "auto", option translation, status mapping, failure handling."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

import sdpnets as sn
from sdpnets.backends import (
    BACKENDS as BACKEND_CLASSES,
    ClarabelBackend,
    MosekBackend,
    SCSBackend,
    get_backend,
    resolve_backend,
)
from sdpnets.backends.mosek import _mosek_probe
from sdpnets.results import STATUSES
from tests.conftest import BACKENDS, MOSEK_REASON, _MOSEK_OK, requires_mosek

FAILED_STATUSES = {"infeasible", "unbounded", "time_limit", "iteration_limit", "error"}


@pytest.fixture
def data():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((15, 4))
    return X, rng.standard_normal((15, 3))


# --- availability and "auto" ----------------------------------------------------------------------


def test_available_backends_contains_open_source_solvers():
    names = sn.available_backends()
    assert "clarabel" in names and "scs" in names
    assert set(names) <= set(BACKEND_CLASSES)
    assert ("mosek" in names) == _MOSEK_OK


def test_every_available_backend_really_solves():
    x = cp.Variable()
    for name in sn.available_backends():
        res = get_backend(name).solve(cp.Problem(cp.Minimize(cp.square(x - 3))))
        assert res.status == "optimal"
        assert res.objective == pytest.approx(0.0, abs=1e-6)
        assert res.backend == name


def test_auto_resolves_to_mosek_if_licensed_else_clarabel(data):
    """Among the conic solvers "auto" is MOSEK when licensed, else Clarabel; programs with a
    first-order solver of sdpnets' (the least-squares and ReLU families) take it first."""
    expected = "mosek" if _MOSEK_OK else "clarabel"
    assert resolve_backend("auto").name == expected
    X, Y = data
    res = sn.ConvexLinearFC(X, Y, 1.0).solve()  # backend="auto" is the default
    assert res.backend == "firstorder" and res.status == "optimal"
    Xr = np.random.default_rng(0).standard_normal((8, 2))
    res = sn.ConvexReLU(Xr, Xr[:, 0] - Xr[:, 1], 0.1).solve()  # so do the ReLU families
    assert res.backend == "firstorder" and res.status == "optimal"
    Xc = np.random.default_rng(1).standard_normal((6, 4))  # no first-order solver: conic
    res = sn.ConvexCircularReLU(Xc, Xc[:, 0], 0.1).solve()
    assert res.backend == expected and res.status == "optimal"


def test_unknown_backend_lists_available_ones(data):
    X, Y = data
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    with pytest.raises(sn.UnknownBackendError) as info:
        prog.solve(backend="gurobi-ish")
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, sn.SdpnetsError)
    assert "gurobi-ish" in str(err)
    for name in sn.available_backends():
        assert name in str(err)
    assert prog.result is None  # nothing ran


@pytest.mark.parametrize("bad", ["CLARABEL", "", None, 3])
def test_unknown_backend_names_of_any_type(data, bad):
    X, Y = data
    with pytest.raises(sn.UnknownBackendError):
        sn.ConvexLinearFC(X, Y, 1.0).solve(backend=bad)


def test_unknown_backend_for_ridge_path_variant(data):
    X, Y = data
    with pytest.raises(sn.InvalidInputError, match="backend"):
        sn.ConvexLinearFC(X, Y[:, 0], 1.0, depth=3).solve(backend="gurobi-ish")


def test_mosek_without_licence_raises_backend_not_available(data):
    if _MOSEK_OK:
        pytest.skip("a MOSEK licence is present on this machine")
    X, Y = data
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    with pytest.raises(sn.BackendNotAvailableError) as info:
        prog.solve(backend="mosek")
    msg = str(info.value)
    assert "licen" in msg.lower()  # licence / license
    assert "MOSEKLM_LICENSE_FILE" in msg or "mosek.lic" in msg  # how to fix it
    assert isinstance(info.value, sn.SdpnetsError)
    assert prog.result is None
    assert "mosek" not in sn.available_backends()


def test_mosek_probe_is_cached():
    first = _mosek_probe()
    before = _mosek_probe.cache_info().hits
    assert _mosek_probe() == first
    assert _mosek_probe.cache_info().hits == before + 1
    assert MosekBackend().is_available() == first[0]


@requires_mosek
def test_mosek_solves_when_licensed(data):
    X, Y = data
    res = sn.ConvexLinearFC(X, Y, 1.0).solve(backend="mosek")
    assert res.status == "optimal" and res.backend == "mosek"


def test_mosek_skip_reason_is_mosek_own_message():
    ok, reason = MosekBackend().availability()
    if ok:
        pytest.skip("a MOSEK licence is present on this machine")
    assert reason and MOSEK_REASON == reason


# --- capabilities and option translation ---------------------------------------------------------------


@pytest.mark.parametrize("cls", [ClarabelBackend, SCSBackend, MosekBackend])
def test_capabilities_cover_the_linear_fc_cones(cls):
    b = cls()
    assert b.supports({"zero", "soc", "psd"})
    assert not b.supports({"zero", "imaginary-cone"})
    assert b.name in BACKEND_CLASSES and BACKEND_CLASSES[b.name] is cls


def test_program_refuses_backend_lacking_a_cone(data, monkeypatch):
    X, Y = data
    monkeypatch.setattr(ClarabelBackend, "cones", frozenset({"zero", "nonneg", "soc"}))
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    with pytest.raises(sn.InvalidInputError, match="psd"):
        prog.solve(backend="clarabel")
    assert prog.result is None
    # the scalar-output program needs no PSD cone and still solves
    assert sn.ConvexLinearFC(X, Y[:, 0], 1.0).solve(backend="clarabel").status == "optimal"


def test_clarabel_option_translation():
    import clarabel

    opts = ClarabelBackend().solver_options(1e-7, 50, 2.5)
    assert opts["tol_gap_abs"] == opts["tol_gap_rel"] == opts["tol_feas"] == 1e-7
    assert opts["max_iter"] == 50 and opts["time_limit"] == 2.5
    settings = clarabel.DefaultSettings()
    for key in opts:
        assert hasattr(settings, key), key  # names Clarabel really has
    bare = ClarabelBackend().solver_options(1e-6, None, None)
    assert "max_iter" not in bare and "time_limit" not in bare
    # the infeasibility ratio follows tol down to its floor of 1e-10 (the class docstring)
    for tol in (1e-6, 2e-10, 1.5e-10, 1e-10, 1e-12):
        assert ClarabelBackend().solver_options(tol, None, None)["tol_ktratio"] == max(tol, 1e-10)


def test_scs_option_translation():
    opts = SCSBackend().solver_options(1e-7, 50, 2.5)
    assert opts == {"eps_abs": 1e-7, "eps_rel": 1e-7, "max_iters": 50, "time_limit_secs": 2.5}
    assert SCSBackend().solver_options(1e-6, None, None) == {"eps_abs": 1e-6, "eps_rel": 1e-6}


def test_mosek_option_translation():
    mosek = pytest.importorskip("mosek")
    params = MosekBackend().solver_options(1e-7, 50, 2.5)["mosek_params"]
    assert params["MSK_DPAR_INTPNT_CO_TOL_REL_GAP"] == 1e-7
    assert params["MSK_DPAR_INTPNT_CO_TOL_PFEAS"] == 1e-7
    assert params["MSK_DPAR_INTPNT_CO_TOL_DFEAS"] == 1e-7
    assert params["MSK_IPAR_INTPNT_MAX_ITERATIONS"] == 50
    assert params["MSK_DPAR_OPTIMIZER_MAX_TIME"] == 2.5
    for key in params:  # names MOSEK really has
        kind, name = key.split("_", 2)[1], key.split("_", 2)[2].lower()
        enum = mosek.dparam if kind == "DPAR" else mosek.iparam
        assert hasattr(enum, name), key


def test_translated_options_reach_the_solver(data):
    """max_iters is honoured by each solver (the iteration count proves it)."""
    X, Y = data
    for name, cap in (("clarabel", 3), ("scs", 7)):
        res = sn.ConvexLinearFC(X, Y, 1.0).solve(backend=name, tol=1e-12, max_iters=cap)
        assert res.iterations == cap


def test_raw_solver_options_pass_through_and_override(data):
    X, Y = data
    tight = sn.ConvexLinearFC(X, Y, 1.0).solve(backend="scs", tol=1e-9)
    loose = sn.ConvexLinearFC(X, Y, 1.0).solve(backend="scs", tol=1e-9, eps_abs=1e-2, eps_rel=1e-2)
    # the loose solve's point is not verified at tol=1e-9: honest, but still a solution
    assert tight.status == "optimal" and loose.solved
    assert loose.iterations < tight.iterations


def test_timing_and_iterations_are_reported(data):
    X, Y = data
    for name in BACKENDS:
        res = sn.ConvexLinearFC(X, Y, 1.0).solve(backend=name)
        assert res.backend == name
        assert np.isfinite(res.solve_time) and res.solve_time >= 0
        assert np.isfinite(res.compile_time) and res.compile_time >= 0
        assert isinstance(res.iterations, int) and res.iterations >= 1
        assert res.exact is True


# --- status mapping ---------------------------------------------------------------------------------


LIMIT_CASES = [
    ("scs", {"max_iters": 2}, "iteration_limit"),
    ("scs", {"time_limit": 1e-6, "tol": 1e-14}, "time_limit"),
    ("clarabel", {"max_iters": 1}, "iteration_limit"),
    ("clarabel", {"time_limit": 1e-9}, "time_limit"),
]


@pytest.mark.parametrize("backend,options,expected", LIMIT_CASES)
@pytest.mark.parametrize("output", ["vector", "scalar"])
def test_limits_are_reported_and_block_recovery(data, backend, options, expected, output):
    X, Y = data
    if output == "scalar":
        Y = Y[:, 0]
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    res = prog.solve(backend=backend, **options)
    assert res.status == expected, res.message
    assert res.status != "optimal" and not res.solved
    assert res.message  # says what happened
    with pytest.raises(sn.SolveFailedError, match=expected) as info:
        prog.network()
    assert backend in str(info.value)
    with pytest.raises(sn.SolveFailedError):
        prog.certificate()
    with pytest.raises(sn.SolveFailedError):
        prog.solution


@pytest.mark.parametrize("output", ["vector", "scalar"])
def test_clarabel_stopping_at_max_iters_reports_the_limit(data, output):
    """SolveResult's contract: "a solver that stopped on a limit reports the limit". Every
    cap below the iteration count of the unconstrained solve stops Clarabel on the cap; the
    status must be iteration_limit (as SCS's "solved (inaccurate - reached max_iters)" is),
    whatever accuracy the last iterate happens to have."""
    X, Y = data
    if output == "scalar":
        Y = Y[:, 0]
    natural = sn.ConvexLinearFC(X, Y, 1.0).solve(backend="clarabel", tol=1e-8)
    assert natural.status == "optimal"
    statuses = {}
    for cap in range(1, natural.iterations):
        res = sn.ConvexLinearFC(X, Y, 1.0).solve(backend="clarabel", tol=1e-8, max_iters=cap)
        assert res.iterations == cap
        statuses[cap] = res.status
    assert all(s == "iteration_limit" for s in statuses.values()), statuses


def test_ridge_path_round_limit_is_reported(scalar_data):
    X, y = scalar_data
    prog = sn.ConvexLinearFC(X, y, 0.2 * np.linalg.norm(X.T @ y) ** (2 / 3), depth=3)
    res = prog.solve(tol=1e-15, max_iters=1)
    assert res.status == "iteration_limit"
    with pytest.raises(sn.SolveFailedError, match="iteration_limit"):
        prog.network()


def test_network_before_solve_raises_not_solved(data):
    X, Y = data
    for prog in (sn.ConvexLinearFC(X, Y, 1.0), sn.ConvexLinearFC(X, Y[:, 0], 1.0, depth=3)):
        with pytest.raises(sn.NotSolvedError, match="solve"):
            prog.network()
        with pytest.raises(sn.NotSolvedError):
            prog.certificate()
        assert prog.result is None


def test_optimal_inaccurate_warns_on_network(data, monkeypatch):
    X, Y = data
    monkeypatch.setattr(ClarabelBackend, "map_status", lambda self, *a: "optimal_inaccurate")
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    # two iterations: a point its certificate cannot prove optimal (else it is "optimal")
    res = prog.solve(backend="clarabel", max_iter=2)
    assert res.status == "optimal_inaccurate" and res.solved
    with pytest.warns(sn.SdpnetsWarning, match="inaccurate"):
        net = prog.network()
    assert isinstance(net, sn.LinearFC)


def test_optimal_solve_network_does_not_warn(data):
    X, Y = data
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    prog.solve(backend="clarabel")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prog.network()
        prog.certificate()


@pytest.mark.parametrize("name", ["clarabel", "scs"])
def test_infeasible_and_unbounded_problems(name):
    x = cp.Variable()
    b = get_backend(name)
    infeasible = b.solve(cp.Problem(cp.Minimize(x), [x >= 1, x <= 0]))
    unbounded = b.solve(cp.Problem(cp.Minimize(x), [x <= 0]))
    assert infeasible.status == "infeasible"
    assert unbounded.status == "unbounded"
    assert not infeasible.solved and not unbounded.solved


def test_status_vocabulary():
    assert set(STATUSES) == {
        "optimal", "optimal_inaccurate", "infeasible", "unbounded",
        "time_limit", "iteration_limit", "error",
    }
    from sdpnets.backends.base import CVXPY_STATUS_MAP

    assert set(CVXPY_STATUS_MAP.values()) <= set(STATUSES)
    # inaccurate infeasibility/unboundedness is not a certificate of either
    assert CVXPY_STATUS_MAP[cp.INFEASIBLE_INACCURATE] == "error"
    assert CVXPY_STATUS_MAP[cp.UNBOUNDED_INACCURATE] == "error"
    assert CVXPY_STATUS_MAP[cp.OPTIMAL_INACCURATE] == "optimal_inaccurate"


def test_solver_exception_becomes_error_status(data, monkeypatch):
    """A SolverError inside cvxpy is reported as a status, never raised, never optimal."""
    X, Y = data

    def boom(self, *args, **kwargs):
        raise cp.error.SolverError("simulated solver crash")

    monkeypatch.setattr(cp.Problem, "solve", boom)
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    res = prog.solve(backend="clarabel")
    assert res.status == "error"
    assert "simulated solver crash" in res.message
    with pytest.raises(sn.SolveFailedError, match="error"):
        prog.network()


# --- the solvers' own status words ----------------------------------------------------------------


def test_every_clarabel_status_is_mapped_and_only_solved_is_optimal():
    import clarabel

    from sdpnets.backends.clarabel import CLARABEL_STATUS_MAP

    words = {w for w in dir(clarabel.SolverStatus) if not w.startswith("_")}
    assert words <= set(CLARABEL_STATUS_MAP), words - set(CLARABEL_STATUS_MAP)
    assert set(CLARABEL_STATUS_MAP.values()) <= set(STATUSES)
    assert [w for w, s in CLARABEL_STATUS_MAP.items() if s == "optimal"] == ["Solved"]
    assert CLARABEL_STATUS_MAP["AlmostSolved"] == "optimal_inaccurate"
    for word in ("NumericalError", "InsufficientProgress", "AlmostPrimalInfeasible",
                 "AlmostDualInfeasible"):
        assert CLARABEL_STATUS_MAP[word] == "error"


@pytest.mark.parametrize("options,word,expected", [
    ({"max_iters": 2}, "MaxIterations", "iteration_limit"),
    ({"time_limit": 1e-9}, "MaxTime", "time_limit"),
])
def test_clarabel_limits_are_read_from_clarabel_itself(data, options, word, expected):
    X, Y = data
    res = sn.ConvexLinearFC(X, Y, 1.0).solve(backend="clarabel", **options)
    assert res.status == expected
    assert word in res.message


class _FakeClarabel:
    """Stands in for the Clarabel solver object cvxpy caches, with a chosen status."""

    def __init__(self, word):
        self.word = word

    def get_solution(self):
        return type("Solution", (), {"status": self.word})()


@pytest.mark.parametrize("word", ["NumericalError", "InsufficientProgress"])
def test_clarabel_failure_words_become_error_with_the_word(data, monkeypatch, word):
    """cvxpy raises on these Clarabel statuses; the status is "error" and the message names
    Clarabel's own word (simulated: a real NumericalError cannot be forced reliably)."""
    X, Y = data

    def fail(self, *args, **kwargs):
        self._solver_cache["CLARABEL"] = _FakeClarabel(word)
        raise cp.error.SolverError("Solver 'CLARABEL' failed.")

    monkeypatch.setattr(cp.Problem, "solve", fail)
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    res = prog.solve(backend="clarabel")
    assert res.status == "error" and word in res.message
    with pytest.raises(sn.SolveFailedError):
        prog.network()


def test_failure_never_reports_a_stale_optimal_word(data, monkeypatch):
    X, Y = data

    def fail(self, *args, **kwargs):
        self._solver_cache["CLARABEL"] = _FakeClarabel("Solved")
        raise cp.error.SolverError("crash after an earlier successful solve")

    monkeypatch.setattr(cp.Problem, "solve", fail)
    res = sn.ConvexLinearFC(X, Y, 1.0).solve(backend="clarabel", warm_start=True)
    assert res.status == "error" and "Solved" not in res.message


def test_clarabel_keeps_its_cached_solver_only_to_warm_start(data, monkeypatch):
    """cvxpy caches the Clarabel solver of the last solve. A solve that is not warm
    started must not see it: a crash would otherwise report the earlier solve's word (here
    the ``MaxIterations`` of a real limited solve) as its own. A warm start needs it."""
    X, Y = data
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    first = prog.solve(backend="clarabel", max_iters=2)
    assert first.status == "iteration_limit" and "MaxIterations" in first.message
    assert "CLARABEL" in prog.problem._solver_cache
    seen = []

    def fail(self, *args, **kwargs):
        seen.append((kwargs.get("warm_start"), "CLARABEL" in self._solver_cache))
        raise cp.error.SolverError("simulated crash")

    monkeypatch.setattr(cp.Problem, "solve", fail)
    res = get_backend("clarabel").solve(prog.problem)
    assert res.status == "error" and "MaxIterations" not in res.message
    assert seen == [(False, False)]
    monkeypatch.undo()
    prog.solve(backend="clarabel", max_iters=2)  # the cache holds a solver again
    monkeypatch.setattr(cp.Problem, "solve", fail)
    get_backend("clarabel").solve(prog.problem, warm_start=True)
    assert seen[-1] == (True, True)


def _stub_problem(status, iters, solve_time):
    from types import SimpleNamespace

    stats = SimpleNamespace(num_iters=iters, solve_time=solve_time, extra_stats=None)
    return SimpleNamespace(status=status, solver_stats=stats, _solver_cache={})


@pytest.mark.parametrize("iters,solve_time,max_iters,time_limit,expected", [
    (50, 0.1, 50, None, "iteration_limit"),
    (7, 2.0, None, 2.0, "time_limit"),
    (7, 0.1, 50, 2.0, "error"),  # MOSEK's "unknown" with no limit reached: a stall
    (7, 0.1, None, None, "error"),
])
def test_mosek_unknown_solution_status_mapping(iters, solve_time, max_iters, time_limit,
                                              expected):
    """MOSEK's "unknown" solution status (accepted from cvxpy as optimal_inaccurate) is the
    limit that stopped it, else an error; never optimal. Stubbed: no MOSEK licence needed."""
    b = MosekBackend()
    assert b.solver_options(1e-8, max_iters, time_limit)["accept_unknown"] is True
    problem = _stub_problem(cp.OPTIMAL_INACCURATE, iters, solve_time)
    assert b.map_status(problem, max_iters, time_limit) == expected
    assert "unknown" in b.raw_status(problem)
    assert b.map_status(_stub_problem(cp.OPTIMAL, iters, solve_time), None, None) == "optimal"


@pytest.mark.parametrize("name", ["clarabel", "scs"])
def test_unknown_raw_solver_option_is_an_input_error(data, name):
    X, Y = data
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    with pytest.raises(sn.InvalidInputError, match="no_such_setting"):
        prog.solve(backend=name, no_such_setting=1)
    assert prog.result is None


def _clarabel_cnn_objective(seed: int) -> tuple[str, float]:
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((20, 5, 5)), rng.standard_normal(20)
    res = sn.ConvexLinearCNN(X, y, 1.0, kernel_size=3).solve(backend="clarabel")
    return res.status, res.objective


@pytest.mark.parametrize("parent", ["sdpnets", "direct"])
def test_clarabel_in_a_child_forked_after_a_clarabel_solve_finishes(parent):
    """Clarabel starts a thread pool at its first solve; a forked child (isolated solves,
    the benchmark runner) must not wait on it forever, whether the parent solved through
    sdpnets or called Clarabel itself. The child's optimum equals the parent's own."""
    from sdpnets.solving.isolation import run_isolated

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 20))
    Y = X @ rng.standard_normal((20, 6))
    if parent == "sdpnets":
        sn.ConvexLinearFC(X, Y, 3.0).solve(backend="clarabel", tol=1e-10)
    else:
        W = cp.Variable((20, 6))
        cp.Problem(cp.Minimize(cp.sum_squares(X @ W - Y) + 3.0 * cp.normNuc(W))).solve(
            solver=cp.CLARABEL)
    outcome = run_isolated(_clarabel_cnn_objective, 1, time_limit=60.0)
    assert outcome.status == "ok", outcome.message
    status, objective = outcome.value
    assert status == "optimal"
    assert objective == pytest.approx(_clarabel_cnn_objective(1)[1], rel=1e-6)
