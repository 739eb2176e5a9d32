"""backend="firstorder" on the two-layer ReLU programs over the regularization path, every
loss, real data, beside Clarabel and scnn.

Every run is its own child process (sdpnets.solving.isolation) under a time and a memory
limit, with the default BLAS threads (what a user runs). Runs that compare solve the *same*
program (same masks, same beta) with each backend. Accuracy stands next to time: the
certified relative gap of each result and its distance to the best objective any backend
found.

    python benchmarks/relu_firstorder.py --suite sweep           # every row of the README
    python benchmarks/relu_firstorder.py --suite sweep --rows gauss-1000 --fractions 0.001
    python benchmarks/relu_firstorder.py --suite path            # 20 betas, warm-started
    python benchmarks/relu_firstorder.py --suite large           # (20000, 100, 1000), tol 1e-4
    python benchmarks/relu_firstorder.py --suite limits          # time limits kept?
    python benchmarks/relu_firstorder.py --report results.jsonl  # the tables again

``beta`` is a fraction of :math:`\\beta_{\\max} = \\max_i\\|A^TD_ig\\|` over the given
patterns (``g = y``, ``y/2`` for the logistic loss; the largest over the outputs).

Rows (``--rows``):

* ``gauss-1000``, ``gauss-4000``: Gaussian ``X`` (1000, 20) and (4000, 50), 100 and 200
  sampled patterns, targets of a planted 10-neuron ReLU network plus noise 0.5 (labels:
  their signs; ``K=10``: ten planted outputs);
* ``exhaustive-14``: the default ``ConvexReLU(X, y, beta)`` on 14 x 14 data (every one of its
  16,383 patterns);
* ``breast_cancer``, ``digits38``, ``digits10``: scikit-learn's data sets, standardized,
  with bias, ``P`` of 500 and 2000 sampled gates.

Clarabel runs on the 1000-sample, exhaustive and real-data rows with P = 500 (single
output).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

import sdpnets as sn
from sdpnets.solving.isolation import run_isolated

FRACTIONS = (0.5, 0.1, 0.01, 0.001)
LOSSES = ("squared", "logistic", "hinge")

SWEEP_ROWS: dict[str, dict[str, Any]] = {
    "gauss-1000": dict(kind="gauss", n=1000, d=20, P=100, losses=LOSSES, K=(1, 10),
                       gated=True, clarabel=True, limit=120.0),
    "gauss-4000": dict(kind="gauss", n=4000, d=50, P=200, losses=LOSSES, K=(1,),
                       gated=True, clarabel=False, limit=300.0),
    "exhaustive-14": dict(kind="exhaustive", n=14, d=14, losses=("squared",), K=(1,),
                          gated=False, clarabel=True, limit=300.0),
    "breast_cancer": dict(kind="real", data="breast_cancer", P=(500, 2000), losses=LOSSES,
                          K=(1,), gated=True, clarabel=True, limit=300.0),
    "digits38": dict(kind="real", data="digits38", P=(500, 2000), losses=LOSSES, K=(1,),
                     gated=True, clarabel=True, limit=300.0),
    "digits10": dict(kind="real", data="digits10", P=(500,), losses=("squared",), K=(10,),
                     gated=False, clarabel=False, limit=600.0),
    # --suite large only
    "gauss-20000": dict(kind="gauss", n=20000, d=100, P=1000, losses=("squared",), K=(1,),
                        gated=False, clarabel=False, limit=600.0),
}
DEFAULT_ROWS = [r for r in SWEEP_ROWS if r != "gauss-20000"]


# --- data ------------------------------------------------------------------------------------
def planted(n: int, d: int, K: int, seed: int = 0):
    """Gaussian ``X`` and ``K`` outputs of planted 10-neuron ReLU networks plus noise 0.5."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = np.maximum(X @ rng.standard_normal((d, 10)), 0) @ rng.standard_normal((10, K))
    Y = Y / Y.std(axis=0) + 0.5 * rng.standard_normal((n, K))
    return X, (Y[:, 0] if K == 1 else Y)


def real(name: str):
    """A scikit-learn data set, standardized: ``X`` and targets (labels +-1 for two classes,
    one-hot +-1 columns for ten)."""
    from sklearn.datasets import load_breast_cancer, load_digits

    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    else:
        X, y = load_digits(return_X_y=True)
        if name == "digits38":
            keep = (y == 3) | (y == 8)
            X, y = X[keep], (y[keep] == 8).astype(int)
    X = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12)
    if name == "digits10":
        return X, 2.0 * np.eye(10)[y] - 1.0
    return X, 2.0 * y - 1.0


