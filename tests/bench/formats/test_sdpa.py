"""SDPA specifics: equalities, the refusal of exponential cones, a malformed file."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

from sdpnets import InvalidInputError
from sdpnets.bench.formats import ConicForm, conic_form, read_sdpa, sdpa_refusal, write_sdpa


def test_equalities_with_a_variable_of_their_own_are_eliminated(tmp_path):
    # x2 = x0 + x1 (x2 in no other equality) is solved for x2; min x2 s.t. x >= 1 -> 2.
    x = cp.Variable(3)
    problem = cp.Problem(cp.Minimize(x[2] + 0.5), [x[2] == x[0] + x[1], x[:2] >= 1])
    form = conic_form(problem)
    info = write_sdpa(form, tmp_path / "p.dat-s")
    assert info["equality_pairs"] == 0 and info["variables"] < form.n
    assert read_sdpa(tmp_path / "p.dat-s").solve(solver="CLARABEL") + info["offset"] == \
        pytest.approx(2.5, abs=1e-7)


def test_an_equality_without_a_variable_of_its_own_is_two_rows(tmp_path):
    # x0 + x1 = 1 and x0 - x1 = 0 share both variables. min x0 + 2 x1 -> 1.5.
    A = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, -1.0]]))
    form = ConicForm(np.array([1.0, 2.0]), A, np.array([1.0, 0.0]), [("zero", 2)])
    info = write_sdpa(form, tmp_path / "p.dat-s")
    assert info["equality_pairs"] == 2 and info["blocks"] == [-4]
    value = read_sdpa(tmp_path / "p.dat-s").solve(solver="CLARABEL")
    assert value + info["offset"] == pytest.approx(1.5, abs=1e-7)


def test_a_second_order_cone_is_one_arrow_block(tmp_path):
    x = cp.Variable(4)
    form = conic_form(cp.Problem(cp.Minimize(cp.norm(x - 1)), [x >= 0]))
    info = write_sdpa(form, tmp_path / "p.dat-s")
    assert sorted(info["blocks"]) == [-4, 5]  # the LP block, the arrow of (t, u) in R^5


def test_exponential_cones_are_refused_by_name(tmp_path):
    y = cp.Variable(2)
    form = conic_form(cp.Problem(cp.Minimize(cp.sum(cp.exp(y)) - cp.sum(y))))
    assert "exponential" in sdpa_refusal(form)
    with pytest.raises(InvalidInputError, match="exponential"):
        write_sdpa(form, tmp_path / "p.dat-s")
    assert not (tmp_path / "p.dat-s").exists()


def test_a_malformed_file_is_refused(tmp_path):
    path = tmp_path / "p.dat-s"
    path.write_text("2\n1\nnot-a-number\n")
    with pytest.raises(InvalidInputError, match="SDPA"):
        read_sdpa(path)
