"""benchmarks/relu_firstorder.py judges scnn's weights in our objective: the mapping from
program blocks to a network, and the cone violation, checked on our own solutions (scnn
itself is not needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import sdpnets as sn

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "relu_firstorder.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("relu_firstorder_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cls", [sn.ConvexReLU, sn.ConvexGatedReLU])
@pytest.mark.parametrize("bias", [False, True])
def test_blocks_of_our_optimum_give_its_objective(bench, cls, bias):
    X, y = bench.planted(60, 4, 1, seed=3)
    prog = cls(X, y, 2.0, patterns=12, seed=0, bias=bias)
    res = prog.solve(backend="firstorder", tol=1e-7)
    assert res.status == "optimal"
    V, W = (b[:, :, 0] for b in prog.blocks())
    W = None if cls is sn.ConvexGatedReLU else W
    acc = bench.scnn_accuracy(prog, V, W, res.lower_bound)
    assert acc["obj_program"] == pytest.approx(res.objective, rel=1e-9)
    # feasible blocks: the network predicts with the program's masks, same objective
    assert acc["obj_network"] == pytest.approx(res.objective, rel=1e-7)
    assert acc["cone_violation"] <= 1e-8
    assert 0 <= acc["rel_to_lower"] <= 1e-7
    net = bench.scnn_blocks_network(prog, V, W)
    assert net.width == int((np.linalg.norm(np.hstack([V] if W is None else [V, W]),
                                            axis=0) > 0).sum())


def test_a_block_outside_its_cone_is_reported(bench):
    X, y = bench.planted(60, 4, 1, seed=3)
    prog = sn.ConvexReLU(X, y, 2.0, patterns=12, seed=0)
    prog.solve(backend="firstorder", tol=1e-9)
    V, W = (b[:, :, 0].copy() for b in prog.blocks())
    i = int(np.argmax(np.linalg.norm(V, axis=0)))
    W[:, i] = -V[:, i]  # (2D - I)Xv >= 0 and (2D - I)X(-v) >= 0 hold together only for Xv = 0
    acc = bench.scnn_accuracy(prog, V, W, None)
    assert acc["cone_violation"] > 0.1
    assert "rel_to_lower" not in acc
    # the network pays for it: its neurons fire on their own patterns, not the masks
    assert acc["obj_network"] != pytest.approx(acc["obj_program"], rel=1e-6)


def test_zero_blocks_are_the_zero_network(bench):
    X, y = bench.planted(60, 4, 1, seed=3)
    prog = sn.ConvexReLU(X, y, 2.0, patterns=12, seed=0)
    V = np.zeros((4, prog.patterns.count))
    net = bench.scnn_blocks_network(prog, V, V)
    assert net.objective(X, y, 2.0) == pytest.approx(0.5 * float(np.sum(y**2)))
