r"""Summaries of a results file: honest counts, shifted geometric means, profiles.

Accounting
----------
Every run is one of:

* **solved**: status ``optimal`` and, for programs whose optimum is the network's global
  optimum, a certified relative gap :math:`(u - l)/|u|` at most
  :data:`ACCURACY_FACTOR` times the requested tolerance (an ``optimal`` without a
  certificate counts as solved and is shown as *uncertified*);
* **inaccurate**: ``optimal_inaccurate``, or ``optimal`` whose certified gap exceeds that
  bound: never counted as solved;
* a **failure** of its own kind: ``time_limit``, ``iteration_limit``, ``memory_limit``,
  ``crashed``, ``error``, ``infeasible``, ``unbounded`` (these programs are always
  feasible and bounded), ``unmapped`` (a ``cvxpy:NAME`` solver ended with a status sdpnets
  does not know);
* **unsupported**: the family refused the backend before solving; not a failure, and the
  instance is left out of that backend's comparisons.

Comparisons are made over the instances every compared backend was run on: runs are
grouped by the set of configurations (backend and settings) that support their instance,
and each group gets its own table. In it, the time of a configuration is the shifted
geometric mean

.. math::

    \operatorname{sgm}_s(t_1, \dots, t_m) = \Big(\prod_{i=1}^m (t_i + s)\Big)^{1/m} - s

with the shift ``s`` stated (1 s by default; Mittelmann uses 10 s for longer runs), an
unsolved run counting at its time limit; the time is the one the user waits for,
compile plus solve (a first-order solver compiles nothing, a conic one spends much of its
time there). Accuracy is the relative gap of a run's certified upper bound (its network's
objective) to the best lower bound any backend certified on the instance,
:math:`(u - \ell_{\text{best}})/|u|`: :func:`sdpnets.results.relative_gap`, the one definition
used everywhere.

An instance is its family, size, data, seed and fraction of :math:`\beta_{\max}` (rows
written before the fraction existed are at :data:`~sdpnets.bench.instances.BETA_FRACTION`).
When a file holds several fractions, each comparison is also broken down by fraction:
solved counts and shifted geometric means per configuration per fraction.

Dolan-Moré performance profiles: for a measure :math:`m_{p,c}` of configuration ``c`` on
instance ``p`` (time the user waits; or accuracy floored at the requested tolerance, so every run that met
it ties), :math:`\rho_c(\tau)` is the fraction of instances with
:math:`m_{p,c} \le \tau \min_{c'} m_{p,c'}`; unsolved runs never count.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..results import relative_gap
from .instances import BETA_FRACTION

__all__ = [
    "ACCURACY_FACTOR",
    "DEFAULT_SHIFT",
    "FAILURE_KINDS",
    "shifted_geometric_mean",
    "classify",
    "summarize",
    "format_summary",
    "format_by_fraction",
    "beta_fraction",
    "performance_profile",
    "plot_profiles",
    "plot_convergence",
]

#: An ``optimal`` run is solved when its certified relative gap is at most this many times
#: the requested tolerance.
ACCURACY_FACTOR = 10.0
#: Shift (seconds) of the shifted geometric mean of times.
DEFAULT_SHIFT = 1.0
#: Kinds of unsuccessful runs, in the order the report lists them.
FAILURE_KINDS = ("inaccurate", "time_limit", "iteration_limit", "memory_limit", "crashed",
                 "error", "infeasible", "unbounded", "unmapped")


def shifted_geometric_mean(values: Iterable[float], shift: float = DEFAULT_SHIFT) -> float:
    r""":math:`\big(\prod_i (t_i + s)\big)^{1/m} - s` (``nan`` for no values)."""
    t = np.asarray(list(values), dtype=float)
    if t.size == 0:
        return float("nan")
    if shift < 0 or np.any(t + shift <= 0):
        raise InvalidInputError(f"shift must make every t + shift positive, got shift={shift!r}.")
    return float(np.exp(np.mean(np.log(t + shift))) - shift)


def _relative_gap(row: Mapping[str, Any]) -> float | None:
    """:func:`~sdpnets.results.relative_gap` of a row's certified bracket (``None``: no
    bounds)."""
    upper, lower = row.get("upper_bound"), row.get("lower_bound")
    if upper is None or lower is None:
        return None
    return relative_gap(float(lower), float(upper))


def classify(row: Mapping[str, Any], factor: float = ACCURACY_FACTOR) -> str:
    """``"solved"``, ``"unsupported"`` or a kind in :data:`FAILURE_KINDS` (see module doc)."""
    status = row.get("status", "error")
    if status == "unsupported":
        return "unsupported"
    if status == "optimal_inaccurate":
        return "inaccurate"
    if status == "optimal":
        rel = _relative_gap(row)
        tol = float(row.get("settings", {}).get("tol") or 0.0)
        if row.get("exact", True) and rel is not None and tol > 0 and rel > factor * tol:
            return "inaccurate"
        return "solved"
    return status if status in FAILURE_KINDS else "error"


def beta_fraction(row: Mapping[str, Any]) -> float:
    """A row's fraction of ``beta_max`` (:data:`BETA_FRACTION` for rows without one)."""
    f = row.get("beta_fraction")
    return BETA_FRACTION if f is None else float(f)


