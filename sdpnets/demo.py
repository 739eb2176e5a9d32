"""The main job, ``sdpnets demo``: train networks to their certified global optimum and
print a result table. Only the command line calls it (it prints)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import numpy as np

from . import __version__
from .backends import BACKENDS, available_backends
from .certificates import beta_max
from .formulations import ConvexLinearFC
from .local import train_linear_fc


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = "  ".join("{:<%d}" % w for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*map(str, r)) for r in rows]
    return "\n".join(out)


def demo_data(seed: int = 0, n: int = 200, d: int = 20, K: int = 8, rank: int = 3):
    """Seeded regression data whose targets come from a rank-``rank`` linear map plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Z = rng.standard_normal((d, rank)) @ rng.standard_normal((rank, K)) / np.sqrt(d)
    Y = X @ Z + 0.3 * rng.standard_normal((n, K))
    return X, Y


def run_demo(seed: int = 0, out=None) -> None:
    """Train 2- and 3-layer linear networks globally on every backend, then by gradient
    descent from 5 random starts, and print how far each is from the certified optimum."""
    out = sys.stdout if out is None else out
    X, Y = demo_data(seed)
    beta = 0.15 * beta_max(X, Y, family="linear_fc")
    n, d = X.shape
    print(f"sdpnets {__version__} demo: n={n}, d={d}, K={Y.shape[1]} outputs, "
          f"beta={beta:.4g} (0.15 beta_max)\n", file=out)
    configs = [
        ("2-layer, weight decay", dict(depth=2)),
        ("3-layer, ||W1||_2<=1", dict(depth=3, hidden="spectral")),
    ]
    header = ["network", "backend", "status", "objective", "certified gap",
              "solve s", "compile s", "rank"]
    rows, optimum = [], {}
    usable = available_backends()
    for label, kw in configs:
        for name in BACKENDS:
            if name not in usable:
                reason = BACKENDS[name]().availability()[1]
                why = "no licence" if "licen" in reason.lower() else "not installed"
                rows.append([label, name, f"unavailable ({why})", "-", "-", "-", "-", "-"])
                continue
            prog = ConvexLinearFC(X, Y, beta, **kw)
            res = prog.solve(backend=name, tol=1e-8)
            if res.solved:
                cert = prog.certificate()
                rank = prog.network().weights[-1].shape[0]
                optimum[label] = max(optimum.get(label, -np.inf), cert.lower_bound)
                rows.append([label, name, res.status, f"{res.objective:.10g}", f"{cert.gap:.2e}",
                             f"{res.solve_time:.3f}", f"{res.compile_time:.3f}", rank])
            else:
                rows.append([label, name, res.status, f"{res.objective:.6g}", "-",
                             f"{res.solve_time:.3f}", f"{res.compile_time:.3f}", "-"])
    print("Global optimum by convex programming:", file=out)
    print(_table(header, rows), file=out)

    print("\nGradient descent on the weights (width 8 per hidden layer), 5 random starts:",
          file=out)
    rows = []
    for label, kw in configs:
        if label not in optimum:
            continue
        widths = [8] * (kw["depth"] - 1)
        for s in range(5):
            start = time.perf_counter()
            net = train_linear_fc(X, Y, beta, widths, hidden=kw.get("hidden", "weight_decay"),
                                  seed=s, max_iters=3000)
            value = net.objective(X, Y, beta)
            above = value - optimum[label]
            rows.append([label, s, f"{value:.10g}", f"{above:.3e}",
                         f"{above / abs(optimum[label]):.2e}", f"{time.perf_counter() - start:.2f}"])
    print(_table(["network", "start", "objective", "above certified optimum", "relative",
                  "time s"], rows), file=out)
    print("\nEvery local run ends at or above the certified lower bound (weak duality); "
          "the convex program reaches it.", file=out)
