"""A pretrained transformer encoder, mean-pooled, under the reference's Dense(64, ReLU) head.

The "pretrained module + small head" model of Géron ch. 16 with all-MiniLM-L6-v2 as the module
(sentence-transformers' recipe: mean of the last hidden states over real tokens). Trained in two
stages: first only the head, on embeddings computed once by `embed` (the encoder frozen), then
everything with a lower learning rate. The head is `dense_head`, the same module as
`EmbeddingClassifier`'s, so stage one's weights load into stage two unchanged.

The encoder is any `AutoModel` (its config is kept as a sub-config), so `save_pretrained` /
`from_pretrained` / `pipeline("text-classification")` work with the encoder's own tokenizer.
"""

from __future__ import annotations

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec
from transformers.modeling_outputs import SequenceClassifierOutput

from hf_nlp.models.embedding_classifier import dense_head
from hf_nlp.text.pooling import mean_pool


def _encoder_without_pooler(config: PreTrainedConfig) -> PreTrainedModel:
    """The encoder without its [CLS] pooler where it has one: we mean-pool, and parameters that
    get no gradient would break DistributedDataParallel."""
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:  # encoders without a pooler take no such argument
        return AutoModel.from_config(config)


@strict
class PooledEncoderClassifierConfig(PreTrainedConfig):
    r"""
    encoder (`PreTrainedConfig` or `dict`): Config of the pretrained encoder (any `AutoModel`).
    hidden_size (`int`, defaults to 64): Units of the head's ReLU layer (the reference uses 64).
    dropout (`float`, defaults to 0.0): Dropout before each dense layer of the head.
    """

    model_type = "hf_nlp_pooled_encoder_classifier"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PreTrainedConfig | dict | None = None
    hidden_size: int = 64
    dropout: float = 0.0


class PooledEncoderClassifier(PreTrainedModel):
    config_class = PooledEncoderClassifierConfig
    config: PooledEncoderClassifierConfig
    base_model_prefix = "pooled_encoder_classifier"
    supports_gradient_checkpointing = True  # the encoder's layers are checkpointed, the head is not

    def __init__(self, config: PooledEncoderClassifierConfig):
        super().__init__(config)
        self.encoder = _encoder_without_pooler(config.encoder)
        self.head = dense_head(config.encoder.hidden_size, config.hidden_size, config.num_labels, config.dropout)
        self.post_init()

    @classmethod
    def from_encoder(cls, encoder_path: str, **config_kwargs) -> PooledEncoderClassifier:
        """A classifier around the pretrained weights at `encoder_path` (a dir or Hub id); the head
        starts at PyTorch's initialisation."""
        encoder_config = AutoConfig.from_pretrained(encoder_path)
        model = cls(PooledEncoderClassifierConfig(encoder=encoder_config, **config_kwargs))
        pretrained = AutoModel.from_pretrained(encoder_path)
        missing, unexpected = model.encoder.load_state_dict(pretrained.state_dict(), strict=False)
        if missing:
            raise ValueError(f"the encoder at {encoder_path} lacks weights: {missing[:3]}")
        return model

    def _init_weights(self, module: nn.Module) -> None:
        return  # pretrained encoder weights are loaded after; the head keeps PyTorch's initialisation

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **encoder_kwargs) -> torch.Tensor:
        """Mean-pooled sentence embeddings `(B, H)`."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **encoder_kwargs).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.LongTensor | None = None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        logits = self.head(self.embed(input_ids, attention_mask, **extra).float())  # (B, num_labels)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


__all__ = ["PooledEncoderClassifierConfig", "PooledEncoderClassifier"]
