r"""Linear convolutional networks over patches (docs/linear_cnn.md).

With patch matrices :math:`X_k` (row ``i`` the ``k``-th patch of sample ``i``, ``k = 1..K``)
a linear CNN with per-position output weights is a two-layer linear network applied to the
linear map :math:`\mathcal A(Z) = \sum_k X_k Z_{:,k}`; weight decay on filters and output
weights becomes the nuclear norm of :math:`Z = \sum_j u_j a_j^T`:

.. math::

    \min_{u_j, a_j} \tfrac12\Big\|\sum_j\sum_k (X_k u_j) a_{jk} - y\Big\|^2
        + \tfrac{\beta}{2}\sum_j(\|u_j\|^2 + \|a_j\|^2)
    \;=\; \min_{Z\in\mathbb R^{h\times K}} \tfrac12\|\mathcal A(Z) - y\|^2 + \beta\|Z\|_* .

With sum (mean) pooling the output weight is one scalar per filter and the program is the
group lasso :math:`\min_z \tfrac12\|\bar X z - y\|^2 + \beta\|z\|_2`,
:math:`\bar X = \sum_k X_k` (:math:`\tfrac1K\sum_k X_k`).

Vector targets ``Y`` (``n x O``) are the same identities with one more index: without
pooling :math:`Z\in\mathbb R^{h\times KO}` (column ``(k, o)`` holds :math:`\sum_j u_j
a_{jko}`), with pooling :math:`\min_Z \tfrac12\|\bar X Z - Y\|^2 + \beta\|Z\|_*` (docs/linear_fc.md section 1a
on :math:`\bar X`). Both are exact because the penalty is the variational form of the nuclear
norm of the factorization :math:`Z = UA^T`, whatever linear map ``Z`` passes through
(derived, not stated in the papers; ``tests/test_linear_cnn.py`` checks it against L-BFGS on
the network weights from random starts).

The map :math:`\mathcal A` has a null space, so :math:`Z^*` need not be unique: the number of
recovered filters (the rank of the solver's ``Z``) is a width that attains the optimum, not
always the least one (docs/linear_cnn.md section 2a).
"""

from __future__ import annotations

from numbers import Real

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from .._validate import check_beta, check_targets
from ..backends.firstorder import FactoredQuadratic, NuclearNorm, Quadratic, gram_statistics
from ..backends.firstorder.linalg import spectral_norm
from ..certificates import BETA_MAX_FAMILIES, certify
from ..errors import InvalidInputError
from ..features.patches import PatchSpec, Size, as_image_batch, patch_spec, patches_from_spec
from ..features.statistics import materialize
from ..losses import SquaredLoss
from ..networks.linear import LinearCNN
from ..results import Certificate
from .base import ConvexProgram
from .composite import CompositeLeastSquares
from .least_squares import reduce_least_squares

__all__ = ["ConvexLinearCNN", "linear_cnn_operator", "patch_selection", "linear_cnn_beta_max"]

POOLINGS = (None, "sum", "mean")

#: A filter whose penalty is below this fraction of the objective's scale is numerically zero.
NEGLIGIBLE = 1e-11


def linear_cnn_operator(P: np.ndarray, pooling: str | None) -> np.ndarray:
    r"""The matrix of the data map of a linear CNN, from patches ``P`` (``n x K x h``).

    ``pooling=None``: ``n x (K h)``, column ``k h + t`` is :math:`(X_k)_{:,t}`, so
    :math:`\mathcal A(Z) = A\,\operatorname{vec}(Z)` with column-major ``vec`` of
    ``Z`` (``h x K``). ``"sum"``: :math:`\bar X = \sum_k X_k` (``n x h``); ``"mean"``:
    :math:`\tfrac1K\sum_k X_k`.
    """
    if pooling is None:
        return P.reshape(P.shape[0], -1)
    pooled = P.sum(axis=1)
    return pooled / P.shape[1] if pooling == "mean" else pooled


