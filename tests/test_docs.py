"""The documentation lives in the repository and holds together.

* ``docs/`` builds with Sphinx with warnings as errors (every page, every cross-reference,
  every API page generated from the docstrings);
* every citation of the docs in the code (``docs/relu.md section 4c``) names a page and a
  section that exist, and nothing cites the private notes the docs replaced;
* the public API passes numpydoc's docstring validation, except the checks listed in
  ``IGNORED_CHECKS`` (with the reason for each);
* ``mypy sdpnets`` is clean (configuration in ``pyproject.toml``).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sdpnets

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: numpydoc checks not required of the public API, and why.
IGNORED_CHECKS = {
    "SA01": "a 'See Also' section is not required; the pages link related names",
    "EX01": "examples live in docs/getting_started.md and examples/, executed by the suite",
    "ES01": "a one-paragraph docstring (no extended summary) is fine for simple names",
}

CITATION = re.compile(r"docs/(?P<page>[a-z_]+)\.md(?: sections? (?P<sections>[0-9][a-z]?"
                      r"(?:(?:-|/|, )[0-9][a-z])*))?")


#: Import names of distributions whose name differs (the extras list distributions).
IMPORT_NAMES = {"scikit-learn": "sklearn", "import-linter": "importlinter",
                "myst-parser": "myst_parser", "pyyaml": "yaml"}


def _extra(name: str) -> set[str]:
    """Top-level import names of the packages of ``project.optional-dependencies[name]``
    (``"core"``: of ``project.dependencies``)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] if name == "core" else project["optional-dependencies"][name]
    dists = {re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].strip().lower() for spec in specs}
    return {IMPORT_NAMES.get(d, d.replace("-", "_")) for d in dists}


def outside_the_docs_extra() -> set[str]:
    """What the other extras bring and the ``docs`` extra does not: a docs build that
    imports one of them fails on a clean install of ``.[docs]`` (``make docs``)."""
    extras = ("test", "torch", "sklearn", "plot", "bench", "dask", "notebooks", "mosek")
    others = set().union(*(_extra(e) for e in extras))
    return others - _extra("docs") - _extra("core")


#: Runs Sphinx with every package of :func:`outside_the_docs_extra` unimportable.
_BLOCKED_SPHINX = """
import sys
blocked = set(sys.argv[1].split(","))
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"{name} is not in the docs extra", name=name)
        return None
sys.meta_path.insert(0, Blocker())
from sphinx.cmd.build import main
sys.exit(main(sys.argv[2:]))
"""


def test_docs_build_without_warnings_from_the_docs_extra_alone(tmp_path):
    """Sphinx's ``dummy`` builder reads every page and resolves every reference (the same
    checks as the HTML build of ``make docs``, without writing HTML), with nothing
    importable that ``pip install '.[docs]'`` would not install: an autodoc page needing a
    package of another extra fails here as it would on a fresh clone."""
    blocked = outside_the_docs_extra()
    assert {"torch", "matplotlib", "dask", "pytest"} <= blocked
    assert "sklearn" not in blocked  # autodoc imports sdpnets.sklearn
    src = tmp_path / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build", "generated"))
    out = subprocess.run(
        [sys.executable, "-c", _BLOCKED_SPHINX, ",".join(sorted(blocked)), "-W", "--keep-going",
         "-q", "-j", "auto", "-b", "dummy", str(src), str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-4000:]


def test_the_blocker_makes_a_missing_extra_fail():
    """The blocker is real: with scikit-learn blocked too, importing sdpnets.sklearn (what
    autodoc does) fails, as it did on a fresh clone before the docs extra listed it."""
    code = _BLOCKED_SPHINX.split("from sphinx")[0] + "import sdpnets.sklearn\n"
    out = subprocess.run([sys.executable, "-c", code, "sklearn"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode != 0 and "not in the docs extra" in out.stderr


def _sources() -> list[Path]:
    paths = list((ROOT / "sdpnets").rglob("*.py")) + list((ROOT / "tests").rglob("*.py"))
    paths += list((ROOT / "examples").glob("*.py")) + list((ROOT / "benchmarks").glob("*.py"))
    return [p for p in paths if p.name != "test_docs.py"]


def test_code_cites_existing_pages_and_sections():
    pages = {p.stem: p.read_text() for p in DOCS.glob("*.md")}
    headings = {
        page: set(re.findall(r"^#+ ([0-9][a-z]?)\. ", text, flags=re.MULTILINE))
        for page, text in pages.items()
    }
    cited = 0
    for path in _sources():
        text = path.read_text()
        assert "MATH.md" not in text, f"{path} cites MATH.md; cite a page of docs/ instead"
        for match in CITATION.finditer(text):
            page = match.group("page")
            assert page in pages, f"{path}: docs/{page}.md does not exist"
            for sec in re.findall(r"[0-9][a-z]?", match.group("sections") or ""):
                if len(sec) == 1:  # a whole section number, e.g. "section 4"
                    assert any(h.startswith(sec) for h in headings[page]), (path, page, sec)
                else:
                    assert sec in headings[page], f"{path}: docs/{page}.md has no section {sec}"
            cited += 1
    assert cited >= 20  # the docstrings do cite the pages


def test_every_page_is_in_the_table_of_contents():
    index = (DOCS / "index.md").read_text()
    for page in DOCS.glob("*.md"):
        if page.stem != "index":
            assert re.search(rf"^{page.stem}$", index, flags=re.MULTILINE), page.name


def test_getting_started_examples_run():
    """The Python blocks of the getting-started page run as written (they assert the
    objective equality themselves)."""
    text = (DOCS / "getting_started.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/getting_started.md", "exec"), namespace)
    assert namespace["cert"].gap >= 0


def _import_path(name: str) -> str:
    obj = getattr(sdpnets, name)
    if inspect.ismodule(obj):
        return obj.__name__
    return f"{obj.__module__}.{obj.__qualname__}"


@pytest.mark.parametrize("name", sorted(sdpnets.__all__))
def test_public_docstrings_pass_numpydoc_validation(name):
    from numpydoc.docscrape import ClassDoc
    from numpydoc.validate import validate

    obj = getattr(sdpnets, name)
    ignored = set(IGNORED_CHECKS)
    if dataclasses.is_dataclass(obj):
        # A record's constructor arguments are its fields, documented once, as Attributes.
        documented = {n.strip() for p in ClassDoc(obj)["Attributes"] for n in p.name.split(",")}
        fields = {f.name for f in dataclasses.fields(obj)}
        assert fields <= documented, f"sdpnets.{name}: undocumented fields {fields - documented}"
        ignored.add("PR01")
    errors = [f"{code}: {msg}" for code, msg in validate(_import_path(name))["errors"]
              if code not in ignored]
    assert not errors, f"sdpnets.{name}:\n" + "\n".join(errors)


def test_mypy_is_clean():
    out = subprocess.run([sys.executable, "-m", "mypy", "sdpnets"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