def beta_max(A: np.ndarray, y: np.ndarray, masks: np.ndarray, loss: str) -> float:
    g = y / 2 if loss == "logistic" else y
    G = g.reshape(len(g), -1)
    return max(float(np.linalg.norm(A.T @ (masks * G[:, k:k + 1]), axis=0).max())
               for k in range(G.shape[1]))


def program(row: str, loss: str, K: int, P: int | None, gated: bool, fraction: float):
    spec = SWEEP_ROWS[row]
    bias = False
    if spec["kind"] == "gauss":
        X, y = planted(spec["n"], spec["d"], K)
        if loss != "squared":
            y = np.where(y >= np.median(y), 1.0, -1.0)
        P = spec["P"]
    elif spec["kind"] == "exhaustive":
        X, y = planted(spec["n"], spec["d"], 1)
    else:
        X, y = real(spec["data"])
        bias = True
    cls = sn.ConvexGatedReLU if gated else sn.ConvexReLU
    patterns = "exhaustive" if spec["kind"] == "exhaustive" else P
    prog = cls(X, y, 1.0, patterns=patterns, seed=0, loss=loss, bias=bias)
    A = np.hstack([X, np.ones((len(X), 1))]) if bias else X
    prog.beta = fraction * beta_max(A, y, prog.patterns.masks, loss)
    return prog


# --- one run in its own process ----------------------------------------------------------------
def one_run(row: str, loss: str, K: int, P: int | None, gated: bool, fraction: float,
            backend: str, tol: float, time_limit: float) -> dict:
    start = time.perf_counter()
    prog = program(row, loss, K, P, gated, fraction)
    build = time.perf_counter() - start
    start = time.perf_counter()
    res = prog.solve(backend=backend, tol=tol, time_limit=time_limit)
    out = {"status": res.status, "objective": res.objective, "seconds": time.perf_counter() - start,
           "build_s": build, "lower": res.lower_bound, "rel_gap": res.relative_gap,
           "patterns": prog.patterns.count, "beta": prog.beta}
    if backend == "firstorder" and isinstance(res.raw, dict):
        out["method"] = res.raw.get("method")
        stats = res.raw.get("statistics") or [{}]
        out["handed_over"] = any(s.get("handed_over") for s in stats)
    return out


# --- the suites ----------------------------------------------------------------------------------
def sweep_tasks(rows, fractions, losses, backends=("firstorder", "clarabel")):
    for row in rows:
        spec = SWEEP_ROWS[row]
        Ps = spec.get("P") if spec["kind"] == "real" else (None,)
        Ps = Ps if isinstance(Ps, tuple) else (Ps,)
        for P in Ps:
            for fraction in fractions:
                for loss in spec["losses"]:
                    if loss not in losses:
                        continue
                    for K in spec["K"]:
                        if K > 1 and loss != "squared":
                            continue
                        gated_opts = (False, True) if spec["gated"] and K == 1 and \
                            loss == "squared" else (False,)
                        for gated in gated_opts:
                            names = ["firstorder"]
                            if spec["clarabel"] and K == 1 and (P is None or P <= 500):
                                names.append("clarabel")
                            for backend in (b for b in names if b in backends):
                                yield dict(row=row, loss=loss, K=K, P=P, gated=gated,
                                           fraction=fraction, backend=backend,
                                           tol=1e-6, limit=spec["limit"])


def run_task(task: dict, memory_gib: float) -> dict:
    outcome = run_isolated(one_run, task["row"], task["loss"], task["K"], task["P"],
                           task["gated"], task["fraction"], task["backend"], task["tol"],
                           task["limit"], time_limit=1.5 * task["limit"] + 120,
                           memory_limit=memory_gib * 2**30)
    rec = dict(task, peak_mib=outcome.peak_mib, wall_s=outcome.wall_time,
               outcome=outcome.status)
    if outcome.status == "ok":
        rec.update(outcome.value)
    else:
        rec["message"] = outcome.message[:300]
    return rec


def path_run(row: str, points: int, tol: float, time_limit: float) -> dict:
    prog = program(row, "squared", 1, None, False, 1.0)
    top = prog.beta
    betas = np.geomspace(top, 1e-3 * top, points)
    start = time.perf_counter()
    results = prog.path(betas, backend="firstorder", tol=tol, time_limit=time_limit)
    return {"seconds": time.perf_counter() - start,
            "statuses": [r.status for r in results],
            "rel_gaps": [r.relative_gap for r in results],
            "methods": [r.raw.get("method") if isinstance(r.raw, dict) else None
                        for r in results]}


