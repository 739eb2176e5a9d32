r"""The unpenalized output offset of the ReLU programs on sdpnets' own solvers: a search over
the offset around one-output solves (docs/relu.md section 4h).

The program with an intercept, :math:`\min_{z, c} L(Fz + c1, y) + \beta R(z)`, is the
minimum over ``c`` of the convex value function

.. math::

    \phi(c) = \min_z L(Fz + c1, y) + \beta R(z), \qquad
    \phi'(c) = 1^T \nabla L(Fz_c + c1) = -1^T v_c,

(partial minimization of a jointly convex function; :math:`v_c` the dual point of the
solution at ``c``). For a loss whose offset is a shift of the targets
(:attr:`~sdpnets.losses.Loss.shifts_targets`, the squared loss) each evaluation is one solve
of the program without intercept on targets :math:`y - c`, warm-started from the last one.
:func:`offset_search` finds the root of the increasing :math:`\phi'` by secant steps kept
inside the bracket found so far (bisection otherwise); its first step is the alternating
one, :math:`c \leftarrow \operatorname{mean}(y - Fz_c)`. The certificate of the result is
computed by the program with the dual point moved onto :math:`1^Tv = 0`, over all of ``(z,
c)`` jointly, so a search stopped early is reported by its gap, never hidden.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ...losses import Loss

__all__ = ["offset_search", "MAX_OFFSET_SOLVES"]

#: At most this many solves per output in one search.
MAX_OFFSET_SOLVES = 30


def offset_search(solve_at: Callable[[float, np.ndarray | None, float | None], tuple],
                  loss: Loss, y: np.ndarray, c0: float, start: np.ndarray | None, tol: float,
                  time_limit: float | None) -> tuple:
    r"""The offset ``c`` minimizing :math:`\phi` and the solve there.

    Parameters
    ----------
    solve_at : callable
        ``solve_at(c, start, time_limit) -> (result, prediction)``: one solve of the program
        without intercept on targets ``y - c`` from blocks ``start``, and its prediction
        :math:`Fz`.
    loss : Loss
        The program's loss (one whose offset shifts the targets).
    y : ndarray, shape (n,)
        The output's targets.
    c0 : float
        The first offset (the mean of ``y``, or the last solution's offset).
    start : ndarray or None
        Starting blocks of the first solve.
    tol : float
        The solves' tolerance; the search stops when
        :math:`|\phi'(c)| \le \tfrac{1}{10}\sqrt{\mathrm{tol}}\,\|v_c\|_1`: each solve's
        dual point is only first-order accurate (as in
        :func:`~sdpnets.solving.verify.verify_limit`), and an offset off by
        :math:`\delta` costs :math:`O(\delta^2)` in the objective, which the final
        certificate measures.
    time_limit : float or None
        Seconds for the whole search.

    Returns
    -------
    (result, c, solves)
        The last solve's result, its offset and the number of solves.
    """
    t0 = time.perf_counter()
    n = y.size
    lo: tuple[float, float] | None = None  # (c, g) with g < 0
    hi: tuple[float, float] | None = None  # (c, g) with g > 0
    prev: tuple[float, float] | None = None
    c = float(c0)
    solves = 0
    while True:
        left = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 0.0)
        result, pred = solve_at(c, start, left)
        solves += 1
        start = result.blocks
        v = loss.dual_point(pred + c, y)
        g = -float(np.sum(v))
        if abs(g) <= 0.1 * np.sqrt(tol) * float(np.sum(np.abs(v))) or solves >= MAX_OFFSET_SOLVES \
                or (time_limit is not None and time.perf_counter() - t0 >= time_limit) \
                or result.status not in ("optimal", "optimal_inaccurate"):
            return result, c, solves
        if g < 0:
            lo = (c, g)
        else:
            hi = (c, g)
        step = c - g / n  # the alternating step: phi'' <= n
        if prev is not None and g != prev[1]:
            secant = c - g * (c - prev[0]) / (g - prev[1])
            step = secant if np.isfinite(secant) else step
        if lo is not None and hi is not None and not lo[0] < step < hi[0]:
            step = 0.5 * (lo[0] + hi[0])  # phi' increases: the root is between lo and hi
        if step == c:
            return result, c, solves
        prev = (c, g)
        c = step
