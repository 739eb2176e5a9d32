"""The ``sdpnets`` command: ``demo``, ``backends`` and ``fit`` (one's own data).

Only this module (with :mod:`sdpnets.demo`) prints. ``fit`` reads ``.npz`` or ``.csv``
data, solves the family's convex program, prints the result with its certificate and
writes the recovered network's weights to ``.npz`` (never a pickle).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import __version__
from .backends import BACKENDS, cvxpy_backend, cvxpy_conic_solvers
from .features.patterns import DEFAULT_SAMPLED_PATTERNS
from .demo import _table, demo_data, demo_report  # noqa: F401  (demo_data: public helper)


def run_demo(seed: int = 0, out=None) -> dict:
    """Print the demo's tables on ``out`` (standard output) as they are ready; return their
    rows."""
    out = sys.stdout if out is None else out
    return demo_report(seed, emit=lambda text: print(text, file=out, flush=True))
from .errors import InvalidInputError, ProblemTooLargeError, SdpnetsError

#: Network families ``sdpnets fit`` trains, and the options each one takes.
FAMILY_OPTIONS: dict[str, tuple[str, ...]] = {
    "relu": ("patterns", "loss", "bias", "intercept", "seed", "prune"),
    "linear_fc": ("depth", "hidden"),
    "linear_cnn": ("kernel_size", "stride", "padding", "pooling"),
    "circular_cnn": ("depth", "hidden"),
}

#: Width of the "why not" column of ``sdpnets backends`` before it wraps.
REASON_WIDTH = 60

DESCRIPTION = """\
Train neural networks to their certified global optimum by solving an equivalent convex
program (Pilanci & Ergen, "Neural Networks are Convex Regularizers", ICML 2020).
"""

MAIN_EPILOG = """\
examples:
  sdpnets demo                               train deep linear networks on every backend
  sdpnets backends                           which solvers can run here, and why not
  sdpnets fit data.npz --family relu --beta 0.1 --out weights.npz

Run 'sdpnets COMMAND --help' for the options of one command.
"""

FIT_DESCRIPTION = """\
Train a network of one family on your own data to its global optimum, print the result
with its certificate (a bracket [lower, upper] around the global optimum and the gap
between them) and, with --out, write the network's weights to a .npz file.

DATA is a .npz file holding the inputs and targets as arrays (named X and y unless
--x-key/--y-key say otherwise), or a .csv file with a header row whose --target column
holds the targets and whose other columns are the inputs. The objective is the paper's:
squared loss 1/2 ||yhat - y||^2 summed over samples plus beta/2 times the squared
Frobenius norms of the penalized layers.
"""

FIT_EPILOG = """\
examples:
  sdpnets fit data.npz --family relu --beta 0.1 --out relu.npz
  sdpnets fit data.csv --target price --family linear_fc --beta-fraction 0.2
  sdpnets fit data.csv --target price --family relu --standardize --intercept --beta-fraction 0.01
  sdpnets fit signals.npz --family linear_cnn --kernel-size 3 --pooling mean --beta 1
  sdpnets fit signals.npz --family circular_cnn --depth 3 --hidden unit_norm --beta 0.5

The weights file holds one array per layer (listed in its 'layers' entry), the network's
class and options, and the certificate; read it with numpy.load(path).
"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the line breaks of descriptions and examples; wrap option help."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=92)


# --- sdpnets backends ----------------------------------------------------------------------


def run_backends(out: IO[str] | None = None) -> None:
    """Print each backend and, when it cannot run here, why (wrapped, not one long row)."""
    out = sys.stdout if out is None else out
    rows: list[list[str]] = []
    for name, cls in BACKENDS.items():
        ok, reason = cls().availability()
        lines = textwrap.wrap(reason, REASON_WIDTH) or [""]
        rows.append([name, "yes" if ok else "no", lines[0]])
        rows.extend(["", "", more] for more in lines[1:])
    rows.append(["firstorder", "yes", "sdpnets' own solvers (families with a composite form)"])
    built_in = {cls.cvxpy_solver for cls in BACKENDS.values()}
    for solver in cvxpy_conic_solvers():
        if solver not in built_in:
            cones = ", ".join(sorted(cvxpy_backend(solver).cones))
            rows.append([f"cvxpy:{solver}", "yes", f"through cvxpy; cones: {cones}"])
    table = _table(["backend", "available", "why not / note"], rows)
    print("\n".join(line.rstrip() for line in table.splitlines()), file=out)


# --- sdpnets fit: data in -------------------------------------------------------------------


