"""The ReLU estimators are their convex programs: intercepts (a planted offset recovered),
multi-class as the separable vector-output program (K one-vs-rest programs sharing their
patterns, solved here one by one) or the joint softmax program."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

import sdpnets as sn  # noqa: E402
from sdpnets.features.patterns import bisector_gates  # noqa: E402
from sdpnets.sklearn import ConvexReLUClassifier, ConvexReLURegressor  # noqa: E402

from tests.conftest import assert_rel  # noqa: E402


def data(n=30, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ [1.0, -1.0, 0.5], 0.0) - 0.5 * np.maximum(X[:, 1], 0.0)
    return X, y + 0.05 * rng.standard_normal(n)


def test_a_planted_offset_is_recovered():
    """Targets shifted by 1000: intercept_ moves by exactly 1000, the network's weights,
    the chosen beta and the fit do not; without the intercept the same shift ruins the fit."""
    X, y = data()
    a = ConvexReLURegressor(patterns=12).fit(X, y)
    b = ConvexReLURegressor(patterns=12).fit(X, y + 1000.0)
    assert b.intercept_ - a.intercept_ == pytest.approx(1000.0, abs=1e-4)
    assert b.beta_ == pytest.approx(a.beta_, rel=1e-9)
    np.testing.assert_allclose(b.predict(X) - 1000.0, a.predict(X), atol=1e-4)
    assert b.score(X, y + 1000.0) == pytest.approx(a.score(X, y), abs=1e-6)
    assert b.network_.offset == b.intercept_
    without = ConvexReLURegressor(patterns=12, fit_intercept=False).fit(X, y + 1000.0)
    assert without.score(X, y + 1000.0) < a.score(X, y) - 0.1


def assert_within_its_gap(est, optimum: float) -> None:
    """The estimator's objective is the program's ``optimum`` (solved tightly, apart) up to
    the gap it certified (within its ``tol`` on sdpnets' own solver; a conic solver's
    tolerance is on its own conic form): never below it, never further above it than that
    gap says."""
    upper = est.result_.objective
    if est.result_.backend == "firstorder":
        assert est.optimality_gap_ <= est.tol
    assert optimum * (1 - 1e-7) <= upper <= optimum + est.optimality_gap_ * abs(upper) + 1e-9, \
        (upper, optimum, est.optimality_gap_)


@pytest.mark.parametrize("gates", ["bisectors", "gaussian"])
def test_binary_classifier_is_the_raw_program_with_an_intercept(gates):
    """Labels 0/1 fit the program on 2y - 1 with an unpenalized offset, on the gates
    ``gates`` says; the network's objective is the program's optimum; decision_function
    is the network's output."""
    X, y = data()
    y01 = (y > np.median(y)).astype(int)
    clf = ConvexReLUClassifier(0.5, loss="logistic", patterns=10, gates=gates,
                               tol=1e-8).fit(X, y01)
    patterns = bisector_gates(X, 10, seed=0) if gates == "bisectors" else 10
    raw = sn.ConvexReLU(X, 2.0 * y01 - 1, 0.5, patterns=patterns, loss="logistic",
                        bias=True, intercept=True)
    assert clf.program_.patterns.method == ("gates" if gates == "bisectors" else "sampled")
    assert_within_its_gap(clf, raw.solve(tol=1e-8).objective)
    assert_rel(clf.result_.objective, clf.network_.objective(X, 2.0 * y01 - 1, 0.5), 1e-5,
               "network")
    f = clf.decision_function(X)
    np.testing.assert_allclose(f, clf.network_.predict(X), rtol=0, atol=0)
    np.testing.assert_array_equal(clf.predict(X), np.where(f > 0, 1, 0))


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_multiclass_is_k_one_vs_rest_programs_sharing_the_patterns(loss):
    """Three classes: the estimator's optimum is the sum of three binary programs on the
    +-1 one-vs-rest columns (same gates), solved here one by one, and each class's scores
    are those programs' networks."""
    X, y = data(n=36)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    clf = ConvexReLUClassifier(0.8, loss=loss, patterns=8, tol=1e-8).fit(X, labels)
    total, scores = 0.0, []
    for k in range(3):
        prog = sn.ConvexReLU(X, np.where(labels == k, 1.0, -1.0), 0.8,
                             patterns=bisector_gates(X, 8, seed=0), loss=loss, bias=True,
                             intercept=True)
        total += prog.solve(tol=1e-8).objective
        scores.append(prog.network().predict(X))
    assert_within_its_gap(clf, total)
    np.testing.assert_allclose(clf.decision_function(X), np.stack(scores, axis=1), atol=2e-3)
    assert clf.score(X, labels) > 0.8


