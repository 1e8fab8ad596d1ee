"""`hf-nlp evaluate`: any of our models (or a pretrained one via the Auto classes) on a dataset split.

The data are the ones the model was trained on: a run saves its recipe config (`config.yaml`)
beside the weights, and `hf-nlp push` uploads it, so the same corpus, preprocessing and fixed-seed
split are rebuilt from a folder or a Hub id. Without one (a pretrained model), the family's
default corpus is used, or `--source`. Metrics come from the shared training loop's evaluation
(`hf_nlp.training.scoring.Scorer`, no training run), sacrebleu (BLEU, chrF) and scikit-learn (F1, confusion matrix):

- `lm`: cross-entropy per token, perplexity, bits per character, next-token accuracy, on
  non-overlapping windows read from a zero state (the stateless protocol, comparable across models);
- `classification`: accuracy, macro-F1, confusion matrix (+ PNG); a run that trained on windows
  has every text read as windows and pooled as in training (`hf_nlp.text.long_texts`);
- `translation`: BLEU and chrF of beam-search translations, and token accuracy under teacher forcing.

The result goes to `eval/<split>.json` in the model folder (a Hub id: `./eval/<owner>--<name>/`),
which the model card (`hf_nlp.model_card`) adds to its `model-index`.
"""

from __future__ import annotations

import inspect
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import DatasetDict
from transformers import DataCollatorForSeq2Seq, DataCollatorWithPadding

from hf_nlp.atomic import write_text_atomic
from hf_nlp.data.char_windows import CharWindows
from hf_nlp.data.sentiment import SentimentDataConfig
from hf_nlp.data.shakespeare import ShakespeareDataConfig
from hf_nlp.data.spa_eng import SpaEngDataConfig, encode_pairs
from hf_nlp.errors import UserError
from hf_nlp.evaluation.metrics import (
    bits_per_char,
    causal_lm_example_stats,
    classification_example_stats,
    evaluate_by_text,
    perplexity,
    seq2seq_example_stats,
)
from hf_nlp.evaluation.translation import translation_scores
from hf_nlp.generation.translate import translate_texts
from hf_nlp.hub import load_model_and_tokenizer, resolve_model_dir
from hf_nlp.model_card import write_model_card
from hf_nlp.reports.writing import environment_info, plot_confusion_matrix
from hf_nlp.runs import load_run_config
from hf_nlp.text.char_corpus import load_char_corpus
from hf_nlp.text.long_texts import TextReading, tokenize_texts
from hf_nlp.training.batch_step import StatelessStep
from hf_nlp.training.scoring import Scorer

TASKS = {"lm": "AutoModelForCausalLM", "classification": "AutoModelForSequenceClassification",
         "translation": "AutoModelForSeq2SeqLM"}
SPLITS = ("train", "validation", "test")


def evaluate_model(model: str, task: str, split: str = "test", source: str | None = None, batch_size: int = 64,
                   num_beams: int | None = None, max_examples: int | None = None,
                   output_dir: Path | None = None) -> tuple[dict[str, Any], Path]:
    """Metrics of `model` (folder, run folder or Hub id) on `split`; returns them and the JSON path."""
    if task not in TASKS:
        raise UserError(f"`--task {task}` is not one of {', '.join(TASKS)}.")
    if split not in SPLITS:
        raise UserError(f"`--split {split}` is not one of {', '.join(SPLITS)}.")
    location = resolve_model_dir(model)
    loaded, tokenizer = load_model_and_tokenizer(model, TASKS[task])
    recipe_config = load_run_config(location)
    data = dict(recipe_config.get("data") or {})
    if source is not None:
        data["source"] = source
    saved = {**recipe_config, "data": data}  # the run's settings, on `--source` when given
    started = time.perf_counter()
    evaluate = {"lm": _evaluate_lm, "classification": _evaluate_classification,
                "translation": _evaluate_translation}[task]
    local = Path(location).is_dir()
    out = Path(output_dir) if output_dir else (Path(location) / "eval" if local else Path("eval") / location.replace("/", "--"))
    out.mkdir(parents=True, exist_ok=True)
    metrics, data_info = evaluate(loaded, tokenizer, saved, split, batch_size, num_beams, max_examples, out)
    result = {"model": model, "task": task, "split": split, "data": data_info, "metrics": metrics,
              "seconds": time.perf_counter() - started, "environment": environment_info()}
    path = out / f"{split}.json"
    write_text_atomic(path, json.dumps(result, indent=2))
    if local and path.parent == Path(location) / "eval" and (Path(location) / "README.md").is_file():
        write_model_card(Path(location))  # the card's model-index now carries this evaluation too
    return result, path


def _scorer(batch_size: int, example_stats, forward=None) -> Scorer:
    """Scoring without a training run: no run folder, no optimizer, the process' shared Accelerator."""
    return Scorer(StatelessStep(example_stats, forward), batch_size)


def _limit(dataset, max_examples: int | None):
    return dataset if max_examples is None else dataset.select(range(min(max_examples, len(dataset))))


# --------------------------------------------------------------------------- lm


