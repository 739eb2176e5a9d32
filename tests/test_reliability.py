"""Reliability (issue 12): solver crashes, option bounds, owned inputs, size guards,
verified statuses, equilibration. Each test fails on the code before the fix.

References are computed here by independent methods (a secular equation for the group
lasso, closed forms), never copied from a run.
"""

from __future__ import annotations

import logging
import time
import warnings

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import brentq

import sdpnets as sn
from sdpnets.backends import ClarabelBackend, MosekBackend, SCSBackend
from sdpnets.features.patches import extract_patches
from sdpnets.features.arrangement import arrangement_info, unique_patterns
from sdpnets.features.patterns import patterns_from_gates
from sdpnets.solving.verify import verify_limit
from sdpnets.results import relative_gap
from tests.conftest import BACKENDS


@pytest.fixture
def small():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((10, 4))
    y = X @ rng.standard_normal(4) + 0.1 * rng.standard_normal(10)
    return X, y


def group_lasso_optimum(X, y, beta):
    r"""Exact optimum of :math:`\tfrac12\|Xz-y\|^2 + \beta\|z\|_2` by its secular equation:
    :math:`z = (X^TX + \lambda I)^{-1}X^Ty` with :math:`\lambda\|z\| = \beta` (zero when
    :math:`\|X^Ty\| \le \beta`)."""
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    c = s * (U.T @ y)
    if np.linalg.norm(X.T @ y) <= beta:
        return 0.5 * float(y @ y), np.zeros(X.shape[1])
    cn = float(np.linalg.norm(c))
    hi = 2.0 * s.max() ** 2 * cn / (cn - beta) + 1.0  # lam ||z(lam)|| > beta there
    lam = brentq(lambda t: np.linalg.norm(c / (s**2 + t)) * t - beta, 0.0, hi,
                 xtol=1e-300, rtol=1e-15, maxiter=2000)
    z = Vt.T @ (c / (s**2 + lam))
    return 0.5 * float(np.sum((X @ z - y) ** 2)) + beta * float(np.linalg.norm(z)), z


# --- item 1: a solver crash of any kind is a status ----------------------------------------------


class _Panic(BaseException):
    """Stands in for pyo3's PanicException (a BaseException, not an Exception)."""


def test_a_panicking_solver_returns_error_with_its_message(small, monkeypatch):
    prog = sn.ConvexLinearFC(*small, 1.0)
    problem = prog.problem

    def panic(*args, **kwargs):
        raise _Panic("Eigval error: Eigen(1)")

    monkeypatch.setattr(problem, "solve", panic)
    res = prog.solve(backend="clarabel")
    assert res.status == "error"
    assert "Eigval error: Eigen(1)" in res.message and "_Panic" in res.message
    assert np.isnan(res.objective)
    with pytest.raises(sn.SolveFailedError):
        prog.network()


def test_keyboard_interrupt_is_not_swallowed(small, monkeypatch):
    prog = sn.ConvexLinearFC(*small, 1.0)
    problem = prog.problem

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(problem, "solve", interrupt)
    with pytest.raises(KeyboardInterrupt):
        prog.solve(backend="clarabel")


# --- item 3: iteration caps each backend can take; options checked before the solver runs -------


@pytest.mark.parametrize(
    "cls, cap", [(ClarabelBackend, 2**32 - 1), (SCSBackend, 2**31 - 1), (MosekBackend, 2**31 - 1)]
)
def test_max_iters_beyond_the_backend_counter_is_refused(small, cls, cap):
    cp_problem = sn.ConvexLinearFC(*small, 1.0).problem
    for bad in (cap + 1, 10**20):
        with pytest.raises(sn.InvalidInputError, match=rf"max_iters must be <= {cap}"):
            cls().solve(cp_problem, max_iters=bad)
    assert cp_problem.status is None  # refused before any solver ran


@pytest.mark.parametrize("backend, options, match", [
    ("clarabel", {"max_iter": -1}, "max_iter"),
    ("clarabel", {"max_iter": 2**32}, "max_iter"),
    ("clarabel", {"tol_feas": float("nan")}, "tol_feas"),
    ("clarabel", {"bogus_option": 1}, "bogus_option"),
    ("clarabel", {"canon_backend": "bogus"}, "canon_backend"),
    ("scs", {"max_iters": -1}, "max_iters"),
    ("scs", {"eps_abs": "a"}, "eps_abs"),
    ("scs", {"time_limit_secs": float("inf")}, "time_limit_secs"),
    ("scs", {"normalize": 3}, "normalize"),
    ("scs", {"max_iter": 5}, "max_iter"),
])
def test_bad_solver_options_are_refused_before_solving(small, backend, options, match):
    prog = sn.ConvexLinearFC(*small, 1.0)
    with pytest.raises(sn.InvalidInputError, match=match):
        prog.solve(backend=backend, **options)
    assert prog.problem.status is None  # the solver never ran
    assert prog.result is None


