r"""Write a preset's instances to files a solver in any language reads, with a manifest of
their certified optima (``sdpnets bench export``).

For every instance of the preset (:func:`~sdpnets.bench.runner.plan_instances`) the
program is built, taken to its conic standard form (:mod:`.formats.conic`) and written as
CBF or SDPA; then it is solved (``backend``, default ``"auto"``) and the certified bracket
of its optimum, :math:`\ell \le p^\star \le u` (the lower bound of a dual-feasible point
built from the solution, the upper bound of the recovered network:
``SolveResult.lower_bound``/``upper_bound``), is mapped to the file's units.

Units. The conic solver sees the program *equilibrated* (the data divided by scales ``x``
and ``y``, :meth:`ConvexProgram._equilibrate`), whose objective is the network's training
objective divided by :math:`y^2`; the file's objective also leaves out the constant term.
So, for every feasible point,

.. math::

    \text{training objective} = \text{offset} + \text{scale} \times \text{file objective},
    \qquad \text{scale} = y^2,

with ``offset`` = ``scale`` times the constant (the standard form's, plus what the SDPA
writer's elimination of equalities adds). The manifest records both, the bracket in the
file's units (``lower_bound``, ``upper_bound``) and in the network's
(``network_lower_bound``, ``network_upper_bound``), and ``optimum``: the solver's value
clipped into the bracket. A program's optimum is the network's global optimum when
``exact`` is true (for sampled activation patterns it is the optimum of the program over
those patterns, which is what the file holds).

Instances that have no file say why in ``skipped`` (the ridge-path family has no convex
program; SDPA has no exponential cone); an instance whose certifying solve failed has its
file but ``optimum``, ``lower_bound`` and ``upper_bound`` ``null``, with the solve's status.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, SdpnetsError
from .formats import FORMATS, SUFFIXES, conic_form, sdpa_refusal, write_cbf, write_sdpa
from .instances import FAMILIES, Instance, build
from .runner import PRESET_TIME_LIMITS, plan_instances

__all__ = ["MANIFEST", "EXPORT_TOL", "export", "export_instance", "within_bracket"]

#: Name of the manifest written next to the files.
MANIFEST = "manifest.json"

#: Tolerance of the certifying solves.
EXPORT_TOL = 1e-8


def within_bracket(value: float, entry: Mapping[str, Any], tol: float) -> bool:
    """Whether ``value`` (a file's objective value) lies in ``entry``'s certified bracket,
    widened by ``tol`` relative to :math:`\\max(1, |\\text{bound}|)` (the convention of
    ``benchmarks/score_against_manifest.py``)."""
    lo, hi = entry.get("lower_bound"), entry.get("upper_bound")
    if lo is None or hi is None or not math.isfinite(value):
        return False
    return lo - tol * max(1.0, abs(lo)) <= value <= hi + tol * max(1.0, abs(hi))


def _file_entry(inst: Instance) -> dict[str, Any]:
    fam = FAMILIES[inst.family]
    return {"family": inst.family, "size": inst.size, "seed": inst.seed, "data": inst.data,
            "conditioning": inst.conditioning, "sizes": dict(fam.sizes.get(inst.size, {})),
            "beta_fraction": inst.beta_fraction}


def export_instance(inst: Instance, fmt: str, directory: str | os.PathLike, *,
                    backend: str = "auto", tol: float = EXPORT_TOL,
                    time_limit: float | None = None) -> dict[str, Any]:
    """Write one instance and return its manifest entry (see the module doc)."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    entry = _file_entry(inst)
    entry.update(format=fmt, file=None)
    fam = FAMILIES[inst.family]
    if fam.native:
        entry["skipped"] = (f"{inst.family} has no convex program (sdpnets solves it by the "
                            f"exact {fam.native} method)")
        return entry
    try:
        built = build(inst)
    except SdpnetsError as exc:
        entry["skipped"] = f"the instance could not be built: {exc}"
        return entry
    prog = built.program
    X = getattr(prog, "X", None)
    entry.update(beta=prog.beta, beta_max=built.beta_max, beta_max_exact=built.beta_max_exact,
                 exact=bool(prog.exact), X_shape=None if X is None else list(X.shape))
    form = conic_form(prog.problem)  # built, and equilibrated, before any solve
    scale = prog.objective_scale
    path = Path(directory) / (inst.stem + SUFFIXES[fmt])
    if fmt == "sdpa":
        reason = sdpa_refusal(form)
        if reason:
            entry["skipped"] = reason
            return entry
        info = write_sdpa(form, path)
        entry["sdpa"] = {"blocks": info["blocks"], "equality_pairs": info["equality_pairs"]}
    else:
        info = write_cbf(form, path)
    offset = scale * info["offset"]
    entry.update(file=path.name, offset=offset, scale=scale, cones=form.summary(),
                 notes=form.notes)
    started = time.perf_counter()
    res = prog.solve(backend=backend, tol=tol, time_limit=time_limit, isolate=True)
    entry["certified_by"] = {
        "backend": res.backend, "status": res.status, "tol": tol,
        "relative_gap": res.relative_gap if math.isfinite(res.relative_gap) else None,
        "seconds": round(time.perf_counter() - started, 3),
    }
    lo, hi = res.lower_bound, res.upper_bound
    if res.solved and math.isfinite(lo) and math.isfinite(hi):
        value = min(max(res.objective, lo), hi) if math.isfinite(res.objective) else hi
        entry.update(
            optimum=(value - offset) / scale, lower_bound=(lo - offset) / scale,
            upper_bound=(hi - offset) / scale, network_optimum=value,
            network_lower_bound=lo, network_upper_bound=hi,
        )
    else:
        entry.update(optimum=None, lower_bound=None, upper_bound=None, network_optimum=None,
                     network_lower_bound=None, network_upper_bound=None)
        entry["certified_by"]["message"] = res.message
    return entry


def export(
    preset: str,
    fmt: str,
    directory: str | os.PathLike,
    *,
    families: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    data: Sequence[tuple[str, float | None]] | None = None,
    fractions: Sequence[float] | None = None,
    backend: str = "auto",
    tol: float = EXPORT_TOL,
    time_limit: float | None = None,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Write every instance of ``preset`` to ``directory`` in format ``fmt`` (``"cbf"`` or
    ``"sdpa"``) and the manifest (:data:`MANIFEST`, a JSON list of the entries, rewritten
    after each instance so an interrupted export keeps what it wrote).

    Parameters
    ----------
    preset, families, seeds, data, fractions
        As for :func:`~sdpnets.bench.runner.plan`.
    backend : str
        Certifies the optima (any backend; the bracket is the program's own certificate).
    tol : float
        Tolerance of the certifying solves.
    time_limit : float, optional
        Seconds per certifying solve (default: the preset's).
    progress : callable, optional
        ``progress(done, total, entry)`` after each instance.

    Returns
    -------
    list of dict
        The manifest's entries.
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    instances = plan_instances(preset, families, seeds, data, fractions)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    limit = PRESET_TIME_LIMITS[preset] if time_limit is None else time_limit
    manifest: list[dict[str, Any]] = []
    for done, inst in enumerate(instances, 1):
        entry = export_instance(inst, fmt, directory, backend=backend, tol=tol,
                                time_limit=limit)
        manifest.append(entry)
        _write_json(directory / MANIFEST, manifest)
        if progress is not None:
            progress(done, len(instances), entry)
    return manifest


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(value, indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)
