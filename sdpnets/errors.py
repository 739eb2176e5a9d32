"""Exception and warning types raised by sdpnets.

Every exception derives from :class:`SdpnetsError`. Errors about the caller's input also
derive from :class:`ValueError`, so ``except ValueError`` keeps working for users who do
not know sdpnets' own types.
"""

from __future__ import annotations

__all__ = [
    "SdpnetsError",
    "InvalidInputError",
    "UnknownBackendError",
    "NonConvexFormulationError",
    "ProblemTooLargeError",
    "BackendNotAvailableError",
    "NotSolvedError",
    "SolveFailedError",
    "SdpnetsWarning",
]


class SdpnetsError(Exception):
    """Base class of every exception raised by sdpnets."""


class InvalidInputError(SdpnetsError, ValueError):
    """An argument has the wrong shape, type or value; raised before any solver runs."""


class UnknownBackendError(InvalidInputError):
    """The requested backend name is not one sdpnets knows."""


class NonConvexFormulationError(InvalidInputError):
    """The requested network/regularizer combination has no exact convex program.

    The message names the convex variants that do exist.
    """


class ProblemTooLargeError(InvalidInputError):
    """The requested program would not fit (e.g. exhaustive enumeration of patterns)."""


class BackendNotAvailableError(SdpnetsError, RuntimeError):
    """A known backend cannot solve here (not installed, or MOSEK without a licence)."""


class NotSolvedError(SdpnetsError, RuntimeError):
    """A result was requested from a program that has not been solved yet."""


class SolveFailedError(SdpnetsError, RuntimeError):
    """The last solve did not reach an optimal point, so nothing can be recovered from it."""


class SdpnetsWarning(UserWarning):
    """Warnings issued by sdpnets, such as a network recovered from an inaccurate solve."""
