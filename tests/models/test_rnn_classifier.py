import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

from hf_nlp.models import MODEL_REGISTRY
from hf_nlp.models.rnn_classifier import RNNClassifierConfig, RNNForSequenceClassification


def tiny(masking=True, bidirectional=False, cell_type="gru", num_layers=1) -> RNNForSequenceClassification:
    torch.manual_seed(0)
    config = RNNClassifierConfig(vocab_size=30, embedding_size=6, hidden_size=5, num_layers=num_layers,
                                 cell_type=cell_type, bidirectional=bidirectional, masking=masking, num_labels=3,
                                 id2label={0: "negative", 1: "neutral", 2: "positive"},
                                 label2id={"negative": 0, "neutral": 1, "positive": 2})
    return RNNForSequenceClassification(config).eval()


def padded(ids: list[int], length: int) -> torch.Tensor:
    return torch.tensor([ids + [0] * (length - len(ids))])


@pytest.mark.parametrize(("bidirectional", "cell_type", "num_layers"),
                         [(False, "gru", 1), (True, "gru", 2), (True, "lstm", 1), (False, "lstm", 2)])
def test_masked_logits_do_not_depend_on_padding(bidirectional, cell_type, num_layers):
    model = tiny(True, bidirectional, cell_type, num_layers)
    text = [5, 9, 3, 17, 4]
    torch.testing.assert_close(model(padded(text, 10)).logits, model(padded(text, 50)).logits)
    torch.testing.assert_close(model(padded(text, 5)).logits, model(padded(text, 50)).logits)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_unmasked_logits_change_with_padding(bidirectional):
    model = tiny(False, bidirectional)
    text = [5, 9, 3, 17, 4]
    assert not torch.allclose(model(padded(text, 10)).logits, model(padded(text, 50)).logits)


def test_batch_of_different_lengths_equals_one_by_one():
    model = tiny(True, True)
    texts = [[5, 9, 3], [7, 1, 2, 8, 8, 2], [4]]
    batch = torch.cat([padded(t, 6) for t in texts])
    one_by_one = torch.cat([model(torch.tensor([t])).logits for t in texts])
    torch.testing.assert_close(model(batch).logits, one_by_one)


def test_loss_shapes_and_auto_round_trip_keeps_labels(tmp_path):
    model = tiny(True, True)
    out = model(padded([5, 9], 4).repeat(2, 1), labels=torch.tensor([0, 2]))
    assert out.logits.shape == (2, 3) and out.loss.ndim == 0
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, RNNForSequenceClassification)
    assert loaded.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    assert isinstance(AutoConfig.from_pretrained(tmp_path), RNNClassifierConfig)
    torch.testing.assert_close(loaded(padded([5, 9], 4)).logits, model(padded([5, 9], 4)).logits)
    assert RNNClassifierConfig.model_type in MODEL_REGISTRY


def test_text_classification_pipeline_with_a_text_vectorization_tokenizer(tmp_path):
    from transformers import pipeline

    from hf_nlp.text.vectorize import TextVectorization

    texts = ["a great film", "a bad film", "great acting", "bad plot"]
    tokenizer = TextVectorization().adapt(texts).to_tokenizer()
    assert tokenizer("A great, great film!")["input_ids"] == [tokenizer.convert_tokens_to_ids(t) for t in
                                                              ["a", "great", "great", "film"]]
    model = tiny(True, True)
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    classify = pipeline("text-classification", model=str(tmp_path), tokenizer=str(tmp_path))
    results = classify(["a great film", "bad"])
    assert [r["label"] in {"negative", "neutral", "positive"} for r in results] == [True, True]
    direct = torch.softmax(model(tokenizer(["a great film"], return_tensors="pt")["input_ids"]).logits, -1).max()
    assert results[0]["score"] == pytest.approx(direct.item(), rel=1e-5)
