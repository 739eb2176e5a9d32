"""The non-convex LinearFC network: prediction, penalty, constraint checks, torch export."""

from __future__ import annotations

import numpy as np
import pytest

import sdpnets as sn


@pytest.fixture
def layers():
    rng = np.random.default_rng(0)
    return [rng.standard_normal((4, 3)), rng.standard_normal((3, 3)), rng.standard_normal((3, 2))]


def test_predict_is_the_product_of_layers(layers):
    X = np.random.default_rng(1).standard_normal((7, 4))
    net = sn.LinearFC(layers)
    np.testing.assert_allclose(net.predict(X), X @ layers[0] @ layers[1] @ layers[2])


def test_objective_is_summed_loss_plus_half_beta_frobenius(layers):
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((7, 4)), rng.standard_normal((7, 2))
    net = sn.LinearFC(layers)
    resid = X @ layers[0] @ layers[1] @ layers[2] - Y
    expected = 0.5 * np.sum(resid**2) + 0.5 * 0.7 * sum(np.sum(w**2) for w in layers)
    assert net.objective(X, Y, 0.7) == pytest.approx(expected, rel=1e-14)


def test_spectral_variant_penalizes_last_two_layers_and_checks_the_constraint(layers):
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((7, 4)), rng.standard_normal((7, 2))
    W1 = layers[0] / np.linalg.norm(layers[0], 2)
    net = sn.LinearFC([W1, layers[1], layers[2]], hidden="spectral")
    resid = net.predict(X) - Y
    expected = 0.5 * np.sum(resid**2) + 0.5 * 2.0 * (np.sum(layers[1] ** 2) + np.sum(layers[2] ** 2))
    assert net.objective(X, Y, 2.0) == pytest.approx(expected, rel=1e-14)
    infeasible = sn.LinearFC([1.01 * W1, layers[1], layers[2]], hidden="spectral")
    assert infeasible.objective(X, Y, 2.0) == np.inf


def test_scalar_output_shape():
    net = sn.LinearFC([np.ones((3, 2)), np.ones((2, 1))], scalar_output=True)
    assert net.predict(np.ones((5, 3))).shape == (5,)


def test_bad_networks_and_inputs_are_refused(layers):
    with pytest.raises(sn.InvalidInputError, match="do not chain"):
        sn.LinearFC([layers[0], layers[2].T])
    with pytest.raises(sn.InvalidInputError, match="hidden"):
        sn.LinearFC(layers, hidden="dropout")
    with pytest.raises(sn.InvalidInputError, match="4 columns"):
        sn.LinearFC(layers).predict(np.ones((3, 5)))
    with pytest.raises(sn.InvalidInputError, match="y has shape"):
        sn.LinearFC(layers).objective(np.ones((3, 4)), np.ones((3, 3)), 1.0)


def test_to_torch_matches_predict(layers):
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(4).standard_normal((6, 4))
    module = sn.LinearFC(layers).to_torch()
    out = module(torch.as_tensor(X)).detach().numpy()
    np.testing.assert_allclose(out, sn.LinearFC(layers).predict(X), rtol=1e-12)
