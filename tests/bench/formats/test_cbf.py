"""CBF specifics: the layout of the file and what the reader refuses."""

from __future__ import annotations

import cvxpy as cp
import pytest

from sdpnets import InvalidInputError
from sdpnets.bench.formats import conic_form, read_cbf, write_cbf
from tests._reference import conic_references


def _sections(path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    key = None
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            key = None
        elif key is None:
            key = line
            out[key] = []
        else:
            out[key].append(line)
    return out


def test_cones_and_the_psd_constraint_are_declared_as_cbf_wants(tmp_path):
    problems = {name: problem for name, problem, _ in conic_references()}
    write_cbf(conic_form(problems["psd"]), tmp_path / "psd.cbf")
    sec = _sections(tmp_path / "psd.cbf")
    assert sec["VER"] == ["3"] and sec["OBJSENSE"] == ["MIN"]
    assert sec["PSDCON"] == ["1", "4"]
    # HCOORD/DCOORD give the lower triangle: row index >= column index
    assert all(int(r.split()[2]) >= int(r.split()[3]) for r in sec["HCOORD"][1:])
    assert "OBJBCOORD" not in sec  # the constant goes to the manifest
    write_cbf(conic_form(problems["exp"]), tmp_path / "exp.cbf")
    assert "EXP 3" in _sections(tmp_path / "exp.cbf")["CON"]


def test_keywords_and_cones_the_reader_does_not_take_are_named(tmp_path):
    path = tmp_path / "p.cbf"
    path.write_text("VER\n3\n\nPSDVAR\n1\n2\n")
    with pytest.raises(InvalidInputError, match="PSDVAR"):
        read_cbf(path)
    path.write_text("VER\n3\n\nVAR\n2 1\nF 2\n\nCON\n1 1\n@0:POW 1\n")
    with pytest.raises(InvalidInputError, match="POW"):
        read_cbf(path)
    path.write_text("VER\n3\n\nVAR\n2 1\nF 2\n\nCON\n1 1\nL+\n")
    with pytest.raises(InvalidInputError, match="not a CBF file"):
        read_cbf(path)


def test_a_maximization_and_a_constant_are_read(tmp_path):
    # max 3 - x s.t. x - 1 in L+  ->  2
    path = tmp_path / "p.cbf"
    path.write_text("VER\n3\n\nOBJSENSE\nMAX\n\nVAR\n1 1\nF 1\n\nCON\n1 1\nL+ 1\n\n"
                    "OBJACOORD\n1\n0 -1.0\n\nOBJBCOORD\n3.0\n\nACOORD\n1\n0 0 1.0\n\n"
                    "BCOORD\n1\n0 -1.0\n")
    problem = read_cbf(path)
    assert isinstance(problem.objective, cp.Maximize)
    assert problem.solve(solver="CLARABEL") == pytest.approx(2.0, abs=1e-7)
