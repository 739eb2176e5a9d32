r"""Two-layer ReLU networks as cone-constrained group lassos (docs/relu.md).

For a two-layer ReLU network :math:`f(X) = \sum_j (Xu_j)_+ \alpha_j` with weight decay,

.. math::

    \min_{U, \alpha} L\Big(\sum_j (Xu_j)_+\alpha_j,\; y\Big)
        + \tfrac{\beta}{2}\big(\|U\|_F^2 + \|\alpha\|^2\big)
    \;=\; \min_{v_i, w_i} L\Big(\sum_i D_i X (v_i - w_i),\; y\Big)
        + \beta \sum_i \big(\|v_i\|_2 + \|w_i\|_2\big)
    \quad\text{s.t. } (2D_i - I)Xv_i \ge 0,\ (2D_i - I)Xw_i \ge 0,

over the activation patterns :math:`D_i` of every full-dimensional cell of the arrangement
:math:`\{x_k^T g = 0\}` (Pilanci & Ergen 2020, Theorem 1), for every convex loss ``L``
(summed over samples). Vector outputs use the separable l1-squared output penalty (4d).
The shared group-lasso machinery is in :mod:`.group_lasso`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..._validate import check_beta, check_data, check_int, check_targets
from ...certificates import BETA_MAX_FAMILIES, certify
from ...errors import InvalidInputError, NonConvexFormulationError
from ...features.patterns import DEFAULT_MAX_PATTERNS
from ...losses import Loss, get_loss
from ...networks.relu import ReLUMLP
from ...results import Certificate
from .dual_norm import cells_if_they_fit, relu_dual_norm_bracket
from .group_lasso import (
    GroupLassoReLU,
    beta_max_value,
    caratheodory_prune,
    certificate_kind,
    outputs_bound,
    zero_network_dual,
)

__all__ = ["ConvexReLU", "relu_beta_max", "prune_network"]


def _balanced_parts(net: ReLUMLP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit first-layer directions (with bias row), unit output rows and ``c_j``."""
    first = net.U if net.bias is None else np.vstack([net.U, net.bias[None, :]])
    a = np.linalg.norm(first, axis=0)
    alpha = net.alpha.reshape(net.width, -1)
    o = (
        np.abs(alpha).sum(axis=1)
        if net.output_penalty == "l1_squared"
        else np.linalg.norm(alpha, axis=1)
    )
    c = a * o
    live = c > 0
    dirs = np.zeros_like(first)
    outs = np.zeros_like(alpha)
    dirs[:, live] = first[:, live] / a[live]
    outs[live] = alpha[live] / o[live, None]
    return dirs, outs, c


def prune_network(net: ReLUMLP, X) -> ReLUMLP:
    r"""Caratheodory pruning of a two-layer ReLU network (docs/relu.md section 4a).

    Every neuron is rebalanced (:math:`\|u_j\| = \|\alpha_j\|`, which never raises the
    objective) and written :math:`c_j\, \bar u_j, \bar\alpha_j` with unit parts; the
    predictions are linear in ``c`` and the penalty is :math:`\beta\sum_j c_j`, so
    :func:`caratheodory_prune` keeps both while leaving at most ``nK + 1`` neurons.
    """
    X = check_data(X)
    dirs, outs, c = _balanced_parts(net)
    Xa = X if net.bias is None else np.hstack([X, np.ones((X.shape[0], 1))])
    H = np.maximum(Xa @ dirs, 0.0)  # (n, m)
    F = (H[:, :, None] * outs[None, :, :]).transpose(0, 2, 1).reshape(-1, net.width)
    c = caratheodory_prune(F, c)
    keep = np.flatnonzero(c > 0)
    if keep.size == 0:
        keep = np.array([0])
    root = np.sqrt(c[keep])
    first = dirs[:, keep] * root
    alpha = outs[keep] * root[:, None]
    alpha = alpha.reshape(-1) if net.alpha.ndim == 1 else alpha
    U = first if net.bias is None else first[:-1]
    bias = None if net.bias is None else first[-1]
    return ReLUMLP(U, alpha, bias=bias, output_penalty=net.output_penalty, loss=net.loss,
                   offset=net.offset)

# --- ConvexReLU ---------------------------------------------------------------------------------


