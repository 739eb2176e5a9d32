"""The interior-point method for the dense group lasso with homogeneous inequality rows
(the active set's reduced programs) and the Newton polish on faces, against Clarabel on
the same conic program."""

import clarabel
import numpy as np
import pytest
import scipy.sparse as sp

from sdpnets.backends.firstorder.relu.active_set.group_cone_ipm import _Cones, _SOCScaling, solve_group_cone_qp
from sdpnets.backends.firstorder.relu.active_set.faces import (
    equality_multipliers, face_bases, newton_on_faces, solve_on_faces)


def instance(seed, n=60, m=5, h=5, K=45):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, m * h))
    y = rng.standard_normal(n)
    rows = rng.standard_normal((K, h))
    blocks = rng.integers(0, m, K)
    c = F.T @ y
    beta = 0.3 * float(np.linalg.norm(c.reshape(m, h), axis=1).max())
    return F.T @ F, c, beta, rows, blocks, m, h


def objective(H, c, beta, z):
    v = z.ravel()
    return 0.5 * v @ H @ v - c @ v + beta * np.linalg.norm(z, axis=1).sum()


def clarabel_optimum(H, c, beta, rows, blocks, m, h):
    """The same program written for Clarabel: variables (z, t), rows -a_k^T z + s = 0 in the
    nonnegative cone and -(t_j, z_j) + s = 0 in second-order cones."""
    nz, K = m * h, rows.shape[0]
    cols = (blocks[:, None] * h + np.arange(h)).ravel()
    Gc = sp.csc_matrix((rows.ravel(), (np.repeat(np.arange(K), h), cols)), shape=(K, nz))
    soc_rows = np.arange(m * (h + 1)).reshape(m, h + 1)
    var = np.hstack([nz + np.arange(m)[:, None], np.arange(nz).reshape(m, h)])
    S = sp.csc_matrix((-np.ones(m * (h + 1)), (soc_rows.ravel(), var.ravel())),
                      shape=(m * (h + 1), nz + m))
    A = sp.vstack([sp.hstack([-Gc, sp.csc_matrix((K, m))]), S], format="csc")
    P = sp.block_diag([sp.csc_matrix(np.triu(H)), sp.csc_matrix((m, m))], format="csc")
    q = np.concatenate([-c, np.full(m, beta)])
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-8
    cones = [clarabel.NonnegativeConeT(K)] + [clarabel.SecondOrderConeT(h + 1)] * m
    sol = clarabel.DefaultSolver(P, q, A, np.zeros(A.shape[0]), cones, settings).solve()
    assert str(sol.status) == "Solved"
    return float(sol.obj_val)


def test_nesterov_todd_scaling_identity():
    """W y = W^-1 s = lambda, and W^-1 inverts W."""
    rng = np.random.default_rng(0)
    sizes = np.array([3, 1, 5, 2])  # cones of sizes d + 1, stored end to end
    cones = _Cones(sizes)
    s, y = rng.standard_normal((2, int(sizes.sum()) + sizes.size))
    for v in (s, y):
        v[cones.heads] = np.sqrt(np.bincount(cones.of, weights=v * v * cones.tail)) + 0.5
    sc = _SOCScaling(cones, s, y)
    assert np.allclose(sc.apply(y), sc.apply(s, inverse=True), atol=1e-12)
    assert np.allclose(sc.apply(sc.apply(s), inverse=True), s, atol=1e-12)
    W2inv = np.zeros((s.size, s.size))
    W2inv[cones.pair_p, cones.pair_q] = sc.inverse_square_pairs()
    assert np.allclose(W2inv @ sc.apply(sc.apply(s)), s, atol=1e-10)


def test_second_order_cone_step_through_the_apex():
    """The step to the boundary is exact on a path straight to the apex (a double root the
    quadratic alone can miss) and infinite along a ray inside the cone."""
    cones = _Cones(np.array([2]))
    x = np.array([2.0, 1.0, 0.5])
    assert cones.step(x, -x) == pytest.approx(1.0)
    assert cones.step(x, np.array([1.0, 0.0, 0.0])) == np.inf


