r"""A solve run in a forked process while the caller goes on with another method.

``method="auto"`` gives the column generation a share of the interior point's predicted
time and then hands over to the interior point (:mod:`.methods`). On a machine with a
spare core the two need not take turns: :class:`BackgroundSolve` starts the interior point
after a delay (the atoms' first second) in a process forked from the caller, on one BLAS
thread (the atoms hold the other core, on one BLAS thread too); the atoms stop as soon as
it has finished (``stop=``), and a hand-over takes its result instead of starting the
interior point from nothing, lending the child its core for the large products from then
on
(:func:`~sdpnets.backends.firstorder.linalg.lend_threads`, through a shared integer).
Whichever certifies first wins; the other is stopped (the child is killed).

The child inherits the program by the fork (nothing is copied up front); its result
crosses a pipe (pickled by :mod:`multiprocessing.connection`; nothing is written to disk).
A child that dies (a signal, the out-of-memory killer) or raises gives ``None`` and the
reason in :attr:`BackgroundSolve.failure`; the caller then solves in its own process.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any, Callable

from ..linalg import lend_threads, limit_blas_threads

__all__ = ["BackgroundSolve"]


def _child(conn: Any, lent: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    lend_threads(lambda: int(lent.value))  # the parent's core, once it only waits
    try:
        with limit_blas_threads(1):
            value = fn(*args, **kwargs)
    except BaseException as error:  # noqa: BLE001 - every failure is reported to the parent
        conn.send(("error", f"{type(error).__name__}: {error}"))
    else:
        conn.send(("ok", value))
    finally:
        conn.close()


class BackgroundSolve:
    """``fn(*args, **kwargs)`` in a forked child process, started ``delay`` seconds after
    construction (at the first :meth:`done` from then on; at once with ``delay=0``). With a
    ``deadline`` (a :func:`time.perf_counter` instant), ``fn`` is given the seconds left
    until it as its ``time_limit`` when the child starts, so that a delayed start does
    not carry the child past the caller's limit.

    Attributes
    ----------
    failure : str
        Why no result came (empty while there is one, the child runs or has not started).
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, cores: int = 2,
                 delay: float = 0.0, deadline: float | None = None, **kwargs: Any):
        self._call = (fn, args, kwargs)
        self._deadline = deadline
        self._cores = int(cores)
        self._due = time.perf_counter() + max(float(delay), 0.0)
        self._process: Any = None
        self._reply: tuple[str, Any] | None = None
        self.failure = ""
        if delay <= 0:
            self._launch()

    @property
    def started(self) -> bool:
        """Whether the child process was started."""
        return self._process is not None

    def _launch(self) -> None:
        fork = multiprocessing.get_context("fork")
        self._conn, child_end = fork.Pipe(duplex=False)
        #: the BLAS threads of the child's large products: 1 while the caller works beside
        #: it, ``cores`` once the caller waits for it (:meth:`result`)
        self._threads = fork.Value("i", 1, lock=False)
        fn, args, kwargs = self._call
        if self._deadline is not None:
            kwargs = {**kwargs, "time_limit": max(self._deadline - time.perf_counter(), 0.0)}
        self._process = fork.Process(target=_child,
                                     args=(child_end, self._threads, fn, args, kwargs),
                                     daemon=True)
        self._process.start()
        child_end.close()

    def _receive(self, timeout: float | None) -> bool:
        """Read the child's reply when it is there within ``timeout`` seconds (``None``:
        wait); ``True`` once the child has answered or ended."""
        if self._reply is not None or self.failure:
            return True
        try:
            if not self._conn.poll(timeout):
                return False
            self._reply = self._conn.recv()
        except (EOFError, OSError):  # the child ended without answering
            self._process.join()
            self.failure = (f"the background process ended without a result (exit code "
                            f"{self._process.exitcode})")
            return True
        self._process.join()
        if self._reply[0] == "error":
            self.failure = f"the background solve raised {self._reply[1]}"
        return True

    def done(self) -> bool:
        """Whether the child has answered (or ended); never waits. Starts the child when
        its delay has passed."""
        if not self.started:
            if time.perf_counter() < self._due:
                return False
            self._launch()
        return self._receive(0.0)

    def result(self) -> Any:
        """Wait for the child (lending it this process's core for its large products);
        its return value, or ``None`` (see :attr:`failure`; also ``None`` when the child
        was never started)."""
        if not self.started:
            self.failure = self.failure or "the background solve was not started"
            return None
        self._threads.value = self._cores
        self._receive(None)
        if self._reply is not None and self._reply[0] == "ok":
            return self._reply[1]
        return None

    def cancel(self) -> None:
        """Stop the child (killed if it still runs) and release the pipe; a child not
        started yet never will be."""
        self._due = float("inf")
        if not self.started:
            return
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._conn.close()
