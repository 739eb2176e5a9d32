"""Equilibration (issue 26): data far from unit scale reach the conic solver equilibrated, and
the results come back in the caller's units.

The expected factors follow from the objective scale alone (squared loss
:math:`\\tfrac12\\|\\hat y - y\\|^2`, weight decay :math:`\\tfrac\\beta2\\sum\\|W\\|^2`, every
network positively homogeneous of degree one in each layer). On data ``(sx X, sy y)`` with
``beta' = sx sy beta`` the network with every layer scaled so that its output is ``sy``
times the original's is feasible, its loss is ``sy^2`` times and its weight decay
``beta' / 2 * (sy / sx) * sum ||W||^2`` = ``sy^2`` times the original's; the converse holds the
same way, so

* the optimum is ``sy^2`` times the original optimum,
* the optimal network predicts ``sy`` times the original's predictions on ``sx X``,
* its ``sum ||W||^2`` is ``sy / sx`` times the original's.

For the classification losses the targets are labels and are not scaled (``sy = 1``).
Hypothesis draws ``sx`` and ``sy`` over sixteen orders of magnitude.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdpnets as sn
from tests._reference import group_lasso_scalar

SCALES = settings(max_examples=8, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])


def _data(seed, n, d, K=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d,) if K is None else (d, K))
    return X, X @ W + 0.3 * rng.standard_normal((n,) if K is None else (n, K))


def _labels(seed, n, d):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.where(X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n) >= 0, 1.0, -1.0)


#: name: (make(X, y, beta), data, beta, whether the targets scale)
FAMILIES = {
    "fc scalar (SOCP)": (lambda X, y, b: sn.ConvexLinearFC(X, y, b), _data(0, 12, 4), 1.0, True),
    "fc vector (SDP)": (lambda X, y, b: sn.ConvexLinearFC(X, y, b), _data(1, 12, 4, 3), 1.0,
                        True),
    "linear cnn": (lambda X, y, b: sn.ConvexLinearCNN(X, y, b, kernel_size=3), _data(2, 10, 6),
                   0.5, True),
    "circular cnn": (lambda X, y, b: sn.ConvexCircularCNN(X, y, b), _data(3, 10, 6), 0.5, True),
    "relu squared": (lambda X, y, b: sn.ConvexReLU(X, y, b), _data(4, 10, 3), 0.5, True),
    "relu logistic": (lambda X, y, b: sn.ConvexReLU(X, y, b, loss="logistic"), _labels(5, 10, 3),
                      0.5, False),
}

_REFERENCE: dict[str, tuple] = {}


def _solve(name, X, y, beta):
    make = FAMILIES[name][0]
    prog = make(X, y, beta)
    # exponential cones (logistic loss) are certified to 1e-8, the others to 1e-10
    res = prog.solve(backend="clarabel", tol=1e-8 if "logistic" in name else 1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sn.SdpnetsWarning)
        net = prog.network()
    return res, net


def _reference(name):
    if name not in _REFERENCE:
        _, (X, y), beta, _ = FAMILIES[name]
        _REFERENCE[name] = _solve(name, X, y, beta)
    return _REFERENCE[name]


@pytest.mark.parametrize("name", list(FAMILIES))
@SCALES
@given(log_sx=st.floats(-8.0, 8.0), log_sy=st.floats(-8.0, 8.0))
def test_rescaled_data_give_the_scaled_optimum_and_network(name, log_sx, log_sy):
    _, (X, y), beta, scales_targets = FAMILIES[name]
    sx = 10.0**log_sx
    sy = 10.0**log_sy if scales_targets else 1.0
    ref, ref_net = _reference(name)
    assert ref.status == "optimal"
    res, net = _solve(name, sx * X, sy * y, sx * sy * beta)
    assert res.status == "optimal", res.message
    rel = 1e-5 if "logistic" in name else 1e-6
    assert res.objective == pytest.approx(sy**2 * ref.objective, rel=rel)
    value = net.objective(sx * X, sy * y, sx * sy * beta)
    assert value == pytest.approx(sy**2 * ref.objective, rel=rel)
    # the network scaled the same way: outputs by sy, sum of squared weights by sy / sx
    pred, ref_pred = np.asarray(net.predict(sx * X)), np.asarray(ref_net.predict(X))
    np.testing.assert_allclose(pred / sy, ref_pred, rtol=0,
                               atol=1e-3 * max(1.0, float(np.abs(ref_pred).max())))
    assert net.penalty() * sx / sy == pytest.approx(ref_net.penalty(), rel=1e-3, abs=1e-9)
    # and the certificate in the caller's units brackets the scaled optimum
    assert res.lower_bound <= sy**2 * ref.objective * (1 + rel)
    assert res.upper_bound >= sy**2 * ref.objective * (1 - rel)


@pytest.mark.parametrize("log_scale", [-9.0, -5.0, 5.0, 9.0])
def test_columns_of_very_different_scales_and_a_zero_column(log_scale):
    """Columns spread over many orders of magnitude (one of them zero) are equilibrated one
    by one: the optimum is the closed form's (the scalar group lasso's secular equation on
    the raw data), the zero column gets a zero weight, and nothing is NaN."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((15, 5)) * 10.0 ** np.array([0.0, log_scale, -3.0, 2.0, 0.0])
    X[:, 4] = 0.0
    y = X @ (1.0 / np.linalg.norm(X, axis=0).clip(1e-300)) + 0.1 * rng.standard_normal(15)
    beta = 0.2 * float(np.linalg.norm(X.T @ y))
    z_ref, opt = group_lasso_scalar(X, y, beta)
    prog = sn.ConvexLinearFC(X, y, beta)
    res = prog.solve(backend="clarabel", tol=1e-10)
    assert res.status == "optimal", res.message
    assert res.objective == pytest.approx(opt, rel=1e-7)
    net = prog.network()
    assert net.objective(X, y, beta) == pytest.approx(opt, rel=1e-7)
    product = np.asarray(net.product).reshape(-1)
    assert np.all(np.isfinite(product)) and product[4] == 0.0
    np.testing.assert_allclose(X @ product, X @ z_ref, rtol=0, atol=1e-5 * np.linalg.norm(y))


