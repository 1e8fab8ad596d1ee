"""Training recipes, one per file, and the catalog of their shipped configs.

Run one with `hf-nlp train RECIPE --config NAME` from any directory (a pip install ships this folder
as the package `hf_nlp.recipes`; pyproject.toml maps it, so the files here are the only copy), or in
a clone with `accelerate launch recipes/<recipe>.py --config recipes/configs/<NAME>.yaml`.

`RECIPES` describes each recipe file and `CONFIGS` each YAML under `configs/`; `hf-nlp recipes`
prints them. A test keeps both in sync with the files and checks that every config parses.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parent
CONFIGS_DIR = RECIPES_DIR / "configs"
ACCELERATE_CONFIGS_DIR = RECIPES_DIR / "accelerate"
"""accelerate configs for GPUs and clusters (`hf-nlp train ... --accelerate-config NAME`), each headed by its commands."""


@dataclass(frozen=True)
class Recipe:
    config_class: str  # the dataclass its `--config` YAML parses into
    trains: str  # what it trains, one line
    default_config: str  # what `hf-nlp train RECIPE` runs without `--config`
    distributed: bool = True  # False: one process only (it trains nothing with the shared loop)


@dataclass(frozen=True)
class ShippedConfig:
    recipe: str
    what: str  # one line for `hf-nlp recipes`
    # Expected wall time in minutes on 2 CPU cores (AMD EPYC, one process), start-up and evaluation
    # included, from the runs behind docs/results.md; None where it needs a GPU or data we do not ship.
    minutes: float | None


RECIPES: dict[str, Recipe] = {
    "char_rnn": Recipe("CharRNNRecipeConfig", "a character-level language model on Shakespeare", "char_rnn_quick"),
    "sentiment_rnn": Recipe("SentimentRecipeConfig", "a GRU sentiment classifier from scratch, with masking",
                            "sentiment_rnn"),
    "finetune_encoder": Recipe("EncoderRecipeConfig", "a sentiment classifier on a pretrained encoder (USE, MiniLM)",
                               "finetune_encoder_use"),
    "translate_seq2seq": Recipe("TranslateRecipeConfig", "an English→Spanish encoder–decoder (LSTM or Marian)",
                                "seq2seq_quick"),
    "compare_mt": Recipe("CompareConfig", "no model: scores finished translation runs against Opus-MT and Apertium",
                         "compare_mt", distributed=False),
    "categorical_embeddings": Recipe("CategoricalRecipeConfig", "a regressor with a categorical feature embedded",
                                     "categorical_embeddings"),
}

CONFIGS: dict[str, ShippedConfig] = {
    "char_rnn_quick": ShippedConfig("char_rnn", "the main job: reference GRU 128, 3,000 steps (val. loss 1.50)", 3),
    "char_rnn_fast": ShippedConfig("char_rnn", "reference GRU at batch 256 with bf16 autocast (val. loss 1.49)", 3),
    "char_rnn": ShippedConfig("char_rnn", "the reference setup: batch 32, 10 epochs, capped at 60 min", 60),
    "char_rnn_stateful": ShippedConfig("char_rnn", "stateful training: state carried across batches", 11),
    "char_gpt2_quick": ShippedConfig("char_rnn", "a character-level GPT-2 (4 x 128) on the same windows", 11),
    "char_gpt2_baby": ShippedConfig("char_rnn", "nanoGPT's baby GPT (6 x 384, context 256), for one GPU", None),
    "sentiment_rnn": ShippedConfig("sentiment_rnn", "GRU 128 with masking on 1,500 movie reviews", 2.5),
    "sentiment_rnn_no_mask": ShippedConfig("sentiment_rnn", "the same GRU without masking (the failure mode)", 1.5),
    "sentiment_rnn_tweets": ShippedConfig("sentiment_rnn", "bidirectional GRU on 38k three-class tweets", 15),
    "finetune_encoder_use": ShippedConfig("finetune_encoder", "Universal Sentence Encoder (frozen) + a small head", 2),
    "finetune_encoder_minilm_two_stage": ShippedConfig(
        "finetune_encoder", "MiniLM: head on frozen embeddings, then every weight", 32),
    "finetune_encoder_minilm_full": ShippedConfig(
        "finetune_encoder", "MiniLM fine-tuned on reviews read as 256-token windows", 27),
    "finetune_encoder_minilm_full_pooled": ShippedConfig(
        "finetune_encoder", "MiniLM fine-tuned on whole reviews (windows pooled per review)", 26),
    "finetune_encoder_minilm_full_continued": ShippedConfig(
        "finetune_encoder", "one pooled epoch on top of a finished `_full` run", 11),
    "finetune_encoder_minilm_full_from_sentences": ShippedConfig(
        "finetune_encoder", "the `_full` run started from a classifier of review snippets", 25),
    "finetune_encoder_minilm_full_tweets": ShippedConfig(
        "finetune_encoder", "MiniLM fine-tuned on 38k three-class tweets", 11),
    "finetune_encoder_minilm_lora_tweets": ShippedConfig(
        "finetune_encoder", "MiniLM with rank-8 LoRA adapters on the same tweets", 12),
    "finetune_encoder_minilm_full_gpu": ShippedConfig(
        "finetune_encoder", "MiniLM on 512-token windows, 5 epochs, for one GPU", None),
    "seq2seq_quick": ShippedConfig("translate_seq2seq", "a small Luong-attention model on 3,000 pairs", 3),
    "seq2seq": ShippedConfig("translate_seq2seq", "the reference's plain LSTM encoder–decoder (BLEU 7.8)", 28),
    "seq2seq_bidirectional": ShippedConfig("translate_seq2seq", "bidirectional encoder, no attention (BLEU 8.4)", 24),
    "seq2seq_bahdanau": ShippedConfig("translate_seq2seq", "bidirectional encoder + Bahdanau attention (BLEU 25.7)",
                                      22),
    "seq2seq_luong": ShippedConfig("translate_seq2seq", "bidirectional encoder + Luong attention (BLEU 26.2)", 21),
    "seq2seq_marian": ShippedConfig("translate_seq2seq", "a Marian transformer from scratch (BLEU 25.2)", 32),
    "seq2seq_marian_old_testament": ShippedConfig(
        "translate_seq2seq", "the LoRA study's base: Marian + BPE on the Old Testament", 40),
    "seq2seq_marian_new_testament_full": ShippedConfig(
        "translate_seq2seq", "that base fine-tuned in full on the New Testament", None),
    "seq2seq_marian_new_testament_lora": ShippedConfig(
        "translate_seq2seq", "that base with rank-8 LoRA adapters on the New Testament", None),
    "seq2seq_anki": ShippedConfig("translate_seq2seq", "the reference setup on your Tatoeba/Anki spa.txt", None),
    "compare_mt": ShippedConfig("compare_mt", "the five seq2seq runs against Apertium and Opus-MT", 3),
    "categorical_embeddings": ShippedConfig("categorical_embeddings", "8 numbers + a 2-D category embedding", 0.5),
}


def config_class(recipe: str) -> type:
    """The config dataclass of a recipe (imports the recipe module: torch, transformers...)."""
    return getattr(importlib.import_module(f"{__name__}.{recipe}"), RECIPES[recipe].config_class)


def recipe_file(recipe: str) -> Path:
    return RECIPES_DIR / f"{recipe}.py"


def config_file(name: str) -> Path:
    return CONFIGS_DIR / f"{name}.yaml"


def accelerate_configs() -> list[str]:
    """The shipped accelerate configs' names."""
    return sorted(path.stem for path in ACCELERATE_CONFIGS_DIR.glob("*.yaml"))
