"""Subword tokenizers (BPE, WordPiece, Unigram) trained with `tokenizers`, returned as
`PreTrainedTokenizerFast` with the special tokens our models need.

    tokenizer = train_tokenizer(texts, kind="bpe", vocab_size=8000, dropout=0.1)
    with subword_dropout(tokenizer):          # training: BPE-dropout samples segmentations
        ids = tokenizer(batch)["input_ids"]
    tokenizer(batch)                          # evaluation: deterministic, dropout off

BPE and Unigram split on a Metaspace ("▁" marks word starts, so decoding restores spaces);
WordPiece splits on whitespace and punctuation ("##" marks continuations). Input is NFKC
normalized. BPE-dropout (Provilkov et al., 2020) is the subword-regularization option: the
trained rate is stored in the tokenizer's config and switched on only inside `subword_dropout`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Literal

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from hf_nlp.errors import UserError

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "bos_token": "[BOS]", "eos_token": "[EOS]"}
KINDS = ("bpe", "wordpiece", "unigram")
TokenizerKind = Literal["bpe", "wordpiece", "unigram"]


def train_tokenizer(
    texts: Iterable[str],
    kind: TokenizerKind = "bpe",
    vocab_size: int = 8000,
    dropout: float | None = None,
    min_frequency: int = 2,
    lowercase: bool = False,
) -> PreTrainedTokenizerFast:
    """Train a subword tokenizer on `texts` (any iterable of strings, streamed in batches)."""
    if kind not in KINDS:
        raise UserError(f"unknown tokenizer kind `{kind}`; use one of {', '.join(KINDS)}.")
    if dropout is not None and kind != "bpe":
        raise UserError("subword dropout is a BPE option; use --kind bpe or drop --dropout.")
    if dropout is not None and not 0 < dropout < 1:
        raise UserError("dropout must be between 0 and 1 (exclusive), e.g. 0.1.")
    specials = list(SPECIAL_TOKENS.values())
    if vocab_size <= len(specials) + 10:
        raise UserError(f"vocab_size {vocab_size} is too small; use at least {len(specials) + 11}.")

    unk = SPECIAL_TOKENS["unk_token"]
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    if kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=unk))
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                            special_tokens=specials, show_progress=False)
    else:
        tokenizer = Tokenizer(models.BPE(unk_token=unk) if kind == "bpe" else models.Unigram())
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        if kind == "bpe":
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                          special_tokens=specials, show_progress=False)
        else:
            trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token=unk,
                                              show_progress=False)
    tokenizer.normalizer = normalizers.Sequence(steps)

    batches = _CheckedBatches(texts)
    tokenizer.train_from_iterator(batches, trainer=trainer)
    if batches.count == 0:
        raise UserError("no training text; pass a non-empty list of strings or a file with text.")
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        **SPECIAL_TOKENS,
        clean_up_tokenization_spaces=False,
        subword_dropout=dropout,  # saved in tokenizer_config.json; enabled by `subword_dropout()`
        subword_kind=kind,
    )


@contextlib.contextmanager
def subword_dropout(tokenizer: PreTrainedTokenizerFast, rate: float | None = None) -> Iterator[None]:
    """Enable BPE-dropout inside the block (training), restoring deterministic encoding after."""
    rate = rate if rate is not None else tokenizer.init_kwargs.get("subword_dropout")
    model = tokenizer.backend_tokenizer.model
    if not isinstance(model, models.BPE):
        raise UserError("subword dropout needs a BPE tokenizer; train one with kind='bpe'.")
    if not rate:
        raise UserError("this tokenizer was trained without dropout; pass a rate, e.g. subword_dropout(tok, 0.1).")
    previous = model.dropout
    model.dropout = rate
    try:
        yield
    finally:
        model.dropout = previous


def segmentation_stats(tokenizer: PreTrainedTokenizerFast, texts: Iterable[str]) -> dict[str, float]:
    """Tokens per whitespace word and the share of words that contain an unknown token."""
    unk = tokenizer.unk_token_id
    words = tokens = oov_words = 0
    for batch in _CheckedBatches(texts):
        batch_words = [word for text in batch for word in text.split()]
        if not batch_words:
            continue
        # One batched (Rust) call per 1,000 texts rather than one call per word.
        for ids in tokenizer(batch_words, add_special_tokens=False)["input_ids"]:
            words += 1
            tokens += len(ids)
            oov_words += unk in ids
    return {"words": words, "tokens_per_word": tokens / max(words, 1), "oov_rate": oov_words / max(words, 1)}


class _CheckedBatches:
    """Batches of 1,000 strings from any iterable, counting them and rejecting non-strings."""

    def __init__(self, texts: Iterable[str]):
        if isinstance(texts, str):
            raise UserError("pass a collection of texts, not one string; wrap it in a list.")
        self.texts = texts
        self.count = 0

    def __iter__(self) -> Iterator[list[str]]:
        batch: list[str] = []
        for text in self.texts:
            if not isinstance(text, str):
                raise UserError(f"texts must be strings; got a {type(text).__name__}.")
            batch.append(text)
            self.count += 1
            if len(batch) == 1000:
                yield batch
                batch = []
        if batch:
            yield batch
