import pytest
from transformers import AutoTokenizer

from hf_nlp.errors import UserError
from hf_nlp.text.bpe import segmentation_stats, subword_dropout, train_tokenizer

CORPUS = [
    "to be or not to be that is the question",
    "whether tis nobler in the mind to suffer the slings and arrows of outrageous fortune",
    "or to take arms against a sea of troubles and by opposing end them",
] * 20


@pytest.mark.parametrize("kind", ["bpe", "wordpiece", "unigram"])
def test_each_kind_round_trips_and_has_our_special_tokens(kind, tmp_path):
    tokenizer = train_tokenizer(CORPUS, kind=kind, vocab_size=120, min_frequency=1)
    assert tokenizer.pad_token == "[PAD]" and tokenizer.unk_token == "[UNK]"
    assert tokenizer.bos_token == "[BOS]" and tokenizer.eos_token == "[EOS]"
    assert tokenizer.convert_tokens_to_ids(["[PAD]", "[UNK]", "[BOS]", "[EOS]"]) == [0, 1, 2, 3]
    assert len(tokenizer) <= 120
    text = "to suffer the slings of fortune"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert len(ids) < len(text)  # subwords, not characters
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded(text, add_special_tokens=False)["input_ids"] == ids


def test_bpe_dropout_only_inside_the_context(tmp_path):
    tokenizer = train_tokenizer(CORPUS, kind="bpe", vocab_size=150, min_frequency=1, dropout=0.5)
    word = "outrageous"
    plain = {tuple(tokenizer(word)["input_ids"]) for _ in range(20)}
    assert len(plain) == 1  # evaluation: deterministic
    with subword_dropout(tokenizer):
        sampled = {tuple(tokenizer(word)["input_ids"]) for _ in range(50)}
    assert len(sampled) > 1  # training: several segmentations of the same word
    assert {tuple(tokenizer(word)["input_ids"]) for _ in range(20)} == plain  # off again
    tokenizer.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path).init_kwargs["subword_dropout"] == 0.5


def test_segmentation_stats_count_unknown_words():
    tokenizer = train_tokenizer(CORPUS, kind="wordpiece", vocab_size=120, min_frequency=1)
    stats = segmentation_stats(tokenizer, ["to be", "zzz 😀"])
    assert stats["words"] == 4
    assert stats["oov_rate"] == pytest.approx(0.5)  # "zzz" has no known piece either; the emoji certainly not
    assert stats["tokens_per_word"] >= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "sentencepiece"}, "unknown tokenizer kind"),
        ({"kind": "unigram", "dropout": 0.1}, "BPE option"),
        ({"dropout": 1.5}, "between 0 and 1"),
        ({"vocab_size": 5}, "too small"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(UserError, match=message):
        train_tokenizer(CORPUS, **kwargs)


def test_empty_input_is_a_user_error():
    with pytest.raises(UserError, match="no training text"):
        train_tokenizer([], kind="bpe", vocab_size=100)
    with pytest.raises(UserError, match="not one string"):
        train_tokenizer("one string", vocab_size=100)
