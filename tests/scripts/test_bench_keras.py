"""The optional Keras reference: it says clearly when TensorFlow is missing, and when installed
(`pip install ".[bench-keras]"`) its models train and report a rate."""

import pytest

from scripts import bench_keras


def test_without_tensorflow_the_section_is_skipped_with_the_install_command(monkeypatch, capsys):
    monkeypatch.setattr(bench_keras, "keras_available", lambda: False)
    assert bench_keras.main([]) == {"skipped": bench_keras.SKIPPED}
    assert 'pip install ".[bench-keras]"' in capsys.readouterr().out


@pytest.mark.e2e
@pytest.mark.skipif(not bench_keras.keras_available(), reason="TensorFlow not installed (optional)")
def test_reference_models_train_and_report_rates():
    assert bench_keras.keras_char_rnn_chars_per_s(window=10, batch_size=4, steps=4) > 0
    assert bench_keras.keras_sentiment_reviews_per_s(num_reviews=24, mean_length=20, max_length=50, batch_size=8) > 0