def load_data(
    path: str | os.PathLike[str],
    x_key: str = "X",
    y_key: str = "y",
    target: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``(X, y)`` from a ``.npz`` file (arrays ``x_key`` and ``y_key``) or a ``.csv``
    file with a header row (column ``target`` is ``y``, the other columns are ``X``).

    Raises
    ------
    InvalidInputError
        Unknown suffix, missing array or column, or non-numeric entries.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"DATA: no such file: {path}.")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if target is not None:
            raise InvalidInputError("--target names a CSV column; for .npz use --y-key.")
        try:
            archive = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"DATA: cannot read {path} as .npz: {exc}") from exc
        with archive:
            missing = [k for k in (x_key, y_key) if k not in archive.files]
            if missing:
                raise InvalidInputError(
                    f"DATA: {path} has no array named {', '.join(map(repr, missing))}; it "
                    f"holds {', '.join(map(repr, archive.files)) or 'nothing'} "
                    "(choose with --x-key and --y-key)."
                )
            try:
                return archive[x_key], archive[y_key]
            except ValueError as exc:  # object arrays would need pickle
                raise InvalidInputError(f"DATA: {path}: {exc}") from exc
    if suffix == ".csv":
        return _load_csv(path, target)
    raise InvalidInputError(f"DATA must be a .npz or .csv file, got {path.name!r}.")


def _load_csv(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray]:
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    header = [h.strip() for h in header]
    if target is None:
        raise InvalidInputError(
            f"--target is required for CSV data: name the target column (columns of "
            f"{path.name}: {', '.join(header)})."
        )
    if target not in header:
        raise InvalidInputError(
            f"--target {target!r} is not a column of {path.name}; its columns are "
            f"{', '.join(header)}."
        )
    if len(header) < 2:
        raise InvalidInputError(f"DATA: {path.name} needs at least one input column.")
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise InvalidInputError(
            f"DATA: {path.name} must hold numbers below its header row: {exc}"
        ) from exc
    if table.shape[1] != len(header):
        raise InvalidInputError(
            f"DATA: {path.name} has {len(header)} header names but {table.shape[1]} columns."
        )
    col = header.index(target)
    return np.delete(table, col, axis=1), table[:, col]


# --- sdpnets fit: the program ---------------------------------------------------------------


