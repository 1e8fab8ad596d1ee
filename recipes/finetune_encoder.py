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
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from hf_nlp.config import check_at_least, check_fraction, parse_config, to_dict
from hf_nlp.data.reviews import SentimentDataConfig, label_config
from hf_nlp.data.text_windows import WindowGroupCollator, group_windows_by_text, tokenize_texts
from hf_nlp.errors import UserError, exit_on_user_error
from hf_nlp.evaluation.baselines import tfidf_logistic_regression
from hf_nlp.evaluation.classification_report import variant_result, write_classification_report
from hf_nlp.evaluation.metrics import classification_example_stats, evaluate_by_text, evaluate_classifier
from hf_nlp.evaluation.report import environment_info
from hf_nlp.hub import PushConfig, check_push_target, finish_model_folder
from hf_nlp.manifest import read_json_file
from hf_nlp.models.embedding_classifier import EmbeddingClassifier, EmbeddingClassifierConfig
from hf_nlp.models.pooled_encoder_classifier import PooledEncoderClassifier
from hf_nlp.models.window_pooling import pooled_window_forward
from hf_nlp.text.sentence_embeddings import pretrained_encoder_path, with_sentence_embeddings
from hf_nlp.text_reading import window_pooling
from hf_nlp.training.batch_step import StatelessStep
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import BEST_MODEL_DIR, Trainer


