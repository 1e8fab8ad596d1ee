"""User data files (.csv, .jsonl/.json, .parquet) read into a `datasets.Dataset`, with one-sentence errors."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict

from hf_nlp.errors import UserError
from hf_nlp.hub_client import not_answering_in

TABLE_LOADERS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def check_text_file(path: Path, what: str) -> None:
    """Exists, is not empty, and is UTF-8 text; `what` says what the rows should hold."""
    read_text_file(path, what)


def read_text_file(path: Path, what: str) -> str:
    """The file's text, or one sentence: missing, empty, not UTF-8 (with the offset of the first bad
    byte, so the user can find it), or binary (a NUL byte, which no text holds)."""
    return "".join(read_text_chunks(path, what))


def check_data_file(path: Path, what: str) -> None:
    """An existing, non-empty file, or one sentence naming the fix; `what` says what it should hold."""
    if path.is_dir():
        raise UserError(f"`{path}` is a folder, not a data file; pass a file.")
    if not path.is_file():
        raise UserError(f"data file `{path}` does not exist; pass an existing file.")
    if path.stat().st_size == 0:
        raise UserError(f"data file `{path}` is empty; it needs {what}.")


TEXT_CHUNK_BYTES = 8 * 2**20


def read_text_chunks(path: Path, what: str, chunk_bytes: int = TEXT_CHUNK_BYTES,
                     progress=None) -> Iterator[str]:
    """The file's text in pieces of about `chunk_bytes`, never the whole of it in memory, with the same
    one-sentence errors as `read_text_file`; a bad byte is named by its offset in the whole file.
    `progress(bytes_read)` is called after each piece (a progress bar)."""
    check_data_file(path, what)
    decoder = codecs.getincrementaldecoder("utf-8")()  # a character cut by a piece boundary waits for the next
    offset = 0  # of `raw` in the file
    try:
        file = path.open("rb")
    except OSError as error:
        raise UserError(f"cannot read `{path}` ({error.strerror}); check its permissions.") from None
    with file:
        while True:
            raw = file.read(chunk_bytes)
            pending = len(decoder.getstate()[0])  # bytes of the previous piece not decoded yet
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as error:
                bad = offset - pending + error.start
                raise UserError(f"`{path}` is not UTF-8 text (byte {bad:,} is 0x{error.object[error.start]:02x}); "
                                "convert it first (e.g. iconv -f latin1 -t utf-8).") from None
            if "\x00" in text:
                raise UserError(f"`{path}` looks binary (a NUL byte at offset {offset + raw.find(0):,}); pass a text "
                                f"file with {what}.")
            if text:
                yield text
            if not raw:
                return
            offset += len(raw)
            if progress is not None:
                progress(len(raw))


def load_table_file(path: Path, what: str, streaming: bool = False) -> Dataset | IterableDataset:
    """A .csv / .jsonl / .json / .parquet file as one `Dataset` (all rows), or as an `IterableDataset` read
    on demand (`streaming`: the file is not read ahead, so a text file's encoding shows only as it is read)."""
    from datasets import load_dataset

    loader = TABLE_LOADERS.get(path.suffix.lower())
    if loader is None:
        raise UserError(f"`{path.name}` is not a supported data file; use .csv, .jsonl, .json or .parquet.")
    if streaming:
        check_data_file(path, what)
    elif loader == "parquet":
        if not path.is_file():
            raise UserError(f"data file `{path}` does not exist; pass an existing file.")
    else:
        check_text_file(path, what)
    try:
        return load_dataset(loader, data_files=str(path), split="train", streaming=streaming)
    except Exception as error:  # malformed rows, mixed JSON types...: the message names the file
        raise UserError(f"could not read `{path}` as {loader} ({error.__class__.__name__}); check its format.") from None


def load_hub_dataset(dataset_id: str, offline: str, streaming: bool = False) -> DatasetDict | IterableDatasetDict:
    """All splits of a Hub dataset (downloaded, or `streaming` as `IterableDataset`s), or one sentence
    (`offline` names what works without a network): a silent Hub within its timeout
    (hf_nlp.hub_client), an unknown or gated id, no connection."""
    from datasets import load_dataset

    verb = "stream" if streaming else "load"
    try:
        return load_dataset(dataset_id, streaming=streaming)
    except Exception as error:  # offline, unknown id, gated... all one fix for the user
        silent = not_answering_in(error)
        if silent:
            raise UserError(f"could not {verb} Hub dataset `{dataset_id}`: {silent}; or {offline}.") from None
        raise UserError(f"could not {verb} Hub dataset `{dataset_id}` ({error.__class__.__name__}); check the id and "
                        f"your connection, or {offline}.") from None


def file_key(source: str) -> str:
    """A cache key for `source`: a local file by path, size and mtime; anything else as given."""
    path = Path(source)
    if path.is_file():
        stat = path.stat()
        return f"file:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return source
