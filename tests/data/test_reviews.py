import pytest

from hf_nlp.data.reviews import load_reviews
from hf_nlp.errors import UserError


@pytest.mark.parametrize(("name", "total"), [("polarity", 1500), ("sentences", 4000)])
def test_pang_lee_corpora_split_80_10_10_balanced(name, total):
    corpus = load_reviews(name)
    sizes = {split: len(corpus[split]) for split in corpus}
    assert sizes == {"train": total * 8 // 10, "validation": total // 10, "test": total // 10}
    for split in corpus:
        assert sum(corpus[split]["label"]) * 2 == len(corpus[split])  # stratified: half positive
    assert corpus["train"].features["label"].names == ["negative", "positive"]
    assert not set(corpus["train"]["text"]) & set(corpus["test"]["text"])
    assert load_reviews(name)["test"]["text"] == corpus["test"]["text"]  # fixed seed, cached


def test_unknown_review_corpus_is_a_user_error():
    with pytest.raises(UserError, match="unknown review corpus"):
        load_reviews("imdb-offline")
