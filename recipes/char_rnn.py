"""Char-RNN on Shakespeare (Géron, Hands-On ML ch. 16), trained from scratch with the shared loop; or,
with `--model.architecture gpt2`, a character-level GPT-2 (nanoGPT's baby GPT) on the same windows.

    accelerate launch recipes/char_rnn.py --config recipes/configs/char_rnn_quick.yaml
    python recipes/char_rnn.py --config recipes/configs/char_rnn.yaml --model.hidden_size 256

Writes into `--train.output_dir`: `best_model/` (model + tokenizer + config.yaml, loadable with
`AutoModelForCausalLM.from_pretrained`), `checkpoints/` (resumable), `metrics.jsonl`,
`report.md`, `metrics.json`, `all_results.json` and `loss_curve.png`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from transformers import AutoModelForCausalLM, PreTrainedModel

from hf_nlp.config import check_at_least, check_fraction, parse_config, to_dict
from hf_nlp.data.char_windows import CharWindows, evaluation_heads, window_datasets
from hf_nlp.data.shakespeare import ShakespeareDataConfig
from hf_nlp.errors import UserError, exit_on_user_error
from hf_nlp.evaluation.metrics import bits_per_char, causal_lm_example_stats, perplexity
from hf_nlp.generation.sampling import encode_prompt, generate_text, sampling_config
from hf_nlp.hub import PushConfig, check_push_target, finish_model_folder
from hf_nlp.models.char_rnn import CharRNNConfig, CharRNNForCausalLM
from hf_nlp.models.char_transformer import char_gpt2, shift_labels_forward
from hf_nlp.models.recurrent_state import StatefulRNNStep
from hf_nlp.reports.char_rnn import write_char_rnn_report
from hf_nlp.text.char_corpus import load_char_corpus
from hf_nlp.text.char_tokenizer import num_characters
from hf_nlp.training.batch_step import StatelessStep
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import Trainer


@dataclass
class ModelConfig:
    architecture: Literal["rnn", "gpt2"] = "rnn"
    """`rnn` (Embedding -> `cell_type` layers -> Linear) or `gpt2`: transformers' GPT-2 from scratch,
    `hidden_size` wide, `num_layers` blocks of `num_heads` heads, reading `data.window` characters."""
    cell_type: Literal["gru", "lstm", "rnn"] = "gru"
    embedding_size: int = 16
    """RNN only: GPT-2's embeddings are `hidden_size` wide."""
    hidden_size: int = 128
    num_layers: int = 1
    num_heads: int = 4
    """GPT-2 only: attention heads per block; `hidden_size` must be a multiple of it."""
    dropout: float = 0.0
    rnn_backend: Literal["auto", "fused", "torch"] = "auto"
    """Which code runs the GRU / LSTM: `fused` C++ layers on CPU (built on first use), `torch` (PyTorch's own;
    always on GPU), or `auto` (fused on CPU when it builds). The weights are the same either way."""

    def __post_init__(self) -> None:
        check_at_least("model", self, 1, "embedding_size", "hidden_size", "num_layers", "num_heads")
        check_fraction("model", self, "dropout")
        if self.architecture == "gpt2" and self.hidden_size % self.num_heads:
            raise UserError(f"`--model.hidden_size` {self.hidden_size} is not a multiple of `--model.num_heads` "
                            f"{self.num_heads}; GPT-2 splits its width across the heads, so pick sizes that divide.")

    def build(self, tokenizer, context: int) -> PreTrainedModel:
        """A new model for `tokenizer`'s characters; GPT-2 reads at most `context` (the window) at once."""
        if self.architecture == "gpt2":
            return char_gpt2(len(tokenizer), tokenizer.pad_token_id, context, self.hidden_size, self.num_layers,
                             self.num_heads, self.dropout)
        return CharRNNForCausalLM(CharRNNConfig(
            vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, cell_type=self.cell_type,
            embedding_size=self.embedding_size, hidden_size=self.hidden_size, num_layers=self.num_layers,
            dropout=self.dropout, rnn_backend=self.rnn_backend))


@dataclass
class SampleConfig:
    prompt: str = "to be or not to b"
    """Checked against the corpus's characters before training (a sample needs every one of them)."""
    max_new_tokens: int = 300
    temperatures: list[float] = field(default_factory=lambda: [0.2, 0.5, 1.0])
    """0 samples greedily."""
    seed: int = 42

    def __post_init__(self) -> None:
        if not self.prompt:
            raise UserError("`--samples.prompt` is empty; give the text the samples start from.")
        check_at_least("samples", self, 1, "max_new_tokens")
        if any(t < 0 for t in self.temperatures):
            raise UserError(f"`--samples.temperatures` must all be at least 0; got {self.temperatures}.")


