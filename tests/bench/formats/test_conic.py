"""The conic standard form the writers start from."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

from sdpnets import InvalidInputError
from sdpnets.bench.formats import ConicForm, conic_form, read_cbf, write_cbf
from sdpnets.bench.formats.conic import cone_rows, quadratic_epigraph


def _cones(dims) -> list[tuple[str, int]]:
    return ([("zero", dims.zero)] * bool(dims.zero) + [("nonneg", dims.nonneg)] * bool(
        dims.nonneg) + [("soc", k) for k in dims.soc])


@pytest.mark.parametrize("diagonal", [True, False])
def test_a_quadratic_objective_becomes_a_second_order_cone(diagonal, tmp_path):
    # cvxpy's data with the quadratic kept as P; made linear, the optimum is the problem's
    rng = np.random.default_rng(0)
    Q = np.diag(rng.uniform(1, 2, 5)) if diagonal else rng.standard_normal((5, 5))
    z = cp.Variable(5)
    problem = cp.Problem(cp.Minimize(cp.quad_form(z, Q @ Q.T + np.eye(5)) + z.sum()),
                         [cp.norm(z) <= 2, z[0] >= -0.1])
    reference = problem.solve(solver="CLARABEL")
    data, _, inverse = problem.get_problem_data(cp.SCS)
    assert data["P"].nnz > 0
    base = ConicForm(data["c"], sp.csr_matrix(data["A"]), data["b"], _cones(data["dims"]),
                     inverse[-1]["offset"])
    form = quadratic_epigraph(base, data["P"])
    assert form.n == base.n + 1 and form.cones[-1][0] == "soc" and form.notes
    write_cbf(form, tmp_path / "q.cbf")
    value = read_cbf(tmp_path / "q.cbf").solve(solver="CLARABEL") + form.offset
    assert value == pytest.approx(reference, abs=1e-6)
    with pytest.raises(InvalidInputError, match="not convex"):
        quadratic_epigraph(base, -data["P"])


def test_the_form_counts_its_cones():
    X = cp.Variable((3, 3), symmetric=True)
    x = cp.Variable(4)
    problem = cp.Problem(cp.Minimize(cp.trace(X) + cp.norm(x) + cp.sum(cp.exp(x[:2]))),
                         [X >> 0, x >= -1, cp.sum(x) == 1, X[0, 1] == x[0]])
    form = conic_form(problem)
    assert sum(cone_rows(k, d) for k, d in form.cones) == form.m == form.b.size
    summary = form.summary()
    assert summary["psd"] == [3] and summary["exp"] == 2 and summary["zero"] == 2
    assert summary["variables"] == form.n and summary["nonneg"] == 4
    with pytest.raises(ValueError, match="inconsistent"):
        ConicForm(form.c, form.A, form.b[:-1], form.cones)