def test_known_options_and_cvxpy_canon_backend_still_pass(small):
    prog = sn.ConvexLinearFC(*small, 1.0)
    res = prog.solve(backend="clarabel", canon_backend="SCIPY", max_iter=500, tol_ktratio=1e-9)
    assert res.status == "optimal"


def test_infinite_time_limit_means_no_limit_on_every_backend(small):
    ref, _ = group_lasso_optimum(*small, 1.0)
    for name in BACKENDS:
        res = sn.ConvexLinearFC(*small, 1.0).solve(backend=name, time_limit=float("inf"),
                                                    tol=1e-9, max_iters=100_000)
        assert res.status == "optimal", (name, res)
        assert abs(res.objective - ref) <= 1e-5 * ref
    assert "time_limit_secs" not in SCSBackend().solver_options(1e-8, None, float("inf"))


# --- item 4: a tolerance is relative ----------------------------------------------------------------


@pytest.mark.parametrize("tol", [1.0, 10.0, 1e300, 0.0, -1e-3, float("nan"), float("inf")])
def test_tolerance_outside_zero_one_is_refused(small, tol):
    prog = sn.ConvexLinearFC(*small, 1.0)
    with pytest.raises(sn.InvalidInputError, match=r"tol must be a number with 0 < tol < 1"):
        prog.solve(tol=tol)
    assert prog.result is None


# --- item 6: programs own the data that were checked ----------------------------------------------


@pytest.mark.parametrize("make", [
    lambda X, y: sn.ConvexLinearFC(X, y, 1.0),
    lambda X, y: sn.ConvexLinearCNN(X, y, 1.0, kernel_size=2),
    lambda X, y: sn.ConvexCircularCNN(X, y, 1.0),
    lambda X, y: sn.ConvexReLU(X, y, 1.0, patterns=20, seed=0),
])
def test_programs_do_not_see_later_changes_to_the_callers_arrays(small, make):
    X, y = (a.copy() for a in small)
    prog, ref = make(X, y), make(*small)
    X *= 1000.0
    X[0, 0] = np.nan
    y[:] = np.nan
    res, expected = prog.solve(tol=1e-9), ref.solve(tol=1e-9)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(expected.objective, rel=1e-9)


# --- verified statuses ------------------------------------------------------------------------------


def test_every_solved_result_carries_its_verified_bracket(small):
    X, y = small
    ref, _ = group_lasso_optimum(X, y, 1.0)
    for name in BACKENDS:
        res = sn.ConvexLinearFC(X, y, 1.0).solve(backend=name, tol=1e-9, max_iters=100_000)
        assert res.status == "optimal"
        assert res.lower_bound <= ref * (1 + 1e-9) and res.upper_bound >= ref * (1 - 1e-9)
        assert res.gap == pytest.approx(res.upper_bound - res.lower_bound)
        assert res.relative_gap == relative_gap(res.lower_bound, res.upper_bound) <= 1e-6


@pytest.mark.parametrize("word", ["infeasible", "unbounded"])
def test_infeasible_or_unbounded_from_an_always_feasible_program_is_an_error(small, word,
                                                                             monkeypatch):
    prog = sn.ConvexLinearFC(*small, 1.0)
    fake = sn.SolveResult(word, float("inf"), "clarabel", message="solver said so")
    monkeypatch.setattr(ClarabelBackend, "solve", lambda self, problem, **kw: fake)
    res = prog.solve(backend="clarabel")
    assert res.status == "error"
    assert "numerical failure" in res.message and repr(word) in res.message
    assert "solver said so" in res.message
    assert res.lower_bound == -np.inf and res.upper_bound == np.inf  # never NaN


