"""Sphinx configuration of the sdpnets documentation (``make docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sdpnets  # noqa: E402

project = "sdpnets"
author = "sdpnets developers"
copyright = "sdpnets developers, BSD-3-Clause"
release = sdpnets.__version__
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "generated/*.md"]
templates_path = ["_templates"]

# MyST: $...$ and $$...$$ maths, ```{math} blocks, and heading anchors for
# links such as [](linear_fc.md#1a-two-layers-vector-output).
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference generated from the numpydoc docstrings.
autosummary_generate = ["api.rst", "_api_others.rst"]  # the second lists names api.rst lacks
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"  # the numpydoc Parameters sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Offline builds: intersphinx inventories are not fetched.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

html_theme = "furo"
html_title = f"sdpnets {release}"
pygments_style = "sphinx"


def _write_other_api_names() -> None:
    """List the public names that ``api.rst`` does not group yet, so that every name in
    ``sdpnets.__all__`` has a page (``api.rst`` includes the generated file)."""
    here = Path(__file__).resolve().parent
    text = (here / "api.rst").read_text()
    listed = {line.strip() for line in text.splitlines()}
    others = [n for n in sdpnets.__all__ if n not in listed and f"sdpnets.{n}" not in listed]
    lines = []
    if others:
        lines = ["Other public names", "------------------", "",
                 ".. currentmodule:: sdpnets", "",
                 ".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in others]
    (here / "_api_others.rst").write_text("\n".join(lines) + "\n")


_write_other_api_names()
exclude_patterns.append("_api_others.rst")


def _foreign(obj: object) -> bool:
    """Whether a callable member comes from outside sdpnets (scikit-learn's estimator API,
    ``float``'s or ``Exception``'s methods): those are documented where they live."""
    target = obj.fget if isinstance(obj, property) else obj
    module = getattr(target, "__module__", None)
    if module is None:
        module = getattr(getattr(target, "__objclass__", None), "__module__", "builtins")
    return not str(module).startswith("sdpnets")


def _skip_foreign_members(app, what, name, obj, skip, options):
    if what == "class" and (callable(obj) or isinstance(obj, property)) and _foreign(obj):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