@dataclass
class DataConfig(SentimentDataConfig):
    max_length: int = 256
    """Tokens kept per text by transformer encoders (all-MiniLM-L6-v2 was trained on 256)."""
    truncation_side: Literal["right", "left"] = "right"
    """Which end of a long text is cut: `left` keeps the end, where reviews tend to conclude."""
    long_texts: Literal["truncate", "windows", "pooled_windows"] = "truncate"
    """Fine-tuning stages: `windows` cuts each text into overlapping windows of `max_length` tokens,
    trains on every window (the text's label) and scores a text by its windows' mean probability;
    `pooled_windows` scores a text by its windows' mean logits, in training too (the loss,
    validation and `train.batch_size` count texts, not windows)."""
    window_overlap: int = 32
    """Tokens shared by consecutive windows (`windows` and `pooled_windows`)."""
    max_train_examples: int | None = None
    """Train on a seeded random subset of this many examples (to fit a CPU budget); null: all."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least("data", self, 1, "max_length", "max_train_examples")
        if self.long_texts != "truncate" and not 0 <= self.window_overlap <= self.max_length // 2:
            raise UserError("`--data.window_overlap` must be at least 0 and at most half of `--data.max_length`.")


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

    def __post_init__(self) -> None:
        check_at_least("model", self, 1, "hidden_size")
        check_fraction("model", self, "dropout")


def _finetune_defaults() -> TrainingConfig:
    return TrainingConfig(
        output_dir="(unused: the run writes to train.output_dir)", optimizer="adamw", learning_rate=2e-5,
        weight_decay=0.01, lr_scheduler="linear", warmup_ratio=0.1, batch_size=32, num_epochs=3, eval_every=0,
        save_every=0, metric_for_best="accuracy", greater_is_better=True)


@dataclass
class EncoderRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
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
    if cfg.model.init_from and cfg.model.method != "full":
        raise UserError("`--model.init_from` continues a fully fine-tuned run; use it with `--model.method full`.")
    if cfg.model.encoder == "use" and cfg.model.method != "head":
        raise UserError("the Universal Sentence Encoder runs in numpy and cannot be fine-tuned; use "
                        "`--model.method head`, or `--model.encoder minilm` to fine-tune.")
    run_dir = Path(cfg.train.output_dir)
    head_stage = cfg.model.method in ("head", "two_stage")
    if cfg.model.method == "two_stage":
        head_cfg = replace(cfg.train, output_dir=str(run_dir / "frozen_head"),
                           mixed_precision=cfg.finetune.mixed_precision)
    else:
        head_cfg = cfg.train
    pooled = pooled_window_forward if cfg.data.long_texts == "pooled_windows" else None
    encoder_step = StatelessStep(classification_example_stats, forward=pooled)
    trainer = Trainer(head_cfg, encoder_step if cfg.model.method == "full" else
                      StatelessStep(classification_example_stats), run_config=cfg)
    accelerator = trainer.accelerator
    with accelerator.main_process_first():
        corpus = _subset(cfg.data.load(), cfg)
    names = corpus["train"].features["label"].names
    encoder_name = "Universal Sentence Encoder" if cfg.model.encoder == "use" else \
        ("all-MiniLM-L6-v2" if cfg.model.encoder == "minilm" else cfg.model.encoder)
    variants: list[dict] = []

    head = None
    if head_stage:
        head, result, evaluations = _train_head(trainer, corpus, cfg, names)
        variants.append(variant_result(
            f"{encoder_name} (frozen{', mean-pooled' if cfg.model.encoder != 'use' else ''}) + Dense("
            f"{cfg.model.hidden_size}, ReLU) head", "sentence_encoder_head", evaluations, head, result))
    with accelerator.main_process_first():  # may load the earlier run's corpus, or download the run
        start = _earlier_run(cfg, corpus) if cfg.model.init_from else None
    if cfg.model.method != "head":
        path = start.model_dir if start else pretrained_encoder_path(cfg.model.encoder)
        tokenizer = AutoTokenizer.from_pretrained(path, truncation_side=cfg.data.truncation_side)
        if cfg.model.method == "two_stage":
            model = PooledEncoderClassifier.from_encoder(path, hidden_size=cfg.model.hidden_size,
                                                         dropout=cfg.model.dropout, **label_config(names))
            model.head.load_state_dict(head.head.state_dict())  # stage one's head, carried over
            stage_cfg, name, kind = (replace(cfg.finetune, output_dir=str(run_dir)),
                                     f"{encoder_name} mean-pooled + head, then unfrozen (lr "
                                     f"{cfg.finetune.learning_rate:g})", "sentence_encoder_two_stage")
            stage_trainer = Trainer(stage_cfg, encoder_step, run_config=cfg, config_section="finetune")
        else:
            model = AutoModelForSequenceClassification.from_pretrained(path, **label_config(names))
            stage_cfg, name, kind, stage_trainer = cfg.train, f"{encoder_name} fine-tuned (all weights)", \
                "full_finetune", trainer
            if start:
                name += start.name_suffix(cfg.data.source)
        model, result, evaluations = _train_encoder(stage_trainer, model, tokenizer, corpus, cfg)
        variants.append(variant_result(name, kind, evaluations, model, result))
        if start:
            variants[-1]["train_minutes"] += start.train_minutes or 0.0

    corpus_info = cfg.data.corpus_info(corpus)
    metrics: dict = {**corpus_info, "variants": variants}
    if accelerator.is_main_process:
        metrics["tfidf_logreg"] = tfidf_logistic_regression(corpus)
        subset = (f" Training on a seeded random subset of {cfg.data.max_train_examples:,} examples."
                  if cfg.data.max_train_examples else "")
        truncation = "" if cfg.model.encoder == "use" else \
            f" Texts cut to {cfg.data.max_length} tokens (truncation side: {cfg.data.truncation_side})."
        if cfg.data.long_texts != "truncate" and cfg.model.method != "head":
            truncation += (f" Fine-tuning reads every text as windows of {cfg.data.max_length} tokens overlapping by "
                           f"{cfg.data.window_overlap} and scores a text by its windows' "
                           + ("mean logits, in training too (the loss is on the text)" if pooled else "mean probability")
                           + (" (the frozen-head stage reads the first window only)." if head_stage else "."))
        write_classification_report(
            run_dir, "Pretrained encoders for sentiment", corpus_info, variants, metrics["tfidf_logreg"],
            {"Data": (subset + truncation + (" Frozen-encoder embeddings are computed once and cached."
                                             if head_stage else "")).strip(),
             "Training": f"Method `{cfg.model.method}` on {accelerator.num_processes} process(es), mixed precision "
                         f"`{accelerator.mixed_precision}`; whole run {(time.monotonic() - started) / 60:.2f} min."
                         + (_continued_note(cfg, start) if start else "")},
            to_dict(cfg), environment_info(accelerator.num_processes))
        accelerator.print(f"test accuracy {variants[-1]['test']['accuracy']:.4f} (TF-IDF + logistic regression "
                          f"{metrics['tfidf_logreg']['accuracy']:.4f}); report: {run_dir / 'report.md'}")
        finish_model_folder(run_dir / BEST_MODEL_DIR, cfg.push_to_hub, accelerator.print)
    accelerator.wait_for_everyone()
    return metrics


SHARED_WITH_EARLIER_RUN = [("data", "source"), ("data", "text_column"), ("data", "label_column"),
                           ("data", "cv_folds"), ("data", "cv_fold"), ("data", "max_train_examples"),
                           ("model", "encoder")]
"""Settings a run continued with `--model.init_from` on the same corpus must share with the earlier
one: the same texts in each split (else its test texts may have been trained on) and the same encoder
and tokenizer. A run on another corpus shares the encoder only; its texts are checked one by one."""


@dataclass
class EarlierRun:
    """The run `--model.init_from` names: its model folder, its corpus (`data.source`), how it read
    long texts (`data.long_texts`), its training minutes (None: unknown) and the other corpus it was
    itself started from, if any."""

    model_dir: str
    source: str
    long_texts: str
    train_minutes: float | None
    first_trained_on: str | None = None

    def name_suffix(self, source: str) -> str:
        """What a run on `source` that starts from this one adds to its variant's name."""
        if self.source != source:
            return f", started from a `{self.source}` classifier"
        first = f", first trained on `{self.first_trained_on}`" if self.first_trained_on else ""
        return f", continued from a `{self.long_texts}` run{first}"


