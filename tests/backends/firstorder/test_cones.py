"""The second-order cone algebra of sdpnets' interior-point methods: the Nesterov-Todd
scaling's defining identities and the step to the cone's boundary."""

import numpy as np
import pytest

from sdpnets.backends.firstorder.cones import NesterovToddScaling, SecondOrderCones


def test_nesterov_todd_scaling_identity():
    """W y = W^-1 s = lambda, and W^-1 inverts W."""
    rng = np.random.default_rng(0)
    sizes = np.array([3, 1, 5, 2])  # cones of sizes d + 1, stored end to end
    cones = SecondOrderCones(sizes)
    s, y = rng.standard_normal((2, int(sizes.sum()) + sizes.size))
    for v in (s, y):
        v[cones.heads] = np.sqrt(np.bincount(cones.of, weights=v * v * cones.tail)) + 0.5
    sc = NesterovToddScaling(cones, s, y)
    assert np.allclose(sc.apply(y), sc.apply(s, inverse=True), atol=1e-12)
    assert np.allclose(sc.apply(sc.apply(s), inverse=True), s, atol=1e-12)
    W2inv = np.zeros((s.size, s.size))
    W2inv[cones.pair_p, cones.pair_q] = sc.inverse_square_pairs()
    assert np.allclose(W2inv @ sc.apply(sc.apply(s)), s, atol=1e-10)


def test_second_order_cone_step_through_the_apex():
    """The step to the boundary is exact on a path straight to the apex (a double root the
    quadratic alone can miss) and infinite along a ray inside the cone."""
    cones = SecondOrderCones(np.array([2]))
    x = np.array([2.0, 1.0, 0.5])
    assert cones.step(x, -x) == pytest.approx(1.0)
    assert cones.step(x, np.array([1.0, 0.0, 0.0])) == np.inf
