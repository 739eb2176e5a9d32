"""Frozen records returned by solves and certificates."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal[
    "optimal",
    "optimal_inaccurate",
    "infeasible",
    "unbounded",
    "time_limit",
    "iteration_limit",
    "error",
]

#: Every status a :class:`SolveResult` can carry.
STATUSES: tuple[str, ...] = (
    "optimal",
    "optimal_inaccurate",
    "infeasible",
    "unbounded",
    "time_limit",
    "iteration_limit",
    "error",
)

#: Statuses from which a network may be recovered.
SOLVED_STATUSES: frozenset[str] = frozenset({"optimal", "optimal_inaccurate"})


def relative_gap(lower: float, upper: float) -> float:
    r"""The relative gap of a bracket, :math:`(u - \ell) / |u|`, the one definition used
    everywhere in sdpnets (certificates, verified statuses).

    It is relative to the objective's own size, so a small objective is judged as
    strictly as a large one. ``0`` when the bracket is closed (``u <= l``, round-off
    included); ``inf`` when the upper bound is zero but the bracket is open, or a bound is
    infinite or NaN.
    """
    if math.isnan(lower) or math.isnan(upper) or math.isinf(lower) or math.isinf(upper):
        return math.inf
    gap = upper - lower
    if gap <= 0.0:
        return 0.0
    if upper == 0.0:
        return math.inf
    return gap / abs(upper)


@dataclass(frozen=True)
class SolveResult:
    """Outcome of one solve of a convex program.

    Attributes
    ----------
    status : str
        One of :data:`STATUSES`. ``"optimal_inaccurate"`` is never folded into
        ``"optimal"``; a solver that stopped on a limit reports the limit.
    objective : float
        Optimal value in the package's objective scale (loss summed over samples,
        ``beta/2`` times squared Frobenius norms); ``nan`` when no point was found.
    backend : str
        Name of the backend that ran (``"clarabel"``, ``"scs"``, ``"mosek"``, or an
        exact non-conic method such as ``"ridge_path"``).
    solve_time, compile_time : float
        Seconds spent in the solver and in building/compiling the program.
    iterations : int or None
        Solver iterations, when the solver reports them.
    exact : bool
        ``True`` when the program's optimum *is* the network's global optimum.
        ``False`` when it is only an upper bound (e.g. ReLU with sampled patterns).
    message : str
        Human-readable detail (why a solve failed, how patterns were obtained, ...).
    raw : Any
        The backend's own status/statistics, untouched.
    lower_bound, upper_bound : float
        The certificate of the program that was solved, computed after every solve from
        the solution itself: ``lower_bound`` the value of a dual-feasible point built from
        it, ``upper_bound`` the objective of the recovered network. Never NaN:
        ``-inf``/``inf`` when the solve produced no point.
    gap : float
        ``upper_bound - lower_bound`` (``inf`` without a point).
    data_pass_time : float
        Seconds of the one pass over a Dask array that computed the data's sufficient
        statistics when the program was built (0 for in-memory data); not part of
        ``solve_time`` or ``compile_time``.
    """

    status: str
    objective: float
    backend: str
    solve_time: float = float("nan")
    compile_time: float = float("nan")
    iterations: int | None = None
    exact: bool = True
    message: str = ""
    raw: Any = field(default=None, repr=False, compare=False)
    lower_bound: float = -math.inf
    upper_bound: float = math.inf
    gap: float = math.inf
    data_pass_time: float = 0.0

    @property
    def solved(self) -> bool:
        """Whether a (possibly inaccurate) optimal point is available."""
        return self.status in SOLVED_STATUSES

    @property
    def relative_gap(self) -> float:
        """:func:`relative_gap` of the certified bracket (``inf`` without one)."""
        return relative_gap(self.lower_bound, self.upper_bound)


@dataclass(frozen=True)
class Certificate:
    """A certified bracket on the global optimum of a network training problem.

    ``lower_bound <= global optimum <= upper_bound``. The lower bound is the value of a
    dual-feasible point (weak duality); the upper bound is the training objective of an
    actual network. ``gap = upper_bound - lower_bound``.

    Attributes
    ----------
    lower_bound, upper_bound, gap : float
        The bracket ``lower_bound <= optimum <= upper_bound`` and its width.
    dual_point : numpy.ndarray or None
        The dual-feasible point that gives the lower bound (``None`` for methods whose
        lower bound does not come from a dual point).
    kind : str
        ``"exact"``: the dual point's feasibility was measured exactly (for ReLU networks,
        the dual norm over every activation pattern), so the bound is tight at an optimal
        network. ``"relaxation"``: the dual norm was only bounded above (a convex
        relaxation, when the patterns are too many to enumerate); the lower bound is still
        valid but may be loose.
    dual_norm_bounds : tuple of float or None
        For ``"relaxation"`` (and exact ReLU) certificates, ``(lower, upper)`` on the dual
        norm at the (unscaled) dual point, for the output where they are furthest apart:
        ``upper / lower`` says how loose the relaxation may be (``lower == upper`` when
        exact).
    """

    lower_bound: float
    upper_bound: float
    gap: float
    dual_point: Any = field(default=None, repr=False, compare=False)
    kind: str = "exact"
    dual_norm_bounds: tuple[float, float] | None = None

    @property
    def relative_gap(self) -> float:
        """``gap / |upper_bound|`` (see :func:`relative_gap`): relative to the objective's
        own size, however small."""
        return relative_gap(self.lower_bound, self.upper_bound)


class BetaMaxInterval(float):
    r"""A certified interval on ``beta_max``, usable as the float of its upper end.

    Returned when ``beta_max`` could not be computed exactly: the zero network is certainly
    the global optimum for every ``beta`` at or above the upper end.

    Parameters
    ----------
    lower, upper : float
        The interval ``lower <= beta_max <= upper``; the float's value is ``upper``.
    exact : bool
        ``True`` when ``lower == upper`` is the exact value.
    """

    lower: float
    upper: float
    exact: bool

    def __new__(cls, lower: float, upper: float, exact: bool = False):
        obj = super().__new__(cls, float(upper))
        obj.lower, obj.upper, obj.exact = float(lower), float(upper), bool(exact)
        return obj

    def __repr__(self) -> str:
        if self.exact:
            return f"BetaMaxInterval({self.upper!r}, exact)"
        return f"BetaMaxInterval(lower={self.lower!r}, upper={self.upper!r})"

    def __reduce__(self):
        return (BetaMaxInterval, (self.lower, self.upper, self.exact))
