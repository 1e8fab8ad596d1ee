"""How many torch threads each training process uses on CPU.

`accelerate launch` on a machine without a GPU counts zero processes and pins OMP_NUM_THREADS to
1 for the one it starts, so a recipe launched the documented way would train on a single core.
The rule here is the one accelerate itself applies to `--cpu` launches: the physical cores,
shared evenly among the processes on this machine.
"""

from __future__ import annotations

import os

import psutil
import torch


def cpu_threads_per_process(requested: int | None = None, local_processes: int | None = None) -> int:
    """`requested` when set; otherwise physical cores // local processes (at least 1), the processes
    being `local_processes` or, by default, this launch's (`LOCAL_WORLD_SIZE`)."""
    if requested is not None:
        return requested
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    if local_processes is None:
        local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(cores // max(local_processes, 1), 1)


def use_cpu_threads(requested: int | None = None) -> int:
    """Set torch's intra-op threads by `cpu_threads_per_process`; returns the number set."""
    threads = cpu_threads_per_process(requested)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
