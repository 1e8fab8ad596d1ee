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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from datasets import Dataset, DatasetDict
from transformers import DataCollatorWithPadding, PreTrainedTokenizerFast

from hf_nlp.config import check_at_least, check_fraction, parse_config, to_dict
from hf_nlp.data.columns import token_counts, tokenize_processes
from hf_nlp.data.sentiment import SPLIT_SEED, SentimentDataConfig, label_config
from hf_nlp.data.sentiment_stream import TokenizingCollator, stream_sentiment
from hf_nlp.data.streaming import ResumableStream
from hf_nlp.errors import UserError, exit_on_user_error
from hf_nlp.evaluation.baselines import tfidf_logistic_regression
from hf_nlp.evaluation.metrics import classification_example_stats, evaluate_classifier
from hf_nlp.hub import PushConfig, check_push_target, finish_model_folder
from hf_nlp.models.rnn_classifier import RNNClassifierConfig, RNNForSequenceClassification
from hf_nlp.reports.classification import rnn_run_notes, variant_result, write_classification_report
from hf_nlp.reports.writing import environment_info, plot_loss_curve
from hf_nlp.text.vectorize import TextVectorization
from hf_nlp.training.batch_step import StatelessStep
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import Trainer


@dataclass
class DataConfig(SentimentDataConfig):
    max_tokens: int = 1000
    """Vocabulary size, padding and [UNK] included (the reference uses 1,000)."""
    max_length: int | None = None
    """Truncate texts to this many tokens; null keeps them whole."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least("data", self, 3, "max_tokens")  # [PAD], [UNK] and one word
        check_at_least("data", self, 1, "max_length")


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
    rnn_backend: Literal["auto", "fused", "torch"] = "auto"
    """Which code runs the GRU / LSTM: `fused` C++ layers on CPU (built on first use), `torch` (PyTorch's own;
    always on GPU), or `auto` (fused on CPU when it builds). The weights are the same either way."""

    def __post_init__(self) -> None:
        check_at_least("model", self, 1, "embedding_size", "hidden_size", "num_layers")
        check_fraction("model", self, "dropout")


@dataclass
class SentimentRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainingConfig = field(default_factory=lambda: TrainingConfig(
        output_dir="runs/sentiment_rnn", optimizer="nadam", learning_rate=1e-3, batch_size=32, num_epochs=10,
        eval_every=0, save_every=0, metric_for_best="accuracy", greater_is_better=True, early_stopping_patience=3))
    push_to_hub: PushConfig = field(default_factory=PushConfig)


@dataclass
class SentimentData:
    """What the loop and the evaluation read: training examples (a `Dataset`, or a `ResumableStream`), the
    evaluation splits, how batches are built, and the corpus (None when streamed) for the baseline."""

    tokenizer: PreTrainedTokenizerFast
    names: list[str]
    train: Any
    validation: Dataset
    test: Dataset
    collate: Callable
    lengths: Sequence[int] | None
    corpus_info: dict
    corpus: DatasetDict | None


def in_memory_data(cfg: SentimentRecipeConfig) -> SentimentData:
    """The corpus as Arrow splits (memory-mapped, cached), tokenized ahead with `map`; batches grouped by length."""
    corpus = cfg.data.load()
    tokenizer = TextVectorization(max_tokens=cfg.data.max_tokens).adapt(corpus["train"]["text"]).to_tokenizer()
    truncate = {"truncation": True, "max_length": cfg.data.max_length} if cfg.data.max_length else {}
    encoded = corpus.map(lambda batch: tokenizer(batch["text"], **truncate), batched=True, remove_columns=["text"],
                         num_proc=tokenize_processes(len(corpus["train"])), desc="tokenize").rename_column("label", "labels")
    lengths = token_counts(encoded["train"], "input_ids")
    return SentimentData(tokenizer, corpus["train"].features["label"].names, encoded["train"], encoded["validation"],
                         encoded["test"], DataCollatorWithPadding(tokenizer, return_tensors="pt"), lengths,
                         cfg.data.corpus_info(corpus), corpus)


def stream_data(cfg: SentimentRecipeConfig, accelerator) -> SentimentData:
    """The training rows read from the source on every epoch, through a resumable shuffle buffer, each
    process its share of every batch; batches tokenized as they come."""
    stream = stream_sentiment(cfg.data, SPLIT_SEED)
    tokenizer = TextVectorization(max_tokens=cfg.data.max_tokens).adapt(stream.training_texts()).to_tokenizer()
    train = ResumableStream(stream.source, stream.prepare, cfg.train.batch_size, cfg.train.seed,
                            cfg.data.shuffle_buffer, accelerator.num_processes, accelerator.process_index)
    evaluation = {split: getattr(stream, split).rename_column("label", "labels") for split in ("validation", "test")}
    return SentimentData(tokenizer, stream.names, train, evaluation["validation"], evaluation["test"],
                         TokenizingCollator(tokenizer, cfg.data.max_length), None, stream.corpus_info(cfg.data), None)


def main(argv: list[str] | None = None) -> dict:
    started = time.monotonic()
    cfg = parse_config(SentimentRecipeConfig, sys.argv[1:] if argv is None else argv)
    check_push_target(cfg.push_to_hub)
    if cfg.data.streaming and cfg.train.max_steps is None:
        raise UserError("a streamed corpus has no known length; pass `--train.max_steps` to say how long to train.")
    trainer = Trainer(cfg.train, StatelessStep(classification_example_stats), run_config=cfg)
    accelerator = trainer.accelerator
    data_started = time.monotonic()
    with accelerator.main_process_first():
        data = stream_data(cfg, accelerator) if cfg.data.streaming else in_memory_data(cfg)
    data_seconds = time.monotonic() - data_started
    tokenizer, names = data.tokenizer, data.names
    model = RNNForSequenceClassification(RNNClassifierConfig(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **label_config(names), **to_dict(cfg.model)))
    result = trainer.fit(model, data.train, data.validation, collate_fn=data.collate, lengths=data.lengths,
                         processing_class=tokenizer)

    best = RNNForSequenceClassification.from_pretrained(result.best_model_dir)
    evaluations = {split: evaluate_classifier(trainer, best, getattr(data, split), len(names), data.collate)
                   for split in ("validation", "test")}
    m = cfg.model
    name = (f"{'bidirectional ' if m.bidirectional else ''}{m.cell_type.upper()} {m.hidden_size}, "
            + ("masking" if m.masking else "NO masking (padding fed through the RNN)"))
    variant = variant_result(name, "rnn" if m.masking else "rnn_no_mask", evaluations, best, result)
    corpus_info = {**data.corpus_info, "data_seconds": data_seconds}
    metrics: dict = {**corpus_info, "variants": [variant]}
    if accelerator.is_main_process:
        run_dir = Path(cfg.train.output_dir)
        # A streamed corpus is not held anywhere the baseline could be fitted on.
        metrics["tfidf_logreg"] = tfidf_logistic_regression(data.corpus) if data.corpus is not None else None
        plot_loss_curve(result.history, run_dir / "loss_curve.png", metric="accuracy")
        metrics["run"] = {"max_tokens": cfg.data.max_tokens, "max_length": cfg.data.max_length,
                          "processes": accelerator.num_processes, "wall_minutes": (time.monotonic() - started) / 60}
        write_classification_report(run_dir, "Sentiment RNN", corpus_info, [variant], metrics["tfidf_logreg"],
                                    rnn_run_notes(metrics["run"], variant), to_dict(cfg),
                                    environment_info(accelerator.num_processes), run=metrics["run"])
        baseline = f" (TF-IDF + logistic regression {metrics['tfidf_logreg']['accuracy']:.4f})" \
            if metrics["tfidf_logreg"] else ""
        accelerator.print(f"test accuracy {variant['test']['accuracy']:.4f}{baseline}; report: {run_dir / 'report.md'}")
        finish_model_folder(result.best_model_dir, cfg.push_to_hub, accelerator.print)
    accelerator.wait_for_everyone()
    return metrics


if __name__ == "__main__":
    exit_on_user_error(main)()
