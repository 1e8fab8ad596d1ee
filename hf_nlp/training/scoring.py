"""Scoring a model on whole datasets, with or without a training run.

`Scorer(step, batch_size)` is what `hf-nlp evaluate` uses (no run folder, no optimizer) and what
`Trainer.evaluate` / `Trainer.predict` delegate to. Every example is counted once across processes:
per-example tensors are gathered with `gather_for_metrics`, which drops the examples duplicated to
even out the last batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, Dataset

from hf_nlp.training.accelerator import pins_batches, shared_accelerator
from hf_nlp.training.batch_step import BatchStep


def reduce_example_stats(stats: dict[str, torch.Tensor]) -> dict[str, float]:
    """Sum per-example statistics and divide by the summed `count` (reported as the total)."""
    total = stats["count"].sum().item()
    metrics = {name: values.sum().item() / max(total, 1.0) for name, values in stats.items() if name != "count"}
    metrics["count"] = total
    return metrics


def evaluation_loader(dataset: Dataset, step: BatchStep, batch_size: int, device: torch.device,
                      collate_fn=None) -> DataLoader:
    """Batches of `dataset` in order, for the model on `device`."""
    # Carried state needs equal batches (each row is one stream); otherwise every example is kept.
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn,
                      drop_last=step.carries_state, pin_memory=pins_batches(device))


@torch.no_grad()
def score_batches(model: torch.nn.Module, loader, step: BatchStep, accelerator: Accelerator) -> dict[str, float]:
    """Metrics of a prepared `model` over a prepared `loader`; carried state starts afresh. The
    per-example statistics stay on the device until the last batch (one read, not one per batch)."""
    model.eval()
    carried: Any = None
    gathered: dict[str, list[torch.Tensor]] = {}
    for batch in loader:
        outputs, carried = step(model, batch, carried)
        stats = step.example_stats(outputs.logits, batch)
        for name, values in accelerator.gather_for_metrics(stats).items():
            gathered.setdefault(name, []).append(values)
    return reduce_example_stats({name: torch.cat(parts).cpu() for name, parts in gathered.items()})


@dataclass
class Scorer:
    """Evaluate or predict with one `BatchStep` on the process' shared Accelerator."""

    step: BatchStep
    batch_size: int = 256
    accelerator: Accelerator = field(default_factory=shared_accelerator)

    def evaluate(self, model: torch.nn.Module, dataset: Dataset, collate_fn=None) -> dict[str, float]:
        """Metrics over a whole set, gathered across processes (each example counted once)."""
        model = self.accelerator.prepare_model(model, evaluation_mode=True)
        return score_batches(model, self._loader(dataset, collate_fn), self.step, self.accelerator)

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, dataset: Dataset, collate_fn=None) -> torch.Tensor:
        """Float logits for every example of `dataset`, in order, gathered across processes: `(N, ...)`
        (each example once). Examples must give logits of one shape; nothing is carried."""
        model = self.accelerator.prepare_model(model, evaluation_mode=True)
        model.eval()
        parts = [self.accelerator.gather_for_metrics(self.step(model, batch, None)[0].logits.float())
                 for batch in self._loader(dataset, collate_fn)]
        return torch.cat(parts).cpu()  # one read of the device, after the last batch

    def _loader(self, dataset: Dataset, collate_fn) -> DataLoader:
        return self.accelerator.prepare(
            evaluation_loader(dataset, self.step, self.batch_size, self.accelerator.device, collate_fn))


__all__ = ["Scorer", "evaluation_loader", "reduce_example_stats", "score_batches"]
