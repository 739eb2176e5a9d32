"""The deep linear network recovered from a solution keeps exactly the optimum's neurons
(issue 26): solver noise is dropped, the optimum's own singular directions are kept.

The reference rank comes from an independent solve (proximal gradient with singular-value
thresholding, tests/_reference.py, whose iterates are exactly low rank), and the zero
threshold from the closed form: for ``beta > ||X^T Y||_2`` the optimum is the zero network.
Data with many rows make the data's natural scale and an interior-point solver's residual
noise far apart, which is where a mis-scaled cut keeps noise neurons.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import sdpnets as sn
from tests._reference import prox_grad_nuclear


def _data(n, d=6, K=3, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    X = scale * rng.standard_normal((n, d))
    return X, X @ rng.standard_normal((d, K)) + rng.standard_normal((n, K))


@pytest.mark.parametrize("n", [60, 3000])
@pytest.mark.parametrize("factor", [1.2, 1.5, 10.0])
@pytest.mark.parametrize("backend", ["clarabel", "scs", "firstorder"])
def test_above_beta_max_the_recovered_network_is_the_zero_network(n, factor, backend):
    X, Y = _data(n)
    beta = factor * float(np.linalg.norm(X.T @ Y, 2))  # the closed-form threshold
    prog = sn.ConvexLinearFC(X, Y, beta)
    res = prog.solve(backend=backend)
    assert res.status == "optimal", res.message
    net = prog.network()
    assert not np.any(net.product), [w.shape for w in net.weights]
    assert net.weights[0].shape[1] == 1  # one (zero) neuron
    assert net.objective(X, Y, beta) == 0.5 * float(np.sum(Y * Y))


@pytest.mark.parametrize("frac", [0.15, 0.3, 0.7])
@pytest.mark.parametrize("n", [40, 2000])
def test_the_recovered_width_is_the_rank_of_the_optimum(frac, n):
    X, Y = _data(n, d=5, K=4, seed=1)
    beta = frac * float(np.linalg.norm(X.T @ Y, 2))
    Z_ref, opt, _ = prox_grad_nuclear(X, Y, beta, gap_tol=1e-12, max_iter=200000)
    s = np.linalg.svd(Z_ref, compute_uv=False)
    rank = int(np.sum(s > 1e-8 * s[0]))
    assert 0 < rank < 4  # the threshold matters on these instances
    for backend in ("clarabel", "firstorder"):
        prog = sn.ConvexLinearFC(X, Y, beta)
        assert prog.solve(backend=backend, tol=1e-9).status == "optimal"
        net = prog.network()
        assert net.weights[0].shape[1] == rank, (backend, s)
        assert net.objective(X, Y, beta) == pytest.approx(opt, rel=1e-7)


def test_rank_tol_cuts_relative_to_the_largest_singular_value():
    """``rank_tol`` drops the singular values below that fraction of the largest (here a
    cut through the optimum's own spectrum, so the verification rightly finds the network
    off the optimum)."""
    X, Y = _data(40, d=5, K=4, seed=2)
    beta = 0.02 * float(np.linalg.norm(X.T @ Y, 2))
    prog = sn.ConvexLinearFC(X, Y, beta, rank_tol=0.5)
    res = prog.solve(backend="clarabel", tol=1e-8)
    assert res.status == "optimal_inaccurate" and "differs" in res.message
    s = np.linalg.svd(prog.solution, compute_uv=False)
    assert np.sum(s > 0.5 * s[0]) < np.sum(s > 1e-6 * s[0])  # the cut matters here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sn.SdpnetsWarning)
        assert prog.network().weights[0].shape[1] == int(np.sum(s > 0.5 * s[0]))


@pytest.mark.parametrize("bad", [-1e-12, 1.0, 2, float("nan"), float("inf"), True, False,
                                 "small", None, [0.1]])
def test_rank_tol_outside_zero_one_or_not_a_number_is_refused(bad):
    """``rank_tol`` is a fraction in ``[0, 1)``: anything else (a bool included, though
    Python counts it as an int) is refused when the program is made, naming the option."""
    X, Y = _data(10, d=3, K=2)
    with pytest.raises(sn.InvalidInputError, match="rank_tol"):
        sn.ConvexLinearFC(X, Y, 1.0, rank_tol=bad)


@pytest.mark.parametrize("good", [0, 0.0, 1e-12, 0.5, np.float32(0.999), np.int64(0)])
def test_rank_tol_in_zero_one_is_accepted(good):
    X, Y = _data(10, d=3, K=2)
    assert sn.ConvexLinearFC(X, Y, 1.0, rank_tol=good).rank_tol == float(good)
