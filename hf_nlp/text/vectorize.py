"""`TextVectorization` with Keras semantics, built on `tokenizers` (Rust) and returning torch tensors.

    vectorizer = TextVectorization(output_sequence_length=4)
    vectorizer.adapt(["To be", "!(to be)", "That's the question", "Be, be, be."])
    vectorizer.get_vocabulary()     # ['', '[UNK]', 'be', 'to', 'the', 'thats', 'question']
    vectorizer(["Be good!", "Question: be or be?"])   # tensor([[2, 1, 0, 0], [6, 2, 1, 2]])

What matches Keras: index 0 is the padding token `''` (int mode only) and the next index is
`'[UNK]'`; the vocabulary is sorted by frequency, ties in reverse lexicographic order, and
truncated to `max_tokens` (specials included); `multi_hot`, `count` and `tf_idf` outputs have one
column per vocabulary entry (no padding column), with tf-idf weight = count × idf,
idf = log(1 + documents / (1 + document frequency)), and `[UNK]` weighted by the mean idf.

Speed: with the built-in `standardize` and `split` options (no `ngrams`), texts are turned into
ids by `tokenizers`' Rust code (a word-level model, batched). `adapt` reads the texts once and counts
in Python's C-coded `str.split` and `Counter` the very tokens that Rust tokenizer makes (see
`_rust_words`): counting through the tokenizer itself needs the vocabulary first, hence a second
read of the corpus. Callables and `ngrams` take a pure-Python path for both steps.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets.arrow_dataset import Column, Dataset
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from hf_nlp.data.columns import read_columns
from hf_nlp.errors import UserError

PAD_TOKEN = ""
HF_PAD_TOKEN = "[PAD]"  # id 0's name in a transformers tokenizer (Keras calls it '')
UNK_TOKEN = "[UNK]"
OUTPUT_MODES = ("int", "multi_hot", "count", "tf_idf")
STANDARDIZE_OPTIONS = ("lower_and_strip_punctuation", "lower", None)
SPLIT_OPTIONS = ("whitespace", "character", None)
# Keras' DEFAULT_STRIP_REGEX: ASCII punctuation, apostrophe included.
STRIP_PUNCTUATION = r"""[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~']"""
CONFIG_FILE = "text_vectorization.json"
TOKENIZER_FILE = "tokenizer.json"
ADAPT_BATCH = 2048  # texts per Rust call while adapting

Standardize = str | Callable[[str], str] | None
Split = str | Callable[[str], list[str]] | None


class TextVectorization:
    """Map raw strings to token ids (`int`) or to bag-of-words vectors (`multi_hot`, `count`, `tf_idf`)."""

    def __init__(
        self,
        max_tokens: int | None = None,
        standardize: Standardize = "lower_and_strip_punctuation",
        split: Split = "whitespace",
        ngrams: int | None = None,
        output_mode: str = "int",
        output_sequence_length: int | None = None,
        pad_to_max_tokens: bool = False,
        vocabulary: Iterable[str] | str | Path | None = None,
        idf_weights: Iterable[float] | None = None,
    ):
        """`max_tokens` counts the special tokens; `vocabulary` presets the tokens (a list, or a file
        with one token per line) instead of `adapt`; `idf_weights` goes with it in `tf_idf` mode."""
        if output_mode not in OUTPUT_MODES:
            raise UserError(f"output_mode must be one of {', '.join(OUTPUT_MODES)}; got {output_mode!r}.")
        if not callable(standardize) and standardize not in STANDARDIZE_OPTIONS:
            raise UserError(f"standardize must be one of {STANDARDIZE_OPTIONS} or a callable; got {standardize!r}.")
        if not callable(split) and split not in SPLIT_OPTIONS:
            raise UserError(f"split must be one of {SPLIT_OPTIONS} or a callable; got {split!r}.")
        if max_tokens is not None and max_tokens < 3:
            raise UserError("max_tokens must be at least 3 (it counts the padding and [UNK] tokens).")
        if output_sequence_length is not None and output_mode != "int":
            raise UserError("output_sequence_length only applies to output_mode='int'.")
        if pad_to_max_tokens and (max_tokens is None or output_mode == "int"):
            raise UserError("pad_to_max_tokens needs max_tokens and a multi_hot, count or tf_idf output_mode.")
        if ngrams is not None and ngrams < 1:
            raise UserError("ngrams must be a positive integer (or None).")
        self.max_tokens = max_tokens
        self.standardize = standardize
        self.split = split
        self.ngrams = ngrams
        self.output_mode = output_mode
        self.output_sequence_length = output_sequence_length
        self.pad_to_max_tokens = pad_to_max_tokens
        self._tokens: list[str] | None = None  # the learned vocabulary, specials excluded
        self._idf: np.ndarray | None = None  # (vocabulary_size,) float32, tf_idf only
        self._tokenizer: Tokenizer | None = None
        self._lookup: dict[str, int] = {}
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise UserError("idf_weights needs a vocabulary to go with it.")

    # ------------------------------------------------------------------ vocabulary

    @property
    def _specials(self) -> list[str]:
        return [PAD_TOKEN, UNK_TOKEN] if self.output_mode == "int" else [UNK_TOKEN]

    def get_vocabulary(self) -> list[str]:
        self._check_adapted()
        return self._specials + list(self._tokens)

    def vocabulary_size(self) -> int:
        if self.pad_to_max_tokens:
            return self.max_tokens
        return len(self.get_vocabulary())

    def set_vocabulary(self, vocabulary: Iterable[str] | str | Path, idf_weights: Iterable[float] | None = None) -> None:
        if isinstance(vocabulary, str | Path):
            path = Path(vocabulary)
            if not path.is_file():
                raise UserError(f"vocabulary file `{path}` does not exist; pass a list of tokens or an existing file.")
            vocabulary = path.read_text(encoding="utf-8").splitlines()
        tokens = [t for t in vocabulary if t not in (PAD_TOKEN, UNK_TOKEN)]
        if len(set(tokens)) != len(tokens):
            raise UserError("the vocabulary has repeated tokens; give each token once.")
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise UserError("output_mode='tf_idf' with a preset vocabulary needs idf_weights (one per token).")
            idf = np.asarray(list(idf_weights), dtype=np.float32)
            if len(idf) != len(tokens):
                raise UserError(f"idf_weights has {len(idf)} values for {len(tokens)} tokens; give one per token.")
            self._idf = np.concatenate([[idf.mean() if len(idf) else 0.0], idf]).astype(np.float32)
        self._install(tokens)

    def _install(self, tokens: list[str]) -> None:
        if self.max_tokens is not None:
            tokens = tokens[: self.max_tokens - len(self._specials)]
            if self._idf is not None:
                self._idf = self._idf[: 1 + len(tokens)]
        self._tokens = tokens
        offset = len(self._specials)
        self._lookup = {token: index for index, token in enumerate(tokens, start=offset)}
        self._tokenizer = self._rust_tokenizer({UNK_TOKEN: offset - 1, **self._lookup}) if self._uses_rust else None

    # ------------------------------------------------------------------ adapt

    def adapt(self, texts: Iterable[str]) -> TextVectorization:
        """Learn the vocabulary (and idf) from `texts`: a list, an iterator, or a `datasets` column."""
        if isinstance(texts, str):
            raise UserError("adapt takes a collection of texts, not one string; wrap it in a list.")
        token_counts, doc_counts, num_docs = self._count(_chunks(texts))
        if num_docs == 0:
            raise UserError("adapt got no texts; pass a non-empty list, iterator or dataset column.")
        # Frequency first, ties in reverse lexicographic order (Keras' order).
        tokens = sorted(token_counts, key=lambda token: (token_counts[token], token), reverse=True)
        tokens = [t for t in tokens if t not in (PAD_TOKEN, UNK_TOKEN)]
        if self.max_tokens is not None:
            tokens = tokens[: self.max_tokens - len(self._specials)]
        if self.output_mode == "tf_idf":
            df = np.array([doc_counts[t] for t in tokens], dtype=np.float64)
            idf = np.log1p(num_docs / (1.0 + df))
            self._idf = np.concatenate([[idf.mean() if len(idf) else 0.0], idf]).astype(np.float32)
        self._install(tokens)
        return self

    def _count(self, chunks: Iterator[list[str]]) -> tuple[Counter, Counter, int]:
        """Token counts, document counts (`tf_idf` only) and the number of texts, in one pass.

        The Rust path's tokens are computed here in Python by `_rust_words` (what the Rust tokenizer
        makes of each text): a `WordLevel` tokenizer can only count words it already knows, so
        counting through it took two reads of the corpus, a training pass and an encoding pass;
        `str.split` and `Counter` run in C and need one (3-4x faster on 2 cores)."""
        words_of = self._rust_words() if self._uses_rust else self._python_tokens
        with_documents = self.output_mode == "tf_idf"  # document frequencies only feed the idf
        # Standardization is per character, so a chunk joined at whitespace (or at nothing, for
        # characters) gives the words of its texts in one call: 2,048 texts of a few words cost as one.
        joiner = {"whitespace": " ", "character": ""}.get(self.split) if self._uses_rust else None
        tokens, docs, num_docs = Counter(), Counter(), 0
        for chunk in chunks:
            if joiner is not None and not with_documents:
                tokens.update(words_of(joiner.join(chunk)))
            else:
                for text in chunk:
                    words = words_of(text)
                    tokens.update(words)
                    if with_documents:
                        docs.update(set(words))
            num_docs += len(chunk)
        return tokens, docs, num_docs

    # ------------------------------------------------------------------ transform

    def __call__(self, texts: str | Iterable[str]) -> torch.Tensor:
        """`(B, L)` int64 ids, or `(B, vocabulary_size)` float32 vectors; a single string gives one row."""
        self._check_adapted()
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        if self._tokenizer is not None:
            ids = [e.ids for e in self._tokenizer.encode_batch_fast(batch, add_special_tokens=False)]
        else:
            unk = len(self._specials) - 1
            ids = [[self._lookup.get(t, unk) for t in self._python_tokens(text)] for text in batch]
        out = self._ids_to_tensor(ids) if self.output_mode == "int" else self._bag_of_words(ids)
        return out[0] if single else out

    def _ids_to_tensor(self, ids: list[list[int]]) -> torch.Tensor:
        length = self.output_sequence_length or max((len(row) for row in ids), default=0)
        out = np.zeros((len(ids), length), dtype=np.int64)  # (B, L); 0 is the padding id
        for row, sequence in enumerate(ids):
            sequence = sequence[:length]
            out[row, : len(sequence)] = sequence
        return torch.from_numpy(out)

    def _bag_of_words(self, ids: list[list[int]]) -> torch.Tensor:
        width = self.vocabulary_size()
        counts = np.zeros((len(ids), width), dtype=np.float32)  # (B, V)
        rows = np.repeat(np.arange(len(ids)), [len(sequence) for sequence in ids])
        columns = np.fromiter((i for sequence in ids for i in sequence), dtype=np.int64, count=len(rows))
        np.add.at(counts, (rows, columns), 1.0)
        if self.output_mode == "multi_hot":
            counts = (counts > 0).astype(np.float32)
        elif self.output_mode == "tf_idf":
            idf = np.zeros(width, dtype=np.float32)
            idf[: len(self._idf)] = self._idf
            counts *= idf
        return torch.from_numpy(counts)

    def to_tokenizer(self) -> PreTrainedTokenizerFast:
        """The same int-mode vectorization as a `PreTrainedTokenizerFast` (id 0 = `[PAD]`), for
        `pipeline(...)`, `save_pretrained` beside a model, and `AutoTokenizer`."""
        self._check_adapted()
        if self.output_mode != "int" or not self._uses_rust:
            raise UserError("to_tokenizer needs output_mode='int' and built-in standardize/split without ngrams.")
        backend = self._rust_tokenizer({HF_PAD_TOKEN: 0, UNK_TOKEN: 1, **self._lookup})
        return PreTrainedTokenizerFast(
            tokenizer_object=backend, pad_token=HF_PAD_TOKEN, unk_token=UNK_TOKEN,
            model_max_length=self.output_sequence_length or 100_000, padding_side="right",
            model_input_names=["input_ids", "attention_mask"], clean_up_tokenization_spaces=False,
        )

    # ------------------------------------------------------------------ save / load

    def get_config(self) -> dict[str, Any]:
        if callable(self.standardize) or callable(self.split):
            raise UserError("a TextVectorization with a callable standardize or split cannot be saved; use a built-in option.")
        return {
            "max_tokens": self.max_tokens, "standardize": self.standardize, "split": self.split,
            "ngrams": self.ngrams, "output_mode": self.output_mode,
            "output_sequence_length": self.output_sequence_length, "pad_to_max_tokens": self.pad_to_max_tokens,
        }

    def save_pretrained(self, directory: str | Path) -> None:
        self._check_adapted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {**self.get_config(), "vocabulary": self._tokens,
                 "idf_weights": None if self._idf is None else self._idf[1:].tolist()}
        (directory / CONFIG_FILE).write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        if self._tokenizer is not None:  # the Rust pipeline, usable on its own with `tokenizers`
            self._tokenizer.save(str(directory / TOKENIZER_FILE))

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> TextVectorization:
        path = Path(directory) / CONFIG_FILE
        if not path.is_file():
            raise UserError(f"`{directory}` holds no {CONFIG_FILE}; pass a folder written by save_pretrained.")
        state = json.loads(path.read_text(encoding="utf-8"))
        return cls(**state)

    # ------------------------------------------------------------------ internals

    @property
    def _uses_rust(self) -> bool:
        return not callable(self.standardize) and not callable(self.split) and (self.ngrams or 1) == 1

    def _check_adapted(self) -> None:
        if self._tokens is None:
            raise UserError("the TextVectorization has no vocabulary yet; call adapt(texts) or pass vocabulary=.")

    def _rust_tokenizer(self, vocab: dict[str, int]) -> Tokenizer:
        tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
        steps = []
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            steps.append(normalizers.Lowercase())
        if self.standardize == "lower_and_strip_punctuation":
            steps.append(normalizers.Replace(Regex(STRIP_PUNCTUATION), ""))
        if steps:
            tokenizer.normalizer = normalizers.Sequence(steps)
        if self.split == "whitespace":
            tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        elif self.split == "character":
            # Oniguruma's (?m) lets "." match newlines too: every character is a token.
            tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("(?m)."), behavior="isolated")
        else:  # split=None: the whole standardized text is one token
            tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"(?m)\A.*\z"), behavior="isolated")
        return tokenizer

    def _rust_words(self) -> Callable[[str], list[str]]:
        """A function giving the tokens the Rust tokenizer of these built-in options makes of a text,
        computed in Python. Texts are standardized by `str.lower` and `translate` (the same result,
        10x faster), except the few holding a character that Python lowercases otherwise
        (`_lowercased_apart`), which go through the Rust normalizer itself. Whitespace is Rust's class:
        Python's `str.split` also splits at the separators U+001C-U+001F, so a text holding one is split
        by that class."""
        standardize, split = self.standardize, self.split
        strip = standardize == "lower_and_strip_punctuation"
        normalizer = self._rust_tokenizer({UNK_TOKEN: 0}).normalizer

        def standardized(text: str) -> str:
            if standardize is None:
                return text
            if text.isascii():
                text = text.lower()
                return text.translate(_PUNCTUATION_TABLE) if strip else text
            if not _lowercased_apart().isdisjoint(_non_ascii(text)):
                return normalizer.normalize_str(text)
            text = text.lower()
            # Punctuation is ASCII, and no byte of a multi-byte UTF-8 character is: deleting its bytes is
            # exact, and 10x faster than str.translate on a non-ASCII string.
            return text.encode().translate(None, _PUNCTUATION_BYTES).decode() if strip else text

        def words(text: str) -> list[str]:
            text = standardized(text)
            if split == "whitespace":
                if any(separator in text for separator in _SPLIT_BY_PYTHON_ONLY):
                    return [word for word in _RUST_WHITESPACE.split(text) if word]
                return text.split()
            if split == "character":
                return list(text)
            return [text] if text else []  # split=None: the whole text is one token

        return words

    def _python_tokens(self, text: str) -> list[str]:
        if callable(self.standardize):
            text = self.standardize(text)
        elif self.standardize is not None:
            text = text.lower()
            if self.standardize == "lower_and_strip_punctuation":
                text = text.translate(_PUNCTUATION_TABLE)
        if callable(self.split):
            words = list(self.split(text))
        elif self.split == "whitespace":
            words = text.split()
        elif self.split == "character":
            words = list(text)
        else:
            words = [text] if text else []
        if self.ngrams and self.ngrams > 1:
            words = words + [
                " ".join(words[i : i + n]) for n in range(2, self.ngrams + 1) for i in range(len(words) - n + 1)
            ]
        return words


