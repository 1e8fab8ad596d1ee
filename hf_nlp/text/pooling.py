"""Pooling many vectors into one: tokens into a sentence embedding, windows into a text's logits.

Pure tensor functions shared by the models (`PooledEncoderClassifier` mean-pools its encoder's
tokens), the frozen sentence embeddings (pooled exactly as that model pools) and long-text
classification (`hf_nlp.text.long_texts`).
"""

from __future__ import annotations

from typing import Literal

import torch


def mean_pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens: `(B, T, H)`, `(B, T)` -> `(B, H)`; padding never counts."""
    weights = attention_mask.unsqueeze(-1).to(hidden_states.dtype)  # (B, T, 1)
    return (hidden_states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def pool_window_logits(logits: torch.Tensor, documents: torch.Tensor,
                       pooling: Literal["probabilities", "logits"] = "probabilities") -> torch.Tensor:
    """Per-document logits from per-window logits.

    `logits` `(N, C)` for N windows; `documents` `(N,)` the document index of each window, 0..D-1.
    `pooling="probabilities"`: the log of the mean window probabilities; `"logits"`: the mean window
    logits, so every window adds its evidence and an unsure window (logits ~equal) pulls nothing
    (what `--data.long_texts pooled_windows` trains on: mean probabilities saturate and stall it).
    Returns `(D, C)`, which `classification_example_stats` scores like any logits; differentiable,
    so it also serves as a training output (`hf_nlp.text.long_texts`)."""
    num_documents = int(documents.max()) + 1 if len(documents) else 0
    values = logits.float().softmax(-1) if pooling == "probabilities" else logits.float()  # (N, C)
    sums = values.new_zeros(num_documents, logits.shape[-1]).index_add(0, documents, values)  # (D, C)
    counts = torch.bincount(documents, minlength=num_documents).clamp(min=1).unsqueeze(-1)  # (D, 1)
    means = sums / counts
    return means.clamp(min=1e-12).log() if pooling == "probabilities" else means


__all__ = ["mean_pool", "pool_window_logits"]
