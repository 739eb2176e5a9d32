r"""Two-layer ReLU networks with ``K`` outputs and standard weight decay: relaxations of the
copositive program, with a certified bracket (docs/relu_vector_output.md).

The network :math:`f(X) = \sum_j (Xu_j)_+\alpha_j^T`, :math:`\alpha_j \in \mathbb{R}^K`,
trained with :math:`\tfrac12\|f(X) - Y\|_F^2 + \tfrac\beta2\sum_j(\|u_j\|^2 + \|\alpha_j\|^2)`
is, over every activation pattern, the convex program
:math:`\min \tfrac12\|\sum_i D_iXZ_i - Y\|^2 + \beta\sum_i\|Z_i\|_{K_i}` with a
cone-constrained nuclear norm (a copositive program; section 5a). It is not solved exactly;
:class:`CopositiveReLU` solves one of two relaxations, each a **lower bound** on the
network optimum:

* ``"cone_split"`` (section 5b): per pattern a PSD lift of ``(u, alpha+, alpha-)`` with the
  cone constraints; a bound only over **every** pattern (enumerated); for ``K = 1`` it *is*
  the exact program of docs/relu.md section 4a;
* ``"dnn"`` (section 5c): one doubly non-negative lift of ``(u, alpha, (Xu)_+)``, needing no
  pattern: a bound at every size.

The lower bound is certified from the solver's multipliers (a smallest-eigenvalue
correction makes it hold whatever the solver's accuracy); the upper bound is the objective of
a network rounded from the solution (:mod:`.rounding`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, ClassVar

import cvxpy as cp
import numpy as np

from ..._validate import check_beta, check_choice, check_data, check_int, check_targets
from ...backends.firstorder.dnn_dual import (
    DNNMultipliers,
    certified_bound,
    solve_dnn_dual,
)
from ...errors import InvalidInputError, ProblemTooLargeError
from ...features.arrangement import arrangement_info
from ...features.patterns import DEFAULT_MAX_PATTERNS, enumerate_patterns
from ...losses import get_loss
from ...networks.relu import ReLUMLP
from ...results import Certificate, SolveResult
from ..base import ConvexProgram
from .rounding import directions_from_blocks, directions_from_lift, network_objective, round_network

__all__ = ["CopositiveReLU", "RELAXATIONS", "COPOSITIVE_LOSSES", "CONE_SPLIT_MAX_PATTERNS",
           "DNN_CONIC_MAX_SIDE", "certify_standard"]

logger = logging.getLogger(__name__)

#: ``backend="auto"`` solves the DNN relaxation by the first-order dual method when its PSD
#: side ``d + K + n`` exceeds this (an interior-point solve then takes many minutes).
DNN_CONIC_MAX_SIDE = 120

#: The relaxations :class:`CopositiveReLU` offers.
RELAXATIONS = ("auto", "cone_split", "dnn")

#: The losses :class:`CopositiveReLU` offers: the relaxations' prediction is linear in the
#: lifted matrix, so a convex loss of it keeps them convex and lower bounds
#: (docs/relu_vector_output.md section 5e).
COPOSITIVE_LOSSES = ("squared", "softmax")

#: ``relaxation="auto"`` uses ``"cone_split"`` when every pattern can be enumerated and
#: there are at most this many (one PSD block of side ``d + 2K`` each), else ``"dnn"``.
CONE_SPLIT_MAX_PATTERNS = 300


class CopositiveReLU(ConvexProgram):
    r"""A certified bracket on the optimum of a ``K``-output ReLU network with weight decay.

    The network is trained with the standard penalty on every neuron:

    .. math::

        \min_{U,\alpha}\ \tfrac12\big\|(XU)_+\alpha - Y\big\|_F^2
            + \tfrac\beta2\big(\|U\|_F^2 + \|\alpha\|_F^2\big)

    (a bias appends a ones column to ``X``). :meth:`solve` solves a relaxation of its
    copositive form: ``lower_bound`` of the result is certified (every network of every
    width has an objective at least that), ``upper_bound`` is the objective of
    :meth:`network`, a network rounded from the solution and polished by L-BFGS. ``exact``
    says whether the relaxation is known to be tight here: ``relaxation="cone_split"`` with
    ``K = 1`` (it is then the exact program of docs/relu.md section 4a). The result's
    ``objective`` is the relaxation's value.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Inputs.
    Y : array_like, shape (n, K) or (n,)
        Targets (one-hot rows, ``K >= 2``, for ``loss="softmax"``).
    beta : float
        Weight decay, ``> 0``.
    relaxation : {"auto", "cone_split", "dnn"}
        ``"cone_split"`` (docs/relu_vector_output.md section 5b): tight, needs every
        activation pattern (refused with :class:`~sdpnets.ProblemTooLargeError` when their
        bound exceeds ``max_patterns``); ``"dnn"`` (section 5c): no patterns, one PSD
        matrix of side ``d + K + n``, looser at small ``beta``; ``"auto"``: ``"cone_split"``
        when at most :data:`CONE_SPLIT_MAX_PATTERNS` patterns, else ``"dnn"``.
    bias : bool
        Append a ones column to ``X`` (a penalized first-layer bias).
    max_patterns : int
        Limit for the enumeration of patterns.
    polish : bool
        Polish the rounded network by L-BFGS (it can only lower the upper bound).
    loss : {"squared", "softmax"}
        The training loss, summed over samples: ``"squared"``
        (:math:`\tfrac12\|\hat Y - Y\|_F^2`, above) or ``"softmax"`` (cross-entropy of the
        softmax of the ``K`` outputs, conic backends with exponential cones, e.g. Clarabel;
        not ``backend="firstorder"``).
    """

    has_firstorder: ClassVar[bool] = True

    def __init__(self, X, Y, beta: float, relaxation: str = "auto", bias: bool = False, *,
                 max_patterns: int = DEFAULT_MAX_PATTERNS, polish: bool = True,
                 loss: str = "squared") -> None:
        super().__init__(beta)
        self.X = check_data(X)
        self.loss = get_loss(check_choice(loss, "loss", COPOSITIVE_LOSSES))
        if not isinstance(bias, (bool, np.bool_)):
            raise InvalidInputError(f"bias must be True or False, got {bias!r}.")
        if not isinstance(polish, (bool, np.bool_)):
            raise InvalidInputError(f"polish must be True or False, got {polish!r}.")
        Y = check_targets(Y, self.X.shape[0], name="Y")
        self._y_ndim = Y.ndim
        self.Y = Y.reshape(self.X.shape[0], -1)
        self.loss.check_targets(self.Y)
        self.bias = bool(bias)
        self.polish = bool(polish)
        self.max_patterns = check_int(max_patterns, "max_patterns", minimum=1)
        relaxation = check_choice(relaxation, "relaxation", RELAXATIONS)
        n = self.X.shape[0]
        self._A = np.hstack([self.X, np.ones((n, 1))]) if self.bias else self.X
        self._masks: np.ndarray | None = None
        if relaxation != "dnn":
            bound = arrangement_info(self._A).max_cells
            limit = self.max_patterns if relaxation == "cone_split" else min(
                self.max_patterns, CONE_SPLIT_MAX_PATTERNS)
            if bound <= limit:
                self._masks = enumerate_patterns(self._A, max_patterns=limit).masks
            elif relaxation == "cone_split":
                raise ProblemTooLargeError(
                    f"relaxation='cone_split' is a lower bound only over every activation "
                    f"pattern, and these data have up to {bound:,} of them, more than "
                    f"max_patterns={self.max_patterns:,}; use relaxation='dnn' (no patterns).")
        self.relaxation = "cone_split" if self._masks is not None else "dnn"
        self._net: ReLUMLP | None = None
        self._lower: float | None = None
        self._dual: np.ndarray | None = None
        self._fo: Any = None
        self._start_hint: ReLUMLP | None = None
        self._sol: dict[str, Any] = {}

    @property
    def cones(self) -> frozenset[str]:  # type: ignore[override]
        """The cones of the conic form: PSD and linear ones, and the loss's (exponential
        cones for softmax)."""
        return frozenset({"zero", "nonneg", "soc", "psd"}) | self.loss.cones

    @property
    def side(self) -> int:
        """The side of the relaxation's PSD matrix (``"dnn"``) or of each block
        (``"cone_split"``)."""
        h, K = self._A.shape[1], self.Y.shape[1]
        return h + K + self._A.shape[0] if self.relaxation == "dnn" else h + 2 * K

    # -- the programs ---------------------------------------------------------------------
    @property
    def exact(self) -> bool:
        """Whether the relaxation is known to equal the network optimum: ``"cone_split"``
        (every pattern) with one output."""
        return self.relaxation == "cone_split" and self.Y.shape[1] == 1

    def note(self) -> str:
        if self.relaxation == "cone_split":
            assert self._masks is not None  # set with the relaxation
            return (f"cone-split relaxation over all {self._masks.shape[1]} activation "
                    "patterns")
        return "doubly non-negative relaxation (no activation patterns)"

    def _build(self) -> cp.Problem:
        return self._build_cone_split() if self.relaxation == "cone_split" else self._build_dnn()

    def _build_dnn(self) -> cp.Problem:
        A, Y = self._A, self.Y
        n, h = A.shape
        K = Y.shape[1]
        N = h + K + n
        M = cp.Variable((N, N), PSD=True, name="M")
        iu, ia, ih = slice(0, h), slice(h, h + K), slice(h + K, N)
        HS = M[ih, ih] - M[ih, iu] @ A.T
        SS = HS - A @ M[ih, iu].T + A @ M[iu, iu] @ A.T
        pred = cp.Variable((n, K), name="prediction")
        self._cons = {"pred": pred == M[ih, ia], "hh": M[ih, ih] >= 0, "hs": HS >= 0,
                      "ss": SS >= 0, "comp": cp.diag(HS) == 0}
        self._M, self._pred = M, pred
        objective = (self.loss.expr(pred, self.Y)
                     + 0.5 * self.beta_parameter * (cp.trace(M[iu, iu]) + cp.trace(M[ia, ia])))
        return cp.Problem(cp.Minimize(objective), list(self._cons.values()))

    def _build_cone_split(self) -> cp.Problem:
        A, Y = self._A, self.Y
        assert self._masks is not None  # the relaxation is cone_split
        masks = self._masks.astype(float)
        n, h = A.shape
        K = Y.shape[1]
        P = masks.shape[1]
        side = h + 2 * K
        blocks = [cp.Variable((side, side), PSD=True, name=f"M{i}") for i in range(P)]
        pred = cp.Variable((n, K), name="prediction")
        cons, terms, trace = [], [], 0
        for i, M in enumerate(blocks):
            SA = (2.0 * masks[:, i] - 1.0)[:, None] * A
            Pi, Ni = M[:h, h:h + K], M[:h, h + K:]
            cons += [SA @ Pi >= 0, SA @ Ni >= 0, M[h:, h:] >= 0, cp.diag(M[h:h + K, h + K:]) == 0]
            terms.append((masks[:, i, None] * A) @ (Pi - Ni))
            trace = trace + cp.trace(M)
        self._pred_cons = pred == cp.sum(terms) if len(terms) > 1 else pred == terms[0]
        cons.append(self._pred_cons)
        self._blocks, self._block_cons, self._pred = blocks, cons[:-1], pred
        objective = self.loss.expr(pred, self.Y) + 0.5 * self.beta_parameter * trace
        return cp.Problem(cp.Minimize(objective), cons)

    # -- certified lower bounds -----------------------------------------------------------
    def _upper_for_trace(self) -> float:
        """An objective every relevant solution is below (the zero network's, or better)."""
        best = self.loss.value(np.zeros_like(self.Y), self.Y)
        if self._net is not None:
            best = min(best, self._net.objective(self.X, self._targets(), self.beta))
        return best

    def _targets(self) -> np.ndarray:
        return self.Y if self._y_ndim == 2 else self.Y[:, 0]

    def _capture(self) -> None:
        """The solution and multipliers as NumPy arrays (they survive an isolated solve,
        which does not carry cvxpy objects back)."""
        def arr(x):
            return np.asarray(x, dtype=float)

        sol: dict[str, Any] = {"pred": arr(self._pred.value)}
        if self.relaxation == "dnn":
            c = self._cons
            sol["M"] = arr(self._M.value)
            sol["mult"] = DNNMultipliers(arr(c["pred"].dual_value), arr(c["hh"].dual_value),
                                         arr(c["hs"].dual_value), arr(c["ss"].dual_value),
                                         -arr(c["comp"].dual_value))
        else:
            sol["blocks"] = [arr(B.value) for B in self._blocks]
            sol["V"] = arr(self._pred_cons.dual_value)
            sol["mult"] = [tuple(arr(c.dual_value) for c in self._block_cons[4 * i:4 * i + 4])
                           for i in range(len(self._blocks))]
        self._sol = sol

    def _dnn_lower(self) -> float:
        m = self._sol["mult"]
        V = self.loss.into_domain(m.V, self.Y)  # the solver's point, into -L*(-V)'s domain
        self._dual = V
        return certified_bound(self._A, self.Y, self.beta, replace(m, V=V),
                               self._upper_for_trace(), loss=self.loss)[0]

    def _cone_split_lower(self) -> float:
        r"""The certified bound of the cone-split relaxation from the solver's multipliers:
        per pattern a matrix ``Q_i`` with :math:`\mathrm{obj} \ge D(V) + \sum_i\langle Q_i,
        M_i\rangle`, and :math:`\sum_i \operatorname{tr}M_i \le 2\,\mathrm{upper}/\beta`."""
        A, Y, beta = self._A, self.Y, self.beta
        assert self._masks is not None  # the relaxation is cone_split
        h, K = A.shape[1], Y.shape[1]
        V = self.loss.into_domain(self._sol["V"], Y)
        self._dual = V
        worst = 0.0
        for i in range(self._masks.shape[1]):
            D = self._masks[:, i].astype(float)
            S = 2.0 * D - 1.0
            L1, L2, G, mu = self._sol["mult"][i]
            L1, L2, G = np.maximum(L1, 0.0), np.maximum(L2, 0.0), np.maximum(G, 0.0)
            ADV = A.T @ (D[:, None] * V)
            Q = 0.5 * beta * np.eye(h + 2 * K)
            QP = 0.5 * (-ADV - A.T @ (S[:, None] * L1))
            QN = 0.5 * (ADV - A.T @ (S[:, None] * L2))
            Q[:h, h:h + K] += QP
            Q[h:h + K, :h] += QP.T
            Q[:h, h + K:] += QN
            Q[h + K:, :h] += QN.T
            Q[h:, h:] -= 0.5 * (G + G.T)
            k, mu = np.arange(K), mu.reshape(-1)
            Q[h + k, h + K + k] += 0.5 * mu
            Q[h + K + k, h + k] += 0.5 * mu
            worst = min(worst, float(np.linalg.eigvalsh(Q)[0]))
        return self.loss.dual_value(V, Y) + worst * 2.0 * self._upper_for_trace() / beta

    def _relaxation_value(self) -> float:
        """The relaxation's objective at the solver's primal point (caller's units)."""
        Y, beta = self.Y, self.beta
        pred = self._sol["pred"]
        if self.relaxation == "dnn":
            M = self._sol["M"]
            h, K = self._A.shape[1], Y.shape[1]
            trace = float(np.trace(M[:h + K, :h + K]))
        else:
            trace = float(sum(np.trace(B) for B in self._sol["blocks"]))
        return self.loss.value(pred, Y) + 0.5 * beta * trace

    def _program_certificate(self) -> Certificate:
        """The relaxation's own certificate (what the solve pipeline verifies): its certified
        bound and its objective at the solver's point; a first-order solve: its bound and
        the rounded network."""
        if self._fo is not None:
            net = self._rounded()
            return Certificate(self._fo.bound, net.objective(self.X, self._targets(), self.beta),
                               0.0)
        self._capture()
        lower = self._dnn_lower() if self.relaxation == "dnn" else self._cone_split_lower()
        upper = self._relaxation_value()
        return Certificate(min(lower, upper), upper, upper - min(lower, upper),
                           dual_point=self._dual, kind="relaxation")

    # -- solving ----------------------------------------------------------------------------
    def solve(self, backend: str = "auto", tol: float = 1e-8, max_iters: int | None = None,
              time_limit: float | None = None, verbose: bool = False, **kwargs: Any
              ) -> SolveResult:
        """Solve the relaxation, round and polish a network, and return the bracket.

        Parameters are those of :meth:`sdpnets.ConvexProgram.solve`; ``backend="auto"`` is
        ``"firstorder"`` for a DNN relaxation of side above :data:`DNN_CONIC_MAX_SIDE`;
        ``backend="firstorder"`` (``"dnn"`` and the squared loss only) maximizes the
        relaxation's dual by L-BFGS on a smoothed form, every iterate a certified bound, and
        stops when the bound reaches the rounded network's objective within ``tol``, at
        ``time_limit``, or after ``max_iters`` iterations (4000 when neither is given).

        Returns
        -------
        SolveResult
            ``objective``: the relaxation's value; ``lower_bound``: the certified bound on
            the network optimum; ``upper_bound``: the objective of :meth:`network`;
            ``exact``: whether the relaxation is known to be tight.
        """
        self._net, self._lower, self._fo = None, None, None
        squared = self.loss.name == "squared"
        if (backend == "auto" and squared and self.relaxation == "dnn"
                and self.side > DNN_CONIC_MAX_SIDE):
            backend = "firstorder"
        if backend == "firstorder" and self.relaxation != "dnn":
            raise InvalidInputError("backend='firstorder' solves relaxation='dnn' only.")
        if backend == "firstorder" and not squared:
            raise InvalidInputError(
                f"backend='firstorder' solves the squared loss only, got loss="
                f"{self.loss.name!r}; use a conic backend with exponential cones (Clarabel).")
        result = super().solve(backend, tol, max_iters, time_limit, verbose, **kwargs)
        if not result.solved:
            return result
        t0 = time.perf_counter()
        net = self._rounded()
        upper = net.objective(self.X, self._targets(), self.beta)
        if self._fo is not None:
            lower = self._fo.bound
        else:  # the bound again, with the network's objective in the trace bound
            lower = self._dnn_lower() if self.relaxation == "dnn" else self._cone_split_lower()
        lower = min(lower, upper)
        self._lower = lower
        message = (f"{result.message} Bracket on the network optimum: certified lower bound "
                   f"{lower:.10g} ({self.note()}), rounded network {upper:.10g}.").strip()
        self._result = replace(result, lower_bound=lower, upper_bound=upper,
                               gap=upper - lower, exact=self.exact, message=message,
                               solve_time=result.solve_time + time.perf_counter() - t0)
        return self._result

    def solve_firstorder(self, *, tol: float, max_iters: int | None, time_limit: float | None,
                         verbose: bool, warm_start: bool, **options: Any) -> SolveResult:
        """The dual method of :func:`sdpnets.backends.firstorder.dnn_dual.solve_dnn_dual`,
        targeting the objective of a network rounded from the data's rows (or ``start``, a
        :class:`~sdpnets.ReLUMLP`, whose residual also starts the dual)."""
        t0 = time.perf_counter()
        start_net = options.pop("start", self._start_hint)
        if options:
            raise InvalidInputError(f"unknown option(s) {sorted(options)} for "
                                    "backend='firstorder'; known: ['start'].")
        A, Y = self._A, self.Y
        if start_net is None:
            U, alpha = round_network(A, Y, self.beta, np.zeros((A.shape[1], 0)), rounds=10)
            start_net = self._as_network(U, alpha)
        target = start_net.objective(self.X, self._targets(), self.beta)
        n, K = Y.shape
        V0 = Y - np.asarray(start_net.predict(self.X)).reshape(n, K)
        zeros = np.zeros((n, n))
        fo = solve_dnn_dual(A, Y, self.beta, target,
                            start=DNNMultipliers(V0, zeros, zeros, zeros, np.zeros(n)),
                            target=target, tol=max(tol, 1e-12),
                            max_iters=max_iters,
                            time_limit=time_limit)
        self._fo = fo
        self._fo_start = start_net
        # every iterate is a certified bound and a network exists: a run stopped by its budget
        # still has a bracket (open: "optimal_inaccurate", with the reason in the message)
        status = "optimal" if fo.status == "optimal" else "optimal_inaccurate"
        reason = {"optimal": "the bound reached the network", "time_limit": "time limit",
                  "iteration_limit": "iteration budget"}[fo.status]
        return SolveResult(status=status, objective=fo.bound, backend="firstorder",
                           solve_time=time.perf_counter() - t0, compile_time=0.0,
                           iterations=fo.iterations, exact=self.exact,
                           message=f"DNN dual by smoothed L-BFGS: certified bound {fo.bound:.10g} "
                                   f"after {fo.iterations} iterations (stopped: {reason}).",
                           raw={"history": fo.history, "stop": fo.status})

    def firstorder_memory(self) -> int:
        n = self._A.shape[0]
        N = self._A.shape[1] + self.Y.shape[1] + n
        return int(8 * (3 * n * n * 25 + 6 * N * N))

    # -- the network ------------------------------------------------------------------------
    def _as_network(self, U: np.ndarray, alpha: np.ndarray) -> ReLUMLP:
        h = self.X.shape[1]
        if self._y_ndim == 1:
            alpha = alpha[:, 0]
        return ReLUMLP(U[:h], alpha, bias=U[h] if self.bias else None,
                       output_penalty="frobenius", loss=self.loss)

    def _rounded(self) -> ReLUMLP:
        if self._net is not None:
            return self._net
        A, Y = self._A, self.Y
        h = A.shape[1]
        if self._fo is not None:
            dirs = directions_from_lift(self._fo.W, h)
            start = self._fo_start
            G = start.U if start.bias is None else np.vstack([start.U, start.bias[None, :]])
            dirs = np.hstack([dirs, G / np.maximum(np.linalg.norm(G, axis=0), 1e-300)])
        elif self.relaxation == "dnn":
            dirs = directions_from_lift(self._sol["M"], h)
        else:
            assert self._masks is not None  # the relaxation is cone_split
            blocks = [B[:h, h:] for B in self._sol["blocks"]]
            dirs = directions_from_blocks(blocks, self._masks, A)
        U, alpha = round_network(A, Y, self.beta, dirs, do_polish=self.polish, loss=self.loss)
        net = self._as_network(U, alpha)
        if self._fo is not None and self._fo_start.objective(self.X, self._targets(), self.beta) \
                < net.objective(self.X, self._targets(), self.beta):
            net = self._fo_start
        self._net = net
        return net

    def _recover(self) -> ReLUMLP:
        return self._rounded()

    def network(self) -> ReLUMLP:
        """The network rounded from the relaxation's solution (and polished): its objective
        is the result's ``upper_bound``."""
        self._require_solution()
        return self._rounded()

    def _certificate(self) -> Certificate:
        net = self._rounded()
        upper = net.objective(self.X, self._targets(), self.beta)
        lower = self._lower if self._lower is not None else -np.inf
        exact = self.exact or (upper - lower <= 1e-6 * abs(upper))
        return Certificate(lower, upper, upper - lower, dual_point=self._dual,
                           kind="exact" if exact else "relaxation")

    def certificate(self) -> Certificate:
        """The bracket ``lower_bound <= optimum <= upper_bound``: the certified relaxation
        bound and the rounded network's objective. ``kind`` is ``"exact"`` when the
        relaxation is known tight (``cone_split`` with ``K = 1``) or the bracket closed to
        1e-6, else ``"relaxation"``."""
        self._require_solution()
        return self._certificate()


def certify_standard(network: ReLUMLP, X, y, beta: float, *,
                     relaxation: str = "auto", backend: str = "auto",
                     max_patterns: int = DEFAULT_MAX_PATTERNS, loss: str = "squared"
                     ) -> Certificate:
    """Certificate of a multi-output :class:`~sdpnets.ReLUMLP` with standard weight decay
    (``output_penalty="frobenius"``, ``loss`` one of :data:`COPOSITIVE_LOSSES`): the
    network's objective, and the certified lower bound of :class:`CopositiveReLU` on the same
    data (``kind="relaxation"``, or ``"exact"`` when the bracket closes).

    Raises
    ------
    InvalidInputError
        For a network with an output offset (an unpenalized intercept): the relaxation's
        bound is over networks without one, so it would not bound such a network's problem.
    """
    if network.offset is not None and np.any(np.asarray(network.offset) != 0):
        raise InvalidInputError(
            "network has an output offset (intercept); the certified lower bound of the "
            "standard weight decay (CopositiveReLU) is over networks without one, so it "
            "does not bound this network's training problem. Certify a network without an "
            "output bias (in PyTorch: the last nn.Linear with bias=False)."
        )
    X = check_data(X)
    beta = check_beta(beta)
    Y = check_targets(y, X.shape[0])
    upper = network.objective(X, Y, beta, loss)
    prog = CopositiveReLU(X, Y, beta, relaxation=relaxation, bias=network.bias is not None,
                          max_patterns=max_patterns, loss=loss)
    prog._start_hint = network  # the first-order path starts from the network's residual
    res = prog.solve(backend=backend)
    if not res.solved:
        return Certificate(-np.inf, upper, np.inf, kind="relaxation")
    lower = min(res.lower_bound, upper)
    kind = "exact" if prog.exact or upper - lower <= 1e-6 * abs(upper) else "relaxation"
    return Certificate(lower, upper, upper - lower, dual_point=prog._dual, kind=kind)