def _evaluate_lm(model, tokenizer, saved: dict, split: str, batch_size: int, num_beams, max_examples, out: Path):
    config = ShakespeareDataConfig.of_run(saved)
    source, window = config.source, config.window
    corpus = load_char_corpus(config)
    split_ids = corpus.splits[split]
    if max_examples is not None:
        split_ids = split_ids.head(max_examples * window + 1)
    split_chars = len(split_ids)
    ids = split_ids  # the run's own tokenizer: its ids, read from disk
    if tokenizer.get_vocab() != corpus.tokenizer.get_vocab():  # another (e.g. subwords): tokenize the text
        ids = torch.tensor(tokenizer(corpus.text(split, split_chars))["input_ids"], dtype=torch.long)
    windows = CharWindows(ids, window, stride=window, what=split)
    values = _scorer(batch_size, causal_lm_example_stats).evaluate(model, windows)
    tokens = int(values["count"])
    chars_per_token = split_chars / max(len(ids), 1)  # 1 for a character tokenizer
    metrics = {"loss": values["loss"], "perplexity": perplexity(values["loss"]),
               "bits_per_char": bits_per_char(values["loss"]) / chars_per_token, "accuracy": values["accuracy"],
               "tokens": tokens}
    return metrics, {"source": source, "window": window, "windows": len(windows), "split_chars": split_chars}


# --------------------------------------------------------------------------- classification


def _evaluate_classification(model, tokenizer, saved: dict, split: str, batch_size: int, num_beams, max_examples,
                             out: Path):
    if "input_ids" not in _forward_arguments(model):
        raise UserError("this model reads sentence embeddings, not text (a frozen-encoder head); evaluate the "
                        "run's fine-tuned model, or use the recipe's report.")
    data_config = SentimentDataConfig.of_run(saved)
    source, corpus = data_config.source, data_config.load()
    texts = _limit(corpus[split], max_examples)
    names = texts.features["label"].names
    model_labels = {label.lower(): index for label, index in (model.config.label2id or {}).items()}
    if not all(name.lower() in model_labels for name in names):
        raise UserError(f"the model's labels {sorted(model_labels)} do not cover the data's {names}; evaluate on the "
                        "corpus it was trained for (`--source`).")
    to_model = [model_labels[name.lower()] for name in names]
    reading = TextReading.of_run(saved)
    max_length = min(reading.max_length or tokenizer.model_max_length or 512, 4096)
    encoded = tokenize_texts(DatasetDict({"split": texts}), tokenizer, replace(reading, max_length=max_length))["split"]
    # Each text scored by pooling its windows as the run did (one window per text unless it used windows),
    # through the same per-text evaluation as the recipe, with the data's labels in the model's ids.
    scores = evaluate_by_text(_scorer(batch_size, classification_example_stats), model,
                              encoded.remove_columns(["document", "labels"]), encoded["document"],
                              [to_model[label] for label in texts["label"]], model.config.num_labels,
                              DataCollatorWithPadding(tokenizer, return_tensors="pt"), reading.pooling)
    metrics = {key: scores[key] for key in ("accuracy", "f1_macro", "examples", "confusion")}
    class_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    plot_confusion_matrix(np.array(metrics["confusion"]), class_names, out / f"{split}_confusion.png")
    metrics |= {"classes": class_names, "confusion_png": f"{split}_confusion.png"}
    return metrics, {"source": source, "max_length": max_length, "windows": reading.windows}


def _forward_arguments(model) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


# --------------------------------------------------------------------------- translation


def _evaluate_translation(model, tokenizer, saved: dict, split: str, batch_size: int, num_beams, max_examples,
                          out: Path):
    config = SpaEngDataConfig.of_run(saved)
    pairs = _limit(config.load()[split], max_examples)
    beams = num_beams or getattr(model.generation_config, "num_beams", 1) or 1
    max_new_tokens = getattr(model.generation_config, "max_new_tokens", None) or 60
    translations = translate_texts(model, tokenizer, list(pairs["en"]), batch_size=batch_size, num_beams=beams,
                                   max_new_tokens=max_new_tokens)
    scores = translation_scores(translations.texts, list(pairs["es"]))
    target_size = getattr(model.config, "target_vocab_size", None) or getattr(model.config, "decoder_vocab_size",
                                                                             None) or len(tokenizer)
    encoded = encode_pairs(DatasetDict({"split": pairs}), tokenizer, target_size)["split"]
    collate = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)
    teacher_forced = _scorer(batch_size, seq2seq_example_stats).evaluate(model, encoded, collate_fn=collate)
    metrics = {"bleu": scores["bleu"], "chrf": scores["chrf"], "token_accuracy": teacher_forced["accuracy"],
               "loss": teacher_forced["loss"], "sentences": len(pairs), "num_beams": beams,
               "sentences_per_s": translations.sentences_per_second,
               "examples": [{"English": e, "reference": r, "translation": t}
                            for e, r, t in zip(pairs["en"][:5], pairs["es"][:5], translations.texts[:5], strict=True)]}
    return metrics, {"source": config.source, "lowercase": config.lowercase, "test_size": config.test_size,
                     "validation_size": config.validation_size}
