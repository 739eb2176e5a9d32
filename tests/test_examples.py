"""The teaching example runs end to end and its claims hold on the real digits data."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rel(a, b):
    return abs(a - b) / max(1.0, abs(a), abs(b))


def test_digits_cnn_example(capsys):
    pytest.importorskip("sklearn")
    out = load("digits_cnn").main(sgd_runs=3, save=False)
    printed = capsys.readouterr().out
    assert "convex optimum" in printed
    # the central promise, on real data
    assert rel(out["linear_objective"], out["linear_network_objective"]) < 1e-6
    assert rel(out["circular_optimum"], out["circular_network_objective"]) < 1e-6
    assert out["lower_bound"] <= out["circular_optimum"] + 1e-7
    # no SGD run beats the global optimum
    assert all(v >= out["circular_optimum"] * (1 - 1e-8) for v in out["sgd_objectives"])
    # a larger beta gives a sparser spectrum
    groups = out["active_groups"]
    assert all(a >= b for a, b in zip(groups, groups[1:])) and groups[0] > groups[-1]
    assert out["n_filters"] >= 1


def test_digits_cnn_figures(tmp_path):
    """The figure code (only run when matplotlib is installed) writes its three files."""
    pytest.importorskip("matplotlib")
    import numpy as np

    import sdpnets as sn

    module = load("digits_cnn")
    net = sn.LinearCNN(np.ones((2, 1, 3, 3)), np.ones((2, 6, 6, 1)))
    rows = [dict(beta=b, active_groups=3, spectrum=np.ones((8, 8))) for b in (1.0, 2.0)]
    saved = module.save_figures(net, rows, [1.2, 1.1], 1.0, tmp_path)
    assert len(saved) == 3 and all(p.exists() and p.stat().st_size > 0 for p in saved)
