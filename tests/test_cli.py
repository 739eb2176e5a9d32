"""The `sdpnets` command: the demo solves for real and its numbers are consistent."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.cli import demo_data, main, run_demo


@pytest.fixture(scope="module")
def demo_output() -> str:
    out = io.StringIO()
    run_demo(seed=0, out=out)
    return out.getvalue()


def _rows(text: str, first: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.startswith(first)]


def test_demo_solves_on_every_available_backend(demo_output):
    rows = _rows(demo_output, "2-layer") + _rows(demo_output, "3-layer")
    solved = [r for r in rows if r[2] == "optimal" and len(r) == 8]
    assert {r[1] for r in solved} == set(sn.available_backends())
    # every backend and both depths reach the same optimum (MATH.md 1a = 1c)
    objectives = np.array([float(r[3]) for r in solved])
    assert np.ptp(objectives) <= 1e-6 * objectives.max()
    assert all(float(r[4]) >= 0 for r in solved)  # certified gaps


def test_demo_reports_unlicensed_mosek_honestly(demo_output):
    if "mosek" in sn.available_backends():
        pytest.skip("a MOSEK licence is present")
    mosek_rows = [r for r in _rows(demo_output, "2-layer") if r[1] == "mosek"]
    assert mosek_rows and mosek_rows[0][2].startswith("unavailable")


def test_demo_rank_is_the_planted_rank_of_the_optimum(demo_output):
    X, Y = demo_data(0)
    beta = 0.15 * sn.beta_max(X, Y, family="linear_fc")
    Z = sn.ConvexLinearFC(X, Y, beta)
    Z.solve()
    expected = Z.network().weights[0].shape[1]
    ranks = {int(r[7]) for r in _rows(demo_output, "2-layer") if len(r) == 8 and r[2] == "optimal"}
    assert ranks == {expected}


def test_gradient_descent_never_beats_the_certificate(demo_output):
    section = demo_output.split("Gradient descent")[1]
    rows = _rows(section, "2-layer") + _rows(section, "3-layer")
    assert len(rows) == 10
    assert all(float(r[3]) >= 0 for r in rows)


def test_backends_command_lists_every_backend(capsys):
    assert main(["backends"]) == 0
    text = capsys.readouterr().out
    for name in ("clarabel", "scs", "mosek"):
        assert name in text


def test_module_entry_point_reports_version():
    out = subprocess.run([sys.executable, "-m", "sdpnets", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == f"sdpnets {sn.__version__}"