def patch_selection(spec: PatchSpec, pooling: str | None = None) -> sp.csr_matrix:
    r"""The sparse matrix ``S`` with :math:`A = X_{\mathrm{flat}} S`, ``A`` the data map's
    matrix (:func:`linear_cnn_operator`) and :math:`X_{\mathrm{flat}}` the ``n x D``
    flattened inputs (``D = C * prod(spatial)``).

    Without pooling ``S`` is ``D x Kh`` with a single 1 in column ``k h + t`` (at the
    input entry that is entry ``t`` of patch ``k``; none for zero padding). With pooling its
    ``K`` column blocks are summed (``D x h``), divided by ``K`` for ``"mean"``. Every patch
    matrix is a linear map of ``X``, :math:`X_k = X_{\mathrm{flat}} S_k`, so the least-squares
    term can be reduced through the QR of ``X`` itself (docs/conventions.md).
    """
    D = spec.channels * int(np.prod(spec.spatial))
    # patches of the input holding its own (1-based) flat index: 0 marks padding
    index = np.arange(1, D + 1, dtype=float).reshape(1, spec.channels, *spec.spatial)
    flat = patches_from_spec(index, spec)[0].reshape(-1)  # (K h,), column k h + t
    cols = np.flatnonzero(flat)
    S = sp.csr_matrix(
        (np.ones(cols.size), (flat[cols].astype(np.int64) - 1, cols)), shape=(D, flat.size)
    )
    if pooling is None:
        return S
    K, h = spec.n_patches, spec.patch_size
    pool = sp.vstack([sp.identity(h, format="csr")] * K) / (K if pooling == "mean" else 1)
    return sp.csr_matrix(S @ pool)


