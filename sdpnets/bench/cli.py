"""sdpnets bench: run a resumable benchmark sweep, report on its results, or export the
instances with their certified optima.

Every run (instance, backend, settings) goes in its own process under a time and a memory
limit and appends one JSON line to the results file as it finishes; rerunning the same
command skips the runs already stored, so a killed sweep resumes where it stopped. Backends
are clarabel, scs, mosek, firstorder, and cvxpy:NAME for any conic solver cvxpy can call
here (cvxpy:ECOS, cvxpy:CVXOPT, ...).

examples:
  sdpnets bench --preset small --out results.jsonl
  sdpnets bench --preset tiny --out r.jsonl --families linear_fc relu_sampled \\
                --backends clarabel scs cvxpy:ECOS --tol 1e-4 1e-8 --time-limit 60
  sdpnets bench --preset small --beta-fractions 0.5 0.01 --out r.jsonl
  sdpnets bench report results.jsonl --plot plots/
  sdpnets bench export --preset small --format cbf instances/
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import SdpnetsError
from .instances import BETA_FRACTIONS, DATA_KINDS, FAMILIES, PRESETS
from .report import ACCURACY_FACTOR, DEFAULT_SHIFT

__all__ = ["add_bench_parser", "run_bench"]


def add_bench_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand (and its ``report`` subcommand) to ``sub``."""
    bench = sub.add_parser(
        "bench",
        help="benchmark solvers on instance families (resumable sweep; 'bench report FILE')",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--preset", choices=PRESETS, default="small",
                       help="instance sizes (default: small)")
    bench.add_argument("--out", metavar="FILE",
                       help="JSON-lines results file (appended to; a rerun resumes)")
    bench.add_argument("--families", nargs="+", metavar="NAME",
                       help=f"instance families (default: all of {', '.join(FAMILIES)})")
    bench.add_argument("--backends", nargs="+", metavar="NAME",
                       help="backends (default: every available conic backend, firstorder, "
                            "and ridge_path for its family)")
    bench.add_argument("--seeds", nargs="+", type=int, metavar="N",
                       help="data seeds (default: the preset's)")
    bench.add_argument("--data", nargs="+", choices=DATA_KINDS, metavar="KIND",
                       help=f"data kinds among {', '.join(DATA_KINDS)} (default: the preset's)")
    bench.add_argument("--conditioning", nargs="+", type=float, default=[1e4], metavar="K",
                       help="cond(X) of the illcond data (default: 1e4)")
    bench.add_argument("--time-limit", nargs="+", type=float, metavar="S",
                       help="seconds per run given to the solver; the harness kills a run "
                            "at max(S + 2, 1.25 S) (default: the preset's)")
    bench.add_argument("--memory-limit", nargs="+", type=float, metavar="GB",
                       help="GiB of memory a run may add; killed past it (default: none)")
    bench.add_argument("--tol", nargs="+", type=float, metavar="T",
                       help="solver tolerance(s) (default: 1e-6)")
    bench.add_argument("--beta-fractions", nargs="+", type=float, metavar="F",
                       help="beta as fractions of beta_max (default: the preset's; small and "
                            f"larger: {' '.join(f'{f:g}' for f in BETA_FRACTIONS)}; tiny: 0.1)")
    bench.add_argument("--warm-start", choices=("no", "yes", "both"), default="no",
                       help="'yes': solve at 2 beta first, then at beta warm-started")
    bench.add_argument("--threads", nargs="+", type=int, metavar="N",
                       help="BLAS/solver threads per run (default: unlimited)")
    bench.add_argument("--jobs", type=int, default=1,
                       help="runs at a time (timings compare only with 1; default 1)")
    bench.add_argument("--scheduler", metavar="ADDRESS",
                       help="run the sweep's runs as Dask tasks on this scheduler "
                       "('tcp://host:8786', or 'local' for a 2-worker LocalCluster); each run "
                       "keeps its own limits and rows are appended here as they arrive "
                       "(needs the dask extra)")
    bench.add_argument("--quiet", action="store_true", help="no progress bar, no report")
    bench.add_argument("--dry-run", action="store_true",
                       help="print how many runs are planned and pending, run nothing")
    bench.add_argument("--list", action="store_true",
                       help="list the instance families, their data and sizes, and exit")
    bench_sub = bench.add_subparsers(dest="bench_command", metavar="report|export")
    report = bench_sub.add_parser(
        "report", help="summarize a results file",
        description="Solved counts, failures by kind, shifted geometric means of time and "
                    "the accuracy of every backend; --plot writes performance profiles.",
    )
    report.add_argument("results", metavar="FILE", help="JSON-lines results file")
    report.add_argument("--plot", metavar="DIR",
                        help="write profiles.png/.svg (and convergence.png/.svg) here")
    report.add_argument("--shift", type=float, default=DEFAULT_SHIFT,
                        help=f"shift of the geometric mean in seconds (default {DEFAULT_SHIFT:g})")
    report.add_argument("--factor", type=float, default=ACCURACY_FACTOR,
                        help="an optimal run whose certified relative gap exceeds factor x "
                             f"tol is inaccurate (default {ACCURACY_FACTOR:g})")
    report.add_argument("--backends", nargs="+", metavar="NAME", dest="report_backends",
                        help="compare only these backends")
    report.add_argument("--by-family", action="store_true",
                        help="also a table of solved counts and times per family")
    _add_export_parser(bench_sub)
    bench.set_defaults(handler=lambda args: run_bench(args, bench))
    return bench


