"""backend="firstorder" on two-layer ReLU programs (sampled patterns) beside Clarabel.

Every row runs in its own child process (sdpnets.solving.isolation) under a time and a memory limit,
with single-threaded BLAS. Rows that compare with Clarabel solve the *same* program object
with both backends inside that one process. Accuracy stands next to time: the first-order
result's certified lower bound and relative gap, its cone violation, the recovered network's
objective, and its relative distance to Clarabel's optimum.

    python benchmarks/relu_firstorder.py                       # every row but relu-20000
    python benchmarks/relu_firstorder.py --rows relu-1000 gated-1000
    python benchmarks/relu_firstorder.py --rows relu-20000 --time-limit 300 --memory-limit 2

Rows (``--rows``): relu-1000 (n, d, P) = (1000, 20, 100) with Clarabel; gated-1000 the
gated model on the same data, with Clarabel; relu-4000 (4000, 50, 200); relu-20000
(20000, 100, 2000, squared loss, tol 1e-4); net-1000: ``patterns=net`` from a 150-neuron
network trained by L-BFGS on the (1000, 20) data; relu-2000 (2000, 20, 100) and
relu-1000-p200 (1000, 20, 200) measure how the time grows with n and with P.
``--method`` picks the first-order method of the cone-constrained rows (auto, atoms, active_set,
admm; the gated row always runs the ADMM).

Data: Gaussian ``X``, targets of a planted 10-neuron ReLU network (unit variance) plus noise
0.5; ``beta`` is ``--beta-fraction`` (0.1) of :math:`\\max_i\\|X^TD_iy\\|` over the sampled
patterns.
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
from sdpnets.demo import relu_demo_data  # noqa: E402
from sdpnets.local import train_relu_mlp  # noqa: E402
from sdpnets.solving.isolation import run_isolated  # noqa: E402

ROWS = {
    "relu-1000": dict(n=1000, d=20, P=100, clarabel=True, tol=1e-6),
    "gated-1000": dict(n=1000, d=20, P=100, clarabel=True, tol=1e-6, gated=True),
    "relu-4000": dict(n=4000, d=50, P=200, clarabel=False, tol=1e-6),
    "relu-20000": dict(n=20000, d=100, P=2000, clarabel=False, tol=1e-4),
    "net-1000": dict(n=1000, d=20, P=0, clarabel=False, tol=1e-6, width=150),
    # growth of the active-set solver with n and with P
    "relu-2000": dict(n=2000, d=20, P=100, clarabel=False, tol=1e-6),
    "relu-1000-p200": dict(n=1000, d=20, P=200, clarabel=False, tol=1e-6),
}
DEFAULT_ROWS = ["relu-1000", "gated-1000", "relu-4000", "net-1000"]


def beta_for(X, y, masks, fraction):
    return fraction * float(np.linalg.norm(X.T @ (masks * y[:, None]), axis=0).max())


def solve_record(prog, backend, tol, time_limit, method=None):
    start = time.perf_counter()
    extra = {} if method is None else {"method": method}
    res = prog.solve(backend=backend, tol=tol, time_limit=time_limit, **extra)
    out = {"status": res.status, "objective": res.objective, "total_s": time.perf_counter() - start,
           "iterations": res.iterations}
    if backend == "firstorder":
        raw = res.raw
        out.update(method=raw.get("method"), lower=raw["lower_bound"],
                   cone_violation=raw.get("cone_violation"),
                   rel_gap=(max(res.objective, raw["program_objective"]) - raw["lower_bound"])
                   / abs(res.objective))
    return out


def one_run(row: str, time_limit: float, beta_fraction: float, method: str = "auto") -> dict:
    size = ROWS[row]
    X, y = relu_demo_data(0, size["n"], size["d"])
    out: dict = {}
    if row == "net-1000":
        probe = sn.ConvexReLU(X, y, 1.0, patterns=100, seed=0)
        beta = beta_for(X, y, probe.patterns.masks, beta_fraction)
        start = time.perf_counter()
        net = train_relu_mlp(X, y, beta, size["width"], max_iters=2000)
        out.update(train_s=time.perf_counter() - start, net_objective=net.objective(X, y, beta))
        prog = sn.ConvexReLU(X, y, beta, patterns=net)
        out.update(patterns=prog.patterns.count,
                   firstorder=solve_record(prog, "firstorder", size["tol"], time_limit, method))
        return out
    cls = sn.ConvexGatedReLU if size.get("gated") else sn.ConvexReLU
    prog = cls(X, y, 1.0, patterns=size["P"], seed=0)
    prog.beta = beta_for(X, y, prog.patterns.masks, beta_fraction)
    out["patterns"] = prog.patterns.count
    out["firstorder"] = solve_record(prog, "firstorder", size["tol"], time_limit,
                                     None if size.get("gated") else method)
    if size["clarabel"]:
        out["clarabel"] = solve_record(prog, "clarabel", 1e-8, time_limit)
        ref = out["clarabel"]["objective"]
        out["rel_diff"] = abs(out["firstorder"]["objective"] - ref) / abs(ref)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", default=DEFAULT_ROWS, choices=list(ROWS))
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--memory-limit", type=float, default=12.0, help="GiB")
    parser.add_argument("--beta-fraction", type=float, default=0.1)
    parser.add_argument("--method", default="auto",
                        choices=["auto", "atoms", "active_set", "admm"],
                        help="first-order method of the cone-constrained program")
    args = parser.parse_args(argv)
    for row in args.rows:
        limit = args.time_limit * (2 if ROWS[row]["clarabel"] else 1) + 120
        outcome = run_isolated(one_run, row, args.time_limit, args.beta_fraction, args.method,
                               time_limit=limit, memory_limit=args.memory_limit * 2**30)
        rec = {"row": row, "size": {k: ROWS[row][k] for k in ("n", "d", "P")},
               "peak_mib": outcome.peak_mib, "wall_s": outcome.wall_time,
               "outcome": outcome.status}
        if outcome.status == "ok":
            rec.update(outcome.value)
        else:
            rec["message"] = outcome.message[:300]
        print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
