"""backend="firstorder" beside Clarabel and SCS on the least-squares families, at real sizes,
in the two settings that matter: as a user runs it, and as algorithms are compared.

* ``--threads default``: the BLAS's own number of threads, each run in a fresh child process
  whose first ``solve()`` is timed (a cold start: the BLAS thread pool, the first
  eigendecomposition, everything a user's first call pays).
* ``--threads 1``: single-threaded BLAS (``threadpoolctl``), how algorithms are compared.

Every (row, backend, setting) run happens in its own child process (forked from this one,
which has only imported sdpnets: sdpnets.solving.isolation) under a time limit and a memory
limit, ``--repeat`` times (the median is reported). Inside that process the script first
times the *data-pass floor* (forming X^T X and X^T Y once, the least any method that reads
the data must spend, with the same threads), then builds the program (the constructor's
time, the validating copy of the data, is reported apart) and times all of ``solve()``:
data pass, solver and the verification of the recovered network, each also reported by
itself. Accuracy stands next to time: the relative gap of the package's own certificate of
the returned network (computed with the full data), and the objective. The one-minute load
average at the start of each run is recorded: on a shared machine, read the times with it.

    python benchmarks/firstorder_least_squares.py --backends firstorder     # the README's tables
    python benchmarks/firstorder_least_squares.py --rows fc-small --threads 1 --repeat 1
    python benchmarks/firstorder_least_squares.py --backends firstorder clarabel scs --repeat 1

Rows (``--rows``): fc-small (2000, 50, 20), fc-5000 (5000, 100, 50), fc-20000 (20000, 200,
100), fc-50000 (50000, 500, 100), fc-cond-20000 and fc-cond (20000, 200, 100) and
(50000, 500, 100) with cond(X) = 1e4, circular (20000, 1024), patch-5000 and patch-50000
(16x16 images, 3x3 filters).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

import sdpnets as sn
from sdpnets.solving.isolation import run_isolated

ROWS = {
    "fc-small": ("fc", dict(n=2000, d=50, K=20)),
    "fc-5000": ("fc", dict(n=5000, d=100, K=50)),
    "fc-20000": ("fc", dict(n=20000, d=200, K=100)),
    "fc-50000": ("fc", dict(n=50000, d=500, K=100)),
    "fc-cond-20000": ("fc", dict(n=20000, d=200, K=100, cond=1e4)),
    "fc-cond": ("fc", dict(n=50000, d=500, K=100, cond=1e4)),
    "circular": ("circular", dict(n=20000, d=1024)),
    "patch-5000": ("patch", dict(n=5000, side=16)),
    "patch-50000": ("patch", dict(n=50000, side=16)),
}


def make_data(kind: str, n: int, seed: int = 0, **size):
    """Seeded data with a planted structure plus noise; returns (X, y, floor_matrix)."""
    rng = np.random.default_rng(seed)
    if kind == "fc":
        d, K, cond = size["d"], size["K"], size.get("cond", 1.0)
        X = rng.standard_normal((n, d))
        if cond > 1:
            U, _, Vt = np.linalg.svd(X, full_matrices=False)
            X = (U * np.logspace(0, -np.log10(cond), d)) @ Vt * np.sqrt(n)
        Z = rng.standard_normal((d, 5)) @ rng.standard_normal((5, K)) / np.sqrt(d)
        Y = X @ Z
        Y += 0.5 * rng.standard_normal((n, K)) * np.linalg.norm(Y) / np.sqrt(n * K)
        return X, Y, X
    if kind == "circular":
        d = size["d"]
        X = rng.standard_normal((n, d))
        t = np.arange(d)
        b = sum(np.cos(2 * np.pi * k * t / d + k) for k in (3, 17, 40)) / np.sqrt(d)
        y = X @ b + 0.3 * rng.standard_normal(n)
        return X, y, X
    side = size["side"]
    X = rng.standard_normal((n, 1, side, side))
    u = rng.standard_normal((3, 3))
    conv = sum(u[i, j] * X[:, 0, i:side - 2 + i, j:side - 2 + j] for i in range(3) for j in range(3))
    y = conv.reshape(n, -1) @ rng.standard_normal(conv[0].size) / side
    y += 0.3 * rng.standard_normal(n) * np.std(y)
    return X, y, X.reshape(n, -1)


def beta_of(kind: str, X, y, beta_fraction: float) -> float:
    """``beta_fraction * beta_max`` of the row's family."""
    family = {"fc": "linear_fc", "circular": "circular_cnn"}.get(kind)
    if family is not None:
        return beta_fraction * sn.beta_max(X, y, family=family)
    return beta_fraction * sn.beta_max(X, y, family="linear_cnn", kernel_size=3)


