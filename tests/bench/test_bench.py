"""The benchmark harness: sweeps, isolation of runs, resumable results, honest reports."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sdpnets as sn
from sdpnets.bench import instances as bench_instances
from sdpnets.bench.instances import FAMILIES, Family
from sdpnets.bench.report import (
    classify,
    format_summary,
    performance_profile,
    plot_convergence,
    plot_profiles,
    shifted_geometric_mean,
    summarize,
)
from sdpnets.bench.runner import default_backends, plan, run_key, sweep
from sdpnets.bench.store import ResultsStore, read_rows
from sdpnets.cli import main
from sdpnets.results import Certificate, SolveResult

FAILURES = {"crashed", "error", "memory_limit", "time_limit"}


# -- stub families: a solve that hangs, raises, aborts or claims a loose "optimal" --------
class _StubProgram:
    def __init__(self, action: str) -> None:
        self.action = action
        self.beta = 1.0
        self._problem = None

    def beta_max(self) -> float:
        return 1.0

    def solve(self, backend="auto", tol=1e-8, time_limit=None, **kwargs) -> SolveResult:
        if self.action == "hang":
            time.sleep(600)
        if self.action == "hog":
            hog = [bytearray(2**20) for _ in range(2000)]  # 2 GiB, a MiB at a time
            return len(hog)
        if self.action == "raise":
            raise RuntimeError("boom inside the solver")
        if self.action == "abort":
            os.abort()
        if self.action == "refuse":
            raise sn.InvalidInputError(f"backend {backend!r} is not for this stub")
        self._result = SolveResult("optimal", 2.0, backend, solve_time=0.01, compile_time=0.0)
        return self._result

    def certificate(self) -> Certificate:
        # A real bracket far wider than any tolerance: the "optimal" is not accurate.
        return Certificate(lower_bound=1.0, upper_bound=2.0, gap=1.0)


@pytest.fixture
def stubs(monkeypatch):
    """Register the stub families for one test (forked run processes inherit them)."""
    for action in ("hang", "hog", "raise", "abort", "refuse", "loose"):
        fam = Family(f"stub_{action}", lambda dims, X, y, a=action: _StubProgram(a),
                     {"tiny": {"n": 4, "d": 2}}, targets="scalar")
        monkeypatch.setitem(FAMILIES, fam.name, fam)


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


# -- the tiny sweep ------------------------------------------------------------------------------
def test_tiny_sweep_every_family_and_backend(tmp_path):
    tasks = plan("tiny")
    families = {t["instance"]["family"] for t in tasks}
    assert families == set(FAMILIES)
    assert set(default_backends()) <= {t["backend"] for t in tasks}
    with ResultsStore(tmp_path / "r.jsonl") as store:
        stats = sweep(tasks, store, jobs=2, progress=False)
    rows = read_rows(tmp_path / "r.jsonl")
    assert stats == {"planned": len(tasks), "skipped": 0, "ran": len(tasks)}
    assert sorted(r["key"] for r in rows) == sorted(run_key(t) for t in tasks)
    failed = [(r["key"], r["status"], r.get("message")) for r in rows if r["status"] in FAILURES]
    assert not failed
    for fam in families:  # every family is solved by at least one backend
        assert any(r["family"] == fam and classify(r) == "solved" for r in rows), fam
    for r in rows:
        assert r["peak_mib"] > 0 and r["wall_s"] > 0
        assert r["versions"]["sdpnets"] == sn.__version__ and r["machine"]["cpus"] >= 1
        if r["status"] == "unsupported":
            assert r["message"]
    # Weak duality across backends: no backend's certified lower bound may exceed the
    # objective of another backend's recovered network on the same exact program.
    by_instance: dict[str, list[dict]] = {}
    for r in rows:
        if r["status"] == "optimal" and r.get("exact", True):
            by_instance.setdefault(r["key"].rsplit("|", 2)[0], []).append(r)
    assert len(by_instance) >= 10
    for runs in by_instance.values():
        lowers = [r["lower_bound"] for r in runs if r.get("lower_bound") is not None]
        uppers = [r["upper_bound"] for r in runs if r.get("upper_bound") is not None]
        assert lowers and uppers
        assert max(lowers) <= min(uppers) * (1 + 1e-6) + 1e-9


def test_killed_sweep_resumes_with_one_row_per_run(tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    families = ["circular_cnn2_1d", "circular_cnn2_2d", "circular_cnn3_1d", "linear_fc"]
    args = ["bench", "--preset", "tiny", "--families", *families, "--backends", "clarabel",
            "scs", "--seeds", "0", "1", "2", "--out", str(out), "--quiet"]
    cmd = [sys.executable, "-m", "sdpnets", *args]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    keys = {run_key(t) for t in plan("tiny", families, ["clarabel", "scs"], [0, 1, 2])}
    before = read_rows(out)
    assert 2 <= len(before) < len(keys)
    with open(out, "ab") as f:  # as if killed in the middle of writing a row
        f.write(b'{"key": "' + next(iter(keys)).encode() + b'", "status": "opt')
    # Resume in this process (the same command line; saves a second interpreter start).
    assert main(args) == 0
    assert f"already in {out}" in capsys.readouterr().out
    lines = out.read_bytes().decode().splitlines()
    rows = [json.loads(line) for line in lines]  # every line is whole JSON
    assert len(rows) == len(keys)
    assert sorted(r["key"] for r in rows) == sorted(keys)
    assert all(r["status"] == "optimal" for r in rows)
    # A third run finds everything stored and runs nothing.
    assert main(args) == 0
    assert out.read_bytes().decode().splitlines() == lines
    assert f"0 runs done, {len(keys)} already in" in capsys.readouterr().out


def test_hanging_solver_becomes_a_time_limit_row_and_the_sweep_goes_on(tmp_path, stubs):
    tasks = plan("tiny", ["stub_hang", "circular_cnn2_1d"], ["clarabel"],
                 settings={"time_limit": 0.5})
    with ResultsStore(tmp_path / "r.jsonl") as store:
        sweep(tasks, store, progress=False)
    rows = {r["family"]: r for r in read_rows(tmp_path / "r.jsonl")}
    assert rows["stub_hang"]["status"] == "time_limit"
    assert "killed" in rows["stub_hang"]["message"]
    assert rows["stub_hang"]["wall_s"] < 30
    assert rows["circular_cnn2_1d"]["status"] == "optimal"


def test_memory_hog_becomes_a_memory_limit_row(tmp_path, stubs):
    tasks = plan("tiny", ["stub_hog", "circular_cnn2_1d"], ["clarabel"],
                 settings={"memory_limit_gb": 0.2})
    with ResultsStore(tmp_path / "r.jsonl") as store:
        sweep(tasks, store, progress=False)
    rows = {r["family"]: r for r in read_rows(tmp_path / "r.jsonl")}
    assert rows["stub_hog"]["status"] == "memory_limit", rows["stub_hog"]["message"]
    assert rows["stub_hog"]["added_mib"] < 2000
    assert rows["circular_cnn2_1d"]["status"] == "optimal"
    assert classify(rows["stub_hog"]) == "memory_limit"


def test_failures_are_counted_as_failures(tmp_path, stubs, capsys):
    fams = ["stub_raise", "stub_abort", "stub_refuse", "stub_loose", "circular_cnn2_1d"]
    tasks = plan("tiny", fams, ["clarabel"])
    with ResultsStore(tmp_path / "r.jsonl") as store:
        sweep(tasks, store, progress=False)
    rows = read_rows(tmp_path / "r.jsonl")
    by_family = {r["family"]: r for r in rows}
    assert by_family["stub_raise"]["status"] == "crashed"
    assert "boom inside the solver" in by_family["stub_raise"]["message"]
    assert by_family["stub_abort"]["status"] == "crashed"
    assert "SIGABRT" in by_family["stub_abort"]["message"]
    assert by_family["stub_refuse"]["status"] == "unsupported"
    assert by_family["stub_loose"]["status"] == "optimal"
    assert classify(by_family["stub_loose"]) == "inaccurate"
    summary = summarize(rows)
    (counts,) = summary.counts
    assert counts["solved"] == 1 and counts["crashed"] == 2 and counts["inaccurate"] == 1
    assert counts["unsupported"] == 1 and counts["runs"] == 4
    assert main(["bench", "report", str(tmp_path / "r.jsonl")]) == 0
    text = capsys.readouterr().out
    assert text == format_summary(summary) + "\n"
    lines = text.splitlines()
    assert lines[1].startswith("Measured on: ") and sn.__version__ in lines[1]
    start = next(i for i, line in enumerate(lines) if line.startswith("backend"))
    header, line = lines[start], lines[start + 2]
    assert dict(zip(header.split(), line.split())) == {
        "backend": "clarabel", "runs": "4", "solved": "1", "inaccurate": "1", "crashed": "2",
        "uncertified": "0", "unsupported": "1"}


# -- the report's numbers, by hand -------------------------------------------------------------
def _row(inst, backend, status, solve_s=None, lower=None, upper=None, **extra):
    row = {"key": f"{inst}|{backend}", "family": "fam", "size": "tiny", "seed": inst,
           "data": "gaussian", "conditioning": None, "backend": backend,
           "settings": {"tol": 1e-6, "time_limit": 10.0}, "status": status,
           "solve_s": solve_s, "compile_s": None if solve_s is None else 0.5,
           "lower_bound": lower, "upper_bound": upper, "exact": True, "peak_mib": 100.0}
    row.update(extra)
    return row


HAND_ROWS = [
    _row(1, "A", "optimal", 1.0, 2.0 - 1e-7, 2.0),
    _row(1, "B", "optimal", 2.0, 2.0 - 1e-6, 2.0 + 2e-6),
    _row(2, "A", "optimal", 3.0, 5.0, 5.0),
    _row(2, "B", "optimal", 4.0, 4.0, 6.0),  # "optimal" with a 33% certified gap
    _row(3, "A", "time_limit", message="child killed after the time limit"),
    _row(3, "B", "optimal", 2.0, 1.0, 1.0),
    _row(4, "A", "optimal", 1.0, 3.0, 3.0),
    _row(4, "B", "unsupported", message="refused"),
]


def test_shifted_geometric_mean_by_hand():
    assert shifted_geometric_mean([1.0, 3.0, 10.0], 1.0) == pytest.approx(88 ** (1 / 3) - 1)
    assert shifted_geometric_mean([2.0, 2.0], 10.0) == pytest.approx(2.0)
    assert math.isnan(shifted_geometric_mean([], 1.0))


@pytest.mark.parametrize("shift", [1.0, 10.0])
def test_report_numbers_match_a_hand_computation(tmp_path, shift, capsys):
    path = tmp_path / "fixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in HAND_ROWS))
    summary = summarize(read_rows(path), shift=shift)
    counts = {c["config"]: c for c in summary.counts}
    assert (counts["A"]["solved"], counts["A"]["time_limit"], counts["A"]["runs"]) == (3, 1, 4)
    assert (counts["B"]["solved"], counts["B"]["inaccurate"], counts["B"]["unsupported"]) == (
        2, 1, 1)
    both = next(g for g in summary.groups if g.configs == ["A", "B"])
    assert len(both.instances) == 3  # instance 4 is not compared: B did not run it
    table = {r["config"]: r for r in both.table}
    # Unsolved runs (A's time limit, B's inaccurate "optimal") count at the 10 s limit.
    sgm_a = ((1 + shift) * (3 + shift) * (10 + shift)) ** (1 / 3) - shift
    sgm_b = ((2 + shift) * (10 + shift) * (2 + shift)) ** (1 / 3) - shift
    assert table["A"]["sgm_solve_s"] == pytest.approx(sgm_a)
    assert table["B"]["sgm_solve_s"] == pytest.approx(sgm_b)
    assert table["A"]["sgm_total_s"] == pytest.approx(
        ((1.5 + shift) * (3.5 + shift) * (10 + shift)) ** (1 / 3) - shift)
    # Gaps to the best certified lower bound of each instance (instance 1: 2 - 1e-7),
    # relative to the upper bound: (u - l_best) / |u|, the relative gap everywhere.
    best = 2.0 - 1e-7
    assert table["B"]["gap_max"] == pytest.approx((2.0 + 2e-6 - best) / (2.0 + 2e-6))
    assert table["A"]["gap_median"] == pytest.approx(((1e-7 / 2.0) + 0.0) / 2)
    # The time profile measures what the user waits for: compile (0.5 s) + solve.
    from sdpnets.bench.report import _measures
    times = _measures(summary, both, "time")
    assert sorted(times[:, 0].tolist()) == [1.5, 3.5, math.inf]  # A: instance 3 unsolved
    assert sorted(times[:, 1].tolist()) == [2.5, 2.5, math.inf]  # B: instance 2 inaccurate
    # The command prints the same numbers, with the shift stated.
    assert main(["bench", "report", str(path), "--shift", str(shift)]) == 0
    text = capsys.readouterr().out
    assert f"shift {shift:g} s" in text
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("3 instances"))
    rows = {line.split()[0]: line.split() for line in lines[start + 3:start + 5]}
    assert rows["A"][:3] == ["A", "2/3", format(sgm_a, ".4g")]
    assert rows["B"][:3] == ["B", "2/3", format(sgm_b, ".4g")]
    assert rows["A"][3] == format(sgm_a / min(sgm_a, sgm_b), ".2f")  # relative to the fastest
    by_family = format_summary(summary, by_family=True).splitlines()
    header = next(i for i, line in enumerate(by_family) if line.split()[:3] == ["family", "A", "B"])
    assert by_family[header + 2].split() == [
        "fam", "2/3", format(sgm_a, ".3g"), "2/3", format(sgm_b, ".3g")]


def test_performance_profile_by_hand():
    inf = math.inf
    taus, rho = performance_profile([[1.0, 2.0], [4.0, 2.0], [inf, 3.0]])
    assert taus.tolist() == [1.0, 2.0]
    assert rho.ravel().tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1.0])


def test_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    rows = [*HAND_ROWS,
            _row(5, "firstorder", "optimal", 0.5, 1.0, 1.0,
                 trace={"time": [0.1, 0.2, 0.5], "gap": [1e-1, 1e-3, 1e-7]})]
    paths = plot_profiles(summarize(rows), tmp_path) + plot_convergence(rows, tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["convergence.png", "convergence.svg", "profiles.png", "profiles.svg"]
    for p in paths:
        assert p.stat().st_size > 1000
    assert (tmp_path / "profiles.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_convergence(HAND_ROWS, tmp_path / "none") == []


# -- the store and the command line ----------------------------------------------------------
def test_store_drops_a_partial_last_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"key": "a", "status": "optimal"}\n{"key": "b", "stat')
    assert [r["key"] for r in read_rows(path)] == ["a"]
    with ResultsStore(path) as store:
        assert store.keys() == {"a"}
        store.append({"key": "b", "status": "time_limit", "objective": float("nan")})
    assert path.read_bytes().count(b"\n") == 2
    rows = read_rows(path)
    assert [r["key"] for r in rows] == ["a", "b"] and rows[1]["objective"] is None


def test_store_refuses_a_second_writer(tmp_path, monkeypatch):
    from sdpnets.bench import store as store_module

    monkeypatch.setattr(store_module, "LOCK_WAIT", 0.1)
    with ResultsStore(tmp_path / "r.jsonl"):
        with pytest.raises(sn.InvalidInputError, match="another sweep"):
            ResultsStore(tmp_path / "r.jsonl").open()


def test_cli_plans_and_checks_its_arguments(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert main(["bench", "--preset", "tiny", "--families", "linear_fc", "--backends",
                 "scs", "--tol", "1e-4", "1e-6", "--dry-run", "--out", str(out)]) == 0
    assert "2 runs planned, 2 not yet in" in capsys.readouterr().out
    assert main(["bench", "--list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]
              if not line.startswith(" ")}
    assert listed == set(FAMILIES)
    assert main(["bench", "--preset", "tiny", "--tol", "-1", "--out", str(out)]) == 2
    assert "tol must be a positive number" in capsys.readouterr().err
    assert main(["bench", "--preset", "tiny", "--backends", "cplex", "--out", str(out)]) == 2
    assert "cplex" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--preset", "tiny"])  # no --out
    assert "--out" in capsys.readouterr().err
    assert main(["bench", "--preset", "tiny", "--families", "nope", "--out", str(out)]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["bench", "report", str(tmp_path / "missing.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_instances_are_seeded_and_conditioned():
    np = pytest.importorskip("numpy")
    fam = FAMILIES["linear_fc"]
    dims = bench_instances.family_size(fam, "tiny")
    X1, y1 = bench_instances.make_data(fam, dims, 3, "illcond", 1e5)
    X2, y2 = bench_instances.make_data(fam, dims, 3, "illcond", 1e5)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert np.linalg.cond(X1) == pytest.approx(1e5, rel=1e-6)
    with pytest.raises(sn.InvalidInputError, match="conditioning"):
        bench_instances.make_data(fam, dims, 3, "illcond", None)
    with pytest.raises(sn.InvalidInputError, match="diabetes"):
        bench_instances.make_data(FAMILIES["patch_cnn_2d"], {"n": 5, "shape": (3, 3)}, 0,
                                  "diabetes", None)


def test_convergence_traces_from_every_history_layout():
    from sdpnets.bench.runner import _trace

    want = {"time": [0.1, 0.2, 0.3], "gap": [0.8, 0.1, 0.01]}
    records = [(0, 0.1, 0.8), (10, 0.2, 0.1), (20, 0.3, 0.01)]  # (iteration, s, gap)
    assert _trace({"history": records}) == want
    assert _trace({"history": [records[:2], records[2:]]}) == want  # one list per phase
    assert _trace({"history": [{"time": t, "gap": g} for _, t, g in records]}) == want
    assert _trace({"history": want}) == want
    assert _trace({"history": []}) is None and _trace(None) is None
