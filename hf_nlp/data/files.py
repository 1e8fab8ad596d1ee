"""User data files (.csv, .jsonl/.json, .parquet) read into a `datasets.Dataset`, with one-sentence errors."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from hf_nlp.errors import UserError

TABLE_LOADERS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def check_text_file(path: Path, what: str) -> None:
    """Exists, is not empty, and is UTF-8; `what` says what the rows should hold."""
    if not path.is_file():
        raise UserError(f"data file `{path}` does not exist; pass an existing file.")
    if path.stat().st_size == 0:
        raise UserError(f"data file `{path}` is empty; it needs {what}.")
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"`{path}` is not UTF-8 text; convert it first (e.g. iconv -f latin1 -t utf-8).") from None


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


def file_key(source: str) -> str:
    """A cache key for `source`: a local file by path, size and mtime; anything else as given."""
    path = Path(source)
    if path.is_file():
        stat = path.stat()
        return f"file:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return source
