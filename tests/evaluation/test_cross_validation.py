"""Cross-validation summaries: per-fold figures folded into means, pooled accuracy and gaps to TF-IDF."""

import pytest

from hf_nlp.evaluation.cross_validation import TFIDF, summarize, summary_markdown, summary_rows


def fold(test_size: int, model_correct: int, tfidf_correct: int, minutes: float, verdicts: bool = False) -> dict:
    """A fold run's metrics.json as the sentiment recipes write it (only the fields summaries read);
    `verdicts`: with each test text's 1/0 (the model right on the first `model_correct` texts)."""
    model = {"accuracy": model_correct / test_size, "f1_macro": 0.5}
    tfidf = {"accuracy": tfidf_correct / test_size, "f1_macro": 0.4, "train_seconds": 6.0}
    if verdicts:
        model["correct"] = [1] * model_correct + [0] * (test_size - model_correct)
        tfidf["correct"] = [1] * tfidf_correct + [0] * (test_size - tfidf_correct)
    return {"source": "reviews.csv", "classes": ["neg", "pos"],
            "split_sizes": {"train": 8 * test_size, "validation": test_size, "test": test_size},
            "variants": [{"name": "GRU", "train_minutes": minutes, "test": model}], "tfidf_logreg": tfidf}


def test_summary_pools_every_test_text_and_pairs_folds_with_tfidf():
    # Fold sizes differ (a corpus not divisible by K): pooling counts texts, the mean weighs folds.
    summary = summarize([fold(4, 3, 2, 1.0), fold(5, 5, 4, 3.0)])
    gru, tfidf = summary["models"]["GRU"], summary["models"][TFIDF]
    assert summary["test_texts"] == 9 and summary["folds"] == 2
    assert gru["accuracy"] == [0.75, 1.0] and gru["pooled_accuracy"] == pytest.approx(8 / 9)
    assert gru["mean_accuracy"] == pytest.approx(0.875) and gru["std_accuracy"] == pytest.approx(0.25 / 2 ** 0.5)
    assert tfidf["pooled_accuracy"] == pytest.approx(6 / 9)
    assert gru["vs_tfidf"]["per_fold"] == pytest.approx([0.25, 0.2])
    assert gru["vs_tfidf"]["min"] == pytest.approx(0.2) and tfidf["vs_tfidf"]["mean"] == 0
    assert tfidf["train_minutes"] == [0.1, 0.1]

    rows = summary_rows(summary)
    assert [row["model"] for row in rows] == ["GRU", TFIDF]
    assert rows[0]["fold 1"] == "0.750" and rows[0]["pooled (9 texts)"] == "0.889"
    assert rows[0]["vs TF-IDF (mean, worst fold)"] == "+22.5 / +20.0 pts" and rows[1]["vs TF-IDF (mean, worst fold)"] == "—"
    text = summary_markdown(summary, "python scripts/cross_validate.py ...")
    assert "test 4–5 (stratified; every one of the 9 texts is tested once)" in text and "0.875 ± 0.177" in text


def test_with_each_texts_verdict_the_summary_gives_the_pooled_gap_an_interval():
    summary = summarize([fold(40, 30, 20, 1.0, verdicts=True), fold(50, 45, 40, 3.0, verdicts=True)])
    pooled = summary["models"]["GRU"]["vs_tfidf"]["pooled"]
    assert pooled["texts"] == 90 and pooled["difference"] == pytest.approx(15 / 90)  # 75 vs 60 right
    assert 0 < pooled["low"] < pooled["difference"] < pooled["high"]
    assert "pooled" not in summary["models"][TFIDF]["vs_tfidf"]
    rows = summary_rows(summary)
    assert rows[0]["vs TF-IDF, 95 % CI (pooled)"].startswith("+16.7 [") and rows[1]["vs TF-IDF, 95 % CI (pooled)"] == "—"

    # One fold without verdicts (a run from before they were recorded): no interval, no column.
    older = summarize([fold(40, 30, 20, 1.0, verdicts=True), fold(50, 45, 40, 3.0)])
    assert "pooled" not in older["models"]["GRU"]["vs_tfidf"]
    assert "vs TF-IDF, 95 % CI (pooled)" not in summary_rows(older)[0]
