import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hf_nlp.data.sentiment import SentimentDataConfig, load_reviews, load_sentiment
from hf_nlp.errors import UserError
from tests.conftest import REPO_ROOT
from tests.hub.local_hub import LocalHub


@pytest.mark.parametrize(("name", "total"), [("polarity", 1500), ("sentences", 4000)])
def test_pang_lee_corpora_split_80_10_10_balanced(name, total):
    corpus = load_reviews(name)
    sizes = {split: len(corpus[split]) for split in corpus}
    assert sizes == {"train": total * 8 // 10, "validation": total // 10, "test": total // 10}
    for split in corpus:
        assert sum(corpus[split]["label"]) * 2 == len(corpus[split])  # stratified: half positive
    assert corpus["train"].features["label"].names == ["negative", "positive"]
    assert not set(corpus["train"]["text"]) & set(corpus["test"]["text"])
    assert load_reviews(name)["test"]["text"] == corpus["test"]["text"]  # fixed seed, cached


def test_tweets_three_classes():
    corpus = load_sentiment("tweets")
    assert sum(len(corpus[s]) for s in corpus) == 38_158
    assert corpus["train"].features["label"].names == ["negative", "neutral", "positive"]
    counts = [sum(1 for label in corpus[s]["label"] if label == c) for s in corpus for c in range(3)]
    assert sum(counts[0::3]) == 16_186 and sum(counts[1::3]) == 15_018 and sum(counts[2::3]) == 6_954


def write_rows(path, rows):
    if path.suffix == ".csv":
        path.write_text("review,stars\n" + "".join(f'"{t}",{s}\n' for t, s in rows), encoding="utf-8")
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({"review": t, "stars": s}) + "\n" for t, s in rows), encoding="utf-8")
    else:
        pq.write_table(pa.table({"review": [t for t, _ in rows], "stars": [s for _, s in rows]}), path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_user_files_with_named_columns_and_three_classes(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    rows = [(f"text number {i}", ["bad", "good", "meh"][i % 3]) for i in range(60)]
    write_rows(path, rows)
    corpus = load_sentiment(str(path), text_column="review", label_column="stars")
    assert [len(corpus[s]) for s in ("train", "validation", "test")] == [48, 6, 6]
    assert corpus["train"].features["label"].names == ["bad", "good", "meh"]
    assert corpus.column_names["train"] == ["text", "label"]


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (None, ".csv", "does not exist"),
        (b"", ".csv", "is empty"),
        ("review,stars\ncaf\xe9,1\n".encode("latin-1"), ".csv", "is not UTF-8"),
        (b"text,label\nhello,1\nworld,1\n", ".csv", "only one class"),
        (b"words,label\nhello,1\nworld,0\n", ".csv", "has no column `text`"),
        (b"text,label\nhello,1\n,0\n", ".csv", "without text"),
        (b"whatever", ".xlsx", "not a supported data file"),
        (b"text,label\na,1\nb,0\n", ".csv", "too few examples"),
    ],
)
def test_bad_user_files_are_one_sentence(tmp_path, content, suffix, message):
    path = tmp_path / f"data{suffix}"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_sentiment(str(path))


def test_unknown_source_is_a_user_error():
    with pytest.raises(UserError, match="unknown sentiment corpus"):
        load_sentiment("imdb")
    with pytest.raises(UserError, match="unknown review corpus"):
        load_reviews("tweets-but-not")


LOAD = """
import json, sys
from hf_nlp.data.sentiment import load_sentiment
corpus = load_sentiment(sys.argv[1], cv_folds=int(sys.argv[2]) if len(sys.argv) > 2 else 0)
print(json.dumps({s: list(corpus[s]["label"]) for s in corpus} | {"names": corpus["train"].features["label"].names}))
"""


FOLDS_REFUSED = """
from hf_nlp.errors import UserError
try:
    load_sentiment(sys.argv[1], cv_folds=3)
except UserError as error:
    print(json.dumps({"refused": str(error)}))
"""


