r"""The memory guard: predict the peak memory of a solve before running it, and choose a
backend that fits.

A solve holds three things at its peak: what the formulation builds around the solver
(the program's :meth:`~.protocol.SolvableProgram.build_memory`: QR factors, patch and
pattern arrays), what cvxpy builds to compile the problem into conic form
(:func:`compile_memory`, proportional to the nonzeros of the conic data) and what the
solver allocates (each backend's ``predict_memory`` of the conic sizes,
:func:`sdpnets.backends.sizes.program_sizes`). sdpnets' first-order solvers are predicted
by the program itself (:meth:`~.protocol.SolvableProgram.firstorder_memory`, plus its
:meth:`~.protocol.SolvableProgram.data_memory` outside the solver).

The dominant term for interior-point solvers on SDPs is the dense block of each PSD cone:
a cone of side :math:`s` has vectorized size :math:`m = s(s+1)/2` and Clarabel allocates a
dense :math:`m \times m` matrix for it (plus its part of the KKT matrix and factor), so the
memory grows like :math:`s^4`. The constants are calibrated by
``benchmarks/memory_prediction.py`` (each run measured in its own process); the predictor
is meant to over-estimate, by at most :data:`MARGIN` on the calibration runs.

:func:`choose_backend` is the one rule: a backend may solve a program when the predicted
peak is at most the budget (``memory_limit``, else the memory available now); a backend
asked for that does not fit is refused with :class:`~sdpnets.ProblemTooLargeError`, and
``backend="auto"`` moves on to one that fits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .._units import available_memory, format_bytes, parse_memory
from ..backends import AUTO_ORDER, BACKENDS, FIRST_ORDER, Backend, FirstOrderBackend, get_backend
from ..backends.sizes import ProgramSizes
from ..errors import ProblemTooLargeError
from .protocol import SolvableProgram

__all__ = [
    "MemoryEstimate",
    "compile_memory",
    "MARGIN",
    "OVERHEAD",
    "estimate",
    "fits",
    "choose_backend",
    "conic_backends",
    "conic_needs",
    "fitting_conic",
    "memory_budget",
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


def compile_memory(sizes: ProgramSizes) -> int:
    """Bytes cvxpy holds while compiling a program of these sizes (calibrated)."""
    return int(COMPILE_BYTES_PER_NNZ * (sizes.nnz_A + sizes.nnz_P)
               + COMPILE_BYTES_PER_ROW * (sizes.n_rows + sizes.n_vars))


def estimate(program: SolvableProgram, backend: Backend | FirstOrderBackend) -> MemoryEstimate:
    """Predicted peak memory of solving ``program`` on ``backend`` (a backend object, or
    the first-order marker).

    The cvxpy problem is built if it was not (to count its sizes); what that build holds is
    the program's ``build_memory()``, charged only while the problem is not built yet.
    """
    if not isinstance(backend, Backend):  # sdpnets' first-order solver
        return MemoryEstimate(FIRST_ORDER, program.data_memory(), 0, program.firstorder_memory())
    build = 0 if program.is_built else program.build_memory()
    sizes, solver = backend.memory_for(program.problem)
    return MemoryEstimate(backend.name, build, compile_memory(sizes), solver, sizes)


def memory_budget(memory_limit: Any = None) -> tuple[int, str]:
    """``(bytes, where that number comes from)``: the user's ``memory_limit`` (bytes or a
    string such as ``"2GB"``), else the memory available on the machine now."""
    if memory_limit is not None:
        return parse_memory(memory_limit), "the memory_limit"
    return available_memory(), "the memory available (MemAvailable)"


def fits(backend: str | Backend | FirstOrderBackend, program: SolvableProgram,
         memory_limit: Any = None) -> bool:
    """The one rule: ``backend`` may solve ``program`` when the predicted peak
    (:func:`estimate`) is at most the budget (:func:`memory_budget`). ``backend`` is a name
    or a backend object."""
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


def conic_backends(program: SolvableProgram) -> list[Backend]:
    """The conic backends of the auto order that are available and have the program's
    cones, in that order."""
    engines = [BACKENDS[n]() for n in AUTO_ORDER]
    return [b for b in engines if b.supports(program.cones) and b.is_available()]


def fitting_conic(program: SolvableProgram, memory_limit: Any = None) -> list[Backend]:
    """:func:`conic_backends` predicted to fit the budget (:func:`memory_budget`)."""
    budget, _ = memory_budget(memory_limit)
    return [b for b in conic_backends(program) if estimate(program, b).total <= budget]


def conic_needs(program: SolvableProgram, memory_limit: Any = None) -> str:
    """Why no conic backend can take ``program``: what each of :func:`conic_backends` is
    predicted to need, against the budget (:func:`memory_budget`)."""
    budget, source = memory_budget(memory_limit)
    engines = conic_backends(program)
    if not engines:
        return "no conic backend with its cones is available"
    needs = "; ".join(f"{b.name} {estimate(program, b).describe()}" for b in engines)
    return (f"no conic backend is predicted to fit in {source} ({format_bytes(budget)}): "
            f"{needs}. Reduce the problem (fewer samples, patterns or outputs)")


def choose_backend(program: SolvableProgram, engine: Backend | FirstOrderBackend, auto: bool,
                   memory_limit: Any = None) -> Backend | FirstOrderBackend:
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
    budget, source = memory_budget(memory_limit)
    first = estimate(program, engine)
    if first.total <= budget:
        return engine
    others: list[Backend | FirstOrderBackend] = [b for b in conic_backends(program)
                                                 if b.name != engine.name]
    if program.has_firstorder and engine.name != FIRST_ORDER:
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
