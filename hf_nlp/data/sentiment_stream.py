"""A sentiment corpus read as a stream (`--data.streaming true`), for files larger than the disk cache.

Nothing is converted or cached: the training split is read row by row from the source on every
epoch (a `datasets.IterableDataset`, Arrow batches underneath), shuffled through a buffer and resumed
exactly by `hf_nlp.data.streaming.ResumableStream`. Validation and test are small and read once into
memory: at most `max_eval_examples` each.

Splits, decided by row number so that a file sorted by label still gets every class everywhere:

- a file, or a Hub dataset with a train split only: data row `i` (0-based) is validation when
  `i % 10 == 8`, test when `i % 10 == 9`, training otherwise (80 / 10 / 10);
- a Hub dataset with train and test (IMDb): test is its own; validation is every tenth train row
  (`i % 10 == 9`), the rest trains;
- a Hub dataset with all three splits, or a shipped corpus: their own splits (a shipped corpus'
  cached 80 / 10 / 10 splits, so a streamed run and an in-memory one see the same examples).

Class names come from a `ClassLabel` column when the source has one; otherwise from the labels of
the validation and test rows (sorted as `hf_nlp.data.sentiment` sorts them). A training row whose label
is not among them, or whose text is empty, stops the run with one sentence naming the row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import torch
from datasets import ClassLabel, Dataset, IterableDataset

from hf_nlp.data.files import TABLE_LOADERS, load_hub_dataset, load_table_file
from hf_nlp.data.sentiment import SHIPPED, SentimentDataConfig, label_names, load_sentiment
from hf_nlp.data.sources import resolve_source
from hf_nlp.data.streaming import Example
from hf_nlp.errors import UserError

EVERY = 10  # rows per split cycle: 8 train, 1 validation, 1 test


@dataclass
class SentimentStream:
    """The streamed training source with its row filter and labels, and the in-memory evaluation splits."""

    source: IterableDataset
    """The training rows' source (unshuffled; `ResumableStream` shuffles it)."""
    where: str
    """How messages name the source (e.g. "`reviews.csv`")."""
    text_column: str
    label_column: str
    names: list[str]
    label_values: bool
    """Whether labels are values to look up in `names` (True) or already class ids (a `ClassLabel`)."""
    train_rows: tuple[int, ...] | None
    """The `row % 10` values that train; None: every row."""
    validation: Dataset | None = None
    test: Dataset | None = None

    def prepare(self, row: int, example: dict[str, Any]) -> Example | None:
        """The training example of data row `row` (0-based), or None for a row of another split."""
        if self.train_rows is not None and row % EVERY not in self.train_rows:
            return None
        return self.example(example, f"data row {row + 1:,}")

    def example(self, example: dict[str, Any], which: str) -> Example:
        """`{"text", "labels"}` with the label as a class id, or one sentence naming the row (`which`)."""
        text, label = example[self.text_column], example[self.label_column]
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"{self.where} has a row without text ({which}); fill or drop it.")
        if self.label_values:
            if str(label) not in self.names:
                raise UserError(f"{self.where} {which} has label `{label}`, which no validation or test row has (they "
                                f"have {', '.join(self.names)}); raise `--data.max_eval_examples` so that they hold "
                                "every class.")
            label = self.names.index(str(label))
        return {"text": text, "labels": label}

    def training_texts(self) -> Iterator[str]:
        """The training rows' texts, read once from the first row (what `TextVectorization.adapt` reads)."""
        self.source.load_state_dict(None)  # from the first row
        for row, example in enumerate(self.source):
            prepared = self.prepare(row, example)
            if prepared is not None:
                yield prepared["text"]

    def corpus_info(self, config: SentimentDataConfig) -> dict:
        """What metrics and reports say of the data (as `SentimentDataConfig.corpus_info`; the training
        rows of a stream are not counted)."""
        return {"source": config.source, "streaming": True, "classes": self.names,
                "split_sizes": {"validation": len(self.validation), "test": len(self.test)}}


