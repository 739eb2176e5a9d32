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
  with bias, ``P`` of 500 and 2000 sampled gates (``digits10``: 500, ten one-vs-rest +-1
  outputs, every loss).

Clarabel runs on the 1000-sample, exhaustive and real-data rows with P = 500 (single
output).

scnn (pyscnn 0.0.10, Mishkin, Sahiner & Pilanci 2022; ``pip install -e '.[bench-scnn]'``,
the torch pin of the ``torch`` extra) runs on every squared-loss, single-output program:
its augmented Lagrangian on ``ConvexReLU``, its R-FISTA on ``ConvexGatedReLU``, on our
``A`` and our masks with ``lam = beta / n`` (the derivation is at :func:`scnn_solve`).
scnn certifies nothing, so its run first solves the program with ``backend="firstorder"``
for a certified lower bound and then times scnn until its iterate, in our objective, is
within ``tol`` of that bound with cones violated by at most ``tol`` ("exact"), or scnn
stops by itself, or the time limit: equal certified accuracy, with scnn stopped by an
oracle it does not have. Every row records the 1-minute load average: compare the backends
within a row only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
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
    "digits10": dict(kind="real", data="digits10", P=(500,), losses=LOSSES, K=(10,),
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


# --- scnn on the same program -------------------------------------------------------------------
# scnn (pyscnn 0.0.10; ``pip install -e '.[bench-scnn]'``) minimises
#     1/(2n) ||sum_i D_i A u_i - y||^2 + lam sum_i ||u_i||      (models/convex/convex_mlp.py,
# ConvexMLP._objective: squared error / (2 * len(y)); regularizers.NeuronGL1), the ReLU model with
# the same cones (2D_i - I) A v_i >= 0, (2D_i - I) A w_i >= 0 (al_mlp.AL_MLP.i_constraint_gap).
# n times that is our program at beta = n lam: lam = beta / n. scnn's public ``optimize`` samples
# its own gates, drops duplicate and zero patterns and unitizes X's columns (which changes what
# the group norms penalize), so the run builds scnn's internal models on our masks and our A
# directly, in float64.
SCNN_TARGET = 1e-6
SCNN_TOL = 1e-10


def scnn_blocks_network(prog, V: np.ndarray, W: np.ndarray | None = None):
    """The network of scalar-output program blocks ``V`` (and ``W``), each ``(h, P)``.

    Block :math:`z` becomes the neuron :math:`u = z/\\sqrt{\\|z\\|}` with output
    :math:`\\pm\\sqrt{\\|z\\|}` (``+`` for ``V``, ``-`` for ``W``), whose weight decay
    :math:`\\tfrac\\beta2(\\|u\\|^2 + \\alpha^2)` is :math:`\\beta\\|z\\|`; a ``ConvexGatedReLU``
    program (``W`` None) keeps each block's gate. The network's objective is an upper bound on
    the program's optimum that pays for any cone violation (it predicts with the neurons' own
    patterns, not the program's masks).
    """
    gated = isinstance(prog, sn.ConvexGatedReLU)
    cols = V if W is None else np.hstack([V, W])
    signs = np.ones(cols.shape[1]) if W is None else np.repeat([1.0, -1.0], V.shape[1])
    norms = np.linalg.norm(cols, axis=0)
    keep = np.flatnonzero(norms > 0)
    if keep.size == 0:  # the zero network: one neuron of zeros
        keep = np.array([0])
    root = np.sqrt(norms[keep])
    U = cols[:, keep] / np.where(root > 0, root, 1.0)
    alpha = signs[keep] * root
    d = prog.X.shape[1]
    first, bias = (U[:d], U[d]) if prog.bias else (U, None)
    if not gated:
        return sn.ReLUMLP(first, alpha, bias=bias, loss=prog.loss)
    G = prog.gates[:, keep % V.shape[1]]
    gates, gate_bias = (G[:d], G[d]) if prog.bias else (G, None)
    return sn.GatedReLUMLP(gates, first, alpha, gate_bias=gate_bias, bias=bias, loss=prog.loss)


def _rows(prog) -> np.ndarray:
    """The program's ``A``: ``X`` with a column of ones when it has a bias."""
    return np.hstack([prog.X, np.ones((len(prog.X), 1))]) if prog.bias else prog.X


def scnn_accuracy(prog, V: np.ndarray, W: np.ndarray | None, lower: float | None) -> dict:
    """Our objectives at scnn's blocks and how far they are from feasible and optimal.

    ``obj_program``: the program's objective (its masks); ``cone_violation``: the relative
    cone violation of all blocks together, :math:`\\|((I - 2D_i) A z_i)_+\\|_F /
    \\|A z_i\\|_F` over every ``v_i, w_i`` (0 for the gated program); ``rel_to_lower``:
    ``obj_program``'s distance to our certified lower bound (a point with cone violation is
    not feasible: it is finished only when both are within the tolerance). ``obj_network``:
    the network of :func:`scnn_blocks_network`, which predicts with its neurons' own patterns
    and so may fall below the program's bound when the cones are violated."""
    A, M = _rows(prog), prog.patterns.masks
    AV = A @ V
    pred = (M * (AV if W is None else AV - A @ W)).sum(axis=1)
    norms = sum(np.linalg.norm(Z, axis=0).sum() for Z in (V, W) if Z is not None)
    out = {"obj_program": prog.loss.value(pred, prog.y) + prog.beta * norms,
           "obj_network": scnn_blocks_network(prog, V, W).objective(prog.X, prog.y, prog.beta),
           "cone_violation": 0.0}
    if W is not None:
        AZ = np.hstack([AV, A @ W])
        bad = np.maximum(-np.hstack([2.0 * M - 1.0] * 2) * AZ, 0.0)
        out["cone_violation"] = float(np.linalg.norm(bad) / max(np.linalg.norm(AZ), 1e-300))
    if lower is not None:
        out["rel_to_lower"] = (out["obj_program"] - lower) / abs(lower)
    return out


class _ScnnStop(Exception):
    """Raised from scnn's per-iteration callback to end its loop (time up, target reached)."""


def scnn_solve(prog, time_limit: float, tol: float = SCNN_TOL, lower: float | None = None,
               target: float = SCNN_TARGET, rescale: bool = True) -> dict:
    """scnn on ``prog``'s own data, masks and beta: R-FISTA for ``ConvexGatedReLU``, the
    augmented Lagrangian for ``ConvexReLU``, scnn's defaults but ``tol`` (its gradient and,
    for the AL, its constraint tolerance; the default 1e-6 stops far from 1e-6 accuracy) and
    no iteration cap but ``time_limit``. ``rescale`` divides ``A`` by its root-mean-square
    column norm (scnn expects unit columns; the program is the same, see the comment above).

    With ``lower``, a callback evaluates our objective at scnn's iterate every 5% of its
    elapsed time (at least every 0.02 s; :func:`scnn_accuracy`, time not counted) and stops
    it as soon as it is within ``target`` of ``lower`` with cone violation at most
    ``target``: the time scnn needs to reach our certified accuracy, which it cannot know by
    itself. Otherwise it stops at its own criterion or at ``time_limit``. Squared loss and
    one output only (scnn's convex models have no other loss).
    """
    import lab
    from scnn.metrics import Metrics
    from scnn.models import ConvexGatedReLU as ScnnGated
    from scnn.models import ConvexReLU as ScnnReLU
    from scnn.private.interface import build_internal_regularizer, build_metrics_tuple
    from scnn.private.interface import build_optimizer, get_logger, set_device
    from scnn.private.models import AL_MLP, ConvexMLP
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL, RFISTA

    if prog.loss.name != "squared" or np.ndim(prog.y) != 1:
        raise ValueError("scnn's convex models have the squared loss and one output only")
    set_device("cpu", "float64", 0)
    A, M = _rows(prog), prog.patterns.masks
    n, h = A.shape
    P = M.shape[1]
    gated = isinstance(prog, sn.ConvexGatedReLU)
    # scnn works on unit-norm columns; one scalar s for all of them keeps the program the same:
    # (A/s)(s z) = A z, and lam ||s z|| = beta/n ||z|| for lam = beta/(n s)
    s = float(np.linalg.norm(A) / np.sqrt(h)) if rescale else 1.0
    regularizer = NeuronGL1(prog.beta / (n * s))
    reg = build_internal_regularizer(regularizer)
    D = lab.tensor(M.astype(np.float64), dtype=lab.float64)
    U = lab.tensor(np.zeros((h, P)), dtype=lab.float64)  # gates: used only off the training set
    big = 10**9
    if gated:
        internal = ConvexMLP(h, D, U, "einsum", regularizer=reg, c=1)
        solver = RFISTA(ScnnGated(np.zeros((h, P))), max_iters=big, tol=tol)
    else:
        internal = AL_MLP(h, D, U, "einsum", delta=1000, regularizer=reg, c=1)
        solver = AL(ScnnReLU(np.zeros((h, P))), max_primal_iters=big, max_dual_iters=big,
                    tol=tol, constraint_tol=tol)
    metrics = Metrics(metric_freq=big, objective=False, grad_norm=False, time=False)
    procedure = build_optimizer(solver, regularizer, metrics)
    data = (lab.tensor(A / s, dtype=lab.float64),
            lab.tensor(prog.y.reshape(n, 1), dtype=lab.float64))

    def blocks(model):
        w = lab.to_np(model.weights) / s
        return (w[0].T.copy(), None) if gated else (w[0, 0].T.copy(), w[1, 0].T.copy())

    state = {"paused": 0.0, "next": 0.0, "iterations": 0, "model": internal,
             "stop": None, "trace": []}
    start = time.perf_counter()

    def callback(model, X, y):
        state["iterations"] += 1
        state["model"] = model
        now = time.perf_counter() - start - state["paused"]
        if now >= time_limit:
            state["stop"] = "time_limit"
            raise _ScnnStop
        if lower is not None and now >= state["next"]:
            t0 = time.perf_counter()
            acc = scnn_accuracy(prog, *blocks(model), lower)
            state["paused"] += time.perf_counter() - t0
            state["next"] = now + max(0.02, 0.05 * now)
            state["trace"].append((round(now, 3), acc["rel_to_lower"], acc["cone_violation"]))
            if acc["rel_to_lower"] <= target and acc["cone_violation"] <= target:
                state["stop"] = "target"
                raise _ScnnStop
        return model

    exit_status: dict = {}
    try:
        exit_status, model, _ = procedure(get_logger("scnn", False, False, None), internal,
                                          lambda m: m, data, data, build_metrics_tuple(metrics),
                                          callback=callback)
        state["model"] = model
        state["stop"] = "converged" if exit_status.get("success") else "iteration_limit"
    except _ScnnStop:
        pass
    seconds = time.perf_counter() - start - state["paused"]
    V, W = blocks(state["model"])
    out = {"scnn_stop": state["stop"], "seconds": seconds, "iterations": state["iterations"],
           "scnn_tol": tol, "checks_s": state["paused"], "trace": state["trace"],
           **scnn_accuracy(prog, V, W, lower)}
    out["V"], out["W"] = V, W
    return out


# --- one run in its own process ----------------------------------------------------------------
def one_run(row: str, loss: str, K: int, P: int | None, gated: bool, fraction: float,
            backend: str, tol: float, time_limit: float) -> dict:
    start = time.perf_counter()
    prog = program(row, loss, K, P, gated, fraction)
    build = time.perf_counter() - start
    load = os.getloadavg()
    if backend == "scnn":
        return {**scnn_run(prog, tol, time_limit), "build_s": build,
                "load": [load[0], os.getloadavg()[0]]}
    start = time.perf_counter()
    res = prog.solve(backend=backend, tol=tol, time_limit=time_limit)
    out = {"status": res.status, "objective": res.objective, "seconds": time.perf_counter() - start,
           "build_s": build, "lower": res.lower_bound, "rel_gap": res.relative_gap,
           "patterns": prog.patterns.count, "beta": prog.beta,
           "load": [load[0], os.getloadavg()[0]]}  # 1-minute load average, before and after
    if backend == "firstorder" and isinstance(res.raw, dict):
        out["method"] = res.raw.get("method")
        stats = res.raw.get("statistics") or [{}]
        out["handed_over"] = any(s.get("handed_over") for s in stats)
    return out


def scnn_run(prog, tol: float, time_limit: float) -> dict:
    """Our first-order solve (for its certified lower bound; timed apart), then scnn on the
    same program until it is within ``tol`` of that bound (:func:`scnn_solve`). ``finished``:
    it got there (objective and cone violation within ``tol``)."""
    start = time.perf_counter()
    ref = prog.solve(backend="firstorder", tol=tol, time_limit=time_limit)
    ref_s = time.perf_counter() - start
    lower = ref.lower_bound if ref.lower_bound is not None and np.isfinite(ref.lower_bound) \
        else None
    out = scnn_solve(prog, time_limit, lower=lower, target=tol)
    out.pop("V"), out.pop("W")
    out.update(status=out.pop("scnn_stop"), objective=out["obj_program"], lower=lower,
               patterns=prog.patterns.count, beta=prog.beta, ref_status=ref.status,
               ref_seconds=ref_s, ref_rel_gap=ref.relative_gap,
               finished=bool(lower is not None and out["rel_to_lower"] <= tol
                             and out["cone_violation"] <= tol))
    return out


# --- the suites ----------------------------------------------------------------------------------
def sweep_tasks(rows, fractions, losses, backends=("firstorder", "clarabel"), patterns=None,
                outputs=None):
    for row in rows:
        spec = SWEEP_ROWS[row]
        Ps = spec.get("P") if spec["kind"] == "real" else (None,)
        Ps = Ps if isinstance(Ps, tuple) else (Ps,)
        for P in Ps:
            if patterns and P is not None and P not in patterns:
                continue
            for fraction in fractions:
                for loss in spec["losses"]:
                    if loss not in losses:
                        continue
                    for K in spec["K"]:
                        # several outputs of the planted networks are real numbers, of
                        # the real data +-1 one-vs-rest labels, which every loss takes
                        labels = spec["kind"] == "real"
                        if (K > 1 and loss != "squared" and not labels) \
                                or (outputs and K not in outputs):
                            continue
                        gated_opts = (False, True) if spec["gated"] and K == 1 else (False,)
                        for gated in gated_opts:
                            names = ["firstorder"]
                            if spec["clarabel"] and K == 1 and (P is None or P <= 500):
                                names.append("clarabel")
                            if K == 1 and loss == "squared":  # scnn's only loss
                                names.append("scnn")
                            for backend in (b for b in names if b in backends):
                                yield dict(row=row, loss=loss, K=K, P=P, gated=gated,
                                           fraction=fraction, backend=backend,
                                           tol=1e-6, limit=spec["limit"])


def run_task(task: dict, memory_gib: float) -> dict:
    outcome = run_isolated(one_run, task["row"], task["loss"], task["K"], task["P"],
                           task["gated"], task["fraction"], task["backend"], task["tol"],
                           task["limit"],
                           # scnn's run solves twice (ours for the bound, then scnn)
                           time_limit=(2.5 if task["backend"] == "scnn" else 1.5) * task["limit"]
                           + 120,
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
    lines = ["| row | loss | K | P | model | beta/beta_max | firstorder | clarabel | scnn | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    key = lambda r: (r["row"], r["loss"], r["K"], r.get("P"), r["gated"], r["fraction"])
    groups: dict = {}
    for r in rows:
        groups.setdefault(key(r), {})[r["backend"]] = r
    for k, by in groups.items():
        best = min((b.get("objective", np.inf) for n, b in by.items()
                    if n != "scnn" and b.get("status") in ("optimal", "optimal_inaccurate")),
                   default=np.inf)

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

        def scnn_cell(b):
            """scnn's time to our certified accuracy ("exact"), or where it stopped and how
            far from our certified lower bound (and from feasible) it was."""
            if b is None:
                return ""
            if b.get("outcome") != "ok":
                return b.get("outcome", "?")
            if b.get("finished"):
                return f"{b['seconds']:.1f} s, exact"
            s = f"{b['seconds']:.1f} s, {b['status']}"
            if b.get("rel_to_lower") is not None:
                s += f", {b['rel_to_lower']:.1e} off"
            if b.get("cone_violation", 0.0) > b["tol"]:
                s += f", cones violated {b['cone_violation']:.1e}"
            return s

        loads = [x for b in by.values() for x in b.get("load", [])]
        load = f"{min(loads):.1f}-{max(loads):.1f}" if loads else ""
        row, loss, K, P, gated, frac = k
        lines.append(f"| {row} | {loss} | {K} | {P or ''} | {'gated' if gated else 'relu'} | "
                     f"{frac:g} | {cell(by.get('firstorder'))} | {cell(by.get('clarabel'))} | "
                     f"{scnn_cell(by.get('scnn'))} | {load} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=["sweep", "path", "large", "limits"],
                        default="sweep")
    parser.add_argument("--rows", nargs="+", default=DEFAULT_ROWS, choices=list(SWEEP_ROWS))
    parser.add_argument("--fractions", nargs="+", type=float, default=list(FRACTIONS))
    parser.add_argument("--losses", nargs="+", default=list(LOSSES), choices=list(LOSSES))
    scnn = ["scnn"] if importlib.util.find_spec("scnn") else []
    parser.add_argument("--backends", nargs="+", default=["firstorder", "clarabel"] + scnn,
                        choices=["firstorder", "clarabel", "scnn"],
                        help="Clarabel runs only where the row says, scnn on the squared "
                        "loss with one output (see above); scnn by default when installed")
    parser.add_argument("--patterns", nargs="+", type=int, default=None,
                        help="only these P of the real-data rows")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds per run instead of the row's own limit")
    parser.add_argument("--outputs", nargs="+", type=int, default=None,
                        help="only these numbers of outputs K")
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
        if "scnn" in args.backends and not scnn:
            parser.error("--backends scnn needs pyscnn: pip install -e '.[bench-scnn]'")
        for task in sweep_tasks(args.rows, args.fractions, args.losses, args.backends,
                                args.patterns, args.outputs):
            if args.time_limit:
                task["limit"] = args.time_limit
            emit(run_task(task, args.memory_limit))
    elif args.suite == "path":
        for row, limit in (("gauss-1000", 60.0), ("gauss-4000", 300.0)):
            if row not in args.rows:
                continue
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
