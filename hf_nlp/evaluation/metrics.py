"""Per-example statistics for evaluation, summed over the whole set by the training loop.

The loop gathers each per-example tensor with `gather_for_metrics` (so examples duplicated to even
out the last batch across processes are dropped), sums every statistic, and divides by the summed
`count`: a metric `m` is reported as `sum(m) / sum(count)`, and `count` itself is the total.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from transformers import DataCollatorWithPadding

from hf_nlp.text.long_texts import TextReading, WindowGroupCollator, group_windows_by_text
from hf_nlp.text.pooling import pool_window_logits
from hf_nlp.training.scoring import reduce_example_stats

IGNORE_INDEX = -100


def reports(*metric_names: str):
    """Mark an example-stats function with the metrics it yields, so a config naming another one
    (`--train.metric_for_best`) is refused before training instead of at the first evaluation."""
    def mark(function):
        function.metric_names = metric_names
        return function

    return mark


@reports("loss", "accuracy")
def causal_lm_example_stats(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Summed token loss (nats), correct next-token predictions and token count, per example.

    Targets are `batch["shift_labels"]` (aligned with the logits) or, HF style, `batch["labels"]`
    shifted by one inside.
    """
    targets = batch.get("shift_labels")
    if targets is None:
        targets = F.pad(batch["labels"], (0, 1), value=IGNORE_INDEX)[:, 1:]  # (B, T)
    return token_example_stats(logits, targets)


@reports("loss", "accuracy")
def seq2seq_example_stats(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same per-example sums for an encoder-decoder, whose `labels` are aligned with the logits
    (the decoder reads them shifted right). `accuracy` is the reference's token accuracy: correct
    predicted target tokens, [EOS] included, padding excluded."""
    return token_example_stats(logits, batch["labels"])


def token_example_stats(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """logits `(B, T, V)`, targets `(B, T)` (-100 ignored) -> summed loss, correct tokens, token count per example."""
    logits = logits.float()
    valid = targets != IGNORE_INDEX  # (B, T)
    token_loss = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none")
    correct = (logits.argmax(-1) == targets) & valid  # (B, T)
    return {
        "loss": token_loss.sum(dim=1),  # (B,)
        "accuracy": correct.sum(dim=1).float(),  # (B,)
        "count": valid.sum(dim=1).float(),  # (B,)
    }


@reports("mse", "mae")
def regression_example_stats(predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Squared and absolute error per example (`predictions` `(B,)` or `(B, 1)`)."""
    error = predictions.float().reshape(-1) - batch["labels"].float().reshape(-1)  # (B,)
    return {"mse": error.square(), "mae": error.abs(), "count": torch.ones_like(error)}


@reports("loss", "accuracy")
def classification_example_stats(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Loss, correctness and a one-hot (true, predicted) cell per example: summed over a set, the
    cells give the confusion matrix (`confusion_matrix_from_metrics`), hence F1."""
    labels = batch["labels"]  # (B,)
    num_classes = logits.shape[-1]
    predictions = logits.argmax(-1)  # (B,)
    cells = F.one_hot(labels * num_classes + predictions, num_classes * num_classes).float()  # (B, C*C)
    stats = {
        "loss": F.cross_entropy(logits.float(), labels, reduction="none"),  # (B,)
        "accuracy": (predictions == labels).float(),  # (B,)
        "count": torch.ones_like(labels, dtype=torch.float),
    }
    stats.update({f"confusion_{i}": cells[:, i] for i in range(num_classes * num_classes)})
    return stats


def confusion_matrix_from_metrics(metrics: dict[str, float], num_classes: int) -> np.ndarray:
    """Rows = true class, columns = predicted, in examples (from `classification_example_stats`)."""
    cells = [metrics[f"confusion_{i}"] * metrics["count"] for i in range(num_classes * num_classes)]
    return np.rint(np.array(cells)).astype(int).reshape(num_classes, num_classes)


def macro_f1(confusion: np.ndarray) -> float:
    true_positive = np.diag(confusion).astype(float)
    precision = true_positive / np.maximum(confusion.sum(axis=0), 1)
    recall = true_positive / np.maximum(confusion.sum(axis=1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return float(f1.mean())


def classification_summary(metrics: dict[str, float], num_classes: int) -> dict:
    """Accuracy, macro-F1, loss, example count and confusion matrix from reduced classification stats."""
    confusion = confusion_matrix_from_metrics(metrics, num_classes)
    return {"accuracy": metrics["accuracy"], "f1_macro": macro_f1(confusion), "loss": metrics["loss"],
            "examples": int(metrics["count"]), "confusion": confusion.tolist()}


def bits_per_char(loss_nats: float) -> float:
    return loss_nats / math.log(2)


def perplexity(loss_nats: float) -> float:
    return math.exp(loss_nats)


def classification_scores(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """`classification_summary` of logits `(N, C)` against labels `(N,)`, plus `correct`: 1 or 0 per
    example, in order, so that two models scored on the same texts can be compared text by text
    (`hf_nlp.evaluation.significance`)."""
    stats = classification_example_stats(logits, {"labels": labels})
    return classification_summary(reduce_example_stats(stats), num_classes) | \
        {"correct": stats["accuracy"].int().tolist()}


def evaluate_classifier(scorer, model, dataset, num_classes: int, collate=None) -> dict:
    """`classification_scores` of `model` on every example of `dataset` (a `labels` column), through
    `scorer.predict` (a `hf_nlp.training.scoring.Scorer` or a `Trainer`: its step's forward applies)."""
    return classification_scores(scorer.predict(model, dataset, collate), torch.tensor(dataset["labels"]),
                                 num_classes)


def evaluate_text_classifier(scorer, model, encoded, reading: TextReading, tokenizer, num_classes: int,
                             splits: tuple[str, ...] = ("validation", "test")) -> dict[str, dict]:
    """Per-text classification scores of `model` on each split of `encoded` (`tokenize_texts` rows), each
    text read as `reading` says: truncated (one row per text), pooled windows (the model pools them itself),
    or windows scored one by one and pooled here by mean probability. Pooled readings add `windows`."""
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    scores = {}
    for split in splits:
        documents, labels = encoded[split]["document"], encoded[split]["labels"]
        text_labels = [labels[i] for i in range(len(documents)) if i == 0 or documents[i] != documents[i - 1]]
        if not reading.windows:
            scores[split] = evaluate_classifier(scorer, model, encoded[split].remove_columns("document"),
                                                num_classes, collate)
        elif reading.pooling == "logits":
            texts = group_windows_by_text(encoded[split])
            scores[split] = evaluate_classifier(scorer, model, texts, num_classes, WindowGroupCollator(tokenizer)) \
                | {"windows": len(documents)}
        else:
            scores[split] = evaluate_by_text(scorer, model, encoded[split].remove_columns(["document", "labels"]),
                                             documents, text_labels, num_classes, collate, reading.pooling)
    return scores


def evaluate_by_text(scorer, model, windows, documents: list[int], labels: list[int], num_classes: int,
                     collate=None, pooling: Literal["probabilities", "logits"] = "probabilities") -> dict:
    """Classification metrics per text, each text scored by pooling its windows (`pool_window_logits`;
    `scorer` as in `evaluate_classifier`; `documents[i]` is the text of window i)."""
    logits = pool_window_logits(scorer.predict(model, windows, collate), torch.tensor(documents),
                                pooling)  # (texts, C)
    return classification_scores(logits, torch.tensor(labels), num_classes) | {"windows": len(documents)}
