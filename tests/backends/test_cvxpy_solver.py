"""``backend="cvxpy:NAME"``: any conic solver cvxpy can call, with honest statuses."""

from __future__ import annotations

import cvxpy as cp
import pytest

import sdpnets as sn
from sdpnets.backends import available_backends, get_backend
from sdpnets.backends.cvxpy_solver import cvxpy_backend, solver_cones
from sdpnets.bench.instances import Instance, build_program
from sdpnets.bench.report import classify, summarize
from sdpnets.bench.runner import plan, solve_task, sweep
from sdpnets.bench.store import ResultsStore, read_rows
from sdpnets.cli import main

pytestmark = pytest.mark.skipif("ECOS" not in cp.installed_solvers(),
                                reason="ECOS is not installed (pip install ecos)")


def test_cones_come_from_cvxpys_interface():
    assert solver_cones("ECOS") == {"zero", "nonneg", "soc", "exp"}
    assert "psd" in solver_cones("CLARABEL")
    backend = get_backend("cvxpy:ECOS")
    assert backend.name == "cvxpy:ECOS" and backend.cvxpy_solver == "ECOS"
    assert get_backend("cvxpy:ecos").name == "cvxpy:ECOS"
    assert "cvxpy:ECOS" not in available_backends()  # the built-ins' list is unchanged


def test_names_that_are_not_conic_solvers_are_refused():
    with pytest.raises(sn.UnknownBackendError, match="QP solver"):
        cvxpy_backend("OSQP")
    with pytest.raises(sn.UnknownBackendError, match="not a solver cvxpy knows"):
        cvxpy_backend("NOPE")


def test_ecos_meets_clarabel_where_it_has_the_cones_and_is_refused_where_not():
    prog = build_program(Instance("circular_cnn2_1d", "tiny"))
    ecos = prog.solve(backend="cvxpy:ECOS", tol=1e-8)
    assert ecos.status == "optimal" and ecos.backend == "cvxpy:ECOS"
    assert ecos.lower_bound <= ecos.upper_bound
    reference = prog.solve(backend="clarabel", tol=1e-8)
    assert ecos.objective == pytest.approx(reference.objective, rel=1e-6)
    psd = build_program(Instance("linear_fc", "tiny"))
    with pytest.raises(sn.InvalidInputError, match="psd"):
        psd.solve(backend="cvxpy:ECOS")


def test_options_that_do_not_reach_the_solver_are_named():
    prog = build_program(Instance("circular_cnn2_1d", "tiny"))
    res = prog.solve(backend="cvxpy:SCS", tol=1e-7)  # SCS by name: no translation table
    assert "tol=1e-07 was not passed to SCS" in res.message
    assert "solved again" not in res.message  # no tighter re-solve: tol does not reach SCS
    if "CVXOPT" in cp.installed_solvers():
        res = build_program(Instance("relu_sampled", "tiny")).solve(
            backend="cvxpy:CVXOPT", tol=1e-7, time_limit=30)
        assert res.status == "optimal"
        assert "time_limit was not passed to CVXOPT" in res.message


@pytest.fixture
def unknown_status(monkeypatch):
    """cvxpy reports a status sdpnets has never seen, after a solve that found a point."""
    solve = cp.Problem.solve

    def made_up(self, *args, **kwargs):
        value = solve(self, *args, **kwargs)
        self._status = "made_up_status"
        return value

    monkeypatch.setattr(cp.Problem, "solve", made_up)


def test_an_unmapped_status_is_reported_as_such_never_solved(unknown_status):
    prog = build_program(Instance("relu_sampled", "tiny"))
    res = prog.solve(backend="cvxpy:ECOS", tol=1e-8)
    assert res.status == "error" and not res.solved
    assert res.raw["unmapped_status"] == "made_up_status"
    assert "UNMAPPED status 'made_up_status'" in res.message
    (task,) = plan("tiny", ["relu_sampled"], ["cvxpy:ECOS"])
    row = solve_task(task)
    assert row["status"] == "unmapped" and row["unmapped_status"] == "made_up_status"
    assert classify(row) == "unmapped"


def test_a_sweep_with_ecos_reports_unsupported_rows_as_unsupported(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    assert main(["bench", "--preset", "tiny", "--families", "linear_fc", "relu_sampled",
                 "--backends", "cvxpy:ECOS", "clarabel", "--out", str(path), "--quiet"]) == 0
    rows = {(r["family"], r["backend"]): r for r in read_rows(path)}
    assert rows["linear_fc", "cvxpy:ECOS"]["status"] == "unsupported"
    assert "psd" in rows["linear_fc", "cvxpy:ECOS"]["message"]
    assert rows["relu_sampled", "cvxpy:ECOS"]["status"] == "optimal"
    assert rows["relu_sampled", "cvxpy:ECOS"]["versions"]["ecos"]
    counts = {c["config"]: c for c in summarize(list(rows.values())).counts}
    assert counts["cvxpy:ECOS"]["unsupported"] == 1 and counts["cvxpy:ECOS"]["runs"] == 1
    assert counts["cvxpy:ECOS"]["solved"] == 1
    assert not any(counts["cvxpy:ECOS"][k] for k in ("error", "crashed", "unmapped"))


def test_the_sweep_refuses_an_unknown_cvxpy_name(tmp_path):
    assert main(["bench", "--preset", "tiny", "--backends", "cvxpy:OSQP",
                 "--out", str(tmp_path / "r.jsonl")]) == 2
    with ResultsStore(tmp_path / "s.jsonl") as store:
        tasks = plan("tiny", ["gated_relu"], ["cvxpy:ECOS"])
        assert sweep(tasks, store, progress=False)["ran"] == 1
