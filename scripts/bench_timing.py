"""Timing the shared loop for benchmarks: one `Trainer.fit` in a throwaway folder."""

from __future__ import annotations

import tempfile
import time

from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import Trainer, reset_accelerate_state


def timed_fit(model, data, collate_fn=None, lengths=None, **config) -> float:
    """Seconds for `Trainer.fit` (setup and final checkpoint included) with `TrainingConfig(**config)`,
    no evaluation, no intermediate checkpoints. accelerate's settings are reset afterwards, so the
    next run may use others (e.g. another precision)."""
    with tempfile.TemporaryDirectory() as run_dir:
        training = TrainingConfig(output_dir=run_dir, eval_every=0, save_every=0, progress_bar=False, **config)
        started = time.perf_counter()
        Trainer(training).fit(model, data, collate_fn=collate_fn, lengths=lengths)
        elapsed = time.perf_counter() - started
    reset_accelerate_state()
    return elapsed
