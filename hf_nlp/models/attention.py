"""Attention of a decoder over encoder outputs: Bahdanau's additive score, Luong's dot and general.

Luong et al. (2015) "global attention": at each target step t the decoder's output h_t scores
every source position s, the softmax over the source (padding masked out) weights the encoder
outputs into a context c_t, and the attentional state tanh(W_c [c_t; h_t]) feeds the output
layer. The scores:

- `bahdanau` (additive, Bahdanau et al. 2014): v · tanh(W_q h_t + W_k k_s);
- `luong` with `dot`: h_t · k_s (needs equal widths);
- `luong` with `general`: h_t · W k_s.

Attention reads the decoder's *outputs* (as the reference's Keras `AdditiveAttention` /
`Attention` layers do) rather than feeding the context back into the LSTM's input: the decoder
LSTM then runs over the whole target in one call while training, instead of a Python step loop.
"""

from __future__ import annotations

import torch
from torch import nn

ATTENTION_TYPES = ("none", "bahdanau", "luong")
LUONG_SCORES = ("dot", "general")


class SourceAttention(nn.Module):
    """Scores, masked softmax, context and the attentional state for all target steps at once."""

    def __init__(self, kind: str, query_size: int, key_size: int, attention_size: int, luong_score: str = "general"):
        super().__init__()
        if kind not in ("bahdanau", "luong"):
            raise ValueError(f"attention must be bahdanau or luong, got {kind!r}")
        if kind == "luong" and luong_score == "dot" and query_size != key_size:
            raise ValueError(f"Luong dot scores need encoder outputs of the decoder's width ({key_size} vs "
                             f"{query_size}); use luong_score='general' or concatenated bidirectional states")
        self.kind = kind
        self.luong_score = luong_score
        if kind == "bahdanau":
            self.query_projection = nn.Linear(query_size, attention_size, bias=False)
            self.key_projection = nn.Linear(key_size, attention_size)
            self.energy = nn.Linear(attention_size, 1, bias=False)
        elif luong_score == "general":
            self.key_projection = nn.Linear(key_size, query_size, bias=False)
        self.combine = nn.Linear(key_size + query_size, query_size, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """What the scores need from the encoder outputs `(B, S, K)`: W_k k_s `(B, S, A)` for Bahdanau,
        W k_s `(B, S, Q)` for Luong general, k_s itself for dot. It depends on the source only, so a
        decoder generating step by step computes it once (see `RNNForSeq2SeqLM.forward`)."""
        if self.kind == "bahdanau" or self.luong_score == "general":
            return self.key_projection(keys)
        return keys

    def scores(self, queries: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        """queries `(B, T, Q)`, projected keys `(B, S, A | Q)` -> unnormalised scores `(B, T, S)`."""
        if self.kind == "bahdanau":
            projected = self.query_projection(queries).unsqueeze(2) + projected_keys.unsqueeze(1)  # (B, T, S, A)
            return self.energy(torch.tanh(projected)).squeeze(-1)  # (B, T, S)
        return queries @ projected_keys.transpose(1, 2)  # (B, T, S)

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, source_mask: torch.Tensor,
        projected_keys: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """queries `(B, T, Q)` decoder outputs, keys `(B, S, K)` encoder outputs, source_mask `(B, S)`
        1 on real tokens, `projected_keys` from `project_keys(keys)` when already computed ->
        attentional states `(B, T, Q)` and weights `(B, T, S)` (rows sum to 1)."""
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        scores = self.scores(queries, projected_keys)  # (B, T, S)
        scores = scores.masked_fill(~source_mask.bool().unsqueeze(1), torch.finfo(scores.dtype).min)
        weights = scores.softmax(dim=-1)  # (B, T, S)
        context = weights @ keys  # (B, T, K)
        attentional = torch.tanh(self.combine(torch.cat([context, queries], dim=-1)))  # (B, T, Q)
        return attentional, weights
