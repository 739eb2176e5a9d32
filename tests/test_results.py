"""SolveResult and Certificate records; the public namespace and error hierarchy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.results import SOLVED_STATUSES, STATUSES


def test_solve_result_is_frozen_and_knows_if_solved():
    res = sn.SolveResult(status="optimal", objective=1.0, backend="clarabel")
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.status = "error"
    assert res.solved
    assert np.isnan(res.solve_time) and np.isnan(res.compile_time)
    for status in STATUSES:
        assert sn.SolveResult(status, 0.0, "x").solved == (status in SOLVED_STATUSES)
    assert SOLVED_STATUSES == {"optimal", "optimal_inaccurate"}


def test_certificate_is_frozen_with_relative_gap():
    c = sn.Certificate(lower_bound=99.0, upper_bound=100.0, gap=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.gap = 0.0
    assert c.relative_gap == pytest.approx(0.01)
    small = sn.Certificate(lower_bound=0.1, upper_bound=0.3, gap=0.2)
    assert small.relative_gap == pytest.approx(0.2 / 0.3)  # relative to the objective itself
    assert sn.Certificate(0.0, 0.0, 0.0).relative_gap == 0.0
    assert sn.Certificate(-1e-20, 0.0, 1e-20).relative_gap == np.inf
    assert sn.Certificate(np.nan, 1.0, np.nan).relative_gap == np.inf


def test_solve_records_result_on_the_program():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((10, 3)), rng.standard_normal((10, 2))
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    assert prog.result is None
    res = prog.solve(backend="clarabel")
    assert prog.result is res
    assert res.status in STATUSES and res.message == "" and res.exact


def test_error_hierarchy():
    for exc in (sn.InvalidInputError, sn.UnknownBackendError, sn.NonConvexFormulationError,
                sn.ProblemTooLargeError):
        assert issubclass(exc, sn.SdpnetsError) and issubclass(exc, ValueError)
    for exc in (sn.BackendNotAvailableError, sn.NotSolvedError, sn.SolveFailedError):
        assert issubclass(exc, sn.SdpnetsError) and not issubclass(exc, ValueError)
    assert issubclass(sn.SdpnetsWarning, UserWarning)


def test_public_names_exist():
    for name in sn.__all__:
        assert hasattr(sn, name), name
    for name in ("ConvexLinearFC", "available_backends", "certify", "beta_max", "LinearFC"):
        assert name in sn.__all__
