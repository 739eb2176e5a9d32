"""Memory sizes as users write them, and the memory this machine can give now.

Used by the memory guard (:mod:`sdpnets.solving.memory`) and by :mod:`sdpnets.solving.isolation`.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["parse_memory", "available_memory", "format_bytes", "usable_cores", "solve_budget"]

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}


def parse_memory(value: Any, name: str = "memory_limit") -> int:
    """Bytes from a number of bytes or a string such as ``"2GB"``, ``"1.5 GiB"``,
    ``"512MiB"`` (decimal ``kB/MB/GB/TB``, binary ``KiB/MiB/GiB/TiB``).

    Raises
    ------
    InvalidInputError
        For anything else, or a value that is not positive.
    """
    from .errors import InvalidInputError

    number: float | None = None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
        if match and match.group(2).lower() in _UNITS:
            number = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if number is None or not math.isfinite(number) or number <= 0:
        raise InvalidInputError(
            f"{name} must be a positive number of bytes or a string such as '2GB' or "
            f"'512MiB', got {value!r}."
        )
    return int(number)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: The ``memory_limit`` of the solve running in this context (bytes), if it has one.
_solve_budget: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "sdpnets_solve_budget", default=None)


@contextlib.contextmanager
def solve_budget(limit: int | None) -> Iterator[None]:
    """Inside the block, :func:`available_memory` is at most ``limit`` bytes (a solve's
    ``memory_limit``: the solvers' own choices, such as how many worker processes to fork
    or whether the interior point fits, then stay within it); ``None`` changes nothing."""
    token = _solve_budget.set(limit)
    try:
        yield
    finally:
        _solve_budget.reset(token)


def available_memory() -> int:
    """Memory the system can give this process now: ``MemAvailable`` from
    ``/proc/meminfo`` (Linux), else the physical memory; at most what the process's own
    limits leave above its current size (``RLIMIT_DATA``, as a benchmark's memory limit
    sets it, and ``RLIMIT_AS``, as ``ulimit -v`` does), and at most the running solve's
    ``memory_limit`` (:func:`solve_budget`)."""
    free = min(_system_available(), _address_space_left())
    budget = _solve_budget.get()
    return free if budget is None else min(free, budget)


def _system_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 2**63


def _address_space_left() -> int:
    """What the process's own limits leave: ``RLIMIT_DATA`` minus its data size
    (``VmData``; a benchmark's memory limit, :mod:`sdpnets.solving.isolation`) and
    ``RLIMIT_AS`` minus its virtual size (``VmSize``; ``ulimit -v``); unbounded without
    limits."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return 2**63
    sizes = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmData", "VmSize"):
                    sizes[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        pass
    left = 2**63
    for which, key in ((resource.RLIMIT_DATA, "VmData"), (resource.RLIMIT_AS, "VmSize")):
        limit = resource.getrlimit(which)[0]
        if limit != resource.RLIM_INFINITY and limit >= 0:
            left = min(left, max(int(limit) - sizes.get(key, 0), 0))
    return left


def format_bytes(n: float) -> str:
    """``1234567890`` -> ``"1.23 GB"`` (decimal units, as the limits are written)."""
    n = float(n)
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"
