"""A sentiment corpus read as a stream: splits by row number, labels, one-sentence errors naming the row."""

import json

import pytest

from hf_nlp.data.sentiment import SentimentDataConfig
from hf_nlp.data.sentiment_stream import EVERY, TokenizingCollator, stream_sentiment
from hf_nlp.errors import UserError
from hf_nlp.text.vectorize import TextVectorization


def write_csv(path, rows):
    path.write_text("review,stars\n" + "".join(f'"{text}",{label}\n' for text, label in rows), encoding="utf-8")
    return path


def stream_of(path, **settings):
    config = SentimentDataConfig(source=str(path), text_column="review", label_column="stars", streaming=True,
                                 **settings)
    return stream_sentiment(config, seed=42)


def training_rows(stream) -> list[tuple[int, dict]]:
    return [(row, e) for row, example in enumerate(stream.source)
            if (e := stream.prepare(row, example)) is not None]


def test_a_file_splits_by_row_number_and_maps_labels(hf_home, tmp_path):
    rows = [(f"text {i}", ["bad", "good"][i // 50 % 2]) for i in range(200)]  # sorted in runs of one label
    stream = stream_of(write_csv(tmp_path / "r.csv", rows))
    assert stream.names == ["bad", "good"]
    assert stream.validation["text"] == [f"text {i}" for i in range(200) if i % EVERY == 8]
    assert stream.test["text"] == [f"text {i}" for i in range(200) if i % EVERY == 9]
    assert stream.validation["label"] == [i // 50 % 2 for i in range(200) if i % EVERY == 8]
    trained = training_rows(stream)
    assert [row for row, _ in trained] == [i for i in range(200) if i % EVERY < 8]
    assert trained[60][1] == {"text": "text 74", "labels": 1}  # the 61st training row: 7 cycles of 8, then 4
    assert stream.corpus_info(SentimentDataConfig(source="r.csv"))["split_sizes"] == {"validation": 20, "test": 20}


def test_evaluation_splits_are_capped(hf_home, tmp_path):
    rows = [(f"text {i}", i % 2) for i in range(500)]
    stream = stream_of(write_csv(tmp_path / "r.csv", rows), max_eval_examples=7)
    assert len(stream.validation) == len(stream.test) == 7 and stream.names == ["0", "1"]


def test_a_shipped_corpus_streams_its_own_splits(hf_home):
    config = SentimentDataConfig(source="polarity")
    corpus = config.load()
    stream = stream_sentiment(SentimentDataConfig(source="polarity", streaming=True), seed=42)
    assert stream.test["text"] == corpus["test"]["text"] and stream.names == ["negative", "positive"]
    assert [e["text"] for _, e in training_rows(stream)] == corpus["train"]["text"]


def test_a_training_row_with_an_unseen_label_is_named(hf_home, tmp_path):
    rows = [(f"text {i}", i % 2) for i in range(100)] + [("odd one", 7)]
    stream = stream_of(write_csv(tmp_path / "r.csv", rows))
    with pytest.raises(UserError, match=r"data row 101 has label `7`.*max_eval_examples"):
        training_rows(stream)


def test_a_row_without_text_is_named(hf_home, tmp_path):
    rows = [(f"text {i}", i % 2) for i in range(30)]
    rows[23] = ("  ", 1)
    with pytest.raises(UserError, match=r"row without text \(data row 24\)"):
        training_rows(stream_of(write_csv(tmp_path / "r.csv", rows)))


def test_bad_settings_are_one_sentence(hf_home, tmp_path):
    path = write_csv(tmp_path / "r.csv", [(f"text {i}", i % 2) for i in range(30)])
    with pytest.raises(UserError, match="no column `label`.*--data.label_column"):
        stream_sentiment(SentimentDataConfig(source=str(path), text_column="review", streaming=True), seed=42)
    with pytest.raises(UserError, match="cannot cut it into folds"):
        stream_of(path, cv_folds=5)
    with pytest.raises(UserError, match="one class only"):
        stream_of(write_csv(tmp_path / "one.csv", [(f"text {i}", 1) for i in range(30)]))


def test_the_collator_tokenizes_and_pads_as_the_in_memory_path(hf_home):
    tokenizer = TextVectorization(max_tokens=20).adapt(["a b c", "a b", "c"]).to_tokenizer()
    batch = TokenizingCollator(tokenizer, max_length=2)([{"text": "a b c", "labels": 1}, {"text": "c", "labels": 0}])
    assert batch["input_ids"].tolist() == [tokenizer("a b")["input_ids"], tokenizer("c")["input_ids"] + [0]]
    assert batch["attention_mask"].tolist() == [[1, 1], [1, 0]] and batch["labels"].tolist() == [1, 0]


STREAM = """
import json, sys
from hf_nlp.data.sentiment import SentimentDataConfig
from hf_nlp.data.sentiment_stream import stream_sentiment
stream = stream_sentiment(SentimentDataConfig(source=sys.argv[1], streaming=True), seed=42)
trained = [e["labels"] for row, example in enumerate(stream.source) if (e := stream.prepare(row, example))]
print(json.dumps({"validation": list(stream.validation["label"]), "test": len(stream.test), "trained": trained,
                  "names": stream.names}))
"""


@pytest.mark.e2e
def test_a_hub_dataset_streams_over_http(tmp_path):
    """IMDb's layout (train sorted by label, a test split) from a local Hub server: test is its own,
    validation every tenth train row, so both classes are in it."""
    import os
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.conftest import REPO_ROOT
    from tests.hub.local_hub import LocalHub

    folder = tmp_path / "imdb"
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.table({"text": [f"review {i}" for i in range(100)], "label": [0] * 50 + [1] * 50}),
                   folder / "data" / "train-00000-of-00001.parquet")
    pq.write_table(pa.table({"text": [f"test review {i}" for i in range(20)], "label": [0, 1] * 10}),
                   folder / "data" / "test-00000-of-00001.parquet")
    with LocalHub({"datasets/stanfordnlp/imdb": folder}) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
               "HF_HOME": str(tmp_path / "hf_home")}
        done = subprocess.run([sys.executable, "-c", STREAM, "stanfordnlp/imdb"], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["validation"] == [0] * 5 + [1] * 5 and result["test"] == 20 and result["names"] == ["0", "1"]
    assert result["trained"] == [0] * 45 + [1] * 45
