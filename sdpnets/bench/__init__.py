"""Benchmark harness: instance families x backends x settings, run in isolated processes.

``sdpnets bench --preset small --out results.jsonl`` runs a resumable sweep and
``sdpnets bench report results.jsonl --plot DIR`` summarizes it (see :mod:`.cli`). Nothing
in the core imports this package.

Modules: :mod:`.instances` (the instance families and size presets), :mod:`.runner` (one
task -> one row, in a child process under time and memory limits; the sweep driver),
:mod:`.store` (the JSON-lines results file), :mod:`.report` (counts, shifted geometric
means, performance profiles).
"""

from .instances import FAMILIES, PRESETS, Family, Instance, build_program, register_family
from .report import shifted_geometric_mean, summarize
from .runner import plan, run_key, run_task, solve_task, sweep
from .store import ResultsStore, read_rows

__all__ = [
    "FAMILIES",
    "PRESETS",
    "Family",
    "Instance",
    "build_program",
    "register_family",
    "plan",
    "run_key",
    "run_task",
    "solve_task",
    "sweep",
    "ResultsStore",
    "read_rows",
    "shifted_geometric_mean",
    "summarize",
]
