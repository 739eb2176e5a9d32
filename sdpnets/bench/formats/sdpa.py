r"""The SDPA sparse format (``.dat-s``; SDPA, CSDP, SDPT3): writer and reader.

An SDPA file states the block-diagonal semidefinite program

.. math::

    \min_{x \in \mathbb R^m} c^Tx \quad\text{s.t.}\quad
    X = \sum_{i=1}^m F_i x_i - F_0 \succeq 0,

with ``x`` free. The standard form's slack :math:`b - Ax` (:mod:`.conic`) is that matrix, so
:math:`F_i` holds column ``i`` of :math:`-A` and :math:`F_0` holds :math:`-b`, placed in
blocks:

* the ``nonneg`` rows: one diagonal block (written with a negative size, SDPA's "LP block");
* a ``psd`` cone of side ``k``: a block of side ``k`` (entries ``i <= j``, 1-based; the
  :math:`\sqrt 2` that scales the standard form's off-diagonal rows is divided out);
* a ``soc`` cone of dimension ``k``: its *arrow* block of side ``k``,
  :math:`\begin{pmatrix} t & u^T \\ u & t I\end{pmatrix} \succeq 0
  \iff t \ge \|u\|_2` (an exact reformulation; a Schur complement), with ``t`` on the
  whole diagonal and ``u`` in the first row;
* the ``zero`` rows are eliminated: each equality row that has a variable appearing in no
  other equality row (cvxpy's auxiliary variables always do) is solved for that variable,
  which is substituted into every other row and the objective (the constant this puts into
  the objective joins the offset); an equality row without one would be written as two
  rows of the LP block (none of sdpnets' families has one);
* variables left in no block (their only rows were eliminated) are dropped; one with a cost
  would make the program unbounded, which never happens here;
* ``exp`` cones have no SDPA form: :func:`sdpa_refusal` says so and nothing is written.

So a program of second-order cones and nonnegative rows (every family of sdpnets but the
logistic loss) is written as an SDP whose optimum is the program's. Arrow blocks are dense to
an SDP solver (a cone of dimension ``k`` becomes a ``k x k`` block), which is the price of
the format.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidInputError
from .conic import ConicForm, psd_pairs

__all__ = ["write_sdpa", "read_sdpa", "sdpa_refusal", "eliminate_equalities"]

_SQRT2 = math.sqrt(2.0)


def sdpa_refusal(form: ConicForm) -> str | None:
    """Why ``form`` has no SDPA form (``None``: it has one)."""
    if "exp" in form.kinds():
        return ("the program has exponential cones (the logistic loss), which have no "
                "semidefinite (SDPA) form")
    return None


def eliminate_equalities(form: ConicForm) -> tuple[ConicForm, int]:
    """``form`` without ``zero`` cones (module doc), and how many equality rows were kept as
    pairs of LP rows. The objective's constant of the substitution is added to ``offset``."""
    zero = np.array([r for _, _, s, n in form.blocks("zero") for r in range(s, s + n)],
                    dtype=int)
    if zero.size == 0:
        return form, 0
    A = form.A.tocsr()
    E = A[zero].tocsr()
    in_rows = np.diff(E.tocsc().indptr)  # equality rows each variable appears in
    pivot = np.full(zero.size, -1)
    coef = np.zeros(zero.size)
    for r in range(zero.size):
        cols = E.indices[E.indptr[r]:E.indptr[r + 1]]
        vals = E.data[E.indptr[r]:E.indptr[r + 1]]
        single = np.flatnonzero((in_rows[cols] == 1) & (vals != 0))
        if single.size:
            best = single[np.argmax(np.abs(vals[single]))]
            pivot[r], coef[r] = cols[best], vals[best]
    solved = np.flatnonzero(pivot >= 0)
    kept = np.flatnonzero(pivot < 0)
    pcol = pivot[solved]
    rest = np.setdiff1d(np.arange(form.n), pcol)
    Es = E[solved]
    Dinv = sp.diags(1.0 / coef[solved])
    be = form.b[zero[solved]]
    # x_p = D^{-1} (b_e - E_rest x_rest): substitute into b - A x and c @ x
    Erest = Es[:, rest]
    other = np.setdiff1d(np.arange(form.m), zero[solved])
    Ao = A[other]
    Ap = Ao[:, pcol]
    A_new = (Ao[:, rest] - Ap @ Dinv @ Erest).tocsr()
    b_new = form.b[other] - Ap @ (Dinv @ be)
    cp_ = form.c[pcol]
    c_new = form.c[rest] - Erest.T @ (Dinv @ cp_)
    offset = form.offset + float(cp_ @ (Dinv @ be))
    cones = [(k, dim) for k, dim in form.cones if k != "zero"]
    if kept.size:  # b - Ax >= 0 and -(b - Ax) >= 0, first, then the other rows in order
        at = np.searchsorted(other, zero[kept])
        others = np.setdiff1d(np.arange(other.size), at)
        Az, bz = A_new[at], b_new[at]
        A_new = sp.vstack([Az, -Az, A_new[others]]).tocsr()
        b_new = np.concatenate([bz, -bz, b_new[others]])
        cones = [("nonneg", 2 * int(kept.size)), *cones]
    A_new.eliminate_zeros()
    used = np.unique(A_new.indices)
    c_new = np.asarray(c_new, dtype=float).ravel()
    unused = np.setdiff1d(np.arange(A_new.shape[1]), used)
    if unused.size and np.any(c_new[unused] != 0):
        raise InvalidInputError("a variable in no constraint has a cost: the program is "
                                "unbounded.")
    notes = [*form.notes, f"{solved.size} equality rows eliminated"]
    if kept.size:
        notes.append(f"{kept.size} equality rows written as pairs of inequalities")
    out = ConicForm(c_new[used], A_new[:, used].tocsr(), np.asarray(b_new, dtype=float).ravel(),
                    cones, offset, notes)
    return out, int(kept.size)


