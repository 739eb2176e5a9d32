"""Every program written to CBF and SDPA reads back to the same optimum."""

from __future__ import annotations

import pytest

from sdpnets.bench.formats import conic_form, read_cbf, read_sdpa, write_cbf, write_sdpa
from sdpnets.bench.instances import FAMILIES, Instance, build_program
from tests._reference import conic_references

TIGHT = {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9}
FORMATS = {"cbf": (write_cbf, read_cbf, "cbf"), "sdpa": (write_sdpa, read_sdpa, "dat-s")}


def file_optimum(form, fmt: str, tmp_path) -> float:
    """The optimal value of the file ``form`` is written to, plus the objective's constant
    the file leaves out (so it compares with the original problem's value)."""
    write, read, suffix = FORMATS[fmt]
    path = tmp_path / f"p.{suffix}"
    info = write(form, path)
    problem = read(path)
    value = problem.solve(solver="CLARABEL", **TIGHT)
    assert problem.status == "optimal"
    return value + info["offset"]


@pytest.mark.parametrize("fmt, problem, optimum", [
    (fmt, problem, optimum) for fmt in FORMATS for name, problem, optimum in conic_references()
    if not (fmt == "sdpa" and name == "exp")  # no SDPA form: test_sdpa.py checks the refusal
])
def test_closed_form_optima_survive_the_file(fmt, problem, optimum, tmp_path):
    # PSD: the sqrt(2) scaling and the triangle order; SOC: CBF's Q, SDPA's arrow block
    assert file_optimum(conic_form(problem), fmt, tmp_path) == pytest.approx(optimum, abs=1e-7)


@pytest.mark.parametrize("family", [f for f in FAMILIES if not FAMILIES[f].native])
def test_every_family_round_trips_through_both_formats(family, tmp_path):
    program = build_program(Instance(family, "tiny"))
    reference = program.problem.solve(solver="CLARABEL", **TIGHT)
    form = conic_form(program.problem)
    for fmt in FORMATS:
        tol = 1e-6 * max(1.0, abs(reference))
        assert file_optimum(form, fmt, tmp_path) == pytest.approx(reference, abs=tol), fmt
