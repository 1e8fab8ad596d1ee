"""A small head on frozen sentence embeddings (the reference's "pretrained module + Dense" model).

Dense(hidden, ReLU) -> Dense(num_labels) on a precomputed `(B, D)` sentence embedding; a
`PreTrainedModel` registered with `AutoModelForSequenceClassification`, so it saves, loads and
reports like the other classifiers. The encoder itself stays outside (embeddings are cached once).
"""

from __future__ import annotations

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


def dense_head(input_size: int, hidden_size: int, num_labels: int, dropout: float) -> nn.Sequential:
    """Dense(hidden, ReLU) -> Dense(num_labels), the reference's head. Shared with
    `PooledEncoderClassifier`, so a head trained on frozen embeddings moves over unchanged."""
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(input_size, hidden_size),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_size, num_labels),
    )


@strict
class EmbeddingClassifierConfig(PreTrainedConfig):
    r"""
    embedding_dim (`int`, defaults to 512): Width of the input sentence embeddings.
    hidden_size (`int`, defaults to 64): Units of the hidden ReLU layer (the reference uses 64).
    dropout (`float`, defaults to 0.0): Dropout before each dense layer.
    encoder (`str`, defaults to `"use"`): Which sentence encoder produced the inputs (for the record).
    """

    model_type = "hf_nlp_embedding_classifier"

    embedding_dim: int = 512
    hidden_size: int = 64
    dropout: float = 0.0
    encoder: str = "use"


class EmbeddingClassifier(PreTrainedModel):
    config_class = EmbeddingClassifierConfig
    config: EmbeddingClassifierConfig
    base_model_prefix = "embedding_classifier"
    main_input_name = "sentence_embeddings"

    def __init__(self, config: EmbeddingClassifierConfig):
        super().__init__(config)
        self.head = dense_head(config.embedding_dim, config.hidden_size, config.num_labels, config.dropout)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        return  # PyTorch's own initialisation

    def forward(self, sentence_embeddings: torch.Tensor, labels: torch.LongTensor | None = None, **kwargs):
        logits = self.head(sentence_embeddings.float())  # (B, num_labels)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


__all__ = ["EmbeddingClassifierConfig", "EmbeddingClassifier", "dense_head"]