def stream_sentiment(config: SentimentDataConfig, seed: int) -> SentimentStream:
    """The corpus `config.source` as a `SentimentStream` (see the module docstring)."""
    if config.cv_folds:
        raise UserError("`--data.streaming` reads the corpus once per epoch and cannot cut it into folds; drop "
                        "`--data.cv_folds` or `--data.streaming`.")
    resolved = resolve_source(config.source, SHIPPED, list(TABLE_LOADERS), "sentiment corpus")
    if resolved.kind == "shipped":
        corpus = load_sentiment(config)
        names = corpus["train"].features["label"].names
        return SentimentStream(corpus["train"].to_iterable_dataset(), f"`{config.source}`", "text", "label", names,
                               False, None, _first(corpus["validation"], config), _first(corpus["test"], config))
    if resolved.kind == "file":
        splits = {"train": load_table_file(resolved.path, "a header and rows of text and labels", streaming=True)}
        where = f"`{resolved.path.name}`"
    else:
        splits = _hub_streams(config.source)
        where = f"`{config.source}`"
    for split in splits.values():
        _check_columns(split, config, where)
    train = splits["train"]
    if "validation" in splits and "test" in splits:
        validation, test, train_rows = _take(splits["validation"], config), _take(splits["test"], config), None
    elif "test" in splits:
        (validation,) = _held_out_rows(train, config, (EVERY - 1,))
        test, train_rows = _take(splits["test"], config), tuple(range(EVERY - 1))
    else:
        validation, test = _held_out_rows(train, config, (EVERY - 2, EVERY - 1))
        train_rows = tuple(range(EVERY - 2))
    feature = (train.features or {}).get(config.label_column)
    if isinstance(feature, ClassLabel):
        names, values = list(feature.names), False
    else:
        names, values = label_names([row[config.label_column] for row in (*validation, *test)]), True
    if len(names) < 2:
        raise UserError(f"the validation and test rows of {where} hold one class only; sentiment needs at least two "
                        "(raise `--data.max_eval_examples`, or check `--data.label_column`).")
    stream = SentimentStream(train, where, config.text_column, config.label_column, names, values, train_rows)
    stream.validation = _evaluation_split(validation, stream, "validation")
    stream.test = _evaluation_split(test, stream, "test")
    return stream


def _hub_streams(dataset_id: str) -> dict[str, IterableDataset]:
    hub = load_hub_dataset(dataset_id, f"use {', '.join(SHIPPED)} offline", streaming=True)
    if "train" not in hub:
        raise UserError(f"Hub dataset `{dataset_id}` has no train split; pass one that has.")
    return {name: hub[name] for name in ("train", "validation", "test") if name in hub}


def _check_columns(split: IterableDataset, config: SentimentDataConfig, where: str) -> None:
    columns = split.column_names or list(next(iter(split), {}))
    for column, flag in ((config.text_column, "text_column"), (config.label_column, "label_column")):
        if column not in columns:
            raise UserError(f"{where} has no column `{column}` (columns: {', '.join(columns)}); pass `--data.{flag}`.")


def _take(source: IterableDataset, config: SentimentDataConfig) -> list[dict]:
    return list(islice(source.select_columns([config.text_column, config.label_column]), config.max_eval_examples))


def _held_out_rows(source: IterableDataset, config: SentimentDataConfig, cycles: tuple[int, ...]) -> list[list[dict]]:
    """For each `row % EVERY` value of `cycles`, the first `max_eval_examples` such rows, in one pass."""
    taken: list[list[dict]] = [[] for _ in cycles]
    source.load_state_dict(None)  # from the first row
    columns = (config.text_column, config.label_column)
    for row, example in enumerate(source):
        if row % EVERY in cycles:
            kept = taken[cycles.index(row % EVERY)]
            if len(kept) < config.max_eval_examples:
                kept.append({key: example[key] for key in columns})
            if all(len(rows) == config.max_eval_examples for rows in taken):
                break
    return taken


def _first(split: Dataset, config: SentimentDataConfig) -> Dataset:
    return split.select(range(min(len(split), config.max_eval_examples)))


def _evaluation_split(rows: list[dict], stream: SentimentStream, split: str) -> Dataset:
    """`rows` as a `{"text", "label"}` Dataset, checked as training rows are."""
    examples = [stream.example(row, f"{split} row {number:,}") for number, row in enumerate(rows, start=1)]
    data = Dataset.from_dict({"text": [e["text"] for e in examples], "label": [e["labels"] for e in examples]})
    return data.cast_column("label", ClassLabel(names=stream.names))


class TokenizingCollator:
    """`{"text", "labels"}` examples -> a padded batch of `input_ids`, `attention_mask` and `labels`: the
    streamed path tokenizes each batch as it comes (each process its own batches) instead of a whole
    split ahead, and pads it to its longest text as `DataCollatorWithPadding` does."""

    def __init__(self, tokenizer, max_length: int | None = None):
        self.tokenizer = tokenizer
        self.truncate = {"truncation": True, "max_length": max_length} if max_length else {}

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer([e["text"] for e in examples], padding=True, return_tensors="pt", **self.truncate)
        batch["labels"] = torch.tensor([e["labels"] for e in examples])  # (B,)
        return dict(batch)


__all__ = ["SentimentStream", "TokenizingCollator", "stream_sentiment"]