def test_an_optimal_claim_far_from_the_optimum_is_downgraded(small, monkeypatch):
    X, y = small
    prog = sn.ConvexLinearFC(X, y, 1.0)
    real = ClarabelBackend.solve

    def stops_early(self, problem, **kw):
        res = real(self, problem, **{**kw, "max_iter": 1})
        return sn.SolveResult("optimal", res.objective, "clarabel", iterations=res.iterations)

    monkeypatch.setattr(ClarabelBackend, "solve", stops_early)
    res = prog.solve(backend="clarabel", tol=1e-8)
    ref, _ = group_lasso_optimum(X, y, 1.0)
    assert res.upper_bound > ref * (1 + 1e-6)  # one iteration is not the optimum
    assert res.status == "optimal_inaccurate"
    assert "certified relative gap" in res.message
    assert f"{res.lower_bound:.12g}" in res.message and f"{res.upper_bound:.12g}" in res.message
    with pytest.warns(sn.SdpnetsWarning):
        prog.network()


def test_a_recovered_network_that_disagrees_with_the_solver_is_not_optimal(small, monkeypatch):
    X, y = small
    prog = sn.ConvexLinearFC(X, y, 1.0)
    real = ClarabelBackend.solve

    def off_by_a_percent(self, problem, **kw):
        res = real(self, problem, **kw)
        return sn.SolveResult("optimal", 0.99 * res.objective, "clarabel")

    monkeypatch.setattr(ClarabelBackend, "solve", off_by_a_percent)
    res = prog.solve(backend="clarabel")
    assert res.status == "optimal_inaccurate"
    assert "differs from the solver's" in res.message


def test_scs_at_a_loose_tolerance_is_not_called_optimal_far_from_the_optimum():
    X, y = item13_data()
    ref, _ = group_lasso_optimum(X, y, 1.0)
    res = sn.ConvexLinearFC(X, y, 1.0).solve(backend="scs", tol=1e-3)
    assert res.status != "optimal" or res.objective <= ref * (1 + 1e-2)
    assert not np.isnan(res.lower_bound) and not np.isnan(res.upper_bound)


@pytest.mark.skipif("scs" not in BACKENDS, reason="needs SCS")
def test_an_unverified_optimal_is_solved_again_tighter_until_certified():
    # SCS at tol=1e-3 on item 13's data stops "optimal" thousands of times above the
    # optimum; a tighter solver tolerance reaches the requested one, certified
    X, y = item13_data()
    ref, _ = group_lasso_optimum(X, y, 1.0)
    res = sn.ConvexLinearFC(X, y, 1.0).solve(backend="scs", tol=1e-3)
    assert res.status == "optimal", res.message
    assert "solved again at solver tolerance" in res.message
    assert res.lower_bound <= ref * (1 + 1e-9) <= res.upper_bound * (1 + 1e-9)
    assert res.relative_gap <= verify_limit(1e-3)
    assert abs(res.objective - ref) <= verify_limit(1e-3) * ref


@pytest.mark.skipif("scs" not in BACKENDS, reason="needs SCS")
def test_raw_solver_tolerances_are_not_tightened_behind_the_users_back():
    X, y = item13_data()
    res = sn.ConvexLinearFC(X, y, 1.0).solve(backend="scs", tol=1e-3, eps_abs=1e-3, eps_rel=1e-3)
    assert "solved again at solver tolerance" not in res.message
    assert res.status != "optimal" or res.relative_gap <= verify_limit(1e-3)


def test_tightening_stops_at_the_time_limit(small, monkeypatch):
    X, y = small
    prog = sn.ConvexLinearFC(X, y, 1.0)
    real, tols = ClarabelBackend.solve, []

    def never_verified(self, problem, **kw):
        tols.append(kw["tol"])
        res = real(self, problem, **{**kw, "max_iter": 1})
        time.sleep(0.3)
        return sn.SolveResult("optimal", res.objective, "clarabel", iterations=res.iterations)

    monkeypatch.setattr(ClarabelBackend, "solve", never_verified)
    res = prog.solve(backend="clarabel", tol=1e-6, time_limit=0.5)
    assert res.status == "optimal_inaccurate", (tols, res.message)
    assert tols == [1e-6, 1e-8]  # the third would start past 0.5 s


# --- item 13: equilibration ---------------------------------------------------------------------------


def item13_data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 6)) * np.logspace(-6, 6, 6)
    y = 1e6 * (X @ rng.standard_normal(6))
    return X, y


@pytest.mark.parametrize("backend", [b for b in ("clarabel", "scs") if b in BACKENDS])
def test_badly_scaled_data_are_solved_and_verified(backend):
    X, y = item13_data()
    ref, z = group_lasso_optimum(X, y, 1.0)
    prog = sn.ConvexLinearFC(X, y, 1.0)
    res = prog.solve(backend=backend)
    assert res.status == "optimal", res.message  # was "infeasible" / "iteration_limit"
    assert res.lower_bound <= ref * (1 + 1e-9) <= res.upper_bound * (1 + 2e-9)
    assert abs(res.objective - ref) <= 1e-6 * ref
    assert abs(prog.network().objective(X, y, 1.0) - ref) <= 1e-6 * ref


