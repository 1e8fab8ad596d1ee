"""Timing the shared loop for benchmarks: one `Trainer.fit` in a throwaway folder."""

from __future__ import annotations

import tempfile
import time

from hf_nlp.training.accelerator import reset_shared_accelerator
from hf_nlp.training.batch_step import StatelessStep
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import Trainer


def _not_evaluated(logits, batch):
    raise AssertionError("timed runs do not evaluate")


TRAIN_ONLY = StatelessStep(_not_evaluated)


def timed_fit(model, data, collate_fn=None, lengths=None, **config) -> float:
    """Seconds for `Trainer.fit` (setup and final checkpoint included) with `TrainingConfig(**config)`,
    no evaluation, no intermediate checkpoints. the shared Accelerator is reset afterwards, so the
    next run starts from the same state."""
    with tempfile.TemporaryDirectory() as run_dir:
        training = TrainingConfig(output_dir=run_dir, eval_every=0, save_every=0, progress_bar=False, **config)
        started = time.perf_counter()
        Trainer(training, TRAIN_ONLY).fit(model, data, collate_fn=collate_fn, lengths=lengths)
        elapsed = time.perf_counter() - started
    reset_shared_accelerator()
    return elapsed
