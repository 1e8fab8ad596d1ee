"""The ONE accelerate training loop every recipe uses.

`Trainer(config).fit(model, train_dataset, eval_dataset)` owns the `Accelerator` and does:
device placement and DDP (`accelerator.prepare`), gradient accumulation
(`accelerator.accumulate`) and clipping, bf16/fp16 autocast, an LR schedule with warmup,
evaluation every N steps with `gather_for_metrics`, best-model selection on a chosen metric,
early stopping, resumable checkpoints (`save_state`/`load_state` plus the data position, so a
resumed run replays exactly the same batches and losses), a JSONL metric log, tqdm progress on
the main process, seeds, and a clean save when interrupted (Ctrl-C).

Models take a batch as keyword arguments and return an output with `.loss` and `.logits`; a
`model_forward(model, batch)` given to the `Trainer` replaces that call everywhere (training,
evaluation, prediction), e.g. to pool a text's windows into one prediction
(`hf_nlp.models.window_pooling`).
With `carry_state=True` (stateful RNN training) the loop passes each batch's returned `cache`
into the next call, detached, and resets it at every epoch and evaluation start; the data must
then be laid out so that consecutive batches on each process continue the same streams (see
`hf_nlp.data.windows.StatefulWindows`).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import set_seed
from safetensors.torch import save_model
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm
from transformers import DynamicCache, get_scheduler
from transformers.trainer_pt_utils import LengthGroupedSampler, get_parameter_names

from hf_nlp.errors import UserError
from hf_nlp.evaluation.metrics import causal_lm_example_stats, reduce_example_stats
from hf_nlp.models.recurrent_state import detach_rnn_state
from hf_nlp.training.config import TrainingConfig, save_config
from hf_nlp.training.cpu_threads import use_cpu_threads

# transformers.Trainer's rule for parameters that never decay (besides those inside LayerNorm).
NO_DECAY_NAME_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]

logger = logging.getLogger(__name__)

ExampleStats = Callable[[torch.Tensor, dict[str, torch.Tensor]], dict[str, torch.Tensor]]
ModelForward = Callable[[torch.nn.Module, dict[str, torch.Tensor]], Any]
TRAINER_STATE = "trainer_state.json"
CARRIED_STATE = "carried_state_{}.pt"
METRICS_LOG = "metrics.jsonl"
BEST_MODEL_DIR = "best_model"


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
        carry_state: bool = False,
        example_stats: ExampleStats = causal_lm_example_stats,
        run_config: Any = None,
        model_forward: ModelForward | None = None,
    ):
        """`example_stats` turns (logits, batch) into per-example sums for evaluation; `run_config`
        (a dataclass) is saved as `config.yaml` beside every checkpoint and the best model;
        `model_forward(model, batch)`, when given, is called in place of `model(**batch)`."""
        if config.mixed_precision == "fp16" and not torch.cuda.is_available():
            raise UserError("fp16 needs a GPU; use `--train.mixed_precision bf16` (or `no`) on CPU.")
        self.config = config
        self.carry_state = carry_state
        self.example_stats = example_stats
        self.run_config = run_config
        self.model_forward = model_forward
        self.output_dir = Path(config.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=config.mixed_precision,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            # Shuffling seeded by `seed + epoch` on every process: the data order is a pure
            # function of (seed, epoch), which is what makes resuming exact.
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=config.seed),
            step_scheduler_with_optimizer=False,
        )
        if self.accelerator.device.type == "cpu":
            use_cpu_threads(config.cpu_threads)
        set_seed(config.seed)
        self.state = TrainerState()
        self.history: list[dict[str, Any]] = []
        self._carried: Any = None
        self._resumed_rng: dict | None = None

    # ------------------------------------------------------------------ public API

    def fit(
        self,
        model: torch.nn.Module,
        train_dataset: Dataset,
        eval_dataset: Dataset | None = None,
        collate_fn: Callable | None = None,
        shuffle: bool = True,
        lengths: Sequence[int] | None = None,
    ) -> TrainResult:
        """Train on `train_dataset`, evaluating on `eval_dataset`. With `lengths` (one per training
        example) batches group examples of similar length (transformers' `LengthGroupedSampler`,
        reshuffled every epoch from `seed + epoch`), so dynamic padding (`collate_fn`) pads little."""
        cfg, acc = self.config, self.accelerator
        self.output_dir.mkdir(parents=True, exist_ok=True)
        sampler = _EpochSeededLengthGroupedSampler(cfg.batch_size, lengths, cfg.seed) if lengths is not None else None
        train_loader = DataLoader(
            train_dataset, batch_size=cfg.batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
            collate_fn=collate_fn, drop_last=self.carry_state,
        )
        if len(train_loader) == 0:
            raise UserError("the training set is smaller than one batch; lower `--train.batch_size` or add data.")
        eval_loader = self._eval_loader(eval_dataset, collate_fn) if eval_dataset is not None else None
        optimizer = _build_optimizer(model, cfg)
        model, optimizer, train_loader = acc.prepare(model, optimizer, train_loader)
        if eval_loader is not None:
            eval_loader = acc.prepare(eval_loader)

        steps_per_epoch = max(len(train_loader) // cfg.gradient_accumulation_steps, 1)
        total_steps = cfg.max_steps or cfg.num_epochs * steps_per_epoch
        warmup_steps = cfg.warmup_steps or math.ceil(cfg.warmup_ratio * total_steps)
        scheduler = get_scheduler(
            cfg.lr_scheduler, optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps
        )
        acc.register_for_checkpointing(scheduler)
        if cfg.resume_from:
            self._resume(cfg.resume_from, acc.unwrap_model(model).config)
        else:
            self._clear_previous_run()

        progress = tqdm(
            total=total_steps,
            initial=self.state.global_step,
            desc="train",
            disable=not (acc.is_main_process and cfg.progress_bar),
            dynamic_ncols=True,
        )
        started = time.monotonic() - self.state.train_seconds
        stop_reason = "completed"
        window_loss, window_steps = 0.0, 0
        with _GracefulStop() as stop:
            while self.state.global_step < total_steps and stop_reason == "completed":
                train_loader.set_epoch(self.state.epoch)
                skip = self.state.batches_in_epoch
                if skip == 0:
                    self._carried = None  # streams restart at every epoch
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
                    window_loss += loss.detach().float().item() / cfg.gradient_accumulation_steps
                    if not acc.sync_gradients:
                        continue
                    # ---- one optimizer step done: everything below runs at step boundaries only
                    scheduler.step()
                    self.state.global_step += 1
                    window_steps += 1
                    step = self.state.global_step
                    progress.update(1)
                    if step % cfg.log_every == 0 or step == total_steps:
                        mean_loss = self._mean_across_processes(window_loss / window_steps)
                        self._log({"step": step, "epoch": self.state.epoch, "train_loss": mean_loss,
                                   "lr": scheduler.get_last_lr()[0]})
                        progress.set_postfix(loss=f"{mean_loss:.4f}")
                        window_loss, window_steps = 0.0, 0
                    if eval_loader is not None and cfg.eval_every and step % cfg.eval_every == 0:
                        if self._evaluate_and_select(model, eval_loader):
                            stop_reason = "early_stopping"
                        model.train()
                    if cfg.save_every and step % cfg.save_every == 0:
                        self._save_checkpoint(started)
                    if stop_reason == "completed":
                        stop_reason = self._stop_requested(stop.requested, started)
                    if step >= total_steps or stop_reason != "completed":
                        break
                else:  # the epoch ran to its end
                    self.state.epoch += 1
                    self.state.batches_in_epoch = 0
                    self._carried = None
                    if eval_loader is not None and not cfg.eval_every and self._evaluate_and_select(model, eval_loader):
                        stop_reason = "early_stopping"
        progress.close()
        if stop_reason == "interrupted":
            self._save_checkpoint(started)
            if acc.is_main_process:
                logger.warning(
                    "stopped at step %d; checkpoint saved in %s. Resume with `--train.resume_from latest`.",
                    self.state.global_step, self._checkpoint_root(),
                )
            raise KeyboardInterrupt

        if eval_loader is None:
            self._save_best(model)  # nothing to select on: the final weights are the model
        elif self._last_eval_step() != self.state.global_step:
            self._evaluate_and_select(model, eval_loader)  # the final weights may be the best
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

    def evaluate(
        self, model: torch.nn.Module, dataset: Dataset, collate_fn=None, carry_state: bool | None = None
    ) -> dict[str, float]:
        """Metrics over a whole set, gathered across processes (each example counted once).

        `carry_state` overrides the trainer's setting, e.g. to score a stateful model on
        independent windows."""
        carry = self.carry_state if carry_state is None else carry_state
        saved, self.carry_state = self.carry_state, carry
        try:
            loader = self.accelerator.prepare(self._eval_loader(dataset, collate_fn))
            model = self.accelerator.prepare_model(model, evaluation_mode=True)
            return self._run_eval(model, loader)
        finally:
            self.carry_state = saved

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, dataset: Dataset, collate_fn=None) -> torch.Tensor:
        """Float logits for every example of `dataset`, in order, gathered across processes: `(N, ...)`
        (each example once, as `evaluate` counts them). Examples must give logits of one shape."""
        loader = self.accelerator.prepare(self._eval_loader(dataset, collate_fn))
        model = self.accelerator.prepare_model(model, evaluation_mode=True)
        model.eval()
        parts = [self.accelerator.gather_for_metrics(self._call(model, batch).logits.float()).cpu() for batch in loader]
        return torch.cat(parts)

    # ------------------------------------------------------------------ internals

    def _call(self, model, batch):
        return self.model_forward(model, batch) if self.model_forward is not None else model(**batch)

    def _forward(self, model, batch):
        if not self.carry_state:
            return self._call(model, batch)
        outputs = model(**batch, cache=self._carried, use_cache=True)
        self._carried = detach_rnn_state(outputs.cache)
        return outputs

    def _eval_loader(self, dataset: Dataset, collate_fn) -> DataLoader:
        # Stateful evaluation needs equal batches (each row is one stream); otherwise keep every example.
        batch_size = self.config.batch_size if self.carry_state else self.config.eval_batch_size
        return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn, drop_last=self.carry_state)

    @torch.no_grad()
    def _run_eval(self, model, loader) -> dict[str, float]:
        model.eval()
        saved_carry, self._carried = self._carried, None
        gathered: dict[str, list[torch.Tensor]] = {}
        for batch in loader:
            outputs = self._forward(model, batch)
            stats = self.example_stats(outputs.logits, batch)
            for name, values in self.accelerator.gather_for_metrics(stats).items():
                gathered.setdefault(name, []).append(values.cpu())
        self._carried = saved_carry
        return reduce_example_stats({name: torch.cat(parts) for name, parts in gathered.items()})

    def _evaluate_and_select(self, model, eval_loader) -> bool:
        """Evaluate, keep the best model, and return True when early stopping should fire."""
        cfg = self.config
        metrics = self._run_eval(model, eval_loader)
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

    def _save_best(self, model) -> None:
        acc = self.accelerator
        if acc.is_main_process:
            target = self.output_dir / BEST_MODEL_DIR
            unwrapped = acc.unwrap_model(model)
            if hasattr(unwrapped, "save_pretrained"):
                unwrapped.save_pretrained(target)
            else:  # a plain nn.Module: its weights alone
                target.mkdir(parents=True, exist_ok=True)
                save_model(unwrapped, str(target / "model.safetensors"))
            self._save_run_config(target)
        acc.wait_for_everyone()

    def _save_run_config(self, folder: Path) -> None:
        if self.run_config is not None:
            save_config(self.run_config, folder / "config.yaml")

    def _checkpoint_root(self) -> Path:
        return self.output_dir / "checkpoints"

    def _save_checkpoint(self, started: float) -> None:
        acc = self.accelerator
        self.state.train_seconds = time.monotonic() - started
        folder = self._checkpoint_root() / f"step_{self.state.global_step:08d}"
        acc.save_state(str(folder))
        if self._carried is not None:
            torch.save(_carried_tensors(self._carried), folder / CARRIED_STATE.format(acc.process_index))
        if acc.is_main_process:
            (folder / TRAINER_STATE).write_text(json.dumps(asdict(self.state), indent=2))
            self._save_run_config(folder)
            old = sorted(self._checkpoint_root().glob("step_*"))[: -self.config.keep_checkpoints]
            for stale in old:
                shutil.rmtree(stale, ignore_errors=True)
        acc.wait_for_everyone()

    def _resume(self, resume_from: str, model_config) -> None:
        folder = Path(resume_from)
        if resume_from == "latest":
            checkpoints = sorted(self._checkpoint_root().glob("step_*"))
            if not checkpoints:
                raise UserError(f"no checkpoint to resume in {self._checkpoint_root()}; drop `--train.resume_from`.")
            folder = checkpoints[-1]
        if not (folder / TRAINER_STATE).is_file():
            raise UserError(f"`{folder}` is not a checkpoint folder; pass one under {self._checkpoint_root()} or `latest`.")
        self.accelerator.load_state(str(folder))
        self._resumed_rng = _get_torch_rng()  # as saved; re-applied at the first resumed batch
        self.state = TrainerState(**json.loads((folder / TRAINER_STATE).read_text()))
        carried = folder / CARRIED_STATE.format(self.accelerator.process_index)
        if self.carry_state and carried.is_file():
            self._carried = _restore_carried(torch.load(carried), model_config, self.accelerator.device)
        self._truncate_log_after(self.state.global_step)
        logger.info("resumed from %s at step %d", folder, self.state.global_step)

    def _clear_previous_run(self) -> None:
        """A fresh run in a used folder starts a new log and checkpoint series (the old ones would mix in)."""
        if self.accelerator.is_main_process:
            stale = [p for p in (self._checkpoint_root(), self.output_dir / METRICS_LOG) if p.exists()]
            if stale:
                logger.warning("starting afresh in %s: removing the previous run's checkpoints and log", self.output_dir)
            for path in stale:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.accelerator.wait_for_everyone()

    def _truncate_log_after(self, step: int) -> None:
        """Drop log lines from the interrupted run past the checkpoint, so the log reads as one run."""
        path = self.output_dir / METRICS_LOG
        if not path.is_file():
            return
        kept = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        self.history = [entry for entry in kept if entry["step"] <= step]
        if self.accelerator.is_main_process:
            path.write_text("".join(json.dumps(entry) + "\n" for entry in self.history))

    def _last_eval_step(self) -> int | None:
        return next((entry["step"] for entry in reversed(self.history) if "eval_count" in entry), None)

    def _log(self, entry: dict[str, Any]) -> None:
        self.history.append(entry)
        if self.accelerator.is_main_process:
            with (self.output_dir / METRICS_LOG).open("a") as log:
                log.write(json.dumps(entry) + "\n")

    def _mean_across_processes(self, value: float) -> float:
        tensor = torch.tensor([value], device=self.accelerator.device)
        return self.accelerator.reduce(tensor, reduction="mean").item()

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


class _EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """Length-grouped order that is a pure function of (seed, epoch), so a resumed run replays it."""

    def __init__(self, batch_size: int, lengths: Sequence[int], seed: int):
        super().__init__(batch_size, lengths=list(lengths), generator=torch.Generator())
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)


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


def reset_accelerate_state() -> None:
    """Forget accelerate's process-wide settings, so the next `Trainer` may use other ones (e.g.
    another mixed precision). For benchmarks and tests that run several trainers in one process."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


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


def _carried_tensors(cache) -> list[dict[int, torch.Tensor | None]]:
    return [{slot: (t.cpu() if t is not None else None) for slot, t in layer.recurrent_states.items()} for layer in cache.layers]


def _restore_carried(saved: list[dict[int, torch.Tensor | None]], model_config, device) -> DynamicCache:
    """Rebuild a carried RNN cache from the tensors `_save_checkpoint` wrote."""
    cache = DynamicCache(config=model_config)
    for layer_idx, slots in enumerate(saved):
        for slot, tensor in slots.items():
            if tensor is not None:
                cache.update_recurrent_state(tensor.to(device), layer_idx, state_idx=slot)
                cache.layers[layer_idx].has_previous_state[slot] = True
    return cache


__all__ = ["Trainer", "TrainResult", "TrainerState", "BEST_MODEL_DIR", "METRICS_LOG"]
