"""Whole-column work on Arrow datasets without Python lists of the corpus: reading columns in batches
without growing the process, token counts, and how many processes tokenize a split."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset
from datasets.table import ConcatenationTable, MemoryMappedTable, Table

PARALLEL_TOKENIZE_ROWS = 100_000
"""From a split of this many rows on, tokenization runs on every core (`datasets.map(num_proc=...)`):
below it, starting the processes costs more than it saves."""
MAX_TOKENIZE_PROCESSES = 8
READ_ROWS = 10_000
"""Rows per batch of `read_columns`."""
_SAME_DATA_REPLAYS = {"replace_schema_metadata"}
"""Operations `datasets` replays on a memory-mapped file that leave its rows and columns as stored."""


def tokenize_processes(rows: int) -> int | None:
    """`num_proc` for `map`-ing a tokenizer over a split of `rows` rows (None: this process)."""
    return min(os.cpu_count() or 1, MAX_TOKENIZE_PROCESSES) if rows >= PARALLEL_TOKENIZE_ROWS else None


def read_columns(dataset: Dataset, columns: Sequence[str], rows: int = READ_ROWS) -> Iterator[pa.Table]:
    """`columns` of `dataset`, in row order, as Arrow tables of `rows` rows (the last one shorter).

    A split that is whole cache files (what `load_from_disk` and `map` give) is read from its files
    with ordinary reads, not through its memory map: every mapped page a process touches counts in
    its peak RSS, so one pass over the 470 MB text column of 3M translation pairs grew the process
    by 180 MB, while a read buffer is freed with its batch. Any other split (an indices mapping, a
    slice, renamed or cast columns, in memory) is sliced through `datasets`, which follows all of it."""
    paths = _whole_files(dataset.data) if dataset._indices is None else None
    if paths is None:
        view = dataset.with_format("arrow", columns=list(columns))
        for start in range(0, len(dataset), rows):
            yield view[start : start + rows].select(list(columns))  # in the order asked
        return
    yield from _rebatch(_file_batches(paths, columns), rows)


def _whole_files(table: Table) -> list[str] | None:
    """The Arrow files `table` is, whole and unchanged, in order; None if it is anything else."""
    if isinstance(table, MemoryMappedTable):
        replays = {name for name, _, _ in table.replays or []}
        return [table.path] if replays <= _SAME_DATA_REPLAYS else None
    if isinstance(table, ConcatenationTable) and all(len(row) == 1 for row in table.blocks):
        paths = [_whole_files(row[0]) for row in table.blocks]  # a vertical concatenation of files
        return None if any(part is None for part in paths) else [path for part in paths for path in part]
    return None


def _file_batches(paths: list[str], columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    for path in paths:
        with pa.OSFile(path) as file:  # `datasets` writes the IPC stream format
            for batch in pa.ipc.open_stream(file):
                yield batch.select(list(columns))


def _rebatch(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly `rows` rows (the last one shorter) from record batches of any sizes, zero-copy."""
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        while batch.num_rows:
            taken = batch.slice(0, rows - pending_rows)
            pending.append(taken)
            pending_rows += taken.num_rows
            batch = batch.slice(taken.num_rows)
            if pending_rows == rows:
                yield pa.Table.from_batches(pending)
                pending, pending_rows = [], 0
    if pending_rows:
        yield pa.Table.from_batches(pending)


def token_counts(dataset: Dataset, *columns: str) -> np.ndarray:
    """(rows,) the length of each row's list in `columns` (the longest of them, when several), read from
    Arrow in batches: 10M rows cost 80 MB here, not the 600 MB of Python ints in a list."""
    counts = []
    for table in read_columns(dataset, columns):
        lengths = [pc.list_value_length(table.column(name)) for name in columns]
        longest = lengths[0]
        for other in lengths[1:]:
            longest = pc.max_element_wise(longest, other)
        counts.append(longest.to_numpy())
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int32)


__all__ = ["PARALLEL_TOKENIZE_ROWS", "READ_ROWS", "read_columns", "token_counts", "tokenize_processes"]
