"""Hostile input, drawn by hypothesis, against every public entry point (issue 12).

Each test keeps every argument of one call valid except one, which hypothesis replaces by a
hostile value (wrong type, shape, dtype, NaN/inf, huge or tiny magnitude, out of range).
The contract: either a typed error (``SdpnetsError``, ``ValueError`` or ``TypeError``) whose
message names the corrupted argument, raised before any solver runs; or, when the value was
acceptable after all, a finite, honest result. Anything else (an ``OverflowError``,
``MemoryError``, a NaN bound, an unverified "optimal") fails.

Budget: ``MAX_EXAMPLES`` examples per test, tiny problems, no deadline.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdpnets as sn
from sdpnets.backends.base import Backend
from sdpnets.features.patches import extract_patches
from sdpnets.results import STATUSES

MAX_EXAMPLES = 30
HOSTILE = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

RNG = np.random.default_rng(0)
X8 = RNG.standard_normal((8, 3))
Y8 = X8 @ RNG.standard_normal(3) + 0.1 * RNG.standard_normal(8)
S8 = RNG.standard_normal((8, 6))

#: Scalars of every kind a careless or hostile caller may pass.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e-300, 1e300, 10**20, 2**32, "1", "x", "", b"1", 1j,
                     [1], (2, 2), {"a": 1}, np.float32(np.nan), np.int64(-5)]),
)

magnitudes = st.sampled_from([0.0, 1e-300, 1e-8, 1.0, 1e8, 1e49, 1e60, 1e308])
dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128, object])


@st.composite
def arrays(draw, max_dims=4, max_side=6):
    """An array of any small shape (empty ones included), dtype and magnitude, sometimes
    with a NaN or an inf."""
    ndim = draw(st.integers(0, max_dims))
    shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=ndim, max_size=ndim)))
    a = draw(magnitudes) * np.random.default_rng(draw(st.integers(0, 9))).standard_normal(shape)
    if a.size and draw(st.booleans()):
        a.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e308]))
    dtype = draw(dtypes)
    if dtype is object:
        return a.astype(object) if draw(st.booleans()) else [list(r) for r in np.atleast_2d(a)]
    with np.errstate(all="ignore"):
        return a.astype(dtype)


hostile = st.one_of(scalars, arrays())


def _no_solver(monkeypatch):
    """Count solver runs: an error must come before any of them."""
    calls = []
    real = Backend.solve

    def counting(self, problem, **kw):
        calls.append(self.name)
        return real(self, problem, **kw)

    monkeypatch.setattr(Backend, "solve", counting)
    return calls


def check_contract(call, name):
    """Run ``call``; a refusal must be typed and name ``name`` (or one of several names);
    returns the value or None."""
    names = (name,) if isinstance(name, str) else name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except (sn.SdpnetsError, ValueError, TypeError) as exc:
        text = str(exc).lower()
        assert any(n.lower() in text for n in names), \
            f"{type(exc).__name__} does not name {names}: {exc}"
        return None


def assert_honest(res):
    """A result with a known status, bounds that are never NaN, and a verified optimum."""
    assert res.status in STATUSES
    assert not math.isnan(res.lower_bound) and not math.isnan(res.upper_bound)
    if res.status == "optimal":
        assert math.isfinite(res.objective) and res.lower_bound <= res.upper_bound * (1 + 1e-6) + 1e-12
        assert res.relative_gap <= 1e-2


FORMULATIONS = {
    "linear_fc": (sn.ConvexLinearFC, dict(X=X8, Y=Y8, beta=0.5, depth=2, hidden="weight_decay",
                                          rank_tol=1e-6)),
    "linear_cnn": (sn.ConvexLinearCNN, dict(X=S8, y=Y8, beta=0.5, kernel_size=3, stride=1,
                                            padding=0, pooling=None, rank_tol=1e-7)),
    "circular_cnn": (sn.ConvexCircularCNN, dict(X=S8, y=Y8, beta=0.5, depth=2,
                                                hidden="weight_decay", support_tol=1e-9)),
    "relu": (sn.ConvexReLU, dict(X=X8, y=Y8, beta=0.5, patterns=8, loss="squared", bias=False,
                                 seed=0, max_patterns=200)),
    "gated_relu": (sn.ConvexGatedReLU, dict(X=X8, y=Y8, beta=0.5, patterns=8, seed=0)),
}


@pytest.mark.parametrize("family", sorted(FORMULATIONS))
@HOSTILE
@given(data=st.data())
def test_formulation_constructors(family, data):
    cls, valid = FORMULATIONS[family]
    name = data.draw(st.sampled_from(sorted(valid)), label="argument")
    value = data.draw(hostile, label="value")
    kwargs = {**valid, name: value}
    prog = check_contract(lambda: cls(**kwargs), name)
    if prog is None:
        return
    backend = "auto" if getattr(prog, "variant", "") == "ridge_path" else "clarabel"
    res = check_contract(lambda: prog.solve(backend=backend), name)
    if res is not None:
        assert_honest(res)


SOLVE_ARGUMENTS = {
    "backend": "clarabel", "tol": 1e-8, "max_iters": None, "time_limit": None,
    "verbose": False,
}


@HOSTILE
@given(data=st.data())
def test_solve_options(data):
    name = data.draw(st.sampled_from([*SOLVE_ARGUMENTS, "solver_option"]), label="argument")
    value = data.draw(hostile, label="value")
    prog = sn.ConvexLinearFC(X8, Y8, 0.5)
    kwargs = dict(SOLVE_ARGUMENTS)
    if name == "solver_option":
        key = data.draw(st.sampled_from(["max_iter", "tol_feas", "time_limit", "bogus",
                                         "canon_backend", "equilibrate_enable"]), label="key")
        kwargs[key] = value
        name = key
    else:
        kwargs[name] = value
    before = prog.problem.status
    res = check_contract(lambda: prog.solve(**kwargs), name)
    if res is None:
        assert prog.result is None and prog.problem.status == before  # no solver ran
    else:
        assert_honest(res)


PATTERN_CALLS = {
    "enumerate_patterns": (sn.enumerate_patterns, dict(X=X8, max_patterns=1000, tol=1e-10)),
    "sample_patterns": (sn.sample_patterns, dict(X=X8, num_gates=5, seed=0, tol=1e-10)),
    "extract_patches": (extract_patches, dict(X=S8, kernel_size=3, stride=1, padding=0,
                                              mode="zeros")),
    "beta_max": (sn.beta_max, dict(X=X8, y=Y8, family="linear_fc")),
}


@pytest.mark.parametrize("entry", sorted(PATTERN_CALLS))
@HOSTILE
@given(data=st.data())
def test_helpers(entry, data):
    fn, valid = PATTERN_CALLS[entry]
    name = data.draw(st.sampled_from(sorted(valid)), label="argument")
    kwargs = {**valid, name: data.draw(hostile, label="value")}
    out = check_contract(lambda: fn(**kwargs), "patterns" if name == "num_gates" else name)
    if isinstance(out, float):
        assert not math.isnan(out)
    elif isinstance(out, sn.PatternSet):
        assert out.masks.dtype == bool and out.masks.shape[0] == np.shape(kwargs["X"])[0]


NETWORKS = {
    "LinearFC": (lambda weights: sn.LinearFC(weights), lambda v: [v, np.ones((1, 1))]),
    "LinearCNN": (lambda filters: sn.LinearCNN(filters, np.ones((1, 4, 1))),
                  lambda v: v),
    "CircularCNN": (lambda weights: sn.CircularCNN(weights), lambda v: [v, np.ones((1, 6))]),
}


@pytest.mark.parametrize("kind", sorted(NETWORKS))
@HOSTILE
@given(value=hostile)
def test_network_weights_and_certify(kind, value):
    make, wrap = NETWORKS[kind]
    name = {"LinearFC": "weights", "LinearCNN": "filters", "CircularCNN": "weights"}[kind]
    net = check_contract(lambda: make(wrap(value)), name)
    if net is None:
        return
    X = X8 if kind == "LinearFC" else S8
    # an acceptable network that does not fit the data: the message names what disagrees
    cert = check_contract(lambda: sn.certify(net, X, Y8, 0.5),
                          ("network", "X", "weights", "filters", "output"))
    if cert is not None:
        assert not math.isnan(cert.lower_bound) and not math.isnan(cert.upper_bound)
        assert cert.lower_bound <= cert.upper_bound * (1 + 1e-9) + 1e-12


@HOSTILE
@given(data=st.data())
def test_certify_data_and_beta(data):
    net = sn.LinearFC([np.ones((3, 1)), np.ones((1, 1))], scalar_output=True)
    valid = dict(X=X8, y=Y8, beta=0.5)
    name = data.draw(st.sampled_from(sorted(valid)), label="argument")
    kwargs = {**valid, name: data.draw(hostile, label="value")}
    cert = check_contract(lambda: sn.certify(net, kwargs["X"], kwargs["y"], kwargs["beta"]),
                          name)
    if cert is not None:
        assert not math.isnan(cert.lower_bound) and not math.isnan(cert.upper_bound)
