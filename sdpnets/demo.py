"""The main job, ``sdpnets demo``: train networks to their certified global optimum and
build result tables. The command line prints them (:func:`sdpnets.cli.run_demo`); this
module never prints.

1. A real-size two-layer linear network, ``(n, d, K) = (20000, 200, 100)``, on sdpnets' own
   first-order solver: one pass over the data, then a certified optimum.
2. A small instance on every backend, conic ones included, each with its certified bracket.
3. Gradient descent on the network's weights from random starts, against that bracket.
4. Two-layer ReLU networks: on small data every activation pattern, the exact global
   optimum with a tight certificate and L-BFGS from random starts never below it; at real
   size a network trained by L-BFGS, improved by the program over its own patterns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import __version__
from .backends import BACKENDS, FIRST_ORDER, available_backends
from .certificates import beta_max
from .formulations.linear_fc import ConvexLinearFC
from .formulations.relu.mlp import ConvexReLU
from .local import train_linear_fc, train_relu_mlp

#: Sizes of the demo's problems: linear (n, d, K), and ReLU (n, d, sampled patterns) with
#: the width of the network trained by L-BFGS.
LARGE = (20000, 200, 100)
SMALL = (200, 20, 8)
RELU = (1000, 20, 100)
RELU_WIDTH = 40
#: The ReLU section's small data (n, d), where every activation pattern is enumerated, and
#: the width of the networks L-BFGS trains on it.
RELU_EXACT = (40, 2)
RELU_EXACT_WIDTH = 20


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = "  ".join("{:<%d}" % w for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*map(str, r)) for r in rows]
    return "\n".join(out)


def demo_data(seed: int = 0, n: int = SMALL[0], d: int = SMALL[1], K: int = SMALL[2],
              rank: int = 3):
    """Seeded regression data whose targets come from a rank-``rank`` linear map plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Z = rng.standard_normal((d, rank)) @ rng.standard_normal((rank, K)) / np.sqrt(d)
    Y = X @ Z + 0.3 * rng.standard_normal((n, K))
    return X, Y


def _bracket(cert) -> tuple[str, str]:
    rel = cert.gap / max(abs(cert.upper_bound), 1e-300)
    return f"[{cert.lower_bound:.10g}, {cert.upper_bound:.10g}]", f"{rel:.1e}"


