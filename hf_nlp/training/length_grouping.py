"""Batches of similar length, in an order that is a pure function of (seed, epoch), held in numpy.

The order is exactly transformers' `get_length_grouped_indices` (a seeded permutation cut into
mega-batches of 50 batches, each sorted by length, longest first, the longest example of all moved to
the front): a resumed run, and any run from before this module, sees the same batches. transformers
builds it as Python lists (the lengths, then every index, twice): 10M examples cost about 1 GB there;
here the lengths and the order are two int64 arrays (160 MB).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler


def length_grouped_indices(lengths: np.ndarray, batch_size: int, generator: torch.Generator) -> np.ndarray:
    """(N,) example indices such that each run of `batch_size` holds examples of similar length."""
    n = len(lengths)
    megabatch = (min(n // (batch_size * 4), 50) or 1) * batch_size  # 50 batches, or 4 mega-batches when fewer
    permutation = torch.randperm(n, generator=generator).numpy()
    order = np.empty(n, dtype=np.int64)
    for start in range(0, n, megabatch):
        chunk = permutation[start : start + megabatch]
        # Longest first; a stable sort keeps equal lengths in permutation order, as Python's sorted(reverse=True).
        order[start : start + megabatch] = chunk[np.argsort(-lengths[chunk], kind="stable")]
    longest = int(np.argmax(lengths[order[::megabatch]])) * megabatch  # the first of the longest mega-batch
    order[0], order[longest] = order[longest], order[0]
    return order


class LengthGroupedSampler(Sampler[int]):
    """`length_grouped_indices`, reshuffled every epoch from `seed + epoch`, so a resumed run replays it."""

    def __init__(self, batch_size: int, lengths: Sequence[int] | np.ndarray, seed: int):
        self.batch_size = batch_size
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return map(int, length_grouped_indices(self.lengths, self.batch_size, generator))


__all__ = ["LengthGroupedSampler", "length_grouped_indices"]