def _item13_programs():
    X, y = item13_data()
    rng = np.random.default_rng(2)
    Y2 = np.stack([y, 2 * y + 1e11 * rng.standard_normal(30)], 1)
    lab = np.sign(y)
    return {
        "fc vector": lambda: sn.ConvexLinearFC(X, Y2, 1.0),
        "fc spectral depth 3": lambda: sn.ConvexLinearFC(X, Y2, 1.0, depth=3, hidden="spectral"),
        "linear cnn": lambda: sn.ConvexLinearCNN(X, y, 1.0, kernel_size=3),
        "pooled cnn": lambda: sn.ConvexLinearCNN(X, y, 1.0, kernel_size=3, pooling="sum"),
        "circular": lambda: sn.ConvexCircularCNN(X, y, 1.0),
        "circular depth 3": lambda: sn.ConvexCircularCNN(X, y, 1.0, depth=3, hidden="unit_norm"),
        "relu hinge": lambda: sn.ConvexReLU(X, lab, 1.0, loss="hinge", patterns=20, seed=0),
        "relu cnn": lambda: sn.ConvexReLUCNN(X, y, 1.0, kernel_size=3, patterns=20, seed=0),
        "circular relu": lambda: sn.ConvexCircularReLU(X, y, 1.0, patterns=20, seed=0),
        "gated relu": lambda: sn.ConvexGatedReLU(X, y, 1.0, patterns=20, seed=0),
    }


@pytest.mark.parametrize("name", list(_item13_programs()))
def test_badly_scaled_data_never_get_a_false_status_on_any_family(name):
    # item 13 on every other family: where the solver cannot reach the certified gap on
    # columns twelve orders of magnitude apart, the status says so; never "infeasible",
    # "unbounded", or an "optimal" its own certificate does not prove
    prog = _item13_programs()[name]()
    res = prog.solve(backend="clarabel")
    assert res.status not in ("infeasible", "unbounded"), res.message
    assert not np.isnan(res.lower_bound) and not np.isnan(res.upper_bound)
    if res.status == "optimal":
        assert res.relative_gap <= verify_limit(1e-8), res.message
        assert prog.network().objective(prog.X, prog.y, 1.0, prog.loss) == pytest.approx(
            res.objective, rel=verify_limit(1e-8))
    elif res.status == "error":  # Clarabel's "infeasible" on an always-feasible program
        assert "numerical failure" in res.message


@pytest.mark.parametrize("x_scale, y_scale", [(1e5, 1.0), (1e-5, 1e6), (1.0, 1e-6), (1e4, 1e4)])
def test_equilibration_is_exact_in_the_callers_units(small, x_scale, y_scale):
    X, y = small
    X, y = X * x_scale, y * y_scale
    beta = 0.3 * np.linalg.norm(X.T @ y)
    ref, z = group_lasso_optimum(X, y, beta)
    prog = sn.ConvexLinearFC(X, y, beta)
    res = prog.solve(backend="clarabel", tol=1e-9)
    assert res.status == "optimal", res.message
    assert res.objective == pytest.approx(ref, rel=1e-7)
    assert np.allclose(prog.solution[:, 0], z, rtol=0, atol=1e-4 * np.abs(z).max())
    assert prog.network().objective(X, y, beta) == pytest.approx(ref, rel=1e-7)


# --- items 2 and 5: recovery on the solution's own scale -------------------------------------------


@pytest.mark.parametrize("X", [np.zeros((5, 3)), 1e-300 * np.random.default_rng(0).standard_normal((5, 3))])
def test_zero_or_tiny_data_recover_the_zero_network(X):
    y = np.ones(5)
    prog = sn.ConvexLinearFC(X, y, 1.0)
    res = prog.solve(backend="clarabel")
    assert res.status == "optimal"
    net = prog.network()
    assert all(np.all(W == 0) for W in net.weights)  # ||X^T y|| < beta: zero is the optimum
    assert net.objective(X, y, 1.0) == pytest.approx(0.5 * y @ y)


