r"""Run a function in a child process, so that nothing it does can take the caller down.

:func:`run_isolated` forks a child, runs ``fn(*args, **kwargs)`` there and hands back a
:class:`ChildOutcome`: the return value, or what went wrong (a Python exception, a fatal
signal such as ``SIGABRT`` from a failed allocation in a solver's native code, a time
limit or a memory limit). Nothing is raised in the parent for anything the child does.

How the limits work
-------------------
``time_limit`` (seconds of wall time)
    The parent kills the child (``SIGKILL`` to its process group) when it has not
    answered in time.
``memory_limit`` (bytes)
    Counted as the growth of the child's *resident* memory over what it holds right after
    the fork (the fork inherits the parent's pages; they are not the function's), plus
    the growth of the child's own children (a solve's worker processes,
    :mod:`sdpnets.backends.firstorder.relu.outputs`) over their size when first seen. The
    parent samples those resident sets from ``/proc/<pid>/statm`` every few
    milliseconds and kills the child's process group past the limit. ``RLIMIT_AS`` is not used: BLAS libraries and
    thread arenas reserve far more virtual memory than they touch. As a backstop against a
    single huge allocation, the child's ``RLIMIT_DATA`` (writable private mappings) is set
    to its size at the fork plus ``max(2 * memory_limit, memory_limit + 512 MiB)``; an
    allocation past it fails at once (``MemoryError`` in Python, an abort in native code).
    The status is ``"memory_limit"`` when the watcher killed the child, when the child
    raised :class:`MemoryError`, or when it died of a signal right after printing a
    failed-allocation message (Rust's ``memory allocation of N bytes failed``).

Peak memory is the child's own high-water mark of resident memory (``ru_maxrss`` from
``wait4``), which starts at what it inherited, or the largest sample of the child with its
children's growth when that is higher; ``peak_mib - base_mib`` is what the function
added (the child first returns the free heap pages it inherited to the system, so that
the growth is not hidden by reusing them). Results cross a pipe pickled by :mod:`multiprocessing.connection`; nothing is
written to disk. The child's ``stderr`` is relayed to the parent's (and its tail kept in
:attr:`ChildOutcome.stderr`); its ``stdout`` is the parent's.

Only POSIX systems with ``fork`` are supported (Linux is the tested platform).
"""

from __future__ import annotations

import errno
import faulthandler
import os
import resource
import selectors
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable


__all__ = ["ChildOutcome", "run_isolated", "OUTCOME_STATUSES"]

#: The statuses a :class:`ChildOutcome` can have.
OUTCOME_STATUSES = ("ok", "crashed", "time_limit", "memory_limit")

#: Seconds between two samples of the child's resident memory.
SAMPLE_INTERVAL = 0.005
#: Bytes of the child's stderr kept for the outcome's message.
STDERR_TAIL = 4096
#: Seconds the parent waits for the child to exit after it sent its result.
EXIT_GRACE = 10.0

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MIB = 2.0**20
_ALLOC_FAILED = ("memory allocation of", "bad_alloc", "out of memory", "cannot allocate memory")


@dataclass(frozen=True)
class ChildOutcome:
    """How a call in a child process ended.

    Attributes
    ----------
    status : {"ok", "crashed", "time_limit", "memory_limit"}
    value : Any
        The function's return value when ``status == "ok"``, else ``None``.
    message : str
        What happened, e.g. ``"child killed by signal 6 (SIGABRT): memory allocation of
        16308180000 bytes failed"`` or ``"ValueError: bad"`` (empty when ``"ok"``).
    exitcode : int or None
        The child's exit code, ``-signal`` when a signal ended it, ``None`` if unknown.
    peak_mib : float
        Peak resident memory of the child (MiB), inherited pages included.
    wall_time : float
        Seconds from the fork to the child's end.
    base_mib : float
        Resident memory of the child right after the fork (MiB; ``nan`` if it died before
        reporting it); ``peak_mib - base_mib`` is what the function added.
    stderr : str
        The last few kilobytes the child wrote to its standard error.
    traceback : str
        The child's Python traceback when it raised an exception.
    """

    status: str
    value: Any
    message: str
    exitcode: int | None
    peak_mib: float
    wall_time: float
    base_mib: float = float("nan")
    stderr: str = ""
    traceback: str = ""

    @property
    def ok(self) -> bool:
        """Whether the function returned normally."""
        return self.status == "ok"

    @property
    def added_mib(self) -> float:
        """Memory the function added to the child's resident set at its peak (MiB)."""
        return self.peak_mib - self.base_mib


