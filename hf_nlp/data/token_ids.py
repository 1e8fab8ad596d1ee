"""Token ids kept in a flat binary file and read by offset: a corpus of any size at no memory cost.

The file holds one unsigned integer per token (`uint8` while the vocabulary fits in 256 ids,
else `uint16`), as nanoGPT's `prepare.py` writes them. Reads go through `os.pread` rather than a
memory map: the pages a run touches then stay in the OS page cache, shared and reclaimable,
instead of counting towards the training process' resident memory as mapped pages do, so a
long random-window run over a 1 GB corpus does not grow its RSS by the size of the file.

`TokenIds` slices like a 1-D tensor (`ids[start:stop]` gives a `LongTensor`), so the window
datasets in `char_windows` take either one.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch


def id_dtype(vocab_size: int) -> np.dtype:
    """The narrowest unsigned type holding ids `0 .. vocab_size - 1`."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if vocab_size <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    raise ValueError(f"a vocabulary of {vocab_size:,} ids does not fit in 32 bits")


@functools.lru_cache(maxsize=64)
def _descriptor(path: str, stamp: tuple[int, int], pid: int) -> int:
    # One descriptor per file version and process: `stamp` (inode, mtime) tells a rebuilt cache file from the
    # one it replaced, and `pid` gives a forked DataLoader worker its own.
    return os.open(path, os.O_RDONLY)


@dataclass(frozen=True)
class TokenIds:
    """Ids `start .. start + length - 1` of the file at `path` (one split of a corpus)."""

    path: str
    dtype: str
    start: int
    length: int
    stamp: tuple[int, int] = (0, 0)
    """The file's (inode, mtime in ns) when this was made; set by `token_ids_file`."""

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: slice) -> torch.Tensor:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("TokenIds reads contiguous slices only, e.g. ids[start:stop]")
        begin, end, _ = index.indices(self.length)
        return self.read(begin, max(end - begin, 0))

    def read(self, offset: int, count: int) -> torch.Tensor:
        """`count` ids from `offset` (relative to this split) as a `LongTensor` of shape (count,)."""
        itemsize = np.dtype(self.dtype).itemsize
        raw = os.pread(_descriptor(self.path, self.stamp, os.getpid()), count * itemsize, (self.start + offset) * itemsize)
        return torch.from_numpy(np.frombuffer(raw, dtype=self.dtype).astype(np.int64))

    def head(self, length: int) -> TokenIds:
        """The first `length` ids (all of them if there are fewer)."""
        return replace(self, length=min(length, self.length))



def token_ids_file(path: Path, dtype: np.dtype) -> TokenIds:
    """The whole file as one run of ids."""
    stat = path.stat()
    return TokenIds(str(path), np.dtype(dtype).name, 0, stat.st_size // np.dtype(dtype).itemsize,
                    (stat.st_ino, stat.st_mtime_ns))

    
def split_token_ids(ids: TokenIds, sizes: dict[str, int]) -> dict[str, TokenIds]:
    """Consecutive runs of `ids`, one per name, of the given sizes (train, validation, test)."""
    splits, start = {}, ids.start
    for name, size in sizes.items():
        splits[name] = replace(ids, start=start, length=size)
        start += size
    return splits


__all__ = ["TokenIds", "id_dtype", "split_token_ids", "token_ids_file"]