@dataclass
class CharRNNRecipeConfig:
    data: ShakespeareDataConfig = field(default_factory=ShakespeareDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainingConfig = field(default_factory=lambda: TrainingConfig(output_dir="runs/char_rnn", optimizer="nadam"))
    samples: SampleConfig = field(default_factory=SampleConfig)
    push_to_hub: PushConfig = field(default_factory=PushConfig)

    def __post_init__(self) -> None:
        if self.model.architecture == "gpt2" and self.data.stateful:
            raise UserError("`--data.stateful true` carries an RNN's state across batches, and GPT-2 has none; "
                            "train GPT-2 statelessly (`--data.stateful false`) or use `--model.architecture rnn`.")


def main(argv: list[str] | None = None) -> dict:
    started = time.monotonic()
    cfg = parse_config(CharRNNRecipeConfig, sys.argv[1:] if argv is None else argv)
    check_push_target(cfg.push_to_hub)
    stateless = StatelessStep(causal_lm_example_stats,
                              forward=shift_labels_forward if cfg.model.architecture == "gpt2" else None)
    trainer = Trainer(cfg.train, StatefulRNNStep(causal_lm_example_stats) if cfg.data.stateful else stateless,
                      run_config=cfg)
    accelerator = trainer.accelerator
    data_started = time.monotonic()
    with accelerator.main_process_first():  # tokenize onto disk once, then everyone reads the ids by offset
        # The vocabulary covers every split, as the reference fits its tokenizer on the whole text.
        corpus = load_char_corpus(cfg.data)
    data_seconds = time.monotonic() - data_started
    tokenizer, ids = corpus.tokenizer, evaluation_heads(corpus.splits, cfg.data.eval_chars)
    check_sample_prompt(tokenizer, cfg.samples.prompt)  # now, not after training
    train_set, valid_set, test_set = window_datasets(ids, cfg.data.window, cfg.data.stateful, cfg.train.batch_size,
                                                     accelerator.num_processes)

    model = cfg.model.build(tokenizer, context=cfg.data.window)
    result = trainer.fit(model, train_set, valid_set, shuffle=not cfg.data.stateful, processing_class=tokenizer)

    best = AutoModelForCausalLM.from_pretrained(result.best_model_dir)
    evaluations = {"validation": trainer.evaluate(best, valid_set), "test": trainer.evaluate(best, test_set)}
    if cfg.data.stateful:
        # The stateless protocol too (windows read from a zero state), comparable with stateless runs.
        stateless_valid = CharWindows(ids["validation"], cfg.data.window, stride=cfg.data.window, what="validation")
        evaluations["validation_stateless"] = trainer.evaluate(best, stateless_valid, step=stateless)

    metrics = {
        "corpus_chars": sum(corpus.split_chars.values()),
        "split_chars": corpus.split_chars,
        "data_seconds": data_seconds,
        "distinct_chars": num_characters(tokenizer),
        "parameters": sum(p.numel() for p in best.parameters()),
        "train_steps": result.global_step,
        "best_step": result.best_step,
        "stop_reason": result.stop_reason,
        "train_minutes": result.train_seconds / 60,
        "wall_minutes": (time.monotonic() - started) / 60,
    }
    for split, values in evaluations.items():
        metrics[split] = {
            "loss": values["loss"],
            "bits_per_char": bits_per_char(values["loss"]),
            "perplexity": perplexity(values["loss"]),
            "accuracy": values["accuracy"],
            "chars": int(values["count"]),
        }
    if accelerator.is_main_process:
        samples = {t: generate_text(best.eval(), tokenizer, cfg.samples.prompt,
                                    sampling_config(cfg.samples.max_new_tokens, temperature=t), seed=cfg.samples.seed)
                   for t in cfg.samples.temperatures}
        metrics["samples"] = {str(t): text for t, text in samples.items()}
        metrics["wall_minutes"] = (time.monotonic() - started) / 60
        write_char_rnn_report(Path(cfg.train.output_dir), to_dict(cfg), metrics, result.history, accelerator.num_processes)
        accelerator.print(f"\nvalidation loss {metrics['validation']['loss']:.4f} nats/char, "
                          f"test loss {metrics['test']['loss']:.4f}; report: {Path(cfg.train.output_dir) / 'report.md'}")
        for temperature, text in samples.items():
            accelerator.print(f"\n--- temperature {temperature} ---\n{text}")
        finish_model_folder(result.best_model_dir, cfg.push_to_hub, accelerator.print)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return metrics


def check_sample_prompt(tokenizer, prompt: str) -> None:
    try:
        encode_prompt(tokenizer, prompt)
    except UserError as error:
        raise UserError(f"`--samples.prompt` does not fit this corpus: {error}") from None


if __name__ == "__main__":
    exit_on_user_error(main)()
