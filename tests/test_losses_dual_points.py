"""The dual points of the classification losses against their definitions, for margins
spread on both sides of 1 (issue 26).

* hinge: :math:`v = y\\theta` with :math:`\\theta` in the subdifferential of
  :math:`t \\mapsto (1 - t)_+` at the margin :math:`t = y\\hat y`, negated: 1 below the
  margin, 0 above it (also just above, in (1, 2]), and in [0, 1] on it;
* logistic: :math:`v = -\\nabla L(\\hat y)`, by central differences of the loss itself;
* both: the dual value of the dual point of an optimal prediction meets the primal value
  (Fenchel-Young with equality), which is what makes a certificate tight at the optimum.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdpnets.losses import HingeLoss, LogisticLoss

MARGINS = st.lists(st.floats(-5.0, 5.0) | st.sampled_from([1.0, 1.0 + 1e-9, 1.5, 2.0, 0.999]),
                   min_size=1, max_size=12)


def _predictions(margins, seed):
    """``(m, y, yhat)``: labels of random signs and predictions with these margins."""
    m = np.array(margins)
    y = np.where(np.random.default_rng(seed).standard_normal(m.size) >= 0, 1.0, -1.0)
    return m, y, y * m


PROPERTY = settings(max_examples=50, deadline=None, derandomize=True)


@PROPERTY
@given(margins=MARGINS, seed=st.integers(0, 100))
def test_hinge_dual_point_is_the_negated_subgradient_of_the_margin(margins, seed):
    m, y, yhat = _predictions(margins, seed)
    theta = y * HingeLoss().dual_point(yhat, y)
    assert np.all(theta[m < 1.0] == 1.0)
    assert np.all(theta[m > 1.0] == 0.0)
    on = m == 1.0
    assert np.all((theta[on] >= 0.0) & (theta[on] <= 1.0))
    # a subgradient: L(z) >= L(yhat) - <v, z - yhat> for every z
    rng = np.random.default_rng(seed)
    loss, v = HingeLoss(), HingeLoss().dual_point(yhat, y)
    for _ in range(20):
        z = yhat + rng.standard_normal(m.size) * 10.0 ** rng.uniform(-3, 1)
        assert loss.value(z, y) >= loss.value(yhat, y) - float(v @ (z - yhat)) - 1e-12


@PROPERTY
@given(margins=MARGINS, seed=st.integers(0, 100))
def test_logistic_dual_point_is_minus_the_gradient(margins, seed):
    m, y, yhat = _predictions(margins, seed)
    loss = LogisticLoss()
    h = 1e-6
    fd = np.array([(loss.value(yhat + h * e, y) - loss.value(yhat - h * e, y)) / (2 * h)
                   for e in np.eye(m.size)])
    np.testing.assert_allclose(-loss.dual_point(yhat, y), fd, rtol=1e-6, atol=1e-9)
    theta = y * loss.dual_point(yhat, y)
    assert np.all((theta > 0) & (theta < 1))
    assert np.all(np.diff(theta[np.argsort(m)]) <= 0)  # decreasing in the margin


@pytest.mark.parametrize("loss", [HingeLoss(), LogisticLoss()])
def test_fenchel_young_holds_with_equality_at_the_dual_point(loss):
    """``L(yhat) + L^*(-v) = <-v, yhat>`` for ``v`` the dual point of ``yhat`` (and only
    ``>=`` for any other ``v`` in the domain): at an optimal prediction the dual value of
    ``v`` is the primal loss, minus what the regularizer accounts for."""
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0])
    m = np.array([-2.0, 0.3, 0.9, 1.5, 1.9, 2.5, 4.0])  # both sides of 1, some in (1, 2]
    yhat = y * m
    v = loss.dual_point(yhat, y)
    assert loss.value(yhat, y) + loss.conjugate(-v, y) == pytest.approx(float(-v @ yhat),
                                                                         rel=1e-12, abs=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(50):
        other = y * rng.uniform(0, 1, size=y.size)
        assert loss.value(yhat, y) + loss.conjugate(-other, y) >= float(-other @ yhat) - 1e-12


@pytest.mark.parametrize("loss", [HingeLoss(), LogisticLoss()])
def test_into_domain_is_the_nearest_point_of_the_classification_domain(loss):
    """For a classification loss the dual value is finite only where every ``v_i y_i``
    lies in [0, 1]; ``into_domain`` lands there, leaves points already there unchanged and
    moves each coordinate to its nearest admissible value (checked against a fine grid)."""
    rng = np.random.default_rng(0)
    y = np.where(rng.standard_normal(40) >= 0, 1.0, -1.0)
    v = 3.0 * rng.standard_normal(40)
    assert not np.isfinite(loss.dual_value(v, y))  # the draw leaves the domain
    p = loss.into_domain(v, y)
    assert np.all((p * y >= 0) & (p * y <= 1)) and np.isfinite(loss.dual_value(p, y))
    grid = np.linspace(0.0, 1.0, 100001)
    for vi, yi, pi in zip(v, y, p):
        nearest = yi * grid[np.argmin(np.abs(yi * grid - vi))]
        assert pi == pytest.approx(nearest, abs=1e-5)
    np.testing.assert_array_equal(loss.into_domain(p, y), p)


def test_into_domain_leaves_a_squared_loss_dual_point_alone():
    """The squared loss's conjugate is finite everywhere: nothing to project."""
    from sdpnets.losses import SquaredLoss

    rng = np.random.default_rng(1)
    v, y = 5.0 * rng.standard_normal(30), rng.standard_normal(30)
    np.testing.assert_array_equal(SquaredLoss().into_domain(v, y), v)
