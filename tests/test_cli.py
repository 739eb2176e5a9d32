"""The `sdpnets` command: the demo solves for real and its numbers are consistent."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.cli import demo_data, main, run_demo


@pytest.fixture(scope="module")
def demo_run() -> tuple[str, dict]:
    out = io.StringIO()
    report = run_demo(seed=0, out=out)
    return out.getvalue(), report


def test_demo_solves_the_real_size_problem_on_the_first_order_backend(demo_run):
    text, report = demo_run
    (large,) = report["large"]
    assert large["backend"] == "firstorder" and large["status"] == "optimal"
    # certified to the requested relative gap, and the bracket is printed
    assert large["lower"] <= large["upper"]
    assert (large["upper"] - large["lower"]) <= 1e-8 * large["upper"]
    assert f"{large['lower']:.10g}" in text and "relative gap" in text
    assert large["rank"] == 5  # the planted rank


def test_demo_solves_on_every_available_backend(demo_run):
    _, report = demo_run
    solved = [r for r in report["small"] if r["status"] == "optimal"]
    assert {r["backend"] for r in solved} == set(sn.available_backends()) | {"firstorder"}
    # every backend and both depths reach the same optimum (the same nuclear-norm program);
    # every certified lower bound is below every recovered network's objective (a solver's
    # own objective may sit slightly below the optimum at a slightly infeasible point)
    objectives = np.array([r["objective"] for r in solved])
    assert np.ptp(objectives) <= 1e-6 * objectives.max()
    uppers = np.array([r["upper"] for r in solved])
    assert max(r["lower"] for r in solved) <= uppers.min()


def test_demo_reports_unlicensed_mosek_honestly(demo_run):
    text, report = demo_run
    if "mosek" in sn.available_backends():
        pytest.skip("a MOSEK licence is present")
    mosek_rows = [r for r in report["small"] if r["backend"] == "mosek"]
    assert mosek_rows and all(r["status"] == "unavailable" for r in mosek_rows)
    assert "unavailable (no licence)" in text


def test_demo_rank_is_the_rank_of_the_optimum(demo_run):
    _, report = demo_run
    X, Y = demo_data(0)
    beta = 0.15 * sn.beta_max(X, Y, family="linear_fc")
    prog = sn.ConvexLinearFC(X, Y, beta)
    prog.solve(backend="clarabel")
    expected = prog.network().weights[0].shape[1]
    ranks = {r["rank"] for r in report["small"] if r["status"] == "optimal"}
    assert ranks == {expected}


def test_gradient_descent_never_beats_the_certificate(demo_run):
    _, report = demo_run
    runs = report["descent"]
    assert len(runs) == 10
    assert all(r["objective"] >= r["lower"] for r in runs)


def test_backends_command_lists_every_backend(capsys):
    assert main(["backends"]) == 0
    text = capsys.readouterr().out
    for name in ("clarabel", "scs", "mosek"):
        assert name in text


def test_module_entry_point_reports_version():
    out = subprocess.run([sys.executable, "-m", "sdpnets", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == f"sdpnets {sn.__version__}"


def test_demo_relu_section_shows_the_optimum_never_losing(demo_run):
    """Section 4a: every pattern, so the certificate over every network is exact and closes
    on the convex optimum, and every L-BFGS run ends at or above it; 4b: the program over
    the trained network's patterns is certified to 1e-6 there and no worse than the network."""
    text, report = demo_run
    exact, *runs = report["relu"]["exact"]
    assert exact["status"] == "optimal" and "exact" in exact["of"]
    assert exact["lower"] <= exact["objective"] <= exact["lower"] * (1 + 1e-6) + 1e-9
    assert len(runs) == 5 and all(r["objective"] >= exact["lower"] - 1e-9 for r in runs)
    trained, improved = report["relu"]["trained"]
    assert improved["status"] == "optimal"
    assert improved["lower"] <= improved["objective"] <= improved["lower"] * (1 + 1e-6)
    assert improved["objective"] <= trained["objective"] * (1 + 1e-9)
    assert "4a. A two-layer ReLU network" in text and f"{exact['lower']:.10g}" in text
