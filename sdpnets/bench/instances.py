r"""Benchmark instance families: seeded convex programs of every network family.

A family is a small function ``(size, seed, data, conditioning) -> ConvexProgram``. The data
are generated from the seed, so an instance is fully described by a few JSON values
(:class:`Instance`) and can be rebuilt in any worker process:

* ``data="gaussian"``: :math:`X` with i.i.d. standard normal entries;
* ``data="illcond"``: :math:`X = U\operatorname{diag}(s)V^T` with random orthonormal
  :math:`U, V` and :math:`s` log-spaced from 1 to :math:`1/\kappa`, so that
  :math:`\operatorname{cond}(X) = \kappa` exactly (``conditioning``);
* ``data="digits"`` / ``"diabetes"``: the data sets that ship with scikit-learn (a seeded
  subsample of ``n`` rows, standardized), when scikit-learn is installed.

Synthetic targets are planted: a low-rank linear map for the linear families, a sparse
two-layer ReLU network for the ReLU families, plus noise. ``beta`` is a fraction
(:attr:`Instance.beta_fraction`, default :data:`BETA_FRACTION`) of the family's
:math:`\beta_{\max}` (the smallest ``beta`` whose optimum is the zero network), so every
instance has a non-trivial optimum. The fraction is the axis that makes the instances hard:
it sets how many blocks of the solution are active, its rank and the conditioning
(:data:`BETA_FRACTIONS` is the grid the larger presets sweep).

Sizes are named presets (:data:`PRESETS`): ``tiny`` for tests, ``small``, ``medium`` and
``large``, the last reaching the sizes at which generic conic solvers run out of time or
memory (e.g. ``n=50000, d=500, K=100`` for the linear networks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInputError, SdpnetsError

__all__ = [
    "Family",
    "Instance",
    "FAMILIES",
    "PRESETS",
    "DATA_KINDS",
    "BETA_FRACTION",
    "BETA_FRACTIONS",
    "Built",
    "register_family",
    "build",
    "build_program",
    "family_size",
    "make_data",
    "real_data_available",
]

#: ``beta = BETA_FRACTION * beta_max`` for an instance that names no fraction (the only
#: fraction before the grid: results files without a fraction are at this one).
BETA_FRACTION = 0.1

#: Fractions of ``beta_max`` the sweeps of the ``small``, ``medium`` and ``large`` presets run:
#: from half the zero network's threshold (few active blocks) down to 1/1000 (many active
#: blocks, high rank, ill-conditioned).
BETA_FRACTIONS: tuple[float, ...] = (0.5, 0.1, 0.01, 0.001)

#: Names of the size presets, smallest first.
PRESETS: tuple[str, ...] = ("tiny", "small", "medium", "large")

#: Kinds of data an instance can be built on.
DATA_KINDS: tuple[str, ...] = ("gaussian", "illcond", "digits", "diabetes")


@dataclass(frozen=True)
class Instance:
    """A benchmark instance, described by JSON values only (rebuilt from them anywhere).

    Attributes
    ----------
    family : str
        A key of :data:`FAMILIES`.
    size : str
        A preset name (:data:`PRESETS`).
    seed : int
    data : str
        One of :data:`DATA_KINDS`.
    conditioning : float or None
        ``cond(X)`` for ``data="illcond"``; ``None`` otherwise.
    beta_fraction : float
        ``beta / beta_max``, in ``(0, 1)``.
    """

    family: str
    size: str
    seed: int = 0
    data: str = "gaussian"
    conditioning: float | None = None
    beta_fraction: float = BETA_FRACTION

    def __post_init__(self) -> None:
        f = self.beta_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float, np.floating)) \
                or not 0 < float(f) < 1:
            raise InvalidInputError(f"beta_fraction must be in (0, 1), got {f!r}.")
        object.__setattr__(self, "beta_fraction", float(f))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        """Short human-readable name (progress bars, tables)."""
        data = self.data if self.conditioning is None else f"{self.data}{self.conditioning:g}"
        return f"{self.family}/{self.size}/{data}/s{self.seed}/b{self.beta_fraction:g}"

    @property
    def stem(self) -> str:
        """A file name for the instance (no suffix)."""
        data = self.data if self.conditioning is None else f"{self.data}{self.conditioning:g}"
        return f"{self.family}-{self.size}-{data}-s{self.seed}-b{self.beta_fraction:g}"


@dataclass(frozen=True)
class Family:
    r"""An instance family: its builder, its dimensions per preset and what it runs on.

    Attributes
    ----------
    name : str
    build : callable
        ``build(dims, X, y) -> ConvexProgram`` with ``beta`` left to :func:`build_program`.
    sizes : mapping
        Preset name -> dimensions (``n`` and the family's own: ``d``, ``K``, ``shape``, ...).
    layout : {"flat", "signal", "image"}
        How the data are shaped: ``(n, d)``, ``(n, L)`` or ``(n, 1, H, W)``.
    targets : {"vector", "scalar"}
    planted : {"linear", "relu"}
        How synthetic targets are made.
    data : tuple of str
        Data kinds the family accepts.
    native : str or None
        Name of an exact non-conic method the family runs on instead of a conic solver
        (``"ridge_path"``); benchmarked as its own backend (``solve(backend="auto")``).
    beta_scale : callable, optional
        ``beta_scale(program, X, y) -> (scale, exact)``: the scale ``beta`` is a fraction of
        and whether it is the exact :math:`\beta_{\max}` (default: the program's own
        ``beta_max()``).
    """

    name: str
    build: Callable[..., Any]
    sizes: Mapping[str, Mapping[str, Any]]
    layout: str = "flat"
    targets: str = "vector"
    planted: str = "linear"
    data: tuple[str, ...] = ("gaussian", "illcond")
    native: str | None = None
    beta_scale: Callable[..., tuple[float, bool]] | None = field(default=None, repr=False)


#: Every registered family, by name.
FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family`` to :data:`FAMILIES` (tests register stubs this way)."""
    FAMILIES[family.name] = family
    return family


# -- data ----------------------------------------------------------------------------------
def real_data_available() -> bool:
    """Whether scikit-learn (and so its bundled data sets) is installed."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def _ill_conditioned(rng: np.random.Generator, n: int, D: int, cond: float) -> np.ndarray:
    r"""``n x D`` matrix with singular values log-spaced in :math:`[\sqrt n/\kappa, \sqrt n]`."""
    r = min(n, D)
    U, _ = np.linalg.qr(rng.standard_normal((n, r)))
    V, _ = np.linalg.qr(rng.standard_normal((D, r)))
    s = np.sqrt(n) * np.logspace(0.0, -np.log10(cond), r)
    return (U * s) @ V.T


@functools.lru_cache(maxsize=None)
def _load_real(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The whole scikit-learn data set ``(X, target)`` (read once per process)."""
    from sklearn import datasets

    bunch = datasets.load_digits() if kind == "digits" else datasets.load_diabetes()
    X = bunch.data.astype(float)
    t = bunch.target.astype(int if kind == "digits" else float)
    X.flags.writeable = False
    t.flags.writeable = False
    return X, t


def _real(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Rows of a scikit-learn data set: ``(X, labels_or_targets, image_shape or ())``."""
    if not real_data_available():
        raise InvalidInputError(
            f"data={kind!r} needs scikit-learn (pip install 'sdpnets[sklearn]')."
        )
    X, t = _load_real(kind)
    shape = (8, 8) if kind == "digits" else ()
    rows = rng.permutation(X.shape[0])[: min(n, X.shape[0])]
    X = X[rows]
    X = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12) if kind == "diabetes" else X / 16.0
    return X, t[rows], shape


def make_data(family: Family, dims: Mapping[str, Any], seed: int, data: str,
              conditioning: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The seeded data ``(X, y)`` of one instance, shaped for ``family``.

    Raises
    ------
    InvalidInputError
        For a data kind the family does not accept, or ``illcond`` without a condition
        number ``> 1``.
    """
    if data not in family.data:
        raise InvalidInputError(
            f"data={data!r} does not apply to family {family.name!r}; it takes "
            f"{', '.join(family.data)}."
        )
    rng = np.random.default_rng(seed)
    n = int(dims["n"])
    K = int(dims.get("K", 1)) if family.targets == "vector" else 1
    shape = tuple(dims.get("shape", ()))
    if data in ("digits", "diabetes"):
        X, t, img = _real(data, n, rng)
        if family.layout == "image":
            if not img:
                raise InvalidInputError(f"data={data!r} has no images for {family.name!r}.")
            X = X.reshape(-1, 1, *img)
        elif "features" in dims:
            X = X[:, list(dims["features"])[: int(dims["d"])]]
        if data == "digits" and family.targets == "vector":
            y = np.eye(10)[t]
        else:
            y = (t - t.mean()) / max(float(t.std()), 1e-12)
        return X, y
    D = int(np.prod(shape)) if shape else int(dims["d"])
    if data == "illcond":
        if conditioning is None or not conditioning > 1:
            raise InvalidInputError(
                f"data='illcond' needs conditioning > 1 (cond(X)), got {conditioning!r}."
            )
        X = _ill_conditioned(rng, n, D, float(conditioning))
    else:
        X = rng.standard_normal((n, D))
    if family.planted == "relu":
        U = rng.standard_normal((D, 3)) / np.sqrt(D)
        y = np.maximum(X @ U, 0.0) @ np.array([1.0, -1.0, 0.5])
        y = y + 0.1 * rng.standard_normal(n)
    else:
        rank = min(3, D, K)
        W = rng.standard_normal((D, rank)) @ rng.standard_normal((rank, K)) / np.sqrt(D)
        y = X @ W + 0.3 * rng.standard_normal((n, K))
        y = y[:, 0] if family.targets == "scalar" else y
    if family.layout == "image":
        X = X.reshape(n, 1, *shape)
    return X, y


# -- building --------------------------------------------------------------------------
def family_size(family: str | Family, size: str) -> dict[str, Any]:
    """The dimensions of ``family`` at preset ``size``."""
    fam = FAMILIES[family] if isinstance(family, str) else family
    if size not in fam.sizes:
        raise InvalidInputError(
            f"size must be one of {', '.join(map(repr, fam.sizes))} for family "
            f"{fam.name!r}, got {size!r}."
        )
    return dict(fam.sizes[size])


@dataclass(frozen=True)
class Built:
    r"""An instance's program and the scale its ``beta`` is a fraction of.

    Attributes
    ----------
    program : ConvexProgram
        With ``beta = instance.beta_fraction * beta_max`` (1 when ``beta_max`` is 0).
    beta_max : float
        The family's :math:`\beta_{\max}`, or the bound the family uses when the exact one
        cannot be computed (``beta_max_exact`` is then ``False``).
    beta_max_exact : bool
    """

    program: Any
    beta_max: float
    beta_max_exact: bool = True


def build(instance: Instance | Mapping[str, Any]) -> Built:
    r"""Build the convex program of ``instance`` (data, targets and ``beta`` from its seed and
    its fraction of :math:`\beta_{\max}`).

    Raises
    ------
    InvalidInputError
        Unknown family, size or data kind.
    """
    inst = instance if isinstance(instance, Instance) else Instance(**dict(instance))
    if inst.family not in FAMILIES:
        raise InvalidInputError(
            f"family must be one of {', '.join(map(repr, FAMILIES))}, got {inst.family!r}."
        )
    fam = FAMILIES[inst.family]
    dims = family_size(fam, inst.size)
    X, y = make_data(fam, dims, inst.seed, inst.data, inst.conditioning)
    prog = fam.build(dims, X, y)
    exact = True
    if fam.beta_scale is not None:
        scale, exact = fam.beta_scale(prog, X, y)
    else:
        scale = prog.beta_max()
    scale = float(scale)
    prog.beta = inst.beta_fraction * scale if scale > 0 else 1.0
    return Built(prog, scale, bool(exact))


def build_program(instance: Instance | Mapping[str, Any]):
    """The convex program of ``instance`` (:func:`build` without the scale)."""
    return build(instance).program


def _relu_scale(prog, X, y) -> tuple[float, bool]:
    r"""ReLU families: the exact :math:`\beta_{\max}` when every pattern fits, else the
    bound :math:`\tfrac12\|X^Ty\|_2 \le \beta_{\max}` (one of :math:`(Xu)_+` and
    :math:`(-Xu)_+` carries half of :math:`Xu`); and whether it is the exact one."""
    try:
        return float(prog.beta_max()), True
    except SdpnetsError:
        Xf = np.asarray(X, dtype=float).reshape(X.shape[0], -1)
        return 0.5 * float(np.linalg.norm(Xf.T @ np.asarray(y, dtype=float).reshape(-1))), False


# -- the families ----------------------------------------------------------------------------
def _sn():
    import sdpnets

    return sdpnets


_FC_SIZES = {
    "tiny": {"n": 30, "d": 5, "K": 3},
    "small": {"n": 500, "d": 30, "K": 10},
    "medium": {"n": 5000, "d": 100, "K": 30},
    "large": {"n": 50000, "d": 500, "K": 100},
}
_REAL = ("digits", "diabetes")

register_family(Family(
    "linear_fc", lambda dims, X, y: _sn().ConvexLinearFC(X, y, 1.0, depth=2),
    _FC_SIZES, data=("gaussian", "illcond", *_REAL),
))
register_family(Family(
    "deep_spectral_fc",
    lambda dims, X, y: _sn().ConvexLinearFC(X, y, 1.0, depth=4, hidden="spectral"),
    _FC_SIZES, data=("gaussian", "illcond", *_REAL),
))
register_family(Family(
    "ridge_path", lambda dims, X, y: _sn().ConvexLinearFC(X, y, 1.0, depth=3),
    {"tiny": {"n": 30, "d": 5}, "small": {"n": 500, "d": 30},
     "medium": {"n": 5000, "d": 200}, "large": {"n": 50000, "d": 500}},
    targets="scalar", data=("gaussian", "illcond", "diabetes"), native="ridge_path",
))
register_family(Family(
    "patch_cnn_1d",
    lambda dims, X, y: _sn().ConvexLinearCNN(X, y, 1.0, kernel_size=dims["kernel"]),
    {"tiny": {"n": 20, "d": 8, "kernel": 3}, "small": {"n": 200, "d": 32, "kernel": 5},
     "medium": {"n": 2000, "d": 64, "kernel": 7}, "large": {"n": 50000, "d": 256, "kernel": 9}},
    layout="signal", targets="scalar", data=("gaussian", "illcond", "diabetes"),
))
register_family(Family(
    "patch_cnn_2d",
    lambda dims, X, y: _sn().ConvexLinearCNN(X, y, 1.0, kernel_size=dims["kernel"]),
    {"tiny": {"n": 20, "shape": (5, 5), "kernel": 3},
     "small": {"n": 200, "shape": (8, 8), "kernel": 3},
     "medium": {"n": 2000, "shape": (16, 16), "kernel": 3},
     "large": {"n": 50000, "shape": (28, 28), "kernel": 5}},
    layout="image", targets="scalar", data=("gaussian", "illcond", "digits"),
))
register_family(Family(
    "pooled_cnn",
    lambda dims, X, y: _sn().ConvexLinearCNN(X, y, 1.0, kernel_size=dims["kernel"],
                                             pooling="mean"),
    {"tiny": {"n": 20, "shape": (5, 5), "kernel": 3, "K": 2},
     "small": {"n": 200, "shape": (8, 8), "kernel": 3, "K": 5},
     "medium": {"n": 2000, "shape": (16, 16), "kernel": 5, "K": 10},
     "large": {"n": 50000, "shape": (32, 32), "kernel": 7, "K": 10}},
    layout="image", data=("gaussian", "illcond", "digits"),
))
_CIRC_1D = {"tiny": {"n": 20, "d": 8}, "small": {"n": 200, "d": 32},
            "medium": {"n": 2000, "d": 128}, "large": {"n": 50000, "d": 1024}}
_CIRC_2D = {"tiny": {"n": 20, "shape": (4, 4)}, "small": {"n": 200, "shape": (8, 8)},
            "medium": {"n": 2000, "shape": (16, 16)}, "large": {"n": 50000, "shape": (32, 32)}}
for _depth in (2, 3):
    _hidden = "weight_decay" if _depth == 2 else "unit_norm"
    register_family(Family(
        f"circular_cnn{_depth}_1d",
        lambda dims, X, y, _d=_depth, _h=_hidden: _sn().ConvexCircularCNN(
            X, y, 1.0, depth=_d, hidden=_h),
        _CIRC_1D, layout="signal", targets="scalar", data=("gaussian", "illcond", *_REAL),
    ))
    register_family(Family(
        f"circular_cnn{_depth}_2d",
        lambda dims, X, y, _d=_depth, _h=_hidden: _sn().ConvexCircularCNN(
            X, y, 1.0, depth=_d, hidden=_h),
        _CIRC_2D, layout="image", targets="scalar", data=("gaussian", "illcond", "digits"),
    ))
register_family(Family(
    "relu_exhaustive",
    lambda dims, X, y: _sn().ConvexReLU(X, y, 1.0, patterns="exhaustive"),
    {"tiny": {"n": 10, "d": 2, "features": (2, 3)},
     "small": {"n": 30, "d": 3, "features": (2, 3, 8)},
     "medium": {"n": 60, "d": 3, "features": (2, 3, 8)},
     "large": {"n": 140, "d": 3, "features": (2, 3, 8)}},  # 19,462 patterns
    targets="scalar", planted="relu", data=("gaussian", "illcond", "diabetes"),
    beta_scale=_relu_scale,
))
register_family(Family(
    "relu_sampled",
    lambda dims, X, y: _sn().ConvexReLU(X, y, 1.0, patterns=dims["patterns"], seed=0),
    {"tiny": {"n": 20, "d": 3, "patterns": 20},
     "small": {"n": 200, "d": 20, "patterns": 100},
     "medium": {"n": 2000, "d": 50, "patterns": 500},
     "large": {"n": 50000, "d": 500, "patterns": 1000}},
    targets="scalar", planted="relu", data=("gaussian", "illcond", *_REAL),
    beta_scale=_relu_scale,
))
register_family(Family(
    "gated_relu",
    lambda dims, X, y: _sn().ConvexGatedReLU(X, y, 1.0, patterns=dims["patterns"], seed=0),
    {"tiny": {"n": 20, "d": 3, "patterns": 20},
     "small": {"n": 200, "d": 20, "patterns": 100},
     "medium": {"n": 2000, "d": 50, "patterns": 500},
     "large": {"n": 50000, "d": 500, "patterns": 1000}},
    targets="scalar", planted="relu", data=("gaussian", "illcond", *_REAL),
))
register_family(Family(
    "relu_cnn",
    lambda dims, X, y: _sn().ConvexReLUCNN(X, y, 1.0, kernel_size=dims["kernel"],
                                           patterns=dims["patterns"], seed=0),
    {"tiny": {"n": 10, "d": 6, "kernel": 2, "patterns": 20},
     "small": {"n": 100, "d": 16, "kernel": 3, "patterns": 100},
     "medium": {"n": 1000, "d": 32, "kernel": 5, "patterns": 300},
     "large": {"n": 20000, "d": 64, "kernel": 7, "patterns": 1000}},
    layout="signal", targets="scalar", planted="relu",
    data=("gaussian", "illcond", "diabetes"), beta_scale=_relu_scale,
))
