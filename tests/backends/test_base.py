"""What every conic backend promises before and after its solver runs (issue 26): solver
options checked by type, memory models that cover what a solver cannot avoid storing, and
honest timing.

The types of each solver's options are read from the solver itself where it says them
(Clarabel's ``DefaultSettings``) and otherwise from its documentation (SCS's settings,
cvxpy's MOSEK keywords), never from the backend under test. For every option of every
backend, hypothesis draws a value of the wrong kind: NaN, an infinity, a bool where a
number is expected, a number where a bool is expected, a non-positive count, or a name the
solver does not have. Each must raise :class:`sdpnets.InvalidInputError` naming the option;
every value of the right kind must be accepted.
"""

from __future__ import annotations

import math
import time

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdpnets as sn
from sdpnets.backends import BACKENDS, ClarabelBackend, MosekBackend, SCSBackend
from sdpnets.backends.base import CVXPY_SOLVE_OPTIONS, Backend
from sdpnets.backends.sizes import ProgramSizes

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

# --- each solver's options and their kinds ----------------------------------------------------
#
# kind: "real" (a finite number), "real_or_inf" (a number, inf meaning "no limit"), "count"
# (an integer >= 1), "count0" (an integer >= 0, 0 meaning "automatic"), "int" (an integer of
# either sign), "bool", "str", "dict", None (not checked here).


def _clarabel_kinds() -> dict[str, str | None]:
    """From Clarabel's own default settings: the type of each default value."""
    import clarabel

    defaults = clarabel.DefaultSettings()
    kinds: dict[str, str | None] = {}
    for name in dir(defaults):
        if name.startswith("_") or name == "default":
            continue
        value = getattr(defaults, name)
        if isinstance(value, bool):
            kinds[name] = "bool"
        elif isinstance(value, int):
            # Clarabel's counts; max_threads = 0 means "as many as cores"
            kinds[name] = "count0" if name == "max_threads" else "count"
        elif isinstance(value, float):
            kinds[name] = "real_or_inf" if math.isinf(value) else "real"
        elif isinstance(value, str):
            kinds[name] = "str"
        else:
            kinds[name] = None  # lists (pardiso_iparm)
    return kinds


#: SCS 3's settings (https://www.cvxgrp.org/scs/api/settings.html) and cvxpy's switch
#: ``use_quad_obj``. acceleration_lookback may be negative (type-I Anderson acceleration).
SCS_KINDS: dict[str, str | None] = {
    "max_iters": "count", "eps_abs": "real", "eps_rel": "real", "eps_infeas": "real",
    "alpha": "real", "time_limit_secs": "real", "verbose": "bool", "normalize": "bool",
    "scale": "real", "adaptive_scale": "bool", "rho_x": "real",
    "acceleration_lookback": "int", "acceleration_interval": "count",
    "write_data_filename": "str", "log_csv_filename": "str", "use_indirect": "bool",
    "gpu": "bool", "mkl": "bool", "use_quad_obj": "bool",
}

#: The keywords cvxpy's MOSEK interface takes (cvxpy's mosek_conif: eps is a tolerance).
MOSEK_KINDS: dict[str, str | None] = {
    "mosek_params": "dict", "save_file": "str", "bfs": "bool", "accept_unknown": "bool",
    "eps": "real",
}

KINDS: dict[str, dict[str, str | None]] = {
    "clarabel": _clarabel_kinds(), "scs": SCS_KINDS, "mosek": MOSEK_KINDS,
}

#: A value of the right kind for each kind (the solver's own default where there is one).
GOOD = {"real": [1e-6, 0.5, 3, np.float64(0.25)], "real_or_inf": [1.0, 30, math.inf],
        "count": [1, 7, np.int64(3)], "count0": [0, 2], "int": [-5, 0, 10],
        "bool": [True, False], "str": ["x.txt"], "dict": [{}]}