@pytest.mark.parametrize("beta", [1e-12, 1e-10])
def test_small_beta_recovers_the_network_the_solver_found(beta):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 8)), rng.standard_normal(10)
    for prog in (sn.ConvexLinearCNN(X, y, beta, kernel_size=3),
                 sn.ConvexCircularCNN(X, y, beta, depth=3, hidden="unit_norm")):
        res = prog.solve(backend="clarabel")
        assert res.solved
        net = prog.network() if res.status == "optimal" else _quiet(prog.network)
        # was the zero network (objective 1/2 ||y||^2, 10x the solver's)
        assert net.objective(X, y, beta) == pytest.approx(res.objective, rel=1e-6)
        assert net.objective(X, y, beta) < 0.5 * (y @ y) * 0.5


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sn.SdpnetsWarning)
        return fn()


def test_rank_tol_zero_keeps_every_nonzero_direction():
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((12, 4)), rng.standard_normal((12, 3))
    beta = 0.2 * np.linalg.norm(X.T @ Y, 2)
    prog = sn.ConvexLinearFC(X, Y, beta, rank_tol=0)
    res = prog.solve(backend="clarabel", tol=1e-9)
    s = np.linalg.svd(prog.solution, compute_uv=False)
    net = prog.network()
    assert net.weights[0].shape[1] == int(np.sum(s > 0))  # no direction dropped
    assert net.objective(X, Y, beta) == pytest.approx(res.objective, rel=1e-7)


# --- items 7, 8, 9: size guards, planar enumeration, pattern-helper arguments ---------------------


@pytest.mark.parametrize("call", [
    lambda X, y: sn.ConvexLinearCNN(X, y, 1.0, kernel_size=3, padding=10**9),
    lambda X, y: sn.ConvexReLUCNN(X, y, 1.0, kernel_size=3, padding=10**9, patterns=10),
    lambda X, y: sn.beta_max(X, y, family="linear_cnn", kernel_size=3, padding=10**9),
    lambda X, y: extract_patches(X, 3, padding=10**9),
    lambda X, y: extract_patches(np.ones((3000, 4)), 3, padding=50_000),
    lambda X, y: sn.ConvexReLU(X, y, 1.0, patterns=10**9),
    lambda X, y: sn.sample_patterns(X, 10**9),
])
def test_sizes_that_would_not_fit_are_refused_up_front_with_the_size(call):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 8)), rng.standard_normal(10)
    start = time.perf_counter()
    with pytest.raises(sn.ProblemTooLargeError, match=r"GiB"):
        call(X, y)
    assert time.perf_counter() - start < 30  # refused, not attempted (a generous bound)


def test_planar_enumeration_finds_every_cell_by_angle():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.standard_normal((60, 2)), np.zeros((1, 2)), [[1.0, 2.0], [-2.0, -4.0]]])
    ps = sn.enumerate_patterns(X)
    # independent: the general enumeration (perturbed rays of every row subset)
    H = X[np.abs(X).sum(axis=1) > 0]
    H = H / np.linalg.norm(H, axis=1, keepdims=True)
    H = H[:-1]  # drop one of the parallel pair
    G = sn.features.arrangement._general_rays(H, 2, 1e-10)
    grid = {m.tobytes() for m in patterns_from_gates(X, G).T if m.any()}
    assert {m.tobytes() for m in ps.masks.T} == grid
    assert ps.cells_found == 2 * 61  # 61 distinct lines (the parallel pair is one)
    assert np.array_equal(ps.masks, patterns_from_gates(X, ps.gates))


def test_large_planar_enumeration_is_exact():
    X = np.random.default_rng(0).standard_normal((5000, 2))
    ps = sn.enumerate_patterns(X)  # was 130 s in the ReLU constructor
    assert ps.complete and ps.cells_found == 10_000 and ps.count == 10_000
    cols = np.random.default_rng(1).choice(ps.count, 50, replace=False)
    assert np.array_equal(ps.masks[:, cols], X @ ps.gates[:, cols] >= 0)
    assert unique_patterns(ps.masks[:400])[0].shape[1] > 700  # distinct on 400 rows already


def test_enumeration_refuses_too_many_candidate_gates_with_an_estimate():
    X = np.random.default_rng(0).standard_normal((60, 6))
    with pytest.raises(sn.ProblemTooLargeError, match=r"candidate gates"):
        sn.enumerate_patterns(X, max_patterns=10**9)


def test_long_enumerations_log_their_progress(caplog, monkeypatch):
    monkeypatch.setattr(sn.features.arrangement, "_BATCH_FLOATS", 2**12)  # many small batches
    X = np.random.default_rng(0).standard_normal((16, 4))
    with caplog.at_level(logging.INFO, logger="sdpnets.features.arrangement"):
        ps = sn.enumerate_patterns(X, max_patterns=10**6)
    assert ps.cells_found == sn.features.arrangement.max_pattern_count(16, 4)  # the batches still agree
    assert any("enumerating activation patterns" in r.message for r in caplog.records)


