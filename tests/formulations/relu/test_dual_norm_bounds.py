"""The certified upper bound on the ReLU dual norm is as tight as the relaxation it is the dual
of, and exact whenever every pattern fits (issue 26).

The semidefinite relaxation is written here from its definition and solved by cvxpy: with
:math:`U \\succeq uu^T`, :math:`\\operatorname{tr} U \\le 1`,

.. math::

    N_+(w) \\le \\max_{u, U}\\ \\tfrac12 w^TAu
        + \\tfrac12\\sum_{w_i > 0} w_i\\sqrt{a_i^TUa_i}
        - \\tfrac12\\sum_{w_i < 0} |w_i|\\max\\big(|a_i^Tu|,\\ a_i^TUa_i/\\|a_i\\|\\big)

(:math:`(t)_+ = (t + |t|)/2`, with :math:`|t|` bounded above by
:math:`\\sqrt{a^TUa}` and below by both terms of the max when :math:`U = uu^T`). The
package's bound comes from multipliers of the dual program: it must lie between the exact
dual norm (NNLS over every pattern) and that relaxation's value, up to solver accuracy.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import sdpnets as sn
from sdpnets.features.arrangement import arrangement_info
from sdpnets.formulations.relu.dual_norm import (
    cells_if_they_fit,
    every_cell,
    relu_dual_norm,
    relu_dual_norm_bracket,
    relu_dual_norm_upper,
)


def one_sided_relaxation(A: np.ndarray, w: np.ndarray) -> float:
    n, d = A.shape
    r = np.linalg.norm(A, axis=1)
    u = cp.Variable(d)
    M = cp.Variable((d + 1, d + 1), PSD=True)  # [[1, u^T], [u, U]]
    U = M[1:, 1:]
    constraints = [M[0, 0] == 1, M[1:, 0] == u, cp.trace(U) <= 1]
    value = 0.5 * (w @ A) @ u
    for i in range(n):
        quad = A[i] @ U @ A[i]
        if w[i] > 0:
            value = value + 0.5 * w[i] * cp.sqrt(quad)
        elif w[i] < 0:
            value = value - 0.5 * abs(w[i]) * cp.maximum(cp.abs(A[i] @ u), quad / r[i])
    problem = cp.Problem(cp.Maximize(value), constraints)
    problem.solve(solver=cp.CLARABEL)
    return float(problem.value)


def relaxation(A, v):
    return max(one_sided_relaxation(A, v), one_sided_relaxation(A, -v))


@pytest.mark.parametrize("seed", range(6))
def test_the_relaxation_bound_is_as_tight_as_the_relaxation(seed):
    rng = np.random.default_rng(seed)
    n, d = 9, 3
    A = rng.standard_normal((n, d))
    if seed % 2:
        A = np.hstack([A[:, :2], np.ones((n, 1))])  # a bias column
    v = rng.standard_normal(n)
    exact = relu_dual_norm(A, v)
    sdp = relaxation(A, v)
    bound = relu_dual_norm_upper(A, v, method="relaxation")
    triangle = relu_dual_norm_upper(A, v, method="triangle")
    assert exact <= sdp * (1 + 1e-6)
    assert exact * (1 - 1e-12) <= bound <= sdp * (1 + 1e-5) + 1e-9
    assert bound <= triangle * (1 + 1e-12)
    assert sdp < triangle * (1 - 1e-3)  # the relaxation is worth its solve here


@pytest.mark.parametrize("seed", range(3))
def test_one_signed_weights(seed):
    """All weights of one sign: ``N_+`` of the positive side is the relaxation's, the
    negative side is 0 (every term is <= 0 and u = 0 attains it)."""
    rng = np.random.default_rng(10 + seed)
    A = rng.standard_normal((8, 3))
    v = np.abs(rng.standard_normal(8))
    exact = relu_dual_norm(A, v)
    bound = relu_dual_norm_upper(A, v)
    assert one_sided_relaxation(A, -v) == pytest.approx(0.0, abs=1e-7)
    assert exact * (1 - 1e-12) <= bound <= one_sided_relaxation(A, v) * (1 + 1e-5) + 1e-9


@pytest.mark.parametrize("n, d", [(6, 2), (7, 3)])
def test_the_bracket_is_exact_exactly_when_every_pattern_fits(n, d):
    rng = np.random.default_rng(n)
    A, v = rng.standard_normal((n, d)), rng.standard_normal(n)
    bound = arrangement_info(A).max_cells
    exact = relu_dual_norm(A, v)
    fits = relu_dual_norm_bracket(A, v, max_patterns=bound)
    assert fits.exact and fits.lower == fits.upper == pytest.approx(exact, rel=1e-12)
    loose = relu_dual_norm_bracket(A, v, max_patterns=bound - 1)
    assert not loose.exact
    assert loose.lower <= exact * (1 + 1e-9) and exact <= loose.upper * (1 + 1e-12)
    assert cells_if_they_fit(A, bound) is not None and cells_if_they_fit(A, bound - 1) is None
    assert every_cell(A, bound).shape[1] > 0
    with pytest.raises(sn.ProblemTooLargeError, match="max_patterns"):
        every_cell(A, bound - 1)
    # the lower end is attained by its direction
    assert loose.lower == pytest.approx(abs(v @ np.maximum(A @ loose.direction, 0)), rel=1e-9)
    assert np.linalg.norm(loose.direction) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_the_closed_form_multipliers_balance_the_negative_rows_least_squares(seed):
    """The closed-form (triangle) multipliers, the fallback and the descent's start, choose
    ``e`` on the negative rows (``|e_i| <= 1``) to make the linear term
    ``g = A^T w / 2 - sum_{w_i < 0} |w_i| e_i a_i / 2`` as small as possible: its norm is
    the bounded least-squares optimum, solved here by cvxpy, and ``e`` is zero elsewhere."""
    from sdpnets.formulations.relu.dual_norm import _triangle_multipliers

    rng = np.random.default_rng(seed)
    A, w = rng.standard_normal((12, 3)), rng.standard_normal(12)
    neg = w < 0
    zeta, pi, e = _triangle_multipliers(A, w)
    assert np.all(e[~neg] == 0) and np.all(np.abs(e) <= 1 + 1e-12) and np.all(pi == 0)
    g = 0.5 * A.T @ w - 0.5 * A[neg].T @ (np.abs(w[neg]) * e[neg])
    x = cp.Variable(int(neg.sum()))
    best = cp.Problem(cp.Minimize(cp.norm(0.5 * A.T @ w - 0.5 * A[neg].T @ cp.multiply(
        np.abs(w[neg]), x))), [cp.abs(x) <= 1])
    best.solve(solver=cp.CLARABEL)
    assert np.linalg.norm(g) == pytest.approx(best.value, rel=1e-6, abs=1e-8)


def test_the_descent_reaches_the_relaxation_s_bound():
    """``method="descent"`` (used past ``MAX_RELAXATION_SIZE``) minimizes the same bound
    over the multipliers as the conic relaxation solves exactly: on small data it comes
    within 1% of the relaxation's bound, and stays between the exact dual norm and the
    closed-form (triangle) bound."""
    rng = np.random.default_rng(2)
    A, v = rng.standard_normal((12, 3)), rng.standard_normal(12)
    exact = relu_dual_norm(A, v)
    relaxed = relu_dual_norm_upper(A, v, method="relaxation")
    descent = relu_dual_norm_upper(A, v, method="descent")
    triangle = relu_dual_norm_upper(A, v, method="triangle")
    assert exact * (1 - 1e-9) <= descent <= triangle * (1 + 1e-12)
    assert descent == pytest.approx(relaxed, rel=1e-2)
