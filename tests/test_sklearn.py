"""scikit-learn estimators: the estimator contract, pipelines, and the programs behind them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import sdpnets as sn  # noqa: E402
from sdpnets.sklearn import (  # noqa: E402
    ConvexCircularCNNClassifier,
    ConvexCircularCNNRegressor,
    ConvexLinearClassifier,
    ConvexLinearRegressor,
    ConvexReLUClassifier,
    ConvexReLURegressor,
)

from tests.conftest import assert_rel  # noqa: E402

# The ReLU estimators run check_estimator with 8 sampled gates: its datasets have up to 300
# samples, and every check fits again (the default, 32 gates, is a realistic model).
ESTIMATORS = [
    ConvexReLURegressor(patterns=8),
    ConvexReLUClassifier(patterns=8),
    ConvexLinearRegressor(),
    ConvexLinearClassifier(),
    ConvexCircularCNNRegressor(),
    ConvexCircularCNNClassifier(),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


@pytest.fixture
def binary():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((14, 2))
    y01 = (X[:, 0] + 0.5 * X[:, 1] ** 2 - 0.5 > 0).astype(int)
    return X, y01


def test_classifier_maps_any_two_labels_to_the_losss_signs(binary):
    """0/1 labels fit through the estimator: the same program as the raw class on 2y - 1,
    and the network's objective is the program's optimum with the logistic loss."""
    X, y01 = binary
    beta = 0.5
    clf = ConvexReLUClassifier(beta, patterns="exhaustive", bias=True).fit(X, y01)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    ypm = 2.0 * y01 - 1
    raw = sn.ConvexReLU(X, ypm, beta, loss="logistic", bias=True)
    assert_rel(clf.result_.objective, raw.solve().objective, 1e-6, "estimator vs raw program")
    assert_rel(clf.result_.objective, clf.network_.objective(X, ypm, beta), 1e-6, "network")
    f = clf.decision_function(X)
    np.testing.assert_allclose(f, clf.network_.predict(X), rtol=0, atol=0)
    np.testing.assert_array_equal(clf.predict(X), np.where(f > 0, 1, 0))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-f)), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-10)
    cert = clf.certificate_
    assert cert.lower_bound <= clf.result_.objective + 1e-6 <= cert.upper_bound + 2e-6
    # string labels: classes_[1] ("yes") is +1, the same network
    labels = np.where(y01 == 1, "yes", "no")
    other = ConvexReLUClassifier(beta, patterns="exhaustive", bias=True).fit(X, labels)
    np.testing.assert_array_equal(other.classes_, ["no", "yes"])
    np.testing.assert_array_equal(other.predict(X), np.where(f > 0, "yes", "no"))


def test_raw_program_names_the_labels_it_needs(binary):
    X, y01 = binary
    with pytest.raises(sn.InvalidInputError, match=r"labels in \{-1, \+1\}.*2 \* y - 1"):
        sn.ConvexReLU(X, y01, 0.1, loss="logistic")


def test_predict_proba_only_for_the_logistic_loss(binary):
    X, y01 = binary
    hinge = ConvexReLUClassifier(0.5, loss="hinge", patterns=8).fit(X, y01)
    assert not hasattr(hinge, "predict_proba")
    assert not hasattr(ConvexLinearClassifier(), "predict_proba")
    assert hasattr(ConvexReLUClassifier(), "predict_proba")
    assert hinge.network_.loss.name == "hinge"


def test_binary_only_and_bad_parameters_raise(binary):
    X, y01 = binary
    y3 = y01 + (X[:, 1] > 1)
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        ConvexLinearClassifier().fit(X, y3)
    with pytest.raises(sn.InvalidInputError, match="beta"):
        ConvexLinearRegressor(beta=-1.0).fit(X, X[:, 0])
    with pytest.raises(sn.InvalidInputError, match="loss"):
        ConvexReLUClassifier(loss="absolute").fit(X, y01)


def test_linear_regressor_is_the_convex_program(binary):
    X, _ = binary
    Y = np.c_[X @ [1.0, -2.0], X[:, 0] ** 2]
    reg = ConvexLinearRegressor(beta=2.0).fit(X, Y)
    prog = sn.ConvexLinearFC(X, Y, 2.0)
    assert_rel(reg.result_.objective, prog.solve().objective, 1e-7, "objective")
    np.testing.assert_allclose(reg.predict(X), prog.network().predict(X), atol=1e-6)
    residual = Y - reg.predict(X)
    r2 = 1 - np.sum(residual**2, axis=0) / np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    assert_rel(reg.score(X, Y), float(np.mean(r2)), 1e-12, "R^2")
    cert = reg.certificate_
    slack = 1e-9 * reg.result_.objective
    assert cert.lower_bound - slack <= reg.result_.objective <= cert.upper_bound + slack


def test_circular_cnn_on_flattened_images():
    rng = np.random.default_rng(2)
    images = rng.standard_normal((20, 1, 4, 5))
    y = images[:, 0, 1, 2] - images[:, 0, 3, 0]
    X = images.reshape(20, -1)
    reg = ConvexCircularCNNRegressor(beta=0.5, input_shape=(4, 5)).fit(X, y)
    prog = sn.ConvexCircularCNN(images, y, 0.5)
    assert_rel(reg.result_.objective, prog.solve().objective, 1e-7, "objective")
    np.testing.assert_allclose(reg.predict(X), reg.network_.predict(images), atol=0)
    assert reg.network_.signal_shape == (4, 5)


def test_pipeline_and_grid_search_choose_beta_by_cross_validation(binary):
    X, y01 = binary
    X = 3.0 * X + 1.0  # the scaler has work to do
    pipe = Pipeline([("scale", StandardScaler()), ("clf", ConvexReLUClassifier(patterns=8))])
    grid = {"clf__beta": [0.05, 1.0, 8.0]}
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(pipe, grid, cv=cv).fit(X, y01)
    # an independent computation of the same cross-validation scores
    means = [
        cross_val_score(make_pipeline(StandardScaler(), ConvexReLUClassifier(b, patterns=8)),
                        X, y01, cv=cv).mean()
        for b in grid["clf__beta"]
    ]
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], means, rtol=1e-12)
    assert search.best_params_["clf__beta"] == grid["clf__beta"][int(np.argmax(means))]
    best = search.best_estimator_
    assert isinstance(best[-1].network_, sn.ReLUMLP)
    np.testing.assert_array_equal(best.predict(X), search.predict(X))


def test_importing_sdpnets_imports_no_extra():
    code = (
        "import sys, sdpnets\n"
        "bad = [m for m in ('sklearn', 'torch', 'matplotlib') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _readme_blocks() -> list[str]:
    import pathlib
    import re

    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_examples_run_and_beta_max_matches_its_model():
    """The README's scikit-learn/PyTorch example runs, and its beta_max is computed for its
    bias=True ReLU model: just above it that model's optimum is the zero network, just
    below it is not."""
    pytest.importorskip("torch")
    blocks = _readme_blocks()
    block = next(b for b in blocks if "sdpnets.sklearn" in b)
    assert 'sn.ConvexReLU(Xr, yr, beta=0.1, patterns="exhaustive", bias=True)' in blocks[0]
    assert "sn.beta_max(Xr, yr, bias=True)" in blocks[0]
    # the data lines of the first example (test_package runs all of it)
    data = [line for line in blocks[0].splitlines()
            if line.startswith(("import", "rng =", "X =", "Y =", "Xr =", "yr ="))]
    namespace: dict = {}
    exec(compile("\n".join(data), "README.md", "exec"), namespace)
    exec(compile(block, "README.md", "exec"), namespace)
    clf, net, Xr, yr = (namespace[k] for k in ("clf", "net", "Xr", "yr"))
    np.testing.assert_allclose(net.predict(Xr), clf.network_.predict(Xr), rtol=0, atol=0)
    top = sn.beta_max(Xr, yr, bias=True)
    scale = float(np.abs(yr).max())
    above = sn.ConvexReLU(Xr, yr, 1.01 * top, bias=True)
    above.solve(tol=1e-9)
    assert np.abs(above.network().predict(Xr)).max() <= 1e-6 * scale
    below = sn.ConvexReLU(Xr, yr, 0.95 * top, bias=True)
    below.solve(tol=1e-9)
    assert np.abs(below.network().predict(Xr)).max() > 1e-3 * scale


def test_estimators_are_reachable_from_the_top_level_lazily():
    assert sn.ConvexReLUClassifier is ConvexReLUClassifier
    assert sn.ConvexCircularCNNRegressor is ConvexCircularCNNRegressor
    with pytest.raises(AttributeError, match="no attribute 'ConvexMagic'"):
        sn.ConvexMagic  # noqa: B018
