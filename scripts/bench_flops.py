"""FLOPs of a training step, counted by torch (`FlopCounterMode`), and the share of the machine's
matmul peak (`bench_peak`) that a measured training rate reaches.

A GRU step is a few matrix products, so FLOPs per token are fixed by the model's sizes (char-RNN:
2 × 3 × (16×128 + 128×128) + 2 × 128 × 40 = 120,832 forward, ×3 with the backward pass); counting
them on a real forward + backward checks that arithmetic instead of trusting it.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from hf_nlp.models.fused_rnn import FusedGRU, FusedLSTM, set_rnn_backend

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `scripts`
from scripts import bench_peak  # noqa: E402


def training_flops(model: torch.nn.Module, batch: dict) -> int:
    """FLOPs of one forward + backward pass of `model` on `batch` (matmuls: what the peak measures).

    The count runs the recurrent layers on PyTorch's backend: the fused kernels do the same matmuls
    inside a C++ extension, where FlopCounterMode cannot see them."""
    backends = {module: module.backend for module in model.modules() if isinstance(module, (FusedGRU, FusedLSTM))}
    set_rnn_backend(model, "torch")
    model.train()
    with FlopCounterMode(display=False) as counter:
        model(**batch).loss.backward()
    model.zero_grad(set_to_none=True)
    for module, backend in backends.items():
        module.backend = backend
    return counter.get_total_flops()


@functools.cache
def peak_gflops(dtype: str = "float32") -> float:
    """The machine's matmul peak in `dtype` (GFLOP/s): the `peak` section's figure when it ran in this
    process, else measured now (a second or two)."""
    if dtype in bench_peak.MEASURED:
        return bench_peak.MEASURED[dtype]
    return max(bench_peak.matmul_gflops(size, getattr(torch, dtype), repeats=3) for size in (1024, 2048))


def share_of_peak(items_per_s: float, flops_per_item: float, dtype: str = "float32") -> float:
    """The fraction of the `dtype` matmul peak that `items_per_s` items of `flops_per_item` each reach."""
    return items_per_s * flops_per_item / (peak_gflops(dtype) * 1e9)
