"""Per-example statistics for evaluation, summed over the whole set by the training loop.

The loop gathers each per-example tensor with `gather_for_metrics` (so examples duplicated to even
out the last batch across processes are dropped), sums every statistic, and divides by the summed
`count`: a metric `m` is reported as `sum(m) / sum(count)`, and `count` itself is the total.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def causal_lm_example_stats(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Summed token loss (nats), correct next-token predictions and token count, per example.

    Targets are `batch["shift_labels"]` (aligned with the logits) or, HF style, `batch["labels"]`
    shifted by one inside.
    """
    targets = batch.get("shift_labels")
    if targets is None:
        targets = F.pad(batch["labels"], (0, 1), value=IGNORE_INDEX)[:, 1:]  # (B, T)
    logits = logits.float()  # (B, T, V)
    valid = targets != IGNORE_INDEX  # (B, T)
    token_loss = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none")
    correct = (logits.argmax(-1) == targets) & valid  # (B, T)
    return {
        "loss": token_loss.sum(dim=1),  # (B,)
        "accuracy": correct.sum(dim=1).float(),  # (B,)
        "count": valid.sum(dim=1).float(),  # (B,)
    }


def regression_example_stats(predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Squared and absolute error per example (`predictions` `(B,)` or `(B, 1)`)."""
    error = predictions.float().reshape(-1) - batch["labels"].float().reshape(-1)  # (B,)
    return {"mse": error.square(), "mae": error.abs(), "count": torch.ones_like(error)}


def reduce_example_stats(stats: dict[str, torch.Tensor]) -> dict[str, float]:
    """Sum per-example statistics and divide by the summed `count`."""
    total = stats["count"].sum().item()
    metrics = {name: values.sum().item() / max(total, 1.0) for name, values in stats.items() if name != "count"}
    metrics["count"] = total
    return metrics


def bits_per_char(loss_nats: float) -> float:
    return loss_nats / math.log(2)


def perplexity(loss_nats: float) -> float:
    return math.exp(loss_nats)
