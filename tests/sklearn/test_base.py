"""The estimator contract of every sdpnets.sklearn estimator (scikit-learn's own checks,
multi-class included), the inputs a user passes (DataFrames, float32, string labels),
probabilities, beta relative to beta_max, the lazy certificate and the ...CV estimators."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone, is_classifier  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, check_cv, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import sdpnets as sn  # noqa: E402
from sdpnets.sklearn import (  # noqa: E402
    ConvexCircularCNNClassifier,
    ConvexCircularCNNRegressor,
    ConvexLinearClassifier,
    ConvexLinearClassifierCV,
    ConvexLinearRegressor,
    ConvexLinearRegressorCV,
    ConvexReLUClassifier,
    ConvexReLUClassifierCV,
    ConvexReLURegressor,
    ConvexReLURegressorCV,
)

# check_estimator fits each estimator dozens of times on datasets of up to 300 samples: the
# ReLU estimators run it with 8 sampled gates (the default is a realistic model), the ...CV
# estimators with 2 folds and two fractions (the ReLU ones with one: each of their fits is
# three ReLU solves then, the contract is the same, and the suite stays within its time).
CV = dict(cv=2, fractions=(0.1, 0.01))
RELU_CV = dict(cv=2, fractions=(0.1,))
ESTIMATORS = [
    ConvexReLURegressor(patterns=8),
    ConvexReLUClassifier(patterns=8),
    ConvexLinearRegressor(),
    ConvexLinearClassifier(),
    ConvexCircularCNNRegressor(),
    ConvexCircularCNNClassifier(),
    ConvexReLURegressorCV(patterns=8, **RELU_CV),
    ConvexReLUClassifierCV(patterns=8, **RELU_CV),
    ConvexLinearRegressorCV(**CV),
    ConvexLinearClassifierCV(**CV),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


def blobs(K=3, n=45, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = 3.0 * rng.standard_normal((K, d))
    labels = np.arange(n) % K
    return centers[labels] + rng.standard_normal((n, d)), labels


@pytest.mark.parametrize("make", [
    lambda: ConvexReLUClassifier(loss="logistic", patterns=6),
    lambda: ConvexReLUClassifier(loss="softmax", patterns=6),
])
@pytest.mark.parametrize("K", [2, 3])
def test_predict_proba_sums_to_one_and_agrees_with_predict(make, K):
    """Rows of predict_proba sum to one, its arg-max is predict, and its logarithm is
    predict_log_proba; for softmax it is the softmax of the network's outputs, computed
    here."""
    X, y = blobs(K=K, n=30)
    clf = make().fit(X, y)
    P = clf.predict_proba(X)
    assert P.shape == (X.shape[0], K)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(P >= 0)
    np.testing.assert_array_equal(clf.classes_[np.argmax(P, axis=1)], clf.predict(X))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), P, rtol=1e-10)
    if clf.loss == "softmax":
        F = clf.network_.predict(X)
        E = np.exp(F - F.max(axis=1, keepdims=True))
        np.testing.assert_allclose(P, E / E.sum(axis=1, keepdims=True), rtol=1e-10)


def test_predict_proba_only_for_the_probabilistic_losses():
    X, y = blobs(K=2, n=20)
    for loss in ("hinge", "squared"):
        assert not hasattr(ConvexReLUClassifier(loss=loss, patterns=4).fit(X, y), "predict_proba")
    assert not hasattr(ConvexLinearClassifier(), "predict_proba")
    assert hasattr(ConvexReLUClassifier(loss="logistic"), "predict_proba")


def test_dataframes_float32_integer_and_string_labels_give_the_same_model():
    """A DataFrame (feature names kept), float32 data and string labels fit the same
    network as float64 arrays and integer labels."""
    pd = pytest.importorskip("pandas")
    X, y = blobs(K=3, n=36)
    names = [f"f{i}" for i in range(X.shape[1])]
    base = ConvexReLUClassifier(patterns=6).fit(X, y)
    frame = ConvexReLUClassifier(patterns=6).fit(pd.DataFrame(X, columns=names),
                                                 pd.Series(np.array(["a", "b", "c"])[y]))
    np.testing.assert_array_equal(frame.feature_names_in_, names)
    np.testing.assert_array_equal(frame.classes_, ["a", "b", "c"])
    np.testing.assert_array_equal(frame.predict(pd.DataFrame(X, columns=names)),
                                  np.array(["a", "b", "c"])[base.predict(X)])
    np.testing.assert_allclose(frame.decision_function(pd.DataFrame(X, columns=names)),
                               base.decision_function(X), rtol=1e-6, atol=1e-6)
    low = ConvexReLUClassifier(patterns=6).fit(X.astype(np.float32), y)
    np.testing.assert_allclose(low.decision_function(X.astype(np.float32)),
                               base.decision_function(X), rtol=1e-4, atol=1e-4)
    reg = ConvexLinearRegressor().fit(pd.DataFrame(X, columns=names), pd.Series(X[:, 0]))
    np.testing.assert_array_equal(reg.feature_names_in_, names)


def test_beta_none_is_a_fraction_of_beta_max_computed_independently():
    """The deep linear regressor: beta_max is ||X_c^T y_c||_2 of the centered data (NumPy),
    beta_ its default fraction; above beta_max the prediction is the constant mean."""
    X, y = blobs(K=2, n=30)
    t = X @ [1.0, -2.0, 0.5] + 7.0
    reg = ConvexLinearRegressor().fit(X, t)
    Xc, tc = X - X.mean(axis=0), t - t.mean()
    top = float(np.linalg.norm(Xc.T @ tc))
    assert reg.beta_max_ == pytest.approx(top, rel=1e-9)
    assert reg.beta_ == pytest.approx(type(reg)._beta_fraction * top, rel=1e-9)
    flat = ConvexLinearRegressor(beta=1.001 * top).fit(X, t)
    np.testing.assert_allclose(flat.predict(X), t.mean(), rtol=1e-7)


def test_the_certificate_is_computed_on_first_access_only(monkeypatch):
    """fit never certifies the global optimum; the first access does, once; the cheap gap is
    the solve's own."""
    X, y = blobs(K=2, n=20)
    calls = []
    original = sn.ConvexReLU.certificate

    def counting(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(sn.ConvexReLU, "certificate", counting)
    clf = ConvexReLUClassifier(patterns=6).fit(X, y)
    assert calls == []
    assert clf.optimality_gap_ == clf.result_.relative_gap <= 1e-4
    cert = clf.certificate_
    assert clf.certificate_ is cert and calls == [1]
    assert cert.lower_bound <= clf.result_.objective * (1 + 1e-9) <= cert.upper_bound * (1 + 1e-6)
    assert cert.kind in ("exact", "relaxation")


@pytest.mark.parametrize("make, X_y", [
    (lambda: ConvexLinearRegressorCV(cv=3, fractions=(0.3, 0.03, 0.003)), "regression"),
    (lambda: ConvexReLUClassifierCV(cv=3, fractions=(0.3, 0.03), patterns=6), "classes"),
])
def test_cv_scores_are_those_of_estimators_fitted_at_each_beta(make, X_y):
    """Each fold's score at each fraction equals that of the plain estimator fitted from
    scratch at the same beta (the warm-started path reaches the same optima); the refit uses
    the fraction with the best mean score."""
    X, y = blobs(K=3, n=36)
    if X_y == "regression":
        y = X @ [1.0, -1.0, 2.0] + 0.3 * np.sin(3 * X[:, 0])
    est = make().fit(X, y)
    assert est.scores_.shape == (3, len(est.fractions_))
    assert est.best_fraction_ == est.fractions_[int(np.argmax(est.scores_.mean(axis=0)))]
    assert est.beta_ == pytest.approx(est.best_fraction_ * est.beta_max_, rel=1e-9)
    folds = list(check_cv(3, y, classifier=is_classifier(est)).split(X, y))
    train, test = folds[1]
    fold = est._fold_estimator()
    fold.fit(X[train], y[train])  # only to read the fold's beta_max
    for j, f in enumerate(est.fractions_):
        plain = clone(fold).set_params(beta=f * fold.beta_max_).fit(X[train], y[train])
        assert plain.score(X[test], y[test]) == pytest.approx(est.scores_[1, j], abs=1e-6)


def test_pipeline_and_grid_search_choose_beta_by_cross_validation():
    X, y = blobs(K=2, n=24)
    X = 3.0 * X + 1.0  # the scaler has work to do
    pipe = Pipeline([("scale", StandardScaler()), ("clf", ConvexReLUClassifier(patterns=6))])
    grid = {"clf__beta": [0.05, 1.0, 8.0]}
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(pipe, grid, cv=cv).fit(X, y)
    # an independent computation of the same cross-validation scores
    means = [
        cross_val_score(make_pipeline(StandardScaler(), ConvexReLUClassifier(b, patterns=6)),
                        X, y, cv=cv).mean()
        for b in grid["clf__beta"]
    ]
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], means, rtol=1e-12)
    assert search.best_params_["clf__beta"] == grid["clf__beta"][int(np.argmax(means))]
    best = search.best_estimator_
    assert isinstance(best[-1].network_, sn.ReLUMLP)
    np.testing.assert_array_equal(best.predict(X), search.predict(X))