def _bad_values(kind: str, name: str) -> st.SearchStrategy:
    nan = st.sampled_from([math.nan, np.float64("nan"), float("-nan")])
    inf = st.sampled_from([math.inf, -math.inf, np.float64("inf")])
    booleans = st.sampled_from([True, False, np.bool_(True)])
    if kind == "real":
        return st.one_of(nan, inf, booleans)
    if kind == "real_or_inf":
        return st.one_of(nan, booleans)
    if kind in ("count", "count0", "int"):
        floats = st.sampled_from([2.5, 1.0, 10.0, math.nan, math.inf])
        bad = st.one_of(booleans, floats)
        if kind == "count":
            bad = st.one_of(bad, st.integers(-(2**40), 0))
        elif kind == "count0":
            bad = st.one_of(bad, st.integers(-(2**40), -1))
        return bad
    if kind == "bool":
        return st.sampled_from([0, 1, 1.0, 0.0, math.nan, "True", np.float64(1.0)])
    if kind == "str":
        return st.sampled_from([1, 2.5, True, math.nan])
    if kind == "dict":
        return st.sampled_from([1, "MSK_DPAR_INTPNT_CO_TOL_REL_GAP", [("a", 1)], True])
    raise AssertionError(kind)


def _checked(backend: str) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in KINDS[backend].items() if v is not None)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_the_kinds_cover_every_option_the_backend_takes(name):
    """The tables above name exactly the options the backend accepts (so a new option gets
    a kind here, and a kind here is a real option of the solver)."""
    assert set(KINDS[name]) == set(BACKENDS[name].OPTION_NAMES)


@pytest.mark.parametrize("name", sorted(BACKENDS))
@PROPERTY
@given(data=st.data())
def test_a_value_of_the_wrong_kind_is_refused_naming_the_option(name, data):
    key, kind = data.draw(st.sampled_from(_checked(name)), label="option")
    value = data.draw(_bad_values(kind, key), label="value")
    with pytest.raises(sn.InvalidInputError, match=key) as info:
        BACKENDS[name]().check_options(None, None, {key: value})
    assert isinstance(info.value, ValueError) and isinstance(info.value, sn.SdpnetsError)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_value_of_the_right_kind_is_accepted(name):
    backend = BACKENDS[name]()
    for key, kind in _checked(name):
        for value in GOOD[kind]:
            backend.check_options(None, None, {key: value})  # no error


def test_every_clarabel_option_takes_clarabel_s_own_default():
    """Clarabel's defaults are values of the right kind for every setting, including those
    the kinds above leave to Clarabel's settings object (a list: ``pardiso_iparm``)."""
    import clarabel

    defaults = clarabel.DefaultSettings()
    backend = BACKENDS["clarabel"]()
    for key in sorted(backend.OPTION_NAMES):
        backend.check_options(None, None, {key: getattr(defaults, key)})  # no error
    assert any(kind is None for kind in KINDS["clarabel"].values())  # such a setting exists


@pytest.mark.parametrize("name", sorted(BACKENDS))
@PROPERTY
@given(key=st.from_regex(r"[a-z][a-z_]{0,24}", fullmatch=True), value=st.integers(1, 5))
def test_an_unknown_option_name_is_refused_naming_it(name, key, value):
    known = set(KINDS[name]) | set(CVXPY_SOLVE_OPTIONS)
    if key in known:
        return
    with pytest.raises(sn.InvalidInputError, match=key):
        BACKENDS[name]().check_options(None, None, {key: value})


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_the_other_solvers_option_names_are_unknown(name):
    """``max_iter`` is Clarabel's, ``max_iters`` SCS's: each is refused by the other."""
    backend = BACKENDS[name]()
    for other in BACKENDS:
        for key in set(KINDS[other]) - set(KINDS[name]) - set(CVXPY_SOLVE_OPTIONS):
            with pytest.raises(sn.InvalidInputError, match=key):
                backend.check_options(None, None, {key: 1})


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_cvxpys_own_keywords_are_checked(name):
    backend = BACKENDS[name]()
    for key, allowed in CVXPY_SOLVE_OPTIONS.items():
        good = [True, False] if allowed is None else list(allowed)
        for value in good:
            backend.check_options(None, None, {key: value})
        for value in ([1, 0, "yes", math.nan] if allowed is None else ["NOPE", 1, True]):
            with pytest.raises(sn.InvalidInputError, match=key):
                backend.check_options(None, None, {key: value})


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_max_iters_beyond_the_solvers_counter_is_refused(name):
    backend = BACKENDS[name]()
    backend.check_options(backend.MAX_ITERS, None, {})
    with pytest.raises(sn.InvalidInputError, match="max_iters"):
        backend.check_options(backend.MAX_ITERS + 1, None, {})


