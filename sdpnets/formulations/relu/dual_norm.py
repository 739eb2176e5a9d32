r"""Certified bounds on the two-layer ReLU dual norm without enumerating every pattern, and
the best dual point in the subdifferential of a non-smooth loss.

The lower bound on the global optimum of a ReLU training problem comes from a dual point
``v`` scaled into feasibility, and feasibility is a bound on the dual norm

.. math::

    N(v) = \max_{\|u\|_2 \le 1} |v^T (Au)_+| = \max\big(N_+(v), N_+(-v)\big),
    \qquad N_+(w) = \max_{\|u\|_2 \le 1} w^T (Au)_+ .

Computing it exactly takes every activation pattern of ``A``'s rows. Any *upper* bound on
:math:`N(v)` keeps the certificate valid (only looser), and any direction ``u`` gives a
lower bound :math:`|v^T(Au)_+|` that says how loose it may be.

**Upper bound (a convex relaxation, certified by its multipliers).** Write
:math:`w_i (t)_+ = \tfrac12 w_i t + \tfrac12 w_i |t|` with :math:`t = a_i^T u`,
:math:`|t| \le r_i = \|a_i\|`. For :math:`w_i > 0` bound :math:`|t| \le t^2/(2\kappa_i) +
\kappa_i/2` (any :math:`\kappa_i > 0`); for :math:`w_i < 0` use
:math:`|t| \ge (1 - \pi_i)\delta_i t + \pi_i t^2 / r_i` (any :math:`\pi_i \in [0, 1]`,
:math:`|\delta_i| \le 1`). With :math:`\zeta_i = w_i/(4\kappa_i)`,
:math:`e_i = (1 - \pi_i)\delta_i`, this gives for every unit ``u``

.. math::

    w^T (Au)_+ \le \sum_{w_i > 0} \frac{w_i^2}{16\zeta_i} + g^T u + u^T H u,\quad
    g = \tfrac12 A^T w - \tfrac12 \sum_{w_i < 0} |w_i| e_i a_i,\quad
    H = \sum_{w_i > 0} \zeta_i a_i a_i^T - \sum_{w_i < 0} \frac{|w_i|\pi_i}{2 r_i} a_i a_i^T,

and the trust-region problem is bounded exactly by
:math:`\max_{\|u\| \le 1} u^T H u + g^T u \le \rho + \tfrac14 g^T(\rho I - H)^{-1} g` for any
:math:`\rho \ge 0`, :math:`\rho I \succ H`. Every choice of multipliers
:math:`(\zeta, \pi, e)` gives a valid bound; the best is a small conic program (one
``(d+1)``-square semidefinite cone and ``n`` rotated cones, solved by Clarabel). Its
solution is only used to *choose* the multipliers: the bound itself is re-evaluated from
them in floating point (clipped into their domain, :math:`\rho` minimized in closed form
over the eigenvalues of ``H``), so it holds whatever the solver's accuracy. The same
program is the dual of the semidefinite relaxation that lifts :math:`uu^T` to ``U`` and
replaces :math:`|a_i^T u|` by :math:`\sqrt{a_i^T U a_i}` (positive weights) and by
:math:`\max(|a_i^T u|, a_i^T U a_i / r_i)` (negative weights). Choosing
:math:`\zeta_i = w_i/(4 r_i)`, :math:`\pi = 0` recovers the "triangle" bound
:math:`(t)_+ \le (t + r_i)/2`; it is used, as a cheaper fallback, when the conic program
would be too large (``n d^2`` above :data:`MAX_RELAXATION_SIZE`) or fails.

**Lower bound.** :math:`|v^T(Au)_+|` at given directions (neurons, gates), random
directions and the rows of ``A``, each of the best improved by local ascent: fix the
pattern of ``u``, maximize over its cone by one non-negative least-squares problem, repeat.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from scipy.optimize import lsq_linear, nnls

from ...backends.clarabel import fork_safe_options
from ...errors import ProblemTooLargeError
from ...features.arrangement import arrangement_info
from ...features.patterns import DEFAULT_MAX_PATTERNS, enumerate_patterns

__all__ = [
    "relu_dual_norm",
    "every_cell",
    "cells_if_they_fit",
    "DualNormBracket",
    "MAX_RELAXATION_SIZE",
    "relu_dual_norm_upper",
    "relu_dual_norm_lower",
    "relu_dual_norm_bracket",
    "hinge_dual_point",
]

logger = logging.getLogger(__name__)

#: Accelerated projected-gradient steps that tighten every pattern's bound in
#: :func:`relu_dual_norm` before its exact solves (10-class digits' ``beta_max``, 1280
#: pattern-sign pairs: 410 bounds above the maximum from ``||A^T D v||``, 7 after 10 steps).
BOUND_STEPS = 10

#: Multipliers (floats) the tightening holds at once (a few arrays of this size, 32 MiB
#: each): the patterns go in chunks.
_BOUND_FLOATS = 1 << 22

#: Largest ``n * d**2`` for which the conic relaxation is solved; above it the closed-form
#: "triangle" multipliers are used (valid, looser).
MAX_RELAXATION_SIZE = 50_000

#: Local ascent polishes over a pattern's cone by NNLS only up to this many rows.
MAX_NNLS_ROWS = 2000

#: The hinge dual-point program constrains at most this many cells (cuts first, then the
#: largest neurons).
HINGE_MAX_CELLS = 32

#: Relative safety margin added to every upper bound for floating-point round-off.
_ROUNDOFF = 1e-12


# --- the certified upper bound --------------------------------------------------------------


def _best_rho(h: np.ndarray, gam2: np.ndarray, spread: float) -> float:
    r"""The minimizer over :math:`\rho \ge \max(h_{\max}, 0)` of
    :math:`\rho + \tfrac14\sum_k \gamma_k^2/(\rho - h_k)`, from the eigenvalues ``h`` of
    ``H`` and the squared coordinates ``gam2`` of ``g``: the root of the secular equation
    :math:`\sum_k \gamma_k^2/(\rho - h_k)^2 = 4`, by Newton's method on
    :math:`q(\rho) = (\sum_k \gamma_k^2/(\rho - h_k)^2)^{-1/2} - \tfrac12` (increasing and
    concave, so the iterates increase to the root from the left)."""
    top = max(float(h[-1]), 0.0)
    if h[-1] < 0.0 and float(np.sum(gam2 / h**2)) <= 4.0:
        return 0.0  # rho = 0 is allowed (H negative definite) and optimal
    rho = top + 1e-12 * spread
    for _ in range(100):
        s2 = float(np.sum(gam2 / (rho - h) ** 2))
        if s2 <= 4.0:
            return rho
        s3 = float(np.sum(gam2 / (rho - h) ** 3))
        step = (s2 ** -0.5 - 0.5) * s2**1.5 / s3
        rho_next = rho - step
        if not rho_next > rho or rho_next - rho <= 1e-15 * max(rho, spread):
            return max(rho_next, rho)
        rho = rho_next
    return rho


def _trust_region_bound(H: np.ndarray, g: np.ndarray) -> float:
    r""":math:`\min_{\rho \ge 0,\ \rho I \succ H} \rho + \tfrac14 g^T(\rho I - H)^{-1}g`,
    an upper bound on :math:`\max_{\|u\| \le 1} u^T H u + g^T u` (exact for the minimizing
    :math:`\rho`; any :math:`\rho` in the domain gives a valid bound)."""
    h, Q = np.linalg.eigh(0.5 * (H + H.T))
    gam2 = (Q.T @ g) ** 2
    spread = max(abs(float(h[-1])), abs(float(h[0])), float(np.linalg.norm(g)), 1e-300)
    rho = _best_rho(h, gam2, spread)
    if rho <= h[-1] or (rho == 0.0 and h[-1] >= 0.0):  # not in the open domain: step inside
        rho = max(float(h[-1]), 0.0) + 1e-12 * spread
    return rho + 0.25 * float(np.sum(gam2 / (rho - h)))


def _multiplier_bound(A: np.ndarray, w: np.ndarray, zeta: np.ndarray, pi: np.ndarray,
                      e: np.ndarray) -> float:
    """The valid upper bound on :math:`N_+(w)` of the multipliers (clipped into their
    domain); rows with ``w_i = 0`` or ``a_i = 0`` are ignored by the caller."""
    r = np.linalg.norm(A, axis=1)
    pos, neg = w > 0, w < 0
    c = np.abs(w)
    scale = float(np.max(c * r, initial=0.0))
    if scale == 0.0:
        return 0.0
    zeta = np.where(pos, np.maximum(np.nan_to_num(zeta, nan=0.0), 0.0), 0.0)
    # zeta_i -> 0 costs w_i^2 / (16 zeta_i): replace vanishing values by the triangle choice
    zeta = np.where(pos & (zeta <= 1e-12 * c / np.maximum(r, 1e-300)),
                    c / (4.0 * np.maximum(r, 1e-300)), zeta)
    pi = np.where(neg, np.clip(np.nan_to_num(pi, nan=0.0), 0.0, 1.0), 0.0)
    e = np.where(neg, np.clip(np.nan_to_num(e, nan=0.0), -(1.0 - pi), 1.0 - pi), 0.0)
    const = float(np.sum(np.where(pos, c**2 / (16.0 * np.where(pos, zeta, 1.0)), 0.0)))
    g = 0.5 * A.T @ w - 0.5 * A.T @ (c * e)
    coef = zeta - np.where(neg, c * pi / (2.0 * np.maximum(r, 1e-300)), 0.0)
    H = A.T @ (coef[:, None] * A)
    value = const + _trust_region_bound(H, g)
    return value * (1.0 + _ROUNDOFF) + _ROUNDOFF * scale


def _triangle_multipliers(A: np.ndarray, w: np.ndarray):
    r"""Closed-form multipliers: :math:`\kappa_i = r_i` (so
    :math:`(t)_+ \le \tfrac12 t + \tfrac{t^2}{4 r_i} + \tfrac{r_i}{4} \le (t + r_i)/2`),
    :math:`\pi = 0` and ``e`` from one bounded least-squares problem that balances the
    negative rows against the linear term."""
    r = np.maximum(np.linalg.norm(A, axis=1), 1e-300)
    pos, neg = w > 0, w < 0
    zeta = np.where(pos, np.abs(w) / (4.0 * r), 0.0)
    e = np.zeros_like(w)
    if np.any(neg) and A.shape[1] <= 2000:
        B = 0.5 * A[neg].T * np.abs(w[neg])  # g = 0.5 A^T w - B e_neg
        e[neg] = lsq_linear(B, 0.5 * A.T @ w, bounds=(-1.0, 1.0), max_iter=200).x
    return zeta, np.zeros_like(w), e


def _bound_and_gradient(x, A, w, c, r, pos, neg):
    """The bound and its gradient in ``x = (log zeta | pi | e)`` (``e`` clipped to
    ``|e| <= 1 - pi``),
    by the envelope theorem at the minimizing ``rho`` (used to improve multipliers; the
    bound returned to users is always re-evaluated by :func:`_multiplier_bound`)."""
    p, m = pos.size, neg.size
    zeta = np.exp(x[:p])
    pi = np.clip(x[p:p + m], 0.0, 1.0)
    raw = np.clip(x[p + m:], -1.0, 1.0)
    e = np.clip(raw, -(1.0 - pi), 1.0 - pi)
    clipped = np.abs(raw) > 1.0 - pi
    cn, rn = c[neg], r[neg]
    coef = np.zeros(A.shape[0])
    coef[pos], coef[neg] = zeta, -cn * pi / (2.0 * rn)
    g = 0.5 * A.T @ w - 0.5 * A[neg].T @ (cn * e)
    H = A.T @ (coef[:, None] * A)
    h, Q = np.linalg.eigh(0.5 * (H + H.T))
    gam = Q.T @ g
    spread = max(abs(float(h[-1])), abs(float(h[0])), float(np.linalg.norm(g)), 1e-300)
    rho = max(_best_rho(h, gam**2, spread), float(h[-1]) + 1e-10 * spread)
    z = Q @ (gam / (rho - h))  # (rho I - H)^{-1} g
    const = float(np.sum(c[pos] ** 2 / (16.0 * zeta)))
    value = const + rho + 0.25 * float(g @ z)
    az = A @ z
    grad_coef = 0.25 * az**2  # d value / d coef_i
    grad_g = 0.5 * z
    gz = -c[pos] ** 2 / (16.0 * zeta) + grad_coef[pos] * zeta  # d / d log zeta
    gpi_direct = grad_coef[neg] * (-cn / (2.0 * rn))
    de = -0.5 * cn * (A[neg] @ grad_g)  # d value / d e_i
    gpi = gpi_direct - np.where(clipped, de * np.sign(raw), 0.0)
    graw = np.where(clipped, 0.0, de)
    return value, np.concatenate([gz, gpi, graw])


def _descent_multipliers(A: np.ndarray, w: np.ndarray, init, maxiter: int = 100):
    """Improve multipliers by L-BFGS-B on the bound (any point it returns is valid)."""
    from scipy.optimize import minimize

    r = np.maximum(np.linalg.norm(A, axis=1), 1e-300)
    pos, neg = np.flatnonzero(w > 0), np.flatnonzero(w < 0)
    c = np.abs(w)
    zeta0, pi0, e0 = init
    x0 = np.concatenate([np.log(np.maximum(zeta0[pos], 1e-300)), np.clip(pi0[neg], 0, 1),
                         np.clip(e0[neg], -1, 1)])
    bounds = [(None, None)] * pos.size + [(0.0, 1.0)] * neg.size + [(-1.0, 1.0)] * neg.size
    try:
        res = minimize(_bound_and_gradient, x0, args=(A, w, c, r, pos, neg), jac=True,
                       method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": maxiter, "ftol": 1e-9})
        x = res.x
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        logger.info("multiplier descent failed (%s)", exc)
        return init
    p, m = pos.size, neg.size
    Z, Pi, E = np.zeros(A.shape[0]), np.zeros(A.shape[0]), np.zeros(A.shape[0])
    Z[pos] = np.exp(x[:p])
    Pi[neg] = np.clip(x[p:p + m], 0.0, 1.0)
    E[neg] = np.clip(x[p + m:], -(1.0 - Pi[neg]), 1.0 - Pi[neg])
    return Z, Pi, E


def _relaxation_multipliers(A: np.ndarray, w: np.ndarray):
    """Multipliers minimizing the bound: one conic program (``None`` if the solver fails)."""
    n, d = A.shape
    r = np.maximum(np.linalg.norm(A, axis=1), 1e-300)
    pos, neg = np.flatnonzero(w > 0), np.flatnonzero(w < 0)
    c = np.abs(w)
    zeta = cp.Variable(pos.size, nonneg=True)
    pi = cp.Variable(neg.size, nonneg=True)
    e = cp.Variable(neg.size)
    rho = cp.Variable(nonneg=True)
    S = cp.Variable()
    # H = sum_i coef_i a_i a_i^T as a linear map of the multipliers (columns vec(a_i a_i^T))
    def outer(rows):
        return np.einsum("ij,ik->jki", A[rows], A[rows]).reshape(d * d, rows.size)

    H = 0
    if pos.size:
        H = H + cp.reshape(outer(pos) @ zeta, (d, d), order="F")
    if neg.size:
        H = H - cp.reshape(outer(neg) @ cp.multiply(c[neg] / (2.0 * r[neg]), pi), (d, d),
                           order="F")
    g = 0.5 * A.T @ w
    if neg.size:
        g = g - 0.5 * A[neg].T @ cp.multiply(c[neg], e)
    g = cp.reshape(g, (d, 1), order="F")
    M = cp.bmat([[rho * np.eye(d) - H, g / 2], [g.T / 2, cp.reshape(S, (1, 1), order="F")]])
    const = 0.0
    if pos.size:
        const = cp.sum(cp.multiply(c[pos] ** 2 / 16.0, cp.inv_pos(zeta)))
    constraints = [0.5 * (M + M.T) >> 0]
    if neg.size:
        constraints += [pi <= 1, cp.abs(e) <= 1 - pi]
    problem = cp.Problem(cp.Minimize(const + rho + S), constraints)
    try:
        with warnings.catch_warnings():
            # an inaccurate solution only gives looser multipliers: the bound is re-evaluated
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=cp.CLARABEL, **fork_safe_options())
    except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
        logger.info("dual-norm relaxation failed (%s); using closed-form multipliers", exc)
        return None
    if zeta.value is None and pos.size or pi.value is None and neg.size:
        return None
    Z, Pi, E = np.zeros(n), np.zeros(n), np.zeros(n)
    if pos.size:
        Z[pos] = zeta.value
    if neg.size:
        Pi[neg], E[neg] = pi.value, e.value
    return Z, Pi, E


def _one_sided_upper(A: np.ndarray, w: np.ndarray, method: str) -> float:
    """Certified upper bound on :math:`N_+(w) = \\max_{\\|u\\| \\le 1} w^T (Au)_+`."""
    live = (w != 0) & np.any(A != 0, axis=1)
    A, w = A[live], w[live]
    if not np.any(w > 0):
        return 0.0  # every term is <= 0, and u = 0 attains 0
    init = _triangle_multipliers(A, w)
    tri = _multiplier_bound(A, w, *init)
    if method == "triangle":
        return tri
    if method == "descent" or A.shape[0] * A.shape[1] ** 2 > MAX_RELAXATION_SIZE:
        mid = (init[0], np.where(w < 0, 0.5, 0.0), np.zeros_like(w))
        return min([tri] + [_multiplier_bound(A, w, *_descent_multipliers(A, w, start))
                            for start in (init, mid)])
    mult = _relaxation_multipliers(A, w)
    return tri if mult is None else min(tri, _multiplier_bound(A, w, *mult))


def relu_dual_norm_upper(A, v, *, method: str = "relaxation") -> float:
    r"""A certified upper bound on :math:`\max_{\|u\|_2 \le 1} |v^T (Au)_+|` that needs no
    activation pattern.

    Parameters
    ----------
    A : array_like, shape (N, h)
        The rows (samples, with a ones column for a bias, or stacked patches).
    v : array_like, shape (N,)
    method : {"relaxation", "triangle"}
        ``"relaxation"``: multipliers from the conic relaxation described in the module
        docstring (falls back to ``"triangle"`` above :data:`MAX_RELAXATION_SIZE`);
        ``"triangle"``: closed-form multipliers, cheaper and looser.

    Returns
    -------
    float
        :math:`\ge` the dual norm, evaluated from multipliers so that it holds whatever the
        conic solver's accuracy.
    """
    A = np.asarray(A, dtype=float)
    v = np.asarray(v, dtype=float).reshape(-1)
    if method not in ("relaxation", "descent", "triangle"):
        raise ValueError(
            f"method must be 'relaxation', 'descent' or 'triangle', got {method!r}."
        )
    # positively homogeneous in A and v: bound the unit-scaled problem, then scale back
    a, c = _scales(A, v)
    if a == 0.0 or c == 0.0:
        return 0.0
    A, v = A / a, v / c
    value = max(_one_sided_upper(A, v, method), _one_sided_upper(A, -v, method))
    return float(value) * a * c if np.isfinite(value) else math.inf


def _scales(A: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """Largest row norm of ``A`` and largest ``|v_i|`` (the dual norm is homogeneous in both)."""
    m = float(np.max(np.abs(A), initial=0.0))
    c = float(np.max(np.abs(v), initial=0.0))
    if m == 0.0 or not np.isfinite(m):
        return m, c
    # by the largest entry first, so that squaring neither overflows nor underflows
    return m * float(np.max(np.linalg.norm(A / m, axis=1))), c


# --- lower bound by directions ----------------------------------------------------------------


def _cone_max(A: np.ndarray, w: np.ndarray, mask: np.ndarray) -> np.ndarray:
    r"""A maximizer of :math:`w^T D A u` over :math:`\|u\| \le 1`, :math:`(2D-I)Au \ge 0`
    (the residual of one NNLS problem, normalized; zero if the maximum is 0)."""
    At = (A * (2.0 * mask[:, None] - 1.0)).T
    C = A.T @ (mask * w)
    lam, _ = nnls(At, -C, maxiter=50 * At.shape[1])
    res = C + At @ lam
    nrm = np.linalg.norm(res)
    return res / nrm if nrm > 0 else res


def relu_dual_norm_lower(A, v, directions=None, *, samples: int = 1024, seed: int | None = 0,
                         ascent: int = 8, steps: int = 10) -> tuple[float, np.ndarray]:
    r"""A lower bound :math:`\max_k |v^T (Au_k)_+|` on the dual norm over unit directions
    ``u_k``: the given ``directions`` (e.g. a network's neurons or the gates of sampled
    patterns), ``samples`` Gaussian directions and the rows of ``A``; from the ``ascent``
    best of each sign, local ascent: ``steps`` moves to the maximizer of the linearization
    :math:`u \leftarrow A^T D_u w / \|A^T D_u w\|`, then (up to :data:`MAX_NNLS_ROWS` rows)
    up to ``steps`` exact maximizations over the current pattern's cone by NNLS; a move is
    kept only if it raises the value.

    Returns the bound and a unit direction attaining it.
    """
    A = np.asarray(A, dtype=float)
    v = np.asarray(v, dtype=float).reshape(-1)
    N, h = A.shape
    a, c = _scales(A, v)
    if a == 0.0 or c == 0.0:
        return 0.0, np.zeros(h)
    A, v = A / a, v / c  # homogeneous: search at unit scale
    rng = np.random.default_rng(seed)
    cands = [rng.standard_normal((h, samples)), A[: min(N, 512)].T]
    if directions is not None:
        cands.append(np.asarray(directions, dtype=float).reshape(h, -1))
    U = np.hstack(cands)
    nrm = np.linalg.norm(U, axis=0)
    U = U[:, nrm > 0] / nrm[nrm > 0]
    if U.shape[1] == 0:
        return 0.0, np.zeros(h)
    best, best_u = 0.0, np.zeros(h)
    for s in (1.0, -1.0):
        w = s * v
        vals = w @ np.maximum(A @ U, 0.0)
        for k in np.argsort(-vals)[:ascent]:
            u, val = U[:, k], float(vals[k])
            for step in range(2 * steps):
                if step < steps:  # cheap: maximize the linearization A^T D w over the ball
                    cand = A.T @ ((A @ u >= 0) * w)
                    cand = cand / max(float(np.linalg.norm(cand)), 1e-300)
                elif N <= MAX_NNLS_ROWS:  # exact over the current pattern's cone
                    cand = _cone_max(A, w, A @ u >= 0)
                else:
                    break
                cval = float(w @ np.maximum(A @ cand, 0.0))
                if cval > val * (1.0 + 1e-12):
                    u, val = cand, cval
                elif step >= steps:
                    break
            if val > best:
                best, best_u = val, u
    return best * a * c, best_u


# --- the exact dual norm, over every pattern -----------------------------------------------


def every_cell(A: np.ndarray, max_patterns: int = DEFAULT_MAX_PATTERNS) -> np.ndarray:
    """The masks of every cell of ``A``'s rows, for an exact dual norm (docs/relu.md section 4c); refused
    up front when the bound on their number exceeds ``max_patterns``."""
    bound = arrangement_info(A).max_cells
    if bound > max_patterns:
        raise ProblemTooLargeError(
            "an exact dual norm (certificate, certify, beta_max) "
            f"is a maximum over every activation pattern, and these data have up to "
            f"{bound:,} of them, more than max_patterns={max_patterns:,}. Raise max_patterns "
            "if enumerating them and one small problem per pattern fits; sampled patterns "
            "would only underestimate the dual norm, so no certified bound is given without them."
        )
    return enumerate_patterns(A, max_patterns=max_patterns).masks


def _tightened_bounds(A: np.ndarray, masks: np.ndarray, C: np.ndarray,
                      steps: int) -> np.ndarray:
    r"""Upper bounds ``(2, P)`` on :math:`\max\{s\,c_i^Tu : \|u\| \le 1,\ G_iu \ge 0\}`,
    :math:`G_i = (2D_i - I)A`, for ``s = +1`` (row 0) and ``-1`` (row 1): the norm
    :math:`\|sc_i + G_i^T\lambda\|` at the multipliers of ``steps`` accelerated
    projected-gradient steps on :math:`\min_{\lambda \ge 0} \tfrac12\|sc_i +
    G_i^T\lambda\|^2` from zero (step :math:`1/\|A\|_2^2`, since :math:`\|G_i\|_2 =
    \|A\|_2`); any :math:`\lambda \ge 0` gives such a bound, zero gives :math:`\|c_i\|`."""
    N, P = masks.shape
    norms = np.linalg.norm(C, axis=0)
    out = np.vstack([norms, norms])
    L = float(np.linalg.norm(A, 2)) ** 2 if A.size else 0.0
    if steps <= 0 or L <= 0.0 or not np.isfinite(L):
        return out
    chunk = max(1, _BOUND_FLOATS // (2 * max(N, 1)))
    for a in range(0, P, chunk):
        sl = slice(a, min(a + chunk, P))
        signs = np.tile(2.0 * masks[:, sl] - 1.0, 2)
        c = np.hstack([C[:, sl], -C[:, sl]])
        lam = np.zeros_like(signs)
        ahead, t = lam, 1.0
        for _ in range(steps):
            step = signs * (A @ (c + A.T @ (signs * ahead))) / L
            new = np.maximum(ahead - step, 0.0)
            t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            ahead = new + ((t - 1.0) / t_next) * (new - lam)
            lam, t = new, t_next
        bound = np.linalg.norm(c + A.T @ (signs * lam), axis=0)
        width = sl.stop - sl.start
        out[0, sl] = np.minimum(out[0, sl], bound[:width])
        out[1, sl] = np.minimum(out[1, sl], bound[width:])
    return out


def relu_dual_norm(
    A: np.ndarray, v: np.ndarray, masks: np.ndarray | None = None, *,
    return_direction: bool = False, floor: float = 0.0
):
    r""":math:`\max_{\|u\|_2 \le 1} |v^T (Au)_+|`, exactly (docs/relu.md section 4c).

    Per pattern ``D`` and sign ``s``,
    :math:`\max\{s\,v^T D A u : \|u\| \le 1,\ (2D - I)Au \ge 0\}
    = \min_{\lambda \ge 0} \|s A^T D v + A^T (2D - I)\lambda\|_2`, one non-negative least
    squares problem each. ``masks`` must hold *every* cell of ``A``'s arrangement for the
    value to be exact (default: enumerated). Each pattern and sign is first bounded above,
    for all at once (:data:`BOUND_STEPS` accelerated projected-gradient steps on the
    multipliers, from :math:`\|A^TDv\|`); they are then solved exactly in decreasing order
    of their bound until it falls below the best value found, which starts at ``floor``
    (a maximum over other vectors, say): the result is the larger of the dual norm and
    ``floor``.

    Returns that maximum (and, with ``return_direction``, a maximizing unit ``u``, zero when
    ``floor`` stands).
    """
    A = np.asarray(A, dtype=float)
    v = np.asarray(v, dtype=float).reshape(-1)
    if masks is None:
        masks = every_cell(A)
    masks = np.asarray(masks, dtype=bool)
    C = A.T @ (masks * v[:, None])  # (h, P): A^T D_i v for each pattern
    bound = _tightened_bounds(A, masks, C, BOUND_STEPS)  # (2, P): signs +1, -1
    best, best_u = max(float(floor), 0.0), np.zeros(A.shape[1])
    P = masks.shape[1]
    for k in np.argsort(-bound, axis=None):
        if bound.flat[k] <= best:
            break
        side, i = divmod(int(k), P)
        s = 1.0 if side == 0 else -1.0
        At = (A * (2.0 * masks[:, i, None] - 1.0)).T  # A^T (2 D_i - I), (h, N)
        lam, value = nnls(At, -s * C[:, i], maxiter=50 * At.shape[1])
        if value > best:
            best = float(value)
            r = s * C[:, i] + At @ lam
            norm_r = float(np.linalg.norm(r))
            best_u = r / norm_r if norm_r > 0 else best_u
    return (best, best_u) if return_direction else best


def cells_if_they_fit(A: np.ndarray, max_patterns: int) -> np.ndarray | None:
    """Every cell's pattern when their number fits ``max_patterns``, else ``None`` (then
    dual norms are bracketed by :func:`relu_dual_norm_bracket`)."""
    if arrangement_info(A).max_cells > max_patterns:
        return None
    return enumerate_patterns(A, max_patterns=max_patterns).masks


# --- the bracket used by certificates ---------------------------------------------------------


@dataclass(frozen=True)
class DualNormBracket:
    r"""``lower <= max_{||u||<=1} |v^T (Au)_+| <= upper``.

    Attributes
    ----------
    lower, upper : float
    exact : bool
        ``True`` when every pattern was enumerated (then ``lower == upper``).
    direction : numpy.ndarray
        A unit direction attaining ``lower``.
    """

    lower: float
    upper: float
    exact: bool
    direction: np.ndarray


def relu_dual_norm_bracket(A, v, *, max_patterns: int, masks=None, directions=None,
                           method: str = "relaxation") -> DualNormBracket:
    """The dual norm exactly (every pattern enumerated, when ``masks`` is given or their
    number fits ``max_patterns``), else bracketed by :func:`relu_dual_norm_lower` and
    :func:`relu_dual_norm_upper`."""
    A = np.asarray(A, dtype=float)
    v = np.asarray(v, dtype=float).reshape(-1)
    if masks is None and arrangement_info(A).max_cells <= max_patterns:
        masks = enumerate_patterns(A, max_patterns=max_patterns).masks
    if masks is not None:
        value, u = relu_dual_norm(A, v, masks, return_direction=True)
        return DualNormBracket(value, value, True, u)
    lower, u = relu_dual_norm_lower(A, v, directions)
    upper = max(relu_dual_norm_upper(A, v, method=method), lower)
    return DualNormBracket(lower, upper, False, u)


# --- the hinge dual point ---------------------------------------------------------------------


def hinge_dual_point(A: np.ndarray, yhat: np.ndarray, y: np.ndarray, beta: float,
                     neurons: np.ndarray | None = None, cuts=None, S=None,
                     tol: float = 1e-6) -> np.ndarray:
    r"""The best dual point :math:`v = y \circ \theta` in the hinge loss's subdifferential at
    ``yhat``: :math:`\theta_i = 1` where the margin :math:`y_i\hat y_i < 1 - \text{tol}`,
    ``0`` where it is above ``1 + tol``, and on the margin points the choice maximizing the
    dual value :math:`\sum_i \theta_i` subject to

    .. math::

        \max_{\|u\| \le 1,\ (2D - I)Au \ge 0} |v^T S D A u|
        = \max_{s = \pm 1} \min_{\lambda \ge 0} \|s A^T D S^T v + A^T(2D - I)\lambda\|_2
        \le \beta

    for the pattern ``D`` of each direction in ``neurons`` and ``cuts`` (the cells where an
    optimal network's neurons live, and where the dual norm was found too large): a small
    second-order cone program over the margin points (and one multiplier vector per
    constraint). The optimal dual point satisfies every such constraint, so at an optimal
    network the choice makes the certificate tight. Without margin points or directions the
    subgradient is :math:`\theta_i = 1[\text{margin} < 1]`. ``S`` pools rows into samples
    (CNNs).
    """
    y = np.asarray(y, dtype=float).reshape(-1)
    margin = y * np.asarray(yhat, dtype=float).reshape(-1)
    theta = np.where(margin < 1.0, 1.0, 0.0)
    free = np.flatnonzero(np.abs(margin - 1.0) <= tol)
    dirs = [] if neurons is None else [np.asarray(neurons, dtype=float).reshape(A.shape[1], -1)]
    if cuts is not None:
        dirs.append(np.asarray(cuts, dtype=float).reshape(A.shape[1], -1))
    U = np.hstack(dirs) if dirs else np.zeros((A.shape[1], 0))
    nrm = np.linalg.norm(U, axis=0)
    order = np.argsort(-nrm[: U.shape[1] - (0 if cuts is None else dirs[-1].shape[1])])
    if cuts is not None:  # every cut, then the largest neurons
        order = np.concatenate([np.arange(U.shape[1] - dirs[-1].shape[1], U.shape[1]), order])
    order = order[nrm[order] > 0][:HINGE_MAX_CELLS]
    if free.size == 0 or order.size == 0:
        return y * theta
    U = U[:, order] / nrm[order]
    r = np.maximum(np.linalg.norm(A, axis=1), 1e-300)
    masks = A @ U >= 0
    # lambda is kept on the rows nearest each cell's direction (all rows for small N): the
    # multipliers of an active constraint live on hyperplanes through the direction
    near = np.argsort(np.abs(A @ U) / r[:, None], axis=0)[: min(A.shape[0], 4 * A.shape[1] + 8)]
    t = cp.Variable(free.size)
    E = np.zeros((y.size, free.size))
    E[free, np.arange(free.size)] = y[free]
    base = y * theta
    base[free] = 0.0
    if S is not None:
        E, base = np.asarray(S.T @ E), np.asarray(S.T @ base)
    # every cell at once: column j of  A^T D_j S^T v  is  G t + c0  (C order, (h, m))
    h, m, k = A.shape[1], masks.shape[1], near.shape[0]
    Mf = masks.astype(float)
    G = np.einsum("nh,nm,nf->hmf", A, Mf, E).reshape(h * m, free.size)
    c0 = (A.T @ (Mf * base[:, None])).reshape(-1)
    # and A^T (2 D_j - I) lambda_j over the kept rows, as one block-diagonal matrix
    sgn = 2.0 * np.take_along_axis(Mf, near, axis=0) - 1.0  # (k, m)
    vals = A[near] * sgn[:, :, None]  # (k, m, h)
    li, ji, hi = np.meshgrid(np.arange(k), np.arange(m), np.arange(h), indexing="ij")
    B = sp.csr_matrix((vals.ravel(), ((hi * m + ji).ravel(), (ji * k + li).ravel())),
                      shape=(h * m, m * k))
    constraints = [t >= 0, t <= 1]
    for s in (1.0, -1.0):
        lam = cp.Variable(m * k, nonneg=True)
        cols = cp.reshape(s * (G @ t + c0) + B @ lam, (h, m), order="C")
        constraints.append(cp.norm(cols, 2, axis=0) <= beta)
    problem = cp.Problem(cp.Maximize(cp.sum(t)), constraints)
    try:
        problem.solve(solver=cp.CLARABEL, **fork_safe_options())
    except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
        logger.info("hinge dual-point program failed (%s); using theta = 1/2", exc)
    theta = theta.copy()
    ok = t.value is not None and np.all(np.isfinite(t.value))
    theta[free] = np.clip(np.asarray(t.value), 0.0, 1.0) if ok else 0.5
    return y * theta
