"""Convolutional networks trained to their global optimum on scikit-learn's 8x8 digits.

Run it with ``python examples/digits_cnn.py`` (about ten seconds). It shows three things:

1. **A linear CNN is a nuclear-norm problem.** A linear CNN with 3x3 filters and one output
   weight per position, trained with weight decay, has the same optimum as
   ``min_Z 1/2||sum_k X_k Z[:, k] - y||^2 + beta ||Z||_*`` (docs/linear_cnn.md section 2a). The SVD of the
   optimal ``Z`` *is* the set of learned filters: weight decay chose how many (a width that
   attains the optimum; ``Z*`` need not be unique, so not always the least such width).
2. **A circular CNN is an l1 model in DFT feature space.** With full-size circular filters
   the optimum is ``min_b 1/2||X b - y||^2 + (beta/64) ||F2 b||_1`` (docs/circular_cnn.md section 3a, 2-D DFT):
   as ``beta`` grows, the optimal filter's Fourier spectrum gets sparser.
3. **No SGD run beats the convex optimum.** Mini-batch SGD on the (non-convex) circular
   CNN from several random initialisations ends at or above the certified optimum.

Figures are saved next to this file when matplotlib is installed; the numbers are printed
either way.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

import sdpnets as sn

DIGITS = (3, 8)  # a binary task: +1 for 3, -1 for 8


def load_task(max_samples: int | None = None):
    """Centered 8x8 images ``(n, 1, 8, 8)`` of two digits and labels in {-1, +1}."""
    digits = load_digits()
    keep = np.isin(digits.target, DIGITS)
    X = digits.images[keep] / 16.0
    y = np.where(digits.target[keep] == DIGITS[0], 1.0, -1.0)
    if max_samples is not None:
        X, y = X[:max_samples], y[:max_samples]
    X = X - X.mean(axis=0)
    return X[:, None], y


def linear_cnn_filters(X, y, beta_fraction: float = 0.03):
    """Solve the linear CNN's nuclear-norm SDP; return the program and its network.

    An interior-point solution of a nuclear-norm program carries tiny singular values that
    are solver noise (here about 1e-4 of the largest at ``tol=1e-8``, 2e-7 at ``tol=1e-10``):
    solving tightly and dropping directions below ``rank_tol=1e-4`` of the largest leaves the
    filters weight decay chose.
    The recovered network's objective still equals the optimum (the test checks it).
    """
    beta = beta_fraction * sn.formulations.linear_cnn.linear_cnn_beta_max(X, y, kernel_size=3)
    prog = sn.ConvexLinearCNN(X, y, beta, kernel_size=3, rank_tol=1e-4)
    res = prog.solve(tol=1e-10)
    return prog, res, prog.network()


def circular_spectra(X, y, fractions=(0.02, 0.1, 0.3, 0.6)):
    """Optimal circular-CNN filters along a beta path: spectrum magnitudes per beta."""
    prog = sn.ConvexCircularCNN(X, y, 1.0)
    bmax = prog.beta_max()
    rows = []
    for frac in fractions:
        prog.beta = frac * bmax
        res = prog.solve(warm_start=True)
        spectrum = np.abs(prog.spectrum)
        norms = prog.features.group_norms(prog.solution)
        active = int(np.sum(norms > 1e-6 * norms.max()))
        rows.append(dict(beta=prog.beta, objective=res.objective, active_groups=active,
                         spectrum=spectrum, filter=prog.filter))
    return prog, rows


def sgd_circular(X, y, beta, channels=2, epochs=400, batch=32, seed=0):
    """Mini-batch SGD on the two-layer circular CNN f(x) = sum_j w_j^T C(u_j) x.

    The gradient of the summed loss uses ``f = <b, x>`` with ``Fb = sum_j W_j conj(U_j)``:
    for ``g = X_batch^T r`` (a residual-weighted image), ``d/dw_j = u_j (*) g`` and
    ``d/du_j = w_j (corr) g``, both by FFT.
    """
    rng = np.random.default_rng(seed)
    S = X[:, 0]
    n = S.shape[0]
    U = 0.3 * rng.standard_normal((channels, *S.shape[1:]))
    W = 0.3 * rng.standard_normal((channels, *S.shape[1:]))
    lipschitz = np.linalg.norm(S.reshape(n, -1), 2) ** 2
    axes = (1, 2)
    for epoch in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            Uf, Wf = np.fft.fft2(U, axes=axes), np.fft.fft2(W, axes=axes)
            # a step below 1 / (local curvature), decaying for the stochastic phase
            curvature = lipschitz * (np.max(np.abs(Uf)) ** 2 + np.max(np.abs(Wf)) ** 2) + beta
            lr = 0.3 / curvature / (1.0 + epoch / 50.0)
            b = np.fft.ifft2(np.sum(Wf * np.conj(Uf), axis=0)).real
            r = S[idx].reshape(len(idx), -1) @ b.ravel() - y[idx]
            g = (n / len(idx)) * np.tensordot(r, S[idx], axes=1)
            Gf = np.fft.fft2(g)
            gW = np.fft.ifft2(Uf * Gf, axes=axes).real + beta * W
            gU = np.fft.ifft2(Wf * np.conj(Gf), axes=axes).real + beta * U
            U, W = U - lr * gU, W - lr * gW
    return sn.CircularCNN([U, W])


def save_figures(lin_net, rows, sgd_values, optimum, out_dir: Path) -> list[Path]:
    """Filters, spectra and SGD-vs-optimum plots (only when matplotlib is installed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    saved = []
    m = lin_net.filters.shape[0]
    fig, axs = plt.subplots(1, m, figsize=(2 * m, 2), squeeze=False)
    scale = np.abs(lin_net.filters).max()
    for j, ax in enumerate(axs[0]):
        ax.imshow(lin_net.filters[j, 0], cmap="RdBu", vmin=-scale, vmax=scale)
        ax.set_title(f"filter {j + 1}")
        ax.axis("off")
    saved.append(out_dir / "digits_linear_cnn_filters.png")
    fig.savefig(saved[-1], dpi=100, bbox_inches="tight")
    fig, axs = plt.subplots(1, len(rows), figsize=(2.5 * len(rows), 2.5), squeeze=False)
    for row, ax in zip(rows, axs[0]):
        ax.imshow(np.fft.fftshift(row["spectrum"]), cmap="viridis")
        ax.set_title(f"beta={row['beta']:.2g}\n{row['active_groups']} freq. groups")
        ax.axis("off")
    saved.append(out_dir / "digits_circular_spectra.png")
    fig.savefig(saved[-1], dpi=100, bbox_inches="tight")
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot(sgd_values, "o", label="SGD runs")
    ax.axhline(optimum, color="k", label="convex optimum")
    ax.set_xlabel("run")
    ax.set_ylabel("training objective")
    ax.legend()
    saved.append(out_dir / "digits_sgd_vs_optimum.png")
    fig.savefig(saved[-1], dpi=100, bbox_inches="tight")
    plt.close("all")
    return saved


def main(max_samples: int | None = None, sgd_runs: int = 4, save: bool = True) -> dict:
    """Run the three demonstrations; print a report; return the numbers."""
    start = time.perf_counter()
    X, y = load_task(max_samples)
    print(f"digits {DIGITS[0]} vs {DIGITS[1]}: {X.shape[0]} images of 8x8")

    # 1. linear CNN = nuclear norm
    lin_prog, lin_res, lin_net = linear_cnn_filters(X, y)
    print(f"\n[linear CNN, 3x3 filters, beta={lin_prog.beta:.3g}] optimum {lin_res.objective:.6f} "
          f"({lin_res.backend}); recovered network objective "
          f"{lin_net.objective(X, y, lin_prog.beta):.6f}; {lin_net.filters.shape[0]} filter(s)")
    s = np.linalg.svd(lin_prog.solution, compute_uv=False)
    print("  singular values of Z (the filters' strengths):", np.array2string(s, precision=4))
    print(f"  kept those above {lin_prog.rank_tol:g} of the largest (below: solver noise)")
    for j, f in enumerate(lin_net.filters[:, 0]):
        print(f"  filter {j + 1}:\n" + "\n".join("    " + " ".join(f"{v:+.3f}" for v in r) for r in f))

    # 2. circular CNN spectrum along beta
    circ_prog, rows = circular_spectra(X, y)
    print("\n[circular CNN, 2-D circular filters] spectrum of the optimal filter as beta grows:")
    for row in rows:
        print(f"  beta={row['beta']:8.3f}  objective={row['objective']:10.4f}  "
              f"active frequency groups: {row['active_groups']:2d} of "
              f"{circ_prog.features.penalty_weights.size}")

    # 3. SGD vs the convex optimum (at the middle beta of the path)
    beta = rows[1]["beta"]
    circ_prog.beta = beta
    res = circ_prog.solve()
    optimum = res.objective
    cert = circ_prog.certificate()
    sgd_values = [sgd_circular(X, y, beta, seed=s).objective(X, y, beta) for s in range(sgd_runs)]
    print(f"\n[circular CNN at beta={beta:.3f}] convex optimum {optimum:.6f}, certified lower "
          f"bound {cert.lower_bound:.6f}")
    for i, v in enumerate(sgd_values):
        print(f"  SGD run {i}: {v:.6f}  (+{v - optimum:.2e} above the optimum)")

    figures = save_figures(lin_net, rows, sgd_values, optimum, Path(__file__).parent) if save else []
    for f in figures:
        print("saved", f)
    elapsed = time.perf_counter() - start
    print(f"\ndone in {elapsed:.1f} s")
    return dict(
        linear_objective=lin_res.objective,
        linear_network_objective=lin_net.objective(X, y, lin_prog.beta),
        n_filters=lin_net.filters.shape[0],
        active_groups=[row["active_groups"] for row in rows],
        betas=[row["beta"] for row in rows],
        circular_optimum=optimum,
        circular_network_objective=circ_prog.network().objective(X, y, beta),
        lower_bound=cert.lower_bound,
        sgd_objectives=sgd_values,
        figures=figures,
        seconds=elapsed,
    )


if __name__ == "__main__":
    main()