class ConvexLinearCNN(CompositeLeastSquares, ConvexProgram):
    r"""Globally optimal training of a linear CNN (docs/linear_cnn.md sections 2a, 2b).

    ``pooling=None`` solves the nuclear-norm SDP

    .. math::

        \min_{Z\in\mathbb R^{h\times K}} \tfrac12\Big\|\sum_{k=1}^K X_k Z_{:,k} - y\Big\|^2
        + \tfrac{\beta}{2}(\operatorname{tr}A + \operatorname{tr}B)
        \quad\text{s.t.}\quad \begin{bmatrix}A & Z\\ Z^T & B\end{bmatrix}\succeq 0,

    whose optimum is that of :math:`f(x) = \sum_j\sum_k (X_k u_j)a_{jk}` with weight decay
    on filters :math:`u_j` and output weights :math:`a_j`; recovery from :math:`Z = USV^T`:
    :math:`u_j = \sqrt{s_j}U_{:,j}`, :math:`a_j = \sqrt{s_j}V_{:,j}`. ``pooling="sum"`` or
    ``"mean"`` solves :math:`\min_z \tfrac12\|\bar Xz - y\|^2 + \beta\|z\|_2` (one filter
    :math:`u = z/\sqrt{\|z\|}`, :math:`a = \sqrt{\|z\|}`); vector targets use the nuclear
    norm of ``h x KO`` (no pooling) or ``h x O`` (pooling) matrices. The program's size does
    not grow with ``n``: every patch matrix is a linear map of the data,
    :math:`\sum_k X_k Z_{:,k} = X_{\mathrm{flat}} S\operatorname{vec}(Z)` with the sparse
    0/1 matrix ``S`` of :func:`patch_selection`, so without pooling the least-squares term
    is reduced through the thin QR of :math:`X_{\mathrm{flat}}` (``D`` columns, not ``K h``)
    with :math:`W = S\operatorname{vec}(Z)` as a tied variable, and with pooling through the
    QR of :math:`\bar X` (``h`` columns).

    Parameters
    ----------
    X : array_like, shape (n, L), (n, C, L) or (n, C, H, W)
        Signals (one or ``C`` channels) or images.
        A ``dask.array`` chunked by rows (with a Dask ``y``) is read once: its sufficient
        statistics are computed on the active Dask scheduler and the program is built on
        small surrogate data with the same statistics (:mod:`sdpnets.statistics`), so
        ``X`` then holds that surrogate and ``data_pass_time`` the pass's seconds.
    y : array_like, shape (n,) or (n, O)
        Targets.
    beta : float
        Weight decay, ``> 0``.
    kernel_size : int or tuple of int
        Filter size per spatial axis (filters span all channels).
    stride : int or tuple of int
        Step between patches per spatial axis.
    padding : int or tuple of int
        Zeros on both sides of each spatial axis.
    pooling : {None, "sum", "mean"}
    rank_tol : float
        Singular values below ``rank_tol * sigma_max`` are dropped in recovery.
    """

    rank_tol: float
    _Y2: np.ndarray

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        beta: float,
        kernel_size: Size = 3,
        stride: Size = 1,
        padding: Size = 0,
        pooling: str | None = None,
        *,
        rank_tol: float = 1e-7,
    ) -> None:
        super().__init__(beta)
        X, y, self.data_pass_time = materialize(X, y, (2, 3, 4))
        self.X = as_image_batch(X)
        self.y = check_targets(y, self.X.shape[0])
        self.pooling = _check_pooling(pooling)
        self.spec: PatchSpec = patch_spec(self.X.shape[1:], kernel_size, stride, padding)
        if isinstance(rank_tol, bool) or not (isinstance(rank_tol, Real) and 0 <= rank_tol < 1):
            raise InvalidInputError(f"rank_tol must be a number in [0, 1), got {rank_tol!r}.")
        self.rank_tol = float(rank_tol)
        self._Y2 = self.y.reshape(self.X.shape[0], -1)

    @property
    def n_outputs(self) -> int:
        return self._Y2.shape[1]

    @property
    def variant(self) -> str:
        """``"nuclear"`` (SDP) or ``"l2"`` (SOCP: pooling with scalar output)."""
        return "l2" if self.pooling and self.n_outputs == 1 else "nuclear"

    @property
    def cones(self):
        return frozenset({"zero", "soc", "psd"} if self.variant == "nuclear" else {"zero", "soc"})

    @property
    def _Zshape(self) -> tuple[int, int]:
        h, K, O = self.spec.patch_size, self.spec.n_patches, self.n_outputs
        return (h, O) if self.pooling else (h, K * O)

    def selection(self) -> sp.csr_matrix:
        """The sparse patch-selection matrix ``S`` (see :func:`patch_selection`)."""
        return patch_selection(self.spec, self.pooling)

    def operator(self) -> np.ndarray:
        """The data map's matrix ``A = X_flat S`` (see :func:`linear_cnn_operator`), dense
        ``n x Kh`` (``n x h`` with pooling)."""
        return self._flat @ self.selection()

    @property
    def _flat(self) -> np.ndarray:
        return self.X.reshape(self.X.shape[0], -1)

    def _build(self) -> cp.Problem:
        S = self.selection()
        beta = self.beta_parameter
        h, cols = self._Zshape
        O = self.n_outputs
        if not self.pooling:
            # A(Z) = X_flat S vec(Z): reduce through the QR of X itself (D columns, not K h)
            R, QtY, offset = reduce_least_squares(*self._equilibrate(self._flat, self._Y2))
            block = cp.Variable((h + cols, h + cols), PSD=True, name="block")
            Z = block[:h, h:]
            self._Zvar = self.solution_scale * Z
            # column (k, o) of Z is k * O + o; output o reads the columns o, O + o, ...
            W = cp.Variable((S.shape[0], O), name="W")  # W[:, o] = S vec(Z[:, o::O])
            tie = [W[:, o] == S @ cp.vec(Z[:, o::O], order="F") for o in range(O)]
            fit = 0.5 * cp.sum_squares(R @ W - QtY)
            objective = fit + 0.5 * offset + 0.5 * beta * cp.trace(block)
            return cp.Problem(cp.Minimize(objective), tie)
        R, QtY, offset = reduce_least_squares(*self._equilibrate(self._flat @ S, self._Y2))
        if self.variant == "l2":
            z = cp.Variable(h, name="Z")
            self._Zvar = self.solution_scale * z
            fit = 0.5 * cp.sum_squares(R @ z - QtY[:, 0])
            return cp.Problem(cp.Minimize(fit + 0.5 * offset + beta * cp.norm(z, 2)))
        block = cp.Variable((h + cols, h + cols), PSD=True, name="block")
        Z = block[:h, h:]
        self._Zvar = self.solution_scale * Z
        fit = 0.5 * cp.sum_squares(R @ Z - QtY)
        return cp.Problem(cp.Minimize(fit + 0.5 * offset + 0.5 * beta * cp.trace(block)))

    def build_memory(self) -> int:
        """Bytes of the QR of the data (three copies of the larger of ``X`` and its flat
        form) and of the ``n x K x h`` patches the certificate's network evaluation takes."""
        data = max(self.X.nbytes, self._flat.nbytes)
        n = self.X.shape[0]
        return int(3 * data + 8 * n * self.spec.n_patches * self.spec.patch_size)

    def _firstorder_sizes(self) -> tuple[int, int, int]:
        """``p = h`` unknowns per output with pooling, ``K h`` without."""
        h = self.spec.patch_size
        p = h if self.pooling else h * self.spec.n_patches
        return int(np.prod(self.X.shape[1:])), p, self.n_outputs

    def firstorder_memory(self) -> int:
        r"""Bytes of the first-order solve. With more patch entries ``p`` than inputs ``D``
        the Gram is kept compressed, :math:`E^TME` (:meth:`_composite_parts`): no ``p x p``
        or ``D x p`` matrix, but four ``D x D`` ones (:math:`X^TX`, ``M``, its
        eigenvectors and a product's temporary) and the iterates:
        :math:`8\,(4D^2 + 24pK)`. Otherwise the dense Gram's
        :meth:`CompositeLeastSquares.firstorder_memory`."""
        D, p, K = self._firstorder_sizes()
        if p > D:
            return int(8 * (4 * D * D + 24 * p * K))
        return super().firstorder_memory()

    def _composite_parts(self):
        r"""Least squares in ``W = S vec(Z)``-space through the statistics of ``X`` itself:
        :math:`G = S^T(X^TX)S`, :math:`C = S^TX^TY` (``S`` the patch selection, so no patch
        array is built). Without pooling the variable is ``M`` (``Kh x O``, column ``o`` the
        column-major ``vec`` of output ``o``'s ``h x K`` block) and the penalty is the nuclear
        norm of its rearrangement into ``Z`` (``h x KO``)."""
        S = self.selection()
        Gx, Cx, yy = gram_statistics(self._flat, self._Y2)
        self._data_norms = (float(np.sqrt(max(np.trace(Gx), 0.0))), float(np.sqrt(yy)))
        C = np.asarray(S.T @ Cx)
        if S.shape[1] > S.shape[0]:
            # more patch entries than inputs: G = S^T Gx S has rank <= D; keep it compressed,
            # G = E^T M E with E orthonormal rows from S S^T = V diag(c) V^T (diagonal for a
            # patch selection, whose columns hold one 1 each): E = diag(c)^-1/2 V^T S over
            # c > 0, M = diag(c)^1/2 V^T Gx V diag(c)^1/2 (D x D)
            apply_S, adjoint_S = _selection_ops(S)
            SSt = sp.csr_matrix(S @ S.T)
            if (SSt - sp.diags(SSt.diagonal())).count_nonzero() == 0:
                c = SSt.diagonal()
                read = np.flatnonzero(c > 0)
                root = np.sqrt(c[read])
                inner = root[:, None] * Gx[np.ix_(read, read)] * root[None, :]
                D = S.shape[0]

                def compress(W: np.ndarray) -> np.ndarray:
                    return apply_S(W)[read] / root[:, None]

                def expand(V: np.ndarray) -> np.ndarray:
                    full = np.zeros((D, V.shape[1]))
                    full[read] = V / root[:, None]
                    return adjoint_S(full)
            else:  # pragma: no cover - every patch map sdpnets builds is a selection
                c, Vs = np.linalg.eigh(SSt.toarray())
                keep = c > 1e-12 * c.max()
                root, Vs = np.sqrt(c[keep]), Vs[:, keep]
                inner = root[:, None] * (Vs.T @ Gx @ Vs) * root[None, :]

                def compress(W: np.ndarray) -> np.ndarray:
                    return (Vs.T @ apply_S(W)) / root[:, None]

                def expand(V: np.ndarray) -> np.ndarray:
                    return adjoint_S(Vs @ (V / root[:, None]))

            datafit: Quadratic = FactoredQuadratic(0.5 * (inner + inner.T), compress, expand,
                                                   C, yy)
        else:
            StG = np.asarray(S.T @ Gx)
            G = np.asarray(S.T @ StG.T)
            datafit = Quadratic(0.5 * (G + G.T), C, yy)
        if self.pooling:
            return datafit, NuclearNorm()
        K, h, O = self.spec.n_patches, self.spec.patch_size, self.n_outputs

        def view(M: np.ndarray) -> np.ndarray:
            return M.reshape(K, h, O).transpose(1, 0, 2).reshape(h, K * O)

        def unview(Z: np.ndarray) -> np.ndarray:
            return Z.reshape(h, K, O).transpose(1, 0, 2).reshape(K * h, O)

        return datafit, NuclearNorm(view, unview)

    def _network_point(self, network: LinearCNN) -> np.ndarray:
        r""":math:`Z = \sum_j u_j a_j^T` of the network, in the first-order variable's layout."""
        r = network.filters.shape[0]
        U = network.filters.reshape(r, -1).T  # h x r
        Z = U @ network.output_weights.reshape(r, -1)  # h x O (pooling) or h x K O
        if self.pooling:
            return Z
        K, h, O = self.spec.n_patches, self.spec.patch_size, self.n_outputs
        return Z.reshape(h, K, O).transpose(1, 0, 2).reshape(K * h, O)

    @property
    def solution(self) -> np.ndarray:
        """The solved ``Z`` (``h x K`` or ``h x KO`` without pooling, ``h x O`` with)."""
        result = self._require_solution()
        if result.backend == "firstorder":
            W = np.asarray(self._fo_W)
            if not self.pooling:
                K, h, O = self.spec.n_patches, self.spec.patch_size, self.n_outputs
                W = W.reshape(K, h, O).transpose(1, 0, 2)
            return W.reshape(self._Zshape)
        return np.asarray(self._Zvar.value, dtype=float).reshape(self._Zshape)

    def _recover(self) -> LinearCNN:
        Z = self.solution
        U, s, Vt = np.linalg.svd(Z, full_matrices=False)
        # drop directions below rank_tol relative to the largest, and those whose share of
        # the objective is below the solve's resolution, tol times the objective (solver
        # noise, e.g. at beta >= beta_max): dropping s_j changes the objective by at most about
        # s_j (beta + ||A||_2 ||Y||), and ||A||_2 <= ||X||_F sqrt(prod(kernel_size))
        x_norm, y_norm = self._norms(self._flat, self._Y2)
        sensitivity = self.beta + x_norm * float(np.sqrt(np.prod(self.spec.kernel_size))) * y_norm
        resolution = max(NEGLIGIBLE, getattr(self, "_solve_tol", 0.0))
        share = s * sensitivity > resolution * _objective(self.result)
        r = int(np.sum((s > self.rank_tol * s[0]) & share)) if s.size and s[0] > 0 else 0
        if r == 0:
            U, s, Vt, r = np.zeros((Z.shape[0], 1)), np.zeros(1), np.zeros((1, Z.shape[1])), 1
        root = np.sqrt(s[:r])
        spec, O = self.spec, self.n_outputs
        filters = (U[:, :r] * root).T.reshape(r, *spec.filter_shape)
        a = root[:, None] * Vt[:r]  # r x cols
        if self.pooling:
            out = a.reshape(r, O)
        else:
            out = a.reshape(r, *spec.out_shape, O)
        return LinearCNN(
            filters, out, stride=spec.stride, padding=spec.padding, pooling=self.pooling,
            scalar_output=self.y.ndim == 1,
        )

    def _certificate(self) -> Certificate:
        return certify(self.network(), self.X, self.y, self.beta)

    def beta_max(self) -> float:
        """Smallest ``beta`` whose optimum is the zero network."""
        return _dual_norm(self._flat, self.selection(), self._Y2, self.spec, self.pooling)


