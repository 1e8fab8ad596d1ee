"""The shared training loop's settings: the `train:` section of every recipe config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from hf_nlp.config import check_at_least, check_fraction, check_positive
from hf_nlp.errors import UserError
from hf_nlp.training.tracking import tracker_names


@dataclass
class TrainingConfig:
    """Everything the shared training loop (`hf_nlp.training.loop`) needs; no model or data fields."""

    FLAG_SECTION: ClassVar[str] = "train"
    """The section its value checks name (`--train.`); `from_dict` renames it for another section."""

    output_dir: str = "runs/unnamed"
    """Run folder: checkpoints, best model, metrics log and report go here."""
    seed: int = 42
    """Seeds python, numpy and torch (`accelerate.utils.set_seed`) and the data order."""
    batch_size: int = 32
    """Examples per device per micro-batch."""
    eval_batch_size: int = 256
    """Examples per device per evaluation batch."""
    num_epochs: int = 1
    """Passes over the training set; ignored when `max_steps` is set."""
    max_steps: int | None = None
    """Optimizer steps to train for; overrides `num_epochs`."""
    max_minutes: float | None = None
    """Wall-clock budget: stop (evaluate, save) after this many minutes. Not deterministic."""
    optimizer: Literal["nadam", "adam", "adamw", "sgd"] = "adamw"
    """Optimizer; `nadam` matches the Keras reference."""
    learning_rate: float = 1e-3
    momentum: float = 0.0
    """SGD momentum (Keras' SGD default is 0)."""
    weight_decay: float = 0.0
    """Decoupled for adamw; like transformers.Trainer, biases and LayerNorm weights never decay."""
    lr_scheduler: Literal["constant", "linear", "cosine"] = "constant"
    """Schedule after warmup (transformers `get_scheduler`)."""
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    """Warmup as a fraction of the total optimizer steps; used when `warmup_steps` is 0."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step (`accelerator.accumulate`)."""
    max_grad_norm: float | None = 1.0
    """Clip the global gradient norm to this value; null disables clipping."""
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    """bf16 works on CPU and GPU, fp16 needs a GPU. On the 2-core CPUs here bf16 is slower than fp32
    for the small RNNs but ~2.5x faster for transformer fine-tuning (measured)."""
    eval_every: int = 500
    """Evaluate (and maybe keep the best model) every N optimizer steps; 0 evaluates once per epoch."""
    save_every: int = 500
    """Write a resumable checkpoint every N optimizer steps; 0 saves only at the end."""
    keep_checkpoints: int = 2
    """Resumable checkpoints kept on disk (oldest deleted first)."""
    metric_for_best: str = "loss"
    """Validation metric that picks the best model and drives early stopping."""
    greater_is_better: bool = False
    early_stopping_patience: int | None = None
    """Stop after this many evaluations without improvement; null never stops early."""
    log_every: int = 50
    """Write a training-loss line to metrics.jsonl every N optimizer steps."""
    resume_from: str | None = None
    """A checkpoint folder to resume exactly, or `latest`. Left null, a run folder that holds a
    checkpoint resumes from its newest complete one anyway (rerunning a command continues it)."""
    validation_only: bool = False
    """Stop once training is done: the best model is chosen on validation and saved, `validation.json`
    written beside it, and nothing after that runs (no test scores, report or push). `hf-nlp search` runs
    its trials so, which never scores the test split."""
    overwrite: bool = False
    """Start afresh in a run folder that holds an earlier run: delete its checkpoints, log and best model."""
    progress_bar: bool = True
    report_to: str = "none"
    """Experiment trackers that receive the logged losses, learning rate, throughput and evaluations:
    `none` (no package, account or network), `all` (every installed one) or a comma-separated list of
    tensorboard, trackio, wandb, mlflow (docs: "Experiment tracking")."""
    run_name: str | None = None
    """The run's name in trackio, W&B and MLflow; null: the output folder as given (`runs/char_rnn_quick`)."""
    tracker_project: str = "hf-nlp"
    """The trackio or W&B project, or MLflow experiment, the run goes into."""
    dataloader_workers: int | None = None
    """Worker processes that build training batches, per training process; null: 0 on CPU (a worker
    would take a core from training) and 2 on CUDA (batches are collated while the GPU computes). A
    streamed training set is always read by the training process itself (its position is saved)."""
    compile: bool = False
    """`torch.compile` the model for training and evaluation (inductor). The first steps pay for the
    compilation; it pays back on transformer models run long enough, not on `nn.GRU` / `nn.LSTM`,
    which are graph breaks (docs: "GPUs and clusters")."""
    cpu_threads: int | None = None
    """Torch threads per process when training on CPU; null means the machine's physical cores
    shared evenly among the local processes. `accelerate launch` on a machine without a GPU sets
    OMP_NUM_THREADS=1, which would leave all but one core idle, so this setting wins over it."""

    def __post_init__(self) -> None:
        # Messages say `--train.`; `from_dict` renames them for another section (`--finetune.`).
        check_at_least("train", self, 1, "batch_size", "eval_batch_size", "num_epochs", "gradient_accumulation_steps",
                       "keep_checkpoints", "log_every", "early_stopping_patience")
        if self.max_steps is not None and self.max_steps < 1:
            raise UserError("`--train.max_steps` must be at least 1 (or null to train for `num_epochs`).")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise UserError("`--train.cpu_threads` must be at least 1 (or null for one per physical core).")
        check_at_least("train", self, 0, "warmup_steps", "weight_decay", "eval_every", "save_every",
                       "dataloader_workers")
        check_positive("train", self, "learning_rate", "max_minutes", "max_grad_norm")
        check_fraction("train", self, "warmup_ratio", "momentum")
        if not self.metric_for_best:
            raise UserError("`--train.metric_for_best` is empty; name a validation metric such as loss or accuracy.")
        try:
            tracker_names(self.report_to)
        except ValueError as error:
            raise UserError(f"`--{self.FLAG_SECTION}.report_to`: {error}.") from None
        if self.overwrite and self.resume_from is not None:
            raise UserError("`--train.overwrite true` starts afresh and `--train.resume_from` resumes; pass one of them.")


__all__ = ["TrainingConfig"]
