r"""Which method solves a :class:`.program.ReLUProgram` on ``backend="firstorder"``.

* ``method="atoms"`` (:mod:`.atoms`): column generation over exactly feasible directions of
  the pattern cones, for the cone-constrained program with any loss. Few rounds when few
  blocks are active (large ``beta``); more, and slower ones, as ``beta`` falls.
* ``method="ipm"`` (:mod:`.ipm`): a primal-dual interior-point method on the whole program,
  squared and hinge losses, cone-constrained or gated. Its cost does not depend on
  ``beta``: about :data:`IPM_ITERATIONS` iterations of :math:`n^2 h n_b` flops (``n_b``
  blocks), and ``n x h n_b`` floats of memory.
* ``method="admm"`` (:mod:`.admm`): every program, the fallback for what the other two do
  not take (the gated program with the logistic loss, or an interior point too large for
  the memory).

``"auto"`` (the default) picks by the program and the predicted cost of the interior
point (:func:`ipm_seconds`, :func:`.ipm.predict_memory`):

* cone-constrained program: the atoms first, for at most :data:`ATOMS_SHARE` of the
  interior point's predicted time when it applies and fits; a run the atoms did not
  certify by then is finished by the interior point (the atoms alone when it does not
  apply or fit, until their own stall test or the time limit);
* gated program: the interior point where it applies and fits, else the ADMM.

The better certified of two results is returned, so a hand-over never loses ground.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...._units import available_memory
from ....errors import InvalidInputError
from ....losses import HingeLoss, LogisticLoss, SquaredLoss
from .admm import solve_relu_admm
from .atoms import solve_relu_atoms
from .ipm import predict_memory as ipm_memory
from .ipm import solve_relu_ipm
from .program import ReLUProgram, ReLUResult

__all__ = ["solve_relu", "predict_memory", "ipm_seconds", "METHODS", "ADMM_OPTIONS",
           "ATOMS_OPTIONS", "IPM_OPTIONS"]

ADMM_OPTIONS = frozenset({"rho", "check_every", "linear_solver", "cone_weight"})
ATOMS_OPTIONS = frozenset({"atoms_per_round"})
IPM_OPTIONS: frozenset[str] = frozenset()
METHODS = ("auto", "atoms", "ipm", "admm")

#: Interior-point iterations the time prediction assumes (measured: 20-45 on the
#: benchmark's programs, at every ``beta``).
IPM_ITERATIONS = 40

#: Flops per second the time prediction assumes (dense BLAS-3 on two cores, with margin).
FLOP_RATE = 1e10

#: Under ``"auto"``, the atoms' share of the interior point's predicted time before they
#: hand over to it.
ATOMS_SHARE = 0.5

#: The atoms always get at least this many seconds before a hand-over.
ATOMS_MIN_SECONDS = 1.0


def predict_memory(N: int, h: int, P: int) -> int:
    r"""Bytes a solve of a program with ``N`` rows of ``h`` features and ``P`` patterns may
    need under ``"auto"`` without the interior point (which is only chosen when it fits,
    :func:`.ipm.predict_memory`): the ADMM's, the larger of the two others (a dense Cholesky
    factor of the ``hP x hP`` coupled system when ``hP <= 3000``, the cone slacks and
    multipliers, ``N x 2P`` a few copies, and chunked products of at most :math:`2^{22}`
    floats each)."""
    dense = 2 * 8 * (h * P) ** 2 if h * P <= 3000 else 0
    return int(dense + 6 * 8 * N * 2 * P + 4 * 8 * min(2**22, N * 2 * P) + 16 * 8 * h * 2 * P)


def ipm_seconds(program: ReLUProgram) -> float:
    """Predicted seconds of :func:`.ipm.solve_relu_ipm` on ``program``: :data:`IPM_ITERATIONS`
    iterations of the ``n``-square product, the rows' Gram matrices and the products with
    ``A``, at :data:`FLOP_RATE`."""
    n, N, h, nb = program.n, program.N, program.h, program.nb
    per = n * n * h * nb + 2.0 * N * h * h * nb + 40.0 * N * h * nb
    return IPM_ITERATIONS * per / FLOP_RATE


def _ipm_applies(program: ReLUProgram) -> bool:
    return isinstance(program.loss, (SquaredLoss, HingeLoss))


def _ipm_fits(program: ReLUProgram) -> bool:
    need = ipm_memory(program.N, program.n, program.h, program.nb, program.cone)
    return need <= available_memory()


def solve_relu(program: ReLUProgram, *, method: str = "auto", start=None, tol: float = 1e-8,
               max_iters: int | None = None, time_limit: float | None = None,
               log: Any = None, **options) -> ReLUResult:
    """Solve one output's :class:`.program.ReLUProgram` by ``method`` (module docstring).
    ``options`` are the chosen method's (:data:`ATOMS_OPTIONS`, :data:`ADMM_OPTIONS`).

    Raises
    ------
    InvalidInputError
        For an unknown method, a method that does not apply, or options of another method.
    """
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {list(METHODS)}, got {method!r}.")
    if method == "atoms" and not program.cone:
        raise InvalidInputError("method='atoms' solves the cone-constrained program; this "
                                "one is gated (use method='ipm' or 'admm').")
    if method == "ipm" and not _ipm_applies(program):
        raise InvalidInputError(f"method='ipm' solves the squared and hinge losses; this "
                                f"program has the {program.loss.name} loss (use method="
                                "'atoms' or 'admm').")
    allowed = {"auto": ATOMS_OPTIONS | ADMM_OPTIONS, "atoms": ATOMS_OPTIONS,
               "ipm": IPM_OPTIONS, "admm": ADMM_OPTIONS}[method]
    unknown = set(options) - allowed
    if unknown:
        raise InvalidInputError(f"option(s) {sorted(unknown)} do not apply to "
                                f"method={method!r} (its options: {sorted(allowed)}).")
    k = options.get("atoms_per_round", 1)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"atoms_per_round must be a positive integer, got {k!r}.")
    common = dict(start=start, tol=tol, max_iters=max_iters, log=log)
    atoms_opts = {k: v for k, v in options.items() if k in ATOMS_OPTIONS}
    admm_opts = {k: v for k, v in options.items() if k in ADMM_OPTIONS}
    if method == "atoms":
        return solve_relu_atoms(program, time_limit=time_limit, **common, **atoms_opts)
    if method == "ipm":
        return solve_relu_ipm(program, time_limit=time_limit, **common)
    if method == "admm":
        return solve_relu_admm(program, time_limit=time_limit, **common, **admm_opts)
    return _auto(program, time_limit, common, atoms_opts, admm_opts)


def _auto(program: ReLUProgram, time_limit: float | None, common: dict, atoms_opts: dict,
          admm_opts: dict) -> ReLUResult:
    t0 = time.perf_counter()
    ipm = _ipm_applies(program) and _ipm_fits(program)
    if not program.cone:
        if ipm:
            return solve_relu_ipm(program, time_limit=time_limit, **common)
        return solve_relu_admm(program, time_limit=time_limit, **common, **admm_opts)
    budget = time_limit
    if ipm:
        share = max(ATOMS_SHARE * ipm_seconds(program), ATOMS_MIN_SECONDS)
        budget = share if time_limit is None else min(share, time_limit)
    first = solve_relu_atoms(program, time_limit=budget, **common, **atoms_opts)
    if first.status == "optimal" or not ipm:
        return first
    left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
    if left is not None and left <= 0:
        return first
    second = solve_relu_ipm(program, time_limit=left, **{**common, "start": first.blocks})
    better = second if (second.status == "optimal"
                        or second.relative_gap < first.relative_gap) else first
    better.statistics = {**better.statistics, "handed_over": True,
                         "atoms_seconds": first.solve_time, "atoms_status": first.status}
    return better
