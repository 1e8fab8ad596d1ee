"""The front page stays a front page, and no link in it or in the docs points at nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+?)(?: \{#([\w-]+)\})?$", re.M)


def anchors(page: Path) -> set[str]:
    """The heading ids MkDocs gives a page (its default `toc` slugify, or an explicit `{#id}`)."""
    from markdown.extensions.toc import slugify

    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {explicit or slugify(title.replace("`", ""), "-") for title, explicit in HEADING.findall(text)}


def test_readme_is_a_front_page():
    lines = (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, "README.md is the entry point; depth goes to docs/"
    for marker in ("<!-- setup-command -->", "<!-- test-command -->"):  # .ci/run reads the commands after them
        assert lines[lines.index(marker) + 1].startswith("$ ")


@pytest.mark.parametrize("page", ["README.md", *sorted(str(p.relative_to(REPO_ROOT)) for p in
                                                       (REPO_ROOT / "docs").rglob("*.md"))])
def test_every_relative_link_resolves(page):
    source = REPO_ROOT / page
    for target in LINK.findall(source.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        resolved = (source.parent / path).resolve()
        assert resolved.exists(), f"{page} links to {target}, which does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page} links to {target}: no such heading in {path}"


def test_nothing_cites_a_design_file_that_is_not_here():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    cited = [name for name in tracked if name != "tests/test_docs.py" and (REPO_ROOT / name).is_file()
             and "DESIGN.md" in (REPO_ROOT / name).read_text(encoding="utf-8", errors="ignore")]
    assert cited == [], "the design document is docs/design.md"


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
                    reason='the docs extra is not installed (pip install -e ".[docs]")')
def test_the_docs_build_strictly(tmp_path):
    built = subprocess.run([Path(sys.executable).parent / "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                           env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    assert built.returncode == 0, built.stderr[-3000:]
    assert (tmp_path / "api" / "models" / "index.html").read_text().count("CharRNNForCausalLM") > 0