def test_softmax_classifier_is_the_joint_program():
    X, y = data(n=30)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    clf = ConvexReLUClassifier(0.8, loss="softmax", patterns=6, tol=1e-8).fit(X, labels)
    prog = sn.ConvexReLU(X, np.eye(3)[labels], 0.8, patterns=bisector_gates(X, 6, seed=0),
                         loss="softmax", bias=True, intercept=True)
    assert_within_its_gap(clf, prog.solve(tol=1e-8).objective)
    assert clf.network_.loss.name == "softmax"


def test_unknown_gates_are_refused_by_name():
    X, y = data()
    with pytest.raises(sn.InvalidInputError, match="gates must be one of"):
        ConvexReLURegressor(0.5, gates="uniform").fit(X, y)


def test_auto_patterns_grow_as_the_program_shrinks():
    """``patterns="auto"`` draws PATTERN_WORK / (n K) gates within AUTO_PATTERNS: the
    estimator's program is the one built with that count."""
    from sdpnets.sklearn.relu import AUTO_PATTERNS, PATTERN_WORK, auto_pattern_count

    low, high = AUTO_PATTERNS
    assert auto_pattern_count(10, 1) == high and auto_pattern_count(10 ** 6, 1) == low
    assert auto_pattern_count(700, 1) == PATTERN_WORK // 700
    assert auto_pattern_count(700, 3) == max(PATTERN_WORK // 2100, low)
    with pytest.raises(sn.InvalidInputError, match="outputs must be >= 1"):
        auto_pattern_count(700, 0)
    X, y = data(n=700)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    for target, K in ((y > np.median(y), 1), (labels, 3)):
        clf = ConvexReLUClassifier(5.0, tol=1e-6).fit(X, target)
        count = auto_pattern_count(700, K)
        same = ConvexReLUClassifier(5.0, tol=1e-6, patterns=count).fit(X, target)
        assert clf.program_.patterns.count == same.program_.patterns.count
        assert clf.program_.patterns.count > 0.9 * count  # few duplicate cells
        assert clf.result_.objective == pytest.approx(same.result_.objective, rel=1e-9)


def test_the_classifier_defaults_to_the_logistic_loss_at_its_own_fraction():
    """``ConvexReLUClassifier()`` trains the logistic program (probabilities that sum to
    one, three classes) at 0.01 of its ``beta_max``; the squared loss keeps 0.03; the
    logistic optimum at that ``beta`` is the program's, solved apart on Clarabel."""
    X, y = data(n=40)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    clf = ConvexReLUClassifier(patterns=6).fit(X, labels)
    assert clf.program_.loss.name == "logistic"
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)
    assert clf.beta_ == pytest.approx(0.01 * clf.beta_max_, rel=1e-12)
    square = ConvexReLUClassifier(patterns=6, loss="squared").fit(X, labels)
    assert square.beta_ == pytest.approx(0.03 * square.beta_max_, rel=1e-12)
    tight = ConvexReLUClassifier(clf.beta_, patterns=6, backend="clarabel", tol=1e-8)
    tight.fit(X, labels)
    assert_within_its_gap(clf, tight.result_.objective)
