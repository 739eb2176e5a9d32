r"""The Conic Benchmark Format (CBF, version 3; CBLIB, read by MOSEK): writer and reader.

A CBF file states :math:`\min g^{obj}` over scalar variables, with affine constraints
:math:`g = Ax + b` in cones (``CON``) and affine matrix constraints
:math:`G = \sum_j x_j H_j + D \succeq 0` (``PSDCON``). The standard form
(:mod:`.conic`) maps onto it directly:

* every variable is free: one ``VAR`` cone ``F``;
* the slack :math:`b - Ax` of every cone but PSD is a ``CON`` row: ``ACOORD`` holds
  :math:`-A`, ``BCOORD`` holds :math:`b`; cones ``L=`` (zero), ``L+`` (nonneg), ``Q``
  (:math:`g_0 \ge \|g_{1:}\|`), ``EXP`` (:math:`g_0 \ge g_1 e^{g_2/g_1}`: CBF lists the bound
  first, so cvxpy's ``(x, y, z)`` is written ``(z, y, x)``);
* a PSD cone is a ``PSDCON`` whose ``HCOORD``/``DCOORD`` give the lower triangle
  (``i >= j``) of the matrices themselves: the :math:`\sqrt 2` that scales the standard
  form's off-diagonal rows is divided out;
* the objective's constant is not written (``OBJBCOORD`` is absent): the file's optimal
  value is the standard form's ``c @ x``, and the export's manifest carries the offset.

The reader takes the keywords the writer writes, plus ``OBJBCOORD``, ``L-`` and ``QR`` cones
and cones on variables, and refuses any other keyword by name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidInputError
from .conic import ConicForm, psd_pairs

__all__ = ["write_cbf", "read_cbf", "CBF_VERSION"]

CBF_VERSION = 3
_CONE = {"zero": "L=", "nonneg": "L+", "soc": "Q", "exp": "EXP"}
_SQRT2 = math.sqrt(2.0)


def _num(x: float) -> str:
    return repr(float(x))  # shortest string that reads back to the same double


def write_cbf(form: ConicForm, path: str | os.PathLike) -> dict:
    """Write ``form`` to ``path`` in CBF; returns the file's sizes (variables, scalar
    constraint rows, PSD constraint sides) and ``offset``, the objective's constant the
    file leaves out."""
    rows: list[np.ndarray] = []  # standard-form rows of the CON section, in file order
    con: list[tuple[str, int]] = []
    psd: list[tuple[int, int]] = []  # (side, first row)
    for kind, dim, start, size in form.blocks():
        if kind == "psd":
            psd.append((dim, start))
            continue
        if kind not in _CONE:
            raise InvalidInputError(f"cone {kind!r} has no CBF form here.")
        idx = np.arange(start, start + size)
        rows.append(idx[::-1] if kind == "exp" else idx)
        if con and kind in ("zero", "nonneg") and con[-1][0] == _CONE[kind]:
            con[-1] = (con[-1][0], con[-1][1] + size)
        else:
            con.append((_CONE[kind], size))
    order = np.concatenate(rows) if rows else np.zeros(0, dtype=int)
    out = ["# sdpnets: min c^T x s.t. (b - A x) in cones; the objective's constant is in the "
           "manifest", "VER", str(CBF_VERSION), "", "OBJSENSE", "MIN", "",
           "VAR", f"{form.n} 1", f"F {form.n}", ""]
    if psd:
        out += ["PSDCON", str(len(psd)), *(str(side) for side, _ in psd), ""]
    if con:
        out += ["CON", f"{order.size} {len(con)}", *(f"{k} {d}" for k, d in con), ""]
    nz = np.flatnonzero(form.c)
    if nz.size:
        out += ["OBJACOORD", str(nz.size), *(f"{j} {_num(form.c[j])}" for j in nz), ""]
    if order.size:
        Acon = (-form.A[order]).tocoo()
        if Acon.nnz:
            out += ["ACOORD", str(Acon.nnz), *(f"{i} {j} {_num(v)}" for i, j, v in
                                               zip(Acon.row, Acon.col, Acon.data)), ""]
        bcon = form.b[order]
        bnz = np.flatnonzero(bcon)
        if bnz.size:
            out += ["BCOORD", str(bnz.size), *(f"{i} {_num(bcon[i])}" for i in bnz), ""]
    h: list[str] = []
    d: list[str] = []
    for k, (side, start) in enumerate(psd):
        pairs = psd_pairs(side)
        scale = np.array([1.0 if i == j else 1.0 / _SQRT2 for i, j in pairs])
        H = (-form.A[start:start + len(pairs)]).tocoo()
        for r, j, v in zip(H.row, H.col, H.data):
            h.append(f"{k} {j} {pairs[r][0]} {pairs[r][1]} {_num(v * scale[r])}")
        for r, v in enumerate(form.b[start:start + len(pairs)]):
            if v != 0:
                d.append(f"{k} {pairs[r][0]} {pairs[r][1]} {_num(v * scale[r])}")
    if h:
        out += ["HCOORD", str(len(h)), *h, ""]
    if d:
        out += ["DCOORD", str(len(d)), *d, ""]
    Path(path).write_text("\n".join(out) + "\n")
    return {"offset": form.offset, "variables": form.n, "constraints": int(order.size),
            "psd_constraints": [side for side, _ in psd]}


# -- reading ---------------------------------------------------------------------------------
class _Lines:
    """The file's meaningful lines (comments and blank lines dropped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines = [s for line in path.read_text().splitlines()
                       if (s := line.strip()) and not s.startswith("#")]
        self.pos = 0

    def __bool__(self) -> bool:
        return self.pos < len(self._lines)

    def next(self) -> str:
        if self.pos >= len(self._lines):
            raise InvalidInputError(f"{self.path}: the file ends in the middle of a section.")
        self.pos += 1
        return self._lines[self.pos - 1]

    def ints(self) -> list[int]:
        return [int(v) for v in self.next().split()]

    def records(self, count: int) -> Iterator[list[str]]:
        for _ in range(count):
            yield self.next().split()


