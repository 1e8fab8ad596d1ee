"""Classification inputs for transformer encoders: each text truncated, or cut into windows.

Long reviews (~850 WordPiece tokens) do not fit a 256-token encoder. With `windows=True` every text
becomes overlapping windows of `max_length` tokens, each labelled with its text's label and
remembering its text (`document`), so a text can be scored by pooling its windows
(`hf_nlp.evaluation.metrics.pool_window_logits`).
"""

from __future__ import annotations

from datasets import DatasetDict


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