def _add_export_parser(bench_sub) -> None:
    from .formats import FORMATS

    export = bench_sub.add_parser(
        "export", help="write a preset's instances as CBF or SDPA files with manifest.json",
        description="Write every instance of a preset (families x data x seeds x beta "
                    "fractions) to DIR in the Conic Benchmark Format (.cbf: MOSEK, CBLIB) or "
                    "SDPA sparse format (.dat-s: SDPA, CSDP, SDPT3), and DIR/manifest.json: "
                    "per instance its family, sizes, beta and fraction of beta_max, the file, "
                    "the optimum of the program as written with its certified bracket, and "
                    "the offset and scale that map it to the training objective "
                    "(training = offset + scale * file value).",
    )
    export.add_argument("directory", metavar="DIR", help="where the files go (created)")
    export.add_argument("--format", required=True, choices=FORMATS, dest="file_format",
                        help="cbf or sdpa (SDPA: programs without exponential cones; each "
                             "second-order cone becomes an arrow-shaped PSD block)")
    export.add_argument("--preset", choices=PRESETS, default="small", dest="export_preset",
                        help="instance sizes (default: small)")
    export.add_argument("--families", nargs="+", metavar="NAME", dest="export_families",
                        help="instance families (default: all)")
    export.add_argument("--seeds", nargs="+", type=int, metavar="N", dest="export_seeds",
                        help="data seeds (default: the preset's)")
    export.add_argument("--data", nargs="+", choices=DATA_KINDS, metavar="KIND",
                        dest="export_data", help="data kinds (default: the preset's)")
    export.add_argument("--conditioning", nargs="+", type=float, default=[1e4], metavar="K",
                        dest="export_conditioning", help="cond(X) of the illcond data")
    export.add_argument("--beta-fractions", nargs="+", type=float, metavar="F",
                        dest="export_fractions",
                        help="beta as fractions of beta_max (default: the preset's)")
    export.add_argument("--backend", default="auto", dest="export_backend",
                        help="backend of the certifying solves (default: auto)")
    export.add_argument("--tol", type=float, default=None, dest="export_tol",
                        help="tolerance of the certifying solves (default: 1e-8)")
    export.add_argument("--time-limit", type=float, metavar="S", dest="export_time_limit",
                        help="seconds per certifying solve (default: the preset's)")
    export.add_argument("--quiet", action="store_true", dest="export_quiet",
                        help="no line per instance")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    st: dict[str, Any] = {}
    if args.tol:
        st["tol"] = args.tol
    if args.time_limit:
        st["time_limit"] = args.time_limit
    if args.memory_limit:
        st["memory_limit_gb"] = args.memory_limit
    if args.threads:
        st["threads"] = args.threads
    st["warm_start"] = {"no": False, "yes": True, "both": [False, True]}[args.warm_start]
    return st


def _report(args: argparse.Namespace, out) -> int:
    from .report import format_summary, plot_convergence, plot_profiles, summarize
    from .store import read_rows

    rows = read_rows(args.results)
    summary = summarize(rows, shift=args.shift, factor=args.factor,
                        backends=args.report_backends)
    print(format_summary(summary, by_family=args.by_family), file=out)
    if args.plot:
        paths = plot_profiles(summary, args.plot) + plot_convergence(rows, args.plot)
        print("\nwrote " + ", ".join(str(p) for p in paths), file=out)
    return 0


