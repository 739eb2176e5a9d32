r"""The outputs of a vector-output ReLU program, solved side by side.

With a loss that is a sum over outputs (squared, logistic, hinge) and the separable penalty,
the program of ``K`` outputs is ``K`` independent programs on the same data and patterns,
one :class:`.program.ReLUProgram` per output (an :class:`OutputJob`).
:func:`solve_outputs` solves them one after another, or, when :func:`output_workers` finds
several cores, memory for several solves and ``fork`` (Linux), in that many worker
processes forked from the caller, each on one BLAS thread (the atoms run on one BLAS thread
anyway, :func:`~sdpnets.backends.firstorder.linalg.single_threaded`, and most of their time
is spent holding the interpreter in SciPy's nonnegative least squares, so threads would not
help). When a core is left beside each solve (one worker on two cores), ``"auto"`` may race
the interior point beside the atoms on it (``spare_core``, :mod:`.background`). The results
are the same solves either way; only the order in which outputs finish changes, and with it
which later outputs learn from an earlier one that was handed over to the whole program's
interior point (``brief_atoms``; not after a hand-over to a working set, which starts from
the atoms' iterate and needs a good one).

**Time limit.** Each output starts with its share of the time left (:func:`time_share`):
:math:`(T - t)\,W / (q + r)` seconds (at most :math:`T - t`), with ``W`` workers, ``q``
outputs not started (this one included) and ``r`` running; one worker (``W = 1``) gives the
sequential share :math:`(T - t) / q`.

**Failures.** An exception raised by a solve is raised in the caller, as in a sequential
solve. A worker that dies (a signal, the operating system's out-of-memory killer) ends the
outputs it had not returned with status ``"error"`` and the reason in their
``statistics["failure"]``; nothing is retried in the caller's process.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ...._units import available_memory
from ..linalg import allowed_cores, limit_blas_threads
from .methods import handed_over_whole, solve_relu
from .program import ReLUProgram, ReLUResult

__all__ = ["OutputJob", "solve_outputs", "output_workers", "can_fork", "time_share",
           "PARALLEL_FROM_FLOPS"]

#: Outputs go to worker processes only when one output's products with the data,
#: ``N h n_b`` flops (rows, features, blocks), reach this: below it a fork costs more than
#: it saves (tens of milliseconds per worker).
PARALLEL_FROM_FLOPS = 2e6


@dataclass
class OutputJob:
    """One output's solve: its program, its starting blocks (``(h, nb)`` or ``None``), the
    last solve of a path (``(beta, dual point, gap)`` or ``None``, for screening), and
    whether ``"auto"`` goes straight to the interior point."""

    program: ReLUProgram
    start: np.ndarray | None = None
    previous: tuple[float, np.ndarray, float] | None = None
    ipm_first: bool = False


def can_fork() -> bool:
    """Whether this process may fork workers: ``fork`` exists (POSIX) and the process is
    not daemonic (those may have no children). Without ``threadpoolctl`` (the ``threads``
    extra) :func:`~sdpnets.backends.firstorder.linalg.allowed_cores` is 1, so no worker is
    chosen for the caller (workers on the caller's BLAS threads would oversubscribe the
    cores), but a ``workers=`` the caller asks for is kept."""
    return ("fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon)


def output_workers(K: int, program: ReLUProgram, need: int,
                   requested: int | None = None) -> int:
    """Worker processes for ``K`` outputs like ``program``, each needing up to ``need``
    bytes: ``1`` (in the caller's process) when the process cannot fork workers
    (:func:`can_fork`); else ``requested`` when given (at most ``K``); else one per
    allowed core (:func:`~sdpnets.backends.firstorder.linalg.allowed_cores`), at most
    ``K`` and as many as the available memory holds, and ``1`` when the outputs are too
    small to gain (:data:`PARALLEL_FROM_FLOPS`)."""
    if not can_fork():
        return 1
    if requested is not None:
        return max(1, min(int(requested), K))
    if K < 2 or program.N * program.h * program.nb < PARALLEL_FROM_FLOPS:
        return 1
    fit = available_memory() // max(int(need), 1)
    return int(max(1, min(K, allowed_cores(), fit)))


def time_share(left: float, workers: int, waiting: int, running: int) -> float:
    """Seconds an output starting now gets of the ``left`` seconds: ``left W / (q + r)``
    with ``W`` workers, ``q`` outputs waiting (the starting one included) and ``r``
    running, at most ``left``."""
    return min(left, left * workers / max(waiting + running, 1))


def _solve_job(job: OutputJob, kwargs: dict[str, Any]) -> ReLUResult:
    """A worker's solve of one output, on one BLAS thread."""
    with limit_blas_threads(1):
        return solve_relu(job.program, start=job.start, previous=job.previous,
                          ipm_first=job.ipm_first, **kwargs)


def _failed(job: OutputJob, why: str) -> ReLUResult:
    """The result of an output whose worker died before returning it."""
    p = job.program
    return ReLUResult(blocks=np.zeros((p.h, p.nb)), status="error", method="atoms",
                      iterations=0, objective=float("nan"), program_objective=float("nan"),
                      lower_bound=-np.inf, cone_violation=float("nan"),
                      dual_point=np.zeros(p.N), solve_time=0.0,
                      statistics={"failure": why})


def solve_outputs(
    jobs: list[OutputJob],
    *,
    workers: int = 1,
    time_limit: float | None = None,
    progress_for: Callable[[int], AbstractContextManager[Any]] | None = None,
    **kwargs: Any,
) -> list[ReLUResult]:
    """Solve every output's program (:func:`.methods.solve_relu` with ``kwargs``), in the
    caller's process (``workers == 1``) or in ``workers`` forked processes.

    Parameters
    ----------
    jobs : list of OutputJob
    workers : int
    time_limit : float, optional
        Seconds for all outputs together, shared as the module docstring says.
    progress_for : callable, optional
        ``progress_for(k)`` is a context manager giving output ``k``'s ``progress``
        callable (a gap bar); only used in the caller's process (with workers, ``log``
        gets an INFO line per output as it ends).
    **kwargs
        ``method``, ``tol``, ``max_iters``, ``log`` and the method's options.

    Returns
    -------
    list of ReLUResult
        In the order of ``jobs``.
    """
    t0 = time.perf_counter()
    K = len(jobs)
    results: list[ReLUResult | None] = [None] * K
    # a core left beside each solve: "auto" may run the interior point beside the atoms
    kwargs["spare_core"] = can_fork() and allowed_cores() >= 2 * max(workers, 1)

    def share(waiting: int, running: int) -> float | None:
        if time_limit is None:
            return None
        left = max(time_limit - (time.perf_counter() - t0), 0.0)
        return time_share(left, workers, waiting, running)

    def brief() -> bool:  # an earlier output of the same data and beta tells
        return any(r is not None and handed_over_whole(r) for r in results)

    if workers <= 1:
        for k, job in enumerate(jobs):
            bar = progress_for(k) if progress_for is not None else nullcontext(None)
            with bar as progress:
                results[k] = solve_relu(job.program, start=job.start, previous=job.previous,
                                        ipm_first=job.ipm_first, progress=progress,
                                        time_limit=share(K - k, 0), brief_atoms=brief(),
                                        **kwargs)
        return [r for r in results if r is not None]

    pending: dict[Future[ReLUResult], int] = {}
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=fork) as pool:
        queue = list(range(K))

        def submit() -> None:
            k = queue.pop(0)
            args = dict(kwargs, time_limit=share(len(queue) + 1, len(pending)),
                        brief_atoms=brief())
            pending[pool.submit(_solve_job, jobs[k], args)] = k

        for _ in range(min(workers, K)):
            submit()
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in done:
                k = pending.pop(future)
                try:
                    results[k] = future.result()
                except BrokenProcessPool as error:
                    why = f"its worker process died ({error})"
                    results[k] = _failed(jobs[k], why)
                    for other in list(pending.values()) + queue:
                        results[other] = _failed(jobs[other], why)
                    pending.clear()
                    queue.clear()
                    break
                log, res = kwargs.get("log"), results[k]
                if log is not None and res is not None:  # no gap bars from the workers
                    log.info("output %d of %d: %s, relative gap %.1e, %.1f s (worker)",
                             k + 1, K, res.status, res.relative_gap, res.solve_time)
                if queue:
                    submit()
    return [r for r in results if r is not None]
