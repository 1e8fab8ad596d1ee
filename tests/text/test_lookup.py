import pytest
import torch

from hf_nlp.errors import UserError
from hf_nlp.text.lookup import CategoricalEmbedding, StringLookup

CITIES = ["Auckland", "Paris", "Paris", "San Francisco"]


def test_reference_example():
    lookup = StringLookup().adapt(CITIES)
    assert lookup.get_vocabulary() == ["[UNK]", "Paris", "San Francisco", "Auckland"]
    assert lookup([["Paris"], ["Auckland"], ["Auckland"], ["Montreal"]]).tolist() == [[1], [3], [3], [0]]


def test_several_oov_buckets_are_stable_and_in_range():
    lookup = StringLookup(num_oov_indices=5).adapt(CITIES)
    assert lookup(["Paris", "Auckland"]).tolist() == [5, 7]
    unknown = lookup(["Montreal", "Tokyo", "Lima", "Montreal"]).tolist()
    assert all(0 <= i < 5 for i in unknown) and unknown[0] == unknown[3]
    assert StringLookup(num_oov_indices=5).adapt(CITIES)(["Montreal"]).tolist() == unknown[:1]


def test_mask_token_takes_index_zero():
    lookup = StringLookup(mask_token="").adapt(CITIES + [""])
    assert lookup.get_vocabulary() == ["", "[UNK]", "Paris", "San Francisco", "Auckland"]
    assert lookup(["", "Paris", "Rome"]).tolist() == [0, 2, 1]


def test_invert_maps_ids_back():
    lookup = StringLookup(vocabulary=["a", "b"])
    inverse = StringLookup(vocabulary=["a", "b"], invert=True)
    ids = lookup(["b", "a", "zzz"])
    assert inverse(ids) == ["b", "a", "[UNK]"]


def test_max_tokens_and_no_oov():
    assert StringLookup(max_tokens=3).adapt(CITIES).get_vocabulary() == ["[UNK]", "Paris", "San Francisco"]
    strict = StringLookup(num_oov_indices=0, vocabulary=["a"])
    assert strict(["a"]).tolist() == [0]
    with pytest.raises(UserError, match="num_oov_indices is 0"):
        strict(["b"])


def test_errors():
    with pytest.raises(UserError, match="call adapt"):
        StringLookup()(["a"])
    with pytest.raises(UserError, match="no values"):
        StringLookup().adapt([])
    with pytest.raises(UserError, match="repeated"):
        StringLookup(vocabulary=["a", "a"])


def test_categorical_embedding_looks_up_then_embeds():
    torch.manual_seed(0)
    lookup = StringLookup().adapt(["NEAR BAY", "INLAND", "INLAND", "ISLAND", "<1H OCEAN", "NEAR OCEAN"])
    embed = CategoricalEmbedding(lookup, embedding_dim=2)
    out = embed(["INLAND", "NEAR BAY", "unknown"])
    assert out.shape == (3, 2)
    torch.testing.assert_close(out[2], embed.embedding.weight[0])  # OOV -> row 0
    torch.testing.assert_close(out, embed(lookup(["INLAND", "NEAR BAY", "unknown"])))
    out.sum().backward()
    assert embed.embedding.weight.grad is not None
