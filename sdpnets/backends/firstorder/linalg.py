r"""Dense linear algebra the first-order solvers share, each at the cost of its smaller side,
and the number of BLAS threads it runs on.

* :class:`SymmetricEigen`: one eigendecomposition of a Gram matrix, computed once and read
  by everything that needs its spectrum (the solver's eigenbasis, the Lipschitz constant,
  the recovery's data scale).
* :func:`spectral_norm`: :math:`\|M\|_2` from the largest eigenvalue of the smaller Gram
  (:math:`M^TM` or :math:`MM^T`), accurate to machine precision relative to itself.
* :func:`threshold_singular_values`: singular-value thresholding of a ``p x K`` matrix
  through the ``K x K`` Gram (``min(p, K)`` side), with a guard that falls back to a direct
  SVD where the Gram's round-off could blur the threshold. It is a partial decomposition
  where the rank is small: every eigenvalue of the Gram is computed (so no singular value
  above the threshold is missed) but eigenvectors only for those above it. Randomized or
  Lanczos partial SVDs are not used: certifying that one missed no singular value above
  the threshold takes a bound on the next singular value as tight as the threshold, i.e.
  the small Gram's eigenvalues anyway.
* :func:`singular_values`, :func:`factor_nuclear_norm`: all singular values by a direct
  SVD (after a QR of a thin matrix), for nuclear norms.
* :func:`gram`: :math:`M^TM` by BLAS's symmetric rank-k update (half the flops of the
  general product, and no copy of a C-ordered ``M``).

Threads. The least-squares families spend their data pass in one large product
(:math:`X^TX`, which multithreaded BLAS speeds up) and everything after it in small LAPACK
calls on matrices with a side of at most a few thousand, which two threads barely speed up
on an idle machine and slow down several times on a busy one (the threads of OpenBLAS wait
for each other). :func:`single_threaded` runs such a stretch of work on one BLAS thread and
restores the caller's setting afterwards (``threadpoolctl``, which knows every BLAS loaded,
NumPy's and SciPy's own copies of OpenBLAS included; docs/design_notes.md has the
measurements). ``threadpoolctl`` is optional (``pip install sdpnets[threads]``): without it
the work runs on the caller's threads, with the same results.

Accuracy. The eigenvalues of :math:`M^TM` carry an absolute error of about
:math:`\epsilon\|M\|_2^2`, so a singular value :math:`\sigma` read from them has a
relative error of about :math:`\epsilon(\|M\|_2/\sigma)^2`. That is harmless for the largest
one (the spectral norm) and for the singular values kept by a threshold ``t`` well above
:math:`\sqrt\epsilon\|M\|_2` (checked, with a margin, before the Gram is trusted), and it
is never used for a sum of *all* singular values (a nuclear norm), where the small ones
would each be off by up to :math:`\sqrt\epsilon\|M\|_2`: the nuclear norm of a thresholded
matrix is computed from its thin factor by a direct SVD.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.linalg as sla

from ..._units import usable_cores

__all__ = [
    "single_threaded",
    "blas_threads_controllable",
    "limit_blas_threads",
    "blas_threads",
    "allowed_cores",
    "on_one_blas_thread",
    "callers_threads",
    "lend_threads",
    "SymmetricEigen",
    "spectral_norm",
    "top_eigenvalue",
    "singular_values",
    "threshold_singular_values",
    "factor_nuclear_norm",
    "gram",
    "GRAM_ACCURACY",
]

#: The Gram route of :func:`threshold_singular_values` is taken when the singular values it
#: keeps are known to relative accuracy ``GRAM_ACCURACY`` (from the Gram's round-off
#: bound); otherwise the thresholding runs on a direct SVD.
GRAM_ACCURACY = 1e-9

#: Round-off of the eigenvalues of a computed ``k x k`` Gram, in units of
#: ``k * eps * lambda_max`` (the product's and the eigensolver's backward errors together).
GRAM_ROUNDOFF = 4.0

#: Grams with a side up to this go to LAPACK's ``dsyevd`` directly (all eigenpairs, none of
#: ``scipy.linalg.eigh``'s wrappers, which cost more than the work on a small Gram).
SMALL_GRAM = 64

_syevd = sla.get_lapack_funcs("syevd", (np.zeros(1),))
_syrk = sla.get_blas_funcs("syrk", (np.zeros(1),))

_EPS = float(np.finfo(float).eps)

#: Work whose matrices have a side below this stays on the caller's BLAS threads: their
#: calls are too small to gain or lose much from threads, and switching costs a scan of
#: the loaded libraries on its first use in a process (docs/design_notes.md).
SINGLE_THREAD_FROM = 128

_controller: Any = None  # a ThreadpoolController, or False when threadpoolctl is absent
_callers: list[int] = []  # the callers' BLAS threads of the open single_threaded blocks


def blas_threads_controllable() -> bool:
    """Whether this process can set its BLAS libraries' threads (``threadpoolctl``, an
    optional dependency: the ``threads`` extra)."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # an optional dependency (extra "threads"): threads as they are
            _controller = False
        else:
            _controller = ThreadpoolController()
    return _controller is not False


