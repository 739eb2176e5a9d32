"""sdpnets' composite solvers against independent solves (issue 26).

The program :math:`\\min_W \\tfrac12\\|AW - Y\\|^2 + \\beta\\Omega(W)` is solved by cvxpy
(Clarabel) on the data ``A`` themselves for the reference optimum. Every certificate
:func:`certify_point` gives, at any point, must bracket that optimum with the point's own
objective as its upper end and a dual-feasible lower end; every method must reach the
optimum and certify it; a limit gives its status with a still-valid certificate.
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdpnets.backends.firstorder import (
    Composite,
    FactoredQuadratic,
    GroupL2,
    NuclearNorm,
    Quadratic,
    certify_point,
    gram_statistics,
    solve_composite,
)

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _instance(seed, kind, n=30, p=6, K=3, cond=1.0):
    rng = np.random.default_rng(seed)
    r = min(n, p)
    U, _ = np.linalg.qr(rng.standard_normal((n, r)))
    V, _ = np.linalg.qr(rng.standard_normal((p, r)))
    A = (U * np.geomspace(1.0, cond, r)) @ V.T
    if kind == "nuclear":
        Y = A @ rng.standard_normal((p, 1)) @ rng.standard_normal((1, K)) \
            + 0.3 * rng.standard_normal((n, K))
        pen, expr = NuclearNorm(), cp.normNuc
    else:
        Y = A @ rng.standard_normal((p, 1)) + 0.3 * rng.standard_normal((n, 1))
        groups, weights = np.arange(p) // 2, np.array([1.0, 2.0, 0.5])[: (p + 1) // 2]
        pen = GroupL2(groups, weights)

        def expr(W):
            return sum(weights[g] * cp.norm(W[groups == g, 0], 2) for g in range(weights.size))
    return A, Y, pen, expr


def _reference(A, Y, beta, expr) -> float:
    W = cp.Variable((A.shape[1], Y.shape[1]))
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ W - Y) + beta * expr(W)))
    with warnings.catch_warnings():  # "inaccurate" at 1e-10 on the 1e-4-conditioned data
        warnings.simplefilter("ignore", UserWarning)
        problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert problem.status in ("optimal", "optimal_inaccurate")
    return float(problem.value)


def _composite(A, Y, pen, beta, factored=False):
    G, C, yy = gram_statistics(A, Y)
    if factored:  # G = A^T A kept compressed: A^T = QR, G = Q (R R^T) Q^T
        Q, R = np.linalg.qr(A.T)
        datafit: Quadratic = FactoredQuadratic(R @ R.T, lambda W: Q.T @ W, lambda V: Q @ V, C, yy)
    else:
        datafit = Quadratic(G, C, yy)
    return Composite(datafit, pen, beta)


def _objective(A, Y, pen, beta, W):
    return 0.5 * float(np.sum((A @ W - Y) ** 2)) + beta * pen.value(W)


@PROPERTY
@given(seed=st.integers(0, 2**16), kind=st.sampled_from(["nuclear", "group"]),
       frac=st.floats(0.01, 1.5), log_w=st.floats(-3.0, 2.0), factored=st.booleans())
def test_the_certificate_brackets_the_optimum_at_any_point(seed, kind, frac, log_w, factored):
    A, Y, pen, expr = _instance(seed, kind, n=8 if factored else 30)
    beta = frac * pen.dual_norm(A.T @ Y)
    opt = _reference(A, Y, beta, expr)
    W = 10.0**log_w * np.random.default_rng(seed + 1).standard_normal((A.shape[1], Y.shape[1]))
    cert = certify_point(_composite(A, Y, pen, beta, factored), W)
    assert cert.upper == pytest.approx(_objective(A, Y, pen, beta, W), rel=1e-9)
    tol = 1e-7 * max(1.0, abs(opt))
    assert cert.lower <= opt + tol and opt <= cert.upper + tol
    assert cert.gap == pytest.approx(cert.upper - cert.lower, rel=1e-9, abs=1e-12)
    assert cert.gap >= 0 and cert.scale >= 0
    # the dual point s (Y - AW) is feasible: Omega^*(s A^T R) <= beta
    R = Y - A @ W
    assert cert.scale * pen.dual_norm(A.T @ R) <= beta * (1 + 1e-9)


@pytest.mark.parametrize("kind", ["nuclear", "group"])
def test_the_certificate_closes_at_the_optimum(kind):
    A, Y, pen, expr = _instance(3, kind)
    beta = 0.2 * pen.dual_norm(A.T @ Y)
    out = solve_composite(_composite(A, Y, pen, beta), tol=1e-11, method="admm")
    cert = certify_point(_composite(A, Y, pen, beta), out.W)
    assert cert.relative_gap <= 1e-10
    assert cert.lower == pytest.approx(_reference(A, Y, beta, expr), rel=1e-8)


@pytest.mark.parametrize("kind", ["nuclear", "group"])
@pytest.mark.parametrize("method", ["auto", "apg", "admm"])
@pytest.mark.parametrize("cond", [1.0, 1e-3])
def test_every_method_reaches_and_certifies_the_optimum(kind, method, cond):
    A, Y, pen, expr = _instance(4, kind, cond=cond)
    beta = 0.1 * pen.dual_norm(A.T @ Y)
    opt = _reference(A, Y, beta, expr)
    out = solve_composite(_composite(A, Y, pen, beta), tol=1e-9, method=method)
    assert out.status == "optimal" and not out.stalled
    assert out.certificate.relative_gap <= 1e-9
    assert out.certificate.lower <= opt * (1 + 1e-8)
    assert opt <= out.certificate.upper * (1 + 1e-8)
    assert _objective(A, Y, pen, beta, out.W) == pytest.approx(opt, rel=1e-8)
    assert out.W.shape == (A.shape[1], Y.shape[1])
    its = [k for k, _, _ in out.history]
    assert its == sorted(its) and its[-1] <= out.iterations


def test_a_factored_gram_reaches_the_same_optimum():
    A, Y, pen, expr = _instance(5, "group", n=4, p=6)  # rank 4 < 6: G = A^T A singular
    beta = 0.1 * pen.dual_norm(A.T @ Y)
    opt = _reference(A, Y, beta, expr)
    for method in ("apg", "admm", "auto"):
        out = solve_composite(_composite(A, Y, pen, beta, factored=True), tol=1e-9,
                              method=method)
        assert out.status == "optimal"
        assert _objective(A, Y, pen, beta, out.W) == pytest.approx(opt, rel=1e-8)


@pytest.mark.parametrize("method", ["apg", "admm", "auto"])
def test_a_warm_start_at_the_optimum_stops_at_once(method):
    A, Y, pen, _ = _instance(6, "nuclear")
    beta = 0.1 * pen.dual_norm(A.T @ Y)
    cold = solve_composite(_composite(A, Y, pen, beta), tol=1e-10, method=method)
    warm = solve_composite(_composite(A, Y, pen, beta), cold.W, tol=1e-9, method=method,
                           rho=cold.rho)
    assert warm.status == "optimal" and warm.iterations <= 1
    np.testing.assert_allclose(warm.W, cold.W, atol=1e-8 * np.abs(cold.W).max())


@pytest.mark.parametrize("method", ["apg", "admm", "auto"])
def test_limits_give_their_status_and_a_valid_certificate(method):
    A, Y, pen, expr = _instance(7, "nuclear", cond=1e-4)
    beta = 0.05 * pen.dual_norm(A.T @ Y)
    opt = _reference(A, Y, beta, expr)
    capped = solve_composite(_composite(A, Y, pen, beta), tol=1e-14, max_iters=3,
                             method=method)
    assert capped.status == "iteration_limit" and capped.iterations == 3
    assert capped.certificate.lower <= opt * (1 + 1e-8)
    assert opt <= capped.certificate.upper * (1 + 1e-8)
    assert capped.certificate.upper == pytest.approx(_objective(A, Y, pen, beta, capped.W),
                                                     rel=1e-9)
    timed = solve_composite(_composite(A, Y, pen, beta), tol=1e-14, time_limit=1e-9,
                            method=method)
    assert timed.status == "time_limit"
    assert timed.certificate.lower <= opt * (1 + 1e-8)
    assert opt <= timed.certificate.upper * (1 + 1e-8)
    assert 0 <= timed.solve_time


def test_the_best_point_and_the_best_bound_are_kept():
    """A capped run returns the best upper bound it saw and the best lower bound of any
    check (every lower bound is valid), not merely the last ones."""
    A, Y, pen, expr = _instance(8, "group", cond=1e-3)
    beta = 0.05 * pen.dual_norm(A.T @ Y)
    opt = _reference(A, Y, beta, expr)
    out = solve_composite(_composite(A, Y, pen, beta), tol=1e-14, max_iters=60, method="apg",
                          check_every=1)
    cert = out.certificate
    last = certify_point(_composite(A, Y, pen, beta), out.W)
    assert cert.upper == pytest.approx(last.upper, rel=1e-12)  # the kept point's value
    assert cert.lower >= last.lower - 1e-12 * abs(last.lower)
    assert cert.lower <= opt * (1 + 1e-8)
    assert opt <= cert.upper * (1 + 1e-8)


def test_zero_data_and_bad_methods():
    pen = NuclearNorm()
    out = solve_composite(Composite(Quadratic(np.zeros((3, 3)), np.zeros((3, 2)), 0.0), pen, 1.0))
    assert out.status == "optimal" and not np.any(out.W)
    with pytest.raises(ValueError, match="method"):
        solve_composite(Composite(Quadratic(np.eye(2), np.ones((2, 1)), 1.0), pen, 1.0),
                        method="newton")


def _stopper_with(history, phase_start=0):
    from sdpnets.backends.firstorder.solvers import _Stopper

    stopper = _Stopper(None, 1e-8, None, None, 10)  # no cap: stall detection is on
    stopper.history = [(i, 0.0, g) for i, g in history]
    stopper.phase_start = phase_start
    return stopper


def test_a_stall_is_a_gap_that_did_not_halve_over_the_second_half_of_the_phase():
    """The documented rule, on hand-made histories: a gap halving every 100 iterations is
    progress, a flat gap is a stall, only the current phase counts, and a phase shorter
    than ``STALL_AFTER`` never stalls."""
    from sdpnets.backends.firstorder.solvers import STALL_AFTER

    k = 2 * STALL_AFTER
    steady = [(i, 2.0 ** (-i / 100)) for i in range(0, k + 1, 10)]
    flat = [(i, 1e-3) for i in range(0, k + 1, 10)]
    assert not _stopper_with(steady).stalled(k)
    assert _stopper_with(flat).stalled(k)
    # a new phase at `start`: what came before (much smaller gaps) is not compared
    start = 1000
    earlier = [(i, 1e-30) for i in range(0, start, 10)]
    progress = [(i, 2.0 ** (-(i - start) / 100)) for i in range(start, start + k + 1, 10)]
    assert not _stopper_with(earlier + progress, start).stalled(start + k)
    assert _stopper_with(earlier + [(i, 1e-3) for i in range(start, start + k + 1, 10)],
                         start).stalled(start + k)
    assert not _stopper_with(flat, k - STALL_AFTER + 1).stalled(k)


@pytest.mark.parametrize("scale", [1e-20, 1e-6, 1.0, 1e8])
def test_the_initial_admm_step_scales_with_the_data(scale):
    """ADMM's first ``rho`` (the geometric mean of the Gram's diagonal's scale, ignoring
    entries negligible next to its largest) is covariant with the data's scale: the
    program on ``sqrt(scale) * A`` starts from ``scale`` times the step."""
    from sdpnets.backends.firstorder.datafits import Quadratic
    from sdpnets.backends.firstorder.solvers import _initial_rho

    lam = np.array([4.0, 1e-3, 1e-13, 0.0])  # one entry negligible (relative 1e-12)
    base = _initial_rho(Quadratic(lam, np.ones((4, 1)), 1.0))
    assert base == pytest.approx(np.sqrt(4.0 * np.sqrt(4.0 * 1e-3)), rel=1e-12)
    scaled = _initial_rho(Quadratic(scale * lam, np.ones((4, 1)), 1.0))
    assert scaled == pytest.approx(scale * base, rel=1e-12, abs=0.0)


@pytest.mark.parametrize("kind", ["nuclear", "group"])
def test_auto_stopped_by_the_users_cap_stays_accelerated_gradient(kind):
    """With ``max_iters`` reached by accelerated gradient itself there is nothing left for
    ADMM: ``method="auto"`` reports APG alone, at the cap, with a valid certificate."""
    A, Y, pen, _ = _instance(4, kind, cond=1e-3)
    beta = 0.1 * pen.dual_norm(A.T @ Y)
    out = solve_composite(_composite(A, Y, pen, beta), tol=1e-14, max_iters=7,
                          method="auto", check_every=1)
    assert out.status == "iteration_limit"
    assert out.iterations == 7 and out.method == "apg"
    assert out.certificate.lower <= out.certificate.upper