def _earlier_run(cfg: EncoderRecipeConfig, corpus: DatasetDict) -> EarlierRun:
    """The earlier run to start from, checked to be a classifier of the same labels and encoder whose
    training and validation texts hold none of this run's validation and test texts (same corpus:
    the same splits; another corpus: no text in common); one sentence if not."""
    from transformers import AutoConfig

    from hf_nlp.hub import resolve_model_dir
    from hf_nlp.text_reading import load_run_config

    model_dir = resolve_model_dir(cfg.model.init_from)
    names = corpus["train"].features["label"].names
    try:
        labels = sorted((AutoConfig.from_pretrained(model_dir).label2id or {}).keys())
    except (OSError, ValueError) as error:
        raise UserError(f"could not load `--model.init_from {cfg.model.init_from}` "
                        f"({str(error).splitlines()[0][:120]}); pass a fine-tuned classifier run.") from None
    if labels != sorted(names):
        raise UserError(f"`--model.init_from {cfg.model.init_from}` predicts {labels}, not this data's {sorted(names)}; "
                        "start from a classifier of the same labels.")
    earlier, ours = load_run_config(model_dir), to_dict(cfg)
    earlier_data = earlier.get("data") or {}
    source = earlier_data.get("source", cfg.data.source)
    shared = SHARED_WITH_EARLIER_RUN if source == cfg.data.source else [("model", "encoder")]
    differs = [(section, key) for section, key in shared
               if key in (earlier.get(section) or {}) and earlier[section][key] != ours[section][key]]
    if differs:
        raise UserError(f"`--model.init_from {cfg.model.init_from}` was trained on other data, splits or encoder ("
                        + ", ".join(f"{section}.{key} {earlier[section][key]!r}, here {ours[section][key]!r}"
                                    for section, key in differs)
                        + "); start from a run of the same, or this run's test texts may be in its training set.")
    if source != cfg.data.source:
        _check_no_shared_texts(cfg.model.init_from, earlier_data, corpus)
    metrics = Path(model_dir).parent / "metrics.json"
    minutes = None
    if metrics.is_file():
        done = [v for v in read_json_file(metrics, "rerun the run's command to write it again").get("variants", []) if v.get("kind") == "full_finetune"]
        minutes = done[-1]["train_minutes"] if done else None
    first = _run_source((earlier.get("model") or {}).get("init_from"))
    return EarlierRun(model_dir, source, earlier_data.get("long_texts", "truncate"), minutes,
                      first if first != source else None)


def _run_source(location: str | None) -> str | None:
    """The corpus (`data.source`) the run at `location` trained on; None if unknown."""
    from hf_nlp.hub import resolve_model_dir
    from hf_nlp.text_reading import load_run_config

    try:
        return (load_run_config(resolve_model_dir(location)).get("data") or {}).get("source") if location else None
    except UserError:
        return None