def _fc():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    return sn.ConvexLinearFC(X, X @ rng.standard_normal(3) + 0.1 * rng.standard_normal(12), 0.5)


@pytest.mark.parametrize("name", [n for n in sn.available_backends() if n in ("clarabel", "scs")])
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_solve_refuses_a_bad_option_before_the_solver_runs(name, data, monkeypatch):
    key, kind = data.draw(st.sampled_from([(k, v) for k, v in _checked(name)
                                           if k != "verbose"]), label="option")
    value = data.draw(_bad_values(kind, key), label="value")
    ran = []
    monkeypatch.setattr(cp.Problem, "solve", lambda *a, **k: ran.append(1))
    prog = _fc()
    with pytest.raises(sn.InvalidInputError, match=key):
        prog.solve(backend=name, **{key: value})
    assert not ran and prog.result is None


@pytest.mark.parametrize("name, options", [
    ("scs", {"normalize": False, "adaptive_scale": False, "acceleration_lookback": 0}),
    ("clarabel", {"equilibrate_enable": False, "presolve_enable": False, "max_threads": 0}),
])
def test_valid_raw_options_reach_the_solver_and_it_solves(name, options):
    prog = _fc()
    res = prog.solve(backend=name, tol=1e-8, **options)
    assert res.status == "optimal", res.message
    reference = _fc().solve(backend="clarabel", tol=1e-9)
    assert res.objective == pytest.approx(reference.objective, rel=1e-6)


# --- memory models ----------------------------------------------------------------------------


@st.composite
def program_sizes(draw):
    psd = tuple(draw(st.lists(st.integers(1, 300), max_size=3)))
    return ProgramSizes(
        n_vars=draw(st.integers(1, 10**6)), n_zero=draw(st.integers(0, 10**6)),
        n_nonneg=draw(st.integers(0, 10**6)),
        soc=tuple(draw(st.lists(st.integers(1, 50), max_size=5))), psd=psd,
        n_exp=draw(st.integers(0, 1000)), nnz_A=draw(st.integers(0, 10**7)),
        nnz_P=draw(st.integers(0, 10**6)))


class DefaultModel(Backend):
    """A backend with the base class's default memory model."""

    name = "default-model"


#: Every memory model sdpnets has: each conic backend's and the base class's default.
MODELS = {**{name: cls for name, cls in BACKENDS.items()}, "default": DefaultModel}

#: Interior-point models (Clarabel, MOSEK, and the default: "a sparse factorization plus
#: dense PSD blocks") hold each PSD cone's dense m x m scaling block.
DENSE_PSD = {"clarabel", "mosek", "default"}


@pytest.mark.parametrize("model", sorted(MODELS))
@PROPERTY
@given(sizes=program_sizes())
def test_a_memory_model_covers_what_its_solver_must_store(model, sizes):
    """A conic solver stores ``A`` and ``P`` (a value and a row index per nonzero: 16
    bytes), a few iterate and residual vectors of the KKT system's side (primal, slack,
    dual, right-hand side, at least 8 doubles per row: 64 bytes) and, for an
    interior-point method, a dense ``m x m`` block per PSD cone of vectorized size ``m``
    (8 bytes per entry); a model below that cannot hold. The dense PSD block is what makes
    interior point grow like ``s^4`` where SCS grows like ``s^2``."""
    predicted = MODELS[model]().predict_memory(sizes)
    assert isinstance(predicted, int)
    floor = 16 * (sizes.nnz_A + sizes.nnz_P) + 64 * (sizes.n_vars + sizes.n_rows)
    if model in DENSE_PSD:
        floor += 8 * sum(m * m for m in sizes.psd_rows)
    assert predicted >= floor


@pytest.mark.parametrize("model", sorted(MODELS))
@PROPERTY
@given(sizes=program_sizes(), field=st.sampled_from(["n_vars", "n_zero", "n_nonneg", "nnz_A",
                                                     "nnz_P", "psd"]),
       more=st.integers(1, 10**5))
