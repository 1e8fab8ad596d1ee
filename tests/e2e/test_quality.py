"""Quality bars on the real corpus (slow: minutes on 2 CPU cores; run with `pytest -m slow`)."""

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_quick_config_reaches_its_quality_bar(tmp_path):
    from recipes.char_rnn import main

    metrics = main(["--config", str(REPO_ROOT / "recipes/configs/char_rnn_quick.yaml"),
                    "--train.output_dir", str(tmp_path / "run"), "--train.progress_bar", "false"])
    assert metrics["split_chars"] == {"train": 1_000_000, "validation": 60_000, "test": 61_644}
    assert metrics["distinct_chars"] == 38
    assert metrics["validation"]["loss"] < 2.0
    assert metrics["train_minutes"] <= 5.0


@pytest.mark.slow
def test_finetuned_minilm_beats_tfidf_by_three_points_on_sentences(tmp_path):
    """Issue 5's bar on the shipped sentence-polarity corpus, one epoch (≈ 1.5 min on 2 cores)."""
    from recipes.finetune_encoder import main

    metrics = main(["--config", str(REPO_ROOT / "recipes/configs/finetune_encoder_minilm_full.yaml"),
                    "--data.source", "sentences", "--train.num_epochs", "1", "--train.save_every", "0",
                    "--train.output_dir", str(tmp_path / "run"), "--train.progress_bar", "false"])
    (variant,) = metrics["variants"]
    assert metrics["split_sizes"] == {"train": 3_200, "validation": 400, "test": 400}
    assert variant["test"]["accuracy"] >= metrics["tfidf_logreg"]["accuracy"] + 0.03
