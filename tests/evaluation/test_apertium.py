"""Apertium, the rule-based baseline: one process for many sentences, output aligned line by line.
Needs the Debian packages (`apt-get install apertium apertium-eng-spa`; .ci/run installs them)."""

import pytest

from hf_nlp.errors import UserError
from hf_nlp.evaluation import apertium
from hf_nlp.evaluation.apertium import apertium_available, apertium_translate

needs_apertium = pytest.mark.skipif(not apertium_available(), reason="apertium eng-spa is not installed")


@needs_apertium
def test_translates_many_sentences_in_one_call_keeping_their_order():
    sentences = ["I like soccer.", "The king said to his son.", "I love cats and dogs"] * 20
    translations = apertium_translate(sentences)
    assert len(translations.texts) == 60 and translations.seconds > 0
    assert "gusta" in translations.texts[0] and "rey" in translations.texts[1] and "gatos" in translations.texts[2]
    assert translations.texts[3:6] == translations.texts[:3]


@needs_apertium
def test_newlines_inside_a_sentence_do_not_shift_the_rest():
    translations = apertium_translate(["The king\nsaid.", "I like soccer."])
    assert len(translations.texts) == 2 and "gusta" in translations.texts[1]


def test_missing_apertium_is_one_sentence(monkeypatch):
    monkeypatch.setattr(apertium.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="apt-get install apertium apertium-eng-spa"):
        apertium_translate(["I like soccer."])