@pytest.mark.parametrize("fn", [sn.enumerate_patterns, arrangement_info,
                                lambda X, tol: sn.sample_patterns(X, 10, tol=tol)])
@pytest.mark.parametrize("tol", [np.nan, 0.5, 0.0, -1e-10, "1e-10", True, np.inf])
def test_pattern_helpers_check_tol(fn, tol):
    X = np.random.default_rng(0).standard_normal((8, 2))
    with pytest.raises(sn.InvalidInputError, match=r"tol must be"):
        fn(X, tol=tol)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_sample_patterns_checks_seed(seed):
    with pytest.raises(sn.InvalidInputError, match=r"seed must be"):
        sn.sample_patterns(np.eye(3), 5, seed=seed)


# --- items 7 (depth), 10, 11, 12: weights, magnitudes, raw messages ---------------------------------


@pytest.mark.parametrize("depth", [10**20, 10**9, 10**6])
def test_absurd_depth_is_refused_with_the_size(depth):
    with pytest.raises(sn.ProblemTooLargeError, match=r"depth=.*layers sdpnets builds.*GiB"):
        sn.ConvexLinearFC(np.eye(3), np.ones(3), 1.0, depth=depth, hidden="spectral")


@pytest.mark.parametrize("make, match", [
    (lambda: sn.LinearCNN(np.full((1, 1, 3), np.nan), np.ones((1, 6, 1))), "filters contains NaN"),
    (lambda: sn.LinearCNN(np.ones((1, 1, 3)) * 1j, np.ones((1, 6, 1))), "filters must hold real"),
    (lambda: sn.LinearCNN(np.ones((1, 1, 3)), np.full((1, 6, 1), np.inf)), "output_weights contains"),
    (lambda: sn.LinearCNN(np.ones((1, 1, 3)), np.ones((1, 6, 1)), pooling=np.array(["sum"])),
     "pooling must be"),
    (lambda: sn.CircularCNN([np.full((1, 4), np.nan), np.ones((1, 4))]), r"weights\[0\] contains NaN"),
    (lambda: sn.CircularCNN([np.ones((1, 4)), np.ones((1, 4)) + 1j]), r"weights\[1\] must hold real"),
    (lambda: sn.CircularCNN(None), "weights must be a list"),
    (lambda: sn.LinearFC(None), "weights must be a list"),
    (lambda: sn.LinearFC(np.ones((2, 2))), "weights must be a list"),
])
def test_network_weights_are_validated(make, match):
    with pytest.raises(sn.InvalidInputError, match=match):
        make()


@pytest.mark.parametrize("call, match", [
    (lambda: sn.ConvexLinearFC(np.full((3, 2), np.finfo(float).max), np.ones(3), 1.0), "X has entries"),
    (lambda: sn.beta_max(np.full((3, 2), np.finfo(float).max), np.ones(3), family="linear_fc"),
     "X has entries"),
    (lambda: sn.certify(sn.LinearFC([np.ones((2, 1)), np.ones((1, 1))]), np.ones((3, 2)),
                        1e300 * np.ones(3), 1.0), "y has entries"),
    (lambda: sn.ConvexReLU(np.ones((4, 2)), 1e200 * np.ones(4), 1.0), "y has entries"),
])
def test_huge_finite_values_are_refused_clearly(call, match):
    with pytest.raises(sn.InvalidInputError, match=match + r".*up to 1e\+50"):
        call()


def test_large_but_allowed_magnitudes_give_finite_bounds():
    rng = np.random.default_rng(2)
    X, y = 1e45 * rng.standard_normal((8, 3)), 1e45 * rng.standard_normal(8)
    beta = 0.5 * np.linalg.norm(X.T @ y)
    ref, _ = group_lasso_optimum(X, y, beta)
    res = sn.ConvexLinearFC(X, y, beta).solve(backend="clarabel")
    assert res.status == "optimal" and np.isfinite(res.lower_bound) and np.isfinite(res.upper_bound)
    assert res.objective == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda X, y: sn.beta_max(X, y, family=["relu"]), "family must be one of"),
    (lambda X, y: sn.beta_max(X, y, family=None), "family must be one of"),
    (lambda X, y: sn.ConvexLinearCNN(X, y, 1.0, kernel_size=3, pooling=np.array(["sum"])),
     "pooling must be"),
    (lambda X, y: sn.beta_max(X, y, family="linear_cnn", kernel_size=3, pooling=["sum"]),
     "pooling must be"),
    (lambda X, y: sn.ConvexLinearFC(X, y, 1.0).solve(backend="clarabel", canon_backend="bogus"),
     "canon_backend must be one of"),
    (lambda X, y: sn.ConvexLinearFC(X, y, 1.0, hidden=["spectral"]), "hidden must be one of"),
])
def test_unhelpful_raw_messages_are_now_typed_and_named(small, call, match):
    X = np.random.default_rng(0).standard_normal((10, 8))
    with pytest.raises(sn.InvalidInputError, match=match):
        call(X, np.ones(10))