def _resident_bytes(pid: int | str = "self") -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (its children, theirs, ...), from
    ``/proc/<pid>/task/<tid>/children``; empty where that is not available."""
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            threads = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in threads:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as f:
                    kids = [int(k) for k in f.read().split()]
            except (OSError, ValueError):
                continue
            found.extend(kids)
            stack.extend(kids)
    return found


def _data_bytes() -> int | None:
    """Size of this process's writable private mappings (what ``RLIMIT_DATA`` counts)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _trim_heap() -> None:
    """Give the free heap pages inherited from the parent back to the system (glibc's
    ``malloc_trim``), so that the child's growth counts every page it touches instead of
    reusing pages the parent had freed."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:  # start the high-water mark of resident memory here (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _child_main(conn: Connection, err_w: int, fn: Callable, args, kwargs, memory_limit) -> None:
    """Body of the forked child; never returns (``os._exit`` on every path)."""
    code = 0
    try:
        os.dup2(err_w, 2)
        os.close(err_w)
        # A fatal signal is reported in the outcome; a stack dump by a faulthandler the
        # parent enabled (pytest does) would only write to the parent's terminal.
        faulthandler.disable()
        try:
            os.setpgid(0, 0)  # own process group: a kill reaches the child's children too
        except OSError:
            pass
        _trim_heap()
        base = _resident_bytes() or 0
        if memory_limit is not None:
            data = _data_bytes()
            if data is not None:
                cap = data + int(max(2 * memory_limit, memory_limit + 512 * _MIB))
                soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
                if hard != resource.RLIM_INFINITY:
                    cap = min(cap, hard)
                if soft == resource.RLIM_INFINITY or cap < soft:
                    try:
                        resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
                    except (ValueError, OSError):
                        pass
        conn.send(("start", base))
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
            message = f"{type(exc).__name__}: {exc}"
            conn.send(("raised", type(exc).__name__, message, traceback.format_exc(),
                       isinstance(exc, MemoryError)))
        else:
            try:
                conn.send(("ok", value))
            except BaseException as exc:  # noqa: BLE001 - e.g. an unpicklable value
                conn.send(("raised", type(exc).__name__,
                           f"the result could not be sent to the parent: "
                           f"{type(exc).__name__}: {exc}", traceback.format_exc(), False))
        conn.close()
    except BaseException:  # noqa: BLE001
        code = 1
    finally:
        os._exit(code)


def run_isolated(
    fn: Callable[..., Any],
    /,
    *args: Any,
    time_limit: float | None = None,
    memory_limit: float | None = None,
    **kwargs: Any,
) -> ChildOutcome:
    """Call ``fn(*args, **kwargs)`` in a forked child process and report how it ended.

    Parameters
    ----------
    fn : callable
        Runs in the child, with a copy of the parent's memory (no pickling of ``fn`` or
        its arguments). Its return value is pickled back.
    time_limit : float, optional
        Wall-clock seconds; the child is killed past it (status ``"time_limit"``).
    memory_limit : float, optional
        Bytes of resident memory the call may add to what the child inherits; the child
        is killed past it (status ``"memory_limit"``; see the module docstring).
    *args, **kwargs
        Passed to ``fn``.

    Returns
    -------
    ChildOutcome
        Never raises for anything that happens in the child (an exception there comes
        back as status ``"crashed"`` with its type and message).

    Raises
    ------
    ValueError
        For a non-positive ``time_limit`` or ``memory_limit``.
    OSError
        When no child process can be created here.
    """
    for name, limit in (("time_limit", time_limit), ("memory_limit", memory_limit)):
        if limit is not None and not (isinstance(limit, (int, float)) and limit > 0):
            raise ValueError(f"{name} must be a positive number or None, got {limit!r}.")
    if not hasattr(os, "fork"):
        raise OSError("run_isolated needs os.fork (POSIX systems).")
    from multiprocessing import Pipe

    recv_conn, send_conn = Pipe(duplex=False)
    err_r, err_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Python warns that fork() in a threaded process may deadlock; the child only runs
        # fn and exits, as multiprocessing's own "fork" start method does.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        recv_conn.close()
        os.close(err_r)
        _child_main(send_conn, err_w, fn, args, kwargs, memory_limit)
    send_conn.close()
    os.close(err_w)
    watcher = _Watcher(pid, recv_conn, err_r, time_limit, memory_limit, start)
    try:
        return watcher.run()
    finally:
        watcher.cleanup()


class _Watcher:
    """The parent's side: read messages and stderr, sample memory, enforce limits, reap."""

    def __init__(self, pid, conn, err_r, time_limit, memory_limit, start):
        self.pid, self.conn, self.err_r = pid, conn, err_r
        self.time_limit, self.memory_limit, self.start = time_limit, memory_limit, start
        self.deadline = None if time_limit is None else start + time_limit
        self.base: int | None = None
        self.reply: tuple | None = None
        self.stderr = b""
        self.killed_for: str | None = None
        self.peak_sampled = 0
        self.first_seen: dict[int, int] = {}  # the descendants' resident bytes when first seen
        self.reaped: tuple[int | None, Any] | None = None  # (wait status, rusage)
        self.end: float | None = None
        self.selector = selectors.DefaultSelector()
        self.selector.register(conn.fileno(), selectors.EVENT_READ, "conn")
        self.selector.register(err_r, selectors.EVENT_READ, "err")
        self.open = {"conn", "err"}

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> ChildOutcome:
        while self.reply is None and self.killed_for is None:
            if not self.open and self._reap(block=False):
                break
            timeout = SAMPLE_INTERVAL if self.memory_limit is not None else 0.05
            if self.deadline is not None:
                timeout = max(0.0, min(timeout, self.deadline - time.perf_counter()))
            if self.open:
                for key, _ in self.selector.select(timeout):
                    self._read(key.data)
            else:
                time.sleep(timeout)
            if self.reply is not None:
                break
            if self._reap(block=False):
                self._drain()
                break
            self._check_limits()
        if self.reply is not None:
            self._wait_exit()
        elif self.killed_for is not None:
            self._reap(block=True)
        self._drain()
        return self._outcome()

    def _read(self, what: str) -> None:
        if what == "err":
            try:
                chunk = os.read(self.err_r, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                self._close("err")
                return
            self.stderr = (self.stderr + chunk)[-STDERR_TAIL:]
            try:
                os.write(2, chunk)  # relay the child's own stderr
            except OSError:
                pass
            return
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            self._close("conn")
            return
        except Exception as exc:  # noqa: BLE001 - an unpicklable reply
            self.reply = ("raised", type(exc).__name__,
                          f"the child's result could not be read: {type(exc).__name__}: {exc}",
                          "", False)
            return
        if message[0] == "start":
            self.base = int(message[1])
        else:
            self.reply = message
            self.end = time.perf_counter()

    def _close(self, what: str) -> None:
        if what in self.open:
            self.selector.unregister(self.conn.fileno() if what == "conn" else self.err_r)
            self.open.discard(what)

    def _drain(self) -> None:
        """Read what is left of stderr (and a reply sent just before the child ended)."""
        stop = time.perf_counter() + 1.0
        while self.open and time.perf_counter() < stop:
            events = self.selector.select(0.01)
            if not events:
                break
            for key, _ in events:
                if key.data == "conn" and self.reply is not None:
                    self._close("conn")
                else:
                    self._read(key.data)

    def _check_limits(self) -> None:
        now = time.perf_counter()
        if self.deadline is not None and now >= self.deadline:
            self._kill("time_limit")
            return
        rss = _resident_bytes(self.pid)
        if rss is not None:
            rss += self._descendants_growth()
            self.peak_sampled = max(self.peak_sampled, rss)
            if self.memory_limit is not None and self.base is not None:
                if rss - self.base > self.memory_limit:
                    self._kill("memory_limit")

    def _descendants_growth(self) -> int:
        """What the child's own children (e.g. a solve's worker processes) added to their
        resident sets since the watcher first saw them (a fork starts with its parent's
        pages, which are not new memory)."""
        growth = 0
        for pid in _descendants(self.pid):
            rss = _resident_bytes(pid)
            if rss is not None:
                growth += max(rss - self.first_seen.setdefault(pid, rss), 0)
        return growth

    def _kill(self, reason: str) -> None:
        self.killed_for = reason
        self.end = time.perf_counter()
        for target in (lambda: os.killpg(self.pid, signal.SIGKILL),
                       lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                target()
                return
            except (ProcessLookupError, PermissionError):
                continue

    def _reap(self, block: bool) -> bool:
        if self.reaped is not None:
            return True
        while True:
            try:
                pid, status, usage = os.wait4(self.pid, 0 if block else os.WNOHANG)
            except InterruptedError:
                continue
            except ChildProcessError:
                self.reaped = (None, None)
                break
            if pid == 0:
                return False
            self.reaped = (status, usage)
            break
        if self.end is None:
            self.end = time.perf_counter()
        return True

    def _wait_exit(self) -> None:
        stop = time.perf_counter() + EXIT_GRACE
        while not self._reap(block=False):
            if time.perf_counter() >= stop:
                self._kill_quiet()
                self._reap(block=True)
                return
            time.sleep(0.002)

    def _kill_quiet(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass

    def cleanup(self) -> None:
        """Never leave the child running or unreaped (also on KeyboardInterrupt)."""
        if self.reaped is None:
            self._kill_quiet()
            try:
                self._reap(block=True)
            except OSError as exc:  # pragma: no cover
                if exc.errno != errno.ECHILD:
                    raise
        for what in list(self.open):
            self._close(what)
        self.selector.close()
        self.conn.close()
        try:
            os.close(self.err_r)
        except OSError:
            pass

    # -- the report ----------------------------------------------------------------------
    def _outcome(self) -> ChildOutcome:
        status_word, usage = self.reaped if self.reaped is not None else (None, None)
        exitcode = None if status_word is None else os.waitstatus_to_exitcode(status_word)
        peak = usage.ru_maxrss * 1024 if usage is not None else self.peak_sampled
        peak = max(peak, self.peak_sampled)
        wall = (self.end or time.perf_counter()) - self.start
        base = float("nan") if self.base is None else self.base / _MIB
        err = self.stderr.decode("utf-8", "replace")
        common = dict(exitcode=exitcode, peak_mib=peak / _MIB, wall_time=wall, base_mib=base,
                      stderr=err)
        if self.reply is not None and self.reply[0] == "ok":
            return ChildOutcome("ok", self.reply[1], "", **common)
        if self.reply is not None:
            _, _, message, tb, memory_error = self.reply
            status = "memory_limit" if memory_error else "crashed"
            return ChildOutcome(status, None, message, traceback=tb, **common)
        if self.killed_for == "time_limit":
            return ChildOutcome("time_limit", None,
                                f"child killed after the time limit of {self.time_limit:g} s",
                                **common)
        if self.killed_for == "memory_limit":
            return ChildOutcome(
                "memory_limit", None,
                f"child killed when its resident memory grew by more than the memory limit "
                f"of {self.memory_limit / _MIB:.1f} MiB", **common)
        last = _last_lines(err)
        if exitcode is not None and exitcode < 0:
            message = f"child killed by signal {-exitcode} ({_signal_name(-exitcode)})"
        elif exitcode is not None:
            message = f"child exited with code {exitcode} without a result"
        else:
            message = "child ended without a result"
        if last:
            message += f": {last}"
        low = err.lower()
        status = "memory_limit" if any(word in low for word in _ALLOC_FAILED) else "crashed"
        return ChildOutcome(status, None, message, **common)


def _last_lines(text: str, limit: int = 400) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    tail = " | ".join(lines[-3:])
    return tail[-limit:]
