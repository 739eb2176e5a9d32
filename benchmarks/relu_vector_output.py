"""Certified brackets for multi-output ReLU networks with standard weight decay
(sdpnets.CopositiveReLU, docs/relu_vector_output.md).

Per data set (seeded training subsets; standardized features, a bias, one-hot targets) and
beta: the certified lower bound, the rounded network's objective, the best of 100
standard-network trainings (full-batch Adam from random starts), the relative gaps, times and
the relaxation's size, and test accuracy (rest of the data) of the rounded network, of the
best trained network and of scikit-learn's MLPClassifier (same width, its own loss). Then the
planted spike-free instances' gaps, and the largest DNN relaxation each conic backend solves
in the time limit (each solve in its own process, memory limit 8 GB).

    nice python benchmarks/relu_vector_output.py                # the README's table
    nice python benchmarks/relu_vector_output.py --quick        # iris only, one beta
    nice python benchmarks/relu_vector_output.py --datasets digits2 --betas 1 5 \
        --skip-planted --skip-sizes                              # only some bracket rows
    nice python benchmarks/relu_vector_output.py --datasets --skip-planted \
        --backends clarabel scs firstorder                       # only the size ladders
    nice python benchmarks/relu_vector_output.py --datasets iris wine --betas 1 --loss softmax \
        --backend scs --skip-planted --skip-sizes                # softmax cross-entropy rows
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import sdpnets as sn
from sdpnets.local import train_relu_mlps_adam

BETAS = (0.1, 1.0, 5.0)


def load(name: str, n_train: int, seed: int = 0, pcs: int | None = None):
    from sklearn import datasets

    loader = {"iris": datasets.load_iris, "wine": datasets.load_wine}.get(name,
                                                                         datasets.load_digits)
    X, y = loader(return_X_y=True)
    if name == "digits2":
        keep = y <= 1
        X, y = X[keep], y[keep]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    tr, te = order[:n_train], order[n_train:]
    mean, sd = X[tr].mean(0), X[tr].std(0)
    X = (X - mean) / np.where(sd > 0, sd, 1.0)
    if pcs is not None:  # principal components of the training rows
        Vt = np.linalg.svd(X[tr], full_matrices=False)[2][:pcs]
        X = X @ Vt.T
    classes = np.unique(y)
    Y = (y[:, None] == classes[None, :]).astype(float)
    return X[tr], Y[tr], X[te], y[te], classes


def local_trainings(X, Y, beta, runs=100, width=20, steps=1500, seed=0, loss="squared"):
    """`runs` standard networks (with bias) from random starts by full-batch Adam
    (sdpnets.local.train_relu_mlps_adam); their objectives and the best network."""
    nets = train_relu_mlps_adam(X, Y, beta, width, runs=runs, steps=steps, seed=seed, bias=True,
                                loss=loss)
    objs = [net.objective(X, Y, beta) for net in nets]
    return objs, nets[int(np.argmin(objs))]


def accuracy(net, X, y, classes) -> float:
    return float(np.mean(classes[np.argmax(net.predict(X), axis=1)] == y))


def sklearn_accuracy(X, Y, Xte, yte, classes, beta, width=20) -> float:
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(width,), alpha=beta / X.shape[0], max_iter=2000,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, classes[np.argmax(Y, axis=1)])
    return float(clf.score(Xte, yte))


def bracket_rows(datasets, betas, runs, loss="squared", backend="auto", time_limit=None):
    print("| data | n x d, K | beta | lower (certified) | rounded upper | best of 100 | "
          "(upper-lower)/upper | (best-lower)/best | relaxation, side | solve | trainings | "
          "test acc: rounded / best trained / MLPClassifier |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, n, pcs in datasets:
        X, Y, Xte, yte, classes = load(name, n, pcs=pcs)
        for beta in betas:
            t = time.perf_counter()
            prog = sn.CopositiveReLU(X, Y, beta, bias=True, loss=loss)
            res = prog.solve(backend=backend, time_limit=time_limit)
            ts = time.perf_counter() - t
            t = time.perf_counter()
            objs, best_net = local_trainings(X, Y, beta, runs=runs, loss=loss)
            tt = time.perf_counter() - t
            best = min(objs)
            lo, up = res.lower_bound, res.upper_bound
            assert lo <= best, "the certified lower bound is above a trained network"
            side = (X.shape[1] + 1 + Y.shape[1] + n if prog.relaxation == "dnn"
                    else X.shape[1] + 1 + 2 * Y.shape[1])
            label = (f"{name}" + (f" ({pcs} PCs)" if pcs else "")
                     + (f", {loss}" if loss != "squared" else "")
                     + (f", {backend}" if backend != "auto" else ""))
            print(f"| {label} | {n}x{X.shape[1]}+1, {Y.shape[1]} | {beta} | {lo:.6g} | {up:.6g} "
                  f"| {best:.6g} | {(up - lo) / up:.2%} | {(best - lo) / best:.2%} | "
                  f"{prog.relaxation}, {side} | {ts:.0f} s | {tt:.0f} s | "
                  f"{accuracy(prog.network(), Xte, yte, classes):.3f} / "
                  f"{accuracy(best_net, Xte, yte, classes):.3f} / "
                  f"{sklearn_accuracy(X, Y, Xte, yte, classes, beta):.3f} |", flush=True)


def planted_rows():
    print("\n| planted spike-free (n, d, K) | beta | lower | upper | relative gap | relaxation |")
    print("|---|---|---|---|---|---|")
    for n, d, K, beta in ((5, 7, 3, 0.8), (6, 10, 4, 0.5), (30, 40, 10, 0.7)):
        rng = np.random.default_rng(n)
        X = np.linalg.qr(rng.standard_normal((d, n)))[0].T
        P = np.zeros((n, 2))
        P[np.arange(n), np.arange(n) % 2] = rng.uniform(0.5, 1.5, n)
        P /= np.linalg.norm(P, axis=0)
        Y = P @ np.diag([3.0, 2.0]) @ np.linalg.qr(rng.standard_normal((K, 2)))[0].T
        for relaxation in ("dnn",) if n > 8 else ("dnn", "cone_split"):
            res = sn.CopositiveReLU(X, Y, beta, relaxation=relaxation).solve()
            print(f"| ({n}, {d}, {K}) | {beta} | {res.lower_bound:.10g} | {res.upper_bound:.10g} "
                  f"| {res.relative_gap:.1e} | {relaxation} |", flush=True)


def largest_rows(limit: float, ladders, tol: float):
    """Per backend, the DNN relaxation on growing wine subsets (beta = 1), each solve in its own
    process under ``limit`` seconds and 8 GB at relative tolerance ``tol``, stopping at the
    backend's first failure (not solved, or the whole call, rounding included, over
    ``limit``). The first-order method always has a bracket (every iterate is certified):
    its row reports the relative gap it reached."""
    print(f"\n| backend | n (wine subset, d = 13 + 1, K = 3) | DNN side | status (tol {tol:g}) | "
          f"relative gap | time (limit {limit:.0f} s, 8 GB) |")
    print("|---|---|---|---|---|---|")
    for backend, sizes in ladders:
        for n in sizes:
            X, Y, *_ = load("wine", n)
            prog = sn.CopositiveReLU(X, Y, 1.0, relaxation="dnn", bias=True)
            t = time.perf_counter()
            res = prog.solve(backend=backend, time_limit=limit, memory_limit="8GB",
                             isolate=True, tol=tol)
            el = time.perf_counter() - t
            gap = f"{res.relative_gap:.2%}" if res.solved else "-"
            print(f"| {backend} | {n} | {X.shape[1] + 1 + 3 + n} | {res.status} | {gap} | "
                  f"{el:.0f} s |", flush=True)
            if not res.solved or el > limit:
                break


DATASETS = {"iris": ("iris", 40, None), "wine": ("wine", 40, None),
            "digits2": ("digits2", 40, 16), "digits": ("digits", 60, 16)}
LADDERS = {"clarabel": (40, 60, 80, 100, 120), "scs": (40, 60, 80, 100, 120),
           "firstorder": (120, 178)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--limit", type=float, default=300.0)
    ap.add_argument("--datasets", nargs="*", choices=sorted(DATASETS), default=list(DATASETS),
                    help="bracket rows of these data sets (none: no bracket rows)")
    ap.add_argument("--betas", nargs="+", type=float, default=list(BETAS))
    ap.add_argument("--loss", choices=["squared", "softmax"], default="squared",
                    help="the bracket rows' loss (softmax: cross-entropy, conic backends)")
    ap.add_argument("--backend", default="auto", help="the bracket rows' backend")
    ap.add_argument("--n", type=int, help="training samples of the bracket rows' data sets "
                    "(default: each data set's own, 40 or 60)")
    ap.add_argument("--time-limit", type=float, help="seconds of each bracket row's solve")
    ap.add_argument("--skip-planted", action="store_true")
    ap.add_argument("--skip-sizes", action="store_true")
    ap.add_argument("--sizes", nargs="+", type=int,
                    help="the ladders' sizes n (default: each backend's own ladder)")
    ap.add_argument("--size-tol", type=float, default=1e-4,
                    help="relative tolerance of the size ladders' solves")
    ap.add_argument("--backends", nargs="+", choices=sorted(LADDERS),
                    default=["clarabel", "scs", "firstorder"],
                    help="size ladders to run (MOSEK: no licence on the benchmark machine)")
    args = ap.parse_args()
    if args.quick:
        bracket_rows([DATASETS["iris"]], (1.0,), args.runs)
        return
    if args.datasets:
        sets = [DATASETS[name] for name in args.datasets]
        if args.n:
            sets = [(name, args.n, pcs) for name, _, pcs in sets]
        bracket_rows(sets, args.betas, args.runs, args.loss, args.backend, args.time_limit)
    if not args.skip_planted:
        planted_rows()
    if not args.skip_sizes:
        largest_rows(args.limit, [(b, args.sizes or LADDERS[b]) for b in args.backends],
                     args.size_tol)


if __name__ == "__main__":
    main()