def _instance_key(row: Mapping[str, Any]) -> tuple:
    return (row.get("family"), row.get("size"), row.get("seed"), row.get("data"),
            row.get("conditioning"), beta_fraction(row))


def _config_labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Backend name plus the settings that vary in this file (e.g. ``scs tol=1e-08``)."""
    varying = sorted(
        k for k in {k for r in rows for k in r.get("settings", {})}
        if len({repr(r.get("settings", {}).get(k)) for r in rows}) > 1
    )
    labels = []
    for r in rows:
        st = r.get("settings", {})
        extra = " ".join(f"{k}={_fmt_setting(st.get(k))}" for k in varying)
        labels.append(f"{r.get('backend')} {extra}".strip())
    return labels


def _fmt_setting(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


@dataclass
class Group:
    """Instances run on the same set of configurations, compared in one table."""

    configs: list[str]
    instances: list[tuple]
    families: list[str]
    table: list[dict[str, Any]] = field(default_factory=list)
    #: config -> fraction -> {"instances", "solved", "sgm_solve_s"}
    by_fraction: dict[str, dict[float, dict[str, Any]]] = field(default_factory=dict)

    @property
    def fractions(self) -> list[float]:
        """The fractions of ``beta_max`` of the group's instances, largest first."""
        return sorted({k[-1] for k in self.instances}, reverse=True)


@dataclass
class Summary:
    """What :func:`summarize` found (see :func:`format_summary`)."""

    shift: float
    factor: float
    counts: list[dict[str, Any]]
    groups: list[Group]
    runs: dict[tuple, dict[str, dict[str, Any]]]  # instance -> config -> measures
    n_rows: int
    environments: list[str] = field(default_factory=list)


def _environment(row: Mapping[str, Any]) -> str:
    """One line naming the machine and the package versions a row was measured with."""
    m = row.get("machine") or {}
    v = row.get("versions") or {}
    machine = ", ".join(str(x) for x in (
        m.get("processor"), m.get("cpus") and f"{m['cpus']} CPUs",
        m.get("memory_gb") and f"{m['memory_gb']} GB", m.get("platform"),
        m.get("python") and f"Python {m['python']}") if x)
    versions = ", ".join(f"{k} {val}" for k, val in v.items() if val)
    return "; ".join(x for x in (machine, versions) if x)


def _time_of(row: Mapping[str, Any], outcome: str, kind: str = "solve") -> float:
    """A run's time: solve (or compile + solve) seconds when solved, else its time limit."""
    limit = row.get("settings", {}).get("time_limit")
    if outcome != "solved":
        if limit is None:
            wall = row.get("wall_s")
            return float(wall) if wall is not None else float("nan")
        return float(limit)
    solve = row.get("solve_s")
    solve = float(solve) if solve is not None else float(row.get("wall_s") or 0.0)
    if kind == "total":
        solve += float(row.get("compile_s") or 0.0)
    return solve


