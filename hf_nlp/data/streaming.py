"""A corpus read as a stream (`--data.streaming true`) that a killed run resumes exactly.

`ResumableStream` wraps a `datasets.IterableDataset` (e.g. `load_dataset("csv", ..., streaming=True)`,
which reads a file of any size in Arrow batches and keeps almost nothing in memory) and gives the
training loop a torch `IterableDataset`:

- **rows**: `prepare(row_number, example)` turns each source row into a training example, or drops it
  (None): the split filter and the label mapping, with the row number for one-sentence errors;
- **shuffling** through a buffer of `buffer_size` examples, seeded by `seed + epoch`: each new row
  replaces a randomly chosen one, which is yielded; at the end the buffer empties in random order;
- **processes**: every process reads the same stream and keeps its own `batch_size` slice of each
  global batch (`batch_size x processes` examples); with several processes a last incomplete global
  batch is dropped, so all processes run the same number of steps (DDP would wait forever otherwise);
- **state**: `state_dict()` (JSON) is the source's own `state_dict()` (its shard and row), the shuffle
  buffer's content, the generator's state, the epoch and the rows read. `load_state_dict()` makes the
  next iteration continue from there with the same examples in the same order.

Why not `IterableDataset.shuffle(buffer_size)`: datasets does not save its shuffle buffer (its
`state_dict()` docs: "examples from shuffle buffers are lost when resuming"), so a resumed run would
train on other examples than an uninterrupted one. Saving the buffer costs `buffer_size` examples per
checkpoint and process (10,000 reviews: about 10 MB of JSON).

The state is exact at batch boundaries, where the loop saves it: a whole global batch is drawn from
the buffer before this process' slice of it is yielded, and a `DataLoader` without workers draws
nothing ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

import numpy as np
import torch.utils.data

Example = dict[str, Any]
Prepare = Callable[[int, Example], Example | None]


class ResumableStream(torch.utils.data.IterableDataset):
    """Prepared, shuffled examples of `source` for one process (see the module docstring)."""

    def __init__(self, source, prepare: Prepare, batch_size: int, seed: int, buffer_size: int = 10_000,
                 num_processes: int = 1, process_index: int = 0):
        """`source` is a `datasets.IterableDataset` (anything with `__iter__`, `set_epoch`, `state_dict`
        and `load_state_dict`); `buffer_size` 1 keeps the file's order."""
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        self.source = source
        self.prepare = prepare
        self.batch_size = batch_size
        self.seed = seed
        self.buffer_size = buffer_size
        self.num_processes = num_processes
        self.process_index = process_index
        self.epoch = 0
        self._pending: dict | None = None  # a loaded state, used by the next iteration
        self._buffer: list[Example] = []
        self._rng = np.random.default_rng(seed)
        self._rows_read = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict[str, Any]:
        """Where the current iteration stands (valid between batches), as JSON-ready values."""
        return {"epoch": self.epoch, "rows_read": self._rows_read, "source": self.source.state_dict(),
                "buffer": list(self._buffer), "rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Make the next iteration continue from `state` (what `state_dict()` returned)."""
        self._pending = state
        self.epoch = state["epoch"]

    def __iter__(self) -> Iterator[Example]:
        state, self._pending = self._pending, None
        self.source.set_epoch(self.epoch)
        if state is None:
            self.source.load_state_dict(None)  # from the first row
            self._buffer, self._rows_read = [], 0
            self._rng = np.random.default_rng([self.seed, self.epoch])
        else:
            self.source.load_state_dict(state["source"])
            self._buffer, self._rows_read = list(state["buffer"]), state["rows_read"]
            self._rng = np.random.default_rng()
            self._rng.bit_generator.state = state["rng"]
        shuffled = self._shuffled()
        size = self.batch_size * self.num_processes
        mine = slice(self.process_index * self.batch_size, (self.process_index + 1) * self.batch_size)
        while global_batch := list(islice(shuffled, size)):
            if len(global_batch) < size and self.num_processes > 1:
                return  # every process stops here: none may run a step the others do not
            yield from global_batch[mine]

    def _shuffled(self) -> Iterator[Example]:
        """The prepared rows through the shuffle buffer. The buffer, generator and source state are
        consistent whenever this generator is suspended, which is what `state_dict()` reads."""
        buffer, rng = self._buffer, self._rng
        for example in self.source:
            row, self._rows_read = self._rows_read, self._rows_read + 1
            prepared = self.prepare(row, example)
            if prepared is None:
                continue
            if len(buffer) < self.buffer_size:
                buffer.append(prepared)
                continue
            index = int(rng.integers(self.buffer_size))
            out, buffer[index] = buffer[index], prepared
            yield out
        while buffer:  # the source is read: empty the buffer in random order
            index = int(rng.integers(len(buffer)))
            buffer[index], buffer[-1] = buffer[-1], buffer[index]
            yield buffer.pop()


__all__ = ["ResumableStream"]
