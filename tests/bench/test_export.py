"""``sdpnets bench export``: files and a manifest whose certified optima the files meet."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sdpnets as sn
from sdpnets.bench.export import MANIFEST, export, within_bracket
from sdpnets.bench.formats import read_cbf, read_sdpa
from sdpnets.bench.instances import FAMILIES, Family
from sdpnets.cli import main

READ = {"cbf": read_cbf, "sdpa": read_sdpa}
FIELDS = {"family", "size", "sizes", "seed", "data", "beta", "beta_fraction", "beta_max",
          "file", "format", "optimum", "lower_bound", "upper_bound", "offset", "scale",
          "network_lower_bound", "network_upper_bound", "exact", "certified_by", "cones"}


def _resolve(directory, entry, solver="CLARABEL"):
    problem = READ[entry["format"]](directory / entry["file"])
    opts = ({"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9}
            if solver == "CLARABEL" else {"eps_abs": 1e-9, "eps_rel": 1e-9})
    value = problem.solve(solver=solver, **opts)
    assert problem.status == "optimal"
    return value


@pytest.mark.parametrize("fmt, families, fractions", [
    ("cbf", ["linear_fc", "circular_cnn2_1d", "relu_sampled", "ridge_path"], ["0.5", "0.01"]),
    ("sdpa", ["patch_cnn_1d", "gated_relu", "relu_exhaustive"], ["0.1"]),
])
def test_export_end_to_end_and_the_files_meet_their_brackets(tmp_path, capsys, fmt, families,
                                                               fractions):
    out = tmp_path / fmt
    assert main(["bench", "export", "--preset", "tiny", "--format", fmt, str(out),
                 "--families", *families, "--beta-fractions", *fractions]) == 0
    assert f"{out}/{MANIFEST} written" in capsys.readouterr().out
    manifest = json.loads((out / MANIFEST).read_text())
    assert isinstance(manifest, list)
    assert len(manifest) == len(families) * len(fractions)
    files = [e for e in manifest if e["file"]]
    for entry in manifest:
        if entry["family"] == "ridge_path":
            assert entry["file"] is None and "no convex program" in entry["skipped"]
            continue
        assert FIELDS <= set(entry), FIELDS - set(entry)
        assert (out / entry["file"]).is_file()
        assert entry["beta"] == pytest.approx(entry["beta_fraction"] * entry["beta_max"])
        assert entry["lower_bound"] <= entry["optimum"] <= entry["upper_bound"]
        # file units -> training objective
        for key in ("optimum", "lower_bound", "upper_bound"):
            net = entry["network_" + key]
            assert entry["offset"] + entry["scale"] * entry[key] == pytest.approx(net, rel=1e-12)
    assert {e["beta_fraction"] for e in files} == {float(f) for f in fractions}
    for entry in files:  # each file, solved again, lands in its certified bracket
        assert within_bracket(_resolve(out, entry), entry, tol=1e-6), entry["file"]


def test_an_independent_solver_meets_the_bracket_too(tmp_path):
    manifest = export("tiny", "cbf", tmp_path, families=["circular_cnn2_2d"],
                      fractions=[0.01])
    (entry,) = manifest
    assert within_bracket(_resolve(tmp_path, entry, "SCS"), entry, tol=1e-5)
    assert not within_bracket(entry["upper_bound"] + 1e-2 * max(1, abs(entry["upper_bound"])),
                              entry, tol=1e-6)


def test_equilibrated_instances_map_back_by_offset_and_scale(tmp_path, monkeypatch):
    # Data far from unit scale are equilibrated before the solver sees them: the file holds
    # the scaled program, and offset + scale * (file optimum) is the training objective.
    def scaled(dims, X, y):
        return sn.ConvexLinearFC(1e3 * X, 1e5 * y, 1.0, depth=2)

    fam = Family("scaled_fc", scaled, {"tiny": {"n": 20, "d": 4, "K": 2}})
    monkeypatch.setitem(FAMILIES, fam.name, fam)
    (entry,) = export("tiny", "sdpa", tmp_path, families=["scaled_fc"], fractions=[0.1])
    assert entry["scale"] > 1e6 and entry["certified_by"]["status"] == "optimal"
    value = _resolve(tmp_path, entry)
    assert within_bracket(value, entry, tol=1e-6)
    training = entry["offset"] + entry["scale"] * value
    assert training == pytest.approx(entry["network_optimum"], rel=1e-6)


def test_sdpa_skips_the_logistic_loss_with_its_reason(tmp_path, monkeypatch):
    def logistic(dims, X, y):
        return sn.ConvexReLU(X, np.sign(y + 1e-9), 1.0, patterns=10, seed=0, loss="logistic")

    fam = Family("logistic_relu", logistic, {"tiny": {"n": 12, "d": 2}}, targets="scalar",
                 planted="relu", beta_scale=lambda p, X, y: (1.0, False))
    monkeypatch.setitem(FAMILIES, fam.name, fam)
    (entry,) = export("tiny", "sdpa", tmp_path / "s", families=["logistic_relu"],
                      fractions=[0.1])
    assert entry["file"] is None and "exponential" in entry["skipped"]
    (entry,) = export("tiny", "cbf", tmp_path / "c", families=["logistic_relu"],
                      fractions=[0.1])
    assert entry["cones"]["exp"] > 0
    assert within_bracket(_resolve(tmp_path / "c", entry), entry, tol=1e-6)


def test_the_scoring_script_of_the_docs_scores_a_solver(tmp_path):
    # The solver-developer loop of docs/benchmarking.md: export, solve every file with
    # "your solver" (here SCS through sdpnets' own reader), score against the manifest.
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "inst"
    manifest = export("tiny", "sdpa", out, families=["circular_cnn2_1d", "gated_relu"],
                      fractions=[0.5, 0.01])
    results = {}
    for entry in manifest:
        value = _resolve(out, entry, "SCS")
        results[entry["file"]] = {"objective": value, "seconds": 0.1}
    wrong = manifest[0]["file"]
    results[wrong] = {"objective": manifest[0]["upper_bound"] + 1.0, "seconds": 0.1}
    (tmp_path / "results.json").write_text(json.dumps(results))
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "score_against_manifest.py"
    text = subprocess.run([sys.executable, str(script), str(out), str(tmp_path / "results.json"),
                           "--tol", "1e-5"], capture_output=True, text=True, check=True).stdout
    verdicts = {line.split()[0]: line.split()[1] for line in text.splitlines()
                if line.endswith("]")}
    assert verdicts[wrong] == "wrong"
    assert sum(v == "solved" for v in verdicts.values()) == len(manifest) - 1
    summary = {line.split()[0]: line.split()[1] for line in text.splitlines()[-2:]}
    assert summary == {"0.5": "1/2", "0.01": "2/2"}
