"""The sentiment recipe end to end on a separable toy CSV: learns it, writes the report, pipelines load it."""

import json
import random

import pytest
from transformers import pipeline

from hf_nlp.data.sentiment import SentimentDataConfig
from tests.conftest import REPO_ROOT, cli_in_process

POSITIVE = ["great", "wonderful", "superb", "moving", "brilliant", "delightful"]
NEGATIVE = ["awful", "boring", "dull", "terrible", "clumsy", "tedious"]
FILLER = ["the", "film", "plot", "actors", "was", "quite", "really", "and", "a", "story", "music", "ending"]


@pytest.fixture(scope="module")
def toy_csv(tmp_path_factory):
    rng = random.Random(0)
    rows = []
    for i in range(400):
        label = i % 2
        words = rng.choices(FILLER, k=rng.randint(3, 25)) + rng.choices(POSITIVE if label else NEGATIVE, k=2)
        rng.shuffle(words)
        rows.append(f'"{" ".join(words)}",{"pos" if label else "neg"}')
    path = tmp_path_factory.mktemp("toy") / "toy.csv"
    path.write_text("review,sentiment\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("bidirectional", [False, True])
def test_recipe_learns_a_separable_toy_set(toy_csv, tmp_path, bidirectional):
    from recipes.sentiment_rnn import main

    run_dir = tmp_path / "run"
    metrics = main(["--config", str(REPO_ROOT / "recipes/configs/sentiment_rnn.yaml"),
                    "--data.source", str(toy_csv), "--data.text_column", "review", "--data.label_column", "sentiment",
                    "--model.embedding_size", "16", "--model.hidden_size", "16",
                    "--model.bidirectional", str(bidirectional).lower(),
                    "--train.num_epochs", "8", "--train.learning_rate", "0.01", "--train.batch_size", "16",
                    "--train.output_dir", str(run_dir), "--train.progress_bar", "false"])
    (variant,) = metrics["variants"]
    assert variant["test"]["accuracy"] > 0.9 and variant["kind"] == "rnn"
    assert variant["test"]["examples"] == 40 and metrics["classes"] == ["neg", "pos"]
    assert metrics["tfidf_logreg"]["accuracy"] > 0.9 and metrics["tfidf_logreg"]["validation_accuracy"] > 0.9
    for name in ("report.md", variant["confusion_png"], "metrics.json", "best_model/tokenizer.json"):
        assert (run_dir / name).is_file(), name
    classify = pipeline("text-classification", model=str(run_dir / "best_model"))
    assert classify("a wonderful brilliant film")[0]["label"] == "pos"
    assert classify("a dull and tedious plot")[0]["label"] == "neg"

    # Each test text's verdict, in the test split's order, for the paired comparison with TF-IDF.
    test = SentimentDataConfig(source=str(toy_csv), text_column="review", label_column="sentiment").load()["test"]
    names = test.features["label"].names
    guesses = classify(list(test["text"]))
    verdicts = [int(names[label] == guess["label"]) for label, guess in zip(test["label"], guesses, strict=True)]
    assert variant["test"]["correct"] == verdicts
    tfidf = metrics["tfidf_logreg"]
    assert len(tfidf["correct"]) == 40 and sum(tfidf["correct"]) / 40 == pytest.approx(tfidf["accuracy"])
    paired = variant["test"]["vs_tfidf"]
    assert paired["difference"] == pytest.approx(variant["test"]["accuracy"] - tfidf["accuracy"])
    assert paired["low"] <= paired["difference"] <= paired["high"] and paired["texts"] == 40
    assert json.loads((run_dir / "metrics.json").read_text())["variants"][0]["test"]["vs_tfidf"] == paired


def test_classify_cli_on_a_trained_model(toy_csv, tmp_path, capsys):
    from recipes.sentiment_rnn import main

    run_dir = tmp_path / "run"
    main(["--config", str(REPO_ROOT / "recipes/configs/sentiment_rnn.yaml"), "--data.source", str(toy_csv),
          "--data.text_column", "review", "--data.label_column", "sentiment", "--model.embedding_size", "16",
          "--model.hidden_size", "16", "--train.num_epochs", "8", "--train.learning_rate", "0.01",
          "--train.batch_size", "16", "--train.output_dir", str(run_dir), "--train.progress_bar", "false"])
    texts = tmp_path / "texts.txt"
    texts.write_text("a dull tedious film\n\nthe plot was superb\n", encoding="utf-8")
    code, out, err = cli_in_process(["classify", "--model", str(run_dir), "a wonderful story", "--file", str(texts)],
                                    capsys)
    assert code == 0, err
    lines = [line.split("\t") for line in out.splitlines()]
    assert [(label, text) for label, _, text in lines] == [
        ("pos", "a wonderful story"), ("neg", "a dull tedious film"), ("pos", "the plot was superb")]
    assert all(0.5 < float(probability) <= 1 for _, probability, _ in lines)
    code, _, err = cli_in_process(["classify", "--model", str(run_dir)], capsys)
    assert code == 2 and "nothing to classify" in err