@pytest.mark.parametrize("name", ["fc vector (SDP)", "relu squared"])
@pytest.mark.parametrize("which", ["X", "y"])
def test_all_zero_data_give_the_zero_network(name, which):
    """A zero data matrix (or zero targets) has no scale to equilibrate by: the optimum is
    the zero network at ``||y||^2 / 2``, found without a NaN."""
    _, (X, y), beta, _ = FAMILIES[name]
    X, y = (np.zeros_like(X), y) if which == "X" else (X, np.zeros_like(y))
    res, net = _solve(name, X, y, beta)
    assert res.solved, res.message
    zero = 0.5 * float(np.sum(y * y))
    assert res.objective == pytest.approx(zero, rel=1e-7, abs=1e-9)
    assert net.objective(X, y, beta) == pytest.approx(zero, rel=1e-7, abs=1e-9)
    assert not np.any(np.asarray(net.predict(X)))


@pytest.mark.parametrize("spread", [1e-6, 1e-4, 1.0, 1e2, 1e5])
def test_columns_are_equilibrated_exactly_when_their_norms_are_far_apart(spread):
    """What the conic solver receives from ``_equilibrate_columns``: when the column norms
    differ by more than the ordinary range (1e3), unit-norm columns and the factors that
    restore the data (``A' * c == A``); otherwise the data divided by one scale only
    (``c`` all ones: the columns keep their relative sizes)."""
    from sdpnets.formulations.least_squares import ORDINARY_RANGE

    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 3)) * np.array([1.0, spread, 3.0])
    y = rng.standard_normal(20)
    prog = sn.ConvexLinearFC(X, y, 0.5)
    A2, _, c = prog._equilibrate_columns(X, y[:, None])
    norms = np.linalg.norm(X, axis=0)
    if norms.max() > ORDINARY_RANGE * norms.min():
        np.testing.assert_allclose(np.linalg.norm(A2, axis=0), 1.0, rtol=1e-12)
        np.testing.assert_allclose(A2 * c, X, rtol=1e-12)
    else:
        assert np.all(c == 1.0)
        ratio = A2 / X
        np.testing.assert_allclose(ratio, ratio[0, 0], rtol=1e-12)


def test_build_memory_holds_at_least_the_data_and_grows_with_it():
    """The default ``build_memory`` (copies of ``X`` around the solve) is at least one copy
    of the data and proportional to it."""
    small = sn.ConvexLinearFC(*_data(0, 50, 4, K=2), 1.0)
    large = sn.ConvexLinearFC(*_data(0, 200, 4, K=2), 1.0)
    from sdpnets.formulations.base import ConvexProgram

    assert type(small).build_memory is ConvexProgram.build_memory  # the default model
    assert small.build_memory() >= small.X.nbytes > 0
    assert large.build_memory() == 4 * small.build_memory()


def test_path_starts_at_beta_max_and_refuses_a_zero_beta_max():
    """``path()`` without ``betas`` runs from ``beta_max`` (where the optimum is the zero
    network, ``||y||^2 / 2``) down; data whose ``beta_max`` is 0 have no path."""
    X, y = _data(3, 12, 3)
    prog = sn.ConvexLinearFC(X, y, 1.0)
    results = prog.path(backend="firstorder")
    bmax = float(np.linalg.norm(X.T @ y))  # the closed-form threshold (scalar output)
    assert len(results) > 1 and prog.beta == pytest.approx(1e-3 * bmax, rel=1e-9)
    assert results[0].objective == pytest.approx(0.5 * float(y @ y), rel=1e-6)
    assert all(r.solved for r in results)
    with pytest.raises(sn.InvalidInputError, match="beta_max is 0"):
        sn.ConvexLinearFC(X, np.zeros_like(y), 1.0).path()
