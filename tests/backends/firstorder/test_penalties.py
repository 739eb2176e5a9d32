"""Penalties of the composite programs against their definitions (issue 26).

For every penalty :math:`\\Omega` (nuclear norm, rearranged nuclear norm, Euclidean norm of a
column, weighted group l2):

* the prox :math:`\\arg\\min_W \\tfrac12\\|W - V\\|^2 + t\\Omega(W)` against the minimizer of
  that very objective found by a small cvxpy solve (Clarabel);
* the Moreau identity: :math:`V - \\operatorname{prox}_{t\\Omega}(V)` is the projection of
  ``V`` onto the dual ball :math:`\\{\\Omega^* \\le t\\}`, i.e. it lies in the ball and is
  aligned with the prox, :math:`\\langle V - P, P\\rangle = t\\,\\Omega(P)` (the
  optimality condition :math:`V - P \\in t\\,\\partial\\Omega(P)`), checked at every
  scale, including blocks of norm below 1, at 0 and huge ones;
* the dual norm against its definition :math:`\\max_{\\Omega(W) \\le 1}\\langle H, W\\rangle`,
  by cvxpy.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdpnets.backends.firstorder.penalties import GroupL2, NuclearNorm

PROPERTY = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _view_pair(K: int, h: int):
    """A rearrangement of a ``(K h, 1)`` variable into an ``h x K`` matrix, and its inverse."""
    return (lambda M: M.reshape(K, h).T), (lambda Z: Z.T.reshape(K * h, 1))


def _penalty(kind: str, shape_seed: int):
    """``(penalty, shape of its variable, cvxpy expression of Omega)`` for each kind."""
    rng = np.random.default_rng(shape_seed)
    if kind == "nuclear":
        p, K = int(rng.integers(1, 6)), int(rng.integers(2, 5))
        return NuclearNorm(), (p, K), lambda W: cp.normNuc(W)
    if kind == "euclidean":  # a p x 1 nuclear norm is the Euclidean norm
        p = int(rng.integers(1, 7))
        return NuclearNorm(), (p, 1), lambda W: cp.norm(W, "fro")
    if kind == "rearranged":
        K, h = int(rng.integers(2, 4)), int(rng.integers(2, 4))
        view, unview = _view_pair(K, h)

        def expr(W):  # the h x K matrix whose column k is W[k h:(k+1) h]
            return cp.normNuc(cp.hstack([W[k * h:(k + 1) * h] for k in range(K)]))

        return NuclearNorm(view, unview), (K * h, 1), expr
    if kind == "group":
        G = int(rng.integers(1, 5))
        groups = np.concatenate([np.arange(G), rng.integers(0, G, size=int(rng.integers(0, 5)))])
        rng.shuffle(groups)
        weights = 10.0 ** rng.uniform(-1, 1, size=G)

        def expr(W):
            return sum(weights[g] * cp.norm(W[np.flatnonzero(groups == g), 0], 2)
                       for g in range(G))

        return GroupL2(groups, weights), (groups.size, 1), expr
    raise AssertionError(kind)


KINDS = ["nuclear", "euclidean", "rearranged", "group"]


def _matrix(shape, seed: int, scale: float, zero_part: bool) -> np.ndarray:
    """A random matrix of the given overall scale; with ``zero_part``, its first row (a
    group, a singular direction) is zero."""
    V = scale * np.random.default_rng(seed).standard_normal(shape)
    if zero_part and shape[0] > 1:
        V[0] = 0.0
    return V


def _inner(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(a * b))


def _cvx_prox(expr, V: np.ndarray, t: float) -> np.ndarray:
    W = cp.Variable(V.shape)
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(W - V) + t * expr(W)))
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return np.asarray(W.value)


def _cvx_dual_norm(expr, H: np.ndarray) -> float:
    W = cp.Variable(H.shape)
    problem = cp.Problem(cp.Maximize(cp.sum(cp.multiply(H, W))), [expr(W) <= 1])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return float(problem.value)


# --- the prox against its definition ------------------------------------------------------------


@PROPERTY
@given(kind=st.sampled_from(KINDS), shape_seed=st.integers(0, 2**16), seed=st.integers(0, 2**16),
       log_scale=st.floats(-2.0, 1.0), log_t=st.floats(-2.0, 0.5), zero_part=st.booleans())
def test_prox_is_the_minimizer_of_its_definition(kind, shape_seed, seed, log_scale, log_t,
                                                  zero_part):
    pen, shape, expr = _penalty(kind, shape_seed)
    V = _matrix(shape, seed, 10.0**log_scale, zero_part)
    t = 10.0**log_t
    P = pen.prox(V, t)
    ref = _cvx_prox(expr, V, t)
    assert P.shape == V.shape
    scale = max(1.0, float(np.abs(V).max()))
    np.testing.assert_allclose(P, ref, atol=1e-6 * scale)

    def objective(W):
        return 0.5 * float(np.sum((W - V) ** 2)) + t * pen.value(W)

    # the prox is at least as good as the solver's minimizer (it is the exact one)
    assert objective(P) <= objective(ref) + 1e-9 * max(1.0, objective(ref))


@pytest.mark.parametrize("kind", KINDS)
def test_prox_of_blocks_of_norm_below_one_shrinks_them_but_keeps_them(kind):
    """A block (a column, a group) of norm 0.5 under the threshold 0.1 keeps 0.4 of norm,
    its direction unchanged; only at a threshold above its norm does it vanish."""
    pen, shape, expr = _penalty(kind, 3)
    V = _matrix(shape, 4, 1.0, False)
    if kind == "group":  # every group to norm 0.5 / its weight, so each shrinks by 0.1 c_g
        norms = pen.norms(V)
        V = V * (0.5 / norms)[pen.groups][:, None]
    else:
        V = 0.5 * V / np.linalg.norm(V, 2)  # spectral norm (largest block) 0.5
    P = pen.prox(V, 0.1)
    np.testing.assert_allclose(P, _cvx_prox(expr, V, 0.1), atol=1e-7)
    assert np.linalg.norm(P) > 0.1 * np.linalg.norm(V)
    assert not np.any(pen.prox(V, 1e3))  # a threshold above every block's norm: zero


# --- the Moreau identity, at every scale ---------------------------------------------------------


@PROPERTY
@given(kind=st.sampled_from(KINDS), shape_seed=st.integers(0, 2**16), seed=st.integers(0, 2**16),
       log_scale=st.sampled_from([-150.0, -100.0, -8.0, -1.0, -0.3, 0.0, 0.5, 3.0, 100.0, 150.0]),
       log_ratio=st.floats(-3.0, 3.0), zero_part=st.booleans())
def test_moreau_identity_at_every_scale(kind, shape_seed, seed, log_scale, log_ratio, zero_part):
    """``R = V - prox_{t Omega}(V)`` is the projection of ``V`` onto ``{Omega^* <= t}``:
    ``Omega^*(R) <= t`` and ``<R, P> = t Omega(P)`` (so ``R`` is in ``t dOmega(P)``); when
    ``Omega^*(V) <= t`` the prox is zero and ``R = V``. Scales from 1e-150 to 1e150 (where
    squares neither underflow nor overflow)."""
    pen, shape, _ = _penalty(kind, shape_seed)
    scale = 10.0**log_scale
    V = _matrix(shape, seed, scale, zero_part)
    t = scale * 10.0**log_ratio  # thresholds from far below to far above the data's norm
    P = pen.prox(V, t)
    R = V - P
    assert np.all(np.isfinite(P))
    size = float(np.linalg.norm(V))
    assert pen.dual_norm(R) <= t * (1 + 1e-9) + 1e-12 * size
    assert _inner(R, P) == pytest.approx(t * pen.value(P), rel=1e-8, abs=1e-10 * size * size)
    # non-expansive and shrinking: the prox never has a larger penalty than V
    assert pen.value(P) <= pen.value(V) * (1 + 1e-12)
    if pen.dual_norm(V) <= t * (1 - 1e-9):
        assert not np.any(P)
    else:
        assert pen.value(P) > 0


@pytest.mark.parametrize("kind", KINDS)
def test_prox_of_zero_is_zero(kind):
    pen, shape, _ = _penalty(kind, 5)
    V = np.zeros(shape)
    for t in (0.0, 1e-300, 1.0, 1e300):
        P = pen.prox(V, t)
        assert P.shape == shape and not np.any(P)
        assert pen.value(P) == 0.0
    assert pen.dual_norm(V) == 0.0 and pen.value(V) == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_prox_with_zero_threshold_is_the_identity(kind):
    pen, shape, _ = _penalty(kind, 6)
    V = _matrix(shape, 7, 2.0, True)
    np.testing.assert_allclose(pen.prox(V, 0.0), V, rtol=1e-12, atol=1e-14)


# --- the dual norm against its definition -------------------------------------------------------


@PROPERTY
@given(kind=st.sampled_from(KINDS), shape_seed=st.integers(0, 2**16), seed=st.integers(0, 2**16),
       log_scale=st.floats(-1.0, 1.0), zero_part=st.booleans())
def test_dual_norm_is_the_maximum_over_the_unit_ball(kind, shape_seed, seed, log_scale,
                                                      zero_part):
    pen, shape, expr = _penalty(kind, shape_seed)
    H = _matrix(shape, seed, 10.0**log_scale, zero_part)
    assert pen.dual_norm(H) == pytest.approx(_cvx_dual_norm(expr, H), rel=1e-6, abs=1e-9)


@PROPERTY
@given(kind=st.sampled_from(KINDS), shape_seed=st.integers(0, 2**16), seed=st.integers(0, 2**16),
       log_scale=st.sampled_from([-150.0, -3.0, 0.0, 2.0, 150.0]))
def test_norms_are_homogeneous_and_satisfy_hoelder(kind, shape_seed, seed, log_scale):
    """``Omega`` and ``Omega^*`` are norms at any scale, and ``<H, W> <= Omega^*(H) Omega(W)``."""
    pen, shape, _ = _penalty(kind, shape_seed)
    rng = np.random.default_rng(seed)
    H, W = rng.standard_normal(shape), rng.standard_normal(shape)
    c = 10.0**log_scale
    assert pen.value(c * W) == pytest.approx(c * pen.value(W), rel=1e-12)
    assert pen.dual_norm(c * H) == pytest.approx(c * pen.dual_norm(H), rel=1e-12)
    assert _inner(H, W) <= pen.dual_norm(H) * pen.value(W) * (1 + 1e-12)
    assert pen.value(-W) == pytest.approx(pen.value(W), rel=1e-14)


def test_the_value_of_a_prox_output_is_its_norm_even_after_copies():
    """The nuclear norm keeps the last prox output's norm: reading it for that output, for a
    copy and after another prox must all give the norm of the matrix at hand."""
    pen = NuclearNorm()
    rng = np.random.default_rng(9)
    V1, V2 = rng.standard_normal((5, 3)), 3.0 * rng.standard_normal((5, 3))
    P1 = pen.prox(V1, 0.2)
    P2 = pen.prox(V2, 0.2)
    for M in (P1, P2, P1.copy(), np.asarray(P2) * 2.0):
        assert pen.value(M) == pytest.approx(np.linalg.svd(M, compute_uv=False).sum(), rel=1e-12)
