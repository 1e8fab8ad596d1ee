"""One word-level tokenizer for a language pair, laid out for `RNNForSeq2SeqLM`.

The reference builds two Keras TextVectorization layers of 1,000 tokens (English and Spanish,
lowercased, ASCII punctuation stripped) and writes `startofseq` / `endofseq` into the Spanish
sentences. Here the same two vocabularies are merged into one `PreTrainedTokenizerFast`, so
`AutoTokenizer`, `generate()` and `save_pretrained` deal with one tokenizer, as for any seq2seq
transformer:

    ids 0-3          [PAD] [UNK] [BOS] [EOS]
    ids 4..T-1       the target language's most frequent words  (T = target_vocab_size)
    ids T..V-1       the source language's most frequent words not already above

so the decoder embeds and predicts only ids below T, while the encoder reads them all. Every
encoding ends with [EOS]; the decoder starts from [BOS] (the model's `decoder_start_token_id`).

`build_bpe_translation_tokenizer` is the subword option: one BPE vocabulary over both languages
(the text toolkit's `train_tokenizer`), with the same specials and [EOS] ending.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerFast

from hf_nlp.errors import UserError
from hf_nlp.text.bpe import train_tokenizer
from hf_nlp.text.vectorize import TextVectorization

BOS_TOKEN = "[BOS]"
EOS_TOKEN = "[EOS]"
SPECIAL_TOKENS = 4  # [PAD] [UNK] [BOS] [EOS]


def build_translation_tokenizer(
    source_texts: Iterable[str],
    target_texts: Iterable[str],
    source_vocab_size: int = 1000,
    target_vocab_size: int = 1000,
    standardize: str = "lower_and_strip_punctuation",
) -> tuple[PreTrainedTokenizerFast, int]:
    """The tokenizer and its target vocabulary size T. Each side keeps its `*_vocab_size - 4` most frequent words (the reference: 1,000 tokens
    per language, its padding and [UNK] included); see the module docstring for the id layout."""
    if min(source_vocab_size, target_vocab_size) <= SPECIAL_TOKENS:
        raise UserError(f"vocabulary sizes must exceed the {SPECIAL_TOKENS} special tokens; raise `--data.*_vocab_size`.")
    words = SPECIAL_TOKENS - 2  # TextVectorization's own two specials ('' and [UNK]) are counted by max_tokens
    target = TextVectorization(max_tokens=target_vocab_size - words, standardize=standardize).adapt(target_texts)
    source = TextVectorization(max_tokens=source_vocab_size - words, standardize=standardize).adapt(source_texts)
    target_words = target.get_vocabulary()[2:]
    known = set(target_words)
    source_only = [word for word in source.get_vocabulary()[2:] if word not in known]
    joint = TextVectorization(standardize=standardize, vocabulary=[BOS_TOKEN, EOS_TOKEN, *target_words, *source_only])
    tokenizer = joint.to_tokenizer()
    tokenizer.add_special_tokens({"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN})
    return _ending_with_eos(tokenizer), SPECIAL_TOKENS + len(target_words)


def build_bpe_translation_tokenizer(
    source_texts: Iterable[str], target_texts: Iterable[str], vocab_size: int = 8000
) -> tuple[PreTrainedTokenizerFast, int]:
    """One BPE vocabulary learnt on both languages (as Marian/Opus-MT share one), from the text
    toolkit: cased, punctuation kept, no [UNK] for words never seen. The decoder predicts all of it."""
    texts = itertools.chain(source_texts, target_texts)  # streamed: never a list of the corpus
    tokenizer = train_tokenizer(texts, kind="bpe", vocab_size=vocab_size)
    ids = tokenizer.convert_tokens_to_ids(["[PAD]", "[UNK]", BOS_TOKEN, EOS_TOKEN])
    if ids != list(range(SPECIAL_TOKENS)):
        raise RuntimeError(f"the toolkit's BPE specials moved: {ids}")  # the model's defaults rely on 0-3
    return _ending_with_eos(tokenizer), len(tokenizer)


def _ending_with_eos(tokenizer: PreTrainedTokenizerFast) -> PreTrainedTokenizerFast:
    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"$A {EOS_TOKEN}", pair=f"$A {EOS_TOKEN} $B {EOS_TOKEN}", special_tokens=[(EOS_TOKEN, eos_id)])
    return tokenizer

