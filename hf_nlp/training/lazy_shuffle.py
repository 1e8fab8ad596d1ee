"""A shuffled order of a dataset too large to hold its permutation in memory.

torch's `RandomSampler` draws `torch.randperm(n).tolist()`: 36 bytes per example, so the 90M
training windows of a 100 MB text cost 3.2 GB and those of a 1 GB text 36 GB, before a single
batch. `LazyPermutationSampler` computes the same kind of order on the fly: position `i` of the
epoch maps to example `permute(i)`, where `permute` is a keyed Feistel network on the next power of
four above `n`, walked until it lands inside `range(n)` (cycle walking keeps it a bijection of
`range(n)`). Every example is visited exactly once per epoch; the order is a pure function of
(seed, epoch), so every process of a distributed run draws the same order and a resumed run
replays it; memory is one block of indices.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

LAZY_SHUFFLE_ABOVE = 2**22
"""Datasets with more examples than this are shuffled lazily by the loop (4.2M: a 150 MB index list)."""
_ROUNDS = 4
_BLOCK = 2**16  # positions permuted per numpy call


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a well-spread 64-bit hash of each element (uint64 arithmetic wraps)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class FeistelPermutation:
    """A bijection of `range(n)` drawn from `keys`; applied to arrays of positions at once."""

    def __init__(self, n: int, seed: int, epoch: int = 0):
        self.n = n
        self.half_bits = max(1, (max(n - 1, 1).bit_length() + 1) // 2)  # 2**(2 * half_bits) >= n
        self.mask = np.uint64((1 << self.half_bits) - 1)
        self.keys = np.random.SeedSequence([seed, epoch]).generate_state(_ROUNDS, dtype=np.uint64)

    def _rounds(self, x: np.ndarray) -> np.ndarray:
        shift = np.uint64(self.half_bits)
        left, right = x >> shift, x & self.mask
        for key in self.keys:
            left, right = right, left ^ (_mix(right ^ key) & self.mask)
        return (left << shift) | right

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        out = self._rounds(positions.astype(np.uint64))
        outside = out >= self.n
        while outside.any():  # cycle walking: at most a few rounds, the domain is under 4n
            out[outside] = self._rounds(out[outside])
            outside = out >= self.n
        return out.astype(np.int64)


class LazyPermutationSampler(Sampler[int]):
    """Every index of `range(n)` once per epoch, in an order seeded by (seed, epoch), never all in memory."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        permute = FeistelPermutation(self.n, self.seed, self.epoch)
        for start in range(0, self.n, _BLOCK):
            yield from permute(np.arange(start, min(start + _BLOCK, self.n), dtype=np.uint64)).tolist()


__all__ = ["FeistelPermutation", "LAZY_SHUFFLE_ABOVE", "LazyPermutationSampler"]
