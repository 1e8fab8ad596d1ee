"""The public API is what the docs show: every `from hf_nlp... import ...` in the README and docs, every
`::: module` the API pages render, and every name a package exports in `__all__` can be imported."""

from __future__ import annotations

import importlib
import re

import pytest

from tests.conftest import REPO_ROOT

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
IMPORT = re.compile(r"^\s*from (hf_nlp[\w.]*) import ([\w, ]+)$", re.M)
RENDERED = re.compile(r"^::: (hf_nlp[\w.]*)$", re.M)
PACKAGES = ["hf_nlp.data", "hf_nlp.text", "hf_nlp.models", "hf_nlp.training", "hf_nlp.generation", "hf_nlp.evaluation",
            "hf_nlp.reports"]


def shown_imports() -> list[tuple[str, str]]:
    found = {(module, name.strip()) for page in PAGES for module, names in IMPORT.findall(page.read_text(encoding="utf-8"))
             for name in names.split(",") if name.strip()}
    return sorted(found)


def test_the_docs_show_imports():
    assert ("hf_nlp.text", "StringLookup") in shown_imports()  # the toolkit issue's promise, on text.md


@pytest.mark.parametrize("module,name", shown_imports())
def test_every_import_the_docs_show_works(module, name):
    assert getattr(importlib.import_module(module), name) is not None


def test_every_module_the_api_pages_render_exists():
    rendered = sorted({m for page in PAGES for m in RENDERED.findall(page.read_text(encoding="utf-8"))})
    assert len(rendered) > 20
    for module in rendered:
        importlib.import_module(module)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_imports(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} exports nothing"
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError):
        module.not_a_public_name  # noqa: B018