def make_program(kind: str, X, y, beta: float):
    if kind == "fc":
        return sn.ConvexLinearFC(X, y, beta)
    if kind == "circular":
        return sn.ConvexCircularCNN(X, y, beta)
    return sn.ConvexLinearCNN(X, y, beta, kernel_size=3)


def one_run(row: str, backend: str, tol: float, time_limit: float, beta_fraction: float,
            threads: str) -> dict:
    """Runs in the child: floor, build, solve (the process's first), certify."""
    limiter = None
    if threads != "default":
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(int(threads))  # for the whole child
    load = os.getloadavg()[0]
    kind, size = ROWS[row]
    X, y, flat = make_data(kind, **size)
    Y2 = y.reshape(len(y), -1)
    start = time.perf_counter()
    _ = flat.T @ flat, flat.T @ Y2
    floor = time.perf_counter() - start
    beta = beta_of(kind, X, y, beta_fraction)  # outside the timing, as a user picks beta
    start = time.perf_counter()
    prog = make_program(kind, X, y, beta)
    build = time.perf_counter() - start
    out = {"floor_s": floor, "build_s": build, "load": load}
    start = time.perf_counter()
    try:
        res = prog.solve(backend=backend, tol=tol, time_limit=time_limit)
    except sn.ProblemTooLargeError as exc:  # refused up front by the memory predictor
        out.update(status="refused", message=str(exc)[:300])
        return out
    total = time.perf_counter() - start
    out.update(status=res.status, objective=res.objective, total_s=total,
               solve_s=res.solve_time, iterations=res.iterations)
    if backend == "firstorder":
        data_pass = float(res.raw.get("data_pass_time", 0.0))
        out.update(data_pass_s=data_pass, solver_s=res.solve_time,
                   verify_s=max(total - data_pass - res.solve_time, 0.0),
                   method=res.raw.get("method"))
    if res.solved:
        cert = prog.certificate()
        out.update(lower=cert.lower_bound, upper=cert.upper_bound,
                   rel_gap=cert.gap / max(abs(cert.upper_bound), 1e-300))
    del limiter
    return out


def run_row(row: str, backends: list[str], threads: str, args) -> list[dict]:
    records = []
    for backend in backends:
        for _ in range(args.repeat):
            outcome = run_isolated(
                one_run, row, backend, args.tol, args.time_limit, args.beta_fraction, threads,
                time_limit=args.time_limit + 60, memory_limit=args.memory_limit * 2**30,
            )
            rec = {"row": row, "size": ROWS[row][1], "backend": backend, "threads": threads,
                   "peak_mib": outcome.peak_mib, "wall_s": outcome.wall_time}
            if outcome.status == "ok":
                rec.update(outcome.value)
            else:
                rec.update(status=outcome.status, message=outcome.message[:300])
            records.append(rec)
            print(json.dumps(rec), file=sys.stderr, flush=True)
    return records


def median_record(runs: list[dict]) -> dict:
    """The median run: times and ratios are medians over the repeats (each ratio taken
    within its own process), the status and gap those of the slowest run."""
    rec = dict(max(runs, key=lambda r: r.get("total_s") or np.inf))
    for key in ("total_s", "floor_s", "build_s", "data_pass_s", "solver_s", "verify_s",
                "peak_mib", "load"):
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            rec[key] = statistics.median(values)
    ratios = [r["total_s"] / r["floor_s"] for r in runs if r.get("total_s") and r.get("floor_s")]
    rec["ratio"] = statistics.median(ratios) if ratios else None
    rec["repeats"] = len(runs)
    return rec


