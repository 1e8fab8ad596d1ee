"""Translate many sentences with any seq2seq `PreTrainedModel` through `generate()`, in batches.

Sentences are sorted by length so each batch pads little, decoded greedily or by beam search
(transformers batches sentences × beams into one tensor), and returned in the input order.
`UnkPenaltyLogitsProcessor` is the reference's idea of discouraging [UNK] in the output.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
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

    @property
    def sentences_per_second(self) -> float:
        return len(self.texts) / max(self.seconds, 1e-9)


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
    """Translations of `texts` (`num_return_sequences` per text, consecutive), with wall time."""
    model.eval()
    processors = LogitsProcessorList()
    if unk_penalty and tokenizer.unk_token_id is not None:
        processors.append(UnkPenaltyLogitsProcessor(tokenizer.unk_token_id, unk_penalty))
    search = {"do_sample": False, "num_beams": num_beams, "max_new_tokens": max_new_tokens,
              "num_return_sequences": num_return_sequences}
    if num_beams > 1:
        search["length_penalty"] = length_penalty
    # Padding, [BOS] and [EOS] are dropped from the output; [UNK] stays visible (and scores as a wrong word).
    hidden = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    lengths = [len(ids) for ids in tokenizer(list(texts))["input_ids"]]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    outputs: list[list[str]] = [[] for _ in texts]
    started = time.perf_counter()
    batches = range(0, len(order), batch_size)
    for start in tqdm(batches, desc=f"translate (beams {num_beams})", disable=not progress, leave=False):
        chosen = order[start:start + batch_size]
        inputs = tokenizer([texts[i] for i in chosen], padding=True, return_tensors="pt").to(model.device)
        generated = model.generate(**inputs, **search, logits_processor=processors)  # (len(chosen) * returns, T)
        decoded = tokenizer.batch_decode([[t for t in row if t not in hidden] for row in generated.tolist()])
        for position, index in enumerate(chosen):
            outputs[index] = decoded[position * num_return_sequences:(position + 1) * num_return_sequences]
    seconds = time.perf_counter() - started
    return Translations([text.strip() for group in outputs for text in group], seconds)