def summarize(
    rows: Sequence[Mapping[str, Any]],
    shift: float = DEFAULT_SHIFT,
    factor: float = ACCURACY_FACTOR,
    backends: Sequence[str] | None = None,
) -> Summary:
    """Count outcomes per configuration and compare configurations on common instances.

    Parameters
    ----------
    rows : list of dict
        Rows of a results file (:func:`~sdpnets.bench.store.read_rows`).
    shift : float
        Seconds added before the geometric mean (stated in the report).
    factor : float
        Tolerance factor of the accuracy test (:func:`classify`).
    backends : list of str, optional
        Compare only these backends.
    """
    if backends is not None:
        rows = [r for r in rows if r.get("backend") in set(backends)]
    labels = _config_labels(rows)
    best_lower: dict[tuple, float] = {}
    for r in rows:
        lb = r.get("lower_bound")
        if lb is not None and r.get("exact", True):
            key = _instance_key(r)
            best_lower[key] = max(best_lower.get(key, -math.inf), float(lb))
    runs: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    counts: dict[str, Counter] = defaultdict(Counter)
    uncertified: Counter = Counter()
    for label, r in zip(labels, rows):
        outcome = classify(r, factor)
        counts[label][outcome] += 1
        if outcome == "unsupported":
            continue
        key = _instance_key(r)
        acc = None
        upper = r.get("upper_bound")
        upper = r.get("objective") if upper is None else upper
        if outcome == "solved":
            if r.get("exact", True) and r.get("lower_bound") is None:
                uncertified[label] += 1
            if upper is not None and key in best_lower:
                acc = relative_gap(best_lower[key], float(upper))
        runs[key][label] = {
            "outcome": outcome,
            "time": _time_of(r, outcome),
            "total": _time_of(r, outcome, "total"),
            "accuracy": acc,
            "tol": float(r.get("settings", {}).get("tol") or 0.0),
            "added_mib": r.get("added_mib", r.get("peak_mib")),
        }
    table = []
    for label in sorted(counts):
        c = counts[label]
        ran = sum(v for k, v in c.items() if k != "unsupported")
        table.append({"config": label, "runs": ran, "solved": c["solved"],
                      "uncertified": uncertified[label], "unsupported": c["unsupported"],
                      **{k: c[k] for k in FAILURE_KINDS}})
    by_configs: dict[tuple, list[tuple]] = defaultdict(list)
    for key, per in runs.items():
        by_configs[tuple(sorted(per))].append(key)
    groups = []
    for configs, instances in sorted(by_configs.items(), key=lambda kv: (-len(kv[0]), kv[0])):
        g = Group(list(configs), sorted(instances, key=str),
                  sorted({k[0] for k in instances}))
        for c in configs:
            m = [runs[k][c] for k in g.instances]
            accs = [x["accuracy"] for x in m if x["accuracy"] is not None]
            g.table.append({
                "config": c,
                "instances": len(m),
                "solved": sum(x["outcome"] == "solved" for x in m),
                "sgm_solve_s": shifted_geometric_mean([x["time"] for x in m], shift),
                "sgm_total_s": shifted_geometric_mean([x["total"] for x in m], shift),
                "gap_median": float(np.median(accs)) if accs else None,
                "gap_max": max(accs) if accs else None,
                "added_mib_max": max((x["added_mib"] for x in m if x["added_mib"] is not None),
                                     default=None),
            })
        fastest = min((r["sgm_solve_s"] for r in g.table), default=float("nan"))
        for r in g.table:
            r["relative"] = r["sgm_solve_s"] / fastest if fastest > 0 else float("nan")
        for c in configs:
            g.by_fraction[c] = {}
            for f in g.fractions:
                m = [runs[k][c] for k in g.instances if k[-1] == f]
                g.by_fraction[c][f] = {
                    "instances": len(m),
                    "solved": sum(x["outcome"] == "solved" for x in m),
                    "sgm_solve_s": shifted_geometric_mean([x["time"] for x in m], shift),
                }
        groups.append(g)
    environments = sorted({_environment(r) for r in rows} - {""})
    return Summary(shift, factor, table, groups, dict(runs), len(rows), environments)


