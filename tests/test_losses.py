"""Losses: value, cvxpy expression, Fenchel conjugate (checked against a numerical sup) and
dual values (lower bounds on regularized problems)."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.special import expit

import sdpnets as sn
from sdpnets.losses import LOSSES, HingeLoss, LogisticLoss, Loss, SquaredLoss, get_loss

# Per-sample losses written here, independently of sdpnets.
SCALAR_LOSS = {
    "squared": lambda u, y: 0.5 * (u - y) ** 2,
    "logistic": lambda u, y: np.logaddexp(0.0, -y * u),
    "hinge": lambda u, y: max(0.0, 1.0 - y * u),
}


#: The losses that are a sum of per-sample scalar losses (softmax couples the outputs and is
#: tested by its own tests below).
SEPARABLE = [name for name, cls in LOSSES.items() if cls.separable]


def targets(name, rng, n):
    if name == "squared":
        return rng.standard_normal(n)
    return rng.choice([-1.0, 1.0], size=n)


def in_domain_point(name, rng, y):
    """A point ``V`` where the conjugate is finite (for the classification losses
    ``-V y`` must lie in [0, 1]; stay inside so the numerical sup is attained)."""
    if name == "squared":
        return rng.standard_normal(y.shape)
    return -y * rng.uniform(0.05, 0.95, size=y.shape)


def numerical_conjugate(name, V, y, bound=60.0):
    """``sum_i sup_u V_i u - l(u, y_i)`` by bounded 1-D maximization per coordinate."""
    total = 0.0
    for v, yi in zip(V, y):
        lo, hi = (yi + v - bound, yi + v + bound) if name == "squared" else (-bound, bound)
        res = minimize_scalar(
            lambda u: -(v * u - SCALAR_LOSS[name](u, yi)),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-12},
        )
        total += -res.fun
    return total


@pytest.mark.parametrize("name", SEPARABLE)
def test_conjugate_matches_numerical_sup(name):
    rng = np.random.default_rng(hash(name) % 2**32)
    loss = get_loss(name)
    for _ in range(5):
        y = targets(name, rng, 6)
        V = in_domain_point(name, rng, y)
        assert loss.conjugate(V, y) == pytest.approx(numerical_conjugate(name, V, y), abs=1e-7)


@pytest.mark.parametrize("name", ["logistic", "hinge"])
def test_conjugate_is_infinite_outside_its_domain(name):
    rng = np.random.default_rng(1)
    loss = get_loss(name)
    y = targets(name, rng, 5)
    for p in (-0.3, 1.4):  # -V y outside [0, 1]
        V = in_domain_point(name, rng, y)
        V[2] = -y[2] * p
        assert loss.conjugate(V, y) == np.inf
        # the sup really is unbounded: it grows without limit with the search interval
        assert numerical_conjugate(name, V, y, bound=1e4) > numerical_conjugate(name, V, y, bound=1e2) + 10


@pytest.mark.parametrize("name", ["logistic", "hinge"])
def test_conjugate_at_domain_boundary(name):
    y = np.array([1.0, -1.0, 1.0])
    loss = get_loss(name)
    for p in (0.0, 1.0):
        V = -y * p
        # sup of v u - l(u) as the interval grows converges to a finite limit
        approx = numerical_conjugate(name, V, y, bound=60.0)
        assert loss.conjugate(V, y) == pytest.approx(approx, abs=1e-6)


@pytest.mark.parametrize("name", SEPARABLE)
def test_value_and_expression_agree(name):
    rng = np.random.default_rng(3)
    loss = get_loss(name)
    y = targets(name, rng, 7)
    yhat = rng.standard_normal(7)
    own = sum(SCALAR_LOSS[name](u, yi) for u, yi in zip(yhat, y))
    assert loss.value(yhat, y) == pytest.approx(own, rel=1e-12)
    assert float(loss.expr(cp.Constant(yhat), y).value) == pytest.approx(own, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(sorted(SEPARABLE)))
def test_fenchel_young(seed, name):
    """L(u) + L*(V) >= <V, u> everywhere, with equality at V = grad L(u)."""
    rng = np.random.default_rng(seed)
    loss = get_loss(name)
    y = targets(name, rng, 5)
    u = 2 * rng.standard_normal(5)
    V = in_domain_point(name, rng, y)
    assert loss.value(u, y) + loss.conjugate(V, y) >= float(V @ u) - 1e-9
    if name == "squared":
        G = u - y
    elif name == "logistic":
        G = -y * expit(-y * u)
    else:
        return  # hinge: not differentiable everywhere
    assert loss.value(u, y) + loss.conjugate(G, y) == pytest.approx(float(G @ u), abs=1e-9)


# --- dual values are lower bounds ---------------------------------------------------------


def group_lasso_problem(loss, A, y, beta):
    z = cp.Variable(A.shape[1])
    prob = cp.Problem(cp.Minimize(loss.expr(A @ z, y) + beta * cp.norm(z, 2)))
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    assert prob.status == "optimal"
    return z.value, prob.value


@pytest.mark.parametrize("name", SEPARABLE)
def test_dual_value_is_a_lower_bound(name):
    """For min_z L(Az) + beta ||z||_2, every v with ||A^T v|| <= beta gives -L*(-v) <= the
    optimum (and <= the objective of every z)."""
    rng = np.random.default_rng(17)
    loss = get_loss(name)
    n, d = 12, 4
    A = rng.standard_normal((n, d))
    y = targets(name, rng, n)
    beta = 0.5 * np.linalg.norm(A.T @ y)
    z_opt, opt = group_lasso_problem(loss, A, y, beta)
    for _ in range(20):
        # v in the domain of -L*(-.) (v y in [0, 1] for classification), scaled to feasibility
        v = rng.standard_normal(n) if name == "squared" else y * rng.uniform(0, 1, n)
        v *= min(1.0, beta / np.linalg.norm(A.T @ v))
        lower = loss.dual_value(v, y)
        assert lower <= opt + 1e-7 * max(1, abs(opt))
        z = z_opt + 0.3 * rng.standard_normal(d)
        assert lower <= loss.value(A @ z, y) + beta * np.linalg.norm(z) + 1e-9


@pytest.mark.parametrize("name", ["squared", "logistic"])
def test_dual_value_is_tight_at_the_optimum(name):
    """The optimal dual point v* = -grad L(A z*) attains the optimum (strong duality)."""
    rng = np.random.default_rng(23)
    loss = get_loss(name)
    n, d = 12, 4
    A = rng.standard_normal((n, d))
    y = targets(name, rng, n)
    beta = 0.3 * np.linalg.norm(A.T @ y)
    z, opt = group_lasso_problem(loss, A, y, beta)
    u = A @ z
    v = y - u if name == "squared" else y * expit(-y * u)
    assert np.linalg.norm(A.T @ v) <= beta * (1 + 1e-6)
    v *= min(1.0, beta / np.linalg.norm(A.T @ v))
    assert loss.dual_value(v, y) == pytest.approx(opt, rel=1e-6)


def test_squared_dual_value_formula():
    rng = np.random.default_rng(2)
    y, v = rng.standard_normal(6), rng.standard_normal(6)
    expected = -0.5 * np.sum((v - y) ** 2) + 0.5 * np.sum(y**2)
    assert SquaredLoss().dual_value(v, y) == pytest.approx(expected, rel=1e-12)


# --- lookup and targets ------------------------------------------------------------------------


def test_get_loss():
    assert isinstance(get_loss("squared"), SquaredLoss)
    assert isinstance(get_loss("logistic"), LogisticLoss)
    assert isinstance(get_loss("hinge"), HingeLoss)
    inst = HingeLoss()
    assert get_loss(inst) is inst
    for bad in ("l1", None, 3, "Squared"):
        with pytest.raises(sn.InvalidInputError, match="loss must be one of") as info:
            get_loss(bad)
        assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", ["logistic", "hinge"])
def test_classification_losses_require_pm1_labels(name):
    loss = get_loss(name)
    ok = np.array([1.0, -1.0, 1.0])
    assert loss.check_targets(ok) is ok
    for bad in (np.array([0.0, 1.0, 1.0]), np.array([1.0, 2.0, -1.0]), np.array([0.5, -1, 1])):
        with pytest.raises(sn.InvalidInputError, match=r"\{-1, \+1\}"):
            loss.check_targets(bad)
    assert SquaredLoss().check_targets(np.array([0.3, 2.0])) is not None


# --- the calculus each loss carries ------------------------------------------------------------


@pytest.mark.parametrize("name", ["squared", "logistic"])
def test_dual_point_is_minus_the_gradient(name):
    """Against central finite differences of the loss (the smooth losses)."""
    rng = np.random.default_rng(3)
    loss = get_loss(name)
    y, yhat = targets(name, rng, 7), rng.standard_normal(7)
    h = 1e-6
    fd = np.array([(loss.value(yhat + h * e, y) - loss.value(yhat - h * e, y)) / (2 * h)
                   for e in np.eye(7)])
    np.testing.assert_allclose(-loss.dual_point(yhat, y), fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(loss.gradient(yhat, y), -loss.dual_point(yhat, y))


def test_hinge_dual_point_is_in_the_subdifferential():
    y = np.array([1.0, -1.0, 1.0, -1.0])
    yhat = np.array([0.2, 0.5, 1.0, -3.0])  # margins 0.2, -0.5, 1 (kink), 3
    v = HingeLoss().dual_point(yhat, y)
    np.testing.assert_array_equal(v * y, [1.0, 1.0, 0.5, 0.0])


@pytest.mark.parametrize("name", ["squared", "logistic", "hinge"])
def test_prox_minimizes_the_prox_objective(name):
    """Elementwise, against a bounded 1-D search of L(p) + rho/2 (p - c)^2."""
    rng = np.random.default_rng(4)
    loss = get_loss(name)
    y, c = targets(name, rng, 6), 2.0 * rng.standard_normal(6)
    for rho in (0.3, 5.0):
        p = loss.prox(c, y, rho)
        for i in range(6):
            def objective(q, i=i):
                return SCALAR_LOSS[name](q, y[i]) + 0.5 * rho * (q - c[i]) ** 2
            ref = minimize_scalar(objective, bounds=(c[i] - 10, c[i] + 10), method="bounded",
                                  options={"xatol": 1e-12})
            assert objective(p[i]) <= ref.fun + 1e-9


@pytest.mark.parametrize("name", ["squared", "logistic", "hinge"])
def test_best_dual_scale_beats_every_feasible_scale(name):
    """The scale maximizes -L*(-s v) among 0 <= s <= beta / dual_norm (a grid check)."""
    rng = np.random.default_rng(5)
    loss = get_loss(name)
    y = targets(name, rng, 8)
    v = loss.into_domain(loss.dual_point(rng.standard_normal(8), y), y)
    for dual_norm, beta in ((2.0, 1.0), (0.5, 1.0)):
        s = loss.best_dual_scale(v, y, dual_norm, beta)
        top = beta / dual_norm if not loss.classification else min(1.0, beta / dual_norm)
        assert 0.0 <= s <= top * (1 + 1e-12)
        best = loss.dual_value(s * v, y)
        assert all(loss.dual_value(t * v, y) <= best + 1e-9 for t in np.linspace(0, top, 201))
        assert loss.scaled_dual_value(v, y, dual_norm, beta) == (best, s)


@pytest.mark.parametrize("offset", [False, True])
def test_logistic_dual_scale_is_the_root_of_the_dual_slope(offset):
    """The logistic scale (a root of D'(s) by Brent's method) is within round-off of a
    bounded 1-D search of the dual value at every scale of predictions, interior maxima and
    the end of the feasible range alike; with the intercept's balanced dual points too."""
    rng = np.random.default_rng(12)
    loss = get_loss("logistic")
    loss = loss.at_best_offset() if offset else loss
    for scale, dual_norm in ((0.1, 3.0), (1.0, 40.0), (5.0, 400.0), (1.0, 1.0)):
        y = np.where(rng.random(200) < 0.3, 1.0, -1.0)
        v = loss.dual_point(scale * rng.standard_normal(200), y)
        top = min(1.0, 10.0 / dual_norm)
        s = loss.best_dual_scale(v, y, dual_norm, 10.0)
        assert 0.0 <= s <= top
        ref = minimize_scalar(lambda t: -loss.dual_value(t * v, y), bounds=(0.0, top),
                              method="bounded", options={"xatol": 1e-14})
        best = max(loss.dual_value(ref.x * v, y), loss.dual_value(top * v, y))
        assert loss.dual_value(s * v, y) >= best - 1e-12 * max(1.0, abs(best))


