"""``sdpnets fit`` on one's own data, and the plain-text help of every command.

The weights file is judged by what it holds, not by how the CLI printed it: its arrays,
put through the network's formula by hand, give the printed optimum, and the certificate
brackets it.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.cli import _progress, build_parser, main, run_backends


def _value(text: str, key: str) -> str:
    match = re.search(rf"^{key}\s+(.*)$", text, flags=re.MULTILINE)
    assert match, f"no {key!r} row in:\n{text}"
    return match.group(1).strip()


def _bracket(text: str) -> tuple[float, float]:
    lo, hi = re.fullmatch(r"\[(\S+), (\S+)\]", _value(text, "certified bracket")).groups()
    return float(lo), float(hi)


@pytest.fixture
def relu_data(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((9, 2))
    y = np.maximum(X @ np.array([1.0, -2.0]), 0.0) - np.maximum(X @ np.array([-1.0, 0.5]), 0)
    y = y + 0.1 * rng.standard_normal(9)
    path = tmp_path / "train.npz"
    np.savez(path, inputs=X, targets=y)
    return path, X, y


def test_fit_npz_relu_prints_certificate_and_writes_plain_weights(relu_data, tmp_path, capsys):
    path, X, y = relu_data
    out = tmp_path / "relu_weights.npz"
    beta = 0.05
    code = main(["fit", str(path), "--family", "relu", "--beta", str(beta),
                 "--x-key", "inputs", "--y-key", "targets", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert _value(text, "status") == "optimal"
    objective = float(_value(text, "objective"))
    lower, upper = _bracket(text)
    assert lower <= objective + 1e-7 and objective <= upper + 1e-7
    rel = _value(text, "relative gap")  # labelled with its definition
    assert re.match(r"\S+\s+\(gap / .*upper", rel), rel

    # The file reads without pickle and its weights, through the formula, are the optimum.
    with np.load(out, allow_pickle=False) as f:
        assert list(f["layers"]) == ["U", "alpha"] and str(f["network"]) == "ReLUMLP"
        U, alpha = f["U"], f["alpha"]
        stored = {k: float(f[k]) for k in ("objective", "lower_bound", "upper_bound",
                                           "relative_gap")}
    yhat = np.maximum(X @ U, 0.0) @ alpha
    by_hand = 0.5 * np.sum((yhat - y) ** 2) + 0.5 * beta * (np.sum(U**2) + np.sum(alpha**2))
    assert by_hand == pytest.approx(objective, rel=1e-6)
    assert stored["lower_bound"] <= by_hand + 1e-7 <= stored["upper_bound"] + 2e-7
    gap = stored["upper_bound"] - stored["lower_bound"]
    assert float(rel.split()[0]) == pytest.approx(stored["relative_gap"], rel=1e-3)
    assert stored["relative_gap"] == pytest.approx(gap / abs(stored["upper_bound"]), rel=1e-9)
    # and the predictions are those of the network sdpnets recovers from the same program
    prog = sn.ConvexReLU(X, y, beta)
    assert prog.solve().status == "optimal"
    np.testing.assert_allclose(yhat, prog.network().predict(X), atol=1e-5)
    np.testing.assert_allclose(sn.ReLUMLP(U, alpha).predict(X), yhat, rtol=0, atol=1e-12)


def test_fit_csv_linear_fc_with_named_target(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = X @ np.array([1.0, 0.0, -1.0]) + 0.1 * rng.standard_normal(30)
    path = tmp_path / "houses.csv"
    table = np.column_stack([X[:, 0], y, X[:, 1:]])  # target in the middle
    np.savetxt(path, table, delimiter=",", header="rooms,price,age,size", comments="")
    out = tmp_path / "fc.npz"
    code = main(["fit", str(path), "--target", "price", "--family", "linear_fc",
                 "--beta-fraction", "0.3", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and _value(text, "status") == "optimal"
    beta = 0.3 * sn.beta_max(X, y, family="linear_fc")
    assert float(_value(text, "beta").split()[0]) == pytest.approx(beta, rel=1e-5)
    with np.load(out, allow_pickle=False) as f:
        W1, W2 = f["W1"], f["W2"]
    z = (W1 @ W2)[:, 0]
    # 2-layer scalar output: the optimum is the group lasso 1/2||Xz - y||^2 + beta ||z||
    by_hand = 0.5 * np.sum((X @ z - y) ** 2) + 0.5 * beta * (np.sum(W1**2) + np.sum(W2**2))
    assert by_hand == pytest.approx(float(_value(text, "objective")), rel=1e-6)
    assert 0.5 * beta * (np.sum(W1**2) + np.sum(W2**2)) == pytest.approx(
        beta * np.linalg.norm(z), rel=1e-5)  # balanced layers
    lower, upper = _bracket(text)
    assert lower <= by_hand + 1e-7 <= upper + 2e-7


@pytest.mark.parametrize(
    "args, message",
    [
        (["--family", "linear_fc", "--beta", "1"], "--target is required .* x0, x1, t"),
        (["--family", "linear_fc", "--beta", "1", "--target", "price"], "not a column"),
        (["--family", "relu", "--beta", "1", "--target", "t", "--depth", "3"],
         "--depth does not apply to --family relu"),
    ],
)
def test_fit_refuses_bad_requests_with_a_message(tmp_path, capsys, args, message):
    path = tmp_path / "d.csv"
    np.savetxt(path, np.ones((4, 3)), delimiter=",", header="x0,x1,t", comments="")
    assert main(["fit", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err


def test_fit_names_the_arrays_a_npz_holds(relu_data, capsys):
    path, _, _ = relu_data
    assert main(["fit", str(path), "--family", "relu", "--beta", "1"]) == 2
    assert "no array named 'X', 'y'; it holds 'inputs', 'targets'" in capsys.readouterr().err


def _all_help() -> dict[str, str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    texts = {"sdpnets": parser.format_help()}
    texts.update({name: p.format_help() for name, p in sub.choices.items()})
    return texts


def test_help_is_plain_text_with_an_example_per_command():
    texts = _all_help()
    assert {"demo", "backends", "fit"} <= set(texts)
    for name, text in texts.items():
        for markup in ("``", ":math:", ":class:", ":func:", ":meth:", ".. "):
            assert markup not in text, (name, markup)
        assert re.search(r"^examples?:$", text, flags=re.MULTILINE), name
        if name != "sdpnets":
            assert f"sdpnets {name}" in text.split("example")[-1], name
    assert re.search(r"--seed SEED\s+seed of the random data", texts["demo"])


def test_backends_rows_fit_a_terminal():
    out = io.StringIO()
    run_backends(out)
    lines = out.getvalue().splitlines()
    assert max(map(len, lines)) <= 100
    assert {line.split()[0] for line in lines[2:] if line[:1].strip()} >= {"clarabel", "scs", "mosek"}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_only_on_a_terminal():
    tty, pipe = _Terminal(), io.StringIO()
    with _progress("solving", stream=tty, interval=0.01):
        import time

        time.sleep(0.1)
    with _progress("solving", stream=pipe, interval=0.01):
        pass
    assert re.search(r"solving\s+\d+\.\d s", tty.getvalue())
    assert tty.getvalue().endswith("\r") and pipe.getvalue() == ""


def test_fit_relu_on_real_size_data_samples_patterns_by_default(tmp_path, capsys):
    """Too many cells for exhaustive enumeration: without --patterns the fit samples gates
    and says the optimum is an upper bound; asking for every cell fails with a hint."""
    rng = np.random.default_rng(0)
    path = tmp_path / "wide.npz"
    np.savez(path, X=rng.standard_normal((200, 12)), y=rng.standard_normal(200))
    assert main(["fit", str(path), "--family", "relu", "--beta-fraction", "0.1",
                 "--backend", "clarabel"]) == 0
    text = capsys.readouterr().out
    assert "patterns=64" in _value(text, "family") and _value(text, "status") == "optimal"
    assert "upper bound" in _value(text, "note")
    assert main(["fit", str(path), "--family", "relu", "--beta", "1",
                 "--patterns", "exhaustive"]) == 2
    err = capsys.readouterr().err
    assert "max_patterns" in err and "--patterns 1000" in err


def test_fit_standardize_and_intercept(tmp_path, capsys):
    """--standardize fits the program on (X - mean) / std (computed here) and stores both;
    --intercept adds the unpenalized offset; the stored arrays reproduce the objective."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((12, 2)) * [100.0, 0.01] + [5.0, 0.002]
    y = np.maximum(X[:, 0] / 100 + X[:, 1] * 50, 0.0) + 10.0
    path, out = tmp_path / "d.npz", tmp_path / "w.npz"
    np.savez(path, X=X, y=y)
    assert main(["fit", str(path), "--family", "relu", "--beta", "0.2", "--standardize",
                 "--intercept", "--bias", "--out", str(out), "--backend", "clarabel"]) == 0
    text = capsys.readouterr().out
    assert "standardized" in _value(text, "data")
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    with np.load(out, allow_pickle=False) as f:
        np.testing.assert_allclose(f["x_mean"], X.mean(axis=0))
        np.testing.assert_allclose(f["x_scale"], X.std(axis=0))
        assert list(f["layers"]) == ["U", "bias", "alpha", "offset"]
        U, b, alpha, c = f["U"], f["bias"], f["alpha"], float(f["offset"])
    yhat = np.maximum(Z @ U + b, 0.0) @ alpha + c
    by_hand = 0.5 * np.sum((yhat - y) ** 2) + 0.1 * (np.sum(U**2) + np.sum(b**2)
                                                      + np.sum(alpha**2))
    assert by_hand == pytest.approx(float(_value(text, "objective")), rel=1e-6)
    prog = sn.ConvexReLU(Z, y, 0.2, bias=True, intercept=True)
    assert prog.solve(tol=1e-9).objective == pytest.approx(by_hand, rel=1e-6)


def test_backend_help_says_what_auto_picks(capsys):
    """The help names the first-order default of the least-squares families, which is what
    a linear_fc fit then reports."""
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "first-order solver where it applies (linear_fc" in text
    assert "default: auto, MOSEK when licensed, else Clarabel" not in text
