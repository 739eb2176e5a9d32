"""The least-squares estimators: the intercept by centering (exact: no other intercept
does better), sparse input (the same model as dense, never densified, refused past the
memory it would need), multi-class, and circular CNNs on flattened images."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("sklearn")

import sdpnets as sn  # noqa: E402
from sdpnets.features.statistics import sparse_statistics  # noqa: E402
from sdpnets.sklearn import (  # noqa: E402
    ConvexCircularCNNClassifier,
    ConvexCircularCNNRegressor,
    ConvexLinearClassifier,
    ConvexLinearRegressor,
)

from tests.conftest import assert_rel  # noqa: E402


def data(n=40, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) + 2.0
    return X, X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)


def objective(reg, X, y, beta, intercept):
    """The training objective with an intercept: 1/2 ||X coef + c - y||^2 + beta ||coef||
    (two-layer linear network, scalar output), written out here."""
    coef = reg.coef_
    return 0.5 * np.sum((X @ coef + intercept - y) ** 2) + beta * np.linalg.norm(coef)


def test_the_intercept_by_centering_is_the_best_one_and_moves_with_the_targets():
    X, y = data()
    reg = ConvexLinearRegressor(beta=3.0).fit(X, y)
    best = objective(reg, X, y, 3.0, reg.intercept_)
    assert_rel(reg.result_.objective, best, 1e-7, "program (centered) vs objective")
    for c in reg.intercept_ + np.linspace(-1, 1, 21):
        assert objective(reg, X, y, 3.0, c) >= best - 1e-9
    shifted = ConvexLinearRegressor(beta=3.0).fit(X, y - 250.0)
    assert shifted.intercept_ == pytest.approx(reg.intercept_ - 250.0, abs=1e-6)
    np.testing.assert_allclose(shifted.coef_, reg.coef_, atol=1e-8)
    np.testing.assert_allclose(reg.predict(X), reg.network_.predict(X) + reg.intercept_,
                               atol=1e-10)
    cert = reg.certificate_
    assert cert.lower_bound <= reg.result_.objective <= cert.upper_bound * (1 + 1e-9)


@pytest.mark.parametrize("make", [
    lambda: ConvexLinearRegressor(),
    lambda: ConvexCircularCNNRegressor(),
    lambda: ConvexLinearClassifier(),
    lambda: ConvexCircularCNNClassifier(),
])
def test_sparse_input_gives_the_dense_model(make):
    rng = np.random.default_rng(1)
    Xs = sp.random(60, 8, density=0.3, random_state=2, format="csr")
    X = Xs.toarray()
    y = X @ rng.standard_normal(8) + 1.5
    if "Classifier" in type(make()).__name__:
        y = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    dense, sparse = make().fit(X, y), make().fit(Xs, y)
    assert sparse.beta_ == pytest.approx(dense.beta_, rel=1e-8)
    assert_rel(sparse.result_.objective, dense.result_.objective, 1e-7, "objective")
    out = "decision_function" if hasattr(dense, "classes_") else "predict"
    np.testing.assert_allclose(getattr(sparse, out)(Xs), getattr(dense, out)(X), atol=1e-6)


def test_sparse_input_past_its_memory_is_refused_before_anything_is_densified():
    Xs = sp.csr_matrix(([1.0], ([0], [0])), shape=(10, 300_000))
    with pytest.raises(sn.ProblemTooLargeError, match="300,000 columns.*TruncatedSVD"):
        ConvexLinearRegressor().fit(Xs, np.arange(10.0))
    with pytest.raises(sn.ProblemTooLargeError, match="1,000 columns.*24 MB"):
        sparse_statistics(sp.csr_matrix((4, 1000)), np.ones(4), memory=10_000)


def test_multiclass_linear_is_the_vector_output_program():
    X, y = data(n=45)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    clf = ConvexLinearClassifier(beta=2.0).fit(X, labels)
    T = 2.0 * np.eye(3)[labels] - 1.0
    prog = sn.ConvexLinearFC(X - X.mean(axis=0), T - T.mean(axis=0), 2.0)
    assert_rel(clf.result_.objective, prog.solve().objective, 1e-7, "vector-output program")
    assert clf.score(X, labels) > 0.6


def test_circular_cnn_on_flattened_images_and_its_torch_module():
    """Rows of flattened images: the estimator is the program on the images; network_
    takes the rows too, and to_torch() takes the estimator's rows and adds the intercept."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    images = rng.standard_normal((20, 1, 4, 5))
    y = images[:, 0, 1, 2] - images[:, 0, 3, 0] + 4.0
    X = images.reshape(20, -1)
    reg = ConvexCircularCNNRegressor(beta=0.5, input_shape=(4, 5), fit_intercept=False)
    reg.fit(X, y)
    prog = sn.ConvexCircularCNN(images, y, 0.5)
    assert_rel(reg.result_.objective, prog.solve().objective, 1e-7, "objective")
    np.testing.assert_allclose(reg.predict(X), reg.network_.predict(images), atol=1e-10)
    np.testing.assert_allclose(reg.network_.predict(X), reg.network_.predict(images), atol=0)
    with pytest.raises(sn.InvalidInputError, match=r"\(n, 1, 4, 5\) images or \(n, 20\) rows"):
        reg.network_.predict(X[:, :7])
    reg = ConvexCircularCNNRegressor(beta=0.5, input_shape=(4, 5)).fit(X, y)
    module = reg.to_torch()
    out = module(torch.as_tensor(X, dtype=torch.float64)).detach().numpy()[:, 0]
    np.testing.assert_allclose(out, reg.predict(X), atol=1e-10)
