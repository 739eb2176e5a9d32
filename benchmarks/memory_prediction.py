"""Predicted vs measured peak memory of a solve, per backend and family, over a range of sizes.

Each run happens in its own child process (:func:`sdpnets.solving.isolation.run_isolated`): the
program is constructed first, then the child predicts (:func:`sdpnets.solving.memory.estimate`,
which builds the cvxpy problem), and solves. The measured number is the growth of the
child's resident memory at its peak over what it inherited (``ru_maxrss`` from ``wait4``
minus the resident size at the fork), so it covers the build, cvxpy's compilation and the
solver and the verification of the solution (the recovered network's certificate), as the
prediction does. Solves run to completion (``--iters N`` stops conic solvers after ``N``
iterations: interior-point and ADMM solvers allocate their factorizations before the
first iteration, but an unsolved run skips the verification) under the solver's own
``--solver-time-limit``.

Run::

    .venv/bin/python benchmarks/memory_prediction.py                 # the calibration set
    .venv/bin/python benchmarks/memory_prediction.py --preset tiny   # a quick look
    .venv/bin/python benchmarks/memory_prediction.py --out mem.jsonl # also one JSON line per run

The summary states, over runs whose measured peak is at least 32 MiB, the smallest and the
largest ratio predicted / measured (the predictor is meant never to be below 1 and at most
``sdpnets.solving.memory.MARGIN``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

import numpy as np

import sdpnets as sn
from sdpnets.backends import get_backend
from sdpnets.solving.isolation import run_isolated
from sdpnets.solving.memory import MARGIN, estimate

MiB = 2**20

#: (family, sizes) of each preset; sizes are the arguments of :func:`make`.
PRESETS: dict[str, dict[str, list[tuple]]] = {
    "tiny": {
        "linear_fc": [(500, 20, 5)],
        "linear_cnn_2d": [(200, 6, 3)],
        "relu": [(200, 10, 20)],
    },
    "calibration": {
        "linear_fc": [(2000, 15, 5), (2000, 30, 10), (2000, 45, 15), (5000, 55, 15),
                      (20000, 200, 100)],
        "linear_cnn_1d": [(500, 24, 4), (1000, 48, 6), (1000, 64, 8)],
        "linear_cnn_2d": [(500, 6, 3), (500, 8, 3), (1000, 9, 3)],
        "linear_cnn_2d_mean": [(1000, 16, 3), (5000, 16, 5), (20000, 16, 5)],
        "circular_cnn": [(1000, 64), (2000, 256), (4000, 1024)],
        "relu": [(200, 10, 20), (400, 10, 50), (800, 20, 50)],
    },
}

def make(family: str, size: tuple, seed: int = 0):
    """The program of ``family`` at ``size`` on Gaussian data (beta a fifth of beta_max)."""
    rng = np.random.default_rng(seed)
    if family == "linear_fc":
        n, d, K = size
        X = rng.standard_normal((n, d))
        Y = X @ rng.standard_normal((d, K)) + rng.standard_normal((n, K))
        return sn.ConvexLinearFC(X, Y, 0.2 * sn.beta_max(X, Y, family="linear_fc"))
    if family.startswith("linear_cnn"):
        n, side, k = size
        shape = (n, side) if family.endswith("1d") else (n, 1, side, side)
        X = rng.standard_normal(shape)
        y = rng.standard_normal(n)
        pooling = "mean" if family.endswith("mean") else None
        prog = sn.ConvexLinearCNN(X, y, 1.0, kernel_size=k, pooling=pooling)
        prog.beta = 0.2 * prog.beta_max()
        return prog
    if family == "circular_cnn":
        n, d = size
        X = rng.standard_normal((n, d))
        y = X @ rng.standard_normal(d) + rng.standard_normal(n)
        prog = sn.ConvexCircularCNN(X, y, 1.0)
        prog.beta = 0.2 * prog.beta_max()
        return prog
    if family == "relu":
        n, d, P = size
        X = rng.standard_normal((n, d))
        y = np.maximum(X @ rng.standard_normal(d), 0) + 0.1 * rng.standard_normal(n)
        return sn.ConvexReLU(X, y, 0.1 * float(np.abs(X.T @ y).max()), patterns=P, seed=seed)
    raise ValueError(f"unknown family {family!r}")


def _predict_and_solve(prog, backend: str, max_iters: int | None, solver_time: float):
    est = estimate(prog, get_backend(backend))
    res = prog.solve(backend=backend, tol=1e-7, max_iters=max_iters, time_limit=solver_time,
                     memory_limit=2**62)
    return est, res.status


def run(family: str, size: tuple, backend: str, iters: int | None, time_limit: float,
        solver_time: float) -> dict:
    prog = make(family, size)
    max_iters = None if backend == "firstorder" else iters
    out = run_isolated(_predict_and_solve, prog, backend, max_iters, solver_time,
                       time_limit=time_limit)
    row = {"family": family, "size": list(size), "backend": backend, "outcome": out.status,
           "measured_mib": round(out.added_mib, 1), "wall_s": round(out.wall_time, 2)}
    if out.status == "ok":
        est, status = out.value
        row.update(status=status, predicted_mib=round(est.total / MiB, 1),
                   build_mib=round(est.build / MiB, 1), compile_mib=round(est.compile / MiB, 1),
                   solver_mib=round(est.solver / MiB, 1),
                   ratio=round(est.total / MiB / max(out.added_mib, 1e-9), 2))
        if est.sizes is not None:
            row.update(psd=list(est.sizes.psd), nnz_A=est.sizes.nnz_A, kkt=est.sizes.kkt_dim)
    else:
        row["message"] = out.message
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="calibration", choices=sorted(PRESETS))
    parser.add_argument("--families", nargs="*", help="subset of the preset's families")
    parser.add_argument("--backends", nargs="*", default=["clarabel", "scs", "firstorder"])
    parser.add_argument("--iters", type=int, default=None,
                        help="stop conic solvers after this many iterations")
    parser.add_argument("--solver-time-limit", type=float, default=120.0,
                        help="the solver's own time limit (seconds)")
    parser.add_argument("--time-limit", type=float, default=600.0,
                        help="seconds before a run is killed")
    parser.add_argument("--max-predicted-gb", type=float, default=8.0,
                        help="skip runs predicted above this (they are the refusals)")
    parser.add_argument("--out", help="append one JSON line per run to this file")
    args = parser.parse_args(argv)
    families = PRESETS[args.preset]
    if args.families:
        families = {k: v for k, v in families.items() if k in args.families}
    print(f"# {platform.node()} {platform.machine()} python {platform.python_version()} "
          f"sdpnets {sn.__version__}")
    header = (f"{'family':<20} {'size':<18} {'backend':<10} {'measured':>9} {'predicted':>9} "
              f"{'ratio':>6}  parts (build/compile/solver MiB)")
    print(header)
    rows = []
    for family, sizes in families.items():
        for size in sizes:
            for backend in args.backends:
                prog = make(family, size)
                if backend == "firstorder" and not prog.has_firstorder:
                    continue
                engine = get_backend(backend)
                if engine.name != "firstorder" and not engine.is_available():
                    continue
                predicted = estimate(prog, engine).total
                del prog
                if predicted > args.max_predicted_gb * 1e9:
                    print(f"{family:<20} {str(size):<18} {backend:<10} {'-':>9} "
                          f"{predicted / MiB:>9.0f} {'':>6}  refused (over "
                          f"--max-predicted-gb {args.max_predicted_gb:g})", flush=True)
                    continue
                row = run(family, size, backend, args.iters, args.time_limit,
                          args.solver_time_limit)
                rows.append(row)
                if row["outcome"] == "ok":
                    print(f"{family:<20} {str(size):<18} {backend:<10} "
                          f"{row['measured_mib']:>9.1f} {row['predicted_mib']:>9.1f} "
                          f"{row['ratio']:>6.2f}  {row['build_mib']}/{row['compile_mib']}/"
                          f"{row['solver_mib']}  {row['status']}", flush=True)
                else:
                    print(f"{family:<20} {str(size):<18} {backend:<10} {row['outcome']}: "
                          f"{row.get('message', '')}", flush=True)
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps(row) + "\n")
    big = [r for r in rows if r["outcome"] == "ok" and r["measured_mib"] >= 32]
    if big:
        ratios = [r["ratio"] for r in big]
        under = [r for r in big if r["ratio"] < 1]
        print(f"\n{len(big)} runs with a measured peak >= 32 MiB: predicted / measured in "
              f"[{min(ratios):.2f}, {max(ratios):.2f}] (stated margin: 1 to {MARGIN:g}); "
              f"{len(under)} under-predicted.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