class ConvexReLU(GroupLassoReLU):
    r"""Globally optimal two-layer ReLU network :math:`f(X) = (XU + 1b^T)_+\alpha`.

    Solves (docs/relu.md section 4a)

    .. math::

        \min_{v_i, w_i} L\Big(\sum_{i=1}^P D_i X (v_i - w_i), y\Big)
            + \beta\sum_{i=1}^P \big(\|v_i\|_2 + \|w_i\|_2\big)
        \quad\text{s.t.}\quad (2D_i - I)Xv_i \ge 0,\ (2D_i - I)Xw_i \ge 0,

    whose optimum equals :math:`\min L(f(X), y) + \tfrac{\beta}{2}(\|U\|_F^2 + \|b\|^2 +
    \|\alpha\|^2)` when the patterns ``D_i`` are every cell of the arrangement of ``X``'s
    rows (``patterns="exhaustive"``); with fewer patterns it is an upper bound
    (``result.exact`` is ``False``). For targets ``Y`` of shape ``(n, K)`` the output
    penalty is the separable :math:`\|\alpha_j\|_1^2` (4d): ``K`` independent programs that
    share the patterns (the *separable program*; the network it recovers has
    ``output_penalty="l1_squared"``), or, for the softmax loss, one joint program (still
    exact: under the separable penalty a network is, without loss, one output per neuron).
    The standard penalty :math:`\|\alpha_j\|_2^2` of a multi-class MLP is not separable:
    :class:`~sdpnets.CopositiveReLU` brackets its optimum. With ``intercept=True`` the
    prediction has an unpenalized offset, :math:`f(X) + 1c^T` (docs/relu.md section 4h).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Inputs, one sample per row.
    y : array_like, shape (n,) or (n, K)
        Targets; labels in {-1, +1} for ``loss="logistic"`` and ``"hinge"``.
    beta : float
        Weight decay, ``> 0``.
    patterns : "exhaustive", int or array
        ``"exhaustive"``: every cell (refused with :class:`ProblemTooLargeError` when the
        bound exceeds ``max_patterns``); an int: that many sampled Gaussian gates; a boolean
        ``(n, P)`` array of patterns or a float ``(d, P)`` array of gates (``d + 1`` rows
        with ``bias=True``). A trained :class:`~sdpnets.ReLUMLP` ``net``: its neurons'
        own activation patterns, and ``(net, k)``: those merged with ``k`` sampled gates.
        The program then starts from the network's point (each neuron
        :math:`(u_j, \alpha_j)` put into the block of its pattern as
        :math:`u_j|\alpha_{jk}|`, feasible, at an objective no higher than the network's);
        ``backend="firstorder"`` starts there and never returns a worse network. For vector
        outputs "worse" is measured with the program's l1-squared output penalty.
    loss : {"squared", "logistic", "hinge", "softmax"} or Loss
        Summed over samples (softmax: ``y`` one-hot ``(n, K)``).
    bias : bool
        Append a column of ones to ``X`` (a penalized first-layer bias).
    seed : int or None
        Seed of the sampled gates.
    max_patterns : int
        Limit for exhaustive enumeration.
    intercept : bool
        An unpenalized output offset :math:`c` (the network's ``offset``), carried by the
        program, its certificates and ``beta_max``: every dual point then has
        :math:`1^Tv = 0`.
    """

    def __init__(
        self,
        X,
        y,
        beta: float,
        patterns: Any = "exhaustive",
        loss: str | Loss = "squared",
        bias: bool = False,
        seed: int | None = 0,
        *,
        max_patterns: int = DEFAULT_MAX_PATTERNS,
        intercept: bool = False,
    ) -> None:
        super().__init__(beta)
        self._set_dense_data(X, bias)
        net, patterns = _network_gates(patterns, self._A, self.bias, seed)
        self._check_common(y, loss, patterns, seed, max_patterns, intercept=intercept)
        if net is not None:
            self._start_from(net)

    def _start_from(self, net: ReLUMLP) -> None:
        r"""The network's neurons as blocks: neuron ``j`` with pattern ``i`` adds
        :math:`g_j \max(\pm\alpha_{jk}, 0)` to ``V[:, i, k]`` / ``W[:, i, k]``."""
        G = net.U if net.bias is None else np.vstack([net.U, net.bias[None, :]])
        if self.bias and net.bias is None:
            G = np.vstack([G, np.zeros((1, G.shape[1]))])
        alpha = net.alpha.reshape(net.width, -1)
        K = self._y2.shape[1]
        if alpha.shape[1] != K:
            raise InvalidInputError(f"patterns: the network has {alpha.shape[1]} outputs, y has {K}.")
        masks = self._patterns.masks
        index = {m.tobytes(): i for i, m in enumerate(np.ascontiguousarray(masks.T))}
        own = np.ascontiguousarray((self._A @ G >= 0).T)
        pat = np.array([index.get(m.tobytes(), -1) for m in own])
        h, P = G.shape[0], masks.shape[1]
        V, W = np.zeros((h, P, K)), np.zeros((h, P, K))
        live = pat >= 0  # dead neurons (all-zero pattern) contribute nothing
        for out, part in ((V, np.maximum(alpha, 0.0)), (W, np.maximum(-alpha, 0.0))):
            contrib = G[:, live, None] * part[None, live, :]  # (h, m_live, K)
            np.add.at(out.transpose(1, 0, 2), pat[live], contrib.transpose(1, 0, 2))
        self._start_blocks = (V, W)
        #: The trained network the program starts from (``patterns=net``).
        self.start_network = net
        self._patterns = replace(
            self._patterns, method="network",
            message=f"the activation patterns of a trained network's {net.width} neurons"
            ": "
            + self._patterns.message,
        )

    def _data_for_network(self) -> np.ndarray:
        return self.X

    def _recover(self, prune: bool = False) -> ReLUMLP:
        vec, sgn, out = self._neurons()
        d, K = self.X.shape[1], self._y2.shape[1]
        root = np.sqrt(np.linalg.norm(vec, axis=0))
        first = vec / np.maximum(root, 1e-300)
        if self._scalar:
            alpha = sgn * root
        else:
            alpha = np.zeros((vec.shape[1], K))
            alpha[np.arange(vec.shape[1]), out] = sgn * root
        if vec.shape[1] == 0:
            first = np.zeros((self._A.shape[1], 1))
            alpha = np.zeros(1) if self._scalar else np.zeros((1, K))
        net = ReLUMLP(
            first[:d],
            alpha,
            bias=first[d] if self.bias else None,
            output_penalty="frobenius" if self._scalar else "l1_squared",
            loss=self._loss, offset=self._offset_value(),
        )
        return prune_network(net, self.X) if prune else net

    def network(self, prune: bool = False) -> ReLUMLP:
        """The recovered network: one neuron per non-zero block,
        :math:`u = v_i/\\sqrt{\\|v_i\\|}`, :math:`\\alpha = \\pm\\sqrt{\\|v_i\\|}`.

        With ``prune=True`` Caratheodory pruning leaves at most ``n + 1`` neurons
        (``nK + 1`` for ``K`` outputs) at the same objective.
        """
        self._require_solution()
        return self._recover(prune=prune)


