"""User data files (.csv, .jsonl/.json, .parquet) read into a `datasets.Dataset`, with one-sentence errors."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset, DatasetDict

from hf_nlp.errors import UserError
from hf_nlp.hub_client import not_answering_in

TABLE_LOADERS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def check_text_file(path: Path, what: str) -> None:
    """Exists, is not empty, and is UTF-8 text; `what` says what the rows should hold."""
    read_text_file(path, what)


def read_text_file(path: Path, what: str) -> str:
    """The file's text, or one sentence: missing, empty, not UTF-8 (with the offset of the first bad
    byte, so the user can find it), or binary (a NUL byte, which no text holds)."""
    if path.is_dir():
        raise UserError(f"`{path}` is a folder, not a data file; pass a file.")
    if not path.is_file():
        raise UserError(f"data file `{path}` does not exist; pass an existing file.")
    data = path.read_bytes()
    if not data:
        raise UserError(f"data file `{path}` is empty; it needs {what}.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"`{path}` is not UTF-8 text (byte {error.start:,} is 0x{data[error.start]:02x}); convert it "
                        "first (e.g. iconv -f latin1 -t utf-8).") from None
    if "\x00" in text:
        raise UserError(f"`{path}` looks binary (a NUL byte at offset {data.index(0):,}); pass a text file with {what}.")
    return text


def load_table_file(path: Path, what: str) -> Dataset:
    """A .csv / .jsonl / .json / .parquet file as one `Dataset` (all rows)."""
    from datasets import load_dataset

    loader = TABLE_LOADERS.get(path.suffix.lower())
    if loader is None:
        raise UserError(f"`{path.name}` is not a supported data file; use .csv, .jsonl, .json or .parquet.")
    if loader == "parquet":
        if not path.is_file():
            raise UserError(f"data file `{path}` does not exist; pass an existing file.")
    else:
        check_text_file(path, what)
    try:
        return load_dataset(loader, data_files=str(path), split="train")
    except Exception as error:  # malformed rows, mixed JSON types...: the message names the file
        raise UserError(f"could not read `{path}` as {loader} ({error.__class__.__name__}); check its format.") from None


def load_hub_dataset(dataset_id: str, offline: str) -> DatasetDict:
    """All splits of a Hub dataset, or one sentence (`offline` names what works without a network): a
    silent Hub within its timeout (hf_nlp.hub_client), an unknown or gated id, no connection."""
    from datasets import load_dataset

    try:
        return load_dataset(dataset_id)
    except Exception as error:  # offline, unknown id, gated... all one fix for the user
        silent = not_answering_in(error)
        if silent:
            raise UserError(f"could not load Hub dataset `{dataset_id}`: {silent}; or {offline}.") from None
        raise UserError(f"could not load Hub dataset `{dataset_id}` ({error.__class__.__name__}); check the id and "
                        f"your connection, or {offline}.") from None


def file_key(source: str) -> str:
    """A cache key for `source`: a local file by path, size and mtime; anything else as given."""
    path = Path(source)
    if path.is_file():
        stat = path.stat()
        return f"file:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return source