def _check_no_shared_texts(init_from: str, earlier_data: dict, corpus: DatasetDict) -> None:
    """Refuse an earlier run on another corpus whose training or validation texts include any of this
    run's validation or test texts (they would score as if unseen)."""
    try:
        seen = SentimentDataConfig.of_run(earlier_data).load()
    except UserError as error:
        raise UserError(f"could not load the corpus `--model.init_from {init_from}` was trained on ({error}); "
                        "its texts must be checked against this run's.") from None
    trained_on = set(seen["train"]["text"]) | set(seen["validation"]["text"])
    shared = sum(text in trained_on for split in ("validation", "test") for text in corpus[split]["text"])
    if shared:
        raise UserError(f"`--model.init_from {init_from}` was trained on {shared} of this run's validation and test "
                        "texts; start from a run whose corpus does not hold them.")


def _continued_note(cfg: EncoderRecipeConfig, start: EarlierRun) -> str:
    began = f"Continued from `{cfg.model.init_from}`" if start.source == cfg.data.source else (
        f"Started from `{cfg.model.init_from}` (trained on `{start.source}`, which shares no text with this "
        "run's validation and test splits)")
    if start.train_minutes is None:
        return f" {began}, whose training minutes are unknown and not counted."
    return f" {began}: its {start.train_minutes:.1f} training minutes are counted in train min."


def _subset(corpus: DatasetDict, cfg: EncoderRecipeConfig) -> DatasetDict:
    n = cfg.data.max_train_examples
    if n is None or n >= len(corpus["train"]):
        return corpus
    return DatasetDict({**corpus, "train": corpus["train"].shuffle(seed=cfg.train.seed).select(range(n))})


def _evaluate(trainer: Trainer, model, data: DatasetDict, num_classes: int, collate_fn=None) -> dict[str, dict]:
    return {split: evaluate_classifier(trainer, model, data[split], num_classes, collate_fn)
            for split in ("validation", "test")}


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
    return best, result, _evaluate(trainer, best, embedded, len(names))


def _train_encoder(trainer: Trainer, model, tokenizer, corpus: DatasetDict, cfg: EncoderRecipeConfig):
    """Train every weight on tokenized text (length-grouped batches, dynamic padding); the best
    model is saved with its tokenizer, ready for `pipeline("text-classification")`. With `windows`,
    validation during training scores windows and the final scores are per text; with
    `pooled_windows`, every batch, loss and score is per text."""
    with trainer.accelerator.main_process_first():
        encoded = tokenize_texts(corpus, tokenizer, cfg.data.max_length, cfg.data.long_texts != "truncate",
                                 cfg.data.window_overlap)
    windows = encoded.remove_columns("document")
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    if cfg.data.long_texts == "pooled_windows":
        texts = DatasetDict({split: group_windows_by_text(encoded[split]) for split in encoded})
        train, validation, collate = texts["train"], texts["validation"], WindowGroupCollator(tokenizer)
        lengths = [sum(map(len, text)) for text in train["input_ids"]]  # tokens per text
    else:
        train, validation = windows["train"], windows["validation"]
        lengths = [len(ids) for ids in train["input_ids"]]
    result = trainer.fit(model, train, validation, collate_fn=collate, lengths=lengths, processing_class=tokenizer)
    best = type(model).from_pretrained(result.best_model_dir)
    num_classes = len(corpus["train"].features["label"].names)
    if cfg.data.long_texts == "truncate":
        evaluations = _evaluate(trainer, best, windows, num_classes, collate)
    elif cfg.data.long_texts == "pooled_windows":
        evaluations = _evaluate(trainer, best, texts, num_classes, collate)
        for split, scores in evaluations.items():
            scores["windows"] = len(windows[split])
    else:
        evaluations = {split: evaluate_by_text(trainer, best, windows[split], encoded[split]["document"],
                                                corpus[split]["label"], num_classes, collate,
                                                window_pooling(cfg.data.long_texts))
                       for split in ("validation", "test")}
    return best, result, evaluations


if __name__ == "__main__":
    exit_on_user_error(main)()
