"""Solver backends: one class per solver, looked up by name.

``backend="auto"`` picks MOSEK when a licence is found (it is the fastest and most
robust interior-point solver for SDPs), else Clarabel (open source, interior point, so
it reaches the tight tolerances certificates need; SCS is first-order and much slower to
reach 1e-8).
"""

from __future__ import annotations

from .base import Backend
from .clarabel import ClarabelBackend
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
]

#: Every conic backend sdpnets knows, by name.
BACKENDS: dict[str, type[Backend]] = {
    "clarabel": ClarabelBackend,
    "scs": SCSBackend,
    "mosek": MosekBackend,
}

AUTO_ORDER: tuple[str, ...] = ("mosek", "clarabel", "scs")


def available_backends() -> list[str]:
    """Names of the backends that can actually solve on this machine.

    MOSEK appears only when a licence is found (checked with a real one-variable solve).
    """
    return [name for name, cls in BACKENDS.items() if cls().is_available()]


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (not checked for availability)."""
    if not isinstance(name, str) or name not in BACKENDS:
        known = ", ".join(repr(n) for n in ("auto", *BACKENDS))
        raise UnknownBackendError(
            f"backend must be one of {known}, got {name!r}. "
            f"Available here: {', '.join(available_backends()) or 'none'}."
        )
    return BACKENDS[name]()


def resolve_backend(name: str = "auto") -> Backend:
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
            backend = BACKENDS[candidate]()
            if backend.is_available():
                return backend
        raise BackendNotAvailableError("No conic solver is available; install clarabel or scs.")
    backend = get_backend(name)
    ok, reason = backend.availability()
    if not ok:
        raise BackendNotAvailableError(reason)
    return backend
