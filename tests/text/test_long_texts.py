"""A classifier reads a text as its run did: truncated, or as windows pooled like in training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoTokenizer, BertForSequenceClassification

from hf_nlp.runs import load_run_config
from hf_nlp.text.long_texts import TextReading, classify_texts, window_pooling
from tests.models.tiny_encoder import make_tiny_encoder

WORDS = ["the", "film", "plot", "was", "great", "dull", "and", "a", "story", "ending"]
LONG = "the film was dull and the plot was dull but the story and the ending was great a great great film"
SHORT = "a great film"


def train_tiny_classifier(path: Path) -> Path:
    """A tiny BERT taught in a few steps that "great" is positive and "dull" negative, saved with its
    tokenizer, so windows of a mixed text score differently (a random one scores every input alike)."""
    make_tiny_encoder(path, WORDS)
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(path, num_labels=2, id2label={0: "neg", 1: "pos"},
                                                          label2id={"neg": 0, "pos": 1})
    tokenizer = AutoTokenizer.from_pretrained(path)
    batch = tokenizer(["the film was great", "a great story", "the plot was dull", "a dull ending"], padding=True,
                      return_tensors="pt")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        optimizer.zero_grad()
        model(**batch, labels=torch.tensor([1, 1, 0, 0])).loss.backward()
        optimizer.step()
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    path = train_tiny_classifier(tmp_path_factory.mktemp("classifier"))
    return BertForSequenceClassification.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def window_logits(model, tokenizer, text: str, length: int, overlap: int) -> torch.Tensor:
    """`(W, C)`: each window of `text` scored alone, unpadded (what pooling must average)."""
    encoded = tokenizer(text, truncation=True, max_length=length, stride=overlap, return_overflowing_tokens=True)
    with torch.no_grad():
        return torch.cat([model(input_ids=torch.tensor([ids])).logits for ids in encoded["input_ids"]])


def test_windows_are_pooled_per_text_whatever_else_is_in_the_batch(classifier):
    model, tokenizer = classifier
    reading = TextReading(max_length=8, windows=True, overlap=2, pooling="probabilities")
    # batch_size 3 splits the long text's windows across model calls and pads them with the short text's
    probabilities = classify_texts(model, tokenizer, [LONG, SHORT], reading, batch_size=3)  # (2, 2)
    for row, text in enumerate([LONG, SHORT]):
        logits = window_logits(model, tokenizer, text, 8, 2)  # (W, 2)
        assert torch.allclose(probabilities[row], logits.softmax(-1).mean(0), atol=1e-5)
    assert len(window_logits(model, tokenizer, LONG, 8, 2)) > 3


def test_mean_logits_pooling_and_truncation_read_differently(classifier):
    model, tokenizer = classifier
    logits = window_logits(model, tokenizer, LONG, 8, 2)  # (W, 2)
    pooled = classify_texts(model, tokenizer, [LONG], TextReading(8, True, 2, "logits"))[0]
    assert torch.allclose(pooled, logits.mean(0).softmax(-1), atol=1e-5)
    truncated = classify_texts(model, tokenizer, [LONG], TextReading(8))[0]
    assert torch.allclose(truncated, logits[0].softmax(-1), atol=1e-5)  # the first window only
    whole = classify_texts(model, tokenizer, [LONG])[0]  # no run config: the tokenizer's own limit, all of it
    with torch.no_grad():
        assert torch.allclose(whole, model(**tokenizer(LONG, return_tensors="pt")).logits[0].softmax(-1), atol=1e-5)
    assert not torch.allclose(pooled, truncated, atol=1e-3) and not torch.allclose(pooled, whole, atol=1e-3)


@pytest.mark.parametrize("data, expected", [
    ({"long_texts": "windows", "max_length": 256, "window_overlap": 32}, TextReading(256, True, 32, "probabilities")),
    ({"long_texts": "pooled_windows", "max_length": 256, "window_overlap": 32}, TextReading(256, True, 32, "logits")),
    ({"long_texts": "truncate", "max_length": 128, "window_overlap": 32}, TextReading(128, False, 0, "probabilities")),
    ({"max_length": None}, TextReading()),  # the GRU recipe: no windows, the tokenizer's limit
])
def test_the_reading_comes_from_the_runs_saved_config(tmp_path, data, expected):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"data": data, "train": {"seed": 1}}))
    assert TextReading.of_run(load_run_config(str(tmp_path))) == expected
    assert window_pooling(data.get("long_texts", "truncate")) == expected.pooling


def test_a_model_without_a_run_config_is_read_truncated(tmp_path):
    assert load_run_config(str(tmp_path)) == {} and TextReading.of_run({}) == TextReading()