_PUNCTUATION_TABLE = str.maketrans("", "", """!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'""")
_PUNCTUATION_BYTES = b"""!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"""
_ASCII_BYTES = bytes(range(128))
# Rust's `char::is_whitespace` (Unicode White_Space), what the WhitespaceSplit pre-tokenizer splits at,
# and the characters Python's `str.split` splits at besides.
_RUST_WHITESPACE = re.compile(r"[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_SPLIT_BY_PYTHON_ONLY = "\x1c\x1d\x1e\x1f"


@functools.cache
def _lowercased_apart() -> frozenset[str]:
    """The characters that Python's `str.lower` maps otherwise than the Rust `Lowercase` normalizer: found by
    putting every code point through both (0.7 s, once per process, only when a text is not ASCII).
    Python's Unicode tables are older than the Rust library's (3.11 has Unicode 14: 55 capitals apart,
    from U+1C89). The capital sigma is added by hand: only Python lowers it to a final sigma at the end
    of a word."""
    lowercase, apart = normalizers.Lowercase(), {"\u03a3"}
    # A block of code points at a time: all 1.1M at once held ~300 MB of one-character strings, which
    # stayed in the process' peak RSS.
    for start in range(1, sys.maxunicode + 1, _CODE_POINTS_PER_BLOCK):
        points = range(start, min(start + _CODE_POINTS_PER_BLOCK, sys.maxunicode + 1))
        chars = [chr(point) for point in points if not 0xD800 <= point < 0xE000]  # no surrogates
        joined = "\x00".join(chars)  # NUL lowercases to itself in both: a separator that survives
        rust = lowercase.normalize_str(joined).split("\x00")
        python = joined.lower().split("\x00")
        apart.update(char for char, by_rust, by_python in zip(chars, rust, python, strict=True) if by_rust != by_python)
    return frozenset(apart)


_CODE_POINTS_PER_BLOCK = 65_536


def _non_ascii(text: str) -> str:
    """The non-ASCII characters of `text`, in C: no byte of a multi-byte UTF-8 character is ASCII, so
    deleting the ASCII bytes leaves whole characters (a few hundred of a 1 MB English chunk)."""
    return text.encode().translate(None, _ASCII_BYTES).decode()


def _chunks(texts: Iterable[str], size: int | None = None) -> Iterator[list[str]]:
    size = size or ADAPT_BATCH
    if isinstance(texts, Column) and isinstance(texts.source, Dataset) and texts.source._format_type is None:
        # A split's column: read from its Arrow files, not paged in through the memory map.
        chunks = (table.column(0).to_pylist() for table in read_columns(texts.source, [texts.column_name], size))
    elif hasattr(texts, "__getitem__") and hasattr(texts, "__len__"):  # a list or a column: slice it
        # (a column read by slices is 60x faster than row by row)
        chunks = (list(texts[start : start + size]) for start in range(0, len(texts), size))
    else:
        iterator = iter(texts)
        chunks = iter(lambda: list(itertools.islice(iterator, size)), [])
    for chunk in chunks:
        for text in chunk:
            if not isinstance(text, str):
                raise UserError(f"adapt expects strings; got a {type(text).__name__}.")
        yield chunk


__all__ = ["TextVectorization"]
