"""Pretrained sentence encoders for sentiment: the reference's "pretrained module + small head".

    accelerate launch recipes/finetune_encoder.py --config recipes/configs/finetune_encoder_use.yaml

`--model.encoder use`: the Universal Sentence Encoder (512-d, numpy, frozen) embeds every text
once (cached), and only a Dense(64, ReLU) -> Dense(classes) head trains, with the shared loop.
The same run fits the TF-IDF + logistic-regression baseline on the same splits. (MiniLM frozen /
unfrozen and full fine-tuning come next in this recipe; see issue 5.)
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from hf_nlp.data.reviews import label_config, load_sentiment, sentiment_corpus_key
from hf_nlp.errors import exit_on_user_error
from hf_nlp.evaluation.baselines import tfidf_logistic_regression
from hf_nlp.evaluation.metrics import classification_example_stats, classification_summary
from hf_nlp.evaluation.report import environment_info, markdown_table, plot_confusion_matrix, write_report
from hf_nlp.models.embedding_classifier import EmbeddingClassifier, EmbeddingClassifierConfig
from hf_nlp.text.sentence_embeddings import ENCODERS, with_sentence_embeddings
from hf_nlp.training.config import TrainingConfig, parse_config, to_dict
from hf_nlp.training.loop import Trainer


@dataclass
class DataConfig:
    source: str = "polarity"
    """`polarity`, `sentences`, `tweets`, a .csv/.jsonl/.parquet file, or a Hub id."""
    text_column: str = "text"
    label_column: str = "label"


@dataclass
class ModelConfig:
    encoder: Literal["use"] = "use"
    hidden_size: int = 64
    dropout: float = 0.0


@dataclass
class EncoderRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainingConfig = field(default_factory=lambda: TrainingConfig(
        output_dir="runs/finetune_encoder_use", optimizer="adam", learning_rate=1e-3, batch_size=32,
        num_epochs=20, eval_every=0, save_every=0, metric_for_best="accuracy", greater_is_better=True,
        early_stopping_patience=5))


def main(argv: list[str] | None = None) -> dict:
    started = time.monotonic()
    cfg = parse_config(EncoderRecipeConfig, sys.argv[1:] if argv is None else argv)
    trainer = Trainer(cfg.train, example_stats=classification_example_stats, run_config=cfg)
    accelerator = trainer.accelerator
    with accelerator.main_process_first():
        corpus = load_sentiment(cfg.data.source, cfg.data.text_column, cfg.data.label_column)
        key = sentiment_corpus_key(cfg.data.source, cfg.data.text_column, cfg.data.label_column)
        embedded = with_sentence_embeddings(corpus, key, cfg.model.encoder).with_format("torch")
    names = corpus["train"].features["label"].names
    model = EmbeddingClassifier(EmbeddingClassifierConfig(
        embedding_dim=ENCODERS[cfg.model.encoder], hidden_size=cfg.model.hidden_size, dropout=cfg.model.dropout,
        encoder=cfg.model.encoder, **label_config(names)))
    result = trainer.fit(model, embedded["train"], embedded["validation"])
    best = EmbeddingClassifier.from_pretrained(result.best_model_dir)
    metrics: dict = {"corpus": cfg.data.source, "classes": names, "encoder": cfg.model.encoder,
                     "split_sizes": {s: len(corpus[s]) for s in corpus}, "train_steps": result.global_step,
                     "trainable_parameters": sum(p.numel() for p in best.parameters()),
                     "train_minutes": result.train_seconds / 60}
    for split in ("validation", "test"):
        metrics[split] = classification_summary(trainer.evaluate(best, embedded[split]), len(names))
    if accelerator.is_main_process:
        metrics["tfidf_logreg"] = tfidf_logistic_regression(corpus)
        metrics["wall_minutes"] = (time.monotonic() - started) / 60
        run_dir = Path(cfg.train.output_dir)
        plot_confusion_matrix(np.array(metrics["test"]["confusion"]), names, run_dir / "confusion_matrix.png")
        rows = [
            {"model": f"{cfg.model.encoder.upper()} (frozen) + Dense({cfg.model.hidden_size}, ReLU) head",
             "test accuracy": metrics["test"]["accuracy"], "test macro-F1": metrics["test"]["f1_macro"],
             "trainable parameters": f"{metrics['trainable_parameters']:,}", "train min": metrics["train_minutes"]},
            {"model": "TF-IDF (1-2 grams) + logistic regression", "test accuracy": metrics["tfidf_logreg"]["accuracy"],
             "test macro-F1": metrics["tfidf_logreg"]["f1_macro"], "trainable parameters": "—",
             "train min": metrics["tfidf_logreg"]["train_seconds"] / 60},
        ]
        write_report(run_dir, "Pretrained sentence encoder + head",
                     {"Results": markdown_table(rows) + "\n\n![confusion matrix](confusion_matrix.png)",
                      "Data": f"`{cfg.data.source}`; splits " + ", ".join(
                          f"{k} {v:,}" for k, v in metrics["split_sizes"].items()) + ". Embeddings cached once."},
                     metrics, to_dict(cfg), environment_info(accelerator.num_processes))
        accelerator.print(f"test accuracy {metrics['test']['accuracy']:.4f} (TF-IDF + logistic regression "
                          f"{metrics['tfidf_logreg']['accuracy']:.4f}); report: {run_dir / 'report.md'}")
    accelerator.wait_for_everyone()
    return metrics


if __name__ == "__main__":
    exit_on_user_error(main)()