def _list_families(out) -> int:
    from .report import _table

    def show(v: Any) -> str:
        return "x".join(map(str, v)) if isinstance(v, tuple) else str(v)

    rows = []
    for fam in FAMILIES.values():
        for i, (name, dims) in enumerate(fam.sizes.items()):
            size = " ".join(f"{k}={show(v)}" for k, v in dims.items() if k != "features")
            rows.append([fam.name if i == 0 else "", " ".join(fam.data) if i == 0 else "",
                         name, size])
    print(_table(["family", "data", "preset", "dimensions"], rows), file=out)
    return 0


def _sweep(args: argparse.Namespace, parser: argparse.ArgumentParser, out) -> int:
    from .report import format_summary, summarize
    from .runner import plan, run_key, sweep
    from .store import ResultsStore

    if args.list:
        return _list_families(out)
    if not args.out:
        parser.error("--out FILE is required for a sweep (or use 'bench report FILE').")
    data = None
    if args.data:
        data = [(k, c) for k in args.data for c in (args.conditioning if k == "illcond" else [None])]
    tasks = plan(args.preset, args.families, args.backends, args.seeds, data, _settings(args),
                 args.beta_fractions)
    with ResultsStore(args.out) as store:
        pending = sum(run_key(t) not in store for t in tasks)
        if args.dry_run:
            print(f"{len(tasks)} runs planned, {pending} not yet in {args.out}.", file=out)
            return 0
        try:
            if args.scheduler:
                from .cluster import dask_executor

                with dask_executor(args.scheduler) as executor:
                    stats = sweep(tasks, store, progress=False if args.quiet else None,
                                  executor=executor)
            else:
                stats = sweep(tasks, store, jobs=args.jobs,
                              progress=False if args.quiet else None)
        except KeyboardInterrupt:
            print(f"\ninterrupted; the rows so far are in {args.out}: rerun the same command "
                  "to resume.", file=sys.stderr)
            return 130
        rows = store.rows()
    print(f"{stats['ran']} runs done, {stats['skipped']} already in {args.out} "
          f"({stats['planned']} planned).", file=out)
    if not args.quiet:
        keys = {run_key(t) for t in tasks}
        print("", file=out)
        print(format_summary(summarize([r for r in rows if r.get("key") in keys])), file=out)
    return 0


def _export(args: argparse.Namespace, out) -> int:
    from .export import EXPORT_TOL, MANIFEST, export

    data = None
    if args.export_data:
        data = [(k, c) for k in args.export_data
                for c in (args.export_conditioning if k == "illcond" else [None])]

    def progress(done: int, total: int, entry: dict) -> None:
        if args.export_quiet:
            return
        if entry.get("skipped"):
            what = f"skipped: {entry['skipped']}"
        else:
            cert = entry.get("certified_by", {})
            what = f"{entry['file']}  certified by {cert.get('backend')}: {cert.get('status')}"
        label = (f"{entry['family']}/{entry['data']}/s{entry['seed']}/"
                 f"b{entry['beta_fraction']:g}")
        print(f"[{done}/{total}] {label}  {what}", file=out, flush=True)

    manifest = export(
        args.export_preset, args.file_format, args.directory, families=args.export_families,
        seeds=args.export_seeds, data=data, fractions=args.export_fractions,
        backend=args.export_backend,
        tol=EXPORT_TOL if args.export_tol is None else args.export_tol,
        time_limit=args.export_time_limit, progress=progress,
    )
    files = sum(e.get("file") is not None for e in manifest)
    certified = sum(e.get("lower_bound") is not None for e in manifest)
    print(f"{files} files and {args.directory}/{MANIFEST} written ({len(manifest)} instances, "
          f"{certified} with a certified optimum, {len(manifest) - files} skipped).", file=out)
    return 0


def run_bench(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None,
              out=None) -> int:
    """Run ``sdpnets bench`` (or ``bench report``, ``bench export``) from parsed arguments."""
    out = sys.stdout if out is None else out
    parser = parser or argparse.ArgumentParser(prog="sdpnets bench")
    try:
        if getattr(args, "bench_command", None) == "report":
            return _report(args, out)
        if getattr(args, "bench_command", None) == "export":
            return _export(args, out)
        return _sweep(args, parser, out)
    except SdpnetsError as exc:
        print(f"sdpnets bench: error: {exc}", file=sys.stderr)
        return 2