def _family_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The options of ``args.family`` that were given; refuse options of other families."""
    allowed = FAMILY_OPTIONS[args.family]
    given = {k for opts in FAMILY_OPTIONS.values() for k in opts if getattr(args, k) is not None}
    wrong = sorted(given - set(allowed))
    if wrong:
        flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
        verb = "does" if len(wrong) == 1 else "do"
        raise InvalidInputError(
            f"{flags} {verb} not apply to --family {args.family}; it takes "
            f"{', '.join('--' + k.replace('_', '-') for k in allowed)}."
        )
    kwargs = {k: getattr(args, k) for k in allowed if getattr(args, k) is not None}
    kwargs.pop("prune", None)  # an option of the recovery, not of the program
    if "patterns" in kwargs:
        p = kwargs["patterns"]
        kwargs["patterns"] = int(p) if p.isdigit() else p
    if kwargs.get("pooling") == "none":
        kwargs["pooling"] = None
    return kwargs


def default_patterns(X: np.ndarray, bias: bool) -> int | str:
    """``--patterns`` of ``relu`` when not given: ``"exhaustive"`` when every cell of the
    arrangement fits the enumeration bound, else
    :data:`~sdpnets.features.patterns.DEFAULT_SAMPLED_PATTERNS` sampled gates (an upper bound,
    said in the output)."""
    from .features.arrangement import arrangement_info
    from .features.patterns import DEFAULT_MAX_PATTERNS, DEFAULT_SAMPLED_PATTERNS

    A = np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X
    if arrangement_info(A).max_cells <= DEFAULT_MAX_PATTERNS:
        return "exhaustive"
    return DEFAULT_SAMPLED_PATTERNS


def standardize(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X', mean, scale)`` with ``X' = (X - mean) / scale`` column by column (as
    scikit-learn's ``StandardScaler``; a constant column keeps scale 1)."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return (X - mean) / scale, mean, scale


def build_program(family: str, X: np.ndarray, y: np.ndarray, beta: float, **kwargs: Any):
    """The convex program of ``family`` on ``(X, y)`` (see :data:`FAMILY_OPTIONS`)."""
    from . import ConvexCircularCNN, ConvexLinearCNN, ConvexLinearFC, ConvexReLU

    classes = {
        "relu": ConvexReLU,
        "linear_fc": ConvexLinearFC,
        "linear_cnn": ConvexLinearCNN,
        "circular_cnn": ConvexCircularCNN,
    }
    return classes[family](X, y, beta, **kwargs)


def _beta_max(family: str, X: np.ndarray, y: np.ndarray, kwargs: dict[str, Any]) -> float:
    from .certificates import beta_max

    if family == "relu" and not isinstance(kwargs.get("patterns"), str):
        # sampled patterns: the program's own beta_max (exact, cheap)
        return float(build_program(family, X, y, 1.0, **kwargs).program_beta_max())
    keep = {"relu": ("loss", "bias", "intercept"),
            "linear_cnn": ("kernel_size", "stride", "padding", "pooling")}
    options = {k: v for k, v in kwargs.items() if k in keep.get(family, ())}
    if family == "linear_cnn":
        options.setdefault("kernel_size", 3)
    return float(beta_max(X, y, family=family, **options))


@contextmanager
def _progress(label: str, stream: IO[str] | None = None, interval: float = 0.25) -> Iterator[None]:
    """An elapsed-time line on ``stream`` (stderr) while the block runs, only on a terminal."""
    stream = sys.stderr if stream is None else stream
    if not (hasattr(stream, "isatty") and stream.isatty()):
        yield
        return
    done = threading.Event()
    start = time.perf_counter()
    frames = "|/-\\"

    def spin() -> None:
        i = 0
        while not done.wait(interval):
            stream.write(f"\r{frames[i % 4]} {label} {time.perf_counter() - start:6.1f} s")
            stream.flush()
            i += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        stream.write("\r" + " " * (len(label) + 12) + "\r")
        stream.flush()


def network_arrays(net: Any) -> dict[str, np.ndarray]:
    """The network's weights and options as named, pickle-free NumPy arrays.

    ``layers`` lists the weight arrays in order; ``network`` is the class name.
    """
    names = {
        "LinearFC": lambda n: [f"W{i + 1}" for i in range(len(n.weights))],
        "LinearCNN": lambda n: ["filters", "output_weights"],
        "CircularCNN": lambda n: [f"u{i + 1}" for i in range(len(n.weights) - 1)] + ["w"],
        "ReLUMLP": lambda n: (["U", "alpha"] if n.bias is None else ["U", "bias", "alpha"])
        + ([] if n.offset is None else ["offset"]),
        "ReLUCNN": lambda n: ["U", "alpha"],
        "CircularReLUNet": lambda n: ["filters", "W1", "w2"],
    }
    cls = type(net).__name__
    keys = names[cls](net) if cls in names else [f"layer{i}" for i in range(len(net.weights))]
    weights = list(net.weights) + ([] if getattr(net, "offset", None) is None else [net.offset])
    arrays = {k: np.asarray(w, dtype=np.float64) for k, w in zip(keys, weights)}
    arrays["layers"] = np.array(keys)
    arrays["network"] = np.array(cls)
    for attr in ("hidden", "pooling", "output_penalty", "stride", "padding", "kernel_size",
                 "scalar_output"):
        value = getattr(net, attr, "")
        if value is None:
            arrays[attr] = np.array("none")
        elif isinstance(value, (str, bool, int, tuple)) and value != "":
            arrays[attr] = np.array(value)  # options only, never methods or objects
    objects = [k for k, v in arrays.items() if v.dtype == object]
    if objects:  # would need pickle to be read back
        raise InvalidInputError(f"cannot store {', '.join(objects)} without pickle.")
    return arrays


def _fmt(x: float) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.10g}"


def run_fit(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """``sdpnets fit``: solve, print the result and certificate, write the weights."""
    out = sys.stdout if out is None else out
    X, y = load_data(args.data, args.x_key, args.y_key, args.target)
    kwargs = _family_kwargs(args)
    scaling = None
    if args.standardize:
        X, x_mean, x_scale = standardize(X)
        scaling = (x_mean, x_scale)
    if args.family == "relu" and "patterns" not in kwargs:
        kwargs["patterns"] = default_patterns(X, bool(kwargs.get("bias")))
    if args.beta is not None:
        beta = args.beta
        beta_note = ""
    else:
        bmax = _beta_max(args.family, X, y, kwargs)
        beta = args.beta_fraction * bmax
        beta_note = f" ({args.beta_fraction:g} x beta_max = {args.beta_fraction:g} x {bmax:.6g})"
    prog = build_program(args.family, X, y, beta, **kwargs)
    with _progress(f"solving ({args.family}, backend {args.backend})"):
        res = prog.solve(backend=args.backend, tol=args.tol, max_iters=args.max_iters,
                         time_limit=args.time_limit, verbose=args.verbose)
    rows: list[list[str]] = [
        ["data", f"{args.data}: n={X.shape[0]}, X {X.shape}, y {np.shape(y)}"
                 + (", X standardized (the weights take standardized inputs)"
                    if scaling is not None else "")],
        ["family", args.family + (f" ({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
                                  if kwargs else "")],
        ["beta", f"{beta:.6g}{beta_note}"],
        ["backend", res.backend],
        ["status", res.status],
        ["objective", _fmt(res.objective)],
    ]
    net = None
    if res.solved:
        cert = prog.certificate()
        net = prog.network(prune=True) if args.prune else prog.network()
        rows += [
            ["certified bracket", f"[{_fmt(cert.lower_bound)}, {_fmt(cert.upper_bound)}]"],
            ["absolute gap", f"{cert.gap:.3e}  (upper - lower)"],
            ["relative gap", f"{cert.relative_gap:.3e}  (gap / |upper|)"],
            ["network", f"{type(net).__name__}, weights "
                        + ", ".join("x".join(map(str, np.shape(w))) for w in net.weights)
                        + ("" if getattr(net, "offset", None) is None
                           else f", offset {np.round(net.offset, 6).tolist()}")],
        ]
        if getattr(cert, "kind", "exact") != "exact":
            rows.append(["certificate", f"{cert.kind}: the dual norm was bounded, not computed "
                                        "exactly; the lower bound holds but may be loose"])
        if not res.exact:
            rows.append(["note", "sampled patterns: the convex optimum is an upper bound on "
                                 "the global optimum, which the bracket encloses"])
    rows += [["solve time", f"{res.solve_time:.3f} s (compile {res.compile_time:.3f} s)"]]
    if res.message:
        rows.append(["message", textwrap.shorten(res.message, 200)])
    if net is not None and args.out is not None:
        arrays = network_arrays(net)
        arrays.update(
            family=np.array(args.family), beta=np.array(beta), status=np.array(res.status),
            backend=np.array(res.backend), objective=np.array(res.objective),
            lower_bound=np.array(cert.lower_bound), upper_bound=np.array(cert.upper_bound),
            relative_gap=np.array(cert.relative_gap), sdpnets_version=np.array(__version__),
        )
        if scaling is not None:
            arrays.update(x_mean=scaling[0], x_scale=scaling[1])
        path = str(args.out) if str(args.out).endswith(".npz") else f"{args.out}.npz"
        np.savez(path, **arrays)  # type: ignore[arg-type]
        rows.append(["weights", f"written to {path}"])
    width = max(len(key) for key, _ in rows)
    print("\n".join(f"{key:<{width}}  {value}" for key, value in rows), file=out)
    if net is None:
        print(f"\nNo network: the solve ended with status {res.status!r}.", file=sys.stderr)
        return 1
    return 0


# --- the parser -------------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _add_fit_parser(sub: Any) -> None:
    fit = sub.add_parser(
        "fit", help="train a network on your own .npz or .csv data, globally",
        description=FIT_DESCRIPTION, epilog=FIT_EPILOG, formatter_class=_HelpFormatter,
    )
    fit.add_argument("data", metavar="DATA", help="a .npz or .csv file")
    fit.add_argument("--family", required=True, choices=sorted(FAMILY_OPTIONS),
                     help="network family (required)")
    strength = fit.add_mutually_exclusive_group(required=True)
    strength.add_argument("--beta", type=_positive_float,
                          help="weight-decay strength, > 0")
    strength.add_argument("--beta-fraction", type=_positive_float, metavar="F",
                          help="use beta = F * beta_max(X, y) (above beta_max the zero "
                               "network is optimal)")
    data = fit.add_argument_group("data")
    data.add_argument("--x-key", default="X", help="array of inputs in a .npz (default: X)")
    data.add_argument("--y-key", default="y", help="array of targets in a .npz (default: y)")
    data.add_argument("--target", metavar="COLUMN",
                      help="the target column of a .csv (required for CSV)")
    data.add_argument("--standardize", action="store_true",
                      help="scale each column of X to mean 0 and variance 1 first (as "
                           "scikit-learn's StandardScaler); the weights then take "
                           "standardized inputs, and the weights file holds x_mean and "
                           "x_scale")
    solver = fit.add_argument_group("solver")
    solver.add_argument("--backend", default="auto",
                        help="auto, clarabel, scs, mosek or firstorder (default: auto, the "
                             "choice of solve(backend='auto') for the family: sdpnets' own "
                             "first-order solver where it applies (linear_fc, linear_cnn, "
                             "circular_cnn), falling back to a conic solver on a stall; "
                             "otherwise MOSEK when licensed, else Clarabel; the output names "
                             "the backend that ran)")
    solver.add_argument("--tol", type=_positive_float, default=1e-8,
                        help="solver tolerance (default: 1e-8)")
    solver.add_argument("--max-iters", type=int, help="iteration cap")
    solver.add_argument("--time-limit", type=_positive_float, metavar="SECONDS",
                        help="stop the solver after this many seconds")
    solver.add_argument("--verbose", action="store_true", help="print the solver's log")
    fam = fit.add_argument_group("family options (each family takes only its own)")
    fam.add_argument("--depth", type=int, help="linear_fc, circular_cnn: layers (default: 2)")
    fam.add_argument("--hidden",
                     help="linear_fc: weight_decay (default) or spectral; circular_cnn: "
                          "weight_decay (default) or unit_norm. With depth >= 3 only the "
                          "norm-bounded variants are convex (and linear_fc with one output)")
    fam.add_argument("--kernel-size", type=int, help="linear_cnn: filter length (default: 3)")
    fam.add_argument("--stride", type=int, help="linear_cnn: stride (default: 1)")
    fam.add_argument("--padding", type=int, help="linear_cnn: zero padding (default: 0)")
    fam.add_argument("--pooling", choices=["none", "sum", "mean"],
                     help="linear_cnn: pool the filter outputs (default: none)")
    fam.add_argument("--patterns",
                     help="relu: 'exhaustive' (exact) or a number of sampled gates (an upper "
                          "bound). Default: exhaustive when every cell of the data fits "
                          f"the enumeration bound, else {DEFAULT_SAMPLED_PATTERNS} sampled "
                          "gates")
    fam.add_argument("--loss", choices=["squared", "logistic", "hinge"],
                     help="relu: the loss (default: squared; logistic and hinge need "
                          "labels -1/+1)")
    fam.add_argument("--bias", action="store_const", const=True,
                     help="relu: a (penalized) first-layer bias")
    fam.add_argument("--intercept", action="store_const", const=True,
                     help="relu: an unpenalized output offset (stored as 'offset')")
    fam.add_argument("--seed", type=_seed, help="relu: seed of the sampled gates (default: 0)")
    fam.add_argument("--prune", action="store_const", const=True,
                     help="relu: Caratheodory-prune the network to at most n + 1 neurons "
                          "(same objective)")
    fit.add_argument("--out", metavar="WEIGHTS.npz",
                     help="write the network's weights and certificate here (.npz)")
    fit.set_defaults(handler=run_fit)


def _seed(text: str) -> int:
    """A ``--seed`` value: an integer >= 0 (numpy's seeds), refused by argparse otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``sdpnets`` argument parser (one sub-parser per command)."""
    parser = argparse.ArgumentParser(
        prog="sdpnets", description=DESCRIPTION, epilog=MAIN_EPILOG,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sdpnets {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="train deep linear networks to the global optimum",
        description="Train 2- and 3-layer linear networks on seeded data to their global\n"
                    "optimum on every backend, then by gradient descent from 5 random starts,\n"
                    "and print how far each is from the certified optimum.",
        epilog="example:\n  sdpnets demo --seed 3", formatter_class=_HelpFormatter,
    )
    demo.add_argument("--seed", type=_seed, default=0,
                      help="seed of the random data and of the gradient-descent starts "
                           "(default: 0)")
    demo.set_defaults(handler=lambda args: run_demo(seed=args.seed) and 0)
    backends = sub.add_parser(
        "backends", help="list solver backends and whether they can run here",
        description="List the solver backends and, for each one that cannot run here, why.",
        epilog="example:\n  sdpnets backends", formatter_class=_HelpFormatter,
    )
    backends.set_defaults(handler=lambda args: run_backends())
    _add_fit_parser(sub)
    from .bench.cli import add_bench_parser  # the harness, not imported by the core

    add_bench_parser(sub)  # `sdpnets bench` and `sdpnets bench report`
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sdpnets`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.handler(args)
    except BrokenPipeError:
        # The reader went away (``sdpnets demo | head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except SdpnetsError as exc:
        hint = ""
        if isinstance(exc, ProblemTooLargeError) and getattr(args, "family", None) == "relu":
            hint = (" From the command line: --patterns 1000 (sampled gates), or leave "
                    "--patterns out (sampled gates when the cells are too many).")
        print(f"sdpnets {args.command}: error: {exc}{hint}", file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