def blas_threads() -> int:
    """The BLAS threads this process runs with now (the most over its BLAS libraries; 1
    without ``threadpoolctl``)."""
    if not blas_threads_controllable():
        return 1
    return max((int(i["num_threads"]) for i in _controller.info()
                if i["user_api"] == "blas"), default=1)


def allowed_cores() -> int:
    """Cores a solve may occupy: the usable cores, at most as many as the caller's BLAS
    threads (a process told to use one thread, by ``OMP_NUM_THREADS=1`` or as one of
    joblib's workers, which get a share of the cores each, keeps to one core)."""
    return max(1, min(usable_cores(), blas_threads()))


@contextlib.contextmanager
def limit_blas_threads(threads: int) -> Iterator[None]:
    """At most ``threads`` BLAS threads inside the block (a no-op without
    ``threadpoolctl``)."""
    if not blas_threads_controllable():
        yield
        return
    with _controller.limit(limits=threads, user_api="blas"):
        yield


@contextlib.contextmanager
def single_threaded(side: int | None = None) -> Iterator[None]:
    """One BLAS thread inside the block, the caller's numbers of threads afterwards; a
    no-op when ``side`` (the largest side of the matrices involved) is below
    :data:`SINGLE_THREAD_FROM`."""
    if side is not None and side < SINGLE_THREAD_FROM:
        yield
        return
    if not blas_threads_controllable():
        yield
        return
    _callers.append(blas_threads())
    try:
        with _controller.limit(limits=1, user_api="blas"):
            yield
    finally:
        _callers.pop()


def on_one_blas_thread(solve: Callable[..., Any]) -> Callable[..., Any]:
    """``solve(program, ...)`` run inside :func:`single_threaded`, the side being the
    program's row count ``program.N``."""
    @functools.wraps(solve)
    def wrapped(program: Any, *args: Any, **kwargs: Any) -> Any:
        with single_threaded(program.N):
            return solve(program, *args, **kwargs)
    return wrapped


#: Where set (a background solve's child process), the BLAS threads :func:`callers_threads`
#: may use at the moment, in place of the caller's: its parent lends its core once it only
#: waits for the child (:mod:`.relu.background`).
_lent_threads: Callable[[], int] | None = None


def lend_threads(source: Callable[[], int] | None) -> None:
    """Make :func:`callers_threads` ask ``source()`` for its number of threads (``None``:
    the caller's again)."""
    global _lent_threads
    _lent_threads = source


@contextlib.contextmanager
def callers_threads() -> Iterator[None]:
    """Inside :func:`single_threaded`, the caller's BLAS threads again for a large product
    or factorization (where threads pay), or those lent by :func:`lend_threads`; elsewhere
    a no-op."""
    threads = _callers[-1] if _callers else 1
    if _lent_threads is not None:
        threads = _lent_threads()
    if not _controller or not _callers or threads <= 1:
        yield
        return
    with _controller.limit(limits=threads, user_api="blas"):
        yield


