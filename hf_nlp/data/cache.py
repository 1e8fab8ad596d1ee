"""Where converted corpora are cached: parsed once into a `datasets` dataset, then loaded from disk."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def hf_nlp_cache() -> Path:
    """`$HF_HOME/hf_nlp` (HF_HOME defaults to ~/.cache/huggingface)."""
    return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hf_nlp"


def corpus_cache_dir(corpus: str, key: dict) -> Path:
    """A folder under `$HF_HOME/hf_nlp/corpora/<corpus>/` unique to `key` (source + split settings)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return hf_nlp_cache() / "corpora" / corpus / digest
