"""Side-by-side: the nuclear-norm SDP of a 2-layer linear network built on the QR-reduced
data (what sdpnets does) versus on the raw ``n x d`` data, in one run.

Reports build+solve time of each, their ratio, and the objective difference (accuracy next
to time). Run: ``.venv/bin/python benchmarks/qr_reduction.py``.
"""

from __future__ import annotations

import time
import warnings

import cvxpy as cp
import numpy as np

import sdpnets as sn


def raw_program(X, Y, beta):
    d, K = X.shape[1], Y.shape[1]
    block = cp.Variable((d + K, d + K), PSD=True)
    Z = block[:d, d:]
    return cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X @ Z - Y) + 0.5 * beta * cp.trace(block)))


def main(sizes=(200, 1000, 3000), d=20, K=5, seed=0) -> None:
    rng = np.random.default_rng(seed)
    print(f"{'n':>6} {'reduced s':>10} {'raw s':>10} {'raw/reduced':>12} {'|obj diff|/obj':>15}  raw status")
    for n in sizes:
        X = rng.standard_normal((n, d))
        Y = X @ rng.standard_normal((d, 2)) @ rng.standard_normal((2, K)) + rng.standard_normal((n, K))
        beta = 0.2 * sn.beta_max(X, Y, family="linear_fc")
        start = time.perf_counter()
        res = sn.ConvexLinearFC(X, Y, beta).solve(backend="clarabel")
        reduced = time.perf_counter() - start
        start = time.perf_counter()
        prob = raw_program(X, Y, beta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob.solve(solver="CLARABEL")
        raw = time.perf_counter() - start
        diff = abs(prob.value - res.objective) / abs(res.objective)
        print(f"{n:>6} {reduced:>10.3f} {raw:>10.3f} {raw / reduced:>12.1f} {diff:>15.2e}  {prob.status}")


if __name__ == "__main__":
    main()
