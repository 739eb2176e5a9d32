"""Score a solver's results on exported instances against their certified optima.

``sdpnets bench export --format cbf|sdpa DIR`` writes the instances and ``DIR/manifest.json``
(each file's optimum with its certified bracket ``[lower_bound, upper_bound]``, in the file's
own units). Run any solver on the files, collect what it found in a results file, and:

    python benchmarks/score_against_manifest.py DIR results.json [--tol 1e-6]
                                                [--time-limit 120] [--shift 1]

The results file is JSON, ``{"<file name>": {"objective": value, "seconds": t}, ...}`` (or
``{"<file name>": value}``), or CSV with a header row ``file,objective[,seconds]``. A value
counts as solved when it lies in the bracket widened by ``tol * max(1, |bound|)``; a value
outside it is ``wrong``, a file without a value ``missing``. The summary gives, per fraction
of beta_max, the solved count and the shifted geometric mean of the seconds (an unsolved
instance at ``--time-limit``), the conventions of ``sdpnets bench report``. The script needs
only the Python standard library.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from pathlib import Path


def load_results(path: Path) -> dict[str, dict[str, float]]:
    """``{file name: {"objective": value, "seconds": t or None}}`` from JSON or CSV."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as f:
            return {row["file"]: {"objective": float(row["objective"]),
                                  "seconds": float(row["seconds"]) if row.get("seconds")
                                  else None}
                    for row in csv.DictReader(f)}
    raw = json.loads(path.read_text())
    out = {}
    for name, value in raw.items():
        if isinstance(value, dict):
            out[name] = {"objective": float(value["objective"]),
                         "seconds": value.get("seconds")}
        else:
            out[name] = {"objective": float(value), "seconds": None}
    return out


def verdict(entry: dict, result: dict | None, tol: float) -> str:
    """``solved``, ``wrong``, ``missing`` or ``no reference`` (no certified bracket)."""
    lo, hi = entry.get("lower_bound"), entry.get("upper_bound")
    if lo is None or hi is None:
        return "no reference"
    if result is None or not math.isfinite(result["objective"]):
        return "missing"
    value = result["objective"]
    ok = lo - tol * max(1.0, abs(lo)) <= value <= hi + tol * max(1.0, abs(hi))
    return "solved" if ok else "wrong"


def shifted_geometric_mean(values: list[float], shift: float) -> float:
    if not values:
        return math.nan
    return math.exp(sum(math.log(v + shift) for v in values) / len(values)) - shift


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="the export's directory")
    parser.add_argument("results", type=Path, help="the solver's results (JSON or CSV)")
    parser.add_argument("--tol", type=float, default=1e-6,
                        help="relative slack around the bracket (default 1e-6)")
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="seconds an unsolved instance counts as (default 120)")
    parser.add_argument("--shift", type=float, default=1.0,
                        help="shift of the geometric mean, seconds (default 1)")
    args = parser.parse_args(argv)
    manifest = json.loads((args.directory / "manifest.json").read_text())
    results = load_results(args.results)
    by_fraction: dict[float, list[tuple[str, float]]] = defaultdict(list)
    print(f"{'file':58s} {'verdict':12s} {'value':>16s}  bracket")
    for entry in manifest:
        if not entry.get("file"):
            continue
        result = results.get(entry["file"])
        v = verdict(entry, result, args.tol)
        value = "-" if result is None else f"{result['objective']:.10g}"
        bracket = ("-" if entry.get("lower_bound") is None else
                   f"[{entry['lower_bound']:.10g}, {entry['upper_bound']:.10g}]")
        print(f"{entry['file']:58s} {v:12s} {value:>16s}  {bracket}")
        if v == "no reference":
            continue
        seconds = result.get("seconds") if result else None
        t = float(seconds) if v == "solved" and seconds is not None else args.time_limit
        by_fraction[entry["beta_fraction"]].append((v, t))
    print(f"\nsolved = within the certified bracket +- {args.tol:g} x max(1, |bound|); "
          f"time: shifted geometric mean (shift {args.shift:g} s), unsolved at "
          f"{args.time_limit:g} s")
    print(f"{'beta/beta_max':>14s} {'solved':>10s} {'wrong':>6s} {'missing':>8s} {'sgm s':>9s}")
    for fraction in sorted(by_fraction, reverse=True):
        runs = by_fraction[fraction]
        count = {k: sum(v == k for v, _ in runs) for k in ("solved", "wrong", "missing")}
        sgm = shifted_geometric_mean([t for _, t in runs], args.shift)
        print(f"{fraction:>14g} {count['solved']:>6d}/{len(runs):<3d} {count['wrong']:>6d} "
              f"{count['missing']:>8d} {sgm:>9.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
