"""Classic baselines measured in the same run as the neural models they are compared with."""

from __future__ import annotations

import time

import numpy as np

from hf_nlp.evaluation.metrics import macro_f1

TFIDF_MAX_TRAIN_BYTES = 40_000_000
"""Training text the TF-IDF baseline fits on, at most (UTF-8 bytes): scikit-learn holds every text, its
n-grams and the sparse matrix in memory (50,000 reviews of 4 KB took 2.5 GB). 40 MB keep every shipped
corpus and IMDb's 22,500 training reviews whole."""
PREDICT_CHUNK = 2_000  # texts vectorized and classified at a time: no sparse matrix of a whole split


def tfidf_logistic_regression(corpus, max_features: int = 50_000, max_train_bytes: int = TFIDF_MAX_TRAIN_BYTES) -> dict:
    """TF-IDF over uni- and bigrams + logistic regression (scikit-learn, sparse): the classic
    baseline, fitted on the same train split (its first `max_train_bytes` bytes of text when it holds more:
    the splits are seeded shuffles, so its first rows are a random sample) and scored on the same test split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.monotonic()
    train = _first_bytes(corpus["train"], max_train_bytes)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), max_features=max_features, sublinear_tf=True)
    features = vectorizer.fit_transform(list(train["text"]))  # sparse (N, F)
    classifier = LogisticRegression(max_iter=2000, C=10.0).fit(features, np.asarray(train["label"]))

    def predict(split) -> np.ndarray:  # (N,) chunk by chunk
        texts = split["text"]
        return np.concatenate([classifier.predict(vectorizer.transform(list(texts[start: start + PREDICT_CHUNK])))
                               for start in range(0, len(split), PREDICT_CHUNK)])

    validation_accuracy = None
    if "validation" in corpus:
        validation_accuracy = float((predict(corpus["validation"]) == np.asarray(corpus["validation"]["label"])).mean())
    predictions = predict(corpus["test"])
    labels = np.asarray(corpus["test"]["label"])
    num_classes = corpus["train"].features["label"].num_classes
    confusion = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(confusion, (labels, predictions), 1)
    return {"accuracy": float((predictions == labels).mean()), "f1_macro": macro_f1(confusion),
            "correct": (predictions == labels).astype(int).tolist(),  # per test text, for paired comparisons
            "validation_accuracy": validation_accuracy, "train_examples": len(train),
            "train_seconds": time.monotonic() - started}


def _first_bytes(train, max_bytes: int):
    """The first rows of `train` whose texts hold at most `max_bytes` bytes (all of it when it holds fewer).
    The first rows, not random ones: rows spread over a memory-mapped file would page most of it in."""
    import pyarrow.compute as pc

    # Byte lengths come from the offsets alone: the texts themselves are not read.
    lengths = pc.binary_length(train.with_format("arrow")[:].column("text")).to_numpy(zero_copy_only=False)
    keep = int(np.searchsorted(np.cumsum(lengths), max_bytes, side="right"))
    return train if keep >= len(train) else train.select(range(max(keep, 1)))
