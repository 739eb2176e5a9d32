"""The beta axis: instances at fractions of beta_max, keys, and the report by fraction."""

from __future__ import annotations

import json

import pytest

from sdpnets import InvalidInputError
from sdpnets.bench.instances import BETA_FRACTION, BETA_FRACTIONS, Instance, build
from sdpnets.bench.report import format_summary, summarize
from sdpnets.bench.runner import PRESET_FRACTIONS, plan, run_key
from sdpnets.bench.store import read_rows
from sdpnets.cli import main


def test_beta_is_the_fraction_of_beta_max():
    for fraction in (0.5, 0.01):
        built = build(Instance("linear_fc", "tiny", beta_fraction=fraction))
        assert built.beta_max_exact
        assert built.program.beta == pytest.approx(fraction * built.beta_max)
        assert built.beta_max == pytest.approx(built.program.beta_max())
    with pytest.raises(InvalidInputError, match="beta_fraction"):
        Instance("linear_fc", "tiny", beta_fraction=1.5)


def test_presets_sweep_the_grid_and_keys_stay_compatible():
    assert PRESET_FRACTIONS["small"] == BETA_FRACTIONS and len(BETA_FRACTIONS) >= 4
    tasks = plan("small", ["circular_cnn2_1d"], ["clarabel"], seeds=[0],
                 data=[("gaussian", None)])
    assert sorted(t["instance"]["beta_fraction"] for t in tasks) == sorted(BETA_FRACTIONS)
    keys = {t["instance"]["beta_fraction"]: run_key(t) for t in tasks}
    assert len(set(keys.values())) == len(keys)
    # a run at the one fraction results files had before the grid keeps its old key
    legacy = dict(tasks[0], instance={k: v for k, v in tasks[0]["instance"].items()
                                      if k != "beta_fraction"})
    at_default = dict(tasks[0], instance={**tasks[0]["instance"],
                                          "beta_fraction": BETA_FRACTION})
    assert run_key(legacy) == run_key(at_default) == keys[BETA_FRACTION]
    assert "beta=" not in keys[BETA_FRACTION] and keys[0.5].endswith("|beta=0.5")
    assert {t["instance"]["beta_fraction"] for t in plan("tiny", ["linear_fc"],
                                                         ["clarabel"])} == {BETA_FRACTION}


def _row(inst, fraction, backend, status, solve_s):
    row = {"key": f"{inst}|{fraction}|{backend}", "family": "fam", "size": "small",
           "seed": inst, "data": "gaussian", "conditioning": None, "backend": backend,
           "settings": {"tol": 1e-6, "time_limit": 10.0}, "status": status,
           "solve_s": solve_s, "lower_bound": 1.0, "upper_bound": 1.0, "exact": True}
    if fraction is not None:
        row["beta_fraction"] = fraction
    return row


def test_report_groups_solved_counts_and_times_by_fraction(tmp_path, capsys):
    rows = [
        _row(1, 0.5, "A", "optimal", 1.0), _row(1, 0.5, "B", "optimal", 3.0),
        _row(2, 0.5, "A", "optimal", 2.0), _row(2, 0.5, "B", "time_limit", None),
        _row(1, 0.01, "A", "optimal", 4.0), _row(1, 0.01, "B", "optimal", 1.0),
        _row(2, None, "A", "error", None), _row(2, None, "B", "optimal", 2.0),  # legacy 0.1
    ]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = summarize(read_rows(path), shift=1.0)
    (group,) = summary.groups
    assert group.fractions == [0.5, 0.1, 0.01] and len(group.instances) == 4
    cell = group.by_fraction

    def sgm(*t):
        prod = 1.0
        for x in t:
            prod *= x + 1.0
        return prod ** (1 / len(t)) - 1.0

    assert (cell["A"][0.5]["solved"], cell["A"][0.5]["instances"]) == (2, 2)
    assert cell["A"][0.5]["sgm_solve_s"] == pytest.approx(sgm(1.0, 2.0))
    assert (cell["B"][0.5]["solved"], cell["B"][0.5]["instances"]) == (1, 2)
    assert cell["B"][0.5]["sgm_solve_s"] == pytest.approx(sgm(3.0, 10.0))  # at the limit
    assert (cell["A"][0.1]["solved"], cell["B"][0.1]["solved"]) == (0, 1)
    assert cell["B"][0.01]["sgm_solve_s"] == pytest.approx(1.0)
    assert main(["bench", "report", str(path)]) == 0
    text = capsys.readouterr().out
    assert text == format_summary(summary) + "\n"
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "by beta / beta_max" in line)
    assert lines[at + 1].split() == ["backend", "0.5", "0.1", "0.01"]
    assert lines[at + 3].split() == ["A", "2/2", format(sgm(1.0, 2.0), ".3g"), "0/1", "10",
                                     "1/1", "4"]