def test_a_memory_model_grows_with_every_size(model, sizes, field, more):
    from dataclasses import replace

    bigger = replace(sizes, psd=sizes.psd + (min(more, 300),)) if field == "psd" else \
        replace(sizes, **{field: getattr(sizes, field) + more})
    backend = MODELS[model]()
    assert backend.predict_memory(bigger) > backend.predict_memory(sizes)


def test_interior_point_models_grow_like_the_fourth_power_of_the_psd_side():
    for model in sorted(DENSE_PSD):
        backend = MODELS[model]()
        small, big = (backend.predict_memory(ProgramSizes(n_vars=1, psd=(s,))) for s in (100, 200))
        assert 12 < big / small <= 16.5  # (20100 / 5050)^2 = 15.8, sparse parts aside
    scs = SCSBackend()
    small, big = (scs.predict_memory(ProgramSizes(n_vars=1, psd=(s,))) for s in (100, 200))
    assert big / small < 8  # no dense block: about s^2


def test_memory_for_counts_the_problem_the_solver_receives():
    """``memory_for`` gives the sizes of the problem and the model's bytes for them; MOSEK
    receives a ``sum_squares`` objective as a cone, the others as ``P``."""
    prog = _fc()
    for name, cls in BACKENDS.items():
        sizes, predicted = cls().memory_for(prog.problem)
        assert predicted == cls().predict_memory(sizes)
        assert (sizes.nnz_P == 0) == (name == "mosek")


# --- timing and the crash path ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(sn.available_backends()))
def test_times_are_within_the_wall_clock_around_the_solve(name):
    prog = _fc()
    problem = prog.problem
    start = time.perf_counter()
    res = BACKENDS[name]().solve(problem, tol=1e-8)
    wall = time.perf_counter() - start
    assert res.status == "optimal"
    assert 0.0 <= res.solve_time <= wall
    assert 0.0 <= res.compile_time <= wall
    assert res.solve_time + res.compile_time <= wall * (1 + 1e-9)


@pytest.mark.parametrize("name", sorted(sn.available_backends()))
def test_compile_time_is_cvxpys_own_measurement(name):
    """cvxpy times its compilation (``problem.compilation_time``); that is the compile time
    reported, not the rest of the wall clock."""
    problem = _fc().problem
    res = BACKENDS[name]().solve(problem, tol=1e-8)
    assert problem.compilation_time is not None
    assert res.compile_time == problem.compilation_time
    assert res.solve_time == problem.solver_stats.solve_time


def test_a_crashed_solve_reports_its_wall_time_and_no_compile_time(monkeypatch):
    def boom(*args, **kwargs):
        time.sleep(0.05)
        raise RuntimeError("solver exploded")

    prog = _fc()
    problem = prog.problem
    monkeypatch.setattr(cp.Problem, "solve", boom)
    start = time.perf_counter()
    res = ClarabelBackend().solve(problem, tol=1e-8)
    wall = time.perf_counter() - start
    assert res.status == "error" and "solver exploded" in res.message
    assert 0.05 <= res.solve_time <= wall
    assert math.isnan(res.compile_time) and math.isnan(res.objective)


def test_a_bad_option_the_solver_itself_rejects_is_an_input_error(monkeypatch):
    def reject(*args, **kwargs):
        raise TypeError("argument 'tol_feas': 'str' object cannot be interpreted")

    prog = _fc()
    monkeypatch.setattr(cp.Problem, "solve", reject)
    with pytest.raises(sn.InvalidInputError, match="tol_feas"):
        ClarabelBackend().solve(prog.problem, tol=1e-8, tol_feas=1e-3)
    # without raw options the same exception is the solver's failure, a status
    assert ClarabelBackend().solve(prog.problem, tol=1e-8).status == "error"


def test_the_default_backend_has_no_translation():
    with pytest.raises(NotImplementedError):
        DefaultModel().solver_options(1e-8, None, None)
    assert MosekBackend().quadratic_objective is False


# --- the iteration counters and the limits -------------------------------------------------------