class _OwnLoss(Loss):
    """A user's loss with a value, a cvxpy expression and a conjugate only."""

    name = "own"

    def value(self, yhat, y):
        return SquaredLoss().value(yhat, y)

    def expr(self, yhat, y):
        return SquaredLoss().expr(yhat, y)

    def conjugate(self, V, y):
        return SquaredLoss().conjugate(V, y)


def test_a_loss_without_its_calculus_is_refused_the_same_way_everywhere():
    loss, y = _OwnLoss(), np.ones(3)
    for call in (lambda: loss.dual_point(y, y), lambda: loss.gradient(y, y),
                 lambda: loss.prox(y, y, 1.0), lambda: loss.best_dual_scale(y, y, 1.0, 1.0)):
        with pytest.raises(sn.InvalidInputError, match=r"the loss _OwnLoss\(\) has no"):
            call()
    rng = np.random.default_rng(6)
    X, t = rng.standard_normal((10, 2)), rng.standard_normal(10)
    with pytest.raises(sn.InvalidInputError, match=r"the loss _OwnLoss\(\) has no gradient"):
        sn.ConvexReLU(X, t, 0.5, patterns=4, loss=loss).beta_max()
    with pytest.raises(sn.InvalidInputError, match=r"the loss _OwnLoss\(\) has no"):
        sn.ConvexGatedReLU(X, t, 0.5, patterns=4, loss=loss).solve(backend="firstorder")


