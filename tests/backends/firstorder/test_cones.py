"""The second-order cone algebra of sdpnets' interior-point method: the Nesterov-Todd
scaling's defining identities, the Jordan product and its inverse, and the step to the
cone's boundary, against the definitions."""

import numpy as np
import pytest
from scipy.linalg import block_diag

from sdpnets.backends.firstorder.cones import NesterovToddScaling, SecondOrderCones


def interior(cones, rng, margin=0.5):
    v = rng.standard_normal(cones.count * cones.dim)
    V = cones.view(v)
    V[:, 0] = np.linalg.norm(V[:, 1:], axis=1) + margin
    return v


def test_nesterov_todd_scaling_identity():
    """W y = W^-1 s = lambda, W^-1 inverts W, and W^-2 is the square of W^-1."""
    rng = np.random.default_rng(0)
    cones = SecondOrderCones(4, 5)
    s, y = interior(cones, rng), interior(cones, rng)
    sc = NesterovToddScaling(cones, s, y)
    assert np.allclose(sc.apply(y), sc.apply(s, inverse=True), atol=1e-12)
    assert np.allclose(sc.apply(sc.apply(s), inverse=True), s, atol=1e-12)
    W2inv = block_diag(*sc.inverse_square())
    assert np.allclose(W2inv @ sc.apply(sc.apply(s)), s, atol=1e-10)


def test_jordan_product_and_division():
    rng = np.random.default_rng(1)
    cones = SecondOrderCones(3, 4)
    lam, u = interior(cones, rng), rng.standard_normal(12)
    v = cones.divide(lam, u)
    assert np.allclose(cones.product(lam, v), u, atol=1e-12)
    L, V = cones.view(lam), cones.view(v)
    head = np.einsum("ij,ij->i", L, V)
    assert np.allclose(cones.view(cones.product(lam, v))[:, 0], head)


def test_second_order_cone_step_through_the_apex():
    """The step to the boundary is exact on a path straight to the apex (a double root the
    quadratic alone can miss) and infinite along a ray inside the cone."""
    cones = SecondOrderCones(1, 3)
    x = np.array([2.0, 1.0, 0.5])
    assert cones.step(x, -x) == pytest.approx(1.0)
    assert cones.step(x, np.array([1.0, 0.0, 0.0])) == np.inf
    # a random direction: the returned step lands on the boundary
    rng = np.random.default_rng(2)
    d = rng.standard_normal(3)
    a = cones.step(x, d)
    if np.isfinite(a):
        assert cones.min_eig(x + a * d)[0] == pytest.approx(0.0, abs=1e-9)