@pytest.mark.parametrize("seed", range(5))
def test_ipm_matches_clarabel(seed):
    H, c, beta, rows, blocks, m, h = instance(seed)
    ref = clarabel_optimum(H, c, beta, rows, blocks, m, h)
    res = solve_group_cone_qp(H, c, beta, rows, blocks, np.full(m, h), tol=1e-10)
    assert res.status in ("solved", "inaccurate")
    assert np.all(res.mu >= 0)
    z = res.z.reshape(m, h)
    slack = np.einsum("kh,kh->k", rows, z[blocks])
    assert slack.min() >= -1e-9
    assert objective(H, c, beta, z) == pytest.approx(ref, rel=1e-6, abs=1e-8)


def test_ipm_time_limit_status():
    H, c, beta, rows, blocks, m, h = instance(0)
    res = solve_group_cone_qp(H, c, beta, rows, blocks, np.full(m, h), time_limit=0.0)
    assert res.status == "time_limit"


@pytest.mark.parametrize("seed", range(5))
def test_face_polish_reaches_the_optimum(seed):
    """Newton on the faces the interior-point solution touches gives a feasible point whose
    objective is Clarabel's optimum to rounding, with nonnegative multipliers that satisfy
    stationarity."""
    H, c, beta, rows, blocks, m, h = instance(seed)
    ref = clarabel_optimum(H, c, beta, rows, blocks, m, h)
    res = solve_group_cone_qp(H, c, beta, rows, blocks, np.full(m, h), tol=1e-10)
    res.z = res.z.reshape(m, h)
    zn = np.linalg.norm(res.z, axis=1)
    live = zn > 1e-6 * zn.max()
    slack = np.einsum("kh,kh->k", rows, res.z[blocks])
    tight = live[blocks] & (slack <= 1e-6 * np.abs(slack).max())
    N, col_block = face_bases(rows[tight], blocks[tight], m, h, live)
    assert np.allclose(N.T @ N, np.eye(N.shape[1]), atol=1e-10)  # orthonormal columns
    # any point of the faces keeps the tight rows at zero
    Zf = (N @ np.random.default_rng(seed).standard_normal(N.shape[1])).reshape(m, h)
    assert np.abs(np.einsum("kh,kh->k", rows[tight], Zf[blocks[tight]])).max() <= 1e-10
    z = newton_on_faces(H, c, beta, N, col_block, res.z.ravel())
    assert z is not None
    Z = z.reshape(m, h)
    assert np.einsum("kh,kh->k", rows, Z[blocks]).min() >= -1e-10
    assert objective(H, c, beta, Z) <= objective(H, c, beta, res.z) + 1e-12
    assert objective(H, c, beta, Z) == pytest.approx(ref, rel=1e-7, abs=1e-9)
    grad = (H @ z - c).reshape(m, h) + beta * Z / np.maximum(
        np.linalg.norm(Z, axis=1), 1e-300)[:, None]
    grad[~live] = 0.0
    mu, resid = equality_multipliers(grad, rows[tight], blocks[tight], m)
    assert resid.max() <= 1e-8 * np.abs(grad).max()
    assert mu.min() >= -1e-8


def optimum_and_tight_rows(seed):
    H, c, beta, rows, blocks, m, h = instance(seed)
    res = solve_group_cone_qp(H, c, beta, rows, blocks, np.full(m, h), tol=1e-10)
    z = res.z.reshape(m, h)
    zn = np.linalg.norm(z, axis=1)
    slack = np.einsum("kh,kh->k", rows, z[blocks])
    tight = (zn[blocks] > 1e-6 * zn.max()) & (slack <= 1e-6 * np.abs(slack).max())
    return (H, c, beta, rows, blocks, m, h), z, slack, tight


