"""Package-wide rules: sources compile cleanly, library code neither prints nor configures
logging, and every public name is importable."""

from __future__ import annotations

import ast
import pathlib
import warnings

import pytest

import sdpnets as sn

PACKAGE = pathlib.Path(sn.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
ROOT = PACKAGE.parent


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_source_compiles_without_warnings(path):
    # invalid escape sequences in docstrings (":math:`\|x\|`") are warnings at compile time
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile(path.read_text(), str(path), "exec")


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if p.name != "cli.py"], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_library_code_never_prints_or_configures_logging(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id != "print", f"{path.name}:{node.lineno} prints"
            if isinstance(func, ast.Attribute):
                assert func.attr != "basicConfig", f"{path.name}:{node.lineno} configures logging"


def test_public_names_exist():
    missing = [name for name in sn.__all__ if not hasattr(sn, name)]
    assert missing == []


def test_readme_example_runs():
    """The README's Python example is the first code a user copies: it must run as written."""
    import re

    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README has no Python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["res"].status == "optimal"
    assert namespace["cert"].gap <= 1e-6 * abs(namespace["res"].objective)


def test_the_dask_extra_resolves_in_one_step():
    """``dask[array,distributed]`` (dask's own extra pins distributed to its version): a
    separate ``distributed`` requirement let pip backtrack through distributed's releases
    for over 17 minutes. The installed pair matches, as that pin promises."""
    import tomllib
    from importlib.metadata import PackageNotFoundError, version

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for name in ("dask", "test"):
        dask_specs = [s for s in extras[name] if s.startswith(("dask", "distributed"))]
        assert len(dask_specs) == 1 and dask_specs[0].startswith("dask[array,distributed]"), (
            name, dask_specs)
    try:
        assert version("dask") == version("distributed")
    except PackageNotFoundError:
        pytest.skip("dask is not installed here")
