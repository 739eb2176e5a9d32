"""Solver backends: one class per conic solver, looked up by name (:data:`BACKENDS`).

:func:`resolve_backend` turns a name into a backend that can run here; for ``"auto"`` the
conic order :data:`AUTO_ORDER`: MOSEK when a licence is found (the fastest and most robust
interior-point solver for SDPs), else Clarabel (open source, interior point, so it reaches
the tight tolerances certificates need; SCS is first order and much slower to reach 1e-8).
sdpnets' own first-order solvers (:mod:`.firstorder`) work on a program's composite form,
not on a cvxpy problem; :class:`FirstOrderBackend` only carries their name. Which backend a
*program* gets under ``"auto"`` (first-order first for the least-squares families, what
fits in memory) is decided in :mod:`sdpnets.solving.pipeline`.
"""

from __future__ import annotations

from .base import Backend
from .clarabel import ClarabelBackend
from .cvxpy_solver import CVXPY_PREFIX, cvxpy_backend, cvxpy_conic_solvers
from .mosek import MosekBackend
from .scs import SCSBackend
from ..errors import BackendNotAvailableError, UnknownBackendError

__all__ = [
    "Backend",
    "ClarabelBackend",
    "SCSBackend",
    "MosekBackend",
    "BACKENDS",
    "get_backend",
    "available_backends",
    "resolve_backend",
    "FIRST_ORDER",
    "FirstOrderBackend",
    "CVXPY_PREFIX",
    "cvxpy_backend",
    "cvxpy_conic_solvers",
]

#: Every conic backend sdpnets knows, by name.
BACKENDS: dict[str, type[Backend]] = {
    "clarabel": ClarabelBackend,
    "scs": SCSBackend,
    "mosek": MosekBackend,
}

AUTO_ORDER: tuple[str, ...] = ("mosek", "clarabel", "scs")

#: Name of sdpnets' own structured first-order solvers. They work on a formulation's
#: composite form (smooth part + penalty), not on a cvxpy problem, so they are not a
#: :class:`Backend`; :class:`FirstOrderBackend` only carries the name through dispatch.
FIRST_ORDER = "firstorder"


class FirstOrderBackend:
    """Marker returned by :func:`resolve_backend` for ``backend="firstorder"``: the
    formulation solves its own composite form (see :mod:`sdpnets.backends.firstorder`)."""

    name = FIRST_ORDER
    cones: frozenset[str] = frozenset()

    def availability(self) -> tuple[bool, str]:
        return True, ""

    def is_available(self) -> bool:
        return True

    def supports(self, cones: frozenset[str] | set[str]) -> bool:
        """Whether a program needing ``cones`` is a cone-free composite problem."""
        return set(cones) <= self.cones

    def __repr__(self) -> str:
        return "FirstOrderBackend()"


def available_backends() -> list[str]:
    """List the conic backends that can actually solve on this machine.

    MOSEK appears only when a licence is found (checked with a real one-variable solve).
    ``"firstorder"`` (sdpnets' own solvers, pure NumPy) is always available for the
    families that have a composite form and is not listed here.

    Returns
    -------
    list of str
        Backend names usable as ``solve(backend=...)``, in order of preference.
    """
    return [name for name, cls in BACKENDS.items() if cls().is_available()]


def get_backend(name: str) -> Backend | FirstOrderBackend:
    """The backend called ``name`` (not checked for availability): one of
    :data:`BACKENDS`, ``"firstorder"``, or ``"cvxpy:NAME"`` for any conic solver cvxpy
    knows (:mod:`sdpnets.backends.cvxpy_solver`)."""
    if isinstance(name, str) and name == FIRST_ORDER:
        return FirstOrderBackend()
    if isinstance(name, str) and name.startswith(CVXPY_PREFIX):
        return cvxpy_backend(name[len(CVXPY_PREFIX):])()
    if not isinstance(name, str) or name not in BACKENDS:
        known = ", ".join(repr(n) for n in ("auto", *BACKENDS, FIRST_ORDER, "cvxpy:NAME"))
        raise UnknownBackendError(
            f"backend must be one of {known}, got {name!r}. "
            f"Available here: {', '.join(available_backends()) or 'none'}."
        )
    return BACKENDS[name]()


def resolve_backend(name: str = "auto") -> Backend | FirstOrderBackend:
    """The backend to use for ``name``; ``"auto"`` means MOSEK if licensed, else Clarabel.

    Raises
    ------
    UnknownBackendError
        For a name sdpnets does not know (lists the available ones).
    BackendNotAvailableError
        For a known backend that cannot run here, saying why.
    """
    if name == "auto":
        for candidate in AUTO_ORDER:
            conic = BACKENDS[candidate]()
            if conic.is_available():
                return conic
        raise BackendNotAvailableError("No conic solver is available; install clarabel or scs.")
    backend = get_backend(name)
    ok, reason = backend.availability()
    if not ok:
        raise BackendNotAvailableError(reason)
    return backend
