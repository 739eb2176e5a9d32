"""backend="firstorder" beside Clarabel and SCS on the least-squares families, at real sizes.

Every (instance, backend) run happens in its own child process (sdpnets.solving.isolation) under a
time limit and a memory limit, with single-threaded BLAS. Inside that process the script
first times the *data-pass floor* (forming X^T X and X^T Y once, the least any method that
reads the data must spend), then builds the program and solves it, so the ratio to the floor
is measured in one process. Accuracy stands next to time: the relative gap of the package's
own certificate of the returned network (computed with the full data), and the objective.

    python benchmarks/firstorder_least_squares.py                    # the README's table
    python benchmarks/firstorder_least_squares.py --rows fc-small --backends firstorder
    python benchmarks/firstorder_least_squares.py --time-limit 300 --memory-limit 12

Rows (``--rows``): fc-small (2000, 50, 20), fc-5000 (5000, 100, 50), fc-20000 (20000, 200,
100), fc-50000 (50000, 500, 100), fc-cond (50000, 500, 100) with cond(X) = 1e4,
circular (20000, 1024), patch-5000 and patch-50000 (16x16 images, 3x3 filters).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import sdpnets as sn  # noqa: E402
from sdpnets.solving.isolation import run_isolated  # noqa: E402

ROWS = {
    "fc-small": ("fc", dict(n=2000, d=50, K=20)),
    "fc-5000": ("fc", dict(n=5000, d=100, K=50)),
    "fc-20000": ("fc", dict(n=20000, d=200, K=100)),
    "fc-50000": ("fc", dict(n=50000, d=500, K=100)),
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


def make_program(kind: str, X, y, beta_fraction: float):
    if kind == "fc":
        bmax = sn.beta_max(X, y, family="linear_fc")
        return sn.ConvexLinearFC(X, y, beta_fraction * bmax)
    if kind == "circular":
        bmax = sn.beta_max(X, y, family="circular_cnn")
        return sn.ConvexCircularCNN(X, y, beta_fraction * bmax)
    bmax = sn.beta_max(X, y, family="linear_cnn", kernel_size=3)
    return sn.ConvexLinearCNN(X, y, beta_fraction * bmax, kernel_size=3)


def one_run(row: str, backend: str, tol: float, time_limit: float, beta_fraction: float) -> dict:
    """Runs in the child: floor, build, solve, certify."""
    kind, size = ROWS[row]
    X, y, flat = make_data(kind, **size)
    Y2 = y.reshape(len(y), -1)
    start = time.perf_counter()
    _ = flat.T @ flat, flat.T @ Y2
    floor = time.perf_counter() - start
    prog = make_program(kind, X, y, beta_fraction)
    out = {"floor_s": floor}
    start = time.perf_counter()
    try:
        res = prog.solve(backend=backend, tol=tol, time_limit=time_limit)
    except sn.ProblemTooLargeError as exc:  # refused up front by the memory predictor
        out.update(status="refused", message=str(exc)[:300])
        return out
    total = time.perf_counter() - start
    out.update(status=res.status, objective=res.objective, total_s=total,
               solve_s=res.solve_time, iterations=res.iterations)
    if res.solved:
        cert = prog.certificate()
        out.update(lower=cert.lower_bound, upper=cert.upper_bound,
                   rel_gap=cert.gap / max(abs(cert.upper_bound), 1e-300))
    return out


def run_row(row: str, backends: list[str], args) -> list[dict]:
    records = []
    for backend in backends:
        outcome = run_isolated(
            one_run, row, backend, args.tol, args.time_limit, args.beta_fraction,
            time_limit=args.time_limit + 60, memory_limit=args.memory_limit * 2**30,
        )
        rec = {"row": row, "size": ROWS[row][1], "backend": backend,
               "peak_mib": outcome.peak_mib, "wall_s": outcome.wall_time}
        if outcome.status == "ok":
            rec.update(outcome.value)
        else:
            rec.update(status=outcome.status, message=outcome.message[:300])
        records.append(rec)
        print(json.dumps(rec), file=sys.stderr, flush=True)
    return records


def fmt(rec: dict) -> list[str]:
    status = rec.get("status", "?")
    total = rec.get("total_s")
    floor = rec.get("floor_s")
    ratio = f"{total / floor:.1f}x" if total and floor else "-"
    return [
        rec["row"], rec["backend"], status,
        f"{rec['objective']:.9g}" if "objective" in rec and status != "refused" else "-",
        f"{rec['rel_gap']:.1e}" if "rel_gap" in rec else "-",
        f"{total:.3f}" if total else f"({rec['wall_s']:.0f} wall)",
        f"{floor:.3f}" if floor else "-",
        ratio,
        f"{rec['peak_mib']:.0f}" if rec.get("peak_mib") == rec.get("peak_mib") else "-",
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
    parser.add_argument("--tol", type=float, default=1e-8)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per solve")
    parser.add_argument("--memory-limit", type=float, default=12.0, help="GiB per run")
    parser.add_argument("--beta-fraction", type=float, default=0.1,
                        help="beta as a fraction of beta_max")
    parser.add_argument("--out", help="also append the records as JSON lines here")
    args = parser.parse_args(argv)
    records = []
    for row in args.rows:
        records += run_row(row, args.backends, args)
    if args.out:
        with open(args.out, "a") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")
    header = ["row", "backend", "status", "objective", "certified rel. gap", "time s",
              "floor s", "time/floor", "peak MiB"]
    rows = [fmt(r) for r in records]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    ratios = speedups(records, args.tol)
    if ratios:
        print()
        header = ["row", "fastest conic at equal accuracy (gap)", "its time s",
                  "firstorder time s", "speedup"]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in ratios:
            print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