def _selection_ops(S: sp.csr_matrix):
    r"""``(W -> SW, V -> S^TV)`` for the patch selection ``S`` (``D x P``), on ``(P, K)`` and
    ``(D, K)`` arrays. Where each column of ``S`` holds at most one 1 (each patch entry
    reads one input entry, or none in the padding), by a scatter-add and a gather: a
    sparse product's wrappers would cost more than the iteration's arithmetic on small
    images."""
    Sc = S.tocsc()
    counts = np.diff(Sc.indptr)
    if counts.max(initial=0) > 1 or not np.all(Sc.data == 1):
        St = S.T.tocsr()
        return (lambda W: np.asarray(S @ W)), (lambda V: np.asarray(St @ V))
    D, P = S.shape
    cols = np.flatnonzero(counts)  # patch entries that read an input entry
    rows = Sc.indices[Sc.indptr[cols]]
    full = cols.size == P

    def apply(W: np.ndarray) -> np.ndarray:
        Wv = W if full else W[cols]
        if W.shape[1] == 1:
            return np.bincount(rows, weights=Wv[:, 0], minlength=D)[:, None]
        out = np.zeros((D, W.shape[1]))
        np.add.at(out, rows, Wv)
        return out

    def adjoint(V: np.ndarray) -> np.ndarray:
        if full:
            return V[rows]
        out = np.zeros((P, V.shape[1]))
        out[cols] = V[rows]
        return out

    return apply, adjoint


