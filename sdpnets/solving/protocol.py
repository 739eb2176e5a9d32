"""What :mod:`sdpnets.solving` asks of a program: the :class:`SolvableProgram` protocol.

``solving/`` never imports a formulation, never reads a program's private attributes and
never switches on its class: a program tells it what it needs through the public members
below (:class:`~sdpnets.formulations.base.ConvexProgram` implements them all; a new family
overrides the hooks behind them, never these).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import cvxpy as cp

from ..results import Certificate, SolveResult

__all__ = ["SolvableProgram"]


class SolvableProgram(Protocol):
    """A convex program as the solve pipeline sees it.

    Capabilities (class attributes, read before anything is built):

    * ``cones``: the cones of its conic form (a backend lacking one is refused);
    * ``has_firstorder``: whether sdpnets' own first-order solver applies to it
      (``backend="firstorder"``, and the memory guard's last resort under ``"auto"``);
    * ``auto_firstorder``: whether ``backend="auto"`` tries that solver first;
    * ``always_feasible``: whether every instance is feasible and bounded below (then a
      solver's "infeasible"/"unbounded" is a numerical failure).

    Solving: :attr:`problem` (the cvxpy problem a conic backend solves, built on first
    access, :attr:`is_built`), :meth:`solve_firstorder` (one solve by sdpnets' own
    first-order solver), :attr:`objective_scale` (from the conic solver's objective to the
    caller's units), :meth:`note` (a detail every result records), :attr:`exact`, and
    :meth:`verification_certificate` (the certificate of the program that was solved, for
    the solution of :attr:`result`), which the verification policy of :mod:`.verify`
    judges; :attr:`result` is the last result (set by the pipeline).

    Memory (bytes, predicted before anything runs): :meth:`build_memory` (the formulation's
    own arrays around a conic solve), :meth:`firstorder_memory` (sdpnets' first-order
    solver), :meth:`data_memory` (what the first-order path holds outside its solver).

    Second attempts and isolation: :meth:`snapshot` / :meth:`restore` (the program's state,
    shallow), :meth:`discard_problem` (the next access rebuilds it),
    :attr:`targets_rescalable` and :meth:`rescale_targets` (solve once more on the
    objective's own scale).
    """

    has_firstorder: ClassVar[bool]
    auto_firstorder: ClassVar[bool]
    always_feasible: ClassVar[bool]

    @property
    def cones(self) -> frozenset[str]: ...

    @property
    def exact(self) -> bool: ...

    @property
    def problem(self) -> cp.Problem: ...

    @property
    def is_built(self) -> bool: ...

    @property
    def objective_scale(self) -> float: ...

    @property
    def targets_rescalable(self) -> bool: ...

    @property
    def result(self) -> SolveResult | None: ...

    @result.setter
    def result(self, value: SolveResult | None) -> None: ...

    def note(self) -> str: ...

    def verification_certificate(self, tol: float) -> Certificate: ...

    def solve_firstorder(self, *, tol: float, max_iters: int | None,
                         time_limit: float | None, verbose: bool, warm_start: bool,
                         **options: Any) -> SolveResult: ...

    def build_memory(self) -> int: ...

    def firstorder_memory(self) -> int: ...

    def data_memory(self) -> int: ...

    def snapshot(self, portable: bool = False) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...

    def discard_problem(self) -> None: ...

    def rescale_targets(self, objective: float) -> None: ...