def relu_beta_max(
    X,
    y,
    max_patterns: int = DEFAULT_MAX_PATTERNS,
    *,
    bias: bool = False,
    loss: str | Loss = "squared",
    interval: bool = False,
    intercept: bool = False,
) -> float:
    r""":math:`\beta_{\max} = \max_{\|u\| \le 1} |g^T (Xu)_+|` with :math:`g = -\nabla L(0)`
    (max over outputs): the zero network is the global optimum of the two-layer ReLU problem
    iff :math:`\beta \ge \beta_{\max}` (docs/relu.md section 4c). ``g = y`` for squared and hinge loss,
    ``y / 2`` for logistic loss. ``bias=True`` appends the ones column of a first-layer
    bias.

    Exact, a plain float, when every activation pattern fits ``max_patterns``. Otherwise a
    :class:`~sdpnets.BetaMaxInterval`: a float equal to the
    certified *upper* end (the zero network is optimal for every ``beta`` at or above it),
    with ``.lower`` (a direction attaining it was found) and ``.upper``.
    ``interval=True`` always returns a ``BetaMaxInterval`` (``.exact`` says which).
    ``intercept=True``: the program has an unpenalized offset, and ``g`` is the dual point of
    the best constant prediction instead of zero (centered)."""
    X = check_data(X)
    if not isinstance(bias, (bool, np.bool_)):
        raise InvalidInputError(f"bias must be True or False, got {bias!r}.")
    loss = get_loss(loss)
    y2 = check_targets(y, X.shape[0]).reshape(X.shape[0], -1)
    loss.check_targets(y2)
    A = np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X
    g = zero_network_dual(loss, y2, bool(intercept))
    max_patterns = check_int(max_patterns, "max_patterns", minimum=1)
    masks = cells_if_they_fit(A, max_patterns)
    brackets = [relu_dual_norm_bracket(A, g[:, k], masks=masks, max_patterns=max_patterns)
                for k in range(y2.shape[1])]
    return beta_max_value(brackets, interval)


BETA_MAX_FAMILIES["relu"] = relu_beta_max


