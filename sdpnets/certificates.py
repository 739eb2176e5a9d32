"""Certify any network against the global optimum, and the ``beta`` above which it is zero.

:func:`certify` dispatches on the network's type; each formulation module registers the
certifier of its own networks (``@certify.register``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from numpy.typing import ArrayLike

from .errors import InvalidInputError
from .results import Certificate

__all__ = ["certify", "beta_max", "BETA_MAX_FAMILIES"]


@functools.singledispatch
def certify(network, X: ArrayLike, y: ArrayLike, beta: float, **kwargs) -> Certificate:
    """How far ``network`` is from the global optimum of its training problem.

    Parameters
    ----------
    network : Network
        Any network of a family sdpnets knows, e.g. one trained by SGD. Raw weights are
        wrapped in their family's class first, e.g. ``sn.LinearFC([W1, W2, W3])`` or
        ``sn.LinearFC(weights, hidden="spectral")``.
    X, y : array_like
        The training data.
    beta : float
        Weight-decay strength.
    **kwargs
        Options of the family's certifier (e.g. ``loss=`` for ReLU networks, whose
        default is the network's own loss).

    Returns
    -------
    Certificate
        ``upper_bound`` is the network's own objective, ``lower_bound`` a certified lower
        bound on the global optimum; ``gap`` bounds how far the network is from optimal.
    """
    raise InvalidInputError(
        f"certify does not know networks of type {type(network).__name__}; "
        f"known: {', '.join(sorted(t.__name__ for t in certify.registry if t is not object))}. "
        "Wrap raw weights in their network class, e.g. sn.LinearFC(weights)."
    )


#: ``family`` -> function computing its ``beta_max(X, y)``; filled by formulation modules.
BETA_MAX_FAMILIES: dict[str, Callable[..., float]] = {}


def beta_max(X: ArrayLike, y: ArrayLike, family: str = "relu", **options) -> float:
    r"""Smallest ``beta`` at which the zero network is globally optimal.

    Parameters
    ----------
    X, y : array_like
        Training data.
    family : str
        ``"relu"`` (two-layer ReLU network, :math:`\max_{\|u\|\le1}|g^T(Xu)_+|` with
        :math:`g = -\nabla L(0)`: ``y`` for squared and hinge loss, ``y/2`` for logistic;
        options ``loss=``, ``bias=``, ``max_patterns=`` and ``interval=``; docs/relu.md
        section 4c), ``"linear_fc"`` (:math:`\|X^T Y\|_2`, docs/linear_fc.md section 1a), ``"linear_cnn"``
        (needs ``kernel_size``; optional ``stride``, ``padding``, ``pooling``; docs/linear_cnn.md)
        or ``"circular_cnn"`` (docs/circular_cnn.md section 3a).
    **options
        Passed to the family's own function (e.g. ``kernel_size=3``).

    Returns
    -------
    float
        :math:`\beta_{\max} \ge 0`; the zero network is optimal for every
        ``beta >= beta_max`` and not below it (unless ``beta_max = 0``). For the
        ``"relu"`` family with more activation patterns than ``max_patterns``, a
        :class:`~sdpnets.BetaMaxInterval` instead: a float equal to a certified upper
        bound on :math:`\beta_{\max}` (the zero network is optimal at and above it), with
        ``.lower`` and ``.upper`` (``interval=True`` always returns one, ``.exact``
        saying which).
    """
    try:
        fn = BETA_MAX_FAMILIES[family] if isinstance(family, str) else None
        if fn is None:
            raise KeyError(family)
    except KeyError:
        raise InvalidInputError(
            f"family must be one of {', '.join(map(repr, sorted(BETA_MAX_FAMILIES)))}, "
            f"got {family!r}."
        ) from None
    return fn(X, y, **options)
