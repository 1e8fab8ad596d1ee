"""A character-level `PreTrainedTokenizerFast` (the reference's `Tokenizer(char_level=True)`).

Every character is one token; the vocabulary is `[PAD]`, `[UNK]` and the corpus characters in
sorted order. Input is lowercased by the tokenizer itself (as the reference's tokenizer does),
so a prompt such as "To be" works on a model trained on lowercased text.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN)
"""Ids 0 and 1; the corpus characters follow, in sorted order."""


def build_char_tokenizer(texts: Iterable[str], lowercase: bool = True) -> PreTrainedTokenizerFast:
    """Build a char tokenizer whose vocabulary is every character seen in `texts`."""
    chars: set[str] = set()
    for text in texts:
        chars.update(text.lower() if lowercase else text)
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    vocab.update({char: index for index, char in enumerate(sorted(chars), start=len(SPECIAL_TOKENS))})

    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    if lowercase:
        tokenizer.normalizer = normalizers.Lowercase()
    # Oniguruma's (?m) is "dot matches newline": every character, "\n" included, is its own token.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("(?m)."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()  # join characters back without spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        clean_up_tokenization_spaces=False,
        model_input_names=["input_ids"],
    )


def num_characters(tokenizer: PreTrainedTokenizerFast) -> int:
    """Distinct corpus characters: the vocabulary without the special tokens."""
    return len(tokenizer) - len(tokenizer.all_special_tokens)