def test_demo_refuses_a_negative_seed(capsys):
    from sdpnets.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["demo", "--seed", "-1"])
    assert exc.value.code == 2
    assert "--seed: must be an integer >= 0, got -1" in capsys.readouterr().err


def test_an_inaccurate_claim_proven_by_the_certificate_is_optimal(small, monkeypatch):
    X, y = small
    real = ClarabelBackend.solve

    def doubtful(self, problem, **kw):
        res = real(self, problem, **kw)
        return sn.SolveResult("optimal_inaccurate", res.objective, "clarabel", message="doubt")

    monkeypatch.setattr(ClarabelBackend, "solve", doubtful)
    res = sn.ConvexLinearFC(X, y, 1.0).solve(backend="clarabel", tol=1e-8)
    assert res.status == "optimal" and res.relative_gap <= 1e-8
    assert "doubt" in res.message and "proves relative gap" in res.message
    loose = sn.ConvexLinearFC(X, y, 1.0).solve(backend="clarabel", tol=1e-15)
    assert loose.status == "optimal_inaccurate" or loose.relative_gap <= 1e-15


# --- status fallbacks on constructed solver states (test gaps named in issue 12) ---------------------


class _Stats:
    def __init__(self, iters, solve_time=0.1):
        self.num_iters, self.solve_time, self.extra_stats = iters, solve_time, None


class _Problem:
    """The parts of a solved cvxpy problem the status mapping reads."""

    def __init__(self, status, iters, solve_time=0.1, cache=None):
        self.status, self.solver_stats = status, _Stats(iters, solve_time)
        self._solver_cache = cache if cache is not None else {}


@pytest.mark.parametrize("cls", [ClarabelBackend, SCSBackend, MosekBackend])
@pytest.mark.parametrize("iters, max_iters, time_limit, expected", [
    (50, 50, 10.0, "iteration_limit"),   # both limits set, the cap hit exactly
    (49, 50, 10.0, "time_limit"),        # both set, the cap not reached: the clock stopped it
    (50, 50, None, "iteration_limit"),
    (7, None, 3.0, "time_limit"),
])
def test_user_limit_resolution_when_the_solver_word_is_unknown(cls, iters, max_iters, time_limit,
                                                                expected):
    problem = _Problem(cp.USER_LIMIT, iters)
    assert cls().map_status(problem, max_iters, time_limit) == expected


def test_clarabel_fallback_without_its_own_word_uses_its_default_cap():
    # Clarabel's status unreadable (no cached solver): 200 iterations is its own default cap
    assert ClarabelBackend().map_status(_Problem(cp.USER_LIMIT, 200), None, 5.0) == "iteration_limit"
    assert ClarabelBackend().map_status(_Problem(cp.USER_LIMIT, 120), None, 5.0) == "time_limit"
    assert ClarabelBackend().solver_status(_Problem(cp.USER_LIMIT, 3)) is None


@pytest.mark.parametrize("word, expected", [
    ("Solved", "optimal"), ("AlmostSolved", "optimal_inaccurate"), ("MaxIterations",
    "iteration_limit"), ("MaxTime", "time_limit"), ("NumericalError", "error"),
    ("PrimalInfeasible", "infeasible"), ("AlmostDualInfeasible", "error"),
])
def test_clarabel_own_word_wins_and_is_in_the_message(word, expected):
    class Solution:
        status = word

    class Solver:
        def get_solution(self):
            return Solution()

    problem = _Problem(cp.OPTIMAL, 4, cache={"CLARABEL": Solver()})
    backend = ClarabelBackend()
    assert backend.map_status(problem, None, None) == expected
    assert backend.raw_status(problem) == word


