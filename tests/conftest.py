"""Shared fixtures: seeded data, the backends that can run here, MOSEK skip marker.

Every reference value the tests compare against is computed *in the tests* by an
independent method (closed forms, proximal gradient, 1-D searches, L-BFGS on the weights);
nothing is copied from a run of the package.
"""

from __future__ import annotations

import os

# Under pytest-xdist (``make test`` runs one worker per core), every worker uses one BLAS
# thread: two workers with a BLAS pool each on two cores oversubscribe them, and a spinning
# BLAS thread that waits for a core slows a small product a hundredfold. Set before NumPy is
# imported, so that it holds for this process and for every process a test starts.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest
from hypothesis import Phase, settings

import sdpnets as sn
from sdpnets.backends.mosek import MosekBackend

if os.environ.get("PYTEST_XDIST_WORKER"):  # and if a plugin imported NumPy first
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")

#: ``pytest --hypothesis-profile=mutation`` (benchmarks/mutation.py): report the first
#: failing example without shrinking it (a mutant only needs to be noticed, and shrinking
#: examples that each run a solver takes minutes).
settings.register_profile("mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate])

#: Backends that can actually solve on this machine (MOSEK only with a licence).
BACKENDS = sn.available_backends()

_MOSEK_OK, _MOSEK_REASON = MosekBackend().availability()
#: MOSEK's own availability message, used as the skip reason.
MOSEK_REASON = _MOSEK_REASON or "MOSEK is available"

#: The skip reason of every MOSEK test: the first sentence of MOSEK's message (e.g. that it
#: has no licence); the whole message is MOSEK_REASON and ``sn.available_backends()``.
MOSEK_SKIP = "MOSEK unavailable: " + (_MOSEK_REASON or "").split(". ")[0].rstrip(".") + "."

requires_mosek = pytest.mark.skipif(not _MOSEK_OK, reason=MOSEK_SKIP)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Report every MOSEK skip at this file, so ``-ra`` folds them into one summary line."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = str(report.longrepr[2])
        if MOSEK_SKIP in reason:
            report.longrepr = (__file__, None, reason)

#: Parameters for "every backend": the available ones, plus MOSEK skipped with its own
#: reason when it cannot run here (so a missing licence shows up in the test report).
ALL_BACKENDS = list(BACKENDS) + (
    [] if "mosek" in BACKENDS else [pytest.param("mosek", marks=requires_mosek)]
)


def solve_kwargs(backend: str) -> dict:
    """Tight tolerances for every backend (SCS is first order: give it room)."""
    if backend == "scs":
        return {"tol": 1e-10, "max_iters": 200_000}
    return {"tol": 1e-9}


def rel_close(a: float, b: float, rtol: float = 1e-6) -> bool:
    """``|a - b| <= rtol * max(1, |a|, |b|)``."""
    return abs(a - b) <= rtol * max(1.0, abs(a), abs(b))


def assert_rel(a: float, b: float, rtol: float = 1e-6, what: str = "") -> None:
    assert rel_close(a, b, rtol), f"{what}: {a!r} vs {b!r} (rel diff {abs(a - b) / max(1, abs(a), abs(b)):.3g})"


@pytest.fixture(params=ALL_BACKENDS)
def backend(request) -> str:
    """Each backend sdpnets knows; MOSEK skipped without a licence."""
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


@pytest.fixture
def vector_data():
    """A small seeded regression problem with vector output (n > d, full column rank)."""
    rng = np.random.default_rng(7)
    n, d, K = 24, 5, 3
    X = rng.standard_normal((n, d))
    Y = X @ rng.standard_normal((d, K)) + 0.5 * rng.standard_normal((n, K))
    return X, Y


@pytest.fixture
def scalar_data():
    """A small seeded regression problem with scalar output."""
    rng = np.random.default_rng(11)
    n, d = 20, 5
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n)
    return X, y


def relu_teacher_data(n: int, d: int = 3, seed: int = 0, labels: bool = False, K=None):
    """``X`` Gaussian ``(n, d)`` and targets of two opposite ReLU teachers plus noise 0.1
    (``labels``: their signs about the median; ``K=2``: a second, random output column)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (np.maximum(X @ rng.standard_normal(d), 0) - np.maximum(X @ rng.standard_normal(d), 0)
         + 0.1 * rng.standard_normal(n))
    if labels:
        y = np.where(y >= np.median(y), 1.0, -1.0)
    if K is not None:
        y = np.stack([y, rng.standard_normal(n)], axis=1)
    return X, y
