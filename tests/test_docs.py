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


def test_docs_build_without_warnings(tmp_path):
    """Sphinx's ``dummy`` builder reads every page and resolves every reference (the same
    checks as the HTML build of ``make docs``, without writing HTML)."""
    src = tmp_path / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build", "generated"))
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-j", "auto", "-b", "dummy",
         str(src), str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-4000:]


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
