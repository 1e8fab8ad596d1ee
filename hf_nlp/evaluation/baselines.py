"""Classic baselines measured in the same run as the neural models they are compared with."""

from __future__ import annotations

import time

import numpy as np

from hf_nlp.evaluation.metrics import macro_f1

TFIDF_MAX_TRAIN_CHARS = 40_000_000
"""Training text the TF-IDF baseline fits on, at most: scikit-learn holds every text, its n-grams and the
sparse matrix in memory (50,000 reviews of 4 KB took 2.5 GB). 40M characters keep every shipped corpus
and IMDb's 22,500 training reviews whole."""


def tfidf_logistic_regression(corpus, max_features: int = 50_000, max_train_chars: int = TFIDF_MAX_TRAIN_CHARS,
                              seed: int = 0) -> dict:
    """TF-IDF over uni- and bigrams + logistic regression (scikit-learn, sparse): the classic
    baseline, fitted on the same train split (a seeded random sample of it when its texts hold more than
    `max_train_chars` characters) and scored on the same test split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.monotonic()
    train = _sample_by_characters(corpus["train"], max_train_chars, seed)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), max_features=max_features, sublinear_tf=True)
    features = vectorizer.fit_transform(list(train["text"]))  # sparse (N, F)
    classifier = LogisticRegression(max_iter=2000, C=10.0).fit(features, np.asarray(train["label"]))
    validation_accuracy = None
    if "validation" in corpus:
        validation_predictions = classifier.predict(vectorizer.transform(corpus["validation"]["text"]))
        validation_accuracy = float((validation_predictions == np.asarray(corpus["validation"]["label"])).mean())
    predictions = classifier.predict(vectorizer.transform(corpus["test"]["text"]))
    labels = np.asarray(corpus["test"]["label"])
    num_classes = corpus["train"].features["label"].num_classes
    confusion = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(confusion, (labels, predictions), 1)
    return {"accuracy": float((predictions == labels).mean()), "f1_macro": macro_f1(confusion),
            "correct": (predictions == labels).astype(int).tolist(),  # per test text, for paired comparisons
            "validation_accuracy": validation_accuracy, "train_examples": len(train),
            "train_seconds": time.monotonic() - started}


def _sample_by_characters(train, max_chars: int, seed: int):
    """`train`, or a seeded random selection of its rows whose texts hold at most `max_chars` characters."""
    import pyarrow.compute as pc

    lengths = pc.utf8_length(train.with_format("arrow")[:].column("text")).to_numpy(zero_copy_only=False)
    if lengths.sum() <= max_chars:
        return train
    order = np.random.default_rng(seed).permutation(len(train))
    keep = int(np.searchsorted(np.cumsum(lengths[order]), max_chars, side="right"))
    return train.select(np.sort(order[:max(keep, 1)]))