def _network_gates(patterns, A: np.ndarray, bias: bool, seed):
    """``(net, gates)`` for ``patterns=net`` or ``(net, k)``; ``(None, patterns)`` otherwise."""
    extra = 0
    if isinstance(patterns, tuple) and len(patterns) == 2 and isinstance(patterns[0], ReLUMLP):
        patterns, extra = patterns[0], check_int(patterns[1], "patterns[1]", minimum=0)
    if not isinstance(patterns, ReLUMLP):
        return None, patterns
    net = patterns
    if net.bias is not None and not bias:
        raise InvalidInputError(
            "patterns: the network has first-layer biases; build the program with bias=True."
        )
    if net.U.shape[0] != A.shape[1] - int(bias):
        raise InvalidInputError(
            f"patterns: the network has {net.U.shape[0]} inputs, X has {A.shape[1] - int(bias)} "
            "columns."
        )
    G = net.U if net.bias is None else np.vstack([net.U, net.bias[None, :]])
    if bias and net.bias is None:
        G = np.vstack([G, np.zeros((1, G.shape[1]))])
    if extra:
        G = np.hstack([G, np.random.default_rng(seed).standard_normal((A.shape[1], extra))])
    if not np.any(A @ G >= 0):
        raise InvalidInputError("patterns: every neuron of the network is dead on X.")
    return net, G


@certify.register
def _certify_relu_mlp(
    network: ReLUMLP, X, y, beta: float, loss: str | Loss | None = None,
    max_patterns: int = DEFAULT_MAX_PATTERNS,
) -> Certificate:
    """Certify any two-layer ReLU network: its objective, a lower bound on the global optimum
    from its scaled dual point ``-grad L(f(X))`` (for the hinge loss the best choice in the
    subdifferential), and the gap. ``loss=None``: the network's own loss (a network read
    from PyTorch without a stated loss has none: then ``loss=`` is required). A network
    with an ``offset`` is certified against the problem with an unpenalized intercept (its
    dual points centered, docs/relu.md section 4h).

    Dual feasibility is measured exactly by NNLS over every pattern (docs/relu.md section
    4c) when their number fits ``max_patterns`` (``Certificate.kind == "exact"``); otherwise
    by a certified upper bound on the dual norm (:mod:`.dual_norm`, ``kind ==
    "relaxation"``, with ``dual_norm_bounds`` saying how loose it may be)."""
    X = check_data(X)
    beta = check_beta(beta)
    loss = network.training_loss(loss)
    y = check_targets(y, X.shape[0])
    loss.check_targets(y)
    if X.shape[1] != network.U.shape[0]:
        raise InvalidInputError(
            f"the network has {network.U.shape[0]} inputs, X has {X.shape[1]} columns."
        )
    y2 = y.reshape(X.shape[0], -1)
    K_net = 1 if network.alpha.ndim == 1 else network.alpha.shape[1]
    if K_net != y2.shape[1]:
        raise InvalidInputError(f"the network has {K_net} outputs, y has {y2.shape[1]}.")
    if y2.shape[1] > 1 and network.output_penalty != "l1_squared":
        if loss.name not in ("squared", "softmax"):
            raise NonConvexFormulationError(
                "the certified lower bound for vector-output ReLU networks with standard "
                "weight decay (docs/relu_vector_output.md) is for the squared and softmax "
                f"losses; got loss={loss.name!r}. The separable output penalty has an exact "
                "program for every loss: ReLUMLP(..., output_penalty='l1_squared')."
            )
        from .copositive import certify_standard

        return certify_standard(network, X, y, beta, max_patterns=max_patterns,
                                loss=loss.name)
    A = X if network.bias is None else np.hstack([X, np.ones((X.shape[0], 1))])
    max_patterns = check_int(max_patterns, "max_patterns", minimum=1)
    masks = cells_if_they_fit(A, max_patterns)
    yhat = np.asarray(network.predict(X)).reshape(y2.shape)
    upper = network.objective(X, y, beta, loss)
    dirs, outs, c = _balanced_parts(network)
    lower, points, brackets = outputs_bound(
        loss, A, y2, yhat, beta, masks=masks, max_patterns=max_patterns,
        directions=lambda k: dirs[:, (c > 0) & (outs[:, k] != 0)],
        centered=network.offset is not None,
    )
    lower = min(lower, upper)
    kind, bounds = certificate_kind(brackets)
    return Certificate(lower, upper, upper - lower, dual_point=points,
                       kind=kind, dual_norm_bounds=bounds)
