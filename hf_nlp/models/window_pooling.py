"""Text-level classification from windows: a classifier reads every window of a long text, and the
text's logits are the mean of its windows' logits, in training as at test time.

Training each window on its text's label (`--data.long_texts windows`) tells a window of plot
summary that it is positive or negative; pooling first and putting the loss on the text lets the
model stay unsure on such windows (logits near equal add nothing to the mean) and lean on the ones
that carry the verdict. Mean logits, not mean probabilities: with probabilities an unsure window
holds the text's probability near 1/C whatever the others say, and training stalls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.modeling_outputs import SequenceClassifierOutput

from hf_nlp.evaluation.metrics import pool_window_logits


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