# --- the unpenalized offset (intercept) --------------------------------------------------------


@pytest.mark.parametrize("name", ["squared", "logistic", "hinge"])
def test_optimal_offset_minimizes_the_loss_over_constants(name):
    """Against a dense grid and a bounded 1-D search of L(yhat + c) over c, per column."""
    rng = np.random.default_rng(8)
    loss = get_loss(name)
    y, yhat = targets(name, rng, 30), rng.standard_normal(30)
    c = float(loss.optimal_offset(yhat, y))
    ref = minimize_scalar(lambda t: loss.value(yhat + t, y), bounds=(-10, 10), method="bounded",
                          options={"xatol": 1e-12})
    grid = min(loss.value(yhat + t, y) for t in np.linspace(-10, 10, 20001))
    assert loss.value(yhat + c, y) <= min(ref.fun, grid) + 1e-10
    # columns of an (n, K) target are independent
    Y, F = np.c_[y, y[::-1]], np.c_[yhat, -yhat]
    cs = loss.optimal_offset(F, Y)
    assert cs.shape == (2,)
    for k in range(2):
        assert loss.value(F[:, k] + cs[k], Y[:, k]) <= loss.value(F[:, k] + float(
            loss.optimal_offset(F[:, k], Y[:, k])), Y[:, k]) + 1e-12


