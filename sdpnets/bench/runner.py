"""Run a sweep: every (instance, backend, settings) in its own child process.

A *task* is a plain dictionary of JSON values (the instance, the backend, the settings).
:func:`run_task` turns one task into one result row: it builds the program and solves it
inside :func:`sdpnets.solving.isolation.run_isolated` under the task's time and memory limits,
so a solver that hangs, crashes or exhausts memory becomes a row (``time_limit``,
``crashed``, ``memory_limit``) and the sweep goes on. :func:`run_task` is a pure
module-level function of its task (no shared state, no files), so it can be shipped as is
to another process or a cluster worker; :func:`sweep` is the local driver that appends
each row to a :class:`~sdpnets.bench.store.ResultsStore` as it finishes.

Row statuses are the solver's (``optimal``, ``optimal_inaccurate``, ``infeasible``,
``unbounded``, ``time_limit``, ``iteration_limit``, ``error``), the harness's
(``time_limit`` and ``memory_limit`` when it killed the run, ``crashed`` when the process
died or the solve raised), ``error`` also when the instance itself could not be built
(e.g. more activation patterns than fit), ``unmapped`` when a ``cvxpy:NAME`` backend's solver
ended with a status sdpnets does not know (never solved; the status is in
``unmapped_status``), and ``unsupported`` when the family refused the backend with an
:class:`~sdpnets.InvalidInputError` before solving (e.g. a cone the solver lacks; not a
failure; excluded from comparisons).

Backends are the built-in conic ones (:data:`sdpnets.backends.BACKENDS`), ``firstorder``,
the families' exact non-conic methods, and ``cvxpy:NAME`` for any conic solver cvxpy can
call here (:mod:`sdpnets.backends.cvxpy_solver`).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import platform
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from importlib import metadata
from typing import Any

import numpy as np

from ..errors import InvalidInputError, SdpnetsError
from .instances import (
    BETA_FRACTION,
    BETA_FRACTIONS,
    FAMILIES,
    PRESETS,
    Instance,
    build,
    real_data_available,
)

logger = logging.getLogger(__name__)

__all__ = [
    "FIRST_ORDER",
    "DEFAULT_SETTINGS",
    "PRESET_TIME_LIMITS",
    "PRESET_FRACTIONS",
    "default_backends",
    "plan_instances",
    "plan",
    "run_key",
    "solve_task",
    "run_task",
    "sweep",
    "hard_time_limit",
]

FIRST_ORDER = "firstorder"

#: Settings of a run; a sweep may list several values of each (a grid).
DEFAULT_SETTINGS: dict[str, Any] = {
    "tol": 1e-6,
    "time_limit": 60.0,
    "memory_limit_gb": None,
    "warm_start": False,
    "threads": None,
}

#: Default time limit (seconds per run) of each preset.
PRESET_TIME_LIMITS = {"tiny": 30.0, "small": 120.0, "medium": 600.0, "large": 3600.0}

#: Data kinds and condition numbers each preset sweeps (real data only with scikit-learn).
PRESET_DATA: dict[str, tuple[tuple[str, float | None], ...]] = {
    "tiny": (("gaussian", None),),
    "small": (("gaussian", None), ("illcond", 1e4), ("digits", None), ("diabetes", None)),
    "medium": (("gaussian", None), ("illcond", 1e4), ("digits", None), ("diabetes", None)),
    "large": (("gaussian", None), ("illcond", 1e4)),
}
PRESET_SEEDS = {"tiny": (0,), "small": (0, 1), "medium": (0, 1, 2), "large": (0,)}
#: Fractions of ``beta_max`` each preset sweeps (``tiny`` keeps one, for fast tests).
PRESET_FRACTIONS: dict[str, tuple[float, ...]] = {
    "tiny": (BETA_FRACTION,), "small": BETA_FRACTIONS, "medium": BETA_FRACTIONS,
    "large": BETA_FRACTIONS,
}

#: Package versions recorded in every row.
_VERSIONED = ("sdpnets", "numpy", "scipy", "cvxpy", "clarabel", "scs", "mosek", "ecos",
              "cvxopt")


def default_backends() -> list[str]:
    """The conic backends that can solve here plus sdpnets' own ``"firstorder"``."""
    from ..backends import available_backends

    return [*available_backends(), FIRST_ORDER]


