"""Certificates of the ReLU group lasso for the classification losses (issue 26): at the
optimum, the dual points of the hinge and logistic losses give the tight bound, with the
network's margins spread on both sides of 1 (some below, some on it, some in (1, 2], some
beyond).

A dual point is tight when its scaled dual value meets the optimum; the optimum is
Clarabel's, and the bound is computed by the package's certificate of the solved program
and, for any given network, by ``sn.certify``. The margin condition is checked on each
instance, so that a dual point wrong on one side of the margin would show.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import sdpnets as sn


def _labels(seed, n, d):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.where(X @ rng.standard_normal(d) + 0.7 * rng.standard_normal(n) >= 0, 1.0, -1.0)
    return X, y


FAMILIES = {
    "mlp": lambda X, y, b, loss: sn.ConvexReLU(X, y, b, loss=loss),
    "mlp bias": lambda X, y, b, loss: sn.ConvexReLU(X, y, b, loss=loss, bias=True),
    "cnn": lambda X, y, b, loss: sn.ConvexReLUCNN(X, y, b, kernel_size=2, loss=loss),
    "circular": lambda X, y, b, loss: sn.ConvexCircularReLU(X, y, b, loss=loss),
}

DATA = {"mlp": (0, 12, 3), "mlp bias": (1, 12, 3), "cnn": (2, 8, 4), "circular": (5, 10, 3)}

_SOLVED: dict[tuple[str, str, float], tuple] = {}


def solved(family: str, loss: str, frac: float):
    """The program at ``beta = frac * beta_max``, solved by Clarabel, and its network."""
    key = (family, loss, frac)
    if key not in _SOLVED:
        X, y = _labels(*DATA[family])
        top = float(FAMILIES[family](X, y, 1.0, loss).beta_max())
        prog = FAMILIES[family](X, y, frac * top, loss)
        res = prog.solve(backend="clarabel", tol=1e-9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sn.SdpnetsWarning)  # logistic: exp cones
            net = prog.network()
        _SOLVED[key] = (X, y, prog, res, net)
    return _SOLVED[key]


def margins(family, loss, frac):
    X, y, _, _, net = solved(family, loss, frac)
    return y * np.asarray(net.predict(X)).reshape(-1)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("loss", ["hinge", "logistic"])
@pytest.mark.parametrize("frac", [0.05, 0.3])
def test_the_certificate_is_tight_at_the_optimum(family, loss, frac):
    X, y, prog, res, net = solved(family, loss, frac)
    assert res.solved, res.message
    m = margins(family, loss, frac)
    assert np.any(m < 1 - 1e-3) and np.any(m > 1 + 1e-3)  # both sides of the margin
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sn.SdpnetsWarning)  # logistic: exp cones
        cert = prog.certificate()
    rel = 1e-6 if loss == "hinge" else 1e-5
    assert cert.upper_bound == pytest.approx(res.objective, rel=rel)
    assert cert.lower_bound <= res.objective * (1 + 1e-9)
    assert cert.relative_gap <= rel, (cert.lower_bound, cert.upper_bound)
    assert res.relative_gap <= rel


def test_the_instances_have_margins_in_every_range():
    """Across the instances above, margins fall below 1, on 1 (hinge) and in (1, 2]."""
    every = np.concatenate([margins(f, loss, frac) for f in FAMILIES
                            for loss in ("hinge", "logistic") for frac in (0.05, 0.3)])
    assert np.any(every < 0) and np.any((every > 0) & (every < 1 - 1e-3))
    assert np.any((every > 1 + 1e-3) & (every <= 2.0)) and np.any(every > 2.0)
    hinge = np.concatenate([margins(f, "hinge", frac) for f in FAMILIES for frac in (0.05, 0.3)])
    assert np.any(np.abs(hinge - 1) <= 1e-6)


@pytest.mark.parametrize("family", ["mlp", "mlp bias", "cnn"])
@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_certify_of_the_optimal_network_is_tight(family, loss):
    """``sn.certify`` knows only the network: its dual point (for the hinge loss the best
    one in the subdifferential) must still give the optimum."""
    X, y, prog, res, net = solved(family, loss, 0.3)
    cert = sn.certify(net, X, y, prog.beta, loss=loss)
    rel = 1e-6 if loss == "hinge" else 1e-5
    assert cert.kind == "exact"
    assert cert.upper_bound == pytest.approx(res.objective, rel=rel)
    assert cert.relative_gap <= rel


def test_certify_of_the_optimal_circular_logistic_network_is_tight():
    """The logistic loss is differentiable: its gradient is the optimal dual point."""
    X, y, prog, res, net = solved("circular", "logistic", 0.3)
    cert = sn.certify(net, X, y, prog.beta, loss="logistic")
    assert cert.relative_gap <= 1e-5


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_a_worse_network_is_certified_away_from_the_optimum(loss):
    """The same dual points at a network that is not optimal: a valid lower bound (at most
    the optimum) and an upper bound that is that network's objective, with a visible gap."""
    X, y, prog, res, net = solved("mlp", loss, 0.3)
    worse = sn.ReLUMLP(net.U * 1.5, net.alpha) if hasattr(net, "U") else None
    if worse is None:
        pytest.skip("the MLP network exposes U and alpha")
    cert = sn.certify(worse, X, y, prog.beta, loss=loss)
    assert cert.lower_bound <= res.objective * (1 + 1e-9)
    assert cert.upper_bound == pytest.approx(worse.objective(X, y, prog.beta, loss), rel=1e-12)
    assert cert.upper_bound > res.objective * (1 + 1e-4)


def test_the_circular_certificate_reports_the_dual_point_it_evaluated():
    """The certificate's ``dual_point`` is the point whose dual value is the lower bound:
    the negative gradient of the logistic loss at the network's predictions, scaled into
    feasibility (a positive multiple of it, with ``-L*(-point)`` the lower bound)."""
    from sdpnets.losses import LogisticLoss

    X, y, prog, res, net = solved("circular", "logistic", 0.3)
    cert = sn.certify(net, X, y, prog.beta, loss="logistic")
    point = np.asarray(cert.dual_point).reshape(-1)
    assert point.shape == y.shape
    grad = LogisticLoss().dual_point(np.asarray(net.predict(X)).reshape(-1), y)
    scale = float(point @ grad) / float(grad @ grad)
    assert scale > 0
    np.testing.assert_allclose(point, scale * grad, rtol=1e-10, atol=1e-14)
    value = LogisticLoss().dual_value(point, y)
    assert min(value, cert.upper_bound) == pytest.approx(cert.lower_bound, rel=1e-10)
