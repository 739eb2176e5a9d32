"""Safe screening from a start (a path's previous solution): it never removes a pattern
that is active at the optimum (checked against the unscreened solve and Clarabel), the
screened solve reaches the same optimum with a certificate over every block, and the
warm-started path screens. Also the progress bar of ``verbose=True``."""

from functools import partial

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.backends.firstorder.relu.methods import safe_screen, solve_relu
from sdpnets.backends.firstorder.relu.program import ReLUProgram
from sdpnets.losses import get_loss
from sdpnets.solving.progress import gap_progress
from tests.conftest import relu_teacher_data

data = partial(relu_teacher_data, n=60, d=4)


def top(X, y, masks, loss):
    g = y / 2 if loss == "logistic" else y
    return float(np.linalg.norm(X.T @ (masks * g[:, None]), axis=0).max())


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_screening_keeps_every_active_pattern(loss):
    """From a converged start the GAP sphere is tiny: every pattern whose dual norm stays
    below beta goes, and none that Clarabel's optimum uses."""
    X, y = data(labels=loss != "squared", seed=11)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=30, seed=4, loss=loss)
    M = prog.patterns.masks
    beta = 0.5 * top(X, y, M, loss)
    prog.beta = beta
    res = prog.solve(backend="firstorder", tol=1e-8, screen=False)
    V, W = prog._fo_blocks
    start = np.hstack([V[:, :, 0], W[:, :, 0]])
    program = ReLUProgram(X, M, y, get_loss(loss), beta)
    beta_p, theta, gaps = prog._fo_previous
    previous = (beta_p, theta[:, 0], gaps[0])
    drop = safe_screen(program, start, previous)
    assert drop.any()
    ref = sn.ConvexReLU(X, y, beta, patterns=M, loss=loss)
    ref.solve(backend="clarabel", tol=1e-10)
    Vr, Wr = ref.blocks()
    norms = np.linalg.norm(Vr[:, :, 0], axis=0) + np.linalg.norm(Wr[:, :, 0], axis=0)
    assert np.all(norms[drop] <= 1e-6 * norms.max())  # no screened pattern is active
    screened = solve_relu(program, start=start, tol=1e-7, previous=previous)
    assert screened.statistics["screened"] == int(drop.sum())
    assert screened.status == "optimal"
    assert screened.objective == pytest.approx(res.objective, rel=1e-6)
    # the certificate holds over every block: never above the optimum
    assert screened.lower_bound <= ref.result.objective * (1 + 1e-8)
    assert np.all(screened.blocks[:, np.concatenate([drop, drop])] == 0)


def test_sequential_screening_is_safe_along_a_path():
    """The sphere from the previous beta's dual point: patterns it removes at the next beta
    are zero in Clarabel's optimum there."""
    X, y = data(seed=14)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=30, seed=7)
    M = prog.patterns.masks
    bmax = top(X, y, M, "squared")
    betas = np.geomspace(bmax, 0.1 * bmax, 8)
    prog.beta = betas[0]
    prog.solve(backend="firstorder", tol=1e-8, screen=False)
    dropped = 0
    for b in betas[1:]:
        V, W = prog._fo_blocks
        start = np.hstack([V[:, :, 0], W[:, :, 0]])
        beta_p, theta, gaps = prog._fo_previous
        drop = safe_screen(ReLUProgram(X, M, y, get_loss("squared"), b), start,
                           (beta_p, theta[:, 0], gaps[0]))
        ref = sn.ConvexReLU(X, y, b, patterns=M)
        ref.solve(backend="clarabel", tol=1e-10)
        Vr, Wr = ref.blocks()
        norms = np.linalg.norm(Vr[:, :, 0], axis=0) + np.linalg.norm(Wr[:, :, 0], axis=0)
        assert np.all(norms[drop] <= 1e-6 * max(norms.max(), 1e-300))
        dropped += int(drop.sum())
        prog.beta = b
        prog.solve(backend="firstorder", tol=1e-8, screen=False)
    assert dropped > 0


def test_warm_started_path_is_certified():
    X, y = data(seed=12)
    prog = sn.ConvexReLU(X, y, 1.0, patterns=30, seed=5)
    bmax = top(X, y, prog.patterns.masks, "squared")
    betas = np.geomspace(0.9 * bmax, 0.05 * bmax, 5)
    results = prog.path(betas, backend="firstorder", tol=1e-6)
    assert all(r.status == "optimal" for r in results)
    for r, b in zip(results, betas):
        ref = sn.ConvexReLU(X, y, b, patterns=prog.patterns.masks).solve(
            backend="clarabel", tol=1e-9)
        assert r.lower_bound <= ref.objective * (1 + 1e-8)
        assert r.objective == pytest.approx(ref.objective, rel=1e-5)


def test_verbose_shows_a_progress_bar_of_the_gap(capsys):
    X, y = data(seed=13)
    prog = sn.ConvexReLU(X, y, 0.3, patterns=10, seed=6)
    res = prog.solve(backend="firstorder", tol=1e-6, verbose=True)
    assert res.status == "optimal"
    assert "certified gap" in capsys.readouterr().err
    seen = []
    with gap_progress(False, 1e-6, "x") as progress:
        assert progress is None
    with gap_progress(True, 1e-6, "x") as progress:
        for rel in (1.0, 1e-3, 1e-7, float("inf")):
            progress(rel)
            seen.append(rel)
    assert len(seen) == 4