def hard_time_limit(time_limit: float) -> float:
    """Wall seconds after which the harness kills a run whose solver was asked to stop at
    ``time_limit``: the solver's limit does not count building, compiling or certifying,
    so the harness leaves ``max(2 s, 25%)`` on top."""
    return float(time_limit) + max(2.0, 0.25 * float(time_limit))


def run_key(task: Mapping[str, Any]) -> str:
    """The identity of a run: the same key is never run twice into one results file.

    The size enters by its preset name; each row also records the family's dimensions
    (``dims``) and the data's shape (``X_shape``). The fraction of ``beta_max`` is a field
    ``beta=F`` at the end, left out at :data:`~sdpnets.bench.instances.BETA_FRACTION` (the
    only fraction before the grid), so results files written before it keep their keys and
    resume.
    """
    inst = task["instance"]
    parts = [inst["family"], inst["size"], str(inst["seed"]), inst["data"],
             "-" if inst.get("conditioning") is None else f"{inst['conditioning']:g}",
             task["backend"], json.dumps(task["settings"], sort_keys=True)]
    fraction = float(inst.get("beta_fraction", BETA_FRACTION))
    if fraction != BETA_FRACTION:
        parts.append(f"beta={fraction:g}")
    return "|".join(parts)


def _settings_grid(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Expand lists of values into every combination (``{"tol": [1e-4, 1e-8]}``: two)."""
    merged = {**DEFAULT_SETTINGS, **settings}
    unknown = set(merged) - set(DEFAULT_SETTINGS)
    if unknown:
        raise InvalidInputError(
            f"settings must be among {', '.join(DEFAULT_SETTINGS)}; got {sorted(unknown)}."
        )
    axes = {k: [_setting(k, x) for x in (v if isinstance(v, (list, tuple)) else [v])]
            for k, v in merged.items()}
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def _setting(name: str, value: Any) -> Any:
    """One setting value, checked and in one canonical type (so run keys are stable:
    ``time_limit=60`` and ``60.0`` are the same run)."""
    if name == "warm_start":
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidInputError(f"warm_start must be True or False, got {value!r}.")
        return bool(value)
    if value is None and name != "tol":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{name} must be a positive number, got {value!r}.")
    if name == "threads":
        if int(value) != value:
            raise InvalidInputError(f"threads must be a whole number, got {value!r}.")
        return int(value)
    return float(value)


def plan_instances(
    preset: str = "tiny",
    families: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    data: Sequence[tuple[str, float | None]] | None = None,
    fractions: Sequence[float] | None = None,
) -> list[Instance]:
    """Every instance of a preset (families x data x seeds x fractions of ``beta_max``), in a
    deterministic order; the arguments as for :func:`plan`."""
    if preset not in PRESETS:
        raise InvalidInputError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}.")
    families = list(FAMILIES) if families is None else list(families)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise InvalidInputError(
            f"families must be among {', '.join(FAMILIES)}; unknown: {', '.join(unknown)}."
        )
    seeds = PRESET_SEEDS[preset] if seeds is None else seeds
    if data is None:
        data = [d for d in PRESET_DATA[preset]
                if d[0] not in ("digits", "diabetes") or real_data_available()]
    fractions = PRESET_FRACTIONS[preset] if fractions is None else fractions
    out = []
    for fam_name in families:
        fam = FAMILIES[fam_name]
        for (kind, cond), seed, fraction in itertools.product(data, seeds, fractions):
            if kind not in fam.data:
                continue
            out.append(Instance(fam_name, preset, int(seed), kind,
                                cond if kind == "illcond" else None, float(fraction)))
    return out


def plan(
    preset: str = "tiny",
    families: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    data: Sequence[tuple[str, float | None]] | None = None,
    settings: Mapping[str, Any] | None = None,
    fractions: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """Every task of a sweep, in a deterministic order.

    Parameters
    ----------
    preset : {"tiny", "small", "medium", "large"}
    families : list of str, optional
        Default: every family in :data:`~sdpnets.bench.instances.FAMILIES`.
    backends : list of str, optional
        Default: :func:`default_backends`. A family with an exact non-conic method (the
        ridge path) also runs it, as the backend of that name.
    seeds : list of int, optional
    data : list of (kind, conditioning), optional
        Default: the preset's; real data sets are skipped when scikit-learn is missing.
        Combinations a family does not take (e.g. images of the diabetes data) are left
        out of the plan.
    settings : mapping, optional
        Values (or lists of values: a grid) for ``tol``, ``time_limit``,
        ``memory_limit_gb``, ``warm_start``, ``threads``.
    fractions : list of float, optional
        Fractions of ``beta_max`` (default: the preset's, :data:`PRESET_FRACTIONS`).
    """
    instances = plan_instances(preset, families, seeds, data, fractions)
    requested = None if backends is None else list(backends)
    backends = default_backends() if backends is None else list(backends)
    natives = {spec.native for spec in FAMILIES.values() if spec.native}
    _check_backends(backends, natives)
    settings = {"time_limit": PRESET_TIME_LIMITS[preset], **(settings or {})}
    grid = _settings_grid(settings)
    tasks = []
    for inst in instances:
        fam = FAMILIES[inst.family]
        fam_backends = [b for b in backends if b not in natives]
        if fam.native and (requested is None or fam.native in requested):
            fam_backends.append(fam.native)
        for backend, st in itertools.product(fam_backends, grid):
            tasks.append({"instance": inst.as_dict(), "backend": backend, "settings": st})
    return tasks


def _check_backends(backends: Sequence[str], natives: set[str]) -> None:
    """Refuse unknown backends, and known ones that cannot run here, before any run."""
    from ..backends import BACKENDS, CVXPY_PREFIX, get_backend

    known = [*BACKENDS, FIRST_ORDER, *sorted(natives)]
    for name in backends:
        if name.startswith(CVXPY_PREFIX):
            try:
                backend = get_backend(name)
            except SdpnetsError as exc:
                raise InvalidInputError(str(exc)) from None
        elif name not in known:
            raise InvalidInputError(
                f"backends must be among {', '.join(known)} or cvxpy:NAME (any conic solver "
                f"cvxpy can call); got {name!r}."
            )
        elif name in BACKENDS:
            backend = BACKENDS[name]()
        else:
            continue
        ok, reason = backend.availability()
        if not ok:
            raise InvalidInputError(f"backend {name!r} cannot run here: {reason}")


# -- one run -----------------------------------------------------------------------------------
def _max_violation(prog) -> float | None:
    """Largest constraint violation of the solved cvxpy problem (``None``: no cvxpy point)."""
    problem = getattr(prog, "_problem", None)
    if problem is None:
        return None
    try:
        values = [float(np.max(c.violation())) for c in problem.constraints]
    except (ValueError, TypeError, AttributeError):
        return None
    return max(values, default=0.0)


#: Most points of a run's convergence trace kept in its row.
TRACE_POINTS = 200


def _trace(raw: Any) -> dict[str, list[float]] | None:
    """Intermediate iterates ``{"time": [...], "gap": [...]}`` (seconds, relative gap) when
    the backend kept a history (``raw["history"]`` or ``raw.history``: records
    ``(iteration, seconds, relative gap)`` or mappings with ``time`` and ``gap``)."""
    hist = raw.get("history") if isinstance(raw, Mapping) else getattr(raw, "history", None)
    if hist is None:
        return None
    while (isinstance(hist, (list, tuple)) and hist and isinstance(hist[0], (list, tuple))
           and hist[0] and isinstance(hist[0][0], (list, tuple, Mapping))):
        hist = [record for part in hist for record in part]  # one history per phase
    try:
        if isinstance(hist, Mapping):
            t, g = hist["time"], hist["gap"]
        elif hist and isinstance(hist[0], Mapping):
            t, g = [h["time"] for h in hist], [h["gap"] for h in hist]
        else:
            t, g = [h[1] for h in hist], [h[2] for h in hist]
        t = np.asarray(t, dtype=float).ravel()
        g = np.asarray(g, dtype=float).ravel()
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    if t.size == 0 or t.size != g.size:
        return None
    keep = np.unique(np.linspace(0, t.size - 1, min(t.size, TRACE_POINTS)).astype(int))
    return {"time": t[keep].tolist(), "gap": g[keep].tolist()}


def _finite(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def solve_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """Build and solve one task's program; return the measured fields of its row.

    Runs in the child process. ``threads`` limits the BLAS/OpenMP thread pools
    (threadpoolctl) and MOSEK's own threads. Raises nothing for a solver failure (it is a status);
    an :class:`~sdpnets.InvalidInputError` from ``solve`` (the family refuses the backend)
    gives status ``"unsupported"``.
    """
    st = task["settings"]
    family = FAMILIES[task["instance"]["family"]]
    limits = None
    if st.get("threads"):
        try:
            from threadpoolctl import threadpool_limits

            limits = threadpool_limits(int(st["threads"]))
        except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
            logger.warning("threadpoolctl is not installed; threads=%s not applied", st["threads"])
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = _solve(task, family)
    finally:
        if limits is not None:
            limits.unregister()
    out["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:5]
    return out


def _solve(task: Mapping[str, Any], family) -> dict[str, Any]:
    st, backend = task["settings"], task["backend"]
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    try:
        built = build(task["instance"])
    except SdpnetsError as exc:  # e.g. more activation patterns than fit: not the solver's
        out.update(status="error", message=f"the instance could not be built: {exc}")
        return out
    prog = built.program
    out["build_s"] = time.perf_counter() - t0
    out.update(beta=prog.beta, beta_max=built.beta_max, beta_max_exact=built.beta_max_exact)
    X = getattr(prog, "X", None)
    out["X_shape"] = None if X is None else [int(v) for v in np.shape(X)]
    options: dict[str, Any] = {}
    if backend == "mosek" and st.get("threads"):
        # Raw options replace the translated ones: keep the tolerance and limit MOSEK gets.
        from ..backends import BACKENDS

        translated = BACKENDS["mosek"]().solver_options(st["tol"], None, st.get("time_limit"))
        options["mosek_params"] = {**translated.get("mosek_params", {}),
                                   "MSK_IPAR_NUM_THREADS": int(st["threads"])}
    name = "auto" if backend == family.native else backend
    kwargs = dict(backend=name, tol=st["tol"], time_limit=st.get("time_limit"), **options)
    try:
        if st.get("warm_start"):
            # A path step: solve at 2 beta (not timed), then at beta from that point.
            beta = prog.beta
            prog.beta = 2.0 * beta
            prog.solve(**kwargs)
            prog.beta = beta
            res = prog.solve(warm_start=True, **kwargs)
        else:
            res = prog.solve(**kwargs)
    except InvalidInputError as exc:
        out.update(status="unsupported", message=str(exc))
        return out
    unmapped = res.raw.get("unmapped_status") if isinstance(res.raw, Mapping) else None
    if unmapped is not None:
        out["unmapped_status"] = str(unmapped)
    out.update(
        status="unmapped" if unmapped is not None else res.status, message=res.message,
        objective=_finite(res.objective),
        iterations=res.iterations, compile_s=_finite(res.compile_time),
        solve_s=_finite(res.solve_time), exact=bool(res.exact),
        solver=res.backend, violation=_max_violation(prog), trace=_trace(res.raw),
    )
    lower, gap, upper = (getattr(res, "lower_bound", None), getattr(res, "gap", None),
                         getattr(res, "upper_bound", None))
    if res.solved and _finite(lower) is None:
        t1 = time.perf_counter()
        try:
            cert = prog.certificate()
        except Exception as exc:  # noqa: BLE001 - a missing bound is recorded, not fatal
            out["certificate_message"] = f"{type(exc).__name__}: {exc}"
        else:
            lower, gap, upper = cert.lower_bound, cert.gap, cert.upper_bound
        out["certify_s"] = time.perf_counter() - t1
    out.update(lower_bound=_finite(lower), gap=_finite(gap), upper_bound=_finite(upper))
    if out["upper_bound"] is None and out["gap"] is not None and out["lower_bound"] is not None:
        out["upper_bound"] = out["lower_bound"] + out["gap"]
    return out


def _child(task: Mapping[str, Any], parent: int) -> dict[str, Any]:
    """:func:`solve_task` in the child, which dies with the sweep: a sweep killed with
    ``SIGKILL`` leaves no orphan solver running (Linux: ``PR_SET_PDEATHSIG``)."""
    _die_with_parent(parent)
    return solve_task(task)


def _die_with_parent(parent: int) -> None:
    if not platform.system() == "Linux":  # pragma: no cover
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _cpu_model() -> str | None:
    """The CPU's model name (Linux: ``/proc/cpuinfo``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Package versions and the machine of this process (recorded in every row)."""
    versions: dict[str, str | None] = {}
    for pkg in _VERSIONED:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        mem_gb = None
    machine = {
        "host": platform.node(),
        "platform": platform.platform(),
        "processor": _cpu_model() or platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gb": None if mem_gb is None else round(mem_gb, 1),
        "python": platform.python_version(),
    }
    return {"versions": versions, "machine": machine}


def run_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """One task -> one result row, the run isolated in a child process under its limits.

    A pure function of ``task`` (it may be shipped to another process or a cluster
    worker); it writes nothing.
    """
    from ..solving.isolation import run_isolated

    st = task["settings"]
    tl = st.get("time_limit")
    mem = st.get("memory_limit_gb")
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    outcome = run_isolated(
        _child, dict(task), os.getpid(),
        time_limit=None if tl is None else hard_time_limit(tl),
        memory_limit=None if mem is None else float(mem) * 2**30,
    )
    inst = task["instance"]
    dims = FAMILIES[inst["family"]].sizes.get(inst["size"], {}) if inst["family"] in FAMILIES \
        else {}
    row: dict[str, Any] = {"key": run_key(task), **inst, "backend": task["backend"],
                           "settings": dict(st), "dims": dict(dims)}
    if outcome.ok:
        row.update(outcome.value)
    else:
        message = outcome.message
        if outcome.status == "time_limit" and tl is not None:
            message += f" (the solver's time limit was {tl:g} s)"
        row.update(status=outcome.status, message=message)
    row.update(
        peak_mib=round(outcome.peak_mib, 1),
        added_mib=None if np.isnan(outcome.base_mib) else round(outcome.added_mib, 1),
        wall_s=outcome.wall_time, started=started, **environment(),
    )
    return row


# -- a sweep ----------------------------------------------------------------------------------
def _prewarm(tasks: Iterable[Mapping[str, Any]]) -> None:
    """Import the solvers and load the real data sets once in the parent, so every forked
    child starts with them (and their import time is not charged to a run)."""
    import cvxpy  # noqa: F401

    import sdpnets  # noqa: F401

    from . import instances

    kinds = {t["instance"]["data"] for t in tasks}
    for kind in kinds & {"digits", "diabetes"}:
        if real_data_available():
            instances._load_real(kind)
    for backend in {t["backend"] for t in tasks}:
        try:
            __import__(backend.split(":")[-1].lower())
        except ImportError:
            pass


def sweep(
    tasks: Sequence[Mapping[str, Any]],
    store,
    *,
    jobs: int = 1,
    progress: bool | None = None,
    runner: Callable[[Mapping[str, Any]], dict[str, Any]] = run_task,
    executor: Executor | None = None,
) -> dict[str, int]:
    """Run the tasks whose key is not in ``store`` yet, appending each row as it finishes.

    Parameters
    ----------
    tasks : list of dict
        From :func:`plan`.
    store : ResultsStore
    jobs : int
        Runs at a time (each in its own child process). Timings are only comparable
        with ``jobs=1`` on an otherwise idle machine.
    progress : bool or None
        Show a progress bar (tqdm) with the current run and the time left; ``None``: only
        when standard error is a terminal.
    runner : callable
        ``task -> row`` (default :func:`run_task`).
    executor : concurrent.futures.Executor, optional
        Where to run ``runner`` (e.g. a cluster's executor); rows are still appended
        here, in the order they finish. Default: this process, ``jobs`` threads.

    Returns
    -------
    dict
        ``{"planned": ..., "skipped": ..., "ran": ...}``.
    """
    done = store.keys()
    pending = [t for t in tasks if run_key(t) not in done]
    _prewarm(pending)
    bar = _progress_bar(len(pending), progress)
    try:
        if executor is None and jobs <= 1:
            for task in pending:
                bar.set_description(_describe(task), refresh=False)
                store.append(runner(task))
                bar.update(1)
        else:
            pool = executor or ThreadPoolExecutor(max_workers=jobs)
            futures = {pool.submit(runner, t): t for t in pending}
            try:
                for fut in as_completed(futures):
                    store.append(fut.result())
                    bar.set_description(_describe(futures[fut]), refresh=False)
                    bar.update(1)
            finally:
                for fut in futures:
                    fut.cancel()
                if executor is None:
                    pool.shutdown(wait=True)
    finally:
        bar.close()
    return {"planned": len(tasks), "skipped": len(tasks) - len(pending), "ran": len(pending)}


def _describe(task: Mapping[str, Any]) -> str:
    return f"{Instance(**task['instance']).label} {task['backend']}"


class _NoBar:
    def set_description(self, *args, **kwargs) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, progress: bool | None):
    if progress is False:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    # disable=None: tqdm hides the bar when its stream (stderr) is not a terminal.
    return tqdm(total=total, unit="run", disable=None if progress is None else not progress,
                dynamic_ncols=True)
