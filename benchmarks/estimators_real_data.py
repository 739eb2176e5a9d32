"""sdpnets' scikit-learn estimators on scikit-learn's bundled datasets, beside the usual baselines.

For breast_cancer, wine, digits (10 classes), digits 3-vs-8 and diabetes, on one
stratified 75/25 split (``random_state=0``), every estimator sits in a
``make_pipeline(StandardScaler(), estimator)`` with its default settings, next to
``MLPClassifier`` / ``MLPRegressor``, ``LogisticRegression`` / ``Ridge`` and ``SVC`` / ``SVR``
(scikit-learn defaults; the MLPs with ``max_iter=2000`` so that they converge). Columns:

* ``fit s``: wall seconds of ``fit`` (what the user waits for), and ``cpu s``: the CPU
  seconds of the process during it (every thread; with one BLAS thread,
  ``OPENBLAS_NUM_THREADS=1``, what the fit costs regardless of other load on the machine);
* ``test``: accuracy, or R^2 for diabetes;
* ``program gap``: ``optimality_gap_``, the certified relative gap of the program that was
  solved (free: the solver's own certificate);
* ``global gap``: ``certificate_.relative_gap``, the bracket of the global optimum over
  *all* networks (``exact`` or ``relaxation``, see ``certificate_``), and the seconds its
  first access took.

    python benchmarks/estimators_real_data.py                  # the table (markdown)
    python benchmarks/estimators_real_data.py --datasets wine --estimators relu relu-cv
    python benchmarks/estimators_real_data.py --sweep patterns # test score, fit s against P
    python benchmarks/estimators_real_data.py --sweep fraction # ... against beta / beta_max
    python benchmarks/estimators_real_data.py --sweep loss     # the classifiers' losses
    python benchmarks/estimators_real_data.py --sweep gates    # bisector vs Gaussian gates,
                                                               # seeds 0-2 (--values: seeds)

Each row is also printed as one JSON line on stderr (``--json FILE`` appends them to a
file). Run it with ``nice`` on a shared machine; the README states the load it saw.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from sdpnets.sklearn import (
    ConvexCircularCNNClassifier,
    ConvexCircularCNNRegressor,
    ConvexLinearClassifier,
    ConvexLinearClassifierCV,
    ConvexLinearRegressor,
    ConvexLinearRegressorCV,
    ConvexReLUClassifier,
    ConvexReLUClassifierCV,
    ConvexReLURegressor,
    ConvexReLURegressorCV,
)


def digits_3_vs_8():
    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, (3, 8))
    return X[keep], y[keep]


DATASETS = {
    "breast_cancer": (lambda: load_breast_cancer(return_X_y=True), "classification"),
    "wine": (lambda: load_wine(return_X_y=True), "classification"),
    "digits": (lambda: load_digits(return_X_y=True), "classification"),
    "digits 3-vs-8": (digits_3_vs_8, "classification"),
    "diabetes": (lambda: load_diabetes(return_X_y=True), "regression"),
}

#: name -> (classifier, regressor) factories taking keyword overrides
ESTIMATORS = {
    "relu": (ConvexReLUClassifier, ConvexReLURegressor),
    "relu-cv": (ConvexReLUClassifierCV, ConvexReLURegressorCV),
    "linear": (ConvexLinearClassifier, ConvexLinearRegressor),
    "linear-cv": (ConvexLinearClassifierCV, ConvexLinearRegressorCV),
    "circular": (ConvexCircularCNNClassifier, ConvexCircularCNNRegressor),
    "MLP": (lambda: MLPClassifier(max_iter=2000, random_state=0),
            lambda: MLPRegressor(max_iter=2000, random_state=0)),
    "LogisticRegression/Ridge": (LogisticRegression, Ridge),
    "SVC/SVR": (SVC, SVR),
}
OURS = ("relu", "relu-cv", "linear", "linear-cv", "circular")


def split(name):
    load, task = DATASETS[name]
    X, y = load()
    strat = y if task == "classification" else None
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=strat) + [task]


def cpu_seconds():
    """CPU seconds of this process and of its children that ended (the worker processes
    a vector-output ReLU solve forks are reaped when it ends)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(dataset, label, make, **params):
    Xtr, Xte, ytr, yte, task = split(dataset)
    est = make(**params) if params else make()
    pipe = make_pipeline(StandardScaler(), est)
    row = {"dataset": dataset, "estimator": label, "params": {k: repr(v) for k, v in params.items()}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0, c0 = time.perf_counter(), cpu_seconds()
        try:
            pipe.fit(Xtr, ytr)
        except Exception as exc:  # noqa: BLE001 - a failed fit is a row of the table
            row.update(fit_s=time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}"[:300])
            return row
        row["fit_s"] = time.perf_counter() - t0
        row["cpu_s"] = cpu_seconds() - c0
        row["test"] = float(pipe.score(Xte, yte))
    model = pipe[-1]
    if hasattr(model, "optimality_gap_"):
        row["program_gap"] = model.optimality_gap_
        row["beta"] = model.beta_
        row["backend"] = model.result_.backend
        row["status"] = model.result_.status
        if hasattr(model, "best_fraction_"):
            row["best_fraction"] = model.best_fraction_
        if not NO_CERTIFICATE:
            t0 = time.perf_counter()
            cert = model.certificate_
            row["cert_s"] = time.perf_counter() - t0
            if cert is not None:
                row["global_gap"] = cert.relative_gap
                row["kind"] = cert.kind
    return row


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def markdown(rows):
    lines = ["| dataset | estimator | fit s | cpu s | test | program gap | global gap (kind, s) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['dataset']} | {r['estimator']} | {r['fit_s']:.1f} | | failed: "
                         f"{r['error'][:60]} | | |")
            continue
        glob = "-"
        if "global_gap" in r:
            glob = f"{r['global_gap']:.2g} ({r['kind']}, {r['cert_s']:.0f} s)"
        elif "cert_s" in r:
            glob = f"none ({r['cert_s']:.0f} s)"
        lines.append(f"| {r['dataset']} | {r['estimator']} | {r['fit_s']:.1f} | "
                     f"{r['cpu_s']:.1f} | {r['test']:.3f} | "
                     f"{fmt(r.get('program_gap'), '.1e')} | {glob} |")
    return "\n".join(lines)


def emit(row, out):
    line = json.dumps(row)
    print(line, file=sys.stderr, flush=True)
    if out:
        with open(out, "a") as fh:
            fh.write(line + "\n")


NO_CERTIFICATE = False


def main(argv=None) -> int:
    global NO_CERTIFICATE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS),
                        choices=list(ESTIMATORS))
    parser.add_argument("--sweep", choices=("patterns", "fraction", "loss", "gates"))
    parser.add_argument("--values", nargs="+", type=float,
                        help="the swept values (default: P in 16..256, fractions 0.1..0.001)")
    parser.add_argument("--backend", help="override the estimators' backend (experiments)")
    parser.add_argument("--no-certificate", action="store_true",
                        help="skip certificate_ (its first access can take long)")
    parser.add_argument("--json", help="append the rows to this file as JSON lines")
    args = parser.parse_args(argv)
    NO_CERTIFICATE = args.no_certificate or args.sweep is not None
    extra = {"backend": args.backend} if args.backend else {}
    rows = []
    for dataset in args.datasets:
        task = DATASETS[dataset][1]
        pick = 0 if task == "classification" else 1
        if args.sweep == "patterns":
            for P in (args.values or (16, 32, 64, 128, 256)):
                P = int(P)
                rows.append(run(dataset, f"relu P={P}", ESTIMATORS["relu"][pick],
                                patterns=P, **extra))
                emit(rows[-1], args.json)
            continue
        if args.sweep == "fraction":
            for frac in (args.values or (0.1, 0.03, 0.01, 0.003, 0.001)):
                for name in ("relu", "linear"):
                    est = ESTIMATORS[name][pick]
                    est = type(est()) if not isinstance(est, type) else est
                    model = est(**extra)
                    model._beta_fraction = frac  # the default's fraction, for this run only
                    rows.append(run(dataset, f"{name} fraction={frac}", lambda m=model: m))
                    emit(rows[-1], args.json)
            continue
        if args.sweep == "gates":
            for gates in ("bisectors", "gaussian"):
                for seed in (args.values or (0, 1, 2)):
                    rows.append(run(dataset, f"relu gates={gates} seed={int(seed)}",
                                    ESTIMATORS["relu"][pick], gates=gates, seed=int(seed),
                                    **extra))
                    emit(rows[-1], args.json)
            continue
        if args.sweep == "loss":
            if task != "classification":
                continue
            for loss in ("squared", "logistic", "hinge", "softmax"):
                rows.append(run(dataset, f"relu loss={loss}", ConvexReLUClassifier,
                                loss=loss, **extra))
                emit(rows[-1], args.json)
            continue
        for name in args.estimators:
            params = extra if name in OURS else {}
            rows.append(run(dataset, name, ESTIMATORS[name][pick], **params))
            emit(rows[-1], args.json)
    print(markdown(rows))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n(load average at the end: {load:.1f}; {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
