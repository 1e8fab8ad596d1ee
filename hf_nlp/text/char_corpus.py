"""The char-RNN's corpus as token ids on disk: tokenized once, in one streaming pass, then read by offset.

`load_char_corpus(config)` returns the character tokenizer and one `TokenIds` per split. The first
call for a source streams its text in pieces of a few MB (`data.shakespeare.text_chunks`),
lowercases each piece, maps every character to an id through a code-point table and appends the
ids to a file, learning the vocabulary in the same pass; a last pass over the ids renumbers them
into the tokenizer's sorted order and narrows them to `uint8` when the vocabulary allows. The
result is cached under `$HF_HOME/hf_nlp/corpora/char_ids/<key>/` (key: the source, its size and
mtime for a file, and lowercasing) as `ids.bin` + `vocabulary.json`; splits are offsets into the
one file, so changing `--data.split` or the character counts re-reads nothing.

Memory stays at a few hundred MB whatever the corpus size: one piece of text and its ids at a
time while tokenizing, and training reads windows from the file (see `data.token_ids`). The ids
are exactly those of `tokenizer(text)["input_ids"]` on the lowercased text (a test holds it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerFast

from hf_nlp.data.cache import build_atomically, corpus_cache_dir, is_cached
from hf_nlp.data.files import file_key
from hf_nlp.data.shakespeare import DEFAULT_SOURCE, ShakespeareDataConfig, text_chunks
from hf_nlp.data.sources import resolve_source
from hf_nlp.data.token_ids import TokenIds, id_dtype, split_token_ids, token_ids_file
from hf_nlp.errors import UserError
from hf_nlp.text.char_tokenizer import SPECIAL_TOKENS, build_char_tokenizer

FORMAT = 1
"""Bump when the files' layout or the ids change, so older caches are not read."""
IDS_FILE = "ids.bin"
VOCABULARY_FILE = "vocabulary.json"
_UNICODE_CODE_POINTS = 0x110000
_MAX_CHARACTERS = 2**16 - len(SPECIAL_TOKENS)  # provisional ids are uint16
_RENUMBER_IDS = 2**23  # ids per read in the renumbering pass


@dataclass(frozen=True)
class CharCorpus:
    """A character corpus tokenized on disk: its tokenizer and the ids of each split."""

    tokenizer: PreTrainedTokenizerFast
    splits: dict[str, TokenIds]
    """`train`, `validation`, `test`: consecutive runs of the one ids file."""
    characters: str
    """The vocabulary's characters in id order (ids 0 and 1 are `[PAD]` and `[UNK]`)."""

    @property
    def split_chars(self) -> dict[str, int]:
        return {name: len(ids) for name, ids in self.splits.items()}

    def text(self, split: str, max_chars: int | None = None) -> str:
        """A split's text, decoded from its ids (its first `max_chars` characters); for small amounts only."""
        ids = self.splits[split] if max_chars is None else self.splits[split].head(max_chars)
        table = np.array(["", ""] + list(self.characters), dtype=object)
        return "".join(table[ids[:].numpy()])


def load_char_corpus(config: ShakespeareDataConfig) -> CharCorpus:
    """The corpus of `config` tokenized into ids on disk, built and cached on the first call; its splits are
    cut by `config.split_sizes`."""
    source = config.source
    key = {"source": file_key(source) if source != DEFAULT_SOURCE else source, "lowercase": config.lowercase,
           "format": FORMAT}
    cache = corpus_cache_dir("char_ids", key)
    if not is_cached(cache):
        build_atomically(cache, lambda folder: _build(source, config.lowercase, folder))
    vocabulary = json.loads((cache / VOCABULARY_FILE).read_text(encoding="utf-8"))
    ids = token_ids_file(cache / IDS_FILE, vocabulary["dtype"])
    splits = split_token_ids(ids, config.split_sizes(len(ids)))
    tokenizer = build_char_tokenizer([vocabulary["characters"]], lowercase=config.lowercase)
    return CharCorpus(tokenizer, splits, vocabulary["characters"])


def _build(source: str, lowercase: bool, folder: Path) -> None:
    folder.mkdir(parents=True)
    resolved = resolve_source(source, [DEFAULT_SOURCE], [".txt"], "Shakespeare source")
    size = resolved.path.stat().st_size if resolved.kind == "file" and resolved.path.is_file() else None
    with tqdm(total=size, unit="B", unit_scale=True, desc=f"tokenize {Path(source).name}",
              disable=size is None or size < 2**26) as bar:  # a bar for files of 64 MB and more
        characters, dtype = encode_characters(text_chunks(source, progress=bar.update), lowercase,
                                              folder / IDS_FILE)
    (folder / VOCABULARY_FILE).write_text(json.dumps({"characters": characters, "dtype": dtype, "source": source,
                                                      "lowercase": lowercase}), encoding="utf-8")


def encode_characters(chunks: Iterable[str], lowercase: bool, path: Path) -> tuple[str, str]:
    """Write the id of every character of `chunks` to `path`, one pass over the text; return the vocabulary's
    characters (sorted, as `build_char_tokenizer` numbers them from 2) and the ids' dtype name."""
    provisional = np.full(_UNICODE_CODE_POINTS, -1, dtype=np.int32)  # code point -> id in order of first sight
    seen: list[int] = []  # code points in order of first sight
    scratch = path.with_suffix(".provisional")
    with scratch.open("wb") as out:
        for text in chunks:
            if lowercase:
                text = text.lower()
            codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (chars,)
            ids = provisional[codes]
            if (ids < 0).any():  # characters not seen before: number them
                new = np.unique(codes[ids < 0])
                if len(seen) + len(new) > _MAX_CHARACTERS:
                    raise UserError(f"the text has more than {_MAX_CHARACTERS:,} distinct characters, too many for a "
                                    "character vocabulary; train a subword tokenizer on it instead.")
                provisional[new] = np.arange(len(seen), len(seen) + len(new))
                seen.extend(new.tolist())
                ids = provisional[codes]
            out.write(ids.astype(np.uint16).tobytes())
    if not seen:
        raise UserError("the text is empty; pass a text to learn from.")
    # Renumber into sorted order after the specials: final = renumbered[provisional].
    order = np.argsort(seen)  # rank -> provisional id
    dtype = id_dtype(len(SPECIAL_TOKENS) + len(seen))
    renumbered = np.empty(len(seen), dtype=dtype)
    renumbered[order] = np.arange(len(SPECIAL_TOKENS), len(SPECIAL_TOKENS) + len(seen))
    with scratch.open("rb") as provisional_ids, path.open("wb") as out:
        while (chunk := np.fromfile(provisional_ids, dtype=np.uint16, count=_RENUMBER_IDS)).size:
            out.write(renumbered[chunk].tobytes())
    scratch.unlink()
    return "".join(chr(seen[i]) for i in order), dtype.name


__all__ = ["CharCorpus", "encode_characters", "load_char_corpus"]