def _check_pooling(pooling) -> str | None:
    """``None``, ``"sum"`` or ``"mean"`` (any other object, arrays included, is refused)."""
    if not (pooling is None or isinstance(pooling, str) and pooling in POOLINGS):
        raise InvalidInputError(f"pooling must be None, 'sum' or 'mean', got {pooling!r}.")
    return pooling


def _objective(result) -> float:
    """The solved objective (the scale a component's share is judged against)."""
    value = float("nan") if result is None else result.objective
    return value if np.isfinite(value) and value > 0 else 0.0


def _adjoint(Xflat: np.ndarray, S, V: np.ndarray, spec: PatchSpec, pooling) -> np.ndarray:
    r""":math:`\mathcal A^*(V) = S^T X_{\mathrm{flat}}^T V` as the matrix whose spectral norm
    is the dual norm."""
    G = S.T @ (Xflat.T @ V)  # (K h, O) or (h, O)
    if pooling:
        return G
    K, h, O = spec.n_patches, spec.patch_size, V.shape[1]
    return G.reshape(K, h, O).transpose(1, 0, 2).reshape(h, K * O)


def _dual_norm(Xflat, S, V, spec, pooling) -> float:
    return spectral_norm(_adjoint(Xflat, S, V, spec, pooling))


def linear_cnn_beta_max(
    X: np.ndarray,
    y: np.ndarray,
    kernel_size: Size,
    stride: Size = 1,
    padding: Size = 0,
    pooling: str | None = None,
) -> float:
    r""":math:`\|\mathcal A^*(y)\|_2`: the zero network is the optimum iff ``beta`` is at
    least this (docs/linear_cnn.md; the spectral norm of the ``h x K`` matrix of patch
    correlations :math:`X_k^T y`, or :math:`\|\bar X^T y\|` with pooling)."""
    X = as_image_batch(X)
    Y2 = check_targets(y, X.shape[0]).reshape(X.shape[0], -1)
    pooling = _check_pooling(pooling)
    spec = patch_spec(X.shape[1:], kernel_size, stride, padding)
    Xflat = X.reshape(X.shape[0], -1)
    return _dual_norm(Xflat, patch_selection(spec, pooling), Y2, spec, pooling)