@pytest.mark.parametrize("seed", range(3))
def test_solve_on_faces_with_the_tight_rows_held(seed):
    """Holding the rows an optimum leaves tight as equalities gives the same optimum on
    fewer coordinates, and keeps them held."""
    prob, z, _, tight = optimum_and_tight_rows(seed)
    H, c, beta, rows, blocks, m, h = prob
    ref = clarabel_optimum(*prob)
    assert tight.any()
    res = solve_on_faces(H, c, beta, rows, blocks, tight, m, h, tol=1e-10, time_limit=None)
    assert res.status in ("solved", "inaccurate")
    assert objective(H, c, beta, res.z) == pytest.approx(ref, rel=1e-6, abs=1e-8)
    assert np.einsum("kh,kh->k", rows, res.z[blocks]).min() >= -1e-9
    assert np.all(res.equal[tight])
    assert np.all(res.mu >= 0)


def test_solve_on_faces_releases_wrong_equalities():
    """A row with positive slack at the optimum held as an equality gives a worse point,
    and it is released: its multiplier comes out negative, or its block vanishes."""
    stayed_live = 0
    for seed in range(3):
        prob, z, slack, tight = optimum_and_tight_rows(seed)
        H, c, beta, rows, blocks, m, h = prob
        ref = clarabel_optimum(*prob)
        zn = np.linalg.norm(z, axis=1)
        for wrong in np.flatnonzero((zn[blocks] > 1e-6 * zn.max()) & ~tight)[:3]:
            equal = np.zeros(rows.shape[0], dtype=bool)
            equal[wrong] = True
            res = solve_on_faces(H, c, beta, rows, blocks, equal, m, h, tol=1e-10,
                                 time_limit=None)
            assert objective(H, c, beta, res.z) > ref + 1e-9
            assert abs(rows[wrong] @ res.z[blocks[wrong]]) <= 1e-9
            assert not res.equal[wrong]
            norms = np.linalg.norm(res.z, axis=1)
            stayed_live += norms[blocks[wrong]] > 1e-6 * norms.max()
    assert stayed_live >= 3  # the negative-multiplier path is exercised


def test_every_face_collapsed_to_zero():
    """When the equality rows leave every block only the point zero, the face solve
    returns zero blocks (the interior-point method has no variable left) and releases
    those equalities."""
    H, c, beta, rows, blocks, m, h = instance(0)
    # h independent rows per block as equalities: every face is {0}
    extra = np.tile(np.eye(h), (m, 1))
    rows2 = np.vstack([rows, extra])
    blocks2 = np.concatenate([blocks, np.repeat(np.arange(m), h)])
    equal = np.concatenate([np.zeros(rows.shape[0], dtype=bool), np.ones(m * h, dtype=bool)])
    res = solve_on_faces(H, c, beta, rows2, blocks2, equal, m, h, tol=1e-10, time_limit=None)
    assert res.status == "solved" and np.all(res.z == 0)
    assert not res.equal.any()
    empty = solve_group_cone_qp(np.zeros((0, 0)), np.zeros(0), beta, np.zeros((0, 1)),
                                np.zeros(0, dtype=int), np.zeros(0, dtype=int))
    assert empty.status == "solved" and empty.z.size == 0


def test_equality_multipliers_are_nonnegative_when_a_nonnegative_fit_exists():
    """With more tight rows than the face's codimension (degenerate), the minimum-norm
    multipliers can be negative although a nonnegative exact fit exists: that one is
    returned, and it reproduces the gradient."""
    rng = np.random.default_rng(5)
    m, h, per = 40, 3, 6
    rows = rng.standard_normal((m * per, h))
    blocks = np.repeat(np.arange(m), per)
    true = np.where(rng.random(m * per) < 0.4, rng.random(m * per), 0.0)
    grad = np.zeros((m, h))
    np.add.at(grad, blocks, true[:, None] * rows)
    pinv_mu = np.concatenate([np.linalg.pinv(rows[blocks == j].T) @ grad[j] for j in range(m)])
    assert pinv_mu.min() < -1e-6  # the minimum-norm fit alone would not do
    mu, resid = equality_multipliers(grad, rows, blocks, m)
    assert mu.min() >= 0.0
    assert resid.max() <= 1e-10
    back = np.zeros((m, h))
    np.add.at(back, blocks, mu[:, None] * rows)
    assert np.allclose(back, grad, atol=1e-10)