def limit_run(fraction: float, tol: float, time_limit: float) -> dict:
    """One solve that cannot reach ``tol`` in ``time_limit``: how long it really took."""
    prog = program("gauss-1000", "squared", 1, None, False, fraction)
    start = time.perf_counter()
    res = prog.solve(tol=tol, time_limit=time_limit)
    return {"status": res.status, "backend": res.backend, "wall": time.perf_counter() - start,
            "rel_gap": res.relative_gap}


def report(rows: list[dict]) -> str:
    """Markdown tables: one line per program, the backends side by side."""
    lines = ["| row | loss | K | P | model | beta/beta_max | firstorder | clarabel |",
             "|---|---|---|---|---|---|---|---|"]
    key = lambda r: (r["row"], r["loss"], r["K"], r.get("P"), r["gated"], r["fraction"])
    groups: dict = {}
    for r in rows:
        groups.setdefault(key(r), {})[r["backend"]] = r
    for k, by in groups.items():
        best = min((b.get("objective", np.inf) for b in by.values()
                    if b.get("status") in ("optimal", "optimal_inaccurate")), default=np.inf)

        def cell(b):
            if b is None:
                return ""
            if b.get("outcome") != "ok":
                return b.get("outcome", "?")
            s = f"{b['seconds']:.1f} s, {b['status']}"
            if b.get("rel_gap") is not None and np.isfinite(b["rel_gap"]):
                s += f", gap {b['rel_gap']:.0e}"
            if np.isfinite(best) and b.get("objective") is not None and best:
                s += f", {abs(b['objective'] - best) / abs(best):.0e} off"
            if b.get("handed_over"):
                s += " (atoms -> ipm)"
            return s

        row, loss, K, P, gated, frac = k
        lines.append(f"| {row} | {loss} | {K} | {P or ''} | {'gated' if gated else 'relu'} | "
                     f"{frac:g} | {cell(by.get('firstorder'))} | {cell(by.get('clarabel'))} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=["sweep", "path", "large", "limits"],
                        default="sweep")
    parser.add_argument("--rows", nargs="+", default=DEFAULT_ROWS, choices=list(SWEEP_ROWS))
    parser.add_argument("--fractions", nargs="+", type=float, default=list(FRACTIONS))
    parser.add_argument("--losses", nargs="+", default=list(LOSSES), choices=list(LOSSES))
    parser.add_argument("--backends", nargs="+", default=["firstorder", "clarabel"],
                        choices=["firstorder", "clarabel"],
                        help="Clarabel runs only where the row says (see above)")
    parser.add_argument("--memory-limit", type=float, default=8.0, help="GiB per run")
    parser.add_argument("--out", default=None, help="JSON lines to append to")
    parser.add_argument("--report", default=None, help="print the tables of a results file")
    args = parser.parse_args(argv)
    if args.report:
        rows = [json.loads(line) for line in open(args.report)]
        print(report([r for r in rows if "backend" in r]))
        return 0
    sink = open(args.out, "a") if args.out else None

    def emit(rec):
        line = json.dumps(rec, default=float)
        print(line, flush=True)
        if sink:
            sink.write(line + "\n")
            sink.flush()

    if args.suite == "sweep":
        for task in sweep_tasks(args.rows, args.fractions, args.losses, args.backends):
            emit(run_task(task, args.memory_limit))
    elif args.suite == "path":
        for row, limit in (("gauss-1000", 60.0), ("gauss-4000", 300.0)):
            out = run_isolated(path_run, row, 20, 1e-6, limit, time_limit=3 * limit + 300,
                               memory_limit=args.memory_limit * 2**30)
            emit({"suite": "path", "row": row, "outcome": out.status, "wall_s": out.wall_time,
                  **(out.value if out.status == "ok" else {"message": out.message[:300]})})
    elif args.suite == "limits":
        for limit in (2.0, 10.0, 40.0):
            out = run_isolated(limit_run, 0.003, 1e-12, limit, time_limit=3 * limit + 120,
                               memory_limit=args.memory_limit * 2**30)
            emit({"suite": "limits", "time_limit": limit, "outcome": out.status,
                  **(out.value if out.status == "ok" else {"message": out.message[:300]})})
    else:
        for fraction in args.fractions:
            task = dict(row="gauss-20000", loss="squared", K=1, P=None, gated=False,
                        fraction=fraction, backend="firstorder", tol=1e-4, limit=600.0)
            emit(run_task(task, 4.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
