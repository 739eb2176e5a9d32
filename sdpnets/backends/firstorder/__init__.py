r"""sdpnets' own structured first-order solvers (``backend="firstorder"``).

They work on a formulation's *composite form* — a smooth part known through sufficient
statistics plus a penalty with a closed-form prox and a dual norm — never on a cvxpy
problem, and never import a formulation module (problem pieces apart from algorithms, as
skglm keeps datafits, penalties and solvers apart):

* :mod:`.datafits`: :class:`Quadratic`, least squares through :math:`A^TA`, :math:`A^TY`,
  :math:`\|Y\|^2` (one pass over the data; afterwards the work does not depend on ``n``);
* :mod:`.penalties`: :class:`NuclearNorm` (singular-value thresholding), :class:`GroupL2`
  (group soft-thresholding);
* :mod:`.solvers`: ADMM and accelerated proximal gradient, both stopping on a certified
  duality gap (:func:`solve_composite`).
"""

from .datafits import FactoredQuadratic, Quadratic, gram_statistics
from .penalties import GroupL2, NuclearNorm
from .solvers import (
    Composite,
    FirstOrderResult,
    GapCertificate,
    certify_point,
    solve_composite,
)

__all__ = [
    "Quadratic",
    "FactoredQuadratic",
    "gram_statistics",
    "NuclearNorm",
    "GroupL2",
    "Composite",
    "GapCertificate",
    "FirstOrderResult",
    "certify_point",
    "solve_composite",
]
