"""BLEU / chrF through sacrebleu on the shared standardisation, and the attention heatmap."""

import numpy as np
import pytest

from hf_nlp.evaluation.translation import plot_attention, standardize_for_scoring, translation_scores

REFERENCES = ["Y el rey dijo á Arauna: No, sino por precio te lo compraré.", "Me gusta el fútbol."]


def test_a_perfect_copy_scores_100_bleu_and_chrf_1():
    scores = translation_scores(REFERENCES, REFERENCES)
    assert scores["bleu"] == pytest.approx(100.0) and scores["chrf"] == pytest.approx(1.0) and scores["sentences"] == 2


def test_case_and_punctuation_do_not_count_but_words_do():
    word_level = ["y el rey dijo á arauna no sino por precio te lo compraré", "me gusta el fútbol"]
    assert translation_scores(word_level, REFERENCES)["bleu"] == pytest.approx(100.0)
    worse = translation_scores(["y el rey dijo no", "me gusta"], REFERENCES)
    assert 0 < worse["bleu"] < 100 and 0 < worse["chrf"] < 1
    assert standardize_for_scoring("  ¿Qué   TAL?  ") == "¿qué tal"  # ASCII punctuation only, like the tokenizer


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError):
        translation_scores(["one"], REFERENCES)


def test_attention_heatmap_is_written(tmp_path):
    weights = np.full((3, 4), 0.25)
    path = plot_attention(weights, ["i", "like", "soccer", "[EOS]"], ["me", "gusta", "[EOS]"], tmp_path / "a.png", "t")
    assert path.stat().st_size > 1000