def fmt(rec: dict) -> list[str]:
    status = rec.get("status", "?")
    total = rec.get("total_s")
    floor = rec.get("floor_s")
    ratio = rec.get("ratio")
    phases = "-"
    if rec.get("data_pass_s") is not None:
        phases = f"{rec['data_pass_s']:.3f} / {rec['solver_s']:.3f} / {rec['verify_s']:.3f}"
    return [
        rec["row"], rec["backend"], status,
        f"{rec['rel_gap']:.1e}" if "rel_gap" in rec else "-",
        f"{total:.3f}" if total else f"({rec['wall_s']:.0f} wall)",
        f"{floor:.3f}" if floor else "-",
        f"{ratio:.2f}x" if ratio else "-",
        phases,
        f"{rec['build_s']:.3f}" if rec.get("build_s") is not None else "-",
        f"{rec['peak_mib']:.0f}" if rec.get("peak_mib") == rec.get("peak_mib") else "-",
        f"{rec['load']:.1f}" if rec.get("load") is not None else "-",
    ]


def speedups(records: list[dict], tol: float) -> list[list[str]]:
    """Per row: the fastest conic backend that finished "optimal" with a certified gap of
    at most ``10 tol`` (equal accuracy), and the first-order backend's speedup over it."""
    out = []
    for row in dict.fromkeys(r["row"] for r in records):
        runs = [r for r in records if r["row"] == row]
        fo = [r for r in runs if r["backend"] == "firstorder" and r.get("status") == "optimal"]
        conic = [r for r in runs if r["backend"] != "firstorder" and r.get("status") == "optimal"
                 and r.get("rel_gap", np.inf) <= 10 * tol]
        if not fo or all(r["backend"] == "firstorder" for r in runs):
            continue
        if not conic:
            out.append([row, "none finished at equal accuracy", "-", f"{fo[0]['total_s']:.3f}", "-"])
            continue
        best = min(conic, key=lambda r: r["total_s"])
        out.append([row, f"{best['backend']} ({best['rel_gap']:.1e})", f"{best['total_s']:.3f}",
                    f"{fo[0]['total_s']:.3f}", f"{best['total_s'] / fo[0]['total_s']:.0f}x"])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--backends", nargs="+", default=["firstorder", "clarabel", "scs"])
    parser.add_argument("--threads", nargs="+", default=["default", "1"],
                        help="BLAS threads: 'default' (the user's setting) and/or a number")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (median)")
    parser.add_argument("--tol", type=float, default=1e-8)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per solve")
    parser.add_argument("--memory-limit", type=float, default=12.0, help="GiB per run")
    parser.add_argument("--beta-fraction", type=float, default=0.1,
                        help="beta as a fraction of beta_max")
    parser.add_argument("--out", help="also append the records as JSON lines here")
    args = parser.parse_args(argv)
    records = []
    for threads in args.threads:
        for row in args.rows:
            records += run_row(row, args.backends, threads, args)
    if args.out:
        with open(args.out, "a") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")
    header = ["row", "backend", "status", "certified rel. gap", "solve() s", "floor s",
              "solve() / floor", "data pass / solver / verification s", "constructor s",
              "peak MiB", "load"]
    for threads in args.threads:
        print(f"\nBLAS threads: {threads} (median of {args.repeat} fresh processes)\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in args.rows:
            for backend in args.backends:
                runs = [r for r in records if (r["row"], r["backend"], r["threads"])
                        == (row, backend, threads)]
                if runs:
                    print("| " + " | ".join(fmt(median_record(runs))) + " |")
        ratios = speedups([median_record([r]) for r in records if r["threads"] == threads],
                          args.tol)
        if ratios:
            print()
            header2 = ["row", "fastest conic at equal accuracy (gap)", "its time s",
                       "firstorder time s", "speedup"]
            print("| " + " | ".join(header2) + " |")
            print("|" + "---|" * len(header2))
            for r in ratios:
                print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
