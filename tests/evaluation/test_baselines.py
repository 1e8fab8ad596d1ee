"""The TF-IDF + logistic regression baseline: fitted on the train split, capped for corpora of millions."""

from datasets import ClassLabel, Dataset, DatasetDict

from hf_nlp.evaluation.baselines import tfidf_logistic_regression


def split(rows: int, offset: int = 0) -> Dataset:
    texts = [f"{'superb great' if i % 2 else 'awful dull'} film number {i + offset}" for i in range(rows)]
    data = Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(rows)]})
    return data.cast_column("label", ClassLabel(names=["neg", "pos"]))


def test_fits_on_train_and_scores_every_test_text(monkeypatch):
    monkeypatch.setattr("hf_nlp.evaluation.baselines.PREDICT_CHUNK", 7)  # test texts predicted in 5 chunks
    corpus = DatasetDict({"train": split(200), "validation": split(20, 1000), "test": split(30, 2000)})
    result = tfidf_logistic_regression(corpus)
    assert result["accuracy"] == 1.0 and result["validation_accuracy"] == 1.0
    assert result["train_examples"] == 200 and result["correct"] == [1] * 30


def test_a_large_train_split_is_cut_to_its_first_bytes():
    corpus = DatasetDict({"train": split(200), "test": split(30, 2000)})
    size = sum(len(text.encode()) for text in corpus["train"]["text"])
    capped = tfidf_logistic_regression(corpus, max_train_bytes=size // 4)
    assert 40 <= capped["train_examples"] <= 60 and capped["accuracy"] == 1.0 and capped["validation_accuracy"] is None
    assert tfidf_logistic_regression(corpus, max_train_bytes=size)["train_examples"] == 200
