"""Sentiment GRU from scratch (Géron, Hands-On ML ch. 16), with the masking ablation and a TF-IDF baseline.

    accelerate launch recipes/sentiment_rnn.py --config recipes/configs/sentiment_rnn.yaml
    accelerate launch recipes/sentiment_rnn.py --config recipes/configs/sentiment_rnn.yaml --model.masking false

Text -> `TextVectorization` (vocabulary of `max_tokens`, as a transformers tokenizer) -> Embedding
-> GRU -> Linear, trained with the shared loop on length-grouped, dynamically padded batches.
The same run fits the classic baseline, TF-IDF (uni+bigrams, sublinear tf) + logistic regression
(scikit-learn, sparse), on the same splits. Writes `best_model/` (model + tokenizer, usable in
`pipeline("text-classification")`), `report.md`, `metrics.json`, `confusion_matrix.png`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from transformers import DataCollatorWithPadding

from hf_nlp.data.reviews import label_config, load_sentiment
from hf_nlp.errors import exit_on_user_error
from hf_nlp.evaluation.baselines import tfidf_logistic_regression
from hf_nlp.evaluation.metrics import classification_example_stats, classification_summary
from hf_nlp.evaluation.report import environment_info, markdown_table, plot_confusion_matrix, write_report
from hf_nlp.models.rnn_classifier import RNNClassifierConfig, RNNForSequenceClassification
from hf_nlp.text.vectorize import TextVectorization
from hf_nlp.training.config import TrainingConfig, parse_config, to_dict
from hf_nlp.training.loop import Trainer


@dataclass
class DataConfig:
    source: str = "polarity"
    """`polarity`, `sentences`, `tweets`, a .csv/.jsonl/.parquet file, or a Hub id (e.g. stanfordnlp/imdb)."""
    text_column: str = "text"
    label_column: str = "label"
    max_tokens: int = 1000
    """Vocabulary size, padding and [UNK] included (the reference uses 1,000)."""
    max_length: int | None = None
    """Truncate texts to this many tokens; null keeps them whole."""


@dataclass
class ModelConfig:
    cell_type: Literal["gru", "lstm"] = "gru"
    embedding_size: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    masking: bool = True
    """False feeds the padding through the GRU before the final state (the reference's failure mode)."""


@dataclass
class SentimentRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainingConfig = field(default_factory=lambda: TrainingConfig(
        output_dir="runs/sentiment_rnn", optimizer="nadam", learning_rate=1e-3, batch_size=32, num_epochs=10,
        eval_every=0, save_every=0, metric_for_best="accuracy", greater_is_better=True, early_stopping_patience=3))


def main(argv: list[str] | None = None) -> dict:
    started = time.monotonic()
    cfg = parse_config(SentimentRecipeConfig, sys.argv[1:] if argv is None else argv)
    trainer = Trainer(cfg.train, example_stats=classification_example_stats, run_config=cfg)
    accelerator = trainer.accelerator
    with accelerator.main_process_first():
        corpus = load_sentiment(cfg.data.source, cfg.data.text_column, cfg.data.label_column)
        tokenizer = TextVectorization(max_tokens=cfg.data.max_tokens).adapt(corpus["train"]["text"]).to_tokenizer()
        truncate = {"truncation": True, "max_length": cfg.data.max_length} if cfg.data.max_length else {}
        encoded = corpus.map(lambda batch: tokenizer(batch["text"], **truncate), batched=True,
                             remove_columns=["text"], desc="tokenize").rename_column("label", "labels")
    names = corpus["train"].features["label"].names
    model = RNNForSequenceClassification(RNNClassifierConfig(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **label_config(names), **to_dict(cfg.model)))
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    lengths = [len(ids) for ids in encoded["train"]["input_ids"]]
    result = trainer.fit(model, encoded["train"], encoded["validation"], collate_fn=collate, lengths=lengths)

    best = RNNForSequenceClassification.from_pretrained(result.best_model_dir)
    if accelerator.is_main_process:
        tokenizer.save_pretrained(result.best_model_dir)
    evaluations = {split: trainer.evaluate(best, encoded[split], collate_fn=collate) for split in ("validation", "test")}
    metrics: dict = {"corpus": cfg.data.source, "classes": names,
                     "split_sizes": {s: len(corpus[s]) for s in corpus},
                     "parameters": sum(p.numel() for p in best.parameters()), "train_steps": result.global_step,
                     "best_step": result.best_step, "train_minutes": result.train_seconds / 60,
                     "train_examples_per_s": result.global_step * cfg.train.batch_size * accelerator.num_processes
                     / max(result.train_seconds, 1e-9)}
    for split, values in evaluations.items():
        metrics[split] = classification_summary(values, len(names))
    if accelerator.is_main_process:
        metrics["tfidf_logreg"] = tfidf_logistic_regression(corpus)
        metrics["wall_minutes"] = (time.monotonic() - started) / 60
        write_sentiment_report(Path(cfg.train.output_dir), cfg, metrics, names, result.history, accelerator.num_processes)
        accelerator.print(f"test accuracy {metrics['test']['accuracy']:.4f} (TF-IDF + logistic regression "
                          f"{metrics['tfidf_logreg']['accuracy']:.4f}); report: {Path(cfg.train.output_dir) / 'report.md'}")
    accelerator.wait_for_everyone()
    return metrics


def write_sentiment_report(run_dir: Path, cfg, metrics: dict, names: list[str], history, num_processes: int) -> None:
    from hf_nlp.evaluation.report import plot_loss_curve

    plot_loss_curve(history, run_dir / "loss_curve.png", metric="accuracy")
    plot_confusion_matrix(np.array(metrics["test"]["confusion"]), names, run_dir / "confusion_matrix.png")
    variant = f"{'bidirectional ' if cfg.model.bidirectional else ''}{cfg.model.cell_type.upper()} {cfg.model.hidden_size}"
    masking = "masking" if cfg.model.masking else "NO masking (padding fed through the RNN)"
    rows = [
        {"model": f"{variant}, {masking}", "test accuracy": metrics["test"]["accuracy"],
         "test macro-F1": metrics["test"]["f1_macro"], "validation accuracy": metrics["validation"]["accuracy"],
         "parameters": f"{metrics['parameters']:,}", "train min": metrics["train_minutes"]},
        {"model": "TF-IDF (1-2 grams) + logistic regression", "test accuracy": metrics["tfidf_logreg"]["accuracy"],
         "test macro-F1": metrics["tfidf_logreg"]["f1_macro"], "validation accuracy": "—", "parameters": "—",
         "train min": metrics["tfidf_logreg"]["train_seconds"] / 60},
    ]
    data = (f"`{cfg.data.source}`: classes {', '.join(names)}; splits "
            + ", ".join(f"{k} {v:,}" for k, v in metrics["split_sizes"].items())
            + f". Vocabulary {cfg.data.max_tokens:,} tokens (TextVectorization); max length {cfg.data.max_length}.")
    training = (f"{metrics['train_steps']} steps, best at {metrics['best_step']}, {metrics['train_minutes']:.2f} min "
                f"({metrics['train_examples_per_s']:.0f} examples/s) on {num_processes} process(es).\n\n"
                "![confusion matrix](confusion_matrix.png) ![curve](loss_curve.png)")
    write_report(run_dir, "Sentiment RNN", {"Results": markdown_table(rows), "Data": data, "Training": training},
                 metrics, to_dict(cfg), environment_info(num_processes))


if __name__ == "__main__":
    exit_on_user_error(main)()