def _svd(M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD (the always-converging ``gesvd`` driver if ``gesdd`` fails)."""
    try:
        U, s, Vt = np.linalg.svd(M, full_matrices=False)
    except np.linalg.LinAlgError:  # pragma: no cover - gesdd rarely fails to converge
        U, s, Vt = sla.svd(M, full_matrices=False, lapack_driver="gesvd")
    return U, s, Vt


def _singular_values(M: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.svd(M, compute_uv=False)
    except np.linalg.LinAlgError:  # pragma: no cover
        return sla.svd(M, compute_uv=False, lapack_driver="gesvd")


class SymmetricEigen:
    r"""The eigendecomposition :math:`G = V\operatorname{diag}(\lambda)V^T` of a symmetric
    positive semidefinite matrix, computed on first need and then shared.

    ``values`` are clipped at 0 (negative ones are round-off) and ascending.
    """

    def __init__(self, G: np.ndarray) -> None:
        self._G = G
        self._values: np.ndarray | None = None
        self._vectors: np.ndarray | None = None

    def _compute(self) -> None:
        lam, V = sla.eigh(self._G, check_finite=False, driver="evd")
        self._values, self._vectors = np.maximum(lam, 0.0), V

    @property
    def computed(self) -> bool:
        """Whether the decomposition exists already (reading it costs nothing then)."""
        return self._values is not None

    @property
    def values(self) -> np.ndarray:
        if self._values is None:
            self._compute()
        assert self._values is not None
        return self._values

    @property
    def vectors(self) -> np.ndarray:
        if self._vectors is None:
            self._compute()
        assert self._vectors is not None
        return self._vectors

    @property
    def top(self) -> float:
        """:math:`\\lambda_{\\max}`."""
        return float(self.values[-1]) if self.values.size else 0.0


def top_eigenvalue(S: np.ndarray) -> float:
    r""":math:`\lambda_{\max}` of a symmetric ``S`` (one eigenvalue: a tridiagonal
    reduction and a bisection, no eigenvectors)."""
    k = S.shape[0]
    if k == 1:
        return float(S[0, 0])
    return float(sla.eigh(S, eigvals_only=True, subset_by_index=[k - 1, k - 1],
                          check_finite=False)[0])


def gram(M: np.ndarray) -> np.ndarray:
    r""":math:`M^TM`, symmetric, by ``dsyrk`` on :math:`M^T` (the Fortran-ordered view of a
    C-ordered ``M``, so nothing is copied) with its lower triangle mirrored: half the flops
    of ``M.T @ M`` (measured, one thread: ``4000 x 1000``, 0.185 -> 0.084 s)."""
    M = np.ascontiguousarray(M, dtype=float)
    if not M.size:  # BLAS refuses an empty product
        return np.zeros((M.shape[1], M.shape[1]))
    G = _syrk(1.0, M.T, lower=1)
    G += np.tril(G, -1).T
    return G


def _small_gram(M: np.ndarray) -> tuple[np.ndarray, bool]:
    """The Gram of ``M`` on its smaller side, and whether that is :math:`M^TM`."""
    if M.shape[0] >= M.shape[1]:
        return M.T @ M, True
    return M @ M.T, False


def spectral_norm(M: np.ndarray) -> float:
    r""":math:`\|M\|_2` from :math:`\sqrt{\lambda_{\max}}` of the smaller Gram, rounded up
    by the Gram's round-off bound, :math:`(1 + \tfrac12` :data:`GRAM_ROUNDOFF`
    :math:`\max(p, K)\,\epsilon)`, so that it does not fall below the norm: dual points
    scaled by it stay feasible, and a certificate's lower bound never exceeds the optimum
    by round-off (the largest eigenvalue of a Gram is accurate relative to itself, so this
    is still within a few hundred ``eps`` of the norm at the sizes sdpnets sees)."""
    if min(M.shape) == 1:
        return float(np.linalg.norm(M))
    top = max(top_eigenvalue(_small_gram(M)[0]), 0.0)
    return float(np.sqrt(top)) * (1.0 + 0.5 * GRAM_ROUNDOFF * max(M.shape) * _EPS)


def singular_values(M: np.ndarray) -> np.ndarray:
    """All singular values of ``M``, descending, by a direct SVD (every one to absolute
    accuracy of the order of ``eps * ||M||_2``); a thin matrix is reduced by QR first."""
    if min(M.shape) == 1:
        return np.array([float(np.linalg.norm(M))])
    if M.shape[0] < M.shape[1]:
        M = M.T
    if M.shape[0] > 2 * M.shape[1]:
        M = sla.qr(M, mode="r", check_finite=False)[0][: M.shape[1]]
    return _singular_values(M)


def threshold_singular_values(
    M: np.ndarray, t: float, rank_hint: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    r"""Singular-value thresholding in factored form: ``(A, B, s, exact)`` with
    :math:`\operatorname{prox}_{t\|\cdot\|_*}(M) = AB^T`, ``A`` of shape ``(p, r)`` and
    ``B`` of shape ``(K, r)``, ``s`` the thresholded singular values
    :math:`\sigma_i - t > 0`. One factor has orthonormal columns (``B`` when ``M`` is tall,
    ``A`` when it is wide); ``exact`` says whether the other one's singular values are ``s``
    to round-off (a direct SVD) or only to :data:`GRAM_ACCURACY` (the Gram route): then the
    result's nuclear norm must be computed from that factor (:func:`factor_nuclear_norm`).

    Through the smaller Gram :math:`M^TM = V\operatorname{diag}(\sigma^2)V^T` (for a tall
    ``M``), :math:`\operatorname{prox}(M) = MV_r\operatorname{diag}(1 - t/\sigma_r)V_r^T`
    over the eigenvalues above :math:`t^2`. No singular value above ``t`` is missed: every
    eigenvalue is computed, to absolute accuracy about :data:`GRAM_ROUNDOFF`
    :math:`k\epsilon\lambda_{\max}`, and the route is taken only when that error is below
    :data:`GRAM_ACCURACY` relative to :math:`t^2`, so the kept singular values are accurate
    relative to themselves and none within round-off of ``t`` is misclassified by more
    than that. Otherwise, and when ``rank_hint`` (e.g. the rank of the previous prox) says
    that most singular values will be kept (the Gram route then saves nothing), the
    thresholding runs on a direct SVD.
    """
    tall = M.shape[0] >= M.shape[1]
    N = M if tall else M.T
    k = N.shape[1]
    if t > 0 and k > 1 and (rank_hint is None or 3 * rank_hint <= k):
        S = N.T @ N
        if k <= SMALL_GRAM:  # one LAPACK call, none of the wrappers' overhead
            lam, V, info = _syevd(S)
            keep = lam > t * t
            lam, V = (lam[keep], V[:, keep]) if info == 0 else (None, None)
        # a trace bound first: lambda_max <= trace(S) settles most calls without eigh
        elif GRAM_ROUNDOFF * k * _EPS * float(np.trace(S)) <= k * GRAM_ACCURACY * t * t:
            lam, V = sla.eigh(S, subset_by_value=(t * t, np.inf), check_finite=False,
                              driver="evr")
        else:
            lam = V = None
        if lam is not None and (
                lam.size == 0 or GRAM_ROUNDOFF * k * _EPS * lam[-1] <= GRAM_ACCURACY * t * t):
            sigma = np.sqrt(lam[::-1])
            V = V[:, ::-1]
            s = sigma - t
            A = N @ (V * (s / sigma))
            return (A, V, s, False) if tall else (V, A, s, False)
    U, sigma, Vt = _svd(N)
    r = int(np.count_nonzero(sigma > t))
    s = sigma[:r] - t
    A, V = U[:, :r] * s, Vt[:r].T
    return (A, V, s, True) if tall else (V, A, s, True)


def factor_nuclear_norm(A: np.ndarray, B: np.ndarray, s: np.ndarray, exact: bool) -> float:
    """The nuclear norm of :math:`AB^T` from :func:`threshold_singular_values`' output:
    ``sum(s)`` when exact, else the singular values of the factor that is not orthonormal
    (a direct SVD of a thin matrix)."""
    if s.size == 0:
        return 0.0
    if exact:
        return float(np.sum(s))
    orthonormal_b = B.shape[1] == s.size and A.shape[0] >= B.shape[0]
    factor = A if orthonormal_b else B
    return float(np.sum(singular_values(factor)))