def test_bad_parameters_raise():
    X, y = blobs(K=2, n=12)
    with pytest.raises(sn.InvalidInputError, match="beta"):
        ConvexLinearRegressor(beta=-1.0).fit(X, X[:, 0])
    with pytest.raises(sn.InvalidInputError, match="loss"):
        ConvexReLUClassifier(loss="absolute").fit(X, y)
    with pytest.raises(sn.InvalidInputError, match="fractions"):
        ConvexLinearRegressorCV(fractions=(0.1, -1.0)).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="one class"):
        ConvexReLUClassifier().fit(X, np.zeros(12))


def test_importing_sdpnets_imports_no_extra():
    code = (
        "import sys, sdpnets\n"
        "bad = [m for m in ('sklearn', 'torch', 'matplotlib', 'pandas') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_estimators_are_reachable_from_the_top_level_lazily():
    assert sn.ConvexReLUClassifier is ConvexReLUClassifier
    assert sn.ConvexReLUClassifierCV is ConvexReLUClassifierCV
    assert sn.ConvexCircularCNNRegressor is ConvexCircularCNNRegressor
    with pytest.raises(AttributeError, match="no attribute 'ConvexMagic'"):
        sn.ConvexMagic  # noqa: B018


def test_the_hinge_classifier_with_an_intercept_runs_on_sdpnets_own_solver():
    """Three classes, hinge loss, intercept (the defaults otherwise, but a tight ``tol``):
    ``auto`` solves every one-vs-rest program with sdpnets' own solver (the offset a free
    variable of its interior point and master problem), to the optimum Clarabel finds for
    the same program, and each class's offset is optimal for its hidden layer."""
    X, y = blobs(K=3, n=45)
    clf = ConvexReLUClassifier(loss="hinge", patterns=6, beta=2.0, tol=1e-8).fit(X, y)
    assert clf.result_.backend == "firstorder" and clf.result_.status == "optimal"
    ref = clone(clf).set_params(backend="clarabel").fit(X, y)
    assert clf.result_.objective == pytest.approx(ref.result_.objective, rel=1e-5)
    T = np.where(y[:, None] == clf.classes_[None, :], 1.0, -1.0)
    margins = T * clf.network_.predict(X)
    for k in range(3):  # zero is a subgradient of the hinge loss in the offset
        below = margins[:, k] < 1 - 1e-6
        on = np.abs(margins[:, k] - 1) <= 1e-6
        assert abs(T[below, k].sum()) <= on.sum() + 1e-9
