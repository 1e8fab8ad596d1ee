"""Activation (gradient) checkpointing for the pretrained transformers the recipes train.

Each transformer layer's activations are recomputed in the backward pass instead of being kept from
the forward one: activation memory holds one layer's worth instead of all of them, for about a third
more compute. That buys longer texts or bigger batches on a GPU. The recurrent models have no such
switch, because `nn.LSTM` / `nn.GRU` keep their own state for the backward pass.
"""

from __future__ import annotations

from transformers import PreTrainedModel


def enable_activation_checkpointing(model: PreTrainedModel) -> None:
    """Checkpoint every layer of `model`, non-reentrant (the variant torch recommends; it works with
    frozen inputs and DDP). Later transformers 5 releases call this `activation_checkpointing_enable`
    and warn on the older name `gradient_checkpointing_enable`; earlier 5.x releases (such as the GPU
    image's 5.17) have only the older name."""
    options = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)


__all__ = ["enable_activation_checkpointing"]
