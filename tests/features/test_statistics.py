"""Training on row-chunked Dask arrays: one pass on a distributed.LocalCluster, the same
program, optimum, certificate and network as in memory; bench sweeps on the cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import sdpnets as sn

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes, started and closed by the test module."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((900, 6))
    Y = X @ rng.standard_normal((6, 2)) @ rng.standard_normal((2, 3)) + 0.3 * rng.standard_normal((900, 3))
    S = rng.standard_normal((700, 12))
    s = S[:, 2] - 0.5 * S[:, 7] + 0.2 * rng.standard_normal(700)
    I = rng.standard_normal((600, 2, 5, 5))
    yi = I[:, 0, 1, 2] - I[:, 1, 3, 3] + 0.2 * rng.standard_normal(600)
    C2 = rng.standard_normal((600, 1, 4, 6))
    yc = C2[:, 0, 1, 1] + 0.2 * rng.standard_normal(600)
    return X, Y, S, s, I, yi, C2, yc


X, Y, S, s, I, yi, C2, yc = _data()

FAMILIES = {
    "fc nuclear": (lambda A, B: sn.ConvexLinearFC(A, B, 20.0), X, Y),
    "fc l2": (lambda A, B: sn.ConvexLinearFC(A, B, 20.0), X, Y[:, 0]),
    "fc spectral": (lambda A, B: sn.ConvexLinearFC(A, B, 20.0, depth=3, hidden="spectral"), X, Y),
    "fc ridge path": (lambda A, B: sn.ConvexLinearFC(A, B, 20.0, depth=3), X, Y[:, 0]),
    "patch cnn 1-D": (lambda A, B: sn.ConvexLinearCNN(A, B, 5.0, kernel_size=3, stride=2), S, s),
    "patch cnn 2-D": (lambda A, B: sn.ConvexLinearCNN(A, B, 5.0, kernel_size=3), I, yi),
    "pooled cnn": (lambda A, B: sn.ConvexLinearCNN(A, B, 5.0, kernel_size=3, pooling="mean"), S, s),
    "circular": (lambda A, B: sn.ConvexCircularCNN(A, B, 5.0), S, s),
    "circular depth 3": (lambda A, B: sn.ConvexCircularCNN(A, B, 5.0, depth=3, hidden="unit_norm"), S, s),
    "circular 2-D": (lambda A, B: sn.ConvexCircularCNN(A, B, 5.0), C2, yc),
}


def _chunked(a, rows=150):
    return da.from_array(a, chunks=(rows,) + a.shape[1:])


@pytest.mark.parametrize("name", list(FAMILIES))
def test_dask_input_matches_the_in_memory_solve(client, name):
    make, A, B = FAMILIES[name]
    ref = make(A, B)
    rref = ref.solve(tol=1e-10)
    prog = make(_chunked(A), _chunked(B))
    assert prog.data_pass_time > 0
    res = prog.solve(tol=1e-10)
    assert rref.status == res.status == "optimal"
    assert abs(res.objective - rref.objective) <= 1e-9 * rref.objective
    assert res.data_pass_time == prog.data_pass_time and rref.data_pass_time == 0.0
    c_ref, c = ref.certificate(), prog.certificate()
    # both certificates prove the optimum to the in-memory solve's accuracy (the dual
    # points come from the recovered networks, which for the patch CNN are not unique)
    for cert in (c, c_ref):
        assert rref.objective * (1 - 1e-8) <= cert.lower_bound
    assert c.lower_bound <= rref.objective * (1 + 1e-10)
    # predictions A W* are unique; the solution W* of a patch CNN is not (the patch map has
    # a null space), so two solves agree on the predictions only to the solver's accuracy,
    # about sqrt(tol) relative; the other families' solutions match to 1e-9
    close = 1e-6 if name.startswith("patch") else 1e-9
    pred = ref.network().predict(A)
    np.testing.assert_allclose(prog.network().predict(A), pred, rtol=0,
                               atol=close * np.abs(pred).max())
    # the network recovered from the pass is optimal on the full data
    assert prog.network().objective(A, B, prog.beta) == pytest.approx(rref.objective, rel=1e-9)


def test_statistics_pass_runs_on_the_cluster(client):
    with distributed.get_task_stream(client) as stream:
        prog = sn.ConvexLinearFC(_chunked(X), _chunked(Y), 1.0)
    blocks = [t for t in stream.data if "block_statistics" in t["key"]]
    assert len(blocks) == len(_chunked(X).chunks[0])  # one task per row block, one pass
    assert prog.X.shape[0] <= X.shape[1] + 1  # only the surrogate is kept


@pytest.mark.parametrize("where", ["X", "y"])
def test_nan_in_one_chunk_raises_the_typed_error(client, where):
    A, B = X.copy(), Y.copy()
    (A if where == "X" else B)[777, 1] = np.nan
    with pytest.raises(sn.InvalidInputError, match=f"^{where} contains NaN"):
        sn.ConvexLinearFC(_chunked(A), _chunked(B), 1.0)


def test_shapes_are_checked_before_the_pass():
    with pytest.raises(sn.InvalidInputError, match="one row per sample"):
        sn.ConvexLinearFC(_chunked(X), _chunked(Y[:-1]), 1.0)
    with pytest.raises(sn.InvalidInputError, match="X must be 2-D"):
        sn.ConvexLinearFC(_chunked(I), _chunked(yi), 1.0)


def _bench(args, **kw):
    return subprocess.run([sys.executable, "-m", "sdpnets", "bench", *args], capture_output=True,
                          text=True, timeout=240, **kw)


def _rows(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_bench_sweep_on_a_cluster_gives_the_local_rows_and_resumes(tmp_path):
    """A sweep on a LocalCluster, its client killed (SIGKILL) after the first row and the
    command rerun, holds exactly the local sweep's runs, one row each, same outcomes."""
    args = ["--preset", "tiny", "--families", "linear_fc", "circular_cnn2_1d", "--backends",
            "firstorder", "clarabel", "--quiet"]
    local, remote = tmp_path / "local.jsonl", tmp_path / "remote.jsonl"
    assert _bench([*args, "--out", str(local)]).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "sdpnets", "bench", *args, "--out",
                             str(remote), "--scheduler", "local"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline and (not remote.exists() or not remote.read_text().strip()):
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    out = _bench([*args, "--out", str(remote), "--scheduler", "local"])
    assert out.returncode == 0, out.stderr[-2000:]
    rl, rr = _rows(local), _rows(remote)
    key = lambda r: r["key"]  # noqa: E731
    assert sorted(map(key, rr)) == sorted(map(key, rl)) and len(set(map(key, rr))) == len(rr)
    by_key = {r["key"]: r for r in rl}
    for r in rr:
        assert r["status"] == by_key[r["key"]]["status"]
        if r["status"] == "optimal":
            assert r["objective"] == pytest.approx(by_key[r["key"]]["objective"], rel=1e-6)
