"""`StringLookup` (Keras semantics) and `CategoricalEmbedding` (lookup + `nn.Embedding`).

    lookup = StringLookup()
    lookup.adapt(["Auckland", "Paris", "Paris", "San Francisco"])
    lookup(["Paris", "Auckland", "Auckland", "Montreal"])    # tensor([1, 3, 3, 0])

Index layout, as in Keras: the `mask_token` (if any) at 0, then `num_oov_indices` OOV buckets,
then the vocabulary sorted by frequency (ties in reverse lexicographic order). With several OOV
buckets an unknown string goes to bucket `crc32(string) % num_oov_indices`: stable across runs
and machines, but not the same bucket as TensorFlow's FarmHash would pick.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from hf_nlp.errors import UserError


class StringLookup:
    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: str | None = None,
        oov_token: str = "[UNK]",
        vocabulary: Iterable[str] | None = None,
        invert: bool = False,
    ):
        """`max_tokens` counts the mask and OOV indices; `invert=True` maps indices back to strings."""
        if num_oov_indices < 0:
            raise UserError("num_oov_indices must be 0 or more.")
        self.max_tokens = max_tokens
        self.num_oov_indices = num_oov_indices
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.invert = invert
        self._tokens: list[str] | None = None
        self._index: dict[str, int] = {}
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    @property
    def _offset(self) -> int:
        return (self.mask_token is not None) + self.num_oov_indices

    def adapt(self, values: Iterable[str]) -> StringLookup:
        counts = Counter(values)
        if not counts:
            raise UserError("adapt got no values; pass a non-empty list of strings.")
        if any(not isinstance(v, str) for v in counts):
            raise UserError("StringLookup.adapt expects strings.")
        counts.pop(self.mask_token, None)
        self._install(sorted(counts, key=lambda v: (counts[v], v), reverse=True))
        return self

    def set_vocabulary(self, vocabulary: Iterable[str]) -> None:
        tokens = [t for t in vocabulary if t not in (self.mask_token, self.oov_token)]
        if len(set(tokens)) != len(tokens):
            raise UserError("the vocabulary has repeated entries; give each once.")
        self._install(tokens)

    def _install(self, tokens: list[str]) -> None:
        if self.max_tokens is not None:
            tokens = tokens[: max(self.max_tokens - self._offset, 0)]
        self._tokens = tokens
        self._index = {token: i for i, token in enumerate(tokens, start=self._offset)}

    def get_vocabulary(self) -> list[str]:
        self._check_ready()
        specials = ([self.mask_token] if self.mask_token is not None else []) + [self.oov_token] * self.num_oov_indices
        return specials + list(self._tokens)

    def vocabulary_size(self) -> int:
        return len(self.get_vocabulary())

    def __call__(self, values: Sequence[str] | Sequence[int] | torch.Tensor) -> torch.Tensor | list[str]:
        """Strings -> int64 ids of the same shape (a list or nested lists); with `invert`, ids -> strings."""
        self._check_ready()
        if self.invert:
            vocabulary = self.get_vocabulary()
            ids = values.tolist() if isinstance(values, torch.Tensor) else values
            return _map_nested(ids, lambda i: vocabulary[i] if 0 <= i < len(vocabulary) else self.oov_token)
        return torch.tensor(_map_nested(values, self._lookup), dtype=torch.long)

    def _lookup(self, value: str) -> int:
        if value == self.mask_token:
            return 0
        index = self._index.get(value)
        if index is not None:
            return index
        if self.num_oov_indices == 0:
            raise UserError(f"`{value}` is not in the vocabulary and num_oov_indices is 0; add it or allow OOV indices.")
        bucket = zlib.crc32(value.encode("utf-8")) % self.num_oov_indices if self.num_oov_indices > 1 else 0
        return (self.mask_token is not None) + bucket

    def _check_ready(self) -> None:
        if self._tokens is None:
            raise UserError("the StringLookup has no vocabulary yet; call adapt(values) or pass vocabulary=.")


def _map_nested(values, function):
    if isinstance(values, str | int):
        return function(values)
    return [_map_nested(v, function) for v in values]


class CategoricalEmbedding(nn.Module):
    """Strings (or their ids) -> dense vectors: a `StringLookup` followed by `nn.Embedding`."""

    def __init__(self, lookup: StringLookup, embedding_dim: int):
        super().__init__()
        self.lookup = lookup
        self.embedding = nn.Embedding(lookup.vocabulary_size(), embedding_dim)

    def forward(self, categories: Sequence[str] | torch.Tensor) -> torch.Tensor:
        ids = categories if isinstance(categories, torch.Tensor) else self.lookup(categories)
        return self.embedding(ids.to(self.embedding.weight.device))  # (*ids.shape, D)
