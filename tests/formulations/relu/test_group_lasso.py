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


# --- the pure pieces and the first-order result ------------------------------------------------


def test_the_certificate_reports_the_loosest_outputs_bracket():
    """Several outputs, one bracket each: ``dual_norm_bounds`` is the loosest one (largest
    ``upper / lower``; a zero lower bound under a positive upper is looser than any, a zero
    dual point's ``[0, 0]`` is tight), and the kind is exact only when every output's is."""
    from sdpnets.formulations.relu.dual_norm import DualNormBracket
    from sdpnets.formulations.relu.group_lasso import certificate_kind

    def br(lower, upper):
        return DualNormBracket(lower, upper, lower == upper, np.zeros(2))

    cases = [([br(1.0, 1.1), br(2.0, 3.0), br(1.0, 1.2)], (2.0, 3.0)),
             ([br(1.0, 1.1), br(0.0, 0.5), br(4.0, 9.0)], (0.0, 0.5)),
             ([br(0.0, 0.0), br(1.0, 1.5)], (1.0, 1.5)),
             ([br(2.0, 2.0), br(3.0, 3.0)], (2.0, 2.0))]
    for brackets, loosest in cases:
        kind, bounds = certificate_kind(brackets)
        assert bounds == loosest
        assert kind == ("exact" if all(b.lower == b.upper for b in brackets) else "relaxation")


@pytest.mark.parametrize("seed", [0, 1])
def test_the_hinge_bound_does_not_depend_on_the_data_s_scale(seed):
    """Scaling the data and ``beta`` by the same ``c`` leaves the group lasso (neurons
    scaled by ``1/c``) and its dual (the dual norm scales by ``c``) unchanged, so the lower
    bound from a network's predictions must not change either; here the hinge dual point
    is chosen among margin points, with cuts where its dual norm exceeds ``beta``."""
    from sdpnets.formulations.relu.group_lasso import output_bound
    from sdpnets.losses import HingeLoss

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((10, 3))
    y = np.where(rng.standard_normal(10) >= 0, 1.0, -1.0)
    yhat = y * rng.uniform(0.5, 1.5, 10)
    yhat[:5] = y[:5]  # on the margin: the hinge dual point is a choice there
    neurons = rng.standard_normal((3, 2))
    beta = 0.3 * float(np.linalg.norm(A.T @ y))
    values = [output_bound(HingeLoss(), c * A, y, yhat, c * beta, masks=None,
                           directions=neurons)[0] for c in (1.0, 1e-2, 1e2)]
    assert values[0] > 0
    np.testing.assert_allclose(values[1:], values[0], rtol=1e-6)


def test_a_first_order_solve_stopped_early_keeps_its_own_bracket():
    """sdpnets' first-order solver stopped by ``max_iters`` reports its own finite bracket
    (the dual point's bound and the iterate's objective), which holds the optimum that
    Clarabel finds."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((14, 3))
    y = np.maximum(X @ rng.standard_normal(3), 0) + 0.1 * rng.standard_normal(14)
    optimum = sn.ConvexReLU(X, y, 0.2).solve(backend="clarabel", tol=1e-9).objective
    for iters in (1, 2):
        res = sn.ConvexReLU(X, y, 0.2).solve(backend="firstorder", max_iters=iters)
        assert res.status == "iteration_limit"
        assert np.isfinite(res.lower_bound) and np.isfinite(res.upper_bound)
        assert res.lower_bound <= optimum * (1 + 1e-7) and optimum <= res.upper_bound * (1 + 1e-7)
        assert res.gap == pytest.approx(res.upper_bound - res.lower_bound, rel=1e-12)


@pytest.mark.parametrize("K", [1, 2])
def test_the_build_memory_holds_the_expanded_masks_and_signs(K):
    """Building the program expands the ``n x P`` patterns into float masks and signs, one
    ``n x P`` block per output each (8 bytes an entry), beside a copy of the rows: the
    prediction is at least that, for few and for many patterns."""
    rng = np.random.default_rng(K)
    X = rng.standard_normal((30, 3))
    Y = rng.standard_normal((30, K))
    for gates in (4, 40):
        prog = sn.ConvexReLU(X, Y[:, 0] if K == 1 else Y, 0.1, patterns=gates)
        n, P = prog.patterns.masks.shape
        floor = 2 * 8 * n * P * K + X.nbytes
        assert prog.build_memory() >= floor


def test_a_time_limit_the_solve_does_not_need_changes_nothing():
    """sdpnets' first-order solver shares a ``time_limit`` among the outputs still to solve;
    one far beyond what a small two-output program needs leaves every output solved, with
    the objective of the solve without a limit."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((14, 3))
    Y = np.maximum(X @ rng.standard_normal((3, 2)), 0) + 0.1 * rng.standard_normal((14, 2))
    free = sn.ConvexReLU(X, Y, 0.2).solve(backend="firstorder")
    limited = sn.ConvexReLU(X, Y, 0.2).solve(backend="firstorder", time_limit=600.0)
    assert free.solved and limited.solved, limited.message
    assert limited.objective == pytest.approx(free.objective, rel=1e-6)
