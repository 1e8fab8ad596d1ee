"""Classic baselines measured in the same run as the neural models they are compared with."""

from __future__ import annotations

import time

import numpy as np

from hf_nlp.evaluation.metrics import macro_f1


def tfidf_logistic_regression(corpus, max_features: int = 50_000, max_train: int = 50_000, seed: int = 0) -> dict:
    """TF-IDF over uni- and bigrams + logistic regression (scikit-learn, sparse): the classic
    baseline, fitted on the same train split (a seeded sample of `max_train` texts when it is larger:
    scikit-learn holds every text and its n-grams in memory) and scored on the same test split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.monotonic()
    train = corpus["train"]
    if len(train) > max_train:
        train = train.shuffle(seed=seed).select(range(max_train))
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
