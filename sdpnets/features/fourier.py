r"""A circular CNN's data in the Fourier domain: real DFT coordinates, frequency groups and
the DFT features (docs/circular_cnn.md).

For a real vector (or image) ``b`` of ``D`` entries its DFT ``B = F b`` (``F`` the
unnormalized DFT, ``numpy.fft.fftn``) satisfies ``B_{-k} = conj(B_k)``. Frequencies ``k``
and ``-k`` form one *group*: a pair (two real coordinates, cosine and sine) or a singleton
when ``k = -k`` (``k = 0`` and the Nyquist frequencies). :func:`real_dft` maps ``b`` to the
coordinates ``z = Phi^T b`` in the orthonormal real Fourier basis ``Phi``, with
``|B_k| = sqrt(D) |z_k|`` for singletons and ``|B_k| = sqrt(D/2) ||z_g||_2`` for pairs;
:func:`inverse_real_dft` is its inverse.

In these coordinates a circular CNN is an l1-regularized linear model:
:func:`dft_features` returns the feature matrix :math:`\hat X = X\Phi` and the penalty
weight of each frequency group, so that training a two-layer circular CNN with weight decay
is the group lasso

.. math::

    \min_z \tfrac12\|\hat X z - y\|^2 + \beta\sum_g c_g \|z_g\|_2,
    \qquad c_g = \sqrt{|g| / D}\ \text{(depth 2)},\qquad c_g = |g|/D\ \text{(depth 3,
    unit-norm first filter)},

i.e. :math:`\min_b \tfrac12\|Xb - y\|^2 + \tfrac{\beta}{D}\|Fb\|_1` at depth 2. ::

    >>> import numpy as np
    >>> from sdpnets.features.fourier import dft_features
    >>> feats = dft_features(np.eye(4))
    >>> feats.features.shape, feats.penalty_weights.round(3).tolist()
    ((4, 4), [0.5, 0.5, 0.707])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from .._validate import check_array, check_choice, check_int
from ..errors import InvalidInputError, NonConvexFormulationError

__all__ = [
    "DFTFeatures",
    "dft_features",
    "features_of_signals",
    "as_signals",
    "single_channel",
    "check_variant",
    "CONVEX_VARIANTS",
    "DFTGroups",
    "dft_groups",
    "real_dft",
    "inverse_real_dft",
    "spectrum_from_real",
    "real_from_spectrum",
]


@dataclass(frozen=True)
class DFTGroups:
    r"""Conjugate-symmetric frequency groups of a real signal of shape ``shape``.

    Attributes
    ----------
    shape : tuple of int
        ``(d,)`` or ``(H, W)``; ``D = prod(shape)``.
    single : ndarray of int
        Flat indices of the self-conjugate frequencies (``k = -k``), one real coordinate each.
    pair : ndarray of int
        Flat index of one representative ``k`` of each pair ``{k, -k}``, two real
        coordinates each (cosine, sine).
    pair_partner : ndarray of int
        Flat index of ``-k`` for each representative.
    """

    shape: tuple[int, ...]
    single: np.ndarray
    pair: np.ndarray
    pair_partner: np.ndarray

    @property
    def size(self) -> int:
        """``D``, the number of real coordinates."""
        return int(np.prod(self.shape))

    @property
    def n_groups(self) -> int:
        return self.single.size + self.pair.size

    @property
    def group_sizes(self) -> np.ndarray:
        """1 for each singleton, then 2 for each pair (the coordinate order of
        :func:`real_dft`)."""
        return np.concatenate([np.ones(self.single.size, int), np.full(self.pair.size, 2)])

    @property
    def column_groups(self) -> np.ndarray:
        """Group index of each real coordinate (length ``D``)."""
        s = self.single.size
        return np.concatenate(
            [np.arange(s), s + np.repeat(np.arange(self.pair.size), 2)]
        )

    @functools.cached_property
    def half_spectrum_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where :func:`real_dft` reads the singletons and pair representatives in the
        half spectrum of a real FFT (``numpy.fft.rfftn``, last axis ``0..shape[-1]//2``):
        ``(single, pair, pair_sign)``, flat indices into it and, per pair, ``-1`` where the
        representative's last index lies beyond the half, so that its partner's entry is
        read and conjugated (``B_{-k} = conj(B_k)`` for a real array)."""
        last = self.shape[-1]
        half = self.shape[:-1] + (last // 2 + 1,)

        def locate(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            idx = np.unravel_index(flat, self.shape)
            beyond = idx[-1] > last // 2
            mirrored = tuple(np.where(beyond, (-i) % s, i) for i, s in zip(idx, self.shape))
            return np.ravel_multi_index(mirrored, half), np.where(beyond, -1.0, 1.0)

        single, _ = locate(self.single)
        pair, sign = locate(self.pair)
        return single, pair, sign

    @property
    def frequencies(self) -> np.ndarray:
        """Frequency (multi-index, one row per group) of each group's representative."""
        flat = np.concatenate([self.single, self.pair])
        return np.stack(np.unravel_index(flat, self.shape), axis=1)


def dft_groups(shape) -> DFTGroups:
    """The conjugate-symmetric groups of the DFT of a real array of ``shape``."""
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    neg = np.ravel_multi_index(tuple((-g) % s for g, s in zip(grids, shape)), shape).ravel()
    flat = np.arange(int(np.prod(shape)))
    single = flat[neg == flat]
    rep = flat[flat < neg]
    return DFTGroups(shape, single, rep, neg[rep])


def real_dft(b: np.ndarray, groups: DFTGroups) -> np.ndarray:
    r"""Coordinates ``z = Phi^T b`` in the orthonormal real Fourier basis.

    ``b`` has shape ``(..., *groups.shape)``; the result has shape ``(..., D)``: the
    singletons first (:math:`z = \mathrm{Re}\,B_k/\sqrt D`), then for each pair the cosine
    and sine coordinates (:math:`\sqrt{2/D}\,(\mathrm{Re}\,B_k, -\mathrm{Im}\,B_k)`).
    """
    nd = len(groups.shape)
    # the real FFT's half spectrum holds every group, at a quarter of a complex FFT's work
    H = np.fft.rfftn(b, axes=tuple(range(-nd, 0))).reshape(*b.shape[:-nd], -1)
    single, pair, sign = groups.half_spectrum_index
    D = groups.size
    out = np.empty(H.shape[:-1] + (D,))
    s = single.size
    out[..., :s] = H[..., single].real / np.sqrt(D)
    P = H[..., pair]
    c = np.sqrt(2.0 / D)
    out[..., s::2] = c * P.real
    out[..., s + 1::2] = -c * sign * P.imag
    return out


def spectrum_from_real(z: np.ndarray, groups: DFTGroups) -> np.ndarray:
    """The full DFT ``B = F b`` (shape ``(..., *groups.shape)``, complex) of the real
    array ``b`` whose real-basis coordinates are ``z`` (shape ``(..., D)``)."""
    z = np.asarray(z, dtype=float)
    D, s = groups.size, groups.single.size
    lead = z.shape[:-1]
    B = np.zeros((*lead, D), dtype=complex)
    B[..., groups.single] = np.sqrt(D) * z[..., :s]
    zp = z[..., s:].reshape(*lead, -1, 2)
    Bk = np.sqrt(D / 2.0) * (zp[..., 0] - 1j * zp[..., 1])
    B[..., groups.pair] = Bk
    B[..., groups.pair_partner] = np.conj(Bk)
    return B.reshape(*lead, *groups.shape)


def inverse_real_dft(z: np.ndarray, groups: DFTGroups) -> np.ndarray:
    """``b = Phi z``: the real array (shape ``(..., *groups.shape)``) with coordinates ``z``."""
    nd = len(groups.shape)
    return real_from_spectrum(spectrum_from_real(z, groups), nd)


def real_from_spectrum(B: np.ndarray, nd: int) -> np.ndarray:
    """Inverse DFT over the last ``nd`` axes of a conjugate-symmetric spectrum (real part)."""
    return np.fft.ifftn(B, axes=tuple(range(-nd, 0))).real


# --- the DFT features of a circular CNN ----------------------------------------------------

#: The circular CNNs whose training problem is convex, for error messages.
CONVEX_VARIANTS = (
    "Convex variants: depth=2 with weight decay (l1 in DFT feature space, docs/circular_cnn.md section 3a); "
    "depth=3 with hidden='unit_norm' (||u_1|| <= 1, weight decay on the other layers: "
    "weighted l1, docs/circular_cnn.md section 3b)."
)


def as_signals(X, name: str = "X") -> np.ndarray:
    """``X`` as ``(n, d)`` or ``(n, H, W)`` single-channel signals."""
    return single_channel(check_array(X, name, (2, 3, 4)), name)


def single_channel(X: np.ndarray, name: str = "X") -> np.ndarray:
    """A validated ``X`` as ``(n, d)`` or ``(n, H, W)`` single-channel signals (a view)."""
    if X.ndim == 2:
        return X
    if X.shape[1] != 1:
        raise InvalidInputError(
            f"{name} must have a single channel for a circular CNN ((n, d), (n, 1, d) or "
            f"(n, 1, H, W)), got shape {X.shape}."
        )
    return X[:, 0]


def _group_weights(groups: DFTGroups, depth: int) -> np.ndarray:
    sizes = groups.group_sizes.astype(float)
    D = groups.size
    return np.sqrt(sizes / D) if depth == 2 else sizes / D


@dataclass(frozen=True)
class DFTFeatures:
    r"""A circular CNN's data in the real Fourier basis: an l1 (group-lasso) model.

    The network's optimum is :math:`\min_z \tfrac12\|\text{features}\,z - y\|^2 +
    \beta\sum_g \text{penalty\_weights}_g\|z_g\|_2`.

    Attributes
    ----------
    features : ndarray, shape (n, D)
        :math:`\hat X = X\Phi`, columns ordered as :func:`real_dft`; computed
        on first access (the solvers and certificates only need :meth:`correlate`).
    signals : ndarray, shape (n, d) or (n, H, W)
        The single-channel signals ``X``.
    penalty_weights : ndarray, shape (n_groups,)
        :math:`c_g` per frequency group (multiply by ``beta``).
    column_groups : ndarray of int, shape (D,)
        Group of each feature column.
    frequencies : ndarray of int, shape (n_groups, ndim)
        The frequency (multi-)index of each group's representative.
    groups : DFTGroups
    """

    signals: np.ndarray = field(repr=False)
    penalty_weights: np.ndarray
    column_groups: np.ndarray
    frequencies: np.ndarray
    groups: DFTGroups

    @functools.cached_property
    def features(self) -> np.ndarray:
        """:math:`\\hat X = X\\Phi` (``n x D``)."""
        return real_dft(self.signals, self.groups)

    def correlate(self, v: np.ndarray) -> np.ndarray:
        """:math:`\\hat X^T v = \\Phi^T X^T v` without forming :math:`\\hat X`."""
        return real_dft(np.tensordot(v, self.signals, axes=(0, 0)), self.groups)

    def group_norms(self, z: np.ndarray) -> np.ndarray:
        """:math:`\\|z_g\\|_2` for each group."""
        return np.sqrt(np.bincount(self.column_groups, weights=np.asarray(z) ** 2,
                                   minlength=self.penalty_weights.size))

    def penalty(self, z: np.ndarray) -> float:
        """:math:`\\sum_g c_g\\|z_g\\|_2` (multiply by ``beta``)."""
        return float(self.penalty_weights @ self.group_norms(z))

    def to_signal(self, z: np.ndarray) -> np.ndarray:
        """The linear filter ``b`` (shape of one signal) with coordinates ``z``."""
        return real_from_spectrum(spectrum_from_real(z, self.groups), len(self.groups.shape))


def dft_features(X: np.ndarray, depth: int = 2, hidden: str = "weight_decay") -> DFTFeatures:
    r"""The DFT feature matrix and penalty weights of a circular CNN (docs/circular_cnn.md sections 3a, 3b).

    Parameters
    ----------
    X : array_like, shape (n, d), (n, 1, d) or (n, 1, H, W)
    depth : {2, 3}
    hidden : {"weight_decay", "unit_norm"}
        ``depth=3`` needs ``"unit_norm"`` (weight decay on every layer is not convex).

    Returns
    -------
    DFTFeatures
        ``features`` :math:`\hat X` and ``penalty_weights`` :math:`c_g`: the network's
        training problem is the group lasso
        :math:`\min_z \tfrac12\|\hat Xz - y\|^2 + \beta\sum_g c_g\|z_g\|_2`.
    """
    depth, hidden = check_variant(depth, hidden)
    return features_of_signals(as_signals(X), depth)


def features_of_signals(S: np.ndarray, depth: int) -> DFTFeatures:
    """:func:`dft_features` of validated single-channel signals ``(n, d)`` / ``(n, H, W)``."""
    groups = dft_groups(S.shape[1:])
    return DFTFeatures(
        signals=S,
        penalty_weights=_group_weights(groups, depth),
        column_groups=groups.column_groups,
        frequencies=groups.frequencies,
        groups=groups,
    )


def check_variant(depth, hidden) -> tuple[int, str]:
    """``(depth, hidden)`` of a circular CNN, checked: only the convex variants have DFT
    features (:data:`CONVEX_VARIANTS`)."""
    depth = check_int(depth, "depth", minimum=2)
    hidden = check_choice(hidden, "hidden", ("weight_decay", "unit_norm"))
    if depth >= 3 and hidden == "weight_decay":
        raise NonConvexFormulationError(
            f"depth={depth} with weight decay on every layer is not convex: its value is "
            f"(beta L/(2D)) sum_k |(Fb)_k|^(2/L) (docs/circular_cnn.md section 3c). " + CONVEX_VARIANTS
        )
    if depth == 2 and hidden != "weight_decay":
        raise InvalidInputError(
            "hidden='unit_norm' constrains the first of L >= 3 layers; depth=2 has none: "
            "use hidden='weight_decay'."
        )
    if depth >= 4:
        raise InvalidInputError(
            f"depth={depth} with hidden='unit_norm' is not implemented (docs/circular_cnn.md section 3b covers "
            "depth=3). " + CONVEX_VARIANTS
        )
    return depth, hidden
