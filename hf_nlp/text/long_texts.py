"""Classification inputs for transformer encoders: each text truncated, or cut into windows.

Long reviews (~850 WordPiece tokens) do not fit a 256-token encoder. With `windows=True` every text
becomes overlapping windows of `max_length` tokens, each labelled with its text's label and
remembering its text (`document`), so a text can be scored by pooling its windows
(`hf_nlp.evaluation.metrics.pool_window_logits`).

`group_windows_by_text` turns those rows back into one row per text holding all its windows, and
`WindowGroupCollator` batches such rows for `hf_nlp.models.window_pooling.pooled_window_forward`,
which trains and scores a text by its pooled windows (the loss is on the text, not on each window).
"""

from __future__ import annotations

import torch
from datasets import Dataset, DatasetDict
from transformers import DataCollatorWithPadding


def tokenize_texts(corpus: DatasetDict, tokenizer, max_length: int, windows: bool = False,
                   overlap: int = 0) -> DatasetDict:
    """`input_ids` (+ mask), `labels` and `document` (the row of the text each window comes from)."""

    def encode(batch: dict, rows: list[int]) -> dict:
        encoded = tokenizer(batch["text"], truncation=True, max_length=max_length,
                            stride=overlap if windows else 0, return_overflowing_tokens=windows)
        source = encoded.pop("overflow_to_sample_mapping", None) or range(len(batch["text"]))  # window -> text
        return {**encoded, "labels": [batch["label"][i] for i in source], "document": [rows[i] for i in source]}

    first = next(iter(corpus.values()))
    return corpus.map(encode, batched=True, with_indices=True, remove_columns=first.column_names, desc="tokenize")


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