# -- text ----------------------------------------------------------------------------------
def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _num(x: Any, spec: str = ".3g") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def format_summary(summary: Summary, by_family: bool = False) -> str:
    """The report as text: outcome counts per configuration, then one comparison table per
    group of instances run on the same configurations (and, with ``by_family``, one row
    per family)."""
    out = [f"{summary.n_rows} runs. Solved = status optimal with a certified relative gap "
           f"<= {summary.factor:g} x tol (exact programs); 'inaccurate' is never solved."]
    out += [f"Measured on: {env}" for env in summary.environments] + [""]
    kinds = [k for k in FAILURE_KINDS if any(r[k] for r in summary.counts)]
    header = ["backend", "runs", "solved", *kinds, "uncertified", "unsupported"]
    out.append(_table(header, [[r["config"], r["runs"], r["solved"], *(r[k] for k in kinds),
                                r["uncertified"], r["unsupported"]] for r in summary.counts]))
    out += ["", f"Time: shifted geometric mean (shift {summary.shift:g} s) over the instances "
            f"every backend in the table was run on; an unsolved run counts at its time "
            f"limit; 'rel' is relative to the fastest; total = compile + solve. Gap: "
            f"(network objective - best certified lower bound of the instance) / |bound|, "
            f"over solved runs. Added MiB: memory a run added at its peak (largest)."]
    for g in summary.groups:
        fams = ", ".join(g.families)
        out += ["", f"{len(g.instances)} instances ({fams}):"]
        out.append(_table(
            ["backend", "solved", "sgm solve s", "rel", "sgm total s", "gap median",
             "gap max", "added MiB"],
            [[r["config"], f"{r['solved']}/{r['instances']}", _num(r["sgm_solve_s"], ".4g"),
              _num(r["relative"], ".2f"), _num(r["sgm_total_s"], ".4g"),
              _num(r["gap_median"], ".1e"), _num(r["gap_max"], ".1e"),
              _num(r["added_mib_max"], ".0f")] for r in g.table],
        ))
        if len(g.fractions) > 1:
            out += ["", "  by beta / beta_max: solved/instances and sgm solve s"]
            out.append(format_by_fraction(g))
    if by_family:
        out += ["", "Per family: solved/instances and sgm solve s."]
        for g in summary.groups:
            rows = []
            for fam in g.families:
                keys = [k for k in g.instances if k[0] == fam]
                cells = []
                for c in g.configs:
                    m = [summary.runs[k][c] for k in keys]
                    solved = sum(x["outcome"] == "solved" for x in m)
                    sgm = shifted_geometric_mean([x["time"] for x in m], summary.shift)
                    cells.append(f"{solved}/{len(m)} {_num(sgm, '.3g')}")
                rows.append([fam, *cells])
            out += ["", _table(["family", *g.configs], rows)]
    return "\n".join(out)


def format_by_fraction(group: Group) -> str:
    """One row per configuration, one column per fraction of ``beta_max``:
    ``solved/instances`` and the shifted geometric mean of solve times."""
    rows = []
    for c in group.configs:
        cells = []
        for f in group.fractions:
            cell = group.by_fraction[c][f]
            cells.append(f"{cell['solved']}/{cell['instances']} "
                         f"{_num(cell['sgm_solve_s'], '.3g')}")
        rows.append([c, *cells])
    return _table(["backend", *(f"{f:g}" for f in group.fractions)], rows)


