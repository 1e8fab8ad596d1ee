"""Pretrained encoders for sentiment: frozen module + head, two-stage unfreezing, full fine-tuning.

    accelerate launch recipes/finetune_encoder.py --config recipes/configs/finetune_encoder_use.yaml
    accelerate launch recipes/finetune_encoder.py --config recipes/configs/finetune_encoder_minilm_two_stage.yaml
    accelerate launch recipes/finetune_encoder.py --config recipes/configs/finetune_encoder_minilm_full.yaml

`--model.method`:
- `head`: the encoder (`use`, `minilm` or any transformers encoder, mean-pooled) embeds every text
  once (cached on disk) and only a Dense(64, ReLU) -> Dense(classes) head trains (`train`).
- `two_stage` (transformer encoders): the `head` stage, then `PooledEncoderClassifier` (encoder +
  the same head, its weights carried over) trains end to end with the `finetune` settings (lower
  learning rate, warmup + linear decay). The head stage writes to `<train.output_dir>/frozen_head`.
- `full`: `AutoModelForSequenceClassification` on the encoder ([CLS] pooler + linear classifier),
  every weight trained with the `train` settings.
The same run fits the TF-IDF + logistic-regression baseline on the same splits, and the report
(`report.md`, `metrics.json`, a confusion matrix per variant) lists every stage it trained.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from datasets import DatasetDict
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hf_nlp.config import check_at_least, check_fraction, parse_config, to_dict
from hf_nlp.data.sentiment import EncoderDataConfig, label_config
from hf_nlp.errors import UserError, exit_on_user_error
from hf_nlp.evaluation.baselines import tfidf_logistic_regression
from hf_nlp.evaluation.metrics import (
    classification_example_stats,
    evaluate_classifier,
    evaluate_text_classifier,
)
from hf_nlp.hub import PushConfig, check_push_target, finish_model_folder
from hf_nlp.models.activation_checkpointing import enable_activation_checkpointing
from hf_nlp.models.embedding_classifier import EmbeddingClassifier, EmbeddingClassifierConfig
from hf_nlp.models.lora import LoraSettings, save_merged_with_adapter, with_lora
from hf_nlp.models.pooled_encoder_classifier import PooledEncoderClassifier
from hf_nlp.reports.classification import encoder_run_notes, variant_result, write_classification_report
from hf_nlp.reports.writing import environment_info
from hf_nlp.runs import earlier_run
from hf_nlp.text.long_texts import TextReading, pooled_window_forward, tokenize_texts, training_sets
from hf_nlp.text.sentence_embeddings import pretrained_encoder_path, with_sentence_embeddings
from hf_nlp.training.batch_step import StatelessStep
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import BEST_MODEL_DIR, Trainer


@dataclass
class ModelConfig:
    encoder: str = "use"
    """`use` (Universal Sentence Encoder, frozen only), `minilm` (all-MiniLM-L6-v2 from its PyPI
    package), or any transformers encoder: a local directory or a Hub id."""
    method: Literal["head", "two_stage", "full"] = "head"
    init_from: str | None = None
    """`full` only: start from an earlier fine-tuned classifier run (its folder or a Hub id) with the
    same labels and encoder; null: the bare encoder. Either a run on the same data and splits (e.g.
    `pooled_windows` on top of a `windows` run), or one on another corpus that shares no text with
    this run's validation and test splits (e.g. `sentences` before `polarity`). The earlier run's
    training minutes are added to this one's."""
    hidden_size: int = 64
    """Units of the head's ReLU layer (`head` and `two_stage`)."""
    dropout: float = 0.0
    lora: LoraSettings = field(default_factory=LoraSettings)
    """`full` only: train LoRA adapters (`--model.lora.r 8`) instead of every encoder weight; the best
    model is saved merged (Auto classes) and as an adapter (`best_model/adapter`, peft)."""
    gradient_checkpointing: bool = False
    """`full` and `two_stage`: recompute the encoder's activations in the backward pass instead of
    storing them (less memory for longer texts or bigger batches, about a third more compute)."""

    def __post_init__(self) -> None:
        check_at_least("model", self, 1, "hidden_size")
        check_fraction("model", self, "dropout")
        if self.init_from and self.method != "full":
            raise UserError("`--model.init_from` continues a fully fine-tuned run; use it with `--model.method full`.")
        if self.gradient_checkpointing and self.method == "head":
            raise UserError("`--model.gradient_checkpointing` applies to an encoder being trained; use it with "
                            "`--model.method full` or `two_stage` (the head alone keeps no encoder activations).")
        if self.lora.enabled and self.method != "full":
            raise UserError("`--model.lora.r` adapts a fully fine-tuned encoder; use it with `--model.method full`.")
        if self.encoder == "use" and self.method != "head":
            raise UserError("the Universal Sentence Encoder runs in numpy and cannot be fine-tuned; use "
                            "`--model.method head`, or `--model.encoder minilm` to fine-tune.")