BETA_MAX_FAMILIES["linear_cnn"] = linear_cnn_beta_max


@certify.register
def _certify_linear_cnn(network: LinearCNN, X, y, beta: float) -> Certificate:
    r"""Certify a linear CNN (docs/linear_cnn.md): the residual :math:`V = Y - f(X)`, scaled so that
    :math:`\|\mathcal A^*(V)\|_2 \le \beta`, gives the lower bound
    :math:`-\tfrac12\|V - Y\|^2 + \tfrac12\|Y\|^2`."""
    beta = check_beta(beta)
    Xc = as_image_batch(X)
    Y2 = check_targets(y, Xc.shape[0]).reshape(Xc.shape[0], -1)
    upper = network.objective(X, y, beta)
    filters = network.filters
    spec = patch_spec(Xc.shape[1:], filters.shape[2:], network.stride, network.padding)
    S = patch_selection(spec, network.pooling)
    residual = Y2 - network.predict(X).reshape(Y2.shape)
    dual_norm = _dual_norm(Xc.reshape(Xc.shape[0], -1), S, residual, spec, network.pooling)
    s = SquaredLoss().best_dual_scale(residual, Y2, dual_norm, beta)
    V = s * residual
    lower = -0.5 * float(np.sum((V - Y2) ** 2)) + 0.5 * float(np.sum(Y2 * Y2))
    return Certificate(lower, upper, upper - lower, dual_point=V)
