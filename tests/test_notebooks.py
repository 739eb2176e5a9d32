"""The teaching notebooks run top to bottom, and their own assertions (the theorems they
teach, checked on real data) hold. Stored notebooks carry no outputs, so diffs stay readable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))

#: Seconds any one cell may take (a cell over budget fails the notebook).
CELL_TIMEOUT = 120


def test_the_six_notebooks_exist():
    names = [p.stem for p in PATHS]
    assert len(names) >= 6, names
    for topic in ("nuclear_norm", "deep_linear", "fourier", "group_lasso", "certify", "benchmark"):
        assert any(topic in name for name in names), f"no notebook about {topic!r}: {names}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for i, cell in enumerate(code):
        assert cell.outputs == [], f"code cell {i} of {path.name} has stored outputs"
        assert cell.execution_count is None, f"code cell {i} of {path.name} has an execution count"
    assert any(c.cell_type == "markdown" and "$" in c.source for c in nb.cells), "no formula"
    assert any("assert" in c.source for c in code), "a notebook that asserts nothing"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    # the kernel inherits the environment: one BLAS thread, a non-interactive backend
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    nb = nbformat.read(path, as_version=4)
    # ipykernel's own "python3" kernel, run by this interpreter (sys.executable): no kernel
    # directory is searched, so a user's or the system's python3 kernelspec cannot replace it
    specs = KernelSpecManager(kernel_dirs=[])
    client = nbclient.NotebookClient(
        nb,
        km=KernelManager(kernel_name="python3", kernel_spec_manager=specs),
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{path.name} failed:\n{err}", pytrace=False)
    figures = sum(
        "image/png" in out.get("data", {})
        for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )
    assert figures >= 2, f"{path.name} drew {figures} figure(s)"
