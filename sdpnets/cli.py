"""The ``sdpnets`` command: ``sdpnets demo`` and ``sdpnets backends``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .backends import BACKENDS
from .demo import _table, demo_data, run_demo  # noqa: F401  (demo_data: public helper)


def run_backends(out=None) -> None:
    """Print each backend and, when it cannot run here, why."""
    out = sys.stdout if out is None else out
    rows = []
    for name, cls in BACKENDS.items():
        ok, reason = cls().availability()
        rows.append([name, "yes" if ok else "no", reason])
    print(_table(["backend", "available", "why not"], rows), file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sdpnets", description=__doc__)
    parser.add_argument("--version", action="version", version=f"sdpnets {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train deep linear networks to the global optimum")
    demo.add_argument("--seed", type=int, default=0)
    sub.add_parser("backends", help="list solver backends and whether they can run here")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            run_demo(seed=args.seed)
        elif args.command == "backends":
            run_backends()
    except BrokenPipeError:
        # The reader went away (``sdpnets demo | head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
