"""Every bad input is rejected with a message naming the argument, before any solver runs."""

from __future__ import annotations

import re

import cvxpy as cp
import numpy as np
import pytest

import sdpnets as sn
from sdpnets.backends.base import Backend

N, D, K = 8, 3, 2


@pytest.fixture
def no_solver(monkeypatch):
    """Fail loudly if any solver is reached."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a solver ran before the input was rejected")

    monkeypatch.setattr(Backend, "solve", forbidden)
    monkeypatch.setattr(cp.Problem, "solve", forbidden)


def good():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, D)), rng.standard_normal((N, K))


def with_value(a, index, value):
    a = np.array(a, dtype=float)
    a[index] = value
    return a


X0, Y0 = good()

BAD_CONSTRUCTOR_ARGS = [
    # X
    ({"X": with_value(X0, (1, 1), np.nan)}, "X contains NaN or infinite"),
    ({"X": with_value(X0, (0, 2), np.inf)}, "X contains NaN or infinite"),
    ({"X": with_value(X0, (0, 2), -np.inf)}, "X contains NaN or infinite"),
    ({"X": X0[:, 0]}, "X must be 2-D"),
    ({"X": X0[:, :, None]}, "X must be 2-D"),
    ({"X": X0 > 0}, "X must hold real numbers"),
    ({"X": X0.astype(str)}, "X must hold real numbers"),
    ({"X": X0.astype(object)}, "X must hold real numbers"),
    ({"X": X0.astype(complex)}, "X must hold real numbers"),
    ({"X": "not an array"}, "X must be a numeric array"),
    ({"X": None}, "X must be a numeric array"),
    ({"X": [[1.0, 2.0], [3.0]]}, "X must be a numeric array"),
    ({"X": np.zeros((0, D)), "Y": np.zeros((0, K))}, "X must not be empty"),
    # Y
    ({"Y": with_value(Y0, (2, 0), np.nan)}, "Y contains NaN or infinite"),
    ({"Y": with_value(Y0, (2, 1), np.inf)}, "Y contains NaN or infinite"),
    ({"Y": Y0[:, :, None]}, "Y must be 1-D or 2-D"),
    ({"Y": Y0[:-1]}, f"Y must have one row per sample of X ({N})"),
    ({"Y": Y0 > 0}, "Y must hold real numbers"),
    ({"Y": Y0.astype(str)}, "Y must hold real numbers"),
    ({"Y": Y0.astype(object)}, "Y must hold real numbers"),
    ({"Y": None}, "Y must be a numeric array"),
    # beta
    ({"beta": 0.0}, "beta must be a finite number > 0"),
    ({"beta": -1.0}, "beta must be a finite number > 0"),
    ({"beta": np.nan}, "beta must be a finite number > 0"),
    ({"beta": np.inf}, "beta must be a finite number > 0"),
    ({"beta": True}, "beta must be a positive real number"),
    ({"beta": np.True_}, "beta must be a positive real number"),
    ({"beta": "1.0"}, "beta must be a positive real number"),
    ({"beta": None}, "beta must be a positive real number"),
    ({"beta": [1.0]}, "beta must be a positive real number"),
    # depth
    ({"depth": 1}, "depth must be >= 2"),
    ({"depth": 0}, "depth must be >= 2"),
    ({"depth": -3}, "depth must be >= 2"),
    ({"depth": 2.0}, "depth must be an integer"),
    ({"depth": "3"}, "depth must be an integer"),
    ({"depth": True}, "depth must be an integer"),
    ({"depth": None}, "depth must be an integer"),
    # hidden
    ({"hidden": "relu"}, "hidden must be one of"),
    ({"hidden": None}, "hidden must be one of"),
    ({"hidden": "Spectral"}, "hidden must be one of"),
    # rank_tol
    ({"rank_tol": -0.1}, "rank_tol must be a number in"),
    ({"rank_tol": 1.0}, "rank_tol must be a number in"),
    ({"rank_tol": "small"}, "rank_tol must be a number in"),
]


@pytest.mark.parametrize(
    "kwargs,message", BAD_CONSTRUCTOR_ARGS, ids=[f"{list(k)[0]}-{i}" for i, (k, _) in enumerate(BAD_CONSTRUCTOR_ARGS)]
)
def test_bad_constructor_arguments(no_solver, kwargs, message):
    args = {"X": X0, "Y": Y0, "beta": 1.0}
    args.update(kwargs)
    with pytest.raises(sn.InvalidInputError, match=re.escape(message)) as info:
        prog = sn.ConvexLinearFC(**args)
        prog.solve()  # must not get here
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, sn.SdpnetsError)


def test_good_inputs_of_other_types_are_accepted():
    X, Y = good()
    prog = sn.ConvexLinearFC(X.tolist(), Y.tolist(), np.float32(0.5), depth=np.int64(2))
    assert prog.X.dtype == np.float64 and prog.beta == 0.5
    assert sn.ConvexLinearFC(X.astype(int), Y, 2).X.dtype == np.float64


def test_rank_tol_accepts_numpy_floats():
    """beta accepts NumPy scalars; rank_tol should too."""
    X, Y = good()
    assert sn.ConvexLinearFC(X, Y, 1.0, rank_tol=np.float32(1e-6)).rank_tol == pytest.approx(1e-6)


BAD_SOLVE_ARGS = [
    ({"tol": 0}, "tol must be a number with 0 < tol < 1"),
    ({"tol": -1e-8}, "tol must be a number with 0 < tol < 1"),
    ({"tol": np.nan}, "tol must be a number with 0 < tol < 1"),
    ({"tol": np.inf}, "tol must be a number with 0 < tol < 1"),
    ({"tol": "1e-8"}, "tol must be a number with 0 < tol < 1"),
    ({"tol": True}, "tol must be a number with 0 < tol < 1"),
    ({"tol": None}, "tol must be a number with 0 < tol < 1"),
    ({"max_iters": 0}, "max_iters must be None or an integer >= 1"),
    ({"max_iters": -5}, "max_iters must be None or an integer >= 1"),
    ({"max_iters": 2.5}, "max_iters must be None or an integer >= 1"),
    ({"max_iters": 10.0}, "max_iters must be None or an integer >= 1"),
    ({"max_iters": "10"}, "max_iters must be None or an integer >= 1"),
    ({"max_iters": True}, "max_iters must be None or an integer >= 1"),
    ({"time_limit": 0}, "time_limit must be None or a number > 0"),
    ({"time_limit": -1.0}, "time_limit must be None or a number > 0"),
    ({"time_limit": np.nan}, "time_limit must be None or a number > 0"),
    ({"time_limit": "1"}, "time_limit must be None or a number > 0"),
    ({"time_limit": True}, "time_limit must be None or a number > 0"),
]


@pytest.mark.parametrize("variant", ["nuclear", "l2", "ridge_path", "spectral"])
@pytest.mark.parametrize("kwargs,message", BAD_SOLVE_ARGS)
def test_bad_solve_options(no_solver, variant, kwargs, message):
    X, Y = good()
    prog = {
        "nuclear": lambda: sn.ConvexLinearFC(X, Y, 1.0),
        "l2": lambda: sn.ConvexLinearFC(X, Y[:, 0], 1.0),
        "ridge_path": lambda: sn.ConvexLinearFC(X, Y[:, 0], 1.0, depth=3),
        "spectral": lambda: sn.ConvexLinearFC(X, Y, 1.0, depth=3, hidden="spectral"),
    }[variant]()
    with pytest.raises(sn.InvalidInputError, match=re.escape(message)) as info:
        prog.solve(**kwargs)
    assert isinstance(info.value, ValueError)
    assert prog.result is None


def test_unknown_backend_rejected_before_solving(no_solver):
    X, Y = good()
    with pytest.raises(sn.UnknownBackendError, match="backend must be one of") as info:
        sn.ConvexLinearFC(X, Y, 1.0).solve(backend="cplex")
    assert isinstance(info.value, ValueError)
    for name in sn.available_backends():
        assert name in str(info.value)


def test_ridge_path_rejects_conic_backend_and_solver_options(no_solver):
    X, Y = good()
    prog = sn.ConvexLinearFC(X, Y[:, 0], 1.0, depth=3)
    with pytest.raises(sn.InvalidInputError, match="ridge-path"):
        prog.solve(backend="clarabel")
    with pytest.raises(sn.InvalidInputError, match="do not apply"):
        prog.solve(eps_abs=1e-3)


def test_beta_setter_and_path_validate(no_solver):
    X, Y = good()
    prog = sn.ConvexLinearFC(X, Y, 1.0)
    for bad in (0.0, -2.0, np.nan, "x", True):
        with pytest.raises(sn.InvalidInputError, match="beta"):
            prog.beta = bad
        assert prog.beta == 1.0
    with pytest.raises(sn.InvalidInputError, match="beta"):
        prog.path([1.0, 0.5, -1.0])  # rejected before the first solve
    assert prog.result is None


# --- non-convex combinations ------------------------------------------------------------------


@pytest.mark.parametrize("depth", [3, 4, 6])
def test_deep_weight_decay_vector_output_is_refused(no_solver, depth):
    X, Y = good()
    with pytest.raises(sn.NonConvexFormulationError) as info:
        sn.ConvexLinearFC(X, Y, 1.0, depth=depth)
    msg = str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, sn.SdpnetsError)
    assert "not convex" in msg
    # names the convex variants
    assert "depth=2" in msg and "hidden='spectral'" in msg and "scalar output" in msg


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("output", ["vector", "scalar"])
def test_frobenius_hidden_is_refused(no_solver, depth, output):
    X, Y = good()
    Y = Y if output == "vector" else Y[:, 0]
    with pytest.raises(sn.NonConvexFormulationError) as info:
        sn.ConvexLinearFC(X, Y, 1.0, depth=depth, hidden="frobenius")
    msg = str(info.value)
    assert "frobenius" in msg and "not convex" in msg
    assert "depth=2" in msg and "hidden='spectral'" in msg


def test_deep_weight_decay_with_single_output_column_is_allowed():
    X, Y = good()
    prog = sn.ConvexLinearFC(X, Y[:, :1], 1.0, depth=3)
    assert prog.variant == "ridge_path"
    assert prog.solve().status == "optimal"
    assert prog.network().predict(X).shape == (N, 1)


# --- other entry points -------------------------------------------------------------------------


def test_certify_validates(no_solver):
    X, Y = good()
    net = sn.LinearFC([np.ones((D, 2)), np.ones((2, K))])
    with pytest.raises(sn.InvalidInputError, match="beta"):
        sn.certify(net, X, Y, -1.0)
    with pytest.raises(sn.InvalidInputError, match="X contains NaN"):
        sn.certify(net, with_value(X, (0, 0), np.nan), Y, 1.0)
    with pytest.raises(sn.InvalidInputError, match="one row per sample"):
        sn.certify(net, X, Y[:-1], 1.0)


def test_beta_max_validates(no_solver):
    X, Y = good()
    with pytest.raises(sn.InvalidInputError, match="family must be one of") as info:
        sn.beta_max(X, Y, family="transformer")
    assert "linear_fc" in str(info.value)
    with pytest.raises(sn.InvalidInputError, match="y contains NaN"):  # public name: y
        sn.beta_max(X, with_value(Y, (0, 0), np.inf), family="linear_fc")


def test_linear_fc_network_validates():
    with pytest.raises(sn.InvalidInputError, match="do not chain"):
        sn.LinearFC([np.ones((3, 2)), np.ones((3, 2))])
    with pytest.raises(sn.InvalidInputError, match="hidden"):
        sn.LinearFC([np.ones((3, 2))], hidden="frobenius")
    net = sn.LinearFC([np.ones((3, 2)), np.ones((2, 1))])
    with pytest.raises(sn.InvalidInputError, match="3 columns"):
        net.predict(np.ones((4, 5)))
    with pytest.raises(sn.InvalidInputError, match="beta"):
        net.objective(np.ones((4, 3)), np.ones(4), 0.0)


@pytest.mark.parametrize("weights,message", [
    ([np.ones((3, 2, 2))], "weights[0] must be 2-D"),
    ([np.ones((3, 2)), np.ones(2)], "weights[1] must be 2-D"),
    ([np.array([[np.nan, 1.0]])], "weights[0] contains NaN or infinite"),
    ([np.ones((3, 2)), np.ones((2, 1), dtype=complex)], "weights[1] must hold real numbers"),
    ([], "weights must hold at least one layer"),
])
def test_linear_fc_weights_are_finite_2d_real_arrays(weights, message):
    with pytest.raises(sn.InvalidInputError, match=re.escape(message)):
        sn.LinearFC(weights)


# --- the validating copy: one pass that copies and checks ---------------------------------

@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_every_non_finite_entry_is_found_wherever_it_is(where, bad):
    """The copy is checked block by block: a NaN or an infinity in any block, the last
    (partial) one included, is refused with the argument's name."""
    from sdpnets._validate import CHECK_BLOCK, check_array

    X = np.ones((3 * CHECK_BLOCK // 100 + 7, 100))
    index = {"first": 0, "middle": X.size // 2, "last": X.size - 1}[where]
    X.flat[index] = bad
    with pytest.raises(sn.InvalidInputError, match="X contains NaN or infinite values"):
        check_array(X, "X")
    with pytest.raises(sn.InvalidInputError, match="X contains NaN"):
        sn.ConvexLinearFC(X, np.ones(X.shape[0]), 1.0)


@pytest.mark.parametrize("layout", ["C", "F", "strided", "int", "float32"])
def test_the_validated_copy_is_private_and_exact(layout):
    """Whatever the input's memory layout or dtype, the result is a private float64 copy
    with the same values, and its largest magnitude is checked."""
    from sdpnets._validate import MAX_MAGNITUDE, check_array

    rng = np.random.default_rng(0)
    base = rng.standard_normal((700, 130))
    X = {"C": base, "F": np.asfortranarray(base), "strided": base[::2, ::3],
         "int": (100 * base).astype(np.int64), "float32": base.astype(np.float32)}[layout]
    out = check_array(X, "X")
    assert out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, np.asarray(X, dtype=np.float64))
    assert not np.shares_memory(out, X)
    big = np.array(X, dtype=np.float64)
    big.flat[-1] = -2 * MAX_MAGNITUDE
    with pytest.raises(sn.InvalidInputError, match="entries as large as"):
        check_array(big, "X")


def test_the_circular_cnn_validates_its_data_once(monkeypatch):
    """One validating copy per argument: the signals are a view of the checked input."""
    import sdpnets._validate as validate

    calls = []
    original = validate._finite_copy
    monkeypatch.setattr(validate, "_finite_copy", lambda a: calls.append(a.shape) or original(a))
    X = np.random.default_rng(0).standard_normal((30, 1, 8))
    prog = sn.ConvexCircularCNN(X, X[:, 0, 1], 1.0)
    assert calls == [(30, 1, 8), (30,)]
    assert np.shares_memory(prog.signals, prog._X_input)