# -- profiles ------------------------------------------------------------------------------
def performance_profile(measures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Dolan-Moré profile of a ``(instances, configs)`` array of measures (``inf``:
    unsolved).

    Returns
    -------
    taus : ndarray
        The sorted distinct finite ratios (starting at 1).
    rho : ndarray, shape (len(taus), configs)
        :math:`\rho_c(\tau)`, the fraction of instances with ratio :math:`\le \tau`.
    """
    m = np.asarray(measures, dtype=float)
    best = np.min(m, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(np.isfinite(m) & np.isfinite(best), m / best, np.inf)
    ratios = np.where(best == 0, np.where(m == 0, 1.0, np.inf), ratios)
    finite = ratios[np.isfinite(ratios)]
    taus = np.unique(np.concatenate([[1.0], finite]))
    rho = (ratios[None, :, :] <= taus[:, None, None]).mean(axis=1)
    return taus, rho


def _measures(summary: Summary, group: Group, what: str) -> np.ndarray:
    m = np.full((len(group.instances), len(group.configs)), np.inf)
    for i, key in enumerate(group.instances):
        for j, c in enumerate(group.configs):
            run = summary.runs[key][c]
            if run["outcome"] != "solved":
                continue
            if what == "time":  # the time the user waits: compile + solve
                m[i, j] = max(run["total"], 1e-6)
            elif run["accuracy"] is None:
                m[i, j] = np.nan  # solved, but no certified bound to measure it against
            else:
                m[i, j] = max(run["accuracy"], run["tol"], 1e-16)
    # Instances where a solved run has no measure (programs that are only upper bounds)
    # are left out rather than counted as failures.
    return m[~np.isnan(m).any(axis=1)]


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise InvalidInputError(
            "plots need matplotlib: pip install 'sdpnets[plot]'."
        ) from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, directory: Path, stem: str) -> list[Path]:
    paths = []
    for ext in ("png", "svg"):
        path = directory / f"{stem}.{ext}"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        paths.append(path)
    return paths


def plot_profiles(summary: Summary, directory: str | os.PathLike) -> list[Path]:
    """Time and accuracy performance profiles, one row per group of at least two
    configurations, as ``profiles.png`` and ``profiles.svg`` in ``directory``."""
    plt = _pyplot()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    groups = [g for g in summary.groups if len(g.configs) >= 2] or summary.groups[:1]
    if not groups:
        raise InvalidInputError("no runs to plot.")
    fig, axes = plt.subplots(len(groups), 2, figsize=(11, 3.6 * len(groups)), squeeze=False)
    for row, g in zip(axes, groups):
        for ax, what in zip(row, ("time", "accuracy")):
            measures = _measures(summary, g, what)
            if measures.shape[0] == 0:
                ax.set_axis_off()
                ax.set_title(f"{what}: no measurable instances", fontsize=8)
                continue
            taus, rho = performance_profile(measures)
            taus = np.append(taus, 2.0 * taus[-1])  # show the final level
            rho = np.vstack([rho, rho[-1:]])
            for j, c in enumerate(g.configs):
                ax.step(taus, rho[:, j], where="post", label=c)
            ax.set_xscale("log", base=2)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(r"$\tau$ (ratio to the best " + (
                "compile + solve time" if what == "time" else "gap, floored at tol") + ")")
            ax.set_ylabel(r"fraction of instances within $\tau$")
            fams = textwrap.fill(", ".join(g.families), 70)
            ax.set_title(f"{what}: {measures.shape[0]} instances of\n{fams}", fontsize=8)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    paths = _save(fig, directory, "profiles")
    plt.close(fig)
    return paths


def plot_convergence(rows: Sequence[Mapping[str, Any]],
                     directory: str | os.PathLike) -> list[Path]:
    """Gap against time for runs whose backend recorded its iterates (``trace``), as
    ``convergence.png`` and ``.svg``; nothing (``[]``) when no run has a trace."""
    traced = [r for r in rows if r.get("trace") and r["trace"].get("time")]
    if not traced:
        return []
    plt = _pyplot()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors: dict[str, Any] = {}
    for r in traced:
        t = np.asarray(r["trace"]["time"], dtype=float)
        g = np.maximum(np.asarray(r["trace"]["gap"], dtype=float), 1e-16)
        label = r.get("backend", "?")
        first = label not in colors
        if first:
            colors[label] = f"C{len(colors) % 10}"
        ax.loglog(np.maximum(t, 1e-6), g, color=colors[label], alpha=0.6, lw=1,
                  label=label if first else None)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("certified gap")
    ax.set_title(f"convergence of {len(traced)} runs", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths = _save(fig, directory, "convergence")
    plt.close(fig)
    return paths