def _merge_nonneg(form: ConicForm) -> list[int]:
    return [r for _, _, s, n in form.blocks("nonneg") for r in range(s, s + n)]


def write_sdpa(form: ConicForm, path: str | os.PathLike) -> dict:
    """Write ``form`` to ``path`` in SDPA sparse format.

    Returns
    -------
    dict
        ``offset`` (the objective's constant of the program as written: the form's, plus what
        the elimination of equalities added), ``blocks`` (SDPA's block structure),
        ``variables``, ``equality_pairs`` (equality rows written as two inequalities) and
        ``notes``.

    Raises
    ------
    InvalidInputError
        When the program has no SDPA form (:func:`sdpa_refusal`).
    """
    reason = sdpa_refusal(form)
    if reason:
        raise InvalidInputError(f"no SDPA file: {reason}.")
    form, pairs = eliminate_equalities(form)
    blocks: list[int] = []
    # each matrix entry (block, i, j) of X is w * (slack row r)
    parts: list[tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]] = []
    lp = np.array(_merge_nonneg(form), dtype=int)
    if lp.size:
        blocks.append(-int(lp.size))
        idx = np.arange(1, lp.size + 1)
        parts.append((lp, len(blocks), idx, idx, np.ones(lp.size)))
    for kind, dim, start, size in form.blocks():
        if kind == "psd":
            blocks.append(dim)
            pairs_ = psd_pairs(dim)
            low = np.array([p[0] for p in pairs_]) + 1
            high = np.array([p[1] for p in pairs_]) + 1
            w = np.where(low == high, 1.0, 1.0 / _SQRT2)
            parts.append((np.arange(start, start + size), len(blocks), high, low, w))
        elif kind == "soc":
            blocks.append(dim)
            rows = np.concatenate([np.full(dim, start), np.arange(start + 1, start + dim)])
            i = np.concatenate([np.arange(1, dim + 1), np.ones(dim - 1, dtype=int)])
            j = np.concatenate([np.arange(1, dim + 1), np.arange(2, dim + 1)])
            parts.append((rows, len(blocks), i, j, np.ones(rows.size)))
        elif kind != "nonneg":
            raise InvalidInputError(f"cone {kind!r} has no SDPA form here.")
    rows = np.concatenate([p[0] for p in parts])
    blk = np.concatenate([np.full(p[0].size, p[1]) for p in parts])
    ii = np.concatenate([p[2] for p in parts])
    jj = np.concatenate([p[3] for p in parts])
    ww = np.concatenate([p[4] for p in parts])
    lines = ['"sdpnets: min c^T x s.t. sum_i F_i x_i - F_0 >= 0; the objective\'s constant is '
             'in the manifest"',
             str(form.n), str(len(blocks)), " ".join(map(str, blocks)),
             " ".join(repr(float(v)) for v in form.c)]
    b = form.b[rows]
    for e in np.flatnonzero(b):
        lines.append(f"0 {blk[e]} {ii[e]} {jj[e]} {float(-b[e] * ww[e])!r}")
    Ae = form.A[rows].tocsc()  # entry e's coefficients, grouped by variable (F_1, F_2, ...)
    for var in range(form.n):
        for k in range(Ae.indptr[var], Ae.indptr[var + 1]):
            e, v = Ae.indices[k], Ae.data[k]
            lines.append(f"{var + 1} {blk[e]} {ii[e]} {jj[e]} {float(-v * ww[e])!r}")
    Path(path).write_text("\n".join(lines) + "\n")
    return {"offset": form.offset, "blocks": blocks, "variables": form.n,
            "equality_pairs": pairs, "notes": form.notes}