def demo_report(seed: int = 0, emit: Callable[[str], None] | None = None
                ) -> dict[str, list[dict[str, Any]]]:
    """Run the demo: hand each block of its text to ``emit`` as it is ready (the command
line prints it) and return the tables' rows (for tests and scripts)."""
    emit = (lambda text: None) if emit is None else emit
    report: dict[str, Any] = {"large": [], "small": [], "descent": [],
                                               "relu": []}
    emit(f"sdpnets {__version__} demo: two-layer linear networks with weight decay, trained "
          "to their global optimum\n(the nuclear-norm program min_Z 1/2||XZ - Y||^2 + "
          "beta ||Z||_*). Relative gap = (upper - lower) / upper.\n")

    # 1. real size, first-order backend ------------------------------------------------------
    n, d, K = LARGE
    X, Y = demo_data(seed, n, d, K, rank=5)
    start = time.perf_counter()
    _ = X.T @ X, X.T @ Y
    floor = time.perf_counter() - start
    beta = 0.15 * beta_max(X, Y, family="linear_fc")
    prog = ConvexLinearFC(X, Y, beta)
    res = prog.solve(backend=FIRST_ORDER, tol=1e-8)
    total = res.compile_time + res.solve_time
    row: dict[str, Any] = {"backend": FIRST_ORDER, "status": res.status,
                           "objective": res.objective, "seconds": total, "floor": floor}
    line: list[Any] = [FIRST_ORDER, res.status, "-", "-", f"{total:.2f}",
                       f"{total / floor:.1f}x", "-"]
    if res.solved:
        cert = prog.certificate()
        bracket, rel = _bracket(cert)
        rank = prog.network().weights[0].shape[1]
        row.update(lower=cert.lower_bound, upper=cert.upper_bound, rank=rank)
        line = [FIRST_ORDER, res.status, bracket, rel, f"{total:.2f}", f"{total / floor:.1f}x",
                rank]
    report["large"].append(row)
    emit(f"1. Real size: n={n}, d={d}, K={K}, beta={beta:.4g} (0.15 beta_max). One pass over "
          f"the data (X^T X, X^T Y) takes {floor:.2f} s.")
    emit(_table(["backend", "status", "certified bracket [lower, upper]", "relative gap",
                  "seconds", "x data pass", "rank"], [line]))
    emit("The interior-point and splitting solvers are not run at this size: on it Clarabel "
          "needs a 16 GB dense\nKKT block for the 300 x 300 PSD cone and SCS stops on its "
          "time limit (benchmarks/firstorder_least_squares.py).\n")

    # 2. small size, every backend ---------------------------------------------------------
    X, Y = demo_data(seed)
    n, d = X.shape
    beta = 0.15 * beta_max(X, Y, family="linear_fc")
    emit(f"2. Small size on every backend: n={n}, d={d}, K={Y.shape[1]}, beta={beta:.4g} "
          "(0.15 beta_max).")
    configs: list[tuple[str, dict[str, Any]]] = [
        ("2-layer, weight decay", dict(depth=2)),
        ("3-layer, ||W1||_2<=1", dict(depth=3, hidden="spectral")),
    ]
    usable = available_backends()
    rows: list[list[Any]] = []
    best_lower: dict[str, float] = {}
    for label, kw in configs:
        for name in (FIRST_ORDER, *BACKENDS):
            if name != FIRST_ORDER and name not in usable:
                reason = BACKENDS[name]().availability()[1]
                why = "no licence" if "licen" in reason.lower() else "not installed"
                rows.append([label, name, f"unavailable ({why})", "-", "-", "-", "-"])
                report["small"].append({"network": label, "backend": name,
                                        "status": "unavailable"})
                continue
            p = ConvexLinearFC(X, Y, beta, **kw)
            r = p.solve(backend=name, tol=1e-8)
            entry: dict[str, Any] = {"network": label, "backend": name, "status": r.status,
                                     "objective": r.objective}
            if r.solved:
                cert = p.certificate()
                best_lower[label] = max(best_lower.get(label, -np.inf), cert.lower_bound)
                bracket, rel = _bracket(cert)
                rank = p.network().weights[-1].shape[0]
                entry.update(lower=cert.lower_bound, upper=cert.upper_bound, rank=rank)
                rows.append([label, name, r.status, bracket, rel,
                             f"{r.solve_time + r.compile_time:.3f}", rank])
            else:
                rows.append([label, name, r.status, "-", "-",
                             f"{r.solve_time + r.compile_time:.3f}", "-"])
            report["small"].append(entry)
    emit(_table(["network", "backend", "status", "certified bracket [lower, upper]",
                  "relative gap", "seconds", "rank"], rows))
    emit("The 3-layer network with a spectral-norm-bounded hidden layer has the same convex "
          "program as the\n2-layer one (its hidden layer can only rotate and shrink), so "
          "the same optimum.\n")

    # 3. gradient descent on the weights ------------------------------------------------------
    emit("3. Gradient descent on the weights (width 8 per hidden layer), 5 random starts:")
    rows = []
    for label, kw in configs:
        if label not in best_lower:
            continue
        widths = [8] * (kw["depth"] - 1)
        for s in range(5):
            start = time.perf_counter()
            net = train_linear_fc(X, Y, beta, widths, hidden=kw.get("hidden", "weight_decay"),
                                  seed=s, max_iters=3000)
            value = net.objective(X, Y, beta)
            above = value - best_lower[label]
            report["descent"].append({"network": label, "start": s, "objective": value,
                                      "lower": best_lower[label]})
            rows.append([label, s, f"{value:.10g}", f"{above:.2e}",
                         f"{above / abs(best_lower[label]):.1e}",
                         f"{time.perf_counter() - start:.2f}"])
    emit(_table(["network", "start", "objective", "above the certified lower bound",
                  "relative", "seconds"], rows))
    emit("Every run ends at or above the certified lower bound (weak duality); the convex "
          "program reaches it.\n")
    report["relu"] = _relu_section(seed, emit)
    return report


