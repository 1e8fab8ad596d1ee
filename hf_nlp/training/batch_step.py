"""The loop's one extension point: what a task does with one batch.

The loop knows no task. A `BatchStep` tells it how to call the model on a batch (and whether a
state is carried from one batch to the next) and which per-example statistics to sum for
evaluation. Two implementations exist:

- `StatelessStep(example_stats, forward=None)`, here: `model(**batch)` (or `forward(model, batch)`,
  e.g. pooling a text's windows into one prediction, `hf_nlp.text.long_texts`). Every
  recipe but stateful char-RNN training uses it.
- `hf_nlp.models.recurrent_state.StatefulRNNStep`, living with the models: each batch continues the
  streams of the previous one, its returned RNN state passed back in, detached.

Because the stateful step calls the model itself, a custom `forward` and carried state cannot be
combined by accident: a task that needs both writes one step that does both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch

ExampleStats = Callable[[torch.Tensor, dict[str, torch.Tensor]], dict[str, torch.Tensor]]
"""(logits, batch) -> per-example sums, each `(B,)`, with a `count`; the loop sums them over a set and
divides by the summed count (`hf_nlp.training.scoring.reduce_example_stats`). Functions marked with
`metric_names` (see `hf_nlp.evaluation.metrics.reports`) let a config naming another metric be
refused before training."""
ModelForward = Callable[[torch.nn.Module, dict[str, torch.Tensor]], Any]


class BatchStep(Protocol):
    """What the loop needs from a task (duck-typed: the models package implements it without importing
    this module)."""

    carries_state: bool
    """True: batches on each process continue the previous batch's streams; the loop keeps the state
    returned by `__call__`, resets it at every epoch and evaluation start, drops the last partial batch,
    and saves the state in checkpoints (`carried_tensors` / `restore_carried`)."""

    @property
    def metric_names(self) -> tuple[str, ...] | None: ...

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], carried: Any) -> tuple[Any, Any]:
        """(outputs with `.loss` and `.logits`, the state to carry into the next batch or None)."""

    def example_stats(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...

    def carried_tensors(self, carried: Any) -> dict[str, torch.Tensor]:
        """The carried state as named tensors (for safetensors); only called when `carries_state`."""

    def restore_carried(self, tensors: dict[str, torch.Tensor], model: torch.nn.Module, device: torch.device) -> Any:
        """The inverse of `carried_tensors`, for `model` (unwrapped) on `device`."""


@dataclass(frozen=True)
class StatelessStep:
    """`model(**batch)`, or `forward(model, batch)` when given, with nothing carried between batches."""

    example_stats: ExampleStats
    forward: ModelForward | None = None
    carries_state: ClassVar[bool] = False

    @property
    def metric_names(self) -> tuple[str, ...] | None:
        return getattr(self.example_stats, "metric_names", None)

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], carried: Any = None) -> tuple[Any, None]:
        outputs = self.forward(model, batch) if self.forward is not None else model(**batch)
        return outputs, None

    def carried_tensors(self, carried: Any) -> dict[str, torch.Tensor]:
        raise TypeError("a StatelessStep carries no state")

    def restore_carried(self, tensors: dict[str, torch.Tensor], model: torch.nn.Module, device: torch.device) -> Any:
        raise TypeError("a StatelessStep carries no state")


__all__ = ["BatchStep", "ExampleStats", "ModelForward", "StatelessStep"]
