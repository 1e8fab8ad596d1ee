"""Carry RNN state in a transformers `DynamicCache`, so `generate()` and pipelines work on our RNNs.

Each RNN layer is one cache layer of type `"linear_attention"` (as Mamba's), holding its state
batch-first, `(B, H)`: slot 0 is h, slot 1 is c for an LSTM. Generation then copies
`outputs.cache` forward, and beam search reorders it with `index_select(0)` for free.

Pitfall handled here: `update_recurrent_state` does not set the layer's `has_previous_state`,
and `get_recurrent_state` returns None until it is set, so without `_mark_filled` every step
would silently start from zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from transformers import DynamicCache

# nn.GRU / nn.RNN state: (num_layers, B, H); nn.LSTM state: a (h, c) pair of those.
RNNState = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def read_rnn_state(cache: DynamicCache | None, num_layers: int, is_lstm: bool) -> RNNState | None:
    """The state stored in `cache`, shaped for `nn.GRU`/`nn.LSTM`, or None if it holds none yet."""
    if cache is None:
        return None
    slots = range(2 if is_lstm else 1)
    per_slot = []
    for slot in slots:
        layers = [cache.get_recurrent_state(layer, state_idx=slot) for layer in range(num_layers)]
        if any(state is None for state in layers):
            return None
        per_slot.append(torch.stack(layers, dim=0))  # (L, B, H)
    return (per_slot[0], per_slot[1]) if is_lstm else per_slot[0]


def write_rnn_state(cache: DynamicCache, state: RNNState) -> None:
    """Store an `nn.GRU`/`nn.LSTM` final state in `cache`, one cache layer per RNN layer."""
    slots = state if isinstance(state, tuple) else (state,)
    for slot, tensor in enumerate(slots):  # tensor: (L, B, H)
        for layer in range(tensor.shape[0]):
            cache_layer = cache.layers[layer]
            if cache_layer.is_recurrent_states_initialized[slot] and (
                cache_layer.recurrent_states[slot].shape != tensor[layer].shape
            ):
                # The batch changed (a smaller last batch): start this slot afresh instead of copying in place.
                cache_layer.is_recurrent_states_initialized[slot] = False
            cache.update_recurrent_state(tensor[layer], layer, state_idx=slot)
            cache_layer.has_previous_state[slot] = True  # see the module docstring


def detach_rnn_state(cache: DynamicCache | None) -> DynamicCache | None:
    """Cut the autograd history of a carried state (truncated backprop through time)."""
    if cache is None:
        return None
    for layer in cache.layers:
        for slot, state in layer.recurrent_states.items():
            if state is not None:
                layer.recurrent_states[slot] = state.detach()
    return cache


@dataclass(frozen=True)
class StatefulRNNStep:
    """Stateful RNN training as a `hf_nlp.training.batch_step.BatchStep`: each batch continues the
    streams of the previous one, so the RNN state the model returns in `outputs.cache` goes into the
    next call, detached (truncated backprop through time). The loop resets it at every epoch and
    evaluation start and saves it in checkpoints through `carried_tensors` / `restore_carried`."""

    example_stats: Callable[[torch.Tensor, dict[str, torch.Tensor]], dict[str, torch.Tensor]]
    carries_state: ClassVar[bool] = True

    @property
    def metric_names(self) -> tuple[str, ...] | None:
        return getattr(self.example_stats, "metric_names", None)

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor],
                 carried: DynamicCache | None) -> tuple[object, DynamicCache | None]:
        outputs = model(**batch, cache=carried, use_cache=True)
        return outputs, detach_rnn_state(outputs.cache)

    @staticmethod
    def carried_tensors(cache: DynamicCache) -> dict[str, torch.Tensor]:
        """The carried cache as named tensors (`<layer>.<slot>`), for safetensors."""
        return {f"{layer_idx}.{slot}": t for layer_idx, layer in enumerate(cache.layers)
                for slot, t in layer.recurrent_states.items() if t is not None}

    @staticmethod
    def restore_carried(tensors: dict[str, torch.Tensor], model: torch.nn.Module, device: torch.device) -> DynamicCache:
        """Rebuild the carried cache `carried_tensors` gave, for `model` on `device`."""
        cache = DynamicCache(config=model.config)
        for name, tensor in tensors.items():
            layer_idx, slot = map(int, name.split("."))
            cache.update_recurrent_state(tensor.to(device), layer_idx, state_idx=slot)
            cache.layers[layer_idx].has_previous_state[slot] = True  # see the module docstring
        return cache