def _finetune_defaults() -> TrainingConfig:
    return TrainingConfig(
        output_dir="(unused: the run writes to train.output_dir)", optimizer="adamw", learning_rate=2e-5,
        weight_decay=0.01, lr_scheduler="linear", warmup_ratio=0.1, batch_size=32, num_epochs=3, eval_every=0,
        save_every=0, metric_for_best="accuracy", greater_is_better=True)


@dataclass
class EncoderRecipeConfig:
    data: EncoderDataConfig = field(default_factory=EncoderDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainingConfig = field(default_factory=lambda: TrainingConfig(
        output_dir="runs/finetune_encoder_use", optimizer="adam", learning_rate=1e-3, batch_size=32,
        num_epochs=20, eval_every=0, save_every=0, metric_for_best="accuracy", greater_is_better=True,
        early_stopping_patience=5))
    """The head (`head`, first stage of `two_stage`) or the whole model (`full`)."""
    finetune: TrainingConfig = field(default_factory=_finetune_defaults)
    """Second stage of `two_stage` (everything unfrozen). Its mixed_precision also applies to the
    head stage (one accelerate state per process); its output_dir is unused."""
    push_to_hub: PushConfig = field(default_factory=PushConfig)


def main(argv: list[str] | None = None) -> dict:
    started = time.monotonic()
    cfg = parse_config(EncoderRecipeConfig, sys.argv[1:] if argv is None else argv)
    check_push_target(cfg.push_to_hub)
    reading = TextReading.of(cfg.data.max_length, cfg.data.long_texts, cfg.data.window_overlap)
    classify = StatelessStep(classification_example_stats)
    # Pooled windows: the loss and every score are on a text's mean window logits.
    encoder_step = StatelessStep(classification_example_stats,
                                 pooled_window_forward if cfg.data.long_texts == "pooled_windows" else None)
    run_dir, method = Path(cfg.train.output_dir), cfg.model.method
    # two_stage: the head trains in a subfolder, at the precision of the stage after it (one Accelerator).
    head_cfg = replace(cfg.train, output_dir=str(run_dir / "frozen_head"), mixed_precision=cfg.finetune.mixed_precision)
    trainer = Trainer(head_cfg if method == "two_stage" else cfg.train, encoder_step if method == "full" else classify,
                      run_config=cfg)
    accelerator = trainer.accelerator
    with accelerator.main_process_first():
        corpus = cfg.data.subset(cfg.data.load(), cfg.train.seed)
    names = corpus["train"].features["label"].names
    encoder = ENCODER_NAMES.get(cfg.model.encoder, cfg.model.encoder)
    variants, head = [], None
    if method in ("head", "two_stage"):
        head, result, evaluations = _train_head(trainer, corpus, cfg, names)
        variants.append(variant_result(f"{encoder} (frozen{', mean-pooled' if cfg.model.encoder != 'use' else ''}) + "
                                       f"Dense({cfg.model.hidden_size}, ReLU) head", "sentence_encoder_head",
                                       evaluations, head, result))
    with accelerator.main_process_first():  # may load the earlier run's corpus, or download the run
        start = earlier_run(cfg.model.init_from, to_dict(cfg), corpus) if cfg.model.init_from else None
    if method != "head":
        path = start.model_dir if start else pretrained_encoder_path(cfg.model.encoder)
        tokenizer = AutoTokenizer.from_pretrained(path, truncation_side=cfg.data.truncation_side)
        if method == "two_stage":
            model = PooledEncoderClassifier.from_encoder(path, hidden_size=cfg.model.hidden_size,
                                                         dropout=cfg.model.dropout, **label_config(names))
            model.head.load_state_dict(head.head.state_dict())  # stage one's head, carried over
            name, kind = f"{encoder} mean-pooled + head, then unfrozen (lr {cfg.finetune.learning_rate:g})", \
                "sentence_encoder_two_stage"
            trainer = Trainer(replace(cfg.finetune, output_dir=str(run_dir)), encoder_step, run_config=cfg,
                              config_section="finetune")
        else:
            model = AutoModelForSequenceClassification.from_pretrained(path, **label_config(names))
            name, kind = f"{encoder} fine-tuned (all weights)" + (start.name_suffix(cfg.data.source) if start else ""), \
                "full_finetune"
        if cfg.model.gradient_checkpointing:
            enable_activation_checkpointing(model)
        lora, trained = cfg.model.lora, None
        if lora.enabled:
            model = with_lora(model, lora)
            trained = model.num_parameters(only_trainable=True)  # the adapters and the new head
            name, kind = f"{encoder} fine-tuned with LoRA (r {lora.r}, alpha {lora.alpha:g})" + \
                (start.name_suffix(cfg.data.source) if start else ""), "lora_finetune"
        model, result, evaluations = _train_encoder(trainer, model, tokenizer, corpus, reading, lora.enabled)
        variants.append(variant_result(name, kind, evaluations, model, result, trained_parameters=trained))
        if start:
            variants[-1]["train_minutes"] += start.train_minutes or 0.0

    metrics: dict = {**cfg.data.corpus_info(corpus), "variants": variants}
    if accelerator.is_main_process:
        metrics["tfidf_logreg"] = tfidf_logistic_regression(corpus)
        metrics["run"] = {
            "method": method, "encoder": cfg.model.encoder, "max_train_examples": cfg.data.max_train_examples,
            "reading": {"max_length": cfg.data.max_length, "truncation_side": cfg.data.truncation_side,
                        "long_texts": cfg.data.long_texts, "window_overlap": reading.overlap, "pooling": reading.pooling},
            "processes": accelerator.num_processes, "mixed_precision": accelerator.mixed_precision,
            "wall_minutes": (time.monotonic() - started) / 60,
            "continued_from": start and {"model": cfg.model.init_from, "source": start.source,
                                         "same_corpus": start.source == cfg.data.source,
                                         "train_minutes": start.train_minutes}}
        write_classification_report(run_dir, "Pretrained encoders for sentiment", cfg.data.corpus_info(corpus),
                                    variants, metrics["tfidf_logreg"], encoder_run_notes(metrics["run"]), to_dict(cfg),
                                    environment_info(accelerator.num_processes), run=metrics["run"])
        accelerator.print(f"test accuracy {variants[-1]['test']['accuracy']:.4f} (TF-IDF + logistic regression "
                          f"{metrics['tfidf_logreg']['accuracy']:.4f}); report: {run_dir / 'report.md'}")
        finish_model_folder(run_dir / BEST_MODEL_DIR, cfg.push_to_hub, accelerator.print)
    accelerator.wait_for_everyone()
    return metrics


ENCODER_NAMES = {"use": "Universal Sentence Encoder", "minilm": "all-MiniLM-L6-v2"}


def _train_head(trainer: Trainer, corpus: DatasetDict, cfg: EncoderRecipeConfig, names: list[str]):
    """The frozen-encoder stage: embed once (cached), train the head on the embeddings."""
    key = {**cfg.data.corpus_key(), "max_train_examples": cfg.data.max_train_examples, "subset_seed": cfg.train.seed}
    with trainer.accelerator.main_process_first():
        embedded = with_sentence_embeddings(corpus, key, cfg.model.encoder, cfg.data.max_length,
                                            cfg.data.truncation_side).with_format("torch")
    head = EmbeddingClassifier(EmbeddingClassifierConfig(
        embedding_dim=len(embedded["train"][0]["sentence_embeddings"]), hidden_size=cfg.model.hidden_size,
        dropout=cfg.model.dropout, encoder=cfg.model.encoder, **label_config(names)))
    result = trainer.fit(head, embedded["train"], embedded["validation"])
    best = EmbeddingClassifier.from_pretrained(result.best_model_dir)
    return best, result, {split: evaluate_classifier(trainer, best, embedded[split], len(names))
                          for split in ("validation", "test")}


def _train_encoder(trainer: Trainer, model, tokenizer, corpus: DatasetDict, reading: TextReading, lora: bool):
    """Train on tokenized text read as `reading` says (length-grouped batches, dynamic padding); the best
    model is saved with its tokenizer, ready for `pipeline("text-classification")`. A `lora` model is
    saved merged (a plain sequence classifier) with its adapter beside it."""
    with trainer.accelerator.main_process_first():
        encoded = tokenize_texts(corpus, tokenizer, reading)
    train, validation, collate, lengths = training_sets(encoded, reading, tokenizer)
    result = trainer.fit(model, train, validation, collate_fn=collate, lengths=lengths, processing_class=tokenizer,
                         write_model=save_merged_with_adapter if lora else None)
    best = (AutoModelForSequenceClassification if lora else type(model)).from_pretrained(result.best_model_dir)
    num_classes = len(corpus["train"].features["label"].names)
    return best, result, evaluate_text_classifier(trainer, best, encoded, reading, tokenizer, num_classes)


if __name__ == "__main__":
    exit_on_user_error(main)()