@pytest.mark.e2e
def test_hub_dataset_with_train_and_test_gets_the_reference_split(tmp_path):
    """IMDb's layout: train sorted by label, a test split, no validation -> shuffled 90/10."""
    folder = tmp_path / "imdb"
    (folder / "data").mkdir(parents=True)
    train = pa.table({"text": [f"review {i}" for i in range(100)], "label": [0] * 50 + [1] * 50})
    test = pa.table({"text": [f"test review {i}" for i in range(20)], "label": [0, 1] * 10})
    pq.write_table(train, folder / "data" / "train-00000-of-00001.parquet")
    pq.write_table(test, folder / "data" / "test-00000-of-00001.parquet")
    with LocalHub({"datasets/stanfordnlp/imdb": folder}) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
               "HF_HOME": str(tmp_path / "hf_home")}
        result = subprocess.run([sys.executable, "-c", LOAD + FOLDS_REFUSED, "stanfordnlp/imdb"], cwd=REPO_ROOT,
                                env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    *_, printed, refused = result.stdout.strip().splitlines()
    assert "its own test split, so it is not cut into folds" in json.loads(refused)["refused"]
    splits = json.loads(printed)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [90, 10, 20]
    assert 0 < sum(splits["validation"]) < 10  # shuffled before the 90/10 cut: both labels present
    assert splits["names"] == ["0", "1"]


def test_cross_validation_folds_test_every_text_once_stratified(tmp_path):
    path = tmp_path / "data.csv"
    write_rows(path, [(f"text number {i}", ["bad", "good", "meh"][i % 3]) for i in range(90)])
    standard = load_sentiment(str(path), text_column="review", label_column="stars")
    tested = []
    for fold in (1, 2, 3):
        corpus = load_sentiment(str(path), text_column="review", label_column="stars", cv_folds=3, cv_fold=fold)
        assert [len(corpus[s]) for s in ("train", "validation", "test")] == [53, 7, 30]  # rest 60 split 8:1
        assert sorted(corpus["test"]["label"]) == [0] * 10 + [1] * 10 + [2] * 10  # stratified
        splits = [set(corpus[s]["text"]) for s in ("train", "validation", "test")]
        assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
        assert load_sentiment(str(path), text_column="review", label_column="stars", cv_folds=3,
                              cv_fold=fold)["test"]["text"] == corpus["test"]["text"]  # fixed seed
        tested += corpus["test"]["text"]
    assert sorted(tested) == sorted(f"text number {i}" for i in range(90))  # every text tested exactly once
    # The standard splits are untouched by the option (and cached apart from the folds).
    assert load_sentiment(str(path), text_column="review", label_column="stars")["test"]["text"] == \
        standard["test"]["text"] and len(standard["test"]) == 9


def test_cross_validation_settings_errors_are_one_sentence(tmp_path):
    with pytest.raises(UserError, match="must be 0 .* or at least 2"):
        SentimentDataConfig(cv_folds=1)
    with pytest.raises(UserError, match="between 1 and `--data.cv_folds` \\(5\\)"):
        SentimentDataConfig(cv_folds=5, cv_fold=6)
    path = tmp_path / "small.csv"
    write_rows(path, [(f"text {i}", i % 2) for i in range(8)])
    with pytest.raises(UserError, match="too few examples for 5 folds"):
        load_sentiment(str(path), text_column="review", label_column="stars", cv_folds=5, cv_fold=1)
    with pytest.raises(UserError, match="too few examples to keep a validation split beside 2 folds"):
        load_sentiment(str(path), text_column="review", label_column="stars", cv_folds=2, cv_fold=1)
    write_rows(path, [(f"text {i}", i % 2) for i in range(20)])
    config = SentimentDataConfig(source=str(path), text_column="review", label_column="stars", cv_folds=2,
                                 cv_fold=2)
    info = config.corpus_info(config.load())
    assert info["cv_fold"] == "2/2" and info["split_sizes"]["test"] == 10 and info["classes"] == ["0", "1"]
    assert "cv_fold" not in SentimentDataConfig(source=str(path), text_column="review",
                                                label_column="stars").corpus_info(config.load())
    assert config.corpus_key() != SentimentDataConfig(source=str(path), cv_folds=2, cv_fold=1).corpus_key()
