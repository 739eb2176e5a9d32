"""Any conic solver cvxpy can call: backend ``"cvxpy:NAME"`` (``"cvxpy:ECOS"``,
``"cvxpy:CVXOPT"``, ...).

The cones a solver takes are read from cvxpy's interface to it (its
``SUPPORTED_CONSTRAINTS``), so a program needing a cone the solver lacks is refused before
solving (ECOS has no PSD cone: the deep linear families are refused). The common options
are translated for the solvers listed in :data:`OPTION_WORDS`; for any other solver they are
not passed (its defaults apply) and the result's message says so. Statuses are cvxpy's,
mapped by :data:`~sdpnets.backends.base.CVXPY_STATUS_MAP`; a status that map does not know is
reported as ``"error"``, never as solved, with the status kept in the message and in
``raw["unmapped_status"]``.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any, ClassVar

import cvxpy as cp

from ..errors import UnknownBackendError
from .base import CVXPY_STATUS_MAP, Backend

__all__ = ["CVXPY_PREFIX", "OPTION_WORDS", "CvxpySolverBackend", "cvxpy_backend",
           "cvxpy_conic_solvers", "solver_cones"]

#: Backend names ``"cvxpy:NAME"`` reach cvxpy's solver ``NAME``.
CVXPY_PREFIX = "cvxpy:"

#: cvxpy's constraint classes -> sdpnets' cone names.
_CONE_OF = {"Zero": "zero", "NonNeg": "nonneg", "SOC": "soc", "PSD": "psd", "SvecPSD": "psd",
            "ExpCone": "exp", "PowCone3D": "pow", "PowConeND": "pow"}

#: The common options in a few solvers' own words: (tolerance keys, iteration cap key, time
#: limit key); ``None``: the solver has no such option.
OPTION_WORDS: dict[str, tuple[tuple[str, ...], str | None, str | None]] = {
    "ECOS": (("abstol", "reltol", "feastol"), "max_iters", None),
    "CVXOPT": (("abstol", "reltol", "feastol"), "max_iters", None),
}


def _interface(name: str):
    """cvxpy's interface object for the conic solver ``name`` (``None``: not one)."""
    from cvxpy.reductions.solvers import defines

    return defines.SOLVER_MAP_CONIC.get(name)


def solver_cones(name: str) -> frozenset[str]:
    """The cones cvxpy's interface to the conic solver ``name`` takes."""
    solver = _interface(name)
    if solver is None:
        return frozenset()
    return frozenset(_CONE_OF[c.__name__] for c in solver.SUPPORTED_CONSTRAINTS
                     if c.__name__ in _CONE_OF)


def cvxpy_conic_solvers() -> list[str]:
    """The conic solvers cvxpy finds installed here (names for ``"cvxpy:NAME"``)."""
    return [s for s in cp.installed_solvers() if _interface(s) is not None]


class CvxpySolverBackend(Backend):
    """A conic solver reached through cvxpy by its name (see the module doc); one subclass
    per solver, made by :func:`cvxpy_backend`."""

    #: (tolerance keys, iteration cap key, time limit key) of this solver.
    words: ClassVar[tuple[tuple[str, ...], str | None, str | None]] = ((), None, None)

    def __init__(self) -> None:
        self._unmapped: str | None = None

    def availability(self) -> tuple[bool, str]:
        if self.cvxpy_solver not in cp.installed_solvers():
            found = ", ".join(cvxpy_conic_solvers()) or "none"
            return False, (f"{self.name}: cvxpy does not find the {self.cvxpy_solver} solver "
                           f"here (its conic solvers installed here: {found}).")
        return True, ""

    def solver_options(self, tol, max_iters, time_limit):
        tols, iters, limit = self.words
        opts: dict[str, Any] = {key: tol for key in tols}
        if max_iters is not None and iters:
            opts[iters] = int(max_iters)
        if time_limit is not None and limit:
            opts[limit] = float(time_limit)
        return opts

    def check_options(self, max_iters, time_limit, options):
        """The solver's own options are passed through unchecked (sdpnets does not know
        them); ``max_iters`` and cvxpy's own keywords are checked as for every backend."""
        super().check_options(max_iters, time_limit,
                              {k: v for k, v in options.items() if k in _CVXPY_KEYS})

    def _limit_status(self, problem, max_iters, time_limit):
        # only a limit this backend passed can have stopped the solver
        if time_limit is not None and self.words[2] and (
                max_iters is None or not self.words[1]):
            return "time_limit"
        return "iteration_limit"

    def map_status(self, problem, max_iters, time_limit):
        if problem.status not in CVXPY_STATUS_MAP:
            self._unmapped = str(problem.status)
            return "error"
        return super().map_status(problem, max_iters, time_limit)

    def solve(self, problem, **kwargs):
        self._unmapped = None
        result = super().solve(problem, **kwargs)
        notes = []
        if self._unmapped is not None:
            notes.append(f"UNMAPPED status {self._unmapped!r}: sdpnets does not know this cvxpy "
                         "status, so the run is an error, never solved.")
            result = replace(result, raw={"unmapped_status": self._unmapped,
                                          "extra_stats": result.raw})
        tols, _, limit = self.words
        if not tols:
            notes.append(f"tol={kwargs.get('tol', 1e-8):g} was not passed to "
                         f"{self.cvxpy_solver} (its own defaults apply).")
        if kwargs.get("time_limit") is not None and not limit:
            notes.append(f"time_limit was not passed to {self.cvxpy_solver} (it has no such "
                         "option here).")
        if notes:
            result = replace(result, message=" ".join([result.message, *notes]).strip())
        return result


_CVXPY_KEYS = ("canon_backend", "ignore_dpp", "enforce_dpp")


@functools.lru_cache(maxsize=None)
def cvxpy_backend(solver: str) -> type[CvxpySolverBackend]:
    """The backend class of cvxpy's conic solver ``solver``, named ``"cvxpy:SOLVER"``.

    Raises
    ------
    UnknownBackendError
        When ``solver`` is not one of cvxpy's conic solvers (a QP-only solver such as OSQP
        is named as such).
    """
    from cvxpy.reductions.solvers import defines

    name = solver.upper()
    if _interface(name) is None:
        kind = ("a QP solver, not a conic one" if name in defines.QP_SOLVERS
                else "not a solver cvxpy knows")
        raise UnknownBackendError(
            f"backend {CVXPY_PREFIX + solver!r}: {name} is {kind}; cvxpy's conic solvers "
            f"are {', '.join(sorted(defines.CONIC_SOLVERS))} (installed here: "
            f"{', '.join(cvxpy_conic_solvers()) or 'none'})."
        )
    attrs = {
        "name": CVXPY_PREFIX + name,
        "cvxpy_solver": name,
        "cones": solver_cones(name),
        "words": OPTION_WORDS.get(name, ((), None, None)),
        "takes_tol": name in OPTION_WORDS and bool(OPTION_WORDS[name][0]),
        "__doc__": f"cvxpy's conic solver {name} (backend ``{CVXPY_PREFIX + name}``).",
        "__module__": __name__,
    }
    return type(f"Cvxpy{name.title().replace('_', '')}Backend", (CvxpySolverBackend,), attrs)
