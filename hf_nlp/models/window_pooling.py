"""Text-level classification from windows: a classifier reads every window of a long text, and the
text's logits are the mean of its windows' logits, in training as at test time.

Training each window on its text's label (`--data.long_texts windows`) tells a window of plot
summary that it is positive or negative; pooling first and putting the loss on the text lets the
model stay unsure on such windows (logits near equal add nothing to the mean) and lean on the ones
that carry the verdict. Mean logits, not mean probabilities: with probabilities an unsure window
holds the text's probability near 1/C whatever the others say, and training stalls.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from transformers.modeling_outputs import SequenceClassifierOutput


def pool_window_logits(logits: torch.Tensor, documents: torch.Tensor,
                       pooling: Literal["probabilities", "logits"] = "probabilities") -> torch.Tensor:
    """Per-document logits from per-window logits.

    `logits` `(N, C)` for N windows; `documents` `(N,)` the document index of each window, 0..D-1.
    `pooling="probabilities"`: the log of the mean window probabilities; `"logits"`: the mean window
    logits, so every window adds its evidence and an unsure window (logits ~equal) pulls nothing
    (what `--data.long_texts pooled_windows` trains on: mean probabilities saturate and stall it).
    Returns `(D, C)`, which `classification_example_stats` scores like any logits; differentiable,
    so it also serves as a training output (`hf_nlp.models.window_pooling`)."""
    num_documents = int(documents.max()) + 1 if len(documents) else 0
    values = logits.float().softmax(-1) if pooling == "probabilities" else logits.float()  # (N, C)
    sums = values.new_zeros(num_documents, logits.shape[-1]).index_add(0, documents, values)  # (D, C)
    counts = torch.bincount(documents, minlength=num_documents).clamp(min=1).unsqueeze(-1)  # (D, 1)
    means = sums / counts
    return means.clamp(min=1e-12).log() if pooling == "probabilities" else means


def pooled_window_forward(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> SequenceClassifierOutput:
    """`batch` from `hf_nlp.data.text_windows.WindowGroupCollator`: window inputs `(W, L)`,
    `text_index` `(W,)`, `labels` `(B,)`. Returns per-text logits `(B, C)` (the mean window logits)
    and, with labels, the cross-entropy per text."""
    inputs = {name: value for name, value in batch.items() if name not in ("text_index", "labels")}
    window_logits = model(**inputs).logits  # (W, C)
    logits = pool_window_logits(window_logits, batch["text_index"], pooling="logits")  # (B, C)
    labels = batch.get("labels")
    loss = F.cross_entropy(logits, labels) if labels is not None else None
    return SequenceClassifierOutput(loss=loss, logits=logits)
