"""RNN text classifier (Géron, Hands-On ML ch. 16: Embedding 128 -> GRU 128 -> Dense), a `PreTrainedModel`.

Masking, done exactly and fast on CPU (docs/performance.md: `pack_padded_sequence` is slow here): batches
are right-padded, so a unidirectional RNN's state after the last real token is its output at
`length - 1`, gathered per sequence; for the backward direction of a bidirectional RNN each
sequence is reversed within its own length first, so padding never reaches either cell's state
that is used. `masking=False` reproduces the reference's failure mode: the final state is read
after the padding (position T - 1 of the padded batch).

Registered with `AutoModelForSequenceClassification`; returns `SequenceClassifierOutput`.
"""

from __future__ import annotations

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from hf_nlp.models.fused_rnn import RNN_BACKENDS, recurrent_layer, reverse_within_length

RNN_CELLS = ("gru", "lstm")


@strict
class RNNClassifierConfig(PreTrainedConfig):
    r"""
    vocab_size (`int`, defaults to 1000): Token vocabulary (padding id 0 included).
    embedding_size (`int`, defaults to 128): Width of the token embeddings.
    hidden_size (`int`, defaults to 128): Units per recurrent layer and direction.
    num_layers (`int`, defaults to 1): Stacked recurrent layers.
    cell_type (`str`, defaults to `"gru"`): `"gru"` or `"lstm"`.
    bidirectional (`bool`, defaults to `False`): Read the text both ways and concatenate the final states.
    dropout (`float`, defaults to 0.0): Dropout on the embeddings, between layers and before the classifier.
    masking (`bool`, defaults to `True`): Keep padding out of the final state (False: the reference's failure mode).
    rnn_backend (`str`, defaults to `"auto"`): `"auto"`, `"fused"` or `"torch"`: which code runs the recurrent
        layers on CPU (`fused_rnn.py`); the weights are the same either way.
    """

    model_type = "hf_nlp_rnn_classifier"
    attribute_map = {"num_hidden_layers": "num_layers"}

    vocab_size: int = 1000
    embedding_size: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    cell_type: str = "gru"
    bidirectional: bool = False
    dropout: float = 0.0
    masking: bool = True
    rnn_backend: str = "auto"
    pad_token_id: int | None = 0

    def __post_init__(self, **kwargs):
        if self.cell_type not in RNN_CELLS:
            raise ValueError(f"cell_type must be one of {sorted(RNN_CELLS)}, got {self.cell_type!r}")
        if self.rnn_backend not in RNN_BACKENDS:
            raise ValueError(f"rnn_backend must be one of {list(RNN_BACKENDS)}, got {self.rnn_backend!r}")
        super().__post_init__(**kwargs)


class RNNForSequenceClassification(PreTrainedModel):
    config_class = RNNClassifierConfig
    config: RNNClassifierConfig
    base_model_prefix = "rnn_classifier"
    main_input_name = "input_ids"

    def __init__(self, config: RNNClassifierConfig):
        super().__init__(config)
        between_layers = config.dropout if config.num_layers > 1 else 0.0

        def cell(*args, **kwargs):
            return recurrent_layer(config.cell_type, *args, backend=config.rnn_backend, **kwargs)

        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.forward_rnn = cell(config.embedding_size, config.hidden_size, config.num_layers,
                                batch_first=True, dropout=between_layers)
        # The backward direction is a second unidirectional RNN run on each text reversed within
        # its length (not nn.GRU(bidirectional=True), whose backward pass starts in the padding).
        self.backward_rnn = (cell(config.embedding_size, config.hidden_size, config.num_layers,
                                  batch_first=True, dropout=between_layers) if config.bidirectional else None)
        self.dropout = nn.Dropout(config.dropout)
        directions = 2 if config.bidirectional else 1
        self.classifier = nn.Linear(directions * config.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        return  # keep PyTorch's own (Keras-like) initialisation

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embedding = value

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        r"""
        input_ids: `(B, T)` right-padded token ids.
        attention_mask: `(B, T)`, 1 on real tokens; derived from `pad_token_id` when omitted.
        labels: `(B,)` class ids.
        """
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        lengths = attention_mask.sum(dim=1).clamp(min=1)  # (B,)
        embeddings = self.dropout(self.embedding(input_ids))  # (B, T, E)
        batch_size, time = input_ids.shape
        if self.config.masking:
            last = lengths - 1  # (B,) index of the last real token
        else:
            last = torch.full_like(lengths, time - 1)  # read after the padding (the reference's mistake)
        states = [self._final_state(self.forward_rnn, embeddings, lengths, last)]  # (B, H)
        if self.backward_rnn is not None:
            reversed_embeddings = reverse_within_length(embeddings, lengths if self.config.masking else None)
            states.append(self._final_state(self.backward_rnn, reversed_embeddings, lengths, last))
        pooled = self.dropout(torch.cat(states, dim=-1))  # (B, directions * H)
        logits = self.classifier(pooled)  # (B, num_labels)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def _final_state(self, rnn: nn.Module, embeddings: torch.Tensor, lengths: torch.Tensor,
                     last: torch.Tensor) -> torch.Tensor:
        """`(B, H)`: the last layer's state after each text's last real token (`last`)."""
        if self.config.masking and rnn.uses_fused(embeddings):
            # The fused kernel freezes each row's state at its length and skips the padding's steps.
            _, state = rnn(embeddings, lengths=lengths)
            return (state[0] if isinstance(state, tuple) else state)[-1]
        # PyTorch's layer runs every position; the state wanted is the output at `last`
        # (`pack_padded_sequence` would give the same, more slowly on CPU).
        return _state_at(rnn(embeddings)[0], last)


def _state_at(outputs: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """outputs `(B, T, H)`, positions `(B,)` -> `(B, H)`: each sequence's output at its position."""
    index = positions.view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])  # (B, 1, H)
    return outputs.gather(1, index).squeeze(1)


__all__ = ["RNNClassifierConfig", "RNNForSequenceClassification"]
