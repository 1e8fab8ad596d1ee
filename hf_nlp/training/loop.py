"""The ONE accelerate training loop every recipe uses.

`Trainer(config).fit(model, train_dataset, eval_dataset)` owns the `Accelerator` and does:
device placement and DDP (`accelerator.prepare`), gradient accumulation
(`accelerator.accumulate`) and clipping, bf16/fp16 autocast, an LR schedule with warmup,
evaluation every N steps with `gather_for_metrics`, best-model selection on a chosen metric,
early stopping, crash-safe resumable checkpoints (`hf_nlp.training.checkpoint`: JSON and safetensors
with a manifest, renamed into place when complete; with the data position, so a resumed run replays
exactly the same batches and losses), a JSONL metric log, tqdm progress on the main process, seeds,
and a clean save when interrupted (Ctrl-C, SIGTERM).

Rerunning the same command in a run folder that holds a checkpoint resumes from the newest complete
one (damaged ones are skipped with a line naming them), as transformers' example scripts do;
`overwrite=True` starts afresh, and a checkpoint of a run with other settings (model, data, batch
size...) is refused, naming the keys that differ.

The loop knows no task: a `BatchStep` (`hf_nlp.training.batch_step`) says how to call the model on
a batch and which per-example statistics evaluation sums. `StatelessStep(example_stats)` calls
`model(**batch)` (or a given `forward`); `hf_nlp.models.recurrent_state.StatefulRNNStep` carries each
batch's RNN state into the next, detached, reset at every epoch and evaluation start; the data must
then be laid out so that consecutive batches on each process continue the same streams (see
`hf_nlp.data.char_windows.StatefulWindows`).

A streamed training set (a torch `IterableDataset` with `set_epoch`, `state_dict` and
`load_state_dict`, e.g. `hf_nlp.data.streaming.ResumableStream`) has no length, so it needs
`max_steps`; it splits itself among processes, so its loader is not prepared by accelerate (batches
are moved to the device here), and each process saves its stream's state in every checkpoint, so a
resumed run reads on from the same example instead of skipping batches. The `Accelerator` is the process' shared one
(`hf_nlp.training.accelerator`); evaluation without training is `hf_nlp.training.scoring.Scorer`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import DistributedType, broadcast_object_list, send_to_device, set_seed
from safetensors.torch import load_model, save_model
from torch.utils.data import DataLoader, Dataset, IterableDataset
from tqdm.auto import tqdm
from transformers import get_scheduler
from transformers.trainer_pt_utils import get_parameter_names

from hf_nlp.atomic import (
    check_writable,
    recover_folder,
    replace_folder,
    staging_folder,
    staging_path,
    write_json_atomic,
    write_text_atomic,
)
from hf_nlp.config import flatten_config, save_config, to_dict
from hf_nlp.errors import (
    LostProcessError,
    TrainingOnlyFinished,
    UserError,
    cannot_write,
    lost_process_reason,
    write_failure_reason,
)
from hf_nlp.training import checkpoint as ckpt
from hf_nlp.training.accelerator import pins_batches, shared_accelerator
from hf_nlp.training.batch_step import BatchStep
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.cpu_threads import use_cpu_threads
from hf_nlp.training.lazy_shuffle import LAZY_SHUFFLE_ABOVE, LazyPermutationSampler
from hf_nlp.training.length_grouping import LengthGroupedSampler
from hf_nlp.training.scoring import Scorer, evaluation_loader, score_batches
from hf_nlp.training.sharding import (
    fsdp_requested,
    gather_model_state,
    gather_optimizer_state,
    scatter_model_state,
    scatter_optimizer_state,
    shard,
)
from hf_nlp.training.tracking import TENSORBOARD_DIR, TRACKERS_FILE, RunTrackers, resolve_trackers

# transformers.Trainer's rule for parameters that never decay (besides those inside LayerNorm).
NO_DECAY_NAME_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]

logger = logging.getLogger(__name__)

METRICS_LOG = "metrics.jsonl"
BEST_MODEL_DIR = "best_model"
VALIDATION_ONLY_FILE = "validation.json"
"""What a `--train.validation_only` run chose (metric, best value and step), for `hf-nlp search`."""
RESUMABLE_SETTINGS = frozenset({
    "output_dir", "num_epochs", "max_steps", "max_minutes", "eval_every", "eval_batch_size", "save_every",
    "keep_checkpoints", "early_stopping_patience", "log_every", "resume_from", "overwrite", "progress_bar",
    "cpu_threads", "dataloader_workers", "report_to", "run_name", "tracker_project", "validation_only"})
"""Training settings a resumed run may change (budget and bookkeeping); any other difference from the
checkpoint's settings would make the resumed run differ from an uninterrupted one, so it is refused."""
CHECKPOINT_PAUSE_ENV = "HF_NLP_TEST_CHECKPOINT_PAUSE"
"""Seconds to sleep after each checkpoint file is written: lets fault-injection tests kill a run at a
chosen point inside a checkpoint write. Unset outside tests."""


@dataclass
class TrainerState:
    """What a checkpoint needs beyond model/optimizer/RNG to resume exactly (saved as JSON)."""

    global_step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    """Micro-batches of the current epoch already consumed (skipped on resume)."""
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    train_seconds: float = 0.0
    window_loss: float = 0.0
    """Sum of the per-step training losses since the last logged one (the next log line averages them);
    kept on the device while training, read into here when a checkpoint is written."""
    window_steps: int = 0
    micro_batches: int = 0
    """accelerate's micro-batch counter, which decides where gradient accumulation syncs."""
    carried_state: bool = False
    """Whether each process saved a carried RNN state beside this state."""
    stop_reason: str | None = None
    """Why the run ended (`completed`, `early_stopping`, `time_budget`); null while it is under way."""
    settings: dict[str, Any] = field(default_factory=dict)
    """The settings a resumed run must share with this one (see `RESUMABLE_SETTINGS`)."""