def _cones(lines: _Lines, count: int) -> list[tuple[str, int]]:
    return [(kind, int(dim)) for kind, dim in lines.records(count)]


def read_cbf(path: str | os.PathLike):
    """The cvxpy problem a CBF file states (see the module doc for the keywords read).

    Raises
    ------
    InvalidInputError
        For a keyword, cone or version this reader does not take, or a truncated file.
    """
    try:
        return _read(Path(path))
    except (ValueError, IndexError, KeyError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"{path}: not a CBF file this reader takes ({exc}).") from None


def _read(path: Path):
    import cvxpy as cp

    lines = _Lines(path)
    sense, nvar, ncon = "MIN", 0, 0
    var_cones: list[tuple[str, int]] = []
    con_cones: list[tuple[str, int]] = []
    psd_sides: list[int] = []
    obj: dict[int, float] = {}
    obj_const = 0.0
    acoord: list[tuple[int, int, float]] = []
    bcoord: dict[int, float] = {}
    hcoord: list[tuple[int, int, int, int, float]] = []
    dcoord: list[tuple[int, int, int, float]] = []
    while lines:
        key = lines.next()
        if key == "VER":
            version = lines.ints()[0]
            if version > 4:
                raise InvalidInputError(f"{path}: CBF version {version} is not read here.")
        elif key == "OBJSENSE":
            sense = lines.next()
        elif key == "VAR":
            nvar, k = lines.ints()
            var_cones = _cones(lines, k)
        elif key == "CON":
            ncon, k = lines.ints()
            con_cones = _cones(lines, k)
        elif key == "PSDCON":
            psd_sides = [lines.ints()[0] for _ in range(lines.ints()[0])]
        elif key == "OBJACOORD":
            obj.update((int(j), float(v)) for j, v in lines.records(lines.ints()[0]))
        elif key == "OBJBCOORD":
            obj_const = float(lines.next())
        elif key == "ACOORD":
            acoord += [(int(i), int(j), float(v)) for i, j, v in lines.records(lines.ints()[0])]
        elif key == "BCOORD":
            bcoord.update((int(i), float(v)) for i, v in lines.records(lines.ints()[0]))
        elif key == "HCOORD":
            hcoord += [(int(k), int(j), int(a), int(b), float(v))
                       for k, j, a, b, v in lines.records(lines.ints()[0])]
        elif key == "DCOORD":
            dcoord += [(int(k), int(a), int(b), float(v))
                       for k, a, b, v in lines.records(lines.ints()[0])]
        else:
            raise InvalidInputError(f"{path}: CBF keyword {key!r} is not read here.")
    x = cp.Variable(nvar, name="x")
    constraints: list = []
    start = 0
    for kind, dim in var_cones:
        constraints += _in_cone(kind, x[start:start + dim], path)
        start += dim
    if ncon:
        rows, cols, vals = (np.array(v) for v in zip(*acoord)) if acoord else ([], [], [])
        A = sp.csr_matrix((vals, (rows, cols)), shape=(ncon, nvar))
        b = np.zeros(ncon)
        for i, v in bcoord.items():
            b[i] = v
        g = A @ x + b
        start = 0
        for kind, dim in con_cones:
            constraints += _in_cone(kind, g[start:start + dim], path)
            start += dim
    for k, side in enumerate(psd_sides):
        constraints.append(_psd_constraint(x, side, [e[1:] for e in hcoord if e[0] == k],
                                           [e[1:] for e in dcoord if e[0] == k]) >> 0)
    c = np.zeros(nvar)
    for j, v in obj.items():
        c[j] = v
    objective = c @ x + obj_const
    return cp.Problem(cp.Minimize(objective) if sense == "MIN" else cp.Maximize(objective),
                      constraints)


def _psd_constraint(x, side: int, h, d):
    """The symmetric matrix :math:`\\sum_j x_j H_j + D` from lower-triangle entries."""
    import cvxpy as cp

    rows, cols, vals = [], [], []
    for j, a, b, v in h:
        for r, s in {(a, b), (b, a)}:
            rows.append(r + side * s)  # column-major position of (r, s)
            cols.append(j)
            vals.append(v)
    H = sp.csr_matrix((vals, (rows, cols)), shape=(side * side, x.size))
    D = np.zeros((side, side))
    for a, b, v in d:
        D[a, b] = D[b, a] = v
    return cp.reshape(H @ x, (side, side), order="F") + D


def _in_cone(kind: str, g, path) -> list:
    import cvxpy as cp

    if kind == "F":
        return []
    if kind == "L=":
        return [g == 0]
    if kind == "L+":
        return [g >= 0]
    if kind == "L-":
        return [g <= 0]
    if kind == "Q":
        return [cp.SOC(g[0], g[1:])]
    if kind == "QR":  # 2 g0 g1 >= ||g2:||^2, g0, g1 >= 0
        return [cp.SOC(g[0] + g[1], cp.hstack([g[0] - g[1], _SQRT2 * g[2:]]))]
    if kind == "EXP":
        return [cp.constraints.ExpCone(g[2], g[1], g[0])]
    raise InvalidInputError(f"{path}: CBF cone {kind!r} is not read here.")
