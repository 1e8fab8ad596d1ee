"""translate_texts: input order kept across length-sorted batches, several returns per text, the
[UNK] penalty; and the translation tokenizer's id layout."""

import torch

from hf_nlp.generation.translate import translate_texts
from hf_nlp.models import RNNForSeq2SeqLM, Seq2SeqRNNConfig
from hf_nlp.text.translation_tokenizer import build_translation_tokenizer

ENGLISH = ["the cat", "a big dog runs home now", "I like soccer", "the cat sleeps", "dogs"]
SPANISH = ["el gato", "un perro grande corre a casa ahora", "me gusta el fútbol", "el gato duerme", "perros"]


def tokenizer_and_model(seed: int = 0):
    tokenizer, target_size = build_translation_tokenizer(ENGLISH, SPANISH, source_vocab_size=12, target_vocab_size=10)
    torch.manual_seed(seed)
    config = Seq2SeqRNNConfig(vocab_size=len(tokenizer), target_vocab_size=target_size, embedding_size=8,
                              hidden_size=8, attention="luong", unk_token_id=tokenizer.unk_token_id)
    return tokenizer, target_size, RNNForSeq2SeqLM(config).eval()


def test_tokenizer_puts_specials_then_target_words_then_source_only_words():
    tokenizer, target_size, _ = tokenizer_and_model()
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
    assert target_size == 10  # 4 specials + the 6 most frequent Spanish words
    target_words = tokenizer.convert_ids_to_tokens(list(range(4, target_size)))
    assert "el" in target_words and "gato" in target_words
    source_only = tokenizer.convert_ids_to_tokens(list(range(target_size, len(tokenizer))))
    assert "the" in source_only and not set(source_only) & set(target_words)
    assert tokenizer("The cat!")["input_ids"][-1] == tokenizer.eos_token_id  # lowercased, punctuation gone, [EOS]
    assert tokenizer.decode(tokenizer(text_target="El gato.")["input_ids"], skip_special_tokens=True) == "el gato"


def test_order_is_kept_and_returns_are_grouped_per_text():
    tokenizer, _, model = tokenizer_and_model()
    together = translate_texts(model, tokenizer, ENGLISH, batch_size=2, num_beams=3, num_return_sequences=2,
                               max_new_tokens=6, progress=False)
    assert len(together.texts) == 2 * len(ENGLISH) and together.sentences_per_second > 0
    for index, text in enumerate(ENGLISH):
        alone = translate_texts(model, tokenizer, [text], num_beams=3, num_return_sequences=2, max_new_tokens=6,
                                progress=False)
        assert together.texts[2 * index: 2 * index + 2] == alone.texts


def test_unk_penalty_keeps_unk_out_of_the_output():
    tokenizer, _, model = tokenizer_and_model(seed=1)
    with torch.no_grad():
        model.lm_head.bias[tokenizer.unk_token_id] += 20.0  # the model now prefers [UNK] everywhere
    plain = translate_texts(model, tokenizer, ENGLISH, max_new_tokens=4, progress=False)
    assert all(text.split() == ["[UNK]"] * 4 for text in plain.texts)  # shown, not decoded away
    penalised = translate_texts(model, tokenizer, ENGLISH, max_new_tokens=4, unk_penalty=float("inf"), progress=False)
    assert all(text and "[UNK]" not in text for text in penalised.texts)
