"""How a text classifier reads a text, the same way in training, evaluation, `hf-nlp classify` and the Space.

Long reviews (~850 WordPiece tokens) do not fit a 256-token encoder. A run chooses with
`--data.long_texts`:

- `truncate`: each text cut to `max_length` tokens;
- `windows`: every text becomes overlapping windows of `max_length` tokens, each labelled with its
  text's label and remembering its text (`document`); a text is scored by its windows' mean
  probability (`pool_window_logits`);
- `pooled_windows`: a text is scored by its windows' mean logits, in training too:
  `group_windows_by_text` gives one row per text, `WindowGroupCollator` batches them and
  `pooled_window_forward` puts the loss on the text. Training each window on its text's label tells
  a window of plot summary that it is positive or negative; pooling first lets the model stay unsure
  on such windows (logits near equal add nothing to the mean) and lean on the ones that carry the
  verdict. Mean logits, not mean probabilities: with probabilities an unsure window holds the text's
  probability near 1/C whatever the others say, and training stalls.

`TextReading.of_run` rebuilds a run's reading from the `config.yaml` it saved beside its weights
(`hf_nlp.runs.reading_of_model` finds it for a folder or Hub id), so a model read truncated does not
answer on less of a review than it was measured on; `classify_texts` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from datasets import Dataset, DatasetDict
from transformers import DataCollatorWithPadding
from transformers.modeling_outputs import SequenceClassifierOutput

from hf_nlp.text.pooling import pool_window_logits

Pooling = Literal["probabilities", "logits"]


def window_pooling(long_texts: str) -> Pooling:
    """How a text's windows are pooled: mean logits for a run trained on them pooled (the
    `pooled_windows` loss is on the mean logits), mean probabilities for one trained window by window."""
    return "logits" if long_texts == "pooled_windows" else "probabilities"


@dataclass(frozen=True)
class TextReading:
    """Tokens per window (None: the tokenizer's own limit), whether a longer text is cut into windows
    overlapping by `overlap` tokens (else truncated), and how windows pool into the text's score."""

    max_length: int | None = None
    windows: bool = False
    overlap: int = 0
    pooling: Pooling = "probabilities"

    @classmethod
    def of(cls, max_length: int | None, long_texts: str = "truncate", window_overlap: int = 0) -> TextReading:
        """The reading the `data:` settings `max_length`, `long_texts`, `window_overlap` name."""
        windows = long_texts != "truncate"
        return cls(max_length=int(max_length) if max_length else None, windows=windows,
                   overlap=int(window_overlap or 0) if windows else 0, pooling=window_pooling(long_texts))

    @classmethod
    def of_run(cls, saved_config: dict[str, Any]) -> TextReading:
        """The reading of a run from its saved recipe config (`{}`: a model from elsewhere, truncated)."""
        data = saved_config.get("data") or {}
        return cls.of(data.get("max_length"), data.get("long_texts") or "truncate", data.get("window_overlap") or 0)


def tokenize_windows(tokenizer, texts: list[str], reading: TextReading) -> tuple[dict, list[int]]:
    """`texts` tokenized as `reading` says: truncated, or cut into overlapping windows. Returns the
    encoding (one row per window) and, for each window, the index of its text."""
    encoded = tokenizer(texts, truncation=True, max_length=reading.max_length,
                        stride=reading.overlap if reading.windows else 0, return_overflowing_tokens=reading.windows)
    documents = encoded.pop("overflow_to_sample_mapping", None) or list(range(len(texts)))  # window -> text
    return encoded, documents


def tokenize_texts(corpus: DatasetDict, tokenizer, reading: TextReading) -> DatasetDict:
    """`input_ids` (+ mask), `labels` and `document` (the row of the text each window comes from)."""

    def encode(batch: dict, rows: list[int]) -> dict:
        encoded, source = tokenize_windows(tokenizer, batch["text"], reading)
        return {**encoded, "labels": [batch["label"][i] for i in source], "document": [rows[i] for i in source]}

    first = next(iter(corpus.values()))
    return corpus.map(encode, batched=True, with_indices=True, remove_columns=first.column_names, desc="tokenize")


def training_sets(encoded: DatasetDict, reading: TextReading, tokenizer) -> tuple[Dataset, Dataset, Any, list[int]]:
    """(train, validation, collator, length of each training example) for a classifier read as `reading`
    says, from `tokenize_texts` rows: one example per window, or with pooled windows one per text (its
    windows grouped, `WindowGroupCollator`), so the loss, validation and batch size count texts."""
    if reading.windows and reading.pooling == "logits":
        train, validation = (group_windows_by_text(encoded[split]) for split in ("train", "validation"))
        return train, validation, WindowGroupCollator(tokenizer), [sum(map(len, text)) for text in train["input_ids"]]
    train, validation = (encoded[split].remove_columns("document") for split in ("train", "validation"))
    return train, validation, DataCollatorWithPadding(tokenizer, return_tensors="pt"), [len(ids) for ids in train["input_ids"]]


def group_windows_by_text(windows: Dataset) -> Dataset:
    """One row per text from `tokenize_texts` rows: each model input becomes the list of the text's
    windows (`input_ids[w]` is window w), `labels` the text's label; texts keep their order."""
    columns = [name for name in windows.column_names if name not in ("labels", "document")]
    documents, labels = windows["document"], windows["labels"]
    rows: dict[str, list] = {name: [] for name in [*columns, "labels"]}
    values = {name: windows[name] for name in columns}
    for index, document in enumerate(documents):  # windows of a text are consecutive (tokenizer overflow)
        if index == 0 or document != documents[index - 1]:
            for name in columns:
                rows[name].append([])
            rows["labels"].append(labels[index])
        for name in columns:
            rows[name][-1].append(values[name][index])
    return Dataset.from_dict(rows)


class WindowGroupCollator:
    """Batches texts of `group_windows_by_text`: every window of every text, padded together, plus
    `text_index` `(W,)` (the batch row of each window's text) and `labels` `(B,)` per text."""

    def __init__(self, tokenizer):
        self.pad = DataCollatorWithPadding(tokenizer, return_tensors="pt")

    def __call__(self, texts: list[dict]) -> dict[str, torch.Tensor]:
        inputs = [name for name in texts[0] if name != "labels"]
        windows = [{name: text[name][w] for name in inputs} for text in texts for w in range(len(text["input_ids"]))]
        batch = dict(self.pad(windows))  # (W, L) each
        batch["text_index"] = torch.tensor([row for row, text in enumerate(texts) for _ in text["input_ids"]])
        batch["labels"] = torch.tensor([text["labels"] for text in texts])  # (B,)
        return batch


def pooled_window_forward(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> SequenceClassifierOutput:
    """`batch` from `hf_nlp.text.long_texts.WindowGroupCollator`: window inputs `(W, L)`,
    `text_index` `(W,)`, `labels` `(B,)`. Returns per-text logits `(B, C)` (the mean window logits)
    and, with labels, the cross-entropy per text."""
    inputs = {name: value for name, value in batch.items() if name not in ("text_index", "labels")}
    window_logits = model(**inputs).logits  # (W, C)
    logits = pool_window_logits(window_logits, batch["text_index"], pooling="logits")  # (B, C)
    labels = batch.get("labels")
    loss = F.cross_entropy(logits, labels) if labels is not None else None
    return SequenceClassifierOutput(loss=loss, logits=logits)


def classify_texts(model, tokenizer, texts: list[str], reading: TextReading = TextReading(),
                   batch_size: int = 64) -> torch.Tensor:
    """Class probabilities `(N, num_labels)` of `texts`, each read as `reading` says: truncated, or
    as windows of `reading.max_length` tokens run `batch_size` at a time and pooled per text."""
    encoded, documents = tokenize_windows(tokenizer, texts, reading)
    windows = [{name: values[i] for name, values in encoded.items()} for i in range(len(documents))]
    logits = []
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            batch = tokenizer.pad(windows[start : start + batch_size], return_tensors="pt")  # (b, L) each
            logits.append(model(**batch).logits.float())  # (b, C)
    pooled = pool_window_logits(torch.cat(logits), torch.tensor(documents), reading.pooling)  # (N, C)
    return pooled.softmax(-1)  # mean probabilities back from their log, or the mean logits' softmax


__all__ = ["Pooling", "TextReading", "WindowGroupCollator", "classify_texts", "group_windows_by_text",
           "pooled_window_forward", "tokenize_texts", "tokenize_windows", "training_sets",
           "window_pooling"]