@pytest.mark.parametrize("scale", [1e-3, 0.1, 1.0, 30.0])
def test_logistic_offset_is_the_root_of_its_gradient(scale):
    """The Newton root solves sum_i y_i sigma(-y_i(f_i + c)) = 0 to round-off at every scale
    of the predictions (near zero, where the old bracket test bisected after convergence),
    with unbalanced labels; with one label only, the loss decreases towards the end
    returned."""
    rng = np.random.default_rng(3)
    loss = get_loss("logistic")
    y = np.where(rng.random(500) < 0.1, 1.0, -1.0)
    f = scale * rng.standard_normal(500)
    c = float(loss.optimal_offset(f, y))
    grad = -np.sum(y / (1.0 + np.exp(y * (f + c))))
    assert abs(grad) <= 1e-12 * y.size
    assert loss.value(f + c, y) <= min(loss.value(f + c + t, y) for t in (-1e-6, 1e-6))
    for label in (1.0, -1.0):
        ones = np.full(50, label)
        c = float(loss.optimal_offset(f[:50], ones))
        assert label * c >= 40.0  # far out, on the side where every margin grows
        assert loss.value(f[:50] + c, ones) < loss.value(f[:50] + c - label, ones)


@pytest.mark.parametrize("name", list(LOSSES))
def test_centered_dual_points_sum_to_zero_and_stay_in_the_domain(name):
    """The dual of a program with an unpenalized offset asks 1^T v = 0; a centered point must
    keep a finite dual value (inside the domain), and at the optimal offset the natural dual
    point is centered already (the offset's optimality condition)."""
    rng = np.random.default_rng(9)
    loss = get_loss(name)
    if name == "softmax":
        Y = np.eye(3)[rng.integers(0, 3, 25)]
        F = rng.standard_normal((25, 3))
    else:
        Y, F = targets(name, rng, 25), rng.standard_normal(25)
    v = loss.centered(loss.dual_point(F, Y), Y)
    np.testing.assert_allclose(v.sum(axis=0), 0.0, atol=1e-10)
    assert np.isfinite(loss.dual_value(v, Y))
    if name != "hinge":  # smooth losses: grad_c L(F + c*) = 0 is -1^T v = 0
        c = loss.optimal_offset(F, Y)
        np.testing.assert_allclose(loss.dual_point(F + c, Y).sum(axis=0), 0.0, atol=1e-8)


