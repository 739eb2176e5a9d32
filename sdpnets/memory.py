r"""Predict the peak memory of a solve from the program's sizes, before running it.

A solve holds three things at its peak: what the formulation builds (QR factors, patch and
pattern arrays: :func:`build_memory`), what cvxpy builds to compile the problem into conic
form (:func:`compile_memory`, proportional to the nonzeros of the conic data), and what the
solver allocates (each backend's ``predict_memory``). The conic sizes come from a walk of
the cvxpy expression tree (:func:`program_sizes`), which counts variables, cone rows, PSD
cone sides and nonzeros of the constraint matrix without compiling anything.

The dominant term for interior-point solvers on SDPs is the dense block of each PSD cone:
a cone of side :math:`s` has vectorized size :math:`m = s(s+1)/2` and Clarabel allocates a
dense :math:`m \times m` matrix for it (plus its part of the KKT matrix and factor), so the
memory grows like :math:`s^4`. The constants were calibrated by
``benchmarks/memory_prediction.py`` (each run measured in its own process); the predictor
is meant to over-estimate, by at most :data:`MARGIN` on the calibration runs.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._units import available_memory, format_bytes, parse_memory

__all__ = [
    "ProgramSizes",
    "MemoryEstimate",
    "program_sizes",
    "compile_memory",
    "build_memory",
    "available_memory",
    "parse_memory",
    "format_bytes",
    "MARGIN",
    "OVERHEAD",
    "estimate",
    "fits",
    "choose_backend",
    "memory_budget",
    "firstorder_memory",
]

logger = logging.getLogger(__name__)

#: Stated accuracy: on the calibration runs, measured <= predicted <= MARGIN * measured
#: (beyond :data:`OVERHEAD`); see ``benchmarks/memory_prediction.py``.
MARGIN = 3.0
#: Bytes every solve adds regardless of size (solver libraries, cvxpy's reductions).
OVERHEAD = 64 * 2**20
#: Bytes cvxpy holds per nonzero of the conic data while compiling (calibrated).
COMPILE_BYTES_PER_NNZ = 160
#: Bytes cvxpy holds per scalar variable / cone row while compiling (calibrated).
COMPILE_BYTES_PER_ROW = 200


@dataclass(frozen=True)
class ProgramSizes:
    """Sizes of a program's conic form (what a conic solver receives).

    Attributes
    ----------
    n_vars : int
        Scalar variables (after cvxpy adds its epigraph variables).
    n_zero, n_nonneg : int
        Equality and inequality rows.
    soc : tuple of int
        Dimensions of the second-order cones.
    psd : tuple of int
        Sides :math:`s` of the PSD cones (each is :math:`s(s+1)/2` rows).
    n_exp : int
        Exponential cones (3 rows each).
    nnz_A : int
        Nonzeros of the constraint matrix.
    nnz_P : int
        Nonzeros of the quadratic objective (upper triangle).
    """

    n_vars: int = 0
    n_zero: int = 0
    n_nonneg: int = 0
    soc: tuple[int, ...] = ()
    psd: tuple[int, ...] = ()
    n_exp: int = 0
    nnz_A: int = 0
    nnz_P: int = 0

    @property
    def psd_rows(self) -> tuple[int, ...]:
        """Vectorized size :math:`s(s+1)/2` of each PSD cone."""
        return tuple(s * (s + 1) // 2 for s in self.psd)

    @property
    def n_rows(self) -> int:
        """Rows of the constraint matrix (the sum of the cone dimensions)."""
        return (self.n_zero + self.n_nonneg + sum(self.soc) + sum(self.psd_rows)
                + 3 * self.n_exp)

    @property
    def dense_psd(self) -> int:
        r""":math:`\sum_i m_i^2` over the PSD cones (entries of their dense blocks)."""
        return sum(m * m for m in self.psd_rows)

    @property
    def kkt_dim(self) -> int:
        """Side of the KKT matrix of an interior-point or ADMM solver."""
        return self.n_vars + self.n_rows


@dataclass(frozen=True)
class MemoryEstimate:
    """Predicted peak memory of one solve (bytes), by part."""

    backend: str
    build: int
    compile: int
    solver: int
    sizes: ProgramSizes | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def total(self) -> int:
        return int(self.build + self.compile + self.solver + OVERHEAD)

    def describe(self) -> str:
        parts = f"formulation {format_bytes(self.build)}"
        if self.compile:
            parts += f", cvxpy compilation {format_bytes(self.compile)}"
        parts += f", {self.backend} {format_bytes(self.solver)}"
        return f"{format_bytes(self.total)} ({parts})"


# --- the conic sizes, by walking the expression tree -----------------------------------------


def program_sizes(problem, quadratic_objective: bool = True) -> ProgramSizes:
    """Sizes of ``problem``'s conic form, counted on the cvxpy expression tree.

    Parameters
    ----------
    problem : cvxpy.Problem
        Built, not compiled (nothing is compiled here).
    quadratic_objective : bool
        Whether the solver takes a quadratic objective (Clarabel, SCS): then a
        ``sum_squares`` in the objective becomes an equality block and ``P``; otherwise a
        second-order cone (MOSEK through cvxpy).
    """
    walk = _Walk(quadratic_objective)
    walk.objective(problem.objective.args[0])
    for constraint in problem.constraints:
        walk.constraint(constraint)
    return ProgramSizes(
        n_vars=walk.n_vars, n_zero=walk.n_zero, n_nonneg=walk.n_nonneg, soc=tuple(walk.soc),
        psd=tuple(walk.psd), n_exp=walk.n_exp, nnz_A=walk.nnz_A, nnz_P=walk.nnz_P,
    )


def _nnz(value) -> int:
    if sp.issparse(value):
        return int(value.nnz)
    return int(np.count_nonzero(value))


class _Walk:
    """Counts, for each expression, the nonzeros of its affine map in the variables (with
    every non-affine atom replaced by its epigraph variable), and the cones atoms add."""

    def __init__(self, quadratic_objective: bool) -> None:
        self.quad = quadratic_objective
        self.seen: set[int] = set()
        self.n_vars = self.n_zero = self.n_nonneg = self.n_exp = 0
        self.nnz_A = self.nnz_P = 0
        self.soc: list[int] = []
        self.psd: list[int] = []

    # -- leaves ------------------------------------------------------------------------
    def _variable(self, var) -> int:
        if var.id not in self.seen:
            self.seen.add(var.id)
            if var.attributes.get("PSD") or var.attributes.get("NSD"):
                s = var.shape[0]
                m = s * (s + 1) // 2
                self.n_vars += m
                self.psd.append(s)
                self.nnz_A += m
            else:
                self.n_vars += var.size
                if var.attributes.get("nonneg") or var.attributes.get("nonpos"):
                    self.n_nonneg += var.size
                    self.nnz_A += var.size
        return var.size

    @staticmethod
    def _density(expr) -> float:
        value = expr.value
        if value is None:
            return 1.0
        size = max(int(np.prod(np.shape(value))) if not sp.issparse(value) else
                   value.shape[0] * value.shape[1], 1)
        return _nnz(value) / size

    # -- expressions -------------------------------------------------------------------
    def expr(self, e) -> int:
        from cvxpy.atoms.affine.binary_operators import MulExpression, multiply
        from cvxpy.atoms.affine.index import index, special_index
        from cvxpy.atoms.affine.promote import Promote
        from cvxpy.expressions.leaf import Leaf
        from cvxpy.expressions.variable import Variable

        if isinstance(e, Variable):
            return self._variable(e)
        if isinstance(e, Leaf) or e.is_constant():
            return 0
        if isinstance(e, multiply):
            const = [a for a in e.args if a.is_constant()]
            other = [a for a in e.args if not a.is_constant()]
            if len(other) != 1:
                return self._generic(e)
            inner = self.expr(other[0]) * e.size / max(other[0].size, 1)
            return int(inner * (self._density(const[0]) if const else 1.0))
        if isinstance(e, MulExpression):
            left, right = e.args
            if left.is_constant() and not right.is_constant():
                value = left.value
                nnzc = _nnz(value) if value is not None else left.size
                inner = self.expr(right)
                if left.ndim < 2:  # a scalar or a vector times the expression
                    return int(inner * max(1, e.size))
                cols = right.shape[1] if len(right.shape) == 2 else 1
                return int(nnzc * cols * inner / max(right.size, 1))
            if right.is_constant() and not left.is_constant():
                value = right.value
                nnzc = _nnz(value) if value is not None else right.size
                inner = self.expr(left)
                if right.ndim < 2:
                    return int(inner * max(1, e.size))
                rows = left.shape[0] if len(left.shape) == 2 else 1
                return int(nnzc * rows * inner / max(left.size, 1))
            return self._generic(e)
        if e.is_affine():
            total = 0
            for a in e.args:
                n = self.expr(a)
                if isinstance(e, (index, special_index)):
                    n = n * e.size / max(a.size, 1)
                elif isinstance(e, Promote) or (a.size == 1 and e.size > 1):
                    n = n * e.size
                total += n
            return int(total)
        return self._atom(e)

    def _generic(self, e) -> int:
        """An atom cvxpy replaces by ``t`` with constraints on ``t`` and its arguments."""
        inner = sum(self.expr(a) for a in e.args)
        self.n_vars += e.size
        self.n_nonneg += e.size + sum(a.size for a in e.args)
        self.nnz_A += inner + 2 * e.size
        return e.size

    def _atom(self, e, in_objective: bool = False) -> int:
        from cvxpy.atoms.elementwise.abs import abs as cp_abs
        from cvxpy.atoms.elementwise.logistic import logistic
        from cvxpy.atoms.elementwise.maximum import maximum
        from cvxpy.atoms.pnorm import Pnorm
        from cvxpy.atoms.quad_over_lin import quad_over_lin

        if isinstance(e, Pnorm) and e.p == 2:
            x = e.args[0]
            inner = self.expr(x)
            cones = e.size
            self.n_vars += cones
            self.soc.extend([x.size // max(cones, 1) + 1] * cones)
            self.nnz_A += inner + cones
            return cones
        if isinstance(e, quad_over_lin):
            x = e.args[0]
            inner = self.expr(x)
            if self.quad and in_objective:
                self.n_vars += x.size
                self.n_zero += x.size
                self.nnz_A += inner + x.size
                self.nnz_P += x.size
                return 0
            self.n_vars += 1
            self.soc.append(x.size + 2)
            self.nnz_A += inner + 3
            return 1
        if isinstance(e, cp_abs):
            inner = self.expr(e.args[0])
            self.n_vars += e.size
            self.n_nonneg += 2 * e.size
            self.nnz_A += 2 * (inner + e.size)
            return e.size
        if isinstance(e, logistic):
            inner = self.expr(e.args[0])
            self.n_vars += 3 * e.size
            self.n_exp += 2 * e.size
            self.n_nonneg += e.size
            self.nnz_A += 2 * inner + 9 * e.size
            return e.size
        if isinstance(e, maximum):
            return self._generic(e)
        return self._generic(e)

    def objective(self, e) -> None:
        """The objective: a sum of (scaled) terms; ``sum_squares`` there may go to ``P``."""
        from cvxpy.atoms.affine.add_expr import AddExpression
        from cvxpy.atoms.affine.binary_operators import multiply
        from cvxpy.atoms.quad_over_lin import quad_over_lin

        if isinstance(e, AddExpression):
            for a in e.args:
                self.objective(a)
        elif isinstance(e, multiply) and any(a.is_constant() for a in e.args):
            for a in e.args:
                if not a.is_constant():
                    self.objective(a)
        elif isinstance(e, quad_over_lin):
            self._atom(e, in_objective=True)
        else:
            self.expr(e)

    def constraint(self, c) -> None:
        from cvxpy.constraints.nonpos import Inequality, NonNeg, NonPos
        from cvxpy.constraints.psd import PSD
        from cvxpy.constraints.second_order import SOC
        from cvxpy.constraints.zero import Equality, Zero

        inner = sum(self.expr(a) for a in c.args)
        if isinstance(c, (Equality, Zero)):
            self.n_zero += c.size
            self.nnz_A += inner
        elif isinstance(c, (Inequality, NonNeg, NonPos)):
            self.n_nonneg += c.size
            self.nnz_A += inner
        elif isinstance(c, PSD):
            s = c.args[0].shape[0]
            self.psd.append(s)
            self.nnz_A += int(inner * (s + 1) / (2 * s))
        elif isinstance(c, SOC):
            cones = c.args[0].size
            self.soc.extend([c.args[1].size // max(cones, 1) + 1] * cones)
            self.nnz_A += inner
        else:
            self.n_nonneg += c.size
            self.nnz_A += inner


def compile_memory(sizes: ProgramSizes) -> int:
    """Bytes cvxpy holds while compiling a program of these sizes (calibrated)."""
    return int(COMPILE_BYTES_PER_NNZ * (sizes.nnz_A + sizes.nnz_P)
               + COMPILE_BYTES_PER_ROW * (sizes.n_rows + sizes.n_vars))


# --- what the formulation builds before the solver ----------------------------------------------


def _arrays_bytes(obj, names) -> int:
    total = 0
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, np.ndarray):
            total += value.nbytes
    return total


def build_memory(program) -> int:
    r"""Bytes the formulation allocates around the solver: in ``_build`` (before cvxpy
    compiles) and when the recovered network is evaluated for the certificate.

    The least-squares families take a thin QR of their data (``Q`` as large as the data);
    a linear CNN's network is evaluated on its ``n x K x h`` patches; the ReLU families
    expand their ``n x P`` patterns into float masks and signs for each output. Families
    without a rule here are charged three copies of their data arrays.
    """
    name = type(program).__name__
    X = getattr(program, "X", None)
    data = X.nbytes if isinstance(X, np.ndarray) else 0
    if name in ("ConvexLinearFC", "ConvexLinearCNN", "ConvexCircularCNN"):
        flat = getattr(program, "_flat", None)
        if isinstance(flat, np.ndarray):
            data = max(data, flat.nbytes)
        total = 3 * data
        spec = getattr(program, "spec", None)
        if spec is not None and isinstance(X, np.ndarray):
            n = X.shape[0]
            total += 8 * n * int(getattr(spec, "n_patches", 1)) * int(
                getattr(spec, "patch_size", 1))
        if name == "ConvexCircularCNN":
            # the real DFT features and their QR (measured ~5 copies of the data), and the
            # complex spectra of the data when the network is verified (~4.5 copies)
            total += 8 * data
        return int(total)
    patterns = getattr(program, "_patterns", None)
    masks = getattr(patterns, "masks", None)
    if isinstance(masks, np.ndarray):
        y2 = getattr(program, "_y2", None)
        K = y2.shape[1] if isinstance(y2, np.ndarray) and y2.ndim == 2 else 1
        A = getattr(program, "_A", None)
        a = A.nbytes if isinstance(A, np.ndarray) else data
        return int(6 * 8 * masks.size * K + 3 * a)
    return int(3 * data)


def _evaluation_memory(program) -> int:
    """Bytes of the first-order path outside the solver: one copy of the data (its
    solution is verified with the solver's own certificate, no network evaluation)."""
    X = getattr(program, "X", None)
    return int(X.nbytes) if isinstance(X, np.ndarray) else 0


def firstorder_memory(program) -> int:
    r"""Bytes sdpnets' own first-order solver needs for ``program`` (``backend="firstorder"``).

    It works on the sufficient statistics: the Gram matrix :math:`A^TA` of the ``p``
    unknowns per output (``p = d`` for a linear FC network, ``Kh`` for a linear CNN without
    pooling, ``h`` with pooling, the signal size for a circular CNN), the data's own Gram
    :math:`X^TX` (``D x D``) it is computed from, and a few ``p x K`` iterates:
    :math:`8\,(4p^2 + 2D^2 + 24pK)` bytes.
    """
    masks = getattr(getattr(program, "_patterns", None), "masks", None)
    A = getattr(program, "_A", None)
    if isinstance(masks, np.ndarray) and isinstance(A, np.ndarray):
        return _relu_firstorder_memory(A.shape[0], A.shape[1], masks.shape[1])
    X = getattr(program, "X", None)
    D = int(np.prod(X.shape[1:])) if isinstance(X, np.ndarray) and X.ndim >= 2 else 1
    y2 = getattr(program, "_y2", getattr(program, "_Y2", None))
    K = int(y2.shape[1]) if isinstance(y2, np.ndarray) and y2.ndim == 2 else 1
    p = D
    spec = getattr(program, "spec", None)
    if type(program).__name__ == "ConvexLinearCNN" and spec is not None:
        h = int(getattr(spec, "patch_size", D))
        p = h if getattr(program, "pooling", None) else h * int(getattr(spec, "n_patches", 1))
        K = int(getattr(program, "n_outputs", K))
    return int(8 * (4 * p * p + 2 * D * D + 24 * p * K))


def _relu_firstorder_memory(N: int, h: int, P: int) -> int:
    r"""The ReLU ADMM: a dense Cholesky factor of the ``hP x hP`` coupled system when
    ``hP <= 3000`` (else conjugate gradients), the cone slacks and multipliers (``N x 2P``,
    a few copies) and chunked products of at most :math:`2^{22}` floats each."""
    dense = 2 * 8 * (h * P) ** 2 if h * P <= 3000 else 0
    return int(dense + 6 * 8 * N * 2 * P + 4 * 8 * min(2**22, N * 2 * P) + 16 * 8 * h * 2 * P)


def has_firstorder(program) -> bool:
    """Whether the program's family has sdpnets' own first-order solver."""
    from .formulations.base import ConvexProgram

    return type(program)._solve_firstorder is not ConvexProgram._solve_firstorder


def estimate(program, backend) -> MemoryEstimate:
    """Predicted peak memory of solving ``program`` on ``backend`` (a backend object, or
    the first-order marker).

    The cvxpy problem is built if it was not (to count its sizes); what that build holds is
    :func:`build_memory`, charged only while the problem is not built yet.
    """
    from .backends import FIRST_ORDER

    if backend.name == FIRST_ORDER:
        return MemoryEstimate(FIRST_ORDER, _evaluation_memory(program), 0,
                              firstorder_memory(program))
    build = build_memory(program) if program._problem is None else 0
    sizes = program_sizes(program.problem, backend.quadratic_objective)
    return MemoryEstimate(backend.name, build, compile_memory(sizes),
                          backend.predict_memory(sizes), sizes)


def memory_budget(memory_limit: Any = None) -> tuple[int, str]:
    """``(bytes, where that number comes from)``: the user's ``memory_limit`` (bytes or a
    string such as ``"2GB"``), else the memory available on the machine now."""
    if memory_limit is not None:
        return parse_memory(memory_limit), "the memory_limit"
    return available_memory(), "the memory available (MemAvailable)"


def fits(backend, program, memory_limit: Any = None) -> bool:
    """The one rule: ``backend`` may solve ``program`` when the predicted peak
    (:func:`estimate`) is at most the budget (:func:`memory_budget`). ``backend`` is a name
    or a backend object."""
    from .backends import get_backend

    engine = get_backend(backend) if isinstance(backend, str) else backend
    budget, _ = memory_budget(memory_limit)
    return estimate(program, engine).total <= budget


def _dominant(est: MemoryEstimate) -> str:
    sizes = est.sizes
    if sizes is None or not sizes.psd or est.backend == "scs":
        return ""
    s = max(sizes.psd)
    m = s * (s + 1) // 2
    return (f"; its largest PSD cone has side {s}, so a dense {m} x {m} block "
            f"({format_bytes(8.0 * m * m)} per copy)")


def choose_backend(program, engine, auto: bool, memory_limit: Any = None):
    """The backend to run: ``engine`` if it is predicted to fit, else (for
    ``backend="auto"``) the first conic backend of the auto order that fits, then
    sdpnets' first-order solver where the family has one.

    Raises
    ------
    ProblemTooLargeError
        When the backend asked for (or, for ``"auto"``, every backend) is predicted not to
        fit: says what the solve would need, what is available, and which backends would
        fit.
    """
    from .backends import AUTO_ORDER, BACKENDS, FIRST_ORDER, Backend, FirstOrderBackend
    from .errors import ProblemTooLargeError

    budget, source = memory_budget(memory_limit)
    if _SKIP_CHECK.get():
        return engine
    first = estimate(program, engine)
    if first.total <= budget:
        return engine
    others: list[Backend | FirstOrderBackend] = [BACKENDS[n]() for n in AUTO_ORDER
                                                 if n != engine.name]
    others = [b for b in others if b.supports(program.cones) and b.is_available()]
    if has_firstorder(program) and engine.name != FIRST_ORDER:
        others.append(FirstOrderBackend())
    estimates = [(b, estimate(program, b)) for b in others]
    fitting = [(b, e) for b, e in estimates if e.total <= budget]
    if auto and fitting:
        chosen = fitting[0][0]
        logger.info("backend='auto': %s is predicted to need %s, more than %s (%s); using %s",
                    engine.name, format_bytes(first.total), source, format_bytes(budget),
                    chosen.name)
        return chosen
    message = (
        f"{type(program).__name__}.solve(backend={engine.name!r}) would need about "
        f"{first.describe()}{_dominant(first)}, but {source} is {format_bytes(budget)}."
    )
    if fitting:
        message += " " + " or ".join(
            f"backend={b.name!r} (about {format_bytes(e.total)})" for b, e in fitting
        ) + " would fit."
    else:
        tried = ", ".join(f"{e.backend} {format_bytes(e.total)}" for _, e in estimates)
        message += " No backend is predicted to fit" + (f" ({tried})." if tried else ".")
        message += " Reduce the problem (fewer samples, patterns, outputs or features)."
    message += (f" Predictions over-estimate by up to {MARGIN:g}x; pass a larger "
                "memory_limit to try anyway.")
    raise ProblemTooLargeError(message)


#: Set in the child of an isolated solve, whose parent has already checked.
_SKIP_CHECK: ContextVar[bool] = ContextVar("sdpnets_skip_memory_check", default=False)
