"""Translate many sentences with any seq2seq `PreTrainedModel` through `generate()`, in batches.

Sentences are sorted by length so each batch pads little, decoded greedily or by beam search
(transformers batches sentences × beams into one tensor), and returned in the input order.
`translate_in_batches` is that batching for any backend (CTranslate2 in `ctranslate2_backend`).
`UnkPenaltyLogitsProcessor` is the reference's idea of discouraging [UNK] in the output.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from transformers import LogitsProcessor, LogitsProcessorList


class UnkPenaltyLogitsProcessor(LogitsProcessor):
    """Subtract `penalty` from the [UNK] token's score at every step (`inf` forbids it)."""

    def __init__(self, unk_token_id: int, penalty: float):
        self.unk_token_id = unk_token_id
        self.penalty = penalty

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        scores[:, self.unk_token_id] -= self.penalty  # scores: (B * beams, V)
        return scores


@dataclass
class Translations:
    texts: list[str]
    seconds: float
    tokens: int = 0
    """Target tokens generated (end-of-sentence and padding not counted; [UNK] counted)."""

    @property
    def sentences_per_second(self) -> float:
        return len(self.texts) / max(self.seconds, 1e-9)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)


DecodeBatch = Callable[[list[str]], list[list[int]]]
"""Sentences -> generated token ids, `num_return_sequences` rows per sentence, consecutive."""


def translate_in_batches(
    tokenizer,
    texts: Sequence[str],
    decode_batch: DecodeBatch,
    batch_size: int = 64,
    num_return_sequences: int = 1,
    description: str = "translate",
    progress: bool = True,
) -> Translations:
    """Run `decode_batch` (any backend) over `texts` sorted by length, so each batch pads little;
    decode its ids to text and return the translations in the input order, with wall time."""
    # Padding, [BOS] and [EOS] are dropped from the output; [UNK] stays visible (and scores as a wrong word).
    hidden = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    lengths = [len(ids) for ids in tokenizer(list(texts))["input_ids"]]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    outputs: list[list[str]] = [[] for _ in texts]
    tokens = 0
    started = time.perf_counter()
    batches = range(0, len(order), batch_size)
    for start in tqdm(batches, desc=description, disable=not progress, leave=False):
        chosen = order[start:start + batch_size]
        kept = [[t for t in row if t not in hidden] for row in decode_batch([texts[i] for i in chosen])]
        tokens += sum(len(row) for row in kept)
        decoded = tokenizer.batch_decode(kept)
        for position, index in enumerate(chosen):
            outputs[index] = decoded[position * num_return_sequences:(position + 1) * num_return_sequences]
    seconds = time.perf_counter() - started
    return Translations([text.strip() for group in outputs for text in group], seconds, tokens)


@torch.no_grad()
def translate_texts(
    model,
    tokenizer,
    texts: Sequence[str],
    batch_size: int = 64,
    num_beams: int = 1,
    max_new_tokens: int = 60,
    length_penalty: float = 1.0,
    unk_penalty: float = 0.0,
    num_return_sequences: int = 1,
    progress: bool = True,
) -> Translations:
    """Translations of `texts` by `model.generate()` (`num_return_sequences` per text, consecutive)."""
    model.eval()
    processors = LogitsProcessorList()
    if unk_penalty and tokenizer.unk_token_id is not None:
        processors.append(UnkPenaltyLogitsProcessor(tokenizer.unk_token_id, unk_penalty))
    search = {"do_sample": False, "num_beams": num_beams, "max_new_tokens": max_new_tokens,
              "num_return_sequences": num_return_sequences}
    if num_beams > 1:
        search["length_penalty"] = length_penalty

    def generate(batch: list[str]) -> list[list[int]]:
        inputs = tokenizer(batch, padding=True, return_tensors="pt").to(model.device)
        return model.generate(**inputs, **search, logits_processor=processors).tolist()  # (B * returns, T)

    return translate_in_batches(tokenizer, texts, generate, batch_size, num_return_sequences,
                                f"translate (beams {num_beams})", progress)