# --- softmax cross-entropy ---------------------------------------------------------------------


def _softmax_rows(rng, n=6, K=3):
    return np.eye(K)[rng.integers(0, K, n)], rng.standard_normal((n, K))


def test_softmax_value_expression_and_gradient():
    """The value against its definition written here, the cvxpy expression, and the dual
    point against central finite differences."""
    rng = np.random.default_rng(10)
    loss = get_loss("softmax")
    Y, F = _softmax_rows(rng)
    own = sum(np.log(np.exp(f).sum()) - f @ y for f, y in zip(F, Y))
    assert loss.value(F, Y) == pytest.approx(own, rel=1e-12)
    assert float(loss.expr(cp.Constant(F), Y).value) == pytest.approx(own, rel=1e-9)
    h, fd = 1e-6, np.zeros_like(F)
    for i in range(F.shape[0]):
        for k in range(F.shape[1]):
            E = np.zeros_like(F)
            E[i, k] = h
            fd[i, k] = (loss.value(F + E, Y) - loss.value(F - E, Y)) / (2 * h)
    np.testing.assert_allclose(-loss.dual_point(F, Y), fd, rtol=1e-6, atol=1e-8)


def test_softmax_conjugate_fenchel_young_and_domain():
    """L(U) + L*(V) >= <V, U> for V in the domain (rows of V + Y in the simplex), with
    equality at V = grad L(U); the conjugate against a numerical sup; infinite outside."""
    rng = np.random.default_rng(11)
    loss = get_loss("softmax")
    Y, U = _softmax_rows(rng)
    for _ in range(5):
        P = rng.dirichlet(np.ones(3), size=Y.shape[0])
        V = P - Y
        assert loss.value(U, Y) + loss.conjugate(V, Y) >= float(np.sum(V * U)) - 1e-9
        # sup_U <V, U> - L(U), row by row (a concave maximization)
        from scipy.optimize import minimize
        sup = 0.0
        for i in range(Y.shape[0]):
            res = minimize(lambda u, i=i: -(V[i] @ u - (np.log(np.exp(u).sum()) - Y[i] @ u)),
                           np.zeros(3), method="BFGS", options={"gtol": 1e-12})
            sup += -res.fun
        assert loss.conjugate(V, Y) == pytest.approx(sup, abs=1e-6)
    G = loss.gradient(U, Y)
    assert loss.value(U, Y) + loss.conjugate(G, Y) == pytest.approx(float(np.sum(G * U)), abs=1e-9)
    bad = -Y + 0.5  # rows of V + Y sum to 1.5: outside the simplex
    assert loss.conjugate(bad, Y) == np.inf
    with pytest.raises(sn.InvalidInputError, match="one-hot"):
        loss.check_targets(np.array([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(sn.InvalidInputError, match=r"\(n, K\)"):
        loss.check_targets(np.array([1.0, 0.0]))


def test_softmax_dual_value_is_a_lower_bound_and_tight():
    """For min_Z L(AZ) + beta sum_k ||z_k||, every V with max_k ||A^T v_k|| <= beta gives
    -L*(-V) <= the optimum; the optimal V (scaled by best_dual_scale) attains it; the best
    offset for fixed predictions beats every constant shift."""
    rng = np.random.default_rng(12)
    loss = get_loss("softmax")
    n, d, K = 15, 3, 3
    A = rng.standard_normal((n, d))
    Y = np.eye(K)[rng.integers(0, K, n)]
    beta = 2.0
    Z = cp.Variable((d, K))
    prob = cp.Problem(cp.Minimize(loss.expr(A @ Z, Y) + beta * cp.sum(cp.norm(Z, 2, axis=0))))
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    opt = prob.value
    for _ in range(10):
        V = loss.into_domain(loss.dual_point(rng.standard_normal((n, K)), Y), Y)
        N = max(np.linalg.norm(A.T @ V, axis=0))
        value, s = loss.scaled_dual_value(V, Y, N, beta)
        assert s * N <= beta * (1 + 1e-12)
        assert value <= opt + 1e-7
    V = loss.dual_point(A @ Z.value, Y)
    value, _ = loss.scaled_dual_value(V, Y, max(np.linalg.norm(A.T @ V, axis=0)), beta)
    assert value == pytest.approx(opt, rel=1e-6)
    F = A @ Z.value
    c = loss.optimal_offset(F, Y)
    for _ in range(20):
        assert loss.value(F + c, Y) <= loss.value(F + c + 0.1 * rng.standard_normal(K), Y)


# -- the squared loss at the best offset (an unpenalized intercept eliminated) ---------------

def _best_offset_value(yhat, y):
    """min_c 1/2 ||yhat + c - y||^2 by a 1-D search, independently of the closed form."""
    res = minimize_scalar(lambda c: 0.5 * float(np.sum((yhat + c - y) ** 2)),
                          bounds=(-50.0, 50.0), method="bounded", options={"xatol": 1e-12})
    return res.fun


def test_centered_squared_loss_is_the_squared_loss_at_the_best_offset():
    """Value = the minimum over constant shifts; its expression agrees; its dual point is
    minus the gradient (finite differences) and sums to zero."""
    from sdpnets.losses import CenteredSquaredLoss

    rng = np.random.default_rng(11)
    loss = CenteredSquaredLoss()
    y, yhat = 3.0 + rng.standard_normal(7), rng.standard_normal(7)
    assert loss.value(yhat, y) == pytest.approx(_best_offset_value(yhat, y), rel=1e-9)
    assert loss.value(yhat, y) <= SquaredLoss().value(yhat, y)
    assert float(loss.expr(cp.Constant(yhat), y).value) == pytest.approx(loss.value(yhat, y))
    v = loss.dual_point(yhat, y)
    assert abs(v.sum()) <= 1e-12 * np.abs(v).sum()
    eps, e = 1e-6, np.eye(7)
    fd = [(loss.value(yhat + eps * e[i], y) - loss.value(yhat - eps * e[i], y)) / (2 * eps)
          for i in range(7)]
    np.testing.assert_allclose(-v, fd, atol=1e-6)


def test_centered_squared_loss_conjugate_prox_and_dual_scale():
    """The conjugate is the squared loss's on 1^T v = 0 and infinite off it (Fenchel-Young
    holds with equality at the dual point); the prox minimizes its objective (a cvxpy
    solve); the best dual scale is the best of a fine grid of feasible scales."""
    from sdpnets.losses import CenteredSquaredLoss

    rng = np.random.default_rng(12)
    loss = CenteredSquaredLoss()
    y, yhat = rng.standard_normal(6) - 2.0, rng.standard_normal(6)
    v = loss.dual_point(yhat, y)
    # L(yhat) + L*(-v) = <yhat, -v> at the dual point of yhat
    assert loss.value(yhat, y) + loss.conjugate(-v, y) == pytest.approx(float(yhat @ -v),
                                                                          abs=1e-10)
    assert loss.conjugate(v + 0.1, y) == np.inf
    for V in (rng.standard_normal(6) for _ in range(5)):
        V = V - V.mean()
        for u in (rng.standard_normal(6) for _ in range(5)):  # Fenchel-Young inequality
            assert float(V @ u) <= loss.value(u, y) + loss.conjugate(V, y) + 1e-10
    c = 4.0 * rng.standard_normal(6)
    for rho in (0.2, 7.0):
        p = cp.Variable(6)
        r = p - y
        cp.Problem(cp.Minimize(0.5 * cp.sum_squares(r - cp.sum(r) / 6)
                               + 0.5 * rho * cp.sum_squares(p - c))).solve(solver=cp.CLARABEL)
        np.testing.assert_allclose(loss.prox(c, y, rho), p.value, atol=1e-6)
    dual_norm, beta = 3.0, 0.9
    s = loss.best_dual_scale(v, y, dual_norm, beta)
    assert 0.0 <= s <= beta / dual_norm + 1e-15
    grid = np.linspace(0.0, beta / dual_norm, 2001)
    assert loss.dual_value(s * v, y) >= max(loss.dual_value(t * v, y) for t in grid) - 1e-12


def test_logistic_loss_at_the_best_offset():
    """Value = the minimum of the logistic loss over constant shifts (a bounded scalar
    search); its dual point is minus the gradient (finite differences), balanced
    (1^T v = 0) and in the logistic domain; Fenchel-Young holds with equality there and as an
    inequality at balanced points, the conjugate is infinite off 1^T v = 0; the cvxpy
    expression (an offset variable) has the same minimum; no elementwise prox."""
    from sdpnets.losses import LogisticAtBestOffset

    rng = np.random.default_rng(13)
    loss, base = LogisticAtBestOffset(), LogisticLoss()
    y = np.where(rng.standard_normal(9) > 0.4, 1.0, -1.0)
    yhat = 2.0 * rng.standard_normal(9)
    best = minimize_scalar(lambda c: base.value(yhat + c, y), bounds=(-30, 30),
                           method="bounded", options={"xatol": 1e-12}).fun
    assert loss.value(yhat, y) == pytest.approx(best, rel=1e-9)
    cvx = cp.Problem(cp.Minimize(loss.expr(cp.Constant(yhat), y))).solve(solver=cp.CLARABEL)
    assert cvx == pytest.approx(best, rel=1e-6)
    v = loss.dual_point(yhat, y)
    assert abs(v.sum()) <= 1e-12 and np.all((v * y >= 0) & (v * y <= 1))
    eps, e = 1e-6, np.eye(9)
    fd = [(loss.value(yhat + eps * e[i], y) - loss.value(yhat - eps * e[i], y)) / (2 * eps)
          for i in range(9)]
    np.testing.assert_allclose(-v, fd, atol=1e-6)
    assert loss.value(yhat, y) + loss.conjugate(-v, y) == pytest.approx(float(yhat @ -v),
                                                                          abs=1e-9)
    assert loss.conjugate(-(v + 0.01), y) == np.inf
    for _ in range(5):  # Fenchel-Young at balanced points of the domain
        V = loss.into_domain(y * rng.uniform(0, 1, 9), y)
        u = 3.0 * rng.standard_normal(9)
        assert float(-V @ u) <= loss.value(u, y) + loss.conjugate(-V, y) + 1e-10
    with pytest.raises(sn.InvalidInputError, match="prox"):
        loss.prox(yhat, y, 1.0)
    assert base.has_prox() and not loss.has_prox()
    # the second-order pieces: the value, the dual point, and a Hessian W - ww^T/1^Tw that
    # matches finite differences of the gradient
    value, v2, w = loss.second_order(yhat, y)
    assert value == pytest.approx(loss.value(yhat, y), rel=1e-12)
    np.testing.assert_allclose(v2, v, atol=1e-14)
    H = np.diag(w) - np.outer(w, w) / w.sum()
    fd_H = np.column_stack([(loss.dual_point(yhat - eps * e[i], y)
                             - loss.dual_point(yhat + eps * e[i], y)) / (2 * eps)
                            for i in range(9)])
    np.testing.assert_allclose(H, fd_H, atol=1e-6)
