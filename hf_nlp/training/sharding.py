"""Fully sharded data parallel training (torch's FSDP2, `fully_shard`) in the shared loop.

An accelerate config with `distributed_type: FSDP` and `fsdp_version: 2` asks for it
(`recipes/accelerate/fsdp2.yaml`). On GPUs accelerate shards the model itself in `prepare`. On CPU
processes accelerate 1.16 runs plain DDP instead (it turns FSDP on for GPU-like devices only), so
there the loop shards the model the way accelerate's transformer-based wrap policy does: each block
the model names in `_no_split_modules` (a BERT layer, a Marian encoder or decoder layer), then the
whole model, over the process group (gloo on CPU).

Either way each process holds 1/N of every parameter, of its gradient and of its optimizer state.
What the loop writes does not change: checkpoints and the best model hold full tensors, gathered
from every process (`torch.distributed.checkpoint.state_dict`, `full_state_dict`), so a sharded run's
best model loads with `from_pretrained` anywhere, and a resumed run takes the full tensors from the
main process, which hands each process its shard.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from hf_nlp.errors import UserError

_GATHER = StateDictOptions(full_state_dict=True, cpu_offload=True)
"""Full tensors, on the CPU of the main process only (the others get an empty dict)."""
_SCATTER = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
"""Full tensors given by the main process, sent shard by shard to the others."""


def fsdp_requested(accelerator: Accelerator) -> bool:
    """Whether this run shards its model: launched with an FSDP config (on GPUs accelerate says so; on
    CPU only its launcher's environment does)."""
    on_gpus = accelerator.distributed_type == DistributedType.FSDP
    on_cpus = (accelerator.distributed_type == DistributedType.MULTI_CPU
               and os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true")
    # accelerate's own default is FSDP1 (`fsdp_version` absent from the config), which shards and
    # gathers differently: refuse it rather than half-work.
    version_2 = accelerator.is_fsdp2 if on_gpus else os.environ.get("FSDP_VERSION", "1") == "2"
    if (on_gpus or on_cpus) and not version_2:
        raise UserError("the training loop shards models with FSDP2; set `fsdp_version: 2` in the accelerate config "
                        "(recipes/accelerate/fsdp2.yaml).")
    return on_gpus or on_cpus


def shard(model: torch.nn.Module, mixed_precision: str = "no") -> torch.nn.Module:
    """`model` sharded in place over the default process group: each of its `_no_split_modules` blocks,
    then the rest. bf16 computes in bfloat16 from float32 shards and reduces gradients in float32."""
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
        if mixed_precision == "bf16" else MixedPrecisionPolicy()
    block_names = set(getattr(model, "_no_split_modules", None) or ())
    blocks = [module for module in model.modules() if type(module).__name__ in block_names]
    for block in blocks:
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


def gather_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The full weights, on the main process' CPU ({} on the others). Every process must call it."""
    return get_model_state_dict(model, options=_GATHER)


def gather_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The full optimizer state keyed by parameter name, on the main process ({} on the others). Every
    process must call it."""
    return get_optimizer_state_dict(model, _inner(optimizer), options=_GATHER)


def scatter_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load full weights `state` given on the main process (the others pass {}) into every shard."""
    set_model_state_dict(model, state, options=_SCATTER)


def scatter_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load the full optimizer state `state` given on the main process (the others pass {})."""
    set_optimizer_state_dict(model, _inner(optimizer), state, options=_SCATTER)


def _inner(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    return getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer wraps the torch one


__all__ = ["fsdp_requested", "shard", "gather_model_state", "gather_optimizer_state",
           "scatter_model_state", "scatter_optimizer_state"]
