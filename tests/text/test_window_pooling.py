"""Text-level training on windows (`--data.long_texts pooled_windows`): windows regrouped per text,
batched with the text of each window, and pooled into one differentiable prediction per text."""

import pytest
import torch
import torch.nn.functional as F
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hf_nlp.text.long_texts import (
    TextReading,
    WindowGroupCollator,
    group_windows_by_text,
    pooled_window_forward,
    tokenize_texts,
)
from tests.models.tiny_encoder import make_tiny_encoder

WORDS = "a great film an awful plot the actors were superb and dull story".split()
TEXTS = ["a great film", "the plot the actors the story and the film were dull and awful", "superb"]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return make_tiny_encoder(tmp_path_factory.mktemp("enc"), WORDS)


@pytest.fixture(scope="module")
def windows(encoder_dir):
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    corpus = DatasetDict({"train": Dataset.from_dict({"text": TEXTS, "label": [1, 0, 1]}, features=features)})
    return tokenizer, tokenize_texts(corpus, tokenizer, TextReading(max_length=6, windows=True, overlap=1))["train"]


def test_windows_are_grouped_back_into_their_texts_in_order(windows):
    tokenizer, rows = windows
    texts = group_windows_by_text(rows)
    assert len(texts) == 3 and texts["labels"] == [1, 0, 1]
    counts = [len(ids) for ids in texts["input_ids"]]
    assert counts[0] == 1 and counts[1] > 3 and counts[2] == 1 and sum(counts) == len(rows)
    assert [w for text in texts["input_ids"] for w in text] == rows["input_ids"]  # every window once, in order
    assert tokenizer.decode(texts["input_ids"][1][0], skip_special_tokens=True).startswith("the plot")


def test_the_collator_pads_every_window_and_maps_it_to_its_text(windows):
    tokenizer, rows = windows
    texts = group_windows_by_text(rows)
    batch = WindowGroupCollator(tokenizer)([texts[0], texts[1]])
    num_windows = 1 + len(texts["input_ids"][1])
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (num_windows, 6)
    assert batch["text_index"].tolist() == [0] + [1] * (num_windows - 1)
    assert batch["labels"].tolist() == [1, 0]
    assert batch["attention_mask"][0].sum() == len(texts["input_ids"][0][0]) < 6  # the short text is padded


def test_pooled_forward_averages_window_logits_and_trains_every_window(windows, encoder_dir):
    tokenizer, rows = windows
    texts = group_windows_by_text(rows)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(encoder_dir, num_labels=2).eval()
    batch = WindowGroupCollator(tokenizer)([texts[i] for i in range(3)])
    out = pooled_window_forward(model, batch)
    assert out.logits.shape == (3, 2)
    for row in range(3):  # each text alone, unpadded: the mean of its own windows' logits
        alone = WindowGroupCollator(tokenizer)([texts[row]])
        window_logits = model(input_ids=alone["input_ids"], attention_mask=alone["attention_mask"]).logits
        assert torch.allclose(out.logits[row], window_logits.mean(0), atol=1e-5)
    assert torch.isclose(out.loss, F.cross_entropy(out.logits, batch["labels"]))
    out.loss.backward()
    assert model.classifier.weight.grad.abs().sum() > 0