def _numbers(text: str) -> list[str]:
    for ch in ",{}()":
        text = text.replace(ch, " ")
    return text.split()


def read_sdpa(path: str | os.PathLike):
    """The cvxpy problem an SDPA sparse file states (:math:`\\min c^Tx` s.t.
    :math:`\\sum_i F_i x_i - F_0 \\succeq 0`).

    Raises
    ------
    InvalidInputError
        For a malformed file.
    """
    import cvxpy as cp

    path = Path(path)
    lines = [s for line in path.read_text().splitlines()
             if (s := line.strip()) and s[0] not in '"*']
    try:
        m = int(_numbers(lines[0])[0])
        nblocks = int(_numbers(lines[1])[0])
        sizes = [int(float(v)) for v in _numbers(lines[2])][:nblocks]
        pos = 3
        cost: list[float] = []
        while len(cost) < m:
            cost += [float(v) for v in _numbers(lines[pos])]
            pos += 1
        entries = np.array([[float(v) for v in _numbers(t)[:5]] for t in lines[pos:]],
                           dtype=float).reshape(-1, 5)
    except (IndexError, ValueError) as exc:
        raise InvalidInputError(f"{path}: not an SDPA sparse file ({exc}).") from None
    x = cp.Variable(m, name="x")
    constraints = []
    for k, size in enumerate(sizes, start=1):
        sel = entries[entries[:, 1] == k]
        mat = sel[:, 0].astype(int)
        i = sel[:, 2].astype(int) - 1
        j = sel[:, 3].astype(int) - 1
        v = sel[:, 4]
        side = abs(size)
        f0 = mat == 0
        if size < 0:
            F0 = np.zeros(side)
            np.add.at(F0, i[f0], v[f0])
            F = sp.csr_matrix((v[~f0], (i[~f0], mat[~f0] - 1)), shape=(side, m))
            constraints.append(F @ x - F0 >= 0)
            continue
        F0 = np.zeros((side, side))
        np.add.at(F0, (i[f0], j[f0]), v[f0])
        off = f0 & (i != j)
        np.add.at(F0, (j[off], i[off]), v[off])
        nz = ~f0
        diag = i[nz] == j[nz]
        rows = np.concatenate([i[nz] + side * j[nz], (j[nz] + side * i[nz])[~diag]])
        cols = np.concatenate([mat[nz] - 1, (mat[nz] - 1)[~diag]])
        vals = np.concatenate([v[nz], v[nz][~diag]])
        F = sp.csr_matrix((vals, (rows, cols)), shape=(side * side, m))
        constraints.append(cp.reshape(F @ x, (side, side), order="F") - F0 >> 0)
    return cp.Problem(cp.Minimize(np.asarray(cost[:m]) @ x), constraints)