#: The largest iteration count each solver can hold: Clarabel's settings say it themselves
#: (a u32), SCS documents a C ``scs_int`` (32-bit in its wheels), MOSEK 32-bit parameters.
def _largest_count(name: str) -> int:
    if name == "clarabel":
        import clarabel

        settings, top = clarabel.DefaultSettings(), 0
        for bits in (31, 32, 63, 64):
            try:
                settings.max_iter = 2**bits - 1
            except OverflowError:
                break
            top = 2**bits - 1
        return top
    return 2**31 - 1


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_counts_take_one_up_to_the_solvers_largest_and_nothing_else(name):
    backend = BACKENDS[name]()
    largest = _largest_count(name)
    assert backend.MAX_ITERS == largest
    backend.check_options(largest, None, {})
    with pytest.raises(sn.InvalidInputError, match="max_iters"):
        backend.check_options(largest + 1, None, {})
    for key, kind in _checked(name):
        if kind not in ("count", "count0"):
            continue
        for good in (1, 2, largest):
            backend.check_options(None, None, {key: good})
        for bad in ([-1, largest + 1] + ([0] if kind == "count" else [])):
            with pytest.raises(sn.InvalidInputError, match=key):
                backend.check_options(None, None, {key: bad})
        if kind == "count0":
            backend.check_options(None, None, {key: 0})


def _stub(status, iters, solve_time=0.1, word=None):
    """A problem after a solve, as the status mapping reads it: cvxpy's status, the
    solver's statistics and (for Clarabel) its cached solver's own status word."""
    from types import SimpleNamespace

    cache = {}
    if word is not None:
        solution = SimpleNamespace(status=word)
        cache["CLARABEL"] = SimpleNamespace(get_solution=lambda: solution)
    stats = SimpleNamespace(num_iters=iters, solve_time=solve_time, extra_stats={})
    return SimpleNamespace(status=status, solver_stats=stats, _solver_cache=cache)


@pytest.mark.parametrize("iters, max_iters, time_limit, expected", [
    (10, 10, None, "iteration_limit"),
    (10, 10, 5.0, "iteration_limit"),
    (9, 10, 5.0, "time_limit"),
    (9, None, 5.0, "time_limit"),
    (9, None, None, "iteration_limit"),
])
def test_a_user_limit_is_told_apart_by_the_iteration_count(iters, max_iters, time_limit,
                                                           expected):
    """cvxpy folds both limits into ``user_limit``: the count decides (the base class's rule,
    and Clarabel's when its own word cannot be read, with its default cap of 200)."""
    for backend in (DefaultModel(), ClarabelBackend()):
        assert backend.map_status(_stub(cp.USER_LIMIT, iters), max_iters, time_limit) == expected
    # Clarabel stops at its default cap of 200 iterations when none is given
    clarabel = ClarabelBackend()
    assert clarabel.map_status(_stub(cp.USER_LIMIT, 200), None, 5.0) == "iteration_limit"
    assert clarabel.map_status(_stub(cp.USER_LIMIT, 199), None, 5.0) == "time_limit"


@pytest.mark.parametrize("word, expected", [("MaxIterations", "iteration_limit"),
                                            ("MaxTime", "time_limit"),
                                            ("AlmostSolved", "optimal_inaccurate"),
                                            ("InsufficientProgress", "error")])
def test_clarabels_own_word_decides_over_the_count(word, expected):
    problem = _stub(cp.USER_LIMIT, 3, word=word)
    assert ClarabelBackend().map_status(problem, None, None) == expected
    assert ClarabelBackend().raw_status(problem) == word


@pytest.mark.parametrize("backend", [DefaultModel(), ClarabelBackend(), SCSBackend()])
def test_an_inaccurate_stop_at_a_limit_is_the_limit(backend):
    """A solver stopped by a limit may still call its point almost solved: the limit is
    what happened."""
    inaccurate = cp.OPTIMAL_INACCURATE
    assert backend.map_status(_stub(inaccurate, 7), 7, None) == "iteration_limit"
    assert backend.map_status(_stub(inaccurate, 6, 2.0), 7, 2.0) == "time_limit"
    assert backend.map_status(_stub(inaccurate, 6, 1.0), 7, 2.0) == "optimal_inaccurate"
    assert backend.map_status(_stub(cp.OPTIMAL, 7), 7, None) == "optimal"
