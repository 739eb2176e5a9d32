"""Run a sweep's runs as Dask tasks on a cluster (``sdpnets bench --scheduler``).

Each run is still one task -> one row (:func:`sdpnets.bench.runner.run_task`): on the worker
it runs in its own child process under its time and memory limits, and the client appends
each row to the one results file as it arrives, so resuming after a killed client works as
on one machine. Dask's ``distributed`` is imported only here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor

__all__ = ["dask_executor"]


@contextlib.contextmanager
def dask_executor(address: str, workers: int = 2) -> Iterator[Executor]:
    """A ``concurrent.futures`` executor on a Dask cluster.

    Parameters
    ----------
    address : str
        A scheduler address (``tcp://host:8786``), or ``"local"`` for a
        ``distributed.LocalCluster`` of ``workers`` single-threaded worker processes, started
        and closed here.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the dask extra is missing
        raise ImportError(
            "sdpnets bench --scheduler needs Dask's distributed scheduler: "
            "pip install 'sdpnets[dask]'"
        ) from exc
    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
