"""Dependencies point one way: each layer of hf_nlp imports only the layers below it.

Read from the source (AST), nothing is executed. Layers, lowest first:

    foundation  errors, atomic, manifest, config, hub_client, lazy: no project imports above them
    sharing     hub, model_card: loading, pushing and describing model folders
    writing     reports.writing: Markdown, JSON, plots and the environment, for any report
    data        corpora, their configs and sources, window datasets, caches
    text        tokenizers, vectorization, embeddings, long-text reading
    models      PreTrainedModels (may use text's pooling helpers, never data)
    training    the generic loop: knows no model, task, corpus or metric
    generation  sampling and translation on top of generate()
    runs        what a saved run was: its config, data and provenance
    evaluation  metrics, scoring of saved models, baselines
    reports     report files built from structured results
    apps        cli, space, space_card, launch, search, recipes: may import anything

A module may import its own layer and the layers its row allows below; anything else is an upward
(or sideways) edge that makes a contributor learn the whole package to change one part.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LAYER_OF = {  # longest matching prefix wins
    "hf_nlp": "foundation",
    "hf_nlp.errors": "foundation",
    "hf_nlp.atomic": "foundation",
    "hf_nlp.manifest": "foundation",
    "hf_nlp.config": "foundation",
    "hf_nlp.hub_client": "foundation",
    "hf_nlp.lazy": "foundation",
    "hf_nlp.reports.writing": "writing",
    "hf_nlp.hub": "sharing",
    "hf_nlp.model_card": "sharing",
    "hf_nlp.data": "data",
    "hf_nlp.text": "text",
    "hf_nlp.models": "models",
    "hf_nlp.training": "training",
    "hf_nlp.generation": "generation",
    "hf_nlp.runs": "runs",
    "hf_nlp.evaluation": "evaluation",
    "hf_nlp.reports": "reports",
    "hf_nlp.cli": "apps",
    "hf_nlp.space": "apps",
    "hf_nlp.space_card": "apps",
    "hf_nlp.launch": "apps",
    "hf_nlp.search": "apps",
    "hf_nlp.recipes": "apps",
}
ALLOWED = {
    "foundation": set(),
    "sharing": {"foundation"},
    "writing": {"foundation"},
    "data": {"foundation"},
    "text": {"foundation", "data"},
    "models": {"foundation", "text"},
    "training": {"foundation"},
    "generation": {"foundation", "sharing", "text", "models"},
    "runs": {"foundation", "sharing", "data", "text"},
    "evaluation": {"foundation", "sharing", "writing", "data", "text", "models", "training", "generation", "runs"},
    "reports": {"foundation", "sharing", "writing", "evaluation", "training"},
    "apps": {"foundation", "sharing", "writing", "data", "text", "models", "training", "generation", "runs",
             "evaluation", "reports", "apps"},
}


def layer(module: str) -> str:
    matches = [prefix for prefix in LAYER_OF if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        raise AssertionError(f"{module} is in no layer; add it to LAYER_OF in {__file__}")
    return LAYER_OF[max(matches, key=len)]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    if parts[0] == "recipes":
        parts = ("hf_nlp", *parts)  # shipped in the wheel as hf_nlp.recipes
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported module, whether the import is inside a function) for every hf_nlp import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside_function |= {id(child) for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name, id(node) in inside_function) for name in names
                  if name == "hf_nlp" or name.startswith("hf_nlp.")]
    return found


SOURCES = sorted([*(REPO_ROOT / "hf_nlp").rglob("*.py"), *(REPO_ROOT / "recipes").glob("*.py")])


def test_every_module_has_a_layer():
    for path in SOURCES:
        layer(module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_imports_point_down(path):
    here = module_name(path)
    upward = [f"line {line}: {here} ({layer(here)}) imports {name} ({layer(name)})"
              for line, name, _ in project_imports(path) if layer(name) not in ALLOWED[layer(here)] | {layer(here)}]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_the_loop_knows_no_task():
    """The issue's own words: training imports nothing from models, evaluation, data or text."""
    for path in (REPO_ROOT / "hf_nlp" / "training").glob("*.py"):
        for _, name, _ in project_imports(path):
            assert layer(name) == "foundation" or name.startswith("hf_nlp.training"), f"{path.name} imports {name}"


def test_function_local_imports_say_why():
    """A project import inside a function is there for start-up time (or a cycle) and says so on its line
    or the line above (`# lazy: ...`); otherwise it belongs at the top of the module."""
    unexplained = []
    for path in SOURCES:
        lines = path.read_text(encoding="utf-8").splitlines()
        for line, name, local in project_imports(path):
            context = " ".join(lines[max(line - 3, 0):line])
            if local and "lazy:" not in context:
                unexplained.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {name}")
    assert not unexplained, "function-local imports without a `# lazy:` reason:\n" + "\n".join(unexplained)
