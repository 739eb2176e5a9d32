"""The conic sizes counted on a cvxpy expression tree against cvxpy's own compilation
(issue 26), atom by atom, on small problems of random shapes.

``program_sizes`` promises the sizes of what cvxpy hands a conic solver without compiling:
the PSD sides, the exponential cones and the second-order cones' total dimension exactly,
the nonzeros of ``A`` (and ``P``) and the side of the KKT system approximately (the walk does
not simplify as cvxpy does). Each problem here isolates one kind of expression the
formulations use (constant times expression on either side, dense or sparse, vector or
matrix, indexing, promotion, norms, quadratic terms in the objective and in constraints,
absolute values, the logistic, the positive part, PSD variables and constraints) and is
compiled by cvxpy for Clarabel, as the reference.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdpnets.backends.sizes import program_sizes

PROPERTY = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _problems(rng, m, n, k):
    """name: a small problem whose conic form is dominated by one kind of expression."""
    A = rng.standard_normal((m, n))
    S = sp.random(m, n, density=0.3, random_state=int(rng.integers(1 << 30)), format="csr")
    S = S + sp.eye(m, n, format="csr")
    c = rng.standard_normal(n)
    x, X = cp.Variable(n), cp.Variable((n, k))
    mask = (rng.random((m, k)) < 0.5).astype(float)
    smask = sp.csr_matrix(mask)
    Pv = cp.Variable((n, n), PSD=True)
    return {
        "dense matrix times variable": cp.Problem(cp.Minimize(cp.sum_squares(A @ x - 1))),
        "sparse matrix times variable": cp.Problem(cp.Minimize(cp.sum_squares(S @ x))),
        "variable times matrix": cp.Problem(cp.Minimize(cp.sum_squares(X.T @ A.T - 1))),
        "variable times sparse matrix": cp.Problem(cp.Minimize(cp.sum_squares(X.T @ S.T - 1))),
        "row sums": cp.Problem(cp.Minimize(cp.sum_squares(cp.sum(A @ X, axis=1) - 1))),
        "vector times matrix variable": cp.Problem(cp.Minimize(cp.sum_squares(c @ X - 1))),
        "scalar times expression": cp.Problem(cp.Minimize(cp.sum_squares(3.0 * (A @ x) - 1))),
        "dense elementwise mask": cp.Problem(cp.Minimize(
            cp.sum_squares(cp.multiply(mask, A @ X) - 1))),
        "sparse elementwise mask": cp.Problem(cp.Minimize(
            cp.sum_squares(cp.multiply(smask, A @ X) - 1))),
        "norms of columns": cp.Problem(cp.Minimize(
            cp.sum_squares(A @ X - 1) + cp.sum(cp.norm(X, 2, axis=0)))),
        "norm of a vector": cp.Problem(cp.Minimize(cp.norm(A @ x - 1, 2))),
        "indexing and promotion": cp.Problem(cp.Minimize(
            cp.sum_squares(A[:, :2] @ x[:2] + x[0] - 1))),
        "quadratic constraint": cp.Problem(cp.Minimize(cp.sum(x)),
                                           [cp.sum_squares(A @ x) <= 1]),
        "absolute values": cp.Problem(cp.Minimize(cp.sum(cp.abs(A @ x - 1)))),
        "positive part (hinge)": cp.Problem(cp.Minimize(cp.sum(cp.pos(1 - A @ x)))),
        "maximum": cp.Problem(cp.Minimize(cp.sum(cp.maximum(A @ x, 1 - A @ x)))),
        "logistic": cp.Problem(cp.Minimize(cp.sum(cp.logistic(A @ x)) + cp.sum_squares(x))),
        "PSD variable": cp.Problem(cp.Minimize(cp.trace(Pv) + cp.sum_squares(A @ Pv[:, 0] - 1))),
        "PSD constraint": cp.Problem(cp.Minimize(cp.sum_squares(A @ x - 1)),
                                     [cp.bmat([[np.eye(1), cp.reshape(x[:1], (1, 1), order="F")],
                                               [cp.reshape(x[:1], (1, 1), order="F"),
                                                np.eye(1)]]) >> 0]),
        "inequalities and equalities": cp.Problem(cp.Minimize(cp.sum_squares(x)),
                                                  [A @ x >= 1, cp.sum(x) == 2]),
        "nonnegative variable": cp.Problem(cp.Minimize(
            cp.sum_squares(A @ cp.Variable(n, nonneg=True) - 1))),
        "second-order cone constraint": cp.Problem(
            cp.Minimize(cp.sum(x)), [cp.SOC(cp.Variable(), A @ x - 1), x >= -1]),
    }


NAMES = list(_problems(np.random.default_rng(0), 4, 3, 2))

#: Where the walk counts exactly what cvxpy compiles (the expressions the formulations are
#: made of); elsewhere it may count more (an epigraph's extra rows, a constant's zeros), never
#: fewer: the sizes feed a memory guard, where an over-estimate is the safe side.
EXACT = {"dense matrix times variable", "sparse matrix times variable", "variable times matrix",
         "variable times sparse matrix", "row sums", "scalar times expression",
         "dense elementwise mask", "sparse elementwise mask", "norm of a vector",
         "PSD variable", "nonnegative variable", "second-order cone constraint"}


@pytest.mark.parametrize("name", NAMES)
@PROPERTY
@given(seed=st.integers(0, 2**16), m=st.integers(3, 12), n=st.integers(2, 8),
       k=st.integers(1, 4))
def test_sizes_agree_with_cvxpys_compilation(name, seed, m, n, k):
    problem = _problems(np.random.default_rng(seed), m, n, k)[name]
    sizes = program_sizes(problem, quadratic_objective=True)
    data, _, _ = problem.get_problem_data(cp.CLARABEL)
    A, dims = data["A"], data["dims"]
    assert list(sizes.psd) == list(dims.psd)
    assert sizes.n_exp == dims.exp
    assert sum(sizes.soc) == sum(dims.soc)
    P = data.get("P")
    assert sizes.nnz_P == (0 if P is None else P.nnz)
    got = (sizes.nnz_A, sizes.n_rows, sizes.kkt_dim)
    compiled = (A.nnz, A.shape[0], A.shape[0] + A.shape[1])
    if name in EXACT:
        assert got == compiled
    else:
        for mine, theirs in zip(got, compiled):
            assert 0.95 * theirs <= mine <= 4 * theirs + 8, (got, compiled)


def test_without_a_quadratic_objective_a_sum_of_squares_is_a_cone():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((6, 3))
    x = cp.Variable(3)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(A @ x - 1)))
    with_p = program_sizes(problem, quadratic_objective=True)
    cone = program_sizes(problem, quadratic_objective=False)
    assert with_p.nnz_P == 6 and not with_p.soc
    assert cone.nnz_P == 0 and cone.soc == (6 + 2,)
    assert cone.n_vars == 3 + 1  # x and the epigraph variable


def test_the_derived_sizes():
    from sdpnets.backends.sizes import ProgramSizes

    s = ProgramSizes(n_vars=10, n_zero=2, n_nonneg=3, soc=(4, 5), psd=(3, 2), n_exp=2,
                     nnz_A=7, nnz_P=1)
    assert s.psd_rows == (6, 3)
    assert s.n_rows == 2 + 3 + 9 + 9 + 6
    assert s.dense_psd == 36 + 9
    assert s.kkt_dim == 10 + s.n_rows
    assert ProgramSizes().n_rows == 0 and ProgramSizes().kkt_dim == 0


def test_the_default_sizes_are_those_counted_for_an_empty_program():
    """``ProgramSizes()`` is the program with nothing in it: the same sizes the walk counts
    for a problem without variables or constraints."""
    from sdpnets.backends.sizes import ProgramSizes

    assert ProgramSizes() == program_sizes(cp.Problem(cp.Minimize(cp.Constant(0.0))))