@dataclass
class TrainResult:
    global_step: int
    best_metric: float | None
    best_step: int | None
    best_model_dir: Path
    stop_reason: str
    train_seconds: float
    examples_seen: int
    """Training examples consumed: steps x batch size x accumulation x processes."""
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """The shared loop. Create it first: recipes read `trainer.accelerator` to lay out their data."""

    def __init__(
        self,
        config: TrainingConfig,
        step: BatchStep,
        run_config: Any = None,
        config_section: str = "train",
        resume_sections: Sequence[str] = ("data", "model"),
        extra_metric_names: Sequence[str] = (),
    ):
        """`step` runs the model on a batch and scores it (`hf_nlp.training.batch_step`); `run_config`
        (a dataclass) is saved as `config.yaml` beside every checkpoint and the best model.
        `config_section` is the flag prefix of `config` in the recipe's config (named in messages);
        `resume_sections` are the sections of `run_config` a resumed run must leave unchanged.
        `extra_metric_names` are the metrics `fit(extra_metrics=...)` adds to each evaluation (e.g. a
        translation's BLEU), which `metric_for_best` may name besides the step's own.

        The run folder is checked here, before the recipe loads any data: it must be writable, and a
        checkpoint in it is chosen (and its settings compared) now, so a run that cannot resume fails
        in seconds, not after the corpus is built."""
        if config.mixed_precision == "fp16" and not torch.cuda.is_available():
            raise UserError("fp16 needs a GPU; use `--train.mixed_precision bf16` (or `no`) on CPU.")
        known = step.metric_names and (*step.metric_names, *extra_metric_names)
        if known and config.metric_for_best not in known:
            raise UserError(f"`--{config_section}.metric_for_best {config.metric_for_best}` is not an evaluation metric of "
                            f"this recipe; use one of {', '.join(known)}.")
        self.config = config
        self.step = step
        self.run_config = run_config
        self.config_section = config_section
        self.resume_sections = tuple(resume_sections)
        self.output_dir = Path(config.output_dir)
        self.accelerator = shared_accelerator(config.mixed_precision, config.gradient_accumulation_steps, config.seed)
        if self.accelerator.device.type == "cpu":
            use_cpu_threads(config.cpu_threads)
        set_seed(config.seed)
        self.state = TrainerState(settings=self._resume_settings())
        self.history: list[dict[str, Any]] = []
        self._carried: Any = None
        self._stream: IterableDataset | None = None  # a streamed training set (saved in checkpoints)
        self._resumed_rng: dict | None = None
        self._processing_class: Any = None
        self._write_model: Callable[[torch.nn.Module, Path], None] | None = None
        self._sharded = False  # FSDP: set by `fit` (hf_nlp.training.sharding)
        self._extra_metrics: Callable[[torch.nn.Module], dict[str, float]] | None = None
        # Checked now (installed?), started by `_train` once it knows whether the run resumes.
        self._tracker_names = resolve_trackers(config.report_to, f"--{config_section}.report_to")
        self._trackers: RunTrackers | None = None
        if self.accelerator.is_main_process:
            check_writable(self.output_dir, f"pass a writable `--{config_section}.output_dir`")
            recover_folder(self.output_dir / BEST_MODEL_DIR)
            ckpt.recover(self._checkpoint_root())
        self._resume_folder = self._choose_checkpoint()

    # ------------------------------------------------------------------ public API

    def fit(
        self,
        model: torch.nn.Module,
        train_dataset: Dataset,
        eval_dataset: Dataset | None = None,
        collate_fn: Callable | None = None,
        shuffle: bool = True,
        lengths: Sequence[int] | np.ndarray | None = None,
        processing_class: Any = None,
        write_model: Callable[[torch.nn.Module, Path], None] | None = None,
        extra_metrics: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    ) -> TrainResult:
        """Train on `train_dataset`, evaluating on `eval_dataset`. With `lengths` (one per training
        example, a list or an array) batches group examples of similar length (transformers' order,
        reshuffled every epoch from `seed + epoch`: `hf_nlp.training.length_grouping`), so dynamic padding
        (`collate_fn`) pads little. `train_dataset` may be a stream (see the module docstring).
        `processing_class` (a tokenizer) is saved with every best model, in the same atomic write.
        `write_model(model, folder)` writes the best model's own files (default: `save_pretrained`, or
        the weights alone for a plain module), e.g. a LoRA model merged and its adapter apart.
        `extra_metrics(model)` adds metrics to every evaluation that the per-batch statistics cannot give
        (e.g. BLEU of decoded translations): called on the main process with the unwrapped model in eval
        mode, its result is sent to every process, which all select the same best model."""
        cfg, acc = self.config, self.accelerator
        self._write_model = write_model
        self._extra_metrics = extra_metrics
        pin = self._pin_memory()
        self._processing_class = processing_class
        self._stream = train_dataset if isinstance(train_dataset, IterableDataset) else None
        if self._stream is not None:
            if cfg.max_steps is None:
                raise UserError(f"a streamed training set has no known length; pass `--{self.config_section}.max_steps` "
                                "to say how long to train.")
            # The stream shuffles and splits itself among processes: no sampler, no accelerate sharding.
            train_loader = DataLoader(train_dataset, batch_size=cfg.batch_size, collate_fn=collate_fn, pin_memory=pin)
        else:
            sampler = LengthGroupedSampler(cfg.batch_size, lengths, cfg.seed) if lengths is not None else None
            if sampler is None and shuffle and len(train_dataset) > LAZY_SHUFFLE_ABOVE:
                sampler = LazyPermutationSampler(len(train_dataset), cfg.seed)  # torch's would list every index
            workers = self._dataloader_workers()
            # The sampler runs here, the workers only fetch and collate: the batches, and so resuming, are
            # the same with any number of workers.
            train_loader = DataLoader(
                train_dataset, batch_size=cfg.batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                collate_fn=collate_fn, drop_last=self.step.carries_state, pin_memory=pin,
                num_workers=workers, persistent_workers=workers > 0,
            )
            if len(train_loader) == 0:
                raise UserError("the training set is smaller than one batch; lower `--train.batch_size` or add data.")
        eval_loader = self._eval_loader(eval_dataset, collate_fn) if eval_dataset is not None else None
        self._sharded = fsdp_requested(acc)
        if self._sharded and extra_metrics is not None:
            raise UserError("metrics from decoded outputs (BLEU, chrF) need the whole model on one process, which a "
                            "sharded run does not have; select by loss or accuracy under FSDP.")
        if self._sharded and write_model is not None:
            raise UserError("this model writes its own files (LoRA: merged weights and the adapter), which a sharded "
                            "run cannot; train it without FSDP (adapters are small enough for plain DDP).")
        shards_itself = self._sharded and acc.distributed_type != DistributedType.FSDP  # CPU: accelerate runs DDP
        if shards_itself:
            model = shard(model, acc.mixed_precision)
        optimizer = _build_optimizer(model, cfg)  # over the shards, when sharded
        if shards_itself:
            optimizer = acc.prepare(optimizer)
        else:
            model, optimizer = acc.prepare(model, optimizer)  # (FSDP2 on GPUs: sharded here by accelerate)
        if cfg.compile:  # the DDP-wrapped model, as torch recommends (`_module` reaches the module inside)
            model = torch.compile(model)
        if self._stream is None:
            train_loader = acc.prepare(train_loader)
        if eval_loader is not None:
            eval_loader = acc.prepare(eval_loader)

        total_steps = cfg.max_steps or cfg.num_epochs * max(len(train_loader) // cfg.gradient_accumulation_steps, 1)
        warmup_steps = cfg.warmup_steps or math.ceil(cfg.warmup_ratio * total_steps)
        scheduler = get_scheduler(
            cfg.lr_scheduler, optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps
        )
        self._training = (model, optimizer, scheduler)
        try:
            result = self._train(model, optimizer, scheduler, train_loader, eval_loader, total_steps)
        except RuntimeError as error:
            lost = lost_process_reason(error)
            if lost is None:
                raise
            raise LostProcessError.of(lost, self._last_complete_checkpoint()) from None
        finally:
            if self._trackers is not None:
                self._trackers.finish()
                self._trackers = None
            self._release_prepared()
        if cfg.validation_only:
            self._stop_after_training(result)
        return result

    def _stop_after_training(self, result: TrainResult) -> None:
        """`--train.validation_only`: write what the run chose on validation, then end the recipe."""
        output = Path(self.config.output_dir)
        if self.accelerator.is_main_process:
            write_json_atomic(output / VALIDATION_ONLY_FILE, {
                "metric": self.config.metric_for_best, "greater_is_better": self.config.greater_is_better,
                "best_metric": result.best_metric, "best_step": result.best_step, "global_step": result.global_step,
                "stop_reason": result.stop_reason, "train_minutes": result.train_seconds / 60})
        self.accelerator.wait_for_everyone()
        raise TrainingOnlyFinished(f"validation {self.config.metric_for_best} {result.best_metric} at step "
                                   f"{result.best_step}; stopped before the test split (--train.validation_only)")

    def _train(self, model, optimizer, scheduler, train_loader, eval_loader, total_steps: int) -> TrainResult:
        """`fit` once everything is prepared: resume or start, run the steps, select the final model."""
        cfg, acc, pin = self.config, self.accelerator, self._pin_memory()
        if self._resume_folder is not None:
            self._resume(self._resume_folder, model, optimizer, scheduler)
        else:
            self._clear_previous_run()
        self._window_loss = torch.tensor(self.state.window_loss, device=acc.device)  # float32, as the losses
        self._start_trackers()

        progress = tqdm(
            total=total_steps,
            initial=self.state.global_step,
            desc="train",
            disable=not (acc.is_main_process and cfg.progress_bar),
            dynamic_ncols=True,
        )
        started = time.monotonic() - self.state.train_seconds
        timed = (time.monotonic(), 0)  # trackers' throughput: since when, over how many steps (training only)
        # A run that ended early (patience, time budget) stays ended when its command is rerun.
        stop_reason = self.state.stop_reason if self.state.stop_reason in ("early_stopping", "time_budget") \
            else "completed"
        with _GracefulStop() as stop:
            while self.state.global_step < total_steps and stop_reason == "completed":
                (self._stream or train_loader).set_epoch(self.state.epoch)
                skip = self.state.batches_in_epoch
                if skip == 0:
                    self._carried = None  # streams restart at every epoch
                if self._stream is not None:  # a resumed stream reads on from its loaded state
                    epoch_loader = (send_to_device(batch, acc.device, non_blocking=pin) for batch in train_loader)
                else:
                    epoch_loader = acc.skip_first_batches(train_loader, skip) if skip else train_loader
                model.train()
                for batch in epoch_loader:
                    if self._resumed_rng is not None:
                        # Starting the data iterator draws from torch's RNG; put back the exact
                        # checkpointed state so dropout masks match an uninterrupted run.
                        _set_torch_rng(self._resumed_rng)
                        self._resumed_rng = None
                    with acc.accumulate(model):
                        loss = self._forward(model, batch).loss
                        acc.backward(loss)
                        if acc.sync_gradients and cfg.max_grad_norm is not None:
                            acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                        optimizer.step()
                        optimizer.zero_grad()
                    self.state.batches_in_epoch += 1
                    # Summed on the device: reading the loss here would wait for the step's kernels.
                    self._window_loss += loss.detach().float() / cfg.gradient_accumulation_steps
                    if not acc.sync_gradients:
                        continue
                    # ---- one optimizer step done: everything below runs at step boundaries only
                    scheduler.step()
                    self.state.global_step += 1
                    self.state.window_steps += 1
                    step = self.state.global_step
                    progress.update(1)
                    logs = step % cfg.log_every == 0 or step == total_steps
                    evaluates = eval_loader is not None and cfg.eval_every and step % cfg.eval_every == 0
                    saves = cfg.save_every and step % cfg.save_every == 0
                    timed = (timed[0], timed[1] + 1)
                    if logs:
                        mean_loss = self._mean_across_processes(self._window_loss / self.state.window_steps)
                        # Throughput goes to the trackers only: the log stays the same, to the bit, however a
                        # run was interrupted and resumed.
                        examples = timed[1] * cfg.batch_size * cfg.gradient_accumulation_steps * acc.num_processes
                        self._log({"step": step, "epoch": self.state.epoch, "train_loss": mean_loss,
                                   "lr": scheduler.get_last_lr()[0]},
                                  examples_per_second=examples / max(time.monotonic() - timed[0], 1e-9))
                        progress.set_postfix(loss=f"{mean_loss:.4f}")
                        self._window_loss.zero_()
                        self.state.window_steps = 0
                    if evaluates:
                        if self._evaluate_and_select(model, eval_loader):
                            stop_reason = "early_stopping"
                        model.train()
                    if saves:
                        self._save_checkpoint(started)
                    if logs or evaluates or saves:
                        timed = (time.monotonic(), 0)
                    # Several processes must agree to stop, which reads a reduced tensor: only at steps
                    # that read the device anyway, so a Ctrl-C stops at the next logged, evaluated or
                    # saved step there (at the next step when the process runs alone).
                    if stop_reason == "completed" and (acc.num_processes == 1 or logs or evaluates or saves):
                        stop_reason = self._stop_requested(stop.requested, started)
                    if step >= total_steps or stop_reason != "completed":
                        break
                else:  # the epoch ran to its end
                    self.state.epoch += 1
                    self.state.batches_in_epoch = 0
                    self._carried = None
                    if eval_loader is not None and not cfg.eval_every:
                        if self._evaluate_and_select(model, eval_loader):
                            stop_reason = "early_stopping"
                        timed = (time.monotonic(), 0)
        progress.close()
        if stop_reason == "interrupted":
            self._save_checkpoint(started)
            if acc.is_main_process:
                logger.warning(
                    "stopped at step %d; checkpoint saved in %s. Rerun the same command to resume.",
                    self.state.global_step, self._checkpoint_root(),
                )
            raise KeyboardInterrupt

        if eval_loader is None:
            self._save_best(model)  # nothing to select on: the final weights are the model
        elif self._last_eval_step() != self.state.global_step:
            self._evaluate_and_select(model, eval_loader)  # the final weights may be the best
        self.state.stop_reason = stop_reason
        self._save_checkpoint(started)
        acc.wait_for_everyone()
        return TrainResult(
            global_step=self.state.global_step,
            best_metric=self.state.best_metric,
            best_step=self.state.best_step,
            best_model_dir=self.output_dir / BEST_MODEL_DIR,
            stop_reason=stop_reason,
            train_seconds=self.state.train_seconds,
            examples_seen=self.state.global_step * cfg.batch_size * cfg.gradient_accumulation_steps * acc.num_processes,
            history=self.history,
        )

    def _last_complete_checkpoint(self) -> str | None:
        complete = [folder for folder in ckpt.list_checkpoints(self._checkpoint_root()) if ckpt.is_complete(folder)]
        return str(complete[-1]) if complete else None

    def _release_prepared(self) -> None:
        """Drop this trainer's and accelerate's references to the prepared model, optimizer and loaders.

        Frees their memory before the next training of the process (e.g. a two-stage fine-tuning) and,
        in a multi-process run, makes the DDP wrapper die now, while the process group is alive: its
        C++ reducer frees the process group without releasing the GIL, and were it the last reference
        (after `destroy_process_group`, or at interpreter exit) the gloo destructor would join a worker
        thread that waits for the GIL: a hang seen at the end of 2-process runs."""
        self._training = None
        self.accelerator.free_memory()

    def scorer(self, step: BatchStep | None = None) -> Scorer:
        """A `Scorer` on this trainer's accelerator and evaluation batch size, with its step or `step`
        (e.g. a stateless one, to score a stateful model on independent windows)."""
        step = step or self.step
        return Scorer(step, self._eval_batch_size(step), self.accelerator)

    def evaluate(self, model: torch.nn.Module, dataset: Dataset, collate_fn=None,
                 step: BatchStep | None = None) -> dict[str, float]:
        """Metrics over a whole set, gathered across processes (each example counted once)."""
        return self.scorer(step).evaluate(model, dataset, collate_fn)

    def predict(self, model: torch.nn.Module, dataset: Dataset, collate_fn=None) -> torch.Tensor:
        """Float logits for every example of `dataset`, in order (`Scorer.predict`)."""
        return self.scorer().predict(model, dataset, collate_fn)

    # ------------------------------------------------------------------ internals

    def _forward(self, model, batch):
        outputs, self._carried = self.step(model, batch, self._carried)
        return outputs

    def _module(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model itself, out of DDP and torch.compile: what is saved, loaded and given carried state
        (a compiled wrapper's state dict would prefix every weight name with `_orig_mod.`)."""
        return self.accelerator.unwrap_model(model, keep_torch_compile=False)

    def _dataloader_workers(self) -> int:
        if self.config.dataloader_workers is not None:
            return self.config.dataloader_workers
        return 2 if self.accelerator.device.type == "cuda" else 0

    def _pin_memory(self) -> bool:
        return pins_batches(self.accelerator.device)

    def _eval_batch_size(self, step: BatchStep) -> int:
        # Carried state: each batch row is one stream, so evaluation batches match the training ones.
        return self.config.batch_size if step.carries_state else self.config.eval_batch_size

    def _eval_loader(self, dataset: Dataset, collate_fn) -> DataLoader:
        return evaluation_loader(dataset, self.step, self._eval_batch_size(self.step), self.accelerator.device,
                                 collate_fn)

    def _run_eval(self, model, loader) -> dict[str, float]:
        return score_batches(model, loader, self.step, self.accelerator)

    def _evaluate_and_select(self, model, eval_loader) -> bool:
        """Evaluate, keep the best model, and return True when early stopping should fire."""
        cfg = self.config
        metrics = self._run_eval(model, eval_loader)
        if self._extra_metrics is not None:
            metrics.update(self._run_extra_metrics(model))
        self._log({"step": self.state.global_step, "epoch": self.state.epoch, **{f"eval_{k}": v for k, v in metrics.items()}})
        if cfg.metric_for_best not in metrics:
            raise UserError(
                f"`--train.metric_for_best {cfg.metric_for_best}` is not an evaluation metric; use one of "
                f"{', '.join(sorted(k for k in metrics if k != 'count'))}."
            )
        value = metrics[cfg.metric_for_best]
        best = self.state.best_metric
        improved = best is None or (value > best if cfg.greater_is_better else value < best)
        if improved:
            self.state.best_metric, self.state.best_step = value, self.state.global_step
            self.state.evals_without_improvement = 0
            self._save_best(model)
        else:
            self.state.evals_without_improvement += 1
        patience = cfg.early_stopping_patience
        return patience is not None and self.state.evals_without_improvement >= patience

    def _run_extra_metrics(self, model) -> dict[str, float]:
        """`fit`'s `extra_metrics`, computed once by the main process and sent to every process."""
        values: list[Any] = [None]
        if self.accelerator.is_main_process:
            module = self._module(model)
            module.eval()
            with torch.no_grad():
                values = [{name: float(value) for name, value in self._extra_metrics(module).items()}]
        if self.accelerator.num_processes > 1:
            values = broadcast_object_list(values)
        return values[0]

    def _save_best(self, model) -> None:
        """Write the best model (weights, its tokenizer, config.yaml, a manifest) beside `best_model/` and
        swap it in when complete: a crash leaves the previous best model, never a half-written one."""
        acc = self.accelerator
        with _writing(self.output_dir / BEST_MODEL_DIR):
            self._write_best(model)
        acc.wait_for_everyone()

    def _write_best(self, model) -> None:
        acc = self.accelerator
        weights = gather_model_state(model) if self._sharded else None  # every process takes part
        if acc.is_main_process:
            target = self.output_dir / BEST_MODEL_DIR
            staging = staging_folder(target)
            unwrapped = self._module(model)
            if self._write_model is not None:
                self._write_model(unwrapped, staging)
            elif hasattr(unwrapped, "save_pretrained"):
                unwrapped.save_pretrained(staging, state_dict=weights)
            elif weights is not None:
                ckpt.save_tensors(staging / ckpt.MODEL_WEIGHTS, weights)
            else:  # a plain nn.Module: its weights alone
                save_model(unwrapped, str(staging / ckpt.MODEL_WEIGHTS))
            if self._processing_class is not None:
                self._processing_class.save_pretrained(staging)
            self._save_run_config(staging)
            ckpt.write_manifest(staging)  # lets every later load find a damaged file before reading it
            replace_folder(staging, target)

    def _save_run_config(self, folder: Path) -> None:
        if self.run_config is not None:
            save_config(self.run_config, folder / "config.yaml")

    def _checkpoint_root(self) -> Path:
        return self.output_dir / "checkpoints"

    def _save_checkpoint(self, started: float) -> None:
        """Every process writes its own state (random generators, carried RNN state) and the main one the
        shared state, into a staging folder; the main process then writes the manifest and renames the
        folder into place, so `checkpoints/step_*` only ever holds complete checkpoints."""
        with _writing(self._checkpoint_root()):
            self._write_checkpoint(started)

    def _write_checkpoint(self, started: float) -> None:
        acc = self.accelerator
        model, optimizer, scheduler = self._training
        self.state.train_seconds = time.monotonic() - started
        self.state.micro_batches = acc.step
        self.state.window_loss = self._window_loss.item()
        self.state.carried_state = self._carried is not None
        target = ckpt.checkpoint_folder(self._checkpoint_root(), self.state.global_step)
        if acc.is_main_process:
            staging_folder(target)
        acc.wait_for_everyone()
        staging = staging_path(target)
        write_json_atomic(staging / ckpt.RNG_STATE.format(acc.process_index), ckpt.rng_state())
        # The loss window is each process' own (averaged across processes when logged); trainer_state.json
        # holds the main process' only.
        write_json_atomic(staging / ckpt.PROCESS_STATE.format(acc.process_index),
                          {"window_loss": self.state.window_loss})
        _pause_for_fault_injection()
        if self._carried is not None:
            ckpt.save_tensors(staging / ckpt.CARRIED_STATE.format(acc.process_index),
                              self.step.carried_tensors(self._carried))
        if self._stream is not None and self.state.batches_in_epoch:  # at an epoch's start it starts afresh
            write_json_atomic(staging / ckpt.STREAM_STATE.format(acc.process_index), self._stream.state_dict())
        acc.wait_for_everyone()
        if self._sharded:  # full tensors gathered from every process' shards
            weights, optimizer_state = gather_model_state(model), gather_optimizer_state(model, optimizer)
        if acc.is_main_process:
            if self._sharded:
                ckpt.save_tensors(staging / ckpt.MODEL_WEIGHTS, weights)
            else:
                save_model(self._module(model), str(staging / ckpt.MODEL_WEIGHTS))
            _pause_for_fault_injection()
            ckpt.save_optimizer(staging, optimizer_state if self._sharded else optimizer.state_dict())
            _pause_for_fault_injection()
            write_json_atomic(staging / ckpt.SCHEDULER_STATE, scheduler.state_dict())
            if acc.scaler is not None:
                write_json_atomic(staging / ckpt.SCALER_STATE, acc.scaler.state_dict())
            self._save_run_config(staging)
            write_json_atomic(staging / ckpt.TRAINER_STATE, asdict(self.state))
            _pause_for_fault_injection()
            ckpt.write_manifest(staging, step=self.state.global_step)
            _pause_for_fault_injection()
            replace_folder(staging, target)
            ckpt.rotate(self._checkpoint_root(), self.config.keep_checkpoints)
        acc.wait_for_everyone()

    # ------------------------------------------------------------------ resuming

    def _resume_settings(self) -> dict[str, Any]:
        """What a resumed run must share with the checkpoint: the training settings outside
        `RESUMABLE_SETTINGS`, the process count (it decides each process' share of the data) and the
        `resume_sections` of the run config (model shape, data), as flat `section.key` names."""
        settings = {f"{self.config_section}.{key}": value for key, value in asdict(self.config).items()
                    if key not in RESUMABLE_SETTINGS}
        settings["processes"] = self.accelerator.num_processes
        if self.run_config is not None:
            run = to_dict(self.run_config)
            for section in self.resume_sections:
                settings.update(flatten_config(run.get(section, {}), section))
        return json.loads(json.dumps(settings))  # compared with what JSON gives back (tuples -> lists)

    def _choose_checkpoint(self) -> Path | None:
        """The checkpoint this run starts from (None: afresh), chosen by the main process and shared."""
        choice: list[Any] = [None, None]
        if self.accelerator.is_main_process:
            try:
                folder = self._find_checkpoint()
                choice = [str(folder) if folder else None, None]
            except UserError as error:
                choice = [None, str(error)]
        if self.accelerator.num_processes > 1:
            broadcast_object_list(choice)
        if choice[1] is not None:
            raise UserError(choice[1])
        if choice[0] is None:
            return None
        folder = Path(choice[0])
        try:
            saved = ckpt.read_json(folder / ckpt.TRAINER_STATE, "trainer state")
        except ckpt.CheckpointError as error:
            raise UserError(f"cannot resume from `{folder}`: {error}; pass `--{self.config_section}.overwrite true` "
                            "to start afresh.") from None
        self._check_same_settings(folder, saved)
        return folder

    def _find_checkpoint(self) -> Path | None:
        cfg, flag = self.config, f"--{self.config_section}"
        root = self._checkpoint_root()
        if cfg.overwrite:
            return None
        if cfg.resume_from not in (None, "latest"):
            folder = Path(cfg.resume_from)
            if not (folder / ckpt.MANIFEST).is_file() and not (folder / ckpt.TRAINER_STATE).is_file():
                raise UserError(f"`{folder}` is not a checkpoint folder; pass one under {root} or `latest`.")
            problem = self._check_checkpoint(folder)
            if problem:
                # The newest usable older one (verified newest first, stopping there: each costs a full read).
                older = next((p for p in reversed(ckpt.list_checkpoints(folder.parent))
                              if p != folder and not self._check_checkpoint(p)), None)
                fix = f"pass an older one (`{flag}.resume_from {older}`)" if older else \
                    f"pass `{flag}.overwrite true` to start afresh"
                raise UserError(f"checkpoint `{folder}` cannot be resumed ({problem}); {fix}.")
            return folder
        found = ckpt.list_checkpoints(root)
        skipped = []
        for folder in reversed(found):
            problem = self._check_checkpoint(folder)
            if problem is None:
                logger.warning("Checkpoint detected, resuming training at step %d from %s (pass `%s.overwrite true` "
                               "to start afresh).", ckpt.checkpoint_step(folder), folder, flag)
                return folder
            skipped.append(folder.name)
            logger.warning("skipping checkpoint %s: %s.", folder, problem)
        if found:
            raise UserError(f"no usable checkpoint in `{root}` ({', '.join(skipped)} incomplete or damaged, named "
                            f"above); pass `{flag}.overwrite true` to start afresh.")
        if cfg.resume_from == "latest":
            raise UserError(f"no checkpoint to resume in {root}; drop `{flag}.resume_from`.")
        return None

    @staticmethod
    def _check_checkpoint(folder: Path) -> str | None:
        """None if `folder` is a complete checkpoint whose every byte matches its manifest, else why not."""
        if not ckpt.is_complete(folder):
            return f"it has no {ckpt.MANIFEST} (an interrupted write, or an older hf-nlp's format)"
        try:
            ckpt.verify(folder)
        except ckpt.CheckpointError as error:
            return str(error)
        return None

    def _check_same_settings(self, folder: Path, saved: dict[str, Any]) -> None:
        before, now = saved.get("settings", {}), self.state.settings
        differ = [key for key in sorted(set(before) | set(now)) if before.get(key) != now.get(key)]
        if differ:
            listed = ", ".join(f"{key} {before.get(key)!r} -> {now.get(key)!r}" for key in differ[:4])
            more = f" and {len(differ) - 4} more" if len(differ) > 4 else ""
            raise UserError(
                f"checkpoint `{folder}` comes from a run with other settings ({listed}{more}), so resuming would not "
                f"continue it; rerun with its settings, pass another `--{self.config_section}.output_dir`, or "
                f"`--{self.config_section}.overwrite true` to start afresh.")

    def _resume(self, folder: Path, model, optimizer, scheduler) -> None:
        """Restore every piece of state the checkpoint holds, or refuse: a resume that cannot restore all
        of it would continue inexactly."""
        acc, flag = self.accelerator, f"--{self.config_section}"
        try:
            saved = ckpt.read_json(ckpt.require(folder, ckpt.TRAINER_STATE), "trainer state")
            state = TrainerState(**saved)
            if self._sharded:  # the main process reads the full tensors and sends each process its shard
                main = acc.is_main_process
                scatter_model_state(model, ckpt.load_tensors(ckpt.require(folder, ckpt.MODEL_WEIGHTS)) if main else {})
                scatter_optimizer_state(model, optimizer, ckpt.load_optimizer(folder) if main else {})
            else:
                _load_weights(self._module(model), ckpt.require(folder, ckpt.MODEL_WEIGHTS))
                optimizer.load_state_dict(ckpt.load_optimizer(folder))
            scheduler.load_state_dict(ckpt.read_json(ckpt.require(folder, ckpt.SCHEDULER_STATE), "scheduler"))
            if acc.scaler is not None:
                acc.scaler.load_state_dict(ckpt.read_json(ckpt.require(folder, ckpt.SCALER_STATE), "loss scaler"))
            ckpt.restore_rng_state(ckpt.read_json(ckpt.require(folder, ckpt.RNG_STATE.format(acc.process_index)),
                                                  "random generators"))
            if acc.process_index > 0:
                state.window_loss = ckpt.read_json(ckpt.require(folder, ckpt.PROCESS_STATE.format(acc.process_index)),
                                                   "process state")["window_loss"]
            if state.carried_state:
                carried = ckpt.load_tensors(ckpt.require(folder, ckpt.CARRIED_STATE.format(acc.process_index)))
                self._carried = self.step.restore_carried(carried, self._module(model), acc.device)
            if self._stream is not None and state.batches_in_epoch:
                self._stream.load_state_dict(ckpt.read_json(
                    ckpt.require(folder, ckpt.STREAM_STATE.format(acc.process_index)), "stream position"))
        except ckpt.CheckpointError as error:
            raise UserError(f"cannot resume from `{folder}`: {error}; pass an older checkpoint with `{flag}.resume_from`"
                            f" or `{flag}.overwrite true` to start afresh.") from None
        except (TypeError, ValueError, KeyError, RuntimeError) as error:
            raise UserError(f"cannot resume from `{folder}`: its state does not fit this run "
                            f"({error.__class__.__name__}); pass an older checkpoint with `{flag}.resume_from` or "
                            f"`{flag}.overwrite true` to start afresh.") from None
        self.state = state
        acc.step = state.micro_batches
        self._resumed_rng = _get_torch_rng()  # as saved; re-applied at the first resumed batch
        self._truncate_log_after(state.global_step)
        logger.info("resumed from %s at step %d", folder, state.global_step)

    def _clear_previous_run(self) -> None:
        """A fresh run in a used folder starts a new log and checkpoint series (the old ones would mix in).
        Only `overwrite` reaches a folder with checkpoints; otherwise this clears what a run killed
        before its first checkpoint left (its log, a half-written checkpoint)."""
        if self.accelerator.is_main_process:
            stale = [p for p in (self._checkpoint_root(), self.output_dir / METRICS_LOG,
                                 self.output_dir / TENSORBOARD_DIR, self.output_dir / TRACKERS_FILE) if p.exists()]
            if self.config.overwrite and (self.output_dir / BEST_MODEL_DIR).exists():
                stale.append(self.output_dir / BEST_MODEL_DIR)
            if stale and self.config.overwrite:
                logger.warning("starting afresh in %s (overwrite): removing the previous run's checkpoints, log and "
                               "best model", self.output_dir)
            for path in stale:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.accelerator.wait_for_everyone()

    def _truncate_log_after(self, step: int) -> None:
        """Drop log lines from the interrupted run past the checkpoint, so the log reads as one run. A
        line cut short by the crash (or otherwise unreadable) is dropped with a warning."""
        path = self.output_dir / METRICS_LOG
        if not path.is_file():
            return
        kept, damaged = [], []
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            try:
                entry = json.loads(line)
                if isinstance(entry, dict) and isinstance(entry.get("step"), int):
                    kept.append(entry)
                    continue
            except json.JSONDecodeError:
                pass
            if line.strip():
                damaged.append(number)
        if damaged and self.accelerator.is_main_process:
            logger.warning("%s: dropped unreadable line(s) %s", path, ", ".join(map(str, damaged)))
        self.history = [entry for entry in kept if entry["step"] <= step]
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            write_text_atomic(path, "".join(json.dumps(entry) + "\n" for entry in self.history))
        self.accelerator.wait_for_everyone()

    def _last_eval_step(self) -> int | None:
        return next((entry["step"] for entry in reversed(self.history) if "eval_count" in entry), None)

    def _log(self, entry: dict[str, Any], **tracked_only: float) -> None:
        """Append `entry` to the history and `metrics.jsonl`; the trackers get it with `tracked_only`."""
        self.history.append(entry)
        if self.accelerator.is_main_process:
            with (self.output_dir / METRICS_LOG).open("a") as log:
                log.write(json.dumps(entry) + "\n")
        if self._trackers is not None:
            self._trackers.log({**entry, **tracked_only}, step=entry["step"])

    def _start_trackers(self) -> None:
        """One tracker run per training, on the main process; a resumed training continues it."""
        if not self._tracker_names or not self.accelerator.is_main_process:
            return
        cfg = self.config
        hyperparameters = flatten_config(to_dict(self.run_config)) if self.run_config is not None \
            else flatten_config(to_dict(cfg), self.config_section)
        resumed_at = self.state.global_step if self._resume_folder is not None else None
        self._trackers = RunTrackers(self._tracker_names, self.output_dir, cfg.run_name or self.output_dir.as_posix(),
                                     cfg.tracker_project, hyperparameters, resumed_at)

    def _mean_across_processes(self, value: torch.Tensor) -> float:
        """The mean of a 0-d device tensor over the processes, read once."""
        return self.accelerator.reduce(value.reshape(1), reduction="mean").item()

    def _stop_requested(self, interrupted: bool, started: float) -> str:
        """"interrupted", "time_budget" or "completed" (= go on), agreed by every process."""
        out_of_time = self.config.max_minutes is not None and time.monotonic() - started > 60 * self.config.max_minutes
        if self.accelerator.num_processes > 1:
            # Every process must stop at the same step, or DDP would hang waiting for the others.
            flags = torch.tensor([float(interrupted), float(out_of_time)], device=self.accelerator.device)
            interrupted, out_of_time = (self.accelerator.reduce(flags, reduction="sum") > 0).tolist()
        if interrupted:
            return "interrupted"
        return "time_budget" if out_of_time else "completed"


class _GracefulStop:
    """The first Ctrl-C (or SIGTERM) asks the loop to finish the current optimizer step, save a
    checkpoint and stop; a second Ctrl-C stops at once (the last checkpoint stands)."""

    def __enter__(self) -> _GracefulStop:
        self.requested = False
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():  # signals only reach the main thread
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the next Ctrl-C interrupts at once
        logger.warning("stopping after this step (press Ctrl-C again to stop at once)")

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _get_torch_rng() -> dict:
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_torch_rng(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state_all(state["cuda"])


def _build_optimizer(model: torch.nn.Module, cfg: TrainingConfig) -> torch.optim.Optimizer:
    params = _parameter_groups(model, cfg.weight_decay)
    # Adam/AdamW: one fused kernel over all parameters (CPU and GPU), as transformers.Trainer's default
    # `adamw_torch_fused`: a MiniLM step takes 6.6 ms instead of 62 ms on 2 cores. NAdam and SGD have
    # no fused kernel; their multi-tensor (`foreach`) form is the faster one.
    if cfg.optimizer == "nadam":
        return torch.optim.NAdam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, foreach=True)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=True)
    return torch.optim.SGD(params, lr=cfg.learning_rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                           foreach=True)


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters in two groups, as transformers.Trainer builds them: biases and
    normalisation weights get no weight decay (decaying them only hurts)."""
    decay_names = set(get_parameter_names(model, [torch.nn.LayerNorm], NO_DECAY_NAME_PATTERNS))
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for name, p in trainable if name in decay_names], "weight_decay": weight_decay},
        {"params": [p for name, p in trainable if name not in decay_names], "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


@contextmanager
def _writing(folder: Path):
    """A write that fails for the machine's reasons (full disk, read-only, size limit) as one sentence naming
    the folder; the previous checkpoint and best model stay as they were."""
    try:
        yield
    except Exception as error:
        reason = write_failure_reason(error)
        if reason is None:
            raise
        raise UserError(cannot_write(f"in `{folder}`", reason)) from None


def _pause_for_fault_injection() -> None:
    seconds = os.environ.get(CHECKPOINT_PAUSE_ENV)
    if seconds:
        time.sleep(float(seconds))


def _load_weights(model: torch.nn.Module, path: Path) -> None:
    try:
        load_model(model, str(path))
    except ckpt.SafetensorError as error:
        raise ckpt.CheckpointError(f"{path.name} is not a readable safetensors file ({error})") from None


__all__ = ["Trainer", "TrainResult", "TrainerState", "BEST_MODEL_DIR", "METRICS_LOG"]