def relu_demo_data(seed: int = 0, n: int = RELU[0], d: int = RELU[1]):
    """Seeded data whose targets come from a planted 10-neuron ReLU network (unit variance)
    plus noise 0.5."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 10)), 0) @ rng.standard_normal(10)
    return X, y / np.std(y) + 0.5 * rng.standard_normal(n)


def _relu_section(seed: int, emit: Callable[[str], None]) -> dict[str, list[dict[str, Any]]]:
    """4. Two-layer ReLU networks: (a) small data, every activation pattern, the exact global
    optimum with a tight certificate, and L-BFGS from random starts never below it; (b) real
    size, a network trained by L-BFGS improved by the program over its own patterns."""
    report: dict[str, list[dict[str, Any]]] = {"exact": [], "trained": []}
    n, d = RELU_EXACT
    X, y = relu_demo_data(seed, n, d)
    top = float(beta_max(X, y))
    beta = 0.05 * top
    emit(f"4a. A two-layer ReLU network on small data, n={n}, d={d} (targets of a planted "
         f"network plus noise),\nbeta={beta:.4g} (0.05 beta_max). Every activation pattern: the "
         "convex program's optimum is the global one.\nObjective: 1/2||(XU)_+ a - y||^2 + "
         "beta/2 (||U||^2 + ||a||^2).")
    start = time.perf_counter()
    exact = ConvexReLU(X, y, beta, patterns="exhaustive")
    res = exact.solve(tol=1e-8)
    cert = exact.certificate()
    lower = cert.lower_bound
    rows = [{"model": f"convex program, all {exact.patterns.count} patterns", "status": res.status,
             "objective": res.objective, "lower": lower, "of": f"every network ({cert.kind})",
             "seconds": time.perf_counter() - start}]
    for s in range(5):
        start = time.perf_counter()
        net = train_relu_mlp(X, y, beta, RELU_EXACT_WIDTH, seed=seed + s, max_iters=2000)
        rows.append({"model": f"L-BFGS, {RELU_EXACT_WIDTH} neurons, start {s}", "status": "-",
                     "objective": net.objective(X, y, beta), "lower": None, "of": "-",
                     "seconds": time.perf_counter() - start})
    report["exact"] = rows
    emit(_relu_table(rows))
    emit("The certificate closes on the convex optimum (every pattern counted), and every "
         "local run ends at or\nabove it: a random start may stop at a worse network, never a "
         "better one.\n")

    n, d, P = RELU
    X, y = relu_demo_data(seed, n, d)
    beta = 0.1 * ConvexReLU(X, y, 1.0, patterns=P, seed=seed).program_beta_max()
    emit(f"4b. At real size, n={n}, d={d}, beta={beta:.4g} (0.1 beta_max over {P} sampled "
         "patterns), too many\npatterns to enumerate. A network trained by L-BFGS, then the "
         "convex program over that network's own\nactivation patterns (it starts from the "
         "network and can only improve it), certified over those patterns.")
    rows = []
    start = time.perf_counter()
    net = train_relu_mlp(X, y, beta, RELU_WIDTH, seed=seed, max_iters=500)
    rows.append({"model": f"L-BFGS, {RELU_WIDTH} neurons, random start", "status": "-",
                 "objective": net.objective(X, y, beta), "lower": None, "of": "-",
                 "seconds": time.perf_counter() - start})
    start = time.perf_counter()
    improved = ConvexReLU(X, y, beta, patterns=net)
    res = improved.solve(backend=FIRST_ORDER, tol=1e-6)
    rows.append({"model": "convex program, that network's patterns", "status": res.status,
                 "objective": res.objective, "lower": res.lower_bound,
                 "of": "those patterns", "seconds": time.perf_counter() - start})
    report["trained"] = rows
    emit(_relu_table(rows))
    emit("The program's network is certified optimal (to 1e-6) among networks with those "
         "activation patterns\nand is never worse than the trained one. Over every network "
         "at this size, a certificate is a\nrelaxation (sn.certify: valid, but loose here; "
         "docs/relu.md section 4c).")
    return report


def _relu_table(rows: list[dict[str, Any]]) -> str:
    return _table(["model", "status", "network objective", "certified lower bound",
                   "bound over", "seconds"],
                  [[r["model"], r["status"], f"{r['objective']:.10g}",
                    "-" if r["lower"] is None else f"{r['lower']:.10g}", r["of"],
                    f"{r['seconds']:.2f}"] for r in rows])
