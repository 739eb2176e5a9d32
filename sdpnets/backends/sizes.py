r"""The sizes of a cvxpy problem's conic form, counted on its expression tree without
compiling it.

A conic solver receives :math:`\min c^Tx + \tfrac12 x^TPx` s.t. :math:`Ax + s = b`,
:math:`s \in K` with ``K`` a product of zero, nonnegative, second-order, PSD and
exponential cones. :func:`program_sizes` walks the problem's expressions and counts what
cvxpy will hand the solver: scalar variables (with the epigraph variables of non-affine
atoms), the rows of each cone, the sides of the PSD cones and the nonzeros of ``A`` and
``P``. Each backend predicts its own memory from these (``Backend.predict_memory``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["ProgramSizes", "program_sizes"]


@dataclass(frozen=True)
class ProgramSizes:
    """Sizes of a program's conic form (what a conic solver receives).

    Attributes
    ----------
    n_vars : int
        Scalar variables (after cvxpy adds its epigraph variables).
    n_zero, n_nonneg : int
        Equality and inequality rows.
    soc : tuple of int
        Dimensions of the second-order cones.
    psd : tuple of int
        Sides :math:`s` of the PSD cones (each is :math:`s(s+1)/2` rows).
    n_exp : int
        Exponential cones (3 rows each).
    nnz_A : int
        Nonzeros of the constraint matrix.
    nnz_P : int
        Nonzeros of the quadratic objective (upper triangle).
    """

    n_vars: int = 0
    n_zero: int = 0
    n_nonneg: int = 0
    soc: tuple[int, ...] = ()
    psd: tuple[int, ...] = ()
    n_exp: int = 0
    nnz_A: int = 0
    nnz_P: int = 0

    @property
    def psd_rows(self) -> tuple[int, ...]:
        """Vectorized size :math:`s(s+1)/2` of each PSD cone."""
        return tuple(s * (s + 1) // 2 for s in self.psd)

    @property
    def n_rows(self) -> int:
        """Rows of the constraint matrix (the sum of the cone dimensions)."""
        return (self.n_zero + self.n_nonneg + sum(self.soc) + sum(self.psd_rows)
                + 3 * self.n_exp)

    @property
    def dense_psd(self) -> int:
        r""":math:`\sum_i m_i^2` over the PSD cones (entries of their dense blocks)."""
        return sum(m * m for m in self.psd_rows)

    @property
    def kkt_dim(self) -> int:
        """Side of the KKT matrix of an interior-point or ADMM solver."""
        return self.n_vars + self.n_rows


def program_sizes(problem, quadratic_objective: bool = True) -> ProgramSizes:
    """Sizes of ``problem``'s conic form, counted on the cvxpy expression tree.

    Parameters
    ----------
    problem : cvxpy.Problem
        Built, not compiled (nothing is compiled here).
    quadratic_objective : bool
        Whether the solver takes a quadratic objective (Clarabel, SCS): then a
        ``sum_squares`` in the objective becomes an equality block and ``P``; otherwise a
        second-order cone (MOSEK through cvxpy).
    """
    walk = _Walk(quadratic_objective)
    walk.objective(problem.objective.args[0])
    for constraint in problem.constraints:
        walk.constraint(constraint)
    return ProgramSizes(
        n_vars=walk.n_vars, n_zero=walk.n_zero, n_nonneg=walk.n_nonneg, soc=tuple(walk.soc),
        psd=tuple(walk.psd), n_exp=walk.n_exp, nnz_A=walk.nnz_A, nnz_P=walk.nnz_P,
    )


def _nnz(value) -> int:
    if sp.issparse(value):
        return int(value.nnz)
    return int(np.count_nonzero(value))


class _Walk:
    """Counts, for each expression, the nonzeros of its affine map in the variables (with
    every non-affine atom replaced by its epigraph variable), and the cones atoms add."""

    def __init__(self, quadratic_objective: bool) -> None:
        self.quad = quadratic_objective
        self.seen: set[int] = set()
        self.n_vars = self.n_zero = self.n_nonneg = self.n_exp = 0
        self.nnz_A = self.nnz_P = 0
        self.soc: list[int] = []
        self.psd: list[int] = []

    # -- leaves ------------------------------------------------------------------------
    def _variable(self, var) -> int:
        if var.id not in self.seen:
            self.seen.add(var.id)
            if var.attributes.get("PSD") or var.attributes.get("NSD"):
                s = var.shape[0]
                m = s * (s + 1) // 2
                self.n_vars += m
                self.psd.append(s)
                self.nnz_A += m
            else:
                self.n_vars += var.size
                if var.attributes.get("nonneg") or var.attributes.get("nonpos"):
                    self.n_nonneg += var.size
                    self.nnz_A += var.size
        return var.size

    @staticmethod
    def _density(expr) -> float:
        value = expr.value
        if value is None:
            return 1.0
        size = max(int(np.prod(np.shape(value))) if not sp.issparse(value) else
                   value.shape[0] * value.shape[1], 1)
        return _nnz(value) / size

    # -- expressions -------------------------------------------------------------------
    def expr(self, e) -> int:
        from cvxpy.atoms.affine.binary_operators import MulExpression, multiply
        from cvxpy.atoms.affine.index import index, special_index
        from cvxpy.atoms.affine.promote import Promote
        from cvxpy.expressions.leaf import Leaf
        from cvxpy.expressions.variable import Variable

        if isinstance(e, Variable):
            return self._variable(e)
        if isinstance(e, Leaf) or e.is_constant():
            return 0
        if isinstance(e, multiply):
            const = [a for a in e.args if a.is_constant()]
            other = [a for a in e.args if not a.is_constant()]
            if len(other) != 1:
                return self._generic(e)
            inner = self.expr(other[0]) * e.size / max(other[0].size, 1)
            return int(inner * (self._density(const[0]) if const else 1.0))
        if isinstance(e, MulExpression):
            left, right = e.args
            if left.is_constant() and not right.is_constant():
                value = left.value
                nnzc = _nnz(value) if value is not None else left.size
                inner = self.expr(right)
                if left.ndim < 2:  # a scalar or a vector times the expression
                    return int(inner * max(1, e.size))
                cols = right.shape[1] if len(right.shape) == 2 else 1
                return int(nnzc * cols * inner / max(right.size, 1))
            if right.is_constant() and not left.is_constant():
                value = right.value
                nnzc = _nnz(value) if value is not None else right.size
                inner = self.expr(left)
                if right.ndim < 2:
                    return int(inner * max(1, e.size))
                rows = left.shape[0] if len(left.shape) == 2 else 1
                return int(nnzc * rows * inner / max(left.size, 1))
            return self._generic(e)
        if e.is_affine():
            total = 0
            for a in e.args:
                n = self.expr(a)
                if isinstance(e, (index, special_index)):
                    n = n * e.size / max(a.size, 1)
                elif isinstance(e, Promote) or (a.size == 1 and e.size > 1):
                    n = n * e.size
                total += n
            return int(total)
        return self._atom(e)

    def _generic(self, e) -> int:
        """An atom cvxpy replaces by ``t`` with constraints on ``t`` and its arguments."""
        inner = sum(self.expr(a) for a in e.args)
        self.n_vars += e.size
        self.n_nonneg += e.size + sum(a.size for a in e.args)
        self.nnz_A += inner + 2 * e.size
        return e.size

    def _atom(self, e, in_objective: bool = False) -> int:
        from cvxpy.atoms.elementwise.abs import abs as cp_abs
        from cvxpy.atoms.elementwise.logistic import logistic
        from cvxpy.atoms.elementwise.maximum import maximum
        from cvxpy.atoms.pnorm import Pnorm
        from cvxpy.atoms.quad_over_lin import quad_over_lin

        if isinstance(e, Pnorm) and e.p == 2:
            x = e.args[0]
            inner = self.expr(x)
            cones = e.size
            self.n_vars += cones
            self.soc.extend([x.size // max(cones, 1) + 1] * cones)
            self.nnz_A += inner + cones
            return cones
        if isinstance(e, quad_over_lin):
            x = e.args[0]
            inner = self.expr(x)
            if self.quad and in_objective:
                self.n_vars += x.size
                self.n_zero += x.size
                self.nnz_A += inner + x.size
                self.nnz_P += x.size
                return 0
            self.n_vars += 1
            self.soc.append(x.size + 2)
            self.nnz_A += inner + 3
            return 1
        if isinstance(e, cp_abs):
            inner = self.expr(e.args[0])
            self.n_vars += e.size
            self.n_nonneg += 2 * e.size
            self.nnz_A += 2 * (inner + e.size)
            return e.size
        if isinstance(e, logistic):
            inner = self.expr(e.args[0])
            self.n_vars += 3 * e.size
            self.n_exp += 2 * e.size
            self.n_nonneg += e.size
            self.nnz_A += 2 * inner + 9 * e.size
            return e.size
        if isinstance(e, maximum):
            return self._generic(e)
        return self._generic(e)

    def objective(self, e) -> None:
        """The objective: a sum of (scaled) terms; ``sum_squares`` there may go to ``P``."""
        from cvxpy.atoms.affine.add_expr import AddExpression
        from cvxpy.atoms.affine.binary_operators import multiply
        from cvxpy.atoms.quad_over_lin import quad_over_lin

        if isinstance(e, AddExpression):
            for a in e.args:
                self.objective(a)
        elif isinstance(e, multiply) and any(a.is_constant() for a in e.args):
            for a in e.args:
                if not a.is_constant():
                    self.objective(a)
        elif isinstance(e, quad_over_lin):
            self._atom(e, in_objective=True)
        else:
            self.expr(e)

    def constraint(self, c) -> None:
        from cvxpy.constraints.nonpos import Inequality, NonNeg, NonPos
        from cvxpy.constraints.psd import PSD
        from cvxpy.constraints.second_order import SOC
        from cvxpy.constraints.zero import Equality, Zero

        inner = sum(self.expr(a) for a in c.args)
        if isinstance(c, (Equality, Zero)):
            self.n_zero += c.size
            self.nnz_A += inner
        elif isinstance(c, (Inequality, NonNeg, NonPos)):
            self.n_nonneg += c.size
            self.nnz_A += inner
        elif isinstance(c, PSD):
            s = c.args[0].shape[0]
            self.psd.append(s)
            self.nnz_A += int(inner * (s + 1) / (2 * s))
        elif isinstance(c, SOC):
            cones = c.args[0].size
            self.soc.extend([c.args[1].size // max(cones, 1) + 1] * cones)
            self.nnz_A += inner
        else:
            self.n_nonneg += c.size
            self.nnz_A += inner
