"""Benchmark results as JSON lines: one row per run, appended and synced as it finishes.

The file is the sweep's only state. Each row carries its run key (see
:func:`sdpnets.bench.runner.run_key`); a sweep skips the keys already stored, so a sweep
killed at any moment (even by ``SIGKILL``) resumes with no lost and no duplicated rows.
A row is written with a single ``write`` on a file opened for appending and then
``fsync``'d; the only damage a kill can leave is a partial last line, which
:meth:`ResultsStore.open` drops (its run is then simply run again).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

logger = logging.getLogger(__name__)

__all__ = ["ResultsStore", "read_rows"]

#: Seconds :meth:`ResultsStore.open` waits for another sweep's lock on the file (a sweep
#: just killed releases it when its last run process has died).
LOCK_WAIT = 5.0


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become ``null`` (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return _clean(value.item())
    return value


def _parse(lines: list[bytes], path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            logger.warning("%s: line %d is not valid JSON; ignored", path, number)
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every complete row of a results file (a partial last line is ignored).

    When a key appears more than once (files concatenated by hand), the last row wins.

    Raises
    ------
    InvalidInputError
        When ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"results file {str(path)!r} does not exist.")
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    rows = _parse(complete.split(b"\n"), path)
    by_key: dict[str, dict[str, Any]] = {}
    unkeyed = []
    for row in rows:
        if "key" in row:
            by_key.pop(row["key"], None)
            by_key[row["key"]] = row
        else:
            unkeyed.append(row)
    return [*by_key.values(), *unkeyed]


class ResultsStore:
    """An append-only JSON-lines results file (used as a context manager).

    Opening it takes an exclusive lock on the file (two sweeps cannot append to one file
    at once) and cuts a partial last line left by a killed sweep.

    Parameters
    ----------
    path : str or path-like
        Created (with its parent directories) when missing.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    # -- opening ---------------------------------------------------------------------------
    def open(self) -> ResultsStore:
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            _lock_file(fd, self.path)
            data = self.path.read_bytes()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                logger.warning("%s: dropping a partial last line (%d bytes) left by an "
                               "interrupted sweep; its run will be run again",
                               self.path, len(data) - end)
                os.ftruncate(fd, end)
                os.fsync(fd)
            self._keys = {r["key"] for r in _parse(data[:end].split(b"\n"), self.path)
                          if "key" in r}
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # also releases the lock
            self._fd = None

    def __enter__(self) -> ResultsStore:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading and appending --------------------------------------------------------------
    def keys(self) -> set[str]:
        """Run keys already stored."""
        return set(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def append(self, row: Mapping[str, Any]) -> None:
        """Write ``row`` as one line, then flush it to disk (``fsync``)."""
        if self._fd is None:
            raise RuntimeError("ResultsStore.append before open().")
        line = (json.dumps(_clean(row), sort_keys=True, allow_nan=False) + "\n").encode()
        with self._lock:
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
            if "key" in row:
                self._keys.add(row["key"])

    def rows(self) -> list[dict[str, Any]]:
        """Every stored row (see :func:`read_rows`)."""
        return read_rows(self.path)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows())


def _lock_file(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise InvalidInputError(
                    f"results file {str(path)!r} is being written by another sweep; wait "
                    "for it or use another --out."
                ) from None
            time.sleep(0.05)
