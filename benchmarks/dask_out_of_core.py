"""Training on data no single array holds: 10^7 rows x 100 features on a Dask LocalCluster.

The data are never materialized: each row block of X (and of Y = X Z + noise) is generated
from a seed when a worker needs it, used for its contribution to X^T X, X^T Y and ||Y||^2,
and dropped. The program is then solved and certified on the client with no second pass.
A second part checks the same problem at 10^5 rows in memory and as a Dask array: the
objectives must agree to 1e-9 relative.

    python benchmarks/dask_out_of_core.py                 # the README's numbers
    python benchmarks/dask_out_of_core.py --rows 1000000  # a quicker run
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import sdpnets as sn


def lazy_data(rows: int, d: int, K: int, chunk: int, seed: int = 0):
    """Row-chunked lazy X (rows x d) and Y = X Z + noise (Z of rank 5)."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((d, 5)) @ rng.standard_normal((5, K)) / np.sqrt(d)
    gen = da.random.default_rng(seed + 1)
    X = gen.standard_normal((rows, d), chunks=(chunk, d))
    Y = X @ Z + 0.5 * gen.standard_normal((rows, K), chunks=(chunk, K))
    return X, Y


def worker_peak_mib(client: Client) -> dict[str, float]:
    def peak(dask_worker=None) -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    return client.run(peak)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--outputs", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    try:
        X, Y = lazy_data(args.rows, args.features, args.outputs, args.chunk)
        start = time.perf_counter()
        prog = sn.ConvexLinearFC(X, Y, 1.0)  # the pass: statistics only
        bmax = sn.beta_max(prog.X, prog.Y, family="linear_fc")
        prog.beta = 0.05 * bmax
        res = prog.solve(backend="firstorder", tol=1e-8)
        cert = prog.certificate()
        total = time.perf_counter() - start
        peaks = worker_peak_mib(client)
        data_gib = args.rows * (args.features + args.outputs) * 8 / 2**30
        print(f"{args.rows} x {args.features} (K={args.outputs}), {data_gib:.1f} GiB if "
              f"materialized, {len(X.chunks[0])} chunks of {args.chunk} rows, "
              f"{args.workers} workers")
        print("| pass s | solve s | status | objective | certified rel. gap | rank | "
              "peak MiB per worker | total s |")
        print("|---|---|---|---|---|---|---|---|")
        rel = cert.gap / abs(cert.upper_bound)
        print(f"| {prog.data_pass_time:.1f} | {res.solve_time:.3f} | {res.status} | "
              f"{res.objective:.10g} | {rel:.1e} | {prog.network().weights[0].shape[1]} | "
              f"{', '.join(f'{v:.0f}' for v in peaks.values())} | {total:.1f} |")

        # the same problem at 10^5 rows, in memory and as a Dask array
        Xs, Ys = lazy_data(100_000, args.features, args.outputs, 10_000, seed=7)
        Xm, Ym = Xs.compute(), Ys.compute()
        beta = 0.05 * sn.beta_max(Xm, Ym, family="linear_fc")
        mem = sn.ConvexLinearFC(Xm, Ym, beta)
        rm = mem.solve(backend="firstorder", tol=1e-10)
        dsk = sn.ConvexLinearFC(Xs, Ys, beta)
        rd = dsk.solve(backend="firstorder", tol=1e-10)
        diff = abs(rm.objective - rd.objective) / rm.objective
        print(f"\n10^5 rows: in memory {rm.objective:.12g}, Dask {rd.objective:.12g}, "
              f"relative difference {diff:.1e} (pass {dsk.data_pass_time:.2f} s)")
        return 0 if diff <= 1e-9 else 1
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    sys.exit(main())
