"""Language-modelling windows over one long sequence of token ids (the char-RNN's data).

- `CharWindows`: window `i` starts at `i * stride`; `stride=1` is the reference's stateless
  training set (every offset, shuffled), `stride=window` gives non-overlapping evaluation windows.
- `StatefulWindows`: the text cut into contiguous streams, read window after window, so the RNN
  state at the end of one batch is the right initial state for the next (stateful training).

Both take the ids as a 1-D `LongTensor` or as `data.token_ids.TokenIds` (ids on disk, read by
offset: the corpus is never in memory). Each item is `{"input_ids": (window,), "shift_labels": (window,)}`: the targets are already
aligned with the inputs (`shift_labels[t] = ids[t + 1]`), so every position is trained on and
consecutive windows chain without losing a character.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from hf_nlp.data.token_ids import TokenIds
from hf_nlp.errors import UserError

Ids = torch.Tensor | TokenIds
"""A 1-D sequence of token ids that slices into `LongTensor`s."""


def _check_long_enough(num_ids: int, needed: int, what: str) -> None:
    if num_ids < needed:
        raise UserError(f"the {what} text has {num_ids:,} tokens, fewer than the {needed:,} needed; use more text or a smaller `--data.window`.")


class CharWindows(Dataset):
    def __init__(self, ids: Ids, window: int, stride: int = 1, what: str = "training"):
        _check_long_enough(len(ids), window + 1, what)
        self.ids = ids
        self.window = window
        self.stride = stride

    def __len__(self) -> int:
        return (len(self.ids) - self.window - 1) // self.stride + 1

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = index * self.stride
        chunk = self.ids[start : start + self.window + 1]  # (window + 1,)
        return {"input_ids": chunk[:-1], "shift_labels": chunk[1:]}


class StatefulWindows(Dataset):
    """Windows ordered so that a plain sequential `DataLoader(batch_size)` sharded round-robin over
    `num_processes` (accelerate's default) hands each process batches that continue its own streams.

    The ids are cut into `batch_size * num_processes` equal streams. Global batch `g = j * P + p`
    holds window `j` of the `batch_size` streams of process `p`; row `b` of that batch is always
    stream `p * batch_size + b`. The tail that does not fill a whole window is dropped.
    """

    def __init__(self, ids: Ids, window: int, batch_size: int, num_processes: int = 1, what: str = "training"):
        self.num_streams = batch_size * num_processes
        self.stream_length = (len(ids) - 1) // self.num_streams
        self.windows_per_stream = self.stream_length // window
        if self.windows_per_stream < 1:
            _check_long_enough(len(ids), self.num_streams * window + 1, f"{what} (stateful, {self.num_streams} streams)")
        self.ids = ids
        self.window = window
        self.batch_size = batch_size
        self.num_processes = num_processes

    def __len__(self) -> int:
        return self.windows_per_stream * self.num_streams

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        global_batch, row = divmod(index, self.batch_size)
        window_index, process = divmod(global_batch, self.num_processes)
        stream = process * self.batch_size + row
        start = stream * self.stream_length + window_index * self.window
        chunk = self.ids[start : start + self.window + 1]  # (window + 1,)
        return {"input_ids": chunk[:-1], "shift_labels": chunk[1:]}


def evaluation_heads(ids: dict[str, Ids], max_chars: int | None) -> dict[str, Ids]:
    """`ids` with validation and test cut to their first `max_chars` ids (None: unchanged)."""
    if max_chars is None:
        return ids
    return {split: split_ids if split == "train" else
            (split_ids.head(max_chars) if isinstance(split_ids, TokenIds) else split_ids[:max_chars])
            for split, split_ids in ids.items()}


def window_datasets(ids: dict[str, Ids], window: int, stateful: bool, batch_size: int, num_processes: int):
    """Train / validation / test windows: random offsets or streams for training, as configured."""
    if stateful:
        def streams(split, what):
            return StatefulWindows(ids[split], window, batch_size, num_processes, what=what)

        return streams("train", "training"), streams("validation", "validation"), streams("test", "test")
    return (
        CharWindows(ids["train"], window, stride=1, what="training"),
        CharWindows(ids["validation"], window, stride=window, what="validation"),
        CharWindows(ids["test"], window, stride=window, what="test"),
    )
