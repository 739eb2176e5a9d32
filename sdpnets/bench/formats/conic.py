r"""A cvxpy problem's linear conic standard form: what every file format is written from.

.. math::

    \min_x\; c^T x \quad\text{s.t.}\quad b - A x \in
    \mathcal K_1 \times \dots \times \mathcal K_p,

with ``x`` free and each :math:`\mathcal K_i` one of

* ``zero``: :math:`\{0\}^k`;
* ``nonneg``: :math:`\mathbb R_+^k`;
* ``soc`` of dimension ``k``: :math:`\{(t, u) \in \mathbb R \times \mathbb R^{k-1}:
  t \ge \|u\|_2\}`;
* ``psd`` of side ``k``: a symmetric :math:`k \times k` matrix given by its lower triangle
  column by column, :math:`k(k+1)/2` rows, the off-diagonal entries multiplied by
  :math:`\sqrt 2` (so the vectorization preserves inner products; SCS's convention);
* ``exp``: :math:`\{(x, y, z): y\,e^{x/y} \le z,\ y > 0\}` and its closure, 3 rows in cvxpy's
  order ``(x, y, z)``.

The objective's constant is kept apart (:attr:`ConicForm.offset`): the problem's optimal
value is ``c @ x + offset``.

The form is cvxpy's own problem data for SCS (``Problem.get_problem_data``), asked for
without a quadratic objective (cvxpy then writes every square as a second-order cone). If a
quadratic term :math:`\tfrac12 x^TPx` is still there it becomes one more second-order cone on
a new variable :math:`t` (:func:`quadratic_epigraph`), since the file formats are linear.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidInputError

__all__ = ["CONE_KINDS", "ConicForm", "conic_form", "cone_rows", "psd_pairs",
           "quadratic_epigraph"]

#: The cones of the standard form, in the order cvxpy's SCS data lists them.
CONE_KINDS: tuple[str, ...] = ("zero", "nonneg", "soc", "psd", "exp")


def cone_rows(kind: str, dim: int) -> int:
    """Rows of ``A`` a cone takes: ``dim(dim+1)/2`` for a PSD cone of side ``dim``."""
    return dim * (dim + 1) // 2 if kind == "psd" else dim


def psd_pairs(side: int) -> list[tuple[int, int]]:
    """``(i, j)``, ``i >= j``, of each row of a PSD cone of ``side``, in the standard form's
    order (the lower triangle, column by column)."""
    return [(i, j) for j in range(side) for i in range(j, side)]


@dataclass
class ConicForm:
    r""":math:`\min c^Tx + \text{offset}` s.t. :math:`b - Ax \in \mathcal K` (module doc).

    Attributes
    ----------
    c : ndarray, shape (n,)
    A : scipy.sparse.csr_matrix, shape (m, n)
    b : ndarray, shape (m,)
    cones : list of (str, int)
        ``(kind, dimension)`` in row order; the dimension of a PSD cone is its side.
    offset : float
        The objective's constant.
    notes : list of str
        What was changed on the way (e.g. a quadratic objective made a cone).
    """

    c: np.ndarray
    A: sp.csr_matrix
    b: np.ndarray
    cones: list[tuple[str, int]]
    offset: float = 0.0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        rows = sum(cone_rows(k, d) for k, d in self.cones)
        if self.A.shape != (rows, self.c.size) or self.b.size != rows:
            raise ValueError(
                f"inconsistent conic form: A {self.A.shape}, b {self.b.size}, c {self.c.size}, "
                f"cones take {rows} rows"
            )

    @property
    def n(self) -> int:
        """Number of variables."""
        return int(self.A.shape[1])

    @property
    def m(self) -> int:
        """Number of rows of ``A``."""
        return int(self.A.shape[0])

    def blocks(self, kind: str | None = None) -> Iterator[tuple[str, int, int, int]]:
        """``(kind, dimension, first row, rows)`` of every cone (or of one kind)."""
        start = 0
        for k, dim in self.cones:
            size = cone_rows(k, dim)
            if kind is None or k == kind:
                yield k, dim, start, size
            start += size

    def kinds(self) -> set[str]:
        """The kinds of cone the program has."""
        return {k for k, _ in self.cones}

    def summary(self) -> dict[str, Any]:
        """JSON-ready sizes: variables, rows, and the cones by kind."""
        out: dict[str, Any] = {"variables": self.n, "rows": self.m, "nonzeros": int(self.A.nnz)}
        for kind in CONE_KINDS:
            dims = [d for k, d in self.cones if k == kind]
            if not dims:
                continue
            if kind in ("zero", "nonneg"):
                out[kind] = int(sum(dims))
            elif kind == "exp":
                out[kind] = len(dims)
            else:
                out[kind] = [int(d) for d in dims]
        return out


def conic_form(problem) -> ConicForm:
    """The standard form of a cvxpy ``problem`` at its parameters' current values.

    Raises
    ------
    InvalidInputError
        For a problem with power cones (no family of sdpnets has them; the writers do not
        take them).
    """
    import cvxpy as cp

    data, _chain, inverse = problem.get_problem_data(
        cp.SCS, solver_opts={"use_quad_obj": False})
    dims = data["dims"]
    if getattr(dims, "p3d", None) or getattr(dims, "pnd", None):
        raise InvalidInputError("the program has power cones, which the writers do not take.")
    cones: list[tuple[str, int]] = []
    if dims.zero:
        cones.append(("zero", int(dims.zero)))
    if dims.nonneg:
        cones.append(("nonneg", int(dims.nonneg)))
    cones += [("soc", int(k)) for k in dims.soc]
    cones += [("psd", int(k)) for k in dims.psd]
    cones += [("exp", 3)] * int(dims.exp)
    form = ConicForm(
        np.array(data["c"], dtype=float), sp.csr_matrix(data["A"], dtype=float),
        np.array(data["b"], dtype=float), cones, float(inverse[-1]["offset"]),
    )
    P = data.get("P")
    if P is not None and sp.csr_matrix(P).nnz:
        form = quadratic_epigraph(form, sp.csr_matrix(P, dtype=float))
    return form


def quadratic_epigraph(form: ConicForm, P: sp.spmatrix) -> ConicForm:
    r"""``form`` with :math:`\tfrac12 x^TPx` added to its objective, as a linear program:
    a new last variable :math:`t` with cost 1 and the cone
    :math:`(t + \tfrac12,\ t - \tfrac12,\ Fx) \in \mathcal Q`, i.e.
    :math:`\|Fx\|^2 \le 2t`, where :math:`P = F^TF` (a square root of the diagonal when
    :math:`P` is diagonal, else from its eigendecomposition on the rows it touches)."""
    P = sp.csr_matrix((P + P.T) / 2.0)
    support = np.unique(P.nonzero()[0])
    block = P[support][:, support].toarray()
    diagonal = np.diag(block)
    if np.count_nonzero(block - np.diag(diagonal)) == 0:
        if np.any(diagonal < 0):
            raise InvalidInputError("the quadratic objective is not convex (P has a negative "
                                    "diagonal entry).")
        F = np.diag(np.sqrt(diagonal))
    else:
        w, V = np.linalg.eigh(block)
        if w.min() < -1e-9 * max(abs(w).max(), 1.0):
            raise InvalidInputError("the quadratic objective is not convex (P is not PSD).")
        keep = w > 1e-12 * max(w.max(), 0.0)
        F = (V[:, keep] * np.sqrt(w[keep])).T
    n, r = form.n, F.shape[0]
    Fx = sp.csr_matrix(F)
    Fx = sp.csr_matrix((Fx.data, support[Fx.indices], Fx.indptr), shape=(r, n + 1))
    t_rows = sp.csr_matrix(([-1.0, -1.0], ([0, 1], [n, n])), shape=(2, n + 1))
    A = sp.vstack([sp.hstack([form.A, sp.csr_matrix((form.m, 1))]), t_rows, -Fx]).tocsr()
    b = np.concatenate([form.b, [0.5, -0.5], np.zeros(r)])
    return ConicForm(np.append(form.c, 1.0), A, b, [*form.cones, ("soc", r + 2)], form.offset,
                     [*form.notes, f"quadratic objective: a second-order cone of dimension "
                                   f"{r + 2} on a new last variable"])
