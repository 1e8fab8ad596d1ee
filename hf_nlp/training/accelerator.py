"""One `Accelerator` per process, created once and shared by every trainer and scorer.

accelerate keeps its state (process group, device, mixed precision, gradient accumulation) in
process-wide singletons, so a second `Accelerator(...)` with other settings silently fights the
first. Here the first call builds it; later calls reuse it, updating what may change between two
trainings of one run (gradient accumulation, the data-order seed). A different mixed precision in
one process rebuilds it when the process runs alone (tests, notebooks, `hf-nlp evaluate`) and is
refused in a multi-process run, where rebuilding would tear down the process group.
"""

from __future__ import annotations

import logging
import os

import torch
from accelerate import Accelerator, DataLoaderConfiguration

from hf_nlp.errors import UserError

logger = logging.getLogger(__name__)

_shared: Accelerator | None = None


def shared_accelerator(mixed_precision: str = "no", gradient_accumulation_steps: int = 1,
                       data_seed: int = 42) -> Accelerator:
    """The process' Accelerator, set to these values (see the module docstring)."""
    global _shared
    if _shared is not None and _shared.mixed_precision != mixed_precision:
        if _shared.num_processes > 1:
            raise UserError(f"this run already trains with mixed precision `{_shared.mixed_precision}`; give every "
                            f"training section the same `mixed_precision` (got `{mixed_precision}`).")
        logger.info("mixed precision %s -> %s: rebuilding the Accelerator", _shared.mixed_precision, mixed_precision)
        reset_shared_accelerator()
    if _shared is None:
        _shared = Accelerator(
            # Launched as several processes (torchrun) on a machine without a GPU: accelerate joins them over
            # gloo only when told to use the CPU; otherwise each would run alone, all as process 0, writing
            # the same checkpoint files.
            cpu=int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available(),
            mixed_precision=mixed_precision,
            gradient_accumulation_steps=gradient_accumulation_steps,
            # Shuffling seeded by `seed + epoch` on every process: the data order is a pure function of
            # (seed, epoch), which is what makes resuming exact.
            # Non-blocking copies to the device: with the pinned batches the loop makes on CUDA, the next
            # batch's copy overlaps the current step (a no-op on CPU).
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=data_seed,
                                                      non_blocking=True),
            step_scheduler_with_optimizer=False,
        )
    else:
        _shared.gradient_accumulation_steps = gradient_accumulation_steps
        _shared.dataloader_config.data_seed = data_seed
        _shared.step = 0  # a new training counts its micro-batches from zero
    return _shared


def pins_batches(device: torch.device) -> bool:
    """Whether DataLoaders build batches in page-locked memory: on CUDA only, where with the non-blocking
    copies set above a batch's copy to the GPU runs beside the compute (pinning on CPU only costs)."""
    return device.type == "cuda"


def reset_shared_accelerator() -> None:
    """Forget the shared Accelerator and accelerate's process-wide state (single-process use only)."""
    global _shared
    from accelerate.state import AcceleratorState, GradientState

    _shared = None
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


__all__ = ["pins_batches", "shared_accelerator", "reset_shared_accelerator"]