def test_a_solver_error_after_the_time_limit_is_a_time_limit_with_its_wall_time(small, monkeypatch):
    prog = sn.ConvexLinearFC(*small, 1.0)
    problem = prog.problem

    def slow_failure(*args, **kwargs):
        time.sleep(0.05)
        raise cp.error.SolverError("Solver 'CLARABEL' failed.")

    monkeypatch.setattr(problem, "solve", slow_failure)
    res = prog.solve(backend="clarabel", time_limit=0.01)
    assert res.status == "time_limit"
    assert 0.05 <= res.solve_time < 5.0  # the wall time of this solve, not a stale huge one
    res = prog.solve(backend="clarabel", time_limit=60.0)
    assert res.status == "error" and "Solver 'CLARABEL' failed." in res.message


def test_option_translation_in_full():
    assert ClarabelBackend().solver_options(1e-7, 50, 2.5) == {
        "tol_gap_abs": 1e-7, "tol_gap_rel": 1e-7, "tol_feas": 1e-7, "tol_ktratio": 1e-7,
        "max_iter": 50, "time_limit": 2.5}
    assert ClarabelBackend().solver_options(1e-12, None, None) == {
        "tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10}
    assert MosekBackend().solver_options(1e-7, 50, 2.5) == {"accept_unknown": True, "mosek_params": {
        "MSK_DPAR_INTPNT_CO_TOL_REL_GAP": 1e-7, "MSK_DPAR_INTPNT_CO_TOL_PFEAS": 1e-7,
        "MSK_DPAR_INTPNT_CO_TOL_DFEAS": 1e-7, "MSK_IPAR_INTPNT_MAX_ITERATIONS": 50,
        "MSK_DPAR_OPTIMIZER_MAX_TIME": 2.5}}


def test_limit_messages_carry_the_solvers_own_word(small):
    res = sn.ConvexLinearFC(*small, 1.0).solve(backend="clarabel", max_iters=1)
    assert res.status == "iteration_limit" and "'MaxIterations'" in res.message
    res = sn.ConvexLinearFC(*small, 1.0).solve(backend="scs", max_iters=2)
    assert res.status == "iteration_limit" and "reached max_iters" in res.message


# --- zero solutions, prog.loss, pattern messages on degenerate data ---------------------------------


def test_zero_targets_give_exactly_zero_circular_weights():
    X = np.random.default_rng(0).standard_normal((8, 6))
    for depth, hidden in ((2, "weight_decay"), (3, "unit_norm")):
        prog = sn.ConvexCircularCNN(X, np.zeros(8), 0.5, depth=depth, hidden=hidden)
        res = prog.solve(backend="clarabel")
        assert res.status == "optimal" and res.objective == pytest.approx(0.0, abs=1e-12)
        net = prog.network()
        for W in net.weights:
            assert np.all(np.isfinite(W)) and np.all(W == 0)
        assert net.objective(X, np.zeros(8), 0.5) == 0.0


def test_pruning_a_relu_cnn_whose_optimum_is_zero():
    X = np.random.default_rng(1).standard_normal((6, 5))
    prog = sn.ConvexReLUCNN(X, np.zeros(6), 0.5, kernel_size=3, patterns=20, seed=0)
    res = prog.solve(backend="clarabel")
    # the solver's objective is zero to its (absolute) tolerance; the network's is exactly 0
    assert res.status == "optimal" and res.objective == pytest.approx(0.0, abs=1e-8)
    net = prog.network(prune=True)
    assert np.all(np.asarray(net.predict(X)) == 0)
    assert net.objective(X, np.zeros(6), 0.5) == 0.0


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_prog_loss_is_the_loss_that_was_asked_for(loss):
    X = np.random.default_rng(2).standard_normal((6, 2))
    y = np.sign(X[:, 0]) + (loss == "squared") * 0.5
    prog = sn.ConvexReLU(X, y, 0.5, patterns=10, loss=loss)
    assert prog.loss.name == loss
    assert prog.loss.value(np.zeros(6), y) == pytest.approx(
        {"squared": 0.5 * y @ y, "logistic": 6 * np.log(2.0), "hinge": 6.0}[loss])


def test_pattern_messages_on_degenerate_data():
    X = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 0.0], [0.0, 1.0]])  # parallel pair, zero row
    ps = sn.enumerate_patterns(X)
    assert ps.cells_found == 4 and not ps.general_position
    assert "rows not in general position: 4 cells < 2 sum_(k<2) C(3, k) = 8" in ps.message
    assert "1 repeated/parallel and 1 zero rows merged, leaving 2 distinct hyperplanes" in ps.message
    zero = sn.enumerate_patterns(np.zeros((3, 2)))
    assert zero.count == 1 and zero.masks.all()  # 0 >= 0: the only pattern is all-active
